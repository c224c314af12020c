#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zstd.h>

#include "../../import/import.h"
#include "fuzz.h"

/* Below the decompressor: the input is the tar itself (the corpus holds
 * real small bundles, tests/fuzz/make_bundle_corpus.py), compressed here so
 * that every mutation reaches the importer's reader as a well-formed zstd
 * stream: tar entries, bundle.json, the order, sizes and digests of the
 * blobs, the manifests' cross-checks. No signature key: the check after the
 * signature is what is fuzzed. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct im_read_opts o = {0};
    struct im_bundle b;
    struct al_err e;
    size_t bound = ZSTD_compressBound(size), n;
    char *z = malloc(bound), path[64];
    int fd = memfd_create("airlock-fuzz", 0);

    if (z == NULL || fd < 0)
        goto out;
    n = ZSTD_compress(z, bound, data, size, 1);
    if (ZSTD_isError(n) || write(fd, z, n) != (ssize_t)n)
        goto out;
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    o.path = path;
    al_err_init(&e);
    im_read(&o, &b, &e);
    im_bundle_release(&b);
out:
    if (fd >= 0)
        close(fd);
    free(z);
    return 0;
}
