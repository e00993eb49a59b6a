/* libFuzzer target for HTTP/2 server connections: nghttp2 with portico's
 * session (h2/), streams as requests, its limits, dispatch and handlers.
 * The real transport (gateway/conn.c) of a worker without a thread accepts
 * one end of a socketpair; the input, after the client magic, is what the
 * client sends.  The loop runs (EVRUN_NOWAIT) while input goes in and
 * output comes out, then the client closes and what is left is closed.
 * The config (a temporary directory made once per process) has one vhost:
 * files (with an error document and a basic-auth part), a redirect, and
 * /echo, the target's own handler: a 103, then the request body back with
 * a trailer.
 *
 * Invariants on what the server sends: frames, our SETTINGS first; only
 * SETTINGS, PING, GOAWAY and WINDOW_UPDATE on stream 0 and nothing else
 * there; no PUSH_PROMISE, PRIORITY or unknown type; HEADERS and DATA only
 * on streams the client opened with HEADERS, none once the stream ended
 * (END_STREAM, our RST_STREAM), no new stream above a GOAWAY's last id;
 * header blocks whole (CONTINUATION right after, same stream) that HPACK
 * decodes: :status first and the only pseudo-field, 1xx then a final
 * status, DATA only after that and not for 204/304, trailers without
 * pseudo-fields ending the stream; names lower-case, none connection-
 * specific; DATA at most 16384 bytes and within the client's flow-control
 * windows (stream and connection: its largest initial window plus its
 * WINDOW_UPDATEs).  Violations abort; ASan/UBSan/LSan catch the rest
 * (every connection and request is gone after each input).  Run by
 * `make fuzz`. */
#include <arpa/inet.h>
#include <ftw.h>
#include <nghttp2/nghttp2.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/config.h"
#include "gateway/conn.h"
#include "gateway/diag.h"
#include "gateway/handler.h"
#include "gateway/http.h"
#include "gateway/limits.h"
#include "gateway/log.h"
#include "gateway/request.h"
#include "gateway/worker.h"
#include "h2/h2.h"
#include "mounts/mounts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pt_config *conf;
static struct pt_worker w;

/* ---- /echo: the request body back (its first 64 KiB) ---- */

struct echo_buf {
    char *data; /* in the pool */
    size_t len;
};

static void echo_read(struct pt_req *r)
{
    struct echo_buf *b = r->handler_ctx;
    for (;;) {
        char tmp[4096];
        ssize_t n = pt_req_body_read(r, tmp, sizeof tmp);
        if (n == PT_BODY_AGAIN) {
            r->on_body_ready = echo_read;
            return;
        }
        if (n < 0) {
            pt_respond_error(r, 400, "bad body");
            return;
        }
        if (n == 0)
            break;
        size_t k = (size_t)n < 65536 - b->len ? (size_t)n : 65536 - b->len;
        memcpy(b->data + b->len, tmp, k);
        b->len += k;
    }
    pt_resp_trailer(r, "x-echo", 6, "done", 4);
    pt_respond_buf(r, 200, "application/octet-stream", b->data, b->len);
}

static void echo_handle(struct pt_req *r)
{
    struct pt_hdr link = { "Link", "</a.css>; rel=preload", 4, 21 };
    pt_respond_interim(r, 103, &link, 1);
    struct echo_buf *b = pt_pool_calloc(r->pool, sizeof *b);
    b->data = pt_pool_alloc(r->pool, 65536);
    r->handler_ctx = b;
    echo_read(r);
}

static const char *const echo_schemes[] = {"echo://", NULL};
static const struct pt_handler echo = {
    .abi_version = PT_HANDLER_ABI, .struct_size = sizeof(struct pt_handler),
    .name = "echo", .schemes = echo_schemes, .handle = echo_handle,
};

/* ---- once ---- */

static char dir[64] = "/tmp/pt_fuzz_h2.XXXXXX";

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

static void cleanup(void)
{
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void put(const char *rel, const char *text, size_t len)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    FILE *f = fopen(p, "w");
    if (!f || fwrite(text, 1, len, f) != len || fclose(f) != 0)
        abort();
}

static void init(void)
{
    static char buf[1024], big[100000];
    if (!mkdtemp(dir))
        abort();
    atexit(cleanup);
    snprintf(buf, sizeof buf, "%s/www", dir);
    mkdir(buf, 0755);
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + i % 26);
    put("www/big.txt", big, sizeof big);
    put("www/index.html", "<p>hi</p>\n", 10);
    put("www/404.html", "gone\n", 5);
    put("users", "alice:secret\n", 13);
    int n = snprintf(buf, sizeof buf,
        "{\"global\": {\"h2-max-concurrent-streams\": 16, \"max-header-size\": 4096},\n"
        " \"vhosts\": [{\"name\": \"localhost\", \"port\": 1, \"error-document-404\": \"/404.html\","
        " \"headers\": {\"x-frame-options\": \"DENY\"}, \"mounts\": ["
        " {\"mountpoint\": \"/\", \"origin\": \"file://%s/www\"},"
        " {\"mountpoint\": \"/echo\", \"origin\": \"echo://x\"},"
        " {\"mountpoint\": \"/r\", \"origin\": \">https://example.com/\", \"append-path\": 1},"
        " {\"mountpoint\": \"/priv\", \"origin\": \"file://%s/www\","
        " \"basic-auth\": \"%s/users\"}]}]}\n", dir, dir, dir);
    put("conf", buf, (size_t)n);

    signal(SIGPIPE, SIG_IGN);
    pt_log_level = -1; /* no output */
    pt_protocol_register(&pt_h2_protocol); /* the default: no http/1.1 */
    if (pt_handler_register(&pt_handler_file) || pt_handler_register(&pt_handler_redirect) ||
        pt_handler_register(&echo))
        abort();
    struct pt_diag d = { 0 };
    if (!(conf = pt_config_load(dir, &d)))
        abort();
    pt_limits_init(conf);
    w.loop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOENV);
    static struct pt_wsnap snap; /* the one snapshot, current for good */
    snap.conf = conf;
    w.snaps = &snap;
    w.conf = conf;
    w.reserve_fd = -1;
    w.rbuf_cap = 16384;
    w.rbuf = malloc(w.rbuf_cap);
    pt_worker_buffers_init(&w);
    pthread_mutex_init(&w.mbox_lock, NULL);
}

/* ---- what the client sent: stream ids (at most 65536 / 9), windows ---- */

#define SLOTS 16384
static struct stream {
    int32_t id; /* 0: a free slot */
    bool opened, headers, final, ended;
    int status;
    uint64_t data, window;
} st[SLOTS];
static uint16_t used[SLOTS];
static size_t n_used;
static uint64_t conn_window, init_window, max_frame;

static struct stream *find(int32_t id, bool add)
{
    size_t i = ((uint32_t)id * 2654435761u) % SLOTS;
    while (st[i].id && st[i].id != id)
        i = (i + 1) % SLOTS;
    if (!st[i].id && add) {
        memset(&st[i], 0, sizeof st[i]);
        st[i].id = id;
        used[n_used++] = (uint16_t)i;
    }
    return st[i].id ? &st[i] : NULL;
}

static uint32_t be(const uint8_t *p, int n)
{
    uint32_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static void scan_client(const uint8_t *p, size_t len)
{
    while (n_used)
        st[used[--n_used]].id = 0;
    conn_window = init_window = 65535;
    max_frame = 16384;
    for (size_t off = 0; off + 9 <= len; off += 9 + be(p + off, 3)) {
        uint32_t flen = be(p + off, 3), id = be(p + off + 5, 4) & 0x7fffffff;
        const uint8_t *pl = p + off + 9;
        size_t have = len - off - 9 < flen ? len - off - 9 : flen;
        struct stream *s = id ? find((int32_t)id, true) : NULL;
        if (p[off + 3] == 1 && s)
            s->opened = true;
        for (size_t k = 0; p[off + 3] == 4 && !(p[off + 4] & 1) && k + 6 <= have; k += 6) {
            uint32_t v = be(pl + k + 2, 4);
            if (be(pl + k, 2) == 4 && v > init_window)
                init_window = v;
            if (be(pl + k, 2) == 5 && v > max_frame)
                max_frame = v;
        }
        if (p[off + 3] == 8 && have >= 4)
            *(s ? &s->window : &conn_window) += be(pl, 4) & 0x7fffffff;
    }
}

/* ---- what the server sent ---- */

static uint8_t out[1 << 22];
static size_t out_len;

static void block(nghttp2_hd_inflater *inf, struct stream *s, uint8_t *b, size_t len,
                  bool end_stream)
{
    bool trailers = s->final;
    if (trailers && !end_stream)
        abort();
    if (!trailers)
        s->status = 0;
    for (bool first = true;;) {
        nghttp2_nv nv;
        int fl = 0;
        ssize_t rv = nghttp2_hd_inflate_hd2(inf, &nv, &fl, b, len, 1);
        if (rv < 0 || (rv == 0 && len == 0 && !(fl & NGHTTP2_HD_INFLATE_FINAL)))
            abort();
        b += rv;
        len -= (size_t)rv;
        if (fl & NGHTTP2_HD_INFLATE_EMIT) {
            const char *n = (const char *)nv.name, *v = (const char *)nv.value;
            for (size_t i = 0; i < nv.namelen; i++)
                if (n[i] >= 'A' && n[i] <= 'Z')
                    abort();
            bool pseudo = nv.namelen && n[0] == ':';
            if (pt_http_connection_specific(n, nv.namelen) || pseudo != (first && !trailers))
                abort(); /* :status first, and alone */
            if (pseudo && (!pt_http_name_is(n, nv.namelen, ":status") || nv.valuelen != 3 ||
                           v[0] < '1' || v[0] > '5' || v[1] < '0' || v[1] > '9' ||
                           v[2] < '0' || v[2] > '9'))
                abort();
            if (pseudo)
                s->status = (v[0] - '0') * 100 + (v[1] - '0') * 10 + (v[2] - '0');
            first = false;
        }
        if (fl & NGHTTP2_HD_INFLATE_FINAL)
            break;
    }
    nghttp2_hd_inflate_end_headers(inf);
    if (!trailers && (s->status == 0 || s->status == 101 || (s->status < 200 && end_stream)))
        abort();
    s->final = s->status >= 200;
}

static void check_output(void)
{
    nghttp2_hd_inflater *inf;
    if (nghttp2_hd_inflate_new(&inf) != 0)
        abort();
    static uint8_t hb[1 << 20];
    size_t hb_len = 0;
    int32_t cont = 0, goaway = INT32_MAX;
    bool end = false;
    uint64_t sent = 0;
    for (size_t off = 0; off + 9 <= out_len;) {
        const uint8_t *f = out + off, *pl = f + 9;
        uint32_t len = be(f, 3), id = be(f + 5, 4) & 0x7fffffff;
        uint8_t type = f[3], flags = f[4];
        if (off + 9 + len > out_len)
            break; /* cut off by the close */
        off += 9 + len;
        struct stream *s = id ? find((int32_t)id, false) : NULL;
        if ((f == out && (type != 4 || flags != 0)) || type == 2 || type == 5 || type > 9 ||
            (id == 0) != (type == 4 || type == 6 || type == 7 || (type == 8 && id == 0)) ||
            (id && !s) || (cont && (type != 9 || (int32_t)id != cont)) ||
            (!cont && type == 9) || (type == 0 && len > 16384) || len > max_frame)
            abort();
        if (type == 7 && len >= 8)
            goaway = (int32_t)(be(pl, 4) & 0x7fffffff);
        if (type == 3)
            s->ended = true;
        if (type == 0) {
            if (!s->final || s->ended || ((s->status == 204 || s->status == 304) && len))
                abort();
            s->data += len; /* padding counts too */
            sent += len;
            if (s->data > init_window + s->window || sent > conn_window)
                abort(); /* beyond the client's flow-control window */
            s->ended = flags & 1;
        }
        if (type == 1) {
            if (!s->opened || s->ended || (!s->headers && (int32_t)id > goaway))
                abort();
            s->headers = true;
            size_t skip = (flags & 8 ? 1 : 0) + (flags & 0x20 ? 5 : 0);
            size_t pad = flags & 8 ? pl[0] : 0;
            if (skip + pad > len)
                abort();
            pl += skip;
            len -= (uint32_t)(skip + pad);
            hb_len = 0;
            end = flags & 1;
        }
        if (type == 1 || type == 9) {
            if (hb_len + len > sizeof hb)
                break;
            memcpy(hb + hb_len, pl, len);
            hb_len += len;
            cont = flags & 4 ? 0 : (int32_t)id;
            if (!cont) {
                block(inf, s, hb, hb_len, end);
                s->ended = end;
            }
        }
    }
    nghttp2_hd_inflate_del(inf);
}

/* ---- one connection ---- */

static void drain(int fd)
{
    uint8_t buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        if (out_len + (size_t)n <= sizeof out)
            memcpy(out + out_len, buf, (size_t)n);
        out_len += (size_t)n;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!conf)
        init();
    uint8_t *in = malloc(24 + size);
    memcpy(in, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24);
    memcpy(in + 24, data, size);
    size_t total = 24 + size, off = 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        abort();
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(40000),
                              .sin_addr.s_addr = htonl(0x7f000001) };
    out_len = 0;
    pt_conn_accept(&w, sv[0], &conf->listens[0], (struct sockaddr *)&sa, sizeof sa, 0);
    int idle = 0;
    bool shut = false;
    for (int i = 0; i < 256 && w.n_conns && idle < 4; i++) {
        size_t before = out_len;
        ssize_t n = off < total ? write(sv[1], in + off, total - off) : 0;
        off += n > 0 ? (size_t)n : 0;
        ev_run(w.loop, EVRUN_NOWAIT);
        drain(sv[1]);
        idle = out_len == before && off == total ? idle + 1 : 0;
        if (idle == 3 && !shut) {
            shutdown(sv[1], SHUT_WR); /* the client goes */
            shut = true;
            idle = 0;
        }
    }
    while (w.conns)
        pt_conn_close(w.conns);
    drain(sv[1]);
    close(sv[1]);
    if (out_len <= sizeof out) {
        scan_client(in + 24, size);
        check_output();
    }
    free(in);
    return 0;
}
