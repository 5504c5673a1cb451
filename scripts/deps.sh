#!/usr/bin/env bash
# scripts/deps.sh — installs what bitmon needs from Debian's packages.
#
# Idempotent and quiet when everything is there. Runs as root, or with sudo.
# The Kafka jars are not installed here: scripts/stack.sh resolves them with
# Maven into a cache on first use.
#
# hiredis: bitmon needs 1.0 or later (TLS, ACL users). Where the system's
# libhiredis is older (Debian 12, Ubuntu 22.04 ship 0.14), hiredis.sh builds
# 1.2.0 with TLS from Debian trixie's source package into a cached prefix,
# which the Makefile finds through pkg-config.
set -eu
pkgs=(
        build-essential pkg-config git ca-certificates curl
        librdkafka-dev libcurl4-openssl-dev libcjson-dev libhiredis-dev libssl-dev
        libuv1-dev      # worker event loop (timers + libcurl multi sockets)
        libmicrohttpd-dev # HTTP server: Bitrise simulator, /metrics
        redis-server kcat
        clang clang-format libclang-rt-14-dev # fuzzing, sanitizers, layout
        python3 python3-venv jq procps psmisc iproute2 openssl # test tools (venv: scripts/deploy-tools.sh)
        dpkg-dev # apt-get source (hiredis.sh)
)
# Kafka needs a JDK (17+) and Maven; install them only when absent.
command -v java >/dev/null 2>&1 || pkgs+=(default-jdk-headless)
command -v mvn >/dev/null 2>&1 || pkgs+=(maven)

missing=()
for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
                missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
        sudo=
        [ "$(id -u)" -eq 0 ] || sudo=sudo
        echo "deps: installing ${missing[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        $sudo apt-get update -qq >/dev/null
        $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
"$(dirname "$0")/hiredis.sh"
