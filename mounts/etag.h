/* Validators for files (RFC 9110 8.8): a strong ETag built from the file's
 * identity and the entity-tag list comparisons the conditionals need. */
#ifndef PT_ETAG_H
#define PT_ETAG_H

#include <stdbool.h>
#include <stddef.h>

#include "fops/fops.h"

#define PT_ETAG_MAX 64 /* '"' + 3 x 16 hex + 3 x '-' + 8 + '"' + NUL fits */

/* "\"<hex mtime ns>-<hex size>-<hex inode>\"": changes whenever the file is
 * replaced or rewritten (the nanosecond mtime catches same-second edits).
 * Returns the length; buf holds at least PT_ETAG_MAX bytes. */
size_t pt_etag_format(const struct pt_fstat *st, char *buf);

/* The same for one representation of the file: coding (at most 8 bytes,
 * e.g. "gz") names a content coding and is appended ("\"...-gz\""), so a
 * gzip response never shares its tag with the identity one.  Members of
 * archives (st->has_crc) get "\"z<hex inode>-<hex crc>-<hex size>\"": the
 * archive's identity and the member's CRC-32 and size. */
size_t pt_etag_format_rep(const struct pt_fstat *st, const char *coding,
                          char *buf);

/* Whether the If-Match / If-None-Match list value hdr matches etag (a
 * strong tag as formatted above).  "*" matches.  weak: weak comparison
 * (If-None-Match), else strong (If-Match: "W/" tags never match). */
bool pt_etag_list_match(const char *hdr, size_t len, const char *etag,
                        size_t etag_len, bool weak);

#endif
