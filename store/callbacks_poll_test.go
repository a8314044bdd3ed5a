package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/store"
)

// TestCallbackGapsAndCountsByTime: with ids that have gaps (a writer's id
// taken but its row not committed, or rolled back), the poll's helpers see
// the gaps and the overview counts the last 24 hours by time, not by the
// distance between ids.
func TestCallbackGapsAndCountsByTime(t *testing.T) {
	ctx := context.Background()
	db, clock := openLogDB(t)
	for i := 1; i <= 3; i++ {
		if _, err := db.RecordNotification(ctx, notification(fmt.Sprintf("EV-G%d", i), store.EventOpen, fmt.Sprintf("G%d", i), clock.Now())); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(2 * time.Minute)
	raw, err := sql.Open("sqlite3", "file:"+db.Path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	// Row 10 committed; 4–9 were taken by transactions that never commit.
	if _, err := raw.Exec(`UPDATE callbacks SET id = 10, first_received_at = ?, last_received_at = ? WHERE id = 3`,
		clock.Now().UTC().Format("2006-01-02T15:04:05.000000000Z"), clock.Now().UTC().Format("2006-01-02T15:04:05.000000000Z")); err != nil {
		t.Fatal(err)
	}
	listed, gaps, err := db.CallbacksWithGaps(ctx, store.CallbackFilter{After: 1, Limit: 50})
	if err != nil || !slices.Equal(gaps, []int64{3, 4, 5, 6, 7, 8, 9}) {
		t.Fatalf("gaps = %v, %v", gaps, err)
	}
	if len(listed) != 2 || listed[0].ID != 10 || listed[1].ID != 2 {
		t.Errorf("listed above 1 = %+v, want rows 10 and 2", listed)
	}
	// The newest page (no cursor): the ids missing between its oldest and
	// newest rows.
	if _, gaps, err := db.CallbacksWithGaps(ctx, store.CallbackFilter{Limit: 50}); err != nil || !slices.Equal(gaps, []int64{3, 4, 5, 6, 7, 8, 9}) {
		t.Errorf("gaps of the newest page = %v, %v", gaps, err)
	}
	if in, err := db.CallbackIDsIn(ctx, []int64{2, 3, 10}); err != nil || !in[2] || in[3] || !in[10] {
		t.Errorf("ids in = %v, %v", in, err)
	}
	if id, err := db.SettledCallbackID(ctx, clock.Now().Add(-time.Minute)); err != nil || id != 2 {
		t.Errorf("settled = %d, %v; want 2 (row 10 is recent)", id, err)
	}
	rows, err := db.CallbacksByIDs(ctx, store.CallbackFilter{AuthorizationCode: "G3"}, []int64{2, 10})
	if err != nil || len(rows) != 1 || rows[0].ID != 10 {
		t.Errorf("by ids with a filter = %+v, %v", rows, err)
	}
	o, err := db.OverviewFigures(ctx, clock.Now(), clock.Now().Add(-time.Hour))
	if err != nil || o.Callbacks24h != 3 {
		t.Errorf("callbacks in 24 h = %d, %v; want 3 (not 10-1+1)", o.Callbacks24h, err)
	}
	clock.Advance(24*time.Hour - time.Minute)
	if o, _ := db.OverviewFigures(ctx, clock.Now(), clock.Now()); o.Callbacks24h != 1 {
		t.Errorf("a day later: %d, want 1 (only the row received 2 minutes after the others)", o.Callbacks24h)
	}
}
