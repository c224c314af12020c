#include "airlock/kubeconfig.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "airlock/auth.h"
#include "airlock/buf.h"

#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define FILE_MAX (1024 * 1024)   /* a CA bundle, a key or a token file */

struct kc {
    yaml_document_t doc;
    const char *name;
    const char *base_dir;
    struct al_err *e;
};

/* The scalar value of `key` in mapping `map`, or NULL. */
static const char *map_scalar(struct kc *k, yaml_node_t *map, const char *key)
{
    yaml_node_pair_t *p;

    if (map == NULL || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(&k->doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(&k->doc, p->value);
        if (kn && kn->type == YAML_SCALAR_NODE && vn && vn->type == YAML_SCALAR_NODE &&
            strcmp((const char *)kn->data.scalar.value, key) == 0)
            return (const char *)vn->data.scalar.value;
    }
    return NULL;
}

static yaml_node_t *map_node(struct kc *k, yaml_node_t *map, const char *key)
{
    yaml_node_pair_t *p;

    if (map == NULL || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(&k->doc, p->key);
        if (kn && kn->type == YAML_SCALAR_NODE &&
            strcmp((const char *)kn->data.scalar.value, key) == 0)
            return yaml_document_get_node(&k->doc, p->value);
    }
    return NULL;
}

/* In list `list_key` ({name, <inner>} entries), the <inner> mapping of the
 * entry called `name`. */
static yaml_node_t *named_entry(struct kc *k, yaml_node_t *root, const char *list_key,
                                const char *name, const char *inner)
{
    yaml_node_t *list = map_node(k, root, list_key);
    yaml_node_item_t *it;

    if (list == NULL || list->type != YAML_SEQUENCE_NODE)
        return NULL;
    for (it = list->data.sequence.items.start; it < list->data.sequence.items.top; it++) {
        yaml_node_t *entry = yaml_document_get_node(&k->doc, *it);
        const char *n = map_scalar(k, entry, "name");
        if (n != NULL && strcmp(n, name) == 0)
            return map_node(k, entry, inner);
    }
    return NULL;
}

static int read_small_file(const char *path, char **out, const char *what,
                           struct al_err *e)
{
    struct al_buf b;
    int rc;

    al_buf_init(&b, FILE_MAX);
    rc = al_buf_read_file(&b, path, e);
    if (rc != 0) {
        al_buf_release(&b);
        return al_err_prefix(e, "%s", what);
    }
    *out = al_buf_detach(&b, NULL);
    if (*out == NULL)
        *out = strdup("");
    return *out ? 0 : al_err_set(e, AL_ENOMEM, "out of memory");
}

/* A file named in the kubeconfig, relative to its directory. */
static int read_ref_file(struct kc *k, const char *file, char **out, const char *field)
{
    char path[4096], what[600];

    if (file[0] == '/' || k->base_dir == NULL)
        snprintf(path, sizeof(path), "%s", file);
    else
        snprintf(path, sizeof(path), "%s/%s", k->base_dir, file);
    snprintf(what, sizeof(what), "%s: %s", k->name, field);
    return read_small_file(path, out, what, k->e);
}

static int decode_data(struct kc *k, const char *b64, char **out, const char *field)
{
    size_t n;

    *out = al_base64_decode(b64, strlen(b64), &n);
    if (*out == NULL)
        return al_err_set(k->e, AL_EINVAL, "%s: %s is not valid base64", k->name, field);
    return 0;
}

/* "-data" wins over the file, as in kubectl. */
static int file_or_data(struct kc *k, yaml_node_t *map, const char *file_key,
                        const char *data_key, char **out)
{
    const char *data = map_scalar(k, map, data_key);
    const char *file = map_scalar(k, map, file_key);

    if (data != NULL)
        return decode_data(k, data, out, data_key);
    if (file != NULL)
        return read_ref_file(k, file, out, file_key);
    return 0;
}

static int dup_opt(const char *s, char **out, struct al_err *e)
{
    *out = NULL;
    if (s == NULL)
        return 0;
    *out = strdup(s);
    return *out ? 0 : al_err_set(e, AL_ENOMEM, "out of memory");
}

static int take_cluster(struct kc *k, yaml_node_t *cl, struct al_kube_creds *c)
{
    const char *server = map_scalar(k, cl, "server");
    const char *insecure = map_scalar(k, cl, "insecure-skip-tls-verify");

    if (server == NULL || strncmp(server, "https://", 8) != 0)
        return al_err_set(k->e, AL_EINVAL, "%s: the cluster of context '%s' has no "
                          "https:// server", k->name, c->context);
    c->insecure = insecure != NULL && strcmp(insecure, "true") == 0;
    if (dup_opt(server, &c->server, k->e) != 0)
        return AL_ENOMEM;
    if (c->insecure && (map_scalar(k, cl, "certificate-authority") != NULL ||
                        map_scalar(k, cl, "certificate-authority-data") != NULL))
        return al_err_set(k->e, AL_EINVAL, "%s: the cluster of context '%s' has both "
                          "insecure-skip-tls-verify and a certificate-authority: remove "
                          "insecure-skip-tls-verify (kubectl refuses this too)", k->name,
                          c->context);
    return file_or_data(k, cl, "certificate-authority", "certificate-authority-data",
                        &c->ca_pem);
}

static int take_user(struct kc *k, yaml_node_t *u, struct al_kube_creds *c)
{
    const char *token_file = map_scalar(k, u, "tokenFile");
    int rc;

    if (map_node(k, u, "exec") != NULL || map_node(k, u, "auth-provider") != NULL)
        if (map_scalar(k, u, "token") == NULL && token_file == NULL &&
            map_scalar(k, u, "client-certificate-data") == NULL &&
            map_scalar(k, u, "client-certificate") == NULL)
            return al_err_set(k->e, AL_EUNSUPPORTED,
                              "%s: the user of context '%s' authenticates through an "
                              "exec or auth-provider plugin, which airlock does not run: "
                              "log in with a token (oc login; oc whoami -t)", k->name,
                              c->context);
    rc = dup_opt(map_scalar(k, u, "token"), &c->token, k->e);
    if (rc == 0 && c->token == NULL && token_file != NULL)
        rc = read_ref_file(k, token_file, &c->token, "tokenFile");
    if (rc == 0 && c->token != NULL)
        c->token[strcspn(c->token, "\r\n")] = '\0';
    if (rc == 0)
        rc = file_or_data(k, u, "client-certificate", "client-certificate-data", &c->cert_pem);
    if (rc == 0)
        rc = file_or_data(k, u, "client-key", "client-key-data", &c->key_pem);
    if (rc == 0 && (c->cert_pem == NULL) != (c->key_pem == NULL))
        rc = al_err_set(k->e, AL_EINVAL, "%s: the user of context '%s' has a client "
                        "certificate without a key, or a key without a certificate",
                        k->name, c->context);
    if (rc == 0)
        rc = dup_opt(map_scalar(k, u, "username"), &c->username, k->e);
    if (rc == 0)
        rc = dup_opt(map_scalar(k, u, "password"), &c->password, k->e);
    return rc;
}

static int take_context(struct kc *k, yaml_node_t *root, const char *context,
                        struct al_kube_creds *c)
{
    const char *name = context ? context : map_scalar(k, root, "current-context");
    yaml_node_t *ctx, *cl, *u;
    const char *cl_name, *u_name;

    if (name == NULL || name[0] == '\0')
        return al_err_set(k->e, AL_EINVAL, "%s has no current-context: name one with "
                          "--context", k->name);
    if (dup_opt(name, &c->context, k->e) != 0)
        return AL_ENOMEM;
    ctx = named_entry(k, root, "contexts", name, "context");
    if (ctx == NULL)
        return al_err_set(k->e, AL_EINVAL, "%s has no context '%s'", k->name, name);
    cl_name = map_scalar(k, ctx, "cluster");
    u_name = map_scalar(k, ctx, "user");
    cl = cl_name ? named_entry(k, root, "clusters", cl_name, "cluster") : NULL;
    if (cl == NULL)
        return al_err_set(k->e, AL_EINVAL, "%s: context '%s' names no cluster that "
                          "exists", k->name, name);
    u = u_name ? named_entry(k, root, "users", u_name, "user") : NULL;
    if (u_name != NULL && u == NULL)
        return al_err_set(k->e, AL_EINVAL, "%s: context '%s' names user '%s', which "
                          "does not exist", k->name, name, u_name);
    if (take_cluster(k, cl, c) != 0)
        return k->e ? k->e->code : AL_EINVAL;
    return u ? take_user(k, u, c) : 0;
}

int al_kubeconfig_parse(struct al_kube_creds *c, const char *text, size_t len,
                        const char *name, const char *base_dir,
                        const char *context, struct al_err *e)
{
    yaml_parser_t parser;
    struct kc k = {.name = name, .base_dir = base_dir, .e = e};
    yaml_node_t *root;
    int rc;

    memset(c, 0, sizeof(*c));
    if (len > AL_KUBECONFIG_MAX)
        return al_err_set(e, AL_ETOOBIG, "%s is larger than %d bytes", name,
                          AL_KUBECONFIG_MAX);
    if (!yaml_parser_initialize(&parser))
        return al_err_set(e, AL_ENOMEM, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &k.doc)) {
        rc = al_err_set(e, AL_EINVAL, "%s is not valid YAML (line %zu: %s)", name,
                        parser.problem_mark.line + 1,
                        parser.problem ? parser.problem : "parse error");
        yaml_parser_delete(&parser);
        return rc;
    }
    root = yaml_document_get_root_node(&k.doc);
    if (root == NULL || root->type != YAML_MAPPING_NODE)
        rc = al_err_set(e, AL_EINVAL, "%s is not a kubeconfig (no mapping at the top)",
                        name);
    else
        rc = take_context(&k, root, context, c);
    yaml_document_delete(&k.doc);
    yaml_parser_delete(&parser);
    if (rc != 0)
        al_kube_creds_release(c);
    return rc;
}

int al_kubeconfig_load(struct al_kube_creds *c, const char *path,
                       const char *context, struct al_err *e)
{
    char found[4096], *dir_copy;
    const char *env = getenv("KUBECONFIG"), *home = getenv("HOME");
    struct al_buf b;
    struct stat st;
    int rc;

    memset(c, 0, sizeof(*c));
    if (path != NULL) {
        snprintf(found, sizeof(found), "%s", path);
    } else if (env != NULL && env[0] != '\0') {
        snprintf(found, sizeof(found), "%.*s", (int)strcspn(env, ":"), env);
    } else if (home != NULL) {
        snprintf(found, sizeof(found), "%s/.kube/config", home);
        if (stat(found, &st) != 0)
            return al_err_set(e, AL_ENOTFOUND, "no kubeconfig (~/.kube/config)");
    } else {
        return al_err_set(e, AL_ENOTFOUND, "no kubeconfig");
    }
    al_buf_init(&b, AL_KUBECONFIG_MAX);
    rc = al_buf_read_file(&b, found, e);
    if (rc == 0) {
        char name[4200];
        dir_copy = strdup(found);
        snprintf(name, sizeof(name), "kubeconfig '%s'", found);
        rc = dir_copy ? al_kubeconfig_parse(c, b.data, b.len, name, dirname(dir_copy),
                                            context, e)
                      : al_err_set(e, AL_ENOMEM, "out of memory");
        free(dir_copy);
    }
    al_buf_release(&b);
    return rc;
}

int al_kube_in_cluster(struct al_kube_creds *c, const char *sa_dir, struct al_err *e)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    char path[4096];
    size_t n;
    int rc;

    memset(c, 0, sizeof(*c));
    if (sa_dir == NULL)
        sa_dir = SA_DIR;
    if (host == NULL || host[0] == '\0')
        return al_err_set(e, AL_ENOTFOUND, "not running in a pod");
    n = strlen(host) + 32;
    c->server = malloc(n);
    c->context = strdup("in-cluster");
    if (c->server == NULL || c->context == NULL) {
        al_kube_creds_release(c);
        return al_err_set(e, AL_ENOMEM, "out of memory");
    }
    /* an IPv6 service address needs brackets in a URL */
    snprintf(c->server, n, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host,
             port && port[0] ? port : "443");
    snprintf(path, sizeof(path), "%s/token", sa_dir);
    rc = read_small_file(path, &c->token, "service account token", e);
    if (rc == 0) {
        c->token[strcspn(c->token, "\r\n")] = '\0';
        snprintf(path, sizeof(path), "%s/ca.crt", sa_dir);
        rc = read_small_file(path, &c->ca_pem, "service account CA", e);
    }
    if (rc != 0)
        al_kube_creds_release(c);
    return rc;
}

void al_kube_creds_release(struct al_kube_creds *c)
{
    free(c->server);
    free(c->context);
    free(c->ca_pem);
    free(c->cert_pem);
    free(c->username);
    al_secret_free(c->token);
    al_secret_free(c->key_pem);
    al_secret_free(c->password);
    memset(c, 0, sizeof(*c));
}
