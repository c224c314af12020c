/* The worker pool: every item once, in claim order, and the first failure
 * stops it. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "airlock/pool.h"
#include "test.h"

#define N_ITEMS 200

struct tally {
    atomic_int runs[N_ITEMS];
    atomic_int per_worker[4];
    size_t fail_at;                  /* N_ITEMS: none */
    struct al_pool *_Atomic pool;    /* set once started, for items past fail_at */
};

static int count_item(void *ud, void *ctx, size_t worker, size_t item, struct al_err *e)
{
    struct tally *t = ud;

    CHECK(ctx == NULL || *(size_t *)ctx == worker);
    atomic_fetch_add(&t->runs[item], 1);
    atomic_fetch_add(&t->per_worker[worker], 1);
    if (item == t->fail_at)
        return al_err_set(e, AL_EIO, "item %zu broke", item);
    /* an item claimed after the failing one ends only once the pool knows of
     * the failure, however the threads are scheduled: the bound below is
     * then exact, not a matter of timing */
    if (t->fail_at < N_ITEMS && item > t->fail_at) {
        int i;
        for (i = 0; i < 5000; i++) {
            struct al_pool *p = atomic_load(&t->pool);
            if (p != NULL && al_pool_failure(p, NULL) != 0)
                break;
            usleep(1000);
        }
    }
    return 0;
}

TEST(pool_runs_every_item_once)
{
    static struct tally t;
    size_t ids[4] = {0, 1, 2, 3}, i;
    void *ctx[4] = {&ids[0], &ids[1], &ids[2], &ids[3]};
    struct al_pool_cfg c = {.n_workers = 4, .ctx = ctx, .n_items = N_ITEMS,
                            .fn = count_item, .ud = &t};
    struct al_err e;

    memset(&t, 0, sizeof(t));
    t.fail_at = N_ITEMS;
    al_err_init(&e);
    CHECK_INT(al_pool_run(&c, &e), 0);
    for (i = 0; i < N_ITEMS; i++)
        CHECK_INT(t.runs[i], 1);
    CHECK_INT(t.per_worker[0] + t.per_worker[1] + t.per_worker[2] + t.per_worker[3],
              N_ITEMS);
}

TEST(pool_stops_at_the_first_failure)
{
    static struct tally t;
    struct al_pool_cfg c = {.n_workers = 2, .n_items = N_ITEMS, .fn = count_item, .ud = &t};
    struct al_pool *p = NULL;
    struct al_err e;
    size_t i, ran = 0;

    memset(&t, 0, sizeof(t));
    t.fail_at = 10;
    al_err_init(&e);
    CHECK_INT(al_pool_start(&p, &c, &e), 0);
    atomic_store(&t.pool, p);
    CHECK_INT(al_pool_wait(p, &e), AL_EIO);
    al_pool_free(p);
    CHECK_STR(e.msg, "item 10 broke");
    for (i = 0; i < N_ITEMS; i++)
        ran += (size_t)t.runs[i];
    /* items 0..10, and at most one more the other worker held */
    CHECK(ran <= 12);
    CHECK(ran >= 11);
    CHECK_INT(t.runs[10], 1);
}

TEST(pool_fed_hands_items_to_idle_workers)
{
    static struct tally t;
    size_t ids[3] = {0, 1, 2}, i, w;
    void *ctx[3] = {&ids[0], &ids[1], &ids[2]};
    struct al_pool_cfg c = {.n_workers = 3, .ctx = ctx, .n_items = AL_POOL_FED,
                            .fn = count_item, .ud = &t};
    struct al_pool *p = NULL;
    struct al_err e;

    memset(&t, 0, sizeof(t));
    t.fail_at = 50;
    al_err_init(&e);
    CHECK_INT(al_pool_start(&p, &c, &e), 0);
    for (i = 0; i < 40; i++) {
        CHECK_INT(al_pool_idle(p, &w, &e), 0);
        CHECK(w < 3);
        al_pool_give(p, w, i);
    }
    CHECK_INT(al_pool_wait(p, &e), 0);
    for (i = 0; i < 40; i++)
        CHECK_INT(t.runs[i], 1);
    /* a failure is what the feeder hears next */
    CHECK_INT(al_pool_idle(p, &w, &e), 0);
    al_pool_give(p, w, 50);
    CHECK_INT(al_pool_wait(p, &e), AL_EIO);
    CHECK_INT(al_pool_idle(p, &w, &e), AL_EIO);
    CHECK_INT(al_pool_failure(p, NULL), AL_EIO);
    al_pool_free(p);
    al_pool_free(NULL);
}
