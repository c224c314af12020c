/* The push side of the registry client, on the request core of registry.c. */
#include "airlock/registry_push.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/manifest.h"
#include "registry_int.h"

void al_registry_set_push(struct al_registry *r, int push)
{
    r->push = push;
}

static void resp_init(struct al_http_resp *resp)
{
    memset(resp, 0, sizeof(*resp));
    resp->head.content_length = -1;
    resp->head.retry_after = -1;
    al_buf_init(&resp->body, REG_ERROR_BODY_MAX);
}

/* A request whose whole (small) answer is wanted. */
static int simple_call(struct al_registry *r, struct reg_call *c,
                       struct al_http_resp *resp, struct al_err *e)
{
    struct al_http_stream *s = NULL;
    int rc;

    resp_init(resp);
    rc = reg_open_call(r, c, &s, e);
    if (rc != 0)
        return rc;
    return al_http_stream_finish(s, resp, REG_ERROR_BODY_MAX, e);
}

/* An absolute URL for a Location header sent by the endpoint of `at`. */
static char *location_url(const struct al_repo *at, const char *location)
{
    char base[700], host[512], path[1024];

    reg_resolve(at->reg, at->registry, at->repo, host, sizeof(host), path,
                sizeof(path));
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

static int push_status_error(const struct al_repo *at, const struct al_http_resp *resp,
                             const char *what, struct al_err *e)
{
    char said[256];
    char *source = al_registry_source(at);
    int rc;

    registry_said(&resp->body, said, sizeof(said));
    rc = reg_status_error(&resp->head, what, source ? source : at->registry, at->reg,
                          e);
    if (said[0] && e != NULL && strlen(e->msg) + strlen(said) < sizeof(e->msg))
        memcpy(e->msg + strlen(e->msg), said, strlen(said) + 1);
    free(source);
    return rc;
}

int al_registry_blob_exists(const struct al_repo *at, const char *digest, int *exists,
                            struct al_err *e)
{
    char tail[100], what[100];
    struct reg_call c = {.registry = at->registry, .repo = at->repo, .method = "HEAD",
                         .tail = tail, .actions = reg_read_actions(at->reg),
                         .upload_size = -1};
    struct al_http_resp resp;
    int rc;

    *exists = 0;
    snprintf(tail, sizeof(tail), "blobs/%s", digest);
    rc = simple_call(at->reg, &c, &resp, e);
    if (rc == 0 && resp.head.status == 200)
        *exists = 1;
    else if (rc == 0 && resp.head.status != 404) {
        snprintf(what, sizeof(what), "blob %s", digest);
        rc = push_status_error(at, &resp, what, e);
    }
    al_http_resp_release(&resp);
    return rc;
}

int al_registry_blob_mount(const struct al_repo *at, const char *digest,
                           const char *from_repo, int *mounted, struct al_err *e)
{
    char tail[1400], what[100], from_path[1024], host[512];
    struct reg_call c = {.registry = at->registry, .repo = at->repo, .method = "POST",
                         .tail = tail, .actions = "pull,push", .mount_from = from_repo,
                         .upload_size = -1};
    struct al_http_resp resp;
    int rc;

    *mounted = 0;
    reg_resolve(at->reg, at->registry, from_repo, host, sizeof(host), from_path,
                sizeof(from_path));
    snprintf(tail, sizeof(tail), "blobs/uploads/?mount=");
    reg_append_escaped(tail, sizeof(tail), digest);
    strncat(tail, "&from=", sizeof(tail) - strlen(tail) - 1);
    reg_append_escaped(tail, sizeof(tail), from_path);
    rc = simple_call(at->reg, &c, &resp, e);
    if (rc == 0 && resp.head.status == 201) {
        *mounted = 1;
    } else if (rc == 0 && resp.head.status == 202) {
        /* the registry opened an upload instead: cancel it, best effort */
        char *loc = resp.head.location ? location_url(at, resp.head.location) : NULL;
        if (loc != NULL) {
            struct reg_call d = {.registry = at->registry, .repo = at->repo,
                                 .method = "DELETE", .url = loc, .actions = "pull,push",
                                 .upload_size = -1};
            struct al_http_resp dresp;
            simple_call(at->reg, &d, &dresp, NULL);
            al_http_resp_release(&dresp);
            free(loc);
        }
    } else if (rc == 0) {
        snprintf(what, sizeof(what), "mount of blob %s", digest);
        rc = push_status_error(at, &resp, what, e);
    }
    al_http_resp_release(&resp);
    return rc;
}

struct al_blob_upload {
    struct al_repo at;            /* its names are `registry` and `repo` */
    char *registry, *repo;        /* owned copies */
    char *session;                /* the upload's URL */
    char digest[AL_DIGEST_STR_MAX];
    long long size;
    struct al_http_stream *s;     /* the PUT carrying the bytes, once begun */
};

static int upload_new(struct al_blob_upload **out, const struct al_repo *at,
                      const char *digest, long long size, struct al_err *e)
{
    struct al_blob_upload *up = calloc(1, sizeof(*up));

    *out = NULL;
    if (up == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    up->registry = strdup(at->registry);
    up->repo = strdup(at->repo);
    if (up->registry == NULL || up->repo == NULL) {
        free(up->registry);
        free(up->repo);
        free(up);
        return al_err_set(e, AL_ENOMEM, "out of memory");
    }
    up->at = (struct al_repo){at->reg, up->registry, up->repo};
    snprintf(up->digest, sizeof(up->digest), "%s", digest);
    up->size = size;
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
    char *url = resp->head.location ? location_url(&up->at, resp->head.location) : NULL;

    if (url == NULL)
        return al_err_set(e, AL_EHTTP, "the registry gave no usable upload location "
                          "(%s in '%s')", doing, up->repo);
    free(up->session);
    up->session = url;
    return 0;
}

/* POST to blobs/uploads/ (with `mount_self`: ?mount=DIGEST&from=the
 * repository itself): 202 opens the session; 201 (a mount) says the
 * repository has the blob. */
static int upload_post(struct al_blob_upload *up, int mount_self, int *present,
                       struct al_err *e)
{
    char tail[1400], host[512], path[1024];
    struct reg_call c = {.registry = up->registry, .repo = up->repo, .method = "POST",
                         .tail = tail, .actions = "pull,push", .upload_size = -1};
    struct al_http_resp resp;
    int rc;

    *present = 0;
    snprintf(tail, sizeof(tail), "blobs/uploads/");
    if (mount_self) {
        reg_resolve(up->at.reg, up->registry, up->repo, host, sizeof(host), path,
                    sizeof(path));
        strncat(tail, "?mount=", sizeof(tail) - strlen(tail) - 1);
        reg_append_escaped(tail, sizeof(tail), up->digest);
        strncat(tail, "&from=", sizeof(tail) - strlen(tail) - 1);
        reg_append_escaped(tail, sizeof(tail), path);
        c.mount_from = up->repo;
    }
    rc = simple_call(up->at.reg, &c, &resp, e);
    if (rc == 0 && mount_self && resp.head.status == 201)
        *present = 1;
    else if (rc == 0 && resp.head.status != 202)
        rc = push_status_error(&up->at, &resp, "a blob upload", e);
    else if (rc == 0)
        rc = take_location(up, &resp, "starting an upload", e);
    al_http_resp_release(&resp);
    return rc;
}

static int upload_start(const struct al_repo *at, const char *digest, long long size,
                        int mount_self, struct al_blob_upload **out, int *present,
                        struct al_err *e)
{
    struct al_blob_upload *up;
    int here = 0, rc;

    *out = NULL;
    if (present != NULL)
        *present = 0;
    rc = upload_new(&up, at, digest, size, e);
    if (rc != 0)
        return rc;
    rc = upload_post(up, mount_self, &here, e);
    if (rc != 0 || here) {
        upload_free(up);   /* a mount opened no session */
        if (present != NULL)
            *present = here;
        return rc;
    }
    *out = up;
    return 0;
}

int al_registry_upload_open(const struct al_repo *at, const char *digest, long long size,
                            struct al_blob_upload **out, struct al_err *e)
{
    return upload_start(at, digest, size, 0, out, NULL, e);
}

int al_registry_upload_open_unless_present(const struct al_repo *at, const char *digest,
                                           long long size, struct al_blob_upload **out,
                                           int *present, struct al_err *e)
{
    return upload_start(at, digest, size, 1, out, present, e);
}

/* The one request that carries the body and commits it: PUT
 * <session>?digest=D with Content-Length (a monolithic upload, which every
 * registry takes: one request fewer a blob than PATCH and then PUT). */
static int upload_begin_put(struct al_blob_upload *up, struct al_err *e)
{
    size_t n = strlen(up->session) + strlen(up->digest) + 16;
    char *url = malloc(n);
    struct reg_call c = {.registry = up->registry, .repo = up->repo, .method = "PUT",
                         .url = url, .actions = "pull,push",
                         .content_type = "application/octet-stream",
                         .upload_size = up->size};
    int rc;

    if (url == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    snprintf(url, n, "%s%cdigest=", up->session, strchr(up->session, '?') ? '&' : '?');
    reg_append_escaped(url, n, up->digest);
    rc = reg_open_call(up->at.reg, &c, &up->s, e);
    free(url);
    return rc;
}

int al_registry_upload_write(struct al_blob_upload *up, const void *p, size_t n,
                             struct al_err *e)
{
    int rc = up->s == NULL ? upload_begin_put(up, e) : 0;

    return rc == 0 ? al_http_upload_write(up->s, p, n, e) : rc;
}

/* The upload's PUT begun (by its first write, or here), its body let go
 * (what was written, or pulled from `fill` when given), its answer read:
 * 201, and `up` is freed in every case. */
static int upload_complete(struct al_blob_upload *up,
                           size_t (*fill)(void *ud, char *dst, size_t n), void *ud,
                           struct al_err *e)
{
    struct al_http_resp resp;
    char what[100];
    int rc = up->s == NULL ? upload_begin_put(up, e) : 0;

    snprintf(what, sizeof(what), "upload of blob %s", up->digest);
    resp_init(&resp);
    if (rc == 0)
        rc = fill ? al_http_upload_pull(up->s, fill, ud, e) : al_http_upload_finish(up->s, e);
    if (rc == 0) {
        rc = al_http_stream_finish(up->s, &resp, REG_ERROR_BODY_MAX, e);
        up->s = NULL;
    }
    if (rc == 0 && resp.head.status != 201)
        rc = push_status_error(&up->at, &resp, what, e);
    al_http_resp_release(&resp);
    if (rc != 0) {
        al_registry_upload_abort(up);
        return rc;
    }
    upload_free(up);
    return 0;
}

int al_registry_upload_commit(struct al_blob_upload *up, struct al_err *e)
{
    return upload_complete(up, NULL, NULL, e);
}

int al_registry_upload_pull(struct al_blob_upload *up,
                            size_t (*fill)(void *ud, char *dst, size_t n), void *ud,
                            struct al_err *e)
{
    return upload_complete(up, fill, ud, e);
}

void al_registry_upload_abort(struct al_blob_upload *up)
{
    struct al_http_resp resp;

    if (up == NULL)
        return;
    al_http_stream_close(up->s);   /* the body stops short of its last byte */
    up->s = NULL;
    if (up->session != NULL) {
        struct reg_call c = {.registry = up->registry, .repo = up->repo,
                             .method = "DELETE", .url = up->session,
                             .actions = "pull,push", .upload_size = -1};
        simple_call(up->at.reg, &c, &resp, NULL);
        al_http_resp_release(&resp);
    }
    upload_free(up);
}

int al_registry_manifest_head(const struct al_repo *at, const char *reference,
                              char digest[AL_DIGEST_STR_MAX], int *exists,
                              struct al_err *e)
{
    char tail[300], what[400];
    struct reg_call c = {.registry = at->registry, .repo = at->repo, .method = "HEAD",
                         .tail = tail, .actions = reg_read_actions(at->reg),
                         .accept = AL_MANIFEST_ACCEPT, .upload_size = -1};
    struct al_http_resp resp;
    int rc;

    *exists = 0;
    digest[0] = '\0';
    snprintf(tail, sizeof(tail), "manifests/%s", reference);
    rc = simple_call(at->reg, &c, &resp, e);
    if (rc == 0 && resp.head.status == 200) {
        *exists = 1;
        if (resp.head.docker_digest && al_digest_valid(resp.head.docker_digest))
            snprintf(digest, AL_DIGEST_STR_MAX, "%s", resp.head.docker_digest);
    } else if (rc == 0 && resp.head.status != 404) {
        snprintf(what, sizeof(what), "manifest '%s'", reference);
        rc = push_status_error(at, &resp, what, e);
    }
    al_http_resp_release(&resp);
    return rc;
}

int al_registry_put_manifest(const struct al_repo *at, const char *reference,
                             const char *media_type, const void *data, size_t len,
                             struct al_err *e)
{
    char tail[300], what[400], digest[AL_DIGEST_STR_MAX];
    struct reg_call c = {.registry = at->registry, .repo = at->repo, .method = "PUT",
                         .tail = tail, .actions = "pull,push", .content_type = media_type,
                         .body = data, .body_len = len, .upload_size = -1};
    struct al_http_resp resp;
    int rc;

    snprintf(tail, sizeof(tail), "manifests/%s", reference);
    snprintf(what, sizeof(what), "manifest '%s'", reference);
    rc = simple_call(at->reg, &c, &resp, e);
    if (rc == 0 && resp.head.status != 201)
        rc = push_status_error(at, &resp, what, e);
    al_sha256_digest(data, len, digest);
    if (rc == 0 && resp.head.docker_digest &&
        strcmp(resp.head.docker_digest, digest) != 0)
        rc = al_err_set(e, AL_EDIGEST, "the registry stored %s as %.80s, not %s",
                        what, resp.head.docker_digest, digest);
    al_http_resp_release(&resp);
    return rc;
}
