#include <stdlib.h>
#include <string.h>

#include "airlock/state.h"
#include "test.h"

static void meta_of(struct al_bundle_meta *m, const char *id, const char *created)
{
    memset(m, 0, sizeof(*m));
    m->id = (char *)(size_t)id;
    m->created = (char *)(size_t)created;
}

TEST(state_time_parse_takes_utc_times_only)
{
    static const char *const bad[] = {
        "", "2026-11-25", "2026-11-25T11:33:37", "2026-11-25T11:33:37+01:00",
        "2026-13-25T11:33:37Z", "2026-11-25T24:00:00Z", "1969-12-31T23:59:59Z",
        "2026-11-25T11:33:37Zx", " 2026-11-25T11:33:37Z", "2026-11-25 11:33:37Z",
    };
    struct al_err e;
    long long t = 0;
    size_t i;

    al_err_init(&e);
    CHECK_INT(al_state_time_parse("1970-01-01T00:00:00Z", &t, &e), 0);
    CHECK_INT(t, 0);
    CHECK_INT(al_state_time_parse("2026-11-25T11:33:37Z", &t, &e), 0);
    CHECK_INT(t, 1795606417LL);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_INT(al_state_time_parse(bad[i], &t, &e), AL_EINVAL);
    CHECK_INT(al_state_time_parse(NULL, &t, &e), AL_EINVAL);
}

TEST(state_round_trip_and_order)
{
    struct al_bundle_meta m;
    struct al_state a, b, back;
    struct al_err e;
    char *text = NULL;

    al_err_init(&e);
    meta_of(&m, "0123456789abcdef0123456789abcdef", "2026-11-25T11:33:37Z");
    CHECK_INT(al_state_from_meta(&a, &m, "00112233445566ff", 1795700000, &e), 0);
    CHECK_STR(a.imported, "2026-11-26T13:33:20Z");
    CHECK_INT(al_state_manifest(&a, &text, &e), 0);
    CHECK(text != NULL && strstr(text, "\"layers\":[]") != NULL);
    CHECK_INT(al_state_parse(&back, text, strlen(text), "record", &e), 0);
    CHECK_STR(back.bundle_id, a.bundle_id);
    CHECK_STR(back.created, "2026-11-25T11:33:37Z");
    CHECK_INT(back.created_t, a.created_t);
    CHECK_STR(back.key_id, "00112233445566ff");
    CHECK_STR(back.imported, a.imported);
    free(text);

    meta_of(&m, "later", "2026-11-25T11:33:38Z");
    CHECK_INT(al_state_from_meta(&b, &m, "", 1795700000, &e), 0);
    CHECK(al_state_older(&a, &b));
    CHECK(!al_state_older(&b, &a));
    CHECK(!al_state_older(&a, &a));   /* the same bundle again is not a rollback */
}

TEST(state_refuses_what_is_not_a_record)
{
    static const char *const bad[] = {
        "", "{}", "not json", "{\"annotations\": {}}",
        "{\"annotations\": {\"io.airlock.format\": \"other\"}}",
        "{\"annotations\": {\"io.airlock.format\": \"airlock-mirror-state\"}}",
        "{\"annotations\": {\"io.airlock.format\": \"airlock-mirror-state\", "
        "\"io.airlock.bundle.id\": \"a b\", \"io.airlock.bundle.created\": "
        "\"2026-11-25T11:33:37Z\", \"io.airlock.bundle.key-id\": \"\"}}",
        "{\"annotations\": {\"io.airlock.format\": \"airlock-mirror-state\", "
        "\"io.airlock.bundle.id\": \"abc\", \"io.airlock.bundle.created\": "
        "\"yesterday\", \"io.airlock.bundle.key-id\": \"\"}}",
        "{\"annotations\": {\"io.airlock.format\": \"airlock-mirror-state\", "
        "\"io.airlock.bundle.id\": \"abc\", \"io.airlock.bundle.created\": "
        "\"2026-11-25T11:33:37Z\", \"io.airlock.bundle.key-id\": \"xyz\"}}",
    };
    const char good[] = "{\"annotations\": {\"io.airlock.format\": \"airlock-mirror-state\", "
                        "\"io.airlock.bundle.id\": \"abc\", \"io.airlock.bundle.created\": "
                        "\"2026-11-25T11:33:37Z\", \"io.airlock.bundle.key-id\": \"\"}}";
    struct al_bundle_meta m;
    struct al_state s;
    struct al_err e;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        al_err_init(&e);
        CHECK_INT(al_state_parse(&s, bad[i], strlen(bad[i]), "'m/airlock/state:latest'", &e),
                  AL_EINVAL);
        CHECK(strstr(e.msg, "'m/airlock/state:latest'") != NULL);
        CHECK_STR(s.bundle_id, "");
    }
    CHECK_INT(al_state_parse(&s, good, sizeof(good) - 1, "r", &e), 0);
    CHECK_STR(s.bundle_id, "abc");
    meta_of(&m, "abc", NULL);
    CHECK_INT(al_state_from_meta(&s, &m, "", 0, &e), AL_EINVAL);
    CHECK(strstr(e.msg, "bundle abc has no creation time") != NULL);
    meta_of(&m, "../x", "2026-11-25T11:33:37Z");
    CHECK_INT(al_state_from_meta(&s, &m, "", 0, &e), AL_EINVAL);
}
