/* Routing: origin parsing, mountpoint matching, the rest of the path, vhost
 * selection, pt_dispatch() and the redirect handler. */
#include <stdlib.h>
#include <string.h>

#include "gateway/config.h"
#include "gateway/diag.h"
#include "gateway/pool.h"
#include "gateway/request.h"
#include "gateway/vhost.h"
#include "cgi/cgi.h"
#include "gateway/handler.h"
#include "gateway/mount.h"
#include "main/builtin.h"
#include "mounts/mounts.h"
#include "plugins/plugins.h"
#include "proxy/proxy.h"
#include "tests/unit/check.h"

/* ---- origins ---- */

static void test_origin_ok(const char *origin, const struct pt_handler *want,
                           const char *want_target)
{
    size_t len = 0;
    const struct pt_handler *h = pt_handler_for_origin(origin, &len);
    CHECK(h == want);
    CHECK_STR(origin + len, want_target);
}

static void test_origin_bad(const char *origin)
{
    size_t len = 1;
    CHECK(pt_handler_for_origin(origin, &len) == NULL);
    CHECK_INT(len, 0);
}

static void test_origins(void)
{
    test_origin_ok("file:///srv/www", &pt_handler_file, "/srv/www");
    test_origin_ok("file://./www", &pt_handler_file, "./www");
    test_origin_ok("file:///usr/share/libwebsockets-test-server",
                   &pt_handler_file, "/usr/share/libwebsockets-test-server");
    test_origin_ok(">http://example.com/", &pt_handler_redirect, "example.com/");
    test_origin_ok(">https://example.com/x", &pt_handler_redirect, "example.com/x");
    test_origin_ok("cgi:///usr/lib/cgi-bin/x.sh", &pt_handler_cgi,
                   "/usr/lib/cgi-bin/x.sh");
    test_origin_ok("http://127.0.0.1:8080/api", &pt_handler_proxy,
                   "127.0.0.1:8080/api");
    test_origin_ok("https://backend", &pt_handler_proxy, "backend");
    test_origin_ok("callback://protocol-post-demo", &pt_handler_callback,
                   "protocol-post-demo");
    test_origin_ok("FILE:///x", &pt_handler_file, "/x");
    test_origin_ok("file://", &pt_handler_file, ""); /* the loader refuses it */

    test_origin_bad("ftp://x");
    test_origin_bad("/srv/www");
    test_origin_bad("");
    test_origin_bad(">ftp://x");
    test_origin_bad("file:/x");
    CHECK(strstr(pt_handler_schemes(), "file://") != NULL);
    CHECK(strstr(pt_handler_schemes(), ">https://") != NULL);
    CHECK(strstr(pt_handler_schemes(), "callback://") != NULL);

    /* Registration refuses another ABI, an incomplete handler and a
     * scheme already taken. */
    static const char *const taken[] = {"file://", NULL};
    static const char *const fresh[] = {"fresh://", NULL};
    struct pt_handler h = {
        .abi_version = PT_HANDLER_ABI + 1, .struct_size = sizeof(struct pt_handler),
        .name = "t", .schemes = fresh, .handle = NULL,
    };
    CHECK_INT(pt_handler_register(&h), -1);
    h.abi_version = PT_HANDLER_ABI;
    CHECK_INT(pt_handler_register(&h), -1); /* no handle() */
    h.handle = pt_handler_file.handle;
    h.schemes = taken;
    CHECK_INT(pt_handler_register(&h), -1);
    CHECK(pt_handler_for_origin("fresh://x", &(size_t){0}) == NULL);
}

/* ---- mount matching ---- */

static struct pt_mount mk_mount(const char *mp, bool exact)
{
    struct pt_mount m;
    memset(&m, 0, sizeof m);
    m.mountpoint = (char *)mp;
    m.mountpoint_len = strlen(mp);
    m.exact_match = exact;
    return m;
}

static const char *match(const struct pt_vhost *vh, const char *path)
{
    const struct pt_mount *m = pt_mount_match(vh, path, strlen(path));
    return m ? m->mountpoint : "(none)";
}

static void test_mount_match(void)
{
    struct pt_mount ms[] = {
        mk_mount("/foo", false),
        mk_mount("/a", false),
        mk_mount("/a/b", false),
        mk_mount("/x", true),
    };
    struct pt_vhost vh;
    memset(&vh, 0, sizeof vh);
    vh.mounts = ms;
    vh.n_mounts = sizeof ms / sizeof ms[0];

    CHECK_STR(match(&vh, "/foo"), "/foo");
    CHECK_STR(match(&vh, "/foo/"), "/foo");
    CHECK_STR(match(&vh, "/foo/x"), "/foo");
    CHECK_STR(match(&vh, "/foobar"), "(none)");
    CHECK_STR(match(&vh, "/fo"), "(none)");
    CHECK_STR(match(&vh, "/"), "(none)");
    CHECK_STR(match(&vh, "/a"), "/a");
    CHECK_STR(match(&vh, "/a/c"), "/a");
    CHECK_STR(match(&vh, "/a/b"), "/a/b");
    CHECK_STR(match(&vh, "/a/b/c"), "/a/b");
    CHECK_STR(match(&vh, "/a/bc"), "/a");
    CHECK_STR(match(&vh, "/x"), "/x");
    CHECK_STR(match(&vh, "/x/"), "/x");
    CHECK_STR(match(&vh, "/x/y"), "(none)");
    CHECK_STR(match(&vh, "/xy"), "(none)");
    CHECK(pt_mount_match(NULL, "/", 1) == NULL);

    /* The same table with a catch-all: "/" takes whatever nothing longer
     * takes, wherever it sits in the list. */
    struct pt_mount ms2[] = {
        mk_mount("/a/b", false),
        mk_mount("/", false),
        mk_mount("/a", false),
        mk_mount("/x", true),
    };
    vh.mounts = ms2;
    vh.n_mounts = sizeof ms2 / sizeof ms2[0];
    CHECK_STR(match(&vh, "/"), "/");
    CHECK_STR(match(&vh, "/foobar"), "/");
    CHECK_STR(match(&vh, "/a/b/c"), "/a/b");
    CHECK_STR(match(&vh, "/a/x"), "/a");
    CHECK_STR(match(&vh, "/ab"), "/");
    CHECK_STR(match(&vh, "/x/y"), "/");
    CHECK_STR(match(&vh, "/x"), "/x");

    /* An exact "/" takes only "/". */
    struct pt_mount ms3[] = { mk_mount("/", true) };
    vh.mounts = ms3;
    vh.n_mounts = 1;
    CHECK_STR(match(&vh, "/"), "/");
    CHECK_STR(match(&vh, "/a"), "(none)");

    /* Duplicate mountpoints: the first in config order wins. */
    struct pt_mount ms4[] = { mk_mount("/d", false), mk_mount("/d", false) };
    vh.mounts = ms4;
    vh.n_mounts = 2;
    CHECK(pt_mount_match(&vh, "/d/1", 4) == &ms4[0]);

    /* The matcher honours len, not the NUL. */
    vh.mounts = ms;
    vh.n_mounts = sizeof ms / sizeof ms[0];
    CHECK(pt_mount_match(&vh, "/foobar", 4) == &ms[0]);
}

static const char *rest_of(const char *mp, const char *path)
{
    struct pt_mount m = mk_mount(mp, false);
    size_t n = 99;
    const char *r = pt_mount_rest(&m, path, strlen(path), &n);
    CHECK_INT(n, strlen(r));
    return r;
}

static void test_rest(void)
{
    CHECK_STR(rest_of("/", "/"), "/");
    CHECK_STR(rest_of("/", "/a/b"), "/a/b");
    CHECK_STR(rest_of("/foo", "/foo"), "");
    CHECK_STR(rest_of("/foo", "/foo/"), "/");
    CHECK_STR(rest_of("/foo", "/foo/x"), "/x");
    CHECK_STR(rest_of("/a/b", "/a/b/c/d"), "/c/d");
}

/* ---- vhosts ---- */

static void test_vhost_select(void)
{
    struct pt_vhost v[5];
    memset(v, 0, sizeof v);
    v[0].name = "localhost";
    v[1].name = "abc.com";
    v[2].name = "sub.abc.com";
    v[3].name = "Example.ORG";
    v[4].name = "www.abc.com";
    struct pt_vhost *ptrs[] = { &v[0], &v[1], &v[2], &v[3], &v[4] };
    struct pt_listen l = { .port = 80, .vhosts = ptrs, .n_vhosts = 5 };

#define SEL(h) pt_vhost_select(&l, (h), strlen(h))
    CHECK(SEL("localhost") == &v[0]);
    CHECK(SEL("abc.com") == &v[1]);
    CHECK(SEL("cats.abc.com") == &v[1]);
    CHECK(SEL("sub.abc.com") == &v[2]);
    CHECK(SEL("deep.sub.abc.com") == &v[2]);   /* longest suffix */
    CHECK(SEL("www.abc.com") == &v[4]);
    CHECK(SEL("xabc.com") == &v[0]);            /* not on a '.' boundary */
    CHECK(SEL("xsub.abc.com") == &v[1]);
    CHECK(SEL("bc.com") == &v[0]);
    CHECK(SEL("example.org") == &v[3]);         /* case-insensitive */
    CHECK(SEL("A.EXAMPLE.org") == &v[3]);
    CHECK(SEL("ABC.COM") == &v[1]);
    CHECK(SEL("abc.com.") == &v[1]);            /* fully qualified */
    CHECK(SEL("unknown.net") == &v[0]);         /* default: first */
    CHECK(SEL("com") == &v[0]);
    CHECK(SEL(".abc.com") == &v[1]);
    CHECK(SEL("") == &v[0]);
    CHECK(pt_vhost_select(&l, NULL, 0) == &v[0]);
    CHECK(pt_vhost_select(&l, "abc.comx", 7) == &v[1]); /* honours len */
#undef SEL

    struct pt_listen empty = { .port = 80 };
    CHECK(pt_vhost_select(&empty, "abc.com", 7) == NULL);
}

/* ---- dispatch and the redirect handler ---- */

static int responses;

static void fake_respond(struct pt_req *r) { responses++; }
static void fake_resume(struct pt_req *r) {}
static const struct pt_proto fake_proto = {
    .name = "fake", .respond = fake_respond, .resume = fake_resume,
};

static const char *seen_rest;
static const struct pt_mount *seen_mount;
static void capture_handle(struct pt_req *r)
{
    seen_rest = pt_pool_strndup(r->pool, r->rest, r->rest_len);
    seen_mount = r->mount;
    pt_respond_buf(r, 200, "text/plain", "ok", 2);
}
static const struct pt_handler capture_handler = {
    .name = "capture", .handle = capture_handle,
};

static struct pt_config conf;

static void req_init(struct pt_req *r, struct pt_pool *pool,
                     const struct pt_listen *l, const char *host,
                     const char *path, const char *query)
{
    memset(r, 0, sizeof *r);
    r->pool = pool;
    r->proto = &fake_proto;
    r->conf = &conf;
    r->listen = l;
    r->method = PT_M_GET;
    r->method_str = "GET";
    r->method_len = 3;
    r->version = 11;
    r->path = path;
    r->path_len = strlen(path);
    r->target = path;
    r->target_len = r->path_len;
    r->query = query;
    r->query_len = query ? strlen(query) : 0;
    r->authority = host;
    r->authority_len = host ? strlen(host) : 0;
    r->content_length = -1;
}

static void req_end(struct pt_req *r)
{
    if (r->body && r->body->close)
        r->body->close(r);
    r->body = NULL;
}

static const char *resp_header(const struct pt_req *r, const char *name)
{
    for (size_t i = 0; i < r->n_resp_hdrs; i++)
        if (strcasecmp(r->resp_hdrs[i].name, name) == 0)
            return r->resp_hdrs[i].value;
    return NULL;
}

static const char *resp_body(struct pt_req *r)
{
    static char buf[4096];
    size_t n = 0;
    ssize_t got;
    while (r->body && n < sizeof buf - 1 &&
           (got = r->body->read(r, buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t)got;
    buf[n] = '\0';
    return buf;
}

static void test_dispatch(void)
{
    struct pt_mount am[2], bm[1];
    am[0] = mk_mount("/", false);
    am[1] = mk_mount("/app", false);
    bm[0] = mk_mount("/only", false);
    for (int i = 0; i < 2; i++) {
        am[i].handler = &capture_handler;
        am[i].ready = true;
    }
    bm[0].handler = &capture_handler;
    bm[0].ready = true;

    struct pt_vhost v[2];
    memset(v, 0, sizeof v);
    v[0].name = "a.test";
    v[0].mounts = am;
    v[0].n_mounts = 2;
    v[1].name = "b.test";
    v[1].mounts = bm;
    v[1].n_mounts = 1;
    for (int i = 0; i < 2; i++)
        v[i].access_log_fd = -1;
    struct pt_vhost *ptrs[] = { &v[0], &v[1] };
    struct pt_listen l = { .port = 80, .vhosts = ptrs, .n_vhosts = 2 };

    struct {
        const char *host, *path;
        const struct pt_vhost *vh;
        const struct pt_mount *m;
        const char *rest;
        int status;
    } cases[] = {
        { "a.test", "/", &v[0], &am[0], "/", 200 },
        { "a.test", "/app", &v[0], &am[1], "", 200 },
        { "a.test", "/app/", &v[0], &am[1], "/", 200 },
        { "a.test", "/app/x/y", &v[0], &am[1], "/x/y", 200 },
        { "a.test", "/apple", &v[0], &am[0], "/apple", 200 },
        { "x.b.test", "/only/1", &v[1], &bm[0], "/1", 200 },
        { "b.test", "/other", &v[1], NULL, NULL, 404 },
        { NULL, "/app/z", &v[0], &am[1], "/z", 200 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct pt_pool *pool = pt_pool_new(0);
        struct pt_req r;
        req_init(&r, pool, &l, cases[i].host, cases[i].path, NULL);
        seen_rest = NULL;
        seen_mount = NULL;
        responses = 0;
        pt_dispatch(&r);
        CHECK_INT(responses, 1);
        CHECK_INT(r.status, cases[i].status);
        CHECK(r.vhost == cases[i].vh);
        CHECK(r.mount == cases[i].m);
        CHECK(seen_mount == cases[i].m);
        if (cases[i].rest) {
            CHECK_STR(seen_rest, cases[i].rest);
            CHECK_STR(r.rest, cases[i].rest);
        }
        req_end(&r);
        pt_pool_free(pool);
    }

    /* Re-dispatch (error-document) keeps the vhost already chosen. */
    struct pt_pool *pool = pt_pool_new(0);
    struct pt_req r;
    req_init(&r, pool, &l, "a.test", "/only/e", NULL);
    r.vhost = &v[1];
    pt_dispatch(&r);
    CHECK_INT(r.status, 200);
    CHECK(r.vhost == &v[1]);
    CHECK(r.mount == &bm[0]);
    req_end(&r);
    pt_pool_free(pool);
}

/* What the loader does with an origin: the handler and target, and its
 * options (zeroed: defaults). */
static void set_origin(struct pt_mount *m, const char *origin)
{
    static union { struct pt_redirect_opts r; struct pt_cgi_opts c; char any[64]; } opts[16];
    static size_t n_opts;
    size_t len = 0;
    m->origin = (char *)origin;
    m->handler = pt_handler_for_origin(origin, &len);
    CHECK(m->handler != NULL);
    m->handler_slot = pt_handler_slot(m->handler);
    m->target = (char *)origin + len;
    memset(&opts[n_opts % 16], 0, sizeof opts[0]);
    m->opts = &opts[n_opts++ % 16];
}

static struct pt_mount redirect_mount(const char *origin, bool append)
{
    struct pt_mount m = mk_mount("/r", false);
    set_origin(&m, origin);
    ((struct pt_redirect_opts *)m.opts)->append_path = append;
    return m;
}

/* Dispatches path (+ query) to a one-mount vhost; returns the status and
 * copies Location and the body out before the pool goes. */
static int dispatch_one(struct pt_mount *m, const char *path,
                        const char *query, char *loc, size_t loc_size,
                        const char **body)
{
    struct pt_vhost vh;
    memset(&vh, 0, sizeof vh);
    vh.name = "r.test";
    vh.mounts = m;
    vh.n_mounts = 1;
    vh.access_log_fd = -1;
    struct pt_vhost *ptrs[] = { &vh };
    struct pt_listen l = { .port = 80, .vhosts = ptrs, .n_vhosts = 1 };
    struct pt_pool *pool = pt_pool_new(0);
    struct pt_req r;
    req_init(&r, pool, &l, "r.test", path, query);
    responses = 0;
    pt_dispatch(&r);
    CHECK_INT(responses, 1);
    const char *v = resp_header(&r, "Location");
    snprintf(loc, loc_size, "%s", v ? v : "(none)");
    const char *b = resp_body(&r);
    if (body)
        *body = b;
    req_end(&r);
    pt_pool_free(pool);
    return r.status;
}

static const char *redirect(struct pt_mount *m, const char *path,
                            const char *query, const char **body)
{
    static char loc[1024];
    CHECK_INT(dispatch_one(m, path, query, loc, sizeof loc, body), 301);
    return loc;
}

static void test_redirect(void)
{
    struct pt_diag d = { 0 };
    d.out = fopen("/dev/null", "w");

    struct pt_mount m = redirect_mount(">https://x.test/y/", false);
    CHECK_INT(pt_mount_setup(&m, &d), 0);
    CHECK(m.handler == &pt_handler_redirect);
    const char *body = NULL;
    CHECK_STR(redirect(&m, "/r/a", "q=1", &body), "https://x.test/y/");
    CHECK(strstr(body, "href=\"https://x.test/y/\"") != NULL);
    pt_mount_teardown(&m);

    m = redirect_mount(">https://x.test/y/", true);
    CHECK_INT(pt_mount_setup(&m, &d), 0);
    CHECK_STR(redirect(&m, "/r/a", NULL, NULL), "https://x.test/y/a");
    CHECK_STR(redirect(&m, "/r", NULL, NULL), "https://x.test/y/");
    CHECK_STR(redirect(&m, "/r/a/b", "q=1&r=2", NULL),
              "https://x.test/y/a/b?q=1&r=2");
    CHECK_STR(redirect(&m, "/r/a", "", NULL), "https://x.test/y/a?");
    /* Decoded bytes go back out encoded; nothing can split the header. */
    CHECK_STR(redirect(&m, "/r/a b\r\n%?#\x7f\xc3\xa9", "x=\r\n y#", NULL),
              "https://x.test/y/a%20b%0D%0A%25%3F%23%7F%C3%A9?x=%0D%0A%20y%23");
    CHECK_STR(redirect(&m, "/r/<i>\"", NULL, &body),
              "https://x.test/y/%3Ci%3E%22");
    pt_mount_teardown(&m);

    m = redirect_mount(">http://x.test/base", true);
    CHECK_INT(pt_mount_setup(&m, &d), 0);
    CHECK_STR(redirect(&m, "/r/a", NULL, NULL), "http://x.test/base/a");
    CHECK_STR(redirect(&m, "/r", "k", NULL), "http://x.test/base?k");
    pt_mount_teardown(&m);

    /* The body escapes what it shows. */
    m = redirect_mount(">https://x.test/?a=1&b='2'", false);
    CHECK_INT(pt_mount_setup(&m, &d), 0);
    redirect(&m, "/r", NULL, &body);
    CHECK(strstr(body, "https://x.test/?a=1&amp;b=&#39;2&#39;") != NULL);
    CHECK(strstr(body, "&b=") == NULL);
    pt_mount_teardown(&m);

    /* Setup rejects what cannot be a Location. */
    const char *bad[] = {
        ">https://x.test/a b", ">https:///path", ">http://x.test/\x01",
        ">https://x.test/\x7f",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int before = d.errors;
        m = redirect_mount(bad[i], false);
        CHECK_INT(pt_mount_setup(&m, &d), -1);
        CHECK_INT(d.errors, before + 1);
        CHECK(!m.ready);
        pt_mount_teardown(&m);
    }
    fclose(d.out);
}

static void test_registry(void)
{
    struct pt_diag d = { 0 };
    d.out = fopen("/dev/null", "w");
    /* Proxy mounts set up (their requests need a worker: test_proxy*.py). */
    const char *proxies[] = {"https://127.0.0.1:1", "http://127.0.0.1:1/x"};
    for (size_t i = 0; i < sizeof proxies / sizeof proxies[0]; i++) {
        struct pt_mount m = mk_mount("/r", false);
        set_origin(&m, proxies[i]);
        CHECK_INT(pt_mount_setup(&m, &d), 0);
        CHECK(m.handler == &pt_handler_proxy);
        pt_mount_teardown(&m);
    }
    /* callback:// names a plugin: an unknown one is refused at setup, a
     * built-in one answers through the same mount API. */
    struct pt_vhost cbvh;
    memset(&cbvh, 0, sizeof cbvh);
    cbvh.name = "r.test";
    {
        struct pt_mount m = mk_mount("/r", false);
        m.vhost = &cbvh;
        set_origin(&m, "callback://cb");
        CHECK_INT(pt_mount_setup(&m, &d), -1);
        CHECK_INT(d.errors, 1);
        d.errors = 0;
        pt_mount_teardown(&m);
    }
    {
        struct pt_mount m = mk_mount("/r", false);
        m.vhost = &cbvh;
        set_origin(&m, "callback://metrics");
        CHECK_INT(pt_mount_setup(&m, &d), 0);
        CHECK(m.handler == &pt_handler_callback);
        char loc[64];
        const char *body = NULL;
        CHECK_INT(dispatch_one(&m, "/r", NULL, loc, sizeof loc, &body), 200);
        CHECK(body && strstr(body, "portico_build_info{version=") != NULL);
        pt_mount_teardown(&m);
        CHECK(!m.ready);
    }
    CHECK_INT(d.errors, 0);
    /* cgi:// has its handler (tests/unit/test_cgi_*.c, test_cgi_*.py) */
    struct pt_mount m = mk_mount("/r", false);
    set_origin(&m, "cgi:///bin/true");
    CHECK_INT(pt_mount_setup(&m, &d), 0);
    CHECK(m.handler == &pt_handler_cgi);
    pt_mount_teardown(&m);
    CHECK_INT(d.errors, 0);
    fclose(d.out);
}

int main(void)
{
    pt_builtin_register();
    test_origins();
    test_mount_match();
    test_rest();
    test_vhost_select();
    test_dispatch();
    test_redirect();
    test_registry();
    return check_done("match");
}
