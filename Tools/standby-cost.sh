#!/usr/bin/env bash
# What a synchronous standby costs the hubs, measured: run under Tools/with-postgres.sh, which gives the primary.
#
#   swift build -c release --product results-hub && swift build -c release --product hub-load
#   Tools/with-postgres.sh Tools/standby-cost.sh [rounds]
#
# Makes a streaming standby of the throwaway primary with pg_basebackup (as `nobody` when run as root, as the
# primary runs), on the next port, in a temporary directory; then, each round, runs `hub-load cluster` (a leader,
# 2 followers, 2 relays, 10 s) with the standby synchronous (`synchronous_standby_names = 'FIRST 1 (standby1)'`)
# and again with it asynchronous, alternating, so that the two are compared in the same run. Stops the standby and
# removes its directory at the end. Both share this machine's cores and its disk: across machines a synchronous
# standby adds a network round trip per group commit, which loopback does not show.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-2}
: "${RESULTS_HUB_TEST_POSTGRES:?run under Tools/with-postgres.sh}"
bins=(/usr/lib/postgresql/*/bin)
bin=${bins[${#bins[@]} - 1]}
port=$(python3 -c 'import os, urllib.parse; print(urllib.parse.urlparse(os.environ["RESULTS_HUB_TEST_POSTGRES"]).port)')
as_owner=()
if [ "$(id -u)" -eq 0 ]; then as_owner=(setpriv --reuid=nobody --regid=nogroup --clear-groups); fi
work=$(mktemp -d "${TMPDIR:-/tmp}/results-hub-standby.XXXXXX")
chmod 755 "$work"
if [ "$(id -u)" -eq 0 ]; then chown nobody:nogroup "$work"; fi
stop() {
    "${as_owner[@]}" "$bin/pg_ctl" -D "$work/standby" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap stop EXIT
"${as_owner[@]}" env PGPASSWORD="$PGPASSWORD" "$bin/pg_basebackup" -D "$work/standby" -h 127.0.0.1 -p "$port" \
    -U resultshub -X stream -R -d "application_name=standby1 password=$PGPASSWORD" >/dev/null
"${as_owner[@]}" "$bin/pg_ctl" -D "$work/standby" -l "$work/standby.log" -w \
    -o "-p $((port + 1)) -c listen_addresses=127.0.0.1 -c unix_socket_directories=$work" start >/dev/null

sql() { psql -X -q -t -A "$RESULTS_HUB_TEST_POSTGRES" -c "$1"; }
standby() {
    sql "ALTER SYSTEM SET synchronous_standby_names = '$1'" >/dev/null
    sql "SELECT pg_reload_conf()" >/dev/null
    sleep 1
    echo "== the standby is $(sql "SELECT sync_state FROM pg_stat_replication")"
}
for _ in $(seq "$rounds"); do
    for names in 'FIRST 1 (standby1)' ''; do
        standby "$names"
        .build/release/hub-load cluster --store "$RESULTS_HUB_TEST_POSTGRES" --duration 10s 2>/dev/null |
            grep -E "declarations/s|ack latency|delivery latency|verified"
    done
done
standby ''
