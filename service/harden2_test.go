package service

import (
	"context"
	"errors"
	"testing"

	"github.com/payscore-console/payscore-console/store"
)

// TestPasswordPolicy: at least 10 characters, and not whitespace only, one
// repeated character, a simple sequence, the username or containing it, nor
// one of the bundled 10,000 most common passwords.
func TestPasswordPolicy(t *testing.T) {
	if n := len(commonPasswords()); n < 9000 {
		t.Fatalf("bundled common passwords: %d, want about 10,000", n)
	}
	tests := []struct {
		name, username, password, wantKey string
	}{
		{"OK", "alice", "correct horse battery", ""},
		{"OKChinese", "alice", "我的密码是一匹正确的马", ""},
		{"ErrShort", "alice", "Tr0ub4d&3", KeyPasswordShort},
		{"ErrWhitespace", "alice", "            ", KeyPasswordSimple},
		{"ErrRepeated", "alice", "aaaaaaaaaaaa", KeyPasswordSimple},
		{"ErrRepeatedUnit", "alice", "abababababab", KeyPasswordSimple},
		{"ErrDigitsSequence", "alice", "1234567890", KeyPasswordSimple},
		{"ErrFalling", "alice", "9876543210", KeyPasswordSimple},
		{"ErrLetters", "alice", "abcdefghijk", KeyPasswordSimple},
		{"ErrKeyboardRow", "alice", "qwertyuiop", KeyPasswordSimple},
		{"ErrKeyboardColumn", "alice", "1qaz2wsx3edc", KeyPasswordSimple},
		{"ErrUsername", "alice.w", "Alice.W", KeyPasswordShort},
		{"ErrEqualsUsername", "alice.wonder", "alice.wonder", KeyPasswordUsername},
		{"ErrContainsUsername", "alice", "my name is ALICE!", KeyPasswordUsername},
		{"ErrCommonLong", "bob", "1q2w3e4r5t", KeyPasswordCommon},
		{"ErrCommonPlusDigits", "bob", "dragon2024!!", KeyPasswordCommon},
		{"ErrCommonCase", "bob", "Password123456", KeyPasswordCommon},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckPasswordPolicy(tt.username, tt.password)
			if got := KeyOf(err); got != tt.wantKey {
				t.Errorf("CheckPasswordPolicy(%q, %q) = %v (key %q), want key %q", tt.username, tt.password, err, got, tt.wantKey)
			}
			if err != nil && KindOf(err) != Invalid {
				t.Errorf("kind = %v, want Invalid", KindOf(err))
			}
		})
	}
}

// TestPasswordPolicyEnforced: creating a user, resetting a password and
// changing one's own all apply the policy; one's own needs the current one.
func TestPasswordPolicyEnforced(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	if _, err := e.svc.Users.Create(ctx, alice, "carol", "carol's password 1", store.RoleViewer); KeyOf(err) != KeyPasswordUsername {
		t.Errorf("Create with the username inside: %v", err)
	}
	u, err := e.svc.Users.Create(ctx, alice, "carol", testPassword, store.RoleViewer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Users.Update(ctx, alice, u.ID, UserChange{Action: UserActionPassword, Password: "iloveyou2024"}); KeyOf(err) != KeyPasswordCommon {
		t.Errorf("reset to a common password: %v", err)
	}
	carol := Actor{UserID: u.ID, Username: "carol", IP: "192.0.2.9"}
	if err := e.svc.Users.ChangeOwnPassword(ctx, carol, "", "a brand new secret"); KeyOf(err) != KeyCurrentPassword {
		t.Errorf("own change without the current password: %v", err)
	}
	if err := e.svc.Users.ChangeOwnPassword(ctx, carol, "wrong current one", "a brand new secret"); KeyOf(err) != KeyCurrentPassword {
		t.Errorf("own change with a wrong current password: %v", err)
	}
	if err := e.svc.Users.ChangeOwnPassword(ctx, carol, testPassword, "a brand new secret"); err != nil {
		t.Errorf("own change: %v", err)
	}
	if _, err := e.svc.Auth.SignIn(ctx, "carol", "a brand new secret", "192.0.2.9"); err != nil {
		t.Errorf("sign in with the new password: %v", err)
	}
}

// TestInvisibleCharactersRefused: format characters (Unicode Cf: bidi
// overrides, zero-width spaces) are refused in sub-merchant names, reasons
// (termination, emergency switch) and usernames, before anything is written.
func TestInvisibleCharactersRefused(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	for _, s := range []string{"Shop\u202Egnp.exe", "Sh\u200Bop", "\u2066Shop\u2069", "\uFEFFShop"} {
		if !HasInvisible(s) {
			t.Errorf("HasInvisible(%q) = false", s)
		}
	}
	if HasInvisible("正常的商户名 Shop-1") {
		t.Error("HasInvisible on plain text")
	}
	_, err := e.svc.SubMerchants.Create(ctx, alice, store.SubMerchant{SubMchID: "1900000777", Name: "Shop\u202Egnp"})
	var fe *FieldsError
	if !errors.As(err, &fe) || fe.Fields["name"] != KeyInvisible {
		t.Errorf("sub-merchant name with U+202E: %v", err)
	}
	if err := e.svc.Emergency.Set(ctx, alice, true, "maintenance\u200B"); KeyOf(err) != KeyInvisible {
		t.Errorf("emergency reason with U+200B: %v", err)
	}
	if _, err := e.svc.Terminations.Terminate(ctx, alice, "CODE1", "1900000001", "用户要求\u202E"); KeyOf(err) != KeyInvisible {
		t.Errorf("termination reason with U+202E: %v", err)
	}
	if _, err := e.svc.Users.Create(ctx, alice, "bob\u200B", testPassword, store.RoleViewer); KeyOf(err) != "users.err.username" {
		t.Errorf("username with U+200B: %v", err)
	}
	if n := len(e.audit(t, store.AuditFilter{})); n != 0 {
		t.Errorf("%d audit entries: a refused input wrote something", n)
	}
}
