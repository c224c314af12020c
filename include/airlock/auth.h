/* Registry credentials and authentication challenges.
 *
 * Auth files are containers-auth.json(5) / docker config.json: {"auths":
 * {"<key>": {"auth": base64("user:password")}}}; an OpenShift pull secret is
 * one. Keys may be a host, host:port, host/repository prefix, or a URL form
 * such as "https://index.docker.io/v1/". */
#ifndef AIRLOCK_AUTH_H
#define AIRLOCK_AUTH_H

#include <stddef.h>

#include "airlock/err.h"

struct al_authfile;  /* parsed credentials; secrets wiped on free */

/* Loads `path`, or when path is NULL the first that exists of
 * $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json and
 * $HOME/.docker/config.json (none: an empty set, anonymous access).
 * A named file that is missing or malformed is an error naming it. */
int al_authfile_load(struct al_authfile **out, const char *path,
                     struct al_err *e);
void al_authfile_free(struct al_authfile *af);   /* accepts NULL */

/* Parses auth-file JSON text; `name` is used in messages. */
int al_authfile_parse(struct al_authfile **out, const char *text, size_t len,
                      const char *name, struct al_err *e);

/* The file the credentials came from ("" when none), for messages. */
const char *al_authfile_path(const struct al_authfile *af);

/* Finds credentials for `host` (host[:port]) and `repo`, preferring the
 * longest "host/repo-prefix" key. Returns 1 and sets *user / *pass (pointers
 * into `af`, do not free) when found, 0 when not. */
int al_authfile_find(const struct al_authfile *af, const char *host,
                     const char *repo, const char **user, const char **pass);

enum al_auth_scheme { AL_AUTH_NONE = 0, AL_AUTH_BASIC, AL_AUTH_BEARER };

struct al_challenge {
    enum al_auth_scheme scheme;
    char *realm;    /* owned, may be NULL */
    char *service;  /* owned, may be NULL */
    char *scope;    /* owned, may be NULL */
};

/* Parses the first challenge of a WWW-Authenticate value (RFC 7235:
 * scheme, then comma-separated token=token or token="quoted" params). An
 * unknown scheme is an error. Release with al_challenge_release(). */
int al_challenge_parse(const char *header, struct al_challenge *c,
                       struct al_err *e);
void al_challenge_release(struct al_challenge *c);

/* Parses a token endpoint response ({"token"} or {"access_token"}) into a
 * newly allocated string. */
int al_token_parse(const char *body, size_t len, char **token, struct al_err *e);

/* "Authorization: Basic <base64(user:pass)>" into a new string, which the
 * caller must wipe and free with al_secret_free(). */
char *al_basic_header(const char *user, const char *pass);

/* Wipes and frees a string holding a secret. Accepts NULL. */
void al_secret_free(char *s);

#endif
