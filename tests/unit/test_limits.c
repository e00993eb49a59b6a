/* Addresses, CIDR lists, X-Forwarded-For, the PROXY protocol parser and
 * the per-IP table (counts, slots in arrival order, rate buckets). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gateway/ipaddr.h"
#include "gateway/iptable.h"
#include "gateway/proxyproto.h"

static struct pt_ip ip(const char *s)
{
    struct pt_ip a;
    memset(&a, 0xee, sizeof(a));
    CHECK(pt_ip_from_string(s, strlen(s), &a));
    return a;
}

static const char *fmt(const struct pt_ip *a)
{
    static char buf[46];
    pt_ip_format(a, buf, sizeof(buf));
    return buf;
}

static void test_addresses(void)
{
    struct pt_ip a = ip("10.1.2.3");
    CHECK(pt_ip_is_v4(&a));
    CHECK_STR(fmt(&a), "10.1.2.3");
    struct pt_ip m = ip("::ffff:10.1.2.3"); /* IPv4-mapped IPv6 is IPv4 */
    CHECK(memcmp(&a, &m, sizeof(a)) == 0);
    struct pt_ip v6 = ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd");
    CHECK(!pt_ip_is_v4(&v6));
    struct pt_ip k = pt_ip_key(&v6, 64);
    CHECK_STR(fmt(&k), "2001:db8:1:2::");
    struct pt_ip other = ip("2001:db8:1:2::9");
    struct pt_ip ko = pt_ip_key(&other, 64);
    CHECK(memcmp(&k, &ko, sizeof(k)) == 0); /* one /64, one peer */
    struct pt_ip k48 = pt_ip_key(&v6, 48);
    CHECK_STR(fmt(&k48), "2001:db8:1::");
    struct pt_ip kv4 = pt_ip_key(&a, 8); /* IPv4 is never cut */
    CHECK_STR(fmt(&kv4), "10.1.2.3");
    struct pt_ip f0 = ip("0.0.0.0"), f1 = ip("255.255.255.255"), f2 = ip("10.0.100.9");
    CHECK_STR(fmt(&f0), "0.0.0.0");
    CHECK_STR(fmt(&f1), "255.255.255.255");
    CHECK_STR(fmt(&f2), "10.0.100.9");
    char small[6];
    pt_ip_format(&f1, small, sizeof(small));
    CHECK_STR(small, "255.2"); /* cut, still a string */
    struct pt_ip bad;
    CHECK(!pt_ip_from_string("10.1.2", 6, &bad));
    CHECK(!pt_ip_from_string("", 0, &bad));
    CHECK(!pt_ip_from_string("10.1.2.3 ", 9, &bad));
}

static void test_cidrs(void)
{
    struct pt_cidr v[4];
    const char *why = NULL;
    CHECK_INT(pt_cidr_parse("10.0.0.0/8", &v[0], &why), 0);
    CHECK_INT(pt_cidr_parse("192.168.1.7", &v[1], &why), 0);
    CHECK_INT(pt_cidr_parse("2001:db8::/32", &v[2], &why), 0);
    CHECK_INT(pt_cidr_parse("10.9.9.9/16", &v[3], &why), 0); /* host bits dropped */
    struct pt_cidrs l = {v, 4};
    struct pt_ip a = ip("10.200.1.1"), b = ip("11.0.0.1"), c = ip("192.168.1.7"),
                 d = ip("192.168.1.8"), e = ip("2001:db8:ffff::1"), f = ip("2001:db9::1"),
                 g = ip("::ffff:10.0.0.1");
    CHECK(pt_cidrs_match(&l, &a));
    CHECK(!pt_cidrs_match(&l, &b));
    CHECK(pt_cidrs_match(&l, &c));
    CHECK(!pt_cidrs_match(&l, &d));
    CHECK(pt_cidrs_match(&l, &e));
    CHECK(!pt_cidrs_match(&l, &f));
    CHECK(pt_cidrs_match(&l, &g));
    struct pt_cidr x;
    CHECK_INT(pt_cidr_parse("10.0.0.0/33", &x, &why), -1);
    CHECK(why != NULL);
    CHECK_INT(pt_cidr_parse("::/129", &x, &why), -1);
    CHECK_INT(pt_cidr_parse("example.com", &x, &why), -1);
    CHECK_INT(pt_cidr_parse("10.0.0.0/", &x, &why), -1);
    CHECK_INT(pt_cidr_parse("10.0.0.0/8x", &x, &why), -1);
    CHECK_INT(pt_cidr_parse("0.0.0.0/0", &x, &why), 0);
    struct pt_cidrs all = {&x, 1};
    CHECK(pt_cidrs_match(&all, &a));
    CHECK(!pt_cidrs_match(&all, &e)); /* 0.0.0.0/0 is IPv4 only */
    struct pt_cidrs none = {NULL, 0};
    CHECK(!pt_cidrs_match(&none, &a));
}

static const char *xff(const char *field, const struct pt_cidrs *trusted)
{
    struct pt_ip out;
    if (!pt_ip_forwarded_client(field, strlen(field), trusted, &out))
        return "(none)";
    return fmt(&out);
}

static void test_forwarded(void)
{
    struct pt_cidr v[2];
    const char *why;
    pt_cidr_parse("10.0.0.0/8", &v[0], &why);
    pt_cidr_parse("2001:db8::/32", &v[1], &why);
    struct pt_cidrs t = {v, 2};
    CHECK_STR(xff("1.2.3.4", &t), "1.2.3.4");
    CHECK_STR(xff("1.2.3.4, 10.0.0.2", &t), "1.2.3.4");
    /* the last untrusted hop: what the client wrote itself is not taken */
    CHECK_STR(xff("6.6.6.6, 1.2.3.4, 10.0.0.2, 10.0.0.3", &t), "1.2.3.4");
    CHECK_STR(xff("  5.6.7.8  ,10.1.1.1", &t), "5.6.7.8");
    CHECK_STR(xff("[2001:db9::5]:443, 2001:db8::1", &t), "2001:db9::5");
    CHECK_STR(xff("1.2.3.4:5678", &t), "1.2.3.4");
    CHECK_STR(xff("10.0.0.9", &t), "10.0.0.9"); /* all trusted: the leftmost */
    CHECK_STR(xff("", &t), "(none)");
    CHECK_STR(xff("garbage", &t), "(none)");
    CHECK_STR(xff("1.2.3.4, garbage", &t), "(none)");
    CHECK_STR(xff("garbage, 10.0.0.7", &t), "10.0.0.7");
}

static int pp(const char *buf, size_t len, struct sockaddr_storage *ss)
{
    char *copy = malloc(len ? len : 1); /* exact size: ASan sees overreads */
    memcpy(copy, buf, len);
    int rc = pt_proxyproto_parse(copy, len, ss);
    free(copy);
    return rc;
}

static void test_proxyproto(void)
{
    struct sockaddr_storage ss;
    char text[64];
    const char v1[] = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET /";
    CHECK_INT(pp(v1, sizeof(v1) - 1, &ss), 45);
    CHECK_INT(ss.ss_family, AF_INET);
    inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, text, sizeof(text));
    CHECK_STR(text, "192.0.2.1");
    CHECK_INT(ntohs(((struct sockaddr_in *)&ss)->sin_port), 56324);
    for (size_t n = 0; n < 45; n++) /* every prefix: more bytes needed */
        CHECK_INT(pp(v1, n, &ss), 0);
    const char v1b[] = "PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n";
    CHECK_INT(pp(v1b, sizeof(v1b) - 1, &ss), (int)sizeof(v1b) - 1);
    CHECK_INT(ss.ss_family, AF_INET6);
    const char unk[] = "PROXY UNKNOWN\r\n";
    CHECK_INT(pp(unk, sizeof(unk) - 1, &ss), (int)sizeof(unk) - 1);
    CHECK_INT(ss.ss_family, AF_UNSPEC);
    const char *bad[] = {
        "GET / HTTP/1.1\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
        "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 99999 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 x 2\r\n", "PROXY TCP4 1.2.3.4\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_INT(pp(bad[i], strlen(bad[i]), &ss), -1);
    char longline[200];
    memset(longline, 'x', sizeof(longline));
    memcpy(longline, "PROXY ", 6);
    CHECK_INT(pp(longline, sizeof(longline), &ss), -1); /* no CRLF within 107 bytes */

    /* v2: PROXY, TCP over IPv4, 12 address bytes, then a TLV */
    unsigned char v2[16 + 12 + 4] = "\r\n\r\n\0\r\nQUIT\n";
    v2[12] = 0x21;
    v2[13] = 0x11;
    v2[14] = 0;
    v2[15] = 16;
    unsigned char addr[12] = {203, 0, 113, 9, 10, 0, 0, 1, 0x1f, 0x90, 0x01, 0xbb};
    memcpy(v2 + 16, addr, 12);
    memcpy(v2 + 28, "\x04\x00\x01\x00", 4); /* a TLV (NOOP) */
    CHECK_INT(pp((char *)v2, sizeof(v2), &ss), 32);
    inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, text, sizeof(text));
    CHECK_STR(text, "203.0.113.9");
    CHECK_INT(ntohs(((struct sockaddr_in *)&ss)->sin_port), 8080);
    for (size_t n = 0; n < sizeof(v2); n++)
        CHECK_INT(pp((char *)v2, n, &ss), 0);
    v2[12] = 0x20; /* LOCAL */
    CHECK_INT(pp((char *)v2, sizeof(v2), &ss), 32);
    CHECK_INT(ss.ss_family, AF_UNSPEC);
    v2[12] = 0x11; /* version 1 in a v2 header */
    CHECK_INT(pp((char *)v2, sizeof(v2), &ss), -1);
    v2[12] = 0x21;
    v2[14] = 0xff; /* far too long */
    CHECK_INT(pp((char *)v2, sizeof(v2), &ss), -1);
    v2[14] = 0;
    v2[15] = 4; /* too short for its family */
    CHECK_INT(pp((char *)v2, 20, &ss), -1);
}

/* ---- the table -------------------------------------------------------- */

static int order[8], n_order;

struct tw {
    struct pt_ipwait wt; /* first */
    int id;
};

static void granted(struct pt_ipwait *w)
{
    order[n_order++] = ((struct tw *)w)->id;
}

static void no_unpost(struct pt_ipwait *w)
{
    (void)w;
}

static struct pt_ipslot held[64];
static int n_held;

/* Takes a slot (kept in held[] to give back with end()). */
static int begin(const struct pt_ip *k, unsigned limit, struct pt_ipwait *wt)
{
    int retry;
    struct pt_ipslot s = {0};
    int rc = pt_iptable_req_begin(k, NULL, limit, wt, &retry, &s);
    CHECK_INT(retry, 0);
    CHECK(rc == 1 ? s.entry != NULL : s.entry == NULL);
    if (rc == 1)
        held[n_held++] = s;
    return rc;
}

/* Gives back the oldest slot held. */
static void end(void)
{
    CHECK(n_held > 0);
    pt_iptable_req_end(&held[0]);
    CHECK(held[0].entry == NULL);
    memmove(held, held + 1, (size_t)--n_held * sizeof(held[0]));
}

static int rate(const struct pt_ip *k, uint32_t scope, double r, double burst, double now)
{
    struct pt_iprate rt = {scope, r, burst, now};
    int retry;
    struct pt_ipslot s = {0};
    int rc = pt_iptable_req_begin(k, &rt, 0, NULL, &retry, &s);
    CHECK_INT(rc, retry ? 1 : -1); /* no slot counted either way */
    return retry;
}

static void test_table(void)
{
    pt_iptable_init(64);
    struct pt_ip a = ip("10.0.0.1"), b = ip("10.0.0.2");
    bool tr;
    CHECK(pt_iptable_conn_open(&a, 2, &tr) && tr);
    CHECK(pt_iptable_conn_open(&a, 2, &tr) && tr);
    CHECK(!pt_iptable_conn_open(&a, 2, &tr)); /* the third: refused */
    CHECK(pt_iptable_conn_open(&b, 2, &tr) && tr); /* another peer is not */
    pt_iptable_conn_close(&a);
    CHECK(pt_iptable_conn_open(&a, 2, &tr) && tr); /* the slot came back */
    pt_iptable_conn_close(&a);
    pt_iptable_conn_close(&a);
    pt_iptable_conn_close(&b);
    CHECK_INT(pt_iptable_entries(), 0); /* entries go with their counts */

    /* requests: two slots, three waiters served in arrival order */
    struct tw w[4];
    memset(w, 0, sizeof(w));
    for (int i = 0; i < 4; i++) {
        w[i].id = i;
        w[i].wt.granted = granted;
    }
    CHECK_INT(begin(&a, 2, &w[0].wt), 1);
    CHECK_INT(begin(&a, 2, &w[0].wt), 1);
    CHECK_INT(begin(&a, 2, &w[1].wt), 0);
    CHECK_INT(begin(&a, 2, &w[2].wt), 0);
    CHECK_INT(begin(&a, 2, &w[3].wt), 0);
    CHECK_INT(begin(&a, 2, NULL), 0); /* would wait: nothing queued without a waiter */
    CHECK(!pt_iptable_req_cancel(&w[2].wt, no_unpost)); /* left the queue */
    end();
    end();
    CHECK_INT(n_order, 2);
    CHECK_INT(order[0], 1);
    CHECK_INT(order[1], 3);
    CHECK(pt_iptable_req_cancel(&w[3].wt, no_unpost)); /* granted: the caller holds it */
    pt_iptable_req_end(&w[1].wt.slot); /* the slots passed on */
    pt_iptable_req_end(&w[3].wt.slot);
    CHECK_INT(pt_iptable_entries(), 0);

    /* 10,000 begin/end and 1,000 cancelled waits leave nothing behind */
    for (int i = 0; i < 10000; i++) {
        CHECK_INT(begin(&b, 1, &w[0].wt), 1);
        if (i % 10 == 0) {
            CHECK_INT(begin(&b, 1, &w[1].wt), 0);
            pt_iptable_req_cancel(&w[1].wt, no_unpost);
        }
        end();
    }
    CHECK_INT(pt_iptable_entries(), 0);

    /* rate: a burst of 3, then 10/s */
    CHECK_INT(rate(&a, 1, 10, 3, 100.0), 0);
    CHECK_INT(rate(&a, 1, 10, 3, 100.0), 0);
    CHECK_INT(rate(&a, 1, 10, 3, 100.0), 0);
    CHECK_INT(rate(&a, 1, 10, 3, 100.0), 1);
    CHECK_INT(rate(&a, 2, 10, 3, 100.0), 0); /* another vhost's bucket */
    CHECK_INT(rate(&a, 1, 10, 3, 100.11), 0); /* a token came back */
    CHECK_INT(rate(&a, 1, 1, 1, 100.11), 1);
    pt_iptable_sweep(100.2);
    CHECK_INT(pt_iptable_entries(), 1); /* bucket 1 is not full yet */
    pt_iptable_sweep(200);
    CHECK_INT(pt_iptable_entries(), 0);

    /* a full table admits new peers untracked */
    pt_iptable_free();
    pt_iptable_init(16);
    char s[32];
    for (int i = 0; i < 16; i++) {
        snprintf(s, sizeof(s), "10.9.0.%d", i);
        struct pt_ip x = ip(s);
        CHECK(pt_iptable_conn_open(&x, 1, &tr) && tr);
    }
    struct pt_ip y = ip("10.9.1.1");
    CHECK(pt_iptable_conn_open(&y, 1, &tr) && !tr);
    CHECK(pt_iptable_conn_open(&y, 1, &tr) && !tr);
    pt_iptable_free();
}

int main(void)
{
    test_addresses();
    test_cidrs();
    test_forwarded();
    test_proxyproto();
    test_table();
    return check_done("limits");
}
