/* proxy-buffering: the whole request body is read from the client before
 * a backend is chosen, then sent with a Content-Length.
 *
 * For backends that cannot take a chunked body, or that should not hold a
 * connection (and a worker of theirs) while a slow client uploads.  The
 * first SPOOL_MEM bytes stay in memory; the rest goes to an unlinked
 * temporary file (O_TMPFILE in $TMPDIR or /tmp), so memory stays bounded
 * whatever the body's size.  proxy-buffering-max caps the body: a larger
 * one is answered 413 (at once when its Content-Length says so).
 *
 * A spooled body can be sent again, so a request that fails on a reused
 * connection is retried even after its body was read. */
#include "proxy/proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/log.h"
#include "gateway/request.h"

#define SPOOL_MEM 65536

struct px_spool {
    char *mem;             /* the first SPOOL_MEM bytes */
    size_t mem_len;
    int fd;                /* the rest; -1 until needed */
    uint64_t size;         /* bytes held */
    uint64_t off;          /* where sending has got to */
};

static int temp_file(void)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
        return fd;
    /* A file system without O_TMPFILE: a named file, unlinked at once. */
    char path[4096];
    snprintf(path, sizeof(path), "%s/portico-body-XXXXXX", dir);
    fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0)
        unlink(path);
    return fd;
}

static bool put_file(struct px_spool *s, const char *buf, size_t n)
{
    if (s->fd < 0 && (s->fd = temp_file()) < 0)
        return false;
    while (n) {
        ssize_t w = write(s->fd, buf, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        buf += w;
        n -= (size_t)w;
    }
    return true;
}

void pt_px_spool_free(struct px *p)
{
    struct px_spool *s = p->spool;
    if (!s)
        return;
    if (s->fd >= 0)
        close(s->fd);
    free(s->mem);
    free(s);
    p->spool = NULL;
}

static void give_up(struct px *p, int status, const char *why)
{
    struct pt_req *r = p->r;
    pt_warn("proxy %s: %.*s %.*s: %s; %d", pt_px_upstream(p->pool)->name,
            (int)r->method_len, r->method_str,
            (int)(r->target_len > 200 ? 200 : r->target_len), r->target, why, status);
    pt_px_free(p);
    pt_respond_error(r, status, why);
}

void pt_px_spool_pump(struct px *p)
{
    struct px_spool *s = p->spool;
    uint64_t max = (uint64_t)p->pm->o.buffering_max;
    char tmp[16384];
    for (;;) {
        bool in_mem = s->mem_len < SPOOL_MEM;
        char *dst = in_mem ? s->mem + s->mem_len : tmp;
        size_t room = in_mem ? SPOOL_MEM - s->mem_len : sizeof(tmp);
        ssize_t n = pt_req_body_read(p->r, dst, room);
        if (n == PT_BODY_AGAIN)
            return; /* on_body_ready brings us back */
        if (n < 0) {
            give_up(p, 400, "request body could not be read");
            return;
        }
        if (n == 0)
            break;
        if (s->size + (uint64_t)n > max) {
            give_up(p, 413, "request body larger than proxy-buffering-max");
            return;
        }
        if (in_mem) {
            s->mem_len += (size_t)n;
        } else if (!put_file(s, tmp, (size_t)n)) {
            char why[96];
            snprintf(why, sizeof(why), "cannot buffer the request body: %s", strerror(errno));
            give_up(p, 500, why);
            return;
        }
        s->size += (uint64_t)n;
    }
    pt_debug("proxy: request body of %llu bytes buffered%s", (unsigned long long)s->size,
             s->fd >= 0 ? " (in a temporary file)" : "");
    p->body_length = (int64_t)s->size;
    p->spooling = false;
    pt_px_begin(p);
}

bool pt_px_spool_start(struct px *p)
{
    struct pt_req *r = p->r;
    if ((uint64_t)r->content_length > (uint64_t)p->pm->o.buffering_max &&
        r->content_length >= 0) {
        give_up(p, 413, "request body larger than proxy-buffering-max");
        return false;
    }
    struct px_spool *s = calloc(1, sizeof(*s));
    if (s)
        s->mem = malloc(SPOOL_MEM);
    if (!s || !s->mem) {
        free(s);
        give_up(p, 500, "out of memory");
        return false;
    }
    s->fd = -1;
    p->spool = s;
    p->spooling = true;
    pt_px_spool_pump(p);
    return true;
}

ssize_t pt_px_body_read(struct px *p, char *buf, size_t len)
{
    struct px_spool *s = p->spool;
    if (!s)
        return pt_req_body_read(p->r, buf, len);
    if (s->off >= s->size)
        return 0;
    if (s->off < s->mem_len) {
        size_t n = s->mem_len - (size_t)s->off;
        if (n > len)
            n = len;
        memcpy(buf, s->mem + s->off, n);
        s->off += n;
        return (ssize_t)n;
    }
    ssize_t n;
    do
        n = pread(s->fd, buf, len, (off_t)(s->off - s->mem_len));
    while (n < 0 && errno == EINTR);
    if (n <= 0) {
        pt_warn("proxy: reading the buffered request body: %s",
                n < 0 ? strerror(errno) : "file shorter than written");
        return PT_BODY_ERROR;
    }
    s->off += (uint64_t)n;
    return n;
}

bool pt_px_body_rewind(struct px *p)
{
    if (!p->body_started)
        return true;
    if (!p->spool)
        return false;
    p->spool->off = 0;
    p->body_started = false;
    p->body_done = false;
    p->olen = p->ooff = 0;
    return true;
}
