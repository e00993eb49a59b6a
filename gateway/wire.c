/* The socket end of a server TLS connection (see wire.h). */
#include "gateway/wire.h"

#include <errno.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/conn.h"
#include "gateway/worker.h"

static BIO_METHOD *method;
static int method_type = -1;
static pthread_once_t method_once = PTHREAD_ONCE_INIT;

/* The BIO's state: only TLS connections pay for it. */
struct wire {
    struct pt_conn *c;
    struct pt_wirebuf *buf;        /* while ciphertext waits */
    bool batch;                    /* records collect in buf */
};

/* c's wire, or NULL (plaintext, or a client's socket BIO). */
static void method_init(void);

static struct wire *wire_of(const struct pt_conn *c)
{
    if (!c->ssl)
        return NULL;
    pthread_once(&method_once, method_init); /* method_type, seen by this thread */
    BIO *b = SSL_get_wbio(c->ssl);
    return b && BIO_method_type(b) == method_type ? BIO_get_data(b) : NULL;
}

static bool pending(const struct wire *x)
{
    return x->buf && x->buf->off < x->buf->len;
}

size_t pt_wire_pending(const struct pt_conn *c)
{
    struct wire *x = wire_of(c);
    return x && x->buf ? x->buf->len - x->buf->off : 0;
}

void pt_wire_batch(struct pt_conn *c, bool on)
{
    struct wire *x = wire_of(c);
    if (x)
        x->batch = on;
}

static int flush(struct wire *x)
{
    struct pt_conn *c = x->c;
    while (pending(x)) {
        pt_conn_before_write(c);
        struct pt_wirebuf *b = x->buf;
        ssize_t n = write(c->io.fd, b->data + b->off, b->len - b->off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        }
        b->off += (uint32_t)n;
        c->last_activity = ev_now(c->w->loop);
    }
    if (x->buf)
        x->buf->len = x->buf->off = 0;
    return 1;
}

int pt_wire_flush(struct pt_conn *c)
{
    struct wire *x = wire_of(c);
    return x ? flush(x) : 1;
}

static void release(struct wire *x)
{
    if (x->buf && !pending(x)) {
        pt_worker_buf_put(&x->c->w->free_wire, (char *)x->buf);
        x->buf = NULL;
    }
}

void pt_wire_release(struct pt_conn *c)
{
    struct wire *x = wire_of(c);
    if (x)
        release(x);
}

/* Outside a batch: what a socket BIO does, once the waiting ciphertext is
 * out (never reordered behind it). */
static int write_direct(BIO *b, struct wire *x, const char *data, size_t len,
                        size_t *written)
{
    int f = flush(x);
    if (f <= 0) {
        if (f == 0)
            BIO_set_retry_write(b);
        return 0;
    }
    release(x);
    pt_conn_before_write(x->c);
    ssize_t n;
    do
        n = write(x->c->io.fd, data, len);
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
    struct wire *x = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (!x->batch)
        return write_direct(b, x, data, len, written);
    if (!x->buf) {
        x->buf = (struct pt_wirebuf *)pt_worker_buf_get(&x->c->w->free_wire);
        x->buf->len = x->buf->off = 0;
    }
    struct pt_wirebuf *w = x->buf;
    if (PT_WIRE_SIZE - w->len < len && pending(x)) {
        /* Full: write what waits, keep what the socket did not take. */
        if (flush(x) < 0)
            return 0;
        if (w->off) {
            memmove(w->data, w->data + w->off, w->len - w->off);
            w->len -= w->off;
            w->off = 0;
        }
    }
    size_t room = PT_WIRE_SIZE - w->len;
    if (room == 0) {
        BIO_set_retry_write(b);
        return 0;
    }
    size_t k = len < room ? len : room;
    memcpy(w->data + w->len, data, k);
    w->len += (uint32_t)k;
    *written = k;
    return 1;
}

static int bio_read(BIO *b, char *buf, size_t len, size_t *readbytes)
{
    struct pt_conn *c = ((struct wire *)BIO_get_data(b))->c;
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
    struct wire *x = BIO_get_data(b);
    (void)num;
    (void)ptr;
    switch (cmd) {
    case BIO_CTRL_FLUSH: {
        /* The handshake's flights: out now, or WANT_WRITE. */
        BIO_clear_retry_flags(b);
        int f = x ? flush(x) : 1;
        if (f == 0)
            BIO_set_retry_write(b);
        return f > 0;
    }
    case BIO_CTRL_EOF:
        return x && x->c->rd_eof;
    default:
        return 0;
    }
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

/* At SSL_free (the connection closing): a buffer still held goes back. */
static int bio_destroy(BIO *b)
{
    struct wire *x = BIO_get_data(b);
    if (x && x->buf)
        pt_worker_buf_put(&x->c->w->free_wire, (char *)x->buf);
    free(x);
    BIO_set_data(b, NULL);
    return 1;
}

static void method_init(void)
{
    int type = BIO_get_new_index() | BIO_TYPE_SOURCE_SINK;
    method = BIO_meth_new(type, "portico wire");
    if (!method)
        return;
    method_type = type;
    BIO_meth_set_write_ex(method, bio_write);
    BIO_meth_set_read_ex(method, bio_read);
    BIO_meth_set_ctrl(method, bio_ctrl);
    BIO_meth_set_create(method, bio_create);
    BIO_meth_set_destroy(method, bio_destroy);
}

BIO *pt_wire_bio(struct pt_conn *c)
{
    pthread_once(&method_once, method_init);
    struct wire *x = method ? calloc(1, sizeof(*x)) : NULL;
    BIO *b = x ? BIO_new(method) : NULL;
    if (!b) {
        free(x);
        return NULL;
    }
    x->c = c;
    BIO_set_data(b, x);
    return b;
}
