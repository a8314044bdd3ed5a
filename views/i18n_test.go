package views

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestTn(t *testing.T) {
	tests := []struct {
		name   string
		key    string
		n      int
		zh, en string
	}{
		{"OKZeroIsPlural", "support.ago.minutes", 0, "0 分钟前", "0 minutes ago"},
		{"OKOneIsSingular", "support.ago.minutes", 1, "1 分钟前", "1 minute ago"},
		{"OKTwoIsPlural", "support.ago.minutes", 2, "2 分钟前", "2 minutes ago"},
		{"OKOpensZero", "support.history.link.opens", 0, "打开 0 次", "opened 0 times"},
		{"OKOpensOne", "support.history.link.opens", 1, "打开 1 次", "opened 1 time"},
		{"OKOpensTwo", "support.history.link.opens", 2, "打开 2 次", "opened 2 times"},
		{"OKHourOne", "support.ago.hours", 1, "1 小时前", "1 hour ago"},
		{"OKDayOne", "support.ago.days", 1, "1 天前", "1 day ago"},
		{"OKUnknownKeyShowsItself", "no.such.key", 1, "no.such.key", "no.such.key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := Tn(WithLang(context.Background(), LangZH), tt.key, tt.n), tt.zh; got != want {
				t.Errorf("zh Tn(%s, %d) = %q, want %q", tt.key, tt.n, got, want)
			}
			if got, want := Tn(WithLang(context.Background(), LangEN), tt.key, tt.n), tt.en; got != want {
				t.Errorf("en Tn(%s, %d) = %q, want %q", tt.key, tt.n, got, want)
			}
			if got, want := Trn(LangEN, tt.key, tt.n), tt.en; got != want {
				t.Errorf("Trn(en, %s, %d) = %q, want %q", tt.key, tt.n, got, want)
			}
		})
	}
	t.Run("OKMoreArgsFollowTheCount", func(t *testing.T) {
		old := catalog
		t.Cleanup(func() { catalog = old })
		catalog = merge(old, plurals(map[string]plural{"test.since": {"%[2]s 以来 %[1]d 条", "%d entry since %s", "%d entries since %s"}}))
		if got, want := Trn(LangEN, "test.since", 1, "May"), "1 entry since May"; got != want {
			t.Errorf("en = %q, want %q", got, want)
		}
		if got, want := Trn(LangEN, "test.since", 3, "May"), "3 entries since May"; got != want {
			t.Errorf("en = %q, want %q", got, want)
		}
		if got, want := Trn(LangZH, "test.since", 1, "五月"), "五月 以来 1 条"; got != want {
			t.Errorf("zh = %q, want %q", got, want)
		}
	})
}

// TestCatalogCounts: every count-bearing string (one with %d) is read through
// Tn, so it has both English forms; the only %d that is not a count is a
// record's number.
func TestCatalogCounts(t *testing.T) {
	notCounts := map[string]bool{"links.link.title": true} // "#%d" is an id
	bases := map[string]bool{}
	for k, e := range catalog {
		if base, ok := strings.CutSuffix(k, ".one"); ok {
			bases[base] = true
			continue
		}
		if base, ok := strings.CutSuffix(k, ".other"); ok {
			bases[base] = true
			continue
		}
		if (strings.Contains(e.zh, "%d") || strings.Contains(e.en, "%d")) && !notCounts[k] {
			t.Errorf("%s holds a count (%q): make it a plural read with Tn", k, e.en)
		}
	}
	for base := range bases {
		one, okOne := catalog[base+".one"]
		other, okOther := catalog[base+".other"]
		if !okOne || !okOther {
			t.Errorf("plural %s lacks a form (one %v, other %v)", base, okOne, okOther)
			continue
		}
		if one.zh != other.zh {
			t.Errorf("plural %s: Chinese has one form, got %q and %q", base, one.zh, other.zh)
		}
		if one.en == other.en {
			t.Errorf("plural %s: English singular and plural are the same: %q", base, one.en)
		}
		if _, dup := catalog[base]; dup {
			t.Errorf("plural %s is also a plain key", base)
		}
	}
	// Every Tn in the views names a plural; no T or Tf names one.
	files, err := filepath.Glob("*.templ")
	if err != nil {
		t.Fatal(err)
	}
	gos, _ := filepath.Glob("*.go")
	files = append(files, gos...)
	tn := regexp.MustCompile(`\bTr?n\((?:ctx|lang|[a-zA-Z.]+), "([a-z0-9_.]+)"`)
	tf := regexp.MustCompile(`\bT[fr]?\((?:ctx|lang|[a-zA-Z.]+), "([a-z0-9_.]+)"`)
	used := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || strings.HasSuffix(f, "_templ.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range tn.FindAllStringSubmatch(string(b), -1) {
			used++
			if !bases[m[1]] {
				t.Errorf("%s: Tn(%q) is not a plural in the catalog", f, m[1])
			}
		}
		for _, m := range tf.FindAllStringSubmatch(string(b), -1) {
			if bases[m[1]] {
				t.Errorf("%s: plural %q read without Tn", f, m[1])
			}
		}
	}
	if used == 0 {
		t.Error("no Tn call found: the scan is broken")
	}
}

// TestCountsRendered: the components show counts in the right number.
func TestCountsRendered(t *testing.T) {
	now := time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		lang       string
		age        time.Duration
		opens      int
		wantAge    string
		wantOpened string
	}{
		{"OKEnglishOne", LangEN, time.Minute + 5*time.Second, 1, "1 minute ago", "opened 1 time"},
		{"OKEnglishTwo", LangEN, 2 * time.Minute, 2, "2 minutes ago", "opened 2 times"},
		{"OKEnglishZeroOpens", LangEN, 61 * time.Minute, 0, "1 hour ago", "opened 0 times"},
		{"OKChineseOne", LangZH, time.Minute, 1, "1 分钟前", "打开 1 次"},
		{"OKChineseTwo", LangZH, 2 * time.Minute, 2, "2 分钟前", "打开 2 次"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := LookupView{Now: now, Searched: true, Form: LookupForm{AuthorizationCode: "C1"},
				Upstream: &UpstreamError{Explanation: "x"},
				Local:    &LookupLocal{State: "AVAILABLE", Source: "notification", CheckedAt: now.Add(-tt.age)},
				History:  LookupHistory{Link: &HistoryLink{ID: 7, Href: "/links/7", SubMchID: "1900000101", SubMerchantName: "m", Opens: tt.opens}}}
			doc := renderDoc(t, tt.lang, LookupPage(Page{Title: "t", CSRF: "tok"}, v))
			if got, want := text(doc, `[data-testid="local-age"]`), tt.wantAge; got != want {
				t.Errorf("age = %q, want %q", got, want)
			}
			if got, want := text(doc, `[data-testid="history-link-opens"]`), tt.wantOpened; got != want {
				t.Errorf("opens = %q, want %q", got, want)
			}
		})
	}
}
