/* airlock-import from start to end: key, bundle, mirror, summary. */
#include "import.h"

#include "airlock/kube.h"
#include "airlock/kubeconfig.h"
#include "airlock/registry_push.h"
#include "cluster.h"
#include "mirrorset.h"

#include <errno.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct run {
    const struct im_config *cfg;
    al_report_fn report;
    al_report_fn warn;     /* shown even with -q */
    void *ud;
    struct al_http *http;
    struct al_http_opts http_opts;   /* upload threads open their own */
    struct al_authfile *auth;
    struct al_registry *reg;
    struct im_pusher *pusher;
    struct im_plan plan;
    struct im_sink sink;   /* the pusher's, filled by on_ready */
    struct im_result *res;
    long long total_bytes;
    int last_tenth;
    struct timespec last_tick;
    struct al_kube_creds creds;
    int have_creds;
    struct al_sig_key *receipt_key;   /* --receipt-key, loaded before the push */
};

/* On a terminal, the caller's progress line, at most 4 times a second. */
static void tick(struct run *r, long long done)
{
    struct timespec now;
    long long ms;

    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (now.tv_sec - r->last_tick.tv_sec) * 1000 +
         (now.tv_nsec - r->last_tick.tv_nsec) / 1000000;
    if (ms < 250 && done < r->total_bytes)
        return;
    r->last_tick = now;
    r->cfg->progress(r->cfg->progress_ud, done, r->total_bytes);
}

/* A line at every tenth of the bytes: enough to see a long import move. */
static void on_progress(void *ud, long long done, size_t blobs_done)
{
    struct run *r = ud;
    int tenth = r->total_bytes > 0 ? (int)(done * 10 / r->total_bytes) : 10;

    if (r->cfg->progress != NULL) {
        tick(r, done);
        return;
    }

    if (tenth <= r->last_tenth || tenth >= 10)
        return;
    r->last_tenth = tenth;
    r->report(r->ud, "%d%% verified%s (%zu blobs, %lld of %lld bytes)", tenth * 10,
              r->cfg->verify_only || r->cfg->dry_run ? "" : " and pushed", blobs_done, done,
              r->total_bytes);
}

/* Called by im_read once bundle.json is trusted: only now may the mirror
 * see traffic. */
static int on_ready(void *ud, struct im_bundle *b, struct al_err *e)
{
    struct run *r = ud;
    const struct al_bundle_meta *m = &b->meta;
    long long bytes = 0;
    size_t i;
    int rc;

    for (i = 0; i < m->n_carried; i++)
        bytes += m->blobs[i].size;
    r->total_bytes = bytes;
    if (b->key_id[0])
        r->report(r->ud, "bundle %s signed by key %s: %zu images, %zu blobs "
                  "(%lld bytes)", m->id, b->key_id, m->n_images, m->n_carried, bytes);
    else
        r->report(r->ud, "bundle %s (signature NOT checked): %zu images, %zu blobs "
                  "(%lld bytes)", m->id, m->n_images, m->n_carried, bytes);
    if (m->n_blobs > m->n_carried)
        r->report(r->ud, "an increment: it relies on %zu blobs of earlier bundles",
                  m->n_blobs - m->n_carried);
    if (m->samples_image != NULL)
        r->report(r->ud, "samples from the release: %lld imagestreams (%lld tags) for %s, "
                  "read from '%s'", m->samples_streams, m->samples_tags,
                  m->samples_arch ? m->samples_arch : "?", m->samples_image);
    if (r->cfg->verify_only)
        return 0;
    /* before anything is pushed: would this move the mirror's tags back? */
    al_registry_set_push(r->reg, 1);
    rc = im_state_check(r->reg, &r->plan, b, r->cfg->allow_rollback, r->report, r->ud, e);
    if (rc != 0)
        return rc;
    rc = im_pusher_new(&r->pusher, r->reg, &r->http_opts,
                      (size_t)(r->cfg->jobs > 0 ? r->cfg->jobs : 1), &r->plan, m, e);
    if (rc == 0 && r->cfg->dry_run)
        im_pusher_set_dry_run(r->pusher, r->report, r->ud);
    if (rc == 0) {
        im_pusher_sink(r->pusher, &r->sink);
        rc = im_pusher_start(r->pusher, e);
    }
    return rc;
}

static int setup_registry(struct run *r, struct al_err *e)
{
    struct al_http_opts *ho = &r->http_opts;
    int rc;

    ho->ca_files = r->cfg->ca_files;
    ho->n_ca_files = r->cfg->n_ca_files;
    ho->certs_d = r->cfg->certs_d;
    ho->insecure = r->cfg->insecure;
    ho->stall_timeout_s = r->cfg->timeout_s;
    ho->user_agent = "airlock-import/" AIRLOCK_VERSION;
    ho->trace = r->cfg->trace;
    rc = al_http_new(&r->http, ho, e);

    if (rc == 0)
        rc = al_authfile_load(&r->auth, r->cfg->authfile, e);
    if (rc == 0)
        rc = al_registry_new(&r->reg, r->http, r->auth, e);
    if (rc == 0 && r->cfg->retries >= 0)
        al_registry_set_retries(r->reg, r->cfg->retries, 500);
    return rc;
}

/* Errors that mean "this bundle must not be used" rather than "try again". */
static int is_bundle_fault(int code)
{
    return code == AL_EINVAL || code == AL_EDIGEST || code == AL_ESIG ||
           code == AL_ETOOBIG || code == AL_EUNSUPPORTED;
}

static void fill_result(struct run *r, struct im_bundle *b)
{
    struct im_result *res = r->res;

    res->images = b->meta.n_images;
    res->blobs = b->meta.n_carried;
    res->blob_bytes = b->blob_bytes;
    snprintf(res->key_id, sizeof(res->key_id), "%s", b->key_id);
    snprintf(res->bundle_id, sizeof(res->bundle_id), "%s", b->meta.id ? b->meta.id : "");
    res->not_carried = b->meta.failed;
    res->n_not_carried = b->meta.n_failed;
    if (r->pusher)
        res->counts = *im_pusher_counts(r->pusher);
}

/* Cluster credentials (or the --manifests-dir) are checked before the push,
 * so that a broken kubeconfig is reported before an hour of uploading rather
 * than after. */
static int find_cluster(struct run *r, struct al_err *e)
{
    const struct im_config *cfg = r->cfg;
    int rc;

    if (cfg->manifests_dir && !cfg->verify_only)
        return im_cluster_check_manifests_dir(cfg->manifests_dir, e);
    if (cfg->verify_only || cfg->skip_cluster)
        return 0;
    rc = al_kubeconfig_load(&r->creds, cfg->kubeconfig, cfg->context, e);
    if (rc == AL_ENOTFOUND && cfg->kubeconfig == NULL && cfg->context == NULL) {
        al_err_init(e);
        rc = al_kube_in_cluster(&r->creds, cfg->sa_dir, e);
        if (rc == AL_ENOTFOUND) {
            /* (a warning, which -q leaves: a run that leaves the cluster
             * as it was must not pass for one that configured it) */
            r->warn(r->ud, "warning: no kubeconfig and not in a pod: the images will be "
                    "pushed but the cluster not configured (--kubeconfig to "
                    "configure it, --skip-cluster to say so)");
            al_err_init(e);
            return 0;
        }
    }
    r->have_creds = rc == 0;
    return rc;
}

/* Whether the imagestream of `tag` ("<imagestream>:<tag>") is among v[0..n). */
static int has_stream(const char *const *v, size_t n, const char *tag)
{
    size_t len = strcspn(tag, ":"), i;

    for (i = 0; i < n; i++)
        if (strlen(v[i]) == len && strncmp(v[i], tag, len) == 0)
            return 1;
    return 0;
}

/* Adds the imagestream of `tag` to *v unless it is there. */
static int add_stream(const char ***v, size_t *n, const char *tag)
{
    char *name;
    const char **grown;

    if (has_stream(*v, *n, tag))
        return 0;
    name = strndup(tag, strcspn(tag, ":"));
    grown = realloc(*v, (*n + 1) * sizeof(char *));
    if (name == NULL || grown == NULL) {
        free(name);
        if (grown)
            *v = grown;
        return -1;
    }
    grown[(*n)++] = name;
    *v = grown;
    return 0;
}

/* Imagestreams with a tag the mirror lacks: what the export could not
 * carry and what this run could not push. */
static int skipped_streams(struct run *r, const char ***v, size_t *n)
{
    const struct al_bundle_meta *m = &r->res->bundle.meta;
    size_t i, j;

    for (i = 0; i < m->n_failed; i++)
        for (j = 0; j < m->failed[i].n_tags; j++)
            if (add_stream(v, n, m->failed[i].tags[j]) != 0)
                return -1;
    for (i = 0; i < r->plan.n_dests; i++)
        if (im_pusher_dest_failed(r->pusher, i))
            for (j = 0; j < r->plan.dests[i].img->n_tags; j++)
                if (add_stream(v, n, r->plan.dests[i].img->tags[j]) != 0)
                    return -1;
    return 0;
}

/* Imagestreams every tag of which landed in this run (none of them in
 * `skipped`). */
static int landed_streams(struct run *r, const char *const *skipped, size_t n_skipped,
                          const char ***v, size_t *n)
{
    size_t i, j;

    for (i = 0; i < r->plan.n_dests; i++) {
        const struct al_meta_image *img = r->plan.dests[i].img;
        if (im_pusher_dest_failed(r->pusher, i))
            continue;
        for (j = 0; j < img->n_tags; j++)
            if (!has_stream(skipped, n_skipped, img->tags[j]) &&
                add_stream(v, n, img->tags[j]) != 0)
                return -1;
    }
    return 0;
}

static char *must_gather_dest(struct run *r)
{
    size_t i;

    for (i = 0; i < r->plan.n_dests; i++)
        if (strcmp(r->plan.dests[i].img->role, "must-gather") == 0 &&
            !im_pusher_dest_failed(r->pusher, i))
            return im_dest_name(&r->plan, &r->plan.dests[i]);
    return NULL;
}

static int configure_cluster(struct run *r, struct al_err *e)
{
    const struct im_config *cfg = r->cfg;
    struct im_cluster_opts co = {.mirror_host = r->plan.mirror_host,
                                 .dry_run = cfg->dry_run,
                                 .apply_mirror_sets = cfg->apply_mirror_sets};
    struct im_mirrors mirrors = {0};
    const char **skipped = NULL, **landed = NULL;
    size_t n_skipped = 0, n_landed = 0, i;
    char *ca = NULL, *mg = NULL, *samples_registry = strdup(cfg->registry);
    struct al_kube *k = NULL;
    int rc = samples_registry && skipped_streams(r, &skipped, &n_skipped) == 0 &&
                     landed_streams(r, skipped, n_skipped, &landed, &n_landed) == 0
                 ? 0 : al_err_set(e, AL_ENOMEM, "out of memory");

    if (rc == 0)   /* the CA the push trusted the mirror with, certificates only */
        rc = al_http_trusted_pem(cfg->ca_files, cfg->n_ca_files, cfg->certs_d,
                                 r->plan.mirror_host, &ca, e);
    if (rc == 0)
        rc = im_mirrors_from_plan(&mirrors, &r->plan, r->pusher, e);
    co.mirrors = &mirrors;
    if (rc == 0) {
        size_t n = strlen(samples_registry);
        while (n > 0 && samples_registry[n - 1] == '/')
            samples_registry[--n] = '\0';
        mg = must_gather_dest(r);
        co.samples_registry = samples_registry;
        co.ca_pem = ca;
        co.skipped = skipped;
        co.n_skipped = n_skipped;
        co.landed = landed;
        co.n_landed = n_landed;
        co.must_gather = mg;
    }
    if (rc == 0 && cfg->manifests_dir) {
        rc = im_cluster_write_manifests(cfg->manifests_dir, &co, e);
        if (rc == 0)
            r->report(r->ud, "wrote the cluster objects and apply.sh to '%s' (no cluster "
                      "was touched)", cfg->manifests_dir);
    } else if (rc == 0) {
        r->report(r->ud, "configuring the cluster at %s (context %s)%s", r->creds.server,
                  r->creds.context, cfg->dry_run ? ", dry run" : "");
        if (r->creds.insecure)
            r->warn(r->ud, "warning: the apiserver %s is NOT verified "
                    "(insecure-skip-tls-verify in the kubeconfig): anyone on the network "
                    "path can pose as it and take the credentials; give its CA as "
                    "certificate-authority instead", r->creds.server);
        rc = al_kube_new(&k, &r->creds, cfg->timeout_s, e);
        if (rc == 0 && cfg->retries >= 0)
            al_kube_set_retries(k, cfg->retries);
        if (rc == 0)
            rc = im_cluster_apply(k, &co, r->report, r->ud, e);
    }
    r->res->cluster_done = rc == 0;
    r->res->cluster_failed = rc != 0;
    al_kube_free(k);
    im_mirrors_release(&mirrors);
    for (i = 0; i < n_skipped; i++)
        free((void *)(uintptr_t)skipped[i]);
    for (i = 0; i < n_landed; i++)
        free((void *)(uintptr_t)landed[i]);
    free(landed);
    free(skipped);
    free(ca);
    free(mg);
    free(samples_registry);
    return rc;
}

/* The receipt's key and directory, checked before the push: a mistyped
 * key or a read-only stick must not be found after an hour of uploading. */
static int prepare_receipt(struct run *r, struct al_err *e)
{
    char *dir_copy;
    const char *dir;
    int rc = 0;

    if (r->cfg->receipt_key)
        rc = al_sig_key_load_private(&r->receipt_key, r->cfg->receipt_key, e);
    if (rc != 0 || r->cfg->receipt == NULL)
        return rc;
    dir_copy = strdup(r->cfg->receipt);
    if (dir_copy == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    dir = dirname(dir_copy);
    if (access(dir, W_OK | X_OK) != 0)
        rc = al_err_sys(e, AL_EIO, errno, "cannot write the receipt '%s' into '%s' (give "
                        "--receipt a writable place; nothing was pushed)", r->cfg->receipt,
                        dir);
    free(dir_copy);
    return rc;
}

static int write_receipt(struct run *r, struct al_err *e)
{
    int rc = im_receipt_write(r->cfg->receipt, r->receipt_key, &r->plan, r->pusher,
                              &r->res->bundle.meta, e);

    if (rc == 0)
        r->report(r->ud, "wrote the receipt '%s'%s", r->cfg->receipt,
                  r->receipt_key ? " (signed)" : "");
    return rc;
}

int im_run(const struct im_config *cfg, struct im_result *res, al_report_fn report,
           al_report_fn warn, void *ud, struct al_err *e)
{
    struct run r = {.cfg = cfg, .report = report, .warn = warn, .ud = ud, .res = res};
    struct timespec t0, t1;
    struct al_sig_key *key = NULL;
    struct im_read_opts ro = {.path = cfg->bundle, .mirror = cfg->registry,
                              .ready = on_ready, .ready_ud = &r,
                              .progress = on_progress};
    int rc = 0;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    memset(res, 0, sizeof(*res));
    if (cfg->verify_key)
        rc = al_sig_key_load_public(&key, cfg->verify_key, e);
    if (rc == 0)
        rc = find_cluster(&r, e);
    if (rc == 0 && !cfg->verify_only)
        rc = prepare_receipt(&r, e);
    if (rc == 0 && !cfg->verify_only) {
        rc = setup_registry(&r, e);
        ro.plan = &r.plan;
        ro.sink = &r.sink;   /* filled by on_ready, before the first blob */
    }
    ro.key = key;
    if (rc == 0) {
        rc = im_read(&ro, &res->bundle, e);
        res->bundle_refused = rc != 0 && is_bundle_fault(rc) && !res->bundle.sink_failed;
    }
    if (rc == 0 && r.pusher != NULL) {
        r.report(r.ud, cfg->dry_run ? "every blob verified; reading the mirror's "
                 "manifests and tags (dry run: nothing is pushed)" :
                 "every blob verified; pushing manifests and tags");
        rc = im_pusher_finish(r.pusher, &res->bundle, warn, ud, e);
    }
    if (rc == 0 && r.pusher != NULL && !cfg->dry_run)   /* a dry run writes nothing */
        rc = im_state_record(r.reg, &r.plan, &res->bundle, r.report, r.ud, e);
    if (rc == 0 && r.pusher != NULL && cfg->receipt)
        rc = write_receipt(&r, e);
    if (rc == 0 && r.pusher != NULL && (r.have_creds || cfg->manifests_dir))
        rc = configure_cluster(&r, e);
    fill_result(&r, &res->bundle);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    res->seconds = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (r.plan.mirror_host)
        res->mirror_host = strdup(r.plan.mirror_host);
    im_pusher_free(r.pusher);
    im_plan_release(&r.plan);
    al_registry_free(r.reg);
    al_authfile_free(r.auth);
    al_http_free(r.http);
    al_sig_key_free(key);
    al_sig_key_free(r.receipt_key);
    al_kube_creds_release(&r.creds);
    return rc;
}

void im_result_release(struct im_result *res)
{
    im_bundle_release(&res->bundle);
    free(res->mirror_host);
    memset(res, 0, sizeof(*res));
}
