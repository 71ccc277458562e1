/*
 * pulse_clock.h - clocks. Wall time in microseconds for timestamps that cross processes
 * (published_at_us, received_at_us); monotonic nanoseconds for durations inside one.
 */
#ifndef PULSE_CLOCK_H
#define PULSE_CLOCK_H

#include <stdint.h>

int64_t pulse_now_us(void);   /* CLOCK_REALTIME, microseconds since the epoch */
int64_t pulse_mono_ns(void);  /* CLOCK_MONOTONIC, nanoseconds */
int64_t pulse_mono_ms(void);  /* CLOCK_MONOTONIC, milliseconds */

#endif
