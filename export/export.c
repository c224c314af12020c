/* Orchestration: inputs -> resolve every manifest -> plan unique blobs ->
 * signed bundle.json -> stream every blob through SHA-256 into the tar. */
#include "export.h"
#include "blobs.h"
#include "cache.h"
#include "metadata.h"
#include "plan.h"
#include "release.h"
#include "resolve.h"
#include "since.h"

#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <libgen.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <time.h>

#include "airlock/auth.h"
#include "airlock/bundle.h"
#include "airlock/http.h"
#include "airlock/lock.h"
#include "airlock/manifest.h"
#include "airlock/meta.h"
#include "airlock/parts.h"
#include "airlock/sign.h"

struct run {
    const struct ex_config *cfg;
    al_report_fn report;
    void *ud;
    struct al_http *http;
    struct al_http_opts http_opts;   /* download threads open their own */
    struct al_authfile *auth;
    struct al_registry *reg;
    struct al_sig_key *key;
    struct al_bundle_writer *w;
    struct al_lock *lock;
    struct ex_images images;
    struct ex_plan plan;
    struct ex_held held;
    struct ex_cache *cache;
    size_t cache_hits;
    time_t created;
    char id[33];
    struct ex_release release;
};

static struct al_bundle_writer *volatile g_writer;
/* the partial names while the commit reads them back and renames them (the
 * writer is freed by the commit, so its own list cannot be used then) */
static char **volatile g_committing;
static volatile size_t g_n_committing;

const char *const *ex_partial_paths(size_t *n)
{
    struct al_bundle_writer *w = g_writer;
    char **committing = g_committing;

    *n = 0;
    if (w != NULL)
        return al_bundle_writer_partials(w, n);
    if (committing != NULL) {
        *n = g_n_committing;
        return (const char *const *)committing;
    }
    return NULL;
}

/* Copies the writer's partial names for ex_partial_paths during the commit;
 * NULL when out of memory (a signal then leaves them to the next run). */
static char **hold_partials(struct al_bundle_writer *w, size_t *n)
{
    const char *const *names = al_bundle_writer_partials(w, n);
    char **copy = calloc(*n + 1, sizeof(*copy));
    size_t i;

    for (i = 0; copy != NULL && i < *n; i++)
        if ((copy[i] = strdup(names[i])) == NULL) {
            while (i > 0)
                free(copy[--i]);
            free(copy);
            copy = NULL;
        }
    return copy;
}

static void release_partials(char **names, size_t n)
{
    size_t i;

    g_committing = NULL;
    g_n_committing = 0;
    for (i = 0; names != NULL && i < n; i++)
        free(names[i]);
    free(names);
}

/* bundle.json, its signature, and the OCI layout files. */
static int write_metadata(struct run *r, struct al_err *e)
{
    static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
    struct al_bundle_meta model;
    char *meta = NULL, *index = NULL;
    struct al_buf sig;
    struct ex_metadata_src src = {.id = r->id, .created = r->created,
                                  .images = &r->images, .plan = &r->plan,
                                  .release = r->cfg->release ? &r->release : NULL};
    int rc = ex_metadata_model(&src, &model, e);

    al_buf_init(&sig, 64 * 1024);
    if (rc == 0)
        rc = al_bundle_meta_write(&model, &meta, e);
    if (rc == 0)
        rc = al_bundle_meta_layout_index(&model, &index, e);
    al_bundle_meta_release(&model);
    if (rc == 0)
        rc = al_sig_sign(r->key, meta, strlen(meta), &sig, e);
    if (rc == 0)
        rc = al_bundle_writer_add(r->w, AL_BUNDLE_META, meta, strlen(meta), e);
    if (rc == 0)
        rc = al_bundle_writer_add(r->w, AL_BUNDLE_SIG, sig.data, sig.len, e);
    if (rc == 0)
        rc = al_bundle_writer_add(r->w, "oci-layout", layout, sizeof(layout) - 1, e);
    if (rc == 0)
        rc = al_bundle_writer_add(r->w, "index.json", index, strlen(index), e);
    al_buf_release(&sig);
    free(meta);
    free(index);
    return rc;
}

static int open_clients(struct run *r, struct al_err *e)
{
    const struct ex_config *c = r->cfg;
    struct al_http_opts *o = &r->http_opts;
    size_t i;
    int rc;

    o->ca_files = c->ca_files;
    o->n_ca_files = c->n_ca_files;
    o->certs_d = c->certs_d;
    o->insecure = c->insecure;
    o->stall_timeout_s = c->timeout_s;
    o->user_agent = "airlock-export/" AIRLOCK_VERSION;
    o->trace = c->trace;
    rc = al_authfile_load(&r->auth, c->authfile, e);
    if (rc == 0)
        rc = al_http_new(&r->http, o, e);
    if (rc == 0)
        rc = al_registry_new(&r->reg, r->http, r->auth, e);
    if (rc == 0 && c->retries >= 0)
        al_registry_set_retries(r->reg, c->retries, 500);
    for (i = 0; rc == 0 && i < c->n_pull_from; i++)
        rc = al_registry_add_mapping(r->reg, c->pull_from[i], e);
    return rc;
}

static int new_bundle_id(char id[33], struct al_err *e)
{
    unsigned char raw[16];
    size_t i;

    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return al_err_set(e, AL_EIO, "cannot get random bytes for the bundle id");
    for (i = 0; i < sizeof(raw); i++)
        snprintf(id + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

static void remove_parts(const struct al_bundle_parts *p)
{
    size_t i;

    for (i = 0; i < p->n; i++)
        unlink(p->v[i].name);
}

/* FILE.parts (+ .sig): what each volume holds, so that each can be checked
 * on its own and a bad one named. */
static int write_parts_list(struct run *r, struct ex_result *res, struct al_err *e)
{
    size_t n = strlen(r->cfg->output) + 16;
    char *path = malloc(n);
    int rc;

    if (path == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    snprintf(path, n, "%s.parts", r->cfg->output);
    rc = al_parts_list_write(path, r->id, &res->parts, r->key, e);
    if (rc == 0)
        res->parts_list = path;
    else
        free(path);
    return rc;
}

void ex_result_release(struct ex_result *res)
{
    al_bundle_parts_release(&res->parts);
    free(res->parts_list);
    free(res->json);
    free(res->output_dir);
    res->parts_list = NULL;
    res->json = NULL;
    res->output_dir = NULL;
}

/* -o before anything is fetched: a file name in a directory we can write. */
static int check_output(const char *output, struct ex_result *res, struct al_err *e)
{
    char *copy = strdup(output), *dir;
    struct stat st;
    int rc = 0;

    if (copy == NULL || (res->output_dir = strdup(dirname(copy))) == NULL) {
        free(copy);
        return al_err_set(e, AL_ENOMEM, "out of memory");
    }
    free(copy);
    dir = res->output_dir;
    if (stat(output, &st) == 0 && S_ISDIR(st.st_mode))
        rc = al_err_set(e, AL_EINVAL, "-o '%s' is a directory: give the bundle's file "
                        "name, e.g. '%s/bundle.tar.zst'", output, output);
    else if (stat(dir, &st) != 0 && errno == ENOENT)
        rc = al_err_set(e, AL_EIO, "-o '%s': the directory '%s' does not exist: create "
                        "it first, or give another -o", output, dir);
    else if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        rc = al_err_set(e, AL_EIO, "-o '%s': '%s' is not a directory", output, dir);
    else if (access(dir, W_OK | X_OK) != 0)
        rc = al_err_sys(e, AL_EIO, errno, "-o '%s': cannot write in '%s'", output, dir);
    return rc;
}

static long long free_bytes(const char *dir)
{
    struct statvfs sv;

    if (statvfs(dir, &sv) != 0)
        return -1;
    return (long long)sv.f_bavail * (long long)sv.f_frsize;
}

/* What the plan will take: the blobs, a tar header each, the metadata;
 * layers are compressed already, so zstd gains little on them. */
static void estimate(struct run *r, struct ex_result *res)
{
    const struct ex_plan *p = &r->plan;
    long long split = r->cfg->split_size;
    size_t i;

    for (i = 0; i < p->n; i++)
        if (p->v[i].held != NULL)
            res->relied_bytes += p->v[i].size;
    res->bundle_estimate = res->blob_bytes + (long long)p->n * 1536 + 64 * 1024;
    res->volumes = split > 0 ? (size_t)((res->bundle_estimate + split - 1) / split) : 1;
    res->free_bytes = free_bytes(res->output_dir);
}

/* A real run refuses before downloading what cannot fit. */
static int check_space(const struct ex_result *res, struct al_err *e)
{
    if (res->free_bytes < 0 || res->free_bytes >= res->bundle_estimate)
        return 0;
    return al_err_set(e, AL_EIO, "not enough space in '%s' for the bundle: it needs "
                      "about %lld bytes (%zu blobs of %lld bytes) and %lld bytes are "
                      "free; free some space or give another -o (nothing was "
                      "downloaded)", res->output_dir, res->bundle_estimate, res->blobs,
                      res->blob_bytes, res->free_bytes);
}

/* --dry-run with --cache: what the cache would supply (looked up, not
 * verified; a damaged entry is only found by a real run). */
static void count_cached(struct run *r, struct ex_result *res)
{
    const struct ex_plan *p = &r->plan;
    size_t i;
    int fd, wrong_size;

    for (i = 0; r->cache != NULL && i < p->n; i++) {
        if (p->v[i].held != NULL || p->v[i].kind == AL_BLOB_MANIFEST)
            continue;
        fd = ex_cache_get(r->cache, p->v[i].digest, p->v[i].size, &wrong_size);
        if (fd < 0)
            continue;
        close(fd);
        res->cached++;
        res->cached_bytes += p->v[i].size;
    }
}

/* For --json: what a scheduler or a monitoring script needs. */
static char *summary_json(const struct run *r, const struct ex_result *res, int rc,
                          const struct al_err *e, double seconds)
{
    json_t *doc = json_object(), *failed = json_array(), *parts = json_array();
    char *text;
    size_t i;

    for (i = 0; i < r->images.n; i++)
        if (r->images.v[i].failed)
            json_array_append_new(failed, json_pack("{s:s, s:s}", "name", r->images.v[i].name,
                                                    "reason", r->images.v[i].reason ?
                                                    r->images.v[i].reason : ""));
    for (i = 0; rc == 0 && i < res->parts.n; i++)
        json_array_append_new(parts, json_pack("{s:s, s:I, s:s}", "name", res->parts.v[i].name,
                                               "size", (json_int_t)res->parts.v[i].size,
                                               "digest", res->parts.v[i].digest));
    json_object_set_new(doc, "ok", json_boolean(rc == 0));
    if (rc != 0)
        json_object_set_new(doc, "error", json_string(e->msg));
    json_object_set_new(doc, "output", json_string(r->cfg->output));
    json_object_set_new(doc, al_meta_key_bundle_id, json_string(r->id));
    json_object_set_new(doc, "images_exported", json_integer((json_int_t)res->images_exported));
    json_object_set_new(doc, "images_failed", json_integer((json_int_t)res->images_failed));
    json_object_set_new(doc, "failed", failed);
    json_object_set_new(doc, "blobs", json_integer((json_int_t)res->blobs));
    json_object_set_new(doc, "blob_bytes", json_integer(res->blob_bytes));
    json_object_set_new(doc, "relied_on", json_integer((json_int_t)res->relied));
    json_object_set_new(doc, "cache_hits", json_integer((json_int_t)res->cache_hits));
    json_object_set_new(doc, "bundle_bytes", json_integer(rc == 0 ? res->bundle_bytes : 0));
    json_object_set_new(doc, "parts", parts);
    if (res->parts_list)
        json_object_set_new(doc, "parts_list", json_string(res->parts_list));
    json_object_set_new(doc, "dry_run", json_boolean(r->cfg->dry_run));
    json_object_set_new(doc, "relied_on_bytes", json_integer(res->relied_bytes));
    json_object_set_new(doc, "cache_blobs", json_integer((json_int_t)res->cached));
    json_object_set_new(doc, "cache_bytes", json_integer(res->cached_bytes));
    json_object_set_new(doc, "estimated_bundle_bytes", json_integer(res->bundle_estimate));
    json_object_set_new(doc, "volumes", json_integer((json_int_t)res->volumes));
    json_object_set_new(doc, "split_size_bytes", json_integer(r->cfg->split_size));
    json_object_set_new(doc, "free_bytes", json_integer(res->free_bytes));
    json_object_set_new(doc, "duration_seconds", json_real(seconds));
    text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return text;
}

static size_t count_exported(const struct run *r)
{
    size_t i, n = 0;

    for (i = 0; i < r->images.n; i++)
        n += !r->images.v[i].failed;
    return n;
}

/* With --release, the samples come from it unless other samples inputs
 * are given (or --no-samples); --samples-from-release adds them anyway. */
static int samples_from_release(const struct ex_config *c)
{
    if (c->release == NULL || c->no_samples)
        return 0;
    return c->samples_from_release || c->n_configmaps + c->n_imagestreams == 0;
}

static void report_samples(struct run *r)
{
    const struct ex_samples *s = &r->release.samples;

    r->report(r->ud, "samples from the release: %zu imagestreams (%zu tags) for %s in "
              "'%s'", s->n_streams, s->n_tags, s->arch, s->image);
}

/* Every image the inputs and the release name. */
static int read_images(struct run *r, struct al_err *e)
{
    const struct ex_config *c = r->cfg;
    int rc = ex_read_inputs(&r->images, c, e);

    if (rc == 0 && c->release != NULL)
        rc = ex_release_read(&r->release, c->release,
                             c->n_arches > 0 ? c->arches[0] : ex_host_arch(),
                             c->components, c->n_components, samples_from_release(c),
                             c->n_arches > 0 ? c->arches[0] : NULL, r->reg,
                             &r->images, e);
    if (rc == 0 && r->release.has_samples)
        report_samples(r);
    if (rc == 0 && r->images.n == 0)
        rc = al_err_set(e, AL_EINVAL, "nothing to export: give --samples-configmap, "
                        "--imagestreams, --release or --image");
    return rc;
}

static int resolve_images(struct run *r, struct al_err *e)
{
    const struct ex_config *c = r->cfg;
    struct ex_resolve_cfg rcfg = {
        .arches = c->arches, .n_arches = c->n_arches,
        .jobs = (size_t)(c->jobs > 0 ? c->jobs : 1), .http = &r->http_opts,
        .report = r->report, .ud = r->ud,
    };
    int rc;

    r->report(r->ud, "resolving %zu images", r->images.n);
    rc = ex_resolve_all(&r->images, r->reg, &rcfg, e);
    if (rc == 0 && count_exported(r) == 0)
        rc = al_err_set(e, AL_ENOTFOUND, "none of the %zu images could be exported",
                        r->images.n);
    return rc;
}

static void count_plan(const struct ex_plan *p, struct ex_result *res)
{
    size_t i;

    for (i = 0; i < p->n; i++) {
        if (p->v[i].held != NULL) {
            res->relied++;
            continue;
        }
        res->blob_bytes += p->v[i].size;
        res->blobs++;
    }
}

/* Inputs, resolution and the plan, counted: what a run and a dry run share. */
static int plan_images(struct run *r, struct ex_result *res, struct al_err *e)
{
    int rc = read_images(r, e);

    if (rc == 0)
        rc = resolve_images(r, e);
    if (rc == 0)
        rc = ex_plan_build(&r->plan, &r->images, &r->held, e);
    if (rc != 0)
        return rc;
    count_plan(&r->plan, res);
    estimate(r, res);
    return 0;
}

/* Everything after the output is open: inputs, resolution, the bundle. */
static int export_images(struct run *r, struct ex_result *res, struct al_err *e)
{
    const struct ex_config *c = r->cfg;
    struct ex_blobs_cfg bcfg = {
        .jobs = (size_t)(c->jobs > 0 ? c->jobs : 1), .http = &r->http_opts,
        .reg = r->reg, .cache = r->cache, .report = r->report, .ud = r->ud,
        .progress = c->progress, .progress_ud = c->progress_ud,
    };
    int rc = plan_images(r, res, e);

    if (rc == 0)
        rc = check_space(res, e);
    if (rc != 0)
        return rc;
    if (res->relied > 0)
        r->report(r->ud, "leaving out %zu blobs that earlier bundles carried (--since)",
                  res->relied);
    r->report(r->ud, "writing %zu blobs (%lld bytes)", res->blobs, res->blob_bytes);
    rc = write_metadata(r, e);
    if (rc == 0)
        rc = ex_blobs_write(r->w, &r->plan, &bcfg, &r->cache_hits, e);
    return rc;
}

/* --dry-run: every manifest resolved, the plan counted, nothing fetched
 * or written. */
static int plan_only(struct run *r, struct ex_result *res, struct al_err *e)
{
    int rc = plan_images(r, res, e);

    if (rc == 0)
        count_cached(r, res);
    return rc;
}

/* Nothing that cannot be trusted may travel: whatever was written goes. */
static void discard_written(struct ex_result *res)
{
    remove_parts(&res->parts);
    if (res->parts_list != NULL)
        al_parts_list_remove(res->parts_list);
}

/* The bundle, from opening its partial file to its final name(s). */
static int write_bundle(struct run *r, struct ex_result *res, struct al_err *e)
{
    const struct ex_config *c = r->cfg;
    char **held;
    size_t n_held;
    int rc, stale;

    /* (the output's lock is held: these are a killed earlier run's) */
    al_bundle_remove_partials(c->output, NULL);
    rc = al_bundle_writer_open_split(&r->w, c->output, r->created, c->zstd_level,
                                     c->split_size, c->zstd_threads, e);
    if (rc != 0)
        return rc;
    if (c->verify_written)
        al_bundle_writer_read_back(r->w);
    else if (!c->want_digest)
        al_bundle_writer_skip_digest(r->w);
    g_writer = r->w;
    rc = export_images(r, res, e);
    if (rc == 0)
        rc = al_bundle_writer_finish(r->w, e);   /* (it may open the last part) */
    if (rc != 0) {
        g_writer = NULL;
        al_bundle_writer_abort(r->w);
        return rc;
    }
    held = hold_partials(r->w, &n_held);
    g_n_committing = n_held;
    g_committing = held;
    g_writer = NULL;   /* commit frees it; a signal now unlinks the copies' names */
    rc = al_bundle_writer_commit_parts(r->w, &res->parts, e);
    release_partials(held, n_held);
    res->bundle_bytes = res->parts.size;
    if (rc == 0 && c->split_size > 0)
        rc = write_parts_list(r, res, e);
    if (rc != 0) {
        discard_written(res);
        return rc;
    }
    stale = 0;
    if (c->split_size > 0)   /* the new volumes are in place: now the old go */
        stale = al_bundle_remove_volumes_from(c->output, res->parts.n, NULL);
    if (stale > 0)
        r->report(r->ud, "removed %d volumes of an earlier export to '%s'", stale, c->output);
    return 0;
}

/* --since: trusted only once verified, by the export's own key or a
 * --since-key (bundles) and the --receipt-verify-key (receipts). */
static int load_since(struct run *r, struct al_err *e)
{
    const struct ex_config *c = r->cfg;
    struct ex_since_opts so = {.paths = c->since, .n = c->n_since, .own_key = r->key,
                               .keys = c->since_keys, .n_keys = c->n_since_keys,
                               .receipt_key = c->receipt_verify_key,
                               .allow_unsigned = c->since_unsigned};

    return ex_held_load(&r->held, &so, r->report, r->ud, e);
}

/* What must be in hand before the output is opened. */
static int start_run(struct run *r, struct ex_result *res, struct al_err *e)
{
    const struct ex_config *c = r->cfg;
    int rc = check_output(c->output, res, e);

    if (rc == 0)
        rc = new_bundle_id(r->id, e);
    if (rc == 0 && !c->dry_run)   /* a dry run writes nothing, not even a lock */
        rc = al_lock_acquire(&r->lock, c->output, "writing", e);
    if (rc != 0)
        return rc;
    rc = al_sig_key_load_private(&r->key, c->sign_key, e);
    if (rc != 0)
        return rc;
    if (c->n_since > 0) {
        rc = load_since(r, e);
        if (rc != 0)
            return rc;
    }
    if (c->cache_dir != NULL && !(c->dry_run && access(c->cache_dir, F_OK) != 0)) {
        rc = ex_cache_open(&r->cache, c->cache_dir, c->cache_max, c->dry_run, e);
        if (rc != 0)
            return rc;
    }
    return open_clients(r, e);
}

static void close_cache(struct run *r, struct ex_result *res, int rc)
{
    long long trimmed;

    if (r->cache == NULL)
        return;
    trimmed = r->cfg->dry_run ? 0 : ex_cache_trim(r->cache);
    if (rc == 0 && !r->cfg->dry_run)
        r->report(r->ud, "cache: %zu blobs reused%s", r->cache_hits,
                  trimmed > 0 ? ", least recently used entries removed" : "");
    res->cache_hits = r->cache_hits;
    ex_cache_close(r->cache);
    r->cache = NULL;
}

static void run_release(struct run *r)
{
    al_lock_release(r->lock);
    ex_plan_release(&r->plan);
    ex_held_release(&r->held);
    ex_images_release(&r->images);
    ex_release_release(&r->release);
    al_registry_free(r->reg);
    al_http_free(r->http);
    al_authfile_free(r->auth);
    al_sig_key_free(r->key);
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (t1.tv_nsec - t0->tv_nsec) / 1e9;
}

int ex_run(const struct ex_config *cfg, struct ex_result *res,
           al_report_fn report, void *report_ud, struct al_err *e)
{
    struct run r;
    struct timespec t0;
    int rc;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    memset(&r, 0, sizeof(r));
    memset(res, 0, sizeof(*res));
    r.cfg = cfg;
    r.report = report;
    r.ud = report_ud;
    r.created = time(NULL);
    res->free_bytes = -1;
    rc = start_run(&r, res, e);
    if (rc == 0 && cfg->dry_run)
        rc = plan_only(&r, res, e);
    else if (rc == 0)
        rc = write_bundle(&r, res, e);
    res->images_exported = count_exported(&r);
    res->images_failed = r.images.n - res->images_exported;
    snprintf(res->bundle_id, sizeof(res->bundle_id), "%s", r.id);
    close_cache(&r, res, rc);
    res->seconds = seconds_since(&t0);
    res->json = summary_json(&r, res, rc, e, res->seconds);
    run_release(&r);
    return rc;
}
