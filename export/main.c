/* airlock-export: the command line. Parses options into an ex_config,
 * runs the export and turns the outcome into messages and an exit code. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../cli/cli.h"
#include "airlock/buf.h"
#include "export.h"

static const char usage_text[] =
    "Usage: airlock-export [OPTION]... -o BUNDLE --sign-key KEY\n"
    "Resolve OpenShift samples imagestreams and a release's must-gather image and\n"
    "write them, every blob once, into one signed zstd-compressed tar bundle.\n"
    "\n"
    "What to export (any combination; FILE may be '-' for standard input):\n"
    "      --samples-configmap FILE  the imagestreamtag-to-image ConfigMap (JSON)\n"
    "      --imagestreams FILE       ImageStream / ImageStreamList / List (JSON)\n"
    "      --release REF             a release payload; adds its must-gather image,\n"
    "                                and the samples its cluster-samples-operator\n"
    "                                carries when no other samples input is given\n"
    "      --release-component NAME  also add this component of the release\n"
    "      --samples-from-release    take the release's samples besides the other\n"
    "                                inputs\n"
    "      --no-samples              carry only the release's components\n"
    "      --image REF               any further image (repeatable)\n"
    "      --images-from FILE        further images, one reference a line ('#'\n"
    "                                starts a comment)\n"
    "      --arch LIST               keep only these platforms of multi-arch images\n"
    "                                (amd64, linux/arm64/v8, ...; comma-separated);\n"
    "                                the first also picks the release's platform\n"
    "                                and the architecture of its samples\n"
    "\n"
    "Where from:\n"
    "      --pull-from FROM=TO       fetch images of registry FROM from TO instead\n"
    "      --authfile FILE           registry credentials (auth.json / pull secret)\n"
    "      --ca-file FILE            extra trusted CA certificates (repeatable)\n"
    "      --certs-dir DIR           per-registry CAs (default /etc/containers/certs.d)\n"
    "      --insecure                do not verify TLS certificates (dangerous)\n"
    "      --retries N               tries again after transient failures (429, 5xx,\n"
    "                                resets, timeouts; default 5); downloads resume\n"
    "      --timeout SECONDS         a manifest or token not whole within this long,\n"
    "                                or a blob slower than 1 KiB/s for this long, is\n"
    "                                broken off and retried (default 60)\n"
    "  -j, --jobs N                  blobs downloaded at once (default 4; each holds\n"
    "                                at most 4 MiB ahead of the bundle)\n"
    "\n"
    "Output:\n"
    "  -o, --output FILE             the bundle (written as FILE.partial.XXXXXX,\n"
    "                                renamed when complete; locked by .FILE.lock)\n"
    "      --sign-key FILE           PEM private key, Ed25519 or ECDSA P-256\n"
    "      --zstd-level N            compression level 1-19 (default 3)\n"
    "      --zstd-threads N          compression threads (default 1; each further\n"
    "                                one costs about 2 MiB of memory)\n"
    "      --split-size SIZE         write volumes FILE.000, FILE.001, ... of at most\n"
    "                                SIZE bytes (K/M/G/T, or fat32, dvd, bd25) and a\n"
    "                                signed list of them, FILE.parts\n"
    "      --verify-written          read what was written back and check it\n"
    "      --cache DIR               keep downloaded blobs here, verified when reused\n"
    "      --cache-max SIZE          then remove the least recently used beyond SIZE\n"
    "      --since PREV              an increment: leave out the blobs that the earlier\n"
    "                                bundle PREV (or its bundle.json with its .sig,\n"
    "                                or a receipt) carried; used only once its\n"
    "                                signature verifies (by --sign-key's public half)\n"
    "      --since-key FILE          also trust --since bundles signed by this public\n"
    "                                key (another exporter; repeatable)\n"
    "      --receipt-verify-key FILE  the public key that verifies --since receipts\n"
    "                                (of the importer's --receipt-key)\n"
    "      --since-unsigned          take a --since receipt whose signature cannot be\n"
    "                                checked (dangerous: it decides what is left out)\n"
    "      --json                    print a JSON summary on standard output\n"
    "      --dry-run                 resolve every manifest, download no blob, write\n"
    "                                nothing, and print the plan: images, unique blobs\n"
    "                                and bytes, what --cache and --since save, volumes,\n"
    "                                free space where -o would go\n"
    "  -v, --verbose                  a line per registry request: method, URL (no\n"
    "                                 credentials), status, time\n"
    "  -q, --quiet                   print errors only\n"
    "  -h, --help                    show this help and exit\n"
    "      --version                 show the version and exit\n"
    "\n"
    "Exit status: 0 all images exported, 3 bundle written but some images could\n"
    "not be exported (listed in the bundle and above), 1 failure (no bundle\n"
    "written), 2 bad command line, 75 another run is writing the same output,\n"
    "130 / 143 interrupted by SIGINT / SIGTERM (partial files removed).\n";

enum {
    OPT_CONFIGMAP = 256, OPT_IMAGESTREAMS, OPT_RELEASE, OPT_COMPONENT, OPT_IMAGE,
    OPT_ARCH, OPT_PULL_FROM, OPT_AUTHFILE, OPT_CA_FILE, OPT_CERTS_DIR,
    OPT_INSECURE, OPT_SIGN_KEY, OPT_ZSTD_LEVEL, OPT_VERSION, 
    OPT_SPLIT_SIZE, OPT_VERIFY_WRITTEN, OPT_JSON, OPT_SINCE, OPT_CACHE, OPT_CACHE_MAX,
    OPT_ZSTD_THREADS, OPT_SINCE_KEY, OPT_RECEIPT_VERIFY_KEY, OPT_SINCE_UNSIGNED,
    OPT_SAMPLES_FROM_RELEASE, OPT_NO_SAMPLES, OPT_DRY_RUN, OPT_IMAGES_FROM,
};

static char g_writing[] = "writing ";   /* the progress line's label */

static const struct option long_options[] = {
    {"samples-configmap", required_argument, NULL, OPT_CONFIGMAP},
    {"imagestreams", required_argument, NULL, OPT_IMAGESTREAMS},
    {"release", required_argument, NULL, OPT_RELEASE},
    {"release-component", required_argument, NULL, OPT_COMPONENT},
    {"samples-from-release", no_argument, NULL, OPT_SAMPLES_FROM_RELEASE},
    {"no-samples", no_argument, NULL, OPT_NO_SAMPLES},
    {"image", required_argument, NULL, OPT_IMAGE},
    {"images-from", required_argument, NULL, OPT_IMAGES_FROM},
    {"arch", required_argument, NULL, OPT_ARCH},
    {"pull-from", required_argument, NULL, OPT_PULL_FROM},
    {"authfile", required_argument, NULL, OPT_AUTHFILE},
    {"ca-file", required_argument, NULL, OPT_CA_FILE},
    {"certs-dir", required_argument, NULL, OPT_CERTS_DIR},
    {"insecure", no_argument, NULL, OPT_INSECURE},
    {"sign-key", required_argument, NULL, OPT_SIGN_KEY},
    {"zstd-level", required_argument, NULL, OPT_ZSTD_LEVEL},
    {"zstd-threads", required_argument, NULL, OPT_ZSTD_THREADS},
    CLI_TRANSFER_OPTIONS,
    {"split-size", required_argument, NULL, OPT_SPLIT_SIZE},
    {"verify-written", no_argument, NULL, OPT_VERIFY_WRITTEN},
    {"json", no_argument, NULL, OPT_JSON},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"since", required_argument, NULL, OPT_SINCE},
    {"since-key", required_argument, NULL, OPT_SINCE_KEY},
    {"receipt-verify-key", required_argument, NULL, OPT_RECEIPT_VERIFY_KEY},
    {"since-unsigned", no_argument, NULL, OPT_SINCE_UNSIGNED},
    {"cache", required_argument, NULL, OPT_CACHE},
    {"cache-max", required_argument, NULL, OPT_CACHE_MAX},
    {"output", required_argument, NULL, 'o'},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

struct options {
    struct cli_list configmaps, imagestreams, components, images, arches;
    struct cli_list pull_from, ca_files, since, since_keys;
    struct cli_list images_from;   /* --images-from files */
    struct cli_list listed;        /* the references they hold (owned) */
    struct ex_config cfg;
    int quiet;
    int json;
    int done; /* --help or --version handled */
};

static void report(void *ud, const char *fmt, ...)
{
    const struct options *o = ud;
    va_list ap;

    if (o->quiet)
        return;
    va_start(ap, fmt);
    cli_vmsg(fmt, ap);
    va_end(ap);
}

static int parse_level(const char *s, int *level)
{
    char *end;
    long v = strtol(s, &end, 10);

    if (*s == '\0' || *end != '\0' || v < 1 || v > 19)
        return -1;
    *level = (int)v;
    return 0;
}

/* Handles one option; returns 0, or an exit code (usage error). */
static int take_option(struct options *o, int c, const char *arg)
{
    struct ex_config *cfg = &o->cfg;
    int rc = 0;

    switch (c) {
    case OPT_CONFIGMAP: rc = cli_list_add(&o->configmaps, arg); break;
    case OPT_IMAGESTREAMS: rc = cli_list_add(&o->imagestreams, arg); break;
    case OPT_COMPONENT: rc = cli_list_add(&o->components, arg); break;
    case OPT_IMAGE: rc = cli_list_add(&o->images, arg); break;
    case OPT_IMAGES_FROM: rc = cli_list_add(&o->images_from, arg); break;
    case OPT_SINCE: rc = cli_list_add(&o->since, arg); break;
    case OPT_SINCE_KEY: rc = cli_list_add(&o->since_keys, arg); break;
    case OPT_RECEIPT_VERIFY_KEY: cfg->receipt_verify_key = arg; break;
    case OPT_SINCE_UNSIGNED: cfg->since_unsigned = 1; break;
    case OPT_PULL_FROM: rc = cli_list_add(&o->pull_from, arg); break;
    case OPT_CA_FILE: rc = cli_list_add(&o->ca_files, arg); break;
    case OPT_ARCH: rc = cli_list_add_split(&o->arches, arg); break;
    case OPT_RELEASE: cfg->release = arg; break;
    case OPT_SAMPLES_FROM_RELEASE: cfg->samples_from_release = 1; break;
    case OPT_NO_SAMPLES: cfg->no_samples = 1; break;
    case OPT_AUTHFILE: cfg->authfile = arg; break;
    case OPT_CERTS_DIR: cfg->certs_d = arg; break;
    case OPT_INSECURE: cfg->insecure = 1; break;
    case OPT_SIGN_KEY: cfg->sign_key = arg; break;
    case 'o': cfg->output = arg; break;
    case 'q': o->quiet = 1; break;
    case 'v': o->cfg.trace = cli_trace_request; break;
    case OPT_ZSTD_LEVEL:
        if (parse_level(arg, &cfg->zstd_level) != 0)
            return cli_usage_error("--zstd-level '%s': give a number from 1 to 19", arg);
        break;
    case OPT_SPLIT_SIZE:
        if (cli_parse_size(arg, &cfg->split_size) != 0 || cfg->split_size < 1024)
            return cli_usage_error("--split-size '%s': give a size of at least 1K "
                                   "(K/M/G/T) or fat32, dvd, bd25", arg);
        break;
    case OPT_VERIFY_WRITTEN: cfg->verify_written = 1; break;
    case OPT_ZSTD_THREADS:
        if (cli_parse_count(arg, 1, 100, &cfg->zstd_threads) != 0)
            return cli_usage_error("--zstd-threads '%s': give a number from 1 to 100", arg);
        break;
    case OPT_CACHE: cfg->cache_dir = arg; break;
    case OPT_CACHE_MAX:
        if (cli_parse_size(arg, &cfg->cache_max) != 0)
            return cli_usage_error("--cache-max '%s': give a size (K/M/G/T)", arg);
        break;
    case OPT_JSON: o->json = 1; cfg->want_digest = 1; break;
    case OPT_DRY_RUN: cfg->dry_run = 1; break;
    case 'h': fputs(usage_text, stdout); o->done = 1; break;
    case OPT_VERSION: printf("airlock-export %s\n", AIRLOCK_VERSION); o->done = 1; break;
    default: return cli_usage_error("unknown option");
    }
    if (rc != 0) {
        cli_msg("out of memory");
        return CLI_EXIT_FAILURE;
    }
    return 0;
}

static int check_options(const struct options *o)
{
    const struct ex_config *c = &o->cfg;

    if (c->cache_max > 0 && c->cache_dir == NULL)
        return cli_usage_error("--cache-max bounds a --cache: give --cache DIR too");
    if (c->output == NULL)
        return cli_usage_error("no output: give -o FILE");
    if (strcmp(c->output, "-") == 0)
        return cli_usage_error("-o -: the bundle must be a file, renamed into "
                               "place when complete");
    if (c->sign_key == NULL)
        return cli_usage_error("no signing key: give --sign-key FILE (create one "
                               "with 'openssl genpkey -algorithm ed25519 -out export.key')");
    if (c->n_configmaps + c->n_imagestreams + c->n_images == 0 && c->release == NULL)
        return cli_usage_error("nothing to export: give --samples-configmap, "
                               "--imagestreams, --release, --image or --images-from");
    if (c->n_components > 0 && c->release == NULL)
        return cli_usage_error("--release-component needs --release");
    if (c->n_since == 0 && (c->n_since_keys > 0 || c->receipt_verify_key != NULL ||
                            c->since_unsigned))
        return cli_usage_error("--since-key, --receipt-verify-key and --since-unsigned "
                               "say how to check a --since: give --since PREV too");
    if ((c->samples_from_release || c->no_samples) && c->release == NULL)
        return cli_usage_error("--%s needs --release", c->no_samples ? "no-samples"
                                                                     : "samples-from-release");
    if (c->samples_from_release && c->no_samples)
        return cli_usage_error("--samples-from-release and --no-samples exclude each other");
    if (c->no_samples && c->n_configmaps + c->n_imagestreams > 0)
        return cli_usage_error("--no-samples and --samples-configmap or --imagestreams "
                               "exclude each other");
    return 0;
}

/* One reference a line; blank lines and '#' comments skipped. */
static int read_images_from(struct options *o, const char *path)
{
    struct al_buf b;
    struct al_err e;
    char *line, *next, *end;
    size_t n, lineno = 0;
    int rc;

    al_err_init(&e);
    al_buf_init(&b, 16 * 1024 * 1024);
    rc = al_buf_read_file(&b, path, &e);
    if (rc != 0) {
        cli_msg("--images-from: %s", e.msg);
        al_buf_release(&b);
        return CLI_EXIT_USAGE;
    }
    for (line = b.data; rc == 0 && line != NULL && *line != '\0'; line = next) {
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        lineno++;
        if ((end = strchr(line, '#')) != NULL)
            *end = '\0';
        line += strspn(line, " \t\r");
        n = strcspn(line, " \t\r");
        if (n == 0)
            continue;
        if (line[n + strspn(line + n, " \t\r")] != '\0')
            rc = cli_usage_error("--images-from '%s': line %zu holds more than one "
                                 "reference (give one a line)", path, lineno);
        else if (cli_list_add(&o->listed, strndup(line, n)) != 0 ||
                 o->listed.v[o->listed.n - 1] == NULL)
            rc = cli_usage_error("out of memory");
    }
    al_buf_release(&b);
    return rc;
}

static int add_listed_images(struct options *o)
{
    size_t i;
    int rc = 0;

    for (i = 0; rc == 0 && i < o->images_from.n; i++)
        rc = read_images_from(o, o->images_from.v[i]);
    for (i = 0; rc == 0 && i < o->listed.n; i++)
        if (o->listed.v[i] != NULL && cli_list_add(&o->images, o->listed.v[i]) != 0)
            rc = cli_usage_error("out of memory");
    return rc;
}

static void fill_config(struct options *o)
{
    struct ex_config *c = &o->cfg;

    c->configmaps = o->configmaps.v;
    c->n_configmaps = o->configmaps.n;
    c->imagestreams = o->imagestreams.v;
    c->n_imagestreams = o->imagestreams.n;
    c->components = o->components.v;
    c->n_components = o->components.n;
    c->images = o->images.v;
    c->n_images = o->images.n;
    c->pull_from = o->pull_from.v;
    c->n_pull_from = o->pull_from.n;
    c->ca_files = o->ca_files.v;
    c->n_ca_files = o->ca_files.n;
    c->arches = o->arches.v;
    c->n_arches = o->arches.n;
    c->since = o->since.v;
    c->n_since = o->since.n;
    c->since_keys = o->since_keys.v;
    c->n_since_keys = o->since_keys.n;
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

    o->cfg.zstd_level = 3;
    o->cfg.zstd_threads = 1;
    o->cfg.retries = -1;
    o->cfg.jobs = 4;
    o->cfg.certs_d = "/etc/containers/certs.d";
    rc = cli_getopt(argc, argv, ":o:j:qvh", long_options, take_option_cb, o, &o->done);
    if (rc != 0 || o->done)
        return rc;
    if (optind < argc)
        return cli_usage_error("unexpected argument '%s'", argv[optind]);
    rc = add_listed_images(o);
    if (rc != 0)
        return rc;
    fill_config(o);
    if (!o->quiet && isatty(STDERR_FILENO)) {
        o->cfg.progress = cli_progress;
        o->cfg.progress_ud = g_writing;
    }
    return check_options(o);
}

static void free_options(struct options *o)
{
    cli_list_release(&o->configmaps);
    cli_list_release(&o->imagestreams);
    cli_list_release(&o->components);
    cli_list_release(&o->images);
    cli_list_release(&o->pull_from);
    cli_list_release(&o->ca_files);
    cli_list_release(&o->since);
    cli_list_release(&o->since_keys);
    cli_list_free_owned(&o->arches);
    cli_list_release(&o->images_from);
    cli_list_free_owned(&o->listed);
}

/* --dry-run: the plan on standard output (unless --json). */
static int summarise_plan(const struct options *o, const struct ex_result *res)
{
    char a[32], b[32];

    if (o->json)
        return res->images_failed > 0 ? CLI_EXIT_PARTIAL : CLI_EXIT_OK;
    printf("plan for '%s' (dry run: no blob was downloaded, nothing written)\n",
           o->cfg.output);
    printf("images:    %zu to export, %zu failed\n", res->images_exported,
           res->images_failed);
    printf("blobs:     %zu unique, %s (%lld bytes)\n", res->blobs,
           cli_human_size(res->blob_bytes, a, sizeof(a)), res->blob_bytes);
    if (o->cfg.cache_dir)
        printf("in cache:  %zu blobs, %s: read from '%s', not downloaded\n", res->cached,
               cli_human_size(res->cached_bytes, a, sizeof(a)), o->cfg.cache_dir);
    if (o->cfg.n_since > 0)
        printf("left out:  %zu blobs, %s: carried by the --since bundles\n", res->relied,
               cli_human_size(res->relied_bytes, a, sizeof(a)));
    if (o->cfg.split_size > 0)
        printf("volumes:   about %zu of at most %s\n", res->volumes,
               cli_human_size(o->cfg.split_size, a, sizeof(a)));
    if (res->free_bytes >= 0)
        printf("space:     %s free in '%s'; the bundle needs about %s%s\n",
               cli_human_size(res->free_bytes, a, sizeof(a)), res->output_dir,
               cli_human_size(res->bundle_estimate, b, sizeof(b)),
               res->free_bytes < res->bundle_estimate ? ": NOT ENOUGH" : "");
    return res->images_failed > 0 ? CLI_EXIT_PARTIAL : CLI_EXIT_OK;
}

static int summarise(const struct options *o, const struct ex_result *res)
{
    if (o->cfg.dry_run)
        return summarise_plan(o, res);
    char a[32], b[32], t[32];

    if (!o->quiet || res->images_failed > 0)
        cli_msg("wrote '%s': %zu images, %zu blobs (%s) in %s (%lld bytes), bundle id "
                "%s, in %s", o->cfg.output, res->images_exported, res->blobs,
                cli_human_size(res->blob_bytes, a, sizeof(a)),
                cli_human_size(res->bundle_bytes, b, sizeof(b)), res->bundle_bytes,
                res->bundle_id, cli_human_duration(res->seconds, t, sizeof(t)));
    if (!o->quiet && res->relied > 0)
        cli_msg("an increment: %zu blobs are left to the --since bundles", res->relied);
    if (!o->quiet && res->parts_list != NULL)
        cli_msg("in %zu volumes of at most %lld bytes, listed in '%s': carry them all "
                "and import '%s'", res->parts.n, o->cfg.split_size, res->parts_list,
                res->parts_list);
    if (!o->quiet && o->cfg.verify_written)
        cli_msg("read back and verified %zu file%s", res->parts.n,
                res->parts.n == 1 ? "" : "s");
    if (res->images_failed == 0)
        return CLI_EXIT_OK;
    cli_msg("%zu images could not be exported (listed above and under \"failed\" "
            "in bundle.json)", res->images_failed);
    return CLI_EXIT_PARTIAL;
}

int main(int argc, char **argv)
{
    struct options o;
    struct ex_result res;
    struct al_err e;
    int rc;

    memset(&o, 0, sizeof(o));
    cli_init("airlock-export");
    rc = parse_args(&o, argc, argv);
    if (rc != 0 || o.done) {
        free_options(&o);
        return rc;
    }
    if (o.cfg.insecure)
        cli_msg("warning: --insecure: registries' TLS certificates are NOT verified; "
                "anyone on the network path can pose as them and take the credentials");
    if (o.cfg.since_unsigned)
        cli_msg("warning: --since-unsigned: a --since receipt whose signature cannot "
                "be checked is used; whoever could write it decides which blobs this "
                "bundle leaves out");
    cli_on_signal_unlink(ex_partial_paths);
    al_err_init(&e);
    if (ex_run(&o.cfg, &res, report, &o, &e) != 0)
        rc = cli_fail(&e);
    else
        rc = summarise(&o, &res);
    if (o.json && res.json != NULL)
        printf("%s\n", res.json);
    ex_result_release(&res);
    free_options(&o);
    return rc;
}
