/*
 * pulse_hist.c - latency histogram: log-linear (HDR-style) buckets with < 1% relative
 * error over the whole int64 range, plus an optional exact mode that keeps raw values.
 *
 * Bucket layout: values 0..255 get one bucket each; above that, every power of two
 * [2^e, 2^(e+1)) with e >= 8 is split into 128 equal sub-buckets of width 2^(e-7).
 * A bucket's width is at most 1/128 of its lower bound, and we answer with its
 * midpoint, so a bucket answer is within 1/256 of every value in that bucket.
 * 256 + 55 * 128 = 7296 buckets (57 KiB) cover every non-negative int64.
 *
 * Exact mode keeps the raw values (a growable array) while count <= exact_limit and
 * answers nearest-rank percentiles from them, sorted lazily on the first query. Past
 * the limit (or if memory runs out) the array is freed and the buckets answer.
 */
#include "pulse_hist.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "pulse_err.h"

#define SUB_BITS 7
#define SUB_COUNT (1 << SUB_BITS)     /* 128 linear sub-buckets per power of two */
#define LINEAR_LIMIT (2 * SUB_COUNT)  /* values below this have their own bucket */
#define TOP_EXP 62                    /* highest power of two of a non-negative int64 */
#define BUCKETS (LINEAR_LIMIT + (TOP_EXP - SUB_BITS) * SUB_COUNT)

struct pulse_hist {
    uint64_t count;
    int64_t min, max;
    unsigned __int128 sum; /* exact mean for any count of any int64 values */
    size_t exact_limit;
    int64_t *values;       /* raw values while exact; NULL otherwise */
    size_t nvalues, cap;
    bool exact;
    bool sorted;
    uint64_t buckets[BUCKETS];
};

static int floor_log2(uint64_t v)
{
    return 63 - __builtin_clzll(v);
}

static size_t bucket_index(int64_t value)
{
    uint64_t v = (uint64_t)value;
    int e, shift;
    if (v < LINEAR_LIMIT)
        return (size_t)v;
    e = floor_log2(v);           /* >= 8 */
    shift = e - SUB_BITS;
    return LINEAR_LIMIT + (size_t)(e - SUB_BITS - 1) * SUB_COUNT +
           (size_t)((v >> shift) - SUB_COUNT);
}

/* Lowest value and width of bucket i. */
static void bucket_range(size_t i, int64_t *low, int64_t *width)
{
    size_t k, e, sub;
    if (i < LINEAR_LIMIT) {
        *low = (int64_t)i;
        *width = 1;
        return;
    }
    k = i - LINEAR_LIMIT;
    e = k / SUB_COUNT + SUB_BITS + 1;
    sub = k % SUB_COUNT + SUB_COUNT;
    *low = (int64_t)((uint64_t)sub << (e - SUB_BITS));
    *width = (int64_t)1 << (e - SUB_BITS);
}

pulse_hist *pulse_hist_new(size_t exact_limit)
{
    pulse_hist *h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    h->exact_limit = exact_limit;
    h->exact = exact_limit > 0;
    h->sorted = true;
    return h;
}

void pulse_hist_free(pulse_hist *h)
{
    if (h == NULL)
        return;
    free(h->values);
    free(h);
}

static void drop_exact(pulse_hist *h)
{
    free(h->values);
    h->values = NULL;
    h->nvalues = h->cap = 0;
    h->exact = false;
}

/* Makes room for `more` values; false (and exact mode dropped) when it cannot. */
static bool reserve(pulse_hist *h, size_t more)
{
    size_t want = h->nvalues + more, ncap;
    int64_t *nv;
    if (want <= h->cap)
        return true;
    ncap = h->cap > 0 ? h->cap : 256;
    while (ncap < want)
        ncap *= 2;
    if (ncap > h->exact_limit)
        ncap = h->exact_limit;
    nv = realloc(h->values, ncap * sizeof *nv);
    if (nv == NULL) {
        drop_exact(h); /* the buckets still answer, within 1% */
        return false;
    }
    h->values = nv;
    h->cap = ncap;
    return true;
}

static void add_stats(pulse_hist *h, int64_t value)
{
    if (h->count == 0 || value < h->min)
        h->min = value;
    if (h->count == 0 || value > h->max)
        h->max = value;
    h->count++;
    h->sum += (uint64_t)value;
    h->buckets[bucket_index(value)]++;
}

void pulse_hist_record(pulse_hist *h, int64_t value)
{
    if (h == NULL)
        return;
    if (value < 0)
        value = 0;
    add_stats(h, value);
    if (!h->exact)
        return;
    if (h->count > h->exact_limit) {
        drop_exact(h);
        return;
    }
    if (!reserve(h, 1))
        return;
    h->values[h->nvalues++] = value;
    h->sorted = false;
}

int pulse_hist_merge(pulse_hist *dst, const pulse_hist *src)
{
    if (dst == NULL || src == NULL)
        return PULSE_EINVAL;
    if (src->count == 0)
        return 0;
    if (dst->exact) {
        if (!src->exact || dst->count + src->count > dst->exact_limit) {
            drop_exact(dst);
        } else if (reserve(dst, src->nvalues)) {
            memcpy(dst->values + dst->nvalues, src->values, src->nvalues * sizeof *src->values);
            dst->nvalues += src->nvalues;
            dst->sorted = false;
        }
    }
    if (dst->count == 0 || src->min < dst->min)
        dst->min = src->min;
    if (dst->count == 0 || src->max > dst->max)
        dst->max = src->max;
    dst->count += src->count;
    dst->sum += src->sum;
    for (size_t i = 0; i < BUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
    return 0;
}

uint64_t pulse_hist_count(const pulse_hist *h)
{
    return h != NULL ? h->count : 0;
}

int64_t pulse_hist_min(const pulse_hist *h)
{
    return h != NULL && h->count > 0 ? h->min : 0;
}

int64_t pulse_hist_max(const pulse_hist *h)
{
    return h != NULL && h->count > 0 ? h->max : 0;
}

double pulse_hist_mean(const pulse_hist *h)
{
    if (h == NULL || h->count == 0)
        return 0.0;
    return (double)(long double)(h->sum / h->count) +
           (double)(h->sum % h->count) / (double)h->count;
}

int pulse_hist_is_exact(const pulse_hist *h)
{
    return h != NULL && h->exact && h->nvalues == h->count;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* 1-based nearest rank of percentile q among n values. */
static uint64_t nearest_rank(double q, uint64_t n)
{
    double r;
    uint64_t rank;
    if (!(q > 0.0)) /* also catches NaN */
        return 1;
    if (q >= 100.0)
        return n;
    r = ceil(q * (double)n / 100.0);
    rank = r < 1.0 ? 1 : (uint64_t)r;
    return rank > n ? n : rank;
}

int64_t pulse_hist_percentile(const pulse_hist *h, double q)
{
    uint64_t rank, seen = 0;

    if (h == NULL || h->count == 0)
        return 0;
    rank = nearest_rank(q, h->count);
    if (rank == h->count)
        return h->max;
    if (rank == 1)
        return h->min;
    if (pulse_hist_is_exact(h)) {
        if (!h->sorted) {
            /* Sorting is a cache, not a change of value: the histogram is heap-allocated
             * and single-owner (see the header), so updating it here is safe. */
            pulse_hist *mut = (pulse_hist *)h;
            qsort(mut->values, mut->nvalues, sizeof *mut->values, cmp_i64);
            mut->sorted = true;
        }
        return h->values[rank - 1];
    }
    for (size_t i = 0; i < BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            int64_t low, width, v;
            bucket_range(i, &low, &width);
            v = low + (width - 1) / 2;
            if (v > h->max)
                v = h->max;
            if (v < h->min)
                v = h->min;
            return v;
        }
    }
    return h->max;
}
