#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "airlock/sign.h"
#include "test.h"

static struct test *g_tests;
static int g_failed_checks;
static const char *g_current;
static char g_tmp[256];

void test_register(struct test *t)
{
    t->next = g_tests;
    g_tests = t;
}

static void report(const char *expr, const char *file, int line, const char *detail)
{
    g_failed_checks++;
    fprintf(stderr, "  %s:%d: %s: CHECK(%s) failed%s\n", file, line, g_current, expr,
            detail);
}

void test_check(int ok, const char *expr, const char *file, int line)
{
    if (!ok)
        report(expr, file, line, "");
}

void test_check_str(const char *a, const char *b, const char *expr, const char *file, int line)
{
    char detail[700];

    if (a != NULL && b != NULL && strcmp(a, b) == 0)
        return;
    snprintf(detail, sizeof(detail), ": '%.300s' vs '%.300s'", a ? a : "(null)",
             b ? b : "(null)");
    report(expr, file, line, detail);
}

void test_check_int(long long a, long long b, const char *expr, const char *file, int line)
{
    char detail[100];

    if (a == b)
        return;
    snprintf(detail, sizeof(detail), ": %lld vs %lld", a, b);
    report(expr, file, line, detail);
}

const char *test_shared(void)
{
    const char *s = getenv("AIRLOCK_SHARED");
    return s ? s : "../shared";
}

const char *test_tmpdir(void)
{
    return g_tmp;
}

char *test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *p = NULL;
    long n;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0 || (p = malloc((size_t)n + 1)) == NULL ||
        fread(p, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "unit-tests: cannot read fixture '%s'\n", path);
        exit(2);
    }
    fclose(f);
    p[n] = '\0';
    if (len)
        *len = (size_t)n;
    return p;
}

/* Runs every test, or those whose names contain argv[1]. */
int main(int argc, char **argv)
{
    struct test *t;
    int passed = 0, failed = 0;
    char cmd[300];

    snprintf(g_tmp, sizeof(g_tmp), "%s/airlock-unit.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(g_tmp) == NULL) {
        perror("unit-tests: mkdtemp");
        return 2;
    }
    for (t = g_tests; t != NULL; t = t->next) {
        int before = g_failed_checks;
        if (argc > 1 && strstr(t->name, argv[1]) == NULL)
            continue;
        g_current = t->name;
        t->fn();
        if (g_failed_checks == before) {
            passed++;
        } else {
            failed++;
            fprintf(stderr, "FAIL %s\n", t->name);
        }
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "unit-tests: could not remove %s\n", g_tmp);
    printf("unit: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

void test_new_key(const char *name, struct al_sig_key **key)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    char path[300];
    FILE *f;
    struct al_err e;

    snprintf(path, sizeof(path), "%s/%s", test_tmpdir(), name);
    f = fopen(path, "w");
    CHECK(k != NULL && f != NULL);
    CHECK(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1);
    fclose(f);
    EVP_PKEY_free(k);
    al_err_init(&e);
    CHECK_INT(al_sig_key_load_private(key, path, &e), 0);
}
