/* Path normalisation and percent-decoding. */
#include <stdlib.h>

#include "gateway/urlpath.h"
#include "tests/unit/check.h"

/* Normalises in (into an exactly-sized heap buffer so ASan sees overruns)
 * and compares with want; want NULL means the path must be rejected. */
static void norm_case(const char *in, const char *want, int line)
{
    size_t len = strlen(in);
    char *src = malloc(len ? len : 1), *out = malloc(len + 1);
    memcpy(src, in, len);
    long n = pt_path_normalize(src, len, out);
    if (!want) {
        if (n == -1) check_passed++;
        else {
            check_failed++;
            fprintf(stderr, "line %d: \"%s\" -> \"%s\", expected rejection\n", line, in, out);
        }
    } else if (n >= 0 && (size_t)n == strlen(want) && strcmp(out, want) == 0) {
        check_passed++;
    } else {
        check_failed++;
        fprintf(stderr, "line %d: \"%s\" -> %ld \"%s\", expected \"%s\"\n", line, in, n,
                n >= 0 ? out : "", want);
    }
    free(src);
    free(out);
}

#define NORM(in, want) norm_case(in, want, __LINE__)

static void test_plain(void)
{
    NORM("/", "/");
    NORM("/a", "/a");
    NORM("/a/", "/a/");
    NORM("/a/b/c", "/a/b/c");
    NORM("/index.html", "/index.html");
    NORM("/a.b/c..d/...", "/a.b/c..d/...");
    NORM("/.hidden", "/.hidden");
    NORM("/..foo", "/..foo");
    NORM("/foo..", "/foo..");
    NORM("/a?b", "/a?b");
    NORM("/caf\xc3\xa9", "/caf\xc3\xa9"); /* UTF-8 passes */
}

static void test_slashes_and_dots(void)
{
    NORM("//", "/");
    NORM("///a", "/a");
    NORM("/a//b", "/a/b");
    NORM("/a//b//", "/a/b/");
    NORM("/a/./b//c/", "/a/b/c/");
    NORM("/.", "/");
    NORM("/./", "/");
    NORM("/./a", "/a");
    NORM("/a/.", "/a/");
    NORM("/a/./", "/a/");
    NORM("/a/b/..", "/a/");
    NORM("/a/b/../", "/a/");
    NORM("/a/b/../c", "/a/c");
    NORM("/a/b/../../c", "/c");
    NORM("/a/..", "/");
    NORM("/a/../", "/");
    NORM("/a/b/c/../../..", "/");
    NORM("/a/./../b", "/b");
    NORM("/a//..", "/");
    NORM("/a/b//../c", "/a/c");
    NORM("/a/b/./.././c/.", "/a/c/");
}

static void test_traversal(void)
{
    NORM("/..", NULL);
    NORM("/../", NULL);
    NORM("/../x", NULL);
    NORM("/a/../../x", NULL);
    NORM("/a/b/../../../x", NULL);
    NORM("/./../x", NULL);
    NORM("//../x", NULL);
    NORM("/%2e%2e/etc/passwd", NULL);
    NORM("/%2E%2E/etc/passwd", NULL);
    NORM("/.%2e/x", NULL);
    NORM("/%2e./x", NULL);
    NORM("/a/%2e%2e/%2e%2e/x", NULL);
    NORM("/a/%2e%2e/b", "/b");
    NORM("/a/%2E%2e/b", "/b");
    NORM("/a/%2e/b", "/a/b");
    NORM("/a/b/%2e%2e", "/a/");
    NORM("/a/%2e%2e%2e", "/a/...");
    NORM("/a%2fb", NULL);
    NORM("/a%2Fb", NULL);
    NORM("/..%2f..%2fetc", NULL);
    NORM("/a%5c..%5cb", "/a\\..\\b"); /* backslash is an ordinary byte */
}

static void test_escapes(void)
{
    NORM("/a%20b", "/a b");
    NORM("/%41%42%43", "/ABC");
    NORM("/%7e%7E", "/~~");
    NORM("/%c3%A9", "/\xc3\xa9");
    NORM("/%25", "/%");
    NORM("/%2525", "/%25"); /* decoded once only */
    NORM("/%", NULL);
    NORM("/%4", NULL);
    NORM("/a%", NULL);
    NORM("/a%2", NULL);
    NORM("/%G1", NULL);
    NORM("/%1G", NULL);
    NORM("/%%41", NULL);
    NORM("/% 1", NULL);
    NORM("/%00", NULL);
    NORM("/a%00b", NULL);
    NORM("/%01", NULL);
    NORM("/%0a", NULL);
    NORM("/%0D", NULL);
    NORM("/%1f", NULL);
    NORM("/%7f", NULL);
    NORM("/%7F", NULL);
    NORM("/%20", "/ ");
    NORM("/%80%ff", "/\x80\xff");
}

static void test_invalid_input(void)
{
    NORM("", NULL);
    NORM("a", NULL);
    NORM("a/b", NULL);
    NORM("%2f", NULL);
    NORM("/a\tb", NULL);
    NORM("/a\nb", NULL);
    NORM("/a\rb", NULL);
    NORM("/a\x7f", NULL);
    NORM("/\x1f", NULL);

    /* A raw NUL inside the given length. */
    char out[8];
    CHECK_INT(pt_path_normalize("/a\0b", 4, out), -1);
    /* The length bounds the input: no reading past it. */
    CHECK_INT(pt_path_normalize("/ab/cd", 3, out), 3);
    CHECK_STR(out, "/ab");
    CHECK_INT(pt_path_normalize("/a%41", 4, out), -1); /* truncated escape */
}

/* Random paths over a small alphabet: the result is either -1 or canonical
 * (no "//", no "." or ".." segment) and normalising it again is a no-op. */
static void test_random(void)
{
    static const char *atoms[] = { "/", "a", ".", "..", "%2e", "%2E%2e", "b", "//", "%41" };
    unsigned seed = 12345;
    int bad = 0;
    for (int t = 0; t < 20000; t++) {
        char in[128] = "/";
        size_t n = 1;
        int k = (int)((seed = seed * 1103515245u + 12345u) >> 16) % 12;
        for (int j = 0; j < k; j++) {
            const char *a = atoms[((seed = seed * 1103515245u + 12345u) >> 16) % 9];
            size_t al = strlen(a);
            memcpy(in + n, a, al);
            n += al;
        }
        char out[128], again[129];
        long r = pt_path_normalize(in, n, out);
        if (r < 0) continue;
        if (out[0] != '/' || strstr(out, "//") || strstr(out, "/./") ||
            strstr(out, "/../") || (size_t)r > n)
            bad++;
        size_t ol = (size_t)r;
        if ((ol >= 2 && strcmp(out + ol - 2, "/.") == 0) ||
            (ol >= 3 && strcmp(out + ol - 3, "/..") == 0))
            bad++;
        long r2 = pt_path_normalize(out, ol, again);
        if (r2 != r || strcmp(out, again) != 0) bad++;
    }
    CHECK_INT(bad, 0);
}

static void dec_case(const char *in, const char *want, int line)
{
    long want_len = want ? (long)strlen(want) : -1L;
    size_t len = strlen(in);
    char *src = malloc(len ? len : 1), *out = malloc(len ? len : 1);
    memcpy(src, in, len);
    long n = pt_percent_decode(src, len, out);
    if (n == want_len && (n < 0 || memcmp(out, want, (size_t)n) == 0)) {
        check_passed++;
    } else {
        check_failed++;
        fprintf(stderr, "line %d: decode \"%s\" -> %ld\n", line, in, n);
    }
    free(src);
    free(out);
}

#define DEC(in, want) dec_case(in, want, __LINE__)

static void test_percent_decode(void)
{
    DEC("", "");
    DEC("abc", "abc");
    DEC("/a/b", "/a/b");
    DEC("a%20b", "a b");
    DEC("%2F%2f", "//");
    DEC("%2e%2E", "..");
    DEC("%41%4a%4A", "AJJ");
    DEC("%25", "%");
    DEC("%c3%a9", "\xc3\xa9");
    DEC("%0a", "\n"); /* only NUL is refused here */
    DEC("%", NULL);
    DEC("%4", NULL);
    DEC("ab%", NULL);
    DEC("%G1", NULL);
    DEC("%1g", NULL);
    DEC("%00", NULL);
    DEC("a%00", NULL);
    char out[4];
    CHECK_INT(pt_percent_decode("a\0b", 3, out), -1);
}

int main(void)
{
    test_plain();
    test_slashes_and_dots();
    test_traversal();
    test_escapes();
    test_invalid_input();
    test_random();
    test_percent_decode();
    return check_done("urlpath");
}
