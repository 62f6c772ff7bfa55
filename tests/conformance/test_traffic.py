"""Unit tests of the pure parts of the runner's data plane side (no torii, no network).

    python3 -m unittest discover -s tests/conformance -p 'test_*.py'
"""
import base64
import os
import struct
import sys
import types
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lib import backends, traffic_grpc as tg, traffic_http as th, traffic_l4 as tl  # noqa: E402
from lib.status import Outcome  # noqa: E402
from lib.traffic_common import (CertNameError, TrafficError, check_loopback, go_match_hostname, retry,  # noqa: E402
                                run_samples, spki_sha256, target_of, verify_name, weighted)


# -- protobuf -----------------------------------------------------------------------------------------

def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def ld(number, payload):
    payload = payload.encode() if isinstance(payload, str) else payload
    return varint(number << 3 | 2) + varint(len(payload)) + payload


class ProtobufTest(unittest.TestCase):
    def response(self):
        header = ld(1, ':authority') + ld(2, 'gw.example:80')
        context = ld(1, 'ns') + ld(2, 'ing') + ld(3, 'svc') + ld(4, 'grpc-infra-backend-v1-abc-12345')
        tls = ld(1, 'TLSv1.3') + ld(3, 'sni.example') + ld(5, 'PEM1') + ld(5, 'PEM2')
        assertions = (ld(1, '/gateway_api_conformance.echo_basic.grpcecho.GrpcEcho/Echo') + ld(2, header)
                      + ld(2, ld(1, 'x-jitter') + ld(2, '7')) + ld(3, 'gw.example:80') + ld(4, context)
                      + varint(9 << 3) + varint(300)        # an unknown varint field, skipped
                      + ld(5, tls))
        return ld(1, assertions) + ld(2, b'')

    def test_decode_echo_response(self):
        a = tg.decode_echo_response(self.response())['assertions']
        self.assertEqual(a['fully_qualified_method'], '/gateway_api_conformance.echo_basic.grpcecho.GrpcEcho/Echo')
        self.assertEqual(a['headers'], [(':authority', 'gw.example:80'), ('x-jitter', '7')])
        self.assertEqual(a['authority'], 'gw.example:80')
        self.assertEqual(a['context'], {'namespace': 'ns', 'ingress': 'ing', 'service_name': 'svc',
                                        'pod': 'grpc-infra-backend-v1-abc-12345'})
        self.assertEqual(a['tls_assertions']['server_name'], 'sni.example')
        self.assertEqual(a['tls_assertions']['peer_certificates'], ['PEM1', 'PEM2'])

    def test_empty_response(self):
        a = tg.decode_echo_response(b'')['assertions']
        self.assertEqual(a['fully_qualified_method'], '')
        self.assertEqual(a['context']['pod'], '')

    def test_varints_and_wire_types(self):
        self.assertEqual(tg.read_varint(b'\xac\x02', 0), (300, 2))
        buf = varint(1 << 3) + varint(150) + varint(2 << 3 | 1) + (7).to_bytes(8, 'little') \
            + varint(3 << 3 | 5) + (9).to_bytes(4, 'little')
        self.assertEqual(tg.fields(buf), [(1, 0, 150), (2, 1, 7), (3, 5, 9)])

    def test_malformed(self):
        for bad in (b'\x0a\x05ab', b'\x08', b'\x08\xff', b'\x0b', b'\x00'):
            with self.assertRaises(tg.ProtoError, msg=bad):
                tg.fields(bad)

    def test_unframe(self):
        msg = self.response()
        self.assertEqual(tg.unframe(b'\x00' + len(msg).to_bytes(4, 'big') + msg), msg)
        self.assertEqual(tg.unframe(tg.EMPTY_MESSAGE), b'')
        for bad in (b'\x00\x00', b'\x01\x00\x00\x00\x00', b'\x00\x00\x00\x00\x05ab'):
            with self.assertRaises(tg.ProtoError):
                tg.unframe(bad)

    def test_status(self):
        g = [('content-type', 'application/grpc')]
        self.assertEqual(tg.status_of(200, g, [('grpc-status', '0')])[0], 'OK')
        self.assertEqual(tg.status_of(200, g + [('grpc-status', '12')], [])[0], 'Unimplemented')   # trailers-only
        self.assertEqual(tg.status_of(200, g, [])[0], 'Internal')
        self.assertEqual(tg.status_of(404, [('content-type', 'text/plain')], [])[0], 'Unimplemented')
        self.assertEqual(tg.status_of(503, g, [('grpc-status', '0')])[0], 'Unavailable')
        self.assertEqual(tg.status_of(200, [('content-type', 'text/html')], [])[0], 'Unknown')
        self.assertEqual(tg.status_of(200, [('content-type', 'application/grpc+proto')], [('grpc-status', '13')])[0],
                         'Internal')

    def test_compare(self):
        resp = tg.decode_echo_response(self.response())
        self.assertEqual(tg.GrpcSteps.compare('OK', '', resp, 'OK', 'Echo', 'ns', 'grpc-infra-backend-v1'), '')
        self.assertIn('method', tg.GrpcSteps.compare('OK', '', resp, 'OK', 'EchoTwo', 'ns', ''))
        self.assertIn('namespace', tg.GrpcSteps.compare('OK', '', resp, 'OK', 'Echo', 'other', ''))
        self.assertIn('pod', tg.GrpcSteps.compare('OK', '', resp, 'OK', 'Echo', None, 'grpc-infra-backend-v2'))
        self.assertEqual(tg.GrpcSteps.compare('Unimplemented', '', None, 'Unimplemented', 'EchoThree', 'x', 'y'), '')
        self.assertIn('status', tg.GrpcSteps.compare('Unavailable', 'refused', None, 'OK', 'Echo', '', ''))


# -- WebSocket --------------------------------------------------------------------------------------------

class WebSocketTest(unittest.TestCase):
    def test_accept_key(self):      # RFC 6455 section 1.3
        self.assertEqual(th.ws_accept('dGhlIHNhbXBsZSBub25jZQ=='), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=')

    def test_masked_text_frame(self):   # RFC 6455 section 5.7
        frame = th.ws_encode(1, b'Hello', bytes([0x37, 0xfa, 0x21, 0x3d]))
        self.assertEqual(frame, bytes([0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]))
        self.assertEqual(th.ws_decode(frame), (True, 1, b'Hello', len(frame)))

    def test_unmasked_server_frames(self):
        self.assertEqual(th.ws_decode(bytes([0x82, 0x07]) + bytes(range(1, 8))), (True, 2, bytes(range(1, 8)), 9))
        self.assertEqual(th.ws_decode(bytes([0x01, 0x03]) + b'Hel'), (False, 1, b'Hel', 5))

    def test_lengths(self):
        for n in (0, 125, 126, 65535, 65536):
            payload = bytes(i % 251 for i in range(n))
            frame = th.ws_encode(2, payload, b'abcd')
            self.assertEqual(frame[1] & 0x7F, n if n < 126 else (126 if n < 65536 else 127))
            self.assertEqual(th.ws_decode(frame), (True, 2, payload, len(frame)))
            self.assertIsNone(th.ws_decode(frame[:-1]) if n else th.ws_decode(frame[:1]))

    def test_two_frames_in_a_buffer(self):
        buf = bytes([0x81, 0x02]) + b'hi' + bytes([0x88, 0x02, 0x03, 0xe8])
        fin, op, payload, used = th.ws_decode(buf)
        self.assertEqual((op, payload), (1, b'hi'))
        self.assertEqual(th.ws_decode(buf[used:])[:3], (True, 8, b'\x03\xe8'))


# -- DNS --------------------------------------------------------------------------------------------------

class DNSTest(unittest.TestCase):
    def test_query_bytes(self):
        qid, q = tl.dns_query('foo.bar.com.', 'A', qid=0x1234)
        self.assertEqual(q[:12], bytes.fromhex('1234 0100 0001 0000 0000 0000'))
        self.assertEqual(q[12:], bytes.fromhex('03666f6f 03626172 03636f6d 00 0001 0001'))
        self.assertEqual(tl.dns_query('foo.bar.com', 'A', qid=1)[1][12:], q[12:])

    def test_parse_query(self):
        _, q = tl.dns_query('foo.bar.com.', 'A', qid=7)
        m = tl.dns_parse(q)
        self.assertEqual((m['id'], m['flags'], m['questions']), (7, 0x0100, [('foo.bar.com.', 1, 1)]))

    def test_whoami_reply(self):
        _, q = tl.dns_query('foo.bar.com.', 'A', qid=0xbeef)
        r = tl.dns_parse(tl.dns_whoami_reply(q, '127.0.0.5', 40000))
        self.assertEqual(r['id'], 0xbeef)
        self.assertEqual(r['flags'] & 0x8000, 0x8000)      # QR
        self.assertEqual(r['flags'] & 0x0400, 0x0400)      # AA
        self.assertEqual(r['flags'] & 0x000F, 0)           # NOERROR
        self.assertEqual(r['questions'], [('foo.bar.com.', 1, 1)])
        self.assertEqual(r['answers'], [])
        (n1, t1, _, _, d1), (n2, t2, _, _, d2) = r['additional']
        self.assertEqual((n1, t1, d1), ('foo.bar.com.', 1, bytes([127, 0, 0, 5])))
        self.assertEqual((n2, t2, struct.unpack('!H', d2[4:6])[0]), ('_udp.foo.bar.com.', 33, 40000))

    def test_compression_pointer(self):
        msg = bytes.fromhex('0001 8180 0001 0001 0000 0000') + tl.encode_name('a.example.') + b'\x00\x01\x00\x01' \
            + b'\xc0\x0c' + struct.pack('!HHIH', 1, 1, 60, 4) + bytes([1, 2, 3, 4])
        m = tl.dns_parse(msg)
        self.assertEqual(m['answers'], [('a.example.', 1, 1, 60, bytes([1, 2, 3, 4]))])

    def test_malformed(self):
        _, q = tl.dns_query('foo.bar.com.', 'A', qid=1)
        for bad in (q[:5], q[:-1], q[:14], bytes.fromhex('0001 0000 0001 0000 0000 0000') + b'\xc0\xff'):
            with self.assertRaises(tl.DNSError):
                tl.dns_parse(bad)


# -- HTTP comparison ---------------------------------------------------------------------------------------

def spec(**kw):
    base = dict(scheme='http', method='GET', path='/p', host='h', headers=[], protocol='', follow=True, tls=None,
                status_codes=[200], expected={'path': '/p'}, response={}, redirect=None, backend='', namespace='ns')
    base.update(kw)
    return th.HttpSpec(**base)


def reply(status, headers=(), body=b''):
    return th.Reply(status, list(headers), body)


ECHO = {'path': '/p', 'host': 'h', 'method': 'GET', 'namespace': 'ns', 'pod': 'infra-backend-v1-abc-12345',
        'headers': {'X-Multi': ['a', 'b'], 'User-Agent': ['x']},
        'tls': {'serverName': 'sni.example', 'peerCertificates': ['-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n']}}


class HeaderRulesTest(unittest.TestCase):
    def test_joined(self):
        self.assertEqual(th.joined([('Set-Cookie', 'a'), ('set-cookie', 'b')], 'SET-COOKIE'), 'a,b')
        self.assertIsNone(th.joined([('A', '1')], 'B'))
        self.assertEqual(th.joined({'X-Multi': ['a', 'b']}, 'x-multi'), 'a,b')
        self.assertEqual(th.joined([('Empty', '')], 'empty'), '')

    def test_request_headers(self):
        h = ECHO['headers']
        self.assertEqual(th.check_request_headers(h, {'x-multi': 'a,b'}, ['X-Gone']), '')
        self.assertIn('did not receive', th.check_request_headers(h, {'X-Other': '1'}, []))
        self.assertIn("want 'a'", th.check_request_headers(h, {'X-Multi': 'a'}, []))
        self.assertIn('absent', th.check_request_headers(h, {}, ['user-agent']))

    def test_response_headers(self):
        hs = [('X-Header-Set', 'a, b'), ('X-Two', '1'), ('x-two', '2')]
        self.assertEqual(th.check_response_headers(hs, {'headers': {'x-two': '1,2'}}), '')
        self.assertIn('want', th.check_response_headers(hs, {'headers': {'X-Header-Set': 'a,b'}}))
        self.assertEqual(th.check_response_headers(hs, {'headers': {'X-Header-Set': 'a,b'}, 'ignoreWhitespace': True}), '')
        self.assertEqual(th.check_response_headers(hs, {'validHeaderValues': {'X-Two': ['0', '1,2']}}), '')
        self.assertIn('one of', th.check_response_headers(hs, {'validHeaderValues': {'X-Two': ['1']}}))
        self.assertIn('no header', th.check_response_headers(hs, {'validHeaderValues': {'X-None': ['1']}}))
        self.assertIn('absent', th.check_response_headers(hs, {'absentHeaders': ['X-TWO']}))
        self.assertIn('no header', th.check_response_headers(hs, {'headers': {'Missing': ''}}))

    def test_echo_set_header(self):
        self.assertEqual(th.echo_set_header({'X-A': '1', 'X-B': 'two'}), 'X-A:1,X-B:two')
        self.assertEqual(th.echo_set_header(None), '')


class EvaluateTest(unittest.TestCase):
    def test_timeouts_pass_when_listed(self):
        self.assertEqual(th.evaluate(reply(504), {}, spec(status_codes=[408]), 'http://h/p'), '')
        self.assertIn('status 504', th.evaluate(reply(504), {}, spec(status_codes=[200]), 'http://h/p'))

    def test_status(self):
        self.assertIn('status 404', th.evaluate(reply(404), {}, spec(), 'http://h/p'))
        self.assertEqual(th.evaluate(reply(404), {}, spec(status_codes=[404]), 'http://h/p'), '')

    def test_echo_checks(self):
        ok = spec(backend='infra-backend-v1', expected={'path': '/p', 'host': 'h', 'sni': 'sni.example',
                                                        'clientCertPEM': '-----BEGIN CERTIFICATE-----\r\nAAA\n-----END CERTIFICATE-----'})
        self.assertEqual(th.evaluate(reply(200), ECHO, ok, 'http://h/p'), '')
        cases = [
            (spec(expected={'path': '/p?x=1'}), 'path'),
            (spec(expected={'path': '/p', 'host': 'other'}), 'host'),
            (spec(expected={'path': '/p', 'method': 'POST'}), 'method'),
            (spec(namespace=''), 'namespace'),
            (spec(backend='infra-backend-v2'), 'pod'),
            (spec(expected={'path': '/p', 'sni': 'x'}), 'SNI'),
            (spec(expected={'path': '/p', 'clientCertPEM': 'BBB', 'clientCert': 'ns/c'}), 'client certificate'),
            (spec(response={'headers': {'X-Resp': '1'}}), 'no header'),
        ]
        for s, word in cases:
            self.assertIn(word, th.evaluate(reply(200), ECHO, s, 'http://h/p'), s)

    def test_non_json_reply(self):
        r = reply(200, [('Content-Type', 'text/plain')], b'hello')
        echo = th.parse_echo(r, 'GET')
        self.assertEqual(echo['method'], 'GET')
        self.assertIn('namespace', th.evaluate(r, echo, spec(expected={'path': ''}), 'http://h/p'))
        self.assertEqual(th.evaluate(r, echo, spec(expected={'path': ''}, namespace=''), 'http://h/p'), '')
        with self.assertRaises(th.ClientError):
            th.parse_echo(reply(200, [('content-type', 'application/json')], b'{'), 'GET')
        # not exactly application/json: not read
        self.assertEqual(th.parse_echo(reply(200, [('Content-Type', 'application/json; charset=utf-8')], b'{'), 'PUT')['method'], 'PUT')

    def test_redirect_only_checked_when_given(self):
        r = reply(302, [('Location', 'http://example.com/x')])
        self.assertEqual(th.evaluate(r, {}, spec(status_codes=[302]), 'http://127.0.0.1/p'), '')
        self.assertIn('host', th.evaluate(r, {}, spec(status_codes=[302], redirect={'host': 'other.com'}),
                                          'http://127.0.0.1/p'))


class RedirectTest(unittest.TestCase):
    URL = 'http://127.0.0.1/request/path?q=1'

    def check(self, location, want, url=URL):
        return th.check_redirect(location, want, url)

    def test_defaults(self):
        self.assertEqual(self.check('http://example.com/request/path', {}), '')
        self.assertEqual(self.check('http://example.com:80/request/path', {}), '')
        self.assertIn('port', self.check('http://example.com:8080/request/path', {}))
        self.assertIn('scheme', self.check('https://example.com/request/path', {}))
        self.assertIn('path', self.check('http://example.com/other', {}))
        self.assertEqual(self.check('https://example.com:443/request/path', {'scheme': 'https'}), '')
        self.assertIn('port', self.check('https://example.com:80/request/path', {'scheme': 'https'}))

    def test_given_fields(self):
        want = {'scheme': 'https', 'host': 'example.org', 'port': '8443', 'path': '/new'}
        self.assertEqual(self.check('https://example.org:8443/new', want), '')
        self.assertIn('port', self.check('https://example.org/new', want))
        self.assertIn('host', self.check('https://example.com:8443/new', want))
        self.assertEqual(self.check('http://Example.ORG/request/path', {'host': 'example.org'}), '')
        self.assertEqual(self.check('http://example.org/request/path', {'host': 'example.org', 'port': ''}), '')

    def test_relative_location(self):
        self.assertEqual(self.check('/new', {'path': '/new'}), '')
        self.assertEqual(self.check('/new', {'path': '/new', 'host': '127.0.0.1'}), '')
        self.assertIn('port', self.check('/new', {'path': '/new', 'port': '80'}))
        self.assertEqual(self.check('/new', {'path': '/new', 'port': '8080'}, 'http://127.0.0.1:8080/p'), '')

    def test_missing_location(self):
        self.assertIn('Location', self.check(None, {}))


class MirrorTest(unittest.TestCase):
    def test_set_query_param(self):
        self.assertEqual(th.set_query_param('/mirror', 'gateway-api-conformance-request-id', 'u-1'),
                         '/mirror?gateway-api-conformance-request-id=u-1')
        self.assertEqual(th.set_query_param('/m?z=1&a=x y&gateway-api-conformance-request-id=old&a=2',
                                            'gateway-api-conformance-request-id', 'new'),
                         '/m?a=x+y&a=2&gateway-api-conformance-request-id=new&z=1')

    def test_log_lines(self):
        path = '/mirror?gateway-api-conformance-request-id=u-1'
        lines = ['Starting server, listening on 127.100.0.3 port 3000 (http)',
                 f'Echoing back request made to {path} to client (127.0.0.1:4242)',
                 f'Echoing back request made to {path}&x=1 to client (127.0.0.1:4243)',
                 f'Echoing back request made to {path} to client (127.0.0.1:4244)']
        self.assertEqual(th.count_mirror_lines(lines, path), 2)
        self.assertEqual(th.count_mirror_lines(lines, '/mirror'), 0)


class CurlDumpTest(unittest.TestCase):
    def test_h2_with_trailers(self):
        dump = 'HTTP/2 200 \r\ncontent-type: application/grpc\r\n\r\ngrpc-status: 0\r\ngrpc-message: \r\n\r\n'
        status, version, headers, trailers = th.parse_header_dump(dump)
        self.assertEqual((status, version), (200, '2'))
        self.assertEqual(headers, [('content-type', 'application/grpc')])
        self.assertEqual(trailers, [('grpc-status', '0'), ('grpc-message', '')])

    def test_informational_then_final(self):
        dump = 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 302 Found\r\nLocation: /x\r\nX-A: 1\r\n\r\n'
        status, version, headers, trailers = th.parse_header_dump(dump)
        self.assertEqual((status, version, headers, trailers), (302, '1.1', [('Location', '/x'), ('X-A', '1')], []))

    def test_nothing(self):
        self.assertIsNone(th.parse_header_dump('')[0])


# -- attempt loops, targets ---------------------------------------------------------------------------------

class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t

    def sleep(self, s):
        self.t += s


class RetryTest(unittest.TestCase):
    def play(self, results, body, **kw):
        clock = FakeClock()
        it = iter(results)
        calls = []

        def attempt():
            clock.t += 0.1
            calls.append(clock.t)
            return next(it)
        return retry(attempt, body, clock=clock, sleep=clock.sleep, **kw), calls

    def test_consecutive(self):
        P, F = Outcome(True), Outcome(False, 'no')
        out, calls = self.play([P, F, P, P, P], {})
        self.assertTrue(out.held)
        self.assertEqual(len(calls), 5)
        self.assertAlmostEqual(calls[2] - calls[1], 1.1)     # a 1 s pause after the failure only
        self.assertAlmostEqual(calls[1] - calls[0], 0.1)

    def test_timeout(self):
        out, calls = self.play([Outcome(False, 'nope')] * 100, {'timeout': 5})
        self.assertFalse(out.held)
        self.assertIn('nope', out.why)
        self.assertLessEqual(len(calls), 6)

    def test_scale_and_once_and_fatal(self):
        out, calls = self.play([Outcome(False, 'x')] * 100, {}, scale=0.1)
        self.assertLessEqual(len(calls), 4)
        out, calls = self.play([Outcome(False, 'x')], {'once': True})
        self.assertEqual((out.held, len(calls)), (False, 1))
        out, calls = self.play([Outcome(False, 'bad', fatal=True), Outcome(True)], {})
        self.assertEqual((out.why, len(calls)), ('bad', 1))
        out, calls = self.play([Outcome(True)], {}, consecutive=1)
        self.assertTrue(out.held)
        out, calls = self.play([Outcome(True)] * 2, {'consecutive': 2})
        self.assertEqual(len(calls), 2)


class SamplingTest(unittest.TestCase):
    def test_weighted(self):
        names = ['a-1-x'] * 70 + ['b-2-y'] * 30

        def sample(i):
            return names[i], ''
        out = weighted(sample, {'requests': 100, 'backends': {'a': 0.7, 'b': 0.3, 'c': 0.0}, 'attempts': 1})
        self.assertTrue(out.held, out.why)
        out = weighted(sample, {'requests': 100, 'backends': {'a': 0.5, 'b': 0.5}, 'attempts': 2},
                       sleep=lambda s: None)
        self.assertFalse(out.held)

    def test_failed_sample(self):
        names, why = run_samples(lambda i: (None, 'boom') if i == 3 else ('a-1-x', ''), 50, 5)
        self.assertEqual(names, [])
        self.assertIn('boom', why)

        def raising(i):
            raise OSError('nope')
        self.assertIn('OSError', run_samples(raising, 3, 2)[1])


class TargetTest(unittest.TestCase):
    def test_loopback_only(self):
        self.assertEqual(check_loopback('127.1.2.3'), '127.1.2.3')
        self.assertEqual(check_loopback('::1'), '::1')
        for bad in ('10.0.0.1', '203.0.113.7', 'localhost', 'example.com', ''):
            with self.assertRaises(TrafficError):
                check_loopback(bad)

    def test_ports(self):
        addrs = {'ns/gw': ('127.1.0.1', None), 'ns/gw2': ('127.1.0.2', 8080), 'ns/far': ('192.0.2.1', 80)}
        t = target_of(addrs, {'gateway': 'ns/gw'}, 80)
        self.assertEqual((t.host, t.port, t.authority()), ('127.1.0.1', 80, '127.1.0.1'))
        t = target_of(addrs, {'gateway': 'ns/gw', 'port': 443}, 80)
        self.assertEqual((t.port, t.authority()), (443, '127.1.0.1:443'))
        t = target_of(addrs, {'gateway': 'ns/gw2'}, 80)
        self.assertEqual(t.authority(), '127.1.0.2:8080')
        with self.assertRaises(TrafficError):
            target_of(addrs, {'gateway': 'ns/none'}, 80)
        with self.assertRaises(TrafficError):
            target_of(addrs, {'gateway': 'ns/far'}, 80)


class TLSNameTest(unittest.TestCase):
    def test_go_hostname_rules(self):
        self.assertTrue(go_match_hostname('*.org', 'example.org'))          # OpenSSL refuses this one
        self.assertTrue(go_match_hostname('*.wildcard.org', 'Third-Example.wildcard.org.'))
        self.assertTrue(go_match_hostname('abc.example.com', 'ABC.example.com'))
        self.assertFalse(go_match_hostname('*.wildcard.org', 'wildcard.org'))
        self.assertFalse(go_match_hostname('*.org', 'a.example.org'))
        self.assertFalse(go_match_hostname('*', 'example'))
        self.assertFalse(go_match_hostname('a*.example.com', 'ab.example.com'))
        self.assertFalse(go_match_hostname('*.*.com', 'a.b.com'))

    def test_verify_name(self):
        cert = {'subject': ((('commonName', 'cn.example.com'),),),
                'subjectAltName': (('DNS', '*.org'), ('URI', 'spiffe://x'), ('IP Address', '127.0.0.1'))}
        verify_name(cert, 'example.org')
        verify_name(cert, '127.0.0.1')
        for bad in ('cn.example.com', 'example.com', '127.0.0.2', '*'):
            with self.assertRaises(CertNameError, msg=bad):
                verify_name(cert, bad)

    def test_spki_hash(self):
        import shutil
        import subprocess
        import tempfile
        if not shutil.which('openssl'):
            self.skipTest('no openssl')
        with tempfile.TemporaryDirectory() as d:
            key, crt = os.path.join(d, 'k'), os.path.join(d, 'c')
            subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', crt,
                            '-subj', '/CN=x', '-days', '1', '-outform', 'DER'], check=True, capture_output=True)
            pub = subprocess.run(['openssl', 'x509', '-inform', 'DER', '-in', crt, '-pubkey', '-noout'],
                                 check=True, capture_output=True).stdout
            der = subprocess.run(['openssl', 'pkey', '-pubin', '-outform', 'DER'], input=pub, check=True,
                                 capture_output=True).stdout
            import hashlib
            want = base64.b64encode(hashlib.sha256(der).digest()).decode()
            with open(crt, 'rb') as f:
                self.assertEqual(spki_sha256(f.read()), want)


class TcpTest(unittest.TestCase):
    def test_test_json(self):
        data = {'namespace': 'ns', 'pod': 'tcp-backend-abc-12345', 'tls': {'serverName': 'abc.example.com'}}
        self.assertEqual(tl.check_test_json(data, 'ns', 'tcp-backend', 'abc.example.com'), '')
        self.assertIn('pod', tl.check_test_json(data, 'ns', 'tcp-back', None))
        self.assertIn('namespace', tl.check_test_json(data, 'other', 'tcp-backend', None))
        self.assertIn('SNI', tl.check_test_json(data, 'ns', 'tcp-backend', 'x.example.com'))


# -- backends ------------------------------------------------------------------------------------------------

def b64(s):
    return base64.b64encode(s.encode()).decode()


class BackendsTest(unittest.TestCase):
    OBJS = {
        ('Secret', 'ns', 'tls'): {'kind': 'Secret', 'data': {'tls.crt': b64('CERT'), 'tls.key': b64('KEY')}},
        ('ConfigMap', 'ns', 'ca'): {'kind': 'ConfigMap', 'data': {'ca.crt': 'CA', 'key.crt': 'CAKEY'}},
    }
    VOLUMES = [{'name': 'secret-volume', 'secret': {'secretName': 'tls', 'items': [
        {'key': 'tls.crt', 'path': 'crt'}, {'key': 'tls.key', 'path': 'key'}]}},
        {'name': 'configmap-volume', 'configMap': {'name': 'ca'}}]
    MOUNTS = [{'name': 'secret-volume', 'mountPath': '/etc/secret-volume'},
              {'name': 'configmap-volume', 'mountPath': '/etc/configmap-volume'}]

    def pod(self):
        return types.SimpleNamespace(name='tls-backend-0123456789-abcde', namespace='ns', ip='127.100.0.9',
                                     node='node', uid='u', labels={'app': 'tls-backend'})

    def test_volume_files(self):
        files = backends.volume_files(self.VOLUMES, self.MOUNTS, 'ns', self.OBJS.get)
        self.assertEqual(files, {'/etc/secret-volume': {'crt': b'CERT', 'key': b'KEY'},
                                 '/etc/configmap-volume': {'ca.crt': b'CA', 'key.crt': b'CAKEY'}})
        with self.assertRaises(backends.BackendError):
            backends.volume_files(self.VOLUMES, self.MOUNTS, 'other-ns', self.OBJS.get)

    def test_env(self):
        container = {'env': [
            {'name': 'POD_NAME', 'valueFrom': {'fieldRef': {'fieldPath': 'metadata.name'}}},
            {'name': 'NAMESPACE', 'valueFrom': {'fieldRef': {'fieldPath': 'metadata.namespace'}}},
            {'name': 'TLS_SERVER_CERT', 'value': '/etc/secret-volume/crt'},
            {'name': 'TLS_CLIENT_CACERTS', 'value': '/etc/configmap-volume/ca.crt'},
            {'name': 'SERVICE_NAME', 'value': 'svc'},
            {'name': 'FROM_SECRET', 'valueFrom': {'secretKeyRef': {'name': 'tls', 'key': 'tls.key'}}},
            {'name': 'FROM_CM', 'valueFrom': {'configMapKeyRef': {'name': 'ca', 'key': 'ca.crt'}}},
            {'name': 'APP', 'valueFrom': {'fieldRef': {'fieldPath': "metadata.labels['app']"}}},
        ]}
        mounts = {'/etc/secret-volume': '/w/v0', '/etc/configmap-volume': '/w/v1'}
        env = backends.container_env(container, self.pod(), self.OBJS.get, mounts)
        self.assertEqual(env, {'POD_NAME': 'tls-backend-0123456789-abcde', 'NAMESPACE': 'ns',
                               'TLS_SERVER_CERT': '/w/v0/crt', 'TLS_CLIENT_CACERTS': '/w/v1/ca.crt',
                               'SERVICE_NAME': 'svc', 'FROM_SECRET': 'KEY', 'FROM_CM': 'CA', 'APP': 'tls-backend'})

    def test_rewrite_path(self):
        m = {'/etc/a': '/w/0', '/etc/a/b': '/w/1'}
        self.assertEqual(backends.rewrite_path('/etc/a/x', m), '/w/0/x')
        self.assertEqual(backends.rewrite_path('/etc/a/b/y', m), '/w/1/y')
        self.assertEqual(backends.rewrite_path('/etc/ab', m), '/etc/ab')
        self.assertEqual(backends.rewrite_path('plain', m), 'plain')

    def test_ports_and_images(self):
        self.assertEqual(backends.echo_ports({}), ([3000, 3001], []))
        self.assertEqual(backends.echo_ports({'TLS_SERVER_CERT': 'c', 'TLS_SERVER_PRIVKEY': 'k'}), ([3000, 3001, 8443], []))
        self.assertEqual(backends.echo_ports({'TCP_ECHO_SERVER': '1', 'TLS_SERVER_CERT': 'c',
                                              'TLS_SERVER_PRIV_KEY': 'k'}), ([3000, 8443], []))
        self.assertEqual(backends.echo_ports({'GRPC_ECHO_SERVER': '1'}), ([3000], []))
        self.assertEqual(backends.echo_ports({'UDP_ECHO_SERVER': '1', 'UDP_PORT': '9000'}), ([], [9000]))
        self.assertEqual(backends.image_kind({'image': 'registry.k8s.io/gateway-api/echo-basic:v1.5.1'}), 'echo')
        self.assertEqual(backends.image_kind({'image': 'registry.k8s.io/coredns/coredns:v1.12.2'}), 'dns')
        self.assertEqual(backends.image_kind({'image': 'gcr.io/istio-testing/app:latest'}), '')


if __name__ == '__main__':
    unittest.main()
