/* The protocol registry: which protocol drives a server connection.
 *
 * Protocol folders (http1/, h2/) describe themselves with a struct
 * pt_protocol and main registers them at start, before any worker runs;
 * the registry is read-only afterwards.  The core picks a protocol by ALPN
 * id after a TLS handshake, by a connection preface on plaintext (h2c with
 * prior knowledge), or takes the default ("http/1.1") — without knowing
 * any protocol itself. */
#ifndef PT_PROTO_H
#define PT_PROTO_H

#include <stdbool.h>
#include <stddef.h>

struct pt_conn;

struct pt_protocol {
    const char *name;          /* ALPN id: "http/1.1", "h2" */
    /* Bytes of session state the protocol keeps inside the connection's
     * own allocation (0: it allocates its own).  The largest registered
     * size is reserved in every accepted connection, so that the common
     * session costs no second allocation. */
    size_t inline_size;
    /* A plaintext connection whose first bytes are this preface speaks
     * this protocol (NULL: none). */
    const char *preface;
    size_t preface_len;
    /* Takes over server connection c.  data[0..len): bytes already read
     * (a preface), which the protocol must consume before reading more;
     * they are the caller's and valid only during the call. */
    void (*start)(struct pt_conn *c, const char *data, size_t len);
};

/* The first registered is the default for connections without ALPN.
 * ALPN preference follows registration order from the last one back, so
 * registering "http/1.1" then "h2" offers h2 first.  At most 8. */
void pt_protocol_register(const struct pt_protocol *p);

const struct pt_protocol *pt_protocol_default(void);
const struct pt_protocol *pt_protocol_find(const char *name, size_t len);

/* A protocol whose preface data[0..len) begins (*partial: len is shorter
 * than the preface, more bytes decide) or NULL. */
const struct pt_protocol *pt_protocol_by_preface(const char *data, size_t len,
                                                 bool *partial);

/* The ALPN list in wire format (length-prefixed ids, preferred first). */
const unsigned char *pt_protocol_alpn(size_t *len);

/* Bytes to reserve in a connection for inline session state. */
size_t pt_protocol_inline_size(void);

#endif
