/* A bounded byte pipe between two threads: one producer, one consumer.
 *
 * The producer blocks while the pipe is full and the consumer while it is
 * empty, so memory is the capacity given at creation whatever passes
 * through. The producer ends the data with al_pipe_close(), giving an
 * error when it failed; either side may give up with al_pipe_cancel(),
 * after which reads and writes fail at once. al_pipe_reset() makes a drained pipe
 * ready for the next run of bytes. */
#ifndef AIRLOCK_PIPE_H
#define AIRLOCK_PIPE_H

#include <stddef.h>

#include "airlock/err.h"

struct al_pipe;

int al_pipe_new(struct al_pipe **out, size_t capacity, struct al_err *e);
void al_pipe_free(struct al_pipe *p);   /* accepts NULL */

/* Copies all `n` bytes in, waiting for room. AL_EINTR once cancelled. */
int al_pipe_write(struct al_pipe *p, const void *data, size_t n, struct al_err *e);

/* No more bytes. `why` NULL (or code 0) is a clean end; otherwise the
 * reader gets a copy of `why` once it has read what came before. */
void al_pipe_close(struct al_pipe *p, const struct al_err *why);

/* Waits for bytes; *got = 0 at a clean end. The producer's error, if it
 * closed with one, is returned once the bytes before it are read. */
int al_pipe_read(struct al_pipe *p, void *buf, size_t n, size_t *got,
                 struct al_err *e);

/* Either side gives up: pending and later reads and writes return
 * AL_EINTR at once (a thread blocked on the pipe is released). */
void al_pipe_cancel(struct al_pipe *p);

/* The same without a copy (write and read are made of them): reserve
 * waits for room and gives the free bytes up to the end of the ring
 * (*n > 0), which the producer fills and then commits (n at most what was
 * given); peek waits like read and gives the bytes up to the end of the
 * ring (*n = 0 at a clean end; the producer's error as read gives it),
 * which stay put until the consumer consumes them (n at most *n). */
int al_pipe_reserve(struct al_pipe *p, void **space, size_t *n, struct al_err *e);
void al_pipe_commit(struct al_pipe *p, size_t n);
int al_pipe_peek(struct al_pipe *p, const void **data, size_t *n, struct al_err *e);
void al_pipe_consume(struct al_pipe *p, size_t n);

/* Empties the pipe and clears its end, error and cancellation. */
void al_pipe_reset(struct al_pipe *p);

#endif
