#include <archive.h>
#include <archive_entry.h>
#include <glob.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "airlock/bundle.h"
#include "airlock/digest.h"
#include "../../common/bundle_int.h"
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

/* What a bundle's frame is made of: its blocks walked by their headers
 * (RFC 8878 3.1.1.2), the raw ones counted. */
struct frame_walk {
    int ok;                  /* one frame, whole, ending in its last block */
    size_t blocks, raw, raw_largest;
    size_t raw_across;       /* raw blocks of the stored tail crossing a MiB */
};

static struct frame_walk walk_frame(const unsigned char *p, size_t n)
{
    struct frame_walk f = {0, 0, 0, 0, 0};
    size_t at = 6, seen_raw = 0;

    if (n < 6 || memcmp(p, "\x28\xb5\x2f\xfd", 4) != 0 || (p[4] & 0xef) != 0)
        return f;   /* (the writer's frames: no content size, checksum or dict) */
    while (at + 3 <= n) {
        unsigned long h = p[at] | (unsigned long)p[at + 1] << 8 | (unsigned long)p[at + 2] << 16;
        size_t size = h >> 3, body = ((h >> 1) & 3) == 1 ? 1 : size;
        f.blocks++;
        if (((h >> 1) & 3) == 0 && size > 0) {
            f.raw++;
            seen_raw = 1;
            if (size > f.raw_largest)
                f.raw_largest = size;
            if (at / (1024 * 1024) != (at + 3 + size - 1) / (1024 * 1024))
                f.raw_across++;
        } else if (seen_raw && !(h & 1)) {
            return f;   /* only raw blocks after the first */
        }
        at += 3 + body;
        if (h & 1) {
            f.ok = at == n;
            return f;
        }
    }
    return f;
}

/* A large entry marked as compressed already, and all after it, go into raw
 * blocks of the same single frame (stored: the bundle is larger than the
 * entry, while the same bytes unmarked compress), none larger than 128 KiB
 * nor across a MiB of the file, and the bundle reads back the same. A small
 * marked entry is compressed like any other. */
TEST(bundle_writer_stores_compressed_entries_in_raw_blocks)
{
    enum { N = 2 * 1024 * 1024 + 12345, SMALL = 64 * 1024 };
    char *data = malloc(N), *back = malloc(N);
    char stored[300], packed[300];
    struct al_bundle_reader *r = NULL;
    struct frame_walk f;
    unsigned char *file;
    const char *name;
    long long a, b, size;
    size_t got, i, len;
    struct al_err e;

    CHECK(data != NULL && back != NULL);
    fill_words(data, N);
    snprintf(stored, sizeof(stored), "%s/stored.tar.zst", test_tmpdir());
    snprintf(packed, sizeof(packed), "%s/packed.tar.zst", test_tmpdir());
    a = one_entry_bundle(stored, data, N, 1);
    b = one_entry_bundle(packed, data, N, 0);
    CHECK(a > N && b > 0 && b < N / 2);
    file = (unsigned char *)test_read_file(stored, &len);
    CHECK(file != NULL && (long long)len == a);
    f = walk_frame(file, len);
    CHECK(f.ok);
    CHECK(f.raw >= N / (128 * 1024));
    CHECK(f.raw_largest <= 128 * 1024);
    CHECK_INT(f.raw_across, 0);
    free(file);
    file = (unsigned char *)test_read_file(packed, &len);
    CHECK(file != NULL);
    f = walk_frame(file, len);
    CHECK(f.ok && f.raw == 0);
    free(file);

    al_err_init(&e);
    CHECK_INT(al_bundle_reader_open(&r, stored, &e), 0);
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

    a = one_entry_bundle(stored, data, SMALL, 1);
    b = one_entry_bundle(packed, data, SMALL, 0);
    CHECK(a > 0 && a == b);
    unlink(stored);
    unlink(packed);
    free(data);
    free(back);
}

/* The stored tail may begin after the writer has handed blocks on (here
 * 1.5 MiB of compressed output before it): the frame header was read from
 * the first block in time, and the tail's blocks keep to the MiBs. */
TEST(bundle_writer_stores_after_blocks_were_handed_on)
{
    enum { PREFIX = 2 * 1024 * 1024, N = 2 * 1024 * 1024 + 777 };
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *prefix = malloc(PREFIX), *data = malloc(N), path[300];
    struct al_bundle_writer *w = NULL;
    struct al_bundle_parts parts;
    struct frame_walk f;
    unsigned char *file;
    unsigned seed = 7;
    size_t i, len;
    struct al_err e;

    CHECK(prefix != NULL && data != NULL);
    for (i = 0; i < PREFIX; i++) {   /* 6 bits a byte: compressed blocks, not raw */
        seed = seed * 1103515245u + 12345u;
        prefix[i] = b64[(seed >> 16) & 63];
    }
    fill_words(data, N);
    snprintf(path, sizeof(path), "%s/late.tar.zst", test_tmpdir());
    al_err_init(&e);
    CHECK_INT(al_bundle_writer_open(&w, path, 0, 3, &e), 0);
    CHECK_INT(al_bundle_writer_add(w, "bundle.json", prefix, PREFIX, &e), 0);
    CHECK_INT(al_bundle_writer_begin_compressed(w, "blobs/sha256/0", N, 1, &e), 0);
    CHECK_INT(al_bundle_writer_write(w, data, N, &e), 0);
    CHECK_INT(al_bundle_writer_end(w, &e), 0);
    CHECK_INT(al_bundle_writer_commit_parts(w, &parts, &e), 0);
    al_bundle_parts_release(&parts);
    file = (unsigned char *)test_read_file(path, &len);
    CHECK(file != NULL && len > PREFIX * 3 / 5 + N);   /* more than a MiB before the tail */
    f = walk_frame(file, len);
    CHECK(f.ok);
    CHECK(f.raw >= N / (128 * 1024));
    CHECK_INT(f.raw_across, 0);
    free(file);
    unlink(path);
    free(prefix);
    free(data);
}

/* Raw blocks: each within the room it is opened in, none larger than the
 * frame allows, none leaving 1 to 3 bytes (a header and a byte need 4). */
TEST(bundle_raw_block_sizes_leave_no_unusable_room)
{
    static const size_t maxes[] = {1024, 128 * 1024};
    size_t m, room, bad = 0;

    for (m = 0; m < sizeof(maxes) / sizeof(maxes[0]); m++)
        for (room = 4; room <= 3 * maxes[m] + 16; room++) {
            size_t size = al_bundle_raw_block_size(room, maxes[m]);
            size_t after = room - 3 - size;
            if (size == 0 || size > maxes[m] || size + 3 > room || (after >= 1 && after <= 3))
                bad++;
        }
    CHECK_INT(bad, 0);
    CHECK_INT(al_bundle_raw_block_size(1024 * 1024, 128 * 1024), 128 * 1024);
    CHECK_INT(al_bundle_raw_block_size(100, 128 * 1024), 97);
    for (room = 0; room <= 3; room++)
        CHECK_INT(al_bundle_raw_block_size(room, 128 * 1024), 0);
    CHECK_INT(al_bundle_raw_block_size(10, 4), 0);
    CHECK_INT(al_bundle_raw_block_size(10, 5), 1);   /* not 5, which would leave 2 */
    CHECK_INT(al_bundle_raw_block_size(12, 5), 5);   /* 3 + 5 leaves 4 */
}

/* A stored tail follows zstd's own streaming header (the window says how
 * large a raw block may be), never one that fixes the content's size, a
 * single segment, a checksum or a dictionary. */
TEST(bundle_raw_block_max_reads_the_frame_header)
{
    unsigned char out[256], h[6];
    ZSTD_CCtx *z = ZSTD_createCCtx();
    ZSTD_inBuffer in = {"airlock", 7, 0};
    ZSTD_outBuffer o = {out, sizeof(out), 0};
    static const unsigned char refused[] = {0x40, 0x20, 0x04, 0x01, 0x08};
    size_t i;

    CHECK(z != NULL);
    CHECK(!ZSTD_isError(ZSTD_CCtx_setParameter(z, ZSTD_c_compressionLevel, 3)));
    CHECK(!ZSTD_isError(ZSTD_compressStream2(z, &o, &in, ZSTD_e_flush)));
    ZSTD_freeCCtx(z);
    CHECK(o.pos >= 6);
    CHECK_INT(al_bundle_raw_block_max(out, o.pos), 128 * 1024);   /* level 3: 2 MiB window */
    memcpy(h, out, 6);
    h[5] = 0;   /* a 1 KiB window */
    CHECK_INT(al_bundle_raw_block_max(h, 6), 1024);
    h[5] = 7 << 3 | 4;   /* 128 KiB + 4 * 16 KiB */
    CHECK_INT(al_bundle_raw_block_max(h, 6), 128 * 1024);
    h[5] = 6 << 3 | 4;   /* 64 KiB + 4 * 8 KiB */
    CHECK_INT(al_bundle_raw_block_max(h, 6), 96 * 1024);
    for (i = 0; i < sizeof(refused); i++) {
        memcpy(h, out, 6);
        h[4] |= refused[i];
        CHECK_INT(al_bundle_raw_block_max(h, 6), 0);
    }
    memcpy(h, out, 6);
    h[0] ^= 1;
    CHECK_INT(al_bundle_raw_block_max(h, 6), 0);
    CHECK_INT(al_bundle_raw_block_max(out, 5), 0);
}

/* ---- placing (al_bundle_writer_place) ---- */

/* Entries of awkward sizes: within one page, a raw block, a byte either
 * side of one, empty, and some MiBs (whole pages between). */
#define RB (128 * 1024)   /* the raw blocks of a level 3 frame */
static const long long odd_sizes[] = {
    3 * 1024 * 1024 + 12345, 1, 0, RB, RB - 1, RB + 1, 700 * 1024, 4096, 511, 2 * 1024 * 1024, 513,
};
/* ... and sizes that put the raw blocks' grid (tar offsets k RB of the
 * region) on an entry's start (2 RB, 5 RB), its data's start (4 RB) and
 * end (5 RB), and the region's end (8 RB). */
static const long long grid_sizes[] = {
    2 * RB - 512, 0, 2 * RB - 1600, RB, 1, 3 * RB - 1536 - 7,
};
#define N_PLACED_MAX 16
static const long long *placed_sizes = odd_sizes;
static size_t N_PLACED = sizeof(odd_sizes) / sizeof(odd_sizes[0]);

static char placed_byte(size_t entry, long long at)
{
    return (char)((entry * 131 + (size_t)at * 7 + (size_t)(at >> 9)) & 0xff);
}

struct placing {
    struct al_bundle_writer *w;
    size_t lane, lanes;
    int rc;
};

/* A download thread: its share of the entries, last first, in pieces of
 * odd sizes. */
static void *place_some(void *arg)
{
    struct placing *p = arg;
    struct al_bundle_lane *l = al_bundle_writer_lane(p->w, p->lane);
    struct al_err e;
    size_t i;

    al_err_init(&e);
    for (i = N_PLACED; p->rc == 0 && i-- > 0;) {
        long long at = 0;
        if (i % p->lanes != p->lane)
            continue;
        p->rc = al_bundle_lane_begin(l, i, &e);
        while (p->rc == 0 && at < placed_sizes[i]) {
            void *space;
            size_t room, k, j;
            p->rc = al_bundle_lane_reserve(l, &space, &room, &e);
            k = room < 1000 ? room : 1000 + (size_t)at % 777;
            if (k > room)
                k = room;
            for (j = 0; p->rc == 0 && j < k; j++)
                ((char *)space)[j] = placed_byte(i, at + (long long)j);
            if (p->rc == 0)
                p->rc = al_bundle_lane_commit(l, k, &e);
            at += (long long)k;
        }
        if (p->rc == 0)
            p->rc = al_bundle_lane_end(l, &e);
    }
    return NULL;
}

static void placed_name(char *out, size_t n, size_t i)
{
    snprintf(out, n, "blobs/sha256/%064zu", i);
}

/* One bundle: a compressed prefix, the entries (placed by three threads or
 * written in turn) and a manifest after them. */
static int placed_bundle(const char *path, int place)
{
    static char names[N_PLACED_MAX][AL_BUNDLE_PLACED_NAME_MAX];
    struct al_bundle_placed v[N_PLACED_MAX];
    struct al_bundle_writer *w = NULL;
    struct placing p[3];
    pthread_t th[3];
    struct al_err e;
    size_t i;
    int rc;

    al_err_init(&e);
    if (al_bundle_writer_open(&w, path, 1700000000, 3, &e) != 0)
        return -1;
    al_bundle_writer_skip_digest(w);
    rc = al_bundle_writer_add(w, "bundle.json", "{\"a\": 1}", 8, &e);
    if (rc == 0)
        rc = al_bundle_writer_add(w, "blobs/sha256/config", "{\"config\": {}}", 14, &e);
    for (i = 0; i < N_PLACED; i++) {
        placed_name(names[i], sizeof(names[i]), i);
        v[i] = (struct al_bundle_placed){names[i], placed_sizes[i]};
    }
    if (rc == 0 && place) {
        if (!al_bundle_writer_can_place(w, v, N_PLACED) ||
            al_bundle_writer_place(w, v, N_PLACED, 3, &e) != 0) {
            al_bundle_writer_abort(w);
            return -1;
        }
        for (i = 0; i < 3; i++) {
            p[i] = (struct placing){w, i, 3, 0};
            pthread_create(&th[i], NULL, place_some, &p[i]);
        }
        for (i = 0; i < 3; i++) {
            pthread_join(th[i], NULL);
            rc |= p[i].rc;
        }
        if (rc == 0)
            rc = al_bundle_writer_place_end(w, &e);
    }
    for (i = 0; rc == 0 && !place && i < N_PLACED; i++) {
        long long at;
        rc = al_bundle_writer_begin_compressed(w, names[i], placed_sizes[i], 1, &e);
        for (at = 0; rc == 0 && at < placed_sizes[i]; at++) {
            char c = placed_byte(i, at);
            rc = al_bundle_writer_write(w, &c, 1, &e);
        }
        if (rc == 0)
            rc = al_bundle_writer_end(w, &e);
    }
    if (rc == 0)
        rc = al_bundle_writer_add(w, "blobs/sha256/manifest", "{\"m\": 2}", 8, &e);
    if (rc != 0) {
        al_bundle_writer_abort(w);
        return -1;
    }
    return al_bundle_writer_commit(w, &e);
}

/* The frame's content, whole (and 0 unless the file is one frame, whole). */
static char *decompress_file(const char *path, size_t *out_len)
{
    size_t len, cap = 16 * 1024 * 1024, got = 0;
    char *in = test_read_file(path, &len), *out = malloc(cap);
    ZSTD_DCtx *d = ZSTD_createDCtx();
    ZSTD_inBuffer ib = {in, len, 0};
    size_t r = 1;

    while (in != NULL && out != NULL && ib.pos < ib.size && r != 0) {
        ZSTD_outBuffer ob = {out, cap, got};
        r = ZSTD_decompressStream(d, &ob, &ib);
        got = ob.pos;
        if (ZSTD_isError(r))
            break;
        if (got == cap) {
            char *more = realloc(out, cap * 2);
            if (more == NULL)
                break;
            out = more;
            cap *= 2;
        }
    }
    ZSTD_freeDCtx(d);
    if (in == NULL || out == NULL || r != 0 || ib.pos != ib.size) {
        free(in);
        free(out);
        return NULL;
    }
    free(in);
    *out_len = got;
    return out;
}

/* Placed by three threads in any order, the entries make the same tar as
 * written one after another, in one frame of raw blocks after the prefix,
 * which the reader reads. */
static void check_placed_as_written(const long long *sizes, size_t n, size_t min_tar)
{
    char placed[300], written[300], *a, *b;
    unsigned char *file;
    size_t alen = 0, blen = 0, len;
    struct frame_walk f;

    placed_sizes = sizes;
    N_PLACED = n;
    snprintf(placed, sizeof(placed), "%s/placed.tar.zst", test_tmpdir());
    snprintf(written, sizeof(written), "%s/written.tar.zst", test_tmpdir());
    CHECK_INT(placed_bundle(placed, 1), 0);
    CHECK_INT(placed_bundle(written, 0), 0);
    a = decompress_file(placed, &alen);
    b = decompress_file(written, &blen);
    CHECK(a != NULL && b != NULL);
    CHECK(alen == blen && alen > min_tar && memcmp(a, b, alen) == 0);
    file = (unsigned char *)test_read_file(placed, &len);
    CHECK(file != NULL);
    f = walk_frame(file, len);
    CHECK(f.ok);
    CHECK(f.raw >= min_tar / RB);
    CHECK_INT(f.raw_largest, RB);
    free(file);
    free(a);
    free(b);
    unlink(placed);
    unlink(written);
}

TEST(bundle_writer_places_entries_as_it_writes_them)
{
    check_placed_as_written(odd_sizes, sizeof(odd_sizes) / sizeof(odd_sizes[0]),
                            6 * 1024 * 1024);
    check_placed_as_written(grid_sizes, sizeof(grid_sizes) / sizeof(grid_sizes[0]), 8 * RB);
}

/* A lane refuses an entry's bytes beyond its size and an entry cut short;
 * nothing is placed into a bundle whose digest is wanted, or a split one,
 * or under a name a plain ustar header cannot hold. */
TEST(bundle_writer_place_refuses_what_does_not_fit)
{
    struct al_bundle_placed v[2] = {{"blobs/sha256/a", 5000}, {"blobs/sha256/b", 10}};
    struct al_bundle_placed long_name = {
        "blobs/sha256/0123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789abcdefgh", 10};   /* 101 bytes */
    struct al_bundle_placed odd_name = {"blobs/sha256/caf\xc3\xa9", 10};
    struct al_bundle_writer *w = NULL;
    struct al_bundle_lane *l;
    char path[300];
    struct al_err e;
    void *space;
    size_t room;

    snprintf(path, sizeof(path), "%s/refuse.tar.zst", test_tmpdir());
    al_err_init(&e);
    CHECK_INT(al_bundle_writer_open(&w, path, 0, 3, &e), 0);
    CHECK(!al_bundle_writer_can_place(w, v, 2));   /* its digest is wanted */
    al_bundle_writer_skip_digest(w);
    CHECK(al_bundle_writer_can_place(w, v, 2));
    CHECK(!al_bundle_writer_can_place(w, &long_name, 1));
    CHECK(!al_bundle_writer_can_place(w, &odd_name, 1));
    CHECK_INT(al_bundle_writer_add(w, "bundle.json", "{}", 2, &e), 0);
    CHECK_INT(al_bundle_writer_place(w, v, 2, 1, &e), 0);
    CHECK(!al_bundle_writer_can_place(w, v, 2));   /* placed already */
    CHECK_INT(al_bundle_writer_add(w, "index.json", "{}", 2, &e), AL_EINVAL);
    CHECK_STR(e.msg, "'index.json': entries are being placed");
    l = al_bundle_writer_lane(w, 0);
    CHECK(l != NULL && al_bundle_writer_lane(w, 1) == NULL);
    CHECK_INT(al_bundle_lane_begin(l, 1, &e), 0);
    CHECK_INT(al_bundle_lane_reserve(l, &space, &room, &e), 0);
    CHECK_INT(room, 10);
    CHECK_INT(al_bundle_lane_commit(l, 11, &e), AL_EINVAL);
    memset(space, 'x', 10);
    CHECK_INT(al_bundle_lane_commit(l, 10, &e), 0);
    CHECK_INT(al_bundle_lane_reserve(l, &space, &room, &e), 0);
    CHECK(room > 0);
    CHECK_INT(al_bundle_lane_commit(l, 1, &e), AL_EDIGEST);
    CHECK_STR(e.msg, "'blobs/sha256/b' is larger than its declared 10 bytes");
    CHECK_INT(al_bundle_lane_end(l, &e), 0);
    CHECK_INT(al_bundle_lane_begin(l, 1, &e), AL_EINVAL);
    CHECK_STR(e.msg, "'blobs/sha256/b' is placed twice");
    CHECK_INT(al_bundle_lane_begin(l, 2, &e), AL_EINVAL);
    CHECK_STR(e.msg, "no placed entry 2 (there are 2)");
    CHECK_INT(al_bundle_writer_place_end(w, &e), AL_EINVAL);
    CHECK_STR(e.msg, "'blobs/sha256/a' was not written in full: the bundle would lack it");
    CHECK_INT(al_bundle_lane_begin(l, 0, &e), 0);
    CHECK_INT(al_bundle_lane_reserve(l, &space, &room, &e), 0);
    memset(space, 'y', 100);
    CHECK_INT(al_bundle_lane_commit(l, 100, &e), 0);
    CHECK_INT(al_bundle_lane_end(l, &e), AL_EDIGEST);
    CHECK_STR(e.msg, "'blobs/sha256/a' has 100 bytes, 5000 were declared");
    al_bundle_writer_place_cancel(w);
    CHECK_INT(al_bundle_lane_begin(l, 0, &e), AL_EINTR);
    al_bundle_writer_abort(w);
    CHECK(!partial_exists(path));
}
