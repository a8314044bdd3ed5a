// Package static holds the console's embedded assets: the vendored htmx,
// the style sheet and small scripts.
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
)

// HTMXVersion and HTMXSHA256 pin the vendored htmx: npm package htmx.org,
// file dist/htmx.min.js. A test checks the hash.
const (
	HTMXVersion = "4.0.1"
	HTMXSHA256  = "a0abb04f2f45a1f89d1d4844023245537e5e6014c87b144553e0607b4cc32130"
	HTMXFile    = "htmx-" + HTMXVersion + ".min.js"
)

//go:embed *.js *.css *.svg *.ico
var files embed.FS

// FS is the asset file system.
var FS fs.FS = files

// Versions maps each asset to a short hash of its content, used in URLs so
// that a cached copy is never stale.
var Versions = func() map[string]string {
	out := map[string]string{}
	entries, _ := fs.ReadDir(files, ".")
	for _, e := range entries {
		b, _ := fs.ReadFile(files, e.Name())
		sum := sha256.Sum256(b)
		out[e.Name()] = hex.EncodeToString(sum[:])[:12]
	}
	return out
}()

// URL is the cache-busting URL of an asset.
func URL(name string) string {
	return "/static/" + name + "?v=" + Versions[name]
}
