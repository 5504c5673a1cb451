#!/usr/bin/env bash
# tests/integration/config_cli.sh — `bitmon config` end to end: the committed
# docs/configuration.md is current, --check lists every error and exits 2,
# --dump masks secrets and names sources, bad usage exits 2.
set -u
cd "$(dirname "$0")/../.."
BIN=${BITMON_BIN:-$PWD/build/bitmon}
tmp=$(mktemp -d -t bitmon-config-cli.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
failed=0
check() { # name, then a command that must succeed
        local name=$1
        shift
        if "$@" >"$tmp/out" 2>&1; then
                echo "ok $name"
        else
                echo "FAIL $name"
                sed 's/^/    /' "$tmp/out" | head -n 20
                failed=1
        fi
}
# Runs bitmon with a clean BITMON_* environment plus the given assignments.
bm() { env $(env | grep -o '^BITMON_[A-Z_]*' | sed 's/^/-u /') "$@"; }

reference_is_current() {
        "$BIN" config --reference >"$tmp/ref.md" &&
                diff -u docs/configuration.md "$tmp/ref.md"
}
check config_doc_is_current reference_is_current

check_lists_every_error() {
        printf 'workers.threads = 0\nfoo = 1\n' >"$tmp/bad.conf"
        bm BITMON_POLL_JITTER=3 "$BIN" config --file "$tmp/bad.conf" \
                -X shutdown.timeout_s=0 --check >"$tmp/o" 2>"$tmp/e"
        local rc=$?
        [ "$rc" -eq 2 ] || { echo "exit $rc, want 2"; return 1; }
        grep -qx "  $tmp/bad.conf:1: workers.threads: must be between 1 and 256 (got 0)" "$tmp/e" &&
                grep -qx "  $tmp/bad.conf:2: unknown key foo" "$tmp/e" &&
                grep -qx "  env BITMON_POLL_JITTER: poll.jitter: must be between 0 and 1 (got 3)" "$tmp/e" &&
                grep -qx "  command line -X: shutdown.timeout_s: must be between 1 and 300 (got 0)" "$tmp/e" &&
                grep -qx "bitmon: 4 configuration errors:" "$tmp/e" || { cat "$tmp/e"; return 1; }
}
check config_check_lists_every_error check_lists_every_error

check_ok() {
        printf '# fine\nworkers.threads = 4\n' >"$tmp/good.conf"
        bm BITMON_CONFIG="$tmp/good.conf" "$BIN" config --check | grep -qx "configuration ok"
}
check config_check_ok_via_BITMON_CONFIG check_ok

dump_masks_secrets() {
        printf 'redis.password = file-secret-1\nkafka.sasl.password = kpw-2\n' >"$tmp/s.conf"
        bm BITMON_REDIS_PASSWORD=env-secret-3 "$BIN" config --file "$tmp/s.conf" \
                -X workers.threads=7 --dump >"$tmp/d" || return 1
        ! grep -q 'secret-\|kpw-2' "$tmp/d" &&
                grep -qx 'redis.password = \*\*\*\*\*\* (env BITMON_REDIS_PASSWORD)' "$tmp/d" &&
                grep -qx "kafka.sasl.password = \*\*\*\*\*\* (file $tmp/s.conf:2)" "$tmp/d" &&
                grep -qx 'workers.threads = 7 (command line)' "$tmp/d" || { cat "$tmp/d"; return 1; }
}
check config_dump_masks_secrets dump_masks_secrets

bad_usage() {
        "$BIN" config >/dev/null 2>&1
        [ $? -eq 2 ] || return 1
        "$BIN" config --bogus >/dev/null 2>&1
        [ $? -eq 2 ] || return 1
        "$BIN" config --dump --check >/dev/null 2>&1
        [ $? -eq 2 ] || return 1
        "$BIN" config --file /nonexistent/x.conf --check 2>&1 |
                grep -q "/nonexistent/x.conf: cannot open: No such file or directory"
}
check config_bad_usage bad_usage
exit $failed
