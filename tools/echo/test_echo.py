#!/usr/bin/env python3
"""Tests for torii-echo, the echo backend (tools/echo).

Standard library only, plus the openssl CLI (throwaway certificates) and curl (h2c, h2 and gRPC
over HTTP/2). Every server listens on 127.0.0.1 on free ports, every wait is bounded, and every
process started is stopped (SIGTERM, which must exit 0) or killed.

    python3 tools/echo/test_echo.py [--binary build/tools/echo/torii-echo] [unittest args]
"""
import base64
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
BINARY = os.environ.get("TORII_ECHO") or os.path.join(HERE, "..", "..", "build", "tools", "echo", "torii-echo")
TMP = None  # certificates and logs, made in setUpModule
SERVICE = "gateway_api_conformance.echo_basic.grpcecho.GrpcEcho"
TIMEOUT = 5


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def make_certs(d):
    """A CA, a server certificate it signs (two DNS names) and a client certificate, plus a
    self-signed client certificate the CA does not know."""
    def p(name):
        return os.path.join(d, name)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
            "-keyout", p("ca.key"), "-out", p("ca.crt"),
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=keyCertSign,digitalSignature")
    for name, ext in (("server", "subjectAltName=DNS:echo.example.com,DNS:abc.example.com\nextendedKeyUsage=serverAuth"),
                      ("client", "extendedKeyUsage=clientAuth")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + name,
                "-keyout", p(name + ".key"), "-out", p(name + ".csr"))
        with open(p(name + ".ext"), "w") as f:
            f.write(ext + "\n")
        openssl("x509", "-req", "-in", p(name + ".csr"), "-CA", p("ca.crt"), "-CAkey", p("ca.key"),
                "-CAcreateserial", "-days", "2", "-extfile", p(name + ".ext"), "-out", p(name + ".crt"))
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=stranger",
            "-keyout", p("stranger.key"), "-out", p("stranger.crt"))


def setUpModule():
    global TMP
    if not os.access(BINARY, os.X_OK):
        raise unittest.SkipTest("torii-echo not built at " + BINARY)
    TMP = tempfile.mkdtemp(prefix="torii-echo-test-")
    make_certs(TMP)


def tearDownModule():
    if TMP:
        shutil.rmtree(TMP, ignore_errors=True)


def cert(name):
    return os.path.join(TMP, name)


class Echo:
    """One torii-echo process; stdout goes to a file so log lines can be read at any time."""

    def __init__(self, env, ports, udp=False, args=(), host="127.0.0.1"):
        self.log_path = os.path.join(TMP, "echo-%d.log" % random.randrange(1 << 30))
        full = {"PATH": os.environ.get("PATH", ""), "BIND_ADDRESS": host}
        full.update(env)
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([BINARY, *args], env=full, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + TIMEOUT
        for port in ports:  # ready once every TCP port accepts
            while not udp:
                if self.proc.poll() is not None:
                    raise RuntimeError("torii-echo exited: " + self.output())
                try:
                    socket.create_connection((host, port), timeout=1).close()
                    break
                except OSError:
                    if time.time() > deadline:
                        self.kill()
                        raise RuntimeError("torii-echo did not listen on %d" % port)
                    time.sleep(0.02)
        if udp:
            while "listening" not in self.output():
                if time.time() > deadline or self.proc.poll() is not None:
                    self.kill()
                    raise RuntimeError("torii-echo UDP did not start: " + self.output())
                time.sleep(0.02)

    def output(self):
        with open(self.log_path) as f:
            return f.read()

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """SIGTERM; returns the exit code (killed after a bound). A sanitizer report in the
        output (an ASan build under test) is an error whatever the code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()
        out = self.output()
        if "Sanitizer" in out or "runtime error:" in out:
            raise AssertionError("sanitizer report:\n" + out[-4000:])
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(TIMEOUT)


# ---------- raw HTTP/1.1 ----------

def connect(port, timeout=TIMEOUT):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.settimeout(timeout)
    return s


class Reader:
    """Reads HTTP/1.1 responses off a socket (Content-Length framed, as torii-echo sends)."""

    def __init__(self, sock):
        self.s = sock
        self.buf = b""

    def _fill(self):
        data = self.s.recv(65536)
        if not data:
            raise EOFError("connection closed")
        self.buf += data

    def response(self, head_request=False):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            headers.setdefault(k.lower(), []).append(v.strip())
        n = 0 if head_request else int(headers.get("content-length", ["0"])[0])
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, headers, body

    def closed(self):
        """True once the peer closed (EOF or reset) within the timeout."""
        try:
            while True:
                self._fill()
        except (EOFError, ConnectionResetError):
            return True
        except socket.timeout:
            return False


def request(port, path="/", method="GET", headers=None, body=b"", host="echo.test"):
    hs = {"Host": host}
    hs.update(headers or {})
    if body and "Content-Length" not in hs and "Transfer-Encoding" not in hs:
        hs["Content-Length"] = str(len(body))
    raw = "%s %s HTTP/1.1\r\n" % (method, path) + "".join("%s: %s\r\n" % kv for kv in hs.items()) + "\r\n"
    return raw.encode() + body


def http(port, path="/", **kw):
    with connect(port) as s:
        s.sendall(request(port, path, **kw))
        st, hd, body = Reader(s).response(kw.get("method") == "HEAD")
        return st, hd, body, s.getsockname()


def curl(*args):
    r = subprocess.run(["curl", "-sS", "--max-time", str(TIMEOUT), *args], capture_output=True, timeout=TIMEOUT + 5)
    return r.returncode, r.stdout, r.stderr


# ---------- WebSocket client frames ----------

def ws_frame(opcode, payload, fin=True, mask=True):
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        hdr = struct.pack("!BB", first, (0x80 if mask else 0) | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", first, (0x80 if mask else 0) | 126, n)
    else:
        hdr = struct.pack("!BBQ", first, (0x80 if mask else 0) | 127, n)
    if not mask:
        return hdr + payload
    key = os.urandom(4)
    return hdr + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def ws_read(reader):
    def need(n):
        while len(reader.buf) < n:
            reader._fill()
    need(2)
    b0, b1 = reader.buf[0], reader.buf[1]
    n, off = b1 & 0x7F, 2
    if n == 126:
        need(4)
        n, off = struct.unpack("!H", reader.buf[2:4])[0], 4
    elif n == 127:
        need(10)
        n, off = struct.unpack("!Q", reader.buf[2:10])[0], 10
    assert not b1 & 0x80, "server frames must not be masked"
    need(off + n)
    payload = reader.buf[off:off + n]
    reader.buf = reader.buf[off + n:]
    return b0 & 0x80, b0 & 0x0F, payload


# ---------- protobuf, by hand ----------

def pb_fields(data):
    """[(field, value)] of a message; length-delimited values as bytes, varints as ints."""
    out, i = [], 0

    def varint():
        nonlocal i
        v = shift = 0
        while True:
            b = data[i]
            i += 1
            v |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return v
    while i < len(data):
        tag = varint()
        if tag & 7 == 2:
            n = varint()
            out.append((tag >> 3, data[i:i + n]))
            i += n
        elif tag & 7 == 0:
            out.append((tag >> 3, varint()))
        else:
            raise ValueError("unexpected wire type %d" % (tag & 7))
    return out


def decode_echo_response(body):
    """EchoResponse framed as one gRPC message -> dict of the assertions."""
    assert body[0] == 0, "compressed flag"
    n = struct.unpack("!I", body[1:5])[0]
    assert len(body) == 5 + n, "one message, exactly"
    resp = dict(pb_fields(body[5:]))
    a = {"headers": []}
    for f, v in pb_fields(resp[1]):
        if f == 1:
            a["fully_qualified_method"] = v.decode()
        elif f == 2:
            h = dict(pb_fields(v))
            a["headers"].append((h.get(1, b"").decode(), h.get(2, b"").decode()))
        elif f == 3:
            a["authority"] = v.decode()
        elif f == 4:
            names = {1: "namespace", 2: "ingress", 3: "service_name", 4: "pod"}
            a["context"] = {names[k]: x.decode() for k, x in pb_fields(v)}
    return a


# =====================================================================================

class EchoServerCase(unittest.TestCase):
    """A class of tests against one torii-echo (cls.echo, made by setUpClass), which must
    outlive each test."""

    @classmethod
    def tearDownClass(cls):
        cls.echo.stop()

    def tearDown(self):
        self.assertTrue(self.echo.alive(), "torii-echo died:\n" + self.echo.output()[-2000:])


class HTTPEcho(EchoServerCase):
    @classmethod
    def setUpClass(cls):
        cls.http, cls.h2c, cls.https = free_port(), free_port(), free_port()
        cls.echo = Echo({"HTTP_PORT": str(cls.http), "H2C_PORT": str(cls.h2c), "HTTPS_PORT": str(cls.https),
                         "POD_NAME": "infra-backend-v1-7d9f-x2x4", "NAMESPACE": "gateway-conformance-infra",
                         "SERVICE_NAME": "infra-backend-v1", "INGRESS_NAME": "ing",
                         "TLS_SERVER_CERT": cert("server.crt"), "TLS_SERVER_PRIVKEY": cert("server.key"),
                         "TLS_CLIENT_CACERTS": cert("ca.crt")},
                        [cls.http, cls.h2c, cls.https])

    def test_echo_json(self):
        st, hd, body, local = http(self.http, "/some/path?b=2&a=1", host="foo.example.com:8080",
                                   headers={"x-custom-header": "one", "X-Custom-Header": "two",
                                            "X-Echo-Set-Header": ""})
        self.assertEqual(st, 200)
        self.assertEqual(hd["content-type"], ["application/json"])
        self.assertEqual(hd["x-content-type-options"], ["nosniff"])
        j = json.loads(body)
        self.assertEqual(list(j), ["path", "host", "method", "proto", "headers", "httpPort",
                                   "namespace", "ingress", "service", "pod"])
        self.assertEqual(j["path"], "/some/path?b=2&a=1")
        self.assertEqual(j["host"], "foo.example.com:8080")
        self.assertEqual(j["method"], "GET")
        self.assertEqual(j["proto"], "HTTP/1.1")
        self.assertEqual(j["headers"], {"X-Custom-Header": ["one", "two"], "X-Echo-Set-Header": [""]})
        self.assertEqual(j["httpPort"], str(self.http))
        self.assertEqual((j["namespace"], j["ingress"], j["service"], j["pod"]),
                         ("gateway-conformance-infra", "ing", "infra-backend-v1", "infra-backend-v1-7d9f-x2x4"))
        self.assertNotIn("tls", j)
        # Go's MarshalIndent layout, one space per level
        self.assertTrue(body.startswith(b'{\n "path": "/some/path?b=2\\u0026a=1",\n "host"'), body[:60])

    def test_methods_and_head(self):
        st, _, body, _ = http(self.http, "/x", method="DELETE")
        self.assertEqual(json.loads(body)["method"], "DELETE")
        st, hd, body, _ = http(self.http, "/x", method="HEAD")
        self.assertEqual(st, 200)
        self.assertGreater(int(hd["content-length"][0]), 0)
        self.assertEqual(body, b"")

    def test_log_line(self):
        _, _, _, local = http(self.http, "/logged/path?k=v")
        want = "Echoing back request made to /logged/path?k=v to client (127.0.0.1:%d)" % local[1]
        deadline = time.time() + TIMEOUT
        while want not in self.echo.output() and time.time() < deadline:
            time.sleep(0.02)
        self.assertIn(want + "\n", self.echo.output())

    def test_set_response_headers(self):
        st, hd, _, _ = http(self.http, "/", headers={"X-Echo-Set-Header": "X-Foo:bar, X-Foo:baz,x-lower: v1 ,Empty:"})
        self.assertEqual(st, 200)
        self.assertEqual(hd["x-foo"], ["bar,baz"])
        self.assertEqual(hd["x-lower"], ["v1"])
        self.assertEqual(hd["empty"], [""])
        # the echo's own headers win over requested ones
        _, hd, _, _ = http(self.http, "/", headers={"X-Echo-Set-Header": "Content-Type:text/plain"})
        self.assertEqual(hd["content-type"], ["application/json"])

    def test_delay_does_not_block(self):
        slow = {}

        def slow_request():
            t = time.time()
            slow["status"] = http(self.http, "/slow?delay=700ms")[0]
            slow["took"] = time.time() - t
        th = threading.Thread(target=slow_request)
        th.start()
        time.sleep(0.1)
        t = time.time()
        st, _, _, _ = http(self.http, "/fast")
        fast = time.time() - t
        th.join(TIMEOUT)
        self.assertEqual(st, 200)
        self.assertLess(fast, 0.4)
        self.assertEqual(slow["status"], 200)
        self.assertGreaterEqual(slow["took"], 0.65)

    def test_delay_forms(self):
        t = time.time()
        st, _, body, _ = http(self.http, "/form", method="POST", body=b"delay=300ms&x=1",
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(st, 200)
        self.assertGreaterEqual(time.time() - t, 0.28)
        t = time.time()
        st, _, _, _ = http(self.http, "/q?delay=0.3s")
        self.assertGreaterEqual(time.time() - t, 0.28)
        st, hd, body, _ = http(self.http, "/q?delay=soon")
        self.assertEqual(st, 500)
        self.assertEqual(json.loads(body), {"message": 'time: invalid duration "soon"'})

    def test_keepalive_and_pipelining(self):
        with connect(self.http) as s:
            # three requests in one write, the first delayed: answers must keep their order
            s.sendall(request(0, "/one?delay=200ms") + request(0, "/two") +
                      request(0, "/three", method="POST", body=b"hello"))
            r = Reader(s)
            paths = [json.loads(r.response()[2])["path"] for _ in range(3)]
            self.assertEqual(paths, ["/one?delay=200ms", "/two", "/three"])
            s.sendall(request(0, "/four", headers={"Connection": "close"}))
            st, hd, body = r.response()
            self.assertEqual(hd["connection"], ["close"])
            self.assertTrue(r.closed())

    def test_backpressure(self):
        # ~10 MB of answers to a client that reads nothing until it has sent every request
        n = 25000
        with connect(self.http, timeout=20) as s:
            done = []

            def send():
                s.sendall(request(0, "/bp") * n)
                done.append(True)
            th = threading.Thread(target=send)
            th.start()
            time.sleep(0.5)
            r = Reader(s)
            for i in range(n):
                self.assertEqual(r.response()[0], 200)
            th.join(TIMEOUT)
            self.assertEqual(done, [True])

    def test_bodies(self):
        with connect(self.http) as s:
            r = Reader(s)
            s.sendall(request(0, "/chunked", method="POST", headers={"Transfer-Encoding": "chunked"},
                              body=b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer-X: 1\r\n\r\n"))
            st, _, body = r.response()
            j = json.loads(body)
            self.assertEqual(st, 200)
            self.assertNotIn("Transfer-Encoding", j["headers"])  # as Go's Request.Header
            s.sendall(request(0, "/cl", method="PUT", body=b"x" * 100000))
            st, _, body = r.response()
            self.assertEqual(json.loads(body)["headers"]["Content-Length"], ["100000"])
            s.sendall(request(0, "/expect", method="POST", body=b"abc", headers={"Expect": "100-continue"}))
            st, _, _ = r.response()
            self.assertEqual(st, 100)
            self.assertEqual(r.response()[0], 200)

    def test_bad_requests(self):
        cases = [
            (b"garbage\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host
            (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n", 400),
            (b"GET / HTTP/2.5\r\nHost: a\r\n\r\n", 505),
            (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
            (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"a" * (3 << 19) + b"\r\n\r\n", 431),
        ]
        for raw, want in cases:
            with self.subTest(raw=raw[:40]), connect(self.http) as s:
                try:
                    s.sendall(raw)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the 431 may come back before the whole head is sent
                r = Reader(s)
                st, hd, body = r.response()
                self.assertEqual(st, want)
                self.assertTrue(r.closed())

    def test_garbage_never_crashes(self):
        rnd = random.Random(7)
        seeds = [b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
                 b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"]
        for i in range(150):
            data = bytearray(rnd.choice(seeds) + os.urandom(rnd.randrange(0, 300)))
            for _ in range(rnd.randrange(0, 8)):
                if data:
                    data[rnd.randrange(len(data))] = rnd.randrange(256)
            port = rnd.choice([self.http, self.h2c, self.https])
            try:
                with connect(port, timeout=0.3) as s:
                    s.sendall(bytes(data))
                    try:
                        s.recv(65536)
                    except (socket.timeout, ConnectionResetError):
                        pass
            except OSError:
                pass
        self.assertTrue(self.echo.alive())
        self.assertEqual(http(self.http, "/still-here")[0], 200)

    def test_routes(self):
        self.assertEqual(http(self.http, "/health")[:3:2], (200, b"OK"))
        self.assertEqual(http(self.http, "//health")[:3:2], (200, b"OK"))  # "//" -> "/" for dispatch
        self.assertEqual(http(self.http, "/status/418")[0], 418)
        self.assertEqual(http(self.http, "/status/abc")[0], 400)
        st, hd, _, _ = http(self.http, "/a/../b?q=1")
        self.assertEqual((st, hd["location"]), (301, ["/b?q=1"]))
        st, _, body, _ = http(self.http, "//double//slash")
        self.assertEqual((st, json.loads(body)["path"]), (200, "//double//slash"))

    def test_retry_with_code(self):
        base = "/retry/x?responseCode=503&succeedAfter=2&uuid=u-%d" % random.randrange(1 << 30)
        got = [http(self.http, base)[0:3:2] for _ in range(3)]
        self.assertEqual(got[:2], [(503, b""), (503, b"")])
        self.assertEqual(got[2][0], 200)
        self.assertEqual(json.loads(got[2][1])["path"], base)
        self.assertEqual(http(self.http, "/retry/x?succeedAfter=1")[0], 400)
        self.assertEqual(http(self.http, "/retry/x?uuid=1")[0], 400)

    def test_retry_with_reset(self):
        base = "/retry/y?succeedAfter=2&uuid=r-%d" % random.randrange(1 << 30)
        for _ in range(2):
            with self.assertRaises((ConnectionResetError, EOFError)):
                http(self.http, base)
        self.assertEqual(http(self.http, base)[0], 200)

    def test_websocket(self):
        key = base64.b64encode(os.urandom(16)).decode()
        with connect(self.http) as s:
            s.sendall(request(0, "/ws", headers={"Upgrade": "websocket", "Connection": "Upgrade",
                                                 "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13",
                                                 "Origin": "http://test"}))
            r = Reader(s)
            st, hd, _ = r.response(head_request=True)
            self.assertEqual(st, 101)
            want = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
            self.assertEqual(hd["sec-websocket-accept"], [want.decode()])
            s.sendall(ws_frame(1, b"Websocket Support!"))
            self.assertEqual(ws_read(r), (0x80, 1, b"Websocket Support!"))
            s.sendall(ws_frame(2, bytes(range(1, 8))))
            self.assertEqual(ws_read(r), (0x80, 2, bytes(range(1, 8))))
            big = os.urandom(70000)
            s.sendall(ws_frame(2, big))
            self.assertEqual(ws_read(r)[2], big)
            s.sendall(ws_frame(9, b"ping!"))
            self.assertEqual(ws_read(r), (0x80, 0xA, b"ping!"))
            s.sendall(ws_frame(8, struct.pack("!H", 1000)))
            self.assertEqual(ws_read(r), (0x80, 8, struct.pack("!H", 1000)))
            self.assertTrue(r.closed())
        with connect(self.http) as s:  # an unmasked client frame is a protocol error
            s.sendall(request(0, "/ws", headers={"Upgrade": "websocket", "Connection": "Upgrade",
                                                 "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13"}))
            r = Reader(s)
            r.response(head_request=True)
            s.sendall(ws_frame(1, b"x", mask=False))
            self.assertEqual(ws_read(r), (0x80, 8, struct.pack("!H", 1002)))
        self.assertEqual(http(self.http, "/ws")[0], 400)  # not an upgrade
        self.assertIn("established websocket connection", self.echo.output())

    def test_h2c_prior_knowledge(self):
        rc, out, err = curl("--http2-prior-knowledge", "-H", "X-Test: 1", "http://127.0.0.1:%d/h2c/path?x=y" % self.h2c)
        self.assertEqual(rc, 0, err)
        j = json.loads(out)
        self.assertEqual((j["proto"], j["path"], j["host"]), ("HTTP/2.0", "/h2c/path?x=y", "127.0.0.1:%d" % self.h2c))
        self.assertEqual(j["headers"]["X-Test"], ["1"])

    def test_h2c_head_and_form_delay(self):
        rc, out, err = curl("--http2-prior-knowledge", "-I", "http://127.0.0.1:%d/head" % self.h2c)
        self.assertEqual(rc, 0, err)
        self.assertIn(b"content-length:", out.lower())
        t = time.time()
        rc, out, err = curl("--http2-prior-knowledge", "-d", "delay=300ms", "http://127.0.0.1:%d/form" % self.h2c)
        self.assertEqual(rc, 0, err)
        self.assertGreaterEqual(time.time() - t, 0.28)
        self.assertEqual(json.loads(out)["method"], "POST")
        rc, out, err = curl("--http2-prior-knowledge", "-H", "X-Echo-Set-Header: X-H2:yes",
                            "-D", "-", "-o", "/dev/null", "http://127.0.0.1:%d/set" % self.h2c)
        self.assertIn(b"x-h2: yes", out)

    def test_h2c_upgrade(self):
        rc, out, err = curl("--http2", "http://127.0.0.1:%d/upgraded" % self.h2c)
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["proto"], "HTTP/2.0")

    def test_h2c_port_wants_h2c(self):
        st, _, body, _ = http(self.h2c, "/plain")
        self.assertEqual((st, body), (400, b"Expected h2c request"))

    def tls_client(self, client_cert=None, alpn=("http/1.1",), sni="echo.example.com"):
        ctx = ssl.create_default_context(cafile=cert("ca.crt"))
        ctx.set_alpn_protocols(list(alpn))
        if client_cert:
            ctx.load_cert_chain(cert(client_cert + ".crt"), cert(client_cert + ".key"))
        raw = connect(self.https)
        return ctx.wrap_socket(raw, server_hostname=sni)

    def test_https(self):
        with self.tls_client() as s:
            s.sendall(request(0, "/secure"))
            j = json.loads(Reader(s).response()[2])
        tls = j["tls"]
        self.assertEqual(list(tls), ["version", "serverName", "negotiatedProtocol", "cipherSuite"])
        self.assertEqual(tls["serverName"], "echo.example.com")
        self.assertEqual(tls["negotiatedProtocol"], "http/1.1")
        self.assertIn(tls["version"], ("TLSv1.3", "TLSv1.2"))
        self.assertTrue(tls["cipherSuite"].startswith("TLS_"), tls["cipherSuite"])

    def test_https_client_certificate(self):
        with self.tls_client("client", sni="abc.example.com") as s:
            s.sendall(request(0, "/mtls"))
            j = json.loads(Reader(s).response()[2])
        with open(cert("client.crt")) as f:
            pem = f.read()
        self.assertEqual(j["tls"]["serverName"], "abc.example.com")
        # leaf first; OpenSSL clients also send the CA they built the chain with
        self.assertEqual(j["tls"]["peerCertificates"][0], pem)
        # a certificate the CA did not sign is refused during the handshake
        with self.assertRaises((ssl.SSLError, ConnectionResetError, EOFError, BrokenPipeError)):
            with self.tls_client("stranger") as s:
                s.sendall(request(0, "/mtls"))
                Reader(s).response()

    def test_https_h2(self):
        rc, out, err = curl("--http2", "--cacert", cert("ca.crt"),
                            "--resolve", "echo.example.com:%d:127.0.0.1" % self.https,
                            "https://echo.example.com:%d/over-h2" % self.https)
        self.assertEqual(rc, 0, err)
        j = json.loads(out)
        self.assertEqual((j["proto"], j["tls"]["negotiatedProtocol"]), ("HTTP/2.0", "h2"))


class HTTPEchoInlinePEM(unittest.TestCase):
    """PEM text in the variables instead of paths; no client CA; POD_NAME falls back to the host name."""

    def test_inline_pem_and_hostname(self):
        http_port, h2c, https = free_port(), free_port(), free_port()
        with open(cert("server.crt")) as f, open(cert("server.key")) as g:
            crt, key = f.read(), g.read()
        echo = Echo({"HTTP_PORT": str(http_port), "H2C_PORT": str(h2c), "HTTPS_PORT": str(https),
                     "TLS_SERVER_CERT": crt, "TLS_SERVER_PRIVKEY": key}, [http_port, h2c, https])
        try:
            ctx = ssl.create_default_context(cafile=cert("ca.crt"))
            with ctx.wrap_socket(connect(https), server_hostname="echo.example.com") as s:
                s.sendall(request(0, "/inline"))
                j = json.loads(Reader(s).response()[2])
            self.assertNotIn("peerCertificates", j["tls"])
            self.assertEqual(j["pod"], socket.gethostname())
        finally:
            self.assertEqual(echo.stop(), 0)


class GRPCEcho(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.port = free_port()
        cls.echo = Echo({"GRPC_ECHO_SERVER": "1", "HTTP_PORT": str(cls.port), "POD_NAME": "grpc-infra-backend-v1-a-b",
                         "NAMESPACE": "gateway-conformance-infra", "SERVICE_NAME": "grpc-svc"}, [cls.port])
        cls.req = os.path.join(TMP, "grpc-req.bin")
        with open(cls.req, "wb") as f:
            f.write(b"\x00\x00\x00\x00\x00")  # one empty EchoRequest

    @classmethod
    def tearDownClass(cls):
        cls.echo.stop()

    def call(self, method, *extra, service=SERVICE):
        hdr = os.path.join(TMP, "grpc-hdr.txt")
        rc, out, err = curl("--http2-prior-knowledge", "-X", "POST", "-H", "content-type: application/grpc",
                            "-H", "te: trailers", *extra, "--data-binary", "@" + self.req, "-D", hdr,
                            "http://127.0.0.1:%d/%s/%s" % (self.port, service, method))
        self.assertEqual(rc, 0, err)
        with open(hdr) as f:
            fields = {}
            for line in f.read().splitlines()[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    fields[k.strip().lower()] = v.strip()
        return fields, out

    def test_echo(self):
        for method in ("Echo", "EchoTwo"):
            fields, body = self.call(method, "-H", "x-custom: v1", "-H", "grpc-timeout: 5S")
            self.assertEqual(fields["content-type"], "application/grpc")
            self.assertEqual(fields["grpc-status"], "0")
            a = decode_echo_response(body)
            self.assertEqual(a["fully_qualified_method"], "/%s/%s" % (SERVICE, method))
            self.assertEqual(a["authority"], "127.0.0.1:%d" % self.port)
            self.assertIn((":authority", "127.0.0.1:%d" % self.port), a["headers"])
            self.assertIn(("x-custom", "v1"), a["headers"])
            self.assertIn(("content-type", "application/grpc"), a["headers"])
            names = [k for k, _ in a["headers"]]
            self.assertNotIn("te", names)
            self.assertNotIn("grpc-timeout", names)
            self.assertNotIn(":path", names)
            self.assertEqual(a["context"], {"namespace": "gateway-conformance-infra", "service_name": "grpc-svc",
                                            "pod": "grpc-infra-backend-v1-a-b"})

    def test_unimplemented(self):
        for method, service in (("EchoThree", SERVICE), ("Nope", SERVICE), ("Echo", "other.Service")):
            fields, body = self.call(method, service=service)
            self.assertEqual(fields["grpc-status"], "12", (method, service))
            self.assertEqual(body, b"")
        self.assertEqual(self.call("EchoThree")[0]["grpc-message"], "method EchoThree not implemented")

    def test_garbage_frames(self):
        rnd = random.Random(11)
        preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
        settings = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
        for _ in range(100):
            data = preface + settings + bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 200)))
            try:
                with connect(self.port, timeout=0.3) as s:
                    s.sendall(data)
                    try:
                        s.recv(65536)
                    except (socket.timeout, ConnectionResetError):
                        pass
            except OSError:
                pass
        self.assertTrue(self.echo.alive())
        self.assertEqual(self.call("Echo")[0]["grpc-status"], "0")

    def test_authority_override(self):
        fields, body = self.call("Echo", "-H", "Host: grpc.example.com")
        self.assertEqual(decode_echo_response(body)["authority"], "grpc.example.com")


# =====================================================================================
# Istio's echo (echo-advanced) and its client: `torii-echo --port ... --grpc ... --tcp ...` and
# `torii-echo client URL ...`.

def fields(body):
    """key=value lines -> [(key, value)] in order."""
    text = body.decode() if isinstance(body, bytes) else body
    return [tuple(line.split("=", 1)) for line in text.splitlines() if line]


def run_client(*args, timeout=TIMEOUT + 5):
    """(exit status, stdout, stderr) of `torii-echo client ...`."""
    p = subprocess.run([BINARY, "client", *args], capture_output=True, timeout=timeout)
    err = p.stderr.decode()
    if "Sanitizer" in err or "runtime error:" in err:
        raise AssertionError("sanitizer report:\n" + err[-4000:])
    return p.returncode, p.stdout.decode(), err


def client_blocks(out):
    """Client stdout -> {request index: {"fields": [(k, v)], "body": [line], "error": [text]}}."""
    blocks = {}
    for line in out.splitlines():
        if not line:
            continue
        tag, rest = line.split("] ", 1)
        idx, _, kind = tag[1:].partition(" ")
        b = blocks.setdefault(int(idx), {"fields": [], "body": [], "error": []})
        if kind == "body":
            b["body"].append(rest)
        elif kind == "error":
            b["error"].append(rest)
        else:
            b["fields"].append(tuple(rest.split("=", 1)))
    return blocks


def remotes(log, marker):
    """The client addresses of the server's request log lines that contain marker."""
    return [line.split(" from ")[1].split(" on port")[0] for line in log.splitlines()
            if marker in line and " from " in line]


class IstioEcho(EchoServerCase):
    """The flags of the mesh conformance manifests, on free ports."""

    @classmethod
    def setUpClass(cls):
        cls.http, cls.https, cls.grpc, cls.tcp = free_port(), free_port(), free_port(), free_port()
        args = ["--tcp=%d" % cls.tcp, "--port=%d" % cls.http, "--grpc=%d" % cls.grpc,
                "--port=%d" % cls.https, "--tls=%d" % cls.https,
                "--crt=" + cert("server.crt"), "--key=" + cert("server.key")]
        cls.echo = Echo({"POD_NAME": "echo-v1-5d8f-abcde", "NAMESPACE": "gateway-conformance-mesh"},
                        [cls.http, cls.https, cls.grpc, cls.tcp], args=args)

    def test_http_fields(self):
        st, hd, body, local = http(self.http, "/some/path?b=2&a=1", host="echo.example.com:8080",
                                   headers={"x-custom": "one", "X-Custom": "two", "accept": "*/*"})
        self.assertEqual(st, 200)
        self.assertEqual(hd["content-type"], ["application/text"])
        f = fields(body)
        # Istio 1.21 http.go addResponsePayload: this order, Cluster/IstioVersion/Alpn left out
        # when empty, Go's r.Header sorted (Host is not in it)
        self.assertEqual(f, [("ServiceVersion", ""), ("ServicePort", str(self.http)),
                             ("Host", "echo.example.com:8080"), ("URL", "/some/path?b=2&a=1"),
                             ("Namespace", "gateway-conformance-mesh"), ("Method", "GET"),
                             ("Proto", "HTTP/1.1"), ("IP", "127.0.0.1"),
                             ("RequestHeader", "Accept:*/*"), ("RequestHeader", "X-Custom:one"),
                             ("RequestHeader", "X-Custom:two"), ("Hostname", "echo-v1-5d8f-abcde")])
        want = "HTTP/1.1 GET /some/path?b=2&a=1 from 127.0.0.1:%d on port %d" % (local[1], self.http)
        deadline = time.time() + TIMEOUT
        while want not in self.echo.output() and time.time() < deadline:
            time.sleep(0.02)
        self.assertIn(want, self.echo.output())

    def test_keepalive(self):
        with connect(self.http) as s:
            r = Reader(s)
            s.sendall(request(0, "/a") + request(0, "/b"))  # pipelined
            urls = [dict(fields(r.response()[2]))["URL"] for _ in range(2)]
            self.assertEqual(urls, ["/a", "/b"])
            s.sendall(request(0, "/c", method="POST", body=b"x=1"))
            st, hd, body = r.response()
            self.assertEqual((st, dict(fields(body))["Method"]), (200, "POST"))
            self.assertNotIn("connection", hd)

    def test_h2c_and_upgrade(self):
        for flag in ("--http2-prior-knowledge", "--http2"):
            rc, out, err = curl(flag, "http://127.0.0.1:%d/h2?x=y" % self.http)
            self.assertEqual(rc, 0, err)
            f = dict(fields(out))
            self.assertEqual((f["Proto"], f["URL"], f["Host"]), ("HTTP/2.0", "/h2?x=y", "127.0.0.1:%d" % self.http))

    def test_tls_port(self):
        ctx = ssl.create_default_context(cafile=cert("ca.crt"))
        ctx.set_alpn_protocols(["http/1.1"])
        with ctx.wrap_socket(connect(self.https), server_hostname="echo.example.com") as s:
            s.sendall(request(0, "/secure"))
            st, _, body = Reader(s).response()
        f = dict(fields(body))
        self.assertEqual((st, f["ServicePort"], f["Alpn"], f["Proto"]), (200, str(self.https), "http/1.1", "HTTP/1.1"))
        rc, out, err = curl("--http2", "--cacert", cert("ca.crt"),
                            "--resolve", "echo.example.com:%d:127.0.0.1" % self.https,
                            "https://echo.example.com:%d/over-h2" % self.https)
        self.assertEqual(rc, 0, err)
        f = dict(fields(out))
        self.assertEqual((f["Proto"], f["Alpn"]), ("HTTP/2.0", "h2"))

    def test_codes_headers_delay(self):
        st, hd, body, _ = http(self.http, "/x?codes=503")
        self.assertEqual(st, 503)
        self.assertEqual(dict(fields(body))["URL"], "/x?codes=503")
        seen = {http(self.http, "/x?codes=500:1,201:1")[0] for _ in range(40)}
        self.assertEqual(seen, {500, 201})
        st, _, body, _ = http(self.http, "/x?codes=abc")
        self.assertEqual(st, 200)
        self.assertTrue(body.startswith(b'codes error: strconv.Atoi: parsing "abc": invalid syntax\n'), body)
        st, hd, _, _ = http(self.http, "/x?headers=X-Set:yes,x-lower:v")
        self.assertEqual((hd["x-set"], hd["x-lower"]), (["yes"], ["v"]))
        # Go froze the header map before Istio set Content-Type: the body was sniffed instead
        self.assertEqual(hd["content-type"], ["text/plain; charset=utf-8"])
        t = time.time()
        self.assertEqual(http(self.http, "/x?delay=300ms")[0], 200)
        self.assertGreaterEqual(time.time() - t, 0.28)

    def test_grpc_via_client(self):
        before = len(self.echo.output())
        rc, out, err = run_client("grpc://127.0.0.1:%d" % self.grpc, "-H", "X-Foo: bar", "--count", "3")
        self.assertEqual(rc, 0, out + err)
        blocks = client_blocks(out)
        self.assertEqual(sorted(blocks), [0, 1, 2])
        for i, b in blocks.items():
            self.assertEqual(b["fields"][2], ("StatusCode", "200"))
            body = [tuple(line.split("=", 1)) for line in b["body"]]
            self.assertEqual(body[:2], [("Host", "127.0.0.1:%d" % self.grpc),
                                        ("RequestHeader", ":authority:127.0.0.1:%d" % self.grpc)])
            self.assertIn(("RequestHeader", "x-foo:bar"), body)
            self.assertIn(("RequestHeader", "x-request-id:%d" % i), body)
            names = [v.split(":")[0] for k, v in body if k == "RequestHeader"]
            self.assertNotIn("te", names)
            self.assertNotIn("grpc-timeout", names)
            # grpc.go Echo: the fields after the metadata
            self.assertEqual(body[-8:], [("StatusCode", "200"), ("ServiceVersion", ""),
                                         ("ServicePort", str(self.grpc)), ("Namespace", "gateway-conformance-mesh"),
                                         ("IP", "127.0.0.1"), ("Proto", "GRPC"), ("Echo", "HelloWorld"),
                                         ("Hostname", "echo-v1-5d8f-abcde")])
        self.assertIn("3/3 requests answered over 1 connection\n", err)
        calls = remotes(self.echo.output()[before:], "GRPC request /proto.EchoTestService/Echo")
        self.assertEqual((len(calls), len(set(calls))), (3, 1))  # three calls on one connection

    def test_grpc_unimplemented(self):
        req = os.path.join(TMP, "istio-grpc-req.bin")
        with open(req, "wb") as f:
            f.write(b"\x00\x00\x00\x00\x00")
        for path, code in (("proto.EchoTestService/ForwardEcho", "12"), ("proto.EchoTestService/Nope", "12"),
                           ("other.Service/Echo", "12"), ("grpc.health.v1.Health/Check", "0")):
            hdr = os.path.join(TMP, "istio-grpc-hdr.txt")
            rc, out, err = curl("--http2-prior-knowledge", "-X", "POST", "-H", "content-type: application/grpc",
                                "-H", "te: trailers", "--data-binary", "@" + req, "-D", hdr,
                                "http://127.0.0.1:%d/%s" % (self.grpc, path))
            self.assertEqual(rc, 0, err)
            with open(hdr) as f:
                self.assertIn("grpc-status: %s" % code, f.read(), path)
        rc, out, err = run_client("grpc://127.0.0.1:%d" % self.http)  # an HTTP port answers no gRPC
        self.assertEqual(rc, 1)
        self.assertIn("[0 error] rpc error: code = ", out)

    def test_tcp(self):
        with connect(self.tcp) as s:
            f = s.makefile("rwb")
            f.write(b"hello\n")
            f.flush()
            lines = [f.readline() for _ in range(8)]
            self.assertEqual(lines[-1], b"hello\n")
            self.assertEqual(fields(b"".join(lines[:-1])),
                             [("StatusCode", "200"), ("Namespace", "gateway-conformance-mesh"),
                              ("ServiceVersion", ""), ("ServicePort", str(self.tcp)), ("IP", "127.0.0.1"),
                              ("Proto", "TCP"), ("Hostname", "echo-v1-5d8f-abcde")])
            f.write(b"more bytes")
            f.flush()
            self.assertEqual(f.read(10), b"more bytes")
            s.shutdown(socket.SHUT_WR)
            self.assertEqual(f.read(), b"")  # the echo closes after the client's FIN
            f.close()

    def test_client_http_count_one_connection(self):
        rc, out, err = run_client("http://127.0.0.1:%d/count?n=1" % self.http, "--count", "3",
                                  "--method", "PUT", "-H", "X-Test: a:b")
        self.assertEqual(rc, 0, out + err)
        blocks = client_blocks(out)
        self.assertEqual(sorted(blocks), [0, 1, 2])
        for i, b in blocks.items():
            f = b["fields"]
            self.assertEqual([k for k, _ in f[:5]], ["Url", "Header", "Latency", "ActiveRequests", "StatusCode"])
            self.assertEqual((f[0][1], f[1][1], f[4][1]), ("http://127.0.0.1:%d/count?n=1" % self.http, "X-Test:a:b", "200"))
            self.assertIn(("ResponseHeader", "Content-Type:application/text"), f)
            body = dict(line.split("=", 1) for line in b["body"])
            self.assertEqual((body["Method"], body["URL"], body["Host"]), ("PUT", "/count?n=1", "127.0.0.1:%d" % self.http))
        self.assertIn("[0] Url=", out.split("\n\n")[0])  # one block per request, as Println leaves them
        self.assertEqual(out.count("\n\n"), 3)
        self.assertIn("3/3 requests answered over 1 connection\n", err)
        # server side: the three requests came from one client port
        seen = remotes(self.echo.output(), "HTTP/1.1 PUT /count?n=1")
        self.assertEqual(len(seen), 3)
        self.assertEqual(len(set(seen)), 1)

    def test_client_host_override_and_connect_to(self):
        rc, out, _ = run_client("http://127.0.0.1:%d/h" % self.http, "-H", "Host: foo.example.com")
        self.assertEqual(rc, 0)
        body = client_blocks(out)[0]["body"]
        self.assertIn("Host=foo.example.com", body)
        self.assertNotIn("RequestHeader=Host:foo.example.com", body)
        self.assertNotIn("Header=Host", out)
        # a name in the URL is never resolved: --connect-to gives the address; ":80" is dropped
        rc, out, _ = run_client("http://echo.mesh.invalid:80/n", "--connect-to", "127.0.0.1:%d" % self.http)
        self.assertEqual(rc, 0)
        self.assertIn("Host=echo.mesh.invalid", client_blocks(out)[0]["body"])
        rc, out, _ = run_client("http://echo.mesh.invalid:8080/n", "--connect-to", "127.0.0.1:%d" % self.http)
        self.assertIn("Host=echo.mesh.invalid:8080", client_blocks(out)[0]["body"])
        rc, out, err = run_client("http://echo.mesh.invalid/n")
        self.assertEqual(rc, 2)
        self.assertIn("not a numeric address", err)

    def test_client_grpc_authority(self):
        rc, out, _ = run_client("grpc://echo.mesh.invalid:7070", "--connect-to", "127.0.0.1:%d" % self.grpc,
                                "-H", "Host: grpc.example.com", "--msg", "ping")
        self.assertEqual(rc, 0, out)
        body = client_blocks(out)[0]["body"]
        self.assertEqual(body[0], "Host=grpc.example.com")
        self.assertIn("Echo=ping", body)


class IstioClient(unittest.TestCase):
    """The client against small Python servers that misbehave on purpose."""

    def serve(self, handler, count=1):
        """A one-thread TCP server on 127.0.0.1 calling handler(conn) for each of up to count
        connections; returns (port, list of raw requests seen, thread)."""
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(8)
        ls.settimeout(TIMEOUT)
        seen = []

        def run():
            with ls:
                for _ in range(count):
                    try:
                        c, _ = ls.accept()
                    except OSError:
                        return
                    with c:
                        c.settimeout(TIMEOUT)
                        handler(c, seen)
        th = threading.Thread(target=run, daemon=True)
        th.start()
        return ls.getsockname()[1], seen, th

    @staticmethod
    def read_request(c):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = c.recv(4096)
            if not chunk:
                return None
            data += chunk
        return data

    def test_redirect_not_followed(self):
        def handler(c, seen):
            while True:
                req = self.read_request(c)
                if req is None:
                    return
                seen.append(req)
                c.sendall(b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 9\r\n\r\nredirect\n")
        port, seen, th = self.serve(handler)
        rc, out, err = run_client("http://127.0.0.1:%d/from" % port)
        self.assertEqual(rc, 0, err)
        f = client_blocks(out)[0]["fields"]
        self.assertIn(("StatusCode", "302"), f)
        self.assertIn(("ResponseHeader", "Location:/elsewhere"), f)
        self.assertEqual(client_blocks(out)[0]["body"], ["redirect"])
        th.join(TIMEOUT)
        self.assertEqual(len(seen), 1)
        self.assertTrue(seen[0].startswith(b"GET /from HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % port), seen[0])

    def test_server_closes_kept_alive_connection(self):
        # Every answer says nothing about closing, then the server closes: the client must
        # notice on the next request, send it again on a new connection, and lose nothing.
        def handler(c, seen):
            req = self.read_request(c)
            if req is None:
                return
            seen.append(req)
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nHostname=py\n")
        port, seen, th = self.serve(handler, count=3)
        rc, out, err = run_client("http://127.0.0.1:%d/again" % port, "--count", "3")
        self.assertEqual(rc, 0, out + err)
        self.assertEqual([dict(b["fields"])["StatusCode"] for b in client_blocks(out).values()], ["200"] * 3)
        th.join(TIMEOUT)
        self.assertEqual(len(seen), 3)  # each request reached the server once
        self.assertIn("nothing lost", err)
        self.assertIn("3/3 requests answered over 3 connections", err)

    def test_chunked_and_close_delimited(self):
        def handler(c, seen):
            seen.append(self.read_request(c))
            if len(seen) == 1:
                c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                          b"6\r\nline1\n\r\n6\r\nline2\n\r\n0\r\n\r\n")
                seen.append(self.read_request(c))
            c.sendall(b"HTTP/1.0 201 Created\r\n\r\nuntil\nclose\n")
        port, seen, th = self.serve(handler, count=1)
        rc, out, err = run_client("http://127.0.0.1:%d/c" % port, "--count", "2")
        self.assertEqual(rc, 0, out + err)
        blocks = client_blocks(out)
        self.assertEqual(blocks[0]["body"], ["line1", "line2"])
        self.assertNotIn(("ResponseHeader", "Transfer-Encoding:chunked"), blocks[0]["fields"])
        self.assertEqual((dict(blocks[1]["fields"])["StatusCode"], blocks[1]["body"]), ("201", ["until", "close"]))

    def test_failures(self):
        rc, out, err = run_client("http://127.0.0.1:%d/" % free_port(), "--count", "2")
        self.assertEqual(rc, 1)
        blocks = client_blocks(out)
        for i in (0, 1):
            self.assertTrue(blocks[i]["error"][0].startswith('Get "http://127.0.0.1:'), blocks[i])
            self.assertIn("connection refused", blocks[i]["error"][0])
        self.assertIn("0/2 requests answered", err)

        def silent(c, seen):
            seen.append(self.read_request(c))
            time.sleep(1.5)
        port, _, th = self.serve(silent)
        t = time.time()
        rc, out, err = run_client("http://127.0.0.1:%d/slow" % port, "--timeout", "300ms")
        self.assertEqual(rc, 1)
        self.assertLess(time.time() - t, 1.4)
        self.assertIn("[0 error] Get ", out)
        self.assertIn("deadline exceeded", out)
        rc, out, err = run_client("grpc://127.0.0.1:%d" % free_port())
        self.assertEqual(rc, 1)
        self.assertIn("[0 error] rpc error: code = Unavailable", out)
        th.join(TIMEOUT)
        for bad in (["ftp://127.0.0.1/"], ["http://127.0.0.1/", "-H", "no colon"], ["http://127.0.0.1/", "--count", "0"],
                    ["http://127.0.0.1/", "--connect-to", "localhost:80"]):
            self.assertEqual(run_client(*bad)[0], 2, bad)


class IstioEchoIPv6(unittest.TestCase):
    def test_ipv6_loopback(self):
        try:
            socket.socket(socket.AF_INET6).bind(("::1", 0))
        except OSError:
            self.skipTest("no IPv6 loopback")
        port, grpc, tcp, tls = free_port(), free_port(), free_port(), free_port()
        echo = Echo({"POD_NAME": "echo-v6"}, [port, grpc, tcp], host="::1",
                    args=["--port", "%d,%d" % (port, tls), "--tls", str(tls), "--grpc", str(grpc),
                          "--tcp", str(tcp), "--version", "v2"])
        try:
            # a TLS port without --crt/--key is left out, the rest serves
            self.assertIn("Skipping TLS port %d: no --crt/--key" % tls, echo.output())
            rc, out, err = run_client("http://[::1]:%d/six" % port)
            self.assertEqual(rc, 0, out + err)
            body = dict(line.split("=", 1) for line in client_blocks(out)[0]["body"])
            self.assertEqual((body["IP"], body["Host"], body["ServiceVersion"]), ("::1", "[::1]:%d" % port, "v2"))
            rc, out, err = run_client("grpc://ipv6.invalid:%d" % grpc, "--connect-to", "[::1]:%d" % grpc)
            self.assertEqual(rc, 0, out + err)
            self.assertIn("IP=::1", client_blocks(out)[0]["body"])
        finally:
            self.assertEqual(echo.stop(), 0)


class IstioEchoDefaults(unittest.TestCase):
    """No port flags: 8080, 7070 and 9090, as the consumer manifests run it. Those ports may be
    taken on the host, so this runs in a network namespace of its own, when one can be made."""

    SCRIPT = r"""
import os, socket, subprocess, sys, time
binary, mode = sys.argv[1], sys.argv[2]
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
env = {"PATH": os.environ.get("PATH", ""), "POD_NAME": "consumer-echo"}
args = [binary]
if mode == "env":
    env["ISTIO_ECHO"] = "1"
else:
    args.append("--istio")
p = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
try:
    for port in (8080, 7070, 9090):
        for _ in range(250):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.02)
    for url in ("http://127.0.0.1:8080/d", "grpc://127.0.0.1:7070"):
        r = subprocess.run([binary, "client", url], capture_output=True, timeout=10)
        sys.stdout.write(r.stdout.decode() + "rc=%d\n" % r.returncode)
    with socket.create_connection(("127.0.0.1", 9090), timeout=5) as s:
        s.sendall(b"x")
        s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    sys.stdout.write(data.decode() + "\n")
finally:
    p.terminate()
    out = p.communicate(timeout=10)[0].decode()
    sys.stdout.write(out + "exit=%d\n" % p.returncode)
"""

    def test_defaults_in_own_netns(self):
        if not shutil.which("unshare") or not shutil.which("ip") or \
                subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode != 0:
            self.skipTest("no unprivileged network namespaces")
        for mode in ("flag", "env"):
            p = subprocess.run(["unshare", "-rn", sys.executable, "-c", self.SCRIPT, BINARY, mode],
                               capture_output=True, timeout=60)
            out = p.stdout.decode()
            self.assertEqual(p.returncode, 0, out + p.stderr.decode())
            self.assertEqual(out.count("rc=0\n"), 2, out)
            self.assertIn("[0 body] ServicePort=8080", out)
            self.assertIn("[0 body] ServicePort=7070", out)
            self.assertIn("ServicePort=9090\nIP=127.0.0.1\nProto=TCP\nHostname=consumer-echo\nx", out)
            self.assertNotIn("port 8443", out)  # TLS only with a certificate
            self.assertIn("exit=0", out)
            self.assertNotIn("Sanitizer", out)


class TCPEcho(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tcp, cls.tls = free_port(), free_port()
        cls.echo = Echo({"TCP_ECHO_SERVER": "1", "TCP_PORT": str(cls.tcp), "TLS_PORT": str(cls.tls),
                         "POD_NAME": "tcp-backend-v1-5f-abc", "NAMESPACE": "gateway-conformance-infra",
                         "SERVICE_NAME": "tcp-backend-v1",
                         "TLS_SERVER_CERT": cert("server.crt"), "TLS_SERVER_PRIV_KEY": cert("server.key")},
                        [cls.tcp, cls.tls])

    @classmethod
    def tearDownClass(cls):
        cls.echo.stop()

    def exchange(self, s):
        f = s.makefile("rwb")
        self.assertEqual(f.readline(), b"Gateway API Test TCP Server\n")
        out = {}
        for cmd in (b"PING", b"IS_TLS", b"junk", b"TEST"):
            f.write(cmd + b"\r\n" if cmd == b"PING" else cmd + b"\n")
            f.flush()
            if cmd != b"junk":
                out[cmd] = f.readline()
        return out

    def test_plain(self):
        with connect(self.tcp) as s:
            out = self.exchange(s)
        self.assertEqual(out[b"PING"], b"PONG\n")
        self.assertEqual(out[b"IS_TLS"], b"false\n")
        j = json.loads(out[b"TEST"])
        self.assertEqual(j, {"namespace": "gateway-conformance-infra", "ingress": "", "service": "tcp-backend-v1",
                             "pod": "tcp-backend-v1-5f-abc", "tcpport": str(self.tcp), "tlsport": str(self.tls),
                             "isTLS": False})

    def test_tls(self):
        ctx = ssl.create_default_context(cafile=cert("ca.crt"))
        with ctx.wrap_socket(connect(self.tls), server_hostname="abc.example.com") as s:
            out = self.exchange(s)
        self.assertEqual(out[b"IS_TLS"], b"true\n")
        j = json.loads(out[b"TEST"])
        self.assertTrue(j["isTLS"])
        self.assertEqual(j["tls"]["serverName"], "abc.example.com")
        self.assertIn(j["tls"]["version"], ("TLS 1.3", "TLS 1.2"))
        self.assertTrue(j["tls"]["cipherSuite"].startswith("TLS_"))

    def test_tls_close_without_notify(self):
        ctx = ssl.create_default_context(cafile=cert("ca.crt"))
        s = ctx.wrap_socket(connect(self.tls), server_hostname="abc.example.com")
        f = s.makefile("rwb")
        self.assertEqual(f.readline(), b"Gateway API Test TCP Server\n")
        f.write(b"PING\n")
        f.flush()
        self.assertEqual(f.readline(), b"PONG\n")
        with socket.socket(fileno=os.dup(s.fileno())) as dup:
            dup.shutdown(socket.SHUT_WR)  # TCP FIN without close_notify
        self.assertEqual(f.read(), b"")  # the server closes too, without a fuss
        f.close()
        s.close()
        self.assertTrue(self.echo.alive())

    def test_last_line_without_newline(self):
        with connect(self.tcp) as s:
            s.sendall(b"PING")
            s.shutdown(socket.SHUT_WR)
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        self.assertEqual(data, b"Gateway API Test TCP Server\nPONG\n")


class UDPEcho(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.port = free_port(socket.SOCK_DGRAM)
        cls.echo = Echo({"UDP_ECHO_SERVER": "1", "UDP_PORT": str(cls.port), "POD_NAME": "udp-backend-1-a-b",
                         "NAMESPACE": "gateway-conformance-infra", "SERVICE_NAME": "udp-echo"}, [cls.port], udp=True)

    @classmethod
    def tearDownClass(cls):
        cls.echo.stop()

    def probe(self, payload):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2)
            s.connect(("127.0.0.1", self.port))  # replies must come from exactly this address
            s.send(payload)
            return s.recv(4096)

    def test_echo(self):
        j = json.loads(self.probe(b"hello <udp>"))
        self.assertEqual(j, {"request": "hello <udp>", "namespace": "gateway-conformance-infra", "ingress": "",
                             "service": "udp-echo", "pod": "udp-backend-1-a-b"})

    def test_long_datagram_cut_at_1024(self):
        j = json.loads(self.probe(b"a" * 1500))
        self.assertEqual(j["request"], "a" * 1024)


class DNS(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.port = free_port(socket.SOCK_DGRAM)
        cls.echo = Echo({"DNS_SERVER": "1", "DNS_PORT": str(cls.port)}, [cls.port], udp=True)

    @classmethod
    def tearDownClass(cls):
        cls.echo.stop()

    def test_whoami_reply(self):
        question = bytes.fromhex("03666f6f036261720363006f6d00".replace("63006f6d", "636f6d") + "00010001")
        query = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + question
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2)
            s.connect(("127.0.0.1", self.port))
            s.send(query)
            reply = s.recv(512)
            src_port = s.getsockname()[1]
        rid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", reply[:12])
        self.assertEqual((rid, qd, an, ns, ar), (0x1234, 1, 0, 0, 2))
        self.assertEqual(flags & 0x8000, 0x8000)  # QR
        self.assertEqual(flags & 0x0400, 0x0400)  # AA
        self.assertEqual(flags & 0x000F, 0)       # NOERROR
        self.assertEqual(reply[12:12 + len(question)], question)
        rest = reply[12 + len(question):]
        # A foo.bar.com. (pointer) 0 127.0.0.1
        self.assertEqual(rest[:2], b"\xc0\x0c")
        self.assertEqual(struct.unpack("!HHIH", rest[2:12]), (1, 1, 0, 4))
        self.assertEqual(socket.inet_ntoa(rest[12:16]), "127.0.0.1")
        srv = rest[16:]
        self.assertEqual(srv[:7], b"\x04_udp\xc0\x0c")
        self.assertEqual(struct.unpack("!HHIH", srv[7:17]), (33, 1, 0, 7))
        self.assertEqual(struct.unpack("!HHH", srv[17:23]), (0, 0, src_port))

    def test_garbage_is_ignored_or_formerr(self):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.5)
            s.connect(("127.0.0.1", self.port))
            s.send(b"\x00\x01")  # too short: dropped
            with self.assertRaises(socket.timeout):
                s.recv(512)
            s.send(struct.pack("!HHHHHH", 7, 0x0100, 1, 0, 0, 0) + b"\x40bad")
            self.assertEqual(struct.unpack("!HH", s.recv(512)[:4]), (7, 0x8501))  # FORMERR
        self.assertTrue(self.echo.alive())


class GRPCOverTLS(unittest.TestCase):
    def test_tls_assertions(self):
        plain, tls = free_port(), free_port()
        echo = Echo({"GRPC_ECHO_SERVER": "1", "HTTP_PORT": str(plain), "HTTPS_PORT": str(tls),
                     "TLS_SERVER_CERT": cert("server.crt"), "TLS_SERVER_PRIV_KEY": cert("server.key")}, [plain, tls])
        try:
            req = os.path.join(TMP, "grpc-tls-req.bin")
            with open(req, "wb") as f:
                f.write(b"\x00\x00\x00\x00\x00")
            rc, out, err = curl("--http2", "--cacert", cert("ca.crt"), "--resolve", "echo.example.com:%d:127.0.0.1" % tls,
                                "-X", "POST", "-H", "content-type: application/grpc", "-H", "te: trailers",
                                "--data-binary", "@" + req, "https://echo.example.com:%d/%s/Echo" % (tls, SERVICE))
            self.assertEqual(rc, 0, err)
            resp = dict(pb_fields(out[5:]))
            tls_a = dict((f, v) for f, v in pb_fields(resp[1]) if f == 5)[5]
            fields = dict(pb_fields(tls_a))
            self.assertIn(fields[1], (b"TLSv1.3", b"TLSv1.2"))
            self.assertEqual(fields[2], b"h2")
            self.assertEqual(fields[3], b"echo.example.com")
        finally:
            self.assertEqual(echo.stop(), 0)


class Lifecycle(unittest.TestCase):
    def test_sigterm_exits_zero(self):
        port, h2c = free_port(), free_port()
        echo = Echo({"HTTP_PORT": str(port), "H2C_PORT": str(h2c)}, [port, h2c])
        with connect(port) as idle:  # an open connection does not hold up shutdown
            self.assertEqual(echo.stop(), 0)

    def test_bad_certificate_fails_start(self):
        port, h2c, https = free_port(), free_port(), free_port()
        p = subprocess.run([BINARY], env={"HTTP_PORT": str(port), "H2C_PORT": str(h2c), "HTTPS_PORT": str(https),
                                          "TLS_SERVER_CERT": "/nonexistent", "TLS_SERVER_PRIVKEY": "/nonexistent"},
                           capture_output=True, timeout=TIMEOUT)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"certificate", p.stderr)


if __name__ == "__main__":
    if "--binary" in sys.argv:
        i = sys.argv.index("--binary")
        BINARY = sys.argv[i + 1]
        del sys.argv[i:i + 2]
    unittest.main(verbosity=2)
