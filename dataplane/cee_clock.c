/* SPDX-License-Identifier: BSD-3-Clause */
// The engine clock's line from TSC to ns (cee_clock.h).

#include "cee_clock.h"

int64_t cee_clock_line_adjust(struct cee_clock_line *l, uint64_t tsc_start, uint64_t mono_start,
			      uint64_t tsc, uint64_t mono)
{
	uint64_t now = cee_clock_line_ns(l, tsc);
	int64_t err = (int64_t)(mono - now);
	// the TSC's rate over the whole run: the longer, the closer
	double rate = l->ns_per_tsc;
	if (tsc > tsc_start && mono > mono_start)
		rate = (double)(mono - mono_start) / (double)(tsc - tsc_start);
	double k = (double)err / (double)CEE_CLOCK_PERIOD_NS;
	if (k > CEE_CLOCK_SLEW)
		k = CEE_CLOCK_SLEW;
	if (k < -CEE_CLOCK_SLEW)
		k = -CEE_CLOCK_SLEW;
	l->tsc0 = tsc;
	l->ns0 = err > (int64_t)CEE_CLOCK_STEP_NS ? mono : now; // forward only
	if (err > (int64_t)CEE_CLOCK_STEP_NS)
		k = 0;
	l->ns_per_tsc = rate * (1.0 + k);
	return err;
}
