/* HTTP Basic authentication (RFC 7617) against a mount's user list
 * (gateway/authstate.h), and the 401 challenge. */
#include "gateway/mount.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "gateway/authstate.h"
#include "gateway/htpasswd.h"
#include "gateway/request.h"

/* Longer credentials are refused outright rather than decoded. */
#define PT_AUTH_MAX_B64 4096

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Strict RFC 4648 base64: a multiple of 4 characters, '=' padding only at
 * the end, and no stray bits in the last character.  out holds
 * len / 4 * 3 bytes.  Returns the decoded length or -1. */
static long base64_decode(const char *in, size_t len, unsigned char *out)
{
    if (len % 4)
        return -1;
    size_t pad = 0;
    if (len && in[len - 1] == '=')
        pad = (len >= 2 && in[len - 2] == '=') ? 2 : 1;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        bool last = i + 4 == len;
        size_t nsym = last ? 4 - pad : 4;
        unsigned long acc = 0;
        for (size_t k = 0; k < 4; k++) {
            int v = 0;
            if (k < nsym && (v = b64_value((unsigned char)in[i + k])) < 0)
                return -1;
            acc = acc << 6 | (unsigned long)v;
        }
        /* "QQ==" is 'A'; "QR==" decodes the same but is not canonical. */
        if ((nsym == 2 && (acc & 0xffff)) || (nsym == 3 && (acc & 0xff)))
            return -1;
        out[o++] = (unsigned char)(acc >> 16);
        if (nsym > 2)
            out[o++] = (unsigned char)(acc >> 8);
        if (nsym > 3)
            out[o++] = (unsigned char)acc;
    }
    return (long)o;
}

/* The base64 token of "Basic <token>", or NULL. */
static const char *basic_token(const struct pt_req *r, size_t *len)
{
    size_t vlen;
    const char *v = pt_req_header(r, "authorization", &vlen);
    if (!v || vlen < 6 || strncasecmp(v, "basic", 5) != 0 ||
        (v[5] != ' ' && v[5] != '\t'))
        return NULL;
    size_t i = 5;
    while (i < vlen && (v[i] == ' ' || v[i] == '\t'))
        i++;
    size_t end = vlen;
    while (end > i && (v[end - 1] == ' ' || v[end - 1] == '\t'))
        end--;
    *len = end - i;
    return v + i;
}

/* The decoded "user:password" of the request (in the pool), or NULL. */
static char *credentials(struct pt_req *r, size_t *n)
{
    size_t tlen;
    const char *tok = basic_token(r, &tlen);
    if (!tok || tlen == 0 || tlen > PT_AUTH_MAX_B64)
        return NULL;
    char *cred = pt_pool_alloc(r->pool, tlen / 4 * 3 + 1);
    long len = base64_decode(tok, tlen, (unsigned char *)cred);
    if (len <= 0 || !memchr(cred, ':', (size_t)len))
        return NULL;
    *n = (size_t)len;
    return cred;
}

/* The length of the user name in credentials (they hold a ':'). */
static size_t user_len(const char *cred, size_t n)
{
    return (size_t)((const char *)memchr(cred, ':', n) - cred);
}

/* Whether cred ("user:password", n bytes) names a user with that
 * password: from the cache, else by the user's hash. */
static bool verify(struct pt_authstate *a, const char *cred, size_t n)
{
    size_t ulen = user_len(cred, n);
    uint64_t gen;
    struct pt_htusers *users = pt_authstate_users(a, &gen);
    unsigned char key[32];
    pt_authstate_key(a, cred, n, key);
    bool ok = pt_authstate_cached(a, gen, key);
    if (!ok) {
        /* An unknown user is checked against the first user's entry all
         * the same, so the time taken does not say which users exist. */
        const struct pt_htuser *u = pt_htusers_find(users, cred, ulen);
        const struct pt_htuser *h = u ? u : &users->v[0];
        ok = pt_pwhash_verify(h->scheme, h->stored, cred + ulen + 1, n - ulen - 1) &&
             u != NULL;
        if (ok)
            pt_authstate_remember(a, gen, key);
    }
    pt_htusers_unref(users);
    return ok;
}

bool pt_basic_auth_check(struct pt_req *r)
{
    const struct pt_mount *m = r->mount;
    if (!m || !m->basic_auth)
        return true;
    if (!m->auth) /* its file was never read: nobody gets in */
        return false;
    size_t n;
    char *cred = credentials(r, &n);
    if (!cred)
        return false;
    bool ok = verify(m->auth, cred, n);
    if (ok)
        r->remote_user = pt_pool_strndup(r->pool, cred, user_len(cred, n));
    OPENSSL_cleanse(cred, n);
    return ok;
}

/* ---- the 401 ---- */

/* The vhost name as an RFC 9110 quoted-string body: '"' and '\' escaped,
 * anything that cannot appear in a header dropped. */
static const char *realm(struct pt_pool *pool, const char *name)
{
    size_t n = strlen(name);
    char *out = pt_pool_alloc(pool, 2 * n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f)
            continue;
        if (c == '"' || c == '\\')
            *o++ = '\\';
        *o++ = (char)c;
    }
    *o = '\0';
    return out;
}

/* A user name from the client, fit for a log line: printable ASCII but
 * '"' and '\' as they are, other bytes as \xHH, at most 64 bytes. */
static const char *log_name(struct pt_pool *pool, const char *s, size_t n)
{
    size_t shown = n > 64 ? 64 : n;
    char *out = pt_pool_alloc(pool, shown * 4 + 4), *o = out;
    for (size_t i = 0; i < shown; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            *o++ = (char)c;
        else
            o += sprintf(o, "\\x%02x", c);
    }
    strcpy(o, n > shown ? "..." : "");
    return out;
}

void pt_basic_auth_refuse(struct pt_req *r)
{
    const char *name = r->vhost && r->vhost->name ? r->vhost->name : "";
    pt_resp_header(r, "WWW-Authenticate",
                   pt_pool_printf(r->pool, "Basic realm=\"%s\", charset=\"UTF-8\"",
                                  realm(r->pool, name)));
    /* The user tried goes to the log line of the 401 (with the peer and
     * the mount); the password never does. */
    size_t alen, n;
    const char *note = "credentials required";
    char *cred = NULL;
    if (pt_req_header(r, "authorization", &alen)) {
        note = "bad credentials";
        cred = credentials(r, &n);
    }
    if (cred) {
        size_t ulen = user_len(cred, n);
        note = pt_pool_printf(r->pool, "bad credentials for user \"%s\"",
                              log_name(r->pool, cred, ulen));
        OPENSSL_cleanse(cred, n);
    }
    pt_respond_error(r, 401, note);
}
