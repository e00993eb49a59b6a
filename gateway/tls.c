#include "gateway/tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "gateway/config.h"
#include "gateway/conn.h"
#include "gateway/diag.h"
#include "gateway/log.h"
#include "gateway/proto.h"
#include "gateway/vhost.h"
#include "gateway/worker.h"

/* TLS 1.2 suites for when the client has no TLS 1.3: forward secret,
 * AEAD only (Mozilla's "intermediate" list). */
#define DEFAULT_CIPHERS \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

/* ---- contexts --------------------------------------------------------- */

static void tls_error(struct pt_diag *d, const struct pt_vhost *vh, const char *key,
                      const char *file, const char *what)
{
    char buf[256] = "";
    unsigned long e = ERR_peek_last_error();
    if (e)
        ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    pt_diag_error(d, vh->pos.file, vh->pos.line, vh->pos.col,
                  "vhost \"%s\": %s \"%s\": %s%s%s", vh->name, key, file ? file : "",
                  what, *buf ? ": " : "", buf);
}

/* Checks a file is readable so the message says why, not only OpenSSL's. */
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
    if (!vh || !vh->ssl_ctx)
        return SSL_TLSEXT_ERR_OK;
    c->sni_vhost = vh;
    SSL_CTX *ctx = vh->ssl_ctx;
    if (SSL_get_SSL_CTX(ssl) != ctx) {
        SSL_set_SSL_CTX(ssl, ctx);
        /* Verification settings are per SSL once set: take the vhost's. */
        SSL_set_verify(ssl, SSL_CTX_get_verify_mode(ctx), NULL);
        SSL_set_options(ssl, SSL_CTX_get_options(ctx));
    }
    return SSL_TLSEXT_ERR_OK;
}

static bool same_str(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* Whether two vhosts would build the very same server context. */
static bool same_tls(const struct pt_vhost *a, const struct pt_vhost *b)
{
    return same_str(a->ssl_cert, b->ssl_cert) && same_str(a->ssl_key, b->ssl_key) &&
           same_str(a->ssl_ca, b->ssl_ca) && same_str(a->ciphers, b->ciphers) &&
           same_str(a->tls13_ciphers, b->tls13_ciphers) &&
           same_str(a->ecdh_curve, b->ecdh_curve) &&
           a->ssl_option_set == b->ssl_option_set &&
           a->ssl_option_clear == b->ssl_option_clear &&
           a->client_cert_required == b->client_cert_required;
}

int pt_tls_vhost_setup_shared(struct pt_vhost *vh, struct pt_vhost *earlier, size_t n,
                              struct pt_diag *d)
{
    /* Vhosts with the same certificate and settings (many names on one
     * certificate, a wildcard) share one context: each costs ~20 KB and a
     * millisecond to build.  Sessions then resume across them, which is
     * harmless with nothing in the context to tell them apart. */
    for (size_t i = 0; i < n; i++) {
        if (earlier[i].ssl_ctx && same_tls(&earlier[i], vh)) {
            SSL_CTX_up_ref(earlier[i].ssl_ctx);
            vh->ssl_ctx = earlier[i].ssl_ctx;
            return 0;
        }
    }
    return pt_tls_vhost_setup(vh, d);
}

int pt_tls_vhost_setup(struct pt_vhost *vh, struct pt_diag *d)
{
    if (!readable(d, vh, "host-ssl-cert", vh->ssl_cert) ||
        !readable(d, vh, "host-ssl-key", vh->ssl_key) ||
        (vh->ssl_ca && !readable(d, vh, "host-ssl-ca", vh->ssl_ca)))
        return -1;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        tls_error(d, vh, "TLS", "", "cannot create a context");
        return -1;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
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

    int rc = -1;
    if (SSL_CTX_use_certificate_chain_file(ctx, vh->ssl_cert) != 1) {
        tls_error(d, vh, "host-ssl-cert", vh->ssl_cert, "not a usable PEM certificate");
        goto out;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, vh->ssl_key, SSL_FILETYPE_PEM) != 1) {
        tls_error(d, vh, "host-ssl-key", vh->ssl_key, "not a usable PEM private key");
        goto out;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        tls_error(d, vh, "host-ssl-key", vh->ssl_key,
                  "does not match the certificate in host-ssl-cert");
        goto out;
    }
    if (vh->ssl_ca) {
        if (SSL_CTX_load_verify_locations(ctx, vh->ssl_ca, NULL) != 1) {
            tls_error(d, vh, "host-ssl-ca", vh->ssl_ca, "not a usable PEM CA file");
            goto out;
        }
        /* Complete the served chain from it where the cert file lacks it. */
        SSL_CTX_build_cert_chain(ctx, SSL_BUILD_CHAIN_FLAG_IGNORE_ERROR);
        ERR_clear_error();
    }
    if (vh->client_cert_required) {
        if (!vh->ssl_ca) {
            pt_diag_error(d, vh->pos.file, vh->pos.line, vh->pos.col,
                          "vhost \"%s\": client-cert-required needs host-ssl-ca", vh->name);
            goto out;
        }
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(vh->ssl_ca);
        if (names)
            SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        ERR_clear_error();
    }
    if (SSL_CTX_set_cipher_list(ctx, vh->ciphers ? vh->ciphers : DEFAULT_CIPHERS) != 1) {
        tls_error(d, vh, "ciphers", vh->ciphers, "no usable cipher");
        goto out;
    }
    if (vh->tls13_ciphers && SSL_CTX_set_ciphersuites(ctx, vh->tls13_ciphers) != 1) {
        tls_error(d, vh, "tls13-ciphers", vh->tls13_ciphers, "no usable TLS 1.3 suite");
        goto out;
    }
    if (vh->ecdh_curve && SSL_CTX_set1_groups_list(ctx, vh->ecdh_curve) != 1) {
        tls_error(d, vh, "ecdh-curve", vh->ecdh_curve, "unknown curve or group");
        goto out;
    }
    if (vh->ssl_option_set)
        SSL_CTX_set_options(ctx, (uint64_t)vh->ssl_option_set);
    if (vh->ssl_option_clear)
        SSL_CTX_clear_options(ctx, (uint64_t)vh->ssl_option_clear);
    SSL_CTX_set_alpn_select_cb(ctx, on_alpn, NULL);
    SSL_CTX_set_tlsext_servername_callback(ctx, on_servername);
    vh->ssl_ctx = ctx;
    return 0;
out:
    SSL_CTX_free(ctx);
    return rc;
}

void pt_tls_vhost_free(struct pt_vhost *vh)
{
    if (vh->ssl_ctx)
        SSL_CTX_free(vh->ssl_ctx);
    vh->ssl_ctx = NULL;
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
    c->ssl = SSL_new(vh->ssl_ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->io.fd) != 1) {
        ERR_clear_error();
        pt_conn_close(c);
        return;
    }
    SSL_set_app_data(c->ssl, c);
    SSL_set_accept_state(c->ssl);
    c->sni_vhost = vh; /* until SNI names another */
    c->hs_state = 0;
    pt_conn_set_events(c, EV_READ);
}
