"""lwsws configurations as lwsws users write them, and the mistakes portico
catches instead of serving: repeated keys (ORed where lwsws ORs them, an
error naming both places otherwise), every lwsws key classified, strict
mode, "did you mean", misspelt access-control keys, dead configuration,
ignore-missing-cert, strict-host-check, `-T`, the ACME webroot and the
mime-types keys."""

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess

import pytest
import websockets

from certs import certs_fixture  # noqa: F401 (fixture)
from certs import cert_names, tls_conn
from ptserver import run_cli


def check(site, *extra):
    rc, out, err = run_cli(["-t", "-c", str(site.root)] + list(extra), cwd=str(site.root))
    return rc, out + err


def write(site, conf_text, confd):
    (site.root / "conf").write_text(conf_text)
    for name, text in confd.items():
        (site.confd / name).write_text(text)


def vhost_text(site, body, name="a.test"):
    """One vhost in conf.d/v, written as text (for repeated keys)."""
    return ('{"vhosts": [{\n "name": "%s", "port": %d, "interface": "127.0.0.1",\n'
            '%s\n "mounts": [{"mountpoint": "/", "origin": "file://%s"}]\n}]}\n'
            % (name, site.port, body, site.docroot))


G = '{"global": {"count-threads": 1}}\n'


# ---- lwsws's own example ---------------------------------------------------

LWSWS_CONF = """# these are the server global settings
# stuff related to vhosts should go in one
# file per vhost in ../conf.d/

{
  "global": {
   "uid": "48",
   "gid": "48",
   "count-threads": "1",
   "server-string": "lwsws",
   "init-ssl": "yes"
 }
}
"""

LWSWS_LOCALHOST = """{
 "vhosts": [ {
     "name": "localhost",
     "port": "%(port)d",
     "interface": "lo",
     "host-ssl-key":  "%(key)s",
     "host-ssl-cert": "%(cert)s",
     "access-log": "%(log)s",
     "sts": "on",
     "ssl-option-set": "268435456",
     "ssl-option-set": "536870912",
     "mounts": [{
       "mountpoint": "/",
       "origin": "file://_lws_ddir_/libwebsockets-test-server",
       "default": "test.html",
       "cache-max-age": "60",
       "cache-reuse": "1",
       "cache-revalidate": "1",
       "cache-intermediaries": "0"
       }, {
        "mountpoint": "/server-status",
        "origin": "file://_lws_ddir_/libwebsockets-test-server/server-status",
        "default": "server-status.html"
\t}, {
\t"mountpoint": "/testcgi",
\t"origin": "cgi://_lws_ddir_/libwebsockets-test-server/lws-cgi-test.sh"

       }, {
        "mountpoint": "/formtest",
        "origin": "callback://protocol-post-demo"
       }],
     # which protocols are enabled for this vhost, and optional
     # vhost-specific config options for the protocol
     #
     "ws-protocols": [{
       "dumb-increment-protocol": {
         "status": "ok"
       },
       "lws-server-status": {
         "status": "ok",
\t "update-ms": "5000"
       }
     }]
    }
  ]
}
"""


def test_lwsws_example_config_loads_with_no_errors(portico, certs):
    """lwsws's etc-lwsws-conf-EXAMPLE and its conf.d localhost example (with
    certificate paths pointed at real files and two ssl-option-set lines,
    which lwsws ORs): 0 errors and 0 warnings, and it serves, over TLS, the
    page, the form plugin and a dumb-increment WebSocket as lwsws would."""
    if os.geteuid() != 0:
        pytest.skip("the example's data directory is under /usr/local/share")
    ddir = "/usr/local/share/libwebsockets-test-server"
    made = not os.path.exists(ddir)
    os.makedirs(ddir + "/server-status", exist_ok=True)
    try:
        with open(ddir + "/test.html", "w") as f:
            f.write("<p>lwsws test page</p>\n")
        with open(ddir + "/lws-cgi-test.sh", "w") as f:
            f.write("#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\ncgi\\n'\n")
        os.chmod(ddir + "/lws-cgi-test.sh", 0o755)
        site = portico.site("lwsws-example")
        write(site, LWSWS_CONF, {"localhost": LWSWS_LOCALHOST % {
            "port": site.port, "key": certs.local_key, "cert": certs.local_cert,
            "log": site.root / "test-access-log"}})
        rc, text = check(site)
        assert rc == 0, text
        assert "error" not in text, text
        warnings = [ln for ln in text.splitlines() if ": warning: " in ln]
        assert warnings == [], text
        rc, out, err = run_cli(["-T", "-c", str(site.root)])
        assert rc == 0, err
        dumped = json.loads(re.sub(r"(?m)^#.*$", "", out))
        v = dumped["vhosts"][0]
        assert v["ssl-option-set"] == "0x%x" % (268435456 | 536870912)
        assert v["mounts"][0]["origin"] == "file://" + ddir
        # And it serves, over TLS, as lwsws would.
        srv = site.start(write=False, log_level="info")
        ctx = ssl.create_default_context(cafile=certs.ca)
        with socket.create_connection(("127.0.0.1", site.port)) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                assert s.version() == "TLSv1.2"  # the second: SSL_OP_NO_TLSv1_3
                s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        assert b"lwsws test page" in data
        assert b"strict-transport-security" in data.lower()
        # The form plugin at /formtest.
        p = subprocess.run(["curl", "-s", "--cacert", str(certs.ca), "--resolve",
                            "localhost:%d:127.0.0.1" % site.port, "-F", "text=hi",
                            "https://localhost:%d/formtest" % site.port],
                           capture_output=True, text=True, timeout=20)
        assert "<td>text</td><td>2</td><td>hi</td>" in p.stdout, p.stdout

        # ws-protocols: the test page's dumb-increment WebSocket on "/".
        async def count():
            async with websockets.connect(
                    "wss://localhost:%d/" % site.port, ssl=ctx,
                    subprotocols=["dumb-increment-protocol"]) as ws:
                return [int(await ws.recv()) for _ in range(3)]
        assert asyncio.new_event_loop().run_until_complete(count()) == [0, 1, 2]
        srv.check_exit()
    finally:
        if made:
            shutil.rmtree(ddir, ignore_errors=True)


# ---- repeated keys ----------------------------------------------------------------


def test_repeated_ssl_options_are_ored(portico, certs):
    site = portico.site("ored")
    write(site, G, {"v": vhost_text(site, ' "host-ssl-cert": "%s", "host-ssl-key": "%s",\n'
                                    ' "ssl-option-set": "0x4000",\n'
                                    ' "ssl-option-set": 536870912,\n'
                                    ' "ssl-option-clear": "1",\n'
                                    ' "ssl-option-clear": "2",'
                                    % (certs.a_cert, certs.a_key))})
    rc, out, err = run_cli(["-T", "-c", str(site.root)])
    assert rc == 0, err
    v = json.loads(re.sub(r"(?m)^#.*$", "", out))["vhosts"][0]
    assert v["ssl-option-set"] == "0x20004000"
    assert v["ssl-option-clear"] == "0x3"


def test_any_other_repeated_key_is_an_error_naming_both_places(portico):
    site = portico.site("dupkey")
    write(site, G, {"v": vhost_text(site, ' "sts": "on",\n "sts": "off",')})
    rc, text = check(site)
    assert rc == 1
    m = re.search(r"/v:4:2: error: duplicate key \"sts\" \(also at (\S+)/v:3:2\)", text)
    assert m, text


def test_a_repeated_ored_key_with_a_bad_value_is_an_error(portico):
    site = portico.site("dupbad")
    write(site, G, {"v": vhost_text(site, ' "ssl-option-set": "lots",\n'
                                    ' "ssl-option-set": "1",')})
    rc, text = check(site)
    assert rc == 1
    assert re.search(r"/v:3:2: error: \"ssl-option-set\": expected a number", text), text


# ---- lwsws keys, classified ----------------------------------------------------------


@pytest.mark.parametrize("key,value,kind,words", [
    ("noipv6", "on", "warning", "lwsws vhost key \"noipv6\" is not supported by portico"),
    ("alpn", "h2", "warning", "lwsws vhost key \"alpn\" is not supported by portico"),
    ("enable-client-ssl", "on", "warning",
     "lwsws vhost key \"enable-client-ssl\" is done differently in portico: TLS to "
     "backends is set per proxy mount"),
    ("allow-http-on-https", "1", "warning", "use \"allow-non-tls\""),
    ("onlyraw", "1", "error", "lwsws vhost key \"onlyraw\" asks for a raw-socket"),
    ("apply-listen-accept", "1", "error", "refused rather than serving HTTP"),
    ("listen-accept-role", "raw-skt", "error", "a non-HTTP role"),
])
def test_lwsws_keys_are_classified(portico, key, value, kind, words):
    site = portico.site("classify")
    write(site, G, {"v": vhost_text(site, ' "%s": "%s",' % (key, value))})
    rc, text = check(site)
    line = next((ln for ln in text.splitlines() if '"%s"' % key in ln), "")
    assert ": %s: " % kind in line, text
    assert words in line, text
    assert rc == (1 if kind == "error" else 0), text


def test_strict_makes_unsupported_and_unknown_keys_errors(portico):
    site = portico.site("strict")
    write(site, '{"global": {"count-threads": 1, "strict": true}}\n',
          {"v": vhost_text(site, ' "noipv6": "on",\n "frobnicate": 1,')})
    rc, text = check(site)
    assert rc == 1
    assert re.search(r"v:3:2: error: lwsws vhost key \"noipv6\" is not supported.*\(strict\)",
                     text), text
    assert re.search(r"v:4:2: error: unknown vhost key \"frobnicate\" \(strict\)", text), text
    # Without it: warnings, and the check passes.
    write(site, G, {})
    rc, text = check(site)
    assert rc == 0 and "warning: unknown vhost key \"frobnicate\"; ignored" in text, text


def test_strict_on_the_command_line(portico):
    site = portico.site("strict-cli")
    write(site, G, {"v": vhost_text(site, ' "frobnicate": 1,')})
    rc, text = check(site)
    assert rc == 0, text
    rc, text = check(site, "--strict")
    assert rc == 1 and "unknown vhost key \"frobnicate\" (strict)" in text, text


def write_key(site, where, key):
    """A configuration with key (value "1") in the global object, the vhost
    or its mount."""
    if where == "global":
        write(site, '{"global": {"count-threads": 1, "%s": "1"}}\n' % key,
              {"v": vhost_text(site, "")})
    elif where == "vhost":
        write(site, G, {"v": vhost_text(site, ' "%s": "1",' % key)})
    else:
        text = vhost_text(site, "").replace('"mountpoint": "/",',
                                            '"mountpoint": "/", "%s": "1",' % key)
        write(site, G, {"v": text})


@pytest.mark.parametrize("where,typo,meant", [
    ("vhost", "keepalive-timout", "keepalive-timeout"),
    ("vhost", "Redirect_HTTP", "redirect-http"),
    ("global", "server_string", "server-string"),
    ("mount", "cache-max-ag", "cache-max-age"),
    ("mount", "cgi-timout", "cgi-timeout"),
])
def test_did_you_mean(portico, where, typo, meant):
    site = portico.site("dym")
    write_key(site, where, typo)
    rc, text = check(site)
    assert rc == 0, text
    assert "unknown %s key \"%s\"; did you mean \"%s\"? ignored" % (where, typo, meant) \
        in text, text


@pytest.mark.parametrize("where,typo,meant", [
    ("mount", "basic_auth", "basic-auth"),
    ("mount", "basicauth", "basic-auth"),
    ("mount", "allow-dotfile", "allow-dotfiles"),
    ("vhost", "client-cert-requried", "client-cert-required"),
    ("vhost", "ip-limit-wsl", "ip-limit-wsi"),
    ("vhost", "header", "headers"),
    ("mount", "auth_mask", "auth-mask"),
])
def test_misspelt_access_control_keys_are_errors(portico, where, typo, meant):
    site = portico.site("secnear")
    write_key(site, where, typo)
    rc, text = check(site)
    assert rc == 1, text
    assert "error: unknown %s key \"%s\"; did you mean \"%s\"? (an access-control key is " \
        "never ignored when misspelt)" % (where, typo, meant) in text, text


def test_keepalive_spellings(portico):
    site = portico.site("ka")
    for key in ("keepalive_timeout", "keepalive-timeout", "keeplive-timeout"):
        write(site, G, {"v": vhost_text(site, ' "%s": 7,' % key)})
        rc, out, err = run_cli(["-T", "-c", str(site.root)])
        assert rc == 0 and "warning" not in err, err
        v = json.loads(re.sub(r"(?m)^#.*$", "", out))["vhosts"][0]
        assert v["keepalive_timeout"] == 7, key


# ---- dead configuration --------------------------------------------------------------


def test_dead_configuration_is_warned_about(portico):
    site = portico.site("dead")
    site.write("index.html", "x")
    v = {"name": "a.test", "port": site.port, "interface": "127.0.0.1",
         "error-document-404": "/missing-404.html",
         "mounts": [{"mountpoint": "/x", "origin": "file://%s" % site.docroot},
                    {"mountpoint": "/x/", "origin": "file://%s" % site.docroot},
                    {"mountpoint": "/", "origin": "file://%s" % site.docroot}]}
    empty = {"name": "b.test", "port": site.port, "interface": "127.0.0.1", "mounts": []}
    write(site, G, {"v": json.dumps({"vhosts": [v, empty]}, indent=1)})
    rc, text = check(site)
    assert rc == 0, text
    assert "mountpoint \"/x\" is the same as the one at" in text, text
    assert "vhost \"b.test\" has no mounts: every request to it gets 404" in text
    assert "error-document-404 \"/missing-404.html\": no such file in its mount" in text


# ---- ignore-missing-cert, strict-host-check ---------------------------------------------


def test_ignore_missing_cert_skips_the_vhost_until_a_reload_finds_it(portico, certs, tmp_path):
    site = portico.site("imc")
    site.write("index.html", "plain\n")
    tls_port = site.new_port()
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    secure = {"name": "localhost", "port": tls_port, "interface": "127.0.0.1",
              "host-ssl-cert": str(cert), "host-ssl-key": str(key),
              "ignore-missing-cert": 1,
              "mounts": [{"mountpoint": "/", "origin": "file://%s" % site.docroot}]}
    srv = site.start(vhosts=[site.vhost(), secure], wait_ports=[site.port])
    assert "does not exist (yet): the vhost is skipped (ignore-missing-cert)" in srv.log()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", tls_port), timeout=1).close()
    shutil.copy(certs.local_cert, cert)
    shutil.copy(certs.local_key, key)
    off = srv.log_size()
    srv.send_signal(signal.SIGHUP)
    assert "reload 1: done" in srv.wait_log(off, "reload 1: done", timeout=10)
    with tls_conn(tls_port, certs, sni="localhost") as c:
        assert "localhost" in cert_names(c.peer_der())[1]
        c.request("GET", "/", host="localhost")
        assert c.read_response().body == b"plain\n"


def test_strict_host_check(portico):
    site = portico.site("shc")
    site.write("index.html", "ok\n")
    srv = site.start(vhosts=[site.vhost(name="a.test", **{"strict-host-check": 1}),
                             site.vhost(name="b.test")])
    assert srv.get("/", headers={"Host": "a.test"}).status == 200
    assert srv.get("/", headers={"Host": "b.test"}).status == 200
    r = srv.get("/", headers={"Host": "nobody.test"})
    assert r.status == 400
    assert "unknown Host (strict-host-check)" in srv.wait_log(0, "strict-host-check", 3)


# ---- -T -------------------------------------------------------------------------


def test_dump_round_trips_through_the_loader(portico, tmp_path):
    site = portico.site("dump")
    site.write("index.html", "x")
    prog = site.write("cgi/run.sh", "#!/bin/sh\necho\n")
    prog.chmod(0o755)
    v = site.vhost(name="a.test", headers=[{"X-A": "1"}], sts=1,
                   mounts=[site.mount("/", **{"cache-max-age": 30,
                                              "extra-mimetypes": {".foo": "text/x-foo"}}),
                           site.mount("/cgi", "cgi://%s" % prog,
                                      **{"cgi-timeout": 9})])
    site.write_config([v, site.vhost(name="b.test", **{"ip-allow": ["127.0.0.0/8"]})],
                      global_={"server-string": "dumped", "log-level": "info"})
    rc, first, err = run_cli(["-T", "-c", str(site.root)])
    assert rc == 0, err
    assert re.search(r"(?m)^# listener 127\.0\.0\.1:%d: a\.test \(default\) b\.test$"
                     % site.port, first), first
    again = tmp_path / "again"
    (again / "conf.d").mkdir(parents=True)
    (again / "conf").write_text(first)
    rc, second, err = run_cli(["-T", "-c", str(again)])
    assert rc == 0, err
    strip = lambda t: re.sub(r"(?m)^#.*\n", "", t)  # noqa: E731
    assert strip(second) == strip(first)
    d = json.loads(strip(first))
    assert d["global"]["server-string"] == "dumped"
    assert d["global"]["timeout-secs"] == 5  # a default, filled in
    assert d["vhosts"][0]["mounts"][1]["cgi-timeout"] == 9
    assert d["vhosts"][1]["ip-allow"] == ["127.0.0.0/8"]


# ---- ACME, mime types -------------------------------------------------------------


def test_acme_challenge_token_is_served_as_text(portico):
    site = portico.site("acme")
    site.write(".well-known/acme-challenge/Zm9vYmFyLXRva2Vu", "token.thumbprint")
    site.write("README", "no suffix")
    srv = site.start()
    r = srv.get("/.well-known/acme-challenge/Zm9vYmFyLXRva2Vu")
    assert r.status == 200 and r.body == b"token.thumbprint"
    assert r.header("content-type").startswith("text/plain")
    assert srv.get("/README").status == 403  # elsewhere, no suffix is still no type


def test_global_mime_types_file_and_vhost_extra_mimetypes(portico):
    site = portico.site("mimes")
    site.write("a.zork", "z")
    site.write("b.blorb", "b")
    site.write("c.css", "c")
    types = site.root / "mime.types"
    types.write_text("# comment\napplication/x-zork\tzork zrk\ntext/x-override css\n")
    srv = site.start(vhosts=[site.vhost(**{"extra-mimetypes": {".blorb": "x/blorb"}})],
                     global_={"mime-types": str(types)})
    assert srv.get("/a.zork").header("content-type") == "application/x-zork"
    assert srv.get("/b.blorb").header("content-type") == "x/blorb"
    assert srv.get("/c.css").header("content-type") == "text/x-override"


# ---- unix-socket -------------------------------------------------------------------


def curl_unix(path, url, *extra):
    import subprocess
    p = subprocess.run(["curl", "-sS", "--unix-socket", path, "-o", "-",
                        "-w", "\n%{http_code} %{http_version}"] + list(extra) + [url],
                       capture_output=True, text=True, timeout=20)
    return p.returncode, p.stdout, p.stderr


def test_unix_socket_vhost(portico):
    import grp
    import pwd
    site = portico.site("unix")
    site.write("index.html", "over unix\n")
    sock = str(site.root / "portico.sock")
    (site.root / "portico.sock").write_bytes(b"")  # not a socket: refused below
    v = {"name": "localhost", "unix-socket": 1, "interface": sock,
         "mounts": [{"mountpoint": "/", "origin": "file://%s" % site.docroot}]}
    site.write_config([site.vhost(), v])
    rc, text = check(site)
    assert rc == 0, text
    os.unlink(sock)
    # A stale socket file (a portico that is gone) is replaced.
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(sock)
    stale.close()
    group = grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name
    v["unix-socket-perms"] = "nobody:%s" % group
    srv = site.start(vhosts=[site.vhost(), v])
    # (start() waits for the TCP port; the unix socket's line comes after it)
    assert "listening on unix:%s" % sock in srv.wait_log(0, "listening on unix:", timeout=5)
    st = os.stat(sock)
    assert (st.st_uid, st.st_gid) == (pwd.getpwnam("nobody").pw_uid,
                                      pwd.getpwnam("nobody").pw_gid)
    assert st.st_mode & 0o777 == 0o660
    rc, out, err = curl_unix(sock, "http://localhost/")
    assert rc == 0 and out.endswith("\n200 1.1") and out.startswith("over unix"), (out, err)
    rc, out, err = curl_unix(sock, "http://localhost/", "--http2-prior-knowledge")
    assert rc == 0 and out.endswith("\n200 2"), (out, err)
    # A second portico on the same socket is refused.
    other = portico.site("unix2")
    other.write_config([other.vhost(), v])
    rc, out2, err2 = run_cli(["-c", str(other.root)], timeout=10)
    assert rc == 1 and "unix:%s: address already in use by another process" % sock in err2, err2
    # A reload that drops it removes the file.
    site.write_config([site.vhost()])
    off = srv.log_size()
    srv.send_signal(signal.SIGHUP)
    assert "reload 1: done" in srv.wait_log(off, "reload 1: done", timeout=10)
    assert not os.path.exists(sock)


def test_unix_socket_needs_a_path(portico):
    site = portico.site("unix-bad")
    v = {"name": "x", "unix-socket": 1, "interface": "relative.sock",
         "mounts": [{"mountpoint": "/", "origin": "file://%s" % site.docroot}]}
    site.write_config([site.vhost(), v])
    rc, text = check(site)
    assert rc == 1 and "\"unix-socket\": needs \"interface\" to be the socket's absolute path" \
        in text, text


# ---- interpret --------------------------------------------------------------------

SCRIPT = """import os, sys
body = sys.stdin.read() if os.environ.get("CONTENT_LENGTH") else ""
sys.stdout.write("Content-Type: text/plain\\r\\n\\r\\n")
for k in ("SCRIPT_NAME", "SCRIPT_FILENAME", "REDIRECT_STATUS", "REQUEST_METHOD"):
    sys.stdout.write("%s=%s\\n" % (k, os.environ.get(k, "")))
sys.stdout.write("argv=%s\\n" % sys.argv)
sys.stdout.write("cwd=%s\\n" % os.getcwd())
sys.stdout.write("body=%s\\n" % body)
"""


def test_interpret_runs_scripts_of_a_file_mount_through_cgi(portico):
    site = portico.site("interp")
    script = site.write("app/run.pyx", SCRIPT)
    site.write("app/index.pyx", SCRIPT)
    site.write("app/page.html", "static\n")
    m = site.mount("/", interpret={".pyx": "/usr/bin/python3"}, default="index.pyx")
    srv = site.start(vhosts=[site.vhost(mounts=[m])])
    r = srv.get("/app/run.pyx")
    assert r.status == 200, r.body
    env = dict(ln.split("=", 1) for ln in r.body.decode().splitlines() if "=" in ln)
    assert env["SCRIPT_NAME"] == "/app/run.pyx"
    assert env["SCRIPT_FILENAME"] == str(script)
    assert env["REDIRECT_STATUS"] == "200"
    assert env["argv"] == "['%s']" % script
    assert env["cwd"] == str(script.parent)
    r = srv.get("/app/run.pyx", method="POST", body=b"posted")
    assert r.status == 200 and b"body=posted" in r.body and b"REQUEST_METHOD=POST" in r.body
    r = srv.get("/app/")
    assert r.status == 200 and b"SCRIPT_NAME=/app/index.pyx" in r.body, r.body
    assert srv.get("/app/page.html").body == b"static\n"
    assert srv.get("/app/page.html", method="POST", body=b"x").status == 405
    assert srv.get("/app/nothere.pyx").status == 404


def test_interpret_is_checked_at_load(portico):
    site = portico.site("interp-bad")
    m = site.mount("/", interpret={"php": "/usr/bin/python3", ".x": "/no/such/php-cgi"})
    site.write_config([site.vhost(mounts=[m])])
    rc, text = check(site)
    assert rc == 1
    assert "\"interpret\": \"php\" is not a suffix" in text, text
    assert "\"interpret\": \".x\": \"/no/such/php-cgi\" is not an executable file" in text


def test_cgi_chdir(portico, tmp_path):
    site = portico.site("chdir")
    prog = site.write("cgi/pwd.sh", "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\npwd\n")
    prog.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    srv = site.start(vhosts=[site.vhost(mounts=[
        site.mount("/a", "cgi://%s" % prog),
        site.mount("/b", "cgi://%s" % prog, **{"cgi-chdir": str(work)})])])
    assert srv.get("/a").body.decode().strip() == str(prog.parent)
    assert srv.get("/b").body.decode().strip() == str(work)
    site.write_config([site.vhost(mounts=[
        site.mount("/b", "cgi://%s" % prog, **{"cgi-chdir": str(tmp_path / "nope")})])])
    rc, text = check(site)
    assert rc == 1 and "\"cgi-chdir\": \"%s\" is not a directory" % (tmp_path / "nope") in text


# ---- refusals explained -------------------------------------------------------------


def test_every_refusal_says_why_in_the_log_not_the_page(portico, tmp_path):
    site = portico.site("refusals")
    site.write("docs/.secret", "x")
    site.write("docs/noindex/a.html", "a")
    site.write("docs/blob.unknownsuffix", "x")
    (tmp_path / "outside.html").write_text("outside")
    os.symlink(tmp_path / "outside.html", site.docroot / "docs" / "escape.html")
    users = site.root / "users"
    users.write_text("alice:secret\n")
    srv = site.start(vhosts=[site.vhost(mounts=[
        site.mount("/docs", "file://%s" % (site.docroot / "docs")),
        site.mount("/private", "file://%s" % site.docroot, **{"basic-auth": str(users)})])])
    cases = [
        ("/docs/.secret", 404, "dotfile"),
        ("/docs/noindex/", 403, "directory without index"),
        ("/docs/blob.unknownsuffix", 403, "no mimetype"),
        ("/docs/escape.html", 404, ""),
        ("/docs/missing.html", 404, ""),
        ("/private/", 401, ""),
    ]
    for path, status, why in cases:
        off = srv.log_size()
        r = srv.get(path)
        assert r.status == status, (path, r.status)
        line = srv.wait_log(off, re.escape(path), timeout=3)
        assert "[info]" in line and path in line and str(status) in line, (path, line)
        assert "(mount /docs)" in line or "(mount /private)" in line, (path, line)
        if why:
            assert why in line, (path, line)
        # The page stays generic: no file system path, no reason.
        assert str(site.root).encode() not in r.body, path
        assert b"escape" not in r.body or path != "/docs/escape.html"


CHROOTED = r"""
#include <stdio.h>
#include <unistd.h>
int main(void)
{
    char cwd[256];
    printf("Content-Type: text/plain\r\n\r\n");
    printf("cwd=%s\n", getcwd(cwd, sizeof cwd) ? cwd : "?");
    printf("passwd=%s\n", access("/etc/passwd", F_OK) == 0 ? "yes" : "no");
    printf("marker=%s\n", access("/inside-marker", F_OK) == 0 ? "yes" : "no");
    return 0;
}
"""


def test_cgi_chroot(portico, tmp_path):
    import subprocess
    if os.geteuid() != 0:
        pytest.skip("a chroot needs root")
    jail = tmp_path / "jail"
    (jail / "bin").mkdir(parents=True)
    (jail / "work").mkdir()
    (jail / "inside-marker").write_text("")
    src = tmp_path / "c.c"
    src.write_text(CHROOTED)
    prog = jail / "bin" / "where"
    p = subprocess.run(["gcc", "-static", "-O1", "-o", str(prog), str(src)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip("no static libc to build a program for the jail: " + p.stderr[-200:])
    site = portico.site("chroot")
    srv = site.start(vhosts=[site.vhost(mounts=[
        site.mount("/c", "cgi://%s" % prog, **{"cgi-chroot": str(jail),
                                                "cgi-chdir": str(jail / "work")})])])
    r = srv.get("/c")
    assert r.status == 200, r.body
    env = dict(ln.split("=", 1) for ln in r.body.decode().splitlines() if "=" in ln)
    assert env == {"cwd": "/work", "passwd": "no", "marker": "yes"}, env
    # Outside the jail, or under a user: refused at load.
    site.write_config([site.vhost(mounts=[
        site.mount("/c", "cgi://%s" % prog, **{"cgi-chroot": str(tmp_path / "jail" / "work")})])])
    rc, text = check(site)
    assert rc == 1 and "must hold the program" in text, text
    site.write_config([site.vhost(mounts=[
        site.mount("/c", "cgi://%s" % prog, **{"cgi-chroot": str(jail)})])],
        global_={"username": "nobody"})
    rc, text = check(site)
    assert rc == 1 and "\"cgi-chroot\" needs portico to run as root" in text, text
