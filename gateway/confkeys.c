/* What portico does with each key lwsws documents, and suggestions for
 * keys nobody documents (see confkeys.h).  docs/config.md has the same
 * table for people. */
#include "gateway/confkeys.h"

#include <stdlib.h>
#include <string.h>

#define SAME PT_LWS_SAME
#define DIFF PT_LWS_DIFFERENT
#define NOPE PT_LWS_UNSUPPORTED
#define REFUSE PT_LWS_REFUSED

/* Only the keys whose handling needs saying at load; the implemented ones
 * are found in portico's own key tables first. */
static const struct pt_lws_key lws_keys[] = {
    /* global */
    { "global", "default-alpn", NOPE,
      "ALPN is always h2, then http/1.1" },
    { "global", "interface", NOPE,
      "set \"interface\" on each vhost" },
    /* vhost */
    { "vhost", "ws-extensions", NOPE,
      "permessage-deflate is always agreed when a WebSocket client offers it" },
    { "vhost", "enable-client-ssl", DIFF,
      "TLS to backends is set per proxy mount (https:// origins, proxy-ca, "
      "proxy-client-cert); nothing to enable" },
    { "vhost", "client-ssl-key", DIFF, "use \"proxy-client-key\" on the https:// mount" },
    { "vhost", "client-ssl-cert", DIFF, "use \"proxy-client-cert\" on the https:// mount" },
    { "vhost", "client-ssl-ca", DIFF, "use \"proxy-ca\" on the https:// mount" },
    { "vhost", "client-ssl-ciphers", NOPE, "backend TLS uses OpenSSL's defaults" },
    { "vhost", "client-tls13-ciphers", NOPE, "backend TLS uses OpenSSL's defaults" },
    { "vhost", "ssl-client-option-set", NOPE, "backend TLS uses OpenSSL's defaults" },
    { "vhost", "ssl-client-option-clear", NOPE, "backend TLS uses OpenSSL's defaults" },
    { "vhost", "noipv6", NOPE, "give \"interface\" an IPv4 address instead" },
    { "vhost", "ipv6only", NOPE, "give \"interface\" an IPv6 address instead" },
    { "vhost", "alpn", NOPE, "ALPN is always h2, then http/1.1" },
    { "vhost", "fo-listen-queue", NOPE, "TCP Fast Open is not used" },
    { "vhost", "disable-no-protocol-ws-upgrades", NOPE,
      "a WebSocket asking no protocol goes to the ws-protocols entry with "
      "\"default\": \"1\", or to its mount when there is none" },
    { "vhost", "h2-half-closed-long-poll", NOPE,
      "HTTP/2 streams half-closed by the client are served as any other" },
    { "vhost", "allow-http-on-https", DIFF,
      "use \"allow-non-tls\": plain HTTP on the TLS port is served" },
    { "vhost", "onlyraw", REFUSE, "a raw-socket (non-HTTP) vhost" },
    { "vhost", "apply-listen-accept", REFUSE, "a raw-socket (non-HTTP) vhost" },
    { "vhost", "listen-accept-role", REFUSE, "a non-HTTP role for the listening socket" },
    { "vhost", "listen-accept-protocol", REFUSE,
      "a non-HTTP protocol for the listening socket" },
    { "vhost", "fallback-listen-accept", REFUSE,
      "non-HTTP connections handed to another role" },
    /* mount */
    { "mount", "protocol", NOPE,
      "a callback:// origin names the plugin; elsewhere Sec-WebSocket-Protocol picks "
      "among the vhost's ws-protocols" },
    { "mount", "auth-mask", NOPE,
      "use \"basic-auth\" (a user list per mount) to limit who may enter" },
    { NULL, NULL, SAME, NULL },
};

const struct pt_lws_key *pt_lws_key_find(const char *scope, const char *name)
{
    for (const struct pt_lws_key *k = lws_keys; k->name; k++)
        if (strcmp(k->scope, scope) == 0 && strcmp(k->name, name) == 0)
            return k;
    return NULL;
}

size_t pt_lws_key_names(const char *scope, const char **out, size_t max)
{
    size_t n = 0;
    for (const struct pt_lws_key *k = lws_keys; k->name && n < max; k++)
        if (strcmp(k->scope, scope) == 0)
            out[n++] = k->name;
    return n;
}

/* Damerau-Levenshtein (adjacent swaps count one), capped: names are short. */
static size_t distance(const char *a, const char *b)
{
    enum { MAX = 48 };
    size_t la = strlen(a), lb = strlen(b);
    if (la >= MAX || lb >= MAX)
        return MAX;
    size_t d[MAX + 1][MAX + 1];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[la][lb];
}

/* Separators and case do not count: basic_auth, BasicAuth, basicauth. */
static void fold(const char *s, char *out, size_t size)
{
    size_t n = 0;
    for (; *s && n + 1 < size; s++)
        if (*s != '-' && *s != '_' && *s != ' ' && *s != '.')
            out[n++] = (char)(*s >= 'A' && *s <= 'Z' ? *s + 32 : *s);
    out[n] = '\0';
}

const char *pt_key_suggest(const char *name, const char *const *known, size_t n)
{
    char a[64], b[64];
    fold(name, a, sizeof a);
    size_t len = strlen(a), best_d = (size_t)-1;
    const char *best = NULL;
    /* Up to one edit in four, at least one: "keepalive" is not "sts". */
    size_t limit = len / 4 ? len / 4 : 1;
    size_t best_raw = (size_t)-1;
    for (size_t i = 0; i < n; i++) {
        fold(known[i], b, sizeof b);
        size_t d = distance(a, b), raw = distance(name, known[i]);
        /* Ties go to the spelling nearest as written ("keepalive-timout"
         * is "keepalive-timeout", not "keepalive_timeout"). */
        if (d < best_d || (d == best_d && raw < best_raw)) {
            best_d = d;
            best_raw = raw;
            best = known[i];
        }
    }
    return best && best_d <= limit ? best : NULL;
}

bool pt_key_is_security(const char *name)
{
    static const char *const exact[] = {
        "basic-auth", "client-cert-required", "auth-mask", "allow-dotfiles", "headers",
        "ip-allow", "ip-deny", "trusted-proxies", NULL,
    };
    for (const char *const *k = exact; *k; k++)
        if (strcmp(*k, name) == 0)
            return true;
    return strncmp(name, "ip-limit-", 9) == 0;
}
