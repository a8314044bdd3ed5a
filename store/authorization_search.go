package store

import (
	"context"
	"fmt"
	"time"
)

// AuthorizationRow is one authorization in a search's list: its last known
// state, who it belongs to, and how it ended.
type AuthorizationRow struct {
	AuthorizationCode string
	SubMchID          string
	SubMerchantName   string // "" when the sub-merchant is not registered
	State             string
	OpenID            string
	SubOpenID         string
	SuccessTime       *time.Time
	CancelTime        *time.Time
	StateTime         time.Time
	// LinkID is the link that started it, 0 if none of ours.
	LinkID int64
	// TerminatedBySupport: a termination from this console succeeded.
	TerminatedBySupport bool
}

// AuthorizationSearch narrows SearchAuthorizations: by the user (OpenID,
// matching openid or sub_openid, in the state or in any notification) or
// by the sub-merchant. Exactly one is set.
type AuthorizationSearch struct {
	OpenID   string
	SubMchID string
	Limit    int
}

const authorizationRowSelect = `SELECT a.authorization_code, a.sub_mchid, coalesce(m.name, ''), a.state, a.openid, a.sub_openid,
	a.success_time, a.cancel_time, a.state_time, coalesce(l.id, 0),
	EXISTS (SELECT 1 FROM terminations t WHERE t.authorization_code = a.authorization_code AND t.status = '` + TerminationSucceeded + `')
	FROM authorizations a
	LEFT JOIN sub_merchants m ON m.sub_mchid = a.sub_mchid
	LEFT JOIN links l ON l.authorization_code = a.authorization_code`

// SearchAuthorizations lists the authorizations of a user or of a
// sub-merchant, the latest state change first.
func (db *DB) SearchAuthorizations(ctx context.Context, f AuthorizationSearch) ([]AuthorizationRow, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	var where string
	var args []any
	switch {
	case f.OpenID != "":
		// The state carries the openid WeChat Pay last told us; the
		// notifications carry the one of each event (an authorization
		// whose state came from a query before any notification has it
		// only in the state).
		where = `WHERE a.openid = ? OR a.sub_openid = ? OR a.authorization_code IN (
			SELECT c.authorization_code FROM callbacks c WHERE c.openid = ?
			UNION SELECT c.authorization_code FROM callbacks c WHERE c.sub_openid = ?)`
		args = []any{f.OpenID, f.OpenID, f.OpenID, f.OpenID}
	case f.SubMchID != "":
		where, args = `WHERE a.sub_mchid = ?`, []any{f.SubMchID}
	default:
		return nil, nil
	}
	rows, err := db.read.QueryContext(ctx, authorizationRowSelect+` `+where+` ORDER BY a.state_time DESC, a.authorization_code LIMIT ?`,
		append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("store: search authorizations: %w", err)
	}
	defer rows.Close()
	var out []AuthorizationRow
	for rows.Next() {
		var r AuthorizationRow
		if err := rows.Scan(&r.AuthorizationCode, &r.SubMchID, &r.SubMerchantName, &r.State, &r.OpenID, &r.SubOpenID,
			nullTimeCol{&r.SuccessTime}, nullTimeCol{&r.CancelTime}, timeCol{&r.StateTime}, &r.LinkID, &r.TerminatedBySupport); err != nil {
			return nil, fmt.Errorf("store: search authorizations: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// CodesFoldingCase lists the authorization codes known here (behind a link
// or tracked) that differ from code only in the case of letters, for a
// "did you mean" hint: codes are matched case-sensitively everywhere else.
// Codes are ASCII, which lower() folds alike in every engine.
func (db *DB) CodesFoldingCase(ctx context.Context, code string, limit int) ([]string, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT authorization_code FROM authorizations WHERE lower(authorization_code) = lower(?) AND authorization_code != ?
		UNION SELECT authorization_code FROM links WHERE lower(authorization_code) = lower(?) AND authorization_code != ?
		ORDER BY 1 LIMIT ?`, code, code, code, code, limit)
	if err != nil {
		return nil, fmt.Errorf("store: codes folding case: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, fmt.Errorf("store: codes folding case: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
