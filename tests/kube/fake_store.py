"""Storage with the API server's semantics: one global resourceVersion counter, a bounded
history of watch events, list snapshots behind continue tokens, create/update/patch/delete
with their preconditions, the status subresource, generation, finalizers, garbage collection
by ownerReferences, namespace lifecycle, and the defaulting a few built-in kinds need.

Objects are stored in their storage version and never mutated once stored: every write
builds a new object, so history events and list snapshots can share references.
"""
import base64
import bisect
import collections
import datetime
import ipaddress
import json
import re
import threading
import time
import uuid

import yaml

import fake_patch as fp
from fake_kinds import normalize
from fake_select import match_fields, match_labels

Event = collections.namedtuple("Event", "rv type res obj prev")

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


class ApiError(Exception):
    """An error answered as a Status body."""

    def __init__(self, code, reason, message, details=None, headers=None, meta=None):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message
        self.details, self.headers, self.meta = details, headers or {}, meta or {}

    def status(self):
        body = {"kind": "Status", "apiVersion": "v1", "metadata": self.meta, "status": "Failure",
                "message": self.message, "reason": self.reason, "code": self.code}
        if self.details:
            body["details"] = self.details
        return body


def _details(kind, name):
    d = {"name": name, "kind": kind.plural}
    if kind.group:
        d["group"] = kind.group
    return d


def not_found(kind, name):
    return ApiError(404, "NotFound", f"{kind.qualified()} \"{name}\" not found", _details(kind, name))


def conflict(kind, name, why="the object has been modified; please apply your changes to the latest version "
                            "and try again"):
    return ApiError(409, "Conflict", f"Operation cannot be fulfilled on {kind.qualified()} \"{name}\": {why}",
                    _details(kind, name))


def invalid(kind, name, field, message, value=None):
    gk = f"{kind.kind}.{kind.group}" if kind.group else kind.kind
    detail = f"{field}: {message}" if value is None else f"{field}: Invalid value: {value}: {message}"
    return ApiError(422, "Invalid", f"{gk} \"{name}\" is invalid: {detail}",
                    {"name": name, "group": kind.group, "kind": kind.kind,
                     "causes": [{"reason": "FieldValueInvalid", "message": detail, "field": field}]})


def bad_request(message):
    return ApiError(400, "BadRequest", message)


def too_large(rv, current):
    return ApiError(504, "Timeout", f"Timeout: Too large resource version: {rv}, current: {current}",
                    {"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                     "retryAfterSeconds": 1}, headers={"Retry-After": "1"})


def now_iso():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def clone(x):
    return json.loads(json.dumps(x))


def key_of(obj):
    m = obj.get("metadata") or {}
    return (m.get("namespace") or "", m.get("name") or "")


class Store:
    def __init__(self, registry, history=1000, continue_ttl=300.0):
        self.reg = registry
        self.cond = threading.Condition(threading.RLock())
        self.objs = collections.defaultdict(dict)     # res -> {(ns, name): obj}
        # 19-digit decimal resourceVersions, as some real servers hand out: clients must
        # treat them as opaque strings.
        self.rv = time.time_ns()
        # One bounded history per resource, as kube-apiserver keeps one watch cache per
        # resource: churn in Secrets does not age a ConfigMap watch. Every event of res
        # after floors[res] is in hist[res].
        start = self.rv
        self.floors = collections.defaultdict(lambda: start)
        self.hist = collections.defaultdict(list)
        self.hist_max = max(1, history)
        self.continue_ttl = continue_ttl
        self.tokens = {}
        self.uids = {}                                 # uid -> (res, key)
        self.dependents = collections.defaultdict(set)  # owner uid -> {(res, key)}
        self.hooks = []                                # fn(kind, etype, obj, prev) after a commit
        self.next_ip = ipaddress.ip_address("10.96.0.10")
        self.node_ports = set()
        self.namespace_delay = 0.5

    # ---- reads ----

    def kind_of(self, res):
        return self.reg.kinds.get(res)

    def get(self, kind, ns, name):
        return self.objs[kind.store_res].get((ns or "", name))

    def present(self, kind, obj, version, in_list=False):
        obj = kind.to_view(obj)
        if in_list and kind.builtin:
            return {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
        out = {"apiVersion": kind.gv(version), "kind": kind.kind}
        out.update((k, v) for k, v in obj.items() if k not in ("apiVersion", "kind"))
        return out

    def _wait_for(self, rv):
        """Waits up to 3 s for the store to reach rv (the watch cache's behaviour)."""
        deadline = time.time() + 3
        while self.rv < rv:
            left = deadline - time.time()
            if left <= 0:
                raise too_large(rv, self.rv)
            self.cond.wait(left)

    def _state_at(self, res, rv):
        if rv < self.floors[res]:
            raise ApiError(410, "Expired", "The resourceVersion for the provided list is too old.")
        self._wait_for(rv)
        state = dict(self.objs[res])
        for e in reversed(self.hist[res]):
            if e.rv <= rv:
                break
            if e.type == "ADDED":
                state.pop(key_of(e.obj), None)
            else:
                state[key_of(e.obj)] = e.prev
        return state

    @staticmethod
    def _token(rv, start, tid=None):
        body = {"v": "meta.k8s.io/v1", "rv": rv, "start": start}
        if tid:
            body["id"] = tid
        return base64.b64encode(json.dumps(body, separators=(",", ":")).encode()).decode()

    def _expired_continue(self, start):
        msg = ("The provided continue parameter is too old to display a consistent list result. You can start a "
               "new list without the continue parameter, or use the continue token in this response to retrieve "
               "the remainder of the results. Continuing with the provided token results in an inconsistent list - "
               "objects that were created, modified, or deleted between the time the first chunk was returned and "
               "now may show up in the list.")
        return ApiError(410, "Expired", msg, meta={"continue": self._token(-1, start)})

    def list(self, kind, ns, lsel, fsel, limit=0, cont=None, rv=None, match=None):
        """Returns (items, list RV, continue token, remaining count or None)."""
        with self.cond:
            now = time.time()
            for tid in [t for t, s in self.tokens.items() if now - s["created"] > self.continue_ttl + 60]:
                del self.tokens[tid]
            snap = None
            if cont:
                try:
                    tok = json.loads(base64.b64decode(cont, validate=True))
                    start, trv = tok["start"], int(tok["rv"])
                except (ValueError, KeyError, TypeError):
                    raise bad_request("continue key is not valid: incorrect encoded start resourceVersion "
                                      "(version meta.k8s.io/v1)")
                if rv not in (None, "", "0"):
                    raise bad_request("specifying resource version is not allowed when using continue")
                if trv == -1:
                    list_rv, items = self.rv, _sorted(self.objs[kind.store_res])
                else:
                    snap = self.tokens.get(tok.get("id"))
                    if snap is None or snap["expired"] or now - snap["created"] > self.continue_ttl:
                        raise self._expired_continue(start)
                    list_rv, items = snap["rv"], snap["items"]
            else:
                start = ""
                if match not in (None, "", "Exact", "NotOlderThan"):
                    raise invalid(kind, "", "resourceVersionMatch", f"Unsupported value: \"{match}\"")
                if match and rv in (None, ""):
                    raise ApiError(422, "Invalid", "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: "
                                   "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided")
                if match == "Exact" and rv == "0":
                    raise ApiError(422, "Invalid", "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: "
                                   "Forbidden: resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"")
                want = _parse_rv(rv)
                if match == "Exact":
                    list_rv, items = want, _sorted(self._state_at(kind.store_res, want))
                else:
                    if want:
                        self._wait_for(want)
                    list_rv, items = self.rv, _sorted(self.objs[kind.store_res])
            out, last, more = [], None, False
            i = bisect.bisect_right(items, start, key=lambda kv: _skey(kv[0])) if start else 0
            for j in range(i, len(items)):
                key, obj = items[j]
                if ns and key[0] != ns:
                    continue
                if not (match_labels(lsel, obj["metadata"].get("labels")) and match_fields(fsel, kind.to_view(obj))):
                    continue
                if limit and len(out) == limit:
                    more = True
                    break
                out.append(obj)
                last = key
            token, remaining = "", None
            if more:
                if snap is None and not (cont and trv == -1):
                    snap = {"created": now, "rv": list_rv, "items": items, "expired": False}
                    tid = uuid.uuid4().hex
                    self.tokens[tid] = snap
                else:
                    tid = next((t for t, s in self.tokens.items() if s is snap), None)
                startkey = _skey(last) + "\x00"
                token = self._token(list_rv if tid else -1, startkey, tid)
                if not lsel and not fsel and not ns:
                    remaining = len(items) - j
            return out, list_rv, token, remaining

    def expire_continues(self, older_than=None):
        with self.cond:
            n = 0
            for s in self.tokens.values():
                if not s["expired"] and (older_than is None or s["rv"] < older_than):
                    s["expired"] = True
                    n += 1
            return n

    def compact(self):
        with self.cond:
            now = self.rv
            self.hist = collections.defaultdict(list)
            self.floors = collections.defaultdict(lambda: now)
            self.expire_continues(self.rv)
            self.cond.notify_all()
            return self.rv

    # ---- watch support (callers hold self.cond) ----

    def events_after(self, res, after):
        """Events of res after RV `after`; None when history no longer reaches back there."""
        if after < self.floors[res]:
            return None
        h = self.hist[res]
        return h[bisect.bisect_right(h, after, key=lambda e: e.rv):]

    # ---- writes ----

    def _commit(self, kind, etype, new, prev, dry=False):
        if dry:
            return new
        self.rv += 1
        key = key_of(new)
        if etype == "DELETED":
            new = dict(new, metadata=dict(new["metadata"], resourceVersion=str(self.rv)))
            self.objs[kind.store_res].pop(key, None)
            self.uids.pop(new["metadata"].get("uid"), None)
        else:
            new["metadata"]["resourceVersion"] = str(self.rv)
            self.objs[kind.store_res][key] = new
            self.uids[new["metadata"]["uid"]] = (kind.store_res, key)
        for ref in ((prev or {}).get("metadata") or {}).get("ownerReferences") or []:
            self.dependents[ref.get("uid")].discard((kind.store_res, key))
        if etype != "DELETED":
            for ref in new["metadata"].get("ownerReferences") or []:
                self.dependents[ref.get("uid")].add((kind.store_res, key))
        h = self.hist[kind.store_res]
        h.append(Event(self.rv, etype, kind.store_res, new, prev))
        if len(h) > self.hist_max:
            # Bounded history: a watch from before the dropped events is "too old".
            drop = len(h) - self.hist_max
            self.floors[kind.store_res] = h[drop - 1].rv
            del h[:drop]
        self.cond.notify_all()
        for hook in self.hooks:
            hook(kind, etype, new, prev)
        return new

    def _incoming(self, kind, version, ns, body, url_name=None):
        if not isinstance(body, dict):
            raise bad_request("the body of the request was in an unknown format")
        obj = clone(body)
        want_gv = kind.gv(version)
        if not kind.builtin:
            if not obj.get("apiVersion"):
                raise bad_request("Object 'apiVersion' is missing in '" + json.dumps(body)[:200] + "'")
            if not obj.get("kind"):
                raise bad_request("Object 'Kind' is missing in '" + json.dumps(body)[:200] + "'")
        if obj.get("apiVersion", want_gv) != want_gv:
            raise bad_request(f"the API version in the data ({obj['apiVersion']}) does not match the expected "
                              f"API version ({want_gv})")
        if obj.get("kind", kind.kind) != kind.kind:
            raise bad_request(f"the kind in the data ({obj['kind']}) does not match the expected kind ({kind.kind})")
        meta = obj.get("metadata")
        if meta is None:
            meta = obj["metadata"] = {}
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        if kind.namespaced:
            if meta.get("namespace") and meta["namespace"] != ns:
                raise bad_request("the namespace of the provided object does not match the namespace sent on "
                                  "the request")
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        if url_name is not None:
            if meta.get("name") and meta["name"] != url_name:
                raise bad_request(f"the name of the object ({meta['name']}) does not match the name on the URL "
                                  f"({url_name})")
            meta["name"] = url_name
        obj["apiVersion"], obj["kind"] = kind.gv(kind.storage), kind.kind
        if kind.view_of:
            obj = kind.from_view(obj)
            obj["apiVersion"] = "/".join(kind.view_of[:1]) + "/v1"
        return obj

    def _check_name(self, kind, name):
        if kind.group == "rbac.authorization.k8s.io":
            ok = name not in (".", "..") and "/" not in name and "%" not in name
            rule = "may not contain '/' or '%'"
        elif kind.kind == "Namespace":
            ok, rule = len(name) <= 63 and _LABEL.match(name), "a lowercase RFC 1123 label must consist of lower " \
                "case alphanumeric characters or '-', and must start and end with an alphanumeric character"
        elif kind.kind == "Service":
            ok, rule = len(name) <= 63 and _LABEL1035.match(name), "a DNS-1035 label must consist of lower case " \
                "alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character"
        else:
            ok, rule = len(name) <= 253 and _SUBDOMAIN.match(name), "a lowercase RFC 1123 subdomain must consist " \
                "of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
        if not ok:
            raise invalid(kind, name, "metadata.name", rule, json.dumps(name))

    def _normalize(self, kind, version, obj, validation, warnings):
        if kind.builtin:
            self._builtin_defaults(kind, obj)
            return
        unknown = normalize(kind.schemas.get(version) or {}, obj)
        if unknown and validation == "Strict":
            raise bad_request("strict decoding error: " + ", ".join(f"unknown field \"{u}\"" for u in unknown))
        if unknown and validation != "Ignore":
            warnings.extend(f"unknown field \"{u}\"" for u in unknown)

    def _builtin_defaults(self, kind, obj, old=None):
        spec = obj.get("spec")
        if kind.kind == "Service":
            spec = obj.setdefault("spec", {})
            spec.setdefault("type", "ClusterIP")
            spec.setdefault("sessionAffinity", "None")
            for p in spec.get("ports") or []:
                p.setdefault("protocol", "TCP")
                p.setdefault("targetPort", p.get("port"))
            if spec["type"] != "ExternalName":
                spec.setdefault("internalTrafficPolicy", "Cluster")
            if spec["type"] in ("NodePort", "LoadBalancer"):
                spec.setdefault("externalTrafficPolicy", "Cluster")
            if spec["type"] == "LoadBalancer":
                spec.setdefault("allocateLoadBalancerNodePorts", True)
        elif kind.kind == "Secret":
            obj.setdefault("type", "Opaque")
            sd = obj.pop("stringData", None)
            if sd:
                data = obj.setdefault("data", {}) or {}
                for k, v in sd.items():
                    data[k] = base64.b64encode(str(v).encode()).decode()
                obj["data"] = data
        elif kind.kind == "Lease" and isinstance(spec, dict):
            for k in ("acquireTime", "renewTime"):
                if spec.get(k) is not None:
                    spec[k] = _micro_time(spec[k])
        elif kind.kind == "Event":
            if obj.get("eventTime") is not None:
                obj["eventTime"] = _micro_time(obj["eventTime"])
            if isinstance(obj.get("series"), dict) and obj["series"].get("lastObservedTime") is not None:
                obj["series"]["lastObservedTime"] = _micro_time(obj["series"]["lastObservedTime"])
        elif kind.kind == "Deployment" and isinstance(spec, dict):
            spec.setdefault("replicas", 1)
        elif kind.kind == "Namespace":
            obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
            obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]

    def _allocate(self, kind, obj, old):
        """Service cluster IPs and node ports: kept from the old object when the new one does
        not state them (the server's patchAllocatedValues), dropped when the type no longer
        needs them."""
        if kind.kind != "Service":
            return
        spec, ospec = obj["spec"], (old or {}).get("spec") or {}
        if spec["type"] == "ExternalName":
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
        else:
            if not spec.get("clusterIP") and ospec.get("clusterIP"):
                spec["clusterIP"] = ospec["clusterIP"]
            if not spec.get("clusterIP"):
                spec["clusterIP"] = str(self.next_ip)
                self.next_ip += 1
            spec["clusterIPs"] = [spec["clusterIP"]]
            if spec["clusterIP"] != "None":
                spec.setdefault("ipFamilies", ["IPv4"])
                spec.setdefault("ipFamilyPolicy", "SingleStack")
        old_ports = {(p.get("port"), p.get("protocol")): p.get("nodePort") for p in ospec.get("ports") or []}
        for p in spec.get("ports") or []:
            if spec["type"] in ("NodePort", "LoadBalancer") and spec.get("allocateLoadBalancerNodePorts", True):
                if not p.get("nodePort"):
                    p["nodePort"] = old_ports.get((p.get("port"), p.get("protocol"))) or self._node_port()
            elif spec["type"] not in ("NodePort", "LoadBalancer"):
                p.pop("nodePort", None)
        if spec["type"] not in ("NodePort", "LoadBalancer"):
            spec.pop("externalTrafficPolicy", None)
        if spec["type"] != "LoadBalancer":
            spec.pop("allocateLoadBalancerNodePorts", None)

    def _node_port(self):
        for p in range(30000, 32768):
            if p not in self.node_ports:
                self.node_ports.add(p)
                return p
        raise ApiError(422, "Invalid", "spec.ports[0].nodePort: Invalid value: range is full")

    def _namespace_ok(self, kind, ns, name):
        if not kind.namespaced:
            return
        nsobj = self.objs[("", "namespaces")].get(("", ns))
        if nsobj is None:
            raise ApiError(404, "NotFound", f"namespaces \"{ns}\" not found",
                           {"name": ns, "kind": "namespaces"})
        if nsobj["metadata"].get("deletionTimestamp"):
            raise ApiError(403, "Forbidden", f"{kind.qualified()} \"{name}\" is forbidden: unable to create new "
                           f"content in namespace {ns} because it is being terminated",
                           _details(kind, name))

    def _managed(self, kind, version, cur, new, manager, op, sub, applied=None, force=False):
        lists = kind.lists(version)
        entries = []
        for e in (cur or {}).get("metadata", {}).get("managedFields") or []:
            entries.append(dict(e, _paths=fp.from_fields_v1(e.get("fieldsV1") or {})))
        me = next((e for e in entries if e.get("manager") == manager and e.get("operation") == op
                   and e.get("subresource", "") == (sub or "")), None)
        if me is None:
            me = {"manager": manager, "operation": op, "_paths": set()}
            if sub:
                me["subresource"] = sub
            entries.append(me)
        if op == "Apply":
            taken = set(applied)
            me["_paths"] = set(applied)
        else:
            taken = fp.changed_paths(cur, new, lists)
            if sub == "status":
                taken = {p for p in taken if p[:1] == ("f:status",)}
            me["_paths"] |= taken
        if op != "Apply" or force:
            for e in entries:
                if e is not me:
                    e["_paths"] -= taken
        me["time"], me["apiVersion"], me["fieldsType"] = now_iso(), kind.gv(version), "FieldsV1"
        out = []
        for e in entries:
            if e["_paths"]:
                e["fieldsV1"] = fp.to_fields_v1(e.pop("_paths"))
                out.append(e)
        new["metadata"]["managedFields"] = out

    def owned_by_others(self, kind, cur, manager, sub):
        mine, others = set(), set()
        for e in (cur or {}).get("metadata", {}).get("managedFields") or []:
            paths = fp.from_fields_v1(e.get("fieldsV1") or {})
            if e.get("manager") == manager and e.get("operation") == "Apply" and e.get("subresource", "") == (sub or ""):
                mine |= paths
            else:
                others |= paths
        return mine, others

    def create(self, kind, version, ns, body, opts, prepared=False):
        """prepared: body already went through _incoming (server-side apply's create)."""
        with self.cond:
            obj = clone(body) if prepared else self._incoming(kind, version, ns, body)
            meta = obj["metadata"]
            if not meta.get("name"):
                if meta.get("generateName"):
                    meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
                else:
                    raise invalid(kind, "", "metadata.name", "Required value: name or generateName is required")
            name = meta["name"]
            self._check_name(kind, name)
            self._namespace_ok(kind, ns, name)
            if self.get(kind, ns, name) is not None:
                raise ApiError(409, "AlreadyExists", f"{kind.qualified()} \"{name}\" already exists",
                               _details(kind, name))
            for k in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields"):
                meta.pop(k, None)
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_iso()
            if kind.generation:
                meta["generation"] = 1
            else:
                meta.pop("generation", None)
            if kind.status:
                obj.pop("status", None)
            warnings = opts.setdefault("warnings", [])
            self._normalize(kind, version, obj, opts.get("validation"), warnings)
            self._allocate(kind, obj, None)
            if kind.kind == "Service":
                obj["status"] = {"loadBalancer": {}}
            elif kind.kind == "Namespace":
                obj["status"] = {"phase": "Active"}
            elif kind.kind == "Pod":
                obj.setdefault("status", {}).setdefault("phase", "Pending")
            elif kind.kind == "CustomResourceDefinition":
                self._crd_status(obj)
            if opts.get("manager"):
                if opts.get("applied") is not None:
                    self._managed(kind, version, None, obj, opts["manager"], "Apply", None, opts["applied"])
                else:
                    self._managed(kind, version, None, obj, opts["manager"], "Update", None)
            if kind.kind == "CustomResourceDefinition" and not opts.get("dry"):
                if self.reg.add_crd(obj) is None:
                    raise invalid(kind, name, "spec", "the fake cannot serve this definition")
            return self._commit(kind, "ADDED", obj, None, opts.get("dry"))

    @staticmethod
    def _crd_status(obj):
        t = now_iso()
        names = (obj.get("spec") or {}).get("names") or {}
        storage = [v["name"] for v in (obj.get("spec") or {}).get("versions") or [] if v.get("storage")]
        obj["status"] = {
            "acceptedNames": names, "storedVersions": storage,
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                 "message": "no conflicts found", "lastTransitionTime": t},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                 "message": "the initial names have been accepted", "lastTransitionTime": t}]}

    def update(self, kind, version, ns, name, body, opts, sub=None):
        with self.cond:
            cur = self.get(kind, ns, name)
            if cur is None:
                raise not_found(kind, name)
            new = self._incoming(kind, version, ns, body, name)
            want = new["metadata"].get("resourceVersion")
            if not want:
                if not kind.builtin:
                    raise invalid(kind, name, "metadata.resourceVersion", "must be specified for an update", "0x0")
            elif want != cur["metadata"]["resourceVersion"]:
                raise conflict(kind, name)
            return self._write(kind, version, cur, new, sub, opts)

    def _write(self, kind, version, cur, new, sub, opts, op="Update", applied=None):
        """Turns a client's whole-object body into the next stored object and commits it.
        Returns the stored object (cur itself when nothing changed)."""
        if sub == "status":
            result = clone(cur)
            if "status" in new:
                result["status"] = new["status"]
            else:
                result.pop("status", None)
        else:
            result = new
            if kind.status:
                if "status" in cur:
                    result["status"] = clone(cur["status"])
                else:
                    result.pop("status", None)
            meta, ometa = result["metadata"], cur["metadata"]
            for k in ("name", "namespace", "uid", "creationTimestamp", "generation", "deletionTimestamp",
                      "deletionGracePeriodSeconds"):
                if k in ometa:
                    meta[k] = ometa[k]
                else:
                    meta.pop(k, None)
            if ometa.get("deletionTimestamp"):
                added = set(meta.get("finalizers") or []) - set(ometa.get("finalizers") or [])
                if added:
                    raise invalid(kind, ometa["name"], "metadata.finalizers",
                                  "Forbidden: no new finalizers can be added if the object is being deleted, "
                                  f"found new finalizers {sorted(added)}")
        result["apiVersion"], result["kind"] = cur["apiVersion"], kind.kind
        result["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
        warnings = opts.setdefault("warnings", [])
        self._normalize(kind, version, result, opts.get("validation"), warnings)
        self._allocate(kind, result, cur)
        if kind.generation:
            skip = ("metadata", "status") if kind.status else ("metadata",)
            a = {k: v for k, v in cur.items() if k not in skip}
            b = {k: v for k, v in result.items() if k not in skip}
            if a != b:
                result["metadata"]["generation"] = cur["metadata"].get("generation", 1) + 1
        manager = opts.get("manager") or "unknown"
        self._managed(kind, version, cur, result, manager, op, sub, applied, opts.get("force"))
        if _same(result, cur, with_fields=op == "Apply"):
            return cur
        if kind.kind == "CustomResourceDefinition" and not opts.get("dry"):
            self.reg.add_crd(result)
        if result["metadata"].get("deletionTimestamp") and not result["metadata"].get("finalizers") and \
                kind.kind != "Namespace":
            if opts.get("dry"):
                return result
            self._commit(kind, "MODIFIED", result, cur)
            return self._remove(kind, self.get(kind, *key_of(result)), "Background")
        return self._commit(kind, "MODIFIED", result, cur, opts.get("dry"))

    def patch(self, kind, version, ns, name, ptype, raw, opts, sub=None):
        """Returns (object, created)."""
        with self.cond:
            cur = self.get(kind, ns, name)
            if ptype == "apply":
                try:
                    applied = yaml.safe_load(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
                except (yaml.YAMLError, UnicodeDecodeError) as e:
                    raise bad_request(f"error decoding YAML: {e}")
                if not isinstance(applied, dict):
                    raise bad_request("the body of the request was in an unknown format - accepted media types "
                                      "include: application/apply-patch+yaml")
                if not applied.get("apiVersion"):
                    raise bad_request("Object 'apiVersion' is missing")
                if not applied.get("kind"):
                    raise bad_request("Object 'Kind' is missing")
                # Everything below is in the storage form (a core/v1 Event is turned into an
                # events.k8s.io one here), so field sets compare across requests.
                applied = self._incoming(kind, version, ns, applied, name)
                lists = kind.lists(version)
                if cur is None:
                    if sub == "status":
                        raise not_found(kind, name)
                    now = _scope(kind, set(fp.owned_paths(applied, lists)), None)
                    return self.create(kind, version, ns, applied, dict(opts, applied=now), prepared=True), True
                want = applied["metadata"].get("resourceVersion")
                if want and want != cur["metadata"]["resourceVersion"]:
                    raise conflict(kind, name)
                mine, others = self.owned_by_others(kind, cur, opts.get("manager"), sub)
                new, now = fp.server_side_apply(clone(cur), applied, lists, mine, others)
                now = _scope(kind, now, sub)
                new["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
                return self._write(kind, version, cur, new, sub, opts, "Apply", now), False
            if cur is None:
                raise not_found(kind, name)
            base = self.present(kind, cur, version)
            try:
                doc = json.loads(raw or b"null")
            except ValueError as e:
                raise bad_request(f"error decoding patch: {e}")
            try:
                if ptype == "merge":
                    if not isinstance(doc, dict):
                        raise bad_request("json: cannot unmarshal into a JSON object: the patch is not an object")
                    result = fp.merge_patch(base, doc)
                elif ptype == "json":
                    result = fp.json_patch(base, doc)
                else:
                    if not isinstance(doc, dict):
                        raise bad_request("the strategic merge patch is not a JSON object")
                    result = fp.strategic_merge(base, doc, kind.smp_keys())
            except fp.PatchError as e:
                if e.code == 400:
                    raise bad_request(e.message)
                raise ApiError(e.code, "Invalid" if e.code == 422 else "BadRequest", e.message)
            if not isinstance(result, dict) or not isinstance(result.get("metadata"), dict):
                raise bad_request("the patch produced an object without metadata")
            got = result["metadata"].get("resourceVersion")
            if got and got != cur["metadata"]["resourceVersion"]:
                raise conflict(kind, name)
            new = self._incoming(kind, version, ns, result, name)
            return self._write(kind, version, cur, new, sub, opts), False

    def delete(self, kind, version, ns, name, options, opts):
        """Returns (object, removed): removed is False while finalizers hold the object."""
        with self.cond:
            cur = self.get(kind, ns, name)
            if cur is None:
                raise not_found(kind, name)
            pre = (options or {}).get("preconditions") or {}
            m = cur["metadata"]
            if pre.get("uid") and pre["uid"] != m["uid"]:
                raise conflict(kind, name, f"Precondition failed: UID in precondition: {pre['uid']}, UID in object "
                                           f"meta: {m['uid']}")
            if pre.get("resourceVersion") and pre["resourceVersion"] != m["resourceVersion"]:
                raise conflict(kind, name, f"Precondition failed: ResourceVersion in precondition: "
                                           f"{pre['resourceVersion']}, ResourceVersion in object meta: "
                                           f"{m['resourceVersion']}")
            policy = (options or {}).get("propagationPolicy") or "Background"
            if policy not in ("Background", "Foreground", "Orphan"):
                raise ApiError(422, "Invalid", f"DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: "
                                              f"Unsupported value: \"{policy}\"")
            if opts.get("dry"):
                return cur, not m.get("finalizers")
            if m.get("finalizers") or kind.kind == "Namespace":
                if m.get("deletionTimestamp"):
                    return cur, False
                new = clone(cur)
                new["metadata"]["deletionTimestamp"] = now_iso()
                new["metadata"]["deletionGracePeriodSeconds"] = 0
                if kind.generation:
                    new["metadata"]["generation"] = m.get("generation", 1) + 1
                if kind.kind == "Namespace":
                    new.setdefault("status", {})["phase"] = "Terminating"
                cur = self._commit(kind, "MODIFIED", new, cur)
                if kind.kind == "Namespace":
                    # The namespace controller empties it a moment later, as in a cluster:
                    # `kubectl delete -k` deletes the Namespace first and its objects after.
                    t = threading.Timer(self.namespace_delay, self._drain_namespace, (name,))
                    t.daemon = True
                    t.start()
                return cur, False
            return self._remove(kind, cur, policy), True

    def _remove(self, kind, cur, policy):
        gone = self._commit(kind, "DELETED", cur, cur)
        if kind.kind == "CustomResourceDefinition":
            res = ((cur.get("spec") or {}).get("group"), ((cur.get("spec") or {}).get("names") or {}).get("plural"))
            ckind = self.reg.kinds.get(res)
            if ckind is not None and not ckind.builtin:
                for obj in list(self.objs[res].values()):
                    self._commit(ckind, "DELETED", obj, obj)
                self.reg.remove_crd(cur)
        if kind.kind == "Service":
            for p in (cur.get("spec") or {}).get("ports") or []:
                self.node_ports.discard(p.get("nodePort"))
        self._collect(cur["metadata"]["uid"], policy)
        ns = cur["metadata"].get("namespace")
        if ns:
            nsobj = self.objs[("", "namespaces")].get(("", ns))
            if nsobj is not None and nsobj["metadata"].get("deletionTimestamp"):
                self._finish_namespace(ns)
        return gone

    def _collect(self, uid, policy):
        """The garbage collector, synchronously: dependents whose owners are all gone are
        deleted (Background and Foreground alike); Orphan strips the owner reference."""
        for res, key in sorted(self.dependents.pop(uid, set())):
            kind = self.kind_of(res)
            obj = self.objs[res].get(key)
            if kind is None or obj is None:
                continue
            refs = obj["metadata"].get("ownerReferences") or []
            if policy == "Orphan":
                new = clone(obj)
                new["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != uid]
                if not new["metadata"]["ownerReferences"]:
                    del new["metadata"]["ownerReferences"]
                self._commit(kind, "MODIFIED", new, obj)
            elif not any(r.get("uid") in self.uids for r in refs):
                try:
                    self.delete(kind, kind.storage, key[0], key[1], {"propagationPolicy": "Background"}, {})
                except ApiError:
                    pass

    def _drain_namespace(self, ns):
        with self.cond:
            nsobj = self.objs[("", "namespaces")].get(("", ns))
            if nsobj is not None and nsobj["metadata"].get("deletionTimestamp"):
                self._empty_namespace(ns)

    def _empty_namespace(self, ns):
        for res in list(self.objs):
            kind = self.kind_of(res)
            if kind is None or not kind.namespaced:
                continue
            for key in [k for k in self.objs[res] if k[0] == ns]:
                try:
                    self.delete(kind, kind.storage, ns, key[1], {"propagationPolicy": "Background"}, {})
                except ApiError:
                    pass
        self._finish_namespace(ns)

    def _finish_namespace(self, ns):
        for res, objs in self.objs.items():
            kind = self.kind_of(res)
            if kind is not None and kind.namespaced and any(k[0] == ns for k in objs):
                return
        nsobj = self.objs[("", "namespaces")].get(("", ns))
        if nsobj is not None:
            self._remove(self.kind_of(("", "namespaces")), nsobj, "Background")

    def delete_collection(self, kind, version, ns, lsel, fsel, options, opts):
        with self.cond:
            items, _, _, _ = self.list(kind, ns, lsel, fsel)
            out = []
            for obj in items:
                try:
                    gone, _ = self.delete(kind, version, *key_of(obj), options, opts)
                    out.append(gone)
                except ApiError:
                    pass
            return out

    # ---- internal writers (controllers of the fake) ----

    def write_status(self, kind, obj, status, manager):
        with self.cond:
            cur = self.get(kind, *key_of(obj))
            if cur is None:
                return None
            return self._write(kind, kind.storage, cur, {"metadata": {}, "status": status}, "status",
                               {"manager": manager})

    def seed(self, kind, body):
        """Creates an object at start-up (namespaces, CRDs, RBAC files)."""
        ns = (body.get("metadata") or {}).get("namespace") or ("default" if kind.namespaced else "")
        with self.cond:
            if kind.namespaced and self.objs[("", "namespaces")].get(("", ns)) is None:
                self.create(self.kind_of(("", "namespaces")), "v1", "",
                            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}, {})
            return self.create(kind, body.get("apiVersion", "").split("/")[-1] or kind.storage, ns, body, {})


def _micro_time(v):
    """MicroTime as the server writes it back: RFC 3339 in UTC with exactly 6 fractional digits."""
    try:
        t = datetime.datetime.fromisoformat(str(v).replace("Z", "+00:00"))
        if t.tzinfo is None:
            raise ValueError("no time zone")
    except ValueError:
        raise bad_request(f"parsing time \"{v}\" as \"2006-01-02T15:04:05.000000Z07:00\": cannot parse") from None
    return t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _sorted(objs):
    """Items in etcd key order (namespace/name as one string)."""
    return sorted(objs.items(), key=lambda kv: _skey(kv[0]))


def _same(a, b, with_fields):
    """Equal but for managedFields (and, with with_fields, equal managedFields but for times)."""
    def strip(o):
        meta = {k: v for k, v in o["metadata"].items() if k != "managedFields"}
        if with_fields:
            meta["managedFields"] = [{k: v for k, v in e.items() if k != "time"}
                                     for e in o["metadata"].get("managedFields") or []]
        return {**o, "metadata": meta}
    return strip(a) == strip(b)


def _skey(key):
    return f"{key[0]}/{key[1]}" if key[0] else key[1]


def _scope(kind, paths, sub):
    """The applied fields a request can own: status only through /status, never through the
    main resource of a kind with the subresource."""
    if sub == "status":
        return {p for p in paths if p[:1] == ("f:status",)}
    if kind.status:
        return {p for p in paths if p[:1] != ("f:status",)}
    return paths


def _parse_rv(rv):
    if rv in (None, "", "0"):
        return 0
    try:
        v = int(rv)
        if v < 0:
            raise ValueError
        return v
    except ValueError:
        raise bad_request(f"invalid resource version: {rv!r}") from None


parse_rv = _parse_rv
