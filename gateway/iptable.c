#include "gateway/iptable.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/log.h"

#define SHARDS 64

struct entry {
    struct entry *next;
    struct pt_ip key;
    uint32_t scope;           /* 0: counts; else a rate bucket's vhost */
    uint32_t conns, active;
    struct pt_ipwait *wait_head, *wait_tail;
    double tokens, stamp, rate, burst; /* rate buckets */
};

struct shard {
    pthread_mutex_t lock;
    struct entry **buckets;
    unsigned mask;
};

static struct shard shards[SHARDS];
static atomic_uint n_entries;
static unsigned max_entries;
static atomic_long full_warned; /* time of the last "table full" warning */
static bool ready;

static uint64_t hash(const struct pt_ip *k, uint32_t scope)
{
    uint64_t h = 0xcbf29ce484222325ull ^ scope;
    for (int i = 0; i < 16; i++)
        h = (h ^ k->a[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

void pt_iptable_init(unsigned size)
{
    if (ready)
        return;
    unsigned per = 16;
    while (per * SHARDS < size && per < (1u << 24))
        per <<= 1;
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_init(&shards[i].lock, NULL);
        shards[i].buckets = calloc(per, sizeof(struct entry *));
        if (!shards[i].buckets)
            abort();
        shards[i].mask = per - 1;
    }
    max_entries = size;
    ready = true;
}

void pt_iptable_free(void)
{
    if (!ready)
        return;
    for (int i = 0; i < SHARDS; i++) {
        for (unsigned b = 0; b <= shards[i].mask; b++)
            for (struct entry *e = shards[i].buckets[b], *n; e; e = n) {
                n = e->next;
                free(e);
            }
        free(shards[i].buckets);
        pthread_mutex_destroy(&shards[i].lock);
    }
    atomic_store(&n_entries, 0);
    ready = false;
}

/* The shard of (key, scope), locked. */
static struct shard *lock_shard(const struct pt_ip *key, uint32_t scope, struct entry ***slot)
{
    uint64_t h = hash(key, scope);
    struct shard *s = &shards[h % SHARDS];
    pthread_mutex_lock(&s->lock);
    *slot = &s->buckets[(h / SHARDS) & s->mask];
    return s;
}

static struct entry *find(struct entry **slot, const struct pt_ip *key, uint32_t scope)
{
    for (struct entry *e = *slot; e; e = e->next)
        if (e->scope == scope && memcmp(&e->key, key, sizeof(*key)) == 0)
            return e;
    return NULL;
}

static void warn_full(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long last = atomic_load(&full_warned);
    if ((ts.tv_sec - last >= 10 || last == 0) &&
        atomic_compare_exchange_strong(&full_warned, &last, (long)ts.tv_sec))
        pt_warn("ip-limit-table-size (%u entries) reached: new peers are not limited until "
                "entries free up", max_entries);
}

/* Finds or makes the entry; NULL when the table is full. */
static struct entry *get(struct entry **slot, const struct pt_ip *key, uint32_t scope)
{
    struct entry *e = find(slot, key, scope);
    if (e)
        return e;
    if (atomic_fetch_add(&n_entries, 1) >= max_entries) {
        atomic_fetch_sub(&n_entries, 1);
        warn_full();
        return NULL;
    }
    e = calloc(1, sizeof(*e));
    if (!e) {
        atomic_fetch_sub(&n_entries, 1);
        return NULL;
    }
    e->key = *key;
    e->scope = scope;
    e->next = *slot;
    *slot = e;
    return e;
}

static void drop_if_unused(struct entry **slot, struct entry *e)
{
    if (e->conns || e->active || e->wait_head)
        return;
    for (struct entry **pp = slot; *pp; pp = &(*pp)->next)
        if (*pp == e) {
            *pp = e->next;
            free(e);
            atomic_fetch_sub(&n_entries, 1);
            return;
        }
}

bool pt_iptable_conn_open(const struct pt_ip *key, unsigned limit, bool *tracked)
{
    struct entry **slot;
    struct shard *s = lock_shard(key, 0, &slot);
    struct entry *e = get(slot, key, 0);
    bool ok = true;
    *tracked = false;
    if (e) {
        if (limit && e->conns >= limit) {
            ok = false;
        } else {
            e->conns++;
            *tracked = true;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return ok;
}

void pt_iptable_conn_close(const struct pt_ip *key)
{
    struct entry **slot;
    struct shard *s = lock_shard(key, 0, &slot);
    struct entry *e = find(slot, key, 0);
    if (e && e->conns) {
        e->conns--;
        drop_if_unused(slot, e);
    }
    pthread_mutex_unlock(&s->lock);
}

int pt_iptable_req_begin(const struct pt_ip *key, unsigned limit, struct pt_ipwait *wt)
{
    struct entry **slot;
    struct shard *s = lock_shard(key, 0, &slot);
    struct entry *e = get(slot, key, 0);
    int rc;
    if (!e) {
        rc = -1;
    } else if (e->active < limit && !e->wait_head) {
        e->active++;
        rc = 1;
    } else {
        wt->key = *key;
        wt->next = NULL;
        wt->state = PT_IPWAIT_WAITING;
        if (e->wait_tail)
            e->wait_tail->next = wt;
        else
            e->wait_head = wt;
        e->wait_tail = wt;
        rc = 0;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* Called locked: the slot just freed goes to the first waiter, if any. */
static void pass_slot(struct entry **slot, struct entry *e)
{
    struct pt_ipwait *wt = e->wait_head;
    if (wt) {
        e->wait_head = wt->next;
        if (!e->wait_head)
            e->wait_tail = NULL;
        wt->next = NULL;
        wt->state = PT_IPWAIT_GRANTED;
        e->active++;
        wt->granted(wt);
    }
    drop_if_unused(slot, e);
}

void pt_iptable_req_end(const struct pt_ip *key)
{
    struct entry **slot;
    struct shard *s = lock_shard(key, 0, &slot);
    struct entry *e = find(slot, key, 0);
    if (e && e->active) {
        e->active--;
        pass_slot(slot, e);
    }
    pthread_mutex_unlock(&s->lock);
}

bool pt_iptable_req_cancel(struct pt_ipwait *wt, void (*unpost)(struct pt_ipwait *wt))
{
    struct entry **slot;
    struct shard *s = lock_shard(&wt->key, 0, &slot);
    struct entry *e = find(slot, &wt->key, 0);
    bool granted = wt->state == PT_IPWAIT_GRANTED;
    if (granted) {
        unpost(wt);
    } else if (e && wt->state == PT_IPWAIT_WAITING) {
        struct pt_ipwait *prev = NULL;
        for (struct pt_ipwait *x = e->wait_head; x; prev = x, x = x->next) {
            if (x != wt)
                continue;
            if (prev)
                prev->next = wt->next;
            else
                e->wait_head = wt->next;
            if (e->wait_tail == wt)
                e->wait_tail = prev;
            break;
        }
        drop_if_unused(slot, e);
    }
    wt->state = PT_IPWAIT_NONE;
    pthread_mutex_unlock(&s->lock);
    return granted;
}

int pt_iptable_rate_take(const struct pt_ip *key, uint32_t scope, double rate, double burst,
                         double now)
{
    struct entry **slot;
    struct shard *s = lock_shard(key, scope, &slot);
    struct entry *e = get(slot, key, scope);
    int wait = 0;
    if (e) {
        if (e->rate == 0) { /* new: a full bucket */
            e->tokens = burst;
            e->stamp = now;
        }
        e->rate = rate;
        e->burst = burst;
        e->tokens += (now - e->stamp) * rate;
        if (e->tokens > burst)
            e->tokens = burst;
        e->stamp = now;
        if (e->tokens >= 1) {
            e->tokens -= 1;
        } else {
            double secs = (1 - e->tokens) / rate;
            wait = (int)secs + (secs > (int)secs);
            if (wait < 1)
                wait = 1;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return wait;
}

void pt_iptable_sweep(double now)
{
    if (!ready)
        return;
    for (int i = 0; i < SHARDS; i++) {
        struct shard *s = &shards[i];
        pthread_mutex_lock(&s->lock);
        for (unsigned b = 0; b <= s->mask; b++) {
            for (struct entry **pp = &s->buckets[b]; *pp;) {
                struct entry *e = *pp;
                if (e->scope && e->tokens + (now - e->stamp) * e->rate >= e->burst) {
                    *pp = e->next;
                    free(e);
                    atomic_fetch_sub(&n_entries, 1);
                } else {
                    pp = &e->next;
                }
            }
        }
        pthread_mutex_unlock(&s->lock);
    }
}

unsigned pt_iptable_entries(void)
{
    return atomic_load(&n_entries);
}
