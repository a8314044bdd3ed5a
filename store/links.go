package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Link is an authorization link handed to a user: a pre-authorization's
// token behind an unguessable landing URL.
type Link struct {
	ID                int64
	Slug              string
	SubMerchantID     int64
	SubMchID          string // joined from sub_merchants
	SubAppID          string // as sent in the pre-authorization
	SubMerchantName   string // joined from sub_merchants
	AuthorizationCode string
	Token             string
	TokenExpiresAt    time.Time
	NotifyURL         string
	CreatedBy         int64
	CreatedByName     string // joined from users
	CreatedAt         time.Time
	Opens             int
	LastOpenedAt      *time.Time
	State             string // joined from authorizations; "" if unknown
	// Agreed is true once a user agreed to the code (it was ever
	// AVAILABLE): the code is never pre-authorized again.
	Agreed bool
	// RenewedFrom is the link this one replaces (0 if none): renewing a
	// link whose code a user agreed to issues a new code in a new link.
	RenewedFrom int64
	// RenewedTo is the link that replaced this one (0 if none).
	RenewedTo int64
	// SubMerchantDisabled is the sub-merchant's disabled flag: a disabled
	// sub-merchant's links are not renewed and hand out nothing.
	SubMerchantDisabled bool
	// AutoRenew: an expired token is renewed when the landing page is
	// opened (on by default; an operator may switch it off).
	AutoRenew bool
	// AutoRenewedAt is the last renewal made on opening, nil if none.
	AutoRenewedAt *time.Time
	// OpenID, SubOpenID, SuccessTime and CancelTime are the
	// authorization's, joined from authorizations ("" / nil if unknown).
	OpenID, SubOpenID       string
	SuccessTime, CancelTime *time.Time
	// TerminatedBySupport: a termination of the code from this console
	// succeeded — an UNAVAILABLE code was ended by support, not closed by
	// the user.
	TerminatedBySupport bool
}

const linkSelect = `SELECT l.id, l.slug, l.sub_merchant_id, m.sub_mchid, l.sub_appid, m.name, l.authorization_code, l.token, l.token_expires_at,
	l.notify_url, coalesce(l.created_by, 0), coalesce(u.username, ''), l.created_at, l.opens, l.last_opened_at, coalesce(a.state, ''),
	(a.state = '` + StateAvailable + `' OR a.success_time IS NOT NULL OR EXISTS (SELECT 1 FROM callbacks c
		WHERE c.authorization_code = l.authorization_code AND c.event_type = '` + EventOpen + `')),
	coalesce(l.renewed_from, 0), coalesce((SELECT r.id FROM links r WHERE r.renewed_from = l.id), 0), m.disabled,
	l.auto_renew, l.auto_renewed_at,
	coalesce(a.openid, ''), coalesce(a.sub_openid, ''), a.success_time, a.cancel_time,
	EXISTS (SELECT 1 FROM terminations t WHERE t.authorization_code = l.authorization_code AND t.status = '` + TerminationSucceeded + `')
	FROM links l
	JOIN sub_merchants m ON m.id = l.sub_merchant_id
	LEFT JOIN users u ON u.id = l.created_by
	LEFT JOIN authorizations a ON a.authorization_code = l.authorization_code`

func scanLink(row interface{ Scan(...any) error }) (*Link, error) {
	var l Link
	var agreed sql.NullBool
	if err := row.Scan(&l.ID, &l.Slug, &l.SubMerchantID, &l.SubMchID, &l.SubAppID, &l.SubMerchantName, &l.AuthorizationCode, &l.Token, timeCol{&l.TokenExpiresAt},
		&l.NotifyURL, &l.CreatedBy, &l.CreatedByName, timeCol{&l.CreatedAt}, &l.Opens, nullTimeCol{&l.LastOpenedAt}, &l.State,
		&agreed, &l.RenewedFrom, &l.RenewedTo, &l.SubMerchantDisabled,
		&l.AutoRenew, nullTimeCol{&l.AutoRenewedAt},
		&l.OpenID, &l.SubOpenID, nullTimeCol{&l.SuccessTime}, nullTimeCol{&l.CancelTime}, &l.TerminatedBySupport); err != nil {
		return nil, err
	}
	l.Agreed = agreed.Valid && agreed.Bool
	return &l, nil
}

// CreateLink stores a link and the authorization it started (UNBINDUSER).
// A reused authorization_code or slug is ErrConflict.
func (db *DB) CreateLink(ctx context.Context, l Link) (*Link, error) {
	return db.createLink(ctx, l, nil)
}

// CreateLinkAudited is CreateLink that also appends audit(link) to the
// audit log in the same transaction: the entry exists if and only if the
// link does.
func (db *DB) CreateLinkAudited(ctx context.Context, l Link, audit func(*Link) AuditEntry) (*Link, error) {
	return db.createLink(ctx, l, audit)
}

func (db *DB) createLink(ctx context.Context, l Link, audit func(*Link) AuditEntry) (*Link, error) {
	var out *Link
	err := db.update(ctx, func(tx *Tx) error {
		var createdBy any
		if l.CreatedBy != 0 {
			createdBy = l.CreatedBy
		}
		var renewedFrom any
		if l.RenewedFrom != 0 {
			renewedFrom = l.RenewedFrom
		}
		var id int64
		err := tx.QueryRowContext(ctx, `INSERT INTO links (slug, sub_merchant_id, sub_appid, authorization_code, token, token_expires_at, notify_url, created_by, created_at, renewed_from)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			l.Slug, l.SubMerchantID, l.SubAppID, l.AuthorizationCode, l.Token, fmtTime(l.TokenExpiresAt), l.NotifyURL, createdBy, fmtTime(tx.now), renewedFrom).Scan(&id)
		if isConstraint(err) {
			return fmt.Errorf("store: create link %s: %w", l.AuthorizationCode, ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("store: create link: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM code_reservations WHERE authorization_code = ?`, l.AuthorizationCode); err != nil {
			return fmt.Errorf("store: create link: %w", err)
		}
		var subMchID string
		if err := tx.QueryRowContext(ctx, `SELECT sub_mchid FROM sub_merchants WHERE id = ?`, l.SubMerchantID).Scan(&subMchID); err != nil {
			return fmt.Errorf("store: create link: %w", err)
		}
		if _, err := saveAuthorization(ctx, tx, Authorization{AuthorizationCode: l.AuthorizationCode, SubMchID: subMchID,
			State: StateUnbindUser, StateTime: tx.now, Source: SourcePreauthorize}); err != nil {
			return err
		}
		if out, err = findLink(ctx, tx, "l.id = ?", id); err != nil || audit == nil {
			return err
		}
		return insertAudit(ctx, tx, audit(out))
	})
	return out, err
}

// RenewLink stores a new token for a link. The new pre-authorization is
// the newest event of its authorization: it is UNBINDUSER again until the
// user agrees (or a query says otherwise), so that reconciliation asks
// about it if no notification comes.
func (db *DB) RenewLink(ctx context.Context, id int64, token string, expires time.Time) error {
	return db.renewLink(ctx, id, token, expires, nil)
}

// RenewLinkAudited is RenewLink that also appends audit in the same
// transaction.
func (db *DB) RenewLinkAudited(ctx context.Context, id int64, token string, expires time.Time, audit AuditEntry) error {
	return db.renewLink(ctx, id, token, expires, &audit)
}

func (db *DB) renewLink(ctx context.Context, id int64, token string, expires time.Time, audit *AuditEntry) error {
	return db.update(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE links SET token = ?, token_expires_at = ?, reconciled_at = NULL, reconcile_failures = 0, reconcile_after = NULL WHERE id = ?`, token, fmtTime(expires), id)
		if err != nil {
			return fmt.Errorf("store: renew link: %w", err)
		}
		var code, subMchID, state string
		err = tx.QueryRowContext(ctx, `SELECT l.authorization_code, m.sub_mchid, coalesce(a.state, '') FROM links l
			JOIN sub_merchants m ON m.id = l.sub_merchant_id
			LEFT JOIN authorizations a ON a.authorization_code = l.authorization_code WHERE l.id = ?`, id).Scan(&code, &subMchID, &state)
		if err != nil {
			return fmt.Errorf("store: renew link: %w", err)
		}
		// Once the user agreed, a new token changes nothing about the
		// authorization.
		if state != StateAvailable {
			if _, err := saveAuthorization(ctx, tx, Authorization{AuthorizationCode: code, SubMchID: subMchID, State: StateUnbindUser,
				StateTime: tx.now, Source: SourcePreauthorize}); err != nil {
				return err
			}
		}
		if audit == nil {
			return nil
		}
		return insertAudit(ctx, tx, *audit)
	})
}

// LinkOpened counts an open of the landing page.
func (db *DB) LinkOpened(ctx context.Context, id int64) error {
	return db.update(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE links SET opens = opens + 1, last_opened_at = ? WHERE id = ?`, fmtTime(tx.now), id)
		if err != nil {
			return fmt.Errorf("store: link opened: %w", err)
		}
		return nil
	})
}

// LinkByID finds a link by id.
func (db *DB) LinkByID(ctx context.Context, id int64) (*Link, error) {
	return findLink(ctx, db.read, "l.id = ?", id)
}

// LinkBySlug finds a link by its landing slug.
func (db *DB) LinkBySlug(ctx context.Context, slug string) (*Link, error) {
	return findLink(ctx, db.read, "l.slug = ?", slug)
}

// LinkIssue is what a link fixed when it was issued for its code: the
// sub-merchant and the sub_appid. Neither ever changes. Notifications
// naming the code must agree (linkMismatch).
type LinkIssue struct {
	SubMchID, SubAppID string
}

// LinkByCode finds a link by its authorization_code.
func (db *DB) LinkByCode(ctx context.Context, code string) (*Link, error) {
	return findLink(ctx, db.read, "l.authorization_code = ?", code)
}

func findLink(ctx context.Context, q querier, where string, args ...any) (*Link, error) {
	l, err := scanLink(q.QueryRowContext(ctx, linkSelect+` WHERE `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: find link: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: find link: %w", err)
	}
	return l, nil
}

// Filter values of LinkFilter.State beside the API's states: UNAVAILABLE
// ended by a termination from this console, or closed by the user.
const (
	StateTerminatedBySupport = "TERMINATED"
	StateClosedByUser        = "CLOSED"
)

// LinkFilter narrows the link list; Before is the keyset cursor.
type LinkFilter struct {
	SubMchID  string
	State     string
	CreatedBy string // username
	Before    int64
	Limit     int
}

// Links lists links, newest first.
func (db *DB) Links(ctx context.Context, f LinkFilter) ([]Link, error) {
	var where []string
	var args []any
	if f.SubMchID != "" {
		where, args = append(where, "m.sub_mchid = ?"), append(args, f.SubMchID)
	}
	switch f.State {
	case "":
	case StateTerminatedBySupport, StateClosedByUser:
		// UNAVAILABLE told apart: a termination from this console
		// succeeded, or the user closed it.
		cond := "a.state = ? AND " + map[bool]string{true: "", false: "NOT "}[f.State == StateTerminatedBySupport] +
			"EXISTS (SELECT 1 FROM terminations t WHERE t.authorization_code = l.authorization_code AND t.status = '" + TerminationSucceeded + "')"
		where, args = append(where, cond), append(args, StateUnavailable)
	default:
		where, args = append(where, "coalesce(a.state, '') = ?"), append(args, f.State)
	}
	if f.CreatedBy != "" {
		where, args = append(where, "u.username = ?"), append(args, f.CreatedBy)
	}
	if f.Before > 0 {
		where, args = append(where, "l.id < ?"), append(args, f.Before)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	q := linkSelect
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY l.id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list links: %w", err)
	}
	defer rows.Close()
	var out []Link
	for rows.Next() {
		l, err := scanLink(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list links: %w", err)
		}
		out = append(out, *l)
	}
	return out, rows.Err()
}

// LinksToReconcile lists links whose token expired before `expiredBefore`,
// whose authorization is still UNBINDUSER (no notification came), that were
// not reconciled since, and whose retry delay after a failed query is over;
// those never tried come first.
func (db *DB) LinksToReconcile(ctx context.Context, expiredBefore time.Time, limit int) ([]Link, error) {
	rows, err := db.read.QueryContext(ctx, linkSelect+` WHERE l.token_expires_at < ? AND l.reconciled_at IS NULL AND coalesce(a.state, '') = ?
		AND (l.reconcile_after IS NULL OR l.reconcile_after < ?) ORDER BY l.reconcile_failures, l.id LIMIT ?`,
		fmtTime(expiredBefore), StateUnbindUser, fmtTime(db.Now()), limit)
	if err != nil {
		return nil, fmt.Errorf("store: links to reconcile: %w", err)
	}
	defer rows.Close()
	var out []Link
	for rows.Next() {
		l, err := scanLink(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *l)
	}
	return out, rows.Err()
}

// LinkReconcileFailed records a failed reconciliation query: the link is
// tried again after a delay that doubles with each failure (5 min … 24 h).
func (db *DB) LinkReconcileFailed(ctx context.Context, id int64) error {
	return db.update(ctx, func(tx *Tx) error {
		var failures int
		if err := tx.QueryRowContext(ctx, `SELECT reconcile_failures FROM links WHERE id = ?`, id).Scan(&failures); err != nil {
			return fmt.Errorf("store: link reconcile failed: %w", err)
		}
		delay := min(5*time.Minute<<min(failures, 10), 24*time.Hour)
		_, err := tx.ExecContext(ctx, `UPDATE links SET reconcile_failures = reconcile_failures + 1, reconcile_after = ? WHERE id = ?`,
			fmtTime(tx.now.Add(delay)), id)
		if err != nil {
			return fmt.Errorf("store: link reconcile failed: %w", err)
		}
		return nil
	})
}

// MarkLinkReconciled records that a link's authorization was queried.
func (db *DB) MarkLinkReconciled(ctx context.Context, id int64) error {
	return db.update(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE links SET reconciled_at = ? WHERE id = ?`, fmtTime(tx.now), id)
		return err
	})
}

// ReservationTimeout is how long a code reservation holds without a link:
// longer than any pre-authorization call (15 s at most), short enough that
// a crash mid-call does not keep the code for long.
const ReservationTimeout = 2 * time.Minute

// ReserveCode reserves an authorization_code for a link about to be
// created, before WeChat Pay is called. It is ErrConflict when the code is
// already used (a link, a known authorization) or reserved by a request in
// flight: concurrent submits of one code make exactly one call. The link's
// creation ends the reservation; ReleaseCode ends it after a failed call.
func (db *DB) ReserveCode(ctx context.Context, code string) error {
	return db.update(ctx, func(tx *Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT
			(SELECT count(*) FROM links WHERE authorization_code = ?) +
			(SELECT count(*) FROM authorizations WHERE authorization_code = ?)`, code, code).Scan(&n); err != nil {
			return fmt.Errorf("store: reserve code: %w", err)
		}
		if n > 0 {
			return fmt.Errorf("store: reserve code %s: used: %w", code, ErrConflict)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO code_reservations (authorization_code, reserved_at) VALUES (?, ?)
			ON CONFLICT (authorization_code) DO UPDATE SET reserved_at = excluded.reserved_at
			WHERE code_reservations.reserved_at < ?`, code, fmtTime(tx.now), fmtTime(tx.now.Add(-ReservationTimeout)))
		if err != nil {
			return fmt.Errorf("store: reserve code: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("store: reserve code %s: in flight: %w", code, ErrConflict)
		}
		return nil
	})
}

// ReleaseCode ends a code's reservation without a link.
func (db *DB) ReleaseCode(ctx context.Context, code string) error {
	return db.update(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM code_reservations WHERE authorization_code = ?`, code); err != nil {
			return fmt.Errorf("store: release code: %w", err)
		}
		return nil
	})
}

// LinkCreators lists, by username, the users who created at least one link
// (the /links created_by filter offers only those).
func (db *DB) LinkCreators(ctx context.Context) ([]string, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT username FROM users u
		WHERE EXISTS (SELECT 1 FROM links l WHERE l.created_by = u.id) ORDER BY username`)
	if err != nil {
		return nil, fmt.Errorf("store: link creators: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("store: link creators: %w", err)
		}
		out = append(out, name)
	}
	return out, rows.Err()
}
