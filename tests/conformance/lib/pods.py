"""Made-up Pods for the manifests' Deployments, and the EndpointSlices a cluster would derive.

Without a cluster the runner plays the Deployment and EndpointSlice controllers: each Deployment
replica becomes a Pod with a name like a ReplicaSet's pod (<deployment>-<10 hex>-<5 alnum>) and a
distinct loopback IP (127.100.x.y), and every Service whose selector matches Pods gets an
EndpointSlice named <service>-<5 alnum> listing them.
"""
import dataclasses
import ipaddress
import random
import string

from .kube import key_of, labels_match

ALNUM = string.ascii_lowercase + string.digits
SERVICE_NAME_LABEL = 'kubernetes.io/service-name'
NODE_NAME = 'torii-conformance-node'


@dataclasses.dataclass
class Pod:
    name: str
    namespace: str
    deployment: str
    labels: dict
    ip: str
    uid: str
    node: str
    container_ports: dict        # port name -> containerPort number (named ports only)
    service_name: str = ''       # SERVICE_NAME env of the manifest, where set
    containers: list = None      # the Deployment's container specs (for starting backends)

    def target_ref(self):
        return {'kind': 'Pod', 'name': self.name, 'namespace': self.namespace, 'uid': self.uid}


class IPAllocator:
    """Distinct loopback addresses from a /16 (127.100.0.0/16 by default), never reused in a run."""

    def __init__(self, network='127.100.0.0/16'):
        self.hosts = ipaddress.ip_network(network).hosts()

    def next(self):
        return str(next(self.hosts))


def _deployment_template(dep):
    spec = dep.get('spec') or {}
    tmpl = spec.get('template') or {}
    labels = dict(((tmpl.get('metadata') or {}).get('labels') or {}))
    containers = ((tmpl.get('spec') or {}).get('containers') or [])
    ports = {}
    service_name = ''
    for c in containers:
        for p in c.get('ports') or []:
            if p.get('name'):
                ports.setdefault(p['name'], p.get('containerPort'))
        for env in c.get('env') or []:
            if env.get('name') == 'SERVICE_NAME' and 'value' in env:
                service_name = service_name or env['value']
    replicas = spec.get('replicas', 1)
    return labels, ports, service_name, containers, 1 if replicas is None else int(replicas)


class PodFactory:
    """Pods per Deployment, stable for as long as the Deployment is applied unchanged."""

    def __init__(self, rng=None, ips=None, mesh_ips=None, is_mesh=None):
        self.rng = rng or random.Random()
        self.ips = ips or IPAllocator()
        # The mesh's workloads (is_mesh(containers)) get addresses of the Pod range, in network
        # namespaces of their own (lib/meshpods.py), when mesh_ips is given.
        self.mesh_ips = mesh_ips
        self.is_mesh = is_mesh or (lambda containers: False)
        self._pods = {}      # deployment key -> (deployment object, [Pod])
        self._slice_names = {}

    def _suffix(self, alphabet, n):
        return ''.join(self.rng.choice(alphabet) for _ in range(n))

    def make_pods(self, dep):
        _, ns, name = key_of(dep)
        labels, ports, service_name, containers, replicas = _deployment_template(dep)
        pod_hash = self._suffix('0123456789abcdef', 10)
        ips = self.mesh_ips if self.mesh_ips and self.is_mesh(containers) else self.ips
        pods = []
        for _ in range(replicas):
            uid = '%08x-%04x-4%03x-8%03x-%012x' % tuple(
                self.rng.getrandbits(b) for b in (32, 16, 12, 12, 48))
            pods.append(Pod(name=f'{name}-{pod_hash}-{self._suffix(ALNUM, 5)}', namespace=ns,
                            deployment=name, labels=labels, ip=ips.next(), uid=uid,
                            node=NODE_NAME, container_ports=ports, service_name=service_name,
                            containers=containers))
        return pods

    def sync(self, deployments):
        """Bring the pods in line with the applied Deployments; returns True when anything changed."""
        wanted = {key_of(d): d for d in deployments}
        changed = False
        for key in list(self._pods):
            if key not in wanted or self._pods[key][0] != wanted[key]:
                del self._pods[key]
                changed = True
        for key, dep in wanted.items():
            if key not in self._pods:
                self._pods[key] = (dep, self.make_pods(dep))
                changed = True
        return changed

    def pods(self, namespace=None):
        out = [p for _, ps in self._pods.values() for p in ps]
        return [p for p in out if namespace is None or p.namespace == namespace]

    def pods_of(self, deployment):
        """The pods of a Deployment object, by its selector (as upstream lists them)."""
        _, ns, _ = key_of(deployment)
        selector = ((deployment.get('spec') or {}).get('selector') or {}).get('matchLabels') or {}
        return [p for p in self.pods(ns) if labels_match(selector, p.labels)]

    def auto_slice_keys(self):
        """Keys of every EndpointSlice ever named for a Service (those the runner owns)."""
        return {('EndpointSlice', skey[1], name) for skey, name in self._slice_names.items()}

    def slice_name(self, service_key):
        if service_key not in self._slice_names:
            self._slice_names[service_key] = f'{service_key[2]}-{self._suffix(ALNUM, 5)}'
        return self._slice_names[service_key]


def pod_object(pod, ready=True):
    """The Pod object a cluster would hold for a made-up Pod (--kube mode writes it to the API
    server): scheduled on the runner's node, running, Ready as its backend serves."""
    state = 'True' if ready else 'False'
    containers = [{k: v for k, v in c.items() if k in ('name', 'image', 'ports', 'env', 'args', 'command',
                                                        'volumeMounts')}
                  for c in pod.containers or []] or [{'name': 'main', 'image': 'none'}]
    return {
        'apiVersion': 'v1',
        'kind': 'Pod',
        'metadata': {'name': pod.name, 'namespace': pod.namespace, 'labels': dict(pod.labels)},
        'spec': {'nodeName': pod.node, 'containers': containers},
        'status': {
            'phase': 'Running',
            'podIP': pod.ip,
            'podIPs': [{'ip': pod.ip}],
            'conditions': [{'type': 'PodScheduled', 'status': 'True'}, {'type': 'Initialized', 'status': 'True'},
                           {'type': 'ContainersReady', 'status': state}, {'type': 'Ready', 'status': state}],
        },
    }


def endpoint(pod, ready=True):
    return {'addresses': [pod.ip],
            'conditions': {'ready': ready, 'serving': ready, 'terminating': False},
            'nodeName': pod.node, 'targetRef': pod.target_ref()}


def resolve_target_port(svc_port, pods):
    """The number a Service port sends to: targetPort as a number, or a named container port."""
    target = svc_port.get('targetPort', svc_port.get('port'))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    for p in pods:
        if target in p.container_ports:
            return p.container_ports[target]
    return None


def service_selects(service):
    spec = service.get('spec') or {}
    return bool(spec.get('selector')) and spec.get('type') != 'ExternalName'


def endpoint_slice_for(service, pods, name, ready=lambda pod: True):
    """The EndpointSlice the cluster's controller would make for a selector Service."""
    _, ns, svc_name = key_of(service)
    spec = service.get('spec') or {}
    matching = [p for p in pods if p.namespace == ns and labels_match(spec.get('selector'), p.labels)]
    ports = []
    for sp in spec.get('ports') or []:
        number = resolve_target_port(sp, matching)
        if number is None:       # a named port no Pod has: the controller leaves it out
            continue
        port = {'name': sp.get('name', ''), 'port': number, 'protocol': sp.get('protocol', 'TCP')}
        if sp.get('appProtocol'):
            port['appProtocol'] = sp['appProtocol']
        ports.append(port)
    return {
        'apiVersion': 'discovery.k8s.io/v1',
        'kind': 'EndpointSlice',
        'metadata': {'name': name, 'namespace': ns,
                     'labels': {SERVICE_NAME_LABEL: svc_name,
                                'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io'}},
        'addressType': 'IPv4',
        'endpoints': [endpoint(p, ready(p)) for p in matching],
        'ports': ports,
    }


def ip_family(ip):
    return 'IPv6' if ':' in ip else 'IPv4'


def fill_slice_from_pods(slice_obj, pods, ready=lambda pod: True):
    """endpointSlicesFromPods for one slice: a new slice object, or None to leave it unchanged."""
    family = slice_obj.get('addressType', 'IPv4')
    eligible = [p for p in pods if ip_family(p.ip) == family]
    if not eligible:
        return None
    out = dict(slice_obj)
    out['endpoints'] = [endpoint(p, ready(p)) for p in eligible]
    return out
