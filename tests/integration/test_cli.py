"""Command line and configuration checking (`-h`, `-v`, `-t`, `-l`)."""

import json
import re

import pytest

from ptserver import REPO, run_cli


def project_version():
    m = re.search(r"project\(portico VERSION ([0-9.]+)",
                  (REPO / "CMakeLists.txt").read_text())
    return m.group(1) if m else None


def diags(text, fname):
    """[(line, col, rest)] for every `...fname:LINE:COL: rest` line."""
    out = []
    for ln in text.splitlines():
        m = re.search(r"(?:^|[\s/'\"])%s:(\d+):(\d+):(.*)$" % re.escape(fname), ln)
        if m:
            out.append((int(m.group(1)), int(m.group(2)), m.group(3)))
    return out


def check(site):
    rc, out, err = run_cli(["-t", "-c", str(site.root)], cwd=str(site.root))
    return rc, out + err


def one_line_vhost(site, name="a", port=None, mount=None, **kw):
    v = {"name": name, "port": site.port if port is None else port,
         "interface": "127.0.0.1",
         "mounts": [mount if mount is not None else
                    {"mountpoint": "/", "origin": "file://%s" % site.docroot}]}
    v.update(kw)
    return json.dumps(v)


def write_vhost_lines(site, fname, lines):
    """conf.d/fname with one vhost per line: vhost k is on line k + 1."""
    (site.root / "conf").write_text('{"global": {"count-threads": 1}}\n')
    site.confd.joinpath(fname).write_text(
        '{"vhosts": [\n' + ",\n".join(lines) + "\n]}\n")


@pytest.fixture
def site(portico):
    return portico.site("cli")


def test_help(portico_bin):
    rc, out, err = run_cli(["-h"])
    assert rc == 0
    text = (out + err).lower()
    assert "usage" in text
    assert "-c" in text


def test_version():
    rc, out, err = run_cli(["-v"])
    assert rc == 0
    text = out + err
    ver = project_version()
    assert ver and ver in text, text


def test_check_valid_config(site):
    site.write_config()
    rc, text = check(site)
    assert rc == 0, text
    assert not re.search(r"(?i)\berror:", text), text


def test_missing_config_dir(tmp_path):
    rc, out, err = run_cli(["-t", "-c", str(tmp_path / "nope")])
    assert rc != 0


def test_bad_log_level(site):
    site.write_config()
    rc, out, err = run_cli(["-t", "-l", "bogus", "-c", str(site.root)])
    assert rc != 0


@pytest.mark.parametrize("level", ["error", "warn", "notice", "info", "debug"])
def test_log_levels_accepted(site, level):
    site.write_config()
    rc, out, err = run_cli(["-t", "-l", level, "-c", str(site.root)])
    assert rc == 0, out + err


def test_invalid_json(site):
    (site.root / "conf").write_text('{"global": {"count-threads": 1}}\n')
    site.confd.joinpath("20-bad").write_text(
        '{"vhosts": [\n'
        '  {"name": "a",\n'
        '   "port": %d\n'
        '   "interface": "127.0.0.1"}\n'
        ']}\n' % site.port)
    rc, text = check(site)
    assert rc == 1, text
    d = diags(text, "20-bad")
    assert d, "no FILE:LINE:COL diagnostic:\n" + text
    assert d[0][0] in (3, 4), text


def test_missing_origin(site):
    write_vhost_lines(site, "20-bad", [
        one_line_vhost(site, "a"),
        one_line_vhost(site, "b", mount={"mountpoint": "/x"}),
    ])
    rc, text = check(site)
    assert rc == 1, text
    d = diags(text, "20-bad")
    assert any(line == 3 and "origin" in msg for line, _, msg in d), text


@pytest.mark.parametrize("port", ["abc", 70000, "70000", -1])
def test_bad_port(site, port):
    write_vhost_lines(site, "20-bad", [one_line_vhost(site, "a", port=port)])
    rc, text = check(site)
    assert rc == 1, text
    d = diags(text, "20-bad")
    assert any(line == 2 and "port" in msg for line, _, msg in d), text


def test_unknown_origin_scheme(site):
    write_vhost_lines(site, "20-bad", [
        one_line_vhost(site, "a", mount={"mountpoint": "/", "origin": "ftp://x/y"})])
    rc, text = check(site)
    assert rc == 1, text
    d = diags(text, "20-bad")
    assert any(line == 2 and "origin" in msg.lower() for line, _, msg in d), text


def test_wrong_type(site):
    write_vhost_lines(site, "20-bad", [
        json.dumps({"name": "a", "port": site.port, "interface": "127.0.0.1",
                    "mounts": {"mountpoint": "/"}})])
    rc, text = check(site)
    assert rc == 1, text
    d = diags(text, "20-bad")
    assert any(line == 2 and "mounts" in msg for line, _, msg in d), text


def test_bad_keepalive_value(site):
    write_vhost_lines(site, "20-bad", [
        one_line_vhost(site, "a", keepalive_timeout="soon")])
    rc, text = check(site)
    assert rc == 1, text
    d = diags(text, "20-bad")
    assert any(line == 2 and "keepalive" in msg for line, _, msg in d), text


def test_bad_global_value(site):
    (site.root / "conf").write_text(
        '{"global": {\n'
        '  "count-threads": "many"\n'
        '}}\n')
    site.confd.joinpath("20-ok").write_text(
        '{"vhosts": [\n' + one_line_vhost(site, "a") + "\n]}\n")
    rc, text = check(site)
    assert rc == 1, text
    d = diags(text, "conf")
    assert any(line == 2 and "count-threads" in msg for line, _, msg in d), text


def test_duplicate_vhost(site):
    write_vhost_lines(site, "20-bad", [
        one_line_vhost(site, "a"),
        one_line_vhost(site, "b"),
        one_line_vhost(site, "a"),
    ])
    rc, text = check(site)
    assert rc == 1, text
    d = diags(text, "20-bad")
    assert any(line == 4 for line, _, _ in d), text


def test_duplicate_vhost_across_files(site):
    (site.root / "conf").write_text('{"global": {"count-threads": 1}}\n')
    site.confd.joinpath("10-a").write_text(
        '{"vhosts": [\n' + one_line_vhost(site, "a") + "\n]}\n")
    site.confd.joinpath("20-a").write_text(
        '{"vhosts": [\n' + one_line_vhost(site, "a") + "\n]}\n")
    rc, text = check(site)
    assert rc == 1, text
    assert diags(text, "20-a") or diags(text, "10-a"), text


def test_same_name_other_port_is_fine(site):
    write_vhost_lines(site, "20-ok", [
        one_line_vhost(site, "a"),
        one_line_vhost(site, "a", port=site.new_port()),
    ])
    rc, text = check(site)
    assert rc == 0, text


def test_all_errors_reported(site):
    write_vhost_lines(site, "20-bad", [
        one_line_vhost(site, "a", port="abc"),
        one_line_vhost(site, "b", mount={"mountpoint": "/"}),
        one_line_vhost(site, "c", mount={"mountpoint": "/", "origin": "gopher://x"}),
        one_line_vhost(site, "d", port=70000),
    ])
    rc, text = check(site)
    assert rc == 1, text
    d = diags(text, "20-bad")
    lines = {line for line, _, _ in d}
    assert {2, 3, 4, 5} <= lines, text
    assert any(line == 2 and "port" in msg for line, _, msg in d), text
    assert any(line == 3 and "origin" in msg for line, _, msg in d), text
    assert any(line == 4 and "origin" in msg.lower() for line, _, msg in d), text
    assert any(line == 5 and "port" in msg for line, _, msg in d), text


def test_errors_in_several_files(site):
    (site.root / "conf").write_text('{"global": {"count-threads": 1}}\n')
    site.confd.joinpath("10-a").write_text(
        '{"vhosts": [\n' + one_line_vhost(site, "a", port="abc") + "\n]}\n")
    site.confd.joinpath("20-b").write_text('{"vhosts": [\n  {"name": \n')
    rc, text = check(site)
    assert rc == 1, text
    assert diags(text, "10-a"), text
    # The point here is that both files are reported; at end of file the
    # column may be unknown, so FILE:LINE is enough for 20-b.
    assert re.search(r"20-b:\d+:", text), text


def test_unknown_key_is_a_warning(site):
    write_vhost_lines(site, "20-warn", [
        one_line_vhost(site, "a"),
        one_line_vhost(site, "b", colour="blue"),
    ])
    rc, text = check(site)
    assert rc == 0, text
    hits = [ln for ln in text.splitlines()
            if re.search(r"20-warn:3\b", ln) and "colour" in ln]
    assert hits, text


def test_unknown_global_key_is_a_warning(site):
    (site.root / "conf").write_text(
        '{"global": {\n'
        '  "count-threads": 1,\n'
        '  "flux-capacitor": "on"\n'
        '}}\n')
    site.confd.joinpath("20-ok").write_text(
        '{"vhosts": [\n' + one_line_vhost(site, "a") + "\n]}\n")
    rc, text = check(site)
    assert rc == 0, text
    assert any(re.search(r"conf:3\b", ln) and "flux-capacitor" in ln
               for ln in text.splitlines()), text


def test_scalars_as_strings_and_numbers(site):
    """Every scalar may be a string or a number."""
    (site.root / "conf").write_text(json.dumps({"global": {
        "count-threads": "2", "timeout-secs": "5", "max-header-size": "16384",
        "server-string": "x"}}))
    vs = [
        {"name": "s", "port": str(site.port), "interface": "127.0.0.1",
         "keepalive_timeout": "60",
         "mounts": [{"mountpoint": "/", "origin": "file://%s" % site.docroot,
                     "cache-max-age": "60", "cache-reuse": "1",
                     "cache-revalidate": "0", "cache-intermediaries": "1"}]},
        {"name": "n", "port": site.port, "interface": "127.0.0.1",
         "keepalive-timeout": 60,
         "mounts": [{"mountpoint": "/", "origin": "file://%s" % site.docroot,
                     "cache-max-age": 60, "cache-reuse": 1,
                     "cache-revalidate": 0, "cache-intermediaries": 1}]},
    ]
    site.confd.joinpath("20-ok").write_text(json.dumps({"vhosts": vs}, indent=1))
    rc, text = check(site)
    assert rc == 0, text
    assert not re.search(r"(?i)\bwarn(ing)?:", text), text


def test_hash_comments(site):
    (site.root / "conf").write_text(
        "# global settings\n"
        "{\n"
        "  # threads\n"
        '  "global": {"count-threads": 1, "server-string": "a#b"}\n'
        "}\n")
    site.confd.joinpath("20-ok").write_text(
        "#first line comment\n"
        '{"vhosts": [\n'
        "   # a comment inside the array\n"
        + one_line_vhost(site, "a") + "\n"
        "]}\n"
        "# trailing comment\n")
    rc, text = check(site)
    assert rc == 0, text


def test_hash_comment_after_value(site):
    (site.root / "conf").write_text(
        '{"global": {\n'
        '  "count-threads": 1, # one thread\n'
        '  "timeout-secs": 5   # seconds\n'
        "}}\n")
    site.confd.joinpath("20-ok").write_text(
        '{"vhosts": [\n' + one_line_vhost(site, "a") + "\n]}\n")
    rc, text = check(site)
    assert rc == 0, text


def test_error_line_numbers_count_comment_lines(site):
    (site.root / "conf").write_text('{"global": {"count-threads": 1}}\n')
    site.confd.joinpath("20-bad").write_text(
        "# line 1\n"
        "# line 2\n"
        '{"vhosts": [\n'
        + one_line_vhost(site, "a", port="abc") + "\n"
        "]}\n")
    rc, text = check(site)
    assert rc == 1, text
    d = diags(text, "20-bad")
    assert any(line == 4 and "port" in msg for line, _, msg in d), text


def test_passthrough_origins_parse(site):
    """cgi://, http://, https:// and callback:// origins are accepted."""
    site.write("run.sh", "#!/bin/sh\necho hi\n", base=site.root).chmod(0o755)
    write_vhost_lines(site, "20-ok", [one_line_vhost(site, "a"),
                                      json.dumps({
        "name": "b", "port": site.port, "interface": "127.0.0.1",
        "mounts": [
            {"mountpoint": "/cgi", "origin": "cgi://%s/run.sh" % site.root},
            {"mountpoint": "/p", "origin": "http://127.0.0.1:9/x"},
            {"mountpoint": "/ps", "origin": "https://127.0.0.1:9/x"},
            {"mountpoint": "/cb", "origin": "callback://metrics"},
            {"mountpoint": "/r", "origin": ">https://example.com/"},
        ]})])
    rc, text = check(site)
    assert rc == 0, text
