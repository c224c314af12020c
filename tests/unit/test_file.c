#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "airlock/buf.h"
#include "airlock/bundle.h"
#include "test.h"

/* A victim file and links to it at each name in `names` (in `dir`). */
static void plant(const char *dir, const char *victim, const char *const *names)
{
    char link[600];
    FILE *f = fopen(victim, "w");

    if (f != NULL) {
        fputs("precious\n", f);
        fclose(f);
    }
    for (; *names != NULL; names++) {
        snprintf(link, sizeof(link), "%s/%s", dir, *names);
        unlink(link);
        CHECK_INT(symlink(victim, link), 0);
    }
}

static int victim_intact(const char *victim)
{
    char got[64] = "";
    FILE *f = fopen(victim, "r");
    int ok = f != NULL && fgets(got, sizeof(got), f) != NULL && strcmp(got, "precious\n") == 0;

    if (f != NULL)
        fclose(f);
    return ok;
}

/* How many names in `dir` contain `part`. */
static int count_names(const char *dir, const char *part)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    while (d != NULL && (de = readdir(d)) != NULL)
        n += strstr(de->d_name, part) != NULL;
    if (d != NULL)
        closedir(d);
    return n;
}

/* The temporary names today's callers could predict are links to a victim:
 * the write lands in the file, the victim is untouched. */
TEST(file_write_atomic_never_follows_a_planted_temporary)
{
    static const char *const names[] = {"receipt.json.partial", "receipt.json.tmp", NULL};
    char dir[300], victim[400], path[400];
    struct al_buf b;
    struct al_err e;
    struct stat st;

    snprintf(dir, sizeof(dir), "%s/atomic", test_tmpdir());
    mkdir(dir, 0700);
    snprintf(victim, sizeof(victim), "%s/victim", test_tmpdir());
    snprintf(path, sizeof(path), "%s/receipt.json", dir);
    plant(dir, victim, names);
    al_err_init(&e);
    CHECK_INT(al_file_write_atomic(path, "new\n", 4, &e), 0);
    CHECK(victim_intact(victim));
    al_buf_init(&b, 1024);
    CHECK_INT(al_buf_read_file(&b, path, &e), 0);
    CHECK_STR(b.data, "new\n");
    al_buf_release(&b);
    CHECK(lstat(path, &st) == 0 && S_ISREG(st.st_mode));
    /* a link at the name itself is replaced, not followed */
    unlink(path);
    CHECK_INT(symlink(victim, path), 0);
    CHECK_INT(al_file_write_atomic(path, "again\n", 6, &e), 0);
    CHECK(victim_intact(victim));
    CHECK(lstat(path, &st) == 0 && S_ISREG(st.st_mode));
    CHECK_INT(count_names(dir, "partial."), 0);
}

/* The bundle's and each volume's partial names, planted as links. */
TEST(bundle_writer_never_follows_planted_partials)
{
    static const char *const names[] = {"b.tar.zst.partial", "b.tar.zst.000.partial",
                                        "b.tar.zst.001.partial", NULL};
    char dir[300], victim[400], path[400];
    struct al_bundle_writer *w = NULL;
    struct al_bundle_parts parts;
    struct al_err e;
    char big[4096];

    snprintf(dir, sizeof(dir), "%s/planted", test_tmpdir());
    mkdir(dir, 0700);
    snprintf(victim, sizeof(victim), "%s/victim2", test_tmpdir());
    snprintf(path, sizeof(path), "%s/b.tar.zst", dir);
    plant(dir, victim, names);
    al_err_init(&e);
    CHECK_INT(al_bundle_writer_open(&w, path, 0, 3, &e), 0);
    CHECK_INT(al_bundle_writer_add(w, "bundle.json", "{}", 2, &e), 0);
    CHECK_INT(al_bundle_writer_commit(w, &e), 0);
    CHECK(victim_intact(victim));

    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)(rand() & 0xff);   /* incompressible: several volumes */
    CHECK_INT(al_bundle_writer_open_split(&w, path, 0, 3, 1024, 1, &e), 0);
    CHECK_INT(al_bundle_writer_add(w, "blob", big, sizeof(big), &e), 0);
    CHECK_INT(al_bundle_writer_commit_parts(w, &parts, &e), 0);
    CHECK(parts.n >= 3);
    al_bundle_parts_release(&parts);
    CHECK(victim_intact(victim));
}
