package service

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/payscore-console/payscore-console/store"
)

// mfaEnv is MFA over a real store with a fake clock and a user "alice".
func mfaEnv(t *testing.T, key []byte) (*env, *MFA, *store.User) {
	t.Helper()
	e := newEnv(t)
	m := &MFA{Store: e.db, Key: DeriveKey(key, "totp secrets v1"), Now: func() time.Time { return e.now }, Logger: slog.New(slog.DiscardHandler)}
	u, err := e.db.CreateUser(context.Background(), "alice", testPasswordHash(), store.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	return e, m, u
}

func TestMFASecretSealed(t *testing.T) {
	ctx := context.Background()
	e, m, u := mfaEnv(t, bytes.Repeat([]byte("k"), 32))
	en, err := m.Begin(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	row, err := e.db.MFAOf(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains([]byte(row.Secret), []byte(en.Secret)) {
		t.Fatal("the stored secret holds the secret in the clear")
	}
	if got, err := m.open(u.ID, row.Secret); err != nil || got != en.Secret {
		t.Fatalf("open = %q, %v; want the secret", got, err)
	}
	// Bound to the user: the same sealed value does not open for another.
	if _, err := m.open(u.ID+1, row.Secret); err == nil {
		t.Error("a sealed secret opened for another user")
	}
	// Another key (another SESSION_KEY) does not open it.
	other := &MFA{Key: DeriveKey(bytes.Repeat([]byte("x"), 32), "totp secrets v1")}
	if _, err := other.open(u.ID, row.Secret); err == nil {
		t.Error("a sealed secret opened under another key")
	}
	// No key, no two-factor: never a fixed key.
	if DeriveKey(nil, "totp secrets v1") != nil {
		t.Error("DeriveKey without a master key gave a key")
	}
	if _, err := (&MFA{Store: e.db}).Begin(ctx, u); err == nil {
		t.Error("Begin without a key succeeded")
	}
}

func TestMFAStepUpFakeClock(t *testing.T) {
	ctx := context.Background()
	e, m, u := mfaEnv(t, bytes.Repeat([]byte("k"), 32))
	en, err := m.Begin(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	code := func(at time.Time) string {
		c, err := totp.GenerateCode(en.Secret, at)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if _, err := m.Confirm(ctx, alice, u, code(e.now)); err != nil {
		t.Fatal(err)
	}
	u, _ = e.db.UserByID(ctx, u.ID)
	if err := e.db.CreateSession(ctx, store.Session{IDHash: "h", UserID: u.ID}); err != nil {
		t.Fatal(err)
	}
	// The code that confirmed the enrolment is spent.
	if ok, _, err := m.StepUp(ctx, alice, u, "h", AuditStepUpFailed, "/users", "", code(e.now)); err != nil || ok {
		t.Fatalf("replayed enrolment code: ok = %v, %v", ok, err)
	}
	// A code of the step after, and of the one before, within the skew.
	e.now = e.now.Add(TOTPPeriod * time.Second)
	if ok, _, err := m.StepUp(ctx, alice, u, "h", AuditStepUpFailed, "/users", "", code(e.now.Add(TOTPPeriod*time.Second))); err != nil || !ok {
		t.Fatalf("next step's code: ok = %v, %v", ok, err)
	}
	e.now = e.now.Add(3 * TOTPPeriod * time.Second)
	if ok, _, _ := m.StepUp(ctx, alice, u, "h", AuditStepUpFailed, "/users", "", code(e.now.Add(-2*TOTPPeriod*time.Second))); ok {
		t.Error("a code two steps old was accepted")
	}
	// The password is not a second factor for someone who has one.
	if ok, _, _ := m.StepUp(ctx, alice, u, "h", AuditStepUpFailed, "/users", testPassword, ""); ok {
		t.Error("the password passed a step-up of a user with two-factor")
	}
	// Session auth time renewed by the right code.
	s, err := e.db.SessionByHash(ctx, "h")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.AuthAt, testStart.Add(TOTPPeriod*time.Second); !got.Equal(want) {
		t.Errorf("auth_at = %v, want %v", got, want)
	}
}
