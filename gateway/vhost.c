/* Vhost selection by Host among the vhosts sharing a listener. */
#include "gateway/vhost.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

/* Whether name is host itself (exact) or a suffix of it that starts right
 * after a '.', so "cats.abc.com" falls under "abc.com" but "xabc.com" does
 * not. */
static bool host_is_suffix(const char *host, size_t len,
                              const char *name, size_t nlen)
{
    return nlen > 0 && nlen < len && host[len - nlen - 1] == '.' &&
           strncasecmp(host + len - nlen, name, nlen) == 0;
}

const struct pt_vhost *pt_vhost_select(const struct pt_listen *l,
                                       const char *host, size_t len)
{
    if (!l || l->n_vhosts == 0)
        return NULL;
    const struct pt_vhost *vh = pt_vhost_lookup(l, host, len);
    return vh ? vh : l->vhosts[0];
}

const struct pt_vhost *pt_vhost_lookup(const struct pt_listen *l, const char *host,
                                       size_t len)
{
    if (!l || !host)
        return NULL;
    /* "abc.com." is the same name written fully qualified. */
    if (len > 1 && host[len - 1] == '.')
        len--;
    if (len == 0)
        return NULL;

    const struct pt_vhost *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < l->n_vhosts; i++) {
        const struct pt_vhost *vh = l->vhosts[i];
        if (!vh->name)
            continue;
        size_t nlen = strlen(vh->name);
        if (nlen == len && strncasecmp(host, vh->name, len) == 0)
            return vh;
        if (nlen > best_len && host_is_suffix(host, len, vh->name, nlen)) {
            best = vh;
            best_len = nlen;
        }
    }
    return best;
}
