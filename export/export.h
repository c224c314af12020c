/* airlock-export: from inputs to a signed bundle. */
#ifndef AIRLOCK_EXPORT_H
#define AIRLOCK_EXPORT_H

#include <stddef.h>

#include "airlock/bundle.h"
#include "airlock/err.h"
#include "airlock/registry.h"
#include "inputs.h"

struct ex_config {
    const char **configmaps;      /* --samples-configmap, repeatable */
    size_t n_configmaps;
    const char **imagestreams;    /* --imagestreams, repeatable */
    size_t n_imagestreams;
    const char *release;          /* --release */
    const char **components;      /* --release-component, repeatable */
    int samples_from_release;     /* --samples-from-release: besides the inputs */
    int no_samples;               /* --no-samples: the release's components only */
    size_t n_components;
    const char **images;          /* --image, repeatable */
    size_t n_images;
    const char **pull_from;       /* --pull-from FROM=TO */
    size_t n_pull_from;
    const char *authfile;
    const char **ca_files;
    size_t n_ca_files;
    const char *certs_d;          /* default /etc/containers/certs.d */
    int insecure;
    const char *sign_key;
    const char **arches;          /* --arch, already split at commas */
    size_t n_arches;
    const char *output;
    int zstd_level;
    int zstd_threads;             /* --zstd-threads; default: the CPUs */
    int retries;                  /* --retries; -1: the library's default */
    int jobs;                     /* --jobs: blobs downloaded at once (>= 1) */
    /* --verbose: told of every registry request (al_http_opts.trace) */
    void (*trace)(void *ud, const char *method, const char *url, long status,
                  long ms, const char *error);
    long timeout_s;               /* --timeout: no byte for this long ends a
                                     transfer (retried); 0: the default */
    long long split_size;         /* --split-size; 0: one file */
    /* Called while blobs are written, at most 4 times a second, and once
     * at the end (done == total); NULL for none. */
    void (*progress)(void *ud, long long done, long long total);
    void *progress_ud;
    const char *cache_dir;        /* --cache DIR */
    long long cache_max;          /* --cache-max; 0: no limit */
    const char **since;           /* --since PREV, repeatable */
    size_t n_since;
    const char **since_keys;      /* --since-key FILE, repeatable */
    size_t n_since_keys;
    const char *receipt_verify_key;   /* --receipt-verify-key FILE */
    int since_unsigned;           /* --since-unsigned */
    int verify_written;           /* --verify-written */
    int want_digest;              /* the summary will show the bundle's digest
                                     (--json); a split bundle always has it */
    int dry_run;                  /* --dry-run: resolve and plan, download
                                     and write nothing */
};

/* The partial files being written, for a signal handler (async-signal-safe). */
const char *const *ex_partial_paths(size_t *n);

/* What happened, for the summary and the exit code. */
struct ex_result {
    size_t images_exported;
    size_t images_failed;
    size_t blobs;                 /* carried */
    long long blob_bytes;
    size_t relied;                /* left out: earlier bundles carried them */
    size_t cache_hits;            /* blobs taken from --cache */
    long long bundle_bytes;
    char bundle_id[40];
    struct al_bundle_parts parts;   /* what was written (release with
                                       ex_result_release) */
    char *parts_list;               /* the volume list written, or NULL */
    char *json;                     /* the summary as one JSON document */
    /* the plan's estimate (every run; what a --dry-run prints) */
    size_t cached;                  /* blobs found in --cache (dry run) */
    long long cached_bytes;
    long long relied_bytes;         /* left out by --since */
    long long bundle_estimate;      /* bytes the bundle will take, about */
    size_t volumes;                 /* at --split-size, about (1 without) */
    long long free_bytes;           /* where -o goes; -1 unknown */
    char *output_dir;               /* that directory (owned) */
    double seconds;                 /* the run's duration */
};

void ex_result_release(struct ex_result *res);


/* Runs the whole export; per-image failures and progress go to `report`
 * (this module never prints: main() passes a function that does). Returns 0 (partial failures are counted in `res`)
 * or a negative code with `e` set; on failure no file named cfg->output is
 * left and the partial file is removed. */
int ex_run(const struct ex_config *cfg, struct ex_result *res,
           al_report_fn report, void *report_ud, struct al_err *e);

#endif
