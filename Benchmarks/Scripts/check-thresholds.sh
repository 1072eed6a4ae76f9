#!/usr/bin/env bash
# Checks every benchmark's malloc count against Thresholds/, with exit codes a CI step or a person can act on.
#
#   Scripts/check-thresholds.sh                                  # every suite
#   Scripts/check-thresholds.sh --target CodecBenchmarks         # any further `benchmark` options are passed on
#
# Exit status:
#   0  every benchmark's malloc count equals what Thresholds/ records (within 1%)
#   1  a regression: some benchmark makes more mallocs than recorded (or none of the selected benchmarks has a
#      thresholds file)
#   2  no regression, but some benchmark makes fewer mallocs than recorded: record them with
#      `swift package --allow-writing-to-package-directory benchmark thresholds update --metric mallocCountTotal`
#   3  anything else: the build failed, a benchmark crashed, a bad option
#
# Why a script: ordo-one/benchmark's tool exits 2 for a regression and 4 for an improvement, but through
# `swift package` the plugin turns every failure into an error, and SwiftPM exits 1 for all of them (a regression,
# an improvement, a crash and a build failure alike). This script runs the same command and tells them apart by the
# verdict the tool prints.
set -uo pipefail
cd "$(dirname "$0")/.."

output=$(mktemp)
trap 'rm -f "$output"' EXIT

swift package benchmark thresholds check --metric mallocCountTotal --no-progress "$@" 2>&1 | tee "$output"
status=${PIPESTATUS[0]}

if grep -q "is WORSE than\|Could not find any matching absolute thresholds\|No benchmarks matching filter" "$output"; then
    echo "check-thresholds: REGRESSION: more mallocs than Thresholds/ records (exit 1; swift package exited $status)" >&2
    exit 1
fi
if grep -q "is BETTER than" "$output"; then
    echo "check-thresholds: fewer mallocs than Thresholds/ records: update the thresholds (exit 2; swift package exited $status)" >&2
    exit 2
fi
if [ "$status" -eq 0 ]; then
    echo "check-thresholds: every malloc count equals Thresholds/ (exit 0)" >&2
    exit 0
fi
echo "check-thresholds: the check did not run to a verdict (exit 3; swift package exited $status)" >&2
exit 3
