package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// privateFile makes the database file readable and writable by its owner
// only (0600) before SQLite opens it: it holds password hashes, session
// rows, openids and the audit trail. SQLite creates the -wal and -shm files
// with the database file's mode, so they are 0600 too; files left by an
// earlier, laxer start are narrowed.
func privateFile(path string) error {
	if path == "" || strings.HasPrefix(path, ":memory:") || strings.HasPrefix(path, "file:") {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("store: open %s: %w", path, err)
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, 0o600); err != nil {
				return fmt.Errorf("store: make %s private: %w", p, err)
			}
		}
	}
	return nil
}
