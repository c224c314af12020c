/* The registry side of an import. Blobs: ask the repositories that need
 * one whether they have it, upload it once (POST, then one PUT carrying the
 * bytes, completed only once they verified), then cross-repository mounts
 * into the rest. Manifests and tags come only after the whole bundle has
 * been verified: children, then untagged roots by digest, and tags last
 * (a tagged root is pushed by its tag), so a damaged bundle never leaves a
 * tag behind.
 *
 * The mirror answers a bounded number of requests a second, so with many
 * small images the requests per image decide the time; each question is
 * asked only where its answer is not already known (see probe_first,
 * SMALL_BLOB and manifest_new).
 *
 * Blobs go to upload threads (--jobs), each with its own connection: the
 * bundle is one stream, but while it flows into one upload the registry
 * can still be committing and mounting the blobs before it. */
#include "import.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/manifest.h"
#include "airlock/pipe.h"
#include "airlock/pool.h"
#include "airlock/registry_push.h"

/* Bytes the reader may run ahead of an upload thread. */
#define UPLOAD_AHEAD (2 * 1024 * 1024)

/* A blob new to its first repository and at most this big is uploaded
 * there and mounted into the others without asking them first. Asking
 * would only spare the upload when another repository had it and the first
 * did not; sending so few bytes again costs about what one request does. */
#define SMALL_BLOB (1024 * 1024)

/* Whether the mirror mounts a blob from a repository into itself (tried
 * once, after the first upload; see test_self_mount). */
enum { MOUNTS_UNKNOWN, MOUNTS_TESTING, MOUNTS_WORK, MOUNTS_REFUSED };

struct im_pusher;

/* A mount of blob `blob` from repository `from` into `to` (indexes into the
 * plan's blob_repos[blob]). */
struct mount_job {
    size_t blob, from, to;
};

/* One thread's side of pushing: its registry client, counts and the blob
 * it is on. The main thread has one too (relied-on blobs, manifests). */
struct uploader {
    struct im_pusher *p;
    struct al_registry *reg;
    struct im_counts counts;
    size_t blob;
    int *present;                /* per repository of the blob */
    size_t n_present_cap;
    struct al_pipe *pipe;        /* upload threads: the blob's bytes, from
                                    the reader */
};

struct im_pusher {
    const struct im_plan *plan;
    const struct al_bundle_meta *meta;
    struct al_http_opts http_opts;
    size_t jobs;
    struct uploader main;
    struct uploader *up;         /* the upload threads' contexts */
    void **up_ctx;               /* the same, as the pool takes them */
    size_t n_up;
    struct al_pool *pool;        /* the upload threads, fed by the reader */
    struct uploader *cur;        /* where the streaming blob goes */
    pthread_mutex_t lock;        /* counts and failed images in the phases */
    struct im_counts counts;     /* the sum, once every thread is idle */
    char *img_failed;            /* per destination */
    unsigned char **absent;      /* per blob, per repository of the plan's
                                    blob_repos: this run found it missing
                                    there (so no manifest naming it can be
                                    there yet) */
    char *root_new;              /* per destination: its root manifest was
                                    pushed as new (so its tag is too) */
    /* Mounts waiting for a thread, under lock. The thread that puts a blob
     * in the mirror queues its mounts into the blob's other repositories.
     * A thread done with its blob takes one, and more while the reader
     * needs no thread for the next blob; after the stream all threads share
     * what is left. One thread mounting a base layer into hundreds of
     * repositories, a request after another, was the import's longest
     * chain while the other threads sat idle at its end. (Threads idle in
     * the pool wait for the reader, not for mounts.) */
    struct mount_job *mq;
    size_t mq_head, mq_len, mq_cap;
    int reader_waits;            /* for an idle upload thread (sink_begin) */
    int stream_ended;            /* the mounts left wait for run_left_mounts */
    int stopping;                /* stop_uploaders: no more mounts */
    int mounts;                  /* MOUNTS_*, under lock */
    pthread_cond_t mounts_known; /* signalled when a test of mounts ends */
    int dry_run;                 /* read the mirror, change nothing */
    al_report_fn dry_report;     /* what a dry run would do to tags */
    void *dry_ud;
};

int im_pusher_new(struct im_pusher **out, struct al_registry *reg,
                  const struct al_http_opts *http_opts, size_t jobs,
                  const struct im_plan *plan, const struct al_bundle_meta *meta,
                  struct al_err *e)
{
    struct im_pusher *p = calloc(1, sizeof(*p));
    size_t i;
    int failed;

    *out = NULL;
    if (p == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->mounts_known, NULL);
    p->plan = plan;
    p->img_failed = calloc(plan->n_dests + 1, 1);
    p->root_new = calloc(plan->n_dests + 1, 1);
    p->absent = calloc(plan->n_blobs + 1, sizeof(*p->absent));
    failed = p->img_failed == NULL || p->root_new == NULL || p->absent == NULL;
    for (i = 0; !failed && i < plan->n_blobs; i++)
        failed = (p->absent[i] = calloc(plan->n_blob_repos[i] + 1, 1)) == NULL;
    if (failed) {
        im_pusher_free(p);
        return al_err_set(e, AL_ENOMEM, "out of memory");
    }
    p->http_opts = *http_opts;
    p->jobs = jobs > 0 ? jobs : 1;
    p->plan = plan;
    p->meta = meta;
    p->main.p = p;
    p->main.reg = reg;
    *out = p;
    return 0;
}

/* One of the pusher's flags that the upload threads read (under lock). */
static void set_flag(struct im_pusher *p, int *flag, int v)
{
    pthread_mutex_lock(&p->lock);
    *flag = v;
    pthread_mutex_unlock(&p->lock);
}

/* Stops the upload threads: what they were on is abandoned (an upload
 * never committed leaves nothing behind in the mirror). */
static void stop_uploaders(struct im_pusher *p)
{
    size_t i;

    if (p->pool == NULL)
        return;
    set_flag(p, &p->stopping, 1);   /* a failed run does not go on mounting */
    al_pool_cancel(p->pool);
    for (i = 0; i < p->n_up; i++)
        if (p->up[i].pipe != NULL)
            al_pipe_cancel(p->up[i].pipe);
    al_pool_free(p->pool);
    p->pool = NULL;
}

void im_pusher_free(struct im_pusher *p)
{
    size_t i;

    if (p == NULL)
        return;
    stop_uploaders(p);
    for (i = 0; i < p->n_up; i++) {
        al_pipe_free(p->up[i].pipe);
        al_registry_free(p->up[i].reg);
        free(p->up[i].present);
    }
    free(p->up);
    free(p->up_ctx);
    free(p->main.present);
    free(p->mq);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->mounts_known);
    for (i = 0; p->absent != NULL && i < p->plan->n_blobs; i++)
        free(p->absent[i]);
    free(p->absent);
    free(p->root_new);
    free(p->img_failed);
    free(p);
}

static void add_counts(struct im_counts *to, const struct im_counts *c)
{
    to->blobs_new += c->blobs_new;
    to->blobs_placed += c->blobs_placed;
    to->blobs_there += c->blobs_there;
    to->blobs_pushed += c->blobs_pushed;
    to->blobs_skipped += c->blobs_skipped;
    to->blobs_mounted += c->blobs_mounted;
    to->bytes_pushed += c->bytes_pushed;
    to->manifests_pushed += c->manifests_pushed;
    to->manifests_skipped += c->manifests_skipped;
    to->tags_pushed += c->tags_pushed;
    to->tags_skipped += c->tags_skipped;
    to->tags_moved += c->tags_moved;
}

static void sum_counts(struct im_pusher *p)
{
    size_t i, done = p->counts.images_done, failed = p->counts.images_failed;

    memset(&p->counts, 0, sizeof(p->counts));
    add_counts(&p->counts, &p->main.counts);
    pthread_mutex_lock(&p->lock);
    for (i = 0; i < p->n_up; i++)
        add_counts(&p->counts, &p->up[i].counts);
    pthread_mutex_unlock(&p->lock);
    p->counts.images_done = done;
    p->counts.images_failed = failed;
}

const struct im_counts *im_pusher_counts(struct im_pusher *p)
{
    stop_uploaders(p);
    sum_counts(p);
    return &p->counts;
}

static int grow_present(struct uploader *u, size_t n, struct al_err *e)
{
    int *grown;

    if (n <= u->n_present_cap)
        return 0;
    grown = realloc(u->present, n * sizeof(int));
    if (grown == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    u->present = grown;
    u->n_present_cap = n;
    return 0;
}

static int copy_within(struct uploader *u, const char *from, const char *to,
                       struct al_err *e);

/* What the mirror's test of mounts found; a test in flight is waited out
 * (one request, once a run): threads asking with HEAD meanwhile would make
 * two requests a blob where one does, as many as they got through. */
static int get_mounts(struct im_pusher *p)
{
    int v;

    pthread_mutex_lock(&p->lock);
    while (p->mounts == MOUNTS_TESTING)
        pthread_cond_wait(&p->mounts_known, &p->lock);
    v = p->mounts;
    pthread_mutex_unlock(&p->lock);
    return v;
}

/* A refusal is final; WORK only ends a test. */
static void set_mounts(struct im_pusher *p, int v)
{
    pthread_mutex_lock(&p->lock);
    if (v == MOUNTS_REFUSED || p->mounts == MOUNTS_TESTING)
        p->mounts = v;
    pthread_cond_broadcast(&p->mounts_known);
    pthread_mutex_unlock(&p->lock);
}

/* Puts blob u->blob, which the mirror has in `from`, into `to`: a
 * cross-repository mount, or a copy within the mirror where it refuses. */
static int mount_or_copy(struct uploader *u, const char *from, const char *to,
                         struct al_err *e)
{
    const struct im_pusher *p = u->p;
    const struct al_repo at = {u->reg, p->plan->mirror_host, to};
    int mounted, rc;

    if (p->dry_run) {   /* counted as the mount it would most likely be */
        u->counts.blobs_mounted++;
        return 0;
    }
    rc = al_registry_blob_mount(&at, p->meta->blobs[u->blob].digest, from, &mounted, e);

    if (rc == 0 && mounted) {
        u->counts.blobs_mounted++;
    } else if (rc == 0) {
        set_mounts(u->p, MOUNTS_REFUSED);
        rc = copy_within(u, from, to, e);
    }
    return rc;
}

/* Where the mirror has relied-on blob `b`: first the repositories that need
 * it, then those the earlier bundle put it in. *where is owned; *at is the
 * index of *where among the plan's repositories for `b` (n_blob_repos when
 * it is an earlier bundle's): every one before it lacks the blob. */
static int find_relied(struct uploader *u, size_t b, char **where, size_t *at,
                       struct al_err *e)
{
    const struct im_pusher *p = u->p;
    const struct al_meta_blob *mb = &p->meta->blobs[b];
    const char *host = p->plan->mirror_host;
    size_t i;
    int rc = 0, exists = 0;

    *where = NULL;
    for (i = 0; rc == 0 && !exists && i < p->plan->n_blob_repos[b]; i++) {
        const struct al_repo r = {u->reg, host, p->plan->blob_repos[b][i]};
        rc = al_registry_blob_exists(&r, mb->digest, &exists, e);
        p->absent[b][i] = rc == 0 && !exists;
        *at = i;
        if (rc == 0 && exists && (*where = strdup(p->plan->blob_repos[b][i])) == NULL)
            rc = al_err_set(e, AL_ENOMEM, "out of memory");
    }
    if (!exists)
        *at = p->plan->n_blob_repos[b];
    for (i = 0; rc == 0 && !exists && i < mb->n_repos; i++) {
        char *repo = im_plan_mirror_repo(p->plan, mb->repos[i]);
        if (repo == NULL)
            return al_err_set(e, AL_ENOMEM, "out of memory");
        rc = al_registry_blob_exists(&(struct al_repo){u->reg, host, repo}, mb->digest,
                                     &exists, e);
        if (rc == 0 && exists)
            *where = repo;
        else
            free(repo);
    }
    return rc;
}

/* Puts relied-on blob `b` (found in `from`, repository `at` of the plan's)
 * into every repository that needs it: those before `at` were asked by
 * find_relied and lack it, so they are mounted into at once; the rest are
 * asked first, so that one that has it is counted as having it. */
static int spread_relied(struct uploader *u, size_t b, const char *from, size_t at,
                         struct al_err *e)
{
    const struct im_pusher *p = u->p;
    char **repos = p->plan->blob_repos[b];
    const char *host = p->plan->mirror_host, *digest = p->meta->blobs[b].digest;
    size_t i;
    int rc = 0, exists = 0;

    u->blob = b;
    for (i = 0; rc == 0 && i < p->plan->n_blob_repos[b]; i++) {
        if (i == at)
            continue;
        if (i > at)
            rc = al_registry_blob_exists(&(struct al_repo){u->reg, host, repos[i]},
                                         digest, &exists, e);
        if (i > at)
            p->absent[b][i] = rc == 0 && !exists;
        if (rc != 0 || (i > at && exists)) {
            u->counts.blobs_skipped += rc == 0;
            continue;
        }
        rc = mount_or_copy(u, from, repos[i], e);
    }
    return rc;
}

/* An increment needs what earlier bundles carried: all of it must already
 * be in the mirror, or nothing is pushed and the missing bundles are named. */
static int check_relied(struct uploader *u, struct al_err *e)
{
    const struct al_bundle_meta *m = u->p->meta;
    char **where = calloc(m->n_blobs + 1, sizeof(char *));
    size_t *at = calloc(m->n_blobs + 1, sizeof(size_t));
    char missing_ids[400] = "";
    size_t i, missing = 0;
    const char *example = NULL;
    int rc = where && at ? 0 : al_err_set(e, AL_ENOMEM, "out of memory");

    for (i = m->n_carried; rc == 0 && i < m->n_blobs; i++) {
        rc = find_relied(u, i, &where[i], &at[i], e);
        if (rc != 0 || where[i] != NULL)
            continue;
        missing++;
        example = example ? example : m->blobs[i].digest;
        if (strstr(missing_ids, m->blobs[i].bundle_id) == NULL &&
            strlen(missing_ids) + strlen(m->blobs[i].bundle_id) + 3 < sizeof(missing_ids))
            snprintf(missing_ids + strlen(missing_ids),
                     sizeof(missing_ids) - strlen(missing_ids), "%s%s",
                     missing_ids[0] ? ", " : "", m->blobs[i].bundle_id);
    }
    if (rc == 0 && missing > 0)
        rc = al_err_set(e, AL_ENOTFOUND, "this bundle is an increment: the mirror lacks "
                        "%zu blobs it relies on (e.g. %s), carried by bundle %s: import "
                        "that first; nothing was pushed", missing, example, missing_ids);
    for (i = m->n_carried; rc == 0 && i < m->n_blobs; i++)
        rc = spread_relied(u, i, where[i], at[i], e);
    for (i = 0; where != NULL && i < m->n_blobs; i++)
        free(where[i]);
    free(where);
    free(at);
    return rc;
}

/* The registry would not mount: copy the blob over from where the mirror
 * already has it, verifying it again on the way. */
static int copy_within(struct uploader *u, const char *from, const char *to,
                       struct al_err *e)
{
    const struct al_meta_blob *b = &u->p->meta->blobs[u->blob];
    const char *host = u->p->plan->mirror_host;
    struct al_blob_reader *br = NULL;
    struct al_blob_upload *up = NULL;
    struct al_sha256 *sha = al_sha256_new();
    char buf[65536], got[AL_DIGEST_STR_MAX];
    size_t n;
    int rc;

    if (sha == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    rc = al_blob_reader_open(&(struct al_repo){u->reg, host, from}, b->digest, b->size,
                             NULL, NULL, &br, e);
    if (rc == AL_ENOTFOUND)   /* we saw it there (HEAD or a commit) */
        al_err_set(e, rc, "the mirror lost blob %s: it had it in '%s' a moment ago and "
                   "now does not (a registry fault; run the import again)", b->digest, from);
    if (rc == 0)
        rc = al_registry_upload_open(&(struct al_repo){u->reg, host, to}, b->digest,
                                     b->size, &up, e);
    while (rc == 0) {
        rc = al_blob_reader_read(br, buf, sizeof(buf), &n, e);
        if (rc != 0 || n == 0)
            break;
        al_sha256_update(sha, buf, n);
        rc = al_registry_upload_write(up, buf, n, e);
    }
    al_sha256_final(sha, got);
    if (rc == 0 && strcmp(got, b->digest) != 0)
        rc = al_err_set(e, AL_EDIGEST, "the mirror's copy of blob %s in '%s' is "
                        "corrupt", b->digest, from);
    if (rc == 0) {   /* only now can the upload's last byte go */
        rc = al_registry_upload_commit(up, e);
        up = NULL;
    }
    al_registry_upload_abort(up);
    al_blob_reader_close(br);
    al_sha256_free(sha);
    if (rc == 0) {
        u->counts.blobs_pushed++;
        u->counts.bytes_pushed += b->size;
    }
    return rc;
}

/* Queues the blob's mounts from the first repository that has it into the
 * rest (see im_pusher.mq). */
static int mount_missing(struct uploader *u, struct al_err *e)
{
    struct im_pusher *p = u->p;
    size_t i, n = p->plan->n_blob_repos[u->blob], from = n;
    int rc = 0;

    for (i = 0; i < n && from == n; i++)
        if (u->present[i])
            from = i;
    pthread_mutex_lock(&p->lock);
    for (i = 0; rc == 0 && from < n && i < n; i++) {
        if (u->present[i])
            continue;
        if (p->mq_len == p->mq_cap) {
            size_t cap = p->mq_cap ? 2 * p->mq_cap : 64;
            struct mount_job *grown = cap <= SIZE_MAX / sizeof(*grown)
                                          ? realloc(p->mq, cap * sizeof(*grown))
                                          : NULL;
            if (grown == NULL) {
                rc = al_err_set(e, AL_ENOMEM, "out of memory");
                break;
            }
            p->mq = grown;
            p->mq_cap = cap;
        }
        p->mq[p->mq_len++] = (struct mount_job){u->blob, from, i};
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

/* The next queued mount while the stream lasts and nothing has failed or
 * stopped; after the `first` of an item's, only while the reader is not
 * waiting for a thread (the stream would stall on mounts). */
static int take_mount(struct im_pusher *p, int first, struct mount_job *job)
{
    int got;

    if (p->pool != NULL && al_pool_failure(p->pool, NULL) != 0)
        return 0;
    pthread_mutex_lock(&p->lock);
    got = !p->stream_ended && !p->stopping && (first || !p->reader_waits) &&
          p->mq_head < p->mq_len;
    if (got)
        *job = p->mq[p->mq_head++];
    if (p->mq_head == p->mq_len)
        p->mq_head = p->mq_len = 0;
    pthread_mutex_unlock(&p->lock);
    return got;
}

static int run_mount(struct uploader *u, const struct mount_job *job, struct al_err *e)
{
    char **repos = u->p->plan->blob_repos[job->blob];

    u->blob = job->blob;
    return mount_or_copy(u, repos[job->from], repos[job->to], e);
}

/* Reads the rest of the blob from the pipe into nowhere; 1 when it ended
 * verified. */
static int drain(struct uploader *u)
{
    char buf[65536];
    size_t n;
    int rc;

    while ((rc = al_pipe_read(u->pipe, buf, sizeof(buf), &n, NULL)) == 0 && n > 0)
        ;
    return rc == 0;
}

/* The blob is in u->present[] of its repositories (`have` of them): no
 * upload; it is mounted where missing once the reader has verified it. */
static int upload_not_needed(struct uploader *u, size_t have, struct al_err *e)
{
    size_t n = u->p->plan->n_blob_repos[u->blob];
    int verified = drain(u);

    u->counts.blobs_skipped += have;
    if (verified && have == n)
        u->counts.blobs_there++;
    else if (verified)
        u->counts.blobs_placed++;
    return verified && n > 0 ? mount_missing(u, e) : 0;
}

/* A dry run asks every repository with HEAD, changes nothing, and counts
 * what the run would do. */
static int dry_run_blob(struct uploader *u, struct al_err *e)
{
    struct im_pusher *p = u->p;
    const struct al_meta_blob *b = &p->meta->blobs[u->blob];
    char **repos = p->plan->blob_repos[u->blob];
    size_t i, n = p->plan->n_blob_repos[u->blob], have = 0;
    int rc = 0, verified;

    for (i = 0; rc == 0 && i < n; i++) {
        rc = al_registry_blob_exists(&(struct al_repo){u->reg, p->plan->mirror_host,
                                                       repos[i]},
                                     b->digest, &u->present[i], e);
        have += rc == 0 && u->present[i];
    }
    if (rc != 0 || n == 0 || have > 0)
        return rc != 0 ? rc : upload_not_needed(u, have, e);
    verified = drain(u);
    u->counts.blobs_new += verified;
    u->counts.blobs_pushed += verified;
    u->counts.bytes_pushed += verified ? b->size : 0;
    u->present[0] = 1;
    return verified ? mount_missing(u, e) : 0;
}

/* Whether the blob's first repository has it (*present). Once the mirror
 * is known to mount a blob from a repository into itself, the question is
 * that mount: 201 says it is there, 202 opens the session (*up) that will
 * carry it, one request where a HEAD and a POST were two. Otherwise HEAD:
 * a mirror that does not mount opens a session whether or not it has the
 * blob, and the blob would be uploaded again. */
static int probe_first(struct uploader *u, struct al_blob_upload **up, int *present,
                       struct al_err *e)
{
    const struct al_meta_blob *b = &u->p->meta->blobs[u->blob];
    const struct al_repo at = {u->reg, u->p->plan->mirror_host,
                               u->p->plan->blob_repos[u->blob][0]};

    *up = NULL;
    if (get_mounts(u->p) == MOUNTS_WORK)
        return al_registry_upload_open_unless_present(&at, b->digest, b->size, up,
                                                      present, e);
    return al_registry_blob_exists(&at, b->digest, present, e);
}

/* After the first upload: does the mirror mount the blob just committed
 * from its repository into that repository (201)? One request a run, after
 * which every blob is asked for by probe_first in one request. A failure
 * here only means asking with HEAD: the next request meets a real one. */
static void test_self_mount(struct uploader *u)
{
    struct im_pusher *p = u->p;
    const char *repo = p->plan->blob_repos[u->blob][0];
    struct al_err ignored;
    int mounted = 0, mine;

    pthread_mutex_lock(&p->lock);
    mine = p->mounts == MOUNTS_UNKNOWN;
    if (mine)
        p->mounts = MOUNTS_TESTING;
    pthread_mutex_unlock(&p->lock);
    if (!mine)
        return;
    al_err_init(&ignored);
    if (al_registry_blob_mount(&(struct al_repo){u->reg, p->plan->mirror_host, repo},
                               p->meta->blobs[u->blob].digest, repo, &mounted,
                               &ignored) != 0)
        mounted = 0;
    set_mounts(p, mounted ? MOUNTS_WORK : MOUNTS_REFUSED);
}

/* The blob's bytes, from the upload thread's pipe straight into the HTTP
 * client's buffer (al_registry_upload_pull): one copy out of the pipe's
 * ring where reading into a buffer of ours and writing it on made three. */
struct pipe_source {
    struct al_pipe *pipe;
    long long left;           /* bytes of the blob not yet given */
    int unverified;           /* the pipe ended other than cleanly */
};

/* The last byte completes the upload's commit: it is given only once the
 * reader has closed the pipe cleanly, which it does when the blob verified
 * (with an error otherwise: the body is then abandoned, never completed). */
static size_t from_pipe(void *ud, char *dst, size_t n)
{
    struct pipe_source *ps = ud;
    size_t got = 0, more = 0;
    char after;

    if (ps->unverified || ps->left <= 0)
        return 0;
    if ((long long)n >= ps->left)
        n = ps->left > 1 ? (size_t)(ps->left - 1) : 1;   /* the last byte alone */
    if (al_pipe_read(ps->pipe, dst, n, &got, NULL) != 0 || got == 0) {
        ps->unverified = 1;
        return 0;
    }
    ps->left -= (long long)got;
    if (ps->left == 0 &&
        (al_pipe_read(ps->pipe, &after, 1, &more, NULL) != 0 || more != 0)) {
        ps->unverified = 1;
        return 0;
    }
    return got;
}

/* The blob from the pipe into the upload `up` (opened here when NULL) of
 * its first repository, committed only when the reader closes the pipe
 * cleanly. It closes it with an error when the bytes were not the
 * digest's: the upload's body is then cut short of its last byte and the
 * session deleted, which is no failure of ours (*committed = 0). */
static int stream_upload(struct uploader *u, struct al_blob_upload *up, int *committed,
                         struct al_err *e)
{
    const struct al_meta_blob *b = &u->p->meta->blobs[u->blob];
    const struct al_repo at = {u->reg, u->p->plan->mirror_host,
                               u->p->plan->blob_repos[u->blob][0]};
    struct pipe_source ps = {u->pipe, b->size, 0};
    char empty;
    size_t got;
    int rc = 0;

    *committed = 0;
    if (up == NULL)
        rc = al_registry_upload_open(&at, b->digest, b->size, &up, e);
    if (rc == 0 && b->size > 0) {
        rc = al_registry_upload_pull(up, from_pipe, &ps, e);
        if (ps.unverified)   /* abandoned and deleted */
            return 0;
        *committed = rc == 0;
        return rc;
    }
    /* an empty blob: its request starts only at the commit, once verified */
    if (rc == 0 && (al_pipe_read(u->pipe, &empty, 1, &got, NULL) != 0 || got != 0)) {
        al_registry_upload_abort(up);
        return 0;
    }
    if (rc == 0)
        rc = al_registry_upload_commit(up, e);
    *committed = rc == 0;
    return rc;
}

/* In an upload thread: blob u->blob from the pipe into the mirror. */
static int upload_blob(struct uploader *u, struct al_err *e)
{
    struct im_pusher *p = u->p;
    const struct al_meta_blob *b = &p->meta->blobs[u->blob];
    char **repos = p->plan->blob_repos[u->blob];
    unsigned char *absent = p->absent[u->blob];
    size_t i, n = p->plan->n_blob_repos[u->blob], have = 0;
    struct al_blob_upload *up = NULL;
    int rc = grow_present(u, n, e), quick, committed;

    if (rc != 0)   /* upload_item cancels the pipe: the reader stops at once */
        return rc;
    if (p->dry_run)
        return dry_run_blob(u, e);
    if (n == 0)
        return upload_not_needed(u, 0, e);
    rc = probe_first(u, &up, &u->present[0], e);
    absent[0] = rc == 0 && !u->present[0];
    /* where mounts are refused, each would be a copy: ask first */
    quick = absent[0] && b->size <= SMALL_BLOB && get_mounts(p) != MOUNTS_REFUSED;
    for (i = 1; rc == 0 && i < n; i++) {
        u->present[i] = 0;   /* quick: not asked, mounted from the first */
        if (quick)
            continue;
        rc = al_registry_blob_exists(&(struct al_repo){u->reg, p->plan->mirror_host,
                                                       repos[i]},
                                     b->digest, &u->present[i], e);
        absent[i] = rc == 0 && !u->present[i];
    }
    for (i = 0; rc == 0 && i < n; i++)
        have += u->present[i] != 0;
    if (rc != 0 || have > 0)
        al_registry_upload_abort(up);   /* a session the probe opened */
    if (rc != 0 || have > 0)
        return rc != 0 ? rc : upload_not_needed(u, have, e);
    rc = stream_upload(u, up, &committed, e);
    if (rc != 0 || !committed)
        return rc;
    u->counts.blobs_new++;
    u->counts.blobs_pushed++;
    u->counts.bytes_pushed += b->size;
    u->present[0] = 1;
    test_self_mount(u);
    return mount_missing(u, e);
}

static int upload_item(void *ud, void *ctx, size_t worker, size_t blob, struct al_err *e)
{
    struct uploader *u = ctx;
    struct mount_job job;
    int rc, first;

    (void)ud;
    (void)worker;
    u->blob = blob;
    rc = upload_blob(u, e);
    for (first = 1; rc == 0 && take_mount(u->p, first, &job); first = 0)
        rc = run_mount(u, &job, e);
    if (rc != 0)   /* the reader may be blocked writing to us */
        al_pipe_cancel(u->pipe);
    return rc;
}

static int start_uploaders(struct im_pusher *p, struct al_err *e)
{
    struct al_pool_cfg pc = {.n_workers = p->jobs, .n_items = AL_POOL_FED,
                             .fn = upload_item, .ud = p};
    size_t i;
    int rc = 0;

    p->up = calloc(p->jobs, sizeof(*p->up));
    p->up_ctx = calloc(p->jobs, sizeof(*p->up_ctx));
    if (p->up == NULL || p->up_ctx == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    p->n_up = p->jobs;
    for (i = 0; rc == 0 && i < p->n_up; i++) {
        struct uploader *u = &p->up[i];
        u->p = p;
        p->up_ctx[i] = u;
        rc = al_registry_clone(&u->reg, p->main.reg, &p->http_opts, e);
        if (rc == 0)
            rc = al_pipe_new(&u->pipe, UPLOAD_AHEAD, e);
    }
    pc.ctx = p->up_ctx;
    if (rc == 0)
        rc = al_pool_start(&p->pool, &pc, e);
    return rc;
}

void im_pusher_set_dry_run(struct im_pusher *p, al_report_fn report, void *ud)
{
    p->dry_run = 1;
    p->dry_report = report;
    p->dry_ud = ud;
}

int im_pusher_start(struct im_pusher *p, struct al_err *e)
{
    int rc;

    al_registry_set_push(p->main.reg, !p->dry_run);
    rc = al_registry_probe(p->main.reg, p->plan->mirror_host, e);
    if (rc == 0 && p->meta->n_blobs > p->meta->n_carried)
        rc = check_relied(&p->main, e);
    if (rc == 0)
        rc = start_uploaders(p, e);   /* after the probe: clones start authenticated */
    return rc;
}

static int sink_begin(void *ud, size_t blob, struct al_err *e)
{
    struct im_pusher *p = ud;
    size_t w = 0;
    int rc;

    set_flag(p, &p->reader_waits, 1);
    rc = p->pool ? al_pool_idle(p->pool, &w, e)
                 : al_err_set(e, AL_EINTR, "the upload threads are not running");
    set_flag(p, &p->reader_waits, 0);
    p->cur = NULL;   /* on failure: data and end then go nowhere */
    if (rc != 0)
        return rc;
    p->cur = &p->up[w];
    al_pipe_reset(p->cur->pipe);   /* before the thread reads from it */
    al_pool_give(p->pool, w, blob);
    return 0;
}

static int sink_data(void *ud, const void *data, size_t n, struct al_err *e)
{
    struct im_pusher *p = ud;
    int rc = p->cur ? al_pipe_write(p->cur->pipe, data, n, NULL) : 0;

    if (rc != 0) {   /* only an upload thread's failure cancels its pipe */
        /* it cancels before the pool records why: wait for the why, or a
         * mirror's refusal would read as an interruption */
        rc = al_pool_wait(p->pool, e);
        if (rc == 0)
            rc = al_err_set(e, AL_EINTR, "the upload stopped");
    }
    return rc;
}

static int sink_end(void *ud, int verified, struct al_err *e)
{
    struct im_pusher *p = ud;
    struct al_err bad;
    int rc;

    al_err_init(&bad);
    if (!verified)
        al_err_set(&bad, AL_EDIGEST, "not verified");
    if (p->cur != NULL)
        al_pipe_close(p->cur->pipe, &bad);
    p->cur = NULL;
    rc = p->pool ? al_pool_failure(p->pool, e) : 0;
    return rc;
}

void im_pusher_sink(struct im_pusher *p, struct im_sink *out)
{
    out->begin = sink_begin;
    out->data = sink_data;
    out->end = sink_end;
    out->ud = p;
}

/* Waits until every upload thread is done with its blob, and with the
 * mount it is on. */
static int wait_uploaders(struct im_pusher *p, struct al_err *e)
{
    set_flag(p, &p->stream_ended, 1);
    return p->pool ? al_pool_wait(p->pool, e) : 0;
}

/* Items 0 .. n_items-1 on every upload thread's client (idle by now), or on
 * the main thread's when there are none. */
static int on_every_client(struct im_pusher *p, size_t n_items, al_pool_fn fn, void *ud,
                           struct al_err *e)
{
    void *main_only[1] = {&p->main};
    struct al_pool_cfg pc = {.n_workers = p->n_up, .ctx = p->up_ctx,
                             .n_items = n_items, .fn = fn, .ud = ud};

    if (p->n_up == 0) {
        pc.n_workers = 1;
        pc.ctx = main_only;
    }
    return al_pool_run(&pc, e);
}

static int left_mount_item(void *ud, void *ctx, size_t worker, size_t i, struct al_err *e)
{
    struct im_pusher *p = ud;

    (void)worker;
    return run_mount(ctx, &p->mq[p->mq_head + i], e);
}

/* After the stream: the mounts no thread took yet, shared by all of them
 * (nothing is queued any more, so the queue needs no lock). */
static int run_left_mounts(struct im_pusher *p, struct al_err *e)
{
    size_t n = p->mq_len - p->mq_head;

    return n > 0 ? on_every_client(p, n, left_mount_item, p, e) : 0;
}

/* Errors after which pushing the next image is pointless. */
static int stops_everything(int code)
{
    return code == AL_ENET || code == AL_ETLS || code == AL_EAUTH || code == AL_EINTR ||
           code == AL_ENOMEM;
}

/* What a dry run would do to a tag: create it, or move it from `had`. */
static void dry_run_note(struct uploader *u, const struct im_dest *d,
                         const char *reference, const char *had, int is_tag)
{
    const struct im_pusher *p = u->p;

    if (!is_tag || p->dry_report == NULL)
        return;
    if (had != NULL)
        p->dry_report(p->dry_ud, "would move tag %s/%s:%s from %s", p->plan->mirror_host,
                      d->repo, reference, had);
    else
        p->dry_report(p->dry_ud, "would create tag %s/%s:%s", p->plan->mirror_host,
                      d->repo, reference);
}

/* Pushes `mf` under `reference` (its digest, or the tag). Unless `is_new`
 * (it cannot be there yet: manifest_new), a HEAD first tells whether the
 * mirror has it under that reference already. */
static int push_manifest(struct uploader *u, const struct im_bundle *b,
                         const struct im_dest *d, const struct al_meta_manifest *mf,
                         const char *reference, int is_new, struct al_err *e)
{
    const struct im_manifest *data = &b->manifests[mf->blob];
    const char *host = u->p->plan->mirror_host;
    const struct al_repo at = {u->reg, host, d->repo};
    char have[AL_DIGEST_STR_MAX] = "";
    int exists = 0, rc = 0, is_tag = strcmp(reference, mf->digest) != 0;

    if (!is_new)
        rc = al_registry_manifest_head(&at, reference, have, &exists, e);
    if (rc == 0 && exists && (!is_tag || strcmp(have, mf->digest) == 0)) {
        if (is_tag)
            u->counts.tags_skipped++;
        else
            u->counts.manifests_skipped++;
        return 0;
    }
    if (rc == 0 && u->p->dry_run)
        dry_run_note(u, d, reference, exists ? have : NULL, is_tag);
    else if (rc == 0)
        rc = al_registry_put_manifest(&at, reference, mf->media_type, data->data,
                                      data->len, e);
    if (rc == 0 && is_tag && exists)
        u->counts.tags_moved++;
    if (rc == 0 && is_tag)
        u->counts.tags_pushed++;
    else if (rc == 0)
        u->counts.manifests_pushed++;
    return rc;
}

/* Whether blob `digest` of destination d's image was found missing in d's
 * repository by this run. */
static int blob_was_absent(const struct im_pusher *p, const struct im_dest *d,
                           const char *digest)
{
    size_t j, bi;

    for (j = 0; j < d->img->n_blobs; j++) {
        bi = d->img->blobs[j];
        if (strcmp(p->meta->blobs[bi].digest, digest) == 0)
            return p->absent[bi][d->blob_slot[j]];
    }
    return 0;
}

/* Whether manifest k of destination d cannot be in d's repository yet, so
 * that its PUT needs no HEAD first: a blob it names was missing there when
 * this run asked (a registry takes a manifest only once its blobs are in
 * the repository), or it is an index naming a child that is new there.
 * `fresh` has the answers for the manifests before k (children come
 * first). A dry run asks (it reports tags that would move), and so do
 * destinations that share a repository (each may push the other's
 * manifests). Where in doubt, the answer is no: a HEAD too many. */
static int manifest_new(const struct im_pusher *p, const struct im_bundle *b,
                        const struct im_dest *d, size_t k, const char *fresh)
{
    const struct al_meta_manifest *mf = &d->img->manifests[k];
    const struct im_manifest *data = &b->manifests[mf->blob];
    struct al_manifest m;
    size_t i, j;
    int is_new = 0;

    if (p->dry_run || d->repo_shared || data->data == NULL ||
        al_manifest_parse(data->data, data->len, mf->media_type, "manifest", &m,
                          NULL) != 0)
        return 0;
    if (m.kind == AL_MANIFEST_IMAGE) {
        is_new = blob_was_absent(p, d, m.config.digest);
        for (i = 0; !is_new && i < m.n_layers; i++)
            is_new = blob_was_absent(p, d, m.layers[i].digest);
    }
    for (i = 0; m.kind == AL_MANIFEST_INDEX && !is_new && i < m.n_children; i++)
        for (j = 0; j < k; j++)
            if (fresh[j] && strcmp(d->img->manifests[j].digest, m.children[i].digest) == 0)
                is_new = 1;
    al_manifest_release(&m);
    return is_new;
}

static int push_image_manifests(struct uploader *u, const struct im_bundle *b,
                                const struct im_dest *d, struct al_err *e)
{
    size_t i, n = d->img->n_manifests;
    char *fresh = calloc(n + 1, 1);
    int rc = fresh ? 0 : al_err_set(e, AL_ENOMEM, "out of memory");

    for (i = 0; rc == 0 && i < n; i++) {
        fresh[i] = (char)manifest_new(u->p, b, d, i, fresh);
        if (i == n - 1 && d->img->tag != NULL)
            break;   /* a tagged root goes with its tag (push_tag) */
        rc = push_manifest(u, b, d, &d->img->manifests[i], d->img->manifests[i].digest,
                           fresh[i], e);
    }
    /* each destination is one thread's; the tag phase reads it after all */
    if (rc == 0 && n > 0)
        u->p->root_new[d - u->p->plan->dests] = fresh[n - 1];
    free(fresh);
    return rc;
}

/* A tagged root manifest is pushed once, by its tag: the PUT stores the
 * manifest under its digest too, and a PUT by digest first was one request
 * an image for nothing (the bundle has verified before the first manifest
 * goes, and a manifest the mirror refuses fails its image in either phase).
 * A root new to the repository cannot be what its tag names: the tag is
 * pushed without asking. The root is counted among the manifests too. */
static int push_tag(struct uploader *u, const struct im_bundle *b,
                    const struct im_dest *d, struct al_err *e)
{
    const struct al_meta_manifest *root = &d->img->manifests[d->img->n_manifests - 1];
    size_t skipped = u->counts.tags_skipped;
    int rc;

    if (d->img->tag == NULL)
        return 0;
    rc = push_manifest(u, b, d, root, d->img->tag,
                       u->p->root_new[d - u->p->plan->dests], e);
    if (rc == 0 && u->counts.tags_skipped > skipped)
        u->counts.manifests_skipped++;
    else if (rc == 0)
        u->counts.manifests_pushed++;
    return rc;
}

typedef int (*phase_step)(struct uploader *, const struct im_bundle *,
                          const struct im_dest *, struct al_err *);

/* One phase (manifests, or tags) over every destination still standing,
 * on the upload threads' clients (idle by now): images are independent,
 * and a mirror far away costs two round trips a manifest. */
struct phase {
    struct im_pusher *p;
    const struct im_bundle *b;
    phase_step step;
    al_report_fn report;
    void *ud;
};

/* A failure of one image is counted and reported and the phase goes on;
 * only what stops everything stops the pool. */
static int phase_item(void *ud, void *ctx, size_t worker, size_t i, struct al_err *e)
{
    struct phase *ph = ud;
    struct im_pusher *p = ph->p;
    char *name;
    int rc;

    (void)worker;
    if (p->plan->dests[i].duplicate || p->img_failed[i])
        return 0;
    rc = ph->step(ctx, ph->b, &p->plan->dests[i], e);
    if (rc == 0 || stops_everything(rc))
        return rc;
    pthread_mutex_lock(&p->lock);
    p->img_failed[i] = 1;
    p->counts.images_failed++;
    pthread_mutex_unlock(&p->lock);
    name = im_dest_name(p->plan, &p->plan->dests[i]);
    ph->report(ph->ud, "cannot push '%s' to '%s': %s", p->plan->dests[i].img->name,
               name ? name : "?", e->msg);
    free(name);
    return 0;
}

static int each_image(struct im_pusher *p, const struct im_bundle *b, phase_step step,
                      al_report_fn report, void *ud, struct al_err *e)
{
    struct phase ph = {.p = p, .b = b, .step = step, .report = report, .ud = ud};

    return on_every_client(p, p->plan->n_dests, phase_item, &ph, e);
}

int im_pusher_finish(struct im_pusher *p, const struct im_bundle *b,
                     al_report_fn report, void *ud, struct al_err *e)
{
    size_t i;
    int rc = wait_uploaders(p, e);

    if (rc == 0)
        rc = run_left_mounts(p, e);
    sum_counts(p);
    if (rc == 0)
        rc = each_image(p, b, push_image_manifests, report, ud, e);

    if (rc == 0)
        rc = each_image(p, b, push_tag, report, ud, e);
    for (i = 0; rc == 0 && i < p->plan->n_dests; i++)
        if (!p->plan->dests[i].duplicate && !p->img_failed[i])
            p->counts.images_done++;
    sum_counts(p);
    return rc;
}

int im_pusher_dest_failed(const struct im_pusher *p, size_t i)
{
    return p->img_failed[i] != 0;
}
