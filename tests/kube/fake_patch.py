"""The four PATCH bodies the API server accepts, plus the field sets of managedFields.

- merge patch: RFC 7386 (lists are replaced whole, null deletes).
- JSON patch: RFC 6902 (add, remove, replace, move, copy, test; JSON pointers of RFC 6901).
- strategic merge patch (built-in kinds only): maps merge, lists with a patch merge key merge
  by that key, lists of primitives with strategy "merge" become unions; the directives
  `$patch: replace|delete|merge`, `$setElementOrder/<list>`, `$deleteFromPrimitiveList/<list>`
  and `$retainKeys` (k8s.io/apimachinery strategicpatch, documented in
  community/contributors/devel/sig-api-machinery/strategic-merge-patch.md).
- server-side apply: the applied configuration merged into the live object, with list-map
  keys (`x-kubernetes-list-type: map` + `x-kubernetes-list-map-keys`), sets and atomic lists;
  fields the same manager applied before and no manager still owns are removed. There is no
  conflict detection: every apply behaves as if forced, but without taking fields away.

A `lists` callback describes list fields: lists(path) with path a tuple of field names (list
items are transparent) returns ("map", keys), ("set",) or None for atomic. For strategic merge,
`smp_keys` maps the same paths to a tuple of merge keys ("" for a primitive list merged as a
set); a key written "?k" only takes part in matching when the patch item carries k.
"""
import copy
import json


class PatchError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


# ---- RFC 7386 ----

def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


# ---- RFC 6902 ----

def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(422, f"JSON pointer \"{path}\" does not start with /")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc, parts, path):
    cur = doc
    for p in parts[:-1]:
        if isinstance(cur, dict) and p in cur:
            cur = cur[p]
        elif isinstance(cur, list) and p.isdigit() and int(p) < len(cur):
            cur = cur[int(p)]
        else:
            raise PatchError(422, f"doc is missing path: \"{path}\": missing value")
    return cur


def _get(doc, path):
    parts = _pointer(path)
    if not parts:
        return doc
    par = _parent(doc, parts, path)
    last = parts[-1]
    if isinstance(par, dict) and last in par:
        return par[last]
    if isinstance(par, list) and last.isdigit() and int(last) < len(par):
        return par[int(last)]
    raise PatchError(422, f"doc is missing path: \"{path}\": missing value")


def _add(doc, path, value):
    parts = _pointer(path)
    if not parts:
        return value
    par = _parent(doc, parts, path)
    last = parts[-1]
    if isinstance(par, dict):
        par[last] = value
    elif isinstance(par, list):
        if last == "-":
            par.append(value)
        elif last.isdigit() and int(last) <= len(par):
            par.insert(int(last), value)
        else:
            raise PatchError(422, f"add operation does not apply: index out of bounds: \"{path}\"")
    else:
        raise PatchError(422, f"add operation does not apply: doc is missing path: \"{path}\"")
    return doc


def _remove(doc, path, op="remove"):
    parts = _pointer(path)
    if not parts:
        raise PatchError(422, f"{op} operation does not apply: cannot remove the whole document")
    par = _parent(doc, parts, path)
    last = parts[-1]
    if isinstance(par, dict) and last in par:
        return par.pop(last)
    if isinstance(par, list) and last.isdigit() and int(last) < len(par):
        return par.pop(int(last))
    raise PatchError(422, f"{op} operation does not apply: doc is missing path: \"{path}\": missing value")


def json_patch(doc, ops):
    if not isinstance(ops, list):
        raise PatchError(400, "json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op:
            raise PatchError(400, "unexpected kind of operation")
        kind, path = op["op"], op.get("path")
        if path is None:
            raise PatchError(400, f"{kind} operation missing path")
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            _remove(doc, path, "replace") if _pointer(path) else None
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind in ("move", "copy"):
            src = op.get("from")
            if src is None:
                raise PatchError(400, f"{kind} operation missing from")
            value = _remove(doc, src, kind) if kind == "move" else copy.deepcopy(_get(doc, src))
            doc = _add(doc, path, value)
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise PatchError(422, f"testing value {path} failed: test failed")
        else:
            raise PatchError(400, f"Unexpected kind: {kind}")
    return doc


# ---- strategic merge patch ----

def _strip(v):
    """Drops directive keys from a value being added."""
    if isinstance(v, dict):
        return {k: _strip(x) for k, x in v.items() if not k.startswith("$")}
    if isinstance(v, list):
        return [_strip(x) for x in v]
    return v


def _smp_match(item, cand, keys):
    if not isinstance(cand, dict):
        return False
    for k in keys:
        if k.startswith("?"):
            k = k[1:]
            if k in item and item[k] != cand.get(k, "TCP" if k == "protocol" else None):
                return False
        elif item.get(k) != cand.get(k):
            return False
    return True


def _smp_list(orig, plist, keys, smp_keys, path):
    if keys == ("",):
        if any(isinstance(x, dict) and x.get("$patch") == "replace" for x in plist):
            return [x for x in plist if not isinstance(x, dict)]
        out = list(orig)
        out += [x for x in plist if x not in out]
        return out
    if any(isinstance(x, dict) and x.get("$patch") == "replace" for x in plist):
        return [_strip(x) for x in plist if not (isinstance(x, dict) and x.get("$patch") == "replace")]
    out = [copy.deepcopy(x) for x in orig]
    for item in plist:
        if not isinstance(item, dict):
            raise PatchError(400, f"unable to find api field in struct for the json field \"{path[-1]}\"")
        idx = next((i for i, c in enumerate(out) if _smp_match(item, c, keys)), None)
        if item.get("$patch") == "delete":
            out = [c for c in out if not _smp_match(item, c, keys)]
        elif idx is None:
            out.append(_strip(item))
        else:
            out[idx] = strategic_merge(out[idx], item, smp_keys, path)
    return out


def _reorder(items, order, keys):
    out, used = [], set()
    for want in order:
        for i, c in enumerate(items):
            if i not in used and (c == want if keys == ("",) else
                                  isinstance(want, dict) and _smp_match(want, c, keys)):
                out.append(c)
                used.add(i)
                break
    return out + [c for i, c in enumerate(items) if i not in used]


def strategic_merge(orig, patch, smp_keys, path=()):
    if not isinstance(patch, dict):
        return _strip(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return _strip(patch)
    if directive not in (None, "merge", "delete"):
        raise PatchError(400, f"Unknown patch type: {directive} in map: {patch}")
    out = dict(orig) if isinstance(orig, dict) else {}
    for k, v in patch.items():
        if k.startswith("$"):
            continue
        sub = path + (k,)
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict):
            if v.get("$patch") == "delete":
                out.pop(k, None)
            elif smp_keys.get(sub) == "replace":
                out[k] = _strip(v)
            else:
                out[k] = strategic_merge(out.get(k), v, smp_keys, sub)
        elif isinstance(v, list) and isinstance(smp_keys.get(sub), tuple):
            out[k] = _smp_list(out.get(k) or [], v, smp_keys[sub], smp_keys, sub)
        else:
            out[k] = _strip(v)
    for k, v in patch.items():
        if k.startswith("$deleteFromPrimitiveList/"):
            field = k.split("/", 1)[1]
            if isinstance(out.get(field), list):
                out[field] = [x for x in out[field] if x not in (v or [])]
        elif k.startswith("$setElementOrder/"):
            field = k.split("/", 1)[1]
            keys = smp_keys.get(path + (field,))
            if isinstance(keys, tuple) and isinstance(out.get(field), list) and isinstance(v, list):
                out[field] = _reorder(out[field], v, keys)
    if isinstance(patch.get("$retainKeys"), list):
        keep = set(patch["$retainKeys"])
        out = {k: v for k, v in out.items() if k in keep}
    return out


# ---- server-side apply and managed fields ----
#
# A field set is a dict {path: value} where path is a tuple of fieldsV1 elements:
# "f:<name>" for a map field, "k:<json>" for a list-map item, "v:<json>" for a set member,
# "." for "the item itself". Leaves are scalars, empty maps and atomic lists.

def _names(path):
    return tuple(p[2:] for p in path if p.startswith("f:"))


def _item_key(item, keys):
    return "k:" + json.dumps({k: item.get(k) for k in sorted(keys)}, separators=(",", ":"))


def leaves(obj, lists, path=()):
    out = {}
    if isinstance(obj, dict) and obj:
        for k, v in obj.items():
            out.update(leaves(v, lists, path + ("f:" + k,)))
        return out
    if isinstance(obj, list):
        info = lists(_names(path))
        if info and info[0] == "map":
            for item in obj:
                if isinstance(item, dict):
                    p = path + (_item_key(item, info[1]),)
                    out[p + (".",)] = None
                    out.update(leaves(item, lists, p))
            return out
        if info and info[0] == "set":
            for item in obj:
                out[path + ("v:" + json.dumps(item, separators=(",", ":"), sort_keys=True),)] = item
            return out
    out[path] = obj
    return out


def owned_paths(obj, lists):
    """The fields an object states, as managedFields count them (metadata: labels,
    annotations, finalizers, ownerReferences only; never apiVersion/kind)."""
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    meta = obj.get("metadata") or {}
    body["metadata"] = {k: meta[k] for k in ("labels", "annotations", "finalizers", "ownerReferences")
                        if k in meta}
    if not body["metadata"]:
        del body["metadata"]
    return leaves(body, lists)


def changed_paths(old, new, lists):
    a, b = owned_paths(old or {}, lists), owned_paths(new, lists)
    return {p for p, v in b.items() if p not in a or a[p] != v}


def to_fields_v1(paths):
    root = {}
    for p in sorted(paths):
        cur = root
        for el in p:
            cur = cur.setdefault(el, {})
    return root


def from_fields_v1(tree, path=()):
    out = set()
    if not tree:
        if path:
            out.add(path)
        return out
    for k, v in tree.items():
        out |= from_fields_v1(v, path + (k,))
    return out


def _remove_path(obj, path, lists):
    """Removes the field a fieldsV1 path names from obj (in place)."""
    cur, names = obj, ()
    for i, el in enumerate(path):
        last = i == len(path) - 1
        if el == ".":
            return
        if el.startswith("f:"):
            name = el[2:]
            names += (name,)
            if not isinstance(cur, dict) or name not in cur:
                return
            if last:
                del cur[name]
                return
            nxt = path[i + 1]
            if nxt.startswith("k:") and len(path) == i + 3 and path[i + 2] == ".":
                want = json.loads(nxt[2:])
                cur[name] = [x for x in cur[name] if not (isinstance(x, dict) and
                                                          all(x.get(k) == v for k, v in want.items()))]
                return
            if nxt.startswith("v:") and len(path) == i + 2:
                val = json.loads(nxt[2:])
                cur[name] = [x for x in cur[name] if x != val]
                return
            cur = cur[name]
        elif el.startswith("k:"):
            want = json.loads(el[2:])
            cur = next((x for x in (cur if isinstance(cur, list) else [])
                        if isinstance(x, dict) and all(x.get(k) == v for k, v in want.items())), None)
            if cur is None:
                return
        else:
            return


def apply_merge(live, applied, lists, path=()):
    """Merges an applied configuration into a live value (both JSON values)."""
    if isinstance(applied, dict):
        out = dict(live) if isinstance(live, dict) else {}
        for k, v in applied.items():
            if v is None:
                out.pop(k, None)
            else:
                out[k] = apply_merge(out.get(k), v, lists, path + (k,))
        return out
    if isinstance(applied, list) and isinstance(live, list):
        info = lists(path)
        if info and info[0] == "map":
            out = [copy.deepcopy(x) for x in live]
            for item in applied:
                if not isinstance(item, dict):
                    continue
                idx = next((i for i, c in enumerate(out) if isinstance(c, dict) and
                            all(c.get(k) == item.get(k) for k in info[1])), None)
                if idx is None:
                    out.append(copy.deepcopy(item))
                else:
                    out[idx] = apply_merge(out[idx], item, lists, path)
            return out
        if info and info[0] == "set":
            return list(live) + [x for x in applied if x not in live]
    return copy.deepcopy(applied)


def server_side_apply(live, applied, lists, mine_before, others):
    """Returns the new object: applied merged into live, then every field this manager
    owned before (mine_before, a set of paths), no longer applies, and no other manager
    (others, a set of paths) owns, removed."""
    new = apply_merge(live or {}, applied, lists)
    now = set(owned_paths(applied, lists))
    for p in sorted(mine_before - now - others, key=len, reverse=True):
        if p[:1] == ("f:metadata",) and len(p) >= 2 and p[1] not in (
                "f:labels", "f:annotations", "f:finalizers", "f:ownerReferences"):
            continue
        _remove_path(new, p, lists)
    return new, now
