#!/bin/sh
# Starts (idempotently) a throwaway PostgreSQL server for local test runs and
# the figures of docs/PERFORMANCE.md (tools/loadgen/compare.sh): socket dir
# /tmp/pgtest, port 55432, trust auth, superuser postgres. Needs Debian's
# postgresql package and root (initdb runs as the postgres user). .ci/run
# starts its own server in a temporary directory.
#   export PAYSCORE_TEST_POSTGRES_URL='postgres://postgres@/postgres?host=/tmp/pgtest&port=55432'
# Stop: runuser -u postgres -- /usr/lib/postgresql/*/bin/pg_ctl -D /tmp/pgtest/data stop
set -e
DIR=/tmp/pgtest
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
if [ -z "$BIN" ]; then echo "no /usr/lib/postgresql/*/bin: apt-get install -y postgresql" >&2; exit 1; fi
mkdir -p "$DIR" && chown postgres "$DIR"
if [ ! -f "$DIR/data/PG_VERSION" ]; then
	runuser -u postgres -- "$BIN/initdb" -D "$DIR/data" -A trust -U postgres >/dev/null
fi
if ! runuser -u postgres -- "$BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
	# fsync stays on: durability figures must mean what they say.
	runuser -u postgres -- "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" \
		-o "-p 55432 -k $DIR -c listen_addresses='' -c max_connections=300" -w start
fi
echo "PAYSCORE_TEST_POSTGRES_URL='postgres://postgres@/postgres?host=$DIR&port=55432'"
