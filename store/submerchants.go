package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// SubMerchant is a merchant of ours that offers Pay Score.
type SubMerchant struct {
	ID        int64
	SubMchID  string
	SubAppID  string
	Name      string
	Disabled  bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

const subMerchantColumns = `id, sub_mchid, sub_appid, name, disabled, created_at, updated_at`

func scanSubMerchant(row interface{ Scan(...any) error }) (*SubMerchant, error) {
	var m SubMerchant
	if err := row.Scan(&m.ID, &m.SubMchID, &m.SubAppID, &m.Name, &m.Disabled, timeCol{&m.CreatedAt}, timeCol{&m.UpdatedAt}); err != nil {
		return nil, err
	}
	return &m, nil
}

// CreateSubMerchant registers a sub-merchant; a taken sub_mchid is ErrConflict.
func (db *DB) CreateSubMerchant(ctx context.Context, m SubMerchant) (*SubMerchant, error) {
	return db.createSubMerchant(ctx, m, nil)
}

// CreateSubMerchantAudited is CreateSubMerchant that also appends audit in
// the same transaction: the entry exists if and only if the sub-merchant
// does.
func (db *DB) CreateSubMerchantAudited(ctx context.Context, m SubMerchant, audit AuditEntry) (*SubMerchant, error) {
	return db.createSubMerchant(ctx, m, &audit)
}

func (db *DB) createSubMerchant(ctx context.Context, m SubMerchant, audit *AuditEntry) (*SubMerchant, error) {
	var out *SubMerchant
	err := db.update(ctx, func(tx *Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `INSERT INTO sub_merchants (sub_mchid, sub_appid, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?) RETURNING id`,
			m.SubMchID, m.SubAppID, m.Name, fmtTime(tx.now), fmtTime(tx.now)).Scan(&id)
		if isConstraint(err) {
			return fmt.Errorf("store: create sub-merchant %s: %w", m.SubMchID, ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("store: create sub-merchant: %w", err)
		}
		if out, err = findSubMerchant(ctx, tx, "id = ?", id); err != nil || audit == nil {
			return err
		}
		return insertAudit(ctx, tx, *audit)
	})
	return out, err
}

// UpdateSubMerchant changes a sub-merchant's app id, name and status.
func (db *DB) UpdateSubMerchant(ctx context.Context, m SubMerchant) (*SubMerchant, error) {
	return db.updateSubMerchant(ctx, m, nil)
}

// UpdateSubMerchantAudited is UpdateSubMerchant that also appends audit in
// the same transaction.
func (db *DB) UpdateSubMerchantAudited(ctx context.Context, m SubMerchant, audit AuditEntry) (*SubMerchant, error) {
	return db.updateSubMerchant(ctx, m, &audit)
}

func (db *DB) updateSubMerchant(ctx context.Context, m SubMerchant, audit *AuditEntry) (*SubMerchant, error) {
	var out *SubMerchant
	err := db.update(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE sub_merchants SET sub_appid = ?, name = ?, disabled = ?, updated_at = ? WHERE id = ?`,
			m.SubAppID, m.Name, m.Disabled, fmtTime(tx.now), m.ID)
		if err != nil {
			return fmt.Errorf("store: update sub-merchant: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("store: update sub-merchant %d: %w", m.ID, ErrNotFound)
		}
		if out, err = findSubMerchant(ctx, tx, "id = ?", m.ID); err != nil || audit == nil {
			return err
		}
		return insertAudit(ctx, tx, *audit)
	})
	return out, err
}

// SubMerchantByID finds a sub-merchant by row id.
func (db *DB) SubMerchantByID(ctx context.Context, id int64) (*SubMerchant, error) {
	return findSubMerchant(ctx, db.read, "id = ?", id)
}

// SubMerchantByMchID finds a sub-merchant by its sub_mchid.
func (db *DB) SubMerchantByMchID(ctx context.Context, subMchID string) (*SubMerchant, error) {
	return findSubMerchant(ctx, db.read, "sub_mchid = ?", subMchID)
}

func findSubMerchant(ctx context.Context, q querier, where string, args ...any) (*SubMerchant, error) {
	m, err := scanSubMerchant(q.QueryRowContext(ctx, `SELECT `+subMerchantColumns+` FROM sub_merchants WHERE `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: find sub-merchant: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: find sub-merchant: %w", err)
	}
	return m, nil
}

// SubMerchants lists every sub-merchant by name.
func (db *DB) SubMerchants(ctx context.Context) ([]SubMerchant, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+subMerchantColumns+` FROM sub_merchants ORDER BY disabled, name, sub_mchid`)
	if err != nil {
		return nil, fmt.Errorf("store: list sub-merchants: %w", err)
	}
	defer rows.Close()
	var out []SubMerchant
	for rows.Next() {
		m, err := scanSubMerchant(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list sub-merchants: %w", err)
		}
		out = append(out, *m)
	}
	return out, rows.Err()
}
