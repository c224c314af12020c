/* The blobs into the bundle, in plan order: --jobs threads download ahead
 * of the one being written, each into a bounded pipe; each byte is hashed
 * once, in the thread that receives it, and a blob whose bytes are not its
 * digest's ends the export rather than travel. The layers compressed
 * already, which the plan puts last, are placed where the bundle can
 * (al_bundle_writer_place): each download thread writes its blob straight
 * into the bundle, the largest first, all at once. */
#include "blobs.h"
#include "fetch.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define COPY_CHUNK (256 * 1024)   /* the most one read puts in a pipe */
/* Bytes each download thread may hold ahead of the writer: at 500 Mbit/s
 * and 40 ms round trips a connection has about 2.5 MB in flight, which a
 * paused download resumes from without a gap. */
#define FETCH_AHEAD (4 * 1024 * 1024)

/* What the download threads share with the writer: the blobs to fetch
 * (plan indices, in bundle order) and a lock for the counters they touch. */
struct fetch_list {
    const struct ex_blobs_cfg *cfg;
    const struct ex_plan *plan;
    struct al_bundle_writer *w;
    size_t *plan_index;     /* the blobs to fetch, in bundle order */
    size_t *claim;          /* the fetcher's items: indices into plan_index */
    size_t n;
    size_t placed_from;     /* plan_index[placed_from..n) are placed; n: none */
    int layout;             /* 0 until the placed blobs have their places,
                               1 once they have, -1 if they never will */
    pthread_cond_t laid_out;
    pthread_mutex_t lock;
    size_t cache_hits;
    long long done_bytes, total_bytes;
    struct timespec last_tick;
};

static void blob_entry_name(const struct ex_blob *b, char *out, size_t n)
{
    snprintf(out, n, "blobs/sha256/%s", b->digest + strlen("sha256:"));
}

static void tick(struct fetch_list *l, size_t n)
{
    struct timespec now;
    long long ms;

    l->done_bytes += (long long)n;
    if (l->cfg->progress == NULL)
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (now.tv_sec - l->last_tick.tv_sec) * 1000 +
         (now.tv_nsec - l->last_tick.tv_nsec) / 1000000;
    if (ms < 250 && l->done_bytes < l->total_bytes)
        return;
    l->last_tick = now;
    l->cfg->progress(l->cfg->progress_ud, l->done_bytes, l->total_bytes);
}

/* Where a download's bytes go: its pipe, or its place in the bundle. */
struct sink {
    struct al_pipe *pipe;
    struct al_bundle_lane *lane;
};

static int sink_reserve(struct sink *s, void **space, size_t *room, struct al_err *e)
{
    return s->pipe ? al_pipe_reserve(s->pipe, space, room, e)
                   : al_bundle_lane_reserve(s->lane, space, room, e);
}

static int sink_commit(struct fetch_list *l, struct sink *s, size_t n, struct al_err *e)
{
    int rc;

    if (s->pipe) {
        al_pipe_commit(s->pipe, n);
        return 0;
    }
    if ((rc = al_bundle_lane_commit(s->lane, n, e)) != 0)
        return rc;
    pthread_mutex_lock(&l->lock);
    tick(l, n);
    pthread_mutex_unlock(&l->lock);
    return 0;
}

/* Reads up to `n` bytes, retrying on EINTR. */
static ssize_t read_some(int fd, char *p, size_t n)
{
    ssize_t k;

    do
        k = read(fd, p, n);
    while (k < 0 && errno == EINTR);
    return k;
}

/* A cached copy, hashed on the one read that goes into the bundle. Its
 * size is checked first (a wrong one is dropped and the blob downloaded
 * instead). Its bytes can only be checked once they have gone into the
 * pipe, which cannot take them back: so a mismatch ends the export (the
 * bundle is abandoned, nothing unverified travels), after dropping the
 * entry so that the next run downloads the blob. Checking the whole entry
 * first and copying it on a second read, as before, copied bytes that no
 * one had hashed (the file may change in between). *used says whether the
 * cache had it. */
static int fetch_cached(struct fetch_list *l, const struct ex_blob *b, struct al_sha256 *h,
                        struct sink *out, int *used, struct al_err *e)
{
    struct ex_cache *cache = l->cfg->cache;
    char got[AL_DIGEST_STR_MAX], name[4200];
    long long total = 0;
    int wrong = 0, rc = 0;
    int fd = cache ? ex_cache_get(cache, b->digest, b->size, &wrong) : -1;
    ssize_t k = 0;

    *used = fd >= 0;
    if (wrong)
        l->cfg->report(l->cfg->ud, "cached blob %s has the wrong size: fetching it again",
                       b->digest);
    if (fd < 0)
        return 0;
    ex_cache_entry_name(cache, b->digest, name, sizeof(name));
    while (rc == 0 && total < b->size) {
        void *space;
        size_t want;
        rc = sink_reserve(out, &space, &want, e);
        if (rc != 0)
            break;
        if ((long long)want > b->size - total)
            want = (size_t)(b->size - total);
        k = read_some(fd, space, want < COPY_CHUNK ? want : COPY_CHUNK);
        if (k <= 0)
            break;
        al_sha256_update(h, space, (size_t)k);
        total += k;
        rc = sink_commit(l, out, (size_t)k, e);
    }
    close(fd);
    if (rc == 0 && k < 0)
        rc = al_err_sys(e, AL_EIO, errno, "cannot read the cached blob %s in '%s'",
                        b->digest, name);
    al_sha256_final(h, got);
    if (rc == 0 && (total != b->size || strcmp(got, b->digest) != 0)) {
        ex_cache_drop(cache, b->digest);
        rc = al_err_set(e, AL_EDIGEST, "cached blob %s in '%s' does not match its digest "
                        "(%lld bytes with digest %s): the entry was removed; run the "
                        "export again", b->digest, name, total, got);
    }
    if (rc == 0) {
        pthread_mutex_lock(&l->lock);
        l->cache_hits++;
        pthread_mutex_unlock(&l->lock);
    }
    return rc;
}

static void report_resume(void *ud, const char *digest, long long offset, const char *why)
{
    const struct fetch_list *l = ud;

    l->cfg->report(l->cfg->ud, "blob %s broke off after %lld bytes (%s): resuming", digest, offset,
              why);
}

/* A placed blob's way into the bundle, once the blobs before it are
 * written and its place known. */
static int open_lane(struct fetch_list *l, size_t worker, size_t k, struct sink *out,
                     struct al_err *e)
{
    int layout;

    pthread_mutex_lock(&l->lock);
    while (l->layout == 0)
        pthread_cond_wait(&l->laid_out, &l->lock);
    layout = l->layout;
    pthread_mutex_unlock(&l->lock);
    if (layout < 0)
        return al_err_set(e, AL_EINTR, "the export stopped before this blob");
    out->lane = al_bundle_writer_lane(l->w, worker);
    if (out->lane == NULL)
        return al_err_set(e, AL_EINVAL, "download thread %zu has no lane in the bundle", worker);
    return al_bundle_lane_begin(out->lane, k - l->placed_from, e);
}

/* In a download thread: one blob from its registry (or the cache) into
 * `pipe`, or when that is NULL into its place in the bundle, hashing each
 * byte as it passes (the registry layer resumes a download that breaks
 * off). Ends in an error unless the bytes are the digest's, so the bundle
 * is abandoned rather than carry them. */
static int fetch_blob(void *ud, size_t item, size_t worker, struct al_registry *reg,
                      struct al_pipe *pipe, struct al_err *e)
{
    struct fetch_list *l = ud;
    struct ex_cache *cache = l->cfg->cache;
    const struct ex_blob *b = &l->plan->v[l->plan_index[l->claim[item]]];
    struct sink sink = {pipe, NULL}, *out = &sink;
    struct al_blob_reader *br = NULL;
    struct al_sha256 *h = al_sha256_new();
    char got[AL_DIGEST_STR_MAX];
    long long total = 0;
    size_t n = 0;
    int rc, used = 0;
    struct ex_cache_tee *tee = NULL;

    rc = h ? 0 : al_err_set(e, AL_ENOMEM, "out of memory");
    if (rc == 0 && pipe == NULL)
        rc = open_lane(l, worker, l->claim[item], out, e);
    if (rc == 0)
        rc = fetch_cached(l, b, h, out, &used, e);
    if (rc != 0 || used)
        goto out;
    if (cache)
        tee = ex_cache_begin(cache, b->digest);
    rc = al_blob_reader_open(&(struct al_repo){reg, b->from->ref.registry,
                                                b->from->ref.repo},
                             b->digest, b->size, report_resume, l, &br, e);
    while (rc == 0) {   /* straight into the pipe's ring: no copy between */
        void *space;
        size_t room;
        rc = sink_reserve(out, &space, &room, e);
        if (rc == 0)
            rc = al_blob_reader_read(br, space, room < COPY_CHUNK ? room : COPY_CHUNK, &n, e);
        if (rc != 0 || n == 0)
            break;
        total += (long long)n;
        al_sha256_update(h, space, n);
        if (tee != NULL && ex_cache_write(tee, space, n) != 0) {
            ex_cache_commit(cache, tee, b->digest, 0);   /* a full cache is no error */
            tee = NULL;
        }
        rc = sink_commit(l, out, n, e);
    }
    al_blob_reader_close(br);
    al_sha256_final(h, got);
    ex_cache_commit(cache, tee, b->digest,
                    rc == 0 && total == b->size && strcmp(got, b->digest) == 0);
    if (rc != 0)
        rc = al_err_prefix(e, "blob %s of '%s'", b->digest, b->from->name);
    else if (strcmp(got, b->digest) != 0)
        rc = al_err_set(e, AL_EDIGEST, "blob %s of '%s' from %s: received %lld bytes "
                        "with digest %s", b->digest, b->from->name, b->from->source,
                        total, got);
out:
    if (rc == 0 && out->lane != NULL)
        rc = al_bundle_lane_end(out->lane, e);
    al_sha256_free(h);
    return rc;
}

/* One fetched blob from its pipe into the bundle, written from the pipe's
 * ring as it stands. */
static int write_fetched(struct fetch_list *l, const struct ex_blob *b, struct al_pipe *in,
                         struct al_err *e)
{
    const void *data;
    char name[128];
    size_t n;
    int rc;

    blob_entry_name(b, name, sizeof(name));
    rc = al_bundle_writer_begin_compressed(l->w, name, b->size, ex_blob_precompressed(b), e);
    while (rc == 0) {
        rc = al_pipe_peek(in, &data, &n, e);
        if (rc != 0 || n == 0)
            break;
        rc = al_bundle_writer_write(l->w, data, n, e);
        al_pipe_consume(in, n);
        tick(l, n);
    }
    return rc == 0 ? al_bundle_writer_end(l->w, e) : rc;
}

/* The blobs from the first large one compressed already to the end (the
 * plan puts those last), if the bundle can place them: then they are
 * fetched largest first, so that the largest does not run alone at the end,
 * and *placed describes them in bundle order. l->placed_from is l->n if
 * none are placed. */
struct sized {
    long long size;
    size_t k;
};

static int larger_first(const void *a, const void *b)
{
    const struct sized *x = a, *y = b;

    if (x->size != y->size)
        return x->size < y->size ? 1 : -1;
    return x->k < y->k ? -1 : x->k > y->k;   /* (then in bundle order) */
}

static int plan_placing(struct fetch_list *l, struct al_bundle_placed **placed,
                        char (**names)[128], struct al_err *e)
{
    struct sized *by_size;
    size_t i, k, from = l->n, count;

    *placed = NULL;
    *names = NULL;
    for (k = 0; k < l->n; k++) {
        l->claim[k] = k;
        if (from == l->n && ex_blob_precompressed(&l->plan->v[l->plan_index[k]]) &&
            l->plan->v[l->plan_index[k]].size >= AL_BUNDLE_STORED_MIN)
            from = k;
    }
    l->placed_from = l->n;
    count = l->n - from;
    if (count == 0)
        return 0;
    *placed = calloc(count, sizeof(**placed));
    *names = calloc(count, sizeof(**names));
    if (*placed == NULL || *names == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    for (i = 0; i < count; i++) {
        const struct ex_blob *b = &l->plan->v[l->plan_index[from + i]];
        blob_entry_name(b, (*names)[i], sizeof((*names)[i]));
        (*placed)[i] = (struct al_bundle_placed){(*names)[i], b->size};
    }
    if (!al_bundle_writer_can_place(l->w, *placed, count))
        return 0;
    by_size = calloc(count, sizeof(*by_size));
    if (by_size == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    for (i = 0; i < count; i++)
        by_size[i] = (struct sized){(*placed)[i].size, from + i};
    qsort(by_size, count, sizeof(*by_size), larger_first);
    for (i = 0; i < count; i++)
        l->claim[from + i] = by_size[i].k;
    free(by_size);
    l->placed_from = from;
    return 0;
}

/* What download threads waiting to place a blob learn: whether they can. */
static void set_layout(struct fetch_list *l, int layout)
{
    pthread_mutex_lock(&l->lock);
    if (l->layout == 0)
        l->layout = layout;
    pthread_cond_broadcast(&l->laid_out);
    pthread_mutex_unlock(&l->lock);
}

/* The placed blobs, each written into the bundle by the thread that
 * fetches it; the writer waits until all are there. */
static int write_placed(struct fetch_list *l, struct ex_fetcher *f,
                        const struct al_bundle_placed *placed, struct al_err *e)
{
    int rc = al_bundle_writer_place(l->w, placed, l->n - l->placed_from,
                                    ex_fetch_workers(f), e);   /* a lane a thread */

    set_layout(l, rc == 0 ? 1 : -1);
    if (rc == 0)
        rc = ex_fetch_wait_placed(f, e);
    if (rc == 0)
        rc = al_bundle_writer_place_end(l->w, e);
    return rc;
}

int ex_blobs_write(struct al_bundle_writer *w, const struct ex_plan *plan,
                   const struct ex_blobs_cfg *cfg, size_t *cache_hits, struct al_err *e)
{
    struct fetch_list l = {.cfg = cfg, .plan = plan, .w = w};
    struct al_bundle_placed *placed = NULL;
    char (*names)[128] = NULL;
    struct ex_fetcher *f = NULL;
    char name[128];
    size_t i, k = 0;
    int rc = 0;

    l.plan_index = calloc(plan->n + 1, sizeof(size_t));
    l.claim = calloc(plan->n + 1, sizeof(size_t));
    if (l.plan_index == NULL || l.claim == NULL) {
        free(l.plan_index);
        free(l.claim);
        return al_err_set(e, AL_ENOMEM, "out of memory");
    }
    for (i = 0; i < plan->n; i++) {
        if (plan->v[i].held != NULL)
            continue;
        l.total_bytes += plan->v[i].size;
        if (plan->v[i].kind != AL_BLOB_MANIFEST)
            l.plan_index[l.n++] = i;
    }
    pthread_mutex_init(&l.lock, NULL);
    pthread_cond_init(&l.laid_out, NULL);
    rc = plan_placing(&l, &placed, &names, e);
    if (rc == 0 && l.n > 0) {
        struct ex_fetch_cfg fc = {
            .jobs = cfg->jobs > 0 ? cfg->jobs : 1,
            .pipe_capacity = FETCH_AHEAD,
            .http = cfg->http,
            .reg = cfg->reg,
            .n_items = l.n,
            .n_placed = l.n - l.placed_from,
            .fetch = fetch_blob,
            .ud = &l,
        };
        rc = ex_fetch_start(&f, &fc, e);
    }
    for (i = 0; rc == 0 && i < plan->n; i++) {
        const struct ex_blob *b = &plan->v[i];
        if (b->held != NULL)
            continue;
        if (b->kind != AL_BLOB_MANIFEST && k == l.placed_from && k < l.n) {
            rc = write_placed(&l, f, placed, e);
            k = l.n;
        }
        if (b->kind != AL_BLOB_MANIFEST) {
            if (k >= l.n)   /* placed already */
                continue;
            rc = write_fetched(&l, b, ex_fetch_take(f, k), e);
            if (rc == 0)   /* on failure the thread is still writing: stop it */
                ex_fetch_done(f, k++);
            continue;
        }
        blob_entry_name(b, name, sizeof(name));
        rc = al_bundle_writer_add(w, name, b->data->data, b->data->len, e);
        tick(&l, b->data->len);
    }
    set_layout(&l, -1);   /* (threads still waiting for places give up) */
    if (rc != 0)
        al_bundle_writer_place_cancel(w);
    ex_fetch_stop(f);
    pthread_cond_destroy(&l.laid_out);
    pthread_mutex_destroy(&l.lock);
    free(l.plan_index);
    free(l.claim);
    free(placed);
    free(names);
    *cache_hits = l.cache_hits;
    return rc;
}
