/* The PROXY protocol (HAProxy's, versions 1 and 2) on ports whose vhosts
 * set "proxy-protocol": a load balancer in trusted-proxies starts each
 * connection with a header naming the real client, which then stands as
 * the connection's peer (limits, logs, REMOTE_ADDR, X-Forwarded-For). */
#ifndef PT_PROXYPROTO_H
#define PT_PROXYPROTO_H

#include <stddef.h>
#include <sys/socket.h>

struct pt_conn;

/* Reads the header, then starts TLS or HTTP on c (pt_conn_begin). */
void pt_proxyproto_start(struct pt_conn *c);

/* The longest header taken (v2 with a few TLVs). */
#define PT_PROXYPROTO_MAX (16 + 1024)

/* Parses a header at the start of buf[0..len) (proxyproto_parse.c).  Returns its length (> 0)
 * with the source address in *src (ss_family AF_UNSPEC for LOCAL /
 * UNKNOWN: the connection's own peer stands), 0 when more bytes are
 * needed, or -1 when it is not a valid header. */
int pt_proxyproto_parse(const char *buf, size_t len, struct sockaddr_storage *src);

#endif
