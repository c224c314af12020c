#include "airlock/pipe.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct al_pipe {
    pthread_mutex_t lock;
    pthread_cond_t changed;   /* bytes, room, end or cancellation */
    char *ring;
    size_t cap, head, len;    /* len bytes from ring[head], wrapping */
    int closed, cancelled;
    struct al_err why;
};

int al_pipe_new(struct al_pipe **out, size_t capacity, struct al_err *e)
{
    struct al_pipe *p = calloc(1, sizeof(*p));

    *out = NULL;
    if (p == NULL || capacity == 0 || (p->ring = malloc(capacity)) == NULL) {
        free(p);
        return al_err_set(e, AL_ENOMEM, "out of memory");
    }
    p->cap = capacity;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->changed, NULL);
    *out = p;
    return 0;
}

void al_pipe_free(struct al_pipe *p)
{
    if (p == NULL)
        return;
    pthread_cond_destroy(&p->changed);
    pthread_mutex_destroy(&p->lock);
    free(p->ring);
    free(p);
}

/* (a copy into the space reserve gives: the one consumer never touches it) */
int al_pipe_write(struct al_pipe *p, const void *data, size_t n, struct al_err *e)
{
    const char *c = data;

    while (n > 0) {
        void *space;
        size_t k;
        int rc = al_pipe_reserve(p, &space, &k, e);
        if (rc != 0)
            return rc;
        if (k > n)
            k = n;
        memcpy(space, c, k);
        al_pipe_commit(p, k);
        c += k;
        n -= k;
    }
    return 0;
}

void al_pipe_close(struct al_pipe *p, const struct al_err *why)
{
    pthread_mutex_lock(&p->lock);
    p->closed = 1;
    if (why != NULL && why->code != 0)
        p->why = *why;
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
}

/* (a copy out of what peek gives: the one producer never touches it) */
int al_pipe_read(struct al_pipe *p, void *buf, size_t n, size_t *got,
                 struct al_err *e)
{
    const void *data;
    size_t k;
    int rc = al_pipe_peek(p, &data, &k, e);

    *got = 0;
    if (rc != 0 || k == 0)
        return rc;
    if (k > n)
        k = n;
    memcpy(buf, data, k);
    al_pipe_consume(p, k);
    *got = k;
    return 0;
}

void al_pipe_cancel(struct al_pipe *p)
{
    pthread_mutex_lock(&p->lock);
    p->cancelled = 1;
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
}

void al_pipe_reset(struct al_pipe *p)
{
    pthread_mutex_lock(&p->lock);
    p->head = p->len = 0;
    p->closed = p->cancelled = 0;
    al_err_init(&p->why);
    pthread_mutex_unlock(&p->lock);
}

int al_pipe_reserve(struct al_pipe *p, void **space, size_t *n, struct al_err *e)
{
    size_t tail;
    int rc = 0;

    *space = NULL;
    *n = 0;
    pthread_mutex_lock(&p->lock);
    while (p->len == p->cap && !p->cancelled)
        pthread_cond_wait(&p->changed, &p->lock);
    if (p->cancelled) {
        rc = al_err_set(e, AL_EINTR, "the reader stopped");
    } else {
        tail = (p->head + p->len) % p->cap;
        *space = p->ring + tail;
        *n = p->cap - p->len;
        if (*n > p->cap - tail)
            *n = p->cap - tail;   /* up to the end of the ring */
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

void al_pipe_commit(struct al_pipe *p, size_t n)
{
    pthread_mutex_lock(&p->lock);
    p->len += n;
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
}

int al_pipe_peek(struct al_pipe *p, const void **data, size_t *n, struct al_err *e)
{
    int rc = 0;

    *data = NULL;
    *n = 0;
    pthread_mutex_lock(&p->lock);
    while (p->len == 0 && !p->closed && !p->cancelled)
        pthread_cond_wait(&p->changed, &p->lock);
    if (p->cancelled) {
        rc = al_err_set(e, AL_EINTR, "the pipe was cancelled");
    } else if (p->len > 0) {
        *data = p->ring + p->head;
        *n = p->cap - p->head;   /* up to the end of the ring */
        if (*n > p->len)
            *n = p->len;
    } else if (p->why.code != 0) {
        rc = p->why.code;
        if (e != NULL)
            *e = p->why;
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

void al_pipe_consume(struct al_pipe *p, size_t n)
{
    pthread_mutex_lock(&p->lock);
    p->head = (p->head + n) % p->cap;
    p->len -= n;
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
}
