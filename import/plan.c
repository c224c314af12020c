/* Where images land in the mirror: the registry host is replaced, path and
 * tag kept, exactly as the samples operator rewrites pull specs for
 * samplesRegistry (so registry.redhat.io/x and registry.access.redhat.com/x
 * meet in one mirror repository). */
#include "import.h"

#include "airlock/ref.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int split_mirror(struct im_plan *p, const char *mirror, struct al_err *e)
{
    const char *slash = strchr(mirror, '/');
    size_t hn = slash ? (size_t)(slash - mirror) : strlen(mirror);

    if (strstr(mirror, "://") != NULL)
        return al_err_set(e, AL_EINVAL, "invalid --registry '%s': give host[:port] "
                          "without a scheme, e.g. mirror.example.com:5000", mirror);
    if (hn == 0 || hn > 255 || !al_registry_name_valid(mirror, hn) ||
        (slash && slash[1] != '\0' && !al_repo_valid(slash + 1)))
        return al_err_set(e, AL_EINVAL, "invalid --registry '%s': expected "
                          "host[:port][/path], e.g. mirror.example.com:5000", mirror);
    p->mirror_host = strndup(mirror, hn);
    p->prefix = strdup(slash ? slash + 1 : "");
    if (p->mirror_host == NULL || p->prefix == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    return 0;
}

int im_mirror_check(const char *mirror, struct al_err *e)
{
    struct im_plan p;
    int rc;

    memset(&p, 0, sizeof(p));
    rc = split_mirror(&p, mirror, e);
    im_plan_release(&p);
    return rc;
}

char *im_dest_name(const struct im_plan *p, const struct im_dest *d)
{
    size_t n = strlen(p->mirror_host) + strlen(d->repo) + strlen(d->reference) + 4;
    char *s = malloc(n);

    if (s != NULL)
        snprintf(s, n, "%s/%s%c%s", p->mirror_host, d->repo,
                 strncmp(d->reference, "sha256:", 7) == 0 ? '@' : ':', d->reference);
    return s;
}

char *im_plan_mirror_repo(const struct im_plan *p, const char *repo)
{
    size_t n = strlen(p->prefix) + strlen(repo) + 2;
    char *s = malloc(n);

    if (s != NULL)
        snprintf(s, n, "%s%s%s", p->prefix, p->prefix[0] ? "/" : "", repo);
    return s;
}

static int dest_init(struct im_plan *p, struct im_dest *d,
                     const struct al_meta_image *img)
{
    d->img = img;
    d->repo = im_plan_mirror_repo(p, img->repository);
    d->reference = strdup(img->tag ? img->tag : img->digest);
    return d->repo != NULL && d->reference != NULL ? 0 : -1;
}

static int dest_cmp(const void *a, const void *b)
{
    const struct im_dest *x = *(const struct im_dest *const *)a;
    const struct im_dest *y = *(const struct im_dest *const *)b;
    int c = strcmp(x->repo, y->repo);

    if (c == 0)
        c = strcmp(x->reference, y->reference);
    if (c == 0)
        c = x < y ? -1 : x > y;
    return c;
}

/* Same destination: the same image twice is fine (pushed once); different
 * content is an error naming both sources. */
static int check_collisions(struct im_plan *p, struct al_err *e)
{
    struct im_dest **v = calloc(p->n_dests + 1, sizeof(*v));
    size_t i;
    int rc = 0;

    if (v == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    for (i = 0; i < p->n_dests; i++)
        v[i] = &p->dests[i];
    qsort(v, p->n_dests, sizeof(*v), dest_cmp);
    for (i = 1; i < p->n_dests && rc == 0; i++) {
        if (strcmp(v[i]->repo, v[i - 1]->repo) == 0)
            v[i]->repo_shared = v[i - 1]->repo_shared = 1;
        if (strcmp(v[i]->repo, v[i - 1]->repo) != 0 ||
            strcmp(v[i]->reference, v[i - 1]->reference) != 0)
            continue;
        if (strcmp(v[i]->img->digest, v[i - 1]->img->digest) == 0) {
            v[i]->duplicate = 1;
            continue;
        }
        char *name = im_dest_name(p, v[i]);
        rc = al_err_set(e, AL_EINVAL,
                        "'%s' and '%s' would both land on '%s' with different "
                        "content (%s, %s): export them separately or drop one",
                        v[i - 1]->img->name, v[i]->img->name, name ? name : "?",
                        v[i - 1]->img->digest, v[i]->img->digest);
        free(name);
    }
    free(v);
    return rc;
}

/* Adds `repo` to the repositories needing `blob` (once); *slot: where. */
static int add_repo(struct im_plan *p, size_t blob, char *repo, size_t *slot)
{
    size_t i, n = p->n_blob_repos[blob];
    char **grown;

    for (i = 0; i < n; i++) {
        if (strcmp(p->blob_repos[blob][i], repo) == 0) {
            *slot = i;
            return 0;
        }
    }
    grown = realloc(p->blob_repos[blob], (n + 1) * sizeof(char *));
    if (grown == NULL)
        return -1;
    grown[n] = repo;     /* borrowed from the destination */
    p->blob_repos[blob] = grown;
    p->n_blob_repos[blob] = n + 1;
    *slot = n;
    return 0;
}

int im_plan_build(struct im_plan *p, const char *mirror,
                  const struct al_bundle_meta *m, struct al_err *e)
{
    size_t i, j;
    int rc;

    memset(p, 0, sizeof(*p));
    rc = split_mirror(p, mirror, e);
    if (rc != 0)
        return rc;
    p->dests = calloc(m->n_images + 1, sizeof(*p->dests));
    p->blob_repos = calloc(m->n_blobs + 1, sizeof(*p->blob_repos));
    p->n_blob_repos = calloc(m->n_blobs + 1, sizeof(*p->n_blob_repos));
    if (p->dests == NULL || p->blob_repos == NULL || p->n_blob_repos == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    p->n_blobs = m->n_blobs;
    for (i = 0; i < m->n_images; i++) {
        p->n_dests++;
        if (dest_init(p, &p->dests[i], &m->images[i]) != 0)
            return al_err_set(e, AL_ENOMEM, "out of memory");
    }
    rc = check_collisions(p, e);
    for (i = 0; rc == 0 && i < p->n_dests; i++) {
        struct im_dest *d = &p->dests[i];
        d->blob_slot = calloc(d->img->n_blobs + 1, sizeof(*d->blob_slot));
        if (d->blob_slot == NULL)
            rc = al_err_set(e, AL_ENOMEM, "out of memory");
        for (j = 0; rc == 0 && j < d->img->n_blobs; j++)
            if (add_repo(p, d->img->blobs[j], d->repo, &d->blob_slot[j]) != 0)
                rc = al_err_set(e, AL_ENOMEM, "out of memory");
    }
    return rc;
}

void im_plan_release(struct im_plan *p)
{
    size_t i;

    for (i = 0; i < p->n_dests; i++) {
        free(p->dests[i].repo);
        free(p->dests[i].reference);
        free(p->dests[i].blob_slot);
    }
    for (i = 0; p->blob_repos != NULL && i < p->n_blobs; i++)
        free(p->blob_repos[i]);
    free(p->blob_repos);
    free(p->n_blob_repos);
    free(p->dests);
    free(p->mirror_host);
    free(p->prefix);
    memset(p, 0, sizeof(*p));
}
