/* One error type for all of airlock.
 *
 * Every fallible function returns 0 on success or a negative AL_E* code and
 * takes a `struct al_err *` as its last argument. The first failure writes
 * the message; callers pass the code up without overwriting it (use
 * al_err_prefix() to add context). common/ never prints: main() does. */
#ifndef AIRLOCK_ERR_H
#define AIRLOCK_ERR_H

#include <stddef.h>

enum al_code {
    AL_OK = 0,
    AL_EINVAL = -1,    /* bad input: file, option, document */
    AL_EIO = -2,       /* local I/O: read, write, disk full */
    AL_ENOMEM = -3,
    AL_ENET = -4,      /* transport: DNS, TLS, connection */
    AL_EHTTP = -5,     /* an HTTP status that was not expected */
    AL_ENOTFOUND = -6, /* 404 / MANIFEST_UNKNOWN / NAME_UNKNOWN */
    AL_EDENIED = -7,   /* 401 / 403 after authentication */
    AL_EDIGEST = -8,   /* content does not match its digest or size */
    AL_EUNSUPPORTED = -9, /* e.g. schema 1 manifests */
    AL_ESIG = -10,     /* bad signature, wrong key */
    AL_ETOOBIG = -11,  /* untrusted input over a documented bound */
    AL_EINTR = -12,    /* interrupted by a signal */
    AL_ECONFLICT = -13, /* 409: changed by someone else meanwhile */
    AL_EBUSY = -14,    /* another run holds the lock */
    AL_ETLS = -15,     /* the peer's certificate is not trusted, or the
                          transfer would leave TLS (a redirect or token
                          service on plain http): not transient, so never
                          retried */
    AL_EAUTH = -16,    /* the registry refused the credentials themselves
                          (its /v2/ or its token service, not one
                          repository): never one image's failure, never
                          retried */
};

#define AL_ERR_MSG_MAX 512

struct al_err {
    int code;           /* an al_code, 0 when no error was set */
    int sys_errno;      /* errno when the cause was a system call, else 0 */
    long http_status;   /* HTTP status when the cause was a response, else 0 */
    char msg[AL_ERR_MSG_MAX];
};

/* Clears `e` to "no error". Accepts NULL, like al_err_set(): best-effort
 * calls (cancelling an upload) pass no error struct at all. */
void al_err_init(struct al_err *e);

/* Sets code and message (printf-style) and returns `code`, so that
 * `return al_err_set(e, AL_EIO, "cannot open '%s'", p);` reads naturally.
 * Accepts e == NULL (the message is dropped). */
int al_err_set(struct al_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like al_err_set() and appends ": strerror(errnum)". */
int al_err_sys(struct al_err *e, int code, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Prepends "<context>: " to the existing message; returns e->code. */
int al_err_prefix(struct al_err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Replaces each byte of `s` that is not part of valid UTF-8 with '?'.
 * Messages quote what registries, bundles and files sent, and may be cut
 * mid-character; the JSON outputs (bundle.json, --json) take only UTF-8, and
 * would lose such a message. Every al_err message is scrubbed already. */
void al_utf8_scrub(char *s);

/* How a long operation tells its caller something that is not an error
 * (a per-image failure it went past, a resumed download, progress): the
 * caller decides where it goes, as nothing in common/ prints. */
typedef void (*al_report_fn)(void *ud, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A short English name for a code ("digest mismatch", ...). */
const char *al_code_name(int code);

#endif
