/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for per-source limits (cee_srclimit.c). Faults guarded
 * against: a source over its connection or SYN-rate limit let through; a
 * source locked out after its connections went or its rate recovered; a
 * flood of random sources filling the table and locking out real clients;
 * SYNs spoofed with a client's address locking it out.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdbool.h>
#include <cmocka.h>

#include "cee_srclimit.h"

#define MS 1000000ull
#define T0 (1000000 * MS)

static const struct cee_siphash_key K = {.k0 = 7, .k1 = 11};

static void test_max_conns(void **state)
{
	(void)state;
	struct cee_srclimit *t = cee_srclimit_create(1024, 3, 0, &K);
	assert_non_null(t);
	const uint32_t a = 0xc0000201, b = 0xc0000202;
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(cee_srclimit_conn_add(t, a, T0, false), CEE_SRCLIMIT_OK);
		cee_srclimit_conn_proven(t, a);
	}
	assert_true(cee_srclimit_proven_full(t, a));
	assert_int_equal(cee_srclimit_conn_add(t, a, T0, false), CEE_SRCLIMIT_REFUSED);
	assert_int_equal(cee_srclimit_conn_add(t, a, T0, true), CEE_SRCLIMIT_REFUSED);
	assert_int_equal(cee_srclimit_conn_add(t, b, T0, false), CEE_SRCLIMIT_OK); /* others unaffected */
	assert_false(cee_srclimit_proven_full(t, b));
	assert_int_equal(cee_srclimit_live(t, a), 3);
	cee_srclimit_conn_del(t, a, true);
	assert_false(cee_srclimit_proven_full(t, a));
	assert_int_equal(cee_srclimit_conn_add(t, a, T0, false), CEE_SRCLIMIT_OK);
	/* 2 proven + 1 half open fill it: a SYN gets a cookie, a cookie ACK is admitted */
	assert_int_equal(cee_srclimit_conn_add(t, a, T0, false), CEE_SRCLIMIT_COOKIE);
	assert_int_equal(cee_srclimit_conn_add(t, a, T0, true), CEE_SRCLIMIT_OK);
	assert_int_equal(cee_srclimit_live(t, a), 4);
	cee_srclimit_conn_proven(t, a);
	assert_true(cee_srclimit_proven_full(t, a)); /* the other half-open one is refused at its ACK */
	assert_int_equal(cee_srclimit_proven(t, a), 3);
	cee_srclimit_conn_del(t, a, false);
	assert_int_equal(cee_srclimit_live(t, a), 3);
	for (unsigned i = 0; i < 5; i++) { /* more deletes than adds never go below 0 */
		cee_srclimit_conn_del(t, a, true);
		cee_srclimit_conn_del(t, a, false);
	}
	assert_int_equal(cee_srclimit_live(t, a), 0);
	cee_srclimit_destroy(t);
}

/*
 * SYNs spoofed with a real client's address (never completed) must not lock
 * it out: unproven connections filling the limit turn its SYNs into cookie
 * answers, and its cookie ACKs are admitted up to the limit of proven ones.
 * (Before: every SYN of the client got an RST until the spoofed half-open
 * ones timed out.)
 */
static void test_spoofed_half_open_no_lockout(void **state)
{
	(void)state;
	struct cee_srclimit *t = cee_srclimit_create(1024, 2, 0, &K);
	const uint32_t victim = 0x0a000009;
	for (unsigned i = 0; i < 2; i++) /* the attacker's SYNs take the half-open share */
		assert_int_equal(cee_srclimit_conn_add(t, victim, T0, false), CEE_SRCLIMIT_OK);
	for (unsigned i = 0; i < 1000; i++)
		assert_int_equal(cee_srclimit_conn_add(t, victim, T0, false), CEE_SRCLIMIT_COOKIE);
	assert_int_equal(cee_srclimit_live(t, victim), 2);
	/* the victim's own handshakes, through cookies */
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(cee_srclimit_conn_add(t, victim, T0, true), CEE_SRCLIMIT_OK);
		cee_srclimit_conn_proven(t, victim);
	}
	assert_int_equal(cee_srclimit_proven(t, victim), 2);
	/* and the limit holds for proven ones */
	assert_int_equal(cee_srclimit_conn_add(t, victim, T0, true), CEE_SRCLIMIT_REFUSED);
	assert_int_equal(cee_srclimit_conn_add(t, victim, T0, false), CEE_SRCLIMIT_REFUSED);
	cee_srclimit_destroy(t);
}

/*
 * Fault (review of session 32): the shard made its table for 65536 sources
 * whatever its slots. A shard of 262,144 slots holding 140,000 live sources
 * (real clients, or spoofed half-open ones) filled every probe chain, and
 * each new source went untracked: an abuser arriving then was limited by
 * neither --max-conns-per-ip nor --syn-rate-per-ip. Sized for the shard's
 * slots (cee_srclimit_sources_for), the table has room for every source
 * its connections can come from.
 */
static void test_sized_for_the_shard(void **state)
{
	(void)state;
	const uint32_t slots = 262144, live = 140000;
	assert_true(cee_srclimit_sources_for(slots) >= slots);
	assert_int_equal(cee_srclimit_sources_for(1000), 65536);
	struct cee_srclimit *t = cee_srclimit_create(cee_srclimit_sources_for(slots), 3, 0, &K);
	assert_non_null(t);
	uint32_t untracked = 0;
	for (uint32_t i = 0; i < live; i++)
		untracked += cee_srclimit_conn_add(t, 0x0b000000 + i, T0, false) ==
			     CEE_SRCLIMIT_UNTRACKED;
	assert_int_equal(untracked, 0);
	const uint32_t abuser = 0x0a000001;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(cee_srclimit_conn_add(t, abuser, T0, true), CEE_SRCLIMIT_OK);
		cee_srclimit_conn_proven(t, abuser);
	}
	assert_int_equal(cee_srclimit_conn_add(t, abuser, T0, true), CEE_SRCLIMIT_REFUSED);
	cee_srclimit_destroy(t);
}

static void test_syn_rate(void **state)
{
	(void)state;
	struct cee_srclimit *t = cee_srclimit_create(1024, 0, 10, &K);
	const uint32_t a = 0xc0000201;
	for (unsigned i = 0; i < 10; i++) /* a second's worth at once */
		assert_int_equal(cee_srclimit_rate_take(t, a, T0), CEE_SRCLIMIT_OK);
	assert_int_equal(cee_srclimit_rate_take(t, a, T0), CEE_SRCLIMIT_REFUSED);
	assert_int_equal(cee_srclimit_rate_take(t, a, T0 + 50 * MS), CEE_SRCLIMIT_REFUSED);
	assert_int_equal(cee_srclimit_rate_take(t, a, T0 + 100 * MS), CEE_SRCLIMIT_OK); /* one more */
	assert_int_equal(cee_srclimit_rate_take(t, a, T0 + 100 * MS), CEE_SRCLIMIT_REFUSED);
	/* a steady 10/s passes for ever, 20/s only half */
	unsigned ok = 0;
	for (unsigned i = 0; i < 200; i++)
		ok += cee_srclimit_rate_take(t, a, T0 + 2000 * MS + i * 50 * MS) == CEE_SRCLIMIT_OK;
	assert_true(ok >= 100 && ok <= 112);
	/*
	 * Session 18 (an attacker's review): the rate is taken by completed
	 * handshakes only; a SYN only looks (a cookie when over it). SYNs
	 * spoofed with a client's address took its tokens, and its own SYNs
	 * got RSTs: an off-path attacker at 11 SYNs a second locked it out.
	 */
	const uint32_t v = 0xc0000202;
	assert_true(cee_srclimit_rate_on(t));
	for (unsigned i = 0; i < 1000; i++) /* spoofed SYNs look, and take nothing */
		assert_int_equal(cee_srclimit_rate_peek(t, v, T0 + i * MS), CEE_SRCLIMIT_OK);
	for (unsigned i = 0; i < 10; i++) /* the client's own handshakes: its whole rate */
		assert_int_equal(cee_srclimit_rate_take(t, v, T0 + 1000 * MS), CEE_SRCLIMIT_OK);
	assert_int_equal(cee_srclimit_rate_peek(t, v, T0 + 1000 * MS), CEE_SRCLIMIT_REFUSED);
	assert_int_equal(cee_srclimit_rate_take(t, v, T0 + 1000 * MS), CEE_SRCLIMIT_REFUSED);
	assert_int_equal(cee_srclimit_rate_peek(t, v, T0 + 1100 * MS), CEE_SRCLIMIT_OK);
	cee_srclimit_destroy(t);
	t = cee_srclimit_create(1024, 0, 0, &K);
	assert_false(cee_srclimit_rate_on(t));
	cee_srclimit_destroy(t);
}

/* A flood of one-SYN spoofed sources must neither be refused nor lock out a real client. */
static void test_random_sources(void **state)
{
	(void)state;
	struct cee_srclimit *t = cee_srclimit_create(256, 2, 5, &K);
	const uint32_t real = 0x0a000005;
	assert_int_equal(cee_srclimit_conn_add(t, real, T0, false), CEE_SRCLIMIT_OK);
	cee_srclimit_conn_proven(t, real);
	unsigned untracked = 0;
	uint64_t x = 12345;
	for (unsigned i = 0; i < 100000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		enum cee_srclimit_verdict v = cee_srclimit_rate_take(t, (uint32_t)x | 1, T0 + i * MS / 100);
		assert_int_not_equal(v, CEE_SRCLIMIT_REFUSED);
		untracked += v == CEE_SRCLIMIT_UNTRACKED;
	}
	/* the real client's entry (a live connection) was never reused */
	assert_int_equal(cee_srclimit_live(t, real), 1);
	assert_int_equal(cee_srclimit_conn_add(t, real, T0 + 2000 * MS, false), CEE_SRCLIMIT_OK);
	cee_srclimit_conn_proven(t, real);
	assert_int_equal(cee_srclimit_conn_add(t, real, T0 + 2000 * MS, false), CEE_SRCLIMIT_REFUSED);
	/* stale entries are reused: a second later, new sources are tracked again */
	assert_int_equal(cee_srclimit_rate_take(t, 0x0b000001, T0 + 5000 * MS), CEE_SRCLIMIT_OK);
	assert_true(untracked > 0); /* the table did fill: those went unlimited, not refused */
	cee_srclimit_destroy(t);
}

/*
 * Guards against (long-uptime review): slots that never became empty again.
 * After a flood of spoofed sources every slot stayed taken (reused only by
 * a source that hashed there), so each lookup of an unknown source walked
 * all CEE_SRCLIMIT_PROBES slots from then on. The sweep empties stale
 * entries by backward shift: live sources (among them ones pushed down
 * their chains) are still found, with their counts, and the table holds
 * only them.
 */
static void test_sweep(void **state)
{
	(void)state;
	struct cee_srclimit *t = cee_srclimit_create(128, 4, 0, &K); /* 256 slots */
	uint32_t live[60], gone[140];
	for (unsigned i = 0; i < 200; i++) /* all live at once: 200 slots */
		assert_int_equal(cee_srclimit_conn_add(t, 0x0a000000u + i * 7919u + 1, T0, false),
				 CEE_SRCLIMIT_OK);
	for (unsigned i = 0; i < 200; i++) {
		uint32_t ip = 0x0a000000u + i * 7919u + 1;
		if (i % 10 < 3) { /* 60 keep their connection, a third of them proven */
			live[i / 10 * 3 + i % 10] = ip;
			if (i % 10 == 0)
				cee_srclimit_conn_proven(t, ip);
		} else { /* 140 go */
			gone[i / 10 * 7 + i % 10 - 3] = ip;
			cee_srclimit_conn_del(t, ip, false);
		}
	}
	assert_int_equal(cee_srclimit_used(t), 200);
	/* a budget at a time, as the shard does, past the whole table twice */
	uint32_t freed = 0;
	for (unsigned k = 0; k < 8; k++)
		freed += cee_srclimit_sweep(t, T0 + MS, 64);
	assert_int_equal(freed, 140);
	assert_int_equal(cee_srclimit_used(t), 60);
	for (unsigned i = 0; i < 60; i++) {
		assert_int_equal(cee_srclimit_live(t, live[i]), 1);
		assert_int_equal(cee_srclimit_proven(t, live[i]), i % 3 == 0);
	}
	for (unsigned i = 0; i < 140; i++)
		assert_int_equal(cee_srclimit_live(t, gone[i]), 0);
	/* and the live ones are still counted: 4 each, then a cookie */
	for (unsigned k = 0; k < 3; k++)
		assert_int_equal(cee_srclimit_conn_add(t, live[1], T0 + MS, false), CEE_SRCLIMIT_OK);
	assert_int_equal(cee_srclimit_conn_add(t, live[1], T0 + MS, false), CEE_SRCLIMIT_COOKIE);
	cee_srclimit_destroy(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_max_conns),
	    cmocka_unit_test(test_spoofed_half_open_no_lockout),
	    cmocka_unit_test(test_syn_rate),
	    cmocka_unit_test(test_random_sources),
	    cmocka_unit_test(test_sweep),
	    cmocka_unit_test(test_sized_for_the_shard),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
