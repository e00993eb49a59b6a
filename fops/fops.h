/* File-ops vtable: how handlers read files by virtual path below a root.
 *
 * Two implementations: posix (a directory tree) and zip (members of a .zip,
 * .jar or .war archive).  Handlers open files with pt_fopen(), which picks
 * the ops by path like libwebsockets' vfs: the ops whose signature matches
 * the longest prefix win, so "/docs/manual.zip/index.html" is read from
 * the archive while "/docs/manual.zip" is the archive file itself.  A root
 * may also be an archive (a file:// mount whose origin is a .zip). */
#ifndef PT_FOPS_H
#define PT_FOPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct pt_fops;

struct pt_fstat {
    uint64_t size;
    int64_t mtime;        /* seconds */
    int64_t mtime_nsec;
    uint64_t ino, dev;
    bool is_dir;
    bool is_reg;
    bool has_crc;         /* crc32 is known (zip members) */
    uint32_t crc32;       /* CRC-32 of the content */
};

/* How the bytes that read() returns encode the content. */
enum pt_fenc {
    PT_FENC_IDENTITY = 0, /* they are the content */
    PT_FENC_DEFLATE,      /* a raw deflate stream (RFC 1951) of the content */
};

/* An open file.  fd >= 0 when its stored bytes can be read (and sent)
 * directly from a file descriptor: fd[base, base + enc_size).  st.size is
 * the content's length; enc says how the stored bytes encode it. */
struct pt_file {
    const struct pt_fops *fops;
    int fd;
    off_t base;
    struct pt_fstat st;
    enum pt_fenc enc;
    uint64_t enc_size;    /* stored bytes: st.size when enc is identity */
    void *priv;           /* the ops' own */
    uint64_t aux;         /* the ops' own */
};

/* A root that virtual paths are resolved below. */
struct pt_froot {
    const struct pt_fops *fops;
    int dirfd;            /* the directory (of an archive root: the directory
                             holding the archive, O_PATH) */
    char *path;           /* realpath of the root (directory or archive) */
    uint64_t id;          /* unique per opened root: file cache keys */
};

struct pt_fops {
    const char *name;
    /* Opens root + vpath ("/a/b.html"; the leading '/' is the root).  Never
     * resolves outside the root: ".." and symlinks leading out fail with
     * -EXDEV or -ELOOP.  Directories open too (st.is_dir).
     * Returns 0 or -errno. */
    int (*open)(const struct pt_froot *root, const char *vpath, struct pt_file *out);
    /* pread semantics on the stored bytes (off < enc_size); returns bytes,
     * 0 at EOF, -errno. */
    ssize_t (*read)(struct pt_file *f, void *buf, size_t len, uint64_t off);
    /* Closes the file; closing one whose fd was taken (set to -1 by the
     * caller, who now owns it) releases the rest. */
    void (*close)(struct pt_file *f);
    /* Optional: names the file for a log line ("/srv/a.zip:dir/x.html"). */
    void (*describe)(const struct pt_file *f, char *buf, size_t len);
};

extern const struct pt_fops pt_fops_posix;

/* pt_fops_posix.open through a file cache (fops/fcache.h; NULL: none):
 * the returned file's close() releases it.  For regular files served
 * whole by handlers; archive code uses the plain open. */
struct pt_fcache;
int pt_posix_open_cached(const struct pt_froot *root, struct pt_fcache *cache,
                         const char *vpath, struct pt_file *out);
extern const struct pt_fops pt_fops_zip;

/* Opens root + vpath with the ops that own the path (see above): the
 * root's own ops, except below a directory root where a component named
 * *.zip, *.jar or *.war (any case) that is a regular file and is followed
 * by '/' makes the rest a member of that archive.  Returns 0 or -errno:
 * -ENOENT for a member that does not exist or has an unsafe name,
 * -EBADMSG or -ENOTSUP (logged, naming archive and member) for one that
 * cannot be served.  cache: the worker's open-file cache, or NULL. */
int pt_fopen(const struct pt_froot *root, struct pt_fcache *cache, const char *vpath,
             struct pt_file *out);

/* Whether path[0, len)'s last component names an archive (.zip, .jar,
 * .war). */
bool pt_fops_archive_name(const char *path, size_t len);
/* The length of the longest prefix of vpath[0, end) that names an archive
 * and is followed by '/' ("/a/b.zip" in "/a/b.zip/c"), or 0 if none.
 * Call again with end = the result for the next shorter one. */
size_t pt_fops_archive_prefix(const char *vpath, size_t end);

/* Opens a root: a directory (O_DIRECTORY), or an archive file whose members
 * are the tree (its central directory is read and checked now).  Returns 0
 * or -errno (-EBADMSG: not a usable zip archive). */
int pt_froot_open(struct pt_froot *root, const char *path);
/* Closes a root; also drops the cached archive indexes (rebuilt on use). */
void pt_froot_close(struct pt_froot *root);

/* For pt_froot_open: an archive root (fops/zip.c). */
int pt_zip_root_open(struct pt_froot *root, const char *path);
/* Drops every cached archive index not in use. */
void pt_zip_cache_flush(void);

#endif
