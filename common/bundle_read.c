/* The bundle reader: file descriptor -> zstd decoder -> libarchive tar.
 *
 * zstd is decoded here rather than by libarchive's filter because the
 * reader must tell a truncated stream from a complete one and must see what
 * lies after the end of the tar archive; libarchive stops reading at the
 * end-of-archive blocks and says nothing about the rest. */
#include "airlock/bundle.h"

#include "airlock/buf.h"
#include "airlock/digest.h"
#include "airlock/parts.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>
#include <zstd_errors.h>

/* Zero padding accepted after the end-of-archive blocks (tar writers pad to
 * their record size, 10 KiB by default). */
#define TRAILER_ZEROS_MAX (1024 * 1024)

struct volume {
    char *path;
    long long size;                  /* -1: unknown (no list) */
    char digest[AL_DIGEST_STR_MAX];  /* "" : unknown */
};

struct al_bundle_reader {
    struct archive *a;
    int fd;
    int own_fd;
    /* volumes: the bundle given as PATH.000, PATH.001, ... */
    struct volume *vols;
    size_t n_vols, cur;
    int discover;                    /* no list: look for the next one */
    char *base;                      /* PATH, for discovering volumes */
    char *list_path;                 /* the .parts list used, or NULL */
    const struct al_sig_key *key;    /* checks the list; NULL: unchecked */
    struct al_sha256 *vol_sha;
    long long vol_bytes;
    char label[300];
    ZSTD_DStream *zs;
    unsigned char *in;        /* compressed input */
    size_t in_cap;
    ZSTD_inBuffer zin;
    unsigned char *out;       /* decompressed bytes handed to libarchive */
    size_t out_cap;
    size_t last_len;          /* length of the last block handed over */
    long long delivered;      /* decompressed bytes handed to libarchive */
    long long raw_bytes;      /* compressed bytes read */
    int input_eof;
    int frame_done;
    int src_failed;           /* src_err holds the cause */
    struct al_err src_err;
    int ended;
    char name[AL_BUNDLE_NAME_MAX + 1];
};

const char *al_bundle_reader_label(const struct al_bundle_reader *r)
{
    return r->label;
}

long long al_bundle_reader_bytes(const struct al_bundle_reader *r)
{
    return r->raw_bytes;
}

static int src_fail(struct al_bundle_reader *r, int code, const char *why)
{
    r->src_failed = 1;
    al_err_set(&r->src_err, code, "%s %s", r->label, why);
    return -1;
}

static int open_volume(struct al_bundle_reader *r, size_t i)
{
    r->fd = open(r->vols[i].path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        r->src_failed = 1;
        if (errno == ENOENT)
            return al_err_set(&r->src_err, AL_EIO, "%s: volume '%s' is missing: copy "
                              "it next to the others", r->label, r->vols[i].path);
        return al_err_sys(&r->src_err, AL_EIO, errno, "cannot open volume '%s'",
                          r->vols[i].path);
    }
    r->own_fd = 1;
    r->cur = i;
    r->vol_bytes = 0;
    return 0;
}

/* The volume just read to its end must be the one the list describes. */
static int check_volume(struct al_bundle_reader *r)
{
    const struct volume *v = &r->vols[r->cur];
    char got[AL_DIGEST_STR_MAX];

    al_sha256_final(r->vol_sha, got);
    if (v->size < 0 || (v->size == r->vol_bytes && strcmp(v->digest, got) == 0))
        return 0;
    r->src_failed = 1;
    return al_err_set(&r->src_err, AL_EINVAL,
                      "%s: volume '%s' is damaged or from another bundle (%lld bytes, "
                      "%s; '%s' lists %lld bytes, %s): copy or re-burn that volume",
                      r->label, v->path, r->vol_bytes, got, r->list_path, v->size,
                      v->digest);
}

/* The stream broke in the current volume: read the rest of it, so that a
 * damaged or foreign volume is named rather than "corrupt". Returns -1 with
 * src_err set when the volume is the culprit. */
static int blame_volume(struct al_bundle_reader *r)
{
    ssize_t k;

    if (r->vols[r->cur].size < 0)
        return 0;
    while ((k = read(r->fd, r->in, r->in_cap)) > 0) {
        al_sha256_update(r->vol_sha, r->in, (size_t)k);
        r->vol_bytes += k;
    }
    return check_volume(r);
}

/* Appends PATH.NNN when it exists (volumes found without a list). */
static int discover_next(struct al_bundle_reader *r, int *found)
{
    size_t n = strlen(r->base) + 16;
    struct volume *grown;
    char *path = malloc(n);

    *found = 0;
    if (path == NULL)
        return -1;
    snprintf(path, n, "%s.%03zu", r->base, r->n_vols);
    if (access(path, F_OK) != 0 || r->n_vols >= AL_BUNDLE_PARTS_MAX) {
        free(path);
        return 0;
    }
    grown = realloc(r->vols, (r->n_vols + 1) * sizeof(*grown));
    if (grown == NULL) {
        free(path);
        return -1;
    }
    r->vols = grown;
    r->vols[r->n_vols].path = path;
    r->vols[r->n_vols].size = -1;
    r->vols[r->n_vols].digest[0] = '\0';
    r->n_vols++;
    *found = 1;
    return 0;
}

/* At the end of one volume: check it and go on with the next, if any. */
static int next_volume(struct al_bundle_reader *r, int *more)
{
    int found = 0;

    *more = 0;
    if (check_volume(r) != 0)
        return -1;
    if (r->cur + 1 >= r->n_vols && r->discover && discover_next(r, &found) != 0) {
        r->src_failed = 1;
        return al_err_set(&r->src_err, AL_ENOMEM, "out of memory");
    }
    if (r->cur + 1 >= r->n_vols)
        return 0;
    close(r->fd);
    r->fd = -1;
    if (open_volume(r, r->cur + 1) != 0)
        return -1;
    *more = 1;
    return 0;
}

/* Fills the compressed input buffer; 0 bytes at the end of the last volume. */
static int fill_input(struct al_bundle_reader *r)
{
    ssize_t k;
    int more;

    for (;;) {
        do
            k = read(r->fd, r->in, r->in_cap);
        while (k < 0 && errno == EINTR);
        if (k < 0) {
            r->src_failed = 1;
            return al_err_sys(&r->src_err, AL_EIO, errno, "cannot read %s", r->label);
        }
        if (k > 0 || r->n_vols == 0)
            break;
        if (next_volume(r, &more) != 0)
            return -1;
        if (!more)
            break;
    }
    if (r->n_vols > 0)
        al_sha256_update(r->vol_sha, r->in, (size_t)k);
    r->vol_bytes += k;
    r->zin.src = r->in;
    r->zin.size = (size_t)k;
    r->zin.pos = 0;
    r->raw_bytes += k;
    if (k == 0)
        r->input_eof = 1;
    return 0;
}

/* After the zstd frame: nothing may follow, not even another frame. */
static int check_after_frame(struct al_bundle_reader *r)
{
    if (r->zin.pos < r->zin.size)
        return src_fail(r, AL_EINVAL, "has data after the end of its zstd stream");
    if (fill_input(r) != 0)
        return -1;
    if (!r->input_eof)
        return src_fail(r, AL_EINVAL, "has data after the end of its zstd stream");
    return 0;
}

/* What a file that does not start a zstd stream looks like, from its first
 * bytes (in r->in), for the message that says it is not a bundle. */
static const char *looks_like(const struct al_bundle_reader *r)
{
    const unsigned char *p = r->in;
    size_t n = r->zin.size, i = 0;
    const char *path = r->n_vols > 0 ? r->vols[r->cur].path : r->label;
    size_t len = strlen(path);

    if (r->n_vols == 0 && len > 0 && path[len - 1] == '\'')
        len--;   /* the label: "bundle 'FILE'" */
    if (r->cur > 0 || (len > 4 && path[len - 4] == '.' && strspn(path + len - 3,
                       "0123456789") >= 3 && strncmp(path + len - 3, "000", 3) != 0))
        return "a later volume of a split bundle (it does not start a zstd stream)";
    if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b)
        return "a gzip file";
    if (n >= 6 && memcmp(p, "\xfd" "7zXZ", 5) == 0)
        return "an xz file";
    if (n >= 3 && memcmp(p, "BZh", 3) == 0)
        return "a bzip2 file";
    if (n >= 262 && memcmp(p + 257, "ustar", 5) == 0)
        return "a plain, uncompressed tar archive";
    while (i < n && strchr(" \t\r\n", p[i]) != NULL)
        i++;
    if (i < n && (p[i] == '{' || p[i] == '['))
        return "JSON text (a bundle.json, signature or receipt?)";
    return "something else: it does not start with a zstd frame";
}

/* The first bytes are not zstd at all: say what they look like and what
 * to give instead. */
static int not_a_bundle(struct al_bundle_reader *r)
{
    char why[600];

    snprintf(why, sizeof(why), "is not an airlock bundle: it looks like %s; give the "
             ".tar.zst file airlock-export wrote, or for a split bundle its list "
             "FILE.parts or its first volume FILE.000", looks_like(r));
    return src_fail(r, AL_EINVAL, why);
}

/* Decodes the next block of tar bytes into r->out; 0 bytes at the end. */
static int decode_block(struct al_bundle_reader *r, size_t *len)
{
    ZSTD_outBuffer zout = {r->out, r->out_cap, 0};
    size_t ret;

    *len = 0;
    while (zout.pos == 0 && !r->frame_done) {
        if (r->zin.pos == r->zin.size) {
            if (fill_input(r) != 0)
                return -1;
            if (r->input_eof && r->raw_bytes == 0)
                return src_fail(r, AL_EINVAL, "is empty");
            if (r->input_eof && r->n_vols > 0) {
                char why[600];
                snprintf(why, sizeof(why), "is truncated: it ends with volume '%s'; "
                         "is the next volume missing?", r->vols[r->n_vols - 1].path);
                return src_fail(r, AL_EINVAL, why);
            }
            if (r->input_eof)
                return src_fail(r, AL_EINVAL,
                                "is truncated (the zstd stream ends early): "
                                "copy it again");
        }
        ret = ZSTD_decompressStream(r->zs, &zout, &r->zin);
        if (ZSTD_isError(ret) && r->delivered == 0 && r->raw_bytes == (long long)r->zin.size &&
            ZSTD_getErrorCode(ret) == ZSTD_error_prefix_unknown)
            return not_a_bundle(r);
        if (ZSTD_isError(ret)) {
            char why[600];
            if (r->n_vols > 0 && blame_volume(r) != 0)
                return -1;
            snprintf(why, sizeof(why), "is corrupt (zstd: %s)%s%s%s", ZSTD_getErrorName(ret),
                     r->n_vols ? " in volume '" : "", r->n_vols ? r->vols[r->cur].path : "",
                     r->n_vols ? "'" : "");
            return src_fail(r, AL_EINVAL, why);
        }
        if (ret == 0) {
            r->frame_done = 1;
            if (check_after_frame(r) != 0)
                return -1;
        }
    }
    *len = zout.pos;
    return 0;
}

static la_ssize_t src_read(struct archive *a, void *ud, const void **buf)
{
    struct al_bundle_reader *r = ud;
    size_t len;

    (void)a;
    *buf = r->out;
    if (decode_block(r, &len) != 0) {
        archive_set_error(a, EINVAL, "%s", r->src_err.msg);
        return -1;
    }
    r->last_len = len;
    r->delivered += (long long)len;
    return (la_ssize_t)len;
}

static int all_zero(const unsigned char *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (p[i] != 0)
            return 0;
    return 1;
}

/* At the end-of-archive blocks: what libarchive was handed but did not
 * consume, and everything still to be decoded, must be zero padding. */
static int check_trailer(struct al_bundle_reader *r, struct al_err *e)
{
    long long consumed = archive_filter_bytes(r->a, 0);
    long long unread = r->delivered - consumed;
    long long zeros = unread;
    size_t len;

    if (unread < 0 || unread > (long long)r->last_len)
        return al_err_set(e, AL_EINVAL, "%s: cannot locate the end of the archive",
                          r->label);
    if (!all_zero(r->out + r->last_len - (size_t)unread, (size_t)unread))
        return al_err_set(e, AL_EINVAL, "%s has data after the end of the archive",
                          r->label);
    for (;;) {
        if (decode_block(r, &len) != 0) {
            if (e)
                *e = r->src_err;
            return r->src_err.code;
        }
        if (len == 0)
            return 0;
        zeros += (long long)len;
        if (!all_zero(r->out, len) || zeros > TRAILER_ZEROS_MAX)
            return al_err_set(e, AL_EINVAL,
                              "%s has data after the end of the archive", r->label);
    }
}

static int archive_failure(struct al_bundle_reader *r, const char *doing,
                           struct al_err *e)
{
    const char *why = archive_error_string(r->a);

    if (r->src_failed) {
        if (e)
            *e = r->src_err;
        return r->src_err.code;
    }
    return al_err_set(e, AL_EINVAL, "%s is not a valid bundle (%s): %s", r->label,
                      doing, why ? why : "libarchive error");
}

/* Takes the volumes of a FILE.parts list (read, and checked against its
 * signature when the reader has a key, from one read of the file), named
 * relative to the list. */
static int read_parts_list(struct al_bundle_reader *r, const char *list, struct al_err *e)
{
    struct al_parts_list l;
    char *dir_copy = strdup(list), *dir;
    size_t i;
    int rc;

    if (dir_copy == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    rc = al_parts_list_read(&l, list, r->key, e);
    if (rc == 0 && (r->vols = calloc(l.parts.n, sizeof(*r->vols))) == NULL)
        rc = al_err_set(e, AL_ENOMEM, "out of memory");
    dir = dirname(dir_copy);
    for (i = 0; rc == 0 && i < l.parts.n; i++) {
        size_t n = strlen(dir) + strlen(l.parts.v[i].name) + 2;
        r->vols[i].path = malloc(n);
        if (r->vols[i].path == NULL) {
            rc = al_err_set(e, AL_ENOMEM, "out of memory");
            break;
        }
        snprintf(r->vols[i].path, n, "%s/%s", dir, l.parts.v[i].name);
        r->vols[i].size = l.parts.v[i].size;
        memcpy(r->vols[i].digest, l.parts.v[i].digest, sizeof(r->vols[i].digest));
        r->n_vols++;
    }
    if (rc == 0 && (r->list_path = strdup(list)) == NULL)
        rc = al_err_set(e, AL_ENOMEM, "out of memory");
    al_parts_list_release(&l);
    free(dir_copy);
    return rc;
}

/* PATH.parts, or PATH.000 (with PATH.parts beside it, or without, when the
 * volumes are simply read in turn). */
static int find_volumes(struct al_bundle_reader *r, const char *path, struct al_err *e)
{
    size_t n = strlen(path);
    char *list;
    int found;

    if (al_str_ends_with(path, ".parts"))
        return read_parts_list(r, path, e);
    if (!al_str_ends_with(path, ".000"))
        return 0;
    r->base = strndup(path, n - 4);
    list = malloc(n + 8);
    if (r->base == NULL || list == NULL) {
        free(list);
        return al_err_set(e, AL_ENOMEM, "out of memory");
    }
    snprintf(list, n + 8, "%s.parts", r->base);
    if (access(list, F_OK) == 0) {
        int rc = read_parts_list(r, list, e);
        free(list);
        return rc;
    }
    free(list);
    r->discover = 1;
    if (discover_next(r, &found) != 0)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    return found ? 0 : al_err_sys(e, AL_EIO, ENOENT, "cannot open bundle '%s'", path);
}

const char *al_bundle_reader_parts_list(const struct al_bundle_reader *r)
{
    return r->list_path;
}

int al_bundle_reader_open(struct al_bundle_reader **out, const char *path,
                          struct al_err *e)
{
    return al_bundle_reader_open_signed(out, path, NULL, e);
}

int al_bundle_reader_open_signed(struct al_bundle_reader **out, const char *path,
                                 const struct al_sig_key *key, struct al_err *e)
{
    struct al_bundle_reader *r;
    int rc = 0;

    *out = NULL;
    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return al_err_set(e, AL_ENOMEM, "out of memory");
    r->fd = -1;
    r->key = key;
    if (strcmp(path, "-") == 0)
        snprintf(r->label, sizeof(r->label), "bundle on standard input");
    else
        snprintf(r->label, sizeof(r->label), "bundle '%s'", path);
    r->in_cap = ZSTD_DStreamInSize();
    r->out_cap = ZSTD_DStreamOutSize();
    r->in = malloc(r->in_cap);
    r->out = malloc(r->out_cap);
    r->zs = ZSTD_createDStream();
    r->a = archive_read_new();
    r->vol_sha = al_sha256_new();
    if (r->in == NULL || r->out == NULL || r->zs == NULL || r->a == NULL ||
        r->vol_sha == NULL) {
        rc = al_err_set(e, AL_ENOMEM, "out of memory");
        goto out;
    }
    ZSTD_initDStream(r->zs);
    if (strcmp(path, "-") == 0) {
        r->fd = STDIN_FILENO;
    } else {
        rc = find_volumes(r, path, e);
        if (rc == 0 && r->n_vols > 0) {
            rc = open_volume(r, 0);
            if (rc != 0 && e)
                *e = r->src_err;
        } else if (rc == 0) {
            r->fd = open(path, O_RDONLY | O_CLOEXEC);
            if (r->fd < 0)
                rc = al_err_sys(e, AL_EIO, errno, "cannot open bundle '%s'", path);
            r->own_fd = 1;
        }
        if (rc != 0)
            goto out;
    }
    if (archive_read_support_format_tar(r->a) != ARCHIVE_OK ||
        archive_read_open(r->a, r, NULL, src_read, NULL) != ARCHIVE_OK)
        rc = archive_failure(r, "opening", e);
out:
    if (rc != 0) {
        al_bundle_reader_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

static const char *type_name(unsigned type)
{
    switch (type) {
    case AE_IFLNK: return "a symbolic link";
    case AE_IFDIR: return "a directory";
    case AE_IFCHR: return "a character device";
    case AE_IFBLK: return "a block device";
    case AE_IFIFO: return "a FIFO";
    case AE_IFSOCK: return "a socket";
    default: return "not a regular file";
    }
}

/* Bundle entry names are relative, plain and short: no "", ".", ".."
 * components, no leading "/", no backslashes or control characters. */
static int name_safe(const char *name)
{
    const char *p = name;
    size_t n;

    if (name[0] == '\0' || name[0] == '/' || strlen(name) > AL_BUNDLE_NAME_MAX)
        return 0;
    for (; *p; p++)
        if ((unsigned char)*p < 0x21 || *p == '\\' || (unsigned char)*p >= 0x7f)
            return 0;
    for (p = name; *p; p += n + (p[n] == '/')) {
        n = strcspn(p, "/");
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        if (p[n] == '/' && p[n + 1] == '\0')
            return 0;
    }
    return 1;
}

static void printable_name(const char *raw, char *out, size_t n)
{
    size_t i, j = 0;

    for (i = 0; raw && raw[i] && j + 1 < n && i < 200; i++)
        out[j++] = ((unsigned char)raw[i] < 0x20 || (unsigned char)raw[i] >= 0x7f)
                       ? '?' : raw[i];
    out[j] = '\0';
}

static int check_entry(struct al_bundle_reader *r, struct archive_entry *ent,
                       struct al_err *e)
{
    const char *raw = archive_entry_pathname(ent);
    char shown[256];
    unsigned type = archive_entry_filetype(ent);

    printable_name(raw, shown, sizeof(shown));
    if (raw == NULL || !name_safe(raw))
        return al_err_set(e, AL_EINVAL,
                          "%s: entry '%s' has an unsafe name (absolute, '..' or "
                          "unusual characters): refused", r->label, shown);
    if (archive_entry_hardlink(ent) != NULL)
        return al_err_set(e, AL_EINVAL, "%s: entry '%s' is a hard link: refused",
                          r->label, shown);
    if (type != AE_IFREG)
        return al_err_set(e, AL_EINVAL, "%s: entry '%s' is %s: refused", r->label,
                          shown, type_name(type));
    if (!archive_entry_size_is_set(ent) || archive_entry_size(ent) < 0)
        return al_err_set(e, AL_EINVAL, "%s: entry '%s' has no size", r->label, shown);
    if (archive_entry_sparse_count(ent) > 0)
        return al_err_set(e, AL_EINVAL, "%s: entry '%s' is sparse: refused",
                          r->label, shown);
    snprintf(r->name, sizeof(r->name), "%s", raw);
    return 0;
}

int al_bundle_reader_next(struct al_bundle_reader *r, const char **name,
                          long long *size, struct al_err *e)
{
    struct archive_entry *ent;
    int ar, rc;

    *name = NULL;
    *size = 0;
    if (r->ended)
        return 0;
    ar = archive_read_next_header(r->a, &ent);
    if (ar == ARCHIVE_EOF) {
        rc = check_trailer(r, e);
        if (rc != 0)
            return rc;
        r->ended = 1;
        return 0;
    }
    if (ar != ARCHIVE_OK)
        return archive_failure(r, "reading an entry header", e);
    rc = check_entry(r, ent, e);
    if (rc != 0)
        return rc;
    *name = r->name;
    *size = archive_entry_size(ent);
    return 1;
}

int al_bundle_reader_read(struct al_bundle_reader *r, void *p, size_t n,
                          size_t *got, struct al_err *e)
{
    la_ssize_t k = archive_read_data(r->a, p, n);

    *got = 0;
    if (k < 0) {
        char doing[AL_BUNDLE_NAME_MAX + 16];
        snprintf(doing, sizeof(doing), "reading '%s'", r->name);
        return archive_failure(r, doing, e);
    }
    *got = (size_t)k;
    return 0;
}

int al_bundle_reader_read_all(struct al_bundle_reader *r, struct al_buf *b,
                              struct al_err *e)
{
    char chunk[65536];
    size_t got;
    int rc;

    do {
        rc = al_bundle_reader_read(r, chunk, sizeof(chunk), &got, e);
        if (rc == 0 && got > 0)
            rc = al_buf_append(b, chunk, got, r->name, e);
    } while (rc == 0 && got > 0);
    if (rc == 0 && b->data == NULL)
        rc = al_buf_append(b, "", 0, r->name, e);
    return rc;
}

void al_bundle_reader_free(struct al_bundle_reader *r)
{
    if (r == NULL)
        return;
    if (r->a)
        archive_read_free(r->a);
    if (r->own_fd && r->fd >= 0)
        close(r->fd);
    for (size_t i = 0; i < r->n_vols; i++)
        free(r->vols[i].path);
    free(r->vols);
    free(r->base);
    free(r->list_path);
    al_sha256_free(r->vol_sha);
    ZSTD_freeDStream(r->zs);
    free(r->in);
    free(r->out);
    free(r);
}
