/*
 * check_functions.c - unit tests for pulse_functions: the built-in history rules and
 * the first-match lookup, rule validation, the generated Lua library (its shape, the
 * compiled rule table, the version that follows rules and code), key names, and the
 * reader of the "#pulse1 <offset> <epoch>\n" header. What the library does inside Redis
 * is tested against a real redis-server in tests/integration/test_history_redis.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pulse_functions.h"
#include "ts_check.h"

START_TEST(test_default_rules)
{
    size_t n = 0;
    const pulse_history_rule *d = pulse_history_default_rules(&n);
    const pulse_history_rule *r;

    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(d[0].pattern, "events.critical");
    ck_assert_str_eq(d[1].pattern, "alerts.*");
    r = pulse_history_rule_for(NULL, 0, "events.critical");
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->history_size, PULSE_HISTORY_DEFAULT_SIZE);
    ck_assert_uint_eq(r->history_ttl_s, PULSE_HISTORY_DEFAULT_TTL_S);
    ck_assert_ptr_nonnull(pulse_history_rule_for(NULL, 0, "alerts.db"));
    ck_assert_ptr_nonnull(pulse_history_rule_for(NULL, 0, "alerts."));
    ck_assert_ptr_null(pulse_history_rule_for(NULL, 0, "alerts"));
    ck_assert_ptr_null(pulse_history_rule_for(NULL, 0, "events.critical2"));
    ck_assert_ptr_null(pulse_history_rule_for(NULL, 0, "feed:user-1"));
    ck_assert_ptr_null(pulse_history_rule_for(NULL, 0, NULL));
}
END_TEST

START_TEST(test_first_match_wins)
{
    static const pulse_history_rule rules[] = {
        {"feed:vip-*", 50, 60},
        {"feed:*", 0, 0},        /* masks the catch-all below for feeds */
        {"*:user-*", 10, 3600},
        {"*", 5, 30},
    };
    struct {
        const char *channel;
        int rule; /* index in rules, -1 none */
    } cases[] = {
        {"feed:vip-1", 0}, {"feed:user-1", 1}, {"notifications:user-7", 2}, {"x", 3},
        {"events.critical", 3},
    };
    for (int i = 0; i < N_ELEMS(cases); i++) {
        const pulse_history_rule *r = pulse_history_rule_for(rules, N_ELEMS(rules), cases[i].channel);
        ck_assert_msg(r == &rules[cases[i].rule], "%s: rule %ld, want %d", cases[i].channel,
                      r ? (long)(r - rules) : -1L, cases[i].rule);
    }
    /* custom rules replace the built-in ones: nothing matches, nothing kept */
    ck_assert_ptr_null(pulse_history_rule_for(rules, 1, "events.critical"));
}
END_TEST

START_TEST(test_rule_check)
{
    static const struct {
        pulse_history_rule r;
        int ok;
        const char *msg; /* part of the error text */
    } cases[] = {
        {{"events.critical", 1000, 86400}, 1, NULL},
        {{"a*b*c", 1, 1}, 1, NULL},
        {{"off", 0, 0}, 1, NULL},                    /* no history: TTL ignored */
        {{"big", PULSE_HISTORY_MAX_SIZE, PULSE_HISTORY_MAX_TTL_S}, 1, NULL},
        {{"", 1, 1}, 0, "not a channel"},
        {{"bad name", 1, 1}, 0, "not a channel"},
        {{"quote'", 1, 1}, 0, "not a channel"},
        {{"x", PULSE_HISTORY_MAX_SIZE + 1, 1}, 0, "history_size"},
        {{"x", 10, 0}, 0, "history_ttl_s"},
        {{"x", 10, PULSE_HISTORY_MAX_TTL_S + 1}, 0, "history_ttl_s"},
    };
    for (int i = 0; i < N_ELEMS(cases); i++) {
        pulse_error err;
        int rc = pulse_history_rule_check(&cases[i].r, &err);
        if (cases[i].ok) {
            ck_assert_msg(rc == 0, "case %d: %s", i, err.text);
        } else {
            ck_assert_int_eq(rc, PULSE_EINVAL);
            ck_assert_msg(strstr(err.text, cases[i].msg) != NULL, "case %d: %s", i, err.text);
        }
    }
    ck_assert_int_eq(pulse_history_rule_check(NULL, NULL), PULSE_EINVAL);
}
END_TEST

START_TEST(test_source_defaults)
{
    char *src = NULL, *src2 = NULL;
    char v[PULSE_FN_VERSION_MAX], v2[PULSE_FN_VERSION_MAX];
    size_t n;
    const pulse_history_rule *d = pulse_history_default_rules(&n);
    pulse_error err;

    ck_assert_int_eq(pulse_functions_source(NULL, 0, &src, v, &err), 0);
    ck_assert_ptr_nonnull(src);
    ck_assert_msg(strncmp(src, "#!lua name=pulse\n", 17) == 0, "%.40s", src);
    ck_assert_ptr_nonnull(strstr(src, "  {0, 'events.critical', 1000, 86400},\n"));
    ck_assert_ptr_nonnull(strstr(src, "  {1, 'alerts.', 1000, 86400},\n"));
    ck_assert_ptr_nonnull(strstr(src, "function_name = 'pulse_publish'"));
    ck_assert_ptr_nonnull(strstr(src, "function_name = 'pulse_position'"));
    ck_assert_ptr_nonnull(strstr(src, "function_name = 'pulse_version'"));
    /* the presence functions (what they do: test_presence.c, against Redis) */
    static const char *pres[] = {PULSE_FN_PRESENCE_ADD, PULSE_FN_PRESENCE_REMOVE, PULSE_FN_PRESENCE_TOUCH,
                                 PULSE_FN_PRESENCE, PULSE_FN_PRESENCE_STATS};
    for (int i = 0; i < N_ELEMS(pres); i++) {
        char reg[96];
        snprintf(reg, sizeof reg, "function_name = '%s', callback", pres[i]);
        ck_assert_msg(strstr(src, reg) != NULL, "%s not registered", pres[i]);
    }
    ck_assert_ptr_nonnull(strstr(src, "local PURGE_MAX, PRES_MAX_EXPIRE, PRES_MAX_LIMIT = 100,"));
    ck_assert_ptr_nonnull(strstr(src, "#pulse1 ' .. kind .. '\\n{\"op\":\"'"));
    /* the version covers the presence code too: it is hashed before the VERSION line */
    ck_assert(strstr(src, "presence_stats") < strstr(src, "VERSION = '"));
    /* version: "1:" + 16 lowercase hex, and the library states it */
    ck_assert_uint_eq(strlen(v), 18);
    ck_assert_msg(strncmp(v, "1:", 2) == 0 && strspn(v + 2, "0123456789abcdef") == 16, "%s", v);
    {
        char line[64];
        snprintf(line, sizeof line, "VERSION = '%s'\n", v);
        ck_assert_ptr_nonnull(strstr(src, line));
    }
    /* the explicit default rules give the same text */
    ck_assert_int_eq(pulse_functions_source(d, n, &src2, v2, &err), 0);
    ck_assert_str_eq(src, src2);
    ck_assert_str_eq(v, v2);
    free(src);
    free(src2);
    /* version may be NULL */
    ck_assert_int_eq(pulse_functions_source(NULL, 0, &src, NULL, NULL), 0);
    free(src);
}
END_TEST

START_TEST(test_source_rules_and_version)
{
    pulse_history_rule rules[] = {
        {"events.critical", 1000, 86400},
        {"feed:*", 0, 0},
        {"*:user-*", 20, 600},
    };
    char *src = NULL;
    char v1[PULSE_FN_VERSION_MAX], v2[PULSE_FN_VERSION_MAX], v3[PULSE_FN_VERSION_MAX];
    pulse_error err;

    ck_assert_int_eq(pulse_functions_source(rules, 3, &src, v1, &err), 0);
    ck_assert_ptr_nonnull(strstr(src, "  {0, 'events.critical', 1000, 86400},\n"
                                      "  {1, 'feed:', 0, 0},\n"
                                      "  {2, '*:user-*', 20, 600},\n}\n"));
    free(src);
    /* any change of a rule changes the version; the same rules give the same one */
    rules[2].history_size = 21;
    ck_assert_int_eq(pulse_functions_source(rules, 3, &src, v2, &err), 0);
    free(src);
    ck_assert_str_ne(v1, v2);
    rules[2].history_size = 20;
    ck_assert_int_eq(pulse_functions_source(rules, 3, &src, v3, &err), 0);
    free(src);
    ck_assert_str_eq(v1, v3);
    /* order matters (first match wins) */
    {
        pulse_history_rule swapped[] = {rules[1], rules[0], rules[2]};
        ck_assert_int_eq(pulse_functions_source(swapped, 3, &src, v2, &err), 0);
        free(src);
        ck_assert_str_ne(v1, v2);
    }
}
END_TEST

START_TEST(test_source_sharded)
{
    char *plain = NULL, *sharded = NULL, v1[PULSE_FN_VERSION_MAX], v2[PULSE_FN_VERSION_MAX];
    ck_assert_int_eq(pulse_functions_source_for(NULL, 0, false, &plain, v1, NULL), 0);
    ck_assert_int_eq(pulse_functions_source_for(NULL, 0, true, &sharded, v2, NULL), 0);
    ck_assert_ptr_nonnull(strstr(plain, "local PUB = 'PUBLISH'\n"));
    ck_assert_ptr_nonnull(strstr(sharded, "local PUB = 'SPUBLISH'\n"));
    /* every publish goes through PUB: no literal command is left in either */
    ck_assert_ptr_null(strstr(plain, "redis.call('PUBLISH'"));
    ck_assert_ptr_null(strstr(sharded, "redis.call('PUBLISH'"));
    ck_assert_str_ne(v1, v2);
    free(plain);
    free(sharded);
}
END_TEST

START_TEST(test_source_bad_rule)
{
    pulse_history_rule rules[] = {
        {"events.critical", 1000, 86400},
        {"x')redis.call('FLUSHALL')--", 1, 1},
    };
    char *src = (char *)"untouched";
    pulse_error err;

    ck_assert_int_eq(pulse_functions_source(rules, 2, &src, NULL, &err), PULSE_EINVAL);
    ck_assert_ptr_null(src);
    ck_assert_ptr_nonnull(strstr(err.text, "not a channel"));
    rules[1].pattern = "ok";
    rules[1].history_ttl_s = 0;
    ck_assert_int_eq(pulse_functions_source(rules, 2, &src, NULL, &err), PULSE_EINVAL);
    ck_assert_ptr_null(src);
    ck_assert_int_eq(pulse_functions_source(rules, PULSE_HISTORY_MAX_RULES + 1, &src, NULL, &err),
                     PULSE_EINVAL);
    ck_assert_int_eq(pulse_functions_source(rules, 1, NULL, NULL, &err), PULSE_EINVAL);
}
END_TEST

START_TEST(test_keys)
{
    char buf[200];

    ck_assert_int_eq(pulse_history_key("events.critical", "meta", buf, sizeof buf), 28);
    ck_assert_str_eq(buf, "pulse:{events.critical}:meta");
    ck_assert_int_eq(pulse_history_key("a", "stream", buf, sizeof buf), 16);
    ck_assert_str_eq(buf, "pulse:{a}:stream");
    ck_assert_int_eq(pulse_history_key("a", "stream", buf, 16), PULSE_ENOSPC);
    ck_assert_int_eq(pulse_history_key("a", "other", buf, sizeof buf), PULSE_EINVAL);
    ck_assert_int_eq(pulse_history_key("a}b", "meta", buf, sizeof buf), PULSE_EINVAL);
    ck_assert_int_eq(pulse_history_key("a*", "meta", buf, sizeof buf), PULSE_EINVAL);
}
END_TEST

START_TEST(test_header_parse)
{
    static const struct {
        const char *msg;
        int rc;
        unsigned long long offset;
        const char *epoch;
        size_t header_len;
    } cases[] = {
        {"#pulse1 1 AbC123xy\n{\"a\":1}", 0, 1, "AbC123xy", 19},
        {"#pulse1 42 e\n", 0, 42, "e", 13},                      /* empty payload */
        {"#pulse1 9223372036854775807 x_-9\npayload", 0, 9223372036854775807ULL, "x_-9", 33},
        {"{\"event_id\":1}", PULSE_ENOENT, 0, NULL, 0},          /* raw PUBLISH */
        {"#pulse", PULSE_ENOENT, 0, NULL, 0},
        {"#pulse2 1 a\nx", PULSE_ENOENT, 0, NULL, 0},
        {"", PULSE_ENOENT, 0, NULL, 0},
        {"#pulse1 \n", PULSE_EINVAL, 0, NULL, 0},
        {"#pulse1 0 a\nx", PULSE_EINVAL, 0, NULL, 0},            /* offsets start at 1 */
        {"#pulse1 01 a\nx", PULSE_EINVAL, 0, NULL, 0},
        {"#pulse1 -1 a\nx", PULSE_EINVAL, 0, NULL, 0},
        {"#pulse1 9223372036854775808 a\nx", PULSE_EINVAL, 0, NULL, 0},
        {"#pulse1 99999999999999999999 a\nx", PULSE_EINVAL, 0, NULL, 0},
        {"#pulse1 1  a\nx", PULSE_EINVAL, 0, NULL, 0},
        {"#pulse1 1 a b\nx", PULSE_EINVAL, 0, NULL, 0},
        {"#pulse1 1 a", PULSE_EINVAL, 0, NULL, 0},               /* no newline */
        {"#pulse1 1 \nx", PULSE_EINVAL, 0, NULL, 0},             /* empty epoch */
        {"#pulse1 1 a\rx\n", PULSE_EINVAL, 0, NULL, 0},
        {"#pulse1 1 abcdefghijabcdefghijabcdefghijabc\nx", PULSE_EINVAL, 0, NULL, 0}, /* 33 */
    };
    for (int i = 0; i < N_ELEMS(cases); i++) {
        pulse_position_hdr h;
        int rc;
        memset(&h, 0x55, sizeof h);
        rc = pulse_position_hdr_parse(cases[i].msg, strlen(cases[i].msg), &h);
        ck_assert_msg(rc == cases[i].rc, "case %d (%s): rc %d want %d", i, cases[i].msg, rc,
                      cases[i].rc);
        if (rc == 0) {
            ck_assert_uint_eq(h.offset, cases[i].offset);
            ck_assert_str_eq(h.epoch, cases[i].epoch);
            ck_assert_uint_eq(h.header_len, cases[i].header_len);
        }
    }
    /* len is honoured: the newline past len is not seen */
    ck_assert_int_eq(pulse_position_hdr_parse("#pulse1 5 ab\n", 12, NULL), PULSE_EINVAL);
    ck_assert_int_eq(pulse_position_hdr_parse("#pulse1 5 ab\n", 13, NULL), 0);
    ck_assert_int_eq(pulse_position_hdr_parse(NULL, 5, NULL), PULSE_ENOENT);
}
END_TEST

Suite *ts_suite(void)
{
    return ts_suite_of("functions", "functions", 0, test_default_rules, test_first_match_wins,
                       test_rule_check, test_source_defaults, test_source_rules_and_version,
                       test_source_bad_rule, test_source_sharded, test_keys, test_header_parse);
}
