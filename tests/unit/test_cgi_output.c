/* The CGI response-head parser (cgi/output.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cgi/cgi.h"
#include "tests/unit/check.h"

static struct pt_cgi_head *H;

/* Feeds s in one go (step 0) or step bytes at a time. */
static int feed(const char *s, size_t step)
{
    pt_cgi_head_init(H);
    size_t len = strlen(s), off = 0;
    int rc = PT_CGI_HEAD_AGAIN;
    if (!step)
        step = len ? len : 1;
    while (off < len && rc == PT_CGI_HEAD_AGAIN) {
        size_t n = len - off < step ? len - off : step, used;
        rc = pt_cgi_head_feed(H, s + off, n, &used);
        off += used;
    }
    return rc;
}

static const char *field(const char *name)
{
    for (unsigned i = 0; i < H->n_fields; i++)
        if (strcasecmp(pt_cgi_fname(H, i), name) == 0)
            return pt_cgi_fvalue(H, i);
    return NULL;
}

static void test_basic(void)
{
    const char *out = "Content-Type: text/plain\r\nX-A: 1\r\n\r\nhello";
    CHECK_INT(feed(out, 0), PT_CGI_HEAD_DONE);
    CHECK_INT(H->status, 0);
    CHECK_INT(H->content_length, -1);
    CHECK(!H->chunked);
    CHECK_INT(H->n_fields, 2);
    CHECK_STR(field("content-type"), "text/plain");
    CHECK_STR(field("X-A"), "1");
    CHECK_INT(H->content_type, 0);
    CHECK_INT(H->location, -1);
    CHECK_INT(H->len - H->body_off, 5);
    CHECK(memcmp(H->buf + H->body_off, "hello", 5) == 0);
    CHECK_INT(H->fields[1].value_len, 1);
    CHECK_INT(H->fields[0].name_len, 12);

    /* the same, a byte at a time, and with bare LF line ends */
    CHECK_INT(feed(out, 1), PT_CGI_HEAD_DONE);
    CHECK_STR(field("X-A"), "1");
    CHECK_INT(feed("Content-Type: a/b\nX-B: two words \n\nbody", 1), PT_CGI_HEAD_DONE);
    CHECK_STR(field("X-B"), "two words");
    CHECK_INT(H->body_off, strlen("Content-Type: a/b\nX-B: two words \n\n"));
    CHECK_INT(feed("Content-Type: a/b\n\r\nbody", 0), PT_CGI_HEAD_DONE);
    CHECK(memcmp(H->buf + H->body_off, "body", 4) == 0);

    /* more needed */
    CHECK_INT(feed("Content-Type: text/plain\r\n", 0), PT_CGI_HEAD_AGAIN);
    CHECK_INT(feed("Content-Type: text/pl", 0), PT_CGI_HEAD_AGAIN);
    /* just the blank line: a head with no fields (no Content-Type) */
    CHECK_INT(feed("\r\nraw", 0), PT_CGI_HEAD_DONE);
    CHECK_INT(H->n_fields, 0);
    CHECK_INT(H->body_off, 2);
    /* empty value and OWS around it */
    CHECK_INT(feed("X-Empty:\r\nX-Tab:\t v\t\r\n\r\n", 0), PT_CGI_HEAD_DONE);
    CHECK_STR(field("X-Empty"), "");
    CHECK_STR(field("X-Tab"), "v");
}

static void test_status(void)
{
    CHECK_INT(feed("Status: 404 Not Found\r\n\r\n", 0), PT_CGI_HEAD_DONE);
    CHECK_INT(H->status, 404);
    CHECK_INT(H->n_fields, 0); /* not passed on as a field */
    CHECK_INT(feed("status: 201\n\n", 0), PT_CGI_HEAD_DONE);
    CHECK_INT(H->status, 201);
    CHECK_INT(feed("Status: 599 x\n\n", 0), PT_CGI_HEAD_DONE);
    CHECK_INT(H->status, 599);
    const char *bad[] = {
        "Status: 42\n\n", "Status: abc\n\n", "Status: 2000\n\n", "Status: 600\n\n",
        "Status: 101 Switching\n\n", "Status: 100\n\n", "Status: 099\n\n",
        "Status:\n\n", "Status: 20x\n\n", "Status: 200\nStatus: 200\n\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_INT(feed(bad[i], 0), PT_CGI_HEAD_ERROR);
        CHECK(H->error != NULL);
    }
}

static void test_location(void)
{
    CHECK_INT(feed("Location: /other?q=1\r\n\r\n", 0), PT_CGI_HEAD_DONE);
    CHECK_INT(H->location, 0);
    CHECK_STR(pt_cgi_fvalue(H, 0), "/other?q=1");
    CHECK_INT(H->status, 0);
    CHECK_INT(feed("Status: 301\r\nLocation: https://example.com/\r\nContent-Type: text/html\r\n\r\n", 1),
              PT_CGI_HEAD_DONE);
    CHECK_INT(H->status, 301);
    CHECK_INT(H->location, 0);
    CHECK_INT(H->content_type, 1);
    CHECK_STR(field("location"), "https://example.com/");
    CHECK_INT(feed("Location: /a\nLocation: /b\n\n", 0), PT_CGI_HEAD_ERROR);
    CHECK_INT(feed("Content-Type: a/b\nContent-Type: c/d\n\n", 0), PT_CGI_HEAD_ERROR);
}

static void test_framing(void)
{
    CHECK_INT(feed("Content-Length: 12\r\n\r\n", 0), PT_CGI_HEAD_DONE);
    CHECK_INT(H->content_length, 12);
    CHECK_INT(H->n_fields, 0);
    CHECK_INT(feed("Content-Length: 0\r\nContent-Length: 0\r\n\r\n", 0), PT_CGI_HEAD_DONE);
    CHECK_INT(H->content_length, 0);
    CHECK_INT(feed("Content-Length: 1\r\nContent-Length: 2\r\n\r\n", 0), PT_CGI_HEAD_ERROR);
    CHECK_INT(feed("Content-Length: 12a\r\n\r\n", 0), PT_CGI_HEAD_ERROR);
    CHECK_INT(feed("Content-Length: -1\r\n\r\n", 0), PT_CGI_HEAD_ERROR);
    CHECK_INT(feed("Content-Length:\r\n\r\n", 0), PT_CGI_HEAD_ERROR);
    CHECK_INT(feed("Content-Length: 1234567890123456789\r\n\r\n", 0), PT_CGI_HEAD_ERROR);

    CHECK_INT(feed("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 0), PT_CGI_HEAD_DONE);
    CHECK(H->chunked);
    CHECK_INT(H->content_length, -1); /* chunked wins */
    CHECK_INT(H->n_fields, 0);
    CHECK_INT(feed("Transfer-Encoding: Chunked\r\n\r\n", 0), PT_CGI_HEAD_DONE);
    CHECK(H->chunked);
    CHECK_INT(feed("Transfer-Encoding: gzip\r\n\r\n", 0), PT_CGI_HEAD_ERROR);
    CHECK_INT(feed("Transfer-Encoding: identity\r\n\r\n", 0), PT_CGI_HEAD_DONE);
    CHECK(!H->chunked);

    /* per-connection fields, Date and Server are dropped */
    CHECK_INT(feed("Connection: close\r\nKeep-Alive: 5\r\nDate: x\r\nServer: y\r\n"
                   "Upgrade: h2c\r\nTE: trailers\r\nTrailer: X\r\nProxy-Connection: a\r\n"
                   "X-Kept: 1\r\n\r\n", 0), PT_CGI_HEAD_DONE);
    CHECK_INT(H->n_fields, 1);
    CHECK_STR(field("X-Kept"), "1");
}

static void test_malformed(void)
{
    const char *bad[] = {
        "no colon here\r\n\r\n",
        ": empty name\r\n\r\n",
        "Bad Name: x\r\n\r\n",
        "X-A: 1\r\n folded\r\n\r\n",
        "X-A: a\x01z\r\n\r\n",
        "X-A: a\rb\r\n\r\n",
        "X-(A): 1\r\n\r\n",
        "X-A: 1\r\n\tfolded\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_INT(feed(bad[i], 0), PT_CGI_HEAD_ERROR);
        CHECK(H->error != NULL);
        /* errors stick */
        CHECK_INT(pt_cgi_head_parse(H), PT_CGI_HEAD_ERROR);
    }
    /* a NUL byte inside a line */
    pt_cgi_head_init(H);
    size_t used;
    CHECK_INT(pt_cgi_head_feed(H, "X-A: a\0b\r\n\r\n", 12, &used), PT_CGI_HEAD_ERROR);
}

static void test_limits(void)
{
    /* a head that does not fit */
    char *big = malloc(PT_CGI_HEAD_MAX + 100);
    memset(big, 'a', PT_CGI_HEAD_MAX + 99);
    memcpy(big, "X-Big: ", 7);
    big[PT_CGI_HEAD_MAX + 99] = '\0';
    CHECK_INT(feed(big, 1000), PT_CGI_HEAD_ERROR);
    CHECK_STR(H->error, "header block too large");
    /* one that just fits: the line, CRLF, CRLF */
    size_t n = PT_CGI_HEAD_MAX - 4;
    memset(big, 'b', n);
    memcpy(big, "X-Big: ", 7);
    memcpy(big + n, "\r\n\r\n", 5);
    CHECK_INT(feed(big, 0), PT_CGI_HEAD_DONE);
    CHECK_INT(H->body_off, PT_CGI_HEAD_MAX);
    free(big);

    /* too many fields */
    char many[PT_CGI_HEAD_MAX];
    size_t o = 0;
    for (int i = 0; i <= PT_CGI_MAX_FIELDS; i++)
        o += (size_t)snprintf(many + o, sizeof many - o, "X-%d: v\r\n", i);
    snprintf(many + o, sizeof many - o, "\r\n");
    CHECK_INT(feed(many, 0), PT_CGI_HEAD_ERROR);
    CHECK_STR(H->error, "too many header fields");
}

static void test_eof(void)
{
    pt_cgi_head_init(H);
    CHECK_INT(pt_cgi_head_eof(H), PT_CGI_HEAD_ERROR);
    CHECK_STR(H->error, "no output");
    CHECK_INT(feed("Content-Type: text/plain\r\n", 0), PT_CGI_HEAD_AGAIN);
    CHECK_INT(pt_cgi_head_eof(H), PT_CGI_HEAD_ERROR);
    CHECK(strstr(H->error, "blank line") != NULL);
    CHECK_INT(feed("Content-Type: text/plain\r\n\r\n", 0), PT_CGI_HEAD_DONE);
    CHECK_INT(pt_cgi_head_eof(H), PT_CGI_HEAD_DONE);
    /* parsing again after DONE is harmless */
    CHECK_INT(pt_cgi_head_parse(H), PT_CGI_HEAD_DONE);
}

int main(void)
{
    H = malloc(sizeof *H);
    test_basic();
    test_status();
    test_location();
    test_framing();
    test_malformed();
    test_limits();
    test_eof();
    free(H);
    return check_done("cgi_output");
}
