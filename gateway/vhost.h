/* Vhost selection by Host (and later SNI) among the vhosts on a listener. */
#ifndef PT_VHOST_H
#define PT_VHOST_H

#include <stddef.h>

#include "gateway/config.h"

/* Exact name match; else the longest vhost name that is a dot-boundary
 * suffix of host ("cats.abc.com" selects "abc.com"); else the first vhost
 * on the listener.  host has no port and is compared case-insensitively. */
const struct pt_vhost *pt_vhost_select(const struct pt_listen *l,
                                       const char *host, size_t len);
/* The same without the fallback: NULL when no vhost has that name. */
const struct pt_vhost *pt_vhost_lookup(const struct pt_listen *l, const char *host,
                                       size_t len);

#endif
