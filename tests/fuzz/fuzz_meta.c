#include "airlock/meta.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct al_bundle_meta m;

    if (al_bundle_meta_parse(&m, (const char *)data, size, "fuzz", NULL) == 0)
        al_bundle_meta_find_blob(&m, "sha256:00");
    al_bundle_meta_release(&m);
    return 0;
}
