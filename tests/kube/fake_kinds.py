"""The kinds the fake serves: a table of built-in kinds plus every CustomResourceDefinition,
and what is derived from them: discovery documents, OpenAPI v3 documents, CRD defaulting
and pruning, list and merge keys.

Discovery follows the unaggregated forms (APIVersions, APIGroupList, APIGroup,
APIResourceList); OpenAPI v3 follows what kube-apiserver publishes at /openapi/v3 (an index
of group-versions, then one document per group-version whose operations carry
x-kubernetes-group-version-kind and list the fieldValidation parameter on PATCH).
"""
import copy
import hashlib
import json
import re

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]

# Strategic-merge keys of the built-in kinds (patchMergeKey / patchStrategy tags of
# k8s.io/api), keyed by field path with list items transparent. "" = a primitive list merged
# as a set. "?protocol" takes part only when the patch states it: the server's tag is "port"
# alone, which merges a TCP and a UDP port of the same number into one. "replace": the field
# is replaced whole (patchStrategy "replace").
_POD_SPEC = {
    ("containers",): ("name",), ("initContainers",): ("name",), ("ephemeralContainers",): ("name",),
    ("containers", "ports"): ("containerPort",), ("initContainers", "ports"): ("containerPort",),
    ("containers", "env"): ("name",), ("initContainers", "env"): ("name",),
    ("containers", "volumeMounts"): ("mountPath",), ("initContainers", "volumeMounts"): ("mountPath",),
    ("volumes",): ("name",), ("imagePullSecrets",): ("name",), ("hostAliases",): ("ip",),
}
_META = {("metadata", "finalizers"): ("",), ("metadata", "ownerReferences"): ("uid",)}


def _prefixed(prefix, table):
    return {prefix + k: v for k, v in table.items()}


SMP_KEYS = {
    "Service": {("spec", "ports"): ("port", "?protocol"), ("status", "conditions"): ("type",)},
    "Pod": {**_prefixed(("spec",), _POD_SPEC), ("status", "conditions"): ("type",)},
    "Deployment": {**_prefixed(("spec", "template", "spec"), _POD_SPEC), ("status", "conditions"): ("type",)},
    "Namespace": {("spec", "finalizers"): ("",), ("status", "conditions"): ("type",)},
    "PodDisruptionBudget": {("spec", "selector"): "replace", ("status", "conditions"): ("type",)},
    "ServiceAccount": {("secrets",): ("name",), ("imagePullSecrets",): ("name",)},
}

# Server-side apply list types of the built-in kinds (+listType / +listMapKey markers).
SSA_LISTS = {
    "Service": {("spec", "ports"): ("map", ("port", "protocol")), ("status", "conditions"): ("map", ("type",)),
                ("spec", "clusterIPs"): None, ("spec", "ipFamilies"): None},
    "Pod": {**{("spec",) + k: ("map", v) for k, v in _POD_SPEC.items()}, ("status", "conditions"): ("map", ("type",))},
    "Deployment": {**{("spec", "template", "spec") + k: ("map", v) for k, v in _POD_SPEC.items()},
                   ("status", "conditions"): ("map", ("type",))},
    "EndpointSlice": {},
}

# group, version, kind, plural, namespaced, shortNames, status subresource, generation rule,
# extra field selectors. Generation: "spec" moves on any change but metadata and status,
# "all" on any change but metadata, None = the kind has no generation.
BUILTIN = [
    ("", "v1", "Namespace", "namespaces", False, ["ns"], True, None, ["status.phase"]),
    ("", "v1", "Service", "services", True, ["svc"], True, None, ["spec.clusterIP", "spec.type"]),
    ("", "v1", "Secret", "secrets", True, [], False, None, ["type"]),
    ("", "v1", "ConfigMap", "configmaps", True, ["cm"], False, None, []),
    ("", "v1", "Pod", "pods", True, ["po"], True, None,
     ["spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
      "status.phase", "status.podIP", "status.nominatedNodeName"]),
    ("", "v1", "ServiceAccount", "serviceaccounts", True, ["sa"], False, None, []),
    ("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True, [], False, "all", ["addressType"]),
    ("events.k8s.io", "v1", "Event", "events", True, ["ev"], False, None,
     ["reason", "reportingController", "type", "regarding.kind", "regarding.name", "regarding.namespace",
      "regarding.uid"]),
    # core/v1 Events are another view of the same objects (kubectl describe reads these).
    ("", "v1", "Event", "events", True, ["ev"], False, None,
     ["involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
      "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
      "reportingComponent", "source", "type"]),
    ("coordination.k8s.io", "v1", "Lease", "leases", True, [], False, None, []),
    ("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False, [], False, None, []),
    ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False, [], False, None, []),
    ("rbac.authorization.k8s.io", "v1", "Role", "roles", True, [], False, None, []),
    ("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True, [], False, None, []),
    ("apps", "v1", "Deployment", "deployments", True, ["deploy"], True, "spec", []),
    ("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True, ["pdb"], True, "spec", []),
    ("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False,
     ["crd", "crds"], True, "spec", []),
]


_EVENT_FIELDS = [("regarding", "involvedObject"), ("note", "message"), ("reportingController", "reportingComponent"),
                 ("deprecatedSource", "source"), ("deprecatedFirstTimestamp", "firstTimestamp"),
                 ("deprecatedLastTimestamp", "lastTimestamp"), ("deprecatedCount", "count")]


def version_priority(v):
    """Kubernetes version order: GA before beta before alpha, higher numbers first."""
    m = re.match(r"^v(\d+)(?:(alpha|beta)(\d+))?$", v)
    if not m:
        return (3, 0, 0, v)
    stage = {None: 0, "beta": 1, "alpha": 2}[m.group(2)]
    return (stage, -int(m.group(1)), -int(m.group(3) or 0), v)


class Kind:
    def __init__(self, group, versions, kind, plural, namespaced, short_names=(), status=False,
                 generation=None, fields=(), builtin=True, singular=None, categories=(), schemas=None,
                 storage=None, crd=None):
        self.group = group
        self.versions = sorted(versions, key=version_priority)   # served, preferred first
        self.kind = kind
        self.plural = plural
        self.singular = singular or kind.lower()
        self.namespaced = namespaced
        self.short_names = list(short_names)
        self.categories = list(categories)
        self.status = status
        self.generation = generation
        self.fields = ["metadata.name", "metadata.namespace"] + list(fields)
        self.builtin = builtin
        self.schemas = schemas or {}
        self.storage = storage or self.versions[0]
        self.crd = crd                     # the CRD's name for custom kinds
        self.view_of = None                # another kind whose objects this one shows
        self._lists = {}

    @property
    def res(self):
        return (self.group, self.plural)

    @property
    def store_res(self):
        """Where the objects live: core/v1 Events are events.k8s.io/v1 Events."""
        return self.view_of or self.res

    def to_view(self, obj):
        """A stored object as this kind shows it (the events.k8s.io -> core/v1 field names of
        k8s.io/kubernetes pkg/apis/events/v1 conversion)."""
        if not self.view_of:
            return obj
        out = {k: v for k, v in obj.items() if k not in dict(_EVENT_FIELDS)}
        for new, old in _EVENT_FIELDS:
            if new in obj:
                out[old] = obj[new]
        return out

    def from_view(self, obj):
        if not self.view_of:
            return obj
        out = {k: v for k, v in obj.items() if k not in dict((o, n) for n, o in _EVENT_FIELDS)}
        for new, old in _EVENT_FIELDS:
            if old in obj:
                out[new] = obj[old]
        return out

    def gv(self, version):
        return f"{self.group}/{version}" if self.group else version

    def qualified(self):
        """The name Status messages use: "httproutes.gateway.networking.k8s.io"."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def smp_keys(self):
        return {**_META, **SMP_KEYS.get(self.kind, {})} if self.builtin else {}

    def lists(self, version):
        """lists(path) callback for fake_patch: list types from the schema (custom kinds) or
        from the table of built-in markers."""
        if version in self._lists:
            return self._lists[version]
        if self.builtin:
            table = dict(SSA_LISTS.get(self.kind, {}))
            table[("metadata", "finalizers")] = ("set",)
            table[("metadata", "ownerReferences")] = ("map", ("uid",))
            fn = table.get
        else:
            schema = self.schemas.get(version) or {}

            def fn(path, schema=schema):
                if path == ("metadata", "finalizers"):
                    return ("set",)
                if path == ("metadata", "ownerReferences"):
                    return ("map", ("uid",))
                s = schema_at(schema, path)
                if not s or s.get("type") != "array":
                    return None
                lt = s.get("x-kubernetes-list-type")
                if lt == "map":
                    return ("map", tuple(s.get("x-kubernetes-list-map-keys") or ()))
                if lt == "set":
                    return ("set",)
                return None
        self._lists[version] = fn
        return fn


def schema_at(schema, path):
    """The schema of a field path (list items transparent), or None."""
    cur = schema
    for name in path:
        if cur and cur.get("type") == "array":
            cur = cur.get("items")
        if not cur:
            return None
        props = cur.get("properties")
        if props and name in props:
            cur = props[name]
        elif isinstance(cur.get("additionalProperties"), dict):
            cur = cur["additionalProperties"]
        else:
            return None
    return cur


def normalize(schema, obj, prune=True):
    """Applies a structural schema's defaults and pruning to a custom object, in place.
    Returns the dotted paths of the unknown fields it found (pruned when prune is True).
    Root apiVersion, kind and metadata are the server's business, not the schema's."""
    unknown = []

    def walk(s, v, path):
        if not isinstance(s, dict):
            return v
        if isinstance(v, dict):
            props = s.get("properties") or {}
            addl = s.get("additionalProperties")
            keep_all = s.get("x-kubernetes-preserve-unknown-fields") or addl is True
            embedded = s.get("x-kubernetes-embedded-resource")
            for k in list(v.keys()):
                sub = f"{path}.{k}" if path else k
                if k in props:
                    if v[k] is None and not props[k].get("nullable"):
                        del v[k]
                        continue
                    v[k] = walk(props[k], v[k], sub)
                elif isinstance(addl, dict):
                    v[k] = walk(addl, v[k], sub)
                elif keep_all or (embedded and k in ("apiVersion", "kind", "metadata")):
                    continue
                else:
                    unknown.append(sub)
                    if prune:
                        del v[k]
            for k, ps in props.items():
                if k not in v and isinstance(ps, dict) and "default" in ps:
                    v[k] = walk(ps, copy.deepcopy(ps["default"]), f"{path}.{k}" if path else k)
            return v
        if isinstance(v, list) and isinstance(s.get("items"), dict):
            return [walk(s["items"], x, f"{path}[{i}]") for i, x in enumerate(v)]
        return v

    props = (schema or {}).get("properties") or {}
    for k in list(obj.keys()):
        if k in ("apiVersion", "kind", "metadata"):
            continue
        if k in props:
            if obj[k] is None and not props[k].get("nullable"):
                del obj[k]
                continue
            obj[k] = walk(props[k], obj[k], k)
        elif not (schema or {}).get("x-kubernetes-preserve-unknown-fields"):
            unknown.append(k)
            if prune:
                del obj[k]
    for k, ps in props.items():
        if k not in obj and k not in ("apiVersion", "kind", "metadata") and "default" in ps:
            obj[k] = walk(ps, copy.deepcopy(ps["default"]), k)
    return unknown


class Registry:
    """Every served kind, keyed by (group, plural). Changed by CRD writes (the store calls
    add_crd/remove_crd), so discovery and OpenAPI are built on demand and cached per serial."""

    def __init__(self):
        self.kinds = {}
        self.serial = 0
        self._cache = {}
        for g, v, k, p, ns, short, st, gen, fields in BUILTIN:
            self.kinds[(g, p)] = Kind(g, [v], k, p, ns, short, st, gen, fields)
        self.kinds[("", "events")].view_of = ("events.k8s.io", "events")

    def find(self, group, version, plural):
        k = self.kinds.get((group, plural))
        if k and version in k.versions:
            return k
        return None

    def by_kind(self, group, kind):
        for k in self.kinds.values():
            if k.group == group and k.kind == kind:
                return k
        return None

    @staticmethod
    def kind_from_crd(crd):
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        versions = [v for v in spec.get("versions") or [] if v.get("served")]
        if not versions or not names.get("plural") or not names.get("kind") or not spec.get("group"):
            return None
        storage = next((v["name"] for v in spec["versions"] if v.get("storage")), versions[0]["name"])
        schemas = {v["name"]: ((v.get("schema") or {}).get("openAPIV3Schema") or {}) for v in versions}
        status = any("status" in (v.get("subresources") or {}) for v in versions)
        fields = []
        for v in versions:
            for f in v.get("selectableFields") or []:
                fields.append(f.get("jsonPath", "").lstrip("."))
        return Kind(spec["group"], [v["name"] for v in versions], names["kind"], names["plural"],
                    spec.get("scope") == "Namespaced", names.get("shortNames") or [], status,
                    "spec" if status else "all", fields, builtin=False, singular=names.get("singular"),
                    categories=names.get("categories") or [], schemas=schemas, storage=storage,
                    crd=crd["metadata"]["name"])

    def add_crd(self, crd):
        kind = self.kind_from_crd(crd)
        if kind is None:
            return None
        old = self.kinds.get(kind.res)
        if old is not None and old.builtin:
            return None
        self.kinds[kind.res] = kind
        self.serial += 1
        return kind

    def remove_crd(self, crd):
        spec = crd.get("spec") or {}
        res = (spec.get("group"), (spec.get("names") or {}).get("plural"))
        if res in self.kinds and not self.kinds[res].builtin:
            del self.kinds[res]
            self.serial += 1

    # ---- discovery ----

    def groups(self):
        """{group: [versions, preferred first]} over all kinds, built-in groups first."""
        out = {}
        for k in self.kinds.values():
            vs = out.setdefault(k.group, [])
            for v in k.versions:
                if v not in vs:
                    vs.append(v)
        for g in out:
            out[g].sort(key=version_priority)
        return out

    def api_versions(self, server):
        return {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server}]}

    def group_doc(self, group, versions):
        vs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {"name": group, "versions": vs, "preferredVersion": vs[0]}

    def group_list(self):
        groups = self.groups()
        return {"kind": "APIGroupList", "apiVersion": "v1",
                "groups": [self.group_doc(g, vs) for g, vs in groups.items() if g]}

    def group(self, group):
        vs = self.groups().get(group)
        if not vs or not group:
            return None
        return dict(self.group_doc(group, vs), kind="APIGroup", apiVersion="v1")

    def resource_list(self, group, version):
        kinds = [k for k in self.kinds.values() if k.group == group and version in k.versions]
        if not kinds:
            return None
        res = []
        for k in sorted(kinds, key=lambda k: k.plural):
            entry = {"name": k.plural, "singularName": k.singular, "namespaced": k.namespaced,
                     "kind": k.kind, "verbs": VERBS}
            if k.short_names:
                entry["shortNames"] = k.short_names
            if k.categories:
                entry["categories"] = k.categories
            res.append(entry)
            if k.status:
                res.append({"name": f"{k.plural}/status", "singularName": "", "namespaced": k.namespaced,
                            "kind": k.kind, "verbs": ["get", "patch", "update"]})
        return {"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": f"{group}/{version}" if group else version, "resources": res}

    # ---- OpenAPI v3 ----

    def openapi_paths(self):
        key = ("index", self.serial)
        if key not in self._cache:
            paths = {}
            for g, vs in self.groups().items():
                for v in vs:
                    name = f"apis/{g}/{v}" if g else f"api/{v}"
                    doc = self.openapi_doc(g, v)
                    h = hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:128].upper()
                    paths[name] = {"serverRelativeURL": f"/openapi/v3/{name}?hash={h}"}
            self._cache = {k: v for k, v in self._cache.items() if k[1] == self.serial}
            self._cache[key] = {"paths": paths}
        return self._cache[key]

    def openapi_doc(self, group, version):
        key = (group, self.serial, version)
        if key in self._cache:
            return self._cache[key]
        kinds = [k for k in self.kinds.values() if k.group == group and version in k.versions]
        if not kinds:
            return None
        prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
        schemas = dict(_COMMON_SCHEMAS)
        paths = {}
        for k in sorted(kinds, key=lambda k: k.plural):
            sname = schema_name(k, version)
            gvk = {"group": k.group, "version": version, "kind": k.kind}
            if k.builtin:
                body = {"type": "object", "description": f"{k.kind} (the fake serves built-in kinds without their schema)",
                        "x-kubernetes-preserve-unknown-fields": True,
                        "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                                       "metadata": {"allOf": [{"$ref": _ref(_OBJECT_META)}], "default": {}}}}
            else:
                body = copy.deepcopy(k.schemas.get(version) or {"type": "object"})
                body.setdefault("properties", {})["metadata"] = {"allOf": [{"$ref": _ref(_OBJECT_META)}], "default": {}}
            body["x-kubernetes-group-version-kind"] = [gvk]
            schemas[sname] = body
            schemas[sname + "List"] = {
                "type": "object", "required": ["items"],
                "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                               "items": {"type": "array", "items": {"allOf": [{"$ref": _ref(sname)}], "default": {}}},
                               "metadata": {"allOf": [{"$ref": _ref(_LIST_META)}], "default": {}}},
                "x-kubernetes-group-version-kind": [dict(gvk, kind=k.kind + "List")]}
            coll = f"{prefix}/namespaces/{{namespace}}/{k.plural}" if k.namespaced else f"{prefix}/{k.plural}"
            params = [_param("namespace", "path", required=True)] if k.namespaced else []
            paths[coll] = {
                "get": _op("list", k, gvk, sname + "List", _LIST_PARAMS),
                "post": _op("post", k, gvk, sname, _WRITE_PARAMS, body=["application/json", "application/yaml"]),
                "delete": _op("deletecollection", k, gvk, _STATUS, _LIST_PARAMS),
                "parameters": params}
            item_params = params + [_param("name", "path", required=True)]
            patch_types = ["application/json-patch+json", "application/merge-patch+json",
                           "application/apply-patch+yaml"]
            paths[coll + "/{name}"] = {
                "get": _op("get", k, gvk, sname, []),
                "put": _op("put", k, gvk, sname, _WRITE_PARAMS, body=["application/json", "application/yaml"]),
                "patch": _op("patch", k, gvk, sname, _WRITE_PARAMS + [_param("force", schema="boolean")],
                             body=patch_types),
                "delete": _op("delete", k, gvk, _STATUS, [_param("dryRun"), _param("propagationPolicy")]),
                "parameters": item_params}
            if k.status:
                paths[coll + "/{name}/status"] = {
                    "get": _op("get", k, gvk, sname, []),
                    "put": _op("put", k, gvk, sname, _WRITE_PARAMS, body=["application/json"]),
                    "patch": _op("patch", k, gvk, sname, _WRITE_PARAMS + [_param("force", schema="boolean")],
                                 body=patch_types),
                    "parameters": item_params}
            if k.namespaced:
                paths[f"{prefix}/{k.plural}"] = {"get": _op("list", k, gvk, sname + "List", _LIST_PARAMS)}
        doc = {"openapi": "3.0.0", "info": {"title": "Kubernetes (torii fake API server)", "version": "v1.32.4"},
               "paths": paths, "components": {"schemas": schemas}}
        self._cache[key] = doc
        return doc


_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_LIST_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"
_STATUS = "io.k8s.apimachinery.pkg.apis.meta.v1.Status"


def _ref(name):
    return "#/components/schemas/" + name


_str = {"type": "string"}
_strmap = {"type": "object", "additionalProperties": {"type": "string", "default": ""}}
_COMMON_SCHEMAS = {
    _OBJECT_META: {"type": "object", "properties": {
        "name": _str, "generateName": _str, "namespace": _str, "uid": _str, "resourceVersion": _str,
        "generation": {"type": "integer", "format": "int64"}, "creationTimestamp": {"type": "string", "format": "date-time"},
        "deletionTimestamp": {"type": "string", "format": "date-time"},
        "deletionGracePeriodSeconds": {"type": "integer", "format": "int64"},
        "labels": _strmap, "annotations": _strmap,
        "finalizers": {"type": "array", "items": {"type": "string", "default": ""},
                       "x-kubernetes-list-type": "set", "x-kubernetes-patch-strategy": "merge"},
        "ownerReferences": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                            "x-kubernetes-patch-merge-key": "uid", "x-kubernetes-patch-strategy": "merge",
                            "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["uid"]},
        "managedFields": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
    }},
    _LIST_META: {"type": "object", "properties": {
        "continue": _str, "remainingItemCount": {"type": "integer", "format": "int64"},
        "resourceVersion": _str, "selfLink": _str}},
    _STATUS: {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
              "x-kubernetes-group-version-kind": [{"group": "", "kind": "Status", "version": "v1"}]},
}


def _param(name, where="query", required=False, schema="string"):
    p = {"name": name, "in": where, "schema": {"type": schema, "uniqueItems": True}}
    if required:
        p["required"] = True
    return p


_LIST_PARAMS = [_param(n) for n in ("labelSelector", "fieldSelector", "continue", "resourceVersion",
                                    "resourceVersionMatch")] + \
               [_param(n, schema="boolean") for n in ("watch", "allowWatchBookmarks", "sendInitialEvents")] + \
               [_param(n, schema="integer") for n in ("limit", "timeoutSeconds")]
_WRITE_PARAMS = [_param("dryRun"), _param("fieldManager"), _param("fieldValidation")]


def schema_name(kind, version):
    if kind.builtin:
        if kind.group == "apiextensions.k8s.io":
            return f"io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.{version}.{kind.kind}"
        short = kind.group.split(".")[0] if kind.group else "core"
        return f"io.k8s.api.{short}.{version}.{kind.kind}"
    return ".".join(reversed(kind.group.split("."))) + f".{version}.{kind.kind}"


def _op(action, kind, gvk, sname, params, body=None):
    op = {"operationId": f"{action}{kind.kind}", "tags": [kind.group or "core"],
          "x-kubernetes-action": action, "x-kubernetes-group-version-kind": gvk,
          "parameters": list(params),
          "responses": {"200": {"description": "OK", "content": {
              "application/json": {"schema": {"$ref": _ref(sname)}}}},
              "401": {"description": "Unauthorized"}}}
    if body:
        target = sname if action != "patch" else "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
        op["requestBody"] = {"content": {t: {"schema": {"$ref": _ref(target)}} for t in body}, "required": True}
    return op


_COMMON_SCHEMAS["io.k8s.apimachinery.pkg.apis.meta.v1.Patch"] = {"type": "object"}
