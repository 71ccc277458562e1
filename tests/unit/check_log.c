/*
 * check_log.c - unit tests for logging: level and format parsing, the level check
 * happening before any argument is evaluated, the exact text and JSON line shapes
 * (stderr is redirected to a temporary file inside each forked test), JSON escaping
 * and safe truncation of long messages.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ts_check.h"
#include "pulse_err.h"
#include "pulse_log.h"

static const struct {
    const char *s;
    int rc;
    pulse_log_level level;
} level_cases[] = {
    {"error", 0, PULSE_LOG_ERROR}, {"warn", 0, PULSE_LOG_WARN},   {"info", 0, PULSE_LOG_INFO},
    {"debug", 0, PULSE_LOG_DEBUG}, {"DEBUG", 0, PULSE_LOG_DEBUG}, {"warning", 0, PULSE_LOG_WARN},
    {"", PULSE_EINVAL, PULSE_LOG_INFO}, {"verbose", PULSE_EINVAL, PULSE_LOG_INFO},
    {"info ", PULSE_EINVAL, PULSE_LOG_INFO},
};

START_TEST(test_level_parse)
{
    pulse_log_level l = PULSE_LOG_INFO;
    ck_assert_int_eq(pulse_log_level_parse(level_cases[_i].s, &l), level_cases[_i].rc);
    ck_assert_int_eq(l, level_cases[_i].level);
}
END_TEST

START_TEST(test_format_parse)
{
    pulse_log_format f = PULSE_LOG_TEXT;
    ck_assert_int_eq(pulse_log_format_parse("json", &f), 0);
    ck_assert_int_eq(f, PULSE_LOG_JSON);
    ck_assert_int_eq(pulse_log_format_parse("text", &f), 0);
    ck_assert_int_eq(f, PULSE_LOG_TEXT);
    ck_assert_int_eq(pulse_log_format_parse("xml", &f), PULSE_EINVAL);
    ck_assert_int_eq(pulse_log_level_parse(NULL, NULL), PULSE_EINVAL);
}
END_TEST

START_TEST(test_default_level)
{
    ck_assert_int_eq(pulse_log_current_level, PULSE_LOG_INFO);
}
END_TEST

/* Redirects fd 2 to a temp file; returns it for capture_read. */
static FILE *capture_start(void)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    ck_assert_int_ge(dup2(fileno(f), STDERR_FILENO), 0);
    return f;
}

static char *capture_read(FILE *f)
{
    long n;
    char *buf;
    fflush(f);
    n = lseek(fileno(f), 0, SEEK_END);
    ck_assert_int_ge(n, 0);
    buf = calloc(1, (size_t)n + 1);
    ck_assert_int_eq(pread(fileno(f), buf, (size_t)n, 0), n);
    return buf;
}

static int evaluated;
static int side_effect(void)
{
    evaluated++;
    return 1;
}

START_TEST(test_level_filters_before_formatting)
{
    FILE *f = capture_start();
    char *out;
    pulse_log_set_level(PULSE_LOG_WARN);
    PLOG_INFO("t", "hidden %d", side_effect());
    PLOG_DEBUG("t", "hidden %d", side_effect());
    ck_assert_int_eq(evaluated, 0);
    PLOG_WARN("t", "shown %d", side_effect());
    PLOG_ERR("t", "shown too");
    ck_assert_int_eq(evaluated, 1);
    out = capture_read(f);
    ck_assert_msg(strstr(out, "hidden") == NULL, "%s", out);
    ck_assert_msg(strstr(out, "WARN  [t] shown 1\n") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "ERROR [t] shown too\n") != NULL, "%s", out);
    free(out);
}
END_TEST

/* 2026-11-22T10:42:04.123Z */
static void assert_ts(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    for (size_t i = 0; i < sizeof shape - 1; i++) {
        if (shape[i] == 'd')
            ck_assert_msg(s[i] >= '0' && s[i] <= '9', "timestamp '%.24s'", s);
        else
            ck_assert_msg(s[i] == shape[i], "timestamp '%.24s'", s);
    }
}

START_TEST(test_text_line)
{
    FILE *f = capture_start();
    char *out;
    pulse_log_set_format(PULSE_LOG_TEXT);
    pulse_log_write(PULSE_LOG_INFO, "redis", "connected to %s:%d", "127.0.0.1", 6379);
    pulse_log_set_ident("node-1");
    pulse_log_write(PULSE_LOG_ERROR, "ws", "two\nlines");
    pulse_log_set_ident(NULL);
    out = capture_read(f);
    {
        char *second = strchr(out, '\n');
        ck_assert_ptr_nonnull(second);
        second++;
        assert_ts(out);
        assert_ts(second);
        ck_assert_str_eq(second + 24, " ERROR node-1 [ws] two lines\n");
        second[0] = '\0';
        ck_assert_str_eq(out + 24, " INFO  [redis] connected to 127.0.0.1:6379\n");
    }
    free(out);
}
END_TEST

START_TEST(test_json_line_escaping)
{
    FILE *f = capture_start();
    const char *msg = "quote \" backslash \\ newline \n tab \t ctl \x01 utf8 \xc3\xa9 end";
    char *out;
    json_error_t jerr;
    json_t *root;
    pulse_log_set_format(PULSE_LOG_JSON);
    pulse_log_set_ident("node-\"1\"");
    pulse_log_write(PULSE_LOG_DEBUG, "ta\"g", "%s", msg);
    out = capture_read(f);
    ck_assert_msg(strchr(out, '\n') == out + strlen(out) - 1, "one line: %s", out);
    root = json_loads(out, 0, &jerr);
    ck_assert_msg(root != NULL, "not JSON (%s): %s", jerr.text, out);
    ck_assert_str_eq(json_string_value(json_object_get(root, "msg")), msg);
    ck_assert_str_eq(json_string_value(json_object_get(root, "level")), "debug");
    ck_assert_str_eq(json_string_value(json_object_get(root, "tag")), "ta\"g");
    ck_assert_str_eq(json_string_value(json_object_get(root, "ident")), "node-\"1\"");
    assert_ts(json_string_value(json_object_get(root, "ts")));
    json_decref(root);
    free(out);
}
END_TEST

START_TEST(test_long_message_truncated)
{
    FILE *f = capture_start();
    size_t n = 100000;
    char *big = malloc(n + 1);
    char *out;
    json_t *root;
    memset(big, '"', n); /* worst case for escaping */
    big[n] = '\0';
    pulse_log_set_format(PULSE_LOG_JSON);
    pulse_log_write(PULSE_LOG_ERROR, "big", "%s", big);
    pulse_log_set_format(PULSE_LOG_TEXT);
    pulse_log_write(PULSE_LOG_ERROR, "big", "%s", big);
    out = capture_read(f);
    {
        char *nl = strchr(out, '\n');
        ck_assert_ptr_nonnull(nl);
        *nl = '\0';
        root = json_loads(out, 0, NULL);
        ck_assert_msg(root != NULL, "truncated JSON line must stay valid: %.200s", out);
        const char *m = json_string_value(json_object_get(root, "msg"));
        ck_assert_uint_gt(strlen(m), 1000);
        ck_assert_uint_lt(strlen(m), n);
        ck_assert_str_eq(m + strlen(m) - 3, "...");
        json_decref(root);
        /* second line: text, also truncated, ends with "...\n" */
        char *second = nl + 1;
        size_t sl = strlen(second);
        ck_assert_uint_gt(sl, 1000);
        ck_assert_uint_lt(sl, 16384);
        ck_assert_str_eq(second + sl - 4, "...\n");
    }
    free(big);
    free(out);
}
END_TEST

/* A storm of lines from one site: one per interval, the rest counted. */
START_TEST(test_limited_site)
{
    static pulse_log_limit lim;
    unsigned long long held = 99;
    ck_assert_int_eq(pulse_log_limit_take(&lim, 200, &held), 1);
    ck_assert_int_eq(held, 0);
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(pulse_log_limit_take(&lim, 200, &held), 0);
    usleep(250 * 1000);
    ck_assert_int_eq(pulse_log_limit_take(&lim, 200, &held), 1);
    ck_assert_int_eq(held, 1000);
}
END_TEST

Suite *ts_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = ts_tcase(s, "log", 0);
    tcase_add_loop_test(tc, test_level_parse, 0, N_ELEMS(level_cases));
    ts_add_tests(tc, test_format_parse, test_default_level, test_level_filters_before_formatting,
                 test_text_line, test_json_line_escaping, test_long_message_truncated, test_limited_site);
    return s;
}
