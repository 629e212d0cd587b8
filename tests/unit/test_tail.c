/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cee-tail's question to the server before it gives a gap up
 * (deliveries_outstanding(): apps/cee-tail.c, included with main renamed,
 * its server replaced by the count a test sets). The ordering itself is
 * fuzzed (tests/fuzz/fuzz_nats.c); this is the decision: the cache between
 * questions, what this reader holds, the cap, a new episode, no answer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <cmocka.h>

int cee_tail_main(int argc, char **argv);
#define main cee_tail_main
#include "cee-tail.c"
#undef main

#define MS 1000000ull
#define SEC 1000000000ull
#define T0 (100 * SEC)
#define CAP (10 * SEC)

static int64_t server_pending; /* what the fake server answers */
static unsigned asked;

static int64_t fake_ask(void)
{
	asked++;
	return server_pending;
}

static int setup(void **state)
{
	(void)state;
	memset(&T, 0, sizeof(T));
	memset(&O, 0, sizeof(O));
	O.ask = fake_ask;
	O.cap_ns = CAP;
	server_pending = 0;
	asked = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(T.acks);
	T.acks = NULL;
	return 0;
}

/*
 * Fault (nats_sink phase 0c): a reader killed while it held batches left
 * them unacknowledged, and the next one gave them up as a gap. While the
 * server holds more deliveries unacknowledged than this reader, they are
 * still to come; what this reader holds (settled, not yet acknowledged)
 * does not count as outstanding.
 */
static void test_surplus_waits(void **state)
{
	(void)state;
	assert_false(deliveries_outstanding(T0)); /* nothing unacknowledged */
	assert_true(add_ack(NULL, true));
	assert_true(add_ack(NULL, true));
	server_pending = 2;
	assert_false(deliveries_outstanding(T0 + 600 * MS)); /* those two, here */
	server_pending = 3;
	assert_true(deliveries_outstanding(T0 + 1200 * MS)); /* one more, elsewhere */
}

/* Fault: a question to the server for every round of the fetch loop. */
static void test_cached_between_questions(void **state)
{
	(void)state;
	server_pending = 1;
	assert_true(deliveries_outstanding(T0));
	assert_int_equal(asked, 1);
	server_pending = 0;
	assert_true(deliveries_outstanding(T0 + OUT_ASK_MS * MS - 1)); /* the answer kept */
	assert_int_equal(asked, 1);
	assert_false(deliveries_outstanding(T0 + OUT_ASK_MS * MS)); /* asked again */
	assert_int_equal(asked, 2);
}

/*
 * Fault: a surplus that never goes (another reader on the same durable)
 * holds every gap for ever. After the cap, gaps are given up as before,
 * for as long as that surplus lasts; once it is gone, a new one gets its
 * own cap.
 */
static void test_cap(void **state)
{
	(void)state;
	server_pending = 5;
	uint64_t t = T0;
	assert_true(deliveries_outstanding(t));
	for (t += 600 * MS; t < T0 + CAP; t += 600 * MS)
		assert_true(deliveries_outstanding(t));
	assert_false(deliveries_outstanding(t)); /* capped */
	t += 600 * MS;
	assert_false(deliveries_outstanding(t)); /* and stays so */
	server_pending = 0;
	t += 600 * MS;
	assert_false(deliveries_outstanding(t));
	server_pending = 5;
	t += 600 * MS;
	assert_true(deliveries_outstanding(t)); /* a new surplus: waited for again */
}

/*
 * Fault (review): an episode that ended because nothing was due any more
 * (no question showed the surplus gone) left its start and cap behind,
 * and a later gap was given up at once.
 */
static void test_new_episode(void **state)
{
	(void)state;
	server_pending = 5;
	assert_true(deliveries_outstanding(T0));
	assert_true(deliveries_outstanding(T0 + 600 * MS));
	/* nothing due for an hour: not asked; then due, asked every 0.6 s */
	uint64_t t = T0 + 3600 * SEC, start = t;
	for (; t < start + CAP; t += 600 * MS)
		assert_true(deliveries_outstanding(t)); /* its own cap, not the old one's */
	assert_false(deliveries_outstanding(t));
}

/* Fault: a server that does not answer holds the gaps for ever. */
static void test_no_answer(void **state)
{
	(void)state;
	server_pending = -1;
	assert_false(deliveries_outstanding(T0));
	assert_false(deliveries_outstanding(T0 + SEC));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_surplus_waits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cached_between_questions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_new_episode, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_answer, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
