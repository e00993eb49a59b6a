/* Content types by suffix (built-in table and extra-mimetypes), and the
 * Cache-Control a mount's cache-* keys produce. */
#include <limits.h>
#include <string.h>

#include "gateway/config.h"
#include "mounts/cache.h"
#include "mounts/mime.h"
#include "tests/unit/check.h"

static const char *mime(const struct pt_kvlist *m, const char *path)
{
    return pt_mime_lookup(m, path, strlen(path));
}

static void test_builtin(void)
{
    CHECK_STR(mime(NULL, "/index.html"), "text/html; charset=utf-8");
    CHECK_STR(mime(NULL, "/a/b/INDEX.HTML"), "text/html; charset=utf-8");
    CHECK_STR(mime(NULL, "x.HtM"), "text/html; charset=utf-8");
    CHECK_STR(mime(NULL, "/s.css"), "text/css; charset=utf-8");
    CHECK_STR(mime(NULL, "/app.js"), "application/javascript; charset=utf-8");
    CHECK_STR(mime(NULL, "/app.mjs"), "application/javascript; charset=utf-8");
    CHECK_STR(mime(NULL, "/d.json"), "application/json; charset=utf-8");
    CHECK_STR(mime(NULL, "/app.js.map"), "application/json; charset=utf-8");
    CHECK_STR(mime(NULL, "/r.txt"), "text/plain; charset=utf-8");
    CHECK_STR(mime(NULL, "/r.md"), "text/markdown; charset=utf-8");
    CHECK_STR(mime(NULL, "/r.csv"), "text/csv; charset=utf-8");
    CHECK_STR(mime(NULL, "/f.xml"), "application/xml");
    CHECK_STR(mime(NULL, "/i.svg"), "image/svg+xml");
    CHECK_STR(mime(NULL, "/i.png"), "image/png");
    CHECK_STR(mime(NULL, "/i.jpg"), "image/jpeg");
    CHECK_STR(mime(NULL, "/i.JPEG"), "image/jpeg");
    CHECK_STR(mime(NULL, "/i.gif"), "image/gif");
    CHECK_STR(mime(NULL, "/i.webp"), "image/webp");
    CHECK_STR(mime(NULL, "/favicon.ico"), "image/x-icon");
    CHECK_STR(mime(NULL, "/i.avif"), "image/avif");
    CHECK_STR(mime(NULL, "/f.woff"), "font/woff");
    CHECK_STR(mime(NULL, "/f.woff2"), "font/woff2");
    CHECK_STR(mime(NULL, "/f.ttf"), "font/ttf");
    CHECK_STR(mime(NULL, "/f.otf"), "font/otf");
    CHECK_STR(mime(NULL, "/d.pdf"), "application/pdf");
    CHECK_STR(mime(NULL, "/a.zip"), "application/zip");
    CHECK_STR(mime(NULL, "/a.gz"), "application/gzip");
    CHECK_STR(mime(NULL, "/a.tar.gz"), "application/gzip");
    CHECK_STR(mime(NULL, "/a.tar"), "application/x-tar");
    CHECK_STR(mime(NULL, "/m.wasm"), "application/wasm");
    CHECK_STR(mime(NULL, "/v.mp4"), "video/mp4");
    CHECK_STR(mime(NULL, "/v.webm"), "video/webm");
    CHECK_STR(mime(NULL, "/a.mp3"), "audio/mpeg");
    CHECK_STR(mime(NULL, "/a.ogg"), "audio/ogg");
    CHECK_STR(mime(NULL, "/a.wav"), "audio/wav");
    CHECK_STR(mime(NULL, "/site.webmanifest"), "application/manifest+json");
    CHECK_STR(mime(NULL, "/x.7z"), "application/x-7z-compressed");

    /* Every table entry is reachable: a mis-sorted table would lose some
     * to the binary search. */
    static const char *const all[] = {
        "7z", "aac", "apng", "atom", "avif", "bin", "bmp", "bz2", "css",
        "csv", "eot", "epub", "flac", "gif", "gz", "htm", "html", "ico",
        "ics", "jpeg", "jpg", "js", "json", "jsonld", "m4a", "m4v", "map",
        "md", "mjs", "mov", "mp3", "mp4", "mpeg", "mpg", "oga", "ogg", "ogv",
        "opus", "otf", "pdf", "png", "rss", "rtf", "svg", "tar", "tgz",
        "tif", "tiff", "ttf", "txt", "vtt", "wasm", "wav", "weba", "webm",
        "webmanifest", "webp", "woff", "woff2", "xhtml", "xml", "xz", "yaml",
        "yml", "zip", "zst",
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        char path[64];
        snprintf(path, sizeof path, "/dir/file.%s", all[i]);
        const char *t = mime(NULL, path);
        CHECK(t != NULL && *t != '\0');
        if (!t)
            fprintf(stderr, "  missing: %s\n", all[i]);
    }
}

static void test_no_match(void)
{
    CHECK(mime(NULL, "/README") == NULL);
    CHECK(mime(NULL, "/dir.html/README") == NULL); /* only the last segment */
    CHECK(mime(NULL, "/.profile") == NULL);        /* a leading dot is no suffix */
    CHECK(mime(NULL, "/.html") == NULL);
    CHECK(mime(NULL, "/x.") == NULL);
    CHECK(mime(NULL, "/x.unknownext") == NULL);
    CHECK(mime(NULL, "/x.htmlx") == NULL);
    CHECK(mime(NULL, "/x.averyveryverylongextension") == NULL);
    CHECK(mime(NULL, "") == NULL);
    CHECK(mime(NULL, "/") == NULL);
    CHECK(mime(NULL, "html") == NULL);
    CHECK(mime(NULL, "/a/") == NULL);
    /* Only len bytes count. */
    CHECK(pt_mime_lookup(NULL, "/a.css.zzz", 6) != NULL);
    CHECK(pt_mime_lookup(NULL, "/a.css", 5) == NULL);
}

static void test_extra(void)
{
    struct pt_kv kv[] = {
        { "*", "" },
        { ".foo", "application/x-foo" },
        { "bar", "application/x-bar" },
        { ".tar.gz", "application/x-tgz" },
        { ".HTML", "text/x-override" },
        { "*", "application/ignored-second-star" },
    };
    struct pt_kvlist m;
    m.v = kv;
    m.n = sizeof kv / sizeof kv[0];

    CHECK_STR(mime(&m, "/a.foo"), "application/x-foo");
    CHECK_STR(mime(&m, "/a.FOO"), "application/x-foo");
    CHECK_STR(mime(&m, "/a.bar"), "application/x-bar");   /* "bar" = ".bar" */
    CHECK_STR(mime(&m, "/a.tar.gz"), "application/x-tgz");
    CHECK_STR(mime(&m, "/a.gz"), "application/gzip");     /* built-in */
    CHECK_STR(mime(&m, "/index.html"), "text/x-override"); /* extras first */
    CHECK_STR(mime(&m, "/s.css"), "text/css; charset=utf-8");
    /* "*": anything else is served, without a type. */
    CHECK_STR(mime(&m, "/README"), "");
    CHECK_STR(mime(&m, "/x.unknownext"), "");
    CHECK_STR(mime(&m, "/foobar"), "");                   /* no ".bar" here */
    CHECK_STR(mime(&m, "/.foo"), "");                     /* nothing before */
    CHECK_STR(mime(&m, "/bar"), "");

    /* Without "*", unknown files are refused. */
    m.v = kv + 1;
    m.n = 4;
    CHECK(mime(&m, "/README") == NULL);
    CHECK(mime(&m, "/x.unknownext") == NULL);
    CHECK_STR(mime(&m, "/a.foo"), "application/x-foo");

    /* A "*" with a real type. */
    struct pt_kv star[] = { { "*", "application/octet-stream" } };
    m.v = star;
    m.n = 1;
    CHECK_STR(mime(&m, "/blob"), "application/octet-stream");
    CHECK_STR(mime(&m, "/a.png"), "image/png");
}

/* ---- Cache-Control ---- */

static const char *cc(bool set, int max_age, bool reuse, bool reval,
                      bool inter, bool no)
{
    static char buf[PT_CACHE_CONTROL_MAX];
    struct pt_cache_opts o = {
        .max_age = max_age, .reuse = reuse, .revalidate = reval,
        .intermediaries = inter, .no = no,
    };
    size_t n = pt_cache_control(&o, set, buf, sizeof buf);
    CHECK_INT(n, strlen(buf));
    return buf;
}

static void test_cache_control(void)
{
    CHECK_STR(cc(false, 0, false, false, false, false), "no-store");
    CHECK_STR(cc(true, 60, true, false, false, false), "private, max-age=60");
    CHECK_STR(cc(true, 60, true, false, true, false), "public, max-age=60");
    CHECK_STR(cc(true, 60, true, true, false, false),
              "must-revalidate, private, max-age=60");
    CHECK_STR(cc(true, 60, true, true, true, false),
              "must-revalidate, public, max-age=60");
    CHECK_STR(cc(true, INT_MAX, true, true, true, false),
              "must-revalidate, public, max-age=2147483647");
    /* Not reusable, or no age: lws sends "no-store". */
    CHECK_STR(cc(true, 60, false, true, true, false), "no-store");
    CHECK_STR(cc(true, 0, true, true, true, false), "no-store");
    CHECK_STR(cc(true, -5, true, false, false, false), "no-store");
    /* cache-no: always check with the server. */
    CHECK_STR(cc(true, 60, true, false, false, true), "no-cache");
    CHECK_STR(cc(true, 0, false, false, false, true), "no-cache");

    /* A short buffer is never overrun and never holds a partial value. */
    char small[8];
    struct pt_cache_opts o = { .max_age = 60, .reuse = true };
    CHECK_INT(pt_cache_control(&o, true, small, sizeof small), 0);
    CHECK_STR(small, "");
}

int main(void)
{
    test_builtin();
    test_no_match();
    test_extra();
    test_cache_control();
    return check_done("mime");
}
