"""The processes behind the made-up Pods (FORMAT.md section 7).

Each Pod of an echo Deployment (image echo-basic) runs `torii-echo` bound to the Pod's loopback
IP (BIND_ADDRESS) with the environment its container spec gives: literal values, the Pod's own
fields (fieldRef), values from Secrets and ConfigMaps (secretKeyRef, configMapKeyRef), and paths
under volume mounts rewritten to files the runner writes from the Secrets and ConfigMaps the
Deployment mounts. Its stdout and stderr are kept, line by line with the time they arrived, in
memory and in <work>/pods/<namespace>_<pod>/log (mirroring steps read them).

The coredns Pod of the DNS form gets a small DNS responder thread on <pod IP>:53/udp that answers
like coredns's whoami plugin. Other images (the mesh's echo) are not run.
"""
import base64
import ctypes
import os
import posixpath
import re
import signal
import socket
import subprocess
import sys
import threading
import time

from .traffic_common import check_loopback
from .wait import until_all
from .traffic_l4 import DNSError, dns_whoami_reply

READY_TIMEOUT = 10.0
ECHO_IMAGE = re.compile(r'(^|/)echo-basic(:|@|$)')
DNS_IMAGE = re.compile(r'(^|/)coredns(:|@|$)')


class BackendError(Exception):
    pass


# -- what a container is given (pure) -------------------------------------------------------------------

def _decoded(obj, key):
    """The value of key in a Secret (data base64, stringData plain) or ConfigMap (data, binaryData)."""
    if obj is None:
        return None
    if obj.get('kind') == 'Secret':
        if key in (obj.get('stringData') or {}):
            return str(obj['stringData'][key]).encode()
        if key in (obj.get('data') or {}):
            return base64.b64decode(obj['data'][key])
        return None
    if key in (obj.get('data') or {}):
        return str(obj['data'][key]).encode()
    if key in (obj.get('binaryData') or {}):
        return base64.b64decode(obj['binaryData'][key])
    return None


def _keys(obj):
    if obj is None:
        return []
    if obj.get('kind') == 'Secret':
        return list(dict.fromkeys(list((obj.get('data') or {})) + list((obj.get('stringData') or {}))))
    return list(dict.fromkeys(list((obj.get('data') or {})) + list((obj.get('binaryData') or {}))))


def volume_files(volumes, mounts, namespace, lookup):
    """{mountPath: {relative path: bytes}} for the Secret and ConfigMap volumes a container mounts.

    lookup(key) -> the object applied under key (kind, namespace, name), or None."""
    by_name = {v.get('name'): v for v in volumes or []}
    out = {}
    for m in mounts or []:
        vol = by_name.get(m.get('name'))
        if vol is None:
            raise BackendError(f'volume mount {m.get("name")} names no volume')
        if 'secret' in vol:
            src, kind, name = vol['secret'], 'Secret', vol['secret'].get('secretName')
        elif 'configMap' in vol:
            src, kind, name = vol['configMap'], 'ConfigMap', vol['configMap'].get('name')
        else:
            out[m['mountPath']] = {}          # emptyDir and the like: an empty directory
            continue
        obj = lookup((kind, namespace, name))
        if obj is None and not src.get('optional'):
            raise BackendError(f'{kind} {namespace}/{name} mounted at {m["mountPath"]} does not exist')
        files = {}
        items = src.get('items')
        for item in items if items is not None else [{'key': k, 'path': k} for k in _keys(obj)]:
            data = _decoded(obj, item['key'])
            if data is None:
                raise BackendError(f'{kind} {namespace}/{name} has no key {item["key"]}')
            files[item.get('path', item['key'])] = data
        sub = m.get('subPath')
        if sub:
            files = {'': files[sub]} if sub in files else {}
        out[m['mountPath']] = files
    return out


def rewrite_path(value, mounts):
    """A container path under a mount point -> the runner's copy (mounts: {mountPath: host dir})."""
    for mount, host in sorted(mounts.items(), key=lambda kv: -len(kv[0])):
        mount = mount.rstrip('/') or '/'
        if value == mount:
            return host
        if value.startswith(mount + '/'):
            return os.path.join(host, value[len(mount) + 1:])
    return value


def container_env(container, pod, lookup, mounts):
    """The environment a container spec gives (env list, in order; envFrom first as Kubernetes does).

    mounts: {mountPath: host dir}, used to rewrite values that are paths under a mount."""
    env = {}
    field = {'metadata.name': pod.name, 'metadata.namespace': pod.namespace, 'status.podIP': pod.ip,
             'status.podIPs': pod.ip, 'status.hostIP': '127.0.0.1', 'spec.nodeName': pod.node,
             'metadata.uid': pod.uid, 'spec.serviceAccountName': 'default'}
    for src in container.get('envFrom') or []:
        ref = src.get('secretRef') or src.get('configMapRef')
        kind = 'Secret' if 'secretRef' in src else 'ConfigMap'
        obj = lookup((kind, pod.namespace, (ref or {}).get('name')))
        for k in _keys(obj):
            env[src.get('prefix', '') + k] = _decoded(obj, k).decode(errors='replace')
    for e in container.get('env') or []:
        name = e['name']
        if 'value' in e:
            env[name] = rewrite_path(str(e['value']), mounts)
            continue
        vf = e.get('valueFrom') or {}
        if 'fieldRef' in vf:
            path = vf['fieldRef'].get('fieldPath', '')
            m = re.match(r"metadata\.labels\['(.+)'\]$", path)
            env[name] = pod.labels.get(m.group(1), '') if m else field.get(path, '')
        elif 'secretKeyRef' in vf or 'configMapKeyRef' in vf:
            ref = vf.get('secretKeyRef') or vf.get('configMapKeyRef')
            kind = 'Secret' if 'secretKeyRef' in vf else 'ConfigMap'
            data = _decoded(lookup((kind, pod.namespace, ref.get('name'))), ref.get('key'))
            if data is None and not ref.get('optional'):
                raise BackendError(f'env {name}: {kind} {pod.namespace}/{ref.get("name")} key {ref.get("key")} missing')
            if data is not None:
                env[name] = data.decode(errors='replace')
        elif 'resourceFieldRef' in vf:
            env[name] = '0'
    return env


def echo_ports(env):
    """(tcp ports, udp ports) the echo listens on with this environment (its defaults as in
    tools/echo/main.c: the mode is the first non-empty GRPC_/TCP_/UDP_ECHO_SERVER)."""
    get = lambda k, d: env.get(k) or d
    tls = bool(env.get('TLS_SERVER_CERT')) and bool(env.get('TLS_SERVER_PRIVKEY') or env.get('TLS_SERVER_PRIV_KEY'))
    if env.get('GRPC_ECHO_SERVER'):
        return [int(get('HTTP_PORT', 3000))] + ([int(get('HTTPS_PORT', 8443))] if tls else []), []
    if env.get('TCP_ECHO_SERVER'):
        return [int(get('TCP_PORT', 3000))] + ([int(get('TLS_PORT', 8443))] if tls else []), []
    if env.get('UDP_ECHO_SERVER'):
        return [], [int(get('UDP_PORT', 8080))]
    return [int(get('HTTP_PORT', 3000)), int(get('H2C_PORT', 3001))] + \
        ([int(get('HTTPS_PORT', 8443))] if tls else []), []


def image_kind(container):
    image = container.get('image') or ''
    if ECHO_IMAGE.search(image):
        return 'echo'
    if DNS_IMAGE.search(image):
        return 'dns'
    return ''


# -- running ---------------------------------------------------------------------------------------------

class Log:
    """A Pod's output lines with their arrival time, also appended to a file."""

    def __init__(self, path):
        self.path = path
        self.lines = []          # [(time.time(), str)]
        self.lock = threading.Lock()
        self.file = open(path, 'a', buffering=1)

    def add(self, line):
        with self.lock:
            self.lines.append((time.time(), line))
            if not self.file.closed:
                self.file.write(line + '\n')

    def close(self):
        with self.lock:
            self.file.close()

    def since(self, t):
        with self.lock:
            return [ln for ts, ln in self.lines if ts >= t]


try:     # looked up in the parent: the child between fork and exec only calls it
    _PRCTL = ctypes.CDLL(None).prctl
except (OSError, AttributeError):
    _PRCTL = None


def _die_with_parent():
    """In the child: get SIGTERM when the runner's thread that started it dies (Linux), so no echo
    outlives a killed run. Backends are started from the runner's main thread."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM)   # PR_SET_PDEATHSIG


class EchoBackend:
    def __init__(self, pod, binary, env, root):
        self.pod = pod
        self.log = Log(os.path.join(root, 'log'))
        self.tcp_ports, self.udp_ports = echo_ports(env)
        self.ready = False
        self.error = ''
        full_env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), **env}
        self.proc = subprocess.Popen([binary], env=full_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, cwd=root, preexec_fn=_die_with_parent)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            self.log.add(raw.decode(errors='replace').rstrip('\r\n'))

    def alive(self):
        return self.proc.poll() is None

    def probe(self):
        """Whether every port accepts (TCP: a connection; UDP: the echo logged its socket bound)."""
        if not self.alive():
            self.error = f'torii-echo exited with status {self.proc.returncode}: ' + \
                ' | '.join(ln for _, ln in self.log.lines[-3:])
            return False
        for port in self.tcp_ports:
            try:
                with socket.create_connection((self.pod.ip, port), timeout=0.5):
                    pass
            except OSError:
                return False
        if self.udp_ports and not any('UDP server listening' in ln for _, ln in self.log.lines):
            return False
        return True

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(timeout=2)
        self.log.close()


class DNSBackend:
    """coredns's whoami answers on <pod IP>:53/udp, from a thread."""

    def __init__(self, pod, root, port=53):
        self.pod = pod
        self.log = Log(os.path.join(root, 'log'))
        self.error = ''
        self.ready = False
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((check_loopback(pod.ip), port))
        self.sock.settimeout(0.2)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        self.log.add(f'DNS (whoami) listening on {pod.ip}:{port}/udp')

    def _serve(self):
        while not self.stopping.is_set():
            try:
                data, addr = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                break
            try:
                self.sock.sendto(dns_whoami_reply(data, addr[0], addr[1]), addr)
                self.log.add(f'answered a query from {addr[0]}:{addr[1]}')
            except (DNSError, OSError) as e:
                self.log.add(f'bad query from {addr[0]}:{addr[1]}: {e}')

    def alive(self):
        return self.thread.is_alive()

    def probe(self):
        return self.alive()

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=2)
        self.sock.close()
        self.log.close()


class Backends:
    """The running backends, one per made-up Pod."""

    def __init__(self, binary, root, lookup):
        self.binary = binary
        self.root = root
        self.lookup = lookup           # key -> applied object (Secrets, ConfigMaps, Deployments)
        self.running = {}              # pod name -> backend
        self.failed = {}               # pod name -> why it could not start
        self.skipped = set()           # pods whose image the runner does not run
        self.lock = threading.Lock()

    def _pod_root(self, pod):
        path = os.path.join(self.root, f'{pod.namespace}_{pod.name}')
        os.makedirs(path, exist_ok=True)
        return path

    def _materialize(self, pod, container, root):
        dep = self.lookup(('Deployment', pod.namespace, pod.deployment)) or {}
        volumes = ((((dep.get('spec') or {}).get('template') or {}).get('spec') or {}).get('volumes') or [])
        files = volume_files(volumes, container.get('volumeMounts'), pod.namespace, self.lookup)
        mounts = {}
        for i, (mount, entries) in enumerate(sorted(files.items())):
            host = os.path.join(root, 'volumes', str(i))
            os.makedirs(host, exist_ok=True)
            for rel, data in entries.items():
                rel = posixpath.normpath(rel) if rel else ''
                if rel.startswith('..') or rel.startswith('/'):
                    raise BackendError(f'volume item path {rel!r} leaves the mount')
                path = os.path.join(host, rel) if rel else host + '.file'
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, 'wb') as f:
                    f.write(data)
                if not rel:
                    host = path
            mounts[mount] = host
        return mounts

    def start(self, pod):
        containers = pod.containers or []
        kinds = [(c, image_kind(c)) for c in containers]
        run = [(c, k) for c, k in kinds if k]
        if not run:
            self.skipped.add(pod.name)
            return None
        container, kind = run[0]
        root = self._pod_root(pod)
        check_loopback(pod.ip)
        if kind == 'dns':
            return DNSBackend(pod, root)
        mounts = self._materialize(pod, container, root)
        env = container_env(container, pod, self.lookup, mounts)
        env['POD_NAME'] = pod.name
        env['NAMESPACE'] = pod.namespace
        env['BIND_ADDRESS'] = pod.ip
        if pod.service_name and 'SERVICE_NAME' not in env:
            env['SERVICE_NAME'] = pod.service_name
        return EchoBackend(pod, self.binary, env, root)

    def sync(self, pods):
        """Run exactly these Pods' backends; waits (bounded) until the new ones are ready."""
        wanted = {p.name: p for p in pods}
        with self.lock:
            for name in [n for n in self.running if n not in wanted]:
                self.running.pop(name).stop()
            for name in [n for n in self.failed if n not in wanted]:
                del self.failed[name]
            self.skipped &= set(wanted)
            new = []
            for name, pod in wanted.items():
                if name in self.running or name in self.failed or name in self.skipped:
                    continue
                try:
                    b = self.start(pod)
                except (BackendError, OSError, KeyError, ValueError) as e:
                    self.failed[name] = f'{type(e).__name__}: {e}'
                    print(f'warning: cannot start the backend of Pod {pod.namespace}/{name}: {self.failed[name]}',
                          file=sys.stderr, flush=True)
                    continue
                if b is not None:
                    self.running[name] = b
                    new.append(b)
        for b in until_all(new, self._probe, READY_TIMEOUT, 0.02):
            print(f'warning: the backend of Pod {b.pod.namespace}/{b.pod.name} is not ready after '
                  f'{READY_TIMEOUT:g} s: {self.why_not(b.pod)}', file=sys.stderr, flush=True)

    def _probe(self, b):
        if b.ready:
            return True
        b.ready = b.probe()
        return b.ready

    def serving(self, pod):
        b = self.running.get(pod.name)
        if b is None:
            return False
        if not b.alive():
            b.ready = False
            return False
        return self._probe(b)

    def why_not(self, pod):
        if pod.name in self.failed:
            return self.failed[pod.name]
        if pod.name in self.skipped:
            return 'image not run by the runner'
        b = self.running.get(pod.name)
        if b is None:
            return 'not started'
        return b.error or 'ports not accepting connections'

    def log_lines(self, pods, since):
        out = []
        for p in pods:
            b = self.running.get(p.name)
            if b is not None:
                out += b.log.since(since)
        return out

    def stop(self):
        with self.lock:
            for b in self.running.values():
                b.stop()
            self.running.clear()
