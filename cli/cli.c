#include "cli.h"

#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static const char *g_prog = "airlock";
static const char *const *(*g_partials)(size_t *n);

void cli_init(const char *progname)
{
    g_prog = progname;
}

/* Off a terminal (cron, systemd, a pipe) every line starts with a UTC time. */
static void stamp(void)
{
    static int tty = -1;
    char when[32];
    time_t now;
    struct tm tm;

    if (tty < 0)
        tty = isatty(STDERR_FILENO);
    if (tty)
        return;
    now = time(NULL);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ ", gmtime_r(&now, &tm));
    fputs(when, stderr);
}

/* Every message may quote a value from a registry, a bundle or a cluster
 * (a media type, a digest, a header, a server's error text): none may move
 * the terminal's cursor, clear it or start a line that looks like our own,
 * so each control byte is shown as '?'. */
void cli_vmsg(const char *fmt, va_list ap)
{
    char line[8192];
    size_t i;

    vsnprintf(line, sizeof(line), fmt, ap);
    for (i = 0; line[i] != '\0'; i++)
        if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
            line[i] = '?';
    flockfile(stderr);   /* one whole line, whichever thread reports */
    stamp();
    fprintf(stderr, "%s: %s\n", g_prog, line);
    funlockfile(stderr);
}

void cli_msg(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    cli_vmsg(fmt, ap);
    va_end(ap);
}

int cli_fail(const struct al_err *e)
{
    cli_msg("%s", e->msg[0] ? e->msg : al_code_name(e->code));
    if (e->code == AL_EBUSY)
        return CLI_EXIT_BUSY;
    return e->code == AL_EINTR ? CLI_EXIT_SIGNAL : CLI_EXIT_FAILURE;
}

int cli_usage_error(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    cli_vmsg(fmt, ap);
    va_end(ap);
    fprintf(stderr, "Try '%s --help' for more information.\n", g_prog);
    return CLI_EXIT_USAGE;
}

int cli_list_add(struct cli_list *l, const char *s)
{
    const char **grown = realloc(l->v, (l->n + 1) * sizeof(*grown));

    if (grown == NULL)
        return -1;
    l->v = grown;
    l->v[l->n++] = s;
    return 0;
}

int cli_list_add_split(struct cli_list *l, const char *s)
{
    const char *p = s;

    while (*p != '\0') {
        size_t n = strcspn(p, ",");
        if (n > 0) {
            char *item = strndup(p, n);
            if (item == NULL || cli_list_add(l, item) != 0) {
                free(item);
                return -1;
            }
        }
        p += n + (p[n] == ',');
    }
    return 0;
}

/* Edit distance between a[0..n) and b (Levenshtein, small strings). */
static size_t distance(const char *a, size_t n, const char *b)
{
    size_t m = strlen(b), row[64], i, j, diag, up;

    if (n >= 63 || m >= 63)
        return (size_t)-1;
    for (j = 0; j <= m; j++)
        row[j] = j;
    for (i = 1; i <= n; i++) {
        diag = row[0];
        row[0] = i;
        for (j = 1; j <= m; j++) {
            size_t best = diag + (a[i - 1] != b[j - 1]);
            up = row[j];
            best = up + 1 < best ? up + 1 : best;
            best = row[j - 1] + 1 < best ? row[j - 1] + 1 : best;
            diag = up;
            row[j] = best;
        }
    }
    return row[m];
}

/* "unknown option '--sign-ky'; did you mean '--sign-key'?" */
static int unknown_option(const char *arg, const struct option *longopts)
{
    const char *name = arg, *best = NULL;
    size_t n, d, best_d = (size_t)-1, i;

    while (*name == '-')
        name++;
    n = strcspn(name, "=");
    for (i = 0; arg[0] == '-' && arg[1] == '-' && longopts[i].name != NULL; i++) {
        d = distance(name, n, longopts[i].name);
        if (d < best_d) {
            best_d = d;
            best = longopts[i].name;
        }
    }
    if (best != NULL && best_d > 0 && best_d <= (n < 6 ? 1 : n / 3))
        return cli_usage_error("unknown option '%s'; did you mean '--%s'?", arg, best);
    return cli_usage_error("unknown option '%s'", arg);
}

int cli_getopt(int argc, char **argv, const char *shortopts,
               const struct option *longopts,
               int (*take)(void *ud, int c, const char *arg), void *ud,
               const int *done)
{
    int c, rc;

    opterr = 0;
    while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        if (c == '?')
            return unknown_option(argv[optind - 1], longopts);
        if (c == ':')
            return cli_usage_error("option '%s' needs a value", argv[optind - 1]);
        rc = take(ud, c, optarg);
        if (rc != 0 || *done)
            return rc;
    }
    return 0;
}

int cli_parse_size(const char *s, long long *out)
{
    static const struct { const char *name; long long bytes; } media[] = {
        {"fat32", 4LL * 1024 * 1024 * 1024 - 1},
        {"dvd", 4700000000LL},
        {"bd25", 25000000000LL},
    };
    char *end;
    long long v, mult = 1;
    size_t i;

    for (i = 0; i < sizeof(media) / sizeof(media[0]); i++)
        if (strcmp(s, media[i].name) == 0) {
            *out = media[i].bytes;
            return 0;
        }
    if (*s < '0' || *s > '9')
        return -1;
    v = strtoll(s, &end, 10);
    switch (*end) {
    case 'K': case 'k': mult = 1LL << 10; end++; break;
    case 'M': case 'm': mult = 1LL << 20; end++; break;
    case 'G': case 'g': mult = 1LL << 30; end++; break;
    case 'T': case 't': mult = 1LL << 40; end++; break;
    default: break;
    }
    if (*end == 'i' && end[1] == 'B')
        end += 2;
    else if (*end == 'B' && mult > 1)
        end++;
    if (*end != '\0' || v <= 0 || v > (1LL << 50) / mult)
        return -1;
    *out = v * mult;
    return 0;
}

int cli_parse_count(const char *s, int min, int max, int *n)
{
    char *end;
    long v = strtol(s, &end, 10);

    if (*s == '\0' || *end != '\0' || v < min || v > max)
        return -1;
    *n = (int)v;
    return 0;
}

int cli_parse_retries(const char *s, int *n)
{
    return cli_parse_count(s, 0, 100, n);
}

int cli_parse_timeout(const char *s, long *seconds)
{
    int n;

    if (cli_parse_count(s, 1, 3600, &n) != 0)
        return -1;
    *seconds = n;
    return 0;
}

int cli_parse_jobs(const char *s, int *n)
{
    return cli_parse_count(s, 1, 32, n);
}

int cli_take_transfer_option(int c, const char *arg, int *retries, long *timeout_s,
                             int *jobs, int *taken)
{
    *taken = 1;
    switch (c) {
    case CLI_OPT_RETRIES:
        if (cli_parse_retries(arg, retries) != 0)
            return cli_usage_error("--retries '%s': give a number from 0 to 100", arg);
        return 0;
    case CLI_OPT_TIMEOUT:
        if (cli_parse_timeout(arg, timeout_s) != 0)
            return cli_usage_error("--timeout '%s': give seconds from 1 to 3600", arg);
        return 0;
    case 'j':
        if (cli_parse_jobs(arg, jobs) != 0)
            return cli_usage_error("--jobs '%s': give a number from 1 to 32", arg);
        return 0;
    default:
        *taken = 0;
        return 0;
    }
}

void cli_list_release(struct cli_list *l)
{
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

void cli_list_free_owned(struct cli_list *l)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        free((void *)(uintptr_t)l->v[i]);
    cli_list_release(l);
}

const char *cli_human_size(long long bytes, char *out, size_t n)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)bytes;
    size_t u = 0;

    if (bytes < 1024) {
        snprintf(out, n, "%lld B", bytes);
        return out;
    }
    v /= 1024;
    while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024;
        u++;
    }
    snprintf(out, n, v < 10 ? "%.2f %s" : v < 100 ? "%.1f %s" : "%.0f %s", v, units[u]);
    return out;
}

const char *cli_human_duration(double seconds, char *out, size_t n)
{
    long s = (long)(seconds + 0.5);

    if (seconds < 10)
        snprintf(out, n, "%.1f s", seconds);
    else if (s < 60)
        snprintf(out, n, "%ld s", s);
    else if (s < 3600)
        snprintf(out, n, "%ld min %02ld s", s / 60, s % 60);
    else
        snprintf(out, n, "%ld h %02ld min", s / 3600, s / 60 % 60);
    return out;
}

size_t cli_term_width(int fd)
{
    const char *cols = getenv("COLUMNS");
    struct winsize ws;
    int n;

    if (cols != NULL && cli_parse_count(cols, 20, 10000, &n) == 0)
        return (size_t)n;
    if (isatty(fd) && ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
        return ws.ws_col;
    return 0;
}

/* Async-signal-safe: unlink(), write(), strlen() and _exit() only. */
static void on_signal(int sig)
{
    size_t n = 0, i;
    const char *const *p = g_partials ? g_partials(&n) : NULL;

    for (i = 0; p != NULL && i < n; i++)
        if (p[i] != NULL)
            unlink(p[i]);
    if (g_prog != NULL) {
        ssize_t ignored = write(STDERR_FILENO, g_prog, strlen(g_prog));
        ignored = write(STDERR_FILENO, ": interrupted\n", 14);
        (void)ignored;
    }
    _exit(128 + sig);   /* the shell's convention: 130 for SIGINT, 143 for SIGTERM */
}

void cli_on_signal_unlink(const char *const *(*partials)(size_t *n))
{
    struct sigaction sa;

    g_partials = partials;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

void cli_trace_request(void *ud, const char *method, const char *url, long status,
                       long ms, const char *error)
{
    (void)ud;
    if (error != NULL)
        cli_msg("%s %s: %s (%ld ms)", method, url, error, ms);
    else
        cli_msg("%s %s: %ld (%ld ms)", method, url, status, ms);
}

void cli_progress(void *label, long long done, long long total)
{
    static struct timespec start;
    struct timespec now;
    double secs, rate;

    clock_gettime(CLOCK_MONOTONIC, &now);
    if (start.tv_sec == 0)
        start = now;
    secs = (double)(now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9;
    rate = secs > 0 ? (double)done / secs : 0;
    flockfile(stderr);
    fprintf(stderr, "\r%s: %s%3d%%  %.1f of %.1f MiB  %.1f MiB/s  ETA %ds   ", g_prog,
            label ? (const char *)label : "", total > 0 ? (int)(done * 100 / total) : 100,
            done / 1048576.0, total / 1048576.0, rate / 1048576.0,
            rate > 0 ? (int)((double)(total - done) / rate) : 0);
    if (done >= total)
        fputc('\n', stderr);
    funlockfile(stderr);
}
