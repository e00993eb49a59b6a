/* Worker threads: each owns one libev loop, watches its own SO_REUSEPORT
 * listening socket per address (the main thread's registry opens them:
 * gateway/listen.h), and owns every connection it accepts for that
 * connection's whole life, so the hot path takes no locks. */
#ifndef PT_WORKER_H
#define PT_WORKER_H

#include <ev.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "gateway/handler.h"


struct pt_config;
struct pt_listen;
struct pt_conn;
struct pt_worker;

/* Work posted to a worker from any thread (pt_worker_post): fn runs on
 * the worker's own loop. */
struct pt_wakeup {
    struct pt_wakeup *next;
    void (*fn)(struct pt_wakeup *x);
};

/* A snapshot as one worker uses it.  Connections and requests count
 * their uses here, without atomics (the hot path stays lock-free); the
 * worker holds one reference of the snapshot for all of them and gives it
 * back when the last use ends and the snapshot is no longer current. */
struct pt_wsnap {
    struct pt_wsnap *next;
    struct pt_config *conf;
    unsigned long users;
};

/* A new snapshot for a worker (pt_worker_publish): posted by the main
 * thread, taken on the worker's loop. */
struct pt_publish {
    struct pt_wakeup x;
    struct pt_worker *w;
    struct pt_config *conf;
    const int *fds;              /* one listening socket per conf->listens[i] */
    atomic_int *done;            /* incremented once the worker took it */
};

struct pt_listener {
    ev_io io;
    struct pt_worker *w;
    const struct pt_listen *listen;
};

struct pt_worker {
    int id;
    pthread_t thread;
    struct ev_loop *loop;
    struct pt_config *conf;      /* the snapshot new connections take */
    struct pt_wsnap *snaps;      /* the snapshots in use here; the first is conf */
    struct pt_listener *listeners;
    size_t n_listeners;
    ev_async wake;               /* posted work (a new snapshot, parked requests), stop */
    atomic_bool stop;
    atomic_bool quit;            /* stop now, without draining */
    atomic_bool done;            /* its loop has ended */
    ev_timer drain_timer;
    ev_timer accept_pause;       /* out of fds or at max-connections */
    bool draining;
    bool accept_paused;
    int reserve_fd;              /* spare descriptor for the out-of-fds case */
    unsigned long refused_in_pause; /* connections closed during this pause */
    unsigned long accepted;      /* connections taken on (logged at stop) */

    pthread_mutex_t mbox_lock;   /* posted work (pt_worker_post) */
    struct pt_wakeup *mbox;

    struct pt_conn *conns;       /* every live connection (for draining) */
    size_t n_conns;

    char *rbuf;                  /* scratch: fresh bytes from a socket */
    size_t rbuf_cap;
    struct pt_buflist {          /* recycled buffers of one size */
        void *head;
        size_t n, max, size;
    } free_out, free_wire;       /* PT_OUTBUF_SIZE, PT_WIRE_SIZE */
    void *hstate[PT_MAX_HANDLERS]; /* per handler (gateway/handler.h), by slot */
};


/* Optional: runs first on every worker thread (main/privileges.c sets it,
 * so that workers give up what only the main thread needs). */
extern void (*pt_worker_thread_init)(void);

int pt_worker_start(struct pt_worker *w, int id, struct pt_config *conf, const int *fds);
/* Hands the worker a new snapshot and its listening sockets (from the
 * main thread; p stays valid until *p->done is incremented).  New
 * connections and the next request of every open connection use it;
 * a connection whose port, TLS setting or SNI vhost is gone finishes
 * what is in flight and closes.  The old snapshot's reference is given
 * back once nothing here uses it. */
void pt_worker_publish(struct pt_worker *w, struct pt_publish *p);

/* Counts a use of conf on w (a connection, a request): conf must be one
 * of w's snapshots, as c->conf or w->conf always is. */
void pt_worker_conf_hold(struct pt_worker *w, struct pt_config *conf);
void pt_worker_conf_release(struct pt_worker *w, struct pt_config *conf);

/* Asks a worker to stop gracefully (thread-safe). */
void pt_worker_stop(struct pt_worker *w);
/* Asks a worker to stop at once: its connections are closed, nothing is
 * drained (thread-safe; also while it drains). */
void pt_worker_quit(struct pt_worker *w);
/* Whether its loop has ended (it can be joined without waiting). */
bool pt_worker_done(struct pt_worker *w);
void pt_worker_join(struct pt_worker *w);

/* Output buffers, recycled per worker: PT_OUTBUF_SIZE from w->free_out,
 * the TLS wire buffers (gateway/wire.h) from w->free_wire. */
#define PT_OUTBUF_SIZE 16384
char *pt_worker_buf_get(struct pt_buflist *l);
/* Sets the lists' sizes (pt_worker_start does; a test harness's own
 * worker must too). */
void pt_worker_buffers_init(struct pt_worker *w);
void pt_worker_buf_put(struct pt_buflist *l, char *buf);

/* Runs x->fn on w's loop (from any thread; once per post). */
void pt_worker_post(struct pt_worker *w, struct pt_wakeup *x);
/* Takes back x if it has not run yet. */
void pt_worker_unpost(struct pt_worker *w, struct pt_wakeup *x);

/* Connection bookkeeping for the drain. */
void pt_worker_conn_added(struct pt_worker *w, struct pt_conn *c);
void pt_worker_conn_removed(struct pt_worker *w, struct pt_conn *c);

#endif
