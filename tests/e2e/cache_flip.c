/* LD_PRELOAD shim for test_cache.sh: each time a read of a cache entry
 * (a file under a ".../sha256/" directory) reaches the end of the file,
 * one byte of it is flipped on disk, as if someone changed the entry right
 * after it was read. A program that reads an entry twice (checks it, then
 * copies it) copies bytes it never checked. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <unistd.h>

#include "flip_byte.h"

ssize_t read(int fd, void *buf, size_t count)
{
    static ssize_t (*real)(int, void *, size_t);
    ssize_t n;

    if (real == NULL)
        real = (ssize_t (*)(int, void *, size_t))dlsym(RTLD_NEXT, "read");
    n = real(fd, buf, count);
    if (n == 0 && count > 0)
        flip_byte(fd, "/sha256/", 100);
    return n;
}

size_t fread(void *buf, size_t size, size_t nmemb, FILE *f)
{
    static size_t (*real)(void *, size_t, size_t, FILE *);
    size_t n;

    if (real == NULL)
        real = (size_t (*)(void *, size_t, size_t, FILE *))dlsym(RTLD_NEXT, "fread");
    n = real(buf, size, nmemb, f);
    if (n == 0 && feof(f))
        flip_byte(fileno(f), "/sha256/", 100);
    return n;
}
