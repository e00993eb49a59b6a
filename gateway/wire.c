/* The socket end of a server TLS connection (see wire.h). */
#include "gateway/wire.h"

#include <errno.h>
#include <openssl/bio.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "gateway/conn.h"
#include "gateway/worker.h"

static BIO_METHOD *method;
static pthread_once_t method_once = PTHREAD_ONCE_INIT;

static bool pending(const struct pt_conn *c)
{
    return c->wire && c->wire_off < c->wire_len;
}

int pt_wire_flush(struct pt_conn *c)
{
    while (pending(c)) {
        pt_conn_before_write(c);
        ssize_t n = write(c->io.fd, c->wire + c->wire_off, c->wire_len - c->wire_off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        }
        c->wire_off += (uint32_t)n;
        c->last_activity = ev_now(c->w->loop);
    }
    if (c->wire)
        c->wire_len = c->wire_off = 0;
    return 1;
}

void pt_wire_release(struct pt_conn *c)
{
    if (c->wire && !pending(c)) {
        pt_worker_buf_put(&c->w->free_wire, c->wire);
        c->wire = NULL;
        c->wire_len = c->wire_off = 0;
    }
}

/* Outside a batch: what a socket BIO does, once the waiting ciphertext is
 * out (never reordered behind it). */
static int write_direct(BIO *b, struct pt_conn *c, const char *data, size_t len,
                        size_t *written)
{
    int f = pt_wire_flush(c);
    if (f <= 0) {
        if (f == 0)
            BIO_set_retry_write(b);
        return 0;
    }
    pt_wire_release(c);
    pt_conn_before_write(c);
    ssize_t n;
    do
        n = write(c->io.fd, data, len);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            BIO_set_retry_write(b);
        return 0;
    }
    *written = (size_t)n;
    return 1;
}

static int bio_write(BIO *b, const char *data, size_t len, size_t *written)
{
    struct pt_conn *c = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (!c->wire_batch)
        return write_direct(b, c, data, len, written);
    if (!c->wire) {
        c->wire = pt_worker_buf_get(&c->w->free_wire);
        c->wire_len = c->wire_off = 0;
    }
    if (PT_WIRE_SIZE - c->wire_len < len && pending(c)) {
        /* Full: write what waits, keep what the socket did not take. */
        if (pt_wire_flush(c) < 0)
            return 0;
        if (c->wire_off) {
            memmove(c->wire, c->wire + c->wire_off, c->wire_len - c->wire_off);
            c->wire_len -= c->wire_off;
            c->wire_off = 0;
        }
    }
    size_t room = PT_WIRE_SIZE - c->wire_len;
    if (room == 0) {
        BIO_set_retry_write(b);
        return 0;
    }
    size_t k = len < room ? len : room;
    memcpy(c->wire + c->wire_len, data, k);
    c->wire_len += (uint32_t)k;
    *written = k;
    return 1;
}

static int bio_read(BIO *b, char *buf, size_t len, size_t *readbytes)
{
    struct pt_conn *c = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    ssize_t n;
    do
        n = read(c->io.fd, buf, len);
    while (n < 0 && errno == EINTR);
    if (n > 0) {
        c->rd_short = (size_t)n < len;
        *readbytes = (size_t)n;
        return 1;
    }
    if (n == 0)
        c->rd_eof = c->rd_short = true;
    else if (errno == EAGAIN || errno == EWOULDBLOCK)
        BIO_set_retry_read(b);
    return 0;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    struct pt_conn *c = BIO_get_data(b);
    (void)num;
    (void)ptr;
    switch (cmd) {
    case BIO_CTRL_FLUSH: {
        /* The handshake's flights: out now, or WANT_WRITE. */
        BIO_clear_retry_flags(b);
        int f = c ? pt_wire_flush(c) : 1;
        if (f == 0)
            BIO_set_retry_write(b);
        return f > 0;
    }
    case BIO_CTRL_EOF:
        return c && c->rd_eof;
    default:
        return 0;
    }
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static int bio_destroy(BIO *b)
{
    BIO_set_data(b, NULL);
    return 1;
}

static void method_init(void)
{
    method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "portico wire");
    if (!method)
        return;
    BIO_meth_set_write_ex(method, bio_write);
    BIO_meth_set_read_ex(method, bio_read);
    BIO_meth_set_ctrl(method, bio_ctrl);
    BIO_meth_set_create(method, bio_create);
    BIO_meth_set_destroy(method, bio_destroy);
}

BIO *pt_wire_bio(struct pt_conn *c)
{
    pthread_once(&method_once, method_init);
    BIO *b = method ? BIO_new(method) : NULL;
    if (b)
        BIO_set_data(b, c);
    return b;
}
