/* --receipt: what the mirror now holds for the bundle's images, so that the
 * connected side can export what is missing (airlock-export --since
 * RECEIPT): an image that did not land is not in it, and its blobs are
 * carried again. The format itself is common/receipt.c's. */
#include "import.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "airlock/receipt.h"

/* Adds the repositories of every landed image to its blobs' entries, each
 * blob once, in the order the images first name them. */
static int collect(struct al_receipt *rc_out, const struct im_plan *plan,
                   const struct im_pusher *p, const struct al_bundle_meta *m,
                   struct al_err *e)
{
    /* slot[b]: 1 + the receipt entry of meta blob b, 0 when not yet there */
    size_t *slot = calloc(m->n_blobs + 1, sizeof(size_t));
    size_t i, j;
    int rc = slot ? 0 : al_err_set(e, AL_ENOMEM, "out of memory");

    for (i = 0; rc == 0 && i < plan->n_dests; i++) {
        const struct al_meta_image *img = plan->dests[i].img;
        if (p != NULL && im_pusher_dest_failed(p, i))
            continue;
        for (j = 0; rc == 0 && j < img->n_blobs; j++) {
            size_t b = img->blobs[j];
            struct al_receipt_blob *x;
            if (slot[b] == 0) {
                rc = al_receipt_add_blob(rc_out, &m->blobs[b], &x, e);
                slot[b] = rc_out->n_blobs;
            }
            if (rc == 0)
                rc = al_receipt_blob_add_repo(&rc_out->blobs[slot[b] - 1],
                                              img->repository, e);
        }
    }
    free(slot);
    return rc;
}

int im_receipt_write(const char *path, const struct al_sig_key *key,
                     const struct im_plan *plan, const struct im_pusher *p,
                     const struct al_bundle_meta *m, struct al_err *e)
{
    struct al_receipt r = {0};
    char when[32];
    time_t now = time(NULL);
    int rc;

    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    r.bundle_id = strdup(m->id);
    r.created = strdup(when);
    r.mirror = strdup(plan->mirror_host);
    rc = r.bundle_id && r.created && r.mirror ? 0
                                               : al_err_set(e, AL_ENOMEM, "out of memory");
    if (rc == 0)
        rc = collect(&r, plan, p, m, e);
    if (rc == 0)
        rc = al_receipt_write(&r, path, key, e);
    al_receipt_release(&r);
    return rc;
}
