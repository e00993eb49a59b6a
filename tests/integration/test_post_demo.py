"""protocol-post-demo (lwsws's /formtest): curl -F and --data-urlencode
posts parsed as they stream in, over HTTP/1.1 and HTTP/2, with limits."""

import os
import subprocess

import pytest

import curlh2
from pthttp import Conn


@pytest.fixture(scope="module")
def srv(portico):
    site = portico.site()
    mounts = [site.mount("/"),
              {"mountpoint": "/formtest", "origin": "callback://protocol-post-demo"},
              {"mountpoint": "/small", "origin": "callback://post-demo",
               "pmo": {"max-body": "1000", "max-fields": "3", "max-value": "10"}}]
    return site.start(vhosts=[site.vhost(mounts=mounts)])


def curl(srv, path, *args, http2=False):
    cmd = ["curl", "-s", "-o", "-", "-w", "\n%{http_code}"]
    cmd += ["--http2-prior-knowledge"] if http2 else []
    p = subprocess.run(cmd + list(args) + [srv.url(path)], capture_output=True, timeout=30)
    body, _, code = p.stdout.rpartition(b"\n")
    return int(code), body.decode("utf-8", "replace")


def test_form_page(srv):
    code, body = curl(srv, "/formtest")
    assert code == 200
    assert 'enctype="multipart/form-data"' in body and 'name="file"' in body


@pytest.mark.parametrize("http2", [False, True])
def test_multipart_with_file(srv, tmp_path, http2):
    if http2 and not curlh2.h2_available(srv.url("/")):
        pytest.skip("no h2c")
    f = tmp_path / "up.bin"
    f.write_bytes(os.urandom(300000))
    code, body = curl(srv, "/formtest", "-F", "text=a <b> & \"c\"", "-F",
                      "file=@%s;type=application/x-test" % f, "-F", "send=Send",
                      http2=http2)
    assert code == 200, body
    assert "<td>text</td><td>11</td><td>a &lt;b&gt; &amp; &quot;c&quot;</td>" in body
    assert "<td>file</td><td>300000</td><td>file up.bin (application/x-test)</td>" in body
    assert "<td>send</td><td>4</td><td>Send</td>" in body


def test_urlencoded(srv):
    code, body = curl(srv, "/formtest", "--data-urlencode", "q=x y+z%", "--data", "e=&n")
    assert code == 200
    assert "<td>q</td><td>6</td><td>x y+z%</td>" in body
    assert "<td>e</td><td>0</td><td></td>" in body and "<td>n</td><td>0</td>" in body


def test_chunked_multipart_in_tiny_pieces(srv):
    body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"t\"\r\n\r\n"
            b"split\r\n--almost\r\n--XyZ--\r\n")
    with Conn(srv.port) as c:
        c.send(b"POST /formtest HTTP/1.1\r\nHost: localhost\r\n"
               b"Content-Type: multipart/form-data; boundary=XyZ\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n")
        for i in range(len(body)):
            c.send(b"1\r\n" + body[i:i + 1] + b"\r\n")
        c.send(b"0\r\n\r\n")
        r = c.read_response()
    assert r.status == 200
    assert "<td>t</td><td>15</td><td>split?\n--almost</td>" in r.text


@pytest.mark.parametrize("args,status", [
    (["--data-binary", "x" * 2000], 413),                       # max-body
    (["-F", "a=1", "-F", "b=2", "-F", "c=3", "-F", "d=4"], 413),  # max-fields
    (["-F", "a=0123456789A"], 413),                              # max-value
    (["--data", "a=%zz"], 400),                                  # bad escape
    (["-H", "Content-Type: text/plain", "--data", "x"], 415),
    (["-H", "Content-Type: multipart/form-data", "--data", "x"], 415),  # no boundary
])
def test_limits_and_bad_bodies(srv, args, status):
    code, _ = curl(srv, "/small", *args)
    assert code == status


def test_truncated_multipart(srv):
    with Conn(srv.port) as c:
        c.request("POST", "/formtest", headers={"Content-Type": "multipart/form-data; boundary=B"},
                  body="--B\r\nContent-Disposition: form-data; name=x\r\n\r\nno end")
        r = c.read_response()
    assert r.status == 400


def test_other_methods(srv):
    with Conn(srv.port) as c:
        c.request("PUT", "/formtest", body="x")
        r = c.read_response()
    assert r.status == 405 and "POST" in r.header("Allow")


def test_big_upload_streams(srv, tmp_path):
    # 12 MB through the parser (under the 16 MiB default), never held whole.
    f = tmp_path / "big"
    with open(f, "wb") as out:
        out.write(b"\r\n--" * (3 << 20))
    code, body = curl(srv, "/formtest", "-F", "file=@%s" % f)
    assert code == 200 and "<td>%d</td>" % (12 << 20) in body
