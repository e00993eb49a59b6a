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

#define V1_MAX 107                  /* the longest v1 line, CRLF included */
#define V2_MAX (16 + 1024)          /* what we accept of v2 (addresses, a few TLVs) */

static const char v2_sig[12] = "\r\n\r\n\0\r\nQUIT\n";

static int parse_v1(const char *buf, size_t len, struct sockaddr_storage *src)
{
    const char *end = memchr(buf, '\n', len < V1_MAX ? len : V1_MAX);
    if (!end)
        return len >= V1_MAX ? -1 : 0;
    size_t n = (size_t)(end - buf) + 1;
    if (n < 8 || buf[n - 2] != '\r')
        return -1;
    char line[V1_MAX + 1];
    memcpy(line, buf, n - 2);
    line[n - 2] = '\0';
    char *save, *tok[6];
    int k = 0;
    for (char *t = strtok_r(line, " ", &save); t && k < 6; t = strtok_r(NULL, " ", &save))
        tok[k++] = t;
    memset(src, 0, sizeof(*src));
    if (k >= 2 && strcmp(tok[0], "PROXY") == 0 && strcmp(tok[1], "UNKNOWN") == 0)
        return (int)n; /* the proxy's own connection: its peer stands */
    if (k != 6 || strcmp(tok[0], "PROXY") != 0)
        return -1;
    char *e;
    long port = strtol(tok[4], &e, 10);
    if (*e || port < 0 || port > 65535 || e == tok[4])
        return -1;
    if (strcmp(tok[1], "TCP4") == 0) {
        struct sockaddr_in *a = (struct sockaddr_in *)src;
        if (inet_pton(AF_INET, tok[2], &a->sin_addr) != 1)
            return -1;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
    } else if (strcmp(tok[1], "TCP6") == 0) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)src;
        if (inet_pton(AF_INET6, tok[2], &a->sin6_addr) != 1)
            return -1;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
    } else {
        return -1;
    }
    return (int)n;
}

static int parse_v2(const unsigned char *b, size_t len, struct sockaddr_storage *src)
{
    if (len < 16)
        return 0;
    size_t body = (size_t)b[14] << 8 | b[15];
    if ((b[12] & 0xf0) != 0x20 || 16 + body > V2_MAX)
        return -1;
    if (len < 16 + body)
        return 0;
    memset(src, 0, sizeof(*src));
    unsigned cmd = b[12] & 0x0f, fam = b[13];
    if (cmd == 0)
        return (int)(16 + body); /* LOCAL: a health check of the proxy itself */
    if (cmd != 1)
        return -1;
    if (fam == 0x11 || fam == 0x12) { /* TCP4 / UDP4 */
        if (body < 12)
            return -1;
        struct sockaddr_in *a = (struct sockaddr_in *)src;
        a->sin_family = AF_INET;
        memcpy(&a->sin_addr, b + 16, 4);
        memcpy(&a->sin_port, b + 24, 2);
    } else if (fam == 0x21 || fam == 0x22) { /* TCP6 / UDP6 */
        if (body < 36)
            return -1;
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)src;
        a->sin6_family = AF_INET6;
        memcpy(&a->sin6_addr, b + 16, 16);
        memcpy(&a->sin6_port, b + 48, 2);
    } else if (fam != 0x00) {
        return -1; /* unix sockets and the like: nothing we can count by */
    }
    return (int)(16 + body);
}

int pt_proxyproto_parse(const char *buf, size_t len, struct sockaddr_storage *src)
{
    size_t sig = len < 12 ? len : 12;
    if (memcmp(buf, v2_sig, sig) == 0)
        return len < 12 ? 0 : parse_v2((const unsigned char *)buf, len, src);
    size_t v1 = len < 6 ? len : 6;
    if (memcmp(buf, "PROXY ", v1) == 0)
        return len < 6 ? 0 : parse_v1(buf, len, src);
    return -1;
}

static void fail(struct pt_conn *c, const char *why)
{
    char ip[46];
    uint16_t port;
    pt_conn_peer(c, ip, sizeof(ip), &port);
    pt_info("%s:%u: %s: closed", ip, port, why);
    pt_conn_close(c);
}

static void pp_on_io(struct pt_conn *c, int revents)
{
    (void)revents;
    char buf[V2_MAX];
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
