package store

import (
	"errors"
	"fmt"
	"testing"

	"github.com/mattn/go-sqlite3"
)

// TestIsConstraint: uniqueness is told by the driver's extended code, not by
// the words of the message.
func TestIsConstraint(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"Unique", sqlite3.Error{Code: sqlite3.ErrConstraint, ExtendedCode: sqlite3.ErrConstraintUnique}, true},
		{"PrimaryKey", sqlite3.Error{Code: sqlite3.ErrConstraint, ExtendedCode: sqlite3.ErrConstraintPrimaryKey}, true},
		{"Wrapped", fmt.Errorf("insert: %w", sqlite3.Error{Code: sqlite3.ErrConstraint, ExtendedCode: sqlite3.ErrConstraintUnique}), true},
		{"ForeignKey", sqlite3.Error{Code: sqlite3.ErrConstraint, ExtendedCode: sqlite3.ErrConstraintForeignKey}, false},
		{"MessageOnly", errors.New("UNIQUE constraint failed: users.username"), false},
		{"Nil", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isConstraint(tt.err); got != tt.want {
				t.Errorf("isConstraint = %v, want %v", got, tt.want)
			}
		})
	}
}
