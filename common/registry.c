#include "airlock/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/manifest.h"
#include "airlock/ref.h"
#include "airlock/retry.h"

#define TOKEN_BODY_MAX (1024 * 1024)
#define ERROR_BODY_MAX (64 * 1024)

struct token {
    char *scope;
    char *header;   /* "Authorization: Bearer ..." (secret) */
    struct token *next;
};

struct endpoint {
    char *host;                 /* host[:port] contacted */
    int probed;
    struct al_challenge ch;     /* how /v2/ asked us to authenticate */
    struct token *tokens;
    struct endpoint *next;
};

struct mapping {
    char *from;     /* logical registry */
    char *host;     /* endpoint host[:port] */
    char *prefix;   /* path prefix without slashes, or "" */
    struct mapping *next;
};

struct al_registry {
    struct al_http *http;
    struct al_http *own_http;    /* a clone's connection, freed with it */
    const struct al_authfile *auth;
    struct endpoint *endpoints;
    struct mapping *mappings;
    int push;      /* ask for push access on every repository */
    struct al_retry retry;
};

void al_registry_set_retries(struct al_registry *r, int retries, long first_delay_ms)
{
    r->retry.retries = retries < 0 ? 0 : retries;
    r->retry.delay_ms = first_delay_ms > 0 ? first_delay_ms : 1;
}


/* What a read asks for: pull, plus push once pushing (one token serves). */
static const char *read_actions(const struct al_registry *r)
{
    return r->push ? "pull,push" : "pull";
}

int al_registry_new(struct al_registry **out, struct al_http *http,
                    const struct al_authfile *auth, struct al_err *e)
{
    struct al_registry *r = calloc(1, sizeof(*r));

    *out = NULL;
    if (r == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    r->http = http;
    r->auth = auth;
    al_retry_init(&r->retry);
    *out = r;
    return 0;
}

/* al_http_do, retried on transport failures and transient statuses. */
static int http_do_retry(struct al_registry *r, const struct al_http_req *req,
                         struct al_http_resp *resp, size_t max, struct al_err *e)
{
    int attempt, rc = 0;

    for (attempt = 0;; attempt++) {
        rc = al_http_do(r->http, req, resp, max, e);
        if (!al_retry_again(&r->retry, attempt, rc, resp->head.status))
            return rc;
        al_retry_sleep(&r->retry, attempt, rc == 0 ? resp->head.retry_after : -1);
        al_http_resp_release(resp);
        al_err_init(e);
    }
}

static void tokens_free(struct token *t)
{
    struct token *next;

    for (; t != NULL; t = next) {
        next = t->next;
        free(t->scope);
        al_secret_free(t->header);
        free(t);
    }
}

void al_registry_free(struct al_registry *r)
{
    struct endpoint *ep, *enext;
    struct mapping *m, *mnext;

    if (r == NULL)
        return;
    al_http_free(r->own_http);
    for (ep = r->endpoints; ep != NULL; ep = enext) {
        enext = ep->next;
        tokens_free(ep->tokens);
        al_challenge_release(&ep->ch);
        free(ep->host);
        free(ep);
    }
    for (m = r->mappings; m != NULL; m = mnext) {
        mnext = m->next;
        free(m->from);
        free(m->host);
        free(m->prefix);
        free(m);
    }
    free(r);
}

static char *dup_or_null(const char *s, int *failed)
{
    char *d = s ? strdup(s) : NULL;

    if (s != NULL && d == NULL)
        *failed = 1;
    return d;
}

int al_registry_clone(struct al_registry **out, const struct al_registry *src,
                      const struct al_http_opts *http_opts, struct al_err *e)
{
    const struct mapping *m;
    struct mapping **tail;
    struct al_registry *r;
    struct al_http *http;
    int rc = al_http_new(&http, http_opts, e);

    *out = NULL;
    if (rc != 0)
        return rc;
    rc = al_registry_new(&r, http, src->auth, e);
    if (rc != 0) {
        al_http_free(http);
        return rc;
    }
    r->own_http = http;
    r->push = src->push;
    r->retry.retries = src->retry.retries;
    r->retry.delay_ms = src->retry.delay_ms;
    tail = &r->mappings;   /* in the same order: the first match wins */
    for (m = src->mappings; m != NULL; m = m->next) {
        struct mapping *c = calloc(1, sizeof(*c));
        if (c == NULL) {
            rc = AL_ENOMEM;
            break;
        }
        *tail = c;
        tail = &c->next;
        c->from = strdup(m->from);
        c->host = strdup(m->host);
        c->prefix = strdup(m->prefix);
        if (c->from == NULL || c->host == NULL || c->prefix == NULL) {
            rc = AL_ENOMEM;
            break;
        }
    }
    if (rc != 0) {
        al_registry_free(r);
        return al_err_set(e, AL_ENOMEM, "out of memory");
    }
    al_registry_absorb(r, src);
    *out = r;
    return 0;
}

int al_registry_add_mapping(struct al_registry *r, const char *spec,
                            struct al_err *e)
{
    const char *eq = strchr(spec, '=');
    const char *to, *slash;
    struct mapping *m;

    if (eq == NULL || eq == spec || eq[1] == '\0' || eq[1] == '/')
        return al_err_set(e, AL_EINVAL,
                          "invalid --pull-from '%s' (expected FROM=TO, e.g. "
                          "registry.redhat.io=cache.example.com:5000)", spec);
    to = eq + 1;
    slash = strchr(to, '/');
    m = calloc(1, sizeof(*m));
    if (m == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    m->from = strndup(spec, (size_t)(eq - spec));
    m->host = slash ? strndup(to, (size_t)(slash - to)) : strdup(to);
    m->prefix = strdup(slash ? slash + 1 : "");
    if (m->from == NULL || m->host == NULL || m->prefix == NULL) {
        free(m->from);
        free(m->host);
        free(m->prefix);
        free(m);
        return al_err_set(e, AL_ENOMEM, "out of memory");
    }
    while (*m->prefix && m->prefix[strlen(m->prefix) - 1] == '/')
        m->prefix[strlen(m->prefix) - 1] = '\0';
    m->next = r->mappings;
    r->mappings = m;
    return 0;
}

static const struct mapping *find_mapping(const struct al_registry *r,
                                          const char *registry)
{
    const struct mapping *m;

    for (m = r->mappings; m != NULL; m = m->next)
        if (strcmp(m->from, registry) == 0)
            return m;
    return NULL;
}

/* Endpoint host and repository path on that endpoint. */
static void resolve(const struct al_registry *r, const char *registry,
                    const char *repo, char *host, size_t hn, char *path,
                    size_t pn)
{
    const struct mapping *m = find_mapping(r, registry);

    if (m == NULL) {
        snprintf(host, hn, "%s", al_registry_api_host(registry));
        snprintf(path, pn, "%s", repo);
    } else {
        snprintf(host, hn, "%s", m->host);
        snprintf(path, pn, "%s%s%s", m->prefix, m->prefix[0] ? "/" : "", repo);
    }
}

char *al_registry_source(const struct al_registry *r, const char *registry,
                         const char *repo)
{
    char host[512], path[1024];
    size_t n;
    char *s;

    resolve(r, registry, repo, host, sizeof(host), path, sizeof(path));
    n = strlen(host) + strlen(path) + 2;
    s = malloc(n);
    if (s)
        snprintf(s, n, "%s/%s", host, path);
    return s;
}

static struct endpoint *get_endpoint(struct al_registry *r, const char *host)
{
    struct endpoint *ep;

    for (ep = r->endpoints; ep != NULL; ep = ep->next)
        if (strcmp(ep->host, host) == 0)
            return ep;
    ep = calloc(1, sizeof(*ep));
    if (ep == NULL || (ep->host = strdup(host)) == NULL) {
        free(ep);
        return NULL;
    }
    ep->next = r->endpoints;
    r->endpoints = ep;
    return ep;
}

/* Takes into `dst` what `src` (the same host) learnt that `dst` lacks: the
 * challenge once probed, and tokens for scopes `dst` has none for. Best
 * effort: it is a cache, and out of memory only means asking again. */
static void endpoint_learn(struct endpoint *dst, const struct endpoint *src)
{
    const struct token *t;
    int failed = 0;

    if (!dst->probed && src->probed) {
        struct al_challenge ch = {.scheme = src->ch.scheme};
        ch.realm = dup_or_null(src->ch.realm, &failed);
        ch.service = dup_or_null(src->ch.service, &failed);
        ch.scope = dup_or_null(src->ch.scope, &failed);
        if (failed) {
            al_challenge_release(&ch);
            return;
        }
        al_challenge_release(&dst->ch);
        dst->ch = ch;
        dst->probed = 1;
    }
    for (t = src->tokens; t != NULL; t = t->next) {
        const struct token *have;
        struct token *c;
        for (have = dst->tokens; have != NULL; have = have->next)
            if (strcmp(have->scope, t->scope) == 0)
                break;
        if (have != NULL || (c = calloc(1, sizeof(*c))) == NULL)
            continue;
        c->scope = dup_or_null(t->scope, &failed);
        c->header = dup_or_null(t->header, &failed);
        if (failed) {
            tokens_free(c);
            return;
        }
        c->next = dst->tokens;
        dst->tokens = c;
    }
}

void al_registry_absorb(struct al_registry *into, const struct al_registry *from)
{
    const struct endpoint *src;

    for (src = from->endpoints; src != NULL; src = src->next) {
        struct endpoint *dst = get_endpoint(into, src->host);
        if (dst == NULL)
            return;
        endpoint_learn(dst, src);
    }
}

static int probe(struct al_registry *r, struct endpoint *ep, struct al_err *e)
{
    struct al_http_resp resp;
    char url[600];
    struct al_http_req req = {.method = "GET", .url = url, .follow_redirects = 1};
    int rc;

    snprintf(url, sizeof(url), "https://%s/v2/", ep->host);
    rc = http_do_retry(r, &req, &resp, ERROR_BODY_MAX, e);
    if (rc == 0) {
        if (resp.head.status == 401) {
            rc = al_challenge_parse(resp.head.www_authenticate, &ep->ch, e);
            if (rc != 0)
                al_err_prefix(e, "registry '%s'", ep->host);
        } else if (al_retry_transient_status(resp.head.status)) {
            rc = al_err_set(e, AL_EHTTP, "registry '%s': HTTP %ld after %d retries: the "
                            "registry is down or overloaded; run again later", ep->host,
                            resp.head.status, r->retry.retries);
        } else if (resp.head.status != 200) {
            rc = al_err_set(e, AL_EHTTP,
                            "'%s' does not answer like a registry "
                            "(HTTP %ld on /v2/)", ep->host, resp.head.status);
            if (e)
                e->http_status = resp.head.status;
        }
    }
    al_http_resp_release(&resp);
    if (rc == 0)
        ep->probed = 1;
    return rc;
}

static void append_escaped(char *out, size_t n, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = strlen(out);

    for (; *s && len + 4 < n; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || strchr("-._~", c)) {
            out[len++] = (char)c;
        } else {
            out[len++] = '%';
            out[len++] = hex[c >> 4];
            out[len++] = hex[c & 15];
        }
    }
    out[len] = '\0';
}

/* "a b" -> "scope=a&scope=b": a token may cover several repositories (a
 * cross-repository mount needs push on one and pull on the other). */
static void append_scopes(char *url, size_t n, const char *scopes)
{
    char one[1200];
    const char *p = scopes;
    size_t len;

    while (*p) {
        len = strcspn(p, " ");
        if (len > 0 && len < sizeof(one)) {
            memcpy(one, p, len);
            one[len] = '\0';
            if (url[strlen(url) - 1] != '?' && url[strlen(url) - 1] != '&')
                strncat(url, "&", n - strlen(url) - 1);
            strncat(url, "scope=", n - strlen(url) - 1);
            append_escaped(url, n, one);
        }
        p += len;
        while (*p == ' ')
            p++;
    }
}

static int fetch_token(struct al_registry *r, struct endpoint *ep,
                       const char *repo, const char *scope, struct token **out,
                       struct al_err *e)
{
    char url[4096], realm_msg[512];
    const char *user = NULL, *pass = NULL;
    const char *headers[2] = {NULL, NULL};
    char *basic = NULL, *token = NULL;
    struct al_http_resp resp;
    struct al_http_req req = {.method = "GET", .url = url, .headers = headers,
                              .follow_redirects = 1};
    struct token *t;
    int rc, have_creds;

    *out = NULL;
    if (ep->ch.realm == NULL || ep->ch.realm[0] == '\0')
        return al_err_set(e, AL_EINVAL,
                          "registry '%s' asks for a Bearer token but names no realm",
                          ep->host);
    al_http_url_for_message(ep->ch.realm, realm_msg, sizeof(realm_msg));
    have_creds = al_authfile_find(r->auth, ep->host, repo, &user, &pass);
    if (have_creds && strncmp(ep->ch.realm, "https://", 8) != 0)
        return al_err_set(e, AL_EDENIED,
                          "refusing to send credentials for '%s' to the "
                          "non-HTTPS token service '%s'", ep->host, realm_msg);
    snprintf(url, sizeof(url), "%s%s", ep->ch.realm,
             strchr(ep->ch.realm, '?') ? "&" : "?");
    if (ep->ch.service) {
        strncat(url, "service=", sizeof(url) - strlen(url) - 1);
        append_escaped(url, sizeof(url), ep->ch.service);
        strncat(url, "&", sizeof(url) - strlen(url) - 1);
    }
    append_scopes(url, sizeof(url), scope);
    if (have_creds) {
        basic = al_basic_header(user, pass);
        if (basic == NULL)
            return al_err_set(e, AL_ENOMEM, "out of memory");
        headers[0] = basic;
    }
    rc = http_do_retry(r, &req, &resp, TOKEN_BODY_MAX, e);
    al_secret_free(basic);
    if (rc == 0 && (resp.head.status == 401 || resp.head.status == 403))
        rc = al_err_set(e, AL_EDENIED,
                        "the token service '%s' refused %s for '%s' (HTTP %ld)%s%s",
                        realm_msg, have_creds ? "the credentials" : "anonymous access",
                        ep->host, resp.head.status,
                        have_creds ? "" : ": add credentials with --authfile",
                        "");
    else if (rc == 0 && resp.head.status != 200)
        rc = al_err_set(e, AL_EHTTP, "the token service '%s' answered HTTP %ld",
                        realm_msg, resp.head.status);
    if (rc == 0)
        rc = al_token_parse(resp.body.data, resp.body.len, &token, e);
    al_http_resp_release(&resp);
    if (rc != 0)
        return rc;
    t = calloc(1, sizeof(*t));
    if (t == NULL || (t->scope = strdup(scope)) == NULL ||
        (t->header = malloc(strlen(token) + 32)) == NULL) {
        if (t)
            free(t->scope);
        free(t);
        al_secret_free(token);
        return al_err_set(e, AL_ENOMEM, "out of memory");
    }
    snprintf(t->header, strlen(token) + 32, "Authorization: Bearer %s", token);
    al_secret_free(token);
    t->next = ep->tokens;
    ep->tokens = t;
    *out = t;
    return 0;
}

/* The Authorization header for a request, or NULL for none. `fresh` forces
 * a new token (after a 401 with a token that looked valid). */
static int auth_header(struct al_registry *r, struct endpoint *ep,
                       const char *repo, const char *scope, int fresh,
                       char **out, struct al_err *e)
{
    const char *user, *pass;
    struct token *t;
    int rc;

    *out = NULL;
    if (ep->ch.scheme == AL_AUTH_BASIC) {
        if (!al_authfile_find(r->auth, ep->host, repo, &user, &pass))
            return 0;
        *out = al_basic_header(user, pass);
        return *out ? 0 : al_err_set(e, AL_ENOMEM, "out of memory");
    }
    if (ep->ch.scheme != AL_AUTH_BEARER)
        return 0;
    for (t = ep->tokens; t != NULL && !fresh; t = t->next)
        if (strcmp(t->scope, scope) == 0)
            break;
    if (t == NULL || fresh) {
        rc = fetch_token(r, ep, repo, scope, &t, e);
        if (rc != 0)
            return rc;
    }
    *out = strdup(t->header);
    return *out ? 0 : al_err_set(e, AL_ENOMEM, "out of memory");
}

/* One request to the endpoint serving `registry`. */
struct call {
    const char *registry, *repo;  /* logical names */
    const char *method;
    const char *tail;        /* after "/v2/<path>/": "manifests/latest" */
    const char *url;         /* or a whole URL (an upload Location) */
    const char *actions;     /* "pull" or "pull,push" */
    const char *mount_from;  /* repository also needing pull, or NULL */
    const char *accept;      /* a header line, or NULL */
    long long range_from;    /* > 0: "Range: bytes=N-" */
    const char *content_type;
    const void *body;
    size_t body_len;
    long long upload_size;   /* >= 0: a streamed upload (no retry) */
};

static int call_endpoint(struct al_registry *r, const struct call *c,
                         struct endpoint **ep_out, char *path, size_t pn,
                         struct al_err *e)
{
    char host[512];
    struct endpoint *ep;
    int rc;

    resolve(r, c->registry, c->repo, host, sizeof(host), path, pn);
    ep = get_endpoint(r, host);
    if (ep == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    if (!ep->probed) {
        rc = probe(r, ep, e);
        if (rc != 0)
            return rc;
    }
    *ep_out = ep;
    return 0;
}

/* Opens the request, authenticating as needed (a Bearer 401 is retried once
 * with a fresh token); the caller inspects the status. */
static int open_call_once(struct al_registry *r, const struct call *c,
                          struct al_http_stream **out, struct al_err *e)
{
    char path[1024], url[2048], scope[2600], from_path[1024], host_ignored[512];
    const char *headers[5] = {NULL, NULL, NULL, NULL, NULL};
    char ctype[300], range[64];
    struct al_http_req req = {.method = c->method, .url = url, .headers = headers,
                              .body = c->body, .body_len = c->body_len,
                              .follow_redirects = 1};
    struct endpoint *ep = NULL;
    char *authz = NULL;
    int attempt, rc, send_auth = 1;

    *out = NULL;
    rc = call_endpoint(r, c, &ep, path, sizeof(path), e);
    if (rc != 0)
        return rc;
    if (c->url) {
        char base[600];
        snprintf(base, sizeof(base), "https://%s/", ep->host);
        snprintf(url, sizeof(url), "%s", c->url);
        send_auth = al_http_same_origin(base, c->url);
    } else {
        snprintf(url, sizeof(url), "https://%s/v2/%s/%s", ep->host, path, c->tail);
    }
    snprintf(scope, sizeof(scope), "repository:%s:%s", path, c->actions);
    if (c->mount_from) {
        resolve(r, c->registry, c->mount_from, host_ignored, sizeof(host_ignored),
                from_path, sizeof(from_path));
        snprintf(scope + strlen(scope), sizeof(scope) - strlen(scope),
                 " repository:%s:pull", from_path);
    }
    if (c->content_type)
        snprintf(ctype, sizeof(ctype), "Content-Type: %s", c->content_type);
    for (attempt = 0; attempt < 2; attempt++) {
        struct al_http_stream *s = NULL;
        size_t nh = 0;
        if (send_auth) {
            rc = auth_header(r, ep, path, scope, attempt > 0, &authz, e);
            if (rc != 0)
                return rc;
        }
        if (c->accept)
            headers[nh++] = c->accept;
        if (c->content_type)
            headers[nh++] = ctype;
        if (c->range_from > 0) {
            snprintf(range, sizeof(range), "Range: bytes=%lld-", c->range_from);
            headers[nh++] = range;
        }
        headers[nh++] = authz;
        if (c->upload_size >= 0)
            rc = al_http_upload_open(r->http, &req, c->upload_size, &s, e);
        else
            rc = al_http_stream_open(r->http, &req, &s, e);
        al_secret_free(authz);
        authz = NULL;
        if (rc != 0)
            return rc;
        if (c->upload_size < 0 && al_http_stream_head(s)->status == 401 &&
            attempt == 0 && ep->ch.scheme == AL_AUTH_BEARER) {
            al_http_stream_close(s);
            continue;
        }
        *out = s;
        return 0;
    }
    return al_err_set(e, AL_EDENIED, "unreachable");
}

/* open_call_once, again after transport failures and transient statuses
 * (never for a streamed upload, whose bytes are gone). */
static int open_call(struct al_registry *r, const struct call *c,
                     struct al_http_stream **out, struct al_err *e)
{
    int attempt, rc;

    for (attempt = 0;; attempt++) {
        long status, after = -1;
        rc = open_call_once(r, c, out, e);
        status = rc == 0 ? al_http_stream_head(*out)->status : 0;
        if (c->upload_size >= 0 || !al_retry_again(&r->retry, attempt, rc, status))
            return rc;
        if (rc == 0) {
            after = al_http_stream_head(*out)->retry_after;
            al_http_stream_close(*out);
            *out = NULL;
        }
        al_err_init(e);
        al_retry_sleep(&r->retry, attempt, after);
    }
}

static int open_request(struct al_registry *r, const char *registry,
                        const char *repo, const char *method, const char *kind,
                        const char *reference, const char *accept,
                        struct al_http_stream **out, struct al_err *e)
{
    char tail[300];
    struct call c = {.registry = registry, .repo = repo, .method = method,
                     .tail = tail, .actions = read_actions(r),
                     .accept = accept, .upload_size = -1};

    snprintf(tail, sizeof(tail), "%s/%s", kind, reference);
    return open_call(r, &c, out, e);
}

static int status_error(const struct al_http_head *hd, const char *what,
                        const char *source, const struct al_registry *r,
                        const char *host_repo, struct al_err *e)
{
    long st = hd->status;
    const char *file = al_authfile_path(r->auth);
    int rc;

    (void)host_repo;
    if (st == 404)
        rc = al_err_set(e, AL_ENOTFOUND, "%s not found at '%s'", what, source);
    else if (st == 401 || st == 403)
        rc = al_err_set(e, AL_EDENIED, "access to %s at '%s' denied (HTTP %ld)%s%s%s",
                        what, source, st, file[0] ? ": check the credentials in '" : ": add credentials with --authfile",
                        file, file[0] ? "'" : "");
    else if (al_retry_transient_status(st))
        rc = al_err_set(e, AL_EHTTP, "%s at '%s': HTTP %ld after %d retries: the "
                        "registry is down or overloaded; run again later", what, source,
                        st, r->retry.retries);
    else
        rc = al_err_set(e, AL_EHTTP, "%s at '%s': unexpected HTTP %ld", what,
                        source, st);
    if (e)
        e->http_status = st;
    return rc;
}

int al_registry_get_manifest(struct al_registry *r, const char *registry,
                             const char *repo, const char *reference,
                             struct al_buf *body, char **media_type,
                             char digest[AL_DIGEST_STR_MAX], struct al_err *e)
{
    struct al_http_stream *s = NULL;
    const struct al_http_head *hd;
    char what[1200], chunk[16384];
    char *source = al_registry_source(r, registry, repo);
    size_t got;
    int rc;

    *media_type = NULL;
    if (source == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    snprintf(what, sizeof(what), "manifest '%s/%s%s%s'", registry, repo,
             strncmp(reference, "sha256:", 7) == 0 ? "@" : ":", reference);
    rc = open_request(r, registry, repo, "GET", "manifests", reference,
                      AL_MANIFEST_ACCEPT, &s, e);
    if (rc != 0)
        goto out;
    hd = al_http_stream_head(s);
    if (hd->status != 200) {
        rc = status_error(hd, what, source, r, NULL, e);
        goto out;
    }
    do {
        rc = al_http_stream_read(s, chunk, sizeof(chunk), &got, e);
        if (rc == 0 && got > 0)
            rc = al_buf_append(body, chunk, got, what, e);
    } while (rc == 0 && got > 0);
    if (rc != 0)
        goto out;
    if (body->data == NULL && (rc = al_buf_append(body, "", 0, what, e)) != 0)
        goto out;
    al_sha256_digest(body->data, body->len, digest);
    if (al_digest_valid(reference) && strcmp(reference, digest) != 0) {
        rc = al_err_set(e, AL_EDIGEST, "%s from '%s' has digest %s",
                        what, source, digest);
        goto out;
    }
    if (hd->docker_digest && strncmp(hd->docker_digest, "sha256:", 7) == 0 &&
        strcmp(hd->docker_digest, digest) != 0) {
        rc = al_err_set(e, AL_EDIGEST,
                        "%s from '%s' has digest %s but the registry says %.80s",
                        what, source, digest, hd->docker_digest);
        goto out;
    }
    if (hd->content_type && (*media_type = strdup(hd->content_type)) == NULL)
        rc = al_err_set(e, AL_ENOMEM, "out of memory");
out:
    al_http_stream_close(s);
    free(source);
    return rc;
}

/* al_registry_open_blob() from byte `offset` on (a Range request). A
 * registry that ignores the range is read past `offset` here, so the stream
 * always starts at `offset`. */
static int open_blob_at(struct al_registry *r, const char *registry, const char *repo,
                        const char *digest, long long offset,
                        struct al_http_stream **out, struct al_err *e)
{
    struct al_http_stream *s = NULL;
    char what[200], tail[100], skip[16384];
    struct call c = {.registry = registry, .repo = repo, .method = "GET", .tail = tail,
                     .actions = read_actions(r), .range_from = offset,
                     .upload_size = -1};
    char *source;
    long st;
    int rc;

    *out = NULL;
    snprintf(tail, sizeof(tail), "blobs/%s", digest);
    rc = open_call(r, &c, &s, e);
    if (rc != 0)
        return rc;
    st = al_http_stream_head(s)->status;
    if (st == 200 || (st == 206 && offset > 0)) {
        /* a 200 to a range request is the whole blob: skip what we have */
        long long left = st == 200 ? offset : 0;
        while (rc == 0 && left > 0) {
            size_t got;
            rc = al_http_stream_read(s, skip, left < (long long)sizeof(skip) ? (size_t)left : sizeof(skip), &got, e);
            if (rc == 0 && got == 0)
                rc = al_err_set(e, AL_EDIGEST, "blob %s ended before byte %lld", digest, offset);
            left -= (long long)got;
        }
        if (rc != 0) {
            al_http_stream_close(s);
            return rc;
        }
        *out = s;
        return 0;
    }
    snprintf(what, sizeof(what), "blob %s", digest);
    source = al_registry_source(r, registry, repo);
    rc = status_error(al_http_stream_head(s), what, source ? source : registry,
                      r, NULL, e);
    free(source);
    al_http_stream_close(s);
    return rc;
}

int al_registry_open_blob(struct al_registry *r, const char *registry,
                          const char *repo, const char *digest,
                          struct al_http_stream **out, struct al_err *e)
{
    return open_blob_at(r, registry, repo, digest, 0, out, e);
}

/* ---- push side ---------------------------------------------------------- */

void al_registry_set_push(struct al_registry *r, int push)
{
    r->push = push;
}

static void resp_init(struct al_http_resp *resp)
{
    memset(resp, 0, sizeof(*resp));
    resp->head.content_length = -1;
    resp->head.retry_after = -1;
    al_buf_init(&resp->body, ERROR_BODY_MAX);
}

/* A request whose whole (small) answer is wanted. */
static int simple_call(struct al_registry *r, struct call *c,
                       struct al_http_resp *resp, struct al_err *e)
{
    struct al_http_stream *s = NULL;
    int rc;

    resp_init(resp);
    rc = open_call(r, c, &s, e);
    if (rc != 0)
        return rc;
    return al_http_stream_finish(s, resp, ERROR_BODY_MAX, e);
}

/* An absolute URL for a Location header sent by the endpoint of `repo`. */
static char *location_url(const struct al_registry *r, const char *registry,
                          const char *repo, const char *location)
{
    char base[700], host[512], path[1024];

    resolve(r, registry, repo, host, sizeof(host), path, sizeof(path));
    snprintf(base, sizeof(base), "https://%s/v2/", host);
    return al_http_url_join(base, location);
}

/* The registry's own words from an error body ({"errors":[{"code",
 * "message"}]}), first 200 characters, for messages. */
static void registry_said(const struct al_buf *body, char *out, size_t n)
{
    const char *code, *msg;

    out[0] = '\0';
    if (body->data == NULL)
        return;
    code = strstr(body->data, "\"code\":\"");
    msg = strstr(body->data, "\"message\":\"");
    if (code && msg)
        snprintf(out, n, ": %.*s: %.*s", (int)strcspn(code + 8, "\""), code + 8,
                 (int)strcspn(msg + 11, "\""), msg + 11);
    if (strlen(out) > 200)
        out[200] = '\0';
}

static int push_status_error(struct al_registry *r, const struct al_http_resp *resp,
                             const char *what, const char *registry,
                             const char *repo, struct al_err *e)
{
    char said[256];
    char *at = al_registry_source(r, registry, repo);
    int rc;

    registry_said(&resp->body, said, sizeof(said));
    rc = status_error(&resp->head, what, at ? at : registry, r, NULL, e);
    if (said[0] && e != NULL && strlen(e->msg) + strlen(said) < sizeof(e->msg))
        memcpy(e->msg + strlen(e->msg), said, strlen(said) + 1);
    free(at);
    return rc;
}

int al_registry_blob_exists(struct al_registry *r, const char *registry,
                            const char *repo, const char *digest, int *exists,
                            struct al_err *e)
{
    char tail[100], what[100];
    struct call c = {.registry = registry, .repo = repo, .method = "HEAD",
                     .tail = tail, .actions = read_actions(r),
                     .upload_size = -1};
    struct al_http_resp resp;
    int rc;

    *exists = 0;
    snprintf(tail, sizeof(tail), "blobs/%s", digest);
    rc = simple_call(r, &c, &resp, e);
    if (rc == 0 && resp.head.status == 200)
        *exists = 1;
    else if (rc == 0 && resp.head.status != 404) {
        snprintf(what, sizeof(what), "blob %s", digest);
        rc = push_status_error(r, &resp, what, registry, repo, e);
    }
    al_http_resp_release(&resp);
    return rc;
}

int al_registry_blob_mount(struct al_registry *r, const char *registry,
                           const char *repo, const char *digest,
                           const char *from_repo, int *mounted, struct al_err *e)
{
    char tail[1400], what[100], from_path[1024], host[512];
    struct call c = {.registry = registry, .repo = repo, .method = "POST",
                     .tail = tail, .actions = "pull,push", .mount_from = from_repo,
                     .upload_size = -1};
    struct al_http_resp resp;
    int rc;

    *mounted = 0;
    resolve(r, registry, from_repo, host, sizeof(host), from_path, sizeof(from_path));
    snprintf(tail, sizeof(tail), "blobs/uploads/?mount=");
    append_escaped(tail, sizeof(tail), digest);
    strncat(tail, "&from=", sizeof(tail) - strlen(tail) - 1);
    append_escaped(tail, sizeof(tail), from_path);
    rc = simple_call(r, &c, &resp, e);
    if (rc == 0 && resp.head.status == 201) {
        *mounted = 1;
    } else if (rc == 0 && resp.head.status == 202) {
        /* the registry opened an upload instead: cancel it, best effort */
        char *loc = resp.head.location
                        ? location_url(r, registry, repo, resp.head.location) : NULL;
        if (loc != NULL) {
            struct call d = {.registry = registry, .repo = repo, .method = "DELETE",
                             .url = loc, .actions = "pull,push", .upload_size = -1};
            struct al_http_resp dresp;
            simple_call(r, &d, &dresp, NULL);
            al_http_resp_release(&dresp);
            free(loc);
        }
    } else if (rc == 0) {
        snprintf(what, sizeof(what), "mount of blob %s", digest);
        rc = push_status_error(r, &resp, what, registry, repo, e);
    }
    al_http_resp_release(&resp);
    return rc;
}

struct al_blob_upload {
    struct al_registry *r;
    char *registry, *repo;
    char *session;                /* the upload's URL */
    struct al_http_stream *s;     /* the PATCH carrying the bytes */
};

static int upload_new(struct al_blob_upload **out, struct al_registry *r,
                      const char *registry, const char *repo, struct al_err *e)
{
    struct al_blob_upload *up = calloc(1, sizeof(*up));

    *out = NULL;
    if (up == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    up->r = r;
    up->registry = strdup(registry);
    up->repo = strdup(repo);
    if (up->registry == NULL || up->repo == NULL) {
        free(up->registry);
        free(up->repo);
        free(up);
        return al_err_set(e, AL_ENOMEM, "out of memory");
    }
    *out = up;
    return 0;
}

static void upload_free(struct al_blob_upload *up)
{
    al_http_stream_close(up->s);
    free(up->registry);
    free(up->repo);
    free(up->session);
    free(up);
}

/* Turns a Location header into the session URL on the registry's endpoint. */
static int take_location(struct al_blob_upload *up, const struct al_http_resp *resp,
                         const char *doing, struct al_err *e)
{
    char *url = resp->head.location
                    ? location_url(up->r, up->registry, up->repo, resp->head.location)
                    : NULL;

    if (url == NULL)
        return al_err_set(e, AL_EHTTP, "the registry gave no usable upload location "
                          "(%s in '%s')", doing, up->repo);
    free(up->session);
    up->session = url;
    return 0;
}

int al_registry_upload_open(struct al_registry *r, const char *registry,
                            const char *repo, long long size,
                            struct al_blob_upload **out, struct al_err *e)
{
    struct call c = {.registry = registry, .repo = repo, .method = "POST",
                     .tail = "blobs/uploads/", .actions = "pull,push",
                     .upload_size = -1};
    struct al_http_resp resp;
    struct al_blob_upload *up;
    int rc;

    *out = NULL;
    rc = upload_new(&up, r, registry, repo, e);
    if (rc != 0)
        return rc;
    rc = simple_call(r, &c, &resp, e);
    if (rc == 0 && resp.head.status != 202)
        rc = push_status_error(r, &resp, "a blob upload", registry, repo, e);
    if (rc == 0)
        rc = take_location(up, &resp, "starting an upload", e);
    al_http_resp_release(&resp);
    if (rc == 0) {
        struct call p = {.registry = registry, .repo = repo, .method = "PATCH",
                         .url = up->session, .actions = "pull,push",
                         .content_type = "application/octet-stream",
                         .upload_size = size};
        rc = open_call(r, &p, &up->s, e);
    }
    if (rc != 0) {
        al_registry_upload_abort(up);
        return rc;
    }
    *out = up;
    return 0;
}

int al_registry_upload_write(struct al_blob_upload *up, const void *p, size_t n,
                             struct al_err *e)
{
    return al_http_upload_write(up->s, p, n, e);
}

int al_registry_upload_commit(struct al_blob_upload *up, const char *digest,
                              struct al_err *e)
{
    struct al_http_resp resp;
    char what[100], *url = NULL;
    size_t n;
    int rc;

    snprintf(what, sizeof(what), "upload of blob %s", digest);
    resp_init(&resp);
    rc = al_http_upload_finish(up->s, e);
    if (rc == 0) {
        rc = al_http_stream_finish(up->s, &resp, ERROR_BODY_MAX, e);
        up->s = NULL;
    }
    if (rc == 0 && resp.head.status != 202 && resp.head.status != 204)
        rc = push_status_error(up->r, &resp, what, up->registry, up->repo, e);
    if (rc == 0 && resp.head.location != NULL)
        rc = take_location(up, &resp, what, e);
    al_http_resp_release(&resp);
    if (rc == 0) {
        n = strlen(up->session) + strlen(digest) + 16;
        url = malloc(n);
        if (url == NULL)
            rc = al_err_set(e, AL_ENOMEM, "out of memory");
    }
    if (rc == 0) {
        struct call c = {.registry = up->registry, .repo = up->repo, .method = "PUT",
                         .url = url, .actions = "pull,push", .upload_size = -1};
        snprintf(url, n, "%s%cdigest=", up->session,
                 strchr(up->session, '?') ? '&' : '?');
        append_escaped(url, n, digest);
        rc = simple_call(up->r, &c, &resp, e);
        if (rc == 0 && resp.head.status != 201)
            rc = push_status_error(up->r, &resp, what, up->registry, up->repo, e);
        al_http_resp_release(&resp);
    }
    free(url);
    if (rc != 0) {
        al_registry_upload_abort(up);
        return rc;
    }
    upload_free(up);
    return 0;
}

void al_registry_upload_abort(struct al_blob_upload *up)
{
    struct al_http_resp resp;

    if (up == NULL)
        return;
    al_http_stream_close(up->s);
    up->s = NULL;
    if (up->session != NULL) {
        struct call c = {.registry = up->registry, .repo = up->repo,
                         .method = "DELETE", .url = up->session,
                         .actions = "pull,push", .upload_size = -1};
        simple_call(up->r, &c, &resp, NULL);
        al_http_resp_release(&resp);
    }
    upload_free(up);
}

int al_registry_manifest_head(struct al_registry *r, const char *registry,
                              const char *repo, const char *reference,
                              char digest[AL_DIGEST_STR_MAX], int *exists,
                              struct al_err *e)
{
    char tail[300], what[400];
    struct call c = {.registry = registry, .repo = repo, .method = "HEAD",
                     .tail = tail, .actions = read_actions(r),
                     .accept = AL_MANIFEST_ACCEPT, .upload_size = -1};
    struct al_http_resp resp;
    int rc;

    *exists = 0;
    digest[0] = '\0';
    snprintf(tail, sizeof(tail), "manifests/%s", reference);
    rc = simple_call(r, &c, &resp, e);
    if (rc == 0 && resp.head.status == 200) {
        *exists = 1;
        if (resp.head.docker_digest && al_digest_valid(resp.head.docker_digest))
            snprintf(digest, AL_DIGEST_STR_MAX, "%s", resp.head.docker_digest);
    } else if (rc == 0 && resp.head.status != 404) {
        snprintf(what, sizeof(what), "manifest '%s'", reference);
        rc = push_status_error(r, &resp, what, registry, repo, e);
    }
    al_http_resp_release(&resp);
    return rc;
}

int al_registry_put_manifest(struct al_registry *r, const char *registry,
                             const char *repo, const char *reference,
                             const char *media_type, const void *data, size_t len,
                             struct al_err *e)
{
    char tail[300], what[400], digest[AL_DIGEST_STR_MAX];
    struct call c = {.registry = registry, .repo = repo, .method = "PUT",
                     .tail = tail, .actions = "pull,push", .content_type = media_type,
                     .body = data, .body_len = len, .upload_size = -1};
    struct al_http_resp resp;
    int rc;

    snprintf(tail, sizeof(tail), "manifests/%s", reference);
    snprintf(what, sizeof(what), "manifest '%s'", reference);
    rc = simple_call(r, &c, &resp, e);
    if (rc == 0 && resp.head.status != 201)
        rc = push_status_error(r, &resp, what, registry, repo, e);
    al_sha256_digest(data, len, digest);
    if (rc == 0 && resp.head.docker_digest && strcmp(resp.head.docker_digest, digest) != 0)
        rc = al_err_set(e, AL_EDIGEST, "the registry stored %s as %.80s, not %s",
                        what, resp.head.docker_digest, digest);
    al_http_resp_release(&resp);
    return rc;
}

int al_registry_probe(struct al_registry *r, const char *registry, struct al_err *e)
{
    struct call c = {.registry = registry, .repo = ""};
    struct endpoint *ep = NULL;
    char path[1024];

    return call_endpoint(r, &c, &ep, path, sizeof(path), e);
}

struct al_blob_reader {
    struct al_registry *r;
    const char *registry, *repo;   /* borrowed */
    char digest[AL_DIGEST_STR_MAX];
    long long size, total;
    int resumes;
    al_resume_fn on_resume;
    void *ud;
    struct al_http_stream *s;
};

int al_blob_reader_open(struct al_registry *r, const char *registry, const char *repo,
                        const char *digest, long long size, al_resume_fn on_resume,
                        void *ud, struct al_blob_reader **out, struct al_err *e)
{
    struct al_blob_reader *br = calloc(1, sizeof(*br));
    int rc;

    *out = NULL;
    if (br == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    br->r = r;
    br->registry = registry;
    br->repo = repo;
    snprintf(br->digest, sizeof(br->digest), "%s", digest);
    br->size = size;
    br->on_resume = on_resume;
    br->ud = ud;
    rc = al_registry_open_blob(r, registry, repo, digest, &br->s, e);
    if (rc != 0) {
        free(br);
        return rc;
    }
    *out = br;
    return 0;
}

int al_blob_reader_read(struct al_blob_reader *br, void *p, size_t n, size_t *got,
                        struct al_err *e)
{
    int rc;

    *got = 0;
    if ((long long)n > br->size - br->total)
        n = (size_t)(br->size - br->total);   /* never past the declared size */
    for (;;) {
        if (n == 0)
            return 0;
        rc = al_http_stream_read(br->s, p, n, got, e);
        if (rc == 0 && *got == 0)   /* a clean end, too early */
            rc = al_err_set(e, AL_ENET, "the body ended after %lld bytes", br->total);
        if (rc == 0)
            break;
        if (rc != AL_ENET || br->resumes >= br->r->retry.retries)
            return rc;
        if (br->on_resume)
            br->on_resume(br->ud, br->digest, br->total, e->msg);
        al_http_stream_close(br->s);
        br->s = NULL;
        al_retry_sleep(&br->r->retry, br->resumes++, -1);
        al_err_init(e);
        rc = open_blob_at(br->r, br->registry, br->repo, br->digest, br->total, &br->s, e);
        if (rc != 0)
            return rc;
    }
    br->total += (long long)*got;
    return 0;
}

void al_blob_reader_close(struct al_blob_reader *br)
{
    if (br == NULL)
        return;
    al_http_stream_close(br->s);
    free(br);
}
