/* Zip central directory -> member index (see zip_index.h).
 *
 * The order of work: find the end-of-central-directory record, read the
 * whole central directory in one read, walk it once to check its framing,
 * then build entries.  Member regions come from sorting the local header
 * offsets: a member may only use the bytes from its local header up to the
 * next local header (or the central directory), which rules out the
 * overlapping-member tricks of zip bombs.  Local headers are read through
 * a 64 KiB window, in offset order, so an archive of small members costs
 * few reads. */
#include "fops/zip_index.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SIG_LOCAL   0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD    0x06054b50u
#define EOCD_LEN 22
#define CEN_LEN 46
#define LOC_LEN 30
#define COMMENT_MAX 65535
#define WINDOW (64 * 1024)
#define EXTRA_UT 0x5455   /* Info-ZIP extended timestamp */

#define FLAG_ENCRYPTED 0x0001
#define FLAG_STRONG_ENC 0x0040

static uint16_t le16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

const char *pt_zip_strerror(int err)
{
    switch (err) {
    case PT_ZIP_OK:          return "ok";
    case PT_ZIP_E_BOUNDS:    return "member data outside its region of the archive";
    case PT_ZIP_E_OVERLAP:   return "member overlaps another member";
    case PT_ZIP_E_LOCAL:     return "local header disagrees with the central directory";
    case PT_ZIP_E_ZIP64:     return "ZIP64 member (unsupported)";
    case PT_ZIP_E_ENCRYPTED: return "encrypted member (unsupported)";
    case PT_ZIP_E_METHOD:    return "unsupported compression method";
    case PT_ZIP_E_SIZE:      return "stored member with compressed size != size";
    case PT_ZIP_E_DUP:       return "two members with the same name";
    }
    return "unknown error";
}

bool pt_zip_name_safe(const char *s, size_t len)
{
    if (len == 0 || len > PT_ZIP_NAME_MAX || s[0] == '/')
        return false;
    if (s[len - 1] == '/')
        len--; /* a directory */
    size_t seg = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != '/') {
            if (s[i] == '\0' || s[i] == '\\')
                return false;
            continue;
        }
        size_t n = i - seg;
        if (n == 0 || (n == 1 && s[seg] == '.') ||
            (n == 2 && s[seg] == '.' && s[seg + 1] == '.'))
            return false;
        seg = i + 1;
    }
    return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Hinnant). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

int64_t pt_zip_dos_time(uint16_t date, uint16_t time)
{
    unsigned m = (date >> 5) & 15, d = date & 31;
    if (m < 1 || m > 12)
        m = 1;
    if (d < 1)
        d = 1;
    int64_t days = days_from_civil(1980 + (date >> 9), m, d);
    return days * 86400 + (time >> 11) * 3600 + ((time >> 5) & 63) * 60 +
           (time & 31) * 2;
}

static uint32_t fnv_step(uint32_t h, unsigned char c)
{
    return (h ^ c) * 16777619u;
}

#define FNV_INIT 2166136261u

/* ---- the hash table ---- */

static uint32_t *slot_find(const struct pt_zip_index *idx, const char *name,
                              size_t len, uint32_t hash)
{
    for (uint32_t i = hash & idx->mask;; i = (i + 1) & idx->mask) {
        uint32_t s = idx->slot[i];
        if (s == 0)
            return &idx->slot[i];
        const struct pt_zip_entry *e = &idx->e[s - 1];
        if (e->hash == hash && e->name_len == len &&
            memcmp(idx->names + e->name_off, name, len) == 0)
            return &idx->slot[i];
    }
}

/* Keeps the load factor at most 1/2, so probes stay short and a free
 * slot always exists. */
static int slot_reserve(struct pt_zip_index *idx, uint32_t used)
{
    if ((uint64_t)(used + 1) * 2 <= (uint64_t)idx->mask + 1)
        return 0;
    uint32_t size = (idx->mask + 1) * 2;
    uint32_t *old = idx->slot, old_size = idx->mask + 1;
    idx->slot = calloc(size, sizeof *idx->slot);
    if (!idx->slot) {
        idx->slot = old;
        return -ENOMEM;
    }
    idx->mask = size - 1;
    for (uint32_t i = 0; i < old_size; i++) {
        if (!old[i])
            continue;
        uint32_t j = idx->e[old[i] - 1].hash & idx->mask;
        while (idx->slot[j])
            j = (j + 1) & idx->mask;
        idx->slot[j] = old[i];
    }
    free(old);
    return 0;
}

const struct pt_zip_entry *pt_zip_lookup(const struct pt_zip_index *idx,
                                         const char *name, size_t len)
{
    if (len && name[len - 1] == '/')
        len--;
    if (len == 0 || len > PT_ZIP_NAME_MAX)
        return NULL;
    uint32_t h = FNV_INIT;
    for (size_t i = 0; i < len; i++)
        h = fnv_step(h, (unsigned char)name[i]);
    uint32_t s = *slot_find(idx, name, len, h);
    return s ? &idx->e[s - 1] : NULL;
}

/* Orders name s (sl bytes) against name k followed by '/': 0 when s
 * begins with "k/", else as memcmp would order them. */
static int dir_cmp(const char *s, size_t sl, const char *k, size_t kl)
{
    int c = memcmp(s, k, sl < kl ? sl : kl);
    if (c)
        return c;
    if (sl <= kl)
        return -1;
    return (unsigned char)s[kl] - (unsigned char)'/';
}

const struct pt_zip_entry *pt_zip_implied(const struct pt_zip_index *idx,
                                          const char *name, size_t len)
{
    if (len == 0 || len > PT_ZIP_NAME_MAX)
        return NULL;
    /* The first name >= "name/": it begins with "name/" when any does. */
    uint32_t lo = 0, hi = idx->n_sorted;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const struct pt_zip_entry *e = &idx->e[idx->sorted[mid]];
        if (dir_cmp(idx->names + e->name_off, e->name_len, name, len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == idx->n_sorted)
        return NULL;
    const struct pt_zip_entry *e = &idx->e[idx->sorted[lo]];
    return dir_cmp(idx->names + e->name_off, e->name_len, name, len) == 0 ? e : NULL;
}

void pt_zip_index_free(struct pt_zip_index *idx)
{
    if (!idx)
        return;
    free(idx->e);
    free(idx->names);
    free(idx->slot);
    free(idx->sorted);
    free(idx);
}

/* ---- building ---- */

/* One central directory record, kept while building. */
struct pt_cen {
    uint64_t lho;        /* local header offset */
    uint64_t limit;      /* end of its region: the next local header */
    uint32_t entry;      /* index into e[], or UINT32_MAX (unsafe name) */
    uint32_t pos;        /* of the record in the central directory */
};

struct pt_builder {
    pt_zip_read_fn rd;
    void *ctx;
    uint64_t size;
    uint64_t cd_off;
    uint32_t cd_size;
    uint32_t n_cen;
    unsigned char *cd;
    struct pt_cen *cen;
    struct pt_zip_index *idx;
    uint32_t cap;        /* entries allocated in idx->e */
    uint32_t used;       /* entries in the hash table */
    unsigned char *win;  /* local header window */
    uint64_t win_off;
    size_t win_len;
};

static int read_full(struct pt_builder *b, void *buf, size_t len, uint64_t off)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = b->rd(b->ctx, (char *)buf + got, len - got, off + got);
        if (n < 0)
            return (int)n;
        if (n == 0)
            return -EBADMSG; /* shorter than the archive claims */
        got += (size_t)n;
    }
    return 0;
}

/* Finds the end record; sets cd_off, cd_size, n_cen. */
static int find_eocd(struct pt_builder *b)
{
    if (b->size < EOCD_LEN)
        return -EBADMSG;
    size_t tail = b->size < EOCD_LEN + COMMENT_MAX ? (size_t)b->size
                                                   : EOCD_LEN + COMMENT_MAX;
    unsigned char *buf = malloc(tail);
    if (!buf)
        return -ENOMEM;
    uint64_t base = b->size - tail;
    int rc = read_full(b, buf, tail, base);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    rc = -EBADMSG;
    /* From the end: the comment may itself contain the signature. */
    for (size_t i = tail - EOCD_LEN + 1; i-- > 0;) {
        const unsigned char *p = buf + i;
        if (le32(p) != SIG_EOCD || i + EOCD_LEN + le16(p + 20) > tail)
            continue;
        uint16_t disk = le16(p + 4), cd_disk = le16(p + 6);
        uint16_t n_disk = le16(p + 8), n_total = le16(p + 10);
        uint32_t cd_size = le32(p + 12), cd_off = le32(p + 16);
        if (n_total == 0xffff || cd_size == 0xffffffffu || cd_off == 0xffffffffu ||
            disk == 0xffff || cd_disk == 0xffff)
            rc = -ENOTSUP; /* ZIP64 */
        else if (disk != 0 || cd_disk != 0 || n_disk != n_total)
            rc = -ENOTSUP; /* split over several disks */
        else if ((uint64_t)cd_off + cd_size > base + i)
            rc = -EBADMSG;
        else {
            b->cd_off = cd_off;
            b->cd_size = cd_size;
            b->n_cen = n_total;
            rc = 0;
        }
        break;
    }
    free(buf);
    return rc;
}

/* Reads the central directory and checks its framing: n_cen records that
 * fill it exactly.  Returns the total name bytes, or -errno. */
static int64_t read_cd(struct pt_builder *b)
{
    if (b->cd_size > PT_ZIP_INDEX_BYTES_MAX)
        return -EFBIG; /* its index could only be bigger */
    b->cd = malloc(b->cd_size ? b->cd_size : 1);
    if (!b->cd)
        return -ENOMEM;
    int rc = read_full(b, b->cd, b->cd_size, b->cd_off);
    if (rc < 0)
        return rc;
    uint64_t pos = 0, names = 0;
    for (uint32_t k = 0; k < b->n_cen; k++) {
        const unsigned char *p = b->cd + pos;
        if (pos + CEN_LEN > b->cd_size || le32(p) != SIG_CENTRAL)
            return -EBADMSG;
        uint64_t len = CEN_LEN + (uint64_t)le16(p + 28) + le16(p + 30) + le16(p + 32);
        if (pos + len > b->cd_size)
            return -EBADMSG;
        names += le16(p + 28);
        pos += len;
    }
    if (pos != b->cd_size)
        return -EBADMSG;
    return (int64_t)names;
}

static int entry_new(struct pt_builder *b, struct pt_zip_entry **out)
{
    struct pt_zip_index *idx = b->idx;
    if (idx->n == b->cap) {
        if (b->cap >= PT_ZIP_ENTRIES_MAX)
            return -EBADMSG; /* absurdly many (implied) directories */
        uint32_t cap = b->cap ? b->cap * 2 : 16;
        if (cap > PT_ZIP_ENTRIES_MAX)
            cap = PT_ZIP_ENTRIES_MAX;
        struct pt_zip_entry *e = realloc(idx->e, cap * sizeof *e);
        if (!e)
            return -ENOMEM;
        idx->e = e;
        b->cap = cap;
    }
    *out = &idx->e[idx->n++];
    memset(*out, 0, sizeof **out);
    return 0;
}

/* The Info-ZIP extended timestamp, when the central extra field has one:
 * unlike the DOS time it is UTC and has a one-second resolution. */
static bool extra_mtime(const unsigned char *x, size_t len, int64_t *mtime)
{
    while (len >= 4) {
        uint16_t id = le16(x), sz = le16(x + 2);
        if ((size_t)sz + 4 > len)
            return false;
        if (id == EXTRA_UT && sz >= 5 && (x[4] & 1)) {
            *mtime = (int32_t)le32(x + 5);
            return true;
        }
        x += 4 + sz;
        len -= 4 + (size_t)sz;
    }
    return false;
}

/* Turns one central record into an entry (or counts it as unsafe). */
static int add_central(struct pt_builder *b, uint32_t k, uint32_t pos,
                          char *names, uint32_t *names_used)
{
    const unsigned char *p = b->cd + pos;
    uint16_t flags = le16(p + 8), method = le16(p + 10);
    uint16_t nlen = le16(p + 28), elen = le16(p + 30);
    uint32_t csize = le32(p + 20), usize = le32(p + 24), lho = le32(p + 42);
    const char *name = (const char *)p + CEN_LEN;
    struct pt_cen *c = &b->cen[k];

    c->lho = lho;
    c->pos = pos;
    c->entry = UINT32_MAX;
    if (!pt_zip_name_safe(name, nlen)) {
        b->idx->n_unsafe++;
        return 0;
    }
    struct pt_zip_entry *e;
    int rc = entry_new(b, &e);
    if (rc < 0)
        return rc;
    c->entry = b->idx->n - 1;
    e->is_dir = name[nlen - 1] == '/';
    e->name_len = (uint16_t)(nlen - e->is_dir);
    e->name_off = *names_used;
    memcpy(names + *names_used, name, e->name_len);
    *names_used += e->name_len;
    e->method = method;
    e->crc = le32(p + 16);
    e->csize = csize;
    e->usize = usize;
    if (!extra_mtime(p + CEN_LEN + nlen, elen, &e->mtime))
        e->mtime = pt_zip_dos_time(le16(p + 14), le16(p + 12));
    uint32_t h = FNV_INIT;
    for (size_t i = 0; i < e->name_len; i++)
        h = fnv_step(h, (unsigned char)name[i]);
    e->hash = h;

    if (csize == 0xffffffffu || usize == 0xffffffffu || lho == 0xffffffffu ||
        le16(p + 34) == 0xffff)
        e->err = PT_ZIP_E_ZIP64;
    else if (e->is_dir)
        ; /* never read: its method and sizes do not matter */
    else if (flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENC))
        e->err = PT_ZIP_E_ENCRYPTED;
    else if (method != PT_ZIP_STORED && method != PT_ZIP_DEFLATED)
        e->err = PT_ZIP_E_METHOD;
    else if (method == PT_ZIP_STORED && csize != usize)
        e->err = PT_ZIP_E_SIZE;
    return 0;
}

static int cen_cmp(const void *a, const void *b)
{
    const struct pt_cen *x = a, *y = b;
    if (x->lho != y->lho)
        return x->lho < y->lho ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Bytes [off, off + len) of the archive, through the window. */
static int window_at(struct pt_builder *b, uint64_t off, size_t len,
                     const unsigned char **out)
{
    if (off >= b->win_off && off + len <= b->win_off + b->win_len) {
        *out = b->win + (off - b->win_off);
        return 0;
    }
    if (!b->win && !(b->win = malloc(WINDOW)))
        return -ENOMEM;
    size_t want = WINDOW;
    if (off > b->size || len > WINDOW)
        return -EBADMSG;
    if (b->size - off < want)
        want = (size_t)(b->size - off);
    if (want < len)
        return -EBADMSG;
    b->win_len = 0;
    int rc = read_full(b, b->win, want, off);
    if (rc < 0)
        return rc;
    b->win_off = off;
    b->win_len = want;
    *out = b->win;
    return 0;
}

/* Checks a member's local header against its central record and its
 * region [lho, limit); sets data_off. */
static int check_local(struct pt_builder *b, const struct pt_cen *c,
                          uint64_t limit)
{
    struct pt_zip_entry *e = &b->idx->e[c->entry];
    const unsigned char *cp = b->cd + c->pos;
    uint16_t nlen = le16(cp + 28);
    if (c->lho + LOC_LEN + nlen > limit) {
        e->err = PT_ZIP_E_BOUNDS;
        return 0;
    }
    const unsigned char *p;
    int rc = window_at(b, c->lho, LOC_LEN + (size_t)nlen, &p);
    if (rc < 0)
        return rc;
    if (le32(p) != SIG_LOCAL || le16(p + 26) != nlen || le16(p + 8) != e->method ||
        memcmp(p + LOC_LEN, cp + CEN_LEN, nlen) != 0) {
        e->err = PT_ZIP_E_LOCAL;
        return 0;
    }
    uint64_t data = c->lho + LOC_LEN + nlen + le16(p + 28);
    if (data + e->csize > limit) {
        e->err = PT_ZIP_E_BOUNDS;
        return 0;
    }
    e->data_off = data;
    return 0;
}

/* Gives every member its region: from its local header to the next one
 * (or the central directory).  Members sharing a local header overlap. */
static int member_regions(struct pt_builder *b)
{
    qsort(b->cen, b->n_cen, sizeof *b->cen, cen_cmp);
    /* Backwards, so the next greater offset is known in O(1)... */
    uint64_t next = b->cd_off;
    for (uint32_t k = b->n_cen; k-- > 0;) {
        if (k + 1 < b->n_cen && b->cen[k + 1].lho != b->cen[k].lho &&
            b->cen[k + 1].lho < b->cd_off)
            next = b->cen[k + 1].lho;
        b->cen[k].limit = next;
    }
    /* ...then forwards, so the local headers come through the window. */
    for (uint32_t k = 0; k < b->n_cen; k++) {
        struct pt_cen *c = &b->cen[k];
        if (c->entry == UINT32_MAX)
            continue;
        struct pt_zip_entry *e = &b->idx->e[c->entry];
        bool shared = (k > 0 && b->cen[k - 1].lho == c->lho) ||
                      (k + 1 < b->n_cen && b->cen[k + 1].lho == c->lho);
        if (e->err)
            continue;
        if (c->lho >= b->cd_off)
            e->err = PT_ZIP_E_BOUNDS;
        else if (shared)
            e->err = PT_ZIP_E_OVERLAP;
        else if (!e->is_dir) {
            int rc = check_local(b, c, c->limit);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

/* Puts the members in the table, in archive order.  Two members with one
 * name: neither is served (which one an unzip tool picks varies). */
static int insert_members(struct pt_builder *b)
{
    struct pt_zip_index *idx = b->idx;
    uint32_t n = idx->n;
    for (uint32_t i = 0; i < n; i++) {
        struct pt_zip_entry *e = &idx->e[i];
        int rc = slot_reserve(idx, b->used);
        if (rc < 0)
            return rc;
        uint32_t *s = slot_find(idx, idx->names + e->name_off, e->name_len, e->hash);
        if (!*s) {
            *s = i + 1;
            b->used++;
            continue;
        }
        struct pt_zip_entry *old = &idx->e[*s - 1];
        if (old->is_dir && e->is_dir)
            continue; /* "d/" twice is harmless */
        old->err = PT_ZIP_E_DUP;
        e->err = PT_ZIP_E_DUP;
    }
    return 0;
}

static int name_cmp(const void *a, const void *b, void *arg)
{
    const struct pt_zip_index *idx = arg;
    const struct pt_zip_entry *x = &idx->e[*(const uint32_t *)a];
    const struct pt_zip_entry *y = &idx->e[*(const uint32_t *)b];
    int c = memcmp(idx->names + x->name_off, idx->names + y->name_off,
                   x->name_len < y->name_len ? x->name_len : y->name_len);
    return c ? c : (int)x->name_len - (int)y->name_len;
}

/* Sorts the names that imply directories, for pt_zip_implied(). */
static int sort_paths(struct pt_builder *b)
{
    struct pt_zip_index *idx = b->idx;
    idx->sorted = malloc((idx->n ? idx->n : 1) * sizeof *idx->sorted);
    if (!idx->sorted)
        return -ENOMEM;
    for (uint32_t i = 0; i < idx->n; i++)
        if (memchr(idx->names + idx->e[i].name_off, '/', idx->e[i].name_len))
            idx->sorted[idx->n_sorted++] = i;
    qsort_r(idx->sorted, idx->n_sorted, sizeof *idx->sorted, name_cmp, idx);
    return 0;
}

static int build_index(struct pt_builder *b)
{
    int rc = find_eocd(b);
    if (rc < 0)
        return rc;
    int64_t names_len = read_cd(b);
    if (names_len < 0)
        return (int)names_len;
    struct pt_zip_index *idx = b->idx = calloc(1, sizeof *idx);
    b->cen = malloc((b->n_cen ? b->n_cen : 1) * sizeof *b->cen);
    if (!idx || !b->cen || !(idx->names = malloc((size_t)names_len + 1)) ||
        !(idx->slot = calloc(16, sizeof *idx->slot)))
        return -ENOMEM;
    idx->mask = 15;

    uint32_t pos = 0, names_used = 0;
    for (uint32_t k = 0; k < b->n_cen; k++) {
        const unsigned char *p = b->cd + pos;
        if ((rc = add_central(b, k, pos, idx->names, &names_used)) < 0)
            return rc;
        pos += CEN_LEN + le16(p + 28) + le16(p + 30) + le16(p + 32);
    }
    if ((rc = member_regions(b)) < 0 || (rc = insert_members(b)) < 0 ||
        (rc = sort_paths(b)) < 0)
        return rc;
    for (uint32_t i = 0; i < idx->n; i++)
        idx->n_bad += idx->e[i].err != 0;
    idx->bytes = sizeof *idx + (size_t)b->cap * sizeof *idx->e + (size_t)names_len +
                 ((size_t)idx->mask + 1) * sizeof *idx->slot +
                 (size_t)idx->n * sizeof *idx->sorted;
    return idx->bytes > PT_ZIP_INDEX_BYTES_MAX ? -EFBIG : 0;
}

int pt_zip_index_build(pt_zip_read_fn rd, void *ctx, uint64_t size,
                       struct pt_zip_index **out)
{
    struct pt_builder b = { .rd = rd, .ctx = ctx, .size = size };
    int rc = build_index(&b);
    free(b.cd);
    free(b.cen);
    free(b.win);
    if (rc < 0) {
        pt_zip_index_free(b.idx);
        *out = NULL;
        return rc;
    }
    *out = b.idx;
    return 0;
}

struct pt_mem {
    const unsigned char *p;
    size_t len;
};

static ssize_t mem_read(void *ctx, void *buf, size_t len, uint64_t off)
{
    const struct pt_mem *m = ctx;
    if (off >= m->len)
        return 0;
    if (len > m->len - off)
        len = (size_t)(m->len - off);
    memcpy(buf, m->p + off, len);
    return (ssize_t)len;
}

int pt_zip_index_build_mem(const void *buf, size_t len, struct pt_zip_index **out)
{
    struct pt_mem m = { buf, len };
    return pt_zip_index_build(mem_read, &m, len, out);
}
