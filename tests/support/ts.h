/*
 * ts.h - fixtures for Pulse's integration tests: temp dirs, free ports, a throwaway
 * redis-server, spawning the real binaries, a tiny HTTP client and a raw WebSocket
 * client that can also send deliberately broken frames, and the Check fixture most
 * suites share (ts_stack_tcase: temp dir, Redis and gateways up before each test, down
 * and checked after it). Helpers are filed by topic below.
 *
 * Everything talks to 127.0.0.1 only. Every wait is bounded. Processes are stopped by
 * PID (SIGTERM, then SIGKILL after a grace period); a failing test prints the logs of
 * the processes it started (ts_dump_logs). Not thread-safe; one test process at a time
 * owns its fixtures.
 */
#ifndef PULSE_TS_H
#define PULSE_TS_H

#include "ts_check.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- basics ---- */
/* mkdtemp under $TMPDIR or /tmp ("pulse-test-XXXXXX"); returns a malloc'd path. */
char *ts_tmpdir(void);
/* Removes a directory tree made by ts_tmpdir (unless PULSE_KEEP_TMP is set). */
void ts_rmtree(const char *dir);
/* A free TCP port on 127.0.0.1 (bind to port 0, read it, close). */
int ts_free_port(void);
/* Path of a built binary: PULSE_BIN_DIR "/gateway/pulse-gateway" etc. Static storage
 * per call is not kept: returns a malloc'd string. name: "pulse-gateway",
 * "pulse-publish", "pulse-subscribe", "pulse-report". */
char *ts_bin(const char *name);
/* Whether a line of the text file at path (read in pieces of up to 4 KiB) contains
 * needle; false when the file cannot be opened. */
bool ts_file_contains(const char *path, const char *needle);
/* Sleeps ms milliseconds. */
void ts_sleep_ms(int ms);
int64_t ts_now_ms(void); /* monotonic */

/* ---- processes ---- */
typedef struct {
    pid_t pid;
    char log_path[512]; /* stdout+stderr of the child */
    int status;         /* wait status once reaped, -1 before */
} ts_proc;

/* Starts argv[0] with argv, stdout and stderr appended to log_path, in its own process
 * group. extra_env: NULL-terminated "K=V" strings added to the environment (may be
 * NULL). Returns 0 or -1. */
int ts_proc_start(ts_proc *p, char *const argv[], char *const extra_env[], const char *log_path);
/* Appends the NULL-terminated list extra (NULL: nothing) to the n arguments in argv (of
 * cap slots) and NULL-terminates it; asserts (Check) that it fits. Returns the new n. */
int ts_argv_append(const char **argv, int n, int cap, const char *const extra[]);
/* Sends sig to the process (not the group). */
int ts_proc_signal(ts_proc *p, int sig);
/* Waits up to timeout_ms for exit; returns the exit status (0..255), 128+signal when
 * killed by a signal, or -1 on timeout. */
int ts_proc_wait(ts_proc *p, int timeout_ms);
/* SIGTERM, wait up to grace_ms, then SIGKILL and reap. Safe to call twice. */
void ts_proc_stop(ts_proc *p, int grace_ms);
/* Polls the log file until a line contains needle; copies that line into line (if not
 * NULL). Returns 0, or -1 on timeout or when the process exited first. */
int ts_proc_wait_line(ts_proc *p, const char *needle, char *line, size_t cap, int timeout_ms);
/* Prints the log to stderr with a header, for failures. */
void ts_proc_dump_log(const ts_proc *p, const char *title);
/* Resident set size of pid in KiB (VmRSS from /proc), or -1. */
long ts_proc_rss_kib(pid_t pid);

/* ---- logs of failed tests ---- */
/* Log dumps on failure. Check's fork mode ends a failed test with _exit(), so no
 * teardown of the test process runs; children die with it (PR_SET_PDEATHSIG). Add
 *   tcase_add_unchecked_fixture(tc, ts_suite_setup, ts_suite_teardown);
 * and the runner (parent) process prints, after the TCase, the logs of every process
 * a test started and never stopped with ts_proc_stop (i.e. the failed tests').
 * ts_stack_tcase (below) adds it for the suites that use it. */
void ts_suite_setup(void);
void ts_suite_teardown(void);
/* Prints the logs of every process this test process started (for a failure path
 * that wants them at once). */
void ts_dump_logs(void);

/* ---- redis ---- */
typedef struct {
    ts_proc proc;
    int port;
    char dir[512];
} ts_redis;

/* Starts redis-server on a free loopback port in dir (--save '' --appendonly no),
 * polls PING until it answers (up to 5 s). port 0 picks a free one; a given port is
 * used as is (to restart on the same port). Returns 0 or -1 (with the log dumped). */
int ts_redis_start(ts_redis *r, const char *dir, int port);
void ts_redis_stop(ts_redis *r);
/* Runs one command (argv style) over a fresh synchronous connection and copies the
 * reply, flattened (array elements joined by '\n', integers in decimal), into out.
 * Returns 0, or -1 when Redis did not answer. */
int ts_redis_cmd(int port, char *out, size_t cap, int argc, const char *const argv[]);
/* The same, the reply tree itself (free with freeReplyObject), or NULL. TS_REDIS(port,
 * "CLUSTER", "SHARDS") counts the arguments. */
struct redisReply *ts_redis_argv(int port, int argc, const char **argv);
#define TS_REDIS(port, ...)                                                                   \
    ts_redis_argv((port), (int)(sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *)), \
                  (const char *[]){__VA_ARGS__})
/* Runs loadtest/redis_cluster.sh: "start" (3 primaries + 3 replicas, cluster-node-timeout
 * 1500 ms) or "stop", on state directory dir. Its exit status. */
int ts_rcluster_script(const char *verb, const char *dir);
/* That cluster as a suite's fixture (an unchecked one: started once per suite). */
#define TS_RCLUSTER_NODES 6
typedef struct {
    char *tmp;                     /* ts_tmpdir(); NULL while the cluster is down */
    char dir[600];                 /* tmp/rc: the script's state (ports, pids/<port>.pid) */
    int ports[TS_RCLUSTER_NODES];  /* as the script wrote them to dir/ports */
} ts_rcluster;
/* A temp dir, ts_rcluster_script("start", dir) and the ports read back, asserted (Check):
 * "loadtest/redis_cluster.sh start exited <rc>" (the script stopped what it started and
 * printed the logs; the temp dir is removed). Prints the time it took. */
void ts_rcluster_up(ts_rcluster *c);
/* "stop" (a failure is printed, not asserted) and the temp dir removed. Safe when the
 * cluster is down. */
void ts_rcluster_down(ts_rcluster *c);
/* The PID of the cluster's node on port (the script's dir/pids/<port>.pid), asserted
 * (Check) to be there and above 1: for a test that kills a node. */
pid_t ts_rcluster_pid(const ts_rcluster *c, int port);
/* Convenience: PUBLISH channel payload; returns receivers or -1. */
long ts_redis_publish(int port, const char *channel, const char *payload);
/* Polls ts_redis_cmd(argv) until one line of its flattened reply equals line
 * (present=true) or no line does (present=false). E.g. PUBSUB CHANNELS and
 * "events.critical", or PUBSUB NUMPAT and "1". 0, or -1 on timeout. */
int ts_redis_wait_line(int port, const char *line, bool present, int timeout_ms, int argc,
                       const char *const argv[]);

/* ---- events as publishers send them and clients receive them ---- */
/* A real schema event (pulse_event_format): fresh uuid4 event_id, source
 * "pulse-tests", published_at_us now, priority "critical"/"normal"/NULL (absent),
 * data_json raw JSON or NULL ({}). Returns its length or a negative PULSE_E* code. */
int ts_event_json(char *buf, size_t cap, const char *event_type, uint64_t sequence,
                  const char *priority, const char *data_json);
/* The exact delivery frame the gateway must send for data published on channel:
 * {"channel":"<channel>","data":<data>} (malloc'd). */
char *ts_envelope(const char *channel, const char *data);

/* ---- the gateway ---- */
typedef struct {
    ts_proc proc;
    int port;        /* WebSocket port (read from the ready line) */
    int admin_port;  /* admin port (read from the ready line) */
    char node_id[64];
} ts_gateway;

/* Starts pulse-gateway with --port 0 --admin-port 0 --redis redis://127.0.0.1:<redis_port>
 * --node-id node_id plus extra_args (NULL-terminated, may be NULL), logging to
 * dir/gateway-<node_id>.log, and waits (up to 10 s) for the ready line on stdout:
 *   "pulse-gateway ready node=<id> port=<P> admin_port=<A>"
 * With TS_GATEWAY_WRAP set in the environment, that program runs the gateway (its
 * arguments are the gateway's command line). Returns 0 or -1 (log dumped). */
int ts_gateway_start(ts_gateway *g, const char *dir, int redis_port, const char *node_id,
                     char *const extra_args[]);
void ts_gateway_stop(ts_gateway *g);
/* The teardown of a test that started the gateway: SIGTERM, wait up to timeout_ms for
 * the exit, ts_gateway_stop (SIGKILL if it is still running), and, when the status is
 * not 0, print its log ("gateway (bad exit at teardown)"). Returns the status as
 * ts_proc_wait does (-1 on timeout). The caller asserts it is 0, so a leak report
 * from the ASan build (non-zero exit) fails the test. */
int ts_gateway_shutdown(ts_gateway *g, int timeout_ms);

/* ---- the usual stack of an integration test ---- */
#define TS_STACK_GATEWAYS 4

/* A temp dir, a redis-server in it and gateways on that Redis: the setup/teardown the
 * suites share. Zero it (a static is) before the first setup. A suite with one gateway
 * uses gw[0]; one with several gets each one's slot from ts_stack_start_gateway. */
typedef struct {
    char *tmp;        /* ts_tmpdir(), NULL before setup and after teardown */
    ts_redis redis;
    bool redis_up;    /* ts_stack_setup started it; teardown stops it */
    ts_gateway gw[TS_STACK_GATEWAYS];
    bool gw_started[TS_STACK_GATEWAYS]; /* the slot is running; teardown shuts it down */
} ts_stack;

/* ts_tmpdir() and ts_redis_start(&s->redis, s->tmp, 0). Returns 0, or -1 with the
 * reason on stderr (and nothing left behind). */
int ts_stack_setup(ts_stack *s);
/* The parts of ts_stack_setup, for a suite whose tests start Redis themselves (late,
 * or again on the same port): the temp dir only (0, or -1 with the reason on stderr);
 * then ts_redis_start(&s->redis, s->tmp, port) marking it up (0, or -1 with the reason
 * on stderr). A test that stops Redis itself clears redis_up. */
int ts_stack_setup_dir(ts_stack *s);
int ts_stack_start_redis(ts_stack *s, int port);
/* s->tmp + "/" + name, in the next of 8 static buffers (taken in turn: up to 8 such paths
 * may be held at once), e.g. ts_stack_path(&stack, "manifest.csv"). */
char *ts_stack_path(const ts_stack *s, const char *name);
/* ts_gateway_start(&s->gw[i], s->tmp, s->redis.port, node_id, extra) in the first slot
 * i not started, and marks it started. Returns i (0 for the first gateway), or -1 with
 * "ts_stack: gateway <node_id> did not start" on stderr (its log is dumped by
 * ts_gateway_start) or when all TS_STACK_GATEWAYS slots are taken. A test that stops
 * a gateway itself clears its gw_started (the slot is free again). */
int ts_stack_start_gateway(ts_stack *s, const char *node_id, char *const extra[]);
/* ts_gateway_shutdown(&s->gw[i], timeout_ms) and frees slot i; returns the exit status
 * as ts_gateway_shutdown does (the caller asserts it is 0). */
int ts_stack_stop_gateway(ts_stack *s, int i, int timeout_ms);
/* The teardown: ts_gateway_shutdown(&s->gw[i], timeout_ms) for every started slot
 * (timeout_ms < 0: ts_gateway_stop without looking at the status), ts_redis_stop,
 * ts_rmtree(tmp), free(tmp). Returns the first non-zero exit status as
 * ts_gateway_shutdown gives it (the caller asserts it is 0), or 0. Safe to call twice. */
int ts_stack_teardown(ts_stack *s, int timeout_ms);

/* The Check fixture most suites share, on the suite's own stack st, in a new TCase:
 *   TCase *tc = ts_stack_tcase(s, "admin", 60, &stack, TS_FIX_REDIS, 8000);
 * is ts_tcase(s, name, timeout_s) (ts_check.h) with ts_suite_setup/ts_suite_teardown
 * (log dumps of failed tests) and a checked fixture: before each test ts_stack_setup
 * (TS_FIX_REDIS) or ts_stack_setup_dir (TS_FIX_DIR), asserted; after it
 * ts_stack_teardown(st, shutdown_ms) with everything stopped before it asserts that
 * every gateway still running exited 0 ("gateway <node>: exit status <st> after
 * SIGTERM at teardown (want 0)"). TS_FIX_EXIT_UNCHECKED: the tests check the exits
 * themselves; teardown only makes sure the gateways are gone. A suite with steps of
 * its own adds its checked fixture to tc: Check runs its setup after the stack's and
 * its teardown before. One stack per test process. */
enum { TS_FIX_DIR = 0, TS_FIX_REDIS = 1, TS_FIX_EXIT_UNCHECKED = 2 };
TCase *ts_stack_tcase(Suite *s, const char *name, int timeout_s, ts_stack *st, int flags,
                      int shutdown_ms);
/* The suite of a test file whose one TCase is that fixture: suite_create(name),
 * ts_stack_tcase(s, tcase, timeout_s, st, flags, shutdown_ms), then, when setup or
 * teardown is not NULL, the suite's own checked fixture (setup, teardown), and the tests
 * in this order:
 *   return ts_stack_suite("limits", "limits", 60, &stack, TS_FIX_REDIS, 8000, NULL, NULL,
 *                         test_a, test_b); */
#define ts_stack_suite(name, tcase, timeout_s, st, flags, shutdown_ms, setup, teardown, ...)  \
    ts__stack_suite((name), (tcase), (timeout_s), (st), (flags), (shutdown_ms), (setup),        \
                    (teardown), (const TTest *const[]){__VA_ARGS__, NULL})
Suite *ts__stack_suite(const char *name, const char *tcase, int timeout_s, ts_stack *st, int flags,
                       int shutdown_ms, SFun setup, SFun teardown, const TTest *const tests[]);
/* In a test under ts_stack_tcase: ts_stack_start_gateway on the fixture's stack, asserted
 * ("gateway <node_id> did not start"); returns the gateway (its slot in s->gw). */
ts_gateway *ts_fixture_gateway(const char *node_id, char *const extra[]);
/* Runs cmd with system(): its exit status, 128 + the signal when killed, -1 when it
 * could not run. */
int ts_run(const char *cmd);
/* Asserts (Check) that path is a PNG file (its 8-byte signature) and prints
 * "<who>: screenshot: <path>" so a person can look at it. */
void ts_assert_png(const char *path, const char *who);
/* Runs tests/sdk/install.sh (the pinned npm packages of the Node and browser tests; a
 * no-op once installed; at most 120 s) and asserts (Check) it exited 0: "tests/sdk/
 * install.sh exited <code> (node/npm missing? scripts/install-deps.sh --test)". */
void ts_sdk_install(void);
/* The path of a file a test leaves for people, PULSE_BIN_DIR/tests/artifacts/<name>
 * (e.g. a screenshot), copied into out; a file left there by an earlier run is removed. */
void ts_artifact(char *out, size_t cap, const char *name);
/* The haproxy binary (/usr/sbin, /usr/bin, /usr/local/sbin, /usr/local/bin), or NULL. */
const char *ts_haproxy_bin(void);

/* ---- HTTP (HTTP/1.0-style, Connection: close) ---- */
/* Returns the status code (e.g. 200) and copies the body into body (NUL-terminated,
 * truncated to cap-1); -1 when the connection failed. method "GET"/"POST"/...;
 * req_body may be NULL. extra_headers: "K: V\r\n..." or NULL. */
int ts_http(int port, const char *method, const char *path, const char *extra_headers,
            const char *req_body, char *body, size_t cap);
/* Polls GET path until it returns want_status (up to timeout_ms). 0 or -1. */
int ts_http_wait_status(int port, const char *path, int want_status, int timeout_ms);
/* Reads one metric value from GET /metrics: name may include labels exactly as
 * printed, e.g. "pulse_deliveries_total{priority=\"critical\"}". -1 when absent. */
double ts_metric(int admin_port, const char *name);
/* Sum of every series of a metric family (name followed by '{' or ' '), e.g.
 * ts_metric_sum(p, "pulse_dropped_total") adds all reasons. -1 when absent. */
double ts_metric_sum(int admin_port, const char *family);

/* ---- raw WebSocket client ---- */
typedef struct {
    int fd;
    int close_code;      /* set when a close frame was received, else 0 */
    char close_reason[128];
    unsigned char *buf;  /* receive buffer */
    size_t len, cap;
} ts_ws;

/* Connects to 127.0.0.1:port, sends the upgrade for path (e.g.
 * "/ws?channels=events.critical") with subprotocol (NULL: none), and checks the 101.
 * Returns 0, or the HTTP status when the server refused (e.g. 503), or -1. */
int ts_ws_connect(ts_ws *w, int port, const char *path, const char *subprotocol);
/* Writes a frame header into out (at least 10 bytes): first byte b0 (FIN and opcode),
 * payload length len in the shortest of the three length forms, mask bit set when
 * masked (the 4 key bytes are the caller's to append). Returns the header's length. */
size_t ts_ws_frame_head(unsigned char *out, unsigned b0, size_t len, bool masked);
/* Sends one masked frame: opcode (1 text, 2 binary, 8 close, 9 ping, 10 pong), fin
 * flag. Returns 0 or -1. */
int ts_ws_send_frame(ts_ws *w, int opcode, bool fin, const void *data, size_t len);
int ts_ws_send_text(ts_ws *w, const char *text);
/* Sends raw bytes as they are (for broken frames, unmasked frames, lies about length). */
int ts_ws_send_raw(ts_ws *w, const void *data, size_t len);
/* Receives one whole message (reassembling fragments, answering pings). On a data
 * message returns its opcode and a malloc'd NUL-terminated payload in *out (len in
 * *out_len). On a close frame returns 8 and sets close_code/close_reason. 0 on timeout,
 * -1 on EOF or error. */
int ts_ws_recv(ts_ws *w, char **out, size_t *out_len, int timeout_ms);
/* Receives until a text message containing needle arrives; returns it (malloc'd), or
 * NULL on timeout/close. Messages skipped on the way are freed. */
char *ts_ws_recv_until(ts_ws *w, const char *needle, int timeout_ms);
/* Waits for the connection to be closed by the peer (close frame or EOF). Returns the
 * close code (0 when EOF came without a close frame), or -1 on timeout. */
int ts_ws_wait_closed(ts_ws *w, int timeout_ms);
void ts_ws_close(ts_ws *w); /* closes the socket without a close frame */

/* ---- the pulse.v1 protocol over ts_ws ---- */
/* Connects to /ws?channels=<channels> (NULL or "": /ws) with subprotocol pulse.v1 and
 * checks the greeting: first {"op":"hello","node":node_id} (node_id NULL: any node),
 * then one {"op":"subscribed","channel":c} per channel of the list, in order. On
 * failure prints what came instead, closes w and returns -1; else 0. */
int ts_ws_open(ts_ws *w, int port, const char *channels, const char *node_id, int timeout_ms);
/* Sends request (a text frame) and returns the first control reply (a JSON object with
 * "op"; deliveries and {"op":"gap",...} notices that cross it are skipped): 0 when its
 * op is want_op, else -1.
 * *reply (when reply is not NULL) gets the malloc'd reply text, or NULL. */
int ts_ws_op(ts_ws *w, const char *request, const char *want_op, char **reply, int timeout_ms);
/* Sends {"op":"ping"} and waits (up to 5 s) for {"op":"pong"}, skipping error frames
 * and deliveries on the way: whether the connection is still usable. */
bool ts_ws_usable(ts_ws *w);
/* Asserts (Check) that {"op":"ping"} gets its pong as the next control reply (ts_ws_op,
 * 5 s): "<who>: ping got <reply> instead of a pong". */
void ts_assert_pong(ts_ws *w, const char *who);
/* Asserts (Check) that the next message w receives (ts_ws_recv, 5 s) is a text message
 * equal to the delivery frame of data published on channel (ts_envelope):
 * "<who>: want <frame>\n got (<rc>) <message>". */
void ts_assert_delivery(ts_ws *w, const char *channel, const char *data, const char *who);

#endif
