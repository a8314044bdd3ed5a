package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// AuthorizationCodeUsed reports whether an authorization_code is already
// known here: behind a link, or in the authorizations we track (a code
// looked up or notified without a link of ours). WeChat Pay refuses a code
// reused with other parameters; refusing it locally first gives a clear
// message and spares the call.
func (db *DB) AuthorizationCodeUsed(ctx context.Context, code string) (bool, error) {
	var n int
	err := db.Read.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM links WHERE authorization_code = ?) +
		(SELECT count(*) FROM authorizations WHERE authorization_code = ?)`, code, code).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("store: authorization code used: %w", err)
	}
	return n > 0, nil
}

// Settings keys of the landing pages' emergency switch. SettingLandingPaused
// holds "1" while paused and "0" (or nothing) otherwise; the others say why,
// who and when, for the overview.
const (
	SettingLandingPaused       = "landing_paused"
	SettingLandingPausedReason = "landing_paused_reason"
	SettingLandingPausedBy     = "landing_paused_by"
	SettingLandingPausedAt     = "landing_paused_at"
)

// LandingPause is the state of the emergency switch that pauses every
// landing page.
type LandingPause struct {
	Paused bool
	Reason string
	By     string    // username of whoever last switched it
	At     time.Time // when it was last switched; zero if never
}

// LandingPause reads the emergency switch; never switched is "not paused".
func (db *DB) LandingPause(ctx context.Context) (LandingPause, error) {
	var p LandingPause
	rows, err := db.Read.QueryContext(ctx, `SELECT key, value FROM settings WHERE key IN (?, ?, ?, ?)`,
		SettingLandingPaused, SettingLandingPausedReason, SettingLandingPausedBy, SettingLandingPausedAt)
	if err != nil {
		return p, fmt.Errorf("store: landing pause: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return p, fmt.Errorf("store: landing pause: %w", err)
		}
		switch k {
		case SettingLandingPaused:
			p.Paused = v == "1"
		case SettingLandingPausedReason:
			p.Reason = v
		case SettingLandingPausedBy:
			p.By = v
		case SettingLandingPausedAt:
			p.At = parseTime(v)
		}
	}
	return p, rows.Err()
}

// SetLandingPause switches the landing pages off (Paused) or back on, with
// the reason and who did it, in one transaction; At is the transaction's
// time.
func (db *DB) SetLandingPause(ctx context.Context, paused bool, reason, by string) error {
	if by == "" {
		return errors.New("store: set landing pause: who switched it is required")
	}
	return db.update(ctx, func(tx *Tx) error {
		v := "0"
		if paused {
			v = "1"
		}
		for _, kv := range [][2]string{
			{SettingLandingPaused, v},
			{SettingLandingPausedReason, reason},
			{SettingLandingPausedBy, by},
			{SettingLandingPausedAt, fmtTime(tx.now)},
		} {
			if _, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?)
				ON CONFLICT (key) DO UPDATE SET value = excluded.value`, kv[0], kv[1]); err != nil {
				return fmt.Errorf("store: set landing pause: %w", err)
			}
		}
		return nil
	})
}
