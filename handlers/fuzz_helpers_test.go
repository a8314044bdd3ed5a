package handlers

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// panicWatch is a slog handler that remembers the Recover middleware's
// "panic" records. Echo turns a handler's panic into a 500, which a fuzz
// target would otherwise take for an allowed answer; the targets check it
// after every input. Everything else is dropped, so that a long run does not
// fill memory with request logs.
type panicWatch struct {
	mu     sync.Mutex
	panics []string
}

func (w *panicWatch) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }

func (w *panicWatch) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "panic" {
		return nil
	}
	s := ""
	r.Attrs(func(a slog.Attr) bool {
		s += a.Key + "=" + a.Value.String() + "\n"
		return true
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	w.panics = append(w.panics, s)
	return nil
}

func (w *panicWatch) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *panicWatch) WithGroup(string) slog.Handler      { return w }

// check fails the input if the handler panicked while serving it.
func (w *panicWatch) check(t *testing.T) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.panics) > 0 {
		p := w.panics
		w.panics = nil
		t.Fatalf("handler panicked (recovered as 500):\n%s", p[0])
	}
}

// withPanicWatch logs to w instead of the test's log buffer.
func withPanicWatch(w *panicWatch) func(d *testWiring) {
	return func(d *testWiring) { d.Logger = slog.New(w) }
}

// readCorpusFile reads a "go test fuzz v1" file of []byte, string and bool
// values.
func readCorpusFile(t *testing.T, path string) []any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if lines[0] != "go test fuzz v1" {
		t.Fatalf("%s: not a fuzz corpus file", path)
	}
	var vals []any
	for _, l := range lines[1:] {
		typ, arg, ok := strings.Cut(l, "(")
		if !ok || !strings.HasSuffix(arg, ")") {
			t.Fatalf("%s: cannot read %q", path, l)
		}
		arg = strings.TrimSuffix(arg, ")")
		switch typ {
		case "[]byte", "string":
			s, err := strconv.Unquote(arg)
			if err != nil {
				t.Fatalf("%s: %q: %v", path, l, err)
			}
			if typ == "string" {
				vals = append(vals, s)
			} else {
				vals = append(vals, []byte(s))
			}
		case "bool":
			vals = append(vals, arg == "true")
		default:
			t.Fatalf("%s: type %s not handled", path, typ)
		}
	}
	return vals
}
