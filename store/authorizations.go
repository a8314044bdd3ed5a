package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Authorization states, as the API names them.
const (
	StateAvailable   = "AVAILABLE"
	StateUnavailable = "UNAVAILABLE"
	StateUnbindUser  = "UNBINDUSER"
)

// Authorization is the last known state of an authorization_code.
type Authorization struct {
	AuthorizationCode string
	SubMchID          string
	State             string
	OpenID            string
	SubOpenID         string
	UserLabel         string
	SuccessTime       *time.Time
	CancelTime        *time.Time
	// StateTime is when the state became true: events older than it never
	// overwrite it.
	StateTime time.Time
	// Source says what told us: preauthorize, notification, query, terminate.
	Source string
	// CheckedAt is when we last learned anything about it.
	CheckedAt time.Time
}

const authorizationColumns = `authorization_code, sub_mchid, state, openid, sub_openid, user_label, success_time, cancel_time, state_time, source, checked_at`

func scanAuthorization(row interface{ Scan(...any) error }) (*Authorization, error) {
	var a Authorization
	if err := row.Scan(&a.AuthorizationCode, &a.SubMchID, &a.State, &a.OpenID, &a.SubOpenID, &a.UserLabel, nullTimeCol{&a.SuccessTime}, nullTimeCol{&a.CancelTime},
		timeCol{&a.StateTime}, &a.Source, timeCol{&a.CheckedAt}); err != nil {
		return nil, err
	}
	return &a, nil
}

// AuthorizationByCode finds what we know of an authorization_code.
func (db *DB) AuthorizationByCode(ctx context.Context, code string) (*Authorization, error) {
	return findAuthorization(ctx, db.read, code)
}

func findAuthorization(ctx context.Context, q querier, code string) (*Authorization, error) {
	a, err := scanAuthorization(q.QueryRowContext(ctx, `SELECT `+authorizationColumns+` FROM authorizations WHERE authorization_code = ?`, code))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: find authorization %s: %w", code, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: find authorization: %w", err)
	}
	return a, nil
}

// SaveAuthorization records a state learned at a.StateTime. It applies only
// if no newer state is known, and reports whether it did; either way the
// checked time moves on.
func (db *DB) SaveAuthorization(ctx context.Context, a Authorization) (bool, error) {
	var applied bool
	err := db.update(ctx, func(tx *Tx) (err error) {
		applied, err = saveAuthorization(ctx, tx, a)
		return err
	})
	return applied, err
}

// saveAuthorizationSQL upserts unless the stored state is newer. Optional
// fields the new state does not carry keep their known values.
var saveAuthorizationSQL = `INSERT INTO authorizations (` + authorizationColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (authorization_code) DO UPDATE SET
		sub_mchid = excluded.sub_mchid,
		state = excluded.state,
		openid = CASE WHEN excluded.openid != '' THEN excluded.openid ELSE authorizations.openid END,
		sub_openid = CASE WHEN excluded.sub_openid != '' THEN excluded.sub_openid ELSE authorizations.sub_openid END,
		user_label = CASE WHEN excluded.user_label != '' THEN excluded.user_label ELSE authorizations.user_label END,
		success_time = coalesce(excluded.success_time, authorizations.success_time),
		cancel_time = coalesce(excluded.cancel_time, authorizations.cancel_time),
		state_time = excluded.state_time,
		source = excluded.source,
		checked_at = excluded.checked_at
	WHERE excluded.state_time > authorizations.state_time
		OR (excluded.state_time = authorizations.state_time AND ` + stateRank("excluded.state") + ` >= ` + stateRank("authorizations.state") + `)
		OR (authorizations.source = '` + SourcePreauthorize + `' AND excluded.source != '` + SourcePreauthorize + `')`

// SourcePreauthorize is the source of the UNBINDUSER state our own
// pre-authorization records. It is timed by our clock, WeChat Pay's events
// by its own: whatever WeChat Pay reports about the code (a notification, a
// query) comes after our pre-authorization of it — a code is never
// pre-authorized again once a user agreed — so it replaces that state
// whatever the two clocks say.
const SourcePreauthorize = "preauthorize"

// stateRank orders states that carry the same second: a pre-authorization
// comes before the user's agreement, which comes before a close — WeChat
// Pay may deliver an open and a close of the same second in either order.
func stateRank(col string) string {
	return `(CASE ` + col + ` WHEN '` + StateUnbindUser + `' THEN 0 WHEN '` + StateAvailable + `' THEN 1 ELSE 2 END)`
}

// touchAuthorizationSQL notes that we heard of an authorization without
// changing its state.
const touchAuthorizationSQL = `UPDATE authorizations SET checked_at = ? WHERE authorization_code = ?`

type txExecer struct {
	tx *Tx
	q  string
}

func (e txExecer) ExecContext(ctx context.Context, args ...any) (sql.Result, error) {
	return e.tx.ExecContext(ctx, e.q, args...)
}

// saveAuthorization applies a state if no newer one is known and reports
// whether it did; either way the checked time moves on.
func saveAuthorization(ctx context.Context, tx *Tx, a Authorization) (bool, error) {
	return execSaveAuthorization(ctx, txExecer{tx, saveAuthorizationSQL}, txExecer{tx, touchAuthorizationSQL}, tx, a)
}

func execSaveAuthorization(ctx context.Context, save, touch interface {
	ExecContext(ctx context.Context, args ...any) (sql.Result, error)
}, tx *Tx, a Authorization) (bool, error) {
	// WeChat Pay's times have whole seconds (openorclose_time is
	// yyyyMMddHHmmss): compare at that precision, so that a user who agrees
	// within the second of the pre-authorization is not taken as older than
	// it; on a tie stateRank decides.
	a.StateTime = a.StateTime.Truncate(time.Second)
	res, err := save.ExecContext(ctx, a.AuthorizationCode, a.SubMchID, a.State, a.OpenID, a.SubOpenID, a.UserLabel,
		fmtTimePtr(a.SuccessTime), fmtTimePtr(a.CancelTime), fmtTime(a.StateTime), a.Source, fmtTime(tx.now))
	if err != nil {
		return false, fmt.Errorf("store: save authorization: %w", err)
	}
	n, _ := res.RowsAffected()
	if n == 0 {
		// Older than what we know: only note that we heard of it.
		if _, err := touch.ExecContext(ctx, fmtTime(tx.now), a.AuthorizationCode); err != nil {
			return false, fmt.Errorf("store: save authorization: %w", err)
		}
	}
	return n > 0, nil
}

// AuthorizationCodeUsed reports whether an authorization_code is already
// known here: behind a link, or in the authorizations we track (a code
// looked up or notified without a link of ours). WeChat Pay refuses a code
// reused with other parameters; refusing it locally first gives a clear
// message and spares the call.
func (db *DB) AuthorizationCodeUsed(ctx context.Context, code string) (bool, error) {
	var n int
	err := db.read.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM links WHERE authorization_code = ?) +
		(SELECT count(*) FROM authorizations WHERE authorization_code = ?) +
		(SELECT count(*) FROM code_reservations WHERE authorization_code = ?)`, code, code, code).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("store: authorization code used: %w", err)
	}
	return n > 0, nil
}

// AuthorizationsToRecheck lists authorizations whose state may have changed
// without our hearing of it, not checked since before, oldest check first,
// for reconciliation:
//   - AVAILABLE ones: the user can close the service in WeChat at any time,
//     and the close notification can be lost;
//   - UNBINDUSER ones that no link of ours started: their token was issued
//     elsewhere, so LinksToReconcile never covers them.
//
// UNAVAILABLE ones are left out: only a new token can change them, and
// tokens are issued through links (renewing a link makes LinksToReconcile
// pick it up again). Filtering in SQL, not after a LIMIT, keeps a backlog of
// final states from starving the ones that matter.
func (db *DB) AuthorizationsToRecheck(ctx context.Context, before time.Time, limit int) ([]Authorization, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+authorizationColumns+` FROM authorizations a
		WHERE a.checked_at < ? AND (a.state = ? OR (a.state = ? AND NOT EXISTS (
			SELECT 1 FROM links l WHERE l.authorization_code = a.authorization_code)))
		ORDER BY a.checked_at LIMIT ?`,
		fmtTime(before), StateAvailable, StateUnbindUser, limit)
	if err != nil {
		return nil, fmt.Errorf("store: authorizations to recheck: %w", err)
	}
	defer rows.Close()
	var out []Authorization
	for rows.Next() {
		a, err := scanAuthorization(rows)
		if err != nil {
			return nil, fmt.Errorf("store: authorizations to recheck: %w", err)
		}
		out = append(out, *a)
	}
	return out, rows.Err()
}
