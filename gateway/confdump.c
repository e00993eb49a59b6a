/* portico -T: the effective configuration as JSON (see confdump.h).
 *
 * Every key of every table is written from the loaded snapshot, defaults
 * included, in the form the loader reads, so the output loads again and
 * two of them diff cleanly.  The listener groups, which are derived, go
 * in '#' comments. */
#include "gateway/confdump.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "gateway/config.h"
#include "gateway/handler.h"
#include "gateway/ipaddr.h"
#include "gateway/listen.h"
#include "gateway/log.h"

static json_t *kvlist(const struct pt_kvlist *l)
{
    json_t *a = json_array();
    for (size_t i = 0; i < l->n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, l->v[i].name, json_string(l->v[i].value));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *cidrs(const struct pt_cidrs *l)
{
    json_t *a = json_array();
    for (size_t i = 0; i < l->n; i++) {
        char ip[64], buf[80];
        const struct pt_cidr *c = &l->v[i];
        pt_ip_format(&c->ip, ip, sizeof ip);
        bool v4 = pt_ip_is_v4(&c->ip);
        snprintf(buf, sizeof buf, "%s/%u", ip, (unsigned)(v4 ? c->bits - 96 : c->bits));
        json_array_append_new(a, json_string(buf));
    }
    return a;
}

/* The keys of one table from obj into o; a value outside the key's range
 * means "not set" (-1: the global value), and is left out, as are empty
 * strings and lists.  Aliases (the same field twice) are written once. */
static void keys(json_t *o, const struct pt_key *k0, const void *obj)
{
    for (const struct pt_key *k = k0; k->name; k++) {
        bool seen = false;
        for (const struct pt_key *e = k0; e < k && !seen; e++)
            seen = e->off == k->off;
        if (seen)
            continue;
        const char *p = (const char *)obj + k->off;
        json_t *v = NULL;
        switch (k->type) {
        case PT_KEY_STR:
        case PT_KEY_PATH:
            if (*(char *const *)p)
                v = json_string(*(char *const *)p);
            break;
        case PT_KEY_INT:
            if (*(const int *)p >= k->min && *(const int *)p <= k->max)
                v = json_integer(*(const int *)p);
            break;
        case PT_KEY_LONG:
            if (*(const long *)p >= k->min && *(const long *)p <= k->max)
                v = json_integer(*(const long *)p);
            break;
        case PT_KEY_FLAGS: {
            char buf[24];
            snprintf(buf, sizeof buf, "0x%lx", (unsigned long)*(const long *)p);
            v = json_string(buf);
            break;
        }
        case PT_KEY_BOOL:
            v = json_boolean(*(const bool *)p);
            break;
        case PT_KEY_INTBOOL:
            v = json_boolean(*(const int *)p);
            break;
        case PT_KEY_KV:
        case PT_KEY_HEADERS:
        case PT_KEY_MIMES:
        case PT_KEY_REJECTS:
            if (((const struct pt_kvlist *)p)->n)
                v = kvlist((const struct pt_kvlist *)p);
            break;
        case PT_KEY_CIDRS:
            if (((const struct pt_cidrs *)p)->n)
                v = cidrs((const struct pt_cidrs *)p);
            break;
        }
        if (v)
            json_object_set_new(o, k->name, v);
    }
}

/* An origin as written: a regex mount's captures put back on. */
static json_t *origin(const struct pt_mount *m, const char *o)
{
    return m->origin_tail ? json_sprintf("%s%s", o, m->origin_tail) : json_string(o);
}

static json_t *mount(const struct pt_mount *m)
{
    json_t *o = json_object();
    keys(o, pt_config_keys("mount"), m);
    if (m->n_origins > 1) {
        json_t *a = json_array();
        for (size_t i = 0; i < m->n_origins; i++)
            json_array_append_new(a, origin(m, m->origins[i]));
        json_object_set_new(o, "origin", a);
    } else {
        json_object_set_new(o, "origin", origin(m, m->origin));
    }
    if (m->handler && m->handler->keys)
        keys(o, m->handler->keys, m->opts);
    return o;
}

static json_t *vhost(const struct pt_vhost *vh)
{
    json_t *o = json_object();
    keys(o, pt_config_keys("vhost"), vh);
    for (size_t i = 0; i < vh->n_errdocs; i++) {
        char key[32];
        snprintf(key, sizeof key, "error-document-%d", vh->errdocs[i].status);
        json_object_set_new(o, key, json_string(vh->errdocs[i].path));
    }
    json_t *a = json_array();
    for (size_t i = 0; i < vh->n_mounts; i++)
        json_array_append_new(a, mount(&vh->mounts[i]));
    json_object_set_new(o, "mounts", a);
    return o;
}

static json_t *global(const struct pt_global *g)
{
    json_t *o = json_object();
    keys(o, pt_config_keys("global"), g);
    if (g->username)
        json_object_set_new(o, "username", json_string(g->username));
    if (g->groupname)
        json_object_set_new(o, "groupname", json_string(g->groupname));
    if (g->error_log)
        json_object_set_new(o, "error-log", json_string(g->error_log));
    if (g->log_level >= 0)
        json_object_set_new(o, "log-level", json_string(pt_log_level_name(g->log_level)));
    if (g->strict)
        json_object_set_new(o, "strict", json_true());
    return o;
}

int pt_config_dump(const struct pt_config *c, FILE *out)
{
    fprintf(out, "# portico -T: the effective configuration of %s\n", c->base);
    for (size_t i = 0; i < c->n_listens; i++) {
        const struct pt_listen *l = &c->listens[i];
        char where[80];
        pt_listen_addr_text(l, where, sizeof where);
        fprintf(out, "# listener %s%s%s:", where, l->tls ? " tls" : "",
                l->proxy_protocol ? " proxy-protocol" : "");
        for (size_t k = 0; k < l->n_vhosts; k++)
            fprintf(out, " %s%s", l->vhosts[k]->name, k == 0 ? " (default)" : "");
        fputc('\n', out);
    }
    json_t *root = json_object();
    json_object_set_new(root, "global", global(&c->g));
    json_t *a = json_array();
    for (size_t i = 0; i < c->n_vhosts; i++)
        json_array_append_new(a, vhost(&c->vhosts[i]));
    json_object_set_new(root, "vhosts", a);
    int rc = json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', out);
    json_decref(root);
    return rc;
}
