/* The receipt, both ways (see include/airlock/receipt.h). */
#include "airlock/receipt.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airlock/buf.h"
#include "airlock/json.h"
#include "airlock/ref.h"

#define RECEIPT_FORMAT "airlock-receipt"
#define RECEIPT_VERSION 1
#define SIG_PATH_MAX 4200

int al_receipt_add_blob(struct al_receipt *r, const struct al_meta_blob *b,
                        struct al_receipt_blob **out, struct al_err *e)
{
    struct al_receipt_blob *x;

    /* grown by doubling: a receipt may list a million blobs */
    if ((r->n_blobs & (r->n_blobs - 1)) == 0) {
        struct al_receipt_blob *grown =
            realloc(r->blobs, (r->n_blobs ? 2 * r->n_blobs : 1) * sizeof(*grown));
        if (grown == NULL)
            return al_err_set(e, AL_ENOMEM, "out of memory");
        r->blobs = grown;
    }
    x = &r->blobs[r->n_blobs];
    memset(x, 0, sizeof(*x));
    memcpy(x->digest, b->digest, sizeof(x->digest));
    x->size = b->size;
    x->kind = b->kind;
    x->media_type = strdup(b->media_type);
    if (x->media_type == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    r->n_blobs++;
    *out = x;
    return 0;
}

int al_receipt_blob_add_repo(struct al_receipt_blob *b, const char *repo,
                             struct al_err *e)
{
    char **grown;
    size_t i;

    for (i = 0; i < b->n_repos; i++)
        if (strcmp(b->repos[i], repo) == 0)
            return 0;
    grown = realloc(b->repos, (b->n_repos + 1) * sizeof(char *));
    if (grown == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    b->repos = grown;
    b->repos[b->n_repos] = strdup(repo);
    if (b->repos[b->n_repos] == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    b->n_repos++;
    return 0;
}

static char *receipt_text(const struct al_receipt *r)
{
    json_t *blobs = json_array(), *doc;
    char *text;
    size_t i;

    for (i = 0; blobs != NULL && i < r->n_blobs; i++) {
        const struct al_receipt_blob *b = &r->blobs[i];
        json_t *o = json_pack("{s:s, s:I, s:s, s:s, s:o}", "digest", b->digest, "size",
                              (json_int_t)b->size, "media_type", b->media_type, "kind",
                              al_blob_kind_name(b->kind), "repositories",
                              al_json_strings(b->repos, b->n_repos));
        if (o == NULL || json_array_append_new(blobs, o) != 0) {
            json_decref(blobs);
            return NULL;
        }
    }
    doc = json_pack("{s:s, s:i, s:s, s:s, s:s, s:o}", "format", RECEIPT_FORMAT,
                    "version", RECEIPT_VERSION, al_meta_key_bundle_id, r->bundle_id,
                    "created", r->created ? r->created : "", "mirror",
                    r->mirror ? r->mirror : "", "blobs", blobs);
    text = doc ? json_dumps(doc, JSON_INDENT(1)) : NULL;
    json_decref(doc);
    return text;
}

int al_receipt_write(const struct al_receipt *r, const char *path,
                     const struct al_sig_key *key, struct al_err *e)
{
    char sig_path[SIG_PATH_MAX] = "", *text = receipt_text(r);
    struct al_buf sig;
    int rc = text ? 0 : al_err_set(e, AL_ENOMEM, "out of memory");

    al_buf_init(&sig, 64 * 1024);
    if (rc == 0)
        rc = al_sig_path(sig_path, sizeof(sig_path), path, e);
    if (rc == 0 && key != NULL)
        rc = al_sig_sign(key, text, strlen(text), &sig, e);
    if (rc == 0)
        rc = al_file_write_atomic(path, text, strlen(text), e);
    if (rc == 0 && key != NULL)
        rc = al_file_write_atomic(sig_path, sig.data, sig.len, e);
    else if (rc == 0)   /* an earlier receipt's signature is not this one's */
        unlink(sig_path);
    if (rc != 0 && sig_path[0] != '\0') {   /* no receipt beside a wrong signature */
        unlink(path);
        unlink(sig_path);
    }
    al_buf_release(&sig);
    free(text);
    return rc;
}

int al_receipt_is(const char *text, size_t len)
{
    json_t *doc = json_loadb(text, len, 0, NULL);
    const char *format = json_string_value(json_object_get(doc, "format"));
    int is = format != NULL && strcmp(format, RECEIPT_FORMAT) == 0;

    json_decref(doc);
    return is;
}

static int dup_opt(json_t *doc, const char *key, char **out)
{
    const char *s = json_string_value(json_object_get(doc, key));

    *out = s ? strdup(s) : NULL;
    return s != NULL && *out == NULL ? -1 : 0;
}

static int parse_blob(struct al_receipt *r, json_t *o, size_t i, const char *what,
                      struct al_err *e)
{
    struct al_meta_blob b;
    struct al_receipt_blob *x;
    const char *d = json_string_value(json_object_get(o, "digest"));
    const char *mt = json_string_value(json_object_get(o, "media_type"));
    json_t *v;
    size_t j;
    int rc;

    memset(&b, 0, sizeof(b));
    if (d == NULL || !al_digest_valid(d) || mt == NULL ||
        !json_is_integer(json_object_get(o, "size")))
        return al_err_set(e, AL_EINVAL, "%s: blobs[%zu] is not digest, size and "
                          "media type", what, i);
    memcpy(b.digest, d, strlen(d) + 1);
    b.size = (long long)json_integer_value(json_object_get(o, "size"));
    b.media_type = strdup(mt);
    /* what a mirror holds is a layer unless said to be a config */
    if (al_blob_kind_parse(json_string_value(json_object_get(o, "kind")), &b.kind) != 0 ||
        b.kind != AL_BLOB_CONFIG)
        b.kind = AL_BLOB_LAYER;
    rc = b.media_type ? al_receipt_add_blob(r, &b, &x, e)
                      : al_err_set(e, AL_ENOMEM, "out of memory");
    free(b.media_type);
    json_array_foreach(json_object_get(o, "repositories"), j, v) {
        if (rc != 0)
            break;
        if (!json_is_string(v) || !al_repo_valid(json_string_value(v)))
            return al_err_set(e, AL_EINVAL, "%s: blobs[%zu] names an invalid "
                              "repository", what, i);
        rc = al_receipt_blob_add_repo(x, json_string_value(v), e);
    }
    return rc;
}

static int parse_doc(struct al_receipt *r, json_t *doc, const char *what,
                     struct al_err *e)
{
    json_t *blobs = json_object_get(doc, "blobs"), *o;
    size_t i;
    int rc = 0;

    if (!json_is_string(json_object_get(doc, al_meta_key_bundle_id)) ||
        !json_is_array(blobs))
        return al_err_set(e, AL_EINVAL, "%s is not an airlock receipt", what);
    if (dup_opt(doc, al_meta_key_bundle_id, &r->bundle_id) != 0 ||
        dup_opt(doc, "created", &r->created) != 0 || dup_opt(doc, "mirror", &r->mirror) != 0)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    json_array_foreach(blobs, i, o) {
        rc = parse_blob(r, o, i, what, e);
        if (rc != 0)
            break;
    }
    return rc;
}

int al_receipt_parse(struct al_receipt *r, const char *text, size_t len,
                     const char *what, struct al_err *e)
{
    json_t *doc;
    int rc;

    memset(r, 0, sizeof(*r));
    doc = json_loadb(text, len, 0, NULL);
    rc = parse_doc(r, doc, what, e);
    json_decref(doc);
    if (rc != 0)
        al_receipt_release(r);
    return rc;
}

void al_receipt_release(struct al_receipt *r)
{
    size_t i, j;

    for (i = 0; i < r->n_blobs; i++) {
        free(r->blobs[i].media_type);
        for (j = 0; j < r->blobs[i].n_repos; j++)
            free(r->blobs[i].repos[j]);
        free(r->blobs[i].repos);
    }
    free(r->blobs);
    free(r->bundle_id);
    free(r->created);
    free(r->mirror);
    memset(r, 0, sizeof(*r));
}
