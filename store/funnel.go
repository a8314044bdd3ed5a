package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Funnel steps, in the order a user takes them. The version check ends in
// one of three; the page's answer in one of three.
const (
	FunnelOpened       = "opened"        // the landing page was opened
	FunnelCheckOK      = "check_ok"      // WeChat new enough
	FunnelCheckOld     = "check_old"     // WeChat below 7.0.5
	FunnelCheckOutside = "check_outside" // not in WeChat
	FunnelInvoked      = "invoked"       // openBusinessView invoked
	FunnelAnswerOK     = "answer_ok"     // the page came back with err_code 0
	FunnelAnswerCancel = "answer_cancel" // the user declined (cancel)
	FunnelAnswerError  = "answer_error"  // any other err_code
	FunnelNotified     = "notified"      // derived: USER_OPEN_SERVICE received
	funnelSeenKeep     = 5 * time.Minute // how long a visitor's hash is kept
	dayOffset          = 8 * time.Hour   // days are Beijing days (no DST)
	dayFormat          = "2006-01-02"    // a day as daily_counts stores it
	funnelMetricPrefix = "funnel."       // daily_counts metric of a step
	metricOpened       = "notify." + EventOpen
	metricClosed       = "notify." + EventClose
)

// FunnelSteps are the steps recorded (not derived), in order.
var FunnelSteps = []string{FunnelOpened, FunnelCheckOK, FunnelCheckOld, FunnelCheckOutside,
	FunnelInvoked, FunnelAnswerOK, FunnelAnswerCancel, FunnelAnswerError}

// Day is the Beijing day of t, as daily_counts keys it.
func Day(t time.Time) string { return t.UTC().Add(dayOffset).Format(dayFormat) }

// RecordFunnelStep counts step for a link, unless the same visitor (a keyed
// hash) was counted for it within window: then it reports false. The link's
// count and the day's count change in one transaction; hashes older than a
// few minutes are deleted on the way.
func (db *DB) RecordFunnelStep(ctx context.Context, linkID int64, step, visitor string, window time.Duration) (bool, error) {
	counted := false
	err := db.update(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM funnel_seen WHERE seen_at < ?`, fmtTime(tx.now.Add(-max(window, funnelSeenKeep)))); err != nil {
			return fmt.Errorf("store: funnel: %w", err)
		}
		var seen string
		err := tx.QueryRowContext(ctx, `SELECT seen_at FROM funnel_seen WHERE link_id = ? AND step = ? AND visitor = ?`, linkID, step, visitor).Scan(&seen)
		switch {
		case err == nil:
			at, err := parseTime(seen)
			if err != nil {
				return err
			}
			if tx.now.Sub(at) < window {
				return nil // counted within the window: once
			}
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("store: funnel: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO funnel_seen (link_id, step, visitor, seen_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (link_id, step, visitor) DO UPDATE SET seen_at = excluded.seen_at`, linkID, step, visitor, fmtTime(tx.now)); err != nil {
			return fmt.Errorf("store: funnel: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO link_funnel (link_id, step, n) VALUES (?, ?, 1)
			ON CONFLICT (link_id, step) DO UPDATE SET n = link_funnel.n + 1`, linkID, step); err != nil {
			return fmt.Errorf("store: funnel: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO daily_counts (day, sub_mchid, metric, n)
			SELECT ?, m.sub_mchid, ?, 1 FROM links l JOIN sub_merchants m ON m.id = l.sub_merchant_id WHERE l.id = ?
			ON CONFLICT (day, sub_mchid, metric) DO UPDATE SET n = daily_counts.n + 1`, Day(tx.now), funnelMetricPrefix+step, linkID); err != nil {
			return fmt.Errorf("store: funnel: %w", err)
		}
		counted = true
		return nil
	})
	return counted, err
}

// LinkFunnel is a link's funnel counts by step, FunnelNotified included
// (the USER_OPEN_SERVICE notifications stored for its code).
func (db *DB) LinkFunnel(ctx context.Context, linkID int64) (map[string]int, error) {
	out := map[string]int{}
	err := db.view(ctx, func(tx *readTx) error {
		rows, err := tx.QueryContext(ctx, `SELECT step, n FROM link_funnel WHERE link_id = ?`, linkID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var step string
			var n int
			if err := rows.Scan(&step, &n); err != nil {
				return err
			}
			out[step] = n
		}
		if err := rows.Err(); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM callbacks WHERE authorization_code = (SELECT authorization_code FROM links WHERE id = ?)
			AND event_type = ?`, linkID, EventOpen).Scan(&n); err != nil {
			return err
		}
		out[FunnelNotified] = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: link funnel: %w", err)
	}
	return out, nil
}

// SetLinkAutoRenewAudited switches a link's auto-renewal and appends audit
// in the same transaction. An unknown link is ErrNotFound.
func (db *DB) SetLinkAutoRenewAudited(ctx context.Context, id int64, on bool, audit AuditEntry) error {
	return db.update(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE links SET auto_renew = ? WHERE id = ?`, on, id)
		if err != nil {
			return fmt.Errorf("store: set auto-renew: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("store: set auto-renew: %w", ErrNotFound)
		}
		return insertAudit(ctx, tx, audit)
	})
}

// ClaimAutoRenew takes a link's auto-renewal slot: true if auto-renewal is
// on and no renewal was claimed within gap (then the claim is recorded, so
// another instance sharing the database is refused too), false otherwise.
func (db *DB) ClaimAutoRenew(ctx context.Context, id int64, gap time.Duration) (bool, error) {
	claimed := false
	err := db.update(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE links SET auto_renewed_at = ? WHERE id = ? AND auto_renew = 1
			AND (auto_renewed_at IS NULL OR auto_renewed_at <= ?)`, fmtTime(tx.now), id, fmtTime(tx.now.Add(-gap)))
		if err != nil {
			return fmt.Errorf("store: claim auto-renew: %w", err)
		}
		n, _ := res.RowsAffected()
		claimed = n == 1
		return nil
	})
	return claimed, err
}
