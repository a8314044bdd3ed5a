package main

import (
	"context"
	"fmt"
	"os"

	"github.com/payscore-console/payscore-console/handlers"
	"github.com/payscore-console/payscore-console/store"
)

// demoPassword is the password of every demo user: the demo database is for
// trying the console, never for production.
const demoPassword = "demo-password"

// writeDemoDB writes a fresh database at the latest migration with a user
// of each role, then compacts it into path.
func writeDemoDB(ctx context.Context, path string) error {
	tmp, err := os.MkdirTemp("", "demo-db")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	db, err := store.Open(ctx, tmp+"/demo.db")
	if err != nil {
		return err
	}
	defer db.Close()
	for _, role := range store.Roles {
		hash, err := handlers.HashPassword(demoPassword)
		if err != nil {
			return err
		}
		if _, err := db.CreateUser(ctx, role, hash, role); err != nil {
			return err
		}
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return err
	}
	// VACUUM INTO writes one self-contained file (no WAL beside it).
	if _, err := db.Write.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		return fmt.Errorf("demo-db: %w", err)
	}
	return nil
}
