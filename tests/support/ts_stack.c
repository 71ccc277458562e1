/*
 * ts_stack.c - the setup and teardown most integration suites share: a temp dir, a
 * throwaway redis-server in it, and one gateway on that Redis.
 */
#include <stdio.h>
#include <stdlib.h>

#include "ts.h"

int ts_stack_setup_dir(ts_stack *s)
{
    s->redis_up = false;
    s->gw_started = false;
    s->tmp = ts_tmpdir();
    if (s->tmp == NULL) {
        fprintf(stderr, "ts_stack: ts_tmpdir() failed\n");
        return -1;
    }
    return 0;
}

int ts_stack_start_redis(ts_stack *s, int port)
{
    if (ts_redis_start(&s->redis, s->tmp, port) != 0) {
        fprintf(stderr, "ts_stack: redis-server did not start in %s (port %d)\n", s->tmp, port);
        return -1;
    }
    s->redis_up = true;
    return 0;
}

int ts_stack_setup(ts_stack *s)
{
    if (ts_stack_setup_dir(s) != 0)
        return -1;
    if (ts_stack_start_redis(s, 0) != 0) {
        ts_rmtree(s->tmp);
        free(s->tmp);
        s->tmp = NULL;
        return -1;
    }
    return 0;
}

int ts_stack_start_gateway(ts_stack *s, const char *node_id, char *const extra[])
{
    if (ts_gateway_start(&s->gw, s->tmp, s->redis.port, node_id, extra) != 0) {
        fprintf(stderr, "ts_stack: gateway %s did not start\n", node_id);
        return -1;
    }
    s->gw_started = true;
    return 0;
}

int ts_stack_teardown(ts_stack *s, int timeout_ms)
{
    int st = 0;
    if (s->gw_started) {
        st = ts_gateway_shutdown(&s->gw, timeout_ms);
        s->gw_started = false;
    }
    if (s->redis_up) {
        ts_redis_stop(&s->redis);
        s->redis_up = false;
    }
    if (s->tmp != NULL) {
        ts_rmtree(s->tmp);
        free(s->tmp);
        s->tmp = NULL;
    }
    return st;
}
