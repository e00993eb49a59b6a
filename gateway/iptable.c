#include "gateway/iptable.h"

#include <sched.h>
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

/* A shard's lock: held for a few dozen instructions at a time (no call,
 * no allocation but a rare calloc inside), so a spinlock that yields when
 * it cannot get in costs less than a mutex, even uncontended. */
struct spin {
    atomic_flag f;
};

static void spin_lock(struct spin *l)
{
    for (unsigned n = 0; atomic_flag_test_and_set_explicit(&l->f, memory_order_acquire); n++) {
        if (n >= 64) {
            sched_yield(); /* the holder was preempted */
            n = 0;
        } else {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        }
    }
}

static void spin_unlock(struct spin *l)
{
    atomic_flag_clear_explicit(&l->f, memory_order_release);
}

struct shard {
    struct spin lock;
    atomic_uint n_rate;       /* rate entries in it (for the sweep) */
    struct entry **buckets;
    unsigned mask;
};

static struct shard shards[SHARDS];
static atomic_uint n_entries;
static atomic_uint n_rate_entries;
static unsigned max_entries;
static atomic_long full_warned; /* time of the last "table full" warning */
static bool ready;

/* Two 64-bit halves multiplied in: a handful of instructions a lookup. */
static uint64_t hash(const struct pt_ip *k)
{
    uint64_t w0, w1;
    memcpy(&w0, k->a, 8);
    memcpy(&w1, k->a + 8, 8);
    uint64_t h = (w0 ^ 0x9e3779b97f4a7c15ull) * 0xbf58476d1ce4e5b9ull;
    h = (h ^ (h >> 31) ^ w1) * 0x94d049bb133111ebull;
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
        atomic_flag_clear(&shards[i].lock.f);
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
        atomic_store(&shards[i].n_rate, 0);
    }
    atomic_store(&n_entries, 0);
    atomic_store(&n_rate_entries, 0);
    ready = false;
}

/* The shard of key, locked; *h for slot_of().  Every entry of a peer (its
 * counts, its rate buckets) is in the one shard: one lock serves all. */
static struct shard *lock_shard(const struct pt_ip *key, uint64_t *h)
{
    *h = hash(key);
    struct shard *s = &shards[*h % SHARDS];
    spin_lock(&s->lock);
    return s;
}

static struct entry **slot_of(struct shard *s, uint64_t h, uint32_t scope)
{
    return &s->buckets[((h / SHARDS) ^ (scope * 0x9e3779b9u)) & s->mask];
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
    uint64_t h;
    struct shard *s = lock_shard(key, &h);
    struct entry **slot = slot_of(s, h, 0);
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
    spin_unlock(&s->lock);
    return ok;
}

void pt_iptable_conn_close(const struct pt_ip *key)
{
    uint64_t h;
    struct shard *s = lock_shard(key, &h);
    struct entry **slot = slot_of(s, h, 0);
    struct entry *e = find(slot, key, 0);
    if (e && e->conns) {
        e->conns--;
        drop_if_unused(slot, e);
    }
    spin_unlock(&s->lock);
}

/* Called locked: a token of the bucket, or the seconds until one. */
static int take_token(struct shard *s, struct entry **slot, const struct pt_ip *key,
                      const struct pt_iprate *rt)
{
    struct entry *e = get(slot, key, rt->scope);
    if (!e)
        return 0; /* table full: not limited */
    if (e->rate == 0) { /* new: a full bucket */
        e->tokens = rt->burst;
        e->stamp = rt->now;
        atomic_fetch_add_explicit(&s->n_rate, 1, memory_order_relaxed);
        atomic_fetch_add(&n_rate_entries, 1);
    }
    e->rate = rt->rate;
    e->burst = rt->burst;
    e->tokens += (rt->now - e->stamp) * rt->rate;
    if (e->tokens > rt->burst)
        e->tokens = rt->burst;
    e->stamp = rt->now;
    if (e->tokens >= 1) {
        e->tokens -= 1;
        return 0;
    }
    double secs = (1 - e->tokens) / rt->rate;
    int wait = (int)secs + (secs > (int)secs);
    return wait < 1 ? 1 : wait;
}

int pt_iptable_req_begin(const struct pt_ip *key, const struct pt_iprate *rt, unsigned limit,
                         struct pt_ipwait *wt, int *retry_after, struct pt_ipslot *slot_out)
{
    uint64_t h;
    struct shard *s = lock_shard(key, &h);
    int rc = 1;
    *retry_after = 0;
    if (rt && (*retry_after = take_token(s, slot_of(s, h, rt->scope), key, rt)) > 0) {
        spin_unlock(&s->lock);
        return 1; /* refused: no slot taken */
    }
    if (limit) {
        struct entry **slot = slot_of(s, h, 0);
        struct entry *e = get(slot, key, 0);
        if (!e) {
            rc = -1;
        } else if (e->active < limit && !e->wait_head) {
            e->active++;
            slot_out->entry = e;
            slot_out->hash = h;
        } else if (!wt) {
            rc = 0; /* the caller makes a waiter and asks again */
        } else {
            wt->key = *key;
            wt->next = NULL;
            wt->state = PT_IPWAIT_WAITING;
            wt->slot.entry = e; /* alive while it has waiters */
            wt->slot.hash = h;
            if (e->wait_tail)
                e->wait_tail->next = wt;
            else
                e->wait_head = wt;
            e->wait_tail = wt;
            rc = 0;
        }
    } else {
        rc = -1; /* nothing to count */
    }
    spin_unlock(&s->lock);
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

void pt_iptable_req_end(struct pt_ipslot *held)
{
    struct entry *e = held->entry; /* alive: its count includes this slot */
    if (!e)
        return;
    struct shard *s = &shards[held->hash % SHARDS];
    held->entry = NULL;
    spin_lock(&s->lock);
    e->active--;
    pass_slot(slot_of(s, held->hash, 0), e);
    spin_unlock(&s->lock);
}

bool pt_iptable_req_cancel(struct pt_ipwait *wt, void (*unpost)(struct pt_ipwait *wt))
{
    uint64_t h;
    struct shard *s = lock_shard(&wt->key, &h);
    struct entry **slot = slot_of(s, h, 0);
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
    spin_unlock(&s->lock);
    return granted;
}

void pt_iptable_sweep(double now)
{
    if (!ready || atomic_load(&n_rate_entries) == 0)
        return; /* nothing to look at: the common case */
    for (int i = 0; i < SHARDS; i++) {
        struct shard *s = &shards[i];
        if (!atomic_load_explicit(&s->n_rate, memory_order_relaxed))
            continue; /* most shards: nothing to sweep */
        spin_lock(&s->lock);
        for (unsigned b = 0; b <= s->mask; b++) {
            for (struct entry **pp = &s->buckets[b]; *pp;) {
                struct entry *e = *pp;
                if (e->scope && e->tokens + (now - e->stamp) * e->rate >= e->burst) {
                    *pp = e->next;
                    free(e);
                    atomic_fetch_sub(&n_entries, 1);
                    atomic_fetch_sub(&n_rate_entries, 1);
                    atomic_fetch_sub_explicit(&s->n_rate, 1, memory_order_relaxed);
                } else {
                    pp = &e->next;
                }
            }
        }
        spin_unlock(&s->lock);
    }
}

unsigned pt_iptable_entries(void)
{
    return atomic_load(&n_entries);
}
