"""The mesh steps' client and checks (lib/mesh.py): parsing torii-echo client's lines, the checks
of FORMAT.md section 6, and (as root) a request from one Pod's namespace to the mesh echo in
another's, by Pod address, as MeshFrontend's second request goes.

    python3 -m unittest tests/conformance/test_mesh.py
"""
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lib import mesh, netns  # noqa: E402
from lib.weights import identity  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ECHO = os.environ.get('TORII_ECHO', os.path.join(REPO, 'build', 'tools', 'echo', 'torii-echo'))

SAMPLE = """[0] Url=http://echo-v2/
[0] Latency=1.2ms
[0] StatusCode=200
[0] ResponseHeader=Content-Type:application/text
[0] ResponseHeader=X-Header-Set:set
[0 body] ServiceVersion=
[0 body] Host=echo-v2
[0 body] RequestHeader=User-Agent:torii-echo
[0 body] RequestHeader=X-Multi:a
[0 body] RequestHeader=X-Multi:b
[0 body] Hostname=echo-v2-5d8f6c7b9a-x2x4z

[1 error] Get "http://echo-v2/": dial tcp 10.96.0.2:80: connect: connection refused

[2] StatusCode=200
[2 body] RequestHeader=:authority:echo:7070
[2 body] Hostname=echo-v1-0123456789-abcde
"""


class ParseAndCheck(unittest.TestCase):
    def test_parse(self):
        r = mesh.parse(SAMPLE)
        self.assertEqual(len(r), 3)
        self.assertEqual(r[0].status, 200)
        self.assertIn(('X-Header-Set', 'set'), r[0].headers)
        self.assertEqual(r[0].hostname, 'echo-v2-5d8f6c7b9a-x2x4z')
        self.assertEqual((r[1].status, r[1].error[:3]), (0, 'Get'))
        self.assertIn((':authority', 'echo:7070'), r[2].request_headers)
        self.assertEqual(identity(r[2].hostname), 'echo-v1')

    def test_checks(self):
        r = mesh.parse(SAMPLE)
        step = {'response': {'statusCodes': [200], 'headers': {'x-header-set': 'set'}}, 'backend': 'echo-v2',
                'expectedRequest': {'headers': {'x-multi': 'a,b'}, 'absentHeaders': ['X-Gone']}}
        self.assertTrue(mesh.check(step, r[0]).held, mesh.check(step, r[0]).why)
        self.assertFalse(mesh.check(dict(step, backend='echo-v1'), r[0]).held)
        self.assertFalse(mesh.check({'response': {'absentHeaders': ['X-Header-Set']}}, r[0]).held)
        self.assertFalse(mesh.check({'expectedRequest': {'headers': {'X-Multi': 'a'}}}, r[0]).held)
        self.assertFalse(mesh.check({}, r[1]).held)                                   # no answer
        self.assertTrue(mesh.check({'response': {'statusCodes': [0]}}, r[2]).held)    # 0 reads as 200
        self.assertFalse(mesh.check({'response': {'statusCodes': [302]}}, r[2]).held)

    def test_url_and_argv(self):
        self.assertEqual(mesh.url_of({'host': 'echo:80', 'path': '/v2'}), 'http://echo/v2')
        self.assertEqual(mesh.url_of({'protocol': 'grpc', 'host': 'echo:7070'}), 'grpc://echo:7070')
        self.assertEqual(mesh.url_of({'method': 'GET'}, to_pod_addr='10.244.0.3:8080'), 'http://10.244.0.3:8080')
        argv = mesh.client_argv('e', {'method': 'POST', 'headers': {'Host': 'x'}}, 'http://echo', '10.96.0.1:80',
                                count=3)
        self.assertEqual(argv, ['e', 'client', 'http://echo', '--connect-to', '10.96.0.1:80', '--timeout', '5',
                                '--method', 'POST', '-H', 'Host: x', '--count', '3'])


WHY_NOT = netns.available() or (None if os.access(ECHO, os.X_OK) else f'no {ECHO}')


@unittest.skipIf(WHY_NOT, WHY_NOT or '')
class FromOnePodToAnother(unittest.TestCase):
    def test_request_by_pod_address(self):
        with netns.Topology() as t:
            t.add_pod('gateway-conformance-mesh/echo-v1')
            server_ip = t.add_pod('gateway-conformance-mesh/echo-v2')
            env = dict(os.environ, POD_NAME='echo-v2-5d8f6c7b9a-x2x4z', NAMESPACE='gateway-conformance-mesh',
                       BIND_ADDRESS='0.0.0.0')
            server = subprocess.Popen(t.argv('gateway-conformance-mesh/echo-v2', [ECHO, '--port=8080', '--grpc=7070',
                                                                                '--tcp=9090']),
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                step = {'request': {'method': 'GET', 'headers': {'X-Probe': 'one'}},
                        'expectedRequest': {'headers': {'X-Probe': 'one'}},
                        'response': {'statusCodes': [200], 'absentHeaders': ['X-Header-Set']}, 'backend': 'echo-v2'}
                addr = f'{server_ip}:8080'
                argv = mesh.client_argv(ECHO, step['request'], mesh.url_of(step['request'], to_pod_addr=addr), addr,
                                        count=3)
                client = lambda a: t.argv('gateway-conformance-mesh/echo-v1', a)  # noqa: E731
                for _ in range(50):  # until the echo listens (5 s at most)
                    replies, err = mesh.send(client, argv)
                    if replies and replies[0].status:
                        break
                    time.sleep(0.1)
                self.assertEqual(len(replies), 3, err)
                for r in replies:
                    out = mesh.check(step, r)
                    self.assertTrue(out.held, out.why)
                grpc = {'protocol': 'grpc'}
                replies, err = mesh.send(client, mesh.client_argv(ECHO, grpc, mesh.url_of(grpc, f'{server_ip}:7070'),
                                                                  f'{server_ip}:7070'))
                self.assertEqual([r.status for r in replies], [200], err)
                self.assertEqual(replies[0].hostname, 'echo-v2-5d8f6c7b9a-x2x4z')
            finally:
                server.terminate()
                server.wait(timeout=10)


if __name__ == '__main__':
    unittest.main()
