"""Traffic steps (FORMAT.md section 5) and the backends that answer them.

This is the single place where backends are started for the made-up Pods (backends.py: torii-echo
per echo Pod, a DNS responder for the coredns Pod) and where traffic steps are played
(traffic_http.py, traffic_grpc.py, traffic_l4.py). Everything goes to loopback addresses only.

With --status-only nothing is started, every made-up Pod counts as Ready and traffic steps are not
run (they count as held). The mesh's workloads (Pods of the mesh echo) run in network namespaces of
their own (lib/meshpods.py), made when the first one starts, and mesh steps are sent from there
(traffic_mesh.py).
"""
import os

from . import meshpods, netns
from .backends import Backends
from .status import Outcome
from .traffic_common import TrafficError, write_file
from .traffic_grpc import GrpcSteps
from .traffic_http import Curl, HttpSteps
from .traffic_l4 import L4Steps
from .traffic_mesh import MeshSteps

TRAFFIC_STEPS = {
    'http', 'httpWeights', 'httpNot200', 'httpsRequestError', 'httpRetry', 'httpHeaderMatchesPod',
    'httpMirrorPercentage', 'websocket', 'grpc', 'grpcWeights', 'tlsRejected', 'tcp', 'tcpWeights', 'udp',
    'udpWeights', 'mesh', 'meshWeights',
}


class DataPlane:
    def __init__(self, status_only, certs, workdir, echo=None, lookup=None):
        self.status_only = status_only
        self.certs = certs          # certs.CertStore: server/client certificates for TLS steps
        self.workdir = workdir
        self.echo = echo            # the torii-echo binary
        self.lookup = lookup or (lambda key: None)   # key -> applied object (Secrets, ConfigMaps, Deployments)
        self.backends = None
        self.curl = None
        self.steps = {}
        self.topology = None    # lib/netns.Topology of the mesh's workloads, once one runs
        self.meshpods = None
        if not status_only:
            self.backends = Backends(echo, os.path.join(workdir, 'pods'), lambda key: self.lookup(key))
            self.curl = Curl(workdir)
            for group in (HttpSteps(self), GrpcSteps(self), L4Steps(self), MeshSteps(self)):
                for name in TRAFFIC_STEPS:
                    if hasattr(group, name):
                        self.steps[name] = getattr(group, name)

    # -- backends ----------------------------------------------------------------------------------

    def start_backends(self, pods):
        """Start (or stop) backends so that exactly these Pods are served; returns once the new
        ones accept connections (or a bounded wait passed)."""
        if self.backends is None:
            return
        mesh = [p for p in pods if meshpods.is_mesh_echo(p.containers)]
        self.backends.sync([p for p in pods if not meshpods.is_mesh_echo(p.containers)])
        if mesh and self.meshpods is None and not netns.available():
            self.topology = netns.Topology()
            self.meshpods = meshpods.MeshPods(self.topology, self.echo, os.path.join(self.workdir, 'mesh'))
        if self.meshpods is not None:
            self.meshpods.sync(mesh)

    def serving(self, pod):
        """Whether a Pod counts as Ready (namespacesReady part b): with --status-only always, else
        once its backend's ports accept connections."""
        if self.backends is None:
            return True
        if meshpods.is_mesh_echo(pod.containers):
            return self.meshpods is not None and self.meshpods.serving(pod)
        return self.backends.serving(pod)

    def mesh_netns(self, pod):
        """The network namespace path of a mesh workload's Pod, or None (not running in one)."""
        if self.meshpods is None or not meshpods.is_mesh_echo(pod.containers):
            return None
        return self.meshpods.netns_path(pod)

    def log_lines(self, ctx, namespace, app, since):
        """Output lines since `since` (epoch s) of every Pod labelled app=<app> in namespace."""
        pods = [p for p in ctx.suite.pods.pods(namespace) if p.labels.get('app') == app]
        return self.backends.log_lines(pods, since)

    # -- what steps need ---------------------------------------------------------------------------

    def certificate(self, name):
        """'Its certificate' of a secrets entry (section 8), PEM."""
        try:
            return self.certs.certificate(name)
        except KeyError:
            raise TrafficError(f'no run-time certificate {name} (not in the secrets of _base.yaml or the case)') from None

    def client_cert_files(self, name):
        """(cert path, key path) of a Secret's tls.crt / tls.key, for the client to offer."""
        try:
            cert, key = self.certs.pems[name]
        except KeyError:
            raise TrafficError(f'no run-time certificate {name}') from None
        d = os.path.join(self.workdir, 'client-certs')
        stem = name.replace('/', '_')
        return write_file(d, stem + '.crt', cert), write_file(d, stem + '.key', key)

    @staticmethod
    def scale(ctx):
        return ctx.suite.waiter.scale

    # -- steps -------------------------------------------------------------------------------------

    def run(self, step_type, body, ctx):
        """Play one traffic step; ctx (player.CaseRun) gives the remembered Gateway addresses, the
        Pods and the waiting scale."""
        if self.status_only:
            return Outcome(True, 'not run (--status-only)')
        handler = self.steps.get(step_type)
        if handler is None:
            return Outcome(False, f'{step_type} steps are not implemented (mesh)', fatal=True)
        try:
            return handler(body, ctx)
        except TrafficError as e:
            return Outcome(False, str(e), fatal=True)
        except Exception as e:  # noqa: BLE001 - a runner bug must not take the run down
            return Outcome(False, f'{type(e).__name__}: {e}', fatal=True)

    def stop(self):
        if self.backends is not None:
            self.backends.stop()
        if self.meshpods is not None:
            self.meshpods.stop()
        if self.topology is not None:
            self.topology.close()
