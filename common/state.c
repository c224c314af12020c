/* The mirror's state record (see include/airlock/state.h). */
#include "airlock/state.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_MEDIA_TYPE "application/vnd.oci.image.config.v1+json"
#define KEY_BUNDLE_ID "io.airlock.bundle.id"
#define KEY_CREATED "io.airlock.bundle.created"
#define KEY_KEY_ID "io.airlock.bundle.key-id"
#define KEY_IMPORTED "io.airlock.imported"
#define KEY_FORMAT "io.airlock.format"
#define STATE_FORMAT "airlock-mirror-state"

static const char config_bytes[] = "{}";

const char *al_state_config(size_t *len, char digest[AL_DIGEST_STR_MAX])
{
    *len = sizeof(config_bytes) - 1;
    al_sha256_digest(config_bytes, *len, digest);
    return config_bytes;
}

int al_state_time_parse(const char *s, long long *out, struct al_err *e)
{
    struct tm tm;
    int n = 0;
    time_t t;

    memset(&tm, 0, sizeof(tm));
    if (s == NULL || strlen(s) != AL_STATE_TIME_LEN - 1 ||
        sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 ||
        n != AL_STATE_TIME_LEN - 1 || tm.tm_mon < 1 || tm.tm_mon > 12 ||
        tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
        tm.tm_sec > 60 || tm.tm_year < 1970)
        return al_err_set(e, AL_EINVAL, "'%.40s' is not a UTC time "
                          "(YYYY-MM-DDTHH:MM:SSZ)", s ? s : "");
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    t = timegm(&tm);
    if (t == (time_t)-1)
        return al_err_set(e, AL_EINVAL, "'%s' is not a UTC time", s);
    *out = (long long)t;
    return 0;
}

/* Bundle ids go into messages and the record: letters, digits, '.', '_'
 * and '-' only. */
static int id_valid(const char *id)
{
    size_t n = id ? strlen(id) : 0;

    return n > 0 && n <= AL_STATE_ID_MAX &&
           strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

static int key_id_valid(const char *k)
{
    size_t n = strlen(k);

    return n == 0 || (n == AL_KEY_ID_LEN - 1 && strspn(k, "0123456789abcdef") == n);
}

/* Fills `s` from its four fields, each checked. */
static int fill(struct al_state *s, const char *id, const char *created, const char *key_id,
                const char *imported, const char *what, struct al_err *e)
{
    long long ignored;

    memset(s, 0, sizeof(*s));
    if (!id_valid(id))
        return al_err_set(e, AL_EINVAL, "%s: the bundle id is missing or not a plain "
                          "identifier", what);
    if (created == NULL)
        return al_err_set(e, AL_EINVAL, "%s has no creation time", what);
    if (al_state_time_parse(created, &s->created_t, e) != 0)
        return al_err_prefix(e, "%s: its creation time", what);
    if (key_id == NULL || !key_id_valid(key_id))
        return al_err_set(e, AL_EINVAL, "%s: the key id is not 16 hex digits", what);
    if (imported != NULL && imported[0] != '\0' &&
        al_state_time_parse(imported, &ignored, e) != 0)
        return al_err_prefix(e, "%s: its import time", what);
    snprintf(s->bundle_id, sizeof(s->bundle_id), "%s", id);
    snprintf(s->created, sizeof(s->created), "%s", created);
    snprintf(s->key_id, sizeof(s->key_id), "%s", key_id);
    snprintf(s->imported, sizeof(s->imported), "%s", imported ? imported : "");
    return 0;
}

int al_state_from_meta(struct al_state *s, const struct al_bundle_meta *m,
                       const char *key_id, time_t now, struct al_err *e)
{
    char what[AL_STATE_ID_MAX + 40], imported[AL_STATE_TIME_LEN];
    struct tm tm;

    snprintf(what, sizeof(what), "bundle %.*s", AL_STATE_ID_MAX, m->id ? m->id : "?");
    strftime(imported, sizeof(imported), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    return fill(s, m->id, m->created, key_id, imported, what, e);
}

int al_state_manifest(const struct al_state *s, char **text, struct al_err *e)
{
    char digest[AL_DIGEST_STR_MAX];
    size_t len;
    json_t *doc;

    al_state_config(&len, digest);
    doc = json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:[], s:{s:s, s:s, s:s, s:s, s:s}}",
                    "schemaVersion", 2, "mediaType", AL_STATE_MEDIA_TYPE, "config",
                    "mediaType", CONFIG_MEDIA_TYPE, "digest", digest, "size",
                    (json_int_t)len, "layers", "annotations", KEY_FORMAT, STATE_FORMAT,
                    KEY_BUNDLE_ID, s->bundle_id, KEY_CREATED, s->created, KEY_KEY_ID,
                    s->key_id, KEY_IMPORTED, s->imported);
    *text = doc ? json_dumps(doc, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
    json_decref(doc);
    return *text ? 0 : al_err_set(e, AL_ENOMEM, "out of memory");
}

int al_state_parse(struct al_state *s, const char *text, size_t len, const char *what,
                   struct al_err *e)
{
    json_t *doc = NULL, *a;
    const char *format;
    int rc;

    memset(s, 0, sizeof(*s));
    if (len <= AL_STATE_MANIFEST_MAX)
        doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    a = json_object_get(doc, "annotations");
    format = json_string_value(json_object_get(a, KEY_FORMAT));
    if (format == NULL || strcmp(format, STATE_FORMAT) != 0)
        rc = al_err_set(e, AL_EINVAL, "%s is not an airlock state record", what);
    else
        rc = fill(s, json_string_value(json_object_get(a, KEY_BUNDLE_ID)),
                  json_string_value(json_object_get(a, KEY_CREATED)),
                  json_string_value(json_object_get(a, KEY_KEY_ID)),
                  json_string_value(json_object_get(a, KEY_IMPORTED)), what, e);
    json_decref(doc);
    if (rc != 0)
        memset(s, 0, sizeof(*s));
    return rc;
}

int al_state_older(const struct al_state *s, const struct al_state *newest)
{
    return s->created_t < newest->created_t;
}
