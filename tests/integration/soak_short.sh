#!/usr/bin/env bash
# tests/integration/soak_short.sh — the chaos soak (tests/soak/soak.sh) at
# about 2,000 jobs over 400 builds in under 3 minutes, at-least-once: kills
# every ~20 s, the broker stopped and started, Redis restarted empty, 30 %
# 5xx, 429 bursts, latency spikes, truncated bodies, a token revoked, bad
# jobs mixed in. ok/FAIL on lost=0, wrong=0, over_budget_windows=0, extra
# results <= 1 % of the jobs, every bad job in the DLQ with its reason; ends
# with the soak line. It runs a stack of its own (Kafka and Redis are stopped
# on purpose), not the suite's.
exec "$(dirname "$0")/../soak/soak.sh" --short at_least_once
