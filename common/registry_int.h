/* What registry.c (client, requests, pull side), registry_push.c (push
 * side) and auth.c (Bearer tokens) share. Private to common/: the programs
 * see only include/airlock/registry.h and registry_push.h. */
#ifndef AIRLOCK_REGISTRY_INT_H
#define AIRLOCK_REGISTRY_INT_H

#include <stddef.h>

#include "airlock/auth.h"
#include "airlock/err.h"
#include "airlock/http.h"
#include "airlock/registry.h"
#include "airlock/retry.h"

#define REG_ERROR_BODY_MAX (64 * 1024)

/* A cached Bearer token, per scope; a list, newest first. */
struct reg_token {
    char *scope;
    char *header;   /* "Authorization: Bearer ..." (secret) */
    struct reg_token *next;
};

struct reg_endpoint {
    char *host;                 /* host[:port] contacted */
    int probed;
    struct al_challenge ch;     /* how /v2/ asked us to authenticate */
    struct reg_token *tokens;
    const char *login_user;     /* the auth file's user (a pointer into
                                   r->auth) whose login was accepted */
    struct reg_endpoint *next;
};

struct reg_mapping {
    char *from;     /* logical registry */
    char *host;     /* endpoint host[:port] */
    char *prefix;   /* path prefix without slashes, or "" */
    struct reg_mapping *next;
};

struct al_registry {
    struct al_http *http;
    struct al_http *own_http;    /* a clone's connection, freed with it */
    const struct al_authfile *auth;
    struct reg_endpoint *endpoints;
    struct reg_mapping *mappings;
    int push;      /* ask for push access on every repository */
    struct al_retry retry;
};

/* One request to the endpoint serving `registry`. */
struct reg_call {
    const char *registry, *repo;  /* logical names */
    const char *method;
    const char *tail;        /* after "/v2/<path>/": "manifests/latest" */
    const char *url;         /* or a whole URL (an upload Location) */
    const char *actions;     /* "pull" or "pull,push" */
    const char *mount_from;  /* repository also needing pull, or NULL */
    const char *accept;      /* a header line, or NULL */
    long long range_from;    /* > 0: "Range: bytes=N-" */
    int long_body;           /* a blob: see al_http_req.long_body */
    const char *content_type;
    const void *body;
    size_t body_len;
    long long upload_size;   /* >= 0: a streamed upload (no retry) */
};

/* ---- registry.c ---- */

/* What a read asks for: pull, plus push once pushing (one token serves). */
const char *reg_read_actions(const struct al_registry *r);

/* Endpoint host and repository path on that endpoint for (registry, repo). */
void reg_resolve(const struct al_registry *r, const char *registry,
                 const char *repo, char *host, size_t hn, char *path, size_t pn);

/* al_http_do, retried on transport failures and transient statuses. */
int reg_http_do(struct al_registry *r, const struct al_http_req *req,
                struct al_http_resp *resp, size_t max, struct al_err *e);

/* The endpoint serving c->registry, probed at /v2/ if not yet, and
 * c->repo's path on it. */
int reg_call_endpoint(struct al_registry *r, const struct reg_call *c,
                      struct reg_endpoint **ep_out, char *path, size_t pn,
                      struct al_err *e);

/* Opens the request (authenticated, retried unless a streamed upload); the
 * caller inspects the status and closes the stream. */
int reg_open_call(struct al_registry *r, const struct reg_call *c,
                  struct al_http_stream **out, struct al_err *e);

/* The error for an unexpected status of `what` at `source`: AL_ENOTFOUND,
 * AL_EDENIED (with a hint about credentials) or AL_EHTTP. */
int reg_status_error(const struct al_http_head *hd, const char *what,
                     const char *source, const struct al_registry *r,
                     struct al_err *e);

/* Appends `s` to the string in `out` (of size n), percent-encoded. */
void reg_append_escaped(char *out, size_t n, const char *s);

/* ---- auth.c: the Bearer token flow and its cache ---- */

/* The Authorization header for a request to `ep` on repository path `repo`
 * for `scope` ("repository:a/b:pull ..."), or *out = NULL for none (wipe
 * and free with al_secret_free). Basic credentials come from the auth file;
 * a Bearer token from the cache, or from the token service when the cache
 * has none for `scope` or when `fresh` (after a 401 with a cached token). */
int auth_header(struct al_registry *r, struct reg_endpoint *ep, const char *repo,
                const char *scope, int fresh, char **out, struct al_err *e);

/* Checks that `ep` accepts the auth file's credentials for `repo` (NULL:
 * the host's own) as a login: GET /v2/ with them (Basic), or a token with
 * no scope (Bearer), once per credentials. 0 when accepted, when there are
 * none, or when the answer says nothing of them; AL_EAUTH, one message
 * naming the registry and the auth file, when they are refused. */
int auth_login(struct al_registry *r, struct reg_endpoint *ep, const char *repo,
               struct al_err *e);

/* The newest cached token for exactly `scope`, or NULL. */
const struct reg_token *auth_token_find(const struct reg_token *list,
                                        const char *scope);

/* Caches `token` (copied; the caller wipes its own) for `scope`, ahead of
 * any older one. AL_ENOMEM or 0; *added (may be NULL) is the new entry. */
int auth_token_add(struct reg_token **list, const char *scope, const char *token,
                   const struct reg_token **added, struct al_err *e);

/* Copies into *dst the tokens of `src` for scopes *dst has none for. Best
 * effort: it is a cache, and out of memory only means asking again. */
void auth_tokens_learn(struct reg_token **dst, const struct reg_token *src);

void auth_tokens_free(struct reg_token *list);   /* accepts NULL */

#endif
