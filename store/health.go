package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// LastNotificationAt is when the newest notification was first received
// (verified and stored); nil when none ever was. One index lookup.
func (db *DB) LastNotificationAt(ctx context.Context) (*time.Time, error) {
	var last sql.NullString
	if err := db.read.QueryRowContext(ctx, `SELECT max(first_received_at) FROM callbacks`).Scan(&last); err != nil {
		db.errs.note(opRead, err)
		return nil, fmt.Errorf("store: last notification: %w", err)
	}
	if !last.Valid {
		return nil, nil
	}
	t, err := parseTime(last.String)
	if err != nil {
		return nil, err
	}
	return &t, nil
}
