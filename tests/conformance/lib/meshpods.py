"""The mesh set-up's workloads (FORMAT.md section 7, "Mesh echo"): every Pod of a Deployment
that runs the mesh echo gets a network namespace of its own (lib/netns.py) and runs torii-echo in
Istio mode there, with its container's arguments, so that its address is a real one the mesh can
redirect traffic from and the requests of `mesh` steps leave from inside it.

Pod addresses come from the Pod range (10.244.0.2 upward, MeshIPs); a Pod is Ready once each of
its HTTP, gRPC and TCP ports accepts a connection from the node's namespace.
"""
import os
import subprocess
import sys

from . import netns
from .wait import until_all

MESH_IMAGE = 'gateway-api/echo-advanced'
READY_TIMEOUT_S = 10


def is_mesh_echo(containers):
    """Whether a Deployment's containers are the mesh echo (Istio's echo app)."""
    return any(MESH_IMAGE in (c.get('image') or '') for c in containers or [])


class MeshIPs:
    """Pod addresses in namespace order, for lib/pods.PodFactory."""

    def __init__(self):
        self.n = 0

    def next(self):
        ip = netns.pod_ip(self.n)
        self.n += 1
        return ip


def echo_args(containers, certs_dir):
    """The echo's command-line arguments from the mesh container's, its certificate and key
    files (baked into the upstream image) replaced by ours; no arguments (the consumer echo)
    means Istio's defaults, which torii-echo gives with --istio."""
    args = []
    for c in containers or []:
        if MESH_IMAGE in (c.get('image') or ''):
            args = list(c.get('args') or [])
            break
    out = []
    for a in args:
        if a.startswith('--crt='):
            out.append('--crt=' + os.path.join(certs_dir, 'echo.crt'))
        elif a.startswith('--key='):
            out.append('--key=' + os.path.join(certs_dir, 'echo.key'))
        else:
            out.append(a)
    return out or ['--istio']


def listening_ports(args):
    """The plain ports the echo serves (HTTP, gRPC, TCP): Istio's defaults where a list is not
    given; TLS ports are left out (not probed)."""
    vals = {'--port': [], '--grpc': [], '--tcp': [], '--tls': []}
    for a in args:
        name, _, v = a.partition('=')
        if name in vals and v.isdigit():
            vals[name].append(int(v))
    ports = (vals['--port'] or [8080]) + (vals['--grpc'] or [7070]) + (vals['--tcp'] or [9090])
    return [p for p in ports if p not in vals['--tls']]


def make_cert(certs_dir):
    """A self-signed certificate and key for the echo's TLS ports (nothing checks them)."""
    crt, key = os.path.join(certs_dir, 'echo.crt'), os.path.join(certs_dir, 'echo.key')
    if not os.path.exists(crt):
        os.makedirs(certs_dir, exist_ok=True)
        subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
                        '-keyout', key, '-out', crt, '-days', '2', '-subj', '/CN=echo'],
                       check=True, capture_output=True, timeout=30)


class MeshPods:
    """The mesh echoes of a run, each in its Pod's namespace of topology."""

    def __init__(self, topology, echo, workdir):
        self.t = topology
        self.echo = echo
        self.workdir = workdir
        self.procs = {}  # pod key -> (Popen, ports, log file)

    @staticmethod
    def key(pod):
        return f'{pod.namespace}/{pod.name}'

    def start(self, pod):
        """A namespace for pod (at pod.ip) and its echo."""
        k = self.key(pod)
        if k in self.procs:
            return
        self.t.add_pod(k, ip=pod.ip)
        certs = os.path.join(self.workdir, 'certs')
        make_cert(certs)
        args = echo_args(pod.containers, certs)
        env = dict(os.environ, POD_NAME=pod.name, NAMESPACE=pod.namespace, BIND_ADDRESS='0.0.0.0')
        logdir = os.path.join(self.workdir, 'pods', f'{pod.namespace}_{pod.name}')
        os.makedirs(logdir, exist_ok=True)
        log = open(os.path.join(logdir, 'log'), 'w')
        p = subprocess.Popen(self.t.argv(k, [self.echo, *args]), env=env, stdin=subprocess.DEVNULL, stdout=log,
                             stderr=subprocess.STDOUT)
        self.procs[k] = (p, listening_ports(args), log)

    def serving(self, pod):
        """Whether every plain port of pod's echo accepts a connection from the node."""
        entry = self.procs.get(self.key(pod))
        if not entry or entry[0].poll() is not None:
            return False
        probe = 'import socket,sys\nfor p in sys.argv[2:]:\n socket.create_connection((sys.argv[1], int(p)), 1).close()'
        r = subprocess.run(['ip', 'netns', 'exec', self.t.node, sys.executable, '-c', probe, pod.ip,
                            *[str(p) for p in entry[1]]], capture_output=True, timeout=10)
        return r.returncode == 0

    def wait_ready(self, pods, timeout_s=READY_TIMEOUT_S):
        return not until_all(pods, self.serving, timeout_s, 0.05)

    def sync(self, pods):
        """Run exactly these Pods' echoes (a Pod that goes keeps its namespace until the run
        ends); waits (bounded) until the new ones serve."""
        wanted = {self.key(p): p for p in pods}
        for k in [k for k in self.procs if k not in wanted]:
            p, _, log = self.procs.pop(k)
            if p.poll() is None:
                p.kill()
                p.wait()
            log.close()
        new = [p for k, p in wanted.items() if k not in self.procs]
        for p in new:
            self.start(p)
        self.wait_ready(new)

    def netns_path(self, pod):
        """The path of pod's network namespace (what the mesh.torii.dev/netns annotation holds)."""
        return '/run/netns/' + self.t.netns(self.key(pod))

    def client_argv(self, pod, argv):
        """argv run inside pod's namespace."""
        return self.t.argv(self.key(pod), argv)

    def stop(self):
        for p, _, log in self.procs.values():
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            log.close()
        self.procs = {}


def first_pod(pods, namespace, deployment):
    """The Pod a step names by NAMESPACE/DEPLOYMENT: its Deployment's first."""
    for p in pods:
        if p.namespace == namespace and p.deployment == deployment:
            return p
    return None

