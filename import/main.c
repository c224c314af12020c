/* airlock-import: the command line. Parses options into an im_config, runs
 * the import and turns the outcome into a summary and an exit code. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../cli/cli.h"
#include "import.h"

#define EXIT_BUNDLE_REFUSED 4
#define EXIT_CLUSTER_FAILED 5

static const char usage_text[] =
    "Usage: airlock-import BUNDLE --verify-key KEY --registry HOST[:PORT] [OPTION]...\n"
    "       airlock-import BUNDLE --verify-key KEY --verify-only\n"
    "       airlock-import --list BUNDLE [--verify-key KEY] [--json]\n"
    "Verify an airlock bundle (BUNDLE may be '-' for standard input) and push its\n"
    "images into a mirror registry, in one streaming pass: nothing is extracted to\n"
    "disk, and no manifest or tag is pushed before every blob has been verified.\n"
    "\n"
    "Verification:\n"
    "      --verify-key FILE          PEM public key of the exporter (required)\n"
    "      --insecure-skip-signature  do not check the signature (dangerous)\n"
    "      --verify-only              check everything, push nothing\n"
    "      --list                     show what the bundle holds (read from its\n"
    "                                 signed bundle.json alone, at once; the\n"
    "                                 signature is checked only with --verify-key)\n"
    "      --json                     with --list: one JSON document on stdout\n"
    "\n"
    "The mirror:\n"
    "      --registry HOST[:PORT][/PATH]  where images land: the source registry\n"
    "                                 host is replaced, path and tag are kept\n"
    "      --authfile FILE            registry credentials (auth.json format)\n"
    "      --ca-file FILE             the mirror's CA certificate (repeatable)\n"
    "      --certs-dir DIR            per-registry CAs (default /etc/containers/certs.d)\n"
    "      --insecure                 do not verify TLS certificates (dangerous)\n"
    "      --retries N                tries again after transient failures (429, 5xx,\n"
    "                                 resets, timeouts; default 5)\n"
    "      --timeout SECONDS          an answer (manifest, token, API) not whole\n"
    "                                 within this long, or an upload that moves no\n"
    "                                 byte for this long, is broken off (default 60)\n"
    "  -j, --jobs N                   blobs uploaded at once (default 4; each holds\n"
    "                                 at most 2 MiB of the bundle)\n"
    "\n"
    "      --receipt FILE             write what the mirror now holds, for\n"
    "                                 airlock-export --since FILE on the other side\n"
    "      --receipt-key FILE         sign the receipt with this private key\n"
    "      --allow-rollback           import a bundle older than the newest one\n"
    "                                 already imported into the mirror (tags move\n"
    "                                 back to older images); refused otherwise\n"
    "\n"
    "The cluster (after the push; see README):\n"
    "      --kubeconfig FILE          default $KUBECONFIG, ~/.kube/config, or the pod's\n"
    "                                 service account\n"
    "      --context NAME             a kubeconfig context other than the current one\n"
    "      --dry-run                  change nothing anywhere: verify the bundle, read\n"
    "                                 the mirror and the cluster, and print what\n"
    "                                 would be pushed and what would change\n"
    "      --manifests-dir DIR        write the objects and an apply.sh instead of\n"
    "                                 touching the cluster\n"
    "      --skip-cluster             only push\n"
    "      --apply-mirror-sets        also apply the ImageDigestMirrorSet for the\n"
    "                                 release's components (changes every node's\n"
    "                                 registry configuration); without it, it is\n"
    "                                 only written with --manifests-dir\n"
    "\n"
    "  -v, --verbose                  a line per registry request: method, URL (no\n"
    "                                 credentials), status, time\n"
    "  -q, --quiet                    print errors and the summary only\n"
    "  -h, --help                     show this help and exit\n"
    "      --version                  show the version and exit\n"
    "\n"
    "Exit status: 0 everything in the bundle landed (or verified), 1 failure\n"
    "(registry, network, files; run again to resume), 2 bad command line,\n"
    "3 some images could not be pushed (listed), 4 the bundle was refused\n"
    "(signature, corruption, truncation, tampering): get a good copy, 5 the images\n"
    "landed but the cluster could not be configured (run again once fixed),\n"
    "130 / 143 interrupted by SIGINT / SIGTERM (run again to resume).\n";

enum {
    OPT_VERIFY_KEY = 256, OPT_SKIP_SIG, OPT_VERIFY_ONLY, OPT_REGISTRY,
    OPT_AUTHFILE, OPT_CA_FILE, OPT_CERTS_DIR, OPT_INSECURE, OPT_VERSION,
    OPT_KUBECONFIG, OPT_CONTEXT, OPT_SKIP_CLUSTER, OPT_DRY_RUN, OPT_MANIFESTS_DIR,
     OPT_RECEIPT, OPT_RECEIPT_KEY, OPT_ALLOW_ROLLBACK, OPT_APPLY_MIRROR_SETS,
    OPT_LIST, OPT_JSON,
};

static const struct option long_options[] = {
    {"verify-key", required_argument, NULL, OPT_VERIFY_KEY},
    {"insecure-skip-signature", no_argument, NULL, OPT_SKIP_SIG},
    {"verify-only", no_argument, NULL, OPT_VERIFY_ONLY},
    {"registry", required_argument, NULL, OPT_REGISTRY},
    {"authfile", required_argument, NULL, OPT_AUTHFILE},
    {"ca-file", required_argument, NULL, OPT_CA_FILE},
    {"certs-dir", required_argument, NULL, OPT_CERTS_DIR},
    {"insecure", no_argument, NULL, OPT_INSECURE},
    CLI_TRANSFER_OPTIONS,
    {"receipt", required_argument, NULL, OPT_RECEIPT},
    {"receipt-key", required_argument, NULL, OPT_RECEIPT_KEY},
    {"allow-rollback", no_argument, NULL, OPT_ALLOW_ROLLBACK},
    {"kubeconfig", required_argument, NULL, OPT_KUBECONFIG},
    {"context", required_argument, NULL, OPT_CONTEXT},
    {"skip-cluster", no_argument, NULL, OPT_SKIP_CLUSTER},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"manifests-dir", required_argument, NULL, OPT_MANIFESTS_DIR},
    {"apply-mirror-sets", no_argument, NULL, OPT_APPLY_MIRROR_SETS},
    {"list", no_argument, NULL, OPT_LIST},
    {"json", no_argument, NULL, OPT_JSON},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

struct options {
    struct cli_list ca_files;
    struct im_config cfg;
    int quiet;
    int list;      /* --list */
    int json;      /* --json */
    int done;
};

static int g_quiet;

static void report(void *ud, const char *fmt, ...)
{
    va_list ap;

    (void)ud;
    if (g_quiet)
        return;
    va_start(ap, fmt);
    cli_vmsg(fmt, ap);
    va_end(ap);
}

/* Failures of single images are always shown, even with -q. */
static void report_always(void *ud, const char *fmt, ...)
{
    va_list ap;

    (void)ud;
    va_start(ap, fmt);
    cli_vmsg(fmt, ap);
    va_end(ap);
}

static int take_option(struct options *o, int c, const char *arg)
{
    struct im_config *cfg = &o->cfg;

    switch (c) {
    case OPT_VERIFY_KEY: cfg->verify_key = arg; break;
    case OPT_SKIP_SIG: cfg->skip_signature = 1; break;
    case OPT_VERIFY_ONLY: cfg->verify_only = 1; break;
    case OPT_REGISTRY: cfg->registry = arg; break;
    case OPT_AUTHFILE: cfg->authfile = arg; break;
    case OPT_CA_FILE:
        if (cli_list_add(&o->ca_files, arg) != 0) {
            cli_msg("out of memory");
            return CLI_EXIT_FAILURE;
        }
        break;
    case OPT_CERTS_DIR: cfg->certs_d = arg; break;
    case OPT_INSECURE: cfg->insecure = 1; break;
    case OPT_KUBECONFIG: cfg->kubeconfig = arg; break;
    case OPT_RECEIPT: cfg->receipt = arg; break;
    case OPT_RECEIPT_KEY: cfg->receipt_key = arg; break;
    case OPT_ALLOW_ROLLBACK: cfg->allow_rollback = 1; break;
    case OPT_CONTEXT: cfg->context = arg; break;
    case OPT_SKIP_CLUSTER: cfg->skip_cluster = 1; break;
    case OPT_DRY_RUN: cfg->dry_run = 1; break;
    case OPT_MANIFESTS_DIR: cfg->manifests_dir = arg; break;
    case OPT_APPLY_MIRROR_SETS: cfg->apply_mirror_sets = 1; break;
    case OPT_LIST: o->list = 1; break;
    case OPT_JSON: o->json = 1; break;
    case 'q': o->quiet = 1; break;
    case 'v': o->cfg.trace = cli_trace_request; break;
    case 'h': fputs(usage_text, stdout); o->done = 1; break;
    case OPT_VERSION: printf("airlock-import %s\n", AIRLOCK_VERSION); o->done = 1; break;
    default: return cli_usage_error("unknown option");
    }
    return 0;
}

/* --list reads bundle.json only: no mirror, no cluster. */
static int check_list_options(const struct options *o)
{
    const struct im_config *cfg = &o->cfg;

    if (cfg->registry != NULL || cfg->verify_only || cfg->receipt != NULL ||
        cfg->dry_run || cfg->manifests_dir != NULL)
        return cli_usage_error("--list only reads the bundle: leave out --registry, "
                               "--verify-only, --receipt, --dry-run and --manifests-dir");
    return 0;
}

static int check_options(struct options *o)
{
    struct im_config *cfg = &o->cfg;
    struct al_err e;

    if (cfg->bundle == NULL)
        return cli_usage_error("which bundle? give its path (or '-' for standard input)");
    if (o->json && !o->list)
        return cli_usage_error("--json goes with --list");
    if (o->list)
        return check_list_options(o);
    if (cfg->verify_key == NULL && !cfg->skip_signature)
        return cli_usage_error("--verify-key is required (the exporter's public key); "
                               "--insecure-skip-signature imports unverified bundles");
    if (cfg->verify_key != NULL && cfg->skip_signature)
        return cli_usage_error("--verify-key and --insecure-skip-signature exclude "
                               "each other");
    if (cfg->registry == NULL && !cfg->verify_only)
        return cli_usage_error("--registry is required (the mirror, host[:port]), "
                               "unless --verify-only");
    if (cfg->receipt_key != NULL && cfg->receipt == NULL)
        return cli_usage_error("--receipt-key signs a --receipt: give --receipt FILE too");
    if (cfg->receipt != NULL && cfg->verify_only)
        return cli_usage_error("--verify-only pushes nothing, so there is no receipt");
    if (cfg->skip_cluster + (cfg->manifests_dir != NULL) + cfg->dry_run > 1 &&
        !(cfg->dry_run && cfg->skip_cluster && cfg->manifests_dir == NULL))
        return cli_usage_error("--manifests-dir excludes --skip-cluster and --dry-run");
    if (cfg->dry_run && cfg->receipt != NULL)
        return cli_usage_error("--dry-run pushes nothing, so there is no receipt");
    if (cfg->dry_run && cfg->verify_only)
        return cli_usage_error("--verify-only and --dry-run exclude each other "
                               "(--dry-run verifies too, and reads the mirror)");
    if (cfg->apply_mirror_sets && (cfg->skip_cluster || cfg->verify_only))
        return cli_usage_error("--apply-mirror-sets configures the cluster: it cannot go "
                               "with --skip-cluster or --verify-only");
    al_err_init(&e);
    if (cfg->registry != NULL && im_mirror_check(cfg->registry, &e) != 0)
        return cli_usage_error("%s", e.msg);
    cfg->ca_files = o->ca_files.v;
    cfg->n_ca_files = o->ca_files.n;
    return 0;
}

static int take_option_cb(void *ud, int c, const char *arg)
{
    struct options *o = ud;
    int taken, rc = cli_take_transfer_option(c, arg, &o->cfg.retries, &o->cfg.timeout_s,
                                             &o->cfg.jobs, &taken);

    return taken ? rc : take_option(o, c, arg);
}

static int parse_args(struct options *o, int argc, char **argv)
{
    int rc;

    o->cfg.certs_d = "/etc/containers/certs.d";
    o->cfg.retries = -1;
    o->cfg.jobs = 4;
    rc = cli_getopt(argc, argv, ":j:qvh", long_options, take_option_cb, o, &o->done);
    if (rc != 0 || o->done)
        return rc;
    if (optind < argc)
        o->cfg.bundle = argv[optind++];
    if (!o->quiet && isatty(STDERR_FILENO)) {
        o->cfg.progress = cli_progress;
        o->cfg.progress_ud = NULL;
    }
    if (optind < argc)
        return cli_usage_error("unexpected argument '%s' (one bundle at a time)",
                               argv[optind]);
    return check_options(o);
}

static void print_not_carried(const struct im_result *res)
{
    size_t i;

    if (res->n_not_carried == 0)
        return;
    printf("not in the bundle (the export could not fetch them): %zu\n",
           res->n_not_carried);
    for (i = 0; i < res->n_not_carried; i++)
        printf("  %s: %s\n", res->not_carried[i].name,
               res->not_carried[i].reason ? res->not_carried[i].reason : "unknown reason");
}

/* A dry run: what the mirror lacks, read from it, nothing changed. */
static int summarise_dry_run(const struct im_result *res)
{
    const struct im_counts *c = &res->counts;
    char size[32];

    printf("dry run: nothing was pushed to %s and no cluster object was written\n",
           res->mirror_host ? res->mirror_host : "?");
    printf("would upload: %zu blobs (%s) the mirror lacks; would mount %zu; %zu "
           "already there\n", c->blobs_pushed,
           cli_human_size(c->bytes_pushed, size, sizeof(size)), c->blobs_mounted,
           c->blobs_skipped);
    printf("would push: %zu manifests (%zu already there); tags: %zu to create, %zu to "
           "move, %zu already there\n", c->manifests_pushed, c->manifests_skipped,
           c->tags_pushed - c->tags_moved, c->tags_moved, c->tags_skipped);
    print_not_carried(res);
    return CLI_EXIT_OK;
}

static size_t layers_and_configs(const struct al_bundle_meta *m)
{
    size_t i, n = 0;

    for (i = 0; i < m->n_carried; i++)
        n += m->blobs[i].kind != AL_BLOB_MANIFEST;
    return n;
}

static int summarise(const struct options *o, const struct im_result *res)
{
    const struct im_counts *c = &res->counts;
    char size[32], took[32];

    if (o->cfg.verify_only) {
        printf("verified: bundle %s, signed by key %s: %zu images, %zu blobs "
               "(%s, %lld bytes) in %s\n", res->bundle_id,
               res->key_id[0] ? res->key_id : "(not checked)", res->images,
               res->blobs, cli_human_size(res->blob_bytes, size, sizeof(size)),
               res->blob_bytes, cli_human_duration(res->seconds, took, sizeof(took)));
        print_not_carried(res);
        return CLI_EXIT_OK;
    }
    if (o->cfg.dry_run)
        return summarise_dry_run(res);
    printf("images: %zu landed in %s, %zu failed, in %s\n", c->images_done,
           res->mirror_host ? res->mirror_host : "?", c->images_failed,
           cli_human_duration(res->seconds, took, sizeof(took)));
    printf("blobs: %zu pushed (%s), %zu mounted, %zu already there = the bundle's %zu "
           "layers and configs; placed in other repositories too: %zu mounted, %zu "
           "copied\n", c->blobs_new, cli_human_size(c->bytes_pushed, size, sizeof(size)),
           c->blobs_placed, c->blobs_there, layers_and_configs(&res->bundle.meta),
           c->blobs_mounted, c->blobs_pushed - c->blobs_new);
    printf("manifests: %zu pushed, %zu already there; tags: %zu pushed, %zu already "
           "there\n", c->manifests_pushed, c->manifests_skipped, c->tags_pushed,
           c->tags_skipped);
    print_not_carried(res);
    if (c->images_failed > 0) {
        cli_msg("%zu images could not be pushed (listed above): run again once the "
                "cause is fixed", c->images_failed);
        return CLI_EXIT_PARTIAL;
    }
    return CLI_EXIT_OK;
}

/* Errors that say the bundle itself is bad (exit 4), not the run. */
static int is_bundle_fault(int code)
{
    return code == AL_EINVAL || code == AL_EDIGEST || code == AL_ESIG ||
           code == AL_ETOOBIG || code == AL_EUNSUPPORTED;
}

static int list_bundle(const struct options *o)
{
    struct im_listing l;
    struct al_err e;
    char *json;
    int rc;

    al_err_init(&e);
    rc = im_list_read(&l, o->cfg.bundle, o->cfg.verify_key, &e);
    if (rc != 0) {
        rc = is_bundle_fault(rc) ? (cli_fail(&e), EXIT_BUNDLE_REFUSED) : cli_fail(&e);
    } else if (o->json) {
        json = im_list_json(&l);
        if (json == NULL)
            cli_msg("out of memory");
        else
            printf("%s\n", json);
        rc = json ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
        free(json);
    } else {
        im_list_print(&l, stdout, cli_term_width(STDOUT_FILENO));
    }
    im_listing_release(&l);
    return rc;
}

int main(int argc, char **argv)
{
    struct options o;
    struct im_result res;
    struct al_err e;
    int rc;

    memset(&o, 0, sizeof(o));
    cli_init("airlock-import");
    rc = parse_args(&o, argc, argv);
    if (rc != 0 || o.done) {
        cli_list_release(&o.ca_files);
        return rc;
    }
    g_quiet = o.quiet;
    if (o.list) {
        rc = list_bundle(&o);
        cli_list_release(&o.ca_files);
        return rc;
    }
    if (o.cfg.skip_signature)
        cli_msg("warning: --insecure-skip-signature: the bundle's origin is NOT "
                "checked; anyone could have written it");
    if (o.cfg.insecure)
        cli_msg("warning: --insecure: the mirror's TLS certificate is NOT verified; "
                "anyone on the network path can pose as it and take the credentials");
    cli_on_signal_unlink(NULL);
    al_err_init(&e);
    if (im_run(&o.cfg, &res, report, report_always, &o, &e) != 0) {
        rc = cli_fail(&e);
        if (res.cluster_failed) {
            summarise(&o, &res);
            cli_msg("the images landed, but the cluster is not (fully) configured: "
                    "run again once the cause above is fixed");
            rc = EXIT_CLUSTER_FAILED;
        } else if (res.bundle_refused) {
            cli_msg("the bundle was refused; nothing was tagged in the mirror");
            rc = EXIT_BUNDLE_REFUSED;
        }
    } else {
        rc = summarise(&o, &res);
    }
    im_result_release(&res);
    cli_list_release(&o.ca_files);
    return rc;
}
