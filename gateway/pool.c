#include "gateway/pool.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN 16
#define ALIGN_UP(n) (((n) + (ALIGN - 1)) & ~(size_t)(ALIGN - 1))

struct block {
    struct block *next;
    size_t used, cap;
    _Alignas(ALIGN) char data[];
};

struct pt_pool {
    struct block *cur;   /* allocations come from here */
    struct block *large; /* oversized allocations and full blocks */
    struct block first;  /* must be last: its data[] follows the pool */
};

static void oom(void)
{
    static const char msg[] = "portico: out of memory\n";
    fwrite(msg, 1, sizeof(msg) - 1, stderr);
    abort();
}

/* Request pools come and go at the request rate: each thread keeps a few
 * of the standard size for reuse instead of a malloc/free pair each. */
#define CACHED_POOLS 64
static _Thread_local struct pt_pool *cache[CACHED_POOLS];
static _Thread_local unsigned n_cached;

struct pt_pool *pt_pool_new(size_t first_block)
{
    first_block = ALIGN_UP(first_block ? first_block : 1024);
    struct pt_pool *p;
    if (first_block == PT_POOL_STD && n_cached)
        p = cache[--n_cached];
    else
        p = malloc(sizeof(*p) + first_block);
    if (!p)
        oom();
    p->first.next = NULL;
    p->first.used = 0;
    p->first.cap = first_block;
    p->cur = &p->first;
    p->large = NULL;
    return p;
}

void pt_pool_free(struct pt_pool *p)
{
    if (!p)
        return;
    for (struct block *b = p->cur; b && b != &p->first;) {
        struct block *next = b->next;
        free(b);
        b = next;
    }
    for (struct block *b = p->large; b;) {
        struct block *next = b->next;
        free(b);
        b = next;
    }
    if (p->first.cap == PT_POOL_STD && n_cached < CACHED_POOLS) {
        cache[n_cached++] = p;
        return;
    }
    free(p);
}

void pt_pool_thread_cleanup(void)
{
    while (n_cached)
        free(cache[--n_cached]);
}

static struct block *block_new(size_t cap)
{
    struct block *b = malloc(sizeof(*b) + cap);
    if (!b)
        oom();
    b->next = NULL;
    b->used = 0;
    b->cap = cap;
    return b;
}

void *pt_pool_alloc(struct pt_pool *p, size_t n)
{
    n = ALIGN_UP(n ? n : 1);
    struct block *b = p->cur;
    if (b->cap - b->used >= n) {
        void *r = b->data + b->used;
        b->used += n;
        return r;
    }
    size_t base = p->first.cap > 4096 ? p->first.cap : 4096;
    if (n > base / 2) {
        /* Big allocation: its own block, kept off the current chain. */
        struct block *big = block_new(n);
        big->used = n;
        big->next = p->large;
        p->large = big;
        return big->data;
    }
    struct block *nb = block_new(base);
    nb->next = p->cur; /* chain: newest first, ending at &p->first */
    p->cur = nb;
    nb->used = n;
    return nb->data;
}

void *pt_pool_calloc(struct pt_pool *p, size_t n)
{
    void *r = pt_pool_alloc(p, n);
    memset(r, 0, n);
    return r;
}

char *pt_pool_strndup(struct pt_pool *p, const char *s, size_t n)
{
    char *r = pt_pool_alloc(p, n + 1);
    memcpy(r, s, n);
    r[n] = '\0';
    return r;
}

char *pt_pool_strcat(struct pt_pool *p, ...)
{
    va_list ap;
    size_t n = 0;
    va_start(ap, p);
    for (const char *s; (s = va_arg(ap, const char *));)
        n += strlen(s);
    va_end(ap);
    char *out = pt_pool_alloc(p, n + 1), *o = out;
    va_start(ap, p);
    for (const char *s; (s = va_arg(ap, const char *));) {
        size_t l = strlen(s);
        memcpy(o, s, l);
        o += l;
    }
    va_end(ap);
    *o = '\0';
    return out;
}

char *pt_pool_printf(struct pt_pool *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    char *r = pt_pool_alloc(p, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(r, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return r;
}
