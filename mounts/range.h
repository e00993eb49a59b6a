/* Range requests (RFC 9110 14): parsing and validation of a Range header
 * against a representation length. */
#ifndef PT_RANGE_H
#define PT_RANGE_H

#include <stddef.h>
#include <stdint.h>

#define PT_RANGE_MAX 16  /* more ranges than this: serve the whole body */

struct pt_range {
    uint64_t start, end;  /* inclusive */
};

enum {
    PT_RANGE_NONE = 0,          /* ignore the header: send 200 */
    PT_RANGE_OK = 1,            /* n ranges, satisfiable, sorted as sent */
    PT_RANGE_UNSATISFIABLE = 2, /* 416 with Content-Range: bytes * /size */
};

/* Parses "bytes=0-99,200-,-50" for a body of size bytes.  Unsatisfiable
 * ranges are dropped; if none is left -> UNSATISFIABLE.  A syntactically
 * invalid header or another unit -> NONE (RFC: ignore).  Overlapping or
 * too many ranges -> NONE (serve whole, as nginx does for abuse). */
int pt_range_parse(const char *hdr, size_t len, uint64_t size,
                   struct pt_range *out, unsigned *n);

#endif
