/* The socket end of a server TLS connection: an OpenSSL BIO that reads
 * and writes the connection's socket itself, so that records can be
 * batched.
 *
 *   reads   one read(2) for what OpenSSL asks (read-ahead: a whole
 *           buffer), noting a short read, which tells the protocol the
 *           socket is drained (no read that would only say EAGAIN);
 *   writes  outside a batch, straight to the socket as a socket BIO does
 *           (after any ciphertext still waiting), so SSL_write returns
 *           success only once its bytes are in the kernel.  Inside a
 *           batch (pt_conn_out_flush/push: a protocol pushing out a
 *           buffer of response bytes), records collect in the
 *           connection's wire buffer (PT_WIRE_SIZE, recycled per worker)
 *           and go out in one write when it fills or the flush ends:
 *           one syscall for four 16 KiB records instead of four.
 *
 * The buffer is held only while ciphertext waits; a connection whose
 * peer does not read keeps at most PT_WIRE_SIZE of it, and SSL_write then
 * reports WANT_WRITE (backpressure as before). */
#ifndef PT_WIRE_H
#define PT_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pt_conn;
typedef struct bio_st BIO;

/* Four full TLS records with their header and AEAD overhead. */
#define PT_WIRE_SIZE (4 * (16384 + 256))

/* A TLS connection's BIO holds it, with its fill, only while ciphertext
 * waits: a plaintext connection pays nothing for it. */
struct pt_wirebuf {
    uint32_t len, off;
    char data[PT_WIRE_SIZE];
};

/* Ciphertext bytes waiting (0 without a buffer). */
size_t pt_wire_pending(const struct pt_conn *c);

/* A BIO over c's socket (NULL when out of memory). */
BIO *pt_wire_bio(struct pt_conn *c);

/* Writes the waiting ciphertext: 1 none left (or c has no wire), 0 the
 * socket is full, -1 a write failed (errno set). */
int pt_wire_flush(struct pt_conn *c);

/* Records collect in the wire buffer while on (pt_conn_out_flush/push). */
void pt_wire_batch(struct pt_conn *c, bool on);

/* Gives the buffer back to the worker once it is empty. */
void pt_wire_release(struct pt_conn *c);

#endif
