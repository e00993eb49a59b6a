/* HTTP/2 server side (nghttp2).  The entry point, pt_h2_start(), is
 * declared in gateway/conn.h with the other protocols. */
#ifndef PT_H2_H
#define PT_H2_H

struct pt_h2;
struct pt_h2_stream;

#endif
