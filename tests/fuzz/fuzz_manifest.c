#include <stdlib.h>

#include "airlock/manifest.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const types[] = {NULL, AL_MT_DOCKER_MANIFEST, AL_MT_OCI_INDEX,
                                        AL_MT_DOCKER_V1};
    struct al_manifest m;
    size_t i;

    for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (al_manifest_parse((const char *)data, size, types[i], "fuzz", &m, NULL) == 0)
            al_manifest_release(&m);
    }
    return 0;
}
