/* SPDX-License-Identifier: BSD-3-Clause */
// The engine clock's line from TSC to ns (cee_clock.h).

#include <string.h>

#include "cee_clock.h"

void cee_clock_init(struct cee_clock *c, uint64_t tsc, uint64_t mono, double ns_per_tsc)
{
	memset(c, 0, sizeof(*c));
	c->line = (struct cee_clock_line){.tsc0 = tsc, .ns0 = mono, .ns_per_tsc = ns_per_tsc};
	c->rate = ns_per_tsc;
	c->tsc_prev = tsc;
	c->mono_prev = mono;
}

int64_t cee_clock_adjust(struct cee_clock *c, uint64_t tsc, uint64_t mono)
{
	struct cee_clock_line *l = &c->line;
	uint64_t now = cee_clock_line_ns(l, tsc);
	int64_t err = (int64_t)(mono - now);
	// The TSC's rate over the last period, when both clocks ran through
	// it alike; a window more than CEE_CLOCK_JUMP off the rate held is a
	// jump of one clock (a VM paused, a host suspended), not its rate:
	// the rate stays, and the error it left is stepped or slewed away.
	// Two windows in a row that agree with each other are the rate, however
	// far from the one held (a VM moved to a host of another TSC rate).
	if (tsc > c->tsc_prev && mono > c->mono_prev) {
		double w = (double)(mono - c->mono_prev) / (double)(tsc - c->tsc_prev);
		double dev = w / c->rate - 1.0, agree = c->last_w > 0 ? w / c->last_w - 1.0 : 1.0;
		if ((dev < CEE_CLOCK_JUMP && dev > -CEE_CLOCK_JUMP) ||
		    (agree < CEE_CLOCK_JUMP / 20 && agree > -CEE_CLOCK_JUMP / 20))
			c->rate = w;
		else
			c->jumps++;
		c->last_w = w;
	}
	c->tsc_prev = tsc;
	c->mono_prev = mono;
	double k = (double)err / (double)CEE_CLOCK_PERIOD_NS;
	if (k > CEE_CLOCK_SLEW)
		k = CEE_CLOCK_SLEW;
	if (k < -CEE_CLOCK_SLEW)
		k = -CEE_CLOCK_SLEW;
	l->tsc0 = tsc;
	l->ns0 = now;
	if (err > (int64_t)CEE_CLOCK_STEP_NS) { // behind: forward at once
		l->ns0 = mono;
		k = 0;
	}
	l->ns_per_tsc = c->rate * (1.0 + k);
	return err;
}
