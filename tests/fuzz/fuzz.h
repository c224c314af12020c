/* One fuzz target per file: LLVMFuzzerTestOneInput() as libFuzzer expects.
 * Built with clang -fsanitize=fuzzer by `make fuzz`, or with replay.c (no
 * libFuzzer) by `make check`, which replays tests/fuzz/corpus/<target>/ and
 * a bounded number of mutations of it. */
#ifndef AIRLOCK_FUZZ_H
#define AIRLOCK_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
