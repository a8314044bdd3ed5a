package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The callback log's live polling asks for rows above the newest id it
// shows. Under concurrent writers (several instances, or PostgreSQL's
// sequences) ids are taken in one order and committed in another: a row
// with a lower id can become visible after a higher one was shown. The
// poller therefore also carries the ids missing below its cursor (gaps) and
// asks for them again, until they arrive or can no longer arrive: a gap
// below a row received more than PollSettle ago belongs to a transaction
// that has ended (a rolled-back or never-used id).

// PollSettle bounds how long after a row's receipt a lower id may still
// commit: far longer than a notification's transaction may last (the writer
// gives up on it after seconds) plus the clock difference between
// instances.
const PollSettle = time.Minute

// maxPollScan bounds the ids a poll looks through for gaps; beyond it (a
// selective filter over a busy log) gaps are not tracked for that span.
const maxPollScan = 5000

// CallbackIDsIn returns which of ids are recorded, whatever their fields.
func (db *DB) CallbackIDsIn(ctx context.Context, ids []int64) (map[int64]bool, error) {
	out := map[int64]bool{}
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := db.read.QueryContext(ctx, `SELECT id FROM callbacks WHERE id IN (?`+strings.Repeat(",?", len(ids)-1)+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: callback ids: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: callback ids: %w", err)
		}
		out[id] = true
	}
	return out, rows.Err()
}

// CallbacksWithGaps is Callbacks(f) and the ids missing among the rows it
// lists, read in one snapshot: with f.After set (a poll), the ids in
// (f.After, newest listed]; otherwise those between the oldest and the
// newest listed. Read apart, a row that commits between the two reads
// would be in neither — not listed, and not missing either — and the
// poller would never show it.
func (db *DB) CallbacksWithGaps(ctx context.Context, f CallbackFilter) ([]Callback, []int64, error) {
	var rows []Callback
	var gaps []int64
	err := db.view(ctx, func(tx *readTx) error {
		var err error
		if rows, err = db.listCallbacks(ctx, tx, f); err != nil {
			return err
		}
		lo, hi := f.After, f.After
		if f.After <= 0 {
			if len(rows) == 0 {
				return nil
			}
			lo, hi = rows[len(rows)-1].ID, rows[0].ID
		}
		for _, cb := range rows {
			lo, hi = min(lo, cb.ID), max(hi, cb.ID)
		}
		gaps, err = callbackGaps(ctx, tx, lo, hi)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return rows, gaps, nil
}

// callbackGaps returns the ids in (lo, hi] that no recorded row has (yet),
// in ascending order; nil when the span is wider than the scan bound.
func callbackGaps(ctx context.Context, q querier, lo, hi int64) ([]int64, error) {
	if hi <= lo || hi-lo > maxPollScan {
		return nil, nil
	}
	rows, err := q.QueryContext(ctx, `SELECT id FROM callbacks WHERE id > ? AND id <= ? ORDER BY id`, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("store: callback gaps: %w", err)
	}
	defer rows.Close()
	var gaps []int64
	next := lo + 1
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: callback gaps: %w", err)
		}
		for ; next < id; next++ {
			gaps = append(gaps, next)
		}
		next = id + 1
	}
	return gaps, rows.Err()
}

// SettledCallbackID is the highest id received before t: an id below it
// that is missing now never arrives (see PollSettle). 0 when none.
func (db *DB) SettledCallbackID(ctx context.Context, t time.Time) (int64, error) {
	var id sql.NullInt64
	err := db.read.QueryRowContext(ctx, `SELECT id FROM callbacks WHERE first_received_at < ? ORDER BY first_received_at DESC, id DESC LIMIT 1`,
		fmtTime(t)).Scan(&id)
	if err != nil && err != sql.ErrNoRows {
		return 0, fmt.Errorf("store: settled callback: %w", err)
	}
	return id.Int64, nil
}

// CallbacksByIDs lists the rows among ids that f's filters match (f's
// cursors and limit are ignored), newest first.
func (db *DB) CallbacksByIDs(ctx context.Context, f CallbackFilter, ids []int64) ([]Callback, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var out []Callback
	for _, id := range ids {
		g := f
		g.Before, g.After, g.Limit = id+1, id-1, 1
		if id-1 <= 0 {
			g.After = 0
		}
		rows, err := db.Callbacks(ctx, g)
		if err != nil {
			return nil, err
		}
		for _, cb := range rows {
			if cb.ID == id {
				out = append(out, cb)
			}
		}
	}
	slices.SortFunc(out, func(a, b Callback) int { return int(b.ID - a.ID) })
	return out, nil
}
