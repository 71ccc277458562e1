/*
 * fuzz_url.c - libFuzzer target for pulse_url_parse and pulse_url_parse_cluster, the
 * readers of --redis / PULSE_REDIS / redis_url (redis://..., redis+cluster://seed,...),
 * --url and --http. Invariants: an accepted URL has a host and a port in 1..65535, a
 * cluster URL gives 1..max seeds (each a redis URL with db 0 and the same password),
 * pulse_url_redact never writes past its buffer, and no parse reads past the input
 * (an exact-size heap copy, NUL-terminated).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pulse_url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    pulse_url u;
    pulse_error err = {0};
    static const char *const schemes[] = {"redis", "ws", "http", NULL};
    for (int i = 0; i < 4; i++) {
        if (pulse_url_parse(s, schemes[i], &u, &err) == 0 && (u.host[0] == '\0' || u.port < 1 || u.port > 65535))
            abort();
    }
    pulse_url seeds[PULSE_URL_SEEDS_MAX];
    size_t n = 99, max = size % (PULSE_URL_SEEDS_MAX + 1) + 1;
    int rc = pulse_url_parse_cluster(s, seeds, max, &n, &err);
    if (rc == 0) {
        if (n < 1 || n > max || n > PULSE_URL_SEEDS_MAX)
            abort();
        for (size_t i = 0; i < n; i++)
            if (seeds[i].host[0] == '\0' || seeds[i].port < 1 || seeds[i].port > 65535 || seeds[i].db != 0 ||
                strcmp(seeds[i].password, seeds[0].password) != 0 || strcmp(seeds[i].scheme, "redis") != 0)
                abort();
    } else if (rc != PULSE_EINVAL || pulse_url_is_cluster(s) != (strncasecmp(s, "redis+cluster://", 16) == 0)) {
        abort();
    }
    char out[40];
    pulse_url_redact(s, out, sizeof out);
    if (memchr(out, '\0', sizeof out) == NULL)
        abort();
    free(s);
    return 0;
}
