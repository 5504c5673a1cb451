#!/usr/bin/env bash
# tests/integration/stack_deploy.sh — deploy/ agrees with bitmon and with
# itself (deploy/check.sh: config loads, mounts, port, grace, replicas).
exec "$(dirname "$0")/../../deploy/check.sh"
