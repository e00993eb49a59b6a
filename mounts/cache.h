/* Cache-Control for responses from a mount, from its cache-* keys. */
#ifndef PT_CACHE_H
#define PT_CACHE_H

#include <stddef.h>

#include "gateway/config.h"

#define PT_CACHE_CONTROL_MAX 64 /* enough for the longest value we build */

/* Writes the Cache-Control value for m into buf (NUL-terminated) and
 * returns its length.  Computed once per mount at setup, not per request. */
size_t pt_cache_control(const struct pt_mount *m, char *buf, size_t size);

#endif
