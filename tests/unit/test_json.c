/* SPDX-License-Identifier: BSD-3-Clause */
// JSON Lines encoding: the control plane parses these lines, so the schema
// (field names, order, formatting) must be exactly what docs/ promises.
// Also the extension-record builder (schema 2) whose records it prints.
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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
// formatting, byte order of addresses, its direction) that breaks consumers.
static void test_open_exact(void **state)
{
	struct cee_event e = open_event();
	char buf[1024];
	const char *want = "{\"v\":3,\"type\":\"open\",\"conn\":\"020000001234abcd\",\"shard\":2,"
			   "\"sseq\":17,\"cseq\":0,\"ts_ns\":1234567890123,\"proto\":\"tcp\","
			   "\"dir\":\"in\",\"local\":\"10.0.0.1:5060\",\"remote\":\"192.168.1.2:40000\"}\n";
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
		"{\"v\":3,\"type\":\"closed\",\"conn\":\"020000001234abcd\",\"shard\":2,"
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

// Guards against: the run of an engine given its id (--engine-id) missing
// from its lines, or printed out of place: such an engine keeps its id
// across restarts while connection ids and sseq start again, so a consumer
// keys a connection by engine, run and id. Also the longest line (longest
// engine and run ids, every number at 20 digits) fits where the encoder
// writes straight into the caller's buffer (CEE_EVT_JSON_MAX: ASan sees a
// write past it), and a run without an engine, or too long, is refused.
static void test_engine_and_run(void **state)
{
	struct cee_event e = open_event();
	char buf[1024];
	assert_int_equal(cee_evt_json_set_engine("sbc-1", "r0123456789ab"), 0);
	const char *want = "{\"v\":3,\"engine\":\"sbc-1\",\"run\":\"r0123456789ab\",\"type\":\"open\","
			   "\"conn\":\"020000001234abcd\",\"shard\":2,"
			   "\"sseq\":17,\"cseq\":0,\"ts_ns\":1234567890123,\"proto\":\"tcp\","
			   "\"dir\":\"in\",\"local\":\"10.0.0.1:5060\",\"remote\":\"192.168.1.2:40000\"}\n";
	assert_int_equal(cee_evt_to_json(&e, buf, sizeof(buf)), (int)strlen(want));
	assert_string_equal(buf, want);
	assert_string_equal(cee_evt_json_run(), "r0123456789ab");

	// without a run: the engine alone, as an engine with a random id writes
	assert_int_equal(cee_evt_json_set_engine("sbc-1", NULL), 0);
	assert_true(cee_evt_to_json(&e, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "{\"v\":3,\"engine\":\"sbc-1\",\"type\":\"open\","));
	assert_string_equal(cee_evt_json_run(), "");

	assert_int_equal(cee_evt_json_set_engine(NULL, "r0123456789ab"), -EINVAL);
	assert_int_equal(cee_evt_json_set_engine("sbc-1", "r0123456789abcdef"), -EINVAL); // 17
	assert_int_equal(cee_evt_json_set_engine("sbc-1", "r.1"), -EINVAL);

	// the longest line of every type
	char id[CEE_ENGINE_ID_MAX + 1], run[CEE_RUN_ID_MAX + 1];
	memset(id, 'e', CEE_ENGINE_ID_MAX);
	id[CEE_ENGINE_ID_MAX] = '\0';
	memset(run, 'r', CEE_RUN_ID_MAX);
	run[CEE_RUN_ID_MAX] = '\0';
	assert_int_equal(cee_evt_json_set_engine(id, run), 0);
	e.sseq = e.ts_ns = e.bytes_in = e.bytes_out = e.duration_ns = UINT64_MAX;
	e.conn = UINT64_MAX;
	e.cseq = 255;
	e.local_ip = e.remote_ip = 0xffffffff;
	e.local_port = e.remote_port = 65535;
	int longest = 0;
	for (int t = 0; t < CEE_EVT__COUNT; t++) {
		e.type = (uint8_t)t;
		for (int r = 0; r < CEE_REASON__COUNT; r++) {
			e.reason = (uint8_t)r;
			e.proto = CEE_PROTO_WSS | CEE_PROTO_F_OUT;
			char *exact = malloc(CEE_EVT_JSON_MAX);
			assert_non_null(exact);
			int n = cee_evt_to_json(&e, exact, CEE_EVT_JSON_MAX);
			assert_true(n > 0);
			assert_int_equal(cee_evt_to_json(&e, buf, (size_t)n + 1), n);
			assert_string_equal(exact, buf);
			free(exact);
			if (n > longest)
				longest = n;
		}
	}
	assert_true(longest > 400 && longest < CEE_EVT_JSON_MAX);
	assert_int_equal(cee_evt_json_set_engine(NULL, NULL), 0);
	e = open_event();
	assert_true(cee_evt_to_json(&e, buf, sizeof(buf)) > 0);
	assert_null(strstr(buf, "engine"));
	assert_null(strstr(buf, "\"run\""));
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
// name, and reason appearing only on closed and link_down (counters only on
// closed).
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
			snprintf(want, sizeof(want), "\"reason\":\"%s\"",
				 cee_reason_str((enum cee_reason)r));
			if (t == CEE_EVT_CLOSED || t == CEE_EVT_LINK_DOWN)
				assert_non_null(strstr(buf, want));
			else
				assert_null(strstr(buf, "\"reason\""));
			if (t == CEE_EVT_CLOSED)
				assert_non_null(strstr(buf, "\"bytes_in\":"));
			else
				assert_null(strstr(buf, "\"bytes_in\""));
		}
	}
}

// Guards against (review of session 33): a reason number this writer does
// not know (cee-tail converting a newer engine's binary batches) written
// "reason":"?", which cee-audit refuses as malformed (exit 2), where
// docs/events.md (Versioning) has readers take a newer reason as an unknown
// cause. It is "reason_N", a name as the others are ([a-z][a-z0-9_]*).
static void test_unknown_reason_has_a_name(void **state)
{
	struct cee_event e = open_event();
	char buf[1024];
	e.type = CEE_EVT_CLOSED;
	for (unsigned r = CEE_REASON__COUNT; r <= UINT8_MAX; r++) {
		char want[64];
		e.reason = (uint8_t)r;
		assert_true(cee_evt_to_json(&e, buf, sizeof(buf)) > 0);
		snprintf(want, sizeof(want), "\"reason\":\"reason_%u\",", r);
		assert_non_null(strstr(buf, want));
	}
	e.type = CEE_EVT_LINK_DOWN;
	e.reason = CEE_REASON__COUNT;
	assert_true(cee_evt_to_json(&e, buf, sizeof(buf)) > 0);
	assert_null(strstr(buf, "\"?\""));
}

// Guards against: the direction bit leaking into `proto` (an outbound TLS
// connection printed as an unknown protocol "?") or a wrong or missing
// "dir" on open (schema 3: consumers tell links' connections from
// accepted ones by it); dir only on open.
static void test_dir_in_out_on_open(void **state)
{
	struct cee_event e = open_event();
	char buf[1024];

	for (int p = 0; p < CEE_PROTO__COUNT; p++) {
		char want[64];
		snprintf(want, sizeof(want), "\"proto\":\"%s\",\"dir\":\"out\",\"local\":",
			 cee_proto_str((enum cee_proto)p));
		e.type = CEE_EVT_OPEN;
		e.proto = (uint8_t)(p | CEE_PROTO_F_OUT);
		assert_int_equal(cee_event_proto(&e), p);
		assert_true(cee_event_out(&e));
		assert_true(cee_evt_to_json(&e, buf, sizeof(buf)) > 0);
		assert_non_null(strstr(buf, want));

		e.proto = (uint8_t)p;
		assert_false(cee_event_out(&e));
		snprintf(want, sizeof(want), "\"proto\":\"%s\",\"dir\":\"in\",\"local\":",
			 cee_proto_str((enum cee_proto)p));
		assert_true(cee_evt_to_json(&e, buf, sizeof(buf)) > 0);
		assert_non_null(strstr(buf, want));

		// Other events: the proto without the bit, no dir.
		e.type = CEE_EVT_ESTABLISHED;
		e.proto = (uint8_t)(p | CEE_PROTO_F_OUT);
		snprintf(want, sizeof(want), "\"proto\":\"%s\",\"local\":",
			 cee_proto_str((enum cee_proto)p));
		assert_true(cee_evt_to_json(&e, buf, sizeof(buf)) > 0);
		assert_non_null(strstr(buf, want));
		assert_null(strstr(buf, "\"dir\""));
	}

	// The same through the ext path (a link's open carries its name).
	struct cee_ext_builder b;
	const struct cee_event_ext *ptr[1];
	e.type = CEE_EVT_OPEN;
	e.proto = CEE_PROTO_TLS | CEE_PROTO_F_OUT;
	cee_ext_begin(&b, e.conn, CEE_EVT_OPEN);
	cee_ext_put_str(&b, CEE_EXT_LINK, "sbc-1");
	assert_int_equal(cee_ext_end(&b), 1);
	b.rec[0].ext.sseq = e.sseq - 1;
	ptr[0] = &b.rec[0].ext;
	char big[CEE_EVT_JSON_EXT_MAX];
	assert_true(cee_evt_to_json_ext(&e, ptr, 1, big, sizeof(big)) > 0);
	assert_non_null(strstr(big, "\"proto\":\"tls\",\"dir\":\"out\",\"local\":"));
	assert_non_null(strstr(big, ",\"link\":\"sbc-1\",\"xseq\":16}\n"));
}

// Guards against: a schema drift in link_up and link_down (schema 3): the
// type names, link_down's close reason (and no counters: those are on
// closed), and the link's name, attempt and next_attempt_ms keys.
static void test_link_events_exact(void **state)
{
	struct cee_event e = open_event();
	struct cee_ext_builder b;
	const struct cee_event_ext *ptr[CEE_EVT_EXT_MAX];
	char buf[CEE_EVT_JSON_EXT_MAX];

	e.type = CEE_EVT_LINK_UP;
	e.cseq = 2;
	e.sseq = 30;
	e.proto = CEE_PROTO_TCP | CEE_PROTO_F_OUT;
	cee_ext_begin(&b, e.conn, CEE_EVT_LINK_UP);
	cee_ext_put_str(&b, CEE_EXT_LINK, "sbc-1");
	cee_ext_put_u32(&b, CEE_EXT_ATTEMPT, 1);
	assert_int_equal(cee_ext_end(&b), 1);
	b.rec[0].ext.sseq = 29;
	ptr[0] = &b.rec[0].ext;
	const char *up = "{\"v\":3,\"type\":\"link_up\",\"conn\":\"020000001234abcd\",\"shard\":2,"
			 "\"sseq\":30,\"cseq\":2,\"ts_ns\":1234567890123,\"proto\":\"tcp\","
			 "\"local\":\"10.0.0.1:5060\",\"remote\":\"192.168.1.2:40000\","
			 "\"link\":\"sbc-1\",\"attempt\":1,\"xseq\":29}\n";
	assert_int_equal(cee_evt_to_json_ext(&e, ptr, 1, buf, sizeof(buf)), (int)strlen(up));
	assert_string_equal(buf, up);

	e.type = CEE_EVT_LINK_DOWN;
	e.cseq = 4;
	e.sseq = 40;
	e.reason = CEE_REASON_KEEPALIVE_TIMEOUT;
	e.bytes_in = 5; // not printed: link_down has no counters
	cee_ext_begin(&b, e.conn, CEE_EVT_LINK_DOWN);
	cee_ext_put_str(&b, CEE_EXT_LINK, "sbc-1");
	cee_ext_put_u32(&b, CEE_EXT_ATTEMPT, 1);
	cee_ext_put_u32(&b, CEE_EXT_NEXT_ATTEMPT_MS, 150);
	assert_int_equal(cee_ext_end(&b), 1);
	b.rec[0].ext.sseq = 39;
	const char *down =
		"{\"v\":3,\"type\":\"link_down\",\"conn\":\"020000001234abcd\",\"shard\":2,"
		"\"sseq\":40,\"cseq\":4,\"ts_ns\":1234567890123,\"proto\":\"tcp\","
		"\"local\":\"10.0.0.1:5060\",\"remote\":\"192.168.1.2:40000\","
		"\"reason\":\"keepalive_timeout\",\"link\":\"sbc-1\",\"attempt\":1,"
		"\"next_attempt_ms\":150,\"xseq\":39}\n";
	assert_int_equal(cee_evt_to_json_ext(&e, ptr, 1, buf, sizeof(buf)), (int)strlen(down));
	assert_string_equal(buf, down);

	// Without extension records: the plain path prints them the same way.
	assert_true(cee_evt_to_json(&e, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "\"type\":\"link_down\","));
	assert_non_null(strstr(buf, "\"reason\":\"keepalive_timeout\"}\n"));
}

// Guards against: U32 values (schema 3) printed from the wrong bytes (byte
// order, sign, only the low 16 bits) at the edges, or a value too short for
// its kind read past its end instead of skipped.
static void test_ext_json_u32_values(void **state)
{
	static const uint32_t vals[] = {0, 1, 255, 256, 65535, 65536, 16777216,
					2147483648u, UINT32_MAX};
	struct cee_event e = open_event();
	struct cee_ext_builder b;
	const struct cee_event_ext *ptr[CEE_EVT_EXT_MAX];
	char buf[CEE_EVT_JSON_EXT_MAX], want[64];

	e.type = CEE_EVT_LINK_DOWN;
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		cee_ext_begin(&b, e.conn, CEE_EVT_LINK_DOWN);
		cee_ext_put_u32(&b, CEE_EXT_NEXT_ATTEMPT_MS, vals[i]);
		assert_int_equal(cee_ext_end(&b), 1);
		static const uint8_t tlv[2] = {CEE_EXT_NEXT_ATTEMPT_MS, 4};
		assert_memory_equal(b.rec[0].ext.data, tlv, 2);
		assert_int_equal(b.rec[0].ext.data[2], vals[i] & 0xff); // little-endian
		assert_int_equal(b.rec[0].ext.data[5], vals[i] >> 24);
		b.rec[0].ext.sseq = e.sseq - 1;
		ptr[0] = &b.rec[0].ext;
		assert_true(cee_evt_to_json_ext(&e, ptr, 1, buf, sizeof(buf)) > 0);
		snprintf(want, sizeof(want), ",\"next_attempt_ms\":%lu,\"xseq\":16}\n",
			 (unsigned long)vals[i]);
		assert_non_null(strstr(buf, want));
	}

	// A 3-byte value for a U32 key: skipped, and the next key still printed.
	union cee_record rec;
	memset(&rec, 0, sizeof(rec));
	rec.ext.type = CEE_EVT_EXT;
	rec.ext.sseq = 16;
	static const uint8_t d[] = {CEE_EXT_ATTEMPT, 3, 1, 2, 3, CEE_EXT_LINK, 1, 'L'};
	memcpy(rec.ext.data, d, sizeof(d));
	ptr[0] = &rec.ext;
	assert_true(cee_evt_to_json_ext(&e, ptr, 1, buf, sizeof(buf)) > 0);
	assert_null(strstr(buf, "attempt"));
	assert_non_null(strstr(buf, ",\"link\":\"L\",\"xseq\":16}\n"));
}

/* ---- extension records: builder ---- */

// All TLVs of key @p key in @p n records, concatenated (what readers do).
static size_t collect(const struct cee_ext_builder *b, unsigned n, enum cee_ext_key key,
		      uint8_t *out)
{
	size_t len = 0;
	for (unsigned r = 0; r < n; r++) {
		const uint8_t *d = b->rec[r].ext.data;
		unsigned off = 0;
		while (off + 2 <= CEE_EVT_EXT_DATA && d[off] != 0) {
			assert_true(off + 2 + d[off + 1] <= CEE_EVT_EXT_DATA);
			if (d[off] == key) {
				memcpy(out + len, d + off + 2, d[off + 1]);
				len += d[off + 1];
			}
			off += 2 + d[off + 1];
		}
	}
	return len;
}

static bool has_key(const struct cee_ext_builder *b, unsigned n, enum cee_ext_key key)
{
	for (unsigned r = 0; r < n; r++) {
		const uint8_t *d = b->rec[r].ext.data;
		for (unsigned off = 0; off + 2 <= CEE_EVT_EXT_DATA && d[off] != 0;
		     off += 2 + d[off + 1])
			if (d[off] == key)
				return true;
	}
	return false;
}

// Guards against: a record layout that differs from struct cee_event where
// they must agree (type, sseq, conn), so a reader would take an extension
// record for an event, or the reverse.
static void test_ext_layout(void **state)
{
	assert_int_equal(sizeof(struct cee_event_ext), 64);
	assert_int_equal(offsetof(struct cee_event_ext, type), offsetof(struct cee_event, type));
	assert_int_equal(offsetof(struct cee_event_ext, type), 60);
	assert_int_equal(offsetof(struct cee_event_ext, data), 16);
	assert_int_equal(offsetof(struct cee_event_ext, of), 61);
	assert_int_equal(offsetof(struct cee_event_ext, part), 62);
	assert_int_equal(offsetof(struct cee_event_ext, parts), 63);
	assert_true(CEE_EVT_EXT >= CEE_EVT__COUNT);

	union cee_record r;
	memset(&r, 0, sizeof(r));
	r.ev.type = CEE_EVT_OPEN;
	assert_null(cee_event_as_ext(&r.ev));
	r.ext.type = CEE_EVT_EXT;
	r.ext.of = CEE_EVT_TLS_UP;
	assert_ptr_equal(cee_event_as_ext(&r.ev), &r.ext);
	assert_int_equal(cee_event_as_ext(&r.ev)->of, CEE_EVT_TLS_UP);
}

// Guards against: values packed wrongly (key, length, little-endian
// version), the group header not filled in, or an empty string taking room.
static void test_builder_packs(void **state)
{
	struct cee_ext_builder b;
	cee_conn_id_t c = cee_id_make(4, 77);
	cee_ext_begin(&b, c, CEE_EVT_TLS_UP);
	cee_ext_put_u16(&b, CEE_EXT_TLS_VERSION, 0x0304);
	cee_ext_put_str(&b, CEE_EXT_CIPHER, "AES");
	cee_ext_put_str(&b, CEE_EXT_ALPN, ""); // skipped
	cee_ext_put_str(&b, CEE_EXT_ALPN, NULL); // skipped
	cee_ext_put_u8(&b, CEE_EXT_RESUMED, 1);
	assert_int_equal(cee_ext_end(&b), 1);

	const struct cee_event_ext *x = &b.rec[0].ext;
	static const uint8_t want[] = {CEE_EXT_TLS_VERSION, 2, 0x04, 0x03, CEE_EXT_CIPHER, 3,
				       'A', 'E', 'S', CEE_EXT_RESUMED, 1, 1, 0};
	assert_memory_equal(x->data, want, sizeof(want));
	for (size_t i = sizeof(want); i < CEE_EVT_EXT_DATA; i++)
		assert_int_equal(x->data[i], 0);
	assert_int_equal(x->type, CEE_EVT_EXT);
	assert_int_equal(x->of, CEE_EVT_TLS_UP);
	assert_int_equal(x->conn, c);
	assert_int_equal(x->part, 0);
	assert_int_equal(x->parts, 1);
	assert_false(b.truncated);
	assert_non_null(cee_event_as_ext(&b.rec[0].ev));

	// Nothing put: no records at all.
	cee_ext_begin(&b, c, CEE_EVT_CLOSED);
	cee_ext_put_str(&b, CEE_EXT_SNI, "");
	cee_ext_put(&b, CEE_EXT_SNI, "x", 0);
	cee_ext_put(&b, CEE_EXT__END, "x", 1);   // not a key
	cee_ext_put(&b, CEE_EXT__COUNT, "x", 1); // not a key
	assert_int_equal(cee_ext_end(&b), 0);
}

// Guards against: a value longer than one record being lost or garbled
// instead of continuing in the next record under the same key, and the
// group header (part/parts) being wrong on the later records.
static void test_builder_splits_long_value(void **state)
{
	struct cee_ext_builder b;
	char subject[101];
	for (int i = 0; i < 100; i++)
		subject[i] = (char)('a' + i % 26);
	subject[100] = '\0';
	cee_ext_begin(&b, cee_id_make(1, 5), CEE_EVT_TLS_UP);
	cee_ext_put_str(&b, CEE_EXT_SNI, "sip.example.com");
	cee_ext_put_str(&b, CEE_EXT_PEER_SUBJECT, subject);
	cee_ext_put_u8(&b, CEE_EXT_RESUMED, 0);
	unsigned n = cee_ext_end(&b);
	assert_int_equal(n, 3);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(b.rec[i].ext.part, i);
		assert_int_equal(b.rec[i].ext.parts, n);
		assert_int_equal(b.rec[i].ext.of, CEE_EVT_TLS_UP);
		assert_int_equal(b.rec[i].ext.conn, cee_id_make(1, 5));
	}
	uint8_t got[256];
	assert_int_equal(collect(&b, n, CEE_EXT_PEER_SUBJECT, got), 100);
	assert_memory_equal(got, subject, 100);
	assert_int_equal(collect(&b, n, CEE_EXT_SNI, got), 15);
	assert_int_equal(collect(&b, n, CEE_EXT_RESUMED, got), 1);
	assert_false(b.truncated);
	assert_false(has_key(&b, n, CEE_EXT_EXT_TRUNCATED));

	// A short fixed-size value is not split: it starts the next record.
	cee_ext_begin(&b, cee_id_make(1, 6), CEE_EVT_TLS_UP);
	char fill[41];
	memset(fill, 'f', 40); // 2 + 40 = 42 of 44 bytes
	fill[40] = '\0';
	cee_ext_put_str(&b, CEE_EXT_CIPHER, fill);
	cee_ext_put_u16(&b, CEE_EXT_TLS_VERSION, 0x0303);
	assert_int_equal(cee_ext_end(&b), 2);
	assert_int_equal(b.rec[1].ext.data[0], CEE_EXT_TLS_VERSION);
	assert_int_equal(b.rec[1].ext.data[1], 2);
}

// Guards against: a value too long for CEE_EVT_EXT_MAX records overflowing
// the group, or being cut silently (the cut must be flagged with
// EXT_TRUNCATED, and the flag must always find room).
static void test_builder_truncates_at_limit(void **state)
{
	struct cee_ext_builder b;
	uint8_t val[400], got[400];
	for (size_t i = 0; i < sizeof(val); i++)
		val[i] = (uint8_t)(i * 7 + 1);

	// One value alone: 42 bytes in each of the first three records, 39 in
	// the last one (which keeps 3 bytes for the flag): 165 fit exactly.
	const uint32_t fits = 3 * (CEE_EVT_EXT_DATA - 2) + (CEE_EVT_EXT_DATA - 3 - 2);
	assert_int_equal(fits, 165);
	cee_ext_begin(&b, cee_id_make(2, 9), CEE_EVT_CLOSED);
	cee_ext_put(&b, CEE_EXT_PEER_SUBJECT, val, fits);
	assert_int_equal(cee_ext_end(&b), CEE_EVT_EXT_MAX);
	assert_false(b.truncated);
	assert_false(has_key(&b, CEE_EVT_EXT_MAX, CEE_EXT_EXT_TRUNCATED));
	assert_int_equal(collect(&b, CEE_EVT_EXT_MAX, CEE_EXT_PEER_SUBJECT, got), fits);
	assert_memory_equal(got, val, fits);

	// One byte more: cut, and flagged.
	cee_ext_begin(&b, cee_id_make(2, 9), CEE_EVT_CLOSED);
	cee_ext_put(&b, CEE_EXT_PEER_SUBJECT, val, fits + 1);
	assert_int_equal(cee_ext_end(&b), CEE_EVT_EXT_MAX);
	assert_true(b.truncated);
	assert_int_equal(collect(&b, CEE_EVT_EXT_MAX, CEE_EXT_PEER_SUBJECT, got), fits);
	assert_memory_equal(got, val, fits);
	assert_int_equal(collect(&b, CEE_EVT_EXT_MAX, CEE_EXT_EXT_TRUNCATED, got), 1);
	assert_int_equal(got[0], 1);

	// Far too much, then more values: never more than the limit, the flag is
	// there once, and the group header is still right.
	cee_ext_begin(&b, cee_id_make(2, 10), CEE_EVT_CLOSED);
	cee_ext_put(&b, CEE_EXT_PEER_SUBJECT, val, sizeof(val));
	cee_ext_put_str(&b, CEE_EXT_SNI, "late.example.com");
	cee_ext_put_u8(&b, CEE_EXT_ALERT, 48);
	assert_int_equal(cee_ext_end(&b), CEE_EVT_EXT_MAX);
	assert_true(b.truncated);
	assert_int_equal(collect(&b, CEE_EVT_EXT_MAX, CEE_EXT_EXT_TRUNCATED, got), 1);
	for (unsigned i = 0; i < CEE_EVT_EXT_MAX; i++) {
		assert_int_equal(b.rec[i].ext.part, i);
		assert_int_equal(b.rec[i].ext.parts, CEE_EVT_EXT_MAX);
	}
}

// Guards against: cee_ext_room() promising room a put then cuts (a
// "whole or absent" value cut after all) or refusing room a put has, after
// every first value from 0 to 200 bytes and a short second one.
static void test_builder_room_exact(void **state)
{
	uint8_t v[256], got[256];
	memset(v, 'v', sizeof(v));
	for (unsigned first = 0; first <= 200; first++) {
		for (unsigned second = 0; second <= 5; second++) {
			struct cee_ext_builder b;
			cee_ext_begin(&b, cee_id_make(0, 1), CEE_EVT_TLS_UP);
			cee_ext_put(&b, CEE_EXT_SNI, v, first);
			cee_ext_put(&b, CEE_EXT_ALPN, v, second);
			bool cut = b.truncated;
			uint32_t room = cee_ext_room(&b);
			struct cee_ext_builder fits = b, over = b;
			cee_ext_put(&fits, CEE_EXT_PEER_SUBJECT, v, room);
			assert_int_equal(fits.truncated, cut);
			unsigned n = cee_ext_end(&fits);
			assert_int_equal(collect(&fits, n, CEE_EXT_PEER_SUBJECT, got), room);
			if (room < sizeof(v)) {
				cee_ext_put(&over, CEE_EXT_PEER_SUBJECT, v, room + 1);
				assert_true(over.truncated);
				// refused whole: nothing of it, the flag set
				struct cee_ext_builder whole = b;
				assert_false(cee_ext_put_whole(&whole, CEE_EXT_PEER_SUBJECT, v,
							       room + 1));
				assert_true(whole.truncated);
				n = cee_ext_end(&whole);
				assert_int_equal(collect(&whole, n, CEE_EXT_PEER_SUBJECT, got), 0);
				assert_true(has_key(&whole, n, CEE_EXT_EXT_TRUNCATED));
			}
		}
	}
}

// A value of @p key in the group of @p b as a string ("" when absent).
static const char *ext_str(struct cee_ext_builder *b, enum cee_ext_key key, char *out)
{
	unsigned n = b->n; // (cee_ext_end() already ran)
	size_t len = collect(b, n, key, (uint8_t *)out);
	out[len] = '\0';
	return out;
}

// @p got is @p line whole, or @p line cut before one of its attributes (a
// '/' not escaped) and ended "/...".
static bool subject_whole_or_cut_by_attribute(const char *got, const char *line)
{
	size_t g = strlen(got);
	if (strcmp(got, line) == 0)
		return true;
	if (g < 4 || strcmp(got + g - 4, "/...") != 0)
		return false;
	size_t cut = g - 4;
	if (cut == 0 || strncmp(got, line, cut) != 0 || line[cut] != '/')
		return false;
	size_t bs = 0; // backslashes right before: an odd count escapes the '/'
	while (bs < cut && line[cut - 1 - bs] == '\\')
		bs++;
	return bs % 2 == 0;
}

// Guards against (review of session 33): the client's SNI (up to 255 bytes,
// 165 in the group) choosing where the peer's subject was cut, "/CN=admin"
// of a certificate whose CN is "adminEVIL", or pushing the subject out of
// tls_up altogether; and a cut SNI read as another server name. For every
// SNI length: the subject whole (or, when longer than the group, cut by
// attributes), the SNI whole or absent, the flag when something was left
// out.
static void test_tls_up_identity_not_cut_by_sni(void **state)
{
	static const char *subjects[] = {
	    "/O=Example/CN=adminEVIL",
	    // tests/certs/long-client.pem's line as cee_tls cuts it at 255
	    "/O=cee/OU=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "/OU=bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	    "/OU=cccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
	    "/OU=dddddddddddddddddddddddddddddddddddddddddddddddddddddddd/...",
	    // escaped '/' and '\\' where a byte cut would fall
	    "/O=cee/OU=x\\/CN=admin\\\\/OU=yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"
	    "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\\/CN=root/CN=adminEVIL",
	    // the same, short enough for the group
	    "/O=cee/OU=x\\/CN=admin\\\\/OU=yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\\/CN=root/CN=adminEVIL",
	};
	char sni[256], got[512], sgot[512];
	for (unsigned k = 0; k < sizeof(subjects) / sizeof(subjects[0]); k++) {
		// whether the subject fits the group without an SNI
		struct cee_ext_builder alone;
		cee_ext_begin(&alone, cee_id_make(0, 1), CEE_EVT_TLS_UP);
		cee_ext_tls_up(&alone, 0x0304, "TLS_AES_128_GCM_SHA256", "", "sip", true,
			       subjects[k]);
		cee_ext_end(&alone);
		bool fits = strcmp(ext_str(&alone, CEE_EXT_PEER_SUBJECT, got), subjects[k]) == 0;
		assert_int_equal(fits, k == 0 || k == 3); // (the others are cut in any case)
		for (unsigned len = 0; len <= 255; len++) {
			memset(sni, 'a', len);
			sni[len] = '\0';
			struct cee_ext_builder b;
			cee_ext_begin(&b, cee_id_make(0, 1), CEE_EVT_TLS_UP);
			cee_ext_tls_up(&b, 0x0304, "TLS_AES_128_GCM_SHA256", sni, "sip", true,
				       subjects[k]);
			unsigned n = cee_ext_end(&b);
			assert_true(n >= 1 && n <= CEE_EVT_EXT_MAX);
			const char *subj = ext_str(&b, CEE_EXT_PEER_SUBJECT, got);
			if (fits)
				assert_string_equal(subj, subjects[k]);
			else
				assert_true(subject_whole_or_cut_by_attribute(subj, subjects[k]));
			assert_true(strlen(subj) > 0);
			const char *s = ext_str(&b, CEE_EXT_SNI, sgot);
			assert_true(strcmp(s, sni) == 0 || (s[0] == '\0' && b.truncated));
			assert_string_equal(ext_str(&b, CEE_EXT_ALPN, got), "sip");
			assert_string_equal(ext_str(&b, CEE_EXT_CIPHER, got), "TLS_AES_128_GCM_SHA256");
			assert_int_equal(collect(&b, n, CEE_EXT_RESUMED, (uint8_t *)got), 1);
			assert_int_equal(has_key(&b, n, CEE_EXT_EXT_TRUNCATED), b.truncated);
			// a short SNI stays beside a subject that fits with it; beside
			// one that does not, the subject keeps the room
			if (len <= 16 && fits)
				assert_string_equal(s, sni);
			if (!fits)
				assert_string_equal(s, "");
		}
	}
	// Without a subject the SNI goes whole when it fits (165 bytes of the
	// group), and is left out, flagged, when it does not: never cut.
	for (unsigned len = 1; len <= 255; len++) {
		memset(sni, 'a', len);
		sni[len] = '\0';
		struct cee_ext_builder b;
		cee_ext_begin(&b, cee_id_make(0, 1), CEE_EVT_TLS_UP);
		cee_ext_tls_up(&b, 0x0304, "TLS_AES_128_GCM_SHA256", sni, "sip", false, "");
		cee_ext_end(&b);
		const char *s = ext_str(&b, CEE_EXT_SNI, got);
		assert_true(strcmp(s, sni) == 0 || (s[0] == '\0' && b.truncated));
		if (len <= 100)
			assert_string_equal(s, sni);
		assert_string_equal(ext_str(&b, CEE_EXT_ALPN, got), "sip");
	}
}

// Guards against (review of session 33): the client's request path pushing
// the Origin out of ws_up, or choosing where it was cut
// ("https://trusted.example.com" of "https://trusted.example.com.evil.net").
static void test_ws_up_origin_not_cut_by_path(void **state)
{
	static const char origin[] = "https://trusted.example.com.evil.net";
	char path[128], ua[128], got[256];
	memset(ua, 'u', 127);
	ua[127] = '\0';
	for (unsigned len = 1; len <= 127; len++) {
		path[0] = '/';
		memset(path + 1, 'p', len - 1);
		path[len] = '\0';
		struct cee_ext_builder b;
		cee_ext_begin(&b, cee_id_make(0, 1), CEE_EVT_WS_UP);
		cee_ext_ws_up(&b, path, "sip", origin, ua);
		unsigned n = cee_ext_end(&b);
		assert_string_equal(ext_str(&b, CEE_EXT_WS_ORIGIN, got), origin);
		assert_string_equal(ext_str(&b, CEE_EXT_WS_SUBPROTOCOL, got), "sip");
		const char *p = ext_str(&b, CEE_EXT_WS_PATH, got);
		assert_true(strcmp(p, path) == 0 || (p[0] == '\0' && b.truncated));
		if (len <= 64)
			assert_string_equal(p, path);
		// the User-Agent, free text, is cut to the room left (flagged)
		const char *u = ext_str(&b, CEE_EXT_WS_USER_AGENT, got);
		assert_true(strncmp(u, ua, strlen(u)) == 0);
		assert_int_equal(has_key(&b, n, CEE_EXT_EXT_TRUNCATED), b.truncated);
		assert_true(b.truncated);
	}
}

/* ---- extension records: JSON ---- */

static struct cee_event tls_event(enum cee_evt_type t, uint64_t sseq)
{
	struct cee_event e = open_event();
	e.type = (uint8_t)t;
	e.sseq = sseq;
	e.cseq = t == CEE_EVT_TLS_UP ? 2 : 3;
	e.proto = CEE_PROTO_TLS;
	return e;
}

// Builds @p b's group for @p e, numbered right before it; fills @p ptr.
static unsigned finish_group(struct cee_ext_builder *b, const struct cee_event *e,
			     const struct cee_event_ext **ptr)
{
	unsigned n = cee_ext_end(b);
	for (unsigned i = 0; i < n; i++) {
		b->rec[i].ext.sseq = e->sseq - n + i;
		ptr[i] = &b->rec[i].ext;
	}
	return n;
}

// Guards against: a schema drift in tls_up's extension keys (names, order,
// version and bool formatting) or in xseq, the start of the line's range.
static void test_ext_json_tls_up_exact(void **state)
{
	struct cee_event e = tls_event(CEE_EVT_TLS_UP, 30);
	struct cee_ext_builder b;
	const struct cee_event_ext *ptr[CEE_EVT_EXT_MAX];
	cee_ext_begin(&b, e.conn, CEE_EVT_TLS_UP);
	cee_ext_put_u16(&b, CEE_EXT_TLS_VERSION, 0x0304);
	cee_ext_put_str(&b, CEE_EXT_CIPHER, "TLS_AES_128_GCM_SHA256");
	cee_ext_put_str(&b, CEE_EXT_SNI, "sip.example.com");
	cee_ext_put_str(&b, CEE_EXT_ALPN, "sip");
	cee_ext_put_u8(&b, CEE_EXT_RESUMED, 0);
	cee_ext_put_str(&b, CEE_EXT_PEER_SUBJECT, "CN=client one,O=Example Corp,C=SE");
	unsigned n = finish_group(&b, &e, ptr);
	assert_int_equal(n, 3); // 88 bytes of TLVs, two values split: 92

	char buf[CEE_EVT_JSON_EXT_MAX];
	const char *want =
		"{\"v\":3,\"type\":\"tls_up\",\"conn\":\"020000001234abcd\",\"shard\":2,"
		"\"sseq\":30,\"cseq\":2,\"ts_ns\":1234567890123,\"proto\":\"tls\","
		"\"local\":\"10.0.0.1:5060\",\"remote\":\"192.168.1.2:40000\","
		"\"tls_version\":\"1.3\",\"cipher\":\"TLS_AES_128_GCM_SHA256\","
		"\"sni\":\"sip.example.com\",\"alpn\":\"sip\",\"resumed\":false,"
		"\"peer_subject\":\"CN=client one,O=Example Corp,C=SE\",\"xseq\":27}\n";
	int w = cee_evt_to_json_ext(&e, ptr, n, buf, sizeof(buf));
	assert_string_equal(buf, want);
	assert_int_equal(w, (int)strlen(want));

	// TLS 1.2 by name, other versions as the number.
	cee_ext_begin(&b, e.conn, CEE_EVT_TLS_UP);
	cee_ext_put_u16(&b, CEE_EXT_TLS_VERSION, 0x0303);
	cee_ext_put_u8(&b, CEE_EXT_RESUMED, 1);
	n = finish_group(&b, &e, ptr);
	assert_true(cee_evt_to_json_ext(&e, ptr, n, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, ",\"tls_version\":\"1.2\",\"resumed\":true,\"xseq\":29}\n"));
	cee_ext_begin(&b, e.conn, CEE_EVT_TLS_UP);
	cee_ext_put_u16(&b, CEE_EXT_TLS_VERSION, 0x0302);
	n = finish_group(&b, &e, ptr);
	assert_true(cee_evt_to_json_ext(&e, ptr, n, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, ",\"tls_version\":770,"));

	// No records: exactly the plain line.
	char plain[1024];
	assert_int_equal(cee_evt_to_json_ext(&e, ptr, 0, buf, sizeof(buf)),
			 cee_evt_to_json(&e, plain, sizeof(plain)));
	assert_string_equal(buf, plain);
	assert_null(strstr(plain, "xseq"));
	assert_int_equal(cee_evt_to_json_ext(&e, ptr, CEE_EVT_EXT_MAX + 1, buf, sizeof(buf)),
			 -EINVAL);
	assert_int_equal(cee_evt_to_json_ext(NULL, ptr, 0, buf, sizeof(buf)), -EINVAL);
}

// Guards against: the TLS close details (alert number and name, who sent
// it, truncation) missing or misnamed on `closed`, after its counters.
static void test_ext_json_closed_alert_exact(void **state)
{
	struct cee_event e = tls_event(CEE_EVT_CLOSED, 41);
	e.reason = CEE_REASON_TLS_ALERT;
	e.bytes_in = 10;
	e.bytes_out = 20;
	e.duration_ns = 30;
	struct cee_ext_builder b;
	const struct cee_event_ext *ptr[CEE_EVT_EXT_MAX];
	cee_ext_begin(&b, e.conn, CEE_EVT_CLOSED);
	cee_ext_put_u8(&b, CEE_EXT_ALERT, 48);
	cee_ext_put_u8(&b, CEE_EXT_ALERT_BY, 1);
	cee_ext_put_u8(&b, CEE_EXT_TLS_TRUNCATED, 1);
	unsigned n = finish_group(&b, &e, ptr);
	assert_int_equal(n, 1);

	char buf[CEE_EVT_JSON_EXT_MAX];
	const char *want =
		"{\"v\":3,\"type\":\"closed\",\"conn\":\"020000001234abcd\",\"shard\":2,"
		"\"sseq\":41,\"cseq\":3,\"ts_ns\":1234567890123,\"proto\":\"tls\","
		"\"local\":\"10.0.0.1:5060\",\"remote\":\"192.168.1.2:40000\","
		"\"reason\":\"tls_alert\",\"bytes_in\":10,\"bytes_out\":20,\"duration_ns\":30,"
		"\"alert\":48,\"alert_name\":\"unknown_ca\",\"alert_by\":\"local\","
		"\"tls_truncated\":true,\"xseq\":40}\n";
	assert_int_equal(cee_evt_to_json_ext(&e, ptr, n, buf, sizeof(buf)), (int)strlen(want));
	assert_string_equal(buf, want);

	cee_ext_begin(&b, e.conn, CEE_EVT_CLOSED);
	cee_ext_put_u8(&b, CEE_EXT_ALERT, 0);
	cee_ext_put_u8(&b, CEE_EXT_ALERT_BY, 0);
	n = finish_group(&b, &e, ptr);
	assert_true(cee_evt_to_json_ext(&e, ptr, n, buf, sizeof(buf)) > 0);
	assert_non_null(
		strstr(buf, ",\"alert\":0,\"alert_name\":\"close_notify\",\"alert_by\":\"peer\","));
}

// Guards against: the RFC 8446 alert names table drifting (a consumer
// matches on the names) or unknown values printing garbage.
static void test_alert_names(void **state)
{
	static const struct {
		uint8_t v;
		const char *name;
	} t[] = {
		{0, "close_notify"},
		{10, "unexpected_message"},
		{20, "bad_record_mac"},
		{22, "record_overflow"},
		{40, "handshake_failure"},
		{42, "bad_certificate"},
		{43, "unsupported_certificate"},
		{44, "certificate_revoked"},
		{45, "certificate_expired"},
		{46, "certificate_unknown"},
		{47, "illegal_parameter"},
		{48, "unknown_ca"},
		{49, "access_denied"},
		{50, "decode_error"},
		{51, "decrypt_error"},
		{70, "protocol_version"},
		{71, "insufficient_security"},
		{80, "internal_error"},
		{86, "inappropriate_fallback"},
		{90, "user_canceled"},
		{109, "missing_extension"},
		{110, "unsupported_extension"},
		{112, "unrecognized_name"},
		{113, "bad_certificate_status_response"},
		{115, "unknown_psk_identity"},
		{116, "certificate_required"},
		{120, "no_application_protocol"},
	};
	unsigned named = 0;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_string_equal(cee_evt_alert_str(t[i].v), t[i].name);
	for (unsigned v = 0; v < 256; v++)
		named += strcmp(cee_evt_alert_str((uint8_t)v), "unknown") != 0;
	assert_int_equal(named, sizeof(t) / sizeof(t[0]));
	assert_string_equal(cee_evt_alert_str(255), "unknown");
	assert_string_equal(cee_evt_alert_str(1), "unknown");

	// Every key: a name, a kind, and names unique.
	for (int k = 1; k < CEE_EXT__COUNT; k++) {
		assert_string_not_equal(cee_ext_key_str((enum cee_ext_key)k), "?");
		assert_true(cee_ext_key_kind((enum cee_ext_key)k) >= 0);
		for (int j = 1; j < k; j++)
			assert_string_not_equal(cee_ext_key_str((enum cee_ext_key)k),
						cee_ext_key_str((enum cee_ext_key)j));
	}
	assert_string_equal(cee_ext_key_str(CEE_EXT__END), "?");
	assert_int_equal(cee_ext_key_kind(CEE_EXT__COUNT), -EINVAL);
}

// The line for an SNI of @p n bytes.
static void sni_line(const void *sni, size_t n, char *buf)
{
	struct cee_event e = tls_event(CEE_EVT_TLS_UP, 30);
	struct cee_ext_builder b;
	const struct cee_event_ext *ptr[CEE_EVT_EXT_MAX];
	cee_ext_begin(&b, e.conn, CEE_EVT_TLS_UP);
	cee_ext_put(&b, CEE_EXT_SNI, sni, (uint32_t)n);
	unsigned k = finish_group(&b, &e, ptr);
	assert_true(cee_evt_to_json_ext(&e, ptr, k, buf, CEE_EVT_JSON_EXT_MAX) > 0);
}

// Guards against: invalid JSON from strings that come off the network
// (SNI, subjects): quotes and backslashes must be escaped, control
// characters as \u00XX, valid UTF-8 kept, and every invalid UTF-8 byte
// (stray continuation, overlong form, surrogate, beyond U+10FFFF, cut
// sequence) replaced by U+FFFD.
static void test_ext_json_escaping(void **state)
{
	static const struct {
		const char *in;
		const char *out;
	} t[] = {
		{"a\"b\\c", "a\\\"b\\\\c"},
		{"\x01\x1f\n\t\x7f", "\\u0001\\u001f\\u000a\\u0009\x7f"},
		{"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
		{"\xff", "\\ufffd"},
		{"\x80x", "\\ufffdx"},
		{"\xc0\xaf", "\\ufffd\\ufffd"},         // overlong '/'
		{"\xe0\x80\xaf", "\\ufffd\\ufffd\\ufffd"}, // overlong, 3 bytes
		{"\xed\xa0\x80", "\\ufffd\\ufffd\\ufffd"}, // surrogate U+D800
		{"\xf4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd"}, // above U+10FFFF
		{"x\xe2\x82", "x\\ufffd\\ufffd"},        // cut at the end
		{"\xe2(\xa1", "\\ufffd(\\ufffd"},
	};
	char buf[CEE_EVT_JSON_EXT_MAX], want[256];
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		sni_line(t[i].in, strlen(t[i].in), buf);
		snprintf(want, sizeof(want), ",\"sni\":\"%s\",\"xseq\":29}\n", t[i].out);
		assert_non_null(strstr(buf, want));
	}
	// A NUL byte inside a value is data, not the end.
	sni_line("a\0b", 3, buf);
	assert_non_null(strstr(buf, ",\"sni\":\"a\\u0000b\","));

	// Every byte value, in every position: the line stays printable ASCII
	// or valid UTF-8, with no raw control character or unescaped quote.
	uint8_t all[160];
	for (unsigned start = 0; start < 256; start += 160) {
		size_t n = 0;
		for (unsigned v = start; v < 256 && n < sizeof(all); v++)
			all[n++] = (uint8_t)v;
		sni_line(all, n, buf);
		const char *q = strstr(buf, "\"sni\":\"") + 7;
		for (const char *p = q; *p != '\0' && !(p[0] == '"' && p[1] == ','); p++) {
			assert_true((unsigned char)*p >= 0x20);
			if (*p == '\\') {
				p++;
				assert_non_null(strchr("\"\\u", *p));
			}
		}
	}
}

// Guards against: a value split across records printed as two keys or
// with a break inside (readers concatenate), including a UTF-8 character
// cut by the record boundary, which must come out whole, not as U+FFFD.
static void test_ext_json_split_value_rejoined(void **state)
{
	char subject[120];
	size_t n = 0;
	while (n + 2 <= 100) {
		subject[n++] = '\xc3'; // U+00E9 as two bytes, some across a boundary
		subject[n++] = '\xa9';
	}
	subject[n] = '\0';
	struct cee_event e = tls_event(CEE_EVT_TLS_UP, 50);
	struct cee_ext_builder b;
	const struct cee_event_ext *ptr[CEE_EVT_EXT_MAX];
	cee_ext_begin(&b, e.conn, CEE_EVT_TLS_UP);
	cee_ext_put_str(&b, CEE_EXT_SNI, "s");
	cee_ext_put_str(&b, CEE_EXT_PEER_SUBJECT, subject);
	unsigned k = finish_group(&b, &e, ptr);
	assert_int_equal(k, 3);
	char buf[CEE_EVT_JSON_EXT_MAX], want[256];
	assert_true(cee_evt_to_json_ext(&e, ptr, k, buf, sizeof(buf)) > 0);
	snprintf(want, sizeof(want), ",\"sni\":\"s\",\"peer_subject\":\"%s\",\"xseq\":47}\n",
		 subject);
	assert_non_null(strstr(buf, want));
	assert_null(strstr(buf, "ufffd"));
	const char *first = strstr(buf, "peer_subject");
	assert_null(strstr(first + 1, "peer_subject"));
}

// Guards against: an extension record printed through the plain path as a
// lifecycle event (garbage fields), and an orphan group losing its range.
static void test_ext_json_standalone(void **state)
{
	struct cee_ext_builder b;
	cee_ext_begin(&b, cee_id_make(3, 0x10), CEE_EVT_TLS_UP);
	cee_ext_put_str(&b, CEE_EXT_ALPN, "sip");
	assert_int_equal(cee_ext_end(&b), 1);
	b.rec[0].ext.sseq = 12;
	char buf[CEE_EVT_JSON_EXT_MAX];
	const char *want = "{\"v\":3,\"type\":\"ext\",\"of\":\"tls_up\",\"conn\":\"0300000000000010\","
			   "\"shard\":3,\"sseq\":12,\"alpn\":\"sip\",\"xseq\":12}\n";
	assert_int_equal(cee_evt_to_json(&b.rec[0].ev, buf, sizeof(buf)), (int)strlen(want));
	assert_string_equal(buf, want);

	// Two records on their own: the line covers both.
	struct cee_ext_builder b2;
	char big[80];
	memset(big, 'z', 79);
	big[79] = '\0';
	cee_ext_begin(&b2, cee_id_make(3, 0x10), CEE_EVT_CLOSED);
	cee_ext_put_str(&b2, CEE_EXT_PEER_SUBJECT, big);
	assert_int_equal(cee_ext_end(&b2), 2);
	b2.rec[0].ext.sseq = 20;
	b2.rec[1].ext.sseq = 21;
	const struct cee_event_ext *ptr[2] = {&b2.rec[0].ext, &b2.rec[1].ext};
	assert_true(cee_evt_to_json_ext(NULL, ptr, 2, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "\"type\":\"ext\",\"of\":\"closed\","));
	assert_non_null(strstr(buf, "\"sseq\":21,"));
	assert_non_null(strstr(buf, ",\"xseq\":20}\n"));
}

// Guards against: a buffer overflow on the ext path: the longest possible
// group (every byte an alert with the longest name, or a string of control
// characters, 6 bytes each) fits in CEE_EVT_JSON_EXT_MAX, and a small
// buffer gets -ENOSPC with nothing written past it. And (session 33,
// found by fuzz_json): keys that come again after another are written
// once, the last value: a line with a key twice is no line cee-audit takes.
static void test_ext_json_longest_and_enospc(void **state)
{
	struct cee_event e = tls_event(CEE_EVT_CLOSED, UINT64_MAX);
	e.ts_ns = e.bytes_in = e.bytes_out = e.duration_ns = UINT64_MAX;
	e.reason = CEE_REASON_RETRANSMIT_TIMEOUT;
	e.local_ip = e.remote_ip = 0xffffffff;
	e.local_port = e.remote_port = 65535;
	union cee_record rec[CEE_EVT_EXT_MAX];
	const struct cee_event_ext *ptr[CEE_EVT_EXT_MAX];
	unsigned alerts = 0;
	for (unsigned i = 0; i < CEE_EVT_EXT_MAX; i++) {
		memset(&rec[i], 0, sizeof(rec[i]));
		// Different keys in turn, so no two neighbours concatenate.
		for (unsigned off = 0; off + 3 <= CEE_EVT_EXT_DATA; off += 3, alerts++) {
			rec[i].ext.data[off] = alerts % 2 ? CEE_EXT_ALERT : CEE_EXT_ALERT_BY;
			rec[i].ext.data[off + 1] = 1;
			rec[i].ext.data[off + 2] = 113; // bad_certificate_status_response
		}
		rec[i].ext.type = CEE_EVT_EXT;
		rec[i].ext.sseq = i + 1;
		ptr[i] = &rec[i].ext;
	}
	char *buf = malloc(CEE_EVT_JSON_EXT_MAX + 64);
	memset(buf, 'X', CEE_EVT_JSON_EXT_MAX + 64);
	int w = cee_evt_to_json_ext(&e, ptr, CEE_EVT_EXT_MAX, buf, CEE_EVT_JSON_EXT_MAX);
	assert_true(w > 0 && w < CEE_EVT_JSON_EXT_MAX);
	unsigned names = 0;
	for (const char *p = buf; (p = strstr(p, "bad_certificate_status_response")) != NULL; p++)
		names++;
	assert_int_equal(names, 1);
	const char *first = strstr(buf, "\"alert\":");
	assert_non_null(first);
	assert_null(strstr(first + 1, "\"alert\":"));
	assert_non_null(strstr(buf, "\"alert_by\":\"local\""));
	assert_null(strstr(strstr(buf, "\"alert_by\":") + 1, "\"alert_by\":"));
	assert_non_null(strstr(buf, "\"xseq\":1}\n"));
	for (size_t i = CEE_EVT_JSON_EXT_MAX; i < CEE_EVT_JSON_EXT_MAX + 64; i++)
		assert_int_equal(buf[i], 'X');

	// Control characters all the way: 6 output bytes per byte.
	for (unsigned i = 0; i < CEE_EVT_EXT_MAX; i++) {
		memset(rec[i].ext.data, 0x01, CEE_EVT_EXT_DATA);
		rec[i].ext.data[0] = CEE_EXT_PEER_SUBJECT;
		rec[i].ext.data[1] = CEE_EVT_EXT_DATA - 2;
	}
	w = cee_evt_to_json_ext(&e, ptr, CEE_EVT_EXT_MAX, buf, CEE_EVT_JSON_EXT_MAX);
	assert_true(w > 0 && w < CEE_EVT_JSON_EXT_MAX);
	unsigned esc = 0;
	for (const char *p = buf; (p = strstr(p, "\\u0001")) != NULL; p++)
		esc++;
	assert_int_equal(esc, CEE_EVT_EXT_MAX * (CEE_EVT_EXT_DATA - 2));

	// Too small: refused, nothing written past the given length.
	for (size_t len = 0; len <= (size_t)w; len += 97) {
		memset(buf, 'X', CEE_EVT_JSON_EXT_MAX + 64);
		assert_int_equal(cee_evt_to_json_ext(&e, ptr, CEE_EVT_EXT_MAX, buf, len), -ENOSPC);
		for (size_t i = len; i < CEE_EVT_JSON_EXT_MAX + 64; i++)
			assert_int_equal(buf[i], 'X');
	}
	assert_int_equal(cee_evt_to_json_ext(&e, ptr, CEE_EVT_EXT_MAX, buf, (size_t)w + 1), w);
	free(buf);
}

// Guards against: malformed records (a length past the end, an unknown key
// from a newer producer) making the encoder read out of bounds or print
// keys it does not know.
static void test_ext_json_malformed_tlvs(void **state)
{
	struct cee_event e = tls_event(CEE_EVT_TLS_UP, 9);
	union cee_record rec;
	memset(&rec, 0, sizeof(rec));
	rec.ext.type = CEE_EVT_EXT;
	rec.ext.sseq = 8;
	uint8_t *d = rec.ext.data;
	d[0] = 200; // unknown key: skipped
	d[1] = 2;
	d[2] = 'z';
	d[3] = 'z';
	d[4] = CEE_EXT_ALPN;
	d[5] = 3;
	memcpy(d + 6, "sip", 3);
	d[9] = CEE_EXT_TLS_VERSION; // too short for a version: skipped
	d[10] = 1;
	d[11] = 4;
	d[12] = CEE_EXT_SNI; // runs past the end: ends the record
	d[13] = 200;
	const struct cee_event_ext *ptr = &rec.ext;
	char buf[CEE_EVT_JSON_EXT_MAX];
	assert_true(cee_evt_to_json_ext(&e, &ptr, 1, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "\"remote\":\"192.168.1.2:40000\",\"alpn\":\"sip\",\"xseq\":8}\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_exact),
		cmocka_unit_test(test_closed_exact),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_enospc),
		cmocka_unit_test(test_engine_and_run),
		cmocka_unit_test(test_names_round_trip),
		cmocka_unit_test(test_every_type_and_reason_encoded),
		cmocka_unit_test(test_unknown_reason_has_a_name),
		cmocka_unit_test(test_dir_in_out_on_open),
		cmocka_unit_test(test_link_events_exact),
		cmocka_unit_test(test_ext_json_u32_values),
		cmocka_unit_test(test_ext_layout),
		cmocka_unit_test(test_builder_packs),
		cmocka_unit_test(test_builder_splits_long_value),
		cmocka_unit_test(test_builder_truncates_at_limit),
		cmocka_unit_test(test_builder_room_exact),
		cmocka_unit_test(test_tls_up_identity_not_cut_by_sni),
		cmocka_unit_test(test_ws_up_origin_not_cut_by_path),
		cmocka_unit_test(test_ext_json_tls_up_exact),
		cmocka_unit_test(test_ext_json_closed_alert_exact),
		cmocka_unit_test(test_alert_names),
		cmocka_unit_test(test_ext_json_escaping),
		cmocka_unit_test(test_ext_json_split_value_rejoined),
		cmocka_unit_test(test_ext_json_standalone),
		cmocka_unit_test(test_ext_json_longest_and_enospc),
		cmocka_unit_test(test_ext_json_malformed_tlvs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
