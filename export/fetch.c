/* Workers claim items strictly in order and keep one until the consumer is
 * done with it, so the item the consumer waits for is always claimed or
 * next to be claimed: no ordering can deadlock. */
#include "fetch.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#define NO_ITEM SIZE_MAX

struct worker {
    struct ex_fetcher *f;
    pthread_t thread;
    int started;
    struct al_registry *reg;
    struct al_pipe *pipe;
    size_t item;       /* claimed, or NO_ITEM */
};

struct ex_fetcher {
    struct ex_fetch_cfg cfg;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    size_t next;       /* next item to claim */
    int stopping;
    struct worker *w;
    size_t n_w;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct ex_fetcher *f = w->f;
    struct al_err e;
    size_t item;

    pthread_mutex_lock(&f->lock);
    while (!f->stopping && f->next < f->cfg.n_items) {
        item = w->item = f->next++;
        pthread_cond_broadcast(&f->changed);
        pthread_mutex_unlock(&f->lock);

        al_err_init(&e);
        f->cfg.fetch(f->cfg.ud, item, w->reg, w->pipe, &e);
        al_pipe_close(w->pipe, &e);

        pthread_mutex_lock(&f->lock);
        while (!f->stopping && w->item != NO_ITEM)
            pthread_cond_wait(&f->changed, &f->lock);
    }
    pthread_mutex_unlock(&f->lock);
    return NULL;
}

int ex_fetch_start(struct ex_fetcher **out, const struct ex_fetch_cfg *cfg,
                   struct al_err *e)
{
    struct ex_fetcher *f = calloc(1, sizeof(*f));
    size_t i, jobs = cfg->jobs ? cfg->jobs : 1;
    int rc = 0;

    *out = NULL;
    if (jobs > cfg->n_items)
        jobs = cfg->n_items ? cfg->n_items : 1;
    if (f == NULL || (f->w = calloc(jobs, sizeof(*f->w))) == NULL) {
        free(f);
        return al_err_set(e, AL_ENOMEM, "out of memory");
    }
    f->cfg = *cfg;
    f->n_w = jobs;
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->changed, NULL);
    for (i = 0; rc == 0 && i < jobs; i++) {
        struct worker *w = &f->w[i];
        w->f = f;
        w->item = NO_ITEM;
        rc = al_registry_clone(&w->reg, cfg->reg, cfg->http, e);
        if (rc == 0)
            rc = al_pipe_new(&w->pipe, cfg->pipe_capacity, e);
    }
    for (i = 0; rc == 0 && i < jobs; i++) {
        if (pthread_create(&f->w[i].thread, NULL, worker_main, &f->w[i]) != 0)
            rc = al_err_set(e, AL_ENOMEM, "cannot start a download thread");
        else
            f->w[i].started = 1;
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
        for (i = 0; i < f->n_w && p == NULL; i++)
            if (f->w[i].item == item)
                p = f->w[i].pipe;
        if (p == NULL)
            pthread_cond_wait(&f->changed, &f->lock);
    }
    pthread_mutex_unlock(&f->lock);
    return p;
}

void ex_fetch_done(struct ex_fetcher *f, size_t item)
{
    size_t i;

    pthread_mutex_lock(&f->lock);
    for (i = 0; i < f->n_w; i++) {
        if (f->w[i].item != item)
            continue;
        al_pipe_reset(f->w[i].pipe);
        f->w[i].item = NO_ITEM;
    }
    pthread_cond_broadcast(&f->changed);
    pthread_mutex_unlock(&f->lock);
}

void ex_fetch_stop(struct ex_fetcher *f)
{
    size_t i;

    if (f == NULL)
        return;
    pthread_mutex_lock(&f->lock);
    f->stopping = 1;
    for (i = 0; i < f->n_w; i++)
        if (f->w[i].pipe != NULL)
            al_pipe_cancel(f->w[i].pipe);
    pthread_cond_broadcast(&f->changed);
    pthread_mutex_unlock(&f->lock);
    for (i = 0; i < f->n_w; i++) {
        if (f->w[i].started)
            pthread_join(f->w[i].thread, NULL);
        al_pipe_free(f->w[i].pipe);
        al_registry_free(f->w[i].reg);
    }
    pthread_cond_destroy(&f->changed);
    pthread_mutex_destroy(&f->lock);
    free(f->w);
    free(f);
}

struct each {
    pthread_mutex_t lock;
    size_t next, n;
    int stop;
    ex_each_fn fn;
    void *ud;
};

struct each_worker {
    struct each *each;
    struct al_registry *reg;
    pthread_t thread;
    int started;
};

static void *each_main(void *arg)
{
    struct each_worker *w = arg;
    struct each *x = w->each;
    size_t item;

    for (;;) {
        pthread_mutex_lock(&x->lock);
        if (x->stop || x->next >= x->n) {
            pthread_mutex_unlock(&x->lock);
            return NULL;
        }
        item = x->next++;
        pthread_mutex_unlock(&x->lock);
        if (x->fn(x->ud, item, w->reg) != 0) {
            pthread_mutex_lock(&x->lock);
            x->stop = 1;
            pthread_mutex_unlock(&x->lock);
        }
    }
}

int ex_each(size_t jobs, const struct al_http_opts *http, struct al_registry *reg,
            size_t n_items, ex_each_fn fn, void *ud, struct al_err *e)
{
    struct each x = {.n = n_items, .fn = fn, .ud = ud};
    struct each_worker *w;
    size_t i;
    int rc = 0;

    if (jobs == 0)
        jobs = 1;
    if (jobs > n_items)
        jobs = n_items;
    if (jobs == 0)
        return 0;
    w = calloc(jobs, sizeof(*w));
    if (w == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    pthread_mutex_init(&x.lock, NULL);
    for (i = 0; rc == 0 && i < jobs; i++) {
        w[i].each = &x;
        rc = al_registry_clone(&w[i].reg, reg, http, e);
    }
    for (i = 0; rc == 0 && i < jobs; i++) {
        if (pthread_create(&w[i].thread, NULL, each_main, &w[i]) != 0)
            rc = al_err_set(e, AL_ENOMEM, "cannot start a thread");
        else
            w[i].started = 1;
    }
    if (rc != 0) {   /* the started ones stop after their item */
        pthread_mutex_lock(&x.lock);
        x.stop = 1;
        pthread_mutex_unlock(&x.lock);
    }
    for (i = 0; i < jobs; i++) {
        if (w[i].started)
            pthread_join(w[i].thread, NULL);
        if (w[i].reg != NULL)
            al_registry_absorb(reg, w[i].reg);
        al_registry_free(w[i].reg);
    }
    pthread_mutex_destroy(&x.lock);
    free(w);
    return rc;
}
