/* Password hashes as htpasswd and mkpasswd write them: which scheme a
 * stored password uses, and whether a password matches it. */
#ifndef PT_PWHASH_H
#define PT_PWHASH_H

#include <stdbool.h>
#include <stddef.h>

enum pt_pwscheme {
    PT_PW_PLAIN,   /* the password itself (lwsws) */
    PT_PW_CRYPT,   /* crypt(3): bcrypt $2y$ $2b$ $2a$, $6$, $5$, yescrypt $y$ */
    PT_PW_APR1,    /* Apache's MD5 ($apr1$) */
    PT_PW_SHA1,    /* {SHA}: base64 of the SHA-1 */
    PT_PW_UNKNOWN, /* looks like a hash of a scheme portico does not know
                    * ("$id$...", "{ID}..."): taken as plaintext */
    PT_PW_BAD,     /* a known scheme's prefix with a garbled rest */
};

/* The scheme of a stored password (the part after "user:"). */
enum pt_pwscheme pt_pwhash_scheme(const char *stored);

/* Whether pw (pwlen bytes, any byte) matches stored, whose scheme is s
 * (PT_PW_UNKNOWN counts as plaintext).  The work done does not depend on
 * where pw differs, and the final comparison is constant-time. */
bool pt_pwhash_verify(enum pt_pwscheme s, const char *stored, const char *pw,
                      size_t pwlen);

/* "$apr1$" as Apache computes it, into out (at least 38 bytes): exposed
 * for the tests.  salt is the stored string past "$apr1$" (up to 8
 * characters, to its '$').  Returns false if OpenSSL fails. */
bool pt_pwhash_apr1(const char *pw, size_t pwlen, const char *salt, char *out,
                    size_t size);

#endif
