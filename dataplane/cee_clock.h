/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

/**
 * @file
 * The engine clock: nanoseconds from the TSC, kept on the host's
 * CLOCK_MONOTONIC. A TSC read is a few cycles where clock_gettime() is tens
 * of nanoseconds, so the poll loops read the TSC; but the TSC frequency DPDK
 * reports may be off (measured and rounded to 10 MHz where the CPU does not
 * say it, as in most VMs: 2,593.9 MHz taken as 2,590 MHz runs the clock
 * 130 s a day fast), and events' ts_ns are promised to be CLOCK_MONOTONIC.
 * So once a second the line from TSC to ns is re-anchored where it is
 * (never a step back) with a slope that takes the TSC rate measured over
 * the whole run, slewed by at most CEE_CLOCK_SLEW (1 ms per second) towards
 * CLOCK_MONOTONIC; an error over CEE_CLOCK_STEP_NS ahead of the clock is
 * stepped forward at once (a clock may jump forward, never back).
 *
 * Pure: cee_clock_line_adjust() is the arithmetic, unit-tested with made-up
 * clocks (tests/unit/test_clock.c); the shard glue (cee_shard.c) publishes
 * the line to every thread under a sequence lock.
 */

#include <stdint.h>

#define CEE_CLOCK_SLEW 1e-3		/**< at most 1 ms of correction per second */
#define CEE_CLOCK_STEP_NS 50000000ull	/**< behind by more: a step forward */
#define CEE_CLOCK_PERIOD_NS 1000000000ull /**< re-anchored once a second */

/** ns = ns0 + (tsc - tsc0) * ns_per_tsc */
struct cee_clock_line {
	uint64_t tsc0, ns0;
	double ns_per_tsc;
};

static inline uint64_t cee_clock_line_ns(const struct cee_clock_line *l, uint64_t tsc)
{
	return l->ns0 + (uint64_t)((double)(tsc - l->tsc0) * l->ns_per_tsc);
}

/**
 * Re-anchor @p l at @p tsc, where CLOCK_MONOTONIC read @p mono; the run
 * began at (@p tsc_start, @p mono_start). @return the error corrected:
 * CLOCK_MONOTONIC minus the clock at @p tsc, before the adjustment (ns).
 */
int64_t cee_clock_line_adjust(struct cee_clock_line *l, uint64_t tsc_start, uint64_t mono_start,
			      uint64_t tsc, uint64_t mono);
