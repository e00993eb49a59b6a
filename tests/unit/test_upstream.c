/* Proxy origins: the forms nginx users write, and the mistakes. */
#include <string.h>

#include "proxy/upstream.h"
#include "tests/unit/check.h"

static void ok(const char *origin, const char *name, const char *host_header,
               const char *prefix, int port, bool tls, bool unix_socket)
{
    struct pt_upstream u;
    const char *why = NULL;
    CHECK_INT(pt_upstream_parse(&u, origin, &why), 0);
    if (u.name) {
        CHECK_STR(u.name, name);
        CHECK_STR(u.host_header, host_header);
        CHECK_STR(u.prefix, prefix);
        CHECK_INT(u.prefix_len, strlen(prefix));
        CHECK_INT(u.port, port);
        CHECK(u.tls == tls);
        CHECK(u.unix_socket == unix_socket);
    }
    pt_upstream_free(&u);
}

static void bad(const char *origin, const char *why_has)
{
    struct pt_upstream u;
    const char *why = NULL;
    CHECK_INT(pt_upstream_parse(&u, origin, &why), -1);
    CHECK(why && strstr(why, why_has));
    pt_upstream_free(&u);
}

static void test_parse(void)
{
    ok("http://127.0.0.1:9000/app", "127.0.0.1:9000", "127.0.0.1:9000", "/app", 9000, false, false);
    ok("http://backend", "backend:80", "backend", "", 80, false, false);
    ok("http://backend:80/", "backend:80", "backend", "", 80, false, false);
    ok("https://backend.example/x/y/", "backend.example:443", "backend.example", "/x/y", 443,
       true, false);
    ok("https://b:8443", "b:8443", "b:8443", "", 8443, true, false);
    ok("http://[::1]:8080/p", "[::1]:8080", "[::1]:8080", "/p", 8080, false, false);
    ok("http://[::1]", "[::1]:80", "[::1]", "", 80, false, false);
    ok("HTTP://Backend:81/A%20b", "Backend:81", "Backend:81", "/A%20b", 81, false, false);
    ok("http://unix:/run/app.sock:/prefix", "unix:/run/app.sock", "localhost", "/prefix", 0,
       false, true);
    ok("http://unix:/run/app.sock", "unix:/run/app.sock", "localhost", "", 0, false, true);

    bad("ftp://x", "http://");
    bad("http://", "no host");
    bad("http:///x", "no host");
    bad("http://:80/x", "no host");
    bad("http://h:0/", "port");
    bad("http://h:65536/", "port");
    bad("http://h:8x/", "port");
    bad("http://[::1/", "']'");
    bad("http://[::1]x/", "after the IPv6");
    bad("http://user@h/", "'@'");
    bad("http://h/a b", "space");
    bad("http://h/a?q", "'?'");
    bad("http://unix:run.sock:/p", "absolute path");
}

static void test_resolve(void)
{
    struct pt_upstream u;
    const char *why;
    char err[128];
    CHECK_INT(pt_upstream_parse(&u, "http://127.0.0.1:8080/", &why), 0);
    CHECK_INT(pt_upstream_resolve(&u, err, sizeof err), 0);
    CHECK_INT(u.n_addrs, 1);
    pt_upstream_free(&u);
    CHECK_INT(pt_upstream_parse(&u, "http://unix:/tmp/x.sock", &why), 0);
    CHECK_INT(pt_upstream_resolve(&u, err, sizeof err), 0);
    CHECK_INT(u.n_addrs, 1);
    pt_upstream_free(&u);
    CHECK_INT(pt_upstream_parse(&u, "http://no-such-host.invalid/", &why), 0);
    CHECK_INT(pt_upstream_resolve(&u, err, sizeof err), -1);
    CHECK(err[0] != '\0');
    pt_upstream_free(&u);
}

int main(void)
{
    test_parse();
    test_resolve();
    return check_done("upstream");
}
