#!/usr/bin/env bash
# bench/sim_wrk.sh — requests/s of build/bitrise-sim for a simple build GET.
#
# Starts the simulator on a free loopback port (one MHD thread), runs wrk for
# a few seconds against GET /v0.1/apps/{app}/builds/{build}, and prints wrk's
# figure plus requests per CPU-second of the simulator (from /proc/PID/stat),
# which stays meaningful on a busy shared machine where wrk and the simulator
# compete for cores. Bounded: DURATION seconds (default 5).
#
#   bench/sim_wrk.sh [DURATION] [CONNECTIONS]
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SIM=${BITMON_SIM:-$BUILD/bitrise-sim}
dur=${1:-5}
conns=${2:-32}
command -v wrk >/dev/null || { echo "wrk not installed" >&2; exit 1; }
tmp=$(mktemp -d -t bitrise-sim-bench.XXXXXX)
pid=
cleanup() {
        [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
        rm -rf "$tmp"
}
trap cleanup EXIT
cat >"$tmp/scenario.json" <<'JSON'
{"tokens": [{"value": "bitwat_bench", "role": "developer"}],
 "apps": [{"slug": "669403bffbe35909", "builds": [
   {"slug": "b000000000000001", "triggered_at_s": -100, "running_s": 60, "status": 1}]}]}
JSON
"$SIM" --scenario "$tmp/scenario.json" --listen 127.0.0.1:0 --port-file "$tmp/port" \
        --threads 1 --log-level warn &
pid=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.05; done
port=$(cat "$tmp/port")
url=http://127.0.0.1:$port/v0.1/apps/669403bffbe35909/builds/b000000000000001
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
tck=$(getconf CLK_TCK)
c0=$(cpu)
out=$(wrk -t1 -c"$conns" -d"${dur}s" -H 'Authorization: bitwat_bench' "$url")
c1=$(cpu)
echo "$out"
reqs=$(echo "$out" | awk '/requests in/ {print $1}')
rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
awk -v r="$reqs" -v c=$((c1 - c0)) -v t="$tck" -v rps="$rps" 'BEGIN {
        s = c / t; printf "sim_build_get: %.0f req/s wall, simulator CPU %.2f s, %.0f req per CPU-second\n", rps, s, (s > 0 ? r / s : 0) }'
