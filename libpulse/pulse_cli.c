/*
 * pulse_cli.c - the command-line conventions the four programs share (pulse_cli.h):
 * environment fallback, --version and the usage-error line. No state, no allocation;
 * main's thread only.
 */
#include "pulse_cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#ifndef PULSE_VERSION
#define PULSE_VERSION "unknown"
#endif

const char *pulse_cli_env(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : def;
}

void pulse_cli_version(const char *prog)
{
    printf("%s %s\n", prog, PULSE_VERSION);
}

int pulse_cli_usage_error(const char *prog, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (see --help)\n", stderr);
    return PULSE_EXIT_USAGE;
}

int pulse_cli_bad_option(const char *prog, char **argv, int optind_now, int optopt_now)
{
    if (optopt_now > 0 && optopt_now < 256)
        return pulse_cli_usage_error(prog, "unknown or incomplete option '-%c'", optopt_now);
    return pulse_cli_usage_error(prog, "unknown or incomplete option '%s'", argv[optind_now - 1]);
}

int pulse_cli_common_option(const char *prog, int c, int version_opt, void (*usage)(FILE *f), char **argv)
{
    if (c == 'h') {
        usage(stdout);
        return 1;
    }
    if (c == version_opt) {
        pulse_cli_version(prog);
        return 1;
    }
    if (c == '?' || c == ':')
        return pulse_cli_bad_option(prog, argv, optind, optopt);
    return 0;
}
