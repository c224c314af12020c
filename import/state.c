/* Rollback protection: the mirror remembers the newest bundle imported into
 * it (a record whose format is common/state.c's, kept in the mirror so that
 * every importer sees it). A bundle created before that one is refused
 * before anything is pushed, unless --allow-rollback; after a successful
 * import the record moves forward, never back. */
#include "import.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "airlock/registry_push.h"
#include "airlock/state.h"

/* "mirror:5000/ocp/airlock/state:latest", for messages. */
static void record_name(const struct im_plan *plan, const char *repo, char *out, size_t n)
{
    snprintf(out, n, "%s/%s:%s", plan->mirror_host, repo, AL_STATE_TAG);
}

/* The record in the mirror: *found = 0 when there is none yet. */
static int read_record(struct al_registry *reg, const struct im_plan *plan, const char *repo,
                       struct al_state *s, int *found, struct al_err *e)
{
    char digest[AL_DIGEST_STR_MAX], name[600];
    char *media_type = NULL;
    struct al_buf body;
    int rc;

    *found = 0;
    record_name(plan, repo, name, sizeof(name));
    al_buf_init(&body, AL_STATE_MANIFEST_MAX);
    rc = al_registry_get_manifest(&(struct al_repo){reg, plan->mirror_host, repo},
                                  AL_STATE_TAG, &body, &media_type, digest, e);
    if (rc == AL_ENOTFOUND) {
        al_err_init(e);
        rc = 0;
    } else if (rc == 0) {
        *found = 1;
        rc = al_state_parse(s, body.data, body.len, name, e);
        if (rc != 0)
            al_err_prefix(e, "the mirror's record of the newest bundle is unusable "
                          "(remove it, or give --allow-rollback)");
    } else {
        al_err_prefix(e, "cannot read the mirror's record of the newest bundle '%s'", name);
    }
    free(media_type);
    al_buf_release(&body);
    return rc;
}

static int refuse(const struct al_state *ours, const struct al_state *rec, const char *name,
                  struct al_err *e)
{
    return al_err_set(e, AL_EINVAL, "bundle %s (created %s) is older than bundle %s "
                      "(created %s), already imported into this mirror (recorded in "
                      "'%s'): it would move tags back to older images; nothing was "
                      "pushed. Import the newer bundle, or give --allow-rollback to roll "
                      "back on purpose", ours->bundle_id, ours->created, rec->bundle_id,
                      rec->created, name);
}

/* What both ends of an import need: where the record lives in the mirror
 * (newly allocated, into *repo) and this bundle's entry for it. */
static int prepare(const struct im_plan *plan, const struct im_bundle *b, char **repo,
                   struct al_state *ours, struct al_err *e)
{
    *repo = im_plan_mirror_repo(plan, AL_STATE_REPO);
    if (*repo == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    return al_state_from_meta(ours, &b->meta, b->key_id, time(NULL), e);
}

int im_state_check(struct al_registry *reg, const struct im_plan *plan,
                   const struct im_bundle *b, int allow_rollback, al_report_fn report,
                   void *ud, struct al_err *e)
{
    struct al_state ours, rec;
    char name[600];
    char *repo = NULL;
    int found = 0, rc = prepare(plan, b, &repo, &ours, e);

    if (rc == 0)
        rc = read_record(reg, plan, repo, &rec, &found, e);
    if (rc != 0 && allow_rollback) {
        report(ud, "warning: %s; going on (--allow-rollback)", e->msg);
        al_err_init(e);
        rc = 0;
        found = 0;
    }
    if (rc == 0 && found && al_state_older(&ours, &rec)) {
        record_name(plan, repo, name, sizeof(name));
        if (allow_rollback)
            report(ud, "warning: bundle %s (created %s) is older than bundle %s (created "
                   "%s), the newest imported into this mirror: importing it anyway "
                   "(--allow-rollback), tags move back to its images", ours.bundle_id,
                   ours.created, rec.bundle_id, rec.created);
        else
            rc = refuse(&ours, &rec, name, e);
    }
    free(repo);
    return rc;
}

/* The record's config blob, uploaded unless the repository has it. */
static int put_config(struct al_registry *reg, const char *host, const char *repo,
                      struct al_err *e)
{
    char digest[AL_DIGEST_STR_MAX];
    struct al_blob_upload *up = NULL;
    size_t len;
    const char *cfg = al_state_config(&len, digest);
    int exists = 0;
    int rc = al_registry_blob_exists(&(struct al_repo){reg, host, repo}, digest, &exists, e);

    if (rc != 0 || exists)
        return rc;
    rc = al_registry_upload_open(&(struct al_repo){reg, host, repo}, digest,
                                 (long long)len, &up, e);
    if (rc == 0)
        rc = al_registry_upload_write(up, cfg, len, e);
    if (rc == 0)
        return al_registry_upload_commit(up, e);
    al_registry_upload_abort(up);
    return rc;
}

/* Writes the record unless the mirror's (read again, as another importer
 * may have moved it meanwhile) is of a bundle at least as new. */
static int write_record(struct al_registry *reg, const struct im_plan *plan, const char *repo,
                        const struct al_state *ours, int *written, struct al_err *e)
{
    struct al_state rec;
    char *text = NULL;
    int found = 0;
    int rc = read_record(reg, plan, repo, &rec, &found, e);

    *written = 0;
    if (rc == AL_EINVAL) {   /* not a record: replaced by a good one */
        al_err_init(e);
        rc = 0;
        found = 0;
    }
    if (rc != 0 || (found && !al_state_older(&rec, ours)))
        return rc;
    rc = put_config(reg, plan->mirror_host, repo, e);
    if (rc == 0)
        rc = al_state_manifest(ours, &text, e);
    if (rc == 0)
        rc = al_registry_put_manifest(&(struct al_repo){reg, plan->mirror_host, repo},
                                      AL_STATE_TAG, AL_STATE_MEDIA_TYPE, text,
                                      strlen(text), e);
    *written = rc == 0;
    free(text);
    return rc;
}

int im_state_record(struct al_registry *reg, const struct im_plan *plan,
                    const struct im_bundle *b, al_report_fn report, void *ud,
                    struct al_err *e)
{
    struct al_state ours;
    char name[600];
    char *repo = NULL;
    int written = 0, rc = prepare(plan, b, &repo, &ours, e);

    if (rc == 0)
        rc = write_record(reg, plan, repo, &ours, &written, e);
    if (repo != NULL)
        record_name(plan, repo, name, sizeof(name));
    if (rc != 0 && repo != NULL)
        al_err_prefix(e, "the images landed, but the record of the newest bundle "
                      "'%s' could not be written (run again)", name);
    else if (written)
        report(ud, "recorded bundle %s (created %s) as the newest imported, in '%s'",
               ours.bundle_id, ours.created, name);
    free(repo);
    return rc;
}
