/* File ops for members of zip archives.
 *
 * Per open: the archive is opened (confined to the root like any file,
 * with one fstat), its index is found in a small cache keyed by device and
 * inode and checked against size and mtime, and the member is looked up in
 * O(1).  The central directory is read only when the archive is new or
 * has changed.  A member is then just a byte range of the archive's fd:
 * stored members read (and sendfile) like plain files; deflated ones are
 * handed out as their raw deflate stream (PT_FENC_DEFLATE) for the caller
 * to send as gzip or inflate.
 *
 * Workers are threads: the cache is a mutex-protected table of refcounted
 * archives; an open file holds a reference, so a rebuilt index never pulls
 * the entries out from under a response in flight.  The cache is bounded
 * by count and by bytes (an index is bounded too: zip_index.h), evicting
 * the least recently used. */
#include "fops/fops.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/log.h"
#include "fops/zip_index.h"

#define PT_ZIP_CACHE_MAX 64   /* archives whose index is kept... */
#define PT_ZIP_CACHE_BYTES ((size_t)256 << 20) /* ...and their memory, at most */
#define PT_ZIP_ROOT UINT64_MAX /* aux of the archive's root directory */
/* aux of an implied directory: this bit, its name's length << 32, and the
 * entry of a member below it (whose name begins with the directory's). */
#define PT_ZIP_IMPLIED ((uint64_t)1 << 63)

struct pt_zip_arch {
    atomic_uint refs;
    uint64_t dev, ino, size;
    int64_t mtime, mtime_nsec;
    struct pt_zip_index *idx;   /* NULL when the archive is unusable... */
    int err;                    /* ...and then why (-errno) */
    uint64_t used;              /* LRU clock */
    char path[];                /* for log lines */
};

/* Where an archive is, formatted only for a log line or a new index (not
 * on every request). */
struct pt_zip_where {
    const struct pt_froot *root;
    const char *rel;      /* below a directory root; NULL: the root itself */
    size_t rel_len;
};

static void zip_where_fmt(const struct pt_zip_where *w, char *buf, size_t len)
{
    if (!w->rel)
        snprintf(buf, len, "%s", w->root->path);
    else
        snprintf(buf, len, "%s/%.*s", w->root->path, (int)w->rel_len, w->rel);
}

static pthread_mutex_t zip_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pt_zip_arch *zip_cache[PT_ZIP_CACHE_MAX];
static size_t zip_cache_bytes;
static uint64_t pt_zip_clock;

static void zip_unref(struct pt_zip_arch *a)
{
    if (a && atomic_fetch_sub(&a->refs, 1) == 1) {
        pt_zip_index_free(a->idx);
        free(a);
    }
}

static size_t zip_bytes(const struct pt_zip_arch *a)
{
    return a->idx ? a->idx->bytes : 0;
}

/* Drops slot i from the cache (its users keep their references). */
static void zip_evict(int i)
{
    zip_cache_bytes -= zip_bytes(zip_cache[i]);
    zip_unref(zip_cache[i]);
    zip_cache[i] = NULL;
}

/* Evicts the least recently used archives, never keep, until the cache
 * is within its byte budget. */
static void zip_trim(const struct pt_zip_arch *keep)
{
    while (zip_cache_bytes > PT_ZIP_CACHE_BYTES) {
        int lru = -1;
        for (int i = 0; i < PT_ZIP_CACHE_MAX; i++)
            if (zip_cache[i] && zip_cache[i] != keep &&
                (lru < 0 || zip_cache[i]->used < zip_cache[lru]->used))
                lru = i;
        if (lru < 0)
            return;
        zip_evict(lru);
    }
}

static ssize_t zip_pread(void *ctx, void *buf, size_t len, uint64_t off)
{
    ssize_t n;
    do
        n = pread(*(int *)ctx, buf, len, (off_t)off);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

static bool zip_same(const struct pt_zip_arch *a, const struct pt_fstat *st)
{
    return a->dev == st->dev && a->ino == st->ino && a->size == st->size &&
           a->mtime == st->mtime && a->mtime_nsec == st->mtime_nsec;
}

/* Reads the archive's central directory into a new (unshared) entry. */
static struct pt_zip_arch *zip_build(int fd, const struct pt_fstat *st,
                                        const struct pt_zip_where *w)
{
    char path[PATH_MAX];
    zip_where_fmt(w, path, sizeof path);
    size_t plen = strlen(path);
    struct pt_zip_arch *a = calloc(1, sizeof *a + plen + 1);
    if (!a)
        return NULL;
    atomic_init(&a->refs, 1);
    a->dev = st->dev;
    a->ino = st->ino;
    a->size = st->size;
    a->mtime = st->mtime;
    a->mtime_nsec = st->mtime_nsec;
    memcpy(a->path, path, plen + 1);
    a->err = pt_zip_index_build(zip_pread, &fd, st->size, &a->idx);
    if (a->err == -EFBIG)
        pt_err("zip: %s: not usable: its index would need more than %zu MiB of memory",
               path, PT_ZIP_INDEX_BYTES_MAX >> 20);
    else if (a->err < 0)
        pt_err("zip: %s: not a usable zip archive: %s", path,
               a->err == -ENOTSUP ? "ZIP64 or multi-disk archive (unsupported)"
                                  : strerror(-a->err));
    else if (a->idx->n_unsafe || a->idx->n_bad)
        pt_warn("zip: %s: %u member(s) with unsafe names ignored, %u member(s)"
                " unusable", path, a->idx->n_unsafe, a->idx->n_bad);
    else
        pt_info("zip: %s: indexed %u entries", path, a->idx->n);
    return a;
}

/* The archive open as fd (stat st), with its index: cached, or read now.
 * Returns a reference, or NULL when out of memory. */
static struct pt_zip_arch *zip_get(int fd, const struct pt_fstat *st,
                                      const struct pt_zip_where *w)
{
    pthread_mutex_lock(&zip_lock);
    for (int i = 0; i < PT_ZIP_CACHE_MAX; i++) {
        struct pt_zip_arch *a = zip_cache[i];
        if (!a || a->dev != st->dev || a->ino != st->ino)
            continue;
        if (zip_same(a, st)) {
            atomic_fetch_add(&a->refs, 1);
            a->used = ++pt_zip_clock;
            pthread_mutex_unlock(&zip_lock);
            return a;
        }
        zip_evict(i); /* changed on disk: read it again */
    }
    pthread_mutex_unlock(&zip_lock);

    /* Outside the lock: other archives stay served meanwhile.  Two threads
     * may both read a new archive; the second to finish uses the first's. */
    struct pt_zip_arch *mine = zip_build(fd, st, w);
    if (!mine)
        return NULL;

    pthread_mutex_lock(&zip_lock);
    int slot = -1;
    for (int i = 0; i < PT_ZIP_CACHE_MAX; i++) {
        struct pt_zip_arch *a = zip_cache[i];
        if (a && zip_same(a, st)) {
            atomic_fetch_add(&a->refs, 1);
            a->used = ++pt_zip_clock;
            pthread_mutex_unlock(&zip_lock);
            zip_unref(mine);
            return a;
        }
        if (slot < 0 || !a || (zip_cache[slot] && a->used < zip_cache[slot]->used))
            slot = i;
    }
    if (zip_cache[slot])
        zip_evict(slot); /* the least recently used, when full */
    atomic_fetch_add(&mine->refs, 1);    /* the cache's reference */
    mine->used = ++pt_zip_clock;
    zip_cache[slot] = mine;
    zip_cache_bytes += zip_bytes(mine);
    zip_trim(mine);
    pthread_mutex_unlock(&zip_lock);
    return mine;
}

void pt_zip_cache_flush(void)
{
    pthread_mutex_lock(&zip_lock);
    for (int i = 0; i < PT_ZIP_CACHE_MAX; i++)
        if (zip_cache[i])
            zip_evict(i);
    pthread_mutex_unlock(&zip_lock);
}

/* ---- finding the archive ---- */

/* Whether root is an archive root (else a directory root that archives
 * are found below). */
static bool zip_is_root(const struct pt_froot *root)
{
    return root->fops == &pt_fops_zip;
}

/* Opens the archive of an archive root: by name in its directory, so a
 * replaced archive is seen at once, with a one-component lookup. */
static int zip_open_root_archive(const struct pt_froot *root, struct pt_file *af)
{
    const char *name = strrchr(root->path, '/');
    name = name && name[1] ? name + 1 : root->path;
    int fd = openat(root->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    struct stat st;
    int err = fstat(fd, &st) < 0 ? errno : S_ISREG(st.st_mode) ? 0 : EACCES;
    if (err) {
        close(fd);
        return -err;
    }
    memset(af, 0, sizeof *af);
    af->fd = fd;
    af->st.size = (uint64_t)st.st_size;
    af->st.mtime = (int64_t)st.st_mtim.tv_sec;
    af->st.mtime_nsec = (int64_t)st.st_mtim.tv_nsec;
    af->st.ino = (uint64_t)st.st_ino;
    af->st.dev = (uint64_t)st.st_dev;
    af->st.is_reg = true;
    return 0;
}

/* Below a directory root: the longest prefix of vpath naming an archive
 * that is a regular file.  Returns 0 (af open, *member set), 1 when the
 * path crosses no archive (a directory called "x.zip"), or -errno. */
static int zip_find(const struct pt_froot *root, const char *vpath,
                       struct pt_file *af, const char **member)
{
    char path[PATH_MAX];
    size_t end = strlen(vpath);
    while ((end = pt_fops_archive_prefix(vpath, end)) != 0) {
        if (end >= sizeof path)
            return -ENAMETOOLONG;
        memcpy(path, vpath, end);
        path[end] = '\0';
        int rc = pt_fops_posix.open(root, path, af);
        if (rc == -ENOTDIR)
            continue; /* a shorter prefix is a file: maybe the archive */
        if (rc < 0)
            return rc;
        if (af->st.is_reg) {
            *member = vpath + end;
            return 0;
        }
        pt_fops_posix.close(af);
        return 1;
    }
    return 1;
}

/* ---- the ops ---- */

static void zip_describe_arch(const struct pt_zip_arch *a, uint64_t aux,
                                 char *buf, size_t len)
{
    if (aux == PT_ZIP_ROOT || !a->idx) {
        snprintf(buf, len, "%s:/", a->path);
        return;
    }
    const struct pt_zip_entry *e = &a->idx->e[(uint32_t)aux];
    bool implied = aux & PT_ZIP_IMPLIED;
    int nlen = implied ? (int)((aux >> 32) & 0xffff) : (int)e->name_len;
    snprintf(buf, len, "%s:%.*s%s", a->path, nlen, pt_zip_name(a->idx, e),
             implied || e->is_dir ? "/" : "");
}

static void zip_describe(const struct pt_file *f, char *buf, size_t len)
{
    zip_describe_arch(f->priv, f->aux, buf, len);
}

/* Fills out for the member (or the root when e is NULL) of archive a, or
 * for the directory made of the first implied_len bytes of e's name. */
static void zip_fill(struct pt_file *out, const struct pt_file *af,
                        struct pt_zip_arch *a, const struct pt_zip_entry *e,
                        size_t implied_len)
{
    memset(out, 0, sizeof *out);
    out->fops = &pt_fops_zip;
    out->fd = af->fd;
    out->priv = a;
    out->st.dev = af->st.dev;
    out->st.ino = af->st.ino;
    out->st.mtime = af->st.mtime;
    if (!e) {
        out->aux = PT_ZIP_ROOT;
        out->st.is_dir = true;
        return;
    }
    out->aux = (uint64_t)(e - a->idx->e);
    if (implied_len) {
        out->aux |= PT_ZIP_IMPLIED | (uint64_t)implied_len << 32;
        out->st.is_dir = true;
        return;
    }
    if (e->is_dir) {
        out->st.is_dir = true;
        if (e->mtime)
            out->st.mtime = e->mtime;
        return;
    }
    out->base = (off_t)e->data_off;
    out->st.size = e->usize;
    out->st.mtime = e->mtime;
    out->st.is_reg = true;
    out->st.has_crc = true;
    out->st.crc32 = e->crc;
    out->enc = e->method == PT_ZIP_DEFLATED ? PT_FENC_DEFLATE : PT_FENC_IDENTITY;
    out->enc_size = e->csize;
}

static int zip_open(const struct pt_froot *root, const char *vpath,
                       struct pt_file *out)
{
    struct pt_file af;
    const char *member = vpath;
    struct pt_zip_where w = { root, NULL, 0 };
    int rc;

    if (zip_is_root(root)) {
        rc = zip_open_root_archive(root, &af);
    } else {
        rc = zip_find(root, vpath, &af, &member);
        if (rc == 1)
            return pt_fops_posix.open(root, vpath, out);
        w.rel = vpath + (*vpath == '/');
        w.rel_len = (size_t)(member - w.rel);
    }
    if (rc < 0)
        return rc;

    struct pt_zip_arch *a = zip_get(af.fd, &af.st, &w);
    if (!a) {
        close(af.fd);
        return -ENOMEM;
    }
    while (*member == '/')
        member++;
    size_t len = strlen(member);
    bool want_dir = len && member[len - 1] == '/';
    if (!a->idx) {
        rc = a->err == -ENOTSUP ? -ENOTSUP : -EBADMSG;
        pt_err("zip: %s: cannot serve \"%s\": the archive is not usable", a->path, member);
        goto fail;
    }
    const struct pt_zip_entry *e = NULL;
    size_t implied = 0;
    if (len - want_dir > 0) {
        e = pt_zip_lookup(a->idx, member, len);
        if (!e && (e = pt_zip_implied(a->idx, member, len - want_dir)))
            implied = len - want_dir;
        if (!e) {
            rc = -ENOENT;
            goto fail;
        }
        if (!implied && e->err) {
            char what[PATH_MAX + 64];
            zip_describe_arch(a, (uint64_t)(e - a->idx->e), what, sizeof what);
            pt_err("zip: %s: %s", what, pt_zip_strerror(e->err));
            rc = e->err == PT_ZIP_E_ZIP64 || e->err == PT_ZIP_E_ENCRYPTED ||
                 e->err == PT_ZIP_E_METHOD ? -ENOTSUP : -EBADMSG;
            goto fail;
        }
        if (want_dir && !e->is_dir && !implied) {
            rc = -ENOTDIR;
            goto fail;
        }
    }
    zip_fill(out, &af, a, e, implied);
    return 0;
fail:
    zip_unref(a);
    close(af.fd);
    return rc;
}

static ssize_t zip_read(struct pt_file *f, void *buf, size_t len, uint64_t off)
{
    if (off >= f->enc_size)
        return 0;
    if (len > f->enc_size - off)
        len = (size_t)(f->enc_size - off);
    int fd = f->fd;
    return zip_pread(&fd, buf, len, (uint64_t)f->base + off);
}

static void zip_close(struct pt_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    zip_unref(f->priv);
    f->priv = NULL;
}

const struct pt_fops pt_fops_zip = {
    .name = "zip",
    .open = zip_open,
    .read = zip_read,
    .close = zip_close,
    .describe = zip_describe,
};

int pt_zip_root_open(struct pt_froot *root, const char *path)
{
    root->fops = &pt_fops_zip;
    root->dirfd = -1;
    root->path = realpath(path, NULL);
    if (!root->path)
        return -errno;
    /* The archive's directory, to open the archive by name in it. */
    char *slash = strrchr(root->path, '/');
    int rc = 0;
    *slash = '\0';
    root->dirfd = open(slash == root->path ? "/" : root->path,
                       O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root->dirfd < 0)
        rc = -errno;
    *slash = '/';
    struct pt_file af;
    if (rc == 0)
        rc = zip_open_root_archive(root, &af);
    if (rc == 0) {
        /* Read the central directory now: a broken archive is a
         * configuration error, reported at load. */
        struct pt_zip_where w = { root, NULL, 0 };
        struct pt_zip_arch *a = zip_get(af.fd, &af.st, &w);
        rc = !a ? -ENOMEM : a->idx ? 0 : a->err;
        zip_unref(a);
        close(af.fd);
    }
    if (rc < 0) {
        if (root->dirfd >= 0)
            close(root->dirfd);
        root->dirfd = -1;
        free(root->path);
        root->path = NULL;
        root->fops = &pt_fops_posix;
    }
    return rc;
}
