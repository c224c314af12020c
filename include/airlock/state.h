/* The mirror's state record: which bundle is the newest imported into a
 * mirror, kept in the mirror itself so that every importer of it sees it
 * (airlock-import refuses an older bundle, which would move tags back to
 * older images, unless --allow-rollback). The record is a tiny OCI image
 * manifest, tag AL_STATE_TAG of repository AL_STATE_REPO under the mirror's
 * path, whose annotations name the bundle, its creation time and signer;
 * its config is the two bytes "{}". Written and read here; the registry
 * calls are the importer's. See docs/SECURITY.md for what it does and does
 * not protect against. */
#ifndef AIRLOCK_STATE_H
#define AIRLOCK_STATE_H

#include <stddef.h>
#include <time.h>

#include "airlock/digest.h"
#include "airlock/err.h"
#include "airlock/meta.h"
#include "airlock/sign.h"

#define AL_STATE_REPO "airlock/state"
#define AL_STATE_TAG "latest"
#define AL_STATE_MEDIA_TYPE "application/vnd.oci.image.manifest.v1+json"
#define AL_STATE_MANIFEST_MAX (64 * 1024)   /* bound for readers */
#define AL_STATE_ID_MAX 64
#define AL_STATE_TIME_LEN 21                /* "2026-11-25T11:33:37Z" + NUL */

struct al_state {
    char bundle_id[AL_STATE_ID_MAX + 1];
    char created[AL_STATE_TIME_LEN];   /* the bundle's creation time, UTC */
    long long created_t;               /* the same, seconds since the epoch */
    char key_id[AL_KEY_ID_LEN];        /* its signer; "" when not checked */
    char imported[AL_STATE_TIME_LEN];  /* when it was recorded; "" unknown */
};

/* The config blob of every record: its bytes (*len of them, static) and
 * its digest. */
const char *al_state_config(size_t *len, char digest[AL_DIGEST_STR_MAX]);

/* Parses "YYYY-MM-DDTHH:MM:SSZ" (the form bundle.json uses) into seconds
 * since the epoch. AL_EINVAL for anything else. */
int al_state_time_parse(const char *s, long long *out, struct al_err *e);

/* The record of bundle `m` signed by `key_id` ("" when unchecked),
 * imported at `now`. AL_EINVAL, naming the bundle, when its id is not a
 * plain identifier or its "created" is missing or not a UTC time. */
int al_state_from_meta(struct al_state *s, const struct al_bundle_meta *m,
                       const char *key_id, time_t now, struct al_err *e);

/* The record's manifest: *text is NUL-terminated; free() it. */
int al_state_manifest(const struct al_state *s, char **text, struct al_err *e);

/* Parses a record's manifest (at most AL_STATE_MANIFEST_MAX bytes, its
 * fields checked like al_state_from_meta's); `what` names it in messages.
 * AL_EINVAL when it is not a record. */
int al_state_parse(struct al_state *s, const char *text, size_t len, const char *what,
                   struct al_err *e);

/* True when `s` is a bundle created before the one `newest` records. */
int al_state_older(const struct al_state *s, const struct al_state *newest);

#endif
