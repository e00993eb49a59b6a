/* Streaming form body parser (formparse.h says what it accepts).
 *
 * urlencoded is a byte at a time: a name collects in name[], a value is
 * decoded into out[] and passed on when out[] fills or the piece ends.
 *
 * multipart is a run of states: preamble, boundary line, part headers,
 * part data, boundary line, ..., epilogue.  Scanning data for the
 * delimiter "\r\n--boundary" holds back only the bytes that could still
 * begin one.  A boundary holds no CR, so a partial match is always a
 * prefix of the delimiter and can only restart at a CR: what is held back
 * is exactly delim[0..match), and it needs neither a buffer nor a KMP
 * table.  Data is passed on straight from the caller's pieces. */
#include "plugins/formparse.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BOUNDARY_MAX 70      /* RFC 2046 5.1.1 */
#define OUT_MAX 512          /* urlencoded value bytes per field_data */

enum state {
    UE_NAME,
    UE_VALUE,
    MP_PREAMBLE,             /* before the first delimiter: dropped */
    MP_BOUNDARY,             /* right after a delimiter */
    MP_DASH,                 /* after "--boundary-" */
    MP_PADDING,              /* spaces/tabs before the boundary's CRLF */
    MP_LF,                   /* after that CR */
    MP_HEADERS,
    MP_DATA,
    MP_END,                  /* epilogue: dropped */
};

struct pt_form {
    const struct pt_form_cb *cb;
    void *arg;
    const char *err;
    enum state state;
    bool multipart, finished;
    char name[PT_FORM_NAME_MAX + 1];
    size_t name_len;
    /* urlencoded */
    bool pair;               /* the current pair has a byte: not empty */
    int pct;                 /* hex digits of a %XX still to come */
    int pct_hi;
    char out[OUT_MAX];
    size_t out_len;
    /* multipart */
    char delim[4 + BOUNDARY_MAX];    /* "\r\n--" boundary */
    size_t dlen;
    size_t match;            /* delim bytes matched: held back */
    size_t held;             /* of those, how many came in earlier pieces */
    char hdr[PT_FORM_HEADER_MAX];
    size_t hdr_len, line_start;
    char vals[PT_FORM_HEADER_MAX];   /* a part's filename and ctype */
    size_t vals_len;
};

/* What a part's headers said. */
struct part {
    bool disposition, named;
    const char *filename, *ctype;
};

static int fail(struct pt_form *f, const char *why)
{
    if (!f->err)
        f->err = why;
    return -1;
}

/* ---- callbacks: a nonzero return stops everything ---- */

static int cb_start(struct pt_form *f, const char *filename, const char *ctype)
{
    f->name[f->name_len] = '\0';
    if (f->cb->field_start &&
        f->cb->field_start(f->arg, f->name, filename, ctype) != 0)
        return fail(f, "stopped by a callback");
    return 0;
}

static int cb_data(struct pt_form *f, const char *p, size_t n)
{
    if (n && f->cb->field_data && f->cb->field_data(f->arg, p, n) != 0)
        return fail(f, "stopped by a callback");
    return 0;
}

static int cb_end(struct pt_form *f)
{
    if (f->cb->field_end && f->cb->field_end(f->arg) != 0)
        return fail(f, "stopped by a callback");
    return 0;
}

/* ---- header values: tokens, quoted strings, parameters ---- */

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z');
}

static bool is_tchar(unsigned char c)
{
    return is_alnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* RFC 2046 bchars: all a boundary may hold (no CR: see the top). */
static bool is_bchar(unsigned char c)
{
    return is_alnum(c) || (c && strchr("'()+_,-./:=? ", c));
}

static bool is_ctl(unsigned char c)
{
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

static const char *skip_ows(const char *p, const char *end)
{
    while (p < end && is_ows(*p))
        p++;
    return p;
}

static const char *skip_token(const char *p, const char *end)
{
    while (p < end && is_tchar((unsigned char)*p))
        p++;
    return p;
}

/* [s, e) is word, in any case. */
static bool span_is(const char *s, const char *e, const char *word)
{
    size_t n = strlen(word);
    return (size_t)(e - s) == n && strncasecmp(s, word, n) == 0;
}

struct param {
    const char *name, *val;  /* val: inside the quotes, escapes kept */
    size_t name_len, val_len;
    bool quoted;
};

static bool param_is(const struct param *pa, const char *word)
{
    return span_is(pa->name, pa->name + pa->name_len, word);
}

/* A quoted-string's inside from p (just past the opening quote); *pp is
 * left past the closing one.  0, or -1 if unterminated or holding a CTL. */
static int quoted(const char **pp, const char *p, const char *end,
                  struct param *pa)
{
    pa->val = p;
    pa->quoted = true;
    while (p < end && *p != '"') {
        /* A backslash escapes only '"' and '\\': browsers do not escape
         * (HTML sends '"' as %22), so "a\\b" from a browser stays a\\b. */
        if (*p == '\\' && p + 1 < end && (p[1] == '"' || p[1] == '\\'))
            p++;
        if (is_ctl((unsigned char)*p))
            return -1;
        p++;
    }
    if (p == end)
        return -1;
    pa->val_len = (size_t)(p - pa->val);
    *pp = p + 1;
    return 0;
}

/* The next "; name=value" from *pp in a header value.  1 with *pa set, 0
 * at the end, -1 when malformed.  Empty parameters (";;") are skipped. */
static int next_param(const char **pp, const char *end, struct param *pa)
{
    const char *p = skip_ows(*pp, end);
    bool semi = false;
    while (p < end && *p == ';') {
        semi = true;
        p = skip_ows(p + 1, end);
    }
    if (p == end)
        return 0;
    if (!semi)
        return -1;
    pa->name = p;
    p = skip_token(p, end);
    pa->name_len = (size_t)(p - pa->name);
    p = skip_ows(p, end);
    if (!pa->name_len || p == end || *p != '=')
        return -1;
    p = skip_ows(p + 1, end);
    if (p < end && *p == '"')
        return quoted(pp, p + 1, end, pa) < 0 ? -1 : 1;
    pa->val = p;
    pa->quoted = false;
    p = skip_token(p, end);
    pa->val_len = (size_t)(p - pa->val);
    *pp = p;
    return pa->val_len ? 1 : -1;
}

/* pa's value, unescaped and NUL-terminated, into out (cap bytes with the
 * NUL).  Its length, or -1 if it does not fit. */
static int unquote(const struct param *pa, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < pa->val_len; i++) {
        if (pa->quoted && pa->val[i] == '\\' && i + 1 < pa->val_len &&
            (pa->val[i + 1] == '"' || pa->val[i + 1] == '\\'))
            i++;             /* as quoted() read it */
        if (n + 1 >= cap)
            return -1;
        out[n++] = pa->val[i];
    }
    out[n] = '\0';
    return (int)n;
}

/* The boundary parameter, from p (past the media type) to end, into b
 * (BOUNDARY_MAX + 1 bytes).  Its length, or -1 with *err set. */
static int boundary(const char *p, const char *end, char *b, const char **err)
{
    struct param pa;
    int rc, len = 0;
    bool seen = false;
    while ((rc = next_param(&p, end, &pa)) > 0) {
        if (!param_is(&pa, "boundary"))
            continue;
        if (seen) {
            *err = "multipart boundary given twice";
            return -1;
        }
        seen = true;
        len = unquote(&pa, b, BOUNDARY_MAX + 1);
    }
    if (rc < 0) {
        *err = "bad Content-Type parameters";
        return -1;
    }
    bool ok = seen && len > 0 && b[len - 1] != ' ';
    for (int i = 0; ok && i < len; i++)
        ok = is_bchar((unsigned char)b[i]);
    if (!ok) {
        *err = "multipart boundary missing or invalid";
        return -1;
    }
    return len;
}

/* ---- urlencoded ---- */

static int ue_flush(struct pt_form *f)
{
    size_t n = f->out_len;
    f->out_len = 0;
    return cb_data(f, f->out, n);
}

/* One decoded byte of a name or a value. */
static int ue_put(struct pt_form *f, char c)
{
    if (f->state == UE_VALUE) {
        f->out[f->out_len++] = c;
        return f->out_len == OUT_MAX ? ue_flush(f) : 0;
    }
    if (c == '\0')
        return fail(f, "NUL in a field name");
    if (f->name_len == PT_FORM_NAME_MAX)
        return fail(f, "field name too long");
    f->name[f->name_len++] = c;
    return 0;
}

/* At '&' or the end of the body. */
static int ue_pair_end(struct pt_form *f)
{
    if (f->state == UE_NAME) {
        if (!f->pair)
            return 0;        /* "&&": an empty pair, skipped */
        if (cb_start(f, NULL, NULL) < 0)
            return -1;       /* "c": a name alone has an empty value */
    } else if (ue_flush(f) < 0) {
        return -1;
    }
    f->state = UE_NAME;
    f->name_len = 0;
    f->pair = false;
    return cb_end(f);
}

static int hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int ue_byte(struct pt_form *f, char c)
{
    if (f->pct) {
        int v = hex(c);
        if (v < 0)
            return fail(f, "bad % escape");
        if (--f->pct) {
            f->pct_hi = v;
            return 0;
        }
        return ue_put(f, (char)(f->pct_hi << 4 | v));
    }
    if (c == '&')
        return ue_pair_end(f);
    f->pair = true;
    if (c == '%') {
        f->pct = 2;
        return 0;
    }
    if (c == '=' && f->state == UE_NAME) {
        f->state = UE_VALUE;
        return cb_start(f, NULL, NULL);
    }
    return ue_put(f, c == '+' ? ' ' : c);
}

static int ue_feed(struct pt_form *f, const char *p, const char *end)
{
    for (; p < end; p++)
        if (ue_byte(f, *p) < 0)
            return -1;
    return ue_flush(f);      /* pass on what this piece decoded */
}

/* ---- multipart ---- */

/* Data for the open part; the preamble's is dropped. */
static int emit(struct pt_form *f, const char *p, size_t n)
{
    return f->state == MP_DATA ? cb_data(f, p, n) : 0;
}

/* A delimiter ended at p; [run, p) is this piece's unsent data and the
 * part of the delimiter that came in this piece. */
static const char *delimiter(struct pt_form *f, const char *run, const char *p)
{
    size_t n = (size_t)(p - run) - (f->dlen - f->held);
    bool in_part = f->state == MP_DATA;
    f->match = f->held = 0;
    if (emit(f, run, n) < 0 || (in_part && cb_end(f) < 0))
        return NULL;
    f->state = MP_BOUNDARY;
    return p;
}

/* Data up to the next delimiter (see the top).  Of the match bytes held
 * back, the first f->held came in earlier pieces and the rest are the last
 * ones of [run, p).  Returns where it stopped, NULL on error. */
static const char *scan(struct pt_form *f, const char *p, const char *end)
{
    const char *run = p;
    while (p < end) {
        if (f->match == 0) {
            const char *cr = memchr(p, '\r', (size_t)(end - p));
            if (!cr) {
                p = end;
                break;
            }
            p = cr;
        }
        if (*p == f->delim[f->match]) {
            p++;
            if (++f->match == f->dlen)
                return delimiter(f, run, p);
            continue;
        }
        /* Not a delimiter after all: what was held back is data.  Bytes
         * held from earlier pieces came before all of [run, p). */
        if (emit(f, f->delim, f->held) < 0)
            return NULL;
        f->match = f->held = 0;
    }
    if (emit(f, run, (size_t)(p - run) - (f->match - f->held)) < 0)
        return NULL;
    f->held = f->match;
    return end;
}

/* One byte of what follows "--boundary": "--", or padding and CRLF. */
static int boundary_line(struct pt_form *f, char c)
{
    enum state next = f->state;
    if (f->state == MP_BOUNDARY && c == '-')
        next = MP_DASH;
    else if (f->state == MP_DASH && c == '-')
        next = MP_END;
    else if ((f->state == MP_BOUNDARY || f->state == MP_PADDING) && is_ows(c))
        next = MP_PADDING;
    else if ((f->state == MP_BOUNDARY || f->state == MP_PADDING) && c == '\r')
        next = MP_LF;
    else if (f->state == MP_LF && c == '\n')
        next = MP_HEADERS;
    else
        return fail(f, "bad boundary line");
    if (next == MP_HEADERS)
        f->hdr_len = f->line_start = 0;
    f->state = next;
    return 0;
}

/* Copies s into vals[], NUL-terminated.  NULL if it does not fit (it
 * always does: decoded values are no longer than the header block). */
static const char *vals_add(struct pt_form *f, const char *s, size_t n)
{
    if (n >= sizeof f->vals - f->vals_len) {
        fail(f, "part header block too long");
        return NULL;
    }
    char *v = f->vals + f->vals_len;
    memcpy(v, s, n);
    v[n] = '\0';
    f->vals_len += n + 1;
    return v;
}

static int disposition(struct pt_form *f, const char *p, const char *end,
                       struct part *pt)
{
    const char *type = p;
    p = skip_token(p, end);
    if (!span_is(type, p, "form-data"))
        return fail(f, "part is not form-data");
    struct param pa;
    int rc;
    while ((rc = next_param(&p, end, &pa)) > 0) {
        if (param_is(&pa, "name")) {
            if (pt->named)
                return fail(f, "bad Content-Disposition");
            int n = unquote(&pa, f->name, sizeof f->name);
            if (n < 0)
                return fail(f, "field name too long");
            f->name_len = (size_t)n;
            pt->named = true;
        } else if (param_is(&pa, "filename")) {
            char *v = f->vals + f->vals_len;
            int n = unquote(&pa, v, sizeof f->vals - f->vals_len);
            if (pt->filename || n < 0)
                return fail(f, "bad Content-Disposition");
            f->vals_len += (size_t)n + 1;
            pt->filename = v;
        }
    }
    return rc < 0 ? fail(f, "bad Content-Disposition") : 0;
}

/* One header line [p, end), without its CRLF. */
static int header(struct pt_form *f, const char *p, const char *end,
                  struct part *pt)
{
    const char *colon = memchr(p, ':', (size_t)(end - p));
    if (!colon || colon == p || memchr(p, '\r', (size_t)(end - p)) ||
        is_ows(*p))
        return fail(f, "bad part header");  /* folded lines too */
    const char *v = skip_ows(colon + 1, end), *ve = end;
    while (ve > v && is_ows(ve[-1]))
        ve--;
    if (span_is(p, colon, "Content-Disposition")) {
        if (pt->disposition)
            return fail(f, "bad part header");
        pt->disposition = true;
        return disposition(f, v, ve, pt);
    }
    if (span_is(p, colon, "Content-Type")) {
        if (pt->ctype)
            return fail(f, "bad part header");
        pt->ctype = vals_add(f, v, (size_t)(ve - v));
        return pt->ctype ? 0 : -1;
    }
    return 0;                /* others are of no use to a form */
}

/* The header block is in hdr[], its blank line last: the part begins. */
static int part_begin(struct pt_form *f)
{
    struct part pt = {0};
    const char *p = f->hdr, *end = f->hdr + f->hdr_len - 2;
    f->vals_len = 0;
    if (memchr(f->hdr, '\0', f->hdr_len))
        return fail(f, "bad part header");
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            return fail(f, "bad part header");
        if (header(f, p, nl - 1, &pt) < 0)
            return -1;
        p = nl + 1;
    }
    if (!pt.named)
        return fail(f, "part without a name");
    f->state = MP_DATA;
    return cb_start(f, pt.filename, pt.ctype);
}

/* A header line ended at hdr_len (its LF included). */
static int line_done(struct pt_form *f)
{
    size_t len = f->hdr_len - f->line_start;
    f->line_start = f->hdr_len;
    if (len < 2 || f->hdr[f->hdr_len - 2] != '\r')
        return fail(f, "part header line without CRLF");
    return len == 2 ? part_begin(f) : 0;
}

/* Collects the header block, a line at a time.  Returns where it
 * stopped, NULL on error. */
static const char *headers(struct pt_form *f, const char *p, const char *end)
{
    while (p < end && f->state == MP_HEADERS) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl ? nl + 1 : end) - p);
        if (n > sizeof f->hdr - f->hdr_len) {
            fail(f, "part header block too long");
            return NULL;
        }
        memcpy(f->hdr + f->hdr_len, p, n);
        f->hdr_len += n;
        p += n;
        if (nl && line_done(f) < 0)
            return NULL;
    }
    return p;
}

static int mp_feed(struct pt_form *f, const char *p, const char *end)
{
    while (p && p < end) {
        switch (f->state) {
        case MP_PREAMBLE:
        case MP_DATA:
            p = scan(f, p, end);
            break;
        case MP_HEADERS:
            p = headers(f, p, end);
            break;
        case MP_END:
            return 0;        /* the epilogue */
        default:
            p = boundary_line(f, *p) < 0 ? NULL : p + 1;
            break;
        }
    }
    return p ? 0 : -1;
}

/* ---- the API ---- */

struct pt_form *pt_form_new(const char *ctype, size_t ctype_len,
                            const struct pt_form_cb *cb, void *arg,
                            const char **err)
{
    const char *ignored;
    if (!err)
        err = &ignored;
    const char *end = ctype + ctype_len, *type = skip_ows(ctype, end);
    const char *p = skip_token(type, end);
    if (p < end && *p == '/')
        p = skip_token(p + 1, end);
    bool multipart = span_is(type, p, "multipart/form-data");
    if (!multipart && !span_is(type, p, "application/x-www-form-urlencoded")) {
        *err = "not a form body type";
        return NULL;
    }
    char b[BOUNDARY_MAX + 1];
    int blen = multipart ? boundary(p, end, b, err) : 0;
    if (blen < 0)
        return NULL;
    struct pt_form *f = calloc(1, sizeof *f);
    if (!f) {
        *err = "out of memory";
        return NULL;
    }
    f->cb = cb;
    f->arg = arg;
    f->multipart = multipart;
    f->state = multipart ? MP_PREAMBLE : UE_NAME;
    memcpy(f->delim, "\r\n--", 4);
    memcpy(f->delim + 4, b, (size_t)blen);
    f->dlen = 4 + (size_t)blen;
    /* As if a CRLF came first: the first delimiter may begin the body. */
    f->match = f->held = 2;
    return f;
}

int pt_form_feed(struct pt_form *f, const char *data, size_t len)
{
    if (f->err)
        return -1;
    if (f->finished)
        return fail(f, "data after the end of the body");
    if (!len)
        return 0;
    if (f->multipart)
        return mp_feed(f, data, data + len);
    return ue_feed(f, data, data + len);
}

int pt_form_finish(struct pt_form *f)
{
    if (f->err)
        return -1;
    if (f->finished)
        return 0;
    f->finished = true;
    if (f->multipart)
        return f->state == MP_END ? 0 :
               fail(f, "body ended before the closing boundary");
    if (f->pct)
        return fail(f, "bad % escape");
    return ue_pair_end(f);
}

const char *pt_form_error(const struct pt_form *f)
{
    return f->err;
}

void pt_form_free(struct pt_form *f)
{
    free(f);
}
