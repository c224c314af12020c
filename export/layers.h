/* An image's layers read the way a container runtime stacks them: each
 * layer streamed from the registry through libarchive (gzip, zstd or
 * uncompressed, never to disk) and checked against its digest, and a small
 * in-memory file set on which each layer's files and OCI whiteouts
 * (".wh.NAME", ".wh..wh..opq") are applied in order. */
#ifndef EX_LAYERS_H
#define EX_LAYERS_H

#include <stddef.h>

#include "airlock/err.h"
#include "airlock/manifest.h"
#include "airlock/registry.h"

struct archive;

#define EX_LAYER_FILE_MAX (4 * 1024 * 1024)    /* one kept file */
#define EX_LAYER_TOTAL_MAX (64 * 1024 * 1024)  /* all kept files together */
#define EX_LAYER_FILES_MAX 100000              /* kept files */

/* Reads what it wants of one layer, open as a tar archive `a`; `what` names
 * the layer for messages. Returns 0 or a negative code with `e` set. */
typedef int (*ex_layer_fn)(void *ud, struct archive *a, const char *what,
                           struct al_err *e);

/* Streams `layer` of repository `at` into `fn`, then reads whatever `fn`
 * left and checks the whole layer against its digest and size: AL_EDIGEST
 * when it does not match (what `fn` saw must then not be believed). A layer
 * that is not a tar is AL_EINVAL. */
int ex_layer_read(const struct al_repo *at, const struct al_desc *layer,
                  const char *what, ex_layer_fn fn, void *ud, struct al_err *e);

struct ex_layer_file {
    char *path;          /* relative, no "./", no trailing "/" */
    char *data;          /* the contents, NUL-terminated; owned */
    size_t len;
    unsigned layer;      /* the layer it came from (0 = the first) */
};

/* The regular files chosen by `want`, as the layers applied so far leave
 * them. Whiteouts and other entries apply to every path, kept or not. */
struct ex_layerfs {
    int (*want)(void *ud, const char *path);
    void *want_ud;
    struct ex_layer_file *v;
    size_t n;
    size_t total;        /* bytes kept */
    unsigned layers;     /* layers applied */
};

/* `want` (NULL: every regular file) is asked once per regular file. */
void ex_layerfs_init(struct ex_layerfs *fs, int (*want)(void *ud, const char *path),
                     void *want_ud);
void ex_layerfs_release(struct ex_layerfs *fs);

/* Applies the next layer, read from `a` to its end: a file replaces the
 * one at its path; ".wh.NAME" removes NAME (and what is under it) and
 * ".wh..wh..opq" everything under its directory, from the layers below
 * only. A kept file over EX_LAYER_FILE_MAX, or all of them over
 * EX_LAYER_TOTAL_MAX or EX_LAYER_FILES_MAX, is AL_ETOOBIG. Usable as an
 * ex_layer_fn with `fs` as `ud`. */
int ex_layerfs_apply(void *fs, struct archive *a, const char *what, struct al_err *e);

/* Applies a layer held in memory (tests and fuzzing). */
int ex_layerfs_apply_memory(struct ex_layerfs *fs, const void *data, size_t len,
                            const char *what, struct al_err *e);

/* Orders the files by path. */
void ex_layerfs_sort(struct ex_layerfs *fs);

#endif
