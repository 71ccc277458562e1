/*
 * main.c - pulse-gateway: load the configuration, start the worker threads and the
 * admin server, print the ready line, and run the ingest loop until a signal drains
 * the node.
 */
#include <event2/event.h>
#include <event2/thread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "gw_admin.h"
#include "gw_auth.h"
#include "gw_config.h"
#include "gw_history.h"
#include "gw_ingest.h"
#include "gw_worker.h"
#include "pulse_log.h"
#include "pulse_url.h"

extern char **environ;

/* Each connection is a descriptor: make room for max_connections if the hard limit allows. */
static void raise_fd_limit(int want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t need = (rlim_t)want + 256;
    if (rl.rlim_cur >= need)
        return;
    rl.rlim_cur = need < rl.rlim_max ? need : rl.rlim_max;
    /* gw_node_init says how far max_connections comes down when this falls short */
    setrlimit(RLIMIT_NOFILE, &rl);
}

/* One line with the final counters once every worker has stopped: /metrics is gone
 * by then, and this is where a drain's losses (or their absence) are accounted. */
static void log_final_counters(gw_node *n)
{
    gw_totals t;
    gw_admin_sum_workers(n, &t);
    const uint64_t *dlv = t.deliveries, *drop = t.dropped;
    PLOG_INFO("main",
              "final counters: received critical=%llu normal=%llu; delivered critical=%llu normal=%llu; "
              "dropped queue_full=%llu superseded=%llu slow_consumer=%llu shutdown=%llu",
              (unsigned long long)n->events_received[PULSE_PRIO_CRITICAL],
              (unsigned long long)n->events_received[PULSE_PRIO_NORMAL], (unsigned long long)dlv[PULSE_PRIO_CRITICAL],
              (unsigned long long)dlv[PULSE_PRIO_NORMAL], (unsigned long long)drop[GW_DROP_QUEUE_FULL],
              (unsigned long long)drop[GW_DROP_SUPERSEDED], (unsigned long long)drop[GW_DROP_SLOW_CONSUMER],
              (unsigned long long)drop[GW_DROP_SHUTDOWN]);
}

/* Loads the configuration and the auth material. Returns -1 to go on, or the exit
 * status (0 after --help/--version, 2 for bad settings) with everything freed. */
static int load_settings(gw_config *cfg, gw_auth **auth, int argc, char **argv)
{
    pulse_error err;
    memset(&err, 0, sizeof(err));
    gw_config_defaults(cfg);
    int rc = gw_config_load(cfg, NULL, environ, argc, argv, &err);
    if (rc == 1) {
        if (cfg->help_requested == 2)
            printf("pulse-gateway %s\n", PULSE_VERSION);
        else
            fputs(gw_config_usage(), stdout);
        gw_config_free(cfg);
        return 0;
    }
    if (rc < 0) {
        fprintf(stderr, "pulse-gateway: %s\n", err.text);
        gw_config_free(cfg);
        return 2;
    }
    /* keys, TLS files, and no open listener without auth unless --insecure */
    *auth = NULL;
    if (gw_auth_new(cfg, auth, &err) != 0 || gw_auth_check_exposure(cfg, *auth, &err) != 0) {
        fprintf(stderr, "pulse-gateway: %s\n", err.text);
        gw_auth_free(*auth);
        gw_config_free(cfg);
        return 2;
    }
    return -1;
}

static void setup_logging(const gw_config *cfg, const gw_auth *auth)
{
    pulse_log_level level = PULSE_LOG_INFO;
    pulse_log_format format = PULSE_LOG_TEXT;
    pulse_log_level_parse(cfg->log_level, &level);
    pulse_log_format_parse(cfg->log_format, &format);
    pulse_log_set_level(level);
    pulse_log_set_format(format);
    pulse_log_set_ident(cfg->node_id);
    if (gw_auth_enabled(auth) && !gw_auth_admin_has_key(auth))
        PLOG_WARN("main", "WebSocket tokens are required but the admin API has no key: any local process can "
                          "POST /publish to any channel, including users' own; set admin.api_key_file or "
                          "PULSE_ADMIN_API_KEY");
}

/* History rules, the listener, the workers, the admin server, then the worker threads
 * and the node. 0, or the exit status (logged here). */
static int start_node(gw_node *node, const gw_config *cfg)
{
    pulse_error err;
    memset(&err, 0, sizeof(err));
    if (gw_history_init(node, &err) != 0) {
        PLOG_ERR("main", "history rules: %s", err.text);
        return 2;
    }
    if (gw_node_listen(node, &err) != 0) {
        PLOG_ERR("main", "%s", err.text);
        return 1;
    }
    gw_worker_memory_init(node->max_sockets);
    for (int i = 0; i < cfg->workers; i++) {
        /* workers get their sockets from the node listener */
        node->workers[i] = gw_worker_new(node, i, -1, &err);
        if (!node->workers[i]) {
            PLOG_ERR("main", "%s", err.text);
            return 1;
        }
    }
    if (gw_admin_start(node, &err) != 0) {
        PLOG_ERR("main", "%s", err.text);
        return 1;
    }
    for (int i = 0; i < cfg->workers; i++) {
        if (gw_worker_start(node->workers[i]) != 0) {
            PLOG_ERR("main", "cannot start worker thread %d", i);
            return 1;
        }
    }
    gw_node_start(node);
    return 0;
}

/* The startup log lines and the ready line on stdout that scripts and tests wait for. */
static void announce(const gw_node *node, const gw_config *cfg, const gw_auth *auth)
{
    char redis_shown[512];
    PLOG_INFO("main", "pulse-gateway %s node=%s listening on %s:%d (WebSocket /ws, %d worker%s), admin on %s:%d, redis %s",
              PULSE_VERSION, cfg->node_id, cfg->bind, node->ws_port, cfg->workers, cfg->workers == 1 ? "" : "s",
              cfg->admin_bind, node->admin_port, pulse_url_redact(cfg->redis_url, redis_shown, sizeof(redis_shown)));
    PLOG_INFO("main", "security: auth %s, admin key %s, %s", gw_auth_algorithm(auth),
              gw_auth_admin_has_key(auth) ? "required" : "none", cfg->tls_cert && cfg->tls_cert[0] ? "wss" : "ws");
    printf("pulse-gateway ready node=%s port=%d admin_port=%d\n", cfg->node_id, node->ws_port, node->admin_port);
    fflush(stdout);
}

/* Stops and frees the workers (draining those that started when startup failed) and
 * the admin server, then the node. */
static void stop_node(gw_node *node, const gw_config *cfg, int status)
{
    if (status != 0 && node->workers) {
        /* workers that started must stop before they are freed */
        for (int i = 0; i < cfg->workers; i++) {
            if (node->workers[i])
                gw_node_post(node, i, GW_MAIL_DRAIN, NULL, false);
        }
    }
    for (int i = 0; i < cfg->workers; i++)
        gw_worker_join(node->workers[i]);
    gw_admin_stop(node);
    for (int i = 0; i < cfg->workers; i++)
        gw_worker_free(node->workers[i]);
    gw_node_cleanup(node);
}

int main(int argc, char **argv)
{
    gw_config cfg;
    gw_auth *auth = NULL;
    int rc = load_settings(&cfg, &auth, argc, argv);
    if (rc >= 0)
        return rc;
    setup_logging(&cfg, auth);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit(cfg.max_connections);

    evthread_use_pthreads();
    struct event_base *base = event_base_new();
    if (!base) {
        fprintf(stderr, "pulse-gateway: cannot create the event loop\n");
        return 1;
    }

    gw_node node;
    gw_node_init(&node, &cfg, auth, base);
    int status = start_node(&node, &cfg);
    if (status == 0) {
        announce(&node, &cfg, auth);
        event_base_dispatch(base);
        if (node.workers_done < node.nworkers) {
            PLOG_ERR("main", "workers still busy after the drain deadline; exiting");
            _exit(1);
        }
        log_final_counters(&node);
        PLOG_INFO("main", "stopped");
    }
    stop_node(&node, &cfg, status);
    event_base_free(base);
    gw_auth_free(auth);
    gw_config_free(&cfg);
    libevent_global_shutdown();
    return status;
}
