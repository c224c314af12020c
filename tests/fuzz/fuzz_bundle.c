#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airlock/bundle.h"
#include "fuzz.h"

/* The bundle reader over arbitrary bytes: zstd, tar, entry checks, the end. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[] = "/tmp/airlock-fuzz-XXXXXX";
    struct al_bundle_reader *r = NULL;
    const char *name;
    long long esize;
    char buf[4096];
    size_t got;
    int fd = mkstemp(path), rc, entries = 0;

    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        unlink(path);
        return 0;
    }
    close(fd);
    rc = al_bundle_reader_open(&r, path, NULL);
    while (rc == 0 && entries++ < 1000) {
        rc = al_bundle_reader_next(r, &name, &esize, NULL);
        if (rc <= 0)
            break;
        do
            rc = al_bundle_reader_read(r, buf, sizeof(buf), &got, NULL);
        while (rc == 0 && got > 0);
    }
    al_bundle_reader_free(r);
    unlink(path);
    return 0;
}
