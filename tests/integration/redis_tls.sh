#!/usr/bin/env bash
# tests/integration/redis_tls.sh — the cache integration tests over TLS:
# a redis-server of this test's own with only a TLS port (CA, server and
# client certificates from tests/support/tls_certs.sh, client certificates
# required) and the default user disabled, so that every command has to come
# as the ACL user over TLS. The budget, validity, build cache / done marker
# (preflight) and redis token store tests then run against it unchanged
# (tests/integration/itest_cache_redis.h: $BITMON_TEST_REDIS_TLS_DIR); their
# cases are reported as "ok tls/NAME".
set -u
cd "$(dirname "$0")/../.."
. scripts/stack.sh # pick_port
BUILD_DIR=${BITMON_BUILD:-$PWD/build}
tmp=$(mktemp -d -t bitmon-redis-tls.XXXXXX)
pid=
cleanup() {
        [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
        rm -rf "$tmp"
}
trap cleanup EXIT
tests/support/tls_certs.sh "$tmp" || { echo "FAIL redis_tls_pki: openssl"; exit 1; }
port=$(pick_port)
pw="tls-itest-$RANDOM$RANDOM"
printf 'user default off\nuser bitmon on >%s ~* &* +@all\n' "$pw" >"$tmp/users.acl"
redis-server --port 0 --tls-port "$port" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$tmp" --aclfile "$tmp/users.acl" \
        --tls-cert-file "$tmp/server.crt" --tls-key-file "$tmp/server.key" \
        --tls-ca-cert-file "$tmp/ca.crt" --tls-auth-clients yes >"$tmp/redis.log" 2>&1 &
pid=$!
cli() { redis-cli -p "$port" --tls --cacert "$tmp/ca.crt" --cert "$tmp/client.crt" \
        --key "$tmp/client.key" --user bitmon --pass "$pw" --no-auth-warning "$@"; }
for _ in $(seq 50); do [ "$(cli ping 2>/dev/null)" = PONG ] && break; sleep 0.1; done
[ "$(cli ping 2>/dev/null)" = PONG ] || { echo "FAIL redis_tls_server: $(tail -3 "$tmp/redis.log")"; exit 1; }
echo "ok redis_tls_server_up"
# Plain TCP and the default user are refused: the tests below cannot pass
# unless they speak TLS as the ACL user.
[ "$(redis-cli -p "$port" ping 2>/dev/null)" != PONG ] && echo "ok redis_tls_plain_refused" ||
        echo "FAIL redis_tls_plain_refused"
export BITMON_TEST_REDIS=127.0.0.1:$port BITMON_TEST_REDIS_TLS_DIR=$tmp
export BITMON_TEST_REDIS_USER=bitmon BITMON_TEST_REDIS_PASSWORD=$pw
before=$(cli info stats | sed -n 's/^total_commands_processed:\([0-9]*\).*/\1/p')
for t in itest_budget itest_cache_validity itest_cache_preflight itest_cache_tokenstore itest_cache_redis; do
        "$BUILD_DIR/tests/$t" >"$tmp/$t.log" 2>&1
        rc=$?
        sed -n 's/^ok /ok tls\//p; s/^FAIL /FAIL tls\//p' "$tmp/$t.log"
        if [ "$rc" -ne 0 ]; then
                grep -q '^FAIL' "$tmp/$t.log" || echo "FAIL tls/$t: exited with status $rc"
                grep -v '^ok ' "$tmp/$t.log" | tail -20 | sed 's/^/    /'
        fi
done
after=$(cli info stats | sed -n 's/^total_commands_processed:\([0-9]*\).*/\1/p')
# The TLS server did the work (thousands of commands), not some other Redis.
[ $((after - before)) -gt 500 ] && echo "ok redis_tls_served_the_tests" ||
        echo "FAIL redis_tls_served_the_tests: only $((after - before)) commands"
