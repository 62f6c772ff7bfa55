#!/usr/bin/env python3
"""A stand-in for `torii run`, for developing the runner's mechanics only (not a test oracle).

    fake_torii.py run --config DIR --admin HOST:PORT --gatewayclass NAME [--log-level L]

It speaks the runner's contract (config directory in, /readyz and /status out) and makes up a
naive status: everything Accepted/Programmed/ResolvedRefs, every route accepted by every parent
it names. Its judgement is deliberately simplistic; no test relies on it. It polls the directory
every 50 ms instead of using inotify.
"""
import argparse
import hashlib
import http.server
import json
import os
import threading
import time
import uuid

import yaml

CONTROLLER = 'torii.dev/gateway-controller'
CLUSTER = {'GatewayClass', 'Namespace'}
ROUTES = {'HTTPRoute', 'GRPCRoute', 'TLSRoute', 'TCPRoute', 'UDPRoute'}
FEATURES = ['Gateway', 'HTTPRoute', 'ReferenceGrant', 'GatewayPort8080', 'TLSRoute', 'TCPRoute', 'UDPRoute',
            'ListenerSet', 'GRPCRoute']
# FAKE_TORII_FEATURES=A,B,... replaces the features claimed (to reach more of the runner's code).
FEATURES = [f for f in os.environ.get('FAKE_TORII_FEATURES', '').split(',') if f] or FEATURES


def now():
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())


class State:
    def __init__(self, config, class_name):
        self.config = config
        self.class_name = class_name
        self.lock = threading.Lock()
        self.meta = {}      # key -> {generation, uid, creationTimestamp, spec_hash}
        self.objects = {}
        self.loaded = False
        self.addresses = {}

    def key(self, obj):
        m = obj.get('metadata') or {}
        ns = '' if obj.get('kind') in CLUSTER else m.get('namespace', 'default')
        return obj.get('kind'), ns, m.get('name')

    def scan(self):
        found = {}
        gc = {'apiVersion': 'gateway.networking.k8s.io/v1', 'kind': 'GatewayClass',
              'metadata': {'name': self.class_name}, 'spec': {'controllerName': CONTROLLER}}
        found[self.key(gc)] = gc
        for root, _, files in os.walk(self.config):
            for f in files:
                if not f.endswith(('.yaml', '.yml', '.json')):
                    continue
                try:
                    with open(os.path.join(root, f)) as fh:
                        for d in yaml.safe_load_all(fh):
                            if d:
                                found[self.key(d)] = d
                except (OSError, yaml.YAMLError):
                    continue
        with self.lock:
            for k in list(self.meta):
                if k not in found:
                    del self.meta[k]
            for k, obj in found.items():
                h = hashlib.sha1(json.dumps({x: obj.get(x) for x in obj if x not in ('metadata', 'status')},
                                            sort_keys=True).encode()).hexdigest()
                m = self.meta.get(k)
                if m is None:
                    self.meta[k] = {'generation': 1, 'uid': str(uuid.uuid4()), 'creationTimestamp': now(), 'h': h}
                elif m['h'] != h:
                    m['generation'] += 1
                    m['h'] = h
            self.objects = found
            self.loaded = True

    def cond(self, t, gen, status='True', reason=None):
        return {'type': t, 'status': status, 'reason': reason or t, 'message': '', 'observedGeneration': gen,
                'lastTransitionTime': now()}

    def view(self):
        with self.lock:
            out = []
            for k, obj in self.objects.items():
                o = json.loads(json.dumps(obj))
                m = self.meta[k]
                o.setdefault('metadata', {}).update(generation=m['generation'], uid=m['uid'],
                                                    creationTimestamp=m['creationTimestamp'])
                if k[0] in CLUSTER:
                    o['metadata'].pop('namespace', None)
                else:
                    o['metadata']['namespace'] = k[1]
                o['status'] = self.status(k, o)
                out.append(o)
            return out

    def status(self, k, o):
        gen = o['metadata']['generation']
        kind = k[0]
        if kind == 'GatewayClass':
            if (o.get('spec') or {}).get('controllerName') != CONTROLLER:
                return {}
            st = {'conditions': [self.cond('Accepted', gen)]}
            if k[2] == self.class_name:
                st['supportedFeatures'] = [{'name': f} for f in FEATURES]
            return st
        if kind == 'Gateway':
            addr = self.addresses.setdefault(k, f'127.1.0.{len(self.addresses) + 1}')
            ls = []
            for listener in (o.get('spec') or {}).get('listeners') or []:
                n = 0
                for rk, r in self.objects.items():
                    if rk[0] in ROUTES:
                        for ref in (r.get('spec') or {}).get('parentRefs') or []:
                            if ref.get('name') == k[2] and ref.get('namespace', rk[1]) == k[1] and \
                                    ref.get('sectionName') in (None, listener.get('name')):
                                n += 1
                kinds = {'HTTP': 'HTTPRoute', 'HTTPS': 'HTTPRoute', 'TLS': 'TLSRoute', 'TCP': 'TCPRoute',
                         'UDP': 'UDPRoute'}.get(listener.get('protocol'), 'HTTPRoute')
                ls.append({'name': listener.get('name'), 'attachedRoutes': n,
                           'supportedKinds': [{'group': 'gateway.networking.k8s.io', 'kind': kinds}],
                           'conditions': [self.cond(t, gen) for t in ('Accepted', 'Programmed', 'ResolvedRefs')]})
            return {'addresses': [{'type': 'IPAddress', 'value': addr}], 'listeners': ls,
                    'conditions': [self.cond('Accepted', gen), self.cond('Programmed', gen)]}
        if kind in ROUTES:
            parents = []
            for ref in (o.get('spec') or {}).get('parentRefs') or []:
                pref = {'group': ref.get('group', 'gateway.networking.k8s.io'), 'kind': ref.get('kind', 'Gateway'),
                        'name': ref['name']}
                if 'namespace' in ref:
                    pref['namespace'] = ref['namespace']
                if 'sectionName' in ref:
                    pref['sectionName'] = ref['sectionName']
                parents.append({'parentRef': pref, 'controllerName': CONTROLLER,
                                'conditions': [self.cond('Accepted', gen), self.cond('ResolvedRefs', gen)]})
            return {'parents': parents}
        if kind == 'ListenerSet':
            ls = [{'name': x.get('name'), 'attachedRoutes': 0, 'supportedKinds': [],
                   'conditions': [self.cond(t, gen) for t in ('Accepted', 'Programmed', 'ResolvedRefs')]}
                  for x in (o.get('spec') or {}).get('listeners') or []]
            return {'conditions': [self.cond('Accepted', gen), self.cond('Programmed', gen)], 'listeners': ls}
        return {}


def serve(state, address):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def reply(self, code, body):
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            parts = [p for p in self.path.split('/') if p]
            if parts == ['readyz']:
                return self.reply(200 if state.loaded else 503, {})
            if parts and parts[0] == 'status':
                items = state.view()
                if len(parts) == 1:
                    return self.reply(200, {'items': items})
                kind, rest = parts[1], parts[2:]
                ns, name = (rest[0], rest[1]) if len(rest) == 2 else ('', rest[0])
                for o in items:
                    m = o['metadata']
                    if o['kind'] == kind and m['name'] == name and m.get('namespace', '') == ns:
                        return self.reply(200, o)
            return self.reply(404, {'error': 'not found'})

    host, port = address.rsplit(':', 1)
    http.server.ThreadingHTTPServer((host, int(port)), Handler).serve_forever()


def main():
    p = argparse.ArgumentParser()
    p.add_argument('command', choices=['run', 'version'])
    p.add_argument('--config')
    p.add_argument('--admin')
    p.add_argument('--gatewayclass')
    p.add_argument('--log-level')
    a = p.parse_args()
    if a.command == 'version':
        print('torii 0.0.0-fake')
        return
    state = State(a.config, a.gatewayclass)
    state.scan()
    threading.Thread(target=serve, args=(state, a.admin), daemon=True).start()
    while True:
        time.sleep(0.05)
        state.scan()


if __name__ == '__main__':
    main()
