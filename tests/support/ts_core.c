/*
 * ts_core.c - the basic fixtures: temp dirs, free ports, binary paths, clocks, and
 * child processes started in their own process group with their output in a log file.
 *
 * Cleanup after a failed test: Check's fork mode ends a failing test with exit(), so a
 * checked teardown never runs. Every started process is therefore kept in a registry;
 * an atexit handler prints the log of every process that was not stopped through
 * ts_proc_stop() and kills it. A test killed outright (Check's timeout) still takes its
 * children along: each child asks for SIGKILL when its parent dies (PR_SET_PDEATHSIG).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ts.h"
#include "ts_internal.h"

#ifndef PULSE_BIN_DIR
#error "PULSE_BIN_DIR must be defined by the build"
#endif

/* ---- basics ---- */

char *ts_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    size_t n = strlen(base) + sizeof "/pulse-test-XXXXXX";
    char *path = malloc(n);
    if (path == NULL)
        abort();
    snprintf(path, n, "%s/pulse-test-XXXXXX", base);
    if (mkdtemp(path) == NULL) {
        fprintf(stderr, "ts_tmpdir: mkdtemp(%s): %s\n", path, strerror(errno));
        free(path);
        return NULL;
    }
    return path;
}

static void rmtree_at(const char *dir, int depth)
{
    if (depth > 16)
        return;
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            rmtree_at(path, depth + 1);
        else
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

void ts_rmtree(const char *dir)
{
    if (dir == NULL || dir[0] == '\0' || strcmp(dir, "/") == 0)
        return;
    const char *keep = getenv("PULSE_KEEP_TMP");
    if (keep != NULL && keep[0] != '\0') {
        fprintf(stderr, "ts_rmtree: keeping %s (PULSE_KEEP_TMP)\n", dir);
        return;
    }
    /* Only ever delete what ts_tmpdir made. */
    if (strstr(dir, "/pulse-test-") == NULL)
        return;
    rmtree_at(dir, 0);
}

/* 127.0.0.1:port */
static struct sockaddr_in loopback(int port)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)port);
    return sa;
}

int ts_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = loopback(0);
    socklen_t sl = sizeof sa;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

char *ts_bin(const char *name)
{
    const char *sub = NULL;
    if (strcmp(name, "pulse-gateway") == 0)
        sub = "gateway";
    else if (strcmp(name, "pulse-publish") == 0)
        sub = "publisher";
    else if (strcmp(name, "pulse-subscribe") == 0)
        sub = "subscriber-client";
    else if (strcmp(name, "pulse-report") == 0)
        sub = "report";
    size_t n = strlen(PULSE_BIN_DIR) + strlen(name) + 64;
    char *path = malloc(n);
    if (path == NULL)
        abort();
    if (sub != NULL)
        snprintf(path, n, "%s/%s/%s", PULSE_BIN_DIR, sub, name);
    else
        snprintf(path, n, "%s/%s", PULSE_BIN_DIR, name);
    return path;
}

bool ts_file_contains(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    bool found = false;

    if (f == NULL)
        return false;
    while (!found && fgets(line, sizeof(line), f) != NULL)
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

void ts_sleep_ms(int ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int64_t ts_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the registry of started processes ---- */

#define TS_MAX_PROCS 64

typedef struct {
    pid_t pid;
    bool stopped; /* went through ts_proc_stop: no dump needed */
    char log_path[512];
} reg_entry;

static reg_entry reg[TS_MAX_PROCS];
static int reg_count;
static bool reg_hooked;
static pid_t reg_owner; /* the test process that registered the atexit handler */

static void dump_file(const char *path, const char *title)
{
    fprintf(stderr, "==== %s (%s) ====\n", title, path);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "(cannot open: %s)\n", strerror(errno));
        return;
    }
    /* Print at most the last 64 KiB: enough to see why, short enough to read. */
    if (fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        if (size > 65536) {
            fseek(f, size - 65536, SEEK_SET);
            fprintf(stderr, "(... first %ld bytes skipped ...)\n", size - 65536);
        } else {
            fseek(f, 0, SEEK_SET);
        }
    }
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, n, stderr);
    fclose(f);
    fprintf(stderr, "==== end of %s ====\n", title);
}

static void reg_atexit(void)
{
    if (getpid() != reg_owner)
        return;
    for (int i = 0; i < reg_count; i++) {
        if (reg[i].stopped || reg[i].pid <= 0)
            continue;
        char title[64];
        snprintf(title, sizeof title, "log of pid %d (left running by a failed test)",
                 (int)reg[i].pid);
        dump_file(reg[i].log_path, title);
        kill(-reg[i].pid, SIGKILL);
        kill(reg[i].pid, SIGKILL);
        waitpid(reg[i].pid, NULL, 0);
    }
}

/* The file registry shared with the Check runner (see ts_suite_setup). */
static void reg_file_append(char kind, pid_t pid, const char *path)
{
    const char *file = getenv("PULSE_TS_REG");
    if (file == NULL || file[0] == '\0')
        return;
    FILE *f = fopen(file, "a");
    if (f == NULL)
        return;
    fprintf(f, "%c %d %s\n", kind, (int)pid, path != NULL ? path : "-");
    fclose(f);
}

static void reg_add(const ts_proc *p)
{
    reg_file_append('R', p->pid, p->log_path);
    if (!reg_hooked || reg_owner != getpid()) {
        /* A new Check child: the table inherited from the parent is not ours. */
        reg_count = 0;
        reg_owner = getpid();
        if (!reg_hooked)
            atexit(reg_atexit);
        reg_hooked = true;
    }
    if (reg_count == TS_MAX_PROCS) {
        /* Reuse a stopped slot. */
        for (int i = 0; i < reg_count; i++) {
            if (reg[i].stopped) {
                reg[i] = reg[--reg_count];
                break;
            }
        }
    }
    if (reg_count < TS_MAX_PROCS) {
        reg[reg_count].pid = p->pid;
        reg[reg_count].stopped = false;
        snprintf(reg[reg_count].log_path, sizeof reg[reg_count].log_path, "%s", p->log_path);
        reg_count++;
    }
}

static void reg_mark_stopped(pid_t pid)
{
    reg_file_append('S', pid, NULL);
    if (reg_owner != getpid())
        return;
    for (int i = 0; i < reg_count; i++)
        if (reg[i].pid == pid)
            reg[i].stopped = true;
}

void ts_dump_logs(void)
{
    if (reg_owner != getpid())
        return;
    for (int i = 0; i < reg_count; i++) {
        char title[64];
        snprintf(title, sizeof title, "log of pid %d", (int)reg[i].pid);
        dump_file(reg[i].log_path, title);
    }
}

void ts_suite_setup(void)
{
    char path[256];
    const char *base = getenv("TMPDIR");
    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    snprintf(path, sizeof path, "%s/pulse-ts-reg-%d", base, (int)getpid());
    unlink(path);
    setenv("PULSE_TS_REG", path, 1);
}

void ts_suite_teardown(void)
{
    const char *file = getenv("PULSE_TS_REG");
    if (file == NULL || file[0] == '\0')
        return;
    FILE *f = fopen(file, "r");
    if (f != NULL) {
        /* Entries started (R) and never stopped (S) belong to failed tests. */
        enum { MAXE = 256 };
        static struct {
            int pid;
            bool stopped;
            char path[512];
        } e[MAXE];
        int n = 0;
        char kind;
        int pid;
        char path[512];
        while (n < MAXE && fscanf(f, " %c %d %511s", &kind, &pid, path) == 3) {
            if (kind == 'R') {
                e[n].pid = pid;
                e[n].stopped = false;
                snprintf(e[n].path, sizeof e[n].path, "%s", path);
                n++;
            } else {
                for (int i = 0; i < n; i++)
                    if (e[i].pid == pid)
                        e[i].stopped = true;
            }
        }
        fclose(f);
        for (int i = 0; i < n; i++) {
            if (e[i].stopped)
                continue;
            kill(-e[i].pid, SIGKILL);
            kill(e[i].pid, SIGKILL);
            char title[96];
            snprintf(title, sizeof title, "log of pid %d (from a failed test)", e[i].pid);
            dump_file(e[i].path, title);
        }
        /* Their temp dirs stay behind too: the logs have been shown, remove them
         * (after all dumps: several logs share a dir). */
        for (int i = 0; i < n; i++) {
            if (e[i].stopped)
                continue;
            char *slash = strrchr(e[i].path, '/');
            if (slash != NULL) {
                *slash = '\0';
                ts_rmtree(e[i].path);
            }
        }
    }
    unlink(file);
}

/* ---- processes ---- */

int ts_proc_start(ts_proc *p, char *const argv[], char *const extra_env[], const char *log_path)
{
    memset(p, 0, sizeof *p);
    p->pid = -1;
    p->status = -1;
    snprintf(p->log_path, sizeof p->log_path, "%s", log_path);
    int logfd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (logfd < 0) {
        fprintf(stderr, "ts_proc_start: open(%s): %s\n", log_path, strerror(errno));
        return -1;
    }
    pid_t parent = getpid();
    fflush(NULL);
    /* Check's runner installs a SIGTERM handler that kills its own process group; a
     * signal landing between fork and exec must not run it in the child. Block all
     * signals across the fork and reset the handlers in the child before unblocking. */
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    pid_t pid = fork();
    if (pid < 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        close(logfd);
        return -1;
    }
    if (pid == 0) {
        for (int sig = 1; sig < NSIG; sig++)
            signal(sig, SIG_DFL);
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int nullfd = open("/dev/null", O_RDONLY);
        if (nullfd >= 0) {
            dup2(nullfd, 0);
            if (nullfd != 0)
                close(nullfd);
        }
        dup2(logfd, 1);
        dup2(logfd, 2);
        /* Sockets and pipes of the test must not leak into the child. */
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        for (int i = 0; extra_env != NULL && extra_env[i] != NULL; i++)
            putenv(extra_env[i]);
        execv(argv[0], argv);
        dprintf(2, "ts_proc_start: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(logfd);
    setpgid(pid, pid); /* also from here, so the group exists before we return */
    p->pid = pid;
    reg_add(p);
    return 0;
}

int ts_proc_signal(ts_proc *p, int sig)
{
    if (p->pid <= 0 || p->status != -1)
        return -1;
    return kill(p->pid, sig);
}

static int decode_status(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return -1;
}

int ts_proc_wait(ts_proc *p, int timeout_ms)
{
    if (p->pid <= 0)
        return -1;
    if (p->status != -1)
        return decode_status(p->status);
    int64_t deadline = ts_now_ms() + timeout_ms;
    for (;;) {
        int st;
        pid_t r = waitpid(p->pid, &st, WNOHANG);
        if (r == p->pid) {
            p->status = st;
            return decode_status(st);
        }
        if (r < 0 && errno != EINTR)
            return -1;
        if (ts_now_ms() >= deadline)
            return -1;
        ts_sleep_ms(5);
    }
}

void ts_proc_stop(ts_proc *p, int grace_ms)
{
    if (p->pid <= 0)
        return;
    if (p->status == -1) {
        /* Reap first if it already died: a crash is worth a dump. */
        if (ts_proc_wait(p, 0) >= 0) {
            int code = decode_status(p->status);
            if (code != 0) {
                char title[96];
                snprintf(title, sizeof title, "pid %d had exited by itself with status %d",
                         (int)p->pid, code);
                ts_proc_dump_log(p, title);
            }
        } else {
            kill(p->pid, SIGTERM);
            if (ts_proc_wait(p, grace_ms) < 0) {
                fprintf(stderr, "ts_proc_stop: pid %d ignored SIGTERM for %d ms, killing\n",
                        (int)p->pid, grace_ms);
                kill(-p->pid, SIGKILL); /* its group: helpers it forked go too */
                kill(p->pid, SIGKILL);
                ts_proc_wait(p, 5000);
            }
        }
    }
    reg_mark_stopped(p->pid);
}

int ts_proc_wait_line(ts_proc *p, const char *needle, char *line, size_t cap, int timeout_ms)
{
    int64_t deadline = ts_now_ms() + timeout_ms;
    size_t bufcap = 1 << 16;
    char *buf = malloc(bufcap);
    if (buf == NULL)
        abort();
    int rc = -1;
    for (;;) {
        bool exited = p->status != -1 || ts_proc_wait(p, 0) >= 0;
        /* Scan the whole log line by line. */
        FILE *f = fopen(p->log_path, "r");
        if (f != NULL) {
            ssize_t n;
            char *l = NULL;
            size_t lcap = 0;
            while ((n = getline(&l, &lcap, f)) > 0) {
                if (strstr(l, needle) != NULL) {
                    if (line != NULL && cap > 0) {
                        while (n > 0 && (l[n - 1] == '\n' || l[n - 1] == '\r'))
                            l[--n] = '\0';
                        snprintf(line, cap, "%s", l);
                    }
                    rc = 0;
                    break;
                }
            }
            free(l);
            fclose(f);
        }
        if (rc == 0 || exited || ts_now_ms() >= deadline)
            break;
        ts_sleep_ms(10);
    }
    free(buf);
    return rc;
}

void ts_proc_dump_log(const ts_proc *p, const char *title)
{
    dump_file(p->log_path, title != NULL ? title : "process log");
}

/* ---- sockets with deadlines (shared by the HTTP and WebSocket clients) ---- */

int ts__wait_readable(int fd, int64_t deadline_ms)
{
    for (;;) {
        int64_t left = deadline_ms - ts_now_ms();
        if (left < 0)
            left = 0;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int r = poll(&pfd, 1, (int)left);
        if (r > 0)
            return 1;
        if (r == 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

int ts__connect(int port, int timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = loopback(port);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (errno != EINPROGRESS) {
            close(fd);
            return -1;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int r;
        do {
            r = poll(&pfd, 1, timeout_ms);
        } while (r < 0 && errno == EINTR);
        int err = 0;
        socklen_t el = sizeof err;
        if (r <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
            close(fd);
            return -1;
        }
    }
    return fd;
}

int ts__send_all(int fd, const void *data, size_t len, int64_t deadline_ms)
{
    const unsigned char *p = data;
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(fd, p + off, len - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int64_t left = deadline_ms - ts_now_ms();
            if (left <= 0)
                return -1;
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
                return -1;
            continue;
        }
        return -1;
    }
    return 0;
}

long ts_proc_rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}
