/* Cache-Control, following what lws does for lwsws mounts:
 *   cache-no                          -> "no-cache"
 *   cache-max-age N (N > 0) and cache-reuse
 *                                     -> "[must-revalidate, ]private|public,
 *                                         max-age=N" (must-revalidate with
 *                                         cache-revalidate; public with
 *                                         cache-intermediaries)
 *   anything else, or no cache-* key  -> "no-store"
 * lws also sends "no-store" by default: files are not cacheable unless the
 * mount says so. */
#include "mounts/cache.h"

#include <stdio.h>
#include <string.h>

size_t pt_cache_control(const struct pt_cache_opts *m, bool set, char *buf, size_t size)
{
    const char *fixed = "no-store";
    int n;

    if (set && m->no) {
        fixed = "no-cache";
    } else if (set && m->max_age > 0 && m->reuse) {
        n = snprintf(buf, size, "%s%s, max-age=%d",
                     m->revalidate ? "must-revalidate, " : "",
                     m->intermediaries ? "public" : "private",
                     m->max_age);
        if (n > 0 && (size_t)n < size)
            return (size_t)n;
        /* Cannot happen with PT_CACHE_CONTROL_MAX; fail safe. */
    }
    size_t len = strlen(fixed);
    if (len >= size) {
        if (size)
            buf[0] = '\0';
        return 0;
    }
    memcpy(buf, fixed, len + 1);
    return len;
}
