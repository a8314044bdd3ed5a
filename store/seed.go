package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"time"
)

// SeedCallbacks writes n synthetic notifications — callbacks, their
// deliveries and authorizations, shaped like real ones (an envelope of
// about a kilobyte) — for benchmarks and load tests at scale. Rows are
// spread over the days before now, newest last; a tenth are closes and one
// in fifty was delivered twice.
func (db *DB) SeedCallbacks(ctx context.Context, n int, subMchIDs []string, now time.Time) error {
	const perTx = 5000
	cipher := make([]byte, 420)
	span := 30 * 24 * time.Hour
	run := fmt.Sprintf("%x", now.UnixNano())[4:]
	for done := 0; done < n; {
		batch := min(perTx, n-done)
		err := db.update(ctx, func(tx *Tx) error {
			insCb, err := tx.PrepareContext(ctx, `INSERT INTO callbacks (notification_id, event_type, authorization_code, sub_mchid, openid, sub_openid,
				openorclose_time, create_time, serial, envelope, payload, applied, deliveries, first_received_at, last_received_at)
				VALUES (?, ?, ?, ?, ?, '', ?, ?, 'PUB_KEY_ID_SEED', ?, ?, 1, ?, ?, ?)`)
			if err != nil {
				return err
			}
			insDel, err := tx.PrepareContext(ctx, `INSERT INTO callback_deliveries (callback_id, received_at, remote_addr, serial, outcome) VALUES (?, ?, '127.0.0.1', 'PUB_KEY_ID_SEED', ?)`)
			if err != nil {
				return err
			}
			save, err := tx.PrepareContext(ctx, saveAuthorizationSQL)
			if err != nil {
				return err
			}
			for i := done; i < done+batch; i++ {
				at := now.Add(-span + time.Duration(int64(span)/int64(n)*int64(i)))
				sub := subMchIDs[i%len(subMchIDs)]
				code := fmt.Sprintf("SEED%s%07d", run, i)
				openid := fmt.Sprintf("oSeed%023d", i)
				event, state := EventOpen, StateAvailable
				if i%10 == 9 {
					event, state = EventClose, StateUnavailable
				}
				deliveries := 1
				if i%50 == 0 {
					deliveries = 2
				}
				_, _ = rand.Read(cipher)
				id := fmt.Sprintf("EV-SEED%s%09d", run, i)
				envelope := fmt.Sprintf(`{"id":%q,"create_time":%q,"resource_type":"encrypt-resource","event_type":%q,"summary":"授权成功","resource":{"original_type":"payscore","algorithm":"AEAD_AES_256_GCM","ciphertext":%q,"associated_data":"payscore","nonce":"0123456789ab"}}`,
					id, at.Format(time.RFC3339), event, base64.StdEncoding.EncodeToString(cipher))
				payload := fmt.Sprintf(`{"appid":"wxd678efh567hg6787","mchid":"1900000109","sub_mchid":%q,"service_id":"2002000000000558128851361561536","openid":%q,"user_service_status":"USER_OPEN_SERVICE","openorclose_time":%q,"authorization_code":%q}`,
					sub, openid, at.Format("20060102150405"), code)
				ts := fmtTime(at)
				res, err := insCb.ExecContext(ctx, id, event, code, sub, openid, ts, at.Format(time.RFC3339), envelope, payload, deliveries, ts, ts)
				if err != nil {
					return fmt.Errorf("store: seed: %w", err)
				}
				cbID, _ := res.LastInsertId()
				for d := range deliveries {
					outcome := OutcomeAccepted
					if d > 0 {
						outcome = OutcomeDuplicate
					}
					if _, err := insDel.ExecContext(ctx, cbID, ts, outcome); err != nil {
						return fmt.Errorf("store: seed: %w", err)
					}
				}
				var success, cancel any
				if state == StateAvailable {
					success = ts
				} else {
					cancel = ts
				}
				if _, err := save.ExecContext(ctx, code, sub, state, openid, "", "A", success, cancel, ts, "notification", ts); err != nil {
					return fmt.Errorf("store: seed: %w", err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		done += batch
	}
	return nil
}
