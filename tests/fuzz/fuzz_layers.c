#include "../../export/layers.h"
#include "fuzz.h"

/* The layer reader: the input as a layer (any compression) applied twice,
 * so that its whiteouts meet the files it brought the first time. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ex_layerfs fs;

    ex_layerfs_init(&fs, NULL, NULL);
    ex_layerfs_apply_memory(&fs, data, size, "fuzz", NULL);
    ex_layerfs_apply_memory(&fs, data, size, "fuzz", NULL);
    ex_layerfs_sort(&fs);
    ex_layerfs_release(&fs);
    return 0;
}
