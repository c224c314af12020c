/* Downloads ahead: a pool of threads, each with its own connection and
 * registry client, fetches the blobs of a list in order into bounded pipes
 * while the caller consumes them in the same order. At most `jobs` blobs
 * are in flight: the one being consumed and those fetched ahead, each
 * holding at most the pipe's capacity, so memory is fixed. */
#ifndef EX_FETCH_H
#define EX_FETCH_H

#include <stddef.h>

#include "airlock/err.h"
#include "airlock/http.h"
#include "airlock/pipe.h"
#include "airlock/registry.h"

struct ex_fetcher;

/* Runs in a worker: copies item `item` into `out` (which the pool closes
 * afterwards with the returned error). */
typedef int (*ex_fetch_fn)(void *ud, size_t item, struct al_registry *reg,
                           struct al_pipe *out, struct al_err *e);

struct ex_fetch_cfg {
    size_t jobs;                      /* worker threads (>= 1) */
    size_t pipe_capacity;             /* bytes fetched ahead per worker */
    const struct al_http_opts *http;  /* each worker opens its own client */
    const struct al_registry *reg;    /* cloned for each worker */
    size_t n_items;                   /* items 0 .. n_items-1, in order */
    ex_fetch_fn fetch;
    void *ud;
};

int ex_fetch_start(struct ex_fetcher **out, const struct ex_fetch_cfg *cfg,
                   struct al_err *e);

/* Waits until `item` (the next one in order) is being fetched and returns
 * the pipe to read it from; read it to its end, then ex_fetch_done(). */
struct al_pipe *ex_fetch_take(struct ex_fetcher *f, size_t item);
void ex_fetch_done(struct ex_fetcher *f, size_t item);

/* Cancels whatever is in flight, joins the workers and frees `f`. */
void ex_fetch_stop(struct ex_fetcher *f);   /* accepts NULL */

/* Runs fn(ud, item, reg) for items 0 .. n_items-1 on `jobs` threads, each
 * with its own client and a clone of `reg`; items are taken in order and no
 * new one once any call returned nonzero. Returns once all calls ended,
 * with what the clones learnt (tokens) taken back into `reg`; fails only
 * when the threads cannot be set up. */
typedef int (*ex_each_fn)(void *ud, size_t item, struct al_registry *reg);
int ex_each(size_t jobs, const struct al_http_opts *http, struct al_registry *reg,
            size_t n_items, ex_each_fn fn, void *ud, struct al_err *e);

#endif
