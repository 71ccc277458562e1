/*
 * test_compose.c - the container topology is what docs/CLUSTER.md says, checked without
 * a Docker engine:
 *   - `docker-compose -f docker-compose.yml config` (Debian's docker-compose 1.29, or
 *     Compose v2 as `docker compose`) accepts the file; its normalised output has the
 *     services redis, gateway and haproxy; gateway publishes no host port and has no
 *     container_name (so `--scale gateway=N` works) and waits for a healthy redis;
 *     redis and gateway have health checks; haproxy is haproxy:2.6 with
 *     deploy/haproxy.cfg mounted and one client port; the profiles publisher and
 *     loadtest exist and hold the one-shot publisher and the measurement.
 *   - deploy/haproxy.cfg is valid for the installed haproxy (`haproxy -c`), is
 *     WebSocket-aware and discovers the replicas (server-template + resolvers).
 *   - the Dockerfile is multi-stage on bookworm, runs as a non-root user, health-checks
 *     /healthz and has the gateway as entrypoint.
 * The tools are installed by scripts/install-deps.sh; this test installs nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ts_check.h"
#include "ts.h"

static ts_stack stack; /* its temp dir only (stack.tmp) */

/* Runs cmd through sh; its stdout goes into a malloc'd string, stderr into stack.tmp/err.
 * *status gets the exit status (or -1). */
static char *run(const char *cmd, int *status)
{
    char full[4096];
    snprintf(full, sizeof full, "cd '%s' && %s 2>'%s/err'", PULSE_SOURCE_DIR, cmd, stack.tmp);
    FILE *p = popen(full, "r");
    ck_assert_msg(p != NULL, "popen %s", cmd);
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    ck_assert_ptr_nonnull(out);
    size_t n;
    while ((n = fread(out + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 1024) {
            cap *= 2;
            out = realloc(out, cap);
            ck_assert_ptr_nonnull(out);
        }
    }
    out[len] = '\0';
    int st = pclose(p);
    *status = st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return out;
}

/* The text of dir/name (malloc'd; up to 128 KiB), asserted readable. */
static char *slurp(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot read %s", path);
    static char buf[1 << 17];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return strdup(buf);
}

static void dump_err(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/err", stack.tmp);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    char line[1024];
    fprintf(stderr, "---- stderr ----\n");
    for (int i = 0; i < 100 && fgets(line, sizeof line, f) != NULL; i++)
        fputs(line, stderr);
    fclose(f);
}

/* Which compose: "docker-compose" (v1, Debian) or "docker compose" (v2 plugin). */
static const char *compose_cmd(void)
{
    int st;
    char *o = run("docker-compose version", &st);
    free(o);
    if (st == 0)
        return "docker-compose";
    o = run("docker compose version", &st);
    free(o);
    if (st == 0)
        return "docker compose";
    return NULL;
}

/* ---- a tiny reader for the normalised YAML that `config` prints ---- */

static int indent_of(const char *line)
{
    int n = 0;
    while (line[n] == ' ')
        n++;
    return n;
}

/* The block under "<indent spaces>key:" inside text (lines indented deeper, up to the
 * next line at that indent or less), malloc'd; NULL when the key is absent. The key
 * line's own inline value is included as the first line. */
static char *block(const char *text, const char *key, int indent)
{
    char pat[256];
    snprintf(pat, sizeof pat, "%*s%s:", indent, "", key);
    const char *p = text;
    while (p != NULL && *p != '\0') {
        const char *eol = strchr(p, '\n');
        size_t len = eol != NULL ? (size_t)(eol - p) : strlen(p);
        if (strncmp(p, pat, strlen(pat)) == 0 && (len == strlen(pat) || p[strlen(pat)] == ' ')) {
            const char *start = p;
            const char *q = eol != NULL ? eol + 1 : p + len;
            while (*q != '\0') {
                const char *e = strchr(q, '\n');
                size_t l = e != NULL ? (size_t)(e - q) : strlen(q);
                /* deeper lines, and list items at the same indent ("key:\n- a") */
                bool inside = l == 0 || indent_of(q) > indent ||
                              (indent_of(q) == indent && q[indent] == '-');
                if (!inside)
                    break;
                q = e != NULL ? e + 1 : q + l;
            }
            return strndup(start, (size_t)(q - start));
        }
        p = eol != NULL ? eol + 1 : NULL;
    }
    return NULL;
}

static char *service(const char *config, const char *name)
{
    char *services = block(config, "services", 0);
    ck_assert_msg(services != NULL, "no services: in the compose config output");
    char *s = block(services, name, 2);
    free(services);
    return s;
}

START_TEST(test_compose_config)
{
    const char *compose = compose_cmd();
    ck_assert_msg(compose != NULL, "neither docker-compose nor `docker compose` is installed "
                                   "(scripts/install-deps.sh installs Debian's docker-compose)");
    char cmd[512];
    int st;
    /* Defaults only: no .env or PULSE_* from the caller's environment. */
    snprintf(cmd, sizeof cmd,
             "env -u PULSE_LB_PORT -u PULSE_LB_STATS_PORT -u PULSE_IMAGE -u PULSE_LB_ADDR "
             "-u PULSE_NOFILE %s -f docker-compose.yml "
             "--project-directory . config",
             compose);
    char *cfg = run(cmd, &st);
    if (st != 0)
        dump_err();
    ck_assert_msg(st == 0, "%s rejected docker-compose.yml (status %d)", cmd, st);

    char *redis = service(cfg, "redis");
    char *gw = service(cfg, "gateway");
    char *lb = service(cfg, "haproxy");
    char *pub = service(cfg, "publisher");
    char *lt = service(cfg, "loadtest");
    ck_assert_msg(redis != NULL, "service redis missing");
    ck_assert_msg(gw != NULL, "service gateway missing");
    ck_assert_msg(lb != NULL, "service haproxy missing");
    ck_assert_msg(pub != NULL, "service publisher missing");
    ck_assert_msg(lt != NULL, "service loadtest missing");

    /* gateway: scalable (no fixed host port, no fixed name), built from the Dockerfile,
     * started after redis is healthy, listening on all interfaces inside its container. */
    char *x = block(gw, "ports", 4);
    ck_assert_msg(x == NULL, "gateway publishes host ports, so --scale gateway=3 would clash:\n%s", x);
    x = block(gw, "container_name", 4);
    ck_assert_msg(x == NULL, "gateway has a fixed container_name: cannot scale");
    x = block(gw, "build", 4);
    ck_assert_msg(x != NULL, "gateway is not built from the Dockerfile");
    free(x);
    x = block(gw, "depends_on", 4);
    ck_assert_msg(x != NULL && strstr(x, "redis:") != NULL && strstr(x, "service_healthy") != NULL,
                  "gateway does not wait for a healthy redis: %s", x ? x : "(no depends_on)");
    free(x);
    x = block(gw, "environment", 4);
    ck_assert_msg(x != NULL && strstr(x, "PULSE_REDIS: redis://redis:6379") != NULL &&
                      strstr(x, "PULSE_BIND: 0.0.0.0") != NULL && strstr(x, "PULSE_ADMIN_BIND: 0.0.0.0") != NULL,
                  "gateway environment: %s", x ? x : "(none)");
    ck_assert_msg(strstr(x, "PULSE_NODE_ID") == NULL,
                  "gateway sets PULSE_NODE_ID: every replica would share it (the host name is the id)");
    free(x);

    /* health checks on redis and gateway (gateway: the admin /healthz). */
    x = block(redis, "healthcheck", 4);
    ck_assert_msg(x != NULL && strstr(x, "test:") != NULL && strstr(x, "NONE") == NULL,
                  "redis has no health check");
    free(x);
    x = block(gw, "healthcheck", 4);
    ck_assert_msg(x != NULL && strstr(x, "/healthz") != NULL && strstr(x, "NONE") == NULL,
                  "gateway has no /healthz health check: %s", x ? x : "(none)");
    free(x);

    /* haproxy: the 2.6 image, our config mounted, one client port (8080 in the container). */
    x = block(lb, "image", 4);
    ck_assert_msg(x != NULL && strstr(x, "haproxy:2.6") != NULL, "haproxy image: %s", x ? x : "(none)");
    free(x);
    x = block(lb, "volumes", 4);
    ck_assert_msg(x != NULL && strstr(x, "deploy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg") != NULL,
                  "deploy/haproxy.cfg is not mounted into haproxy: %s", x ? x : "(no volumes)");
    free(x);
    x = block(lb, "ports", 4);
    ck_assert_msg(x != NULL && strstr(x, "8080") != NULL, "haproxy publishes no client port: %s",
                  x ? x : "(none)");
    /* Open by default would mean anyone on the LAN gets ?channels=* (no auth here). */
    ck_assert_msg(strstr(x, "- 127.0.0.1:8080:8080") != NULL && strstr(x, "0.0.0.0") == NULL,
                  "haproxy's client port is not on 127.0.0.1 by default: %s", x);
    free(x);

    /* profiles: the core services have none; publisher and loadtest have theirs. */
    const char *core[] = {"redis", "gateway", "haproxy"};
    char *cores[] = {redis, gw, lb};
    for (int i = 0; i < 3; i++) {
        x = block(cores[i], "profiles", 4);
        ck_assert_msg(x == NULL, "%s is in a profile: `docker compose up` would not start it", core[i]);
    }
    x = block(pub, "profiles", 4);
    ck_assert_msg(x != NULL && strstr(x, "- publisher") != NULL, "publisher profile: %s", x ? x : "(none)");
    free(x);
    x = block(lt, "profiles", 4);
    ck_assert_msg(x != NULL && strstr(x, "- loadtest") != NULL, "loadtest profile: %s", x ? x : "(none)");
    free(x);
    ck_assert_msg(strstr(pub, "pulse-publish") != NULL && strstr(pub, "redis://redis:6379") != NULL,
                  "publisher does not run pulse-publish through redis:\n%s", pub);
    /* The measurement goes through HAProxy and ends with the report. */
    const char *steps[] = {"pulse-subscribe", "ws://haproxy:8080/ws", "pulse-subscribe ready",
                           "pulse-publish", "pulse-report"};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        ck_assert_msg(strstr(lt, steps[i]) != NULL, "loadtest does not use '%s':\n%s", steps[i], lt);
    x = block(lt, "depends_on", 4);
    ck_assert_msg(x != NULL && strstr(x, "haproxy:") != NULL, "loadtest does not depend on haproxy");
    free(x);

    /* The same services and profiles through the tool's own listings. */
    snprintf(cmd, sizeof cmd, "%s -f docker-compose.yml config --profiles", compose);
    char *profiles = run(cmd, &st);
    if (st == 0) { /* v1 has --profiles; some v2 releases spell it differently */
        ck_assert_msg(strstr(profiles, "publisher") != NULL && strstr(profiles, "loadtest") != NULL,
                      "config --profiles: %s", profiles);
    }
    free(profiles);
    snprintf(cmd, sizeof cmd, "%s -f docker-compose.yml config --services", compose);
    char *services = run(cmd, &st);
    ck_assert_int_eq(st, 0);
    const char *want[] = {"redis", "gateway", "haproxy"};
    for (int i = 0; i < 3; i++)
        ck_assert_msg(strstr(services, want[i]) != NULL, "config --services lacks %s: %s", want[i], services);
    free(services);

    /* File-descriptor limits: 65536 by default, PULSE_NOFILE for hosts below it. */
    snprintf(cmd, sizeof cmd, "env -u PULSE_NOFILE %s -f docker-compose.yml config | grep -c 'soft: 65536'",
             compose);
    char *n = run(cmd, &st);
    ck_assert_msg(atoi(n) == 5, "want nofile 65536 on gateway, haproxy, loadtest, gateway-rc, haproxy-rc: %s", n);
    free(n);
    snprintf(cmd, sizeof cmd, "PULSE_NOFILE=4321 %s -f docker-compose.yml config | grep -c ': 4321'",
             compose);
    n = run(cmd, &st);
    ck_assert_msg(atoi(n) == 10, "PULSE_NOFILE=4321 should set soft and hard on 5 services: %s", n);
    free(n);

    /* profile rcluster: six cluster nodes joined by rc-init, gateways on redis+cluster:// */
    snprintf(cmd, sizeof cmd, "%s -f docker-compose.yml --profile rcluster config", compose);
    char *rc = run(cmd, &st);
    ck_assert_int_eq(st, 0);
    const char *rcwant[] = {"rc-6:", "--cluster-enabled", "--cluster create", "--cluster-replicas 1",
                            "service_completed_successfully", "PULSE_REDIS: redis+cluster://rc-1:6379",
                            "PULSE_LB_GATEWAYS: gateway-rc:8080", "- 127.0.0.1:8081:8080"};
    for (size_t i = 0; i < sizeof rcwant / sizeof rcwant[0]; i++)
        ck_assert_msg(strstr(rc, rcwant[i]) != NULL, "profile rcluster lacks '%s'", rcwant[i]);
    free(rc);

    free(redis);
    free(gw);
    free(lb);
    free(pub);
    free(lt);
    free(cfg);
}
END_TEST

START_TEST(test_haproxy_cfg)
{
    char *cfg = slurp(PULSE_SOURCE_DIR, "deploy/haproxy.cfg");
    const char *must[] = {
        "timeout tunnel",           /* WebSocket tunnels outlive HTTP timeouts */
        "balance leastconn",        /* long-lived connections */
        "option httpchk",           /* health checks... */
        "uri /healthz",             /* ...on the gateways' admin /healthz */
        "check port",               /* ...on the admin port */
        "server-template",          /* scaled replicas discovered... */
        "resolvers docker",         /* ...through Docker's DNS */
        "option redispatch",        /* failover */
        "retries",
        "# @servers-begin",         /* the block cluster.sh renders natively */
        "# @servers-end",
        "%HM %HP %HV",              /* requests logged without their query (?token=) */
    };
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
        ck_assert_msg(strstr(cfg, must[i]) != NULL, "deploy/haproxy.cfg lacks '%s'", must[i]);
    /* httplog and %r/%HU/%HQ would write the query string, tokens included. */
    const char *never[] = {"option httplog", "%r ", "%r\\\"", "%HU", "%HQ", "%{+Q}r"};
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
        ck_assert_msg(strstr(cfg, never[i]) == NULL, "deploy/haproxy.cfg logs URIs with '%s'", never[i]);
    free(cfg);

    /* Valid for the installed HAProxy, as compose mounts it and as cluster.sh renders it. */
    int st;
    char cmd[2048];
    char *o = run("command -v haproxy || ls /usr/sbin/haproxy", &st);
    ck_assert_msg(st == 0, "haproxy is not installed (scripts/install-deps.sh installs it)");
    free(o);
    o = run("PATH=$PATH:/usr/sbin haproxy -c -f deploy/haproxy.cfg", &st);
    if (st != 0)
        dump_err();
    ck_assert_msg(st == 0, "haproxy -c rejects deploy/haproxy.cfg: %s", o);
    free(o);
    snprintf(cmd, sizeof cmd,
             "bash loadtest/cluster.sh render --gateway node-1=127.0.0.1:18080:19090 "
             "--gateway node-2=127.0.0.1:18081:19091 > '%s/rendered.cfg' && "
             "PATH=$PATH:/usr/sbin PULSE_LB_BIND=127.0.0.1:1 haproxy -c -f '%s/rendered.cfg'",
             stack.tmp, stack.tmp);
    o = run(cmd, &st);
    if (st != 0)
        dump_err();
    ck_assert_msg(st == 0, "the rendered native config is not valid: %s", o);
    free(o);
    cfg = slurp(stack.tmp, "rendered.cfg");
    ck_assert_msg(strstr(cfg, "server node-1 127.0.0.1:18080 check port 19090") != NULL &&
                      strstr(cfg, "server node-2 127.0.0.1:18081 check port 19091") != NULL,
                  "rendered servers missing:\n%s", cfg);
    ck_assert_msg(strstr(cfg, "\n    server-template ") == NULL, "rendered config keeps the server-template");
    free(cfg);
}
END_TEST

START_TEST(test_dockerfile)
{
    char *df = slurp(PULSE_SOURCE_DIR, "Dockerfile");
    int froms = 0;
    for (const char *p = df; (p = strstr(p, "\nFROM debian:bookworm")) != NULL; p++)
        froms++;
    ck_assert_msg(froms >= 2, "want a multi-stage build on debian:bookworm (found %d stages)", froms);
    const char *must[] = {"AS build",         "-DPULSE_BUILD_TESTS=OFF", "libwebsockets-dev",
                          "libwebsockets17",  "libhiredis0.14",          "libevent-2.1-7",
                          "libevent-pthreads-2.1-7", "libjansson4",      "libconfig9", "liburing2",
                          "curl",             "COPY --from=build",       "HEALTHCHECK",
                          "/healthz",         "PULSE_ADMIN_PORT",        "PULSE_BIND=0.0.0.0",
                          "PULSE_ADMIN_BIND=0.0.0.0", "ENTRYPOINT [\"pulse-gateway\"]", "\nUSER "};
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
        ck_assert_msg(strstr(df, must[i]) != NULL, "Dockerfile lacks '%s'", must[i]);
    ck_assert_msg(strstr(df, "\nUSER root") == NULL && strstr(df, "\nUSER 0") == NULL,
                  "the image must not run as root");
    /* The runtime stage (after the last FROM) installs no -dev package. */
    const char *last = df, *p;
    while ((p = strstr(last + 1, "\nFROM ")) != NULL)
        last = p;
    ck_assert_msg(strstr(last, "-dev") == NULL, "the runtime stage installs -dev packages");

    /* Every shared library the built binaries link comes from a package the runtime
     * stage installs (or one of their dependencies): ldd + dpkg -S against the closure
     * of `apt-cache depends`. Skipped where the binaries or dpkg/apt are absent. */
    const char *inst = strstr(last, "--no-install-recommends");
    ck_assert_msg(inst != NULL, "runtime stage: no apt-get install --no-install-recommends");
    char pkgs[1024] = "";
    size_t pl = 0;
    for (const char *q = inst + strlen("--no-install-recommends"); *q != '\0' && strncmp(q, "&&", 2) != 0;) {
        while (*q == ' ' || *q == '\\' || *q == '\n')
            q++;
        size_t n = strcspn(q, " \\\n");
        if (n == 0 || strncmp(q, "&&", 2) == 0)
            break;
        pl += (size_t)snprintf(pkgs + pl, sizeof pkgs - pl, "%.*s ", (int)n, q);
        q += n;
    }
    int st;
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "command -v dpkg >/dev/null && command -v apt-cache >/dev/null && "
             "for b in '%s'/gateway/pulse-gateway '%s'/publisher/pulse-publish "
             "'%s'/subscriber-client/pulse-subscribe '%s'/report/pulse-report; do "
             "[ -x \"$b\" ] && ldd \"$b\"; done | awk '/=> \\//{print $3}' | sort -u | "
             "xargs -r readlink -f | xargs -r dpkg -S 2>/dev/null | cut -d: -f1 | sort -u",
             PULSE_BIN_DIR, PULSE_BIN_DIR, PULSE_BIN_DIR, PULSE_BIN_DIR);
    char *linked = run(cmd, &st);
    /* A sanitizer build links its runtime (and what that needs, libstdc++); the image
     * is never built that way, so its library closure says nothing about the image. */
    bool sanitized = strstr(linked, "libasan") != NULL || strstr(linked, "libtsan") != NULL ||
                     strstr(linked, "libubsan") != NULL;
    if (sanitized)
        fprintf(stderr, "test_compose: sanitizer build, runtime-library check skipped\n");
    if (st == 0 && linked[0] != '\0' && !sanitized) {
        snprintf(cmd, sizeof cmd,
                 "apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts "
                 "--no-breaks --no-replaces --no-enhances %s | grep -v '^ ' | sed 's/:.*//' | sort -u",
                 pkgs);
        char *closure = run(cmd, &st);
        ck_assert_msg(st == 0 && closure[0] != '\0', "apt-cache depends %s failed", pkgs);
        char *save = NULL;
        for (char *pkg = strtok_r(linked, "\n", &save); pkg != NULL; pkg = strtok_r(NULL, "\n", &save)) {
            char needle[256];
            snprintf(needle, sizeof needle, "\n%s\n", pkg);
            char *hay;
            ck_assert(asprintf(&hay, "\n%s", closure) > 0);
            ck_assert_msg(strstr(hay, needle) != NULL,
                          "the binaries link a library from %s, which the runtime stage does not "
                          "install (runtime packages: %s)", pkg, pkgs);
            free(hay);
        }
        free(closure);
    }
    free(linked);
    free(df);
    char path[1024];
    snprintf(path, sizeof path, "%s/.dockerignore", PULSE_SOURCE_DIR);
    ck_assert_msg(access(path, R_OK) == 0, ".dockerignore missing (build dirs would be sent as context)");
}
END_TEST

Suite *ts_suite(void)
{
    return ts_stack_suite("compose", "compose", 120, &stack, TS_FIX_DIR, 0, NULL, NULL,
                          test_compose_config, test_haproxy_cfg, test_dockerfile);
}
