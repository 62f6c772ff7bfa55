"""Change and control steps (FORMAT.md section 4) that are pure data manipulation."""
import copy
import datetime

from .kube import merge_patch
from .substitute import substitute_addresses


class ChangeError(Exception):
    pass


def data_from(store_get, data_from):
    """{KEY: value} from a dataFrom mapping {KEY: {configMap: NS/NAME, key: K}}."""
    out = {}
    for key, src in (data_from or {}).items():
        ns, _, name = src['configMap'].partition('/')
        cm = store_get(('ConfigMap', ns, name))
        if cm is None:
            raise ChangeError(f'dataFrom: ConfigMap {src["configMap"]} was never applied')
        data = cm.get('data') or {}
        if src['key'] not in data:
            raise ChangeError(f'dataFrom: ConfigMap {src["configMap"]} has no key {src["key"]}')
        out[key] = data[src['key']]
    return out


def patched(obj, body, store_get, subs):
    """The object after a `patch` step: merge patch, then dataFrom, then address substitutions."""
    new = merge_patch(obj, body['mergePatch']) if 'mergePatch' in body else copy.deepcopy(obj)
    extra = data_from(store_get, body.get('dataFrom'))
    if extra:
        new['data'] = {**(new.get('data') or {}), **extra}
    if body.get('applySubstitutions'):
        substitute_addresses(new, subs)
    return new


def created(body, store_get):
    """The object of a `create` step, with dataFrom filled in (no substitutions)."""
    obj = copy.deepcopy(body['object'])
    extra = data_from(store_get, body.get('dataFrom'))
    if extra:
        obj['data'] = {**(obj.get('data') or {}), **extra}
    return obj


def parse_timestamp(ts):
    """Seconds since the epoch of an RFC 3339 creationTimestamp, or None."""
    if not ts:
        return None
    try:
        return datetime.datetime.fromisoformat(ts.replace('Z', '+00:00')).timestamp()
    except ValueError:
        return None
