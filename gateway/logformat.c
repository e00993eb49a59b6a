#include "gateway/logformat.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/config.h"
#include "gateway/fmt.h"
#include "gateway/httpdate.h"
#include "gateway/request.h"

#define FIELD_MAX 1024

/* ---- escaping ----------------------------------------------------------- */

/* Copies s into out escaping as Apache does: '"' and '\\' with a
 * backslash, bytes outside printable ASCII as \xhh, so a request cannot
 * forge log lines or fields. */
static size_t esc(char *out, size_t cap, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (!s || !len) {
        if (cap > 1)
            out[o++] = '-';
        return o;
    }
    for (size_t i = 0; i < len && o + 4 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            out[o++] = (char)c;
        }
    }
    return o;
}

/* The length of the valid UTF-8 sequence at s (RFC 3629: no overlong
 * forms, no surrogates, nothing past U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *s, size_t len)
{
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf; /* bounds of the second byte */
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if (len < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

size_t pt_json_escape(char *out, size_t cap, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = u[i];
        size_t n = c >= 0x80 ? utf8_len(u + i, len - i) : 1;
        if (c >= 0x80 && n) { /* a whole character, as it is */
            if (o + n > cap)
                break;
            memcpy(out + o, u + i, n);
            o += n;
            i += n;
            continue;
        }
        char e = c == '"' ? '"' : c == '\\' ? '\\' : c == '\n' ? 'n' : c == '\r' ? 'r'
               : c == '\t' ? 't' : 0;
        if (e) {
            if (o + 2 > cap)
                break;
            out[o++] = '\\';
            out[o++] = e;
        } else if (c < 0x20 || c >= 0x7f) { /* controls, DEL, stray bytes */
            if (o + 6 > cap)
                break;
            memcpy(out + o, "\\u00", 4);
            out[o + 4] = hex[c >> 4];
            out[o + 5] = hex[c & 15];
            o += 6;
        } else {
            if (o + 1 > cap)
                break;
            out[o++] = (char)c;
        }
        i++;
    }
    return o;
}

/* ---- combined ----------------------------------------------------------- */

/* snprintf that never moves n past cap (it returns what it wanted). */
#define APPEND(...) do { \
        int _m = snprintf(line + n, cap - n, __VA_ARGS__); \
        if (_m > 0) n += (size_t)_m < cap - n ? (size_t)_m : cap - n - 1; \
    } while (0)

/* The request line as received: parsed, else what a request refused as
 * malformed began with. */
static size_t request_line(char *out, const struct pt_req *r)
{
    size_t n = 0;
    if (r->method_str) {
        n += esc(out + n, FIELD_MAX, r->method_str, r->method_len);
        out[n++] = ' ';
        n += esc(out + n, 2 * FIELD_MAX, r->target, r->target_len);
        memcpy(out + n, " HTTP/", 6);
        n += 6;
        out[n++] = (char)('0' + r->version / 10 % 10);
        out[n++] = '.';
        out[n++] = (char)('0' + r->version % 10);
    } else if (r->raw_line) {
        n += esc(out + n, 2 * FIELD_MAX, r->raw_line, r->raw_line_len);
    }
    return n;
}

/* Apache's combined format, exactly; every field is bounded, so the line
 * always fits. */
static size_t combined(const struct pt_req *r, char *line)
{
    size_t n = 0, cap = 8192 - 2;
    const char *user = r->remote_user;
    APPEND("%s - ", r->peer_ip);
    n += esc(line + n, FIELD_MAX, user, user ? strlen(user) : 0);
    APPEND(" [%s] \"", pt_logdate_now());
    n += request_line(line + n, r);
    size_t len;
    const char *ref = pt_req_header(r, "referer", &len);
    APPEND("\" %d %" PRIu64 " \"", r->status, r->bytes_sent);
    n += esc(line + n, FIELD_MAX, ref, ref ? len : 0);
    APPEND("\" \"");
    const char *ua = pt_req_header(r, "user-agent", &len);
    n += esc(line + n, FIELD_MAX, ua, ua ? len : 0);
    if (n > cap - 2)
        n = cap - 2;
    line[n++] = '"';
    line[n++] = '\n';
    return n;
}

/* ---- a bounded output ----------------------------------------------------- */

struct out {
    char *p;
    size_t n, cap;
};

static void put(struct out *o, const char *s, size_t len)
{
    if (len > o->cap - o->n)
        len = o->cap - o->n;
    memcpy(o->p + o->n, s, len);
    o->n += len;
}

#define PUTS(o, lit) put(o, lit, sizeof(lit) - 1)

static void put_u64(struct out *o, uint64_t v)
{
    char buf[20];
    put(o, buf, pt_fmt_u64(buf, v));
}

static void put_esc(struct out *o, const char *s, size_t len)
{
    size_t room = o->cap - o->n;
    o->n += esc(o->p + o->n, room < FIELD_MAX ? room : FIELD_MAX, s, len);
}

/* A JSON string (or null when s is NULL), bounded to max bytes. */
static void put_json(struct out *o, const char *s, size_t len, size_t max)
{
    if (!s) {
        PUTS(o, "null");
        return;
    }
    PUTS(o, "\"");
    size_t room = o->cap - o->n;
    room = room > 0 ? room - 1 : 0; /* the closing quote */
    o->n += pt_json_escape(o->p + o->n, room < max ? room : max, s, len);
    PUTS(o, "\"");
}

static void put_json_str(struct out *o, const char *s)
{
    put_json(o, s, s ? strlen(s) : 0, FIELD_MAX);
}

static const char *protocol(const struct pt_req *r)
{
    return r->version >= 20 ? "HTTP/2" : r->version == 10 ? "HTTP/1.0" : "HTTP/1.1";
}

static uint64_t usec_since(double start, double now)
{
    double d = now - start;
    return d > 0 ? (uint64_t)(d * 1e6 + 0.5) : 0;
}

/* Like the error log's. */
static void put_iso_time(struct out *o, double now)
{
    char buf[PT_ISOTIME_LEN];
    pt_isotime(now, buf);
    put(o, buf, sizeof buf);
}

/* ---- json ----------------------------------------------------------------- */

static void put_json_header(struct out *o, const struct pt_req *r, const char *name)
{
    size_t len;
    const char *v = pt_req_header(r, name, &len);
    put_json(o, v, len, FIELD_MAX);
}

/* Fields are bounded so that the whole object always fits (every string
 * closes, the line is valid JSON). */
static void json_line(struct out *o, const struct pt_req *r, double now)
{
    PUTS(o, "{\"time\":\"");
    put_iso_time(o, now);
    PUTS(o, "\",\"vhost\":");
    put_json_str(o, r->vhost ? r->vhost->name : NULL);
    PUTS(o, ",\"peer_ip\":");
    put_json_str(o, r->peer_ip);
    PUTS(o, ",\"peer_port\":");
    put_u64(o, r->peer_port);
    PUTS(o, ",\"method\":");
    put_json(o, r->method_str, r->method_len, FIELD_MAX);
    PUTS(o, ",\"target\":");
    put_json(o, r->target, r->target_len, 2 * FIELD_MAX);
    PUTS(o, ",\"raw_request_line\":");
    put_json(o, r->method_str ? NULL : r->raw_line, r->raw_line_len, 2 * FIELD_MAX);
    PUTS(o, ",\"protocol\":");
    put_json_str(o, protocol(r));
    PUTS(o, ",\"status\":");
    put_u64(o, r->status > 0 ? (uint64_t)r->status : 0);
    PUTS(o, ",\"bytes_sent\":");
    put_u64(o, r->bytes_sent);
    PUTS(o, ",\"request_time_us\":");
    put_u64(o, usec_since(r->start, now));
    PUTS(o, ",\"tls\":");
    put_json_str(o, r->tls_version);
    PUTS(o, ",\"user\":");
    put_json_str(o, r->remote_user);
    PUTS(o, ",\"referer\":");
    put_json_header(o, r, "referer");
    PUTS(o, ",\"user_agent\":");
    put_json_header(o, r, "user-agent");
    PUTS(o, ",\"upstream_addr\":");
    put_json_str(o, r->upstream_addr);
    PUTS(o, ",\"upstream_time_us\":");
    if (r->upstream_addr)
        put_u64(o, usec_since(0, r->upstream_time));
    else
        PUTS(o, "null");
    PUTS(o, "}");
}

/* ---- format strings ------------------------------------------------------- */

enum op {
    OP_LIT, OP_HOST, OP_IDENT, OP_USER, OP_TIME, OP_REQUEST, OP_STATUS, OP_BYTES_CLF,
    OP_BYTES, OP_HEADER, OP_USEC, OP_SEC, OP_VHOST, OP_PROTO, OP_METHOD, OP_PATH,
    OP_QUERY,
};

struct pt_logfmt_item {
    enum op op;
    const char *s; /* OP_LIT: the text; OP_HEADER: the field's name (NUL-ended) */
    size_t len;
};

static const struct {
    char c;
    enum op op;
} directives[] = {
    {'h', OP_HOST}, {'l', OP_IDENT}, {'u', OP_USER}, {'t', OP_TIME}, {'r', OP_REQUEST},
    {'s', OP_STATUS}, {'b', OP_BYTES_CLF}, {'B', OP_BYTES}, {'D', OP_USEC}, {'T', OP_SEC},
    {'v', OP_VHOST}, {'H', OP_PROTO}, {'m', OP_METHOD}, {'U', OP_PATH}, {'q', OP_QUERY},
};

static void item(struct pt_logfmt *f, enum op op, const char *s, size_t len)
{
    f->items[f->n_items++] = (struct pt_logfmt_item){op, s, len};
}

static bool header_name_ok(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || strchr("!#$%&'*+-.^_`|~", s[i])))
            return false;
    return len > 0;
}

/* The directive at p (just past its '%'); returns the text after it, or
 * NULL with why set. */
static char *directive(struct pt_logfmt *f, char *p, size_t at, char *why, size_t why_cap)
{
    if (*p == '%') {
        item(f, OP_LIT, p, 1);
        return p + 1;
    }
    if (*p == '{') {
        char *name = p + 1, *close = strchr(name, '}');
        if (!close) {
            snprintf(why, why_cap, "\"%%{\" at character %zu has no closing '}'", at);
            return NULL;
        }
        if (close[1] != 'i' || !header_name_ok(name, (size_t)(close - name))) {
            snprintf(why, why_cap, "\"%%{...}\" at character %zu: only \"%%{NAME}i\" "
                     "with a request header's name is known", at);
            return NULL;
        }
        *close = '\0';
        item(f, OP_HEADER, name, (size_t)(close - name));
        return close + 2;
    }
    if (*p == '>' && p[1] == 's')
        p++;
    for (size_t i = 0; i < sizeof(directives) / sizeof(directives[0]); i++)
        if (*p && directives[i].c == *p) {
            item(f, directives[i].op, NULL, 0);
            return p + 1;
        }
    if (!*p)
        snprintf(why, why_cap, "a lone '%%' at the end (write \"%%%%\" for a '%%')");
    else if (*p > ' ' && *p < 0x7f)
        snprintf(why, why_cap, "unknown directive \"%%%c\" at character %zu", *p, at);
    else
        snprintf(why, why_cap, "unknown directive at character %zu", at);
    return NULL;
}

static int parse_custom(struct pt_logfmt *f, const char *spec, char *why, size_t why_cap)
{
    f->kind = PT_LOGFMT_CUSTOM;
    f->text = strdup(spec);
    f->items = calloc(strlen(spec) + 1, sizeof(*f->items)); /* at most one a byte */
    if (!f->text || !f->items) {
        snprintf(why, why_cap, "out of memory");
        return -1;
    }
    for (char *p = f->text; *p;) {
        if (*p != '%') {
            size_t n = strcspn(p, "%");
            item(f, OP_LIT, p, n);
            p += n;
            continue;
        }
        size_t at = (size_t)(p - f->text) + 1;
        p = directive(f, p + 1, at, why, why_cap);
        if (!p)
            return -1;
    }
    return 0;
}

struct pt_logfmt *pt_logfmt_parse(const char *spec, char *why, size_t why_cap)
{
    struct pt_logfmt *f = calloc(1, sizeof(*f));
    if (!f) {
        snprintf(why, why_cap, "out of memory");
        return NULL;
    }
    if (strcmp(spec, "combined") == 0)
        f->kind = PT_LOGFMT_COMBINED;
    else if (strcmp(spec, "json") == 0)
        f->kind = PT_LOGFMT_JSON;
    else if (!*spec) {
        snprintf(why, why_cap, "empty (\"combined\", \"json\" or a format string)");
        pt_logfmt_free(f);
        return NULL;
    } else if (parse_custom(f, spec, why, why_cap) < 0) {
        pt_logfmt_free(f);
        return NULL;
    }
    return f;
}

void pt_logfmt_free(struct pt_logfmt *f)
{
    if (!f)
        return;
    free(f->items);
    free(f->text);
    free(f);
}

static void put_status(struct out *o, int status)
{
    put_u64(o, status > 0 ? (uint64_t)status : 0);
}

static void custom_item(struct out *o, const struct pt_logfmt_item *it,
                        const struct pt_req *r, double now)
{
    size_t len = 0;
    const char *s;
    switch (it->op) {
    case OP_LIT:
        put(o, it->s, it->len);
        break;
    case OP_HOST:
        put(o, r->peer_ip, strlen(r->peer_ip));
        break;
    case OP_IDENT:
        PUTS(o, "-");
        break;
    case OP_USER:
        put_esc(o, r->remote_user, r->remote_user ? strlen(r->remote_user) : 0);
        break;
    case OP_TIME:
        PUTS(o, "[");
        put(o, pt_logdate_now(), strlen(pt_logdate_now()));
        PUTS(o, "]");
        break;
    case OP_REQUEST: {
        char buf[4 * FIELD_MAX + 16]; /* request_line()'s bound */
        put(o, buf, request_line(buf, r));
        break;
    }
    case OP_STATUS:
        put_status(o, r->status);
        break;
    case OP_BYTES_CLF:
        if (r->bytes_sent)
            put_u64(o, r->bytes_sent);
        else
            PUTS(o, "-");
        break;
    case OP_BYTES:
        put_u64(o, r->bytes_sent);
        break;
    case OP_HEADER:
        s = pt_req_header(r, it->s, &len);
        put_esc(o, s, s ? len : 0);
        break;
    case OP_USEC:
        put_u64(o, usec_since(r->start, now));
        break;
    case OP_SEC:
        put_u64(o, usec_since(r->start, now) / 1000000);
        break;
    case OP_VHOST:
        s = r->vhost ? r->vhost->name : NULL;
        put_esc(o, s, s ? strlen(s) : 0);
        break;
    case OP_PROTO:
        put(o, protocol(r), strlen(protocol(r)));
        break;
    case OP_METHOD:
        put_esc(o, r->method_str, r->method_len);
        break;
    case OP_PATH:
        if (r->path) {
            put_esc(o, r->path, r->path_len);
        } else {
            s = r->target ? memchr(r->target, '?', r->target_len) : NULL;
            put_esc(o, r->target, s ? (size_t)(s - r->target) : r->target_len);
        }
        break;
    case OP_QUERY: /* Apache's: "?" and the query, or nothing */
        if (r->query) {
            PUTS(o, "?");
            if (r->query_len)
                put_esc(o, r->query, r->query_len);
        }
        break;
    }
}

size_t pt_logfmt_line(const struct pt_logfmt *f, const struct pt_req *r, double now,
                      char *out)
{
    if (!f || f->kind == PT_LOGFMT_COMBINED)
        return combined(r, out);
    struct out o = {out, 0, PT_LOGFMT_LINE_MAX - 1};
    if (f->kind == PT_LOGFMT_JSON)
        json_line(&o, r, now);
    else
        for (size_t i = 0; i < f->n_items; i++)
            custom_item(&o, &f->items[i], r, now);
    out[o.n++] = '\n';
    return o.n;
}
