#!/usr/bin/env bash
# Soak test: a release hub under sustained load from `hub-load saturate`, with `reporter watch` subscribers joining
# and leaving all the time. Samples the hub's resident memory and open file descriptors every 10 s and fails if,
# after the first minute of warm-up (the retained event window and the remembered revisions fill up), either keeps
# growing. Loopback only; bounded in time.
#
#   Tools/soak.sh [minutes]      default 10 (at most 10: hub-load's own cap)
set -euo pipefail
minutes=${1:-10}
[ "$minutes" -ge 2 ] && [ "$minutes" -le 10 ] || { echo "soak: minutes must be 2 to 10" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
swift build -c release --product results-hub
swift build -c release --product reporter
swift build -c release --product hub-load
bin=.build/release

work=$(mktemp -d)
token=$(python3 -c "import secrets; print(secrets.token_hex(16))")
printf '[{"id": "national", "token": "%s", "regions": "*"}]\n' "$token" > "$work/desks.json"
# Smaller memory windows than the defaults, so that they fill within the warm-up minute and growth after it shows.
"$bin/results-hub" --port 0 --admin-port 0 --data "$work/data" --desks "$work/desks.json" --log-level warning \
    --retained-events 50000 --retained-revisions 100000 > "$work/hub.out" 2> "$work/hub.err" &
hub=$!
churn=""
cleanup() {
    [ -n "$churn" ] && kill "$churn" 2>/dev/null || true
    pkill -P $$ -f "reporter watch" 2>/dev/null || true
    kill "$hub" 2>/dev/null || true
    wait "$hub" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 1 100); do
    port=$(sed -n 's/.* on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/hub.out")
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || { echo "soak: the hub did not start" >&2; cat "$work/hub.err" >&2; exit 1; }
echo "soak: hub pid $hub on 127.0.0.1:$port for $minutes min"

# Subscribers join and leave: keep about six watchers, replacing one every 2 s.
end=$(( $(date +%s) + minutes * 60 ))
(
    watchers=()
    while [ "$(date +%s)" -lt "$end" ]; do
        "$bin/reporter" watch --json --hub "127.0.0.1:$port" > /dev/null 2>&1 &
        watchers+=($!)
        if [ "${#watchers[@]}" -gt 6 ]; then
            kill "${watchers[0]}" 2>/dev/null || true
            watchers=("${watchers[@]:1}")
        fi
        sleep 2
    done
    kill "${watchers[@]}" 2>/dev/null || true
) &
churn=$!

# Sample the hub every 10 s.
samples="$work/samples.csv"
echo "seconds,rss_kib,fds" > "$samples"
(
    start=$(date +%s)
    while kill -0 "$hub" 2>/dev/null && [ "$(date +%s)" -lt "$end" ]; do
        rss=$(awk '/VmRSS/ {print $2}' "/proc/$hub/status")
        fds=$(ls "/proc/$hub/fd" | wc -l)
        echo "$(( $(date +%s) - start )),$rss,$fds" >> "$samples"
        sleep 10
    done
) &
sampler=$!

status=0
RESULTS_HUB_TOKEN=$token "$bin/hub-load" saturate --hub "127.0.0.1:$port" --desks 2 --subscribers 2 \
    --duration "${minutes}m" --pipeline 16 || status=$?
wait "$sampler" || true
cat "$samples"
python3 - "$samples" <<'PY' || status=1
import csv, statistics, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if int(r["seconds"]) >= 60]
if len(rows) < 6:
    sys.exit("soak: too few samples after warm-up")
third = len(rows) // 3
early, late = rows[:third], rows[-third:]
rss_early = statistics.median(int(r["rss_kib"]) for r in early)
rss_late = statistics.median(int(r["rss_kib"]) for r in late)
fds_early = statistics.median(int(r["fds"]) for r in early)
fds_late = statistics.median(int(r["fds"]) for r in late)
print(f"soak: resident memory {rss_early/1024:.0f} MiB -> {rss_late/1024:.0f} MiB; open files {fds_early:.0f} -> {fds_late:.0f}")
if rss_late > rss_early * 1.2 + 16 * 1024:
    sys.exit("soak: resident memory kept growing")
if fds_late > fds_early + 16:
    sys.exit("soak: open file descriptors kept growing")
print("soak: flat")
PY
exit "$status"
