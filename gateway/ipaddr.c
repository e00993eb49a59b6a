#include "gateway/ipaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool pt_ip_is_v4(const struct pt_ip *ip)
{
    return memcmp(ip->a, v4_mapped, 12) == 0;
}

bool pt_ip_from_sockaddr(const struct sockaddr *sa, struct pt_ip *out)
{
    if (sa->sa_family == AF_INET) {
        memcpy(out->a, v4_mapped, 12);
        memcpy(out->a + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        memcpy(out->a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return true;
    }
    return false;
}

bool pt_ip_from_string(const char *s, size_t len, struct pt_ip *out)
{
    char buf[64];
    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (inet_pton(AF_INET, buf, out->a + 12) == 1) {
        memcpy(out->a, v4_mapped, 12);
        return true;
    }
    return inet_pton(AF_INET6, buf, out->a) == 1;
}

void pt_ip_format(const struct pt_ip *ip, char *buf, size_t size)
{
    if (!pt_ip_is_v4(ip)) {
        inet_ntop(AF_INET6, ip->a, buf, (socklen_t)size);
        return;
    }
    /* Every request's peer goes through here: glibc's inet_ntop costs
     * about 1,700 instructions for an IPv4 address, this about 60. */
    char tmp[16], *o = tmp;
    for (int i = 12; i < 16; i++) {
        unsigned v = ip->a[i];
        if (v >= 100)
            *o++ = (char)('0' + v / 100);
        if (v >= 10)
            *o++ = (char)('0' + v / 10 % 10);
        *o++ = (char)('0' + v % 10);
        *o++ = i < 15 ? '.' : '\0';
    }
    size_t n = (size_t)(o - tmp); /* with the NUL */
    if (n > size)
        n = size;
    if (n) {
        memcpy(buf, tmp, n);
        buf[n - 1] = '\0';
    }
}

static void mask(struct pt_ip *ip, int bits)
{
    for (int i = 0; i < 16; i++) {
        int keep = bits - 8 * i;
        if (keep <= 0)
            ip->a[i] = 0;
        else if (keep < 8)
            ip->a[i] &= (uint8_t)(0xff00 >> keep);
    }
}

struct pt_ip pt_ip_key(const struct pt_ip *ip, int v6_prefix)
{
    struct pt_ip k = *ip;
    if (!pt_ip_is_v4(ip))
        mask(&k, v6_prefix);
    return k;
}

int pt_cidr_parse(const char *s, struct pt_cidr *out, const char **why)
{
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    if (!pt_ip_from_string(s, alen, &out->ip)) {
        *why = "not an IPv4 or IPv6 address";
        return -1;
    }
    bool v4 = pt_ip_is_v4(&out->ip) && memchr(s, '.', alen);
    int max = v4 ? 32 : 128, bits = max;
    if (slash) {
        char *end;
        long n = strtol(slash + 1, &end, 10);
        if (!slash[1] || *end || n < 0 || n > max) {
            *why = v4 ? "the prefix length must be 0..32" : "the prefix length must be 0..128";
            return -1;
        }
        bits = (int)n;
    }
    out->bits = (uint8_t)(v4 ? 96 + bits : bits);
    mask(&out->ip, out->bits);
    struct pt_ip ones;
    memset(&ones, 0xff, sizeof(ones));
    mask(&ones, out->bits);
    memcpy(out->net, out->ip.a, 16);
    memcpy(out->mask, ones.a, 16);
    return 0;
}

bool pt_cidrs_match(const struct pt_cidrs *l, const struct pt_ip *ip)
{
    uint64_t w[2];
    memcpy(w, ip->a, 16);
    for (size_t i = 0; i < l->n; i++) {
        const struct pt_cidr *c = &l->v[i];
        if ((w[0] & c->mask[0]) == c->net[0] && (w[1] & c->mask[1]) == c->net[1])
            return true;
    }
    return false;
}

void pt_cidrs_free(struct pt_cidrs *l)
{
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

bool pt_ip_forwarded_client(const char *xff, size_t len, const struct pt_cidrs *trusted,
                            struct pt_ip *out)
{
    size_t end = len;
    bool found = false;
    while (end > 0) {
        size_t start = end;
        while (start > 0 && xff[start - 1] != ',')
            start--;
        size_t a = start, b = end;
        while (a < b && (xff[a] == ' ' || xff[a] == '\t'))
            a++;
        while (b > a && (xff[b - 1] == ' ' || xff[b - 1] == '\t'))
            b--;
        /* "[v6]:port" and "v4:port" forms (RFC 7239 style) too. */
        if (b > a && xff[a] == '[') {
            const char *close = memchr(xff + a, ']', b - a);
            if (close) {
                b = (size_t)(close - xff);
                a++;
            }
        } else if (b > a && memchr(xff + a, '.', b - a)) {
            const char *colon = memchr(xff + a, ':', b - a);
            if (colon)
                b = (size_t)(colon - xff);
        }
        struct pt_ip ip;
        if (!pt_ip_from_string(xff + a, b - a, &ip))
            return found; /* garbage: trust nothing to its left */
        *out = ip;
        found = true;
        if (!pt_cidrs_match(trusted, &ip))
            return true;
        end = start ? start - 1 : 0;
    }
    return found;
}
