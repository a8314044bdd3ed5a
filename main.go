// Command payscore-console is the web console an acquiring institution uses
// to offer WeChat Pay Score to its sub-merchants. `go run .` starts it in
// sandbox mode with an embedded SQLite database; see README.md.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/payscore-console/payscore-console/handlers"
	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
)

func main() {
	ctx, stop := signalContext()
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit statuses.
const (
	exitOK     = 0
	exitFail   = 1
	exitConfig = 2
)

// run is the whole program, with its environment passed in so tests can run it.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, getenv, stderr, logger)
	case "user":
		return userCommand(ctx, args, getenv, stdin, stdout, stderr)
	case "sandbox":
		return sandboxCommand(ctx, args, getenv, stdout, stderr, logger)
	case "purge":
		return purgeCommand(ctx, args, getenv, stdout, stderr)
	case "demo-db":
		return demoDB(ctx, args, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		fmt.Fprintln(stdout)
		_, _ = loadConfig([]string{"-h"}, getenv, stdout)
		return exitOK
	default:
		fmt.Fprintf(stderr, "unknown command %q\n%s\n", cmd, usage)
		return exitConfig
	}
}

const usage = `usage:
  payscore-console [serve] [flags]          run the console (flags: -h lists them)
  payscore-console user add --username NAME --role ROLE [--break-glass]   (password from stdin; break-glass: may sign in with a password when LOCAL_LOGIN=off)
  payscore-console user passwd --username NAME            (password from stdin)
  payscore-console user reset-mfa --username NAME         (removes two-factor; they enrol again)
  payscore-console user disable --username NAME
  payscore-console user unlock --username NAME            end its sign-in lockouts (every address)
  payscore-console purge --days N            delete notifications last received more than N days ago (N >= 3; audited)
  payscore-console demo-db FILE             write a demo database at the latest migration
  payscore-console sandbox [flags]          serve only the WeChat Pay simulator, keys exported for a partner's system (flags: -h)

development tools (not in this binary):
  go run ./tools/seed -n N                  fill the callback log with N synthetic notifications
  go run ./tools/loadgen [flags]            send signed notifications to a running sandbox console (-h lists flags)`

func serve(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, logger *slog.Logger) int {
	cfg, err := loadConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		logConfigError(logger, err)
		return exitConfig
	}
	if err := cfg.Validate(); err != nil {
		logConfigError(logger, err)
		return exitConfig
	}
	if err := serveWith(ctx, cfg, logger); err != nil {
		logger.Error("stopped", "err", err)
		return exitFail
	}
	return exitOK
}

// logConfigError logs each line of a configuration error on its own, so
// that every missing or wrong setting is named.
func logConfigError(logger *slog.Logger, err error) {
	for _, line := range strings.Split(err.Error(), "\n") {
		logger.Error("configuration: " + line)
	}
}

// serveWith runs the console until ctx ends, then shuts down gracefully:
// in-flight requests finish, then the database closes.
func serveWith(ctx context.Context, cfg *Config, logger *slog.Logger) error {
	if cfg.Sandbox() {
		logger.Warn("SANDBOX MODE: WeChat Pay is simulated in process under /sandbox; no real money, no real users. Set the WECHATPAY_* variables for live mode.")
	}
	// Terminations this instance id began before this moment were left by
	// an earlier process; those are the start-up resolver's.
	started := time.Now()
	db, err := store.OpenDatabase(ctx, cfg.DatabaseURL, cfg.DBPath)
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetRefusalLimits(cfg.refusalRetention, cfg.refusalMaxRows)
	if err := bootstrapAdmin(ctx, db, cfg, logger); err != nil {
		return err
	}
	reg := newRegistry()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	a, err := wire(ctx, cfg, db, logger, reg, loopbackURL(ln))
	if err != nil {
		ln.Close()
		return err
	}
	a.services.Terminations.Started = started
	srv := newHTTPServer(a.handler.Echo(), logger)
	go sweepSessions(ctx, db, logger)
	if a.sandbox != nil {
		defer a.sandbox.Close()
		go a.sandbox.Run(ctx)
	}
	// Work that calls WeChat Pay starts once the server answers: in sandbox
	// mode the simulator is reached through this very listener.
	if a.certs != nil {
		go a.certs.Run(ctx, payscore.DefaultCertificateRefresh, func(err error) {
			logger.Warn("platform certificates: download failed; the known ones stay in use", "err", err)
		})
	}
	// The background work runs on one instance at a time: the one holding
	// the worker lease (service.Coordinator). The leases live until the
	// server has finished its in-flight requests, so that no instance
	// takes this one's pending terminations while their requests still
	// run; the work itself stops at the signal.
	leaseCtx, stopLeases := context.WithCancel(context.WithoutCancel(ctx))
	coordDone := make(chan struct{})
	go func() {
		defer close(coordDone)
		a.services.Coordinator.Run(leaseCtx, func(wctx context.Context) {
			wctx, cancel := context.WithCancel(wctx)
			defer cancel()
			defer context.AfterFunc(ctx, cancel)()
			// Pending terminations left by an earlier process, older than
			// any request, or begun by an instance that is gone; then
			// again every few seconds, for instances that die meanwhile.
			resolve := func() {
				if err := a.services.Terminations.ResolveAbandoned(wctx, service.PendingGrace); err != nil && wctx.Err() == nil {
					logger.Error("resolve pending terminations", "err", err)
				}
			}
			resolve()
			// The sandbox's demo data, once, by one instance.
			if a.sandbox != nil {
				if err := seedSandboxDemo(wctx, a, db, logger); err != nil {
					logger.Error("sandbox demo data", "err", err)
				}
			}
			// The work ends when all of it has: never two instances'
			// background work at once.
			var wg sync.WaitGroup
			defer wg.Wait()
			wg.Add(2)
			go func() {
				defer wg.Done()
				t := time.NewTicker(service.LeaseRenew)
				defer t.Stop()
				for {
					select {
					case <-wctx.Done():
						return
					case <-t.C:
						resolve()
					}
				}
			}()
			// Bulk jobs a stop interrupted resume now, after the resolver:
			// an item left calling takes its termination's settled outcome.
			go func() {
				defer wg.Done()
				a.services.Bulk.Run(wctx)
			}()
			a.services.Reconciler.Run(wctx, cfg.reconcileEvery, cfg.reconcileMaxAge)
			cancel()
		})
	}()
	defer func() {
		stopLeases()
		<-coordDone
	}()
	logger.Info("listening", "addr", ln.Addr().String(), "base_url", cfg.BaseURL, "db", cfg.dbName(), "sandbox", cfg.Sandbox())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down: finishing in-flight requests")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("stopped")
	return nil
}

// maxHeaderBytes bounds a request's header: anonymous clients cannot make
// the server hold more than this (Go answers 431 beyond it).
const maxHeaderBytes = 64 << 10

// newHTTPServer is the console's HTTP server: time-outs on every phase of a
// request and a bounded header.
func newHTTPServer(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// sweepSessions deletes ended sessions every few minutes.
func sweepSessions(ctx context.Context, db *store.DB, logger *slog.Logger) {
	t := time.NewTicker(5 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			now := db.Now()
			if _, err := db.DeleteExpiredSessions(ctx, now.Add(-handlers.IdleTimeout), now.Add(-handlers.AbsoluteTimeout)); err != nil {
				logger.Error("sweep sessions", "err", err)
			}
		}
	}
}

// bootstrapAdmin creates user admin on first start. Without ADMIN_PASSWORD
// in sandbox mode a random password is generated and printed once.
func bootstrapAdmin(ctx context.Context, db *store.DB, cfg *Config, logger *slog.Logger) error {
	n, err := db.CountUsers(ctx)
	if err != nil || n > 0 {
		return err
	}
	password := cfg.AdminPassword
	generated := false
	if password == "" {
		if !cfg.Sandbox() {
			logger.Warn("no users exist: create one with `payscore-console user add --username NAME --role admin`, or set ADMIN_PASSWORD")
			return nil
		}
		b := make([]byte, 9)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		password, generated = hex.EncodeToString(b), true
	}
	hash, err := service.HashPassword(password)
	if err != nil {
		return fmt.Errorf("ADMIN_PASSWORD: %w", err)
	}
	// Audited like every other account, in the same transaction.
	// Created only if there is still no user: instances starting at once
	// on an empty database create it once (the others find it made).
	_, created, err := db.CreateFirstUserAudited(ctx, "admin", hash, store.RoleAdmin, store.AuditEntry{Username: service.SystemUsername,
		Action: "user.create", Target: "user:admin", Result: "ok", Detail: "role=admin (first start)"})
	if err != nil {
		return err
	}
	if !created {
		logger.Info("the first user was created by another instance")
		return nil
	}
	if generated {
		// Printed once, to the console's own log, so the first person can sign in.
		logger.Warn("created user admin with a generated password (shown once; change it under /users)", "username", "admin", "password", password)
	} else {
		logger.Info("created user admin from ADMIN_PASSWORD")
	}
	return nil
}

// sessionKey is SESSION_KEY, or a key generated once and kept in the DB.
func sessionKey(ctx context.Context, db *store.DB, cfg *Config) ([]byte, error) {
	if cfg.SessionKey != "" {
		if len(cfg.SessionKey) < 32 {
			return nil, errors.New("SESSION_KEY: must be at least 32 characters")
		}
		return []byte(cfg.SessionKey), nil
	}
	v, err := db.SettingOrCreate(ctx, "session_key", func() (string, error) {
		b := make([]byte, 32)
		_, err := rand.Read(b)
		return hex.EncodeToString(b), err
	})
	if err != nil {
		return nil, err
	}
	return hex.DecodeString(v)
}

func parseCIDRs(s string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		_, n, err := net.ParseCIDR(part)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// readPassword reads one line from stdin.
func readPassword(stdin io.Reader) (string, error) {
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// signalContext ends on SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}
