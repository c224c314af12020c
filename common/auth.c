#include "airlock/auth.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "airlock/buf.h"
#include "registry_int.h"

#define AUTHFILE_MAX (4 * 1024 * 1024)

struct cred {
    char *key;   /* normalised: no scheme, no trailing "/" or "/v1/" */
    char *user;
    char *pass;
};

struct al_authfile {
    char *path;
    struct cred *creds;
    size_t n;
};

void al_secret_free(char *s)
{
    if (s == NULL)
        return;
    OPENSSL_cleanse(s, strlen(s));
    free(s);
}

void al_authfile_free(struct al_authfile *af)
{
    size_t i;

    if (af == NULL)
        return;
    for (i = 0; i < af->n; i++) {
        free(af->creds[i].key);
        al_secret_free(af->creds[i].user);
        al_secret_free(af->creds[i].pass);
    }
    free(af->creds);
    free(af->path);
    free(af);
}

const char *al_authfile_path(const struct al_authfile *af)
{
    return af && af->path ? af->path : "";
}

/* "https://index.docker.io/v1/" -> "docker.io"; "quay.io/org/" -> "quay.io/org" */
static char *normalise_key(const char *key)
{
    const char *p = strstr(key, "://");
    char *k;
    size_t n;

    p = p ? p + 3 : key;
    k = strdup(p);
    if (k == NULL)
        return NULL;
    n = strlen(k);
    if (n >= 4 && strcmp(k + n - 4, "/v1/") == 0)
        k[n -= 4] = '\0';
    else if (n >= 3 && strcmp(k + n - 3, "/v1") == 0)
        k[n -= 3] = '\0';
    else if (n >= 4 && strcmp(k + n - 4, "/v2/") == 0)
        k[n -= 4] = '\0';
    while (n > 0 && k[n - 1] == '/')
        k[--n] = '\0';
    if (strcmp(k, "index.docker.io") == 0 ||
        strcmp(k, "registry-1.docker.io") == 0) {
        free(k);
        return strdup("docker.io");
    }
    return k;
}

static int decode_auth(const char *b64, char **user, char **pass)
{
    size_t len;
    char *out = strlen(b64) > 65536 ? NULL : al_base64_decode(b64, strlen(b64), &len);
    char *colon;

    if (out == NULL)
        return -1;
    colon = strchr(out, ':');
    if (colon == NULL || memchr(out, 0, len) != NULL) {
        OPENSSL_cleanse(out, len);
        free(out);
        return -1;
    }
    *colon = '\0';
    *user = strdup(out);
    *pass = strdup(colon + 1);
    OPENSSL_cleanse(out, len);
    free(out);
    return (*user && *pass) ? 0 : -1;
}

static int add_cred(struct al_authfile *af, const char *key, json_t *entry,
                    const char *name, struct al_err *e)
{
    struct cred c = {0};
    json_t *auth = json_object_get(entry, "auth");
    json_t *user = json_object_get(entry, "username");
    json_t *pass = json_object_get(entry, "password");
    struct cred *grown;

    if (json_is_string(auth) && json_string_length(auth) > 0) {
        if (decode_auth(json_string_value(auth), &c.user, &c.pass) != 0) {
            al_secret_free(c.user);
            al_secret_free(c.pass);
            return al_err_set(e, AL_EINVAL,
                              "invalid \"auth\" for '%s' in '%s' (expected "
                              "base64 of user:password)", key, name);
        }
    } else if (json_is_string(user) && json_is_string(pass)) {
        c.user = strdup(json_string_value(user));
        c.pass = strdup(json_string_value(pass));
    } else {
        return 0; /* e.g. an entry served by a credential helper */
    }
    c.key = normalise_key(key);
    grown = realloc(af->creds, (af->n + 1) * sizeof(*grown));
    if (c.key == NULL || c.user == NULL || c.pass == NULL || grown == NULL) {
        free(c.key);
        al_secret_free(c.user);
        al_secret_free(c.pass);
        if (grown)
            af->creds = grown;
        return al_err_set(e, AL_ENOMEM, "out of memory");
    }
    af->creds = grown;
    af->creds[af->n++] = c;
    return 0;
}

int al_authfile_parse(struct al_authfile **out, const char *text, size_t len,
                      const char *name, struct al_err *e)
{
    struct al_authfile *af;
    json_error_t je;
    json_t *root, *auths, *entry;
    const char *key;
    int rc = 0;

    *out = NULL;
    af = calloc(1, sizeof(*af));
    if (af == NULL || (af->path = strdup(name)) == NULL) {
        free(af);
        return al_err_set(e, AL_ENOMEM, "out of memory");
    }
    root = json_loadb(text, len, 0, &je);
    if (root == NULL) {
        al_authfile_free(af);
        return al_err_set(e, AL_EINVAL, "cannot parse auth file '%s': %s (line %d)",
                          name, je.text, je.line);
    }
    auths = json_object_get(root, "auths");
    if (!json_is_object(root) || (auths != NULL && !json_is_object(auths))) {
        rc = al_err_set(e, AL_EINVAL,
                        "auth file '%s' has no \"auths\" object", name);
        goto out;
    }
    json_object_foreach(auths, key, entry) {
        if (!json_is_object(entry))
            continue;
        rc = add_cred(af, key, entry, name, e);
        if (rc != 0)
            break;
    }
out:
    json_decref(root);
    if (rc != 0) {
        al_authfile_free(af);
        return rc;
    }
    *out = af;
    return 0;
}

static int file_exists(const char *p)
{
    return access(p, F_OK) == 0;
}

int al_authfile_load(struct al_authfile **out, const char *path,
                     struct al_err *e)
{
    char found[4096] = "";
    struct al_buf b;
    const char *env;
    int rc;

    *out = NULL;
    if (path != NULL) {
        snprintf(found, sizeof(found), "%s", path);
    } else {
        env = getenv("REGISTRY_AUTH_FILE");
        if (env && *env && file_exists(env))
            snprintf(found, sizeof(found), "%s", env);
        env = getenv("XDG_RUNTIME_DIR");
        if (!found[0] && env && *env) {
            snprintf(found, sizeof(found), "%s/containers/auth.json", env);
            if (!file_exists(found))
                found[0] = '\0';
        }
        env = getenv("HOME");
        if (!found[0] && env && *env) {
            snprintf(found, sizeof(found), "%s/.docker/config.json", env);
            if (!file_exists(found))
                found[0] = '\0';
        }
        if (!found[0])
            return al_authfile_parse(out, "{}", 2, "", e);
    }
    al_buf_init(&b, AUTHFILE_MAX);
    rc = al_buf_read_file(&b, found, e);
    if (rc == 0)
        rc = al_authfile_parse(out, b.data, b.len, found, e);
    if (b.data)
        OPENSSL_cleanse(b.data, b.len);
    al_buf_release(&b);
    return rc;
}

int al_authfile_find(const struct al_authfile *af, const char *host,
                     const char *repo, const char **user, const char **pass)
{
    size_t i, best_len = 0, hl = strlen(host);
    const struct cred *best = NULL;

    for (i = 0; af != NULL && i < af->n; i++) {
        const struct cred *c = &af->creds[i];
        size_t kl = strlen(c->key);
        if (strncmp(c->key, host, hl) != 0)
            continue;
        if (kl == hl) {
            /* exact host match */
        } else if (c->key[hl] == '/' && repo != NULL) {
            const char *kr = c->key + hl + 1;
            size_t krl = strlen(kr);
            if (strncmp(repo, kr, krl) != 0 ||
                (repo[krl] != '\0' && repo[krl] != '/'))
                continue;
        } else {
            continue;
        }
        if (best == NULL || kl > best_len) {
            best = c;
            best_len = kl;
        }
    }
    if (best == NULL)
        return 0;
    *user = best->user;
    *pass = best->pass;
    return 1;
}

static int is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

void al_challenge_release(struct al_challenge *c)
{
    free(c->realm);
    free(c->service);
    free(c->scope);
    memset(c, 0, sizeof(*c));
}

/* Reads a token or quoted-string value into a new string; advances *pp. */
static char *read_param_value(const char **pp)
{
    const char *p = *pp;
    struct al_buf b;
    char *v;

    al_buf_init(&b, 8192);
    if (*p == '"') {
        p++;
        while (*p && *p != '"') {
            if (*p == '\\' && p[1])
                p++;
            if (al_buf_append(&b, p, 1, NULL, NULL) != 0)
                goto fail;
            p++;
        }
        if (*p != '"')
            goto fail;
        p++;
    } else {
        const char *start = p;
        while (is_tchar(*p) || *p == '/' || *p == ':' || *p == '=')
            p++;
        if (al_buf_append(&b, start, (size_t)(p - start), NULL, NULL) != 0)
            goto fail;
    }
    if (b.data == NULL && al_buf_append(&b, "", 0, NULL, NULL) != 0)
        goto fail;
    *pp = p;
    v = al_buf_detach(&b, NULL);
    return v;
fail:
    al_buf_release(&b);
    return NULL;
}

int al_challenge_parse(const char *header, struct al_challenge *c,
                       struct al_err *e)
{
    const char *p = skip_ws(header ? header : "");
    const char *start = p;
    size_t n;

    memset(c, 0, sizeof(*c));
    while (is_tchar(*p))
        p++;
    n = (size_t)(p - start);
    if (n == 5 && strncasecmp(start, "basic", 5) == 0)
        c->scheme = AL_AUTH_BASIC;
    else if (n == 6 && strncasecmp(start, "bearer", 6) == 0)
        c->scheme = AL_AUTH_BEARER;
    else
        return al_err_set(e, AL_EUNSUPPORTED,
                          "unsupported authentication scheme '%.*s'",
                          (int)(n > 32 ? 32 : n), start);
    for (;;) {
        const char *name;
        size_t name_len;
        char *value, **slot = NULL;

        p = skip_ws(p);
        while (*p == ',')
            p = skip_ws(p + 1);
        if (*p == '\0')
            return 0;
        name = p;
        while (is_tchar(*p))
            p++;
        name_len = (size_t)(p - name);
        p = skip_ws(p);
        if (name_len == 0 || *p != '=') {
            if (name_len > 0 && c->realm != NULL)
                return 0; /* the next challenge begins */
            al_challenge_release(c);
            return al_err_set(e, AL_EINVAL, "malformed WWW-Authenticate header");
        }
        p = skip_ws(p + 1);
        value = read_param_value(&p);
        if (value == NULL) {
            al_challenge_release(c);
            return al_err_set(e, AL_EINVAL, "malformed WWW-Authenticate header");
        }
        if (name_len == 5 && strncasecmp(name, "realm", 5) == 0)
            slot = &c->realm;
        else if (name_len == 7 && strncasecmp(name, "service", 7) == 0)
            slot = &c->service;
        else if (name_len == 5 && strncasecmp(name, "scope", 5) == 0)
            slot = &c->scope;
        if (slot != NULL && *slot == NULL)
            *slot = value;
        else
            free(value);
        p = skip_ws(p);
        if (*p != ',' && *p != '\0') {
            al_challenge_release(c);
            return al_err_set(e, AL_EINVAL, "malformed WWW-Authenticate header");
        }
    }
}

int al_token_parse(const char *body, size_t len, char **token, struct al_err *e)
{
    json_error_t je;
    json_t *root = json_loadb(body, len, 0, &je);
    json_t *t;

    *token = NULL;
    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        return al_err_set(e, AL_EINVAL, "token endpoint answered with no JSON object");
    }
    t = json_object_get(root, "token");
    if (!json_is_string(t) || json_string_length(t) == 0)
        t = json_object_get(root, "access_token");
    if (json_is_string(t) && json_string_length(t) > 0 &&
        strpbrk(json_string_value(t), "\r\n") == NULL)
        *token = strdup(json_string_value(t));
    json_decref(root);
    if (*token == NULL)
        return al_err_set(e, AL_EINVAL, "token endpoint answered without a token");
    return 0;
}

char *al_basic_header(const char *user, const char *pass)
{
    size_t ul = strlen(user), pl = strlen(pass), raw_len = ul + 1 + pl;
    unsigned char *raw = malloc(raw_len + 1);
    size_t out_len = 4 * ((raw_len + 2) / 3) + 1;
    char *hdr = malloc(out_len + 32);

    if (raw == NULL || hdr == NULL) {
        free(raw);
        free(hdr);
        return NULL;
    }
    memcpy(raw, user, ul);
    raw[ul] = ':';
    memcpy(raw + ul + 1, pass, pl);
    memcpy(hdr, "Authorization: Basic ", 21);
    EVP_EncodeBlock((unsigned char *)hdr + 21, raw, (int)raw_len);
    OPENSSL_cleanse(raw, raw_len);
    free(raw);
    return hdr;
}

/* ---- Bearer tokens: the flow and its cache ---- */

#define TOKEN_BODY_MAX (1024 * 1024)

void auth_tokens_free(struct reg_token *list)
{
    struct reg_token *next;

    for (; list != NULL; list = next) {
        next = list->next;
        free(list->scope);
        al_secret_free(list->header);
        free(list);
    }
}

const struct reg_token *auth_token_find(const struct reg_token *list,
                                        const char *scope)
{
    for (; list != NULL; list = list->next)
        if (strcmp(list->scope, scope) == 0)
            return list;
    return NULL;
}

int auth_token_add(struct reg_token **list, const char *scope, const char *token,
                   const struct reg_token **added, struct al_err *e)
{
    struct reg_token *t = calloc(1, sizeof(*t));
    size_t n = strlen(token) + 32;

    if (t == NULL || (t->scope = strdup(scope)) == NULL ||
        (t->header = malloc(n)) == NULL) {
        if (t)
            free(t->scope);
        free(t);
        return al_err_set(e, AL_ENOMEM, "out of memory");
    }
    snprintf(t->header, n, "Authorization: Bearer %s", token);
    t->next = *list;
    *list = t;
    if (added != NULL)
        *added = t;
    return 0;
}

void auth_tokens_learn(struct reg_token **dst, const struct reg_token *src)
{
    for (; src != NULL; src = src->next) {
        struct reg_token *c;
        if (auth_token_find(*dst, src->scope) != NULL ||
            (c = calloc(1, sizeof(*c))) == NULL)
            continue;
        c->scope = strdup(src->scope);
        c->header = strdup(src->header);
        if (c->scope == NULL || c->header == NULL) {
            auth_tokens_free(c);
            return;
        }
        c->next = *dst;
        *dst = c;
    }
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
            reg_append_escaped(url, n, one);
        }
        p += len;
        while (*p == ' ')
            p++;
    }
}

/* The token service's URL for `scope` in `url`; 0 or an error when the
 * service is not HTTPS. Registries are only ever spoken to over https, so
 * their tokens are too, anonymous ones included: a token got in the clear
 * could be swapped for one that lets a man in the middle serve content. */
static int token_url(const struct reg_endpoint *ep, const char *scope,
                     const char *realm_msg, char *url, size_t n,
                     struct al_err *e)
{
    if (strncasecmp(ep->ch.realm, "https://", 8) != 0)
        return al_err_set(e, AL_ETLS,
                          "registry '%s' names the plain-http token service "
                          "'%s': refused, tokens and credentials go over https "
                          "only; ask the registry's operator to fix its realm",
                          ep->host, realm_msg);
    snprintf(url, n, "%s%s", ep->ch.realm, strchr(ep->ch.realm, '?') ? "&" : "?");
    if (ep->ch.service) {
        strncat(url, "service=", n - strlen(url) - 1);
        reg_append_escaped(url, n, ep->ch.service);
        strncat(url, "&", n - strlen(url) - 1);
    }
    append_scopes(url, n, scope);
    return 0;
}

/* The one message for credentials a registry refused, whichever request
 * found it out: `how` says what answered. */
static int creds_refused(const struct al_registry *r, const struct reg_endpoint *ep,
                         const char *how, struct al_err *e)
{
    const char *file = al_authfile_path(r->auth);

    return al_err_set(e, AL_EAUTH, "registry '%s' refused the credentials in '%s' "
                      "(%s): correct them, or log in again (podman login "
                      "--authfile '%s' %s)", ep->host, file, how, file, ep->host);
}

static int realm_for_message(const struct reg_endpoint *ep, char *out, size_t n,
                             struct al_err *e)
{
    if (ep->ch.realm == NULL || ep->ch.realm[0] == '\0')
        return al_err_set(e, AL_EINVAL,
                          "registry '%s' asks for a Bearer token but names no realm",
                          ep->host);
    al_http_url_for_message(ep->ch.realm, out, n);
    return 0;
}

/* Asks the token service `ep` named for `scope` ("": none, a login), with
 * Basic credentials when `user` is not NULL. `resp` is initialised here and
 * released by the caller, also on failure. */
static int ask_token_service(struct al_registry *r, const struct reg_endpoint *ep,
                             const char *user, const char *pass, const char *scope,
                             const char *realm_msg, struct al_http_resp *resp,
                             struct al_err *e)
{
    char url[4096];
    const char *headers[2] = {NULL, NULL};
    char *basic = NULL;
    struct al_http_req req = {.method = "GET", .url = url, .headers = headers,
                              .follow_redirects = 1};
    size_t n;
    int rc;

    memset(resp, 0, sizeof(*resp));
    resp->head.content_length = -1;
    resp->head.retry_after = -1;
    rc = token_url(ep, scope, realm_msg, url, sizeof(url), e);
    if (rc != 0)
        return rc;
    n = strlen(url);
    if (n > 0 && url[n - 1] == '&')
        url[n - 1] = '\0';
    if (user != NULL) {
        basic = al_basic_header(user, pass);
        if (basic == NULL)
            return al_err_set(e, AL_ENOMEM, "out of memory");
        headers[0] = basic;
    }
    rc = reg_http_do(r, &req, resp, TOKEN_BODY_MAX, e);
    al_secret_free(basic);
    return rc;
}

/* A new token for `scope` from the realm `ep` named, into the cache. The
 * service refusing the credentials (401) is AL_EAUTH; refusing a scope
 * (403), or anonymous access, is this repository's AL_EDENIED. */
static int fetch_token(struct al_registry *r, struct reg_endpoint *ep,
                       const char *repo, const char *scope,
                       const struct reg_token **out, struct al_err *e)
{
    char realm_msg[512], how[600];
    const char *user = NULL, *pass = NULL;
    char *token = NULL;
    struct al_http_resp resp;
    long st;
    int rc, have_creds;

    *out = NULL;
    rc = realm_for_message(ep, realm_msg, sizeof(realm_msg), e);
    if (rc != 0)
        return rc;
    have_creds = al_authfile_find(r->auth, ep->host, repo, &user, &pass);
    rc = ask_token_service(r, ep, have_creds ? user : NULL, pass, scope, realm_msg,
                           &resp, e);
    st = resp.head.status;
    if (rc == 0 && have_creds && st == 401) {
        snprintf(how, sizeof(how), "its token service '%s' answered HTTP 401", realm_msg);
        rc = creds_refused(r, ep, how, e);
    } else if (rc == 0 && (st == 401 || st == 403)) {
        rc = al_err_set(e, AL_EDENIED,
                        "the token service '%s' refused %s for '%s' (HTTP %ld)%s",
                        realm_msg, have_creds ? "a token" : "anonymous access",
                        ep->host, st, have_creds ? "" : ": add credentials with --authfile");
    } else if (rc == 0 && st != 200) {
        rc = al_err_set(e, AL_EHTTP, "the token service '%s' answered HTTP %ld",
                        realm_msg, st);
    }
    if (rc == 0)
        rc = al_token_parse(resp.body.data, resp.body.len, &token, e);
    al_http_resp_release(&resp);
    if (rc == 0)
        rc = auth_token_add(&ep->tokens, scope, token, out, e);
    al_secret_free(token);
    return rc;
}

/* GET /v2/ of `ep` with Basic credentials: what the registry says of them. */
static int basic_v2(struct al_registry *r, const struct reg_endpoint *ep,
                    const char *user, const char *pass, struct al_http_resp *resp,
                    struct al_err *e)
{
    char url[600];
    const char *headers[2] = {NULL, NULL};
    struct al_http_req req = {.method = "GET", .url = url, .headers = headers,
                              .follow_redirects = 1};
    char *basic = al_basic_header(user, pass);
    int rc;

    memset(resp, 0, sizeof(*resp));
    if (basic == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    headers[0] = basic;
    snprintf(url, sizeof(url), "https://%s/v2/", ep->host);
    rc = reg_http_do(r, &req, resp, REG_ERROR_BODY_MAX, e);
    al_secret_free(basic);
    return rc;
}

int auth_login(struct al_registry *r, struct reg_endpoint *ep, const char *repo,
               struct al_err *e)
{
    const char *user, *pass;
    char realm_msg[512] = "", how[600];
    struct al_http_resp resp;
    long st;
    int rc;

    if (ep->ch.scheme == AL_AUTH_NONE ||
        !al_authfile_find(r->auth, ep->host, repo, &user, &pass) ||
        ep->login_user == user)
        return 0;
    if (ep->ch.scheme == AL_AUTH_BASIC) {
        rc = basic_v2(r, ep, user, pass, &resp, e);
    } else {
        rc = realm_for_message(ep, realm_msg, sizeof(realm_msg), e);
        if (rc != 0)
            return rc;
        rc = ask_token_service(r, ep, user, pass, "", realm_msg, &resp, e);
    }
    st = resp.head.status;
    al_http_resp_release(&resp);
    if (rc != 0)
        return rc;
    if (ep->ch.scheme == AL_AUTH_BASIC)
        snprintf(how, sizeof(how), "HTTP %ld on /v2/", st);
    else
        snprintf(how, sizeof(how), "its token service '%s' answered HTTP %ld",
                 realm_msg, st);
    if (st == 401 || (ep->ch.scheme == AL_AUTH_BEARER && st == 403))
        return creds_refused(r, ep, how, e);
    if (st == 200)
        ep->login_user = user;
    return 0;   /* anything else: the request itself will tell */
}

int auth_header(struct al_registry *r, struct reg_endpoint *ep, const char *repo,
                const char *scope, int fresh, char **out, struct al_err *e)
{
    const char *user, *pass;
    const struct reg_token *t;
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
    t = fresh ? NULL : auth_token_find(ep->tokens, scope);
    if (t == NULL) {
        rc = fetch_token(r, ep, repo, scope, &t, e);
        if (rc != 0)
            return rc;
    }
    *out = strdup(t->header);
    return *out ? 0 : al_err_set(e, AL_ENOMEM, "out of memory");
}
