#!/usr/bin/env bash
# Fuzzes the frame decoder, every message decoder and the decompressor with libFuzzer (and AddressSanitizer) for a
# bounded time, seeded from Protocol/vectors and the committed regressions. The time is split between the three
# targets (frames, messages, decompressor).
#
#   Tools/fuzz/run.sh [seconds]        default 60
#
# A crash or hang stops the run: the input is copied to Tools/fuzz/regressions/ (commit it: the test suite replays
# every file there) and the script exits non-zero. Replay one input with the normal build:
#   FUZZ_TARGET=<target> swift run FrameFuzzer Tools/fuzz/regressions/<file>
set -euo pipefail
seconds=${1:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

swift build --scratch-path .build-fuzz --product FrameFuzzer -c release \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING

work=Tools/fuzz/corpus-work
artifacts=Tools/fuzz/artifacts
mkdir -p "$work" "$artifacts"
# Seed: every hex byte string in the vectors, one file each.
python3 - "$work" Protocol/vectors/*.json <<'PY'
import hashlib, json, pathlib, re, sys
out = pathlib.Path(sys.argv[1])
def walk(value):
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str) and key.lower().endswith("hex") and re.fullmatch(r"([0-9a-f]{2})+", item):
                yield bytes.fromhex(item)
            else:
                yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)
count = 0
for path in sys.argv[2:]:
    for blob in walk(json.load(open(path))):
        (out / hashlib.sha1(blob).hexdigest()).write_bytes(blob)
        count += 1
print(f"seeded {count} inputs from the vectors")
PY

status=0
share=$(( seconds / 3 > 1 ? seconds / 3 : 1 ))
for target in frames messages decompressor; do
    echo "fuzz: $target for ${share}s"
    FUZZ_TARGET=$target .build-fuzz/release/FrameFuzzer "$work" Tools/fuzz/regressions \
        -max_total_time="$share" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -artifact_prefix="$artifacts/$target-" -print_final_stats=1 || status=$?
    [ "$status" -eq 0 ] || break
done
if [ "$status" -ne 0 ]; then
    for found in "$artifacts"/*; do
        [ -f "$found" ] || continue
        cp "$found" Tools/fuzz/regressions/
        echo "fuzz: found $(basename "$found"); copied to Tools/fuzz/regressions/ — fix it and commit the input"
    done
    exit "$status"
fi
echo "fuzz: no crash, hang or leak in ${seconds}s"
