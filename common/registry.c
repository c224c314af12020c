/* The registry client: mirror mappings, endpoints and their probe, the
 * request-and-retry core, manifests and the resuming blob reader. The push
 * side is registry_push.c; Bearer tokens are auth.c. */
#include "registry_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "airlock/manifest.h"
#include "airlock/ref.h"

void al_registry_set_retries(struct al_registry *r, int retries, long first_delay_ms)
{
    r->retry.retries = retries < 0 ? 0 : retries;
    r->retry.delay_ms = first_delay_ms > 0 ? first_delay_ms : 1;
}

const char *reg_read_actions(const struct al_registry *r)
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

int reg_http_do(struct al_registry *r, const struct al_http_req *req,
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

void al_registry_free(struct al_registry *r)
{
    struct reg_endpoint *ep, *enext;
    struct reg_mapping *m, *mnext;

    if (r == NULL)
        return;
    al_http_free(r->own_http);
    for (ep = r->endpoints; ep != NULL; ep = enext) {
        enext = ep->next;
        auth_tokens_free(ep->tokens);
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
    const struct reg_mapping *m;
    struct reg_mapping **tail;
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
        struct reg_mapping *c = calloc(1, sizeof(*c));
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
    struct reg_mapping *m;

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

static const struct reg_mapping *find_mapping(const struct al_registry *r,
                                          const char *registry)
{
    const struct reg_mapping *m;

    for (m = r->mappings; m != NULL; m = m->next)
        if (strcmp(m->from, registry) == 0)
            return m;
    return NULL;
}

void reg_resolve(const struct al_registry *r, const char *registry,
                 const char *repo, char *host, size_t hn, char *path, size_t pn)
{
    const struct reg_mapping *m = find_mapping(r, registry);

    if (m == NULL) {
        snprintf(host, hn, "%s", al_registry_api_host(registry));
        snprintf(path, pn, "%s", repo);
    } else {
        snprintf(host, hn, "%s", m->host);
        snprintf(path, pn, "%s%s%s", m->prefix, m->prefix[0] ? "/" : "", repo);
    }
}

char *al_registry_source(const struct al_repo *at)
{
    char host[512], path[1024];
    size_t n;
    char *s;

    reg_resolve(at->reg, at->registry, at->repo, host, sizeof(host), path,
                sizeof(path));
    n = strlen(host) + strlen(path) + 2;
    s = malloc(n);
    if (s)
        snprintf(s, n, "%s/%s", host, path);
    return s;
}

static struct reg_endpoint *get_endpoint(struct al_registry *r, const char *host)
{
    struct reg_endpoint *ep;

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
static void endpoint_learn(struct reg_endpoint *dst, const struct reg_endpoint *src)
{
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
    if (dst->login_user == NULL)
        dst->login_user = src->login_user;   /* both point into one auth file */
    auth_tokens_learn(&dst->tokens, src->tokens);
}

void al_registry_absorb(struct al_registry *into, const struct al_registry *from)
{
    const struct reg_endpoint *src;

    for (src = from->endpoints; src != NULL; src = src->next) {
        struct reg_endpoint *dst = get_endpoint(into, src->host);
        if (dst == NULL)
            return;
        endpoint_learn(dst, src);
    }
}

static int probe(struct al_registry *r, struct reg_endpoint *ep, struct al_err *e)
{
    struct al_http_resp resp;
    char url[600];
    struct al_http_req req = {.method = "GET", .url = url, .follow_redirects = 1};
    int rc;

    snprintf(url, sizeof(url), "https://%s/v2/", ep->host);
    rc = reg_http_do(r, &req, &resp, REG_ERROR_BODY_MAX, e);
    if (rc == 0) {
        if (resp.head.status == 401) {
            rc = al_challenge_parse(resp.head.www_authenticate, &ep->ch, e);
            if (rc != 0)
                al_err_prefix(e, "registry '%s'", ep->host);
            else   /* credentials refused: once here, not once per image */
                rc = auth_login(r, ep, NULL, e);
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

void reg_append_escaped(char *out, size_t n, const char *s)
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

int reg_call_endpoint(struct al_registry *r, const struct reg_call *c,
                      struct reg_endpoint **ep_out, char *path, size_t pn,
                      struct al_err *e)
{
    char host[512];
    struct reg_endpoint *ep;
    int rc;

    reg_resolve(r, c->registry, c->repo, host, sizeof(host), path, pn);
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
static int open_call_once(struct al_registry *r, const struct reg_call *c,
                          struct al_http_stream **out, struct al_err *e)
{
    char path[1024], url[2048], scope[2600], from_path[1024], host_ignored[512];
    const char *headers[5] = {NULL, NULL, NULL, NULL, NULL};
    char ctype[300], range[64];
    struct al_http_req req = {.method = c->method, .url = url, .headers = headers,
                              .body = c->body, .body_len = c->body_len,
                              .follow_redirects = 1, .long_body = c->long_body};
    struct reg_endpoint *ep = NULL;
    char *authz = NULL;
    int attempt, rc, send_auth = 1, sent_creds;

    *out = NULL;
    rc = reg_call_endpoint(r, c, &ep, path, sizeof(path), e);
    if (rc != 0)
        return rc;
    if (c->url && strncasecmp(c->url, "https://", 8) != 0) {
        char shown[600];
        al_http_url_for_message(c->url, shown, sizeof(shown));
        return al_err_set(e, AL_ETLS, "registry '%s' gave the plain-http location "
                          "'%s': refused, nothing leaves TLS", ep->host, shown);
    }
    if (c->url && strlen(c->url) >= sizeof(url))   /* a cut URL would go elsewhere */
        return al_err_set(e, AL_EHTTP, "registry '%s' gave an upload location of %zu "
                          "bytes, more than %zu: refused", ep->host, strlen(c->url),
                          sizeof(url) - 1);
    if (c->url) {
        char base[600];
        snprintf(base, sizeof(base), "https://%s/", ep->host);
        snprintf(url, sizeof(url), "%s", c->url);
        send_auth = al_http_same_origin(base, c->url);
    } else {
        snprintf(url, sizeof(url), "https://%s/v2/%s/%s", ep->host, path, c->tail);
    }
    snprintf(scope, sizeof(scope), "repository:%s:%s", path, c->actions);
    if (c->mount_from)
        reg_resolve(r, c->registry, c->mount_from, host_ignored, sizeof(host_ignored),
                    from_path, sizeof(from_path));
    /* a mount from the repository itself needs no second scope (nor a token
     * of its own) */
    if (c->mount_from && strcmp(from_path, path) != 0)
        snprintf(scope + strlen(scope), sizeof(scope) - strlen(scope),
                 " repository:%s:pull", from_path);
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
        sent_creds = authz != NULL && ep->ch.scheme == AL_AUTH_BASIC;
        if (c->upload_size >= 0)
            rc = al_http_upload_open(r->http, &req, c->upload_size, &s, e);
        else
            rc = al_http_stream_open(r->http, &req, &s, e);
        al_secret_free(authz);
        authz = NULL;
        if (rc != 0)
            return rc;
        /* a 401 to Basic credentials: refused as a login, or only for this
         * repository (after /v2/ accepted them)? */
        if (c->upload_size < 0 && sent_creds && al_http_stream_head(s)->status == 401)
            rc = auth_login(r, ep, path, e);
        if (rc != 0) {
            al_http_stream_close(s);
            return rc;
        }
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
int reg_open_call(struct al_registry *r, const struct reg_call *c,
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

int al_registry_probe(struct al_registry *r, const char *registry, struct al_err *e)
{
    struct reg_call c = {.registry = registry, .repo = ""};
    struct reg_endpoint *ep = NULL;
    char path[1024];

    return reg_call_endpoint(r, &c, &ep, path, sizeof(path), e);
}

static int open_request(const struct al_repo *at, const char *method,
                        const char *kind, const char *reference, const char *accept,
                        struct al_http_stream **out, struct al_err *e)
{
    char tail[300];
    struct reg_call c = {.registry = at->registry, .repo = at->repo, .method = method,
                         .tail = tail, .actions = reg_read_actions(at->reg),
                         .accept = accept, .upload_size = -1};

    snprintf(tail, sizeof(tail), "%s/%s", kind, reference);
    return reg_open_call(at->reg, &c, out, e);
}

int reg_status_error(const struct al_http_head *hd, const char *what,
                     const char *source, const struct al_registry *r,
                     struct al_err *e)
{
    long st = hd->status;
    const char *file = al_authfile_path(r->auth);
    int rc;

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

int al_registry_get_manifest(const struct al_repo *at, const char *reference,
                             struct al_buf *body, char **media_type,
                             char digest[AL_DIGEST_STR_MAX], struct al_err *e)
{
    struct al_http_stream *s = NULL;
    const struct al_http_head *hd;
    char what[1200], chunk[16384];
    char *source = al_registry_source(at);
    size_t got;
    int rc;

    *media_type = NULL;
    if (source == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    snprintf(what, sizeof(what), "manifest '%s/%s%s%s'", at->registry, at->repo,
             strncmp(reference, "sha256:", 7) == 0 ? "@" : ":", reference);
    rc = open_request(at, "GET", "manifests", reference, AL_MANIFEST_ACCEPT, &s, e);
    if (rc != 0)
        goto out;
    hd = al_http_stream_head(s);
    if (hd->status != 200) {
        rc = reg_status_error(hd, what, source, at->reg, e);
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

/* Opens blob `digest` for reading from byte `offset` on (a Range request
 * when offset > 0), so that the stream starts there: what a registry sends
 * from before `offset` (all of the blob when it ignores the range, or a
 * part that starts earlier) is read past here. A part that starts later,
 * or does not say where it starts, cannot be used. */
static int open_blob_at(const struct al_repo *at, const char *digest, long long offset,
                        struct al_http_stream **out, struct al_err *e)
{
    struct al_registry *r = at->reg;
    struct al_http_stream *s = NULL;
    char what[200], tail[100], skip[16384];
    struct reg_call c = {.registry = at->registry, .repo = at->repo, .method = "GET",
                         .tail = tail, .actions = reg_read_actions(r),
                         .range_from = offset, .long_body = 1, .upload_size = -1};
    const struct al_http_head *hd;
    long long first = 0, last = -1, left;
    char *source;
    int rc;

    *out = NULL;
    snprintf(tail, sizeof(tail), "blobs/%s", digest);
    rc = reg_open_call(r, &c, &s, e);
    if (rc != 0)
        return rc;
    hd = al_http_stream_head(s);
    if (hd->status == 206 && offset > 0 &&
        (al_http_parse_content_range(hd->content_range, &first, &last) != 0 ||
         first > offset)) {
        char got[100];
        if (hd->content_range != NULL)
            snprintf(got, sizeof(got), "the range '%.60s'", hd->content_range);
        else
            snprintf(got, sizeof(got), "no Content-Range");
        source = al_registry_source(at);
        rc = al_err_set(e, AL_EHTTP, "registry '%s' answered the resumed download of blob %s "
                        "from byte %lld with %s: refused; run again, and if it recurs, the "
                        "registry or a proxy before it mangles Range requests",
                        source ? source : at->registry, digest, offset, got);
        free(source);
        al_http_stream_close(s);
        return rc;
    }
    if (hd->status == 200 || (hd->status == 206 && offset > 0)) {
        left = offset - first;   /* a 200 is the whole blob: first is 0 */
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
    source = al_registry_source(at);
    rc = reg_status_error(hd, what, source ? source : at->registry, r, e);
    free(source);
    al_http_stream_close(s);
    return rc;
}

struct al_blob_reader {
    struct al_repo at;   /* names borrowed */
    char digest[AL_DIGEST_STR_MAX];
    long long size, total;
    int resumes;
    al_resume_fn on_resume;
    void *ud;
    struct al_http_stream *s;
};

int al_blob_reader_open(const struct al_repo *at, const char *digest, long long size,
                        al_resume_fn on_resume, void *ud,
                        struct al_blob_reader **out, struct al_err *e)
{
    struct al_blob_reader *br = calloc(1, sizeof(*br));
    int rc;

    *out = NULL;
    if (br == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    br->at = *at;
    snprintf(br->digest, sizeof(br->digest), "%s", digest);
    br->size = size;
    br->on_resume = on_resume;
    br->ud = ud;
    rc = open_blob_at(at, digest, 0, &br->s, e);
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
        if (rc != AL_ENET || br->resumes >= br->at.reg->retry.retries)
            return rc;
        if (br->on_resume)
            br->on_resume(br->ud, br->digest, br->total, e->msg);
        al_http_stream_close(br->s);
        br->s = NULL;
        al_retry_sleep(&br->at.reg->retry, br->resumes++, -1);
        al_err_init(e);
        rc = open_blob_at(&br->at, br->digest, br->total, &br->s, e);
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
