/* callback:// mounts: handlers chosen by name (built in, or from plugins). */
#ifndef PT_PLUGINS_H
#define PT_PLUGINS_H

#include "gateway/handler.h"

extern const struct pt_handler pt_handler_callback;

#endif
