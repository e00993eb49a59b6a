"""A small, strict HTTP/1.x client over raw sockets.

The integration tests need byte-level control (pipelining, malformed
requests, stalled writers), so this module deliberately avoids http.client
and urllib: a request is bytes we send, a response is parsed exactly as it
arrives.
"""

import email.utils
import re
import socket
import time

from fields import Fields

CRLF = b"\r\n"


class Response(Fields):
    def __init__(self, version, status, reason, headers, body, raw_head, interim):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers          # list of (name, value) in order
        self.body = body
        self.raw_head = raw_head
        self.interim = interim          # 1xx responses that came first

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return "<Response %s %s %r %d bytes>" % (
            self.status, self.reason, self.headers, len(self.body))


class ConnectionClosed(Exception):
    """The peer closed before a complete response arrived."""


def build_request(method="GET", target="/", headers=None, body=b"",
                  version="HTTP/1.1", host="localhost"):
    """Serializes a request.  headers: list of (name, value) or dict.
    host=None sends no Host header."""
    lines = ["%s %s %s" % (method, target, version)]
    hdrs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    names = {k.lower() for k, _ in hdrs}
    if host is not None and "host" not in names:
        lines.append("Host: %s" % host)
    for k, v in hdrs:
        lines.append("%s: %s" % (k, v))
    if isinstance(body, str):
        body = body.encode()
    if body and "content-length" not in names and "transfer-encoding" not in names:
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


class Conn:
    """One client connection with its own receive buffer."""

    def __init__(self, port, host="127.0.0.1", timeout=5.0, rcvbuf=None):
        self.port = port
        if rcvbuf:
            # Must be set before connect() to bound the TCP window.
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            s.settimeout(timeout)
            s.connect((host, port))
            self.sock = s
        else:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False

    # -- sending --------------------------------------------------------
    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def request(self, method="GET", target="/", headers=None, body=b"",
                version="HTTP/1.1", host="localhost"):
        self.send(build_request(method, target, headers, body, version, host))

    # -- receiving ------------------------------------------------------
    def _fill(self, deadline=None):
        """Reads more bytes into buf.  Returns False at EOF."""
        if self.eof:
            return False
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("deadline passed")
            self.sock.settimeout(left)
        try:
            data = self.sock.recv(262144)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def _read_until(self, sep, deadline=None):
        while True:
            i = self.buf.find(sep)
            if i >= 0:
                out = self.buf[:i]
                self.buf = self.buf[i + len(sep):]
                return out
            if not self._fill(deadline):
                raise ConnectionClosed("EOF while waiting for %r (have %r)"
                                       % (sep, self.buf[:200]))

    def _read_exact(self, n, deadline=None):
        while len(self.buf) < n:
            if not self._fill(deadline):
                raise ConnectionClosed("EOF after %d of %d body bytes"
                                       % (len(self.buf), n))
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _read_to_eof(self, deadline=None):
        while self._fill(deadline):
            pass
        out, self.buf = self.buf, b""
        return out

    def read_head(self, timeout=None):
        """Reads one response head: (version, status, reason, headers, raw)."""
        deadline = time.monotonic() + timeout if timeout else None
        raw = self._read_until(b"\r\n\r\n", deadline)
        lines = raw.split(b"\r\n")
        m = re.match(rb"^(HTTP/\d\.\d) (\d{3})(?: (.*))?$", lines[0])
        if not m:
            raise AssertionError("bad status line %r" % lines[0])
        headers = []
        for ln in lines[1:]:
            if ln[:1] in (b" ", b"\t"):
                raise AssertionError("obs-fold in response header %r" % ln)
            k, sep, v = ln.partition(b":")
            if not sep or not re.match(rb"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", k):
                raise AssertionError("malformed response header %r" % ln)
            headers.append((k.decode("latin-1"), v.strip(b" \t").decode("latin-1")))
        return (m.group(1).decode(), int(m.group(2)),
                (m.group(3) or b"").decode("latin-1"), headers, raw)

    def read_response(self, method="GET", timeout=10.0, stop_at_interim=False):
        """Reads one complete response (skipping and recording 1xx ones).
        With stop_at_interim, returns the first 1xx response itself."""
        deadline = time.monotonic() + timeout if timeout else None
        interim = []
        while True:
            left = deadline - time.monotonic() if deadline else None
            version, status, reason, headers, raw = self.read_head(
                max(left, 0.001) if left is not None else None)
            if 100 <= status < 200 and status != 101:
                r = Response(version, status, reason, headers, b"", raw, [])
                if stop_at_interim:
                    return r
                interim.append(r)
                continue
            break
        resp = Response(version, status, reason, headers, b"", raw, interim)
        if method == "HEAD" or status in (204, 304):
            return resp
        te = resp.header("Transfer-Encoding")
        cl = resp.header("Content-Length")
        if te is not None:
            assert te.lower() == "chunked", "unexpected Transfer-Encoding %r" % te
            resp.body = self._read_chunked(deadline)
        elif cl is not None:
            assert re.match(r"^\d+$", cl), "bad Content-Length %r" % cl
            resp.body = self._read_exact(int(cl), deadline)
        else:
            resp.body = self._read_to_eof(deadline)
        return resp

    def _read_chunked(self, deadline):
        body = b""
        while True:
            line = self._read_until(CRLF, deadline)
            size = int(line.split(b";")[0].strip(), 16)
            if size == 0:
                while self._read_until(CRLF, deadline):
                    pass
                return body
            body += self._read_exact(size, deadline)
            assert self._read_exact(2, deadline) == CRLF

    def wait_closed(self, timeout=3.0):
        """True when the server closes (EOF or reset) within timeout with no
        further bytes; False when it stays open.  Extra bytes are an error."""
        deadline = time.monotonic() + timeout
        while True:
            if self.buf:
                raise AssertionError("unexpected bytes after response: %r"
                                     % self.buf[:200])
            try:
                if not self._fill(deadline):
                    return True
            except socket.timeout:
                return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def fetch(port, target="/", method="GET", headers=None, body=b"",
          version="HTTP/1.1", host="localhost", timeout=10.0):
    """One request on a fresh connection."""
    with Conn(port, timeout=timeout) as c:
        c.request(method, target, headers, body, version, host)
        return c.read_response(method, timeout=timeout)


def raw_exchange(port, data, method="GET", timeout=5.0):
    """Sends raw bytes, reads one response, and reports whether the server
    then closed the connection: (response, closed)."""
    with Conn(port, timeout=timeout) as c:
        c.send(data)
        r = c.read_response(method, timeout=timeout)
        return r, c.wait_closed(3.0)


def http_date(ts):
    return email.utils.formatdate(ts, usegmt=True)


def parse_http_date(s):
    return email.utils.parsedate_to_datetime(s).timestamp()


def parse_multipart_byteranges(resp):
    """Returns [(content_type, start, end, total, data)] of a 206
    multipart/byteranges body; data lengths come from Content-Range so
    a boundary string inside the data cannot confuse the parse."""
    ctype = resp.header("Content-Type")
    m = re.match(r'^multipart/byteranges;\s*boundary="?([^";]+)"?', ctype or "")
    assert m, "not multipart/byteranges: %r" % ctype
    delim = b"--" + m.group(1).encode()
    body = resp.body
    pos = body.find(delim)
    assert pos >= 0, "no boundary in body"
    parts = []
    while True:
        pos += len(delim)
        if body[pos:pos + 2] == b"--":
            break
        assert body[pos:pos + 2] == CRLF, "junk after boundary at %d" % pos
        pos += 2
        hend = body.find(b"\r\n\r\n", pos)
        assert hend >= 0
        hdrs = {}
        for ln in body[pos:hend].split(CRLF):
            k, _, v = ln.decode("latin-1").partition(":")
            hdrs[k.strip().lower()] = v.strip()
        cr = re.match(r"^bytes (\d+)-(\d+)/(\d+)$", hdrs.get("content-range", ""))
        assert cr, "part without valid Content-Range: %r" % hdrs
        start, end, total = (int(x) for x in cr.groups())
        dstart = hend + 4
        data = body[dstart:dstart + end - start + 1]
        parts.append((hdrs.get("content-type"), start, end, total, data))
        pos = dstart + len(data)
        assert body[pos:pos + 2] == CRLF, "part not followed by CRLF"
        pos += 2
        assert body[pos:pos + len(delim)] == delim, "part not followed by boundary"
    return parts
