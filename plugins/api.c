/* The calls a plugin makes (include/portico/plugin.h): thin wrappers over
 * the request API (gateway/request.h) that keep portico's structs out of
 * the plugins' ABI.  portico exports these symbols to the shared objects
 * it loads (plugins/exports.map). */
#include "plugins/plugins.h"

#include <ev.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/config.h"
#include "gateway/log.h"
#include "gateway/request.h"

/* ---- instances ---------------------------------------------------------- */

void *pt_plugin_vhost_data(struct pt_plugin_vhost *pv)
{
    return pv->p->vhost_data_size ? pv->data : NULL;
}

const char *pt_plugin_vhost_name(const struct pt_plugin_vhost *pv)
{
    return pv->vh->name;
}

void pt_plugin_vhost_error(struct pt_plugin_vhost *pv, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pv->err, sizeof(pv->err), fmt, ap);
    va_end(ap);
}

void pt_plugin_log(const struct pt_plugin_vhost *pv, int level, const char *fmt, ...)
{
    int lv = level <= PT_PLUGIN_LOG_ERR ? PT_LOG_ERROR
           : level == PT_PLUGIN_LOG_WARN ? PT_LOG_WARN
           : level <= PT_PLUGIN_LOG_INFO ? PT_LOG_INFO : PT_LOG_DEBUG;
    if (!pt_log_enabled(lv))
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pt_log(lv, "plugin %s%s%s: %s", pv ? pv->p->name : "?", pv ? " on " : "",
           pv ? pv->vh->name : "", msg);
}

/* ---- sessions ----------------------------------------------------------- */

struct session {
    struct pt_session base;
    struct pt_plugin_vhost *pv;
    struct pt_config *conf;        /* held: the instance lives as long */
    _Alignas(16) unsigned char data[];
};

static void session_drop(struct pt_session *s)
{
    struct session *ss = (struct session *)s;
    const struct pt_plugin *p = ss->pv->p;
    if (PT_PLUGIN_HAS(p, session_destroy))
        p->session_destroy(ss->pv, ss->data);
    pt_config_unref(ss->conf);
    free(ss);
}

void *pt_plugin_session(struct pt_req *r)
{
    struct pt_plugin_vhost *pv = pt_plugin_instance(r);
    if (!pv || !pv->p->session_data_size)
        return NULL;
    struct pt_session *cur = *r->session;
    if (cur && cur->owner == pv)
        return ((struct session *)cur)->data;
    pt_session_drop(r->session);
    struct session *s = calloc(1, sizeof(*s) + pv->p->session_data_size);
    if (!s)
        return NULL;
    s->base.owner = pv;
    s->base.drop = session_drop;
    s->pv = pv;
    /* The session may outlive the request's snapshot on a keep-alive
     * connection (a reload): the snapshot, and so the instance, stays
     * until the session is dropped. */
    s->conf = r->conf;
    pt_config_ref(s->conf);
    *r->session = &s->base;
    return s->data;
}

/* ---- the request -------------------------------------------------------- */

struct pt_plugin_vhost *pt_plugin_instance(struct pt_req *r)
{
    return r->mount && r->mount->handler == &pt_handler_callback ? r->mount->handler_data
                                                                  : NULL;
}

const char *pt_plugin_mount_option(struct pt_req *r, const char *name)
{
    if (!pt_plugin_instance(r))
        return NULL;
    const struct pt_kvlist *pmo = r->mount->opts; /* struct callback_opts starts with it */
    for (size_t i = 0; i < pmo->n; i++)
        if (strcmp(pmo->v[i].name, name) == 0)
            return pmo->v[i].value;
    return NULL;
}

const char *pt_plugin_method(const struct pt_req *r)
{
    return pt_pool_strndup(r->pool, r->method_str, r->method_len);
}

const char *pt_plugin_path(const struct pt_req *r)
{
    return r->path;
}

const char *pt_plugin_rest(const struct pt_req *r)
{
    return r->rest && r->rest_len ? r->rest : "";
}

const char *pt_plugin_query(const struct pt_req *r, size_t *len)
{
    *len = r->query ? r->query_len : 0;
    return r->query;
}

const char *pt_plugin_header(const struct pt_req *r, const char *name, size_t *len)
{
    return pt_req_header(r, name, len);
}

const char *pt_plugin_peer(const struct pt_req *r)
{
    return r->peer_ip;
}

int pt_plugin_http_version(const struct pt_req *r)
{
    return r->version;
}

long long pt_plugin_content_length(const struct pt_req *r)
{
    return r->content_length;
}

void *pt_plugin_alloc(struct pt_req *r, size_t size)
{
    return pt_pool_alloc(r->pool, size);
}

void pt_plugin_set_ctx(struct pt_req *r, void *ctx)
{
    r->handler_ctx = ctx;
}

void *pt_plugin_ctx(const struct pt_req *r)
{
    return r->handler_ctx;
}

void pt_plugin_on_finish(struct pt_req *r, void (*fn)(struct pt_req *r))
{
    r->on_finish = fn;
}

long pt_plugin_body_read(struct pt_req *r, char *buf, size_t len)
{
    r->body_taken = true;
    return (long)pt_req_body_read(r, buf, len);
}

void pt_plugin_on_body(struct pt_req *r, void (*ready)(struct pt_req *r))
{
    r->body_taken = true;
    r->on_body_ready = ready;
}

/* ---- the response ------------------------------------------------------- */

void pt_plugin_header_add(struct pt_req *r, const char *name, const char *value)
{
    pt_resp_header(r, name, value);
}

static ssize_t body_read(struct pt_req *r, char *buf, size_t len)
{
    const struct pt_plugin_body *b = r->body_ctx;
    long n = b->read(r, buf, len);
    return n == PT_PLUGIN_AGAIN ? PT_BODY_AGAIN : n < 0 ? PT_BODY_ERROR : (ssize_t)n;
}

static void body_close(struct pt_req *r)
{
    const struct pt_plugin_body *b = r->body_ctx;
    if (b->close)
        b->close(r);
}

static const struct pt_body_ops plugin_body_ops = {
    .read = body_read,
    .close = body_close,
};

void pt_plugin_respond(struct pt_req *r, int status, long long length,
                       const struct pt_plugin_body *body)
{
    if (body && body->read)
        pt_respond(r, status, length, &plugin_body_ops, (void *)body);
    else
        pt_respond(r, status, 0, NULL, NULL);
}

void pt_plugin_respond_data(struct pt_req *r, int status, const char *content_type,
                            const void *data, size_t len)
{
    char *copy = len ? pt_pool_alloc(r->pool, len) : NULL;
    if (len)
        memcpy(copy, data, len);
    pt_respond_buf(r, status, content_type, copy, len);
}

void pt_plugin_error(struct pt_req *r, int status, const char *why)
{
    /* The plugin is done with r: its cleanup runs now, since an
     * error-document may route r elsewhere (which forgets the hook). */
    void (*fin)(struct pt_req *) = r->on_finish;
    r->on_finish = NULL;
    r->on_body_ready = NULL;
    if (fin)
        fin(r);
    pt_respond_error(r, status, why ? pt_pool_strndup(r->pool, why, strlen(why)) : NULL);
}

void pt_plugin_resume(struct pt_req *r)
{
    pt_req_resume(r);
}

/* ---- the loop ----------------------------------------------------------- */

struct pt_plugin_timer {
    ev_timer t;
    struct ev_loop *loop;
    void (*fn)(void *arg);
    void *arg;
};

void *pt_plugin_loop(struct pt_req *r)
{
    return r->loop;
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct pt_plugin_timer *t = w->data;
    t->fn(t->arg);
}

struct pt_plugin_timer *pt_plugin_timer_start(void *loop, double secs, double repeat,
                                              void (*fn)(void *arg), void *arg)
{
    struct pt_plugin_timer *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->loop = loop;
    t->fn = fn;
    t->arg = arg;
    ev_timer_init(&t->t, on_timer, secs < 0 ? 0 : secs, repeat > 0 ? repeat : 0);
    t->t.data = t;
    ev_timer_start(t->loop, &t->t);
    return t;
}

void pt_plugin_timer_stop(struct pt_plugin_timer *t)
{
    if (!t)
        return;
    ev_timer_stop(t->loop, &t->t);
    free(t);
}
