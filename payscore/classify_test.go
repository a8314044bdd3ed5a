package payscore

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		kind   FailureKind
		code   string
		signed bool
	}{
		{"None", nil, FailureNone, "", false},
		{"Invalid", &ValidationError{Field: "reason", Message: "too long"}, FailureInvalid, "", false},
		{"Refused", &APIError{Status: 400, Code: CodeParamError, RequestID: "R"}, FailureRefused, CodeParamError, true},
		{"RateLimited429", &APIError{Status: 429, Code: "X"}, FailureRateLimited, "X", true},
		{"RateLimitedCode", &APIError{Status: 403, Code: CodeFrequencyLimited}, FailureRateLimited, CodeFrequencyLimited, true},
		{"SignedSystemError", &APIError{Status: 500, Code: CodeSystemError}, FailureUnknown, CodeSystemError, true},
		{"Forged", fmt.Errorf("%w: x", ErrBadSignature), FailureForged, "", false},
		{"UnsignedSignError", &APIError{Status: 401, Code: CodeSignError, Unsigned: true}, FailureRefused, CodeSignError, false},
		{"Unsigned429", &APIError{Status: 429, Code: CodeFrequencyLimited, Unsigned: true}, FailureRateLimited, CodeFrequencyLimited, false},
		{"Unsigned503", &APIError{Status: 503, Code: CodeSystemError, Unsigned: true}, FailureUnknown, CodeSystemError, false},
		{"Timeout", &TransportError{Timeout: true, Err: context.DeadlineExceeded}, FailureUnknown, "", false},
		{"Foreign", errors.New("boom"), FailureUnknown, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := Classify(fmt.Errorf("wrapped: %w", tt.err))
			if tt.err == nil {
				f = Classify(nil)
			}
			if got, want := f.Kind, tt.kind; got != want {
				t.Errorf("Kind = %v, want %v", got, want)
			}
			if got, want := f.Code, tt.code; got != want {
				t.Errorf("Code = %q, want %q", got, want)
			}
			if got, want := f.Signed, tt.signed; got != want {
				t.Errorf("Signed = %v, want %v", got, want)
			}
		})
	}
}
