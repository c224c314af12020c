/* --since: what earlier bundles carried, so that an increment leaves it out
 * and says it relies on it. */
#ifndef AIRLOCK_EXPORT_SINCE_H
#define AIRLOCK_EXPORT_SINCE_H

#include <stddef.h>

#include "airlock/digest.h"
#include "airlock/err.h"
#include "airlock/meta.h"
#include "airlock/sign.h"

struct ex_held_blob {
    char digest[AL_DIGEST_STR_MAX];
    long long size;
    char *media_type;
    enum al_blob_kind kind;      /* a layer or a config */
    char *bundle_id;             /* the bundle that carried it */
    char **repos;                /* repositories it went to */
    size_t n_repos;
};

struct ex_held {
    struct ex_held_blob *v;      /* sorted by digest once loaded */
    size_t n;
};

/* What --since reads and which keys it trusts. */
struct ex_since_opts {
    const char *const *paths;          /* --since PREV, repeatable */
    size_t n;
    const struct al_sig_key *own_key;  /* the export's --sign-key: its public
                                          half verifies its own bundles */
    const char *const *keys;           /* --since-key FILE: other exporters */
    size_t n_keys;
    const char *receipt_key;           /* --receipt-verify-key FILE or NULL */
    int allow_unsigned;                /* --since-unsigned: receipts whose
                                          signature cannot be checked */
};

/* Loads each PREV: a bundle (file, FILE.000 or FILE.parts), its extracted
 * bundle.json (with bundle.json.sig beside it) or a receipt (with its .sig
 * unless o->allow_unsigned). Each is read once, bounded, and used only when
 * its signature verifies over those very bytes: a bundle and its volume
 * list by the own key or a --since-key, a receipt by the receipt key
 * (AL_ESIG otherwise, "wrong key" with the key ids for another signer).
 * Blobs PREV itself relied on are held too. A receipt taken unchecked is
 * told to `report`. */
int ex_held_load(struct ex_held *h, const struct ex_since_opts *o,
                 al_report_fn report, void *ud, struct al_err *e);
const struct ex_held_blob *ex_held_find(const struct ex_held *h, const char *digest);
void ex_held_release(struct ex_held *h);

#endif
