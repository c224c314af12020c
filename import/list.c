/* --list: what a bundle holds, from bundle.json and its signature (the first
 * two entries), so that a bundle of any size is listed at once and no
 * registry is needed. */
#include "import.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "../cli/cli.h"
#include "airlock/bundle.h"
#include "airlock/json.h"
#include "airlock/manifest.h"

#define SIG_MAX (64 * 1024)
#define SHORT_DIGEST 19   /* "sha256:" and 12 hex */

/* The next entry must be `want`, read whole into `out` (at most `max`). */
static int read_entry(struct al_bundle_reader *br, const char *want, size_t max,
                      struct al_buf *out, struct al_err *e)
{
    const char *label = al_bundle_reader_label(br), *name;
    long long size;
    int rc = al_bundle_reader_next(br, &name, &size, e);

    if (rc < 0)
        return rc;
    if (rc == 0)
        return al_err_set(e, AL_EINVAL, "%s ends before '%s': it is truncated or not "
                          "an airlock bundle", label, want);
    if (strcmp(name, want) != 0)
        return al_err_set(e, AL_EINVAL, "%s is not an airlock bundle: its entry '%s' "
                          "comes where '%s' should; give a bundle written by "
                          "airlock-export", label, name, want);
    if (size > (long long)max)
        return al_err_set(e, AL_ETOOBIG, "%s: '%s' declares %lld bytes, more than the "
                          "%zu allowed", label, want, size, max);
    al_buf_init(out, max);
    return al_bundle_reader_read_all(br, out, e);
}

static int check_signature(struct im_listing *l, const struct al_sig_key *key,
                           const char *label, const struct al_buf *sig,
                           struct al_err *e)
{
    char what[400];
    int rc;

    snprintf(what, sizeof(what), "bundle.json of %s", label);
    if (key == NULL)
        return al_sig_doc_key_id(sig->data, sig->len, l->key_id, what, e);
    rc = al_sig_verify(key, l->meta_text.data, l->meta_text.len, sig->data, sig->len,
                       what, e);
    if (rc == 0) {
        snprintf(l->key_id, sizeof(l->key_id), "%s", al_sig_key_id(key));
        l->verified = 1;
    }
    return rc;
}

static int read_head(struct im_listing *l, struct al_bundle_reader *br,
                     const struct al_sig_key *key, struct al_err *e)
{
    const char *label = al_bundle_reader_label(br);
    const char *list = al_bundle_reader_parts_list(br);
    char what[400];
    struct al_buf sig;
    int rc = read_entry(br, AL_BUNDLE_META, AL_BUNDLE_META_MAX, &l->meta_text, e);

    al_buf_init(&sig, SIG_MAX);
    if (rc == 0)
        rc = read_entry(br, AL_BUNDLE_SIG, SIG_MAX, &sig, e);
    if (rc == 0)
        rc = check_signature(l, key, label, &sig, e);
    al_buf_release(&sig);
    snprintf(what, sizeof(what), "bundle.json of %s", label);
    if (rc == 0)
        rc = al_bundle_meta_parse(&l->meta, l->meta_text.data, l->meta_text.len, what, e);
    if (rc == 0 && list != NULL && (l->parts_list = strdup(list)) == NULL)
        rc = al_err_set(e, AL_ENOMEM, "out of memory");
    return rc;
}

int im_list_read(struct im_listing *l, const char *path, const char *verify_key,
                 struct al_err *e)
{
    struct al_sig_key *key = NULL;
    struct al_bundle_reader *br = NULL;
    int rc = 0;

    memset(l, 0, sizeof(*l));
    al_buf_init(&l->meta_text, AL_BUNDLE_META_MAX);
    if (verify_key != NULL)
        rc = al_sig_key_load_public(&key, verify_key, e);
    if (rc == 0)
        rc = al_bundle_reader_open_signed(&br, path, key, e);
    if (rc == 0)
        rc = read_head(l, br, key, e);
    al_bundle_reader_free(br);
    al_sig_key_free(key);
    return rc;
}

void im_listing_release(struct im_listing *l)
{
    al_bundle_meta_release(&l->meta);
    al_buf_release(&l->meta_text);
    free(l->parts_list);
    memset(l, 0, sizeof(*l));
}

/* ---- what the model says, computed once for text and JSON ---- */

static long long image_bytes(const struct al_bundle_meta *m, const struct al_meta_image *img)
{
    long long n = 0;
    size_t i;

    for (i = 0; i < img->n_blobs; i++)
        n += m->blobs[img->blobs[i]].size;
    for (i = 0; i < img->n_manifests; i++)
        n += img->manifests[i].size;
    return n;
}

/* Platforms carried: the child manifests of an index, or 1. */
static size_t image_platforms(const struct al_meta_image *img)
{
    if (al_media_type_is_index(img->media_type) && img->n_manifests > 1)
        return img->n_manifests - 1;
    return 1;
}

struct totals {
    long long carried_bytes, relied_bytes;
    size_t relied;
    const char **bases;       /* the distinct bundle ids relied on */
    size_t n_bases;
};

static int totals_fill(const struct al_bundle_meta *m, struct totals *t)
{
    size_t i, j;

    memset(t, 0, sizeof(*t));
    for (i = 0; i < m->n_carried; i++)
        t->carried_bytes += m->blobs[i].size;
    t->relied = m->n_blobs - m->n_carried;
    t->bases = calloc(t->relied + 1, sizeof(*t->bases));
    if (t->bases == NULL)
        return -1;
    for (i = m->n_carried; i < m->n_blobs; i++) {
        const char *id = m->blobs[i].bundle_id ? m->blobs[i].bundle_id : "?";
        t->relied_bytes += m->blobs[i].size;
        for (j = 0; j < t->n_bases && strcmp(t->bases[j], id) != 0; j++)
            ;
        if (j == t->n_bases)
            t->bases[t->n_bases++] = id;
    }
    return 0;
}

/* ---- JSON ---- */

static json_t *images_json(const struct al_bundle_meta *m)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; i < m->n_images; i++) {
        const struct al_meta_image *img = &m->images[i];
        json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:I, s:I}", "name", img->name,
                              "digest", img->digest, "media_type", img->media_type,
                              "tags", al_json_strings(img->tags, img->n_tags),
                              "platforms", (json_int_t)image_platforms(img),
                              "bytes", (json_int_t)image_bytes(m, img));
        if (o != NULL) {
            json_object_set_new(o, "role", img->role ? json_string(img->role) : json_null());
            json_object_set_new(o, "source", img->source ? json_string(img->source)
                                                         : json_null());
        }
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *failed_json(const struct al_bundle_meta *m)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; i < m->n_failed; i++)
        json_array_append_new(a, json_pack("{s:s, s:s, s:o}", "name", m->failed[i].name,
                                           "reason", m->failed[i].reason ?
                                           m->failed[i].reason : "",
                                           "tags", al_json_strings(m->failed[i].tags,
                                                                   m->failed[i].n_tags)));
    return a;
}

static json_t *opt_string(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *release_json(const struct al_bundle_meta *m)
{
    if (m->release == NULL)
        return json_null();
    return json_pack("{s:s, s:o, s:o}", "pull_spec", m->release, "digest",
                     opt_string(m->release_digest), "arch", opt_string(m->release_arch));
}

static json_t *relies_json(const struct totals *t)
{
    json_t *ids = json_array();
    size_t i;

    for (i = 0; i < t->n_bases; i++)
        json_array_append_new(ids, json_string(t->bases[i]));
    return json_pack("{s:I, s:I, s:o}", "blobs", (json_int_t)t->relied, "bytes",
                     (json_int_t)t->relied_bytes, "bundle_ids", ids);
}

char *im_list_json(const struct im_listing *l)
{
    const struct al_bundle_meta *m = &l->meta;
    struct totals t;
    json_t *doc;
    char *text;

    if (totals_fill(m, &t) != 0)
        return NULL;
    doc = json_pack("{s:s, s:o, s:o, s:{s:s, s:b}, s:o, s:o, s:o, s:o, s:o, s:o, s:{s:I, "
                    "s:I, s:I, s:I}}",
                    al_meta_key_bundle_id, m->id, "created", opt_string(m->created),
                    "generator", opt_string(m->generator), "signature", "key_id",
                    l->key_id, "verified", l->verified, "parts_list",
                    opt_string(l->parts_list), "release", release_json(m),
                    "must_gather", opt_string(m->must_gather), "images", images_json(m),
                    "failed", failed_json(m), "relies_on", relies_json(&t), "totals",
                    "images", (json_int_t)m->n_images, "images_failed",
                    (json_int_t)m->n_failed, "blobs", (json_int_t)m->n_carried,
                    "blob_bytes", (json_int_t)t.carried_bytes);
    text = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
    json_decref(doc);
    free(t.bases);
    return text;
}

/* ---- text ---- */

enum cut { CUT_TAIL, CUT_HEAD };

/* `s` in at most `w` columns (0: any), padded unless last; a longer one
 * keeps its end (CUT_TAIL: "...ubi8/ruby-31:latest") or its start. */
static void put_cell(FILE *out, const char *s, size_t w, int last, enum cut cut)
{
    size_t n = strlen(s);

    if (w == 0 || n <= w) {
        fputs(s, out);
        if (!last)
            fprintf(out, "%*s", (int)(w > n ? w - n : 0), "");
        return;
    }
    if (w < 4)
        fprintf(out, "%.*s", (int)w, s);
    else if (cut == CUT_TAIL)
        fprintf(out, "...%s", s + n - (w - 3));
    else
        fprintf(out, "%.*s...", (int)(w - 3), s);
}

/* `text` after a 13-column key, wrapped at spaces to `width` (0: any). */
static void put_wrapped(FILE *out, const char *text, size_t width)
{
    size_t avail = width > 13 + 20 ? width - 13 : 0, n = strlen(text), cut;

    while (avail > 0 && n > avail) {
        for (cut = avail; cut > 0 && text[cut] != ' '; cut--)
            ;
        cut = cut == 0 ? avail : cut;
        fprintf(out, "%.*s\n%13s", (int)cut, text, "");
        text += cut + (text[cut] == ' ');
        n = strlen(text);
    }
    fputs(text, out);
}

static void field(FILE *out, size_t width, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void field(FILE *out, size_t width, const char *key, const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(out, "%-12s ", key);
    put_wrapped(out, line, width);
    fputc('\n', out);
}

static void print_head(const struct im_listing *l, const struct totals *t, FILE *out,
                       size_t w)
{
    const struct al_bundle_meta *m = &l->meta;
    char s1[32];
    size_t i;

    field(out, w, "bundle", "%s", m->id);
    field(out, w, "created", "%s by %s", m->created ? m->created : "?",
          m->generator ? m->generator : "?");
    if (l->verified)
        field(out, w, "signature", "verified: signed by key %s", l->key_id);
    else
        field(out, w, "signature", "NOT verified (it names key %s; give --verify-key "
              "KEY to check it)", l->key_id);
    if (l->parts_list)
        field(out, w, "volumes", "listed in '%s'", l->parts_list);
    field(out, w, "release", "%s", m->release ? m->release : "none");
    if (m->release_digest)
        field(out, w, "", "%s%s%s", m->release_digest, m->release_arch ? ", " : "",
              m->release_arch ? m->release_arch : "");
    field(out, w, "must-gather", "%s", m->must_gather ? m->must_gather : "none");
    if (t->relied == 0) {
        field(out, w, "increment", "no: relies on no other bundle");
        return;
    }
    field(out, w, "increment", "yes: relies on %zu blobs (%s) of %zu earlier bundle%s "
          "that must be imported first", t->relied,
          cli_human_size(t->relied_bytes, s1, sizeof(s1)), t->n_bases,
          t->n_bases == 1 ? "" : "s");
    for (i = 0; i < t->n_bases; i++)
        field(out, w, i == 0 ? "based on" : "", "%s", t->bases[i]);
}

/* Column widths: digest, platforms and size fixed; name and tags share
 * the rest, the name first. */
static void columns(const struct al_bundle_meta *m, size_t width, size_t *wn,
                    size_t *wt)
{
    size_t i, name = 5, tags = 4, rest;

    for (i = 0; i < m->n_images; i++) {
        size_t n = strlen(m->images[i].name), t = 0, j;
        for (j = 0; j < m->images[i].n_tags; j++)
            t += strlen(m->images[i].tags[j]) + (j > 0);
        name = n > name ? n : name;
        tags = t > tags ? t : tags;
    }
    *wn = name;
    *wt = tags;
    if (width == 0)
        return;
    rest = width > SHORT_DIGEST + 5 + 11 + 4 + 10 ? width - (SHORT_DIGEST + 5 + 11 + 4) : 10;
    if (*wn + *wt > rest) {   /* the name first; the tags keep a quarter */
        *wt = *wt < rest / 4 ? *wt : rest / 4;
        *wn = rest - *wt < *wn ? rest - *wt : *wn;
        *wt = rest - *wn;
    }
}

static void print_image(const struct al_bundle_meta *m, const struct al_meta_image *img,
                        FILE *out, size_t wn, size_t wt)
{
    char tags[1024] = "", size[32];
    size_t j, at = 0;

    for (j = 0; j < img->n_tags && at < sizeof(tags) - 1; j++)
        at += (size_t)snprintf(tags + at, sizeof(tags) - at, "%s%s", j ? "," : "",
                               img->tags[j]);
    if (img->n_tags == 0)
        snprintf(tags, sizeof(tags), "-");
    put_cell(out, img->name, wn, 0, CUT_TAIL);
    fprintf(out, " %.*s ", SHORT_DIGEST, img->digest);
    put_cell(out, tags, wt, 0, CUT_HEAD);
    fprintf(out, " %4zu %10s\n", image_platforms(img),
            cli_human_size(image_bytes(m, img), size, sizeof(size)));
}

void im_list_print(const struct im_listing *l, FILE *out, size_t width)
{
    const struct al_bundle_meta *m = &l->meta;
    struct totals t;
    char s1[32], s2[32];
    size_t i, wn, wt;

    if (totals_fill(m, &t) != 0)
        return;
    print_head(l, &t, out, width);
    columns(m, width, &wn, &wt);
    fputc('\n', out);
    put_cell(out, "IMAGE", wn, 0, CUT_HEAD);
    fprintf(out, " %-*s ", SHORT_DIGEST, "DIGEST");
    put_cell(out, "TAGS", wt, 0, CUT_HEAD);
    fprintf(out, " %4s %10s\n", "PLAT", "SIZE");
    for (i = 0; i < m->n_images; i++)
        print_image(m, &m->images[i], out, wn, wt);
    if (m->n_failed > 0)
        fprintf(out, "\nfailed (not in the bundle): %zu\n", m->n_failed);
    for (i = 0; i < m->n_failed; i++) {
        char line[1024];
        snprintf(line, sizeof(line), "%s: %s", m->failed[i].name,
                 m->failed[i].reason ? m->failed[i].reason : "unknown reason");
        fprintf(out, "%13s", "");
        put_wrapped(out, line, width);
        fputc('\n', out);
    }
    fputc('\n', out);
    field(out, width, "total", "%zu images, %zu failed", m->n_images, m->n_failed);
    field(out, width, "", "%zu blobs carried (%s), %zu relied on (%s)", m->n_carried,
          cli_human_size(t.carried_bytes, s1, sizeof(s1)), t.relied,
          cli_human_size(t.relied_bytes, s2, sizeof(s2)));
    free(t.bases);
}
