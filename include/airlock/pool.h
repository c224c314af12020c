/* A small pool of worker threads: the only place airlock starts threads.
 *
 * Each worker has a context of its caller's (a registry client, an upload
 * pipe) that only it uses while it runs an item, so the caller's code needs
 * no locking of its own for that context. Items are numbers the caller
 * gives meaning to. They reach the workers one of two ways:
 *  - a range (cfg.n_items): workers claim 0, 1, 2, ... strictly in order;
 *  - fed (cfg.n_items == AL_POOL_FED): one feeding thread waits for an idle
 *    worker with al_pool_idle(), prepares that worker's context, then hands
 *    it an item with al_pool_give().
 * The first item that fails stops the pool: no item is claimed or handed
 * after it, and its error is what al_pool_wait() and al_pool_idle() return.
 */
#ifndef AIRLOCK_POOL_H
#define AIRLOCK_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "airlock/err.h"

#define AL_POOL_FED SIZE_MAX

/* Runs one item on worker `worker` (its index) with that worker's context;
 * nonzero with `e` filled stops the pool. */
typedef int (*al_pool_fn)(void *ud, void *ctx, size_t worker, size_t item,
                          struct al_err *e);

struct al_pool_cfg {
    size_t n_workers;      /* threads to start (0 is taken as 1) */
    void *const *ctx;      /* n_workers contexts, or NULL for none */
    size_t n_items;        /* a range 0 .. n_items-1, or AL_POOL_FED */
    al_pool_fn fn;
    void *ud;
};

struct al_pool;

/* Starts the workers; with a range, they start claiming at once. */
int al_pool_start(struct al_pool **out, const struct al_pool_cfg *cfg, struct al_err *e);

/* Fed pools, from the one feeding thread: waits until a worker is idle and
 * returns its index, or the pool's failure. The worker stays idle (and its
 * context untouched by the pool) until al_pool_give(). */
int al_pool_idle(struct al_pool *p, size_t *worker, struct al_err *e);
void al_pool_give(struct al_pool *p, size_t worker, size_t item);

/* Waits until every item claimed or given has ended (with a range: all of
 * them, or up to the failure) and returns the first failure, 0 if none. */
int al_pool_wait(struct al_pool *p, struct al_err *e);

/* The first failure so far, without waiting (0 if none). */
int al_pool_failure(struct al_pool *p, struct al_err *e);

/* No item is claimed or handed from now on; running items go on (the
 * caller wakes them if they wait on it). */
void al_pool_cancel(struct al_pool *p);

/* Cancels, joins every worker and frees `p`; accepts NULL. */
void al_pool_free(struct al_pool *p);

/* A range on `cfg->n_workers` threads, start to end: the first failure,
 * or 0. Fewer threads are started when there are fewer items. */
int al_pool_run(const struct al_pool_cfg *cfg, struct al_err *e);

#endif
