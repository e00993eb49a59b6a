/* Content codings for file responses: Accept-Encoding, the gzip framing of
 * raw deflate bytes, and the inflating body source (see coding.h). */
#include "mounts/coding.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "gateway/log.h"
#include "gateway/request.h"

/* ---- Accept-Encoding ---- */

static bool ows(char c)
{
    return c == ' ' || c == '\t';
}

/* A qvalue ("0", "0.5", "1.000") in thousandths; 0 when invalid. */
static int parse_qvalue(const char *p, size_t n)
{
    if (n == 0 || (p[0] != '0' && p[0] != '1') || n > 5 || (n > 1 && p[1] != '.'))
        return 0;
    int q = (p[0] - '0') * 1000, scale = 100;
    for (size_t i = 2; i < n; i++, scale /= 10) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        q += (p[i] - '0') * scale;
    }
    return q > 1000 ? 0 : q;
}

/* The q parameter of one list element's parameters ("; q=0.5; x=y"). */
static int element_q(const char *p, const char *end)
{
    int q = 1000;
    while (p < end) {
        while (p < end && (ows(*p) || *p == ';'))
            p++;
        const char *name = p;
        while (p < end && *p != '=' && *p != ';' && !ows(*p))
            p++;
        size_t nlen = (size_t)(p - name);
        while (p < end && ows(*p))
            p++;
        if (p == end || *p != '=')
            continue;
        p++;
        while (p < end && ows(*p))
            p++;
        const char *val = p;
        while (p < end && *p != ';' && !ows(*p))
            p++;
        if (nlen == 1 && (name[0] | 0x20) == 'q')
            q = parse_qvalue(val, (size_t)(p - val));
    }
    return q;
}

void pt_accept_enc_parse(struct pt_accept_enc *ae, const char *v, size_t len)
{
    const char *p = v, *end = v + len;
    while (p < end) {
        const char *el_end = memchr(p, ',', (size_t)(end - p));
        if (!el_end)
            el_end = end;
        while (p < el_end && ows(*p))
            p++;
        const char *tok = p;
        while (p < el_end && *p != ';' && !ows(*p))
            p++;
        size_t tlen = (size_t)(p - tok);
        int *slot = NULL;
        if ((tlen == 4 && strncasecmp(tok, "gzip", 4) == 0) ||
            (tlen == 6 && strncasecmp(tok, "x-gzip", 6) == 0))
            slot = &ae->gzip_q;
        else if (tlen == 1 && *tok == '*')
            slot = &ae->any_q;
        if (slot) {
            int q = element_q(p, el_end);
            if (q > *slot)
                *slot = q; /* listed twice: the better one */
        }
        p = el_end + (el_end < end);
    }
}

bool pt_accept_enc_gzip(const struct pt_accept_enc *ae)
{
    return ae->gzip_q >= 0 ? ae->gzip_q > 0 : ae->any_q > 0;
}

bool pt_req_accepts_gzip(const struct pt_req *r)
{
    struct pt_accept_enc ae = { -1, -1 };
    bool seen = false;
    for (size_t i = 0; i < r->n_hdrs; i++) {
        const struct pt_hdr *h = &r->hdrs[i];
        if (h->name_len == 15 && strncasecmp(h->name, "accept-encoding", 15) == 0) {
            pt_accept_enc_parse(&ae, h->value, h->value_len);
            seen = true;
        }
    }
    return seen && pt_accept_enc_gzip(&ae);
}

/* ---- views ---- */

static void le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

void pt_view_init(struct pt_view *v, const struct pt_file *f, bool gzip)
{
    v->f = *f;
    v->gzip = gzip;
    if (!gzip) {
        v->size = f->enc_size;
        return;
    }
    /* RFC 1952: magic, CM = deflate, no flags, no mtime, XFL 0, OS unknown. */
    static const unsigned char head[PT_GZIP_HEAD] = {
        0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255,
    };
    memcpy(v->head, head, sizeof head);
    le32(v->tail, f->st.crc32);
    le32(v->tail + 4, (uint32_t)f->st.size); /* ISIZE: size mod 2^32 */
    v->size = PT_GZIP_HEAD + f->enc_size + PT_GZIP_TAIL;
}

/* Copies what [off, off + len) has of the memory segment seg at at. */
static size_t seg_copy(char *out, size_t len, uint64_t off,
                          const unsigned char *seg, size_t seg_len, uint64_t at)
{
    if (off < at || off >= at + seg_len)
        return 0;
    size_t n = (size_t)(at + seg_len - off);
    if (n > len)
        n = len;
    memcpy(out, seg + (off - at), n);
    return n;
}

ssize_t pt_view_read(struct pt_view *v, void *buf, size_t len, uint64_t off)
{
    if (!v->gzip)
        return v->f.fops->read(&v->f, buf, len, off);
    char *out = buf;
    size_t done = 0;
    uint64_t data_end = PT_GZIP_HEAD + v->f.enc_size;
    while (done < len && off < v->size) {
        size_t n;
        if (off < PT_GZIP_HEAD) {
            n = seg_copy(out + done, len - done, off, v->head, PT_GZIP_HEAD, 0);
        } else if (off < data_end) {
            uint64_t k = data_end - off;
            ssize_t r = v->f.fops->read(&v->f, out + done,
                                        k < len - done ? (size_t)k : len - done,
                                        off - PT_GZIP_HEAD);
            if (r < 0)
                return done ? (ssize_t)done : r;
            if (r == 0)
                return done ? (ssize_t)done : -EIO; /* the archive shrank */
            n = (size_t)r;
        } else {
            n = seg_copy(out + done, len - done, off, v->tail, PT_GZIP_TAIL,
                            data_end);
        }
        done += n;
        off += n;
    }
    return (ssize_t)done;
}

bool pt_view_direct(const struct pt_view *v, uint64_t off, uint64_t len,
                    off_t *foff)
{
    if (v->f.fd < 0)
        return false;
    if (!v->gzip) {
        if (v->f.enc != PT_FENC_IDENTITY)
            return false;
        *foff = v->f.base + (off_t)off;
        return true;
    }
    if (off < PT_GZIP_HEAD || off + len > PT_GZIP_HEAD + v->f.enc_size)
        return false;
    *foff = v->f.base + (off_t)(off - PT_GZIP_HEAD);
    return true;
}

/* ---- inflating body ---- */

struct pt_inflate {
    struct pt_file f;
    z_stream z;
    bool z_init, ended;
    uint64_t in_off;    /* next stored byte to read */
    uint64_t out;       /* content bytes produced */
    uint32_t crc;
    unsigned char *in;  /* PT_INFLATE_IN bytes, from the first read on */
};

static ssize_t inflate_fail(struct pt_req *r, struct pt_inflate *b,
                               const char *why)
{
    char what[PATH_MAX + 64];
    if (b->f.fops->describe)
        b->f.fops->describe(&b->f, what, sizeof what);
    else
        snprintf(what, sizeof what, "%s", r->path ? r->path : "?");
    pt_err("zip: %s: %s after %llu of %llu bytes; response aborted", what, why,
           (unsigned long long)b->out, (unsigned long long)b->f.st.size);
    return PT_BODY_ERROR;
}

/* Refills the input buffer; NULL or why not. */
static const char *inflate_fill(struct pt_inflate *b)
{
    if (b->in_off >= b->f.enc_size)
        return "deflate data ends early (truncated member)";
    ssize_t n = b->f.fops->read(&b->f, b->in, PT_INFLATE_IN, b->in_off);
    if (n <= 0)
        return n < 0 ? "read error" : "archive shrank";
    b->in_off += (uint64_t)n;
    b->z.next_in = b->in;
    b->z.avail_in = (uInt)n;
    return NULL;
}

/* Inflates into out[0, len) until it is full or the stream ends.  Returns
 * NULL or why it failed. */
static const char *inflate_some(struct pt_inflate *b, unsigned char *out,
                                   size_t len, size_t *produced)
{
    b->z.next_out = out;
    b->z.avail_out = (uInt)len;
    const char *why = NULL;
    while (b->z.avail_out > 0 && !b->ended) {
        if (b->z.avail_in == 0 && (why = inflate_fill(b)))
            break;
        int zr = inflate(&b->z, Z_NO_FLUSH);
        if (zr == Z_STREAM_END)
            b->ended = true;
        else if (zr == Z_BUF_ERROR && b->z.avail_in == 0)
            continue; /* wants more input */
        else if (zr != Z_OK) {
            why = b->z.msg ? b->z.msg : "invalid deflate data";
            break;
        }
    }
    *produced = len - b->z.avail_out;
    return why;
}

static ssize_t inflate_read(struct pt_req *r, char *buf, size_t len)
{
    struct pt_inflate *b = r->body_ctx;
    uint64_t left = b->f.st.size - b->out;
    if (left == 0)
        return 0;
    if (!b->z_init) {
        if (inflateInit2(&b->z, -MAX_WBITS) != Z_OK)
            return inflate_fail(r, b, "out of memory for zlib");
        b->z_init = true;
        b->in = pt_pool_alloc(r->pool, PT_INFLATE_IN);
    }
    if (len > left)
        len = (size_t)left;
    if (len > UINT_MAX)
        len = UINT_MAX;
    size_t n;
    const char *why = inflate_some(b, (unsigned char *)buf, len, &n);
    if (why)
        return inflate_fail(r, b, why);
    if (n < len)
        return inflate_fail(r, b, "deflate data shorter than the member's size");
    b->crc = (uint32_t)crc32(b->crc, (const unsigned char *)buf, (uInt)n);
    b->out += n;
    if (b->out < b->f.st.size)
        return (ssize_t)n;
    /* The last bytes: hold them back until the stream ends here and the
     * CRC matches, so a client never takes corrupt data as complete. */
    unsigned char extra;
    size_t more = 0;
    if (!b->ended && (why = inflate_some(b, &extra, 1, &more)))
        return inflate_fail(r, b, why);
    if (more)
        return inflate_fail(r, b, "deflate data longer than the member's size");
    if (b->crc != b->f.st.crc32)
        return inflate_fail(r, b, "CRC-32 mismatch");
    return (ssize_t)n;
}

static void inflate_close(struct pt_req *r)
{
    struct pt_inflate *b = r->body_ctx;
    if (b->z_init)
        inflateEnd(&b->z);
    b->z_init = false;
    if (b->f.fops)
        b->f.fops->close(&b->f);
    b->f.fops = NULL;
}

static const struct pt_body_ops inflate_ops = {
    .read = inflate_read,
    .close = inflate_close,
};

void pt_respond_inflate(struct pt_req *r, int status, struct pt_file *f)
{
    if (f->st.size == 0) {
        f->fops->close(f);
        pt_respond(r, status, 0, NULL, NULL);
        return;
    }
    /* The buffer (and zlib's state) only when the body is read: a HEAD
     * costs neither. */
    struct pt_inflate *b = pt_pool_calloc(r->pool, sizeof *b);
    b->f = *f;
    pt_respond(r, status, (int64_t)f->st.size, &inflate_ops, b);
}
