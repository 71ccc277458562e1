/*
 * pulse_event.h - the Pulse event schema, shared by every program.
 *
 * An event is one JSON object:
 *   {"event_id":"uuid-v4","event_type":"SERVER_DOWN","source":"server-a","sequence":1,
 *    "published_at_ms":1768068834227,"published_at_us":1768068834227123,
 *    "priority":"critical","data":{}}
 * published_at_ms is accepted alone for simple publishers (published_at_us is then
 * ms * 1000). priority is optional: absent means "the channel decides".
 *
 * Two readers: pulse_event_parse() validates a whole event with jansson (publisher,
 * gateway /publish, tests); pulse_delivery_scan() pulls the fields a subscriber logs out
 * of a gateway envelope {"channel":...,"data":<event>} without allocating, for the
 * per-delivery hot path of pulse-subscribe. Neither does I/O. Thread-safe.
 */
#ifndef PULSE_EVENT_H
#define PULSE_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "pulse_err.h"

#define PULSE_UUID_LEN 36 /* characters, without the NUL */
#define PULSE_EVENT_TYPE_MAX 64
#define PULSE_SOURCE_MAX 128
#define PULSE_EVENT_MAX_BYTES (1024 * 1024) /* larger events are rejected */

typedef enum {
    PULSE_PRIO_UNSET = 0, /* not given: the channel's configured priority applies */
    PULSE_PRIO_NORMAL = 1,
    PULSE_PRIO_CRITICAL = 2,
} pulse_priority;

typedef struct {
    char event_id[PULSE_UUID_LEN + 1];
    char event_type[PULSE_EVENT_TYPE_MAX + 1];
    char source[PULSE_SOURCE_MAX + 1];
    uint64_t sequence;
    int64_t published_at_us; /* from published_at_us, or published_at_ms * 1000 */
    pulse_priority priority;
} pulse_event;

/* Parses and validates one event of len bytes (need not be NUL-terminated).
 * Returns 0, or PULSE_EINVAL with err filled (err may be NULL). Required: event_id
 * (a UUID string), event_type (1..64 bytes), source (0..128 bytes), sequence (integer
 * >= 0), published_at_us or published_at_ms (integer > 0). Optional: priority
 * ("critical"|"normal"), data (any JSON value). Unknown fields are allowed. */
int pulse_event_parse(const char *json, size_t len, pulse_event *out, pulse_error *err);

/* Writes an event as one JSON object into buf (no trailing newline). data_json is the
 * raw JSON text of the "data" member (NULL means {}); it is inserted as is and must be
 * valid JSON. Returns the length written (excluding the NUL), or PULSE_ENOSPC when cap
 * is too small, or PULSE_EINVAL for bad fields. */
int pulse_event_format(const pulse_event *ev, const char *data_json, char *buf, size_t cap);

/* "critical" / "normal" / NULL for UNSET. */
const char *pulse_priority_name(pulse_priority p);
/* Parses "critical"/"normal"; returns PULSE_PRIO_UNSET for anything else. */
pulse_priority pulse_priority_parse(const char *s, size_t len);
/* The built-in default priority of a channel, for events that carry no priority:
 * "events.critical" and every "alerts.*" channel are critical, everything else is
 * normal. The gateway's channel configuration starts from the same rule (its built-in
 * table, which a config file may override); the publisher and pulse-report use this
 * function. Never returns PULSE_PRIO_UNSET. */
pulse_priority pulse_priority_for_channel(const char *channel);

/* What pulse-subscribe needs from one delivery frame line. Borrowed pointers into the
 * scanned text; valid as long as that text is. Lengths are not NUL-terminated. */
typedef struct {
    const char *channel; size_t channel_len;
    const char *event_id; size_t event_id_len;
    const char *event_type; size_t event_type_len;
    uint64_t sequence;
    int64_t published_at_us;
    pulse_priority priority;
    uint64_t offset;                    /* the envelope's "offset", 0 when absent */
    const char *epoch; size_t epoch_len; /* the envelope's "epoch", "" when absent */
} pulse_delivery;

/* Scans one envelope {"channel":"...","data":{...event...}} (one line of a batched
 * frame; len bytes, not NUL-terminated), with "offset" and "epoch" when the event was
 * published with history. No allocation, single pass, tolerant of key
 * order and whitespace. Returns 0, or PULSE_EINVAL with err filled when the text is not
 * such an envelope (control frames like {"op":"pong"} return PULSE_ENOENT). */
int pulse_delivery_scan(const char *json, size_t len, pulse_delivery *out, pulse_error *err);

#endif
