"""callback:// plugins: a plugin built here from plugins/hello.c with one cc
command against include/portico/plugin.h, loaded from a temporary
plugin-dir, answering over HTTP/1.1 and HTTP/2; instances per vhost with
their ws-protocols options; per-session data across a keep-alive
connection; the ABI check; and config errors."""

import socket
import subprocess
import time
from pathlib import Path

import pytest

import curlh2
from ptserver import REPO, run_cli
from pthttp import Conn

HERE = Path(__file__).resolve().parent


def build_plugin(out_dir, name="hello.so", *defines):
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / name
    cmd = ["cc", "-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-o", str(out),
           str(HERE / "plugins" / "hello.c"), "-I", str(REPO / "include")]
    cmd += ["-D%s" % d for d in defines]
    subprocess.run(cmd, check=True)
    return out


@pytest.fixture(scope="module")
def plugdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("plugins")
    build_plugin(d)
    return d


def hello_mounts(site, **pmo):
    m = {"mountpoint": "/hello", "origin": "callback://hello"}
    if pmo:
        m["pmo"] = pmo
    return [site.mount("/"), m,
            {"mountpoint": "/hello2", "origin": "callback://hello-protocol/"}]


@pytest.fixture(scope="module")
def srv(portico, plugdir):
    site = portico.site()
    site.write("index.html", "<p>files</p>\n")
    other = site.new_port()
    vhosts = [
        site.vhost(mounts=hello_mounts(site, colour="blue"),
                   **{"ws-protocols": [{"hello-protocol": {"status": "ok",
                                                           "greeting": "hi-a"}}]}),
        site.vhost(name="b.test", port=other, mounts=hello_mounts(site),
                   **{"ws-protocols": [{"hello": {"greeting": "hi-b"}}]}),
    ]
    return site.start(vhosts=vhosts, global_={"plugin-dir": str(plugdir),
                                              "count-threads": 2})


def get(srv, target, port=None, **kw):
    with Conn(port or srv.port) as c:
        c.request("GET", target, **kw)
        return c.read_response()


def fields(text):
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def test_request_fields_and_options(srv):
    r = get(srv, "/hello/info?a=1&b=%20", headers={"User-Agent": "probe/1"})
    assert r.status == 200, r
    assert r.header("X-Hello") == "1"
    f = fields(r.text)
    assert f == {"method": "GET", "path": "/hello/info", "rest": "/info",
                 "query": "a=1&b=%20", "ua": "probe/1", "vhost": "localhost",
                 "greeting": "hi-a", "colour": "blue", "version": "11"}


def test_alias_and_name_reach_one_instance(srv):
    # callback://hello and callback://hello-protocol/ on one vhost: one
    # instance, so one counter.
    a = fields(get(srv, "/hello/count").text)["vhost"].split()[0]
    b = fields(get(srv, "/hello2/count").text)["vhost"].split()[0]
    assert int(b) == int(a) + 1


def test_two_vhosts_two_instances(srv):
    other = srv.site.ports[1]
    fb = fields(get(srv, "/hello/info", port=other).text)
    assert fb["vhost"] == "b.test" and fb["greeting"] == "hi-b" and fb["colour"] == ""
    fa = fields(get(srv, "/hello/info").text)
    assert fa["greeting"] == "hi-a"
    # Separate instance data: b's counter starts on its own.
    n_a = int(get(srv, "/hello/count").text.split()[0].split("=")[1])
    n_b = int(get(srv, "/hello/count", port=other).text.split()[0].split("=")[1])
    assert n_b == 1 and n_a > 1


def counts(text):
    return {k: int(v) for k, v in (p.split("=") for p in text.split())}


def test_session_data_lives_across_keepalive_and_drops_outside(srv):
    off = srv.log_size()
    with Conn(srv.port) as c:
        seen = []
        for target in ["/hello/count", "/hello/count", "/hello/count"]:
            c.request("GET", target)
            seen.append(counts(c.read_response().text))
        assert [s["session"] for s in seen] == [1, 2, 3]
        sid = seen[0]["sid"]
        assert {s["sid"] for s in seen} == {sid}
        # A request outside the plugin's mounts ends the session ...
        c.request("GET", "/index.html")
        assert c.read_response().status == 200
        log = srv.wait_log(off, r"hello session %d ends after 3 requests" % sid)
        assert "hello session %d ends after 3 requests" % sid in log
        # ... and the next request to the plugin starts a new one.
        c.request("GET", "/hello/count")
        again = counts(c.read_response().text)
        assert again["session"] == 1 and again["sid"] != sid
    # Closing the connection ends that one.
    log = srv.wait_log(off, r"hello session %d ends after 1 requests" % again["sid"])
    assert "hello session %d ends after 1 requests" % again["sid"] in log


def test_sessions_are_per_connection(srv):
    with Conn(srv.port) as a, Conn(srv.port) as b:
        a.request("GET", "/hello/count")
        ra = counts(a.read_response().text)
        b.request("GET", "/hello/count")
        rb = counts(b.read_response().text)
        assert ra["session"] == 1 and rb["session"] == 1 and ra["sid"] != rb["sid"]


def test_body_pull_echo(srv):
    body = bytes(range(256)) * 1024  # 256 KiB
    with Conn(srv.port) as c:
        c.request("POST", "/hello/echo", body=body)
        r = c.read_response()
    assert r.status == 200 and r.body == body


def test_body_chunked_echo(srv):
    with Conn(srv.port) as c:
        c.send(b"POST /hello/echo HTTP/1.1\r\nHost: localhost\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        r = c.read_response()
    assert r.status == 200 and r.body == b"hello world"


def test_body_too_large_is_refused(srv):
    with Conn(srv.port) as c:
        c.request("POST", "/hello/echo", body=b"x" * (2 << 20))
        r = c.read_response()
    assert r.status == 413


def pattern(n):
    return bytes((ord("a") + i % 26) for i in range(n))


def test_streamed_body_with_backpressure(srv):
    n = 8 << 20
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    s.settimeout(10)
    s.connect(("127.0.0.1", srv.port))
    s.sendall(b"GET /hello/stream?n=%d HTTP/1.1\r\nHost: localhost\r\n"
              b"Connection: close\r\n\r\n" % n)
    time.sleep(0.5)  # a reader that does not read: the plugin must not run ahead
    data = b""
    while True:
        chunk = s.recv(1 << 16)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head
    # De-chunk.
    out, rest = b"", body
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        out += rest[:size]
        rest = rest[size + 2:]
    assert out == pattern(n)


def test_timer_driven_body(srv):
    t0 = time.monotonic()
    r = get(srv, "/hello/slow")
    assert r.status == 200 and r.text == "tick 1\ntick 2\ntick 3\n"
    assert time.monotonic() - t0 >= 0.05


def test_unknown_route_gets_error_page(srv):
    r = get(srv, "/hello/nope")
    assert r.status == 404 and "error.css" in r.text


@pytest.mark.parametrize("path", ["/hello/info", "/hello/stream?n=100000", "/hello/slow"])
def test_http2(srv, path):
    if not curlh2.h2_available(srv.url("/")):
        pytest.skip("no h2c")
    r = curlh2.fetch(srv.url(path))
    assert r.rc == 0 and r.status == 200
    if path.startswith("/hello/info"):
        assert fields(r.body.decode())["version"] == "20"
    elif "stream" in path:
        assert r.body == pattern(100000)
    else:
        assert r.body == b"tick 1\ntick 2\ntick 3\n"


def test_http2_post_echo(srv):
    if not curlh2.h2_available(srv.url("/")):
        pytest.skip("no h2c")
    body = b"z" * 300000
    p = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "--data-binary", "@-",
                        srv.url("/hello/echo")], input=body, capture_output=True,
                       timeout=30)
    assert p.returncode == 0 and p.stdout == body


def test_instances_destroyed_at_stop(portico, plugdir):
    site = portico.site()
    srv = site.start(vhosts=[site.vhost(mounts=hello_mounts(site))],
                     global_={"plugin-dir": str(plugdir)})
    assert get(srv, "/hello/info").status == 200
    srv.stop()
    assert "hello instance down" in srv.log()


# ---- load-time checks -------------------------------------------------------

def check(site, vhosts, global_):
    site.write_config(vhosts=vhosts, global_=global_)
    rc, out, err = run_cli(["-t", "-c", str(site.root)])
    return rc, out + err


def test_abi_mismatch_is_refused(portico, tmp_path):
    d = tmp_path / "old"
    build_plugin(d, "old.so", "HELLO_ABI=99")
    site = portico.site()
    rc, text = check(site, [site.vhost(mounts=[site.mount("/")])], {"plugin-dir": str(d)})
    assert rc != 0
    assert "old.so" in text and "built for plugin ABI 99" in text
    assert "plugin ABI 1" in text
    assert "conf:" in text  # at the plugin-dir key


def test_not_a_plugin_is_refused(portico, tmp_path):
    d = tmp_path / "junk"
    d.mkdir()
    (d / "lib.so").write_bytes(b"not an ELF file")
    site = portico.site()
    rc, text = check(site, [site.vhost(mounts=[site.mount("/")])], {"plugin-dir": str(d)})
    assert rc != 0 and "cannot load" in text and "lib.so" in text


def test_missing_plugin_dir(portico, tmp_path):
    site = portico.site()
    rc, text = check(site, [site.vhost(mounts=[site.mount("/")])],
                     {"plugin-dir": str(tmp_path / "absent")})
    assert rc != 0 and "cannot read" in text and "absent" in text


def test_unknown_plugin_names_the_choices(portico, plugdir):
    site = portico.site()
    mounts = [{"mountpoint": "/x", "origin": "callback://nosuch"}]
    rc, text = check(site, [site.vhost(mounts=mounts)], {"plugin-dir": str(plugdir)})
    assert rc != 0
    assert 'no plugin named "nosuch"' in text
    assert "hello-protocol (hello)" in text and "metrics" in text
    assert "conf.d/10-vhosts:" in text


def test_vhost_init_failure_is_a_config_error(portico, plugdir):
    site = portico.site()
    vh = site.vhost(mounts=hello_mounts(site),
                    **{"ws-protocols": [{"hello": {"fail": "on purpose"}}]})
    rc, text = check(site, [vh], {"plugin-dir": str(plugdir)})
    assert rc != 0 and "asked to fail: on purpose" in text


def test_status_not_ok_disables(portico, plugdir):
    site = portico.site()
    vh = site.vhost(mounts=hello_mounts(site),
                    **{"ws-protocols": [{"hello": {"status": "off"}}]})
    rc, text = check(site, [vh], {"plugin-dir": str(plugdir)})
    assert rc != 0 and "not enabled" in text and '"status": "off"' in text


def test_unknown_ws_protocol_warns(portico, plugdir):
    site = portico.site()
    vh = site.vhost(mounts=[site.mount("/")],
                    **{"ws-protocols": [{"no-such-proto": {"status": "ok"}}]})
    rc, text = check(site, [vh], {"plugin-dir": str(plugdir)})
    assert rc == 0 and 'no plugin named "no-such-proto"' in text


def test_plugin_dir_from_conf_d(portico, plugdir):
    # lwsws: a package adds its own plugin-dir from a conf.d fragment.
    site = portico.site()
    extra = '{"global": {"plugin-dir": "%s"}}\n' % plugdir
    site.write_config(global_={}, confd={
        "10-vhosts": [site.vhost(mounts=hello_mounts(site))], "20-pkg": extra})
    rc, out, err = run_cli(["-t", "-c", str(site.root)])
    assert rc == 0, out + err


def test_plugin_dir_list(portico, plugdir, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    site = portico.site()
    srv = site.start(vhosts=[site.vhost(mounts=hello_mounts(site))],
                     global_={"plugin-dir": [str(empty), str(plugdir)]})
    assert get(srv, "/hello/info").status == 200


def test_builtin_header_installs(tmp_path):
    # The header compiles alone, as C and as C++ would include it.
    src = tmp_path / "t.c"
    src.write_text("#include <portico/plugin.h>\nint main(void){return PT_PLUGIN_ABI - 1;}\n")
    subprocess.run(["cc", "-std=c99", "-Wall", "-Werror", "-I", str(REPO / "include"),
                    "-o", str(tmp_path / "t"), str(src)], check=True)
    assert subprocess.run([str(tmp_path / "t")]).returncode == 0


def test_example_in_docs_builds_and_runs(portico, tmp_path):
    # docs/plugins.md's 40-line example, built with the one cc command it
    # gives, loaded, and asked.
    text = (REPO / "docs" / "plugins.md").read_text()
    start = text.index("```c\n") + 5
    code = text[start:text.index("```", start)]
    assert len(code.splitlines()) <= 40
    d = tmp_path / "greet"
    d.mkdir()
    (d / "greet.c").write_text(code)
    subprocess.run(["cc", "-shared", "-fPIC", "-Wall", "-Werror", "-o", str(d / "greet.so"),
                    str(d / "greet.c"), "-I", str(REPO / "include")], check=True)
    site = portico.site()
    vh = site.vhost(mounts=[{"mountpoint": "/greet", "origin": "callback://greet"}],
                    **{"ws-protocols": [{"greet": {"status": "ok", "greeting": "hi there"}}]})
    srv = site.start(vhosts=[vh], global_={"plugin-dir": str(d)})
    with Conn(srv.port) as c:
        for n in (1, 2):
            c.request("GET", "/greet")
            r = c.read_response()
            assert r.text == "hi there, 127.0.0.1 (visit %d on this connection)\n" % n


def test_reload_loads_a_new_plugin(portico, tmp_path):
    import signal
    d = tmp_path / "later"
    d.mkdir()
    site = portico.site()
    srv = site.start(vhosts=[site.vhost(mounts=[site.mount("/")])],
                     global_={"plugin-dir": str(d)})
    build_plugin(d)
    site.write_config(vhosts=[site.vhost(mounts=hello_mounts(site))],
                      global_={"plugin-dir": str(d)})
    off = srv.log_size()
    srv.send_signal(signal.SIGHUP)
    log = srv.wait_log(off, r"reload 1: (done|failed)", timeout=10)
    assert "reload 1: done" in log, log
    assert 'plugin "hello-protocol" loaded' in log
    assert get(srv, "/hello/info").status == 200
