/* The loaded configuration: an immutable, reference-counted snapshot.
 *
 * pt_config_load() reads DIR/conf and DIR/conf.d/ (lexical order) in the
 * lwsws JSON format, validates every key, and then lets each mount's handler
 * set itself up (open directories, read auth files).  Connections take a
 * reference for their lifetime, so a reload can swap in a new snapshot
 * without disturbing live requests. */
#ifndef PT_CONFIG_H
#define PT_CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pt_diag;
struct pt_handler;

struct pt_kv {
    char *name;
    char *value;
};

struct pt_kvlist {
    struct pt_kv *v;
    size_t n;
};

/* Frees every name and value and the array; leaves an empty list. */
void pt_kvlist_free(struct pt_kvlist *l);

/* Where a config value came from, for messages. */
struct pt_srcpos {
    const char *file; /* owned by the config (pt_config.files) */
    int line, col;
};

enum pt_origin_kind {
    PT_ORIGIN_FILE,     /* file://dir or file://x.zip */
    PT_ORIGIN_REDIRECT, /* >http://..., >https://... */
    PT_ORIGIN_CGI,      /* cgi://prog */
    PT_ORIGIN_HTTP,     /* http://host[:port][/path] (proxy) */
    PT_ORIGIN_HTTPS,    /* https://... (proxy) */
    PT_ORIGIN_CALLBACK, /* callback://name */
};

struct pt_mount {
    char *mountpoint; /* normalized: leading '/', no trailing '/' except "/" */
    size_t mountpoint_len;
    char *origin;     /* as written */
    enum pt_origin_kind kind;
    char *target;     /* origin past the scheme: dir, URL ("http://..." for
                         redirects), program, host/path, callback name */
    char *def;        /* "default": index file name, default "index.html" */

    bool cache_set;   /* any cache-* key present */
    int cache_max_age;
    bool cache_reuse, cache_revalidate, cache_intermediaries, cache_no;

    struct pt_kvlist extra_mimetypes; /* ".ext" (or "*") -> type */
    struct pt_kvlist headers;         /* added after the vhost's */
    bool exact_match;
    bool append_path;
    bool allow_dotfiles;              /* serve ".x" path segments */
    char *basic_auth;                 /* file of user:password lines */
    struct pt_kvlist cgi_env;
    int cgi_timeout;                  /* seconds; 0 = default */
    struct pt_kvlist pmo;

    struct pt_srcpos pos;             /* of the mount object */
    struct pt_srcpos origin_pos;      /* of the "origin" value */

    /* Filled by the mount table at load time. */
    const struct pt_handler *handler;
    void *handler_data;
    struct pt_kvlist auth_users;      /* parsed basic-auth file */
};

struct pt_errdoc {
    int status;
    char *path;
};

struct pt_vhost {
    char *name;
    int port;
    char *interface;   /* NULL: all addresses */
    struct pt_mount *mounts;
    size_t n_mounts;
    char *access_log;  /* path or NULL */
    int keepalive_timeout; /* seconds, default 60 */
    struct pt_kvlist headers;
    struct pt_errdoc *errdocs; /* error-document-NNN */
    size_t n_errdocs;

    /* TLS (parsed now, used by the TLS front end) */
    char *ssl_cert, *ssl_key, *ssl_ca;
    char *ciphers, *tls13_ciphers, *ecdh_curve;
    long ssl_option_set, ssl_option_clear;
    int sts;                 /* bool */
    bool allow_non_tls, redirect_http, client_cert_required;

    struct pt_srcpos pos;

    /* Runtime, set up at load: shared O_APPEND fd, -1 if none. */
    int access_log_fd;
    void *ssl_ctx;           /* SSL_CTX * for TLS vhosts (gateway/tls.c) */
};

struct pt_global {
    int count_threads;       /* default: online CPUs */
    char *server_string;     /* default "portico" */
    int timeout_secs;        /* default 5 */
    int ip_limit_ah, ip_limit_wsi;
    int uid, gid;            /* -1 if unset */
    char *username, *groupname;
    char *plugin_dir;
    bool init_ssl;
    long rlimit_nofile;      /* 0 if unset */
    struct pt_kvlist reject_service_keywords;
    int max_header_size;     /* "max-header-size", default 16384 */
    int max_uri_length;      /* "max-uri-length", default 8192 */
    int drain_timeout_secs;  /* "drain-timeout-secs", default 10 */
    int h2_max_streams;      /* "h2-max-concurrent-streams", default 100 */
    int h2_window;           /* "h2-initial-window-size", default 65535 */
};

/* A distinct listening socket: one per (interface, port). Vhosts on it are
 * listed in config order; the first is the default. */
struct pt_listen {
    int port;
    char *interface;
    bool tls;                /* its vhosts have certificates */
    struct pt_vhost **vhosts;
    size_t n_vhosts;
};

struct pt_config {
    atomic_int refs;
    char *dir;
    struct pt_global g;
    struct pt_vhost *vhosts;
    size_t n_vhosts;
    struct pt_listen *listens;
    size_t n_listens;
    char **files;            /* file names referenced by pt_srcpos */
    size_t n_files;
};

/* Loads and validates; returns NULL after reporting every error to diag. */
struct pt_config *pt_config_load(const char *dir, struct pt_diag *diag);
void pt_config_ref(struct pt_config *c);
void pt_config_unref(struct pt_config *c);

/* lwsws booleans: true/false, numbers (non-zero true), "on", "yes", "true",
 * "1" (and their opposites). Returns 0 and sets *out, or -1. */
int pt_parse_bool(const char *s, bool *out);

#endif
