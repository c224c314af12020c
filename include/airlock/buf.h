/* A growable byte buffer with a hard maximum, for untrusted bodies
 * (registry and API responses, bundle metadata). Always NUL-terminated
 * so that text can be handed to parsers directly. */
#ifndef AIRLOCK_BUF_H
#define AIRLOCK_BUF_H

#include <stddef.h>

#include "airlock/err.h"

struct al_buf {
    char *data;    /* NULL until the first append; owned by the buffer */
    size_t len;
    size_t cap;
    size_t max;    /* appends that would pass this fail with AL_ETOOBIG */
};

/* Initialises an empty buffer that may hold up to `max` bytes. */
void al_buf_init(struct al_buf *b, size_t max);

/* Frees the storage and resets to empty (the maximum is kept). */
void al_buf_release(struct al_buf *b);

/* Appends `n` bytes; fails with AL_ETOOBIG or AL_ENOMEM, leaving `b` as it
 * was. `what` names the content in the error ("manifest from 'x'"). */
int al_buf_append(struct al_buf *b, const void *p, size_t n, const char *what,
                  struct al_err *e);

/* Appends a NUL-terminated string. */
int al_buf_puts(struct al_buf *b, const char *s, struct al_err *e);

/* Hands the storage to the caller (free() it) and resets `b`. */
char *al_buf_detach(struct al_buf *b, size_t *len);

/* Reads a whole file (or standard input when path is "-") into `b`, naming
 * the file in any error. */
int al_buf_read_file(struct al_buf *b, const char *path, struct al_err *e);

/* Decodes standard base64 (trailing newlines ignored) into a new
 * NUL-terminated buffer of *out_len bytes; NULL when invalid or out of
 * memory. Wipe it with OPENSSL_cleanse when it held a secret. */
char *al_base64_decode(const char *b64, size_t n, size_t *out_len);

/* True when string `s` ends with `suffix`. */
int al_str_ends_with(const char *s, const char *suffix);

/* Writes a whole small file as a new temporary PATH.partial.XXXXXX (never
 * a link or a file someone placed there), flushed to disk, then renamed to
 * PATH: readers see the old file or the new one, never a half. Mode 0666
 * less the umask; see airlock/file.h. */
int al_file_write_atomic(const char *path, const void *data, size_t len,
                         struct al_err *e);

#endif
