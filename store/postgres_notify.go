package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// On PostgreSQL a whole batch of notifications is one call of a plpgsql
// function, one statement in its own transaction: one round trip that
// begins, writes and commits. For each notification, in (code,
// notification id) order, it does what the SQLite path does with its
// notifyStmts: check the link that holds the code (linkMismatch), look the
// id up, apply its state unless a newer one is known (saveAuthorizationSQL),
// insert its row (ON CONFLICT (notification_id) DO NOTHING), count a
// duplicate, log the delivery. The counters every batch shares are then
// written once per key, in key order: the authorizations by state
// (authorization_counts, whose trigger adds the batch's changes up in
// transaction-local settings), the day counts of the new rows
// (daily_counts) and the signing keys' hourly deliveries
// (notification_keys). Per row, those few hot rows would each be updated
// hundreds of times in one transaction, every update a new row version to
// walk past; that was most of the database's work per notification.
//
// Batches of several instances run side by side, without a lock: each
// takes the rows it may share with another (an authorization, a
// notification delivered to both) in the same order and the counters
// last, so none waits for another that waits for it. Ids are therefore
// not committed in id order; the callback log's polling carries the gaps
// (callbacks_poll.go).
//
// The functions are code, not schema: they are (re)created at every start
// under the migration lock (CREATE OR REPLACE). The record function's name
// carries a version: a build that changes its arguments or meaning names a
// new one, so that instances of two builds running side by side during a
// rolling upgrade each call their own.
const pgRecordNotifications = "payscore_record_notifications_v2"

// pgBatchCounting is the transaction-local setting under which the
// daily_callbacks and authorization_counts triggers leave their counting
// to the batch function (which writes the counts once per key at its end).
// Any other write — an older build's batches, the seed tool, a look-up or
// a termination — is counted by the triggers as before.
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
	v_state TEXT;
	v_delta BIGINT;
BEGIN
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
	-- The shared counters last, each once per key, in key order.
	FOR v_state IN SELECT state FROM authorization_counts ORDER BY state LOOP
		v_delta := coalesce(nullif(current_setting('` + pgCountDelta + `' || v_state, true), ''), '0')::BIGINT;
		IF v_delta <> 0 THEN
			UPDATE authorization_counts SET n = n + v_delta WHERE state = v_state;
			PERFORM set_config('` + pgCountDelta + `' || v_state, '', true);
		END IF;
	END LOOP;
	INSERT INTO daily_counts (day, sub_mchid, metric, n)
	SELECT beijing_day(first_received_at), sub_mchid, 'notify.' || event_type, count(*) FROM callbacks WHERE id = ANY (v_new)
	GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
	ON CONFLICT (day, sub_mchid, metric) DO UPDATE SET n = daily_counts.n + excluded.n;
	INSERT INTO notification_keys (serial, hour, deliveries, last_received_at)
	SELECT s, substr(p_now, 1, 13), count(*), p_now FROM unnest(v_serials) AS s GROUP BY s ORDER BY s
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

// pgCountDelta prefixes the transaction-local settings in which the
// authorization_counts trigger adds up a batch's changes per state
// ("payscore.count_AVAILABLE"), for the batch function to write once.
const pgCountDelta = "payscore.count_"

// pgAuthorizationCountsSQL replaces migration 003's trigger function: the
// same counts, kept aside while the batch function counts.
const pgAuthorizationCountsSQL = `CREATE OR REPLACE FUNCTION authorization_counts_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('` + pgBatchCounting + `', true) = 'on' THEN
        IF TG_OP <> 'DELETE' THEN
            PERFORM set_config('` + pgCountDelta + `' || NEW.state,
                (coalesce(nullif(current_setting('` + pgCountDelta + `' || NEW.state, true), ''), '0')::BIGINT + 1)::TEXT, true);
        END IF;
        IF TG_OP <> 'INSERT' THEN
            PERFORM set_config('` + pgCountDelta + `' || OLD.state,
                (coalesce(nullif(current_setting('` + pgCountDelta + `' || OLD.state, true), ''), '0')::BIGINT - 1)::TEXT, true);
        END IF;
        RETURN NULL;
    END IF;
    -- A state change updates its two count rows in a fixed order (by
    -- state), so two transactions never take them in opposite orders.
    IF TG_OP = 'INSERT' THEN
        UPDATE authorization_counts SET n = n + 1 WHERE state = NEW.state;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE authorization_counts SET n = n - 1 WHERE state = OLD.state;
    ELSIF OLD.state < NEW.state THEN
        UPDATE authorization_counts SET n = n - 1 WHERE state = OLD.state;
        UPDATE authorization_counts SET n = n + 1 WHERE state = NEW.state;
    ELSE
        UPDATE authorization_counts SET n = n + 1 WHERE state = NEW.state;
        UPDATE authorization_counts SET n = n - 1 WHERE state = OLD.state;
    END IF;
    RETURN NULL;
END;
$$`

// definePGFunctions runs under the migration lock, after the migrations.
func definePGFunctions(ctx context.Context, conn *sql.Conn) error {
	for _, f := range []struct{ name, sql string }{
		{"daily_callbacks", pgDailyCallbacksSQL},
		{"authorization_counts_change", pgAuthorizationCountsSQL},
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

// recordNotificationsPG writes items in one call and returns each one's
// result, in order. types scans the function's text[] (database/sql knows
// no arrays; pgx's type map does); a map is not safe for concurrent use,
// so each store's writer has its own (notifyStmts.types).
func recordNotificationsPG(ctx context.Context, stmt *sql.Stmt, types *pgtype.Map, items []*batchItem, now string) ([]batchResult, error) {
	// In (code, notification id) order: every batch of every instance
	// then locks the rows it shares with another (an authorization, a
	// notification delivered to both) in the same order, and no two wait
	// for each other. The order changes nothing stored: which of two
	// events about one code wins is the upsert's rule, by their times.
	order := make([]int, len(items))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		na, nb := items[a].n, items[b].n
		return cmp.Or(cmp.Compare(na.AuthorizationCode, nb.AuthorizationCode), cmp.Compare(na.NotificationID, nb.NotificationID))
	})
	cols := make([][]string, 18)
	for c := range cols {
		cols[c] = make([]string, len(items))
	}
	for i, k := range order {
		for c, v := range pgRecordNotificationColumns(items[k].n) {
			cols[c][i] = v
		}
	}
	args := make([]any, 0, len(cols)+1)
	for _, c := range cols {
		args = append(args, c)
	}
	args = append(args, now)
	var outcomes []string
	if err := stmt.QueryRowContext(ctx, args...).Scan(types.SQLScanner(&outcomes)); err != nil {
		return nil, fmt.Errorf("store: record notifications: %w", err)
	}
	if len(outcomes) != len(items) {
		return nil, fmt.Errorf("store: record notifications: %d outcomes for %d notifications", len(outcomes), len(items))
	}
	results := make([]batchResult, len(items))
	for i, o := range outcomes {
		k := order[i]
		if rest, ok := strings.CutPrefix(o, pgMismatch); ok {
			field, linkSub, _ := strings.Cut(rest, ":")
			results[k].err = &LinkMismatchError{Field: field, LinkSubMchID: linkSub}
			continue
		}
		results[k].outcome = o
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
