package service

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/payscore-console/payscore-console/store"
)

// FunnelWindow is how long a visitor's repeated step counts once.
const FunnelWindow = time.Minute

// funnelKeySetting names the setting that holds the key visitors are hashed
// with: one per database, so every instance hashes alike.
const funnelKeySetting = "funnel_key"

// Funnel steps a landing page reports itself (the others the server sees).
var beaconSteps = []string{store.FunnelInvoked, store.FunnelAnswerOK, store.FunnelAnswerCancel, store.FunnelAnswerError}

// FunnelStore is what the funnel needs from the database.
type FunnelStore interface {
	RecordFunnelStep(ctx context.Context, linkID int64, step, visitor string, window time.Duration) (bool, error)
	LinkFunnel(ctx context.Context, linkID int64) (map[string]int, error)
	SettingOrCreate(ctx context.Context, key string, create func() (string, error)) (string, error)
}

// Funnel counts the steps users take on a link's landing page: counts only,
// no personal data. A visitor is a keyed hash of their address and browser,
// kept a few minutes to count repeats within FunnelWindow once; bots are
// not counted at all.
type Funnel struct {
	Store  FunnelStore
	Now    func() time.Time
	Logger *slog.Logger

	mu  sync.Mutex
	key []byte
}

// Visitor is who took a step, as the request shows them.
type Visitor struct {
	IP        string
	UserAgent string
}

// FunnelCounts is a link's funnel: the steps' counts, by store.Funnel*.
type FunnelCounts map[string]int

// Record counts step for the link, once per visitor within FunnelWindow;
// it reports whether it counted. Bots and unknown steps are not counted.
func (f *Funnel) Record(ctx context.Context, linkID int64, step string, v Visitor) (bool, error) {
	if !slices.Contains(store.FunnelSteps, step) {
		return false, newError(Invalid, "", nil)
	}
	if IsBot(v.UserAgent) {
		return false, nil
	}
	key, err := f.hashKey(ctx)
	if err != nil {
		return false, err
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(v.IP))
	m.Write([]byte{0})
	m.Write([]byte(v.UserAgent))
	return f.Store.RecordFunnelStep(ctx, linkID, step, hex.EncodeToString(m.Sum(nil))[:32], FunnelWindow)
}

// RecordBeacon counts a step the landing page reports: "invoked", or
// "answer" with the openBusinessView callback's err_code and err_msg
// (err_code is a Number on iOS, a String on Android: parsed as an integer;
// 0 is a return, a message ending in ":cancel" a decline, anything else an
// error). Other steps are Invalid: the page cannot claim the server's.
func (f *Funnel) RecordBeacon(ctx context.Context, linkID int64, step, errCode, errMsg string, v Visitor) (bool, error) {
	if step == "answer" {
		step = AnswerStep(errCode, errMsg)
	}
	if !slices.Contains(beaconSteps, step) {
		return false, newError(Invalid, "", nil)
	}
	return f.Record(ctx, linkID, step, v)
}

// AnswerStep classifies the openBusinessView callback's answer.
func AnswerStep(errCode, errMsg string) string {
	code, err := strconv.Atoi(strings.TrimSpace(errCode))
	switch {
	case strings.HasSuffix(strings.ToLower(errMsg), ":cancel"):
		return store.FunnelAnswerCancel
	case err == nil && code == 0:
		return store.FunnelAnswerOK
	}
	return store.FunnelAnswerError
}

// BeaconToken is what a landing page of the link, rendered at now, sends
// with its beacons: a keyed hash of the link and the hour, so counts cannot
// be posted for a link without loading its page first.
func (f *Funnel) BeaconToken(ctx context.Context, linkID int64, now time.Time) (string, error) {
	key, err := f.hashKey(ctx)
	if err != nil {
		return "", err
	}
	return beaconToken(key, linkID, now.Unix()/3600), nil
}

// CheckBeaconToken reports whether token is the link's from this hour or
// the two before (a page may stay open a while).
func (f *Funnel) CheckBeaconToken(ctx context.Context, linkID int64, token string) (bool, error) {
	key, err := f.hashKey(ctx)
	if err != nil {
		return false, err
	}
	hour := nowOr(f.Now).Unix() / 3600
	for h := hour; h >= hour-2; h-- {
		if hmac.Equal([]byte(token), []byte(beaconToken(key, linkID, h))) {
			return true, nil
		}
	}
	return false, nil
}

func beaconToken(key []byte, linkID, hour int64) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("beacon|" + strconv.FormatInt(linkID, 10) + "|" + strconv.FormatInt(hour, 10)))
	return hex.EncodeToString(m.Sum(nil))[:32]
}

// ForLink is a link's funnel counts.
func (f *Funnel) ForLink(ctx context.Context, linkID int64) (FunnelCounts, error) {
	c, err := f.Store.LinkFunnel(ctx, linkID)
	return FunnelCounts(c), err
}

func (f *Funnel) hashKey(ctx context.Context) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.key != nil {
		return f.key, nil
	}
	s, err := f.Store.SettingOrCreate(ctx, funnelKeySetting, func() (string, error) {
		b := make([]byte, 32)
		_, err := rand.Read(b)
		return hex.EncodeToString(b), err
	})
	if err != nil {
		return nil, err
	}
	f.key = []byte(s)
	return f.key, nil
}

// botMarkers are lower-case pieces of the User-Agents of crawlers, link
// previewers and scripts. WeChat's own link preview fetches as a browser,
// and is counted like one.
var botMarkers = []string{"bot", "spider", "crawl", "slurp", "preview", "facebookexternalhit", "curl/", "wget/",
	"python", "go-http-client", "java/", "okhttp", "libwww", "httpclient", "headlesschrome", "phantomjs", "scrapy", "monitor"}

// IsBot reports whether a User-Agent is a crawler's, a previewer's or a
// script's rather than a person's browser (an empty one is a script's).
func IsBot(ua string) bool {
	ua = strings.ToLower(strings.TrimSpace(ua))
	if ua == "" {
		return true
	}
	for _, m := range botMarkers {
		if strings.Contains(ua, m) {
			return true
		}
	}
	return false
}
