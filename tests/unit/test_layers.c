/* Image layers stacked with their whiteouts (export/layers.c). */
#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <string.h>

#include "../../export/layers.h"
#include "test.h"

/* A tar in memory of `n` (path, contents) pairs; contents NULL: a directory. */
static size_t make_tar(char *out, size_t cap, const char *const *files, size_t n)
{
    struct archive *a = archive_write_new();
    size_t used = 0, i;

    archive_write_set_format_pax_restricted(a);
    archive_write_add_filter_gzip(a);
    archive_write_open_memory(a, out, cap, &used);
    for (i = 0; i < n; i++) {
        struct archive_entry *ent = archive_entry_new();
        const char *data = files[2 * i + 1];
        archive_entry_set_pathname(ent, files[2 * i]);
        archive_entry_set_filetype(ent, data ? AE_IFREG : AE_IFDIR);
        archive_entry_set_perm(ent, 0644);
        archive_entry_set_size(ent, data ? (la_int64_t)strlen(data) : 0);
        archive_write_header(a, ent);
        if (data)
            archive_write_data(a, data, strlen(data));
        archive_entry_free(ent);
    }
    archive_write_close(a);
    archive_write_free(a);
    return used;
}

static int want_json(void *ud, const char *path)
{
    (void)ud;
    return strlen(path) > 5 && strcmp(path + strlen(path) - 5, ".json") == 0;
}

static const char *paths(const struct ex_layerfs *fs, char *buf, size_t n)
{
    size_t i, o = 0;

    buf[0] = '\0';
    for (i = 0; i < fs->n && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%s", i ? " " : "", fs->v[i].path);
    return buf;
}

TEST(layers_whiteouts_hide_what_is_below)
{
    static const char *const one[] = {
        "./is/a.json", "A1", "is/b.json", "B", "old/x.json", "X", "old/sub/y.json", "Y",
        "is/readme.txt", "R", "gone/z.json", "Z",
    };
    static const char *const two[] = {
        "is/.wh.b.json", "", "is/a.json", "A2", "old/new.json", "N", "old/.wh..wh..opq", "",
        ".wh.gone", "", "is/.wh.c.json", "",
    };
    static char tar[65536];
    struct ex_layerfs fs;
    struct al_err e;
    char buf[512];
    size_t len;

    al_err_init(&e);
    ex_layerfs_init(&fs, want_json, NULL);
    len = make_tar(tar, sizeof(tar), one, 6);
    CHECK_INT(ex_layerfs_apply_memory(&fs, tar, len, "one", &e), 0);
    ex_layerfs_sort(&fs);
    CHECK_STR(paths(&fs, buf, sizeof(buf)), "gone/z.json is/a.json is/b.json old/sub/y.json old/x.json");
    len = make_tar(tar, sizeof(tar), two, 6);
    CHECK_INT(ex_layerfs_apply_memory(&fs, tar, len, "two", &e), 0);
    ex_layerfs_sort(&fs);
    /* b deleted, a replaced, old/ emptied but for what this layer brings */
    CHECK_STR(paths(&fs, buf, sizeof(buf)), "is/a.json old/new.json");
    CHECK_STR(fs.v[0].data, "A2");
    ex_layerfs_release(&fs);
}

TEST(layers_refuse_a_file_over_the_bound)
{
    static char tar[6 * 1024 * 1024];
    char *big = malloc(EX_LAYER_FILE_MAX + 2);
    const char *files[2] = {"is/big.json", big};
    struct ex_layerfs fs;
    struct al_err e;
    size_t len;

    memset(big, 'x', EX_LAYER_FILE_MAX + 1);
    big[EX_LAYER_FILE_MAX + 1] = '\0';
    al_err_init(&e);
    ex_layerfs_init(&fs, want_json, NULL);
    len = make_tar(tar, sizeof(tar), files, 1);
    CHECK_INT(ex_layerfs_apply_memory(&fs, tar, len, "layer", &e), AL_ETOOBIG);
    CHECK(strstr(e.msg, "is/big.json") != NULL);
    CHECK_INT(fs.n, 0);
    ex_layerfs_release(&fs);
    free(big);
}
