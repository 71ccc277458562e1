/*
 * pulse_cli.h - what the four programs (pulse-gateway, pulse-publish, pulse-subscribe,
 * pulse-report) share on their command line, so they behave alike: settings taken from
 * the same PULSE_* environment variables as the gateway (a flag wins over the
 * environment, the environment over the built-in default), "PROG VERSION" for
 * --version, and one form for usage errors ("PROG: what (see --help)", exit status 2).
 * Called from main's thread before anything else runs; no allocation.
 *
 * The environment variables the tools read (docs/TOOLS.md lists them):
 *   PULSE_REDIS          Redis URL                 (gateway, pulse-publish)
 *   PULSE_ADMIN_API_KEY  admin Bearer key          (gateway, pulse-publish --http)
 *   PULSE_PORT           gateway WebSocket port    (gateway; pulse-subscribe's default URL)
 *   PULSE_URL            gateway WebSocket URL(s)  (pulse-subscribe)
 *   PULSE_TOKEN          client JWT                (pulse-subscribe)
 */
#ifndef PULSE_CLI_H
#define PULSE_CLI_H

#include <stdio.h>

/* Exit statuses every program uses. */
enum { PULSE_EXIT_OK = 0, PULSE_EXIT_FAILURE = 1, PULSE_EXIT_USAGE = 2 };

/* The value of environment variable name when it is set and not empty, else def. */
const char *pulse_cli_env(const char *name, const char *def);

/* Prints "PROG VERSION\n" on stdout (the same line as pulse-gateway --version). */
void pulse_cli_version(const char *prog);

/* Prints "PROG: <fmt ...> (see --help)" on stderr; returns PULSE_EXIT_USAGE. */
int pulse_cli_usage_error(const char *prog, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* For getopt_long's '?' or ':' return (opterr = 0): names the unknown or incomplete
 * option the way every tool does; returns PULSE_EXIT_USAGE. */
int pulse_cli_bad_option(const char *prog, char **argv, int optind_now, int optopt_now);

/* The options every tool treats alike, for each value c of a getopt_long loop whose
 * optstring is "h" (opterr = 0) and whose --version returns version_opt: 'h' prints
 * usage(stdout), version_opt the version line, '?' or ':' the usage error
 * (pulse_cli_bad_option). Returns 0 when c is the tool's own option, 1 after help or
 * version (exit 0), PULSE_EXIT_USAGE after a bad option. */
int pulse_cli_common_option(const char *prog, int c, int version_opt, void (*usage)(FILE *f), char **argv);

#endif
