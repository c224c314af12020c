#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "airlock/lock.h"
#include "test.h"

/* The lock lives beside what it locks (where only its owner can create
 * files), is removed when released; a second run is told who holds it; a
 * link, a directory or another user's file planted at its name is refused,
 * and a link's target is untouched. */
TEST(lock_beside_the_output_refuses_a_second_holder_and_planted_links)
{
    char dir[300], out[400], lockfile[600], victim[400], got[64] = "";
    struct al_lock *a = NULL, *b = NULL;
    struct al_err e;
    struct stat st;
    FILE *f;

    snprintf(dir, sizeof(dir), "%s/lockdir", test_tmpdir());
    mkdir(dir, 0700);
    snprintf(out, sizeof(out), "%s/out.tar.zst", dir);
    snprintf(lockfile, sizeof(lockfile), "%s/.out.tar.zst.lock", dir);

    CHECK_INT(al_lock_acquire(&a, out, "writing", &e), 0);
    CHECK(lstat(lockfile, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077) == 0);
    CHECK_INT(al_lock_acquire(&b, out, "writing", &e), AL_EBUSY);
    CHECK(strstr(e.msg, "another run (pid ") != NULL);
    CHECK(strstr(e.msg, out) != NULL);
    al_lock_release(a);
    CHECK(lstat(lockfile, &st) != 0);
    CHECK_INT(al_lock_acquire(&a, out, "writing", &e), 0);   /* free again */
    al_lock_release(a);

    snprintf(victim, sizeof(victim), "%s/victim", test_tmpdir());
    f = fopen(victim, "w");
    fputs("precious\n", f);
    fclose(f);
    CHECK_INT(symlink(victim, lockfile), 0);
    CHECK(al_lock_acquire(&a, out, "writing", &e) != 0);
    CHECK(strstr(e.msg, lockfile) != NULL);
    f = fopen(victim, "r");
    CHECK(f != NULL && fgets(got, sizeof(got), f) != NULL);
    if (f)
        fclose(f);
    CHECK_STR(got, "precious\n");
    unlink(lockfile);

    CHECK_INT(mkdir(lockfile, 0700), 0);
    CHECK(al_lock_acquire(&a, out, "writing", &e) != 0);
    rmdir(lockfile);

    if (geteuid() == 0) {   /* a file of another user's (only root can plant one here) */
        f = fopen(lockfile, "w");
        if (f)
            fclose(f);
        CHECK_INT(chown(lockfile, 65534, 65534), 0);
        CHECK(al_lock_acquire(&a, out, "writing", &e) != 0);
        CHECK(strstr(e.msg, "belongs to another user") != NULL);
        unlink(lockfile);
    }
}

/* A directory (the cache) is locked by a file inside it. */
TEST(lock_of_a_directory_lives_inside_it)
{
    char dir[300], lockfile[400];
    struct al_lock *a = NULL, *b = NULL;
    struct al_err e;
    struct stat st;

    snprintf(dir, sizeof(dir), "%s/lockcache", test_tmpdir());
    mkdir(dir, 0700);
    snprintf(lockfile, sizeof(lockfile), "%s/.lock", dir);
    CHECK_INT(al_lock_acquire(&a, dir, "using the cache", &e), 0);
    CHECK(lstat(lockfile, &st) == 0);
    CHECK_INT(al_lock_acquire(&b, dir, "using the cache", &e), AL_EBUSY);
    al_lock_release(a);
}
