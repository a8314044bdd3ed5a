package store_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/store"
)

// BenchmarkRecordNotification measures the durable (synchronous=FULL)
// notification write: serially (one commit each) and from many goroutines
// at once (commits shared by the group-commit writer).
//
//	go test ./store -run '^$' -bench RecordNotification -benchtime 5s
func BenchmarkRecordNotification(b *testing.B) {
	ctx := context.Background()
	at := time.Now()
	var seq atomic.Int64
	b.Run("Serial", func(b *testing.B) {
		db := openTestDB(b)
		b.ResetTimer()
		for b.Loop() {
			i := seq.Add(1)
			if _, err := db.RecordNotification(ctx, notification(fmt.Sprint("EV-S", i), store.EventOpen, fmt.Sprint("C", i), at)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Parallel32", func(b *testing.B) {
		db := openTestDB(b)
		b.SetParallelism(16) // 16 × GOMAXPROCS(2) = 32 concurrent writers
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := seq.Add(1)
				if _, err := db.RecordNotification(ctx, notification(fmt.Sprint("EV-P", i), store.EventOpen, fmt.Sprint("C", i), at)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
