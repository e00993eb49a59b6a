/* The HTTP/1.x server session (server.c) and, for the proxy, the parser
 * (parser.h).  main registers pt_http1_protocol with the core. */
#ifndef PT_HTTP1_H
#define PT_HTTP1_H

#include "gateway/proto.h"

extern const struct pt_protocol pt_http1_protocol;

#endif
