/* FILE.parts: written and read here only, so that the bytes a reader parses
 * are the bytes whose signature it checked. */
#include "airlock/parts.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airlock/buf.h"
#include "airlock/meta.h"

#define PARTS_FORMAT "airlock-parts"
#define PARTS_VERSION 1
#define SIG_PATH_MAX 4200

static char *list_text(const char *bundle_id, const struct al_bundle_parts *p)
{
    json_t *doc = json_object(), *list = json_array();
    char *text;
    size_t i;

    for (i = 0; i < p->n; i++) {
        const char *slash = strrchr(p->v[i].name, '/');
        json_array_append_new(list, json_pack("{s:s, s:I, s:s}", "name",
                                              slash ? slash + 1 : p->v[i].name, "size",
                                              (json_int_t)p->v[i].size, "digest",
                                              p->v[i].digest));
    }
    json_object_set_new(doc, "format", json_string(PARTS_FORMAT));
    json_object_set_new(doc, "version", json_integer(PARTS_VERSION));
    json_object_set_new(doc, al_meta_key_bundle_id, json_string(bundle_id));
    json_object_set_new(doc, "size", json_integer(p->size));
    json_object_set_new(doc, "digest", json_string(p->digest));
    json_object_set_new(doc, "split_size", json_integer(p->split));
    json_object_set_new(doc, "parts", list);
    text = json_dumps(doc, JSON_INDENT(1));
    json_decref(doc);
    return text;
}

int al_parts_list_write(const char *path, const char *bundle_id,
                        const struct al_bundle_parts *p, const struct al_sig_key *key,
                        struct al_err *e)
{
    char *text = list_text(bundle_id, p);
    char sig_path[SIG_PATH_MAX];
    struct al_buf sig;
    int rc = 0;

    al_buf_init(&sig, AL_PARTS_SIG_MAX);
    if (text == NULL)
        rc = al_err_set(e, AL_ENOMEM, "out of memory");
    if (rc == 0)
        rc = al_sig_path(sig_path, sizeof(sig_path), path, e);
    if (rc == 0)
        rc = al_sig_sign(key, text, strlen(text), &sig, e);
    if (rc == 0)
        rc = al_file_write_atomic(path, text, strlen(text), e);
    if (rc == 0)
        rc = al_file_write_atomic(sig_path, sig.data, sig.len, e);
    if (rc != 0)
        al_parts_list_remove(path);
    free(text);
    al_buf_release(&sig);
    return rc;
}

void al_parts_list_remove(const char *path)
{
    char sig_path[SIG_PATH_MAX];

    unlink(path);
    if (al_sig_path(sig_path, sizeof(sig_path), path, NULL) == 0)
        unlink(sig_path);
}

/* A volume list travels with its signature; an unsigned or forged one is
 * refused like a forged bundle. */
static int verify(const char *path, const struct al_buf *text,
                  const struct al_sig_key *key, struct al_err *e)
{
    char sig_path[SIG_PATH_MAX], what[SIG_PATH_MAX + 20];
    struct al_buf sig;
    int rc = al_sig_path(sig_path, sizeof(sig_path), path, e);

    if (rc != 0)
        return rc;
    snprintf(what, sizeof(what), "volume list '%s'", path);
    al_buf_init(&sig, AL_PARTS_SIG_MAX);
    if (al_buf_read_file(&sig, sig_path, e) != 0)
        rc = al_err_set(e, AL_ESIG, "volume list '%s' has no signature '%s': copy it "
                        "with the volumes", path, sig_path);
    if (rc == 0)
        rc = al_sig_verify(key, text->data, text->len, sig.data, sig.len, what, e);
    al_buf_release(&sig);
    return rc;
}

static int parse_part(struct al_bundle_part *part, json_t *v, const char *path,
                      size_t i, struct al_err *e)
{
    const char *name = json_string_value(json_object_get(v, "name"));
    const char *digest = json_string_value(json_object_get(v, "digest"));
    json_t *size = json_object_get(v, "size");

    if (name == NULL || strchr(name, '/') != NULL || digest == NULL ||
        !al_digest_valid(digest) || !json_is_integer(size) || json_integer_value(size) < 0)
        return al_err_set(e, AL_EINVAL, "'%s': part %zu is not name, size and digest",
                          path, i);
    part->name = strdup(name);
    if (part->name == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    part->size = (long long)json_integer_value(size);
    snprintf(part->digest, sizeof(part->digest), "%s", digest);
    return 0;
}

/* What describes the whole bundle is informative: taken when present. */
static int parse_whole(struct al_parts_list *l, json_t *doc, struct al_err *e)
{
    const char *id = json_string_value(json_object_get(doc, al_meta_key_bundle_id));
    const char *digest = json_string_value(json_object_get(doc, "digest"));
    json_t *size = json_object_get(doc, "size");
    json_t *split = json_object_get(doc, "split_size");

    if (id != NULL && (l->bundle_id = strdup(id)) == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    if (digest != NULL && al_digest_valid(digest))
        snprintf(l->parts.digest, sizeof(l->parts.digest), "%s", digest);
    if (json_is_integer(size))
        l->parts.size = (long long)json_integer_value(size);
    if (json_is_integer(split))
        l->parts.split = (long long)json_integer_value(split);
    return 0;
}

static int parse(struct al_parts_list *l, const struct al_buf *text, const char *path,
                 struct al_err *e)
{
    json_error_t jerr;
    json_t *doc = json_loadb(text->data, text->len, 0, &jerr), *parts, *v;
    size_t i;
    int rc = 0;

    if (doc == NULL)
        return al_err_set(e, AL_EINVAL, "'%s' is not a volume list (line %d: %s)", path,
                          jerr.line, jerr.text);
    parts = json_object_get(doc, "parts");
    if (!json_is_array(parts) || json_array_size(parts) == 0 ||
        json_array_size(parts) > AL_BUNDLE_PARTS_MAX)
        rc = al_err_set(e, AL_EINVAL, "'%s' is not a volume list (no parts)", path);
    if (rc == 0 && (l->parts.v = calloc(json_array_size(parts), sizeof(*l->parts.v))) == NULL)
        rc = al_err_set(e, AL_ENOMEM, "out of memory");
    json_array_foreach(parts, i, v) {
        if (rc != 0)
            break;
        rc = parse_part(&l->parts.v[i], v, path, i, e);
        if (rc == 0)
            l->parts.n++;
    }
    if (rc == 0)
        rc = parse_whole(l, doc, e);
    json_decref(doc);
    return rc;
}

int al_parts_list_read(struct al_parts_list *l, const char *path,
                       const struct al_sig_key *key, struct al_err *e)
{
    struct al_buf text;
    int rc;

    memset(l, 0, sizeof(*l));
    al_buf_init(&text, AL_PARTS_LIST_MAX);
    rc = al_buf_read_file(&text, path, e);
    if (rc == 0 && key != NULL)
        rc = verify(path, &text, key, e);
    if (rc == 0)
        rc = parse(l, &text, path, e);
    al_buf_release(&text);
    if (rc != 0)
        al_parts_list_release(l);
    return rc;
}

void al_parts_list_release(struct al_parts_list *l)
{
    free(l->bundle_id);
    al_bundle_parts_release(&l->parts);
    memset(l, 0, sizeof(*l));
}
