#!/usr/bin/env python3
"""bench/run.sh mesh: what the mesh hop costs (docs/mesh.md).

Two workloads, each in a network namespace of its own (tests/conformance/lib/netns.py): a client
and a server running bench-backend (port 8080, MESH_SIZE body bytes). The same client load runs
twice from inside the client's namespace: straight to the server's Pod address, then to the
Service's cluster address, which torii (`run --mesh`, one worker on PROXY_CPU) takes in the
client's namespace and sends on to the Pod by an HTTPRoute whose parent is the Service. The
client and the backend share CLIENT_CPU.

  throughput: wrk (1 thread, MESH_CONNS keep-alive connections, DURATION): req/s, and torii's
              CPU time per request (/proc utime + stime over the run, divided by wrk's count);
  latency:    bench-latprobe (open loop, LAT_CONNS connections) at MESH_RATE requests a second
              (default: half of the mesh's throughput above): p50, p99, p99.9 and max, and the
              latency the hop adds (mesh minus direct) at each.

Prints Markdown on stdout; raw output goes to --out. Needs root (network namespaces, nftables).
"""
import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'tests', 'conformance'))

from lib import netns  # noqa: E402

VIP = '10.96.0.10'
TICKS = os.sysconf('SC_CLK_TCK')

MANIFESTS = """\
apiVersion: v1
kind: Service
metadata: {{name: server, namespace: bench}}
spec:
  clusterIP: {vip}
  ports: [{{name: http, port: 80, targetPort: 8080}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: server-1, namespace: bench, labels: {{kubernetes.io/service-name: server}}}}
addressType: IPv4
endpoints: [{{addresses: [{server}], conditions: {{ready: true}}}}]
ports: [{{name: http, port: 8080}}]
---
apiVersion: v1
kind: Pod
metadata:
  name: client
  namespace: bench
  annotations: {{mesh.torii.dev/netns: /run/netns/{client_ns}}}
status: {{podIP: {client}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: server, namespace: bench}}
spec:
  parentRefs: [{{group: "", kind: Service, name: server, port: 80}}]
  rules:
  - backendRefs: [{{name: server, port: 80}}]
"""


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def cpu_s(pid):
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def wrk(topo, args, url, out_path):
    argv = topo.argv('client', ['taskset', '-c', args.client_cpu, 'wrk', '-t1', f'-c{args.conns}',
                                f'-d{args.duration}', url])
    p = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    with open(out_path, 'w') as f:
        f.write(p.stdout + p.stderr)
    m = re.search(r'(\d+) requests in', p.stdout)
    rps = re.search(r'Requests/sec:\s+([\d.]+)', p.stdout)
    errors = re.search(r'Non-2xx or 3xx responses: (\d+)|Socket errors: .*', p.stdout)
    if not m or not rps:
        raise RuntimeError(f'wrk printed no result for {url}: {p.stdout[-300:]}{p.stderr[-300:]}')
    return int(m.group(1)), float(rps.group(1)), errors.group(0) if errors else ''


def latprobe(topo, args, addr, rate, out_path):
    argv = topo.argv('client', ['taskset', '-c', args.client_cpu, args.latprobe, '--connect', addr,
                                '--rate', str(rate), '--duration', str(args.lat_duration), '--warmup', '1',
                                '--conns', str(args.lat_conns)])
    p = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    with open(out_path, 'w') as f:
        f.write(p.stdout + p.stderr)
    vals = dict(line.split(None, 1) for line in p.stdout.splitlines() if ' ' in line)
    return {k: float(vals[k]) for k in ('p50_us', 'p99_us', 'p999_us', 'max_us', 'answered_rate', 'errors')
            if k in vals}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--duration', default='10s')
    ap.add_argument('--conns', type=int, default=16)
    ap.add_argument('--size', type=int, default=0)
    ap.add_argument('--rate', type=int, default=0)
    ap.add_argument('--lat-duration', type=int, default=10)
    ap.add_argument('--lat-conns', type=int, default=16)
    ap.add_argument('--client-cpu', default='0')
    ap.add_argument('--proxy-cpu', default='1')
    args = ap.parse_args()
    why = netns.available()
    if why:
        print(f'Skipped: {why}.')
        return 0
    torii_bin = os.path.join(args.build, 'torii')
    backend = os.path.join(args.build, 'bench', 'bench-backend')
    args.latprobe = os.path.join(args.build, 'bench', 'bench-latprobe')
    os.makedirs(args.out, exist_ok=True)
    conf = tempfile.mkdtemp(prefix='torii-bench-mesh-')
    procs = []
    with netns.Topology() as topo:
        client = topo.add_pod('client')
        server = topo.add_pod('server')
        procs.append(subprocess.Popen(topo.argv('server', ['taskset', '-c', args.client_cpu, backend, '--listen',
                                                           f'{server}:8080', '--size', str(args.size)]),
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        with open(os.path.join(conf, 'mesh.yaml'), 'w') as f:
            f.write(MANIFESTS.format(vip=VIP, server=server, client=client, client_ns=topo.netns('client')))
        log = open(os.path.join(args.out, 'torii.log'), 'w')
        admin = f'127.0.0.1:{free_port()}'
        torii = subprocess.Popen(['taskset', '-c', args.proxy_cpu, torii_bin, 'run', '--config', conf, '--mesh', 'bench',
                                  '--workers', '1', '--admin', admin, '--log-level', 'warn', '--drain-delay',
                                  '0s', '--drain-grace', '1s'], stdout=log, stderr=log)
        procs.append(torii)
        try:
            # Until the hop answers (the redirect follows the workers' listeners).
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                r = subprocess.run(topo.argv('client', ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}',
                                                        '-m', '1', f'http://{VIP}/']), capture_output=True, text=True)
                if r.stdout == '200':
                    break
                time.sleep(0.1)
            else:
                raise RuntimeError('the mesh hop does not answer within 20 s')
            rows = {}
            for name, url in (('direct', f'http://{server}:8080/'), ('mesh', f'http://{VIP}/')):
                before = cpu_s(torii.pid)
                n, rps, errors = wrk(topo, args, url, os.path.join(args.out, f'wrk-{name}.txt'))
                used = cpu_s(torii.pid) - before
                rows[name] = {'n': n, 'rps': rps, 'errors': errors, 'cpu_us': used * 1e6 / n if n else 0.0}
            rate = args.rate or max(100, int(rows['mesh']['rps'] / 2))
            for name, addr in (('direct', f'{server}:8080'), ('mesh', f'{VIP}:80')):
                rows[name]['lat'] = latprobe(topo, args, addr, rate, os.path.join(args.out, f'latprobe-{name}.txt'))
            with urllib.request.urlopen(f'http://{admin}/metrics', timeout=5) as r, \
                    open(os.path.join(args.out, 'metrics.txt'), 'wb') as f:
                f.write(r.read())
        finally:
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
                    try:
                        p.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        p.kill()
                        p.wait()
            log.close()
    d, m = rows['direct'], rows['mesh']
    print(f'wrk -t1 -c{args.conns} -d{args.duration} from the client\'s namespace; bench-backend body '
          f'{args.size} bytes; torii one worker on CPU {args.proxy_cpu}, client and backend on CPU {args.client_cpu}.')
    print()
    print('| path | req/s | × direct | torii CPU µs/request | wrk errors |')
    print('|---|---:|---:|---:|---|')
    print(f"| direct (Pod address) | {d['rps']:.0f} | 1.00 | – | {d['errors'] or 'none'} |")
    print(f"| mesh (Service address, through torii) | {m['rps']:.0f} | {m['rps'] / d['rps']:.2f} | "
          f"{m['cpu_us']:.1f} | {m['errors'] or 'none'} |")
    print()
    print(f'Open-loop latency, bench-latprobe at {rate} requests a second over {args.lat_conns} connections '
          f'({args.lat_duration} s, the first not counted), µs:')
    print()
    print('| path | answered req/s | p50 | p99 | p99.9 | max | errors |')
    print('|---|---:|---:|---:|---:|---:|---:|')
    for name, row in (('direct', d), ('mesh', m)):
        lat = row['lat']
        print(f"| {name} | {lat.get('answered_rate', 0):.0f} | {lat.get('p50_us', 0):.0f} | {lat.get('p99_us', 0):.0f} | "
              f"{lat.get('p999_us', 0):.0f} | {lat.get('max_us', 0):.0f} | {lat.get('errors', 0):.0f} |")
    added = {k: m['lat'].get(k, 0) - d['lat'].get(k, 0) for k in ('p50_us', 'p99_us', 'p999_us')}
    print(f"| added by the hop | | {added['p50_us']:.0f} | {added['p99_us']:.0f} | {added['p999_us']:.0f} | | |")
    return 0


if __name__ == '__main__':
    sys.exit(main())
