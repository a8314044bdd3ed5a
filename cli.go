package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"time"

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
	databaseURL := fs.String("database-url", getenv("DATABASE_URL"), "PostgreSQL URL instead of the SQLite file ($DATABASE_URL)")
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
	db, err := store.OpenDatabase(ctx, *databaseURL, *dbPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFail
	}
	defer db.Close()
	// The command line acts through the services, like the web: the same
	// rules (password policy) and the audit entry in the same transaction
	// as the change. Any error, the audit's included, fails the command.
	svc := service.New(service.Config{Store: db})
	cli := service.Actor{Username: "cli"}
	passwordFromStdin := func() (string, bool) {
		pw, err := readPassword(stdin)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return "", false
		}
		if err := service.CheckPasswordPolicy(*username, pw); err != nil {
			fmt.Fprintln(stderr, "password:", err)
			return "", false
		}
		return pw, true
	}
	switch sub {
	case "add":
		pw, ok := passwordFromStdin()
		if !ok {
			return exitConfig
		}
		// Audited like the web's user.create, in the same transaction: who
		// made which account, with which role. The password policy was
		// checked above.
		var err error
		if *breakGlass {
			hash, herr := service.HashPassword(pw)
			if herr != nil {
				fmt.Fprintln(stderr, "password:", herr)
				return exitConfig
			}
			_, err = db.CreateBreakGlassUserAudited(ctx, *username, hash, *role,
				store.AuditEntry{Username: "cli", Action: "user.create", Target: "user:" + *username, Result: "ok", Detail: "role=" + *role + " break_glass"})
		} else {
			_, err = svc.Users.Create(ctx, cli, *username, pw, *role)
		}
		if err != nil {
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
		if sub == "passwd" && u.SSOSubject != "" {
			fmt.Fprintf(stderr, "%s signs in with single sign-on and has no local password\n", *username)
			return exitConfig
		}
		ch := service.UserChange{Action: service.UserActionDisable}
		if sub == "passwd" {
			pw, ok := passwordFromStdin()
			if !ok {
				return exitConfig
			}
			// A new password also ends the user's sign-in lockouts.
			ch = service.UserChange{Action: service.UserActionPassword, Password: pw}
		}
		if _, err := svc.Users.Update(ctx, cli, u.ID, ch); err != nil {
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
	case "unlock":
		if _, err := db.UserByUsername(ctx, *username); err != nil {
			fmt.Fprintln(stderr, err)
			return exitFail
		}
		n, err := svc.Auth.Unlock(ctx, cli, *username)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return exitFail
		}
		fmt.Fprintf(stdout, "%s: unlocked (%d locked addresses)\n", *username, n)
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

// purgeCommand deletes the callback log's old rows: purge --days N.
// Audited (callbacks.purge, by "cli"); N below the notification ids' retry
// horizon (3 days) is refused.
func purgeCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("purge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	days := fs.Int("days", 0, "delete notifications last received more than this many days ago (at least 3: WeChat Pay's retries must stay duplicates)")
	dbPath := fs.String("db-path", or(getenv("DB_PATH"), "app.db"), "SQLite file ($DB_PATH)")
	databaseURL := fs.String("database-url", getenv("DATABASE_URL"), "PostgreSQL URL instead of the SQLite file ($DATABASE_URL)")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	horizon := int(service.NotificationIDHorizon / (24 * time.Hour))
	if *days < horizon {
		fmt.Fprintf(stderr, "--days: at least %d (notification ids are kept %d days after their last delivery, so that WeChat Pay's retries stay duplicates)\n", horizon, horizon)
		return exitConfig
	}
	db, err := store.OpenDatabase(ctx, *databaseURL, *dbPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFail
	}
	defer db.Close()
	n, err := service.PurgeCallbacks(ctx, db, service.Actor{Username: "cli"}, time.Duration(*days)*24*time.Hour, db.Now())
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFail
	}
	fmt.Fprintf(stdout, "purged %d notifications received more than %d days ago\n", n, *days)
	return exitOK
}
