"""Unit tests of the runner's --kube mode: status comparison, what is waited for, the kubeconfig,
Pod objects, and the API-server side (ApiSink, ApiReader) against the fake API server.

    python3 -m unittest discover -s tests/conformance -p 'test_*.py'
"""
import base64
import os
import random
import shutil
import sys
import tempfile
import unittest

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from lib import status  # noqa: E402
from lib.configdir import REVISION_ANNOTATION, ObjectStore  # noqa: E402
from lib.kubeapi import (Api, ApiReader, ApiSink, Client, FakeAPIServer, discover,  # noqa: E402
                         load_kubeconfig)
from lib.pods import IPAllocator, PodFactory, pod_object  # noqa: E402

CTRL = 'torii.dev/gateway-controller'
FAKEAPI = os.environ.get('TORII_FAKEAPI', os.path.join(os.path.dirname(os.path.dirname(HERE)), 'tests', 'kube',
                                                       'fakeapi.py'))


def cond(t, s='True', gen=1, ltt='2026-01-01T00:00:00Z'):
    return {'type': t, 'status': s, 'reason': t, 'message': '', 'observedGeneration': gen, 'lastTransitionTime': ltt}


def entry(gw, ctrl=CTRL, accepted='True'):
    return {'parentRef': {'group': 'gateway.networking.k8s.io', 'kind': 'Gateway', 'name': gw},
            'controllerName': ctrl, 'conditions': [cond('Accepted', accepted)]}


class StatusBehindTest(unittest.TestCase):
    def test_gateway(self):
        pub = {'conditions': [cond('Accepted'), cond('Programmed')], 'listeners': [{'name': 'l', 'attachedRoutes': 1}]}
        # The server kept older transition times and filled in defaults: it holds what was published.
        held = {'conditions': [cond('Accepted', ltt='2025-01-01T00:00:00Z'), cond('Programmed')],
                'listeners': [{'name': 'l', 'attachedRoutes': 1, 'supportedKinds': []}]}
        self.assertEqual(status.status_behind('Gateway', pub, held, CTRL), '')
        old = {'conditions': [cond('Accepted'), cond('Programmed', 'False')], 'listeners': held['listeners']}
        self.assertIn('Programmed', status.status_behind('Gateway', pub, old, CTRL))
        stale = {'conditions': [cond('Accepted', gen=0), cond('Programmed')], 'listeners': held['listeners']}
        self.assertNotEqual(status.status_behind('Gateway', pub, stale, CTRL), '')
        fewer = {'conditions': held['conditions'], 'listeners': []}
        self.assertNotEqual(status.status_behind('Gateway', pub, fewer, CTRL), '')
        self.assertNotEqual(status.status_behind('Gateway', pub, None, CTRL), '')

    def test_route_parents_are_shared(self):
        pub = {'parents': [entry('a'), entry('b')]}
        theirs = entry('x', ctrl='example.com/other')
        held = {'parents': [theirs, entry('b'), entry('a')]}
        self.assertEqual(status.status_behind('HTTPRoute', pub, held, CTRL), '')
        self.assertIn('1 of torii', status.status_behind('HTTPRoute', pub, {'parents': [theirs, entry('a')]}, CTRL))
        self.assertIn('no entry holds',
                      status.status_behind('HTTPRoute', pub, {'parents': [entry('a'), entry('b', accepted='False')]},
                                           CTRL))
        # Entries torii publishes under another controller name (the mesh's) are its too.
        mesh = dict(entry('m'), controllerName='torii.dev/mesh-controller')
        self.assertEqual(status.status_behind('HTTPRoute', {'parents': [entry('a'), mesh]},
                                              {'parents': [theirs, mesh, entry('a')]}, CTRL), '')
        self.assertIn('1 of torii', status.status_behind('HTTPRoute', {'parents': [entry('a'), mesh]},
                                                         {'parents': [entry('a')]}, CTRL))
        # Nothing published for a route of another implementation: nothing of torii's may be there.
        self.assertEqual(status.status_behind('HTTPRoute', {'parents': []}, {'parents': [theirs]}, CTRL), '')
        self.assertNotEqual(status.status_behind('HTTPRoute', {'parents': []}, {'parents': [entry('a')]}, CTRL), '')

    def test_policy_ancestors(self):
        anc = {'ancestorRef': {'name': 'gw'}, 'controllerName': CTRL, 'conditions': [cond('Accepted')]}
        self.assertEqual(status.status_behind('BackendTLSPolicy', {'ancestors': [anc]}, {'ancestors': [anc]}, CTRL), '')
        self.assertNotEqual(status.status_behind('BackendTLSPolicy', {'ancestors': [anc]}, {}, CTRL), '')


class SinkRulesTest(unittest.TestCase):
    def test_waits_for(self):
        w = ApiSink.waits_for
        self.assertTrue(w(('Gateway', 'ns', 'g'), {}))
        self.assertFalse(w(('Deployment', 'ns', 'd'), {}))
        self.assertFalse(w(('Pod', 'ns', 'p'), {}))
        # torii does not keep a ConfigMap without a certificate, key or CA bundle: nothing to wait for.
        self.assertFalse(w(('ConfigMap', 'ns', 'coredns'), {'data': {'Corefile': '.:53 {}'}}))
        self.assertTrue(w(('ConfigMap', 'ns', 'ca'), {'data': {'ca.crt': 'x'}}))
        self.assertTrue(w(('Secret', 'ns', 's'), {'stringData': {'tls.crt': 'x'}}))

    def test_taken_in(self):
        sink = ApiSink(api=None)
        gw = {'metadata': {'annotations': {REVISION_ANNOTATION: '7'}}}
        self.assertTrue(sink.taken_in(('Gateway', 'ns', 'g'), 7, gw))
        self.assertFalse(sink.taken_in(('Gateway', 'ns', 'g'), 8, gw))
        key = ('Secret', 'ns', 's')
        sink.served[key] = {'metadata': {'uid': 'u1'}, 'data': {'tls.crt': 'QQ==', 'tls.key': 'Qg==', 'other': 'Qw=='}}
        seen = {'metadata': {'uid': 'u1'}, 'data': {'tls.crt': 'QQ==', 'tls.key': 'Qg=='}}
        self.assertTrue(sink.taken_in(key, 3, seen))
        self.assertFalse(sink.taken_in(key, 3, {'metadata': {'uid': 'u0'}, 'data': seen['data']}))   # the old one
        self.assertFalse(sink.taken_in(key, 3, {'metadata': {'uid': 'u1'}, 'data': {'tls.crt': 'Rg=='}}))
        self.assertFalse(sink.taken_in(key, 3, {'metadata': {'uid': 'u1'}}))


class KubeconfigTest(unittest.TestCase):
    def test_token_file_and_ca_data(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, 'token'), 'w') as f:
                f.write('secret\n')
            ca = os.path.join(d, 'ca.crt')
            # Any certificate will do: the context must load it.
            if shutil.which('openssl') is None:
                self.skipTest('no openssl')
            os.system(f'openssl req -x509 -newkey rsa:2048 -nodes -keyout {d}/k -out {ca} -subj /CN=t -days 1 '
                      '>/dev/null 2>&1')
            with open(ca, 'rb') as f:
                ca_data = base64.b64encode(f.read()).decode()
            cfg = {'apiVersion': 'v1', 'kind': 'Config', 'current-context': 'b',
                   'clusters': [{'name': 'a', 'cluster': {'server': 'https://127.0.0.1:1'}},
                                {'name': 'c', 'cluster': {'server': 'https://127.0.0.1:6443/',
                                                          'certificate-authority-data': ca_data}}],
                   'users': [{'name': 'u', 'user': {'tokenFile': os.path.join(d, 'token')}}],
                   'contexts': [{'name': 'a', 'context': {'cluster': 'a', 'user': 'u'}},
                                {'name': 'b', 'context': {'cluster': 'c', 'user': 'u'}}]}
            path = os.path.join(d, 'kubeconfig')
            with open(path, 'w') as f:
                yaml.safe_dump(cfg, f)
            creds = load_kubeconfig(path, d)
            self.assertEqual(creds.server, 'https://127.0.0.1:6443')
            self.assertEqual(creds.bearer(), 'secret')
            self.assertIsNotNone(creds.ssl_context)


class PodObjectTest(unittest.TestCase):
    def test_pod(self):
        pods = PodFactory(rng=random.Random(1), ips=IPAllocator('127.100.0.0/16'))
        dep = {'kind': 'Deployment', 'metadata': {'name': 'web', 'namespace': 'ns'},
               'spec': {'replicas': 1, 'selector': {'matchLabels': {'app': 'web'}},
                        'template': {'metadata': {'labels': {'app': 'web'}},
                                     'spec': {'containers': [{'name': 'c', 'image': 'echo', 'resources': {}}]}}}}
        pods.sync([dep])
        pod = pods.pods()[0]
        obj = pod_object(pod, ready=False)
        self.assertEqual(obj['metadata'], {'name': pod.name, 'namespace': 'ns', 'labels': {'app': 'web'}})
        self.assertEqual(obj['spec']['containers'], [{'name': 'c', 'image': 'echo'}])
        self.assertEqual(obj['status']['podIP'], pod.ip)
        ready = {c['type']: c['status'] for c in obj['status']['conditions']}['Ready']
        self.assertEqual(ready, 'False')
        self.assertEqual({c['type']: c['status'] for c in pod_object(pod)['status']['conditions']}['Ready'], 'True')


@unittest.skipUnless(os.path.exists(FAKEAPI) and shutil.which('openssl'), 'no fake API server (or openssl)')
class ApiServerTest(unittest.TestCase):
    """ApiSink and ApiReader against the fake API server: create, replace over someone else's
    status write, status subresource, Namespaces that terminate, LIST with a selector."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix='torii-runner-test-')
        cls.fake = FakeAPIServer(FAKEAPI, os.path.join(cls.dir, 'fake'))
        cls.fake.start()
        client = Client(cls.fake.admin_credentials())
        cls.api = Api(client, discover(client))

    @classmethod
    def tearDownClass(cls):
        cls.api.client.close()
        cls.fake.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_discovery(self):
        r = self.api.resources
        self.assertEqual((r['HTTPRoute'].plural, r['HTTPRoute'].namespaced), ('httproutes', True))
        self.assertEqual(r['GatewayClass'].group_version, 'gateway.networking.k8s.io/v1')
        self.assertFalse(r['Namespace'].namespaced)
        self.assertTrue(r['Pod'].status)
        self.assertEqual(r['Deployment'].group_version, 'apps/v1')

    def test_write_replace_delete(self):
        store = ObjectStore(ApiSink(self.api))
        ns = {'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': 'runner-a'}}
        gw = {'apiVersion': 'gateway.networking.k8s.io/v1', 'kind': 'Gateway',
              'metadata': {'name': 'g', 'namespace': 'runner-a', 'labels': {'x': '1'}},
              'spec': {'gatewayClassName': 'c', 'listeners': [{'name': 'l', 'port': 80, 'protocol': 'HTTP'}]}}
        store.put(ns)
        key = store.put(gw)
        held = self.api.get('Gateway', 'runner-a', 'g')
        self.assertEqual(held['metadata']['annotations'][REVISION_ANNOTATION], str(store.revision))
        self.assertEqual(held['metadata']['generation'], 1)
        # A controller writes status: the resourceVersion the runner knows is stale, the replace
        # goes through anyway and keeps that status.
        code, _ = self.api.client.request(
            'PATCH', self.api.path('Gateway', 'runner-a', 'g', 'status'),
            {'status': {'conditions': [cond('Accepted')]}}, 'application/merge-patch+json')
        self.assertEqual(code, 200)
        gw['spec']['listeners'][0]['port'] = 81
        store.put(gw)
        held = self.api.get('Gateway', 'runner-a', 'g')
        self.assertEqual(held['spec']['listeners'][0]['port'], 81)
        self.assertEqual(held['metadata']['generation'], 2)
        self.assertEqual(held['status']['conditions'][0]['type'], 'Accepted')
        self.assertEqual(len(ApiReader(self.api).list(['Gateway'], 'runner-a', {'x': '1'})), 1)
        self.assertEqual(ApiReader(self.api).list(['Gateway'], 'runner-a', {'x': '2'}), [])
        # A Namespace's deletion is waited for: the same name can be created again at once.
        store.delete(('Namespace', '', 'runner-a'))
        self.assertIsNone(self.api.get('Namespace', '', 'runner-a'))
        self.assertIsNone(self.api.get(*key))
        store.put(ns)
        store.delete(key)          # gone with its namespace already: not an error
        self.assertIsNotNone(self.api.get('Namespace', '', 'runner-a'))

    def test_pod_with_status(self):
        store = ObjectStore(ApiSink(self.api))
        pod = {'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'name': 'p', 'namespace': 'default'},
               'spec': {'containers': [{'name': 'c', 'image': 'x'}]},
               'status': {'phase': 'Running', 'podIP': '127.100.0.1',
                          'conditions': [{'type': 'Ready', 'status': 'True'}]}}
        store.put(pod)
        held = self.api.get('Pod', 'default', 'p')
        self.assertEqual(held['status']['podIP'], '127.100.0.1')
        self.assertEqual(store.sink.served[('Pod', 'default', 'p')]['metadata']['uid'], held['metadata']['uid'])
        self.assertNotIn(('Pod', 'default', 'p'), store.pending)    # torii does not read Pods


if __name__ == '__main__':
    unittest.main()
