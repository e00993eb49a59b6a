/* The opening handshake: is it one, which subprotocol, is it valid. */
#include "ws/handshake.h"

#include <openssl/evp.h>
#include <string.h>
#include <strings.h>

#include "gateway/http.h"
#include "gateway/request.h"
#include "ws/ws.h"

/* Whether the comma-separated list value has token (case-insensitive). */
static bool list_has(const char *v, size_t len, const char *token)
{
    size_t tl = strlen(token);
    const char *p = v, *end = v + len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        const char *s = p;
        while (p < end && *p != ',')
            p++;
        const char *e = p;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if ((size_t)(e - s) == tl && strncasecmp(s, token, tl) == 0)
            return true;
    }
    return false;
}

bool pt_ws_requested(const struct pt_req *r)
{
    if (r->version == 20)
        return r->method == PT_M_CONNECT && r->upgrade_proto &&
               strcasecmp(r->upgrade_proto, "websocket") == 0;
    size_t len;
    const char *up = r->upgrade ? pt_req_header(r, "upgrade", &len) : NULL;
    return up && list_has(up, len, "websocket");
}

const char *pt_ws_pick_protocol(struct pt_req *r,
                                bool (*fn)(const char *name, size_t len, void *arg),
                                void *arg)
{
    /* The field may be repeated: every instance, in order. */
    for (size_t i = 0; i < r->n_hdrs; i++) {
        const struct pt_hdr *h = &r->hdrs[i];
        if (!pt_http_name_is(h->name, h->name_len, "sec-websocket-protocol"))
            continue;
        const char *p = h->value, *end = h->value + h->value_len;
        while (p < end) {
            while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
                p++;
            const char *s = p;
            while (p < end && *p != ',' && *p != ' ' && *p != '\t')
                p++;
            if (p > s && fn(s, (size_t)(p - s), arg))
                return pt_pool_strndup(r->pool, s, (size_t)(p - s));
            while (p < end && *p != ',')
                p++;
        }
    }
    return NULL;
}

static bool b64char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/';
}

/* 16 random bytes in base64: 22 characters, the last with 4 zero bits,
 * then "==". */
static bool key_ok(const char *k, size_t len)
{
    if (len != 24 || k[22] != '=' || k[23] != '=')
        return false;
    for (int i = 0; i < 22; i++)
        if (!b64char(k[i]))
            return false;
    return strchr("AQgw", k[21]) != NULL;
}

int pt_ws_handshake_check(const struct pt_req *r, char accept[PT_WS_ACCEPT_LEN + 1],
                          const char **why)
{
    size_t vlen = 0, klen = 0;
    const char *ver = pt_req_header(r, "sec-websocket-version", &vlen);
    if (!ver || vlen != 2 || memcmp(ver, "13", 2) != 0) {
        *why = "WebSocket: Sec-WebSocket-Version is not 13";
        return 426;
    }
    accept[0] = '\0';
    if (r->version == 20)
        return 0; /* RFC 8441: no key, no accept */
    if (r->method != PT_M_GET || r->version != 11) {
        *why = "WebSocket: the upgrade is not an HTTP/1.1 GET";
        return 400;
    }
    const char *key = pt_req_header(r, "sec-websocket-key", &klen);
    if (!key || !key_ok(key, klen)) {
        *why = "WebSocket: missing or malformed Sec-WebSocket-Key";
        return 400;
    }
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) &&
              EVP_DigestUpdate(ctx, key, klen) &&
              EVP_DigestUpdate(ctx, guid, sizeof(guid) - 1) &&
              EVP_DigestFinal_ex(ctx, md, &mdlen) && mdlen == 20;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        *why = "WebSocket: SHA-1 unavailable";
        return 500;
    }
    EVP_EncodeBlock((unsigned char *)accept, md, 20);
    return 0;
}
