"""TLS, TCP and UDP steps (FORMAT.md section 5.4) with plain sockets and Python's ssl, and the DNS
messages of the `udp` DNS form (also used by the runner's stand-in for the coredns Pod)."""
import json
import random
import socket
import ssl
import struct
import time

from .status import Outcome
from .traffic_common import TLSConfig, check_loopback, retry, target_of, weighted
from .weights import identity

WELCOME = b'Gateway API Test TCP Server\n'
ATTEMPT_TIMEOUT = 10.0


# -- DNS ----------------------------------------------------------------------------------------------

class DNSError(Exception):
    pass


def encode_name(name):
    out = bytearray()
    for label in name.rstrip('.').split('.') if name.strip('.') else []:
        raw = label.encode('idna') if not label.isascii() else label.encode()
        if not 0 < len(raw) < 64:
            raise DNSError(f'bad label {label!r}')
        out.append(len(raw))
        out += raw
    out.append(0)
    return bytes(out)


QTYPES = {'A': 1, 'NS': 2, 'CNAME': 5, 'SOA': 6, 'PTR': 12, 'MX': 15, 'TXT': 16, 'AAAA': 28, 'SRV': 33}


def dns_query(name, qtype='A', qid=None):
    """(id, bytes) of a standard query: flags 0x0100 (RD), one question, class IN, no other records."""
    qid = random.getrandbits(16) if qid is None else qid
    t = QTYPES[qtype] if isinstance(qtype, str) else int(qtype)
    return qid, struct.pack('!HHHHHH', qid, 0x0100, 1, 0, 0, 0) + encode_name(name) + struct.pack('!HH', t, 1)


def _read_name(msg, pos, depth=0):
    labels = []
    jumped_to = None
    while True:
        if pos >= len(msg):
            raise DNSError('name runs past the message')
        n = msg[pos]
        if n & 0xC0 == 0xC0:
            if pos + 1 >= len(msg) or depth > 20:
                raise DNSError('bad compression pointer')
            ptr = ((n & 0x3F) << 8) | msg[pos + 1]
            if ptr >= len(msg):
                raise DNSError('compression pointer past the message')
            if jumped_to is None:
                jumped_to = pos + 2
            pos, depth = ptr, depth + 1
            continue
        if n & 0xC0:
            raise DNSError('bad label type')
        pos += 1
        if n == 0:
            break
        if pos + n > len(msg):
            raise DNSError('label runs past the message')
        labels.append(msg[pos:pos + n].decode('latin-1'))
        pos += n
    return '.'.join(labels) + '.', (jumped_to if jumped_to is not None else pos)


def dns_parse(msg):
    """A DNS message -> {id, flags, questions: [(name, type, class)], answers, authority, additional:
    [(name, type, class, ttl, rdata)]}; raises DNSError when it does not parse."""
    msg = bytes(msg)
    if len(msg) < 12:
        raise DNSError('shorter than a header')
    qid, flags, qd, an, ns, ar = struct.unpack('!HHHHHH', msg[:12])
    pos = 12
    questions = []
    for _ in range(qd):
        name, pos = _read_name(msg, pos)
        if pos + 4 > len(msg):
            raise DNSError('truncated question')
        t, c = struct.unpack('!HH', msg[pos:pos + 4])
        pos += 4
        questions.append((name, t, c))
    sections = []
    for count in (an, ns, ar):
        records = []
        for _ in range(count):
            name, pos = _read_name(msg, pos)
            if pos + 10 > len(msg):
                raise DNSError('truncated record')
            t, c, ttl, n = struct.unpack('!HHIH', msg[pos:pos + 10])
            pos += 10
            if pos + n > len(msg):
                raise DNSError('truncated record data')
            records.append((name, t, c, ttl, msg[pos:pos + n]))
            pos += n
        sections.append(records)
    return {'id': qid, 'flags': flags, 'questions': questions, 'answers': sections[0],
            'authority': sections[1], 'additional': sections[2]}


def dns_whoami_reply(query, client_ip, client_port):
    """What coredns's whoami plugin answers (FORMAT.md section 7, DNS): same ID, QR and AA, NOERROR,
    the question echoed, no answers, additional A/AAAA <client IP> and SRV port <client port>."""
    q = dns_parse(query)
    if not q['questions']:
        raise DNSError('no question')
    flags = 0x8000 | 0x0400 | (q['flags'] & 0x0100)   # QR, AA, RD copied
    qname, qtype, qclass = q['questions'][0]
    out = bytearray(struct.pack('!HHHHHH', q['id'], flags, 1, 0, 0, 2))
    out += encode_name(qname) + struct.pack('!HH', qtype, qclass)
    ip = socket.inet_pton(socket.AF_INET6 if ':' in client_ip else socket.AF_INET, client_ip)
    out += encode_name(qname) + struct.pack('!HHIH', 28 if len(ip) == 16 else 1, 1, 0, len(ip)) + ip
    target = encode_name(qname)
    srv = struct.pack('!HHH', 0, 0, client_port) + target
    out += encode_name('_udp.' + qname) + struct.pack('!HHIH', 33, 1, 0, len(srv)) + srv
    return bytes(out)


# -- TLS and TCP ----------------------------------------------------------------------------------------

def tls_rejected_attempt(host, port, server_name, timeout=ATTEMPT_TIMEOUT):
    """Passes only when the handshake ends because the peer closed or reset the connection."""
    check_loopback(host)
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as e:
        return Outcome(False, f'connect: {type(e).__name__}: {e}')
    ctx = ssl.create_default_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        with ctx.wrap_socket(sock, server_hostname=server_name) as s:
            s.settimeout(timeout)
        return Outcome(False, 'the TLS handshake completed')
    except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionResetError, BrokenPipeError) as e:
        return Outcome(True, f'handshake ended by the peer: {type(e).__name__}')
    except ssl.SSLSyscallError as e:
        if e.errno in (None, 0):
            return Outcome(True, 'handshake ended by the peer: EOF')
        return Outcome(False, f'handshake: {e}')
    except ssl.SSLCertVerificationError as e:
        return Outcome(False, f'certificate error: {e.verify_message}')
    except (socket.timeout, TimeoutError):
        return Outcome(False, f'handshake: no answer within {timeout:g} s')
    except ssl.SSLError as e:
        return Outcome(False, f'handshake: TLS alert or error: {e.reason or e}')
    except OSError as e:
        return Outcome(False, f'handshake: {type(e).__name__}: {e}')
    finally:
        sock.close()


class LineConn:
    """A TCP (optionally TLS) connection read line by line, everything within one deadline."""

    def __init__(self, host, port, tls=None, timeout=ATTEMPT_TIMEOUT):
        check_loopback(host)
        self.deadline = time.monotonic() + timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        if tls is not None:
            try:
                self.sock = tls.wrap(self.sock)
            except BaseException:
                self.sock.close()
                raise
        self.buf = b''

    def _left(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError('deadline passed')
        return left

    def readline(self):
        while b'\n' not in self.buf:
            self.sock.settimeout(self._left())
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError(f'connection closed (after {self.buf[:80]!r})')
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b'\n')
        return line + b'\n'

    def send(self, data):
        self.sock.settimeout(self._left())
        self.sock.sendall(data)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Incomplete(Exception):
    """The exchange did not complete (connect, handshake, read or JSON): retried."""


def full_exchange(host, port, tls):
    """The full TCP echo exchange: (is_tls reply, TEST JSON) or raises Incomplete; a wrong welcome
    line is returned as an error string (it completes the exchange's first read)."""
    try:
        c = LineConn(host, port, tls)
    except (OSError, ssl.SSLError, ValueError) as e:
        raise Incomplete(f'connect/handshake: {type(e).__name__}: {e}') from None
    try:
        welcome = c.readline()
        if welcome != WELCOME:
            return None, None, f'welcome line {welcome!r}, want {WELCOME!r}'
        c.send(b'PING\n')
        pong = c.readline()
        if pong != b'PONG\n':
            return None, None, f'PING answered {pong!r}'
        c.send(b'IS_TLS\n')
        is_tls = c.readline()
        c.send(b'TEST\n')
        raw = c.readline()
        try:
            data = json.loads(raw)
        except ValueError as e:
            raise Incomplete(f'TEST reply is not JSON: {e}: {raw[:120]!r}') from None
        if not isinstance(data, dict):
            raise Incomplete('TEST reply is not a JSON object')
        return is_tls, data, ''
    except (OSError, ssl.SSLError) as e:
        raise Incomplete(f'{type(e).__name__}: {e}') from None
    finally:
        c.close()


def short_exchange(host, port, timeout):
    """Welcome line, TEST, JSON: the pod name, or raises Incomplete / returns an error."""
    try:
        c = LineConn(host, port, None, timeout)
    except OSError as e:
        return None, f'connect: {type(e).__name__}: {e}'
    try:
        welcome = c.readline()
        if welcome != WELCOME:
            return None, f'welcome line {welcome!r}'
        c.send(b'TEST\n')
        raw = c.readline()
        data = json.loads(raw)
        pod = data.get('pod') if isinstance(data, dict) else None
        if not pod:
            return None, f'TEST reply without a pod: {raw[:120]!r}'
        return str(pod), ''
    except (OSError, ValueError) as e:
        return None, f'{type(e).__name__}: {e}'
    finally:
        c.close()


def check_test_json(data, namespace, backend, backend_server_name):
    if data.get('namespace') != namespace:
        return f'TEST namespace {data.get("namespace")!r}, want {namespace!r}'
    pod = str(data.get('pod') or '')
    if not pod.startswith(f'{backend}-'):
        return f'TEST pod {pod!r}, want {backend}-...'
    if backend_server_name is not None:
        got = ((data.get('tls') or {}).get('serverName'))
        if got != backend_server_name:
            return f'backend saw SNI {got!r}, want {backend_server_name!r}'
    return ''


# -- UDP ------------------------------------------------------------------------------------------------

def udp_roundtrip(host, port, payload, timeout, bufsize):
    """One datagram on a new connected socket; the reply bytes, or None when none came in time."""
    check_loopback(host)
    with socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((host, port))
        s.settimeout(timeout)
        s.send(payload)
        try:
            return s.recv(bufsize)
        except (socket.timeout, TimeoutError, ConnectionRefusedError):
            return None


def udp_dns_attempt(host, port, name, qtype, timeout=2.0):
    check_loopback(host)
    qid, query = dns_query(name, qtype)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((host, port))
        s.send(query)
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return Outcome(False, f'no DNS reply with id {qid} within {timeout:g} s')
            s.settimeout(left)
            try:
                reply = s.recv(512)
            except (socket.timeout, TimeoutError):
                continue
            except ConnectionRefusedError:
                return Outcome(False, 'ICMP port unreachable')
            if len(reply) < 2 or struct.unpack('!H', reply[:2])[0] != qid:
                continue
            try:
                dns_parse(reply)
            except DNSError as e:
                return Outcome(False, f'DNS reply does not parse: {e}')
            return Outcome(True)


def udp_echo_json(raw):
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


# -- steps ----------------------------------------------------------------------------------------------

class L4Steps:
    def __init__(self, dp):
        self.dp = dp

    def tlsRejected(self, body, ctx):
        target = target_of(ctx.addresses, body, 443)
        return retry(lambda: tls_rejected_attempt(target.host, target.port, body['serverName']),
                     body, self.dp.scale(ctx), consecutive=1)

    def tcp(self, body, ctx):
        target = target_of(ctx.addresses, body, 443 if body.get('serverName') else 80)
        scale = self.dp.scale(ctx)
        if body.get('connectOnly'):
            return self._connect_only(target, body, scale)
        if body.get('exchange') == 'short':
            n = int(body.get('samples', 1))
            to = float(body.get('requestTimeout', ATTEMPT_TIMEOUT))
            for i in range(n):
                pod, why = short_exchange(target.host, target.port, to)
                if not why and not pod.startswith(f'{body.get("backend", "")}-'):
                    why = f'served by pod {pod!r}, want {body.get("backend")}-...'
                if why:
                    return Outcome(False, f'exchange {i + 1} of {n}: {why}')
            return Outcome(True, f'{n} exchanges')
        if body.get('backend') is None or body.get('namespace') is None:
            return Outcome(False, 'the full tcp form needs backend and namespace')
        tls = None
        if body.get('serverName') or body.get('serverCertificate'):
            tls = TLSConfig(body['serverName'], self.dp.certificate(body['serverCertificate']))
        want_tls = b'true\n' if body.get('backendIsTLS') else b'false\n'

        def attempt():
            try:
                is_tls, data, why = full_exchange(target.host, target.port, tls)
            except Incomplete as e:
                return Outcome(False, str(e))
            if not why and is_tls != want_tls:
                why = f'IS_TLS answered {is_tls!r}, want {want_tls!r}'
            if not why:
                why = check_test_json(data, body['namespace'], body['backend'], body.get('backendServerName'))
            # the first exchange that completes decides the step
            return Outcome(True) if not why else Outcome(False, why, fatal=True)
        return retry(attempt, body, scale, consecutive=1)

    @staticmethod
    def _connect_only(target, body, scale):
        limit = float(body.get('timeout', 30)) * scale
        start = time.monotonic()
        check_loopback(target.host)
        last = ''
        while True:
            try:
                with socket.create_connection((target.host, target.port), timeout=1.0):
                    return Outcome(True)
            except OSError as e:
                last = f'{type(e).__name__}: {e}'
            if body.get('once') or time.monotonic() - start >= limit:
                return Outcome(False, f'no TCP connection accepted within {limit:g} s: {last}')
            time.sleep(0.1)

    def tcpWeights(self, body, ctx):
        target = target_of(ctx.addresses, body, 80)
        to = float(body.get('requestTimeout', 10))
        return weighted(lambda i: short_exchange(target.host, target.port, to), body, concurrency=10)

    def udp(self, body, ctx):
        target = target_of(ctx.addresses, body, 53)
        scale = self.dp.scale(ctx)
        if body.get('dns'):
            dns = body['dns']
            return retry(self._paced(lambda: udp_dns_attempt(target.host, target.port, dns['name'],
                                                             dns.get('type', 'A'))),
                         body, scale, timeout=60, consecutive=1)
        payload = str(body.get('payload', '')).encode()
        if body.get('samples') is not None:
            return self._udp_samples(target, body, payload, scale)
        backend, namespace = body.get('backend'), body.get('namespace')

        def attempt():
            raw = udp_roundtrip(target.host, target.port, payload, 2.0, 1024)
            if raw is None:
                return Outcome(False, 'no UDP reply within 2 s')
            if backend is None and namespace is None:
                return Outcome(True)
            data = udp_echo_json(raw)
            if data is None:
                return Outcome(False, f'reply is not JSON: {raw[:120]!r}')
            if backend is not None and data.get('service') != backend:
                return Outcome(False, f'reply from service {data.get("service")!r}, want {backend!r}')
            if namespace is not None and data.get('namespace') != namespace:
                return Outcome(False, f'reply from namespace {data.get("namespace")!r}, want {namespace!r}')
            return Outcome(True)

        return retry(self._paced(attempt), body, scale, timeout=60, consecutive=1)

    @staticmethod
    def _paced(attempt, every=1.0):
        """Attempts started at least `every` s apart (a failed one is followed by retry's pause)."""
        state = {'last': None, 'held': False}

        def run():
            if state['last'] is not None and state['held']:
                wait = every - (time.monotonic() - state['last'])
                if wait > 0:
                    time.sleep(wait)
            state['last'] = time.monotonic()
            out = attempt()
            state['held'] = out.held
            return out
        return run

    def _udp_samples(self, target, body, payload, scale):
        n = int(body['samples'])
        to = float(body.get('requestTimeout', 2))
        limit = float(body.get('timeout', 60)) * scale
        backend = body.get('backend')
        start = time.monotonic()
        last = ''
        while True:
            ok = True
            for i in range(n):
                raw = udp_roundtrip(target.host, target.port, payload, to, 4096)
                data = udp_echo_json(raw) if raw is not None else None
                pod = str((data or {}).get('pod') or '')
                if not pod:
                    last = f'probe {i + 1}: ' + ('no reply' if raw is None else f'bad reply {raw[:120]!r}')
                    ok = False
                    break
                if backend is not None and identity(pod) != backend:
                    return Outcome(False, f'probe {i + 1}: reply from pod {pod!r}, want backend {backend}', fatal=True)
            if ok:
                return Outcome(True, f'a round of {n} probes passed')
            if body.get('once') or time.monotonic() - start >= limit:
                return Outcome(False, f'after {limit:g} s: {last}')
            time.sleep(1.0)

    def udpWeights(self, body, ctx):
        target = target_of(ctx.addresses, body, 53)
        payload = str(body.get('payload', '')).encode()
        to = float(body.get('requestTimeout', 2))

        def sample(i):
            raw = udp_roundtrip(target.host, target.port, payload, to, 4096)
            if raw is None:
                return None, f'no reply within {to:g} s'
            data = udp_echo_json(raw)
            pod = str((data or {}).get('pod') or '')
            if not pod:
                return None, f'bad reply {raw[:120]!r}'
            return pod, ''
        return weighted(sample, body, concurrency=10)
