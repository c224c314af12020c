/* airlock-import from start to end: key, bundle, mirror, summary. */
#include "import.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct run {
    const struct im_config *cfg;
    im_report_fn report;
    void *ud;
    struct al_http *http;
    struct al_authfile *auth;
    struct al_registry *reg;
    struct im_pusher *pusher;
    struct im_plan plan;
    struct im_sink sink;   /* what im_read calls: the trampolines */
    struct im_sink inner;  /* the pusher's */
    int sink_failed;       /* the registry side failed, not the bundle */
    struct im_result *res;
    long long total_bytes;
    int last_tenth;
};

/* A line at every tenth of the bytes: enough to see a long import move. */
static void on_progress(void *ud, long long done, size_t blobs_done)
{
    struct run *r = ud;
    int tenth = r->total_bytes > 0 ? (int)(done * 10 / r->total_bytes) : 10;

    if (tenth <= r->last_tenth || tenth >= 10)
        return;
    r->last_tenth = tenth;
    r->report(r->ud, "%d%% verified%s (%zu blobs, %lld of %lld bytes)", tenth * 10,
              r->cfg->verify_only ? "" : " and pushed", blobs_done, done,
              r->total_bytes);
}

/* The pusher's sink, noting whether a failure was the registry's. */
static int tramp_begin(void *ud, size_t blob, struct al_err *e)
{
    struct run *r = ud;
    int rc = r->inner.begin(r->inner.ud, blob, e);

    r->sink_failed |= rc != 0;
    return rc;
}

static int tramp_data(void *ud, const void *p, size_t n, struct al_err *e)
{
    struct run *r = ud;
    int rc = r->inner.data(r->inner.ud, p, n, e);

    r->sink_failed |= rc != 0;
    return rc;
}

static int tramp_end(void *ud, int verified, struct al_err *e)
{
    struct run *r = ud;
    int rc = r->inner.end(r->inner.ud, verified, e);

    r->sink_failed |= rc != 0;
    return rc;
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

    for (i = 0; i < m->n_blobs; i++)
        bytes += m->blobs[i].size;
    r->total_bytes = bytes;
    if (b->key_id[0])
        r->report(r->ud, "bundle %s signed by key %s: %zu images, %zu blobs "
                  "(%lld bytes)", m->id, b->key_id, m->n_images, m->n_blobs, bytes);
    else
        r->report(r->ud, "bundle %s (signature NOT checked): %zu images, %zu blobs "
                  "(%lld bytes)", m->id, m->n_images, m->n_blobs, bytes);
    if (r->cfg->verify_only)
        return 0;
    rc = im_pusher_new(&r->pusher, r->reg, &r->plan, m, e);
    if (rc == 0) {
        im_pusher_sink(r->pusher, &r->inner);
        r->sink = (struct im_sink){tramp_begin, tramp_data, tramp_end, r};
        rc = im_pusher_start(r->pusher, e);
        r->sink_failed = rc != 0;
    }
    return rc;
}

static int setup_registry(struct run *r, struct al_err *e)
{
    struct al_http_opts ho = {.ca_files = r->cfg->ca_files,
                              .n_ca_files = r->cfg->n_ca_files,
                              .certs_d = r->cfg->certs_d,
                              .insecure = r->cfg->insecure,
                              .user_agent = "airlock-import/" AIRLOCK_VERSION};
    int rc = al_http_new(&r->http, &ho, e);

    if (rc == 0)
        rc = al_authfile_load(&r->auth, r->cfg->authfile, e);
    if (rc == 0)
        rc = al_registry_new(&r->reg, r->http, r->auth, e);
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
    res->blobs = b->meta.n_blobs;
    res->blob_bytes = b->blob_bytes;
    snprintf(res->key_id, sizeof(res->key_id), "%s", b->key_id);
    snprintf(res->bundle_id, sizeof(res->bundle_id), "%s", b->meta.id ? b->meta.id : "");
    res->not_carried = b->meta.failed;
    res->n_not_carried = b->meta.n_failed;
    if (r->pusher)
        res->counts = *im_pusher_counts(r->pusher);
}

int im_run(const struct im_config *cfg, struct im_result *res, im_report_fn report,
           im_report_fn warn, void *ud, struct al_err *e)
{
    struct run r = {.cfg = cfg, .report = report, .ud = ud, .res = res};
    struct al_sig_key *key = NULL;
    struct im_read_opts ro = {.path = cfg->bundle, .mirror = cfg->registry,
                              .ready = on_ready, .ready_ud = &r,
                              .progress = on_progress};
    int rc = 0;

    memset(res, 0, sizeof(*res));
    if (cfg->verify_key)
        rc = al_sig_key_load_public(&key, cfg->verify_key, e);
    if (rc == 0 && !cfg->verify_only) {
        rc = setup_registry(&r, e);
        ro.plan = &r.plan;
        ro.sink = &r.sink;   /* filled by on_ready, before the first blob */
    }
    ro.key = key;
    if (rc == 0) {
        rc = im_read(&ro, &res->bundle, e);
        res->bundle_refused = rc != 0 && is_bundle_fault(rc) && !r.sink_failed;
    }
    if (rc == 0 && r.pusher != NULL) {
        r.report(r.ud, "every blob verified; pushing manifests and tags");
        rc = im_pusher_finish(r.pusher, &res->bundle, warn, ud, NULL, e);
    }
    fill_result(&r, &res->bundle);
    if (r.plan.mirror_host)
        res->mirror_host = strdup(r.plan.mirror_host);
    im_pusher_free(r.pusher);
    im_plan_release(&r.plan);
    al_registry_free(r.reg);
    al_authfile_free(r.auth);
    al_http_free(r.http);
    al_sig_key_free(key);
    return rc;
}

void im_result_release(struct im_result *res)
{
    im_bundle_release(&res->bundle);
    free(res->mirror_host);
    memset(res, 0, sizeof(*res));
}
