/* permessage-deflate (RFC 7692) for server connections.
 *
 * Portico always answers with server_no_context_takeover and
 * client_no_context_takeover: every message is compressed on its own, so
 * zlib's state exists only while a message is being compressed or
 * inflated, and an idle connection holds none of it.  The compressor uses
 * a 1 KiB window (or the client's server_max_window_bits if smaller). */
#ifndef PT_WS_DEFLATE_H
#define PT_WS_DEFLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Reads a Sec-WebSocket-Extensions value; when it offers permessage-deflate
 * with parameters portico can honour, writes the response value to resp
 * and the compressor's window bits to *bits and returns true. */
bool pt_ws_deflate_agree(const char *offer, size_t len, char *resp, size_t cap, int *bits);

/* Inflates one whole message (its frames' payloads joined) into *out
 * (malloc'ed; *out_len bytes).  Returns 0, -1 for a corrupt stream, or -2
 * when the result would exceed max bytes. */
int pt_ws_inflate(const uint8_t *in, size_t len, size_t max, char **out, size_t *out_len);

/* Compresses one message for a frame with RSV1 (the trailing 00 00 ff ff
 * removed).  *out is malloc'ed.  Returns 0 or -1. */
int pt_ws_deflate(const void *in, size_t len, int bits, uint8_t **out, size_t *out_len);

#endif
