#!/usr/bin/env bash
# bench/api.sh — what following builds costs in Bitrise calls (issue 9):
# 250 concurrent builds over 10 apps on ONE workspace token with a budget of
# 1 request per (simulated) second, durations 5–15 min, a new build arriving
# as each one finishes (tests/scenarios/bench_api.json, the simulator's
# workload, 3 workflows per app with steady durations). Each mode runs on a
# fresh simulator, topics and Redis prefix, one `bitmon run`; the simulator
# counts the calls, the results give the detection latency (Bitrise
# finished_at → terminal result produced, in simulated seconds).
#
# Time is accelerated: the simulator runs API_SPEED (40) times faster than
# the wall clock, and bitmon gets every interval divided by that factor and
# the budget multiplied by it (1 request per simulated second), nothing
# else: it reads Bitrise's clock from the simulator's Date headers as it
# would read the real one's.
#
# Modes, one line each:
#   fixed3    per-build polling every 3 s (what a naive client does)
#   perbuild  per-build polling at poll.running_s (bitmon before issue 9)
#   batched   one list call per app and interval
#   adaptive  batched + the schedule learnt from the durations
#   webhooks  adaptive + Bitrise webhooks (20 % of deliveries dropped)
#
#   api: mode=M builds=N calls=C calls_per_build=X detect_p50_s=A detect_p99_s=B rate_limited=R
#
# builds = builds that finished inside the measured window and got their
# terminal result; calls = every API request of the token in that window
# (list, build, log; the raw log download carries no token).
#
# Env: BUILD (build), API_MODES ("fixed3 perbuild batched adaptive
# webhooks"), API_SPEED (40), API_WINDOW_S (simulated seconds measured per
# mode, 1500), API_WARMUP_S (simulated seconds before measuring, 300),
# API_BUDGET (the token's budget.rate in requests per simulated second, 1),
# KEEP_TMP=1.
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
if [ -z "${BITMON_TEST_KAFKA:-}" ] || [ -z "${BITMON_TEST_REDIS:-}" ]; then
        exec scripts/stack.sh run -- "$0" "$@"
fi
export BITMON_BIN=$PWD/$BUILD/bitmon BITMON_SIM=$PWD/$BUILD/bitrise-sim BITMON_BUILD=$PWD/$BUILD
. tests/integration/lib.sh
lib_init bench_api
modes=${API_MODES:-fixed3 perbuild batched adaptive webhooks}
X=${API_SPEED:-40}
window=${API_WINDOW_S:-1500}
warmup=${API_WARMUP_S:-300}
budget=${API_BUDGET:-1} # requests per simulated second
scen=$PWD/tests/scenarios/bench_api.json
TOK=bitwat_bench_developer ADMIN=bitwat_bench_admin WS=ws-bench

s() { awk -v v="$1" -v x="$X" 'BEGIN { printf "%.3f", v / x }'; } # simulated s → real s

# The same Bitrise timings as production, in accelerated time.
common_args() {
        echo -X poll.on_hold_s="$(s 30)" -X poll.min_s="$(s 2)" -X poll.max_s="$(s 120)" \
                -X poll.target_detect_s="$(s 10)" -X webhook.safety_poll_s="$(s 300)" \
                -X budget.rate="$(awk -v b="$budget" -v x="$X" 'BEGIN { print b * x }')" -X budget.burst=20 \
                -X poll.backoff_base_ms=$((500 / X > 10 ? 500 / X : 10)) \
                -X bitrise.log_archive_wait_s=$(((600 + X - 1) / X)) \
                -X bitrise.log_retry_s="$(s 2)" \
                -X cache.lease_ms=$((5000 / X > 100 ? 5000 / X : 100)) \
                -X workers.threads=2
}

mode_args() {
        case $1 in
        fixed3) echo -X poll.batch=false -X poll.adaptive=false -X poll.running_s="$(s 3)" ;;
        perbuild) echo -X poll.batch=false -X poll.adaptive=false -X poll.running_s="$(s 15)" ;;
        batched) echo -X poll.batch=true -X poll.adaptive=false -X poll.running_s="$(s 15)" ;;
        adaptive | webhooks) echo -X poll.batch=true -X poll.adaptive=true -X poll.running_s="$(s 15)" ;;
        esac
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Enqueues a job for every workload build as the simulator triggers it,
# until the file $tmp/stop exists.
feeder() {
        local since=0 page
        while [ ! -e "$tmp/stop" ]; do
                page=$(curl -s "$sim_root/_sim/workload?since=$since") || { sleep 0.2; continue; }
                jq -r --arg run "$run" --arg ws $WS '.builds[] |
                        {v: 1, job_id: ($run + "-" + .build), workspace: $ws,
                         app_slug: .app, build_slug: .build} | tojson' <<<"$page" >"$tmp/feed.jsonl"
                [ -s "$tmp/feed.jsonl" ] && "$BIN" enqueue - <"$tmp/feed.jsonl" >>"$tmp/enqueue.out" 2>&1
                since=$(jq -r .next <<<"$page")
                sleep 0.2
        done
}

# RFC 3339 with or without milliseconds → epoch ms (jq).
JQ_MS='def ms: . as $t | ($t | sub("\\.[0-9]+Z$"; "Z") | fromdate * 1000)
        + ((($t | capture("\\.(?<f>[0-9]+)Z$") | .f) // "0") + "00" | .[0:3] | tonumber);'
sim_ms() { curl -s "$sim_root/_sim/health" | jq -r "$JQ_MS"' .sim_now | ms'; }

run_mode() { # mode
        local mode=$1 wport="" args
        rm -f "$tmp/stop" "$tmp/results.jsonl" "$tmp/sim.port"
        sim_start "$scen" --speed "$X"
        rm -rf "$tmp/tokens" "$tmp/hooks" && mkdir -m 700 "$tmp/tokens" "$tmp/hooks"
        printf '%s\n' $TOK >"$tmp/tokens/$WS"
        bitmon_env "api-$mode-$$-$RANDOM"
        # shellcheck disable=SC2207
        args=($(common_args) $(mode_args "$mode"))
        if [ "$mode" = webhooks ]; then
                wport=$(free_port)
                export BITMON_WEBHOOK_SECRETS=dir:$tmp/hooks
                args+=(-X webhook.listen=127.0.0.1:"$wport")
                for app in $(curl -s "$sim_root/_sim/workload?since=0" | jq -r '[.builds[].app] | unique[]'); do
                        printf '%s\n' $ADMIN | "$BIN" webhooks register --workspace $WS --app "$app" \
                                --url "http://127.0.0.1:$wport/webhooks/bitrise" >>"$tmp/register.out" 2>&1 ||
                                die api_register "$(tail -2 "$tmp/register.out")"
                done
        fi
        bitmon_start "$mode" "${args[@]}"
        tail_start
        local tpid=$!
        feeder &
        local fpid=$!
        sleep "$(s "$warmup")"
        curl -s -X POST "$sim_root/_sim/stats/reset" >/dev/null
        local t0 t1
        t0=$(sim_ms)
        sleep "$(s "$window")"
        t1=$(sim_ms)
        local calls
        calls=$(sim_token_requests $TOK)
        sim_stats | jq -r --arg t $TOK '.tokens[] | select(.token == $t) |
                "# calls by endpoint: " + (.endpoints | to_entries | map("\(.key)=\(.value)") | join(" ")) +
                "; 429s: \(.throttled)"' 
        touch "$tmp/stop"
        wait "$fpid" 2>/dev/null
        sleep 0.5
        # Finished inside the window, with their terminal result.
        jq -r --argjson t0 "$t0" --argjson t1 "$t1" --argjson x "$X" \
                --argjson s0 "$(curl -s "$sim_root/_sim/health" | jq -r "$JQ_MS"' .started_at | ms')" "$JQ_MS"'
                select(.event == "finished" and .build.finished_at != null) |
                (.build.finished_at | ms) as $f |
                select($f >= $t0 and $f < $t1) |
                ($s0 + ((.observed_at | ms) - $s0) * $x) as $seen |
                (($seen - $f) / 1000)' "$tmp/results.jsonl" 2>/dev/null | sort -n >"$tmp/detect.txt"
        local builds p50 p99 rl
        builds=$(wc -l <"$tmp/detect.txt")
        p50=$(awk '{ v[NR] = $1 } END { if (NR) printf "%.1f", v[int((NR - 1) * 0.50) + 1]; else print "nan" }' "$tmp/detect.txt")
        p99=$(awk '{ v[NR] = $1 } END { if (NR) printf "%.1f", v[int((NR - 1) * 0.99) + 1]; else print "nan" }' "$tmp/detect.txt")
        rl=$(jq -r 'select(.event == "error" and .error.code == "rate_limited") | .job_id' "$tmp/results.jsonl" 2>/dev/null | sort -u | wc -l)
        echo "api: mode=$mode builds=$builds calls=$calls calls_per_build=$(awk -v c="$calls" -v b="$builds" 'BEGIN { printf "%.2f", b ? c / b : 0 }') detect_p50_s=$p50 detect_p99_s=$p99 rate_limited=$rl"
        [ "$mode" = webhooks ] && note "webhooks: $(curl -s "$sim_root/_sim/webhooks/stats" | jq -c .total); hints $(bitmon_metric "$mode" 'bitmon_hints_total{outcome="routed"}') routed, $(bitmon_metric "$mode" 'bitmon_hints_total{outcome="dropped"}') dropped"
        bitmon_term "$mode"
        kill "$sim_pid" 2>/dev/null
        wait "$sim_pid" 2>/dev/null
        kill "$tpid" 2>/dev/null
        wait "$tpid" 2>/dev/null
}

note "speed ${X}x, window ${window} simulated s after ${warmup} s of warm-up, budget $budget request(s) per simulated second"
for m in $modes; do run_mode "$m"; done
exit "$failed"
