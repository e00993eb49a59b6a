/* The resolver thread: proxy origins given by name are looked up again
 * every proxy-resolve-interval, here and never on a worker's loop, so
 * backends that move (containers, DNS fail-over) are followed without a
 * restart.  getaddrinfo() tells no TTL: the interval is the period.
 *
 * The registry is changed on the main thread (config setup and
 * teardown) and read here, under one lock.  A lookup runs without the
 * lock; removing the upstream being looked up waits for it to end. */
#include "proxy/upstream.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "gateway/log.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static struct pt_upstream *registry;
static const struct pt_upstream *busy; /* being looked up, lock released */
static pthread_t thread;
static bool running, stopping;

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *resolver_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&lock);
    while (!stopping) {
        struct pt_upstream *next = NULL;
        for (struct pt_upstream *u = registry; u; u = u->rnext)
            if (!next || u->due < next->due)
                next = u;
        double now = now_mono();
        if (!next || next->due > now) {
            if (!next) {
                pthread_cond_wait(&wake, &lock);
            } else {
                /* The condition variable runs on CLOCK_REALTIME. */
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                double t = (double)ts.tv_sec + ts.tv_nsec / 1e9 + (next->due - now);
                ts.tv_sec = (time_t)t;
                ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
                pthread_cond_timedwait(&wake, &lock, &ts);
            }
            continue;
        }
        busy = next;
        next->due = now + next->interval;
        pthread_mutex_unlock(&lock);
        char why[256];
        bool changed;
        if (!pt_upstream_refresh(next, why, sizeof(why), &changed))
            pt_warn("proxy %s: cannot resolve again (%s); keeping its addresses", next->name, why);
        else if (changed)
            pt_notice("proxy %s: new addresses (%zu)", next->name, next->n_addrs);
        pthread_mutex_lock(&lock);
        busy = NULL;
        pthread_cond_broadcast(&wake);
    }
    pthread_mutex_unlock(&lock);
    return NULL;
}

void pt_resolver_add(struct pt_upstream *u, double interval)
{
    pthread_mutex_lock(&lock);
    u->interval = interval;
    u->due = now_mono() + interval;
    u->rnext = registry;
    registry = u;
    if (!running) {
        stopping = false;
        if (pthread_create(&thread, NULL, resolver_main, NULL) == 0)
            running = true;
        else
            pt_err("cannot start the resolver thread: origins are resolved once");
    }
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&lock);
}

void pt_resolver_remove(struct pt_upstream *u)
{
    bool join = false;
    pthread_mutex_lock(&lock);
    while (busy == u)
        pthread_cond_wait(&wake, &lock);
    struct pt_upstream **pp = &registry;
    while (*pp && *pp != u)
        pp = &(*pp)->rnext;
    if (*pp)
        *pp = u->rnext;
    u->interval = 0;
    if (!registry && running) {
        stopping = true;
        running = false;
        join = true;
        pthread_cond_broadcast(&wake);
    }
    pthread_mutex_unlock(&lock);
    if (join)
        pthread_join(thread, NULL);
}
