#!/usr/bin/env bash
# tests/integration/stack_deploy.sh — deploy/ agrees with bitmon, Kubernetes
# and itself (deploy/check.sh: chart renders and validations, alerts and
# their unit tests, dashboard PromQL, metric names on the e2e's scrape,
# message schemas). Runs the demo on the local stack first so that its jobs
# and results are validated too; pipeline_e2e.sh (run before this script by
# tests/run.sh) leaves its messages and scrape; run alone, this runs it.
set -u
cd "$(dirname "$0")/../.." || exit 1
build=${BITMON_BUILD:-$PWD/build}
export BITMON_TEST_ARTIFACTS=${BITMON_TEST_ARTIFACTS:-$build/artifacts}
if [ -z "${BITMON_TEST_KAFKA:-}" ] || [ -z "${BITMON_TEST_REDIS:-}" ]; then
        echo "FAIL stack_deploy: needs the local stack (run through tests/run.sh)"
        exit 1
fi
if [ ! -s "$BITMON_TEST_ARTIFACTS/pipeline/metrics.txt" ]; then
        tests/integration/pipeline_e2e.sh >"$build/stack_deploy.pipeline.log" 2>&1 ||
                echo "FAIL stack_deploy_pipeline: pipeline_e2e.sh failed (see $build/stack_deploy.pipeline.log)"
fi
rm -rf "$BITMON_TEST_ARTIFACTS/demo"
if CI=true DEMO_TIMEOUT_S=60 BUILD=$(realpath --relative-to=. "$build") scripts/demo.sh >"$build/stack_deploy.demo.log" 2>&1; then
        echo "ok stack_deploy_demo"
else
        echo "FAIL stack_deploy_demo: make demo failed: $(tail -3 "$build/stack_deploy.demo.log")"
fi
exec deploy/check.sh --require-artifacts
