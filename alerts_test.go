package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/payscore-console/payscore-console/store"
)

// externalMetrics are the series the alerts use that the console does not
// export: Prometheus's own scrape result and the blackbox exporter's probe
// of /healthz (docs/alerts.yml says how to scrape both).
var externalMetrics = map[string]bool{"up": true, "probe_success": true}

// consoleRegistry wires a sandbox console on a fresh database, as serve
// does, and returns the registry /metrics serves.
func consoleRegistry(t *testing.T) *prometheus.Registry {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "console.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cfg, err := LoadConfig(nil, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	reg := newRegistry()
	a, err := wire(ctx, cfg, db, slog.New(slog.NewTextHandler(io.Discard, nil)), reg, "http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	// payscore_reconcile_total is registered by the first reconciliation
	// (an empty database: nothing to ask WeChat Pay).
	if _, err := a.services.Reconciler.Reconcile(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	return reg
}

// registered reports whether reg has a metric named name. A vector with no
// series yet is not gathered, so it asks the registry itself: registering a
// probe of that name fails if the name is taken.
func registered(reg *prometheus.Registry, name string) bool {
	probe := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "probe"})
	if err := reg.Register(probe); err != nil {
		return true
	}
	reg.Unregister(probe)
	return false
}

// exists reports whether a series name a query uses is exported: a metric's
// own name, or a histogram's _bucket, _sum or _count series.
func exists(reg *prometheus.Registry, name string) bool {
	if externalMetrics[name] || registered(reg, name) {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && registered(reg, base) {
			return true
		}
	}
	return false
}

var (
	promString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	promMatchers = regexp.MustCompile(`\{[^}]*\}`)
	promRanges   = regexp.MustCompile(`\[[^\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	grafanaVar   = regexp.MustCompile(`\$\{[^}]*\}|\$[A-Za-z_]\w*`)
	promIdent    = regexp.MustCompile(`[A-Za-z0-9_:.]+(\s*\()?`)
	promName     = regexp.MustCompile(`^[A-Za-z_:][A-Za-z0-9_:]*$`)
	promKeywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true,
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
		"inf": true, "nan": true, "atan2": true}
)

// metricNames lists the series names a PromQL expression selects: strings,
// label matchers, ranges and grouping clauses removed, what is left that is
// neither a function, an aggregation nor a keyword. Grafana's variables are
// removed first.
func metricNames(expr string) []string {
	e := grafanaVar.ReplaceAllString(expr, "")
	e = promString.ReplaceAllString(e, `""`)
	e = promMatchers.ReplaceAllString(e, "")
	e = promRanges.ReplaceAllString(e, "")
	e = promGrouping.ReplaceAllString(e, "")
	var names []string
	for _, m := range promIdent.FindAllStringSubmatch(e, -1) {
		word := strings.TrimRight(m[0], " \t\n(")
		if !promName.MatchString(word) || m[1] != "" || promKeywords[strings.ToLower(word)] {
			continue // a number or duration, a function or aggregation, or a keyword
		}
		if !slices.Contains(names, word) {
			names = append(names, word)
		}
	}
	return names
}

func TestMetricNames(t *testing.T) {
	for expr, want := range map[string][]string{
		`up{job="payscore-console"} == 0`: {"up"},
		`(time() - payscore_last_notification_timestamp_seconds > 6 * 3600) and (max_over_time(payscore_links_awaiting_user[6h]) > 0)`: {
			"payscore_last_notification_timestamp_seconds", "payscore_links_awaiting_user"},
		`sum by (job, instance) (rate(x_total{outcome=~"refused:.*"}[15m])) / on (instance) group_left (call) y offset 5m > 1e3`: {"x_total", "y"},
		`histogram_quantile(0.99, sum by (le) (rate(h_bucket{route="/notify"}[$__rate_interval])))`:                              {"h_bucket"},
		`sum without (op) (z{instance=~"$instance"}) unless absent(w)`:                                                           {"z", "w"},
	} {
		if got := metricNames(expr); !slices.Equal(got, want) {
			t.Errorf("metricNames(%s) = %q, want %q", expr, got, want)
		}
	}
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// TestAlertRules parses docs/alerts.yml (whether or not promtool is
// installed) and checks that every rule is complete and that every metric
// its expression names is one the console registers.
func TestAlertRules(t *testing.T) {
	b, err := os.ReadFile("docs/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&rf); err != nil {
		t.Fatalf("docs/alerts.yml: %v", err)
	}
	reg := consoleRegistry(t)
	alerts := map[string]bool{}
	for _, g := range rf.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			t.Errorf("group %q: a name and rules are required", g.Name)
		}
		for _, r := range g.Rules {
			if r.Alert == "" || r.Record != "" {
				t.Errorf("group %s: %q: only alerting rules are expected", g.Name, r.Alert+r.Record)
				continue
			}
			if alerts[r.Alert] {
				t.Errorf("alert %s defined twice", r.Alert)
			}
			alerts[r.Alert] = true
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("%s: severity %q, want warning or critical", r.Alert, s)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: summary and description are required", r.Alert)
			}
			if r.For != "" {
				if _, err := time.ParseDuration(r.For); err != nil {
					t.Errorf("%s: for: %v", r.Alert, err)
				}
			}
			names := metricNames(r.Expr)
			if len(names) == 0 {
				t.Errorf("%s: no metric found in %q", r.Alert, r.Expr)
			}
			for _, n := range names {
				if !exists(reg, n) {
					t.Errorf("%s: metric %s is not registered by the console", r.Alert, n)
				}
			}
		}
	}
	// What issue 15 asks an alert for.
	for _, want := range []string{"PayScoreNoNotifications", "PayScoreNotificationRefusalRate", "PayScoreFrequencyLimited",
		"PayScoreReconcileErrors", "PayScoreTerminationPendingTooLong", "PayScoreDatabaseErrors", "PayScoreHealthzFailing"} {
		if !alerts[want] {
			t.Errorf("no alert %s", want)
		}
	}
	// The check above must be able to fail.
	if exists(reg, "payscore_no_such_metric_total") {
		t.Error("exists(payscore_no_such_metric_total) = true")
	}
}

// TestAlertRulesPromtool runs Prometheus's own checks: the rules file is
// valid and the alerts of docs/alerts_test.yml fire as written there. CI
// installs promtool (Debian's prometheus package); elsewhere the test is
// skipped without it.
func TestAlertRulesPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is not installed (apt-get install prometheus): CI must check docs/alerts.yml with it")
		}
		t.Skip("promtool not installed")
	}
	for _, args := range [][]string{{"check", "rules", "docs/alerts.yml"}, {"test", "rules", "docs/alerts_test.yml"}} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

type grafanaPanel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"`
}

// TestGrafanaDashboard checks that docs/grafana-dashboard.json is a Grafana
// dashboard model whose panels query only metrics the console registers,
// and that it shows each of them.
func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile("docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title         string         `json:"title"`
		UID           string         `json:"uid"`
		SchemaVersion int            `json:"schemaVersion"`
		Panels        []grafanaPanel `json:"panels"`
		Templating    struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("docs/grafana-dashboard.json: %v", err)
	}
	if d.Title == "" || d.UID == "" || d.SchemaVersion < 30 || len(d.Panels) == 0 {
		t.Fatalf("not a dashboard model: title %q, uid %q, schemaVersion %d, %d panels", d.Title, d.UID, d.SchemaVersion, len(d.Panels))
	}
	reg := consoleRegistry(t)
	used := map[string]bool{}
	check := func(where, expr string) {
		names := metricNames(expr)
		if len(names) == 0 {
			t.Errorf("%s: no metric found in %q", where, expr)
		}
		for _, n := range names {
			used[strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_count")] = true
			if !exists(reg, n) {
				t.Errorf("%s: metric %s is not registered by the console", where, n)
			}
		}
	}
	ids := map[int]bool{}
	var walk func(ps []grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			if ids[p.ID] || p.ID == 0 {
				t.Errorf("panel %q: id %d missing or not unique", p.Title, p.ID)
			}
			ids[p.ID] = true
			if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
				t.Errorf("panel %q: gridPos %+v", p.Title, p.GridPos)
			}
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if p.Datasource == nil || p.Datasource.Type != "prometheus" || len(p.Targets) == 0 {
				t.Errorf("panel %q: a Prometheus data source and targets are required", p.Title)
			}
			for _, tg := range p.Targets {
				check("panel "+p.Title+" "+tg.RefID, tg.Expr)
			}
		}
	}
	walk(d.Panels)
	labelValues := regexp.MustCompile(`label_values\(\s*([^,]+),`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			if err := json.Unmarshal(v.Query, &q.Query); err != nil {
				t.Fatalf("variable %s: query: %v", v.Name, err)
			}
		}
		m := labelValues.FindStringSubmatch(q.Query)
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(metric, label)", v.Name, q.Query)
			continue
		}
		check("variable "+v.Name, m[1])
	}
	for _, want := range []string{"http_requests_total", "http_request_duration_seconds", "payscore_notifications_total",
		"payscore_api_request_duration_seconds", "payscore_api_attempts_total", "payscore_reconcile_total",
		"payscore_last_notification_timestamp_seconds", "payscore_links_awaiting_user", "payscore_terminations_pending",
		"payscore_terminations_pending_oldest_age_seconds", "payscore_db_errors_total", "payscore_authorizations"} {
		if !used[want] {
			t.Errorf("the dashboard shows no panel of %s", want)
		}
	}
}
