"""A DNS server of a test's own, on a random loopback UDP port (RFC 1035 4.1: one question,
answers by name pointer): A and AAAA from a table the test sets, with the TTL it sets, NXDOMAIN
for other names; it counts the questions it gets. Used by tests/externalname/run and
tests/kube/provider."""
import socket
import struct
import threading


def _free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeDNS:
    """Answers A and AAAA from self.records: name -> (ttl, [IPv4...], [IPv6...]); other names
    get NXDOMAIN. Counts the questions per (name, type)."""

    def __init__(self):
        self.port = _free_udp_port()
        self.records = {}
        self.counts = {}
        self.lock = threading.Lock()
        self.sock = None
        self.thread = None

    def start(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.settimeout(0.1)
        self.running = True
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def stop(self):
        """Closes the socket: queries then get ICMP port unreachable (c-ares: connection refused)."""
        self.running = False
        if self.thread:
            self.thread.join(timeout=2)
        if self.sock:
            self.sock.close()
        self.sock = self.thread = None

    def set(self, name, ttl, v4=(), v6=()):
        with self.lock:
            self.records[name.lower()] = (ttl, list(v4), list(v6))

    def unset(self, name):
        with self.lock:
            self.records.pop(name.lower(), None)

    def count(self, name, qtype="A"):
        with self.lock:
            return self.counts.get((name.lower(), qtype), 0)

    def serve(self):
        while self.running:
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                reply = self.answer(data)
            except (IndexError, struct.error, UnicodeDecodeError):
                continue
            if reply:
                self.sock.sendto(reply, peer)

    def answer(self, q):
        qid, flags, qd = struct.unpack(">HHH", q[:6])
        if qd != 1:
            return None
        labels, i = [], 12
        while q[i]:
            labels.append(q[i + 1:i + 1 + q[i]].decode())
            i += 1 + q[i]
        qtype, qclass = struct.unpack(">HH", q[i + 1:i + 5])
        question = q[12:i + 5]
        name = ".".join(labels).lower()
        tname = {1: "A", 28: "AAAA"}.get(qtype, str(qtype))
        with self.lock:
            self.counts[(name, tname)] = self.counts.get((name, tname), 0) + 1
            rec = self.records.get(name)
        answers = []
        rcode = 3  # NXDOMAIN
        if rec:
            rcode = 0
            ttl, v4, v6 = rec
            fam, addrs = (socket.AF_INET, v4) if qtype == 1 else (socket.AF_INET6, v6) if qtype == 28 else (0, [])
            for a in addrs:
                rdata = socket.inet_pton(fam, a)
                answers.append(struct.pack(">HHHIH", 0xC00C, qtype, 1, ttl, len(rdata)) + rdata)
        rflags = 0x8000 | (flags & 0x7900) | 0x0400 | 0x0080 | rcode  # QR, opcode+RD, AA, RA
        return struct.pack(">HHHHHH", qid, rflags, 1, len(answers), 0, 0) + question + b"".join(answers)
