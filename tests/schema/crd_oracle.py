#!/usr/bin/env python3
"""The CRD oracle: checks that torii's schema tables (src/api/schema_*.c) restate the Gateway API
CRDs. Runs `torii schema-dump`, loads the served version of each kind from the experimental CRDs
and walks both from `spec` down (plus the top level's x-kubernetes-validations), reporting every
difference as `Kind: spec.path: what differs`. A CRD oneOf/anyOf/allOf/not must have an
"x-torii-check" on the same node (its presence is all that is checked); a non-string enum is
restated as an x-torii-check "enum: <JSON list>" and compared as a set.

usage: crd_oracle.py [--torii PATH] [--crds DIR] [--kind KIND] [--allow-stub]
"""
import argparse
import glob
import json
import os
import subprocess
import sys

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The version compared for each kind (the one torii validates against).
VERSIONS = {
    "GatewayClass": "v1", "Gateway": "v1", "ListenerSet": "v1", "HTTPRoute": "v1",
    "GRPCRoute": "v1", "TLSRoute": "v1", "TCPRoute": "v1", "UDPRoute": "v1",
    "ReferenceGrant": "v1", "BackendTLSPolicy": "v1", "XBackendTrafficPolicy": "v1alpha1",
    "XMesh": "v1alpha1",
}

# Keys compared by plain equality (after the CRD side is parsed by YAML, the dump by JSON).
SCALARS = ["type", "pattern", "format", "minLength", "maxLength", "minItems", "maxItems",
           "minProperties", "maxProperties", "minimum", "maximum", "default",
           "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
           "x-kubernetes-preserve-unknown-fields"]
RULE_KEYS = ["message", "fieldPath", "reason"]


def load_crds(crd_dir):
    """{Kind: openAPIV3Schema of the compared version}"""
    out = {}
    for path in sorted(glob.glob(os.path.join(crd_dir, "*.yaml"))):
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if not doc or doc.get("kind") != "CustomResourceDefinition":
                    continue
                kind = doc["spec"]["names"]["kind"]
                for v in doc["spec"]["versions"]:
                    if VERSIONS.get(kind) == v["name"]:
                        out[kind] = v["schema"]["openAPIV3Schema"]
    return out


class Diff:
    def __init__(self, kind):
        self.kind = kind
        self.lines = []

    def __call__(self, path, what):
        self.lines.append(f"{self.kind}: {path}: {what}")


def show(v):
    return json.dumps(v, sort_keys=True)


def compare_rules(diff, path, crd_rules, tr_rules):
    crd_by_rule = {r["rule"]: r for r in crd_rules}
    tr_by_rule = {r["rule"]: r for r in tr_rules}
    for rule, r in crd_by_rule.items():
        t = tr_by_rule.get(rule)
        if t is None:
            diff(path, f"CEL rule missing: {rule!r}")
            continue
        for key in RULE_KEYS:
            if r.get(key) != t.get(key):
                diff(path, f"CEL rule {rule!r}: {key} is {show(t.get(key))}, CRD has {show(r.get(key))}")
    for rule in tr_by_rule:
        if rule not in crd_by_rule:
            diff(path, f"CEL rule not in the CRD: {rule!r}")
    if len(crd_rules) != len(crd_by_rule) or len(tr_rules) != len(tr_by_rule):
        if len(crd_rules) - len(crd_by_rule) != len(tr_rules) - len(tr_by_rule):
            diff(path, "duplicate CEL rule texts differ in number")


def walk(diff, path, crd, tr):
    """Compares one CRD schema node with its dumped counterpart, then the children."""
    # Type: the dump writes "" for "anything"; a CRD node without a type is anything too.
    ctype, ttype = crd.get("type", ""), tr.get("type", "")
    if ctype != ttype:
        diff(path, f"type is {show(ttype)}, CRD has {show(ctype)}")
    for key in SCALARS:
        if key == "type":
            continue
        if crd.get(key) != tr.get(key):
            diff(path, f"{key} is {show(tr.get(key))}, CRD has {show(crd.get(key))}")
    # The tables hold string enums only: a non-string enum (HTTP status codes) is restated as an
    # x-torii-check whose text is "enum: <JSON list>".
    check = tr.get("x-torii-check", "")
    nonstring_enum = any(not isinstance(v, str) for v in crd.get("enum") or [])
    if "enum" in crd or "enum" in tr:
        c, t = set(crd.get("enum") or []), set(tr.get("enum") or [])
        if nonstring_enum and not t and check.startswith("enum:"):
            try:
                t = set(json.loads(check[len("enum:"):]))
            except ValueError:
                diff(path, f"x-torii-check {show(check)}: the enum is not a JSON list")
        if c != t:
            diff(path, f"enum: missing {sorted(c - t, key=str)}, extra {sorted(t - c, key=str)}")
    c, t = set(crd.get("required") or []), set(tr.get("required") or [])
    if c != t:
        diff(path, f"required: missing {sorted(c - t)}, extra {sorted(t - c)}")
    compare_rules(diff, path, crd.get("x-kubernetes-validations") or [],
                  tr.get("x-kubernetes-validations") or [])
    structural = [k for k in ("oneOf", "anyOf", "allOf", "not") if k in crd]
    if structural and "x-torii-check" not in tr:
        diff(path, f"CRD has {'/'.join(structural)}: no x-torii-check")
    if not structural and "x-torii-check" in tr and not nonstring_enum:
        diff(path, f"x-torii-check {show(tr['x-torii-check'])} but the CRD has no oneOf/anyOf/not")

    cprops, tprops = crd.get("properties") or {}, tr.get("properties") or {}
    for name in cprops:
        if name not in tprops:
            diff(f"{path}.{name}", "property missing")
        else:
            walk(diff, f"{path}.{name}", cprops[name], tprops[name])
    for name in tprops:
        if name not in cprops:
            diff(f"{path}.{name}", "property not in the CRD")
    for key, suffix in (("items", "[]"), ("additionalProperties", "{}")):
        c, t = crd.get(key), tr.get(key)
        if isinstance(c, dict) and isinstance(t, dict):
            walk(diff, path + suffix, c, t)
        elif c != t:
            diff(path, f"{key} is {show(t)}, CRD has {show(c)}")


def check_kind(kind, crd, tr):
    diff = Diff(kind)
    compare_rules(diff, "<root>", crd.get("x-kubernetes-validations") or [],
                  tr.get("x-kubernetes-validations") or [])
    for name in crd.get("required") or []:
        if name not in (tr.get("required") or []):
            diff(name, "required in the CRD, optional in torii")
    walk(diff, "spec", crd["properties"]["spec"], tr["properties"]["spec"])
    return diff.lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--torii", default=os.path.join(REPO, "build", "torii"))
    ap.add_argument("--crds", default=os.path.join(REPO, "..", "shared", "gateway-api", "crds", "experimental"))
    ap.add_argument("--kind", help="check only this kind")
    ap.add_argument("--allow-stub", action="store_true",
                    help="report kinds whose tables have no spec as not written, without failing")
    args = ap.parse_args()

    dump = json.loads(subprocess.run([args.torii, "schema-dump"], check=True,
                                     capture_output=True, text=True).stdout)
    crds = load_crds(args.crds)
    kinds = [args.kind] if args.kind else sorted(VERSIONS)
    checked = ndiff = bad_kinds = 0
    for kind in kinds:
        if kind not in crds:
            print(f"{kind}: no CRD (version {VERSIONS.get(kind)}) in {args.crds}")
            ndiff += 1
            bad_kinds += 1
            continue
        if kind not in dump:
            print(f"{kind}: not in torii's schema dump")
            ndiff += 1
            bad_kinds += 1
            continue
        if "spec" not in (dump[kind].get("properties") or {}):
            print(f"{kind}: not written")
            if not args.allow_stub:
                ndiff += 1
                bad_kinds += 1
            continue
        lines = check_kind(kind, crds[kind], dump[kind])
        for line in lines:
            print(line)
        checked += 1
        ndiff += len(lines)
        bad_kinds += 1 if lines else 0
    print(f"{checked} kinds checked, {ndiff} differences")
    # One test per kind, for tests/run-all.
    print(f"{len(kinds) - bad_kinds} passed, {bad_kinds} failed")
    return 1 if ndiff else 0


if __name__ == "__main__":
    sys.exit(main())
