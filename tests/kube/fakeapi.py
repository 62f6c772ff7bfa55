#!/usr/bin/env python3
"""A fake Kubernetes API server for torii's tests: HTTP/1.1 (optionally TLS), bearer tokens
read from a file, discovery and OpenAPI v3 built from the Gateway API CRDs and a table of
core kinds, storage and watch with the real server's semantics, RBAC, an audit log, and
fault controls under /_fake/. See tests/kube/README.md.

    python3 tests/kube/fakeapi.py --state-dir DIR [--listen 127.0.0.1:0] [--crds DIR ...] [--tls]
        [--bookmark-seconds 60] [--history 1000] [--continue-ttl 300] [--rbac FILE ...]
        [--token-user system:serviceaccount:NS:NAME] [--lb-pool IP]
"""
import argparse
import base64
import glob
import ipaddress
import json
import os
import queue
import random
import re
import secrets
import select
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import yaml  # noqa: E402

import fake_kinds  # noqa: E402
import fake_rbac  # noqa: E402
from fake_select import SelectorError, field_name_equals, match_fields, match_labels, parse_fields, parse_labels  # noqa: E402
from fake_store import ApiError, Store, bad_request, conflict, key_of, not_found, now_iso, parse_rv  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_CRDS = os.path.join(ROOT, "..", "shared", "gateway-api", "crds", "experimental")
VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.4", "gitCommit": "0000000000000000000000000000000000000000",
           "gitTreeState": "clean", "buildDate": "2025-04-22T00:00:00Z", "goVersion": "go1.23.6", "compiler": "gc",
           "platform": "linux/amd64"}
PATCH_TYPES = {"application/merge-patch+json": "merge", "application/json-patch+json": "json",
               "application/strategic-merge-patch+json": "smp", "application/apply-patch+yaml": "apply"}
REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
           409: "Conflict", 410: "Expired", 415: "UnsupportedMediaType", 422: "Invalid", 429: "TooManyRequests",
           500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}
ADMIN = ("fake:admin", ["system:masters", "system:authenticated"])


class Fake:
    """Process-wide state shared by the request handlers."""

    def __init__(self, args):
        self.args = args
        self.dir = os.path.abspath(args.state_dir)
        self.reg = fake_kinds.Registry()
        self.store = Store(self.reg, args.history, args.continue_ttl)
        self.rbac = fake_rbac.Rbac(self.store, bool(args.rbac))
        self.lock = threading.Lock()
        self.audit = []
        self.audit_seq = 0
        self.injections = []
        self.split_events = False
        self.watch_list = True
        self.drop_gen = 0
        self.watches = {}
        self.lb = LoadBalancer(self.store)
        self.store.hooks.append(self.lb.on_commit)

    def token(self, name="token"):
        try:
            with open(os.path.join(self.dir, name)) as f:
                return f.read().strip()
        except OSError:
            return ""

    def record(self, rec):
        with self.lock:
            self.audit_seq += 1
            rec = dict(seq=self.audit_seq, **rec)
            self.audit.append(rec)
            with open(os.path.join(self.dir, "audit.jsonl"), "a") as f:
                f.write(json.dumps(rec) + "\n")

    def take_injection(self, method, path, query, user):
        with self.lock:
            for inj in self.injections:
                if inj["method"] not in ("", "*", method):
                    continue
                if not re.search(inj["path"], path) or (inj.get("query") and not re.search(inj["query"], query)):
                    continue
                if inj.get("user") and inj["user"] != user:
                    continue
                inj["count"] -= 1
                if inj["count"] <= 0:
                    self.injections.remove(inj)
                return dict(inj)
        return None

    def load(self):
        nsk = self.reg.kinds[("", "namespaces")]
        for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.store.seed(nsk, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        svc = self.reg.kinds[("", "services")]
        self.store.seed(svc, {"apiVersion": "v1", "kind": "Service",
                              "metadata": {"name": "kubernetes", "namespace": "default",
                                           "labels": {"component": "apiserver", "provider": "kubernetes"}},
                              "spec": {"clusterIP": "10.96.0.1",
                                       "ports": [{"name": "https", "port": 443, "targetPort": 6443}]}})
        crdk = self.reg.kinds[("apiextensions.k8s.io", "customresourcedefinitions")]
        for d in self.args.crds or [DEFAULT_CRDS]:
            files = sorted(glob.glob(os.path.join(d, "*.yaml"))) if os.path.isdir(d) else [d]
            if not files:
                raise SystemExit(f"fakeapi: no CRD files in {d}")
            for path in files:
                with open(path) as f:
                    for doc in yaml.load_all(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
                        if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                            self.store.seed(crdk, doc)
        for path in self.args.rbac or []:
            with open(path) as f:
                for doc in yaml.safe_load_all(f):
                    if not isinstance(doc, dict):
                        continue
                    group, _, _ = doc.get("apiVersion", "").rpartition("/")
                    kind = self.reg.by_kind(group, doc.get("kind"))
                    if kind is None:
                        raise SystemExit(f"fakeapi: {path}: cannot serve {doc.get('apiVersion')} {doc.get('kind')}")
                    self.store.seed(kind, doc)


class LoadBalancer:
    """A stand-in for a cloud's service controller: fills status.loadBalancer.ingress of
    Services of type LoadBalancer from an address pool, and clears it when the type changes."""

    def __init__(self, store):
        self.store = store
        self.next = None
        self.delay = 0.0
        self.given = {}
        self.q = queue.Queue()
        threading.Thread(target=self.run, daemon=True).start()

    def enable(self, start, delay_ms=0):
        with self.store.cond:
            self.next = ipaddress.ip_address(start) if start else None
            self.delay = delay_ms / 1000.0
            for obj in list(self.store.objs[("", "services")].values()):
                self.q.put(key_of(obj))

    def on_commit(self, kind, etype, obj, prev):
        if kind.res == ("", "services") and etype != "DELETED" and self.next is not None:
            self.q.put(key_of(obj))

    def run(self):
        while True:
            key = self.q.get()
            if self.delay:
                time.sleep(self.delay)
            with self.store.cond:
                kind = self.store.reg.kinds[("", "services")]
                svc = self.store.get(kind, *key)
                if svc is None or self.next is None:
                    continue
                spec, status = svc.get("spec") or {}, svc.get("status") or {}
                ingress = (status.get("loadBalancer") or {}).get("ingress")
                if spec.get("type") == "LoadBalancer" and not ingress:
                    uid = svc["metadata"]["uid"]
                    if uid not in self.given:
                        self.given[uid] = spec.get("loadBalancerIP") or str(self.next)
                        if not spec.get("loadBalancerIP"):
                            self.next += 1
                    st = dict(status, loadBalancer={"ingress": [{"ip": self.given[uid], "ipMode": "VIP"}]})
                    self.store.write_status(kind, svc, st, "service-controller")
                elif spec.get("type") != "LoadBalancer" and ingress:
                    self.store.write_status(kind, svc, dict(status, loadBalancer={}), "service-controller")


def request_info(path):
    """Splits a resource path like kube-apiserver's RequestInfoFactory does. Returns a dict
    or None when the path is not a resource path."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if not rest:
        return None
    ns = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        ns = rest[1]
        if len(rest) > 2 and rest[2] not in ("status", "finalize"):
            rest = rest[2:]
    info = {"group": group, "version": version, "namespace": ns, "resource": rest[0],
            "name": rest[1] if len(rest) > 1 else "", "subresource": rest[2] if len(rest) > 2 else "",
            "extra": len(rest) > 3}
    if info["resource"] == "namespaces":
        info["namespace"] = ""
    return info


def _flag(q, name):
    return (q.get(name) or [""])[0].lower() in ("true", "1")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-kube-apiserver/1.32"
    fake = None

    def log_message(self, fmt, *args):
        if os.environ.get("FAKEAPI_DEBUG"):
            sys.stderr.write("fakeapi: " + (fmt % args) + "\n")

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    # ---- plumbing ----

    def read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def send(self, code, body, ctype="application/json", headers=None):
        data = body if isinstance(body, bytes) else (json.dumps(body) + "\n").encode()
        self.code = code
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Audit-Id", self.audit_id)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def fail(self, err):
        headers = dict(err.headers)
        self.send(err.code, err.status(), headers=headers)

    # ---- entry ----

    def dispatch(self):
        f = self.fake
        self.code, self.audit_id, self.streaming = 0, secrets.token_hex(16), False
        url = urllib.parse.urlsplit(self.path)
        path, rawq = url.path, url.query
        q = urllib.parse.parse_qs(rawq, keep_blank_values=True)
        try:
            body = self.read_body()
        except (ValueError, OSError):
            self.send_error(400)
            self.close_connection = True
            return
        if path.startswith("/_fake/"):
            return self.control(path[len("/_fake/"):], q, body)
        user, groups = self.authenticate()
        info = request_info(path)
        t = time.time()
        rec = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1e6) % 1000000:06d}Z",
               "user": user, "verb": self.command.lower(), "method": self.command, "path": path, "query": rawq,
               "contentType": self.headers.get("Content-Type") or "", "userAgent": self.headers.get("User-Agent") or ""}
        if info:
            rec.update({k: info[k] for k in ("namespace", "name", "subresource")})
            rec["apiGroup"], rec["resource"] = info["group"], info["resource"]
            rec["verb"] = self.verb(info, q)
        self.rec = rec
        try:
            if user is None:
                raise ApiError(401, "Unauthorized", "Unauthorized")
            inj = f.take_injection(self.command, path, rawq, user)
            if inj:
                rec["injected"] = True
                if inj.get("delay_ms"):
                    time.sleep(inj["delay_ms"] / 1000.0)
                if inj.get("code"):
                    raise self.injected(inj, info)
            self.route(path, q, body, info, user, groups)
        except ApiError as e:
            self.fail(e)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, socket.timeout):
            self.close_connection = True
        except Exception as e:  # a bug in the fake: answer like the real server would
            traceback.print_exc()
            if self.streaming:
                self.close_connection = True     # mid-stream: no answer can follow
            else:
                self.fail(ApiError(500, "InternalError", f"Internal error occurred: {e}"))
        if not rec.get("logged"):
            rec["code"] = self.code
            f.record({k: v for k, v in rec.items() if k != "logged"})

    def injected(self, inj, info):
        code = int(inj["code"])
        headers = {}
        msg = inj.get("message") or "injected by the fake API server"
        if code == 409 and info and info["name"]:
            kind = self.fake.reg.kinds.get((info["group"], info["resource"]))
            if kind:
                return conflict(kind, info["name"])
        details = None
        if code == 429:
            ra = int(inj.get("retry_after") or 1)
            headers["Retry-After"] = str(ra)
            details = {"retryAfterSeconds": ra}
            msg = inj.get("message") or "Too many requests, please try again later."
        elif inj.get("retry_after"):
            headers["Retry-After"] = str(int(inj["retry_after"]))
        return ApiError(code, REASONS.get(code, "Unknown"), msg, details, headers)

    def authenticate(self):
        f = self.fake
        auth = self.headers.get("Authorization") or ""
        if auth.startswith("Bearer "):
            tok = auth[7:].strip()
            if tok and secrets.compare_digest(tok, f.token()):
                user = f.args.token_user
                parts = user.split(":")
                groups = ["system:authenticated"]
                if len(parts) == 4 and parts[:2] == ["system", "serviceaccount"]:
                    groups += ["system:serviceaccounts", f"system:serviceaccounts:{parts[2]}"]
                return user, groups
            if tok and secrets.compare_digest(tok, f.token("admin-token")):
                return ADMIN
            return None, []
        cert = None
        try:
            cert = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
        except (ValueError, ssl.SSLError):
            cert = None
        if cert:
            subj = [x for rdn in cert.get("subject", ()) for x in rdn]
            cn = next((v for k, v in subj if k == "commonName"), None)
            orgs = [v for k, v in subj if k == "organizationName"]
            if cn:
                return cn, orgs + ["system:authenticated"]
        return None, []

    def verb(self, info, q):
        m = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
        v = m.get(self.command, self.command.lower())
        if not info["name"]:
            if v == "get":
                v = "watch" if _flag(q, "watch") else "list"
            elif v == "delete":
                v = "deletecollection"
        return v

    # ---- routing ----

    def route(self, path, q, body, info, user, groups):
        f = self.fake
        if info is None:
            attrs = {"verb": self.command.lower(), "path": path.rstrip("/") or "/"}
            if not f.rbac.allowed(user, groups, attrs):
                raise ApiError(403, "Forbidden", fake_rbac.forbidden_message(user, attrs), {})
            return self.nonresource(path.rstrip("/") or "/", q)
        kind = f.reg.find(info["group"], info["version"], info["resource"])
        if kind is None or info["extra"] or (info["subresource"] and
                                             (info["subresource"] != "status" or not kind.status)):
            raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
        if kind.namespaced != bool(info["namespace"]) and (info["name"] or self.command != "GET"):
            if not (kind.namespaced is False and info["resource"] == "namespaces"):
                raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
        if not kind.namespaced and info["namespace"]:
            raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
        try:
            lsel = parse_labels((q.get("labelSelector") or [""])[0])
            fsel = parse_fields((q.get("fieldSelector") or [""])[0])
        except SelectorError as e:
            raise bad_request(str(e))
        for p, _, _ in fsel:
            if p not in kind.fields:
                raise bad_request(f"field label not supported: {p}")
        attrs = {"verb": self.rec["verb"], "group": kind.group, "resource": kind.plural,
                 "subresource": info["subresource"], "namespace": info["namespace"],
                 "name": info["name"] or (field_name_equals(fsel) if self.rec["verb"] in ("list", "watch") else "")}
        if not f.rbac.allowed(user, groups, attrs):
            raise ApiError(403, "Forbidden", fake_rbac.forbidden_message(user, attrs),
                           {"name": info["name"], "group": kind.group, "kind": kind.plural} if info["name"] else
                           {"group": kind.group, "kind": kind.plural})
        self.resource(kind, info, q, body, lsel, fsel)

    def nonresource(self, path, q):
        f = self.fake
        reg = f.reg
        if path in ("/healthz", "/livez", "/readyz"):
            return self.send(200, b"ok", "text/plain; charset=utf-8")
        if path == "/version":
            return self.send(200, VERSION)
        with f.store.cond:
            if path == "/api":
                return self.send(200, reg.api_versions(self.server.public_host))
            if path == "/apis":
                return self.send(200, reg.group_list())
            if path == "/api/v1":
                return self.send(200, reg.resource_list("", "v1"))
            m = re.match(r"^/apis/([^/]+)(?:/([^/]+))?$", path)
            if m:
                doc = reg.resource_list(m.group(1), m.group(2)) if m.group(2) else reg.group(m.group(1))
                if doc:
                    return self.send(200, doc)
            if path == "/openapi/v3":
                return self.send(200, reg.openapi_paths())
            m = re.match(r"^/openapi/v3/(?:api/(v1)|apis/([^/]+)/([^/]+))$", path)
            if m:
                doc = reg.openapi_doc("", "v1") if m.group(1) else reg.openapi_doc(m.group(2), m.group(3))
                if doc:
                    headers = {"Cache-Control": "public, immutable"} if q.get("hash") else {}
                    return self.send(200, json.dumps(doc).encode(), headers=headers)
        raise ApiError(404, "NotFound", "the server could not find the requested resource", {})

    def write_opts(self, q, info):
        fv = (q.get("fieldValidation") or ["Warn"])[0] or "Warn"
        if fv not in ("Strict", "Warn", "Ignore"):
            raise bad_request(f"fieldValidation parameter unsupported: {fv}. Must be one of: Ignore, Warn, Strict")
        dry = q.get("dryRun")
        if dry and dry[0] not in ("All", ""):
            raise bad_request(f"unsupported dry run value \"{dry[0]}\"")
        manager = (q.get("fieldManager") or [""])[0]
        if not manager:
            ua = self.headers.get("User-Agent") or ""
            manager = ua.split("/")[0][:128] if ua else ""
        return {"manager": manager, "validation": fv, "dry": bool(dry and dry[0] == "All"),
                "force": _flag(q, "force"), "warnings": []}

    def send_obj(self, code, obj, opts=None):
        headers = {}
        if opts and opts.get("warnings"):
            headers["Warning"] = ", ".join('299 - "%s"' % w.replace('"', '\\"') for w in opts["warnings"][:20])
        self.send(code, obj, headers=headers)

    def decode_body(self, body):
        ctype = (self.headers.get("Content-Type") or "application/json").split(";")[0].strip()
        try:
            if ctype in ("application/yaml", "application/apply-patch+yaml"):
                return yaml.safe_load(body.decode())
            if ctype not in ("application/json", ""):
                raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                               "accepted media types include: application/json, application/yaml")
            return json.loads(body or b"null")
        except (ValueError, yaml.YAMLError) as e:
            raise bad_request(f"the object provided is unrecognized: {e}")

    def resource(self, kind, info, q, body, lsel, fsel):
        f = self.fake
        st = f.store
        ns, name, sub, version = info["namespace"], info["name"], info["subresource"] or None, info["version"]
        if kind.res == ("", "namespaces") and name:
            ns = ""
        method = self.command
        if method == "GET":
            if name and _flag(q, "watch"):
                # The old single-object watch path: a watch pinned by metadata.name.
                return self.watch(kind, version, ns, q, lsel, fsel + [("metadata.name", False, name)])
            if name:
                with st.cond:
                    obj = st.get(kind, ns, name)
                    if obj is None:
                        raise not_found(kind, name)
                    return self.send(200, st.present(kind, obj, version))
            if _flag(q, "watch"):
                return self.watch(kind, version, ns, q, lsel, fsel)
            try:
                limit = int((q.get("limit") or ["0"])[0] or 0)
            except ValueError:
                raise bad_request("limit must be an integer")
            items, rv, token, remaining = st.list(kind, ns, lsel, fsel, max(limit, 0), (q.get("continue") or [""])[0],
                                                  (q.get("resourceVersion") or [None])[0],
                                                  (q.get("resourceVersionMatch") or [None])[0])
            meta = {"resourceVersion": str(rv)}
            if token:
                meta["continue"] = token
            if remaining is not None:
                meta["remainingItemCount"] = remaining
            out = {"kind": kind.kind + "List", "apiVersion": kind.gv(version), "metadata": meta,
                   "items": [st.present(kind, o, version, in_list=True) for o in items]}
            return self.send(200, out)
        if method == "POST":
            if name:
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested "
                               "resource", {})
            opts = self.write_opts(q, info)
            obj = st.create(kind, version, ns, self.decode_body(body), opts)
            return self.send_obj(201, st.present(kind, obj, version), opts)
        if method == "PUT":
            if not name:
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested "
                               "resource", {})
            opts = self.write_opts(q, info)
            obj = st.update(kind, version, ns, name, self.decode_body(body), opts, sub)
            return self.send_obj(200, st.present(kind, obj, version), opts)
        if method == "PATCH":
            if not name:
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested "
                               "resource", {})
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            ptype = PATCH_TYPES.get(ctype)
            if ptype is None or (ptype == "smp" and not kind.builtin):
                accepted = "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
                if kind.builtin:
                    accepted += ", application/strategic-merge-patch+json"
                raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - "
                               f"accepted media types include: {accepted}", {})
            opts = self.write_opts(q, info)
            if ptype == "apply" and not (q.get("fieldManager") or [""])[0]:
                raise ApiError(422, "Invalid", "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required "
                               "value: is required for apply patch", {})
            if ptype != "apply" and q.get("force"):
                raise ApiError(422, "Invalid", "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not "
                               "be specified for non-apply patch", {})
            obj, created = st.patch(kind, version, ns, name, ptype, body, opts, sub)
            return self.send_obj(201 if created else 200, st.present(kind, obj, version), opts)
        if method == "DELETE":
            options = {}
            if body.strip():
                try:
                    options = json.loads(body)
                except ValueError as e:
                    raise bad_request(f"invalid DeleteOptions: {e}")
            if q.get("propagationPolicy"):
                options["propagationPolicy"] = q["propagationPolicy"][0]
            opts = self.write_opts(q, info)
            if not name:
                items = st.delete_collection(kind, version, ns, lsel, fsel, options, opts)
                return self.send(200, {"kind": kind.kind + "List", "apiVersion": kind.gv(version),
                                       "metadata": {"resourceVersion": str(st.rv)},
                                       "items": [st.present(kind, o, version, True) for o in items]})
            obj, removed = st.delete(kind, version, ns, name, options, opts)
            if not removed:
                # kube-apiserver answers 202 for a pending deletion only when the client asked
                # orphanDependents=false; otherwise 200 with the object.
                code = 202 if options.get("orphanDependents") is False else 200
                return self.send(code, st.present(kind, obj, version))
            if kind.builtin and kind.kind not in ("Pod", "Service"):
                return self.send(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                       "details": {"name": name, "group": kind.group, "kind": kind.plural,
                                                   "uid": obj["metadata"]["uid"]}})
            return self.send(200, st.present(kind, obj, version))
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {})

    # ---- watch ----

    def watch(self, kind, version, ns, q, lsel, fsel):
        f, st = self.fake, self.fake.store
        rv = (q.get("resourceVersion") or [""])[0]
        match = (q.get("resourceVersionMatch") or [""])[0]
        sie = q.get("sendInitialEvents")
        bookmarks = _flag(q, "allowWatchBookmarks")
        if sie is not None:
            if not f.watch_list:
                raise ApiError(422, "Invalid", "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: "
                               "Forbidden: sendInitialEvents is forbidden for watch unless the WatchList feature gate "
                               "is enabled", {})
            if match != "NotOlderThan":
                raise ApiError(422, "Invalid", "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: "
                               "Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan", {})
            if not bookmarks:
                raise ApiError(422, "Invalid", "ListOptions.meta.k8s.io \"\" is invalid: allowWatchBookmarks: "
                               "Forbidden: sendInitialEvents requires setting allowWatchBookmarks to true", {})
        elif match:
            raise ApiError(422, "Invalid", "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: "
                           "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided", {})
        try:
            timeout = float((q.get("timeoutSeconds") or [""])[0] or random.uniform(1800, 3600))
        except ValueError:
            raise bad_request("timeoutSeconds must be a number")
        deadline = time.time() + timeout
        initial = (sie[0].lower() in ("true", "1")) if sie is not None else rv in ("", "0")
        want = parse_rv(rv)
        gv = kind.gv(version)

        def visible(obj):
            if ns and obj["metadata"].get("namespace") != ns:
                return False
            return match_labels(lsel, obj["metadata"].get("labels")) and match_fields(fsel, kind.to_view(obj))

        too_old = None
        with st.cond:
            if want:
                st._wait_for(want)
            if initial:
                pos = st.rv
                first = [("ADDED", o) for o in st.objs[kind.store_res].values() if visible(o)]
            else:
                pos = want if want else st.rv
                first = []
                if st.events_after(kind.store_res, pos) is None:
                    too_old = st.floors[kind.store_res]
            gen = f.drop_gen
        self.send_response(200)
        self.code, self.streaming = 200, True
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Audit-Id", self.audit_id)
        self.end_headers()
        self.rec["code"] = 200
        self.rec["logged"] = True
        f.record({k: v for k, v in self.rec.items() if k != "logged"})
        wid = object()
        with f.lock:
            f.watches[wid] = {"user": self.rec["user"], "path": self.rec["path"], "query": self.rec["query"],
                              "since": now_iso()}
        try:
            if too_old is not None:
                err = ApiError(410, "Expired", f"too old resource version: {want} ({too_old})").status()
                self.emit([{"type": "ERROR", "object": err}])
                return self.end_stream()
            evs = [{"type": t, "object": st.present(kind, o, version)} for t, o in first]
            if sie is not None and initial:
                evs.append(self.bookmark(kind, gv, pos, initial_end=True))
            if evs:
                self.emit(evs)
            period = f.args.bookmark_seconds
            next_bm = time.time() + period
            if deadline - 2 > time.time():
                next_bm = min(next_bm, deadline - 2)
            while True:
                # pos is a global RV up to which this watcher has every event of its
                # resource, so churn in other resources cannot push it out of history.
                with st.cond:
                    while True:
                        if f.drop_gen != gen:
                            return self.abort()
                        if self.peer_gone():
                            self.close_connection = True
                            return
                        evs = st.events_after(kind.store_res, pos)
                        if evs == [] and f.reg.kinds.get(kind.res) is not kind:
                            return self.end_stream()     # its CRD was deleted, its objects with it
                        if evs == []:
                            pos = st.rv
                        now = time.time()
                        if evs is None or evs or now >= deadline or (bookmarks and now >= next_bm):
                            break
                        wake = min(deadline, next_bm) if bookmarks else deadline
                        st.cond.wait(min(1.0, max(0.01, wake - now)))
                    if evs:
                        pos = st.rv
                if evs is None:
                    # Fell out of history (a slow watcher): the server ends the stream, the
                    # client re-watches from its last RV and learns it is too old.
                    return self.end_stream()
                out = [{"type": t, "object": st.present(kind, e.obj, version)}
                       for e in evs for t in [self.convert(e, visible)] if t]
                if f.split_events and out:
                    time.sleep(0.05)
                    with st.cond:
                        more = st.events_after(kind.store_res, pos) or []
                        pos = st.rv
                    out += [{"type": t, "object": st.present(kind, e.obj, version)}
                            for e in more for t in [self.convert(e, visible)] if t]
                now = time.time()
                if bookmarks and now >= next_bm and now < deadline:
                    out.append(self.bookmark(kind, gv, pos))
                    next_bm = now + period
                    if deadline - 2 > now + 0.5:
                        next_bm = min(next_bm, deadline - 2)
                if out:
                    self.emit(out)
                if time.time() >= deadline:
                    return self.end_stream()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True
        finally:
            with f.lock:
                f.watches.pop(wid, None)

    def peer_gone(self):
        """A watch client sends nothing: a readable socket means it closed (or broke the
        protocol). Checked while idle so that abandoned watches do not linger."""
        try:
            r, _, _ = select.select([self.connection], [], [], 0)
            return bool(r)
        except (OSError, ValueError):
            return True

    @staticmethod
    def convert(e, visible):
        """A history event as this watcher sees it: selectors turn modifications into ADDED
        or DELETED when an object enters or leaves the selected set (the cacher does this)."""
        if e.type == "ADDED":
            return "ADDED" if visible(e.obj) else None
        if e.type == "DELETED":
            return "DELETED" if visible(e.prev or e.obj) else None
        was, now = visible(e.prev), visible(e.obj)
        if was and now:
            return "MODIFIED"
        return "ADDED" if now else ("DELETED" if was else None)

    @staticmethod
    def bookmark(kind, gv, rv, initial_end=False):
        meta = {"resourceVersion": str(rv)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return {"type": "BOOKMARK", "object": {"kind": kind.kind, "apiVersion": gv, "metadata": meta}}

    def emit(self, events):
        lines = [(json.dumps(e) + "\n").encode() for e in events]
        if not self.fake.split_events:
            for line in lines:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
        else:
            # Chunk boundaries in the middle of every other event: each chunk carries the end
            # of one event, whole events, and the start of another.
            data = b"".join(lines)
            cuts, off = [], 0
            for i, line in enumerate(lines):
                if i % 2 == 0:
                    cuts.append(off + len(line) // 2)
                off += len(line)
            start = 0
            for c in cuts + [len(data)]:
                if c > start:
                    self.wfile.write(b"%x\r\n%s\r\n" % (c - start, data[start:c]))
                    start = c
        self.wfile.flush()

    def end_stream(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def abort(self):
        """Ends the stream without the last chunk, as a dying server or a cut connection would."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # ---- controls ----

    def control(self, name, q, body):
        f = self.fake
        self.code = 200
        try:
            req = json.loads(body) if body.strip() else {}
        except ValueError:
            return self.send(400, {"error": "body is not JSON"})
        if not isinstance(req, dict):
            return self.send(400, {"error": "body must be a JSON object"})
        post = self.command == "POST"
        if name == "audit" and self.command == "GET":
            since = int((q.get("since") or ["0"])[0] or 0)
            with f.lock:
                return self.send(200, [r for r in f.audit if r["seq"] > since])
        if name == "reset-audit" and post:
            with f.lock:
                f.audit = []
                open(os.path.join(f.dir, "audit.jsonl"), "w").close()
                return self.send(200, {"seq": f.audit_seq})
        if name == "drop-watches" and post:
            with f.store.cond:
                f.drop_gen += 1
                n = len(f.watches)
                f.store.cond.notify_all()
            end = time.time() + 3
            while f.watches and time.time() < end:
                time.sleep(0.01)
            return self.send(200, {"dropped": n})
        if name == "watches" and self.command == "GET":
            with f.lock:
                return self.send(200, list(f.watches.values()))
        if name == "compact" and post:
            return self.send(200, {"resourceVersion": str(f.store.compact())})
        if name == "expire-continue" and post:
            return self.send(200, {"expired": f.store.expire_continues()})
        if name == "inject":
            if self.command == "GET":
                with f.lock:
                    return self.send(200, f.injections)
            if self.command == "DELETE":
                with f.lock:
                    f.injections = []
                return self.send(200, [])
            if post:
                inj = {"method": (req.get("method") or "").upper(), "path": req.get("path") or ".",
                       "code": req.get("code"), "count": int(req.get("count") or 1),
                       "retry_after": req.get("retry_after"), "delay_ms": int(req.get("delay_ms") or 0),
                       "query": req.get("query"), "user": req.get("user"), "message": req.get("message")}
                try:
                    re.compile(inj["path"])
                    re.compile(inj["query"] or "")
                except re.error as e:
                    return self.send(400, {"error": f"bad regex: {e}"})
                with f.lock:
                    f.injections.append(inj)
                return self.send(200, inj)
        if name == "split-events" and post:
            f.split_events = bool(req.get("enabled", True))
            return self.send(200, {"enabled": f.split_events})
        if name == "watch-list" and post:
            f.watch_list = bool(req.get("enabled", True))
            return self.send(200, {"enabled": f.watch_list})
        if name == "lb" and post:
            if req.get("enabled") is False:
                f.lb.enable(None)
                return self.send(200, {"enabled": False})
            try:
                f.lb.enable(req.get("ip") or "10.0.0.100", int(req.get("delay_ms") or 0))
            except ValueError as e:
                return self.send(400, {"error": str(e)})
            return self.send(200, {"enabled": True, "next": str(f.lb.next)})
        if name == "objects" and post:
            # Bulk creation for test set-up (10,000 Secrets in one request): each object goes
            # through the same create path, watchers see ordinary ADDED events.
            docs = req.get("items") or []
            made, errors = 0, []
            for doc in docs:
                try:
                    group, _, version = (doc.get("apiVersion") or "").rpartition("/")
                    kind = f.reg.by_kind(group, doc.get("kind"))
                    if kind is None or version not in kind.versions:
                        raise bad_request(f"no kind {doc.get('apiVersion')} {doc.get('kind')}")
                    ns = (doc.get("metadata") or {}).get("namespace") or ("default" if kind.namespaced else "")
                    f.store.create(kind, version, ns, doc, {"manager": "fakeapi-objects"})
                    made += 1
                except ApiError as e:
                    errors.append(e.message)
            return self.send(200 if not errors else 422, {"created": made, "errors": errors[:20]})
        if name == "state" and self.command == "GET":
            with f.store.cond:
                return self.send(200, {"resourceVersion": str(f.store.rv),
                                       "history": {"/".join(r).lstrip("/"): len(h) for r, h in f.store.hist.items()},
                                       "watches": len(f.watches),
                                       "continueTokens": len(f.store.tokens)})
        return self.send(404, {"error": f"no control {self.command} /_fake/{name}"})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, handler, family, tls_ctx):
        self.address_family = family
        self.tls_ctx = tls_ctx
        super().__init__(addr, handler)

    def finish_request(self, request, client_address):
        # Headers and body leave in separate writes; without TCP_NODELAY every response
        # waits out the client's delayed ACK (40 ms).
        try:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        if self.tls_ctx is not None:
            # The handshake runs in the connection's own thread, not in the accept loop.
            try:
                request.settimeout(10)
                request = self.tls_ctx.wrap_socket(request, server_side=True)
                request.settimeout(None)
            except (ssl.SSLError, OSError):
                request.close()
                return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        if os.environ.get("FAKEAPI_DEBUG"):
            super().handle_error(request, client_address)


def make_certs(d, host):
    """A CA, a server certificate for the listen address and localhost, and a client
    certificate for user client-cert-user (group system:masters), made with openssl(1)."""
    def run(*cmd):
        subprocess.run(cmd, cwd=d, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("openssl", "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "7",
        "-subj", "/CN=fake-kube-ca", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    sans = ["IP:127.0.0.1", "IP:::1", "DNS:localhost"]
    try:
        ip = ipaddress.ip_address(host)
        if f"IP:{ip}" not in sans:
            sans.append(f"IP:{ip}")
    except ValueError:
        if host and f"DNS:{host}" not in sans:
            sans.append(f"DNS:{host}")
    for name, subj, ext in (("server", "/CN=fake-kube-apiserver",
                             f"subjectAltName={','.join(sans)}\nextendedKeyUsage=serverAuth\n"),
                            ("client", "/O=system:masters/CN=client-cert-user", "extendedKeyUsage=clientAuth\n")):
        with open(os.path.join(d, f"{name}.ext"), "w") as fh:
            fh.write(ext + "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n")
        run("openssl", "req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subj)
        run("openssl", "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.crt", "-days", "7", "-extfile", f"{name}.ext")
        os.unlink(os.path.join(d, f"{name}.csr"))
        os.unlink(os.path.join(d, f"{name}.ext"))


def kubeconfig(url, ca_pem, user):
    cluster = {"server": url}
    if ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": "fake", "cluster": cluster}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": "default"}}],
        "current-context": "fake",
        "users": [{"name": "fake", "user": user}]}, sort_keys=False)


def write(path, text, mode=0o600):
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--crds", nargs="+", action="extend", help="CRD directories or files")
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--bookmark-seconds", type=float, default=60.0)
    ap.add_argument("--history", type=int, default=1000, help="watch events kept (older ones give 410)")
    ap.add_argument("--continue-ttl", type=float, default=300.0, help="seconds a continue token stays valid")
    ap.add_argument("--rbac", nargs="+", action="extend", help="RBAC YAML files; enables authorization")
    ap.add_argument("--token-user", default="system:serviceaccount:torii-system:torii")
    ap.add_argument("--lb-pool", help="start the fake LoadBalancer controller at this address")
    args = ap.parse_args()

    os.makedirs(args.state_dir, exist_ok=True)
    fake = Fake(args)
    fake.load()
    if args.lb_pool:
        fake.lb.enable(args.lb_pool)

    host, _, port = args.listen.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    d = fake.dir
    ctx = None
    if args.tls:
        make_certs(d, host)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(d, "server.crt"), os.path.join(d, "server.key"))
        ctx.load_verify_locations(os.path.join(d, "ca.crt"))
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.set_alpn_protocols(["http/1.1"])
    Handler.fake = fake
    srv = Server((host, int(port or 0)), Handler, family, ctx)
    bound = srv.server_address[1]
    hostport = f"[{host}]:{bound}" if family == socket.AF_INET6 else f"{host}:{bound}"
    url = ("https://" if args.tls else "http://") + hostport
    srv.public_host = hostport

    ca = None
    if args.tls:
        with open(os.path.join(d, "ca.crt"), "rb") as fh:
            ca = fh.read()
    if not fake.token():
        write(os.path.join(d, "token"), secrets.token_urlsafe(32) + "\n")
    write(os.path.join(d, "admin-token"), secrets.token_urlsafe(32) + "\n")
    write(os.path.join(d, "kubeconfig"), kubeconfig(url, ca, {"token": fake.token()}))
    write(os.path.join(d, "kubeconfig-tokenfile"), kubeconfig(url, ca, {"tokenFile": os.path.join(d, "token")}))
    write(os.path.join(d, "admin.kubeconfig"), kubeconfig(url, ca, {"token": fake.token("admin-token")}))
    if args.tls:
        with open(os.path.join(d, "client.crt"), "rb") as c, open(os.path.join(d, "client.key"), "rb") as k:
            write(os.path.join(d, "client.kubeconfig"), kubeconfig(url, ca, {
                "client-certificate-data": base64.b64encode(c.read()).decode(),
                "client-key-data": base64.b64encode(k.read()).decode()}))
    open(os.path.join(d, "audit.jsonl"), "a").close()
    write(os.path.join(d, "pid"), f"{os.getpid()}\n", 0o644)
    write(os.path.join(d, "url"), url + "\n", 0o644)
    print(f"ready {url}", flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
