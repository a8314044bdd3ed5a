package store

import (
	"context"
	"fmt"
	"time"
)

// AuditEntry is one line of the append-only audit log: who did what, when,
// to what, why, and how it ended. It never holds session ids, keys or
// passwords.
type AuditEntry struct {
	ID        int64
	At        time.Time
	UserID    int64 // 0 for the system
	Username  string
	IP        string
	Action    string
	Target    string
	Reason    string
	Result    string
	RequestID string
	Detail    string
}

// Audit appends an entry.
func (db *DB) Audit(ctx context.Context, e AuditEntry) error {
	return db.update(ctx, func(tx *Tx) error { return insertAudit(ctx, tx, e) })
}

func insertAudit(ctx context.Context, tx *Tx, e AuditEntry) error {
	var uid any
	if e.UserID != 0 {
		uid = e.UserID
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO audit_log (at, user_id, username, ip, action, target, reason, result, request_id, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		fmtTime(tx.now), uid, e.Username, e.IP, e.Action, e.Target, e.Reason, e.Result, e.RequestID, e.Detail)
	if err != nil {
		return fmt.Errorf("store: audit: %w", err)
	}
	return nil
}

// AuditFilter narrows the audit log; zero fields match everything. Before is
// a keyset cursor: only entries with a smaller id.
type AuditFilter struct {
	Username string
	Action   string
	Target   string
	From, To time.Time
	Before   int64
	Limit    int
}

// AuditLog lists entries, newest first.
func (db *DB) AuditLog(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	where, args := "1=1", []any{}
	if f.Username != "" {
		where, args = where+" AND username = ?", append(args, f.Username)
	}
	if f.Action != "" {
		where, args = where+" AND action = ?", append(args, f.Action)
	}
	if f.Target != "" {
		where, args = where+" AND target = ?", append(args, f.Target)
	}
	conds, targs := db.timeRange("audit_log", "at", f.From, f.To)
	for _, c := range conds {
		where += " AND " + c
	}
	args = append(args, targs...)
	if f.Before > 0 {
		where, args = where+" AND id < ?", append(args, f.Before)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	args = append(args, limit)
	rows, err := db.read.QueryContext(ctx, `SELECT id, at, coalesce(user_id, 0), username, ip, action, target, reason, result, request_id, detail
		FROM audit_log WHERE `+where+` ORDER BY id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: audit log: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		if err := rows.Scan(&e.ID, timeCol{&e.At}, &e.UserID, &e.Username, &e.IP, &e.Action, &e.Target, &e.Reason, &e.Result, &e.RequestID, &e.Detail); err != nil {
			return nil, fmt.Errorf("store: audit log: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
