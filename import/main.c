/* airlock-import: not yet implemented (see issue 3). */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("airlock-import %s\n", AIRLOCK_VERSION);
        return 0;
    }
    fprintf(stderr, "airlock-import: not implemented yet: this release only "
                    "exports bundles\n");
    return 2;
}
