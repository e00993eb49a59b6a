/* Cache-Control for responses from a mount, from its cache-* keys. */
#ifndef PT_CACHE_H
#define PT_CACHE_H

#include <stdbool.h>
#include <stddef.h>


#define PT_CACHE_CONTROL_MAX 64 /* enough for the longest value we build */

/* A file mount's cache-* keys. */
struct pt_cache_opts {
    int max_age;
    bool reuse, revalidate, intermediaries, no;
};

/* Writes the Cache-Control value into buf (NUL-terminated) and returns its
 * length; set: whether the mount has any cache-* key.  Computed once per
 * mount at setup, not per request. */
size_t pt_cache_control(const struct pt_cache_opts *o, bool set, char *buf, size_t size);

#endif
