#!/usr/bin/env bash
# bench/sim_logjob.sh — simulator CPU per finished-build job, as bitmon's
# throughput benchmark drives it: GET build, GET /log, GET the raw log (100 KB,
# tests/scenarios/bench_finished.json), over distinct builds.
#
# Starts build/bitrise-sim (one MHD thread) on a free loopback port, runs wrk
# with bench/sim_logjob.lua for DURATION seconds and prints the simulator's
# CPU time (user + system, /proc/PID/stat) per job; the figure does not depend
# on how busy the shared machine is, the wall rate does.
#
#   bench/sim_logjob.sh [DURATION] [CONNECTIONS] [BUILDS]
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SIM=${BITMON_SIM:-$BUILD/bitrise-sim}
dur=${1:-5}
conns=${2:-8}
builds=${3:-2000}
command -v wrk >/dev/null || { echo "wrk not installed" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl not installed" >&2; exit 1; }
tmp=$(mktemp -d -t bitrise-sim-logjob.XXXXXX)
pid=
cleanup() {
        [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
        rm -rf "$tmp"
}
trap cleanup EXIT
"$SIM" --scenario tests/scenarios/bench_finished.json --listen 127.0.0.1:0 \
        --port-file "$tmp/port" --threads 1 --log-level warn &
pid=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.05; done
port=$(cat "$tmp/port")
root=http://127.0.0.1:$port
# builds 1..N/500 of each of the 500 apps (build 0 is the newest)
urls=()
for ((i = 0; i < builds; i++)); do
        urls+=("$root/_sim/slugs?app_index=$((i % 500))&build_index=$((1 + i / 500))")
done
{ curl -sf "${urls[@]}" && echo; } | sed 's/}{/}\n{/g' |
        sed -n 's/.*"app":"\([^"]*\)".*"build":"\([^"]*\)".*/\1 \2/p' >"$tmp/jobs"
[ "$(wc -l <"$tmp/jobs")" -eq "$builds" ] || { echo "cannot list $builds builds" >&2; exit 1; }
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
tck=$(getconf CLK_TCK)
c0=$(cpu)
out=$(wrk -t1 -c"$conns" -d"${dur}s" -s bench/sim_logjob.lua "$root/" -- "$tmp/jobs" bitwat_bench_developer)
c1=$(cpu)
echo "$out"
reqs=$(echo "$out" | awk '/requests in/ {print $1}')
errs=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
[ -z "$errs" ] || { echo "non-2xx answers: $errs" >&2; exit 1; }
awk -v r="$reqs" -v c=$((c1 - c0)) -v t="$tck" -v d="$dur" 'BEGIN {
        s = c / t; j = int(r / 3)
        printf "sim_logjob: %d jobs in %d s, simulator CPU %.2f s, %.3f ms per job\n", j, d, s, (j > 0 ? s * 1000 / j : 0) }'
