#!/usr/bin/env bash
# tests/fuzz/run.sh — runs every libFuzzer target built by `make fuzz`.
#
# Each build-fuzz/fuzz_NAME uses the seed corpus tests/fuzz/corpus/NAME/
# (read-only; taken from shared/bitrise-api/real/) plus a work corpus under
# $BUILD/fuzz-work/NAME/ where new inputs go; crashes land in
# $BUILD/fuzz-work/. Prints "ok fuzz_NAME" / "FAIL fuzz_NAME" like the tests.
#
#   tests/fuzz/run.sh             fuzz each target for $FUZZ_TIME s (20)
#   tests/fuzz/run.sh --replay    only replay the seed corpus (regression)
#   tests/fuzz/run.sh [--replay] NAME   one target
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build-fuzz}
FUZZ_TIME=${FUZZ_TIME:-20}
mode=fuzz
if [ "${1:-}" = --replay ]; then
        mode=replay
        shift
fi
only=${1:-}
work=$BUILD/fuzz-work
mkdir -p "$work"
failed=0
found=0
for bin in "$BUILD"/fuzz_*; do
        [ -x "$bin" ] && [ -f "$bin" ] || continue
        name=$(basename "$bin")
        short=${name#fuzz_}
        [ -n "$only" ] && [ "$only" != "$short" ] && [ "$only" != "$name" ] && continue
        found=$((found + 1))
        seeds=tests/fuzz/corpus/$short
        mkdir -p "$work/$short"
        log=$work/$name.log
        if [ "$mode" = replay ]; then
                "$bin" -runs=0 "$seeds" >"$log" 2>&1
        else
                "$bin" -max_total_time="$FUZZ_TIME" -max_len=65536 -timeout=10 \
                        -rss_limit_mb=1024 -artifact_prefix="$work/$name-" -print_final_stats=1 \
                        "$work/$short" "$seeds" >"$log" 2>&1
        fi
        rc=$?
        if [ $rc -eq 0 ]; then
                echo "ok $name ($(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo replayed) runs)"
        else
                echo "FAIL $name (log: $log)"
                tail -n 40 "$log" | sed 's/^/    /'
                failed=$((failed + 1))
        fi
done
if [ $found -eq 0 ]; then
        echo "FAIL fuzz: no targets in $BUILD (run make fuzz)"
        exit 1
fi
[ $failed -eq 0 ]
