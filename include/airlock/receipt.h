/* The receipt (format "airlock-receipt"): what a mirror holds after an
 * import, so that the connected side can export only what is missing
 * (airlock-export --since RECEIPT). Written by airlock-import --receipt,
 * read by --since. */
#ifndef AIRLOCK_RECEIPT_H
#define AIRLOCK_RECEIPT_H

#include <stddef.h>

#include "airlock/digest.h"
#include "airlock/err.h"
#include "airlock/meta.h"
#include "airlock/sign.h"

struct al_receipt_blob {
    char digest[AL_DIGEST_STR_MAX];
    long long size;
    char *media_type;
    enum al_blob_kind kind;      /* a layer or a config */
    char **repos;                /* repositories of the mirror holding it */
    size_t n_repos;
};

/* Every pointer is owned by the receipt (al_receipt_release()). */
struct al_receipt {
    char *bundle_id;             /* the bundle imported */
    char *created;               /* "2026-11-25T11:33:37Z", NULL when absent */
    char *mirror;                /* "mirror.example.com:5000", NULL when absent */
    struct al_receipt_blob *blobs;
    size_t n_blobs;
};

/* Appends a blob (digest, size, media type and kind copied from `b`, no
 * repository yet) and returns it in *out. */
int al_receipt_add_blob(struct al_receipt *r, const struct al_meta_blob *b,
                        struct al_receipt_blob **out, struct al_err *e);

/* Adds `repo` to the blob's repositories unless it is there. */
int al_receipt_blob_add_repo(struct al_receipt_blob *b, const char *repo,
                             struct al_err *e);

/* Writes the receipt to `path` atomically and, when `key` is not NULL, its
 * signature to the al_sig_path() of `path`. */
int al_receipt_write(const struct al_receipt *r, const char *path,
                     const struct al_sig_key *key, struct al_err *e);

/* True when `text` is JSON whose format says it is a receipt. */
int al_receipt_is(const char *text, size_t len);

/* Parses a receipt; `what` names it in messages ("--since 'r.json'"). On
 * failure `r` is left empty. */
int al_receipt_parse(struct al_receipt *r, const char *text, size_t len,
                     const char *what, struct al_err *e);

/* Frees what `r` owns and leaves it empty. */
void al_receipt_release(struct al_receipt *r);

#endif
