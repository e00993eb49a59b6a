/* libFuzzer target for WebSocket framing and permessage-deflate: frame
 * heads (a length never past the input, control frames within the
 * rules), UTF-8 checked whole and in two pieces agreeing, extension
 * offers, and inflating within a limit.  The first byte picks which.
 * Run by `make fuzz`. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws/deflate.h"
#include "ws/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0] % 4;
    data++, size--;
    switch (mode) {
    case 0: {
        struct pt_ws_head h;
        const char *why = NULL;
        int n = pt_ws_head_parse(data, size, size & 1, &h, &why);
        if (n > 0 && ((size_t)n > size || n < 6 || !h.masked ||
                      ((h.opcode & 8) && (h.len > 125 || !h.fin)) || (h.len >> 63)))
            abort();
        if (n < 0 && !why)
            abort();
        break;
    }
    case 1: {
        uint32_t whole = pt_utf8_feed(0, data, size);
        size_t cut = size ? data[0] % (size + 1) : 0;
        uint32_t st = pt_utf8_feed(0, data, cut);
        st = pt_utf8_feed(st, data + cut, size - cut);
        if ((whole == 0) != (st == 0) || (whole == PT_UTF8_BAD) != (st == PT_UTF8_BAD))
            abort();
        break;
    }
    case 2: {
        char resp[160];
        int bits = 0;
        if (pt_ws_deflate_agree((const char *)data, size, resp, sizeof(resp), &bits) &&
            (bits < 9 || bits > 10 || strlen(resp) >= sizeof(resp)))
            abort();
        break;
    }
    case 3: {
        char *out = NULL;
        size_t n = 0;
        if (pt_ws_inflate(data, size, 4096, &out, &n) == 0) {
            if (n > 4096)
                abort();
            free(out);
        }
        break;
    }
    }
    return 0;
}
