#include "airlock/kube.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/auth.h"
#include "airlock/http.h"
#include "airlock/retry.h"

struct al_kube {
    struct al_http *http;
    char *server;           /* without a trailing slash */
    char *authz;            /* "Authorization: ..." (secret) or NULL */
    struct al_retry retry;  /* 429 (priority and fairness), 5xx, resets */
};

int al_kube_new(struct al_kube **out, const struct al_kube_creds *c, long timeout_s,
                struct al_err *e)
{
    /* the kubeconfig's CA alone is trusted for the apiserver, as kubectl
     * does; certs.d is for registries */
    struct al_http_opts ho = {.insecure = c->insecure, .ca_pem = c->ca_pem,
                              .ca_pem_only = 1, .certs_d = "",
                              .tls_hint = "the apiserver's certificate is not signed "
                                          "by the kubeconfig's certificate-authority, or "
                                          "by the system trust when it names none: check "
                                          "the server, or log in again (oc login)",
                              .client_cert_pem = c->cert_pem,
                              .client_key_pem = c->key_pem,
                              .stall_timeout_s = timeout_s,
                              .user_agent = "airlock-import/" AIRLOCK_VERSION};
    struct al_kube *k = calloc(1, sizeof(*k));
    int rc;

    *out = NULL;
    if (k == NULL || (k->server = strdup(c->server)) == NULL) {
        free(k);
        return al_err_set(e, AL_ENOMEM, "out of memory");
    }
    al_retry_init(&k->retry);
    while (strlen(k->server) > 8 && k->server[strlen(k->server) - 1] == '/')
        k->server[strlen(k->server) - 1] = '\0';
    if (c->token != NULL && c->token[0] != '\0') {
        size_t n = strlen(c->token) + 32;
        if ((k->authz = malloc(n)) != NULL)
            snprintf(k->authz, n, "Authorization: Bearer %s", c->token);
    } else if (c->username != NULL && c->password != NULL) {
        k->authz = al_basic_header(c->username, c->password);
    }
    if ((c->token || (c->username && c->password)) && k->authz == NULL) {
        al_kube_free(k);
        return al_err_set(e, AL_ENOMEM, "out of memory");
    }
    rc = al_http_new(&k->http, &ho, e);
    if (rc != 0) {
        al_err_prefix(e, "the cluster's CA or client certificate");
        al_kube_free(k);
        return rc;
    }
    *out = k;
    return 0;
}

void al_kube_free(struct al_kube *k)
{
    if (k == NULL)
        return;
    al_http_free(k->http);
    al_secret_free(k->authz);
    free(k->server);
    free(k);
}

void al_kube_set_retries(struct al_kube *k, int retries)
{
    k->retry.retries = retries < 0 ? 0 : retries;
}

static int is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int is_dns1123_subdomain(const char *s)
{
    size_t i, n = strlen(s);

    if (n == 0 || n > 253)
        return 0;
    for (i = 0; i < n; i++) {
        int edge = i == 0 || i == n - 1 || s[i - 1] == '.' || s[i + 1] == '.';
        if (!is_lower_alnum(s[i]) && (edge || (s[i] != '-' && s[i] != '.')))
            return 0;
    }
    return 1;
}

/* At most 60 characters of an untrusted value, control characters as '?'. */
static void shorten(const char *s, char *out, size_t n)
{
    size_t i, len = strlen(s), keep = len > 60 ? 57 : len;

    for (i = 0; i < keep && i + 1 < n; i++)
        out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    out[i] = '\0';
    if (keep < len && i + 4 <= n)
        memcpy(out + i, "...", 4);
}

int al_kube_name_check(const char *value, const char *field, const char *object,
                       struct al_err *e)
{
    char shown[64];

    if (is_dns1123_subdomain(value))
        return 0;
    shorten(value, shown, sizeof(shown));
    return al_err_set(e, AL_EINVAL, "%s of %s is '%s', which is not a Kubernetes "
                      "object name (lowercase letters, digits, '-' and '.'): correct it "
                      "(oc edit %s) and run again", field, object, shown, object);
}

/* A path built from names that passed al_kube_name_check() never fails
 * this; it is the last guard against a name that was not checked. */
static int path_is_plain(const char *path)
{
    const char *p;

    for (p = path; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f || strchr("%?#\\", *p) != NULL)
            return 0;
    for (p = strchr(path, '/'); p != NULL; p = strchr(p + 1, '/'))
        if (strncmp(p, "/.", 2) == 0 && (p[2] == '/' || p[2] == '\0' ||
                                         (p[2] == '.' && (p[3] == '/' || p[3] == '\0'))))
            return 0;
    return 1;
}

static const char *verb_of(const char *method)
{
    return strcmp(method, "GET") == 0 ? "get" : strcmp(method, "POST") == 0 ? "create" : "patch";
}

/* The message of a Kubernetes Status object, if the body is one. */
static void status_message(const struct al_buf *body, char *out, size_t n)
{
    json_t *doc = body->data ? json_loadb(body->data, body->len, 0, NULL) : NULL;
    const char *msg = json_string_value(json_object_get(doc, "message"));

    snprintf(out, n, "%s%.300s", msg ? ": " : "", msg ? msg : "");
    json_decref(doc);
}

static int status_error(struct al_kube *k, const char *method, const char *what,
                        const struct al_http_resp *resp, struct al_err *e)
{
    long st = resp->head.status;
    char said[320];
    int rc;

    status_message(&resp->body, said, sizeof(said));
    if (st == 404)
        rc = al_err_set(e, AL_ENOTFOUND, "%s not found on %s", what, k->server);
    else if (st == 409)
        rc = al_err_set(e, AL_ECONFLICT, "%s changed while airlock updated it%s", what, said);
    else if (st == 401)
        rc = al_err_set(e, AL_EDENIED, "%s refused the credentials (HTTP 401) to %s %s: "
                        "log in again (oc login) or give another --kubeconfig",
                        k->server, verb_of(method), what);
    else if (st == 403)
        rc = al_err_set(e, AL_EDENIED, "not allowed to %s %s (HTTP 403)%s: this needs "
                        "cluster-admin", verb_of(method), what, said);
    else
        rc = al_err_set(e, AL_EHTTP, "cannot %s %s: HTTP %ld%s", verb_of(method), what,
                        st, said);
    if (e)
        e->http_status = st;
    return rc;
}

static int call(struct al_kube *k, const char *method, const char *path,
                const char *what, const char *content_type, json_t *body,
                json_t **out, struct al_err *e)
{
    char url[2048], ctype[100];
    const char *headers[4] = {"Accept: application/json", NULL, NULL, NULL};
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    struct al_http_req req = {.method = method, .url = url, .headers = headers,
                              .body = text, .body_len = text ? strlen(text) : 0};
    struct al_http_resp resp;
    json_error_t jerr;
    size_t nh = 1;
    int rc, attempt;

    *out = NULL;
    if (!path_is_plain(path)) {
        free(text);
        return al_err_set(e, AL_EINVAL, "refusing to send a request for %s: its API "
                          "path has a '.' or '..' segment or a character that is not "
                          "plain", what);
    }
    if (body != NULL && text == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    snprintf(url, sizeof(url), "%s%s", k->server, path);
    if (content_type) {
        snprintf(ctype, sizeof(ctype), "Content-Type: %s", content_type);
        headers[nh++] = ctype;
    }
    headers[nh] = k->authz;
    /* Every call may be repeated: GET and merge patches are idempotent, and
     * a create that did land answers 409 AlreadyExists, which callers
     * handle. */
    for (attempt = 0;; attempt++) {
        rc = al_http_do(k->http, &req, &resp, AL_KUBE_BODY_MAX, e);
        if (!al_retry_again(&k->retry, attempt, rc, resp.head.status))
            break;
        al_retry_sleep(&k->retry, attempt, rc == 0 ? resp.head.retry_after : -1);
        al_http_resp_release(&resp);
        al_err_init(e);
    }
    free(text);
    if (rc == 0 && (resp.head.status < 200 || resp.head.status > 299))
        rc = status_error(k, method, what, &resp, e);
    if (rc == 0 && resp.body.len > 0) {
        *out = json_loadb(resp.body.data, resp.body.len, 0, &jerr);
        if (*out == NULL)
            rc = al_err_set(e, AL_EHTTP, "%s answered with invalid JSON for %s (%s)",
                            k->server, what, jerr.text);
    }
    al_http_resp_release(&resp);
    return rc;
}

int al_kube_get(struct al_kube *k, const char *path, const char *what, json_t **out,
                struct al_err *e)
{
    return call(k, "GET", path, what, NULL, NULL, out, e);
}

int al_kube_create(struct al_kube *k, const char *path, const char *what, json_t *body,
                   json_t **out, struct al_err *e)
{
    return call(k, "POST", path, what, "application/json", body, out, e);
}

int al_kube_merge_patch(struct al_kube *k, const char *path, const char *what,
                        json_t *patch, json_t **out, struct al_err *e)
{
    return call(k, "PATCH", path, what, "application/merge-patch+json", patch, out, e);
}
