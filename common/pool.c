/* One lock and one condition for the whole pool: items are coarse (a blob,
 * a manifest, an image), so contention is never what limits a run. */
#include "airlock/pool.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

struct worker {
    struct al_pool *p;
    size_t index;
    pthread_t thread;
    int started;
    int busy;          /* an item is claimed or given and not yet ended */
    size_t item;
};

struct al_pool {
    struct al_pool_cfg cfg;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    size_t next;       /* ranges: the next item to claim */
    int stopping;
    struct al_err failure;
    struct worker *w;
    size_t n_w;
};

static int is_range(const struct al_pool *p)
{
    return p->cfg.n_items != AL_POOL_FED;
}

/* Lock held: whether worker `w` has an item to run now. */
static int next_item(struct al_pool *p, struct worker *w)
{
    if (is_range(p)) {
        if (p->stopping || p->failure.code != 0 || p->next >= p->cfg.n_items)
            return 0;
        w->item = p->next++;
        w->busy = 1;
        return 1;
    }
    while (!w->busy && !p->stopping)
        pthread_cond_wait(&p->changed, &p->lock);
    return w->busy;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct al_pool *p = w->p;
    struct al_err e;
    int rc;

    pthread_mutex_lock(&p->lock);
    while (next_item(p, w)) {
        pthread_mutex_unlock(&p->lock);
        al_err_init(&e);
        rc = p->cfg.fn(p->cfg.ud, p->cfg.ctx ? p->cfg.ctx[w->index] : NULL, w->index,
                       w->item, &e);
        pthread_mutex_lock(&p->lock);
        if (rc != 0 && p->failure.code == 0) {
            p->failure = e;
            if (p->failure.code == 0)   /* a callee that forgot to say why */
                al_err_set(&p->failure, rc, "item %zu failed", w->item);
        }
        w->busy = 0;
        pthread_cond_broadcast(&p->changed);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

int al_pool_start(struct al_pool **out, const struct al_pool_cfg *cfg, struct al_err *e)
{
    struct al_pool *p = calloc(1, sizeof(*p));
    size_t i, n = cfg->n_workers ? cfg->n_workers : 1;
    sigset_t stop, was;
    int rc = 0;

    *out = NULL;
    if (p == NULL || (p->w = calloc(n, sizeof(*p->w))) == NULL) {
        free(p);
        return al_err_set(e, AL_ENOMEM, "out of memory");
    }
    p->cfg = *cfg;
    p->n_w = n;
    al_err_init(&p->failure);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->changed, NULL);
    for (i = 0; i < n; i++) {
        p->w[i].p = p;
        p->w[i].index = i;
    }
    /* Workers start with the signals a program stops on blocked, so that
     * its handler runs in the thread that called (it unlinks partial files
     * whose names that thread may free; never from under another thread). */
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop, &was);
    for (i = 0; rc == 0 && i < n; i++) {
        if (pthread_create(&p->w[i].thread, NULL, worker_main, &p->w[i]) != 0)
            rc = al_err_set(e, AL_ENOMEM, "cannot start a thread");
        else
            p->w[i].started = 1;
    }
    pthread_sigmask(SIG_SETMASK, &was, NULL);
    if (rc != 0) {
        al_pool_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int al_pool_idle(struct al_pool *p, size_t *worker, struct al_err *e)
{
    size_t i;
    int rc = 0;

    pthread_mutex_lock(&p->lock);
    for (;;) {
        if (p->failure.code != 0) {
            if (e != NULL)
                *e = p->failure;
            rc = p->failure.code;
            break;
        }
        if (p->stopping) {
            rc = al_err_set(e, AL_EINTR, "stopped");
            break;
        }
        for (i = 0; i < p->n_w && p->w[i].busy; i++)
            ;
        if (i < p->n_w) {
            *worker = i;
            break;
        }
        pthread_cond_wait(&p->changed, &p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

void al_pool_give(struct al_pool *p, size_t worker, size_t item)
{
    pthread_mutex_lock(&p->lock);
    if (p->stopping) {   /* the workers may be gone: nobody would run it */
        pthread_mutex_unlock(&p->lock);
        return;
    }
    p->w[worker].item = item;
    p->w[worker].busy = 1;
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
}

/* Lock held. */
static int anything_left(const struct al_pool *p)
{
    size_t i;

    for (i = 0; i < p->n_w; i++)
        if (p->w[i].busy)
            return 1;
    return is_range(p) && !p->stopping && p->failure.code == 0 &&
           p->next < p->cfg.n_items;
}

int al_pool_failure(struct al_pool *p, struct al_err *e)
{
    int rc;

    pthread_mutex_lock(&p->lock);
    rc = p->failure.code;
    if (rc != 0 && e != NULL)
        *e = p->failure;
    pthread_mutex_unlock(&p->lock);
    return rc;
}

int al_pool_wait(struct al_pool *p, struct al_err *e)
{
    pthread_mutex_lock(&p->lock);
    while (anything_left(p))
        pthread_cond_wait(&p->changed, &p->lock);
    pthread_mutex_unlock(&p->lock);
    return al_pool_failure(p, e);
}

void al_pool_cancel(struct al_pool *p)
{
    pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
}

void al_pool_free(struct al_pool *p)
{
    size_t i;

    if (p == NULL)
        return;
    al_pool_cancel(p);
    for (i = 0; i < p->n_w; i++)
        if (p->w[i].started)
            pthread_join(p->w[i].thread, NULL);
    pthread_cond_destroy(&p->changed);
    pthread_mutex_destroy(&p->lock);
    free(p->w);
    free(p);
}

int al_pool_run(const struct al_pool_cfg *cfg, struct al_err *e)
{
    struct al_pool_cfg c = *cfg;
    struct al_pool *p;
    int rc;

    if (c.n_items == 0)
        return 0;
    if (c.n_workers == 0)
        c.n_workers = 1;
    if (c.n_workers > c.n_items)
        c.n_workers = c.n_items;
    rc = al_pool_start(&p, &c, e);
    if (rc != 0)
        return rc;
    rc = al_pool_wait(p, e);
    al_pool_free(p);
    return rc;
}
