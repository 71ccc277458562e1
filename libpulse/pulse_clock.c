/*
 * pulse_clock.c - wall-clock microseconds for timestamps that cross processes and
 * monotonic time for durations inside one. clock_gettime on Linux is a vDSO call, so
 * these are cheap enough for the per-delivery hot path.
 */
#include "pulse_clock.h"

#include <time.h>

int64_t pulse_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t pulse_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t pulse_mono_ms(void)
{
    return pulse_mono_ns() / 1000000;
}
