/* SPDX-License-Identifier: BSD-3-Clause */
// The engine clock's line from TSC to ns (dataplane/cee_clock.c), with
// made-up clocks: a TSC whose true rate differs from the one DPDK reports.
//
// Guards against (long-uptime review): ts_ns promised to be the host's
// CLOCK_MONOTONIC but computed from DPDK's TSC rate alone, which is
// measured and rounded to 10 MHz where the CPU does not give it (most VMs):
// 2,593.9 MHz taken as 2,590 MHz ran the clock 130 s a day fast, an hour a
// month; and a correction that would step the clock back.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "cee_clock.h"

#define SEC 1000000000ull

struct sim {
	double f_true; // the TSC's true rate, Hz
	uint64_t tsc_off; // TSC at mono 0
	struct cee_clock_line l;
	uint64_t tsc_start, mono_start, last, next_adjust;
	double max_err_ns; // after settling
};

static uint64_t tsc_at(const struct sim *s, uint64_t mono)
{
	return s->tsc_off + (uint64_t)((double)mono * s->f_true / 1e9);
}

static void sim_start(struct sim *s, double f_true, double f_nominal, uint64_t mono)
{
	*s = (struct sim){.f_true = f_true, .tsc_off = 123456789};
	s->tsc_start = tsc_at(s, mono);
	s->mono_start = mono;
	s->l = (struct cee_clock_line){
	    .tsc0 = s->tsc_start, .ns0 = mono, .ns_per_tsc = 1e9 / f_nominal};
	s->last = mono;
	s->next_adjust = mono + CEE_CLOCK_PERIOD_NS;
}

// Run the clock from now to @p until (mono ns), sampled every 10 ms, the
// line re-anchored every second; it never goes back. @return the largest
// |error| seen after @p settle.
static double sim_run(struct sim *s, uint64_t from, uint64_t until, uint64_t settle)
{
	double worst = 0;
	for (uint64_t m = from; m <= until; m += 10000000ull) {
		if (m >= s->next_adjust) {
			cee_clock_line_adjust(&s->l, s->tsc_start, s->mono_start, tsc_at(s, m), m);
			s->next_adjust = m + CEE_CLOCK_PERIOD_NS;
		}
		uint64_t c = cee_clock_line_ns(&s->l, tsc_at(s, m));
		assert_true(c >= s->last); // never back
		s->last = c;
		double e = (double)c - (double)m;
		if (e < 0)
			e = -e;
		if (m >= settle && e > worst)
			worst = e;
	}
	return worst;
}

// DPDK's rounded rate: without the line's correction the clock is 1.5 ms
// a second ahead; with it, within a few microseconds after 10 s, for a day.
static void test_rounded_tsc_rate(void **state)
{
	(void)state;
	struct sim s;
	uint64_t t0 = 5000 * SEC;
	sim_start(&s, 2593.9e6, 2590e6, t0);
	// (the uncorrected line's error after a day, for the record)
	double raw = (double)cee_clock_line_ns(&s.l, tsc_at(&s, t0 + 86400 * SEC)) -
		     (double)(t0 + 86400 * SEC);
	print_message("uncorrected: %.1f s a day ahead\n", raw / 1e9);
	assert_true(raw > 100e9);
	double worst = sim_run(&s, t0, t0 + 3600 * SEC, t0 + 10 * SEC);
	print_message("corrected: at most %.0f ns off after 10 s (an hour)\n", worst);
	assert_true(worst < 20000);
	worst = sim_run(&s, t0 + 3600 * SEC, t0 + 3700 * SEC, 0);
	assert_true(worst < 20000);
}

// The TSC ran on while CLOCK_MONOTONIC did not (a host suspended): the
// clock is ahead by 2 s. It must not step back: it slews, 1 ms a second at
// most, so it stays ahead and converges from above.
static void test_ahead_slews_never_back(void **state)
{
	(void)state;
	struct sim s;
	uint64_t t0 = 100 * SEC;
	sim_start(&s, 3000e6, 3000e6, t0);
	s.l.ns0 += 2 * SEC; // 2 s ahead
	s.last = s.l.ns0;
	(void)sim_run(&s, t0, t0 + 100 * SEC, t0);
	double e = (double)cee_clock_line_ns(&s.l, tsc_at(&s, t0 + 100 * SEC)) - (double)(t0 + 100 * SEC);
	print_message("ahead by 2 s: %.3f s after 100 s\n", e / 1e9);
	assert_true(e > 1.85e9 && e < 1.95e9); // 1 ms a second, no more
	(void)sim_run(&s, t0 + 100 * SEC, t0 + 2100 * SEC, t0);
	e = (double)cee_clock_line_ns(&s.l, tsc_at(&s, t0 + 2100 * SEC)) - (double)(t0 + 2100 * SEC);
	assert_true(e > -1e6 && e < 1e6);
}

// Behind by more than CEE_CLOCK_STEP_NS (the TSC stopped while the host's
// clock ran, a VM paused): one step forward at the next re-anchoring.
static void test_behind_steps_forward(void **state)
{
	(void)state;
	struct sim s;
	uint64_t t0 = 100 * SEC;
	sim_start(&s, 3000e6, 3000e6, t0);
	s.l.ns0 -= 3 * SEC;
	s.last = s.l.ns0;
	double worst = sim_run(&s, t0, t0 + 5 * SEC, t0 + 1 * SEC + 10000000ull);
	print_message("behind by 3 s: at most %.0f ns off after the first re-anchoring\n", worst);
	assert_true(worst < 1e6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rounded_tsc_rate),
	    cmocka_unit_test(test_ahead_slews_never_back),
	    cmocka_unit_test(test_behind_steps_forward),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
