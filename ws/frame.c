/* RFC 6455 frame heads, masking, and UTF-8 validation (see frame.h). */
#include "ws/frame.h"

#include <string.h>

int pt_ws_head_parse(const uint8_t *buf, size_t len, bool rsv1_ok, struct pt_ws_head *h,
                     const char **why)
{
    if (len < 2)
        return 0;
    h->fin = buf[0] & 0x80;
    h->rsv1 = buf[0] & 0x40;
    h->opcode = buf[0] & 0x0f;
    h->masked = buf[1] & 0x80;
    uint64_t n = buf[1] & 0x7f;
    size_t need = 2 + (n == 126 ? 2 : n == 127 ? 8 : 0) + 4;
    if (buf[0] & 0x30) {
        *why = "RSV2/RSV3 set";
        return -1;
    }
    if (h->rsv1 && !rsv1_ok) {
        *why = "RSV1 set without permessage-deflate";
        return -1;
    }
    bool control = h->opcode & 0x8;
    if (h->opcode > PT_WS_BINARY && (h->opcode < PT_WS_CLOSE || h->opcode > PT_WS_PONG)) {
        *why = "unknown opcode";
        return -1;
    }
    if (control && (!h->fin || n > 125 || h->rsv1)) {
        *why = "a control frame fragmented, compressed or over 125 bytes";
        return -1;
    }
    if (!h->masked) {
        *why = "an unmasked client frame";
        return -1;
    }
    if (len < need)
        return 0;
    const uint8_t *p = buf + 2;
    if (n == 126) {
        n = (uint64_t)p[0] << 8 | p[1];
        p += 2;
        if (n < 126) {
            *why = "a length not in its shortest form";
            return -1;
        }
    } else if (n == 127) {
        n = 0;
        for (int i = 0; i < 8; i++)
            n = n << 8 | p[i];
        p += 8;
        if (n >> 63 || n <= 0xffff) {
            *why = n >> 63 ? "a length with its top bit set" : "a length not in its shortest form";
            return -1;
        }
    }
    memcpy(h->mask, p, 4);
    h->len = n;
    return (int)need;
}

size_t pt_ws_head_write(uint8_t *out, bool fin, bool rsv1, uint8_t opcode, uint64_t len)
{
    out[0] = (uint8_t)((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | (opcode & 0x0f));
    if (len < 126) {
        out[1] = (uint8_t)len;
        return 2;
    }
    if (len <= 0xffff) {
        out[1] = 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    return 10;
}

void pt_ws_unmask(uint8_t *data, size_t len, const uint8_t mask[4], uint64_t pos)
{
    for (size_t i = 0; i < len; i++)
        data[i] ^= mask[(pos + i) & 3];
}

/* The state is the number of continuation bytes still expected (bits
 * 8..), with the bounds the next one must lie in (bits 16.. and 24..) for
 * the first continuation of E0/ED/F0/F4 sequences; 1 is "invalid". */
uint32_t pt_utf8_feed(uint32_t state, const uint8_t *s, size_t len)
{
    if (state == PT_UTF8_BAD)
        return state;
    unsigned need = (state >> 8) & 0xff;
    unsigned lo = (state >> 16) & 0xff, hi = state >> 24;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = s[i];
        if (need) {
            unsigned l = lo ? lo : 0x80, h = hi ? hi : 0xbf;
            if (c < l || c > h)
                return PT_UTF8_BAD;
            need--;
            lo = hi = 0;
            continue;
        }
        if (c < 0x80)
            continue;
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            if (c == 0xe0)
                lo = 0xa0;          /* no overlong forms */
            else if (c == 0xed)
                hi = 0x9f;          /* no surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            if (c == 0xf0)
                lo = 0x90;
            else if (c == 0xf4)
                hi = 0x8f;          /* nothing past U+10FFFF */
        } else {
            return PT_UTF8_BAD;
        }
    }
    return need << 8 | lo << 16 | hi << 24;
}

bool pt_ws_close_code_ok(unsigned code)
{
    if (code >= 3000 && code <= 4999)
        return true;
    return code >= 1000 && code <= 1014 && code != 1004 && code != 1005 && code != 1006;
}
