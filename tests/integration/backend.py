"""A small HTTP/1.1 backend for the proxy tests that records what it
received: for every request the connection id, method, raw target, header
fields (in order, names as sent) and body.  Each connection is served on a
thread; keep-alive follows the request (HTTP/1.1 unless "Connection:
close").

What it answers depends on the path (after any prefix), so one backend
serves every test:

  /echo              200, the request body back (Content-Length)
  /big?n=N           N bytes of a known pattern (Content-Length)
  /chunked?n=N       N bytes in chunks of up to 1000 (chunked)
  /eof?n=N           N bytes, then close (no Content-Length; HTTP/1.0-style)
  /close             "closing" with Connection: close
  /reset?n=N         announces N bytes, sends N/10, closes the connection
  /slow?t=S          waits S seconds, then answers
  /status?code=C     status C, a short body (none for 204/304)
  /cookies           two Set-Cookie fields, a hop-by-hop Keep-Alive, and
                     a field named by Connection
  /redirect          302 to http://HOST:PORT/app/there (HOST:PORT = ours)
  /early             413 at once, without reading the body, then close
  /bad               a malformed status line
  /idle-close        answers keep-alive, then closes the idle connection
                     after 0.2 s (a stale pooled connection)
  /stream?n=N        N pattern bytes written 64 KiB at a time, as the
                     socket takes them (never built whole)
  /slowsink          reads a Content-Length body 64 KiB per 10 ms, then
                     answers with the count
  /continue          "100 Continue", then the final answer
  /hints             "103 Early Hints" with a Link, then the final answer
  /hugehead          a response head larger than any proxy takes
  anything else      200 "ok <method> <target>"
"""

import os
import socket
import threading
import time
from urllib.parse import parse_qs, urlsplit

from fields import Fields


def pattern(n):
    unit = bytes(range(256))
    return (unit * (n // 256 + 1))[:n]


class Request(Fields):
    def __init__(self, conn_id, method, target, version, headers, body):
        self.conn_id = conn_id
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.body = body
        self.trailers = []


class Backend:
    def __init__(self, unix_path=None, tls_ctx=None):
        if unix_path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(unix_path)
            self.port = None
        else:
            self.sock = socket.socket()
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind(("127.0.0.1", 0))
            self.port = self.sock.getsockname()[1]
        self.sock.listen(256)
        self.tls_ctx = tls_ctx     # an ssl.SSLContext: serve TLS
        self.resumed = []          # per TLS connection: session reused?
        self.requests = []
        self.connections = 0
        self.in_flight = 0         # "/hold" requests being answered now
        self.max_in_flight = 0
        self.lock = threading.Lock()
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def host(self):
        return "127.0.0.1:%d" % self.port

    def reset(self):
        with self.lock:
            self.requests = []
            self.connections = 0
            self.resumed = []
            self.in_flight = 0
            self.max_in_flight = 0

    def close(self):
        self.stopping = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                cid = self.connections
            threading.Thread(target=self._serve, args=(c, cid), daemon=True).start()

    # ---- reading ----

    @staticmethod
    def _read_until(c, buf, sep):
        while sep not in buf:
            d = c.recv(65536)
            if not d:
                return None, buf
            buf += d
        i = buf.index(sep) + len(sep)
        return buf[:i], buf[i:]

    def _read_body(self, c, buf, headers, trailers=None):
        te = [v for k, v in headers if k.lower() == "transfer-encoding"]
        cl = [v for k, v in headers if k.lower() == "content-length"]
        if te:
            body = b""
            while True:
                line, buf = self._read_until(c, buf, b"\r\n")
                size = int(line.split(b";")[0], 16)
                if size == 0:
                    while True:  # the trailer section, up to an empty line
                        line, buf = self._read_until(c, buf, b"\r\n")
                        if line is None:
                            raise ConnectionError("trailers cut short")
                        if line == b"\r\n":
                            return body, buf
                        if trailers is not None:
                            k, v = line.decode("latin-1").split(":", 1)
                            trailers.append((k, v.strip()))
                while len(buf) < size + 2:
                    d = c.recv(65536)
                    if not d:
                        raise ConnectionError("body cut short")
                    buf += d
                body += buf[:size]
                buf = buf[size + 2:]
        n = int(cl[0]) if cl else 0
        acc = bytearray(buf)  # bytes += would copy the whole body each time
        while len(acc) < n:
            d = c.recv(1 << 20)
            if not d:
                raise ConnectionError("body cut short")
            acc += d
        return bytes(acc[:n]), bytes(acc[n:])

    def _serve(self, c, cid):
        buf = b""
        try:
            if self.tls_ctx:
                c = self.tls_ctx.wrap_socket(c, server_side=True)
                with self.lock:
                    self.resumed.append(c.session_reused)
            while True:
                head, buf = self._read_until(c, buf, b"\r\n\r\n")
                if head is None:
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, version = lines[0].split(" ", 2)
                headers = []
                for line in lines[1:]:
                    if line:
                        k, v = line.split(":", 1)
                        headers.append((k, v.strip()))
                path = urlsplit(target).path
                if path.endswith("/early"):
                    req = Request(cid, method, target, version, headers, None)
                    with self.lock:
                        self.requests.append(req)
                    c.sendall(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 9\r\n"
                              b"Connection: close\r\n\r\ntoo large")
                    time.sleep(0.2)
                    return
                if path.endswith("/slowsink"):
                    n = int(dict((k.lower(), v) for k, v in headers)["content-length"])
                    got = len(buf)
                    while got < n:
                        d = c.recv(65536)
                        if not d:
                            return
                        got += len(d)
                        time.sleep(0.01)
                    req = Request(cid, method, target, version, headers, b"")
                    with self.lock:
                        self.requests.append(req)
                    self._send(c, 200, b"%d" % got)
                    buf = b""
                    continue
                trailers = []
                body, buf = self._read_body(c, buf, headers, trailers)
                req = Request(cid, method, target, version, headers, body)
                req.trailers = trailers
                with self.lock:
                    self.requests.append(req)
                keep = self._answer(c, req)
                conn = (req.header("connection") or "").lower()
                if not keep or "close" in conn:
                    return
        except (ConnectionError, OSError, ValueError):
            return  # ssl.SSLError is an OSError: a refused handshake
        finally:
            try:
                c.close()
            except OSError:
                pass

    # ---- answering ----

    def _send(self, c, status, body, headers=(), head_only=False, reason="OK"):
        h = "HTTP/1.1 %d %s\r\n" % (status, reason)
        for k, v in headers:
            h += "%s: %s\r\n" % (k, v)
        if not any(k.lower() in ("content-length", "transfer-encoding") for k, _ in headers):
            if status not in (204, 304):
                h += "Content-Length: %d\r\n" % len(body)
        c.sendall(h.encode("latin-1") + b"\r\n" + (b"" if head_only else body))

    def _answer(self, c, req):
        u = urlsplit(req.target)
        q = parse_qs(u.query)
        path = u.path
        head = req.method == "HEAD"
        n = int(q.get("n", ["0"])[0])
        if path.endswith("/echo"):
            self._send(c, 200, req.body, [("Content-Type", "application/octet-stream")], head)
        elif path.endswith("/stream"):
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % n)
            unit = pattern(65536)
            left = n
            while left > 0 and not head:
                k = min(left, 65536)
                c.sendall(unit[:k])
                left -= k
        elif path.endswith("/big"):
            self._send(c, 200, pattern(n), [("Content-Type", "application/octet-stream")], head)
        elif path.endswith("/chunked"):
            data = pattern(n)
            c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for i in range(0, len(data), 1000):
                part = data[i:i + 1000]
                c.sendall(b"%x\r\n" % len(part) + part + b"\r\n")
            c.sendall(b"0\r\nX-Trailer: t\r\n\r\n")
        elif path.endswith("/trailers"):
            # a chunked body, then trailer fields (one that may not be a
            # trailer: portico drops it)
            c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: grpc-status\r\n"
                      b"\r\n5\r\nhello\r\n0\r\ngrpc-status: 0\r\nX-Sum:  abc \r\n"
                      b"Content-Length: 99\r\n\r\n")
        elif path.endswith("/eof"):
            c.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + pattern(n))
            return False
        elif path.endswith("/close"):
            self._send(c, 200, b"closing", [("Connection", "close")], head)
            return False
        elif path.endswith("/reset"):
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % n + pattern(n // 10))
            time.sleep(0.1)
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            return False
        elif path.endswith("/hold"):
            # held for t seconds, counting how many are held at once
            with self.lock:
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
            time.sleep(float(q.get("t", ["0.3"])[0]))
            with self.lock:
                self.in_flight -= 1
            self._send(c, 200, ("held %s" % q.get("id", [""])[0]).encode(), (), head)
        elif path.endswith("/slow"):
            time.sleep(float(q.get("t", ["1"])[0]))
            self._send(c, 200, b"slow", (), head)
        elif path.endswith("/status"):
            code = int(q.get("code", ["200"])[0])
            self._send(c, code, b"" if code in (204, 304) else b"status %d" % code, (), head)
        elif path.endswith("/cookies"):
            self._send(c, 200, b"cookies", [("Set-Cookie", "a=1"), ("X-Drop-Me", "x"),
                                            ("Set-Cookie", "b=2"), ("Keep-Alive", "timeout=5"),
                                            ("Connection", "X-Drop-Me")], head)
        elif path.endswith("/redirect"):
            self._send(c, 302, b"", [("Location", "http://%s/app/there?x=1" % self.host)], head,
                       reason="Found")
        elif path.endswith("/gzipte"):
            c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\n"
                      b"\x1f\x8b not really")
            return False
        elif path.endswith("/hints"):
            c.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n"
                      b"Keep-Alive: timeout=5\r\n\r\n")
            time.sleep(0.05)
            self._send(c, 200, b"with hints", [("Link", "</style.css>; rel=preload; as=style")],
                       head)
        elif path.endswith("/continue"):
            c.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            self._send(c, 200, b"after continue", (), head)
        elif path.endswith("/hugehead"):
            self._send(c, 200, b"x", [("X-Big", "y" * 60000)], head)
        elif path.endswith("/bad"):
            c.sendall(b"HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n")
            return False
        elif path.endswith("/idle-close"):
            self._send(c, 200, b"soon closed", (), head)
            time.sleep(0.2)
            return False
        else:
            body = ("ok %s %s" % (req.method, req.target)).encode()
            self._send(c, 200, body, [("Content-Type", "text/plain")], head)
        return True


def unix_socket_path(tmp):
    return os.path.join(str(tmp), "backend.sock")
