"""Playing the suite set-up and the cases against a running torii (FORMAT.md sections 2 to 4, 9)."""
import contextlib
import dataclasses
import sys
import time

from . import changes, status
from .cases import load_manifest, step_type
from .certs import secret_object
from .dataplane import TRAFFIC_STEPS
from .kube import GATEWAY_API_KINDS, ROUTE_KINDS, fmt_key, key_for, key_of
from .pods import endpoint_slice_for, fill_slice_from_pods, pod_object, service_selects
from .status import Outcome
from .substitute import class_placeholder, substitute
from .wait import DEFAULT, default_budget


@dataclasses.dataclass
class Result:
    name: str
    outcome: str                 # PASS, FAIL, SKIP
    why: str = ''
    unsupported: bool = False    # skipped because a feature is not claimed (upstream: not supported)
    seconds: float = 0.0

    def line(self):
        return f'{self.outcome} {self.name}' + (f': {self.why}' if self.why else '')


class SetupError(Exception):
    pass


MESH_NETNS_ANNOTATION = 'mesh.torii.dev/netns'   # what puts a Pod in torii's mesh (docs/mesh.md)
SERVICE_RANGE = '10.96.0.0/16'                   # file mode: the cluster addresses the runner gives

SETTLE_TIMEOUT = 5.0     # seconds for torii to take in a write before the runner goes on anyway
SETTLE_FALLBACK = 0.5    # fixed delay after writes once torii proved unable to acknowledge them
STATUS_TIMEOUT = 10.0    # --kube: seconds for torii's published status to reach the API server


class Suite:
    """torii, the runner's objects, Pods and certificates, shared by all cases of a run.

    reader gives the objects steps judge: torii's admin endpoint (torii.AdminReader) in file mode,
    the API server (kubeapi.ApiReader) in --kube mode, where the runner also writes the made-up
    Pods as Pod objects and settle() waits for torii's status writes too.
    """

    def __init__(self, torii, store, pods, certs, dataplane, waiter, subs, log=None, reader=None, kube=False):
        self.torii = torii
        self.reader = reader
        self.kube = kube
        self.store = store
        self.pods = pods
        self.certs = certs
        self.dataplane = dataplane
        self.waiter = waiter
        self.subs = subs
        self.log = log or (lambda msg: None)
        self.supported = set()
        self.controller = ''
        self.setup_error = None
        self._batch = 0
        self._dirty = False
        self.reported_kinds = set(GATEWAY_API_KINDS)
        self.settle_misses = 0
        self.installed = []      # what the implementation's own set-up installs (--kube: the GatewayClass)
        self.mesh_setup_error = None
        self.mesh_unavailable = ''   # why the mesh part cannot run here (no network namespaces), or ''
        self.cluster_ips = {}        # Service key -> the cluster address the runner gave it
        self.assign_cluster_ips = not kube   # no API server gives Services cluster addresses
        store.on_change = self._changed

    # -- keeping Pods and EndpointSlices in line with Deployments and Services ----------------------

    def _changed(self, key):
        if key[0] in ('Deployment', 'Service'):
            self._dirty = True
            if not self._batch:
                self.sync_workloads()

    @contextlib.contextmanager
    def batch(self):
        """Apply many objects, then update Pods and EndpointSlices once."""
        self._batch += 1
        try:
            yield
        finally:
            self._batch -= 1
            if not self._batch and self._dirty:
                self.sync_workloads()

    def sync_workloads(self):
        self._dirty = False
        if self.pods.sync(self.store.of_kind('Deployment')):
            self.dataplane.start_backends(self.pods.pods())
        pods = self.pods.pods()
        if self.kube:
            self.sync_pod_objects(pods)
        else:
            self.sync_mesh_pods(pods)
        wanted = {}
        for svc in self.store.of_kind('Service'):
            if service_selects(svc):
                skey = key_of(svc)
                name = self.pods.slice_name(skey)
                wanted[('EndpointSlice', skey[1], name)] = endpoint_slice_for(svc, pods, name, self.dataplane.serving)
        for key, obj in wanted.items():
            if self.store.get(key) != obj:
                self.store.put(obj, track=False)
        auto = self.pods.auto_slice_keys()
        for key in [k for k in self.store.objects if k in auto]:
            if key not in wanted:
                self.store.delete(key, track=False)

    def sync_pod_objects(self, pods):
        """--kube: the Pods in the API server, as the cluster's kubelets would report them; the
        EndpointSlices then name them by the uid the server gave them."""
        wanted = set()
        for pod in pods:
            obj = pod_object(pod, self.dataplane.serving(pod))
            path = self.dataplane.mesh_netns(pod)
            if path:   # what the mesh's CNI hook writes on a node (docs/mesh.md)
                obj['metadata']['annotations'] = {MESH_NETNS_ANNOTATION: path}
            key = key_of(obj)
            wanted.add(key)
            if self.store.get(key) != obj:
                self.store.put(obj, track=False)
            served = getattr(self.store.sink, 'served', {}).get(key)
            if served:
                pod.uid = served['metadata'].get('uid', pod.uid)
        for key in [k for k in self.store.objects if k[0] == 'Pod' and k not in wanted]:
            self.store.delete(key, track=False)

    def sync_mesh_pods(self, pods):
        """File mode: the Pod objects of the mesh's workloads, each annotated with the network
        namespace it runs in (what makes it a mesh client of torii's); no other Pod is written."""
        wanted = set()
        for pod in pods:
            path = self.dataplane.mesh_netns(pod)
            if not path:
                continue
            obj = pod_object(pod, self.dataplane.serving(pod))
            obj['metadata']['annotations'] = {MESH_NETNS_ANNOTATION: path}
            key = key_of(obj)
            wanted.add(key)
            if self.store.get(key) != obj:
                self.store.put(obj, track=False)
        for key in [k for k in self.store.objects if k[0] == 'Pod' and k not in wanted]:
            self.store.delete(key, track=False)

    def with_cluster_ip(self, obj):
        """Without an API server that gives them (file mode, the fake one): a Service gets a cluster
        address from SERVICE_RANGE, as an API server would give it (sticky per Service; a
        headless or ExternalName one gets none)."""
        if not self.assign_cluster_ips or obj.get('kind') != 'Service':
            return obj
        spec = obj.get('spec') or {}
        if spec.get('clusterIP') or spec.get('type') == 'ExternalName':
            return obj
        key = key_of(obj)
        if key not in self.cluster_ips:
            n = len(self.cluster_ips) + 10
            self.cluster_ips[key] = f'10.96.{n // 250}.{n % 250 + 1}'
        out = dict(obj)
        out['spec'] = dict(spec, clusterIP=self.cluster_ips[key])
        return out

    def settle(self):
        """Wait until torii has taken in the runner's latest writes (see configdir.py).

        Without this a step right after a write could judge the state before it. torii may
        refuse to hold an invalid object, so a write not taken in only delays, never fails.
        """
        if not self.store.pending:
            return
        if self.settle_misses >= 3:
            time.sleep(SETTLE_FALLBACK)
            self.store.pending.clear()
            return
        deadline = time.monotonic() + SETTLE_TIMEOUT
        waited = sum(1 for k in self.store.pending if k[0] in self.reported_kinds)
        while True:
            self.torii.check_alive()
            items = self.torii.admin.list()   # what torii has taken in, in either mode
            self.reported_kinds |= {o.get('kind') for o in items}
            left = self.store.acknowledge(items, self.reported_kinds)
            if not left:
                self.settle_misses = 0
                break
            if time.monotonic() > deadline:
                # Nothing at all taken in: torii probably does not report the revision annotation.
                self.settle_misses = self.settle_misses + 1 if len(left) == waited else 0
                print(f'warning: torii did not take in {", ".join(fmt_key(k) for k in left[:5])}'
                      f'{" ..." if len(left) > 5 else ""} within {SETTLE_TIMEOUT:g} s'
                      + ('; from now on waiting a fixed delay after writes' if self.settle_misses >= 3 else ''),
                      file=sys.stderr, flush=True)
                break
            time.sleep(0.02)
        self.store.pending.clear()
        if self.kube:
            self.settle_status()

    def settle_status(self):
        """--kube: wait until the API server holds the status torii published for what it has
        taken in (the admin /status is its latest publish; status.status_behind compares). torii
        writes status on its own thread after publishing, so without this a step could read the
        status from before a change that torii has already taken in."""
        deadline = time.monotonic() + STATUS_TIMEOUT
        while True:
            self.torii.check_alive()
            published = {key_of(o): o for o in self.torii.admin.list()
                         if o.get('kind') in GATEWAY_API_KINDS and o.get('status')}
            held = {key_of(o): o for o in self.reader.list(sorted({k[0] for k in published}))}
            behind = []
            for key, obj in published.items():
                if key in held:
                    why = status.status_behind(key[0], obj['status'], status.status_of(held[key]),
                                               self.controller or '')
                    if why:
                        behind.append((key, why))
            if not behind:
                return
            if time.monotonic() > deadline:
                key, why = behind[0]
                print(f'warning: the API server does not hold the status torii published for {fmt_key(key)}'
                      f'{f" (and {len(behind) - 1} more)" if len(behind) > 1 else ""} after {STATUS_TIMEOUT:g} s: '
                      f'{why}', file=sys.stderr, flush=True)
                return
            time.sleep(0.02)

    # -- reading torii ------------------------------------------------------------------------------

    def read(self, kind, name):
        """The object a step names, as torii reports it or the API server holds it (None when
        absent)."""
        self.torii.check_alive()
        _, ns, short = key_for(kind, name)
        return self.reader.get(kind, ns, short)

    def read_list(self, kinds, namespace='', selector=None):
        """Objects of these kinds (in namespace, when given); selector may narrow them (callers
        check it again)."""
        self.torii.check_alive()
        return self.reader.list(kinds, namespace, selector)

    def supported_features(self):
        gc = self.read('GatewayClass', self.subs.class_name) or {}
        out = set()
        for f in status.status_of(gc).get('supportedFeatures') or []:
            out.add(f.get('name') if isinstance(f, dict) else f)
        return out

    # -- applying -----------------------------------------------------------------------------------

    def apply_manifests(self, manifests_dir, paths, secrets=()):
        """The secrets entries and the manifests' objects, Namespaces first (an API server takes
        no object into a namespace that does not exist yet), then secrets (base Deployments
        mount some, and a base Gateway refers to one), then the rest in order."""
        objs = [self.with_cluster_ip(substitute(obj, self.subs)) for rel in paths
                for obj in load_manifest(manifests_dir, rel)]
        with self.batch():
            for obj in objs:
                if obj.get('kind') == 'Namespace':
                    self.store.put(obj)
            self.create_secrets(secrets)
            for obj in objs:
                if obj.get('kind') != 'Namespace':
                    self.store.put(obj)

    def create_secrets(self, entries):
        """The run-time certificates; an object that exists already is left as it is."""
        for entry in entries:
            cert, key = self.certs.make(entry)
            obj = secret_object(entry, cert, key)
            if self.store.get(key_of(obj)) is None:
                self.store.put(obj)

    def setup(self, base, manifests_dir, mesh=True):
        """_base.yaml: GatewayClass check, secrets and base manifests, then namespace readiness;
        then, when torii supports Mesh and a mesh case is to run (mesh), the mesh part."""
        steps = base.steps
        for obj in self.installed:
            self.store.put(obj, track=False)
        first = CaseRun(self, base)
        t, _ = step_type(steps[0])
        if t != 'gatewayClassAccepted':
            raise SetupError('_base.yaml does not start with gatewayClassAccepted')
        res = first.play([steps[0]], 1)
        if res:
            raise SetupError(res)
        self.supported = self.supported_features()
        self.log(f'controller {self.controller}; supported features: {", ".join(sorted(self.supported)) or "none"}')
        if 'Gateway' not in self.supported:
            self.log('Gateway is not supported: the gateway part of the set-up is left out')
        else:
            self.apply_manifests(manifests_dir, base.manifests, base.secrets)
            self.settle()
            res = first.play(steps[1:], 2)
            if res:
                raise SetupError(res)
        if mesh and 'Mesh' in self.supported:
            self.setup_mesh(base, manifests_dir, first)
        self.store.snapshot_base()

    def setup_mesh(self, base, manifests_dir, first):
        """The mesh part of _base.yaml: its manifests (the workloads start in network namespaces
        of their own), then its steps. A failure fails the mesh cases only."""
        part = base.raw.get('mesh') or {}
        try:
            self.apply_manifests(manifests_dir, part.get('manifests') or [])
            self.settle()
            res = first.play(part.get('steps') or [], 1)
        except Exception as e:  # noqa: BLE001 - the gateway cases still run
            res = f'{type(e).__name__}: {e}'
        if res:
            self.mesh_setup_error = res
            print(f'mesh set-up failed: {res}', file=sys.stderr, flush=True)

    def teardown(self):
        """Delete everything the run applied (--kube against a cluster the runner did not start)."""
        with self.batch():
            keys = sorted(self.store.objects, key=lambda k: (k[0] in ('Namespace', 'GatewayClass'), k))
            for key in keys:
                if key in self.store.objects and key[0] != 'Pod':
                    self.store.delete(key, track=False)

    # -- cases --------------------------------------------------------------------------------------

    def skip_reason(self, case):
        if case.is_mesh and 'Mesh' not in self.supported:
            return 'mesh not supported' + (f' ({self.mesh_unavailable})' if self.mesh_unavailable else '')
        missing = [f for f in case.features if f not in self.supported]
        if missing:
            return 'unsupported features: ' + ', '.join(missing)
        return ''

    def run_case(self, case, manifests_dir):
        start = time.monotonic()
        res = self._run_case(case, manifests_dir)
        res.seconds = time.monotonic() - start
        return res

    def _run_case(self, case, manifests_dir):
        if self.setup_error:
            return Result(case.name, 'FAIL', f'suite set-up failed: {self.setup_error}')
        why = self.skip_reason(case)
        if why:
            return Result(case.name, 'SKIP', why, unsupported=True)
        if case.is_mesh and self.mesh_setup_error:
            return Result(case.name, 'FAIL', f'mesh set-up failed: {self.mesh_setup_error}')
        if not self.torii.alive():
            print(f'warning: torii is not running ({self.torii.log_tail()}); restarting it', file=sys.stderr)
            try:
                self.torii.start()
            except Exception as e:  # noqa: BLE001
                return Result(case.name, 'FAIL', f'torii restart failed: {e}')
        run = CaseRun(self, case)
        try:
            try:
                self.apply_manifests(manifests_dir, case.manifests, case.secrets)
                self.settle()
            except Exception as e:  # noqa: BLE001
                return Result(case.name, 'FAIL', f'applying manifests: {type(e).__name__}: {e}')
            why = run.play(case.steps, 1)
            return Result(case.name, 'FAIL', why) if why else Result(case.name, 'PASS')
        finally:
            with self.batch():
                self.store.restore_base()
            try:
                self.settle()
            except Exception as e:  # noqa: BLE001 - torii gone: the next case reports it
                self.log(f'cleanup: {e}')


class CaseRun:
    """One play of a case's steps; remembers what steps remember (addresses, generations)."""

    def __init__(self, suite, case):
        self.suite = suite
        self.case = case
        self.addresses = {}      # gateway NS/NAME -> (host, port or None)
        self.gen_before = {}     # object key -> metadata.generation before the latest patch

    def play(self, steps, first_index):
        """'' when every step holds (or an endIf ends the case), else the FAIL reason."""
        for i, step in enumerate(steps, first_index):
            t, body = step_type(step)
            started = time.monotonic()
            out = self.step(t, body)
            self.suite.log(f'  {self.case.name} step {i} {t}: '
                           f'{"ok" if out.held else "FAILED"} ({time.monotonic() - started:.2f} s)'
                           + (f' {out.why}' if out.why and out.held else ''))
            if not out.held:
                return f'step {i} ({t}): {out.why}'
            if out.value == 'end':
                return ''
        return ''

    def step(self, t, body):
        if t in TRAFFIC_STEPS:
            return self.suite.dataplane.run(t, body, self)
        handler = getattr(self, 'step_' + t, None)
        if handler is None:
            return Outcome(False, f'unknown step type {t}')
        try:
            out = handler(body)
            self.suite.settle()    # a change step's writes are in torii before the next step
            return out
        except (changes.ChangeError, KeyError) as e:
            return Outcome(False, str(e.args[0] if e.args else e))
        except Exception as e:  # noqa: BLE001 - torii unreachable while settling or reading
            return Outcome(False, f'{type(e).__name__}: {e}')

    # -- helpers ------------------------------------------------------------------------------------

    def wait(self, evaluate, body, default, interval=0.1):
        return self.suite.waiter.wait(evaluate, body, default, interval)

    def read(self, kind, name):
        return self.suite.read(kind, name)

    def waits_for(self, t, kind, name, fn, body):
        """The usual single wait: read the object, evaluate fn(obj, state)."""
        return self.wait(lambda st: fn(self.read(kind, name), st), body, default_budget(t, body))

    # -- status steps -------------------------------------------------------------------------------

    def step_gatewayClassAccepted(self, body):
        name = class_placeholder(body['name'], self.suite.subs)
        out = self.waits_for('gatewayClassAccepted', 'GatewayClass', name,
                             lambda o, st: status.eval_gatewayclass_accepted(o), body)
        if out.held:
            self.suite.controller = out.value or ''
            self.suite.subs.controller_name = self.suite.controller
        return out

    def _namespaces(self, body, gateways, t):
        def evaluate(st):
            items = self.suite.read_list(['Gateway']) if gateways else []
            return status.eval_namespaces_ready(items, body['namespaces'], self.suite.pods.pods(),
                                                self.suite.dataplane.serving, gateways)
        return self.wait(evaluate, body, default_budget(t, body))

    def step_namespacesReady(self, body):
        return self._namespaces(body, True, 'namespacesReady')

    def step_meshNamespacesReady(self, body):
        return self._namespaces(body, False, 'meshNamespacesReady')

    def step_gatewayAddress(self, body):
        gw = body['gateway']
        out = self.waits_for('gatewayAddress', 'Gateway', gw,
                             lambda o, st: status.eval_gateway_address(o, body.get('listener')), body)
        if out.held:
            self.addresses[gw] = out.value
        return out

    def step_accepted(self, body):
        routes = body.get('routes') or []
        tls = bool(routes) and all(r['kind'] == 'TLSRoute' for r in routes)
        ctrl = self.suite.controller
        if 'gateway' in body:
            parent_kind, parent = 'Gateway', body['gateway']
            listeners = body.get('listeners') or []
            # wait 1: the address, as gatewayAddress with the first listener
            out = self.waits_for('gatewayAddress', 'Gateway', parent,
                                 lambda o, st: status.eval_gateway_address(o, listeners[0] if listeners else None),
                                 body)
            if not out.held:
                return Outcome(False, f'address of Gateway {parent}: {out.why}')
            host, port = out.value
            self.addresses[parent] = (host, port if body.get('usePort') else None)
        else:
            parent_kind, parent = 'ListenerSet', body['listenerSet']
        pns, _, pname = parent.partition('/')
        # wait 2: each route accepted by the parent; TLSRoutes need no current conditions, and
        # upstream skips the currency check on its first read
        for r in routes:
            out = self.wait(lambda st, r=r: status.eval_route_accepted(
                self.read(r['kind'], r['name']), ctrl, parent_kind, pns, pname,
                check_current=not tls and not st['first']), body, DEFAULT)
            if not out.held:
                return Outcome(False, f'{r["kind"]} {r["name"]}: {out.why}')
        # wait 3: the parent's listeners all healthy
        if tls:
            return status.HELD
        out = self.wait(lambda st: status.eval_listeners_healthy(
            self.read(parent_kind, parent), f'{parent_kind} {parent}', own_current=parent_kind == 'ListenerSet'),
            body, DEFAULT)
        return out

    def step_condition(self, body):
        return self.waits_for('condition', body['kind'], body['name'],
                              lambda o, st: status.eval_condition(o, body), body)

    def step_conditionPresent(self, body):
        return self.waits_for('conditionPresent', body['kind'], body['name'],
                              lambda o, st: status.eval_condition_present(o, body['type']), body)

    def step_latestConditions(self, body):
        return self.waits_for('latestConditions', body['kind'], body['name'],
                              lambda o, st: status.eval_latest_conditions(o, body['kind']), body)

    def step_routeParents(self, body):
        return self.waits_for('routeParents', body['kind'], body['name'],
                              lambda o, st: status.eval_route_parents(
                                  o, body['parents'], body['namespaceRequired'], self.suite.controller,
                                  check_current=not st['first']), body)

    def step_noAcceptedParents(self, body):
        return self.wait(lambda st: status.eval_no_accepted_parents(self.read(body['kind'], body['name']), st),
                         body, default_budget('noAcceptedParents', body), interval=1.0)

    def step_listeners(self, body):
        kind = 'Gateway' if 'gateway' in body else 'ListenerSet'
        name = body.get('gateway') or body.get('listenerSet')
        return self.waits_for('listeners', kind, name,
                              lambda o, st: status.eval_listeners(o, body['listeners'], kind), body)

    def step_zeroRoutes(self, body):
        return self.waits_for('zeroRoutes', 'Gateway', body['gateway'],
                              lambda o, st: status.eval_zero_routes(o), body)

    def step_attachedListeners(self, body):
        return self.waits_for('attachedListeners', 'Gateway', body['gateway'],
                              lambda o, st: status.eval_attached_listeners(o, body['count']), body)

    def step_statusAddresses(self, body):
        subs = self.suite.subs
        if not subs.usable or not subs.unusable:
            return Outcome(False, 'statusAddresses needs a usable and an unusable address (runner options)')
        pools = {'usable': subs.usable[0], 'unusable': subs.unusable[0]}
        return self.waits_for('statusAddresses', 'Gateway', body['gateway'],
                              lambda o, st: status.eval_status_addresses(o, body, pools), body)

    def step_infrastructurePropagated(self, body):
        ns = body['gateway'].partition('/')[0]
        return self.wait(lambda st: status.eval_infrastructure(
            self.suite.read_list(body['kinds'], ns, body['selector']), ns, body),
                         body, default_budget('infrastructurePropagated', body))

    def step_expectGenerationChange(self, body):
        key = key_for(body['kind'], body['name'])
        if key not in self.gen_before:
            return Outcome(False, f'no earlier patch of {fmt_key(key)} in this case')
        return self.wait(lambda st: status.eval_generation_change(
            self.read(body['kind'], body['name']), self.gen_before[key]), {**body, 'once': True}, DEFAULT)

    # -- change and control steps -------------------------------------------------------------------

    def step_create(self, body):
        obj = changes.created(body, self.suite.store.get)
        key = key_of(obj)
        if self.suite.store.get(key) is not None:
            return status.HELD
        if key[0] in ROUTE_KINDS:
            self._after_older(key)
        self.suite.store.put(obj)
        return status.HELD

    def _after_older(self, key):
        """Make a new route's creationTimestamp (second resolution) later than its siblings'.

        Upstream waits 1 s before creating the newer route of the MultipleRoutesAttachment cases;
        so does the runner, then it also waits past the latest creationTimestamp torii gave a route
        of that kind in the namespace, so that the new one is strictly later.
        """
        time.sleep(1.0)
        latest = None
        for obj in self.suite.read_list([key[0]], key[1]):
            meta = obj.get('metadata') or {}
            if obj.get('kind') == key[0] and meta.get('namespace') == key[1]:
                ts = changes.parse_timestamp(meta.get('creationTimestamp'))
                if ts is not None and (latest is None or ts > latest):
                    latest = ts
        if latest is not None:
            delay = latest + 1.05 - time.time()
            if delay > 0:
                time.sleep(delay)

    def step_patch(self, body):
        key = key_for(body['kind'], body['name'])
        obj = self.suite.store.get(key)
        if obj is None:
            return Outcome(False, f'{fmt_key(key)} was never applied')
        current = self.read(body['kind'], body['name'])
        self.gen_before[key] = status.generation(current)
        self.suite.store.put(changes.patched(obj, body, self.suite.store.get, self.suite.subs))
        return status.HELD

    def step_delete(self, body):
        key = key_for(body['kind'], body['name'])
        if self.suite.store.get(key) is None:
            return Outcome(False, f'{fmt_key(key)} was never applied')
        self.suite.store.delete(key)
        return status.HELD

    def step_endpointSlicesFromPods(self, body):
        dkey = key_for('Deployment', body['deployment'])
        dep = self.suite.store.get(dkey)
        if dep is None:
            return Outcome(False, f'Deployment {body["deployment"]} was never applied')
        pods = self.suite.pods.pods_of(dep)
        for name in body['endpointSlices']:
            skey = key_for('EndpointSlice', name)
            sl = self.suite.store.get(skey)
            if sl is None:
                return Outcome(False, f'EndpointSlice {name} was never applied')
            new = fill_slice_from_pods(sl, pods)
            if new is not None:
                self.suite.store.put(new)
        return status.HELD

    def step_endIf(self, body):
        supported = self.suite.supported
        if 'featureSupported' in body and body['featureSupported'] in supported:
            return Outcome(True, f'{body["featureSupported"]} supported: case ends', value='end')
        if 'featureNotSupported' in body and body['featureNotSupported'] not in supported:
            return Outcome(True, f'{body["featureNotSupported"]} not supported: case ends', value='end')
        return status.HELD


def stderr_log(verbose):
    def log(msg):
        if verbose:
            print(msg, file=sys.stderr, flush=True)
    return log

