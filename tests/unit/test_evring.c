/* SPDX-License-Identifier: BSD-3-Clause */
// Shard event ring: events are never dropped (design fault 3, lost close
// events); a slow consumer shows up as refused reservations instead.
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cee_evring.h"

static int setup_ring64(void **state)
{
	struct cee_evring *r = cee_evring_create(3, 64);
	if (r == NULL)
		return -1;
	*state = r;
	return 0;
}

static int teardown_ring(void **state)
{
	cee_evring_destroy(*state);
	return 0;
}

static struct cee_event ev_for(uint64_t conn, uint8_t cseq)
{
	struct cee_event e;
	memset(&e, 0, sizeof(e));
	e.conn = cee_id_make(3, conn);
	e.cseq = cseq;
	e.ts_ns = conn * 1000 + cseq;
	return e;
}

// Guards against: a capacity that is not a power of two breaking the index
// mask, and bad arguments being accepted.
static void test_create_rounds_capacity(void **state)
{
	static const struct {
		uint32_t ask, want;
	} cases[] = {{1, 64}, {63, 64}, {64, 64}, {65, 128}, {1000, 1024}, {4096, 4096}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cee_evring *r = cee_evring_create(1, cases[i].ask);
		assert_non_null(r);
		struct cee_evring_stats st;
		cee_evring_stats(r, &st);
		assert_int_equal(st.capacity, cases[i].want);
		assert_int_equal(st.used, 0);
		assert_int_equal(st.reserved, 0);
		assert_int_equal(cee_evring_shard(r), 1);
		assert_int_equal(cee_evring_last_sseq(r), 0);
		cee_evring_destroy(r);
	}
	errno = 0;
	assert_null(cee_evring_create(0, 0));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(cee_evring_create(CEE_MAX_SHARDS, 64));
	assert_int_equal(errno, EINVAL);
}

// Guards against: credits not being accounted, so admission could promise
// more terminal events than the ring can hold.
static void test_reservation_accounting(void **state)
{
	struct cee_evring *r = *state;
	struct cee_evring_stats st;

	assert_int_equal(cee_evring_reserve(r, 6), 0);
	assert_int_equal(cee_evring_reserve(r, 6), 0);
	cee_evring_stats(r, &st);
	assert_int_equal(st.reserved, 12);
	assert_int_equal(st.used, 0);

	struct cee_event e = ev_for(1, 0);
	cee_evring_push(r, &e);
	cee_evring_push(r, &e);
	cee_evring_stats(r, &st);
	assert_int_equal(st.reserved, 10);
	assert_int_equal(st.used, 2);
	assert_int_equal(st.pushed, 2);
	assert_int_equal(st.used_max, 12);

	// A connection destroyed early gives back what it did not spend.
	cee_evring_unreserve(r, 4);
	cee_evring_stats(r, &st);
	assert_int_equal(st.reserved, 6);
	assert_int_equal(st.used, 2);
	assert_int_equal(st.refused, 0);
}

// Guards against: over-admission when the ring is full, which would make a
// later push (a closed/destroyed event) find no room and be lost.
static void test_refuse_when_full(void **state)
{
	struct cee_evring *r = *state;
	struct cee_evring_stats st;

	assert_int_equal(cee_evring_reserve(r, 60), 0);
	assert_int_equal(cee_evring_reserve(r, 5), -ENOBUFS);
	assert_int_equal(cee_evring_reserve(r, 4), 0);
	assert_int_equal(cee_evring_reserve(r, 1), -ENOBUFS);
	cee_evring_stats(r, &st);
	assert_int_equal(st.refused, 2);
	assert_int_equal(st.reserved, 64);

	// Pushed-but-unconsumed events count against the capacity too.
	struct cee_event e = ev_for(1, 0);
	for (int i = 0; i < 64; i++)
		cee_evring_push(r, &e);
	cee_evring_stats(r, &st);
	assert_int_equal(st.used, 64);
	assert_int_equal(st.reserved, 0);
	assert_int_equal(cee_evring_reserve(r, 1), -ENOBUFS);
	cee_evring_stats(r, &st);
	assert_int_equal(st.refused, 3);
}

// Guards against: admission staying stopped after a stalled consumer catches
// up (back-pressure must resume), and events lost while it was stalled.
static void test_backpressure_then_resume(void **state)
{
	struct cee_evring *r = *state;
	const struct cee_event *p;
	uint64_t conn = 1;

	// Admit connections (6 credits each) and push their open event until
	// admission is refused: the consumer is stalled.
	while (cee_evring_reserve(r, CEE_EVT_PER_CONN_MAX) == 0) {
		struct cee_event e = ev_for(conn++, 0);
		cee_evring_push(r, &e);
	}
	uint64_t admitted = conn - 1;
	assert_int_equal(admitted, 64 / CEE_EVT_PER_CONN_MAX);

	// Established connections keep emitting with their reserved credits.
	for (uint64_t c = 1; c <= admitted; c++) {
		struct cee_event e = ev_for(c, 1);
		cee_evring_push(r, &e);
	}
	assert_int_equal(cee_evring_reserve(r, CEE_EVT_PER_CONN_MAX), -ENOBUFS);

	// The consumer drains everything: nothing was dropped.
	uint32_t total = 0;
	uint32_t n;
	while ((n = cee_evring_peek(r, &p, 1000)) > 0) {
		for (uint32_t i = 0; i < n; i++)
			assert_int_equal(p[i].sseq, total + i + 1);
		cee_evring_release(r, n);
		total += n;
	}
	assert_int_equal(total, 2 * admitted);

	// Admission resumes once the consumed space is free again.
	struct cee_evring_stats st;
	cee_evring_stats(r, &st);
	assert_int_equal(st.used, 0);
	assert_int_equal(st.consumed, total);
	assert_true(64 - st.reserved >= CEE_EVT_PER_CONN_MAX);
	assert_int_equal(cee_evring_reserve(r, CEE_EVT_PER_CONN_MAX), 0);
}

// Guards against: sseq skipping or repeating (a consumer would report a gap
// or miss a real one), and the producer's record being changed.
static void test_sseq_consecutive(void **state)
{
	struct cee_evring *r = *state;
	const struct cee_event *p;

	assert_int_equal(cee_evring_reserve(r, 10), 0);
	for (uint64_t i = 1; i <= 10; i++) {
		struct cee_event e = ev_for(i, 0);
		e.sseq = 999; // ignored: the ring assigns it
		assert_int_equal(cee_evring_push(r, &e), i);
		assert_int_equal(e.sseq, 999);
		assert_int_equal(cee_evring_last_sseq(r), i);
	}
	assert_int_equal(cee_evring_peek(r, &p, 64), 10);
	for (uint32_t i = 0; i < 10; i++) {
		assert_int_equal(p[i].sseq, i + 1);
		assert_int_equal(p[i].conn, cee_id_make(3, i + 1));
	}
	// Peek does not consume.
	assert_int_equal(cee_evring_peek(r, &p, 64), 10);
	cee_evring_release(r, 4);
	assert_int_equal(cee_evring_peek(r, &p, 64), 6);
	assert_int_equal(p[0].sseq, 5);
	cee_evring_release(r, 6);
	assert_int_equal(cee_evring_peek(r, &p, 64), 0);
}

// Guards against: wrong records or lost records when the ring wraps; peek
// must return only contiguous records and the rest on the next peek.
static void test_wrap_around(void **state)
{
	struct cee_evring *r = *state;
	const struct cee_event *p;
	uint64_t next_push = 1, next_read = 1;

	// Offset the indices so a batch straddles the end of the storage.
	for (int round = 0; round < 50; round++) {
		uint32_t k = 37;
		assert_int_equal(cee_evring_reserve(r, k), 0);
		for (uint32_t i = 0; i < k; i++) {
			struct cee_event e = ev_for(next_push, 0);
			assert_int_equal(cee_evring_push(r, &e), next_push);
			next_push++;
		}
		uint32_t left = k;
		int peeks = 0;
		while (left > 0) {
			uint32_t n = cee_evring_peek(r, &p, 64);
			assert_true(n > 0 && n <= left);
			for (uint32_t i = 0; i < n; i++) {
				assert_int_equal(p[i].sseq, next_read);
				assert_int_equal(p[i].conn, cee_id_make(3, next_read));
				next_read++;
			}
			cee_evring_release(r, n);
			left -= n;
			peeks++;
		}
		assert_true(peeks <= 2);
	}
	assert_int_equal(next_read, next_push);
	struct cee_evring_stats st;
	cee_evring_stats(r, &st);
	assert_int_equal(st.pushed, 50 * 37);
	assert_int_equal(st.consumed, 50 * 37);
}

// Guards against: a push without a reserved credit silently overwriting or
// dropping an event; it is a bug and must stop the process.
static void test_push_without_credit_aborts(void **state)
{
	struct cee_evring *r = *state;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(STDERR_FILENO);
		struct cee_event e = ev_for(1, 0);
		cee_evring_push(r, &e);
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
}

// Guards against: extension records bypassing the credit accounting (a
// group could then find the ring full and be lost, or take the room
// reserved for a closed event), getting no sseq of their own, or being
// altered in the ring.
static void test_push_ext_credits_and_sseq(void **state)
{
	struct cee_evring *r = *state;
	struct cee_evring_stats st;
	const struct cee_event *p;

	struct cee_event open = ev_for(1, 0);
	assert_int_equal(cee_evring_reserve(r, 4), 0);
	assert_int_equal(cee_evring_push(r, &open), 1);

	struct cee_ext_builder b;
	char subject[61];
	memset(subject, 's', 60);
	subject[60] = '\0';
	cee_ext_begin(&b, open.conn, CEE_EVT_TLS_UP);
	cee_ext_put_str(&b, CEE_EXT_PEER_SUBJECT, subject);
	assert_int_equal(cee_ext_end(&b), 2);
	b.rec[0].ext.sseq = 999; // ignored: the ring assigns it
	assert_int_equal(cee_evring_push_ext(r, &b.rec[0].ext), 2);
	assert_int_equal(b.rec[0].ext.sseq, 999);
	assert_int_equal(cee_evring_push_ext(r, &b.rec[1].ext), 3);
	cee_evring_stats(r, &st);
	assert_int_equal(st.reserved, 1);
	assert_int_equal(st.used, 3);
	assert_int_equal(st.pushed, 3);

	// The event itself, through claim/publish as the shard does.
	struct cee_event *slot = cee_evring_claim(r);
	*slot = ev_for(1, 1);
	slot->type = CEE_EVT_TLS_UP;
	assert_int_equal(cee_evring_publish(r), 4);
	cee_evring_stats(r, &st);
	assert_int_equal(st.reserved, 0);
	assert_int_equal(cee_evring_last_sseq(r), 4);

	assert_int_equal(cee_evring_peek(r, &p, 64), 4);
	assert_null(cee_event_as_ext(&p[0]));
	for (unsigned i = 0; i < 2; i++) {
		const struct cee_event_ext *x = cee_event_as_ext(&p[1 + i]);
		assert_non_null(x);
		assert_int_equal(x->sseq, 2 + i);
		assert_int_equal(x->part, i);
		assert_int_equal(x->parts, 2);
		assert_int_equal(x->of, CEE_EVT_TLS_UP);
		assert_int_equal(x->conn, open.conn);
		assert_memory_equal(x->data, b.rec[i].ext.data, CEE_EVT_EXT_DATA);
	}
	assert_int_equal(p[3].sseq, 4);
	assert_int_equal(p[3].type, CEE_EVT_TLS_UP);
	cee_evring_release(r, 4);
}

// Guards against: an extension record pushed without a credit (it could
// overwrite an unread record), or an event pushed as an extension record
// (readers would misparse it): both are bugs and stop the process.
static void test_push_ext_misuse_aborts(void **state)
{
	struct cee_evring *r = *state;
	struct cee_ext_builder b;
	cee_ext_begin(&b, cee_id_make(3, 1), CEE_EVT_CLOSED);
	cee_ext_put_u8(&b, CEE_EXT_ALERT, 40);
	assert_int_equal(cee_ext_end(&b), 1);

	for (int which = 0; which < 2; which++) {
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(STDERR_FILENO);
			if (which == 1) {
				if (cee_evring_reserve(r, 1) != 0)
					_exit(1);
				b.rec[0].ext.type = CEE_EVT_CLOSED;
			}
			cee_evring_push_ext(r, &b.rec[0].ext);
			_exit(0);
		}
		int status;
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));
		assert_int_equal(WTERMSIG(status), SIGABRT);
	}
}

/* ---- two threads ---- */

#define STRESS_EVENTS 2000000u

struct stress {
	struct cee_evring *r;
	uint64_t refused_seen;
	uint64_t errors;
};

static void *producer(void *arg)
{
	struct stress *s = arg;
	uint64_t seq = 1;
	while (seq <= STRESS_EVENTS) {
		// Admit a "connection" of up to 6 events; retry while refused.
		uint32_t k = (uint32_t)(1 + seq % CEE_EVT_PER_CONN_MAX);
		if (seq + k - 1 > STRESS_EVENTS)
			k = (uint32_t)(STRESS_EVENTS - seq + 1);
		while (cee_evring_reserve(s->r, k) != 0) {
			s->refused_seen++;
			sched_yield();
		}
		for (uint32_t i = 0; i < k; i++) {
			struct cee_event e;
			memset(&e, 0, sizeof(e));
			e.conn = cee_id_make(3, seq);
			e.ts_ns = seq * 3;
			if (cee_evring_push(s->r, &e) != seq)
				s->errors++;
			seq++;
		}
	}
	return NULL;
}

// Guards against: lost, duplicated or reordered events between the shard
// lcore and the control thread (memory ordering bugs on head/tail).
static void test_two_thread_stress(void **state)
{
	struct cee_evring *r = cee_evring_create(3, 256);
	assert_non_null(r);
	struct stress s = {.r = r};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, producer, &s), 0);

	uint64_t expect = 1;
	uint64_t bad = 0;
	while (expect <= STRESS_EVENTS) {
		const struct cee_event *p;
		uint32_t n = cee_evring_peek(r, &p, 97);
		if (n == 0) {
			sched_yield();
			continue;
		}
		for (uint32_t i = 0; i < n; i++, expect++) {
			if (p[i].sseq != expect || p[i].conn != cee_id_make(3, expect) ||
			    p[i].ts_ns != expect * 3)
				bad++;
		}
		cee_evring_release(r, n);
	}
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(bad, 0);
	assert_int_equal(s.errors, 0);

	const struct cee_event *p;
	assert_int_equal(cee_evring_peek(r, &p, 64), 0);
	struct cee_evring_stats st;
	cee_evring_stats(r, &st);
	assert_int_equal(st.pushed, STRESS_EVENTS);
	assert_int_equal(st.consumed, STRESS_EVENTS);
	assert_int_equal(st.used, 0);
	assert_int_equal(st.reserved, 0);
	assert_int_equal(st.refused, s.refused_seen);
	assert_true(st.used_max <= st.capacity);
	cee_evring_destroy(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_rounds_capacity),
		cmocka_unit_test_setup_teardown(test_reservation_accounting, setup_ring64,
						teardown_ring),
		cmocka_unit_test_setup_teardown(test_refuse_when_full, setup_ring64, teardown_ring),
		cmocka_unit_test_setup_teardown(test_backpressure_then_resume, setup_ring64,
						teardown_ring),
		cmocka_unit_test_setup_teardown(test_sseq_consecutive, setup_ring64, teardown_ring),
		cmocka_unit_test_setup_teardown(test_wrap_around, setup_ring64, teardown_ring),
		cmocka_unit_test_setup_teardown(test_push_without_credit_aborts, setup_ring64,
						teardown_ring),
		cmocka_unit_test_setup_teardown(test_push_ext_credits_and_sseq, setup_ring64,
						teardown_ring),
		cmocka_unit_test_setup_teardown(test_push_ext_misuse_aborts, setup_ring64,
						teardown_ring),
		cmocka_unit_test(test_two_thread_stress),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
