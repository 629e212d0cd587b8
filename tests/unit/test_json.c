/* SPDX-License-Identifier: BSD-3-Clause */
// JSON Lines encoding: the control plane parses these lines, so the schema
// (field names, order, formatting) must be exactly what docs/ promises.
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cee_event.h"
#include "cee_sink.h"

static struct cee_event open_event(void)
{
	struct cee_event e;
	memset(&e, 0, sizeof(e));
	e.type = CEE_EVT_OPEN;
	e.conn = cee_id_make(2, 0x1234abcd);
	e.sseq = 17;
	e.cseq = 0;
	e.ts_ns = 1234567890123ull;
	e.proto = CEE_PROTO_TCP;
	e.local_ip = 0x0a000001;  // 10.0.0.1
	e.local_port = 5060;
	e.remote_ip = 0xc0a80102; // 192.168.1.2
	e.remote_port = 40000;
	return e;
}

// Guards against: a schema drift in the open event (field order, conn id
// formatting, byte order of addresses) that breaks consumers.
static void test_open_exact(void **state)
{
	struct cee_event e = open_event();
	char buf[1024];
	const char *want = "{\"v\":1,\"type\":\"open\",\"conn\":\"020000001234abcd\",\"shard\":2,"
			   "\"sseq\":17,\"cseq\":0,\"ts_ns\":1234567890123,\"proto\":\"tcp\","
			   "\"local\":\"10.0.0.1:5060\",\"remote\":\"192.168.1.2:40000\"}\n";
	int n = cee_evt_to_json(&e, buf, sizeof(buf));
	assert_int_equal(n, (int)strlen(want));
	assert_string_equal(buf, want);
}

// Guards against: the closed event missing its reason or counters (the
// control plane needs why and how much), or a wrong number formatting at the
// edges (0, 9/10, 99/100, UINT64_MAX).
static void test_closed_exact(void **state)
{
	struct cee_event e = open_event();
	e.type = CEE_EVT_CLOSED;
	e.cseq = 4;
	e.sseq = UINT64_MAX;
	e.ts_ns = 0;
	e.proto = CEE_PROTO_WSS;
	e.reason = CEE_REASON_PEER_FIN;
	e.bytes_in = 9;
	e.bytes_out = 100;
	e.duration_ns = 10000000000000000000ull;
	e.local_ip = 0xffffffff;
	e.local_port = 65535;
	e.remote_ip = 0;
	e.remote_port = 0;
	char buf[1024];
	const char *want =
		"{\"v\":1,\"type\":\"closed\",\"conn\":\"020000001234abcd\",\"shard\":2,"
		"\"sseq\":18446744073709551615,\"cseq\":4,\"ts_ns\":0,\"proto\":\"wss\","
		"\"local\":\"255.255.255.255:65535\",\"remote\":\"0.0.0.0:0\","
		"\"reason\":\"peer_fin\",\"bytes_in\":9,\"bytes_out\":100,"
		"\"duration_ns\":10000000000000000000}\n";
	int n = cee_evt_to_json(&e, buf, sizeof(buf));
	assert_int_equal(n, (int)strlen(want));
	assert_string_equal(buf, want);
}

// Guards against: integer formatting mistakes for every digit count.
static void test_numbers(void **state)
{
	struct cee_event e = open_event();
	char buf[1024], want[64];
	uint64_t v = 1;
	for (int digits = 1; digits <= 20; digits++) {
		uint64_t vals[] = {v, v - 1, v + 1, v * 7 / 3};
		for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
			e.ts_ns = vals[i];
			assert_true(cee_evt_to_json(&e, buf, sizeof(buf)) > 0);
			snprintf(want, sizeof(want), "\"ts_ns\":%llu,", (unsigned long long)vals[i]);
			assert_non_null(strstr(buf, want));
		}
		if (digits < 20)
			v *= 10;
	}
}

// Guards against: a buffer overflow when the caller's buffer is small; the
// encoder must refuse with -ENOSPC and write nothing past @p len.
static void test_enospc(void **state)
{
	struct cee_event e = open_event();
	char full[1024];
	int n = cee_evt_to_json(&e, full, sizeof(full));
	assert_true(n > 0);

	char small[1024];
	for (size_t len = 0; len <= (size_t)n; len++) {
		memset(small, 'X', sizeof(small));
		assert_int_equal(cee_evt_to_json(&e, small, len), -ENOSPC);
		for (size_t i = len; i < sizeof(small); i++)
			assert_int_equal(small[i], 'X');
	}
	// Exactly the line plus its NUL fits.
	assert_int_equal(cee_evt_to_json(&e, small, (size_t)n + 1), n);
	assert_string_equal(small, full);
}

// Guards against: a printed name that the parser does not map back to the
// same value (the audit and the control plane parse what we print).
static void test_names_round_trip(void **state)
{
	for (int t = 0; t < CEE_EVT__COUNT; t++) {
		const char *s = cee_evt_type_str((enum cee_evt_type)t);
		assert_string_not_equal(s, "?");
		assert_int_equal(cee_evt_type_parse(s), t);
	}
	for (int r = 0; r < CEE_REASON__COUNT; r++) {
		const char *s = cee_reason_str((enum cee_reason)r);
		assert_string_not_equal(s, "?");
		assert_int_equal(cee_reason_parse(s), r);
	}
	for (int p = 0; p < CEE_PROTO__COUNT; p++)
		assert_string_not_equal(cee_proto_str((enum cee_proto)p), "?");
	assert_int_equal(cee_evt_type_parse("nope"), -EINVAL);
	assert_int_equal(cee_reason_parse(""), -EINVAL);
	assert_string_equal(cee_evt_type_str(CEE_EVT__COUNT), "?");
}

// Guards against: every type and reason being encoded under its printed
// name, and reason/counters appearing only on closed.
static void test_every_type_and_reason_encoded(void **state)
{
	struct cee_event e = open_event();
	char buf[1024], want[64];
	for (int t = 0; t < CEE_EVT__COUNT; t++) {
		e.type = (uint8_t)t;
		for (int r = 0; r < CEE_REASON__COUNT; r++) {
			e.reason = (uint8_t)r;
			assert_true(cee_evt_to_json(&e, buf, sizeof(buf)) > 0);
			snprintf(want, sizeof(want), "\"type\":\"%s\",",
				 cee_evt_type_str((enum cee_evt_type)t));
			assert_non_null(strstr(buf, want));
			snprintf(want, sizeof(want), "\"reason\":\"%s\",",
				 cee_reason_str((enum cee_reason)r));
			if (t == CEE_EVT_CLOSED)
				assert_non_null(strstr(buf, want));
			else
				assert_null(strstr(buf, "\"reason\""));
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_exact),
		cmocka_unit_test(test_closed_exact),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_enospc),
		cmocka_unit_test(test_names_round_trip),
		cmocka_unit_test(test_every_type_and_reason_encoded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
