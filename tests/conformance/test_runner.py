"""Unit tests of the conformance runner's pure logic (no torii needed).

    python3 -m unittest discover -s tests/conformance -p 'test_*.py'
"""
import os
import random
import re
import sys
import tempfile
import unittest

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lib import changes, report, status  # noqa: E402
from lib.cases import Case, load_cases, step_type  # noqa: E402
from lib.certs import classify_hosts, openssl_config  # noqa: E402
from lib.configdir import REVISION_ANNOTATION, ConfigDir, ObjectStore  # noqa: E402
from lib.dataplane import TRAFFIC_STEPS  # noqa: E402
from lib.kube import key_for, key_of, merge_patch  # noqa: E402
from lib.player import CaseRun, Result  # noqa: E402
from lib.pods import IPAllocator, PodFactory, endpoint_slice_for, fill_slice_from_pods  # noqa: E402
from lib.substitute import Substitutions, substitute  # noqa: E402
from lib.wait import Waiter, default_budget  # noqa: E402
from lib.weights import identity, weight_rule  # noqa: E402

SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                      '..', 'shared', 'conformance')
CTRL = 'torii.dev/gateway-controller'
INGRESS_PROFILES = {'INGRESS', 'INGRESS-NGINX'}


def cond(t, s='True', reason=None, gen=1):
    return {'type': t, 'status': s, 'reason': reason or t, 'observedGeneration': gen}


def obj(kind, name, ns='ns', gen=1, **st):
    return {'kind': kind, 'metadata': {'name': name, 'namespace': ns, 'generation': gen}, 'status': st}


class MergePatchTest(unittest.TestCase):
    def test_rfc7386_vectors(self):
        # RFC 7386 appendix A
        vectors = [
            ({'a': 'b'}, {'a': 'c'}, {'a': 'c'}),
            ({'a': 'b'}, {'b': 'c'}, {'a': 'b', 'b': 'c'}),
            ({'a': 'b'}, {'a': None}, {}),
            ({'a': 'b', 'b': 'c'}, {'a': None}, {'b': 'c'}),
            ({'a': ['b']}, {'a': 'c'}, {'a': 'c'}),
            ({'a': 'c'}, {'a': ['b']}, {'a': ['b']}),
            ({'a': {'b': 'c'}}, {'a': {'b': 'd', 'c': None}}, {'a': {'b': 'd'}}),
            ({'a': [{'b': 'c'}]}, {'a': [1]}, {'a': [1]}),
            (['a', 'b'], ['c', 'd'], ['c', 'd']),
            ({'a': 'b'}, ['c'], ['c']),
            ({'a': 'foo'}, None, None),
            ({'a': 'foo'}, 'bar', 'bar'),
            ({'e': None}, {'a': 1}, {'e': None, 'a': 1}),
            ([1, 2], {'a': 'b', 'c': None}, {'a': 'b'}),
            ({}, {'a': {'bb': {'ccc': None}}}, {'a': {'bb': {}}}),
        ]
        for target, patch, want in vectors:
            self.assertEqual(merge_patch(target, patch), want, (target, patch))

    def test_does_not_modify_arguments(self):
        target, patch = {'a': {'b': [1]}}, {'a': {'c': 2}}
        merge_patch(target, patch)
        self.assertEqual(target, {'a': {'b': [1]}})

    def test_patched_with_data_from(self):
        cm = {'kind': 'ConfigMap', 'metadata': {'name': 'ca', 'namespace': 'ns'}, 'data': {'ca.crt': 'PEM'}}
        get = {('ConfigMap', 'ns', 'ca'): cm}.get
        base = {'kind': 'ConfigMap', 'metadata': {'name': 'x', 'namespace': 'ns'}, 'data': {'ca.crt': ''}}
        new = changes.patched(base, {'dataFrom': {'ca.crt': {'configMap': 'ns/ca', 'key': 'ca.crt'}}}, get,
                              Substitutions())
        self.assertEqual(new['data'], {'ca.crt': 'PEM'})
        with self.assertRaises(changes.ChangeError):
            changes.patched(base, {'dataFrom': {'k': {'configMap': 'ns/none', 'key': 'ca.crt'}}}, get,
                            Substitutions())


class SubstitutionTest(unittest.TestCase):
    subs = Substitutions(class_name='gc', controller_name=CTRL, usable=[{'value': '127.254.0.1'}],
                         unusable=[{'value': '203.0.113.7', 'type': 'IPAddress'}],
                         namespace_labels={'l': 'v'})

    def gw(self, addresses=None):
        spec = {'gatewayClassName': '{GATEWAY_CLASS_NAME}', 'listeners': []}
        if addresses is not None:
            spec['addresses'] = addresses
        return {'apiVersion': 'gateway.networking.k8s.io/v1', 'kind': 'Gateway',
                'metadata': {'name': 'g', 'namespace': 'ns'}, 'spec': spec}

    def test_class_and_controller(self):
        self.assertEqual(substitute(self.gw(), self.subs)['spec']['gatewayClassName'], 'gc')
        gc = {'kind': 'GatewayClass', 'metadata': {'name': 'x'}, 'spec': {'controllerName': '{GATEWAY_CONTROLLER_NAME}'}}
        self.assertEqual(substitute(gc, self.subs)['spec']['controllerName'], CTRL)

    def test_addresses_rebuilt(self):
        got = substitute(self.gw([
            {'type': 'IPAddress', 'value': 'PLACEHOLDER_USABLE_ADDRS'},
            {'type': 'test/fake-invalid-type', 'value': 'fake address teehee!'},
            {'type': 'IPAddress', 'value': 'PLACEHOLDER_UNUSABLE_ADDRS'},
            {'type': 'IPAddress', 'value': '10.0.0.1'},
        ]), self.subs)['spec']['addresses']
        self.assertEqual(got, [{'type': 'test/fake-invalid-type', 'value': 'fake address teehee!'},
                               {'type': 'IPAddress', 'value': '203.0.113.7'},
                               {'type': 'IPAddress', 'value': '127.254.0.1'}])

    def test_addresses_without_placeholders_removed(self):
        # GatewayOptionalAddressValue: [{type: IPAddress}] ends up with no spec.addresses at all
        self.assertNotIn('addresses', substitute(self.gw([{'type': 'IPAddress'}]), self.subs)['spec'])
        self.assertEqual(substitute(self.gw([]), self.subs)['spec']['addresses'], [])

    def test_namespace_labels_and_input_untouched(self):
        ns = {'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': 'n', 'labels': {'a': 'b'}}}
        self.assertEqual(substitute(ns, self.subs)['metadata']['labels'], {'a': 'b', 'l': 'v'})
        self.assertEqual(ns['metadata']['labels'], {'a': 'b'})

    def test_patch_apply_substitutions(self):
        gw = substitute(self.gw(), self.subs)
        body = {'mergePatch': {'spec': {'addresses': [{'value': 'PLACEHOLDER_USABLE_ADDRS'}]}},
                'applySubstitutions': True}
        new = changes.patched(gw, body, {}.get, self.subs)
        self.assertEqual(new['spec']['addresses'], [{'type': 'IPAddress', 'value': '127.254.0.1'}])
        body['applySubstitutions'] = False
        new = changes.patched(gw, body, {}.get, self.subs)
        self.assertEqual(new['spec']['addresses'], [{'value': 'PLACEHOLDER_USABLE_ADDRS'}])


class ConditionTest(unittest.TestCase):
    def test_matches(self):
        self.assertTrue(status.cond_matches({'type': 'A', 'status': 'True'}, cond('A', reason='X')))
        self.assertTrue(status.cond_matches({'type': 'A', 'status': 'True', 'reason': 'X'}, cond('A', reason='X')))
        self.assertFalse(status.cond_matches({'type': 'A', 'status': 'True', 'reason': 'Y'}, cond('A', reason='X')))
        self.assertFalse(status.cond_matches({'type': 'A', 'status': 'False'}, cond('A')))

    def test_gateway_stale_is_fatal_listenerset_waits(self):
        step = {'kind': 'Gateway', 'name': 'ns/g', 'type': 'Accepted', 'status': 'True'}
        gw = obj('Gateway', 'g', gen=2, conditions=[cond('Accepted', gen=1)])
        out = status.eval_condition(gw, step)
        self.assertTrue(out.fatal)
        out = status.eval_condition(gw | {'kind': 'ListenerSet'}, step | {'kind': 'ListenerSet'})
        self.assertFalse(out.held or out.fatal)
        gw['metadata']['generation'] = 1
        self.assertTrue(status.eval_condition(gw, step).held)

    def test_gateway_listener_condition(self):
        step = {'kind': 'Gateway', 'name': 'ns/g', 'listener': 'https', 'type': 'ResolvedRefs', 'status': 'False',
                'reason': 'InvalidCertificateRef'}
        gw = obj('Gateway', 'g', gen=2, conditions=[cond('Accepted', gen=1)],
                 listeners=[{'name': 'https', 'conditions': [cond('ResolvedRefs', 'False', 'InvalidCertificateRef')]}])
        self.assertTrue(status.eval_condition(gw, step).held)   # listener form: no currency rule
        self.assertFalse(status.eval_condition(gw, step | {'listener': 'http'}).held)

    def test_route_parent_namespace_absent_or_equal(self):
        step = {'kind': 'HTTPRoute', 'name': 'ns/r', 'type': 'Accepted', 'status': 'True',
                'parent': {'name': 'infra/gw'}}
        entry = {'parentRef': {'name': 'gw'}, 'controllerName': CTRL, 'conditions': [cond('Accepted')]}
        route = obj('HTTPRoute', 'r', parents=[entry])
        self.assertTrue(status.eval_condition(route, step).held)
        entry['parentRef']['namespace'] = 'infra'
        self.assertTrue(status.eval_condition(route, step).held)
        entry['parentRef']['namespace'] = 'other'
        self.assertFalse(status.eval_condition(route, step).held)

    def test_route_parents_all_current(self):
        step = {'kind': 'HTTPRoute', 'name': 'ns/r', 'type': 'Accepted', 'status': 'True', 'parent': {'name': 'ns/a'}}
        route = obj('HTTPRoute', 'r', gen=2, parents=[
            {'parentRef': {'name': 'a'}, 'conditions': [cond('Accepted', gen=2)]},
            {'parentRef': {'name': 'b'}, 'conditions': [cond('Accepted', gen=1)]}])
        out = status.eval_condition(route, step)
        self.assertFalse(out.held or out.fatal)
        self.assertIn('not current', out.why)

    def test_backendtlspolicy_ancestors(self):
        step = {'kind': 'BackendTLSPolicy', 'name': 'ns/p', 'type': 'Accepted', 'status': 'True',
                'parent': {'name': 'ns/gw'}}
        pol = obj('BackendTLSPolicy', 'p', ancestors=[{'ancestorRef': {'name': 'gw', 'namespace': 'ns'},
                                                       'conditions': [cond('Accepted')]}])
        self.assertTrue(status.eval_condition(pol, step).held)

    def test_accepted_parent_rules(self):
        entry = {'controllerName': CTRL, 'parentRef': {'group': 'gateway.networking.k8s.io', 'kind': 'Gateway',
                                                      'name': 'gw'},
                 'conditions': [cond('Accepted')]}
        # namespace absent: fine only when the route is in the Gateway's namespace
        self.assertTrue(status.parent_accepts(entry, CTRL, 'Gateway', 'infra', 'gw', 'infra'))
        self.assertFalse(status.parent_accepts(entry, CTRL, 'Gateway', 'infra', 'gw', 'other'))
        entry['parentRef']['namespace'] = 'infra'
        self.assertTrue(status.parent_accepts(entry, CTRL, 'Gateway', 'infra', 'gw', 'other'))
        del entry['parentRef']['group']   # group must be written in status
        self.assertFalse(status.parent_accepts(entry, CTRL, 'Gateway', 'infra', 'gw', 'infra'))

    def test_route_parents_namespace_required(self):
        want = [{'parentRef': {'group': 'gateway.networking.k8s.io', 'kind': 'Gateway', 'namespace': 'infra',
                               'name': 'gw'}, 'conditions': [{'type': 'Accepted', 'status': 'True'}]}]
        entry = {'controllerName': CTRL, 'parentRef': {'group': 'gateway.networking.k8s.io', 'kind': 'Gateway',
                                                      'name': 'gw'}, 'conditions': [cond('Accepted')]}
        route = obj('HTTPRoute', 'r', parents=[entry])
        self.assertTrue(status.eval_route_parents(route, want, False, CTRL, True).held)
        self.assertFalse(status.eval_route_parents(route, want, True, CTRL, True).held)
        self.assertFalse(status.eval_route_parents(route, want, False, 'other', True).held)
        self.assertTrue(status.eval_route_parents(None, [], True, CTRL, True).held)

    def test_no_accepted_parents_needs_two_empty_reads(self):
        st = {}
        route = obj('HTTPRoute', 'r')
        self.assertFalse(status.eval_no_accepted_parents(route, st).held)
        self.assertTrue(status.eval_no_accepted_parents(route, st).held)
        one = obj('HTTPRoute', 'r', parents=[{'conditions': [cond('Accepted', 'False', 'NotAllowedByListeners')]}])
        self.assertTrue(status.eval_no_accepted_parents(one, {}).held)
        stale_one = obj('HTTPRoute', 'r', gen=2, parents=[{'conditions': [cond('Accepted', 'False')]}])
        self.assertFalse(status.eval_no_accepted_parents(stale_one, {}).held)

    def test_listeners(self):
        gw = obj('Gateway', 'g', conditions=[cond('Accepted')], listeners=[
            {'name': 'http', 'attachedRoutes': 1, 'supportedKinds': [{'kind': 'HTTPRoute'}, {'kind': 'GRPCRoute'}],
             'conditions': [cond('Accepted')]}])
        want = [{'name': 'http', 'attachedRoutes': 1, 'conditions': [{'type': 'Accepted', 'status': 'True'}],
                 'supportedKinds': [{'group': 'gateway.networking.k8s.io', 'kind': 'HTTPRoute'}]}]
        self.assertTrue(status.eval_listeners(gw, want).held)
        self.assertFalse(status.eval_listeners(gw, [dict(want[0], supportedKinds=[])]).held)
        self.assertFalse(status.eval_listeners(gw, [dict(want[0], attachedRoutes=0)]).held)
        self.assertFalse(status.eval_listeners(gw, want + want).held)

    def test_status_addresses(self):
        pools = {'usable': {'value': '127.254.0.1'}, 'unusable': {'value': '203.0.113.7'}}
        step = {'count': 1, 'contains': [{'pool': 'usable', 'sameType': True}], 'absent': [{'pool': 'unusable'}]}
        gw = obj('Gateway', 'g', addresses=[{'type': 'IPAddress', 'value': '127.254.0.1'}])
        self.assertTrue(status.eval_status_addresses(gw, step, pools).held)
        gw['status']['addresses'][0]['type'] = 'Hostname'
        self.assertTrue(status.eval_status_addresses(gw, step, pools).fatal)
        gw['status']['addresses'].append({'type': 'IPAddress', 'value': '1.2.3.4'})
        out = status.eval_status_addresses(gw, step, pools)
        self.assertFalse(out.held or out.fatal)

    def test_latest_conditions_and_generation_change(self):
        route = obj('HTTPRoute', 'r', gen=3, parents=[{'conditions': [cond('Accepted', gen=3)]}])
        self.assertTrue(status.eval_latest_conditions(route, 'HTTPRoute').held)
        self.assertFalse(status.eval_latest_conditions(obj('Gateway', 'g', gen=2, conditions=[cond('A')]),
                                                       'Gateway').held)
        self.assertTrue(status.eval_generation_change(route, 2).held)
        self.assertTrue(status.eval_generation_change(route, 3).fatal)

    def test_gateway_address_port(self):
        gw = obj('Gateway', 'g', addresses=[{'value': 'x'}, {'type': 'IPAddress', 'value': '127.1.0.3'}],
                 conditions=[cond('Accepted')])
        gw['spec'] = {'listeners': [{'name': 'a', 'port': 80}, {'name': 'b', 'port': 8080}]}
        self.assertEqual(status.eval_gateway_address(gw, 'b').value, ('127.1.0.3', 8080))
        self.assertEqual(status.eval_gateway_address(gw, 'zz').value, ('127.1.0.3', 80))

    def test_brief_truncates(self):
        text = status.brief([{'type': 'x' * 1000, 'lastTransitionTime': 'now'}])
        self.assertLessEqual(len(text), 600)
        self.assertNotIn('lastTransitionTime', text)


class WeightRuleTest(unittest.TestCase):
    def test_identity(self):
        self.assertEqual(identity('infra-backend-v1-abcdef1234-x7z9q'), 'infra-backend-v1')
        self.assertEqual(identity('a-b'), 'a-b')

    def test_rule(self):
        names = ['infra-backend-v1-h-s'] * 70 + ['infra-backend-v2-h-s'] * 30
        backends = {'infra-backend-v1': 0.7, 'infra-backend-v2': 0.3, 'infra-backend-v3': 0}
        self.assertEqual(weight_rule(names, backends, 100, 0.05), '')
        self.assertIn('unexpected', weight_rule(names + ['other-h-s'], backends, 101, 0.05))
        self.assertIn('distinct', weight_rule(names + ['infra-backend-v3-h-s'], backends, 101, 0.05))
        skewed = ['infra-backend-v1-h-s'] * 80 + ['infra-backend-v2-h-s'] * 20
        self.assertIn('infra-backend-v1', weight_rule(skewed, backends, 100, 0.05))


def deployment(name, ns='ns', replicas=2, labels=None, ports=None):
    labels = labels or {'app': name}
    return {'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {'name': name, 'namespace': ns},
            'spec': {'replicas': replicas, 'selector': {'matchLabels': labels},
                     'template': {'metadata': {'labels': labels},
                                  'spec': {'containers': [{'name': 'c', 'ports': ports or []}]}}}}


class EndpointSliceTest(unittest.TestCase):
    def setUp(self):
        self.pods = PodFactory(rng=random.Random(1), ips=IPAllocator('127.100.0.0/16'))

    def test_pods(self):
        self.pods.sync([deployment('web', ports=[{'name': 'http', 'containerPort': 3000}]),
                        deployment('one', replicas=1)])
        pods = self.pods.pods()
        self.assertEqual(len(pods), 3)
        self.assertEqual(len({p.ip for p in pods}), 3)
        for p in pods:
            self.assertRegex(p.name, r'^(web|one)-[0-9a-f]{10}-[a-z0-9]{5}$')
            self.assertTrue(p.ip.startswith('127.100.'))
        before = [p.name for p in pods]
        self.assertFalse(self.pods.sync([deployment('web', ports=[{'name': 'http', 'containerPort': 3000}]),
                                         deployment('one', replicas=1)]))
        self.assertEqual([p.name for p in self.pods.pods()], before)
        self.assertTrue(self.pods.sync([deployment('one', replicas=1)]))
        self.assertEqual(len(self.pods.pods()), 1)

    def test_slice(self):
        self.pods.sync([deployment('web', ports=[{'name': 'http', 'containerPort': 3000}])])
        svc = {'kind': 'Service', 'metadata': {'name': 'web', 'namespace': 'ns'},
               'spec': {'selector': {'app': 'web'}, 'ports': [
                   {'name': 'a', 'port': 80, 'targetPort': 'http'},
                   {'name': 'b', 'port': 81, 'targetPort': 3001, 'appProtocol': 'kubernetes.io/h2c'},
                   {'name': 'c', 'port': 82},
                   {'name': 'd', 'port': 83, 'targetPort': 'missing'}]}}
        sl = endpoint_slice_for(svc, self.pods.pods(), 'web-abcde')
        self.assertEqual(sl['metadata']['labels']['kubernetes.io/service-name'], 'web')
        self.assertEqual(sl['addressType'], 'IPv4')
        self.assertEqual(sl['ports'], [{'name': 'a', 'port': 3000, 'protocol': 'TCP'},
                                       {'name': 'b', 'port': 3001, 'protocol': 'TCP',
                                        'appProtocol': 'kubernetes.io/h2c'},
                                       {'name': 'c', 'port': 82, 'protocol': 'TCP'}])
        self.assertEqual(len(sl['endpoints']), 2)
        ep = sl['endpoints'][0]
        self.assertEqual(ep['conditions'], {'ready': True, 'serving': True, 'terminating': False})
        self.assertEqual(ep['targetRef']['kind'], 'Pod')
        other = dict(svc, spec=dict(svc['spec'], selector={'app': 'nothing'}))
        self.assertEqual(endpoint_slice_for(other, self.pods.pods(), 'x')['endpoints'], [])

    def test_fill_from_pods(self):
        dep = deployment('web')
        self.pods.sync([dep])
        pods = self.pods.pods_of(dep)
        v4 = {'kind': 'EndpointSlice', 'addressType': 'IPv4', 'endpoints': [], 'metadata': {'name': 's'}}
        v6 = dict(v4, addressType='IPv6')
        filled = fill_slice_from_pods(v4, pods)
        self.assertEqual([e['addresses'][0] for e in filled['endpoints']], [p.ip for p in pods])
        self.assertEqual(filled['endpoints'][0]['nodeName'], pods[0].node)
        self.assertIsNone(fill_slice_from_pods(v6, pods))


class WaiterTest(unittest.TestCase):
    def make(self):
        t = [0.0]
        return t, Waiter(scale=1.0, clock=lambda: t[0], sleep=lambda s: t.__setitem__(0, t[0] + s))

    def test_budget_and_once(self):
        t, w = self.make()
        calls = []
        out = w.wait(lambda st: calls.append(st['first']) or status.not_yet('no'), {}, 1.0)
        self.assertFalse(out.held)
        self.assertIn('after 1 s', out.why)
        self.assertTrue(calls[0] and not any(calls[1:]))
        self.assertTrue(9 <= len(calls) <= 11)
        calls.clear()
        w.wait(lambda st: calls.append(1) or status.not_yet('no'), {'once': True}, 60)
        self.assertEqual(len(calls), 1)
        t[0] = 0
        out = w.wait(lambda st: status.not_yet('no'), {'timeout': 0.3}, 60)
        self.assertIn('after 0.3 s', out.why)

    def test_fatal_and_error(self):
        _, w = self.make()
        self.assertTrue(w.wait(lambda st: status.fatal('bad'), {}, 60).fatal)
        out = w.wait(lambda st: 1 / 0, {'once': True}, 60)
        self.assertIn('ZeroDivisionError', out.why)

    def test_default_budgets(self):
        self.assertEqual(default_budget('condition', {'kind': 'Gateway'}), 180)
        self.assertEqual(default_budget('condition', {'kind': 'Gateway', 'listener': 'x'}), 60)
        self.assertEqual(default_budget('condition', {'kind': 'HTTPRoute'}), 60)
        self.assertEqual(default_budget('namespacesReady', {}), 300)
        self.assertEqual(default_budget('statusAddresses', {}), 180)


class StoreTest(unittest.TestCase):
    def test_write_and_restore(self):
        with tempfile.TemporaryDirectory() as d:
            store = ObjectStore(ConfigDir(os.path.join(d, 'config'), os.path.join(d, 'staging')))
            gw = {'kind': 'Gateway', 'metadata': {'name': 'g', 'namespace': 'ns'}, 'spec': {'x': 1}}
            store.put(gw)
            store.put(deployment('web'))
            store.snapshot_base()
            path = os.path.join(d, 'config', 'Gateway', 'ns', 'g.yaml')
            self.assertTrue(os.path.exists(path))
            self.assertFalse(os.path.exists(os.path.join(d, 'config', 'Deployment')))
            with open(path) as f:
                self.assertIn(REVISION_ANNOTATION, f.read())
            store.put(merge_patch(gw, {'spec': {'x': 2}}))
            store.put({'kind': 'GatewayClass', 'metadata': {'name': 'c'}})
            self.assertTrue(os.path.exists(os.path.join(d, 'config', 'GatewayClass', '_cluster', 'c.yaml')))
            store.restore_base()
            self.assertEqual(store.get(key_of(gw))['spec'], {'x': 1})
            self.assertIsNone(store.get(('GatewayClass', '', 'c')))
            self.assertFalse(os.path.exists(os.path.join(d, 'config', 'GatewayClass', '_cluster', 'c.yaml')))
            self.assertEqual(os.listdir(os.path.join(d, 'staging')), [])

    def test_acknowledge(self):
        with tempfile.TemporaryDirectory() as d:
            store = ObjectStore(ConfigDir(os.path.join(d, 'c'), os.path.join(d, 's')))
            key = store.put({'kind': 'Gateway', 'metadata': {'name': 'g', 'namespace': 'ns'}})
            seen = {'kind': 'Gateway', 'metadata': {'name': 'g', 'namespace': 'ns',
                                                    'annotations': {REVISION_ANNOTATION: '0'}}}
            self.assertEqual(store.acknowledge([seen], {'Gateway'}), [key])
            seen['metadata']['annotations'][REVISION_ANNOTATION] = str(store.revision)
            self.assertEqual(store.acknowledge([seen], {'Gateway'}), [])
            store.delete(key)
            self.assertEqual(store.acknowledge([seen], {'Gateway'}), [key])
            self.assertEqual(store.acknowledge([], {'Gateway'}), [])

    def test_keys(self):
        self.assertEqual(key_for('GatewayClass', 'gc'), ('GatewayClass', '', 'gc'))
        self.assertEqual(key_for('HTTPRoute', 'a/b'), ('HTTPRoute', 'a', 'b'))


class CertTest(unittest.TestCase):
    def test_classify(self):
        self.assertEqual(classify_hosts(['*', '*.org', 'abc.example.com', '127.0.0.1', 'spiffe://a/b']),
                         (['*.org', 'abc.example.com'], ['127.0.0.1'], ['*', 'spiffe://a/b']))

    def test_config(self):
        ca = openssl_config({'ca': True, 'usage': 'ca', 'hosts': []})
        self.assertIn('CA:TRUE', ca)
        self.assertIn('keyCertSign', ca)
        leaf = openssl_config({'ca': False, 'usage': 'client', 'hosts': ['a.b']})
        self.assertIn('clientAuth', leaf)
        self.assertIn('subjectAltName = DNS:a.b', leaf)


class ReportTest(unittest.TestCase):
    def test_build(self):
        mk = lambda n, f, p, prov=False: Case(n, '', f, p, 'gateway', [], prov, [], [])
        cases = [mk('A', ['Gateway', 'HTTPRoute'], ['GATEWAY-HTTP']),
                 mk('B', ['Gateway', 'HTTPRoute', 'HTTPRouteRetry'], ['GATEWAY-HTTP'], True),
                 mk('C', ['Gateway', 'HTTPRoute', 'HTTPRoutePathRewrite'], ['GATEWAY-HTTP']),
                 mk('D', ['Gateway', 'HTTPRoute'], ['GATEWAY-HTTP'])]
        results = {'A': Result('A', 'PASS'), 'B': Result('B', 'PASS'),
                   'C': Result('C', 'SKIP', unsupported=True), 'D': Result('D', 'FAIL')}
        rep = report.build(results, cases, cases, {'Gateway', 'HTTPRoute', 'HTTPRouteRetry'}, '1.0')
        self.assertEqual(rep['kind'], 'ConformanceReport')
        self.assertEqual(rep['gatewayAPIVersion'], 'v1.6.1')
        (http,) = rep['profiles']
        self.assertEqual(http['core']['statistics'], {'Passed': 1, 'Failed': 1, 'Skipped': 0})
        self.assertEqual(http['core']['result'], 'failure')
        self.assertEqual(http['core']['failedTests'], ['D'])
        self.assertEqual(http['extended']['supportedFeatures'], ['HTTPRouteRetry'])
        self.assertEqual(http['extended']['unsupportedFeatures'], ['HTTPRoutePathRewrite'])
        self.assertEqual(rep['succeededProvisionalTests'], ['B'])


@unittest.skipUnless(os.path.isdir(os.path.join(SHARED, 'cases')), 'shared conformance cases not present')
class CaseFilesTest(unittest.TestCase):
    def test_every_case_loads_and_every_step_is_handled(self):
        base, cases = load_cases(os.path.join(SHARED, 'cases'))
        self.assertTrue(cases)
        for case in [base] + cases:
            if set(case.profiles) & INGRESS_PROFILES:
                continue  # Ingress steps (FORMAT.md section 11) come with the Ingress issue
            steps = case.steps + (case.raw.get('mesh') or {}).get('steps', [])
            for step in steps:
                t, body = step_type(step)
                self.assertTrue(t in TRAFFIC_STEPS or hasattr(CaseRun, 'step_' + t), f'{case.name}: {t}')
            for m in case.manifests:
                self.assertTrue(os.path.isfile(os.path.join(SHARED, 'manifests', m)), m)

    def test_own_cases_load_validate_and_stay_out_of_the_report(self):
        own = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'cases')
        _, upstream = load_cases(os.path.join(SHARED, 'cases'))
        _, cases = load_cases(os.path.join(SHARED, 'cases'), own)
        mine = [c for c in cases if c.own]
        self.assertEqual(len(cases), len(upstream) + len(mine))
        self.assertEqual([c.name for c in cases], sorted(c.name for c in cases))
        sys.path.insert(0, SHARED)
        try:
            import validate
        finally:
            sys.path.pop(0)
        with open(os.path.join(SHARED, 'cases', '_base.yaml')) as f:
            base_secrets = {s['name']: s for s in yaml.safe_load(f)['secrets']}
        for c in mine:
            self.assertEqual(validate.check_file(c.path, base_secrets), [], c.name)
            for step in c.steps:
                t, _ = step_type(step)
                self.assertTrue(t in TRAFFIC_STEPS or hasattr(CaseRun, 'step_' + t), f'{c.name}: {t}')
        if mine:
            results = {c.name: Result(c.name, 'PASS') for c in cases}
            rep = report.build(results, cases, cases, set(), '1.0')
            listed = {n for p in rep['profiles'] for part in ('core', 'extended')
                      for n in p.get(part, {}).get('failedTests', []) + p.get(part, {}).get('skippedTests', [])}
            counted = sum(p['core']['statistics']['Passed'] + p.get('extended', {}).get('statistics', {}).get('Passed', 0)
                          for p in rep['profiles'])
            self.assertFalse(listed & {c.name for c in mine})
            up = report.build(results, upstream, upstream, set(), '1.0')
            self.assertEqual(counted, sum(p['core']['statistics']['Passed'] +
                                          p.get('extended', {}).get('statistics', {}).get('Passed', 0)
                                          for p in up['profiles']))

    def test_secret_hosts_land_as_the_files_say(self):
        base, _ = load_cases(os.path.join(SHARED, 'cases'))
        for entry in base.secrets:
            if 'dnsNames' in entry:
                dns, ips, uris = classify_hosts(entry['hosts'])
                self.assertEqual((dns, uris), (entry['dnsNames'], entry['uris']), entry['name'])

    def test_pod_names_have_two_parts_after_the_deployment(self):
        pods = PodFactory(rng=random.Random(2))
        pods.sync([deployment('tls-backend-2', replicas=1)])
        (pod,) = pods.pods()
        self.assertEqual(identity(pod.name), 'tls-backend-2')
        self.assertTrue(re.match(r'tls-backend-2-', pod.name))


if __name__ == '__main__':
    unittest.main()
