/* The two body sources every handler needs: a memory buffer and a byte
 * range of an open file (read with pread, or sent with sendfile). */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "gateway/request.h"

struct buf_body {
    const char *p;
    size_t len, off;
};

static ssize_t buf_read(struct pt_req *r, char *out, size_t len)
{
    struct buf_body *b = r->body_ctx;
    size_t n = b->len - b->off;
    if (n > len)
        n = len;
    memcpy(out, b->p + b->off, n);
    b->off += n;
    return (ssize_t)n;
}

static const struct pt_body_ops buf_ops = {.read = buf_read};

void pt_respond_buf(struct pt_req *r, int status, const char *content_type,
                    const char *buf, size_t len)
{
    if (content_type && *content_type)
        pt_resp_header(r, "Content-Type", content_type);
    struct buf_body *b = pt_pool_alloc(r->pool, sizeof(*b));
    b->p = buf;
    b->len = len;
    b->off = 0;
    pt_respond(r, status, (int64_t)len, len ? &buf_ops : NULL, b);
}

struct file_body {
    int fd;
    bool own;
    off_t off;
    uint64_t left;
};

static ssize_t file_read(struct pt_req *r, char *out, size_t len)
{
    struct file_body *f = r->body_ctx;
    if (f->left == 0)
        return 0;
    if (len > f->left)
        len = (size_t)f->left;
    ssize_t n;
    do
        n = pread(f->fd, out, len, f->off);
    while (n < 0 && errno == EINTR);
    if (n <= 0)
        return PT_BODY_ERROR; /* the file shrank under us: abort, never pad */
    f->off += n;
    f->left -= (uint64_t)n;
    return n;
}

static int file_file(struct pt_req *r, int *fd, off_t *off, size_t *len)
{
    struct file_body *f = r->body_ctx;
    *fd = f->fd;
    *off = f->off;
    *len = (size_t)f->left;
    return 0;
}

static void file_advance(struct pt_req *r, size_t n)
{
    struct file_body *f = r->body_ctx;
    f->off += (off_t)n;
    f->left -= n;
}

static void file_close(struct pt_req *r)
{
    struct file_body *f = r->body_ctx;
    if (f->own && f->fd >= 0)
        close(f->fd);
    f->fd = -1;
}

static const struct pt_body_ops file_ops = {
    .read = file_read, .file = file_file, .advance = file_advance, .close = file_close,
};

void pt_respond_file(struct pt_req *r, int status, int fd, bool own_fd,
                     off_t off, uint64_t len)
{
    struct file_body *f = pt_pool_alloc(r->pool, sizeof(*f));
    f->fd = fd;
    f->own = own_fd;
    f->off = off;
    f->left = len;
    pt_respond(r, status, (int64_t)len, &file_ops, f);
}
