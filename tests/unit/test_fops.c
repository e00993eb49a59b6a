/* The posix file ops (confinement to the root, with openat2 and with the
 * fallback walk) and the file:// handler on top of them, on a throwaway
 * tree under /tmp. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fops/fcache.h"
#include "fops/fops.h"
#include "gateway/config.h"
#include "gateway/diag.h"
#include "gateway/httpdate.h"
#include "gateway/pool.h"
#include "gateway/request.h"
#include "gateway/handler.h"
#include "gateway/worker.h"
#include "main/builtin.h"
#include "mounts/mounts.h"
#include "tests/unit/check.h"
#include "tests/unit/testutil.h"

/* In fops/posix.c, for tests only. */
void pt_fops_posix_force_walk(int on);

static char base[64];   /* the temporary directory */
static char www[128];   /* base/www: the root we serve */

static void put(const char *rel, const char *content)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", base, rel);
    FILE *f = fopen(p, "w");
    if (!f) {
        perror(p);
        exit(2);
    }
    fputs(content, f);
    fclose(f);
}

static void dir(const char *rel)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", base, rel);
    if (mkdir(p, 0755) < 0) {
        perror(p);
        exit(2);
    }
}

static void link_(const char *target, const char *rel)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", base, rel);
    if (symlink(target, p) < 0) {
        perror(p);
        exit(2);
    }
}

static void make_tree(void)
{
    char abs[256];
    strcpy(base, "/tmp/pt_fops.XXXXXX");
    if (!mkdtemp(base)) {
        perror("mkdtemp");
        exit(2);
    }
    snprintf(www, sizeof www, "%s/www", base);
    dir("www");
    dir("www/sub");
    dir("www/empty");
    dir("www/.well-known");
    dir("www/.git");
    dir("outside");
    dir("www/sp ace");
    put("www/sp ace/index.html", "spaced");
    put("www/index.html", "hello index\n");
    put("www/a.txt", "0123456789");
    put("www/sub/b.css", "b{}");
    put("www/sub/index.html", "sub index");
    put("www/x.unknownext", "?");
    put("www/.hidden.txt", "hidden");
    put("www/.well-known/acme.txt", "token");
    put("www/.git/config", "secret");
    put("www/empty.txt", "");
    put("outside/secret.txt", "secret");
    link_("../a.txt", "www/sub/up.txt");             /* stays inside */
    link_("sub", "www/dirlink");                     /* dir, inside */
    link_("/etc/passwd", "www/passwd.txt");          /* escapes */
    link_("../outside", "www/outdir");               /* dir outside */
    link_("../../outside/secret.txt", "www/sub/esc.txt");
    snprintf(abs, sizeof abs, "%s/a.txt", www);
    link_(abs, "www/abs.txt");                       /* absolute, pointing inside */
    link_("/proc/self/root/etc/passwd", "www/magic.txt");
    link_("loop.txt", "www/loop.txt");
    char fifo[256];
    snprintf(fifo, sizeof fifo, "%s/www/fifo.txt", base);
    if (mkfifo(fifo, 0644) < 0) {
        perror("mkfifo");
        exit(2);
    }
}



static bool have_openat2(void)
{
    struct open_how how = { .flags = O_RDONLY | O_CLOEXEC, .resolve = RESOLVE_BENEATH };
    long fd = syscall(SYS_openat2, AT_FDCWD, ".", &how, sizeof how);
    if (fd < 0)
        return false;
    close((int)fd);
    return true;
}

/* ---- fops ---- */

static int open_rc(struct pt_froot *root, const char *vpath)
{
    struct pt_file f;
    int rc = root->fops->open(root, vpath, &f);
    if (rc == 0)
        f.fops->close(&f);
    return rc;
}

static void test_froot(void)
{
    struct pt_froot root;
    CHECK_INT(pt_froot_open(&root, "/nonexistent/dir/x"), -ENOENT);
    CHECK_INT(root.dirfd, -1);
    pt_froot_close(&root); /* safe after a failed open */
    char file[256];
    snprintf(file, sizeof file, "%s/a.txt", www);
    CHECK_INT(pt_froot_open(&root, file), -ENOTDIR);
    CHECK_INT(pt_froot_open(&root, www), 0);
    CHECK(root.dirfd >= 0);
    CHECK_STR(root.path, www);
    CHECK(root.fops == &pt_fops_posix);
    pt_froot_close(&root);
    CHECK_INT(root.dirfd, -1);
    CHECK(root.path == NULL);
}

/* follow: whether symlinks that stay inside the root are followed (openat2)
 * or refused (the fallback walk). */
static void test_fops_mode(bool follow)
{
    struct pt_froot root;
    struct pt_file f;
    char buf[32];

    CHECK_INT(pt_froot_open(&root, www), 0);

    /* The root itself. */
    CHECK_INT(root.fops->open(&root, "", &f), 0);
    CHECK(f.st.is_dir && !f.st.is_reg);
    f.fops->close(&f);
    CHECK_INT(f.fd, -1);
    CHECK_INT(root.fops->open(&root, "/", &f), 0);
    CHECK(f.st.is_dir);
    f.fops->close(&f);

    /* A file: stat and pread. */
    CHECK_INT(root.fops->open(&root, "/a.txt", &f), 0);
    CHECK(f.st.is_reg && !f.st.is_dir);
    CHECK_INT(f.st.size, 10);
    CHECK(f.st.ino != 0);
    CHECK(f.st.mtime > 0);
    CHECK(f.fd >= 0);
    CHECK_INT(f.base, 0);
    CHECK(f.fops == &pt_fops_posix);
    CHECK_INT(f.fops->read(&f, buf, 4, 3), 4);
    CHECK(memcmp(buf, "3456", 4) == 0);
    CHECK_INT(f.fops->read(&f, buf, sizeof buf, 8), 2);
    CHECK_INT(f.fops->read(&f, buf, sizeof buf, 10), 0);
    CHECK_INT(f.fops->read(&f, buf, sizeof buf, 1000), 0);
    f.fops->close(&f);

    CHECK_INT(open_rc(&root, "a.txt"), 0);          /* no leading '/' */
    CHECK_INT(open_rc(&root, "//a.txt"), 0);
    CHECK_INT(open_rc(&root, "/sub/b.css"), 0);
    CHECK_INT(open_rc(&root, "/sub/"), 0);
    CHECK_INT(open_rc(&root, "/sub//b.css"), 0);

    /* Not there. */
    CHECK_INT(open_rc(&root, "/nonexistent"), -ENOENT);
    CHECK_INT(open_rc(&root, "/sub/nonexistent"), -ENOENT);
    CHECK_INT(open_rc(&root, "/nodir/x"), -ENOENT);
    CHECK_INT(open_rc(&root, "/a.txt/x"), -ENOTDIR);
    CHECK_INT(open_rc(&root, "/a.txt/"), -ENOTDIR);

    /* Escapes: "..", symlinks out, absolute and magic links. */
    CHECK(open_rc(&root, "/../outside/secret.txt") < 0);
    CHECK(open_rc(&root, "..") < 0);
    CHECK(open_rc(&root, "/sub/../../outside/secret.txt") < 0);
    CHECK(open_rc(&root, "/passwd.txt") < 0);
    CHECK(open_rc(&root, "/outdir/secret.txt") < 0);
    CHECK(open_rc(&root, "/outdir") < 0);
    CHECK(open_rc(&root, "/sub/esc.txt") < 0);
    /* An absolute symlink that stays inside is served (verified by the
     * descriptor's real path); one pointing out is not. */
    if (follow)
        CHECK_INT(open_rc(&root, "/abs.txt"), 0);
    else
        CHECK(open_rc(&root, "/abs.txt") < 0); /* the walk refuses every link */
    CHECK(open_rc(&root, "/magic.txt") < 0);
    CHECK_INT(open_rc(&root, "/loop.txt"), -ELOOP);
    int rc = open_rc(&root, "/passwd.txt");
    CHECK(rc == -EXDEV || rc == -ELOOP);

    /* Neither file nor directory: refused, and opening never blocks. */
    CHECK_INT(open_rc(&root, "/fifo.txt"), -EACCES);

    /* Symlinks that stay inside the root. */
    if (follow) {
        CHECK_INT(root.fops->open(&root, "/sub/up.txt", &f), 0);
        CHECK_INT(f.st.size, 10);
        f.fops->close(&f);
        CHECK_INT(open_rc(&root, "/dirlink/b.css"), 0);
        CHECK_INT(open_rc(&root, "/dirlink"), 0);
    } else {
        CHECK_INT(open_rc(&root, "/sub/up.txt"), -ELOOP);
        rc = open_rc(&root, "/dirlink/b.css");
        CHECK(rc == -ELOOP || rc == -ENOTDIR);
        CHECK_INT(open_rc(&root, "/dirlink"), -ELOOP);
    }

    /* A name too long for the file system. */
    char longname[400];
    memset(longname, 'x', sizeof longname);
    longname[0] = '/';
    longname[sizeof longname - 1] = '\0';
    CHECK_INT(open_rc(&root, longname), -ENAMETOOLONG);

    pt_froot_close(&root);
}

/* ---- the file:// handler ---- */

struct resp {
    int status;
    int64_t length;
    char body[4096];
    size_t body_len;
    bool body_error;
    int calls;
};

static struct resp R;

static void fake_respond(struct pt_req *r)
{
    R.calls++;
    R.status = r->status;
    R.length = r->resp_length;
    R.body_len = 0;
    R.body_error = false;
    if (!r->body)
        return;
    /* Small reads, to walk part boundaries of multipart bodies. */
    for (;;) {
        size_t room = sizeof R.body - R.body_len;
        if (room > 7)
            room = 7;
        ssize_t n = r->body->read(r, R.body + R.body_len, room);
        if (n == 0)
            break;
        if (n < 0 || R.body_len + (size_t)n >= sizeof R.body) {
            R.body_error = true;
            break;
        }
        R.body_len += (size_t)n;
    }
    R.body[R.body_len] = '\0';
}

static void fake_resume(struct pt_req *r) {}

static const struct pt_proto fake_proto = {
    .name = "fake", .respond = fake_respond, .resume = fake_resume,
};

static struct pt_mount M;
static struct pt_file_opts file_opts;
static struct pt_pool *P;
static struct pt_req *Q;
#define resp_hdr(name) tu_resp_hdr(Q, name)


/* Builds and runs one request; hdrs: "name", "value", ..., NULL.  The
 * request stays in Q until the next one, for resp_hdr(). */
static void run(enum pt_method method, const char *path, const char *query,
                const char *const *hdrs)
{
    if (Q) {
        pt_req_finish(Q);
        pt_pool_free(P);
    }
    memset(&R, 0, sizeof R);
    P = pt_pool_new(0);
    Q = tu_req_new(P, method == PT_M_HEAD ? "HEAD" : "GET", path);
    Q->method = method; /* whatever its name, as the handler sees it */
    Q->proto = &fake_proto;
    Q->worker = &tu_worker;
    Q->query = query;
    Q->query_len = query ? strlen(query) : 0;
    for (size_t i = 0; hdrs && hdrs[2 * i]; i++)
        tu_req_header(Q, hdrs[2 * i], hdrs[2 * i + 1]);
    /* As dispatch does for a mount at "/": the rest keeps the '/'. */
    Q->mount = &M;
    Q->rest = path;
    Q->rest_len = strlen(path);
    M.handler->handle(Q);
    CHECK_INT(R.calls, 1);
    CHECK(!R.body_error);
}

static void get(const char *path)
{
    run(PT_M_GET, path, NULL, NULL);
}

static void get_h(const char *path, const char *name, const char *value)
{
    const char *h[] = { name, value, NULL };
    run(PT_M_GET, path, NULL, h);
}

static void test_handler_setup(void)
{
    struct pt_diag d = {0};
    d.out = fopen("/dev/null", "w");
    struct pt_mount bad;
    memset(&bad, 0, sizeof bad);
    bad.mountpoint = "/";
    bad.origin = "file:///nonexistent/www";
    bad.target = "/nonexistent/www";
    bad.handler = &pt_handler_file;
    bad.opts = &file_opts;
    bad.origin_pos.file = "conf";
    bad.origin_pos.line = 3;
    CHECK_INT(pt_handler_file.setup(&bad, &d), -1);
    CHECK_INT(d.errors, 1);
    CHECK(bad.handler_data == NULL);
    fclose(d.out);

    memset(&M, 0, sizeof M);
    M.mountpoint = "/";
    M.mountpoint_len = 1;
    M.origin = "file://www";
    M.target = www;
    M.handler = &pt_handler_file;
    M.handler_slot = pt_handler_slot(&pt_handler_file);
    M.opts = &file_opts;
    d.errors = 0;
    d.out = NULL;
    CHECK_INT(pt_handler_file.setup(&M, &d), 0);
    CHECK_INT(d.errors, 0);
    CHECK(M.handler_data != NULL);
}

static void test_handler_basic(void)
{
    get("/a.txt");
    CHECK_INT(R.status, 200);
    CHECK_INT(R.length, 10);
    CHECK_STR(R.body, "0123456789");
    CHECK_STR(resp_hdr("Content-Type"), "text/plain; charset=utf-8");
    CHECK_STR(resp_hdr("Accept-Ranges"), "bytes");
    CHECK_STR(resp_hdr("Cache-Control"), "no-store");
    const char *etag = resp_hdr("ETag");
    CHECK(etag && etag[0] == '"' && etag[strlen(etag) - 1] == '"');
    const char *lm = resp_hdr("Last-Modified");
    CHECK(lm && strlen(lm) == PT_HTTPDATE_LEN);
    struct stat st;
    char p[256];
    snprintf(p, sizeof p, "%s/a.txt", www);
    stat(p, &st);
    char want[PT_HTTPDATE_LEN + 1];
    pt_httpdate_format(st.st_mtime, want);
    CHECK_STR(lm, want);

    run(PT_M_HEAD, "/a.txt", NULL, NULL);
    CHECK_INT(R.status, 200);
    CHECK_INT(R.length, 10);

    get("/empty.txt");
    CHECK_INT(R.status, 200);
    CHECK_INT(R.length, 0);
    CHECK_INT(R.body_len, 0);

    get("/sub/b.css");
    CHECK_INT(R.status, 200);
    CHECK_STR(R.body, "b{}");
    CHECK_STR(resp_hdr("Content-Type"), "text/css; charset=utf-8");
}

static void test_handler_dirs(void)
{
    get("/");
    CHECK_INT(R.status, 200);
    CHECK_STR(R.body, "hello index\n");
    CHECK_STR(resp_hdr("Content-Type"), "text/html; charset=utf-8");

    get("/sub/");
    CHECK_INT(R.status, 200);
    CHECK_STR(R.body, "sub index");

    get("/sub");
    CHECK_INT(R.status, 301);
    CHECK_STR(resp_hdr("Location"), "/sub/");
    CHECK_INT(R.body_len, 0);

    run(PT_M_GET, "/sub", "a=1&b=%20", NULL);
    CHECK_INT(R.status, 301);
    CHECK_STR(resp_hdr("Location"), "/sub/?a=1&b=%20");

    get("/empty/");
    CHECK_INT(R.status, 403);               /* no index */
    get("/empty");
    CHECK_INT(R.status, 301);
    get("/nodir/");
    CHECK_INT(R.status, 404);
    get("/a.txt/");
    CHECK_INT(R.status, 404);

    /* Location is a URI: the decoded path is escaped again. */
    get("/sp ace");
    CHECK_INT(R.status, 301);
    CHECK_STR(resp_hdr("Location"), "/sp%20ace/");
    get("/sp ace/");
    CHECK_INT(R.status, 200);
    CHECK_STR(R.body, "spaced");
}

static void test_handler_refusals(void)
{
    get("/nonexistent.txt");
    CHECK_INT(R.status, 404);
    get("/x.unknownext");
    CHECK_INT(R.status, 403);               /* no mimetype */
    get("/passwd.txt");
    CHECK_INT(R.status, 404);
    get("/outdir/secret.txt");
    CHECK_INT(R.status, 404);
    get("/sub/esc.txt");
    CHECK_INT(R.status, 404);
    get("/fifo.txt");
    CHECK_INT(R.status, 403);
    get("/loop.txt");
    CHECK_INT(R.status, 404);

    /* Dotfiles. */
    get("/.hidden.txt");
    CHECK_INT(R.status, 404);
    get("/.git/config");
    CHECK_INT(R.status, 404);
    get("/sub/.x/y.txt");
    CHECK_INT(R.status, 404);
    get("/.well-known/acme.txt");
    CHECK_INT(R.status, 200);
    CHECK_STR(R.body, "token");
    get("/.well-knownx/acme.txt");
    CHECK_INT(R.status, 404);
    get("/sub/.well-known/acme.txt");
    CHECK_INT(R.status, 404);
    file_opts.allow_dotfiles = true;
    get("/.hidden.txt");
    CHECK_INT(R.status, 200);
    CHECK_STR(R.body, "hidden");
    file_opts.allow_dotfiles = false;

    /* Methods. */
    run(PT_M_POST, "/a.txt", NULL, NULL);
    CHECK_INT(R.status, 405);
    CHECK_STR(resp_hdr("Allow"), "GET, HEAD, OPTIONS");
    run(PT_M_DELETE, "/a.txt", NULL, NULL);
    CHECK_INT(R.status, 405);
    run(PT_M_OPTIONS, "/a.txt", NULL, NULL);
    CHECK_INT(R.status, 204);
    CHECK_STR(resp_hdr("Allow"), "GET, HEAD, OPTIONS");
    CHECK_INT(R.body_len, 0);
}

static void test_handler_conditionals(void)
{
    char etag[80], lm[40];
    get("/a.txt");
    snprintf(etag, sizeof etag, "%s", resp_hdr("ETag"));
    snprintf(lm, sizeof lm, "%s", resp_hdr("Last-Modified"));

    get_h("/a.txt", "If-None-Match", etag);
    CHECK_INT(R.status, 304);
    CHECK_INT(R.body_len, 0);
    CHECK_STR(resp_hdr("ETag"), etag);
    CHECK_STR(resp_hdr("Cache-Control"), "no-store");
    CHECK(resp_hdr("Content-Type") == NULL);

    char weak[90];
    snprintf(weak, sizeof weak, "\"zz\", W/%s", etag);
    get_h("/a.txt", "if-none-match", weak);
    CHECK_INT(R.status, 304);
    get_h("/a.txt", "If-None-Match", "*");
    CHECK_INT(R.status, 304);
    get_h("/a.txt", "If-None-Match", "\"other\"");
    CHECK_INT(R.status, 200);
    CHECK_STR(R.body, "0123456789");

    /* Two If-None-Match lines form one list. */
    {
        const char *h[] = { "If-None-Match", "\"x\"", "If-None-Match", etag, NULL };
        run(PT_M_GET, "/a.txt", NULL, h);
        CHECK_INT(R.status, 304);
    }

    get_h("/a.txt", "If-Modified-Since", lm);
    CHECK_INT(R.status, 304);
    get_h("/a.txt", "If-Modified-Since", "Sun, 06 Nov 2101 08:49:37 GMT");
    CHECK_INT(R.status, 304);               /* newer: not modified since */
    get_h("/a.txt", "If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT");
    CHECK_INT(R.status, 200);
    get_h("/a.txt", "If-Modified-Since", "garbage");
    CHECK_INT(R.status, 200);
    /* If-None-Match wins over If-Modified-Since. */
    {
        const char *h[] = { "If-None-Match", "\"other\"", "If-Modified-Since", lm, NULL };
        run(PT_M_GET, "/a.txt", NULL, h);
        CHECK_INT(R.status, 200);
    }
    run(PT_M_HEAD, "/a.txt", NULL, (const char *const[]){ "If-None-Match", etag, NULL });
    CHECK_INT(R.status, 304);

    /* If-Match / If-Unmodified-Since. */
    get_h("/a.txt", "If-Match", "\"other\"");
    CHECK_INT(R.status, 412);
    get_h("/a.txt", "If-Match", etag);
    CHECK_INT(R.status, 200);
    get_h("/a.txt", "If-Match", "*");
    CHECK_INT(R.status, 200);
    snprintf(weak, sizeof weak, "W/%s", etag);
    get_h("/a.txt", "If-Match", weak);
    CHECK_INT(R.status, 412);               /* strong comparison */
    get_h("/a.txt", "If-Unmodified-Since", "Sun, 06 Nov 1994 08:49:37 GMT");
    CHECK_INT(R.status, 412);
    get_h("/a.txt", "If-Unmodified-Since", lm);
    CHECK_INT(R.status, 200);
    {
        /* If-Match passes, so If-Unmodified-Since is not looked at. */
        const char *h[] = { "If-Match", etag, "If-Unmodified-Since",
                            "Sun, 06 Nov 1994 08:49:37 GMT", NULL };
        run(PT_M_GET, "/a.txt", NULL, h);
        CHECK_INT(R.status, 200);
    }
}

static void test_handler_ranges(void)
{
    char etag[80], lm[40];
    get("/a.txt");
    snprintf(etag, sizeof etag, "%s", resp_hdr("ETag"));
    snprintf(lm, sizeof lm, "%s", resp_hdr("Last-Modified"));

    get_h("/a.txt", "Range", "bytes=2-5");
    CHECK_INT(R.status, 206);
    CHECK_INT(R.length, 4);
    CHECK_STR(R.body, "2345");
    CHECK_STR(resp_hdr("Content-Range"), "bytes 2-5/10");
    CHECK_STR(resp_hdr("Content-Type"), "text/plain; charset=utf-8");
    CHECK(resp_hdr("ETag") != NULL);

    get_h("/a.txt", "Range", "bytes=-3");
    CHECK_INT(R.status, 206);
    CHECK_STR(R.body, "789");
    CHECK_STR(resp_hdr("Content-Range"), "bytes 7-9/10");

    get_h("/a.txt", "Range", "bytes=20-");
    CHECK_INT(R.status, 416);
    CHECK_STR(resp_hdr("Content-Range"), "bytes */10");

    get_h("/a.txt", "Range", "bytes=5-4");
    CHECK_INT(R.status, 200);               /* invalid: ignored */
    CHECK_STR(R.body, "0123456789");
    get_h("/a.txt", "Range", "items=0-1");
    CHECK_INT(R.status, 200);

    run(PT_M_HEAD, "/a.txt", NULL, (const char *const[]){ "Range", "bytes=0-1", NULL });
    CHECK_INT(R.status, 200);               /* Range is for GET only */
    CHECK_INT(R.length, 10);

    {
        const char *h[] = { "Range", "bytes=0-1", "Range", "bytes=3-4", NULL };
        run(PT_M_GET, "/a.txt", NULL, h);
        CHECK_INT(R.status, 200);
    }

    /* If-Range. */
    {
        const char *h[] = { "Range", "bytes=0-1", "If-Range", etag, NULL };
        run(PT_M_GET, "/a.txt", NULL, h);
        CHECK_INT(R.status, 206);
        CHECK_STR(R.body, "01");
    }
    {
        const char *h[] = { "Range", "bytes=0-1", "If-Range", "\"old\"", NULL };
        run(PT_M_GET, "/a.txt", NULL, h);
        CHECK_INT(R.status, 200);
        CHECK_STR(R.body, "0123456789");
    }
    {
        char weak[90];
        snprintf(weak, sizeof weak, "W/%s", etag);
        const char *h[] = { "Range", "bytes=0-1", "If-Range", weak, NULL };
        run(PT_M_GET, "/a.txt", NULL, h);
        CHECK_INT(R.status, 200);
    }
    {
        const char *h[] = { "Range", "bytes=0-1", "If-Range", lm, NULL };
        run(PT_M_GET, "/a.txt", NULL, h);
        CHECK_INT(R.status, 206);
    }
    {
        const char *h[] = { "Range", "bytes=0-1", "If-Range",
                            "Sun, 06 Nov 1994 08:49:37 GMT", NULL };
        run(PT_M_GET, "/a.txt", NULL, h);
        CHECK_INT(R.status, 200);
    }
    {
        /* A 304 beats the range. */
        const char *h[] = { "Range", "bytes=0-1", "If-None-Match", etag, NULL };
        run(PT_M_GET, "/a.txt", NULL, h);
        CHECK_INT(R.status, 304);
    }

    /* Several ranges: multipart/byteranges, length known in advance. */
    get_h("/a.txt", "Range", "bytes=0-1,5-6,-1");
    CHECK_INT(R.status, 206);
    CHECK(resp_hdr("Content-Range") == NULL);
    const char *ct = resp_hdr("Content-Type");
    CHECK(ct && strncmp(ct, "multipart/byteranges; boundary=", 31) == 0);
    if (ct) {
        const char *b = ct + 31;
        char want[1024];
        snprintf(want, sizeof want,
                 "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                 "Content-Range: bytes 0-1/10\r\n\r\n01"
                 "\r\n--%s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                 "Content-Range: bytes 5-6/10\r\n\r\n56"
                 "\r\n--%s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                 "Content-Range: bytes 9-9/10\r\n\r\n9"
                 "\r\n--%s--\r\n", b, b, b, b);
        CHECK_STR(R.body, want);
        CHECK_INT(R.length, strlen(want));
        CHECK(strlen(b) >= 16);
    }
    /* Two multipart responses get different boundaries. */
    char first[128];
    snprintf(first, sizeof first, "%s", ct ? ct : "");
    get_h("/a.txt", "Range", "bytes=0-0,2-2");
    CHECK_INT(R.status, 206);
    CHECK(resp_hdr("Content-Type") && strcmp(resp_hdr("Content-Type"), first) != 0);
    CHECK_INT(R.length, R.body_len);

    /* Overlapping ranges: the whole file. */
    get_h("/a.txt", "Range", "bytes=0-5,3-8");
    CHECK_INT(R.status, 200);
    CHECK_STR(R.body, "0123456789");
}

static void test_handler_errdoc(void)
{
    /* Served as an error document: the error status, the whole body, no
     * validators (pt_respond applies the status). */
    memset(&R, 0, sizeof R);
    if (Q) {
        pt_req_finish(Q);
        pt_pool_free(P);
        Q = NULL;
    }
    P = pt_pool_new(0);
    Q = pt_pool_calloc(P, sizeof *Q);
    Q->pool = P;
    Q->proto = &fake_proto;
    Q->method = PT_M_GET;
    Q->path = Q->rest = "/a.txt";
    Q->path_len = Q->rest_len = 6;
    Q->mount = &M;
    Q->status_override = 404;
    M.handler->handle(Q);
    CHECK_INT(R.status, 404);
    CHECK_STR(R.body, "0123456789");
    CHECK(resp_hdr("ETag") == NULL);
}

static void test_handler_mount_rest(void)
{
    /* A mount at "/docs": "/docs" has the rest "" and must gain its '/'. */
    memset(&R, 0, sizeof R);
    pt_req_finish(Q);
    pt_pool_free(P);
    P = pt_pool_new(0);
    Q = pt_pool_calloc(P, sizeof *Q);
    Q->pool = P;
    Q->proto = &fake_proto;
    Q->method = PT_M_GET;
    Q->path = "/docs";
    Q->path_len = 5;
    Q->rest = "";
    Q->rest_len = 0;
    Q->mount = &M;
    M.handler->handle(Q);
    CHECK_INT(R.status, 301);
    CHECK_STR(resp_hdr("Location"), "/docs/");

    /* "/docs/" with the rest "/" (or ""): the index. */
    memset(&R, 0, sizeof R);
    pt_req_finish(Q);
    pt_pool_free(P);
    P = pt_pool_new(0);
    Q = pt_pool_calloc(P, sizeof *Q);
    Q->pool = P;
    Q->proto = &fake_proto;
    Q->method = PT_M_GET;
    Q->path = "/docs/";
    Q->path_len = 6;
    Q->rest = "";
    Q->rest_len = 0;
    Q->mount = &M;
    M.handler->handle(Q);
    CHECK_INT(R.status, 200);
    CHECK_STR(R.body, "hello index\n");
}

static void test_handler(void)
{
    test_handler_setup();
    test_handler_basic();
    test_handler_dirs();
    test_handler_refusals();
    test_handler_conditionals();
    test_handler_ranges();
    test_handler_errdoc();
    test_handler_mount_rest();
    if (Q) {
        pt_req_finish(Q);
        pt_pool_free(P);
        Q = NULL;
    }
    pt_handler_file.teardown(&M);
    CHECK(M.handler_data == NULL);
}

int main(void)
{
    pt_builtin_register();
    make_tree();
    int fds = tu_count_fds();

    test_froot();
    if (have_openat2()) {
        test_fops_mode(true);
    } else {
        fprintf(stderr, "openat2 unavailable: testing the fallback only\n");
    }
    pt_fops_posix_force_walk(1);
    test_fops_mode(false);
    pt_fops_posix_force_walk(0);

    test_handler();
    pt_handler_worker_dispose(&tu_worker); /* files kept open for reuse */
    CHECK_INT(tu_count_fds(), fds);  /* nothing leaked */

    tu_rm_tree(base);
    return check_done("fops");
}
