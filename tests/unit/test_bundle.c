#include <archive.h>
#include <archive_entry.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "airlock/bundle.h"
#include "airlock/digest.h"
#include "test.h"

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* Whether a temporary PATH.partial.XXXXXX of `path` exists. */
static int partial_exists(const char *path)
{
    char pattern[400];
    glob_t g;
    int found;

    snprintf(pattern, sizeof(pattern), "%s.partial.*", path);
    found = glob(pattern, 0, NULL, &g) == 0 && g.gl_pathc == 1;
    globfree(&g);
    return found;
}

TEST(bundle_writer_commit_renames_and_reads_back)
{
    char path[300];
    struct al_bundle_writer *w = NULL;
    struct al_err e;
    struct archive *a;
    struct archive_entry *ent;
    char buf[64];
    int n = 0;

    snprintf(path, sizeof(path), "%s/b.tar.zst", test_tmpdir());
    al_err_init(&e);
    CHECK_INT(al_bundle_writer_open(&w, path, 1700000000, 3, &e), 0);
    CHECK(partial_exists(path) && !exists(path));
    CHECK_INT(al_bundle_writer_add(w, "bundle.json", "{}", 2, &e), 0);
    CHECK_INT(al_bundle_writer_begin(w, "blobs/sha256/x", 6, &e), 0);
    CHECK_INT(al_bundle_writer_write(w, "abc", 3, &e), 0);
    CHECK_INT(al_bundle_writer_write(w, "def", 3, &e), 0);
    CHECK_INT(al_bundle_writer_end(w, &e), 0);
    CHECK_INT(al_bundle_writer_commit(w, &e), 0);
    CHECK(exists(path) && !partial_exists(path));

    a = archive_read_new();
    archive_read_support_filter_zstd(a);
    archive_read_support_format_tar(a);
    CHECK_INT(archive_read_open_filename(a, path, 10240), ARCHIVE_OK);
    while (archive_read_next_header(a, &ent) == ARCHIVE_OK) {
        ssize_t got = archive_read_data(a, buf, sizeof(buf));
        if (n == 0) {
            CHECK_STR(archive_entry_pathname(ent), "bundle.json");
            CHECK_INT(got, 2);
        } else {
            CHECK_STR(archive_entry_pathname(ent), "blobs/sha256/x");
            CHECK_INT(got, 6);
            CHECK(memcmp(buf, "abcdef", 6) == 0);
        }
        CHECK_INT(archive_entry_mtime(ent), 1700000000);
        n++;
    }
    CHECK_INT(n, 2);
    archive_read_free(a);
    unlink(path);
}

TEST(bundle_writer_size_mismatch_and_abort)
{
    char path[300];
    struct al_bundle_writer *w = NULL;
    struct al_err e;

    snprintf(path, sizeof(path), "%s/c.tar.zst", test_tmpdir());
    al_err_init(&e);
    CHECK_INT(al_bundle_writer_open(&w, path, 0, 3, &e), 0);
    CHECK_INT(al_bundle_writer_begin(w, "blobs/sha256/y", 10, &e), 0);
    CHECK_INT(al_bundle_writer_write(w, "short", 5, &e), 0);
    CHECK(al_bundle_writer_end(w, &e) != 0);
    CHECK(strstr(e.msg, "blobs/sha256/y") != NULL);
    al_bundle_writer_abort(w);
    CHECK(!partial_exists(path) && !exists(path));
}

TEST(bundle_writer_names_an_unwritable_path)
{
    struct al_bundle_writer *w = NULL;
    struct al_err e;

    al_err_init(&e);
    CHECK(al_bundle_writer_open(&w, "/nonexistent/dir/b.tar.zst", 0, 3, &e) != 0);
    CHECK(strstr(e.msg, "/nonexistent/dir/b.tar.zst") != NULL);
}

/* Random bytes (they do not compress): n bytes from a small generator. */
static void fill_random(unsigned char *p, size_t n, unsigned seed)
{
    size_t i;

    for (i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (unsigned char)(seed >> 16);
    }
}

/* SHA-256 of a whole file, as the writer spells digests. */
static int digest_file(const char *path, char out[AL_DIGEST_STR_MAX])
{
    struct al_sha256 *h = al_sha256_new();
    unsigned char buf[65536];
    FILE *f = fopen(path, "rb");
    size_t n;

    if (f == NULL || h == NULL) {
        if (f)
            fclose(f);
        al_sha256_free(h);
        return -1;
    }
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        al_sha256_update(h, buf, n);
    fclose(f);
    al_sha256_final(h, out);
    al_sha256_free(h);
    return 0;
}

static long long file_size(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 ? (long long)st.st_size : -1;
}

/* Entries larger than the writer's output blocks, cut into volumes that do
 * not line up with the blocks: the concatenation reads back byte for byte,
 * each volume's digest is its bytes', and a single file whose digest was
 * not asked for has none. */
TEST(bundle_writer_streams_blocks_across_volumes)
{
    enum { ENTRY = 3 * 1024 * 1024 + 123, SPLIT = 700 * 1024 + 7 };
    unsigned char *data = malloc(ENTRY), *back = malloc(ENTRY);
    char path[300], single[300], cat[700], got[AL_DIGEST_STR_MAX], name[32];
    struct al_bundle_writer *w = NULL;
    struct al_bundle_parts parts;
    struct al_bundle_reader *r = NULL;
    const char *entry;
    long long size, total = 0;
    size_t i, n;
    struct al_err e;
    int k;

    CHECK(data != NULL && back != NULL);
    fill_random(data, ENTRY, 7);
    snprintf(path, sizeof(path), "%s/v.tar.zst", test_tmpdir());
    al_err_init(&e);
    CHECK_INT(al_bundle_writer_open_split(&w, path, 0, 3, SPLIT, 1, &e), 0);
    al_bundle_writer_skip_digest(w);   /* no effect on volumes */
    for (k = 0; k < 2; k++) {
        snprintf(name, sizeof(name), "blobs/sha256/%d", k);
        CHECK_INT(al_bundle_writer_begin(w, name, ENTRY, &e), 0);
        for (i = 0; i < ENTRY; i += n) {
            n = ENTRY - i < 100000 ? ENTRY - i : 100000;
            CHECK_INT(al_bundle_writer_write(w, data + i, n, &e), 0);
        }
        CHECK_INT(al_bundle_writer_end(w, &e), 0);
    }
    CHECK_INT(al_bundle_writer_commit_parts(w, &parts, &e), 0);
    CHECK(parts.n >= 9);   /* two incompressible 3 MiB entries in 700 KiB volumes */
    snprintf(cat, sizeof(cat), "%s/v.cat", test_tmpdir());
    unlink(cat);
    for (i = 0; i < parts.n; i++) {
        char cmd[1600];
        CHECK(i + 1 == parts.n ? parts.v[i].size <= SPLIT : parts.v[i].size == SPLIT);
        CHECK_INT(file_size(parts.v[i].name), parts.v[i].size);
        CHECK_INT(digest_file(parts.v[i].name, got), 0);
        CHECK_STR(parts.v[i].digest, got);
        snprintf(cmd, sizeof(cmd), "cat '%s' >> '%s'", parts.v[i].name, cat);
        CHECK_INT(system(cmd), 0);
        total += parts.v[i].size;
    }
    CHECK_INT(total, parts.size);
    CHECK_INT(digest_file(cat, got), 0);
    CHECK_STR(parts.digest, got);
    CHECK_INT(al_bundle_reader_open(&r, cat, &e), 0);
    for (k = 0; k < 2; k++) {
        CHECK_INT(al_bundle_reader_next(r, &entry, &size, &e), 1);
        CHECK_INT(size, ENTRY);
        for (i = 0; i < ENTRY; i += n) {
            CHECK_INT(al_bundle_reader_read(r, back + i, ENTRY - i, &n, &e), 0);
            if (n == 0)
                break;
        }
        CHECK_INT(i, ENTRY);
        CHECK(memcmp(back, data, ENTRY) == 0);
    }
    al_bundle_reader_free(r);
    for (i = 0; i < parts.n; i++)
        unlink(parts.v[i].name);
    al_bundle_parts_release(&parts);
    unlink(cat);

    snprintf(single, sizeof(single), "%s/s.tar.zst", test_tmpdir());
    CHECK_INT(al_bundle_writer_open(&w, single, 0, 3, &e), 0);
    al_bundle_writer_skip_digest(w);
    CHECK_INT(al_bundle_writer_add(w, "blobs/sha256/0", data, ENTRY, &e), 0);
    CHECK_INT(al_bundle_writer_commit_parts(w, &parts, &e), 0);
    CHECK_INT(parts.n, 1);
    CHECK_STR(parts.v[0].digest, "");
    CHECK_INT(file_size(single), parts.size);
    al_bundle_parts_release(&parts);
    unlink(single);
    CHECK_INT(al_bundle_writer_open(&w, single, 0, 3, &e), 0);   /* asked for */
    CHECK_INT(al_bundle_writer_add(w, "blobs/sha256/0", data, ENTRY, &e), 0);
    CHECK_INT(al_bundle_writer_commit_parts(w, &parts, &e), 0);
    CHECK_INT(digest_file(single, got), 0);
    CHECK_STR(parts.v[0].digest, got);
    CHECK_STR(parts.digest, got);
    al_bundle_parts_release(&parts);
    unlink(single);
    free(data);
    free(back);
}

/* Words picked by a small generator: bytes that zstd's high levels
 * compress markedly better than its fast one. */
static void fill_words(char *p, size_t n)
{
    static const char *const words[] = {"layer", "image", "bundle", "mirror", "digest",
                                        "manifest", "registry", "signature", "cluster",
                                        "openshift", "samples", "tarball", "verify"};
    unsigned seed = 42;
    size_t i = 0;

    while (i < n) {
        const char *w;
        seed = seed * 1103515245u + 12345u;
        w = words[(seed >> 16) % (sizeof(words) / sizeof(words[0]))];
        while (*w != '\0' && i < n)
            p[i++] = *w++;
        if (i < n)
            p[i++] = (char)(seed >> 28 & 1 ? ' ' : '\n');
    }
}

static long long one_entry_bundle(const char *path, const char *data, size_t n,
                                  int precompressed)
{
    struct al_bundle_writer *w = NULL;
    struct al_bundle_parts parts;
    struct al_err e;
    long long size = -1;

    al_err_init(&e);
    if (al_bundle_writer_open(&w, path, 0, 19, &e) != 0)
        return -1;
    if (al_bundle_writer_add(w, "bundle.json", "{}", 2, &e) != 0 ||
        al_bundle_writer_begin_compressed(w, "blobs/sha256/0", (long long)n, precompressed,
                                          &e) != 0 ||
        al_bundle_writer_write(w, data, n, &e) != 0 || al_bundle_writer_end(w, &e) != 0 ||
        al_bundle_writer_add(w, "index.json", "{}", 2, &e) != 0) {
        al_bundle_writer_abort(w);
        return -1;
    }
    if (al_bundle_writer_commit_parts(w, &parts, &e) == 0)
        size = parts.size;
    al_bundle_parts_release(&parts);
    return size;
}

/* A large entry marked as compressed already goes at zstd's fast level
 * (the bundle is larger than with the chosen level 19 throughout), in the
 * same single frame, and reads back the same. */
TEST(bundle_writer_compressed_entries_go_at_the_fast_level)
{
    enum { N = 2 * 1024 * 1024 };
    char *data = malloc(N), *back = malloc(N);
    char fast[300], slow[300];
    struct al_bundle_reader *r = NULL;
    const char *name;
    long long a, b, size;
    size_t got, i;
    struct al_err e;

    CHECK(data != NULL && back != NULL);
    fill_words(data, N);
    snprintf(fast, sizeof(fast), "%s/fast.tar.zst", test_tmpdir());
    snprintf(slow, sizeof(slow), "%s/slow.tar.zst", test_tmpdir());
    a = one_entry_bundle(fast, data, N, 1);
    b = one_entry_bundle(slow, data, N, 0);
    CHECK(a > 0 && b > 0);
    CHECK(a > b + b / 10);
    al_err_init(&e);
    CHECK_INT(al_bundle_reader_open(&r, fast, &e), 0);
    CHECK_INT(al_bundle_reader_next(r, &name, &size, &e), 1);
    CHECK_INT(al_bundle_reader_next(r, &name, &size, &e), 1);
    CHECK_INT(size, N);
    for (i = 0; i < N; i += got) {
        CHECK_INT(al_bundle_reader_read(r, back + i, N - i, &got, &e), 0);
        if (got == 0)
            break;
    }
    CHECK(i == N && memcmp(back, data, N) == 0);
    CHECK_INT(al_bundle_reader_next(r, &name, &size, &e), 1);
    CHECK_STR(name, "index.json");
    CHECK_INT(al_bundle_reader_next(r, &name, &size, &e), 0);
    al_bundle_reader_free(r);
    unlink(fast);
    unlink(slow);
    free(data);
    free(back);
}
