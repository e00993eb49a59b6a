/* The PROXY protocol header parser (versions 1 and 2): no I/O, no state,
 * so the session (proxyproto.c) and the fuzzer share it. */
#include "gateway/proxyproto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define V1_MAX 107                  /* the longest v1 line, CRLF included */
#define V2_MAX PT_PROXYPROTO_MAX

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

