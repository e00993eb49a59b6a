"""`make install` (cmake --install) into a DESTDIR staging tree: the file
list, an existing configuration never overwritten, and the installed
binary serving the installed example configuration (its pages found
through _lws_ddir_, beside the binary)."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ptserver import child_env, free_port, portico_bin

EXPECTED = {
    "etc/logrotate.d/portico",
    "etc/portico/conf",
    "etc/portico/conf.d/localhost",
    "usr/local/lib/systemd/system/portico.service",
    "usr/local/sbin/portico",
    "usr/local/share/man/man8/portico.8",
    "usr/local/share/portico/www/404.html",
    "usr/local/share/portico/www/error.css",
    "usr/local/share/portico/www/index.html",
    "usr/local/share/portico/www/style.css",
    "usr/local/share/doc/portico/config.md",
    "usr/local/share/doc/portico/architecture.md",
}


def build_dir():
    d = Path(portico_bin()).resolve().parent
    if not (d / "cmake_install.cmake").exists():
        pytest.skip("PORTICO_BIN is not in a CMake build tree")
    return d


def install(stage):
    env = dict(os.environ, DESTDIR=str(stage))
    p = subprocess.run(["cmake", "--install", str(build_dir()), "--prefix", "/usr/local"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def test_install_file_list(tmp_path):
    stage = tmp_path / "stage"
    install(stage)
    files = {str(p.relative_to(stage)) for p in stage.rglob("*") if p.is_file()}
    missing = EXPECTED - files
    assert not missing, missing
    assert (stage / "var/log/portico").is_dir()
    assert os.access(stage / "usr/local/sbin/portico", os.X_OK)
    unit = (stage / "usr/local/lib/systemd/system/portico.service").read_text()
    assert "ExecStart=/usr/local/sbin/portico -c /etc/portico" in unit
    assert "ExecReload=/bin/kill -HUP $MAINPID" in unit
    assert "Type=notify" in unit
    assert re.search(r"^CapabilityBoundingSet=.*CAP_NET_BIND_SERVICE", unit, re.M)
    rot = (stage / "etc/logrotate.d/portico").read_text()
    assert "-s reopen" in rot
    # the man page renders and names every option and signal
    man = subprocess.run(["man", "-l", str(stage / "usr/local/share/man/man8/portico.8")],
                         capture_output=True, text=True, env=dict(os.environ, MANWIDTH="80"))
    if man.returncode == 0:
        for word in ("-c dir", "-t", "-d", "-s", "SIGHUP", "SIGUSR1", "SIGQUIT", "pid-file"):
            assert word in man.stdout, word


def test_install_keeps_an_existing_configuration(tmp_path):
    stage = tmp_path / "stage"
    (stage / "etc/portico").mkdir(parents=True)
    (stage / "etc/portico/conf").write_text("# mine\n{}\n")
    out = install(stage)
    assert (stage / "etc/portico/conf").read_text() == "# mine\n{}\n"
    assert not (stage / "etc/portico/conf.d").exists()
    assert "Keeping the configuration" in out


def test_installed_binary_serves_the_installed_example(tmp_path):
    stage = tmp_path / "stage"
    install(stage)
    # The example writes to /var/log/portico and /run: point those at the
    # staging tree, and move it to a free port; everything else as shipped.
    conf = tmp_path / "etc"
    shutil.copytree(stage / "etc/portico", conf)
    port = free_port()
    for f in [conf / "conf", conf / "conf.d/localhost"]:
        text = f.read_text()
        text = text.replace("/var/log/portico", str(stage / "var/log/portico"))
        text = text.replace("/run/portico.pid", str(tmp_path / "portico.pid"))
        text = text.replace('"port": 7681', '"port": %d' % port)
        f.write_text(text)
    assert "_lws_ddir_/portico/www" in (conf / "conf.d/localhost").read_text()
    binary = str(stage / "usr/local/sbin/portico")
    t = subprocess.run([binary, "-t", "-c", str(conf)], env=child_env(),
                       capture_output=True, text=True, timeout=30)
    assert t.returncode == 0, t.stdout + t.stderr
    p = subprocess.Popen([binary, "-c", str(conf)], env=child_env(), cwd="/",
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        import time
        import urllib.request
        body = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and body is None:
            try:
                body = urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=2).read()
            except OSError:
                time.sleep(0.1)
        want = (stage / "usr/local/share/portico/www/index.html").read_bytes()
        assert body == want
        css = urllib.request.urlopen("http://127.0.0.1:%d/error.css" % port, timeout=2).read()
        assert css == (stage / "usr/local/share/portico/www/error.css").read_bytes()
        assert (tmp_path / "portico.pid").read_text().strip() == str(p.pid)
    finally:
        p.terminate()
        err = p.communicate(timeout=20)[1].decode()
    assert p.returncode == 0, err
    assert re.search(r"started", (stage / "var/log/portico/error.log").read_text())
    assert "GET / " in (stage / "var/log/portico/access.log").read_text()
