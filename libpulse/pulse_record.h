/*
 * pulse_record.h - the line formats of the measuring tools' files.
 *
 * Delivery log (pulse-subscribe, one line per delivery, CSV, no header):
 *   client,node,channel,event_id,sequence,event_type,published_at_us,received_at_us,
 *   offset,recovered
 *   (offset: the event's position in its channel's history, 0 when it has none;
 *   recovered: 1 when the delivery came from a recovery replay after a resubscribe
 *   with `since`, else 0)
 * Manifest (pulse-publish --manifest, one line per event published, CSV, no header):
 *   event_id,sequence,channel,priority,published_at_us,offset
 *   (offset: what FCALL pulse_publish answered, 0 for a raw PUBLISH or a channel
 *   without history)
 * The readers also take the older lines without the trailing fields (8-field delivery
 * lines, 5-field manifest lines): offset 0, recovered 0.
 * Fields never contain commas: channel names and node ids are restricted to
 * [A-Za-z0-9._:@-], event ids are UUIDs, and event types are checked by the writer.
 */
#ifndef PULSE_RECORD_H
#define PULSE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "pulse_channel.h"
#include "pulse_err.h"
#include "pulse_event.h"

typedef struct {
    uint32_t client;
    char node[64];
    char channel[129];
    char event_id[37];
    uint64_t sequence;
    char event_type[65];
    int64_t published_at_us;
    int64_t received_at_us;
    uint64_t offset;     /* 0: none */
    int recovered;       /* 0 or 1 */
} pulse_delivery_rec;

typedef struct {
    char event_id[37];
    uint64_t sequence;
    char channel[129];
    pulse_priority priority;
    int64_t published_at_us;
    uint64_t offset;     /* 0: none */
} pulse_manifest_rec;

/* Format one line with its trailing '\n' into buf. Returns the length, or PULSE_ENOSPC
 * (buf too small) / PULSE_EINVAL (a field would break the format). */
int pulse_delivery_rec_format(const pulse_delivery_rec *r, char *buf, size_t cap);

/* The same line in two steps, for a writer that logs one event once per client
 * (pulse-subscribe, 1000 times an event in the benchmarks): the event's part
 * ("channel,event_id,sequence,event_type,published_at_us," and the offset) is checked
 * and formatted once, then each delivery adds the client, node, receive time and
 * recovered flag. The line is byte for byte pulse_delivery_rec_format's. */
typedef struct {
    size_t len, offset_len;
    char offset_text[24]; /* "offset," */
    char text[PULSE_CHANNEL_MAX + 36 + 64 + 2 * 21 + 8]; /* last: mostly unused */
} pulse_delivery_part;

/* Checks and formats the event's part (lengths as in pulse_delivery_rec: channel 1-128
 * bytes, event id 1-36, type 0-64; none with a comma, quote, control character or
 * NUL). 0, or PULSE_EINVAL. */
int pulse_delivery_part_make(pulse_delivery_part *p, const char *channel, size_t channel_len,
                             const char *event_id, size_t event_id_len, uint64_t sequence,
                             const char *event_type, size_t event_type_len,
                             int64_t published_at_us, uint64_t offset);
/* One whole line (with its '\n', NUL-terminated) into buf: the length, PULSE_ENOSPC
 * (buf too small: nothing usable written) or PULSE_EINVAL (node is not a field under 64
 * bytes, recovered is not 0 or 1). */
int pulse_delivery_line(const pulse_delivery_part *p, uint32_t client, const char *node,
                        int64_t received_at_us, int recovered, char *buf, size_t cap);

/* pulse_delivery_line in its pieces, for a writer that keeps them: "client,node," (once
 * per connection and node; PULSE_EINVAL as above) and "received_at_us," (once per read),
 * each NUL-terminated into buf, returning its length or PULSE_ENOSPC; then the join of a
 * prefix, a part and a stamp (the length, PULSE_ENOSPC or PULSE_EINVAL). Same text. */
int pulse_delivery_prefix(char *buf, size_t cap, uint32_t client, const char *node);
int pulse_delivery_stamp(char *buf, size_t cap, int64_t received_at_us);
int pulse_delivery_join(const char *prefix, size_t prefix_len, const pulse_delivery_part *p,
                        const char *stamp, size_t stamp_len, int recovered, char *buf, size_t cap);
int pulse_manifest_rec_format(const pulse_manifest_rec *r, char *buf, size_t cap);

/* Parse one line (len bytes, with or without the trailing '\n'). Returns 0, or
 * PULSE_EINVAL with err->text saying which field is wrong (the caller adds file and
 * line number). */
int pulse_delivery_rec_parse(const char *line, size_t len, pulse_delivery_rec *out, pulse_error *err);
int pulse_manifest_rec_parse(const char *line, size_t len, pulse_manifest_rec *out, pulse_error *err);

#endif
