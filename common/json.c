#include "airlock/json.h"

#include <jansson.h>
#include <string.h>

int al_json_has_string(const json_t *a, const char *s)
{
    size_t i;

    for (i = 0; i < json_array_size(a); i++) {
        const char *v = json_string_value(json_array_get(a, i));
        if (v != NULL && strcmp(v, s) == 0)
            return 1;
    }
    return 0;
}

json_t *al_json_strings(char *const *v, size_t n)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; a != NULL && i < n; i++)
        if (json_array_append_new(a, json_string(v[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

json_t *al_json_find(json_t *a, const char *key, const char *value)
{
    size_t i;
    json_t *v;

    json_array_foreach(a, i, v) {
        const char *s = json_string_value(json_object_get(v, key));
        if (s != NULL && strcmp(s, value) == 0)
            return v;
    }
    return NULL;
}
