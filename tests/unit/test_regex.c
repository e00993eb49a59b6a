/* Regular expressions (gateway/regex.c), the non-decoding normalizer that
 * checks a filled-in rest, and the order of pt_mount_route(): exact, then
 * regex in config order, then the longest prefix. */
#include <stdlib.h>
#include <string.h>

#include "gateway/config.h"
#include "gateway/mount.h"
#include "gateway/pool.h"
#include "gateway/regex.h"
#include "gateway/urlpath.h"
#include "tests/unit/check.h"

static struct pt_regex *compile(const char *spec)
{
    char why[256];
    size_t off;
    struct pt_regex *re = pt_regex_compile(spec, why, sizeof why, &off);
    if (!re)
        fprintf(stderr, "compile %s: %s at %zu\n", spec, why, off);
    return re;
}

static void test_spec(void)
{
    bool ci;
    CHECK(pt_regex_spec("~x"));
    CHECK(!pt_regex_spec("/x"));
    CHECK(!pt_regex_spec(NULL));
    CHECK_STR(pt_regex_pattern("~^/a", &ci), "^/a");
    CHECK(!ci);
    CHECK_STR(pt_regex_pattern("~*  ^/a", &ci), "^/a");
    CHECK(ci);
    CHECK_STR(pt_regex_pattern("~ \t\\.php$", &ci), "\\.php$");
    CHECK(!ci);
}

static void test_compile_errors(void)
{
    char why[256];
    size_t off = 99;
    CHECK(pt_regex_compile("~^/(a", why, sizeof why, &off) == NULL);
    CHECK(strstr(why, "missing closing parenthesis") != NULL);
    CHECK_INT(off, 4); /* the end of "^/(a" */
    CHECK(pt_regex_compile("~* x[", why, sizeof why, &off) == NULL);
    CHECK(strstr(why, "missing terminating ]") != NULL);
    CHECK_INT(off, 2); /* within "x[", past the blanks */
}

static void test_match(void)
{
    struct pt_regex *re = compile("~^/u/([0-9]+)(/.*)?$");
    struct pt_regex_caps caps;
    const char *why = NULL;
    const char *s = "/u/42/x";
    CHECK_INT(pt_regex_groups(re), 2);
    CHECK_INT(pt_regex_match(re, s, strlen(s), &caps, &why), 1);
    CHECK_INT(caps.start[0], 0);
    CHECK_INT(caps.end[0], 7);
    CHECK_INT(caps.start[1], 3);
    CHECK_INT(caps.end[1], 5);
    CHECK_INT(caps.start[2], 5);
    CHECK_INT(caps.end[2], 7);
    CHECK_INT(caps.end[3] - caps.start[3], 0); /* no such group: empty */
    s = "/u/42";
    CHECK_INT(pt_regex_match(re, s, strlen(s), &caps, &why), 1);
    CHECK_INT(caps.end[2] - caps.start[2], 0); /* unset group: empty */
    CHECK_INT(pt_regex_match(re, "/u/x", 4, &caps, &why), 0);
    /* len, not the NUL, bounds the subject. */
    CHECK_INT(pt_regex_match(re, "/u/42/x", 3, NULL, &why), 0);
    pt_regex_free(re);

    re = compile("~*^/CaSe/");
    CHECK_INT(pt_regex_match(re, "/case/x", 7, NULL, &why), 1);
    CHECK_INT(pt_regex_match(re, "/CASE/x", 7, NULL, &why), 1);
    pt_regex_free(re);
    re = compile("~^/CaSe/");
    CHECK_INT(pt_regex_match(re, "/case/x", 7, NULL, &why), 0);
    pt_regex_free(re);

    /* More groups than $0..$9 can name: the match still counts. */
    re = compile("~^(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)(l)$");
    CHECK_INT(pt_regex_match(re, "abcdefghijkl", 12, &caps, &why), 1);
    CHECK_INT(caps.start[9], 8);
    CHECK_INT(caps.end[9], 9);
    pt_regex_free(re);

    /* Bytes, not UTF-8: a Latin-1 path matches; a (*UTF) pattern does
     * not match a path that is not UTF-8, and is no failure either. */
    re = compile("~^/(.*)$");
    CHECK_INT(pt_regex_match(re, "/caf\xe9", 5, &caps, &why), 1);
    CHECK_INT(caps.end[1], 5);
    pt_regex_free(re);
    re = compile("~(*UTF)^/caf.$");
    CHECK_INT(pt_regex_match(re, "/caf\xe9", 5, NULL, &why), 0);
    CHECK_INT(pt_regex_match(re, "/caf\xc3\xa9", 6, NULL, &why), 1);
    pt_regex_free(re);
}

static void test_limits(void)
{
    /* 2^40 steps unbounded: stopped by the match limit. */
    struct pt_regex *re = compile("~^/(a+)+$");
    char path[64];
    path[0] = '/';
    memset(path + 1, 'a', 40);
    strcpy(path + 41, "b");
    const char *why = NULL;
    CHECK_INT(pt_regex_match(re, path, strlen(path), NULL, &why), -1);
    CHECK_STR(why, "regex match limit reached");
    CHECK_INT(pt_regex_match(re, "/aaa", 4, NULL, &why), 1);
    pt_regex_free(re);
    pt_regex_thread_cleanup();
    /* Match data comes back after a cleanup. */
    re = compile("~a");
    CHECK_INT(pt_regex_match(re, "xa", 2, NULL, &why), 1);
    pt_regex_free(re);
}

static void test_templates(void)
{
    CHECK(pt_regex_first_ref("/a/b") == NULL);
    CHECK(pt_regex_first_ref("/a$x/b") == NULL);
    CHECK_STR(pt_regex_first_ref("/a$x/$1/b"), "$1/b");
    CHECK_INT(pt_regex_max_ref("/x"), -1);
    CHECK_INT(pt_regex_max_ref("/$0"), 0);
    CHECK_INT(pt_regex_max_ref("/$2/$10/$1"), 2);

    struct pt_pool *pool = pt_pool_new(PT_POOL_STD);
    struct pt_regex *re = compile("~^/s/([a-z]+)/(.*)$");
    const char *path = "/s/alpha/a/b.html";
    struct pt_regex_caps caps;
    const char *why;
    size_t n;
    CHECK_INT(pt_regex_match(re, path, strlen(path), &caps, &why), 1);
    char *out = pt_regex_expand(pool, "/$1/htdocs/$2$x$3", path, &caps, &n);
    CHECK_STR(out, "/alpha/htdocs/a/b.html$x");
    CHECK_INT(n, strlen(out));
    CHECK_STR(pt_regex_expand(pool, "/$0", path, &caps, &n), "//s/alpha/a/b.html");
    pt_regex_free(re);
    pt_pool_free(pool);
}

static const char *clean(const char *in)
{
    static char out[256];
    return pt_path_clean(in, strlen(in), out) < 0 ? "(refused)" : out;
}

static void test_clean(void)
{
    CHECK_STR(clean("/a/b"), "/a/b");
    CHECK_STR(clean("//a//b/"), "/a/b/");
    CHECK_STR(clean("/a/./b/../c"), "/a/c");
    CHECK_STR(clean("/a/.."), "/");
    CHECK_STR(clean("/../x"), "(refused)");
    CHECK_STR(clean("/a/../../x"), "(refused)");
    /* Decoded already: '%' is a byte, "%2e%2e" a name. */
    CHECK_STR(clean("/%2e%2e/x"), "/%2e%2e/x");
    CHECK_STR(clean("/%41"), "/%41");
    CHECK_STR(clean("/a\nb"), "(refused)");
}

/* ---- route order ---- */

static struct pt_mount mk_mount(const char *mp, bool exact)
{
    struct pt_mount m;
    memset(&m, 0, sizeof m);
    m.mountpoint = (char *)mp;
    m.exact_match = exact;
    if (pt_regex_spec(mp))
        m.regex = compile(mp);
    else
        m.mountpoint_len = strlen(mp);
    return m;
}

static struct pt_pool *route_pool;

static const char *route(const struct pt_vhost *vh, const char *path, const char **rest)
{
    const struct pt_mount *m;
    const char *why;
    size_t n;
    switch (pt_mount_route(vh, path, strlen(path), route_pool, &m, rest, &n, &why)) {
    case PT_ROUTE_NONE:
        return "(none)";
    case PT_ROUTE_CLIMB:
        return "(climb)";
    case PT_ROUTE_FAILED:
        return "(failed)";
    case PT_ROUTE_OK:
        CHECK_INT(n, strlen(*rest));
        return m->mountpoint;
    }
    return "?";
}

static void test_route(void)
{
    struct pt_mount ms[] = {
        mk_mount("/", false),
        mk_mount("/img/long/path", false),
        mk_mount("~\\.jpg$", false),
        mk_mount("/x.jpg", true),
        mk_mount("~^/img/special", false),
        mk_mount("~*^/files/([a-z]+)/(.*)$", false),
        mk_mount("~^/(a+)+$", false),
    };
    ms[5].rest_tmpl = "/$1/htdocs/$2";
    struct pt_vhost vh;
    memset(&vh, 0, sizeof vh);
    vh.mounts = ms;
    vh.n_mounts = sizeof ms / sizeof ms[0];
    vh.has_regex = true;
    const char *rest;
    route_pool = pt_pool_new(PT_POOL_STD);

    CHECK_STR(route(&vh, "/x.jpg", &rest), "/x.jpg");          /* exact beats regex */
    CHECK_STR(rest, "");
    CHECK_STR(route(&vh, "/img/long/path/a.jpg", &rest), "~\\.jpg$"); /* regex beats prefix */
    CHECK_STR(rest, "/img/long/path/a.jpg");                  /* no template: the path */
    CHECK_STR(route(&vh, "/img/special/a.jpg", &rest), "~\\.jpg$"); /* first regex wins */
    CHECK_STR(route(&vh, "/img/special/a.png", &rest), "~^/img/special");
    CHECK_STR(route(&vh, "/img/long/path/a.png", &rest), "/img/long/path");
    CHECK_STR(rest, "/a.png");
    CHECK_STR(route(&vh, "/other", &rest), "/");

    CHECK_STR(route(&vh, "/FILES/alpha/a/b.html", &rest), "~*^/files/([a-z]+)/(.*)$");
    CHECK_STR(rest, "/alpha/htdocs/a/b.html");
    CHECK_STR(route(&vh, "/files/alpha/", &rest), "~*^/files/([a-z]+)/(.*)$");
    CHECK_STR(rest, "/alpha/htdocs/");
    /* $2 = "../../x" cannot come from a normalized path; ".." from side
     * by side captures is still refused: */
    ms[5].rest_tmpl = "/$1$2";
    CHECK_STR(route(&vh, "/files/x/", &rest), "~*^/files/([a-z]+)/(.*)$");
    CHECK_STR(rest, "/x");
    ms[5].rest_tmpl = "/$2/../..";
    CHECK_STR(route(&vh, "/files/x/a", &rest), "(climb)");
    ms[5].rest_tmpl = "/$2/..";
    CHECK_STR(route(&vh, "/files/x/a", &rest), "~*^/files/([a-z]+)/(.*)$");
    CHECK_STR(rest, "/");

    char bad[64] = "/";
    memset(bad + 1, 'a', 40);
    strcpy(bad + 41, "b");
    CHECK_STR(route(&vh, bad, &rest), "(failed)");
    CHECK(pt_mount_match(&vh, bad, strlen(bad)) == &ms[6]);

    /* A vhost that says it has no regex mounts tries no pattern. */
    vh.has_regex = false;
    CHECK_STR(route(&vh, "/img/long/path/a.jpg", &rest), "/img/long/path");
    CHECK_STR(route(&vh, bad, &rest), "/");

    /* An exact mount wins over a prefix one of the same mountpoint,
     * wherever it stands. */
    struct pt_mount ms2[] = { mk_mount("/d", false), mk_mount("/d", true) };
    vh.mounts = ms2;
    vh.n_mounts = 2;
    CHECK(pt_mount_match(&vh, "/d", 2) == &ms2[1]);
    CHECK(pt_mount_match(&vh, "/d/x", 4) == &ms2[0]);

    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        pt_regex_free(ms[i].regex);
    pt_pool_free(route_pool);
}

int main(void)
{
    test_spec();
    test_compile_errors();
    test_match();
    test_limits();
    test_templates();
    test_clean();
    test_route();
    pt_regex_thread_cleanup();
    return check_done("regex");
}
