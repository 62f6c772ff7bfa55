"""--kube mode: the runner's side of a Kubernetes API server.

The runner applies objects with create / replace / delete requests (ApiSink, the API-server
counterpart of configdir.ConfigDir), reads objects and their status back with GET and LIST
(ApiReader), and can start the project's fake API server (tests/kube/fakeapi.py) for the run
(FakeAPIServer). Kinds, their API paths and scopes come from discovery, as kubectl finds them.
Only the standard library: the requests are JSON over one kept-alive HTTPS connection.
"""
import base64
import copy
import dataclasses
import http.client
import json
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

import yaml

from .configdir import REVISION_ANNOTATION
from .kube import TORII_KINDS, fmt_key

# What torii keeps of these kinds is their data, not their metadata (it drops their annotations),
# and only the keys the Gateway API gives a meaning (certificates, keys, CA bundles): one without
# any of them is of no use to torii, which does not keep it at all.
DATA_KINDS = {'Secret', 'ConfigMap'}
GATEWAY_DATA_KEYS = {'tls.crt', 'tls.key', 'ca.crt'}
NAMESPACE_GONE_TIMEOUT = 30.0   # seconds a deleted Namespace may take to drain (the fake: about 0.5 s)


class ApiError(Exception):
    def __init__(self, what, code=0, body=None):
        msg = (body or {}).get('message') if isinstance(body, dict) else None
        super().__init__(f'{what}: HTTP {code}' + (f': {msg}' if msg else '') if code else what)
        self.code = code
        self.body = body


# -- kubeconfig ---------------------------------------------------------------------------------------

@dataclasses.dataclass
class Credentials:
    server: str
    ssl_context: object = None      # ssl.SSLContext for https
    token: str = ''
    token_file: str = ''

    def bearer(self):
        if self.token_file:
            with open(self.token_file) as f:
                return f.read().strip()
        return self.token


def _file_or_data(entry, key, base_dir, tmp):
    """The path of a kubeconfig's KEY or KEY-data (written to a file under tmp), or ''."""
    if entry.get(key + '-data'):
        fd, path = tempfile.mkstemp(dir=tmp, suffix='.pem')
        with os.fdopen(fd, 'wb') as f:
            f.write(base64.b64decode(entry[key + '-data']))
        return path
    if entry.get(key):
        return entry[key] if os.path.isabs(entry[key]) else os.path.join(base_dir, entry[key])
    return ''


def load_kubeconfig(path, tmp):
    """The current context's server and credentials: CA (file or data), bearer token (inline or
    tokenFile) or client certificate. Enough for a test API server; exec plugins are torii's
    business, not the runner's."""
    with open(path) as f:
        cfg = yaml.safe_load(f) or {}
    base_dir = os.path.dirname(os.path.abspath(path))
    by_name = lambda section, name: next((e.get(section[:-1]) or {} for e in cfg.get(section) or []  # noqa: E731
                                          if e.get('name') == name), None)
    ctx = by_name('contexts', cfg.get('current-context'))
    if ctx is None:
        raise ApiError(f'{path}: no current context')
    cluster = by_name('clusters', ctx.get('cluster')) or {}
    user = by_name('users', ctx.get('user')) or {}
    server = cluster.get('server', '').rstrip('/')
    if not server:
        raise ApiError(f'{path}: the current context has no server')
    creds = Credentials(server=server, token=user.get('token', ''), token_file=user.get('tokenFile', ''))
    if server.startswith('https://'):
        ca = _file_or_data(cluster, 'certificate-authority', base_dir, tmp)
        if cluster.get('insecure-skip-tls-verify'):
            c = ssl.create_default_context()
            c.check_hostname = False
            c.verify_mode = ssl.CERT_NONE
        else:
            c = ssl.create_default_context(cafile=ca or None)
        cert = _file_or_data(user, 'client-certificate', base_dir, tmp)
        if cert:
            c.load_cert_chain(cert, _file_or_data(user, 'client-key', base_dir, tmp) or None)
        creds.ssl_context = c
    return creds


# -- requests -----------------------------------------------------------------------------------------

class Client:
    """JSON requests over one kept-alive connection (reopened when the server closes it)."""

    def __init__(self, creds, timeout=30.0):
        self.creds = creds
        self.timeout = timeout
        u = urllib.parse.urlsplit(creds.server)
        self.https = u.scheme == 'https'
        self.host, self.port = u.hostname, u.port or (443 if self.https else 80)
        self.conn = None
        self.lock = threading.Lock()

    def _connect(self):
        if self.https:
            return http.client.HTTPSConnection(self.host, self.port, context=self.creds.ssl_context,
                                               timeout=self.timeout)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def request(self, method, path, body=None, ctype='application/json'):
        """(status code, decoded JSON body or None)."""
        data = None if body is None else json.dumps(body).encode()
        headers = {'Accept': 'application/json', 'User-Agent': 'torii-conformance-runner'}
        token = self.creds.bearer()
        if token:
            headers['Authorization'] = 'Bearer ' + token
        if data is not None:
            headers['Content-Type'] = ctype
        with self.lock:
            for attempt in range(2):
                if self.conn is None:
                    self.conn = self._connect()
                try:
                    self.conn.request(method, path, data, headers)
                    r = self.conn.getresponse()
                    raw = r.read()
                    break
                except (http.client.HTTPException, ConnectionError, ssl.SSLError, OSError) as e:
                    self.conn.close()
                    self.conn = None
                    if attempt:
                        raise ApiError(f'{method} {path}: {type(e).__name__}: {e}') from None
            if r.getheader('Connection', '').lower() == 'close':
                self.conn.close()
                self.conn = None
        try:
            out = json.loads(raw) if raw else None
        except ValueError:
            out = {'message': raw[:200].decode(errors='replace')}
        return r.status, out

    def close(self):
        with self.lock:
            if self.conn is not None:
                self.conn.close()
                self.conn = None


@dataclasses.dataclass
class Resource:
    kind: str
    group_version: str     # 'v1', 'apps/v1', 'gateway.networking.k8s.io/v1'
    plural: str
    namespaced: bool
    status: bool           # has a status subresource


def discover(client):
    """{kind: Resource} of every kind the API server serves, the first version its group prefers."""
    out = {}

    def read_list(gv):
        code, body = client.request('GET', ('/api/' if '/' not in gv else '/apis/') + gv)
        if code != 200:
            raise ApiError(f'discovery of {gv}', code, body)
        res = body.get('resources') or []
        subs = {r['name'] for r in res if '/' in r['name']}
        for r in res:
            if '/' in r['name'] or r['kind'] in out:
                continue
            out[r['kind']] = Resource(r['kind'], gv, r['name'], bool(r.get('namespaced')),
                                      r['name'] + '/status' in subs)

    code, core = client.request('GET', '/api')
    if code != 200:
        raise ApiError('discovery /api', code, core)
    for v in core.get('versions') or []:
        read_list(v)
    code, groups = client.request('GET', '/apis')
    if code != 200:
        raise ApiError('discovery /apis', code, groups)
    for g in groups.get('groups') or []:
        preferred = (g.get('preferredVersion') or {}).get('groupVersion')
        versions = [v['groupVersion'] for v in g.get('versions') or []]
        for gv in ([preferred] if preferred else []) + [v for v in versions if v != preferred]:
            read_list(gv)
    return out


class Api:
    """Paths and requests by kind, namespace and name."""

    def __init__(self, client, resources):
        self.client = client
        self.resources = resources

    def serves(self, kind):
        return kind in self.resources

    def path(self, kind, ns='', name='', sub='', query=None):
        r = self.resources.get(kind)
        if r is None:
            raise ApiError(f'the API server does not serve {kind}')
        p = ('/api/' if '/' not in r.group_version else '/apis/') + r.group_version
        if r.namespaced and ns:
            p += '/namespaces/' + urllib.parse.quote(ns)
        p += '/' + r.plural
        if name:
            p += '/' + urllib.parse.quote(name)
        if sub:
            p += '/' + sub
        if query:
            p += '?' + urllib.parse.urlencode(query)
        return p

    def get(self, kind, ns, name):
        """The object, or None when it does not exist."""
        code, body = self.client.request('GET', self.path(kind, ns, name))
        if code == 404:
            return None
        if code != 200:
            raise ApiError(f'GET {fmt_key((kind, ns, name))}', code, body)
        return body

    def list(self, kind, ns='', selector=None):
        """Every object of a kind (in ns, when given), each with kind and apiVersion."""
        query = {'labelSelector': ','.join(f'{k}={v}' for k, v in selector.items())} if selector else None
        code, body = self.client.request('GET', self.path(kind, ns, query=query))
        if code != 200:
            raise ApiError(f'LIST {kind}', code, body)
        r = self.resources[kind]
        items = body.get('items') or []
        for o in items:   # built-in kinds' list items come without them
            o.setdefault('kind', kind)
            o.setdefault('apiVersion', r.group_version)
        return items


# -- writing ------------------------------------------------------------------------------------------

def _body(obj, revision):
    """What is sent for obj: no status (that goes to the status subresource), the revision
    annotation added, the apiVersion the server serves."""
    out = copy.deepcopy(obj)
    out.pop('status', None)
    meta = out.setdefault('metadata', {})
    for k in ('resourceVersion', 'uid', 'creationTimestamp', 'generation', 'managedFields'):
        meta.pop(k, None)
    if revision is not None:
        meta['annotations'] = {**(meta.get('annotations') or {}), REVISION_ANNOTATION: str(revision)}
    return out


class ApiSink:
    """Objects applied through the API server: create, or replace what exists; delete.

    Every kind the server serves goes there (Deployments, the made-up Pods and their
    EndpointSlices too); others (none in the gateway profiles) stay with the runner. `served`
    holds each object as the server answered the latest write (uid, data as stored).
    """

    def __init__(self, api, log=None):
        self.api = api
        self.log = log or (lambda msg: None)
        self.served = {}

    def handles(self, kind):
        return self.api.serves(kind)

    def write(self, key, obj, revision=None):
        kind, ns, name = key
        body = _body(obj, revision)
        if self.api.resources[kind].namespaced:
            body['metadata']['namespace'] = ns
        else:
            body['metadata'].pop('namespace', None)
        body['apiVersion'] = self.api.resources[kind].group_version
        # Replace: PUT with the resourceVersion it replaces (torii's status writes move it, so a
        # 409 means: read it again). Create when it does not exist.
        known = self.served.get(key)
        for _ in range(10):
            if known is None:
                code, out = self.api.client.request('POST', self.api.path(kind, ns), body)
                if code == 409 and (out or {}).get('reason') == 'AlreadyExists':
                    known = self.api.get(kind, ns, name)
                    continue
                if code == 403 and kind != 'Namespace' and self._terminating(ns):
                    continue       # its namespace is still being deleted: it is gone by now
            else:
                body['metadata']['resourceVersion'] = known['metadata']['resourceVersion']
                code, out = self.api.client.request('PUT', self.api.path(kind, ns, name), body)
                body['metadata'].pop('resourceVersion', None)
                if code in (404, 409):
                    known = self.api.get(kind, ns, name)
                    continue
            if code not in (200, 201):
                raise ApiError(f'writing {fmt_key(key)}', code, out)
            break
        else:
            raise ApiError(f'writing {fmt_key(key)}: still conflicting after 10 tries')
        if 'status' in obj and self.api.resources[kind].status:
            code, out2 = self.api.client.request('PATCH', self.api.path(kind, ns, name, 'status'),
                                                 {'status': obj['status']}, 'application/merge-patch+json')
            if code != 200:
                raise ApiError(f'writing the status of {fmt_key(key)}', code, out2)
            out = out2
        self.served[key] = out
        return out

    def _terminating(self, ns):
        """Waits until Namespace ns is gone or active again; True when a retry makes sense."""
        deadline = time.monotonic() + NAMESPACE_GONE_TIMEOUT
        while time.monotonic() < deadline:
            o = self.api.get('Namespace', '', ns)
            if o is None or (o.get('status') or {}).get('phase') != 'Terminating':
                return o is not None
            time.sleep(0.05)
        return False

    def remove(self, key):
        kind, ns, name = key
        self.served.pop(key, None)
        code, out = self.api.client.request('DELETE', self.api.path(kind, ns, name))
        if code == 404:
            return
        if code not in (200, 202):
            raise ApiError(f'deleting {fmt_key(key)}', code, out)
        if kind == 'Namespace':
            # As `kubectl delete` waits: the next case may create the same namespace, which the
            # server refuses while the old one terminates.
            deadline = time.monotonic() + NAMESPACE_GONE_TIMEOUT
            while self.api.get('Namespace', '', name) is not None:
                if time.monotonic() > deadline:
                    raise ApiError(f'Namespace {name} still there {NAMESPACE_GONE_TIMEOUT:g} s after its deletion')
                time.sleep(0.05)

    @staticmethod
    def waits_for(key, obj):
        # Pods: torii watches them only as the mesh, which it is in file mode only.
        if key[0] not in TORII_KINDS or key[0] == 'Pod':
            return False
        if key[0] in DATA_KINDS:
            return any(k in GATEWAY_DATA_KEYS for f in ('data', 'binaryData', 'stringData') for k in obj.get(f) or {})
        return True

    def taken_in(self, key, revision, seen):
        """Does torii's copy `seen` hold the write of `revision`? torii keeps the revision
        annotation of every kind but Secrets and ConfigMaps; of those it keeps the uid and the
        data keys it reads, which must then be exactly as the server stored them."""
        if key[0] not in DATA_KINDS:
            ann = ((seen.get('metadata') or {}).get('annotations') or {}).get(REVISION_ANNOTATION)
            return ann == str(revision)
        served = self.served.get(key)
        if served is None:
            return False
        if (seen.get('metadata') or {}).get('uid') != (served.get('metadata') or {}).get('uid'):
            return False
        held = 0
        for field in ('data', 'binaryData'):
            mine, theirs = served.get(field) or {}, seen.get(field) or {}
            for k, v in theirs.items():
                if mine.get(k) != v:
                    return False
                held += 1
        return held > 0


class ApiReader:
    """Objects as the API server holds them: what torii wrote into their status."""

    def __init__(self, api):
        self.api = api

    def get(self, kind, ns, name):
        if not self.api.serves(kind):
            return None
        return self.api.get(kind, ns, name)

    def list(self, kinds, namespace='', selector=None):
        out = []
        for kind in kinds:
            if self.api.serves(kind):
                out += self.api.list(kind, namespace, selector)
        return out


# -- the fake API server ------------------------------------------------------------------------------

class FakeAPIServer:
    """tests/kube/fakeapi.py (or $TORII_FAKEAPI) with --tls in a state directory, for one run."""

    def __init__(self, script, state_dir, crds=None):
        self.script = script
        self.dir = state_dir
        self.crds = crds
        self.proc = None
        self.url = ''

    def start(self, timeout=30.0):
        os.makedirs(self.dir, exist_ok=True)
        cmd = [sys.executable, self.script, '--state-dir', self.dir, '--tls']
        if self.crds:
            cmd += ['--crds', self.crds]
        err = open(os.path.join(self.dir, 'fake.log'), 'wb')
        try:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL,
                                         text=True)
        finally:
            err.close()
        # The first line says it serves; a thread waits for it so that a hung start times out.
        got = []
        t = threading.Thread(target=lambda: got.append(self.proc.stdout.readline()), daemon=True)
        t.start()
        t.join(timeout)
        line = got[0] if got else ''
        if not line.startswith('ready '):
            self.stop()
            try:
                with open(os.path.join(self.dir, 'fake.log'), errors='replace') as f:
                    tail = f.read()[-600:].strip().replace('\n', ' | ')
            except OSError:
                tail = ''
            raise ApiError(f'the fake API server ({self.script}) did not start: {line.strip() or "no answer"}'
                           + (f'; its log: {tail}' if tail else ''))
        self.url = line.split()[1]

    def admin_credentials(self):
        with open(os.path.join(self.dir, 'admin-token')) as f:
            token = f.read().strip()
        return Credentials(server=self.url, token=token,
                           ssl_context=ssl.create_default_context(cafile=os.path.join(self.dir, 'ca.crt')))

    def torii_kubeconfig(self):
        """torii's own credentials, as a pod's service account would have them (a token file)."""
        return os.path.join(self.dir, 'kubeconfig-tokenfile')

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
