#include "airlock/ref.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/digest.h"

static int is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* One path component: [a-z0-9]+ separated by '.', '_', '__' or '-'+. */
static int path_component_valid(const char *s, size_t n)
{
    size_t i = 0;

    if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
        return 0;
    while (i < n) {
        if (is_lower_alnum(s[i])) {
            i++;
            continue;
        }
        if (s[i] == '.' && is_lower_alnum(s[i + 1])) {
            i++;
        } else if (s[i] == '_') {
            if (s[i + 1] == '_')
                i++;
            if (!is_lower_alnum(s[i + 1]))
                return 0;
            i++;
        } else if (s[i] == '-') {
            while (i < n && s[i] == '-')
                i++;
            if (i >= n || !is_lower_alnum(s[i]))
                return 0;
        } else {
            return 0;
        }
    }
    return 1;
}

int al_repo_valid(const char *s)
{
    const char *p = s;

    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (!path_component_valid(p, n))
            return 0;
        if (slash == NULL)
            return 1;
        p = slash + 1;
    }
}

int al_registry_name_valid(const char *s, size_t n)
{
    size_t i;

    if (n == 0)
        return 0;
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '-' || c == ':' ||
              c == '[' || c == ']'))
            return 0;
    }
    return s[0] != '-' && s[0] != '.';
}

int al_tag_valid(const char *s)
{
    size_t i, n = strlen(s);

    if (n == 0 || n > 128)
        return 0;
    for (i = 0; i < n; i++) {
        char c = s[i];
        int word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                   (c >= '0' && c <= '9') || c == '_';
        if (!word && (i == 0 || (c != '.' && c != '-')))
            return 0;
    }
    return 1;
}

static int looks_like_registry(const char *s, size_t n)
{
    return memchr(s, '.', n) != NULL || memchr(s, ':', n) != NULL ||
           (n == 9 && memcmp(s, "localhost", 9) == 0);
}

void al_ref_release(struct al_ref *r)
{
    free(r->registry);
    free(r->repo);
    free(r->tag);
    free(r->digest);
    memset(r, 0, sizeof(*r));
}

static int split_registry(const char *name, struct al_ref *r)
{
    const char *slash = strchr(name, '/');
    size_t rn;

    if (slash != NULL && looks_like_registry(name, (size_t)(slash - name))) {
        rn = (size_t)(slash - name);
        if (!al_registry_name_valid(name, rn))
            return -1;
        r->registry = strndup(name, rn);
        r->repo = strdup(slash + 1);
    } else if (slash == NULL) {
        r->registry = strdup("docker.io");
        r->repo = malloc(strlen(name) + 9);
        if (r->repo)
            snprintf(r->repo, strlen(name) + 9, "library/%s", name);
    } else {
        r->registry = strdup("docker.io");
        r->repo = strdup(name);
    }
    if (r->registry == NULL || r->repo == NULL)
        return -2;
    /* "index.docker.io" and "registry-1.docker.io" are the same registry. */
    if (strcmp(r->registry, "index.docker.io") == 0 ||
        strcmp(r->registry, "registry-1.docker.io") == 0) {
        free(r->registry);
        r->registry = strdup("docker.io");
        if (r->registry == NULL)
            return -2;
    }
    if (strcmp(r->registry, "docker.io") == 0 && strchr(r->repo, '/') == NULL) {
        char *lib = malloc(strlen(r->repo) + 9);
        if (lib == NULL)
            return -2;
        snprintf(lib, strlen(r->repo) + 9, "library/%s", r->repo);
        free(r->repo);
        r->repo = lib;
    }
    return 0;
}

int al_ref_parse(const char *s, struct al_ref *r, struct al_err *e)
{
    char *copy = NULL, *at, *colon, *slash;
    int rc = 0, split;

    memset(r, 0, sizeof(*r));
    if (s == NULL || *s == '\0')
        return al_err_set(e, AL_EINVAL, "empty image reference");
    if (strlen(s) > AL_REF_MAX)
        return al_err_set(e, AL_EINVAL, "image reference longer than %d bytes",
                          AL_REF_MAX);
    copy = strdup(s);
    if (copy == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    at = strchr(copy, '@');
    if (at != NULL) {
        *at = '\0';
        if (!al_digest_valid(at + 1)) {
            rc = al_err_set(e, AL_EINVAL,
                            "invalid digest in image reference '%s' "
                            "(expected sha256:<64 hex digits>)", s);
            goto out;
        }
        r->digest = strdup(at + 1);
    }
    slash = strrchr(copy, '/');
    colon = strrchr(copy, ':');
    if (colon != NULL && (slash == NULL || colon > slash)) {
        *colon = '\0';
        if (!al_tag_valid(colon + 1)) {
            rc = al_err_set(e, AL_EINVAL, "invalid tag in image reference '%s'", s);
            goto out;
        }
        r->tag = strdup(colon + 1);
    }
    split = split_registry(copy, r);
    if (split == -2) {
        rc = al_err_set(e, AL_ENOMEM, "out of memory");
        goto out;
    }
    if (split != 0 || !al_repo_valid(r->repo)) {
        rc = al_err_set(e, AL_EINVAL,
                        "invalid image reference '%s' (expected "
                        "[registry/]repository[:tag][@digest], lowercase)", s);
        goto out;
    }
    if (r->tag == NULL && r->digest == NULL)
        r->tag = strdup("latest");
    if ((r->tag == NULL && r->digest == NULL) ||
        (at != NULL && r->digest == NULL))
        rc = al_err_set(e, AL_ENOMEM, "out of memory");
out:
    free(copy);
    if (rc != 0)
        al_ref_release(r);
    return rc;
}

char *al_ref_format(const struct al_ref *r)
{
    size_t n = strlen(r->registry) + strlen(r->repo) + 4 +
               (r->tag ? strlen(r->tag) : 0) + (r->digest ? strlen(r->digest) : 0);
    char *s = malloc(n);

    if (s == NULL)
        return NULL;
    snprintf(s, n, "%s/%s%s%s%s%s", r->registry, r->repo, r->tag ? ":" : "",
             r->tag ? r->tag : "", r->digest ? "@" : "",
             r->digest ? r->digest : "");
    return s;
}

char *al_ref_format_digest(const struct al_ref *r, const char *digest)
{
    size_t n = strlen(r->registry) + strlen(r->repo) + strlen(digest) + 3;
    char *s = malloc(n);

    if (s == NULL)
        return NULL;
    snprintf(s, n, "%s/%s@%s", r->registry, r->repo, digest);
    return s;
}

const char *al_registry_api_host(const char *registry)
{
    if (strcmp(registry, "docker.io") == 0)
        return "registry-1.docker.io";
    return registry;
}
