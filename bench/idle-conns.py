#!/usr/bin/env python3
"""bench/idle-conns.py HOST PORT N: opens N keep-alive connections to HOST:PORT, makes one GET on
each (in waves, so that the proxy needs few upstream connections), reads each whole response,
and leaves them all open and idle. Prints "ready N SECONDS" once they are, then holds them until
SIGTERM or --hold seconds (default 120). Exits 1 if any connection or answer fails.

Used by bench/run.sh (section dataplane) to measure a proxy's memory per idle connection; raise
`ulimit -n` above N first.
"""
import argparse
import signal
import socket
import sys
import time


def read_response(s):
    """Reads one HTTP/1.1 response with a Content-Length body; returns the status code."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise OSError("connection closed before the response head")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
        elif name.strip().lower() == b"transfer-encoding":
            raise OSError("chunked response: not supported here")
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            raise OSError("connection closed in the response body")
        body += chunk
    return status


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("n", type=int)
    ap.add_argument("--wave", type=int, default=100, help="requests in flight at once")
    ap.add_argument("--hold", type=float, default=120.0)
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    req = ("GET / HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (a.host, a.port)).encode()
    socks = []
    t0 = time.monotonic()
    try:
        for i in range(0, a.n, a.wave):
            wave = []
            for _ in range(min(a.wave, a.n - i)):
                s = socket.create_connection((a.host, a.port), timeout=30)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                s.sendall(req)
                wave.append(s)
            for s in wave:
                status = read_response(s)
                if status != 200:
                    raise OSError("status %d" % status)
            socks.extend(wave)
    except OSError as e:
        print("idle-conns: after %d connections: %s" % (len(socks), e), file=sys.stderr)
        sys.exit(1)
    print("ready %d %.1fs" % (len(socks), time.monotonic() - t0), flush=True)
    # Hold them until SIGTERM or the time is up.
    deadline = time.monotonic() + a.hold
    while time.monotonic() < deadline:
        time.sleep(0.2)
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
