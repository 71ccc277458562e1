/*
 * fuzz_event.c - libFuzzer target for pulse_event_parse, the event schema validator
 * (publisher, gateway /publish, tests). An accepted event must satisfy the documented
 * bounds and survive a pulse_event_format -> pulse_event_parse round trip unchanged.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pulse_event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pulse_event ev;
    pulse_error err;
    memset(&ev, 0, sizeof ev);
    if (pulse_event_parse((const char *)data, size, &ev, &err) != 0)
        return 0;
    if (strnlen(ev.event_id, sizeof ev.event_id) != PULSE_UUID_LEN)
        abort();
    size_t tl = strnlen(ev.event_type, sizeof ev.event_type);
    if (tl == 0 || tl > PULSE_EVENT_TYPE_MAX || strnlen(ev.source, sizeof ev.source) > PULSE_SOURCE_MAX)
        abort();
    if (ev.published_at_us <= 0)
        abort();
    if (ev.priority != PULSE_PRIO_UNSET && ev.priority != PULSE_PRIO_NORMAL && ev.priority != PULSE_PRIO_CRITICAL)
        abort();
    static char buf[4096];
    int n = pulse_event_format(&ev, NULL, buf, sizeof buf);
    if (n < 0)
        return 0; /* format is stricter about some fields; not a crash */
    pulse_event back;
    if (pulse_event_parse(buf, (size_t)n, &back, &err) != 0)
        abort(); /* what we write we must read */
    if (strcmp(back.event_id, ev.event_id) != 0 || strcmp(back.event_type, ev.event_type) != 0 ||
        strcmp(back.source, ev.source) != 0 || back.sequence != ev.sequence || back.priority != ev.priority)
        abort();
    return 0;
}
