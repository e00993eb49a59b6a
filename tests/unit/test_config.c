/* Config loader tests: temporary lwsws-style config dirs are loaded and the
 * values, defaults and exact FILE:LINE:COL diagnostics are checked. */
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/config.h"
#include "gateway/diag.h"
#include "cgi/cgi.h"
#include "gateway/handler.h"
#include "gateway/jsonpos.h"
#include "gateway/mount.h"
#include "main/builtin.h"
#include "mounts/mounts.h"
#include "plugins/plugins.h"
#include "tests/unit/check.h"

static char dir[64];
static char *msgs;       /* diagnostics of the last load */
static struct pt_diag last;

static int rm_entry(const char *p, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    return remove(p);
}

static void fresh_dir(void)
{
    if (dir[0])
        nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    strcpy(dir, "/tmp/pt_conf_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
}

static void put(const char *rel, const char *text)
{
    char p[256];

    snprintf(p, sizeof p, "%s/%s", dir, rel);
    if (strchr(rel, '/')) {
        char d[256];
        snprintf(d, sizeof d, "%s/%.*s", dir,
                 (int)(strrchr(rel, '/') - rel), rel);
        mkdir(d, 0755);
    }
    FILE *f = fopen(p, "w");
    if (!f) {
        perror(p);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
}

static struct pt_config *load(void)
{
    size_t n;
    FILE *out;

    free(msgs);
    msgs = NULL;
    out = open_memstream(&msgs, &n);
    memset(&last, 0, sizeof last);
    last.out = out;
    struct pt_config *c = pt_config_load(dir, &last);
    fclose(out);
    return c;
}

/* Is this exact line (with dir substituted for %s) among the messages? */
__attribute__((format(printf, 1, 2)))
static int has_line(const char *fmt, ...)
{
    char want[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(want, sizeof want, fmt, ap);
    va_end(ap);
    for (const char *p = msgs; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len == strlen(want) && memcmp(p, want, len) == 0)
            return 1;
        p += len + (nl != NULL);
    }
    fprintf(stderr, "missing line: %s\n--- got:\n%s---\n", want,
            msgs ? msgs : "");
    return 0;
}

__attribute__((format(printf, 1, 2)))
static int has_prefix(const char *fmt, ...)
{
    char want[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(want, sizeof want, fmt, ap);
    va_end(ap);
    for (const char *p = msgs; p && *p; p = strchr(p, '\n') + 1) {
        if (strncmp(p, want, strlen(want)) == 0)
            return 1;
        if (!strchr(p, '\n'))
            break;
    }
    fprintf(stderr, "no line starts with: %s\n--- got:\n%s---\n", want,
            msgs ? msgs : "");
    return 0;
}

static const char *kv(const struct pt_kvlist *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].name, name) == 0)
            return l->v[i].value;
    return NULL;
}

static const char *minimal_vhost =
    "{\"vhosts\": [{\"name\": \"localhost\", \"port\": 7681, \"mounts\": "
    "[{\"mountpoint\": \"/\", \"origin\": \">https://example.com/\"}]}]}\n";

static void test_valid(void)
{
    char buf[2048];

    fresh_dir();
    mkdir(strcat(strcpy(buf, dir), "/www"), 0755);
    put("conf",
        "# global settings\n"
        "{\n"
        "  \"global\": {\n"
        "    \"uid\": \"48\",   # apache\n"
        "    \"gid\": 49,\n"
        "    \"count-threads\": \"2\",\n"
        "    \"server-string\": \"my#server\",\n"
        "    \"init-ssl\": \"yes\",\n"
        "    \"timeout-secs\": 7,\n"
        "    \"reject-service-keywords\": [{\"scumbot\": \"404 Not Found\"}],\n"
        "    \"max-header-size\": \"32768\",\n"
        "    \"rlimit-nofile\": 4096\n"
        "  }\n"
        "}\n");
    snprintf(buf, sizeof buf,
        "{\n"
        "\t\"vhosts\": [ {\n"
        "\t\t\"name\": \"localhost\",  # comment with \"quotes\"\n"
        "\t\t\"port\": \"7681\",\n"
        "\t\t\"access-log\": \"%s/access.log\",\n"
        "\t\t\"headers\": [{\"x-frame-options\": \"DENY\"}, {\"x-a\": 1}],\n"
        "\t\t\"error-document-404\": \"/404.html\",\n"
        "\t\t\"host-ssl-ca\": \"/etc/c.pem\",\n"
        "\t\t\"ssl-option-set\": \"0x10\",\n"
        "\t\t\"sts\": \"on\",\n"
        "\t\t\"allow-non-tls\": 1,\n"
        "\t\t\"mounts\": [{\n"
        "\t\t\t\"mountpoint\": \"/\",\n"
        "\t\t\t\"origin\": \"file://%s/www\",\n"
        "\t\t\t\"cache-max-age\": \"60\",\n"
        "\t\t\t\"cache-reuse\": \"1\",\n"
        "\t\t\t\"extra-mimetypes\": {\".zip\": \"application/zip\"}\n"
        "\t\t}, {\n"
        "\t\t\t\"mountpoint\": \"/docs//\",\n"
        "\t\t\t\"origin\": \">https://example.com/docs\",\n"
        "\t\t\t\"exact-match\": \"yes\"\n"
        "\t\t}]\n"
        "\t} ]\n"
        "}\n", dir, dir);
    put("conf.d/localhost", buf);
    put("conf.d/.hidden", "not json");
    put("conf.d/localhost~", "not json");
    put("conf.d/zz-disabled", "# {\"vhosts\": []}\n\n");
    put("www/404.html", "gone\n"); /* else a warning: the error document is missing */

    struct pt_config *c = load();
    CHECK(c != NULL);
    CHECK_INT(last.errors, 0);
    CHECK_INT(last.warnings, 0);
    if (!c)
        return;
    CHECK_INT(c->g.uid, 48);
    CHECK_INT(c->g.gid, 49);
    CHECK_INT(c->g.count_threads, 2);
    CHECK_STR(c->g.server_string, "my#server");
    CHECK(c->g.init_ssl);
    CHECK_INT(c->g.timeout_secs, 7);
    CHECK_STR(kv(&c->g.reject_service_keywords, "scumbot"), "404 Not Found");
    CHECK_INT(c->g.max_header_size, 32768);
    CHECK_INT(c->g.max_uri_length, 8192);
    CHECK_INT(c->g.drain_timeout_secs, 10);
    CHECK_INT(c->g.rlimit_nofile, 4096);
    CHECK(c->g.username == NULL);

    CHECK_INT(c->n_vhosts, 1);
    struct pt_vhost *vh = &c->vhosts[0];
    CHECK_STR(vh->name, "localhost");
    CHECK_INT(vh->port, 7681);
    CHECK(vh->interface == NULL);
    CHECK_INT(vh->keepalive_timeout, 60);
    CHECK(vh->access_log_fd >= 0);
    CHECK_STR(kv(&vh->headers, "x-frame-options"), "DENY");
    CHECK_STR(kv(&vh->headers, "x-a"), "1");
    CHECK_INT(vh->n_errdocs, 1);
    if (vh->n_errdocs) {
        CHECK_INT(vh->errdocs[0].status, 404);
        CHECK_STR(vh->errdocs[0].path, "/404.html");
    }
    CHECK_STR(vh->ssl_ca, "/etc/c.pem");
    CHECK_INT(vh->ssl_option_set, 16);
    CHECK_INT(vh->sts, 1);
    CHECK(vh->allow_non_tls);
    CHECK(!vh->redirect_http);
    snprintf(buf, sizeof buf, "%s/conf.d/localhost", dir);
    CHECK_STR(vh->pos.file, buf);
    CHECK_INT(vh->pos.line, 2);
    CHECK_INT(vh->pos.col, 14);

    CHECK_INT(vh->n_mounts, 2);
    if (vh->n_mounts == 2) {
        struct pt_mount *m = &vh->mounts[0];
        CHECK_STR(m->mountpoint, "/");
        CHECK_INT(m->mountpoint_len, 1);
        const struct pt_file_opts *fo = m->opts;
        CHECK(m->handler == &pt_handler_file);
        CHECK(pt_mount_is(m, "file://"));
        CHECK(m->ready);
        CHECK(fo->def == NULL); /* the handler's default applies */
        CHECK(pt_mount_has_key(m, "cache-max-age"));
        CHECK_INT(fo->cache.max_age, 60);
        CHECK(fo->cache.reuse);
        CHECK(!fo->cache.no);
        CHECK_STR(kv(&fo->extra_mimetypes, ".zip"), "application/zip");
        CHECK_INT(pt_mount_key_pos(m, "extra-mimetypes")->line, 17);
        CHECK_INT(pt_mount_key_pos(m, "extra-mimetypes")->col, 23);
        CHECK(pt_mount_key_pos(m, "allow-dotfiles") == &m->pos);
        CHECK_INT(m->pos.line, 12);
        CHECK_INT(m->pos.col, 14);
        CHECK_INT(m->origin_pos.line, 14);
        CHECK_INT(m->origin_pos.col, 14);
        m = &vh->mounts[1];
        CHECK_STR(m->mountpoint, "/docs");
        CHECK_INT(m->mountpoint_len, 5);
        CHECK(m->handler == &pt_handler_redirect);
        CHECK(m->exact_match);
        CHECK(!pt_mount_has_key(m, "cache-max-age"));
    }
    CHECK_INT(c->n_listens, 1);
    CHECK_INT(c->n_files, 3); /* conf, localhost, zz-disabled */

    pt_config_ref(c);
    CHECK(!pt_config_retire(c)); /* a user is left */
    pt_config_unref(c);
    CHECK_INT(atomic_load(&c->refs), 1);
    CHECK(pt_config_retire(c));
}

static void test_defaults_and_scalars(void)
{
    fresh_dir();
    put("conf", "{\"global\": {}}\n");
    put("conf.d/a",
        "{\"vhosts\": [\n"
        " {\"name\": \"a\", \"port\": \"80\", \"keepalive_timeout\": \"9\","
        " \"mounts\": [{\"mountpoint\": \"/x/\", \"origin\": \"file:///tmp\","
        " \"cache-reuse\": true, \"cache-revalidate\": \"off\","
        " \"cache-intermediaries\": 0, \"cache-no\": \"TRUE\","
        " \"allow-dotfiles\": \"1\", \"default\": \"home.htm\","
        " \"headers\": {\"x-m\": \"m\"}},"
        " {\"mountpoint\": \"/r\", \"origin\": \">http://e/\", \"append-path\": \"No\"},"
        " {\"mountpoint\": \"/c\", \"origin\": \"cgi:///bin/true\", \"cgi-timeout\": \"30\","
        " \"cgi-env\": [{\"A\": \"1\"}, {\"B\": 2}]},"
        " {\"mountpoint\": \"/cb\", \"origin\": \"callback://metrics\", \"pmo\": [{\"p\": \"v\"}]}"
        "]},\n"
        " {\"name\": \"b\", \"port\": 81, \"keepalive-timeout\": 10,"
        " \"redirect-http\": \"true\", \"client-cert-required\": 2}\n"
        "]}\n");
    struct pt_config *c = load();
    CHECK(c != NULL);
    if (!c)
        return;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    CHECK_INT(c->g.count_threads, cpus < 1 ? 1 : cpus > 256 ? 256 : cpus);
    CHECK_STR(c->g.server_string, "portico");
    CHECK_INT(c->g.timeout_secs, 5);
    CHECK_INT(c->g.uid, -1);
    CHECK_INT(c->g.gid, -1);
    CHECK_INT(c->g.max_header_size, 16384);
    CHECK_INT(c->vhosts[0].port, 80);
    CHECK_INT(c->vhosts[1].port, 81);
    CHECK_INT(c->vhosts[0].keepalive_timeout, 9);
    CHECK_INT(c->vhosts[1].keepalive_timeout, 10);
    CHECK(c->vhosts[1].redirect_http);
    CHECK(c->vhosts[1].client_cert_required);
    CHECK_INT(c->vhosts[0].access_log_fd, -1);
    CHECK_INT(c->vhosts[0].n_mounts, 4);
    if (c->vhosts[0].n_mounts != 4) {
        pt_config_retire(c);
        return;
    }
    const struct pt_mount *m = &c->vhosts[0].mounts[0];
    const struct pt_file_opts *fo = m->opts;
    CHECK_STR(m->mountpoint, "/x");
    CHECK(pt_mount_has_key(m, "cache-reuse"));
    CHECK(fo->cache.reuse && !fo->cache.revalidate && !fo->cache.intermediaries &&
          fo->cache.no);
    CHECK(fo->allow_dotfiles);
    CHECK_STR(fo->def, "home.htm");
    CHECK_STR(m->target, "/tmp");
    CHECK_STR(kv(&m->headers, "x-m"), "m");
    m = &c->vhosts[0].mounts[1];
    CHECK(!((const struct pt_redirect_opts *)m->opts)->append_path);
    CHECK_STR(m->target, "e/");
    m = &c->vhosts[0].mounts[2];
    const struct pt_cgi_opts *co = m->opts;
    CHECK_INT(co->timeout, 30);
    CHECK_STR(kv(&co->env, "A"), "1");
    CHECK_STR(kv(&co->env, "B"), "2");
    m = &c->vhosts[0].mounts[3];
    CHECK(m->handler == &pt_handler_callback);
    CHECK(m->opts != NULL);
    pt_config_retire(c);
}

static void test_parse_bool(void)
{
    static const char *const t[] = { "true", "on", "yes", "1", "YES", "On",
                                     "2", "-1" };
    static const char *const f[] = { "false", "off", "no", "0", "OFF", "No" };
    static const char *const bad[] = { "", "maybe", "1x", " 1", "ja" };
    bool b;

    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        b = false;
        CHECK(pt_parse_bool(t[i], &b) == 0 && b);
    }
    for (size_t i = 0; i < sizeof f / sizeof *f; i++) {
        b = true;
        CHECK(pt_parse_bool(f[i], &b) == 0 && !b);
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK_INT(pt_parse_bool(bad[i], &b), -1);
}

static void test_invalid_json(void)
{
    fresh_dir();
    put("conf", "{\"global\": {}}\n");
    put("conf.d/bad", "{\"vhosts\": [\n  {\"name\": \"x\" \"port\": 80}\n]}\n");
    CHECK(load() == NULL);
    CHECK(has_line("%s/conf.d/bad:2:21: error: invalid JSON: '}' expected "
                   "near '\"port\"'", dir));
    CHECK_INT(last.errors, 1);

    /* A repeated key is an error at its second place, naming the first. */
    fresh_dir();
    put("conf", "{\"global\": {\"uid\": 1,\n \"uid\": 2}}\n");
    put("conf.d/a", minimal_vhost);
    CHECK(load() == NULL);
    CHECK(has_line("%s/conf:2:2: error: duplicate key \"uid\" (also at %s/conf:1:13); a "
                   "key may appear once in an object", dir, dir));
}

static void test_missing_key(void)
{
    fresh_dir();
    put("conf", "{}\n");
    put("conf.d/a",
        "{\"vhosts\": [\n"
        "  {\"name\": \"a\",\n"
        "   \"mounts\": [ {\"origin\": \"file:///tmp\"} ]}\n"
        "]}\n");
    CHECK(load() == NULL);
    CHECK(has_line("%s/conf.d/a:2:3: error: vhost a: missing required key "
                   "\"port\"", dir));
    CHECK(has_line("%s/conf.d/a:3:16: error: mount: missing required key "
                   "\"mountpoint\"", dir));
    CHECK_INT(last.errors, 2);
}

static void test_wrong_type_and_range(void)
{
    fresh_dir();
    put("conf",
        "{\"global\": {\n"
        "  \"count-threads\": 0,\n"
        "  \"max-header-size\": \"big\",\n"
        "  \"init-ssl\": \"maybe\",\n"
        "  \"server-string\": {}\n"
        "}}\n");
    put("conf.d/a",
        "{\"vhosts\": [{\"name\": \"a\",\n"
        "  \"port\": \"abc\"}, {\"name\": \"b\", \"port\": 70000,\n"
        "  \"mounts\": {}, \"headers\": [{\"bad name\": \"x\"}],\n"
        "  \"error-document-302\": \"/x\", \"error-document-500\": \"x\"}]}\n");
    CHECK(load() == NULL);
    CHECK(has_line("%s/conf:2:20: error: \"count-threads\": 0 is out of range "
                   "(1..256)", dir));
    CHECK(has_line("%s/conf:3:22: error: \"max-header-size\": expected an "
                   "integer, got \"big\"", dir));
    CHECK(has_line("%s/conf:4:15: error: \"init-ssl\": expected a boolean "
                   "(true/false, on/off, yes/no, 1/0), got \"maybe\"", dir));
    CHECK(has_line("%s/conf:5:20: error: \"server-string\": expected a "
                   "string, got an object", dir));
    CHECK(has_line("%s/conf.d/a:2:11: error: \"port\": expected an integer, "
                   "got \"abc\"", dir));
    CHECK(has_line("%s/conf.d/a:2:41: error: \"port\": 70000 is out of range "
                   "(1..65535)", dir));
    CHECK(has_line("%s/conf.d/a:3:13: error: \"mounts\": expected an array, "
                   "got an object", dir));
    CHECK(has_line("%s/conf.d/a:3:30: error: \"headers\": \"bad name\" is not "
                   "a valid header name", dir));
    CHECK(has_line("%s/conf.d/a:4:3: error: \"error-document-302\": the "
                   "status must be a 4xx or 5xx code", dir));
    CHECK(has_line("%s/conf.d/a:4:53: error: \"error-document-500\": "
                   "expected a URL path starting with '/', got \"x\"", dir));
    CHECK_INT(last.errors, 10);
}

static void test_origin_and_mountpoint(void)
{
    fresh_dir();
    put("conf", "{}\n");
    put("conf.d/a",
        "{\"vhosts\": [{\"name\": \"a\", \"port\": 80, \"mounts\": [\n"
        "  {\"mountpoint\": \"/\", \"origin\": \"ftp://x\"},\n"
        "  {\"mountpoint\": \"x\", \"origin\": \"file:///tmp\"}\n"
        "]}]}\n");
    CHECK(load() == NULL);
    /* The reason lists the registered schemes; the value is quoted. */
    CHECK(has_prefix("%s/conf.d/a:2:33: error: \"origin\": \"ftp://x\": "
                     "unknown origin scheme (expected file://, >http://", dir));
    CHECK(has_line("%s/conf.d/a:3:18: error: \"mountpoint\": \"x\" must "
                   "start with '/'", dir));
    CHECK_INT(last.errors, 2);
}

/* A handler's keys on another handler's mount: ignored, and the warning
 * says whose key it is, at the key. */
static void test_keys_of_other_handlers(void)
{
    fresh_dir();
    put("conf", "{}\n");
    put("conf.d/a",
        "{\"vhosts\": [{\"name\": \"a\", \"port\": 80, \"mounts\": [\n"
        "  {\"mountpoint\": \"/\", \"origin\": \"file:///tmp\", \"cgi-timeout\": 5},\n"
        "  {\"mountpoint\": \"/r\", \"origin\": \">https://x/\", \"default\": \"a\","
        " \"no-such-key\": 1}\n"
        "]}]}\n");
    struct pt_config *c = load();
    CHECK(c != NULL);
    CHECK(has_line("%s/conf.d/a:2:48: warning: \"cgi-timeout\" is a key of cgi:// "
                   "mounts, not of file:// ones; ignored", dir));
    CHECK(has_line("%s/conf.d/a:3:49: warning: \"default\" is a key of file:// "
                   "mounts, not of >https:// ones; ignored", dir));
    CHECK(has_line("%s/conf.d/a:3:65: warning: unknown mount key \"no-such-key\"; "
                   "ignored", dir));
    CHECK_INT(last.warnings, 3);
    if (c)
        pt_config_retire(c);
}

/* The mount handlers run only for a valid config, and report at the
 * origin's position. */
static void test_mount_setup_error(void)
{
    fresh_dir();
    put("conf", "{}\n");
    put("conf.d/a",
        "{\"vhosts\": [{\"name\": \"a\", \"port\": 80, \"mounts\": [\n"
        "  {\"mountpoint\": \"/\", \"origin\": \"file:///nonexistent/pt\"}\n"
        "]}]}\n");
    CHECK(load() == NULL);
    CHECK(has_prefix("%s/conf.d/a:2:33: error: ", dir));
    CHECK(last.errors >= 1);
}

static void test_duplicate_vhost(void)
{
    fresh_dir();
    put("conf", "{}\n");
    put("conf.d/a", "{\"vhosts\": [{\"name\": \"a.com\", \"port\": 80}]}\n");
    put("conf.d/b",
        "{\"vhosts\": [{\"name\": \"a.com\", \"port\": 81},\n"
        "             {\"name\": \"A.com\", \"port\": 80}]}\n");
    CHECK(load() == NULL);
    CHECK(has_line("%s/conf.d/b:2:23: error: \"name\": duplicate vhost "
                   "\"A.com\" on port 80 (first defined at %s/conf.d/a:1:13)",
                   dir, dir));
    CHECK_INT(last.errors, 1);
}

static void test_files(void)
{
    fresh_dir();
    CHECK(load() == NULL);
    CHECK(has_line("%s/conf: error: cannot read config file: No such file "
                   "or directory", dir));

    /* No conf.d is fine, but some vhost must exist. */
    put("conf", "{\"global\": {}}\n");
    CHECK(load() == NULL);
    CHECK(has_line("%s/conf: error: no vhosts defined (here or in "
                   "%s/conf.d/)", dir, dir));
    CHECK_INT(last.errors, 1);

    /* vhosts in conf itself are accepted. */
    put("conf", minimal_vhost);
    struct pt_config *c = load();
    CHECK(c != NULL);
    if (c) {
        CHECK_INT(c->n_vhosts, 1);
        pt_config_retire(c);
    }

    /* An empty conf.d is fine too (fuzz_config: it once meant qsort() of
     * a NULL array, undefined behaviour UBSan stops at). */
    char d[256];
    snprintf(d, sizeof d, "%s/conf.d", dir);
    CHECK_INT(mkdir(d, 0755), 0);
    c = load();
    CHECK(c != NULL);
    CHECK_INT(last.errors, 0);
    if (c) {
        CHECK_INT(c->n_files, 1);
        pt_config_retire(c);
    }

    /* The access log is opened at load. */
    put("conf.d/a", "{\"vhosts\": [{\"name\": \"b\", \"port\": 80,\n"
                    "  \"access-log\": \"/nonexistent/dir/log\"}]}\n");
    CHECK(load() == NULL);
    CHECK(has_line("%s/conf.d/a:2:17: error: \"access-log\": cannot open "
                   "\"/nonexistent/dir/log\": No such file or directory",
                   dir));

    /* Such late messages are placed once the JSON document is gone: what
     * the position memo kept of the last path (its keys) must not be used
     * (fuzz_config: a use after free, under ASan). */
    fresh_dir();
    put("conf", "{}\n");
    put("conf.d/a", "{\"vhosts\": [{\"name\": \"a\", \"port\": 80, \"mounts\": [\n"
                    "  {\"mountpoint\": \"/\", \"origin\": \">https://x/\", \"zap\": 1}]},\n"
                    " {\"name\": \"b\", \"port\": 81,\n"
                    "  \"access-log\": \"/nonexistent/dir/log\"}]}\n");
    CHECK(load() == NULL);
    CHECK(has_line("%s/conf.d/a:4:17: error: \"access-log\": cannot open "
                   "\"/nonexistent/dir/log\": No such file or directory",
                   dir));
    CHECK_INT(last.errors, 1);
}

static void test_warnings(void)
{
    fresh_dir();
    put("conf", "{\"global\": {\"ws-pingpong-secs\": 200, \"frob\": 1},\n"
                " \"extra\": 1}\n");
    put("conf.d/a",
        "{\"vhosts\": [{\"name\": \"a\", \"port\": 80,\n"
        "  \"ws-protocols\": [{\"x\": {}}], \"colour\": \"red\",\n"
        "  \"mounts\": [{\"mountpoint\": \"/\", \"origin\": \">http://x/\","
        " \"interpret\": {}, \"zap\": 1}]}],\n"
        " \"global\": {\"count-threads\": 2}}\n");
    struct pt_config *c = load();
    CHECK(c != NULL);
    CHECK_INT(last.errors, 0);
    CHECK_INT(last.warnings, 7);
    CHECK_INT(c ? c->g.ws_pingpong_secs : -1, 200);
    CHECK(has_line("%s/conf:1:38: warning: unknown global key \"frob\"; "
                   "ignored", dir));
    CHECK(has_line("%s/conf:2:2: warning: unknown top-level key \"extra\"; "
                   "ignored", dir));
    CHECK(has_line("%s/conf.d/a:2:21: warning: \"ws-protocols\": no plugin named \"x\" "
                   "(there are: metrics, dumb-increment-protocol (dumb-increment), "
                   "lws-mirror-protocol (mirror), lws-server-status (server-status), "
                   "protocol-post-demo (post-demo)); ignored", dir));
    CHECK(has_line("%s/conf.d/a:2:32: warning: unknown vhost key \"colour\"; "
                   "ignored", dir));
    CHECK(has_line("%s/conf.d/a:3:58: warning: \"interpret\" is a key of file:// "
                   "mounts, not of >http:// ones; ignored", dir));
    CHECK(has_line("%s/conf.d/a:3:75: warning: unknown mount key \"zap\"; "
                   "ignored", dir));
    CHECK(has_line("%s/conf.d/a:4:13: warning: \"count-threads\": a conf.d file's "
                   "\"global\" may only add \"plugin-dir\"; the rest is read from "
                   "%s/conf; ignored", dir, dir));
    if (c)
        pt_config_retire(c);
}

static void test_listens(void)
{
    fresh_dir();
    put("conf", "{}\n");
    put("conf.d/1",
        "{\"vhosts\": [{\"name\": \"a\", \"port\": 80},"
        " {\"name\": \"b\", \"port\": 80},"
        " {\"name\": \"a\", \"port\": 81}]}\n");
    put("conf.d/2",
        "{\"vhosts\": [{\"name\": \"c\", \"port\": 80,"
        " \"interface\": \"127.0.0.1\"}, {\"name\": \"d\", \"port\": 80}]}\n");
    struct pt_config *c = load();
    CHECK(c != NULL);
    if (!c)
        return;
    CHECK_INT(c->n_listens, 3);
    if (c->n_listens == 3) {
        CHECK_INT(c->listens[0].port, 80);
        CHECK(c->listens[0].interface == NULL);
        CHECK_INT(c->listens[0].n_vhosts, 3);
        CHECK_STR(c->listens[0].vhosts[0]->name, "a");
        CHECK_STR(c->listens[0].vhosts[1]->name, "b");
        CHECK_STR(c->listens[0].vhosts[2]->name, "d");
        CHECK_INT(c->listens[1].port, 81);
        CHECK_INT(c->listens[1].n_vhosts, 1);
        CHECK(c->listens[1].vhosts[0] == &c->vhosts[2]);
        CHECK_STR(c->listens[2].interface, "127.0.0.1");
        CHECK_INT(c->listens[2].n_vhosts, 1);
        CHECK_STR(c->listens[2].vhosts[0]->name, "c");
    }
    pt_config_retire(c);
}

static void test_jsonpos(void)
{
    const char *t = "{\n \"a\": [1, {\"b\\\"c\": \"x]}\"}, [2]],\n"
                    " \"\\u00e9\": {\"k\": true}, \"z\": 3}";
    struct pt_jstep p1[] = { { "a", 0 }, { NULL, 1 }, { "b\"c", 0 } };
    struct pt_jstep p2[] = { { "a", 0 }, { NULL, 2 }, { NULL, 0 } };
    struct pt_jstep p3[] = { { "\xc3\xa9", 0 }, { "k", 0 } };
    struct pt_jstep p4[] = { { "z", 0 } };
    struct pt_jstep p5[] = { { "a", 0 }, { NULL, 7 } };
    int line, col;
    size_t len = strlen(t);

    CHECK_INT(pt_jsonpos_find(t, len, p1, 3, false, &line, &col), 0);
    CHECK(line == 2 && col == 20);
    CHECK_INT(pt_jsonpos_find(t, len, p1, 3, true, &line, &col), 0);
    CHECK(line == 2 && col == 12);
    CHECK_INT(pt_jsonpos_find(t, len, p2, 3, false, &line, &col), 0);
    CHECK(line == 2 && col == 29);
    CHECK_INT(pt_jsonpos_find(t, len, p3, 2, false, &line, &col), 0);
    CHECK(line == 3 && col == 18);
    CHECK_INT(pt_jsonpos_find(t, len, p4, 1, true, &line, &col), 0);
    CHECK(line == 3 && col == 25);
    CHECK_INT(pt_jsonpos_find(t, len, p4, 0, false, &line, &col), 0);
    CHECK(line == 1 && col == 1);
    /* Not found: the deepest step that resolved ("a"'s array). */
    CHECK_INT(pt_jsonpos_find(t, len, p5, 2, false, &line, &col), -1);
    CHECK(line == 2 && col == 7);

    char s[] = "{\"a#\": \"\\\"#x\" # c \"q\n, # \n}#";
    pt_json_strip_comments(s, strlen(s));
    CHECK_STR(s, "{\"a#\": \"\\\"#x\"       \n,   \n} ");
}


/* The memo gives what a fresh scan gives, in document order, backwards
 * and at random, for values and keys, found or not. */
static void test_jsonpos_memo(void)
{
    char *t = malloc(200000);
    size_t len = 0;
    len += (size_t)sprintf(t + len, "{\n \"vhosts\": [\n");
    for (int v = 0; v < 200; v++) {
        len += (size_t)sprintf(t + len, "  {\"name\": \"v%d\", \"port\": %d,\n"
                               "   \"mounts\": [", v, 1000 + v);
        for (int m = 0; m < v % 4; m++)
            len += (size_t)sprintf(t + len, "%s{\"mountpoint\": \"/m%d\",\n"
                                   "     \"origin\": \"file:///x\"}", m ? ", " : "", m);
        len += (size_t)sprintf(t + len, "]}%s\n", v < 199 ? "," : "");
    }
    len += (size_t)sprintf(t + len, " ],\n \"z\": 1\n}\n");
    struct pt_jsonpos_memo memo;
    memset(&memo, 0, sizeof memo);
    unsigned seed = 12345;
    int bad = 0;
    for (int k = 0; k < 3000; k++) {
        seed = seed * 1103515245u + 12345u;
        int v = k < 1000 ? k / 5 : k < 2000 ? 199 - (k - 1000) / 5 : (int)(seed >> 8) % 230;
        int what = (int)(seed >> 20) % 5;
        struct pt_jstep p[5] = { { "vhosts", 0 }, { NULL, (size_t)v }, { "mounts", 0 },
                                 { NULL, (size_t)(seed >> 4) % 4 }, { "origin", 0 } };
        size_t n = what == 0 ? 2 : what == 1 ? 3 : 5;
        bool key = what == 4;
        if (what == 2) {
            p[2].key = "port";
            n = 3;
        }
        int l1, c1, l2, c2;
        int r1 = pt_jsonpos_find(t, len, p, n, key, &l1, &c1);
        int r2 = pt_jsonpos_find_memo(&memo, t, len, p, n, key, &l2, &c2);
        bad += r1 != r2 || l1 != l2 || c1 != c2;
    }
    CHECK_INT(bad, 0);
    free(t);
}

int main(void)
{
    pt_builtin_register();
    test_parse_bool();
    test_jsonpos();
    test_jsonpos_memo();
    test_valid();
    test_defaults_and_scalars();
    test_invalid_json();
    test_missing_key();
    test_wrong_type_and_range();
    test_origin_and_mountpoint();
    test_keys_of_other_handlers();
    test_mount_setup_error();
    test_duplicate_vhost();
    test_files();
    test_warnings();
    test_listens();
    if (dir[0])
        nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(msgs);
    return check_done("config");
}
