/* The file:// handler: static files below a directory or in a zip archive.
 *
 * Per request: one open (openat2, confined to the root; pt_fopen picks the
 * file ops, so a member of an archive is opened like a file) and one
 * fstat, the validators formatted into stack buffers, then either a
 * 304/412/416, a 200 or single-range 206 sent with sendfile by the
 * protocol, or a multipart/byteranges 206 streamed from our own body
 * source.
 *
 * Codings: a file stored deflated (a zip member) goes out as gzip (its own
 * deflate bytes, framed) to clients that accept it and is inflated on the
 * fly for the others; a plain file with a "name.gz" beside it that is not
 * older goes out as that file to clients that accept gzip (gzip_static). */
#include "mounts/mounts.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "fops/fcache.h"
#include "fops/fops.h"
#include "gateway/diag.h"
#include "gateway/handler.h"
#include "gateway/httpdate.h"
#include "gateway/log.h"
#include "gateway/request.h"
#include "gateway/worker.h"
#include "mounts/cache.h"
#include "mounts/coding.h"
#include "mounts/etag.h"
#include "mounts/mime.h"
#include "mounts/range.h"

#define PT_FILE_ALLOW "GET, HEAD, OPTIONS"

#define O(f) offsetof(struct pt_file_opts, f)
static const struct pt_key file_keys[] = {
    { "default", PT_KEY_STR, O(def), 0, 0 },
    { "cache-max-age", PT_KEY_INT, O(cache.max_age), 0, INT_MAX },
    { "cache-reuse", PT_KEY_BOOL, O(cache.reuse), 0, 0 },
    { "cache-revalidate", PT_KEY_BOOL, O(cache.revalidate), 0, 0 },
    { "cache-intermediaries", PT_KEY_BOOL, O(cache.intermediaries), 0, 0 },
    { "cache-no", PT_KEY_BOOL, O(cache.no), 0, 0 },
    { "extra-mimetypes", PT_KEY_MIMES, O(extra_mimetypes), 0, 0 },
    { "allow-dotfiles", PT_KEY_BOOL, O(allow_dotfiles), 0, 0 },
    { "interpret", PT_KEY_KV, O(interpret), 0, 0 },
    { NULL, PT_KEY_STR, 0, 0, 0 },
};
#undef O

static bool has_cache_key(const struct pt_mount *m)
{
    for (const struct pt_key *k = file_keys; k->name; k++)
        if (strncmp(k->name, "cache-", 6) == 0 && pt_mount_has_key(m, k->name))
            return true;
    return false;
}

struct pt_file_mount {
    struct pt_froot root;
    /* An archive that could not be opened: its requests get 503 and it is
     * tried again (at most once a second) until it opens. */
    atomic_bool broken;
    pthread_mutex_t lock;
    double retry_at;
    const char *index;      /* "default", without leading '/' */
    size_t index_len;
    char cache_control[PT_CACHE_CONTROL_MAX];
};

/* ---- setup ---- */

/* "interpret": {".php": "/usr/bin/php-cgi"}: suffixes, and programs that
 * can run, in a directory mount. */
static int check_interpret(const struct pt_mount *m, struct pt_diag *d)
{
    const struct pt_file_opts *o = m->opts;
    const struct pt_srcpos *p = pt_mount_key_pos(m, "interpret");
    int errors = 0;
    if (o->interpret.n && pt_fops_archive_name(m->target, strlen(m->target))) {
        pt_diag_error(d, p->file, p->line, p->col,
                      "\"interpret\": scripts cannot run from inside an archive");
        return 1;
    }
    for (size_t i = 0; i < o->interpret.n; i++) {
        const struct pt_kv *kv = &o->interpret.v[i];
        struct stat st;
        if (kv->name[0] != '.' || !kv->name[1]) {
            pt_diag_error(d, p->file, p->line, p->col,
                          "\"interpret\": \"%s\" is not a suffix (\".php\")", kv->name);
            errors++;
        } else if (kv->value[0] != '/' || stat(kv->value, &st) < 0 ||
                   !S_ISREG(st.st_mode) || access(kv->value, X_OK) < 0) {
            pt_diag_error(d, p->file, p->line, p->col,
                          "\"interpret\": \"%s\": \"%s\" is not an executable file "
                          "(an absolute path)", kv->name, kv->value);
            errors++;
        }
    }
    return errors;
}

static int file_setup(struct pt_mount *m, struct pt_diag *d)
{
    const struct pt_srcpos *p = &m->origin_pos;
    if (check_interpret(m, d))
        return -1;
    struct pt_file_mount *fm = calloc(1, sizeof *fm);
    if (!fm) {
        pt_diag_error(d, p->file, p->line, p->col, "out of memory");
        return -1;
    }
    pthread_mutex_init(&fm->lock, NULL);
    int rc = pt_froot_open(&fm->root, m->target);
    if (rc < 0) {
        bool archive = pt_fops_archive_name(m->target, strlen(m->target));
        const char *why = rc == -EBADMSG ? "not a valid zip archive (see the log)"
                        : rc == -ENOTSUP ? "ZIP64 and multi-disk archives are not supported"
                        : rc == -EFBIG ? "its index would need too much memory (see the log)"
                        : strerror(-rc);
        if (!archive) {
            pt_diag_error(d, p->file, p->line, p->col,
                          "origin \"%s\": cannot open directory \"%s\": %s", m->origin,
                          m->target, why);
            pthread_mutex_destroy(&fm->lock);
            free(fm);
            return -1;
        }
        /* A broken archive (a half-finished deploy, a disk error) takes
         * its own mount out, not the server. */
        pt_diag_mount_error(d, p->file, p->line, p->col,
                            "origin \"%s\": cannot open archive \"%s\": %s; its requests get "
                            "503 until it can be opened", m->origin, m->target, why);
        if (d && d->check_only) { /* -t: an error like any other */
            pthread_mutex_destroy(&fm->lock);
            free(fm);
            return -1;
        }
        atomic_store(&fm->broken, true);
    }
    const struct pt_file_opts *o = m->opts;
    const char *idx = o->def && *o->def ? o->def : "index.html";
    while (*idx == '/')
        idx++;
    if (!*idx)
        idx = "index.html";
    fm->index = idx;
    fm->index_len = strlen(idx);
    pt_cache_control(&o->cache, has_cache_key(m), fm->cache_control,
                     sizeof fm->cache_control);
    m->handler_data = fm;
    return 0;
}

static void file_teardown(struct pt_mount *m)
{
    struct pt_file_mount *fm = m->handler_data;
    if (!fm)
        return;
    if (!atomic_load(&fm->broken))
        pt_froot_close(&fm->root);
    pthread_mutex_destroy(&fm->lock);
    free(fm);
    m->handler_data = NULL;
}

/* ---- path checks and errors ---- */

/* Whether some segment of the (normalized) path starts with '.', apart
 * from a leading "/.well-known" (RFC 8615), which must stay reachable for
 * ACME and friends. */
static bool has_dot_segment(const char *p, size_t len)
{
    const char *end = p + len;
    if (len && p[0] == '.')
        return true;
    for (const char *s = p; s < end && (s = memchr(s, '/', (size_t)(end - s))); s++) {
        if (s + 1 == end || s[1] != '.')
            continue;
        if (s == p && end - s >= 12 && memcmp(s + 1, ".well-known", 11) == 0 &&
            (end - s == 12 || s[12] == '/'))
            continue;
        return true;
    }
    return false;
}

static void file_open_error(struct pt_req *r, int err)
{
    switch (-err) {
    case ENOENT:
    case ENOTDIR:
    case ENAMETOOLONG:
        pt_respond_error(r, 404, "no such file");
        return;
    case ELOOP:
    case EXDEV:
        /* Do not tell a prober that the path exists. */
        pt_respond_error(r, 404, "symlink or path leaving the mount root");
        return;
    case EACCES:
    case EPERM:
        pt_respond_error(r, 403, "file not readable or not a regular file");
        return;
    case EMFILE:
    case ENFILE:
        pt_respond_error(r, 503, "out of file descriptors");
        return;
    default:
        pt_respond_error(r, 500, strerror(-err));
        return;
    }
}

/* RFC 3986 pchar and '/': what may stand for itself in a Location path. */
static bool loc_safe(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || (c && strchr("-._~!$&'()*+,;=:@/", c));
}

/* A directory asked for without its trailing '/': relative links in its
 * index would resolve one level too high, so send the client to "dir/". */
static void file_redirect_slash(struct pt_req *r)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t qlen = r->query ? r->query_len : 0;
    char *loc = pt_pool_alloc(r->pool, 3 * (r->path_len + qlen) + 3), *o = loc;
    for (size_t i = 0; i < r->path_len; i++) {
        unsigned char c = (unsigned char)r->path[i];
        if (loc_safe(c)) {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o++ = '/';
    if (r->query) {
        /* Still encoded: escape only what cannot go in a header. */
        *o++ = '?';
        for (size_t i = 0; i < qlen; i++) {
            unsigned char c = (unsigned char)r->query[i];
            if (c > 0x20 && c < 0x7f && c != '#') {
                *o++ = (char)c;
            } else {
                *o++ = '%';
                *o++ = hex[c >> 4];
                *o++ = hex[c & 15];
            }
        }
    }
    *o = '\0';
    /* "//host" would be a network-path reference: an open redirect.  The
     * normalized path cannot produce it, but never emit one. */
    if (loc[0] != '/' || loc[1] == '/') {
        pt_respond_error(r, 404, "bad directory path");
        return;
    }
    pt_resp_header(r, "Location", loc);
    pt_respond(r, 301, 0, NULL, NULL);
}

/* ---- conditionals ---- */

/* The request fields that matter here, found in one pass over the headers
 * (instead of one pt_req_header() scan per name). */
struct pt_file_cond {
    const char *range, *if_range, *ims, *ius;
    size_t range_len, if_range_len, ims_len, ius_len;
    unsigned n_range;
    bool has_im, im_match;    /* If-Match */
    bool has_inm, inm_match;  /* If-None-Match */
};

static bool name_is(const struct pt_hdr *h, const char *lower, size_t len)
{
    return h->name_len == len && strncasecmp(h->name, lower, len) == 0;
}

static void file_scan(const struct pt_req *r, const char *etag,
                         size_t etag_len, struct pt_file_cond *c)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < r->n_hdrs; i++) {
        const struct pt_hdr *h = &r->hdrs[i];
        if (h->name_len < 5)
            continue;
        char c0 = (char)(h->name[0] | 0x20);
        if (c0 != 'i' && c0 != 'r')
            continue;
        switch (h->name_len) {
        case 5:
            if (name_is(h, "range", 5)) {
                c->n_range++;
                c->range = h->value;
                c->range_len = h->value_len;
            }
            break;
        case 8:
            if (name_is(h, "if-match", 8)) {
                /* Several field lines form one list: any member counts. */
                c->has_im = true;
                c->im_match = c->im_match ||
                    pt_etag_list_match(h->value, h->value_len, etag, etag_len, false);
            } else if (name_is(h, "if-range", 8) && !c->if_range) {
                c->if_range = h->value;
                c->if_range_len = h->value_len;
            }
            break;
        case 13:
            if (name_is(h, "if-none-match", 13)) {
                c->has_inm = true;
                c->inm_match = c->inm_match ||
                    pt_etag_list_match(h->value, h->value_len, etag, etag_len, true);
            }
            break;
        case 17:
            if (name_is(h, "if-modified-since", 17) && !c->ims) {
                c->ims = h->value;
                c->ims_len = h->value_len;
            }
            break;
        case 19:
            if (name_is(h, "if-unmodified-since", 19) && !c->ius) {
                c->ius = h->value;
                c->ius_len = h->value_len;
            }
            break;
        }
    }
}

/* Parses an HTTP-date header value, -1 if it is not one.  The value the
 * client echoes is nearly always our own Last-Modified: compare first. */
static int64_t file_date(const char *v, size_t len, const char *lm,
                            int64_t mtime)
{
    if (len == PT_HTTPDATE_LEN && memcmp(v, lm, len) == 0)
        return mtime;
    return (int64_t)pt_httpdate_parse(v, len);
}

enum { PT_COND_PASS, PT_COND_304, PT_COND_412 };

/* RFC 9110 13.2.2, steps 1-4, for GET and HEAD. */
static int file_preconditions(const struct pt_file_cond *c, const char *lm,
                                 int64_t mtime)
{
    if (c->has_im) {
        if (!c->im_match)
            return PT_COND_412;
    } else if (c->ius) {
        int64_t t = file_date(c->ius, c->ius_len, lm, mtime);
        if (t >= 0 && mtime > t)
            return PT_COND_412;
    }
    if (c->has_inm) {
        if (c->inm_match)
            return PT_COND_304;
    } else if (c->ims) {
        int64_t t = file_date(c->ims, c->ims_len, lm, mtime);
        if (t >= 0 && mtime <= t)
            return PT_COND_304;
    }
    return PT_COND_PASS;
}

/* If-Range (RFC 9110 13.1.5): a strong ETag match, or the exact
 * Last-Modified date.  A weak tag never matches. */
static bool file_if_range(const struct pt_file_cond *c, const char *etag,
                             size_t etag_len, const char *lm, int64_t mtime)
{
    const char *v = c->if_range;
    size_t n = c->if_range_len;
    if (!v)
        return true;
    if (n && v[0] == '"')
        return n == etag_len && memcmp(v, etag, n) == 0;
    if (n >= 2 && v[0] == 'W' && v[1] == '/')
        return false;
    int64_t t = file_date(v, n, lm, mtime);
    return t >= 0 && t == mtime;
}

/* Last-Modified for mtime, cached per thread: a site's files share few
 * mtimes, and a benchmark hits one file. */
static const char *file_last_modified(int64_t mtime)
{
    static _Thread_local int64_t cached_t = INT64_MIN;
    static _Thread_local char cached[PT_HTTPDATE_LEN + 1];
    if (mtime != cached_t) {
        pt_httpdate_format((time_t)mtime, cached);
        cached_t = mtime;
    }
    return cached;
}

/* ---- multipart/byteranges body ---- */

/* A part is a header string then a byte range of the representation; the
 * closing delimiter is a last part with no bytes. */
struct pt_mp_part {
    const char *hdr;
    size_t hdr_len;
    uint64_t start, len;
};

struct pt_mp_body {
    struct pt_view v;
    struct pt_mp_part parts[PT_RANGE_MAX + 1];
    unsigned n, i;
    uint64_t off;             /* within part i: header bytes, then data */
};

/* The data of the current part from the current position, when it is a
 * range of the file's fd (a plain file, or the deflate bytes inside a gzip
 * wrapper): the protocol may sendfile it. */
static bool mp_direct(const struct pt_mp_body *b, off_t *foff, uint64_t *len)
{
    if (b->i >= b->n)
        return false;
    const struct pt_mp_part *p = &b->parts[b->i];
    if (b->off < p->hdr_len || b->off - p->hdr_len >= p->len)
        return false;
    uint64_t pos = p->start + (b->off - p->hdr_len);
    uint64_t n = p->len - (b->off - p->hdr_len);
    if (b->v.gzip && pos >= PT_GZIP_HEAD && pos + n > PT_GZIP_HEAD + b->v.f.enc_size)
        n = PT_GZIP_HEAD + b->v.f.enc_size - pos; /* stop before the trailer */
    *len = n;
    return n && pt_view_direct(&b->v, pos, n, foff);
}

static ssize_t mp_read(struct pt_req *r, char *buf, size_t len)
{
    struct pt_mp_body *b = r->body_ctx;
    size_t out = 0;
    while (out < len && b->i < b->n) {
        const struct pt_mp_part *p = &b->parts[b->i];
        if (b->off < p->hdr_len) {
            size_t k = p->hdr_len - (size_t)b->off;
            if (k > len - out)
                k = len - out;
            memcpy(buf + out, p->hdr + b->off, k);
            out += k;
            b->off += k;
            off_t foff;
            uint64_t dlen;
            if (b->off == p->hdr_len && mp_direct(b, &foff, &dlen) && dlen >= 8192)
                break; /* the data can go by sendfile: stop here */
            continue;
        }
        uint64_t done = b->off - p->hdr_len;
        if (done < p->len) {
            uint64_t k = p->len - done;
            uint64_t pos = p->start + done;
            if (b->v.gzip && pos < PT_GZIP_HEAD && k > PT_GZIP_HEAD - pos)
                k = PT_GZIP_HEAD - pos; /* the wrapper's header alone */
            if (k > len - out)
                k = len - out;
            ssize_t n = pt_view_read(&b->v, buf + out, (size_t)k, pos);
            if (n <= 0)
                return PT_BODY_ERROR; /* the file shrank: abort, never pad */
            out += (size_t)n;
            b->off += (uint64_t)n;
            off_t foff;
            uint64_t dlen;
            if (mp_direct(b, &foff, &dlen) && dlen >= 8192)
                break; /* what follows can go by sendfile */
            continue;
        }
        b->i++;
        b->off = 0;
    }
    return (ssize_t)out;
}

static int mp_file(struct pt_req *r, int *fd, off_t *off, size_t *len)
{
    struct pt_mp_body *b = r->body_ctx;
    uint64_t n;
    if (!mp_direct(b, off, &n))
        return -1;
    *fd = b->v.f.fd;
    *len = (size_t)n;
    return 0;
}

static void mp_advance(struct pt_req *r, size_t n)
{
    struct pt_mp_body *b = r->body_ctx;
    b->off += n;
    if (b->off - b->parts[b->i].hdr_len >= b->parts[b->i].len) {
        b->i++;
        b->off = 0;
    }
}

static void mp_close(struct pt_req *r)
{
    struct pt_mp_body *b = r->body_ctx;
    if (b->v.f.fops)
        b->v.f.fops->close(&b->v.f);
    b->v.f.fops = NULL;
}

static const struct pt_body_ops mp_ops = {
    .read = mp_read,
    .file = mp_file,
    .advance = mp_advance,
    .close = mp_close,
};

/* A boundary that cannot plausibly occur in the file's bytes. */
static void mp_boundary(char out[25])
{
    static const char hex[] = "0123456789abcdef";
    static _Thread_local uint64_t counter;
    unsigned char rnd[10];
    if (getrandom(rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd) {
        uint64_t v = (uint64_t)time(NULL) ^ ((uint64_t)(uintptr_t)&counter << 16) ^ ++counter;
        memcpy(rnd, &v, 8);
        rnd[8] = (unsigned char)(counter >> 8);
        rnd[9] = (unsigned char)counter;
    }
    memcpy(out, "pt", 2);
    for (int i = 0; i < 10; i++) {
        out[2 + 2 * i] = hex[rnd[i] >> 4];
        out[3 + 2 * i] = hex[rnd[i] & 15];
    }
    out[22] = '\0';
}

/* Takes ownership of v. */
static void file_multipart(struct pt_req *r, struct pt_view *v,
                              const char *mime, const struct pt_range *rg,
                              unsigned n)
{
    struct pt_mp_body *b = pt_pool_calloc(r->pool, sizeof *b);
    char boundary[25];
    uint64_t total = 0;

    mp_boundary(boundary);
    b->v = *v;
    for (unsigned i = 0; i < n; i++) {
        struct pt_mp_part *p = &b->parts[i];
        char *h = pt_pool_printf(r->pool,
            "%s--%s\r\n%s%s%sContent-Range: bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64 "\r\n\r\n",
            i ? "\r\n" : "", boundary,
            *mime ? "Content-Type: " : "", mime, *mime ? "\r\n" : "",
            rg[i].start, rg[i].end, v->size);
        p->hdr = h;
        p->hdr_len = strlen(h);
        p->start = rg[i].start;
        p->len = rg[i].end - rg[i].start + 1;
        total += p->hdr_len + p->len;
    }
    struct pt_mp_part *t = &b->parts[n];
    t->hdr = pt_pool_printf(r->pool, "\r\n--%s--\r\n", boundary);
    t->hdr_len = strlen(t->hdr);
    total += t->hdr_len;
    b->n = n + 1;

    pt_resp_header(r, "Content-Type",
                   pt_pool_printf(r->pool, "multipart/byteranges; boundary=%s",
                                  boundary));
    pt_respond(r, 206, (int64_t)total, &mp_ops, b);
}

/* ---- serving ---- */

/* What is sent for the file: one representation and its coding. */
struct pt_rep {
    struct pt_view v;
    bool inflate;          /* identity of a deflate file: streamed, no ranges */
    bool vary;             /* the file has other codings: Vary */
    const char *coding;    /* Content-Encoding, or NULL */
};

/* One byte range of the representation as the body: sendfile when it is a
 * range of a plain fd, else read through the fops.  Takes ownership. */
static void file_body(struct pt_req *r, int status, struct pt_view *v,
                         uint64_t start, uint64_t len)
{
    off_t foff;
    /* A cached descriptor stays the cache's: the body releases it through
     * the fops (our own body source, sendfile included). */
    bool cached = v->f.fops == &pt_fops_posix && v->f.priv;
    if (!cached && pt_view_direct(v, start, len, &foff)) {
        int fd = v->f.fd;
        v->f.fd = -1; /* now pt_respond_file's */
        v->f.fops->close(&v->f);
        pt_respond_file(r, status, fd, true, foff, len);
        return;
    }
    if (!len) {
        v->f.fops->close(&v->f);
        pt_respond(r, status, 0, NULL, NULL);
        return;
    }
    struct pt_mp_body *b = pt_pool_calloc(r->pool, sizeof *b);
    b->v = *v;
    b->parts[0].start = start;
    b->parts[0].len = len;
    b->n = 1;
    pt_respond(r, status, (int64_t)len, &mp_ops, b);
}

static void rep_close(struct pt_rep *rep)
{
    rep->v.f.fops->close(&rep->v.f);
}

/* The whole representation as the body (status 200 or an error
 * document's). */
static void rep_body(struct pt_req *r, struct pt_rep *rep)
{
    if (rep->inflate)
        pt_respond_inflate(r, 200, &rep->v.f);
    else
        file_body(r, 200, &rep->v, 0, rep->v.size);
}

static void rep_headers(struct pt_req *r, const struct pt_rep *rep)
{
    if (rep->coding)
        pt_resp_header(r, "Content-Encoding", rep->coding);
    if (rep->vary)
        pt_resp_headern(r, "Vary", 4, "Accept-Encoding", 15);
}

static void file_serve(struct pt_req *r, struct pt_file_mount *fm,
                          struct pt_rep *rep, const char *mime)
{
    char etag[PT_ETAG_MAX], buf[96];
    const struct pt_fstat *st = &rep->v.f.st;
    uint64_t size = rep->v.size;

    /* An error document keeps the error status (pt_respond does that):
     * no validators, no 304, no ranges; it is not the target resource. */
    if (r->status_override) {
        if (*mime)
            pt_resp_header(r, "Content-Type", mime);
        rep_headers(r, rep);
        rep_body(r, rep);
        return;
    }

    size_t etag_len = pt_etag_format_rep(st, rep->coding ? "gz" : NULL, etag);
    int64_t mtime = st->mtime;
    const char *lm = file_last_modified(mtime);
    struct pt_file_cond c;
    file_scan(r, etag, etag_len, &c);

    switch (file_preconditions(&c, lm, mtime)) {
    case PT_COND_412:
        rep_close(rep);
        pt_respond_error(r, 412, "precondition failed");
        return;
    case PT_COND_304:
        rep_close(rep);
        /* RFC 9110 15.4.5: the fields a 200 would carry for caches; no
         * Last-Modified, since there is an ETag. */
        pt_resp_headern(r, "ETag", 4, etag, etag_len);
        pt_resp_header(r, "Cache-Control", fm->cache_control);
        if (rep->vary)
            pt_resp_headern(r, "Vary", 4, "Accept-Encoding", 15);
        pt_respond(r, 304, 0, NULL, NULL);
        return;
    }

    struct pt_range v[PT_RANGE_MAX];
    unsigned n = 0;
    int rr = PT_RANGE_NONE;
    /* Range is defined for GET only; two Range lines are no valid Range.
     * An inflated body is produced in order: it is always sent whole. */
    if (c.range && c.n_range == 1 && r->method == PT_M_GET && !rep->inflate &&
        file_if_range(&c, etag, etag_len, lm, mtime))
        rr = pt_range_parse(c.range, c.range_len, size, v, &n);

    if (rr == PT_RANGE_UNSATISFIABLE) {
        rep_close(rep);
        snprintf(buf, sizeof buf, "bytes */%" PRIu64, size);
        pt_resp_header(r, "Content-Range", buf);
        pt_respond_error(r, 416, "range not satisfiable");
        return;
    }

    pt_resp_headern(r, "ETag", 4, etag, etag_len);
    pt_resp_headern(r, "Last-Modified", 13, lm, PT_HTTPDATE_LEN);
    pt_resp_header(r, "Cache-Control", fm->cache_control);
    if (!rep->inflate)
        pt_resp_headern(r, "Accept-Ranges", 13, "bytes", 5);
    rep_headers(r, rep);

    if (rr == PT_RANGE_OK && n > 1) {
        file_multipart(r, &rep->v, mime, v, n);
        return;
    }
    if (*mime)
        pt_resp_header(r, "Content-Type", mime);
    if (rr == PT_RANGE_OK) {
        int len = snprintf(buf, sizeof buf, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64,
                           v[0].start, v[0].end, size);
        pt_resp_headern(r, "Content-Range", 13, buf, (size_t)len);
        file_body(r, 206, &rep->v, v[0].start, v[0].end - v[0].start + 1);
        return;
    }
    rep_body(r, rep);
}

/* gzip_static: "name.gz" beside "name", when it is not older, replaces f.
 * Returns whether it did. */
static bool file_precompressed(struct pt_req *r, struct pt_file_mount *fm,
                                  const char *name, size_t name_len,
                                  struct pt_file *f)
{
    struct pt_file gz;
    char *p = pt_pool_alloc(r->pool, name_len + 4);
    memcpy(p, name, name_len);
    memcpy(p + name_len, ".gz", 4);
    if (pt_fopen(&fm->root, pt_handler_state(r), p, &gz) < 0)
        return false;
    if (!gz.st.is_reg || gz.enc != PT_FENC_IDENTITY ||
        gz.st.mtime < f->st.mtime ||
        (gz.st.mtime == f->st.mtime && gz.st.mtime_nsec < f->st.mtime_nsec)) {
        gz.fops->close(&gz);
        return false;
    }
    f->fops->close(f);
    *f = gz;
    return true;
}

/* Picks the representation of f for this request.  Takes ownership. */
static void file_choose(struct pt_req *r, struct pt_file_mount *fm,
                           struct pt_file *f, const char *name,
                           size_t name_len, struct pt_rep *rep)
{
    bool gzip = pt_req_accepts_gzip(r);
    memset(rep, 0, sizeof *rep);
    if (f->enc == PT_FENC_DEFLATE) {
        /* Stored deflated: gzip is the stored bytes, identity costs an
         * inflate; both exist, so caches must key on Accept-Encoding. */
        rep->vary = true;
        rep->inflate = !gzip;
        rep->coding = gzip ? "gzip" : NULL;
        pt_view_init(&rep->v, f, gzip);
        return;
    }
    if (gzip && !r->status_override &&
        file_precompressed(r, fm, name, name_len, f)) {
        rep->vary = true;
        rep->coding = "gzip";
    }
    pt_view_init(&rep->v, f, false);
}

static void file_close(struct pt_file *f)
{
    f->fops->close(f);
}

/* Opens the directory's index.  dir is "" or "/..."; returns 0 or -errno
 * and sets *name to the index's virtual path. */
static int file_open_index(struct pt_req *r, struct pt_file_mount *fm,
                              const char *dir, size_t dir_len,
                              struct pt_file *f, const char **name,
                              size_t *name_len)
{
    bool slash = dir_len && dir[dir_len - 1] == '/';
    size_t len = dir_len + !slash + fm->index_len;
    char *p = pt_pool_alloc(r->pool, len + 1);
    memcpy(p, dir, dir_len);
    if (!slash)
        p[dir_len] = '/';
    memcpy(p + dir_len + !slash, fm->index, fm->index_len + 1);
    *name = p;
    *name_len = len;
    return pt_fopen(&fm->root, pt_handler_state(r), p, f);
}

/* A broken archive is tried again, once a second at most (by one worker
 * at a time); true when it can be served now. */
static bool archive_usable(const struct pt_mount *m, struct pt_file_mount *fm, double now)
{
    if (!atomic_load_explicit(&fm->broken, memory_order_acquire))
        return true;
    pthread_mutex_lock(&fm->lock);
    if (atomic_load(&fm->broken) && now >= fm->retry_at) {
        fm->retry_at = now + 1;
        if (pt_froot_open(&fm->root, m->target) == 0) {
            pt_notice("%s: archive \"%s\" opened: serving it again", m->mountpoint,
                      m->target);
            atomic_store_explicit(&fm->broken, false, memory_order_release);
        }
    }
    pthread_mutex_unlock(&fm->lock);
    return !atomic_load(&fm->broken);
}


/* A certbot-style webroot: /.well-known/acme-challenge/TOKEN is served
 * from a file mount as it is, without a special mount or a suffix. */
static bool is_acme_challenge(const struct pt_req *r)
{
    static const char prefix[] = "/.well-known/acme-challenge/";
    return r->path_len > sizeof prefix - 1 &&
           memcmp(r->path, prefix, sizeof prefix - 1) == 0;
}

static bool method_refused(struct pt_req *r)
{
    if (r->status_override || r->method == PT_M_GET || r->method == PT_M_HEAD)
        return false;
    pt_resp_header(r, "Allow", PT_FILE_ALLOW);
    if (r->method == PT_M_OPTIONS)
        pt_respond(r, 204, 0, NULL, NULL);
    else if (r->method == PT_M_OTHER) /* RFC 9110 15.6.2: not one we know */
        pt_respond_error(r, 501, "unknown method");
    else
        pt_respond_error(r, 405, "method not allowed on a file mount");
    return true;
}

/* "interpret": the interpreter for a file of this suffix, or NULL. */
static const char *interpreter_for(const struct pt_file_opts *o, const char *name,
                                   size_t len)
{
    for (size_t i = 0; i < o->interpret.n; i++) {
        const char *ext = o->interpret.v[i].name;
        size_t el = strlen(ext);
        if (len > el && strncasecmp(name + len - el, ext, el) == 0)
            return o->interpret.v[i].value;
    }
    return NULL;
}

/* The file (name, under the mount's directory: resolved inside it
 * already) runs through the CGI handler. */
static void run_script(struct pt_req *r, const char *interpreter, const char *name,
                       size_t len, bool want_dir)
{
    const struct pt_mount *m = r->mount;
    size_t tl = strlen(m->target);
    while (tl > 1 && m->target[tl - 1] == '/')
        tl--;
    const char *script = pt_pool_printf(r->pool, "%.*s%s%.*s", (int)tl, m->target,
                                        name[0] == '/' ? "" : "/", (int)len, name);
    const struct pt_file_mount *fm = m->handler_data;
    const char *url = want_dir ? pt_pool_printf(r->pool, "%.*s%s", (int)r->path_len, r->path,
                                                fm->index)
                               : pt_pool_strndup(r->pool, r->path, r->path_len);
    size_t n;
    const struct pt_handler *cgi = pt_handler_for_origin("cgi://", &n);
    if (!cgi || cgi->struct_size <= offsetof(struct pt_handler, interpret) ||
        !cgi->interpret) {
        pt_respond_error(r, 501, "no CGI handler for interpret");
        return;
    }
    cgi->interpret(r, interpreter, script, url);
}

static void file_handle(struct pt_req *r)
{
    const struct pt_mount *m = r->mount;
    const struct pt_file_opts *o = m->opts;
    struct pt_file_mount *fm = m->handler_data;

    if (!archive_usable(m, fm, r->start)) {
        pt_resp_header(r, "Retry-After", "5");
        pt_respond_error(r, 503, "the archive of this mount cannot be opened");
        return;
    }

    /* With scripts (interpret), the method is the script's business. */
    bool scripts = o->interpret.n > 0;
    if (!scripts && method_refused(r))
        return;

    const char *rest = r->rest ? r->rest : "";
    size_t rest_len = r->rest ? r->rest_len : 0;
    if (!o->allow_dotfiles && has_dot_segment(rest, rest_len)) {
        pt_respond_error(r, 404, "dotfile");
        return;
    }

    struct pt_file f;
    const char *name = rest;
    size_t name_len = rest_len;
    bool want_dir = r->path_len && r->path[r->path_len - 1] == '/';
    int rc;

    if (want_dir) {
        /* "/dir/": try the index straight away (one open, not two); only
         * when that fails, look at the directory to pick the status. */
        rc = file_open_index(r, fm, rest, rest_len, &f, &name, &name_len);
        if (rc == -ENOENT) {
            rc = pt_fopen(&fm->root, pt_handler_state(r), rest, &f);
            if (rc == 0) {
                bool dir = f.st.is_dir;
                file_close(&f);
                if (dir)
                    pt_respond_error(r, 403, "directory without index");
                else
                    pt_respond_error(r, 404, "not a directory");
                return;
            }
        }
    } else {
        rc = pt_fopen(&fm->root, pt_handler_state(r), rest, &f);
        if (rc == 0 && f.st.is_dir) {
            file_close(&f);
            file_redirect_slash(r);
            return;
        }
    }
    if (rc < 0) {
        file_open_error(r, rc);
        return;
    }
    if (!f.st.is_reg) {
        /* The index itself is a directory. */
        file_close(&f);
        pt_respond_error(r, 403, "not a regular file");
        return;
    }
    if (scripts) {
        const char *interpreter = interpreter_for(o, name, name_len);
        if (interpreter) {
            file_close(&f);
            run_script(r, interpreter, name, name_len, want_dir);
            return;
        }
        if (method_refused(r)) {
            file_close(&f);
            return;
        }
    }

    const struct pt_kvlist *more[] = { r->mount->vhost_mimes, r->mount->global_mimes };
    const char *mime = pt_mime_lookup_more(&o->extra_mimetypes, more, 2, name, name_len);
    if (!mime && is_acme_challenge(r))
        mime = "text/plain"; /* ACME http-01 tokens have no suffix (RFC 8555 8.3) */
    if (!mime) {
        file_close(&f);
        pt_respond_error(r, 403, "file type not served (no mimetype)");
        return;
    }
    struct pt_rep rep;
    file_choose(r, fm, &f, name, name_len, &rep);
    file_serve(r, fm, &rep, mime);
}

/* The open-file cache is per worker: no locks on the hot path. */
static void *file_worker_init(struct pt_worker *w)
{
    return pt_fcache_new(w->loop);
}

static void file_worker_dispose(struct pt_worker *w, void *state)
{
    (void)w;
    pt_fcache_free(state);
}

static const char *const file_schemes[] = {"file://", NULL};

const struct pt_handler pt_handler_file = {
    .abi_version = PT_HANDLER_ABI,
    .struct_size = sizeof(struct pt_handler),
    .name = "file",
    .schemes = file_schemes,
    .opts_size = sizeof(struct pt_file_opts),
    .keys = file_keys,
    .setup = file_setup,
    .teardown = file_teardown,
    .worker_init = file_worker_init,
    .worker_dispose = file_worker_dispose,
    .handle = file_handle,
    .flags = PT_HANDLER_TARGET_PATH | PT_HANDLER_CAPTURES,
};
