#!/usr/bin/env bash
# tests/integration/image_demo.sh — `make image-test` inside the suite: the
# container image (deploy/Dockerfile) is linted with hadolint, built (reused
# when the sources did not change: it is tagged by their hash) and runs the
# demo (scripts/demo.sh) with `bitmon run` in the container — uid 10001,
# read-only root, /tmp tmpfs, no capabilities, host network, tokens and keys
# mounted read-only — against this suite's local stack; every job gets its
# terminal result and `docker stop` ends it cleanly within the grace period.
# The image does not depend on the sanitizer trees, so it runs in the
# default tree (build/) only.
cd "$(dirname "$0")/../.."
case "${BITMON_BUILD:-build}" in
*/build | build) ;;
*) echo "# image test: runs with the default build tree only"; exit 0 ;;
esac
t0=$(date +%s)
scripts/image.sh test
rc=$?
echo "# image test took $(($(date +%s) - t0)) s"
exit "$rc"
