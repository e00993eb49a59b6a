/* "lws-mirror-protocol" (alias "mirror"): every message a client sends goes
 * to every client of the same mirror, itself included.  "?mirror=NAME" in
 * the URL picks a private mirror of that name; without it a client joins
 * the instance's shared one.
 *
 * A mirror keeps its last RING messages.  A message wakes every client on
 * every worker (pt_ws_want_writeable_all); each sends what it has not seen
 * yet, one message per writeable callback.  A client that falls RING
 * messages behind skips the oldest rather than making the ring grow. */
#include "plugins/plugins.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define RING 128
#define MAX_NAME 64
#define MAX_MIRRORS 256           /* named mirrors per instance */

struct msg {
    char *data;
    size_t len;
    int binary;
};

struct ring {
    char name[MAX_NAME + 1];
    struct msg msgs[RING];
    unsigned long head;           /* messages ever added */
    int users;
    struct ring *next;
};

struct mirrors {
    pthread_mutex_t lock;
    struct ring *rings;
    int n;
};

struct seat {
    struct ring *ring;
    unsigned long tail;           /* the next message this client sends */
};

static int init(struct pt_plugin_vhost *pv)
{
    struct mirrors *m = pt_plugin_vhost_data(pv);
    pthread_mutex_init(&m->lock, NULL);
    return 0;
}

static void ring_free(struct ring *r)
{
    for (int i = 0; i < RING; i++)
        free(r->msgs[i].data);
    free(r);
}

static void destroy(struct pt_plugin_vhost *pv)
{
    struct mirrors *m = pt_plugin_vhost_data(pv);
    while (m->rings) {
        struct ring *r = m->rings;
        m->rings = r->next;
        ring_free(r);
    }
    pthread_mutex_destroy(&m->lock);
}

/* "mirror=NAME" from the query: letters, digits, '-', '_', '.'; "" if none.
 * Returns -1 for a name that is not one. */
static int mirror_name(struct pt_ws *ws, char *out)
{
    size_t qlen;
    const char *q = pt_ws_query(ws, &qlen);
    out[0] = '\0';
    for (size_t i = 0; q && i < qlen;) {
        size_t end = i;
        while (end < qlen && q[end] != '&')
            end++;
        if (end - i > 7 && memcmp(q + i, "mirror=", 7) == 0) {
            size_t n = end - i - 7;
            if (n > MAX_NAME)
                return -1;
            for (size_t k = 0; k < n; k++) {
                char c = q[i + 7 + k];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
                    return -1;
            }
            memcpy(out, q + i + 7, n);
            out[n] = '\0';
        }
        i = end + 1;
    }
    return 0;
}

static int open_(struct pt_ws *ws)
{
    struct mirrors *m = pt_plugin_vhost_data(pt_ws_instance(ws));
    struct seat *s = pt_ws_session(ws);
    char name[MAX_NAME + 1];
    if (mirror_name(ws, name) < 0) {
        pt_ws_close(ws, 1008, "bad mirror name");
        return 0;
    }
    pthread_mutex_lock(&m->lock);
    struct ring *r = m->rings;
    while (r && strcmp(r->name, name) != 0)
        r = r->next;
    if (!r && m->n < MAX_MIRRORS) {
        r = calloc(1, sizeof(*r));
        if (r) {
            strcpy(r->name, name);
            r->next = m->rings;
            m->rings = r;
            m->n++;
        }
    }
    if (r) {
        r->users++;
        s->ring = r;
        s->tail = r->head; /* only what is said from now on */
    }
    pthread_mutex_unlock(&m->lock);
    if (!r)
        pt_ws_close(ws, 1013, "too many mirrors");
    return 0;
}

static void message(struct pt_ws *ws, const char *data, size_t len, int binary)
{
    struct pt_plugin_vhost *pv = pt_ws_instance(ws);
    struct mirrors *m = pt_plugin_vhost_data(pv);
    struct seat *s = pt_ws_session(ws);
    char *copy = malloc(len ? len : 1);
    if (!s->ring || !copy) {
        free(copy);
        return;
    }
    memcpy(copy, data, len);
    pthread_mutex_lock(&m->lock);
    struct msg *slot = &s->ring->msgs[s->ring->head % RING];
    free(slot->data);
    *slot = (struct msg){ copy, len, binary };
    s->ring->head++;
    pthread_mutex_unlock(&m->lock);
    pt_ws_want_writeable_all(pv);
}

static void writeable(struct pt_ws *ws)
{
    struct mirrors *m = pt_plugin_vhost_data(pt_ws_instance(ws));
    struct seat *s = pt_ws_session(ws);
    if (!s->ring)
        return;
    pthread_mutex_lock(&m->lock);
    struct ring *r = s->ring;
    if (r->head - s->tail > RING)
        s->tail = r->head - RING; /* fell behind: the oldest are gone */
    bool more = false;
    if (s->tail < r->head) {
        struct msg *msg = &r->msgs[s->tail % RING];
        if (pt_ws_send(ws, msg->data, msg->len, msg->binary) == 0)
            s->tail++;
        more = s->tail < r->head;
    }
    pthread_mutex_unlock(&m->lock);
    if (more)
        pt_ws_want_writeable(ws);
}

static void closed(struct pt_ws *ws, int code)
{
    (void)code;
    struct mirrors *m = pt_plugin_vhost_data(pt_ws_instance(ws));
    struct seat *s = pt_ws_session(ws);
    if (!s->ring)
        return;
    pthread_mutex_lock(&m->lock);
    struct ring *r = s->ring;
    s->ring = NULL;
    if (--r->users == 0) { /* the last one out clears it */
        for (struct ring **pp = &m->rings; *pp; pp = &(*pp)->next)
            if (*pp == r) {
                *pp = r->next;
                break;
            }
        m->n--;
        ring_free(r);
    }
    pthread_mutex_unlock(&m->lock);
}

const struct pt_plugin pt_plugin_mirror = {
    .abi_version = PT_PLUGIN_ABI,
    .struct_size = sizeof(struct pt_plugin),
    .name = "lws-mirror-protocol",
    .alias = "mirror",
    .vhost_data_size = sizeof(struct mirrors),
    .session_data_size = sizeof(struct seat),
    .vhost_init = init,
    .vhost_destroy = destroy,
    .ws_max_message = 65536,
    .ws_open = open_,
    .ws_message = message,
    .ws_writeable = writeable,
    .ws_closed = closed,
};
