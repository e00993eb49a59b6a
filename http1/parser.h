/* Strict, incremental HTTP/1.x head parser (RFC 9112) and chunked body
 * decoder.  Pure functions over caller-owned buffers: no I/O, no
 * allocation, so they are unit-tested directly.
 *
 * Two modes, one parser:
 *  - requests (the server), after h1_parser_init(): request line, then
 *    fields; errors carry the 4xx/5xx to answer.
 *  - responses (the proxy's client), after h1_parser_init_response():
 *    status line, then fields; every error is the gateway's 502.
 * The field-line code, limits and framing checks are shared; only the
 * rules that differ by direction (Host, Expect, codings other than
 * chunked) depend on the mode.
 *
 * Incremental: the caller calls h1_parse() each time more bytes arrive,
 * passing the whole head received so far (same start, longer length).  The
 * parser remembers how far it got and looks at every byte once; fields are
 * recorded as offsets so the caller may move (realloc) the buffer between
 * calls. */
#ifndef PT_H1_PARSER_H
#define PT_H1_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define H1_MAX_HEADERS 100

enum { H1_ERROR = -1, H1_AGAIN = 0, H1_DONE = 1 };

struct h1_span {
    uint32_t off, len;
};

struct h1_header {
    struct h1_span name, value; /* value has surrounding OWS trimmed */
};

/* A parsed head: a request, or a response (status and reason instead of
 * method and target). */
struct h1_request {
    struct h1_span method;
    struct h1_span target;       /* as sent */
    int status;                  /* response: 100..999 */
    struct h1_span reason;       /* response: reason phrase, may be empty */
    int version;                 /* 10 or 11 */
    struct h1_header headers[H1_MAX_HEADERS];
    unsigned n_headers;

    /* Derived while parsing (the caller needs no second pass). */
    int64_t content_length;      /* -1 when absent */
    bool chunked;                /* Transfer-Encoding ends in chunked */
    bool close_delimited;        /* response: Transfer-Encoding ends in another
                                  * coding: the body, still so coded, runs to
                                  * the close (RFC 9112 6.3).  Not set for a
                                  * response with neither Transfer-Encoding
                                  * nor Content-Length, whose body also runs
                                  * to the close. */
    bool conn_close;             /* Connection: close */
    bool conn_keep_alive;        /* Connection: keep-alive */
    bool expect_continue;        /* Expect: 100-continue */
    bool expect_other;           /* an Expect value other than 100-continue:
                                  * the caller may answer 417 */
    bool has_host;
    struct h1_span host;         /* Host header value; only uri-host[:port]
                                  * bytes are accepted (else 400) */
    bool upgrade;                /* Connection: upgrade + Upgrade header */
    struct h1_span upgrade_proto;
};

struct h1_parser {
    /* private */
    int state;
    size_t pos;                  /* next byte to examine */
    size_t line_start;
    size_t max_head;             /* bytes; over it -> 431 */
    size_t max_target;           /* bytes; over it -> 414 */
    size_t value_end;            /* end of the current value's last non-OWS byte */
    unsigned flags;              /* H1F_* bits of derived state (h1_parser.c) */

    /* results */
    struct h1_request req;
    size_t head_len;             /* on H1_DONE: bytes of the head, incl. final CRLF */
    int error_status;            /* on H1_ERROR: 400, 414, 431, 501 or 505;
                                  * always 502 in response mode */
    const char *error_msg;       /* on H1_ERROR: static text for logs */
};

/* max_head / max_target of 0 select the defaults (16384 / 8192). */
void h1_parser_init(struct h1_parser *p, size_t max_head, size_t max_target);

/* For a response head: "HTTP/1.x SP 3DIGIT SP [reason] CRLF", status
 * 100..999.  "HTTP/1.1 200\r\n", without the space, is accepted (as curl,
 * nginx and h2o do) with an empty reason.  Then fields as for requests,
 * without the Host and Expect rules.  Framing (RFC 9112 6.3):
 *  - Transfer-Encoding ending in chunked: chunked.  Other codings before
 *    it are refused (we would be left with a coding nobody decodes).
 *  - Transfer-Encoding ending in another coding: close_delimited.
 *  - Transfer-Encoding with Content-Length: refused rather than "TE wins":
 *    a backend sending both is broken or being used to smuggle.
 * Errors have error_status 502.  No leading empty lines are skipped. */
void h1_parser_init_response(struct h1_parser *p, size_t max_head);

/* Returns H1_DONE when the head is complete, H1_AGAIN when more bytes are
 * needed, H1_ERROR with error_status/error_msg set.  Line ends are CRLF or
 * a bare LF; a bare CR is an error.  Once H1_DONE or H1_ERROR is returned,
 * later calls return the same.  Request mode only: leading empty lines
 * before the request line are skipped (RFC 9112 2.2; they count towards
 * head_len and max_head); a request line without a version ("GET /") is a
 * 400; a well-formed version other than 1.0/1.1 is a 505;
 * Transfer-Encoding other than a single final "chunked" is a 501. */
int h1_parse(struct h1_parser *p, const char *buf, size_t len);

/* Convenience for callers: pointer/length of a span. */
static inline const char *h1_str(const char *buf, struct h1_span s) { return buf + s.off; }

/* Chunked transfer-coding decoder (RFC 9112 7.1).  Decodes in place:
 * decoded data is written at the start of buf (it is never longer than its
 * encoding).  Chunk extensions are ignored; trailer fields are checked and
 * discarded, or kept when keep_trailers is set (a gateway passing them on:
 * see h1_chunked_trailer_next; release the decoder then).  Framing lines must end in CRLF (a bare LF is an error: lenient
 * chunk parsing is a request-smuggling vector).  Sizes are limited to 16 hex
 * digits and below 2^60.  Set max_line / max_trailer after init to change
 * the defaults (4096 / 16384). */
struct h1_chunked {
    int state;
    uint64_t remaining;          /* bytes left in the current chunk */
    unsigned digits;
    size_t line_len;             /* length of the current size/trailer line */
    size_t max_line;             /* limit on a size or trailer line */
    size_t trailer_bytes, max_trailer;
    const char *error_msg;
    bool keep_trailers;
    char *trailers;              /* the kept section (malloc'ed, max_trailer) */
    size_t trailers_len;
};

void h1_chunked_init(struct h1_chunked *c);
/* Frees what a decoder keeps (its trailers); it can be init'ed again. */
void h1_chunked_release(struct h1_chunked *c);

/* The kept trailer fields, one a call: *pos starts at 0; name and value
 * (without surrounding whitespace) are spans of c->trailers.  Returns
 * false after the last. */
bool h1_chunked_trailer_next(const struct h1_chunked *c, size_t *pos, struct h1_span *name,
                             struct h1_span *value);

/* Consumes up to len bytes of buf.  Returns the number of bytes consumed
 * (>= 0) or -1 on a framing error (error_msg set, the answer is 400 and the
 * connection must close).  *out_len receives the number of decoded body
 * bytes now at buf[0..*out_len).  *done is set when the last chunk and the
 * trailer section have been consumed; bytes after that are not consumed
 * (they belong to the next request). */
ssize_t h1_chunked_decode(struct h1_chunked *c, char *buf, size_t len,
                          size_t *out_len, bool *done);

#endif
