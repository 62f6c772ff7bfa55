"""The mesh's namespaces on one machine (lib/netns.py): Pods reach each other through the node and
see each other's addresses, nothing reaches past the node, the host's namespace is left as it was,
and namespaces of a run that died are swept. Skipped, with the reason, where namespaces cannot be
made (not root); CI runs as root.

    python3 -m unittest tests/conformance/test_netns.py
"""
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lib import netns  # noqa: E402

WHY_NOT = netns.available()

def host_state():
    """The host namespace's links and routes, as `ip` prints them."""
    return (subprocess.run(['ip', '-o', 'link'], capture_output=True, text=True, check=True).stdout,
            subprocess.run(['ip', 'route', 'show', 'table', 'all'], capture_output=True, text=True, check=True).stdout)


@unittest.skipIf(WHY_NOT, WHY_NOT or '')
class TopologyTest(unittest.TestCase):
    def test_pods_reach_each_other_and_nothing_else(self):
        before = host_state()
        with netns.Topology() as t:
            a = t.add_pod('mesh/client')
            b = t.add_pod('mesh/server')
            self.assertEqual((a, b), ('10.244.0.2', '10.244.0.3'))
            self.assertIn(t.netns('mesh/client'), netns.netns_list())
            server = subprocess.Popen(t.argv('mesh/server', [sys.executable, '-c', netns.PEER_SERVER, '8080']),
                                      stdout=subprocess.PIPE, text=True)
            try:
                self.assertEqual(server.stdout.readline().strip(), 'ready')
                out = subprocess.run(t.argv('mesh/client', [sys.executable, '-c', netns.CONNECT, b, '8080']),
                                     capture_output=True, text=True, timeout=10).stdout.strip()
                self.assertEqual(out, f'peer {a}')  # the server saw the client's own address
            finally:
                if server.poll() is None:
                    server.kill()
                    server.wait()
                server.stdout.close()
            # The host's loopback is not the Pod's: nothing listens on the Pod's 127.0.0.1.
            out = subprocess.run(t.argv('mesh/client', [sys.executable, '-c', netns.CONNECT, '127.0.0.1', '22']),
                                 capture_output=True, text=True, timeout=10).stdout.strip()
            self.assertEqual(out, 'error ECONNREFUSED')
            # An address past the node (TEST-NET-1): refused by the node's unreachable route at
            # once, not sent anywhere.
            start = time.monotonic()
            out = subprocess.run(t.argv('mesh/client', [sys.executable, '-c', netns.CONNECT, '192.0.2.1', '80']),
                                 capture_output=True, text=True, timeout=10).stdout.strip()
            self.assertIn(out, ('error EHOSTUNREACH', 'error ENETUNREACH'))
            self.assertLess(time.monotonic() - start, 1.0)
            names = [t.node, t.netns('mesh/client'), t.netns('mesh/server')]
        left = set(names) & set(netns.netns_list())
        self.assertEqual(left, set())
        self.assertEqual(host_state(), before)

    def test_sweep_removes_only_dead_runs(self):
        # A run that died: its process exited without closing its namespaces.
        p = subprocess.Popen(['true'])
        p.wait()
        dead = f'{netns.PREFIX}{p.pid}-node'
        mine = f'{netns.PREFIX}{os.getpid()}-other'
        subprocess.run(['ip', 'netns', 'add', dead], check=True)
        subprocess.run(['ip', 'netns', 'add', mine], check=True)
        try:
            gone = netns.sweep()
            self.assertIn(dead, gone)
            self.assertNotIn(mine, gone)  # this process is alive: its namespaces stay
            self.assertNotIn(dead, netns.netns_list())
            self.assertIn(mine, netns.netns_list())
        finally:
            for n in (dead, mine):
                subprocess.run(['ip', 'netns', 'del', n], capture_output=True)


if __name__ == '__main__':
    unittest.main()
