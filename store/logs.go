package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"
)

// timeRange narrows a log to rows whose time column lies in [from, to) and
// says so in terms of ids as well. Rows are appended in time order, so the
// ids of a time range are a range too, found with two lookups in the
// (column, id) index; the outer query then walks the primary key (or a
// (filter, id) index) newest first inside it, instead of collecting the
// whole time range to sort it by id. The time terms stay, unary + keeping
// SQLite from picking the time index for them. A row written while the clock
// stood before an earlier row's time may fall outside its id range: a log
// screen accepts that.
func timeRange(table, column string, from, to time.Time) (conds []string, args []any) {
	if !from.IsZero() {
		conds = append(conds,
			`id >= coalesce((SELECT id FROM `+table+` WHERE `+column+` >= ? ORDER BY `+column+`, id LIMIT 1), 9223372036854775807)`,
			`+`+column+` >= ?`)
		args = append(args, fmtTime(from), fmtTime(from))
	}
	if !to.IsZero() {
		conds = append(conds,
			`id <= coalesce((SELECT id FROM `+table+` WHERE `+column+` < ? ORDER BY `+column+` DESC, id DESC LIMIT 1), 0)`,
			`+`+column+` < ?`)
		args = append(args, fmtTime(to), fmtTime(to))
	}
	return conds, args
}

// RefusalFilter narrows the refused-attempts log. Before and After are
// keyset cursors, as in CallbackFilter.
type RefusalFilter struct {
	NotificationID string
	From, To       time.Time
	Before         int64
	// After is the polling cursor: only rows with a greater id, the oldest
	// Limit of them (returned newest first).
	After int64
	Limit int
}

const refusalColumns = `id, received_at, remote_addr, reason, serial, notification_id`

// RefusalLog lists refused notification attempts, newest first, one page
// at a time.
func (db *DB) RefusalLog(ctx context.Context, f RefusalFilter) ([]Refusal, error) {
	var where []string
	var args []any
	add := func(cond string, v any) { where, args = append(where, cond), append(args, v) }
	if f.NotificationID != "" {
		add("notification_id = ?", f.NotificationID)
	}
	if !f.From.IsZero() {
		add("received_at >= ?", fmtTime(f.From))
	}
	if !f.To.IsZero() {
		add("received_at < ?", fmtTime(f.To))
	}
	q, args, ascending := keysetPage(`SELECT `+refusalColumns+` FROM callback_refusals`, where, args, f.Before, f.After, f.Limit)
	rows, err := db.Read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: refusal log: %w", err)
	}
	defer rows.Close()
	var out []Refusal
	for rows.Next() {
		var r Refusal
		var at string
		if err := rows.Scan(&r.ID, &at, &r.RemoteAddr, &r.Reason, &r.Serial, &r.NotificationID); err != nil {
			return nil, fmt.Errorf("store: refusal log: %w", err)
		}
		r.ReceivedAt = parseTime(at)
		out = append(out, r)
	}
	if ascending {
		slices.Reverse(out)
	}
	return out, rows.Err()
}

// Overview is the start page's figures.
type Overview struct {
	// ActiveAuthorizations counts AVAILABLE authorizations (exact).
	ActiveAuthorizations int
	// AwaitingUser counts links whose authorization is UNBINDUSER and whose
	// token has not expired: handed out, not yet agreed to.
	AwaitingUser int
	// Callbacks24h and Refusals24h count notifications first received and
	// attempts refused in the 24 hours before now.
	Callbacks24h int
	Refusals24h  int
	// TerminatedToday counts terminations that succeeded, requested since
	// the start of the day given to OverviewFigures.
	TerminatedToday int
}

// OverviewFigures reads the overview's counts in one consistent snapshot.
// Each is an index range or a single row, never a scan of a whole table.
func (db *DB) OverviewFigures(ctx context.Context, now, dayStart time.Time) (Overview, error) {
	var o Overview
	err := db.view(ctx, func(tx *sql.Tx) error {
		// CROSS JOIN makes SQLite walk the links first: those with a live
		// token are an hour's worth, while UNBINDUSER authorizations pile
		// up (every link never agreed to stays so).
		queries := []struct {
			dest *int
			q    string
			args []any
		}{
			{&o.ActiveAuthorizations, `SELECT coalesce((SELECT n FROM authorization_counts WHERE state = ?), 0)`, []any{StateAvailable}},
			{&o.AwaitingUser, `SELECT count(*) FROM links l CROSS JOIN authorizations a ON a.authorization_code = l.authorization_code
				WHERE l.token_expires_at > ? AND a.state = ?`, []any{fmtTime(now), StateUnbindUser}},
			// Callbacks are appended in time order and never deleted from
			// the middle, so their ids are dense: the day's count is the
			// distance from its first id to the newest, two index lookups
			// however busy the day (counting would read every entry).
			{&o.Callbacks24h, `SELECT coalesce((SELECT max(id) FROM callbacks) -
				(SELECT id FROM callbacks WHERE first_received_at >= ? ORDER BY first_received_at, id LIMIT 1) + 1, 0)`,
				[]any{fmtTime(now.Add(-24 * time.Hour))}},
			// Refusals are trimmed to the newest MaxRefusals: a bounded count.
			{&o.Refusals24h, `SELECT count(*) FROM callback_refusals WHERE received_at >= ?`,
				[]any{fmtTime(now.Add(-24 * time.Hour))}},
			{&o.TerminatedToday, `SELECT count(*) FROM terminations WHERE created_at >= ? AND status = ?`,
				[]any{fmtTime(dayStart), TerminationSucceeded}},
		}
		for _, q := range queries {
			if err := tx.QueryRowContext(ctx, q.q, q.args...).Scan(q.dest); err != nil {
				return fmt.Errorf("store: overview: %w", err)
			}
		}
		return nil
	})
	return o, err
}
