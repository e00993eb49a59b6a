/* Strict, incremental HTTP/1.x head parser (requests, and responses for
 * the proxy's client) and chunked decoder (RFC 9110, RFC 9112).
 *
 * The head parser is a byte-driven state machine whose state lives in
 * struct h1_parser, so that a head arriving one byte at a time yields the
 * same result as one arriving whole.  The hot states (target, header name,
 * header value) run tight table-driven loops; the few well-known headers
 * whose semantics matter to framing are interpreted once, when their line
 * completes. */
#include "http1/parser.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_HEAD    16384
#define DEFAULT_MAX_TARGET  8192
#define DEFAULT_MAX_LINE    4096
#define DEFAULT_MAX_TRAILER 16384

/* ---- character classes ------------------------------------------------ */

enum {
    C_TCHAR  = 0x01, /* token: RFC 9110 5.6.2 */
    C_TARGET = 0x02, /* request-target byte: visible ASCII */
    C_FIELD  = 0x04, /* field-vchar: VCHAR / obs-text */
    C_WS     = 0x08, /* SP / HTAB */
    C_HOST   = 0x10, /* uri-host [":" port], IP-literal brackets included */
    C_DIGIT  = 0x20,
    C_HEX    = 0x40,
};

#define IS_ALPHA(c) (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z'))
#define IS_DIG(c)   ((c) >= '0' && (c) <= '9')
#define IS_HEXL(c)  (((c) >= 'a' && (c) <= 'f') || ((c) >= 'A' && (c) <= 'F'))
#define IS_TSYM(c)  ((c) == '!' || (c) == '#' || (c) == '$' || (c) == '%' || \
                     (c) == '&' || (c) == '\'' || (c) == '*' || (c) == '+' || \
                     (c) == '-' || (c) == '.' || (c) == '^' || (c) == '_' || \
                     (c) == '`' || (c) == '|' || (c) == '~')
#define IS_HSYM(c)  ((c) == '-' || (c) == '.' || (c) == '_' || (c) == '~' || \
                     (c) == '!' || (c) == '$' || (c) == '&' || (c) == '\'' || \
                     (c) == '(' || (c) == ')' || (c) == '*' || (c) == '+' || \
                     (c) == ',' || (c) == ';' || (c) == '=' || (c) == '%' || \
                     (c) == ':' || (c) == '[' || (c) == ']')

/* Computed at compile time so the table documents itself. */
#define CLS(c) ( \
    ((IS_ALPHA(c) || IS_DIG(c) || IS_TSYM(c)) ? C_TCHAR : 0) | \
    (((c) > 0x20 && (c) < 0x7f) ? C_TARGET : 0) | \
    ((((c) > 0x20 && (c) < 0x7f) || (c) >= 0x80) ? C_FIELD : 0) | \
    (((c) == ' ' || (c) == '\t') ? C_WS : 0) | \
    ((IS_ALPHA(c) || IS_DIG(c) || IS_HSYM(c)) ? C_HOST : 0) | \
    (IS_DIG(c) ? C_DIGIT : 0) | \
    ((IS_DIG(c) || IS_HEXL(c)) ? C_HEX : 0))
#define CLS4(c)   CLS(c), CLS((c) + 1), CLS((c) + 2), CLS((c) + 3)
#define CLS16(c)  CLS4(c), CLS4((c) + 4), CLS4((c) + 8), CLS4((c) + 12)
#define CLS64(c)  CLS16(c), CLS16((c) + 16), CLS16((c) + 32), CLS16((c) + 48)

static const uint8_t cls[256] = {
    CLS64(0), CLS64(64), CLS64(128), CLS64(192),
};

/* ---- head parser ------------------------------------------------------ */

enum {
    S_START,       /* skipping empty lines before the request line */
    S_START_LF,    /* CR seen in a leading empty line */
    S_METHOD,
    S_TARGET,
    S_VERSION,
    S_RL_LF,       /* CR seen after the version */
    S_HDR_START,   /* at the start of a field line or the final empty line */
    S_HDR_NAME,
    S_HDR_OWS,     /* after ':' */
    S_HDR_VALUE,
    S_HDR_LF,      /* CR seen after a field value */
    S_END_LF,      /* CR seen of the final empty line */
    S_DONE,
    S_ERROR,
    S_RS_VERSION,  /* response: "HTTP/" DIGIT "." DIGIT SP */
    S_RS_STATUS,   /* 3DIGIT */
    S_RS_REASON,   /* [ SP reason-phrase ] */
    S_RS_LF,       /* CR seen after the status line */
};

enum {
    H1F_CONN_UPGRADE = 0x01, /* Connection lists "upgrade" */
    H1F_UPGRADE_HDR  = 0x02, /* an Upgrade header was seen */
    H1F_TE           = 0x04, /* a Transfer-Encoding header was seen */
    H1F_RESPONSE     = 0x08, /* parsing a response head */
    H1F_CHUNKED      = 0x10, /* "chunked" was listed (it may not stay final) */
    H1F_TE_OTHER     = 0x20, /* a coding other than chunked (responses only) */
};

void h1_parser_init(struct h1_parser *p, size_t max_head, size_t max_target)
{
    memset(p, 0, sizeof(*p));
    /* Offsets are 32-bit. */
    if (max_head == 0) max_head = DEFAULT_MAX_HEAD;
    if (max_head > UINT32_MAX - 1) max_head = UINT32_MAX - 1;
    if (max_target == 0) max_target = DEFAULT_MAX_TARGET;
    p->max_head = max_head;
    p->max_target = max_target;
    p->state = S_START;
    p->req.content_length = -1;
}

void h1_parser_init_response(struct h1_parser *p, size_t max_head)
{
    h1_parser_init(p, max_head, 0);
    p->state = S_RS_VERSION;
    p->flags = H1F_RESPONSE;
}

static int fail(struct h1_parser *p, size_t pos, int status, const char *msg)
{
    p->state = S_ERROR;
    p->pos = pos;
    /* A bad response head is the backend's fault: the gateway's 502. */
    p->error_status = (p->flags & H1F_RESPONSE) ? 502 : status;
    p->error_msg = msg;
    return H1_ERROR;
}

static inline int lc(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

/* Case-insensitive compare of s[0..n) with a lower-case literal. */
static bool eq_lower(const unsigned char *s, size_t n, const char *lit, size_t ln)
{
    if (n != ln) return false;
    for (size_t i = 0; i < n; i++)
        if (lc(s[i]) != (unsigned char)lit[i]) return false;
    return true;
}

#define EQ_LIT(s, n, lit) eq_lower((s), (n), lit, sizeof(lit) - 1)

/* Walks a comma-separated list: returns the next element (OWS trimmed) in
 * el/el_len and advances pos; false at the end.  Empty elements are
 * returned as such so that callers can decide whether they are legal. */
static bool next_elem(const unsigned char *s, size_t n, size_t *pos,
                      const unsigned char **el, size_t *el_len)
{
    size_t i = *pos;
    if (i > n) return false;
    size_t a = i;
    while (i < n && s[i] != ',') i++;
    size_t b = i;
    while (a < b && (cls[s[a]] & C_WS)) a++;
    while (b > a && (cls[s[b - 1]] & C_WS)) b--;
    *el = s + a;
    *el_len = b - a;
    *pos = i + 1; /* past the comma; > n after the last element */
    return true;
}

static bool all_class(const unsigned char *s, size_t n, uint8_t c)
{
    for (size_t i = 0; i < n; i++)
        if (!(cls[s[i]] & c)) return false;
    return true;
}

/* Content-Length = 1*DIGIT, possibly repeated as a list of equal values
 * (RFC 9110 8.6).  Returns -1 when malformed, conflicting or too large. */
static int64_t parse_content_length(const unsigned char *s, size_t n)
{
    int64_t first = -1;
    const unsigned char *el;
    size_t el_len, pos = 0;
    while (next_elem(s, n, &pos, &el, &el_len)) {
        if (el_len == 0) return -1;
        int64_t v = 0;
        for (size_t i = 0; i < el_len; i++) {
            if (!(cls[el[i]] & C_DIGIT)) return -1;
            int d = el[i] - '0';
            if (v > (INT64_MAX - d) / 10) return -1;
            v = v * 10 + d;
        }
        if (first >= 0 && v != first) return -1;
        first = v;
    }
    return first;
}

static int apply_content_length(struct h1_parser *p, size_t pos,
                                 const unsigned char *v, size_t n)
{
    int64_t cl = parse_content_length(v, n);
    if (cl < 0) return fail(p, pos, 400, "invalid Content-Length");
    if (p->req.content_length >= 0 && p->req.content_length != cl)
        return fail(p, pos, 400, "conflicting Content-Length");
    p->req.content_length = cl;
    return H1_AGAIN;
}

/* The codings may be spread over several Transfer-Encoding lines, so the
 * framing they imply is only known when the head ends: each element updates
 * it as if it were the last.  A request may only use "chunked" (anything
 * else is a 501 at once); a response ending in another coding runs to the
 * close (RFC 9112 6.3).  finish_head() checks the combination. */
static int apply_transfer_encoding(struct h1_parser *p, size_t pos,
                                   const unsigned char *v, size_t n)
{
    if (p->req.version == 10)
        return fail(p, pos, 400, "Transfer-Encoding in HTTP/1.0");
    p->flags |= H1F_TE;
    const unsigned char *el;
    size_t el_len, i = 0;
    while (next_elem(v, n, &i, &el, &el_len)) {
        if (el_len == 0) return fail(p, pos, 400, "invalid Transfer-Encoding");
        if (EQ_LIT(el, el_len, "chunked")) {
            if (p->flags & H1F_CHUNKED) return fail(p, pos, 400, "chunked applied twice");
            p->flags |= H1F_CHUNKED;
            p->req.chunked = true;
            p->req.close_delimited = false;
        } else if (p->flags & H1F_RESPONSE) {
            p->flags |= H1F_TE_OTHER;
            p->req.chunked = false;
            p->req.close_delimited = true;
        } else {
            return fail(p, pos, 501, "unsupported transfer coding");
        }
    }
    return H1_AGAIN;
}

static void apply_connection(struct h1_parser *p, const unsigned char *v, size_t n)
{
    const unsigned char *el;
    size_t el_len, i = 0;
    while (next_elem(v, n, &i, &el, &el_len)) {
        if (EQ_LIT(el, el_len, "close")) p->req.conn_close = true;
        else if (EQ_LIT(el, el_len, "keep-alive")) p->req.conn_keep_alive = true;
        else if (EQ_LIT(el, el_len, "upgrade")) p->flags |= H1F_CONN_UPGRADE;
    }
}

static int apply_host(struct h1_parser *p, size_t pos, const struct h1_header *h,
                      const unsigned char *v)
{
    if (p->req.has_host) return fail(p, pos, 400, "multiple Host headers");
    /* The value is used for virtual-host routing: refuse anything that is
     * not a plausible uri-host[:port] (no spaces, slashes, userinfo). */
    if (!all_class(v, h->value.len, C_HOST)) return fail(p, pos, 400, "invalid Host");
    p->req.has_host = true;
    p->req.host = h->value;
    return H1_AGAIN;
}

/* Interprets the header just completed when it is one that matters to
 * framing or connection handling.  Returns H1_AGAIN or H1_ERROR. */
static int apply_header(struct h1_parser *p, const unsigned char *b, size_t pos,
                        const struct h1_header *h)
{
    const unsigned char *name = b + h->name.off, *v = b + h->value.off;
    size_t nl = h->name.len, vl = h->value.len;

    switch (nl) {
    case 4:
        if (EQ_LIT(name, nl, "host") && !(p->flags & H1F_RESPONSE))
            return apply_host(p, pos, h, v);
        break;
    case 6:
        if (EQ_LIT(name, nl, "expect") && !(p->flags & H1F_RESPONSE)) {
            if (EQ_LIT(v, vl, "100-continue")) p->req.expect_continue = true;
            else p->req.expect_other = true;
        }
        break;
    case 7:
        if (EQ_LIT(name, nl, "upgrade") && !(p->flags & H1F_UPGRADE_HDR)) {
            p->flags |= H1F_UPGRADE_HDR;
            p->req.upgrade_proto = h->value;
        }
        break;
    case 10:
        if (EQ_LIT(name, nl, "connection")) apply_connection(p, v, vl);
        break;
    case 14:
        if (EQ_LIT(name, nl, "content-length"))
            return apply_content_length(p, pos, v, vl);
        break;
    case 17:
        if (EQ_LIT(name, nl, "transfer-encoding"))
            return apply_transfer_encoding(p, pos, v, vl);
        break;
    }
    return H1_AGAIN;
}

/* authority = host [":" port] with a non-empty host and no userinfo. */
static bool valid_authority(const unsigned char *s, size_t n, bool need_port)
{
    if (n == 0 || !all_class(s, n, C_HOST)) return false;
    size_t colon = n;
    for (size_t i = n; i > 0; i--) {
        if (s[i - 1] == ':') { colon = i - 1; break; }
        if (s[i - 1] == ']') break; /* inside an IP-literal */
    }
    if (colon == 0) return false;
    if (colon == n) return !need_port;
    size_t plen = n - colon - 1;
    if (plen > 5 || (need_port && plen == 0)) return false;
    return all_class(s + colon + 1, plen, C_DIGIT);
}

/* RFC 9112 3.2: origin-form, absolute-form (http/https), authority-form
 * (CONNECT only) and asterisk-form (OPTIONS only). */
static const char *check_target(const unsigned char *b, const struct h1_request *r)
{
    const unsigned char *m = b + r->method.off, *t = b + r->target.off;
    size_t ml = r->method.len, tl = r->target.len;
    bool connect = ml == 7 && memcmp(m, "CONNECT", 7) == 0;

    if (connect)
        return valid_authority(t, tl, true) ? NULL : "CONNECT needs authority-form";
    /* A fragment is the client's own business (RFC 9110 7.1): never sent. */
    if (memchr(t, '#', tl)) return "fragment (#) in request target";
    if (t[0] == '/') return NULL;
    if (tl == 1 && t[0] == '*')
        return ml == 7 && memcmp(m, "OPTIONS", 7) == 0 ? NULL
                                                       : "asterisk-form only with OPTIONS";
    size_t skip;
    if (tl >= 7 && EQ_LIT(t, 7, "http://")) skip = 7;
    else if (tl >= 8 && EQ_LIT(t, 8, "https://")) skip = 8;
    else return "invalid request target";
    size_t e = skip;
    while (e < tl && t[e] != '/' && t[e] != '?' && t[e] != '#') e++;
    return valid_authority(t + skip, e - skip, false) ? NULL : "invalid authority in target";
}

static int finish_request_line(struct h1_parser *p, const unsigned char *b, size_t pos)
{
    /* S_VERSION has checked the shape "HTTP/" DIGIT "." DIGIT. */
    const unsigned char *v = b + p->req.target.off + p->req.target.len + 1;
    int major = v[5] - '0', minor = v[7] - '0';
    /* RFC 9112 2.3: a later 1.x is served as the highest we speak, 1.1. */
    if (major == 1 && minor >= 1) p->req.version = 11;
    else if (major == 1 && minor == 0) p->req.version = 10;
    else return fail(p, pos, 505, "unsupported HTTP version");
    return H1_AGAIN;
}

static int finish_head(struct h1_parser *p, size_t end)
{
    struct h1_request *r = &p->req;
    if (r->version == 11 && !r->has_host && !(p->flags & H1F_RESPONSE))
        return fail(p, end, 400, "missing Host");
    if ((p->flags & H1F_TE) && r->content_length >= 0)
        return fail(p, end, 400, "Transfer-Encoding with Content-Length");
    /* "gzip, chunked": de-chunked, the body would still be gzip-coded and
     * the caller has no way to undo or pass on that coding. */
    if (r->chunked && (p->flags & H1F_TE_OTHER))
        return fail(p, end, 501, "unsupported transfer coding");
    r->upgrade = (p->flags & H1F_CONN_UPGRADE) && (p->flags & H1F_UPGRADE_HDR) &&
                 r->upgrade_proto.len > 0;
    p->head_len = end;
    p->pos = end;
    p->state = S_DONE;
    return H1_DONE;
}

static int finish_header(struct h1_parser *p, const unsigned char *b, size_t pos)
{
    struct h1_header *h = &p->req.headers[p->req.n_headers++];
    h->value.len = (uint32_t)(p->value_end - h->value.off);
    return apply_header(p, b, pos, h);
}

int h1_parse(struct h1_parser *p, const char *buf, size_t len)
{
    if (p->state == S_DONE) return H1_DONE;
    if (p->state == S_ERROR) return H1_ERROR;

    const unsigned char *b = (const unsigned char *)buf;
    struct h1_request *r = &p->req;
    /* Bytes past max_head are never examined: reaching them is a 431. */
    size_t end = len < p->max_head ? len : p->max_head;
    size_t i = p->pos;
    int st = p->state;

    while (i < end) {
        unsigned char c = b[i];
        switch (st) {
        case S_START:
            if (c == '\n') { i++; break; }
            if (c == '\r') { st = S_START_LF; i++; break; }
            if (!(cls[c] & C_TCHAR)) return fail(p, i, 400, "invalid method");
            r->method.off = (uint32_t)i++;
            st = S_METHOD;
            break;

        case S_START_LF:
            if (c != '\n') return fail(p, i, 400, "bare CR");
            st = S_START;
            i++;
            break;

        case S_METHOD:
            while (i < end && (cls[b[i]] & C_TCHAR)) i++;
            if (i == end) break;
            if (b[i] == '\r' || b[i] == '\n')
                return fail(p, i, 400, "missing request target");
            if (b[i] != ' ') return fail(p, i, 400, "invalid method");
            r->method.len = (uint32_t)(i - r->method.off);
            r->target.off = (uint32_t)++i;
            st = S_TARGET;
            break;

        case S_TARGET: {
            /* Stop at the first byte that would exceed max_target. */
            size_t lim = r->target.off + p->max_target;
            size_t e = end < lim ? end : lim;
            while (i < e && (cls[b[i]] & C_TARGET)) i++;
            if (i == end) break;
            c = b[i];
            if (c == ' ') {
                r->target.len = (uint32_t)(i - r->target.off);
                if (r->target.len == 0) return fail(p, i, 400, "empty request target");
                const char *err = check_target(b, r);
                if (err) return fail(p, i, 400, err);
                i++;
                st = S_VERSION;
                break;
            }
            if (cls[c] & C_TARGET) return fail(p, i, 414, "request target too long");
            if (c == '\r' || c == '\n') return fail(p, i, 400, "missing HTTP version");
            return fail(p, i, 400, "invalid character in request target");
        }

        case S_VERSION: {
            /* "HTTP/" DIGIT "." DIGIT, then the line end. */
            size_t k = i - (r->target.off + r->target.len + 1);
            if (k < 5) {
                if (c != (unsigned char)"HTTP/"[k]) return fail(p, i, 400, "invalid HTTP version");
            } else if (k == 5 || k == 7) {
                if (!(cls[c] & C_DIGIT)) return fail(p, i, 400, "invalid HTTP version");
            } else if (k == 6) {
                if (c != '.') return fail(p, i, 400, "invalid HTTP version");
            } else if (c == '\r') {
                st = S_RL_LF;
            } else if (c == '\n') {
                if (finish_request_line(p, b, i) != H1_AGAIN) return H1_ERROR;
                p->line_start = i + 1;
                st = S_HDR_START;
            } else {
                return fail(p, i, 400, "invalid HTTP version");
            }
            i++;
            break;
        }

        case S_RL_LF:
            if (c != '\n') return fail(p, i, 400, "bare CR");
            if (finish_request_line(p, b, i) != H1_AGAIN) return H1_ERROR;
            p->line_start = ++i;
            st = S_HDR_START;
            break;

        case S_HDR_START:
            if (cls[c] & C_TCHAR) {
                if (r->n_headers == H1_MAX_HEADERS)
                    return fail(p, i, 431, "too many headers");
                r->headers[r->n_headers].name.off = (uint32_t)i++;
                st = S_HDR_NAME;
            } else if (c == '\r') {
                st = S_END_LF;
                i++;
            } else if (c == '\n') {
                return finish_head(p, i + 1);
            } else if (cls[c] & C_WS) {
                return fail(p, i, 400, r->n_headers ? "obs-fold"
                                                    : "whitespace before first header");
            } else if (c == ':') {
                return fail(p, i, 400, "empty header name");
            } else {
                return fail(p, i, 400, "invalid header name");
            }
            break;

        case S_HDR_NAME: {
            while (i < end && (cls[b[i]] & C_TCHAR)) i++;
            if (i == end) break;
            c = b[i];
            struct h1_header *h = &r->headers[r->n_headers];
            if (c == ':') {
                h->name.len = (uint32_t)(i - h->name.off);
                i++;
                st = S_HDR_OWS;
            } else if (cls[c] & C_WS) {
                return fail(p, i, 400, "whitespace before colon");
            } else if (c == '\r' || c == '\n') {
                return fail(p, i, 400, "header line without colon");
            } else {
                return fail(p, i, 400, "invalid header name");
            }
            break;
        }

        case S_HDR_OWS:
            while (i < end && (cls[b[i]] & C_WS)) i++;
            if (i == end) break;
            c = b[i];
            r->headers[r->n_headers].value.off = (uint32_t)i;
            p->value_end = i;
            if (cls[c] & C_FIELD) {
                p->value_end = ++i;
                st = S_HDR_VALUE;
            } else if (c == '\r') {
                st = S_HDR_LF;
                i++;
            } else if (c == '\n') {
                if (finish_header(p, b, i) != H1_AGAIN) return H1_ERROR;
                p->line_start = ++i;
                st = S_HDR_START;
            } else {
                return fail(p, i, 400, "invalid character in header value");
            }
            break;

        case S_HDR_VALUE: {
            /* Runs of field-vchars, then of OWS: value_end moves per run. */
            size_t ve = p->value_end;
            while (i < end) {
                uint8_t k = cls[b[i]];
                if (k & C_FIELD) {
                    i++;
                    while (i < end && (cls[b[i]] & C_FIELD)) i++;
                    ve = i;
                } else if (k & C_WS) {
                    i++;
                } else {
                    break;
                }
            }
            p->value_end = ve;
            if (i == end) break;
            c = b[i];
            if (c == '\r') {
                st = S_HDR_LF;
                i++;
            } else if (c == '\n') {
                if (finish_header(p, b, i) != H1_AGAIN) return H1_ERROR;
                p->line_start = ++i;
                st = S_HDR_START;
            } else {
                return fail(p, i, 400, c == 0 ? "NUL in header value"
                                              : "invalid character in header value");
            }
            break;
        }

        case S_HDR_LF:
            if (c != '\n') return fail(p, i, 400, "bare CR in header");
            if (finish_header(p, b, i) != H1_AGAIN) return H1_ERROR;
            p->line_start = ++i;
            st = S_HDR_START;
            break;

        case S_END_LF:
            if (c != '\n') return fail(p, i, 400, "bare CR");
            return finish_head(p, i + 1);

        case S_RS_VERSION: {
            size_t k = i - p->line_start;
            if (k < 5) {
                if (c != (unsigned char)"HTTP/"[k]) return fail(p, i, 502, "invalid HTTP version");
            } else if (k == 5 || k == 7) {
                if (!(cls[c] & C_DIGIT)) return fail(p, i, 502, "invalid HTTP version");
            } else if (k == 6) {
                if (c != '.') return fail(p, i, 502, "invalid HTTP version");
            } else {
                if (c != ' ') return fail(p, i, 502, "invalid status line");
                const unsigned char *v = b + p->line_start;
                if (v[5] == '1' && v[7] >= '1') r->version = 11; /* as for requests */
                else if (v[5] == '1' && v[7] == '0') r->version = 10;
                else return fail(p, i, 502, "unsupported HTTP version");
                p->value_end = i + 1; /* the status code starts here */
                st = S_RS_STATUS;
            }
            i++;
            break;
        }

        case S_RS_STATUS: {
            size_t k = i - p->value_end;
            if (k < 3) {
                if (!(cls[c] & C_DIGIT) || (k == 0 && c == '0'))
                    return fail(p, i, 502, "invalid status code");
                r->status = r->status * 10 + (c - '0');
                i++;
                break;
            }
            if (c == ' ') {
                r->reason.off = (uint32_t)++i;
            } else if (c == '\r' || c == '\n') {
                /* No reason and no space ("HTTP/1.1 200\r\n"): as curl,
                 * nginx and h2o read it.  The line end is S_RS_REASON's. */
                r->reason.off = (uint32_t)i;
            } else {
                return fail(p, i, 502, "invalid status code");
            }
            st = S_RS_REASON;
            break;
        }

        case S_RS_REASON:
            /* reason-phrase = *( HTAB / SP / VCHAR / obs-text ) */
            while (i < end && (cls[b[i]] & (C_FIELD | C_WS))) i++;
            if (i == end) break;
            c = b[i];
            r->reason.len = (uint32_t)(i - r->reason.off);
            if (c == '\r') {
                st = S_RS_LF;
                i++;
            } else if (c == '\n') {
                p->line_start = ++i;
                st = S_HDR_START;
            } else {
                return fail(p, i, 502, "invalid reason phrase");
            }
            break;

        case S_RS_LF:
            if (c != '\n') return fail(p, i, 502, "bare CR");
            p->line_start = ++i;
            st = S_HDR_START;
            break;
        }
    }

    p->pos = i;
    p->state = st;
    if (len > p->max_head)
        return fail(p, i, 431, (p->flags & H1F_RESPONSE) ? "response head too large"
                                                         : "request head too large");
    return H1_AGAIN;
}

/* ---- chunked decoder -------------------------------------------------- */

enum {
    C_SIZE0,     /* first hex digit of a chunk size */
    C_SIZE,      /* more hex digits */
    C_SIZE_BWS,  /* whitespace after the size: only ';' may follow */
    C_EXT,       /* chunk extension, skipped */
    C_SIZE_LF,   /* CR seen after the size line */
    C_DATA,
    C_DATA_CR,
    C_DATA_LF,
    C_TR_START,  /* start of a trailer line or the final empty line */
    C_TR_NAME,
    C_TR_VALUE,
    C_TR_LF,
    C_END_LF,
    C_DONE,
    C_ERROR,
};

#define CHUNK_SIZE_LIMIT (UINT64_C(1) << 60)

void h1_chunked_init(struct h1_chunked *c)
{
    memset(c, 0, sizeof(*c));
    c->state = C_SIZE0;
    c->max_line = DEFAULT_MAX_LINE;
    c->max_trailer = DEFAULT_MAX_TRAILER;
}

void h1_chunked_release(struct h1_chunked *c)
{
    free(c->trailers);
    c->trailers = NULL;
    c->trailers_len = 0;
}

bool h1_chunked_trailer_next(const struct h1_chunked *c, size_t *pos, struct h1_span *name,
                             struct h1_span *value)
{
    /* The section was checked byte by byte: "name:value\r\n" lines. */
    const char *s = c->trailers;
    size_t i = *pos, end = c->trailers_len;
    if (!s || i >= end)
        return false;
    size_t colon = i;
    while (colon < end && s[colon] != ':')
        colon++;
    size_t eol = colon;
    while (eol < end && s[eol] != '\r')
        eol++;
    if (colon >= end || eol >= end)
        return false;
    size_t v = colon + 1, ve = eol;
    while (v < ve && (s[v] == ' ' || s[v] == '\t'))
        v++;
    while (ve > v && (s[ve - 1] == ' ' || s[ve - 1] == '\t'))
        ve--;
    name->off = (uint32_t)i;
    name->len = (uint32_t)(colon - i);
    value->off = (uint32_t)v;
    value->len = (uint32_t)(ve - v);
    *pos = eol + 2;
    return true;
}

/* Keeps one byte of a trailer line (not of the final empty line). */
static void keep_trailer_byte(struct h1_chunked *c, unsigned char ch)
{
    if (!c->trailers && !(c->trailers = malloc(c->max_trailer))) {
        c->keep_trailers = false; /* out of memory: they are dropped */
        return;
    }
    c->trailers[c->trailers_len++] = (char)ch;
}

static int chunk_fail(struct h1_chunked *c, const char *msg)
{
    c->state = C_ERROR;
    c->error_msg = msg;
    return -1;
}

static inline int hexval(unsigned char ch)
{
    return ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10;
}

/* One byte of a size line (size, extension, CRLF). */
static int chunk_size_byte(struct h1_chunked *c, unsigned char ch)
{
    if (++c->line_len > c->max_line) return chunk_fail(c, "chunk size line too long");
    switch (c->state) {
    case C_SIZE0:
        if (!(cls[ch] & C_HEX)) return chunk_fail(c, "invalid chunk size");
        c->remaining = (uint64_t)hexval(ch);
        c->digits = 1;
        c->state = C_SIZE;
        return 0;
    case C_SIZE:
        if (cls[ch] & C_HEX) {
            if (++c->digits > 16 || c->remaining >= CHUNK_SIZE_LIMIT >> 4)
                return chunk_fail(c, "chunk size too large");
            c->remaining = c->remaining << 4 | (uint64_t)hexval(ch);
        } else if (ch == ';') {
            c->state = C_EXT;
        } else if (cls[ch] & C_WS) {
            c->state = C_SIZE_BWS;
        } else if (ch == '\r') {
            c->state = C_SIZE_LF;
        } else {
            return chunk_fail(c, "invalid chunk size");
        }
        return 0;
    case C_SIZE_BWS:
        if (ch == ';') c->state = C_EXT;
        else if (!(cls[ch] & C_WS)) return chunk_fail(c, "invalid chunk extension");
        return 0;
    case C_EXT:
        if (ch == '\r') c->state = C_SIZE_LF;
        else if (!(cls[ch] & (C_FIELD | C_WS)))
            return chunk_fail(c, "invalid chunk extension");
        return 0;
    default: /* C_SIZE_LF */
        if (ch != '\n') return chunk_fail(c, "bare CR in chunk size line");
        c->state = c->remaining ? C_DATA : C_TR_START;
        c->line_len = 0;
        return 0;
    }
}

/* One byte of the trailer section (after the last chunk). */
static int chunk_trailer_byte(struct h1_chunked *c, unsigned char ch)
{
    if (++c->trailer_bytes > c->max_trailer)
        return chunk_fail(c, "trailer section too large");
    if (c->keep_trailers && c->state != C_END_LF && (c->state != C_TR_START || ch != '\r'))
        keep_trailer_byte(c, ch);
    switch (c->state) {
    case C_TR_START:
        if (ch == '\r') c->state = C_END_LF;
        else if (cls[ch] & C_TCHAR) c->state = C_TR_NAME;
        else return chunk_fail(c, "invalid trailer field");
        return 0;
    case C_TR_NAME:
        if (ch == ':') c->state = C_TR_VALUE;
        else if (!(cls[ch] & C_TCHAR)) return chunk_fail(c, "invalid trailer field");
        return 0;
    case C_TR_VALUE:
        if (ch == '\r') c->state = C_TR_LF;
        else if (!(cls[ch] & (C_FIELD | C_WS)))
            return chunk_fail(c, "invalid trailer field");
        return 0;
    case C_TR_LF:
        if (ch != '\n') return chunk_fail(c, "bare CR in trailer");
        c->state = C_TR_START;
        return 0;
    default: /* C_END_LF */
        if (ch != '\n') return chunk_fail(c, "bare CR after trailers");
        c->state = C_DONE;
        return 0;
    }
}

ssize_t h1_chunked_decode(struct h1_chunked *c, char *buf, size_t len,
                          size_t *out_len, bool *done)
{
    size_t i = 0, o = 0;
    *out_len = 0;
    *done = c->state == C_DONE;
    if (c->state == C_ERROR) return -1;

    while (i < len && c->state != C_DONE) {
        unsigned char ch = (unsigned char)buf[i];
        switch (c->state) {
        case C_DATA: {
            size_t n = len - i;
            if (n > c->remaining) n = (size_t)c->remaining;
            if (o != i) memmove(buf + o, buf + i, n);
            o += n;
            i += n;
            c->remaining -= n;
            if (c->remaining == 0) c->state = C_DATA_CR;
            continue;
        }
        case C_DATA_CR:
            if (ch != '\r') goto data_end;
            c->state = C_DATA_LF;
            break;
        case C_DATA_LF:
            if (ch != '\n') goto data_end;
            c->state = C_SIZE0;
            break;
        case C_SIZE0: case C_SIZE: case C_SIZE_BWS: case C_EXT: case C_SIZE_LF:
            if (chunk_size_byte(c, ch) < 0) goto error;
            break;
        default:
            if (chunk_trailer_byte(c, ch) < 0) goto error;
            break;
        }
        i++;
    }
    *out_len = o;
    *done = c->state == C_DONE;
    return (ssize_t)i;

data_end:
    chunk_fail(c, "missing CRLF after chunk data");
error:
    *out_len = o;
    return -1;
}
