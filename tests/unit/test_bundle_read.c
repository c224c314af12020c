#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airlock/bundle.h"
#include "test.h"

/* One tar entry to craft: a regular file unless `type` or `link` say not. */
struct spec {
    const char *name;
    const char *data;
    unsigned type;        /* 0: regular */
    const char *hardlink;
};

/* Writes a zstd-compressed tar with libarchive's defaults (10 KiB records,
 * so zero padding follows the end-of-archive blocks). */
static void craft(const char *path, const struct spec *s, size_t n)
{
    struct archive *a = archive_write_new();
    size_t i;

    archive_write_set_format_pax_restricted(a);
    archive_write_add_filter_zstd(a);
    if (archive_write_open_filename(a, path) != ARCHIVE_OK)
        CHECK(!"cannot create the crafted bundle");
    for (i = 0; i < n; i++) {
        struct archive_entry *ent = archive_entry_new();
        size_t len = s[i].data ? strlen(s[i].data) : 0;
        archive_entry_set_pathname(ent, s[i].name);
        archive_entry_set_filetype(ent, s[i].type ? s[i].type : AE_IFREG);
        archive_entry_set_perm(ent, 0644);
        if (s[i].type == AE_IFLNK)
            archive_entry_set_symlink(ent, "/etc/passwd");
        if (s[i].hardlink)
            archive_entry_set_hardlink(ent, s[i].hardlink);
        archive_entry_set_size(ent, s[i].type || s[i].hardlink ? 0 : (la_int64_t)len);
        archive_write_header(a, ent);
        if (len > 0 && !s[i].type && !s[i].hardlink)
            archive_write_data(a, s[i].data, len);
        archive_entry_free(ent);
    }
    archive_write_close(a);
    archive_write_free(a);
}

/* Reads every entry; returns the code of the first failure (0: clean end)
 * and leaves its message in e. */
static int read_all(const char *path, int *entries, struct al_err *e)
{
    struct al_bundle_reader *r = NULL;
    struct al_buf b;
    const char *name;
    long long size;
    int rc;

    *entries = 0;
    al_err_init(e);
    rc = al_bundle_reader_open(&r, path, e);
    while (rc == 0) {
        rc = al_bundle_reader_next(r, &name, &size, e);
        if (rc <= 0)
            break;
        (*entries)++;
        al_buf_init(&b, 1 << 20);
        rc = al_bundle_reader_read_all(r, &b, e);
        if (rc == 0 && (long long)b.len != size)
            rc = -100;
        al_buf_release(&b);
    }
    al_bundle_reader_free(r);
    return rc;
}

static char *tmp(const char *name)
{
    static char path[400];
    snprintf(path, sizeof(path), "%s/%s", test_tmpdir(), name);
    return path;
}

TEST(bundle_reader_reads_the_writers_bundle_back)
{
    struct al_bundle_writer *w = NULL;
    struct al_bundle_reader *r = NULL;
    struct al_err e;
    const char *name;
    long long size;
    char buf[16];
    size_t got;
    char *path = tmp("rt.tar.zst");

    al_err_init(&e);
    CHECK_INT(al_bundle_writer_open(&w, path, 1700000000, 3, &e), 0);
    CHECK_INT(al_bundle_writer_add(w, "bundle.json", "{}", 2, &e), 0);
    CHECK_INT(al_bundle_writer_add(w, "blobs/sha256/ab", "hello", 5, &e), 0);
    CHECK_INT(al_bundle_writer_commit(w, &e), 0);

    CHECK_INT(al_bundle_reader_open(&r, path, &e), 0);
    CHECK_INT(al_bundle_reader_next(r, &name, &size, &e), 1);
    CHECK_STR(name, "bundle.json");
    CHECK_INT(size, 2);
    CHECK_INT(al_bundle_reader_next(r, &name, &size, &e), 1);
    CHECK_STR(name, "blobs/sha256/ab");
    CHECK_INT(al_bundle_reader_read(r, buf, sizeof(buf), &got, &e), 0);
    CHECK_INT(got, 5);
    CHECK(memcmp(buf, "hello", 5) == 0);
    CHECK_INT(al_bundle_reader_read(r, buf, sizeof(buf), &got, &e), 0);
    CHECK_INT(got, 0);
    CHECK_INT(al_bundle_reader_next(r, &name, &size, &e), 0);
    CHECK_INT(al_bundle_reader_next(r, &name, &size, &e), 0);
    CHECK(al_bundle_reader_bytes(r) > 0);
    al_bundle_reader_free(r);
    unlink(path);
}

TEST(bundle_reader_accepts_record_padding_from_other_tar_writers)
{
    struct spec s[] = {{"bundle.json", "{}", 0, NULL}, {"blobs/sha256/x", "abc", 0, NULL}};
    struct al_err e;
    int n;

    craft(tmp("padded.tar.zst"), s, 2);
    CHECK_INT(read_all(tmp("padded.tar.zst"), &n, &e), 0);
    CHECK_INT(n, 2);
}

static void expect_refused(const struct spec *s, size_t n, const char *needle)
{
    struct al_err e;
    int entries;

    craft(tmp("bad.tar.zst"), s, n);
    CHECK(read_all(tmp("bad.tar.zst"), &entries, &e) < 0);
    CHECK(strstr(e.msg, needle) != NULL);
    if (strstr(e.msg, needle) == NULL)
        fprintf(stderr, "  message was: %s\n", e.msg);
}

TEST(bundle_reader_refuses_hostile_entries)
{
    struct spec dotdot[] = {{"a", "1", 0, NULL}, {"../etc/x", "1", 0, NULL}};
    struct spec inner[] = {{"blobs/../../x", "1", 0, NULL}};
    struct spec absolute[] = {{"/etc/passwd", "1", 0, NULL}};
    struct spec dot[] = {{"./bundle.json", "1", 0, NULL}};
    struct spec empty_comp[] = {{"blobs//x", "1", 0, NULL}};
    struct spec symlink[] = {{"link", NULL, AE_IFLNK, NULL}};
    struct spec dir[] = {{"blobs/", NULL, AE_IFDIR, NULL}};
    struct spec fifo[] = {{"fifo", NULL, AE_IFIFO, NULL}};
    struct spec chr[] = {{"dev", NULL, AE_IFCHR, NULL}};
    struct spec hard[] = {{"a", "1", 0, NULL}, {"b", NULL, 0, "a"}};
    struct spec ctrl[] = {{"a\nb", "1", 0, NULL}};

    expect_refused(dotdot, 2, "entry '../etc/x' has an unsafe name");
    expect_refused(inner, 1, "unsafe name");
    expect_refused(absolute, 1, "unsafe name");
    expect_refused(dot, 1, "unsafe name");
    expect_refused(empty_comp, 1, "unsafe name");
    expect_refused(symlink, 1, "is a symbolic link");
    expect_refused(dir, 1, "unsafe name");
    expect_refused(fifo, 1, "is a FIFO");
    expect_refused(chr, 1, "is a character device");
    expect_refused(hard, 2, "is a hard link");
    expect_refused(ctrl, 1, "entry 'a?b' has an unsafe name");
}

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        CHECK(!"cannot write a test file");
        return;
    }
    fwrite(p, 1, n, f);
    fclose(f);
}

TEST(bundle_reader_tells_truncated_corrupt_and_trailing_apart)
{
    struct spec s[] = {{"bundle.json", "{\"a\": \"some text that compresses\"}", 0, NULL},
                       {"blobs/sha256/x", "0123456789012345678901234567890123456789", 0, NULL}};
    struct al_err e;
    size_t len;
    char *good, *copy;
    int n;

    craft(tmp("good.tar.zst"), s, 2);
    good = test_read_file(tmp("good.tar.zst"), &len);

    write_bytes(tmp("t.tar.zst"), good, len - 5);
    CHECK(read_all(tmp("t.tar.zst"), &n, &e) < 0);
    CHECK(strstr(e.msg, "is truncated") != NULL);

    write_bytes(tmp("t.tar.zst"), "", 0);
    CHECK(read_all(tmp("t.tar.zst"), &n, &e) < 0);
    CHECK(strstr(e.msg, "is empty") != NULL);

    write_bytes(tmp("t.tar.zst"), "this is not zstd at all", 23);
    CHECK(read_all(tmp("t.tar.zst"), &n, &e) < 0);
    CHECK(strstr(e.msg, "is not an airlock bundle: it looks like something else") != NULL);

    write_bytes(tmp("t.tar.zst"), "\x1f\x8b\x08\x00", 4);
    CHECK(read_all(tmp("t.tar.zst"), &n, &e) < 0);
    CHECK(strstr(e.msg, "is not an airlock bundle: it looks like a gzip file") != NULL);

    memcpy(copy = malloc(len), good, len);
    copy[len / 2] ^= 0x55;   /* a zstd stream damaged later is corrupt, not foreign */
    write_bytes(tmp("t.tar.zst"), copy, len);
    CHECK(read_all(tmp("t.tar.zst"), &n, &e) < 0);
    CHECK(strstr(e.msg, "not an airlock bundle") == NULL);
    free(copy);

    copy = malloc(len + 3);
    memcpy(copy, good, len);
    memcpy(copy + len, "xyz", 3);
    write_bytes(tmp("t.tar.zst"), copy, len + 3);
    CHECK(read_all(tmp("t.tar.zst"), &n, &e) < 0);
    CHECK(strstr(e.msg, "data after the end of its zstd stream") != NULL);

    free(copy);
    free(good);
    unlink(tmp("t.tar.zst"));
    unlink(tmp("good.tar.zst"));
    unlink(tmp("bad.tar.zst"));
    unlink(tmp("padded.tar.zst"));
}

TEST(bundle_reader_names_the_missing_file)
{
    struct al_bundle_reader *r = NULL;
    struct al_err e;

    al_err_init(&e);
    CHECK(al_bundle_reader_open(&r, "/nonexistent/b.tar.zst", &e) < 0);
    CHECK(r == NULL);
    CHECK(strstr(e.msg, "cannot open bundle '/nonexistent/b.tar.zst'") != NULL);
}
