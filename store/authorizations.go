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
	var success, cancel sql.NullString
	var stateTime, checked string
	if err := row.Scan(&a.AuthorizationCode, &a.SubMchID, &a.State, &a.OpenID, &a.SubOpenID, &a.UserLabel, &success, &cancel, &stateTime, &a.Source, &checked); err != nil {
		return nil, err
	}
	a.SuccessTime, a.CancelTime = parseTimePtr(success), parseTimePtr(cancel)
	a.StateTime, a.CheckedAt = parseTime(stateTime), parseTime(checked)
	return &a, nil
}

// AuthorizationByCode finds what we know of an authorization_code.
func (db *DB) AuthorizationByCode(ctx context.Context, code string) (*Authorization, error) {
	return findAuthorization(ctx, db.Read, code)
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
		openid = CASE WHEN excluded.openid != '' THEN excluded.openid ELSE openid END,
		sub_openid = CASE WHEN excluded.sub_openid != '' THEN excluded.sub_openid ELSE sub_openid END,
		user_label = CASE WHEN excluded.user_label != '' THEN excluded.user_label ELSE user_label END,
		success_time = coalesce(excluded.success_time, success_time),
		cancel_time = coalesce(excluded.cancel_time, cancel_time),
		state_time = excluded.state_time,
		source = excluded.source,
		checked_at = excluded.checked_at
	WHERE excluded.state_time > authorizations.state_time
		OR (excluded.state_time = authorizations.state_time AND ` + stateRank("excluded.state") + ` >= ` + stateRank("authorizations.state") + `)`

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
