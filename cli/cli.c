#include "cli.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *g_prog = "airlock";
static const char *(*g_partial)(void);

void cli_init(const char *progname)
{
    g_prog = progname;
}

static void vmsg(const char *fmt, va_list ap)
{
    fprintf(stderr, "%s: ", g_prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void cli_msg(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vmsg(fmt, ap);
    va_end(ap);
}

int cli_fail(const struct al_err *e)
{
    cli_msg("%s", e->msg[0] ? e->msg : al_code_name(e->code));
    return e->code == AL_EINTR ? CLI_EXIT_SIGNAL : CLI_EXIT_FAILURE;
}

int cli_usage_error(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vmsg(fmt, ap);
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

int cli_parse_retries(const char *s, int *n)
{
    char *end;
    long v = strtol(s, &end, 10);

    if (*s == '\0' || *end != '\0' || v < 0 || v > 100)
        return -1;
    *n = (int)v;
    return 0;
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

/* Async-signal-safe: unlink(), write(), strlen() and _exit() only. */
static void on_signal(int sig)
{
    const char *p = g_partial ? g_partial() : NULL;

    (void)sig;
    if (p != NULL)
        unlink(p);
    if (g_prog != NULL) {
        ssize_t ignored = write(STDERR_FILENO, g_prog, strlen(g_prog));
        ignored = write(STDERR_FILENO, ": interrupted\n", 14);
        (void)ignored;
    }
    _exit(CLI_EXIT_SIGNAL);
}

void cli_on_signal_unlink(const char *(*partial)(void))
{
    struct sigaction sa;

    g_partial = partial;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}
