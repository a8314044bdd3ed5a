package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Kinds of bulk jobs.
const (
	BulkTerminate = "terminate"
	BulkLookup    = "lookup"
)

// Statuses of a bulk job.
const (
	JobRunning  = "running"
	JobDone     = "done"
	JobCanceled = "canceled"
)

// Statuses of a bulk item: queued → calling (committed before the call) →
// done (committed after); queued → canceled when its job is canceled.
const (
	ItemQueued   = "queued"
	ItemCalling  = "calling"
	ItemDone     = "done"
	ItemCanceled = "canceled"
)

// BulkJob is a background job over many authorization codes.
type BulkJob struct {
	ID         int64
	Kind       string
	Status     string
	SubMchID   string
	Reason     string
	Live       bool
	UserID     int64
	Username   string
	IP         string
	Total      int
	CreatedAt  time.Time
	FinishedAt *time.Time
	CanceledBy string
	// Counts by item status and, for done items, by outcome (read with the
	// job).
	Counts   map[string]int
	Outcomes map[string]int
}

// Finished is how many items are done or canceled.
func (j *BulkJob) Finished() int { return j.Counts[ItemDone] + j.Counts[ItemCanceled] }

// BulkItem is one code of a bulk job.
type BulkItem struct {
	ID                int64
	JobID             int64
	Seq               int
	AuthorizationCode string
	SubMchID          string
	Status            string
	Outcome           string
	LocalState        string
	LocalCheckedAt    *time.Time
	State             string
	RequestID         string
	ErrorCode         string
	ErrorMessage      string
	PriorTerminations int
	StartedAt         *time.Time
	FinishedAt        *time.Time
	// TerminatedBySupport: a termination of the code from this console
	// succeeded (an UNAVAILABLE state is then support's, not the user's).
	TerminatedBySupport bool
}

// CreateBulkJob writes a running job, its items (in order) and, when given,
// its audit entry, in one transaction. A second running offboarding of the
// same sub-merchant is ErrConflict.
func (db *DB) CreateBulkJob(ctx context.Context, j BulkJob, items []BulkItem, audit *AuditEntry) (int64, error) {
	var id int64
	err := db.update(ctx, func(tx *Tx) error {
		var uid any
		if j.UserID != 0 {
			uid = j.UserID
		}
		err := tx.QueryRowContext(ctx, `INSERT INTO bulk_jobs (kind, status, sub_mchid, reason, live, user_id, username, ip, total, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, j.Kind, JobRunning, j.SubMchID, j.Reason, j.Live, uid, j.Username, j.IP, len(items), fmtTime(tx.now)).Scan(&id)
		if isConstraint(err) {
			return fmt.Errorf("store: a job for %s is already running: %w", j.SubMchID, ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("store: create job: %w", err)
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO bulk_items (job_id, seq, authorization_code, sub_mchid, status, local_state, local_checked_at) VALUES (?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return fmt.Errorf("store: create job items: %w", err)
		}
		defer stmt.Close()
		for i, it := range items {
			if _, err := stmt.ExecContext(ctx, id, i+1, it.AuthorizationCode, it.SubMchID, ItemQueued, it.LocalState, fmtTimePtr(it.LocalCheckedAt)); err != nil {
				return fmt.Errorf("store: create job item %s: %w", it.AuthorizationCode, err)
			}
		}
		if audit == nil {
			return nil
		}
		a := *audit
		if a.Target == "" {
			a.Target = fmt.Sprintf("job:%d", id)
		}
		return insertAudit(ctx, tx, a)
	})
	return id, err
}

const bulkJobColumns = `j.id, j.kind, j.status, j.sub_mchid, j.reason, j.live, coalesce(j.user_id, 0), j.username, j.ip, j.total, j.created_at, j.finished_at, j.canceled_by`

func scanBulkJob(row interface{ Scan(...any) error }) (*BulkJob, error) {
	var j BulkJob
	if err := row.Scan(&j.ID, &j.Kind, &j.Status, &j.SubMchID, &j.Reason, &j.Live, &j.UserID, &j.Username, &j.IP, &j.Total,
		timeCol{&j.CreatedAt}, nullTimeCol{&j.FinishedAt}, &j.CanceledBy); err != nil {
		return nil, err
	}
	return &j, nil
}

// BulkJob reads a job with its counts.
func (db *DB) BulkJob(ctx context.Context, id int64) (*BulkJob, error) {
	var out *BulkJob
	err := db.view(ctx, func(tx *readTx) error {
		j, err := scanBulkJob(tx.QueryRowContext(ctx, `SELECT `+bulkJobColumns+` FROM bulk_jobs j WHERE j.id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: job %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: job: %w", err)
		}
		j.Counts, j.Outcomes = map[string]int{}, map[string]int{}
		rows, err := tx.QueryContext(ctx, `SELECT status, outcome, count(*) FROM bulk_items WHERE job_id = ? GROUP BY status, outcome`, id)
		if err != nil {
			return fmt.Errorf("store: job counts: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var status, outcome string
			var n int
			if err := rows.Scan(&status, &outcome, &n); err != nil {
				return fmt.Errorf("store: job counts: %w", err)
			}
			j.Counts[status] += n
			if status == ItemDone {
				j.Outcomes[outcome] += n
			}
		}
		out = j
		return rows.Err()
	})
	return out, err
}

// BulkJobs lists jobs, newest first: of every kind when kind is "", only
// those with work left (running, or an item left calling) when running is
// set.
func (db *DB) BulkJobs(ctx context.Context, kind string, running bool, limit int) ([]BulkJob, error) {
	where, args := "1=1", []any{}
	if kind != "" {
		where, args = where+" AND j.kind = ?", append(args, kind)
	}
	if running {
		// A canceled job whose item was being called when the process
		// died still has that item to settle.
		where, args = where+` AND (j.status = ? OR EXISTS (SELECT 1 FROM bulk_items i WHERE i.job_id = j.id AND i.status = ?))`, append(args, JobRunning, ItemCalling)
	}
	if limit <= 0 {
		limit = 100
	}
	rows, err := db.read.QueryContext(ctx, `SELECT `+bulkJobColumns+` FROM bulk_jobs j WHERE `+where+` ORDER BY j.id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("store: jobs: %w", err)
	}
	defer rows.Close()
	var out []BulkJob
	for rows.Next() {
		j, err := scanBulkJob(rows)
		if err != nil {
			return nil, fmt.Errorf("store: jobs: %w", err)
		}
		out = append(out, *j)
	}
	if err := rows.Err(); err != nil || running {
		return out, err
	}
	rows.Close()
	// Listed for people: with their progress.
	for i := range out {
		out[i].Counts = map[string]int{}
		crows, err := db.read.QueryContext(ctx, `SELECT status, count(*) FROM bulk_items WHERE job_id = ? GROUP BY status`, out[i].ID)
		if err != nil {
			return nil, fmt.Errorf("store: job counts: %w", err)
		}
		for crows.Next() {
			var st string
			var n int
			if err := crows.Scan(&st, &n); err != nil {
				crows.Close()
				return nil, fmt.Errorf("store: job counts: %w", err)
			}
			out[i].Counts[st] = n
		}
		crows.Close()
		if err := crows.Err(); err != nil {
			return nil, fmt.Errorf("store: job counts: %w", err)
		}
	}
	return out, nil
}

const bulkItemColumns = `id, job_id, seq, authorization_code, sub_mchid, status, outcome, local_state, local_checked_at, state,
	request_id, error_code, error_message, prior_terminations, started_at, finished_at,
	EXISTS (SELECT 1 FROM terminations t WHERE t.authorization_code = bulk_items.authorization_code AND t.status = '` + TerminationSucceeded + `')`

func scanBulkItem(row interface{ Scan(...any) error }) (*BulkItem, error) {
	var it BulkItem
	if err := row.Scan(&it.ID, &it.JobID, &it.Seq, &it.AuthorizationCode, &it.SubMchID, &it.Status, &it.Outcome, &it.LocalState,
		nullTimeCol{&it.LocalCheckedAt}, &it.State, &it.RequestID, &it.ErrorCode, &it.ErrorMessage, &it.PriorTerminations,
		nullTimeCol{&it.StartedAt}, nullTimeCol{&it.FinishedAt}, &it.TerminatedBySupport); err != nil {
		return nil, err
	}
	return &it, nil
}

// BulkItems lists a job's items in order, from seq after, at most limit.
func (db *DB) BulkItems(ctx context.Context, jobID int64, after, limit int) ([]BulkItem, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+bulkItemColumns+` FROM bulk_items WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?`, jobID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: job items: %w", err)
	}
	defer rows.Close()
	var out []BulkItem
	for rows.Next() {
		it, err := scanBulkItem(rows)
		if err != nil {
			return nil, fmt.Errorf("store: job items: %w", err)
		}
		out = append(out, *it)
	}
	return out, rows.Err()
}

// NextBulkItem is the item of a running job to work on next: one left
// calling (by a crash) first, then the first queued. ErrNotFound when none
// is left.
func (db *DB) NextBulkItem(ctx context.Context, jobID int64) (*BulkItem, error) {
	it, err := scanBulkItem(db.read.QueryRowContext(ctx, `SELECT `+bulkItemColumns+` FROM bulk_items
		WHERE job_id = ? AND status IN ('calling', 'queued') ORDER BY status = 'queued', seq LIMIT 1`, jobID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: job %d: no item left: %w", jobID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: next job item: %w", err)
	}
	return it, nil
}

// MarkBulkItemCalling commits that the item's call is about to be made,
// with the number of terminations recorded for its code so far. Only a
// queued item of a running job can be: ErrConflict otherwise (canceled
// meanwhile).
func (db *DB) MarkBulkItemCalling(ctx context.Context, id int64, priorTerminations int) error {
	return db.update(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE bulk_items SET status = ?, prior_terminations = ?, started_at = ?
			WHERE id = ? AND status = ? AND job_id IN (SELECT id FROM bulk_jobs WHERE status = ?)`,
			ItemCalling, priorTerminations, fmtTime(tx.now), id, ItemQueued, JobRunning)
		if err != nil {
			return fmt.Errorf("store: mark job item calling: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("store: job item %d is not queued in a running job: %w", id, ErrConflict)
		}
		return nil
	})
}

// FinishBulkItem records an item's outcome; it must be calling (or queued,
// for items that make no call), else ErrConflict.
func (db *DB) FinishBulkItem(ctx context.Context, it BulkItem) error {
	return db.update(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE bulk_items SET status = ?, outcome = ?, local_state = ?, local_checked_at = ?, state = ?,
			request_id = ?, error_code = ?, error_message = ?, sub_mchid = ?, started_at = coalesce(started_at, ?), finished_at = ?
			WHERE id = ? AND status IN (?, ?)`,
			ItemDone, it.Outcome, it.LocalState, fmtTimePtr(it.LocalCheckedAt), it.State, it.RequestID, it.ErrorCode, it.ErrorMessage,
			it.SubMchID, fmtTime(tx.now), fmtTime(tx.now), it.ID, ItemCalling, ItemQueued)
		if err != nil {
			return fmt.Errorf("store: finish job item: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("store: job item %d is not in progress: %w", it.ID, ErrConflict)
		}
		return nil
	})
}

// FinishBulkJob marks a running job done once no item is queued or
// calling; it reports whether it did.
func (db *DB) FinishBulkJob(ctx context.Context, id int64) (bool, error) {
	var done bool
	err := db.update(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE bulk_jobs SET status = ?, finished_at = ? WHERE id = ? AND status = ?
			AND NOT EXISTS (SELECT 1 FROM bulk_items WHERE job_id = ? AND status IN (?, ?))`,
			JobDone, fmtTime(tx.now), id, JobRunning, id, ItemQueued, ItemCalling)
		if err != nil {
			return fmt.Errorf("store: finish job: %w", err)
		}
		n, _ := res.RowsAffected()
		done = n > 0
		return nil
	})
	return done, err
}

// CancelBulkJob cancels a running job: its queued items become canceled
// (an item being called finishes and is recorded), with the audit entry in
// the same transaction. ErrConflict when the job is not running.
func (db *DB) CancelBulkJob(ctx context.Context, id int64, by string, audit AuditEntry) error {
	return db.update(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE bulk_jobs SET status = ?, canceled_by = ?, finished_at = ? WHERE id = ? AND status = ?`,
			JobCanceled, by, fmtTime(tx.now), id, JobRunning)
		if err != nil {
			return fmt.Errorf("store: cancel job: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("store: job %d is not running: %w", id, ErrConflict)
		}
		res, err = tx.ExecContext(ctx, `UPDATE bulk_items SET status = ?, finished_at = ? WHERE job_id = ? AND status = ?`,
			ItemCanceled, fmtTime(tx.now), id, ItemQueued)
		if err != nil {
			return fmt.Errorf("store: cancel job items: %w", err)
		}
		n, _ := res.RowsAffected()
		if audit.Detail == "" {
			audit.Detail = fmt.Sprintf("%d queued items canceled", n)
		}
		return insertAudit(ctx, tx, audit)
	})
}

// AuthorizationsBySubMch lists the authorizations of a sub-merchant in a
// state (last known locally), by code, at most limit.
func (db *DB) AuthorizationsBySubMch(ctx context.Context, subMchID, state string, limit int) ([]Authorization, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+authorizationColumns+` FROM authorizations WHERE sub_mchid = ? AND state = ? ORDER BY authorization_code LIMIT ?`,
		subMchID, state, limit)
	if err != nil {
		return nil, fmt.Errorf("store: authorizations of %s: %w", subMchID, err)
	}
	defer rows.Close()
	var out []Authorization
	for rows.Next() {
		a, err := scanAuthorization(rows)
		if err != nil {
			return nil, fmt.Errorf("store: authorizations of %s: %w", subMchID, err)
		}
		out = append(out, *a)
	}
	return out, rows.Err()
}
