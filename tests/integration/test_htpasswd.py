"""basic-auth files with hashed passwords, as Debian's htpasswd (apache2-utils)
and mkpasswd (whois) write them, made at test time; plaintext lines as lwsws
reads them; the log line of a failed login; the file re-read when it changes
on disk; and the load-time warnings."""

import base64
import os
import re
import shutil
import subprocess
import time

import pytest

from ptserver import run_cli

pytestmark = pytest.mark.skipif(
    not (shutil.which("htpasswd") and shutil.which("mkpasswd")),
    reason="needs htpasswd (apache2-utils) and mkpasswd (whois)")


def htpasswd(*args):
    out = subprocess.run(["htpasswd", "-nb"] + list(args), check=True,
                         stdout=subprocess.PIPE).stdout.decode()
    return out.strip()


def mkpasswd(method, user, pw):
    out = subprocess.run(["mkpasswd", "-m", method, pw], check=True,
                         stdout=subprocess.PIPE).stdout.decode()
    return "%s:%s" % (user, out.strip())


# user -> (password, the line's hash prefix)
USERS = {
    "bc": ("bc-pw", "$2y$"),
    "md": ("md5:pw", "$apr1$"),
    "sh": ("sha pw", "{SHA}"),
    "s5": ("s512pw", "$6$"),
    "s2": ("s256pw", "$5$"),
    "ye": ("yes-pw", "$y$"),
    "mk": ("mk-pw", "$6$"),
    "pl": ("plain:pw", None),
    "un": ("$1$abc$def", None),  # an unknown scheme: plaintext, with a warning
}


def user_lines():
    lines = [
        htpasswd("-B", "-C", "5", "bc", USERS["bc"][0]),
        htpasswd("-m", "md", USERS["md"][0]),
        htpasswd("-s", "sh", USERS["sh"][0]),
        htpasswd("-5", "s5", USERS["s5"][0]),
        htpasswd("-2", "s2", USERS["s2"][0]),
        mkpasswd("yescrypt", "ye", USERS["ye"][0]),
        mkpasswd("sha-512", "mk", USERS["mk"][0]),
        "pl:" + USERS["pl"][0],
        "un:" + USERS["un"][0],
    ]
    for line in lines:
        user, _, stored = line.partition(":")
        prefix = USERS[user][1]
        assert prefix is None or stored.startswith(prefix), line
    return lines


def basic(user, pw):
    return "Basic " + base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()


def start(portico, name, users_text, **vhost_kw):
    site = portico.site(name)
    site.write("priv/s.txt", "secret\n")
    users = site.write("users", users_text, base=site.root)
    mounts = [site.mount("/"),
              site.mount("/priv", "file://%s" % (site.docroot / "priv"),
                         **{"basic-auth": "users"})]
    srv = site.start(vhosts=[site.vhost(mounts=mounts, **vhost_kw)])
    return srv, users


@pytest.fixture(scope="module")
def srv(portico):
    return start(portico, "hashed", "# test users\n" + "\n".join(user_lines()) + "\n")[0]


def get(srv, user, pw):
    return srv.get("/priv/s.txt", headers={"Authorization": basic(user, pw)})


@pytest.mark.parametrize("user", sorted(USERS))
def test_hashed_and_plain_users_accepted(srv, user):
    r = get(srv, user, USERS[user][0])
    assert r.status == 200 and r.body == b"secret\n", (user, r)


@pytest.mark.parametrize("user", sorted(USERS))
def test_wrong_password_refused(srv, user):
    pw = USERS[user][0]
    for wrong in (pw + "x", pw[:-1], pw.upper() if pw.upper() != pw else pw + "X", ""):
        r = get(srv, user, wrong)
        assert r.status == 401, (user, wrong, r)
        assert (r.header("WWW-Authenticate") or "").startswith('Basic realm="localhost"')


def test_hash_is_not_the_password(srv):
    line = next(ln for ln in (srv.site.root / "users").read_text().splitlines()
                if ln.startswith("bc:"))
    assert get(srv, "bc", line[3:]).status == 401


def test_unknown_user_refused(srv):
    assert get(srv, "nobody", "bc-pw").status == 401


def test_unknown_scheme_warned_at_its_line(srv):
    users = srv.site.root / "users"
    n = next(i for i, ln in enumerate(users.read_text().splitlines(), 1)
             if ln.startswith("un:"))
    log = srv.log()
    assert re.search(r"%s:%d:4: warning: basic-auth: user \"un\": .*does not know"
                     % (re.escape(str(users)), n), log), log
    # one warning: the hashed lines are all known
    assert len(re.findall(r"warning: basic-auth", log)) == 1, log


def quiet_second():
    """The 401 lines are rate-limited (10 a second, then a count): the
    tests before may have used this second's."""
    time.sleep(1.1)


def test_failed_login_logged_without_password(srv):
    quiet_second()
    off = srv.log_size()
    r = get(srv, "bc", "Hunter2-NOT-IN-LOG")
    assert r.status == 401
    text = srv.wait_log(off, r"bad credentials for user")
    lines = [ln for ln in text.splitlines() if "bad credentials" in ln]
    assert len(lines) == 1, text
    line = lines[0]
    assert "[info]" in line, line
    assert '127.0.0.1' in line and 'user "bc"' in line and "(mount /priv)" in line, line
    assert "Hunter2" not in srv.log()


def test_failed_login_user_escaped_and_truncated(srv):
    quiet_second()
    off = srv.log_size()
    name = 'ev"il\\' + "\x7f" + "a" * 100
    r = srv.get("/priv/s.txt", headers={
        "Authorization": "Basic " + base64.b64encode(
            (name + ":pw-NOT-IN-LOG").encode("latin-1")).decode()})
    assert r.status == 401
    text = srv.wait_log(off, r"bad credentials for user")
    line = next(ln for ln in text.splitlines() if "bad credentials" in ln)
    assert 'user "ev\\x22il\\x5c\\x7f' + "a" * 57 + '..."' in line, line
    assert "pw-NOT-IN-LOG" not in srv.log()


def test_no_credentials_still_challenged(srv):
    r = srv.get("/priv/s.txt")
    assert r.status == 401
    assert r.header("WWW-Authenticate") == 'Basic realm="localhost", charset="UTF-8"'


def test_good_login_is_cached(portico):
    """A costly bcrypt pays once: the same Authorization again is answered
    from the cache."""
    line = htpasswd("-B", "-C", "13", "slow", "slow-pw")
    srv = start(portico, "cached", line + "\n")[0]
    t0 = time.monotonic()
    assert get(srv, "slow", "slow-pw").status == 200
    first = time.monotonic() - t0
    times = []
    for _ in range(3):
        t0 = time.monotonic()
        assert get(srv, "slow", "slow-pw").status == 200
        times.append(time.monotonic() - t0)
    assert first > 0.2, first  # bcrypt at cost 13 is slow by design
    assert min(times) < first / 4, (first, times)
    # a wrong password is never cached
    t0 = time.monotonic()
    assert get(srv, "slow", "slow-px").status == 401
    assert time.monotonic() - t0 > first / 4


def wait_status(srv, user, pw, status, timeout=3.0):
    """Polls until the credentials get status; returns the seconds taken
    (or None)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if get(srv, user, pw).status == status:
            return time.monotonic() - t0
        time.sleep(0.1)
    return None


def rewrite(path, text):
    path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_file_reread_when_changed(portico):
    srv, users = start(portico, "reread", "pl:one\n")
    assert get(srv, "pl", "one").status == 200
    off = srv.log_size()
    rewrite(users, htpasswd("-m", "pl", "two") + "\nnu:new\n")
    took = wait_status(srv, "nu", "new", 200)
    assert took is not None and took < 2.5, took
    assert get(srv, "pl", "two").status == 200
    assert get(srv, "pl", "one").status == 401  # not from the cache either
    assert re.search(r're-reading ".*users": 2 users', srv.log_since(off)), srv.log_since(off)

    # A bad file keeps the last good list, with one warning per change.
    off = srv.log_size()
    rewrite(users, "pl:$2y$garbled\n")
    end = time.monotonic() + 2.5
    while time.monotonic() < end:
        assert get(srv, "pl", "two").status == 200
        time.sleep(0.2)
    text = srv.log_since(off)
    warnings = [ln for ln in text.splitlines() if "stay in force" in ln]
    assert len(warnings) == 1, text
    assert re.search(r'users:1:4: error: basic-auth: user "pl"', warnings[0]), warnings
    assert "garbled" not in text

    # Gone: still the last good list, one warning.
    off = srv.log_size()
    users.unlink()
    end = time.monotonic() + 2.5
    while time.monotonic() < end:
        assert get(srv, "nu", "new").status == 200
        time.sleep(0.2)
    text = srv.log_since(off)
    assert len([ln for ln in text.splitlines() if "stay in force" in ln]) == 1, text

    # Back: read again.
    rewrite(users, "pl:three\n")
    assert wait_status(srv, "pl", "three", 200) is not None
    assert get(srv, "nu", "new").status == 401


def config_check(portico, name, **vhost_kw):
    site = portico.site(name)
    site.write("users", "u:p\n", base=site.root)
    mount = site.mount("/priv", "file://%s" % site.docroot, **{"basic-auth": "users"})
    vhost = site.vhost(mounts=[site.mount("/"), mount], **vhost_kw)
    if vhost["interface"] is None:
        del vhost["interface"]  # every address
    site.write_config(vhosts=[vhost])
    rc, out, err = run_cli(["-t", "-c", str(site.root)])
    return rc, out + err, site


def test_plaintext_vhost_on_every_address_warned(portico):
    rc, text, site = config_check(portico, "exposed", interface=None)
    assert rc == 0, text
    m = re.search(r"10-vhosts:(\d+):(\d+): warning: basic-auth on mount \"/priv\" of vhost "
                  r"\"localhost\", which is plaintext HTTP", text)
    assert m, text
    line = (site.confd / "10-vhosts").read_text().splitlines()[int(m.group(1)) - 1]
    assert '"basic-auth"' in line, line


def test_plaintext_vhost_on_loopback_not_warned(portico):
    for iface in ("127.0.0.1", "::1", "lo"):
        rc, text, _ = config_check(portico, "loopback", interface=iface)
        assert rc == 0, text
        assert "plaintext HTTP" not in text, (iface, text)


def test_unknown_scheme_warned_by_check(portico):
    site = portico.site("unknown")
    site.write("users", "a:x\nb:{SSHA}abcdef\n", base=site.root)
    mount = site.mount("/priv", "file://%s" % site.docroot, **{"basic-auth": "users"})
    site.write_config(vhosts=[site.vhost(mounts=[mount])])
    rc, out, err = run_cli(["-t", "-c", str(site.root)])
    text = out + err
    assert rc == 0, text
    assert re.search(r"/users:2:3: warning: basic-auth: user \"b\": the password looks like "
                     r"a hash of a scheme portico does not know", text), text


def test_garbled_hash_is_an_error(portico):
    site = portico.site("garbled")
    site.write("users", "a:x\nb:$apr1$salt$short\n", base=site.root)
    mount = site.mount("/priv", "file://%s" % site.docroot, **{"basic-auth": "users"})
    site.write_config(vhosts=[site.vhost(mounts=[mount])])
    rc, out, err = run_cli(["-t", "-c", str(site.root)])
    text = out + err
    assert rc == 1, text
    assert re.search(r"/users:2:3: error: basic-auth: user \"b\"", text), text
    assert "short" not in text
