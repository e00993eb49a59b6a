/* The upstream proxy: http:// and https:// mounts. */
#ifndef PT_PROXY_H
#define PT_PROXY_H

#include "gateway/handler.h"

extern const struct pt_handler pt_handler_proxy;

#endif
