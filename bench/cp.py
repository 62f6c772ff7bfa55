#!/usr/bin/env python3
"""bench/cp.py: manifests, waits and reports of the control-plane sections of bench/run.sh
(propagation, kube-propagation, flips, scale, soak). Python 3 standard library only, but for the
kube-* commands, which turn the same manifests into JSON with PyYAML (python3-yaml, which the
fake API server needs too).

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
  wait-route ADMIN NAME [--namespace NS] [--gone] [--timeout S]
                                                  until HTTPRoute NS/NAME (default/NAME) is
                                                  Accepted (or gone)
  settle ADMIN [--quiet-ms Q] [--timeout S]       until torii_config_generation stays put Q ms;
                                                  prints the generation
  accepted ADMIN                                  counts HTTPRoutes and their conditions in /status

Through a Kubernetes API server (URL https://IP:PORT; CA and TOKEN files: the fake's ca.crt and
admin-token)
  kube-objects FILE --gw-port P --service NAME=PORT...   the objects of `config` as a JSON list
  kube-routes STAGE --count N --index FILE        the routes of `routes`, one JSON file each (the
                                                  index as for bench-propagation --api)
  kube-create URL CA TOKEN FILE                   POSTs every object of a kube-objects list
  kube-watch URL CA TOKEN --out FILE              watches the HTTPRoutes of "default" until
                                                  killed: "unix_us TYPE NAME GENERATION ACCEPTED"
                                                  per event
  kube-wait URL CA TOKEN --gateway NAME | --routes N [--timeout S]
                                                  until the Gateway is Programmed by torii / N
                                                  HTTPRoutes carry torii's Accepted=True for their
                                                  generation; prints the count of Accepted routes
  audit-seq STATE_DIR                             the last seq of the fake's audit log

Reports (Markdown on stdout)
  report-propagation RAW [--bucket B] [--log TORII_LOG]
  report-kube-propagation RAW --audit AUDIT --since SEQ --user USER --watch WATCHLOG
                          [--bucket B] [--log TORII_LOG] [--file-raw FILE_PROVIDER_RAW]
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


# --- through a Kubernetes API server ------------------------------------------------------

def yaml_objects(text):
    import yaml  # python3-yaml: only these commands need it
    return [d for d in yaml.safe_load_all(text) if d]


def api_path(obj):
    """The collection an object is created in."""
    group_version, kind = obj["apiVersion"], obj["kind"]
    plural = {"GatewayClass": "gatewayclasses", "EndpointSlice": "endpointslices"}.get(kind, kind.lower() + "s")
    base = "/api/" + group_version if "/" not in group_version else "/apis/" + group_version
    if kind in ("GatewayClass", "Namespace"):
        return "%s/%s" % (base, plural)
    return "%s/namespaces/%s/%s" % (base, obj["metadata"].get("namespace") or "default", plural)


class Api:
    """One keep-alive HTTPS connection to the API server, with a bearer token."""

    def __init__(self, url, ca, token_file, timeout=60):
        import http.client
        import ssl
        host, port = url.split("//", 1)[1].rstrip("/").split(":")
        with open(token_file) as f:
            self.token = f.read().strip()
        self.conn = http.client.HTTPSConnection(host, int(port), timeout=timeout,
                                                context=ssl.create_default_context(cafile=ca))

    def request(self, method, path, body=None):
        headers = {"Authorization": "Bearer " + self.token, "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, data, headers)
        r = self.conn.getresponse()
        return r.status, r.read()

    def get(self, path):
        st, body = self.request("GET", path)
        if st != 200:
            sys.exit("cp.py: GET %s: %d %s" % (path, st, body[:300]))
        return json.loads(body)


GW_API = "/apis/gateway.networking.k8s.io/v1"


def torii_parent(obj):
    """{type: (status, observedGeneration)} of torii's entry in a route's status.parents."""
    for p in (obj.get("status") or {}).get("parents") or []:
        if p.get("controllerName") == CONTROLLER:
            return {c["type"]: (c["status"], c.get("observedGeneration")) for c in p.get("conditions") or []}
    return {}


def route_accepted(obj):
    return torii_parent(obj).get("Accepted") == ("True", obj["metadata"].get("generation"))


def cmd_kube_objects(a):
    services = []
    for s in a.service:
        n, _, p = s.partition("=")
        services.append((n, int(p)))
    with open(a.file, "w") as f:
        json.dump(yaml_objects(base_config(a.gw_port, services)), f, indent=1)


def cmd_kube_routes(a):
    os.makedirs(a.stage, exist_ok=True)
    with open(a.index, "w") as idx:
        for i in range(a.start, a.start + a.count):
            name = "%s-%05d" % (a.prefix, i)
            staged = os.path.join(os.path.abspath(a.stage), name + ".json")
            (obj,) = yaml_objects(route_yaml(name))
            with open(staged, "w") as f:
                json.dump(obj, f, separators=(",", ":"))
            idx.write("%s %s %s.%s\n" % (staged, name, name, DOMAIN))


def cmd_kube_create(a):
    api = Api(a.url, a.ca, a.token)
    for obj in json.load(open(a.file)):
        st, body = api.request("POST", api_path(obj), obj)
        if st != 201:
            sys.exit("cp.py: POST %s %s: %d %s" % (api_path(obj), obj["metadata"]["name"], st, body[:300]))


def cmd_kube_watch(a):
    """A second watcher beside torii: when the fake API server delivers each event. One line per
    event: "unix_us TYPE NAME GENERATION ACCEPTED" (ACCEPTED: 1 when torii's Accepted=True
    condition is there for the route's generation). Resumes from the last resourceVersion when
    the stream ends; "ready" on the first line once the watch is open."""
    api = Api(a.url, a.ca, a.token, timeout=None)  # a watch may be quiet for long
    path = GW_API + "/namespaces/default/httproutes"
    rv = api.get(path)["metadata"]["resourceVersion"]
    out = open(a.out, "w")
    ready = False
    while True:
        api.conn.request("GET", "%s?watch=true&resourceVersion=%s&timeoutSeconds=3600" % (path, rv),
                         headers={"Authorization": "Bearer " + api.token, "Accept": "application/json"})
        r = api.conn.getresponse()
        if r.status != 200:
            sys.exit("cp.py: watch %s: %d %s" % (path, r.status, r.read()[:300]))
        if not ready:
            out.write("ready\n")
            out.flush()
            ready = True
        while True:
            line = r.readline()
            t = time.time()
            if not line:
                break
            ev = json.loads(line)
            o = ev["object"]
            if ev["type"] == "ERROR":
                sys.exit("cp.py: watch: %s" % o.get("message"))
            rv = o["metadata"]["resourceVersion"]
            if ev["type"] == "BOOKMARK":
                continue
            out.write("%d %s %s %s %d\n" % (t * 1e6, ev["type"], o["metadata"]["name"],
                                            o["metadata"].get("generation"), route_accepted(o)))
            out.flush()


def cmd_kube_wait(a):
    api = Api(a.url, a.ca, a.token)
    deadline = time.monotonic() + a.timeout
    while True:
        if a.gateway:
            g = api.get(GW_API + "/namespaces/default/gateways/" + a.gateway)
            conds = {c["type"]: c["status"] for c in (g.get("status") or {}).get("conditions") or []}
            if conds.get("Programmed") == "True":
                return
            what = "Gateway %s Programmed" % a.gateway
        else:
            items = api.get(GW_API + "/namespaces/default/httproutes")["items"]
            n = sum(1 for o in items if route_accepted(o))
            if n >= a.routes:
                print(n)
                return
            what = "%d HTTPRoutes Accepted (%d are)" % (a.routes, n)
        if time.monotonic() > deadline:
            sys.exit("cp.py: not %s within %g s" % (what, a.timeout))
        time.sleep(0.2)


def cmd_audit_seq(a):
    seq = 0
    with open(os.path.join(a.state_dir, "audit.jsonl")) as f:
        for line in f:
            if line.strip():
                seq = json.loads(line)["seq"]
    print(seq)


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
        st, body = fetch(a.admin, "/status/HTTPRoute/%s/%s" % (a.namespace, a.name))
        if a.gone and st == 404:
            return
        if not a.gone and st == 200 and parent_conditions(json.loads(body)).get("Accepted") == "True":
            return
        time.sleep(0.05)
    sys.exit("cp.py: HTTPRoute %s/%s %s within %g s" % (a.namespace, a.name, "not gone" if a.gone else "not Accepted",
                                                       a.timeout))


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


def generation_times(log):
    """torii's own time per generation (its debug log): {routes in the config: (serving ms,
    total ms)}."""
    tx = {}
    if log:
        for line in open(log, errors="replace"):
            m = re.search(r"config generation \d+: \d+ gateways, (\d+) httproutes, \d+ sockets, (\d+) ms"
                          r"(?: \(serving after (\d+) ms\))?", line)
            if m:
                total = int(m.group(2))
                tx[int(m.group(1))] = (int(m.group(3)) if m.group(3) else total, total)
    return tx


def stats_row(xs):
    """"mean | p50 | p99 | max" (ms) of xs, or dashes when empty."""
    if not xs:
        return "– | – | – | –"
    s = sorted(xs)
    return "%.1f | %.1f | %.1f | %.1f" % (statistics.mean(s), pct(s, 0.5), pct(s, 0.99), s[-1])


def audit_us(stamp):
    """The fake API server's audit time ("2026-01-02T03:04:05.123456Z") as µs since the epoch."""
    import calendar
    whole, _, frac = stamp.rstrip("Z").partition(".")
    return calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) * 1000000 + int((frac + "000000")[:6])


def cmd_report_kube_propagation(a):
    rows = [l.split() for l in open(a.raw) if l.strip()]
    names = [r[1] for r in rows]
    answered = {r[1]: int(r[10]) for r in rows}   # unix µs when the POST's answer was read
    sent = {r[1]: int(r[9]) for r in rows}
    ok = [r for r in rows if int(r[2]) >= 0]
    lat = [int(r[2]) / 1000 for r in ok]
    low = [int(r[7]) / 1000 for r in ok]
    rtt = [int(r[8]) / 1000 for r in rows]

    # The fake's audit log: the POSTs (bench's), torii's status writes and other requests.
    audit = [json.loads(l) for l in open(a.audit) if l.strip()]
    audit = [x for x in audit if x["seq"] > a.since]
    post_at, status_at, writes = {}, {}, {}
    by_verb, codes, other_status, write_times = {}, {}, {}, []
    for x in audit:
        if x.get("user") != a.user:
            continue
        what = "%s %s%s" % (x["verb"], x.get("resource") or x["path"], "/" + x["subresource"] if x.get("subresource") else "")
        by_verb[what] = by_verb.get(what, 0) + 1
        if x["method"] in ("POST", "PUT", "PATCH", "DELETE"):
            write_times.append(audit_us(x["time"]))
        if x.get("subresource") == "status" and x["method"] in ("PATCH", "PUT"):
            codes[x["code"]] = codes.get(x["code"], 0) + 1
            if x.get("resource") == "httproutes":
                writes[x["name"]] = writes.get(x["name"], 0) + 1
                if x["code"] < 300 and x["name"] not in status_at:
                    status_at[x["name"]] = audit_us(x["time"])
            else:
                other_status[x.get("resource")] = other_status.get(x.get("resource"), 0) + 1
    # bench-propagation's POSTs, in the order it sent them (one at a time: the n-th create of an
    # HTTPRoute by another user is the n-th route).
    creates = [x for x in audit if x.get("user") != a.user and x["method"] == "POST" and x.get("resource") == "httproutes"]
    if a.extract:
        # One short line per record: "seq time torii|USER METHOD resource[/name][/subresource] code".
        with open(a.extract, "w") as f:
            for x in audit:
                what = "/".join(p for p in (x.get("resource"), x.get("name"), x.get("subresource")) if p) or x["path"]
                f.write("%d %s %s %s %s %s\n" % (x["seq"], x["time"], "torii" if x.get("user") == a.user else x.get("user"),
                                                 x["method"], what, x.get("code")))
    for name, x in zip(names, creates):
        post_at[name] = audit_us(x["time"])
    # The second watcher.
    added, seen_accepted = {}, {}
    if a.watch:
        for line in open(a.watch):
            f = line.split()
            if len(f) != 5:
                continue
            t, typ, name, acc = int(f[0]), f[1], f[2], f[4] == "1"
            if typ == "ADDED":
                added.setdefault(name, t)
            if acc:
                seen_accepted.setdefault(name, t)

    st_lat = [(status_at[n] - answered[n]) / 1000 for n in names if n in status_at]
    watch_acc = [(seen_accepted[n] - answered[n]) / 1000 for n in names if n in seen_accepted]
    print("| from the POST's answer to | routes | mean ms | p50 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|---:|")
    print("| **the first 200 from the data plane** | %d of %d | %s |" % (len(lat), len(rows), stats_row(lat)))
    print("| &nbsp;&nbsp;lower bound (the last poll without 200) | %d | %s |" % (len(low), stats_row(low)))
    print("| **torii's status write for the route at the API server** (audit time of its first PATCH .../status) | %d of %d | %s |" % (
        len(st_lat), len(rows), stats_row(st_lat)))
    print("| a second watcher seeing torii's Accepted for the route's generation | %d of %d | %s |" % (
        len(watch_acc), len(rows), stats_row(watch_acc)))
    print()
    never = len(rows) - len(ok)
    errors = sum(int(r[5]) for r in rows)
    print("Polls: %d (%d answered 404, %d errors); routes that never answered 200: %d." % (
        sum(int(r[3]) for r in rows), sum(int(r[4]) for r in rows), errors, never))
    print()

    print("### The fake API server's own time\n")
    to_handler = [(post_at[n] - sent[n]) / 1000 for n in names if n in post_at]
    from_handler = [(answered[n] - post_at[n]) / 1000 for n in names if n in post_at]
    add_lat = [(added[n] - answered[n]) / 1000 for n in names if n in added]
    add_from_handler = [(added[n] - post_at[n]) / 1000 for n in names if n in added and n in post_at]
    print("| | n | mean ms | p50 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|---:|")
    print("| POST round trip (bench-propagation: sent to answer read; before the latencies above) | %d | %s |" % (len(rtt), stats_row(rtt)))
    print("| &nbsp;&nbsp;sent to the fake's handler starting (its audit time: request read, token checked) | %d | %s |" % (
        len(to_handler), stats_row(to_handler)))
    print("| &nbsp;&nbsp;the handler starting to the answer read (create, commit, answer) | %d | %s |" % (
        len(from_handler), stats_row(from_handler)))
    print("| the route's ADDED at a second watcher, after the POST's answer (negative: before it) | %d | %s |" % (
        len(add_lat), stats_row(add_lat)))
    print("| the route's ADDED at a second watcher, after the fake's handler started | %d | %s |" % (
        len(add_from_handler), stats_row(add_from_handler)))
    print()

    print("### Status writes and other requests by torii during the run\n")
    per_route = {}
    for n in names:
        k = writes.get(n, 0)
        per_route[k] = per_route.get(k, 0) + 1
    total = sum(codes.values())
    print("| | |")
    print("|---|---|")
    print("| status writes (PATCH/PUT .../status) | **%d** for %d routes |" % (total, len(rows)))
    print("| &nbsp;&nbsp;HTTPRoutes, by writes per route | %s |" % ", ".join(
        "%d write%s: %d routes" % (k, "" if k == 1 else "s", v) for k, v in sorted(per_route.items())))
    print("| &nbsp;&nbsp;other kinds | %s |" % (", ".join("%s: %d" % kv for kv in sorted(other_status.items())) or "none"))
    print("| &nbsp;&nbsp;by answer | %s |" % ", ".join("%s: %d" % kv for kv in sorted(codes.items())))
    print("| all requests by torii | %s |" % ", ".join("%s: %d" % kv for kv in sorted(by_verb.items())))
    if write_times:
        # Writes per second: the rate limit (--kube-qps, --kube-burst) shows as a ceiling here.
        t0 = min(write_times)
        span = max(1, (max(write_times) - t0) / 1e6)
        per_s = {}
        for t in write_times:
            per_s[(t - t0) // 1000000] = per_s.get((t - t0) // 1000000, 0) + 1
        print("| torii's writes per second (all kinds): mean over %.0f s / the busiest second | %.1f / %d |" % (
            span, len(write_times) / span, max(per_s.values())))
    print()

    tx = generation_times(a.log)
    print("### By route index (routes already present when the route was added)\n")
    print("| routes | to 200: mean ms | p99 ms | max ms | status write: mean ms | p99 ms | max ms | POST round trip: mean ms |%s" % (
        " torii serving ms | torii total ms |" if tx else ""))
    print("|---|---:|---:|---:|---:|---:|---:|---:|%s" % ("---:|---:|" if tx else ""))
    for lo in range(0, len(rows), a.bucket):
        part = rows[lo:lo + a.bucket]
        xs = sorted(int(r[2]) / 1000 for r in part if int(r[2]) >= 0)
        ss = sorted((status_at[r[1]] - answered[r[1]]) / 1000 for r in part if r[1] in status_at)
        rt = [int(r[8]) / 1000 for r in part]
        cols = ""
        if tx:
            t = [tx[i + 1] for i in range(lo, lo + len(part)) if i + 1 in tx]
            cols = (" %.1f | %.1f |" % (statistics.mean(x[0] for x in t), statistics.mean(x[1] for x in t))
                    if t else " | |")
        print("| %d-%d | %s | %s | %s | %s | %s | %s | %.1f |%s" % (
            lo, lo + len(part) - 1,
            "%.1f" % statistics.mean(xs) if xs else "–", "%.1f" % pct(xs, 0.99) if xs else "–",
            "%.1f" % xs[-1] if xs else "–",
            "%.1f" % statistics.mean(ss) if ss else "–", "%.1f" % pct(ss, 0.99) if ss else "–",
            "%.1f" % ss[-1] if ss else "–", statistics.mean(rt), cols))
    print()
    if tx:
        print("\"torii serving ms\" is torii's own time for the generation that added the route until the")
        print("workers were told (its debug log); \"torii total ms\" adds the status rendered after that.\n")

    if a.file_raw:
        frows = [l.split() for l in open(a.file_raw) if l.strip()]
        flat = [int(r[2]) / 1000 for r in frows if int(r[2]) >= 0]
        print("### Beside the file provider (the propagation section of this run)\n")
        print("| until each route answers 200 | routes | mean ms | p50 ms | p99 ms | max ms |")
        print("|---|---:|---:|---:|---:|---:|")
        print("| file provider: from the file's rename | %d | %s |" % (len(flat), stats_row(flat)))
        print("| API server: from the POST's answer | %d | %s |" % (len(lat), stats_row(lat)))
        print("| API server: from the POST's sending | %d | %s |" % (
            len(ok), stats_row([(int(r[2]) + int(r[8])) / 1000 for r in ok])))
        print()
        if a.compare_row:
            print("| | file provider | API server |")
            print("|---|---:|---:|")
            for row in a.compare_row:
                print("| %s |" % " | ".join(row.split("|")))
            print()


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
    tx = generation_times(a.log)
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
    p.add_argument("--namespace", default="default")
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
    p = sub.add_parser("report-kube-propagation")
    p.add_argument("raw")
    p.add_argument("--audit", required=True)
    p.add_argument("--since", type=int, default=0)
    p.add_argument("--user", required=True)
    p.add_argument("--watch")
    p.add_argument("--bucket", type=int, default=500)
    p.add_argument("--log")
    p.add_argument("--file-raw")
    p.add_argument("--compare-row", action="append", default=[], help="LABEL|FILE PROVIDER|API SERVER")
    p.add_argument("--extract", help="writes the audit records of the run here, one line each")
    p.set_defaults(fn=cmd_report_kube_propagation)
    p = sub.add_parser("kube-objects")
    p.add_argument("file")
    p.add_argument("--gw-port", type=int, required=True)
    p.add_argument("--service", action="append", default=[])
    p.set_defaults(fn=cmd_kube_objects)
    p = sub.add_parser("kube-routes")
    p.add_argument("stage")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--prefix", default="route")
    p.add_argument("--index", required=True)
    p.set_defaults(fn=cmd_kube_routes)
    for name, fn in (("kube-create", cmd_kube_create), ("kube-watch", cmd_kube_watch), ("kube-wait", cmd_kube_wait)):
        p = sub.add_parser(name)
        p.add_argument("url")
        p.add_argument("ca")
        p.add_argument("token")
        p.set_defaults(fn=fn)
    sub.choices["kube-create"].add_argument("file")
    sub.choices["kube-watch"].add_argument("--out", required=True)
    sub.choices["kube-wait"].add_argument("--gateway")
    sub.choices["kube-wait"].add_argument("--routes", type=int)
    sub.choices["kube-wait"].add_argument("--timeout", type=float, default=120)
    p = sub.add_parser("audit-seq")
    p.add_argument("state_dir")
    p.set_defaults(fn=cmd_audit_seq)
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
