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
 * the last second (a second in which one clock jumped, a VM paused or a
 * host suspended, is left out: CEE_CLOCK_JUMP), slewed by at most
 * CEE_CLOCK_SLEW (1 ms per second) towards CLOCK_MONOTONIC; an error over
 * CEE_CLOCK_STEP_NS ahead of the clock is stepped forward at once (a clock
 * may jump forward, never back).
 *
 * Pure: cee_clock_adjust() is the arithmetic, unit-tested with made-up
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

/** The line, and what re-anchoring it needs. */
struct cee_clock {
	struct cee_clock_line line;
	double rate;			/**< ns per TSC tick, measured over the last period */
	uint64_t tsc_prev, mono_prev;	/**< the last re-anchoring's readings */
	uint64_t jumps;			/**< periods left out of the rate: one clock jumped */
	double last_w;			/**< the last period's own rate (0: none yet) */
};

/** A window's rate this far off the rate held is a jump, not the rate. */
#define CEE_CLOCK_JUMP 0.02

static inline uint64_t cee_clock_line_ns(const struct cee_clock_line *l, uint64_t tsc)
{
	// (signed: a TSC read just before a re-anchoring is a little before ns0)
	int64_t d = (int64_t)((double)(int64_t)(tsc - l->tsc0) * l->ns_per_tsc);
	return l->ns0 + (uint64_t)d;
}

/** The clock at @p tsc, CLOCK_MONOTONIC @p mono, with DPDK's rate. */
void cee_clock_init(struct cee_clock *c, uint64_t tsc, uint64_t mono, double ns_per_tsc);

/**
 * Re-anchor the line at @p tsc, where CLOCK_MONOTONIC read @p mono.
 * @return the error corrected: CLOCK_MONOTONIC minus the clock at @p tsc,
 * before the adjustment (ns).
 */
int64_t cee_clock_adjust(struct cee_clock *c, uint64_t tsc, uint64_t mono);
