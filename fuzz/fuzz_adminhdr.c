/*
 * fuzz_adminhdr.c - libFuzzer target for the admin API's checks of the request headers
 * a browser or a DNS-rebinding page controls (gateway/node/gw_auth.c:
 * gw_auth_admin_host_ok, gw_auth_admin_origin_ok; issue 13 item 7). The input is split
 * at NUL bytes into bind, Host and Origin. Invariants: no crash or overread on any
 * bytes; a wildcard bind or an absent Host is always accepted; an absent Origin is
 * always accepted; the admin's own origin (http://<Host>) is accepted for any Host;
 * an Origin on an absent Host is refused. Also gw_auth_csp_host (the admin page's CSP
 * names the Host): the result is "*" or 1-255 bytes of [A-Za-z0-9.-] that begin the
 * Host, so no byte of a Host can add a directive. Seeds: fuzz/corpus/fuzz_adminhdr/.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_auth.h"

/* The next NUL-terminated piece of data[*pos..size), copied into out (cap bytes). */
static void piece(const uint8_t *data, size_t size, size_t *pos, char *out, size_t cap)
{
    size_t n = 0;
    while (*pos < size && data[*pos] != '\0') {
        if (n + 1 < cap)
            out[n++] = (char)data[*pos];
        (*pos)++;
    }
    if (*pos < size)
        (*pos)++; /* the NUL */
    out[n] = '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char bind[300], host[300], origin[300], own[320];
    size_t pos = 0;
    piece(data, size, &pos, bind, sizeof bind);
    piece(data, size, &pos, host, sizeof host);
    piece(data, size, &pos, origin, sizeof origin);

    (void)gw_auth_admin_host_ok(bind, host);
    (void)gw_auth_admin_origin_ok(origin, host);
    if (!gw_auth_admin_host_ok(bind, NULL) || !gw_auth_admin_host_ok("0.0.0.0", host) ||
        !gw_auth_admin_host_ok("::", host) || !gw_auth_admin_host_ok("*", host))
        abort();
    if (!gw_auth_admin_origin_ok(NULL, host))
        abort();
    if (gw_auth_admin_origin_ok(origin, NULL))
        abort();
    snprintf(own, sizeof own, "http://%s", host);
    if (!gw_auth_admin_origin_ok(own, host))
        abort();

    char csp[300];
    gw_auth_csp_host(host, csp, sizeof csp);
    size_t n = strlen(csp);
    if (strcmp(csp, "*") != 0 &&
        (n == 0 || n > 255 || strspn(csp, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-") != n ||
         strncmp(csp, host, n) != 0))
        abort();
    return 0;
}
