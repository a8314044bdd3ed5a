package sandbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Authorization states, as the query call names them.
const (
	// StateUnbindUser: pre-authorized, the user has not agreed yet.
	StateUnbindUser = "UNBINDUSER"
	// StateAvailable: the user agreed; the service is on.
	StateAvailable = "AVAILABLE"
	// StateUnavailable: the user closed the service or the merchant ended it.
	StateUnavailable = "UNAVAILABLE"
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

// queryer is what *sql.Tx and *sql.DB share for reads.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

const authorizationColumns = `a.authorization_code, a.appid, a.service_id, a.channel_id, a.sub_mchid, a.sub_appid,
	a.notify_url, a.state, a.openid, a.user_label, a.success_time, a.cancel_time, a.terminate_reason,
	a.created_at, a.updated_at,
	coalesce((SELECT token || ' ' || expires_at FROM sandbox_tokens t WHERE t.authorization_code = a.authorization_code
		ORDER BY created_at DESC LIMIT 1), '')`

func scanAuthorization(sc interface{ Scan(...any) error }) (Authorization, error) {
	var a Authorization
	var success, cancel sql.NullString
	var created, updated, latest string
	err := sc.Scan(&a.Code, &a.AppID, &a.ServiceID, &a.ChannelID, &a.SubMchID, &a.SubAppID, &a.NotifyURL,
		&a.State, &a.OpenID, &a.UserLabel, &success, &cancel, &a.TerminateReason, &created, &updated, &latest)
	if err != nil {
		return a, err
	}
	a.SuccessTime, a.CancelTime = parseNullTime(success), parseNullTime(cancel)
	a.CreatedAt, a.UpdatedAt = parseTime(created), parseTime(updated)
	if tok, exp, ok := strings.Cut(latest, " "); ok {
		a.LatestToken, a.TokenExpiresAt = tok, parseTime(exp)
	}
	return a, nil
}

func findAuthorization(ctx context.Context, q queryer, code string) (Authorization, error) {
	a, err := scanAuthorization(q.QueryRowContext(ctx,
		`SELECT `+authorizationColumns+` FROM sandbox_authorizations a WHERE a.authorization_code = ?`, code))
	if errors.Is(err, sql.ErrNoRows) {
		return a, ErrNotFound
	}
	if err != nil {
		return a, fmt.Errorf("sandbox: find authorization: %w", err)
	}
	return a, nil
}

// Authorization returns one authorization by its code.
func (s *Sandbox) Authorization(ctx context.Context, code string) (Authorization, error) {
	return findAuthorization(ctx, s.db.Read, code)
}

// Authorizations returns every authorization, the most recently changed first.
func (s *Sandbox) Authorizations(ctx context.Context) ([]Authorization, error) {
	rows, err := s.db.Read.QueryContext(ctx,
		`SELECT `+authorizationColumns+` FROM sandbox_authorizations a ORDER BY a.updated_at DESC, a.authorization_code`)
	if err != nil {
		return nil, fmt.Errorf("sandbox: list authorizations: %w", err)
	}
	defer rows.Close()
	var out []Authorization
	for rows.Next() {
		a, err := scanAuthorization(rows)
		if err != nil {
			return nil, fmt.Errorf("sandbox: list authorizations: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// tokenInfo is one apply_permissions_token and what became of it.
type tokenInfo struct {
	Code      string
	ExpiresAt time.Time
	Outcome   string // "", "agreed" or "declined"
}

func findToken(ctx context.Context, q queryer, token string) (tokenInfo, error) {
	var t tokenInfo
	var exp string
	err := q.QueryRowContext(ctx, `SELECT authorization_code, expires_at, outcome FROM sandbox_tokens WHERE token = ?`, token).
		Scan(&t.Code, &exp, &t.Outcome)
	if errors.Is(err, sql.ErrNoRows) {
		return t, ErrNotFound
	}
	if err != nil {
		return t, fmt.Errorf("sandbox: find token: %w", err)
	}
	t.ExpiresAt = parseTime(exp)
	return t, nil
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
		if _, err := tx.ExecContext(ctx, `UPDATE sandbox_authorizations SET state = 'AVAILABLE', openid = ?, user_label = ?,
			success_time = ?, terminate_reason = '', updated_at = ? WHERE authorization_code = ?`,
			a.OpenID, a.UserLabel, fmtTime(now), fmtTime(now), a.Code); err != nil {
			return fmt.Errorf("sandbox: agree: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sandbox_tokens SET outcome = 'agreed', outcome_at = ? WHERE token = ?`,
			fmtTime(now), token); err != nil {
			return fmt.Errorf("sandbox: agree: %w", err)
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
		if _, err := tx.ExecContext(ctx, `UPDATE sandbox_tokens SET outcome = 'declined', outcome_at = ? WHERE token = ?`,
			fmtTime(now), token); err != nil {
			return fmt.Errorf("sandbox: decline: %w", err)
		}
		return nil
	})
}

// UserClose is the user turning the service off in WeChat: an AVAILABLE
// authorization becomes UNAVAILABLE and its close notification is queued.
func (s *Sandbox) UserClose(ctx context.Context, code string) error {
	return s.close(ctx, code, "", "")
}
