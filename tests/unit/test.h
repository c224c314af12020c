/* A small unit-test framework: TEST() registers itself at load time, so no
 * test can be forgotten; CHECK* record failures and go on. */
#ifndef AIRLOCK_TEST_H
#define AIRLOCK_TEST_H

#include <stddef.h>

struct test {
    const char *name;
    void (*fn)(void);
    struct test *next;
};

void test_register(struct test *t);
void test_check(int ok, const char *expr, const char *file, int line);
void test_check_str(const char *a, const char *b, const char *expr, const char *file, int line);
void test_check_int(long long a, long long b, const char *expr, const char *file, int line);

/* The path of ../shared/ (AIRLOCK_SHARED overrides), and a scratch dir. */
const char *test_shared(void);
const char *test_tmpdir(void);
/* Reads a whole file into a NUL-terminated string; aborts the test run when
 * it cannot (a missing fixture is a broken test, not a failure to report). */
char *test_read_file(const char *path, size_t *len);

/* A new Ed25519 private key written to the scratch dir as NAME and loaded
 * into *key (free it with al_sig_key_free). */
struct al_sig_key;
void test_new_key(const char *name, struct al_sig_key **key);

#define TEST(fn_)                                                           \
    static void fn_(void);                                                  \
    static struct test fn_##_entry = {#fn_, fn_, NULL};                      \
    __attribute__((constructor)) static void fn_##_register(void)           \
    {                                                                       \
        test_register(&fn_##_entry);                                        \
    }                                                                       \
    static void fn_(void)

#define CHECK(c) test_check(!!(c), #c, __FILE__, __LINE__)
#define CHECK_STR(a, b) test_check_str((a), (b), #a " == " #b, __FILE__, __LINE__)
#define CHECK_INT(a, b) test_check_int((long long)(a), (long long)(b), #a " == " #b, __FILE__, __LINE__)

#endif
