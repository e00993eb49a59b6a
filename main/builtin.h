/* What is built into portico: its protocols and mount handlers, the one
 * place that names them all (the rest of the code finds them through the
 * registries in gateway/proto.h and gateway/handler.h). */
#ifndef PT_BUILTIN_H
#define PT_BUILTIN_H

/* Registers everything built in; call once at start. */
void pt_builtin_register(void);

#endif
