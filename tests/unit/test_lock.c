#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "airlock/lock.h"
#include "test.h"

/* The one lock file in `dir`, into `out`. */
static int find_lock_file(const char *dir, char *out, size_t n)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int found = 0;

    while (d != NULL && (de = readdir(d)) != NULL)
        if (strncmp(de->d_name, "airlock-", 8) == 0) {
            snprintf(out, n, "%s/%s", dir, de->d_name);
            found++;
        }
    if (d != NULL)
        closedir(d);
    return found == 1;
}

/* A second run is told who holds the lock; a link or a directory planted
 * where the lock file goes is refused, and the link's target is untouched. */
TEST(lock_refuses_a_second_holder_and_planted_links)
{
    char dir[300], lockfile[600], victim[400], got[64] = "";
    const char *old = getenv("XDG_RUNTIME_DIR");
    char *saved = old ? strdup(old) : NULL;
    struct al_lock *a = NULL, *b = NULL;
    struct al_err e;
    FILE *f;

    snprintf(dir, sizeof(dir), "%s/locks", test_tmpdir());
    mkdir(dir, 0700);
    setenv("XDG_RUNTIME_DIR", dir, 1);

    CHECK_INT(al_lock_acquire(&a, "/srv/out.tar.zst", "writing", &e), 0);
    CHECK_INT(al_lock_acquire(&b, "/srv/out.tar.zst", "writing", &e), AL_EBUSY);
    CHECK(strstr(e.msg, "another run (pid ") != NULL);
    CHECK(strstr(e.msg, "'/srv/out.tar.zst'") != NULL);
    CHECK(find_lock_file(dir, lockfile, sizeof(lockfile)));
    al_lock_release(a);

    snprintf(victim, sizeof(victim), "%s/victim", test_tmpdir());
    f = fopen(victim, "w");
    fputs("precious\n", f);
    fclose(f);
    unlink(lockfile);
    CHECK_INT(symlink(victim, lockfile), 0);
    CHECK(al_lock_acquire(&a, "/srv/out.tar.zst", "writing", &e) != 0);
    CHECK(strstr(e.msg, lockfile) != NULL);
    f = fopen(victim, "r");
    CHECK(f != NULL && fgets(got, sizeof(got), f) != NULL);
    if (f)
        fclose(f);
    CHECK_STR(got, "precious\n");

    unlink(lockfile);
    CHECK_INT(mkdir(lockfile, 0700), 0);
    CHECK(al_lock_acquire(&a, "/srv/out.tar.zst", "writing", &e) != 0);
    rmdir(lockfile);

    if (geteuid() == 0) {   /* a file of another user's (only root can plant one here) */
        f = fopen(lockfile, "w");
        if (f)
            fclose(f);
        CHECK_INT(chown(lockfile, 65534, 65534), 0);
        CHECK(al_lock_acquire(&a, "/srv/out.tar.zst", "writing", &e) != 0);
        CHECK(strstr(e.msg, "not a file of this user's") != NULL);
        unlink(lockfile);
    }

    if (saved)
        setenv("XDG_RUNTIME_DIR", saved, 1);
    else
        unsetenv("XDG_RUNTIME_DIR");
    free(saved);
}
