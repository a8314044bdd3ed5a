package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Lease names.
const (
	// LeaseWorker is held by the one instance that runs the background
	// work: the resolver of pending terminations, the reconciler and bulk
	// jobs.
	LeaseWorker = "worker"
	// leaseInstancePrefix names each instance's heartbeat lease.
	leaseInstancePrefix = "instance:"
)

// InstanceLease is the name of an instance's heartbeat lease.
func InstanceLease(instanceID string) string { return leaseInstancePrefix + instanceID }

// Lease is a lease row: who holds it and until when.
type Lease struct {
	Name     string
	Holder   string
	Expiry   time.Time
	Renewed  time.Time
	Acquired time.Time
}

// AcquireLease takes lease name for holder until now+ttl, or renews it when
// holder already has it. It succeeds when the lease is free, lapsed (its
// expiry passed) or held by holder; otherwise ok is false and nothing
// changes. Written in portable SQL (INSERT … ON CONFLICT DO NOTHING, then a
// guarded UPDATE), so that the database decides between instances racing
// for it: exactly one wins. Times are the instance's clock: instances'
// clocks must agree to well within ttl.
func (db *DB) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (ok bool, err error) {
	if name == "" || holder == "" || ttl <= 0 {
		return false, errors.New("store: acquire lease: name, holder and a positive ttl are required")
	}
	err = db.update(ctx, func(tx *Tx) error {
		now := fmtTime(tx.now)
		expiry := fmtTime(tx.now.Add(ttl))
		res, err := tx.ExecContext(ctx, `INSERT INTO leases (name, holder, expiry, renewed, acquired) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (name) DO NOTHING`, name, holder, expiry, now, now)
		if err != nil {
			return fmt.Errorf("store: acquire lease %s: %w", name, err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			ok = true
			return nil
		}
		res, err = tx.ExecContext(ctx, `UPDATE leases SET
				acquired = CASE WHEN holder = ? THEN acquired ELSE ? END,
				holder = ?, expiry = ?, renewed = ?
			WHERE name = ? AND (holder = ? OR expiry < ?)`,
			holder, now, holder, expiry, now, name, holder, now)
		if err != nil {
			return fmt.Errorf("store: acquire lease %s: %w", name, err)
		}
		n, _ := res.RowsAffected()
		ok = n == 1
		return nil
	})
	return ok, err
}

// ReleaseLease gives lease name up if holder has it (a clean stop), so that
// another instance need not wait for it to lapse.
func (db *DB) ReleaseLease(ctx context.Context, name, holder string) error {
	return db.update(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM leases WHERE name = ? AND holder = ?`, name, holder); err != nil {
			return fmt.Errorf("store: release lease %s: %w", name, err)
		}
		return nil
	})
}

// LeaseByName reads a lease; ErrNotFound when nobody ever took it (or it
// was released).
func (db *DB) LeaseByName(ctx context.Context, name string) (*Lease, error) {
	var l Lease
	err := db.read.QueryRowContext(ctx, `SELECT name, holder, expiry, renewed, acquired FROM leases WHERE name = ?`, name).
		Scan(&l.Name, &l.Holder, timeCol{&l.Expiry}, timeCol{&l.Renewed}, timeCol{&l.Acquired})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: lease %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: lease %s: %w", name, err)
	}
	return &l, nil
}

// InstanceAlive reports whether the instance's heartbeat lease is held and
// not lapsed. An instance that never had one, or released it, is not alive.
func (db *DB) InstanceAlive(ctx context.Context, instanceID string) (bool, error) {
	l, err := db.LeaseByName(ctx, InstanceLease(instanceID))
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return l.Holder == instanceID && db.Now().Before(l.Expiry), nil
}

// PruneInstanceLeases deletes the heartbeat leases that lapsed before
// before: instances that stopped long ago (each process has its own id).
func (db *DB) PruneInstanceLeases(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := db.update(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM leases WHERE name LIKE ? AND expiry < ?`, leaseInstancePrefix+"%", fmtTime(before))
		if err != nil {
			return fmt.Errorf("store: prune instance leases: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}
