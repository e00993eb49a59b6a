/* systemd's readiness protocol (sd_notify), spoken directly: one datagram
 * to $NOTIFY_SOCKET; nothing happens when it is not set. */
#ifndef PT_NOTIFY_H
#define PT_NOTIFY_H

/* Sends state ("READY=1", "STOPPING=1", "STATUS=..."); returns 0, or -1
 * when there is no notify socket or it cannot be reached. */
int pt_notify(const char *state);

#endif
