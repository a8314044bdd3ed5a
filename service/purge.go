package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/payscore-console/payscore-console/store"
)

// NotificationIDHorizon is how long a notification's id is kept after its
// last delivery: WeChat Pay retries a notification it got no 2xx for over
// about a day, so ids kept three days make every retry a duplicate, never a
// second row. The purge never deletes younger rows.
const NotificationIDHorizon = 3 * 24 * time.Hour

// AuditCallbacksPurge is the audit action of the purge command.
const AuditCallbacksPurge = "callbacks.purge"

// PurgeStore is what the purge needs from the database.
type PurgeStore interface {
	PurgeCallbacks(ctx context.Context, cutoff time.Time, audit store.AuditEntry) (int64, error)
}

// PurgeCallbacks deletes the callback log's rows (notifications and their
// deliveries) last received more than olderThan ago, audited as
// callbacks.purge in the same transaction as the first deletion. olderThan
// below NotificationIDHorizon is refused (Invalid): the rows are the
// notification ids that make WeChat Pay's retries duplicates.
func PurgeCallbacks(ctx context.Context, st PurgeStore, actor Actor, olderThan time.Duration, now time.Time) (int64, error) {
	if olderThan < NotificationIDHorizon {
		return 0, newError(Invalid, "", fmt.Errorf("purge: %v is less than the %v the notification ids are kept for WeChat Pay's retries", olderThan, NotificationIDHorizon))
	}
	if now.IsZero() {
		return 0, errors.New("purge: no time")
	}
	return st.PurgeCallbacks(ctx, now.Add(-olderThan), actor.entry(store.AuditEntry{Action: AuditCallbacksPurge, Target: "callbacks",
		Result: "ok", Detail: fmt.Sprintf("older_than=%dd", int(olderThan/(24*time.Hour)))}))
}
