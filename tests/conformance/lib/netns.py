"""Network namespaces for the mesh on one machine: a node and one namespace per Pod.

The mesh cases (FORMAT.md sections 6 and 7) send each request from inside a client workload to a
Service address, and the mesh must see that source. Here every Pod gets a network namespace of its
own with one interface, `eth0`, whose other end is on a bridge in the run's *node* namespace. The
node forwards between Pods and has an unreachable default route, and nothing links it to the host's
namespace: a packet for any address outside the Pods' range fails at once and never leaves the
run's namespaces. The host's own namespace, its links, routes and rules are never touched.

Names carry a per-run prefix, `toriim<PID>-`. At start, namespaces of a run whose process is gone
(killed before it could clean up) are removed (`sweep`); `close` removes the run's own.

Needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and iproute2; `available()` says whether this machine
allows it, and why not.
"""
import os
import re
import subprocess

PREFIX = 'toriim'
NAME = re.compile(r'^' + PREFIX + r'(\d+)-')
POD_CIDR = '10.244.0.0/16'
NODE_IP = '10.244.0.1'


# Scripts for a Pod's namespace (python3 -c SCRIPT ...), for tests of the topology and of what
# uses it. PEER_SERVER PORT: prints "ready", then answers each connection to 0.0.0.0:PORT with
# "peer <its address>" (20 s without one ends it). CONNECT HOST PORT: connects within 2 s and
# prints what came back, or "error <errno name>".
PEER_SERVER = r'''
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(4)
print("ready", flush=True)
s.settimeout(20)
while True:
    c, peer = s.accept()
    c.sendall(("peer " + peer[0] + "\n").encode())
    c.close()
'''
CONNECT = r'''
import errno, socket, sys
c = socket.socket()
c.settimeout(2)
try:
    c.connect((sys.argv[1], int(sys.argv[2])))
    print(c.recv(100).decode().strip())
except OSError as e:
    print("error", errno.errorcode.get(e.errno, e.errno) if e.errno else type(e).__name__)
'''


def _ip(*args, check=True):
    return subprocess.run(['ip', *args], capture_output=True, text=True, timeout=10, check=check)


def netns_list():
    """Names of the network namespaces `ip netns` knows (in /run/netns)."""
    out = _ip('netns', 'list', check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep():
    """Removes the namespaces of runs whose process has exited; returns their names."""
    gone = []
    for name in netns_list():
        m = NAME.match(name)
        if m and not _alive(int(m.group(1))):
            _ip('netns', 'del', name, check=False)
            gone.append(name)
    return gone


def available():
    """None when network namespaces can be made here, else why not."""
    if os.geteuid() != 0:
        return 'network namespaces need root'
    probe = f'{PREFIX}{os.getpid()}-probe'
    try:
        r = _ip('netns', 'add', probe, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f'ip netns: {e}'
    if r.returncode != 0:
        return f'ip netns add: {r.stderr.strip()}'
    _ip('netns', 'del', probe, check=False)
    return None


def pod_ip(index):
    """The address of the index-th Pod (0-based): 10.244.0.2 upward, 250 to a /24."""
    return f'10.244.{index // 250}.{index % 250 + 2}'


class Topology:
    """The node namespace and the Pods' namespaces of one run. Use as a context manager, or call
    close()."""

    def __init__(self):
        sweep()
        self.prefix = f'{PREFIX}{os.getpid()}-'
        self.node = self.prefix + 'node'
        self.pods = {}  # pod key -> (netns name, ip)
        self._made = []
        try:
            self._add_netns(self.node)
            _ip('-n', self.node, 'link', 'add', 'br0', 'type', 'bridge')
            _ip('-n', self.node, 'addr', 'add', NODE_IP + '/16', 'dev', 'br0')
            _ip('-n', self.node, 'link', 'set', 'br0', 'up')
            _ip('-n', self.node, 'route', 'add', 'unreachable', 'default')
            self.node_exec(['sysctl', '-qw', 'net.ipv4.ip_forward=1'])
        except BaseException:
            self.close()
            raise

    def _add_netns(self, name):
        _ip('netns', 'add', name)
        self._made.append(name)
        _ip('-n', name, 'link', 'set', 'lo', 'up')

    def add_pod(self, key, ip=None):
        """A namespace for Pod key (e.g. "ns/name"), its eth0 on the node's bridge at ip (default:
        the next of the Pod range), a default route through the node. Returns its IP."""
        index = len(self.pods)
        ns = f'{self.prefix}p{index}'
        ip = ip or pod_ip(index)
        self._add_netns(ns)
        peer = f'v{index}'
        _ip('link', 'add', 'name', peer, 'netns', self.node, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns)
        _ip('-n', self.node, 'link', 'set', peer, 'master', 'br0')
        _ip('-n', self.node, 'link', 'set', peer, 'up')
        _ip('-n', ns, 'addr', 'add', ip + '/16', 'dev', 'eth0')
        _ip('-n', ns, 'link', 'set', 'eth0', 'up')
        # connect() routes before any nat hook sees the packet: without a route, ENETUNREACH.
        _ip('-n', ns, 'route', 'add', 'default', 'via', NODE_IP)
        self.pods[key] = (ns, ip)
        return ip

    def name_own(self, suffix):
        """A name of the run under /run/netns for the namespace this process runs in (`ip netns
        attach`: a mount naming it; nothing in the namespace changes), removed with the run's
        namespaces (deleting the name leaves the namespace). Returns the name."""
        name = self.prefix + suffix
        _ip('netns', 'attach', name, str(os.getpid()))
        self._made.append(name)
        return name

    def netns(self, key):
        return self.pods[key][0]

    def ip(self, key):
        return self.pods[key][1]

    def argv(self, key, argv):
        """argv run inside Pod key's namespace."""
        return ['ip', 'netns', 'exec', self.netns(key), *argv]

    def node_exec(self, argv):
        return subprocess.run(['ip', 'netns', 'exec', self.node, *argv], capture_output=True, text=True,
                              timeout=10, check=True)

    def close(self):
        """Removes every namespace of the run (their veths and the bridge go with them)."""
        for name in reversed(self._made):
            _ip('netns', 'del', name, check=False)
        self._made = []
        self.pods = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
