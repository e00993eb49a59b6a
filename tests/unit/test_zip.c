/* Zip archives: the central directory parser on crafted good and bad
 * archives (plus a deterministic mutation run), Accept-Encoding, the gzip
 * view, the zip file ops with their index cache, and the file:// handler
 * serving members stored, as gzip and inflated, on a throwaway tree. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "fops/fcache.h"
#include "fops/fops.h"
#include "fops/zip_index.h"
#include "gateway/config.h"
#include "gateway/diag.h"
#include "gateway/pool.h"
#include "gateway/request.h"
#include "mounts/coding.h"
#include "gateway/handler.h"
#include "gateway/worker.h"
#include "main/builtin.h"
#include "mounts/mounts.h"
#include "tests/unit/check.h"
#include "tests/unit/testutil.h"

/* ---- a small zip writer ---- */

struct zw {
    unsigned char *b;
    size_t len, cap;
    unsigned char cd[1 << 18];
    size_t cd_len;
    unsigned n;
    size_t lho[4096], cen[4096]; /* local header / central record offsets */
    size_t cd_off, eocd;       /* after zw_end() */
};

static void zw_put(struct zw *z, const void *p, size_t n)
{
    if (z->len + n > z->cap || !z->b) {
        z->cap = (z->len + n) * 2 + 1024;
        z->b = realloc(z->b, z->cap);
    }
    memcpy(z->b + z->len, p, n);
    z->len += n;
}

static void le16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void le32(unsigned char *p, uint32_t v)
{
    le16(p, v & 0xffff);
    le16(p + 2, v >> 16);
}

static size_t deflate_raw(const void *in, size_t len, unsigned char **out)
{
    z_stream s;
    memset(&s, 0, sizeof s);
    deflateInit2(&s, 9, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    size_t cap = deflateBound(&s, len) + 16;
    *out = malloc(cap);
    s.next_in = (unsigned char *)in;
    s.avail_in = (uInt)len;
    s.next_out = *out;
    s.avail_out = (uInt)cap;
    deflate(&s, Z_FINISH);
    size_t n = cap - s.avail_out;
    deflateEnd(&s);
    return n;
}

/* 2021-03-04 05:06:08 as DOS date and time. */
#define DOS_DATE ((41 << 9) | (3 << 5) | 4)
#define DOS_TIME ((5 << 11) | (6 << 5) | 4)
#define DOS_EPOCH 1614834368

static void zw_add(struct zw *z, const char *name, size_t nlen, const void *data,
                   size_t len, int method, unsigned flags)
{
    unsigned char h[46], *comp = NULL;
    const unsigned char *body = data;
    size_t clen = len;
    uint32_t crc = (uint32_t)crc32(0, data, (uInt)len);
    if (method == 8) {
        clen = deflate_raw(data, len, &comp);
        body = comp;
    }
    z->lho[z->n] = z->len;
    memset(h, 0, sizeof h);
    le32(h, 0x04034b50);
    le16(h + 4, 20);
    le16(h + 6, flags);
    le16(h + 8, (unsigned)method);
    le16(h + 10, DOS_TIME);
    le16(h + 12, DOS_DATE);
    le32(h + 14, crc);
    le32(h + 18, (uint32_t)clen);
    le32(h + 22, (uint32_t)len);
    le16(h + 26, (unsigned)nlen);
    zw_put(z, h, 30);
    zw_put(z, name, nlen);
    zw_put(z, body, clen);
    free(comp);

    unsigned char *c = z->cd + z->cd_len;
    memset(c, 0, 46);
    le32(c, 0x02014b50);
    le16(c + 4, 20);
    le16(c + 6, 20);
    le16(c + 8, flags);
    le16(c + 10, (unsigned)method);
    le16(c + 12, DOS_TIME);
    le16(c + 14, DOS_DATE);
    le32(c + 16, crc);
    le32(c + 20, (uint32_t)clen);
    le32(c + 24, (uint32_t)len);
    le16(c + 28, (unsigned)nlen);
    le32(c + 42, (uint32_t)z->lho[z->n]);
    memcpy(c + 46, name, nlen);
    z->cen[z->n++] = z->cd_len;
    z->cd_len += 46 + nlen;
}

static void zw_file(struct zw *z, const char *name, const char *data, int method)
{
    zw_add(z, name, strlen(name), data, strlen(data), method, 0);
}

static void zw_end(struct zw *z)
{
    unsigned char e[22];
    z->cd_off = z->len;
    for (unsigned i = 0; i < z->n; i++)
        z->cen[i] += z->cd_off;
    zw_put(z, z->cd, z->cd_len);
    z->eocd = z->len;
    memset(e, 0, sizeof e);
    le32(e, 0x06054b50);
    le16(e + 8, z->n);
    le16(e + 10, z->n);
    le32(e + 12, (uint32_t)z->cd_len);
    le32(e + 16, (uint32_t)z->cd_off);
    zw_put(z, e, sizeof e);
}

static void zw_free(struct zw *z)
{
    free(z->b);
    free(z);
}

static struct zw *zw_new(void)
{
    return calloc(1, sizeof(struct zw));
}

/* ---- the parser ---- */

static const struct pt_zip_entry *look(const struct pt_zip_index *idx, const char *name)
{
    return pt_zip_lookup(idx, name, strlen(name));
}

static char big[100000];

static struct zw *good_archive(void)
{
    struct zw *z = zw_new();
    zw_file(z, "index.html", "<h1>hi</h1>", 0);
    zw_file(z, "docs/", "", 0);
    zw_file(z, "docs/a.txt", "stored text", 0);
    zw_add(z, "docs/deep/er/big.txt", 20, big, sizeof big, 8, 0);
    zw_file(z, "empty.txt", "", 8);
    return z;
}

static void test_names(void)
{
    CHECK(pt_zip_name_safe("a", 1));
    CHECK(pt_zip_name_safe("a/b.txt", 7));
    CHECK(pt_zip_name_safe("a/", 2));
    CHECK(pt_zip_name_safe("..a/b..", 7));
    CHECK(pt_zip_name_safe(".hidden", 7));
    CHECK(!pt_zip_name_safe("", 0));
    CHECK(!pt_zip_name_safe("/", 1));
    CHECK(!pt_zip_name_safe("/etc/passwd", 11));
    CHECK(!pt_zip_name_safe("../x", 4));
    CHECK(!pt_zip_name_safe("a/../../x", 9));
    CHECK(!pt_zip_name_safe("a/..", 4));
    CHECK(!pt_zip_name_safe("..", 2));
    CHECK(!pt_zip_name_safe("./a", 3));
    CHECK(!pt_zip_name_safe("a/./b", 5));
    CHECK(!pt_zip_name_safe("a//b", 4));
    CHECK(!pt_zip_name_safe("a//", 3));
    CHECK(!pt_zip_name_safe("a\0b", 3));
    CHECK(!pt_zip_name_safe("a\\..\\b", 6));
    static char longname[PT_ZIP_NAME_MAX + 2];
    memset(longname, 'x', sizeof longname);
    CHECK(pt_zip_name_safe(longname, PT_ZIP_NAME_MAX));
    CHECK(!pt_zip_name_safe(longname, PT_ZIP_NAME_MAX + 1));

    CHECK_INT(pt_zip_dos_time(DOS_DATE, DOS_TIME), DOS_EPOCH);
    CHECK_INT(pt_zip_dos_time((0 << 9) | (1 << 5) | 1, 0), 315532800); /* 1980-01-01 */
    CHECK_INT(pt_zip_dos_time(0, 0), 315532800);   /* month/day 0: clamped */
    CHECK_INT(pt_zip_dos_time((44 << 9) | (2 << 5) | 29, (23 << 11) | (59 << 5) | 29),
              1709251198);                           /* 2024-02-29 23:59:58 */
}

static void test_parse_good(void)
{
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = "abcdefgh\n"[i % 9] + (char)(i / 1000 % 3);
    struct zw *z = good_archive();
    zw_end(z);
    struct pt_zip_index *idx;
    CHECK_INT(pt_zip_index_build_mem(z->b, z->len, &idx), 0);
    CHECK_INT(idx->n_unsafe, 0);
    CHECK_INT(idx->n_bad, 0);
    CHECK_INT(idx->n, 5); /* implied "docs/deep", "docs/deep/er" have no entry */

    const struct pt_zip_entry *e = look(idx, "index.html");
    CHECK(e && !e->is_dir && e->method == 0 && e->usize == 11 && e->csize == 11);
    CHECK(e && memcmp(z->b + e->data_off, "<h1>hi</h1>", 11) == 0);
    CHECK(e && e->mtime == DOS_EPOCH);
    CHECK(e && e->crc == (uint32_t)crc32(0, (const unsigned char *)"<h1>hi</h1>", 11));
    e = look(idx, "docs");
    CHECK(e && e->is_dir && e->mtime == DOS_EPOCH);
    CHECK(look(idx, "docs/") == e);
    CHECK(look(idx, "docs/deep") == NULL);
    e = look(idx, "docs/deep/er/big.txt");
    CHECK(e && pt_zip_implied(idx, "docs/deep", 9) == e);
    CHECK(e && pt_zip_implied(idx, "docs/deep/er", 12) == e);
    CHECK(pt_zip_implied(idx, "docs/dee", 8) == NULL);
    CHECK(pt_zip_implied(idx, "docs/deep/e", 11) == NULL);
    CHECK(pt_zip_implied(idx, "docs/deep/er/big.txt", 20) == NULL);
    CHECK(pt_zip_implied(idx, "index.html", 10) == NULL);
    CHECK(e && e->method == 8 && e->usize == sizeof big && e->csize < sizeof big);
    if (e) {
        /* The recorded bytes inflate to the original. */
        unsigned char *out = malloc(sizeof big);
        z_stream s;
        memset(&s, 0, sizeof s);
        inflateInit2(&s, -MAX_WBITS);
        s.next_in = z->b + e->data_off;
        s.avail_in = e->csize;
        s.next_out = out;
        s.avail_out = sizeof big;
        CHECK_INT(inflate(&s, Z_FINISH), Z_STREAM_END);
        CHECK(memcmp(out, big, sizeof big) == 0);
        inflateEnd(&s);
        free(out);
    }
    CHECK(look(idx, "empty.txt") && look(idx, "empty.txt")->usize == 0);
    CHECK(look(idx, "") == NULL);
    CHECK(look(idx, "nope") == NULL);
    CHECK(look(idx, "docs/a.txt/") != NULL); /* the caller checks is_dir */
    CHECK(look(idx, "Index.html") == NULL);   /* names are case-sensitive */
    CHECK(look(idx, "docs/deep/er/big") == NULL);
    pt_zip_index_free(idx);

    /* An archive comment, and an empty archive. */
    unsigned char *b = malloc(z->len + 100);
    memcpy(b, z->b, z->len);
    memcpy(b + z->len, "PK\5\6 a comment with a fake signature", 37);
    le16(b + z->len - 2, 37);
    CHECK_INT(pt_zip_index_build_mem(b, z->len + 37, &idx), 0);
    CHECK(idx && idx->n == 5);
    pt_zip_index_free(idx);
    free(b);
    zw_free(z);

    z = zw_new();
    zw_end(z);
    CHECK_INT(pt_zip_index_build_mem(z->b, z->len, &idx), 0);
    CHECK(idx && idx->n == 0 && look(idx, "a") == NULL);
    pt_zip_index_free(idx);
    zw_free(z);

    /* Thousands of members, in nested directories. */
    z = zw_new();
    for (int i = 0; i < 3000; i++) {
        char name[64], data[32];
        snprintf(name, sizeof name, "d%d/e%d/f%d.txt", i % 7, i % 13, i);
        snprintf(data, sizeof data, "member %d", i);
        zw_file(z, name, data, i % 2 ? 8 : 0);
    }
    zw_end(z);
    CHECK_INT(pt_zip_index_build_mem(z->b, z->len, &idx), 0);
    if (idx) {
        CHECK_INT(idx->n, 3000);
        for (int i = 0; i < 3000; i += 97) {
            char name[64];
            snprintf(name, sizeof name, "d%d/e%d/f%d.txt", i % 7, i % 13, i);
            CHECK(look(idx, name) != NULL);
        }
        CHECK(look(idx, "d3/e5") == NULL && pt_zip_implied(idx, "d3/e5", 5));
        CHECK(pt_zip_implied(idx, "d3", 2) && !pt_zip_implied(idx, "d7", 2));
        pt_zip_index_free(idx);
    }
    zw_free(z);
}

/* Builds the good archive, lets patch() damage it, parses it. */
static int parse_patched(void (*patch)(struct zw *z), struct pt_zip_index **idx)
{
    struct zw *z = good_archive();
    zw_end(z);
    patch(z);
    int rc = pt_zip_index_build_mem(z->b, z->len, idx);
    zw_free(z);
    return rc;
}

static void p_trunc_eocd(struct zw *z) { z->len -= 5; }
static void p_no_eocd(struct zw *z) { z->b[z->eocd] = 'X'; }
static void p_cd_off_big(struct zw *z) { le32(z->b + z->eocd + 16, (uint32_t)z->len); }
static void p_cd_size_big(struct zw *z) { le32(z->b + z->eocd + 12, 1u << 30); }
static void p_count_more(struct zw *z) { le16(z->b + z->eocd + 10, 6); le16(z->b + z->eocd + 8, 6); }
static void p_count_less(struct zw *z) { le16(z->b + z->eocd + 10, 4); le16(z->b + z->eocd + 8, 4); }
static void p_zip64_eocd(struct zw *z) { le32(z->b + z->eocd + 16, 0xffffffffu); }
static void p_multidisk(struct zw *z) { le16(z->b + z->eocd + 4, 1); }
static void p_cen_sig(struct zw *z) { z->b[z->cen[2]] = 'Q'; }
static void p_cen_namelen(struct zw *z) { le16(z->b + z->cen[4] + 28, 0xffff); }

static void test_parse_bad_archives(void)
{
    struct pt_zip_index *idx = NULL;
    CHECK_INT(pt_zip_index_build_mem("", 0, &idx), -EBADMSG);
    CHECK(idx == NULL);
    CHECK_INT(pt_zip_index_build_mem("PK\5\6", 4, &idx), -EBADMSG);
    CHECK_INT(parse_patched(p_trunc_eocd, &idx), -EBADMSG);
    CHECK_INT(parse_patched(p_no_eocd, &idx), -EBADMSG);
    CHECK_INT(parse_patched(p_cd_off_big, &idx), -EBADMSG);
    CHECK_INT(parse_patched(p_cd_size_big, &idx), -EBADMSG);
    CHECK_INT(parse_patched(p_count_more, &idx), -EBADMSG);
    CHECK_INT(parse_patched(p_count_less, &idx), -EBADMSG);
    CHECK_INT(parse_patched(p_zip64_eocd, &idx), -ENOTSUP);
    CHECK_INT(parse_patched(p_multidisk, &idx), -ENOTSUP);
    CHECK_INT(parse_patched(p_cen_sig, &idx), -EBADMSG);
    CHECK_INT(parse_patched(p_cen_namelen, &idx), -EBADMSG);

    /* Every truncation of a good archive: an error, never a crash. */
    struct zw *z = good_archive();
    zw_end(z);
    for (size_t n = 0; n < z->len; n++) {
        int rc = pt_zip_index_build_mem(z->b, n, &idx);
        CHECK(rc == -EBADMSG);
        if (rc == 0)
            pt_zip_index_free(idx);
    }
    /* The archive after a prefix (self-extractor stub): every offset is
     * off by the prefix, and offsets are never guessed. */
    unsigned char *b = malloc(z->len + 100);
    memset(b, 'S', 100);
    memcpy(b + 100, z->b, z->len);
    CHECK_INT(pt_zip_index_build_mem(b, z->len + 100, &idx), -EBADMSG);
    free(b);
    zw_free(z);
}

/* A member-level fault: the archive parses, the member carries err. */
static int member_err(void (*patch)(struct zw *z), const char *name)
{
    struct pt_zip_index *idx;
    if (parse_patched(patch, &idx) != 0)
        return -1;
    const struct pt_zip_entry *e = look(idx, name);
    int err = e ? e->err : -2;
    pt_zip_index_free(idx);
    return err;
}

static void m_lho_out(struct zw *z) { le32(z->b + z->cen[2] + 42, (uint32_t)z->cd_off + 10); }
static void m_lho_into_prev(struct zw *z) { le32(z->b + z->cen[2] + 42, (uint32_t)z->lho[1] + 1); }
static void m_same_lho(struct zw *z) { le32(z->b + z->cen[2] + 42, (uint32_t)z->lho[0]); }
static void m_csize_big(struct zw *z) { le32(z->b + z->cen[2] + 20, 1000); le32(z->b + z->cen[2] + 24, 1000); }
static void m_zip64(struct zw *z) { le32(z->b + z->cen[2] + 20, 0xffffffffu); }
static void m_encrypted(struct zw *z) { le16(z->b + z->cen[2] + 8, 1); }
static void m_method(struct zw *z) { le16(z->b + z->cen[2] + 10, 12); le16(z->b + z->lho[2] + 8, 12); }
static void m_stored_size(struct zw *z) { le32(z->b + z->cen[2] + 24, 5); }
static void m_local_name(struct zw *z) { z->b[z->lho[2] + 30] ^= 1; }
static void m_local_sig(struct zw *z) { z->b[z->lho[2]] = 0; }
static void m_local_method(struct zw *z) { le16(z->b + z->lho[2] + 8, 8); }
static void m_local_extra(struct zw *z) { le16(z->b + z->lho[2] + 28, 0x8000); }
static void m_dup(struct zw *z) { memcpy(z->b + z->cen[0] + 46, "docs/a.txt", 10); }
static void m_unsafe(struct zw *z) { memcpy(z->b + z->cen[2] + 46, "../a.txt!x", 10); }
static void m_abs(struct zw *z) { memcpy(z->b + z->cen[2] + 46, "/ocs/a.txt", 10); }
static void m_nul(struct zw *z) { z->b[z->cen[2] + 46 + 4] = '\0'; }

static void test_parse_bad_members(void)
{
    CHECK_INT(member_err(m_lho_out, "docs/a.txt"), PT_ZIP_E_BOUNDS);
    CHECK_INT(member_err(m_lho_into_prev, "docs/a.txt"), PT_ZIP_E_LOCAL);
    CHECK_INT(member_err(m_same_lho, "docs/a.txt"), PT_ZIP_E_OVERLAP);
    CHECK_INT(member_err(m_same_lho, "index.html"), PT_ZIP_E_OVERLAP);
    CHECK_INT(member_err(m_csize_big, "docs/a.txt"), PT_ZIP_E_BOUNDS);
    CHECK_INT(member_err(m_zip64, "docs/a.txt"), PT_ZIP_E_ZIP64);
    CHECK_INT(member_err(m_encrypted, "docs/a.txt"), PT_ZIP_E_ENCRYPTED);
    CHECK_INT(member_err(m_method, "docs/a.txt"), PT_ZIP_E_METHOD);
    CHECK_INT(member_err(m_stored_size, "docs/a.txt"), PT_ZIP_E_SIZE);
    CHECK_INT(member_err(m_local_name, "docs/a.txt"), PT_ZIP_E_LOCAL);
    CHECK_INT(member_err(m_local_sig, "docs/a.txt"), PT_ZIP_E_LOCAL);
    CHECK_INT(member_err(m_local_method, "docs/a.txt"), PT_ZIP_E_LOCAL);
    CHECK_INT(member_err(m_local_extra, "docs/a.txt"), PT_ZIP_E_BOUNDS);
    CHECK_INT(member_err(m_dup, "docs/a.txt"), PT_ZIP_E_DUP);
    /* The neighbours are unaffected. */
    CHECK_INT(member_err(m_csize_big, "index.html"), PT_ZIP_OK);
    CHECK_INT(member_err(m_encrypted, "docs/deep/er/big.txt"), PT_ZIP_OK);
    /* Unsafe names are not in the index at all. */
    CHECK_INT(member_err(m_unsafe, "../a.txt!x"), -2);
    CHECK_INT(member_err(m_abs, "/ocs/a.txt"), -2);
    CHECK_INT(member_err(m_abs, "ocs/a.txt"), -2);
    CHECK_INT(member_err(m_nul, "docs"), PT_ZIP_OK); /* the dir entry */
    struct pt_zip_index *idx;
    CHECK_INT(parse_patched(m_nul, &idx), 0);
    CHECK_INT(idx->n_unsafe, 1);
    pt_zip_index_free(idx);
}

/* Random damage: whatever the parser accepts must be self-consistent. */
static void test_parse_mutations(void)
{
    struct zw *z = good_archive();
    zw_end(z);
    unsigned char *b = malloc(z->len);
    uint64_t seed = 88172645463325252ull;
    unsigned accepted = 0, bad_invariant = 0;
    for (int round = 0; round < 20000; round++) {
        memcpy(b, z->b, z->len);
        int flips = 1 + round % 4;
        for (int k = 0; k < flips; k++) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            /* Aim at headers mostly: the big member's data is dull. */
            size_t at = seed % 3 ? z->cd_off + (seed >> 20) % (z->len - z->cd_off)
                                 : (seed >> 20) % z->len;
            b[at] = (unsigned char)(seed >> 40);
        }
        struct pt_zip_index *idx;
        if (pt_zip_index_build_mem(b, z->len, &idx) != 0)
            continue;
        accepted++;
        for (uint32_t i = 0; i < idx->n; i++) {
            const struct pt_zip_entry *e = &idx->e[i];
            if (e->err || e->is_dir)
                continue;
            if (e->data_off + e->csize > z->len)
                bad_invariant++;
            /* No two servable members share a byte. */
            for (uint32_t j = i + 1; j < idx->n; j++) {
                const struct pt_zip_entry *f = &idx->e[j];
                if (f->err || f->is_dir || !f->csize || !e->csize)
                    continue;
                if (e->data_off < f->data_off + f->csize &&
                    f->data_off < e->data_off + e->csize)
                    bad_invariant++;
            }
            if (pt_zip_lookup(idx, pt_zip_name(idx, e), e->name_len) == NULL)
                bad_invariant++;
        }
        pt_zip_index_free(idx);
    }
    CHECK(accepted > 100);
    CHECK_INT(bad_invariant, 0);
    free(b);
    zw_free(z);
}

/* Deep trees cost nothing per implied directory: the index stays within
 * a small multiple of the central directory however deep the paths go
 * (one entry per implied directory made 120,000 entries of this one). */
static void test_index_bounds(void)
{
    struct zw *z = zw_new();
    char name[PT_ZIP_NAME_MAX];
    for (int m = 0; m < 60; m++) {
        size_t n = (size_t)snprintf(name, sizeof name, "d%02d/", m);
        while (n + 3 < 4000) {
            memcpy(name + n, "a/", 2);
            n += 2;
        }
        name[n++] = 'f';
        zw_add(z, name, n, "x", 1, 0, 0);
    }
    zw_end(z);
    struct pt_zip_index *idx;
    CHECK_INT(pt_zip_index_build_mem(z->b, z->len, &idx), 0);
    if (idx) {
        CHECK_INT(idx->n, 60);
        CHECK(idx->bytes < 2 * z->cd_len);
        CHECK(pt_zip_implied(idx, name, 3901) != NULL);   /* "d59/a/a/.../a" */
        CHECK(pt_zip_implied(idx, name, 3900) == NULL);   /* ends in '/' */
        CHECK(pt_zip_implied(idx, "d59", 3) != NULL);
        CHECK(pt_zip_implied(idx, "d60", 3) == NULL);
        CHECK(pt_zip_lookup(idx, name, strlen(name)) != NULL);
        pt_zip_index_free(idx);
    }
    zw_free(z);
}

/* An archive whose central directory alone is over the index limit is
 * refused before anything is read into memory. */
struct fake_big {
    uint64_t size;
    unsigned char eocd[22];
};

static ssize_t fake_big_read(void *ctx, void *buf, size_t len, uint64_t off)
{
    const struct fake_big *f = ctx;
    if (off >= f->size)
        return 0;
    if (len > f->size - off)
        len = (size_t)(f->size - off);
    memset(buf, 0, len);
    for (size_t i = 0; i < len; i++)
        if (off + i >= f->size - 22)
            ((unsigned char *)buf)[i] = f->eocd[off + i - (f->size - 22)];
    return (ssize_t)len;
}

static void test_index_too_big(void)
{
    struct fake_big f = { .size = (uint64_t)300 << 20 };
    uint32_t cd = (uint32_t)(PT_ZIP_INDEX_BYTES_MAX + 1);
    le32(f.eocd, 0x06054b50);
    le16(f.eocd + 8, 1000);
    le16(f.eocd + 10, 1000);
    le32(f.eocd + 12, cd);
    le32(f.eocd + 16, (uint32_t)(f.size - 22 - cd));
    struct pt_zip_index *idx = (void *)1;
    CHECK_INT(pt_zip_index_build(fake_big_read, &f, f.size, &idx), -EFBIG);
    CHECK(idx == NULL);
}

/* ---- Accept-Encoding and the gzip view ---- */

static bool ae(const char *v)
{
    struct pt_accept_enc a = { -1, -1 };
    pt_accept_enc_parse(&a, v, strlen(v));
    return pt_accept_enc_gzip(&a);
}

static void test_accept_encoding(void)
{
    CHECK(ae("gzip"));
    CHECK(ae("GZIP"));
    CHECK(ae("gzip, deflate, br"));
    CHECK(ae("br;q=1.0, gzip;q=0.8, *;q=0.1"));
    CHECK(ae("x-gzip"));
    CHECK(ae("*"));
    CHECK(ae("identity, *;q=0.5"));
    CHECK(ae(" gzip ; q=0.001 "));
    CHECK(ae("gzip;q=1"));
    CHECK(ae("gzip;Q=1.000"));
    CHECK(!ae(""));
    CHECK(!ae("identity"));
    CHECK(!ae("deflate, br"));
    CHECK(!ae("gzip;q=0"));
    CHECK(!ae("gzip;q=0.000"));
    CHECK(!ae("gzip; q=0, *"));        /* listed: "*" does not apply */
    CHECK(!ae("*;q=0"));
    CHECK(!ae("gzipx"));
    CHECK(!ae("gzip;q=2"));            /* invalid qvalue: not acceptable */
    CHECK(!ae("gzip;q=0.5x"));
    CHECK(!ae("gzip;q=1.5"));
    CHECK(ae("gzip;q=0, gzip;q=0.5")); /* twice: the better one */
    CHECK(ae("gzip;level=1"));
    struct pt_accept_enc a = { -1, -1 };
    pt_accept_enc_parse(&a, "br", 2);
    pt_accept_enc_parse(&a, "gzip;q=0.3", 10); /* a second field line */
    CHECK(pt_accept_enc_gzip(&a));
    CHECK_INT(a.gzip_q, 300);
}

static char base[64];
static char www[128], arch[160];

static void write_file(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, p, n) != (ssize_t)n) {
        perror(path);
        exit(2);
    }
    close(fd);
}

/* The archive the fops and handler tests serve. */
static struct zw *serve_archive(void)
{
    struct zw *z = zw_new();
    zw_file(z, "index.html", "<h1>root</h1>", 8);
    zw_file(z, "s.txt", "0123456789", 0);
    zw_add(z, "big.txt", 7, big, sizeof big, 8, 0);
    zw_file(z, "sub/", "", 0);
    zw_file(z, "sub/index.html", "sub index", 0);
    zw_file(z, "nodir/x.css", "x{}", 8);
    zw_file(z, "bad.txt", "this member's CRC is wrong", 8);
    zw_file(z, "enc.txt", "secret", 0);
    zw_file(z, "empty.txt", "", 8);
    zw_end(z);
    /* bad.txt: flip its recorded CRC (central only, as zip tools read). */
    z->b[z->cen[6] + 16] ^= 0x55;
    le16(z->b + z->cen[7] + 8, 1); /* enc.txt: "encrypted" */
    return z;
}


static void make_tree(void)
{
    char p[256];
    strcpy(base, "/tmp/pt_zip.XXXXXX");
    if (!mkdtemp(base)) {
        perror("mkdtemp");
        exit(2);
    }
    snprintf(www, sizeof www, "%s/www", base);
    mkdir(www, 0755);
    snprintf(p, sizeof p, "%s/dir.zip", www);
    mkdir(p, 0755);                               /* a directory, not an archive */
    snprintf(p, sizeof p, "%s/dir.zip/f.txt", www);
    write_file(p, "plain", 5);
    snprintf(p, sizeof p, "%s/junk.zip", www);
    write_file(p, "not a zip at all", 16);
    snprintf(p, sizeof p, "%s/plain.txt", www);
    write_file(p, big, 2000);
    snprintf(p, sizeof p, "%s/plain.txt.gz", www);
    write_file(p, "\x1f\x8b precompressed", 16);
    snprintf(p, sizeof p, "%s/old.txt", www);
    write_file(p, "old", 3);
    snprintf(p, sizeof p, "%s/old.txt.gz", www);
    write_file(p, "stale gz", 8);
    struct timespec ts[2] = { { 1000, 0 }, { 1000, 0 } };
    utimensat(AT_FDCWD, p, ts, 0);                /* older than old.txt */

    struct zw *z = serve_archive();
    snprintf(arch, sizeof arch, "%s/a.zip", www);
    write_file(arch, z->b, z->len);
    snprintf(p, sizeof p, "%s/B.JAR", www);
    write_file(p, z->b, z->len);
    zw_free(z);
}


static int fopen_rc(const struct pt_froot *root, const char *vpath)
{
    struct pt_file f;
    int rc = pt_fopen(root, NULL, vpath, &f);
    if (rc == 0)
        f.fops->close(&f);
    return rc;
}

static void test_view(void)
{
    struct pt_froot root;
    struct pt_file f;
    CHECK_INT(pt_froot_open(&root, arch), 0);
    CHECK_INT(pt_fopen(&root, NULL, "/big.txt", &f), 0);
    struct pt_view v;
    pt_view_init(&v, &f, true);
    CHECK_INT(v.size, 10 + f.enc_size + 8);
    unsigned char *all = malloc(v.size), *again = malloc(v.size);
    CHECK_INT(pt_view_read(&v, all, v.size, 0), v.size);
    CHECK(all[0] == 0x1f && all[1] == 0x8b && all[2] == 8);
    /* Odd-sized reads across the segment edges give the same bytes. */
    size_t off = 0;
    while (off < v.size) {
        ssize_t n = pt_view_read(&v, again + off, 7, off);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    CHECK_INT(off, v.size);
    CHECK(memcmp(all, again, v.size) == 0);
    CHECK_INT(pt_view_read(&v, again, 10, v.size), 0);
    /* It is a gzip file of the member. */
    unsigned char *out = malloc(sizeof big + 1);
    z_stream s;
    memset(&s, 0, sizeof s);
    inflateInit2(&s, 16 + MAX_WBITS);
    s.next_in = all;
    s.avail_in = (uInt)v.size;
    s.next_out = out;
    s.avail_out = sizeof big + 1;
    CHECK_INT(inflate(&s, Z_FINISH), Z_STREAM_END); /* trailer checked */
    CHECK_INT(s.total_out, sizeof big);
    CHECK(memcmp(out, big, sizeof big) == 0);
    inflateEnd(&s);
    off_t foff;
    CHECK(pt_view_direct(&v, 10, f.enc_size, &foff) && foff == f.base);
    CHECK(pt_view_direct(&v, 12, 5, &foff) && foff == f.base + 2);
    CHECK(!pt_view_direct(&v, 0, 11, &foff));
    CHECK(!pt_view_direct(&v, 10, f.enc_size + 1, &foff));
    v.f.fops->close(&v.f);
    free(out);
    free(all);
    free(again);

    /* Stored member: direct at the member's offset. */
    CHECK_INT(pt_fopen(&root, NULL, "/s.txt", &f), 0);
    pt_view_init(&v, &f, false);
    CHECK(pt_view_direct(&v, 3, 4, &foff) && foff == f.base + 3);
    char buf[16];
    CHECK_INT(pt_view_read(&v, buf, 16, 2), 8);
    CHECK(memcmp(buf, "23456789", 8) == 0);
    v.f.fops->close(&v.f);
    pt_froot_close(&root);
}

/* ---- file ops ---- */

static void test_select(void)
{
    const char *v = "/a.zip/b.JAR/c.war";
    CHECK_INT(pt_fops_archive_prefix(v, strlen(v)), 12);  /* longest first */
    CHECK_INT(pt_fops_archive_prefix(v, 12), 6);
    CHECK_INT(pt_fops_archive_prefix(v, 6), 0);
    CHECK_INT(pt_fops_archive_prefix("/a.zip", 6), 0);     /* needs a '/' after */
    CHECK_INT(pt_fops_archive_prefix("/a.zip/", 7), 6);
    CHECK_INT(pt_fops_archive_prefix("/.zip/x", 7), 0);    /* no name before */
    CHECK_INT(pt_fops_archive_prefix("/a.zipx/x", 9), 0);
    CHECK_INT(pt_fops_archive_prefix("/a.tar/x", 8), 0);
    CHECK_INT(pt_fops_archive_prefix("a.zip/x", 7), 5);
    CHECK(pt_fops_archive_name("/srv/site.zip", 13));
    CHECK(pt_fops_archive_name("/srv/site.WAR/", 14));
    CHECK(!pt_fops_archive_name("/srv/site", 9));
    CHECK(!pt_fops_archive_name("/srv/.zip", 9));
}

static void test_fops(void)
{
    struct pt_froot root;
    struct pt_file f;
    char buf[64], p[256];

    /* An archive root. */
    CHECK_INT(pt_froot_open(&root, arch), 0);
    CHECK(root.fops == &pt_fops_zip);
    CHECK(root.dirfd >= 0);
    CHECK_STR(root.path, arch);
    CHECK_INT(pt_fopen(&root, NULL, "", &f), 0);
    CHECK(f.st.is_dir && !f.st.is_reg);
    f.fops->close(&f);
    CHECK_INT(pt_fopen(&root, NULL, "/sub", &f), 0);
    CHECK(f.st.is_dir);
    f.fops->close(&f);
    CHECK_INT(pt_fopen(&root, NULL, "/nodir/", &f), 0); /* implied */
    CHECK(f.st.is_dir);
    f.fops->close(&f);
    CHECK_INT(pt_fopen(&root, NULL, "/s.txt", &f), 0);
    CHECK(f.st.is_reg && f.st.size == 10 && f.enc == PT_FENC_IDENTITY);
    CHECK(f.fd >= 0 && f.st.has_crc && f.st.mtime == DOS_EPOCH);
    CHECK_INT(f.fops->read(&f, buf, sizeof buf, 4), 6);
    CHECK(memcmp(buf, "456789", 6) == 0);
    CHECK_INT(f.fops->read(&f, buf, sizeof buf, 10), 0);
    f.fops->describe(&f, p, sizeof p);
    char want[256];
    snprintf(want, sizeof want, "%s:s.txt", arch);
    CHECK_STR(p, want);
    f.fops->close(&f);
    CHECK_INT(pt_fopen(&root, NULL, "/big.txt", &f), 0);
    CHECK(f.enc == PT_FENC_DEFLATE && f.st.size == sizeof big && f.enc_size < sizeof big);
    f.fops->close(&f);
    CHECK_INT(fopen_rc(&root, "/nope"), -ENOENT);
    CHECK_INT(fopen_rc(&root, "/s.txt/"), -ENOTDIR);
    CHECK_INT(fopen_rc(&root, "/s.txt/x"), -ENOENT);
    CHECK_INT(fopen_rc(&root, "/enc.txt"), -ENOTSUP);
    CHECK_INT(fopen_rc(&root, "/../a.zip"), -ENOENT);
    pt_froot_close(&root);

    /* Not archives. */
    snprintf(p, sizeof p, "%s/junk.zip", www);
    CHECK_INT(pt_froot_open(&root, p), -EBADMSG);
    CHECK(root.path == NULL && root.dirfd == -1);
    snprintf(p, sizeof p, "%s/plain.txt", www);
    CHECK_INT(pt_froot_open(&root, p), -ENOTDIR);

    /* Archives inside a directory root: by path, longest prefix first. */
    CHECK_INT(pt_froot_open(&root, www), 0);
    CHECK(root.fops == &pt_fops_posix);
    CHECK_INT(pt_fopen(&root, NULL, "/a.zip/s.txt", &f), 0);
    CHECK(f.fops == &pt_fops_zip && f.st.size == 10);
    f.fops->close(&f);
    CHECK_INT(pt_fopen(&root, NULL, "/B.JAR/sub/index.html", &f), 0);
    CHECK(f.fops == &pt_fops_zip);
    f.fops->close(&f);
    CHECK_INT(pt_fopen(&root, NULL, "/a.zip", &f), 0);   /* the archive file itself */
    CHECK(f.fops == &pt_fops_posix && f.st.is_reg);
    f.fops->close(&f);
    CHECK_INT(pt_fopen(&root, NULL, "/a.zip/", &f), 0);  /* its root directory */
    CHECK(f.fops == &pt_fops_zip && f.st.is_dir);
    f.fops->close(&f);
    CHECK_INT(pt_fopen(&root, NULL, "/dir.zip/f.txt", &f), 0); /* a real directory */
    CHECK(f.fops == &pt_fops_posix && f.st.size == 5);
    f.fops->close(&f);
    CHECK_INT(fopen_rc(&root, "/a.zip/s.txt/x.zip/y"), -ENOENT);
    CHECK_INT(fopen_rc(&root, "/a.zip/nope.zip/y"), -ENOENT);
    CHECK_INT(fopen_rc(&root, "/none.zip/y"), -ENOENT);
    CHECK_INT(fopen_rc(&root, "/junk.zip/y"), -EBADMSG);
    CHECK_INT(fopen_rc(&root, "/a.zip/bad.txt"), 0); /* the CRC shows when inflating */

    /* The cache notices a rewritten archive. */
    struct zw *z = zw_new();
    zw_file(z, "new.txt", "new", 0);
    zw_end(z);
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s/new.zip", base);
    write_file(tmp, z->b, z->len);
    zw_free(z);
    snprintf(p, sizeof p, "%s/c.zip", www);
    link(arch, p);
    CHECK_INT(fopen_rc(&root, "/c.zip/s.txt"), 0);
    rename(tmp, p);
    CHECK_INT(fopen_rc(&root, "/c.zip/s.txt"), -ENOENT);
    CHECK_INT(fopen_rc(&root, "/c.zip/new.txt"), 0);
    pt_froot_close(&root);
}

/* ---- the handler ---- */

struct resp {
    int status;
    int64_t length;
    unsigned char body[200000];
    size_t body_len;
    bool body_error;
    int calls;
};

static struct resp R;

static void fake_respond(struct pt_req *r)
{
    R.calls++;
    R.status = r->status;
    R.length = r->resp_length;
    R.body_len = 0;
    R.body_error = false;
    if (!r->body || r->method == PT_M_HEAD)
        return;
    for (;;) {
        size_t room = sizeof R.body - R.body_len;
        if (room > 4000)
            room = 4000;
        if (r->resp_length >= 0 && (uint64_t)r->resp_length - R.body_len < room)
            room = (size_t)((uint64_t)r->resp_length - R.body_len);
        if (room == 0)
            break;
        ssize_t n = r->body->read(r, (char *)R.body + R.body_len, room);
        if (n == 0)
            break;
        if (n < 0) {
            R.body_error = true;
            break;
        }
        R.body_len += (size_t)n;
    }
}

static void fake_resume(struct pt_req *r) {}

static const struct pt_proto fake_proto = {
    .name = "fake", .respond = fake_respond, .resume = fake_resume,
};

static struct pt_mount M;
static struct pt_file_opts file_opts;
static struct pt_pool *P;
static struct pt_req *Q;
#define resp_hdr(name) tu_resp_hdr(Q, name)


static void finish(void)
{
    if (Q) {
        pt_req_finish(Q);
        pt_pool_free(P);
        Q = NULL;
    }
}

/* hdrs: "name", "value", ..., NULL. */
static void run(enum pt_method method, const char *path, const char *const *hdrs)
{
    finish();
    memset(&R, 0, sizeof R);
    P = pt_pool_new(0);
    Q = tu_req_new(P, method == PT_M_HEAD ? "HEAD" : "GET", path);
    Q->method = method; /* whatever its name, as the handler sees it */
    Q->proto = &fake_proto;
    Q->worker = &tu_worker;
    for (size_t i = 0; hdrs && hdrs[2 * i]; i++)
        tu_req_header(Q, hdrs[2 * i], hdrs[2 * i + 1]);
    Q->mount = &M;
    Q->rest = path;
    Q->rest_len = strlen(path);
    M.handler->handle(Q);
    CHECK_INT(R.calls, 1);
}

static void get(const char *path)
{
    run(PT_M_GET, path, NULL);
}

static void get_h(const char *path, const char *name, const char *value)
{
    const char *h[] = { name, value, NULL };
    run(PT_M_GET, path, h);
}

static void get_gz(const char *path)
{
    get_h(path, "Accept-Encoding", "gzip, deflate");
}

static bool gunzip_is(const unsigned char *gz, size_t n, const void *want, size_t want_len)
{
    unsigned char *out = malloc(want_len + 1);
    z_stream s;
    memset(&s, 0, sizeof s);
    inflateInit2(&s, 16 + MAX_WBITS);
    s.next_in = (unsigned char *)gz;
    s.avail_in = (uInt)n;
    s.next_out = out;
    s.avail_out = (uInt)want_len + 1;
    int zr = inflate(&s, Z_FINISH);
    bool ok = zr == Z_STREAM_END && s.total_out == want_len &&
              memcmp(out, want, want_len) == 0 && s.avail_in == 0;
    inflateEnd(&s);
    free(out);
    return ok;
}

static void mount_setup(const char *target)
{
    if (M.handler_data)
        pt_handler_file.teardown(&M);
    memset(&M, 0, sizeof M);
    M.mountpoint = "/";
    M.mountpoint_len = 1;
    M.origin = "file://x";
    M.target = (char *)target;
    M.handler = &pt_handler_file;
    M.handler_slot = pt_handler_slot(&pt_handler_file);
    M.opts = &file_opts;
    struct pt_diag d = {0};
    CHECK_INT(pt_handler_file.setup(&M, &d), 0);
}

static void test_handler_archive_root(void)
{
    mount_setup(arch);

    get("/s.txt");
    CHECK_INT(R.status, 200);
    CHECK_INT(R.length, 10);
    CHECK(R.body_len == 10 && memcmp(R.body, "0123456789", 10) == 0);
    CHECK(resp_hdr("Vary") == NULL);
    CHECK(resp_hdr("Content-Encoding") == NULL);
    CHECK_STR(resp_hdr("Accept-Ranges"), "bytes");
    CHECK_STR(resp_hdr("Last-Modified"), "Thu, 04 Mar 2021 05:06:08 GMT");
    const char *etag = resp_hdr("ETag");
    CHECK(etag && etag[1] == 'z');
    char etag_s[64];
    snprintf(etag_s, sizeof etag_s, "%s", etag ? etag : "");

    get_h("/s.txt", "Range", "bytes=2-4");
    CHECK_INT(R.status, 206);
    CHECK(R.body_len == 3 && memcmp(R.body, "234", 3) == 0);
    CHECK_STR(resp_hdr("Content-Range"), "bytes 2-4/10");
    get_gz("/s.txt"); /* stored: no coding, like a plain file */
    CHECK(resp_hdr("Content-Encoding") == NULL);
    get_h("/s.txt", "If-None-Match", etag_s);
    CHECK_INT(R.status, 304);

    /* Deflated, without gzip: inflated. */
    get("/big.txt");
    CHECK_INT(R.status, 200);
    CHECK_INT(R.length, sizeof big);
    CHECK(!R.body_error);
    CHECK(R.body_len == sizeof big && memcmp(R.body, big, sizeof big) == 0);
    CHECK_STR(resp_hdr("Vary"), "Accept-Encoding");
    CHECK(resp_hdr("Content-Encoding") == NULL);
    CHECK(resp_hdr("Accept-Ranges") == NULL);
    snprintf(etag_s, sizeof etag_s, "%s", resp_hdr("ETag"));
    get_h("/big.txt", "Range", "bytes=0-9"); /* ranges: the whole body */
    CHECK_INT(R.status, 200);
    CHECK_INT(R.body_len, sizeof big);
    get_h("/big.txt", "Accept-Encoding", "gzip;q=0");
    CHECK(resp_hdr("Content-Encoding") == NULL);
    CHECK_INT(R.body_len, sizeof big);

    /* Deflated, with gzip: the member's own bytes, framed. */
    get_gz("/big.txt");
    CHECK_INT(R.status, 200);
    CHECK_STR(resp_hdr("Content-Encoding"), "gzip");
    CHECK_STR(resp_hdr("Vary"), "Accept-Encoding");
    CHECK_STR(resp_hdr("Accept-Ranges"), "bytes");
    CHECK(gunzip_is(R.body, R.body_len, big, sizeof big));
    const char *gz_etag = resp_hdr("ETag");
    CHECK(gz_etag && strcmp(gz_etag, etag_s) != 0);
    char gz_etag_s[64];
    snprintf(gz_etag_s, sizeof gz_etag_s, "%s", gz_etag ? gz_etag : "");
    size_t gz_len = R.body_len;
    unsigned char *gz = malloc(gz_len);
    memcpy(gz, R.body, gz_len);
    {
        const char *h[] = { "Accept-Encoding", "gzip", "Range", "bytes=5-20", NULL };
        run(PT_M_GET, "/big.txt", h);
        CHECK_INT(R.status, 206);
        CHECK(R.body_len == 16 && memcmp(R.body, gz + 5, 16) == 0);
    }
    {
        const char *h[] = { "Accept-Encoding", "gzip", "Range", "bytes=0-3,-4", NULL };
        run(PT_M_GET, "/big.txt", h);
        CHECK_INT(R.status, 206); /* multipart over the gzip bytes */
        CHECK(memmem(R.body, R.body_len, gz, 4) != NULL);
        CHECK(memmem(R.body, R.body_len, gz + gz_len - 4, 4) != NULL);
    }
    {
        const char *h[] = { "Accept-Encoding", "gzip", "If-None-Match", gz_etag_s, NULL };
        run(PT_M_GET, "/big.txt", h);
        CHECK_INT(R.status, 304);
        CHECK_STR(resp_hdr("Vary"), "Accept-Encoding");
        /* The identity tag does not match the gzip representation. */
        const char *h2[] = { "Accept-Encoding", "gzip", "If-None-Match", etag_s, NULL };
        run(PT_M_GET, "/big.txt", h2);
        CHECK_INT(R.status, 200);
    }
    free(gz);
    run(PT_M_HEAD, "/big.txt", NULL);
    CHECK_INT(R.status, 200);
    CHECK_INT(R.length, sizeof big);

    /* Index, directories, redirect. */
    get("/");
    CHECK_INT(R.status, 200);
    CHECK(R.body_len == 13 && memcmp(R.body, "<h1>root</h1>", 13) == 0);
    get_gz("/");
    CHECK(gunzip_is(R.body, R.body_len, "<h1>root</h1>", 13));
    get("/sub/");
    CHECK(R.body_len == 9 && memcmp(R.body, "sub index", 9) == 0);
    get("/sub");
    CHECK_INT(R.status, 301);
    CHECK_STR(resp_hdr("Location"), "/sub/");
    get("/nodir");
    CHECK_INT(R.status, 301);
    get("/nodir/");
    CHECK_INT(R.status, 403);
    get("/s.txt/");
    CHECK_INT(R.status, 404);
    get("/nodir/x.css");
    CHECK_INT(R.status, 200);
    CHECK(R.body_len == 3 && memcmp(R.body, "x{}", 3) == 0);
    get("/empty.txt");
    CHECK_INT(R.status, 200);
    CHECK_INT(R.length, 0);
    get_gz("/empty.txt");
    CHECK(gunzip_is(R.body, R.body_len, "", 0));

    /* Bad members. */
    get("/nope.txt");
    CHECK_INT(R.status, 404);
    get("/enc.txt");
    CHECK_INT(R.status, 500);
    get("/bad.txt");                 /* CRC mismatch: the body fails... */
    CHECK_INT(R.status, 200);
    CHECK(R.body_error);
    CHECK(R.body_len < strlen("this member's CRC is wrong")); /* ...before the end */
    get_gz("/bad.txt");              /* gzip: the client's gunzip will see it */
    CHECK(!R.body_error);
    finish();
}

static void test_handler_dir_root(void)
{
    mount_setup(www);

    get("/a.zip/s.txt");
    CHECK_INT(R.status, 200);
    CHECK(R.body_len == 10 && memcmp(R.body, "0123456789", 10) == 0);
    get("/a.zip/big.txt");
    CHECK(R.body_len == sizeof big && memcmp(R.body, big, sizeof big) == 0);
    get_gz("/a.zip/big.txt");
    CHECK(gunzip_is(R.body, R.body_len, big, sizeof big));
    get("/a.zip");
    CHECK_INT(R.status, 200);
    CHECK_STR(resp_hdr("Content-Type"), "application/zip");
    get("/a.zip/");
    CHECK_INT(R.status, 200);
    CHECK(R.body_len == 13 && memcmp(R.body, "<h1>root</h1>", 13) == 0);
    get("/junk.zip/x");
    CHECK_INT(R.status, 500);
    get("/dir.zip/f.txt");
    CHECK_INT(R.status, 200);

    /* gzip_static. */
    get("/plain.txt");
    CHECK_INT(R.length, 2000);
    CHECK(resp_hdr("Vary") == NULL);
    char etag_s[64];
    snprintf(etag_s, sizeof etag_s, "%s", resp_hdr("ETag"));
    get_gz("/plain.txt");
    CHECK_INT(R.status, 200);
    CHECK_INT(R.length, 16);
    CHECK(memcmp(R.body, "\x1f\x8b precompressed", 16) == 0);
    CHECK_STR(resp_hdr("Content-Encoding"), "gzip");
    CHECK_STR(resp_hdr("Vary"), "Accept-Encoding");
    CHECK_STR(resp_hdr("Content-Type"), "text/plain; charset=utf-8");
    CHECK(strcmp(resp_hdr("ETag"), etag_s) != 0);
    get_h("/plain.txt", "Accept-Encoding", "gzip;q=0, identity");
    CHECK_INT(R.length, 2000);
    get_gz("/old.txt");               /* the .gz is older: not used */
    CHECK(R.body_len == 3 && memcmp(R.body, "old", 3) == 0);
    CHECK(resp_hdr("Content-Encoding") == NULL);
    finish();
    pt_handler_file.teardown(&M);
}

int main(void)
{
    pt_builtin_register();
    int fds = tu_count_fds();
    test_names();
    test_parse_good();
    test_parse_bad_archives();
    test_parse_bad_members();
    test_parse_mutations();
    test_index_bounds();
    test_index_too_big();
    test_accept_encoding();

    test_select();
    make_tree();
    test_view();
    test_fops();
    test_handler_archive_root();
    test_handler_dir_root();
    pt_zip_cache_flush();
    pt_handler_worker_dispose(&tu_worker); /* files kept open for reuse */
    CHECK_INT(tu_count_fds(), fds); /* nothing leaked */
    tu_rm_tree(base);
    return check_done("zip");
}
