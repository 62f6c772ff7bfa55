"""The `mesh` and `meshWeights` steps (FORMAT.md section 6): requests sent by torii-echo's client
from inside the client workload's network namespace (lib/meshpods.py) to a Service's cluster
address or a Pod's, and judged by lib/mesh.py's checks."""
from . import mesh
from .meshpods import first_pod
from .status import Outcome
from .traffic_common import TrafficError, retry
from .weights import identity, weight_rule

CLIENT_TIMEOUT_S = 5


class MeshSteps:
    def __init__(self, dp):
        self.dp = dp

    def _where(self, body, ctx):
        """(the client Pod, the address:port to connect to, the URL)."""
        if self.dp.meshpods is None:
            raise TrafficError('no mesh workload runs (network namespaces unavailable, or no mesh set-up)')
        pods = ctx.suite.pods.pods()
        ns, _, dep = body['client'].partition('/')
        client = first_pod(pods, ns, dep)
        if client is None:
            raise TrafficError(f'no Pod of Deployment {body["client"]}')
        to = body.get('to') or {}
        request = body.get('request') or {}
        if 'pod' in to:
            pns, _, pdep = to['pod'].partition('/')
            target = first_pod(pods, pns, pdep)
            if target is None:
                raise TrafficError(f'no Pod of Deployment {to["pod"]}')
            host = f'[{target.ip}]' if ':' in target.ip else target.ip
            addr = f'{host}:{to["port"]}'
            return client, addr, mesh.url_of(request, to_pod_addr=addr)
        sns, _, sname = to['service'].partition('/')
        svc = ctx.suite.store.get(('Service', sns, sname))
        ip = ((svc or {}).get('spec') or {}).get('clusterIP')
        if not ip or ip == 'None':
            raise TrafficError(f'Service {to["service"]} has no cluster address')
        host = f'[{ip}]' if ':' in ip else ip
        return client, f'{host}:{to["port"]}', mesh.url_of(request)

    def _send(self, client, body, url, addr, count=1):
        argv = mesh.client_argv(self.dp.echo, body.get('request') or {}, url, addr, count=count,
                                timeout_s=CLIENT_TIMEOUT_S)
        return mesh.send(lambda a: self.dp.meshpods.client_argv(client, a), argv,
                         timeout_s=max(60, CLIENT_TIMEOUT_S * count))

    def mesh(self, body, ctx):
        client, addr, url = self._where(body, ctx)

        def attempt():
            replies, err = self._send(client, body, url, addr)
            if not replies:
                return Outcome(False, f'no reply: {err.strip()[-300:]}')
            return mesh.check(body, replies[0])
        return retry(attempt, body, self.dp.scale(ctx))

    def meshWeights(self, body, ctx):
        client, addr, url = self._where(body, ctx)
        requests = int(body['requests'])
        backends = body['backends']
        last = ''
        for n in range(1, int(body.get('attempts', 1)) + 1):
            replies, err = self._send(client, body, url, addr, count=requests)
            answered = [r for r in replies if r.hostname]
            if len(answered) != requests:
                last = f'{len(answered)} of {requests} requests answered ({err.strip()[-200:]})'
                continue
            last = weight_rule([r.hostname for r in answered], backends, requests, float(body['tolerance']))
            if not last:
                seen = sorted({identity(r.hostname) for r in answered})
                return Outcome(True, f'run {n}: {requests} replies from {", ".join(seen)}')
        return Outcome(False, f'after {body.get("attempts", 1)} run(s): {last}')
