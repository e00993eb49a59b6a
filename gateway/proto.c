/* The protocol registry (see proto.h). */
#include "gateway/proto.h"

#include <stdlib.h>
#include <string.h>

#include "gateway/log.h"

#define MAX_PROTOCOLS 8

static const struct pt_protocol *protocols[MAX_PROTOCOLS];
static size_t n_protocols;
static unsigned char alpn[MAX_PROTOCOLS * 32];
static size_t alpn_len;
static size_t inline_max;

static void build_alpn(void)
{
    alpn_len = 0;
    for (size_t i = n_protocols; i-- > 0;) {
        size_t n = strlen(protocols[i]->name);
        if (n == 0 || n > 31)
            continue;
        alpn[alpn_len++] = (unsigned char)n;
        memcpy(alpn + alpn_len, protocols[i]->name, n);
        alpn_len += n;
    }
}

void pt_protocol_register(const struct pt_protocol *p)
{
    if (n_protocols == MAX_PROTOCOLS || pt_protocol_find(p->name, strlen(p->name))) {
        pt_err("protocol \"%s\": cannot register (duplicate or too many)", p->name);
        abort();
    }
    protocols[n_protocols++] = p;
    if (p->inline_size > inline_max)
        inline_max = p->inline_size;
    build_alpn();
}

const struct pt_protocol *pt_protocol_default(void)
{
    return n_protocols ? protocols[0] : NULL;
}

const struct pt_protocol *pt_protocol_find(const char *name, size_t len)
{
    for (size_t i = 0; i < n_protocols; i++)
        if (strlen(protocols[i]->name) == len && memcmp(protocols[i]->name, name, len) == 0)
            return protocols[i];
    return NULL;
}

const struct pt_protocol *pt_protocol_by_preface(const char *data, size_t len,
                                                 bool *partial)
{
    for (size_t i = 0; i < n_protocols; i++) {
        const struct pt_protocol *p = protocols[i];
        if (!p->preface)
            continue;
        size_t n = len < p->preface_len ? len : p->preface_len;
        if (memcmp(data, p->preface, n) == 0) {
            *partial = len < p->preface_len;
            return p;
        }
    }
    *partial = false;
    return NULL;
}

const unsigned char *pt_protocol_alpn(size_t *len)
{
    *len = alpn_len;
    return alpn;
}

size_t pt_protocol_inline_size(void)
{
    return inline_max;
}
