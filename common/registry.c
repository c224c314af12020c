#include "airlock/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/manifest.h"
#include "airlock/ref.h"

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
    const struct al_authfile *auth;
    struct endpoint *endpoints;
    struct mapping *mappings;
};

int al_registry_new(struct al_registry **out, struct al_http *http,
                    const struct al_authfile *auth, struct al_err *e)
{
    struct al_registry *r = calloc(1, sizeof(*r));

    *out = NULL;
    if (r == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    r->http = http;
    r->auth = auth;
    *out = r;
    return 0;
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

static int probe(struct al_registry *r, struct endpoint *ep, struct al_err *e)
{
    struct al_http_resp resp;
    char url[600];
    struct al_http_req req = {.method = "GET", .url = url, .follow_redirects = 1};
    int rc;

    snprintf(url, sizeof(url), "https://%s/v2/", ep->host);
    rc = al_http_do(r->http, &req, &resp, ERROR_BODY_MAX, e);
    if (rc == 0) {
        if (resp.head.status == 401) {
            rc = al_challenge_parse(resp.head.www_authenticate, &ep->ch, e);
            if (rc != 0)
                al_err_prefix(e, "registry '%s'", ep->host);
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
    strncat(url, "scope=", sizeof(url) - strlen(url) - 1);
    append_escaped(url, sizeof(url), scope);
    if (have_creds) {
        basic = al_basic_header(user, pass);
        if (basic == NULL)
            return al_err_set(e, AL_ENOMEM, "out of memory");
        headers[0] = basic;
    }
    rc = al_http_do(r->http, &req, &resp, TOKEN_BODY_MAX, e);
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

/* Opens `method path` on the endpoint serving `registry`, authenticating as
 * needed; the caller inspects the status. */
static int open_request(struct al_registry *r, const char *registry,
                        const char *repo, const char *method, const char *kind,
                        const char *reference, const char *accept,
                        struct al_http_stream **out, struct al_err *e)
{
    char host[512], path[1024], url[2048], scope[1200];
    const char *headers[3] = {NULL, NULL, NULL};
    struct al_http_req req = {.method = method, .url = url, .headers = headers,
                              .follow_redirects = 1};
    struct endpoint *ep;
    char *authz = NULL;
    int attempt, rc = 0;

    *out = NULL;
    resolve(r, registry, repo, host, sizeof(host), path, sizeof(path));
    ep = get_endpoint(r, host);
    if (ep == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    if (!ep->probed) {
        rc = probe(r, ep, e);
        if (rc != 0)
            return rc;
    }
    snprintf(url, sizeof(url), "https://%s/v2/%s/%s/%s", host, path, kind, reference);
    snprintf(scope, sizeof(scope), "repository:%s:pull", path);
    for (attempt = 0; attempt < 2; attempt++) {
        struct al_http_stream *s = NULL;
        rc = auth_header(r, ep, path, scope, attempt > 0, &authz, e);
        if (rc != 0)
            return rc;
        headers[0] = accept;
        headers[accept ? 1 : 0] = authz;
        rc = al_http_stream_open(r->http, &req, &s, e);
        al_secret_free(authz);
        authz = NULL;
        if (rc != 0)
            return rc;
        if (al_http_stream_head(s)->status == 401 && attempt == 0 &&
            ep->ch.scheme == AL_AUTH_BEARER) {
            al_http_stream_close(s);
            continue;
        }
        *out = s;
        return 0;
    }
    return al_err_set(e, AL_EDENIED, "unreachable");
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

int al_registry_open_blob(struct al_registry *r, const char *registry,
                          const char *repo, const char *digest,
                          struct al_http_stream **out, struct al_err *e)
{
    struct al_http_stream *s = NULL;
    char what[200];
    char *source;
    int rc;

    *out = NULL;
    rc = open_request(r, registry, repo, "GET", "blobs", digest, NULL, &s, e);
    if (rc != 0)
        return rc;
    if (al_http_stream_head(s)->status == 200) {
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
