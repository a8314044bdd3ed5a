package sandbox

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The two notification event types.
const (
	eventOpen  = "PAYSCORE.USER_OPEN_SERVICE"
	eventClose = "PAYSCORE.USER_CLOSE_SERVICE"
)

// Notification statuses.
const (
	// NotificationPending has attempts still to come.
	NotificationPending = "pending"
	// NotificationDelivered got a 200 or 204.
	NotificationDelivered = "delivered"
	// NotificationFailed was given up after the retry window.
	NotificationFailed = "failed"
	// NotificationNoURL was never sent: pre-authorize had no notify_url.
	NotificationNoURL = "no_url"
	// NotificationForged was signed with a wrong key and sent once.
	NotificationForged = "forged"
)

// Attempt kinds.
const (
	// AttemptScheduled follows the retry schedule.
	AttemptScheduled = "scheduled"
	// AttemptResend was asked for by hand.
	AttemptResend = "resend"
	// AttemptDuplicate is a second copy of the same notification.
	AttemptDuplicate = "duplicate"
	// AttemptForged carries a wrong signature.
	AttemptForged = "forged"
)

// Notification is one notification the sandbox created, with its attempts.
type Notification struct {
	ID                string
	AuthorizationCode string
	EventType         string // PAYSCORE.USER_OPEN_SERVICE or PAYSCORE.USER_CLOSE_SERVICE
	NotifyURL         string
	Status            string // one of the Notification… statuses
	Plaintext         string // the decrypted resource, JSON
	Body              string // the request body as sent, JSON
	CreatedAt         time.Time
	FirstAttemptAt    time.Time
	NextAttemptAt     time.Time // zero when no attempt is due
	Attempts          []Attempt // oldest first
}

// Attempt is one POST of a notification to its notify_url.
type Attempt struct {
	At         time.Time
	Kind       string // one of the Attempt… kinds
	StatusCode int    // 0 when no HTTP answer came back
	Error      string // "" when the answer was 200 or 204
	Duration   time.Duration
}

// OK reports whether the receiver accepted the attempt.
func (a Attempt) OK() bool { return a.Error == "" }

// envelope is the notification body; field names are WeChat Pay's.
type envelope struct {
	ID           string   `json:"id"`
	CreateTime   string   `json:"create_time"`
	ResourceType string   `json:"resource_type"`
	EventType    string   `json:"event_type"`
	Summary      string   `json:"summary"`
	Resource     resource `json:"resource"`
}

type resource struct {
	OriginalType   string `json:"original_type"`
	Algorithm      string `json:"algorithm"`
	Ciphertext     string `json:"ciphertext"`
	AssociatedData string `json:"associated_data"`
	Nonce          string `json:"nonce"`
}

// notificationSeq numbers the notifications this process builds.
var notificationSeq atomic.Uint64

// buildNotification returns a new notification id, its plaintext and its
// encrypted body for a's current state.
func (s *Sandbox) buildNotification(a Authorization, event string, now time.Time, exampleSpelling bool) (id string, plaintext, body []byte, err error) {
	mchKey, subKey := "mchid", "sub_mchid"
	if exampleSpelling {
		mchKey, subKey = "mch_id", "sub_mch_id"
	}
	status, summary, at := "USER_OPEN_SERVICE", "授权成功", a.SuccessTime
	if event == eventClose {
		status, summary, at = "USER_CLOSE_SERVICE", "解除授权成功", a.CancelTime
	}
	p := map[string]string{
		"appid":               a.AppID,
		mchKey:                mchID,
		subKey:                a.SubMchID,
		"channel_id":          a.ChannelID,
		"service_id":          a.ServiceID,
		"user_service_status": status,
		// Not RFC 3339: yyyyMMddHHmmss in Beijing time.
		"openorclose_time":   at.In(beijing).Format("20060102150405"),
		"authorization_code": a.Code,
	}
	// Only one of openid / sub_openid, as the spec says.
	if a.SubAppID != "" {
		p["sub_appid"] = a.SubAppID
		p["sub_openid"] = a.OpenID
	} else {
		p["openid"] = a.OpenID
	}
	if plaintext, err = marshalJSON(p); err != nil {
		return "", nil, nil, err
	}
	ad := "payscore"
	nonce, ciphertext, err := s.encrypt(plaintext, ad)
	if err != nil {
		return "", nil, nil, err
	}
	// Unique even for thousands a second: a process-wide sequence, then
	// random digits so that two processes sharing a database do not collide.
	id = fmt.Sprintf("EV-%s%06d%s", now.In(beijing).Format("20060102150405"), notificationSeq.Add(1)%1000000, randDigits(6))
	body, err = marshalJSON(envelope{
		ID:           id,
		CreateTime:   now.In(beijing).Format(time.RFC3339),
		ResourceType: "encrypt-resource",
		EventType:    event,
		Summary:      summary,
		Resource: resource{
			OriginalType:   "payscore",
			Algorithm:      "AEAD_AES_256_GCM",
			Ciphertext:     ciphertext,
			AssociatedData: ad,
			Nonce:          nonce,
		},
	})
	return id, plaintext, body, err
}

// queueNotification creates a's notification for event inside tx, due after
// the schedule's first delay. The body is fixed now: every attempt sends the
// same bytes under a fresh signature, as WeChat Pay does.
func (s *Sandbox) queueNotification(ctx context.Context, tx *sql.Tx, now time.Time, a Authorization, event string) (string, error) {
	st, err := readSettings(ctx, tx)
	if err != nil {
		return "", err
	}
	id, plaintext, body, err := s.buildNotification(a, event, now, st.ExampleSpelling)
	if err != nil {
		return "", err
	}
	a.NotifyURL = s.notifyTarget(a)
	status, next := NotificationPending, now.Add(s.schedule[0])
	if a.NotifyURL == "" {
		status, next = NotificationNoURL, time.Time{}
	}
	n := Notification{ID: id, AuthorizationCode: a.Code, EventType: event, NotifyURL: a.NotifyURL, Plaintext: string(plaintext),
		Body: string(body), Status: status, CreatedAt: now}
	if err := insertNotification(ctx, tx, n, next); err != nil {
		return "", err
	}
	return id, nil
}

// notifyTarget is where a's notifications go: Options.NotifyURL when set,
// else the notify_url its pre-authorize named.
func (s *Sandbox) notifyTarget(a Authorization) string {
	if s.notifyURL != "" {
		return s.notifyURL
	}
	return a.NotifyURL
}

// poke wakes Run so that a just-queued notification goes out at once.
func (s *Sandbox) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run delivers due notifications until ctx is done: about every 500 ms, and
// at once after something was queued.
func (s *Sandbox) Run(ctx context.Context) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		if _, err := s.DeliverDue(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("sandbox: deliver notifications", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.wake:
		}
	}
}

// DeliverDue makes every notification attempt due at Now(), records each,
// and returns how many requests it sent (a duplicate copy counts).
func (s *Sandbox) DeliverDue(ctx context.Context) (int, error) {
	s.deliverMu.Lock()
	defer s.deliverMu.Unlock()
	now := s.now()
	due, err := s.db.listNotifications(ctx, notificationFilter{DueAt: now})
	if err != nil {
		return 0, err
	}
	st, err := s.Settings(ctx)
	if err != nil {
		return 0, err
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		sent  int
		errs  []error
		slots = make(chan struct{}, 8) // a few receivers at once, as WeChat Pay is not serial either
	)
	for _, n := range due {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer func() { <-slots; wg.Done() }()
			k, err := s.deliverScheduled(ctx, n, now, st.Duplicates)
			mu.Lock()
			defer mu.Unlock()
			sent += k
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	return sent, errors.Join(errs...)
}

func (s *Sandbox) deliverScheduled(ctx context.Context, n Notification, now time.Time, duplicates bool) (int, error) {
	key := s.answerKey(ctx)
	a, ok := s.attempt(ctx, n, AttemptScheduled, now, key)
	if !ok {
		return 0, ctx.Err()
	}
	if err := s.record(ctx, n.ID, a); err != nil {
		return 1, err
	}
	if !a.OK() || !duplicates {
		return 1, nil
	}
	d, ok := s.attempt(ctx, n, AttemptDuplicate, now, key)
	if !ok {
		return 1, ctx.Err()
	}
	return 2, s.record(ctx, n.ID, d)
}

// attempt POSTs n's body, signed with key under a fresh timestamp and nonce
// (each attempt is signed anew: after a certificate rotation, a retry is
// signed with the new certificate).
// ok is false when ctx ended the attempt: that was our shutdown, not an
// answer of the receiver, so it is not recorded and stays due.
func (s *Sandbox) attempt(ctx context.Context, n Notification, kind string, at time.Time, key signingKey) (Attempt, bool) {
	a := Attempt{At: at, Kind: kind}
	ts := strconv.FormatInt(s.now().Unix(), 10)
	nonce := randString(32, alnum)
	sig, err := signSHA256(key.key, ts+"\n"+nonce+"\n"+n.Body+"\n")
	if err != nil {
		a.Error = err.Error()
		return a, true
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.NotifyURL, strings.NewReader(n.Body))
	if err != nil {
		a.Error = err.Error()
		return a, true
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Mozilla/4.0")
	req.Header.Set("Wechatpay-Serial", key.serial)
	req.Header.Set("Wechatpay-Signature", sig)
	req.Header.Set("Wechatpay-Timestamp", ts)
	req.Header.Set("Wechatpay-Nonce", nonce)
	req.Header.Set("Wechatpay-Signature-Type", "WECHATPAY2-SHA256-RSA2048")
	start := time.Now() // a measurement, not the simulated clock
	resp, err := s.client.Do(req)
	a.Duration = time.Since(start)
	if err != nil {
		if ctx.Err() != nil {
			return a, false
		}
		a.Error = err.Error()
		return a, true
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // drain so the connection is reused
	a.StatusCode = resp.StatusCode
	// The spec: success is 200 or 204, anything else is a failure.
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		a.Error = fmt.Sprintf("HTTP %d %s", resp.StatusCode, bytes.TrimSpace(snippet))
	}
	return a, true
}

// record stores attempt a of notification id and moves the notification on:
// a success ends it; a failed scheduled attempt sets the next one, or gives
// up when it would fall outside the retry window.
func (s *Sandbox) record(ctx context.Context, id string, a Attempt) error {
	// The attempt happened: record it even if the caller is going away.
	ctx = context.WithoutCancel(ctx)
	return s.update(ctx, func(tx *sql.Tx, _ time.Time) error {
		if err := insertAttempt(ctx, tx, id, a); err != nil {
			return err
		}
		switch {
		case a.Kind == AttemptForged:
			return nil
		case a.OK():
			return setDelivered(ctx, tx, id)
		case a.Kind != AttemptScheduled:
			// A failed hand-made attempt leaves the schedule alone.
			return nil
		}
		scheduled, first, err := scheduledSoFar(ctx, tx, id)
		if err != nil {
			return err
		}
		next := a.At.Add(s.schedule[min(scheduled, len(s.schedule)-1)])
		if next.After(first.Add(s.giveUpAfter)) {
			return setGivenUp(ctx, tx, id)
		}
		return setNextAttempt(ctx, tx, id, next)
	})
}

// Resend sends notification id once more now, outside the schedule. A
// success ends its retries; a failure leaves the schedule as it was. A forged
// notification is sent forged again.
func (s *Sandbox) Resend(ctx context.Context, id string) (Attempt, error) {
	n, err := s.Notification(ctx, id)
	if err != nil {
		return Attempt{}, err
	}
	if n.NotifyURL == "" {
		return Attempt{}, ErrNoNotifyURL
	}
	kind, key := AttemptResend, s.answerKey(ctx)
	if n.Status == NotificationForged {
		kind, key.key = AttemptForged, s.id.forgerKey
	}
	a, ok := s.attempt(ctx, n, kind, s.now(), key)
	if !ok {
		return a, ctx.Err()
	}
	return a, s.record(ctx, id, a)
}

// Duplicate sends notification id twice at once (same id, same body), as
// WeChat Pay may: the receiver must apply it once and answer both.
func (s *Sandbox) Duplicate(ctx context.Context, id string) ([]Attempt, error) {
	n, err := s.Notification(ctx, id)
	if err != nil {
		return nil, err
	}
	if n.NotifyURL == "" {
		return nil, ErrNoNotifyURL
	}
	now := s.now()
	key := s.answerKey(ctx)
	out := make([]Attempt, 2)
	oks := make([]bool, 2)
	var wg sync.WaitGroup
	for i := range out {
		wg.Go(func() { out[i], oks[i] = s.attempt(ctx, n, AttemptDuplicate, now, key) })
	}
	wg.Wait()
	for i, a := range out {
		if !oks[i] {
			return out, ctx.Err()
		}
		if err := s.record(ctx, id, a); err != nil {
			return out, err
		}
	}
	return out, nil
}

// SendForged sends, once, a notification for code's current state (open
// unless it is UNAVAILABLE) that is encrypted correctly and names the right
// public key id but is signed with another key: the receiver must refuse it.
func (s *Sandbox) SendForged(ctx context.Context, code string) (Attempt, error) {
	a, err := s.Authorization(ctx, code)
	if err != nil {
		return Attempt{}, err
	}
	if a.NotifyURL = s.notifyTarget(a); a.NotifyURL == "" {
		return Attempt{}, ErrNoNotifyURL
	}
	now := s.now()
	event := eventOpen
	if a.State == StateUnavailable {
		event = eventClose
	}
	if a.OpenID == "" {
		a.OpenID = "o" + randString(27, alnum+"_-")
	}
	if a.SuccessTime.IsZero() {
		a.SuccessTime = now
	}
	st, err := s.Settings(ctx)
	if err != nil {
		return Attempt{}, err
	}
	id, plaintext, body, err := s.buildNotification(a, event, now, st.ExampleSpelling)
	if err != nil {
		return Attempt{}, err
	}
	if err := s.db.insertForged(ctx, Notification{ID: id, AuthorizationCode: code, EventType: event, NotifyURL: a.NotifyURL,
		Plaintext: string(plaintext), Body: string(body), CreatedAt: now}); err != nil {
		return Attempt{}, err
	}
	n := Notification{ID: id, NotifyURL: a.NotifyURL, Body: string(body)}
	key := s.answerKey(ctx)
	key.key = s.id.forgerKey
	at, ok := s.attempt(ctx, n, AttemptForged, now, key)
	if !ok {
		return at, ctx.Err()
	}
	return at, s.record(ctx, id, at)
}

// Notification returns one notification with its attempts.
func (s *Sandbox) Notification(ctx context.Context, id string) (Notification, error) {
	ns, err := s.db.listNotifications(ctx, notificationFilter{ID: id})
	if err != nil {
		return Notification{}, err
	}
	if len(ns) == 0 {
		return Notification{}, ErrNotFound
	}
	return ns[0], nil
}

// Notifications returns code's notifications (every one when code is ""),
// newest first, each with its attempts.
func (s *Sandbox) Notifications(ctx context.Context, code string) ([]Notification, error) {
	return s.db.listNotifications(ctx, notificationFilter{Code: code})
}
