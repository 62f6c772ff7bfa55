"""Kubernetes object helpers: keys, references, JSON merge patch.

An object key is the tuple (kind, namespace, name); cluster-scoped objects have namespace ''.
"""
import copy

GATEWAY_GROUP = 'gateway.networking.k8s.io'

# Kinds without a namespace.
CLUSTER_KINDS = {'GatewayClass', 'Namespace'}

# Kinds torii reads from its config directory. Everything else (Deployment, Pod, ...) stays with
# the runner, which plays the cluster's part for them.
TORII_KINDS = {
    'GatewayClass', 'Gateway', 'ListenerSet', 'HTTPRoute', 'GRPCRoute', 'TLSRoute', 'TCPRoute',
    'UDPRoute', 'ReferenceGrant', 'BackendTLSPolicy', 'Namespace', 'Service', 'EndpointSlice',
    'Secret', 'ConfigMap', 'Pod',
}

# The Gateway API kinds torii surely reports in /status.
GATEWAY_API_KINDS = {'GatewayClass', 'Gateway', 'ListenerSet', 'HTTPRoute', 'GRPCRoute', 'TLSRoute', 'TCPRoute',
                     'UDPRoute', 'ReferenceGrant', 'BackendTLSPolicy'}

ROUTE_KINDS = {'HTTPRoute', 'GRPCRoute', 'TLSRoute', 'TCPRoute', 'UDPRoute'}


def split_name(kind, name):
    """'NS/NAME' -> (NS, NAME); a cluster-scoped kind's 'NAME' -> ('', NAME)."""
    if kind in CLUSTER_KINDS:
        return '', name.split('/')[-1]
    ns, _, short = name.partition('/')
    if not short:  # a bare name of a namespaced kind: the default namespace, as kubectl would
        return 'default', ns
    return ns, short


def key_of(obj):
    """The key (kind, namespace, name) of an inline or manifest object."""
    kind = obj.get('kind', '')
    meta = obj.get('metadata') or {}
    ns = '' if kind in CLUSTER_KINDS else (meta.get('namespace') or 'default')
    return kind, ns, meta.get('name', '')


def key_for(kind, name):
    """The key of the object a step names (kind, 'NS/NAME' or 'NAME')."""
    ns, short = split_name(kind, name)
    return kind, ns, short


def fmt_key(key):
    kind, ns, name = key
    return f'{kind} {ns}/{name}' if ns else f'{kind} {name}'


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch; returns a new value and never modifies its arguments.

    A mapping patch merges key by key (null removes the key); anything else, lists included,
    replaces the target whole.
    """
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


def labels_match(selector, labels):
    """A non-empty equality selector {k: v} matches labels holding all of it."""
    return bool(selector) and all((labels or {}).get(k) == v for k, v in selector.items())
