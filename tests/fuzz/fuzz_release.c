#include <stdlib.h>

#include "../../export/inputs.h"
#include "fuzz.h"

/* A release's image-references (release-manifests/image-references): the
 * components airlock looks up in it. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const components[] = {"must-gather", "tools", "cli", ""};
    size_t i;

    for (i = 0; i < sizeof(components) / sizeof(components[0]); i++) {
        char *spec = NULL;
        ex_release_component((const char *)data, size, components[i], &spec, NULL);
        free(spec);
    }
    return 0;
}
