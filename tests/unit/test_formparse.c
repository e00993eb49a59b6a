/* Form body parsing: both encodings, each body fed whole, cut once at
 * every position, a byte at a time, and (short bodies) cut twice at every
 * pair of positions; every way must give the same callbacks. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/formparse.h"
#include "tests/unit/check.h"

#define UE "application/x-www-form-urlencoded"
#define MP "multipart/form-data; boundary=XyZ"
#define CD "Content-Disposition: form-data; "
#define PART(name) "--XyZ\r\n" CD "name=\"" name "\"\r\n\r\n"
#define END "\r\n--XyZ--\r\n"
#define LEN(lit) (sizeof(lit) - 1)

/* What the callbacks saw, as text: "name@filename#ctype=value;" per field
 * (@ and # only when not NULL), bytes outside printable ASCII and '\' as
 * \xHH.  skel is the same without the values: an error cuts a value short
 * at a point that depends on the pieces, but not the fields. */
struct rec {
    char log[16384], skel[4096];
    size_t len, skel_len;
    bool open;               /* a field is open */
    bool dead;               /* a call failed: no callback may come now */
    int bad;                 /* callbacks out of order, or after failing */
    int ends;
};

/* Callbacks return -1: field_start for this name, field_data for a piece
 * holding '!', field_end for the nth field (1-based). */
static struct {
    const char *start;
    bool data;
    int end;
} stop;

static void put(char *buf, size_t *len, size_t cap, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char e[5] = {(char)c, 0};
        if (c < 0x20 || c >= 0x7f || c == '\\')
            snprintf(e, sizeof e, "\\x%02x", c);
        size_t el = strlen(e);
        if (*len + el < cap) {
            memcpy(buf + *len, e, el);
            *len += el;
        }
    }
}

static void both(struct rec *r, const char *s)
{
    put(r->log, &r->len, sizeof r->log, s, strlen(s));
    put(r->skel, &r->skel_len, sizeof r->skel, s, strlen(s));
}

static void mark(struct rec *r, char c)
{
    if (r->len + 1 < sizeof r->log)
        r->log[r->len++] = c;
    if (r->skel_len + 1 < sizeof r->skel)
        r->skel[r->skel_len++] = c;
}

static int on_start(void *arg, const char *name, const char *filename,
                    const char *ctype)
{
    struct rec *r = arg;
    if (r->dead || r->open)
        r->bad++;
    r->open = true;
    both(r, name);
    if (filename) {
        mark(r, '@');
        both(r, filename);
    }
    if (ctype) {
        mark(r, '#');
        both(r, ctype);
    }
    mark(r, '=');
    r->dead = stop.start && !strcmp(name, stop.start);
    return r->dead ? -1 : 0;
}

static int on_data(void *arg, const char *data, size_t len)
{
    struct rec *r = arg;
    if (r->dead || !r->open || len == 0)
        r->bad++;
    put(r->log, &r->len, sizeof r->log, data, len);
    r->dead = stop.data && memchr(data, '!', len);
    return r->dead ? -1 : 0;
}

static int on_end(void *arg)
{
    struct rec *r = arg;
    if (r->dead || !r->open)
        r->bad++;
    r->open = false;
    mark(r, ';');
    r->dead = ++r->ends == stop.end;
    return r->dead ? -1 : 0;
}

static const struct pt_form_cb cbs = {on_start, on_data, on_end};

static struct rec rec;

/* Feeds body cut at cuts[0..n) (ascending), then finishes.  Checks the
 * log (want_err NULL) or the skeleton and the error. */
static bool run(const char *ctype, const char *body, size_t len,
                const size_t *cuts, size_t n, const char *want,
                const char *want_err)
{
    const char *err = NULL;
    struct pt_form *f = pt_form_new(ctype, strlen(ctype), &cbs, &rec, &err);
    if (!f) {
        fprintf(stderr, "  pt_form_new: %s\n", err);
        return false;
    }
    memset(&rec, 0, sizeof rec);
    int rc = 0;
    size_t at = 0;
    for (size_t i = 0; i <= n; i++) {
        size_t to = i < n ? cuts[i] : len;
        int frc = pt_form_feed(f, body + at, to - at);
        if (rc < 0 && frc != -1)
            rec.bad++;       /* later calls keep returning -1 */
        if (frc < 0) {
            rc = -1;
            rec.dead = true;
        }
        at = to;
    }
    int frc = pt_form_finish(f);
    if ((rc < 0 && frc != -1) || (frc == 0 && rec.open))
        rec.bad++;
    rc = rc < 0 ? rc : frc;
    err = pt_form_error(f);
    pt_form_free(f);
    rec.log[rec.len] = rec.skel[rec.skel_len] = 0;
    bool ok = rec.bad == 0 &&
              (want_err ? rc == -1 && err && !strcmp(err, want_err) &&
                          !strcmp(rec.skel, want)
                        : rc == 0 && !err && !strcmp(rec.log, want));
    if (!ok) {
        fprintf(stderr, "  cut at");
        for (size_t i = 0; i < n && i < 8; i++)
            fprintf(stderr, " %zu", cuts[i]);
        fprintf(stderr, "%s: rc %d, err \"%s\", bad %d\n  got  \"%s\"\n"
                "  want \"%s\"\n", n > 8 ? "..." : "", rc, err ? err : "",
                rec.bad, want_err ? rec.skel : rec.log, want);
    }
    return ok;
}

static bool every_cut(const char *ctype, const char *body, size_t len,
                      const char *want, const char *want_err)
{
    for (size_t i = 0; i <= len; i++)
        if (!run(ctype, body, len, &i, 1, want, want_err))
            return false;
    return true;
}

static bool every_two_cuts(const char *ctype, const char *body, size_t len,
                           const char *want, const char *want_err)
{
    for (size_t i = 0; i <= len; i++)
        for (size_t j = i; j <= len; j++) {
            size_t c[2] = {i, j};
            if (!run(ctype, body, len, c, 2, want, want_err))
                return false;
        }
    return true;
}

static bool bytewise(const char *ctype, const char *body, size_t len,
                     const char *want, const char *want_err)
{
    size_t *c = malloc((len + 1) * sizeof *c);
    for (size_t i = 0; i < len; i++)
        c[i] = i + 1;
    bool ok = run(ctype, body, len, c, len, want, want_err);
    free(c);
    return ok;
}

/* The body, fed every way, gives want, or fails with want_err. */
static void expect_n(const char *ctype, const char *body, size_t len,
                     const char *want, const char *want_err)
{
    int failed = check_failed;
    CHECK(run(ctype, body, len, NULL, 0, want, want_err));
    CHECK(every_cut(ctype, body, len, want, want_err));
    CHECK(bytewise(ctype, body, len, want, want_err));
    if (len <= 160)
        CHECK(every_two_cuts(ctype, body, len, want, want_err));
    if (check_failed != failed)
        fprintf(stderr, "  ^ for body \"%.*s\"\n", (int)len, body);
}

#define expect(ctype, body, want) expect_n(ctype, body, LEN(body), want, NULL)
#define expect_err(ctype, body, skel, err) \
    expect_n(ctype, body, LEN(body), skel, err)

static void test_urlencoded(void)
{
    expect(UE, "a=1&b=x+y%20z&c&=v&&", "a=1;b=x y z;c=;=v;");
    expect(UE, "", "");
    expect(UE, "&&&", "");
    expect(UE, "=", "=;");
    expect(UE, "a", "a=;");
    expect(UE, "a=1&", "a=1;");
    expect(UE, "a=b=c&d==", "a=b=c;d==;");
    expect(UE, "%41%62+=%e2%82%AC%2b%26%3D", "Ab =\\xe2\\x82\\xac+&=;");
    expect(UE, "v=%00%01%FF", "v=\\x00\\x01\\xff;");
    expect(UE, "a=;b=\r\n", "a=;b=\\x0d\\x0a;");      /* ';' splits nothing */
    expect("Application/X-WWW-Form-URLEncoded ; charset=UTF-8",
           "x=1", "x=1;");
}

static void test_urlencoded_errors(void)
{
    expect_err(UE, "a=%zz", "a=", "bad % escape");
    expect_err(UE, "a=%4", "a=", "bad % escape");      /* cut off by the end */
    expect_err(UE, "a=%4&b=1", "a=", "bad % escape");  /* and by '&' */
    expect_err(UE, "a=%%41", "a=", "bad % escape");
    expect_err(UE, "x=1&a%=1", "x=;", "bad % escape");
    expect_err(UE, "%", "", "bad % escape");
    expect_err(UE, "a=1&%00=1", "a=;", "NUL in a field name");
}

static void test_urlencoded_long(void)
{
    /* A name of 256 bytes is fine, 257 is not; a long value streams. */
    static char body[6200], want[8200];
    memset(body, 'n', 256);
    strcpy(body + 256, "=v");
    memset(want, 'n', 256);
    strcpy(want + 256, "=v;");
    expect_n(UE, body, strlen(body), want, NULL);
    memset(body, 'n', 257);
    strcpy(body + 257, "=v");
    expect_n(UE, body, strlen(body), "", "field name too long");
    memset(body, 'n', 300);
    expect_n(UE, body, 300, "", "field name too long");

    size_t n = 0, w = 0;
    body[n++] = 'v';
    body[n++] = '=';
    want[w++] = 'v';
    want[w++] = '=';
    for (int i = 0; i < 2000; i++) {
        const char *in = i % 3 == 0 ? "%41" : i % 3 == 1 ? "+" : "b";
        memcpy(body + n, in, strlen(in));
        n += strlen(in);
        want[w++] = i % 3 == 0 ? 'A' : i % 3 == 1 ? ' ' : 'b';
    }
    want[w++] = ';';
    want[w] = 0;
    expect_n(UE, body, n, want, NULL);
}

static void test_multipart(void)
{
    expect(MP, PART("a") "1\r\n--XyZ\r\n"
           CD "name=\"f\"; filename=\"x.txt\"\r\n"
           "Content-Type: text/plain\r\n\r\nhello\r\n--XyZ--\r\n",
           "a=1;f@x.txt#text/plain=hello;");
    /* Preamble (with lookalikes), padding, epilogue (with a delimiter). */
    expect(MP, "preamble --XyZ\r\n\r\n--Xy\r\r\n--XyZ \t \r\n"
           CD "name=a\r\n\r\n1\r\n--XyZ--  \r\nepi\r\n--XyZ\r\nlogue",
           "a=1;");
    expect(MP, "--XyZ--", "");                  /* no parts at all */
    expect(MP, "\r\n--XyZ--\r\n", "");
    expect(MP, PART("e") END, "e=;");           /* an empty value */
    expect(MP, PART("") "v" END, "=v;");        /* an empty name */
    expect(MP, PART("a") "1\r\n--XyZ\r\n" CD "name=b\r\n\r\n2\r\n--XyZ\r\n"
           CD "name=\"c\"\r\n\r\n3" END, "a=1;b=2;c=3;");
}

static void test_multipart_headers(void)
{
    expect(MP, "--XyZ\r\ncontent-disposition:FORM-DATA;NAME=\"q\\\"x\\\\y\""
           ";filename=\"\"\r\ncontent-type:  image/png  \r\nX-Other: 1\r\n"
           "\r\nz" END, "q\"x\\x5cy@#image/png=z;");
    expect(MP, "--XyZ\r\n" CD "filename=a.bin; name=up; size=3;\r\n"
           "Content-Type: application/octet-stream\r\n\r\nabc" END,
           "up@a.bin#application/octet-stream=abc;");
    expect(MP, "--XyZ\r\n" CD "name=\"a\"; filename*=UTF-8''%e2\r\n\r\n1"
           END, "a=1;");
    expect(MP, "--XyZ\r\nContent-Type:\r\n" CD "name=\"k\"\r\n\r\n" END,
           "k#=;");
}

/* The boundary b around a value that is not a delimiter. */
static void lookalike(const char *b, const char *val, size_t vlen)
{
    char ctype[128], body[512], want[1024];
    size_t n = (size_t)snprintf(body, sizeof body,
                                "--%s\r\n" CD "name=v\r\n\r\n", b);
    memcpy(body + n, val, vlen);
    n += vlen;
    n += (size_t)snprintf(body + n, sizeof body - n, "\r\n--%s--\r\n", b);
    size_t w = 2;
    memcpy(want, "v=", 2);
    put(want, &w, sizeof want - 2, val, vlen);
    strcpy(want + w, ";");
    snprintf(ctype, sizeof ctype, "multipart/form-data; boundary=\"%s\"", b);
    expect_n(ctype, body, n, want, NULL);
}

#define LOOKALIKE(b, v) lookalike(b, v, LEN(v))

static void test_lookalikes(void)
{
    LOOKALIKE("XyZ", "\r\n--");
    LOOKALIKE("XyZ", "\r\n-");
    LOOKALIKE("XyZ", "\r\n");
    LOOKALIKE("XyZ", "\r");
    LOOKALIKE("XyZ", "x\r");                  /* CR right before the CRLF */
    LOOKALIKE("XyZ", "--XyZ");                /* no CRLF before */
    LOOKALIKE("XyZ", "--XyZ--\r--XyZ\n--XyZ");
    LOOKALIKE("XyZ", "\n--XyZ\r--XyZ");
    LOOKALIKE("XyZ", "\r\n--Xy");
    LOOKALIKE("XyZ", "\r\n--XyY\r\n--xyz");   /* case counts */
    LOOKALIKE("XyZ", "\r\r\n\r\n-\r\n--\r\n--X\r");
    LOOKALIKE("XyZ", "\0\1\xff\r\0\n\r\n-\0--XyZ\0");
    /* Boundaries whose delimiter overlaps itself. */
    LOOKALIKE("-", "\r\n--\r\n-\r\n\r\n--");
    LOOKALIKE("--", "\r\n---\r\n--\r\n---");
    LOOKALIKE("aXa", "\r\n--aX\r\n--aXb\r\n--a\r\n--aXX");
    LOOKALIKE("a b:c", "\r\n--a b\r\n--a b:");
    /* A 70-byte boundary, with its prefix in the value. */
    const char *b70 = "0123456789'()+_,-./:=?0123456789"
                      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKL";
    CHECK_INT(strlen(b70), 70);
    lookalike(b70, "\r\n--0123456789'()+_,-./:=?012", 29);
}

static void test_quoted_boundary(void)
{
    expect("multipart/form-data; charset=\"utf-8\"; BOUNDARY=\"a b:c=d?\"",
           "--a b:c=d?\r\n" CD "name=x\r\n\r\n1\r\n--a b:c=d?--",
           "x=1;");
    expect(" Multipart/Form-Data ;boundary=----WebKitFormBoundary7MA4",
           "------WebKitFormBoundary7MA4\r\n" CD "name=\"t\"\r\n\r\nhi\r\n"
           "------WebKitFormBoundary7MA4--\r\n", "t=hi;");
    /* A browser's filename with a backslash stays as sent. */
    expect("multipart/form-data; boundary=XyZ",
           "--XyZ\r\n" CD "name=\"f\"; filename=\"C:\\x.txt\"\r\n\r\n1\r\n--XyZ--",
           "f@C:\\x5cx.txt=1;");
}

static void test_multipart_errors(void)
{
    expect_err(MP, "--XyZ\r\n" CD "filename=\"x\"\r\n\r\n1" END, "",
               "part without a name");
    expect_err(MP, "--XyZ\r\nContent-Type: text/plain\r\n\r\n1" END, "",
               "part without a name");
    expect_err(MP, "--XyZ\r\n\r\n1" END, "", "part without a name");
    expect_err(MP, PART("a") "1\r\n--XyZ\r\n"
               "Content-Disposition: attachment; name=b\r\n\r\n" END,
               "a=;", "part is not form-data");
    expect_err(MP, "--XyZ\r\n" CD "name=\"a\r\n\r\n" END, "",
               "bad Content-Disposition");
    expect_err(MP, "--XyZ\r\n" CD "name=\"C:\\\"\r\n\r\n" END, "",
               "bad Content-Disposition");
    expect_err(MP, "--XyZ\r\n" CD "name=a; name=b\r\n\r\n" END, "",
               "bad Content-Disposition");
    expect_err(MP, "--XyZ\r\nContent-Disposition: form-data name=a\r\n\r\n"
               END, "", "bad Content-Disposition");
    expect_err(MP, "--XyZ\r\n" CD "name=a b\r\n\r\n" END, "",
               "bad Content-Disposition");
    expect_err(MP, "--XyZ\r\n" CD "name=a\r\ngarbage\r\n\r\n" END, "",
               "bad part header");
    expect_err(MP, "--XyZ\r\n" CD "\r\n name=a\r\n\r\n" END, "",
               "bad part header");                     /* folded */
    expect_err(MP, "--XyZ\r\n" CD "name=a\r\nX: \0\r\n\r\n" END, "",
               "bad part header");
    expect_err(MP, "--XyZ\r\n" CD "name=a\r\nX: a\rb\r\n\r\n" END, "",
               "bad part header");
    expect_err(MP, "--XyZ\r\n" CD "name=a\r\nContent-Type: a\r\n"
               "content-type: b\r\n\r\n" END, "", "bad part header");
    expect_err(MP, "--XyZ\r\n" CD "name=a\n\n" END, "",
               "part header line without CRLF");
    expect_err(MP, "--XyZx\r\n" CD "name=a\r\n\r\n" END, "",
               "bad boundary line");
    expect_err(MP, "--XyZ\n" CD "name=a\r\n\r\n" END, "",
               "bad boundary line");
    expect_err(MP, "--XyZ \tx\r\n", "", "bad boundary line");
    expect_err(MP, PART("a") "1\r\n--XyZ-x", "a=;", "bad boundary line");
    expect_err(MP, PART("a") "1\r\n--XyZ\r\r\n", "a=;", "bad boundary line");
    expect_err(MP, PART("a") "1\r\n--XyZ --\r\n", "a=;", "bad boundary line");
}

static void test_truncated(void)
{
    const char *e = "body ended before the closing boundary";
    expect_err(MP, "", "", e);
    expect_err(MP, "just a preamble\r\n", "", e);
    expect_err(MP, "--XyZ", "", e);
    expect_err(MP, "--XyZ\r\n" CD "name=a\r\n", "", e);
    expect_err(MP, PART("a") "12", "a=", e);
    expect_err(MP, PART("a") "12\r\n--Xy", "a=", e);
    expect_err(MP, PART("a") "12\r\n--XyZ", "a=;", e);
    expect_err(MP, PART("a") "12\r\n--XyZ-", "a=;", e);
    expect_err(MP, PART("a") "12\r\n--XyZ\r\n", "a=;", e);
}

static void test_header_limit(void)
{
    /* The header block, its CRLFs counted, may be 4096 bytes, no more. */
    static char body[5000];
    const char *head = "--XyZ\r\n" CD "name=a\r\nX-Pad: ";
    size_t block = strlen(head) - 7;   /* after "--XyZ\r\n" */
    size_t pad = 4096 - block - 4;     /* "\r\n\r\n" ends it */
    strcpy(body, head);
    memset(body + strlen(head), 'p', pad);
    strcpy(body + strlen(head) + pad, "\r\n\r\nv" END);
    expect_n(MP, body, strlen(body), "a=v;", NULL);
    memmove(body + strlen(head) + 1, body + strlen(head), strlen(body) -
            strlen(head) + 1);
    expect_n(MP, body, strlen(body), "", "part header block too long");

    memset(body, 0, sizeof body);
    strcpy(body, "--XyZ\r\n" CD "name=\"");
    memset(body + strlen(body), 'N', 257);
    strcat(body, "\"\r\n\r\n" END);
    expect_n(MP, body, strlen(body), "", "field name too long");
    memmove(strchr(body, 'N'), strchr(body, 'N') + 1, strlen(body));
    char want[300];
    memset(want, 'N', 256);
    strcpy(want + 256, "=;");
    expect_n(MP, body, strlen(body), want, NULL);
}

static void test_stop(void)
{
    stop.start = "b";
    expect_err(UE, "a=1&b=2&c=3", "a=;b=", "stopped by a callback");
    expect_err(MP, PART("a") "1\r\n--XyZ\r\n" CD "name=b\r\n\r\n2" END,
               "a=;b=", "stopped by a callback");
    stop.start = NULL;
    stop.data = true;
    expect_err(UE, "a=1&b=2!&c=3", "a=;b=", "stopped by a callback");
    expect_err(MP, PART("a") "1\r\n--XyZ\r\n" CD "name=b\r\n\r\n2!" END,
               "a=;b=", "stopped by a callback");
    stop.data = false;
    stop.end = 2;
    expect_err(UE, "a=1&b=2&c=3", "a=;b=;", "stopped by a callback");
    expect_err(MP, PART("a") "1\r\n--XyZ\r\n" CD "name=b\r\n\r\n2" END,
               "a=;b=;", "stopped by a callback");
    stop.end = 0;
}

/* Data goes on as it comes; only a possible delimiter start waits. */
static void test_streaming(void)
{
    const char *err = NULL;
    struct pt_form *f = pt_form_new(MP, LEN(MP), &cbs, &rec, &err);
    if (!f)
        return;
    memset(&rec, 0, sizeof rec);
    CHECK_INT(pt_form_feed(f, PART("a") "abc", LEN(PART("a") "abc")), 0);
    rec.log[rec.len] = 0;
    CHECK_STR(rec.log, "a=abc");
    CHECK_INT(pt_form_feed(f, "def\r\n--Xy", 9), 0);
    rec.log[rec.len] = 0;
    CHECK_STR(rec.log, "a=abcdef");
    CHECK_INT(pt_form_feed(f, "Q", 1), 0);
    rec.log[rec.len] = 0;
    CHECK_STR(rec.log, "a=abcdef\\x0d\\x0a--XyQ");
    CHECK_INT(pt_form_feed(f, "\r\n--XyZ--", 9), 0);
    CHECK_INT(pt_form_finish(f), 0);
    CHECK_INT(pt_form_finish(f), 0);
    CHECK_INT(pt_form_feed(f, "x", 1), -1);
    CHECK_STR(pt_form_error(f), "data after the end of the body");
    CHECK_INT(pt_form_feed(f, "", 0), -1);
    pt_form_free(f);

    f = pt_form_new(UE, LEN(UE), &cbs, &rec, &err);
    if (!f)
        return;
    memset(&rec, 0, sizeof rec);
    CHECK_INT(pt_form_feed(f, "a=12", 4), 0);
    rec.log[rec.len] = 0;
    CHECK_STR(rec.log, "a=12");
    CHECK(pt_form_error(f) == NULL);
    pt_form_free(f);
}

static const char *new_err(const char *ctype);

static void test_backslash_boundary(void)
{
    /* A backslash escapes only '"' and '\\' (browsers do not escape), so
     * "a\\:b" keeps its backslash, which no boundary may hold. */
    CHECK_STR(new_err("multipart/form-data; boundary=\"a\\:b\""),
              "multipart boundary missing or invalid");
}

static const char *new_err(const char *ctype)
{
    const char *err = NULL;
    struct pt_form *f = pt_form_new(ctype, strlen(ctype), &cbs, &rec, &err);
    if (f) {
        pt_form_free(f);
        return "(made)";
    }
    return err;
}

static void test_new(void)
{
    const char *type = "not a form body type",
               *bad = "multipart boundary missing or invalid",
               *params = "bad Content-Type parameters";
    CHECK_STR(new_err("text/plain"), type);
    CHECK_STR(new_err(""), type);
    CHECK_STR(new_err("multipart/mixed; boundary=x"), type);
    CHECK_STR(new_err("application/x-www-form-urlencodedx"), type);
    CHECK_STR(new_err("multipart/form-datax; boundary=x"), type);
    CHECK_STR(new_err("multipart/form-data"), bad);
    CHECK_STR(new_err("multipart/form-data; charset=utf-8"), bad);
    CHECK_STR(new_err("multipart/form-data; boundary=\"\""), bad);
    CHECK_STR(new_err("multipart/form-data; boundary=\"abc \""), bad);
    CHECK_STR(new_err("multipart/form-data; boundary=\"a\\\"b\""), bad);
    CHECK_STR(new_err("multipart/form-data; boundary=a!b"), bad);
    CHECK_STR(new_err("multipart/form-data; boundary=\"a\\\\b\""), bad);
    CHECK_STR(new_err("multipart/form-data; boundary="
                      "12345678901234567890123456789012345678901234567890"
                      "123456789012345678901"), bad);
    CHECK_STR(new_err("multipart/form-data; boundary="
                      "12345678901234567890123456789012345678901234567890"
                      "12345678901234567890"), "(made)");
    CHECK_STR(new_err("multipart/form-data; boundary="), params);
    CHECK_STR(new_err("multipart/form-data; boundary=\"abc"), params);
    CHECK_STR(new_err("multipart/form-data; boundary=abc; charset"), params);
    CHECK_STR(new_err("multipart/form-data boundary=abc"), params);
    CHECK_STR(new_err("multipart/form-data; boundary=a; BOUNDARY=b"),
              "multipart boundary given twice");
    CHECK_STR(new_err("multipart/form-data;; boundary = abc ;"), "(made)");
    CHECK_STR(new_err("application/x-www-form-urlencoded; charset=UTF-8"),
              "(made)");
    /* Only ctype_len bytes count. */
    const char *err = NULL;
    struct pt_form *f = pt_form_new(MP "Q", LEN(MP), &cbs, &rec, &err);
    CHECK(f != NULL);
    memset(&rec, 0, sizeof rec);
    CHECK_INT(pt_form_feed(f, PART("a") "1" END, LEN(PART("a") "1" END)), 0);
    CHECK_INT(pt_form_finish(f), 0);
    pt_form_free(f);
}

int main(void)
{
    test_backslash_boundary();
    test_urlencoded();
    test_urlencoded_errors();
    test_urlencoded_long();
    test_multipart();
    test_multipart_headers();
    test_lookalikes();
    test_quoted_boundary();
    test_multipart_errors();
    test_truncated();
    test_header_limit();
    test_stop();
    test_streaming();
    test_new();
    return check_done("formparse");
}
