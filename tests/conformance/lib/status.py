"""Status steps (FORMAT.md section 3) as pure functions of the objects torii reports.

Each evaluator looks at one read and returns an Outcome: held, or not yet (why), or fatal (the
step fails at once, without waiting). The waiting itself is in wait.py; fetching is done by the
caller, so that all of this can be tested on plain dicts.
"""
import dataclasses
import json
from typing import Any

from .kube import GATEWAY_GROUP, labels_match

SKIP_READINESS = 'gateway-api/skip-this-for-readiness'


@dataclasses.dataclass
class Outcome:
    held: bool
    why: str = ''
    fatal: bool = False      # fail now, without waiting any longer
    value: Any = None        # what a step remembers (an address)


HELD = Outcome(True)


def not_yet(why):
    return Outcome(False, why)


def fatal(why):
    return Outcome(False, why, fatal=True)


def slim(value):
    """A status fragment without the noise of failure messages (times, empty messages)."""
    if isinstance(value, dict):
        return {k: slim(v) for k, v in value.items()
                if k != 'lastTransitionTime' and not (k == 'message' and not v)}
    if isinstance(value, list):
        return [slim(v) for v in value]
    return value


def brief(value, limit=600):
    """Compact JSON of a status fragment for failure messages, truncated."""
    text = json.dumps(slim(value), separators=(',', ':'), sort_keys=True, default=str)
    return text if len(text) <= limit else text[:limit - 3] + '...'


def status_of(obj):
    return (obj or {}).get('status') or {}


def conditions(obj):
    return status_of(obj).get('conditions') or []


def generation(obj):
    return ((obj or {}).get('metadata') or {}).get('generation')


def stale(conds, gen):
    """The conditions not at generation gen ('current' means observedGeneration == generation)."""
    return [c for c in conds if c.get('observedGeneration') != gen]


def stale_why(what, conds, gen):
    bad = stale(conds, gen)
    return (f'{what}: conditions not current (generation {gen}): '
            + brief([{k: c.get(k) for k in ('type', 'status', 'observedGeneration')} for c in bad]))


def cond_matches(want, have):
    """A wanted {type, status, reason?} matches a status condition."""
    return (have.get('type') == want['type'] and have.get('status') == want['status']
            and ('reason' not in want or want['reason'] is None or have.get('reason') == want['reason']))


def has_condition(conds, want):
    return any(cond_matches(want, c) for c in conds)


def want_str(want):
    r = f'/{want["reason"]}' if want.get('reason') else ''
    return f'{want["type"]}={want["status"]}{r}'


def ns_absent_or_equal(ref, namespace):
    """A status reference's namespace that is absent (or empty) or equal."""
    return ref.get('namespace') in (None, '', namespace)


def parent_entries(obj, ns, name, ref_field='parentRef', list_field='parents'):
    """The status.parents (or ancestors) entries that are the parent NS/NAME's."""
    out = []
    for entry in status_of(obj).get(list_field) or []:
        ref = entry.get(ref_field) or {}
        if ref.get('name') == name and ns_absent_or_equal(ref, ns):
            out.append(entry)
    return out


def all_entry_conditions(obj, list_field='parents'):
    return [c for e in status_of(obj).get(list_field) or [] for c in e.get('conditions') or []]


def missing(what):
    return not_yet(f'{what} not found in torii')


# -- suite set-up ----------------------------------------------------------------------------------

def eval_gatewayclass_accepted(gc):
    if gc is None:
        return missing('GatewayClass')
    conds, gen = conditions(gc), generation(gc)
    if stale(conds, gen):
        return not_yet(stale_why('GatewayClass', conds, gen))
    if not has_condition(conds, {'type': 'Accepted', 'status': 'True'}):
        return not_yet('GatewayClass not Accepted=True: ' + brief(conds))
    return Outcome(True, value=(gc.get('spec') or {}).get('controllerName', ''))


def gateway_ready_why(gw):
    """Why a Gateway is not ready for namespacesReady, or ''."""
    conds, gen = conditions(gw), generation(gw)
    name = f'Gateway {gw["metadata"].get("namespace")}/{gw["metadata"]["name"]}'
    if stale(conds, gen):
        return stale_why(name, conds, gen)
    for t in ('Accepted', 'Programmed'):
        if not has_condition(conds, {'type': t, 'status': 'True'}):
            return f'{name} not {t}=True: {brief(conds)}'
    return ''


def eval_namespaces_ready(items, namespaces, pods, serving, gateways=True):
    """namespacesReady (gateways=True) or meshNamespacesReady (False).

    items: every object torii holds; pods: the runner's Pods; serving(pod) -> bool.
    """
    for ns in namespaces:
        if gateways:
            for obj in items:
                meta = obj.get('metadata') or {}
                if obj.get('kind') != 'Gateway' or meta.get('namespace') != ns:
                    continue
                if (meta.get('annotations') or {}).get(SKIP_READINESS) == 'true':
                    continue
                why = gateway_ready_why(obj)
                if why:
                    return not_yet(why)
        ns_pods = [p for p in pods if p.namespace == ns]
        if not ns_pods:
            return not_yet(f'namespace {ns}: no Pod')
        down = [p.name for p in ns_pods if not serving(p)]
        if down:
            return not_yet(f'namespace {ns}: Pods not ready: {", ".join(down)}')
    return HELD


# -- addresses -------------------------------------------------------------------------------------

def listener_port(gw, listener):
    """The port of the spec listener named listener (absent or unknown: the first listener)."""
    ls = (gw.get('spec') or {}).get('listeners') or []
    for entry in ls:
        if listener and entry.get('name') == listener:
            return entry.get('port')
    return ls[0].get('port') if ls else None


def eval_gateway_address(gw, listener=None):
    """gatewayAddress: value is (host, port) to remember."""
    if gw is None:
        return missing('Gateway')
    conds, gen = conditions(gw), generation(gw)
    if stale(conds, gen):
        return not_yet(stale_why('Gateway', conds, gen))
    for a in status_of(gw).get('addresses') or []:
        if a.get('type'):
            return Outcome(True, value=(a.get('value'), listener_port(gw, listener)))
    return not_yet('no status.addresses entry with a type: ' + brief(status_of(gw).get('addresses')))


# -- accepted --------------------------------------------------------------------------------------

def parent_accepts(entry, controller, parent_kind, parent_ns, parent_name, route_ns):
    """Wait 2 of `accepted`: is this status.parents entry the parent's, accepting the route?"""
    ref = entry.get('parentRef') or {}
    if entry.get('controllerName') != controller:
        return False
    if ref.get('group') != GATEWAY_GROUP or ref.get('kind') != parent_kind or ref.get('name') != parent_name:
        return False
    ns = ref.get('namespace')
    if not (ns == parent_ns or (ns is None and route_ns == parent_ns)):
        return False
    return has_condition(entry.get('conditions') or [], {'type': 'Accepted', 'status': 'True', 'reason': 'Accepted'})


def eval_route_accepted(route, controller, parent_kind, parent_ns, parent_name, check_current):
    if route is None:
        return missing('route')
    route_ns = route['metadata'].get('namespace')
    parents = status_of(route).get('parents') or []
    if not any(parent_accepts(e, controller, parent_kind, parent_ns, parent_name, route_ns) for e in parents):
        return not_yet(f'no status.parents entry of {parent_kind} {parent_ns}/{parent_name} by '
                       f'{controller} with Accepted=True/Accepted: {brief(parents)}')
    if check_current:
        conds, gen = all_entry_conditions(route), generation(route)
        if stale(conds, gen):
            return not_yet(stale_why('route parents', conds, gen))
    return HELD


def eval_listeners_healthy(owner, what, own_current=False):
    """Wait 3 of `accepted`: every listener status ResolvedRefs, Accepted, Programmed True."""
    if owner is None:
        return missing(what)
    if own_current:
        conds, gen = conditions(owner), generation(owner)
        if stale(conds, gen):
            return not_yet(stale_why(what, conds, gen))
    for ls in status_of(owner).get('listeners') or []:
        for t in ('ResolvedRefs', 'Accepted', 'Programmed'):
            if not has_condition(ls.get('conditions') or [], {'type': t, 'status': 'True'}):
                return not_yet(f'{what} listener {ls.get("name")} not {t}=True: {brief(ls.get("conditions"))}')
    return HELD


# -- condition, conditionPresent, latestConditions -------------------------------------------------

def eval_condition(obj, step):
    """The `condition` step on one read of the object."""
    kind = step['kind']
    want = {k: step[k] for k in ('type', 'status', 'reason') if k in step}
    if obj is None:
        return missing(kind)
    conds, gen = conditions(obj), generation(obj)
    listener = step.get('listener')
    if kind in ('Gateway', 'ListenerSet'):
        if listener is None:
            if stale(conds, gen):
                why = stale_why(kind, conds, gen)
                return fatal(why) if kind == 'Gateway' else not_yet(why)
            return HELD if has_condition(conds, want) else not_yet(
                f'{kind} has no {want_str(want)}: {brief(conds)}')
        if kind == 'ListenerSet' and stale(conds, gen):
            return not_yet(stale_why(kind, conds, gen))
        entries = [ls for ls in status_of(obj).get('listeners') or [] if ls.get('name') == listener]
        if not entries:
            return not_yet(f'no listener status {listener}: {brief(status_of(obj).get("listeners"))}')
        lconds = entries[0].get('conditions') or []
        return HELD if has_condition(lconds, want) else not_yet(
            f'listener {listener} has no {want_str(want)}: {brief(lconds)}')
    if 'parent' in step:
        pns, _, pname = step['parent']['name'].partition('/')
        ref_field, list_field = ('ancestorRef', 'ancestors') if kind == 'BackendTLSPolicy' else ('parentRef', 'parents')
        entries = parent_entries(obj, pns, pname, ref_field, list_field)
        if not any(has_condition(e.get('conditions') or [], want) for e in entries):
            return not_yet(f'no {list_field} entry of {pns}/{pname} has {want_str(want)}: '
                           f'{brief(status_of(obj).get(list_field))}')
        all_conds = all_entry_conditions(obj, list_field)
        if stale(all_conds, gen):
            return not_yet(stale_why(list_field, all_conds, gen))
        return HELD
    # any other kind (GatewayClass): its own conditions, all current
    if stale(conds, gen):
        return not_yet(stale_why(kind, conds, gen))
    return HELD if has_condition(conds, want) else not_yet(f'{kind} has no {want_str(want)}: {brief(conds)}')


def eval_condition_present(obj, ctype):
    if obj is None:
        return missing('object')
    conds, gen = conditions(obj), generation(obj)
    if stale(conds, gen):
        return not_yet(stale_why('object', conds, gen))
    if not any(c.get('type') == ctype for c in conds):
        return not_yet(f'no {ctype} condition: {brief(conds)}')
    return HELD


def eval_latest_conditions(obj, kind):
    if obj is None:
        return missing(kind)
    if kind == 'BackendTLSPolicy':
        conds = all_entry_conditions(obj, 'ancestors')
    elif kind.endswith('Route'):
        conds = all_entry_conditions(obj, 'parents')
    else:
        conds = conditions(obj)
    gen = generation(obj)
    return not_yet(stale_why(kind, conds, gen)) if stale(conds, gen) else HELD


# -- routeParents, noAcceptedParents ---------------------------------------------------------------

def parent_matches(entry, want, controller, namespace_required):
    ref, wref = entry.get('parentRef') or {}, want['parentRef']
    if entry.get('controllerName') != controller:
        return False
    if any(ref.get(k) != wref.get(k) for k in ('group', 'kind', 'name')):
        return False
    if ref.get('namespace') != wref.get('namespace') and (namespace_required or ref.get('namespace') is not None):
        return False
    conds = entry.get('conditions') or []
    return all(has_condition(conds, c) for c in want.get('conditions') or [])


def eval_route_parents(route, parents, namespace_required, controller, check_current):
    if not parents:
        return HELD
    if route is None:
        return missing('route')
    have = status_of(route).get('parents') or []
    for want in parents:
        if not any(parent_matches(e, want, controller, namespace_required) for e in have):
            r = want['parentRef']
            return not_yet(f'no status.parents entry matches {r.get("kind")} {r.get("namespace")}/{r.get("name")} '
                           f'with {", ".join(want_str(c) for c in want.get("conditions") or []) or "no conditions"}: '
                           f'{brief(have)}')
    if check_current:
        conds, gen = all_entry_conditions(route), generation(route)
        if stale(conds, gen):
            return not_yet(stale_why('route parents', conds, gen))
    return HELD


def eval_no_accepted_parents(route, state):
    """noAcceptedParents; state carries whether the previous read (1 s before) saw no parents."""
    if route is None:
        state['prev_empty'] = False
        return missing('route')
    parents = status_of(route).get('parents') or []
    if not parents:
        held = state.get('prev_empty', False)
        state['prev_empty'] = True
        return HELD if held else not_yet('status.parents empty on one read only')
    state['prev_empty'] = False
    if len(parents) == 1:
        conds, gen = parents[0].get('conditions') or [], generation(route)
        if not stale(conds, gen) and has_condition(conds, {'type': 'Accepted', 'status': 'False'}):
            return HELD
    return not_yet('status.parents is not empty nor one entry with current Accepted=False: ' + brief(parents))


# -- listeners, zeroRoutes, attachedListeners ------------------------------------------------------

def _kind_key(k):
    return (k.get('group') or GATEWAY_GROUP, k.get('kind'))


def eval_listeners(owner, listeners, what='Gateway'):
    if owner is None:
        return missing(what)
    conds, gen = conditions(owner), generation(owner)
    if stale(conds, gen):
        return not_yet(stale_why(what, conds, gen))
    have = status_of(owner).get('listeners') or []
    if len(have) != len(listeners):
        return not_yet(f'{len(have)} listener statuses, want {len(listeners)}: {brief(have)}')
    for want in listeners:
        entry = next((ls for ls in have if ls.get('name') == want['name']), None)
        if entry is None:
            return not_yet(f'no listener status {want["name"]}: {brief(have)}')
        kinds = {_kind_key(k) for k in entry.get('supportedKinds') or []}
        wkinds = {_kind_key(k) for k in want.get('supportedKinds') or []}
        if (not wkinds and kinds) or not wkinds <= kinds:
            return not_yet(f'listener {want["name"]} supportedKinds {brief(entry.get("supportedKinds"))}, '
                           f'want {brief(want.get("supportedKinds"))}')
        if entry.get('attachedRoutes') != want['attachedRoutes']:
            return not_yet(f'listener {want["name"]} attachedRoutes {entry.get("attachedRoutes")}, '
                           f'want {want["attachedRoutes"]}')
        lconds = entry.get('conditions') or []
        for c in want.get('conditions') or []:
            if not has_condition(lconds, c):
                return not_yet(f'listener {want["name"]} has no {want_str(c)}: {brief(lconds)}')
    return HELD


def eval_zero_routes(gw):
    if gw is None:
        return missing('Gateway')
    conds, gen = conditions(gw), generation(gw)
    if stale(conds, gen):
        return not_yet(stale_why('Gateway', conds, gen))
    ls = status_of(gw).get('listeners') or []
    if not ls or (len(ls) == 1 and ls[0].get('attachedRoutes') == 0):
        return HELD
    return not_yet('listener statuses are not none or one with attachedRoutes 0: ' + brief(ls))


def eval_attached_listeners(gw, count):
    if gw is None:
        return missing('Gateway')
    conds, gen = conditions(gw), generation(gw)
    if stale(conds, gen):
        return not_yet(stale_why('Gateway', conds, gen))
    n = status_of(gw).get('attachedListenerSets') or 0
    return HELD if n == count else not_yet(f'attachedListenerSets {n}, want {count}')


# -- statusAddresses -------------------------------------------------------------------------------

def eval_status_addresses(gw, step, pools):
    """pools: {'usable': {type, value}, 'unusable': {...}} (the first address of each pool)."""
    if gw is None:
        return missing('Gateway')
    addrs = status_of(gw).get('addresses') or []
    if len(addrs) != step['count']:
        return not_yet(f'{len(addrs)} status.addresses, want {step["count"]}: {brief(addrs)}')
    for item in step.get('contains') or []:
        if 'pool' in item:
            pool = pools[item['pool']]
            ok = any(a.get('value') == pool['value'] and
                     (not item.get('sameType') or a.get('type') == (pool.get('type') or 'IPAddress'))
                     for a in addrs)
            label = f'{item["pool"]} pool address {pool["value"]}'
        else:
            ok = any(a.get('value') == item.get('value') for a in addrs)
            label = f'address {item.get("value")}'
        if not ok:
            return fatal(f'status.addresses lacks the {label}: {brief(addrs)}')
    for item in step.get('absent') or []:
        value = pools[item['pool']]['value'] if 'pool' in item else item.get('value')
        if any(a.get('value') == value for a in addrs):
            return fatal(f'status.addresses holds {value}, which must be absent: {brief(addrs)}')
    return HELD


# -- infrastructurePropagated ----------------------------------------------------------------------

def eval_infrastructure(items, namespace, step):
    """Objects torii reports in the Gateway's namespace carrying the selector labels."""
    found = {}
    for obj in items:
        meta = obj.get('metadata') or {}
        if obj.get('kind') in step['kinds'] and meta.get('namespace') == namespace \
                and labels_match(step['selector'], meta.get('labels')):
            found.setdefault(obj['kind'], obj)
    if not found:
        return not_yet(f'no {"/".join(step["kinds"])} in {namespace} labelled {brief(step["selector"])} '
                       '(torii reports no generated infrastructure)')
    for kind, obj in found.items():
        meta = obj.get('metadata') or {}
        for field, want in (('labels', step.get('labels') or {}), ('annotations', step.get('annotations') or {})):
            have = meta.get(field) or {}
            bad = {k: v for k, v in want.items() if have.get(k) != v}
            if bad:
                return fatal(f'{kind} {meta.get("name")} {field} lack {brief(bad)}: {brief(have)}')
    return HELD


# -- expectGenerationChange ------------------------------------------------------------------------

def eval_generation_change(obj, before):
    if obj is None:
        return missing('object')
    gen = generation(obj)
    if gen == before:
        return Outcome(False, f'metadata.generation still {gen} after the patch', fatal=True)
    return HELD


# -- --kube mode: is torii's published status in the API server yet? -------------------------------

# The lists of a status that several controllers share, each writing only its own entries.
SHARED_LISTS = {'HTTPRoute': 'parents', 'GRPCRoute': 'parents', 'TLSRoute': 'parents', 'TCPRoute': 'parents',
                'UDPRoute': 'parents', 'BackendTLSPolicy': 'ancestors'}


def _holds(have, want):
    """Does `have` (as the API server stores it) say all `want` says? Maps: every key of want
    (lastTransitionTime aside: the server keeps the older time of an unchanged condition), with
    extra keys allowed (defaults the server filled in); lists: as long, item by item."""
    if isinstance(want, dict):
        if not isinstance(have, dict):
            return False
        return all(k == 'lastTransitionTime' or _holds(have.get(k), v) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(have, list) and len(have) == len(want) and all(map(_holds, have, want))
    return have == want


def status_behind(kind, published, held, controller):
    """'' when the status the API server holds (held) says what torii published (its admin
    /status), else what differs. In a shared list (route parents, policy ancestors) only torii's
    own entries count, matched by their reference, in any order: those of controller, and of any
    other controller name torii publishes entries under (the mesh's, for Service parents)."""
    published, held = published or {}, held or {}
    shared = SHARED_LISTS.get(kind)
    rest = {k: v for k, v in published.items() if k != shared}
    if not _holds(held, rest):
        return f'{brief(slim(rest))} != {brief(slim(held))}'
    if not shared:
        return ''
    ref = 'parentRef' if shared == 'parents' else 'ancestorRef'
    want = published.get(shared) or []
    ctrls = {controller} | {w.get('controllerName') for w in want}
    have = [e for e in held.get(shared) or [] if e.get('controllerName') in ctrls]
    if len(have) != len(want):
        return f'{shared}: {len(have)} of torii\'s entries, {len(want)} published'
    for w in want:
        if not any(_holds(h.get(ref), w.get(ref)) and _holds(h, w) for h in have):
            return f'{shared}: no entry holds {brief(w)}'
    return ''
