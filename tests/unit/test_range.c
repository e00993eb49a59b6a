/* Range header parsing, and the entity-tag helpers the conditionals use. */
#include <stdint.h>
#include <string.h>

#include "fops/fops.h"
#include "mounts/etag.h"
#include "mounts/range.h"
#include "tests/unit/check.h"

static struct pt_range v[PT_RANGE_MAX];
static unsigned nv;

static int parse(const char *hdr, uint64_t size)
{
    memset(v, 0xee, sizeof v);
    nv = 99;
    return pt_range_parse(hdr, strlen(hdr), size, v, &nv);
}

/* Expects exactly one satisfiable range [a, b]. */
static void one(const char *hdr, uint64_t size, uint64_t a, uint64_t b)
{
    CHECK_INT(parse(hdr, size), PT_RANGE_OK);
    CHECK_INT(nv, 1);
    CHECK_INT(v[0].start, a);
    CHECK_INT(v[0].end, b);
}

static void none(const char *hdr, uint64_t size)
{
    CHECK_INT(parse(hdr, size), PT_RANGE_NONE);
    CHECK_INT(nv, 0);
}

static void unsat(const char *hdr, uint64_t size)
{
    CHECK_INT(parse(hdr, size), PT_RANGE_UNSATISFIABLE);
    CHECK_INT(nv, 0);
}

static void test_single(void)
{
    one("bytes=0-499", 1000, 0, 499);
    one("bytes=500-999", 1000, 500, 999);
    one("bytes=0-0", 1000, 0, 0);
    one("bytes=999-", 1000, 999, 999);
    one("bytes=0-", 1000, 0, 999);
    one("bytes=-500", 1000, 500, 999);
    one("bytes=-1", 1000, 999, 999);
    one("bytes=-1000", 1000, 0, 999);
    one("bytes=-2000", 1000, 0, 999);        /* longer than the body: all */
    one("bytes=0-1000", 1000, 0, 999);       /* end clamps */
    one("bytes=10-99999999999999999999999", 1000, 10, 999); /* saturates */
    one("bytes=-99999999999999999999999", 1000, 0, 999);
    one("bytes=0-0", 1, 0, 0);
    one("bytes=-1", 1, 0, 0);
    one("bytes=-5", 1, 0, 0);
    one("bytes=4611686018427387904-", UINT64_C(1) << 63,
        UINT64_C(4611686018427387904), (UINT64_C(1) << 63) - 1);
    one("bytes=-10", UINT64_C(1) << 62, (UINT64_C(1) << 62) - 10,
        (UINT64_C(1) << 62) - 1);
}

static void test_unit_and_ows(void)
{
    one("BYTES=0-1", 10, 0, 1);
    one("Bytes=0-1", 10, 0, 1);
    one(" bytes=0-1", 10, 0, 1);
    one("bytes= 0-1 ", 10, 0, 1);
    one("bytes=0-1\t", 10, 0, 1);
    one("bytes=,0-1", 10, 0, 1);             /* empty list elements */
    one("bytes=0-1,", 10, 0, 1);
    one("bytes=0-1, ,", 10, 0, 1);
    none("items=0-1", 10);
    none("bytes 0-1", 10);
    none("bytes =0-1", 10);
    none("bytes:0-1", 10);
    none("bytes", 10);
    none("byte=0-1", 10);
    none("", 10);
}

static void test_invalid(void)
{
    none("bytes=", 10);
    none("bytes=,", 10);
    none("bytes= , ", 10);
    none("bytes=abc", 10);
    none("bytes=5-4", 10);                   /* last < first */
    none("bytes=1-2-3", 10);
    none("bytes=--1", 10);
    none("bytes=-", 10);
    none("bytes=+1-2", 10);
    none("bytes=1 -2", 10);
    none("bytes=1- 2", 10);
    none("bytes=0x1-2", 10);
    none("bytes=-1-", 10);
    none("bytes=1", 10);
    none("bytes=0-1,foo", 10);               /* one bad spec spoils all */
    none("bytes=0-1;2-3", 10);
    none("bytes=20-30,5-4", 10);             /* even after an unsatisfiable */
}

static void test_unsatisfiable(void)
{
    unsat("bytes=1000-", 1000);
    unsat("bytes=1000-1001", 1000);
    unsat("bytes=9500-", 1000);
    unsat("bytes=-0", 1000);
    unsat("bytes=99999999999999999999-", 1000);
    unsat("bytes=1-", 1);
    unsat("bytes=1000-,2000-3000,-0", 1000);
    /* An unsatisfiable spec among satisfiable ones is dropped. */
    one("bytes=1000-,0-1", 1000, 0, 1);
    one("bytes=-0,5-6", 1000, 5, 6);
}

static void test_empty_body(void)
{
    /* Nothing to select in an empty body: serve the (empty) 200. */
    none("bytes=0-", 0);
    none("bytes=-5", 0);
    none("bytes=0-0", 0);
    none("bytes=abc", 0);
}

static void test_multi(void)
{
    CHECK_INT(parse("bytes=0-0,-1", 1000), PT_RANGE_OK);
    CHECK_INT(nv, 2);
    CHECK_INT(v[0].start, 0);
    CHECK_INT(v[0].end, 0);
    CHECK_INT(v[1].start, 999);
    CHECK_INT(v[1].end, 999);

    /* Adjacent ranges do not overlap. */
    CHECK_INT(parse("bytes=500-600,601-999", 1000), PT_RANGE_OK);
    CHECK_INT(nv, 2);

    /* Order is kept as sent. */
    CHECK_INT(parse("bytes=10-19, 0-9", 1000), PT_RANGE_OK);
    CHECK_INT(nv, 2);
    CHECK_INT(v[0].start, 10);
    CHECK_INT(v[1].start, 0);
    CHECK_INT(v[1].end, 9);

    /* Overlaps, in any order or shape: the whole body instead. */
    none("bytes=500-700,601-999", 1000);
    none("bytes=0-0,0-0", 1000);
    none("bytes=0-,0-", 1000);
    none("bytes=-100,900-950", 1000);
    none("bytes=900-950,0-9,940-", 1000);
    none("bytes=0-9,5-5", 1000);

    /* The limit counts every spec, satisfiable or not. */
    const char *sixteen = "bytes=0-0,2-2,4-4,6-6,8-8,10-10,12-12,14-14,"
                          "16-16,18-18,20-20,22-22,24-24,26-26,28-28,30-30";
    CHECK_INT(parse(sixteen, 1000), PT_RANGE_OK);
    CHECK_INT(nv, 16);
    CHECK_INT(v[15].start, 30);
    none("bytes=0-0,2-2,4-4,6-6,8-8,10-10,12-12,14-14,"
         "16-16,18-18,20-20,22-22,24-24,26-26,28-28,30-30,32-32", 1000);
    none("bytes=0-0,2-2,4-4,6-6,8-8,10-10,12-12,14-14,"
         "16-16,18-18,20-20,22-22,24-24,26-26,28-28,30-30,5000-", 1000);
}

static void test_not_nul_terminated(void)
{
    const char buf[] = "bytes=0-1XYZ";
    CHECK_INT(pt_range_parse(buf, 9, 100, v, &nv), PT_RANGE_OK);
    CHECK_INT(nv, 1);
    CHECK_INT(v[0].end, 1);
    const char buf2[] = "bytes=5-99";
    CHECK_INT(pt_range_parse(buf2, 9, 100, v, &nv), PT_RANGE_OK);
    CHECK_INT(v[0].end, 9);
    CHECK_INT(pt_range_parse(buf2, 5, 100, v, &nv), PT_RANGE_NONE);
}

/* ---- entity tags ---- */

static void test_etag_format(void)
{
    struct pt_fstat st = {0};
    char buf[PT_ETAG_MAX];
    st.mtime = 1;
    st.mtime_nsec = 0;
    st.size = 0x10;
    st.ino = 0xab;
    CHECK_INT(pt_etag_format(&st, buf), strlen("\"3b9aca00-10-ab\""));
    CHECK_STR(buf, "\"3b9aca00-10-ab\"");

    st.mtime = 0;
    st.size = 0;
    st.ino = 0;
    pt_etag_format(&st, buf);
    CHECK_STR(buf, "\"0-0-0\"");

    /* A same-second rewrite changes the tag. */
    char a[PT_ETAG_MAX], b[PT_ETAG_MAX];
    st.mtime = 1700000000;
    st.mtime_nsec = 1;
    st.size = 5;
    st.ino = 7;
    pt_etag_format(&st, a);
    st.mtime_nsec = 2;
    pt_etag_format(&st, b);
    CHECK(strcmp(a, b) != 0);

    /* The longest tag fits. */
    st.mtime = INT64_MAX / 1000000000;
    st.mtime_nsec = 999999999;
    st.size = UINT64_MAX;
    st.ino = UINT64_MAX;
    size_t n = pt_etag_format(&st, buf);
    CHECK(n < PT_ETAG_MAX);
    CHECK_INT(strlen(buf), n);
}

static bool lm(const char *hdr, const char *etag, bool weak)
{
    return pt_etag_list_match(hdr, strlen(hdr), etag, strlen(etag), weak);
}

static void test_etag_match(void)
{
    const char *e = "\"abc-1\"";
    CHECK(lm("\"abc-1\"", e, true));
    CHECK(lm("\"abc-1\"", e, false));
    CHECK(lm("W/\"abc-1\"", e, true));
    CHECK(!lm("W/\"abc-1\"", e, false));     /* strong comparison */
    CHECK(lm("\"x\", \"abc-1\"", e, false));
    CHECK(lm("\"x\",\"abc-1\"", e, false));
    CHECK(lm("\"x\" ,\tW/\"abc-1\"", e, true));
    CHECK(lm(" \"abc-1\" ", e, true));
    CHECK(lm(", ,\"abc-1\"", e, true));
    CHECK(lm("*", e, true));
    CHECK(lm("*", e, false));
    CHECK(lm(" * ", e, true));
    CHECK(!lm("\"abc-2\"", e, true));
    CHECK(!lm("\"abc-1", e, true));          /* unterminated */
    CHECK(!lm("abc-1", e, true));            /* unquoted */
    CHECK(!lm("W/", e, true));
    CHECK(!lm("W/abc", e, true));
    CHECK(!lm("", e, true));
    CHECK(!lm("\"abc-1x\"", e, true));
    CHECK(!lm("\"abc\"", e, true));
    CHECK(!lm("*, \"x\"", e, true));         /* "*" is only valid alone */
    CHECK(!lm("w/\"abc-1\"", e, true));      /* "W/" is case-sensitive */
    /* Not NUL-terminated: only len bytes count. */
    CHECK(pt_etag_list_match("\"abc-1\"junk", 7, e, strlen(e), true));
    CHECK(!pt_etag_list_match("\"abc-1\"", 6, e, strlen(e), true));
}

int main(void)
{
    test_single();
    test_unit_and_ows();
    test_invalid();
    test_unsatisfiable();
    test_empty_body();
    test_multi();
    test_not_nul_terminated();
    test_etag_format();
    test_etag_match();
    return check_done("range");
}
