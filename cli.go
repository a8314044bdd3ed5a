package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"

	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
)

// userCommand manages users from the command line: add, passwd, disable,
// reset-mfa.
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
	breakGlass := fs.Bool("break-glass", false, "add: the user may sign in with a password even when LOCAL_LOGIN=off (for when the identity provider is down)")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	if !service.ValidateUsername(*username) {
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
		hash, err := service.HashPassword(pw)
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
		// Audited like the web's user.create, in the same transaction: who
		// made which account, with which role.
		create := db.CreateUserAudited
		detail := "role=" + *role
		if *breakGlass {
			create, detail = db.CreateBreakGlassUserAudited, detail+" break_glass"
		}
		if _, err := create(ctx, *username, hash, *role,
			store.AuditEntry{Username: "cli", Action: "user.create", Target: "user:" + *username, Result: "ok", Detail: detail}); err != nil {
			fmt.Fprintln(stderr, err)
			return exitFail
		}
		if *breakGlass {
			fmt.Fprintf(stdout, "created %s (%s, break-glass)\n", *username, *role)
		} else {
			fmt.Fprintf(stdout, "created %s (%s)\n", *username, *role)
		}
	case "passwd", "disable":
		u, err := db.UserByUsername(ctx, *username)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return exitFail
		}
		var ch store.UserChange
		if sub == "passwd" && u.SSOSubject != "" {
			fmt.Fprintf(stderr, "%s signs in with single sign-on and has no local password\n", *username)
			return exitConfig
		}
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
		if _, err := db.UpdateUserAudited(ctx, u.ID, ch,
			store.AuditEntry{Username: "cli", Action: "user." + sub, Target: "user:" + *username, Result: "ok"}); err != nil {
			fmt.Fprintln(stderr, err)
			return exitFail
		}
		fmt.Fprintf(stdout, "%s: %s done; their sessions have ended\n", *username, sub)
	case "reset-mfa":
		u, err := db.UserByUsername(ctx, *username)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return exitFail
		}
		// Audited auth.mfa_reset in the same transaction as the reset.
		mfa := &service.MFA{Store: db}
		if _, err := mfa.Reset(ctx, service.Actor{Username: "cli"}, u.ID); err != nil {
			fmt.Fprintln(stderr, err)
			return exitFail
		}
		fmt.Fprintf(stdout, "%s: two-factor removed; their sessions have ended; they enrol again at the next sign-in\n", *username)
	default:
		fmt.Fprintln(stderr, usage)
		return exitConfig
	}
	return exitOK
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
