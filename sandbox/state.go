package sandbox

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/payscore-console/payscore-console/store"
)

// Authorization states, as the query call names them: the console's own
// constants (package store defines them once).
const (
	// StateUnbindUser: pre-authorized, the user has not agreed yet.
	StateUnbindUser = store.StateUnbindUser
	// StateAvailable: the user agreed; the service is on.
	StateAvailable = store.StateAvailable
	// StateUnavailable: the user closed the service or the merchant ended it.
	StateUnavailable = store.StateUnavailable
)

// Errors of the user-side actions (consent page, control page).
var (
	// ErrNotFound: no such authorization, token or notification.
	ErrNotFound = errors.New("sandbox: not found")
	// ErrTokenExpired: the apply_permissions_token is older than an hour.
	ErrTokenExpired = errors.New("sandbox: apply_permissions_token expired")
	// ErrTokenUsed: the user already agreed with this token.
	ErrTokenUsed = errors.New("sandbox: apply_permissions_token already used")
	// ErrAlreadyAvailable: the authorization is already on.
	ErrAlreadyAvailable = errors.New("sandbox: service already enabled")
	// ErrInvalidState: the action does not fit the authorization's state.
	ErrInvalidState = errors.New("sandbox: invalid authorization state")
	// ErrNoNotifyURL: pre-authorize gave no notify_url to send to.
	ErrNoNotifyURL = errors.New("sandbox: authorization has no notify_url")
)

// Authorization is what the sandbox knows of one authorization_code.
type Authorization struct {
	Code            string
	AppID           string
	ServiceID       string
	ChannelID       string
	SubMchID        string
	SubAppID        string // "" when pre-authorize gave none
	NotifyURL       string // "" when pre-authorize gave none
	State           string // StateUnbindUser, StateAvailable or StateUnavailable
	OpenID          string // the user's id under SubAppID if set, else under AppID
	UserLabel       string // A, B or C once agreed
	SuccessTime     time.Time
	CancelTime      time.Time
	TerminateReason string // the merchant's reason, "" if the user closed it
	CreatedAt       time.Time
	UpdatedAt       time.Time
	// LatestToken is the newest apply_permissions_token and its expiry.
	LatestToken    string
	TokenExpiresAt time.Time
}

// Authorization returns one authorization by its code.
func (s *Sandbox) Authorization(ctx context.Context, code string) (Authorization, error) {
	return findAuthorization(ctx, s.db.read, code)
}

// Authorizations returns every authorization, the most recently changed first.
func (s *Sandbox) Authorizations(ctx context.Context) ([]Authorization, error) {
	return s.db.listAuthorizations(ctx)
}

// tokenInfo is one apply_permissions_token and what became of it.
type tokenInfo struct {
	Code      string
	ExpiresAt time.Time
	Outcome   string // "", "agreed" or "declined"
}

// usableToken returns the token's authorization if the user may still act
// on it at now.
func usableToken(ctx context.Context, q queryer, token string, now time.Time) (tokenInfo, Authorization, error) {
	t, err := findToken(ctx, q, token)
	if err != nil {
		return t, Authorization{}, err
	}
	if !now.Before(t.ExpiresAt) {
		return t, Authorization{}, ErrTokenExpired
	}
	if t.Outcome == "agreed" {
		return t, Authorization{}, ErrTokenUsed
	}
	a, err := findAuthorization(ctx, q, t.Code)
	return t, a, err
}

// Agree is the user pressing "同意并开启" on the consent page opened with
// token: the authorization becomes AVAILABLE with an openid and a user label,
// and its open notification is queued. An unknown, expired or used token
// fails (ErrNotFound, ErrTokenExpired, ErrTokenUsed), as does a service that
// is already on (ErrAlreadyAvailable).
func (s *Sandbox) Agree(ctx context.Context, token string) (Authorization, error) {
	var out Authorization
	err := s.update(ctx, func(tx *sql.Tx, now time.Time) error {
		_, a, err := usableToken(ctx, tx, token, now)
		if err != nil {
			return err
		}
		if a.State == StateAvailable {
			return ErrAlreadyAvailable
		}
		// The same user coming back keeps the openid WeChat gave them.
		if a.OpenID == "" {
			a.OpenID = "o" + randString(27, alnum+"_-")
		}
		a.UserLabel = randString(1, "ABC")
		a.State, a.SuccessTime = StateAvailable, now
		if err := setAgreed(ctx, tx, a, now); err != nil {
			return err
		}
		if err := setTokenOutcome(ctx, tx, token, "agreed", now); err != nil {
			return err
		}
		if _, err := s.queueNotification(ctx, tx, now, a, eventOpen); err != nil {
			return err
		}
		out = a
		return nil
	})
	if err != nil {
		return Authorization{}, err
	}
	s.poke()
	return out, nil
}

// Decline is the user pressing "暂不开启": nothing changes but the token's
// record; the user may still agree with it later while it is valid.
func (s *Sandbox) Decline(ctx context.Context, token string) error {
	return s.update(ctx, func(tx *sql.Tx, now time.Time) error {
		if _, _, err := usableToken(ctx, tx, token, now); err != nil {
			return err
		}
		return setTokenOutcome(ctx, tx, token, "declined", now)
	})
}

// UserClose is the user turning the service off in WeChat: an AVAILABLE
// authorization becomes UNAVAILABLE and its close notification is queued.
func (s *Sandbox) UserClose(ctx context.Context, code string) error {
	return s.close(ctx, code, "", "")
}
