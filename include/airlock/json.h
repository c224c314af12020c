/* Small jansson helpers shared by the modules that read and write airlock's
 * JSON formats (bundle.json, the volume list, the receipt). */
#ifndef AIRLOCK_JSON_H
#define AIRLOCK_JSON_H

#include <stddef.h>

struct json_t;

/* True when the JSON array `a` holds the string `s` (false when `a` is not
 * an array). */
int al_json_has_string(const struct json_t *a, const char *s);

/* A new JSON array of the `n` strings `v` (a reference the caller owns), or
 * NULL when out of memory. */
struct json_t *al_json_strings(char *const *v, size_t n);

/* The first object of the JSON array `a` whose string member `key` is
 * `value` (borrowed from `a`), or NULL (also when `a` is not an array). */
struct json_t *al_json_find(struct json_t *a, const char *key, const char *value);

#endif
