/* HTTP/1.x head parser (requests and responses) and chunked decoder.
 *
 * Every head is parsed three ways and the outcomes must be identical: in
 * one call; one byte more per call, each time from a fresh exactly-sized
 * copy (so ASan catches any read past len and offsets must survive the
 * buffer moving); and split in two at every point. */
#include <stdint.h>
#include <stdlib.h>
#include <strings.h>

#include "http1/parser.h"
#include "tests/unit/check.h"

#define ML 0 /* default limits */

static bool span_eq(const char *buf, struct h1_span s, const char *want)
{
    return s.len == strlen(want) && memcmp(buf + s.off, want, s.len) == 0;
}

static bool spans_same(struct h1_span a, struct h1_span b)
{
    return a.off == b.off && a.len == b.len;
}

/* Same outcome: status, message and every result field. */
static bool same_outcome(int ra, const struct h1_parser *a, int rb, const struct h1_parser *b)
{
    if (ra != rb) return false;
    if (ra == H1_ERROR)
        return a->error_status == b->error_status && a->error_msg == b->error_msg;
    if (ra == H1_AGAIN) return true;
    const struct h1_request *x = &a->req, *y = &b->req;
    if (a->head_len != b->head_len || x->version != y->version ||
        !spans_same(x->method, y->method) || !spans_same(x->target, y->target) ||
        x->n_headers != y->n_headers || x->content_length != y->content_length ||
        x->chunked != y->chunked || x->close_delimited != y->close_delimited ||
        x->conn_close != y->conn_close ||
        x->conn_keep_alive != y->conn_keep_alive ||
        x->expect_continue != y->expect_continue || x->expect_other != y->expect_other ||
        x->has_host != y->has_host || !spans_same(x->host, y->host) ||
        x->upgrade != y->upgrade || !spans_same(x->upgrade_proto, y->upgrade_proto) ||
        x->status != y->status || !spans_same(x->reason, y->reason))
        return false;
    for (unsigned i = 0; i < x->n_headers; i++)
        if (!spans_same(x->headers[i].name, y->headers[i].name) ||
            !spans_same(x->headers[i].value, y->headers[i].value))
            return false;
    return true;
}

static struct h1_parser scratch; /* too big for comfortable stack copies */
static bool response_mode;       /* parse3 parses response heads */

static void init(struct h1_parser *p, size_t max_head, size_t max_target)
{
    if (response_mode)
        h1_parser_init_response(p, max_head);
    else
        h1_parser_init(p, max_head, max_target);
}

/* Parses in[0..n) all three ways; the one-call result is left in *p. */
static int parse3(const char *in, size_t n, size_t max_head, size_t max_target,
                  struct h1_parser *p, int line)
{
    init(p, max_head, max_target);
    int rc = h1_parse(p, in, n);
    bool ok = h1_parse(p, in, n) == rc; /* a repeated call changes nothing */

    struct h1_parser *q = &scratch;
    init(q, max_head, max_target);
    int rq = H1_AGAIN;
    for (size_t k = 1; k <= n && rq == H1_AGAIN; k++) {
        char *copy = malloc(k);
        memcpy(copy, in, k);
        rq = h1_parse(q, copy, k);
        free(copy);
    }
    if (!same_outcome(rc, p, rq, q)) {
        ok = false;
        fprintf(stderr, "line %d: byte-by-byte differs (%d/%d vs %d/%d)\n", line, rc,
                p->error_status, rq, q->error_status);
    }

    for (size_t s = 0; s <= n && ok; s++) {
        init(q, max_head, max_target);
        rq = h1_parse(q, in, s);
        if (rq == H1_AGAIN) rq = h1_parse(q, in, n);
        if (!same_outcome(rc, p, rq, q)) {
            ok = false;
            fprintf(stderr, "line %d: split at %zu differs\n", line, s);
        }
    }
    if (ok) check_passed++;
    else check_failed++;
    return rc;
}

static struct h1_parser P; /* the parser the tests inspect */

#define PARSE(s) parse3(s, strlen(s), ML, ML, &P, __LINE__)
#define PARSE_LIM(s, mh, mt) parse3(s, strlen(s), mh, mt, &P, __LINE__)

static void expect_ok_case(const char *in, size_t n, int line)
{
    int rc = parse3(in, n, ML, ML, &P, line);
    if (rc == H1_DONE) check_passed++;
    else {
        check_failed++;
        fprintf(stderr, "line %d: rc %d status %d (%s), expected DONE\n", line, rc,
                P.error_status, P.error_msg ? P.error_msg : "");
    }
}

static void expect_err_case(const char *in, size_t n, size_t mh, size_t mt, int status,
                            int line)
{
    int rc = parse3(in, n, mh, mt, &P, line);
    if (rc == H1_ERROR && P.error_status == status && P.error_msg && P.error_msg[0]) {
        check_passed++;
        /* Sticky: more bytes do not revive it. */
        CHECK_INT(h1_parse(&P, in, n), H1_ERROR);
        CHECK_INT(P.error_status, status);
    } else {
        check_failed++;
        fprintf(stderr, "line %d: rc %d status %d (%s), expected error %d\n", line, rc,
                P.error_status, P.error_msg ? P.error_msg : "", status);
    }
}

#define OK(s) expect_ok_case(s, strlen(s), __LINE__)
#define ERR(s, st) expect_err_case(s, strlen(s), ML, ML, st, __LINE__)
#define ERRN(s, st) expect_err_case(s, sizeof(s) - 1, ML, ML, st, __LINE__)
#define ERR_LIM(s, mh, mt, st) expect_err_case(s, strlen(s), mh, mt, st, __LINE__)

/* ---- request line ------------------------------------------------------ */

static void test_simple(void)
{
    const char *s = "GET /index.html?x=1 HTTP/1.1\r\nHost: example.com\r\n"
                    "User-Agent: t\r\n\r\nBODY";
    CHECK_INT(PARSE(s), H1_DONE);
    CHECK(span_eq(s, P.req.method, "GET"));
    CHECK(span_eq(s, P.req.target, "/index.html?x=1"));
    CHECK_INT(P.req.version, 11);
    CHECK_INT(P.req.n_headers, 2);
    CHECK(span_eq(s, P.req.headers[0].name, "Host"));
    CHECK(span_eq(s, P.req.headers[0].value, "example.com"));
    CHECK(span_eq(s, P.req.headers[1].name, "User-Agent"));
    CHECK(span_eq(s, P.req.headers[1].value, "t"));
    CHECK(P.req.has_host);
    CHECK(span_eq(s, P.req.host, "example.com"));
    CHECK_INT(P.req.content_length, -1);
    CHECK(!P.req.chunked && !P.req.conn_close && !P.req.conn_keep_alive);
    CHECK(!P.req.expect_continue && !P.req.expect_other && !P.req.upgrade);
    CHECK_INT(P.head_len, strlen(s) - 4);
    /* DONE is sticky. */
    CHECK_INT(h1_parse(&P, s, strlen(s)), H1_DONE);
    CHECK_INT(P.head_len, strlen(s) - 4);

    /* Incomplete heads want more. */
    CHECK_INT(PARSE("GET / HTTP/1.1\r\nHost: a\r\n"), H1_AGAIN);
    CHECK_INT(PARSE("GET / HTTP/1.1\r\nHost: a\r\n\r"), H1_AGAIN);
    CHECK_INT(PARSE("GET / HTTP/1.1\r\nHost: a"), H1_AGAIN);
    CHECK_INT(PARSE("G"), H1_AGAIN);
    CHECK_INT(PARSE(""), H1_AGAIN);
    CHECK_INT(PARSE("\r\n\r\n"), H1_AGAIN);
}

static void test_line_ends(void)
{
    const char *s = "\r\n\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    CHECK_INT(PARSE(s), H1_DONE);
    CHECK_INT(P.req.method.off, 5);
    CHECK(span_eq(s, P.req.method, "GET"));
    CHECK_INT(P.head_len, strlen(s));

    s = "GET / HTTP/1.1\nHost: a\n\n";
    CHECK_INT(PARSE(s), H1_DONE);
    CHECK(span_eq(s, P.req.host, "a"));
    CHECK_INT(P.head_len, strlen(s));

    s = "GET / HTTP/1.0\n\nxyz";
    CHECK_INT(PARSE(s), H1_DONE);
    CHECK_INT(P.head_len, strlen(s) - 3);
    OK("GET / HTTP/1.1\r\nHost: a\n\r\n");
    OK("GET / HTTP/1.1\nHost: a\r\n\n");

    ERR("\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    ERR("\r\rGET / HTTP/1.1\r\n", 400);
    ERR("GET / HTTP/1.1\rHost: a\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\nHost: a\r\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\nHost: a\r\n\rX", 400);
    ERR("GET / HTTP/1.1\r\nHost: a\r\n\r\r\n", 400);
    ERR("GET / HTTP/1.1\r\nHost: a\r\nX: 1\r2\r\n\r\n", 400);
    ERR("GET /\r HTTP/1.1\r\n", 400);
}

static void test_methods_and_versions(void)
{
    const char *s = "M-SEARCH * HTTP/1.1\r\nHost: a\r\n\r\n";
    ERR(s, 400); /* asterisk-form is for OPTIONS only */
    s = "PROPFIND /dav/ HTTP/1.1\r\nHost: a\r\n\r\n";
    CHECK_INT(PARSE(s), H1_DONE);
    CHECK(span_eq(s, P.req.method, "PROPFIND"));
    OK("X!#$%&'*+-.^_`|~9 / HTTP/1.1\r\nHost: a\r\n\r\n");

    s = "GET / HTTP/1.0\r\n\r\n";
    CHECK_INT(PARSE(s), H1_DONE);
    CHECK_INT(P.req.version, 10);
    CHECK(!P.req.has_host);

    ERR("G(T / HTTP/1.1\r\n\r\n", 400);
    ERR("GE\"T / HTTP/1.1\r\n\r\n", 400);
    ERR(" GET / HTTP/1.1\r\n\r\n", 400);
    ERR("GET\t/ HTTP/1.1\r\n\r\n", 400);
    ERR("GET  / HTTP/1.1\r\n\r\n", 400);
    ERR("GET /  HTTP/1.1\r\n\r\n", 400);
    ERR("GET / HTTP/1.1 \r\n\r\n", 400);
    ERR("GET / HTTP/1.1\t\r\n\r\n", 400);
    ERR("GET\r\n\r\n", 400);
    ERR("GET \r\n\r\n", 400);
    ERR("GET /\r\n\r\n", 400);      /* HTTP/0.9 style: no version */
    ERR("GET / \r\n\r\n", 400);
    ERR("GET / http/1.1\r\n\r\n", 400);
    ERR("GET / HTTP/1.10\r\n\r\n", 400);
    ERR("GET / HTTP/11\r\n\r\n", 400);
    ERR("GET / HTTP/1.x\r\n\r\n", 400);
    ERR("GET / HTTP/1\r\n\r\n", 400);
    ERR("GET / HTTP/1.\r\n\r\n", 400);
    ERR("GET / HTTPS/1.1\r\n\r\n", 400);
    ERR("GET / HTTP/1,1\r\n\r\n", 400);
    ERR("GET / HTTP /1.1\r\n\r\n", 400);
    ERR("/ HTTP/1.1\r\n\r\n", 400);
    ERR(":GET / HTTP/1.1\r\n\r\n", 400);
    ERRN("G\0T / HTTP/1.1\r\n\r\n", 400);

    ERR("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505);
    /* RFC 9112 2.3: a later HTTP/1.x is served as 1.1. */
    CHECK_INT(PARSE("GET / HTTP/1.2\r\nHost: a\r\n\r\n"), H1_DONE);
    CHECK_INT(P.req.version, 11);
    CHECK_INT(PARSE("GET / HTTP/1.9\r\nHost: a\r\n\r\n"), H1_DONE);
    CHECK_INT(P.req.version, 11);
    ERR("GET / HTTP/0.9\r\n\r\n", 505);
    ERR("GET / HTTP/3.0\r\n\r\n", 505);
    ERR("GET / HTTP/9.9\n\n", 505);
    ERR("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400); /* h2 preface: PRI is not OPTIONS */
}

static void test_targets(void)
{
    const char *s = "GET http://example.com/x?y HTTP/1.1\r\nHost: example.com\r\n\r\n";
    CHECK_INT(PARSE(s), H1_DONE);
    CHECK(span_eq(s, P.req.target, "http://example.com/x?y"));
    OK("GET https://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n");
    OK("GET HTTP://Example.COM:8080/ HTTP/1.1\r\nHost: a\r\n\r\n");
    OK("GET hTTpS://a?q HTTP/1.1\r\nHost: a\r\n\r\n");
    OK("GET http://[::1]:80/ HTTP/1.1\r\nHost: [::1]:80\r\n\r\n");
    OK("GET http://[::1]/ HTTP/1.1\r\nHost: [::1]\r\n\r\n");
    OK("GET http://a:/ HTTP/1.1\r\nHost: a\r\n\r\n");

    s = "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n";
    CHECK_INT(PARSE(s), H1_DONE);
    CHECK(span_eq(s, P.req.target, "*"));
    OK("OPTIONS / HTTP/1.1\r\nHost: a\r\n\r\n");
    OK("OPTIONS http://a HTTP/1.1\r\nHost: a\r\n\r\n");

    s = "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n";
    CHECK_INT(PARSE(s), H1_DONE);
    CHECK(span_eq(s, P.req.target, "example.com:443"));
    OK("CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: a\r\n\r\n");

    /* Any visible ASCII is accepted in the target. */
    OK("GET /a|b{c}\"d\\e^f`g<h>i[k] HTTP/1.1\r\nHost: a\r\n\r\n");
    /* ... but a fragment is never sent (RFC 9110 7.1). */
    ERR("GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    ERR("GET http://a/b#f HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    OK("GET //double HTTP/1.1\r\nHost: a\r\n\r\n");

    ERR("GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    ERR("options * HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    ERR("OPTIONS ** HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    ERR("GET example.com:80 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    ERR("GET foo HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    ERR("GET ?x HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    ERR("CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    ERR("CONNECT example.com HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    ERR("CONNECT example.com: HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    ERR("CONNECT :443 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    ERR("CONNECT a:443x HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    ERR("CONNECT a:123456 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    ERR("CONNECT http://a:443/ HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    ERR("CONNECT * HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    ERR("GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    ERR("GET http:/a HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    ERR("GET http:// HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    ERR("GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    ERR("GET http://user@host/ HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    ERR("GET http://a:8x/ HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    ERR("GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    ERR("GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    ERR("GET /\x80 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    ERR("GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    ERR("GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    ERRN("GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
}

/* A request whose target is exactly tlen bytes. */
static char *req_with_target(size_t tlen, const char *tail)
{
    size_t tl = strlen(tail);
    char *s = malloc(4 + tlen + tl + 1);
    memcpy(s, "GET ", 4);
    s[4] = '/';
    memset(s + 5, 'a', tlen - 1);
    memcpy(s + 4 + tlen, tail, tl + 1);
    return s;
}

static void test_target_limit(void)
{
    char *s = req_with_target(32, " HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK_INT(PARSE_LIM(s, 0, 32), H1_DONE);
    CHECK_INT(P.req.target.len, 32);
    free(s);

    s = req_with_target(33, " HTTP/1.1\r\nHost: a\r\n\r\n");
    ERR_LIM(s, 0, 32, 414);
    free(s);

    /* Detected at the first byte over the limit, not at the line end. */
    s = req_with_target(33, "");
    ERR_LIM(s, 0, 32, 414);
    free(s);
    s = req_with_target(32, "");
    CHECK_INT(PARSE_LIM(s, 0, 32), H1_AGAIN);
    free(s);

    /* The default limit is 8192. */
    s = req_with_target(8192, " HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK_INT(PARSE_LIM(s, 65536, 0), H1_DONE);
    free(s);
    s = req_with_target(8193, "");
    ERR_LIM(s, 65536, 0, 414);
    free(s);
}

static void test_head_limit(void)
{
    /* 16 + 9 + 2 = 27 bytes before the padding header. */
    char s[256];
    const char *pre = "GET / HTTP/1.1\r\nHost: a\r\n";
    size_t pl = strlen(pre);
    /* "X: vvv\r\n" padded so that the whole head is exactly 64 bytes. */
    size_t vlen = 64 - pl - 2 - 3 - 2;
    memcpy(s, pre, pl);
    memcpy(s + pl, "X: ", 3);
    memset(s + pl + 3, 'v', vlen);
    strcpy(s + pl + 3 + vlen, "\r\n\r\n");
    CHECK_INT(strlen(s), 64);
    CHECK_INT(PARSE_LIM(s, 64, 0), H1_DONE);
    CHECK_INT(P.head_len, 64);
    ERR_LIM(s, 63, 0, 431);

    /* A head that has not ended yet fails as soon as it is too long. */
    s[40] = '\0';
    CHECK_INT(PARSE_LIM(s, 40, 0), H1_AGAIN);
    ERR_LIM(s, 39, 0, 431);

    /* Leading empty lines count too. */
    ERR_LIM("\r\n\r\n\r\n\r\n\r\n", 9, 0, 431);
    CHECK_INT(PARSE_LIM("\r\n\r\n\r\n\r\n\r\n", 10, 0), H1_AGAIN);

    /* 431 wins over 414 when the head limit is hit first. */
    char *t = req_with_target(100, "");
    ERR_LIM(t, 50, 200, 431);
    ERR_LIM(t, 200, 50, 414);
    free(t);

    /* Body bytes after a head that fits do not count. */
    const char *b = "GET / HTTP/1.0\r\n\r\nlots of body bytes here";
    CHECK_INT(PARSE_LIM(b, 18, 0), H1_DONE);
    CHECK_INT(P.head_len, 18);
}

/* ---- header fields ------------------------------------------------------ */

static void test_header_syntax(void)
{
    const char *s = "GET / HTTP/1.1\r\nHost:a\r\nX-A:\t a  b \t\r\nX-B:\r\nX-C:   \r\n"
                    "X-D: caf\xc3\xa9 \xff\x80\r\nX-E: \"q\" (c) ,;=\r\n\r\n";
    CHECK_INT(PARSE(s), H1_DONE);
    CHECK_INT(P.req.n_headers, 6);
    CHECK(span_eq(s, P.req.headers[0].value, "a"));
    CHECK(span_eq(s, P.req.headers[1].name, "X-A"));
    CHECK(span_eq(s, P.req.headers[1].value, "a  b"));
    CHECK(span_eq(s, P.req.headers[2].value, ""));
    CHECK(span_eq(s, P.req.headers[3].value, ""));
    CHECK(span_eq(s, P.req.headers[4].value, "caf\xc3\xa9 \xff\x80"));
    CHECK(span_eq(s, P.req.headers[5].value, "\"q\" (c) ,;="));
    OK("GET / HTTP/1.1\r\nHost: a\r\nX!#$%&'*+-.^_`|~: v\r\n\r\n");
    OK("GET / HTTP/1.1\r\nHost: a\r\nX: a\tb\r\n\r\n");

    ERR("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\nHost: a\r\nX : b\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\n\tHost: a\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\nHost: a\nX: a\n b\n\n", 400);
    ERR("GET / HTTP/1.1\r\nHost: a\r\nX a\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\nHost: a\r\nX\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\nHost: a\r\n: a\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\nHost: a\r\nX(: a\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\nHost: a\r\nX/Y: a\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\nHost: a\r\nX\x80: a\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\nHost: a\r\n\x01: a\r\n\r\n", 400);
    ERRN("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 400);
    ERRN("GET / HTTP/1.1\r\nHost: a\r\nX: \0\r\n\r\n", 400);
    ERRN("GET / HTTP/1.1\r\nHost: a\r\nX\0: a\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01" "b\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\nHost: a\r\nX: \x1f\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f" "b\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\nHost: a\r\nX: a\x0b" "b\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\nHost: a\r\nX: a \rb\r\n\r\n", 400);
}

static void test_header_count(void)
{
    static char s[8192];
    size_t n = (size_t)sprintf(s, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 1; i < H1_MAX_HEADERS; i++) n += (size_t)sprintf(s + n, "X-%d: %d\r\n", i, i);
    strcpy(s + n, "\r\n");
    CHECK_INT(PARSE(s), H1_DONE);
    CHECK_INT(P.req.n_headers, H1_MAX_HEADERS);
    CHECK(span_eq(s, P.req.headers[99].name, "X-99"));
    CHECK(span_eq(s, P.req.headers[99].value, "99"));

    strcpy(s + n, "X-100: 100\r\n\r\n");
    ERR(s, 431);
    /* Reported as soon as the 101st name starts. */
    strcpy(s + n, "X");
    ERR(s, 431);
    strcpy(s + n, "\r");
    CHECK_INT(PARSE(s), H1_AGAIN);
}

static void test_host(void)
{
    ERR("GET / HTTP/1.1\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\nX: a\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\nHost: a\r\nhOST: b\r\n\r\n", 400);
    ERR("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\nHost: a\\b\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\nHost: \xc3\xa9\r\n\r\n", 400);
    /* Missing Host is reported when the head completes, not before. */
    CHECK_INT(PARSE("GET / HTTP/1.1\r\nX: a\r\n"), H1_AGAIN);

    const char *s = "GET / HTTP/1.1\r\nhost:  Example.COM:8080 \r\n\r\n";
    CHECK_INT(PARSE(s), H1_DONE);
    CHECK(P.req.has_host);
    CHECK(span_eq(s, P.req.host, "Example.COM:8080"));
    s = "GET / HTTP/1.1\r\nHost:\r\n\r\n"; /* empty Host is legal */
    CHECK_INT(PARSE(s), H1_DONE);
    CHECK(P.req.has_host);
    CHECK_INT(P.req.host.len, 0);
    OK("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n");
    OK("GET / HTTP/1.1\r\nHost: xn--caf-dma.example\r\n\r\n");
    OK("GET / HTTP/1.0\r\nHost: a\r\n\r\n");
}

static void test_content_length(void)
{
    CHECK_INT(PARSE("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"), H1_DONE);
    CHECK_INT(P.req.content_length, 0);
    CHECK_INT(PARSE("POST / HTTP/1.1\r\nHost: a\r\ncontent-length:12345\r\n\r\n"), H1_DONE);
    CHECK_INT(P.req.content_length, 12345);
    CHECK_INT(PARSE("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n"), H1_DONE);
    CHECK_INT(P.req.content_length, 5);
    CHECK_INT(PARSE("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,5 ,\t5\r\n\r\n"), H1_DONE);
    CHECK_INT(P.req.content_length, 5);
    CHECK_INT(PARSE("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                    "CONTENT-LENGTH: 5\r\n\r\n"), H1_DONE);
    CHECK_INT(P.req.content_length, 5);
    CHECK_INT(PARSE("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n"), H1_DONE);
    CHECK_INT(P.req.content_length, 7);
    CHECK_INT(PARSE("POST / HTTP/1.1\r\nHost: a\r\n"
                    "Content-Length: 9223372036854775807\r\n\r\n"), H1_DONE);
    CHECK_INT(P.req.content_length, INT64_MAX);
    CHECK_INT(PARSE("POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc"), H1_DONE);
    CHECK_INT(P.req.content_length, 3);

    ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n", 400);
    ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 400);
    ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400);
    ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n", 400);
    ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n", 400);
    ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", 400);
    ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1.0\r\n\r\n", 400);
    ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1e3\r\n\r\n", 400);
    ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400);
    ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", 400);
    ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n", 400);
    ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,\r\n\r\n", 400);
    ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ,5\r\n\r\n", 400);
    ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400);
    ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5, 6\r\n\r\n", 400);
    ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\n", 400);
    ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \xd9\xa3\r\n\r\n", 400);
}

static void test_transfer_encoding(void)
{
    CHECK_INT(PARSE("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"), H1_DONE);
    CHECK(P.req.chunked);
    CHECK_INT(P.req.content_length, -1);
    CHECK_INT(PARSE("POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding:\tChunked \r\n\r\n"),
              H1_DONE);
    CHECK(P.req.chunked);
    CHECK_INT(PARSE("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n"), H1_DONE);
    CHECK(P.req.chunked);

    ERR("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501);
    ERR("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 501);
    ERR("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: foo\r\n\r\n", 501);
    ERR("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 501);
    ERR("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501);
    ERR("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n"
        "Transfer-Encoding: chunked\r\n\r\n", 501);
    ERR("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
        "Transfer-Encoding: gzip\r\n\r\n", 501);
    ERR("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", 501);
    ERR("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 501);
    ERR("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400);
    ERR("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
        "Transfer-Encoding: chunked\r\n\r\n", 400);
    ERR("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", 400);
    ERR("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,\r\n\r\n", 400);
    ERR("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
        "Content-Length: 5\r\n\r\n", 400);
    ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
        "Transfer-Encoding: chunked\r\n\r\n", 400);
    ERR("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
    ERR("POST / HTTP/1.0\r\nTransfer-Encoding: gzip\r\n\r\n", 400);
    ERR("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", 400);
    /* Names that only look alike are ordinary headers. */
    CHECK_INT(PARSE("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encodings: gzip\r\n"
                    "Content-Lengths: x\r\n\r\n"), H1_DONE);
    CHECK(!P.req.chunked);
    CHECK_INT(P.req.content_length, -1);
}

static void test_connection(void)
{
    CHECK_INT(PARSE("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"), H1_DONE);
    CHECK(P.req.conn_close && !P.req.conn_keep_alive && !P.req.upgrade);
    CHECK_INT(PARSE("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"), H1_DONE);
    CHECK(!P.req.conn_close && P.req.conn_keep_alive);
    CHECK_INT(PARSE("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, CLOSE ,,\tkeep-alive\r\n\r\n"),
              H1_DONE);
    CHECK(P.req.conn_close && P.req.conn_keep_alive);
    CHECK_INT(PARSE("GET / HTTP/1.1\r\nHost: a\r\nConnection: te\r\n"
                    "connection: keep-alive\r\n\r\n"), H1_DONE);
    CHECK(!P.req.conn_close && P.req.conn_keep_alive);
    CHECK_INT(PARSE("GET / HTTP/1.1\r\nHost: a\r\nConnection: closed, keep-alive2\r\n\r\n"),
              H1_DONE);
    CHECK(!P.req.conn_close && !P.req.conn_keep_alive);
    CHECK_INT(PARSE("GET / HTTP/1.1\r\nHost: a\r\nConnection:\r\n\r\n"), H1_DONE);
    CHECK(!P.req.conn_close && !P.req.conn_keep_alive);

    const char *s = "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n"
                    "Upgrade: websocket\r\n\r\n";
    CHECK_INT(PARSE(s), H1_DONE);
    CHECK(P.req.upgrade && P.req.conn_keep_alive);
    CHECK(span_eq(s, P.req.upgrade_proto, "websocket"));
    s = "GET /ws HTTP/1.1\r\nUpgrade: h2c\r\nHost: a\r\nConnection: upgrade\r\n\r\n";
    CHECK_INT(PARSE(s), H1_DONE);
    CHECK(P.req.upgrade);
    CHECK(span_eq(s, P.req.upgrade_proto, "h2c"));
    s = "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n";
    CHECK_INT(PARSE(s), H1_DONE);
    CHECK(!P.req.upgrade);
    CHECK(span_eq(s, P.req.upgrade_proto, "websocket"));
    CHECK_INT(PARSE("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n"), H1_DONE);
    CHECK(!P.req.upgrade);
    CHECK_INT(PARSE("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade:\r\n\r\n"),
              H1_DONE);
    CHECK(!P.req.upgrade);
}

static void test_expect(void)
{
    CHECK_INT(PARSE("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                    "Content-Length: 1\r\n\r\n"), H1_DONE);
    CHECK(P.req.expect_continue && !P.req.expect_other);
    CHECK_INT(PARSE("PUT / HTTP/1.1\r\nHost: a\r\nexpect:  100-Continue \r\n\r\n"), H1_DONE);
    CHECK(P.req.expect_continue && !P.req.expect_other);
    CHECK_INT(PARSE("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n"), H1_DONE);
    CHECK(!P.req.expect_continue && P.req.expect_other);
    CHECK_INT(PARSE("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue, foo\r\n\r\n"), H1_DONE);
    CHECK(!P.req.expect_continue && P.req.expect_other);
    CHECK_INT(PARSE("PUT / HTTP/1.1\r\nHost: a\r\nExpect:\r\n\r\n"), H1_DONE);
    CHECK(!P.req.expect_continue && P.req.expect_other);
}

/* Random mutations of valid heads (byte flips, truncation, inserted CR/LF/
 * NUL) must give the same outcome fed whole and byte by byte, and never
 * touch memory outside the buffer. */
static void fuzz(const char *const *seeds, int nseeds, int rounds)
{
    static const unsigned char inject[] = { '\r', '\n', 0, ' ', '\t', ':', ',', 0x7f, 0x80, 'x' };
    unsigned seed = 99;
    int before = check_failed;
    for (int t = 0; t < rounds; t++) {
        const char *base = seeds[t % nseeds];
        char s[256];
        size_t n = strlen(base);
        memcpy(s, base, n);
        int muts = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 3;
        for (int m = 0; m < muts; m++) {
            size_t at = ((seed = seed * 1103515245u + 12345u) >> 16) % n;
            s[at] = (char)inject[((seed = seed * 1103515245u + 12345u) >> 16) % sizeof(inject)];
        }
        parse3(s, n, ML, ML, &P, __LINE__);
        parse3(s, n, 40, 10, &P, __LINE__);
    }
    CHECK_INT(check_failed - before, 0);
}

static void test_fuzz(void)
{
    static const char *const seeds[] = {
        ("GET /a/b?c HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, upgrade\r\n"
         "Upgrade: x\r\nContent-Length: 5, 5\r\nExpect: 100-continue\r\n\r\nhello"),
        "POST http://h:1/ HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
        "\nOPTIONS * HTTP/1.0\nX:\ty\n\n",
    };
    fuzz(seeds, 3, 3000);
}

/* ---- chunked ----------------------------------------------------------- */

/* Feeds in[0..n) in pieces cut at cuts[], each from a fresh exactly-sized
 * copy.  Returns total bytes consumed or -1; decoded bytes go to out. */
static ssize_t chunk_feed(struct h1_chunked *c, const char *in, size_t n,
                          const size_t *cuts, int ncuts, char *out, size_t *out_n, bool *done)
{
    size_t prev = 0, total = 0;
    *out_n = 0;
    *done = false;
    for (int k = 0; k <= ncuts; k++) {
        size_t to = k < ncuts ? cuts[k] : n;
        size_t len = to - prev;
        char *piece = malloc(len ? len : 1);
        memcpy(piece, in + prev, len);
        size_t ol;
        ssize_t r = h1_chunked_decode(c, piece, len, &ol, done);
        if (r >= 0) {
            memcpy(out + *out_n, piece, ol);
            *out_n += ol;
        }
        free(piece);
        if (r < 0) return -1;
        total += (size_t)r;
        if (*done) return (ssize_t)total;
        if ((size_t)r != len) return -2; /* must eat everything until done */
        prev = to;
    }
    return (ssize_t)total;
}

static const char chunked_body[] =
    "4;ext=1\r\nWiki\r\n"
    "5 ; a=\"b c\";x\r\npedia\r\n"
    "E\r\n in\r\n\r\nchunks.\r\n"
    "00a\r\n0123456789\r\n"
    "0;last\r\nExpires: never\r\nX-Trailer:\t1 \r\n\r\n"
    "GET / HTTP/1.1\r\n";
static const char chunked_want[] = "Wikipedia in\r\n\r\nchunks.0123456789";
#define CHUNKED_END (sizeof(chunked_body) - 1 - strlen("GET / HTTP/1.1\r\n"))

/* Feeds chunked_body cut at cuts[] and checks the whole outcome. */
static bool chunked_body_ok(const size_t *cuts, int ncuts)
{
    struct h1_chunked c;
    char out[256];
    size_t out_n;
    bool done;
    h1_chunked_init(&c);
    ssize_t r = chunk_feed(&c, chunked_body, sizeof(chunked_body) - 1, cuts, ncuts, out,
                           &out_n, &done);
    return r == (ssize_t)CHUNKED_END && done && out_n == sizeof(chunked_want) - 1 &&
           memcmp(out, chunked_want, out_n) == 0;
}

/* keep_trailers: the section is kept whole, wherever the input is cut,
 * and walked field by field. */
static void test_chunked_keep_trailers(void)
{
    size_t n = sizeof(chunked_body) - 1;
    for (size_t cut = 0; cut <= n; cut++) {
        struct h1_chunked c;
        char out[256];
        size_t out_n;
        bool done;
        h1_chunked_init(&c);
        c.keep_trailers = true;
        ssize_t r = chunk_feed(&c, chunked_body, n, &cut, 1, out, &out_n, &done);
        CHECK_INT(r, (ssize_t)CHUNKED_END);
        static const char want[] = "Expires: never\r\nX-Trailer:\t1 \r\n";
        CHECK(c.trailers_len == sizeof(want) - 1 && memcmp(c.trailers, want, c.trailers_len) == 0);
        size_t pos = 0;
        struct h1_span nm, v;
        CHECK(h1_chunked_trailer_next(&c, &pos, &nm, &v));
        CHECK(nm.len == 7 && memcmp(c.trailers + nm.off, "Expires", 7) == 0);
        CHECK(v.len == 5 && memcmp(c.trailers + v.off, "never", 5) == 0);
        CHECK(h1_chunked_trailer_next(&c, &pos, &nm, &v));
        CHECK(nm.len == 9 && memcmp(c.trailers + nm.off, "X-Trailer", 9) == 0);
        CHECK(v.len == 1 && c.trailers[v.off] == '1');
        CHECK(!h1_chunked_trailer_next(&c, &pos, &nm, &v));
        h1_chunked_release(&c);
        CHECK(c.trailers == NULL);
    }
    /* No trailer section: nothing kept, nothing allocated. */
    struct h1_chunked c;
    size_t on;
    bool done;
    char t[] = "3\r\nabc\r\n0\r\n\r\n";
    h1_chunked_init(&c);
    c.keep_trailers = true;
    CHECK_INT(h1_chunked_decode(&c, t, sizeof(t) - 1, &on, &done), (ssize_t)sizeof(t) - 1);
    CHECK(done && c.trailers == NULL);
    size_t pos = 0;
    struct h1_span nm, v;
    CHECK(!h1_chunked_trailer_next(&c, &pos, &nm, &v));
    h1_chunked_release(&c);
}

static void test_chunked_splits(void)
{
    size_t n = sizeof(chunked_body) - 1;
    CHECK(chunked_body_ok(NULL, 0));

    /* Once done, nothing more is consumed. */
    struct h1_chunked c;
    size_t ol = 9;
    bool done;
    char whole[sizeof(chunked_body)];
    memcpy(whole, chunked_body, sizeof(chunked_body));
    h1_chunked_init(&c);
    CHECK_INT(h1_chunked_decode(&c, whole, n, &ol, &done), (ssize_t)CHUNKED_END);
    CHECK(done);
    char more[] = "GET";
    CHECK_INT(h1_chunked_decode(&c, more, 3, &ol, &done), 0);
    CHECK(done);
    CHECK_INT(ol, 0);

    int bad = 0;
    for (size_t s = 0; s <= n; s++) {
        size_t cuts[1] = { s };
        if (!chunked_body_ok(cuts, 1)) bad++;
    }
    for (size_t s = 0; s <= n; s++)
        for (size_t t = s; t <= n; t++) {
            size_t cuts[2] = { s, t };
            if (!chunked_body_ok(cuts, 2)) bad++;
        }
    size_t every[sizeof(chunked_body)];
    for (size_t s = 0; s + 1 < n; s++) every[s] = s + 1;
    if (!chunked_body_ok(every, (int)n - 1)) bad++;
    CHECK_INT(bad, 0);
}

/* Decodes in whole and byte by byte; both must agree on success/error. */
static void chunk_case(const char *in, size_t n, const char *want, bool want_done, int line)
{
    struct h1_chunked c;
    char out[8192];
    size_t out_n;
    bool done;
    size_t every[8192];
    for (size_t s = 0; s + 1 < n; s++) every[s] = s + 1;
    for (int mode = 0; mode < 2; mode++) {
        h1_chunked_init(&c);
        ssize_t r = chunk_feed(&c, in, n, every, mode ? (int)n - 1 : 0, out, &out_n, &done);
        bool ok;
        if (!want) {
            ok = r == -1 && c.error_msg && c.error_msg[0];
            /* Errors are sticky. */
            size_t ol;
            bool d;
            char x[1] = { '0' };
            ok = ok && h1_chunked_decode(&c, x, 1, &ol, &d) == -1;
        } else {
            ok = r >= 0 && done == want_done && out_n == strlen(want) &&
                 memcmp(out, want, out_n) == 0;
        }
        if (ok) check_passed++;
        else {
            check_failed++;
            fprintf(stderr, "line %d (mode %d): r %zd done %d out %zu err %s\n", line, mode, r,
                    done, out_n, c.error_msg ? c.error_msg : "-");
        }
    }
}

#define CH_OK(in, want) chunk_case(in, sizeof(in) - 1, want, true, __LINE__)
#define CH_MORE(in, want) chunk_case(in, sizeof(in) - 1, want, false, __LINE__)
#define CH_ERR(in) chunk_case(in, sizeof(in) - 1, NULL, false, __LINE__)

static void test_chunked_cases(void)
{
    CH_OK("0\r\n\r\n", "");
    CH_OK("1\r\na\r\n0\r\n\r\n", "a");
    CH_OK("a\r\n0123456789\r\n0\r\n\r\n", "0123456789");
    CH_OK("A\r\n0123456789\r\n0\r\n\r\n", "0123456789");
    CH_OK("0000000000000001\r\nx\r\n0\r\n\r\n", "x"); /* 16 digits */
    CH_OK("1;a=b;c\r\nx\r\n0;z\r\n\r\n", "x");
    CH_OK("1 \t; a = \"b;c\"\r\nx\r\n0\r\n\r\n", "x");
    CH_OK("1;\xc3\xa9\r\nx\r\n0\r\n\r\n", "x");
    CH_OK("0\r\nA: b\r\nC:\r\n\r\n", "");
    CH_OK("2\r\n\r\n\r\n0\r\n\r\n", "\r\n"); /* CRLF as data */
    CH_MORE("5\r\nhel", "hel");
    CH_MORE("5\r\nhello\r\n", "hello");
    CH_MORE("fffffffffffffff\r\n", "");     /* 2^60 - 1 */
    CH_MORE("0\r\nX: y\r\n", "");
    CH_MORE("", "");

    CH_ERR("\r\n");
    CH_ERR("g\r\n");
    CH_ERR("-5\r\nhello\r\n0\r\n\r\n");
    CH_ERR("+5\r\nhello\r\n0\r\n\r\n");
    CH_ERR("0x5\r\nhello\r\n0\r\n\r\n");
    CH_ERR(" 5\r\nhello\r\n0\r\n\r\n");
    CH_ERR("5 \r\nhello\r\n0\r\n\r\n");
    CH_ERR("5\n");
    CH_ERR("5\r\r\n");
    CH_ERR("5\rx");
    CH_ERR("5\r\nhelloX\r\n0\r\n\r\n");
    CH_ERR("5\r\nhello\n0\r\n\r\n");
    CH_ERR("5\r\nhello\r0\r\n\r\n");
    CH_ERR("5\r\nhello0\r\n\r\n");
    CH_ERR("1000000000000000\r\n");       /* 2^60 */
    CH_ERR("ffffffffffffffff\r\n");       /* 2^64 - 1 */
    CH_ERR("00000000000000001\r\n");      /* 17 digits */
    CH_ERR("1;a\x01" "b\r\nx\r\n0\r\n\r\n");
    CH_ERR("1;a\nx\r\n");
    CH_ERR("1 x\r\n");
    CH_ERR("0\r\nbad line\r\n\r\n");
    CH_ERR("0\r\n X: y\r\n\r\n");
    CH_ERR("0\r\nX : y\r\n\r\n");
    CH_ERR("0\r\n: y\r\n\r\n");
    CH_ERR("0\r\nX: a\x01" "b\r\n\r\n");
    CH_ERR("0\r\nX: y\n\r\n");
    CH_ERR("0\r\nX: y\r\n\n");
    CH_ERR("0\r\n\r\r");
    CH_ERR("0\r\n\n");
    CH_ERR("0\r\n\rx");
    CH_ERR("0\r\nX: y\r\r\n");
}

static void test_chunked_limits(void)
{
    static char s[40000];
    /* A size line of exactly max_line (4096) bytes, CRLF included. */
    strcpy(s, "1;");
    memset(s + 2, 'e', 4096 - 4);
    strcpy(s + 4094, "\r\nx\r\n0\r\n\r\n");
    chunk_case(s, strlen(s), "x", true, __LINE__);
    strcpy(s, "1;");
    memset(s + 2, 'e', 4096 - 3);
    strcpy(s + 4095, "\r\nx\r\n0\r\n\r\n");
    chunk_case(s, strlen(s), NULL, false, __LINE__);

    /* A trailer section of exactly max_trailer (16384) bytes. */
    size_t n = (size_t)sprintf(s, "0\r\n");
    size_t tstart = n;
    while (n - tstart + 1000 < 16384 - 2) n += (size_t)sprintf(s + n, "X: %0994d\r\n", 0);
    size_t rest = 16384 - 2 - (n - tstart);
    CHECK(rest >= 5);
    memcpy(s + n, "Y: ", 3);
    memset(s + n + 3, 'y', rest - 5);
    strcpy(s + n + rest - 2, "\r\n\r\n");
    CHECK_INT(strlen(s) - tstart, 16384);
    struct h1_chunked c;
    char out[8];
    size_t on;
    bool done;
    h1_chunked_init(&c);
    char *copy = malloc(strlen(s));
    memcpy(copy, s, strlen(s));
    CHECK_INT(h1_chunked_decode(&c, copy, strlen(s), &on, &done), (ssize_t)strlen(s));
    CHECK(done);
    free(copy);
    (void)out;

    /* One byte more. */
    memmove(s + n + 4, s + n + 3, strlen(s + n + 3) + 1);
    s[n + 3] = 'y';
    h1_chunked_init(&c);
    CHECK_INT(h1_chunked_decode(&c, s, strlen(s), &on, &done), -1);
    CHECK(c.error_msg != NULL);

    /* Limits are adjustable after init. */
    h1_chunked_init(&c);
    c.max_line = 3;
    char t1[] = "1;x\r\n";
    CHECK_INT(h1_chunked_decode(&c, t1, sizeof(t1) - 1, &on, &done), -1);
    h1_chunked_init(&c);
    c.max_trailer = 5; /* "A:\r\n\r\n" is 6 bytes */
    char t2[] = "0\r\nA:\r\n\r\n";
    CHECK_INT(h1_chunked_decode(&c, t2, sizeof(t2) - 1, &on, &done), -1);
    h1_chunked_init(&c);
    c.max_trailer = 6;
    CHECK_INT(h1_chunked_decode(&c, t2, sizeof(t2) - 1, &on, &done), (ssize_t)sizeof(t2) - 1);
    CHECK(done);
}

/* Decoding in place: output never overtakes input, large chunks pass
 * through with exact counts across calls. */
static void test_chunked_large(void)
{
    size_t body = 100000;
    size_t cap = body + 64;
    char *s = malloc(cap), *want = malloc(body);
    for (size_t i = 0; i < body; i++) want[i] = (char)('a' + i % 26);
    size_t n = (size_t)sprintf(s, "%zx\r\n", body);
    memcpy(s + n, want, body);
    n += body;
    n += (size_t)sprintf(s + n, "\r\n0\r\n\r\n");

    struct h1_chunked c;
    h1_chunked_init(&c);
    size_t got = 0, off = 0, step = 4093;
    bool done = false;
    int bad = 0;
    char *acc = malloc(body);
    while (off < n && !done) {
        size_t len = n - off < step ? n - off : step;
        size_t ol;
        ssize_t r = h1_chunked_decode(&c, s + off, len, &ol, &done);
        if (r < 0) { bad++; break; }
        memcpy(acc + got, s + off, ol);
        got += ol;
        off += (size_t)r;
    }
    CHECK_INT(bad, 0);
    CHECK(done);
    CHECK_INT(off, n);
    CHECK_INT(got, body);
    CHECK(memcmp(acc, want, body) == 0);
    free(s);
    free(want);
    free(acc);
}

/* ---- response heads (the proxy's client) ---- */

#define RESP_OK(s) expect_ok_case(s, strlen(s), __LINE__)
#define RESP_ERR(s) expect_err_case(s, strlen(s), ML, ML, 502, __LINE__)

static const char *hdr_value(const char *buf, const char *name)
{
    static char out[256];
    for (unsigned i = 0; i < P.req.n_headers; i++) {
        const struct h1_header *h = &P.req.headers[i];
        if (h->name.len == strlen(name) && strncasecmp(buf + h->name.off, name, h->name.len) == 0) {
            snprintf(out, sizeof out, "%.*s", (int)h->value.len, buf + h->value.off);
            return out;
        }
    }
    return NULL;
}

static void test_response(void)
{
    response_mode = true;
    const char *r1 = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                     "Content-Length: 12\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\nhello world!";
    RESP_OK(r1);
    CHECK_INT(P.req.status, 200);
    CHECK(span_eq(r1, P.req.reason, "OK"));
    CHECK_INT(P.req.version, 11);
    CHECK_INT(P.req.content_length, 12);
    CHECK(!P.req.chunked);
    CHECK_INT(P.req.n_headers, 4);
    CHECK_INT(P.head_len, strlen(r1) - 12);
    CHECK_STR(hdr_value(r1, "content-type"), "text/plain");
    CHECK(span_eq(r1, P.req.headers[3].value, "b=2")); /* duplicates kept, in order */

    /* No reason phrase, with and without the space; LF line ends. */
    const char *r2 = "HTTP/1.1 204 \r\nServer: x\r\n\r\n";
    RESP_OK(r2);
    CHECK_INT(P.req.status, 204);
    CHECK_INT(P.req.reason.len, 0);
    RESP_OK("HTTP/1.1 304\r\n\r\n");
    CHECK_INT(P.req.status, 304);
    CHECK_INT(P.req.reason.len, 0);
    RESP_OK("HTTP/1.1 404 Not Found\nContent-Length: 0\n\n");
    CHECK_INT(P.req.status, 404);
    const char *r3 = "HTTP/1.1 500 Internal\tServer Error \xe9\r\n\r\n";
    RESP_OK(r3);
    CHECK(span_eq(r3, P.req.reason, "Internal\tServer Error \xe9"));

    /* HTTP/1.0, keep-alive asked for; no Host needed in a response. */
    RESP_OK("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n");
    CHECK_INT(P.req.version, 10);
    CHECK(P.req.conn_keep_alive && !P.req.conn_close);
    CHECK_INT(P.req.content_length, -1); /* close-delimited unless kept alive */

    /* Chunked, Connection: close, interim and upgrade responses. */
    RESP_OK("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    CHECK(P.req.chunked && P.req.conn_close);
    RESP_OK("HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n");
    CHECK_INT(P.req.status, 103);
    RESP_OK("HTTP/1.1 100 Continue\r\n\r\n");
    CHECK_INT(P.req.status, 100);
    CHECK_INT(P.req.n_headers, 0);
    const char *r4 = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n";
    RESP_OK(r4);
    CHECK_INT(P.req.status, 101);
    CHECK(P.req.upgrade);
    CHECK(span_eq(r4, P.req.upgrade_proto, "websocket"));
    RESP_OK("HTTP/1.1 999 Odd\r\n\r\n");
    CHECK_INT(P.req.status, 999);

    /* Errors: every one is the gateway's 502. */
    RESP_ERR("HTTP/2.0 200 OK\r\n\r\n");
    RESP_ERR("HTTPS/1.1 200 OK\r\n\r\n");
    RESP_ERR("http/1.1 200 OK\r\n\r\n");
    RESP_ERR("HTTP/1.1  200 OK\r\n\r\n");
    RESP_ERR("HTTP/1.1 20 OK\r\n\r\n");
    RESP_ERR("HTTP/1.1 2000 OK\r\n\r\n");
    RESP_ERR("HTTP/1.1 099 Low\r\n\r\n");
    RESP_ERR("HTTP/1.1 2x0 OK\r\n\r\n");
    RESP_ERR("HTTP/1.1 200 O\rK\r\n\r\n");
    RESP_ERR("HTTP/1.1 200 OK\rX: y\r\n\r\n");
    RESP_ERR("HTTP/1.1 200 OK\r\nX: y\r\n folded\r\n\r\n");
    RESP_ERR("HTTP/1.1 200 OK\r\nX : y\r\n\r\n");
    RESP_ERR("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n");
    RESP_ERR("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n");
    RESP_ERR("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n");
    RESP_ERR("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
    RESP_ERR("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    RESP_ERR("\r\nHTTP/1.1 200 OK\r\n\r\n");
    RESP_OK("HTTP/1.1 200 OK\r\nContent-Length: 7, 7\r\n\r\n");
    CHECK_INT(P.req.content_length, 7);

    /* Limits: 100 fields, and the head size. */
    char big[8192];
    size_t n = (size_t)snprintf(big, sizeof big, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i < H1_MAX_HEADERS + 1; i++)
        n += (size_t)snprintf(big + n, sizeof big - n, "X-%d: v\r\n", i);
    n += (size_t)snprintf(big + n, sizeof big - n, "\r\n");
    CHECK_INT(parse3(big, n, ML, ML, &P, __LINE__), H1_ERROR);
    CHECK_INT(P.error_status, 502);
    CHECK_INT(parse3(r1, strlen(r1), 40, ML, &P, __LINE__), H1_ERROR);
    CHECK_INT(P.error_status, 502);
    CHECK_STR(P.error_msg, "response head too large");

    /* A response head in request mode, and a request in response mode,
     * are errors. */
    RESP_ERR("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    response_mode = false;
    expect_err_case("HTTP/1.1 200 OK\r\n\r\n", 19, ML, ML, 400, __LINE__);
}

/* An error, and the reason it was refused for. */
#define RESP_ERR_MSG(s, msg) do { RESP_ERR(s); CHECK_STR(P.error_msg, msg); } while (0)

static void test_response_status_line(void)
{
    response_mode = true;
    /* No reason: "200 " and "200" alike, CRLF or LF. */
    const char *r1 = "HTTP/1.1 200\nX: y\n\n";
    RESP_OK(r1);
    CHECK_INT(P.req.status, 200);
    CHECK_INT(P.req.reason.len, 0);
    CHECK_INT(P.req.reason.off, 12);
    CHECK(span_eq(r1, P.req.headers[0].value, "y"));
    RESP_OK("HTTP/1.0 204 \n\n");
    CHECK_INT(P.req.version, 10);
    CHECK_INT(P.req.status, 204);
    CHECK_INT(P.req.reason.len, 0);
    const char *r2 = "HTTP/1.1 200  two  spaces \r\n\r\n"; /* kept as sent */
    RESP_OK(r2);
    CHECK(span_eq(r2, P.req.reason, " two  spaces "));

    /* Status codes: exactly three digits, 100..999. */
    RESP_ERR_MSG("HTTP/1.1 20 OK\r\n\r\n", "invalid status code");
    RESP_ERR_MSG("HTTP/1.1 20\r\n\r\n", "invalid status code");
    RESP_ERR_MSG("HTTP/1.1 1000 OK\r\n\r\n", "invalid status code");
    RESP_ERR_MSG("HTTP/1.1 200OK\r\n\r\n", "invalid status code");
    RESP_ERR_MSG("HTTP/1.1 abc OK\r\n\r\n", "invalid status code");
    RESP_ERR_MSG("HTTP/1.1 20a OK\r\n\r\n", "invalid status code");
    RESP_ERR_MSG("HTTP/1.1 000 OK\r\n\r\n", "invalid status code");
    RESP_ERR_MSG("HTTP/1.1 +20 OK\r\n\r\n", "invalid status code");
    RESP_ERR_MSG("HTTP/1.1 \r\n\r\n", "invalid status code");
    RESP_OK("HTTP/1.1 100 Continue\r\n\r\n");
    CHECK_INT(P.req.status, 100);

    /* Versions: 1.0 and 1.1 (a later 1.x as 1.1), spelled exactly. */
    RESP_OK("HTTP/1.2 200 OK\r\n\r\n"); /* a later 1.x reads as 1.1 */
    CHECK_INT(P.req.version, 11);
    RESP_ERR_MSG("HTTP/0.9 200 OK\r\n\r\n", "unsupported HTTP version");
    RESP_ERR_MSG("HTTP/2 200 OK\r\n\r\n", "invalid HTTP version");
    RESP_ERR_MSG("HTTP/1.10 200 OK\r\n\r\n", "invalid status line");
    RESP_ERR_MSG("HTTP/1,1 200 OK\r\n\r\n", "invalid HTTP version");
    RESP_ERR_MSG("ICY 200 OK\r\n\r\n", "invalid HTTP version");
    RESP_ERR_MSG("HTTP/1.1\t200 OK\r\n\r\n", "invalid status line");

    /* Line ends: a bare CR anywhere is an error; an unfinished head waits. */
    RESP_ERR_MSG("HTTP/1.1 200 OK\rX\n\r\n", "bare CR");
    RESP_ERR_MSG("HTTP/1.1 200\r\r\n\r\n", "bare CR");
    RESP_ERR_MSG("HTTP/1.1 200 OK\r\nX: y\rZ\r\n\r\n", "bare CR in header");
    RESP_ERR_MSG("HTTP/1.1 200 OK\r\n\rX", "bare CR");
    RESP_ERR_MSG("HTTP/1.1 200 O\x01K\r\n\r\n", "invalid reason phrase");
    RESP_ERR_MSG("HTTP/1.1 200 O\x7fK\r\n\r\n", "invalid reason phrase");
    static const char nul[] = "HTTP/1.1 200 O\0K\r\n\r\n";
    expect_err_case(nul, sizeof nul - 1, ML, ML, 502, __LINE__);
    CHECK_INT(PARSE("HTTP/1.1 200 OK"), H1_AGAIN);
    CHECK_INT(PARSE("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"), H1_AGAIN);
    CHECK_INT(PARSE("HTTP/1.1 200 OK\r\n\r"), H1_AGAIN);

    /* Field lines: the request rules, minus Host and Expect. */
    RESP_ERR_MSG("HTTP/1.1 200 OK\r\nX: y\r\n\tfolded\r\n\r\n", "obs-fold");
    RESP_ERR_MSG("HTTP/1.1 200 OK\r\n X: y\r\n\r\n", "whitespace before first header");
    RESP_ERR_MSG("HTTP/1.1 200 OK\r\nX y\r\n\r\n", "whitespace before colon");
    RESP_ERR_MSG("HTTP/1.1 200 OK\r\n: y\r\n\r\n", "empty header name");
    RESP_ERR_MSG("HTTP/1.1 200 OK\r\nX\r\n\r\n", "header line without colon");
    RESP_ERR_MSG("HTTP/1.1 200 OK\r\nX: a\x01\r\n\r\n", "invalid character in header value");
    const char *r3 = "HTTP/1.1 200 OK\r\nHost: a b/c\r\nHost: d\r\nExpect: x\r\n\r\n";
    RESP_OK(r3);
    CHECK(!P.req.has_host && !P.req.expect_other && !P.req.expect_continue);
    CHECK_INT(P.req.n_headers, 3);
    CHECK(span_eq(r3, P.req.headers[0].value, "a b/c"));
    response_mode = false;
}

/* A typical response split in two at every byte, the halves in fresh
 * exactly-sized buffers: the fields come out right every time (parse3
 * compares the ways with each other; this checks them against the truth). */
static void test_response_splits(void)
{
    const char *r = "HTTP/1.1 200 OK\r\nDate: Mon, 1 Jan 2024 00:00:00 GMT\r\n"
                    "Content-Type: text/html; charset=utf-8\r\nContent-Length: 42\r\n"
                    "Connection: keep-alive\r\nX-Empty:\r\n\r\n";
    size_t n = strlen(r);
    struct h1_parser *q = &scratch;
    int bad = 0;
    for (size_t cut = 0; cut <= n; cut++) {
        h1_parser_init_response(q, 0);
        char *a = malloc(cut ? cut : 1), *b = malloc(n);
        memcpy(a, r, cut);
        memcpy(b, r, n);
        int r1 = h1_parse(q, a, cut);
        int r2 = h1_parse(q, b, n);
        const struct h1_request *x = &q->req;
        if (r1 != (cut == n ? H1_DONE : H1_AGAIN) || r2 != H1_DONE || q->head_len != n ||
            x->version != 11 || x->status != 200 || !span_eq(b, x->reason, "OK") ||
            x->n_headers != 5 || x->content_length != 42 || x->chunked ||
            x->close_delimited || x->conn_close || !x->conn_keep_alive ||
            !span_eq(b, x->headers[1].name, "Content-Type") ||
            !span_eq(b, x->headers[1].value, "text/html; charset=utf-8") ||
            !span_eq(b, x->headers[4].name, "X-Empty") || x->headers[4].value.len != 0) {
            bad++;
            fprintf(stderr, "response split at %zu: rc %d/%d\n", cut, r1, r2);
        }
        free(a);
        free(b);
    }
    CHECK_INT(bad, 0);
}

/* Framing, RFC 9112 6.3: chunked when it is the final coding, the close
 * when another coding is, Content-Length otherwise. */
static void test_response_framing(void)
{
    response_mode = true;
    RESP_OK("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    CHECK_INT(P.req.content_length, 0);
    CHECK(!P.req.chunked && !P.req.close_delimited);
    RESP_OK("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n");
    CHECK_INT(P.req.content_length, 5);
    RESP_OK("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n");
    CHECK(P.req.chunked && !P.req.close_delimited);
    CHECK_INT(P.req.content_length, -1);
    RESP_OK("HTTP/1.1 200 OK\r\n\r\n"); /* no framing fields: not flagged */
    CHECK(!P.req.chunked && !P.req.close_delimited);
    CHECK_INT(P.req.content_length, -1);

    /* Another final coding: read to the close, not an error. */
    RESP_OK("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n");
    CHECK(P.req.close_delimited && !P.req.chunked);
    CHECK_INT(P.req.content_length, -1);
    RESP_OK("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n");
    CHECK(P.req.close_delimited && !P.req.chunked);
    RESP_OK("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: br\r\n\r\n");
    CHECK(P.req.close_delimited && !P.req.chunked);
    RESP_OK("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked, br\r\n\r\n");
    CHECK(P.req.close_delimited && !P.req.chunked);
    RESP_OK("HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n");
    CHECK(P.req.close_delimited);

    /* Refused: other codings under a final chunked, chunked twice, an
     * empty coding, and every mix with Content-Length. */
    RESP_ERR_MSG("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n", "unsupported transfer coding");
    RESP_ERR_MSG("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip, chunked\r\n\r\n",
                 "chunked applied twice");
    RESP_ERR_MSG("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip,\r\n\r\n",
                 "invalid Transfer-Encoding");
    RESP_ERR_MSG("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                 "Transfer-Encoding with Content-Length");
    RESP_ERR_MSG("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\n",
                 "Transfer-Encoding with Content-Length");
    RESP_ERR_MSG("HTTP/1.0 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
                 "Transfer-Encoding in HTTP/1.0");
    RESP_ERR_MSG("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                 "conflicting Content-Length");
    RESP_ERR_MSG("HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n", "invalid Content-Length");
    RESP_ERR_MSG("HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n", "invalid Content-Length");
    RESP_ERR_MSG("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
                 "invalid Content-Length");

    /* Connection handling. */
    RESP_OK("HTTP/1.1 200 OK\r\nConnection: Keep-Alive, close\r\n\r\n");
    CHECK(P.req.conn_close && P.req.conn_keep_alive && !P.req.upgrade);
    RESP_OK("HTTP/1.1 101 Switching\r\nUpgrade: h2c\r\n\r\n"); /* not listed */
    CHECK(!P.req.upgrade);
    RESP_OK("HTTP/1.1 101 Switching\r\nConnection: upgrade\r\n\r\n"); /* no protocol */
    CHECK(!P.req.upgrade);
    response_mode = false;
}

static void test_response_limits(void)
{
    response_mode = true;
    static char s[8192];
    size_t n = (size_t)sprintf(s, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i < H1_MAX_HEADERS; i++) n += (size_t)sprintf(s + n, "X-%d: %d\r\n", i, i);
    strcpy(s + n, "\r\n");
    RESP_OK(s);
    CHECK_INT(P.req.n_headers, H1_MAX_HEADERS);
    strcpy(s + n, "X-100: 100\r\n\r\n");
    RESP_ERR_MSG(s, "too many headers");

    /* The head limit: exactly max_head bytes fit, one more does not. */
    const char *r = "HTTP/1.1 200 OK\r\nServer: x\r\n\r\nbody";
    size_t head = strlen(r) - 4;
    CHECK_INT(parse3(r, strlen(r), head, ML, &P, __LINE__), H1_DONE);
    CHECK_INT(P.head_len, head);
    expect_err_case(r, strlen(r), head - 1, ML, 502, __LINE__);
    CHECK_STR(P.error_msg, "response head too large");
    response_mode = false;
}

static void test_response_fuzz(void)
{
    static const char *const seeds[] = {
        ("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\nConnection: keep-alive\r\n"
         "X: y\r\n\r\nhello"),
        "HTTP/1.1 101 Switching\r\nUpgrade: ws\r\nConnection: upgrade\r\n\r\n",
        "HTTP/1.0 204\nTransfer-Encoding: gzip, chunked\n\n",
    };
    response_mode = true;
    fuzz(seeds, 3, 3000);
    response_mode = false;
}

int main(void)
{
    test_simple();
    test_line_ends();
    test_methods_and_versions();
    test_targets();
    test_target_limit();
    test_head_limit();
    test_header_syntax();
    test_header_count();
    test_host();
    test_content_length();
    test_transfer_encoding();
    test_connection();
    test_expect();
    test_fuzz();
    test_chunked_splits();
    test_chunked_keep_trailers();
    test_chunked_cases();
    test_chunked_limits();
    test_chunked_large();
    test_response();
    test_response_status_line();
    test_response_splits();
    test_response_framing();
    test_response_limits();
    test_response_fuzz();
    return check_done("h1_parser");
}
