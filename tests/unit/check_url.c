/*
 * check_url.c - unit tests for pulse_url_parse: the redis, ws(s) and http(s) shapes,
 * defaults, IPv6 literals, credentials, and rejection of garbage with clear texts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ts_check.h"
#include "pulse_url.h"

static const struct {
    const char *in, *expect;
    const char *scheme, *host;
    int port;
    const char *password;
    int db;
    const char *path;
} good[] = {
    {"redis://127.0.0.1:6380", "redis", "redis", "127.0.0.1", 6380, "", 0, "/"},
    {"redis://localhost", "redis", "redis", "localhost", 6379, "", 0, "/"},
    {"redis://localhost/", NULL, "redis", "localhost", 6379, "", 0, "/"},
    {"redis://:s3cret@redis.internal:7000/2", "redis", "redis", "redis.internal", 7000, "s3cret", 2, "/"},
    {"redis://user:pw@h/15", NULL, "redis", "h", 6379, "pw", 15, "/"},
    {"redis://[::1]:6390", "redis", "redis", "::1", 6390, "", 0, "/"},
    {"redis://[fe80::1%eth0]", "redis", "redis", "fe80::1%eth0", 6379, "", 0, "/"},
    {"ws://127.0.0.1:8080/ws?channels=events.critical,feed:user-42&token=abc", "ws", "ws",
     "127.0.0.1", 8080, "", 0, "/ws?channels=events.critical,feed:user-42&token=abc"},
    {"ws://gw", "ws", "ws", "gw", 80, "", 0, "/"},
    {"ws://gw?batch=1", "ws", "ws", "gw", 80, "", 0, "/?batch=1"},
    {"wss://gw.example.com/ws", "ws", "wss", "gw.example.com", 443, "", 0, "/ws"},
    {"WS://GW:1/", "ws", "ws", "GW", 1, "", 0, "/"},
    {"http://[2001:db8::7]:65535/publish", "http", "http", "2001:db8::7", 65535, "", 0, "/publish"},
    {"https://admin.local", "http", "https", "admin.local", 443, "", 0, "/"},
};

START_TEST(test_good)
{
    pulse_url u;
    pulse_error err = {0};
    int rc = pulse_url_parse(good[_i].in, good[_i].expect, &u, &err);
    ck_assert_msg(rc == 0, "%s: %s", good[_i].in, err.text);
    ck_assert_str_eq(u.scheme, good[_i].scheme);
    ck_assert_str_eq(u.host, good[_i].host);
    ck_assert_int_eq(u.port, good[_i].port);
    ck_assert_str_eq(u.password, good[_i].password);
    ck_assert_int_eq(u.db, good[_i].db);
    ck_assert_str_eq(u.path, good[_i].path);
}
END_TEST

static const struct {
    const char *in, *expect, *text;
} bad[] = {
    {"foo", "redis", "unparsable URL 'foo': expected redis://host:port"},
    {"", NULL, "unparsable URL '': expected scheme://host[:port]"},
    {"127.0.0.1:6379", "redis", "unparsable URL '127.0.0.1:6379': expected redis://host:port"},
    {"ftp://h", NULL, "unparsable URL 'ftp://h': unknown scheme (expected redis, ws, wss, http or https)"},
    {"ws://h", "redis", "unparsable URL 'ws://h': wrong scheme (expected redis://host:port)"},
    {"redis://h", "ws", "unparsable URL 'redis://h': wrong scheme (expected ws://host:port/path)"},
    {"redis://", "redis", "unparsable URL 'redis://': missing host"},
    {"redis://:6379", "redis", "unparsable URL 'redis://:6379': missing host"},
    {"redis://h:0", "redis", "unparsable URL 'redis://h:0': port must be a number from 1 to 65535"},
    {"redis://h:65536", "redis", "unparsable URL 'redis://h:65536': port must be a number from 1 to 65535"},
    {"redis://h:", "redis", "unparsable URL 'redis://h:': port must be a number from 1 to 65535"},
    {"redis://h:-1", "redis", "unparsable URL 'redis://h:-1': port must be a number from 1 to 65535"},
    {"redis://h:12ab", "redis", "unparsable URL 'redis://h:12ab': port must be a number from 1 to 65535"},
    {"redis://h:99999999999999", "redis", "unparsable URL 'redis://h:99999999999999': port must be a number from 1 to 65535"},
    {"redis://h/x", "redis", "unparsable URL 'redis://h/x': database must be a non-negative number"},
    {"redis://h/1?x=1", "redis", "unparsable URL 'redis://h/1?x=1': database must be a non-negative number"},
    {"redis://[::1", "redis", "unparsable URL 'redis://[::1': missing ']' after IPv6 address"},
    {"redis://[]:1", "redis", "unparsable URL 'redis://[]:1': missing host"},
    {"redis://[::1]x", "redis", "unparsable URL 'redis://[::1]x': unexpected text after ']'"},
    {"redis://ho st", "redis", "unparsable URL 'redis://ho st': bad character in host"},
    {"ws://user:pw@h", "ws", "unparsable URL 'ws://***@h': credentials are only supported for redis URLs"},
    {"ws://h/a b", "ws", "unparsable URL 'ws://h/a b': bad character in path"},
    {"ws://h/#frag", "ws", "unparsable URL 'ws://h/#frag': fragments are not supported"},
};

START_TEST(test_bad)
{
    pulse_url u;
    pulse_error err = {0};
    ck_assert_int_eq(pulse_url_parse(bad[_i].in, bad[_i].expect, &u, &err), PULSE_EINVAL);
    ck_assert_int_eq(err.code, PULSE_EINVAL);
    ck_assert_str_eq(err.text, bad[_i].text);
}
END_TEST

START_TEST(test_long_inputs)
{
    char s[1200], host[300];
    pulse_url u;
    pulse_error err;
    memset(host, 'h', 255);
    host[255] = '\0';
    snprintf(s, sizeof s, "redis://%s:1", host);
    ck_assert_int_eq(pulse_url_parse(s, "redis", &u, &err), 0);
    ck_assert_uint_eq(strlen(u.host), 255);
    memset(host, 'h', 256);
    host[256] = '\0';
    snprintf(s, sizeof s, "redis://%s:1", host);
    ck_assert_int_eq(pulse_url_parse(s, "redis", &u, &err), PULSE_EINVAL);
    ck_assert_msg(strstr(err.text, "host too long") != NULL, "%s", err.text);
    ck_assert_msg(strstr(err.text, "...") != NULL, "long input is shortened: %s", err.text);
    memset(s, 'p', sizeof s);
    memcpy(s, "ws://h/", 7);
    s[sizeof s - 1] = '\0';
    ck_assert_int_eq(pulse_url_parse(s, "ws", &u, &err), PULSE_EINVAL);
    ck_assert_msg(strstr(err.text, "path too long") != NULL, "%s", err.text);
    ck_assert_int_eq(pulse_url_parse(NULL, NULL, &u, NULL), PULSE_EINVAL);
}
END_TEST

/* issue 13.9: a URL is printed without its userinfo, whatever it holds */
START_TEST(test_redact)
{
    static const char *const cases[][2] = {
        {"redis://:s3cret@redis.internal:7000/2", "redis://***@redis.internal:7000/2"},
        {"redis://user:p@ss@h/15", "redis://***@h/15"},
        {"redis://127.0.0.1:6379", "redis://127.0.0.1:6379"},
        {"ws://h/ws?x=a@b", "ws://h/ws?x=a@b"},
        {"http://u:pw@[::1]:8080/publish", "http://***@[::1]:8080/publish"},
        {":pw@host", "***@host"},
        {"", ""},
    };
    char out[128];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_str_eq(pulse_url_redact(cases[i][0], out, sizeof out), cases[i][1]);
    pulse_url u;
    pulse_error err = {0};
    ck_assert_int_ne(pulse_url_parse("redis://:s3cret@bad host:1", "redis", &u, &err), 0);
    ck_assert_msg(strstr(err.text, "s3cret") == NULL, "error text: %s", err.text);
}
END_TEST

START_TEST(test_cluster)
{
    pulse_url seeds[PULSE_URL_SEEDS_MAX];
    size_t n = 0;
    pulse_error err = {0};
    ck_assert(pulse_url_is_cluster("REDIS+CLUSTER://h"));
    ck_assert(!pulse_url_is_cluster("redis://h"));
    ck_assert_int_eq(pulse_url_parse_cluster("redis+cluster://u:pw@10.0.0.1:7000,[::1]:7001,h/0", seeds,
                                             PULSE_URL_SEEDS_MAX, &n, &err), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(seeds[0].host, "10.0.0.1");
    ck_assert_int_eq(seeds[0].port, 7000);
    ck_assert_str_eq(seeds[0].password, "pw");
    ck_assert_str_eq(seeds[1].host, "::1");
    ck_assert_int_eq(seeds[1].port, 7001);
    ck_assert_str_eq(seeds[2].host, "h");
    ck_assert_int_eq(seeds[2].port, 6379);
    ck_assert_str_eq(seeds[2].password, "pw");
    static const char *const bad_ones[][2] = {
        {"redis://h", "expected redis+cluster://"},
        {"redis+cluster://", "no seed node"},
        {"redis+cluster://:pw@", "no seed node"},
        {"redis+cluster://a,", "an empty seed after the last comma"},
        {"redis+cluster://,a", "an empty seed between commas"},
        {"redis+cluster://a:0", "seed 1: "},
        {"redis+cluster://a,b c", "seed 2: "},
        {"redis+cluster://a/1", "Redis Cluster has only db 0"},
        {"redis+cluster://a,b,c", "too many seed nodes"},
    };
    for (size_t i = 0; i < N_ELEMS(bad_ones); i++) {
        memset(&err, 0, sizeof err);
        size_t max = i == N_ELEMS(bad_ones) - 1 ? 2 : PULSE_URL_SEEDS_MAX;
        ck_assert_int_eq(pulse_url_parse_cluster(bad_ones[i][0], seeds, max, &n, &err), PULSE_EINVAL);
        ck_assert_msg(strstr(err.text, bad_ones[i][1]) != NULL, "%s: %s", bad_ones[i][0], err.text);
    }
    memset(&err, 0, sizeof err);
    ck_assert_int_ne(pulse_url_parse_cluster("redis+cluster://:s3cret@a,b c", seeds, 4, &n, &err), 0);
    ck_assert_msg(strstr(err.text, "s3cret") == NULL, "error text: %s", err.text);
}
END_TEST

Suite *ts_suite(void)
{
    Suite *s = suite_create("url");
    TCase *tc = ts_tcase(s, "url", 0);
    tcase_add_loop_test(tc, test_good, 0, N_ELEMS(good));
    tcase_add_loop_test(tc, test_bad, 0, N_ELEMS(bad));
    ts_add_tests(tc, test_long_inputs, test_redact, test_cluster);
    return s;
}
