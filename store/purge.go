package store

import (
	"context"
	"fmt"
	"time"
)

// purgeBatch bounds the rows one purge transaction deletes: the writer is
// shared with the notifications, which must not wait long behind it.
const purgeBatch = 2000

// PurgeCallbacks deletes the recorded notifications (with their
// deliveries) first and last received before cutoff, in transactions of a
// bounded size. The audit entry is written in the first transaction, with
// the number of rows the purge is to delete: it exists if and only if the
// purge began. A purge interrupted part-way is finished by running it
// again. It returns how many notifications were deleted.
func (db *DB) PurgeCallbacks(ctx context.Context, cutoff time.Time, audit AuditEntry) (int64, error) {
	cut := fmtTime(cutoff)
	var total int64
	for first := true; ; first = false {
		var n int64
		err := db.update(ctx, func(tx *Tx) error {
			if first {
				var due int64
				if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM callbacks WHERE first_received_at < ? AND last_received_at < ?`, cut, cut).Scan(&due); err != nil {
					return fmt.Errorf("store: purge callbacks: %w", err)
				}
				a := audit
				a.Detail = fmt.Sprintf("%s before=%s rows=%d", a.Detail, cutoff.UTC().Format(time.RFC3339), due)
				if err := insertAudit(ctx, tx, a); err != nil {
					return err
				}
			}
			// The oldest first, through the (first_received_at, id) index.
			const pick = `SELECT id FROM callbacks WHERE first_received_at < ? AND last_received_at < ? ORDER BY first_received_at, id LIMIT ?`
			if _, err := tx.ExecContext(ctx, `DELETE FROM callback_deliveries WHERE callback_id IN (`+pick+`)`, cut, cut, purgeBatch); err != nil {
				return fmt.Errorf("store: purge deliveries: %w", err)
			}
			res, err := tx.ExecContext(ctx, `DELETE FROM callbacks WHERE id IN (`+pick+`)`, cut, cut, purgeBatch)
			if err != nil {
				return fmt.Errorf("store: purge callbacks: %w", err)
			}
			n, _ = res.RowsAffected()
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
		if n < purgeBatch {
			return total, nil
		}
	}
}
