#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../cli/cli.h"
#include "test.h"

TEST(cli_sizes_take_binary_suffixes_and_media)
{
    long long v = 0;

    CHECK_INT(cli_parse_size("1024", &v), 0);
    CHECK_INT(v, 1024);
    CHECK_INT(cli_parse_size("1K", &v), 0);
    CHECK_INT(v, 1024);
    CHECK_INT(cli_parse_size("700M", &v), 0);
    CHECK_INT(v, 700LL << 20);
    CHECK_INT(cli_parse_size("4GiB", &v), 0);
    CHECK_INT(v, 4LL << 30);
    CHECK_INT(cli_parse_size("2T", &v), 0);
    CHECK_INT(v, 2LL << 40);
    CHECK_INT(cli_parse_size("fat32", &v), 0);
    CHECK_INT(v, (4LL << 30) - 1);
    CHECK_INT(cli_parse_size("dvd", &v), 0);
    CHECK_INT(v, 4700000000LL);
    CHECK_INT(cli_parse_size("bd25", &v), 0);
    CHECK_INT(v, 25000000000LL);
    CHECK_INT(cli_parse_size("", &v), -1);
    CHECK_INT(cli_parse_size("0", &v), -1);
    CHECK_INT(cli_parse_size("-5M", &v), -1);
    CHECK_INT(cli_parse_size("5X", &v), -1);
    CHECK_INT(cli_parse_size("1.5G", &v), -1);
    CHECK_INT(cli_parse_size("99999999999999999999", &v), -1);
    CHECK_INT(cli_parse_size("2000000T", &v), -1);
}

TEST(cli_retries_are_bounded)
{
    int n = -1;

    CHECK_INT(cli_parse_retries("0", &n), 0);
    CHECK_INT(n, 0);
    CHECK_INT(cli_parse_retries("100", &n), 0);
    CHECK_INT(cli_parse_retries("101", &n), -1);
    CHECK_INT(cli_parse_retries("x", &n), -1);
}

TEST(cli_timeout_and_jobs_have_bounds)
{
    long secs = 0;
    int jobs = 0;

    CHECK_INT(cli_parse_timeout("30", &secs), 0);
    CHECK_INT(secs, 30);
    CHECK_INT(cli_parse_timeout("0", &secs), -1);
    CHECK_INT(cli_parse_timeout("3601", &secs), -1);
    CHECK_INT(cli_parse_timeout("5s", &secs), -1);
    CHECK_INT(cli_parse_jobs("4", &jobs), 0);
    CHECK_INT(jobs, 4);
    CHECK_INT(cli_parse_jobs("0", &jobs), -1);
    CHECK_INT(cli_parse_jobs("33", &jobs), -1);
}

TEST(cli_transfer_options_are_taken_for_both_programs)
{
    int retries = -1, jobs = 4, taken = 0;
    long timeout = 0;

    CHECK_INT(cli_take_transfer_option('j', "8", &retries, &timeout, &jobs, &taken), 0);
    CHECK(taken);
    CHECK_INT(jobs, 8);
    CHECK_INT(cli_take_transfer_option(CLI_OPT_TIMEOUT, "90", &retries, &timeout, &jobs, &taken), 0);
    CHECK_INT(timeout, 90);
    CHECK_INT(cli_take_transfer_option(CLI_OPT_RETRIES, "2", &retries, &timeout, &jobs, &taken), 0);
    CHECK_INT(retries, 2);
    CHECK_INT(cli_take_transfer_option('q', NULL, &retries, &timeout, &jobs, &taken), 0);
    CHECK(!taken);
    fprintf(stderr, "  (a usage error is expected here:)\n");
    CHECK(cli_take_transfer_option('j', "0", &retries, &timeout, &jobs, &taken) != 0);
    CHECK(taken);
    CHECK_INT(jobs, 8);
}

TEST(cli_human_sizes_and_durations)
{
    char b[32];

    CHECK_STR(cli_human_size(0, b, sizeof(b)), "0 B");
    CHECK_STR(cli_human_size(1023, b, sizeof(b)), "1023 B");
    CHECK_STR(cli_human_size(1536, b, sizeof(b)), "1.50 KiB");
    CHECK_STR(cli_human_size(6855564, b, sizeof(b)), "6.54 MiB");
    CHECK_STR(cli_human_size(200LL << 30, b, sizeof(b)), "200 GiB");
    CHECK_STR(cli_human_duration(0.42, b, sizeof(b)), "0.4 s");
    CHECK_STR(cli_human_duration(42, b, sizeof(b)), "42 s");
    CHECK_STR(cli_human_duration(125, b, sizeof(b)), "2 min 05 s");
    CHECK_STR(cli_human_duration(3720, b, sizeof(b)), "1 h 02 min");
}

/* A value quoted in a message (here as a registry could send it: a clear
 * screen, a carriage return, a forged second line) cannot act on the
 * terminal: every control byte shows as '?', UTF-8 stays. */
TEST(cli_messages_show_control_characters_as_question_marks)
{
    char path[300], *text;
    int fd, saved;
    size_t len;

    snprintf(path, sizeof(path), "%s/stderr.txt", test_tmpdir());
    fflush(stderr);
    saved = dup(STDERR_FILENO);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600);
    CHECK(saved >= 0 && fd >= 0);
    if (saved < 0 || fd < 0)
        return;
    dup2(fd, STDERR_FILENO);
    close(fd);
    cli_msg("the registry says '%s'", "a\x1b[2Jb\rc\nairlock: fine\x7f\xc3\xa9");
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    text = test_read_file(path, &len);
    CHECK(strstr(text, "the registry says 'a?[2Jb?c?airlock: fine?\xc3\xa9'\n") != NULL);
    CHECK(strchr(text, '\n') == text + len - 1);   /* one line */
    free(text);
    unlink(path);
}
