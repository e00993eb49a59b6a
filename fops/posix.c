/* File ops for a plain directory tree.
 *
 * Every open is relative to the root's directory fd and is confined to it:
 * with openat2(2) the kernel resolves the path with RESOLVE_BENEATH (no
 * "..", absolute path or symlink may leave the root; symlinks that stay
 * inside are followed) and RESOLVE_NO_MAGICLINKS (no /proc/self/fd/N
 * tricks).  Absolute symlinks, which RESOLVE_BENEATH always refuses, are
 * followed and then served only if the opened descriptor's real path lies
 * below the root's.  Kernels before 5.6, or sandboxes whose seccomp filter hides the
 * syscall, get a component-by-component walk with O_NOFOLLOW that refuses
 * every symlink: stricter, never looser. */
#include "fops/fops.h"
#include "fops/fcache.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Paths are resolved with O_PATH (nothing is opened: no device, FIFO or
 * socket sees an open), the object is checked (fstat: a regular file or a
 * directory), and only then opened for reading, from that very descriptor
 * (content_fd).  O_NONBLOCK, O_NOCTTY: belt and braces. */
#define PT_OPEN_FLAGS (O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
#define PT_PATH_FLAGS (O_PATH | O_CLOEXEC)

/* 1: openat2 works, -1: missing (use the walk), 0: not probed yet. */
static atomic_int pt_openat2_state;

/* Tests force the fallback walk with this; not part of the API. */
void pt_fops_posix_force_walk(int on);
void pt_fops_posix_force_walk(int on)
{
    atomic_store(&pt_openat2_state, on ? -1 : 0);
}

static int open_beneath(int dirfd, const char *path)
{
    struct open_how how = {
        .flags = PT_PATH_FLAGS,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };
    long fd;
    do
        fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
    while (fd < 0 && errno == EINTR);
    return fd < 0 ? -errno : (int)fd;
}

/* The fallback: walks "a/b/c" one component at a time.  Intermediate
 * components must be real directories; the last must not be a symlink. */
static int open_walk(int rootfd, const char *path)
{
    char name[NAME_MAX + 1];
    int cur = rootfd;
    const char *p = path;

    for (;;) {
        while (*p == '/')
            p++;
        const char *end = strchrnul(p, '/');
        size_t len = (size_t)(end - p);
        const char *next = end;
        while (*next == '/')
            next++;
        bool last = *next == '\0';

        if (len == 0) {
            /* Only reached for "" or a path of slashes: the root itself. */
            int fd = openat(cur, ".", PT_PATH_FLAGS);
            int err = fd < 0 ? -errno : fd;
            if (cur != rootfd)
                close(cur);
            return err;
        }
        if (len > NAME_MAX) {
            if (cur != rootfd)
                close(cur);
            return -ENAMETOOLONG;
        }
        memcpy(name, p, len);
        name[len] = '\0';
        if (strcmp(name, "..") == 0) {
            if (cur != rootfd)
                close(cur);
            return -EXDEV;
        }

        int fd;
        if (!last) /* only searched, like the kernel's own walk: O_PATH */
            fd = openat(cur, name, O_PATH | O_CLOEXEC | O_NOFOLLOW | O_DIRECTORY);
        else if (*end == '/') /* "name/" must be a directory */
            fd = openat(cur, name, PT_PATH_FLAGS | O_NOFOLLOW | O_DIRECTORY);
        else
            fd = openat(cur, name, PT_PATH_FLAGS | O_NOFOLLOW);
        int err = fd < 0 ? errno : 0;
        if (cur != rootfd)
            close(cur);
        if (fd < 0)
            return -err;
        if (last)
            return fd;
        cur = fd;
        p = next;
    }
}

/* RESOLVE_BENEATH refuses every absolute symlink, even one that points
 * back inside the root (common in deployed trees).  For those only: open
 * following links, then check where the opened file really is; the check
 * is on the descriptor itself, so no rename race can slip past it. */
static int open_verified(const struct pt_froot *root, const char *path)
{
    int fd = openat(root->dirfd, *path ? path : ".", PT_PATH_FLAGS);
    if (fd < 0)
        return -errno;
    char link[64], real[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, real, sizeof real - 1);
    size_t rl = strlen(root->path);
    if (n < 0 || (size_t)n < rl || memcmp(real, root->path, rl) != 0 ||
        ((size_t)n > rl && real[rl] != '/' && rl > 1)) {
        close(fd);
        return -EXDEV;
    }
    return fd;
}

static int open_path(const struct pt_froot *root, const char *path)
{
    if (atomic_load_explicit(&pt_openat2_state, memory_order_relaxed) >= 0) {
        /* "" means the root: openat2 wants "." for that. */
        int fd = open_beneath(root->dirfd, *path ? path : ".");
        if (fd == -EXDEV)
            return open_verified(root, path);
        if (fd != -ENOSYS)
            return fd;
        atomic_store(&pt_openat2_state, -1);
    }
    return open_walk(root->dirfd, path);
}

/* Decides once, at config load rather than on a request, whether openat2
 * works here.  EPERM counts as missing: seccomp filters that predate
 * openat2 (older container runtimes) answer it that way. */
static void openat2_probe(int dirfd)
{
    if (atomic_load(&pt_openat2_state) != 0)
        return;
    int fd = open_beneath(dirfd, ".");
    if (fd >= 0) {
        close(fd);
        atomic_store(&pt_openat2_state, 1);
    } else if (fd == -ENOSYS || fd == -EPERM) {
        atomic_store(&pt_openat2_state, -1);
    }
}

static void fstat_fill(const struct stat *st, struct pt_fstat *out)
{
    memset(out, 0, sizeof *out);
    out->size = (uint64_t)st->st_size;
    out->mtime = (int64_t)st->st_mtim.tv_sec;
    out->mtime_nsec = (int64_t)st->st_mtim.tv_nsec;
    out->ino = (uint64_t)st->st_ino;
    out->dev = (uint64_t)st->st_dev;
    out->is_dir = S_ISDIR(st->st_mode);
    out->is_reg = S_ISREG(st->st_mode);
}

static void posix_fill(struct pt_file *out, int fd, const struct stat *st);

/* pfd (O_PATH, consumed) opened for reading when it is a regular file or
 * a directory; devices, FIFOs and sockets are never opened: -EACCES.  The
 * reopen goes through /proc/self/fd, so it is the very object checked;
 * without /proc, the path is opened again and must be the same object. */
static int content_fd(const struct pt_froot *root, const char *path, int pfd, struct stat *st)
{
    if (fstat(pfd, st) < 0) {
        int err = errno;
        close(pfd);
        return -err;
    }
    if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode)) {
        close(pfd);
        /* The walk stops at a symlink (O_PATH | O_NOFOLLOW gives the link
         * itself): refused as a link, not as a file type. */
        return S_ISLNK(st->st_mode) ? -ELOOP : -EACCES;
    }
    char link[32];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", pfd);
    int fd = open(link, PT_OPEN_FLAGS);
    int err = errno;
    if (fd < 0 && err == ENOENT) {
        fd = openat(root->dirfd, *path ? path : ".", PT_OPEN_FLAGS | O_NOFOLLOW);
        err = errno;
        struct stat again;
        if (fd >= 0 && (fstat(fd, &again) < 0 || again.st_ino != st->st_ino ||
                        again.st_dev != st->st_dev)) {
            close(fd);
            fd = -1;
            err = EXDEV; /* it changed under us */
        }
    }
    close(pfd);
    return fd < 0 ? -err : fd;
}

static int posix_open(const struct pt_froot *root, const char *vpath,
                         struct pt_file *out)
{
    while (*vpath == '/')
        vpath++;
    int pfd = open_path(root, vpath);
    if (pfd < 0)
        return pfd;
    struct stat st;
    int fd = content_fd(root, vpath, pfd, &st);
    if (fd < 0)
        return fd;
    posix_fill(out, fd, &st);
    return 0;
}

static ssize_t posix_read(struct pt_file *f, void *buf, size_t len,
                             uint64_t off)
{
    int64_t mt = f->st.mtime * 1000000000LL + f->st.mtime_nsec;
    if (f->priv) {
        ssize_t n = pt_fcache_read(f->priv, f->st.size, mt, buf, len, off);
        if (n >= 0)
            return n;
    }
    ssize_t n;
    do
        n = pread(f->fd, buf, len, f->base + (off_t)off);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    /* A small file read whole: keep its bytes with the cached descriptor. */
    if (f->priv && off == 0 && (uint64_t)n == f->st.size)
        pt_fcache_keep(f->priv, f->st.size, mt, buf, (size_t)n);
    return n;
}

static void posix_close(struct pt_file *f)
{
    if (f->priv)
        pt_fcache_release(f->priv); /* the cache keeps the descriptor */
    else if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    f->priv = NULL;
}

static void posix_fill(struct pt_file *out, int fd, const struct stat *st)
{
    out->fops = &pt_fops_posix;
    out->fd = fd;
    out->base = 0;
    out->priv = NULL;
    out->aux = 0;
    fstat_fill(st, &out->st);
    out->enc = PT_FENC_IDENTITY;
    out->enc_size = out->st.size;
}

int pt_posix_open_cached(const struct pt_froot *root, struct pt_fcache *cache,
                         const char *vpath, struct pt_file *out)
{
    if (!cache)
        return posix_open(root, vpath, out);
    while (*vpath == '/')
        vpath++;
    struct stat st;
    struct pt_fcache_ent *ent;
    int fd = pt_fcache_get(cache, root->id, vpath, &st, &ent);
    if (fd >= 0) {
        posix_fill(out, fd, &st);
        out->priv = ent;
        return 0;
    }
    int rc = posix_open(root, vpath, out);
    if (rc == -EMFILE || rc == -ENFILE) {
        pt_fcache_flush(cache); /* our cached descriptors first */
        rc = posix_open(root, vpath, out);
    }
    if (rc == 0 && out->st.is_reg)
        out->priv = pt_fcache_put(cache, root->id, vpath, out->fd);
    return rc;
}

const struct pt_fops pt_fops_posix = {
    .name = "posix",
    .open = posix_open,
    .read = posix_read,
    .close = posix_close,
};

int pt_froot_open(struct pt_froot *root, const char *path)
{
    /* Never reused, unlike addresses and fds: cache keys stay unique
     * across configuration reloads. */
    static atomic_uint_fast64_t next_id = 1;
    root->id = atomic_fetch_add(&next_id, 1);
    root->fops = &pt_fops_posix;
    root->dirfd = -1;
    root->path = NULL;
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        /* A .zip (.jar, .war) file: its members are the tree. */
        if (err == ENOTDIR && pt_fops_archive_name(path, strlen(path)))
            return pt_zip_root_open(root, path);
        return -err;
    }
    /* The real path: what open_verified() compares against. */
    root->path = realpath(path, NULL);
    if (!root->path) {
        close(fd);
        return -ENOMEM;
    }
    root->dirfd = fd;
    openat2_probe(fd);
    return 0;
}

void pt_froot_close(struct pt_froot *root)
{
    if (root->path)
        pt_zip_cache_flush();
    if (root->dirfd >= 0)
        close(root->dirfd);
    root->dirfd = -1;
    free(root->path);
    root->path = NULL;
}
