/* Basic auth: the user file loader, the password hash schemes (known
 * vectors made by htpasswd, mkpasswd and openssl passwd), Authorization
 * parsing (strict base64), the re-read on change, the cache of good
 * credentials, the plaintext-vhost warning, and the 401 challenge from
 * pt_dispatch(). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gateway/authstate.h"
#include "gateway/config.h"
#include "gateway/diag.h"
#include "gateway/htpasswd.h"
#include "gateway/log.h"
#include "gateway/pool.h"
#include "gateway/pwhash.h"
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
    CHECK(m.auth != NULL);
    uint64_t gen;
    struct pt_htusers *u = m.auth ? pt_authstate_users(m.auth, &gen) : NULL;
    CHECK(u && u->n == 4);
    if (u && u->n == 4) {
        CHECK_STR(u->v[0].name, "alice");
        CHECK_STR(u->v[0].stored, "secret");
        CHECK_STR(u->v[1].name, "bob");
        CHECK_STR(u->v[1].stored, "pa:ss:word");
        CHECK_STR(u->v[2].name, "carol");
        CHECK_STR(u->v[2].stored, "");
        CHECK_STR(u->v[3].name, "dave");
        CHECK_STR(u->v[3].stored, "last-no-newline");
        CHECK_INT(u->v[0].scheme, PT_PW_PLAIN);
    }
    pt_htusers_unref(u); /* after the teardown too (a worker's) */
    pt_mount_teardown(&m);
    CHECK(m.auth == NULL);
    unlink(path);

    /* Only comments and blank lines: nobody could log in. */
    path = write_tmp("# nobody\n\n\r\n");
    m = redirect_mount(path);
    CHECK_INT(pt_mount_setup(&m, &d), -1);
    CHECK_INT(d.errors, 1);
    CHECK(!m.ready);
    CHECK(m.auth == NULL);
    unlink(path);

    path = write_tmp("alice:x\nno-colon-here\n:nouser\n");
    m = redirect_mount(path);
    CHECK_INT(pt_mount_setup(&m, &d), -1);
    CHECK_INT(d.errors, 3);
    CHECK(m.auth == NULL);
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

/* ---- password hash schemes ---- */

static const struct vec {
    const char *stored, *pw;
    enum pt_pwscheme scheme;
} vecs[] = {
    /* htpasswd -nbB -C 4 bcy 'b-pass' */
    { "$2y$04$Ht.51ddEeuCtr/akoWd52uw29IWyYLPhQ8qP3EsujnUK7DjPJJehq", "b-pass", PT_PW_CRYPT },
    /* mkpasswd -m bcrypt -R 4 'b:pass2' */
    { "$2b$05$tnsLC6HFJFGuwYfLAAMwj.065rYsolVFjzZyPJyZoVd7BIEpgJ.Om", "b:pass2", PT_PW_CRYPT },
    /* mkpasswd -m bcrypt-a -R 4 'pässwörd' */
    { "$2a$05$aMwAN/8tPgHTmDGhWseHv.UZrttv9ZPtZfcEuVKimUOoEw7nOy2Nq",
      "p\xc3\xa4ssw\xc3\xb6rd", PT_PW_CRYPT },
    /* htpasswd -nb -5 s512 's512 pw' */
    { "$6$.wjLI6bpWq9hZ7VC$CvBcDTTWQm/54EPoWS8u39OA5y9soHhzPEjbhrTxksgRzEBII/QfXcupU8JA5YiPI"
      "cVuVRzClj8YI46KvV9AG1", "s512 pw", PT_PW_CRYPT },
    /* mkpasswd -m sha-512 -R 1000 'r:1000' */
    { "$6$rounds=1000$GpkBuqGojwsFf9mx$ACKMMFIMo6on6evbDQPbno9bzK3jd8YRXE0C18op5YQwLiknP.K6.r"
      "M4DSI/.bI/MDFl5D2wpHtxt5Sdu1iqT1", "r:1000", PT_PW_CRYPT },
    /* openssl passwd -6 -salt ab rounds */
    { "$6$ab$jnzcP2ElyM0MtCxgcXNxtswzLvNqevN4Zbjb5eMrp.jkJ2WVHTyJGy0eDb.OH1GiMkfDewkypjHOysLf"
      "RbXaO0", "rounds", PT_PW_CRYPT },
    /* htpasswd -nb -2 s256 's256pw' */
    { "$5$SpiGQ53NT20.FI1k$B6qkW7ZvNXtKr5u7J1XniiVYc/Pz0PshUGijSKl4g/9", "s256pw", PT_PW_CRYPT },
    /* openssl passwd -5 -salt saltsalt x */
    { "$5$saltsalt$hcyDOxdIg0p3xyqtpHh/v8Ph.am06tQaovp1KpEklb7", "x", PT_PW_CRYPT },
    /* mkpasswd -m yescrypt 'yes crypt' */
    { "$y$j9T$QNmkuaFwhAsu.SBtxC2Tw1$mctlo7anUNvWCeDQ9D67MID1q0Alf3sDxopjMgxRrn3", "yes crypt",
      PT_PW_CRYPT },
    /* htpasswd -nbm apr apr1pw */
    { "$apr1$wp0sUBhw$0xvx8Y3nEoiQRI4wbPHPH0", "apr1pw", PT_PW_APR1 },
    /* openssl passwd -apr1 -salt a.b/c '' */
    { "$apr1$a.b/c$YeWFXB6KDvMTZoNvaE2cl.", "", PT_PW_APR1 },
    /* openssl passwd -apr1 -salt longsalt 'a password longer than sixteen bytes' */
    { "$apr1$longsalt$OCO5ph7nie8tqi6vmY07o1", "a password longer than sixteen bytes",
      PT_PW_APR1 },
    /* htpasswd -nbs sha 'sha:pw' */
    { "{SHA}rWB6YbPgZfuhRoSeTuSDu28RqH8=", "sha:pw", PT_PW_SHA1 },
    /* printf '' | openssl dgst -sha1 -binary | base64 */
    { "{SHA}2jmj7l5rSw0yVb/vlWAYkK/YBwk=", "", PT_PW_SHA1 },
    { "plain text", "plain text", PT_PW_PLAIN },
    { "", "", PT_PW_PLAIN },
    /* unknown schemes are plaintext */
    { "$1$abc$def", "$1$abc$def", PT_PW_UNKNOWN },
    { "{SSHA}abc", "{SSHA}abc", PT_PW_UNKNOWN },
};
#define N_VECS (sizeof vecs / sizeof vecs[0])

static bool verify(const struct vec *v, const char *pw, size_t len)
{
    return pt_pwhash_verify(v->scheme, v->stored, pw, len);
}

static void test_schemes(void)
{
    for (size_t i = 0; i < N_VECS; i++) {
        const struct vec *v = &vecs[i];
        size_t n = strlen(v->pw);
        char buf[128];
        CHECK_INT(pt_pwhash_scheme(v->stored), v->scheme);
        if (!verify(v, v->pw, n))
            fprintf(stderr, "vector %zu (%s) refused\n", i, v->stored);
        CHECK(verify(v, v->pw, n));
        snprintf(buf, sizeof buf, "%sx", v->pw);
        CHECK(!verify(v, buf, n + 1));
        CHECK(!verify(v, v->pw, n ? n - 1 : 0) || n == 0);
        /* a NUL after the password is another password */
        memcpy(buf, v->pw, n);
        buf[n] = '\0';
        CHECK(!verify(v, buf, n + 1));
        /* the stored string is not the password (unless plaintext) */
        if (v->scheme != PT_PW_PLAIN && v->scheme != PT_PW_UNKNOWN)
            CHECK(!verify(v, v->stored, strlen(v->stored)));
        /* nor is another vector's password */
        const struct vec *o = &vecs[(i + 1) % N_VECS];
        if (strcmp(o->pw, v->pw) != 0)
            CHECK(!verify(v, o->pw, strlen(o->pw)));
    }
    /* a changed character of a stored hash */
    CHECK(!pt_pwhash_verify(PT_PW_CRYPT,
                            "$2y$04$Ht.51ddEeuCtr/akoWd52uw29IWyYLPhQ8qP3EsujnUK7DjPJJehr",
                            "b-pass", 6));
    CHECK(!pt_pwhash_verify(PT_PW_APR1, "$apr1$wp0sUBhw$0xvx8Y3nEoiQRI4wbPHPH1", "apr1pw", 6));
    CHECK(!pt_pwhash_verify(PT_PW_SHA1, "{SHA}rWB6YbPgZfuhRoSeTuSDu28RqH9=", "sha:pw", 6));
    CHECK(!pt_pwhash_verify(PT_PW_BAD, "x", "x", 1));

    /* apr1 itself */
    char out[48];
    CHECK(pt_pwhash_apr1("apr1pw", 6, "wp0sUBhw$0xvx8", out, sizeof out));
    CHECK_STR(out, "$apr1$wp0sUBhw$0xvx8Y3nEoiQRI4wbPHPH0");
    CHECK(pt_pwhash_apr1("", 0, "a.b/c", out, sizeof out));
    CHECK_STR(out, "$apr1$a.b/c$YeWFXB6KDvMTZoNvaE2cl.");

    static const char *const bad[] = {
        "$2y$04$Ht.51ddEeuCtr/akoWd52uw29IWyYLPhQ8qP3EsujnUK7DjPJJeh",    /* short */
        "$2y$04$Ht.51ddEeuCtr/akoWd52uw29IWyYLPhQ8qP3EsujnUK7DjPJJehqq",  /* long */
        "$2y$03$Ht.51ddEeuCtr/akoWd52uw29IWyYLPhQ8qP3EsujnUK7DjPJJehq",   /* cost */
        "$2y$32$Ht.51ddEeuCtr/akoWd52uw29IWyYLPhQ8qP3EsujnUK7DjPJJehq",
        "$2y$4$Ht.51ddEeuCtr/akoWd52uw29IWyYLPhQ8qP3EsujnUK7DjPJJehqq",
        "$2b$05$tnsLC6HFJFGuwYfLAAMwj!065rYsolVFjzZyPJyZoVd7BIEpgJ.Om",   /* '!' */
        "$2a$", "$2y$05$", "$6$", "$5$", "$y$", "$apr1$", "{SHA}",
        "$6$salt$short",
        "$5$saltsalt$hcyDOxdIg0p3xyqtpHh/v8Ph.am06tQaovp1KpEklb",         /* 42 */
        "$5$saltsalt$hcyDOxdIg0p3xyqtpHh/v8Ph.am06tQaovp1KpEklb7x",       /* 44 */
        "$5$saltsaltsaltsalt1$hcyDOxdIg0p3xyqtpHh/v8Ph.am06tQaovp1KpEklb7", /* 17 */
        "$5$rounds=$saltsalt$hcyDOxdIg0p3xyqtpHh/v8Ph.am06tQaovp1KpEklb7",
        "$5$rounds=1000x$salt$hcyDOxdIg0p3xyqtpHh/v8Ph.am06tQaovp1KpEklb7",
        "$5$x",
        "$y$j9T$$mctlo7anUNvWCeDQ9D67MID1q0Alf3sDxopjMgxRrn3",
        "$y$j9T$QNmkuaFwhAsu.SBtxC2Tw1$mctlo7anUNvWCeDQ9D67MID1q0",
        "$y$!!$QNmkuaFwhAsu.SBtxC2Tw1$mctlo7anUNvWCeDQ9D67MID1q0Alf3sDxopjMgxRrn3",
        "$apr1$wp0sUBhw$0xvx8Y3nEoiQRI4wbPHPH",
        "$apr1$wp0sUBhw0$0xvx8Y3nEoiQRI4wbPHPH0",                        /* salt of 9 */
        "$apr1$wp0sUBhw",
        "{SHA}rWB6YbPgZfuhRoSeTuSDu28RqH8",
        "{SHA}rWB6YbPgZfuhRoSeTuSDu28RqH8==",
        "{SHA}rWB6YbPgZfuhRoSeTuSDu28R-H8=",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (pt_pwhash_scheme(bad[i]) != PT_PW_BAD)
            fprintf(stderr, "not BAD: %s\n", bad[i]);
        CHECK_INT(pt_pwhash_scheme(bad[i]), PT_PW_BAD);
    }
    static const char *const unknown[] = {
        "$1$abc$def", "$argon2id$v=19$m=65536", "$money$", "{SSHA}abc", "{MD5}", "$2x$05$abc",
        "{sha}rWB6YbPgZfuhRoSeTuSDu28RqH8=",
    };
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
        CHECK_INT(pt_pwhash_scheme(unknown[i]), PT_PW_UNKNOWN);
    static const char *const plain[] = {
        "$", "$$", "$abc", "{}", "{SHA", "plain$1$", "x{SHA}", "$ab c$", "secret", "",
    };
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        CHECK_INT(pt_pwhash_scheme(plain[i]), PT_PW_PLAIN);
}

static char *b64_authz(const char *cred)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    static char out[512];
    size_t n = strlen(cred);
    char *o = out + sprintf(out, "Basic ");
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)(unsigned char)cred[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)(unsigned char)cred[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)cred[i + 2];
        *o++ = a[v >> 18];
        *o++ = a[(v >> 12) & 63];
        *o++ = i + 1 < n ? a[(v >> 6) & 63] : '=';
        *o++ = i + 2 < n ? a[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

static bool check(const char *authorization, const char **user);

static bool check_cred(const char *cred)
{
    return check(b64_authz(cred), NULL);
}

/* Diagnostics of setting m up, as text (to free). */
static char *setup_text(struct pt_mount *m, struct pt_diag *d, int *rc)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    d->out = mem;
    *rc = pt_mount_setup(m, d);
    fclose(mem);
    d->out = devnull;
    return buf;
}

static struct pt_mount auth_mount;

static void test_hashed_file(void)
{
    struct pt_diag d = { .out = devnull };
    char *path = write_tmp(
        "# made by htpasswd -B, -m, -s, -5, -2 and mkpasswd -m yescrypt\n"
        "bcy:$2y$04$Ht.51ddEeuCtr/akoWd52uw29IWyYLPhQ8qP3EsujnUK7DjPJJehq\n"
        "apr:$apr1$wp0sUBhw$0xvx8Y3nEoiQRI4wbPHPH0\n"
        "sha:{SHA}rWB6YbPgZfuhRoSeTuSDu28RqH8=\r\n"
        "s512:$6$.wjLI6bpWq9hZ7VC$CvBcDTTWQm/54EPoWS8u39OA5y9soHhzPEjbhrTxksgRzEBII/QfXcupU8J"
        "A5YiPIcVuVRzClj8YI46KvV9AG1\n"
        "s256:$5$SpiGQ53NT20.FI1k$B6qkW7ZvNXtKr5u7J1XniiVYc/Pz0PshUGijSKl4g/9\n"
        "yes:$y$j9T$QNmkuaFwhAsu.SBtxC2Tw1$mctlo7anUNvWCeDQ9D67MID1q0Alf3sDxopjMgxRrn3\n"
        "plain:plain text\n"
        "odd:$1$abc$def\n"
        "plain:listed again\n");
    char file[64];
    snprintf(file, sizeof file, "%s", path);
    auth_mount = redirect_mount(file);
    int rc;
    char *text = setup_text(&auth_mount, &d, &rc);
    CHECK_INT(rc, 0);
    CHECK_INT(d.errors, 0);
    CHECK_INT(d.warnings, 2);
    char want[128];
    snprintf(want, sizeof want, "%s:9:5: warning: basic-auth: user \"odd\"", file);
    CHECK(strstr(text, want) != NULL);
    snprintf(want, sizeof want, "%s:10:1: warning: basic-auth: user \"plain\" is listed again",
             file);
    CHECK(strstr(text, want) != NULL);
    free(text);

    const char *who;
    CHECK(check(b64_authz("bcy:b-pass"), &who));
    CHECK_STR(who, "bcy");
    CHECK(check_cred("apr:apr1pw"));
    CHECK(check_cred("sha:sha:pw"));
    CHECK(check_cred("s512:s512 pw"));
    CHECK(check_cred("s256:s256pw"));
    CHECK(check(b64_authz("yes:yes crypt"), &who));
    CHECK_STR(who, "yes");
    CHECK(check_cred("plain:plain text"));
    CHECK(check_cred("odd:$1$abc$def"));
    CHECK(!check_cred("plain:listed again"));  /* the first line counts */
    CHECK(!check_cred("bcy:b-pasS"));
    CHECK(!check_cred("apr:apr1pw "));
    CHECK(!check_cred("sha:sha"));
    CHECK(!check_cred("s512:s512pw"));
    CHECK(!check_cred("s256:"));
    CHECK(!check_cred("yes:yes  crypt"));
    CHECK(!check_cred("bcy:$2y$04$Ht.51ddEeuCtr/akoWd52uw29IWyYLPhQ8qP3EsujnUK7DjPJJehq"));
    CHECK(!check_cred("nobody:b-pass"));
    CHECK(!check_cred("apr:b-pass"));           /* another user's password */
    /* "bcy:b-pass\0" */
    CHECK(!check("Basic YmN5OmItcGFzcwA=", NULL));

    /* A good check is cached: with the stored hash spoiled in memory, the
     * same credentials still pass, others still fail. */
    uint64_t gen;
    struct pt_htusers *u = pt_authstate_users(auth_mount.auth, &gen);
    char saved = u->v[0].stored[20];
    u->v[0].stored[20] = saved == 'a' ? 'b' : 'a';
    CHECK(check_cred("bcy:b-pass"));
    CHECK(!check_cred("bcy:b-pasS"));
    CHECK(!check_cred("s256:b-pass"));
    u->v[0].stored[20] = saved;
    pt_htusers_unref(u);
    pt_mount_teardown(&auth_mount);
    unlink(file);

    /* Garbled hashes of known schemes are errors at FILE:LINE that do not
     * show the rest of the password. */
    path = write_tmp("good:x\nbad:$2y$04$nothash\nworse:{SHA}abcd\n");
    snprintf(file, sizeof file, "%s", path);
    struct pt_mount m = redirect_mount(file);
    d.errors = d.warnings = 0;
    text = setup_text(&m, &d, &rc);
    CHECK_INT(rc, -1);
    CHECK_INT(d.errors, 2);
    CHECK(m.auth == NULL);
    snprintf(want, sizeof want, "%s:2:5: error: basic-auth: user \"bad\"", file);
    CHECK(strstr(text, want) != NULL);
    CHECK(strstr(text, "\"$2y$\"") != NULL);
    snprintf(want, sizeof want, "%s:3:7: error: basic-auth: user \"worse\"", file);
    CHECK(strstr(text, want) != NULL);
    CHECK(strstr(text, "nothash") == NULL && strstr(text, "abcd") == NULL);
    free(text);
    unlink(file);
}

/* ---- the cache of good credentials ---- */

static void test_cache(void)
{
    struct pt_diag d = { .out = devnull };
    char *path = write_tmp("u:p\n");
    struct pt_mount m = redirect_mount(path);
    CHECK_INT(pt_mount_setup(&m, &d), 0);
    unlink(path);
    struct pt_authstate *a = m.auth;
    unsigned char k0[32], k0b[32], k1[32];
    pt_authstate_key(a, "u:p", 3, k0);
    pt_authstate_key(a, "u:p", 3, k0b);
    pt_authstate_key(a, "u:P", 3, k1);
    CHECK(memcmp(k0, k0b, 32) == 0);
    CHECK(memcmp(k0, k1, 32) != 0);
    CHECK(!pt_authstate_cached(a, 0, k0));
    pt_authstate_remember(a, 0, k0);
    CHECK(pt_authstate_cached(a, 0, k0));
    CHECK(!pt_authstate_cached(a, 1, k0));  /* another list */
    CHECK(!pt_authstate_cached(a, 0, k1));
    pt_authstate_remember(a, 0, k0);        /* no second entry */

    /* Bounded: the oldest entries make room. */
    unsigned char keys[100][32];
    for (int i = 0; i < 100; i++) {
        char cred[16];
        int n = snprintf(cred, sizeof cred, "u:%d", i);
        pt_authstate_key(a, cred, (size_t)n, keys[i]);
        pt_authstate_remember(a, 0, keys[i]);
    }
    int kept = 0;
    for (int i = 0; i < 100; i++)
        kept += pt_authstate_cached(a, 0, keys[i]);
    CHECK_INT(kept, PT_AUTH_CACHE_SIZE);
    CHECK(pt_authstate_cached(a, 0, keys[99]));
    CHECK(!pt_authstate_cached(a, 0, keys[0]));
    CHECK(!pt_authstate_cached(a, 0, k0));
    pt_mount_teardown(&m);
}

/* ---- the file re-read when it changes ---- */

/* Rewrites path with text and moves its mtime (a second boundary is
 * then passed, so the next request looks at it). */
static void rewrite(const char *path, const char *text, int mtime_step)
{
    static int step;
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    struct timespec t[2] = { { time(NULL) + mtime_step + ++step, 0 },
                             { time(NULL) + mtime_step + step, 0 } };
    utimensat(AT_FDCWD, path, t, 0);
    usleep(1100 * 1000);
}

static void test_reread(void)
{
    struct pt_diag d = { .out = devnull };
    char file[64];
    snprintf(file, sizeof file, "%s", write_tmp("u:one\n"));
    auth_mount = redirect_mount(file);
    CHECK_INT(pt_mount_setup(&auth_mount, &d), 0);
    int level = pt_log_level;
    pt_log_level = -1; /* the warnings of the bad files below */
    CHECK(check_cred("u:one"));            /* and cached */
    rewrite(file, "u:two\n", 10);
    CHECK(check_cred("u:two"));
    CHECK(!check_cred("u:one"));           /* not from the cache either */
    rewrite(file, "u:$2y$garbled\n", 20);  /* the last good list stays */
    CHECK(check_cred("u:two"));
    unlink(file);
    usleep(1100 * 1000);
    CHECK(check_cred("u:two"));
    rewrite(file, "u:three\nv:four\n", 30);
    CHECK(check_cred("u:three"));
    CHECK(check_cred("v:four"));
    CHECK(!check_cred("u:two"));
    pt_log_level = level;
    pt_mount_teardown(&auth_mount);
    unlink(file);
}

/* ---- basic-auth on a plaintext vhost ---- */

static int exposure_warnings(const char *addr, const char *cert)
{
    struct pt_diag d = { .out = devnull };
    char *path = write_tmp("u:p\n");
    struct pt_mount m[2];
    m[0] = redirect_mount(path);
    m[1] = redirect_mount(NULL);
    struct pt_vhost vh;
    memset(&vh, 0, sizeof vh);
    vh.name = "v";
    vh.mounts = m;
    vh.n_mounts = 2;
    vh.ssl_cert = (char *)cert;
    struct pt_vhost *ptrs[] = { &vh };
    struct pt_listen l;
    memset(&l, 0, sizeof l);
    l.vhosts = ptrs;
    l.n_vhosts = 1;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&l.addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&l.addr;
    if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1)
        v4->sin_family = AF_INET;
    else if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1)
        v6->sin6_family = AF_INET6;
    struct pt_config conf;
    memset(&conf, 0, sizeof conf);
    conf.listens = &l;
    conf.n_listens = 1;
    CHECK_INT(pt_mount_setup_vhost(&conf, &vh, &d), 0);
    CHECK_INT(d.errors, 0);
    pt_mount_teardown(&m[0]);
    pt_mount_teardown(&m[1]);
    unlink(path);
    return d.warnings;
}

static void test_exposure(void)
{
    CHECK_INT(exposure_warnings("0.0.0.0", NULL), 1);
    CHECK_INT(exposure_warnings("::", NULL), 1);
    CHECK_INT(exposure_warnings("192.0.2.1", NULL), 1);
    CHECK_INT(exposure_warnings("::ffff:192.0.2.1", NULL), 1);
    CHECK_INT(exposure_warnings("127.0.0.1", NULL), 0);
    CHECK_INT(exposure_warnings("127.1.2.3", NULL), 0);
    CHECK_INT(exposure_warnings("::1", NULL), 0);
    CHECK_INT(exposure_warnings("::ffff:127.0.0.1", NULL), 0);
    CHECK_INT(exposure_warnings("0.0.0.0", "cert.pem"), 0);
}

/* ---- checking credentials ---- */

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

    /* A mount without basic-auth lets everyone in; one whose file was
     * never read, nobody. */
    struct pt_mount saved = auth_mount;
    auth_mount.basic_auth = NULL;
    CHECK(check(NULL, &who));
    CHECK_STR(who, "(null)");
    auth_mount.basic_auth = saved.basic_auth;
    auth_mount.auth = NULL;
    CHECK(!check("Basic YWxpY2U6c2VjcmV0", NULL));
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
    test_schemes();
    test_hashed_file();
    test_cache();
    test_exposure();
    test_challenge();
    test_reread();
    fclose(devnull);
    return check_done("auth");
}
