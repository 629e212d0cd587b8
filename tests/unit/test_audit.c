/* SPDX-License-Identifier: BSD-3-Clause */
// The audit is the referee of the lifecycle contract: the integration tests
// trust it to catch lost, duplicated and reordered events, (schema 2)
// broken extension groups and (schema 3) broken link sequences. Each test
// feeds a stream with one defect and checks the audit names it.
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cee_audit.h"

// Builds streams the way shards would: sseq consecutive per shard.
struct stream {
	struct cee_event ev[4096];
	uint32_t n;
	uint64_t sseq[CEE_MAX_SHARDS];
	uint8_t proto; // of the events emitted
};

struct fixture {
	struct cee_audit *a;
	struct stream s;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -1;
	f->a = cee_audit_create();
	if (f->a == NULL) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	cee_audit_destroy(f->a);
	free(f);
	return 0;
}

static cee_conn_id_t conn(unsigned shard, uint64_t serial)
{
	return cee_id_make(shard, serial);
}

// Appends an event of @p c with the next sseq of its shard.
static struct cee_event *emit(struct stream *s, cee_conn_id_t c, enum cee_evt_type t,
			      uint8_t cseq)
{
	struct cee_event *e = &s->ev[s->n++];
	memset(e, 0, sizeof(*e));
	e->conn = c;
	e->type = (uint8_t)t;
	e->cseq = cseq;
	e->sseq = ++s->sseq[cee_id_shard(c)];
	e->proto = s->proto;
	if (t == CEE_EVT_CLOSED || t == CEE_EVT_LINK_DOWN)
		e->reason = CEE_REASON_PEER_FIN; // link_down: its closed's reason
	return e;
}

// Appends the extension group of @p b (finished) with the next sseqs of its
// shard. @return the number of records.
static unsigned emit_group(struct stream *s, struct cee_ext_builder *b)
{
	unsigned n = cee_ext_end(b);
	for (unsigned i = 0; i < n; i++) {
		memcpy(&s->ev[s->n], &b->rec[i], sizeof(s->ev[0]));
		s->ev[s->n].sseq = ++s->sseq[cee_id_shard(b->conn)];
		s->n++;
	}
	return n;
}

// A group for the event @p t of @p c: @p subject_len bytes of subject make
// it span several records.
static unsigned ext_for(struct stream *s, cee_conn_id_t c, enum cee_evt_type t,
			size_t subject_len)
{
	struct cee_ext_builder b;
	char subject[200];
	memset(subject, 'x', subject_len);
	subject[subject_len] = '\0';
	cee_ext_begin(&b, c, t);
	if (t == CEE_EVT_TLS_UP) {
		cee_ext_put_u16(&b, CEE_EXT_TLS_VERSION, 0x0304);
		cee_ext_put_str(&b, CEE_EXT_SNI, "sip.example.com");
	} else {
		cee_ext_put_u8(&b, CEE_EXT_ALERT, 0);
		cee_ext_put_u8(&b, CEE_EXT_ALERT_BY, 0);
	}
	cee_ext_put_str(&b, CEE_EXT_PEER_SUBJECT, subject);
	return emit_group(s, &b);
}

// A whole TLS connection: groups before tls_up and closed.
static void tls_lifecycle(struct stream *s, cee_conn_id_t c, size_t subject_len)
{
	uint8_t proto = s->proto;
	s->proto = CEE_PROTO_TLS;
	emit(s, c, CEE_EVT_OPEN, 0);
	emit(s, c, CEE_EVT_ESTABLISHED, 1);
	ext_for(s, c, CEE_EVT_TLS_UP, subject_len);
	emit(s, c, CEE_EVT_TLS_UP, 2);
	ext_for(s, c, CEE_EVT_CLOSED, 0);
	emit(s, c, CEE_EVT_CLOSED, 3)->reason = CEE_REASON_TLS_CLOSE_NOTIFY;
	emit(s, c, CEE_EVT_DESTROYED, 4);
	s->proto = proto;
}

// A whole, correct lifecycle: open, established, closed, destroyed.
static void lifecycle(struct stream *s, cee_conn_id_t c)
{
	emit(s, c, CEE_EVT_OPEN, 0);
	emit(s, c, CEE_EVT_ESTABLISHED, 1);
	emit(s, c, CEE_EVT_CLOSED, 2);
	emit(s, c, CEE_EVT_DESTROYED, 3);
}

/* ---- links (schema 3) ---- */

// A link event of @p c (link_up or link_down) after its group: the link's
// name (NULL: no group), attempt @p attempt (0: none) and, when @p next,
// next_attempt_ms.
static struct cee_event *emit_link_att(struct stream *s, cee_conn_id_t c, enum cee_evt_type t,
				       uint8_t cseq, const char *name, uint32_t attempt, bool next)
{
	if (name != NULL) {
		struct cee_ext_builder b;
		cee_ext_begin(&b, c, t);
		cee_ext_put_str(&b, CEE_EXT_LINK, name);
		if (attempt != 0)
			cee_ext_put_u32(&b, CEE_EXT_ATTEMPT, attempt);
		if (next)
			cee_ext_put_u32(&b, CEE_EXT_NEXT_ATTEMPT_MS, 150);
		emit_group(s, &b);
	}
	return emit(s, c, t, cseq);
}

// ... as a shard emits them: the attempt ordinal grows with the link's
// attempts, here the connection's serial; next_attempt_ms on link_down.
static struct cee_event *emit_link(struct stream *s, cee_conn_id_t c, enum cee_evt_type t,
				   uint8_t cseq, const char *name)
{
	return emit_link_att(s, c, t, cseq, name, (uint32_t)cee_id_serial(c),
			     t == CEE_EVT_LINK_DOWN);
}

// The open of an outbound connection of link @p name.
static void emit_link_open(struct stream *s, cee_conn_id_t c, const char *name)
{
	struct cee_ext_builder b;
	cee_ext_begin(&b, c, CEE_EVT_OPEN);
	cee_ext_put_str(&b, CEE_EXT_LINK, name);
	emit_group(s, &b);
	emit(s, c, CEE_EVT_OPEN, 0)->proto |= CEE_PROTO_F_OUT;
}

// A link's TCP connection up to its link_up (cseq 0..2).
static void link_up_tcp(struct stream *s, cee_conn_id_t c, const char *name)
{
	emit_link_open(s, c, name);
	emit(s, c, CEE_EVT_ESTABLISHED, 1);
	emit_link(s, c, CEE_EVT_LINK_UP, 2, name);
}

// ... and the rest of it after link_up: closed, link_down, destroyed.
static void link_down_tcp(struct stream *s, cee_conn_id_t c, const char *name)
{
	emit(s, c, CEE_EVT_CLOSED, 3);
	emit_link(s, c, CEE_EVT_LINK_DOWN, 4, name);
	emit(s, c, CEE_EVT_DESTROYED, 5);
}

static struct cee_audit_result finish(struct fixture *f, bool allow_live)
{
	struct cee_audit_result r;
	cee_audit_feed(f->a, f->s.ev, f->s.n);
	cee_audit_finish(f->a, allow_live, &r);
	return r;
}

static void assert_clean(const struct cee_audit_result *r)
{
	assert_int_equal(r->gaps, 0);
	assert_int_equal(r->duplicate, 0);
	assert_int_equal(r->out_of_order, 0);
	assert_int_equal(r->lost, 0);
	assert_true(r->ok);
}

// Guards against: the audit flagging a correct stream (interleaved
// connections on several shards, every optional event, every reason), which
// would make it useless as a referee.
static void test_correct_stream_passes(void **state)
{
	struct fixture *f = *state;
	struct stream *s = &f->s;

	s->proto = CEE_PROTO_WSS; // every reason, TLS ones included, is valid on wss
	uint64_t want_est = 50;
	for (uint64_t i = 1; i <= 50; i++) {
		cee_conn_id_t a = conn(0, i), b = conn(5, i);
		// b closes with every reason but none, each in a state where it
		// can (the reason rules): mostly before the handshake completes
		// at all layers
		uint8_t why = (uint8_t)(1 + i % (CEE_REASON__COUNT - 1));
		bool b_out = why == CEE_REASON_HOST_UNREACHABLE; // a link's attempt, no SYN sent
		bool b_ws = why == CEE_REASON_WS_CLOSE || why == CEE_REASON_WS_PING_TIMEOUT;
		bool b_tls = b_ws || why == CEE_REASON_WS_UPGRADE_FAILED;
		uint8_t bc = 0;
		emit(s, a, CEE_EVT_OPEN, 0);
		struct cee_event *bo = emit(s, b, CEE_EVT_OPEN, bc++);
		if (b_out)
			bo->proto |= CEE_PROTO_F_OUT;
		emit(s, a, CEE_EVT_ESTABLISHED, 1);
		emit(s, a, CEE_EVT_TLS_UP, 2);
		if (!b_out) {
			emit(s, b, CEE_EVT_ESTABLISHED, bc++);
			want_est++;
		}
		if (b_tls)
			emit(s, b, CEE_EVT_TLS_UP, bc++);
		emit(s, a, CEE_EVT_WS_UP, 3);
		if (b_ws)
			emit(s, b, CEE_EVT_WS_UP, bc++);
		emit(s, b, CEE_EVT_CLOSED, bc++)->reason = why;
		emit(s, a, CEE_EVT_CLOSED, 4);
		emit(s, b, CEE_EVT_DESTROYED, bc++);
		emit(s, a, CEE_EVT_DESTROYED, 5);
	}
	// An outbound connection that fails before its handshake: open,
	// closed, destroyed (an accepted one is announced at its handshake's
	// end, with established right after its open)
	cee_conn_id_t c = conn(9, 1);
	emit(s, c, CEE_EVT_OPEN, 0)->proto |= CEE_PROTO_F_OUT;
	emit(s, c, CEE_EVT_CLOSED, 1)->reason = CEE_REASON_NO_RESOURCES;
	emit(s, c, CEE_EVT_DESTROYED, 2);

	// Fed in uneven batches, as the exporter tap would.
	uint32_t off = 0, step = 1;
	while (off < s->n) {
		uint32_t k = s->n - off < step ? s->n - off : step;
		cee_audit_feed(f->a, s->ev + off, k);
		off += k;
		step = step * 3 % 17 + 1;
	}
	struct cee_audit_result r;
	cee_audit_finish(f->a, false, &r);
	assert_clean(&r);
	assert_int_equal(r.events, s->n);
	assert_int_equal(r.opens, 101);
	assert_int_equal(r.established, want_est);
	assert_int_equal(r.inconsistent, 0);
	assert_int_equal(r.closes, 101);
	assert_int_equal(r.destroys, 101);
	assert_int_equal(r.live, 0);
	uint64_t sum = 0;
	for (int i = 0; i < CEE_REASON__COUNT; i++)
		sum += r.by_reason[i];
	assert_int_equal(sum, 101);
	// reason 1 + i % (COUNT - 1) for the 50 connections b (i = 1..50), plus connection c
	unsigned want = 1;
	for (int i = 1; i <= 50; i++)
		want += 1 + i % (CEE_REASON__COUNT - 1) == CEE_REASON_NO_RESOURCES;
	assert_int_equal(r.by_reason[CEE_REASON_NO_RESOURCES], want);
}

// Guards against: a lost event going unnoticed (design: every event carries
// a consecutive (shard, sseq) so a consumer detects any gap).
static void test_gap_detected(void **state)
{
	struct fixture *f = *state;
	lifecycle(&f->s, conn(1, 1));
	lifecycle(&f->s, conn(1, 2));
	// Drop the second connection's open from the stream.
	memmove(&f->s.ev[4], &f->s.ev[5], 3 * sizeof(f->s.ev[0]));
	f->s.n--;
	struct cee_audit_result r = finish(f, false);
	assert_int_equal(r.gaps, 1);
	// The connection that lost its open is reported once, not per event.
	assert_int_equal(r.out_of_order, 1);
	assert_int_equal(r.duplicate, 0);
	assert_int_equal(r.lost, 0);
	assert_false(r.ok);
}

// Guards against: an event delivered twice (e.g. a retried sink write)
// being counted as a second, real event.
static void test_duplicate_detected(void **state)
{
	struct fixture *f = *state;
	lifecycle(&f->s, conn(2, 1));
	// Re-deliver the established event right after itself.
	memmove(&f->s.ev[3], &f->s.ev[2], 2 * sizeof(f->s.ev[0]));
	f->s.ev[2] = f->s.ev[1];
	f->s.n++;
	struct cee_audit_result r = finish(f, false);
	assert_int_equal(r.duplicate, 1);
	assert_int_equal(r.gaps, 0);
	assert_int_equal(r.out_of_order, 0);
	assert_int_equal(r.lost, 0);
	assert_false(r.ok);
}

// Guards against: an old event re-delivered much later (not just the one
// before) being taken for a late, reordered one.
static void test_late_duplicate_is_duplicate(void **state)
{
	struct fixture *f = *state;
	emit(&f->s, conn(2, 1), CEE_EVT_OPEN, 0);
	emit(&f->s, conn(2, 1), CEE_EVT_ESTABLISHED, 1);
	emit(&f->s, conn(2, 2), CEE_EVT_OPEN, 0);
	emit(&f->s, conn(2, 2), CEE_EVT_ESTABLISHED, 1);
	f->s.ev[f->s.n++] = f->s.ev[1]; // established of conn 1, again
	struct cee_audit_result r = finish(f, true);
	assert_int_equal(r.duplicate, 1);
	assert_int_equal(r.out_of_order, 0);
	assert_false(r.ok);
}

// Guards against: two events delivered in swapped order passing as correct.
static void test_reorder_detected(void **state)
{
	struct fixture *f = *state;
	lifecycle(&f->s, conn(3, 1));
	lifecycle(&f->s, conn(3, 2));
	// Swap the last event of conn 1 with the first of conn 2.
	struct cee_event t = f->s.ev[3];
	f->s.ev[3] = f->s.ev[4];
	f->s.ev[4] = t;
	struct cee_audit_result r = finish(f, false);
	assert_true(r.out_of_order >= 1);
	assert_false(r.ok);
}

// Guards against: a shard emitting a connection's events out of contract
// order (established after closed) with otherwise perfect numbering.
static void test_type_order_detected(void **state)
{
	struct fixture *f = *state;
	cee_conn_id_t c = conn(4, 1);
	emit(&f->s, c, CEE_EVT_OPEN, 0)->proto |= CEE_PROTO_F_OUT; // (closed before established)
	emit(&f->s, c, CEE_EVT_CLOSED, 1);
	emit(&f->s, c, CEE_EVT_ESTABLISHED, 2);
	emit(&f->s, c, CEE_EVT_DESTROYED, 3);
	struct cee_audit_result r = finish(f, false);
	assert_int_equal(r.out_of_order, 1);
	assert_int_equal(r.gaps, 0);
	assert_int_equal(r.duplicate, 0);
	assert_false(r.ok);
}

// Guards against: a cseq that skips (an event of the connection never
// emitted) hiding behind consecutive sseq numbers.
static void test_cseq_skip_detected(void **state)
{
	struct fixture *f = *state;
	cee_conn_id_t c = conn(4, 2);
	emit(&f->s, c, CEE_EVT_OPEN, 0);
	emit(&f->s, c, CEE_EVT_CLOSED, 2);
	emit(&f->s, c, CEE_EVT_DESTROYED, 3);
	struct cee_audit_result r = finish(f, false);
	assert_int_equal(r.out_of_order, 1);
	assert_false(r.ok);
}

// Guards against: a connection whose first event is not `open` (cseq 0).
static void test_missing_open_detected(void **state)
{
	struct fixture *f = *state;
	cee_conn_id_t c = conn(4, 3);
	emit(&f->s, c, CEE_EVT_ESTABLISHED, 1);
	struct cee_audit_result r = finish(f, false);
	assert_int_equal(r.out_of_order, 1);
	assert_false(r.ok);
}

// Guards against: design fault 3, a connection that ends (destroyed)
// without its `closed` event, e.g. a WebSocket dropped by TCP RST.
static void test_missing_closed_detected(void **state)
{
	struct fixture *f = *state;
	cee_conn_id_t c = conn(6, 1);
	emit(&f->s, c, CEE_EVT_OPEN, 0);
	emit(&f->s, c, CEE_EVT_ESTABLISHED, 1);
	emit(&f->s, c, CEE_EVT_WS_UP, 2);
	emit(&f->s, c, CEE_EVT_DESTROYED, 3);
	lifecycle(&f->s, conn(6, 2));
	struct cee_audit_result r = finish(f, false);
	assert_int_equal(r.lost, 1);
	assert_int_equal(r.destroys, 2);
	assert_false(r.ok);
}

// Guards against: a connection that never finishes (no closed, no
// destroyed) counted as fine, and live connections of a running engine
// counted as lost when the caller allows them.
static void test_unfinished_lost_or_live(void **state)
{
	struct fixture *f = *state;
	emit(&f->s, conn(7, 1), CEE_EVT_OPEN, 0);
	emit(&f->s, conn(7, 1), CEE_EVT_ESTABLISHED, 1);
	emit(&f->s, conn(7, 2), CEE_EVT_OPEN, 0)->proto |= CEE_PROTO_F_OUT;
	emit(&f->s, conn(7, 2), CEE_EVT_CLOSED, 1);
	lifecycle(&f->s, conn(7, 3));
	cee_audit_feed(f->a, f->s.ev, f->s.n);

	struct cee_audit_result r;
	cee_audit_finish(f->a, false, &r);
	assert_int_equal(r.lost, 2);
	assert_int_equal(r.live, 0);
	assert_false(r.ok);
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	assert_non_null(m);
	cee_audit_print_violations(f->a, m);
	fclose(m);
	assert_non_null(strstr(text, "0700000000000001: never destroyed"));
	assert_non_null(strstr(text, "0700000000000002: never destroyed"));
	free(text);

	cee_audit_finish(f->a, true, &r);
	assert_int_equal(r.lost, 0);
	assert_int_equal(r.live, 2);
	assert_true(r.ok);
}

// Guards against: design fault 2, events for a connection after it was
// destroyed (a ghost the control plane would resurrect).
static void test_event_after_destroyed_detected(void **state)
{
	struct fixture *f = *state;
	cee_conn_id_t c = conn(8, 1);
	lifecycle(&f->s, c);
	emit(&f->s, c, CEE_EVT_ESTABLISHED, 4);
	struct cee_audit_result r = finish(f, false);
	assert_int_equal(r.out_of_order, 1);
	assert_int_equal(r.lost, 0);
	assert_false(r.ok);

	// A second destroyed is a duplicate.
	struct cee_audit *a = cee_audit_create();
	assert_non_null(a);
	struct stream *s = calloc(1, sizeof(*s));
	lifecycle(s, c);
	emit(s, c, CEE_EVT_DESTROYED, 4);
	cee_audit_feed(a, s->ev, s->n);
	cee_audit_finish(a, false, &r);
	assert_int_equal(r.duplicate, 1);
	assert_false(r.ok);
	free(s);
	cee_audit_destroy(a);
}

// Guards against: a connection id issued twice (a slot reused under its old
// id): the second open came after the first connection's destroyed, when
// the id had left the map, and passed as a new connection. Opens out of
// serial order (a half-open connection completing after a newer one) are
// not that.
static void test_id_reused_after_destroyed_detected(void **state)
{
	struct fixture *f = *state;
	cee_conn_id_t c = conn(3, 7);
	lifecycle(&f->s, conn(3, 9)); // opened before 7 and 8: allowed
	lifecycle(&f->s, c);
	lifecycle(&f->s, conn(3, 8));
	struct cee_audit_result r = finish(f, false);
	assert_clean(&r);

	struct cee_audit *a = cee_audit_create();
	assert_non_null(a);
	struct stream *s = calloc(1, sizeof(*s));
	lifecycle(s, c);
	lifecycle(s, conn(3, 8));
	lifecycle(s, c); // the same id again, after its destroyed
	cee_audit_feed(a, s->ev, s->n);
	cee_audit_finish(a, false, &r);
	assert_true(r.duplicate >= 1);
	assert_false(r.ok);
	free(s);
	cee_audit_destroy(a);
}

// Guards against (review of session 33): the id-reuse check covering 2^19
// serials back from the newest, not the 2^20 documented (docs/events.md):
// its window of 2^20 bits slid to keep the newest serial in its upper half.
// Serial 1000 opened again after serial 1000 + 2^20 - 1 is a duplicate.
static void test_id_reused_within_2_20_detected(void **state)
{
	(void)state;
	struct cee_audit *a = cee_audit_create();
	assert_non_null(a);
	struct stream *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	lifecycle(s, conn(0, 1000));
	lifecycle(s, conn(0, 1000 + (1u << 20) - 1));
	lifecycle(s, conn(0, 1000));
	cee_audit_feed(a, s->ev, s->n);
	struct cee_audit_result r;
	cee_audit_finish(a, false, &r);
	assert_int_equal(r.duplicate, 1);
	assert_false(r.ok);
	free(s);
	cee_audit_destroy(a);
}

// Guards against: a connection reporting `closed` twice (two terminal paths
// taken, the fault the single terminal path exists to prevent).
static void test_two_closed_detected(void **state)
{
	struct fixture *f = *state;
	cee_conn_id_t c = conn(8, 2);
	emit(&f->s, c, CEE_EVT_OPEN, 0)->proto |= CEE_PROTO_F_OUT;
	emit(&f->s, c, CEE_EVT_CLOSED, 1);
	emit(&f->s, c, CEE_EVT_CLOSED, 2);
	emit(&f->s, c, CEE_EVT_DESTROYED, 3);
	struct cee_audit_result r = finish(f, false);
	assert_int_equal(r.duplicate, 1);
	assert_int_equal(r.out_of_order, 0);
	assert_int_equal(r.closes, 2);
	assert_false(r.ok);
}

// Guards against: the audit not scaling to millions of connections or
// keeping memory for destroyed ones (its map grows and shrinks), and
// mistakes in removing entries from its hash map.
static void test_many_connections(void **state)
{
	struct fixture *f = *state;
	enum { CONNS = 1000000, LIVE = 50000 };
	struct stream *s = &f->s;
	uint64_t opened = 0, closed = 0;

	// Keep LIVE connections open at any time, spread over 4 shards; close
	// them in FIFO order so the map sees many inserts and removals.
	while (closed < CONNS) {
		s->n = 0;
		while (s->n + 8 <= 4096 && closed < CONNS) {
			if (opened < CONNS && opened - closed < LIVE) {
				opened++;
				emit(s, conn((unsigned)(opened % 4), opened), CEE_EVT_OPEN, 0)->proto |=
				    CEE_PROTO_F_OUT; // (no established: an outbound one)
			} else {
				closed++;
				cee_conn_id_t c = conn((unsigned)(closed % 4), closed);
				emit(s, c, CEE_EVT_CLOSED, 1);
				emit(s, c, CEE_EVT_DESTROYED, 2);
			}
		}
		cee_audit_feed(f->a, s->ev, s->n);
	}
	s->n = 0;
	struct cee_audit_result r;
	cee_audit_finish(f->a, false, &r);
	assert_clean(&r);
	assert_int_equal(r.opens, CONNS);
	assert_int_equal(r.destroys, CONNS);
	assert_int_equal(r.events, 3ull * CONNS);
}

// Guards against: violations reported only as counts, with nothing to tell
// which connection or shard broke the contract, or unbounded output.
static void test_print_violations(void **state)
{
	struct fixture *f = *state;
	for (uint64_t i = 1; i <= 30; i++)
		emit(&f->s, conn(1, i), CEE_EVT_CLOSED, 1); // 30 events without open
	struct cee_audit_result r = finish(f, false);
	assert_int_equal(r.out_of_order, 30);

	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	assert_non_null(m);
	cee_audit_print_violations(f->a, m);
	fclose(m);
	assert_non_null(strstr(text, "0100000000000001"));
	assert_non_null(strstr(text, "unknown or destroyed"));
	assert_non_null(strstr(text, "10 more"));
	int lines = 0;
	for (char *p = text; *p != '\0'; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 21);
	free(text);
}

/* ---- extension records and TLS (schema 2) ---- */

static void feed_uneven(struct fixture *f)
{
	uint32_t off = 0, step = 1;
	while (off < f->s.n) {
		uint32_t k = f->s.n - off < step ? f->s.n - off : step;
		cee_audit_feed(f->a, f->s.ev + off, k);
		off += k;
		step = step * 5 % 7 + 1;
	}
}

// Guards against: the audit flagging a correct TLS stream: extension groups
// of one and of several records before tls_up and closed, on two shards
// interleaved, fed in batches that cut groups; the records take part in the
// sseq check, so the shard streams are gapless only if they are counted.
static void test_tls_stream_with_ext_passes(void **state)
{
	struct fixture *f = *state;
	struct stream *s = &f->s;
	uint64_t exts = 0;

	for (uint64_t i = 1; i <= 40; i++) {
		// Interleave two shards' connections record by record.
		struct stream a, b;
		memset(&a, 0, sizeof(a));
		memset(&b, 0, sizeof(b));
		memcpy(a.sseq, s->sseq, sizeof(a.sseq));
		tls_lifecycle(&a, conn(1, i), (size_t)(i * 4));
		memcpy(b.sseq, a.sseq, sizeof(b.sseq));
		tls_lifecycle(&b, conn(2, i), 30);
		for (uint32_t k = 0; k < a.n || k < b.n; k++) {
			if (k < a.n)
				s->ev[s->n++] = a.ev[k];
			if (k < b.n)
				s->ev[s->n++] = b.ev[k];
		}
		memcpy(s->sseq, b.sseq, sizeof(s->sseq));
		for (uint32_t k = 0; k < a.n; k++)
			exts += a.ev[k].type == CEE_EVT_EXT;
		for (uint32_t k = 0; k < b.n; k++)
			exts += b.ev[k].type == CEE_EVT_EXT;
	}
	feed_uneven(f);
	struct cee_audit_result r;
	cee_audit_finish(f->a, false, &r);
	assert_clean(&r);
	assert_int_equal(r.ext_bad, 0);
	assert_int_equal(r.inconsistent, 0);
	assert_int_equal(r.ext, exts);
	assert_true(exts > 80 * 2); // some groups have several records
	assert_int_equal(r.events, s->n - exts);
	assert_int_equal(r.opens, 80);
	assert_int_equal(r.by_reason[CEE_REASON_TLS_CLOSE_NOTIFY], 80);
}

// Guards against: an incomplete group (a part the producer never wrote,
// with sseq still consecutive) passing because its event follows.
static void test_ext_missing_part_detected(void **state)
{
	struct fixture *f = *state;
	struct stream *s = &f->s;
	cee_conn_id_t c = conn(3, 1);
	s->proto = CEE_PROTO_TLS;
	emit(s, c, CEE_EVT_OPEN, 0);
	emit(s, c, CEE_EVT_ESTABLISHED, 1);
	assert_int_equal(ext_for(s, c, CEE_EVT_TLS_UP, 100), 3);
	// Drop the last part and renumber: no gap, just a group short of a part.
	s->n--;
	s->sseq[3]--;
	emit(s, c, CEE_EVT_TLS_UP, 2);
	emit(s, c, CEE_EVT_CLOSED, 3);
	emit(s, c, CEE_EVT_DESTROYED, 4);
	struct cee_audit_result r = finish(f, false);
	assert_int_equal(r.ext_bad, 1);
	assert_int_equal(r.gaps, 0);
	assert_int_equal(r.out_of_order, 0);
	assert_false(r.ok);

	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	cee_audit_print_violations(f->a, m);
	fclose(m);
	assert_non_null(strstr(text, "2 of 3 parts"));
	assert_non_null(strstr(text, "0300000000000001"));
	free(text);
}

// Guards against: a group whose first part is missing being taken for a
// whole one, and the remaining parts each reported again.
static void test_ext_first_part_missing_detected(void **state)
{
	struct fixture *f = *state;
	struct stream *s = &f->s;
	cee_conn_id_t c = conn(3, 2);
	s->proto = CEE_PROTO_TLS;
	emit(s, c, CEE_EVT_OPEN, 0);
	emit(s, c, CEE_EVT_ESTABLISHED, 1);
	assert_int_equal(ext_for(s, c, CEE_EVT_TLS_UP, 100), 3);
	memmove(&s->ev[2], &s->ev[3], 2 * sizeof(s->ev[0]));
	s->n--;
	s->ev[2].sseq--;
	s->ev[3].sseq--;
	s->sseq[3]--;
	emit(s, c, CEE_EVT_TLS_UP, 2);
	struct cee_audit_result r = finish(f, true);
	assert_int_equal(r.ext_bad, 1);
	assert_int_equal(r.gaps, 0);
	assert_false(r.ok);
}

// Guards against: a group not immediately followed by its own event (the
// producer published something in between, or the event of another
// connection or another type came next) going unnoticed.
static void test_ext_not_followed_by_event_detected(void **state)
{
	struct fixture *f = *state;
	struct stream *s = &f->s;
	cee_conn_id_t c = conn(4, 1), d = conn(4, 2);
	s->proto = CEE_PROTO_TLS;
	emit(s, c, CEE_EVT_OPEN, 0);
	emit(s, c, CEE_EVT_ESTABLISHED, 1);
	// (outbound: an accepted one's open and established go out together)
	emit(s, d, CEE_EVT_OPEN, 0)->proto |= CEE_PROTO_F_OUT;
	ext_for(s, c, CEE_EVT_TLS_UP, 10);
	emit(s, d, CEE_EVT_ESTABLISHED, 1); // another connection's event in between
	emit(s, c, CEE_EVT_TLS_UP, 2);
	ext_for(s, c, CEE_EVT_CLOSED, 0);
	emit(s, c, CEE_EVT_CLOSED, 3)->reason = CEE_REASON_TLS_ALERT;
	ext_for(s, d, CEE_EVT_TLS_UP, 10);
	emit(s, d, CEE_EVT_CLOSED, 2); // its own connection, but not tls_up
	emit(s, c, CEE_EVT_DESTROYED, 4);
	emit(s, d, CEE_EVT_DESTROYED, 3);
	struct cee_audit_result r = finish(f, false);
	assert_int_equal(r.ext_bad, 2);
	assert_int_equal(r.gaps, 0);
	assert_int_equal(r.out_of_order, 0);
	assert_int_equal(r.duplicate, 0);
	assert_false(r.ok);

	// A group at the very end: bad at a strict finish, not with live
	// connections allowed (the stream may stop between group and event).
	struct cee_audit *a = cee_audit_create();
	struct stream *t = calloc(1, sizeof(*t));
	t->proto = CEE_PROTO_TLS;
	emit(t, c, CEE_EVT_OPEN, 0);
	emit(t, c, CEE_EVT_ESTABLISHED, 1);
	ext_for(t, c, CEE_EVT_TLS_UP, 10);
	cee_audit_feed(a, t->ev, t->n);
	cee_audit_finish(a, true, &r);
	assert_true(r.ok);
	cee_audit_finish(a, false, &r);
	assert_int_equal(r.ext_bad, 1);
	assert_false(r.ok);
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	cee_audit_print_violations(a, m);
	fclose(m);
	assert_non_null(strstr(text, "at the end, without its event"));
	free(text);
	free(t);
	cee_audit_destroy(a);
}

// Guards against: a lost or re-delivered extension record going unnoticed:
// extension records carry sseq like events, so a consumer's gap check
// covers them.
static void test_ext_gap_and_duplicate_detected(void **state)
{
	struct fixture *f = *state;
	tls_lifecycle(&f->s, conn(6, 1), 100);
	tls_lifecycle(&f->s, conn(6, 2), 10);
	// Lose the second record of conn 1's tls_up group (index 3).
	assert_int_equal(f->s.ev[3].type, CEE_EVT_EXT);
	memmove(&f->s.ev[3], &f->s.ev[4], (f->s.n - 4) * sizeof(f->s.ev[0]));
	f->s.n--;
	struct cee_audit_result r = finish(f, false);
	assert_int_equal(r.gaps, 1);
	assert_int_equal(r.ext_bad, 1); // and the group lacks a part
	assert_false(r.ok);

	struct cee_audit *a = cee_audit_create();
	struct stream *t = calloc(1, sizeof(*t));
	tls_lifecycle(t, conn(6, 3), 10);
	// Re-deliver the tls_up group's record right after itself.
	memmove(&t->ev[3], &t->ev[2], (t->n - 2) * sizeof(t->ev[0]));
	t->n++;
	assert_int_equal(t->ev[2].type, CEE_EVT_EXT);
	cee_audit_feed(a, t->ev, t->n);
	cee_audit_finish(a, false, &r);
	assert_int_equal(r.duplicate, 1);
	assert_int_equal(r.gaps, 0);
	assert_int_equal(r.ext_bad, 0);
	assert_false(r.ok);
	free(t);
	cee_audit_destroy(a);
}

// Guards against: layer milestones out of place: tls_up without an
// established TCP connection, ws_up before the TCP/TLS layers, or either
// reported twice.
static void test_tls_ws_order_detected(void **state)
{
	struct fixture *f = *state;
	struct stream *s = &f->s;
	s->proto = CEE_PROTO_WSS;
	cee_conn_id_t c1 = conn(7, 1), c2 = conn(7, 2), c3 = conn(7, 3), c4 = conn(7, 4);
	emit(s, c1, CEE_EVT_OPEN, 0);
	emit(s, c1, CEE_EVT_TLS_UP, 1); // without established
	emit(s, c2, CEE_EVT_OPEN, 0);
	emit(s, c2, CEE_EVT_WS_UP, 1); // without established
	emit(s, c3, CEE_EVT_OPEN, 0);
	emit(s, c3, CEE_EVT_ESTABLISHED, 1);
	emit(s, c3, CEE_EVT_TLS_UP, 2);
	emit(s, c3, CEE_EVT_TLS_UP, 3); // twice
	s->proto = CEE_PROTO_WS;
	emit(s, c4, CEE_EVT_OPEN, 0);
	emit(s, c4, CEE_EVT_ESTABLISHED, 1);
	emit(s, c4, CEE_EVT_WS_UP, 2); // ws over plain TCP: fine
	struct cee_audit_result r = finish(f, true);
	assert_int_equal(r.out_of_order, 2);
	assert_int_equal(r.duplicate, 1);
	assert_int_equal(r.gaps, 0);
	assert_false(r.ok);
}

// Guards against (review of the auditor's detection power), each passing
// the audit before: a tls link reported up right after established (the
// control plane sent on a link whose TLS handshake then failed); ws_up on
// wss without tls_up; tls_up on a tcp connection, ws_up on a tls one; an
// event whose proto is not its open's; a closed without its cause (reason
// none, or one no engine has); link events naming another link than the
// open's, or a connection opened without one; a link_down of another
// attempt than its link_up's.
static void test_layers_links_causes_detected(void **state)
{
	struct fixture *f = *state;
	struct stream *s = &f->s;
	cee_conn_id_t c1 = conn(3, 1), c2 = conn(3, 2), c3 = conn(3, 3), c4 = conn(3, 4);

	s->proto = CEE_PROTO_TLS; // a tls link up at established: out of order
	emit_link_open(s, c1, "tl");
	emit(s, c1, CEE_EVT_ESTABLISHED, 1);
	emit_link(s, c1, CEE_EVT_LINK_UP, 2, "tl");
	emit(s, c1, CEE_EVT_CLOSED, 3)->reason = CEE_REASON_TLS_ALERT;
	emit_link(s, c1, CEE_EVT_LINK_DOWN, 4, "tl")->reason = CEE_REASON_TLS_ALERT;
	emit(s, c1, CEE_EVT_DESTROYED, 5);
	s->proto = CEE_PROTO_WSS; // ws_up without tls_up: out of order
	emit(s, c2, CEE_EVT_OPEN, 0);
	emit(s, c2, CEE_EVT_ESTABLISHED, 1);
	emit(s, c2, CEE_EVT_WS_UP, 2);
	emit(s, c2, CEE_EVT_CLOSED, 3);
	emit(s, c2, CEE_EVT_DESTROYED, 4);
	s->proto = CEE_PROTO_TCP; // tls_up on tcp, and its closed as tls: inconsistent twice
	emit(s, c3, CEE_EVT_OPEN, 0);
	emit(s, c3, CEE_EVT_ESTABLISHED, 1);
	emit(s, c3, CEE_EVT_TLS_UP, 2);
	emit(s, c3, CEE_EVT_CLOSED, 3)->proto = CEE_PROTO_TLS;
	emit(s, c3, CEE_EVT_DESTROYED, 4);
	s->proto = CEE_PROTO_TLS; // ws_up on tls: inconsistent
	emit(s, c4, CEE_EVT_OPEN, 0);
	emit(s, c4, CEE_EVT_ESTABLISHED, 1);
	emit(s, c4, CEE_EVT_TLS_UP, 2);
	emit(s, c4, CEE_EVT_WS_UP, 3);
	emit(s, c4, CEE_EVT_CLOSED, 4);
	emit(s, c4, CEE_EVT_DESTROYED, 5);
	// closed without a cause (one no engine has: test_unknown_reason_counted)
	s->proto = CEE_PROTO_TCP;
	lifecycle(s, conn(3, 5));
	s->ev[s->n - 2].reason = CEE_REASON_NONE;
	struct cee_audit_result r = finish(f, false);
	assert_int_equal(r.out_of_order, 3); // c1, c2, and c4's ws_up (not after established)
	assert_int_equal(r.inconsistent, 4);
	assert_int_equal(r.link_bad, 0);
	assert_int_equal(r.duplicate, 0);
	assert_int_equal(r.gaps, 0);
	assert_false(r.ok);

	// links: another link's name, a connection opened without one, another attempt
	cee_audit_destroy(f->a);
	f->a = cee_audit_create();
	assert_non_null(f->a);
	memset(s, 0, sizeof(*s));
	link_up_tcp(s, conn(4, 1), "a");
	emit(s, conn(4, 1), CEE_EVT_CLOSED, 3);
	emit_link(s, conn(4, 1), CEE_EVT_LINK_DOWN, 4, "b"); // b was never up either
	emit(s, conn(4, 1), CEE_EVT_DESTROYED, 5);
	emit(s, conn(4, 2), CEE_EVT_OPEN, 0)->proto |= CEE_PROTO_F_OUT; // no link named
	emit(s, conn(4, 2), CEE_EVT_ESTABLISHED, 1);
	emit_link(s, conn(4, 2), CEE_EVT_LINK_UP, 2, "c");
	emit(s, conn(4, 2), CEE_EVT_CLOSED, 3);
	struct cee_ext_builder b;
	cee_ext_begin(&b, conn(4, 2), CEE_EVT_LINK_DOWN);
	cee_ext_put_str(&b, CEE_EXT_LINK, "c");
	cee_ext_put_u32(&b, CEE_EXT_ATTEMPT, 3); // its link_up said 2 (conn(4, 2)'s serial)
	emit_group(s, &b);
	emit(s, conn(4, 2), CEE_EVT_LINK_DOWN, 4);
	emit(s, conn(4, 2), CEE_EVT_DESTROYED, 5);
	r = finish(f, false);
	// conn 1: link_down for b, another link than its open's (1), and b was
	// never up (1); conn 2: up and down for a link its open did not name
	// (2), another attempt (1)
	assert_int_equal(r.link_bad, 5);
	assert_int_equal(r.out_of_order, 0);
	assert_int_equal(r.inconsistent, 0);
	assert_false(r.ok);

	// and the honest forms of each pass
	cee_audit_destroy(f->a);
	f->a = cee_audit_create();
	assert_non_null(f->a);
	memset(s, 0, sizeof(*s));
	s->proto = CEE_PROTO_TLS;
	emit_link_open(s, conn(5, 1), "ok");
	emit(s, conn(5, 1), CEE_EVT_ESTABLISHED, 1);
	emit(s, conn(5, 1), CEE_EVT_TLS_UP, 2);
	emit_link(s, conn(5, 1), CEE_EVT_LINK_UP, 3, "ok");
	emit(s, conn(5, 1), CEE_EVT_CLOSED, 4)->reason = CEE_REASON_TLS_CLOSE_NOTIFY;
	emit_link(s, conn(5, 1), CEE_EVT_LINK_DOWN, 5, "ok")->reason = CEE_REASON_TLS_CLOSE_NOTIFY;
	emit(s, conn(5, 1), CEE_EVT_DESTROYED, 6);
	s->proto = CEE_PROTO_WSS;
	emit(s, conn(5, 2), CEE_EVT_OPEN, 0);
	emit(s, conn(5, 2), CEE_EVT_ESTABLISHED, 1);
	emit(s, conn(5, 2), CEE_EVT_TLS_UP, 2);
	emit(s, conn(5, 2), CEE_EVT_WS_UP, 3);
	emit(s, conn(5, 2), CEE_EVT_CLOSED, 4)->reason = CEE_REASON_WS_CLOSE;
	emit(s, conn(5, 2), CEE_EVT_DESTROYED, 5);
	r = finish(f, false);
	assert_clean(&r);
	assert_int_equal(r.inconsistent, 0);
	assert_int_equal(r.link_bad, 0);
}

// Guards against (session 18 review of the schema): streams the docs forbid
// passing: an accepted connection's open followed by anything but its
// established (it is announced when its handshake completed), and a link's
// last connection destroyed after link_up without its link_down (no later
// event of the link showed it).
static void test_inbound_open_and_last_link_down(void **state)
{
	struct fixture *f = *state;
	struct stream *s = &f->s;
	cee_conn_id_t c = conn(2, 1);
	emit(s, c, CEE_EVT_OPEN, 0); /* inbound */
	emit(s, c, CEE_EVT_CLOSED, 1);
	emit(s, c, CEE_EVT_DESTROYED, 2);
	struct cee_audit_result r = finish(f, false);
	assert_int_equal(r.out_of_order, 1);
	assert_false(r.ok);

	cee_audit_destroy(f->a);
	f->a = cee_audit_create();
	assert_non_null(f->a);
	memset(s, 0, sizeof(*s));
	link_up_tcp(s, conn(2, 2), "last");
	emit(s, conn(2, 2), CEE_EVT_CLOSED, 3);
	emit(s, conn(2, 2), CEE_EVT_DESTROYED, 4);
	r = finish(f, false);
	assert_int_equal(r.link_bad, 1);
	assert_int_equal(r.out_of_order, 0);
	assert_false(r.ok);
}

// An outbound connection of @p proto that closes with @p reason after the
// milestones @p upto (event types, in contract order, 0-terminated).
static void closed_after(struct stream *s, cee_conn_id_t c, uint8_t proto, enum cee_reason reason,
			 const uint8_t *upto)
{
	uint8_t cs = 0;
	s->proto = proto;
	emit(s, c, CEE_EVT_OPEN, cs++)->proto |= CEE_PROTO_F_OUT;
	for (; *upto != 0; upto++)
		emit(s, c, (enum cee_evt_type)*upto, cs++);
	emit(s, c, CEE_EVT_CLOSED, cs++)->reason = (uint8_t)reason;
	emit(s, c, CEE_EVT_DESTROYED, cs++);
	s->proto = CEE_PROTO_TCP;
}

static const uint8_t UPTO_OPEN[] = {0};
static const uint8_t UPTO_EST[] = {CEE_EVT_ESTABLISHED, 0};
static const uint8_t UPTO_TLS[] = {CEE_EVT_ESTABLISHED, CEE_EVT_TLS_UP, 0};
static const uint8_t UPTO_WS[] = {CEE_EVT_ESTABLISHED, CEE_EVT_WS_UP, 0};
static const uint8_t UPTO_WSS[] = {CEE_EVT_ESTABLISHED, CEE_EVT_TLS_UP, CEE_EVT_WS_UP, 0};

// An outbound connection of @p proto that closes with @p reason at once.
static void closed_on(struct stream *s, cee_conn_id_t c, uint8_t proto, enum cee_reason reason)
{
	closed_after(s, c, proto, reason, UPTO_OPEN);
}

// Guards against: a TLS close reason on a connection that never ran TLS
// (a cause recorded on the wrong connection or layer).
static void test_tls_reason_needs_tls_proto(void **state)
{
	struct fixture *f = *state;
	struct stream *s = &f->s;
	// (outbound opens: closed may follow an outbound open at once)
	closed_on(s, conn(8, 1), CEE_PROTO_TCP, CEE_REASON_TLS_ALERT);
	closed_on(s, conn(8, 3), CEE_PROTO_WS, CEE_REASON_TLS_CLOSE_NOTIFY);
	closed_after(s, conn(8, 2), CEE_PROTO_TLS, CEE_REASON_TLS_ALERT, UPTO_EST); // fine
	// (session 18 review) a WebSocket reason on a connection that never ran
	// WebSocket: passed; and on one that did, fine
	closed_on(s, conn(8, 4), CEE_PROTO_TCP, CEE_REASON_WS_CLOSE);
	closed_after(s, conn(8, 5), CEE_PROTO_WSS, CEE_REASON_WS_UPGRADE_FAILED, UPTO_TLS); // fine
	struct cee_audit_result r = finish(f, false);
	assert_int_equal(r.inconsistent, 3);
	assert_int_equal(r.out_of_order, 0);
	assert_int_equal(r.lost, 0);
	assert_false(r.ok);
}

// Guards against (review of cee-audit): a close reason of a
// newer engine (reasons are appended within a schema version:
// docs/events.md, Versioning) failing the audit as inconsistent, where a
// consumer is to take it for a cause it cannot act on; and it going by
// uncounted. It is counted in unknown_reason, the audit stays OK, and its
// link_down carrying the same reason is consistent.
static void test_unknown_reason_counted(void **state)
{
	struct fixture *f = *state;
	struct stream *s = &f->s;
	lifecycle(s, conn(3, 1));
	s->ev[s->n - 2].reason = CEE_REASON__COUNT + 3;
	lifecycle(s, conn(3, 2));
	s->ev[s->n - 2].reason = UINT8_MAX;
	lifecycle(s, conn(3, 3)); // a known one
	link_up_tcp(s, conn(3, 4), "new");
	emit(s, conn(3, 4), CEE_EVT_CLOSED, 3)->reason = CEE_REASON__COUNT;
	emit_link(s, conn(3, 4), CEE_EVT_LINK_DOWN, 4, "new")->reason = CEE_REASON__COUNT;
	emit(s, conn(3, 4), CEE_EVT_DESTROYED, 5);
	struct cee_audit_result r = finish(f, false);
	assert_clean(&r);
	assert_int_equal(r.unknown_reason, 3);
	assert_int_equal(r.closes, 4);
	assert_int_equal(r.by_reason[CEE_REASON_PEER_FIN], 1);
	assert_int_equal(r.inconsistent, 0);
	assert_int_equal(r.link_bad, 0);

	// reason none is still a close without its cause
	cee_audit_destroy(f->a);
	f->a = cee_audit_create();
	assert_non_null(f->a);
	memset(s, 0, sizeof(*s));
	lifecycle(s, conn(3, 5));
	s->ev[s->n - 2].reason = CEE_REASON_NONE;
	r = finish(f, false);
	assert_int_equal(r.inconsistent, 1);
	assert_int_equal(r.unknown_reason, 0);
	assert_false(r.ok);
}

// Guards against (review of cee-audit): a close reason that
// contradicts the state its connection reached passing because only its
// protocol was checked: a handshake_timeout after the handshake it names
// was done, a TLS reason before TCP was up, a WebSocket Close or ping
// timeout before the upgrade, an upgrade refused after ws_up, keepalive or
// zero-window timeouts before established, host_unreachable (no SYN sent)
// after established or on an accepted connection. Each is inconsistent
// once; the honest forms of each pass (docs/events.md, Reasons).
static void test_reason_rules_detected(void **state)
{
	struct fixture *f = *state;
	struct stream *s = &f->s;
	uint64_t n = 0;
	// broken: 11
	closed_after(s, conn(7, ++n), CEE_PROTO_TLS, CEE_REASON_TLS_ALERT, UPTO_OPEN);
	closed_after(s, conn(7, ++n), CEE_PROTO_TCP, CEE_REASON_HANDSHAKE_TIMEOUT, UPTO_EST);
	closed_after(s, conn(7, ++n), CEE_PROTO_TLS, CEE_REASON_HANDSHAKE_TIMEOUT, UPTO_TLS);
	closed_after(s, conn(7, ++n), CEE_PROTO_WS, CEE_REASON_WS_CLOSE, UPTO_EST);
	closed_after(s, conn(7, ++n), CEE_PROTO_WSS, CEE_REASON_WS_PING_TIMEOUT, UPTO_TLS);
	closed_after(s, conn(7, ++n), CEE_PROTO_WS, CEE_REASON_WS_UPGRADE_FAILED, UPTO_WS);
	closed_after(s, conn(7, ++n), CEE_PROTO_WSS, CEE_REASON_WS_UPGRADE_FAILED, UPTO_EST);
	closed_after(s, conn(7, ++n), CEE_PROTO_TCP, CEE_REASON_KEEPALIVE_TIMEOUT, UPTO_OPEN);
	closed_after(s, conn(7, ++n), CEE_PROTO_TCP, CEE_REASON_ZERO_WINDOW_TIMEOUT, UPTO_OPEN);
	closed_after(s, conn(7, ++n), CEE_PROTO_TCP, CEE_REASON_HOST_UNREACHABLE, UPTO_EST);
	s->proto = CEE_PROTO_TCP; // an accepted connection
	lifecycle(s, conn(7, ++n));
	s->ev[s->n - 2].reason = CEE_REASON_HOST_UNREACHABLE;
	struct cee_audit_result r = finish(f, false);
	assert_int_equal(r.inconsistent, 11);
	assert_int_equal(r.out_of_order, 0);
	assert_int_equal(r.lost, 0);
	assert_false(r.ok);

	// the honest forms
	cee_audit_destroy(f->a);
	f->a = cee_audit_create();
	assert_non_null(f->a);
	memset(s, 0, sizeof(*s));
	closed_after(s, conn(7, ++n), CEE_PROTO_TCP, CEE_REASON_HANDSHAKE_TIMEOUT, UPTO_OPEN);
	closed_after(s, conn(7, ++n), CEE_PROTO_TLS, CEE_REASON_HANDSHAKE_TIMEOUT, UPTO_EST);
	closed_after(s, conn(7, ++n), CEE_PROTO_WSS, CEE_REASON_HANDSHAKE_TIMEOUT, UPTO_TLS);
	// the TLS handshake's alert: no tls_up (docs/events.md's example)
	closed_after(s, conn(7, ++n), CEE_PROTO_TLS, CEE_REASON_TLS_ALERT, UPTO_EST);
	closed_after(s, conn(7, ++n), CEE_PROTO_TLS, CEE_REASON_TLS_CLOSE_NOTIFY, UPTO_TLS);
	closed_after(s, conn(7, ++n), CEE_PROTO_WS, CEE_REASON_WS_UPGRADE_FAILED, UPTO_EST);
	closed_after(s, conn(7, ++n), CEE_PROTO_WSS, CEE_REASON_WS_UPGRADE_FAILED, UPTO_TLS);
	closed_after(s, conn(7, ++n), CEE_PROTO_WS, CEE_REASON_WS_CLOSE, UPTO_WS);
	closed_after(s, conn(7, ++n), CEE_PROTO_WSS, CEE_REASON_WS_PING_TIMEOUT, UPTO_WSS);
	closed_after(s, conn(7, ++n), CEE_PROTO_TCP, CEE_REASON_KEEPALIVE_TIMEOUT, UPTO_EST);
	closed_after(s, conn(7, ++n), CEE_PROTO_TCP, CEE_REASON_ZERO_WINDOW_TIMEOUT, UPTO_EST);
	closed_after(s, conn(7, ++n), CEE_PROTO_TCP, CEE_REASON_HOST_UNREACHABLE, UPTO_OPEN);
	// no rule: any state
	closed_after(s, conn(7, ++n), CEE_PROTO_TLS, CEE_REASON_PEER_RST, UPTO_OPEN);
	closed_after(s, conn(7, ++n), CEE_PROTO_WSS, CEE_REASON_SHUTDOWN, UPTO_WSS);
	r = finish(f, false);
	assert_clean(&r);
	assert_int_equal(r.inconsistent, 0);
}

// Sets @p e's 4-tuple: 10.0.0.1:@p lport - 10.0.0.@p rhost:@p rport.
static struct cee_event *tuple(struct cee_event *e, uint16_t lport, uint8_t rhost, uint16_t rport)
{
	e->local_ip = 0x0a000001;
	e->remote_ip = 0x0a000000 | rhost;
	e->local_port = lport;
	e->remote_port = rport;
	return e;
}

// Guards against (review of cee-audit; design fault 1, an
// address taken for a connection's name): events of one id carrying
// another 4-tuple than its open passed, so a stream that put one
// connection's events under another's id (a slot reused, a table keyed by
// address) audited clean wherever the types and sequence numbers fitted.
// Each event whose 4-tuple is not its open's is inconsistent once, its
// destroyed too; two connections on one 4-tuple one after the other (a
// reconnect from the same port, the old one's destroyed late) pass.
static void test_tuple_tied_to_id(void **state)
{
	struct fixture *f = *state;
	struct stream *s = &f->s;
	cee_conn_id_t c = conn(6, 1);
	tuple(emit(s, c, CEE_EVT_OPEN, 0), 5060, 2, 40000);
	tuple(emit(s, c, CEE_EVT_ESTABLISHED, 1), 5060, 2, 40001); // remote port
	tuple(emit(s, c, CEE_EVT_CLOSED, 2), 5061, 2, 40000);	  // local port
	tuple(emit(s, c, CEE_EVT_DESTROYED, 3), 5060, 3, 40000);   // remote address
	struct cee_audit_result r = finish(f, false);
	assert_int_equal(r.inconsistent, 3);
	assert_int_equal(r.out_of_order, 0);
	assert_int_equal(r.duplicate, 0);
	assert_int_equal(r.lost, 0);
	assert_false(r.ok);

	cee_audit_destroy(f->a);
	f->a = cee_audit_create();
	assert_non_null(f->a);
	memset(s, 0, sizeof(*s));
	cee_conn_id_t old = conn(6, 2), next = conn(6, 3), other = conn(7, 1);
	tuple(emit(s, old, CEE_EVT_OPEN, 0), 5060, 2, 40000);
	tuple(emit(s, old, CEE_EVT_ESTABLISHED, 1), 5060, 2, 40000);
	tuple(emit(s, other, CEE_EVT_OPEN, 0), 5060, 9, 40000);
	tuple(emit(s, other, CEE_EVT_ESTABLISHED, 1), 5060, 9, 40000);
	tuple(emit(s, old, CEE_EVT_CLOSED, 2), 5060, 2, 40000);
	tuple(emit(s, next, CEE_EVT_OPEN, 0), 5060, 2, 40000); // the same 4-tuple again
	tuple(emit(s, next, CEE_EVT_ESTABLISHED, 1), 5060, 2, 40000);
	tuple(emit(s, old, CEE_EVT_DESTROYED, 3), 5060, 2, 40000); // late, after next's open
	tuple(emit(s, other, CEE_EVT_CLOSED, 2), 5060, 9, 40000);
	tuple(emit(s, next, CEE_EVT_CLOSED, 2), 5060, 2, 40000);
	tuple(emit(s, next, CEE_EVT_DESTROYED, 3), 5060, 2, 40000);
	tuple(emit(s, other, CEE_EVT_DESTROYED, 3), 5060, 9, 40000);
	r = finish(f, false);
	assert_clean(&r);
	assert_int_equal(r.inconsistent, 0);
}

// Guards against (review of cee-audit): link events whose
// attempt ordinal breaks docs/events.md passing: a link_up whose attempt
// is not past every earlier link_up's of its link (the ordinal counts the
// link's attempts since the engine started: backwards or repeated is a
// stale or misattributed event), a link event without an attempt or with
// attempt 0 (it passed when link_up and link_down both lacked it), and a
// link_up with next_attempt_ms (link_down's). Each is link_bad once;
// ordinals with holes (attempts that never came up) and per-link ordinals
// pass.
static void test_link_attempts_detected(void **state)
{
	struct fixture *f = *state;
	struct stream *s = &f->s;
	struct {
		cee_conn_id_t c;
		const char *name;
		uint32_t up, down; // attempts (0: none)
		bool next_on_up;
	} broken[] = {
		{conn(1, 1), "a", 3, 3, false},
		{conn(1, 2), "a", 2, 2, false}, // backwards
		{conn(1, 3), "a", 3, 3, false}, // repeated
		{conn(1, 4), "a", 0, 4, false}, // link_up without one (and 4 != its 0)
		{conn(1, 5), "a", 5, 0, false}, // link_down without one
		{conn(1, 6), "a", 6, 6, true},  // next_attempt_ms on link_up
		{conn(1, 7), "b", 0, 0, false}, // neither (it passed)
	};
	for (unsigned i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		cee_conn_id_t c = broken[i].c;
		emit_link_open(s, c, broken[i].name);
		emit(s, c, CEE_EVT_ESTABLISHED, 1);
		emit_link_att(s, c, CEE_EVT_LINK_UP, 2, broken[i].name, broken[i].up,
			      broken[i].next_on_up);
		emit(s, c, CEE_EVT_CLOSED, 3);
		emit_link_att(s, c, CEE_EVT_LINK_DOWN, 4, broken[i].name, broken[i].down, true);
		emit(s, c, CEE_EVT_DESTROYED, 5);
	}
	struct cee_audit_result r = finish(f, false);
	// backwards 1, repeated 1, conn 4's up 1 (+1: its down's 4 is not its
	// up's), conn 5's down 1, conn 6's up 1, conn 7 2
	assert_int_equal(r.link_bad, 8);
	assert_int_equal(r.link_up, 7);
	assert_int_equal(r.out_of_order, 0);
	assert_int_equal(r.inconsistent, 0);
	assert_false(r.ok);

	// holes (attempts that never came up) and two links' own ordinals
	cee_audit_destroy(f->a);
	f->a = cee_audit_create();
	assert_non_null(f->a);
	memset(s, 0, sizeof(*s));
	const uint32_t att[] = {1, 4, 9};
	for (unsigned i = 0; i < 3; i++)
		for (unsigned l = 0; l < 2; l++) {
			cee_conn_id_t c = conn(2 + l, 1 + i);
			const char *name = l ? "y" : "x";
			emit_link_open(s, c, name);
			emit(s, c, CEE_EVT_ESTABLISHED, 1);
			emit_link_att(s, c, CEE_EVT_LINK_UP, 2, name, att[i], false);
			emit(s, c, CEE_EVT_CLOSED, 3);
			emit_link_att(s, c, CEE_EVT_LINK_DOWN, 4, name, att[i], i < 2);
			emit(s, c, CEE_EVT_DESTROYED, 5);
		}
	r = finish(f, false);
	assert_clean(&r);
	assert_int_equal(r.link_bad, 0);
	assert_int_equal(r.link_up, 6);
}

// Guards against: malformed extension records (no valid group shape, or
// one part past a complete group) being accepted or crashing the audit.
static void test_ext_malformed_detected(void **state)
{
	struct fixture *f = *state;
	struct stream *s = &f->s;
	cee_conn_id_t c = conn(9, 1);
	s->proto = CEE_PROTO_TLS;
	emit(s, c, CEE_EVT_OPEN, 0);
	emit(s, c, CEE_EVT_ESTABLISHED, 1);
	ext_for(s, c, CEE_EVT_TLS_UP, 10);
	struct cee_event_ext x;
	memcpy(&x, &s->ev[s->n - 1], sizeof(x));
	x.parts = CEE_EVT_EXT_MAX + 1; // more parts than a group may have
	x.part = 0;
	memcpy(&s->ev[s->n - 1], &x, sizeof(x));
	emit(s, c, CEE_EVT_TLS_UP, 2);
	struct cee_audit_result r = finish(f, true);
	assert_int_equal(r.ext_bad, 1);
	assert_int_equal(r.ext, 1);
	assert_int_equal(r.gaps, 0);
	assert_false(r.ok);

	// A record past a complete group (part == parts) is not one more part.
	struct cee_audit *a = cee_audit_create();
	struct stream *t = calloc(1, sizeof(*t));
	t->proto = CEE_PROTO_TLS;
	emit(t, c, CEE_EVT_OPEN, 0);
	emit(t, c, CEE_EVT_ESTABLISHED, 1);
	unsigned n = ext_for(t, c, CEE_EVT_TLS_UP, 10);
	memcpy(&x, &t->ev[t->n - 1], sizeof(x));
	x.part = (uint8_t)n;
	x.sseq = ++t->sseq[9];
	memcpy(&t->ev[t->n++], &x, sizeof(x));
	emit(t, c, CEE_EVT_TLS_UP, 2);
	cee_audit_feed(a, t->ev, t->n);
	cee_audit_finish(a, true, &r);
	assert_true(r.ext_bad >= 1);
	assert_int_equal(r.gaps, 0);
	assert_false(r.ok);
	free(t);
	cee_audit_destroy(a);
}

// Guards against: the audit refusing correct link streams (schema 3): the
// contract order by rank, not by type number (link_up = 6 comes before
// closed = 4), a connection with all 8 events (cseq 0..7: one more than
// before links), a TLS link, an attempt that never came up (no link
// events), and several links interleaved on shards.
static void test_link_stream_passes(void **state)
{
	struct fixture *f = *state;
	struct stream *s = &f->s;
	cee_conn_id_t a = conn(1, 1), b = conn(1, 2), t = conn(2, 1), w = conn(2, 2),
		      x = conn(1, 3);

	// open, established, link_up, closed, link_down, destroyed
	link_up_tcp(s, a, "a");
	link_down_tcp(s, a, "a");
	// a failed attempt of link a: no link events
	emit_link_open(s, x, "a");
	emit(s, x, CEE_EVT_CLOSED, 1)->reason = CEE_REASON_PEER_RST;
	emit(s, x, CEE_EVT_DESTROYED, 2);
	// a TLS link, interleaved with link a's next connection
	s->proto = CEE_PROTO_TLS;
	emit_link_open(s, t, "t");
	s->proto = CEE_PROTO_TCP;
	link_up_tcp(s, b, "a");
	s->proto = CEE_PROTO_TLS;
	emit(s, t, CEE_EVT_ESTABLISHED, 1);
	emit(s, t, CEE_EVT_TLS_UP, 2);
	emit_link(s, t, CEE_EVT_LINK_UP, 3, "t");
	emit(s, t, CEE_EVT_CLOSED, 4)->reason = CEE_REASON_TLS_CLOSE_NOTIFY;
	emit_link(s, t, CEE_EVT_LINK_DOWN, 5, "t")->reason = CEE_REASON_TLS_CLOSE_NOTIFY;
	emit(s, t, CEE_EVT_DESTROYED, 6);
	// every event a connection can have: cseq 0..7
	s->proto = CEE_PROTO_WSS;
	emit_link_open(s, w, "t");
	emit(s, w, CEE_EVT_ESTABLISHED, 1);
	emit(s, w, CEE_EVT_TLS_UP, 2);
	emit(s, w, CEE_EVT_WS_UP, 3);
	emit_link(s, w, CEE_EVT_LINK_UP, 4, "t");
	emit(s, w, CEE_EVT_CLOSED, 5);
	emit_link(s, w, CEE_EVT_LINK_DOWN, 6, "t");
	emit(s, w, CEE_EVT_DESTROYED, 7);
	s->proto = CEE_PROTO_TCP;
	link_down_tcp(s, b, "a");

	struct cee_audit_result r = finish(f, false);
	assert_clean(&r);
	assert_int_equal(r.link_up, 4);
	assert_int_equal(r.link_down, 4);
	assert_int_equal(r.link_bad, 0);
	assert_int_equal(r.inconsistent, 0);
	assert_int_equal(r.ext_bad, 0);
	assert_int_equal(r.opens, 5);
	assert_int_equal(r.destroys, 5);
}

// Guards against: design fault 1 on links: the old connection's late
// destroyed (after TIME-WAIT) arriving after the next connection's link_up
// taken for an event of the new connection or of the link. Ids differ, so
// it is in order: consumers key by id.
static void test_link_late_destroyed_passes(void **state)
{
	struct fixture *f = *state;
	struct stream *s = &f->s;
	cee_conn_id_t old = conn(3, 1), next = conn(3, 2);

	link_up_tcp(s, old, "sip");
	emit(s, old, CEE_EVT_CLOSED, 3)->reason = CEE_REASON_LOCAL_CLOSE;
	emit_link(s, old, CEE_EVT_LINK_DOWN, 4, "sip")->reason = CEE_REASON_LOCAL_CLOSE;
	link_up_tcp(s, next, "sip");
	emit(s, old, CEE_EVT_DESTROYED, 5); // TIME-WAIT over, after next's link_up
	link_down_tcp(s, next, "sip");

	struct cee_audit_result r = finish(f, false);
	assert_clean(&r);
	assert_int_equal(r.link_up, 2);
	assert_int_equal(r.link_down, 2);
	assert_int_equal(r.link_bad, 0);
	assert_int_equal(r.inconsistent, 0);
}

// Guards against: a link reported up before its connection is (link_up
// before established: a consumer would send on a link that cannot carry
// data yet).
static void test_link_up_before_established_detected(void **state)
{
	struct fixture *f = *state;
	struct stream *s = &f->s;
	cee_conn_id_t c = conn(4, 1);

	emit_link_open(s, c, "a");
	emit_link(s, c, CEE_EVT_LINK_UP, 1, "a");
	emit(s, c, CEE_EVT_ESTABLISHED, 2); // ranks before link_up
	emit(s, c, CEE_EVT_CLOSED, 3);
	emit_link(s, c, CEE_EVT_LINK_DOWN, 4, "a");
	emit(s, c, CEE_EVT_DESTROYED, 5);
	struct cee_audit_result r = finish(f, false);
	assert_int_equal(r.out_of_order, 2); // link_up right after open; established after it
	assert_int_equal(r.gaps, 0);
	assert_int_equal(r.link_bad, 0);
	assert_false(r.ok);
}

// Guards against: a link reported down while its connection still carries
// data (link_down before closed), or with another reason than its
// connection's close (the control plane acts on the reason).
static void test_link_down_before_closed_detected(void **state)
{
	struct fixture *f = *state;
	struct stream *s = &f->s;
	cee_conn_id_t c = conn(4, 2), d = conn(4, 3);

	link_up_tcp(s, c, "a");
	emit_link(s, c, CEE_EVT_LINK_DOWN, 3, "a");
	emit(s, c, CEE_EVT_CLOSED, 4); // ranks before link_down
	emit(s, c, CEE_EVT_DESTROYED, 5);
	struct cee_audit_result r = finish(f, false);
	assert_int_equal(r.out_of_order, 2); // link_down right after link_up; closed after it
	assert_int_equal(r.inconsistent, 0);
	assert_int_equal(r.link_bad, 0);
	assert_false(r.ok);

	// In order, but with a reason its closed did not have.
	struct cee_audit *a = cee_audit_create();
	struct stream *t = calloc(1, sizeof(*t));
	link_up_tcp(t, d, "b");
	emit(t, d, CEE_EVT_CLOSED, 3)->reason = CEE_REASON_PEER_RST;
	emit_link(t, d, CEE_EVT_LINK_DOWN, 4, "b")->reason = CEE_REASON_IDLE_TIMEOUT;
	emit(t, d, CEE_EVT_DESTROYED, 5);
	cee_audit_feed(a, t->ev, t->n);
	cee_audit_finish(a, false, &r);
	assert_int_equal(r.inconsistent, 1);
	assert_int_equal(r.out_of_order, 0);
	assert_int_equal(r.link_bad, 0);
	assert_false(r.ok);
	free(t);
	cee_audit_destroy(a);
}

// Guards against: design fault 1 on links: a link_down naming another
// connection than the one that was up (an old id's down taken for the new
// one's, so the control plane drops a link that is up).
static void test_link_down_wrong_id_detected(void **state)
{
	struct fixture *f = *state;
	struct stream *s = &f->s;
	cee_conn_id_t c1 = conn(5, 1), c2 = conn(5, 2);

	link_up_tcp(s, c1, "a");
	emit(s, c1, CEE_EVT_CLOSED, 3);
	emit(s, c1, CEE_EVT_DESTROYED, 4); // its link_down is missing ...
	emit_link_open(s, c2, "a");
	emit(s, c2, CEE_EVT_ESTABLISHED, 1);
	emit(s, c2, CEE_EVT_CLOSED, 2);
	emit_link(s, c2, CEE_EVT_LINK_DOWN, 3, "a"); // ... c2 never was up
	emit(s, c2, CEE_EVT_DESTROYED, 4);
	struct cee_audit_result r = finish(f, false);
	assert_int_equal(r.link_bad, 2); // c1 destroyed without it, c2's down (never up)
	assert_int_equal(r.link_up, 1);
	assert_int_equal(r.link_down, 1);
	assert_int_equal(r.out_of_order, 0);
	assert_int_equal(r.gaps, 0);
	assert_int_equal(r.lost, 0);
	assert_false(r.ok);
}

// Guards against: a link reported up twice without a down between (a lost
// link_down: the control plane would keep the first connection as the
// link's), and a link_down of a link that never was up.
static void test_two_link_ups_detected(void **state)
{
	struct fixture *f = *state;
	struct stream *s = &f->s;
	cee_conn_id_t c1 = conn(6, 1), c2 = conn(6, 2), c3 = conn(6, 3);

	link_up_tcp(s, c1, "a");
	emit(s, c1, CEE_EVT_CLOSED, 3);
	emit(s, c1, CEE_EVT_DESTROYED, 4); // no link_down
	link_up_tcp(s, c2, "a");          // second link_up in a row
	link_down_tcp(s, c2, "a");
	// Another link starting with a link_down.
	emit_link_open(s, c3, "b");
	emit(s, c3, CEE_EVT_ESTABLISHED, 1);
	emit(s, c3, CEE_EVT_CLOSED, 2);
	emit_link(s, c3, CEE_EVT_LINK_DOWN, 3, "b");
	emit(s, c3, CEE_EVT_DESTROYED, 4);
	struct cee_audit_result r = finish(f, false);
	assert_int_equal(r.link_bad, 2); // c1 destroyed without it (once: not again at the
					  // second up), b's down
	assert_int_equal(r.link_up, 2);
	assert_int_equal(r.link_down, 2);
	assert_int_equal(r.out_of_order, 0);
	assert_false(r.ok);
}

// Guards against: a link_up on a connection a listener accepted (dir in): a
// link's state attached to the wrong connection; and a link event whose
// link cannot be told (no name in its extension group).
static void test_link_up_inbound_detected(void **state)
{
	struct fixture *f = *state;
	struct stream *s = &f->s;
	cee_conn_id_t c = conn(7, 1), d = conn(7, 2);

	emit(s, c, CEE_EVT_OPEN, 0); // no CEE_PROTO_F_OUT: inbound
	emit(s, c, CEE_EVT_ESTABLISHED, 1);
	emit_link(s, c, CEE_EVT_LINK_UP, 2, "a");
	struct cee_audit_result r = finish(f, true);
	assert_int_equal(r.link_bad, 2); // inbound, and its open named no link
	assert_int_equal(r.out_of_order, 0);
	assert_false(r.ok);

	struct cee_audit *a = cee_audit_create();
	struct stream *t = calloc(1, sizeof(*t));
	emit_link_open(t, d, "b");
	emit(t, d, CEE_EVT_ESTABLISHED, 1);
	emit_link(t, d, CEE_EVT_LINK_UP, 2, NULL); // no group: no name
	cee_audit_feed(a, t->ev, t->n);
	cee_audit_finish(a, true, &r);
	assert_int_equal(r.link_bad, 1);
	assert_int_equal(r.ext_bad, 0);
	assert_false(r.ok);
	free(t);
	cee_audit_destroy(a);
}

// Guards against: the link map losing or confusing names when it grows
// (many links, names that share prefixes), and its bound: link names are
// at most CEE_AUDIT_LINK_NAME_MAX bytes.
static void test_many_links(void **state)
{
	struct fixture *f = *state;
	char name[40];

	// Every link up, then every link down, fed in batches so the stream
	// array stays small.
	for (unsigned round = 0; round < 2; round++) {
		for (unsigned i = 0; i < 3000; i++) {
			struct stream *s = &f->s;
			cee_conn_id_t c = conn(i % 4, 1 + i);
			snprintf(name, sizeof(name), "link-%u", i);
			if (round == 0) {
				link_up_tcp(s, c, name);
			} else {
				emit(s, c, CEE_EVT_CLOSED, 3);
				emit_link(s, c, CEE_EVT_LINK_DOWN, 4, name);
				emit(s, c, CEE_EVT_DESTROYED, 5);
			}
			if (s->n > 4000) {
				cee_audit_feed(f->a, s->ev, s->n);
				s->n = 0;
			}
		}
	}
	// A name over the limit.
	cee_conn_id_t c = conn(9, 1);
	memset(name, 'n', 33);
	name[33] = '\0';
	link_up_tcp(&f->s, c, name);
	struct cee_audit_result r = finish(f, true);
	assert_int_equal(r.link_up, 3001);
	assert_int_equal(r.link_down, 3000);
	assert_int_equal(r.link_bad, 1);
	assert_int_equal(r.gaps, 0);
	assert_int_equal(r.out_of_order, 0);
	assert_int_equal(r.lost, 0);
	assert_false(r.ok);
}

/*
 * Fault (review of cee-audit): an accepted connection's open and
 * established go out together (same ts_ns, consecutive sseq: docs/events.md),
 * and nothing checked it: a regression that announced the open at the SYN
 * again passed every stream whose handshakes completed.
 */
static void test_open_established_apart_detected(void **state)
{
	struct fixture *f = *state;
	struct stream *s = &f->s;
	cee_conn_id_t a = conn(0, 1), b = conn(0, 2), c = conn(0, 3);
	emit(s, a, CEE_EVT_OPEN, 0)->ts_ns = 100;
	emit(s, b, CEE_EVT_OPEN, 0)->ts_ns = 100;
	emit(s, a, CEE_EVT_ESTABLISHED, 1)->ts_ns = 900; // apart: sseq and ts
	emit(s, b, CEE_EVT_ESTABLISHED, 1)->ts_ns = 950; // apart: ts
	emit(s, c, CEE_EVT_OPEN, 0)->ts_ns = 1000;       // together: fine
	emit(s, c, CEE_EVT_ESTABLISHED, 1)->ts_ns = 1000;
	for (cee_conn_id_t x = a; x <= c; x++) {
		emit(s, x, CEE_EVT_CLOSED, 2)->ts_ns = 2000;
		emit(s, x, CEE_EVT_DESTROYED, 3)->ts_ns = 2000;
	}
	struct cee_audit_result r = finish(f, false);
	assert_int_equal(r.out_of_order, 2);
	assert_false(r.ok);
	// the same apart for an outbound connection (its open at the SYN): fine
	cee_audit_destroy(f->a);
	f->a = cee_audit_create();
	memset(s, 0, sizeof(*s));
	emit(s, a, CEE_EVT_OPEN, 0)->proto |= CEE_PROTO_F_OUT;
	emit(s, b, CEE_EVT_OPEN, 0)->proto |= CEE_PROTO_F_OUT;
	emit(s, a, CEE_EVT_ESTABLISHED, 1)->ts_ns = 900;
	emit(s, b, CEE_EVT_ESTABLISHED, 1)->ts_ns = 950;
	for (cee_conn_id_t x = a; x <= b; x++) {
		emit(s, x, CEE_EVT_CLOSED, 2)->ts_ns = 2000;
		emit(s, x, CEE_EVT_DESTROYED, 3)->ts_ns = 2000;
	}
	r = finish(f, false);
	assert_clean(&r);
	assert_true(r.ok);
}

/*
 * Fault (review of cee-audit): ts_ns was never compared. One clock that
 * never steps back stamps a connection's events (docs/events.md): a closed
 * stamped before its open passed.
 */
static void test_ts_back_detected(void **state)
{
	struct fixture *f = *state;
	cee_conn_id_t c1 = conn(0, 1), c2 = conn(0, 2);
	emit(&f->s, c1, CEE_EVT_OPEN, 0)->ts_ns = 500;
	emit(&f->s, c1, CEE_EVT_ESTABLISHED, 1)->ts_ns = 500; // the same instant: fine
	emit(&f->s, c1, CEE_EVT_CLOSED, 2)->ts_ns = 100;      // before its open
	emit(&f->s, c1, CEE_EVT_DESTROYED, 3)->ts_ns = 600;
	emit(&f->s, c2, CEE_EVT_OPEN, 0)->ts_ns = 700;
	emit(&f->s, c2, CEE_EVT_ESTABLISHED, 1)->ts_ns = 700;
	emit(&f->s, c2, CEE_EVT_CLOSED, 2)->ts_ns = 900;
	emit(&f->s, c2, CEE_EVT_DESTROYED, 3)->ts_ns = 900;
	struct cee_audit_result r = finish(f, false);
	assert_int_equal(r.inconsistent, 1);
	assert_int_equal(r.out_of_order, 0);
	assert_false(r.ok);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_correct_stream_passes),
		T(test_ts_back_detected),
		T(test_open_established_apart_detected),
		T(test_gap_detected),
		T(test_duplicate_detected),
		T(test_late_duplicate_is_duplicate),
		T(test_reorder_detected),
		T(test_type_order_detected),
		T(test_cseq_skip_detected),
		T(test_missing_open_detected),
		T(test_missing_closed_detected),
		T(test_unfinished_lost_or_live),
		T(test_event_after_destroyed_detected),
		T(test_id_reused_after_destroyed_detected),
		T(test_id_reused_within_2_20_detected),
		T(test_two_closed_detected),
		T(test_many_connections),
		T(test_print_violations),
		T(test_tls_stream_with_ext_passes),
		T(test_ext_missing_part_detected),
		T(test_ext_first_part_missing_detected),
		T(test_ext_not_followed_by_event_detected),
		T(test_ext_gap_and_duplicate_detected),
		T(test_tls_ws_order_detected),
		T(test_layers_links_causes_detected),
		T(test_inbound_open_and_last_link_down),
		T(test_tls_reason_needs_tls_proto),
		T(test_ext_malformed_detected),
		T(test_unknown_reason_counted),
		T(test_reason_rules_detected),
		T(test_tuple_tied_to_id),
		T(test_link_attempts_detected),
		T(test_link_stream_passes),
		T(test_link_late_destroyed_passes),
		T(test_link_up_before_established_detected),
		T(test_link_down_before_closed_detected),
		T(test_link_down_wrong_id_detected),
		T(test_two_link_ups_detected),
		T(test_link_up_inbound_detected),
		T(test_many_links),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
