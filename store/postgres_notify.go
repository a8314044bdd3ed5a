package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// On PostgreSQL a whole batch of notifications is one call of a plpgsql
// function, one round trip, inside the batch's transaction. For each
// notification, in order, it does what the SQLite path does with its
// notifyStmts: look its id up, apply its state unless a newer one is known
// (saveAuthorizationSQL), insert its row (ON CONFLICT (notification_id) DO
// NOTHING), count a duplicate, log the delivery. The counters the batch
// shares are then written once per key: the day counts of the new rows
// (daily_counts) and the signing keys' hourly deliveries
// (notification_keys). Per row, those few hot rows would each be updated
// hundreds of times in one transaction, every update a new row version to
// walk past; that was most of the database's work per notification.
//
// The functions are code, not schema: they are (re)created at every start
// under the migration lock (CREATE OR REPLACE). The record function's name
// carries a version: a build that changes its arguments or meaning names a
// new one, so that instances of two builds running side by side during a
// rolling upgrade each call their own.
const pgRecordNotifications = "payscore_record_notifications_v2"

// pgBatchCounting is the transaction-local setting under which the
// daily_callbacks trigger leaves the counting of new callbacks rows to the
// batch function (which counts them once per key at its end). Any other
// insert into callbacks — an older build's batches, the seed tool — is
// counted by the trigger as before.
const pgBatchCounting = "payscore.batch_counting"

func pgRecordNotificationsSQL() string {
	// saveAuthorizationSQL's 11 placeholders, in authorizationColumns order.
	save := saveAuthorizationSQL
	for _, p := range []string{"p_code[i]", "p_sub_mchid[i]", "p_state[i]", "p_openid[i]", "p_sub_openid[i]", "''",
		"nullif(p_success_time[i], '')", "nullif(p_cancel_time[i], '')", "p_state_time[i]", "'notification'", "p_now"} {
		save = strings.Replace(save, "?", p, 1)
	}
	return `CREATE OR REPLACE FUNCTION ` + pgRecordNotifications + `(
	p_notification_id TEXT[], p_event_type TEXT[], p_code TEXT[], p_sub_mchid TEXT[], p_openid TEXT[], p_sub_openid TEXT[],
	p_openorclose_time TEXT[], p_create_time TEXT[], p_serial TEXT[], p_envelope TEXT[], p_payload TEXT[],
	p_state TEXT[], p_success_time TEXT[], p_cancel_time TEXT[], p_state_time TEXT[], p_remote_addr TEXT[],
	p_sub_appid TEXT[], p_foreign_appid TEXT[], p_now TEXT)
RETURNS TEXT[] LANGUAGE plpgsql AS $fn$
DECLARE
	v_link_sub TEXT;
	v_link_appid TEXT;
	v_field TEXT;
	v_serials TEXT[] := '{}';
	v_id BIGINT;
	v_outcome TEXT;
	v_applied INTEGER;
	v_rows BIGINT;
	v_new BIGINT[] := '{}';
	v_out TEXT[] := '{}';
BEGIN
	-- batchLock, taken here when the call is its own transaction (taken
	-- again in a batch's transaction: the same lock, held once more).
	PERFORM pg_advisory_xact_lock(` + strconv.FormatInt(notifyBatchLock, 10) + `);
	PERFORM set_config('` + pgBatchCounting + `', 'on', true);
	FOR i IN 1 .. coalesce(array_length(p_notification_id, 1), 0) LOOP
		v_id := NULL;
		v_outcome := NULL;
		v_applied := 0;
		IF p_code[i] <> '' THEN
			-- linkMismatch: refused, nothing of it written.
			SELECT m.sub_mchid, l.sub_appid INTO v_link_sub, v_link_appid
			FROM links l JOIN sub_merchants m ON m.id = l.sub_merchant_id WHERE l.authorization_code = p_code[i];
			IF FOUND THEN
				v_field := CASE WHEN v_link_sub <> p_sub_mchid[i] THEN 'sub_mchid'
					WHEN p_foreign_appid[i] = '1' THEN 'appid'
					WHEN p_sub_appid[i] <> '' AND p_sub_appid[i] <> v_link_appid THEN 'sub_appid' END;
				IF v_field IS NOT NULL THEN
					v_out := v_out || ('` + pgMismatch + `' || v_field || ':' || v_link_sub);
					CONTINUE;
				END IF;
			END IF;
		END IF;
		SELECT id INTO v_id FROM callbacks WHERE notification_id = p_notification_id[i];
		IF NOT FOUND THEN
			IF p_code[i] = '' THEN
				v_outcome := '` + OutcomeStale + `';
			ELSE
				` + save + `;
				GET DIAGNOSTICS v_rows = ROW_COUNT;
				IF v_rows = 0 THEN
					UPDATE authorizations SET checked_at = p_now WHERE authorization_code = p_code[i];
					v_outcome := '` + OutcomeStale + `';
				ELSE
					v_applied := 1;
					v_outcome := '` + OutcomeAccepted + `';
				END IF;
			END IF;
			INSERT INTO callbacks (notification_id, event_type, authorization_code, sub_mchid, openid, sub_openid,
				openorclose_time, create_time, serial, envelope, payload, applied, first_received_at, last_received_at)
			VALUES (p_notification_id[i], p_event_type[i], p_code[i], p_sub_mchid[i], p_openid[i], p_sub_openid[i],
				nullif(p_openorclose_time[i], ''), p_create_time[i], p_serial[i], p_envelope[i], p_payload[i], v_applied, p_now, p_now)
			ON CONFLICT (notification_id) DO NOTHING
			RETURNING id INTO v_id;
			IF v_id IS NOT NULL THEN
				v_new := v_new || v_id;
			END IF;
		END IF;
		IF v_outcome IS NULL OR v_id IS NULL THEN
			-- Seen before (or stored meanwhile by a writer that committed first).
			IF v_id IS NULL THEN
				SELECT id INTO v_id FROM callbacks WHERE notification_id = p_notification_id[i];
			END IF;
			UPDATE callbacks SET deliveries = deliveries + 1, last_received_at = p_now WHERE id = v_id;
			v_outcome := '` + OutcomeDuplicate + `';
		END IF;
		INSERT INTO callback_deliveries (callback_id, received_at, remote_addr, serial, outcome)
		VALUES (v_id, p_now, p_remote_addr[i], p_serial[i], v_outcome);
		v_out := v_out || v_outcome;
		v_serials := v_serials || p_serial[i];
	END LOOP;
	PERFORM set_config('` + pgBatchCounting + `', '', true);
	INSERT INTO daily_counts (day, sub_mchid, metric, n)
	SELECT beijing_day(first_received_at), sub_mchid, 'notify.' || event_type, count(*) FROM callbacks WHERE id = ANY (v_new)
	GROUP BY 1, 2, 3
	ON CONFLICT (day, sub_mchid, metric) DO UPDATE SET n = daily_counts.n + excluded.n;
	INSERT INTO notification_keys (serial, hour, deliveries, last_received_at)
	SELECT s, substr(p_now, 1, 13), count(*), p_now FROM unnest(v_serials) AS s GROUP BY s
	ON CONFLICT (serial, hour) DO UPDATE SET deliveries = notification_keys.deliveries + excluded.deliveries,
		last_received_at = greatest(notification_keys.last_received_at, excluded.last_received_at);
	RETURN v_out;
END;
$fn$`
}

// pgDailyCallbacksSQL replaces migration 009's trigger function: the same
// count per new row, unless the batch function counts (pgBatchCounting).
const pgDailyCallbacksSQL = `CREATE OR REPLACE FUNCTION daily_callbacks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('` + pgBatchCounting + `', true) = 'on' THEN
        RETURN NULL;
    END IF;
    PERFORM daily_count(beijing_day(NEW.first_received_at), NEW.sub_mchid, 'notify.' || NEW.event_type, 1);
    RETURN NULL;
END;
$$`

// definePGFunctions runs under the migration lock, after the migrations.
func definePGFunctions(ctx context.Context, conn *sql.Conn) error {
	for _, f := range []struct{ name, sql string }{
		{"daily_callbacks", pgDailyCallbacksSQL},
		{pgRecordNotifications, pgRecordNotificationsSQL()},
	} {
		if _, err := conn.ExecContext(ctx, f.sql); err != nil {
			return fmt.Errorf("store: define %s: %w", f.name, err)
		}
	}
	return nil
}

// pgRecordNotificationsCall is the statement the batch prepares.
var pgRecordNotificationsCall = `SELECT ` + pgRecordNotifications + `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// pgMismatch starts the outcome of a notification the function refused:
// "mismatch:FIELD:LINK_SUB_MCHID" (a *LinkMismatchError).
const pgMismatch = "mismatch:"

// orEmpty is t stored, or "" (NULL to the function) for the zero time, as
// fmtTimePtr.
func orEmpty(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return fmtTime(t)
}

// pgTypes scans the function's text[] (database/sql knows no arrays;
// pgx's type map does).
var pgTypes = pgtype.NewMap()

// recordNotificationsPG writes items in one call and returns each one's
// result, in order.
func recordNotificationsPG(ctx context.Context, stmt *sql.Stmt, items []*batchItem, now string) ([]batchResult, error) {
	cols := make([][]string, 18)
	for c := range cols {
		cols[c] = make([]string, len(items))
	}
	for i, it := range items {
		for c, v := range pgRecordNotificationColumns(it.n) {
			cols[c][i] = v
		}
	}
	args := make([]any, 0, len(cols)+1)
	for _, c := range cols {
		args = append(args, c)
	}
	args = append(args, now)
	var outcomes []string
	if err := stmt.QueryRowContext(ctx, args...).Scan(pgTypes.SQLScanner(&outcomes)); err != nil {
		return nil, fmt.Errorf("store: record notifications: %w", err)
	}
	if len(outcomes) != len(items) {
		return nil, fmt.Errorf("store: record notifications: %d outcomes for %d notifications", len(outcomes), len(items))
	}
	results := make([]batchResult, len(items))
	for i, o := range outcomes {
		if rest, ok := strings.CutPrefix(o, pgMismatch); ok {
			field, linkSub, _ := strings.Cut(rest, ":")
			results[i].err = &LinkMismatchError{Field: field, LinkSubMchID: linkSub}
			continue
		}
		results[i].outcome = o
	}
	return results, nil
}

// pgRecordNotificationColumns is n's value in each of the function's array
// arguments ("" for NULL where the function says nullif).
func pgRecordNotificationColumns(n Notification) [18]string {
	state, success, cancel := StateUnavailable, "", ""
	t := n.OpenOrCloseTime
	if n.EventType == EventOpen {
		state, success = StateAvailable, orEmpty(t)
	} else {
		cancel = orEmpty(t)
	}
	foreign := ""
	if n.ForeignAppID {
		foreign = "1"
	}
	return [18]string{n.NotificationID, n.EventType, n.AuthorizationCode, n.SubMchID, n.OpenID, n.SubOpenID,
		orEmpty(n.OpenOrCloseTime), n.CreateTime, n.Serial, string(n.Envelope), string(n.Payload),
		state, success, cancel, fmtTime(t.Truncate(time.Second)), n.RemoteAddr, n.SubAppID, foreign}
}
