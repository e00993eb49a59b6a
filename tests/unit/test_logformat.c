/* Access log formats: parsing format strings, the lines they make
 * (combined, json, custom) and JSON string escaping. */
#include <jansson.h>
#include <stdlib.h>

#include "gateway/config.h"
#include "gateway/logformat.h"
#include "gateway/request.h"
#include "tests/unit/check.h"

/* ---- parsing ------------------------------------------------------------ */

static void parse_ok(const char *spec, enum pt_logfmt_kind kind, int line)
{
    char why[200] = "";
    struct pt_logfmt *f = pt_logfmt_parse(spec, why, sizeof why);
    if (f && f->kind == kind) {
        check_passed++;
    } else {
        check_failed++;
        fprintf(stderr, "line %d: \"%s\" refused (%s)\n", line, spec, why);
    }
    pt_logfmt_free(f);
}

/* want: a part of the message. */
static void parse_bad(const char *spec, const char *want, int line)
{
    char why[200] = "";
    struct pt_logfmt *f = pt_logfmt_parse(spec, why, sizeof why);
    if (!f && strstr(why, want)) {
        check_passed++;
    } else {
        check_failed++;
        fprintf(stderr, "line %d: \"%s\": %s, message \"%s\", expected one with \"%s\"\n",
                line, spec, f ? "accepted" : "refused", why, want);
    }
    pt_logfmt_free(f);
}

#define OK(spec, kind) parse_ok(spec, kind, __LINE__)
#define BAD(spec, want) parse_bad(spec, want, __LINE__)

static void test_parse(void)
{
    OK("combined", PT_LOGFMT_COMBINED);
    OK("json", PT_LOGFMT_JSON);
    OK("%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\"", PT_LOGFMT_CUSTOM);
    OK("%D %T %v %H %m %U %q %s %B %%", PT_LOGFMT_CUSTOM);
    OK("plain text", PT_LOGFMT_CUSTOM);
    OK("Combined", PT_LOGFMT_CUSTOM); /* names are exact: text otherwise */
    BAD("", "empty");
    BAD("%h %Z", "\"%Z\" at character 4");
    BAD("%x", "\"%x\" at character 1");
    BAD("%>b", "at character 1");
    BAD("abc%", "lone '%'");
    BAD("%{Referer", "no closing '}'");
    BAD("%{Referer}o", "%{NAME}i");
    BAD("%{}i", "%{NAME}i");
    BAD("%{Bad Name}i", "%{NAME}i");
    BAD("%\x01", "unknown directive at character 1");
}

/* ---- a request to log --------------------------------------------------- */

static struct pt_vhost vhost = {.name = "example.com"};

static struct pt_hdr hdrs[] = {
    {"Referer", "http://r.example/", 7, 17},
    {"User-Agent", "agent \"x\"/1", 10, 11},
    {"X-Foo", "a\x01\xff", 5, 3},
};

static void fill(struct pt_req *r)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->peer_ip, sizeof(r->peer_ip), "192.0.2.7");
    r->peer_port = 40123;
    r->method_str = "GET";
    r->method_len = 3;
    r->version = 11;
    r->target = "/a%20b.txt?x=1&y=\"2\" HTTP/1.1"; /* not NUL-ended at its length */
    r->target_len = 20;
    r->path = "/a b.txt";
    r->path_len = 8;
    r->query = r->target + 11;
    r->query_len = 9;
    r->hdrs = hdrs;
    r->n_hdrs = 3;
    r->vhost = &vhost;
    r->status = 200;
    r->bytes_sent = 1234;
    r->start = 1000.0;
    r->remote_user = "alice";
}

static char *line_of(const char *spec, const struct pt_req *r, double now)
{
    static char out[PT_LOGFMT_LINE_MAX + 1];
    char why[200];
    struct pt_logfmt *f = pt_logfmt_parse(spec, why, sizeof why);
    if (!f) {
        fprintf(stderr, "\"%s\": %s\n", spec, why);
        return strcpy(out, "(refused)");
    }
    size_t n = pt_logfmt_line(f, r, now, out);
    out[n] = '\0';
    pt_logfmt_free(f);
    return out;
}

static void test_custom(void)
{
    struct pt_req r;
    fill(&r);
    CHECK_STR(line_of("%h %l %u \"%r\" %>s %s %b %B", &r, 1001.5),
              "192.0.2.7 - alice \"GET /a%20b.txt?x=1&y=\\\"2\\\" HTTP/1.1\" 200 200 1234 1234\n");
    CHECK_STR(line_of("%{Referer}i|%{user-agent}i|%{X-Foo}i|%{X-None}i", &r, 1001.5),
              "http://r.example/|agent \\\"x\\\"/1|a\\x01\\xff|-\n");
    CHECK_STR(line_of("%v %H %m %U %q 100%%", &r, 1001.5),
              "example.com HTTP/1.1 GET /a b.txt ?x=1&y=\\\"2\\\" 100%\n");
    CHECK_STR(line_of("%D %T", &r, 1001.5), "1500000 1\n");
    r.bytes_sent = 0;
    r.remote_user = NULL;
    r.query = NULL;
    r.version = 20;
    CHECK_STR(line_of("%b %B %u [%q] %H", &r, 1001.5), "- 0 - [] HTTP/2\n");
    r.path = NULL; /* not routed: the target's path */
    CHECK_STR(line_of("%U", &r, 1001.5), "/a%20b.txt\n");
    /* %t: Apache's bracketed date. */
    const char *t = line_of("%t", &r, 1001.5);
    CHECK(t[0] == '[' && strlen(t) == 29 && strstr(t, " +0000]\n"));
}

static void test_combined(void)
{
    struct pt_req r;
    fill(&r);
    const char *l = line_of("combined", &r, 0);
    const char *date = strchr(l, '[');
    CHECK(strncmp(l, "192.0.2.7 - alice [", 19) == 0);
    CHECK(date && strcmp(date + 27, "] \"GET /a%20b.txt?x=1&y=\\\"2\\\" HTTP/1.1\" 200 1234 "
                         "\"http://r.example/\" \"agent \\\"x\\\"/1\"\n") == 0);
    /* Refused as malformed: what was received, escaped. */
    r.method_str = NULL;
    r.target = NULL;
    r.raw_line = "GET /\x01\" HTTP/1.1";
    r.raw_line_len = strlen(r.raw_line);
    l = line_of("combined", &r, 0);
    CHECK(strstr(l, "] \"GET /\\x01\\\" HTTP/1.1\" 200 ") != NULL);
    r.raw_line = NULL; /* nothing at all: an empty request line, as before */
    l = line_of("combined", &r, 0);
    CHECK(strstr(l, "] \"\" 200 ") != NULL);
}

/* ---- json --------------------------------------------------------------- */

static void esc_case(const char *in, size_t len, size_t cap, const char *want, int line)
{
    char out[256];
    size_t n = pt_json_escape(out, cap, in, len);
    out[n] = '\0';
    if (strcmp(out, want) == 0) {
        check_passed++;
    } else {
        check_failed++;
        fprintf(stderr, "line %d: escaped to \"%s\", expected \"%s\"\n", line, out, want);
    }
}

#define ESC(in, want) esc_case(in, sizeof(in) - 1, 255, want, __LINE__)
#define ESC_CAP(in, cap, want) esc_case(in, sizeof(in) - 1, cap, want, __LINE__)

static void test_json_escape(void)
{
    ESC("plain /a?b=c", "plain /a?b=c");
    ESC("q\"b\\s/", "q\\\"b\\\\s/");
    ESC("\n\r\t", "\\n\\r\\t");
    ESC("\x01\x1f\x7f", "\\u0001\\u001f\\u007f");
    ESC("a\0b", "a\\u0000b");
    ESC("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    ESC("\xff\xfe", "\\u00ff\\u00fe");
    ESC("\xc0\xaf", "\\u00c0\\u00af");             /* overlong '/' */
    ESC("\xe0\x80\xaf", "\\u00e0\\u0080\\u00af");  /* overlong, 3 bytes */
    ESC("\xed\xa0\x80", "\\u00ed\\u00a0\\u0080");  /* a surrogate */
    ESC("\xf4\x90\x80\x80", "\\u00f4\\u0090\\u0080\\u0080"); /* past U+10FFFF */
    ESC("\xe2\x82", "\\u00e2\\u0082");             /* cut short */
    ESC("\xc3", "\\u00c3");
    ESC("\x80x", "\\u0080x");                      /* a lone continuation byte */
    ESC("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf");   /* U+10FFFF itself */
    /* Never half an escape or half a character. */
    ESC_CAP("ab\x01", 7, "ab");
    ESC_CAP("ab\x01", 8, "ab\\u0001");
    ESC_CAP("a\"", 2, "a");
    ESC_CAP("a\xc3\xa9", 2, "a");
    ESC_CAP("a\xc3\xa9", 3, "a\xc3\xa9");
}

static json_t *json_of(const struct pt_req *r, double now)
{
    const char *l = line_of("json", r, now);
    size_t n = strlen(l);
    CHECK(n > 0 && l[n - 1] == '\n' && !memchr(l, '\n', n - 1));
    json_error_t err;
    json_t *j = json_loadb(l, n, 0, &err);
    if (!j)
        fprintf(stderr, "not JSON (%s): %s\n", err.text, l);
    CHECK(j != NULL);
    return j;
}

#define JSTR(j, k) json_string_value(json_object_get(j, k))
#define JINT(j, k) json_integer_value(json_object_get(j, k))
#define JNULL(j, k) json_is_null(json_object_get(j, k))

static void test_json_line(void)
{
    struct pt_req r;
    fill(&r);
    r.tls_version = "TLSv1.3";
    r.upstream_addr = "[::1]:8080";
    r.upstream_time = 0.25;
    json_t *j = json_of(&r, 1001.5);
    if (!j)
        return;
    CHECK_INT(json_object_size(j), 17);
    const char *t = JSTR(j, "time");
    CHECK(t && strlen(t) == 29 && strcmp(t + 19, ".500+00:00") == 0);
    CHECK(t && strncmp(t, "1970-01-01T00:16:41", 19) == 0);
    CHECK_STR(JSTR(j, "vhost"), "example.com");
    CHECK_STR(JSTR(j, "peer_ip"), "192.0.2.7");
    CHECK_INT(JINT(j, "peer_port"), 40123);
    CHECK_STR(JSTR(j, "method"), "GET");
    CHECK_STR(JSTR(j, "target"), "/a%20b.txt?x=1&y=\"2\"");
    CHECK(JNULL(j, "raw_request_line"));
    CHECK_STR(JSTR(j, "protocol"), "HTTP/1.1");
    CHECK_INT(JINT(j, "status"), 200);
    CHECK_INT(JINT(j, "bytes_sent"), 1234);
    CHECK_INT(JINT(j, "request_time_us"), 1500000);
    CHECK_STR(JSTR(j, "tls"), "TLSv1.3");
    CHECK_STR(JSTR(j, "user"), "alice");
    CHECK_STR(JSTR(j, "referer"), "http://r.example/");
    CHECK_STR(JSTR(j, "user_agent"), "agent \"x\"/1");
    CHECK_STR(JSTR(j, "upstream_addr"), "[::1]:8080");
    CHECK_INT(JINT(j, "upstream_time_us"), 250000);
    json_decref(j);

    /* Absent things are null; a refused request shows what it sent. */
    r.tls_version = r.remote_user = r.upstream_addr = NULL;
    r.n_hdrs = 0;
    r.method_str = r.target = NULL;
    r.raw_line = "G\xff\"T /\x01";
    r.raw_line_len = 7;
    r.version = 10;
    r.status = 400;
    j = json_of(&r, 1000.0);
    if (!j)
        return;
    CHECK(JNULL(j, "tls") && JNULL(j, "user") && JNULL(j, "referer"));
    CHECK(JNULL(j, "user_agent") && JNULL(j, "upstream_addr"));
    CHECK(JNULL(j, "upstream_time_us") && JNULL(j, "method") && JNULL(j, "target"));
    CHECK_STR(JSTR(j, "raw_request_line"), "G\xc3\xbf\"T /\x01"); /* \u00ff read back */
    CHECK_STR(JSTR(j, "protocol"), "HTTP/1.0");
    CHECK_INT(JINT(j, "status"), 400);
    CHECK_INT(JINT(j, "request_time_us"), 0);
    json_decref(j);

    /* Huge and hostile fields still make one valid line. */
    size_t big = 100000;
    char *ua = malloc(big);
    for (size_t i = 0; i < big; i++)
        ua[i] = (char)(i % 3 == 0 ? '"' : i % 3 == 1 ? '\x01' : '\xff');
    struct pt_hdr h[2] = {{"User-Agent", ua, 10, big}, {"Referer", ua, 7, big}};
    r.hdrs = h;
    r.n_hdrs = 2;
    r.target = ua;
    r.target_len = big;
    r.method_str = ua;
    r.method_len = big;
    vhost.name = ua; /* 100 KB: only the bound stops it */
    ua[big - 1] = '\0';
    j = json_of(&r, 1000.0);
    CHECK(j && strlen(JSTR(j, "user_agent")) > 100);
    json_decref(j);
    const char *l = line_of("%{User-Agent}i %{Referer}i %r %r %r %r %r %r %r %r %r %r %r", &r,
                            1000.0);
    CHECK(strlen(l) == PT_LOGFMT_LINE_MAX && l[PT_LOGFMT_LINE_MAX - 1] == '\n');
    vhost.name = "example.com";
    free(ua);
}

int main(void)
{
    test_parse();
    test_custom();
    test_combined();
    test_json_escape();
    test_json_line();
    return check_done("logformat");
}
