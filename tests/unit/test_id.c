/* SPDX-License-Identifier: BSD-3-Clause */
// Connection ids: the name of a connection must never be confused with
// another's (design fault 1, identity confusion).
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cee_id.h"

// Guards against: shard or serial bits bleeding into each other, so an id
// decodes to the wrong owner shard (a request would be sent to a shard that
// does not own the connection).
static void test_encode_decode(void **state)
{
	static const unsigned shards[] = {0, 1, 2, 127, 128, CEE_MAX_SHARDS - 1};
	static const uint64_t serials[] = {1, 2, 0xff, 0x100, 0xffffffffu, UINT64_C(1) << 40,
					   CEE_ID_SERIAL_MASK};

	for (size_t i = 0; i < sizeof(shards) / sizeof(shards[0]); i++) {
		for (size_t j = 0; j < sizeof(serials) / sizeof(serials[0]); j++) {
			cee_conn_id_t id = cee_id_make(shards[i], serials[j]);
			assert_int_equal(cee_id_shard(id), shards[i]);
			assert_int_equal(cee_id_serial(id), serials[j]);
			assert_true(id != 0);
		}
	}
}

// Guards against: a serial that outgrows its 56 bits corrupting the shard
// field (the id would name a connection on another shard).
static void test_serial_overflow_keeps_shard(void **state)
{
	cee_conn_id_t id = cee_id_make(7, (UINT64_C(1) << CEE_ID_SERIAL_BITS) | 5);
	assert_int_equal(cee_id_shard(id), 7);
	assert_int_equal(cee_id_serial(id), 5);
}

// Guards against: id 0 ("no connection") being issued to a real connection.
static void test_zero_is_none(void **state)
{
	for (unsigned s = 0; s < CEE_MAX_SHARDS; s++)
		assert_true(cee_id_make(s, 1) != 0);
	assert_true(cee_id_make(0, 0) == 0);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

// Guards against: two connections, on the same or different shards, ever
// receiving the same id (a late event of one would be applied to the other).
static void test_unique_across_allocations(void **state)
{
	enum { SHARDS = 16, PER_SHARD = 1 << 16 };
	uint64_t *ids = malloc(sizeof(*ids) * SHARDS * PER_SHARD);
	assert_non_null(ids);

	// Allocate as a pool would: per-shard serials counting up from 1.
	size_t n = 0;
	for (unsigned s = 0; s < SHARDS; s++)
		for (uint64_t serial = 1; serial <= PER_SHARD; serial++)
			ids[n++] = cee_id_make(s * 13 % CEE_MAX_SHARDS, serial);
	qsort(ids, n, sizeof(*ids), cmp_u64);
	for (size_t i = 1; i < n; i++)
		assert_true(ids[i] != ids[i - 1]);
	free(ids);
}

// Guards against: the slot of an id depending on the shard bits or straying
// outside the pool, and a reused slot giving the same id (stale ids must not
// match the slot's new occupant).
static void test_slot(void **state)
{
	const uint32_t caps[] = {1, 64, 1024, 1u << 20, 1u << 31};
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		uint32_t cap = caps[i];
		for (uint64_t serial = 1; serial < 5000; serial += 7) {
			cee_conn_id_t a = cee_id_make(3, serial);
			cee_conn_id_t b = cee_id_make(200, serial);
			assert_true(cee_id_slot(a, cap) < cap);
			assert_int_equal(cee_id_slot(a, cap), serial & (cap - 1));
			assert_int_equal(cee_id_slot(a, cap), cee_id_slot(b, cap));
			// The next occupant of the slot has a different id.
			cee_conn_id_t next = cee_id_make(3, serial + cap);
			assert_int_equal(cee_id_slot(next, cap), cee_id_slot(a, cap));
			assert_true(next != a);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_decode),
		cmocka_unit_test(test_serial_overflow_keeps_shard),
		cmocka_unit_test(test_zero_is_none),
		cmocka_unit_test(test_unique_across_allocations),
		cmocka_unit_test(test_slot),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
