/* Peer addresses for the limits: one 16-byte form for IPv4 and IPv6
 * (IPv4, and IPv4-mapped IPv6, as ::ffff:a.b.c.d), CIDR lists, and the
 * real client behind trusted proxies (X-Forwarded-For). */
#ifndef PT_IPADDR_H
#define PT_IPADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct pt_ip {
    uint8_t a[16];
};

struct pt_cidr {
    struct pt_ip ip;          /* masked */
    uint64_t net[2], mask[2]; /* the same as words, for a quick match */
    uint8_t bits;             /* of the 128 (an IPv4 /n is 96 + n) */
};

struct pt_cidrs {
    struct pt_cidr *v;
    size_t n;
};

bool pt_ip_from_sockaddr(const struct sockaddr *sa, struct pt_ip *out);
bool pt_ip_from_string(const char *s, size_t len, struct pt_ip *out);
bool pt_ip_is_v4(const struct pt_ip *ip);
/* The text form ("1.2.3.4", "2001:db8::1") into buf (46 bytes). */
void pt_ip_format(const struct pt_ip *ip, char *buf, size_t size);

/* The key the limits count by: IPv4 whole, IPv6 cut to v6_prefix bits
 * (one host rotating addresses in its /64 is one peer). */
struct pt_ip pt_ip_key(const struct pt_ip *ip, int v6_prefix);

/* "10.0.0.0/8", "2001:db8::/32", or a bare address (a /32 or /128).
 * Returns 0, or -1 with *why. */
int pt_cidr_parse(const char *s, struct pt_cidr *out, const char **why);
bool pt_cidrs_match(const struct pt_cidrs *l, const struct pt_ip *ip);
void pt_cidrs_free(struct pt_cidrs *l);

/* The client behind trusted proxies: walks X-Forwarded-For from its right
 * end (the hop nearest to us) past every address in trusted, and returns
 * the first that is not (the last untrusted hop) in *out.  False when the
 * field has no usable address (then the peer stands). */
bool pt_ip_forwarded_client(const char *xff, size_t len, const struct pt_cidrs *trusted,
                            struct pt_ip *out);

#endif
