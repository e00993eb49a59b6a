/* libFuzzer target for the head of a CGI program's output (cgi/output.c).
 * The first byte says how many of the next bytes give the sizes of the
 * pieces the output arrives in (as reads from the pipe would); the rest
 * is the output.
 *
 * Invariants: the output fed whole and fed in those pieces gives the same
 * outcome (result, error, status, framing, fields, and the head bytes up
 * to the body); feed() never takes more than it is given nor more than
 * fits; on DONE the body starts inside the buffer, every field lies in the
 * head with a non-empty token name and a trimmed value free of control
 * bytes, both NUL-terminated in place, framing, hop-by-hop, Date, Server
 * and Status fields are not among them, Location and Content-Type point at
 * fields of that name, the status is 0 or 200..599, and chunked means no
 * Content-Length; end of output is DONE exactly when the head was
 * complete.  Violations abort.  Run by `make fuzz`. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cgi/cgi.h"
#include "gateway/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int feed_all(struct pt_cgi_head *h, const char *in, size_t len,
                    const uint8_t *steps, size_t n_steps)
{
    pt_cgi_head_init(h);
    size_t off = 0, i = 0;
    int rc = PT_CGI_HEAD_AGAIN;
    while (off < len && rc == PT_CGI_HEAD_AGAIN) {
        size_t want = n_steps ? (size_t)steps[i++ % n_steps] * 37 + 1 : len - off;
        if (want > len - off)
            want = len - off;
        size_t before = h->len, used;
        rc = pt_cgi_head_feed(h, in + off, want, &used);
        if (used > want || h->len != before + used || h->len > PT_CGI_HEAD_MAX)
            abort();
        if (used < want && h->len != PT_CGI_HEAD_MAX)
            abort();
        if (used == 0 && rc == PT_CGI_HEAD_AGAIN)
            abort(); /* a full buffer without a head is an error */
        off += used;
    }
    return rc;
}

static void check_done(const struct pt_cgi_head *h)
{
    if (h->body_off == 0 || h->body_off > h->len || h->n_fields > PT_CGI_MAX_FIELDS)
        abort();
    if (h->status != 0 && (h->status < 200 || h->status > 599))
        abort();
    if (h->content_length < -1 || (h->chunked && h->content_length != -1))
        abort();
    for (unsigned i = 0; i < h->n_fields; i++) {
        const struct pt_cgi_field *f = &h->fields[i];
        if (f->name_len == 0 || (size_t)f->name_off + f->name_len >= h->body_off ||
            (size_t)f->value_off + f->value_len >= h->body_off ||
            f->value_off <= f->name_off + f->name_len)
            abort();
        const char *n = pt_cgi_fname(h, i), *v = pt_cgi_fvalue(h, i);
        if (n[f->name_len] != '\0' || v[f->value_len] != '\0' || strlen(n) != f->name_len)
            abort();
        for (size_t k = 0; k < f->name_len; k++) {
            unsigned char c = (unsigned char)n[k];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  strchr("!#$%&'*+-.^_`|~", c)))
                abort();
        }
        for (size_t k = 0; k < f->value_len; k++) {
            unsigned char c = (unsigned char)v[k];
            if ((c < 0x20 && c != '\t') || c == 0x7f)
                abort();
        }
        if (f->value_len && (v[0] == ' ' || v[0] == '\t' || v[f->value_len - 1] == ' ' ||
                             v[f->value_len - 1] == '\t'))
            abort();
        size_t nl = f->name_len;
        if (pt_http_hop_by_hop(n, nl) || pt_http_name_is(n, nl, "date") ||
            pt_http_name_is(n, nl, "server") || pt_http_name_is(n, nl, "status") ||
            pt_http_name_is(n, nl, "content-length"))
            abort();
        if (pt_http_name_is(n, nl, "location") != (h->location == (int)i) ||
            pt_http_name_is(n, nl, "content-type") != (h->content_type == (int)i))
            abort();
    }
    if (h->location >= (int)h->n_fields || h->content_type >= (int)h->n_fields ||
        h->location < -1 || h->content_type < -1)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t n_steps = data[0] % 16;
    if (n_steps > size - 1)
        n_steps = size - 1;
    const uint8_t *steps = data + 1;
    const char *in = (const char *)data + 1 + n_steps;
    size_t len = size - 1 - n_steps;

    static struct pt_cgi_head a, b;
    int ra = feed_all(&a, in, len, NULL, 0);
    int rb = feed_all(&b, in, len, steps, n_steps);
    if (ra != rb || (ra == PT_CGI_HEAD_ERROR) != (a.error != NULL) ||
        (rb == PT_CGI_HEAD_ERROR) != (b.error != NULL) ||
        (a.error && strcmp(a.error, b.error) != 0))
        abort();
    if (ra == PT_CGI_HEAD_DONE) {
        check_done(&a);
        if (a.body_off != b.body_off || a.status != b.status ||
            a.content_length != b.content_length || a.chunked != b.chunked ||
            a.location != b.location || a.content_type != b.content_type ||
            a.n_fields != b.n_fields ||
            memcmp(a.fields, b.fields, a.n_fields * sizeof a.fields[0]) != 0 ||
            memcmp(a.buf, b.buf, a.body_off) != 0)
            abort();
        /* what follows the head is the body, as it came */
        size_t body = a.len - a.body_off;
        if (memcmp(a.buf + a.body_off, in + a.body_off, body) != 0)
            abort();
    }
    /* parsing again changes nothing; the end of output settles it */
    if (pt_cgi_head_parse(&a) != ra)
        abort();
    int e = pt_cgi_head_eof(&b);
    if ((e == PT_CGI_HEAD_DONE) != (rb == PT_CGI_HEAD_DONE) ||
        (e == PT_CGI_HEAD_ERROR && !b.error))
        abort();
    return 0;
}
