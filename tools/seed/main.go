// Command seed fills a console database with 30 days of realistic history
// (links, their funnel, notifications, closes, terminations, refusals: what
// the overview's charts show) and then the callback log with synthetic
// notifications, for measuring the log's screens at scale. It is a
// development tool, not part of the console's binary:
//
//	go run ./tools/seed -n 1000000 -db-path /tmp/big.db
//	go run ./tools/seed -n 0 -history 30 -db-path app.db   # charts only
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/payscore-console/payscore-console/store"
)

// Exit statuses, as the console's.
const (
	exitOK     = 0
	exitFail   = 1
	exitConfig = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := seed(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// seedSubMerchants are registered (if missing) and named by the rows.
var seedSubMerchants = []string{"1900000201", "1900000202", "1900000203", "1900000204", "1900000205"}

// seed writes the notifications.
func seed(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 1000000, "synthetic notifications to write (0: none)")
	history := fs.Int("history", 30, "days of realistic history to write first (0: none)")
	dbPath := fs.String("db-path", "app.db", "the console's SQLite file")
	databaseURL := fs.String("database-url", os.Getenv("DATABASE_URL"), "the console's PostgreSQL database instead ($DATABASE_URL)")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return exitOK
	} else if err != nil {
		return exitConfig
	}
	if *n < 0 || *history < 0 || *n == 0 && *history == 0 {
		fmt.Fprintln(stderr, "seed: -n and -history must not be negative, nor both 0")
		return exitConfig
	}
	db, err := store.OpenDatabase(ctx, *databaseURL, *dbPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFail
	}
	defer db.Close()
	for i, sub := range seedSubMerchants {
		if _, err := db.CreateSubMerchant(ctx, store.SubMerchant{SubMchID: sub, Name: fmt.Sprintf("种子商户 %d", i+1)}); err != nil && !errors.Is(err, store.ErrConflict) {
			fmt.Fprintln(stderr, err)
			return exitFail
		}
	}
	start := time.Now()
	if *history > 0 {
		// Before the synthetic notifications: the overview counts the last
		// day's by their ids, which must follow time. The history ends a
		// day before now; the synthetic notifications start 30 days back,
		// so with both the day counts overlap, as intended: busier charts.
		if err := db.SeedHistory(ctx, seedSubMerchants, start, *history, uint64(start.UnixNano())); err != nil {
			fmt.Fprintln(stderr, err)
			return exitFail
		}
		fmt.Fprintf(stdout, "wrote %d days of history in %s\n", *history, time.Since(start).Round(time.Millisecond))
	}
	if *n > 0 {
		start := time.Now()
		if err := db.SeedCallbacks(ctx, *n, seedSubMerchants, time.Now()); err != nil {
			fmt.Fprintln(stderr, err)
			return exitFail
		}
		fmt.Fprintf(stdout, "wrote %d notifications in %s\n", *n, time.Since(start).Round(time.Millisecond))
	}
	return exitOK
}
