/* Request-target paths: percent-decoding and dot-segment removal, done once
 * before mount matching so that every handler sees a canonical path. */
#ifndef PT_URLPATH_H
#define PT_URLPATH_H

#include <stddef.h>

/* Decodes %XX escapes in in[0..len) (the path part, no query), merges
 * repeated slashes, removes "." and ".." segments (RFC 3986 5.2.4) and
 * writes the result to out, which must hold len + 1 bytes; out is
 * NUL-terminated.  The input must start with '/'.
 * Returns the output length, or -1 when the path is invalid: a bad escape,
 * an encoded NUL, an encoded '/' (it would change the segments), a control
 * byte, or a ".." that would climb above "/".  Segments are decoded before
 * the dot check, so "%2e%2e" is "..".  A trailing "/", "/." or "/.." leaves
 * a trailing slash ("/a/b/.." -> "/a/"). */
long pt_path_normalize(const char *in, size_t len, char *out);

/* pt_path_normalize() for a path that is decoded already (a regex mount's
 * rest, made of captures of a normalized path): the same slash merging,
 * dot-segment removal and refusals, but '%' is an ordinary byte. */
long pt_path_clean(const char *in, size_t len, char *out);

/* Decodes %XX in a query-free string (used for header-borne paths);
 * same rules for NUL (raw or encoded) and bad escapes; other bytes, '/'
 * included, pass through.  out must hold len bytes; it is NOT
 * NUL-terminated.  Returns length or -1. */
long pt_percent_decode(const char *in, size_t len, char *out);

/* Percent-encodes a decoded path (as pt_path_normalize made it) so that
 * it means the same to the next server: bytes other than RFC 3986 pchar
 * and '/' become %XX ('%', '?', '#' included).  out holds 3 * len bytes;
 * returns the length written (no NUL). */
size_t pt_path_encode(char *out, const char *in, size_t len);

/* Escapes the bytes of a raw (still encoded) query that cannot stand in a
 * header or a URI at all: controls, space, non-ASCII, '#'.  out holds
 * 3 * len bytes; returns the length written. */
size_t pt_query_encode(char *out, const char *in, size_t len);

#endif
