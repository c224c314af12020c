#include <stddef.h>

#include "airlock/http.h"
#include "test.h"

static void expect_range(const char *v, long long first, long long last)
{
    long long a = -1, b = -1;

    CHECK_INT(al_http_parse_content_range(v, &a, &b), 0);
    CHECK_INT(a, first);
    CHECK_INT(b, last);
}

TEST(http_content_range_reads_what_registries_send)
{
    expect_range("bytes 100-199/200", 100, 199);
    expect_range("bytes 0-0/1", 0, 0);
    expect_range("bytes 4194304-6291455/*", 4194304, 6291455);
    expect_range("BYTES  5-9/10", 5, 9);
    expect_range("bytes 9223372036854775806-9223372036854775806/9223372036854775807",
                 9223372036854775806LL, 9223372036854775806LL);
}

TEST(http_content_range_refuses_what_is_not_one_range)
{
    static const char *const bad[] = {
        "", "bytes", "bytes ", "bytes=100-199/200", "bytes100-199/200", "items 0-1/2",
        "bytes */200",                 /* an unsatisfied range names no bytes */
        "bytes -1-199/200", "bytes +1-199/200", "bytes 1--199/200",
        "bytes 200-100/300",           /* first after last */
        "bytes 100-199/199",           /* past the total */
        "bytes 100-199/", "bytes 100-199", "bytes 100-/200", "bytes 100-199/200 ",
        "bytes 100-199/200,300-399/400", "bytes 0x10-0x20/100",
        "bytes 9223372036854775808-9223372036854775809/*",   /* overflow */
    };
    long long a = -7, b = -7;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = al_http_parse_content_range(bad[i], &a, &b);
        test_check(rc == -1, bad[i], __FILE__, __LINE__);
    }
    CHECK_INT(al_http_parse_content_range(NULL, &a, &b), -1);
    CHECK_INT(a, -7);   /* nothing written on a refusal */
    CHECK_INT(b, -7);
}
