package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Setting returns a setting's value, or ErrNotFound.
func (db *DB) Setting(ctx context.Context, key string) (string, error) {
	var v string
	err := db.read.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("store: setting %q: %w", key, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("store: setting %q: %w", key, err)
	}
	return v, nil
}

// SetSetting stores a setting's value.
func (db *DB) SetSetting(ctx context.Context, key, value string) error {
	return db.update(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
		if err != nil {
			return fmt.Errorf("store: set setting %q: %w", key, err)
		}
		return nil
	})
}

// SettingOrCreate returns a setting, storing create() first if it is absent.
// Two starts racing agree on one value: the insert is ignored if another won.
func (db *DB) SettingOrCreate(ctx context.Context, key string, create func() (string, error)) (string, error) {
	if v, err := db.Setting(ctx, key); err == nil {
		return v, nil
	} else if !errors.Is(err, ErrNotFound) {
		return "", err
	}
	v, err := create()
	if err != nil {
		return "", err
	}
	err = db.update(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`, key, v)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("store: create setting %q: %w", key, err)
	}
	return db.Setting(ctx, key)
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
	rows, err := db.read.QueryContext(ctx, `SELECT key, value FROM settings WHERE key IN (?, ?, ?, ?)`,
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
			if p.At, err = parseTime(v); err != nil {
				return p, fmt.Errorf("store: landing pause: %w", err)
			}
		}
	}
	return p, rows.Err()
}

// SetLandingPause switches the landing pages off (Paused) or back on, with
// the reason and who did it, in one transaction; At is the transaction's
// time.
func (db *DB) SetLandingPause(ctx context.Context, paused bool, reason, by string) error {
	return db.setLandingPause(ctx, paused, reason, by, nil)
}

// SetLandingPauseAudited is SetLandingPause that also appends audit in the
// same transaction.
func (db *DB) SetLandingPauseAudited(ctx context.Context, paused bool, reason, by string, audit AuditEntry) error {
	return db.setLandingPause(ctx, paused, reason, by, &audit)
}

func (db *DB) setLandingPause(ctx context.Context, paused bool, reason, by string, audit *AuditEntry) error {
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
		if audit == nil {
			return nil
		}
		return insertAudit(ctx, tx, *audit)
	})
}
