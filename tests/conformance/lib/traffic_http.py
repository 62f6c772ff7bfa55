"""HTTP traffic steps (FORMAT.md sections 5.1 and 5.2) with independent clients.

HTTP/1.1 (plain and over TLS) uses Python's http.client on a socket the runner opens itself, a new
connection per request; HTTP/2 (`protocol: H2` over TLS, `H2C_PRIOR_KNOWLEDGE` in clear) uses the
curl command line tool. The comparison of an attempt (section 5.1, "An attempt passes when") is a
set of pure functions at the top of the file.
"""
import base64
import dataclasses
import hashlib
import http.client
import json
import math
import os
import random
import re
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid

from .status import Outcome
from .traffic_common import (TLSConfig, TrafficError, _is_ip, check_loopback, retry, run_samples, spki_sha256,
                             target_of, weighted)

REQUEST_TIMEOUT = 10.0
REDIRECT_CODES = {300, 301, 302, 303, 304, 305, 307, 308}
FOLLOWED_CODES = {301, 302, 303, 307, 308}      # those a client follows (as Go's http.Client does)
MAX_REDIRECTS = 10
MIRROR_PARAM = 'gateway-api-conformance-request-id'
MIRROR_WINDOW = 10.0        # s after the attempts start within which the mirror log line must appear
MIRROR_LOOKBACK = 30.0      # s before the start from which log lines count
DEFAULT_PORTS = {'http': 80, 'https': 443}


class ClientError(Exception):
    """The round trip ended without an HTTP response."""


# -- pure parts --------------------------------------------------------------------------------------

def set_query_param(path, key, value):
    """path with query parameter key set to value: the query is parsed, the key replaced, and the
    query re-encoded with sorted keys (Go's url.Values.Encode)."""
    base, sep, query = path.partition('?')
    pairs = [(k, v) for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True) if k != key]
    pairs.append((key, value))
    pairs.sort(key=lambda kv: kv[0])     # stable: values of one key keep their order
    return base + '?' + urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote_plus)


def echo_set_header(values):
    """The X-Echo-Set-Header value for backendSetResponseHeaders: NAME:VALUE pairs joined with ','."""
    return ','.join(f'{k}:{v}' for k, v in (values or {}).items())


def joined(headers, name):
    """The values of one header (name case-insensitive) joined with ',', or None when absent.

    headers: a list of (name, value) pairs, or a dict {name: [values]} (the echo's)."""
    items = headers.items() if isinstance(headers, dict) else [(n, [v]) for n, v in headers]
    vals = []
    found = False
    for n, vs in items:
        if n.lower() == name.lower():
            found = True
            vals.extend(vs if isinstance(vs, list) else [vs])
    return ','.join(str(v) for v in vals) if found else None


def check_request_headers(echo_headers, want, absent):
    """Each wanted header was received with that joined value; no absent one was."""
    for name, value in (want or {}).items():
        got = joined(echo_headers, name)
        if got is None:
            return f'backend did not receive header {name} (got {sorted(echo_headers)})'
        if got != str(value):
            return f'backend received {name}: {got!r}, want {str(value)!r}'
    for name in absent or []:
        got = joined(echo_headers, name)
        if got is not None:
            return f'backend received header {name}: {got!r}, want it absent'
    return ''


def check_response_headers(headers, response):
    """response.headers / validHeaderValues / absentHeaders / ignoreWhitespace against the
    response's header list."""
    strip = (lambda s: s.replace(' ', '')) if response.get('ignoreWhitespace') else (lambda s: s)
    for name, value in (response.get('headers') or {}).items():
        got = joined(headers, name)
        if got is None:
            return f'response has no header {name}'
        if strip(got) != strip(str(value)):
            return f'response header {name}: {got!r}, want {str(value)!r}'
    for name, values in (response.get('validHeaderValues') or {}).items():
        got = joined(headers, name)
        if got is None:
            return f'response has no header {name}'
        if strip(got) not in [strip(str(v)) for v in values]:
            return f'response header {name}: {got!r}, want one of {values}'
    for name in response.get('absentHeaders') or []:
        got = joined(headers, name)
        if got is not None:
            return f'response header {name}: {got!r}, want it absent'
    return ''


def normalize_pem(pem):
    return ''.join(str(pem).split())


def check_echo(echo, expected, namespace, backend):
    """Step 3 of an attempt for a 200/204: what the backend saw (echo, a dict) against E."""
    if 'host' in expected and expected['host'] is not None and echo.get('host', '') != expected['host']:
        return f'backend saw host {echo.get("host", "")!r}, want {expected["host"]!r}'
    if echo.get('path', '') != expected.get('path', ''):
        return f'backend saw path {echo.get("path", "")!r}, want {expected.get("path", "")!r}'
    method = expected.get('method') or 'GET'
    if echo.get('method', '') != method:
        return f'backend saw method {echo.get("method", "")!r}, want {method!r}'
    if echo.get('namespace', '') != (namespace or ''):
        return f'backend namespace {echo.get("namespace", "")!r}, want {namespace or ""!r}'
    why = check_request_headers(echo.get('headers') or {}, expected.get('headers'), expected.get('absentHeaders'))
    if why:
        return why
    if backend and not str(echo.get('pod', '')).startswith(backend):
        return f'served by pod {echo.get("pod", "")!r}, want one of {backend}'
    tls = echo.get('tls') or {}
    if expected.get('sni') is not None and tls.get('serverName', '') != expected['sni']:
        return f'backend saw SNI {tls.get("serverName", "")!r}, want {expected["sni"]!r}'
    if expected.get('clientCertPEM') is not None:
        peers = [normalize_pem(p) for p in tls.get('peerCertificates') or []]
        if normalize_pem(expected['clientCertPEM']) not in peers:
            return (f'backend did not see client certificate {expected.get("clientCert")} '
                    f'({len(peers)} peer certificate(s))')
    return ''


def check_redirect(location, want, request_url):
    """Step 4 of an attempt: the Location of a redirect against redirectRequest.

    request_url: the URL the client asked for (a relative Location is resolved against it)."""
    if location is None:
        return 'redirect without a Location header'
    url = urllib.parse.urlsplit(urllib.parse.urljoin(request_url, location))
    req = urllib.parse.urlsplit(request_url)
    try:
        port = '' if url.port is None else str(url.port)
    except ValueError:
        return f'Location {location!r} has a bad port'
    hostname = url.hostname or ''
    if want.get('host') is not None and hostname != str(want['host']).lower():
        return f'redirect to host {hostname!r}, want {want["host"]!r} (Location {location!r})'
    scheme = want.get('scheme') or req.scheme
    if url.scheme != scheme:
        return f'redirect to scheme {url.scheme!r}, want {scheme!r} (Location {location!r})'
    path = want.get('path') if want.get('path') is not None else urllib.parse.unquote(req.path)
    if urllib.parse.unquote(url.path) != path:
        return f'redirect to path {urllib.parse.unquote(url.path)!r}, want {path!r} (Location {location!r})'
    if want.get('port') is not None:
        if port != str(want['port']):
            return f'redirect to port {port!r}, want {str(want["port"])!r} (Location {location!r})'
    elif port not in ('', str(DEFAULT_PORTS.get(url.scheme, ''))):
        return f'redirect to port {port!r}, want none or the default of {url.scheme} (Location {location!r})'
    return ''


def parse_echo(reply, method):
    """The backend's view of the request: the echo JSON when Content-Type is exactly
    application/json, else only the method sent (section 5.1, Sending)."""
    if joined(reply.headers, 'Content-Type') == 'application/json':
        try:
            echo = json.loads(reply.body)
        except ValueError as e:
            raise ClientError(f'echo reply is not JSON: {e}') from None
        if not isinstance(echo, dict):
            raise ClientError('echo reply is not a JSON object')
        return echo
    return {'method': method, 'path': '', 'host': '', 'namespace': '', 'pod': '', 'headers': {}}


def evaluate(reply, echo, spec, request_url):
    """One attempt's comparison, in the order of section 5.1. spec: see HttpSpec."""
    codes = spec.status_codes
    if reply.status in (408, 504) and (408 in codes or 504 in codes):
        return ''
    if reply.status not in codes:
        return f'status {reply.status}, want {codes[0] if len(codes) == 1 else codes}'
    if reply.status in (200, 204):
        why = check_echo(echo, spec.expected, spec.namespace, spec.backend)
        if why:
            return why
        why = check_response_headers(reply.headers, spec.response)
        if why:
            return why
        return ''
    if reply.status in REDIRECT_CODES and spec.redirect is not None:
        return check_redirect(joined(reply.headers, 'Location'), spec.redirect, request_url)
    return ''


def mirror_line(path):
    return f'Echoing back request made to {path} to client'


def count_mirror_lines(lines, path):
    """How many log lines show the mirrored request (upstream: strings.Contains)."""
    needle = mirror_line(path)
    return sum(1 for line in lines if needle in line)


def parse_header_dump(text):
    """curl -D output: (status, version, headers, trailers) of the final response.

    Blocks are separated by blank lines; the last block opening with a status line is the response
    (earlier ones are 1xx), a block after it without a status line holds the trailers."""
    blocks = [b for b in re.split(r'\r?\n\r?\n', text) if b.strip()]
    status, version, headers, trailers = None, '', [], []
    for block in blocks:
        lines = block.splitlines()
        first = lines[0]
        m = re.match(r'HTTP/(\S+)\s+(\d{3})', first)
        target = trailers
        if m:
            version, status = m.group(1), int(m.group(2))
            headers, trailers = [], []
            target = headers
            lines = lines[1:]
        for line in lines:
            if ':' in line:
                n, _, v = line.partition(':')
                target.append((n.strip(), v.strip()))
    return status, version, headers, trailers


# -- WebSocket framing (RFC 6455) --------------------------------------------------------------------

WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'


def ws_accept(key):
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def ws_encode(opcode, payload, mask, fin=True):
    """A client frame: masked with the 4-byte mask."""
    head = bytearray([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head.append(0x80 | n)
    elif n < 1 << 16:
        head.append(0x80 | 126)
        head += n.to_bytes(2, 'big')
    else:
        head.append(0x80 | 127)
        head += n.to_bytes(8, 'big')
    head += mask
    return bytes(head) + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def ws_decode(buf):
    """(fin, opcode, payload, consumed) of the first whole frame in buf, or None if incomplete."""
    if len(buf) < 2:
        return None
    fin, opcode = bool(buf[0] & 0x80), buf[0] & 0x0F
    masked, n = bool(buf[1] & 0x80), buf[1] & 0x7F
    pos = 2
    if n == 126:
        if len(buf) < 4:
            return None
        n, pos = int.from_bytes(buf[2:4], 'big'), 4
    elif n == 127:
        if len(buf) < 10:
            return None
        n, pos = int.from_bytes(buf[2:10], 'big'), 10
    mask = b''
    if masked:
        if len(buf) < pos + 4:
            return None
        mask, pos = bytes(buf[pos:pos + 4]), pos + 4
    if len(buf) < pos + n:
        return None
    payload = bytes(buf[pos:pos + n])
    if masked:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return fin, opcode, payload, pos + n


# -- the client ---------------------------------------------------------------------------------------

@dataclasses.dataclass
class Reply:
    status: int
    headers: list          # [(name, value)] as received, trailers excluded
    body: bytes
    version: str = ''
    cert_requested: bool = False
    trailers: list = dataclasses.field(default_factory=list)


class _Deadline:
    """Closes a socket when the request's time is up, so a stalled read ends."""

    def __init__(self, timeout):
        self.sock = None
        self.timer = threading.Timer(timeout, self._fire)
        self.timer.daemon = True
        self.fired = False
        self.timer.start()

    def _fire(self):
        self.fired = True
        s = self.sock
        if s is not None:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cancel(self):
        self.timer.cancel()


def send_h1(ip, port, tls, method, path, headers, timeout=REQUEST_TIMEOUT):
    """One HTTP/1.1 request on a new connection. headers: [(name, value)], Host included."""
    check_loopback(ip)
    seen = {}
    deadline = _Deadline(timeout)
    sock = None
    try:
        try:
            sock = socket.create_connection((ip, port), timeout=timeout)
            deadline.sock = sock
            if tls is not None:
                sock = tls.wrap(sock, seen)
                deadline.sock = sock
            conn = http.client.HTTPConnection(ip, port, timeout=timeout)
            conn.sock = sock
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for n, v in headers:
                conn.putheader(n, v)
            conn.endheaders()
            resp = conn.getresponse()
            body = resp.read()
            return Reply(resp.status, resp.getheaders(), body, 'HTTP/1.1', seen.get('cert_requested', False))
        except (OSError, http.client.HTTPException, ValueError) as e:
            if deadline.fired:
                raise ClientError(f'no response within {timeout:g} s') from None
            raise ClientError(f'{type(e).__name__}: {e}' if str(e) else type(e).__name__) from None
    finally:
        deadline.cancel()
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass


class Curl:
    """HTTP/2 requests through the curl command line tool (a new connection per request).

    Over TLS the server certificate is checked as everywhere else in the runner (TLSConfig: the
    chain up to the step's only root, the name with Go's rules, which accept '*.org' where curl
    does not): a handshake made by Python first verifies it, then curl runs with --insecure and
    --pinnedpubkey set to that certificate's key, so the request's own connection must present
    the very key that was verified."""

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, 'curl')
        os.makedirs(self.dir, exist_ok=True)

    @staticmethod
    def verified_key(ip, port, tls, timeout):
        """sha256 of the SubjectPublicKeyInfo of the verified server certificate."""
        seen = {}
        pre = TLSConfig(tls.server_name, tls.ca_pem, tls.client_cert, alpn=['h2'])
        try:
            with socket.create_connection((ip, port), timeout=timeout) as raw:
                with pre.wrap(raw, seen) as s:
                    der = s.getpeercert(binary_form=True)
        except (OSError, ValueError) as e:
            raise ClientError(f'TLS handshake: {type(e).__name__}: {e}') from None
        return spki_sha256(der), seen.get('cert_requested', False)

    def send(self, ip, port, tls, method, path, headers, h2c, data=None, timeout=REQUEST_TIMEOUT):
        """One request over HTTP/2 (h2c prior knowledge when h2c, else TLS with ALPN h2)."""
        check_loopback(ip)
        fd, hdr_path = tempfile.mkstemp(dir=self.dir, suffix='.hdr')
        os.close(fd)
        fd, body_path = tempfile.mkstemp(dir=self.dir, suffix='.body')
        os.close(fd)
        data_path = None
        try:
            args = ['curl', '-sS', '-v', '--path-as-is', '--globoff', '--max-time', f'{timeout:g}',
                    '--connect-timeout', f'{timeout:g}', '-D', hdr_path, '-o', body_path,
                    '-w', '%{http_version}', '--noproxy', '*']
            if h2c:
                args += ['--http2-prior-knowledge']
                url = f'http://{ip}:{port}{path}'
            else:
                name = tls.server_name
                args += ['--http2', '--tlsv1.2']
                if _is_ip(name):
                    url = f'https://{_bracket(name)}:{port}{path}'
                    if name != ip:
                        args += ['--connect-to', f'{_bracket(name)}:{port}:{ip}:{port}']
                else:
                    args += ['--resolve', f'{name}:{port}:{ip}']
                    url = f'https://{name}:{port}{path}'
                pin, _ = self.verified_key(ip, port, tls, timeout)
                args += ['--insecure', '--pinnedpubkey', 'sha256//' + pin]
                if tls.client_cert:
                    args += ['--cert', tls.client_cert[0], '--key', tls.client_cert[1]]
            if method == 'HEAD':
                args.append('--head')
            elif method != 'GET' or data is not None:
                args += ['-X', method]
            for n, v in headers:      # None: leave out a header curl would add; '': an empty value
                args += ['-H', f'{n}:' if v is None else f'{n}: {v}' if v != '' else f'{n};']
            if data is not None:
                fd, data_path = tempfile.mkstemp(dir=self.dir, suffix='.data')
                with os.fdopen(fd, 'wb') as f:
                    f.write(data)
                args += ['--data-binary', '@' + data_path]
            args.append(url)
            try:
                r = subprocess.run(args, capture_output=True, timeout=timeout + 5, stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                raise ClientError(f'curl: no response within {timeout:g} s') from None
            with open(hdr_path, 'rb') as f:
                dump = f.read().decode('latin-1')
            with open(body_path, 'rb') as f:
                body = f.read()
            verbose = r.stderr.decode('latin-1', 'replace')
            status, version, hdrs, trailers = parse_header_dump(dump)
            if r.returncode != 0 or status is None:
                lines = [ln for ln in verbose.splitlines() if ln.startswith('curl:')]
                raise ClientError((lines[-1] if lines else f'curl exit status {r.returncode}')
                                  + ('' if status is None else f' (after status {status})'))
            if version != '2':
                raise ClientError(f'the server answered over HTTP/{version}, not HTTP/2')
            return Reply(status, hdrs, body, 'HTTP/2', 'Request CERT' in verbose, trailers)
        finally:
            for p in (hdr_path, body_path, data_path):
                if p:
                    try:
                        os.unlink(p)
                    except OSError:
                        pass


def _bracket(ip):
    return f'[{ip}]' if ':' in ip else ip


@dataclasses.dataclass
class HttpSpec:
    """One `http` comparison, made from a step body."""
    scheme: str
    method: str
    path: str
    host: str                 # Host header value
    headers: list             # [(name, value)] sent, X-Echo-Set-Header included
    protocol: str             # '', 'H2', 'H2C_PRIOR_KNOWLEDGE'
    follow: bool
    tls: TLSConfig
    status_codes: list
    expected: dict
    response: dict
    redirect: dict
    backend: str
    namespace: str
    client_certificate: str = ''


class HttpClient:
    """Sends one logical request (following redirects unless told not to)."""

    def __init__(self, curl):
        self.curl = curl

    def send_one(self, ip, port, scheme, tls, protocol, method, path, headers):
        if protocol == 'H2C_PRIOR_KNOWLEDGE':
            if scheme != 'http':
                raise TrafficError('protocol H2C_PRIOR_KNOWLEDGE needs scheme http')
            return self.curl.send(ip, port, None, method, path, headers, h2c=True)
        if protocol == 'H2':
            if scheme != 'https':
                raise TrafficError('protocol H2 needs scheme https')
            return self.curl.send(ip, port, tls, method, path, headers, h2c=False)
        if protocol:
            raise TrafficError(f'unknown request protocol {protocol!r}')
        return send_h1(ip, port, tls if scheme == 'https' else None, method, path, headers)

    def fetch(self, target, spec):
        """(reply, request_url of the final request). Redirects to another host connect to the
        Gateway's address all the same (as if every name resolved to it); a non-loopback IP
        literal in a Location is refused."""
        url = f'{spec.scheme}://{target.authority()}{spec.path}'
        ip, port, scheme, tls = target.host, target.port, spec.scheme, spec.tls
        method, path, host = spec.method, spec.path, spec.host
        for hop in range(MAX_REDIRECTS + 1):
            headers = [('Host', host)] + [(n, v) for n, v in spec.headers]
            reply = self.send_one(ip, port, scheme, tls, spec.protocol, method, path, headers)
            if not spec.follow or reply.status not in FOLLOWED_CODES:
                return reply, url
            location = joined(reply.headers, 'Location')
            if location is None:
                return reply, url
            if hop == MAX_REDIRECTS:
                raise ClientError(f'stopped after {MAX_REDIRECTS} redirects')
            nxt = urllib.parse.urljoin(url, location)
            parts = urllib.parse.urlsplit(nxt)
            if parts.scheme not in ('http', 'https'):
                raise ClientError(f'redirect to unsupported URL {nxt!r}')
            if urllib.parse.urlsplit(location).netloc:
                host = parts.netloc
            hostname = parts.hostname or ''
            if _is_ip(hostname):
                ip = check_loopback(hostname)
            port = parts.port or DEFAULT_PORTS[parts.scheme]
            if parts.scheme == 'https' and (scheme != 'https' or hostname != (tls.server_name if tls else None)):
                tls = TLSConfig(hostname, tls.ca_pem if tls else None, tls.client_cert if tls else None)
            scheme = parts.scheme
            path = (parts.path or '/') + (f'?{parts.query}' if parts.query else '')
            if reply.status in (301, 302, 303) and method not in ('GET', 'HEAD'):
                method = 'GET'
            url = nxt
        raise ClientError('redirect loop')    # not reached


# -- steps ---------------------------------------------------------------------------------------------

class HttpSteps:
    """The HTTP steps of section 5; dp is the DataPlane (certificates, pods' logs, curl)."""

    def __init__(self, dp):
        self.dp = dp
        self.client = HttpClient(dp.curl)

    # building the comparison ---------------------------------------------------------------------

    def spec(self, body, target):
        scheme = body.get('scheme', 'http')
        req = dict(body.get('request') or {})
        tls = None
        if scheme == 'https':
            if not body.get('serverName') or not body.get('serverCertificate'):
                raise TrafficError('https needs serverName and serverCertificate')
            client = self.dp.client_cert_files(body['clientCertificate']) if body.get('clientCertificate') else None
            tls = TLSConfig(body['serverName'], self.dp.certificate(body['serverCertificate']), client)
        headers = [('X-Echo-Set-Header', echo_set_header(body.get('backendSetResponseHeaders')))]
        headers += [(str(k), str(v)) for k, v in (req.get('headers') or {}).items()]
        if 'expectedRequest' in body and body['expectedRequest'] is not None:
            expected = dict(body['expectedRequest'])
        else:
            expected = {k: req[k] for k in ('host', 'method', 'path', 'headers', 'sni', 'clientCert') if k in req}
        if expected.get('clientCert'):
            expected['clientCertPEM'] = self.dp.certificate(expected['clientCert'])
        response = dict(body.get('response') or {})
        codes = [int(c) for c in response.get('statusCodes') or [200]]
        return HttpSpec(
            scheme=scheme, method=req.get('method') or 'GET', path=req.get('path', '/'),
            host=req.get('host') or target.authority(), headers=headers, protocol=req.get('protocol') or '',
            follow=not req.get('unfollowRedirect'), tls=tls, status_codes=codes, expected=expected,
            response=response, redirect=body.get('redirectRequest'), backend=body.get('backend') or '',
            namespace=body.get('namespace') or '', client_certificate=body.get('clientCertificate') or '')

    def attempt(self, target, spec):
        """One attempt: Outcome with value = the echo dict (or None)."""
        try:
            reply, url = self.client.fetch(target, spec)
            echo = parse_echo(reply, spec.method) if reply.status in (200, 204) else None
        except ClientError as e:
            return Outcome(False, f'request to {target}: {e}')
        why = evaluate(reply, echo or {}, spec, url)
        if not why and spec.client_certificate and not reply.cert_requested:
            why = 'the Gateway did not ask for a client certificate'
        return Outcome(not why, why, value=echo)

    @staticmethod
    def _target(body, ctx):
        return target_of(ctx.addresses, body, DEFAULT_PORTS[body.get('scheme', 'http')])

    # http -------------------------------------------------------------------------------------------

    def http(self, body, ctx):
        target = self._target(body, ctx)
        spec = self.spec(body, target)
        mirrors = body.get('mirroredTo') or []
        if not mirrors:
            return retry(lambda: self.attempt(target, spec), body, self.dp.scale(ctx))
        rid = str(uuid.uuid4())
        spec.path = set_query_param(spec.path, MIRROR_PARAM, rid)
        spec.expected['path'] = set_query_param(spec.expected.get('path', spec.path), MIRROR_PARAM, rid)
        start = time.time()
        result = {}
        checker = threading.Thread(target=self._watch_mirrors, args=(ctx, mirrors, spec.path, start, result),
                                   daemon=True)
        checker.start()
        out = retry(lambda: self.attempt(target, spec), body, self.dp.scale(ctx))
        checker.join()
        if not out.held:
            return out
        if result.get('why'):
            return Outcome(False, result['why'])
        return out

    def _watch_mirrors(self, ctx, mirrors, path, start, result):
        """Within MIRROR_WINDOW s of start, each mirror backend's log (some Pod labelled
        app=<name> in its namespace, lines from MIRROR_LOOKBACK s before start) shows the request."""
        deadline = time.monotonic() + MIRROR_WINDOW
        missing = list(mirrors)
        while True:
            missing = [m for m in missing
                       if not count_mirror_lines(self.dp.log_lines(ctx, m['namespace'], m['name'],
                                                                   start - MIRROR_LOOKBACK), path)]
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        if missing:
            result['why'] = ('mirrored request not logged within 10 s by ' +
                             ', '.join(f'{m["namespace"]}/{m["name"]}' for m in missing) +
                             f' (looked for {mirror_line(path)!r})')

    # httpWeights ------------------------------------------------------------------------------------

    def httpWeights(self, body, ctx):
        target = self._target(body, ctx)
        base = self.spec(body, target)

        def sample(i):
            spec = dataclasses.replace(base, headers=list(base.headers))
            if body.get('entropy') and random.random() < 0.5:
                spec.headers.append(('X-Jitter', str(random.randint(0, 9999))))
            out = self.attempt(target, spec)
            if not out.held:
                return None, out.why
            return (out.value or {}).get('pod', ''), ''
        return weighted(sample, body, concurrency=10)

    # httpNot200 -------------------------------------------------------------------------------------

    def httpNot200(self, body, ctx):
        target = self._target({**body, 'scheme': 'http'}, ctx)
        req = body.get('request') or {}
        headers = [('Host', req.get('host') or target.authority()), ('X-Echo-Set-Header', '')]
        headers += [(str(k), str(v)) for k, v in (req.get('headers') or {}).items()]
        scale = self.dp.scale(ctx)
        limit = float(body.get('timeout', 30)) * scale
        need = int(body.get('consecutive', 5))
        start = time.monotonic()
        run, last = 0, ''
        while True:
            try:
                reply = send_h1(target.host, target.port, None, req.get('method') or 'GET', req.get('path', '/'),
                                headers)
                if reply.status == 200:
                    return Outcome(False, 'got status 200', fatal=True)
                ok = reply.status not in (408, 504)
                last = f'status {reply.status}'
            except ClientError as e:
                ok, last = False, f'no response: {e}'
            run = run + 1 if ok else 0
            if run >= need:
                return Outcome(True, f'{need} non-200 responses in a row')
            if body.get('once') or time.monotonic() - start >= limit:
                return Outcome(False, f'after {limit:g} s: {run} in a row, {need} needed; last: {last}')
            if not ok:
                time.sleep(1.0)

    # httpsRequestError ------------------------------------------------------------------------------

    def httpsRequestError(self, body, ctx):
        target = self._target({**body, 'scheme': 'https'}, ctx)
        spec = self.spec({**body, 'scheme': 'https'}, target)
        try:
            reply, _ = self.client.fetch(target, spec)
        except ClientError as e:
            return Outcome(True, f'round trip failed as expected: {e}')
        why = f'got an HTTP response (status {reply.status}), want a failed round trip'
        if spec.client_certificate and not reply.cert_requested:
            why += '; and the Gateway did not ask for a client certificate'
        return Outcome(False, why)

    # httpRetry --------------------------------------------------------------------------------------

    def httpRetry(self, body, ctx):
        target = self._target(body, ctx)
        failures = body.get('backendFailures') or {}
        plain = {k: v for k, v in body.items() if k not in ('expectedRequest', 'backendFailures')}
        base = self.spec(plain, target)
        path = base.path

        def attempt():
            q = (f'responseCode={failures.get("responseCode")}&succeedAfter={failures.get("succeedAfter")}'
                 f'&uuid={uuid.uuid4()}')
            full = f'{path}&{q}' if '?' in path else f'{path}?{q}'
            spec = dataclasses.replace(base, path=full, expected={**base.expected, 'path': full})
            return self.attempt(target, spec)
        return retry(attempt, body, self.dp.scale(ctx))

    # httpHeaderMatchesPod ---------------------------------------------------------------------------

    def httpHeaderMatchesPod(self, body, ctx):
        target = self._target(body, ctx)
        spec = self.spec(body, target)
        header = body['header']
        for i in range(int(body.get('requests', 1))):
            try:
                reply, _ = self.client.fetch(target, spec)
                echo = parse_echo(reply, spec.method)
            except ClientError as e:
                return Outcome(False, f'request {i + 1}: {e}')
            values = [v for n, vs in (echo.get('headers') or {}).items() if n.lower() == header.lower() for v in vs]
            if len(values) != 1:
                return Outcome(False, f'request {i + 1}: backend received {len(values)} {header} values {values}, want 1')
            pod = str(echo.get('pod', ''))
            if not pod.startswith(values[0]):
                return Outcome(False, f'request {i + 1}: served by pod {pod!r}, but {header} is {values[0]!r}')
        return Outcome(True)

    # httpMirrorPercentage ---------------------------------------------------------------------------

    def httpMirrorPercentage(self, body, ctx):
        target = self._target(body, ctx)
        base = self.spec(body, target)
        mirrors = body.get('mirroredTo') or []
        n = int(body.get('requests', 500))
        concurrency = int(body.get('concurrency', 10))
        k = float(body.get('toleranceStdDevs', 3))
        tries = int(body.get('attempts', 1))
        scale = self.dp.scale(ctx)
        last = ''
        for t in range(tries):
            rid = str(uuid.uuid4())
            spec = dataclasses.replace(base, path=set_query_param(base.path, MIRROR_PARAM, rid),
                                       expected={**base.expected, 'path': set_query_param(
                                           base.expected.get('path', base.path), MIRROR_PARAM, rid)})
            noted = time.time()

            def one(i):
                out = retry(lambda: self.attempt(target, spec), {'consecutive': 1}, scale)
                return ('', '') if out.held else (None, out.why)
            _, why = run_samples(one, n, concurrency)
            if not why:
                counts = []
                for m in mirrors:
                    got = self._settled_count(ctx, m, noted, spec.path)
                    p = float(m['percent']) / 100.0
                    mean, sd = n * p, math.sqrt(n * p * (1 - p))
                    counts.append(f'{m["name"]} {got} (want {mean:g} +/- {k * sd:.1f})')
                    if abs(got - mean) > k * sd:
                        why = why or f'{m["namespace"]}/{m["name"]} logged {got} of {n} mirrored requests, ' \
                                     f'want {mean:g} +/- {k * sd:.1f}'
                if not why:
                    return Outcome(True, f'try {t + 1}: ' + ', '.join(counts))
            last = why
            if t + 1 < tries:
                time.sleep(2.0)
        return Outcome(False, f'no try of {tries} passed; last: {last}')

    def _settled_count(self, ctx, mirror, since, path):
        """The mirror's matching log lines since `since`, read once the count has stopped moving
        (mirrored copies may still be on their way when the last reply arrives; at most 2 s)."""
        count = lambda: count_mirror_lines(self.dp.log_lines(ctx, mirror['namespace'], mirror['name'], since), path)
        got, end = count(), time.monotonic() + 2.0
        while time.monotonic() < end:
            time.sleep(0.25)
            again = count()
            if again == got:
                break
            got = again
        return got

    # websocket --------------------------------------------------------------------------------------

    def websocket(self, body, ctx):
        target = self._target({**body, 'scheme': 'http'}, ctx)
        path = (body.get('request') or {}).get('path', '/')
        return retry(lambda: ws_attempt(target, path), body, self.dp.scale(ctx))


def ws_attempt(target, path, timeout=REQUEST_TIMEOUT):
    check_loopback(target.host)
    deadline = _Deadline(timeout)
    try:
        with socket.create_connection((target.host, target.port), timeout=timeout) as s:
            deadline.sock = s
            key = base64.b64encode(os.urandom(16)).decode()
            s.sendall((f'GET {path} HTTP/1.1\r\nHost: {target.authority()}\r\nUpgrade: websocket\r\n'
                       f'Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n'
                       f'Origin: http://{target.authority()}\r\n\r\n').encode())
            buf = bytearray()
            while b'\r\n\r\n' not in buf:
                chunk = s.recv(4096)
                if not chunk:
                    return Outcome(False, 'websocket: connection closed during the handshake')
                buf += chunk
            head, _, rest = bytes(buf).partition(b'\r\n\r\n')
            lines = head.decode('latin-1').split('\r\n')
            m = re.match(r'HTTP/1\.[01] (\d{3})', lines[0])
            if not m or m.group(1) != '101':
                return Outcome(False, f'websocket handshake answered {lines[0]!r}')
            hdrs = [tuple(x.strip() for x in ln.split(':', 1)) for ln in lines[1:] if ':' in ln]
            if joined(hdrs, 'Sec-WebSocket-Accept') != ws_accept(key):
                return Outcome(False, 'websocket handshake: wrong Sec-WebSocket-Accept')
            buf = bytearray(rest)
            for opcode, payload in ((1, 'Websocket Support!'.encode()), (2, bytes(range(1, 8)))):
                s.sendall(ws_encode(opcode, payload, os.urandom(4)))
                got_op, got = _ws_read_message(s, buf)
                if got_op != opcode or got != payload:
                    return Outcome(False, f'websocket: sent opcode {opcode} {payload!r}, got opcode {got_op} {got!r}')
            try:
                s.sendall(ws_encode(8, (1000).to_bytes(2, 'big'), os.urandom(4)))
            except OSError:
                pass
            return Outcome(True)
    except (OSError, ValueError) as e:
        if deadline.fired:
            return Outcome(False, f'websocket: no answer within {timeout:g} s')
        return Outcome(False, f'websocket: {type(e).__name__}: {e}')
    finally:
        deadline.cancel()


def _ws_read_message(s, buf):
    """The next data message (fragments joined; pings answered, pongs skipped)."""
    parts, first_op = [], None
    while True:
        frame = ws_decode(buf)
        if frame is None:
            chunk = s.recv(4096)
            if not chunk:
                raise ConnectionError('connection closed')
            buf += chunk
            continue
        fin, op, payload, used = frame
        del buf[:used]
        if op == 9:
            s.sendall(ws_encode(10, payload, os.urandom(4)))
            continue
        if op == 10:
            continue
        if op == 8:
            raise ConnectionError(f'close frame {payload[:2].hex()}')
        if op != 0:
            first_op = op
        parts.append(payload)
        if fin:
            return first_op, b''.join(parts)
