package service

import "sync"

// testPassword is the password of every user the tests create.
const testPassword = "correct horse battery"

// testPasswordHash hashes testPassword once per test binary: argon2id is
// deliberately slow.
var testPasswordHash = sync.OnceValue(func() string {
	h, err := HashPassword(testPassword)
	if err != nil {
		panic(err)
	}
	return h
})
