package sandbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/payscore-console/payscore-console/store"
)

// db is the sandbox's own small store: its sandbox_ tables live in the
// console's SQLite file, reached over connections of its own (never the
// console's handles). Every statement of the package is in this file.
type db struct {
	write *sql.DB // one connection: the sandbox's writes take turns
	read  *sql.DB
}

// openDB opens the sandbox's connections to the SQLite file at path and
// applies the sandbox's own migration set.
func openDB(ctx context.Context, path string) (*db, error) {
	write, err := sql.Open("sqlite3", dsn(path, true))
	if err != nil {
		return nil, fmt.Errorf("sandbox: open writer: %w", err)
	}
	write.SetMaxOpenConns(1)
	read, err := sql.Open("sqlite3", dsn(path, false))
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sandbox: open readers: %w", err)
	}
	read.SetMaxOpenConns(4)
	d := &db{write: write, read: read}
	if err := store.Migrate(ctx, write, "sandbox", migrations, "migrations"); err != nil {
		d.close()
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	return d, nil
}

// dsn builds the connection string: the console's settings (WAL, foreign
// keys, a busy time-out that lets the two writers of the file take turns,
// BEGIN IMMEDIATE for writes).
func dsn(path string, writer bool) string {
	q := url.Values{}
	q.Set("_busy_timeout", "5000")
	q.Set("_foreign_keys", "on")
	q.Set("_journal_mode", "WAL")
	if writer {
		q.Set("_txlock", "immediate")
	} else {
		q.Set("_query_only", "true")
	}
	return "file:" + path + "?" + q.Encode()
}

func (d *db) close() error { return errors.Join(d.read.Close(), d.write.Close()) }

// update runs fn in a write transaction and commits if fn returns nil.
func (d *db) update(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := d.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sandbox: begin: %w", err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sandbox: commit: %w", err)
	}
	return nil
}

// queryer is what *sql.Tx and *sql.DB share.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Times are stored as UTC text that sorts, like the console's own store.
const timeFormat = "2006-01-02T15:04:05.000000000Z"

func fmtTime(t time.Time) string { return t.UTC().Format(timeFormat) }

// parseTime reads a stored time; text that is not one is an error.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(timeFormat, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("sandbox: stored time %q: %w", s, err)
	}
	return t, nil
}

// timeCol scans a stored time into *T; NULL leaves the zero time, text
// that does not parse fails the scan.
type timeCol struct{ T *time.Time }

// Scan implements sql.Scanner.
func (c timeCol) Scan(v any) error {
	var s string
	switch v := v.(type) {
	case nil:
		*c.T = time.Time{}
		return nil
	case string:
		s = v
	case []byte:
		s = string(v)
	default:
		return fmt.Errorf("sandbox: stored time: got %T, want text", v)
	}
	t, err := parseTime(s)
	if err != nil {
		return err
	}
	*c.T = t
	return nil
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return fmtTime(t)
}

// --- identity ---

// insertIdentity stores the one identity row unless one exists: if two
// processes start on a fresh database at once, the first row wins and both
// read it back.
func (d *db) insertIdentity(ctx context.Context, merchantKey, certSerial, platformKey, publicKeyID, forgerKey, apiv3Key, mpSecret string, now time.Time) error {
	_, err := d.write.ExecContext(ctx, `INSERT OR IGNORE INTO sandbox_identity
		(id, merchant_key, cert_serial, platform_key, public_key_id, forger_key, apiv3_key, mp_secret, created_at)
		VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)`,
		merchantKey, certSerial, platformKey, publicKeyID, forgerKey, apiv3Key, mpSecret, fmtTime(now))
	if err != nil {
		return fmt.Errorf("sandbox: save identity: %w", err)
	}
	return nil
}

// storedIdentity is the identity row as stored (keys as PEM).
type storedIdentity struct {
	merchantKey, certSerial, platformKey, publicKeyID, forgerKey, apiv3Key, mpSecret string
}

// findIdentity reads the identity row; sql.ErrNoRows when there is none.
func (d *db) findIdentity(ctx context.Context) (storedIdentity, error) {
	var r storedIdentity
	err := d.write.QueryRowContext(ctx, `SELECT merchant_key, cert_serial, platform_key, public_key_id,
		forger_key, apiv3_key, mp_secret FROM sandbox_identity WHERE id = 1`).
		Scan(&r.merchantKey, &r.certSerial, &r.platformKey, &r.publicKeyID, &r.forgerKey, &r.apiv3Key, &r.mpSecret)
	if errors.Is(err, sql.ErrNoRows) {
		return r, err
	}
	if err != nil {
		return r, fmt.Errorf("sandbox: read identity: %w", err)
	}
	return r, nil
}

// --- settings ---

// setting reads one sandbox setting ("" when unset).
func setting(ctx context.Context, q queryer, key string) (string, error) {
	var v string
	err := q.QueryRowContext(ctx, `SELECT value FROM sandbox_settings WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("sandbox: read setting %s: %w", key, err)
	}
	return v, nil
}

// saveSetting stores one sandbox setting.
func saveSetting(ctx context.Context, tx *sql.Tx, key, value string) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO sandbox_settings (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value); err != nil {
		return fmt.Errorf("sandbox: save setting %s: %w", key, err)
	}
	return nil
}

// --- authorizations and tokens ---

const authorizationColumns = `a.authorization_code, a.appid, a.service_id, a.channel_id, a.sub_mchid, a.sub_appid,
	a.notify_url, a.state, a.openid, a.user_label, a.success_time, a.cancel_time, a.terminate_reason,
	a.created_at, a.updated_at,
	coalesce((SELECT token || ' ' || expires_at FROM sandbox_tokens t WHERE t.authorization_code = a.authorization_code
		ORDER BY created_at DESC LIMIT 1), '')`

func scanAuthorization(sc interface{ Scan(...any) error }) (Authorization, error) {
	var a Authorization
	var latest string
	err := sc.Scan(&a.Code, &a.AppID, &a.ServiceID, &a.ChannelID, &a.SubMchID, &a.SubAppID, &a.NotifyURL,
		&a.State, &a.OpenID, &a.UserLabel, timeCol{&a.SuccessTime}, timeCol{&a.CancelTime}, &a.TerminateReason,
		timeCol{&a.CreatedAt}, timeCol{&a.UpdatedAt}, &latest)
	if err != nil {
		return a, err
	}
	if tok, exp, ok := strings.Cut(latest, " "); ok {
		if a.TokenExpiresAt, err = parseTime(exp); err != nil {
			return a, err
		}
		a.LatestToken = tok
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

// listAuthorizations returns every authorization, the most recently
// changed first.
func (d *db) listAuthorizations(ctx context.Context) ([]Authorization, error) {
	rows, err := d.read.QueryContext(ctx,
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

// insertAuthorization records a first pre-authorization (UNBINDUSER).
func insertAuthorization(ctx context.Context, tx *sql.Tx, a Authorization, now time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO sandbox_authorizations
		(authorization_code, appid, service_id, channel_id, sub_mchid, sub_appid, notify_url, state, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.Code, a.AppID, a.ServiceID, a.ChannelID, a.SubMchID, a.SubAppID, a.NotifyURL, store.StateUnbindUser,
		fmtTime(now), fmtTime(now))
	if err != nil {
		return fmt.Errorf("sandbox: insert authorization: %w", err)
	}
	return nil
}

// setAgreed turns an authorization on for the user a.OpenID with label
// a.UserLabel at now.
func setAgreed(ctx context.Context, tx *sql.Tx, a Authorization, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `UPDATE sandbox_authorizations SET state = ?, openid = ?, user_label = ?,
		success_time = ?, terminate_reason = '', updated_at = ? WHERE authorization_code = ?`,
		store.StateAvailable, a.OpenID, a.UserLabel, fmtTime(now), fmtTime(now), a.Code); err != nil {
		return fmt.Errorf("sandbox: agree: %w", err)
	}
	return nil
}

// setClosed turns an authorization off at now, with the merchant's reason
// ("" when the user closed it).
func setClosed(ctx context.Context, tx *sql.Tx, code, reason string, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `UPDATE sandbox_authorizations SET state = ?, cancel_time = ?,
		terminate_reason = ?, updated_at = ? WHERE authorization_code = ?`,
		store.StateUnavailable, fmtTime(now), reason, fmtTime(now), code); err != nil {
		return fmt.Errorf("sandbox: close authorization: %w", err)
	}
	return nil
}

// insertToken records a new apply_permissions_token for code.
func insertToken(ctx context.Context, tx *sql.Tx, token, code string, now, expires time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO sandbox_tokens (token, authorization_code, created_at, expires_at)
		VALUES (?, ?, ?, ?)`, token, code, fmtTime(now), fmtTime(expires))
	if err != nil {
		return fmt.Errorf("sandbox: insert token: %w", err)
	}
	return nil
}

func findToken(ctx context.Context, q queryer, token string) (tokenInfo, error) {
	var t tokenInfo
	err := q.QueryRowContext(ctx, `SELECT authorization_code, expires_at, outcome FROM sandbox_tokens WHERE token = ?`, token).
		Scan(&t.Code, timeCol{&t.ExpiresAt}, &t.Outcome)
	if errors.Is(err, sql.ErrNoRows) {
		return t, ErrNotFound
	}
	if err != nil {
		return t, fmt.Errorf("sandbox: find token: %w", err)
	}
	return t, nil
}

// setTokenOutcome records what the user did with a token ("agreed" or
// "declined") at now.
func setTokenOutcome(ctx context.Context, tx *sql.Tx, token, outcome string, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `UPDATE sandbox_tokens SET outcome = ?, outcome_at = ? WHERE token = ?`,
		outcome, fmtTime(now), token); err != nil {
		return fmt.Errorf("sandbox: token %s: %w", outcome, err)
	}
	return nil
}

// --- API calls ---

// insertCall records a verified API call.
func insertCall(ctx context.Context, tx *sql.Tx, c Call) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO sandbox_calls (at, method, path, authorization_code) VALUES (?, ?, ?, ?)`,
		fmtTime(c.At), c.Method, c.Path, c.AuthorizationCode)
	return err
}

// listCalls lists the verified API calls for an authorization_code, oldest
// first.
func (d *db) listCalls(ctx context.Context, code string) ([]Call, error) {
	rows, err := d.read.QueryContext(ctx, `SELECT at, method, path, authorization_code FROM sandbox_calls WHERE authorization_code = ? ORDER BY id`, code)
	if err != nil {
		return nil, fmt.Errorf("sandbox: calls: %w", err)
	}
	defer rows.Close()
	var out []Call
	for rows.Next() {
		var c Call
		if err := rows.Scan(timeCol{&c.At}, &c.Method, &c.Path, &c.AuthorizationCode); err != nil {
			return nil, fmt.Errorf("sandbox: calls: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// --- notifications and their attempts ---

// insertNotification stores a notification with its fixed body; next is
// its first attempt's time (zero for none).
func insertNotification(ctx context.Context, q queryer, n Notification, next time.Time) error {
	if _, err := q.ExecContext(ctx, `INSERT INTO sandbox_notifications
		(id, authorization_code, event_type, notify_url, plaintext, body, status, created_at, next_attempt_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		n.ID, n.AuthorizationCode, n.EventType, n.NotifyURL, n.Plaintext, n.Body, n.Status, fmtTime(n.CreatedAt), nullTime(next)); err != nil {
		return fmt.Errorf("sandbox: queue notification: %w", err)
	}
	return nil
}

// insertForged stores a forged notification (never scheduled).
func (d *db) insertForged(ctx context.Context, n Notification) error {
	n.Status = NotificationForged
	if err := insertNotification(ctx, d.write, n, time.Time{}); err != nil {
		return fmt.Errorf("sandbox: forged notification: %w", err)
	}
	return nil
}

// insertAttempt records an attempt of a notification and notes the first
// attempt's time.
func insertAttempt(ctx context.Context, tx *sql.Tx, id string, a Attempt) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO sandbox_attempts (notification_id, at, kind, status_code, error, duration_ms)
		VALUES (?, ?, ?, ?, ?, ?)`, id, fmtTime(a.At), a.Kind, a.StatusCode, a.Error, a.Duration.Milliseconds()); err != nil {
		return fmt.Errorf("sandbox: record attempt: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE sandbox_notifications SET first_attempt_at = coalesce(first_attempt_at, ?)
		WHERE id = ?`, fmtTime(a.At), id); err != nil {
		return fmt.Errorf("sandbox: record attempt: %w", err)
	}
	return nil
}

// setDelivered ends a pending or failed notification's retries.
func setDelivered(ctx context.Context, tx *sql.Tx, id string) error {
	_, err := tx.ExecContext(ctx, `UPDATE sandbox_notifications SET status = ?, next_attempt_at = NULL
		WHERE id = ? AND status IN (?, ?)`, NotificationDelivered, id, NotificationPending, NotificationFailed)
	return err
}

// scheduledSoFar counts a notification's scheduled attempts and reads when
// it was first attempted.
func scheduledSoFar(ctx context.Context, tx *sql.Tx, id string) (scheduled int, first time.Time, err error) {
	if err := tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM sandbox_attempts WHERE notification_id = n.id AND kind = ?),
		n.first_attempt_at FROM sandbox_notifications n WHERE n.id = ?`, AttemptScheduled, id).Scan(&scheduled, timeCol{&first}); err != nil {
		return 0, time.Time{}, fmt.Errorf("sandbox: record attempt: %w", err)
	}
	return scheduled, first, nil
}

// setGivenUp ends a pending notification's retries as failed.
func setGivenUp(ctx context.Context, tx *sql.Tx, id string) error {
	_, err := tx.ExecContext(ctx, `UPDATE sandbox_notifications SET status = ?, next_attempt_at = NULL
		WHERE id = ? AND status = ?`, NotificationFailed, id, NotificationPending)
	return err
}

// setNextAttempt schedules a pending notification's next attempt (a resend
// may have delivered it meanwhile: then nothing changes).
func setNextAttempt(ctx context.Context, tx *sql.Tx, id string, next time.Time) error {
	_, err := tx.ExecContext(ctx, `UPDATE sandbox_notifications SET next_attempt_at = ? WHERE id = ? AND status = ?`,
		fmtTime(next), id, NotificationPending)
	return err
}

// notificationFilter selects notifications: by id, by code, or all.
type notificationFilter struct {
	ID, Code string
	// DueAt selects the pending notifications whose next attempt is due at
	// that time, the most overdue first.
	DueAt time.Time
}

func (f notificationFilter) where() (string, []any) {
	switch {
	case !f.DueAt.IsZero():
		return `n.status = ? AND n.next_attempt_at <= ?`, []any{NotificationPending, fmtTime(f.DueAt)}
	case f.ID != "":
		return `n.id = ?`, []any{f.ID}
	case f.Code != "":
		return `n.authorization_code = ?`, []any{f.Code}
	}
	return `1`, nil
}

// listNotifications lists the notifications matching f, newest first (by
// id when f.ID is set), each with its attempts, in one snapshot.
func (d *db) listNotifications(ctx context.Context, f notificationFilter) ([]Notification, error) {
	filter, args := f.where()
	order := `n.created_at DESC, n.id`
	switch {
	case f.ID != "":
		order = `n.id`
	case !f.DueAt.IsZero():
		order = `n.next_attempt_at`
	}
	tx, err := d.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("sandbox: list notifications: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT n.id, n.authorization_code, n.event_type, n.notify_url, n.status,
		n.plaintext, n.body, n.created_at, n.first_attempt_at, n.next_attempt_at FROM sandbox_notifications n
		WHERE `+filter+` ORDER BY `+order, args...)
	if err != nil {
		return nil, fmt.Errorf("sandbox: list notifications: %w", err)
	}
	var out []Notification
	index := map[string]int{}
	for rows.Next() {
		var n Notification
		if err := rows.Scan(&n.ID, &n.AuthorizationCode, &n.EventType, &n.NotifyURL, &n.Status, &n.Plaintext, &n.Body,
			timeCol{&n.CreatedAt}, timeCol{&n.FirstAttemptAt}, timeCol{&n.NextAttemptAt}); err != nil {
			rows.Close()
			return nil, fmt.Errorf("sandbox: list notifications: %w", err)
		}
		index[n.ID] = len(out)
		out = append(out, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sandbox: list notifications: %w", err)
	}
	if len(out) == 0 {
		return out, nil
	}
	// One query for every attempt of the listed notifications (the sandbox's
	// tables stay small), in the same snapshot.
	arows, err := tx.QueryContext(ctx, `SELECT a.notification_id, a.at, a.kind, a.status_code, a.error, a.duration_ms
		FROM sandbox_attempts a JOIN sandbox_notifications n ON n.id = a.notification_id
		WHERE `+filter+` ORDER BY a.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("sandbox: list attempts: %w", err)
	}
	defer arows.Close()
	for arows.Next() {
		var id string
		var a Attempt
		var ms int64
		if err := arows.Scan(&id, timeCol{&a.At}, &a.Kind, &a.StatusCode, &a.Error, &ms); err != nil {
			return nil, fmt.Errorf("sandbox: list attempts: %w", err)
		}
		a.Duration = time.Duration(ms) * time.Millisecond
		if i, ok := index[id]; ok {
			out[i].Attempts = append(out[i].Attempts, a)
		}
	}
	return out, arows.Err()
}

// --- official account tokens ---

// insertMPToken stores an access_token or jsapi_ticket valid until expires,
// forgetting values expired since long before now.
func insertMPToken(ctx context.Context, tx *sql.Tx, value, kind string, now, expires time.Time) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM sandbox_mp_tokens WHERE expires_at < ?`,
		fmtTime(now.Add(-24*time.Hour))); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO sandbox_mp_tokens (value, kind, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		value, kind, fmtTime(now), fmtTime(expires))
	return err
}

// accessTokenExpiry returns when an access_token (of /cgi-bin/token or
// /cgi-bin/stable_token) expires; ErrNotFound if it was never issued or a
// force_refresh revoked it.
func (d *db) accessTokenExpiry(ctx context.Context, token string) (time.Time, error) {
	var exp time.Time
	err := d.read.QueryRowContext(ctx, `SELECT expires_at FROM sandbox_mp_tokens
		WHERE value = ? AND kind IN ('access_token', 'stable_access_token') AND revoked = 0`, token).Scan(timeCol{&exp})
	if errors.Is(err, sql.ErrNoRows) {
		return exp, ErrNotFound
	}
	if err != nil {
		return exp, fmt.Errorf("sandbox: access_token: %w", err)
	}
	return exp, nil
}

// stableToken is the stable access_token valid until at least minExpiry,
// the newest; ErrNotFound when there is none.
func stableToken(ctx context.Context, tx *sql.Tx, minExpiry time.Time) (string, time.Time, error) {
	var v string
	var exp time.Time
	err := tx.QueryRowContext(ctx, `SELECT value, expires_at FROM sandbox_mp_tokens
		WHERE kind = 'stable_access_token' AND revoked = 0 AND expires_at > ? ORDER BY expires_at DESC LIMIT 1`,
		fmtTime(minExpiry)).Scan(&v, timeCol{&exp})
	if errors.Is(err, sql.ErrNoRows) {
		return "", exp, ErrNotFound
	}
	return v, exp, err
}

// forcedSince counts the force_refresh issues since t and gives the last.
func forcedSince(ctx context.Context, tx *sql.Tx, t time.Time) (int, string, error) {
	var n int
	var last sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT count(*), max(created_at) FROM sandbox_mp_tokens
		WHERE kind = 'stable_access_token' AND forced = 1 AND created_at >= ?`, fmtTime(t)).Scan(&n, &last)
	return n, last.String, err
}

// revokeStableTokens makes every stable access_token invalid (force_refresh).
func revokeStableTokens(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `UPDATE sandbox_mp_tokens SET revoked = 1 WHERE kind = 'stable_access_token' AND revoked = 0`)
	return err
}

// insertStableToken stores a stable access_token.
func insertStableToken(ctx context.Context, tx *sql.Tx, value string, forced bool, now, expires time.Time) error {
	if err := insertMPToken(ctx, tx, value, "stable_access_token", now, expires); err != nil {
		return err
	}
	if forced {
		_, err := tx.ExecContext(ctx, `UPDATE sandbox_mp_tokens SET forced = 1 WHERE value = ?`, value)
		return err
	}
	return nil
}

// liveTickets lists the jsapi_tickets still valid at now.
func (d *db) liveTickets(ctx context.Context, now time.Time) ([]string, error) {
	rows, err := d.read.QueryContext(ctx, `SELECT value FROM sandbox_mp_tokens WHERE kind = 'jsapi_ticket' AND expires_at > ?`, fmtTime(now))
	if err != nil {
		return nil, fmt.Errorf("sandbox: jsapi tickets: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var ticket string
		if err := rows.Scan(&ticket); err != nil {
			return nil, fmt.Errorf("sandbox: jsapi tickets: %w", err)
		}
		out = append(out, ticket)
	}
	return out, rows.Err()
}

// --- platform certificates ---

// storedCert is one platform certificate row (PEM).
type storedCert struct {
	serial, keyPEM, certPEM string
	notBefore, notAfter     time.Time
}

// insertPlatformCert stores a new platform certificate.
func (d *db) insertPlatformCert(ctx context.Context, c storedCert, now time.Time) error {
	_, err := d.write.ExecContext(ctx, `INSERT INTO sandbox_platform_certs (serial, key_pem, cert_pem, not_before, not_after, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`, c.serial, c.keyPEM, c.certPEM, fmtTime(c.notBefore), fmtTime(c.notAfter), fmtTime(now))
	if err != nil {
		return fmt.Errorf("sandbox: save platform certificate: %w", err)
	}
	return nil
}

// listPlatformCerts returns the platform certificates, newest first.
func (d *db) listPlatformCerts(ctx context.Context) ([]storedCert, error) {
	rows, err := d.read.QueryContext(ctx, `SELECT serial, key_pem, cert_pem, not_before, not_after
		FROM sandbox_platform_certs ORDER BY created_at DESC, rowid DESC`)
	if err != nil {
		return nil, fmt.Errorf("sandbox: list platform certificates: %w", err)
	}
	defer rows.Close()
	var out []storedCert
	for rows.Next() {
		var c storedCert
		if err := rows.Scan(&c.serial, &c.keyPEM, &c.certPEM, timeCol{&c.notBefore}, timeCol{&c.notAfter}); err != nil {
			return nil, fmt.Errorf("sandbox: list platform certificates: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
