package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/sandbox"
	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/store/storetest"
)

// The two-process tests run two console processes (the real program, as
// the crash tests do) on one database, as two instances behind a load
// balancer. In sandbox mode each runs its own simulator over the same
// simulator tables, so WeChat Pay's side is one: its calls are counted
// together.

// twoConsoles starts console a, then console b, on the database at dbPath
// (b once a has migrated it), each on its own port.
//
// They run on both engines (storetest.EachEngine): on SQLite the two
// processes share DB_PATH; on PostgreSQL a fresh database
// (DATABASE_URL), the simulators sharing SANDBOX_DB_PATH.
type pair struct {
	dbPath   string // SQLite: the database; PostgreSQL: the simulator's file
	pgURL    string // PostgreSQL: the database
	ports    [2]int
	env      []string
	consoles [2]*console
}

func newPair(t *testing.T, env ...string) *pair {
	t.Helper()
	p := &pair{dbPath: filepath.Join(t.TempDir(), "shared.db"), ports: [2]int{freePort(t), freePort(t)}}
	if storetest.IsPostgres(t) {
		p.pgURL = storetest.NewDatabase(t)
		env = append(env, "DATABASE_URL="+p.pgURL, "SANDBOX_DB_PATH="+p.dbPath)
	}
	p.env = env
	t.Cleanup(func() {
		for _, c := range p.consoles {
			if c != nil {
				c.kill()
			}
		}
	})
	return p
}

func startPair(t *testing.T, env ...string) *pair {
	t.Helper()
	p := newPair(t, env...)
	for i := range 2 {
		p.start(t, i)
	}
	return p
}

func (p *pair) start(t *testing.T, i int) *console {
	t.Helper()
	p.consoles[i] = startConsole(t, p.dbPath, p.ports[i], p.env...)
	return p.consoles[i]
}

func (p *pair) base(i int) string { return fmt.Sprintf("http://127.0.0.1:%d", p.ports[i]) }

// sandboxOf opens the simulator over the pair's database (the keys the
// consoles use), for signing notifications and counting calls.
func (p *pair) sandboxOf(t *testing.T) *sandbox.Sandbox {
	t.Helper()
	sb, err := sandbox.New(context.Background(), sandbox.Options{DBPath: p.dbPath})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	return sb
}

func (p *pair) db(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.OpenDatabase(context.Background(), p.pgURL, p.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// dupIDs counts the notification ids stored more than once (none may be).
func (p *pair) dupIDs(t *testing.T) int {
	t.Helper()
	var raw *sql.DB
	if p.pgURL != "" {
		var err error
		if raw, err = sql.Open("pgx", p.pgURL); err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
	} else {
		raw = openSQL(t, p.dbPath)
	}
	var n int
	if err := raw.QueryRow(`SELECT count(*) FROM (SELECT notification_id FROM callbacks GROUP BY notification_id HAVING count(*) > 1) d`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// sendNote delivers a signed notification; ok is a 2xx answer.
func sendNote(client *http.Client, base string, n sandbox.SignedNotification) (status int, err error) {
	req, _ := http.NewRequest(http.MethodPost, base+"/notify/payscore", bytes.NewReader(n.Body))
	req.Header = n.Header.Clone()
	res, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	res.Body.Close()
	return res.StatusCode, nil
}

// TestTwoProcessesNotifications: notifications sent to two console
// processes on one database, one of them killed with SIGKILL and restarted
// again and again meanwhile → every notification either answered 2xx is
// present exactly once; the same notifications sent to both at once →
// stored once each, both deliveries counted.
func TestTwoProcessesNotifications(t *testing.T) {
	storetest.EachEngine(t, testTwoProcessesNotifications)
}

func testTwoProcessesNotifications(t *testing.T) {
	ctx := context.Background()
	p := startPair(t)
	const subMchID = "1900000888"
	db := p.db(t)
	if _, err := db.CreateSubMerchant(ctx, store.SubMerchant{SubMchID: subMchID, Name: "两个进程"}); err != nil {
		t.Fatal(err)
	}
	signer := p.sandboxOf(t).Signer()
	const total = 1200
	notes := make([]sandbox.SignedNotification, total)
	now := time.Now()
	for i := range notes {
		n, err := signer.Open(fmt.Sprintf("TWO-%d", i), subMchID, fmt.Sprintf("oTwo%024d", i), now, now)
		if err != nil {
			t.Fatal(err)
		}
		notes[i] = n
	}

	t.Run("OneKilledAndRestarted", func(t *testing.T) {
		var mu sync.Mutex
		acked := map[string]int{}
		client := &http.Client{Timeout: 5 * time.Second}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var sent atomic.Int64
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; ; i += 8 {
					select {
					case <-stop:
						return
					default:
					}
					n := notes[i%(total/2)]
					status, err := sendNote(client, p.base(i%2), n)
					sent.Add(1)
					if err != nil {
						time.Sleep(10 * time.Millisecond) // a killed instance: the balancer would retry elsewhere
						continue
					}
					if status == http.StatusNoContent {
						mu.Lock()
						acked[n.ID]++
						mu.Unlock()
					} else if status < 500 {
						t.Errorf("status %d for %s", status, n.ID)
					}
				}
			}()
		}
		for cycle := range 4 {
			time.Sleep(time.Duration(150+rand.IntN(300)) * time.Millisecond)
			victim := cycle % 2
			p.consoles[victim].kill() // SIGKILL mid-flight
			time.Sleep(100 * time.Millisecond)
			p.start(t, victim)
		}
		time.Sleep(200 * time.Millisecond)
		close(stop)
		wg.Wait()
		ids := make([]string, 0, len(acked))
		for id := range acked {
			ids = append(ids, id)
		}
		found, err := db.DeliveryCounts(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		for id, answers := range acked {
			if found[id] < answers {
				t.Errorf("%s: %d 2xx answers but %d deliveries recorded", id, answers, found[id])
			}
		}
		if n := p.dupIDs(t); n != 0 {
			t.Errorf("notification ids stored more than once: %d", n)
		}
		if len(acked) == 0 {
			t.Fatal("nothing acknowledged: the test proved nothing")
		}
		t.Logf("%d deliveries sent, %d distinct notifications acknowledged over 4 kills, each present once", sent.Load(), len(acked))
	})

	t.Run("SameToBothAtOnce", func(t *testing.T) {
		client := &http.Client{Timeout: 10 * time.Second}
		fresh := notes[total/2:]
		var wg sync.WaitGroup
		errs := make(chan error, 2*len(fresh))
		sem := make(chan struct{}, 16)
		for _, n := range fresh {
			for i := range 2 {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					status, err := sendNote(client, p.base(i), n)
					if err == nil && status != http.StatusNoContent {
						err = fmt.Errorf("%s to %d: status %d", n.ID, i, status)
					}
					if err != nil {
						errs <- err
					}
				}()
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		ids := make([]string, len(fresh))
		for i, n := range fresh {
			ids[i] = n.ID
		}
		found, err := db.DeliveryCounts(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		// One row per id (none stored twice), holding both deliveries.
		if n := p.dupIDs(t); n != 0 {
			t.Errorf("notification ids stored more than once: %d", n)
		}
		for _, id := range ids {
			if found[id] != 2 {
				t.Errorf("%s: %d deliveries recorded, want 2 (one per instance, one row)", id, found[id])
				break
			}
		}
	})
}

// agreedCodes makes n links through console base and has their users
// agree at the simulator: AVAILABLE authorizations on both sides.
func agreedCodes(t *testing.T, p *pair, sb *sandbox.Sandbox, admin *browser, subMchID string, n int) []string {
	t.Helper()
	ctx := context.Background()
	db := p.db(t)
	// The sandbox's demo data first (one instance writes it at its start).
	waitFor(t, 60*time.Second, "the demo data", func() bool {
		_, err := db.Setting(ctx, "demo_seeded")
		return err == nil
	})
	var codes []string
	for range n {
		res, err := admin.post(p.base(0)+"/links", url.Values{"sub_mchid": {subMchID}})
		if err != nil || res.StatusCode != http.StatusSeeOther {
			t.Fatalf("create link: %v %v\n%s", res.Status, err, p.consoles[0].logs.String())
		}
		var id int64
		fmt.Sscanf(res.Header.Get("Location"), "/links/%d", &id)
		l, err := db.LinkByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sb.Agree(ctx, l.Token); err != nil {
			t.Fatal(err)
		}
		codes = append(codes, l.AuthorizationCode)
	}
	return codes
}

// callsTo counts the simulator's verified calls for codes whose path ends
// with suffix (or are GETs, for "query").
func callsTo(t *testing.T, sb *sandbox.Sandbox, codes []string, kind string) int {
	t.Helper()
	n := 0
	for _, code := range codes {
		calls, err := sb.Calls(context.Background(), code)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range calls {
			switch {
			case kind == "terminate" && strings.HasSuffix(c.Path, "/terminate"):
				n++
			case kind == "query" && c.Method == http.MethodGet:
				n++
			}
		}
	}
	return n
}

// TestTwoProcessesTerminate: the same code submitted for termination on
// both instances at the same moment → one terminate call reaches WeChat
// Pay, and the code ends terminated.
func TestTwoProcessesTerminate(t *testing.T) { storetest.EachEngine(t, testTwoProcessesTerminate) }

func testTwoProcessesTerminate(t *testing.T) {
	ctx := context.Background()
	p := startPair(t, "ADMIN_PASSWORD=crash-test-password")
	const subMchID = "1900000999"
	db := p.db(t)
	if _, err := db.CreateSubMerchant(ctx, store.SubMerchant{SubMchID: subMchID, Name: "同时解除"}); err != nil {
		t.Fatal(err)
	}
	sb := p.sandboxOf(t)
	admins := [2]*browser{signIn(t, p.base(0), "admin", "crash-test-password"), signIn(t, p.base(1), "admin", "crash-test-password")}
	codes := agreedCodes(t, p, sb, admins[0], subMchID, 10)
	for _, code := range codes {
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, _ = admins[i].post(p.base(i)+"/authorizations/"+code+"/terminate", url.Values{"reason": {"两台实例同时提交"}, "confirm": {"1"}})
			}()
		}
		close(start)
		wg.Wait()
	}
	if got := callsTo(t, sb, codes, "terminate"); got != len(codes) {
		t.Errorf("%d terminate calls reached WeChat Pay for %d codes submitted twice each, want one each", got, len(codes))
	}
	for _, code := range codes {
		terms, err := db.TerminationsByCode(ctx, code)
		if err != nil {
			t.Fatal(err)
		}
		succeeded := 0
		for _, tr := range terms {
			if tr.Status == store.TerminationSucceeded {
				succeeded++
			}
			if tr.InstanceID == "" {
				t.Errorf("%s: termination without its instance", code)
			}
		}
		if succeeded != 1 {
			t.Errorf("%s: %d terminations succeeded, want 1: %+v", code, succeeded, terms)
		}
	}
}

// TestTwoProcessesReconcilerLease: the reconciler's queries with two
// instances up are about those with one (one instance holds the worker
// lease); when the holder is killed, the other takes the work over once
// the lease lapses.
func TestTwoProcessesReconcilerLease(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	storetest.EachEngine(t, testTwoProcessesReconcilerLease)
}

func testTwoProcessesReconcilerLease(t *testing.T) {
	ctx := context.Background()
	p := newPair(t, "ADMIN_PASSWORD=crash-test-password", "RECONCILE_EVERY=1s", "RECONCILE_MAX_AGE=1s")
	p.start(t, 0)
	const subMchID = "1900000777"
	db := p.db(t)
	if _, err := db.CreateSubMerchant(ctx, store.SubMerchant{SubMchID: subMchID, Name: "对账"}); err != nil {
		t.Fatal(err)
	}
	sb := p.sandboxOf(t)
	admin := signIn(t, p.base(0), "admin", "crash-test-password")
	codes := agreedCodes(t, p, sb, admin, subMchID, 20)
	const window = 6 * time.Second
	measure := func() int {
		before := callsTo(t, sb, codes, "query")
		time.Sleep(window)
		return callsTo(t, sb, codes, "query") - before
	}
	one := measure()
	p.start(t, 1)
	two := measure()
	t.Logf("reconciler queries in %v: one instance %d, two instances %d", window, one, two)
	if one == 0 {
		t.Fatal("the reconciler made no query: the test proved nothing")
	}
	// The proof that the reconciler runs on one instance: the instance
	// started second, while the first held the worker lease, made no
	// reconcile query at all (its own payscore_reconcile_total). The
	// totals above are the rate the issue compares; on a loaded machine a
	// window's count varies, so they are only bounded loosely.
	if n := reconcileQueries(t, p.base(0)); n == 0 {
		t.Fatal("the lease holder's payscore_reconcile_total is 0: the per-instance check would prove nothing")
	}
	if n := reconcileQueries(t, p.base(1)); n != 0 {
		t.Errorf("the second instance made %d reconcile queries while the first held the lease", n)
	}
	if float64(two) > 2*float64(one)+10 {
		t.Errorf("two instances made %d queries, one made %d: the reconciler runs on both", two, one)
	}
	// Kill whichever holds the worker lease: the other takes over once it lapses.
	l, err := db.LeaseByName(ctx, store.LeaseWorker)
	if err != nil {
		t.Fatal(err)
	}
	victim := -1
	for i := range p.consoles {
		res, err := http.Get(p.base(i) + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if strings.Contains(string(body), `"worker":true`) {
			if !strings.Contains(string(body), `"instance":"`+l.Holder+`"`) {
				t.Errorf("console %d says it holds the lease, the lease says %s: %s", i, l.Holder, body)
			}
			if victim >= 0 {
				t.Fatal("two consoles say they hold the worker lease")
			}
			victim = i
		}
	}
	if victim < 0 {
		t.Fatalf("no console says it holds the lease (%s)", l.Holder)
	}
	p.consoles[victim].kill()
	p.consoles[victim] = nil
	killed := time.Now()
	waitFor(t, 30*time.Second, "the other instance to take the lease", func() bool {
		l2, err := db.LeaseByName(ctx, store.LeaseWorker)
		return err == nil && l2.Holder != l.Holder
	})
	t.Logf("take-over %v after the holder was killed", time.Since(killed).Round(100*time.Millisecond))
	if after := measure(); after == 0 {
		t.Error("no reconciler queries after the take-over")
	}
}

// reconcileQueries is the sum of payscore_reconcile_total over its
// outcomes on the console at base (/metrics is open in sandbox mode).
func reconcileQueries(t *testing.T, base string) int {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: status %d", res.StatusCode)
	}
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, "payscore_reconcile_total{") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("/metrics line %q: %v", line, err)
		}
		total += int(v)
	}
	return total
}
