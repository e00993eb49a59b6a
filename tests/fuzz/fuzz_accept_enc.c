/* libFuzzer target for Accept-Encoding (mounts/coding.c): the input is one
 * field value.
 *
 * Invariants: the qvalues found are -1 (not listed) or 0..1000; gzip is
 * acceptable exactly when it is listed with q > 0, or not listed and "*"
 * is; the value split at any comma into field lines (one request's several
 * Accept-Encoding lines, pt_req_accepts_gzip) says the same as the whole;
 * codings are case-insensitive (the value upper-cased says the same); an
 * element "gzip;q=0" added at the end refuses gzip unless it was listed
 * with q > 0 already, and "gzip" added at the end always accepts it.
 * Violations abort.  Run by `make fuzz`. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/request.h"
#include "mounts/coding.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* coding.c's inflating body source answers with pt_respond(), which
 * would pull in the whole request layer; nothing here gets that far. */
void pt_respond(struct pt_req *r, int status, int64_t length,
                const struct pt_body_ops *body, void *ctx)
{
    abort();
}

static struct pt_accept_enc parse(const char *v, size_t len)
{
    struct pt_accept_enc ae = { -1, -1 };
    char *c = malloc(len ? len : 1); /* exact size: ASan sees overreads */
    memcpy(c, v, len);
    pt_accept_enc_parse(&ae, c, len);
    free(c);
    return ae;
}

static bool same(struct pt_accept_enc a, struct pt_accept_enc b)
{
    return a.gzip_q == b.gzip_q && a.any_q == b.any_q;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *v = (const char *)data;
    struct pt_accept_enc ae = parse(v, size);
    if (ae.gzip_q < -1 || ae.gzip_q > 1000 || ae.any_q < -1 || ae.any_q > 1000)
        abort();
    bool gz = pt_accept_enc_gzip(&ae);
    if (gz != (ae.gzip_q >= 0 ? ae.gzip_q > 0 : ae.any_q > 0))
        abort();
    if (!same(ae, parse(v, size)))
        abort();

    /* the same list as field lines, cut at every comma, among others */
    size_t n = 2;
    for (size_t i = 0; i < size; i++)
        n += v[i] == ',';
    struct pt_hdr *h = calloc(n, sizeof *h);
    h[0] = (struct pt_hdr){ .name = "Accept", .value = "*/*", .name_len = 6, .value_len = 3 };
    size_t k = 1, start = 0;
    struct pt_accept_enc lines = { -1, -1 };
    for (size_t i = 0; i <= size; i++) {
        if (i < size && v[i] != ',')
            continue;
        const char *name = k & 1 ? "accept-encoding" : "Accept-Encoding";
        h[k++] = (struct pt_hdr){ .name = name, .value = v + start, .name_len = 15,
                                  .value_len = i - start };
        struct pt_accept_enc one = parse(v + start, i - start);
        pt_accept_enc_parse(&lines, v + start, i - start);
        if ((one.gzip_q > lines.gzip_q) || (one.any_q > lines.any_q))
            abort(); /* the better of several */
        start = i + 1;
    }
    if (!same(ae, lines))
        abort();
    struct pt_req r;
    memset(&r, 0, sizeof r);
    r.hdrs = h;
    r.n_hdrs = k;
    if (pt_req_accepts_gzip(&r) != gz)
        abort();
    r.n_hdrs = 1;
    if (pt_req_accepts_gzip(&r))
        abort(); /* no Accept-Encoding at all: identity only */
    free(h);

    char *u = malloc(size + 16);
    for (size_t i = 0; i < size; i++)
        u[i] = (char)toupper((unsigned char)v[i]);
    if (!same(ae, parse(u, size)))
        abort();
    memcpy(u, v, size);
    memcpy(u + size, ", gzip;q=0", 10);
    struct pt_accept_enc z = parse(u, size + 10);
    if (pt_accept_enc_gzip(&z) != (ae.gzip_q > 0) || z.any_q != ae.any_q)
        abort();
    memcpy(u + size, ",gzip", 5);
    z = parse(u, size + 5);
    if (!pt_accept_enc_gzip(&z) || z.gzip_q != 1000)
        abort();
    free(u);
    return 0;
}
