/* Password hashes (see pwhash.h): crypt(3) from libxcrypt for bcrypt,
 * sha-crypt and yescrypt; OpenSSL for Apache's apr1 and {SHA}. */
#include "gateway/pwhash.h"

#include <crypt.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

/* ---- telling the schemes apart ---- */

/* The alphabet of crypt(3) hashes. */
static bool is_c64(char c)
{
    return c == '.' || c == '/' || (c >= '0' && c <= '9') ||
           (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static size_t c64_span(const char *s)
{
    size_t n = 0;
    while (is_c64(s[n]))
        n++;
    return n;
}

/* s is exactly n crypt(3) characters. */
static bool c64_exact(const char *s, size_t n)
{
    return c64_span(s) == n && s[n] == '\0';
}

/* A salt: up to max characters that are not '$', then '$'.  Returns what
 * follows, or NULL. */
static const char *salt_end(const char *s, size_t max)
{
    const char *d = strchr(s, '$');
    if (!d || (size_t)(d - s) > max)
        return NULL;
    for (const char *p = s; p < d; p++)
        if ((unsigned char)*p < 0x21 || *p == 0x7f)
            return NULL;
    return d + 1;
}

/* "$2y$NN$" and 53 characters: 22 of salt, 31 of hash. */
static bool bcrypt_ok(const char *s)
{
    const char *p = s + 4;
    if (p[0] < '0' || p[0] > '3' || p[1] < '0' || p[1] > '9' || p[2] != '$')
        return false;
    int cost = (p[0] - '0') * 10 + (p[1] - '0');
    return cost >= 4 && cost <= 31 && c64_exact(p + 3, 53);
}

/* "$5$" or "$6$", maybe "rounds=N$", a salt of up to 16, the hash. */
static bool shacrypt_ok(const char *s, size_t hash_len)
{
    const char *p = s + 3;
    if (strncmp(p, "rounds=", 7) == 0) {
        size_t digits = strspn(p + 7, "0123456789");
        if (digits == 0 || digits > 9 || p[7 + digits] != '$')
            return false;
        p += 7 + digits + 1;
    }
    p = salt_end(p, 16);
    return p && c64_exact(p, hash_len);
}

/* "$y$" parameters "$" salt "$" hash (43). */
static bool yescrypt_ok(const char *s)
{
    const char *p = s + 3;
    size_t n = c64_span(p);
    if (n == 0 || p[n] != '$')
        return false;
    p += n + 1;
    n = c64_span(p);
    if (n == 0 || p[n] != '$')
        return false;
    return c64_exact(p + n + 1, 43);
}

static bool apr1_ok(const char *s)
{
    const char *p = salt_end(s + 6, 8);
    return p && c64_exact(p, 22);
}

/* Base64 of 20 bytes: 27 symbols and one '='. */
static bool sha1_ok(const char *s)
{
    const char *p = s + 5;
    size_t n = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                         "0123456789+/");
    return n == 27 && strcmp(p + 27, "=") == 0;
}

/* "$id$" or "{ID}" at the start: some hash scheme's look. */
static bool looks_hashed(const char *s)
{
    static const char id[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                             "0123456789-_";
    if (s[0] != '$' && s[0] != '{')
        return false;
    size_t n = strspn(s + 1, id);
    return n > 0 && ((s[0] == '$' && s[1 + n] == '$') ||
                     (s[0] == '{' && s[1 + n] == '}'));
}

enum pt_pwscheme pt_pwhash_scheme(const char *s)
{
    if (strncmp(s, "$2a$", 4) == 0 || strncmp(s, "$2b$", 4) == 0 ||
        strncmp(s, "$2y$", 4) == 0)
        return bcrypt_ok(s) ? PT_PW_CRYPT : PT_PW_BAD;
    if (strncmp(s, "$5$", 3) == 0 || strncmp(s, "$6$", 3) == 0) {
        if (!shacrypt_ok(s, s[1] == '5' ? 43 : 86))
            return PT_PW_BAD;
        return crypt_checksalt(s) == CRYPT_SALT_INVALID ? PT_PW_BAD : PT_PW_CRYPT;
    }
    if (strncmp(s, "$y$", 3) == 0) {
        /* libxcrypt reads the parameters: let it judge them. */
        if (!yescrypt_ok(s) || crypt_checksalt(s) == CRYPT_SALT_INVALID)
            return PT_PW_BAD;
        return PT_PW_CRYPT;
    }
    if (strncmp(s, "$apr1$", 6) == 0)
        return apr1_ok(s) ? PT_PW_APR1 : PT_PW_BAD;
    if (strncmp(s, "{SHA}", 5) == 0)
        return sha1_ok(s) ? PT_PW_SHA1 : PT_PW_BAD;
    return looks_hashed(s) ? PT_PW_UNKNOWN : PT_PW_PLAIN;
}

/* ---- checking ---- */

static bool equal_str(const char *a, const char *b)
{
    size_t n = strlen(b);
    return strlen(a) == n && CRYPTO_memcmp(a, b, n) == 0;
}

/* Plaintext: both sides hashed first, so neither the length nor the
 * place of a difference shows in the time taken. */
static bool verify_plain(const char *stored, const char *pw, size_t pwlen)
{
    unsigned char a[32], b[32];
    if (!EVP_Digest(stored, strlen(stored), a, NULL, EVP_sha256(), NULL) ||
        !EVP_Digest(pw, pwlen, b, NULL, EVP_sha256(), NULL))
        return false;
    return CRYPTO_memcmp(a, b, sizeof a) == 0;
}

static bool verify_crypt(const char *stored, const char *pw, size_t pwlen)
{
    /* struct crypt_data is 32 KiB: the heap, not a worker's stack. */
    struct crypt_data *cd = calloc(1, sizeof *cd);
    char *phrase = malloc(pwlen + 1);
    bool ok = false;
    if (cd && phrase) {
        memcpy(phrase, pw, pwlen);
        phrase[pwlen] = '\0';
        const char *out = crypt_r(phrase, stored, cd);
        /* A NUL inside would cut the password short in crypt(3). */
        ok = out && out[0] != '*' && equal_str(out, stored) &&
             memchr(pw, '\0', pwlen) == NULL;
        OPENSSL_cleanse(phrase, pwlen);
        OPENSSL_cleanse(cd, sizeof *cd);
    }
    free(phrase);
    free(cd);
    return ok;
}

static void to64(char **o, unsigned long v, int n)
{
    static const char a[] = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    while (n-- > 0) {
        *(*o)++ = a[v & 0x3f];
        v >>= 6;
    }
}

/* Poul-Henning Kamp's MD5 crypt with Apache's "$apr1$" magic: 1000
 * rounds of MD5 mixing the password, the salt and the previous digest. */
static bool apr1_digest(const char *pw, size_t pwlen, const char *salt,
                        size_t slen, unsigned char fin[16])
{
    static const char magic[] = "$apr1$";
    const EVP_MD *md5 = EVP_md5();
    EVP_MD_CTX *ctx = EVP_MD_CTX_new(), *alt = EVP_MD_CTX_new();
    bool ok = ctx && alt && md5 &&
              EVP_DigestInit_ex(alt, md5, NULL) &&
              EVP_DigestUpdate(alt, pw, pwlen) &&
              EVP_DigestUpdate(alt, salt, slen) &&
              EVP_DigestUpdate(alt, pw, pwlen) &&
              EVP_DigestFinal_ex(alt, fin, NULL) &&
              EVP_DigestInit_ex(ctx, md5, NULL) &&
              EVP_DigestUpdate(ctx, pw, pwlen) &&
              EVP_DigestUpdate(ctx, magic, 6) &&
              EVP_DigestUpdate(ctx, salt, slen);
    for (size_t left = pwlen; ok && left > 0; left -= left > 16 ? 16 : left)
        ok = EVP_DigestUpdate(ctx, fin, left > 16 ? 16 : left);
    for (size_t i = pwlen; ok && i; i >>= 1)
        ok = EVP_DigestUpdate(ctx, (i & 1) ? "" : pw, 1);
    ok = ok && EVP_DigestFinal_ex(ctx, fin, NULL);
    for (int i = 0; ok && i < 1000; i++) {
        ok = EVP_DigestInit_ex(ctx, md5, NULL) &&
             ((i & 1) ? EVP_DigestUpdate(ctx, pw, pwlen)
                      : EVP_DigestUpdate(ctx, fin, 16)) &&
             (i % 3 == 0 || EVP_DigestUpdate(ctx, salt, slen)) &&
             (i % 7 == 0 || EVP_DigestUpdate(ctx, pw, pwlen)) &&
             ((i & 1) ? EVP_DigestUpdate(ctx, fin, 16)
                      : EVP_DigestUpdate(ctx, pw, pwlen)) &&
             EVP_DigestFinal_ex(ctx, fin, NULL);
    }
    EVP_MD_CTX_free(ctx);
    EVP_MD_CTX_free(alt);
    return ok;
}

bool pt_pwhash_apr1(const char *pw, size_t pwlen, const char *salt, char *out,
                    size_t size)
{
    size_t slen = 0;
    while (slen < 8 && salt[slen] && salt[slen] != '$')
        slen++;
    unsigned char f[16];
    if (size < 6 + 8 + 1 + 22 + 1 || !apr1_digest(pw, pwlen, salt, slen, f))
        return false;
    char *o = out;
    memcpy(o, "$apr1$", 6);
    o += 6;
    memcpy(o, salt, slen);
    o += slen;
    *o++ = '$';
    to64(&o, (unsigned long)f[0] << 16 | (unsigned long)f[6] << 8 | f[12], 4);
    to64(&o, (unsigned long)f[1] << 16 | (unsigned long)f[7] << 8 | f[13], 4);
    to64(&o, (unsigned long)f[2] << 16 | (unsigned long)f[8] << 8 | f[14], 4);
    to64(&o, (unsigned long)f[3] << 16 | (unsigned long)f[9] << 8 | f[15], 4);
    to64(&o, (unsigned long)f[4] << 16 | (unsigned long)f[10] << 8 | f[5], 4);
    to64(&o, f[11], 2);
    *o = '\0';
    return true;
}

static bool verify_apr1(const char *stored, const char *pw, size_t pwlen)
{
    char out[48];
    return pt_pwhash_apr1(pw, pwlen, stored + 6, out, sizeof out) &&
           equal_str(out, stored);
}

static bool verify_sha1(const char *stored, const char *pw, size_t pwlen)
{
    unsigned char md[20], b64[32];
    if (!EVP_Digest(pw, pwlen, md, NULL, EVP_sha1(), NULL))
        return false;
    EVP_EncodeBlock(b64, md, sizeof md); /* 28 characters and a NUL */
    return CRYPTO_memcmp(b64, stored + 5, 28) == 0;
}

bool pt_pwhash_verify(enum pt_pwscheme s, const char *stored, const char *pw,
                      size_t pwlen)
{
    switch (s) {
    case PT_PW_PLAIN:
    case PT_PW_UNKNOWN:
        return verify_plain(stored, pw, pwlen);
    case PT_PW_CRYPT:
        return verify_crypt(stored, pw, pwlen);
    case PT_PW_APR1:
        return verify_apr1(stored, pw, pwlen);
    case PT_PW_SHA1:
        return verify_sha1(stored, pw, pwlen);
    case PT_PW_BAD:
        break;
    }
    return false;
}
