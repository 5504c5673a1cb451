#!/usr/bin/env bash
# tests/integration/consumer_lag.sh — bitmon_consumer_lag shows the jobs
# waiting in Kafka: 40 jobs on a real broker, a Bitrise that accepts
# connections and never answers (the watches hang), workers.max_watches=4
# (intake pauses), librdkafka statistics every 500 ms: the gauge must count
# the jobs not read yet (between 10 and the 36 beyond the watches).
# Needs the local stack (BITMON_TEST_KAFKA, BITMON_TEST_REDIS).
set -u
cd "$(dirname "$0")/../.." || exit 1
BIN=${BITMON_BIN:-$PWD/build/bitmon}
scale=${BITMON_TEST_TIMEOUT_SCALE:-1}
if [ -z "${BITMON_TEST_KAFKA:-}" ] || [ -z "${BITMON_TEST_REDIS:-}" ]; then
        echo "FAIL consumer_lag: needs the local stack (run through tests/run.sh)"
        exit 1
fi
t=$(mktemp -d -t bitmon-lag.XXXXXX)
hole_pid= run_pid=
cleanup() {
        for p in $run_pid $hole_pid; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
        rm -rf "$t"
}
trap cleanup EXIT
python3 -c "
import socket
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(128)
open('$t/port', 'w').write(str(s.getsockname()[1]))
held = []
while True:
    held.append(s.accept()[0])
" &
hole_pid=$!
for _ in $(seq 50); do [ -s "$t/port" ] && break; sleep 0.1; done
mkdir -m 700 "$t/tokens"
echo bitwat_lag_token >"$t/tokens/ws-lag"
openssl rand -hex 32 >"$t/fp"
run=lag-$$-$RANDOM
export BITMON_KAFKA_BOOTSTRAP_SERVERS=$BITMON_TEST_KAFKA
export BITMON_REDIS_HOST=${BITMON_TEST_REDIS%:*} BITMON_REDIS_PORT=${BITMON_TEST_REDIS##*:}
export BITMON_REDIS_PREFIX="$run:" BITMON_TOPICS_JOBS=$run.jobs BITMON_TOPICS_RESULTS=$run.results
export BITMON_TOPICS_DLQ=$run.dlq BITMON_TOPICS_REPLICATION=1 BITMON_TOPICS_PARTITIONS=2
export BITMON_TOPICS_LOGS=$run.logs
export BITMON_CONSUMER_GROUP=$run BITMON_WORKER_ID=$run
export BITMON_TOKENS_STORE=dir:$t/tokens BITMON_TOKENS_FINGERPRINT_KEY_FILE=$t/fp
export BITMON_BITRISE_BASE_URL=http://127.0.0.1:$(cat "$t/port")/v0.1 BITMON_HTTP_LISTEN=127.0.0.1:0
export BITMON_WORKERS_MAX_WATCHES=4 BITMON_LOG_FORMAT=json BITMON_KAFKA_STATISTICS_INTERVAL_MS=500
export BITMON_SHUTDOWN_TIMEOUT_S=$((5 * scale))
"$BIN" topics >"$t/topics.out" 2>&1 || { echo "FAIL consumer_lag_topics: $(cat "$t/topics.out")"; exit 1; }
for i in $(seq 40); do
        printf '{"v":1,"job_id":"%s-%d","workspace":"ws-lag","app_slug":"a11e000000000001","build_slug":"%016x"}\n' "$run" "$i" "$i"
done | "$BIN" enqueue - >"$t/enqueue.out" 2>&1 || { echo "FAIL consumer_lag_enqueue: $(tail -2 "$t/enqueue.out")"; exit 1; }
"$BIN" run >"$t/log" 2>&1 &
run_pid=$!
metric() { curl -s "127.0.0.1:$port/metrics" | sed -n "s/^$1 //p"; }
port=
lag= watches=
for _ in $(seq $((150 * scale))); do
        [ -n "$port" ] || port=$(sed -n 's/.*"msg":"http listening","port":"\([0-9]*\)".*/\1/p' "$t/log" | head -1)
        if [ -n "$port" ]; then
                lag=$(metric bitmon_consumer_lag) watches=$(metric bitmon_watches)
                [ "${watches:-0}" = 4 ] && [ "${lag:-0}" -ge 10 ] 2>/dev/null && break
        fi
        sleep 0.1
done
if [ "${watches:-}" = 4 ] && [ "${lag:-0}" -ge 10 ] 2>/dev/null && [ "$lag" -le 36 ]; then
        echo "ok consumer_lag_counts_waiting_jobs (lag $lag, watches $watches)"
else
        echo "FAIL consumer_lag_counts_waiting_jobs: lag '${lag:-}' watches '${watches:-}' (want 4 watches, 10..36 waiting)"
        tail -5 "$t/log" | sed 's/^/    /'
fi
