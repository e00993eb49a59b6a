#include "gateway/tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/config.h"
#include "gateway/conn.h"
#include "gateway/diag.h"
#include "gateway/log.h"
#include "gateway/stats.h"
#include "gateway/proto.h"
#include "gateway/vhost.h"
#include "gateway/wire.h"
#include "gateway/worker.h"

/* TLS 1.2 suites for when the client has no TLS 1.3: forward secret,
 * AEAD only (Mozilla's "intermediate" list). */
#define DEFAULT_CIPHERS \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

/* TLS 1.3 in our order (server preference): AES-128-GCM first, as
 * Mozilla's "modern" list has it (it costs 10 AES rounds to AES-256's
 * 14, for a margin no attack approaches); ChaCha20 for a client that
 * lists it first, which means it has no AES instructions
 * (SSL_OP_PRIORITIZE_CHACHA). */
#define DEFAULT_TLS13_SUITES \
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

/* ---- contexts --------------------------------------------------------- */

/* A server context as vhosts share it (same certificate, key and
 * settings).  Its SSL_CTX is built at load, so that every error is found
 * then.  One without a CA (no client certificates) may be dropped: at most
 * tls-context-cache (100) of those live at once, the least recently used going first,
 * and a dropped one is built again from the PEM bytes read at load when a
 * handshake needs it.  So hundreds of vhosts each with a certificate cost
 * their certificates' bytes, not OpenSSL's ~22 KB of state each, while
 * the busy ones keep their contexts (and session caches). */
#define PEM_MAX (1 << 20)

struct pt_tls_ctx {
    int refs;                       /* vhosts sharing it (main thread) */
    bool lazy;                      /* may be dropped */
    SSL_CTX *live;                  /* lazy ones: under lru_lock; NULL: dropped */
    const struct pt_vhost *vh;      /* the settings: the first vhost */
    char *cert_pem, *key_pem;
    size_t cert_len, key_len;
    struct pt_tls_ctx *prev, *next; /* live lazy contexts, newest first */
};

static pthread_mutex_t lru_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pt_tls_ctx *lru_head, *lru_tail;
static size_t n_lru;
static size_t live_max = 100;

/* At load: problems go to d, at FILE:LINE:COL.  At a rebuild on a worker
 * (d NULL): to the log. */
static void tls_error(struct pt_diag *d, const struct pt_vhost *vh, const char *key,
                      const char *file, const char *what)
{
    char buf[256] = "";
    unsigned long e = ERR_peek_last_error();
    if (e)
        ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    if (!d) {
        pt_err("vhost \"%s\": %s \"%s\": %s%s%s (TLS context rebuilt on demand)", vh->name,
               key, file ? file : "", what, *buf ? ": " : "", buf);
        return;
    }
    pt_diag_error(d, vh->pos.file, vh->pos.line, vh->pos.col,
                  "vhost \"%s\": %s \"%s\": %s%s%s", vh->name, key, file ? file : "",
                  what, *buf ? ": " : "", buf);
}

/* Reads a PEM file whole, so the message says why, not only OpenSSL's. */
static char *slurp(struct pt_diag *d, const struct pt_vhost *vh, const char *key,
                   const char *file, size_t *len)
{
    const char *why = NULL;
    char *buf = NULL;
    struct stat st;
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0)
        why = strerror(errno);
    else if (!S_ISREG(st.st_mode))
        why = "not a regular file";
    else if (st.st_size > PEM_MAX)
        why = "larger than 1 MiB: not a PEM file";
    else if (!(buf = malloc((size_t)st.st_size + 1)))
        why = "out of memory";
    else if (read(fd, buf, (size_t)st.st_size) != st.st_size)
        why = "cannot be read whole";
    if (fd >= 0)
        close(fd);
    if (why) {
        pt_diag_error(d, vh->pos.file, vh->pos.line, vh->pos.col,
                      "vhost \"%s\": %s \"%s\": %s", vh->name, key, file, why);
        free(buf);
        return NULL;
    }
    *len = (size_t)st.st_size;
    return buf;
}

static bool readable(struct pt_diag *d, const struct pt_vhost *vh, const char *key,
                     const char *file)
{
    FILE *f = fopen(file, "r");
    if (!f) {
        pt_diag_error(d, vh->pos.file, vh->pos.line, vh->pos.col,
                      "vhost \"%s\": %s \"%s\": %s", vh->name, key, file, strerror(errno));
        return false;
    }
    fclose(f);
    return true;
}

static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    /* Our order wins: h2 when the client offers it. */
    size_t alen;
    const unsigned char *alpn = pt_protocol_alpn(&alen);
    if (SSL_select_next_proto((unsigned char **)out, outlen, alpn, (unsigned)alen, in,
                              inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK; /* no common protocol: no ALPN, HTTP/1.1 */
    return SSL_TLSEXT_ERR_OK;
}

static void lru_unlink(struct pt_tls_ctx *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        lru_head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    else
        lru_tail = t->prev;
    t->prev = t->next = NULL;
    n_lru--;
}

/* t is live and just used: newest; the oldest past live_max drop
 * their contexts (connections using one keep it: SSL holds a reference). */
static void lru_touch(struct pt_tls_ctx *t, bool linked)
{
    if (linked) {
        if (lru_head == t)
            return;
        lru_unlink(t);
    }
    t->next = lru_head;
    if (lru_head)
        lru_head->prev = t;
    lru_head = t;
    if (!lru_tail)
        lru_tail = t;
    n_lru++;
    while (n_lru > live_max) {
        struct pt_tls_ctx *old = lru_tail;
        lru_unlink(old);
        SSL_CTX_free(old->live);
        old->live = NULL;
    }
}

static SSL_CTX *build(const struct pt_tls_ctx *t, struct pt_diag *d);

/* t's context with a reference for the caller (SSL_CTX_free it after
 * SSL_new or SSL_set_SSL_CTX, which take their own), built again if it
 * was dropped; NULL if that fails (logged). */
static SSL_CTX *ctx_get(struct pt_tls_ctx *t)
{
    if (!t->lazy) {
        SSL_CTX_up_ref(t->live);
        return t->live;
    }
    pthread_mutex_lock(&lru_lock);
    if (t->live) {
        lru_touch(t, true);
        SSL_CTX_up_ref(t->live);
        SSL_CTX *ctx = t->live;
        pthread_mutex_unlock(&lru_lock);
        return ctx;
    }
    pthread_mutex_unlock(&lru_lock);
    SSL_CTX *made = build(t, NULL); /* outside the lock: a millisecond or so */
    if (!made)
        return NULL;
    pthread_mutex_lock(&lru_lock);
    if (t->live) {            /* another worker was quicker */
        SSL_CTX_free(made);
        lru_touch(t, true);
    } else {
        t->live = made;
        lru_touch(t, false);
    }
    SSL_CTX *ctx = t->live;
    SSL_CTX_up_ref(ctx);
    pthread_mutex_unlock(&lru_lock);
    return ctx;
}

/* SNI: choose the vhost (exact, then suffix, as for Host) and its
 * certificate before the server hello. */
static int on_servername(SSL *ssl, int *alert, void *arg)
{
    (void)alert;
    (void)arg;
    struct pt_conn *c = SSL_get_app_data(ssl);
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!c || !name)
        return SSL_TLSEXT_ERR_OK;
    const struct pt_vhost *vh = pt_vhost_select(c->listen, name, strlen(name));
    if (!vh || !vh->tls)
        return SSL_TLSEXT_ERR_OK;
    SSL_CTX *ctx = ctx_get(vh->tls);
    if (!ctx)
        return SSL_TLSEXT_ERR_OK; /* the default vhost's certificate */
    c->sni_vhost = vh;
    if (SSL_get_SSL_CTX(ssl) != ctx) {
        SSL_set_SSL_CTX(ssl, ctx);
        /* Verification settings are per SSL once set: take the vhost's. */
        SSL_set_verify(ssl, SSL_CTX_get_verify_mode(ctx), NULL);
        SSL_set_options(ssl, SSL_CTX_get_options(ctx));
    }
    SSL_CTX_free(ctx);
    return SSL_TLSEXT_ERR_OK;
}

/* Whether two vhosts would build the very same server context. */
static bool same_tls(const struct pt_vhost *a, const struct pt_vhost *b)
{
    return pt_str_same(a->ssl_cert, b->ssl_cert) && pt_str_same(a->ssl_key, b->ssl_key) &&
           pt_str_same(a->ssl_ca, b->ssl_ca) && pt_str_same(a->ciphers, b->ciphers) &&
           pt_str_same(a->tls13_ciphers, b->tls13_ciphers) &&
           pt_str_same(a->ecdh_curve, b->ecdh_curve) &&
           a->ssl_option_set == b->ssl_option_set &&
           a->ssl_option_clear == b->ssl_option_clear &&
           a->client_cert_required == b->client_cert_required;
}

bool pt_tls_can_follow(const struct pt_vhost *old, const struct pt_vhost *nu)
{
    return same_tls(old, nu) && !old->client_cert_required;
}

int pt_tls_vhost_setup_shared(struct pt_vhost *vh, struct pt_vhost *earlier, size_t n,
                              struct pt_diag *d)
{
    /* Vhosts with the same certificate and settings (many names on one
     * certificate, a wildcard) share one context.  Sessions then resume
     * across them, which is harmless with nothing in the context to tell
     * them apart. */
    for (size_t i = 0; i < n; i++) {
        if (earlier[i].tls && same_tls(&earlier[i], vh)) {
            vh->tls = earlier[i].tls;
            vh->tls->refs++;
            return 0;
        }
    }
    return pt_tls_vhost_setup(vh, d);
}

/* The certificate (then its chain) and the key from the PEM bytes. */
static bool use_pem(SSL_CTX *ctx, const struct pt_tls_ctx *t, struct pt_diag *d)
{
    const struct pt_vhost *vh = t->vh;
    BIO *b = BIO_new_mem_buf(t->cert_pem, (int)t->cert_len);
    X509 *x = b ? PEM_read_bio_X509_AUX(b, NULL, NULL, NULL) : NULL;
    bool ok = x && SSL_CTX_use_certificate(ctx, x) == 1;
    X509_free(x);
    while (ok) {
        X509 *ca = PEM_read_bio_X509(b, NULL, NULL, NULL);
        if (!ca) {
            unsigned long e = ERR_peek_last_error();
            ok = ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
            if (ok)
                ERR_clear_error(); /* the end of the file */
            break;
        }
        if (SSL_CTX_add0_chain_cert(ctx, ca) != 1) {
            X509_free(ca);
            ok = false;
        }
    }
    BIO_free(b);
    if (!ok) {
        tls_error(d, vh, "host-ssl-cert", vh->ssl_cert, "not a usable PEM certificate");
        return false;
    }
    b = BIO_new_mem_buf(t->key_pem, (int)t->key_len);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    ok = k && SSL_CTX_use_PrivateKey(ctx, k) == 1;
    EVP_PKEY_free(k);
    BIO_free(b);
    if (!ok) {
        tls_error(d, vh, "host-ssl-key", vh->ssl_key, "not a usable PEM private key");
        return false;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        tls_error(d, vh, "host-ssl-key", vh->ssl_key,
                  "does not match the certificate in host-ssl-cert");
        return false;
    }
    return true;
}

static SSL_CTX *build(const struct pt_tls_ctx *t, struct pt_diag *d)
{
    const struct pt_vhost *vh = t->vh;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        tls_error(d, vh, "TLS", "", "cannot create a context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_PRIORITIZE_CHACHA);
    /* Partial and moved writes: our output buffer is retried from where it
     * stopped.  Released buffers: an idle TLS connection holds no 16K
     * record buffers. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    /* Per vhost: a session made for one vhost never resumes on another
     * (whose client-certificate rules may differ). */
    unsigned char sid[SHA256_DIGEST_LENGTH];
    char key[300];
    int klen = snprintf(key, sizeof(key), "%s:%d", vh->name, vh->port);
    SHA256((const unsigned char *)key, (size_t)(klen < (int)sizeof(key) ? klen : (int)sizeof(key) - 1), sid);
    SSL_CTX_set_session_id_context(ctx, sid, SSL_MAX_SID_CTX_LENGTH < sizeof(sid) ? SSL_MAX_SID_CTX_LENGTH : sizeof(sid));
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);

    if (!use_pem(ctx, t, d))
        goto fail;
    if (vh->ssl_ca) {
        if (SSL_CTX_load_verify_locations(ctx, vh->ssl_ca, NULL) != 1) {
            tls_error(d, vh, "host-ssl-ca", vh->ssl_ca, "not a usable PEM CA file");
            goto fail;
        }
        /* Complete the served chain from it where the cert file lacks it. */
        SSL_CTX_build_cert_chain(ctx, SSL_BUILD_CHAIN_FLAG_IGNORE_ERROR);
        ERR_clear_error();
    }
    if (vh->client_cert_required) {
        if (!vh->ssl_ca) {
            pt_diag_error(d, vh->pos.file, vh->pos.line, vh->pos.col,
                          "vhost \"%s\": client-cert-required needs host-ssl-ca", vh->name);
            goto fail;
        }
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(vh->ssl_ca);
        if (names)
            SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        ERR_clear_error();
    }
    if (SSL_CTX_set_cipher_list(ctx, vh->ciphers ? vh->ciphers : DEFAULT_CIPHERS) != 1) {
        tls_error(d, vh, "ciphers", vh->ciphers, "no usable cipher");
        goto fail;
    }
    if (SSL_CTX_set_ciphersuites(ctx, vh->tls13_ciphers ? vh->tls13_ciphers
                                                        : DEFAULT_TLS13_SUITES) != 1) {
        tls_error(d, vh, "tls13-ciphers", vh->tls13_ciphers, "no usable TLS 1.3 suite");
        goto fail;
    }
    if (vh->ecdh_curve && SSL_CTX_set1_groups_list(ctx, vh->ecdh_curve) != 1) {
        tls_error(d, vh, "ecdh-curve", vh->ecdh_curve, "unknown curve or group");
        goto fail;
    }
    if (vh->ssl_option_set)
        SSL_CTX_set_options(ctx, (uint64_t)vh->ssl_option_set);
    if (vh->ssl_option_clear)
        SSL_CTX_clear_options(ctx, (uint64_t)vh->ssl_option_clear);
    SSL_CTX_set_alpn_select_cb(ctx, on_alpn, NULL);
    SSL_CTX_set_tlsext_servername_callback(ctx, on_servername);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

static void ctx_free(struct pt_tls_ctx *t)
{
    if (t->lazy) {
        pthread_mutex_lock(&lru_lock);
        if (t->live)
            lru_unlink(t);
        pthread_mutex_unlock(&lru_lock);
    }
    SSL_CTX_free(t->live);
    OPENSSL_clear_free(t->key_pem, t->key_len);
    free(t->cert_pem);
    free(t);
}

int pt_tls_vhost_setup(struct pt_vhost *vh, struct pt_diag *d)
{
    struct pt_tls_ctx *t = calloc(1, sizeof(*t));
    if (!t)
        return -1;
    t->refs = 1;
    t->vh = vh;
    t->cert_pem = slurp(d, vh, "host-ssl-cert", vh->ssl_cert, &t->cert_len);
    if (t->cert_pem)
        t->key_pem = slurp(d, vh, "host-ssl-key", vh->ssl_key, &t->key_len);
    if (!t->key_pem || (vh->ssl_ca && !readable(d, vh, "host-ssl-ca", vh->ssl_ca)) ||
        !(t->live = build(t, d))) {
        ctx_free(t);
        return -1;
    }
    /* Client certificates: the CA file is read from disk when built, so
     * such contexts stay. */
    t->lazy = !vh->ssl_ca;
    if (t->lazy) {
        pthread_mutex_lock(&lru_lock);
        lru_touch(t, false);
        pthread_mutex_unlock(&lru_lock);
    }
    vh->tls = t;
    return 0;
}

int pt_tls_pin(struct pt_vhost *vh)
{
    struct pt_tls_ctx *t = vh->tls;
    if (!t || !t->lazy)
        return 0;
    SSL_CTX *ctx = ctx_get(t); /* built again if load evicted it */
    if (!ctx)
        return -1;
    pthread_mutex_lock(&lru_lock);
    lru_unlink(t);
    t->lazy = false;
    pthread_mutex_unlock(&lru_lock);
    SSL_CTX_free(ctx); /* t->live keeps its own */
    return 0;
}

void pt_tls_vhost_free(struct pt_vhost *vh)
{
    struct pt_tls_ctx *t = vh->tls;
    vh->tls = NULL;
    if (t && --t->refs == 0)
        ctx_free(t);
}

void pt_tls_context_cache(int max)
{
    pthread_mutex_lock(&lru_lock);
    live_max = max > 0 ? (size_t)max : 1;
    pthread_mutex_unlock(&lru_lock);
}

size_t pt_tls_live_contexts(void)
{
    pthread_mutex_lock(&lru_lock);
    size_t n = n_lru;
    pthread_mutex_unlock(&lru_lock);
    return n;
}

/* ---- handshake -------------------------------------------------------- */

static void hs_fail(struct pt_conn *c, const char *why)
{
    char ip[46];
    uint16_t port;
    pt_conn_peer(c, ip, sizeof(ip), &port);
    pt_info_rl("%s:%u: TLS handshake failed: %s", ip, port, why);
    pt_conn_close(c);
}

/* allow-non-tls: a first byte that cannot start a TLS record means plain
 * HTTP.  Returns 1 (TLS), 0 (plaintext, handed to HTTP/1), -1 (wait). */
static int sniff(struct pt_conn *c)
{
    unsigned char b;
    ssize_t n = recv(c->io.fd, &b, 1, MSG_PEEK);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? -1 : 1;
    if (n == 0 || b == 0x16)
        return 1;
    const struct pt_vhost *vh = pt_conn_default_vhost(c);
    SSL_free(c->ssl);
    c->ssl = NULL;
    c->redirect_https = vh && vh->redirect_http;
    pt_conn_start_protocol(c, NULL, 0, NULL, 0);
    ev_feed_event(c->w->loop, &c->io, EV_READ);
    return 0;
}

static void hs_on_io(struct pt_conn *c, int revents)
{
    (void)revents;
    if (c->hs_state == 0) {
        const struct pt_vhost *vh = pt_conn_default_vhost(c);
        if (vh && vh->allow_non_tls) {
            int s = sniff(c);
            if (s < 0)
                return;
            if (s == 0)
                return;
        }
        c->hs_state = 1;
    }
    ERR_clear_error();
    /* The handshake has timeout-secs from accept in all: last_activity is
     * not refreshed by each step of a client that dribbles it. */
    int n = SSL_do_handshake(c->ssl);
    if (n == 1) {
        X509 *peer = SSL_get1_peer_certificate(c->ssl);
        c->client_cert_ok = peer && SSL_get_verify_result(c->ssl) == X509_V_OK;
        X509_free(peer);
        const unsigned char *proto = NULL;
        unsigned len = 0;
        SSL_get0_alpn_selected(c->ssl, &proto, &len);
        c->hs_state = 0;
        pt_stats_handshake(c->w->id);
        pt_conn_start_protocol(c, (const char *)proto, len, NULL, 0);
        return;
    }
    switch (SSL_get_error(c->ssl, n)) {
    case SSL_ERROR_WANT_READ:
        pt_conn_set_events(c, EV_READ);
        return;
    case SSL_ERROR_WANT_WRITE:
        pt_conn_set_events(c, EV_WRITE);
        return;
    default: {
        char buf[256] = "connection closed";
        unsigned long e = ERR_peek_last_error();
        if (e)
            ERR_error_string_n(e, buf, sizeof(buf));
        ERR_clear_error();
        hs_fail(c, buf);
    }
    }
}

const struct pt_conn_ops pt_tls_handshake_ops = {
    .name = "TLS handshake",
    .on_io = hs_on_io,
    .timeout = pt_conn_timeout_secs,
    .drain = pt_conn_close, /* nothing in flight yet */
    .destroy = NULL,
};

void pt_tls_accept(struct pt_conn *c)
{
    const struct pt_vhost *vh = c->listen->vhosts[0];
    c->ops = &pt_tls_handshake_ops;
    SSL_CTX *ctx = ctx_get(vh->tls);
    c->ssl = ctx ? SSL_new(ctx) : NULL;
    SSL_CTX_free(ctx);
    BIO *bio = c->ssl ? pt_wire_bio(c) : NULL;
    if (!bio) {
        ERR_clear_error();
        pt_conn_close(c);
        return;
    }
    SSL_set_bio(c->ssl, bio, bio);
    /* Whole buffers per read(2), not a record header and then its body. */
    SSL_set_read_ahead(c->ssl, 1);
    SSL_set_app_data(c->ssl, c);
    SSL_set_accept_state(c->ssl);
    c->sni_vhost = vh; /* until SNI names another */
    c->hs_state = 0;
    pt_conn_set_events(c, EV_READ);
}
