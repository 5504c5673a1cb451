#!/usr/bin/env bash
# tests/integration/webhook_e2e.sh — Bitrise webhooks as hints across pods
# (issue 9). Three `bitmon run` processes in one group, each with its own
# webhook intake; the app's webhook (registered with `bitmon webhooks
# register`) points at p1 only, as a Service would pick one pod. Builds run
# until the test finishes them through the simulator, which then delivers
# build/finished. Polling is slow (poll.running_s=60), so:
#   - a delivery p1 receives for a build another process watches reaches
#     that owner through the jobs topic and ends its jobs within a second;
#   - with deliveries dropped, the owner's safety poll
#     (webhook.safety_poll_s=4) still ends the job: within two intervals,
#     since a status another process shared may be up to one interval old
#     (docs/run.md), and long before the 60-s running poll.
. "$(dirname "$0")/lib.sh"
lib_init webhook_e2e
W=a11e0000000e0b01
jq -n --arg a $W '{speed: 1, defaults: {archive_lag_s: 0},
   webhooks: {drop_share: 0, delay_ms: 0},
   workspaces: [{slug: "ws-hook"}],
   tokens: [{value: "bitwat_hook_dev", workspace: "ws-hook", role: "developer"},
            {value: "bitwat_hook_admin", workspace: "ws-hook", role: "admin"}],
   apps: [{slug: $a, workspace: "ws-hook", title: "hooked",
           builds: [range(12) as $k | {slug: ("b00c" + ("000000000000" + ($k | tostring))[-12:]),
                    triggered_at_s: -5, running_s: 100000, status: 1, workflow: "primary",
                    log: {lines: 30, steps: 2}}]}]}' >"$tmp/scenario.json"
sim_start "$tmp/scenario.json"
slug() { printf 'b00c%012d' "$1"; }
printf 'bitwat_hook_dev\n' >"$tmp/tokens/ws-hook"
mkdir -m 700 "$tmp/hooks"
export BITMON_WEBHOOK_SECRETS=dir:$tmp/hooks
BITMON_TOPICS_PARTITIONS=12 bitmon_env "webhook-e2e-$$-$RANDOM"
declare -A HOOK=()
for p in p1 p2 p3; do
        HOOK[$p]=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
        bitmon_start $p -X webhook.listen=127.0.0.1:"${HOOK[$p]}" -X poll.running_s=60 \
                -X webhook.safety_poll_s=4 -X workers.threads=1 \
                -X kafka.session.timeout.ms=6000 -X kafka.heartbeat.interval.ms=500
done
wait_assigned p1 p2 p3
printf 'bitwat_hook_admin\n' | "$BIN" webhooks register --workspace ws-hook --app $W \
        --url "http://127.0.0.1:${HOOK[p1]}/webhooks/bitrise" >"$tmp/register.out" 2>&1 ||
        die webhook_register "$(tail -3 "$tmp/register.out")"
tail_start
for k in $(seq 0 11); do job "$k" ws-hook $W "$(slug "$k")"; done >"$tmp/jobs.jsonl"
enqueue_file "$tmp/jobs.jsonl"
# Every job's first `status` names the process that watches its build.
for _ in $(seq $((300 * scale))); do
        [ "$(jq -r 'select(.event == "status") | .job_id' "$tmp/results.jsonl" 2>/dev/null | sort -u | wc -l)" -ge 12 ] && break
        sleep 0.1
done
owner() { jq -r --arg b "$1" 'select(.build_slug == $b and .event == "status") | .worker' "$tmp/results.jsonl" | head -1 | sed 's/.*-\(p[0-9]\)\/.*/\1/'; }
finished_at_ms() { # build → ms epoch of its finished result, or empty
        jq -r --arg b "$1" 'select(.build_slug == $b and .event == "finished") | .observed_at' "$tmp/results.jsonl" | head -1
}
finish() { # build
        curl -s -X POST "$sim_root/_sim/builds/finish" -d "{\"app\":\"$W\",\"build\":\"$1\",\"status\":1}" >/dev/null
}
wait_finished() { # build seconds → elapsed ms, or -1
        local t0 now
        t0=$(date +%s%3N)
        while :; do
                [ -n "$(finished_at_ms "$1")" ] && { echo $(($(date +%s%3N) - t0)); return; }
                now=$(date +%s%3N)
                [ $((now - t0)) -gt $(($2 * 1000)) ] && { echo -1; return; }
                sleep 0.05
        done
}

# 1. Deliveries through p1 reach each build's owner.
others=0 slow=""
declare -A HINTED=()
for k in 0 1 2 3 4 5; do
        b=$(slug $k)
        o=$(owner "$b")
        [ -n "$o" ] || die webhook_owner "no status result for $b"
        finish "$b"
        ms=$(wait_finished "$b" $((5 * scale)))
        note "build $k watched by $o: finished result ${ms} ms after the finish"
        if [ "$ms" -lt 0 ] || [ "$ms" -gt $((1000 * scale)) ]; then slow="$slow $k:${ms}ms"; fi
        [ "$o" != p1 ] && others=$((others + 1))
        HINTED[$o]=1
done
if [ -z "$slow" ] && [ "$others" -ge 1 ]; then
        ok "webhook_e2e_hint_reaches_owner (6 builds, $others watched by a process p1 is not; each within 1 s)"
else
        bad webhook_e2e_hint_reaches_owner "slow or missing:${slow:- none}; builds owned elsewhere: $others"
fi
routed=0
for p in p1 p2 p3; do routed=$((routed + $(bitmon_metric $p 'bitmon_hints_total{outcome="routed"}'))); done
accepted=$(bitmon_metric p1 'bitmon_webhook_requests_total{outcome="accepted"}')
[ "$routed" -ge 6 ] && [ "$accepted" -ge 6 ] && ok "webhook_e2e_metrics (p1 accepted $accepted, $routed hints routed)" ||
        bad webhook_e2e_metrics "p1 accepted $accepted deliveries, $routed hints routed"

# 2. A dropped delivery: the safety poll of a process that knows the app
# delivers webhooks ends the job all the same.
curl -s -X POST "$sim_root/_sim/webhooks/config" -d '{"drop_share": 1}' >/dev/null
pick=
for k in 6 7 8 9 10 11; do
        o=$(owner "$(slug $k)")
        [ -n "${HINTED[$o]:-}" ] && { pick=$k; break; }
done
[ -n "$pick" ] || die webhook_e2e_safety_poll "no running build left on a process that saw a hint"
b=$(slug "$pick")
finish "$b"
ms=$(wait_finished "$b" $((15 * scale)))
dropped=$(curl -s "$sim_root/_sim/webhooks/stats" | jq -r '.total.dropped')
note "build $pick (watched by $(owner "$b")), delivery dropped ($dropped dropped): finished ${ms} ms after the finish"
if [ "$ms" -ge 0 ] && [ "$ms" -le $(((2 * 4 + 2) * 1000 * scale)) ] && [ "$dropped" -ge 1 ]; then
        ok "webhook_e2e_dropped_delivery_safety_poll (${ms} ms, safety interval 4 s)"
else
        bad webhook_e2e_dropped_delivery_safety_poll "${ms} ms (want <= 10000), $dropped deliveries dropped"
fi
for p in p1 p2 p3; do bitmon_term $p; [ "$term_rc" = 0 ] || bad webhook_e2e_sigterm "$p exit $term_rc"; done
exit "$failed"
