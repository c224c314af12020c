/* The registry side of an import. Blobs: HEAD in every repository that
 * needs one, upload once (streamed, committed only once verified), then
 * cross-repository mounts into the rest. Manifests and tags come only after
 * the whole bundle has been verified: children, then roots by digest, and
 * tags last, so a damaged bundle never leaves a tag behind. */
#include "import.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct im_pusher {
    struct al_registry *reg;
    const struct im_plan *plan;
    const struct al_bundle_meta *meta;
    struct im_counts counts;
    /* the blob streaming by */
    size_t blob;
    int *present;            /* per repository of the blob */
    size_t n_present_cap;
    struct al_blob_upload *up;   /* into the blob's first repository */
    char *img_failed;        /* per destination */
};

int im_pusher_new(struct im_pusher **out, struct al_registry *reg,
                  const struct im_plan *plan, const struct al_bundle_meta *meta,
                  struct al_err *e)
{
    struct im_pusher *p = calloc(1, sizeof(*p));

    *out = NULL;
    if (p == NULL || (p->img_failed = calloc(plan->n_dests + 1, 1)) == NULL) {
        free(p);
        return al_err_set(e, AL_ENOMEM, "out of memory");
    }
    p->reg = reg;
    p->plan = plan;
    p->meta = meta;
    *out = p;
    return 0;
}

void im_pusher_free(struct im_pusher *p)
{
    if (p == NULL)
        return;
    al_registry_upload_abort(p->up);
    free(p->present);
    free(p->img_failed);
    free(p);
}

const struct im_counts *im_pusher_counts(const struct im_pusher *p)
{
    return &p->counts;
}

static int copy_within(struct im_pusher *p, const char *from, const char *to,
                       struct al_err *e);

/* Puts blob p->blob, which the mirror has in `from`, into `to`: a
 * cross-repository mount, or a copy within the mirror where it refuses. */
static int mount_or_copy(struct im_pusher *p, const char *from, const char *to,
                         struct al_err *e)
{
    int mounted, rc = al_registry_blob_mount(p->reg, p->plan->mirror_host, to,
                                             p->meta->blobs[p->blob].digest, from,
                                             &mounted, e);

    if (rc == 0 && mounted)
        p->counts.blobs_mounted++;
    else if (rc == 0)
        rc = copy_within(p, from, to, e);
    return rc;
}

/* Where the mirror has relied-on blob `b`: first the repositories that need
 * it, then those the earlier bundle put it in. *where is owned. */
static int find_relied(struct im_pusher *p, size_t b, char **where, struct al_err *e)
{
    const struct al_meta_blob *mb = &p->meta->blobs[b];
    const char *host = p->plan->mirror_host;
    size_t i;
    int rc = 0, exists = 0;

    *where = NULL;
    for (i = 0; rc == 0 && !exists && i < p->plan->n_blob_repos[b]; i++) {
        rc = al_registry_blob_exists(p->reg, host, p->plan->blob_repos[b][i], mb->digest,
                                     &exists, e);
        if (rc == 0 && exists && (*where = strdup(p->plan->blob_repos[b][i])) == NULL)
            rc = al_err_set(e, AL_ENOMEM, "out of memory");
    }
    for (i = 0; rc == 0 && !exists && i < mb->n_repos; i++) {
        char *repo = im_plan_mirror_repo(p->plan, mb->repos[i]);
        if (repo == NULL)
            return al_err_set(e, AL_ENOMEM, "out of memory");
        rc = al_registry_blob_exists(p->reg, host, repo, mb->digest, &exists, e);
        if (rc == 0 && exists)
            *where = repo;
        else
            free(repo);
    }
    return rc;
}

/* Puts relied-on blob `b` (found in `from`) into every repository that
 * needs it. */
static int spread_relied(struct im_pusher *p, size_t b, const char *from,
                         struct al_err *e)
{
    char **repos = p->plan->blob_repos[b];
    const char *host = p->plan->mirror_host, *digest = p->meta->blobs[b].digest;
    size_t i;
    int rc = 0, exists;

    p->blob = b;
    for (i = 0; rc == 0 && i < p->plan->n_blob_repos[b]; i++) {
        if (strcmp(repos[i], from) == 0)
            continue;
        rc = al_registry_blob_exists(p->reg, host, repos[i], digest, &exists, e);
        if (rc != 0 || exists) {
            p->counts.blobs_skipped += rc == 0;
            continue;
        }
        rc = mount_or_copy(p, from, repos[i], e);
    }
    return rc;
}

/* An increment needs what earlier bundles carried: all of it must already
 * be in the mirror, or nothing is pushed and the missing bundles are named. */
static int check_relied(struct im_pusher *p, struct al_err *e)
{
    const struct al_bundle_meta *m = p->meta;
    char **where = calloc(m->n_blobs + 1, sizeof(char *));
    char missing_ids[400] = "";
    size_t i, missing = 0;
    const char *example = NULL;
    int rc = where ? 0 : al_err_set(e, AL_ENOMEM, "out of memory");

    for (i = m->n_carried; rc == 0 && i < m->n_blobs; i++) {
        rc = find_relied(p, i, &where[i], e);
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
        rc = spread_relied(p, i, where[i], e);
    for (i = 0; where != NULL && i < m->n_blobs; i++)
        free(where[i]);
    free(where);
    return rc;
}

int im_pusher_start(struct im_pusher *p, struct al_err *e)
{
    int rc;

    al_registry_set_push(p->reg, 1);
    rc = al_registry_probe(p->reg, p->plan->mirror_host, e);
    if (rc == 0 && p->meta->n_blobs > p->meta->n_carried)
        rc = check_relied(p, e);
    return rc;
}

static int sink_begin(void *ud, size_t blob, struct al_err *e)
{
    struct im_pusher *p = ud;
    char **repos = p->plan->blob_repos[blob];
    size_t i, n = p->plan->n_blob_repos[blob], have = 0;
    const char *host = p->plan->mirror_host;
    int rc = 0;

    p->blob = blob;
    if (n > p->n_present_cap) {
        int *grown = realloc(p->present, n * sizeof(int));
        if (grown == NULL)
            return al_err_set(e, AL_ENOMEM, "out of memory");
        p->present = grown;
        p->n_present_cap = n;
    }
    for (i = 0; rc == 0 && i < n; i++) {
        rc = al_registry_blob_exists(p->reg, host, repos[i],
                                     p->meta->blobs[blob].digest, &p->present[i], e);
        have += rc == 0 && p->present[i];
    }
    if (rc != 0 || n == 0)
        return rc;
    p->counts.blobs_skipped += have;
    if (have > 0)
        return 0;
    return al_registry_upload_open(p->reg, host, repos[0], p->meta->blobs[blob].size,
                                   &p->up, e);
}

static int sink_data(void *ud, const void *data, size_t n, struct al_err *e)
{
    struct im_pusher *p = ud;

    return p->up ? al_registry_upload_write(p->up, data, n, e) : 0;
}

/* The registry would not mount: copy the blob over from where the mirror
 * already has it, verifying it again on the way. */
static int copy_within(struct im_pusher *p, const char *from, const char *to,
                       struct al_err *e)
{
    const struct al_meta_blob *b = &p->meta->blobs[p->blob];
    const char *host = p->plan->mirror_host;
    struct al_http_stream *s = NULL;
    struct al_blob_upload *up = NULL;
    struct al_sha256 *sha = al_sha256_new();
    char buf[65536], got[AL_DIGEST_STR_MAX];
    size_t n;
    int rc;

    if (sha == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    rc = al_registry_open_blob(p->reg, host, from, b->digest, &s, e);
    if (rc == 0)
        rc = al_registry_upload_open(p->reg, host, to, b->size, &up, e);
    while (rc == 0) {
        rc = al_http_stream_read(s, buf, sizeof(buf), &n, e);
        if (rc != 0 || n == 0)
            break;
        al_sha256_update(sha, buf, n);
        rc = al_registry_upload_write(up, buf, n, e);
    }
    al_sha256_final(sha, got);
    if (rc == 0 && strcmp(got, b->digest) != 0)
        rc = al_err_set(e, AL_EDIGEST, "the mirror's copy of blob %s in '%s' is "
                        "corrupt", b->digest, from);
    if (rc == 0) {
        rc = al_registry_upload_commit(up, b->digest, e);
        up = NULL;
    }
    al_registry_upload_abort(up);
    al_http_stream_close(s);
    al_sha256_free(sha);
    if (rc == 0) {
        p->counts.blobs_pushed++;
        p->counts.bytes_pushed += b->size;
    }
    return rc;
}

static int mount_missing(struct im_pusher *p, struct al_err *e)
{
    char **repos = p->plan->blob_repos[p->blob];
    size_t i, n = p->plan->n_blob_repos[p->blob], from = n;
    int rc = 0;

    for (i = 0; i < n && from == n; i++)
        if (p->present[i])
            from = i;
    for (i = 0; rc == 0 && from < n && i < n; i++) {
        if (p->present[i])
            continue;
        rc = mount_or_copy(p, repos[from], repos[i], e);
        if (rc == 0)
            p->present[i] = 1;
    }
    return rc;
}

static int sink_end(void *ud, int verified, struct al_err *e)
{
    struct im_pusher *p = ud;
    const struct al_meta_blob *b = &p->meta->blobs[p->blob];
    int rc;

    if (!verified) {
        al_registry_upload_abort(p->up);
        p->up = NULL;
        return 0;
    }
    if (p->up != NULL) {
        rc = al_registry_upload_commit(p->up, b->digest, e);
        p->up = NULL;
        if (rc != 0)
            return rc;
        p->counts.blobs_pushed++;
        p->counts.bytes_pushed += b->size;
        p->present[0] = 1;
    }
    return p->plan->n_blob_repos[p->blob] ? mount_missing(p, e) : 0;
}

void im_pusher_sink(struct im_pusher *p, struct im_sink *out)
{
    out->begin = sink_begin;
    out->data = sink_data;
    out->end = sink_end;
    out->ud = p;
}

/* Errors after which pushing the next image is pointless. */
static int stops_everything(int code)
{
    return code == AL_ENET || code == AL_EINTR || code == AL_ENOMEM;
}

static int push_manifest(struct im_pusher *p, const struct im_bundle *b,
                         const struct im_dest *d, const struct al_meta_manifest *mf,
                         const char *reference, struct al_err *e)
{
    const struct im_manifest *data = &b->manifests[mf->blob];
    const char *host = p->plan->mirror_host;
    char have[AL_DIGEST_STR_MAX];
    int exists, rc, is_tag = strcmp(reference, mf->digest) != 0;

    rc = al_registry_manifest_head(p->reg, host, d->repo, reference, have, &exists, e);
    if (rc == 0 && exists && (!is_tag || strcmp(have, mf->digest) == 0)) {
        if (is_tag)
            p->counts.tags_skipped++;
        else
            p->counts.manifests_skipped++;
        return 0;
    }
    if (rc == 0)
        rc = al_registry_put_manifest(p->reg, host, d->repo, reference, mf->media_type,
                                      data->data, data->len, e);
    if (rc == 0 && is_tag)
        p->counts.tags_pushed++;
    else if (rc == 0)
        p->counts.manifests_pushed++;
    return rc;
}

static int push_image_manifests(struct im_pusher *p, const struct im_bundle *b,
                                const struct im_dest *d, struct al_err *e)
{
    size_t i;
    int rc = 0;

    for (i = 0; rc == 0 && i < d->img->n_manifests; i++)
        rc = push_manifest(p, b, d, &d->img->manifests[i], d->img->manifests[i].digest, e);
    return rc;
}

static int push_tag(struct im_pusher *p, const struct im_bundle *b,
                    const struct im_dest *d, struct al_err *e)
{
    const struct al_meta_manifest *root = &d->img->manifests[d->img->n_manifests - 1];

    if (d->img->tag == NULL)
        return 0;
    return push_manifest(p, b, d, root, d->img->tag, e);
}

/* Runs one phase over every destination still standing. */
static int each_image(struct im_pusher *p, const struct im_bundle *b,
                      int (*step)(struct im_pusher *, const struct im_bundle *,
                                  const struct im_dest *, struct al_err *),
                      im_report_fn report, void *ud, struct al_err *e)
{
    size_t i;
    int rc;

    for (i = 0; i < p->plan->n_dests; i++) {
        const struct im_dest *d = &p->plan->dests[i];
        if (d->duplicate || p->img_failed[i])
            continue;
        rc = step(p, b, d, e);
        if (rc != 0 && stops_everything(rc))
            return rc;
        if (rc != 0) {
            char *name = im_dest_name(p->plan, d);
            report(ud, "cannot push '%s' to '%s': %s", d->img->name, name ? name : "?",
                   e->msg);
            free(name);
            p->img_failed[i] = 1;
            p->counts.images_failed++;
            al_err_init(e);
        }
    }
    return 0;
}

int im_pusher_finish(struct im_pusher *p, const struct im_bundle *b,
                     im_report_fn report, void *ud, struct al_err *e)
{
    size_t i;
    int rc = each_image(p, b, push_image_manifests, report, ud, e);

    if (rc == 0)
        rc = each_image(p, b, push_tag, report, ud, e);
    for (i = 0; rc == 0 && i < p->plan->n_dests; i++)
        if (!p->plan->dests[i].duplicate && !p->img_failed[i])
            p->counts.images_done++;
    return rc;
}

int im_pusher_dest_failed(const struct im_pusher *p, size_t i)
{
    return p->img_failed[i] != 0;
}
