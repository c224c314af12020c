#include "../../export/inputs.h"
#include "fuzz.h"

/* The samples ConfigMap, imagestreams and a release's image-references. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ex_images l = {0};

    ex_parse_configmap(&l, (const char *)data, size, "fuzz", NULL);
    ex_images_release(&l);
    ex_parse_imagestreams(&l, (const char *)data, size, "fuzz", NULL);
    ex_images_release(&l);
    return 0;
}
