// Command loadgen sends correctly signed, encrypted notifications to a
// running console in sandbox mode and checks that its log holds each once.
// It is a development tool, not part of the console's binary:
//
//	go run ./tools/loadgen -h
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/payscore-console/payscore-console/sandbox"
	"github.com/payscore-console/payscore-console/store"
)

// Exit statuses, as the console's.
const (
	exitOK     = 0
	exitFail   = 1
	exitConfig = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := loadgen(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// loadgen sends correctly signed, encrypted notifications to a running
// console at a chosen concurrency, with a share of duplicates, and reports
// throughput, latency percentiles and status counts; then it checks that
// the console's log holds every distinct notification exactly once.
//
// It signs with the sandbox's keys, read from the console's database, so
// it targets a console in sandbox mode. Bodies are signed before the timed
// run: RSA signing costs about 1 ms of CPU, more than the console spends
// receiving one.
func loadgen(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("url", "http://127.0.0.1:8080/notify/payscore", "the console's notification URL; several instances: comma-separated URLs, the senders spread over them")
	dbPath := fs.String("db-path", "app.db", "the console's SQLite file (for the sandbox keys and the final check)")
	databaseURL := fs.String("database-url", os.Getenv("DATABASE_URL"), "the console's PostgreSQL database instead of -db-path ($DATABASE_URL)")
	sandboxDBPath := fs.String("sandbox-db-path", cmp.Or(os.Getenv("SANDBOX_DB_PATH"), "sandbox.db"), "with -database-url: the console's sandbox file, for its keys ($SANDBOX_DB_PATH)")
	n := fs.Int("n", 10000, "distinct notifications to send")
	conc := fs.Int("c", 32, "concurrent senders")
	dup := fs.Float64("dup", 0.1, "share of extra deliveries that repeat an earlier notification (0..1)")
	duration := fs.Duration("duration", 0, "stop sending after this long (0: send everything)")
	subMchID := fs.String("sub-mchid", "1900000199", "sub-merchant the notifications name (registered if missing)")
	pid := fs.Int("pid", 0, "the console's process id, to report its peak RSS")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return exitOK
	} else if err != nil {
		return exitConfig
	}
	if *n <= 0 || *conc <= 0 || *dup < 0 || *dup >= 1 {
		fmt.Fprintln(stderr, "loadgen: -n and -c must be positive, -dup in [0,1)")
		return exitConfig
	}
	db, err := store.OpenDatabase(ctx, *databaseURL, *dbPath)
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return exitFail
	}
	defer db.Close()
	if _, err := db.SubMerchantByMchID(ctx, *subMchID); errors.Is(err, store.ErrNotFound) {
		if _, err := db.CreateSubMerchant(ctx, store.SubMerchant{SubMchID: *subMchID, Name: "压测商户 (loadgen)"}); err != nil && !errors.Is(err, store.ErrConflict) {
			fmt.Fprintln(stderr, "loadgen:", err)
			return exitFail
		}
		fmt.Fprintf(stdout, "registered sub-merchant %s\n", *subMchID)
	}
	sbPath := db.Path
	if sbPath == "" {
		sbPath = *sandboxDBPath
	}
	sb, err := sandbox.New(ctx, sandbox.Options{DBPath: sbPath})
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return exitFail
	}
	defer sb.Close()
	signer := sb.Signer()

	fmt.Fprintf(stdout, "signing %d notifications on %d cores…\n", *n, runtime.NumCPU())
	start := time.Now()
	notes, err := signAll(signer, *n, *subMchID)
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return exitFail
	}
	fmt.Fprintf(stdout, "signed in %s\n", time.Since(start).Round(time.Millisecond))

	// The plan: every notification once, and duplicates of earlier ones
	// spread through it, as WeChat Pay's retries would be.
	extra := int(float64(*n) * *dup / (1 - *dup))
	plan := make([]int, 0, *n+extra)
	for i := range *n {
		plan = append(plan, i)
		if extra > 0 && rand.Float64() < *dup/(1-*dup) {
			plan = append(plan, rand.IntN(i+1))
			extra--
		}
	}

	// Requests are serialized once, and each sender writes them on its own
	// keep-alive connection and reads the answers with the standard
	// library's parser: the generator spends a few microseconds a request,
	// leaving the machine's cores to the console being measured.
	var hosts []string
	var u *url.URL
	for _, t := range strings.Split(*target, ",") {
		pu, err := url.Parse(strings.TrimSpace(t))
		if err != nil || pu.Scheme != "http" || (u != nil && pu.RequestURI() != u.RequestURI()) {
			fmt.Fprintln(stderr, "loadgen: -url must be http:// URLs (several: the same path on each)")
			return exitConfig
		}
		if u == nil {
			u = pu
		}
		hosts = append(hosts, pu.Host)
	}
	wire := make([][]byte, len(notes))
	for i, nt := range notes {
		var b bytes.Buffer
		fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", u.RequestURI(), u.Host, len(nt.Body))
		_ = nt.Header.Write(&b)
		b.WriteString("\r\n")
		b.Write(nt.Body)
		wire[i] = b.Bytes()
	}
	lat := make([]time.Duration, len(plan))
	status := make([]int, len(plan))
	var next atomic.Int64
	runCtx := ctx
	if *duration > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	var wg sync.WaitGroup
	start = time.Now()
	for w := range *conc {
		wg.Add(1)
		host := hosts[w%len(hosts)] // sender w talks to one instance
		go func() {
			defer wg.Done()
			var conn net.Conn
			var br *bufio.Reader
			for runCtx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= len(plan) {
					break
				}
				t0 := time.Now()
				code, err := func() (int, error) {
					if conn == nil {
						c, err := net.DialTimeout("tcp", host, 5*time.Second)
						if err != nil {
							return 0, err
						}
						conn, br = c, bufio.NewReader(c)
					}
					_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
					if _, err := conn.Write(wire[plan[i]]); err != nil {
						return 0, err
					}
					res, err := http.ReadResponse(br, nil)
					if err != nil {
						return 0, err
					}
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.Close {
						conn.Close()
						conn = nil
					}
					return res.StatusCode, nil
				}()
				lat[i] = time.Since(t0)
				if err != nil {
					status[i] = -1
					if conn != nil {
						conn.Close()
						conn = nil
					}
					continue
				}
				status[i] = code
			}
			if conn != nil {
				conn.Close()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	sent := min(int(next.Load()), len(plan))

	counts := map[int]int{}
	var ok []time.Duration
	acked := map[string]int{} // notification id → 2xx answers
	for i := range sent {
		counts[status[i]]++
		if status[i] == http.StatusNoContent || status[i] == http.StatusOK {
			ok = append(ok, lat[i])
			acked[notes[plan[i]].ID]++
		}
	}
	slices.Sort(ok)
	pct := func(p float64) time.Duration {
		if len(ok) == 0 {
			return 0
		}
		return ok[min(len(ok)-1, int(float64(len(ok))*p))]
	}
	fmt.Fprintf(stdout, "sent %d requests (%d distinct notifications) in %s at concurrency %d\n", sent, len(acked), elapsed.Round(time.Millisecond), *conc)
	fmt.Fprintf(stdout, "throughput: %.0f requests/s, %.0f accepted notifications/s\n", float64(sent)/elapsed.Seconds(), float64(len(acked))/elapsed.Seconds())
	fmt.Fprintf(stdout, "latency of 2xx: p50 %s, p95 %s, p99 %s, max %s\n", pct(.50), pct(.95), pct(.99), pct(1))
	var codes []string
	for code, c := range counts {
		label := fmt.Sprint(code)
		if code == -1 {
			label = "error"
		}
		codes = append(codes, fmt.Sprintf("%s: %d", label, c))
	}
	slices.Sort(codes)
	fmt.Fprintf(stdout, "statuses: %s\n", strings.Join(codes, ", "))
	if *pid > 0 {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", *pid)); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(line, "VmHWM:") || strings.HasPrefix(line, "VmRSS:") {
					fmt.Fprintf(stdout, "console %s\n", strings.Join(strings.Fields(line), " "))
				}
			}
		}
	}

	// Every notification that got a 2xx must be in the log exactly once
	// (notification_id is unique), with at least as many deliveries.
	ids := make([]string, 0, len(acked))
	for id := range acked {
		ids = append(ids, id)
	}
	found, err := db.DeliveryCounts(ctx, ids)
	if err != nil {
		fmt.Fprintln(stderr, "loadgen: check:", err)
		return exitFail
	}
	missing := 0
	for id, answers := range acked {
		if found[id] < answers {
			missing++
		}
	}
	fmt.Fprintf(stdout, "check: %d of %d acknowledged notifications in the log, each once; %d missing or short of deliveries\n", len(ids)-missing, len(ids), missing)
	if missing > 0 || counts[-1] > 0 || len(ok) != sent {
		return exitFail
	}
	return exitOK
}

// signAll builds n distinct signed notifications on every core.
func signAll(signer *sandbox.Signer, n int, subMchID string) ([]sandbox.SignedNotification, error) {
	notes := make([]sandbox.SignedNotification, n)
	run := fmt.Sprintf("%x", time.Now().UnixNano())[6:]
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	now := time.Now()
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				code := fmt.Sprintf("LG%s-%d", run, i)
				nt, err := signer.Open(code, subMchID, fmt.Sprintf("oLoadgen%020d", i), now, now)
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				notes[i] = nt
			}
		}()
	}
	wg.Wait()
	return notes, firstErr
}
