/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cee_timer.h"

#define MS UINT64_C(1000000)
#define TICK MS
#define NSLOTS 64
#define REV (NSLOTS * TICK) // one revolution
#define T0 (1000 * MS)	    // wheel start: not 0, so that "past" exists
#define ALL UINT_MAX

// A timer owner: what fired, when, how often.
struct owner {
	struct cee_timer_node node;
	unsigned id;
	unsigned fires;
	uint64_t fired_at;
};

#define MAX_LOG 64

struct ctx {
	struct cee_timer_wheel *w;
	struct owner o[16];
	unsigned log[MAX_LOG]; // ids in firing order
	unsigned nlog;
	// Behaviour of on_fire for the owner with id == actor:
	unsigned actor;
	uint64_t rearm_delta; // re-arm itself at now + delta (when rearm)
	bool rearm;
	struct owner *cancel_other;
	struct owner *arm_other;
	uint64_t arm_other_at;
};

static struct owner *owner_of(struct cee_timer_node *n)
{
	return (struct owner *)(void *)((char *)n - offsetof(struct owner, node));
}

static void on_fire(void *arg, struct cee_timer_node *n, uint64_t now_ns)
{
	struct ctx *c = arg;
	struct owner *o = owner_of(n);

	assert_false(cee_timer_armed(n)); // disarmed before the call
	assert_true(now_ns >= n->at_ns);  // never early
	o->fires++;
	o->fired_at = now_ns;
	if (c->nlog < MAX_LOG)
		c->log[c->nlog++] = o->id;
	if (o->id != c->actor)
		return;
	if (c->rearm)
		cee_timer_arm(c->w, n, now_ns + c->rearm_delta);
	if (c->cancel_other != NULL)
		cee_timer_cancel(c->w, &c->cancel_other->node);
	if (c->arm_other != NULL)
		cee_timer_arm(c->w, &c->arm_other->node, c->arm_other_at);
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	c->w = cee_timer_wheel_create(TICK, NSLOTS, T0);
	assert_non_null(c->w);
	for (unsigned i = 0; i < 16; i++)
		c->o[i].id = i;
	c->actor = UINT_MAX;
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	cee_timer_wheel_destroy(c->w);
	free(c);
	return 0;
}

static unsigned expire(struct ctx *c, uint64_t now, unsigned budget)
{
	return cee_timer_expire(c->w, now, budget, on_fire, c);
}

// Fault: a node fires before its deadline (slot index rounded down, or the
// current tick counted as passed), or not at the first tick boundary after it.
static void test_fires_at_deadline_never_early(void **state)
{
	struct ctx *c = *state;

	cee_timer_arm(c->w, &c->o[0].node, T0 + 5 * MS);       // on a tick boundary
	cee_timer_arm(c->w, &c->o[1].node, T0 + 7 * MS + 300); // mid-tick: rounds up
	for (uint64_t now = T0; now < T0 + 5 * MS; now += MS / 4)
		assert_int_equal(expire(c, now, ALL), 0);
	assert_int_equal(expire(c, T0 + 5 * MS - 1, ALL), 0);
	assert_int_equal(expire(c, T0 + 5 * MS, ALL), 1);
	assert_int_equal(c->o[0].fires, 1);
	assert_int_equal(expire(c, T0 + 7 * MS + 299, ALL), 0);
	assert_int_equal(expire(c, T0 + 7 * MS + 300, ALL), 0); // same tick, not yet rounded up
	assert_int_equal(expire(c, T0 + 8 * MS - 1, ALL), 0);
	assert_int_equal(expire(c, T0 + 8 * MS, ALL), 1);
	assert_int_equal(c->o[1].fires, 1);
	assert_int_equal(expire(c, T0 + 100 * MS, ALL), 0); // fired once only
	assert_int_equal(c->o[0].fires + c->o[1].fires, 2);
}

// Fault: nodes due in several ticks, caught up in one call, fire out of
// deadline order (e.g. slot order from the wrong start, or LIFO across ticks).
static void test_fires_in_deadline_order(void **state)
{
	struct ctx *c = *state;
	const unsigned ms[] = {7, 3, 12, 1, 5, 9};

	for (unsigned i = 0; i < 6; i++)
		cee_timer_arm(c->w, &c->o[i].node, T0 + ms[i] * MS);
	assert_int_equal(expire(c, T0 + 20 * MS, ALL), 6);
	const unsigned want[] = {3, 1, 4, 0, 5, 2};
	assert_int_equal(c->nlog, 6);
	for (unsigned i = 0; i < 6; i++)
		assert_int_equal(c->log[i], want[i]);
}

// Fault: a cancelled node still fires, the count leaks, or cancelling an
// unarmed node corrupts the wheel.
static void test_cancel_prevents_firing(void **state)
{
	struct ctx *c = *state;

	cee_timer_cancel(c->w, &c->o[2].node); // never armed: harmless
	cee_timer_arm(c->w, &c->o[0].node, T0 + 3 * MS);
	cee_timer_arm(c->w, &c->o[1].node, T0 + 3 * MS);
	cee_timer_cancel(c->w, &c->o[0].node);
	assert_false(cee_timer_armed(&c->o[0].node));
	cee_timer_cancel(c->w, &c->o[0].node); // twice: harmless
	assert_int_equal(cee_timer_count(c->w), 1);
	assert_int_equal(expire(c, T0 + 10 * MS, ALL), 1);
	assert_int_equal(c->o[0].fires, 0);
	assert_int_equal(c->o[1].fires, 1);
	assert_int_equal(cee_timer_count(c->w), 0);
}

// Fault: re-arming an armed node leaves it in its old slot too (fires twice
// or at the old time) or counts it twice.
static void test_rearm_moves(void **state)
{
	struct ctx *c = *state;

	cee_timer_arm(c->w, &c->o[0].node, T0 + 5 * MS);
	cee_timer_arm(c->w, &c->o[0].node, T0 + 20 * MS); // later
	cee_timer_arm(c->w, &c->o[1].node, T0 + 30 * MS);
	cee_timer_arm(c->w, &c->o[1].node, T0 + 2 * MS); // earlier
	assert_int_equal(cee_timer_count(c->w), 2);
	assert_int_equal(expire(c, T0 + 19 * MS, ALL), 1);
	assert_int_equal(c->o[0].fires, 0);
	assert_int_equal(c->o[1].fires, 1);
	assert_int_equal(c->o[1].fired_at, T0 + 19 * MS);
	assert_int_equal(expire(c, T0 + 20 * MS, ALL), 1);
	assert_int_equal(c->o[0].fires, 1);
	assert_int_equal(expire(c, T0 + 40 * MS, ALL), 0);
}

// Fault: a deadline more than one revolution away fires when its slot is first
// visited (a revolution or more early) or is lost when skipped.
static void test_beyond_one_revolution(void **state)
{
	struct ctx *c = *state;
	uint64_t at = T0 + 3 * REV + 5 * MS;

	cee_timer_arm(c->w, &c->o[0].node, at);
	for (uint64_t now = T0; now < at; now += MS)
		assert_int_equal(expire(c, now, ALL), 0);
	assert_int_equal(expire(c, at, ALL), 1);
	assert_int_equal(c->o[0].fired_at, at);
}

// Fault: after a stall of many revolutions, nodes in slots the walk skips are
// lost or only fire a revolution later, or a far-future node fires early.
static void test_stall_catch_up(void **state)
{
	struct ctx *c = *state;

	for (unsigned i = 0; i < 8; i++)
		cee_timer_arm(c->w, &c->o[i].node, T0 + (i * 9 + 1) * MS);
	cee_timer_arm(c->w, &c->o[8].node, T0 + 100 * REV + 1);
	assert_int_equal(expire(c, T0 + 100 * REV, ALL), 8);
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(c->o[i].fires, 1);
	assert_int_equal(c->o[8].fires, 0);
	assert_int_equal(expire(c, T0 + 100 * REV + TICK - 1, ALL), 0);
	assert_int_equal(expire(c, T0 + 100 * REV + TICK, ALL), 1);

	// A jump of ~2^42 ticks: walking each tick would take hours.
	cee_timer_arm(c->w, &c->o[9].node, T0 + 200 * REV);
	cee_timer_arm(c->w, &c->o[10].node, UINT64_MAX);
	assert_int_equal(expire(c, UINT64_C(1) << 62, ALL), 1);
	assert_int_equal(c->o[9].fires, 1);
	assert_int_equal(cee_timer_count(c->w), 1);
}

// Fault: a deadline at or before the last expire's time waits for its slot to
// come round (a revolution late) instead of firing at the next expire.
static void test_past_deadline_fires_next_expire(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(expire(c, T0 + 10 * MS + 500, ALL), 0);
	cee_timer_arm(c->w, &c->o[0].node, T0 + 2 * MS);	// long past
	cee_timer_arm(c->w, &c->o[1].node, T0 + 10 * MS + 400); // past, current tick
	cee_timer_arm(c->w, &c->o[2].node, 0);
	assert_int_equal(expire(c, T0 + 10 * MS + 500, ALL), 3); // time unchanged
	assert_int_equal(cee_timer_count(c->w), 0);
}

// Fault: a budget-limited expire drops the nodes it did not get to, fires
// more than the budget, or fires a node twice when resuming.
static void test_budget_resumes_without_loss(void **state)
{
	struct ctx *c = *state;

	for (unsigned i = 0; i < 10; i++) // 10 in one tick, 6 in others
		cee_timer_arm(c->w, &c->o[i].node, T0 + 4 * MS);
	for (unsigned i = 10; i < 16; i++)
		cee_timer_arm(c->w, &c->o[i].node, T0 + (i - 8) * MS);
	unsigned total = 0, calls = 0, n;
	while ((n = expire(c, T0 + 20 * MS, 3)) > 0) {
		assert_true(n <= 3);
		total += n;
		calls++;
	}
	assert_int_equal(total, 16);
	assert_int_equal(calls, 6);
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(c->o[i].fires, 1);
	assert_int_equal(cee_timer_count(c->w), 0);
	assert_int_equal(expire(c, T0 + 20 * MS, 0), 0); // budget 0: no work
}

// Fault: a callback re-arming its own node loops forever inside one expire,
// is lost, or leaves the node linked twice.
static void test_fn_rearms_own_node(void **state)
{
	struct ctx *c = *state;

	c->actor = 0;
	c->rearm = true;
	c->rearm_delta = 10 * MS; // periodic, 10 ms
	cee_timer_arm(c->w, &c->o[0].node, T0 + 10 * MS);
	for (uint64_t now = T0; now <= T0 + 100 * MS; now += MS)
		expire(c, now, ALL);
	assert_int_equal(c->o[0].fires, 10);
	assert_true(cee_timer_armed(&c->o[0].node));
	assert_int_equal(cee_timer_count(c->w), 1);

	// Re-arming at now: due again, but fires once per expire, not forever.
	c->rearm_delta = 0;
	assert_int_equal(expire(c, T0 + 110 * MS, ALL), 1);
	assert_int_equal(expire(c, T0 + 110 * MS, ALL), 1);
	assert_int_equal(cee_timer_count(c->w), 1);
}

// Fault: a callback cancelling or arming another node due in the same tick
// upsets the iteration (use of a stale next pointer, cancelled node fires).
static void test_fn_cancels_and_arms_others(void **state)
{
	struct ctx *c = *state;

	c->actor = 0;
	c->cancel_other = &c->o[1];
	c->arm_other = &c->o[2];
	c->arm_other_at = T0 + 3 * MS; // same tick as the ones firing
	cee_timer_arm(c->w, &c->o[0].node, T0 + 3 * MS);
	cee_timer_arm(c->w, &c->o[1].node, T0 + 3 * MS);
	cee_timer_arm(c->w, &c->o[3].node, T0 + 3 * MS);
	assert_int_equal(expire(c, T0 + 3 * MS, ALL), 2); // 0 and 3
	assert_int_equal(c->o[1].fires, 0);
	assert_int_equal(c->o[3].fires, 1);
	assert_true(cee_timer_armed(&c->o[2].node));
	c->actor = UINT_MAX;
	assert_int_equal(expire(c, T0 + 3 * MS, ALL), 1); // the node armed in the past
	assert_int_equal(c->o[2].fires, 1);
	assert_int_equal(cee_timer_count(c->w), 0);
}

// Fault: the armed count drifts from the nodes actually armed.
static void test_armed_count(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(cee_timer_count(c->w), 0);
	for (unsigned i = 0; i < 16; i++) {
		cee_timer_arm(c->w, &c->o[i].node, T0 + (i + 1) * MS);
		assert_true(cee_timer_armed(&c->o[i].node));
	}
	cee_timer_arm(c->w, &c->o[0].node, T0 + 50 * MS); // re-arm: no change
	assert_int_equal(cee_timer_count(c->w), 16);
	cee_timer_cancel(c->w, &c->o[5].node);
	assert_int_equal(cee_timer_count(c->w), 15);
	assert_int_equal(expire(c, T0 + 8 * MS, ALL), 6); // ids 1-7 but 5
	assert_int_equal(cee_timer_count(c->w), 9);
}

// Fault: bad arguments accepted, or a non power-of-two slot count breaks slot
// indexing (wrong "beyond one revolution" arithmetic).
static void test_create_args(void **state)
{
	(void)state;
	errno = 0;
	assert_null(cee_timer_wheel_create(0, 64, 0));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(cee_timer_wheel_create(MS, 0, 0));
	assert_int_equal(errno, EINVAL);

	struct cee_timer_wheel *w = cee_timer_wheel_create(3 * MS / 2, 100, 0); // 128 slots
	assert_non_null(w);
	struct ctx c = {.w = w, .actor = UINT_MAX};
	struct owner o[3] = {{.id = 0}, {.id = 1}, {.id = 2}};
	const uint64_t at[3] = {100 * 3 * MS / 2, 300 * 3 * MS / 2 + 1, 1000 * MS};
	for (unsigned i = 0; i < 3; i++)
		cee_timer_arm(w, &o[i].node, at[i]);
	for (uint64_t now = 0; now < 2000 * MS; now += MS / 2) {
		cee_timer_expire(w, now, ALL, on_fire, &c);
		for (unsigned i = 0; i < 3; i++) {
			if (now < at[i])
				assert_int_equal(o[i].fires, 0);
			else if (now >= at[i] + 3 * MS / 2) // a tick boundary has passed
				assert_int_equal(o[i].fires, 1);
		}
	}
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(o[i].fires, 1);
	cee_timer_wheel_destroy(w);
}

// Fault: destroying a wheel leaves its nodes "armed" with dangling pointers,
// so owners that outlive it cancel into freed memory.
static void test_destroy_disarms(void **state)
{
	struct ctx *c = *state;

	cee_timer_arm(c->w, &c->o[0].node, T0 + 5 * MS);
	cee_timer_arm(c->w, &c->o[1].node, 0); // overdue list
	cee_timer_wheel_destroy(c->w);
	assert_false(cee_timer_armed(&c->o[0].node));
	assert_false(cee_timer_armed(&c->o[1].node));
	c->w = cee_timer_wheel_create(TICK, NSLOTS, T0);
	assert_non_null(c->w);
}

// Fault: a "never" deadline near UINT64_MAX overflows the tick rounding and
// fires at once.
static void test_far_deadline_no_overflow(void **state)
{
	struct ctx *c = *state;

	cee_timer_arm(c->w, &c->o[0].node, UINT64_MAX);
	cee_timer_arm(c->w, &c->o[1].node, UINT64_MAX - 1);
	assert_int_equal(expire(c, T0 + 10 * REV, ALL), 0);
	assert_int_equal(cee_timer_count(c->w), 2);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545f4914f6cdd1du;
}

#define NRAND 100000

struct rnd_owner {
	struct cee_timer_node node;
	unsigned fires;
	unsigned arm_call; // expire calls made before the last arm
};

struct rnd_ctx {
	bool check_late;
	unsigned calls;	     // expire calls so far, the current one included
	uint64_t prev_limit; // previous call: deadlines <= this were due
	unsigned fired;
};

static void on_fire_rnd(void *arg, struct cee_timer_node *n, uint64_t now_ns)
{
	struct rnd_ctx *rc = arg;
	struct rnd_owner *o = (struct rnd_owner *)(void *)n; // node is first
	assert_false(cee_timer_armed(n));
	assert_true(now_ns >= n->at_ns);
	// Not late: a node armed before the previous call and due by then
	// should have fired in it. (Armed in the past: fires in the next call.)
	if (rc->check_late && o->arm_call + 1 < rc->calls)
		assert_true(n->at_ns > rc->prev_limit);
	o->fires++;
	rc->fired++;
}

static unsigned expire_rnd(struct cee_timer_wheel *w, struct rnd_ctx *rc, uint64_t now,
			   unsigned budget, uint64_t *limit)
{
	rc->calls++;
	rc->prev_limit = *limit;
	*limit = now - now % TICK;
	return cee_timer_expire(w, now, budget, on_fire_rnd, rc);
}

static void arm_rnd(struct cee_timer_wheel *w, struct rnd_ctx *rc, struct rnd_owner *o, uint64_t at)
{
	o->arm_call = rc->calls;
	cee_timer_arm(w, &o->node, at);
}

// Fault: under load (many nodes per slot, several revolutions, time steps of
// every size, stalls, tight budgets, arms and cancels between expires) some
// node is lost, fires twice, fires early or fires a revolution late.
static void run_random(bool tight_budget)
{
	struct rnd_owner *o = calloc(NRAND, sizeof(*o));
	assert_non_null(o);
	struct cee_timer_wheel *w = cee_timer_wheel_create(TICK, 256, T0);
	assert_non_null(w);
	struct rnd_ctx rc = {.check_late = !tight_budget};
	uint64_t now = T0, horizon = 6 * 256 * TICK, limit = T0;
	unsigned armed = 0, cancelled = 0;

	for (unsigned i = 0; i < NRAND; i++) {
		if (i % 64 == 0) {
			// Time moves: mostly small steps, sometimes a stall.
			uint64_t r = rnd() % 100;
			if (r < 90)
				now += rnd() % (2 * TICK);
			else if (r < 99)
				now += rnd() % (50 * TICK);
			else
				now += 3 * 256 * TICK;
			unsigned budget = tight_budget ? 1 + (unsigned)(rnd() % 40) : ALL;
			unsigned before = rc.fired;
			unsigned n = expire_rnd(w, &rc, now, budget, &limit);
			assert_int_equal(n, rc.fired - before);
			assert_true(n <= budget);
		}
		uint64_t at = now + rnd() % horizon;
		if (rnd() % 20 == 0)
			at = now - rnd() % (now - T0 + 1); // in the past
		arm_rnd(w, &rc, &o[i], at);
		armed++;
		if (i > 0 && rnd() % 10 == 0) { // cancel or move a random earlier node
			unsigned j = (unsigned)(rnd() % i);
			if (rnd() % 2 && cee_timer_armed(&o[j].node)) {
				cee_timer_cancel(w, &o[j].node);
				o[j].fires = UINT_MAX / 2; // sentinel: must stay
				cancelled++;
			} else if (cee_timer_armed(&o[j].node)) {
				arm_rnd(w, &rc, &o[j], now + rnd() % horizon);
			}
		}
	}
	assert_int_equal(cee_timer_count(w), armed - cancelled - rc.fired);

	uint64_t end = now + horizon + 2 * TICK;
	for (; now <= end; now += TICK / 2) {
		unsigned budget = tight_budget ? 1 + (unsigned)(rnd() % 40) : ALL;
		expire_rnd(w, &rc, now, budget, &limit);
	}
	while (expire_rnd(w, &rc, now, ALL, &limit) > 0)
		;
	assert_int_equal(cee_timer_count(w), 0);
	for (unsigned i = 0; i < NRAND; i++) {
		assert_false(cee_timer_armed(&o[i].node));
		assert_true(o[i].fires == 1 || o[i].fires == UINT_MAX / 2);
	}
	assert_int_equal(rc.fired, armed - cancelled);
	cee_timer_wheel_destroy(w);
	free(o);
}

static struct owner *hinted[MAX_LOG];
static unsigned nhinted;

static void record_hint(const struct cee_timer_node *n)
{
	if (nhinted < MAX_LOG)
		hinted[nhinted++] = owner_of((struct cee_timer_node *)(uintptr_t)n);
}

// Fault: the prefetch hint handed something that is not a due node (the
// list head, a node not due, a node already fired): an owner that reads
// through it (to load what firing will touch) would read garbage. With
// three due nodes and one later, the hint names the 2nd while the 1st
// fires and the 3rd while the 2nd fires, and nothing else.
static void test_prefetch_hint_names_next_due(void **state)
{
	struct ctx *c = *state;
	cee_timer_wheel_set_prefetch(c->w, record_hint);
	nhinted = 0;
	cee_timer_arm(c->w, &c->o[1].node, T0 + 2 * TICK);
	cee_timer_arm(c->w, &c->o[2].node, T0 + 2 * TICK);
	cee_timer_arm(c->w, &c->o[3].node, T0 + 2 * TICK);
	cee_timer_arm(c->w, &c->o[4].node, T0 + 9 * TICK);
	assert_int_equal(expire(c, T0 + 3 * TICK, 100), 3);
	assert_int_equal(c->nlog, 3);
	assert_int_equal(nhinted, 2);
	for (unsigned i = 0; i < nhinted; i++) {
		assert_ptr_equal(hinted[i], &c->o[c->log[i + 1]]); // the one fired next
		assert_true(hinted[i]->id >= 1 && hinted[i]->id <= 3);
	}
	assert_int_equal(c->o[4].fires, 0);
}

static void test_random_100k(void **state)
{
	(void)state;
	run_random(false);
}

static void test_random_100k_tight_budget(void **state)
{
	(void)state;
	run_random(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_fires_at_deadline_never_early, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_prefetch_hint_names_next_due, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fires_in_deadline_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel_prevents_firing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rearm_moves, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_beyond_one_revolution, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stall_catch_up, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_past_deadline_fires_next_expire, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_budget_resumes_without_loss, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fn_rearms_own_node, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fn_cancels_and_arms_others, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_armed_count, setup, teardown),
	    cmocka_unit_test(test_create_args),
	    cmocka_unit_test_setup_teardown(test_destroy_disarms, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_far_deadline_no_overflow, setup, teardown),
	    cmocka_unit_test(test_random_100k),
	    cmocka_unit_test(test_random_100k_tight_budget),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
