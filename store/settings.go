package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Setting returns a setting's value, or ErrNotFound.
func (db *DB) Setting(ctx context.Context, key string) (string, error) {
	var v string
	err := db.Read.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
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
