package static

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"strings"
	"testing"
)

// TestHTMXPinned: the vendored htmx is the pinned release, byte for byte.
func TestHTMXPinned(t *testing.T) {
	if got, want := HTMXFile, "htmx-"+HTMXVersion+".min.js"; got != want {
		t.Errorf("HTMXFile = %q, want %q", got, want)
	}
	for _, src := range []struct {
		name string
		read func() ([]byte, error)
	}{
		{"OnDisk", func() ([]byte, error) { return os.ReadFile(HTMXFile) }},
		{"Embedded", func() ([]byte, error) { return fs.ReadFile(FS, HTMXFile) }},
	} {
		t.Run(src.name, func(t *testing.T) {
			b, err := src.read()
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(b)
			if got, want := hex.EncodeToString(sum[:]), HTMXSHA256; got != want {
				t.Errorf("sha256(%s) = %s, want %s", HTMXFile, got, want)
			}
		})
	}
}

func TestURL(t *testing.T) {
	for _, name := range []string{HTMXFile, "app.css", "app.js"} {
		u := URL(name)
		b, err := fs.ReadFile(FS, name)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if got, want := u, "/static/"+name+"?v="+hex.EncodeToString(sum[:])[:12]; got != want {
			t.Errorf("URL(%q) = %q, want %q", name, got, want)
		}
		if strings.HasSuffix(u, "?v=") {
			t.Errorf("URL(%q) has no version", name)
		}
	}
}
