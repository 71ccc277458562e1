/*
 * check_config.c - unit tests for gateway/gw_config.c: defaults, the libconfig file,
 * PULSE_* environment variables, flags, their precedence, every error path with its
 * exact message, and the channel rules.
 *
 * Config files are written to a temp file per test (Check's fork mode runs each test in
 * its own process) and removed at the end of the test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ts_check.h"
#include "gw_config.h"

/* ---- helpers ---- */

static char tmp_path[64];

/* Writes text to a fresh temp file; returns its path (static buffer). */
static const char *write_conf(const char *text)
{
    snprintf(tmp_path, sizeof tmp_path, "/tmp/pulse-cfg-XXXXXX");
    int fd = mkstemp(tmp_path);
    ck_assert_int_ge(fd, 0);
    size_t n = strlen(text);
    ck_assert_int_eq((int)write(fd, text, n), (int)n);
    close(fd);
    return tmp_path;
}

static void drop_conf(void)
{
    if (tmp_path[0])
        unlink(tmp_path);
    tmp_path[0] = '\0';
}

/* Loads with env (NULL-terminated, may be NULL) and args (NULL-terminated, without
 * argv[0], may be NULL). */
static int load(gw_config *c, const char *path, const char *const *env, const char *const *args,
                pulse_error *err)
{
    const char *argv[64] = {"pulse-gateway"};
    int argc = 1;
    for (size_t i = 0; args && args[i]; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;
    memset(err, 0, sizeof *err);
    return gw_config_load(c, path, (char *const *)env, argc, (char *const *)argv, err);
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* ---- defaults ---- */

static void assert_defaults(const gw_config *c)
{
    char host[256] = "";
    gethostname(host, sizeof host);
    host[63] = '\0';
    ck_assert_str_eq(c->node_id, host);
    ck_assert_str_eq(c->bind, "127.0.0.1");
    ck_assert_int_eq(c->port, 8080);
    ck_assert_str_eq(c->admin_bind, "127.0.0.1");
    ck_assert_int_eq(c->admin_port, 9090);
    ck_assert_str_eq(c->redis_url, "redis://127.0.0.1:6379");
    ck_assert_str_eq(c->redis_host, "127.0.0.1");
    ck_assert_int_eq(c->redis_port, 6379);
    ck_assert_ptr_null(c->redis_password);
    ck_assert_int_eq(c->workers, 1);
    ck_assert_str_eq(c->log_level, "info");
    ck_assert_str_eq(c->log_format, "text");
    ck_assert_int_eq(c->ws_event_loop, GW_EVLOOP_EPOLL);
    ck_assert_int_eq(c->max_connections, 100000);
    ck_assert_int_eq(c->max_message_size, 65536);
    ck_assert_int_eq(c->max_subscriptions, 64);
    ck_assert_int_eq(c->queue_max_messages, 1024);
    ck_assert_int_eq(c->queue_max_bytes, 1048576);
    ck_assert_int_eq(c->queue_hard_messages, 8192);
    ck_assert_int_eq(c->queue_hard_bytes, 8388608);
    ck_assert_int_eq(c->lag_limit_ms, 10000);
    ck_assert_int_eq(c->heartbeat_interval_s, 30);
    ck_assert_int_eq(c->heartbeat_timeout_s, 10);
    ck_assert_int_eq(c->handshake_timeout_s, 10);
    ck_assert_int_eq(c->drain_timeout_ms, 5000);
    ck_assert_int_eq(c->redis_ping_interval_ms, 1000);
    ck_assert_int_eq(c->redis_ping_timeout_ms, 3000);
    ck_assert_int_eq(c->redis_backoff_max_ms, 1000);
    ck_assert_uint_eq(c->n_static_channels, 0);
    ck_assert_uint_eq(c->n_rules, 3);
    ck_assert_str_eq(c->rules[0].pattern, "events.critical");
    ck_assert_int_eq(c->rules[0].priority, PULSE_PRIO_CRITICAL);
    ck_assert_int_eq(c->rules[0].policy, GW_POLICY_NEVER);
    ck_assert_str_eq(c->rules[1].pattern, "alerts.*");
    ck_assert_int_eq(c->rules[1].priority, PULSE_PRIO_CRITICAL);
    ck_assert_int_eq(c->rules[1].policy, GW_POLICY_NEVER);
    ck_assert_str_eq(c->rules[2].pattern, "*");
    ck_assert_int_eq(c->rules[2].priority, PULSE_PRIO_NORMAL);
    ck_assert_int_eq(c->rules[2].policy, GW_POLICY_DROP);
}

START_TEST(test_defaults)
{
    gw_config c;
    gw_config_defaults(&c);
    assert_defaults(&c);
    ck_assert_ptr_null(c.config_path);
    ck_assert_int_eq(c.help_requested, 0);
    gw_config_free(&c);
    gw_config_free(&c); /* twice is safe */
    gw_config_free(NULL);
}
END_TEST

START_TEST(test_load_nothing_keeps_defaults)
{
    gw_config c;
    pulse_error err;
    gw_config_defaults(&c);
    ck_assert_int_eq(load(&c, NULL, NULL, NULL, &err), 0);
    assert_defaults(&c);
    gw_config_free(&c);
}
END_TEST

/* The shipped example shows every default: loading it changes nothing. */
START_TEST(test_example_file_is_defaults)
{
    gw_config c;
    pulse_error err;
    gw_config_defaults(&c);
    int rc = load(&c, PULSE_SOURCE_DIR "/gateway/pulse.conf", NULL, NULL, &err);
    ck_assert_msg(rc == 0, "%s", err.text);
    assert_defaults(&c);
    ck_assert_str_eq(c.config_path, PULSE_SOURCE_DIR "/gateway/pulse.conf");
    gw_config_free(&c);
}
END_TEST

/* ---- the file ---- */

static const char every_key[] =
    "# every key, none at its default\n"
    "node_id = \"gw-7@eu:1\";\n"
    "bind = \"0.0.0.0\";\n"
    "port = 8181;\n"
    "admin_bind = \"::1\";\n"
    "admin_port = 0;\n"
    "redis = \"redis://:s3cret@10.1.2.3:6390/2\";\n"
    "workers = 4;\n"
    "log_level = \"debug\";\n"
    "log_format = \"json\";\n"
    "limits = {\n"
    "  max_connections = 5000;\n"
    "  max_message_size = 4096;\n"
    "  max_subscriptions = 8;\n"
    "  queue_max_messages = 100;\n"
    "  queue_max_bytes = 3000000000;\n"     /* > 2^31, no L suffix */
    "  queue_hard_messages = 200;\n"
    "  queue_hard_bytes = 8589934592L;\n"   /* with the suffix */
    "  lag_limit_ms = 2500;\n"
    "  heartbeat_interval_s = 0;\n"
    "  heartbeat_timeout_s = 3;\n"
    "  handshake_timeout_s = 4;\n"
    "  drain_timeout_ms = 700;\n"
    "  redis_ping_interval_ms = 250;\n"
    "  redis_ping_timeout_ms = 900;\n"
    "  redis_backoff_max_ms = 4000;\n"
    "  history_recover_max = 0;\n"
    "  history_read_max = 50;\n"
    "};\n"
    "channels = {\n"
    "  static = [ \"events.critical\", \"feed:*\" ];\n"
    "  rules = (\n"
    "    { pattern = \"feed:*\"; priority = \"normal\"; policy = \"latest\"; history_size = 100; history_ttl_s = 60; },\n"
    "    { pattern = \"billing.*\"; priority = \"critical\"; },\n"
    "    { pattern = \"chat.*\"; }\n"
    "  );\n"
    "};\n"
    "ws = { event_loop = \"libev\"; };\n";

START_TEST(test_file_every_key)
{
    gw_config c;
    pulse_error err;
    gw_config_defaults(&c);
    const char *path = write_conf(every_key);
    int rc = load(&c, path, NULL, NULL, &err);
    ck_assert_msg(rc == 0, "%s", err.text);
    ck_assert_str_eq(c.config_path, path);
    ck_assert_str_eq(c.node_id, "gw-7@eu:1");
    ck_assert_str_eq(c.bind, "0.0.0.0");
    ck_assert_int_eq(c.port, 8181);
    ck_assert_str_eq(c.admin_bind, "::1");
    ck_assert_int_eq(c.admin_port, 0);
    ck_assert_str_eq(c.redis_url, "redis://:s3cret@10.1.2.3:6390/2");
    ck_assert_str_eq(c.redis_host, "10.1.2.3");
    ck_assert_int_eq(c.redis_port, 6390);
    ck_assert_str_eq(c.redis_password, "s3cret");
    ck_assert_int_eq(c.workers, 4);
    ck_assert_str_eq(c.log_level, "debug");
    ck_assert_str_eq(c.log_format, "json");
    ck_assert_int_eq(c.ws_event_loop, GW_EVLOOP_LIBEV);
    ck_assert_int_eq(c.max_connections, 5000);
    ck_assert_int_eq(c.max_message_size, 4096);
    ck_assert_int_eq(c.max_subscriptions, 8);
    ck_assert_int_eq(c.queue_max_messages, 100);
    ck_assert(c.queue_max_bytes == 3000000000LL);
    ck_assert_int_eq(c.queue_hard_messages, 200);
    ck_assert(c.queue_hard_bytes == 8589934592LL);
    ck_assert_int_eq(c.lag_limit_ms, 2500);
    ck_assert_int_eq(c.heartbeat_interval_s, 0);
    ck_assert_int_eq(c.heartbeat_timeout_s, 3);
    ck_assert_int_eq(c.handshake_timeout_s, 4);
    ck_assert_int_eq(c.drain_timeout_ms, 700);
    ck_assert_int_eq(c.redis_ping_interval_ms, 250);
    ck_assert_int_eq(c.redis_ping_timeout_ms, 900);
    ck_assert_int_eq(c.redis_backoff_max_ms, 4000);
    ck_assert_int_eq(c.history_recover_max, 0);
    ck_assert_int_eq(c.history_read_max, 50);
    ck_assert_uint_eq(c.n_static_channels, 2);
    ck_assert_str_eq(c.static_channels[0], "events.critical");
    ck_assert_str_eq(c.static_channels[1], "feed:*");

    /* user rules first, in file order, then the three built-ins */
    ck_assert_uint_eq(c.n_rules, 6);
    ck_assert_str_eq(c.rules[0].pattern, "feed:*");
    ck_assert_int_eq(c.rules[0].priority, PULSE_PRIO_NORMAL);
    ck_assert_int_eq(c.rules[0].policy, GW_POLICY_LATEST);
    ck_assert_str_eq(c.rules[1].pattern, "billing.*");
    ck_assert_int_eq(c.rules[1].priority, PULSE_PRIO_CRITICAL);
    ck_assert_int_eq(c.rules[1].policy, GW_POLICY_NEVER); /* default for critical */
    ck_assert_str_eq(c.rules[2].pattern, "chat.*");
    ck_assert_int_eq(c.rules[2].priority, PULSE_PRIO_NORMAL); /* default priority */
    ck_assert_int_eq(c.rules[2].policy, GW_POLICY_DROP);      /* default for normal */
    ck_assert_str_eq(c.rules[3].pattern, "events.critical");
    ck_assert_str_eq(c.rules[4].pattern, "alerts.*");
    ck_assert_str_eq(c.rules[5].pattern, "*");

    /* history: feed:* set it, billing.* and chat.* did not (the next rule decides) */
    ck_assert_int_eq(c.rules[0].history_size, 100);
    ck_assert_int_eq(c.rules[0].history_ttl_s, 60);
    ck_assert_int_eq(c.rules[1].history_size, -1);
    ck_assert_int_eq(gw_config_history_for(&c, "feed:user-1")->history_size, 100);
    ck_assert_int_eq(gw_config_history_for(&c, "billing.x")->history_size, 0);
    ck_assert_int_eq(gw_config_history_for(&c, "events.critical")->history_size, PULSE_HISTORY_DEFAULT_SIZE);
    size_t nh = 0;
    pulse_history_rule *hr = gw_config_history_rules(&c, &nh);
    ck_assert_uint_eq(nh, 4);
    ck_assert_str_eq(hr[0].pattern, "feed:*");
    ck_assert_uint_eq(hr[0].history_size, 100);
    ck_assert_uint_eq(hr[0].history_ttl_s, 60);
    ck_assert_str_eq(hr[1].pattern, "events.critical");
    ck_assert_str_eq(hr[2].pattern, "alerts.*");
    ck_assert_str_eq(hr[3].pattern, "*");
    ck_assert_uint_eq(hr[3].history_size, 0);
    free(hr);
    gw_config_free(&c);
    drop_conf();
}
END_TEST

START_TEST(test_history_rules)
{
    /* a rule that only changes the policy of alerts.* keeps its built-in history;
     * history_size 0 turns it off; a size without a TTL gets the default TTL */
    gw_config c;
    pulse_error err;
    gw_config_defaults(&c);
    ck_assert_int_eq(gw_config_history_for(&c, "alerts.disk")->history_size, PULSE_HISTORY_DEFAULT_SIZE);
    ck_assert_int_eq(gw_config_history_for(&c, "alerts.disk")->history_ttl_s, PULSE_HISTORY_DEFAULT_TTL_S);
    ck_assert_int_eq(gw_config_history_for(&c, "feed:x")->history_size, 0);
    ck_assert_int_eq(c.history_recover_max, 5000);
    ck_assert_int_eq(c.history_read_max, 1000);
    const char *path = write_conf("channels = { rules = (\n"
                                  "  { pattern = \"alerts.*\"; policy = \"drop\"; },\n"
                                  "  { pattern = \"events.critical\"; history_size = 0; },\n"
                                  "  { pattern = \"chat.*\"; history_size = 5; }\n"
                                  "); };\n");
    int rc = load(&c, path, NULL, NULL, &err);
    ck_assert_msg(rc == 0, "%s", err.text);
    ck_assert_int_eq(gw_config_rule_for(&c, "alerts.disk")->policy, GW_POLICY_DROP);
    ck_assert_int_eq(gw_config_history_for(&c, "alerts.disk")->history_size, PULSE_HISTORY_DEFAULT_SIZE);
    ck_assert_int_eq(gw_config_history_for(&c, "events.critical")->history_size, 0);
    ck_assert_int_eq(gw_config_history_for(&c, "chat.1")->history_size, 5);
    ck_assert_int_eq(gw_config_history_for(&c, "chat.1")->history_ttl_s, PULSE_HISTORY_DEFAULT_TTL_S);
    size_t nh = 0;
    pulse_history_rule *hr = gw_config_history_rules(&c, &nh);
    for (size_t i = 0; i < nh; i++) {
        pulse_error e2;
        ck_assert_msg(pulse_history_rule_check(&hr[i], &e2) == 0, "rule %zu: %s", i, e2.text);
    }
    ck_assert_ptr_eq(pulse_history_rule_for(hr, nh, "events.critical"), &hr[0]);
    ck_assert_uint_eq(pulse_history_rule_for(hr, nh, "alerts.x")->history_size, PULSE_HISTORY_DEFAULT_SIZE);
    free(hr);
    gw_config_free(&c);
    drop_conf();
}
END_TEST

/* The Centrifugo endpoint's timers: defaults, the file group, a flag, the bounds. */
START_TEST(test_centrifugo_keys)
{
    gw_config c;
    pulse_error err;
    gw_config_defaults(&c);
    ck_assert_int_eq(c.cf_ping_interval_s, 25);
    ck_assert_int_eq(c.cf_pong_timeout_s, 10);
    ck_assert_int_eq(c.cf_expired_close_delay_s, 25);
    const char *path = write_conf("centrifugo = { ping_interval_s = 2; pong_timeout_s = 1;"
                                  " expired_close_delay_s = 0; };\n");
    int rc = load(&c, path, NULL, ARGS("--centrifugo.ping-interval-s", "3"), &err);
    ck_assert_msg(rc == 0, "%s", err.text);
    ck_assert_int_eq(c.cf_ping_interval_s, 3);
    ck_assert_int_eq(c.cf_pong_timeout_s, 1);
    ck_assert_int_eq(c.cf_expired_close_delay_s, 0);
    gw_config_free(&c);
    gw_config_defaults(&c);
    path = write_conf("centrifugo = { ping_interval_s = 0; };\n");
    ck_assert_int_lt(load(&c, path, NULL, NULL, &err), 0);
    ck_assert_msg(strstr(err.text, "centrifugo.ping_interval_s") != NULL, "%s", err.text);
    gw_config_free(&c);
}
END_TEST

START_TEST(test_presence_rules)
{
    /* off by default; a rule without presence leaves it to the next one that sets it */
    gw_config c;
    pulse_error err;
    gw_config_defaults(&c);
    ck_assert_int_eq(gw_config_presence_for(&c, "room.1")->presence, 0);
    ck_assert_int_eq(gw_config_presence_for(&c, "events.critical")->presence, 0);
    ck_assert_int_eq(c.presence_refresh_interval_s, 5);
    ck_assert_int_eq(c.presence_list_max, 1000);
    const char *path = write_conf("presence = { refresh_interval_s = 2; list_max = 50; };\n"
                                  "channels = { rules = (\n"
                                  "  { pattern = \"room.vip\"; policy = \"latest\"; },\n"
                                  "  { pattern = \"room.*\"; presence = true; join_leave = true; },\n"
                                  "  { pattern = \"doc:*\"; presence = true; },\n"
                                  "  { pattern = \"doc:secret\"; presence = false; }\n"
                                  "); };\n");
    int rc = load(&c, path, NULL, NULL, &err);
    ck_assert_msg(rc == 0, "%s", err.text);
    ck_assert_int_eq(c.presence_refresh_interval_s, 2);
    ck_assert_int_eq(c.presence_list_max, 50);
    ck_assert_int_eq(gw_config_rule_for(&c, "room.vip")->policy, GW_POLICY_LATEST);
    ck_assert_int_eq(gw_config_presence_for(&c, "room.vip")->presence, 1);
    ck_assert_int_eq(gw_config_presence_for(&c, "room.vip")->join_leave, 1);
    ck_assert_int_eq(gw_config_presence_for(&c, "doc:a")->presence, 1);
    ck_assert_int_eq(gw_config_presence_for(&c, "doc:a")->join_leave, -1);
    ck_assert_int_eq(gw_config_presence_for(&c, "doc:secret")->presence, 1); /* doc:* comes first */
    ck_assert_int_eq(gw_config_presence_for(&c, "other")->presence, 0);
    gw_config_free(&c);
    drop_conf();
    /* a string is not a boolean; out of range is refused */
    gw_config_defaults(&c);
    path = write_conf("channels = { rules = ( { pattern = \"a\"; presence = \"yes\"; } ); };\n");
    ck_assert_int_ne(load(&c, path, NULL, NULL, &err), 0);
    ck_assert_msg(strstr(err.text, "presence: must be true or false") != NULL, "%s", err.text);
    drop_conf();
    path = write_conf("presence = { refresh_interval_s = 0; };\n");
    ck_assert_int_ne(load(&c, path, NULL, NULL, &err), 0);
    ck_assert_msg(strstr(err.text, "presence.refresh_interval_s") != NULL, "%s", err.text);
    drop_conf();
    gw_config_free(&c);
}
END_TEST

/* Error paths of the file: each case is a file and the exact message after
 * "config: <path>:" ("%d" is the line, filled from line), or the whole message when
 * whole is set. */
typedef struct {
    const char *text;
    int line;
    const char *msg;
} file_err_case;

static const file_err_case file_errs[] = {
    /* unknown keys, with their path and line */
    {"port = 1;\nprot = 2;\n", 2, "unknown key 'prot'"},
    {"limits = {\n  max_connections = 5;\n\n  max_conections = 5;\n};\n", 4,
     "unknown key 'limits.max_conections'"},
    {"channels = {\n  statics = [];\n};\n", 2, "unknown key 'channels.statics'"},
    {"channels = {\n  rules = (\n    { pattern = \"a\"; prio = \"normal\"; }\n  );\n};\n", 3,
     "unknown key 'channels.rules[0].prio'"},
    {"redis_url = \"redis://h\";\n", 1, "unknown key 'redis_url'"},
    {"max_connections = 5;\n", 1, "unknown key 'max_connections'"},
    {"channels = {\n  rules = (\n    { pattern = \"a\"; history_ttl_s = 5; }\n  );\n};\n", 3,
     "channels.rules[0]: history_ttl_s needs history_size"},
    {"channels = {\n  rules = (\n    { pattern = \"a\"; history_size = \"5\"; }\n  );\n};\n", 3,
     "channels.rules[0].history_size: must be an integer, not a string"},
    {"channels = {\n  rules = (\n    { pattern = \"a\"; history_size = 10000001; }\n  );\n};\n", 3,
     "channels.rules[0].history_size: must be an integer from 0 to 10000000 (got '10000001')"},
    {"channels = {\n  rules = (\n    { pattern = \"a\"; history_size = 1; history_ttl_s = 0; }\n  );\n};\n", 3,
     "channels.rules[0].history_ttl_s: must be an integer from 1 to 31536000 (got '0')"},
    {"limits = { history_read_max = 0; };\n", 1,
     "limits.history_read_max: must be an integer from 1 to 100000 (got '0')"},
    /* wrong types */
    {"port = \"8080\";\n", 1, "port: must be an integer, not a string"},
    {"\nworkers = 2.5;\n", 2, "workers: must be an integer, not a float"},
    {"bind = 5;\n", 1, "bind: must be a string, not an integer"},
    {"log_level = true;\n", 1, "log_level: must be a string, not a boolean"},
    {"limits = 5;\n", 1, "limits: must be a group { ... }, not an integer"},
    {"limits = { lag_limit_ms = \"5\"; };\n", 1, "limits.lag_limit_ms: must be an integer, not a string"},
    {"channels = { static = \"events.critical\"; };\n", 1,
     "channels.static: must be an array of channel names, not a string"},
    {"channels = { static = [ 1 ]; };\n", 1, "channels.static[0]: must be a string, not an integer"},
    {"channels = { rules = [ \"a\" ]; };\n", 1,
     "channels.rules: must be a list ( { pattern = ...; }, ... ), not an array"},
    {"channels = { rules = ( \"a\" ); };\n", 1,
     "channels.rules[0]: must be a group { pattern = \"...\"; priority = \"...\"; policy = \"...\"; }, not a string"},
    /* out of range */
    {"port = 65536;\n", 1, "port: must be an integer from 0 to 65535 (got '65536')"},
    {"admin_port = -1;\n", 1, "admin_port: must be an integer from 0 to 65535 (got '-1')"},
    {"workers = 0;\n", 1, "workers: must be an integer from 1 to 64 (got '0')"},
    {"workers = 65;\n", 1, "workers: must be an integer from 1 to 64 (got '65')"},
    {"limits = { max_connections = 10000001; };\n", 1,
     "limits.max_connections: must be an integer from 1 to 10000000 (got '10000001')"},
    /* 5000000000 wraps to 705032704 in libconfig 1.5; it must be refused, not wrapped */
    {"limits = { max_connections = 5000000000; };\n", 1,
     "limits.max_connections: must be an integer from 1 to 10000000 (got '5000000000')"},
    {"limits = { max_message_size = 63; };\n", 1,
     "limits.max_message_size: must be an integer from 64 to 16777216 (got '63')"},
    {"limits = { max_subscriptions = 0; };\n", 1,
     "limits.max_subscriptions: must be an integer from 1 to 100000 (got '0')"},
    {"limits = { queue_max_bytes = 0; };\n", 1,
     "limits.queue_max_bytes: must be an integer from 1 to 68719476736 (got '0')"},
    {"limits = { heartbeat_interval_s = -1; };\n", 1,
     "limits.heartbeat_interval_s: must be an integer from 0 to 86400 (got '-1')"},
    {"limits = { heartbeat_timeout_s = 0; };\n", 1,
     "limits.heartbeat_timeout_s: must be an integer from 1 to 86400 (got '0')"},
    {"limits = { redis_ping_timeout_ms = 0; };\n", 1,
     "limits.redis_ping_timeout_ms: must be an integer from 1 to 3600000 (got '0')"},
    /* bad values */
    {"node_id = \"gw 1\";\n", 1, "node_id: must be 1-63 bytes of [A-Za-z0-9._:@-] (got 'gw 1')"},
    {"node_id = \"\";\n", 1, "node_id: must be 1-63 bytes of [A-Za-z0-9._:@-] (got '')"},
    {"node_id = \"a,b\";\n", 1, "node_id: must be 1-63 bytes of [A-Za-z0-9._:@-] (got 'a,b')"},
    {"redis = \"http://127.0.0.1:6379\";\n", 1,
     "redis: unparsable URL 'http://127.0.0.1:6379': wrong scheme (expected redis://host:port)"},
    {"log_level = \"loud\";\n", 1, "log_level: must be one of error, warn, info, debug (got 'loud')"},
    {"log_format = \"xml\";\n", 1, "log_format: must be text or json (got 'xml')"},
    {"ws = { event_loop = \"kqueue\"; };\n", 1, "ws.event_loop: must be epoll, poll or libev (got 'kqueue')"},
    {"bind = \"\";\n", 1, "bind: must be a host name or IP address (got '')"},
    {"channels = {\n static = [ \"ok\",\n \"not ok\" ];\n};\n", 3,
     "channels.static[1]: bad channel name 'not ok': must be 1-128 bytes of [A-Za-z0-9._:@-] or '*'"},
    {"channels = { rules = (\n { pattern = \"a b\"; }\n ); };\n", 2,
     "channels.rules[0].pattern: bad channel name 'a b': must be 1-128 bytes of [A-Za-z0-9._:@-] or '*'"},
    {"channels = { rules = (\n { pattern = \"a\"; },\n { priority = \"normal\"; }\n ); };\n", 3,
     "channels.rules[1]: missing pattern"},
    {"channels = { rules = ( { pattern = \"a\"; priority = \"urgent\"; } ); };\n", 1,
     "channels.rules[0].priority: must be critical or normal (got 'urgent')"},
    {"channels = { rules = ( { pattern = \"a\"; policy = \"oldest\"; } ); };\n", 1,
     "channels.rules[0].policy: must be drop, latest or never (got 'oldest')"},
    /* syntax, reported by libconfig with its line */
    {"port = 1;\nworkers = ;\n", 2, "syntax error"},
};

START_TEST(test_file_errors)
{
    const file_err_case *tc = &file_errs[_i];
    gw_config c;
    pulse_error err;
    char want[256];
    gw_config_defaults(&c);
    const char *path = write_conf(tc->text);
    int rc = load(&c, path, NULL, NULL, &err);
    ck_assert_int_eq(rc, PULSE_EINVAL);
    ck_assert_int_eq(err.code, PULSE_EINVAL);
    ck_assert_int_eq(err.line, tc->line);
    snprintf(want, sizeof want, "config: %s:%d: %s", path, tc->line, tc->msg);
    ck_assert_str_eq(err.text, want);
    /* on error the struct is left as it was */
    assert_defaults(&c);
    gw_config_free(&c);
    drop_conf();
}
END_TEST

/* Cross-key checks run after every source. */
typedef struct {
    const char *text;
    const char *const *args;
    const char *msg;
} cross_case;

static const cross_case cross_errs[] = {
    {"limits = { queue_max_messages = 100; queue_hard_messages = 99; };\n", NULL,
     "config: limits.queue_hard_messages (99) must be >= limits.queue_max_messages (100)"},
    {"limits = { queue_max_bytes = 2048; queue_hard_bytes = 1024; };\n", NULL,
     "config: limits.queue_hard_bytes (1024) must be >= limits.queue_max_bytes (2048)"},
    /* the file alone is fine; the flag breaks it */
    {"limits = { queue_hard_messages = 2000; };\n", ARGS("--limits.queue-max-messages=3000"),
     "config: limits.queue_hard_messages (2000) must be >= limits.queue_max_messages (3000)"},
};

START_TEST(test_cross_errors)
{
    const cross_case *tc = &cross_errs[_i];
    gw_config c;
    pulse_error err;
    gw_config_defaults(&c);
    int rc = load(&c, write_conf(tc->text), NULL, tc->args, &err);
    ck_assert_int_eq(rc, PULSE_EINVAL);
    ck_assert_str_eq(err.text, tc->msg);
    ck_assert_int_eq(c.queue_max_messages, 1024);
    gw_config_free(&c);
    drop_conf();
}
END_TEST

START_TEST(test_hard_equal_soft_ok)
{
    gw_config c;
    pulse_error err;
    gw_config_defaults(&c);
    int rc = load(&c, write_conf("limits = { queue_max_messages = 7; queue_hard_messages = 7;\n"
                                 " queue_max_bytes = 4096; queue_hard_bytes = 4096; };\n"),
                  NULL, NULL, &err);
    ck_assert_msg(rc == 0, "%s", err.text);
    ck_assert_int_eq(c.queue_hard_messages, 7);
    ck_assert_int_eq(c.queue_hard_bytes, 4096);
    gw_config_free(&c);
    drop_conf();
}
END_TEST

START_TEST(test_unreadable_file)
{
    gw_config c;
    pulse_error err;
    gw_config_defaults(&c);
    ck_assert_int_eq(load(&c, "/nonexistent/pulse.conf", NULL, NULL, &err), PULSE_EIO);
    ck_assert_str_eq(err.text, "config: cannot read /nonexistent/pulse.conf: No such file or directory");
    /* the same through --config and PULSE_CONFIG */
    ck_assert_int_eq(load(&c, NULL, NULL, ARGS("--config", "/nonexistent/a.conf"), &err), PULSE_EIO);
    ck_assert_str_eq(err.text, "config: cannot read /nonexistent/a.conf: No such file or directory");
    ck_assert_int_eq(load(&c, NULL, ARGS("PULSE_CONFIG=/nonexistent/b.conf"), NULL, &err), PULSE_EIO);
    ck_assert_str_eq(err.text, "config: cannot read /nonexistent/b.conf: No such file or directory");
    /* a directory is not a config file */
    ck_assert_int_eq(load(&c, "/tmp", NULL, NULL, &err), PULSE_EIO);
    ck_assert_str_eq(err.text, "config: cannot read /tmp: Is a directory");
    assert_defaults(&c);
    gw_config_free(&c);
}
END_TEST

START_TEST(test_long_path_shortened)
{
    /* a path longer than 60 bytes is shortened from the left so the message fits */
    char dir[] = "/tmp/pulse-cfg-dir-XXXXXX";
    char path[256];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/a-rather-long-file-name-for-a-config-file-really.conf", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("\n\nlimits = { bogus = 1; };\n", f);
    fclose(f);
    gw_config c;
    pulse_error err;
    gw_config_defaults(&c);
    ck_assert_int_eq(load(&c, path, NULL, NULL, &err), PULSE_EINVAL);
    ck_assert_int_eq(err.line, 3);
    char want[256];
    snprintf(want, sizeof want, "config: ...%s:3: unknown key 'limits.bogus'", path + strlen(path) - 60);
    ck_assert_str_eq(err.text, want);
    gw_config_free(&c);
    unlink(path);
    rmdir(dir);
}
END_TEST

/* ---- the environment ---- */

START_TEST(test_env_every_key)
{
    const char *const env[] = {
        "HOME=/root",
        "PULSE_NODE_ID=env-node",
        "PULSE_BIND=10.0.0.1",
        "PULSE_PORT=1234",
        "PULSE_ADMIN_BIND=10.0.0.2",
        "PULSE_ADMIN_PORT=1235",
        "PULSE_REDIS=redis://pw@redis.local",
        "PULSE_WORKERS=3",
        "PULSE_LOG_LEVEL=WARNING",
        "PULSE_LOG_FORMAT=json",
        "PULSE_LIMITS_MAX_CONNECTIONS=11",
        "PULSE_LIMITS_MAX_MESSAGE_SIZE=128",
        "PULSE_LIMITS_MAX_SUBSCRIPTIONS=12",
        "PULSE_LIMITS_QUEUE_MAX_MESSAGES=13",
        "PULSE_LIMITS_QUEUE_MAX_BYTES=10000000000",
        "PULSE_LIMITS_QUEUE_HARD_MESSAGES=14",
        "PULSE_LIMITS_QUEUE_HARD_BYTES=20000000000",
        "PULSE_LIMITS_LAG_LIMIT_MS=15",
        "PULSE_LIMITS_HEARTBEAT_INTERVAL_S=16",
        "PULSE_LIMITS_HEARTBEAT_TIMEOUT_S=17",
        "PULSE_LIMITS_HANDSHAKE_TIMEOUT_S=18",
        "PULSE_LIMITS_DRAIN_TIMEOUT_MS=19",
        "PULSE_LIMITS_REDIS_PING_INTERVAL_MS=20",
        "PULSE_LIMITS_REDIS_PING_TIMEOUT_MS=21",
        "PULSE_LIMITS_REDIS_BACKOFF_MAX_MS=22",
        "PULSE_CHANNELS_STATIC=a.b,,c:*,a.b",
        /* unknown PULSE_* variables belong to other tools: ignored */
        "PULSE_RATE=fast",
        "PULSE_LIMITS_BOGUS=x",
        "PULSE_CHANNELS_RULES=x",
        "PULSE=1",
        NULL,
    };
    gw_config c;
    pulse_error err;
    gw_config_defaults(&c);
    int rc = load(&c, NULL, env, NULL, &err);
    ck_assert_msg(rc == 0, "%s", err.text);
    ck_assert_str_eq(c.node_id, "env-node");
    ck_assert_str_eq(c.bind, "10.0.0.1");
    ck_assert_int_eq(c.port, 1234);
    ck_assert_str_eq(c.admin_bind, "10.0.0.2");
    ck_assert_int_eq(c.admin_port, 1235);
    ck_assert_str_eq(c.redis_host, "redis.local");
    ck_assert_int_eq(c.redis_port, 6379);
    ck_assert_str_eq(c.redis_password, "pw");
    ck_assert_int_eq(c.workers, 3);
    ck_assert_str_eq(c.log_level, "warn"); /* canonical name */
    ck_assert_str_eq(c.log_format, "json");
    ck_assert_int_eq(c.max_connections, 11);
    ck_assert_int_eq(c.max_message_size, 128);
    ck_assert_int_eq(c.max_subscriptions, 12);
    ck_assert_int_eq(c.queue_max_messages, 13);
    ck_assert(c.queue_max_bytes == 10000000000LL);
    ck_assert_int_eq(c.queue_hard_messages, 14);
    ck_assert(c.queue_hard_bytes == 20000000000LL);
    ck_assert_int_eq(c.lag_limit_ms, 15);
    ck_assert_int_eq(c.heartbeat_interval_s, 16);
    ck_assert_int_eq(c.heartbeat_timeout_s, 17);
    ck_assert_int_eq(c.handshake_timeout_s, 18);
    ck_assert_int_eq(c.drain_timeout_ms, 19);
    ck_assert_int_eq(c.redis_ping_interval_ms, 20);
    ck_assert_int_eq(c.redis_ping_timeout_ms, 21);
    ck_assert_int_eq(c.redis_backoff_max_ms, 22);
    ck_assert_uint_eq(c.n_static_channels, 2); /* empty item skipped, duplicate dropped */
    ck_assert_str_eq(c.static_channels[0], "a.b");
    ck_assert_str_eq(c.static_channels[1], "c:*");
    gw_config_free(&c);
}
END_TEST

typedef struct {
    const char *var;
    const char *msg;
} env_err_case;

static const env_err_case env_errs[] = {
    {"PULSE_PORT=x", "config: PULSE_PORT: must be an integer from 0 to 65535 (got 'x')"},
    {"PULSE_PORT=", "config: PULSE_PORT: must be an integer from 0 to 65535 (got '')"},
    {"PULSE_PORT= 80", "config: PULSE_PORT: must be an integer from 0 to 65535 (got ' 80')"},
    {"PULSE_PORT=80x", "config: PULSE_PORT: must be an integer from 0 to 65535 (got '80x')"},
    {"PULSE_PORT=99999999999999999999999",
     "config: PULSE_PORT: must be an integer from 0 to 65535 (got '99999999999999999999999')"},
    {"PULSE_WORKERS=65", "config: PULSE_WORKERS: must be an integer from 1 to 64 (got '65')"},
    {"PULSE_LIMITS_MAX_CONNECTIONS=abc",
     "config: PULSE_LIMITS_MAX_CONNECTIONS: must be an integer from 1 to 10000000 (got 'abc')"},
    {"PULSE_LIMITS_QUEUE_HARD_BYTES=-5",
     "config: PULSE_LIMITS_QUEUE_HARD_BYTES: must be an integer from 1 to 68719476736 (got '-5')"},
    {"PULSE_LOG_LEVEL=verbose",
     "config: PULSE_LOG_LEVEL: must be one of error, warn, info, debug (got 'verbose')"},
    {"PULSE_NODE_ID=gw/1", "config: PULSE_NODE_ID: must be 1-63 bytes of [A-Za-z0-9._:@-] (got 'gw/1')"},
    {"PULSE_NODE_ID=0123456789012345678901234567890123456789012345678901234567890123",
     "config: PULSE_NODE_ID: must be 1-63 bytes of [A-Za-z0-9._:@-] "
     "(got '0123456789012345678901234567890123456789...')"},
    {"PULSE_REDIS=redis://", "config: PULSE_REDIS: unparsable URL 'redis://': missing host"},
    {"PULSE_REDIS=redis+cluster://10.0.0.1:7000,,10.0.0.2",
     "config: PULSE_REDIS: unparsable URL 'redis+cluster://10.0.0.1:7000,,10.0.0.2': an empty seed between commas"},
    {"PULSE_CHANNELS_STATIC=ok,not ok",
     "config: PULSE_CHANNELS_STATIC: bad channel name 'not ok': must be 1-128 bytes of [A-Za-z0-9._:@-] or '*'"},
    {"PULSE_BIND=a b", "config: PULSE_BIND: must be a host name or IP address (got 'a b')"},
};

START_TEST(test_env_errors)
{
    const env_err_case *tc = &env_errs[_i];
    const char *const env[] = {tc->var, NULL};
    gw_config c;
    pulse_error err;
    gw_config_defaults(&c);
    ck_assert_int_eq(load(&c, NULL, env, NULL, &err), PULSE_EINVAL);
    ck_assert_int_eq(err.line, 0);
    ck_assert_str_eq(err.text, tc->msg);
    assert_defaults(&c);
    gw_config_free(&c);
}
END_TEST

/* ---- Redis Cluster ---- */

START_TEST(test_redis_cluster_url)
{
    gw_config c;
    pulse_error err;
    gw_config_defaults(&c);
    ck_assert_int_eq(load(&c, NULL, NULL, ARGS("--redis", "redis+cluster://:pw@127.0.0.1:7001,127.0.0.2:7002,[::1]"),
                          &err), 0);
    ck_assert(c.redis_cluster);
    ck_assert_uint_eq(c.n_redis_seeds, 3);
    ck_assert_str_eq(c.redis_seeds[0].host, "127.0.0.1");
    ck_assert_int_eq(c.redis_seeds[0].port, 7001);
    ck_assert_str_eq(c.redis_seeds[1].host, "127.0.0.2");
    ck_assert_str_eq(c.redis_seeds[2].host, "::1");
    ck_assert_int_eq(c.redis_seeds[2].port, 6379);
    ck_assert_str_eq(c.redis_seeds[2].password, "pw");
    ck_assert_str_eq(c.redis_host, "127.0.0.1");
    ck_assert_int_eq(c.redis_port, 7001);
    ck_assert_str_eq(c.redis_password, "pw");
    /* a later plain URL (the environment loses to the flag; here a second load) turns
     * cluster mode off again */
    const char *const env[] = {"PULSE_REDIS=redis://10.9.9.9:6000", NULL};
    ck_assert_int_eq(load(&c, NULL, env, NULL, &err), 0);
    ck_assert(!c.redis_cluster);
    ck_assert_ptr_null(c.redis_seeds);
    ck_assert_str_eq(c.redis_host, "10.9.9.9");
    gw_config_free(&c);
    gw_config_defaults(&c);
    ck_assert_int_eq(load(&c, NULL, NULL, ARGS("--redis", "redis+cluster://h:1/3"), &err), PULSE_EINVAL);
    ck_assert_msg(strstr(err.text, "Redis Cluster has only db 0") != NULL, "%s", err.text);
    gw_config_free(&c);
}
END_TEST

/* ---- flags ---- */

START_TEST(test_flags_both_forms)
{
    gw_config c;
    pulse_error err;
    gw_config_defaults(&c);
    int rc = load(&c, NULL, NULL,
                  ARGS("--port", "8081", "--admin-port=9091", "--redis", "redis://r1:7000",
                       "--node-id=n1", "--workers", "2", "--log-level=error", "--log-format", "json",
                       "--bind=0.0.0.0", "--admin-bind", "0.0.0.0", "--limits.max-connections", "77",
                       "--limits.max_message_size=1024", "--limits.lag-limit-ms=42",
                       "--limits.queue_hard_bytes", "9999999999", "--redis-url=redis://r2",
                       "--ws.event-loop", "poll"),
                  &err);
    ck_assert_msg(rc == 0, "%s", err.text);
    ck_assert_int_eq(c.ws_event_loop, GW_EVLOOP_POLL);
    ck_assert_int_eq(c.port, 8081);
    ck_assert_int_eq(c.admin_port, 9091);
    ck_assert_str_eq(c.redis_url, "redis://r2"); /* the last one wins */
    ck_assert_str_eq(c.redis_host, "r2");
    ck_assert_int_eq(c.redis_port, 6379);
    ck_assert_str_eq(c.node_id, "n1");
    ck_assert_int_eq(c.workers, 2);
    ck_assert_str_eq(c.log_level, "error");
    ck_assert_str_eq(c.log_format, "json");
    ck_assert_str_eq(c.bind, "0.0.0.0");
    ck_assert_str_eq(c.admin_bind, "0.0.0.0");
    ck_assert_int_eq(c.max_connections, 77);
    ck_assert_int_eq(c.max_message_size, 1024);
    ck_assert_int_eq(c.lag_limit_ms, 42);
    ck_assert(c.queue_hard_bytes == 9999999999LL);
    gw_config_free(&c);
}
END_TEST

START_TEST(test_flag_set)
{
    gw_config c;
    pulse_error err;
    gw_config_defaults(&c);
    int rc = load(&c, NULL, NULL,
                  ARGS("--set", "port=1", "--set=limits.heartbeat_interval_s=0", "--set",
                       "limits.drain-timeout-ms=3", "--set", "channels.static=x,y", "--set",
                       "redis=redis://:p@h:1"),
                  &err);
    ck_assert_msg(rc == 0, "%s", err.text);
    ck_assert_int_eq(c.port, 1);
    ck_assert_int_eq(c.heartbeat_interval_s, 0);
    ck_assert_int_eq(c.drain_timeout_ms, 3);
    ck_assert_uint_eq(c.n_static_channels, 2);
    ck_assert_str_eq(c.static_channels[0], "x");
    ck_assert_str_eq(c.static_channels[1], "y");
    ck_assert_str_eq(c.redis_host, "h");
    ck_assert_int_eq(c.redis_port, 1);
    ck_assert_str_eq(c.redis_password, "p");
    gw_config_free(&c);
}
END_TEST

START_TEST(test_flag_channel_adds)
{
    gw_config c;
    pulse_error err;
    gw_config_defaults(&c);
    const char *const env[] = {"PULSE_CHANNELS_STATIC=e1", NULL};
    int rc = load(&c, write_conf("channels = { static = [ \"f1\" ]; };\n"), env,
                  ARGS("--channel", "a", "--channel=b,c", "--channel", "a", "--channel", "alerts.*"), &err);
    ck_assert_msg(rc == 0, "%s", err.text);
    /* env replaced the file's list; each --channel added to it */
    ck_assert_uint_eq(c.n_static_channels, 5);
    ck_assert_str_eq(c.static_channels[0], "e1");
    ck_assert_str_eq(c.static_channels[1], "a");
    ck_assert_str_eq(c.static_channels[2], "b");
    ck_assert_str_eq(c.static_channels[3], "c");
    ck_assert_str_eq(c.static_channels[4], "alerts.*");
    gw_config_free(&c);
    drop_conf();
}
END_TEST

typedef struct {
    const char *const *args;
    const char *msg;
} flag_err_case;

static const flag_err_case flag_errs[] = {
    {ARGS("--x"), "config: unknown option '--x' (see --help)"},
    {ARGS("--x=5"), "config: unknown option '--x' (see --help)"},
    {ARGS("--port", "1", "--prot", "2"), "config: unknown option '--prot' (see --help)"},
    {ARGS("-p", "1"), "config: unknown option '-p' (see --help)"},
    {ARGS("--limits.bogus=1"), "config: unknown option '--limits.bogus' (see --help)"},
    {ARGS("--"), NULL},
    {ARGS("stray"), "config: unexpected argument 'stray' (see --help)"},
    {ARGS("--", "stray"), "config: unexpected argument 'stray' (see --help)"},
    {ARGS("--port"), "config: option '--port' needs a value"},
    {ARGS("--port", "x"), "config: --port: must be an integer from 0 to 65535 (got 'x')"},
    {ARGS("--port="), "config: --port: must be an integer from 0 to 65535 (got '')"},
    {ARGS("--admin-port=70000"), "config: --admin-port: must be an integer from 0 to 65535 (got '70000')"},
    {ARGS("--workers", "0"), "config: --workers: must be an integer from 1 to 64 (got '0')"},
    {ARGS("--limits.max-connections", "0"),
     "config: --limits.max-connections: must be an integer from 1 to 10000000 (got '0')"},
    {ARGS("--limits.max_subscriptions=100001"),
     "config: --limits.max_subscriptions: must be an integer from 1 to 100000 (got '100001')"},
    {ARGS("--redis", "tcp://h"),
     "config: --redis: unparsable URL 'tcp://h': unknown scheme (expected redis, ws, wss, http or https)"},
    {ARGS("--node-id", "a\tb"), "config: --node-id: must be 1-63 bytes of [A-Za-z0-9._:@-] (got 'a?b')"},
    {ARGS("--log-format=yaml"), "config: --log-format: must be text or json (got 'yaml')"},
    {ARGS("--channel", "a,b%c"),
     "config: --channel: bad channel name 'b%c': must be 1-128 bytes of [A-Za-z0-9._:@-] or '*'"},
    {ARGS("--set", "port"), "config: --set: expected key=value (got 'port')"},
    {ARGS("--set", "=1"), "config: --set: expected key=value (got '=1')"},
    {ARGS("--set", "prot=1"), "config: --set: unknown key 'prot'"},
    {ARGS("--set", "limits.workers=1"), "config: --set: unknown key 'limits.workers'"},
    {ARGS("--set", "limits.lag_limit_ms=0"),
     "config: --set limits.lag_limit_ms: must be an integer from 1 to 86400000 (got '0')"},
    {ARGS("--set", "channels.rules=x"), "config: --set channels.rules: channel rules can only be set in the config file"},
    {ARGS("--channels.rules=x"), "config: --channels.rules: channel rules can only be set in the config file"},
};

START_TEST(test_flag_errors)
{
    const flag_err_case *tc = &flag_errs[_i];
    gw_config c;
    pulse_error err;
    gw_config_defaults(&c);
    int rc = load(&c, NULL, NULL, tc->args, &err);
    if (!tc->msg) {
        ck_assert_msg(rc == 0, "%s", err.text);
    } else {
        ck_assert_int_eq(rc, PULSE_EINVAL);
        ck_assert_str_eq(err.text, tc->msg);
        assert_defaults(&c);
    }
    gw_config_free(&c);
}
END_TEST

typedef struct {
    const char *const *args;
    int want;
} help_case;

static const help_case help_cases[] = {
    {ARGS("--help"), 1},
    {ARGS("-h"), 1},
    {ARGS("--version"), 2},
    {ARGS("--port", "80", "--help"), 1},
    {ARGS("--bogus", "--help"), 1},              /* help wins over a bad flag */
    {ARGS("--config", "/nonexistent", "-h"), 1}, /* and the file is not read */
    {ARGS("--version", "--help"), 2},            /* the first one wins */
};

START_TEST(test_help)
{
    gw_config c;
    pulse_error err;
    gw_config_defaults(&c);
    ck_assert_int_eq(load(&c, NULL, NULL, help_cases[_i].args, &err), 1);
    ck_assert_int_eq(c.help_requested, help_cases[_i].want);
    ck_assert_int_eq(c.port, 8080);
    gw_config_free(&c);
}
END_TEST

START_TEST(test_help_value_is_not_help)
{
    /* "--help" as the value of an option is a value, not a request for help */
    gw_config c;
    pulse_error err;
    gw_config_defaults(&c);
    ck_assert_int_eq(load(&c, NULL, NULL, ARGS("--workers", "--help"), &err), PULSE_EINVAL);
    ck_assert_str_eq(err.text, "config: --workers: must be an integer from 1 to 64 (got '--help')");
    ck_assert_int_eq(c.help_requested, 0);
    /* ("--help" is even a valid node id) */
    ck_assert_int_eq(load(&c, NULL, NULL, ARGS("--node-id", "--help"), &err), 0);
    ck_assert_str_eq(c.node_id, "--help");
    ck_assert_int_eq(c.help_requested, 0);
    gw_config_free(&c);
}
END_TEST

START_TEST(test_usage_lists_every_flag)
{
    const char *u = gw_config_usage();
    static const char *const flags[] = {
        "--help", "--version", "--config FILE", "--set KEY=VALUE", "--node-id ID", "--bind ADDR",
        "--port N", "--admin-bind ADDR", "--admin-port N", "--redis URL", "--workers N",
        "--log-level L", "--log-format F", "--channel C",
        "--limits.max-connections N", "--limits.max-message-size N", "--limits.max-subscriptions N",
        "--limits.queue-max-messages N", "--limits.queue-max-bytes N", "--limits.queue-hard-messages N",
        "--limits.queue-hard-bytes N", "--limits.lag-limit-ms N", "--limits.heartbeat-interval-s N",
        "--limits.heartbeat-timeout-s N", "--limits.handshake-timeout-s N", "--limits.drain-timeout-ms N",
        "--limits.redis-ping-interval-ms N", "--limits.redis-ping-timeout-ms N",
        "--limits.redis-backoff-max-ms N",
        /* defaults and the naming rule */
        "[8080]", "[9090]", "[redis://127.0.0.1:6379]", "[100000]", "[65536]", "[1048576]", "[8388608]",
        "PULSE_LIMITS_MAX_CONNECTIONS", "PULSE_CONFIG",
    };
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        ck_assert_msg(strstr(u, flags[i]) != NULL, "usage lacks '%s'", flags[i]);
}
END_TEST

/* ---- precedence: defaults < file < env < flags ---- */

static const char prec_file[] = "port = 1000;\nworkers = 2;\nlog_level = \"error\";\n"
                                "limits = { lag_limit_ms = 100; queue_max_bytes = 5000; };\n"
                                "channels = { static = [ \"from.file\" ]; };\n";

START_TEST(test_precedence)
{
    gw_config c;
    pulse_error err;
    const char *path = write_conf(prec_file);
    const char *const env[] = {"PULSE_PORT=2000", "PULSE_LOG_LEVEL=warn", "PULSE_LIMITS_LAG_LIMIT_MS=200",
                               "PULSE_CHANNELS_STATIC=from.env", NULL};

    /* file only */
    gw_config_defaults(&c);
    ck_assert_int_eq(load(&c, path, NULL, NULL, &err), 0);
    ck_assert_int_eq(c.port, 1000);
    ck_assert_int_eq(c.workers, 2);
    ck_assert_str_eq(c.log_level, "error");
    ck_assert_int_eq(c.lag_limit_ms, 100);
    ck_assert_int_eq(c.queue_max_bytes, 5000);
    ck_assert_int_eq(c.admin_port, 9090); /* untouched default */
    ck_assert_str_eq(c.static_channels[0], "from.file");
    gw_config_free(&c);

    /* file < env */
    gw_config_defaults(&c);
    ck_assert_int_eq(load(&c, path, env, NULL, &err), 0);
    ck_assert_int_eq(c.port, 2000);
    ck_assert_int_eq(c.workers, 2);
    ck_assert_str_eq(c.log_level, "warn");
    ck_assert_int_eq(c.lag_limit_ms, 200);
    ck_assert_uint_eq(c.n_static_channels, 1);
    ck_assert_str_eq(c.static_channels[0], "from.env");
    gw_config_free(&c);

    /* file < env < flags */
    gw_config_defaults(&c);
    ck_assert_int_eq(load(&c, path, env,
                          ARGS("--port", "3000", "--limits.lag-limit-ms=300", "--set", "log_level=debug",
                               "--limits.queue-max-bytes", "6000"),
                          &err),
                     0);
    ck_assert_int_eq(c.port, 3000);
    ck_assert_int_eq(c.workers, 2);
    ck_assert_str_eq(c.log_level, "debug");
    ck_assert_int_eq(c.lag_limit_ms, 300);
    ck_assert_int_eq(c.queue_max_bytes, 6000);
    gw_config_free(&c);
    drop_conf();
}
END_TEST

START_TEST(test_config_path_choice)
{
    gw_config c;
    pulse_error err;
    char a[64], b[64];
    snprintf(a, sizeof a, "%s", write_conf("port = 1;\n"));
    snprintf(b, sizeof b, "%s", write_conf("port = 2;\n"));
    char env_b[96];
    snprintf(env_b, sizeof env_b, "PULSE_CONFIG=%s", b);
    const char *const env[] = {env_b, NULL};

    /* PULSE_CONFIG when nothing else names a file */
    gw_config_defaults(&c);
    ck_assert_int_eq(load(&c, NULL, env, NULL, &err), 0);
    ck_assert_int_eq(c.port, 2);
    ck_assert_str_eq(c.config_path, b);
    gw_config_free(&c);

    /* --config beats PULSE_CONFIG, in both forms */
    gw_config_defaults(&c);
    ck_assert_int_eq(load(&c, NULL, env, ARGS("--config", a), &err), 0);
    ck_assert_int_eq(c.port, 1);
    gw_config_free(&c);
    char flag[96];
    snprintf(flag, sizeof flag, "--config=%s", a);
    gw_config_defaults(&c);
    ck_assert_int_eq(load(&c, NULL, env, ARGS(flag), &err), 0);
    ck_assert_int_eq(c.port, 1);
    gw_config_free(&c);

    /* the path argument beats both */
    gw_config_defaults(&c);
    ck_assert_int_eq(load(&c, b, env, ARGS("--config", a), &err), 0);
    ck_assert_int_eq(c.port, 2);
    gw_config_free(&c);

    /* an empty PULSE_CONFIG names no file */
    const char *const env_empty[] = {"PULSE_CONFIG=", NULL};
    gw_config_defaults(&c);
    ck_assert_int_eq(load(&c, NULL, env_empty, NULL, &err), 0);
    ck_assert_ptr_null(c.config_path);
    gw_config_free(&c);
    unlink(a);
    unlink(b);
}
END_TEST

START_TEST(test_error_leaves_cfg_untouched)
{
    gw_config c;
    pulse_error err;
    gw_config_defaults(&c);
    /* the file sets port before the bad key; nothing of it may stick */
    const char *path = write_conf("port = 1;\nchannels = { static = [ \"x\" ]; rules = ( { pattern = \"y\"; } ); };\n"
                                  "workers = 100;\n");
    ck_assert_int_eq(load(&c, path, NULL, NULL, &err), PULSE_EINVAL);
    assert_defaults(&c);
    /* and the same struct loads fine afterwards */
    ck_assert_int_eq(load(&c, NULL, NULL, ARGS("--port", "5"), &err), 0);
    ck_assert_int_eq(c.port, 5);
    gw_config_free(&c);
    drop_conf();
}
END_TEST

/* ---- rules ---- */

typedef struct {
    const char *channel;
    const char *pattern;
    pulse_priority prio;
    gw_policy policy;
} rule_case;

static const rule_case rule_defaults[] = {
    {"events.critical", "events.critical", PULSE_PRIO_CRITICAL, GW_POLICY_NEVER},
    {"alerts.x", "alerts.*", PULSE_PRIO_CRITICAL, GW_POLICY_NEVER},
    {"alerts.", "alerts.*", PULSE_PRIO_CRITICAL, GW_POLICY_NEVER},
    {"feed:1", "*", PULSE_PRIO_NORMAL, GW_POLICY_DROP},
    {"events.critical2", "*", PULSE_PRIO_NORMAL, GW_POLICY_DROP},
    {"alerts", "*", PULSE_PRIO_NORMAL, GW_POLICY_DROP},
};

START_TEST(test_rule_for_defaults)
{
    const rule_case *tc = &rule_defaults[_i];
    gw_config c;
    gw_config_defaults(&c);
    const gw_channel_rule *r = gw_config_rule_for(&c, tc->channel);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(r->pattern, tc->pattern);
    ck_assert_int_eq(r->priority, tc->prio);
    ck_assert_int_eq(r->policy, tc->policy);
    gw_config_free(&c);
}
END_TEST

static const rule_case rule_user[] = {
    {"feed:1", "feed:*", PULSE_PRIO_NORMAL, GW_POLICY_LATEST},
    {"events.critical", "events.*", PULSE_PRIO_NORMAL, GW_POLICY_DROP}, /* user rule overrides */
    {"events.other", "events.*", PULSE_PRIO_NORMAL, GW_POLICY_DROP},
    {"alerts.disk", "alerts.disk", PULSE_PRIO_NORMAL, GW_POLICY_LATEST},
    {"alerts.cpu", "alerts.*", PULSE_PRIO_CRITICAL, GW_POLICY_NEVER},
    {"prices.eur", "prices.*", PULSE_PRIO_CRITICAL, GW_POLICY_LATEST},
    {"misc", "*", PULSE_PRIO_NORMAL, GW_POLICY_DROP},
};

START_TEST(test_rule_for_user_rules)
{
    const rule_case *tc = &rule_user[_i];
    gw_config c;
    pulse_error err;
    gw_config_defaults(&c);
    int rc = load(&c,
                  write_conf("channels = { rules = (\n"
                             "  { pattern = \"feed:*\"; policy = \"latest\"; },\n"
                             "  { pattern = \"events.*\"; priority = \"normal\"; },\n"
                             "  { pattern = \"alerts.disk\"; policy = \"latest\"; },\n"
                             "  { pattern = \"prices.*\"; priority = \"critical\"; policy = \"latest\"; }\n"
                             "); };\n"),
                  NULL, NULL, &err);
    ck_assert_msg(rc == 0, "%s", err.text);
    ck_assert_uint_eq(c.n_rules, 7);
    const gw_channel_rule *r = gw_config_rule_for(&c, tc->channel);
    ck_assert_str_eq(r->pattern, tc->pattern);
    ck_assert_int_eq(r->priority, tc->prio);
    ck_assert_int_eq(r->policy, tc->policy);
    gw_config_free(&c);
    drop_conf();
}
END_TEST

START_TEST(test_rule_for_without_defaults)
{
    /* never NULL, even on a zeroed struct */
    gw_config c;
    memset(&c, 0, sizeof c);
    const gw_channel_rule *r = gw_config_rule_for(&c, "x");
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(r->pattern, "*");
    ck_assert_int_eq(r->priority, PULSE_PRIO_NORMAL);
}
END_TEST

Suite *ts_suite(void)
{
    Suite *s = suite_create("gw_config");
    TCase *tc;

    tc = ts_tcase(s, "defaults", 0);
    ts_add_tests(tc, test_defaults, test_load_nothing_keeps_defaults,
                 test_example_file_is_defaults);

    tc = ts_tcase(s, "file", 0);
    tcase_add_test(tc, test_file_every_key);
    tcase_add_loop_test(tc, test_file_errors, 0, N_ELEMS(file_errs));
    tcase_add_loop_test(tc, test_cross_errors, 0, N_ELEMS(cross_errs));
    ts_add_tests(tc, test_history_rules, test_presence_rules, test_centrifugo_keys, test_hard_equal_soft_ok, test_unreadable_file, test_long_path_shortened,
                 test_error_leaves_cfg_untouched);

    tc = ts_tcase(s, "env", 0);
    tcase_add_test(tc, test_env_every_key);
    tcase_add_loop_test(tc, test_env_errors, 0, N_ELEMS(env_errs));

    tc = ts_tcase(s, "flags", 0);
    ts_add_tests(tc, test_flags_both_forms, test_flag_set, test_flag_channel_adds);
    tcase_add_loop_test(tc, test_flag_errors, 0, N_ELEMS(flag_errs));
    tcase_add_loop_test(tc, test_help, 0, N_ELEMS(help_cases));
    ts_add_tests(tc, test_help_value_is_not_help, test_usage_lists_every_flag);

    tc = ts_tcase(s, "precedence", 0);
    ts_add_tests(tc, test_precedence, test_config_path_choice);

    tc = ts_tcase(s, "rules", 0);
    tcase_add_loop_test(tc, test_rule_for_defaults, 0, N_ELEMS(rule_defaults));
    tcase_add_loop_test(tc, test_rule_for_user_rules, 0, N_ELEMS(rule_user));
    ts_add_tests(tc, test_rule_for_without_defaults, test_redis_cluster_url);
    return s;
}
