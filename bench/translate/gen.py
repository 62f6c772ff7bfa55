#!/usr/bin/env python3
"""Generates a manifest directory for the control-plane (translate) benchmark.

What it writes (all deterministic for a given --seed, except the one self-signed certificate,
which is made once with the openssl CLI and reused from OUT/.cert/ on later runs):

  * a GatewayClass (controller torii.dev/gateway-controller)
  * N Gateways in namespace "infra", each with an HTTP listener on 80 and an HTTPS listener on
    443 terminating with a kubernetes.io/tls Secret (one per Gateway, same certificate)
  * M Services (port 80 "http" -> 8080) with one EndpointSlice each (3 ready endpoints), spread
    over the application namespaces
  * R HTTPRoutes spread round-robin over the Gateways and the application namespaces: a unique
    hostname each, 2-4 rules, PathPrefix + header matches, header-modifier filters, 1-2
    weighted backendRefs; ~5% refer to a Service in another namespace (a ReferenceGrant in the
    target namespace allows it), ~2% refer to a Service that does not exist.

--lean makes a plainer, typical route instead: 3 rules, each with one PathPrefix match and 1-2
weighted backendRefs; no header or method match, no filter, no label (about 700 bytes of YAML
where the default mix has about 2,200). --http-port and --https-port move the Gateways'
listeners off 80 and 443 (a daemon binds them on its address pool).

Layouts (--layout):
  object     one file per object, a directory per namespace (default; a GitOps-style tree)
  namespace  one file per namespace per kind
  single     everything in one file

Usage: gen.py OUT [--routes R] [--gateways N] [--services M] [--namespaces K] [--seed S]
                  [--layout object|namespace|single] [--lean] [--http-port P] [--https-port P]
"""
import argparse
import base64
import os
import random
import shutil
import subprocess
import sys
import time

CONTROLLER = "torii.dev/gateway-controller"
DOMAIN = "bench.example"
GW_NS = "infra"
EPOCH = 1735689600  # 2025-01-01T00:00:00Z: routes are created over the following year


def q(s):
    """A YAML double-quoted scalar (JSON string syntax is valid YAML)."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def ts(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def make_cert(out):
    """One self-signed certificate for *.bench.example, made with the openssl CLI and cached."""
    d = os.path.join(out, ".cert")
    crt, key = os.path.join(d, "tls.crt"), os.path.join(d, "tls.key")
    if not (os.path.exists(crt) and os.path.exists(key)):
        os.makedirs(d, exist_ok=True)
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", key, "-out", crt, "-days", "3650", "-subj", "/CN=*." + DOMAIN,
             "-addext", "subjectAltName=DNS:*." + DOMAIN],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(crt, "rb") as f:
        c = base64.b64encode(f.read()).decode()
    with open(key, "rb") as f:
        k = base64.b64encode(f.read()).decode()
    return c, k


def gatewayclass():
    return f"""apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: torii
spec:
  controllerName: {CONTROLLER}
"""


def secret(name, crt, key):
    return f"""apiVersion: v1
kind: Secret
metadata:
  name: {name}
  namespace: {GW_NS}
type: kubernetes.io/tls
data:
  tls.crt: {crt}
  tls.key: {key}
"""


def gateway(i, http_port=80, https_port=443):
    return f"""apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gw-{i:02d}
  namespace: {GW_NS}
spec:
  gatewayClassName: torii
  listeners:
  - name: http
    protocol: HTTP
    port: {http_port}
    allowedRoutes:
      namespaces:
        from: All
  - name: https
    protocol: HTTPS
    port: {https_port}
    hostname: {q("*." + DOMAIN)}
    tls:
      mode: Terminate
      certificateRefs:
      - name: gw-{i:02d}-tls
    allowedRoutes:
      namespaces:
        from: All
"""


def service(ns, name):
    return f"""apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: {ns}
spec:
  selector:
    app: {name}
  ports:
  - name: http
    port: 80
    targetPort: 8080
    protocol: TCP
"""


def endpointslice(ns, name, idx):
    a, b = (idx // 250) % 250, idx % 250
    eps = "".join(f"""- addresses: ["10.{a}.{b}.{e + 1}"]
  conditions:
    ready: true
  nodeName: node-{(idx + e) % 16}
""" for e in range(3))
    return f"""apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: {name}-abcde
  namespace: {ns}
  labels:
    kubernetes.io/service-name: {name}
addressType: IPv4
ports:
- name: http
  port: 8080
  protocol: TCP
endpoints:
{eps}"""


def refgrant(to_ns, from_ns):
    return f"""apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata:
  name: from-{from_ns}
  namespace: {to_ns}
spec:
  from:
  - group: gateway.networking.k8s.io
    kind: HTTPRoute
    namespace: {from_ns}
  to:
  - group: ""
    kind: Service
"""


def backend_refs(lines, refs):
    """A rule's backendRefs: (namespace or None, name, weight) each, port 80."""
    lines.append("    backendRefs:")
    for bns, bname, weight in refs:
        lines.append(f"    - name: {bname}")
        if bns:
            lines.append(f"      namespace: {bns}")
        lines.append("      port: 80")
        lines.append(f"      weight: {weight}")


def route_head(name, ns, created):
    """An HTTPRoute's first lines, to its metadata's creationTimestamp."""
    return [
        "apiVersion: gateway.networking.k8s.io/v1",
        "kind: HTTPRoute",
        "metadata:",
        f"  name: {name}",
        f"  namespace: {ns}",
        f"  creationTimestamp: {q(ts(created))}",
    ]


def route(rng, i, ns, gw, backends_for, created, lean=False):
    """One HTTPRoute. backends_for(rule) returns [(ns or None, name)] for that rule."""
    if lean:
        return lean_route(i, ns, gw, backends_for, created)
    name = f"route-{i:05d}"
    host = f"r{i:05d}.{ns}.{DOMAIN}"
    lines = route_head(name, ns, created) + [
        "  labels:",
        f"    app: app-{i % 97}",
        "spec:",
        "  parentRefs:",
        f"  - name: gw-{gw:02d}",
        f"    namespace: {GW_NS}",
        "  hostnames:",
        f"  - {q(host)}",
        "  rules:",
    ]
    nrules = rng.randint(2, 4)
    for r in range(nrules):
        lines.append(f"  - name: rule-{r}")
        lines.append("    matches:")
        for m in range(rng.randint(1, 2)):
            lines.append("    - path:")
            lines.append("        type: PathPrefix")
            lines.append(f"        value: {q(f'/api/v{m + 1}/svc{r}')}")
            lines.append("      headers:")
            lines.append("      - type: Exact")
            lines.append("        name: x-tenant")
            lines.append(f"        value: {q(f'tenant-{rng.randint(0, 999)}')}")
            if rng.random() < 0.3:
                lines.append("      method: GET")
        lines.append("    filters:")
        lines.append("    - type: RequestHeaderModifier")
        lines.append("      requestHeaderModifier:")
        lines.append("        set:")
        lines.append("        - name: x-route")
        lines.append(f"          value: {q(name)}")
        lines.append("        add:")
        lines.append("        - name: x-rule")
        lines.append(f"          value: {q(str(r))}")
        lines.append("        remove: [\"x-debug\"]")
        if rng.random() < 0.5:
            lines.append("    - type: ResponseHeaderModifier")
            lines.append("      responseHeaderModifier:")
            lines.append("        set:")
            lines.append("        - name: x-served-by")
            lines.append("          value: torii")
        backend_refs(lines, backends_for(r))
    return name, "\n".join(lines) + "\n"


def lean_route(i, ns, gw, backends_for, created):
    """A typical route: 3 rules of one PathPrefix match and their backendRefs."""
    name = f"route-{i:05d}"
    lines = route_head(name, ns, created) + [
        "spec:",
        "  parentRefs:",
        f"  - name: gw-{gw:02d}",
        f"    namespace: {GW_NS}",
        "  hostnames:",
        f"  - {q(f'r{i:05d}.{ns}.{DOMAIN}')}",
        "  rules:",
    ]
    for r in range(3):
        lines.append("  - matches:")
        lines.append("    - path:")
        lines.append("        type: PathPrefix")
        lines.append(f"        value: {q(f'/api/svc{r}')}")
        backend_refs(lines, backends_for(r))
    return name, "\n".join(lines) + "\n"


class Writer:
    def __init__(self, out, layout):
        self.out, self.layout = out, layout
        self.groups = {}  # file -> [docs]
        self.files = 0

    def add(self, ns, kind, name, text):
        if self.layout == "object":
            d = os.path.join(self.out, ns or "cluster")
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, f"{kind}-{name}.yaml"), "w") as f:
                f.write(text)
            self.files += 1
        else:
            key = "all.yaml" if self.layout == "single" else os.path.join(ns or "cluster", f"{kind}.yaml")
            self.groups.setdefault(key, []).append(text)

    def close(self):
        for key, docs in self.groups.items():
            p = os.path.join(self.out, key)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w") as f:
                f.write("---\n".join(docs))
            self.files += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--routes", type=int, default=10000)
    ap.add_argument("--gateways", type=int, default=10)
    ap.add_argument("--services", type=int, default=0, help="default: routes/10, at least 2 per namespace")
    ap.add_argument("--namespaces", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--layout", choices=["object", "namespace", "single"], default="object")
    ap.add_argument("--lean", action="store_true", help="typical routes: path matches and backendRefs only")
    ap.add_argument("--http-port", type=int, default=80)
    ap.add_argument("--https-port", type=int, default=443)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    nns = max(1, a.namespaces)
    nsvc = a.services or max(a.routes // 10, 2 * nns)
    namespaces = [f"app-{k:02d}" for k in range(nns)]

    # Keep the cached certificate across regenerations; everything else is rewritten.
    if os.path.isdir(a.out):
        for e in os.listdir(a.out):
            if e != ".cert":
                p = os.path.join(a.out, e)
                shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
    os.makedirs(a.out, exist_ok=True)
    crt, key = make_cert(a.out)

    w = Writer(a.out, a.layout)
    w.add(None, "gatewayclass", "torii", gatewayclass())
    for g in range(a.gateways):
        w.add(GW_NS, "secret", f"gw-{g:02d}-tls", secret(f"gw-{g:02d}-tls", crt, key))
        w.add(GW_NS, "gateway", f"gw-{g:02d}", gateway(g, a.http_port, a.https_port))

    # Services: svc-NNNNN, spread round-robin over the namespaces.
    svcs = {ns: [] for ns in namespaces}
    for s in range(nsvc):
        ns = namespaces[s % nns]
        name = f"svc-{s:05d}"
        svcs[ns].append(name)
        w.add(ns, "service", name, service(ns, name))
        w.add(ns, "endpointslice", name, endpointslice(ns, name, s))

    grants = set()
    stats = {"cross": 0, "missing": 0, "rules": 0, "backends": 0}
    for i in range(a.routes):
        ns = namespaces[i % nns]
        gw = (i + i // nns) % a.gateways
        cross = rng.random() < 0.05
        missing = not cross and rng.random() < 0.02
        other = namespaces[(i + 1 + rng.randrange(max(nns - 1, 1))) % nns] if nns > 1 else ns
        # Which rule carries the cross-namespace or missing reference.
        special_rule = 0

        def backends_for(r, ns=ns, cross=cross, missing=missing, other=other):
            n = 1 if rng.random() < 0.6 else 2
            out = []
            for b in range(n):
                bns, pool = None, svcs[ns]
                if r == special_rule and b == 0 and cross:
                    bns, pool = other, svcs[other]
                name = pool[rng.randrange(len(pool))]
                if r == special_rule and b == 0 and missing:
                    name = f"missing-{i:05d}"
                weight = 100 if n == 1 else (90 if b == 0 else 10)
                out.append((bns, name, weight))
            stats["backends"] += n
            return out

        created = EPOCH + i * 3000 + rng.randrange(3000)
        name, text = route(rng, i, ns, gw, backends_for, created, a.lean)
        stats["rules"] += text.count("\n  - name: rule-") + text.count("\n  - matches:")
        if cross:
            stats["cross"] += 1
            grants.add((other, ns))
        if missing:
            stats["missing"] += 1
        w.add(ns, "httproute", name, text)
    for to_ns, from_ns in sorted(grants):
        w.add(to_ns, "referencegrant", f"from-{from_ns}", refgrant(to_ns, from_ns))
    w.close()
    print(f"{a.out}: {a.routes} HTTPRoutes ({stats['rules']} rules, {stats['backends']} backendRefs, "
          f"{stats['cross']} cross-namespace, {stats['missing']} missing Service), {a.gateways} Gateways, "
          f"{nsvc} Services + EndpointSlices, {len(grants)} ReferenceGrants, {nns} namespaces; "
          f"{w.files} files ({a.layout})", file=sys.stderr)


if __name__ == "__main__":
    main()
