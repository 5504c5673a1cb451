#!/usr/bin/env bash
# tests/run.sh — runs every test against the local stack and counts results.
#
# Starts Redis and Kafka once (scripts/stack.sh), exports where they listen,
# runs each unit test binary, each integration test binary and each
# integration script, and ends with the line "N passed, N failed". A test
# binary prints "ok NAME" / "FAIL NAME" per case (tests/assert.h); a binary
# that dies or times out without saying FAIL counts as one failure.
#
#   tests/run.sh            everything
#   tests/run.sh --unit     unit tests only, no services
#   tests/run.sh PATTERN    only tests whose file name contains PATTERN
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
mode=all
filter=
case "${1:-}" in
--unit) mode=unit ;;
"") ;;
*) filter=$1 ;;
esac

# Sanitizer trees run slower: scale every timeout.
scale=${BITMON_TEST_TIMEOUT_SCALE:-1}
case "$BUILD" in *asan* | *tsan*) scale=${BITMON_TEST_TIMEOUT_SCALE:-3} ;; esac
export BITMON_TEST_TIMEOUT_SCALE=$scale
export BITMON_BIN=$PWD/$BUILD/bitmon BITMON_SIM=$PWD/$BUILD/bitrise-sim
export BITMON_SHARED=${BITMON_SHARED:-$(cd .. && pwd)/shared}
export BITMON_BUILD=$PWD/$BUILD
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=0:second_deadlock_stack=1:suppressions=$PWD/tests/tsan/suppressions.txt}

logdir=$BUILD/test-logs
rm -rf "$logdir"
mkdir -p "$logdir"
stackdir=
cleanup() {
        if [ -n "$stackdir" ]; then
                scripts/stack.sh stop "$stackdir" >/dev/null 2>&1
                rm -rf "$stackdir"
        fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$mode" = all ]; then
        stackdir=$(mktemp -d -t bitmon-stack.XXXXXX)
        t0=$(date +%s)
        if ! scripts/stack.sh start "$stackdir"; then
                echo "cannot start the local stack (logs in $stackdir)" >&2
                tail -n 30 "$stackdir"/*.log >&2 2>/dev/null
                echo "0 passed, 1 failed"
                exit 1
        fi
        echo "local stack up in $(($(date +%s) - t0)) s"
        set -a
        . "$stackdir/env"
        set +a
fi

passed=0
failed=0
failures=()

run_one() { # path, kind
        local t=$1 name out rc p f limit
        name=$(basename "$t")
        [ -n "$filter" ] && [[ "$name" != *"$filter"* ]] && return
        out=$logdir/$name.log
        limit=$((${BITMON_TEST_TIMEOUT:-300} * scale))
        local t0=$(date +%s)
        timeout -k 10 "$limit" "$t" >"$out" 2>&1 </dev/null
        rc=$?
        p=$(grep -c '^ok ' "$out")
        f=$(grep -c '^FAIL ' "$out")
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
                f=1
                [ "$rc" -eq 124 ] && echo "FAIL $name: timed out after ${limit}s" >>"$out" ||
                        echo "FAIL $name: exited with status $rc" >>"$out"
        fi
        passed=$((passed + p))
        failed=$((failed + f))
        printf '%-40s %3d ok %3d failed  %3ds\n' "$name" "$p" "$f" $(($(date +%s) - t0))
        if [ "$f" -gt 0 ]; then
                failures+=("$name")
                sed -n '1,200p' "$out" | grep -v '^ok ' | tail -n 60 | sed 's/^/    /'
        fi
}

for t in "$BUILD"/tests/test_*; do
        [ -x "$t" ] && [[ "$t" != *.d ]] && run_one "$t"
done
if [ "$mode" = all ]; then
        for t in "$BUILD"/tests/itest_* tests/integration/*.sh; do
                [ -x "$t" ] && [[ "$t" != *.d ]] && run_one "$t"
        done
fi

[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]} (logs in $logdir)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
