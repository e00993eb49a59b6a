/* libFuzzer target for the HTTP/1 parser: request heads (whole, and fed
 * one growing prefix at a time as the server does), response heads (the
 * proxy's), and chunked bodies with trailers after either.
 *
 * Invariants: every span lies inside the input; a head parsed whole and a
 * head parsed in pieces agree; the chunked decoder never writes more than
 * it read; kept trailers are walked without running off their buffer.
 * Violations abort; ASan/UBSan catch the rest.  Run by `make fuzz`. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http1/parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void span_ok(struct h1_span s, size_t size)
{
    if (s.off > size || s.len > size - s.off)
        abort();
}

static void head_ok(const struct h1_parser *p, size_t size)
{
    const struct h1_request *r = &p->req;
    if (p->head_len > size || r->n_headers > H1_MAX_HEADERS)
        abort();
    span_ok(r->method, size);
    span_ok(r->target, size);
    span_ok(r->reason, size);
    span_ok(r->host, size);
    span_ok(r->upgrade_proto, size);
    for (unsigned i = 0; i < r->n_headers; i++) {
        span_ok(r->headers[i].name, size);
        span_ok(r->headers[i].value, size);
    }
}

static void chunked(const char *in, size_t len)
{
    if (!len)
        return;
    char *buf = malloc(len);
    memcpy(buf, in, len);
    struct h1_chunked c;
    h1_chunked_init(&c);
    c.keep_trailers = true;
    size_t out = 0, at = 0;
    bool done = false;
    /* in two pieces: the decoder keeps its state across calls */
    size_t cut = len / 2;
    ssize_t n = h1_chunked_decode(&c, buf, cut, &out, &done);
    if (n >= 0 && (size_t)n <= cut && out <= (size_t)n && !done) {
        at = (size_t)n;
        memmove(buf, buf + at, len - at);
        n = h1_chunked_decode(&c, buf, len - at, &out, &done);
        if (n >= 0 && (out > (size_t)n || (size_t)n > len - at))
            abort();
    } else if (n >= 0 && (out > (size_t)n || (size_t)n > cut)) {
        abort();
    }
    size_t pos = 0;
    struct h1_span nm, v;
    while (h1_chunked_trailer_next(&c, &pos, &nm, &v)) {
        span_ok(nm, c.trailers_len);
        span_ok(v, c.trailers_len);
        if (pos > c.trailers_len + 2)
            abort();
    }
    h1_chunked_release(&c);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    for (int mode = 0; mode < 2; mode++) {
        struct h1_parser whole;
        if (mode == 0)
            h1_parser_init(&whole, 4096, 1024);
        else
            h1_parser_init_response(&whole, 4096);
        int rc = h1_parse(&whole, in, size);
        if (rc == H1_DONE) {
            head_ok(&whole, size);
            chunked(in + whole.head_len, size - whole.head_len);
        }
        /* The same bytes arriving a few at a time, the state carried on. */
        struct h1_parser inc;
        if (mode == 0)
            h1_parser_init(&inc, 4096, 1024);
        else
            h1_parser_init_response(&inc, 4096);
        int rc2 = H1_AGAIN;
        for (size_t n = 1; n <= size && rc2 == H1_AGAIN; n += 7)
            rc2 = h1_parse(&inc, in, n);
        if (rc2 == H1_AGAIN && size)
            rc2 = h1_parse(&inc, in, size);
        if (size && rc != rc2)
            abort();
        if (rc == H1_DONE && (inc.head_len != whole.head_len ||
                              inc.req.n_headers != whole.req.n_headers ||
                              inc.req.content_length != whole.req.content_length ||
                              inc.req.chunked != whole.req.chunked))
            abort();
        if (rc == H1_ERROR && inc.error_status != whole.error_status)
            abort();
    }
    return 0;
}
