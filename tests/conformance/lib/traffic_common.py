"""What every traffic step shares (FORMAT.md section 5): the Gateway address, the loopback rule,
the attempt loop of section 2 ("Waiting") and the sampling runs of the weight rule."""
import base64
import concurrent.futures
import hashlib
import ipaddress
import os
import ssl
import threading
import time

from .status import Outcome
from .weights import weight_rule


class TrafficError(Exception):
    """A step that cannot be played as written (no address, a non-loopback target, ...)."""


def check_loopback(host):
    """The runner only ever sends to loopback addresses: torii reports 127.x Gateway addresses and
    the made-up Pods live in 127.100.0.0/16. Anything else is refused, never contacted."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise TrafficError(f'refusing to send to {host!r}: not an IP address (loopback only)') from None
    if not ip.is_loopback:
        raise TrafficError(f'refusing to send to {host}: not a loopback address')
    return str(ip)


class Target:
    """Where a traffic step sends: the remembered Gateway address and the step's port."""

    def __init__(self, host, port, explicit_port):
        self.host = check_loopback(host)
        self.port = int(port)
        self.explicit_port = explicit_port   # whether the URL names the port (else the scheme default)

    def authority(self):
        return f'{self.host}:{self.port}' if self.explicit_port else self.host

    def __repr__(self):
        return f'{self.host}:{self.port}'


def target_of(addresses, body, default_port):
    """The address of body['gateway'] (section 5): the host remembered by the latest `accepted` or
    `gatewayAddress` step; the port is the step's, else the remembered one, else default_port."""
    gw = body['gateway']
    if gw not in addresses:
        raise TrafficError(f'no address remembered for Gateway {gw} (no earlier accepted/gatewayAddress step)')
    host, port = addresses[gw]
    if body.get('port') is not None:
        return Target(host, body['port'], True)
    if port is not None:
        return Target(host, port, True)
    return Target(host, default_port, False)


def budget(body, default, scale=1.0):
    return float(body.get('timeout', default)) * scale


def retry(attempt, body, scale=1.0, timeout=30.0, consecutive=3, pause=1.0,
          clock=time.monotonic, sleep=time.sleep):
    """Section 2: attempts until `consecutive` in a row pass or `timeout` s have passed since the
    first; a failed attempt is followed by a `pause`, a passed one by none. `once`: one attempt.

    attempt() -> Outcome; a fatal Outcome ends the step at once.
    """
    if body.get('once'):
        return attempt()
    limit = budget(body, timeout, scale)
    need = int(body.get('consecutive', consecutive))
    start = clock()
    run = 0
    last = ''
    n = 0
    while True:
        out = attempt()
        n += 1
        if out.fatal:
            return out
        if out.held:
            run += 1
            if run >= need:
                return Outcome(True, f'{n} attempt(s)', value=out.value)
        else:
            run = 0
            last = out.why
        if clock() - start >= limit:
            break
        if not out.held:
            sleep(pause)
            if clock() - start >= limit:
                break
    if last:
        return Outcome(False, f'after {limit:g} s ({n} attempts): {last}'
                       + (f' (then {run} passed in a row, {need} needed)' if run else ''))
    return Outcome(False, f'after {limit:g} s: only {run} attempt(s) passed in a row, {need} needed')


def run_samples(sample, count, concurrency):
    """Sends `count` samples, `concurrency` at a time. sample(i) -> (identity or None, why).

    Returns (identities, why): why is the first failed sample's reason ('' when all passed); after a
    failure the samples not yet started are left out."""
    failed = threading.Event()
    first = []
    lock = threading.Lock()

    def one(i):
        if failed.is_set():
            return None
        try:
            name, why = sample(i)
        except Exception as e:  # noqa: BLE001 - a sample that cannot be made is a failed sample
            name, why = None, f'{type(e).__name__}: {e}'
        if why:
            with lock:
                if not first:
                    first.append(f'sample {i + 1}: {why}')
            failed.set()
        return name

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, int(concurrency))) as pool:
        names = list(pool.map(one, range(count)))
    if first:
        return [], first[0]
    return names, ''


def weighted(sample, body, concurrency=10, sleep=time.sleep):
    """The ...Weights steps: up to `attempts` runs of `requests` samples; a run passes when every
    sample passed and the weight rule holds (section 5.2)."""
    requests = int(body.get('requests', 500))
    tolerance = float(body.get('tolerance', 0.05))
    attempts = int(body.get('attempts', 10))
    backends = {k: float(v) for k, v in (body.get('backends') or {}).items()}
    concurrency = int(body.get('concurrency', concurrency))
    last = ''
    for run in range(attempts):
        names, why = run_samples(sample, requests, concurrency)
        if not why:
            why = weight_rule(names, backends, requests, tolerance)
        if not why:
            return Outcome(True, f'run {run + 1} of {attempts} passed')
        last = why
        if run + 1 < attempts:
            sleep(1.0)
    return Outcome(False, f'no run of {attempts} passed; last: {last}')


class CertNameError(ssl.SSLError):
    """The server's certificate does not name the host the client asked for."""


def _valid_pattern(pattern):
    """Go's validHostname(pattern, true): no bare '*', no empty label, '*' only as a whole first label."""
    if not pattern or pattern == '*':
        return False
    for i, part in enumerate(pattern.split('.')):
        if not part:
            return False
        if i == 0 and part == '*':
            continue
        for j, c in enumerate(part):
            if not (c.isascii() and (c.isalnum() or c == '_' or c == ':' or (c == '-' and j != 0))):
                return False
    return True


def go_match_hostname(pattern, host):
    """Go's crypto/x509 name match (validHostnamePattern + matchHostnames): same number of labels,
    '*' only as the whole leftmost label (so '*.org' matches 'example.org', which OpenSSL's own
    check refuses)."""
    if not _valid_pattern(pattern):
        return False
    pattern, host = pattern.lower().rstrip('.'), host.lower().rstrip('.')
    if not pattern or not host:
        return False
    p, h = pattern.split('.'), host.split('.')
    if len(p) != len(h):
        return False
    return all((i == 0 and part == '*') or part == h[i] for i, part in enumerate(p))


def verify_name(cert, name):
    """Go's Certificate.VerifyHostname on a verified peer certificate (ssl's getpeercert() dict):
    an IP is matched against IP SANs, a name against DNS SANs; the subject CN is never used."""
    sans = cert.get('subjectAltName') or ()
    try:
        ip = ipaddress.ip_address(name.strip('[]'))
    except ValueError:
        ip = None
    if ip is not None:
        for kind, value in sans:
            if kind == 'IP Address':
                try:
                    if ipaddress.ip_address(value.strip()) == ip:
                        return
                except ValueError:
                    continue
        raise CertNameError(f'certificate is not valid for IP {name}')
    dns = [v for k, v in sans if k == 'DNS']
    if not any(go_match_hostname(v, name) for v in dns):
        raise CertNameError(f'certificate is valid for {dns}, not {name}')


def _der(buf, pos):
    """(tag, content start, end) of the DER element at pos."""
    tag, n = buf[pos], buf[pos + 1]
    pos += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(buf[pos:pos + k], 'big')
        pos += k
    return tag, pos, pos + n


def spki_sha256(cert_der):
    """base64 SHA-256 of a certificate's SubjectPublicKeyInfo (curl's --pinnedpubkey sha256//...)."""
    _, start, _ = _der(cert_der, 0)            # Certificate
    _, pos, end = _der(cert_der, start)        # tbsCertificate
    index = 0
    while pos < end:
        tag, cstart, cend = _der(cert_der, pos)
        if index == 0 and tag == 0xA0:         # [0] version: not counted
            pos = cend
            continue
        if index == 5:                         # serial, signature, issuer, validity, subject, SPKI
            return base64.b64encode(hashlib.sha256(cert_der[pos:cend]).digest()).decode()
        index += 1
        pos = cend
    raise ValueError('no SubjectPublicKeyInfo in the certificate')


class TLSConfig:
    """The client side of a TLS connection to the Gateway: SNI, trust and an optional client
    certificate. ca_pem None: the system's default trust; else that certificate is the only root
    (any certificate in the pool is a trust anchor, as with Go's x509.CertPool). The chain is
    verified by OpenSSL; the name is checked against serverName with Go's rules (verify_name)."""

    def __init__(self, server_name, ca_pem=None, client_cert=None, alpn=None):
        self.server_name = server_name
        self.ca_pem = ca_pem
        self.client_cert = client_cert   # (cert path, key path) or None
        self.alpn = alpn

    def context(self, seen=None):
        """A fresh client context; seen (a dict) gets 'cert_requested' when the server asked for a
        client certificate (a CertificateRequest handshake message arrived)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.ca_pem is not None:
            ctx.load_verify_locations(cadata=self.ca_pem)
            ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        else:
            ctx.load_default_certs()
        ctx.check_hostname = False           # checked after the handshake, as Go does
        ctx.verify_mode = ssl.CERT_REQUIRED
        if self.client_cert:
            ctx.load_cert_chain(self.client_cert[0], self.client_cert[1])
        if self.alpn:
            ctx.set_alpn_protocols(list(self.alpn))
        if seen is not None:
            seen.setdefault('cert_requested', False)

            def on_message(conn, direction, version, content_type, msg_type, data):
                if direction == 'read' and int(content_type) == 22 and int(msg_type) == 13:
                    seen['cert_requested'] = True
            ctx._msg_callback = on_message   # CPython's TLS message hook (3.8+)
        return ctx

    def wrap(self, sock, seen=None):
        """The handshake on sock, with the certificate's chain and name verified."""
        sni = self.server_name if self.server_name and not _is_ip(self.server_name) else None
        s = self.context(seen).wrap_socket(sock, server_hostname=sni)
        try:
            verify_name(s.getpeercert(), self.server_name or '')
        except BaseException:
            s.close()
            raise
        return s


def _is_ip(s):
    try:
        ipaddress.ip_address(s)
        return True
    except ValueError:
        return False


def write_file(directory, name, content):
    """A PEM or other content as a file under the work directory; returns its path."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, name)
    data = content.encode() if isinstance(content, str) else content
    try:
        with open(path, 'rb') as f:
            if f.read() == data:
                return path
    except OSError:
        pass
    tmp = f'{path}.{os.getpid()}.{threading.get_ident()}.tmp'
    with open(tmp, 'wb') as f:
        f.write(data)
    os.replace(tmp, path)
    return path
