#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airlock/pipe.h"
#include "test.h"

#define TOTAL (1000 * 1000 + 7)   /* not a multiple of the capacity: wraps */

struct producer {
    struct al_pipe *p;
    int fail_at_end;
    int cancelled;   /* the write that returned AL_EINTR */
};

static void *produce(void *arg)
{
    struct producer *pr = arg;
    unsigned char chunk[777];
    struct al_err e;
    size_t sent = 0, i;

    al_err_init(&e);
    while (sent < TOTAL) {
        size_t n = TOTAL - sent < sizeof(chunk) ? TOTAL - sent : sizeof(chunk);
        for (i = 0; i < n; i++)
            chunk[i] = (unsigned char)((sent + i) * 31 % 251);
        if (al_pipe_write(pr->p, chunk, n, &e) != 0) {
            pr->cancelled = e.code == AL_EINTR;
            break;
        }
        sent += n;
    }
    if (pr->fail_at_end)
        al_err_set(&e, AL_EDIGEST, "blob X: wrong digest");
    al_pipe_close(pr->p, &e);
    return NULL;
}

/* Everything arrives in order through a pipe far smaller than the data,
 * and the producer's error comes only after its bytes. */
TEST(pipe_carries_bytes_in_order_then_the_producers_error)
{
    struct al_pipe *p;
    struct producer pr = {0};
    pthread_t t;
    unsigned char buf[1000];
    struct al_err e;
    size_t got, total = 0, i;
    int rc, in_order = 1, round;

    for (round = 0; round < 2; round++) {
        CHECK_INT(al_pipe_new(&p, 4096 + 3, &e), 0);
        pr.p = p;
        pr.fail_at_end = round == 1;
        total = 0;
        in_order = 1;
        pthread_create(&t, NULL, produce, &pr);
        while ((rc = al_pipe_read(p, buf, sizeof(buf), &got, &e)) == 0 && got > 0) {
            for (i = 0; i < got; i++)
                in_order &= buf[i] == (unsigned char)((total + i) * 31 % 251);
            total += got;
        }
        pthread_join(t, NULL);
        CHECK_INT(total, TOTAL);
        CHECK(in_order);
        if (round == 0) {
            CHECK_INT(rc, 0);
        } else {
            CHECK_INT(rc, AL_EDIGEST);
            CHECK_STR(e.msg, "blob X: wrong digest");
        }
        al_pipe_free(p);
    }
}

/* A reader that gives up releases a producer blocked on a full pipe. */
TEST(pipe_cancel_releases_a_blocked_writer)
{
    struct al_pipe *p;
    struct producer pr = {0};
    pthread_t t;
    unsigned char buf[10];
    struct al_err e;
    size_t got;

    CHECK_INT(al_pipe_new(&p, 64, &e), 0);
    pr.p = p;
    pthread_create(&t, NULL, produce, &pr);
    CHECK_INT(al_pipe_read(p, buf, sizeof(buf), &got, &e), 0);
    CHECK(got > 0);
    al_pipe_cancel(p);
    pthread_join(t, NULL);
    CHECK(pr.cancelled);
    al_pipe_reset(p);   /* and it can be used again */
    CHECK_INT(al_pipe_write(p, "abc", 3, &e), 0);
    al_pipe_close(p, NULL);
    CHECK_INT(al_pipe_read(p, buf, sizeof(buf), &got, &e), 0);
    CHECK_INT(got, 3);
    CHECK_INT(al_pipe_read(p, buf, sizeof(buf), &got, &e), 0);
    CHECK_INT(got, 0);
    al_pipe_free(p);
}

struct consumer {
    struct al_pipe *p;
    int rc;
};

static void *consume(void *arg)
{
    struct consumer *c = arg;
    char buf[16];
    size_t got;
    struct al_err e;

    c->rc = al_pipe_read(c->p, buf, sizeof(buf), &got, &e);
    return NULL;
}

/* A producer that gives up (or a pusher being stopped) releases a reader
 * waiting on an empty pipe that will never be closed. */
TEST(pipe_cancel_releases_a_blocked_reader)
{
    struct consumer c = {0};
    struct al_err e;
    pthread_t t;

    CHECK_INT(al_pipe_new(&c.p, 64, &e), 0);
    pthread_create(&t, NULL, consume, &c);
    usleep(20000);   /* let it block; the test holds without, less sharply */
    al_pipe_cancel(c.p);
    pthread_join(t, NULL);
    CHECK_INT(c.rc, AL_EINTR);
    al_pipe_free(c.p);
}

/* A producer that fills the ring in place, committing a part of what it
 * was given each time (so that the free space wraps at odd places). */
static void *produce_in_place(void *arg)
{
    struct producer *pr = arg;
    struct al_err e;
    size_t sent = 0, i, n;
    void *space;

    al_err_init(&e);
    while (sent < TOTAL) {
        if (al_pipe_reserve(pr->p, &space, &n, &e) != 0)
            break;
        if (n > 333)
            n = 333;
        if (n > TOTAL - sent)
            n = TOTAL - sent;
        for (i = 0; i < n; i++)
            ((unsigned char *)space)[i] = (unsigned char)((sent + i) * 31 % 251);
        al_pipe_commit(pr->p, n);
        sent += n;
    }
    if (pr->fail_at_end)
        al_err_set(&e, AL_EDIGEST, "blob X: wrong digest");
    al_pipe_close(pr->p, &e);
    return NULL;
}

/* Reserve/commit and peek/consume carry the same bytes in the same order
 * as write and read, the producer's error after them. */
TEST(pipe_in_place_carries_bytes_in_order_then_the_producers_error)
{
    struct producer pr = {0};
    struct al_pipe *p;
    const void *data;
    pthread_t t;
    struct al_err e;
    size_t n, total, i;
    int rc, in_order, round;

    for (round = 0; round < 2; round++) {
        CHECK_INT(al_pipe_new(&p, 4096 + 3, &e), 0);
        pr.p = p;
        pr.fail_at_end = round == 1;
        total = 0;
        in_order = 1;
        pthread_create(&t, NULL, produce_in_place, &pr);
        while ((rc = al_pipe_peek(p, &data, &n, &e)) == 0 && n > 0) {
            if (n > 500)   /* consume less than given: the rest stays put */
                n = 500;
            for (i = 0; i < n; i++)
                in_order &= ((const unsigned char *)data)[i] ==
                            (unsigned char)((total + i) * 31 % 251);
            al_pipe_consume(p, n);
            total += n;
        }
        pthread_join(t, NULL);
        CHECK_INT(total, TOTAL);
        CHECK(in_order);
        CHECK_INT(rc, round == 0 ? 0 : AL_EDIGEST);
        al_pipe_free(p);
    }
}
