/* TLS to backends (see tls_client.h). */
#include "gateway/tls_client.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/config.h"
#include "gateway/conn.h"
#include "gateway/diag.h"
#include "gateway/log.h"

#define DEFAULT_CIPHERS \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

struct pt_tls_client_ctx {
    struct pt_tls_client_ctx *next;
    unsigned char hash[SHA256_DIGEST_LENGTH];
    unsigned refs;
    bool insecure;
    SSL_CTX *ctx;
};

/* Made and freed on the main thread only (config load and retire). */
static struct pt_tls_client_ctx *contexts;
static size_t n_contexts;
static int slot_index = -1; /* SSL ex_data: the caller's SSL_SESSION ** */

/* A session to keep (TLS 1.3: after the handshake, with the first read). */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
    SSL_SESSION **slot = SSL_get_ex_data(ssl, slot_index);
    if (!slot)
        return 0;
    if (*slot)
        SSL_SESSION_free(*slot);
    *slot = sess;
    return 1; /* the reference is ours now */
}

static void hash_opts(const struct pt_tls_client_opts *o, unsigned char *out)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    const char *fields[] = {o->ca, o->cert, o->key, o->ciphers, o->insecure ? "1" : "0"};
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        /* Each field with its length: ("ab","c") never equals ("a","bc"). */
        size_t n = fields[i] ? strlen(fields[i]) + 1 : 0;
        EVP_DigestUpdate(md, &n, sizeof(n));
        if (n)
            EVP_DigestUpdate(md, fields[i], n);
    }
    EVP_DigestFinal_ex(md, out, NULL);
    EVP_MD_CTX_free(md);
}

static void report(struct pt_diag *d, const struct pt_srcpos *pos, const char *what,
                   const char *file)
{
    char buf[256] = "";
    unsigned long e = ERR_peek_last_error();
    if (e)
        ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    pt_diag_error(d, pos->file, pos->line, pos->col, "%s%s%s%s%s%s", what,
                  file ? " \"" : "", file ? file : "", file ? "\"" : "", *buf ? ": " : "",
                  buf);
}

static bool is_address(const char *s)
{
    unsigned char tmp[16];
    return inet_pton(AF_INET, s, tmp) == 1 || inet_pton(AF_INET6, s, tmp) == 1;
}

static SSL_CTX *make_ctx(const struct pt_tls_client_opts *o, struct pt_diag *d,
                         const struct pt_srcpos *pos)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        report(d, pos, "cannot create a TLS client context", NULL);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    /* Sessions are kept by the caller (one per upstream per worker). */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
    SSL_CTX_sess_set_new_cb(ctx, on_new_session);
    if (slot_index < 0)
        slot_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    if (SSL_CTX_set_cipher_list(ctx, o->ciphers ? o->ciphers : DEFAULT_CIPHERS) != 1) {
        report(d, pos, "no usable cipher in", o->ciphers);
        goto fail;
    }
    if (!o->insecure) {
        int ok = o->ca ? SSL_CTX_load_verify_locations(ctx, o->ca, NULL)
                       : SSL_CTX_set_default_verify_paths(ctx);
        if (ok != 1) {
            report(d, pos, o->ca ? "proxy-ca: not a usable PEM CA file" : "the system's CA store",
                   o->ca);
            goto fail;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    }
    if (o->cert || o->key) {
        if (!o->cert || !o->key) {
            pt_diag_error(d, pos->file, pos->line, pos->col,
                          "proxy-client-cert and proxy-client-key go together");
            goto fail;
        }
        if (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1) {
            report(d, pos, "proxy-client-cert: not a usable PEM certificate", o->cert);
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
            report(d, pos, "proxy-client-key: not the certificate's PEM key", o->key);
            goto fail;
        }
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

struct pt_tls_client_ctx *pt_tls_client_get(const struct pt_tls_client_opts *o,
                                            struct pt_diag *d, const struct pt_srcpos *pos)
{
    unsigned char h[SHA256_DIGEST_LENGTH];
    hash_opts(o, h);
    for (struct pt_tls_client_ctx *cc = contexts; cc; cc = cc->next) {
        if (memcmp(cc->hash, h, sizeof(h)) == 0) {
            cc->refs++;
            return cc;
        }
    }
    SSL_CTX *ctx = make_ctx(o, d, pos);
    if (!ctx)
        return NULL;
    struct pt_tls_client_ctx *cc = calloc(1, sizeof(*cc));
    if (!cc) {
        SSL_CTX_free(ctx);
        pt_diag_error(d, pos->file, pos->line, pos->col, "out of memory");
        return NULL;
    }
    memcpy(cc->hash, h, sizeof(h));
    cc->refs = 1;
    cc->ctx = ctx;
    cc->insecure = o->insecure;
    cc->next = contexts;
    contexts = cc;
    n_contexts++;
    pt_info("TLS client context %zu made (CA %s%s%s)", n_contexts,
            o->insecure ? "not verified" : o->ca ? o->ca : "system store",
            o->cert ? ", client certificate " : "", o->cert ? o->cert : "");
    return cc;
}

void pt_tls_client_put(struct pt_tls_client_ctx *cc)
{
    if (!cc || --cc->refs)
        return;
    struct pt_tls_client_ctx **pp = &contexts;
    while (*pp != cc)
        pp = &(*pp)->next;
    *pp = cc->next;
    n_contexts--;
    SSL_CTX_free(cc->ctx);
    free(cc);
}

size_t pt_tls_client_count(void)
{
    return n_contexts;
}

int pt_tls_client_start(struct pt_conn *c, struct pt_tls_client_ctx *cc, const char *host,
                        const unsigned char *alpn, size_t alpn_len, SSL_SESSION **session)
{
    SSL *ssl = SSL_new(cc->ctx);
    if (!ssl || SSL_set_fd(ssl, c->io.fd) != 1) {
        SSL_free(ssl);
        ERR_clear_error();
        return -1;
    }
    SSL_set_connect_state(ssl);
    /* A literal address is neither sent as SNI nor checked as a name. */
    char bare[64];
    size_t hl = strlen(host);
    bool literal = false;
    if (host[0] == '[' && hl < sizeof(bare) + 2) {
        memcpy(bare, host + 1, hl - 2);
        bare[hl - 2] = '\0';
        literal = true;
    } else {
        snprintf(bare, sizeof(bare), "%s", host);
        literal = is_address(bare);
    }
    if (!literal)
        SSL_set_tlsext_host_name(ssl, host);
    if (!cc->insecure) {
        if (literal)
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), bare);
        else
            SSL_set1_host(ssl, host);
    }
    if (alpn)
        SSL_set_alpn_protos(ssl, alpn, (unsigned)alpn_len);
    if (session) {
        if (*session)
            SSL_set_session(ssl, *session);
        SSL_set_ex_data(ssl, slot_index, session);
    }
    ERR_clear_error();
    c->ssl = ssl;
    return 0;
}

int pt_tls_client_step(struct pt_conn *c, char *why, size_t size)
{
    ERR_clear_error();
    int n = SSL_do_handshake(c->ssl);
    if (n == 1)
        return 1;
    switch (SSL_get_error(c->ssl, n)) {
    case SSL_ERROR_WANT_READ:
        pt_conn_set_events(c, EV_READ);
        return 0;
    case SSL_ERROR_WANT_WRITE:
        pt_conn_set_events(c, EV_WRITE);
        return 0;
    default:
        break;
    }
    long v = SSL_get_verify_result(c->ssl);
    unsigned long e = ERR_peek_last_error();
    if (v != X509_V_OK)
        snprintf(why, size, "TLS: certificate verify failed: %s",
                 X509_verify_cert_error_string(v));
    else if (e)
        ERR_error_string_n(e, why, size);
    else
        snprintf(why, size, "TLS handshake: connection closed");
    ERR_clear_error();
    return -1;
}
