/* HTTP/2 with nghttp2: the server session (server.c).  main registers
 * pt_h2_protocol with the core (ALPN "h2", and the h2c preface). */
#ifndef PT_H2_H
#define PT_H2_H

#include "gateway/proto.h"

extern const struct pt_protocol pt_h2_protocol;

#endif
