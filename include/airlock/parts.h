/* The volume list FILE.parts and its signature FILE.parts.sig (see
 * docs/FORMAT.md): which volumes make up a bundle cut with --split-size,
 * with each volume's size and SHA-256. Written by the export, read by the
 * bundle reader. */
#ifndef AIRLOCK_PARTS_H
#define AIRLOCK_PARTS_H

#include <stddef.h>

#include "airlock/bundle.h"
#include "airlock/err.h"
#include "airlock/sign.h"

#define AL_PARTS_LIST_MAX (4 * 1024 * 1024)   /* bound for readers */
#define AL_PARTS_SIG_MAX (64 * 1024)

struct al_parts_list {
    char *bundle_id;                 /* NULL when the list does not say */
    struct al_bundle_parts parts;    /* names as listed: file names relative
                                        to the list; size, digest and split 0
                                        or "" when the list does not say */
};

/* Writes the list of `p` for bundle `bundle_id` to `path` and its
 * signature by `key` to the al_sig_path() of `path`, each atomically. Each
 * part is listed under the last component of its name. On failure neither
 * file is left behind. */
int al_parts_list_write(const char *path, const char *bundle_id,
                        const struct al_bundle_parts *p, const struct al_sig_key *key,
                        struct al_err *e);

/* Reads the list at `path` once (at most AL_PARTS_LIST_MAX bytes); with a
 * `key`, checks its signature file over exactly those bytes (AL_ESIG when
 * it is missing, forged or by another key) before parsing them. NULL key:
 * not checked. On failure `l` is left empty. */
int al_parts_list_read(struct al_parts_list *l, const char *path,
                       const struct al_sig_key *key, struct al_err *e);

/* Frees what `l` owns and leaves it empty. */
void al_parts_list_release(struct al_parts_list *l);

/* Removes the list at `path` and its signature file, if they exist. */
void al_parts_list_remove(const char *path);

#endif
