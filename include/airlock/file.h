/* Files created where a name may already be taken: a link or a file that
 * someone else placed at a name airlock writes is never followed, opened or
 * reused. New files get names no one can predict, created with O_EXCL and
 * O_NOFOLLOW, and reach their final name by rename(2), which replaces a link
 * there rather than writing through it. */
#ifndef AIRLOCK_FILE_H
#define AIRLOCK_FILE_H

#include <stddef.h>
#include <sys/types.h>

#include "airlock/err.h"

/* Like mkstemp(3) in directory `dirfd` (AT_FDCWD for a path): replaces the
 * trailing "XXXXXX" of `name` (modified in place) with random letters and
 * digits and creates that file with O_CREAT | O_EXCL | O_NOFOLLOW |
 * O_CLOEXEC and `mode` less the umask, trying other names while one exists.
 * Returns the descriptor (write-only), or -1 with errno set. */
int al_file_mkstemp(int dirfd, char *name, mode_t mode);

/* Writes a whole small file: a new temporary PATH.partial.XXXXXX (see
 * al_file_mkstemp), flushed to disk, then renamed to PATH. Readers see the
 * old file or the new one; a link at PATH is replaced, not followed. */
int al_file_write_atomic_mode(const char *path, const void *data, size_t len,
                              mode_t mode, struct al_err *e);

/* Refuses a directory (open descriptor `fd`) that airlock would create
 * files in unless it belongs to this user and is not writable by group or
 * others: anyone else who can add names there could plant links (a sticky
 * bit does not stop that). `what` and `dir` name it in the message ("cache",
 * "/var/cache/airlock"). Returns 0 or AL_EINVAL. */
int al_file_check_private_dir(int fd, const char *what, const char *dir,
                              struct al_err *e);

#endif
