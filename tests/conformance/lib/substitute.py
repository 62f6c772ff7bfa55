"""The suite's substitutions (FORMAT.md section 9), made on every manifest object applied."""
import copy
import dataclasses

FAKE_ADDRESS_TYPE = 'test/fake-invalid-type'
UNUSABLE_PLACEHOLDER = 'PLACEHOLDER_UNUSABLE_ADDRS'
USABLE_PLACEHOLDER = 'PLACEHOLDER_USABLE_ADDRS'
CLASS_PLACEHOLDER = '{GATEWAY_CLASS_NAME}'


@dataclasses.dataclass
class Substitutions:
    class_name: str = 'gateway-conformance'
    controller_name: str = ''
    usable: list = dataclasses.field(default_factory=list)      # [{value, type?}]
    unusable: list = dataclasses.field(default_factory=list)
    namespace_labels: dict = dataclasses.field(default_factory=dict)
    namespace_annotations: dict = dataclasses.field(default_factory=dict)


def pool_addresses(pool):
    """A pool's addresses as spec.addresses entries; an address without a type gets IPAddress."""
    return [{'type': a.get('type') or 'IPAddress', 'value': a['value']} for a in pool]


def rebuild_addresses(addresses, subs):
    """The rebuilt spec.addresses list of a Gateway (may be empty: then the field is removed)."""
    out = [copy.deepcopy(a) for a in addresses if a.get('type') == FAKE_ADDRESS_TYPE]
    if any(a.get('value') == UNUSABLE_PLACEHOLDER for a in addresses):
        out += pool_addresses(subs.unusable)
    if any(a.get('value') == USABLE_PLACEHOLDER for a in addresses):
        out += pool_addresses(subs.usable)
    return out


def substitute_addresses(obj, subs):
    """Rebuild a Gateway's non-empty spec.addresses in place (also used by patch applySubstitutions)."""
    spec = obj.get('spec')
    if obj.get('kind') != 'Gateway' or not isinstance(spec, dict) or not spec.get('addresses'):
        return obj
    new = rebuild_addresses(spec['addresses'], subs)
    if new:
        spec['addresses'] = new
    else:
        del spec['addresses']
    return obj


def substitute(obj, subs):
    """A copy of a manifest object with the substitutions made."""
    obj = copy.deepcopy(obj)
    kind = obj.get('kind')
    api = obj.get('apiVersion', '')
    if kind == 'Gateway':
        obj.setdefault('spec', {})['gatewayClassName'] = subs.class_name
        substitute_addresses(obj, subs)
    elif kind == 'GatewayClass':
        obj.setdefault('spec', {})['controllerName'] = subs.controller_name
    elif kind == 'Namespace' and api == 'v1':
        meta = obj.setdefault('metadata', {})
        if subs.namespace_labels:
            meta.setdefault('labels', {}).update(subs.namespace_labels)
        if subs.namespace_annotations:
            meta.setdefault('annotations', {}).update(subs.namespace_annotations)
    return obj


def class_placeholder(value, subs):
    """A step's name with {GATEWAY_CLASS_NAME} replaced."""
    return value.replace(CLASS_PLACEHOLDER, subs.class_name) if isinstance(value, str) else value
