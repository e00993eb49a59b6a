/* The open-file cache (fops/fcache.c): hits, one fstat per loop
 * iteration, small files' bytes and their per-thread budget, entries in
 * use outliving eviction. */
#include <ev.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fops/fcache.h"
#include "tests/unit/check.h"

static char dir[64];

static int make(const char *name, size_t size, char fill)
{
    char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    char *buf = malloc(size ? size : 1);
    memset(buf, fill, size);
    if (fd < 0 || write(fd, buf, size) != (ssize_t)size)
        abort();
    free(buf);
    lseek(fd, 0, SEEK_SET);
    return fd;
}

static void test_hits_and_iterations(void)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct pt_fcache *c = pt_fcache_new(loop);
    int fd = make("a.txt", 100, 'a');
    struct pt_fcache_ent *e = pt_fcache_put(c, 1, "/a.txt", fd);
    CHECK(e != NULL);
    pt_fcache_release(e);

    struct stat st;
    struct pt_fcache_ent *got = NULL;
    CHECK_INT(pt_fcache_get(c, 1, "/a.txt", &st, &got), fd);
    CHECK_INT(st.st_size, 100);
    CHECK(got == e);
    pt_fcache_release(got);
    CHECK_INT(pt_fcache_get(c, 2, "/a.txt", &st, &got), -1);   /* another root */
    CHECK_INT(pt_fcache_get(c, 1, "/b.txt", &st, &got), -1);

    /* Grown in place: the same iteration shares its fstat, the next sees it. */
    char more[50];
    memset(more, 'b', sizeof more);
    CHECK_INT(pwrite(fd, more, sizeof more, 100), 50);
    CHECK_INT(pt_fcache_get(c, 1, "/a.txt", &st, &got), fd);
    CHECK_INT(st.st_size, 100);
    pt_fcache_release(got);
    ev_run(loop, EVRUN_NOWAIT);
    CHECK_INT(pt_fcache_get(c, 1, "/a.txt", &st, &got), fd);
    CHECK_INT(st.st_size, 150);
    pt_fcache_release(got);

    pt_fcache_free(c);
    ev_loop_destroy(loop);
}

static void test_small_bytes(void)
{
    struct pt_fcache *c = pt_fcache_new(NULL);
    char buf[PT_FCACHE_SMALL + 1];
    /* A file of exactly PT_FCACHE_SMALL bytes is kept, one more is not. */
    int fd = make("s.bin", PT_FCACHE_SMALL, 's');
    struct pt_fcache_ent *e = pt_fcache_put(c, 1, "/s.bin", fd);
    memset(buf, 's', PT_FCACHE_SMALL);
    pt_fcache_keep(e, PT_FCACHE_SMALL, 7, buf, PT_FCACHE_SMALL);
    memset(buf, 0, sizeof buf);
    CHECK_INT(pt_fcache_read(e, PT_FCACHE_SMALL, 7, buf, sizeof buf, 0), PT_FCACHE_SMALL);
    CHECK(buf[0] == 's' && buf[PT_FCACHE_SMALL - 1] == 's');
    CHECK_INT(pt_fcache_read(e, PT_FCACHE_SMALL, 7, buf, 10, PT_FCACHE_SMALL - 4), 4);
    /* Changed size or mtime: not used. */
    CHECK_INT(pt_fcache_read(e, PT_FCACHE_SMALL + 1, 7, buf, sizeof buf, 0), -1);
    CHECK_INT(pt_fcache_read(e, PT_FCACHE_SMALL, 8, buf, sizeof buf, 0), -1);
    pt_fcache_release(e);

    int fd2 = make("t.bin", PT_FCACHE_SMALL + 1, 't');
    e = pt_fcache_put(c, 1, "/t.bin", fd2);
    pt_fcache_keep(e, PT_FCACHE_SMALL + 1, 7, buf, PT_FCACHE_SMALL + 1);
    CHECK_INT(pt_fcache_read(e, PT_FCACHE_SMALL + 1, 7, buf, sizeof buf, 0), -1);
    pt_fcache_release(e);
    pt_fcache_free(c);
}

/* At most 4 MiB of bytes per thread: past that, entries keep their
 * descriptors but not their bytes; freeing bytes makes room again. */
static void test_budget(void)
{
    struct pt_fcache *c = pt_fcache_new(NULL);
    static char data[PT_FCACHE_SMALL];
    memset(data, 'x', sizeof data);
    size_t fit = (4u << 20) / PT_FCACHE_SMALL;
    int kept = 0, refused = 0;
    struct pt_fcache_ent *first = NULL;
    for (size_t i = 0; i < fit + 3; i++) {
        char name[32];
        snprintf(name, sizeof name, "/f%zu", i);
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        struct pt_fcache_ent *e = pt_fcache_put(c, 9, name, fd);
        if (!e) {
            close(fd);
            break; /* the descriptor limit came first */
        }
        pt_fcache_keep(e, sizeof data, 1, data, sizeof data);
        char b[8];
        if (pt_fcache_read(e, sizeof data, 1, b, sizeof b, 0) == (ssize_t)sizeof b)
            kept++;
        else
            refused++;
        if (!first)
            first = e;
        else
            pt_fcache_release(e);
    }
    CHECK(kept <= (int)fit);
    if (kept == (int)fit)
        CHECK(refused >= 1);
    else
        fprintf(stderr, "fcache: descriptor limit under %zu entries: budget not reached\n", fit);
    /* The first entry is still ours: flushing frees the others' bytes. */
    pt_fcache_flush(c);
    char name[32];
    snprintf(name, sizeof name, "/again");
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    struct pt_fcache_ent *e = pt_fcache_put(c, 9, name, fd);
    CHECK(e != NULL);
    pt_fcache_keep(e, sizeof data, 1, data, sizeof data);
    char b[8];
    CHECK_INT(pt_fcache_read(e, sizeof data, 1, b, sizeof b, 0), 8);
    pt_fcache_release(e);
    pt_fcache_release(first);
    pt_fcache_flush(c);
    pt_fcache_free(c);
}

int main(void)
{
    /* Room for 512 entries (1/16 of the limit), more than the budget's 256. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 8192 && rl.rlim_max >= 8192) {
        rl.rlim_cur = 8192;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    snprintf(dir, sizeof dir, "/tmp/pt-fcache-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    test_hits_and_iterations();
    test_small_bytes();
    test_budget();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return check_done("fcache");
}
