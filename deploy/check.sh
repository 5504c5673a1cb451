#!/usr/bin/env bash
# deploy/check.sh — the manifests and bitmon.conf agree with each other and
# with bitmon: the configuration loads, the paths it names are mounted, the
# ports and timeouts line up. Prints "ok NAME" / "FAIL NAME: why" lines and
# exits non-zero on a failure. Needs build/bitmon (make).
set -u
cd "$(dirname "$0")/.." || exit 1
bin=${BITMON_BIN:-build/bitmon}
conf=deploy/k8s/bitmon.conf
dep=deploy/k8s/deployment.yaml
failed=0

check() { # name condition-result why
        if [ "$2" = 0 ]; then echo "ok $1"; else
                echo "FAIL $1: $3"
                failed=1
        fi
}
# The effective value of a key, as bitmon reads the file.
val() { "$bin" config --dump --file "$conf" 2>/dev/null | sed -n "s/^$1 = \\([^ ]*\\) .*/\\1/p"; }
yaml_num() { sed -n "s/^ *$1: *\\([0-9]*\\).*/\\1/p" "$dep" | head -n 1; }
mounted() { grep -q "mountPath: $1\$" "$dep"; }

out=$("$bin" config --check --file "$conf" 2>&1)
check deploy_conf_loads $? "$out"

store=$(val tokens.store)
mounted "${store#dir:}"
check deploy_tokens_mounted $? "tokens.store is '$store', no volume is mounted there"

fp=$(sed -n 's/^tokens.fingerprint_key_file *= *//p' "$conf")
mounted "$(dirname "$fp")"
check deploy_fingerprint_key_mounted $? "$(dirname "$fp") is not a mountPath in $dep"

cfg_path=$(grep -A1 'name: BITMON_CONFIG' "$dep" | sed -n 's/^ *value: *//p')
[ "$(dirname "$cfg_path")" = /etc/bitmon ] && mounted /etc/bitmon
check deploy_config_mounted $? "BITMON_CONFIG=$cfg_path, but the ConfigMap is not mounted at its dir"

port=$(val http.listen)
port=${port##*:}
[ -n "$port" ] && [ "$port" = "$(yaml_num containerPort)" ] && grep -q "EXPOSE $port" deploy/Dockerfile
check deploy_http_port $? "http.listen port '$port', containerPort $(yaml_num containerPort), Dockerfile EXPOSE disagree"

grep -q 'path: /healthz' "$dep" && grep -q 'path: /readyz' "$dep"
check deploy_probes $? "liveness /healthz and readiness /readyz probes missing"

grace=$(yaml_num terminationGracePeriodSeconds)
shut=$(val shutdown.timeout_s)
[ -n "$grace" ] && [ -n "$shut" ] && [ "$shut" -lt "$grace" ]
check deploy_shutdown_within_grace $? "shutdown.timeout_s $shut is not under terminationGracePeriodSeconds $grace"

repl=$(yaml_num replicas)
[ "$(val cache.expected_replicas)" = "$repl" ]
check deploy_expected_replicas $? "cache.expected_replicas $(val cache.expected_replicas) differs from replicas $repl"

grep -q '^USER 10001:10001' deploy/Dockerfile && grep -q 'runAsUser: 10001' "$dep" && grep -q 'runAsNonRoot: true' "$dep"
check deploy_non_root $? "image user and pod securityContext disagree"

exit $failed
