package store

import (
	"context"
	"fmt"
	"time"
)

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
	rows, err := db.Read.QueryContext(ctx, `SELECT `+authorizationColumns+` FROM authorizations a
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
