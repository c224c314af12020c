#include "since.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/buf.h"
#include "airlock/bundle.h"
#include "airlock/meta.h"
#include "airlock/receipt.h"
#include "airlock/sign.h"

#define SINCE_SIG_MAX (64 * 1024)
#define SINCE_PATH_MAX 4200

/* The keys --since trusts: bundles by the export's own key or a
 * --since-key, receipts by the --receipt-verify-key. */
struct trust {
    const struct ex_since_opts *o;
    const struct al_sig_key **bundle_keys;   /* own first, then --since-key */
    size_t n_bundle_keys;
    struct al_sig_key **loaded;              /* the --since-key keys, owned */
    struct al_sig_key *receipt_key;          /* owned, NULL when not given */
};

static void trust_release(struct trust *t)
{
    size_t i;

    for (i = 0; t->loaded != NULL && i < t->o->n_keys; i++)
        al_sig_key_free(t->loaded[i]);
    free(t->loaded);
    free(t->bundle_keys);
    al_sig_key_free(t->receipt_key);
}

static int trust_init(struct trust *t, const struct ex_since_opts *o, struct al_err *e)
{
    size_t i;
    int rc = 0;

    memset(t, 0, sizeof(*t));
    t->o = o;
    t->loaded = calloc(o->n_keys + 1, sizeof(*t->loaded));
    t->bundle_keys = calloc(o->n_keys + 1, sizeof(*t->bundle_keys));
    if (t->loaded == NULL || t->bundle_keys == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    t->bundle_keys[t->n_bundle_keys++] = o->own_key;
    for (i = 0; rc == 0 && i < o->n_keys; i++) {
        rc = al_sig_key_load_public(&t->loaded[i], o->keys[i], e);
        if (rc == 0)
            t->bundle_keys[t->n_bundle_keys++] = t->loaded[i];
    }
    if (rc == 0 && o->receipt_key != NULL)
        rc = al_sig_key_load_public(&t->receipt_key, o->receipt_key, e);
    if (rc != 0)
        al_err_prefix(e, "--since");
    return rc;
}

/* The bundle key whose id the signature document names; "wrong key" with
 * every id when none does. */
static int pick_key(const struct trust *t, const struct al_buf *sig, const char *what,
                    const struct al_sig_key **out, struct al_err *e)
{
    char id[AL_KEY_ID_LEN], ids[200] = "";
    size_t i, len;
    int rc = al_sig_doc_key_id(sig->data, sig->len, id, what, e);

    for (i = 0; rc == 0 && i < t->n_bundle_keys; i++) {
        if (strcmp(id, al_sig_key_id(t->bundle_keys[i])) == 0) {
            *out = t->bundle_keys[i];
            return 0;
        }
        len = strlen(ids);
        snprintf(ids + len, sizeof(ids) - len, "%s%s", i ? ", " : "",
                 al_sig_key_id(t->bundle_keys[i]));
    }
    if (rc != 0)
        return rc;
    return al_err_set(e, AL_ESIG, "wrong key: %s is signed by key %s, not by the "
                      "key%s trusted here (%s): give --since-key FILE with the public "
                      "key of the exporter that signed it", what, id,
                      t->n_bundle_keys > 1 ? "s" : "", ids);
}

static int verify_meta(const struct trust *t, const struct al_buf *text,
                       const struct al_buf *sig, const char *what, struct al_err *e)
{
    const struct al_sig_key *key = NULL;
    int rc = pick_key(t, sig, what, &key, e);

    if (rc == 0)
        rc = al_sig_verify(key, text->data, text->len, sig->data, sig->len, what, e);
    return rc;
}

/* PATH and PATH.sig, each read once and bounded; *signed_ = 0 when there
 * is no PATH.sig. */
static int read_signed_file(const char *path, struct al_buf *text, struct al_buf *sig,
                            int *signed_, struct al_err *e)
{
    char sig_path[SINCE_PATH_MAX];
    struct al_err sig_err;
    int rc = al_sig_path(sig_path, sizeof(sig_path), path, e);

    al_buf_init(text, AL_BUNDLE_META_MAX);
    al_buf_init(sig, SINCE_SIG_MAX);
    *signed_ = 0;
    if (rc == 0)
        rc = al_buf_read_file(text, path, e);
    if (rc != 0)
        return rc;
    al_err_init(&sig_err);
    rc = al_buf_read_file(sig, sig_path, &sig_err);
    if (rc == 0)
        *signed_ = 1;
    else if (sig_err.sys_errno == ENOENT)
        rc = 0;
    else if (e != NULL)
        *e = sig_err;
    return rc;
}

/* The key that checks the volume list PATH uses, if any: with one bundle
 * key that one, otherwise the one the list's signature names. */
static const struct al_sig_key *list_key(const struct trust *t, const char *path)
{
    const struct al_sig_key *key = t->bundle_keys[0];
    struct al_bundle_reader *r = NULL;
    struct al_buf text, sig;
    const char *list;
    int signed_ = 0;

    if (t->n_bundle_keys == 1 || al_bundle_reader_open(&r, path, NULL) != 0)
        return key;
    list = al_bundle_reader_parts_list(r);
    /* only the signature is needed here; the list is read again, and
       checked over the bytes it parses, by the reader that uses it */
    if (list != NULL && read_signed_file(list, &text, &sig, &signed_, NULL) == 0 &&
        signed_)
        pick_key(t, &sig, "", &key, NULL);
    if (list != NULL) {
        al_buf_release(&text);
        al_buf_release(&sig);
    }
    al_bundle_reader_free(r);
    return key;
}

/* The next entry of PREV must be `want`, read whole into `out`. */
static int read_entry(struct al_bundle_reader *r, const char *path, const char *want,
                      struct al_buf *out, struct al_err *e)
{
    const char *name;
    long long size;
    int rc = al_bundle_reader_next(r, &name, &size, e);

    if (rc == 1 && strcmp(name, want) == 0)
        return al_bundle_reader_read_all(r, out, e);
    if (rc >= 0)
        rc = al_err_set(e, AL_EINVAL, "--since '%s' is not an airlock bundle (no '%s' "
                        "where it belongs)", path, want);
    return rc;
}

/* bundle.json of the bundle PREV and its signature: its first two entries. */
static int read_bundle_meta(const struct trust *t, const char *path, struct al_buf *text,
                            struct al_buf *sig, struct al_err *e)
{
    struct al_bundle_reader *r = NULL;
    int rc;

    al_buf_init(text, AL_BUNDLE_META_MAX);
    al_buf_init(sig, SINCE_SIG_MAX);
    rc = al_bundle_reader_open_signed(&r, path, list_key(t, path), e);
    if (rc == 0)
        rc = read_entry(r, path, AL_BUNDLE_META, text, e);
    if (rc == 0)
        rc = read_entry(r, path, AL_BUNDLE_SIG, sig, e);
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

/* A receipt is checked with the --receipt-verify-key; one that cannot be
 * checked (no signature, or no key) is taken only with --since-unsigned. */
static int check_receipt(const struct trust *t, const char *path, const struct al_buf *text,
                         const struct al_buf *sig, int signed_, al_report_fn report,
                         void *ud, struct al_err *e)
{
    char what[SINCE_PATH_MAX + 20], id[AL_KEY_ID_LEN];

    snprintf(what, sizeof(what), "receipt '%s'", path);
    if (signed_ && t->receipt_key != NULL)
        return al_sig_verify(t->receipt_key, text->data, text->len, sig->data, sig->len,
                             what, e);
    if (t->o->allow_unsigned) {
        report(ud, "warning: %s is used unchecked (%s; --since-unsigned)", what,
               signed_ ? "no --receipt-verify-key" : "not signed");
        return 0;
    }
    if (!signed_)
        return al_err_set(e, AL_ESIG, "%s is not signed (no '%s.sig'): sign receipts with "
                          "airlock-import --receipt-key and give --receipt-verify-key, or "
                          "take it unchecked with --since-unsigned", what, path);
    if (al_sig_doc_key_id(sig->data, sig->len, id, what, e) != 0)
        return e->code;
    return al_err_set(e, AL_ESIG, "%s is signed by key %s, but no --receipt-verify-key "
                      "was given to check it: give the public key of the importer that "
                      "signed it", what, id);
}

/* bundle.json of PREV, verified, into the held blobs. */
static int add_bundle_meta(const struct trust *t, struct ex_held *h, const char *path,
                           const struct al_buf *text, const struct al_buf *sig,
                           struct al_err *e)
{
    struct al_bundle_meta m;
    char what[SINCE_PATH_MAX + 40];
    int rc;

    snprintf(what, sizeof(what), "bundle.json of --since '%s'", path);
    rc = verify_meta(t, text, sig, what, e);
    if (rc == 0)
        rc = al_bundle_meta_parse(&m, text->data, text->len, what, e);
    if (rc == 0) {
        rc = add_meta(h, &m, e);
        al_bundle_meta_release(&m);
    }
    return rc;
}

/* One PREV: a receipt or an extracted bundle.json (each with its .sig
 * beside it), or a bundle. Verified over the very bytes then parsed. */
static int load_one(const struct trust *t, struct ex_held *h, const char *path,
                    al_report_fn report, void *ud, struct al_err *e)
{
    struct al_buf text, sig;
    char sig_path[SINCE_PATH_MAX];
    int signed_ = 1, rc;

    if (!al_str_ends_with(path, ".json"))
        rc = read_bundle_meta(t, path, &text, &sig, e);
    else
        rc = read_signed_file(path, &text, &sig, &signed_, e);
    if (rc == 0 && al_receipt_is(text.data, text.len)) {
        rc = check_receipt(t, path, &text, &sig, signed_, report, ud, e);
        if (rc == 0)
            rc = add_receipt(h, &text, path, e);
    } else if (rc == 0 && !signed_) {
        al_sig_path(sig_path, sizeof(sig_path), path, NULL);
        rc = al_err_set(e, AL_ESIG, "--since '%s' has no signature '%s': copy "
                        "bundle.json.sig with it, or give the bundle itself", path,
                        sig_path);
    } else if (rc == 0) {
        rc = add_bundle_meta(t, h, path, &text, &sig, e);
    }
    al_buf_release(&text);
    al_buf_release(&sig);
    return rc;
}

static int cmp_held(const void *a, const void *b)
{
    return strcmp(((const struct ex_held_blob *)a)->digest,
                  ((const struct ex_held_blob *)b)->digest);
}

int ex_held_load(struct ex_held *h, const struct ex_since_opts *o,
                 al_report_fn report, void *ud, struct al_err *e)
{
    struct trust t;
    size_t i;
    int rc;

    memset(h, 0, sizeof(*h));
    rc = trust_init(&t, o, e);
    for (i = 0; rc == 0 && i < o->n; i++)
        rc = load_one(&t, h, o->paths[i], report, ud, e);
    if (rc == 0)
        qsort(h->v, h->n, sizeof(*h->v), cmp_held);
    trust_release(&t);
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
