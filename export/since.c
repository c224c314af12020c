#include "since.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/buf.h"
#include "airlock/bundle.h"
#include "airlock/meta.h"
#include "airlock/receipt.h"

/* bundle.json of PREV: the file itself, or the first entry of the bundle. */
static int read_prev_meta(const char *path, struct al_buf *out, struct al_err *e)
{
    struct al_bundle_reader *r = NULL;
    const char *name;
    long long size;
    int rc;

    al_buf_init(out, AL_BUNDLE_META_MAX);
    if (al_str_ends_with(path, ".json"))
        return al_buf_read_file(out, path, e);
    rc = al_bundle_reader_open(&r, path, e);
    if (rc == 0) {
        rc = al_bundle_reader_next(r, &name, &size, e);
        if (rc == 1 && strcmp(name, AL_BUNDLE_META) == 0)
            rc = al_bundle_reader_read_all(r, out, e);
        else if (rc >= 0)
            rc = al_err_set(e, AL_EINVAL, "--since '%s' is not an airlock bundle", path);
    }
    al_bundle_reader_free(r);
    return rc;
}

static struct ex_held_blob *held_get(struct ex_held *h, const struct al_meta_blob *b,
                                     const char *bundle_id)
{
    struct ex_held_blob *grown, *x;
    size_t i;

    for (i = 0; i < h->n; i++)
        if (strcmp(h->v[i].digest, b->digest) == 0)
            return &h->v[i];
    grown = realloc(h->v, (h->n + 1) * sizeof(*grown));
    if (grown == NULL)
        return NULL;
    h->v = grown;
    x = &h->v[h->n];
    memset(x, 0, sizeof(*x));
    memcpy(x->digest, b->digest, sizeof(x->digest));
    x->size = b->size;
    x->kind = b->kind == AL_BLOB_CONFIG ? AL_BLOB_CONFIG : AL_BLOB_LAYER;
    x->media_type = strdup(b->media_type);
    x->bundle_id = strdup(bundle_id);
    if (x->media_type == NULL || x->bundle_id == NULL) {
        free(x->media_type);
        free(x->bundle_id);
        return NULL;
    }
    h->n++;
    return x;
}

static int held_add_repo(struct ex_held_blob *x, const char *repo)
{
    char **grown;
    size_t i;

    for (i = 0; i < x->n_repos; i++)
        if (strcmp(x->repos[i], repo) == 0)
            return 0;
    grown = realloc(x->repos, (x->n_repos + 1) * sizeof(char *));
    if (grown == NULL)
        return -1;
    x->repos = grown;
    if ((x->repos[x->n_repos] = strdup(repo)) == NULL)
        return -1;
    x->n_repos++;
    return 0;
}

static int add_meta(struct ex_held *h, const struct al_bundle_meta *m, struct al_err *e)
{
    size_t i, j;

    for (i = 0; i < m->n_images; i++)
        for (j = 0; j < m->images[i].n_blobs; j++) {
            const struct al_meta_blob *b = &m->blobs[m->images[i].blobs[j]];
            struct ex_held_blob *x = held_get(h, b, b->relied ? b->bundle_id : m->id);
            if (x == NULL || held_add_repo(x, m->images[i].repository) != 0)
                return al_err_set(e, AL_ENOMEM, "out of memory");
        }
    for (i = m->n_carried; i < m->n_blobs; i++) {
        struct ex_held_blob *x = held_get(h, &m->blobs[i], m->blobs[i].bundle_id);
        if (x == NULL)
            return al_err_set(e, AL_ENOMEM, "out of memory");
        for (j = 0; j < m->blobs[i].n_repos; j++)
            if (held_add_repo(x, m->blobs[i].repos[j]) != 0)
                return al_err_set(e, AL_ENOMEM, "out of memory");
    }
    return 0;
}

/* A receipt of airlock-import: what a mirror holds. */
static int add_receipt(struct ex_held *h, const struct al_buf *text, const char *path,
                       struct al_err *e)
{
    struct al_receipt rcpt;
    char what[600];
    size_t i, j;
    int rc;

    snprintf(what, sizeof(what), "--since '%s'", path);
    rc = al_receipt_parse(&rcpt, text->data, text->len, what, e);
    for (i = 0; rc == 0 && i < rcpt.n_blobs; i++) {
        const struct al_receipt_blob *rb = &rcpt.blobs[i];
        struct al_meta_blob b;
        struct ex_held_blob *x;
        memset(&b, 0, sizeof(b));
        memcpy(b.digest, rb->digest, sizeof(b.digest));
        b.size = rb->size;
        b.media_type = rb->media_type;
        b.kind = rb->kind;
        x = held_get(h, &b, rcpt.bundle_id);
        if (x == NULL)
            rc = al_err_set(e, AL_ENOMEM, "out of memory");
        for (j = 0; rc == 0 && j < rb->n_repos; j++)
            if (held_add_repo(x, rb->repos[j]) != 0)
                rc = al_err_set(e, AL_ENOMEM, "out of memory");
    }
    al_receipt_release(&rcpt);
    return rc;
}

static int cmp_held(const void *a, const void *b)
{
    return strcmp(((const struct ex_held_blob *)a)->digest,
                  ((const struct ex_held_blob *)b)->digest);
}

int ex_held_load(struct ex_held *h, const char *const *paths, size_t n, struct al_err *e)
{
    struct al_bundle_meta m;
    struct al_buf text;
    char what[600];
    size_t i;
    int rc = 0;

    memset(h, 0, sizeof(*h));
    for (i = 0; rc == 0 && i < n; i++) {
        rc = read_prev_meta(paths[i], &text, e);
        if (rc == 0 && al_receipt_is(text.data, text.len)) {
            rc = add_receipt(h, &text, paths[i], e);
            al_buf_release(&text);
            continue;
        }
        if (rc == 0) {
            snprintf(what, sizeof(what), "bundle.json of --since '%s'", paths[i]);
            rc = al_bundle_meta_parse(&m, text.data, text.len, what, e);
        }
        if (rc == 0) {
            rc = add_meta(h, &m, e);
            al_bundle_meta_release(&m);
        }
        al_buf_release(&text);
    }
    if (rc == 0)
        qsort(h->v, h->n, sizeof(*h->v), cmp_held);
    return rc;
}

const struct ex_held_blob *ex_held_find(const struct ex_held *h, const char *digest)
{
    struct ex_held_blob key;

    if (h->n == 0)
        return NULL;
    memset(&key, 0, sizeof(key));
    snprintf(key.digest, sizeof(key.digest), "%s", digest);
    return bsearch(&key, h->v, h->n, sizeof(*h->v), cmp_held);
}

void ex_held_release(struct ex_held *h)
{
    size_t i, j;

    for (i = 0; i < h->n; i++) {
        free(h->v[i].media_type);
        free(h->v[i].bundle_id);
        for (j = 0; j < h->v[i].n_repos; j++)
            free(h->v[i].repos[j]);
        free(h->v[i].repos);
    }
    free(h->v);
    memset(h, 0, sizeof(*h));
}
