#include <archive.h>
#include <archive_entry.h>
#include <glob.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "airlock/bundle.h"
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
