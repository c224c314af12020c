/* Advisory locks that say who holds them, so that two scheduled runs that
 * would write the same output (or cache) do not collide. flock(2) based: a
 * lock dies with its process, so a crashed run never leaves one behind. */
#ifndef AIRLOCK_LOCK_H
#define AIRLOCK_LOCK_H

#include "airlock/err.h"

struct al_lock;

/* Locks `what` (an output path or a directory; made absolute). A lock held
 * by another process is AL_EBUSY with a message naming its pid. The lock
 * file lives in $XDG_RUNTIME_DIR or /tmp, never next to the output, so it
 * cannot travel with a bundle. */
int al_lock_acquire(struct al_lock **out, const char *what, const char *purpose,
                    struct al_err *e);
void al_lock_release(struct al_lock *l);   /* accepts NULL */

#endif
