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
#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gateway/ipaddr.h"

struct pt_access_logs;
struct pt_authstate;
struct pt_regex;
struct pt_diag;
struct pt_handler;
struct pt_logfmt;
struct pt_tls_ctx;

struct pt_kv {
    char *name;
    char *value;
};

struct pt_kvlist {
    struct pt_kv *v;
    size_t n;
};

/* Whether two optional strings (NULL: not set) are the same. */
static inline bool pt_str_same(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* Frees every name and value and the array; leaves an empty list. */
void pt_kvlist_free(struct pt_kvlist *l);

/* Where a config value came from, for messages. */
struct pt_srcpos {
    const char *file; /* owned by the config (pt_config.files) */
    int line, col;
};

/* A key of a config object, read by the loader into a struct at `off`:
 * the core's own tables, and each mount handler's (gateway/handler.h). */
enum pt_key_type {
    PT_KEY_STR,     /* char *, malloc'ed */
    PT_KEY_PATH,    /* char *, a file name: relative ones are made absolute
                     * against the configuration directory (-c) */
    PT_KEY_INT,     /* int, decimal, min..max */
    PT_KEY_LONG,    /* long, decimal, min..max */
    PT_KEY_FLAGS,   /* long, also 0x... */
    PT_KEY_BOOL,    /* bool */
    PT_KEY_INTBOOL, /* int 0/1 */
    PT_KEY_KV,      /* struct pt_kvlist of name/value pairs */
    PT_KEY_HEADERS, /* struct pt_kvlist of HTTP header fields */
    PT_KEY_MIMES,   /* struct pt_kvlist of ".ext": "type" */
    PT_KEY_CIDRS,   /* struct pt_cidrs: an array of "addr[/bits]" (or one string, comma-separated) */
    PT_KEY_REJECTS, /* struct pt_kvlist of "User-Agent keyword": "4xx/5xx status"
                     * (reject-service-keywords), also compiled into pt_global.rejects */
};

struct pt_key {
    const char *name;
    enum pt_key_type type;
    size_t off;
    long min, max;
};

/* The installed data directory ("_lws_ddir_" in config strings): BIN/../share
 * when it holds portico's files, else the one configured at build time. */
const char *pt_config_datadir(void);

/* The key table of "global", "vhost" or "mount" (the core's mount keys;
 * a handler has its own). */
const struct pt_key *pt_config_keys(const char *scope);

/* Frees what the loader allocated for keys in obj (strings, lists). */
void pt_keys_free(const struct pt_key *keys, void *obj);

/* Where a key of a mount was written (for the handler's messages). */
struct pt_keypos {
    const char *key;  /* the key table's name */
    struct pt_srcpos pos;
};

struct pt_mount {
    char *mountpoint; /* normalized: leading '/', no trailing '/' except "/";
                       * a regex ("~pattern", "~*pattern") as written */
    size_t mountpoint_len; /* 0 for a regex */
    char *origin;     /* as written (the first, when a list), less origin_tail */
    char *target;     /* origin past its scheme */
    char **origins;   /* a list of origins (handlers that take one), or NULL */
    struct pt_srcpos *origins_pos;
    size_t n_origins;
    const struct pt_handler *handler; /* chosen by the origin's scheme */
    int handler_slot; /* in the handler registry (per-worker state) */
    void *opts;       /* the handler's options, from its keys */
    void *handler_data; /* made by the handler's setup() */
    bool ready;       /* set up: requests may be handled */
    const char *bind_device; /* its vhost's "interface" under "bind-iface": upstream
                              * sockets leave by that device only (owned by the vhost) */

    struct pt_kvlist headers;         /* added after the vhost's */
    const struct pt_kvlist *vhost_mimes;  /* its vhost's extra-mimetypes */
    const struct pt_kvlist *global_mimes; /* the global mime-types file's */
    bool exact_match;
    char *basic_auth;                 /* file of user:password lines */
    struct pt_authstate *auth;        /* its users, re-read on change (gateway/authstate.h) */

    struct pt_srcpos pos;             /* of the mount object */
    struct pt_srcpos origin_pos;      /* of the "origin" value */
    struct pt_keypos *keypos;         /* every key present, with its place */
    size_t n_keypos;

    struct pt_regex *regex;           /* a regex mountpoint, compiled (gateway/regex.h);
                                       * NULL: a path prefix */
    /* A regex mount whose origin names captures ("file:///srv/$1/htdocs"):
     * its origin(s) and target stop before the path segment of the first
     * $N ("file:///srv"), and the rest of the path is this template
     * ("/$1/htdocs") filled in per request (pt_mount_route()).  NULL: the
     * rest is the whole path, as for the "/" mount. */
    char *rest_tmpl;                  /* decoded, a path: what is substituted */
    char *origin_tail;                /* as written: -T puts it back on each origin */

    const struct pt_vhost *vhost;     /* its vhost (set before setup) */
    const struct pt_config *conf;     /* and its snapshot */
    /* Whose per-session data its requests keep (a plugin instance, set by
     * setup); a request elsewhere drops another owner's (pt_session). */
    const void *session_owner;
    uint32_t stats_id;                /* its counters (gateway/stats.h) */
};

/* Where key was written in m (its value), else where m was. */
const struct pt_srcpos *pt_mount_key_pos(const struct pt_mount *m, const char *key);
/* Whether the mount object has key. */
bool pt_mount_has_key(const struct pt_mount *m, const char *key);

struct pt_errdoc {
    int status;
    char *path;
};

/* One entry of a vhost's "ws-protocols": a plugin enabled there, with
 * its options ({"name": {"option": "value"}}, lwsws's format). */
struct pt_wsproto {
    char *name;
    struct pt_kvlist opts;
    struct pt_srcpos pos;
    /* The plugin's instance when the entry enables one (plugins/, at
     * load; fixed from then on, so workers read it without a lock). */
    void *instance;
};

struct pt_vhost {
    char *name;
    int port;
    char *interface;   /* NULL: all addresses */
    struct pt_mount *mounts;
    size_t n_mounts;
    char *access_log;  /* path or NULL */
    char *access_log_format; /* "access-log-format": NULL: the global one */
    int keepalive_timeout; /* seconds, default 60 */
    struct pt_kvlist headers;
    struct pt_kvlist extra_mimetypes; /* ".ext": "type", for its file mounts */
    struct pt_errdoc *errdocs; /* error-document-NNN */
    size_t n_errdocs;

    /* TLS (parsed now, used by the TLS front end) */
    char *ssl_cert, *ssl_key, *ssl_ca;
    char *ciphers, *tls13_ciphers, *ecdh_curve;
    long ssl_option_set, ssl_option_clear;
    int sts;                 /* bool */
    bool allow_non_tls, redirect_http, client_cert_required;
    bool bind_iface;         /* "bind-iface": sockets bound to the interface device */
    bool strict_host_check;  /* a Host no vhost on the port has: 400, not this vhost */
    bool unix_socket;        /* "unix-socket": "interface" is a unix-domain socket path */
    char *unix_socket_perms; /* "unix-socket-perms": "user:group" owning that socket */
    bool ignore_missing_cert; /* skipped (a warning) while its certificate is missing */

    /* limits (gateway/limits.c); -1: the global value */
    int ip_limit_wsi, ip_limit_ah;
    int ip_limit_rate, ip_limit_burst; /* requests/s per peer; burst -1: = rate */
    struct pt_cidrs ip_allow, ip_deny;
    bool proxy_protocol;     /* its port starts connections with a PROXY header */
    uint32_t index;          /* position in the config, from 1 (rate buckets) */
    uint32_t stats_id;       /* counters of requests no mount took (gateway/stats.h) */
    struct pt_wsproto *ws_protocols; /* "ws-protocols" */
    size_t n_ws_protocols;

    struct pt_srcpos pos;

    /* Runtime, set up at load: shared O_APPEND fd (its own access-log, else
     * the global one), -1 if none; the format (NULL: combined). */
    int access_log_fd;
    const struct pt_logfmt *access_log_fmt;
    struct pt_tls_ctx *tls;  /* TLS vhosts: the server context (gateway/tls.c) */
    bool has_regex;          /* a mount has a regex mountpoint: patterns are tried */
};

/* An entry of "reject-service-keywords", ready for requests. */
struct pt_reject {
    const char *keyword;     /* the list's name: a User-Agent substring, or "~pattern" */
    size_t keyword_len;
    int status;              /* 4xx or 5xx */
    struct pt_regex *regex;  /* a "~" keyword, compiled; NULL: a substring */
};

struct pt_global {
    int count_threads;       /* default: online CPUs */
    int ws_pingpong_secs;    /* "ws-pingpong-secs": WebSocket ping after this much silence; 0: off */
    char *server_string;     /* default "portico" */
    size_t server_string_len; /* its length (set at load: used per response) */
    int timeout_secs;        /* default 5 */
    int ip_limit_ah, ip_limit_wsi;
    int ip_limit_v6_prefix;  /* "ip-limit-v6-prefix", default 64 */
    int ip_limit_table_size; /* "ip-limit-table-size", default 65536 */
    struct pt_cidrs ip_allow, ip_deny, trusted_proxies;
    int max_connections;     /* "max-connections", 0: no ceiling */
    int uid, gid;            /* -1 if unset */
    char *username, *groupname;
    char **plugin_dirs;      /* "plugin-dir": a string or a list, also in conf.d */
    struct pt_srcpos *plugin_dir_pos;
    size_t n_plugin_dirs;
    bool init_ssl;
    long rlimit_nofile;      /* 0 if unset */
    struct pt_kvlist reject_service_keywords;
    struct pt_reject *rejects; /* the same, checked per request (gateway/dispatch.c) */
    size_t n_rejects;
    int max_header_size;     /* "max-header-size", default 16384 */
    int max_uri_length;      /* "max-uri-length", default 8192 */
    int drain_timeout_secs;  /* "drain-timeout-secs", default 10 */
    int h2_max_streams;      /* "h2-max-concurrent-streams", default 100 */
    int h2_window;           /* "h2-initial-window-size", default 65535 */
    int tls_context_cache;   /* "tls-context-cache": server TLS contexts kept built, default 100 */
    char *pid_file;          /* "pid-file"; NULL: the default, see main.c */
    char *mime_types;        /* "mime-types": a types file (/etc/mime.types format) */
    struct pt_kvlist mimes;  /* read from it: ".ext": "type" */
    char *error_log;         /* "error-log"; NULL: stderr */
    char *access_log;        /* "access-log": for vhosts without their own */
    char *access_log_format; /* "access-log-format": the default format */
    int log_level;           /* "log-level"; -1 when not set */
    bool strict;             /* "strict": unknown and unsupported keys are errors */
};

/* A distinct listening socket: one per (interface, port). Vhosts on it are
 * listed in config order; the first is the default. */
struct pt_listen {
    int port;
    char *interface;
    struct sockaddr_storage addr; /* resolved at load (gateway/listen.c) */
    socklen_t addr_len;
    bool tls;                /* its vhosts have certificates */
    bool bind_device;        /* SO_BINDTODEVICE to interface (bind-iface) */
    bool proxy_protocol;     /* a vhost on it has proxy-protocol */
    bool unix_socket;        /* interface is a unix-domain socket path ('@': abstract) */
    const char *unix_perms;  /* "user:group" for that socket (a vhost's), or NULL */
    struct pt_vhost **vhosts;
    size_t n_vhosts;
};

struct pt_config {
    atomic_int refs;
    char *dir;               /* as given to -c */
    char *base;              /* its absolute form: relative paths start here */
    struct pt_global g;
    struct pt_vhost *vhosts;
    size_t n_vhosts;
    struct pt_listen *listens;
    size_t n_listens;
    char **files;            /* file names referenced by pt_srcpos */
    size_t n_files;
    struct pt_access_logs *access_logs; /* its open log files (gateway/accesslog.c) */
    uint32_t stats_id;       /* counters of requests no vhost took */
};

/* Loads and validates; returns NULL after reporting every error to diag.
 * The snapshot comes with its owner's reference (below). */
struct pt_config *pt_config_load(const char *dir, struct pt_diag *diag);

/* The life of a snapshot.
 *
 * The main thread owns every snapshot: pt_config_load() returns it with
 * the owner's reference.  Workers, connections and (through their
 * connection) requests hold user references, taken with pt_config_ref()
 * and dropped with pt_config_unref() on any thread.  A user reference is
 * never the last one: a snapshot is never freed on a worker thread, nor
 * inside whichever connection happens to close last.
 *
 * The owner gives its reference up with pt_config_retire() once the
 * snapshot is no longer the current one (at exit, after the workers are
 * joined; at a reload, once the workers have taken the new one).  If no
 * user is left it frees the snapshot there, on the main thread (handler
 * teardown, TLS contexts, log files), and returns true; otherwise it
 * returns false and the owner tries again later. */
void pt_config_ref(struct pt_config *c);
void pt_config_unref(struct pt_config *c);
bool pt_config_retire(struct pt_config *c);
/* How many snapshots exist (loaded, not yet freed): 1 in a steady state. */
int pt_config_live(void);

/* lwsws booleans: true/false, numbers (non-zero true), "on", "yes", "true",
 * "1" (and their opposites). Returns 0 and sets *out, or -1. */
int pt_parse_bool(const char *s, bool *out);

#endif
