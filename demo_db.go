package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/payscore-console/payscore-console/service"
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
		hash, err := service.HashPassword(demoPassword)
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
	// The backup is one self-contained file (no WAL beside it).
	if err := db.Backup(ctx, path); err != nil {
		return fmt.Errorf("demo-db: %w", err)
	}
	return nil
}

// demoDB writes a demo database at the latest migration.
func demoDB(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: payscore-console demo-db FILE")
		return exitConfig
	}
	if err := writeDemoDB(ctx, args[0]); err != nil {
		fmt.Fprintln(stderr, err)
		return exitFail
	}
	fmt.Fprintf(stdout, "wrote %s\n", args[0])
	return exitOK
}
