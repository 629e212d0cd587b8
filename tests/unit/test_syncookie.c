/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for SYN cookies (cee_syncookie.c). Faults guarded against: a
 * cookie that loses the peer's options (window scale, SACK, MSS), one that
 * can be replayed for another tuple or ISN, one that never expires, and a
 * check that takes a cookie-shaped guess.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdbool.h>
#include <cmocka.h>

#include "cee_syncookie.h"

#define SEC 1000000000ull
#define T0 (1000 * SEC)

static const struct cee_siphash_key K = {.k0 = 0x0123456789abcdefull, .k1 = 0xfedcba9876543210ull};
static const struct cee_syncookie_tuple TU = {
    .local_ip = 0x0a4d0001, .remote_ip = 0x0a4d0002, .local_port = 5060, .remote_port = 40000};

/* Fault: the options of the SYN are lost or changed on the way through the cookie. */
static void test_roundtrip_options(void **state)
{
	(void)state;
	static const struct {
		uint16_t mss;
		uint8_t ws;
		bool sack;
		uint16_t want_mss;
	} c[] = {
	    {1460, 7, true, 1460}, {1400, 0, false, 1380}, {0, 0xff, false, 536},
	    {9000, 14, true, 1460}, {64, 3, true, 64},     {536, 15, false, 536},
	    {500, 7, true, 256}, /* a small link's: 64 before (no step between) */
	    {1452, 7, true, 1440},
	};
	for (unsigned i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct cee_syncookie_opts in = {.mss = c[i].mss, .wscale = c[i].ws, .sack_ok = c[i].sack};
		uint32_t isn = 0x11110000u + i;
		uint32_t ck = cee_syncookie_make(&K, &TU, isn, &in, T0);
		struct cee_syncookie_opts out;
		assert_true(cee_syncookie_check(&K, &TU, isn + 1, ck + 1, T0 + 1 * SEC, &out));
		assert_int_equal(out.mss, c[i].want_mss);
		assert_int_equal(out.wscale, c[i].ws == 0xff ? 0xff : (c[i].ws > 14 ? 14 : c[i].ws));
		assert_int_equal(out.sack_ok, c[i].sack);
	}
}

/* Fault: a cookie checks for another tuple, another ISN, with another key, or when forged. */
static void test_bound_to_tuple_isn_key(void **state)
{
	(void)state;
	struct cee_syncookie_opts o = {.mss = 1460, .wscale = 7, .sack_ok = true}, out;
	uint32_t isn = 0xdeadbeef;
	uint32_t ck = cee_syncookie_make(&K, &TU, isn, &o, T0);
	assert_true(cee_syncookie_check(&K, &TU, isn + 1, ck + 1, T0, &out));
	struct cee_syncookie_tuple t2 = TU;
	t2.remote_port++;
	assert_false(cee_syncookie_check(&K, &t2, isn + 1, ck + 1, T0, &out));
	t2 = TU;
	t2.remote_ip ^= 1;
	assert_false(cee_syncookie_check(&K, &t2, isn + 1, ck + 1, T0, &out));
	assert_false(cee_syncookie_check(&K, &TU, isn + 2, ck + 1, T0, &out));
	struct cee_siphash_key k2 = K;
	k2.k1 ^= 1;
	assert_false(cee_syncookie_check(&k2, &TU, isn + 1, ck + 1, T0, &out));
	/* any other bit of the cookie (options included) breaks the MAC */
	for (unsigned b = 0; b < 30; b++)
		assert_false(cee_syncookie_check(&K, &TU, isn + 1, (ck ^ (1u << b)) + 1, T0, &out));
	/* blind guesses: about 2^-22 each */
	unsigned hits = 0;
	for (uint32_t g = 0; g < 200000; g++)
		hits += cee_syncookie_check(&K, &TU, isn + 1, g * 2654435761u, T0, &out);
	assert_true(hits <= 2);
}

/* Fault: a cookie never expires (a captured one opens connections for ever). */
static void test_expiry(void **state)
{
	(void)state;
	struct cee_syncookie_opts o = {.mss = 1460, .wscale = 7, .sack_ok = true}, out;
	const uint64_t P = 1ull << 36; /* a period */
	uint64_t t0 = 40 * P + P / 2;
	uint32_t ck = cee_syncookie_make(&K, &TU, 5, &o, t0);
	assert_true(cee_syncookie_check(&K, &TU, 6, ck + 1, t0 + P / 4, &out));
	assert_true(cee_syncookie_check(&K, &TU, 6, ck + 1, t0 + P, &out));     /* next period */
	assert_false(cee_syncookie_check(&K, &TU, 6, ck + 1, t0 + 2 * P, &out)); /* two later */
	assert_false(cee_syncookie_check(&K, &TU, 6, ck + 1, t0 + 4 * P, &out)); /* same t mod 4 */
	assert_false(cee_syncookie_check(&K, &TU, 6, ck + 1, t0 - P, &out));     /* from the future */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip_options),
	    cmocka_unit_test(test_bound_to_tuple_isn_key),
	    cmocka_unit_test(test_expiry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
