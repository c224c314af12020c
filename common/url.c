/* URLs as airlock handles them: parsed by libcurl's URL API, never by
 * hand where it matters (joining a Location, comparing origins), and shown
 * in messages without their credentials. */
#include "airlock/http.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void al_http_url_for_message(const char *url, char *out, size_t n)
{
    const char *scheme_end = strstr(url, "://");
    const char *host = scheme_end ? scheme_end + 3 : url;
    const char *at, *stop;
    size_t skip = 0, len;

    stop = host + strcspn(host, "/?#");
    at = memchr(host, '@', (size_t)(stop - host));
    if (at != NULL)
        skip = (size_t)(at + 1 - host);
    snprintf(out, n, "%.*s", (int)(host - url), url);
    len = strlen(out);
    snprintf(out + len, n - len, "%.*s", (int)strcspn(host + skip, "?#"),
             host + skip);
}

char *al_http_url_join(const char *base, const char *ref)
{
    CURLU *u = curl_url();
    char *joined = NULL, *scheme = NULL, *out = NULL;

    if (u == NULL)
        return NULL;
    if (curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_URL, ref, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        (strcmp(scheme, "https") == 0 || strcmp(scheme, "http") == 0) &&
        curl_url_get(u, CURLUPART_URL, &joined, 0) == CURLUE_OK)
        out = strdup(joined);
    curl_free(joined);
    curl_free(scheme);
    curl_url_cleanup(u);
    return out;
}

static char *origin_of(const char *url)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *out = NULL;
    size_t n;

    if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
        n = strlen(scheme) + strlen(host) + strlen(port) + 8;
        out = malloc(n);
        if (out)
            snprintf(out, n, "%s://%s:%s", scheme, host, port);
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return out;
}

int al_http_same_origin(const char *a, const char *b)
{
    char *oa = origin_of(a), *ob = origin_of(b);
    int same = oa != NULL && ob != NULL && strcasecmp(oa, ob) == 0;

    free(oa);
    free(ob);
    return same;
}
