"""deploy/checklib.py — the YAML and JSON work of deploy/check.sh, run with
the deploy venv's python (PyYAML). Subcommands:

  split RENDER OUTDIR         one file per document of a `helm template`
                              output: OUTDIR/core.yaml (built-in kinds) and
                              OUTDIR/<Kind>-<name>.json (custom resources)
  crd-schema CRD.yaml OUT     the CRD's openAPIV3Schema as a JSON Schema
                              (2020-12) that rejects unknown fields, as the
                              API server's strict field validation does
  rules RENDER OUT            the spec of the PrometheusRule in RENDER, as a
                              Prometheus rule file
  dashboard-rules JSON OUT    every PromQL expression of a Grafana dashboard
                              (Grafana's variables replaced) as recording
                              rules, for `promtool check rules`
  metric-names FILE...        the metric names used by rule files and
                              dashboards, one a line, sorted
  scrape-names METRICS        the series names of a /metrics scrape
  config RENDER OUTDIR        each ConfigMap's bitmon.conf as OUTDIR/N.conf
  workload RENDER             the worker pool (one Deployment or StatefulSet)
                              and what names it agree: its selector, the
                              PodDisruptionBudget's, the ScaledObject's
                              scaleTargetRef, the Service the ServiceMonitor
                              selects (not a headless one); prints its kind
  stable-worker-id RENDER     the worker pool is a StatefulSet whose pods
                              take BITMON_WORKER_ID from their (stable) name,
                              with a headless governing Service, Parallel
                              pod management and rolling updates
  validate SCHEMA [--invalid] FILE.jsonl...
                              every line validates against SCHEMA (with
                              --invalid: every line is rejected); prints
                              "N messages" or the first problems

Errors go to stderr with a non-zero exit.
"""
import json
import os
import re
import sys

import yaml

CRD_GROUPS = ("keda.sh", "monitoring.coreos.com")


def docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def cmd_split(render, outdir):
    os.makedirs(outdir, exist_ok=True)
    core = []
    for d in docs(render):
        group = d.get("apiVersion", "").split("/")[0]
        if group in CRD_GROUPS:
            name = "%s-%s.json" % (d["kind"], d["metadata"]["name"])
            with open(os.path.join(outdir, name), "w") as f:
                json.dump(d, f)
        else:
            core.append(d)
    with open(os.path.join(outdir, "core.yaml"), "w") as f:
        yaml.safe_dump_all(core, f)


def strict(schema):
    """OpenAPI v3 (Kubernetes structural schema) → JSON Schema."""
    if not isinstance(schema, dict):
        return schema
    s = {k: v for k, v in schema.items() if not k.startswith("x-kubernetes")}
    if schema.get("x-kubernetes-int-or-string"):
        s.pop("type", None)
        s["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if "(?" in s.get("pattern", ""):
        s.pop("pattern")  # Go's inline flags (?i): no JSON Schema form
    if s.pop("nullable", False) and "type" in s:
        s["type"] = [s["type"], "null"]
    for k in ("properties", "patternProperties"):
        if k in s:
            s[k] = {n: strict(v) for n, v in s[k].items()}
    for k in ("items", "additionalProperties", "not"):
        if isinstance(s.get(k), dict):
            s[k] = strict(s[k])
    for k in ("allOf", "anyOf", "oneOf"):
        if k in s:
            s[k] = [strict(v) for v in s[k]]
    if ("properties" in s and "additionalProperties" not in s
            and not schema.get("x-kubernetes-preserve-unknown-fields")):
        s["additionalProperties"] = False
    return s


def cmd_crd_schema(crd_path, out):
    crd = docs(crd_path)[0]
    kind = crd["spec"]["names"]["kind"]
    group = crd["spec"]["group"]
    variants = []
    for v in crd["spec"]["versions"]:
        if not v.get("served", True):
            continue
        sch = strict(v["schema"]["openAPIV3Schema"])
        sch.setdefault("properties", {})
        # apiVersion/kind/metadata: pinned to this version, metadata loose.
        sch["properties"]["apiVersion"] = {"const": "%s/%s" % (group, v["name"])}
        sch["properties"]["kind"] = {"const": kind}
        sch["properties"]["metadata"] = {"type": "object"}
        sch["required"] = sorted(set(sch.get("required", [])) |
                                 {"apiVersion", "kind", "metadata", "spec"})
        variants.append(sch)
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
              "title": "%s (%s)" % (kind, os.path.basename(crd_path))}
    if len(variants) == 1:
        schema.update(variants[0])
    else:
        schema["oneOf"] = variants
    with open(out, "w") as f:
        json.dump(schema, f)


def cmd_rules(render, out):
    rules = [d for d in docs(render) if d.get("kind") == "PrometheusRule"]
    if len(rules) != 1:
        sys.exit("want one PrometheusRule in %s, found %d" % (render, len(rules)))
    with open(out, "w") as f:
        yaml.safe_dump(rules[0]["spec"], f, sort_keys=False)


GRAFANA_VARS = [("$__rate_interval", "5m"), ("$__interval", "1m"),
                ("$__range", "1h")]


def dashboard_exprs(path):
    with open(path) as f:
        dash = json.load(f)
    out = []

    def walk(panels):
        for p in panels:
            walk(p.get("panels", []))
            for t in p.get("targets", []):
                if t.get("expr"):
                    out.append((p.get("title", "?"), t["expr"]))
    walk(dash.get("panels", []))
    for v in dash.get("templating", {}).get("list", []):
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        m = re.match(r"label_values\((.*),\s*\w+\)$", q or "")
        if m:
            out.append(("variable " + v["name"], m.group(1)))
    return out


def grafana_to_promql(expr):
    for k, v in GRAFANA_VARS:
        expr = expr.replace(k, v)
    return re.sub(r"\$\{?(\w+)\}?", r"\1", expr)


def cmd_dashboard_rules(path, out):
    exprs = dashboard_exprs(path)
    if not exprs:
        sys.exit("%s: no PromQL expression" % path)
    rules = [{"record": "dashboard:expr_%d" % i, "expr": grafana_to_promql(e)}
             for i, (_, e) in enumerate(exprs)]
    with open(out, "w") as f:
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)


# PromQL words that look like names: functions, aggregations, keywords.
PROMQL_WORDS = set("""
sum min max avg count stddev stdvar topk bottomk quantile count_values group
by without on ignoring group_left group_right and or unless bool offset
rate irate increase delta idelta deriv predict_linear histogram_quantile abs
absent absent_over_time ceil floor round clamp clamp_min clamp_max exp ln log2
log10 sqrt time timestamp vector scalar sort sort_desc label_replace label_join
changes resets avg_over_time min_over_time max_over_time sum_over_time
count_over_time last_over_time quantile_over_time stddev_over_time
present_over_time day_of_month day_of_week hour minute month year inf nan
label_values""".split())


def expr_names(expr):
    expr = re.sub(r'"(\\.|[^"\\])*"', '""', grafana_to_promql(expr))
    expr = re.sub(r"\{[^}]*\}", "{}", expr)   # matchers: label names
    expr = re.sub(r"\[[^\]]*\]", "[]", expr)  # ranges: durations
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)",
                  r"\1", expr)
    names = set()
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
        w = m.group(0)
        if w in PROMQL_WORDS or re.fullmatch(r"\d+[smhdwy]", w):
            continue
        if m.start() > 0 and expr[m.start() - 1].isdigit():
            continue  # 1e3, 5m
        names.add(w)
    return names


def cmd_metric_names(paths):
    names = set()
    for p in paths:
        if p.endswith(".json"):
            exprs = [e for _, e in dashboard_exprs(p)]
        else:
            with open(p) as f:
                spec = yaml.safe_load(f)
            exprs = [r["expr"] for g in spec["groups"] for r in g["rules"]]
        for e in exprs:
            names |= expr_names(e)
    print("\n".join(sorted(names)))


def cmd_scrape_names(path):
    names = set()
    with open(path) as f:
        for line in f:
            m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", line)
            if m and not line.startswith("#"):
                names.add(m.group(1))
    print("\n".join(sorted(names)))


def cmd_config(render, outdir):
    os.makedirs(outdir, exist_ok=True)
    n = 0
    for d in docs(render):
        if d.get("kind") == "ConfigMap" and "bitmon.conf" in d.get("data", {}):
            with open(os.path.join(outdir, "%d.conf" % n), "w") as f:
                f.write(d["data"]["bitmon.conf"])
            n += 1
    if n != 1:
        sys.exit("want one bitmon.conf ConfigMap in %s, found %d" % (render, n))


WORKLOAD_KINDS = ("Deployment", "StatefulSet")


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def label_expr(e, labels):
    op, key, values = e["operator"], e["key"], e.get("values", [])
    if op == "In":
        return labels.get(key) in values
    if op == "NotIn":
        return labels.get(key) not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    sys.exit("unknown selector operator " + op)


def worker_pool(render):
    """The render's documents by kind, and its one worker pool."""
    by_kind = {}
    for d in docs(render):
        by_kind.setdefault(d.get("kind"), []).append(d)
    pools = [d for k in WORKLOAD_KINDS for d in by_kind.get(k, [])]
    if len(pools) != 1:
        sys.exit("want one Deployment or StatefulSet in %s, found %d" % (render, len(pools)))
    return by_kind, pools[0]


def cmd_workload(render):
    by_kind, pool = worker_pool(render)
    kind, name = pool["kind"], pool["metadata"]["name"]
    pod = pool["spec"]["template"]
    labels = pod["metadata"].get("labels", {})
    bad = []
    if not selects(pool["spec"]["selector"].get("matchLabels"), labels):
        bad.append("the %s's selector does not select its pods" % kind)
    for pdb in by_kind.get("PodDisruptionBudget", []):
        if not selects(pdb["spec"]["selector"].get("matchLabels"), labels):
            bad.append("PodDisruptionBudget %s does not select the pods" % pdb["metadata"]["name"])
    for so in by_kind.get("ScaledObject", []):
        ref = so["spec"]["scaleTargetRef"]
        got = (ref.get("apiVersion", "apps/v1"), ref.get("kind", "Deployment"), ref.get("name"))
        if got != ("apps/v1", kind, name):
            bad.append("ScaledObject %s scales %s, not apps/v1 %s %s" %
                       (so["metadata"]["name"], "/".join(map(str, got)), kind, name))
    services = by_kind.get("Service", [])
    for sm in by_kind.get("ServiceMonitor", []):
        sel = sm["spec"]["selector"]
        picked = []
        for svc in services:
            svc_labels = svc["metadata"].get("labels", {})
            if not selects(sel.get("matchLabels"), svc_labels):
                continue
            if any(not label_expr(e, svc_labels) for e in sel.get("matchExpressions", [])):
                continue
            picked.append(svc)
        ports = [e["port"] for e in sm["spec"]["endpoints"]]
        if (len(picked) != 1 or picked[0]["spec"].get("clusterIP") == "None"
                or not selects(picked[0]["spec"].get("selector"), labels)
                or not set(ports) <= {p["name"] for p in picked[0]["spec"]["ports"]}):
            bad.append("ServiceMonitor %s selects %s, want the one Service (not headless) "
                       "of the pods with port(s) %s" %
                       (sm["metadata"]["name"],
                        [svc["metadata"]["name"] for svc in picked] or "no Service", ports))
    print(kind)
    if bad:
        sys.exit("; ".join(bad))


def cmd_stable_worker_id(render):
    by_kind, pool = worker_pool(render)
    if pool["kind"] != "StatefulSet":
        sys.exit("the worker pool is a %s: its pods get new names when replaced" % pool["kind"])
    spec = pool["spec"]
    labels = spec["template"]["metadata"].get("labels", {})
    bad = []
    envs = [e for c in spec["template"]["spec"]["containers"] for e in c.get("env", [])
            if e["name"] == "BITMON_WORKER_ID"]
    refs = [e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") for e in envs]
    if refs != ["metadata.name"]:
        bad.append("BITMON_WORKER_ID is not the pod's name (fieldRef metadata.name): %s" % envs)
    gov = [svc for svc in by_kind.get("Service", [])
           if svc["metadata"]["name"] == spec.get("serviceName")]
    if (len(gov) != 1 or gov[0]["spec"].get("clusterIP") != "None"
            or not selects(gov[0]["spec"].get("selector"), labels)):
        bad.append("serviceName %r is not a headless Service of the pods in the render" %
                   spec.get("serviceName"))
    if spec.get("podManagementPolicy") != "Parallel":
        bad.append("podManagementPolicy is %r, not Parallel" % spec.get("podManagementPolicy"))
    upd = spec.get("updateStrategy", {})
    if upd.get("type") != "RollingUpdate" or upd.get("rollingUpdate", {}).get("partition", 0):
        bad.append("updateStrategy %s is not a RollingUpdate of every pod" % upd)
    if bad:
        sys.exit("; ".join(bad))


def cmd_validate(schema_path, args):
    import jsonschema
    want_valid = True
    if args and args[0] == "--invalid":
        want_valid, args = False, args[1:]
    with open(schema_path) as f:
        schema = json.load(f)
    cls = jsonschema.Draft202012Validator
    cls.check_schema(schema)
    v = cls(schema, format_checker=cls.FORMAT_CHECKER)
    n, bad = 0, []
    for path in args:
        with open(path) as f:
            for i, line in enumerate(f, 1):
                if not line.strip():
                    continue
                n += 1
                errs = list(v.iter_errors(json.loads(line)))
                if want_valid and errs:
                    e = errs[0]
                    bad.append("%s:%d: %s at %s" % (path, i, e.message[:200],
                                                    "/".join(map(str, e.absolute_path))))
                elif not want_valid and not errs:
                    bad.append("%s:%d: accepted, should be rejected" % (path, i))
    if bad or n == 0:
        sys.exit("\n".join(bad[:10]) or "no messages in " + " ".join(args))
    print("%d messages" % n)


def main(argv):
    if len(argv) >= 3 and argv[1] == "validate":
        return cmd_validate(argv[2], argv[3:])
    cmds = {"split": (cmd_split, 2), "crd-schema": (cmd_crd_schema, 2),
            "rules": (cmd_rules, 2), "dashboard-rules": (cmd_dashboard_rules, 2),
            "scrape-names": (cmd_scrape_names, 1), "config": (cmd_config, 2),
            "workload": (cmd_workload, 1), "stable-worker-id": (cmd_stable_worker_id, 1)}
    if len(argv) >= 2 and argv[1] == "metric-names":
        return cmd_metric_names(argv[2:])
    if len(argv) < 2 or argv[1] not in cmds or len(argv) - 2 != cmds[argv[1]][1]:
        sys.exit(__doc__)
    cmds[argv[1]][0](*argv[2:])


if __name__ == "__main__":
    main(sys.argv)
