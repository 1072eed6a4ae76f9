#!/usr/bin/env bash
# Runs a command beside a throwaway PostgreSQL server of its own, for the tests that need a real one:
#
#   Tools/with-postgres.sh COMMAND [ARGS...]      e.g. Tools/with-postgres.sh swift test
#
# The server (Debian's `postgresql`, which Tools/setup.sh installs) gets a fresh cluster in a temporary directory,
# listens on 127.0.0.1 only, on a free port, and runs as an unprivileged user: the current one, or `nobody` when this
# is run as root (PostgreSQL refuses to run as root). COMMAND runs as the invoking user and finds the server in
#   RESULTS_HUB_TEST_POSTGRES                  postgres://resultshub@127.0.0.1:PORT/postgres (superuser `resultshub`)
#   PGPASSWORD                                 its password, random for each run (libpq and psql read it)
#   RESULTS_HUB_TEST_POSTGRES_PASSWORD_FILE    a file (mode 600) holding the same password
# The server is stopped and the directory removed when COMMAND ends, fails or is interrupted; exits with COMMAND's
# status. A server that cannot be found or started is an error, never a skip: the tests that need it must not pass
# without it.
set -euo pipefail

me=with-postgres
if [ $# -eq 0 ]; then
    echo "usage: Tools/with-postgres.sh COMMAND [ARGS...]" >&2
    exit 2
fi

# The server's programs. Debian keeps them off PATH, one directory per major version (take the newest); elsewhere,
# or with a symlink like /usr/local/bin/initdb, they are on PATH.
bin=""
while IFS= read -r dir; do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then bin=$dir; break; fi
done < <(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r)
if [ -n "$bin" ]; then
    initdb=$bin/initdb
    pg_ctl=$bin/pg_ctl
elif command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    initdb=$(command -v initdb)
    pg_ctl=$(command -v pg_ctl)
else
    echo "$me: PostgreSQL's server programs (initdb, pg_ctl) are not installed: run Tools/setup.sh" >&2
    echo "$me: (it installs Debian's postgresql package; looked in /usr/lib/postgresql/*/bin and on PATH)" >&2
    exit 1
fi

# The system's Python (the one Tools/setup.sh provides for), which finds a free port; another on PATH otherwise.
python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3 || true)
if [ -z "$python" ]; then
    echo "$me: python3 is needed to find a free port: run Tools/setup.sh" >&2
    exit 1
fi

# As root, the server's programs run as `nobody`, like CI's tests; COMMAND keeps the invoking user.
as_server=()
if [ "$(id -u)" -eq 0 ]; then
    as_server=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
fi
# From inside the temporary directory: the caller's working directory may be closed to `nobody`.
as_server_in_tmp() { (cd "$tmp" && "${as_server[@]}" "$@"); }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/results-hub-postgres.XXXXXX")
data=$tmp/data
log=$tmp/server.log
pwfile=$tmp/password
child=""

server_running() { [ -f "$data/postmaster.pid" ]; }
# Always: stop the server (fast: open sessions are ended, the cluster is thrown away anyway; immediate if that does
# not finish), then remove everything. A second interrupt must not cut this short and leave a server behind.
# shellcheck disable=SC2317  # called from a trap, which shellcheck does not follow
cleanup() {
    trap '' INT TERM
    set +e
    if server_running; then
        as_server_in_tmp "$pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null \
            || as_server_in_tmp "$pg_ctl" -D "$data" -m immediate -w -t 30 stop >/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
# An interrupt or termination must end COMMAND too, and the server must outlive its clients: wait for COMMAND, then
# the EXIT trap cleans up. A Ctrl-C, a CI runner's cancel or `timeout` signal the whole process group, COMMAND with
# it, and a second signal could cut its own cleanup short; so COMMAND gets 5 s to end by itself, and only then the
# signal, for when it was sent to this script alone.
# shellcheck disable=SC2317  # called from a trap, which shellcheck does not follow
on_signal() {
    if [ -n "$child" ]; then
        for _ in $(seq 50); do
            kill -0 "$child" 2>/dev/null || break
            sleep 0.1
        done
        kill -s "$1" "$child" 2>/dev/null || true
        wait "$child" 2>/dev/null || true
    fi
    exit "$2"
}
trap 'on_signal INT 130' INT
trap 'on_signal TERM 143' TERM

if [ ${#as_server[@]} -gt 0 ]; then
    chown nobody:nogroup "$tmp"
    if ! as_server_in_tmp test -w "$tmp"; then
        echo "$me: nobody cannot reach $tmp (TMPDIR=${TMPDIR:-}): point TMPDIR at a directory open to it" >&2
        exit 1
    fi
fi
# The socket's path must fit in a sockaddr_un (107 bytes), and it lives in the temporary directory.
socket_name=/.s.PGSQL.65535
if [ $(( ${#tmp} + ${#socket_name} )) -gt 107 ]; then
    echo "$me: $tmp is too long a path for PostgreSQL's socket: set TMPDIR to a shorter directory" >&2
    exit 1
fi

# A fresh password each run, never on a command line: only the file (mode 600) and COMMAND's environment hold it.
password=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
(umask 077 && printf '%s\n' "$password" > "$pwfile")
[ ${#as_server[@]} -eq 0 ] || chown nobody:nogroup "$pwfile"

# Password authentication even on the socket, as against a real server. initdb's chatter goes to a file, shown
# only when it fails.
if ! as_server_in_tmp "$initdb" -D "$data" -U resultshub --pwfile="$pwfile" \
        --auth-host=scram-sha-256 --auth-local=scram-sha-256 -E UTF8 --locale=C > "$tmp/initdb.log" 2>&1; then
    echo "$me: initdb failed:" >&2
    tail -n 30 "$tmp/initdb.log" >&2
    exit 1
fi

# The settings go in the cluster's own postgresql.conf, not on pg_ctl's -o: that string passes through /bin/sh, and
# the socket directory is a path. Loopback only; fsync and the rest of durability stay at their defaults (the tests
# must see a real server's behaviour); the tests open many connections at once.
cat >> "$data/postgresql.conf" <<EOF

# Tools/with-postgres.sh
listen_addresses = '127.0.0.1'
unix_socket_directories = '$tmp'
fsync = on
max_connections = 300
shared_buffers = 32MB
EOF

# A port that was free a moment ago may be taken by the time the server binds it: then try another.
port=""
started=no
for attempt in 1 2 3 4 5; do
    port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    if as_server_in_tmp "$pg_ctl" -D "$data" -l "$log" -w -t 30 -o "-p $port" start >/dev/null; then
        started=yes
        break
    fi
    echo "$me: the server did not start on port $port (attempt $attempt of 5)" >&2
    # A server that is up but missed the 30 s must not hold the data directory against the next attempt.
    if server_running; then
        as_server_in_tmp "$pg_ctl" -D "$data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
    fi
done
if [ "$started" != yes ]; then
    echo "$me: PostgreSQL did not start; the last 30 lines of its log:" >&2
    tail -n 30 "$log" >&2 || true
    exit 1
fi
echo "$me: PostgreSQL $("$pg_ctl" --version | awk '{ print $3 }') on 127.0.0.1:$port, data in $tmp" >&2

export RESULTS_HUB_TEST_POSTGRES="postgres://resultshub@127.0.0.1:$port/postgres"
export PGPASSWORD="$password"
export RESULTS_HUB_TEST_POSTGRES_PASSWORD_FILE="$pwfile"

# COMMAND runs in the background so that a signal to this script is handled at once (a foreground child would delay
# the traps until it ends). Bash starts background commands with SIGINT and SIGQUIT ignored and stdin from /dev/null;
# env restores the signals, so that a Ctrl-C still stops COMMAND, and the redirection keeps stdin. An env too old for
# that (coreutils before 8.31) gets COMMAND in the foreground: signals then wait for it to end, cleanup is the same.
status=0
if env --default-signal=INT,QUIT true 2>/dev/null; then
    env --default-signal=INT,QUIT "$@" <&0 &
    child=$!
    wait "$child" || status=$?
    child=""
else
    "$@" || status=$?
fi
exit "$status"
