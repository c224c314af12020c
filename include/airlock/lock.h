/* Advisory locks that say who holds them, so that two scheduled runs that
 * would write the same output (or cache) do not collide. flock(2) based: a
 * lock dies with its process, so a crashed run never leaves one behind. */
#ifndef AIRLOCK_LOCK_H
#define AIRLOCK_LOCK_H

#include "airlock/err.h"

struct al_lock;

/* Locks `what` (an output path or a directory). A lock held by another
 * process is AL_EBUSY with a message naming its pid. The lock file is
 * .BASE.lock beside the output (DIR/.lock for a directory): where only
 * those who may write the output can create it, so that no other user can
 * take it first (a shared /tmp would let them). It is opened without
 * following a link, refused when it is not this user's regular file, and
 * removed by al_lock_release() (a crashed run leaves it, unlocked). */
int al_lock_acquire(struct al_lock **out, const char *what, const char *purpose,
                    struct al_err *e);
void al_lock_release(struct al_lock *l);   /* accepts NULL */

#endif
