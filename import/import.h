/* airlock-import: read a bundle once, verify it, push it into a mirror.
 *
 *   im_read()  bundle.json + signature -> meta; every blob streams through a
 *              sink (verified here: size and SHA-256); manifests are kept in
 *              memory, checked against the metadata and handed back.
 *   im_plan    where each image lands and which repositories need each blob.
 *   im_push_*  the registry side: a blob sink (HEAD, upload, mount) and the
 *              manifest and tag phase that runs only after im_read()
 *              succeeded. */
#ifndef AIRLOCK_IMPORT_H
#define AIRLOCK_IMPORT_H

#include <stddef.h>
#include <stdio.h>

#include "airlock/auth.h"
#include "airlock/buf.h"
#include "airlock/err.h"
#include "airlock/http.h"
#include "airlock/meta.h"
#include "airlock/registry.h"
#include "airlock/sign.h"

/* ---- plan ---- */

struct im_dest {
    char *repo;          /* repository in the mirror: prefix + original path */
    char *reference;     /* the tag, or the root digest when exported by digest */
    const struct al_meta_image *img;
    int duplicate;       /* same repo and reference as an earlier image */
    int repo_shared;     /* another destination has the same repository */
    size_t *blob_slot;   /* for img->blobs[j]: its index in the plan's
                            blob_repos[img->blobs[j]] */
};

struct im_plan {
    char *mirror_host;   /* "mirror.example.com:5000" */
    char *prefix;        /* "" or "ocp/mirror" */
    struct im_dest *dests;        /* one per meta image, same order */
    size_t n_dests;
    /* For blob i of the metadata: the mirror repositories that need it. */
    char ***blob_repos;
    size_t *n_blob_repos;
    size_t n_blobs;
};

/* Splits `mirror` ("host[:port][/prefix]") and computes destinations. Two
 * images landing on the same name with different digests are an error that
 * names both. */
int im_plan_build(struct im_plan *p, const char *mirror,
                  const struct al_bundle_meta *m, struct al_err *e);
void im_plan_release(struct im_plan *p);

/* The mirror repository for an original repository path: the prefix, if
 * any, then the path; owned. */
char *im_plan_mirror_repo(const struct im_plan *p, const char *repo);

/* "mirror:5000/ubi8/ruby-31:latest" (or @digest) for messages; owned. */
char *im_dest_name(const struct im_plan *p, const struct im_dest *d);

/* ---- reading ---- */

/* What happens to the bytes of a layer or config as they stream by. The
 * reader hashes them; the sink learns at end() whether they were right and
 * must not commit anything before that. */
struct im_sink {
    int (*begin)(void *ud, size_t blob, struct al_err *e);
    int (*data)(void *ud, const void *p, size_t n, struct al_err *e);
    /* verified: 1 when size and digest matched; on 0 the sink discards */
    int (*end)(void *ud, int verified, struct al_err *e);
    void *ud;
};

struct im_manifest {
    char *data;                 /* the exact bytes */
    size_t len;
};

struct im_bundle {
    struct al_buf meta_text;    /* bundle.json as signed */
    struct al_bundle_meta meta;
    struct im_manifest *manifests;  /* by blob index; NULL data for non-manifests */
    char key_id[AL_KEY_ID_LEN];     /* the signer, "" when unchecked */
    long long blob_bytes;       /* uncompressed bytes of blobs verified */
    int sink_failed;            /* reading stopped because the sink (or the
                                   ready callback) failed, not the bundle */
};

struct im_read_opts {
    const char *path;                 /* "-" for standard input */
    const struct al_sig_key *key;     /* NULL: --insecure-skip-signature */
    const char *mirror;               /* for the plan; NULL with --verify-only */
    struct im_plan *plan;             /* filled right after bundle.json */
    /* Called once the metadata is trusted and planned, before any blob. */
    int (*ready)(void *ud, struct im_bundle *b, struct al_err *e);
    void *ready_ud;
    const struct im_sink *sink;       /* NULL: verify only; read only after
                                         ready() returned */
    /* Called after each blob with the bytes verified so far. */
    void (*progress)(void *ud, long long done, size_t blobs_done);
};

/* Reads and verifies the whole bundle. On success `b` holds the metadata and
 * every manifest, all verified. Release `b` in any case. */
int im_read(const struct im_read_opts *o, struct im_bundle *b, struct al_err *e);
void im_bundle_release(struct im_bundle *b);

/* ---- pushing ---- */

struct im_counts {
    /* each layer and config of the bundle once: new + placed + there is
     * every one of them */
    size_t blobs_new;            /* uploaded (then mounted where needed) */
    size_t blobs_placed;         /* not uploaded: mounted from where the
                                    mirror had it */
    size_t blobs_there;          /* every repository had it */
    /* per repository a blob went to (a blob may count several times): */
    size_t blobs_pushed, blobs_skipped, blobs_mounted;
    long long bytes_pushed;
    size_t manifests_pushed, manifests_skipped;
    size_t tags_pushed, tags_skipped;
    size_t tags_moved;           /* of tags_pushed: the tag named another
                                    manifest before */
    size_t images_done, images_failed;
};

struct im_pusher;

/* `jobs` upload threads, each with its own client made from `http_opts`
 * and a clone of `reg` (which the main thread keeps using). */
int im_pusher_new(struct im_pusher **out, struct al_registry *reg,
                  const struct al_http_opts *http_opts, size_t jobs,
                  const struct im_plan *plan, const struct al_bundle_meta *meta,
                  struct al_err *e);
void im_pusher_free(struct im_pusher *p);

/* A dry run: the mirror is only read (HEAD, GET); what would be uploaded,
 * mounted and pushed is counted as if it had been, and each tag that would
 * be created or moved is told to `report`. Call before im_pusher_start. */
void im_pusher_set_dry_run(struct im_pusher *p, al_report_fn report, void *ud);

/* Probes the mirror (called from im_read_opts.ready, so that the registry
 * sees no traffic before the signature is checked). */
int im_pusher_start(struct im_pusher *p, struct al_err *e);

/* The sink that pushes blobs. */
void im_pusher_sink(struct im_pusher *p, struct im_sink *out);


/* Pushes manifests (children, then roots, by digest) and then tags, for
 * every image. Failures of one image are reported through `report` and
 * counted; the return is an error only for what stops everything. */
int im_pusher_finish(struct im_pusher *p, const struct im_bundle *b,
                     al_report_fn report, void *ud, struct al_err *e);

/* The final counts: stops the upload threads first (call at the end). */
const struct im_counts *im_pusher_counts(struct im_pusher *p);

/* True when destination `i` of the plan could not be pushed. */
int im_pusher_dest_failed(const struct im_pusher *p, size_t i);

/* ---- receipt ---- */

/* Writes what the mirror holds for the images that landed (all of them
 * when `p` is NULL), signed into PATH.sig when `key` is given. */
int im_receipt_write(const char *path, const struct al_sig_key *key,
                     const struct im_plan *plan, const struct im_pusher *p,
                     const struct al_bundle_meta *m, struct al_err *e);

/* ---- listing (--list) ---- */

/* What a bundle says it holds, read from its first two entries only. */
struct im_listing {
    struct al_buf meta_text;        /* bundle.json as signed */
    struct al_bundle_meta meta;
    char key_id[AL_KEY_ID_LEN];     /* the key the signature names */
    int verified;                   /* 1: checked against --verify-key */
    char *parts_list;               /* the volume list read, or NULL */
};

/* Reads bundle.json and its signature from `path` (a bundle, its first
 * volume, its FILE.parts or "-"); with `verify_key` checks
 * the signature (and the volume list's). Release `l` in any case. */
int im_list_read(struct im_listing *l, const char *path, const char *verify_key,
                 struct al_err *e);
void im_listing_release(struct im_listing *l);

/* The listing as one JSON document (free() it); NULL when out of memory. */
char *im_list_json(const struct im_listing *l);

/* The listing as text on `out`, every line at most `width` columns (0: no
 * limit). */
void im_list_print(const struct im_listing *l, FILE *out, size_t width);

/* ---- rollback (the mirror's record of the newest bundle) ---- */

/* Refuses bundle `b` (AL_EINVAL, naming both bundles and their creation
 * times) when it was created before the newest bundle the mirror's record
 * names; with `allow_rollback` that, and an unreadable record, are told to
 * `report` as warnings instead. Pushes nothing. */
int im_state_check(struct al_registry *reg, const struct im_plan *plan,
                   const struct im_bundle *b, int allow_rollback, al_report_fn report,
                   void *ud, struct al_err *e);

/* After an import: records `b` in the mirror as the newest bundle imported,
 * unless the record already names one at least as new. */
int im_state_record(struct al_registry *reg, const struct im_plan *plan,
                    const struct im_bundle *b, al_report_fn report, void *ud,
                    struct al_err *e);

/* ---- the whole run ---- */

struct im_config {
    const char *bundle;           /* path or "-" */
    const char *verify_key;       /* NULL only with skip_signature */
    int skip_signature;
    int verify_only;
    const char *registry;         /* mirror host[:port][/prefix] */
    const char *authfile;
    const char **ca_files;
    size_t n_ca_files;
    const char *certs_d;
    int insecure;
    int retries;                  /* -1: the library's default */
    int jobs;                     /* --jobs: blobs uploaded at once */
    /* --verbose: told of every registry request (al_http_opts.trace) */
    void (*trace)(void *ud, const char *method, const char *url, long status,
                  long ms, const char *error);
    long timeout_s;               /* --timeout; 0: the default */
    /* the cluster */
    const char *kubeconfig;       /* NULL: $KUBECONFIG, ~/.kube/config, in-cluster */
    const char *context;
    int skip_cluster;
    int dry_run;
    const char *manifests_dir;
    int apply_mirror_sets;        /* --apply-mirror-sets */
    const char *sa_dir;           /* service account dir (tests override) */
    const char *receipt;          /* --receipt FILE */
    const char *receipt_key;      /* --receipt-key FILE (private) */
    /* On a terminal: called as blobs pass, at most 4 times a second and
     * once at the end (done == total), instead of a line every tenth;
     * NULL for none. */
    void (*progress)(void *ud, long long done, long long total);
    void *progress_ud;
    int allow_rollback;           /* --allow-rollback */
};

struct im_result {
    struct im_counts counts;
    size_t images;                /* images in the bundle */
    size_t blobs;
    long long blob_bytes;
    char key_id[AL_KEY_ID_LEN];
    char bundle_id[64];
    char *mirror_host;            /* owned */
    const struct al_meta_failed *not_carried;   /* valid until im_result_release */
    size_t n_not_carried;
    int bundle_refused;           /* the failure was the bundle's, not ours */
    int cluster_failed;           /* images landed, the cluster step failed */
    int cluster_done;             /* the cluster was configured (or dry-run) */
    double seconds;               /* the run's duration */
    struct im_bundle bundle;
};

/* Checks --registry before anything is read. */
int im_mirror_check(const char *mirror, struct al_err *e);

/* Runs the import: `report` receives progress, `warn` per-image failures. */
int im_run(const struct im_config *cfg, struct im_result *res, al_report_fn report,
           al_report_fn warn, void *ud, struct al_err *e);
void im_result_release(struct im_result *res);

#endif
