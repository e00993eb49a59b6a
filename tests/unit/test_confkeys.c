/* Repeated JSON keys found with their places (pt_json_duplicates), and
 * "did you mean" suggestions (pt_key_suggest). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gateway/confkeys.h"
#include "gateway/jsonpos.h"

struct seen {
    int n;
    char key[8][32];
    char path[8][64];
    size_t n_occ[8];
    int line[8][4], col[8][4];
    char value[8][4][32];
};

static void on_dup(void *arg, const struct pt_jstep *path, size_t depth, const char *key,
                   const struct pt_json_occ *occ, size_t n)
{
    struct seen *s = arg;
    if (s->n >= 8)
        return;
    int i = s->n++;
    snprintf(s->key[i], sizeof s->key[i], "%s", key);
    char *p = s->path[i];
    p[0] = '\0';
    for (size_t d = 0; d < depth; d++) {
        size_t l = strlen(p);
        if (path[d].key)
            snprintf(p + l, 64 - l, "/%s", path[d].key);
        else
            snprintf(p + l, 64 - l, "[%zu]", path[d].index);
    }
    s->n_occ[i] = n;
    for (size_t k = 0; k < n && k < 4; k++) {
        s->line[i][k] = occ[k].line;
        s->col[i][k] = occ[k].col;
        snprintf(s->value[i][k], 32, "%.*s", (int)occ[k].value_len, occ[k].value);
    }
}

static struct seen scan(const char *text)
{
    struct seen s;
    memset(&s, 0, sizeof s);
    pt_json_duplicates(text, strlen(text), on_dup, &s);
    return s;
}

static void test_duplicates(void)
{
    struct seen s = scan("{\"a\": 1, \"b\": 2}");
    CHECK_INT(s.n, 0);

    s = scan("{\"a\": 1,\n \"a\": \"two\"}");
    CHECK_INT(s.n, 1);
    CHECK_STR(s.key[0], "a");
    CHECK_STR(s.path[0], "");
    CHECK_INT(s.n_occ[0], 2);
    CHECK_INT(s.line[0][0], 1);
    CHECK_INT(s.col[0][0], 2);
    CHECK_INT(s.line[0][1], 2);
    CHECK_INT(s.col[0][1], 2);
    CHECK_STR(s.value[0][0], "1");
    CHECK_STR(s.value[0][1], "\"two\"");

    /* Three times: reported once, with every occurrence. */
    s = scan("{\"vhosts\": [{\"x\": 1}, {\"o\": \"1\", \"o\": \"2\", \"k\": {}, \"o\": 4}]}");
    CHECK_INT(s.n, 1);
    CHECK_STR(s.path[0], "/vhosts[1]");
    CHECK_INT(s.n_occ[0], 3);
    CHECK_STR(s.value[0][2], "4");

    /* Same key in different objects is fine; nested objects are scanned. */
    s = scan("{\"a\": {\"k\": 1}, \"b\": {\"k\": 2, \"m\": [{\"z\": 1, \"z\": [1, {\"q\": 0}]}]}}");
    CHECK_INT(s.n, 1);
    CHECK_STR(s.key[0], "z");
    CHECK_STR(s.path[0], "/b/m[0]");
    CHECK_STR(s.value[0][1], "[1, {\"q\": 0}]");

    /* Escapes: "\u0061" is "a". */
    s = scan("{\"a\": 1, \"\\u0061\": 2, \"b\\\"\": 3, \"b\\\"\": 4}");
    CHECK_INT(s.n, 2);

    /* Strings holding braces and quotes do not confuse it. */
    s = scan("{\"s\": \"}{,\\\"\", \"t\": \"]\", \"s\": 1}");
    CHECK_INT(s.n, 1);
    CHECK_STR(s.key[0], "s");

    /* Empty containers and top-level arrays. */
    s = scan("[{}, [], {\"a\": [], \"a\": {}}]");
    CHECK_INT(s.n, 1);
    CHECK_STR(s.path[0], "[2]");

    /* Broken input (jansson refuses it first, but the scanner must stop). */
    s = scan("{\"a\": 1, \"a\"");
    CHECK(s.n <= 1);
    s = scan("{\"a");
    CHECK_INT(s.n, 0);
}

static void test_suggest(void)
{
    static const char *const keys[] = {
        "basic-auth", "keepalive_timeout", "keepalive-timeout", "cache-max-age",
        "redirect-http", "headers", "sts", "ip-limit-wsi", "ip-limit-ah",
    };
    size_t n = sizeof keys / sizeof keys[0];
    CHECK_STR(pt_key_suggest("basic_auth", keys, n), "basic-auth");
    CHECK_STR(pt_key_suggest("BasicAuth", keys, n), "basic-auth");
    CHECK_STR(pt_key_suggest("basic-atuh", keys, n), "basic-auth"); /* a swap is one edit */
    CHECK_STR(pt_key_suggest("keepalive-timout", keys, n), "keepalive-timeout");
    CHECK_STR(pt_key_suggest("keepalive_timout", keys, n), "keepalive_timeout");
    CHECK_STR(pt_key_suggest("cache-maxage", keys, n), "cache-max-age");
    CHECK_STR(pt_key_suggest("header", keys, n), "headers");
    CHECK_STR(pt_key_suggest("ip-limit-wsl", keys, n), "ip-limit-wsi");
    CHECK(pt_key_suggest("colour", keys, n) == NULL);
    CHECK(pt_key_suggest("st", keys, n) == NULL || strcmp(pt_key_suggest("st", keys, n), "sts") == 0);
    CHECK(pt_key_suggest("xyz", keys, n) == NULL);
    CHECK(pt_key_suggest("frobnicate", keys, n) == NULL);
    CHECK(pt_key_suggest("a-very-long-key-name-nobody-has-ever-written-down-anywhere", keys,
                         n) == NULL);

    CHECK(pt_key_is_security("basic-auth"));
    CHECK(pt_key_is_security("ip-limit-rate"));
    CHECK(!pt_key_is_security("sts"));

    const struct pt_lws_key *k = pt_lws_key_find("vhost", "onlyraw");
    CHECK(k && k->support == PT_LWS_REFUSED);
    k = pt_lws_key_find("vhost", "noipv6");
    CHECK(k && k->support == PT_LWS_UNSUPPORTED);
    CHECK(pt_lws_key_find("mount", "noipv6") == NULL);
    CHECK(pt_lws_key_find("vhost", "port") == NULL); /* portico's own */
}

int main(void)
{
    test_duplicates();
    test_suggest();
    return check_done("confkeys");
}
