/* The CGI environment (cgi/env.c): every RFC 3875 variable, HTTP_* rules
 * (httpoxy, odd names, repeated fields), precedence, the inherited set. */
#include <stdlib.h>
#include <string.h>

#include "cgi/cgi.h"
#include "gateway/config.h"
#include "gateway/pool.h"
#include "gateway/request.h"
#include "gateway/mount.h"
#include "tests/unit/check.h"
#include "tests/unit/testutil.h"

static struct pt_config conf;
static struct pt_kv cgi_env_kv[2];
static struct pt_cgi_opts git_opts;
static struct pt_mount mounts[3];
static struct pt_vhost vhost;

static void setup_config(void)
{
    conf.g.server_string = "portico-test";
    cgi_env_kv[0].name = "GIT_PROJECT_ROOT";
    cgi_env_kv[0].value = "/srv/git";
    cgi_env_kv[1].name = "SERVER_NAME";       /* cgi-env has the last word */
    cgi_env_kv[1].value = "override.test";

    mounts[0].mountpoint = "/";
    mounts[0].mountpoint_len = 1;
    mounts[0].origin = "file:///srv/www/";
    mounts[0].target = "/srv/www/";
    mounts[1].mountpoint = "/cgi";
    mounts[1].mountpoint_len = 4;
    mounts[1].origin = "cgi:///usr/lib/cgi-bin/x";
    mounts[1].target = "/usr/lib/cgi-bin/x";
    mounts[2].mountpoint = "/git";
    mounts[2].mountpoint_len = 4;
    mounts[2].origin = "cgi:///usr/lib/git-core/git-http-backend";
    git_opts.env.v = cgi_env_kv;
    git_opts.env.n = 2;
    mounts[2].opts = &git_opts;
    vhost.name = "example.test";
    vhost.port = 8080;
    vhost.mounts = mounts;
    vhost.n_mounts = 3;
}

#define hdr tu_req_header

static struct pt_req *new_req(const char *method, const char *target, int mount)
{
    struct pt_req *r = tu_req_new(pt_pool_new(4096), method, target);
    r->conf = &conf;
    strcpy(r->peer_ip, "192.0.2.7");
    r->peer_port = 54321;
    r->local_port = 8080;
    r->authority = "example.test";
    r->authority_len = 12;
    r->vhost = &vhost;
    r->mount = &mounts[mount];
    r->rest = pt_mount_rest(r->mount, r->path, r->path_len, &r->rest_len);
    return r;
}

static const char *get(char **env, const char *name)
{
    size_t n = strlen(name);
    const char *found = NULL;
    int count = 0;
    for (size_t i = 0; env[i]; i++) {
        if (strncmp(env[i], name, n) == 0 && env[i][n] == '=') {
            found = env[i] + n + 1;
            count++;
        }
    }
    CHECK(count <= 1); /* names are unique */
    return found;
}

static void test_rfc3875(void)
{
    struct pt_req *r = new_req("POST", "/cgi/a/b%20c?x=1&y=%41", 1);
    r->path = "/cgi/a/b c";
    r->path_len = strlen(r->path);
    r->rest = pt_mount_rest(r->mount, r->path, r->path_len, &r->rest_len);
    r->content_length = 11;
    r->has_body = true;
    hdr(r, "Host", "example.test:8080");
    hdr(r, "Content-Type", "application/x-www-form-urlencoded");
    hdr(r, "Content-Length", "11");
    hdr(r, "User-Agent", "test/1.0");
    hdr(r, "X-Multi-Word-Name", "v");
    char *inherit[] = {"PATH=/bin:/usr/bin", "LANG=C.UTF-8", NULL};
    char **env = pt_cgi_env(r, "/usr/lib/cgi-bin/x", inherit);

    CHECK_STR(get(env, "GATEWAY_INTERFACE"), "CGI/1.1");
    CHECK_STR(get(env, "SERVER_SOFTWARE"), "portico-test");
    CHECK_STR(get(env, "SERVER_NAME"), "example.test");
    CHECK_STR(get(env, "SERVER_PORT"), "8080");
    CHECK_STR(get(env, "SERVER_PROTOCOL"), "HTTP/1.1");
    CHECK_STR(get(env, "REQUEST_METHOD"), "POST");
    CHECK_STR(get(env, "REQUEST_URI"), "/cgi/a/b%20c?x=1&y=%41");
    CHECK_STR(get(env, "REQUEST_SCHEME"), "http");
    CHECK_STR(get(env, "SCRIPT_NAME"), "/cgi");
    CHECK_STR(get(env, "SCRIPT_FILENAME"), "/usr/lib/cgi-bin/x");
    CHECK_STR(get(env, "PATH_INFO"), "/a/b c");
    CHECK_STR(get(env, "PATH_TRANSLATED"), "/srv/www/a/b c");
    CHECK_STR(get(env, "QUERY_STRING"), "x=1&y=%41");
    CHECK_STR(get(env, "REMOTE_ADDR"), "192.0.2.7");
    CHECK_STR(get(env, "REMOTE_PORT"), "54321");
    CHECK_STR(get(env, "CONTENT_TYPE"), "application/x-www-form-urlencoded");
    CHECK_STR(get(env, "CONTENT_LENGTH"), "11");
    CHECK_STR(get(env, "HTTP_HOST"), "example.test:8080");
    CHECK_STR(get(env, "HTTP_USER_AGENT"), "test/1.0");
    CHECK_STR(get(env, "HTTP_X_MULTI_WORD_NAME"), "v");
    CHECK_STR(get(env, "PATH"), "/bin:/usr/bin");
    CHECK_STR(get(env, "LANG"), "C.UTF-8");
    CHECK(get(env, "HTTP_CONTENT_TYPE") == NULL);
    CHECK(get(env, "HTTP_CONTENT_LENGTH") == NULL);
    CHECK(get(env, "HTTPS") == NULL);
    CHECK(get(env, "AUTH_TYPE") == NULL);
    CHECK(get(env, "REMOTE_USER") == NULL);
    CHECK(get(env, "GIT_PROJECT_ROOT") == NULL); /* another mount's */
    pt_pool_free(r->pool);
}

static void test_minimal_get(void)
{
    /* No query, no body, no PATH_INFO: QUERY_STRING is still set. */
    struct pt_req *r = new_req("GET", "/cgi", 1);
    char **env = pt_cgi_env(r, "/x", NULL);
    CHECK_STR(get(env, "QUERY_STRING"), "");
    CHECK(get(env, "PATH_INFO") == NULL);
    CHECK(get(env, "PATH_TRANSLATED") == NULL);
    CHECK(get(env, "CONTENT_LENGTH") == NULL);
    CHECK(get(env, "CONTENT_TYPE") == NULL);
    CHECK_STR(get(env, "SCRIPT_NAME"), "/cgi");
    CHECK_STR(get(env, "REQUEST_URI"), "/cgi");
    CHECK(get(env, "PATH") == NULL); /* nothing inherited unless given */
    pt_pool_free(r->pool);

    /* the "/" mount: empty SCRIPT_NAME, the whole path is PATH_INFO */
    r = new_req("GET", "/x/y", 0);
    mounts[0].origin = "cgi:///x";
    env = pt_cgi_env(r, "/x", NULL);
    CHECK_STR(get(env, "SCRIPT_NAME"), "");
    CHECK_STR(get(env, "PATH_INFO"), "/x/y");
    CHECK(get(env, "PATH_TRANSLATED") == NULL); /* no file mount serves it */
    mounts[0].origin = "file:///srv/www/";
    pt_pool_free(r->pool);

    /* Content-Length: 0 is passed as such */
    r = new_req("POST", "/cgi", 1);
    r->content_length = 0;
    env = pt_cgi_env(r, "/x", NULL);
    CHECK_STR(get(env, "CONTENT_LENGTH"), "0");
    pt_pool_free(r->pool);
}

static void test_headers(void)
{
    struct pt_req *r = new_req("GET", "/cgi/", 1);
    hdr(r, "Proxy", "http://evil.test:3128");       /* httpoxy */
    hdr(r, "Proxy-Authorization", "Basic eDp5");
    hdr(r, "X_Under", "smuggled");                  /* not letters/digits/- */
    hdr(r, "X-Dot.Name", "odd");
    hdr(r, "Accept", "text/html");
    hdr(r, "accept", "text/plain");
    hdr(r, "Cookie", "a=1");
    hdr(r, "X-Other", "o");
    hdr(r, "COOKIE", "b=2");
    hdr(r, "Transfer-Encoding", "chunked");
    hdr(r, "Authorization", "Basic dTpw");
    hdr(r, "X-9", "digits");
    char **env = pt_cgi_env(r, "/x", NULL);
    CHECK(get(env, "HTTP_PROXY") == NULL);
    CHECK(get(env, "HTTP_PROXY_AUTHORIZATION") == NULL);
    CHECK(get(env, "HTTP_X_UNDER") == NULL);
    CHECK(get(env, "HTTP_X_DOT.NAME") == NULL);
    CHECK(get(env, "HTTP_X_DOT_NAME") == NULL);
    CHECK(get(env, "HTTP_TRANSFER_ENCODING") == NULL);
    CHECK_STR(get(env, "HTTP_ACCEPT"), "text/html, text/plain");
    CHECK_STR(get(env, "HTTP_COOKIE"), "a=1; b=2");
    CHECK_STR(get(env, "HTTP_X_OTHER"), "o");
    CHECK_STR(get(env, "HTTP_X_9"), "digits");
    /* no basic-auth on the mount: the program may do its own */
    CHECK_STR(get(env, "HTTP_AUTHORIZATION"), "Basic dTpw");
    CHECK_STR(get(env, "PATH_INFO"), "/");
    pt_pool_free(r->pool);

    /* after portico's own basic auth: REMOTE_USER, no credentials */
    mounts[1].basic_auth = "users";
    r = new_req("GET", "/cgi", 1);
    hdr(r, "Authorization", "Basic dTpw");
    r->remote_user = "u";
    env = pt_cgi_env(r, "/x", NULL);
    CHECK(get(env, "HTTP_AUTHORIZATION") == NULL);
    CHECK_STR(get(env, "AUTH_TYPE"), "Basic");
    CHECK_STR(get(env, "REMOTE_USER"), "u");
    mounts[1].basic_auth = NULL;
    pt_pool_free(r->pool);
}

static void test_tls_h2_absolute(void)
{
    struct pt_req *r = new_req("GET", "/cgi/p?q", 1);
    r->tls = true;
    r->version = 20;
    r->local_port = 8443;
    char **env = pt_cgi_env(r, "/x", NULL);
    CHECK_STR(get(env, "HTTPS"), "on");
    CHECK_STR(get(env, "REQUEST_SCHEME"), "https");
    CHECK_STR(get(env, "SERVER_PROTOCOL"), "HTTP/2.0");
    CHECK_STR(get(env, "SERVER_PORT"), "8443");
    /* HTTP/2: no Host field, :authority stands in */
    CHECK_STR(get(env, "HTTP_HOST"), "example.test:8443");
    pt_pool_free(r->pool);

    r = new_req("GET", "/cgi/p", 1);
    r->tls = true;
    r->local_port = 443;
    env = pt_cgi_env(r, "/x", NULL);
    CHECK_STR(get(env, "HTTP_HOST"), "example.test");
    pt_pool_free(r->pool);

    r = new_req("GET", "http://example.test:8080/cgi/z?k=v", 1);
    r->path = "/cgi/z";
    r->path_len = 6;
    r->query = "k=v";
    r->query_len = 3;
    r->rest = pt_mount_rest(r->mount, r->path, r->path_len, &r->rest_len);
    r->version = 10;
    env = pt_cgi_env(r, "/x", NULL);
    CHECK_STR(get(env, "REQUEST_URI"), "/cgi/z?k=v");
    CHECK_STR(get(env, "SERVER_PROTOCOL"), "HTTP/1.0");
    CHECK_STR(get(env, "PATH_INFO"), "/z");
    pt_pool_free(r->pool);

    r = new_req("OPTIONS", "http://example.test?x", 1);
    env = pt_cgi_env(r, "/x", NULL);
    CHECK_STR(get(env, "REQUEST_URI"), "/?x");
    pt_pool_free(r->pool);
}

static void test_precedence(void)
{
    struct pt_req *r = new_req("GET", "/git/repo.git/info/refs?service=git-upload-pack", 2);
    char *inherit[] = {"PATH=/bin", "SERVER_NAME=inherited", NULL};
    char **env = pt_cgi_env(r, "/usr/lib/git-core/git-http-backend", inherit);
    CHECK_STR(get(env, "GIT_PROJECT_ROOT"), "/srv/git");
    CHECK_STR(get(env, "SERVER_NAME"), "override.test");
    CHECK_STR(get(env, "PATH_INFO"), "/repo.git/info/refs");
    CHECK_STR(get(env, "SCRIPT_NAME"), "/git");
    CHECK_STR(get(env, "QUERY_STRING"), "service=git-upload-pack");
    pt_pool_free(r->pool);
}

static void test_inherit(void)
{
    setenv("PATH", "/opt/bin:/bin", 1);
    setenv("LANG", "C", 1);
    setenv("PORTICO_SECRET", "do-not-leak", 1);
    setenv("LD_PRELOAD", "/tmp/evil.so", 1);
    char **inh = pt_cgi_env_inherit();
    bool path = false, lang = false, leak = false;
    for (size_t i = 0; inh && inh[i]; i++) {
        path = path || strcmp(inh[i], "PATH=/opt/bin:/bin") == 0;
        lang = lang || strcmp(inh[i], "LANG=C") == 0;
        leak = leak || strncmp(inh[i], "PORTICO_SECRET", 14) == 0 ||
               strncmp(inh[i], "LD_PRELOAD", 10) == 0;
    }
    CHECK(path);
    CHECK(lang);
    CHECK(!leak);
    pt_cgi_env_free(inh);
    unsetenv("LD_PRELOAD");

    unsetenv("PATH");
    inh = pt_cgi_env_inherit();
    bool dflt = false;
    for (size_t i = 0; inh && inh[i]; i++)
        dflt = dflt || strncmp(inh[i], "PATH=/usr/local/bin:", 20) == 0;
    CHECK(dflt);
    pt_cgi_env_free(inh);
}

int main(void)
{
    setup_config();
    test_rfc3875();
    test_minimal_get();
    test_headers();
    test_tls_h2_absolute();
    test_precedence();
    test_inherit();
    return check_done("cgi_env");
}
