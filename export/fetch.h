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

/* Runs in worker `worker`: copies item `item` into `out` (which the
 * fetcher closes afterwards with the returned error); out is NULL for a
 * placed item, which goes wherever the function puts it. */
typedef int (*ex_fetch_fn)(void *ud, size_t item, size_t worker, struct al_registry *reg,
                           struct al_pipe *out, struct al_err *e);

struct ex_fetch_cfg {
    size_t jobs;                      /* worker threads (>= 1) */
    size_t pipe_capacity;             /* bytes fetched ahead per worker */
    const struct al_http_opts *http;  /* each worker opens its own client */
    const struct al_registry *reg;    /* cloned for each worker */
    size_t n_items;                   /* items 0 .. n_items-1, in order */
    size_t n_placed;                  /* the last n_placed of them are placed:
                                         not handed to the consumer, who
                                         waits for them all at once */
    ex_fetch_fn fetch;
    void *ud;
};

int ex_fetch_start(struct ex_fetcher **out, const struct ex_fetch_cfg *cfg,
                   struct al_err *e);

/* Waits until `item` (the next one in order) is being fetched and returns
 * the pipe to read it from; read it to its end, then ex_fetch_done(). */
struct al_pipe *ex_fetch_take(struct ex_fetcher *f, size_t item);
void ex_fetch_done(struct ex_fetcher *f, size_t item);

/* How many workers fetch (jobs, or fewer when there are fewer items):
 * worker indices given to the fetch function are below it. */
size_t ex_fetch_workers(const struct ex_fetcher *f);

/* Waits until every placed item has been fetched, or one failed (its
 * error, the first of them). */
int ex_fetch_wait_placed(struct ex_fetcher *f, struct al_err *e);

/* Cancels whatever is in flight, joins the workers and frees `f`. */
void ex_fetch_stop(struct ex_fetcher *f);   /* accepts NULL */

/* `n` clients made from `src` (see al_registry_clone) into `out`, which
 * the caller allocated; on failure those made are freed. */
int ex_clones_new(struct al_registry **out, size_t n, const struct al_registry *src,
                  const struct al_http_opts *http, struct al_err *e);

/* Frees `n` clients, first taking what they learnt back into `into`
 * unless it is NULL. Accepts NULL entries. */
void ex_clones_free(struct al_registry **v, size_t n, struct al_registry *into);

#endif
