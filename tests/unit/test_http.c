/* The HTTP rules shared by protocols, handlers and the proxy (gateway/http.c). */
#include <string.h>

#include "gateway/http.h"
#include "gateway/httpdate.h"
#include "gateway/pool.h"
#include "tests/unit/check.h"

static void test_fields(void)
{
    CHECK(pt_http_status_has_body(200) && pt_http_status_has_body(404));
    CHECK(!pt_http_status_has_body(100) && !pt_http_status_has_body(101));
    CHECK(!pt_http_status_has_body(204) && !pt_http_status_has_body(304));
    const char *hop[] = {"Connection", "keep-alive", "PROXY-CONNECTION",
                         "Transfer-Encoding", "upgrade", "TE", "trailer"};
    for (size_t i = 0; i < sizeof hop / sizeof hop[0]; i++)
        CHECK(pt_http_hop_by_hop(hop[i], strlen(hop[i])));
    CHECK(!pt_http_hop_by_hop("content-length", 14));
    CHECK(!pt_http_hop_by_hop("trailers", 8));
    CHECK(!pt_http_hop_by_hop("tee", 3));
    /* HTTP/2 may carry TE (trailers) and Trailer. */
    CHECK(pt_http_connection_specific("Upgrade", 7));
    CHECK(!pt_http_connection_specific("te", 2));
    CHECK(!pt_http_connection_specific("trailer", 7));
    CHECK(pt_http_name_is("Content-Type", 12, "content-type"));
    CHECK(!pt_http_name_is("Content-Typ", 11, "content-type"));

    const char *l = "keep-alive, X-Secret ,upgrade,,";
    CHECK(pt_http_list_has(l, strlen(l), "x-secret", 8));
    CHECK(pt_http_list_has(l, strlen(l), "Upgrade", 7));
    CHECK(pt_http_list_has(l, strlen(l), "keep-alive", 10));
    CHECK(!pt_http_list_has(l, strlen(l), "x-secre", 7));
    CHECK(!pt_http_list_has(l, strlen(l), "close", 5));
    CHECK(!pt_http_list_has("", 0, "close", 5));
}

static void origin(const char *in, const char *want, const char *want_auth)
{
    struct pt_pool *pool = pt_pool_new(0);
    size_t len = 0, alen = 0;
    const char *auth = NULL;
    const char *out = pt_http_origin_form(pool, in, strlen(in), &len, &auth, &alen);
    if (!want) {
        CHECK(out == NULL);
    } else {
        CHECK(out != NULL);
        if (out) {
            CHECK_INT(len, strlen(want));
            CHECK(memcmp(out, want, len) == 0);
            CHECK_INT(alen, strlen(want_auth));
            CHECK(alen == 0 || memcmp(auth, want_auth, alen) == 0);
        }
    }
    pt_pool_free(pool);
}

static void test_origin_form(void)
{
    origin("/a/b?c", "/a/b?c", "");
    origin("http://h.test/a?b", "/a?b", "h.test");
    origin("https://h.test:8443", "/", "h.test:8443");
    origin("http://h.test?q=1", "/?q=1", "h.test");
    origin("http://[::1]:80/x", "/x", "[::1]:80");
    origin("http:/h/x", NULL, NULL);
    origin("h.test/x", NULL, NULL);
}

static void test_trailers(void)
{
    static const char *const ok[] = {"grpc-status", "X-Checksum", "server-timing", "digest"};
    static const char *const no[] = {"Content-Length", "transfer-encoding", "host", ":status",
                                     "Set-Cookie", "authorization", "content-type",
                                     "cache-control", "te", "trailer", "connection", ""};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        CHECK(pt_http_trailer_allowed(ok[i], strlen(ok[i])));
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        CHECK(!pt_http_trailer_allowed(no[i], strlen(no[i])));
}

/* HTTP-dates (gateway/httpdate.c): the three forms, and dates that do not
 * exist are not read as others (fuzz_cond found "31 Feb" taken for March
 * and "-1" hours taken for the day before). */
static void test_httpdate(void)
{
    char buf[PT_HTTPDATE_LEN + 1];
    pt_httpdate_format(784111777, buf);
    CHECK_STR(buf, "Sun, 06 Nov 1994 08:49:37 GMT");
    CHECK_INT(pt_httpdate_parse(buf, PT_HTTPDATE_LEN), 784111777);
    const char *rfc850 = "Sunday, 06-Nov-94 08:49:37 GMT", *asc = "Sun Nov  6 08:49:37 1994";
    CHECK_INT(pt_httpdate_parse(rfc850, strlen(rfc850)), 784111777);
    CHECK_INT(pt_httpdate_parse(asc, strlen(asc)), 784111777);
    const char *leap = "Tue, 29 Feb 2000 00:00:00 GMT";
    CHECK_INT(pt_httpdate_parse(leap, strlen(leap)), 951782400);
    static const char *const bad[] = {
        "Sun, 31 Feb 1994 08:49:37 GMT", "Thu, 31 Apr 2021 00:00:00 GMT",
        "Mon, 29 Feb 2100 00:00:00 GMT", "Sun, 06 Nov 1994 -1:49:37 GMT",
        "Sun, 06 Nov 1994 08:-1:37 GMT", "Sun, 06 Nov 1994 08:49:-1 GMT",
        "Sun Feb 30 08:49:37 1994", "Sunday, 31-Jun-94 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 00 Nov 1994 08:49:37 GMT", "garbage",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_INT(pt_httpdate_parse(bad[i], strlen(bad[i])), -1);
}

int main(void)
{
    test_httpdate();
    test_fields();
    test_trailers();
    test_origin_form();
    return check_done("http");
}
