/*
 * gw_metrics.c - the fan-out histogram's buckets; see gw_metrics.h.
 */
#include "gw_metrics.h"

const double gw_fanout_bounds_s[GW_FANOUT_NB] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                0.025,  0.05,    0.1,    0.25,  0.5,    1.0,  2.5};
static const int64_t bounds_ns[GW_FANOUT_NB] = {100000,    250000,    500000,    1000000,   2500000,
                                                5000000,   10000000,  25000000,  50000000,  100000000,
                                                250000000, 500000000, 1000000000, 2500000000};

const char *const gw_auth_fail_names[GW_AUTH_FAIL_NREASONS] = {"invalid_token", "auth_timeout", "token_expired",
                                                              "forbidden"};

const char *const gw_drop_reason_names[GW_DROP_NREASONS] = {"queue_full", "superseded", "slow_consumer",
                                                            "shutdown"};

void gw_metrics_fanout_observe(gw_wstats *s, int64_t ns)
{
    if (ns < 0)
        ns = 0;
    int i = 0;
    while (i < GW_FANOUT_NB && ns > bounds_ns[i])
        i++;
    GW_ADD(s->fanout_buckets[i], 1);
    GW_ADD(s->fanout_sum_ns, (uint64_t)ns);
}
