/* HTTP Basic authentication (RFC 7617) against a mount's user list. */
#include "gateway/mount.h"

#include <string.h>
#include <strings.h>

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

/* Compares cred[0..n) with "user:pass" in time that depends only on the
 * stored lengths, never on where the first difference is. */
static bool cred_equal(const unsigned char *cred, size_t n,
                          const char *user, const char *pass)
{
    size_t ulen = strlen(user), plen = strlen(pass);
    size_t total = ulen + 1 + plen;
    unsigned diff = total != n;
    for (size_t i = 0; i < total; i++) {
        unsigned char want = i < ulen ? (unsigned char)user[i]
                           : i == ulen ? ':'
                           : (unsigned char)pass[i - ulen - 1];
        unsigned char got = i < n ? cred[i] : 0;
        diff |= (unsigned)(want ^ got);
    }
    return diff == 0;
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

bool pt_basic_auth_check(struct pt_req *r)
{
    const struct pt_mount *m = r->mount;
    if (!m || m->auth_users.n == 0)
        return true;
    size_t tlen;
    const char *tok = basic_token(r, &tlen);
    if (!tok || tlen == 0 || tlen > PT_AUTH_MAX_B64)
        return false;
    unsigned char *cred = pt_pool_alloc(r->pool, tlen / 4 * 3 + 1);
    long n = base64_decode(tok, tlen, cred);
    if (n <= 0 || !memchr(cred, ':', (size_t)n))
        return false;

    /* Check every user so the time taken does not say which one matched. */
    const struct pt_kv *found = NULL;
    for (size_t i = 0; i < m->auth_users.n; i++) {
        const struct pt_kv *u = &m->auth_users.v[i];
        if (cred_equal(cred, (size_t)n, u->name, u->value) && !found)
            found = u;
    }
    if (!found)
        return false;
    r->remote_user = pt_pool_strndup(r->pool, found->name, strlen(found->name));
    return true;
}
