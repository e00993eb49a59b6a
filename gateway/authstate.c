/* A basic-auth mount's shared state (see authstate.h for the threads). */
#include "gateway/authstate.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "gateway/config.h"
#include "gateway/diag.h"
#include "gateway/htpasswd.h"
#include "gateway/log.h"

/* What the file was when last looked at: a change of any of these is a
 * change of the file (err: stat failed with it). */
struct fileid {
    int err;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
};

struct cached {
    unsigned char key[32];
    uint64_t gen;
    long expires; /* monotonic second; 0: empty */
    uint64_t stamp; /* when stored: the smallest goes first */
};

struct pt_authstate {
    char *path;
    struct pt_srcpos where;       /* the mount's, for messages */
    unsigned char salt[16];       /* of the cache keys */

    pthread_mutex_t lock;
    struct pt_htusers *users;     /* the last good list: one reference */
    uint64_t gen;                 /* bumped with each new list */
    struct cached cache[PT_AUTH_CACHE_SIZE];
    uint64_t stamps;              /* entries stored so far */

    atomic_long checked;          /* the second the file was last looked at */
    atomic_flag busy;             /* a thread is looking at it now */
    struct fileid seen;           /* only the thread holding busy */
};

static long now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec;
}

static struct fileid file_id(const char *path)
{
    struct fileid id;
    struct stat st;
    memset(&id, 0, sizeof id);
    if (stat(path, &st) < 0) {
        id.err = errno;
        return id;
    }
    id.dev = st.st_dev;
    id.ino = st.st_ino;
    id.size = st.st_size;
    id.mtime = st.st_mtim;
    return id;
}

static bool same_file(const struct fileid *a, const struct fileid *b)
{
    return a->err == b->err && a->dev == b->dev && a->ino == b->ino &&
           a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
           a->mtime.tv_nsec == b->mtime.tv_nsec;
}

struct pt_authstate *pt_authstate_new(const char *path, const struct pt_srcpos *where,
                                      struct pt_diag *d)
{
    struct pt_authstate *a = calloc(1, sizeof *a);
    if (!a || !(a->path = strdup(path))) {
        free(a);
        pt_diag_error(d, where->file, where->line, where->col, "basic-auth: out of memory");
        return NULL;
    }
    a->where = *where;
    /* Looked at before it is read: a change while reading shows later. */
    a->seen = file_id(path);
    a->users = pt_htusers_load(path, where, d);
    if (!a->users || RAND_bytes(a->salt, sizeof a->salt) != 1) {
        pt_htusers_unref(a->users);
        free(a->path);
        free(a);
        return NULL;
    }
    pthread_mutex_init(&a->lock, NULL);
    atomic_init(&a->checked, now_sec());
    atomic_flag_clear(&a->busy);
    return a;
}

void pt_authstate_free(struct pt_authstate *a)
{
    if (!a)
        return;
    pt_htusers_unref(a->users);
    OPENSSL_cleanse(a->cache, sizeof a->cache);
    pthread_mutex_destroy(&a->lock);
    free(a->path);
    free(a);
}

/* The messages of a re-read as one log line ("; " between them). */
static void log_text(int level, const char *path, const char *what, char *text)
{
    for (char *p = text; p && (p = strchr(p, '\n'));)
        *p = p[1] ? ';' : '\0';
    pt_log(level, "basic-auth: re-reading \"%s\": %s%s%.600s", path, what,
           text && *text ? ": " : "", text ? text : "");
}

/* Re-reads the file if it changed since last seen; on any thread, by one
 * at a time (busy). */
static void refresh(struct pt_authstate *a)
{
    struct fileid id = file_id(a->path);
    if (same_file(&id, &a->seen))
        return;
    a->seen = id;
    if (id.err) {
        pt_warn("basic-auth: \"%s\": %s; the users read before stay in force",
                a->path, strerror(id.err));
        return;
    }
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    struct pt_diag d = { .out = mem ? mem : stderr };
    struct pt_htusers *users = pt_htusers_load(a->path, &a->where, &d);
    if (mem)
        fclose(mem);
    if (!users) {
        log_text(PT_LOG_WARN, a->path, "the users read before stay in force", text);
        free(text);
        return;
    }
    pthread_mutex_lock(&a->lock);
    struct pt_htusers *old = a->users;
    a->users = users;
    a->gen++;
    pthread_mutex_unlock(&a->lock);
    pt_htusers_unref(old);
    char what[48];
    snprintf(what, sizeof what, "%zu user%s", users->n, users->n == 1 ? "" : "s");
    log_text(d.warnings ? PT_LOG_WARN : PT_LOG_NOTICE, a->path, what, text);
    free(text);
}

struct pt_htusers *pt_authstate_users(struct pt_authstate *a, uint64_t *gen)
{
    long now = now_sec();
    long last = atomic_load_explicit(&a->checked, memory_order_relaxed);
    if (last != now &&
        atomic_compare_exchange_strong(&a->checked, &last, now) &&
        !atomic_flag_test_and_set(&a->busy)) {
        refresh(a);
        atomic_flag_clear(&a->busy);
    }
    pthread_mutex_lock(&a->lock);
    struct pt_htusers *u = a->users;
    pt_htusers_ref(u);
    *gen = a->gen;
    pthread_mutex_unlock(&a->lock);
    return u;
}

/* ---- the cache of good credentials ---- */

void pt_authstate_key(const struct pt_authstate *a, const char *cred, size_t n,
                      unsigned char key[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
        !EVP_DigestUpdate(ctx, a->salt, sizeof a->salt) ||
        !EVP_DigestUpdate(ctx, cred, n) || !EVP_DigestFinal_ex(ctx, key, NULL))
        RAND_bytes(key, 32); /* then it matches nothing */
    EVP_MD_CTX_free(ctx);
}

bool pt_authstate_cached(struct pt_authstate *a, uint64_t gen, const unsigned char key[32])
{
    long now = now_sec();
    bool hit = false;
    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < PT_AUTH_CACHE_SIZE; i++) {
        const struct cached *c = &a->cache[i];
        hit |= c->expires > now && c->gen == gen &&
               CRYPTO_memcmp(c->key, key, 32) == 0;
    }
    pthread_mutex_unlock(&a->lock);
    return hit;
}

void pt_authstate_remember(struct pt_authstate *a, uint64_t gen, const unsigned char key[32])
{
    long now = now_sec();
    pthread_mutex_lock(&a->lock);
    /* The same credentials again, else a free slot (empty, expired or of
     * an older list), else the one stored first. */
    struct cached *slot = NULL, *oldest = &a->cache[0];
    for (size_t i = 0; i < PT_AUTH_CACHE_SIZE && !slot; i++) {
        struct cached *c = &a->cache[i];
        if (c->gen == gen && c->expires && CRYPTO_memcmp(c->key, key, 32) == 0)
            slot = c;
        else if (c->stamp < oldest->stamp)
            oldest = c;
    }
    for (size_t i = 0; i < PT_AUTH_CACHE_SIZE && !slot; i++) {
        struct cached *c = &a->cache[i];
        if (c->expires <= now || c->gen != a->gen)
            slot = c;
    }
    if (!slot)
        slot = oldest;
    memcpy(slot->key, key, 32);
    slot->gen = gen;
    slot->expires = now + PT_AUTH_CACHE_SECS;
    slot->stamp = ++a->stamps;
    pthread_mutex_unlock(&a->lock);
}
