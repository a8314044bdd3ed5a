#!/usr/bin/env bash
# Ingestion figures of docs/PERFORMANCE.md, back to back: SQLite, PostgreSQL, two instances on PostgreSQL.
# Usage: PGS=postgres://postgres@/postgres?host=DIR&port=PORT N=40000 tools/loadgen/compare.sh
# (N: distinct notifications per run, 100000 if unset; PGS: a PostgreSQL superuser URL, by default
# the server tools/pgtest.sh starts.)
set -u
cd "$(dirname "$0")/../.."
go build -o /tmp/psc . && go build -o /tmp/loadgen ./tools/loadgen || exit 1
PGS=${PGS:-'postgres://postgres@/postgres?host=/tmp/pgtest&port=55432'}   # a PostgreSQL server's superuser URL
pkill -f '^/tmp/psc$' 2>/dev/null; sleep 1
rm -f /tmp/lg-sq.db* /tmp/lgpg-sb.db* /tmp/lgm_sandbox.db*
echo "== SQLite, one instance"; uptime
ADDR=127.0.0.1:18090 BASE_URL=http://127.0.0.1:18090 DB_PATH=/tmp/lg-sq.db ADMIN_PASSWORD=admin-password-1 /tmp/psc >/tmp/m-sq.log 2>&1 &
P=$!; sleep 4
/tmp/loadgen -url http://127.0.0.1:18090/notify/payscore -db-path /tmp/lg-sq.db -n ${N:-100000} -c 32 -dup 0 -pid $P
kill $P; wait $P 2>/dev/null
echo "== PostgreSQL, one instance"; uptime
psql "$PGS" -qc "DROP DATABASE IF EXISTS lg_pg" -c "CREATE DATABASE lg_pg"
DB=$(printf %s "$PGS" | sed 's|/postgres?|/lg_pg?|')
DATABASE_URL=$DB SANDBOX_DB_PATH=/tmp/lgpg-sb.db ADDR=127.0.0.1:18091 BASE_URL=http://127.0.0.1:18091 ADMIN_PASSWORD=admin-password-1 /tmp/psc >/tmp/m-pg.log 2>&1 &
P=$!; sleep 5
/tmp/loadgen -url http://127.0.0.1:18091/notify/payscore -database-url "$DB" -sandbox-db-path /tmp/lgpg-sb.db -n ${N:-100000} -c 32 -dup 0 -pid $P
kill $P; wait $P 2>/dev/null
echo "== PostgreSQL, two instances"; uptime
psql "$PGS" -qc "DROP DATABASE IF EXISTS lg_multi" -c "CREATE DATABASE lg_multi"
DB=$(printf %s "$PGS" | sed 's|/postgres?|/lg_multi?|')
PIDS=
for p in 18191 18192; do ADDR=127.0.0.1:$p BASE_URL=http://127.0.0.1:$p DATABASE_URL=$DB SANDBOX_DB_PATH=/tmp/lgm_sandbox.db ADMIN_PASSWORD=admin-password-1 /tmp/psc >/tmp/m-$p.log 2>&1 & PIDS="$PIDS $!"; sleep 4; done
/tmp/loadgen -url http://127.0.0.1:18191/notify/payscore,http://127.0.0.1:18192/notify/payscore -database-url "$DB" -sandbox-db-path /tmp/lgm_sandbox.db -n ${N:-100000} -c 32 -dup 0
kill $PIDS; wait 2>/dev/null
echo done
