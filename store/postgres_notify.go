package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// On PostgreSQL a notification's whole write — look up its id, apply its
// state unless a newer one is known, insert its row (ON CONFLICT
// (notification_id) DO NOTHING), count a duplicate, log the delivery,
// count the signing key — is one call of a plpgsql function: one round
// trip per notification instead of five, inside the batch's transaction.
// Its statements are the SQLite path's (saveAuthorizationSQL and the
// notifyStmts), with named arguments instead of ?.
//
// The function is code, not schema: it is (re)created at every start
// under the migration lock (CREATE OR REPLACE). Its name carries a
// version: a build that changes its arguments or meaning names a new one,
// so that instances of two builds running side by side during a rolling
// upgrade each call their own.
const pgRecordNotification = "payscore_record_notification_v1"

func pgRecordNotificationSQL() string {
	// saveAuthorizationSQL's 11 placeholders, in authorizationColumns order.
	save := saveAuthorizationSQL
	for _, p := range []string{"p_code", "p_sub_mchid", "p_state", "p_openid", "p_sub_openid", "''", "p_success_time", "p_cancel_time", "p_state_time", "'notification'", "p_now"} {
		save = strings.Replace(save, "?", p, 1)
	}
	return `CREATE OR REPLACE FUNCTION ` + pgRecordNotification + `(
	p_notification_id TEXT, p_event_type TEXT, p_code TEXT, p_sub_mchid TEXT, p_openid TEXT, p_sub_openid TEXT,
	p_openorclose_time TEXT, p_create_time TEXT, p_serial TEXT, p_envelope TEXT, p_payload TEXT,
	p_state TEXT, p_success_time TEXT, p_cancel_time TEXT, p_state_time TEXT, p_remote_addr TEXT, p_now TEXT)
RETURNS TEXT LANGUAGE plpgsql AS $fn$
DECLARE
	v_id BIGINT;
	v_outcome TEXT;
	v_applied INTEGER := 0;
	v_rows BIGINT;
BEGIN
	SELECT id INTO v_id FROM callbacks WHERE notification_id = p_notification_id;
	IF NOT FOUND THEN
		IF p_code = '' THEN
			v_outcome := '` + OutcomeStale + `';
		ELSE
			` + save + `;
			GET DIAGNOSTICS v_rows = ROW_COUNT;
			IF v_rows = 0 THEN
				UPDATE authorizations SET checked_at = p_now WHERE authorization_code = p_code;
				v_outcome := '` + OutcomeStale + `';
			ELSE
				v_applied := 1;
				v_outcome := '` + OutcomeAccepted + `';
			END IF;
		END IF;
		INSERT INTO callbacks (notification_id, event_type, authorization_code, sub_mchid, openid, sub_openid,
			openorclose_time, create_time, serial, envelope, payload, applied, first_received_at, last_received_at)
		VALUES (p_notification_id, p_event_type, p_code, p_sub_mchid, p_openid, p_sub_openid,
			p_openorclose_time, p_create_time, p_serial, p_envelope, p_payload, v_applied, p_now, p_now)
		ON CONFLICT (notification_id) DO NOTHING
		RETURNING id INTO v_id;
	END IF;
	IF v_outcome IS NULL OR v_id IS NULL THEN
		-- Seen before (or stored meanwhile by a writer that committed first).
		IF v_id IS NULL THEN
			SELECT id INTO v_id FROM callbacks WHERE notification_id = p_notification_id;
		END IF;
		UPDATE callbacks SET deliveries = deliveries + 1, last_received_at = p_now WHERE id = v_id;
		v_outcome := '` + OutcomeDuplicate + `';
	END IF;
	INSERT INTO callback_deliveries (callback_id, received_at, remote_addr, serial, outcome)
	VALUES (v_id, p_now, p_remote_addr, p_serial, v_outcome);
	INSERT INTO notification_keys (serial, hour, deliveries, last_received_at) VALUES (p_serial, substr(p_now, 1, 13), 1, p_now)
	ON CONFLICT (serial, hour) DO UPDATE SET deliveries = notification_keys.deliveries + 1,
		last_received_at = greatest(notification_keys.last_received_at, excluded.last_received_at);
	RETURN v_outcome;
END;
$fn$`
}

// definePGFunctions runs under the migration lock, after the migrations.
func definePGFunctions(ctx context.Context, conn *sql.Conn) error {
	if _, err := conn.ExecContext(ctx, pgRecordNotificationSQL()); err != nil {
		return fmt.Errorf("store: define %s: %w", pgRecordNotification, err)
	}
	return nil
}

// pgRecordNotificationCall is the statement the batch prepares.
var pgRecordNotificationCall = `SELECT ` + pgRecordNotification + `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// pgRecordNotificationArgs are the call's arguments for n, received at now.
func pgRecordNotificationArgs(n Notification, now string) []any {
	state, success, cancel := StateUnavailable, any(nil), any(nil)
	t := n.OpenOrCloseTime
	if n.EventType == EventOpen {
		state, success = StateAvailable, fmtTimePtr(&t)
	} else {
		cancel = fmtTimePtr(&t)
	}
	return []any{n.NotificationID, n.EventType, n.AuthorizationCode, n.SubMchID, n.OpenID, n.SubOpenID,
		fmtTimePtr(&n.OpenOrCloseTime), n.CreateTime, n.Serial, string(n.Envelope), string(n.Payload),
		state, success, cancel, fmtTime(t.Truncate(time.Second)), n.RemoteAddr, now}
}
