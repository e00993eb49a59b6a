/* Basic auth: the user file loader, Authorization parsing (strict base64),
 * and the 401 challenge from pt_dispatch(). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/config.h"
#include "gateway/diag.h"
#include "gateway/pool.h"
#include "gateway/request.h"
#include "gateway/mount.h"
#include "mounts/mounts.h"
#include "tests/unit/check.h"

static FILE *devnull;

/* Writes text to a fresh temporary file; the caller unlinks it. */
static char *write_tmp(const char *text)
{
    static char path[64];
    strcpy(path, "/tmp/pt_test_auth_XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        abort();
    size_t n = strlen(text);
    if (write(fd, text, n) != (ssize_t)n)
        abort();
    close(fd);
    return path;
}

static struct pt_mount redirect_mount(char *auth_file)
{
    struct pt_mount m;
    memset(&m, 0, sizeof m);
    m.mountpoint = "/priv";
    m.mountpoint_len = 5;
    static bool opts[8]; /* the redirect handler's, all off */
    m.origin = ">https://elsewhere.test/";
    m.target = m.origin + 9;
    m.handler = &pt_handler_redirect;
    m.opts = opts;
    m.basic_auth = auth_file;
    m.pos.file = "conf";
    m.pos.line = 3;
    m.pos.col = 7;
    return m;
}

static void test_load(void)
{
    struct pt_diag d = { .out = devnull };
    char *path = write_tmp("# users\n"
                           "alice:secret\r\n"
                           "\n"
                           "bob:pa:ss:word\n"
                           "carol:\n"
                           "dave:last-no-newline");
    struct pt_mount m = redirect_mount(path);
    CHECK_INT(pt_mount_setup(&m, &d), 0);
    CHECK_INT(d.errors, 0);
    CHECK_INT(m.auth_users.n, 4);
    if (m.auth_users.n == 4) {
        CHECK_STR(m.auth_users.v[0].name, "alice");
        CHECK_STR(m.auth_users.v[0].value, "secret");
        CHECK_STR(m.auth_users.v[1].name, "bob");
        CHECK_STR(m.auth_users.v[1].value, "pa:ss:word");
        CHECK_STR(m.auth_users.v[2].name, "carol");
        CHECK_STR(m.auth_users.v[2].value, "");
        CHECK_STR(m.auth_users.v[3].name, "dave");
        CHECK_STR(m.auth_users.v[3].value, "last-no-newline");
    }
    pt_mount_teardown(&m);
    CHECK_INT(m.auth_users.n, 0);
    CHECK(m.auth_users.v == NULL);
    unlink(path);

    /* Only comments and blank lines: nobody could log in. */
    path = write_tmp("# nobody\n\n\r\n");
    m = redirect_mount(path);
    CHECK_INT(pt_mount_setup(&m, &d), -1);
    CHECK_INT(d.errors, 1);
    CHECK(!m.ready);
    CHECK_INT(m.auth_users.n, 0);
    unlink(path);

    path = write_tmp("alice:x\nno-colon-here\n:nouser\n");
    m = redirect_mount(path);
    CHECK_INT(pt_mount_setup(&m, &d), -1);
    CHECK_INT(d.errors, 3);
    CHECK_INT(m.auth_users.n, 0);
    unlink(path);

    m = redirect_mount("/nonexistent/portico-auth-file");
    CHECK_INT(pt_mount_setup(&m, &d), -1);
    CHECK_INT(d.errors, 4);
    pt_mount_teardown(&m); /* safe after a failed setup */

    /* The message names the key, the file and the mount's position. */
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    struct pt_diag d2 = { .out = mem };
    m = redirect_mount("/nonexistent/portico-auth-file");
    CHECK_INT(pt_mount_setup(&m, &d2), -1);
    fclose(mem);
    CHECK(strstr(buf, "conf:3:7:") != NULL);
    CHECK(strstr(buf, "basic-auth") != NULL);
    CHECK(strstr(buf, "/nonexistent/portico-auth-file") != NULL);
    free(buf);

    /* A handler failure and an auth failure are both reported. */
    path = write_tmp("");
    m = redirect_mount(path);
    m.origin = ">not-a-url";
    struct pt_diag d3 = { .out = devnull };
    CHECK_INT(pt_mount_setup(&m, &d3), -1);
    CHECK_INT(d3.errors, 2);
    unlink(path);
}

/* ---- checking credentials ---- */

static struct pt_mount auth_mount;

static bool check(const char *authorization, const char **user)
{
    struct pt_pool *pool = pt_pool_new(0);
    struct pt_hdr h[2] = {
        { .name = "Host", .value = "x", .name_len = 4, .value_len = 1 },
    };
    struct pt_req r;
    memset(&r, 0, sizeof r);
    r.pool = pool;
    r.mount = &auth_mount;
    r.hdrs = h;
    r.n_hdrs = 1;
    if (authorization) {
        h[1].name = "authorization";
        h[1].name_len = 13;
        h[1].value = authorization;
        h[1].value_len = strlen(authorization);
        r.n_hdrs = 2;
    }
    bool ok = pt_basic_auth_check(&r);
    static char who[64];
    snprintf(who, sizeof who, "%s", r.remote_user ? r.remote_user : "(null)");
    if (user)
        *user = who;
    CHECK(ok || r.remote_user == NULL);
    pt_pool_free(pool);
    return ok;
}

static void test_check(void)
{
    struct pt_diag d = { .out = devnull };
    char *path = write_tmp("alice:secret\nbob:pa:ss\ncarol:\n");
    auth_mount = redirect_mount(path);
    CHECK_INT(pt_mount_setup(&auth_mount, &d), 0);
    unlink(path);

    const char *who;
    /* "alice:secret" */
    CHECK(check("Basic YWxpY2U6c2VjcmV0", &who));
    CHECK_STR(who, "alice");
    CHECK(check("basic YWxpY2U6c2VjcmV0", NULL));
    CHECK(check("BASIC   YWxpY2U6c2VjcmV0  ", NULL));
    CHECK(check("Basic\tYWxpY2U6c2VjcmV0", NULL));
    /* "bob:pa:ss": the password keeps its colons. */
    CHECK(check("Basic Ym9iOnBhOnNz", &who));
    CHECK_STR(who, "bob");
    /* "carol:" (empty password, one '=' of padding) */
    CHECK(check("Basic Y2Fyb2w6", &who));
    CHECK_STR(who, "carol");

    CHECK(!check(NULL, &who));
    CHECK_STR(who, "(null)");
    CHECK(!check("", NULL));
    CHECK(!check("Basic", NULL));
    CHECK(!check("Basic ", NULL));
    CHECK(!check("BasicYWxpY2U6c2VjcmV0", NULL));
    CHECK(!check("Bearer YWxpY2U6c2VjcmV0", NULL));
    CHECK(!check("Digest YWxpY2U6c2VjcmV0", NULL));
    /* "alice:secreT", "alice:secre", "alice:secrets", "alic:secret" */
    CHECK(!check("Basic YWxpY2U6c2VjcmVU", NULL));
    CHECK(!check("Basic YWxpY2U6c2VjcmU=", NULL));
    CHECK(!check("Basic YWxpY2U6c2VjcmV0cw==", NULL));
    CHECK(!check("Basic YWxpYzpzZWNyZXQ=", NULL));
    /* "alice" (no colon), "alicesecret" */
    CHECK(!check("Basic YWxpY2U=", NULL));
    CHECK(!check("Basic YWxpY2VzZWNyZXQ=", NULL));
    /* "bob:pa" -- a prefix of bob's password */
    CHECK(!check("Basic Ym9iOnBh", NULL));
    /* "carol:x" */
    CHECK(!check("Basic Y2Fyb2w6eA==", NULL));
    /* "secret:alice" crossed over */
    CHECK(!check("Basic c2VjcmV0OmFsaWNl", NULL));

    /* Strict base64. */
    CHECK(!check("Basic YWxpY2U6c2VjcmV0=", NULL));     /* bad length */
    CHECK(!check("Basic YWxpY2U6c2VjcmV", NULL));       /* missing pad */
    CHECK(!check("Basic Y2Fyb2w6==", NULL));            /* bad length */
    CHECK(!check("Basic Y2Fyb2w7", NULL));              /* not carol: */
    CHECK(!check("Basic Y2Fyb2x6", NULL));              /* not carol: */
    CHECK(!check("Basic YWxp Y2U6c2VjcmV0", NULL));     /* inner space */
    CHECK(!check("Basic YWxpY2U6c2Vj\ncmV0", NULL));
    CHECK(!check("Basic YWxpY2U6c2VjcmV0====", NULL));
    CHECK(!check("Basic YW=pY2U6c2VjcmV0", NULL));      /* inner pad */
    CHECK(!check("Basic YWxpY2U6c2VjcmV0!!!!", NULL));
    CHECK(!check("Basic YWxpY2U6c2VjcmV0-_==", NULL));  /* url alphabet */
    CHECK(!check("Basic ====", NULL));
    CHECK(!check("Basic =", NULL));
    /* Non-canonical padding bits: "Y2Fyb2w6" is canonical, "Y2Fyb2w7"
     * decodes differently, and "QR==" would decode to 'A' like "QQ==". */
    CHECK(!check("Basic QR==", NULL));
    CHECK(!check("Basic Y2Fyb2w6eB==", NULL));
    /* "alice:secret\0" -- a trailing NUL is not the same credential */
    CHECK(!check("Basic YWxpY2U6c2VjcmV0AA==", NULL));

    /* Huge headers are refused without decoding. */
    size_t big = 20000;
    char *h = malloc(big + 7);
    memcpy(h, "Basic ", 6);
    memset(h + 6, 'A', big);
    h[6 + big] = '\0';
    CHECK(!check(h, NULL));
    free(h);

    /* A mount without users lets everyone in. */
    struct pt_mount saved = auth_mount;
    auth_mount.auth_users.n = 0;
    CHECK(check(NULL, &who));
    CHECK_STR(who, "(null)");
    auth_mount = saved;

    pt_mount_teardown(&auth_mount);
}

/* ---- the 401 challenge ---- */

static int responses;
static void fake_respond(struct pt_req *r) { responses++; }
static void fake_resume(struct pt_req *r) {}
static const struct pt_proto fake_proto = {
    .name = "fake", .respond = fake_respond, .resume = fake_resume,
};

static int handled;
static void ok_handle(struct pt_req *r)
{
    handled++;
    pt_respond_buf(r, 200, "text/plain", "ok", 2);
}
static const char *const ok_schemes[] = {"ok://", NULL};
static const struct pt_handler ok_handler = {
    .abi_version = PT_HANDLER_ABI,
    .struct_size = sizeof(struct pt_handler),
    .name = "ok",
    .schemes = ok_schemes,
    .handle = ok_handle,
};

static const char *resp_header(const struct pt_req *r, const char *name)
{
    for (size_t i = 0; i < r->n_resp_hdrs; i++)
        if (strcasecmp(r->resp_hdrs[i].name, name) == 0)
            return r->resp_hdrs[i].value;
    return NULL;
}

static void test_challenge(void)
{
    struct pt_diag d = { .out = devnull };
    char *path = write_tmp("alice:secret\n");
    struct pt_mount m[2];
    m[0] = redirect_mount(path);
    CHECK_INT(pt_mount_setup(&m[0], &d), 0);
    unlink(path);
    /* Swap in a handler that answers 200 so the outcome is visible. */
    const struct pt_handler *real = m[0].handler;
    m[0].handler = &ok_handler;
    memset(&m[1], 0, sizeof m[1]);
    m[1].mountpoint = "/";
    m[1].mountpoint_len = 1;
    m[1].handler = &ok_handler;
    m[1].ready = true;

    struct pt_vhost vh;
    memset(&vh, 0, sizeof vh);
    vh.name = "auth.test";
    vh.mounts = m;
    vh.n_mounts = 2;
    vh.access_log_fd = -1;
    struct pt_vhost *ptrs[] = { &vh };
    struct pt_listen l = { .port = 80, .vhosts = ptrs, .n_vhosts = 1 };
    struct pt_config conf;
    memset(&conf, 0, sizeof conf);

    struct {
        const char *path, *authz;
        int status;
        const char *user;
    } cases[] = {
        { "/priv/x", NULL, 401, NULL },
        { "/priv", "Basic YWxpY2U6d3Jvbmc=", 401, NULL },
        { "/priv/x", "Basic YWxpY2U6c2VjcmV0", 200, "alice" },
        { "/public", NULL, 200, NULL },
        { "/privacy", NULL, 200, NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct pt_pool *pool = pt_pool_new(0);
        struct pt_hdr h = { .name = "Authorization", .name_len = 13 };
        struct pt_req r;
        memset(&r, 0, sizeof r);
        r.pool = pool;
        r.proto = &fake_proto;
        r.conf = &conf;
        r.listen = &l;
        r.method = PT_M_GET;
        r.method_str = "GET";
        r.method_len = 3;
        r.version = 11;
        r.path = r.target = cases[i].path;
        r.path_len = r.target_len = strlen(cases[i].path);
        r.authority = "auth.test";
        r.authority_len = 9;
        r.content_length = -1;
        if (cases[i].authz) {
            h.value = cases[i].authz;
            h.value_len = strlen(cases[i].authz);
            r.hdrs = &h;
            r.n_hdrs = 1;
        }
        handled = responses = 0;
        pt_dispatch(&r);
        CHECK_INT(responses, 1);
        CHECK_INT(r.status, cases[i].status);
        CHECK_INT(handled, cases[i].status == 200);
        const char *challenge = resp_header(&r, "WWW-Authenticate");
        if (cases[i].status == 401)
            CHECK_STR(challenge,
                      "Basic realm=\"auth.test\", charset=\"UTF-8\"");
        else
            CHECK(challenge == NULL);
        if (cases[i].user)
            CHECK_STR(r.remote_user, cases[i].user);
        else
            CHECK(r.remote_user == NULL);
        if (r.body && r.body->close)
            r.body->close(&r);
        pt_pool_free(pool);
    }
    m[0].handler = real;
    pt_mount_teardown(&m[0]);
}

int main(void)
{
    devnull = fopen("/dev/null", "w");
    test_load();
    test_check();
    test_challenge();
    fclose(devnull);
    return check_done("auth");
}
