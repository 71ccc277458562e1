/*
 * pulse_hist.h - a latency histogram with bounded memory and ~1% relative error
 * (HDR-style: for each power of two, 128 linear sub-buckets), plus an exact mode.
 *
 * Values are non-negative integers (Pulse records microseconds). The histogram keeps
 * every raw value while fewer than `exact_limit` were recorded, so small runs get exact
 * percentiles (nearest-rank); past that it answers from the buckets, within 1%.
 * Not thread-safe: one owner, or merge per-thread histograms with pulse_hist_merge.
 */
#ifndef PULSE_HIST_H
#define PULSE_HIST_H

#include <stddef.h>
#include <stdint.h>

typedef struct pulse_hist pulse_hist;

/* exact_limit: how many raw values to keep for exact answers (0 = never exact).
 * Returns NULL on out-of-memory. Caller owns; free with pulse_hist_free. */
pulse_hist *pulse_hist_new(size_t exact_limit);
void pulse_hist_free(pulse_hist *h); /* NULL is fine */

void pulse_hist_record(pulse_hist *h, int64_t value); /* negative values count as 0 */
/* Adds every value of src into dst (exactness kept when both fit). 0 or PULSE_ENOMEM. */
int pulse_hist_merge(pulse_hist *dst, const pulse_hist *src);

uint64_t pulse_hist_count(const pulse_hist *h);
int64_t pulse_hist_min(const pulse_hist *h);   /* 0 when empty */
int64_t pulse_hist_max(const pulse_hist *h);   /* exact, always */
double pulse_hist_mean(const pulse_hist *h);   /* exact, always */
/* Nearest-rank percentile, q in [0,100]. Exact in exact mode, else within 1%.
 * 0 when empty. */
int64_t pulse_hist_percentile(const pulse_hist *h, double q);
/* 1 while the answers are exact. */
int pulse_hist_is_exact(const pulse_hist *h);

#endif
