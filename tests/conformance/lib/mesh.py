"""The `mesh` and `meshWeights` steps' requests and checks (FORMAT.md section 6).

A mesh request leaves the client workload's own network namespace (lib/netns.py): the runner runs
`torii-echo client` there, as upstream runs Istio's echo client in the client Pod, aimed at the
address the step names (a Service's cluster address, or a Pod's IP) with --connect-to, so no
resolver is asked. The client prints Istio's lines, parsed here into one Reply per request.
"""
import dataclasses
import re
import subprocess

from .status import Outcome

LINE = re.compile(r'^\[(\d+)( body)?\] ([A-Za-z]+)=(.*)$')
ERROR = re.compile(r'^\[(\d+) error\] (.*)$')


@dataclasses.dataclass
class Reply:
    status: int = 0                 # 200 for a successful gRPC call, 0 when no answer came
    headers: list = dataclasses.field(default_factory=list)          # response headers: (name, value)
    request_headers: list = dataclasses.field(default_factory=list)  # what the server received
    hostname: str = ''              # the server's pod name
    error: str = ''


def _name_value(text):
    """"Name:value" (a pseudo-header keeps its leading colon: ":authority:echo")."""
    lead = ':' if text.startswith(':') else ''
    name, _, value = text[len(lead):].partition(':')
    return lead + name, value


def parse(out):
    """Replies by request index from the client's standard output."""
    replies = {}
    for line in out.splitlines():
        m = ERROR.match(line)
        if m:
            replies.setdefault(int(m.group(1)), Reply()).error = m.group(2)
            continue
        m = LINE.match(line)
        if not m:
            continue
        r = replies.setdefault(int(m.group(1)), Reply())
        body, key, value = bool(m.group(2)), m.group(3), m.group(4)
        if not body and key == 'StatusCode':
            r.status = int(value) if value.isdigit() else 0
        elif not body and key == 'ResponseHeader':
            r.headers.append(_name_value(value))
        elif body and key == 'RequestHeader':
            r.request_headers.append(_name_value(value))
        elif body and key == 'Hostname':
            r.hostname = value
    return [replies[i] for i in sorted(replies)]


def url_of(request, to_pod_addr=None):
    """The URL the client is given: <protocol>://<host><path>; with `to.pod` the host is the
    Pod's address and port (section 6). `:80` is dropped for http."""
    protocol = request.get('protocol', 'http')
    if to_pod_addr:
        host = to_pod_addr
    else:
        host = request.get('host', 'echo')
        if protocol == 'http' and host.endswith(':80'):
            host = host[:-3]
    return f'{protocol}://{host}{request.get("path", "") if protocol == "http" else ""}'


def client_argv(echo, request, url, connect_to, count=1, timeout_s=5):
    """torii-echo client's command line for a step's request."""
    argv = [echo, 'client', url, '--connect-to', connect_to, '--timeout', str(timeout_s)]
    if request.get('protocol', 'http') == 'http' and request.get('method'):
        argv += ['--method', request['method']]
    for name, value in (request.get('headers') or {}).items():
        argv += ['-H', f'{name}: {value}']
    if count > 1:
        argv += ['--count', str(count)]
    return argv


def send(netns_argv, argv, timeout_s=60):
    """Runs the client inside a namespace (netns_argv(argv) gives the command) and parses it."""
    p = subprocess.run(netns_argv(argv), capture_output=True, text=True, timeout=timeout_s)
    return parse(p.stdout), p.stderr


def _header(pairs, name):
    vals = [v for n, v in pairs if n.lower() == name.lower()]
    return ','.join(vals) if vals else None


def _headers_differ(what, pairs, want):
    """How pairs differ from want's `headers` (exact values) and `absentHeaders`, or None."""
    for name, value in (want.get('headers') or {}).items():
        got = _header(pairs, name)
        if got != value:
            return f'{what} header {name}: {got!r}, want {value!r}'
    for name in want.get('absentHeaders') or []:
        if _header(pairs, name) is not None:
            return f'{what} header {name} present'
    return None


def check(step, reply):
    """Whether one reply passes a `mesh` step (section 6): status code (0 expected reads as 200),
    the headers the server received and did not, the response's headers, the backend."""
    if reply.error and not reply.status:
        return Outcome(False, f'no answer: {reply.error}')
    want_codes = [200 if c == 0 else c for c in (step.get('response') or {}).get('statusCodes', [200])]
    if reply.status not in want_codes:
        return Outcome(False, f'status {reply.status}, want one of {want_codes}')
    why = (_headers_differ('request', reply.request_headers, step.get('expectedRequest') or {}) or
           _headers_differ('response', reply.headers, step.get('response') or {}))
    if why:
        return Outcome(False, why)
    backend = step.get('backend')
    if backend and not reply.hostname.startswith(backend):
        return Outcome(False, f'served by {reply.hostname!r}, want {backend}...')
    return Outcome(True)
