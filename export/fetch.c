/* Workers claim items strictly in order (the pool's ranges do) and keep one
 * until the consumer is done with it, so the item the consumer waits for is
 * always claimed or next to be claimed: no ordering can deadlock. Placed
 * items come last, so every item the consumer takes is claimed before any
 * of them, and a worker is done with one as soon as it is fetched. */
#include "fetch.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "airlock/pool.h"

#define NO_ITEM SIZE_MAX

struct slot {
    struct al_registry *reg;
    struct al_pipe *pipe;
    size_t item;       /* being fetched or consumed, or NO_ITEM */
};

struct ex_fetcher {
    struct ex_fetch_cfg cfg;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int stopping;
    struct slot *slots;
    void **ctx;        /* the slots, as the pool's contexts */
    size_t n;
    struct al_pool *pool;
    size_t placed_ended;   /* placed items fetched or failed */
    struct al_err placed_err;   /* the first failure of one */
};

static int fetch_item(void *ud, void *ctx, size_t worker, size_t item, struct al_err *e)
{
    struct ex_fetcher *f = ud;
    struct slot *s = ctx;
    struct al_err why;

    (void)e;   /* a failed blob travels to the consumer through the pipe */
    if (item >= f->cfg.n_items - f->cfg.n_placed) {
        al_err_init(&why);
        if (f->cfg.fetch(f->cfg.ud, item, worker, s->reg, NULL, &why) != 0 && why.code == 0)
            al_err_set(&why, AL_EIO, "blob %zu of the plan could not be fetched", item);
        pthread_mutex_lock(&f->lock);
        if (why.code != 0 && f->placed_err.code == 0)
            f->placed_err = why;
        f->placed_ended++;
        pthread_cond_broadcast(&f->changed);
        pthread_mutex_unlock(&f->lock);
        return 0;
    }
    pthread_mutex_lock(&f->lock);
    s->item = item;
    pthread_cond_broadcast(&f->changed);
    pthread_mutex_unlock(&f->lock);

    al_err_init(&why);
    if (f->cfg.fetch(f->cfg.ud, item, worker, s->reg, s->pipe, &why) != 0 && why.code == 0)
        al_err_set(&why, AL_EIO, "blob %zu of the plan could not be fetched", item);
    al_pipe_close(s->pipe, &why);

    pthread_mutex_lock(&f->lock);
    while (!f->stopping && s->item != NO_ITEM)
        pthread_cond_wait(&f->changed, &f->lock);
    pthread_mutex_unlock(&f->lock);
    return 0;
}

int ex_clones_new(struct al_registry **out, size_t n, const struct al_registry *src,
                  const struct al_http_opts *http, struct al_err *e)
{
    size_t i;
    int rc = 0;

    for (i = 0; i < n; i++)
        out[i] = NULL;
    for (i = 0; rc == 0 && i < n; i++)
        rc = al_registry_clone(&out[i], src, http, e);
    if (rc != 0)
        ex_clones_free(out, n, NULL);
    return rc;
}

void ex_clones_free(struct al_registry **v, size_t n, struct al_registry *into)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (v[i] != NULL && into != NULL)
            al_registry_absorb(into, v[i]);
        al_registry_free(v[i]);
        v[i] = NULL;
    }
}

static int make_slots(struct ex_fetcher *f, struct al_err *e)
{
    struct al_registry **regs = calloc(f->n, sizeof(*regs));
    size_t i;
    int rc;

    if (regs == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    rc = ex_clones_new(regs, f->n, f->cfg.reg, f->cfg.http, e);
    for (i = 0; i < f->n; i++) {
        f->slots[i].reg = rc == 0 ? regs[i] : NULL;
        f->slots[i].item = NO_ITEM;
        f->ctx[i] = &f->slots[i];
    }
    for (i = 0; rc == 0 && i < f->n; i++)
        rc = al_pipe_new(&f->slots[i].pipe, f->cfg.pipe_capacity, e);
    free(regs);
    return rc;
}

int ex_fetch_start(struct ex_fetcher **out, const struct ex_fetch_cfg *cfg,
                   struct al_err *e)
{
    struct ex_fetcher *f = calloc(1, sizeof(*f));
    size_t jobs = cfg->jobs ? cfg->jobs : 1;
    int rc;

    *out = NULL;
    if (jobs > cfg->n_items)
        jobs = cfg->n_items ? cfg->n_items : 1;
    if (f == NULL || (f->slots = calloc(jobs, sizeof(*f->slots))) == NULL ||
        (f->ctx = calloc(jobs, sizeof(*f->ctx))) == NULL) {
        if (f != NULL)
            free(f->slots);
        free(f);
        return al_err_set(e, AL_ENOMEM, "out of memory");
    }
    f->cfg = *cfg;
    if (f->cfg.n_placed > cfg->n_items)
        f->cfg.n_placed = cfg->n_items;
    f->n = jobs;
    al_err_init(&f->placed_err);
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->changed, NULL);
    rc = make_slots(f, e);
    if (rc == 0) {
        struct al_pool_cfg pc = {.n_workers = jobs, .ctx = f->ctx,
                                 .n_items = cfg->n_items, .fn = fetch_item, .ud = f};
        rc = al_pool_start(&f->pool, &pc, e);
    }
    if (rc != 0) {
        ex_fetch_stop(f);
        return rc;
    }
    *out = f;
    return 0;
}

struct al_pipe *ex_fetch_take(struct ex_fetcher *f, size_t item)
{
    struct al_pipe *p = NULL;
    size_t i;

    pthread_mutex_lock(&f->lock);
    while (p == NULL) {
        for (i = 0; i < f->n && p == NULL; i++)
            if (f->slots[i].item == item)
                p = f->slots[i].pipe;
        if (p == NULL)
            pthread_cond_wait(&f->changed, &f->lock);
    }
    pthread_mutex_unlock(&f->lock);
    return p;
}

size_t ex_fetch_workers(const struct ex_fetcher *f)
{
    return f->n;
}

int ex_fetch_wait_placed(struct ex_fetcher *f, struct al_err *e)
{
    int rc = 0;

    pthread_mutex_lock(&f->lock);
    while (f->placed_ended < f->cfg.n_placed && f->placed_err.code == 0)
        pthread_cond_wait(&f->changed, &f->lock);
    if (f->placed_err.code != 0) {
        *e = f->placed_err;
        rc = e->code;
    }
    pthread_mutex_unlock(&f->lock);
    return rc;
}

void ex_fetch_done(struct ex_fetcher *f, size_t item)
{
    size_t i;

    pthread_mutex_lock(&f->lock);
    for (i = 0; i < f->n; i++) {
        if (f->slots[i].item != item)
            continue;
        al_pipe_reset(f->slots[i].pipe);
        f->slots[i].item = NO_ITEM;
    }
    pthread_cond_broadcast(&f->changed);
    pthread_mutex_unlock(&f->lock);
}

void ex_fetch_stop(struct ex_fetcher *f)
{
    size_t i;

    if (f == NULL)
        return;
    if (f->pool != NULL)
        al_pool_cancel(f->pool);
    pthread_mutex_lock(&f->lock);
    f->stopping = 1;
    for (i = 0; i < f->n; i++)
        if (f->slots[i].pipe != NULL)
            al_pipe_cancel(f->slots[i].pipe);
    pthread_cond_broadcast(&f->changed);
    pthread_mutex_unlock(&f->lock);
    al_pool_free(f->pool);
    for (i = 0; i < f->n; i++) {
        al_pipe_free(f->slots[i].pipe);
        al_registry_free(f->slots[i].reg);
    }
    pthread_cond_destroy(&f->changed);
    pthread_mutex_destroy(&f->lock);
    free(f->ctx);
    free(f->slots);
    free(f);
}
