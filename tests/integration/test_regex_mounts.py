"""Regex mountpoints ("~pattern", "~*pattern") in nginx's order (exact,
then regex in file order, then the longest prefix), captures in redirect,
proxy and file origins, bounded matching, load-time errors at
FILE:LINE:COL, -T, and reject-service-keywords."""

import json
import re
import time

import pytest

from pthttp import Conn
from ptserver import run_cli

CATASTROPHIC = "/" + "a" * 40 + "b"   # against ^/(a+)+$: 2^40 steps unbounded


def last(b):
    with b.lock:
        return b.requests[-1]


@pytest.fixture(scope="module")
def srv(portico, bk, bk2):
    site = portico.site("regex")
    site.write("who.txt", "root")
    site.write("img/long/path/a.png", "prefix-png")
    sites = site.root / "sites"
    site.write("alpha/htdocs/index.html", "alpha-index", base=sites)
    site.write("alpha/htdocs/a/b.html", "alpha-b", base=sites)
    site.write("beta/htdocs/index.html", "beta-index", base=sites)
    site.write("secret.txt", "SECRET", base=site.root)      # above sites/
    site.write("t/a/b.txt", "txt-file", base=site.root / "txt")
    site.write("x.txt", "caseless", base=site.root / "ci")
    mounts = [
        site.mount("/"),
        {"mountpoint": "/img/long/path", "origin": ">https://prefix.example/"},
        {"mountpoint": "~\\.jpg$", "origin": ">https://jpg.example/"},
        {"mountpoint": "/exact.jpg", "origin": ">https://exact.example/", "exact-match": 1},
        {"mountpoint": "~^/img/special", "origin": ">https://special.example/"},
        {"mountpoint": "~^/o/", "origin": ">https://o-first.example/"},
        {"mountpoint": "~^/o/more", "origin": ">https://o-second.example/"},
        {"mountpoint": "~*^/CaseLess/(.*)$", "origin": "file://%s/$1" % (site.root / "ci")},
        {"mountpoint": "~^/Sens/", "origin": ">https://sens.example/"},
        {"mountpoint": "~ ^/old/([^/]+)/(.*)$", "origin": ">https://new.example/$2/$1"},
        {"mountpoint": "~^/site/([a-z]+)/(.*)$",
         "origin": "file://%s/$1/htdocs/$2" % sites},
        {"mountpoint": "~^/e/([^/]*)x([^/]*)/(.*)$", "origin": "file://%s/$1$2/$3" % sites},
        {"mountpoint": "~^/t/.*\\.txt$", "origin": "file://%s" % (site.root / "txt")},
        {"mountpoint": "~^/users/([0-9]+)$", "origin": "http://%s/api/users/$1" % bk.host},
        {"mountpoint": "~^/p/(.*)$", "origin": "http://%s/x%%20y/$1/t%%20z" % bk.host},
        {"mountpoint": "~^/nocap/", "origin": "http://%s/base" % bk.host},
        {"mountpoint": "~^/lb/(.*)$",
         "origin": ["http://%s/l/$1" % bk.host, "http://%s/l/$1" % bk2.host]},
        {"mountpoint": "~^/(a+)+$", "origin": "file://%s" % site.docroot},
    ]
    return site.start(vhosts=[site.vhost(mounts=mounts)])


def location(srv, target):
    r = srv.get(target)
    assert r.status == 301, (target, r)
    return r.header("Location")


# ---- order ------------------------------------------------------------------


@pytest.mark.parametrize("target,loc", [
    ("/exact.jpg", "https://exact.example/"),             # exact beats regex
    ("/img/long/path/a.jpg", "https://jpg.example/"),     # regex beats a longer prefix
    ("/img/special/a.jpg", "https://jpg.example/"),       # first regex in file order
    ("/img/special/a.png", "https://special.example/"),
    ("/o/more/x", "https://o-first.example/"),            # first, though less specific
    ("/img/long/path/a.txt", "https://prefix.example/"),  # no regex: longest prefix
])
def test_order(srv, target, loc):
    assert location(srv, target) == loc


def test_prefix_when_no_regex_matches(srv):
    r = srv.get("/who.txt")
    assert r.status == 200 and r.text == "root"
    assert srv.get("/exact.jpgx").status == 404   # neither exact nor ".jpg$": "/"


def test_regex_without_captures_gets_the_whole_path(srv):
    r = srv.get("/t/a/b.txt")
    assert r.status == 200 and r.text == "txt-file"


def test_case_insensitive(srv):
    for target in ("/caseless/x.txt", "/CASELESS/x.txt", "/CaseLess/x.txt"):
        r = srv.get(target)
        assert r.status == 200 and r.text == "caseless", target
    assert location(srv, "/Sens/x") == "https://sens.example/"
    assert srv.get("/sens/x").status == 404   # ~ is case-sensitive: "/" serves it


# ---- captures ------------------------------------------------------------------


@pytest.mark.parametrize("target,loc", [
    ("/old/a/b/c", "https://new.example/b/c/a"),
    ("/old/a/b?x=1&y=%41", "https://new.example/b/a?x=1&y=%41"),   # the query is kept
    ("/old/a%20b/c", "https://new.example/c/a%20b"),               # re-encoded
    ("/OLD/a/b", None),                                            # case-sensitive
])
def test_captures_in_redirect(srv, target, loc):
    if loc is None:
        assert srv.get(target).status == 404
    else:
        assert location(srv, target) == loc


def test_captures_in_proxy_origin(srv, bk):
    r = srv.get("/users/42?q=1")
    assert r.status == 200, r
    assert last(bk).target == "/api/users/42?q=1"
    r = srv.get("/users/41/../43")           # matched after normalization
    assert r.status == 200
    assert last(bk).target == "/api/users/43"
    assert srv.get("/users/4x").status == 404


def test_proxy_capture_is_encoded_and_literal_text_kept(srv, bk):
    r = srv.get("/p/a%20b/c%3Fd?k=v")
    assert r.status == 200, r
    assert last(bk).target == "/x%20y/a%20b/c%3Fd/t%20z?k=v"


def test_proxy_regex_without_captures(srv, bk):
    r = srv.get("/nocap/z?k=v")
    assert r.status == 200
    assert last(bk).target == "/base/nocap/z?k=v"


def test_proxy_origin_list_with_captures(srv, bk, bk2):
    seen = set()
    for _ in range(4):
        assert srv.get("/lb/q/r").status == 200
        for b in (bk, bk2):
            if b.requests and b.requests[-1].target == "/l/q/r":
                seen.add(id(b))
    assert seen, "no backend saw /l/q/r"


@pytest.mark.parametrize("target,body", [
    ("/site/alpha/index.html", "alpha-index"),
    ("/site/alpha/a/b.html", "alpha-b"),
    ("/site/beta/", "beta-index"),
    ("/site/alpha/", "alpha-index"),
])
def test_captures_in_file_origin(srv, target, body):
    r = srv.get(target)
    assert r.status == 200, (target, r)
    assert r.text == body


@pytest.mark.parametrize("target", [
    "/e/.x./secret.txt",          # "." + "." side by side: ".."
    "/e/%2ex%2e/secret.txt",
    "/e/.x./../e/.x./secret.txt",
])
def test_captures_cannot_escape_the_file_root(srv, target):
    off = srv.log_size()
    r = srv.get(target)
    assert r.status in (400, 404), (target, r)
    assert b"SECRET" not in r.body
    if r.status == 400:
        assert "the captures make a path above the mount's root" in \
            srv.wait_log(off, "above the mount's root")


def test_escape_attempt_is_400_with_a_log_note(srv):
    off = srv.log_size()
    r = srv.get("/e/.x./secret.txt")
    assert r.status == 400
    log = srv.wait_log(off, "above the mount's root")
    assert re.search(r"GET /e/\.x\./secret\.txt: 400 the captures make a path above the "
                     r"mount's root \(mount ~\^/e/", log), log


# ---- bounded matching -------------------------------------------------------


def test_catastrophic_pattern_is_bounded(srv):
    off = srv.log_size()
    t0 = time.monotonic()
    r = srv.get(CATASTROPHIC)
    took = time.monotonic() - t0
    assert r.status == 500, r
    assert took < 1.0, took
    log = srv.wait_log(off, "match limit")
    assert "500 regex match limit reached (mount ~^/(a+)+$)" in log, log
    assert srv.alive()
    r = srv.get("/who.txt")
    assert r.status == 200 and r.text == "root"
    assert srv.get("/aaaa").status == 404    # it matches (and its directory has no aaaa)


def test_many_hostile_requests_stay_cheap(srv):
    t0 = time.monotonic()
    with Conn(srv.port) as c:
        for _ in range(50):
            c.request("GET", CATASTROPHIC)
            assert c.read_response().status == 500
    assert time.monotonic() - t0 < 5.0


# ---- load-time errors ---------------------------------------------------------------


def write_conf(site, text, global_=None):
    (site.root / "conf").write_text(json.dumps({"global": global_ or {"count-threads": 1}}))
    (site.confd / "v").write_text(text)


def vhost_with(site, mounts_text):
    return ('{"vhosts": [{\n "name": "a.test", "port": %d, "interface": "127.0.0.1",\n'
            ' "mounts": [\n  {"mountpoint": "/", "origin": "file://%s"},\n%s\n ]\n}]}\n'
            % (site.port, site.docroot, mounts_text))


def position(text, needle):
    i = text.index(needle)
    return text.count("\n", 0, i) + 1, i - (text.rfind("\n", 0, i) + 1) + 1


def check(site):
    rc, out, err = run_cli(["-t", "-c", str(site.root)])
    return rc, out + err


def test_invalid_pattern_is_reported_at_its_value(portico):
    site = portico.site("badre")
    text = vhost_with(site, '  {"mountpoint": "~^/(unclosed", "origin": ">https://x.example/"}')
    write_conf(site, text)
    rc, out = check(site)
    assert rc == 1, out
    line, col = position(text, '"~^/(unclosed"')
    want = ('%s/conf.d/v:%d:%d: error: "mountpoint": invalid regular expression: missing '
            'closing parenthesis at offset 11 of "^/(unclosed"' % (site.root, line, col))
    assert want in out, out


def test_capture_beyond_the_groups_is_refused(portico):
    site = portico.site("badref")
    text = vhost_with(site, '  {"mountpoint": "~^/a/(.*)$", "origin": "file://%s/$2"}'
                      % site.docroot)
    write_conf(site, text)
    rc, out = check(site)
    assert rc == 1, out
    line, col = position(text, '"file://%s/$2"' % site.docroot)
    assert ('conf.d/v:%d:%d: error: "origin": $2 names a capture the mountpoint\'s pattern '
            'does not have (it has 1 group)' % (line, col)) in out, out


@pytest.mark.parametrize("origin,msg", [
    ("http://$1.example/x", "a '$' in the scheme or host"),
    (">https://x.example/a/$1?q=1", "captures fill in the path only"),
    ("cgi:///bin/$1", "cgi origins take no captures"),
])
def test_misplaced_captures_are_refused(portico, origin, msg):
    site = portico.site("badcap")
    write_conf(site, vhost_with(site, '  {"mountpoint": "~^/a/(.*)$", "origin": "%s"}'
                                % origin))
    rc, out = check(site)
    assert rc == 1, out
    assert msg in out, out


def test_duplicate_pattern_is_warned_about(portico):
    site = portico.site("duppat")
    write_conf(site, vhost_with(site, '  {"mountpoint": "~^/d", "origin": ">https://a.example/"},\n'
                                '  {"mountpoint": "~ ^/d", "origin": ">https://b.example/"}'))
    rc, out = check(site)
    assert rc == 0, out
    assert ('mountpoint "~ ^/d" is the same as the one at' in out and
            "(the first pattern that matches wins): this mount is never reached" in out), out


def test_dump_round_trips_regex_mounts(portico, tmp_path, bk, bk2):
    site = portico.site("rxdump")
    mounts = [
        site.mount("/"),
        {"mountpoint": "~* ^/Old/([^/]+)/(.*)$", "origin": ">https://new.example/$2/$1"},
        {"mountpoint": "~^/s/([a-z]+)(/.*)?$", "origin": "file://%s/$1$2" % site.docroot},
        {"mountpoint": "~^/lb/(.*)$",
         "origin": ["http://%s/l/$1" % bk.host, "http://%s/l/$1" % bk2.host]},
    ]
    site.write_config([site.vhost(mounts=mounts)], global_={
        "reject-service-keywords": [{"scumbot": "404 Not Found"}, {"~*^evil": "403"}]})
    rc, first, err = run_cli(["-T", "-c", str(site.root)])
    assert rc == 0, err
    strip = lambda t: re.sub(r"(?m)^#.*\n", "", t)  # noqa: E731
    d = json.loads(strip(first))
    got = d["vhosts"][0]["mounts"]
    for want, have in zip(mounts[1:], got[1:]):
        assert have["mountpoint"] == want["mountpoint"]
        assert have["origin"] == want["origin"]
    assert d["global"]["reject-service-keywords"] == [{"scumbot": "404 Not Found"},
                                                      {"~*^evil": "403"}]
    again = tmp_path / "again"
    (again / "conf.d").mkdir(parents=True)
    (again / "conf").write_text(first)
    rc, second, err = run_cli(["-T", "-c", str(again)])
    assert rc == 0, err
    assert strip(second) == strip(first)


# ---- reject-service-keywords -------------------------------------------------------


@pytest.fixture(scope="module")
def rsrv(portico):
    site = portico.site("reject")
    site.write("index.html", "welcome\n")
    return site.start(global_={"reject-service-keywords": [
        {"scumbot": "403"},
        {"~*^evil[0-9]+": "429 Too Many Requests"},
        {"BadBot/1.0": "404 Not Found"},
    ]})


@pytest.mark.parametrize("agent,status,keyword", [
    ("Mozilla/5.0 (compatible; scumbot/2.1)", 403, "scumbot"),
    ("EVIL42 crawler", 429, "~*^evil[0-9]+"),
    ("evil7", 429, "~*^evil[0-9]+"),
    ("x BadBot/1.0 y", 404, "BadBot/1.0"),
])
def test_rejected_agents(rsrv, agent, status, keyword):
    off = rsrv.log_size()
    r = rsrv.get("/", headers={"User-Agent": agent})
    assert r.status == status, (agent, r)
    assert '<span class="code">%d</span>' % status in r.text   # the styled error page
    log = rsrv.wait_log(off, "reject-service-keywords")
    assert ('%d User-Agent rejected by reject-service-keywords "%s"' % (status, keyword)) \
        in log, log


@pytest.mark.parametrize("agent", [
    "ScumBot",                 # substrings are case-sensitive, as in lwsws
    "my evil42",               # the pattern is anchored
    "evil",
    "curl/8.0",
    None,
])
def test_other_agents_are_served(rsrv, agent):
    headers = {"User-Agent": agent} if agent else None
    r = rsrv.get("/", headers=headers)
    assert r.status == 200 and r.text == "welcome\n", agent


@pytest.mark.parametrize("entry,msg", [
    ('{"bot": "200"}', '"reject-service-keywords": "bot": the status must be a 4xx or 5xx '
                       'code ("403" or "404 Not Found"), got "200"'),
    ('{"bot": "4040"}', 'got "4040"'),
    ('{"bot": "nope"}', 'got "nope"'),
])
def test_bad_reject_status_is_refused(portico, entry, msg):
    site = portico.site("rejbad")
    conf = '{"global": {\n  "count-threads": 1,\n  "reject-service-keywords": [%s]\n}}\n' % entry
    (site.root / "conf").write_text(conf)
    (site.confd / "v").write_text(json.dumps({"vhosts": [site.vhost()]}))
    rc, out = check(site)
    assert rc == 1, out
    line, col = position(conf, entry[entry.index(":") + 2:-1])
    lines = [ln for ln in out.splitlines()
             if ln.startswith("%s/conf:%d:%d: error: " % (site.root, line, col))]
    assert len(lines) == 1 and msg in lines[0], out


def test_bad_reject_pattern_is_refused(portico):
    site = portico.site("rejre")
    conf = '{"global": {\n  "count-threads": 1,\n  "reject-service-keywords": ' \
           '[{"~(bot": "403"}]\n}}\n'
    (site.root / "conf").write_text(conf)
    (site.confd / "v").write_text(json.dumps({"vhosts": [site.vhost()]}))
    rc, out = check(site)
    assert rc == 1, out
    line, col = position(conf, '"~(bot"')
    assert ('conf:%d:%d: error: "reject-service-keywords": "~(bot": invalid regular '
            'expression: missing closing parenthesis at offset 4 of "(bot"' % (line, col)) \
        in out, out
