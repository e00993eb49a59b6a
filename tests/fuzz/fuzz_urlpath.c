/* libFuzzer target for request-target paths: percent-decoding, dot-segment
 * removal and re-encoding (the proxy forwards the re-encoded form).
 *
 * Invariants: a normalized path starts with '/', has no "." or ".."
 * segment, no "//", no NUL, stays within its buffer; encoding it and
 * normalizing the encoding gives it back (the backend sees the same path
 * as the mount matched).  Run by `make fuzz`. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/urlpath.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void canonical(const char *p, long n)
{
    if (n < 1 || p[0] != '/' || memchr(p, '\0', (size_t)n))
        abort();
    for (long i = 0; i < n; i++) {
        if (p[i] != '/')
            continue;
        const char *seg = p + i + 1;
        long left = n - i - 1;
        if (left >= 1 && seg[0] == '/')
            abort();
        if ((left == 1 && seg[0] == '.') || (left >= 2 && seg[0] == '.' && seg[1] == '/'))
            abort();
        if ((left == 2 && seg[0] == '.' && seg[1] == '.') ||
            (left >= 3 && seg[0] == '.' && seg[1] == '.' && seg[2] == '/'))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size + 1);
    in[0] = '/';
    memcpy(in + 1, data, size);
    size_t len = size + 1;
    char *out = malloc(len + 1);
    long n = pt_path_normalize(in, len, out);
    if (n >= 0) {
        if ((size_t)n > len || out[n] != '\0')
            abort();
        canonical(out, n);
        char *enc = malloc(3 * (size_t)n + 1);
        size_t e = pt_path_encode(enc, out, (size_t)n);
        char *back = malloc(e + 1);
        long b = pt_path_normalize(enc, e, back);
        if (b != n || memcmp(back, out, (size_t)n) != 0)
            abort();
        free(enc);
        free(back);
    }
    char *dec = malloc(size ? size : 1);
    long d = pt_percent_decode((const char *)data, size, dec);
    if (d > (long)size || (d >= 0 && memchr(dec, '\0', (size_t)d)))
        abort();
    char *q = malloc(3 * size + 1);
    size_t ql = pt_query_encode(q, (const char *)data, size);
    for (size_t i = 0; i < ql; i++)
        if ((unsigned char)q[i] <= 0x20 || (unsigned char)q[i] >= 0x7f || q[i] == '#')
            abort();
    free(q);
    free(dec);
    free(out);
    free(in);
    return 0;
}
