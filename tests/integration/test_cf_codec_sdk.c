/*
 * test_cf_codec_sdk.c - the unmodified Centrifugo SDK (`centrifuge` 5.8.0 from npm, in
 * Node) against the bytes of Pulse's Centrifugo codec, before the endpoint is wired
 * into pulse-gateway (issue 15): tests/sdk/install.sh makes sure the pinned packages
 * are installed (a no-op when they are), then node tests/sdk/cf_codec_check.js runs the
 * SDK against tests/support/cf_codec_filter (gw_cf alone behind stdin/stdout) and
 * checks connect, subscribe, recovery (recovered:true with exactly the two missed
 * publications), a publication push, a join push with conn_info, publish, presence,
 * presence_stats, history, an RPC refused with 108, and the pong to a server ping.
 * About 2 s; bounded by timeout(1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "ts_check.h"
#include "ts.h"

START_TEST(test_sdk_against_codec)
{
    char cmd[2048];
    ts_sdk_install();
    snprintf(cmd, sizeof cmd, "timeout 30 node '%s/tests/sdk/cf_codec_check.js' '%s/tests/support/cf_codec_filter'",
             PULSE_SOURCE_DIR, PULSE_BIN_DIR);
    int code = ts_run(cmd);
    ck_assert_msg(code == 0, "cf_codec_check.js exited %d: see its check lines above", code);
}
END_TEST

Suite *ts_suite(void)
{
    return ts_suite_of("cf_codec_sdk", "sdk", 180, test_sdk_against_codec);
}
