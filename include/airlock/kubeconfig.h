/* Where the Kubernetes API is and how to authenticate to it: a kubeconfig
 * file (YAML, parsed with libyaml) or the in-cluster service account.
 *
 * Supported: server, certificate-authority(-data), insecure-skip-tls-verify,
 * token, tokenFile, client-certificate(-data) with client-key(-data), and
 * username/password. Relative file names are relative to the kubeconfig's
 * directory, as kubectl does. Secrets are wiped when released. */
#ifndef AIRLOCK_KUBECONFIG_H
#define AIRLOCK_KUBECONFIG_H

#include <stddef.h>

#include "airlock/err.h"

#define AL_KUBECONFIG_MAX (4 * 1024 * 1024)

struct al_kube_creds {
    char *server;            /* "https://api.example.com:6443" */
    char *context;           /* the context used ("in-cluster" in a pod) */
    char *ca_pem;            /* CA certificates, PEM (read or decoded) */
    int insecure;            /* insecure-skip-tls-verify */
    char *token;             /* bearer token (secret) */
    char *cert_pem;          /* client certificate, PEM */
    char *key_pem;           /* client key, PEM (secret) */
    char *username;
    char *password;          /* (secret) */
};

/* Parses kubeconfig text. `name` names it in messages; `base_dir` resolves
 * relative paths; `context` picks a context (NULL: current-context). */
int al_kubeconfig_parse(struct al_kube_creds *c, const char *text, size_t len,
                        const char *name, const char *base_dir,
                        const char *context, struct al_err *e);

/* Loads `path`, or when NULL the first file of $KUBECONFIG, else
 * ~/.kube/config. Returns AL_ENOTFOUND (message set) when no file exists and
 * none was named. */
int al_kubeconfig_load(struct al_kube_creds *c, const char *path,
                       const char *context, struct al_err *e);

/* The in-cluster service account: $KUBERNETES_SERVICE_HOST/PORT and the
 * token and CA under `sa_dir` (NULL: /var/run/secrets/kubernetes.io/
 * serviceaccount). AL_ENOTFOUND when not in a pod. */
int al_kube_in_cluster(struct al_kube_creds *c, const char *sa_dir,
                       struct al_err *e);

void al_kube_creds_release(struct al_kube_creds *c);

#endif
