/* Content codings for file responses (RFC 9110 8.4, 12.5.3).
 *
 * A file whose stored bytes are a raw deflate stream (a deflated zip
 * member) has two representations: gzip, which is those bytes between a
 * 10-byte gzip header and an 8-byte trailer built from the CRC-32 and size
 * the archive records (no recompression), and identity, inflated on the
 * fly.  A pt_view is one representation as a byte sequence, for 200s,
 * ranges and multipart bodies alike. */
#ifndef PT_CODING_H
#define PT_CODING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fops/fops.h"

struct pt_req;

#define PT_GZIP_HEAD 10
#define PT_GZIP_TAIL 8
#define PT_INFLATE_IN 16384   /* input buffer of an inflating response */

/* What the Accept-Encoding field lines of a request say about gzip:
 * qvalues in thousandths, -1 when the coding is not listed. */
struct pt_accept_enc {
    int gzip_q;   /* "gzip" or "x-gzip" */
    int any_q;    /* "*" */
};

/* Adds one Accept-Encoding field line (a list) to *ae; start with
 * {-1, -1}.  An invalid qvalue counts as q=0. */
void pt_accept_enc_parse(struct pt_accept_enc *ae, const char *v, size_t len);

/* gzip is acceptable: listed with q > 0, or not listed and "*" is. */
bool pt_accept_enc_gzip(const struct pt_accept_enc *ae);

/* Both for every Accept-Encoding line of r. */
bool pt_req_accepts_gzip(const struct pt_req *r);

/* One representation of an open file, as bytes. */
struct pt_view {
    struct pt_file f;
    bool gzip;                          /* f's deflate bytes as gzip */
    unsigned char head[PT_GZIP_HEAD], tail[PT_GZIP_TAIL];
    uint64_t size;                      /* of the representation */
};

/* The view of f as stored (identity for plain files; for a deflate file
 * only with gzip).  Takes ownership of f (v->f). */
void pt_view_init(struct pt_view *v, const struct pt_file *f, bool gzip);

/* pread on the representation: bytes (short only at its end), 0 past it,
 * or -errno. */
ssize_t pt_view_read(struct pt_view *v, void *buf, size_t len, uint64_t off);

/* Whether bytes [off, off + len) of the representation are a range of
 * f's fd (so they can go by sendfile); sets *foff. */
bool pt_view_direct(const struct pt_view *v, uint64_t off, uint64_t len,
                    off_t *foff);

/* Responds with f's content inflated from its deflate bytes as the body
 * (Content-Length f->st.size).  Streaming, pulled at the client's pace:
 * one PT_INFLATE_IN input buffer plus zlib's state (its 32 KiB window
 * included) per response; output goes straight into the protocol's
 * buffer.  The CRC-32 and size are checked at the end: on a mismatch the
 * last bytes are not sent, the body source fails (the protocol aborts the
 * response) and the file is named in the log.  Takes ownership of f. */
void pt_respond_inflate(struct pt_req *r, int status, struct pt_file *f);

#endif
