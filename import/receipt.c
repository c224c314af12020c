/* --receipt: what the mirror now holds for the bundle's images, so that the
 * connected side can export what is missing (airlock-export --since
 * RECEIPT): an image that did not land is not in it, and its blobs are
 * carried again. */
#include "import.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int im_json_has_string(json_t *a, const char *s)
{
    size_t i;
    json_t *v;

    json_array_foreach(a, i, v)
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
            return 1;
    return 0;
}

/* Adds the repositories of every landed image to its blobs' entries. */
static int collect(const struct im_plan *plan, const struct im_pusher *p,
                   const struct al_bundle_meta *m, json_t *by_digest)
{
    size_t i, j;

    for (i = 0; i < plan->n_dests; i++) {
        const struct al_meta_image *img = plan->dests[i].img;
        if (p != NULL && im_pusher_dest_failed(p, i))
            continue;
        for (j = 0; j < img->n_blobs; j++) {
            const struct al_meta_blob *b = &m->blobs[img->blobs[j]];
            json_t *o = json_object_get(by_digest, b->digest), *repos;
            if (o == NULL) {
                o = json_pack("{s:s, s:I, s:s, s:s, s:[]}", "digest", b->digest, "size",
                              (json_int_t)b->size, "media_type", b->media_type, "kind",
                              al_blob_kind_name(b->kind), "repositories");
                if (o == NULL || json_object_set_new(by_digest, b->digest, o) != 0)
                    return -1;
            }
            repos = json_object_get(o, "repositories");
            if (!im_json_has_string(repos, img->repository))
                json_array_append_new(repos, json_string(img->repository));
        }
    }
    return 0;
}

int im_receipt_write(const char *path, const struct al_sig_key *key,
                     const struct im_plan *plan, const struct im_pusher *p,
                     const struct al_bundle_meta *m, struct al_err *e)
{
    json_t *by_digest = json_object(), *blobs = json_array(), *doc, *v;
    struct al_buf sig;
    const char *k;
    char when[32], sig_path[4200], *text = NULL;
    time_t now = time(NULL);
    int rc = 0;

    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    if (by_digest == NULL || blobs == NULL || collect(plan, p, m, by_digest) != 0)
        rc = al_err_set(e, AL_ENOMEM, "out of memory");
    json_object_foreach(by_digest, k, v)
        json_array_append(blobs, v);
    doc = json_pack("{s:s, s:i, s:s, s:s, s:s, s:o}", "format", "airlock-receipt",
                    "version", 1, "bundle_id", m->id, "created", when, "mirror",
                    plan->mirror_host, "blobs", blobs);
    json_decref(by_digest);
    if (rc == 0 && (doc == NULL || (text = json_dumps(doc, JSON_INDENT(1))) == NULL))
        rc = al_err_set(e, AL_ENOMEM, "out of memory");
    json_decref(doc);
    al_buf_init(&sig, 64 * 1024);
    if (rc == 0)
        rc = al_file_write_atomic(path, text, strlen(text), e);
    if (rc == 0 && key != NULL) {
        snprintf(sig_path, sizeof(sig_path), "%s.sig", path);
        rc = al_sig_sign(key, text, strlen(text), &sig, e);
        if (rc == 0)
            rc = al_file_write_atomic(sig_path, sig.data, sig.len, e);
    }
    al_buf_release(&sig);
    free(text);
    return rc;
}
