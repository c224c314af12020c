/* The few Kubernetes API calls airlock makes: GET, POST (create) and JSON
 * merge patches (RFC 7386, application/merge-patch+json), over the shared
 * HTTP client. Bodies are JSON documents (jansson); the caller owns what it
 * gets back. */
#ifndef AIRLOCK_KUBE_H
#define AIRLOCK_KUBE_H

#include <jansson.h>

#include "airlock/err.h"
#include "airlock/kubeconfig.h"

#define AL_KUBE_BODY_MAX (16 * 1024 * 1024)

struct al_kube;

/* `creds` is copied as needed; it may be released afterwards. An answer
 * not whole within `timeout_s` seconds (--timeout; 0: 60) is broken off
 * (and tried again, as a transient failure). */
int al_kube_new(struct al_kube **out, const struct al_kube_creds *creds, long timeout_s,
                struct al_err *e);
void al_kube_free(struct al_kube *k);   /* accepts NULL */

/* Transient failures (429, 5xx, connection errors) are tried again this
 * many times (default 5) with backoff, honouring Retry-After. */
void al_kube_set_retries(struct al_kube *k, int retries);

/* Checks `value`, read from the cluster in `field` of `object`, before it
 * goes into an API path: a Kubernetes object name (DNS-1123 subdomain: at
 * most 253 lowercase letters, digits, '-' and '.', each dot-separated part
 * starting and ending with a letter or digit). 0, or AL_EINVAL with a
 * message naming the field, the object and the value (quoted, shortened). */
int al_kube_name_check(const char *value, const char *field, const char *object,
                       struct al_err *e);

/* Each call names the object in `what` ("configmap openshift-config/
 * registry-config") for its messages. A `path` with a "." or ".." segment,
 * '%', '?', '#' or a control character is refused (AL_EINVAL) unsent. Results: 0 and *out (may be NULL for
 * no body); AL_ENOTFOUND on 404; AL_ECONFLICT on 409; AL_EDENIED on 401/403
 * with the verb, the object and the permission needed; AL_EHTTP otherwise,
 * with the API's Status message. */
int al_kube_get(struct al_kube *k, const char *path, const char *what,
                json_t **out, struct al_err *e);
int al_kube_create(struct al_kube *k, const char *path, const char *what,
                   json_t *body, json_t **out, struct al_err *e);
int al_kube_merge_patch(struct al_kube *k, const char *path, const char *what,
                        json_t *patch, json_t **out, struct al_err *e);

#endif
