"""Label and field selectors as the API server parses them.

Label selector grammar (k8s.io/apimachinery labels.Parse): requirements joined by commas;
each is `key`, `!key`, `key=v`, `key==v`, `key!=v`, `key in (a,b)`, `key notin (a,b)`,
`key>N` or `key<N`. `!=` and `notin` also match objects without the key.
Field selectors (fields.ParseSelector): `path=v`, `path==v`, `path!=v` joined by commas;
which paths a kind supports is the kind's business (see fake_kinds).
"""
import re


class SelectorError(ValueError):
    pass


_KEY = re.compile(r"^([a-z0-9A-Z]([-a-z0-9A-Z.]*[a-z0-9A-Z])?/)?[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?$")
_VALUE = re.compile(r"^([a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?)?$")


def _split_top(text):
    """Splits on commas that are not inside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise SelectorError("unbalanced parenthesis")
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth:
        raise SelectorError("unbalanced parenthesis")
    parts.append("".join(cur))
    return parts


def _check_key(key, whole):
    if not key or len(key.split("/")[-1]) > 63 or not _KEY.match(key):
        raise SelectorError(f"unable to parse requirement: invalid label key \"{key}\" in \"{whole}\"")


def _check_value(value, whole):
    if len(value) > 63 or not _VALUE.match(value):
        raise SelectorError(f"unable to parse requirement: invalid label value: \"{value}\" in \"{whole}\"")


def parse_labels(text):
    """Returns a list of (key, op, values); op is one of exists, !exists, in, notin, gt, lt."""
    reqs = []
    if text is None or not text.strip():
        return reqs
    for raw in _split_top(text):
        part = raw.strip()
        if not part:
            raise SelectorError(f"found '', expected: identifier in \"{text}\"")
        m = re.match(r"^(\S+)\s+(in|notin)\s*\((.*)\)$", part)
        if m:
            key, op, vals = m.group(1), m.group(2), [v.strip() for v in m.group(3).split(",")]
            _check_key(key, text)
            for v in vals:
                _check_value(v, text)
            reqs.append((key, op, set(vals)))
            continue
        if part.startswith("!"):
            key = part[1:].strip()
            _check_key(key, text)
            reqs.append((key, "!exists", set()))
            continue
        m = re.match(r"^([^=!<>\s]+)\s*(==|=|!=|>|<)\s*(.*)$", part)
        if m:
            key, op, val = m.group(1), m.group(2), m.group(3).strip()
            _check_key(key, text)
            if op in (">", "<"):
                try:
                    int(val)
                except ValueError:
                    raise SelectorError(f"unable to parse requirement: for 'Gt', 'Lt' operators, "
                                        f"the value must be an integer in \"{text}\"")
                reqs.append((key, "gt" if op == ">" else "lt", {val}))
                continue
            _check_value(val, text)
            reqs.append((key, "notin" if op == "!=" else "in", {val}))
            continue
        if re.match(r"^\S+$", part):
            _check_key(part, text)
            reqs.append((part, "exists", set()))
            continue
        raise SelectorError(f"unable to parse requirement: \"{part}\"")
    return reqs


def match_labels(reqs, labels):
    labels = labels or {}
    for key, op, vals in reqs:
        has = key in labels
        if op == "exists" and not has:
            return False
        if op == "!exists" and has:
            return False
        if op == "in" and (not has or labels[key] not in vals):
            return False
        if op == "notin" and has and labels[key] in vals:
            return False
        if op in ("gt", "lt"):
            try:
                have = int(labels[key]) if has else None
            except ValueError:
                return False
            want = int(next(iter(vals)))
            if have is None or (op == "gt" and not have > want) or (op == "lt" and not have < want):
                return False
    return True


def parse_fields(text):
    """Returns a list of (path, negate, value)."""
    out = []
    if text is None or not text.strip():
        return out
    for raw in text.split(","):
        part = raw.strip()
        m = re.match(r"^([^=!]+?)\s*(==|=|!=)\s*(.*)$", part)
        if not m:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
        out.append((m.group(1), m.group(2) == "!=", m.group(3)))
    return out


def field_value(obj, path):
    """The string value of a dotted path, "" when absent (what the server's field sets do)."""
    cur = obj
    for seg in path.split("."):
        if not isinstance(cur, dict) or seg not in cur:
            return ""
        cur = cur[seg]
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return "" if cur is None else str(cur)


def match_fields(reqs, obj):
    for path, negate, value in reqs:
        if (field_value(obj, path) == value) == negate:
            return False
    return True


def field_name_equals(reqs):
    """The name a `metadata.name=X` requirement pins, or None (RBAC resourceNames use it)."""
    for path, negate, value in reqs:
        if path == "metadata.name" and not negate:
            return value
    return None
