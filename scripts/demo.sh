#!/usr/bin/env bash
# scripts/demo.sh — `make demo`: bitmon's main job end to end on the local
# stack (scripts/stack.sh: Redis + Kafka) and the Bitrise simulator with
# tests/scenarios/demo.json: create the topics, start `bitmon run`, enqueue a
# mix of jobs (success, failing step, aborted, on hold → running → success,
# aborted with its log deleted (still `finished`, log unavailable), a
# report-once job, a mistyped token, an unknown app), show the results as
# they arrive, then SIGTERM bitmon and check that it exits cleanly. The
# failing build's job asks for `log: full`: its whole log is read back from
# the logs topic with `bitmon log` and checked against the result.
# Exit 0 only if every job got exactly one terminal result and bitmon
# stopped with status 0 within shutdown.timeout_s.
#
# Env: BUILD (default build), DEMO_TIMEOUT_S (default 120), KEEP_TMP=1 keeps
# the temporary dir (logs, token dir, results). DEMO_IMAGE=IMAGE runs
# `bitmon run` in that container image instead (scripts/image.sh test): host
# network, uid 10001, read-only root with a /tmp tmpfs, no capabilities,
# tokens and keys mounted read-only where deploy/k8s/deployment.yaml mounts
# them, stopped with `docker stop` (SIGTERM); DOCKER is the client to use.
# The jobs and results are also left in $BITMON_TEST_ARTIFACTS/demo
# (default $BUILD/artifacts) for deploy/check.sh's schema check.
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}

# Run inside the local stack (it exports BITMON_TEST_KAFKA/REDIS).
if [ -z "${BITMON_TEST_KAFKA:-}" ] || [ -z "${BITMON_TEST_REDIS:-}" ]; then
        exec scripts/stack.sh run -- "$0" "$@"
fi

BIN=$PWD/$BUILD/bitmon
SIM=$PWD/$BUILD/bitrise-sim
SCENARIO=$PWD/tests/scenarios/demo.json
image=${DEMO_IMAGE:-}
timeout_s=${DEMO_TIMEOUT_S:-120}
for f in "$BIN" "$SIM"; do
        [ -x "$f" ] || { echo "demo: $f missing: run make tools" >&2; exit 1; }
done

if [ -t 1 ] && [ "${CI:-}" != "true" ]; then
        B=$'\e[1m' G=$'\e[32m' R=$'\e[31m' N=$'\e[0m'
else
        B= G= R= N=
fi
say() { printf '%s==> %s%s\n' "$B" "$*" "$N"; }
fail() { printf '%sdemo: FAILED: %s%s\n' "$R" "$*" "$N"; exit 1; }

tmp=$(mktemp -d -t bitmon-demo.XXXXXX)
sim_pid= run_pid= tail_pid= tailh_pid=
cleanup() {
        [ -n "$image" ] && [ -n "$run_pid" ] && "${DOCKER:-docker}" rm -f "$container" >/dev/null 2>&1
        for p in $tailh_pid $tail_pid $run_pid $sim_pid; do
                kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
        done
        if [ -n "${KEEP_TMP:-}" ]; then echo "demo: files kept in $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the simulated Bitrise -------------------------------------------------
say "starting the Bitrise simulator ($SCENARIO, 10x speed)"
"$SIM" --scenario "$SCENARIO" --listen 127.0.0.1:0 --port-file "$tmp/sim.port" \
        >"$tmp/sim.log" 2>&1 &
sim_pid=$!
for _ in $(seq 100); do [ -s "$tmp/sim.port" ] && break; sleep 0.1; done
[ -s "$tmp/sim.port" ] || fail "the simulator did not start (see $tmp/sim.log)"
sim_url=http://127.0.0.1:$(cat "$tmp/sim.port")/v0.1

# ---- tokens (a Kubernetes-Secret-like dir) and the fingerprint key ----------
mkdir -m 700 "$tmp/tokens" "$tmp/keys"
printf 'bitwat_demo_developer_token\n' >"$tmp/tokens/ws-demo"
printf 'bitwat_mistyped_token_xx\n' >"$tmp/tokens/ws-broken" # 401
openssl rand -hex 32 >"$tmp/keys/fingerprint.key"
chmod 600 "$tmp/tokens/"* "$tmp/keys/fingerprint.key"
tokens_dir=$tmp/tokens keys_dir=$tmp/keys
if [ -n "$image" ]; then
        # As a Secret volume with defaultMode 0440 and fsGroup 10001.
        chgrp -R 10001 "$tmp/tokens" "$tmp/keys"
        chmod 750 "$tmp/tokens" "$tmp/keys"
        chmod 440 "$tmp/tokens/"* "$tmp/keys/"*
        tokens_dir=/var/run/secrets/bitmon/tokens keys_dir=/var/run/secrets/bitmon/keys
fi

# ---- configuration: environment, as in a pod --------------------------------
run_id=demo-$$-$RANDOM
export BITMON_KAFKA_BOOTSTRAP_SERVERS=$BITMON_TEST_KAFKA
export BITMON_REDIS_HOST=${BITMON_TEST_REDIS%:*} BITMON_REDIS_PORT=${BITMON_TEST_REDIS##*:}
export BITMON_REDIS_PREFIX="$run_id:"
export BITMON_TOPICS_JOBS=$run_id.jobs BITMON_TOPICS_RESULTS=$run_id.results
export BITMON_TOPICS_DLQ=$run_id.dlq BITMON_TOPICS_REPLICATION=1 BITMON_TOPICS_PARTITIONS=3
export BITMON_TOPICS_LOGS=$run_id.logs
export BITMON_CONSUMER_GROUP=$run_id
export BITMON_TOKENS_STORE=dir:$tokens_dir
export BITMON_TOKENS_FINGERPRINT_KEY_FILE=$keys_dir/fingerprint.key
export BITMON_BITRISE_BASE_URL=$sim_url
export BITMON_HTTP_LISTEN=127.0.0.1:0
export BITMON_POLL_RUNNING_S=1 BITMON_POLL_ON_HOLD_S=1 BITMON_BUDGET_RATE=10
export BITMON_WORKER_ID=demo BITMON_LOG_FORMAT=json
shutdown_s=10
export BITMON_SHUTDOWN_TIMEOUT_S=$shutdown_s

say "creating the topics ($run_id.*)"
"$BIN" topics || fail "bitmon topics"

container=bitmon-demo-$$-$RANDOM
run_start() { # `bitmon run` on the host, or in the container image
        if [ -z "$image" ]; then
                "$BIN" run >"$tmp/bitmon.log" 2>&1 &
                run_pid=$!
                return
        fi
        local envs=() v
        for v in $(compgen -e | grep '^BITMON_' | grep -v -e '^BITMON_TEST_'); do envs+=(-e "$v"); done
        envs+=(-e BITMON_TOKENS_STORE -e BITMON_TOKENS_FINGERPRINT_KEY_FILE)
        "${DOCKER:-docker}" run --rm --name "$container" --network host \
                --user 10001:10001 --read-only --tmpfs /tmp:size=64m --cap-drop ALL \
                --security-opt no-new-privileges --stop-timeout 30 \
                -v "$tmp/tokens:/var/run/secrets/bitmon/tokens:ro" \
                -v "$tmp/keys:/var/run/secrets/bitmon/keys:ro" \
                "${envs[@]}" "$image" run >"$tmp/bitmon.log" 2>&1 &
        run_pid=$!
}
run_stop() { # SIGTERM: kill on the host, docker stop for the container
        if [ -z "$image" ]; then
                kill -TERM "$run_pid"
        else
                "${DOCKER:-docker}" stop -t 30 "$container" >/dev/null
        fi
}

say "starting bitmon run${image:+ in $image} (log: $tmp/bitmon.log)"
run_start
for _ in $(seq 150); do
        grep -q '"msg":"started"' "$tmp/bitmon.log" && break
        kill -0 "$run_pid" 2>/dev/null || fail "bitmon run exited: $(tail -5 "$tmp/bitmon.log")"
        sleep 0.1
done
grep -q '"msg":"started"' "$tmp/bitmon.log" || fail "bitmon run did not start"
http_port=$(sed -n 's/.*"msg":"http listening","port":"\([0-9]*\)".*/\1/p' "$tmp/bitmon.log" | head -1)
echo "    ready: $(curl -s "127.0.0.1:$http_port/readyz" 2>/dev/null || echo '?') (http :$http_port)"

# Results: raw JSON for the checks, and the readable form for you.
"$BIN" tail --json --from-beginning >"$tmp/results.jsonl" 2>"$tmp/tail.err" &
tail_pid=$!
"$BIN" tail --from-beginning 2>/dev/null &
tailh_pid=$!

app=d3e0000000000001
say "enqueueing 8 jobs"
{
        for b in 1 2 3 4 6; do
                full=
                [ "$b" = 2 ] && full=',"log":"full"' # the failing build: its whole log
                printf '{"v":1,"job_id":"%s-b%s","workspace":"ws-demo","app_slug":"%s","build_slug":"b00000000000000%s","attrs":{"demo":"%s"}%s}\n' \
                        "$run_id" "$b" "$app" "$b" "$run_id" "$full"
        done
        printf '{"v":1,"job_id":"%s-once","workspace":"ws-demo","app_slug":"%s","build_slug":"b000000000000004","follow":false}\n' "$run_id" "$app"
        printf '{"v":1,"job_id":"%s-badtoken","workspace":"ws-broken","app_slug":"d3e0000000000002","build_slug":"b000000000000005"}\n' "$run_id"
        printf '{"v":1,"job_id":"%s-noapp","workspace":"ws-demo","app_slug":"ffff000000000000","build_slug":"b000000000000001"}\n' "$run_id"
} >"$tmp/jobs.jsonl"
"$BIN" enqueue - <"$tmp/jobs.jsonl" | sed 's/^/    /' || fail "bitmon enqueue"
expected=$(wc -l <"$tmp/jobs.jsonl")

say "waiting for every job's terminal result (at most ${timeout_s}s)"
terminal() { # count of terminal results per job_id, one "N job_id" a line
        jq -r 'select(.event != "status" or .final == true) | .job_id' \
                "$tmp/results.jsonl" 2>/dev/null | sort | uniq -c
}
start=$SECONDS
while [ $((SECONDS - start)) -lt "$timeout_s" ]; do
        [ "$(terminal | wc -l)" -ge "$expected" ] && break
        kill -0 "$run_pid" 2>/dev/null || fail "bitmon run died: $(tail -5 "$tmp/bitmon.log")"
        sleep 0.5
done
sleep 1 # a duplicate would show up now
kill "$tailh_pid" 2>/dev/null; wait "$tailh_pid" 2>/dev/null; tailh_pid=

say "reading back the whole log of b2 (log: full) with bitmon log --job $run_id-b2"
full_ok=0
ref=$(jq -c --arg j "$run_id-b2" 'select(.job_id == $j and .event == "finished") | .log.full' "$tmp/results.jsonl" | tail -1)
if "$BIN" log --job "$run_id-b2" >"$tmp/b2.log" 2>"$tmp/b2.err"; then
        echo "    $ref" | cut -c1-200
        echo "    ... its last lines:"
        "$BIN" log --strip-ansi --job "$run_id-b2" 2>/dev/null | tail -4 | cut -c1-100 | sed 's/^/      /'
        got=$(sha256sum <"$tmp/b2.log" | cut -c1-64)
        [ "$got" = "$(jq -r .sha256 <<<"$ref")" ] && full_ok=1
        echo "    $(wc -c <"$tmp/b2.log") bytes, sha256 $got: $([ $full_ok = 1 ] && echo "matches the result" || echo "${R}does not match$N")"
else
        echo "    ${R}bitmon log: $(cat "$tmp/b2.err")$N"
fi

say "stopping bitmon (SIGTERM, shutdown.timeout_s=$shutdown_s)"
t0=$(date +%s%N)
run_stop
wait "$run_pid"
rc=$?
run_pid=
ms=$((($(date +%s%N) - t0) / 1000000))
grep -o '"msg":"stopped"[^}]*' "$tmp/bitmon.log" | sed 's/^/    /'
kill "$tail_pid" 2>/dev/null; wait "$tail_pid" 2>/dev/null; tail_pid=

# ---- verdict ---------------------------------------------------------------
say "how each job ended"
jq -r 'select(.event != "status" or .final == true) |
        [.job_id, .event + (if .final then " (final, follow=false)" else "" end),
         (if .event == "error" then .error.code
          else (.build.status_text // "?") + " #" + ((.build.number // 0) | tostring) end),
         (if .log.available == false then "log unavailable: " + .log.unavailable
          else [.log.failed_steps[]? | .title + " (" + (if .exit_code == null then "interrupted" else "exit " + (.exit_code | tostring) end) + ")"] | join(", ") end)]
        | @tsv' "$tmp/results.jsonl" | sed "s/^$run_id-//" |
        awk -F'\t' '{ printf "    %-10s %-30s %-26s %s\n", $1, $2, $3, $4 }'
ok=1
while read -r job; do
        n=$(terminal | awk -v j="$job" '$2 == j {print $1}')
        if [ "${n:-0}" -ne 1 ]; then
                echo "    ${R}$job: ${n:-0} terminal results (want 1)$N"
                ok=0
        fi
done < <(jq -r .job_id "$tmp/jobs.jsonl")
echo "    results: $(wc -l <"$tmp/results.jsonl") messages, $(terminal | wc -l) of $expected jobs ended"
echo "    bitmon exit status $rc after ${ms} ms"
[ "$rc" -eq 0 ] || ok=0
[ "$full_ok" -eq 1 ] || ok=0
[ "$ms" -le $((shutdown_s * 1000)) ] || ok=0
grep -q '"level":"error"' "$tmp/bitmon.log" && {
        echo "    errors in the bitmon log:"
        grep '"level":"error"' "$tmp/bitmon.log" | head -5 | sed 's/^/      /'
}
art=${BITMON_TEST_ARTIFACTS:-$PWD/$BUILD/artifacts}/demo
mkdir -p "$art" 2>/dev/null && cp "$tmp/jobs.jsonl" "$tmp/results.jsonl" "$art/" 2>/dev/null
[ "$ok" -eq 1 ] || fail "see above (KEEP_TMP=1 keeps $tmp)"
printf '%sdemo: OK — every job got exactly one terminal result; the log: full job'"'"'s log came back whole; bitmon exited cleanly%s\n' "$G" "$N"
