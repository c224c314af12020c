/* Runs a fuzz target without libFuzzer: every file of the corpus
 * directories given, then N mutations of them (bit flips, truncations,
 * splices of repeated bytes) from a fixed seed, so a run is repeatable.
 *
 *   fuzz-<target> [-n MUTATIONS] [-s SEED] DIR...
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

struct input {
    unsigned char *data;
    size_t size;
};

static int load(const char *dir, struct input **v, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char path[4096];

    if (d == NULL) {
        fprintf(stderr, "replay: cannot open corpus '%s'\n", dir);
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        FILE *f;
        long len;
        struct input *grown;
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        f = fopen(path, "rb");
        if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0) {
            if (f)
                fclose(f);
            continue;
        }
        rewind(f);
        grown = realloc(*v, (*n + 1) * sizeof(**v));
        if (grown == NULL) {
            fclose(f);
            break;
        }
        *v = grown;
        (*v)[*n].data = malloc((size_t)len + 1);
        (*v)[*n].size = (*v)[*n].data ? fread((*v)[*n].data, 1, (size_t)len, f) : 0;
        fclose(f);
        if ((*v)[*n].data != NULL)
            (*n)++;
    }
    closedir(d);
    return 0;
}

static unsigned next_rand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

static void mutate(const struct input *in, unsigned char *out, size_t *size, unsigned *s)
{
    size_t i, n = in->size;

    memcpy(out, in->data, n);
    switch (next_rand(s) % 4) {
    case 0:   /* flip some bits */
        for (i = 0; n > 0 && i < 1 + next_rand(s) % 8; i++)
            out[next_rand(s) % n] ^= (unsigned char)(1u << (next_rand(s) % 8));
        break;
    case 1:   /* truncate */
        n = n ? next_rand(s) % n : 0;
        break;
    case 2:   /* overwrite with an interesting byte */
        for (i = 0; n > 0 && i < 1 + next_rand(s) % 4; i++)
            out[next_rand(s) % n] = (unsigned char)"\0\xff\x7f\x80\"{}[]:,\n/."[next_rand(s) % 14];
        break;
    default:  /* repeat a slice (grows sizes and counts) */
        if (n > 0) {
            size_t at = next_rand(s) % n, len = 1 + next_rand(s) % (n - at);
            if (n + len <= in->size * 2 + 16) {
                memmove(out + at + len, out + at, n - at);
                n += len;
            }
        }
        break;
    }
    *size = n;
}

int main(int argc, char **argv)
{
    struct input *v = NULL;
    size_t n = 0, i, max = 0, size;
    unsigned long mutations = 0, k;
    unsigned seed = 1;
    unsigned char *buf;
    int opt;

    while ((opt = getopt(argc, argv, "n:s:")) != -1) {
        if (opt == 'n')
            mutations = strtoul(optarg, NULL, 10);
        else if (opt == 's')
            seed = (unsigned)strtoul(optarg, NULL, 10);
        else
            return 2;
    }
    for (; optind < argc; optind++)
        if (load(argv[optind], &v, &n) != 0)
            return 2;
    if (n == 0) {
        fprintf(stderr, "replay: empty corpus\n");
        return 2;
    }
    for (i = 0; i < n; i++) {
        if (LLVMFuzzerTestOneInput(v[i].data, v[i].size) != 0) {
            fprintf(stderr, "replay: the target returned non-zero on corpus input %zu\n", i);
            return 1;
        }
        if (v[i].size > max)
            max = v[i].size;
    }
    buf = malloc(max * 2 + 32);
    if (buf == NULL) {
        fprintf(stderr, "replay: out of memory\n");
        return 1;
    }
    for (k = 0; k < mutations; k++) {
        mutate(&v[k % n], buf, &size, &seed);
        if (LLVMFuzzerTestOneInput(buf, size) != 0) {
            fprintf(stderr, "replay: the target returned non-zero on mutation %lu (seed %u)\n", k, seed);
            return 1;
        }
    }
    printf("replay: %zu inputs, %lu mutations\n", n, mutations);
    for (i = 0; i < n; i++)
        free(v[i].data);
    free(v);
    free(buf);
    return 0;
}
