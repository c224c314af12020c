/* The bundle writer's stored tail (common/bundle.c): the arithmetic the
 * unit tests check on its own. */
#ifndef AL_BUNDLE_INT_H
#define AL_BUNDLE_INT_H

#include <stddef.h>

/* The largest raw block that may follow the zstd frame header h[0..n), or 0
 * when no stored tail may follow it. */
size_t al_bundle_raw_block_max(const unsigned char *h, size_t n);

/* The size of the raw block to open with `room` bytes left of the writer's
 * block: at most raw_max, its header and bytes within the room, and never
 * leaving 1 to 3 bytes of it; 0 when none fits (room 1 to 3, raw_max below
 * 5). */
size_t al_bundle_raw_block_size(size_t room, size_t raw_max);

#endif
