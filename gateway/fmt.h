/* Small formatting helpers for hot paths, where snprintf costs more than
 * the rest of the work. */
#ifndef PT_FMT_H
#define PT_FMT_H

#include <stddef.h>
#include <stdint.h>

/* Writes v in decimal to out (at least 20 bytes); returns the length.
 * No NUL is written. */
static inline size_t pt_fmt_u64(char *out, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

#endif
