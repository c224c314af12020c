#include "airlock/kubeconfig.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct al_kube_creds c;

    /* no base dir: relative file names fail to open, which is fine */
    if (al_kubeconfig_parse(&c, (const char *)data, size, "fuzz", "/nonexistent", NULL,
                            NULL) == 0)
        al_kube_creds_release(&c);
    return 0;
}
