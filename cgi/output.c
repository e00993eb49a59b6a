/* The head of a CGI program's output (RFC 3875 6): header lines ending in
 * LF or CRLF up to an empty line.  Parsed incrementally as the pipe
 * delivers it, into a fixed buffer, so a program cannot make portico hold
 * more than PT_CGI_HEAD_MAX bytes of header.  Names and values are
 * NUL-terminated in place. */
#include "cgi/cgi.h"

#include <string.h>
#include <strings.h>

#include "gateway/http.h"

void pt_cgi_head_init(struct pt_cgi_head *h)
{
    h->len = 0;
    h->pos = 0;
    h->body_off = 0;
    h->status = 0;
    h->content_length = -1;
    h->chunked = false;
    h->location = -1;
    h->content_type = -1;
    h->n_fields = 0;
    h->error = NULL;
}

static int fail(struct pt_cgi_head *h, const char *why)
{
    h->error = why;
    return PT_CGI_HEAD_ERROR;
}

static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Framing and hop-by-hop fields are the protocol's business; Date and
 * Server are written by the protocol for every response. */
static bool dropped(const char *name, size_t len)
{
    return pt_http_hop_by_hop(name, len) || pt_http_name_is(name, len, "date") ||
           pt_http_name_is(name, len, "server");
}

/* "NNN" or "NNN reason": a final status a client can be sent. */
static int parse_status(struct pt_cgi_head *h, const char *v, size_t len)
{
    if (h->status)
        return fail(h, "more than one Status field");
    if (len < 3 || (len > 3 && v[3] != ' ' && v[3] != '\t'))
        return fail(h, "invalid Status (expected a 3-digit code)");
    int code = 0;
    for (int i = 0; i < 3; i++) {
        if (v[i] < '0' || v[i] > '9')
            return fail(h, "invalid Status (expected a 3-digit code)");
        code = code * 10 + (v[i] - '0');
    }
    if (code < 200 || code > 599)
        return fail(h, "invalid Status (not a final status 200..599)");
    h->status = code;
    return PT_CGI_HEAD_AGAIN;
}

static int parse_length(struct pt_cgi_head *h, const char *v, size_t len)
{
    if (len == 0 || len > 18)
        return fail(h, "invalid Content-Length");
    int64_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return fail(h, "invalid Content-Length");
        n = n * 10 + (v[i] - '0');
    }
    if (h->content_length >= 0 && h->content_length != n)
        return fail(h, "conflicting Content-Length fields");
    h->content_length = n;
    return PT_CGI_HEAD_AGAIN;
}

static int parse_te(struct pt_cgi_head *h, const char *v, size_t len)
{
    if (pt_http_name_is(v, len, "chunked"))
        h->chunked = true;
    else if (!pt_http_name_is(v, len, "identity"))
        return fail(h, "unsupported Transfer-Encoding (only chunked)");
    return PT_CGI_HEAD_AGAIN;
}

/* One header line buf[start..end) (line end already removed). */
static int parse_line(struct pt_cgi_head *h, size_t start, size_t end)
{
    char *line = h->buf + start;
    size_t len = end - start;
    if (line[0] == ' ' || line[0] == '\t')
        return fail(h, "folded header line");
    size_t n = 0;
    while (n < len && is_tchar((unsigned char)line[n]))
        n++;
    if (n == 0 || n == len || line[n] != ':')
        return fail(h, "malformed header line (expected Name: value)");
    size_t vs = n + 1, ve = len;
    while (vs < ve && (line[vs] == ' ' || line[vs] == '\t'))
        vs++;
    while (ve > vs && (line[ve - 1] == ' ' || line[ve - 1] == '\t'))
        ve--;
    for (size_t i = vs; i < ve; i++) {
        unsigned char c = (unsigned char)line[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return fail(h, "control character in a header value");
    }
    const char *v = line + vs;
    size_t vlen = ve - vs;
    int rc = PT_CGI_HEAD_AGAIN;
    if (pt_http_name_is(line, n, "Status"))
        rc = parse_status(h, v, vlen);
    else if (pt_http_name_is(line, n, "Content-Length"))
        rc = parse_length(h, v, vlen);
    else if (pt_http_name_is(line, n, "Transfer-Encoding"))
        rc = parse_te(h, v, vlen);
    else if (!dropped(line, n)) {
        bool loc = pt_http_name_is(line, n, "Location");
        bool ctype = pt_http_name_is(line, n, "Content-Type");
        if ((loc && h->location >= 0) || (ctype && h->content_type >= 0))
            return fail(h, loc ? "more than one Location field"
                               : "more than one Content-Type field");
        if (h->n_fields == PT_CGI_MAX_FIELDS)
            return fail(h, "too many header fields");
        struct pt_cgi_field *f = &h->fields[h->n_fields];
        f->name_off = (uint16_t)start;
        f->name_len = (uint16_t)n;
        f->value_off = (uint16_t)(start + vs);
        f->value_len = (uint16_t)vlen;
        if (loc)
            h->location = (int)h->n_fields;
        if (ctype)
            h->content_type = (int)h->n_fields;
        h->n_fields++;
    }
    line[n] = '\0';
    line[ve] = '\0';
    return rc;
}

int pt_cgi_head_parse(struct pt_cgi_head *h)
{
    if (h->error)
        return PT_CGI_HEAD_ERROR;
    if (h->body_off)
        return PT_CGI_HEAD_DONE;
    for (;;) {
        char *nl = memchr(h->buf + h->pos, '\n', h->len - h->pos);
        if (!nl) {
            if (h->len == PT_CGI_HEAD_MAX)
                return fail(h, "header block too large");
            return PT_CGI_HEAD_AGAIN;
        }
        size_t end = (size_t)(nl - h->buf), next = end + 1;
        if (end > h->pos && h->buf[end - 1] == '\r')
            end--;
        if (end == h->pos) {
            h->body_off = next;
            if (h->chunked)
                h->content_length = -1; /* chunked wins (RFC 9112 6.3) */
            return PT_CGI_HEAD_DONE;
        }
        if (memchr(h->buf + h->pos, '\0', end - h->pos) ||
            memchr(h->buf + h->pos, '\r', end - h->pos))
            return fail(h, "NUL or bare CR in a header line");
        if (parse_line(h, h->pos, end) < 0)
            return PT_CGI_HEAD_ERROR;
        h->pos = next;
    }
}

int pt_cgi_head_feed(struct pt_cgi_head *h, const char *data, size_t len,
                     size_t *used)
{
    size_t room = PT_CGI_HEAD_MAX - h->len;
    size_t n = len < room ? len : room;
    memcpy(h->buf + h->len, data, n);
    h->len += n;
    *used = n;
    return pt_cgi_head_parse(h);
}

int pt_cgi_head_eof(struct pt_cgi_head *h)
{
    if (h->body_off)
        return PT_CGI_HEAD_DONE;
    if (!h->error)
        h->error = h->len ? "output ended before the blank line after the headers"
                          : "no output";
    return PT_CGI_HEAD_ERROR;
}
