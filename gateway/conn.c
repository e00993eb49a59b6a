/* The transport (see conn.h): accept, close, the inactivity timer,
 * plaintext/TLS reads and writes, the output buffer, lingering close.
 * Protocol sessions drive the connection through c->ops. */
#include "gateway/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway/config.h"
#include "gateway/ipaddr.h"
#include "gateway/limits.h"
#include "gateway/listen.h"
#include "gateway/log.h"
#include "gateway/proto.h"
#include "gateway/proxyproto.h"
#include "gateway/request.h"
#include "gateway/tls.h"
#include "gateway/wire.h"
#include "gateway/worker.h"

static struct pt_buflist *out_list(struct pt_conn *c);

static void on_io(struct ev_loop *loop, ev_io *io, int revents)
{
    struct pt_conn *c = io->data;
    (void)loop;
    c->ops->on_io(c, revents);
}

/* One timer per connection, re-armed lazily: activity only stores a
 * timestamp, and the timer works out the remaining time when it fires. */
static void on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct pt_conn *c = t->data;
    (void)revents;
    double timeout = c->ops->timeout(c);
    double now = ev_now(loop);
    if (timeout <= 0) {
        c->last_activity = now;
        t->repeat = c->conf->g.timeout_secs;
        ev_timer_again(loop, t);
        return;
    }
    double deadline = c->last_activity + timeout;
    if (deadline <= now + 0.001 && c->ops->expired && c->ops->expired(c)) {
        c->last_activity = now;
        timeout = c->ops->timeout(c);
        t->repeat = timeout > 0 ? timeout : c->conf->g.timeout_secs;
        ev_timer_again(loop, t);
        return;
    }
    if (deadline <= now + 0.001) {
        char ip[46];
        uint16_t port;
        pt_conn_peer(c, ip, sizeof(ip), &port);
        pt_info_rl("%s:%u: closing %s connection: no progress for %gs", ip, port,
                c->ops->name, timeout);
        pt_conn_close(c);
        return;
    }
    t->repeat = deadline - now;
    ev_timer_again(loop, t);
}

void pt_conn_timer_update(struct pt_conn *c)
{
    double t = c->ops->timeout(c);
    if (t <= 0)
        return;
    /* The timer re-arms itself lazily when it fires; a state whose limit
     * is shorter than what is left must bring it forward now. */
    double left = c->last_activity + t - ev_now(c->w->loop);
    if (left < ev_timer_remaining(c->w->loop, &c->timer) - 0.01) {
        c->timer.repeat = left > 0.001 ? left : 0.001;
        ev_timer_again(c->w->loop, &c->timer);
    }
}

/* A transport for socket fd (accepted or connecting), with `extra` bytes
 * of inline session room; NULL (fd closed) when out of memory. */
static struct pt_conn *conn_new(struct pt_worker *w, int fd, struct pt_config *conf,
                                const struct sockaddr *sa, socklen_t salen, size_t extra)
{
    struct pt_conn *c = calloc(1, sizeof(*c) + extra);
    if (!c) {
        close(fd);
        return NULL;
    }
    c->nodelay_due = sa && sa->sa_family != AF_UNIX;
    c->w = w;
    c->inline_size = (uint16_t)extra;
    c->conf = conf;
    pt_worker_conf_hold(w, conf);
    if (sa && sa->sa_family != AF_UNIX) {
        if (salen > sizeof(c->peer))
            salen = sizeof(c->peer);
        memcpy(&c->peer, sa, salen);
    }
    c->last_activity = ev_now(w->loop);
    ev_io_init(&c->io, on_io, fd, 0);
    c->io.data = c;
    ev_init(&c->timer, on_timer);
    c->timer.data = c;
    c->timer.repeat = c->conf->g.timeout_secs;
    ev_timer_again(w->loop, &c->timer);
    pt_worker_conn_added(w, c);
    return c;
}

void pt_conn_accept(struct pt_worker *w, int fd, const struct pt_listen *l,
                    const struct sockaddr *sa, socklen_t salen, unsigned lim_flags)
{
    struct pt_conn *c = conn_new(w, fd, w->conf, sa, salen, pt_protocol_inline_size());
    if (!c) {
        struct pt_conn gone = {.conf = w->conf};
        memcpy(&gone.peer, sa, salen < sizeof(gone.peer) ? salen : sizeof(gone.peer));
        gone.lim_tracked = (lim_flags & PT_LIM_TRACKED) != 0;
        gone.lim_v6_prefix = (uint8_t)w->conf->g.ip_limit_v6_prefix;
        gone.lim_counted = (lim_flags & PT_LIM_COUNTED) != 0;
        pt_limits_conn_closed(&gone);
        return;
    }
    c->listen = l;
    c->lim_tracked = (lim_flags & PT_LIM_TRACKED) != 0;
    c->lim_v6_prefix = (uint8_t)w->conf->g.ip_limit_v6_prefix;
    c->lim_counted = (lim_flags & PT_LIM_COUNTED) != 0;
    if (l->proxy_protocol)
        pt_proxyproto_start(c);
    else
        pt_conn_begin(c);
}

void pt_conn_begin(struct pt_conn *c)
{
    if (c->listen->tls)
        pt_tls_accept(c);
    else
        pt_conn_start_protocol(c, NULL, 0, NULL, 0);
}

struct pt_conn *pt_conn_connect(struct pt_worker *w, struct pt_config *conf,
                                const struct sockaddr *sa, socklen_t salen,
                                const char *device, const struct pt_conn_ops *ops,
                                size_t inline_size, int *err)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *err = errno;
        return NULL;
    }
    if (device && sa->sa_family != AF_UNIX &&
        setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, device, (socklen_t)strlen(device)) < 0) {
        *err = errno;
        close(fd);
        return NULL;
    }
    int rc;
    do
        rc = connect(fd, sa, salen);
    while (rc < 0 && errno == EINTR);
    if (rc < 0 && errno != EINPROGRESS) {
        *err = errno;
        close(fd);
        return NULL;
    }
    struct pt_conn *c = conn_new(w, fd, conf, sa, salen, inline_size);
    if (!c) {
        *err = ENOMEM;
        return NULL;
    }
    c->ops = ops;
    c->connecting = true;
    if (c->nodelay_due)
        pt_conn_nodelay(c); /* a request, then maybe its body: from the start */
    pt_conn_set_events(c, EV_WRITE);
    *err = 0;
    return c;
}

int pt_conn_connect_result(struct pt_conn *c)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(c->io.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err == 0)
        c->connecting = false;
    return err;
}

void pt_conn_start_protocol(struct pt_conn *c, const char *name, size_t len,
                            const char *data, size_t dlen)
{
    const struct pt_protocol *p = name ? pt_protocol_find(name, len) : NULL;
    if (!p)
        p = pt_protocol_default();
    if (!p) {
        pt_conn_close(c);
        return;
    }
    p->start(c, data, dlen);
}

/* The inline area lies right after the struct, suitably aligned: the
 * struct's size is a multiple of its (pointer) alignment, and sessions
 * hold nothing aligned more strictly than a pointer or a double. */
void *pt_conn_session_alloc(struct pt_conn *c, size_t size)
{
    if (!c->inline_used && size <= c->inline_size) {
        c->inline_used = true;
        void *p = c + 1;
        memset(p, 0, size);
        return p;
    }
    return calloc(1, size);
}

void pt_conn_session_free(struct pt_conn *c, void *session)
{
    if (session == (void *)(c + 1))
        c->inline_used = false;
    else
        free(session);
}

void pt_conn_close(struct pt_conn *c)
{
    struct pt_worker *w = c->w;
    if (c->ops && c->ops->destroy)
        c->ops->destroy(c);
    ev_io_stop(w->loop, &c->io);
    ev_timer_stop(w->loop, &c->timer);
    if (c->ssl) {
        /* A close_notify if the socket takes it; never wait for one. */
        if (SSL_is_init_finished(c->ssl) && !c->lingering)
            SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
        ERR_clear_error();
    }
    close(c->io.fd);
    if (c->out)
        pt_worker_buf_put(out_list(c), c->out);
    pt_limits_conn_closed(c);
    pt_worker_conf_release(w, c->conf);
    pt_worker_conn_removed(w, c);
    free(c);
}

void pt_conn_reset(struct pt_conn *c)
{
    /* SO_LINGER 0: close() sends RST and drops what the peer never read
     * (nginx's reset_timedout_connection). */
    struct linger lg = {1, 0};
    setsockopt(c->io.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    c->lingering = true; /* no TLS close_notify either: nobody reads it */
    pt_conn_close(c);
}

double pt_conn_timeout_secs(const struct pt_conn *c)
{
    return c->conf->g.timeout_secs;
}

void pt_conn_drain(struct pt_conn *c)
{
    c->ops->drain(c);
}

/* ---- lingering close ------------------------------------------------- */

#define LINGER_SECS 2.0
#define LINGER_MAX (256 * 1024)

static void linger_on_io(struct pt_conn *c, int revents)
{
    (void)revents;
    for (;;) {
        ssize_t n = pt_conn_recv(c, c->w->rbuf, c->w->rbuf_cap);
        if (n > 0) {
            if ((size_t)n < c->linger_left) {
                c->linger_left -= (uint32_t)n;
                continue;
            }
        } else if (n < 0 && errno == EAGAIN) {
            return;
        }
        break;
    }
    pt_conn_close(c);
}

static double linger_timeout(const struct pt_conn *c)
{
    (void)c;
    return LINGER_SECS;
}

static void linger_drain(struct pt_conn *c)
{
    (void)c; /* closing already */
}

static const struct pt_conn_ops linger_ops = {
    .name = "closing",
    .on_io = linger_on_io,
    .timeout = linger_timeout,
    .drain = linger_drain,
    .destroy = NULL,
};

/* Closing with unread input makes the kernel send RST, which can destroy
 * the last response before the client has read it: say goodbye (TLS
 * close_notify, FIN), then read and drop what the client still sends until
 * it closes, for a bounded time and amount. */
void pt_conn_linger(struct pt_conn *c)
{
    if (c->ops && c->ops->destroy)
        c->ops->destroy(c);
    c->ops = &linger_ops;
    c->session = NULL;
    c->lingering = true;
    if (c->ssl) {
        SSL_shutdown(c->ssl);
        ERR_clear_error();
    }
    shutdown(c->io.fd, SHUT_WR);
    c->linger_left = LINGER_MAX;
    c->ssl_want_write = false;
    pt_conn_out_release(c);
    c->last_activity = ev_now(c->w->loop);
    pt_conn_set_events(c, EV_READ);
    pt_conn_timer_update(c);
}

/* ---- transport -------------------------------------------------------- */

/* reading: SSL_read wanting to write (a key update, session tickets) must
 * be resumed when the socket is writable, which the protocol's own write
 * interest does not cover; SSL_write wanting to write is just EAGAIN. */
static ssize_t ssl_result(struct pt_conn *c, int n, bool reading)
{
    int err = SSL_get_error(c->ssl, n);
    switch (err) {
    case SSL_ERROR_WANT_READ:
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        if (reading)
            c->ssl_want_write = true;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        if (errno == 0 || errno == EAGAIN)
            errno = ECONNRESET; /* EOF without close_notify */
        return -1;
    default:
        ERR_clear_error();
        errno = EPROTO;
        return -1;
    }
}

ssize_t pt_conn_recv(struct pt_conn *c, void *buf, size_t len)
{
    if (!c->ssl) {
        ssize_t n;
        do
            n = read(c->io.fd, buf, len);
        while (n < 0 && errno == EINTR);
        c->rd_short = n >= 0 && (size_t)n < len;
        return n;
    }
    if (len > INT32_MAX)
        len = INT32_MAX;
    c->ssl_want_write = false;
    int n = SSL_read(c->ssl, buf, (int)len);
    if (n > 0)
        return n;
    ssize_t r = ssl_result(c, n, true);
    /* A peer that closes the TCP connection without close_notify is
     * still a plain EOF for HTTP's purposes. */
    if (r < 0 && errno == ECONNRESET)
        return 0;
    return r;
}

ssize_t pt_conn_send(struct pt_conn *c, const void *buf, size_t len)
{
    if (!c->ssl) {
        pt_conn_before_write(c);
        ssize_t n;
        do
            n = write(c->io.fd, buf, len);
        while (n < 0 && errno == EINTR);
        return n;
    }
    if (len > INT32_MAX)
        len = INT32_MAX;
    int n = SSL_write(c->ssl, buf, (int)len);
    if (n > 0)
        return n;
    ssize_t r = ssl_result(c, n, false);
    if (r == 0) {
        errno = EPIPE;
        return -1;
    }
    return r;
}

bool pt_conn_pending(const struct pt_conn *c)
{
    /* With read-ahead, whole records may wait undecrypted: SSL_pending()
     * counts only the current one. */
    return c->ssl && SSL_has_pending(c->ssl);
}

bool pt_conn_drained(const struct pt_conn *c)
{
    return c->rd_short && !pt_conn_pending(c);
}

int pt_conn_peek(struct pt_conn *c, bool *err)
{
    char b;
    ssize_t n = recv(c->io.fd, &b, 1, MSG_PEEK);
    *err = n < 0 && errno != EAGAIN && errno != EINTR;
    return n > 0 ? 1 : n == 0 ? 0 : -1;
}

void pt_conn_shutdown_write(struct pt_conn *c)
{
    if (c->ssl) {
        SSL_shutdown(c->ssl);
        ERR_clear_error();
    }
    shutdown(c->io.fd, SHUT_WR);
}

void pt_conn_nodelay(struct pt_conn *c)
{
    int one = 1;
    setsockopt(c->io.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->nodelay_due = false;
}

void pt_conn_cork(struct pt_conn *c, bool on)
{
    if (c->corked == on)
        return;
    int v = on;
    setsockopt(c->io.fd, IPPROTO_TCP, TCP_CORK, &v, sizeof(v));
    c->corked = on;
}

void pt_conn_set_events(struct pt_conn *c, int events)
{
    if (c->ssl_want_write)
        events |= EV_WRITE;
    if (c->io.events == events && (events == 0 || ev_is_active(&c->io)))
        return;
    ev_io_stop(c->w->loop, &c->io);
    ev_io_set(&c->io, c->io.fd, events);
    if (events)
        ev_io_start(c->w->loop, &c->io);
}

void pt_conn_peer(const struct pt_conn *c, char *ip, size_t cap, uint16_t *port)
{
    struct pt_ip a;
    if (!pt_ip_from_sockaddr((const struct sockaddr *)&c->peer, &a)) {
        snprintf(ip, cap, "-"); /* a unix socket */
        *port = 0;
        return;
    }
    pt_ip_format(&a, ip, cap); /* IPv4-mapped IPv6 as IPv4 */
    *port = ntohs(c->peer.v4.sin_family == AF_INET ? c->peer.v4.sin_port
                                                    : c->peer.v6.sin6_port);
}

void pt_conn_init_req(struct pt_conn *c, struct pt_req *r, struct pt_pool *pool,
                      const struct pt_proto *proto, void *ctx, int version)
{
    r->pool = pool;
    r->proto = proto;
    r->proto_ctx = ctx;
    r->conf = c->conf;
    pt_worker_conf_hold(c->w, r->conf); /* given back by pt_req_finish */
    r->conf_held = true;
    r->worker = c->w;
    r->loop = c->w->loop;
    r->listen = c->listen;
    r->version = version;
    r->content_length = -1;
    r->start = ev_now(c->w->loop);
    r->local_port = c->listen ? (uint16_t)c->listen->port : 0;
    r->tls = c->ssl != NULL;
    r->tls_version = c->ssl ? SSL_get_version(c->ssl) : NULL;
    r->client_cert = c->client_cert_ok;
    r->sni_vhost = c->sni_vhost;
    r->session = &r->own_session;
    pt_conn_peer(c, r->peer_ip, sizeof(r->peer_ip), &r->peer_port);
    pt_ip_from_sockaddr((const struct sockaddr *)&c->peer, &r->peer);
}

const struct pt_vhost *pt_conn_default_vhost(const struct pt_conn *c)
{
    if (c->sni_vhost)
        return c->sni_vhost;
    return c->listen && c->listen->n_vhosts ? c->listen->vhosts[0] : NULL;
}

double pt_conn_keepalive_secs(const struct pt_conn *c, int secs)
{
    if (secs > 0)
        return secs;
    const struct pt_vhost *vh = pt_conn_default_vhost(c);
    return vh ? vh->keepalive_timeout : 60;
}

static const struct pt_vhost *vhost_named(const struct pt_listen *l, const char *name)
{
    for (size_t i = 0; i < l->n_vhosts; i++)
        if (strcmp(l->vhosts[i]->name, name) == 0)
            return l->vhosts[i];
    return NULL;
}

void pt_conn_follow(struct pt_conn *c, struct pt_config *conf)
{
    if (!c->listen || c->conf == conf)
        return;
    const struct pt_listen *l = pt_listen_same(conf, c->listen);
    const struct pt_vhost *vh = NULL;
    bool ok = l && l->tls == c->listen->tls && l->proxy_protocol == c->listen->proxy_protocol;
    if (ok && c->sni_vhost)
        ok = (vh = vhost_named(l, c->sni_vhost->name)) != NULL &&
             (!c->ssl || pt_tls_can_follow(c->sni_vhost, vh));
    if (!ok) {
        pt_conn_drain(c); /* on the old snapshot, which it keeps */
        return;
    }
    pt_worker_conf_hold(c->w, conf);
    pt_worker_conf_release(c->w, c->conf);
    c->conf = conf;
    c->listen = l;
    c->sni_vhost = vh;
}

/* ---- output buffer ---------------------------------------------------- */

static struct pt_buflist *out_list(struct pt_conn *c)
{
    return c->out_large ? &c->w->free_wire : &c->w->free_out;
}

void pt_conn_out_reserve(struct pt_conn *c)
{
    if (!c->out) {
        c->out = pt_worker_buf_get(&c->w->free_out);
        c->out_large = false;
        c->out_len = c->out_off = 0;
    }
}

void pt_conn_out_reserve_large(struct pt_conn *c)
{
    if (!c->out) {
        c->out = pt_worker_buf_get(&c->w->free_wire);
        c->out_large = true;
        c->out_len = c->out_off = 0;
    }
}

size_t pt_conn_out_cap(const struct pt_conn *c)
{
    return c->out_large ? PT_WIRE_SIZE : PT_OUTBUF_SIZE;
}

size_t pt_conn_out_space(const struct pt_conn *c)
{
    return pt_conn_out_cap(c) - c->out_len;
}

void pt_conn_out_put(struct pt_conn *c, const void *s, size_t n)
{
    memcpy(c->out + c->out_len, s, n);
    c->out_len += (uint32_t)n;
}

/* Hands the buffer to the socket; over TLS the records collect in the
 * wire buffer (written when it fills). */
static int out_send(struct pt_conn *c)
{
    pt_wire_batch(c, true);
    int rv = 1;
    while (c->out && c->out_off < c->out_len) {
        ssize_t n = pt_conn_send(c, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0) {
            rv = errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
            break;
        }
        c->out_off += (uint32_t)n;
        c->last_activity = ev_now(c->w->loop);
    }
    pt_wire_batch(c, false);
    if (rv > 0 && c->out)
        c->out_len = c->out_off = 0;
    return rv;
}

int pt_conn_out_push(struct pt_conn *c)
{
    return out_send(c);
}

int pt_conn_out_flush(struct pt_conn *c)
{
    int rv = out_send(c);
    if (rv < 0 || !c->ssl)
        return rv;
    /* What the batch encrypted goes out in one write. */
    int f = pt_wire_flush(c);
    if (f < 0)
        return -1;
    if (f > 0)
        pt_wire_release(c);
    else
        rv = 0;
    return rv;
}

size_t pt_conn_out_bytes(const struct pt_conn *c)
{
    return (c->out ? c->out_len - c->out_off : 0) + pt_wire_pending(c);
}

bool pt_conn_out_pending(const struct pt_conn *c)
{
    return pt_conn_out_bytes(c) > 0;
}

/* Writes the buffer with MSG_MORE when file data follows by sendfile, so
 * the head and the first data share packets (as TCP_CORK would). */
int pt_conn_out_flush_more(struct pt_conn *c)
{
    if (c->ssl)
        return pt_conn_out_flush(c);
    while (c->out && c->out_off < c->out_len) {
        pt_conn_before_write(c);
        ssize_t n = send(c->io.fd, c->out + c->out_off, c->out_len - c->out_off,
                         MSG_MORE | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        }
        c->out_off += (uint32_t)n;
        c->last_activity = ev_now(c->w->loop);
    }
    if (c->out)
        c->out_len = c->out_off = 0;
    return 1;
}

void pt_conn_out_release(struct pt_conn *c)
{
    if (c->out && c->out_off >= c->out_len) {
        pt_worker_buf_put(out_list(c), c->out);
        c->out = NULL;
        c->out_len = c->out_off = 0;
    }
    pt_wire_release(c);
}
