/* floor: what moving the bundle's blobs costs with nothing else to do, for
 * make bench (tests/bench/bench.sh; docs/PERFORMANCE.md).
 *
 *   floor get URL CA USER:PASS JOBS LIST
 *       LIST lines "REPO DIGEST": GET URL/v2/REPO/blobs/DIGEST, body
 *       discarded, over HTTP/1.1 (as airlock-export fetches blobs).
 *   floor get-h2 URL CA USER:PASS JOBS LIST
 *       the same over HTTP/2 where the registry offers it (curl's default):
 *       the read floor is the better of the two, whichever it is.
 *   floor put URL CA USER:PASS JOBS LIST
 *       LIST lines "REPO DIGEST FILE": POST URL/v2/REPO/blobs/uploads/, then
 *       one PUT LOCATION?digest=DIGEST with FILE as the body, over HTTP/1.1
 *       (as airlock-import sends its bodies).
 *
 * JOBS threads, each with one curl handle (one kept-alive connection, TLS
 * verified against CA, Basic auth), take the next blob from LIST. Prints
 * "BLOBS BYTES SECONDS" (wall time of the transfers, not of the setup).
 * No retries: any failure is exit status 1. */
#define _POSIX_C_SOURCE 200809L /* strtok_r, strdup */
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BUF (512L * 1024)

struct item {
    char *repo, *digest, *file;
};

static const char *g_url, *g_ca, *g_cred;
static int g_put, g_h2;
static struct item *g_items;
static size_t g_n;
static atomic_size_t g_next;
static atomic_ullong g_bytes;
static atomic_int g_failed;

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    atomic_fetch_add(&g_bytes, (unsigned long long)(size * n));
    return size * n;
}

static CURL *handle(void)
{
    CURL *c = curl_easy_init();
    if (c == NULL)
        return NULL;
    curl_easy_setopt(c, CURLOPT_CAINFO, g_ca);
    curl_easy_setopt(c, CURLOPT_USERPWD, g_cred);
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_BUFFERSIZE, BUF);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    if (!g_h2)
        curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    if (g_put)
        curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, BUF);
    return c;
}

static int fail(const char *what, const char *url, CURLcode rc)
{
    fprintf(stderr, "floor: %s %s: %s\n", what, url, curl_easy_strerror(rc));
    return -1;
}

static int get(CURL *c, const struct item *it)
{
    char url[2048];
    snprintf(url, sizeof url, "%s/v2/%s/blobs/%s", g_url, it->repo, it->digest);
    curl_easy_setopt(c, CURLOPT_URL, url);
    CURLcode rc = curl_easy_perform(c);
    return rc == CURLE_OK ? 0 : fail("GET", url, rc);
}

static int put(CURL *c, const struct item *it)
{
    char url[4096];
    snprintf(url, sizeof url, "%s/v2/%s/blobs/uploads/", g_url, it->repo);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 0L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
        return fail("POST", url, rc);
    struct curl_header *loc;
    if (curl_easy_header(c, "Location", 0, CURLH_HEADER, -1, &loc) != CURLHE_OK) {
        fprintf(stderr, "floor: POST %s: no Location\n", url);
        return -1;
    }
    char put_url[4096];
    const char *base = loc->value[0] == '/' ? g_url : "";
    int n = snprintf(put_url, sizeof put_url, "%s%s%sdigest=%s", base, loc->value,
                     strchr(loc->value, '?') ? "&" : "?", it->digest);
    if (n < 0 || (size_t)n >= sizeof put_url) {
        fprintf(stderr, "floor: location too long\n");
        return -1;
    }
    FILE *f = fopen(it->file, "rb");
    if (f == NULL) {
        perror(it->file);
        return -1;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    setvbuf(f, NULL, _IOFBF, BUF);
    curl_easy_setopt(c, CURLOPT_URL, put_url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READDATA, f);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
    rc = curl_easy_perform(c);
    fclose(f);
    if (rc != CURLE_OK)
        return fail("PUT", put_url, rc);
    atomic_fetch_add(&g_bytes, (unsigned long long)size);
    return 0;
}

static void *worker(void *arg)
{
    (void)arg;
    CURL *c = handle();
    if (c == NULL) {
        atomic_store(&g_failed, 1);
        return NULL;
    }
    for (;;) {
        size_t i = atomic_fetch_add(&g_next, 1);
        if (i >= g_n || atomic_load(&g_failed))
            break;
        if ((g_put ? put(c, &g_items[i]) : get(c, &g_items[i])) != 0) {
            atomic_store(&g_failed, 1);
            break;
        }
    }
    curl_easy_cleanup(c);
    return NULL;
}

static int load(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        perror(path);
        return -1;
    }
    char line[4096];
    size_t cap = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        char *save = NULL;
        char *repo = strtok_r(line, " \t\n", &save);
        char *digest = strtok_r(NULL, " \t\n", &save);
        char *file = strtok_r(NULL, " \t\n", &save);
        if (repo == NULL)
            continue;
        if (digest == NULL || (g_put && file == NULL)) {
            fprintf(stderr, "floor: %s: bad line\n", path);
            fclose(f);
            return -1;
        }
        if (g_n == cap) {
            cap = cap ? cap * 2 : 64;
            struct item *p = realloc(g_items, cap * sizeof *p);
            if (p == NULL) {
                fclose(f);
                return -1;
            }
            g_items = p;
        }
        g_items[g_n].repo = strdup(repo);
        g_items[g_n].digest = strdup(digest);
        g_items[g_n].file = file ? strdup(file) : NULL;
        if (g_items[g_n].repo == NULL || g_items[g_n].digest == NULL ||
            (file != NULL && g_items[g_n].file == NULL)) {
            fclose(f);
            return -1;
        }
        g_n++;
    }
    fclose(f);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 7 || (strcmp(argv[1], "get") != 0 && strcmp(argv[1], "get-h2") != 0 &&
                      strcmp(argv[1], "put") != 0)) {
        fprintf(stderr, "usage: floor get|get-h2|put URL CA USER:PASS JOBS LIST\n");
        return 2;
    }
    g_put = strcmp(argv[1], "put") == 0;
    g_h2 = strcmp(argv[1], "get-h2") == 0;
    g_url = argv[2];
    g_ca = argv[3];
    g_cred = argv[4];
    int jobs = atoi(argv[5]);
    if (jobs < 1 || jobs > 64 || load(argv[6]) != 0)
        return 2;
    if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
        return 1;
    pthread_t th[64];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int started = 0;
    for (; started < jobs; started++)
        if (pthread_create(&th[started], NULL, worker, NULL) != 0) {
            atomic_store(&g_failed, 1);
            break;
        }
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (atomic_load(&g_failed))
        return 1;
    printf("%zu %llu %.3f\n", g_n, (unsigned long long)atomic_load(&g_bytes),
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    curl_global_cleanup();
    return 0;
}
