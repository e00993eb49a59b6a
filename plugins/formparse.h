/* HTML form bodies (application/x-www-form-urlencoded and
 * multipart/form-data, RFC 7578 / RFC 2046), parsed as they arrive, in
 * pieces of any size, with memory bounded by the parser itself (one
 * allocation of about 9 KiB): values stream through field_data and are
 * never held whole.
 *
 * What the parser decides where the formats leave room:
 *  - urlencoded follows the WHATWG parser's shape: empty pairs ("&&") are
 *    skipped, "c" is the field c with an empty value, "=v" is a field with
 *    the empty name "" (delivered, not skipped); only the first '=' splits.
 *    But a bad % escape (non-hex, or cut off by '&' or the end) is an
 *    error, not passed through.  Parameters such as charset are ignored:
 *    names and values are bytes.
 *  - Field names, in both encodings, are at most PT_FORM_NAME_MAX bytes
 *    (decoded) and may not contain NUL ("%00"): they are C strings.
 *  - multipart: the boundary parameter is required, 1..70 bchars (RFC 2046
 *    5.1.1, not ending in a space), at most once.  A part needs a
 *    "Content-Disposition: form-data" header with a name parameter
 *    (name="" is allowed); a filename parameter, even filename="" (an
 *    empty file input), makes filename non-NULL.  Duplicate name/filename
 *    parameters or duplicate Content-Disposition/Content-Type headers are
 *    errors (two parsers could pick different ones).  filename* and other
 *    headers are ignored.  In quoted strings a backslash escapes only '"'
 *    and '\': browsers do not escape (they send '"' as %22 and '\' as
 *    is), so filename="C:\x.txt" keeps its backslash.
 *  - The header block of a part (lines and the blank line, CRLFs counted)
 *    is at most PT_FORM_HEADER_MAX bytes; lines must end in CRLF; folded
 *    lines and NUL bytes are errors.
 *  - "\r\n--boundary" is always a delimiter: what follows must be "--"
 *    (the end) or optional spaces/tabs and CRLF, else the body is
 *    malformed (RFC 2046: the delimiter must not occur in a part).  The
 *    first delimiter may start the body or follow a preamble.  A body with
 *    no parts ("--boundary--") is valid.  After the end everything is
 *    epilogue and ignored.
 *  - Callbacks may be NULL (skipped).  Any nonzero return stops parsing.
 *    After an error no callback is made; field_end is not called for a
 *    field left open by an error.
 *  - Feeding after pt_form_finish() is an error. */
#ifndef PT_FORMPARSE_H
#define PT_FORMPARSE_H

#include <stddef.h>

#define PT_FORM_NAME_MAX 256      /* bytes in a field name */
#define PT_FORM_HEADER_MAX 4096   /* bytes in a part's header block */

struct pt_form;

struct pt_form_cb {
    /* A field begins.  name is NUL-terminated; filename is NULL for a
     * plain field (urlencoded, or a multipart part without filename=);
     * ctype is the part's Content-Type or NULL.  Return 0, or -1 to stop
     * parsing.  The strings last until the callback returns. */
    int (*field_start)(void *arg, const char *name, const char *filename,
                       const char *ctype);
    /* The field's value, decoded, in pieces (possibly many small ones;
     * never empty). */
    int (*field_data)(void *arg, const char *data, size_t len);
    /* The field ended. */
    int (*field_end)(void *arg);
};

/* A parser for a body of this Content-Type value (ctype, ctype_len: the
 * raw header value, e.g. "multipart/form-data; boundary=----x" or
 * "application/x-www-form-urlencoded; charset=UTF-8").  NULL with *err set
 * to a static message when the type is not one of the two, or the boundary
 * is missing/invalid (RFC 2046: 1..70 chars, may be quoted). */
struct pt_form *pt_form_new(const char *ctype, size_t ctype_len,
                            const struct pt_form_cb *cb, void *arg,
                            const char **err);
/* Feeds the next bytes.  0, or -1 on a malformed body / a limit / a
 * callback's -1 (pt_form_error() says which; later calls keep returning
 * -1). */
int pt_form_feed(struct pt_form *f, const char *data, size_t len);
/* The body ended: -1 if it stopped mid-way (no closing boundary, a field
 * open), else 0 (urlencoded: the last field is ended here). */
int pt_form_finish(struct pt_form *f);
/* Why the last call failed (a static string), or NULL. */
const char *pt_form_error(const struct pt_form *f);
void pt_form_free(struct pt_form *f);

#endif
