package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"time"
)

// HistoryCodePrefix starts the authorization codes SeedHistory makes, so
// that seeded history is told apart from real links at a glance.
const HistoryCodePrefix = "HIST"

// SeedHistory writes `days` days of made-up but plausible history, ending
// at the start of today (Beijing) or 24 hours before now if that is earlier,
// for the registered sub-merchants given: links created each day (more
// on weekdays, growing), their funnel (opened, version check, invoked, the
// page's answer), the USER_OPEN_SERVICE notification of those agreed, some
// later closed by the user (USER_CLOSE_SERVICE) or terminated by support,
// and a few refused notification attempts. Rows carry their historical
// times, so the day counts the charts read come from the same triggers as
// live data. The same seed gives the same history. Its links' tokens are
// expired and marked reconciled, so nothing asks WeChat Pay about them.
// Notifications are stored last, in time order and before anything newer:
// the overview counts the last 24 hours' by their dense ids.
func (db *DB) SeedHistory(ctx context.Context, subMchIDs []string, now time.Time, days int, seed uint64) error {
	rnd := mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	run := fmt.Sprintf("%06X", seed%0xFFFFFF)
	today := now.UTC().Add(dayOffset).Truncate(24 * time.Hour).Add(-dayOffset) // today's start, Beijing
	end := today
	if dayAgo := now.Add(-24 * time.Hour); dayAgo.Before(end) {
		end = dayAgo
	}
	start := today.Add(-time.Duration(days) * 24 * time.Hour)
	h := &history{end: end}
	n := 0
	for d := range days {
		err := db.update(ctx, func(tx *Tx) error {
			dayStart := start.Add(time.Duration(d) * 24 * time.Hour)
			for si, sub := range subMchIDs {
				var mID int64
				if err := tx.QueryRowContext(ctx, `SELECT id FROM sub_merchants WHERE sub_mchid = ?`, sub).Scan(&mID); err != nil {
					return fmt.Errorf("store: seed history: sub-merchant %s: %w", sub, err)
				}
				// Busier on weekdays, growing over the month, the first
				// sub-merchant the busiest.
				base := 4 + d/4 + (len(subMchIDs)-si)*2
				if wd := dayStart.Add(dayOffset).Weekday(); wd == time.Saturday || wd == time.Sunday {
					base /= 2
				}
				links := base + rnd.IntN(base/2+2)
				for range links {
					n++
					if err := h.link(ctx, tx, rnd, mID, sub, fmt.Sprintf("%s%s%06d", HistoryCodePrefix, run, n), dayStart); err != nil {
						return err
					}
				}
			}
			for r := range rnd.IntN(4) + map[bool]int{true: 12, false: 0}[d == days/3] {
				at := dayStart.Add(time.Duration(rnd.Int64N(int64(24 * time.Hour))))
				if !at.Before(end) {
					continue
				}
				// One attempt a row; key_id (the notification id) keeps
				// each its own aggregation key.
				id := fmt.Sprintf("EV-HIST-R%s%05d%02d", run, d, r)
				if _, err := tx.ExecContext(ctx, `INSERT INTO callback_refusals (received_at, last_at, minute, count, remote_addr, reason, serial, notification_id, key_id)
					VALUES (?, ?, ?, 1, ?, ?, '', ?, ?)`,
					fmtTime(at), fmtTime(at), fmtTime(at)[:16], "203.0.113."+fmt.Sprint(1+rnd.IntN(250)), []string{"bad_signature", "timestamp_skew", "unknown_sub_mchid"}[r%3],
					id, id); err != nil {
					return fmt.Errorf("store: seed history: refusal: %w", err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	slices.SortFunc(h.callbacks, func(a, b histCallback) int { return a.at.Compare(b.at) })
	return db.update(ctx, func(tx *Tx) error {
		for _, c := range h.callbacks {
			if err := historyCallback(ctx, tx, c.code, c.sub, c.openid, c.event, c.at); err != nil {
				return err
			}
		}
		return nil
	})
}

// history collects the notifications of the seeded history, stored last in
// time order; nothing happens at or after end.
type history struct {
	end       time.Time
	callbacks []histCallback
}

type histCallback struct {
	code, sub, openid, event string
	at                       time.Time
}

func (h *history) notify(code, sub, openid, event string, at time.Time) {
	h.callbacks = append(h.callbacks, histCallback{code, sub, openid, event, at})
}

// link writes one link of the history and what became of it.
func (h *history) link(ctx context.Context, tx *Tx, rnd *mrand.Rand, mID int64, sub, code string, dayStart time.Time) error {
	now := h.end
	created := dayStart.Add(8*time.Hour + time.Duration(rnd.Int64N(int64(12*time.Hour))))
	if !created.Add(time.Hour).Before(now) {
		return nil // past the end of the history
	}
	slug := make([]byte, 18)
	_, _ = rand.Read(slug)
	var linkID int64
	err := tx.QueryRowContext(ctx, `INSERT INTO links (slug, sub_merchant_id, sub_appid, authorization_code, token, token_expires_at, notify_url,
		created_at, reconciled_at) VALUES (?, ?, '', ?, ?, ?, '', ?, ?) RETURNING id`, base64.RawURLEncoding.EncodeToString(slug), mID, code,
		"hist-"+code, fmtTime(created.Add(time.Hour)), fmtTime(created), fmtTime(created.Add(2*time.Hour))).Scan(&linkID)
	if err != nil {
		return fmt.Errorf("store: seed history: link: %w", err)
	}
	state, stateAt := StateUnbindUser, created
	var success, cancel any
	step := func(name string, at time.Time) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO link_funnel (link_id, step, n) VALUES (?, ?, 1) ON CONFLICT (link_id, step) DO UPDATE SET n = link_funnel.n + 1`,
			linkID, name); err != nil {
			return fmt.Errorf("store: seed history: funnel: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO daily_counts (day, sub_mchid, metric, n) VALUES (?, ?, ?, 1)
			ON CONFLICT (day, sub_mchid, metric) DO UPDATE SET n = daily_counts.n + 1`, Day(at), sub, funnelMetricPrefix+name); err != nil {
			return fmt.Errorf("store: seed history: funnel: %w", err)
		}
		return nil
	}
	at := created.Add(time.Duration(1+rnd.IntN(40)) * time.Minute)
	opened := rnd.Float64() < 0.85
	if opened {
		if _, err := tx.ExecContext(ctx, `UPDATE links SET opens = 1, last_opened_at = ? WHERE id = ?`, fmtTime(at), linkID); err != nil {
			return fmt.Errorf("store: seed history: %w", err)
		}
		if err := step(FunnelOpened, at); err != nil {
			return err
		}
		switch p := rnd.Float64(); {
		case p < 0.06:
			return finishHistoryLink(ctx, tx, step(FunnelCheckOutside, at), code, sub, state, stateAt, success, cancel)
		case p < 0.10:
			return finishHistoryLink(ctx, tx, step(FunnelCheckOld, at), code, sub, state, stateAt, success, cancel)
		}
		if err := step(FunnelCheckOK, at); err != nil {
			return err
		}
		if rnd.Float64() < 0.95 {
			at = at.Add(time.Duration(2+rnd.IntN(20)) * time.Second)
			if err := step(FunnelInvoked, at); err != nil {
				return err
			}
			at = at.Add(time.Duration(10+rnd.IntN(80)) * time.Second)
			switch p := rnd.Float64(); {
			case p < 0.08:
				return finishHistoryLink(ctx, tx, step(FunnelAnswerCancel, at), code, sub, state, stateAt, success, cancel)
			case p < 0.12:
				return finishHistoryLink(ctx, tx, step(FunnelAnswerError, at), code, sub, state, stateAt, success, cancel)
			}
			if err := step(FunnelAnswerOK, at); err != nil {
				return err
			}
			if rnd.Float64() < 0.82 {
				openid := fmt.Sprintf("oHist%023d", rnd.Int64N(1e15))
				h.notify(code, sub, openid, EventOpen, at.Add(-3*time.Second))
				state, stateAt, success = StateAvailable, at, fmtTime(at)
				switch p := rnd.Float64(); {
				case p < 0.06:
					closed := at.Add(time.Duration(1+rnd.IntN(6*24)) * time.Hour)
					if closed.Before(now) {
						h.notify(code, sub, openid, EventClose, closed)
						state, stateAt, cancel = StateUnavailable, closed, fmtTime(closed)
					}
				case p < 0.10:
					ended := at.Add(time.Duration(1+rnd.IntN(8*24)) * time.Hour)
					if ended.Before(now) {
						if _, err := tx.ExecContext(ctx, `INSERT INTO terminations (authorization_code, sub_mchid, reason, status, request_id, created_at, finished_at)
							VALUES (?, ?, ?, 'succeeded', ?, ?, ?)`, code, sub, []string{"用户要求解除", "商户停止合作", "重复授权"}[rnd.IntN(3)],
							fmt.Sprintf("hist-%x", rnd.Uint64()), fmtTime(ended), fmtTime(ended.Add(300*time.Millisecond))); err != nil {
							return fmt.Errorf("store: seed history: termination: %w", err)
						}
						state, stateAt, cancel = StateUnavailable, ended, fmtTime(ended)
					}
				}
			}
		}
	}
	return finishHistoryLink(ctx, tx, nil, code, sub, state, stateAt, success, cancel)
}

// finishHistoryLink stores the authorization's last state.
func finishHistoryLink(ctx context.Context, tx *Tx, err error, code, sub, state string, at time.Time, success, cancel any) error {
	if err != nil {
		return err
	}
	ts := fmtTime(at.Truncate(time.Second))
	if _, err := tx.ExecContext(ctx, saveAuthorizationSQL, code, sub, state, "", "", "", success, cancel, ts, "history", ts); err != nil {
		return fmt.Errorf("store: seed history: authorization: %w", err)
	}
	return nil
}

// historyCallback stores a notification as the receiver would have.
func historyCallback(ctx context.Context, tx *Tx, code, sub, openid, event string, at time.Time) error {
	status, summary := "USER_OPEN_SERVICE", "授权成功"
	if event == EventClose {
		status, summary = "USER_CLOSE_SERVICE", "解除授权"
	}
	id := "EV-" + code + "-" + status[5:9]
	envelope := fmt.Sprintf(`{"id":%q,"create_time":%q,"resource_type":"encrypt-resource","event_type":%q,"summary":%q,"resource":{"original_type":"payscore","algorithm":"AEAD_AES_256_GCM","ciphertext":"(history)","associated_data":"payscore","nonce":"0123456789ab"}}`,
		id, at.Format(time.RFC3339), event, summary)
	payload := fmt.Sprintf(`{"appid":"wxd678efh567hg6787","mchid":"1900000109","sub_mchid":%q,"service_id":"2002000000000558128851361561536","openid":%q,"user_service_status":%q,"openorclose_time":%q,"authorization_code":%q}`,
		sub, openid, status, at.In(shanghaiTZ).Format("20060102150405"), code)
	ts := fmtTime(at)
	var cbID int64
	err := tx.QueryRowContext(ctx, `INSERT INTO callbacks (notification_id, event_type, authorization_code, sub_mchid, openid, sub_openid,
		openorclose_time, create_time, serial, envelope, payload, applied, deliveries, first_received_at, last_received_at)
		VALUES (?, ?, ?, ?, ?, '', ?, ?, 'PUB_KEY_ID_HISTORY', ?, ?, 1, 1, ?, ?) RETURNING id`, id, event, code, sub, openid, ts, at.Format(time.RFC3339),
		envelope, payload, ts, ts).Scan(&cbID)
	if err != nil {
		return fmt.Errorf("store: seed history: callback: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO callback_deliveries (callback_id, received_at, remote_addr, serial, outcome) VALUES (?, ?, '127.0.0.1', 'PUB_KEY_ID_HISTORY', ?)`,
		cbID, ts, OutcomeAccepted); err != nil {
		return fmt.Errorf("store: seed history: delivery: %w", err)
	}
	return nil
}

// shanghaiTZ is Beijing time, in which WeChat Pay writes openorclose_time.
var shanghaiTZ = time.FixedZone("CST", 8*3600)
