#!/usr/bin/env python3
"""Hostile and odd HTTP clients for tests/cli_serve_security.sh (standard library only).

  clients.py slowloris PORT MAX_SEC      sends a request one byte per second; prints what came back
  clients.py idle PORT N PROBE_PATH      holds N idle connections, meanwhile GETs PROBE_PATH; prints
                                         the probe's status and time, and how many idle ones the server
                                         closed after its idle timeout
  clients.py raw PORT FILE               sends FILE's bytes as they are; prints the status line
"""
import socket
import sys
import time
import urllib.request


def status_of(data):
    line = data.split(b"\r\n", 1)[0].decode("latin-1", "replace")
    parts = line.split(" ")
    return parts[1] if len(parts) > 1 and line.startswith("HTTP/") else "none"


def slowloris(port, max_sec):
    req = b"GET /api/info HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow\r\nX-Padding: " + b"a" * 200 + b"\r\n\r\n"
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(1.0)
    t0 = time.time()
    got = b""
    sent = 0
    closed = False
    while time.time() - t0 < max_sec and sent < len(req):
        try:
            s.send(req[sent:sent + 1])
            sent += 1
        except OSError:
            closed = True
            break
        try:
            chunk = s.recv(4096)
            if not chunk:
                closed = True
                break
            got += chunk
        except socket.timeout:
            pass
        except OSError:
            closed = True
            break
    # whatever the server still has to say
    s.settimeout(2.0)
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                closed = True
                break
            got += chunk
    except OSError:
        pass
    print("status=%s closed=%d after=%.1f sent=%d" % (status_of(got), closed, time.time() - t0, sent))


def idle(port, n, probe):
    conns = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        conns.append(s)
    t0 = time.time()
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, probe), timeout=60) as r:
            status = r.status
            r.read()
    except urllib.error.HTTPError as e:
        status = e.code
    except Exception as e:  # noqa: BLE001
        status = "error:%s" % e
    dt = time.time() - t0
    # The server closes idle connections after its idle timeout: count those that read EOF.
    deadline = time.time() + 30
    closed = 0
    for s in conns:
        s.settimeout(max(0.1, deadline - time.time()))
        try:
            if s.recv(1) == b"":
                closed += 1
        except socket.timeout:
            pass
        except OSError:  # reset: closed as well
            closed += 1
    for s in conns:
        s.close()
    print("probe=%s probe_sec=%.2f idle=%d closed_by_server=%d" % (status, dt, n, closed))


def raw(port, path):
    data = open(path, "rb").read()
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    got = b""
    try:
        s.sendall(data)
    except OSError as e:  # e.g. reset by a server that closed with our bytes unread
        print("status=none (%s while sending)" % type(e).__name__)
        return
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
            if b"\r\n\r\n" in got:
                break
    except OSError:
        pass
    s.close()
    print("status=%s" % status_of(got))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "slowloris":
        slowloris(int(sys.argv[2]), float(sys.argv[3]))
    elif cmd == "idle":
        idle(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    elif cmd == "raw":
        raw(int(sys.argv[2]), sys.argv[3])
    else:
        sys.exit("unknown command " + cmd)
