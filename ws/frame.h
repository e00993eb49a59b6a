/* RFC 6455 framing: frame heads (parse and write), unmasking, and a
 * streaming UTF-8 check for text messages.  Pure functions: no I/O. */
#ifndef PT_WS_FRAME_H
#define PT_WS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    PT_WS_CONT = 0x0, PT_WS_TEXT = 0x1, PT_WS_BINARY = 0x2,
    PT_WS_CLOSE = 0x8, PT_WS_PING = 0x9, PT_WS_PONG = 0xA,
};

#define PT_WS_HEAD_MAX 14   /* 2 + 8 (length) + 4 (mask) */

struct pt_ws_head {
    bool fin;
    bool rsv1;              /* permessage-deflate: the message is compressed */
    uint8_t opcode;
    bool masked;
    uint8_t mask[4];
    uint64_t len;
};

/* Parses a frame head at buf.  Returns its length, 0 when more bytes are
 * needed, or -1 with *why when it breaks the rules a server enforces: an
 * unmasked client frame, RSV2/RSV3 (or RSV1 when rsv1_ok is false), an
 * unknown opcode, a control frame longer than 125 bytes or fragmented, a
 * length with its top bit set or not in its shortest form. */
int pt_ws_head_parse(const uint8_t *buf, size_t len, bool rsv1_ok, struct pt_ws_head *h,
                     const char **why);

/* Writes a server (unmasked) frame head; returns its length (2..10). */
size_t pt_ws_head_write(uint8_t *out, bool fin, bool rsv1, uint8_t opcode, uint64_t len);

/* XORs data with the mask; pos: how many payload bytes came before. */
void pt_ws_unmask(uint8_t *data, size_t len, const uint8_t mask[4], uint64_t pos);

/* UTF-8 check that can be fed in pieces: start with 0; feed returns the
 * new state, PT_UTF8_BAD once invalid.  Complete: state is 0 at the end. */
#define PT_UTF8_BAD 1u
uint32_t pt_utf8_feed(uint32_t state, const uint8_t *s, size_t len);

/* Whether a close code may be sent by a peer (RFC 6455 7.4). */
bool pt_ws_close_code_ok(unsigned code);

#endif
