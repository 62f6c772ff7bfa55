"""gRPC steps (FORMAT.md section 5.3): a unary call over cleartext HTTP/2 with prior knowledge,
made with curl, and the EchoResponse protobuf (section 10) decoded by hand."""
import random

from .status import Outcome
from .traffic_common import retry, target_of, weighted
from .traffic_http import ClientError, joined

SERVICE = 'gateway_api_conformance.echo_basic.grpcecho.GrpcEcho'
EMPTY_MESSAGE = b'\x00\x00\x00\x00\x00'     # uncompressed, length 0: an empty EchoRequest

CODES = ['OK', 'Canceled', 'Unknown', 'InvalidArgument', 'DeadlineExceeded', 'NotFound', 'AlreadyExists',
         'PermissionDenied', 'ResourceExhausted', 'FailedPrecondition', 'Aborted', 'OutOfRange',
         'Unimplemented', 'Internal', 'Unavailable', 'DataLoss', 'Unauthenticated']

# grpc-go's mapping of a non-200 HTTP status (or a non-gRPC reply) to a code
HTTP_TO_CODE = {400: 'Internal', 401: 'Unauthenticated', 403: 'PermissionDenied', 404: 'Unimplemented',
                429: 'Unavailable', 502: 'Unavailable', 503: 'Unavailable', 504: 'Unavailable'}


class ProtoError(Exception):
    pass


def read_varint(buf, pos):
    value, shift = 0, 0
    while True:
        if pos >= len(buf):
            raise ProtoError('truncated varint')
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ProtoError('varint too long')


def fields(buf):
    """[(number, wire type, value)] of one message: ints for varint/fixed, bytes for length-delimited."""
    out, pos = [], 0
    buf = bytes(buf)
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ProtoError('field number 0')
        if wire == 0:
            value, pos = read_varint(buf, pos)
        elif wire == 1:
            if pos + 8 > len(buf):
                raise ProtoError('truncated fixed64')
            value, pos = int.from_bytes(buf[pos:pos + 8], 'little'), pos + 8
        elif wire == 2:
            n, pos = read_varint(buf, pos)
            if pos + n > len(buf):
                raise ProtoError('truncated length-delimited field')
            value, pos = buf[pos:pos + n], pos + n
        elif wire == 5:
            if pos + 4 > len(buf):
                raise ProtoError('truncated fixed32')
            value, pos = int.from_bytes(buf[pos:pos + 4], 'little'), pos + 4
        else:
            raise ProtoError(f'unsupported wire type {wire}')
        out.append((number, wire, value))
    return out


def _strings(buf, names, repeated=()):
    """A message of string fields: {name: str} (repeated ones: [str]); unknown fields ignored."""
    out = {n: [] if n in repeated else '' for n in names.values()}
    for number, wire, value in fields(buf):
        name = names.get(number)
        if name is None or wire != 2:
            continue
        text = value.decode('utf-8', 'replace')
        if name in repeated:
            out[name].append(text)
        else:
            out[name] = text
    return out


def decode_echo_response(buf):
    """EchoResponse -> {'assertions': {fully_qualified_method, headers: [(k, v)], authority,
    context: {namespace, ingress, service_name, pod}, tls_assertions: {...} or None}}."""
    a = {'fully_qualified_method': '', 'headers': [], 'authority': '',
         'context': {'namespace': '', 'ingress': '', 'service_name': '', 'pod': ''}, 'tls_assertions': None}
    for number, wire, value in fields(buf):
        if number != 1 or wire != 2:
            continue
        for n, w, v in fields(value):
            if w != 2:
                continue
            if n == 1:
                a['fully_qualified_method'] = v.decode('utf-8', 'replace')
            elif n == 2:
                h = _strings(v, {1: 'key', 2: 'value'})
                a['headers'].append((h['key'], h['value']))
            elif n == 3:
                a['authority'] = v.decode('utf-8', 'replace')
            elif n == 4:
                a['context'] = _strings(v, {1: 'namespace', 2: 'ingress', 3: 'service_name', 4: 'pod'})
            elif n == 5:
                a['tls_assertions'] = _strings(v, {1: 'version', 2: 'negotiated_protocol', 3: 'server_name',
                                                   4: 'cipher_suite', 5: 'peer_certificates'},
                                               repeated=('peer_certificates',))
    return {'assertions': a}


def unframe(body):
    """The first message of a gRPC response body (5-byte prefix: flag, big-endian length)."""
    if len(body) < 5:
        raise ProtoError(f'response body of {len(body)} bytes, want a 5-byte message prefix')
    if body[0] != 0:
        raise ProtoError('compressed response message')
    n = int.from_bytes(body[1:5], 'big')
    if len(body) < 5 + n:
        raise ProtoError('truncated response message')
    return body[5:5 + n]


def status_of(http_status, headers, trailers):
    """The gRPC status name of a reply, as grpc-go's client derives it."""
    ctype = joined(headers, 'content-type') or ''
    is_grpc = ctype == 'application/grpc' or ctype.startswith('application/grpc+') or \
        ctype.startswith('application/grpc;')
    if not is_grpc or http_status != 200:
        return HTTP_TO_CODE.get(http_status, 'Unknown'), f'HTTP {http_status}, content-type {ctype!r}'
    raw = joined(trailers, 'grpc-status')
    if raw is None:
        raw = joined(headers, 'grpc-status')       # a trailers-only reply
    if raw is None:
        return 'Internal', 'no grpc-status'
    try:
        code = int(raw)
    except ValueError:
        return 'Unknown', f'grpc-status {raw!r}'
    msg = joined(trailers, 'grpc-message') or joined(headers, 'grpc-message') or ''
    return (CODES[code] if 0 <= code < len(CODES) else 'Unknown'), msg


class GrpcSteps:
    def __init__(self, dp):
        self.dp = dp

    def call(self, target, method, metadata, authority):
        """One unary call: (code name, message, decoded response or None)."""
        headers = [('Host', authority or f'{target.host}:{target.port}'),
                   ('content-type', 'application/grpc'), ('te', 'trailers'),
                   ('user-agent', 'grpc-torii-conformance/curl'), ('accept', None), ('content-length', None)]
        headers += [(str(k).lower(), str(v)) for k, v in (metadata or {}).items()]
        try:
            reply = self.dp.curl.send(target.host, target.port, None, 'POST', f'/{SERVICE}/{method}', headers,
                                      h2c=True, data=EMPTY_MESSAGE)
        except ClientError as e:
            return 'Unavailable', str(e), None
        code, msg = status_of(reply.status, reply.headers, reply.trailers)
        if code != 'OK':
            return code, msg, None
        try:
            return code, msg, decode_echo_response(unframe(reply.body))
        except ProtoError as e:
            return 'Internal', f'bad response message: {e}', None

    @staticmethod
    def compare(code, msg, resp, want_code, method, namespace, backend):
        if code != want_code:
            return f'status {code}, want {want_code}' + (f' ({msg})' if msg else '')
        if code == 'OK':
            a = resp['assertions']
            full = f'/{SERVICE}/{method}'
            if a['fully_qualified_method'] != full:
                return f'backend saw method {a["fully_qualified_method"]!r}, want {full!r}'
            if namespace and a['context']['namespace'] != namespace:
                return f'backend namespace {a["context"]["namespace"]!r}, want {namespace!r}'
            if not a['context']['pod'].startswith(backend or ''):
                return f'served by pod {a["context"]["pod"]!r}, want one of {backend}'
        return ''

    def grpc(self, body, ctx):
        target = target_of(ctx.addresses, body, 80)
        md = body.get('requestMetadata') or {}
        want = (body.get('response') or {}).get('code', 'OK')
        method = body['method']

        def attempt():
            code, msg, resp = self.call(target, method, md.get('metadata'), md.get('authority'))
            why = self.compare(code, msg, resp, want, method, body.get('namespace'), body.get('backend'))
            return Outcome(not why, why)
        return retry(attempt, body, self.dp.scale(ctx))

    def grpcWeights(self, body, ctx):
        target = target_of(ctx.addresses, body, 80)
        method = body['method']

        def sample(i):
            md = {}
            if body.get('entropy') and random.random() < 0.5:
                md['x-jitter'] = str(random.randint(0, 9999))
            code, msg, resp = self.call(target, method, md, None)
            if code != 'OK':
                return None, f'status {code}' + (f' ({msg})' if msg else '')
            return resp['assertions']['context']['pod'], ''
        return weighted(sample, body, concurrency=10)
