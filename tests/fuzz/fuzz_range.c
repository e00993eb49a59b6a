/* libFuzzer target for Range headers.  The first 8 bytes are the body's
 * size, the rest the header.  Invariants: every range returned is within
 * the body, start <= end, at most PT_RANGE_MAX of them, and they do not
 * overlap.  Run by `make fuzz`. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mounts/range.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    uint64_t body;
    memcpy(&body, data, 8);
    body %= (uint64_t)1 << 50;
    struct pt_range r[PT_RANGE_MAX];
    unsigned n = 0;
    int rc = pt_range_parse((const char *)data + 8, size - 8, body, r, &n);
    if (rc != PT_RANGE_OK)
        return 0;
    if (n == 0 || n > PT_RANGE_MAX)
        abort();
    for (unsigned i = 0; i < n; i++) {
        if (r[i].start > r[i].end || r[i].end >= body)
            abort();
        for (unsigned j = 0; j < i; j++)
            if (r[i].start <= r[j].end && r[j].start <= r[i].end)
                abort();
    }
    return 0;
}
