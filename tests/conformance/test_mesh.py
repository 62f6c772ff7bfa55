"""The mesh steps' client and checks (lib/mesh.py): parsing torii-echo client's lines, the checks
of FORMAT.md section 6, and (as root) a request from one Pod's namespace to the mesh echo in
another's, by Pod address, as MeshFrontend's second request goes; the mesh manifests' workloads
(lib/meshpods.py) each in a namespace of its own, running the echo with its arguments.

    python3 -m unittest tests/conformance/test_mesh.py
"""
import os
import subprocess
import sys
import tempfile
import time
import unittest

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lib import mesh, meshpods, netns  # noqa: E402
from lib.pods import PodFactory  # noqa: E402
from lib.weights import identity  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MESH_MANIFESTS = os.path.join(REPO, '..', 'shared', 'conformance', 'manifests', 'mesh', 'manifests.yaml')
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


class RunnerPieces(unittest.TestCase):
    def test_mesh_pods_get_pod_range_addresses(self):
        import random
        from lib.pods import IPAllocator
        f = PodFactory(rng=random.Random(1), ips=IPAllocator('127.100.0.0/16'), mesh_ips=meshpods.MeshIPs(),
                       is_mesh=meshpods.is_mesh_echo)
        with open(MESH_MANIFESTS) as fh:
            deps = [d for d in yaml.safe_load_all(fh) if d and d.get('kind') == 'Deployment']
        other = {'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {'name': 'web', 'namespace': 'x'},
                 'spec': {'template': {'spec': {'containers': [{'name': 'c', 'image': 'echo-basic'}]}}}}
        f.sync(deps + [other])
        ips = {p.deployment + '/' + p.namespace: p.ip for p in f.pods()}
        self.assertEqual(ips.pop('web/x'), '127.100.0.1')
        self.assertTrue(ips and all(ip.startswith('10.244.') for ip in ips.values()), ips)
        self.assertEqual(len(set(ips.values())), len(ips))

    def test_cluster_addresses(self):
        from types import SimpleNamespace
        from lib.player import Suite
        s = SimpleNamespace(assign_cluster_ips=True, cluster_ips={})
        svc = {'apiVersion': 'v1', 'kind': 'Service', 'metadata': {'name': 'a', 'namespace': 'n'},
               'spec': {'ports': [{'port': 80}]}}
        a = Suite.with_cluster_ip(s, svc)
        self.assertTrue(a['spec']['clusterIP'].startswith('10.96.'))
        self.assertNotIn('clusterIP', svc['spec'])                       # the manifest's object is not changed
        self.assertEqual(Suite.with_cluster_ip(s, svc)['spec']['clusterIP'], a['spec']['clusterIP'])  # sticky
        b = Suite.with_cluster_ip(s, dict(svc, metadata={'name': 'b', 'namespace': 'n'}))
        self.assertNotEqual(b['spec']['clusterIP'], a['spec']['clusterIP'])
        headless = dict(svc, spec={'clusterIP': 'None'})
        self.assertEqual(Suite.with_cluster_ip(s, headless), headless)
        ext = dict(svc, spec={'type': 'ExternalName', 'externalName': 'x.example'})
        self.assertEqual(Suite.with_cluster_ip(s, ext), ext)
        self.assertEqual(Suite.with_cluster_ip(SimpleNamespace(assign_cluster_ips=False, cluster_ips={}), svc), svc)  # a server's


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


class MeshArgs(unittest.TestCase):
    def test_echo_args_and_ports(self):
        c = [{'image': 'registry.k8s.io/gateway-api/echo-advanced:v1.5.1',
              'args': ['--tcp=9090', '--port=8080', '--grpc=7070', '--port=8443', '--tls=8443', '--crt=/cert.crt',
                       '--key=/cert.key']}]
        args = meshpods.echo_args(c, '/w/certs')
        self.assertEqual(args[-2:], ['--crt=/w/certs/echo.crt', '--key=/w/certs/echo.key'])
        self.assertEqual(meshpods.listening_ports(args), [8080, 7070, 9090])  # 8443 is TLS
        consumer = [{'image': 'registry.k8s.io/gateway-api/echo-advanced:v1.5.1'}]
        self.assertEqual(meshpods.echo_args(consumer, '/w'), ['--istio'])
        self.assertEqual(meshpods.listening_ports(['--istio']), [8080, 7070, 9090])
        self.assertTrue(meshpods.is_mesh_echo(c))
        self.assertFalse(meshpods.is_mesh_echo([{'image': 'gcr.io/k8s-staging-gateway-api/echo-basic'}]))


@unittest.skipIf(WHY_NOT or not os.path.exists(MESH_MANIFESTS), WHY_NOT or f'no {MESH_MANIFESTS}')
class MeshSetUp(unittest.TestCase):
    def test_mesh_manifests_workloads(self):
        with open(MESH_MANIFESTS) as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        deps = [d for d in docs if d.get('kind') == 'Deployment']
        factory = PodFactory(ips=meshpods.MeshIPs())
        pods = [p for d in deps for p in factory.make_pods(d)
                if meshpods.is_mesh_echo(((d['spec']['template']['spec']).get('containers')))]
        self.assertEqual(sorted({(p.namespace, p.deployment) for p in pods}),
                         [('gateway-conformance-mesh', 'echo-v1'), ('gateway-conformance-mesh', 'echo-v2'),
                          ('gateway-conformance-mesh-consumer', 'echo-v1')])
        with tempfile.TemporaryDirectory() as work, netns.Topology() as t:
            mp = meshpods.MeshPods(t, ECHO, work)
            try:
                for p in pods:
                    mp.start(p)
                self.assertTrue(mp.wait_ready(pods), 'not every mesh echo listens')
                client = meshpods.first_pod(pods, 'gateway-conformance-mesh', 'echo-v1')
                v2 = meshpods.first_pod(pods, 'gateway-conformance-mesh', 'echo-v2')
                consumer = meshpods.first_pod(pods, 'gateway-conformance-mesh-consumer', 'echo-v1')
                in_client = lambda a: t.argv(mp.key(client), a)  # noqa: E731
                # MeshFrontend's second request: to the echo-v2 Pod's address, from echo-v1's.
                step = {'request': {'method': 'GET'}, 'response': {'statusCodes': [200]}, 'backend': 'echo-v2'}
                addr = f'{v2.ip}:8080'
                replies, err = mesh.send(in_client, mesh.client_argv(ECHO, step['request'],
                                                                     mesh.url_of(step['request'], addr), addr))
                self.assertEqual(len(replies), 1, err)
                out = mesh.check(step, replies[0])
                self.assertTrue(out.held, out.why)
                self.assertEqual(replies[0].hostname, v2.name)
                # The consumer's echo (no arguments: Istio's default ports) answers gRPC.
                grpc = {'protocol': 'grpc'}
                addr = f'{consumer.ip}:7070'
                replies, err = mesh.send(in_client, mesh.client_argv(ECHO, grpc, mesh.url_of(grpc, addr), addr))
                self.assertEqual([(r.status, r.hostname) for r in replies], [(200, consumer.name)], err)
            finally:
                mp.stop()


if __name__ == '__main__':
    unittest.main()
