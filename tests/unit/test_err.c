#include "test.h"

#include <jansson.h>
#include <string.h>

#include "airlock/err.h"

/* Messages quote what came from outside (a Content-Type, a digest header, a
 * file name) and are cut at AL_ERR_MSG_MAX: whatever they hold, they come out
 * as UTF-8, so the JSON outputs that carry them (bundle.json's reasons,
 * --json's error) keep them. */
TEST(err_messages_are_valid_utf8)
{
    struct al_err e;
    char text[AL_ERR_MSG_MAX + 8];
    json_t *s;

    al_err_init(&e);
    al_err_set(&e, AL_EINVAL, "type '%s'", "caf\xc3\xa9 \xff\xfe \xe2\x82 \xed\xa0\x80 \xf4\x90\x80\x80 ok");
    CHECK_STR(e.msg, "type 'caf\xc3\xa9 ?? ?? ??? ???? ok'");
    s = json_string(e.msg);
    CHECK(s != NULL);
    json_decref(s);

    memset(text, 'a', AL_ERR_MSG_MAX - 2);   /* "é" straddles the cut */
    memcpy(text + AL_ERR_MSG_MAX - 2, "\xc3\xa9", 3);
    al_err_set(&e, AL_EINVAL, "%s", text);
    CHECK_INT(strlen(e.msg), AL_ERR_MSG_MAX - 1);
    CHECK_INT(e.msg[AL_ERR_MSG_MAX - 2], '?');
    s = json_string(e.msg);
    CHECK(s != NULL);
    json_decref(s);

    /* overlong forms are not UTF-8; a 4-byte character is */
    al_err_set(&e, AL_EINVAL, "%s", "\xc0\x80 \xc1\xbf \xe0\x80\x80 \xf0\x80\x80\x80 \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf");
    CHECK_STR(e.msg, "?? ?? ??? ???? \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf");

    al_err_set(&e, AL_EINVAL, "inner \xe2\x82\xac");
    al_err_prefix(&e, "outer \xc3");
    CHECK_STR(e.msg, "outer ?: inner \xe2\x82\xac");
}
