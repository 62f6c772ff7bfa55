#!/usr/bin/env python3
"""bench/cp.py: manifests, waits and reports of the control-plane sections of bench/run.sh
(propagation, flips, scale, soak). Python 3 standard library only.

Manifests
  config DIR --gw-port P --service NAME=PORT...   GatewayClass, Gateway "bench" (HTTP listener on
                                                  127.0.0.1:P), Services + EndpointSlices
  routes STAGE --count N [--start S] [--prefix P] [--index FILE] [--dir D]
                                                  N HTTPRoutes, one file each, in STAGE; the index
                                                  lists "STAGED FILE_NAME HOSTNAME" for
                                                  bench-propagation (renamed into D)
  route DIR NAME [--backend SVC]                  one route, written atomically into DIR
  install STAGE DIR                               renames every staged *.yaml into DIR
  remove DIR --prefix P                           deletes DIR/P-*.yaml
  flip DIR --count N --interval-ms T --log FILE   rewrites route "flip" N times, switching its
                                                  backend between backend-a and backend-b
  edit DIR --count N --interval-ms T --routes K --log FILE [--pid PID]
                                                  N edits of routes soak-0..K-1, round robin
                                                  (RSS of PID after each)

Waiting on torii's admin API (ADMIN = host:port)
  wait-route ADMIN NAME [--gone] [--timeout S]    until HTTPRoute default/NAME is Accepted (or gone)
  settle ADMIN [--quiet-ms Q] [--timeout S]       until torii_config_generation stays put Q ms;
                                                  prints the generation
  accepted ADMIN                                  counts HTTPRoutes and their conditions in /status

Reports (Markdown on stdout)
  report-propagation RAW [--bucket B] [--log TORII_LOG]
  report-load SUMMARY                             a bench-load summary as a table (open: the
                                                  caller may add rows)
  flip-latency FLIPLOG SWITCHLOG                  flip to first answer from the new backend
"""
import argparse
import glob
import json
import os
import re
import statistics
import sys
import time
import urllib.error
import urllib.request

CONTROLLER = "torii.dev/gateway-controller"
DOMAIN = "bench.example"


def write_atomic(path, text):
    """Writes a dot-prefixed temporary beside PATH (torii's file provider ignores dotfiles), then
    renames it into place: the watcher sees one IN_MOVED_TO with the whole file."""
    d, b = os.path.split(path)
    tmp = os.path.join(d, "." + b + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


# --- manifests -----------------------------------------------------------------------------

def base_config(gw_port, services):
    docs = ["""apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: torii
spec:
  controllerName: %s
""" % CONTROLLER, """apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: bench
  namespace: default
spec:
  gatewayClassName: torii
  addresses:
  - type: IPAddress
    value: 127.0.0.1
  listeners:
  - name: http
    protocol: HTTP
    port: %d
    allowedRoutes:
      namespaces:
        from: Same
""" % gw_port]
    for name, port in services:
        docs.append("""apiVersion: v1
kind: Service
metadata:
  name: %(name)s
  namespace: default
spec:
  ports:
  - name: http
    port: 80
    targetPort: %(port)d
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: %(name)s-1
  namespace: default
  labels:
    kubernetes.io/service-name: %(name)s
addressType: IPv4
ports:
- name: http
  port: %(port)d
endpoints:
- addresses: ["127.0.0.1"]
  conditions:
    ready: true
""" % {"name": name, "port": port})
    return "---\n".join(docs)


def route_yaml(name, backend="backend", edit=None):
    """The benchmark's HTTPRoute: a unique hostname; rule 1 (every path) and rule 2 (/api with a
    header match) go to BACKEND through RequestHeaderModifier filters; rule 3 (/missing) goes to
    a Service that does not exist (ResolvedRefs=False, BackendNotFound; its requests get 500).
    A GET / answers 200 from BACKEND once the route is programmed. EDIT changes a header value
    only (a config change that keeps the route's traffic where it is)."""
    tag = name if edit is None else "%s-edit-%d" % (name, edit)
    return """apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: %(name)s
  namespace: default
spec:
  parentRefs:
  - name: bench
    sectionName: http
  hostnames:
  - %(name)s.%(domain)s
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set:
        - name: x-route
          value: %(tag)s
        add:
        - name: x-bench
          value: control-plane
    backendRefs:
    - name: %(backend)s
      port: 80
  - matches:
    - path:
        type: PathPrefix
        value: /api
      headers:
      - name: x-version
        value: v2
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set:
        - name: x-api-version
          value: v2
        remove:
        - x-debug
    backendRefs:
    - name: %(backend)s
      port: 80
  - matches:
    - path:
        type: PathPrefix
        value: /missing
    backendRefs:
    - name: missing-%(name)s
      port: 80
""" % {"name": name, "domain": DOMAIN, "tag": tag, "backend": backend}


def cmd_config(a):
    services = []
    for s in a.service:
        n, _, p = s.partition("=")
        services.append((n, int(p)))
    os.makedirs(a.dir, exist_ok=True)
    write_atomic(os.path.join(a.dir, "base.yaml"), base_config(a.gw_port, services))


def cmd_routes(a):
    os.makedirs(a.stage, exist_ok=True)
    idx = open(a.index, "w") if a.index else None
    for i in range(a.start, a.start + a.count):
        name = "%s-%05d" % (a.prefix, i)
        staged = os.path.join(os.path.abspath(a.stage), name + ".yaml")
        with open(staged, "w") as f:
            f.write(route_yaml(name))
        if idx:
            idx.write("%s %s %s.%s\n" % (staged, name + ".yaml", name, DOMAIN))
    if idx:
        idx.close()


def cmd_route(a):
    write_atomic(os.path.join(a.dir, a.name + ".yaml"), route_yaml(a.name, backend=a.backend))


def cmd_install(a):
    n = 0
    for p in sorted(glob.glob(os.path.join(a.stage, "*.yaml"))):
        os.rename(p, os.path.join(a.dir, os.path.basename(p)))
        n += 1
    print(n)


def cmd_remove(a):
    n = 0
    for p in sorted(glob.glob(os.path.join(a.dir, a.prefix + "-*.yaml"))):
        os.unlink(p)
        n += 1
    print(n)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cmd_flip(a):
    """Route "flip" (hostname flip.bench.example) to backend-a, then backend-b, ... COUNT times,
    INTERVAL apart; logs "MONOTONIC_SECONDS BACKEND" per rewrite (the rename's time)."""
    path = os.path.join(a.dir, "flip.yaml")
    with open(a.log, "w") as log:
        nxt = time.monotonic()
        for i in range(a.count):
            backend = "backend-b" if i % 2 == 0 else "backend-a"
            text = route_yaml("flip", backend=backend)
            tmp = os.path.join(a.dir, ".flip.yaml.tmp")
            with open(tmp, "w") as f:
                f.write(text)
            t = time.monotonic()
            os.rename(tmp, path)
            log.write("%.6f %s\n" % (t, backend))
            log.flush()
            nxt += a.interval_ms / 1000
            time.sleep(max(0, nxt - time.monotonic()))


def cmd_edit(a):
    """COUNT edits, INTERVAL apart, of routes soak-00000.. soak-(ROUTES-1), round robin: each
    rewrites the route with a new header value (atomic rename). Logs "i route monotonic rss_kib"."""
    with open(a.log, "w") as log:
        nxt = time.monotonic()
        for i in range(a.count):
            name = "soak-%05d" % (i % a.routes)
            write_atomic(os.path.join(a.dir, name + ".yaml"), route_yaml(name, edit=i))
            t = time.monotonic()
            rss = rss_kib(a.pid) if a.pid else 0
            log.write("%d %s %.6f %d\n" % (i, name, t, rss))
            log.flush()
            nxt += a.interval_ms / 1000
            time.sleep(max(0, nxt - time.monotonic()))


# --- admin API -----------------------------------------------------------------------------

def fetch(admin, path, timeout=30):
    """(status, body bytes) of GET http://ADMIN/PATH; (0, b"") when torii does not answer."""
    try:
        with urllib.request.urlopen("http://%s%s" % (admin, path), timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (OSError, urllib.error.URLError):
        return 0, b""


def generation(admin):
    st, body = fetch(admin, "/metrics")
    if st != 200:
        return None
    for line in body.decode().splitlines():
        if line.startswith("torii_config_generation "):
            return int(float(line.split()[1]))
    return None


def parent_conditions(obj):
    """{type: status} of the first parent status entry of a route."""
    for p in (obj.get("status") or {}).get("parents") or []:
        return {c["type"]: c["status"] for c in p.get("conditions") or []}
    return {}


def cmd_wait_route(a):
    deadline = time.monotonic() + a.timeout
    while time.monotonic() < deadline:
        st, body = fetch(a.admin, "/status/HTTPRoute/default/" + a.name)
        if a.gone and st == 404:
            return
        if not a.gone and st == 200 and parent_conditions(json.loads(body)).get("Accepted") == "True":
            return
        time.sleep(0.05)
    sys.exit("cp.py: HTTPRoute default/%s %s within %g s" % (a.name, "not gone" if a.gone else "not Accepted", a.timeout))


def cmd_settle(a):
    deadline = time.monotonic() + a.timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        g = generation(a.admin)
        if g != last:
            last, since = g, time.monotonic()
        elif g is not None and (time.monotonic() - since) * 1000 >= a.quiet_ms:
            print(g)
            return
        time.sleep(0.05)
    sys.exit("cp.py: torii_config_generation did not settle within %g s (last %s)" % (a.timeout, last))


def cmd_accepted(a):
    st, body = fetch(a.admin, "/status", timeout=120)
    if st != 200:
        sys.exit("cp.py: /status answered %d" % st)
    doc = json.loads(body)
    n = acc = res = 0
    for o in doc.get("items", []):
        if o.get("kind") != "HTTPRoute":
            continue
        n += 1
        c = parent_conditions(o)
        acc += c.get("Accepted") == "True"
        res += c.get("ResolvedRefs") == "True"
    print("%d %d %d %d" % (n, acc, res, len(doc.get("rejected") or [])))


# --- reports -------------------------------------------------------------------------------

def pct(xs, q):
    """The q-quantile of sorted xs (nearest rank)."""
    if not xs:
        return float("nan")
    k = max(0, min(len(xs) - 1, int(round(q * len(xs) + 0.5)) - 1))
    return xs[k]


def cmd_report_propagation(a):
    rows = [l.split() for l in open(a.raw) if l.strip()]
    lat = [int(r[2]) / 1000 for r in rows if int(r[2]) >= 0]
    low = [int(r[7]) / 1000 for r in rows if int(r[2]) >= 0]
    never = sum(1 for r in rows if int(r[2]) < 0)
    errors = sum(int(r[5]) for r in rows)
    polls = sum(int(r[3]) for r in rows)
    s = sorted(lat)
    print("| routes | answered 200 | never (timeout) | error answers | polls | mean ms | p50 ms | p99 ms | max ms | mean lower bound ms |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print("| %d | %d | %d | %d | %d | %.1f | %.1f | %.1f | %.1f | %.1f |" % (
        len(rows), len(lat), never, errors, polls, statistics.mean(lat) if lat else float("nan"),
        pct(s, 0.5), pct(s, 0.99), s[-1] if s else float("nan"), statistics.mean(low) if low else float("nan")))
    print()
    bad = [r for r in rows if int(r[5])]
    if bad:
        print("Routes with error answers (index name latency_us polls n404 nerror last_status):\n")
        print("```")
        for r in bad[:20]:
            print(" ".join(r))
        if len(bad) > 20:
            print("... %d more" % (len(bad) - 20))
        print("```\n")
    # torii's own time per generation (debug log): routes in the config -> reconcile ms.
    tx = {}
    if a.log:
        for line in open(a.log, errors="replace"):
            m = re.search(r"config generation \d+: \d+ gateways, (\d+) httproutes, \d+ sockets, (\d+) ms"
                          r"(?: \(serving after (\d+) ms\))?", line)
            if m:
                total = int(m.group(2))
                tx[int(m.group(1))] = (int(m.group(3)) if m.group(3) else total, total)
    print("### Latency by route index (routes already present when the route was added)\n")
    if tx:
        print("\"torii serving ms\" is torii's own time for the generation that added the route until the")
        print("workers were told (its debug log: translate, bind, snapshot); \"torii total ms\" adds the")
        print("status JSON rendered after that; means over the rows.\n")
    print("| routes | mean ms | p50 ms | p99 ms | max ms |%s" % (" torii serving ms | torii total ms |" if tx else ""))
    print("|---|---:|---:|---:|---:|%s" % ("---:|---:|" if tx else ""))
    b = a.bucket
    for lo in range(0, len(rows), b):
        xs = sorted(int(r[2]) / 1000 for r in rows[lo:lo + b] if int(r[2]) >= 0)
        if not xs:
            continue
        t = [tx[i + 1] for i in range(lo, min(lo + b, len(rows))) if i + 1 in tx]
        cols = ""
        if tx:
            cols = (" %.1f | %.1f |" % (statistics.mean(x[0] for x in t), statistics.mean(x[1] for x in t))
                    if t else " | |")
        print("| %d-%d | %.1f | %.1f | %.1f | %.1f |%s" % (
            lo, min(lo + b, len(rows)) - 1, statistics.mean(xs), pct(xs, 0.5), pct(xs, 0.99), xs[-1], cols))
    print()


def read_summary(path):
    d = {"status": {}, "size": {}}
    for line in open(path):
        f = line.split()
        if len(f) == 3 and f[0] in ("status", "size"):
            d[f[0]][f[1]] = int(f[2])
        elif len(f) == 2 and f[0] != "ready":
            d[f[0]] = float(f[1]) if "." in f[1] else int(f[1])
    return d


def cmd_report_load(a):
    d = read_summary(a.summary)
    codes = ", ".join("%s: %d" % kv for kv in sorted(d["status"].items())) or "none"
    sizes = ", ".join("%s B: %d" % kv for kv in sorted(d["size"].items(), key=lambda kv: kv[0]))
    print("| | |")
    print("|---|---:|")
    print("| connections | %d |" % d["conns"])
    print("| seconds | %.1f |" % d["seconds"])
    print("| requests sent | %d |" % d["sent"])
    print("| answers | %d |" % d["answers"])
    print("| 200 | %d |" % d["status_200"])
    print("| **non-200** | **%d** (%s) |" % (d["non200"], codes))
    print("| 200 bodies by length | %s |" % (sizes or "none"))
    print("| **socket errors** | **%d** |" % d["errors"])
    for k, label in (("connect_errors", "connect failed"), ("resets", "reset (ECONNRESET/EPIPE)"),
                     ("eof_in_flight", "closed by torii with a request in flight"),
                     ("eof_idle", "closed by torii while idle"), ("timeouts", "no answer in time"),
                     ("malformed", "malformed answer"), ("unanswered_at_end", "unanswered at the end")):
        print("| &nbsp;&nbsp;%s | %d |" % (label, d[k]))
    print("| answers with Connection: close | %d |" % d["connection_close"])
    print("| reconnects | %d |" % d["reconnects"])
    print("| connections open at the end | %d |" % d["open_at_end"])
    print("| latency p50 / p99 / p99.9 / max | %.2f / %.2f / %.2f / %.1f ms |" % (
        d["latency_p50_us"] / 1000, d["latency_p99_us"] / 1000, d["latency_p999_us"] / 1000,
        d["latency_max_us"] / 1000))


def cmd_flip_latency(a):
    """For each flip: the time from its rename to the first 200 whose body length is the new
    backend's. The backends' body lengths are given as --size backend-a=N --size backend-b=M."""
    sizes = {}
    for s in a.size:
        n, _, v = s.partition("=")
        sizes[n] = int(v)
    flips = [(float(t), b) for t, b in (l.split() for l in open(a.fliplog) if l.strip())]
    sw = [(float(t), int(n)) for t, n in (l.split() for l in open(a.switchlog) if l.strip())]
    print("| flip | to | first answer from it after | answers switched back and forth after |")
    print("|---:|---|---:|---:|")
    lats = []
    for i, (t, b) in enumerate(flips):
        end = flips[i + 1][0] if i + 1 < len(flips) else float("inf")
        first = next((ts for ts, n in sw if ts >= t and n == sizes[b]), None)
        if first is None or first >= end:
            print("| %d | %s | **not seen before the next flip** | |" % (i + 1, b))
            continue
        # Changes of the answering backend after the first new one, before the next flip:
        # answers to requests that were already in flight are expected; more would mean flapping.
        back = sum(1 for ts, n in sw if first < ts < end)
        lats.append((first - t) * 1000)
        print("| %d | %s | %.1f ms | %d |" % (i + 1, b, (first - t) * 1000, back))
    print()
    if lats:
        s = sorted(lats)
        print("Flip to the first answer from the new backend: mean %.1f ms, p50 %.1f ms, max %.1f ms (%d of %d flips seen).\n" % (
            statistics.mean(s), pct(s, 0.5), s[-1], len(s), len(flips)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("config")
    p.add_argument("dir")
    p.add_argument("--gw-port", type=int, required=True)
    p.add_argument("--service", action="append", default=[])
    p.set_defaults(fn=cmd_config)
    p = sub.add_parser("routes")
    p.add_argument("stage")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--prefix", default="route")
    p.add_argument("--index")
    p.set_defaults(fn=cmd_routes)
    p = sub.add_parser("route")
    p.add_argument("dir")
    p.add_argument("name")
    p.add_argument("--backend", default="backend")
    p.set_defaults(fn=cmd_route)
    p = sub.add_parser("install")
    p.add_argument("stage")
    p.add_argument("dir")
    p.set_defaults(fn=cmd_install)
    p = sub.add_parser("remove")
    p.add_argument("dir")
    p.add_argument("--prefix", default="route")
    p.set_defaults(fn=cmd_remove)
    p = sub.add_parser("flip")
    p.add_argument("dir")
    p.add_argument("--count", type=int, default=20)
    p.add_argument("--interval-ms", type=float, default=200)
    p.add_argument("--log", required=True)
    p.set_defaults(fn=cmd_flip)
    p = sub.add_parser("edit")
    p.add_argument("dir")
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--interval-ms", type=float, default=500)
    p.add_argument("--routes", type=int, default=10)
    p.add_argument("--pid", type=int)
    p.add_argument("--log", required=True)
    p.set_defaults(fn=cmd_edit)
    p = sub.add_parser("wait-route")
    p.add_argument("admin")
    p.add_argument("name")
    p.add_argument("--gone", action="store_true")
    p.add_argument("--timeout", type=float, default=120)
    p.set_defaults(fn=cmd_wait_route)
    p = sub.add_parser("settle")
    p.add_argument("admin")
    p.add_argument("--quiet-ms", type=float, default=1000)
    p.add_argument("--timeout", type=float, default=300)
    p.set_defaults(fn=cmd_settle)
    p = sub.add_parser("accepted")
    p.add_argument("admin")
    p.set_defaults(fn=cmd_accepted)
    p = sub.add_parser("report-propagation")
    p.add_argument("raw")
    p.add_argument("--bucket", type=int, default=500)
    p.add_argument("--log")
    p.set_defaults(fn=cmd_report_propagation)
    p = sub.add_parser("report-load")
    p.add_argument("summary")
    p.set_defaults(fn=cmd_report_load)
    p = sub.add_parser("flip-latency")
    p.add_argument("fliplog")
    p.add_argument("switchlog")
    p.add_argument("--size", action="append", default=[])
    p.set_defaults(fn=cmd_flip_latency)
    a = ap.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
