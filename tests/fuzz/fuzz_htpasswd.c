/* libFuzzer target for basic-auth user files (the loader in
 * gateway/mount.c) and the credentials checked against them
 * (gateway/auth.c).  The input is the file; it is written to a temporary
 * directory made once per process.
 *
 * Invariants: the mount sets up exactly when no line is malformed and one
 * user or more is listed; then the users are the file's "user:password"
 * lines in order, the first of each name (the password keeps its colons,
 * one trailing CR goes, blank lines and '#' comments are skipped), each
 * with the scheme pt_pwhash_scheme() gives its password, else there are
 * none and each malformed line (no user, no colon, a NUL byte, a garbled
 * hash of a known scheme) or the empty list is one error.  A plaintext
 * user's own credentials, base64-encoded, are accepted (when the token is
 * no longer than the 4096 bytes checked) and name that user; a wrong
 * password is refused; any Authorization value that is accepted names a
 * listed user.  (A file with a crypt(3) hash is not checked against: its
 * cost may be anything.)  Teardown leaves no state.  Violations abort;
 * ASan/LSan catch the rest.  Run by `make fuzz`. */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/authstate.h"
#include "gateway/config.h"
#include "gateway/diag.h"
#include "gateway/handler.h"
#include "gateway/htpasswd.h"
#include "gateway/log.h"
#include "gateway/mount.h"
#include "gateway/pool.h"
#include "gateway/pwhash.h"
#include "gateway/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], file[96];
static FILE *devnull;

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(p);
}

static void cleanup(void)
{
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void handle(struct pt_req *r)
{
    abort();
}

static const char *const schemes[] = {"fz://", NULL};
static const struct pt_handler fz = {
    .abi_version = PT_HANDLER_ABI, .struct_size = sizeof(struct pt_handler),
    .name = "fz", .schemes = schemes, .handle = handle,
};

struct user {
    char *name, *pass;
    enum pt_pwscheme scheme;
};

/* The file as the loader should read it; -1 per malformed line. */
static size_t model(const char *in, size_t size, struct user *u, size_t *bad)
{
    size_t n = 0;
    *bad = 0;
    for (size_t off = 0; off < size;) {
        const char *nl = memchr(in + off, '\n', size - off);
        size_t len = nl ? (size_t)(nl - (in + off)) : size - off;
        const char *line = in + off;
        off += len + (nl != NULL);
        if (len && line[len - 1] == '\r')
            len--;
        if (len == 0 || line[0] == '#')
            continue;
        const char *colon = memchr(line, ':', len);
        if (!colon || colon == line || memchr(line, '\0', len)) {
            (*bad)++;
            continue;
        }
        size_t ulen = (size_t)(colon - line);
        char *pass = strndup(colon + 1, len - ulen - 1);
        enum pt_pwscheme s = pt_pwhash_scheme(pass);
        bool again = false;
        for (size_t i = 0; i < n && !again; i++)
            again = strlen(u[i].name) == ulen && memcmp(u[i].name, line, ulen) == 0;
        if (s == PT_PW_BAD)
            (*bad)++;
        if (s == PT_PW_BAD || again) {
            free(pass);
            continue;
        }
        u[n].name = strndup(line, ulen);
        u[n].pass = pass;
        u[n].scheme = s;
        n++;
    }
    return n;
}

static char *b64(const char *s, size_t n)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc(n / 3 * 4 + 16), *o = out;
    o += sprintf(o, "Basic ");
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)s[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)(unsigned char)s[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)s[i + 2];
        *o++ = a[v >> 18];
        *o++ = a[(v >> 12) & 63];
        *o++ = i + 1 < n ? a[(v >> 6) & 63] : '=';
        *o++ = i + 2 < n ? a[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

/* pt_basic_auth_check() for an Authorization value: the user (a copy,
 * to free) or NULL. */
static char *check(struct pt_mount *m, const char *authz, size_t alen)
{
    struct pt_pool *pool = pt_pool_new(0);
    struct pt_hdr h = { .name = "Authorization", .value = authz, .name_len = 13,
                        .value_len = alen };
    struct pt_req r;
    memset(&r, 0, sizeof r);
    r.pool = pool;
    r.mount = m;
    r.hdrs = &h;
    r.n_hdrs = 1;
    bool ok = pt_basic_auth_check(&r);
    if (ok != (r.remote_user != NULL))
        abort();
    char *who = ok ? strdup(r.remote_user) : NULL;
    pt_pool_free(pool);
    return who;
}

/* The user with these credentials, or -1 (names are unique in u). */
static long first(const struct user *u, size_t n, const char *name, const char *pass)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(u[i].name, name) == 0)
            return strcmp(u[i].pass, pass) == 0 ? (long)i : -1;
    return -1;
}

static void try(struct pt_mount *m, const struct user *u, size_t n, const char *name,
                const char *pass)
{
    size_t ln = strlen(name), lp = strlen(pass);
    char *cred = malloc(ln + lp + 2);
    memcpy(cred, name, ln);
    cred[ln] = ':';
    memcpy(cred + ln + 1, pass, lp + 1);
    char *authz = b64(cred, ln + 1 + lp);
    long want = strlen(authz) - 6 <= 4096 ? first(u, n, name, pass) : -1;
    char *who = check(m, authz, strlen(authz));
    if ((who != NULL) != (want >= 0) || (who && strcmp(who, u[want].name) != 0))
        abort();
    free(who);
    free(authz);
    free(cred);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        strcpy(dir, "/tmp/pt_fuzz_htpasswd.XXXXXX");
        if (!mkdtemp(dir))
            abort();
        snprintf(file, sizeof file, "%s/users", dir);
        atexit(cleanup);
        devnull = fopen("/dev/null", "w");
    }
    FILE *f = fopen(file, "w");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
        abort();

    const char *in = (const char *)data;
    struct user *u = calloc(size / 2 + 1, sizeof *u);
    size_t bad, n = model(in, size, u, &bad);

    struct pt_mount m;
    memset(&m, 0, sizeof m);
    m.mountpoint = "/p";
    m.mountpoint_len = 2;
    m.origin = "fz://x";
    m.handler = &fz;
    m.basic_auth = file;
    m.pos = (struct pt_srcpos){ "conf", 3, 7 };
    struct pt_diag d = { .out = devnull };
    int rc = pt_mount_setup(&m, &d);

    bool ok = bad == 0 && n > 0;
    if (rc != (ok ? 0 : -1) || m.ready != ok || d.errors != (ok ? 0 : bad ? (int)bad : 1))
        abort();
    if (!ok && m.auth != NULL)
        abort();
    bool slow = false;
    if (ok) {
        uint64_t gen;
        struct pt_htusers *got = pt_authstate_users(m.auth, &gen);
        if (got->n != n)
            abort();
        for (size_t i = 0; i < n; i++) {
            if (strcmp(got->v[i].name, u[i].name) != 0 ||
                strcmp(got->v[i].stored, u[i].pass) != 0 || got->v[i].scheme != u[i].scheme)
                abort();
            slow = slow || u[i].scheme == PT_PW_CRYPT;
        }
        pt_htusers_unref(got);
    }
    if (ok && !slow) {
        for (size_t i = 0; i < n; i = i < 8 ? i + 1 : i < n - 1 ? n - 1 : n) {
            if (u[i].scheme != PT_PW_PLAIN && u[i].scheme != PT_PW_UNKNOWN)
                continue;
            try(&m, u, n, u[i].name, u[i].pass);
            size_t lp = strlen(u[i].pass);
            char *wrong = malloc(lp + 2);
            memcpy(wrong, u[i].pass, lp);
            memcpy(wrong + lp, "!", 2);
            try(&m, u, n, u[i].name, wrong);
            free(wrong);
        }
        /* the first line as it is, as an Authorization value */
        const char *nl = memchr(in, '\n', size);
        size_t alen = nl ? (size_t)(nl - in) : size;
        char *who = check(&m, in, alen);
        if (who) {
            bool listed = false;
            for (size_t i = 0; i < n && !listed; i++)
                listed = strcmp(who, u[i].name) == 0;
            if (!listed)
                abort();
            free(who);
        }
    }
    if (ok) {
        pt_mount_teardown(&m);
        if (m.auth != NULL || m.ready)
            abort();
    }
    for (size_t i = 0; i < n; i++) {
        free(u[i].name);
        free(u[i].pass);
    }
    free(u);
    return 0;
}
