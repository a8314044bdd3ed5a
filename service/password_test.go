package service

import (
	"errors"
	"strings"
	"testing"
)

func TestHashPassword(t *testing.T) {
	tests := []struct {
		name     string
		password string
		wantErr  error
	}{
		{"OK", "ten chars!", nil},
		{"OKRunesNotBytes", "十个汉字的密码很安全吗", nil},
		{"ErrPasswordTooShort", "nine char", ErrPasswordTooShort},
		{"ErrPasswordTooShortMultibyte", "九个汉字的密码不够", ErrPasswordTooShort},
		{"ErrEmpty", "", ErrPasswordTooShort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hash, err := HashPassword(tt.password)
			if got, want := err, tt.wantErr; !errors.Is(got, want) {
				t.Fatalf("err = %v, want %v", got, want)
			}
			if err != nil {
				return
			}
			// argon2id with OWASP's parameters, readable in the PHC string.
			if got, want := hash, "$argon2id$v=19$m=19456,t=2,p=1$"; !strings.HasPrefix(got, want) {
				t.Errorf("hash = %q, want prefix %q", got, want)
			}
			ok, err := CheckPassword(hash, tt.password)
			if err != nil || !ok {
				t.Errorf("CheckPassword(right) = %v, %v; want true", ok, err)
			}
			ok, err = CheckPassword(hash, tt.password+"x")
			if err != nil || ok {
				t.Errorf("CheckPassword(wrong) = %v, %v; want false", ok, err)
			}
		})
	}
	if got, want := MinPasswordLength, 10; got != want {
		t.Errorf("MinPasswordLength = %d, want %d", got, want)
	}
}

func TestHashPasswordSalted(t *testing.T) {
	a, _ := HashPassword(testPassword)
	b, _ := HashPassword(testPassword)
	if a == b {
		t.Error("two hashes of one password are equal: no random salt")
	}
}

// TestCheckPasswordMalformed: a damaged hash is an error — never a panic,
// never a match.
func TestCheckPasswordMalformed(t *testing.T) {
	good := testPasswordHash()
	parts := strings.Split(good, "$")
	with := func(i int, v string) string {
		p := append([]string(nil), parts...)
		p[i] = v
		return strings.Join(p, "$")
	}
	tests := []struct {
		name string
		hash string
	}{
		{"ErrEmpty", ""},
		{"ErrBcrypt", "$2a$10$abcdefghijklmnopqrstuuJk3p4c6dQy8n9Qe0s4b1q7mZl0vZy9e"},
		{"ErrArgon2i", with(1, "argon2i")},
		{"ErrVersion", with(2, "v=16")},
		{"ErrParams", with(3, "m=19456")},
		{"ErrZeroTime", with(3, "m=19456,t=0,p=1")},
		{"ErrZeroThreads", with(3, "m=19456,t=2,p=0")},
		{"ErrHugeMemory", with(3, "m=4294967295,t=2,p=1")},
		{"ErrSaltNotBase64", with(4, "!!!")},
		{"ErrEmptyKey", with(5, "")},
		{"ErrShortKey", with(5, "AAAA")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("CheckPassword panicked: %v", r)
				}
			}()
			ok, err := CheckPassword(tt.hash, testPassword)
			if ok {
				t.Fatal("a malformed hash matched")
			}
			if err == nil {
				t.Error("err = nil, want an error")
			}
		})
	}
}
