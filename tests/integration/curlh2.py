"""Requests through curl, for tests that compare bytes over HTTP/2.

fetch() makes one request with curl and returns a pthttp-like response
(status, headers, body) plus curl's exit code, so an aborted stream is
visible.  fetch_many() sends many GETs over one HTTP/2 connection; it uses
python3-h2 (h2frames.H2Client) rather than curl, because curl 7.88.1
(Debian 12) fails every transfer after the first on a reused
--http2-prior-knowledge connection (curl/curl#10643).  h2_available()
probes whether the server speaks cleartext HTTP/2 with prior knowledge;
tests skip their h2 variant when it does not.
"""

import os
import subprocess
import tempfile
import urllib.parse

from fields import Fields

CURL = "curl"


class CurlResponse(Fields):
    def __init__(self, rc, version, status, headers, body):
        self.rc = rc
        self.version = version
        self.status = status
        self.headers = headers       # [(name, value)] of the final response
        self.body = body

    def __repr__(self):
        return "<CurlResponse rc=%d %s %s %d bytes>" % (
            self.rc, self.version, self.status, len(self.body))


def _parse_head(text):
    """The last response head in a curl -D dump (skips 1xx)."""
    blocks = [b for b in text.replace("\r\n", "\n").split("\n\n") if b.strip()]
    if not blocks:
        return None, 0, []
    lines = blocks[-1].split("\n")
    first = lines[0].split(" ")
    headers = []
    for ln in lines[1:]:
        k, sep, v = ln.partition(":")
        if sep:
            headers.append((k.strip(), v.strip()))
    return first[0], int(first[1]), headers


def quote_path(path):
    return urllib.parse.quote(path, safe="/")


def fetch(url, headers=(), method="GET", http2=True, timeout=30):
    with tempfile.TemporaryDirectory() as d:
        hfile, bfile = os.path.join(d, "h"), os.path.join(d, "b")
        cmd = [CURL, "-s", "--max-time", str(timeout), "-D", hfile, "-o", bfile]
        if http2:
            cmd.append("--http2-prior-knowledge")
        if method == "HEAD":
            cmd.append("--head")
        elif method != "GET":
            cmd += ["-X", method]
        for k, v in (headers.items() if isinstance(headers, dict) else headers):
            cmd += ["-H", "%s: %s" % (k, v)]
        cmd.append(url)
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout + 10)
        head = open(hfile, encoding="latin-1").read() if os.path.exists(hfile) else ""
        body = open(bfile, "rb").read() if os.path.exists(bfile) else b""
        version, status, hdrs = _parse_head(head)
        if method == "HEAD":
            body = b""
        return CurlResponse(p.returncode, version, status, hdrs, body)


def fetch_many(port, paths, headers=(), timeout=30):
    """GETs every path over one HTTP/2 connection, in order.  Returns
    [(status, content_encoding or "", body)]; a reset stream raises."""
    from h2frames import H2Client
    out = []
    with H2Client(port, timeout=timeout) as c:
        for p in paths:
            r = c.get(quote_path(p), headers=list(headers))
            assert r.reset is None, "stream for %s reset: %r" % (p, r)
            out.append((r.status, r.header("content-encoding") or "", r.body))
    return out


def h2_available(url):
    try:
        p = subprocess.run([CURL, "-s", "--max-time", "5", "--http2-prior-knowledge",
                            "-o", "/dev/null", "-w", "%{http_version}", url],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return p.returncode == 0 and p.stdout.strip() == b"2"
