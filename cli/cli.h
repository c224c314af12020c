/* What both programs share on the command line: messages on stderr in one
 * voice, the exit codes, and cleanup on signals. Only main() calls these. */
#ifndef AIRLOCK_CLI_H
#define AIRLOCK_CLI_H

#include <stdarg.h>
#include <stddef.h>

#include "airlock/err.h"

/* Documented exit codes (README.md). */
enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAILURE = 1,  /* nothing (or nothing new) was produced */
    CLI_EXIT_USAGE = 2,    /* bad command line */
    CLI_EXIT_PARTIAL = 3,  /* done, but some images could not be carried */
    CLI_EXIT_SIGNAL = 1,   /* interrupted between steps (AL_EINTR); a signal
                              itself exits 128 + its number (130, 143) */
    CLI_EXIT_BUSY = 75,    /* another run holds the lock (EX_TEMPFAIL) */
};

/* Sets the program name used as the prefix of every message. */
void cli_init(const char *progname);

/* "<prog>: <message>" on stderr, one line: control characters (from a
 * quoted value) show as '?'. When stderr is not a terminal (cron, systemd,
 * a pipe) the line starts with a UTC timestamp. */
void cli_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_vmsg(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* Prints an error and returns the exit code for it. */
int cli_fail(const struct al_err *e);

/* Prints a usage error plus "try '<prog> --help'" and returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

struct option;

/* Runs getopt_long over argv, handing each option to take(ud, c, optarg),
 * which returns 0 or an exit code. Unknown options and missing values get
 * a usage error naming them. Stops early when take() fails or *done is set
 * (--help, --version). Returns 0 or an exit code; optind is left at the
 * first operand. */
int cli_getopt(int argc, char **argv, const char *shortopts,
               const struct option *longopts,
               int (*take)(void *ud, int c, const char *arg), void *ud,
               const int *done);

/* --retries N, --timeout SECONDS and -j/--jobs N, which both programs take
 * alike: put CLI_TRANSFER_OPTIONS in the long options ("j:" in the short
 * ones) and hand every option to cli_take_transfer_option() first. */
enum { CLI_OPT_RETRIES = 1000, CLI_OPT_TIMEOUT };
#define CLI_TRANSFER_OPTIONS                                 \
    {"retries", required_argument, NULL, CLI_OPT_RETRIES},   \
    {"timeout", required_argument, NULL, CLI_OPT_TIMEOUT},   \
    {"jobs", required_argument, NULL, 'j'},                  \
    {"verbose", no_argument, NULL, 'v'}

/* On a terminal: one progress line redrawn in place (percent, MiB, rate,
 * ETA), after `label` (a string, or NULL). */
void cli_progress(void *label, long long done, long long total);

/* -v/--verbose: a line per request (method, URL without credentials,
 * status, time), for al_http_opts.trace. */
void cli_trace_request(void *ud, const char *method, const char *url, long status,
                       long ms, const char *error);

/* *taken = 1 when `c` is one of them; returns 0 or the usage-error exit
 * code for a bad value (printed, naming the option). */
int cli_take_transfer_option(int c, const char *arg, int *retries, long *timeout_s,
                             int *jobs, int *taken);

/* A growable list of option arguments (pointers into argv or owned). */
struct cli_list {
    const char **v;
    size_t n;
};

/* Appends `s`; returns -1 when out of memory. */
int cli_list_add(struct cli_list *l, const char *s);

/* Appends each non-empty comma-separated item of `s` (copied; freed by
 * cli_list_free_owned). */
int cli_list_add_split(struct cli_list *l, const char *s);

void cli_list_release(struct cli_list *l);

/* Parses a size: a number of bytes with an optional binary suffix K, M, G
 * or T (KiB...), or a medium: fat32 (4 GiB - 1), dvd (4.7 GB), bd25 (25 GB).
 * Returns -1 when it is none of those. */
int cli_parse_size(const char *s, long long *out);

/* Parses a whole number from `min` to `max` into *n; -1 when it is not one. */
int cli_parse_count(const char *s, int min, int max, int *n);

/* Parses a --retries value (0..100) into *n; -1 when it is not one. */
int cli_parse_retries(const char *s, int *n);

/* --timeout SECONDS (1 to 3600) and --jobs N (1 to 32), the same for both
 * programs; 0 or -1 (not valid). */
int cli_parse_timeout(const char *s, long *seconds);
int cli_parse_jobs(const char *s, int *n);
void cli_list_free_owned(struct cli_list *l);

/* Sizes and durations for people: "512 B", "3.4 MiB", "1.2 GiB"; "0.4 s",
 * "2 min 05 s", "1 h 02 min". Write into `out` of `n` bytes and return it.
 * Any module of the programs may use these (they print nothing). */
const char *cli_human_size(long long bytes, char *out, size_t n);
const char *cli_human_duration(double seconds, char *out, size_t n);

/* The width of the terminal on file descriptor `fd` ($COLUMNS first); 0
 * when it is not a terminal and $COLUMNS is unset (no limit). */
size_t cli_term_width(int fd);

/* On SIGINT, SIGTERM and SIGHUP: unlink the paths `partials()` returns (if
 * any; the function must be async-signal-safe), then exit with 128 + the
 * signal's number (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP). */
void cli_on_signal_unlink(const char *const *(*partials)(size_t *n));

#endif
