"""Starting torii and reading status from its admin endpoint."""
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

from .kube import CLUSTER_KINDS


class ToriiError(Exception):
    fatal = False


class ToriiDead(ToriiError):
    """torii has exited: waiting any longer is pointless."""
    fatal = True


def free_port(host='127.0.0.1'):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Admin:
    """GET access to torii's admin endpoint: /readyz, /status, /status/<Kind>/<ns>/<name>."""

    def __init__(self, address, timeout=5.0):
        self.base = f'http://{address}'
        self.timeout = timeout

    def _get(self, path):
        """(status code, body bytes); raises ToriiError when nothing answers."""
        try:
            with urllib.request.urlopen(self.base + path, timeout=self.timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()
        except (urllib.error.URLError, OSError) as e:
            raise ToriiError(f'admin {self.base}{path}: {getattr(e, "reason", e)}') from None

    def ready(self):
        try:
            return self._get('/readyz')[0] == 200
        except ToriiError:
            return False

    def get(self, kind, namespace, name):
        """One object as torii holds it, or None when torii does not have it."""
        q = urllib.parse.quote
        path = f'/status/{q(kind)}/{q(name)}' if kind in CLUSTER_KINDS or not namespace \
            else f'/status/{q(kind)}/{q(namespace)}/{q(name)}'
        code, body = self._get(path)
        if code == 404:
            return None
        if code != 200:
            raise ToriiError(f'admin GET {path}: HTTP {code}: {body[:200]!r}')
        return json.loads(body)

    def list(self):
        code, body = self._get('/status')
        if code != 200:
            raise ToriiError(f'admin GET /status: HTTP {code}: {body[:200]!r}')
        return json.loads(body).get('items') or []


class AdminReader:
    """Objects and their status as torii reports them on its admin endpoint (file mode)."""

    def __init__(self, torii):
        self.torii = torii

    def get(self, kind, ns, name):
        return self.torii.admin.get(kind, ns, name)

    def list(self, kinds, namespace='', selector=None):
        """The objects of these kinds (in namespace, when given); selector is left to the caller."""
        return [o for o in self.torii.admin.list() if o.get('kind') in kinds
                and (not namespace or (o.get('metadata') or {}).get('namespace') == namespace)]


# The XMesh torii installs for the run when it is the mesh.
MESH_NAME = 'torii-mesh'


def file_source(config_dir, class_name, mesh_cidr=None):
    """torii's arguments in file mode: the config directory, and the suite's GatewayClass
    installed by torii itself (there is no API server to hold one); with mesh_cidr, torii is the
    mesh too, for the workloads' connections to that range (docs/mesh.md)."""
    return ['--config', config_dir, '--gatewayclass', class_name] + (['--mesh', MESH_NAME, '--mesh-cidr', mesh_cidr]
                                                                      if mesh_cidr else [])


def kube_source(kubeconfig, address_pool, mesh_cidr=None):
    """torii's arguments in --kube mode: the API server, one replica (no Lease), and Gateways on
    local addresses that torii binds itself, as in file mode; with mesh_cidr, the mesh too."""
    return ['--kubeconfig', kubeconfig, '--leader-elect', 'false', '--address-pool', address_pool] + (
        ['--mesh', MESH_NAME, '--mesh-cidr', mesh_cidr] if mesh_cidr else [])


class Torii:
    """A torii process reading its objects from source_args (file_source or kube_source)."""

    def __init__(self, binary, source_args, log_path, log_level='warn'):
        self.binary = binary
        self.source_args = list(source_args)
        self.log_path = log_path
        self.log_level = log_level
        self.proc = None
        self.admin = None

    def start(self, ready_timeout=30.0):
        if not os.access(self.binary, os.X_OK):
            raise ToriiError(f'{self.binary} is not an executable (build torii first, or pass --torii)')
        address = f'127.0.0.1:{free_port()}'
        # torii drains when stop() sends SIGTERM. Draining is tests/drain/run's: here the
        # listeners close at once, and what is left in flight is cut after 1 s, not 20.
        cmd = [self.binary, 'run', *self.source_args, '--admin', address, '--log-level', self.log_level,
               '--drain-delay', '0s', '--drain-grace', '1s']
        log = open(self.log_path, 'ab')
        try:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        finally:
            log.close()
        self.admin = Admin(address)
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ToriiError(f'torii exited with status {self.proc.returncode} at start-up; '
                                 f'log: {self.log_tail()}')
            if self.admin.ready():
                return
            time.sleep(0.05)
        self.stop()
        raise ToriiError(f'torii not ready after {ready_timeout:.0f} s; log: {self.log_tail()}')

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self):
        if not self.alive():
            code = None if self.proc is None else self.proc.returncode
            raise ToriiDead(f'torii is not running (exit status {code}); log: {self.log_tail()}')

    def stop(self):
        """Stops torii (SIGTERM: a quick drain). Returns why its end was not clean (an exit
        status other than 0, a sanitizer report in its log), or None."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return 'did not exit within 5 s of SIGTERM'
        try:
            with open(self.log_path, 'rb') as f:
                text = f.read().decode(errors='replace')
        except OSError:
            text = ''
        if 'Sanitizer' in text or 'runtime error:' in text:
            return 'a sanitizer report in its log'
        if self.proc.returncode != 0:
            return f'exited with status {self.proc.returncode}'
        return None

    def log_tail(self, chars=600):
        try:
            with open(self.log_path, 'rb') as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - chars))
                return f.read().decode(errors='replace').strip().replace('\n', ' | ') or '(empty)'
        except OSError:
            return '(no log)'

    def version(self):
        try:
            out = subprocess.run([self.binary, 'version'], capture_output=True, text=True, timeout=5).stdout
        except (OSError, subprocess.SubprocessError):
            return 'unknown'
        parts = out.split()
        return parts[1] if len(parts) > 1 else 'unknown'
