#include "gateway/proxyproto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/config.h"
#include "gateway/conn.h"
#include "gateway/ipaddr.h"
#include "gateway/limits.h"
#include "gateway/log.h"


static void fail(struct pt_conn *c, const char *why)
{
    char ip[46];
    uint16_t port;
    pt_conn_peer(c, ip, sizeof(ip), &port);
    pt_info_rl("%s:%u: %s: closed", ip, port, why);
    pt_conn_close(c);
}

static void pp_on_io(struct pt_conn *c, int revents)
{
    (void)revents;
    char buf[PT_PROXYPROTO_MAX];
    /* Peek: only the header is taken from the socket, what follows (a TLS
     * ClientHello, a request) stays for the protocol. */
    ssize_t n = recv(c->io.fd, buf, sizeof(buf), MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        pt_conn_close(c);
        return;
    }
    struct sockaddr_storage src;
    int hl = pt_proxyproto_parse(buf, (size_t)n, &src);
    if (hl == 0 && (size_t)n < sizeof(buf))
        return; /* more to come */
    if (hl <= 0) {
        fail(c, "no valid PROXY protocol header");
        return;
    }
    if (recv(c->io.fd, buf, (size_t)hl, 0) != hl) {
        fail(c, "PROXY protocol header: short read");
        return;
    }
    if (src.ss_family != AF_UNSPEC) {
        memset(&c->peer, 0, sizeof(c->peer));
        memcpy(&c->peer, &src,
               src.ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
        struct pt_ip ip;
        unsigned flags = 0;
        pt_ip_from_sockaddr((struct sockaddr *)&src, &ip);
        if (!pt_limits_peer_admit(c->conf, c->listen, &ip, &flags)) {
            pt_conn_close(c);
            return;
        }
        c->lim_tracked = (flags & PT_LIM_TRACKED) != 0;
        c->lim_v6_prefix = (uint8_t)c->conf->g.ip_limit_v6_prefix;
    }
    pt_conn_set_events(c, 0);
    pt_conn_begin(c);
}

static const struct pt_conn_ops pp_ops = {
    .name = "PROXY protocol",
    .on_io = pp_on_io,
    .timeout = pt_conn_timeout_secs,
    .drain = pt_conn_close, /* nothing in flight yet */
    .destroy = NULL,
};

void pt_proxyproto_start(struct pt_conn *c)
{
    c->ops = &pp_ops;
    pt_conn_set_events(c, EV_READ);
}
