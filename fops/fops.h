/* File-ops vtable: how handlers read files by virtual path below a root.
 * The posix implementation is here now; a zip implementation plugs in by
 * providing the same operations for paths inside an archive. */
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
};

/* An open file.  fd >= 0 when the bytes can be read (and sent) directly
 * from a file descriptor at offset base. */
struct pt_file {
    const struct pt_fops *fops;
    int fd;
    off_t base;
    struct pt_fstat st;
    void *priv;
};

/* A root directory that virtual paths are resolved below. */
struct pt_froot {
    const struct pt_fops *fops;
    int dirfd;
    char *path;           /* realpath of the root */
};

struct pt_fops {
    const char *name;
    /* Opens root + vpath ("/a/b.html"; the leading '/' is the root).  Never
     * resolves outside the root: ".." and symlinks leading out fail with
     * -EXDEV or -ELOOP.  Directories open too (st.is_dir).
     * Returns 0 or -errno. */
    int (*open)(const struct pt_froot *root, const char *vpath, struct pt_file *out);
    /* pread semantics; returns bytes, 0 at EOF, -errno. */
    ssize_t (*read)(struct pt_file *f, void *buf, size_t len, uint64_t off);
    void (*close)(struct pt_file *f);
};

extern const struct pt_fops pt_fops_posix;

/* Opens a root directory (O_DIRECTORY).  Returns 0 or -errno. */
int pt_froot_open(struct pt_froot *root, const char *path);
void pt_froot_close(struct pt_froot *root);

#endif
