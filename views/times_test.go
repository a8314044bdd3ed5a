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

// TestTime: one format, one line, Beijing time, the relative time on hover.
func TestTime(t *testing.T) {
	at := time.Date(2026, 12, 1, 16, 27, 38, 0, time.UTC)
	old := Now
	t.Cleanup(func() { Now = old })
	for _, tt := range []struct {
		name, lang string
		now        time.Time
		wantTitle  string
	}{
		{"OKPastChinese", LangZH, at.Add(12 * time.Minute), "12 分钟前"},
		{"OKPastEnglish", LangEN, at.Add(3 * time.Hour), "3 hours ago"},
		{"OKFutureEnglish", LangEN, at.Add(-5 * time.Minute), "5 minutes left"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			Now = func() time.Time { return tt.now }
			doc := renderDoc(t, tt.lang, Time(at))
			el := doc.Find("time.ts")
			if got, want := el.Text(), "2026-12-02 00:27:38"; got != want {
				t.Errorf("text = %q, want %q", got, want)
			}
			if got, want := el.AttrOr("datetime", ""), "2026-12-02T00:27:38+08:00"; got != want {
				t.Errorf("datetime = %q, want %q", got, want)
			}
			if got := el.AttrOr("title", ""); got != tt.wantTitle {
				t.Errorf("title = %q, want %q", got, tt.wantTitle)
			}
		})
	}
	t.Run("OKZeroShowsNothing", func(t *testing.T) {
		if got := renderDoc(t, LangZH, Time(time.Time{})).Find("time").Length(); got != 0 {
			t.Errorf("%d time elements for the zero time", got)
		}
	})
	t.Run("OKCaption", func(t *testing.T) {
		var b strings.Builder
		if err := TimeZoneCaption().Render(WithLang(context.Background(), LangZH), &b); err != nil {
			t.Fatal(err)
		}
		if got, want := b.String(), `<caption class="tz-note" data-testid="tz-note">时间均为北京时间（UTC+8）</caption>`; got != want {
			t.Errorf("caption = %q, want %q", got, want)
		}
		if got := Tr(LangEN, "time.tz"); !strings.Contains(got, "Beijing time (UTC+8)") {
			t.Errorf("en caption = %q", got)
		}
	})
}

// TestTimesThroughOneComponent: the pages show times only through Time (a
// bare FormatTime is allowed inside a sentence from the catalogue), and
// every table that shows times, directly or through a row component, says
// once that they are Beijing time.
func TestTimesThroughOneComponent(t *testing.T) {
	files, _ := filepath.Glob("*.templ")
	bare := regexp.MustCompile(`(^|[^=])\{ FormatTime\(`)
	calls := regexp.MustCompile(`@([A-Za-z_][A-Za-z0-9_]*)\(`)
	bodies := map[string]string{} // component name → body
	var sources []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src := string(b)
		sources = append(sources, src)
		for _, line := range strings.Split(src, "\n") {
			if bare.MatchString(line) && f != "times.templ" {
				t.Errorf("%s: a time shown without @Time: %s", f, strings.TrimSpace(line))
			}
		}
		for _, part := range strings.Split(src, "\ntempl ")[1:] {
			name := part[:strings.IndexAny(part, "(")]
			bodies[strings.TrimSpace(name)] = part
		}
	}
	showsTime := map[string]bool{"Time": true}
	for changed := true; changed; {
		changed = false
		for name, body := range bodies {
			if showsTime[name] {
				continue
			}
			for _, m := range calls.FindAllStringSubmatch(body, -1) {
				if showsTime[m[1]] {
					showsTime[name], changed = true, true
					break
				}
			}
		}
	}
	tables := 0
	for i, src := range sources {
		for rest := src; ; {
			start := strings.Index(rest, "<table")
			if start < 0 {
				break
			}
			end := strings.Index(rest[start:], "</table>")
			block := rest[start : start+end]
			rest = rest[start+end:]
			timed := false
			for _, m := range calls.FindAllStringSubmatch(block, -1) {
				timed = timed || showsTime[m[1]]
			}
			if !timed {
				continue
			}
			tables++
			if strings.Count(block, "@TimeZoneCaption()") != 1 {
				t.Errorf("%s: a table of times without (or with more than one) TimeZoneCaption: %.80s", files[i], block)
			}
		}
	}
	if tables < 10 {
		t.Errorf("only %d tables of times found: the scan is broken", tables)
	}
}
