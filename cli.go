package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/payscore-console/payscore-console/handlers"
	"github.com/payscore-console/payscore-console/store"
)

// userCommand manages users from the command line: add, passwd, disable.
func userCommand(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return exitConfig
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("user "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	username := fs.String("username", "", "username")
	role := fs.String("role", store.RoleViewer, "role: admin, operator, support or viewer")
	dbPath := fs.String("db-path", or(getenv("DB_PATH"), "app.db"), "SQLite file ($DB_PATH)")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	if !handlers.ValidateUsername(*username) {
		fmt.Fprintln(stderr, "--username: 3–32 letters, digits, dots, underscores or hyphens")
		return exitConfig
	}
	if sub == "add" && !slices.Contains(store.Roles, *role) {
		fmt.Fprintf(stderr, "--role: one of %v\n", store.Roles)
		return exitConfig
	}
	db, err := store.Open(ctx, *dbPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFail
	}
	defer db.Close()
	hashFromStdin := func() (string, bool) {
		pw, err := readPassword(stdin)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return "", false
		}
		hash, err := handlers.HashPassword(pw)
		if err != nil {
			fmt.Fprintln(stderr, "password:", err)
			return "", false
		}
		return hash, true
	}
	switch sub {
	case "add":
		hash, ok := hashFromStdin()
		if !ok {
			return exitConfig
		}
		if _, err := db.CreateUser(ctx, *username, hash, *role); err != nil {
			fmt.Fprintln(stderr, err)
			return exitFail
		}
		// Audited like the web's user.create: who made which account, with which role.
		_ = db.Audit(ctx, store.AuditEntry{Username: "cli", Action: "user.create", Target: "user:" + *username, Result: "ok", Detail: "role=" + *role})
		fmt.Fprintf(stdout, "created %s (%s)\n", *username, *role)
	case "passwd", "disable":
		u, err := db.UserByUsername(ctx, *username)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return exitFail
		}
		var ch store.UserChange
		if sub == "passwd" {
			hash, ok := hashFromStdin()
			if !ok {
				return exitConfig
			}
			ch.PasswordHash = &hash
		} else {
			yes := true
			ch.Disabled = &yes
		}
		if _, err := db.UpdateUser(ctx, u.ID, ch); err != nil {
			fmt.Fprintln(stderr, err)
			return exitFail
		}
		_ = db.Audit(ctx, store.AuditEntry{Username: "cli", Action: "user." + sub, Target: "user:" + *username, Result: "ok"})
		fmt.Fprintf(stdout, "%s: %s done; their sessions have ended\n", *username, sub)
	default:
		fmt.Fprintln(stderr, usage)
		return exitConfig
	}
	return exitOK
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

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// seedCallbacks fills the callback log with synthetic notifications, for
// measuring the log's screens at scale.
func seedCallbacks(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("seed-callbacks", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 1000000, "notifications to write")
	dbPath := fs.String("db-path", or(getenv("DB_PATH"), "app.db"), "SQLite file ($DB_PATH)")
	if err := fs.Parse(args); err != nil || *n <= 0 {
		return exitConfig
	}
	db, err := store.Open(ctx, *dbPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFail
	}
	defer db.Close()
	subs := []string{"1900000201", "1900000202", "1900000203", "1900000204", "1900000205"}
	for i, sub := range subs {
		if _, err := db.CreateSubMerchant(ctx, store.SubMerchant{SubMchID: sub, Name: fmt.Sprintf("种子商户 %d", i+1)}); err != nil && !errors.Is(err, store.ErrConflict) {
			fmt.Fprintln(stderr, err)
			return exitFail
		}
	}
	start := time.Now()
	if err := db.SeedCallbacks(ctx, *n, subs, time.Now()); err != nil {
		fmt.Fprintln(stderr, err)
		return exitFail
	}
	fmt.Fprintf(stdout, "wrote %d notifications in %s\n", *n, time.Since(start).Round(time.Millisecond))
	return exitOK
}
