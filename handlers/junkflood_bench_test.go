package handlers

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/payscore"
)

// BenchmarkNotifyDuringJunkFlood measures real notifications while junk
// floods the receiver: each iteration fires 2,000 junk requests (badly
// signed: the most a stranger can make the console do, an RSA check and a
// refusal record) from 64 senders, and meanwhile sends 200 correctly signed
// notifications from 8 senders, timing each. It reports the real ones' p50,
// p99 and maximum latency, and fails if any real one was not answered 204.
// Refusals go through the group-commit writer, aggregated, so the flood
// costs no synced transaction per request. OneAddress: the junk comes from
// one address, which is soon over its refusal budget (answered 429
// unchecked); ManyAddresses: from 2,000 addresses never seen before, each
// verified in the strangers' lane and refused. NoJunk is the same without
// junk, for comparison. The real notifications come from an address that
// delivered one before (as WeChat Pay's do on a console in service). The
// senders run in the same process, on the same cores, as the console.
//
//	go test ./handlers -run '^$' -bench NotifyDuringJunkFlood -benchtime 3x
func BenchmarkNotifyDuringJunkFlood(b *testing.B) {
	b.Run("NoJunk", func(b *testing.B) { benchJunkFlood(b, 0, false) })
	b.Run("OneAddress", func(b *testing.B) { benchJunkFlood(b, 2000, false) })
	b.Run("ManyAddresses", func(b *testing.B) { benchJunkFlood(b, 2000, true) })
}

func benchJunkFlood(b *testing.B, junkRequests int, manyAddrs bool) {
	const junkSenders, realRequests, realSenders = 64, 200, 8
	ts, n := newReceiverServer(b)
	_, other := testKeys(b)
	junkBody, _ := n.valid(b, "EV-JUNK", payscore.EventUserOpenService, "JUNK", time.Now())
	junkHeader := n.headers(b, junkBody, other, n.keyID, time.Now()) // signed with the wrong key
	junkHeader.Set("X-Forwarded-For", "198.51.100.7")
	var junkSeq atomic.Int64
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: junkSenders + realSenders, MaxConnsPerHost: 0}}
	post := func(body []byte, h http.Header) (int, error) {
		req, err := http.NewRequest(http.MethodPost, n.url, bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		req.Header = h.Clone()
		res, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode, nil
	}
	type signed struct {
		body []byte
		h    http.Header
	}
	// WeChat Pay has delivered before: one real notification first, as
	// there always is on a console in service.
	warm, wh := n.valid(b, "EV-WARM", payscore.EventUserOpenService, "WARM", time.Now())
	if status, err := post(warm, wh); err != nil || status != http.StatusNoContent {
		b.Fatalf("warm-up: status %d, %v", status, err)
	}
	var all []time.Duration
	var junkTime time.Duration
	b.ResetTimer()
	for iter := range b.N {
		b.StopTimer()
		real := make([]signed, realRequests)
		for i := range real {
			body, h := n.valid(b, fmt.Sprintf("EV-REAL-%d-%d", iter, i), payscore.EventUserOpenService, fmt.Sprintf("REAL-%d-%d", iter, i), time.Now())
			real[i] = signed{body, h}
		}
		b.StartTimer()
		var wg sync.WaitGroup
		junk := make(chan struct{}, junkRequests)
		for range junkRequests {
			junk <- struct{}{}
		}
		close(junk)
		start := time.Now()
		for range junkSenders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range junk {
					h := junkHeader
					if manyAddrs {
						i := junkSeq.Add(1)
						h = junkHeader.Clone()
						h.Set("X-Forwarded-For", fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
					}
					if status, err := post(junkBody, h); err != nil || (status != http.StatusUnauthorized && status != http.StatusTooManyRequests) {
						b.Errorf("junk: status %d, %v", status, err)
						return
					}
				}
			}()
		}
		work := make(chan signed, realRequests)
		for _, r := range real {
			work <- r
		}
		close(work)
		var mu sync.Mutex
		var rwg sync.WaitGroup
		for range realSenders {
			rwg.Add(1)
			go func() {
				defer rwg.Done()
				for r := range work {
					t0 := time.Now()
					status, err := post(r.body, r.h)
					d := time.Since(t0)
					if err != nil || status != http.StatusNoContent {
						b.Errorf("real notification: status %d, %v", status, err)
						return
					}
					mu.Lock()
					all = append(all, d)
					mu.Unlock()
				}
			}()
		}
		rwg.Wait()
		wg.Wait()
		junkTime += time.Since(start)
	}
	b.StopTimer()
	slices.Sort(all)
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[min(len(all)-1, int(p*float64(len(all))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1), "max-ms")
	if junkRequests > 0 {
		b.ReportMetric(float64(junkRequests*b.N)/junkTime.Seconds(), "junk-req/s")
	}
	b.ReportMetric(0, "ns/op")
	o, err := ts.db.OverviewFigures(context.Background(), ts.clock.Now(), ts.clock.Now())
	if err != nil {
		b.Fatal(err)
	}
	if o.Refusals24h != junkRequests*b.N {
		b.Errorf("refused attempts recorded = %d, want %d", o.Refusals24h, junkRequests*b.N)
	}
}
