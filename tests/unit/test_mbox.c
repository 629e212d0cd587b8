/* SPDX-License-Identifier: BSD-3-Clause */
// Mailbox requests and the exact-cut connection walk (dataplane/cee_mbox.c).
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cee_mbox.h"

#define MAXC 1000

struct fixture {
	struct cee_conn_pool *pool;
	struct cee_mbox mb;
	struct cee_conn *live[MAXC]; // the model: every live connection (announced)
	unsigned nlive;
	struct cee_conn *half[MAXC]; // half-open passive ones: not announced yet
	unsigned nhalf;
	uint64_t sseq; // events "pushed" (one per open, one per destroyed)
	uint16_t port;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -1;
	f->pool = cee_conn_pool_create(2, MAXC);
	*state = f;
	return f->pool ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	cee_conn_pool_destroy(f->pool);
	free(f);
	return 0;
}

// What a shard does: allocate and emit open in one step; emit destroyed
// (the hook runs first) then free.
static void open_one(struct fixture *f)
{
	struct cee_conn *c = cee_conn_alloc(f->pool, 1, 7, 2, f->port++);
	assert_non_null(c);
	f->sseq++;
	cee_mbox_lifecycle(&f->mb, f->pool, c, CEE_EVT_OPEN);
	f->live[f->nlive++] = c;
}

static void destroy_at(struct fixture *f, unsigned i)
{
	struct cee_conn *c = f->live[i];
	f->sseq++;
	cee_mbox_lifecycle(&f->mb, f->pool, c, CEE_EVT_DESTROYED);
	cee_conn_free(f->pool, c);
	f->live[i] = f->live[--f->nlive];
}

// A passive SYN: a slot, no event (CEE_TCB_O_QUIET) until established.
static void half_open_one(struct fixture *f)
{
	struct cee_conn *c = cee_conn_alloc(f->pool, 1, 7, 3, f->port++);
	assert_non_null(c);
	c->tcb.oflags |= CEE_TCB_O_QUIET;
	f->half[f->nhalf++] = c;
}

// Its handshake completes: open goes out now (its serial is an old one).
static void announce_at(struct fixture *f, unsigned i)
{
	struct cee_conn *c = f->half[i];
	c->tcb.oflags &= (uint8_t)~CEE_TCB_O_QUIET;
	f->sseq++;
	cee_mbox_lifecycle(&f->mb, f->pool, c, CEE_EVT_OPEN);
	f->live[f->nlive++] = c;
	f->half[i] = f->half[--f->nhalf];
}

// It ends half open: freed with no event, no hook.
static void drop_half_at(struct fixture *f, unsigned i)
{
	cee_conn_free(f->pool, f->half[i]);
	f->half[i] = f->half[--f->nhalf];
}

// A LIST request of @p cap records, its walk begun at the fixture's cut.
static struct cee_mbox_req *list_begin(struct fixture *f, uint32_t cap)
{
	struct cee_mbox_req *r = cee_mbox_req_alloc(CEE_MBOX_OP_LIST, cap, 0);
	assert_non_null(r);
	cee_mbox_walk_begin(&f->mb.walk, r, f->pool, f->sseq, 0);
	return r;
}

static int cmp_id(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

// Fault: orphaned state / a snapshot that disagrees with the stream. Under
// churn between the bounded walk steps, a LIST answer must hold exactly the
// connections live at the cut: none opened later, none missing because it
// was destroyed before the walk reached its slot, none twice. With half-open
// passive connections in the churn: none listed that the stream had not
// announced at the cut (half open then, whether announced or dropped since,
// though its serial is below the cut's), so a consumer joining snapshot and
// stream sees no ghost and no open twice.
static void walk_is_an_exact_cut_under_churn(void **state)
{
	struct fixture *f = *state;
	srand(42);
	for (unsigned i = 0; i < 500; i++) {
		open_one(f);
		if (i % 5 == 0)
			half_open_one(f);
	}
	unsigned announced_late = 0;
	for (unsigned round = 0; round < 50; round++) {
		struct cee_mbox_req *r = cee_mbox_req_alloc(CEE_MBOX_OP_LIST, MAXC, 0);
		assert_non_null(r);
		uint64_t expect[MAXC];
		unsigned nexpect = f->nlive;
		for (unsigned i = 0; i < f->nlive; i++)
			expect[i] = f->live[i]->id;
		uint64_t cut = f->sseq;
		cee_mbox_walk_begin(&f->mb.walk, r, f->pool, f->sseq, 5);
		unsigned steps = 0;
		for (;;) {
			// churn between steps: destroy some, open some (slots get
			// reused), half-open ones come, are announced or go
			unsigned k = (unsigned)rand() % 12;
			for (unsigned j = 0; j < k && f->nlive > 0; j++)
				destroy_at(f, (unsigned)rand() % f->nlive);
			k = (unsigned)rand() % 12;
			for (unsigned j = 0; j < k && f->nlive + f->nhalf < MAXC - 1; j++)
				open_one(f);
			k = (unsigned)rand() % 4;
			for (unsigned j = 0; j < k && f->nhalf > 0; j++) {
				uint32_t marks = f->mb.walk.late;
				announce_at(f, (unsigned)rand() % f->nhalf);
				announced_late += f->mb.walk.late > marks;
			}
			k = (unsigned)rand() % 3;
			for (unsigned j = 0; j < k && f->nhalf > 0; j++)
				drop_half_at(f, (unsigned)rand() % f->nhalf);
			k = (unsigned)rand() % 6;
			for (unsigned j = 0; j < k && f->nlive + f->nhalf < MAXC - 1; j++)
				half_open_one(f);
			steps++;
			if (cee_mbox_walk_step(&f->mb.walk, f->pool, 37))
				break;
		}
		f->mb.walk.req = NULL;
		assert_int_equal(f->mb.walk.late, 0); // every mark visited or gone
		assert_int_equal(r->rc, 0);
		assert_int_equal(r->sseq, cut);
		assert_true(steps >= cee_conn_capacity(f->pool) / 37);
		uint64_t got[MAXC];
		for (unsigned i = 0; i < r->n; i++)
			got[i] = r->conns[i].id;
		qsort(expect, nexpect, sizeof(uint64_t), cmp_id);
		qsort(got, r->n, sizeof(uint64_t), cmp_id);
		assert_int_equal(r->n, nexpect);
		assert_memory_equal(got, expect, nexpect * sizeof(uint64_t));
		cee_mbox_req_free(r);
	}
	assert_true(announced_late > 100); // the case the marks exist for was exercised
	for (unsigned i = 0; i < f->nlive; i++)
		assert_false(f->live[i]->tcb.oflags & CEE_TCB_O_LATE);
}

// Fault: a LIST abandoned by its requester leaving marks behind, so that a
// later snapshot omits connections that were live at its cut.
static void abandoned_walk_leaves_no_mark(void **state)
{
	struct fixture *f = *state;
	for (unsigned i = 0; i < 200; i++)
		half_open_one(f);
	struct cee_mbox_req *r = list_begin(f, MAXC);
	assert_false(cee_mbox_walk_step(&f->mb.walk, f->pool, 16));
	while (f->nhalf > 0) // announced after the cut: all marked but the visited
		announce_at(f, f->nhalf - 1);
	assert_true(f->mb.walk.late > 150);
	// a bounded step at a time (one pass over a large pool stalled the
	// shard's poll): 16 slots a call, and it ends
	unsigned calls = 1;
	uint32_t before = f->mb.walk.next_slot;
	while (!cee_mbox_walk_abandon(&f->mb.walk, f->pool, 16)) {
		assert_true(f->mb.walk.next_slot - before <= 16);
		assert_non_null(f->mb.walk.req); // still holds the mailbox
		before = f->mb.walk.next_slot;
		calls++;
	}
	assert_true(calls > 5);
	assert_null(f->mb.walk.req);
	assert_int_equal(f->mb.walk.late, 0);
	cee_mbox_req_free(r);
	r = list_begin(f, MAXC);
	while (!cee_mbox_walk_step(&f->mb.walk, f->pool, 64))
		;
	assert_int_equal(r->n, 200);
	cee_mbox_req_free(r);
}

// Fault: a walk step that is unbounded. Each step visits at most the slots it
// is given, and the walk still ends.
static void walk_steps_are_bounded(void **state)
{
	struct fixture *f = *state;
	for (unsigned i = 0; i < 900; i++)
		open_one(f);
	struct cee_mbox_req *r = list_begin(f, MAXC);
	uint32_t before = 0;
	unsigned steps = 0;
	while (!cee_mbox_walk_step(&f->mb.walk, f->pool, 64)) {
		assert_true(r->n - before <= 64);
		assert_int_equal(f->mb.walk.next_slot, (steps + 1) * 64);
		before = r->n;
		steps++;
	}
	assert_int_equal(r->n, 900);
	assert_int_equal(steps + 1, cee_conn_capacity(f->pool) / 64);
	cee_mbox_req_free(r);
}

// Fault: a list answer overflowing its buffer instead of failing.
static void walk_overflow_is_reported(void **state)
{
	struct fixture *f = *state;
	for (unsigned i = 0; i < 10; i++)
		open_one(f);
	struct cee_mbox_req *r = list_begin(f, 4);
	while (!cee_mbox_walk_step(&f->mb.walk, f->pool, 1024))
		;
	assert_int_equal(r->rc, -ENOSPC);
	assert_int_equal(r->n, 4);
	cee_mbox_req_free(r);
}

// Fault: a request freed twice or never (requester timed out while the shard
// answered). Whoever loses the race frees; ASan/LSan checks the rest.
static void abandon_and_finish_free_exactly_once(void **state)
{
	(void)state;
	struct cee_mbox_req *a = cee_mbox_req_alloc(CEE_MBOX_OP_STATS, 0, 64);
	assert_non_null(a);
	assert_false(cee_mbox_req_done(a));
	assert_true(cee_mbox_req_abandon(a)); // the shard owns it now
	assert_true(cee_mbox_req_abandoned(a));
	cee_mbox_req_finish(a); // ... and frees it

	struct cee_mbox_req *b = cee_mbox_req_alloc(CEE_MBOX_OP_KILL, 0, 0);
	assert_non_null(b);
	cee_mbox_req_finish(b);
	assert_true(cee_mbox_req_done(b));
	assert_false(cee_mbox_req_abandon(b)); // answered meanwhile: still ours
	cee_mbox_req_free(b);
}

static void op_names(void **state)
{
	(void)state;
	assert_string_equal(cee_mbox_op_str(CEE_MBOX_OP_KILL), "kill");
	assert_string_equal(cee_mbox_op_str(CEE_MBOX_OP_LINKS), "links");
	assert_string_equal(cee_mbox_op_str(CEE_MBOX_OP_WATCH), "watch");
	assert_string_equal(cee_mbox_op_str(CEE_MBOX_OP__COUNT), "?");
}

// Fault: a LINKS answer written past its buffer, or a connection array
// allocated for a request that is not a LIST. The data room is the size
// asked for, zeroed; only LIST gets connection records.
static void links_request_has_room_for_its_records(void **state)
{
	(void)state;
	struct rec {
		char name[33];
		uint64_t conn;
	};
	struct cee_mbox_req *r = cee_mbox_req_alloc(CEE_MBOX_OP_LINKS, 5, 5 * sizeof(struct rec));
	assert_non_null(r);
	assert_int_equal(r->cap, 5);
	assert_null(r->conns);
	assert_non_null(r->data);
	struct rec *v = r->data;
	for (unsigned i = 0; i < 5; i++) {
		assert_int_equal(v[i].conn, 0);
		v[i].conn = i + 1; // every record is writable (ASan)
	}
	cee_mbox_req_free(r);

	struct cee_mbox_req *none = cee_mbox_req_alloc(CEE_MBOX_OP_LINKS, 0, 0);
	assert_non_null(none);
	assert_null(none->data);
	cee_mbox_req_free(none);
}

// Fault: a watch that reports another connection's figures or a success
// for an id that names nothing. The answer is the watched id's reason and
// byte counts as they were at its close; a stale id is -ENOENT.
static void watch_answer_reports_the_close(void **state)
{
	struct fixture *f = *state;
	open_one(f);
	struct cee_conn *c = f->live[0];
	c->tcb.bytes_in = 1234;
	c->tcb.bytes_out = 99;
	c->tcb.close_reason = CEE_REASON_PEER_FIN;

	struct cee_mbox_req *r = cee_mbox_req_alloc(CEE_MBOX_OP_WATCH, 0, 0);
	assert_non_null(r);
	r->id = c->id;
	cee_mbox_watch_answer(r, c->id, CEE_REASON_PEER_FIN, c);
	assert_int_equal(r->rc, 0);
	assert_int_equal(r->conn.id, c->id);
	assert_int_equal(r->conn.close_reason, CEE_REASON_PEER_FIN);
	assert_int_equal(r->conn.bytes_in, 1234);
	assert_int_equal(r->conn.bytes_out, 99);
	assert_true(r->conn.closed);

	// gone before the monitor could be set: no figures, "no such connection"
	cee_mbox_watch_answer(r, c->id + 1, CEE_MONITOR_GONE, NULL);
	assert_int_equal(r->rc, -ENOENT);
	assert_int_equal(r->conn.id, c->id + 1);
	assert_int_equal(r->conn.bytes_in, 0);

	// closed, its connection no longer at hand: the reason, zero bytes
	cee_mbox_watch_answer(r, c->id, CEE_REASON_SHUTDOWN, NULL);
	assert_int_equal(r->rc, 0);
	assert_int_equal(r->conn.close_reason, CEE_REASON_SHUTDOWN);
	assert_int_equal(r->conn.bytes_out, 0);
	cee_mbox_req_free(r);
}

// Fault (review of the control plane): a row (conn, conns, snapshot) gave
// a close reason for a connection whose closed event was not pushed yet:
// our FIN out in FIN-WAIT (closed comes at TIME-WAIT or CLOSING), or the
// peer's taken in CLOSE-WAIT (closed at LAST-ACK). The first cause is
// known then, the stream has not said it: a consumer joining the two saw
// a close the stream did not have. The reason shows once closed was pushed.
static void conn_row_reason_only_after_closed(void **state)
{
	struct fixture *f = *state;
	open_one(f);
	struct cee_conn *c = f->live[0];
	cee_tcp_set_close_reason(&c->tcb, CEE_REASON_IDLE_TIMEOUT); // our FIN: FIN-WAIT-1
	struct cee_mbox_conn row;
	cee_mbox_conn_fill(&row, c);
	assert_int_equal(row.close_reason, CEE_REASON_NONE);
	assert_false(row.closed);

	c->tcb.flags |= CEE_TCB_F_CLOSED; // TIME-WAIT: closed pushed
	cee_mbox_conn_fill(&row, c);
	assert_int_equal(row.close_reason, CEE_REASON_IDLE_TIMEOUT);
	assert_true(row.closed);
}

// Fault: a waiting watch lost (leaked at shutdown) or released twice (a
// monitor firing after the shard dropped it). The shard's list holds
// exactly the watches that wait; releasing one that does not wait changes
// nothing; an abandoned one is freed once by whoever finishes it (ASan).
static void watch_list_holds_exactly_the_waiting(void **state)
{
	struct fixture *f = *state;
	struct cee_mbox *m = &f->mb;
	struct cee_mbox_req *r[4];
	for (unsigned i = 0; i < 4; i++) {
		r[i] = cee_mbox_req_alloc(CEE_MBOX_OP_WATCH, 0, 0);
		assert_non_null(r[i]);
		cee_mbox_watch_hold(m, r[i], (int)i + 1);
	}
	assert_int_equal(m->watching, 4);
	cee_mbox_watch_release(m, r[1]); // middle
	cee_mbox_watch_release(m, r[3]); // head
	cee_mbox_watch_release(m, r[3]); // again: nothing
	assert_int_equal(m->watching, 2);
	unsigned n = 0;
	for (struct cee_mbox_req *x = m->watch_head; x != NULL; x = x->watch_next, n++) {
		assert_true(x == r[0] || x == r[2]);
		assert_true(x->watch_next == NULL || x->watch_next->watch_prev == x);
	}
	assert_int_equal(n, 2);

	// r[1], r[3]: answered normally (the requester frees them)
	cee_mbox_req_finish(r[1]);
	cee_mbox_req_free(r[1]);
	cee_mbox_req_finish(r[3]);
	cee_mbox_req_free(r[3]);
	// r[0]: its client went away; the shard drops it when its monitor fires
	assert_true(cee_mbox_req_abandon(r[0]));
	cee_mbox_watch_release(m, r[0]);
	cee_mbox_req_finish(r[0]); // frees it
	// r[2]: stopping
	cee_mbox_watch_release(m, r[2]);
	r[2]->rc = -ESHUTDOWN;
	cee_mbox_req_finish(r[2]);
	assert_true(cee_mbox_req_done(r[2]));
	cee_mbox_req_free(r[2]);
	assert_null(m->watch_head);
	assert_int_equal(m->watching, 0);
}

// cee_conn_next: a resumable slot walk visits each live connection once.
static void conn_next_visits_each_once(void **state)
{
	struct fixture *f = *state;
	for (unsigned i = 0; i < 300; i++)
		open_one(f);
	for (unsigned i = 0; i < 100; i++)
		destroy_at(f, (unsigned)rand() % f->nlive);
	uint32_t slot = 0, seen = 0, cap = cee_conn_capacity(f->pool);
	while (slot < cap) {
		uint32_t end = slot + 5;
		struct cee_conn *c;
		while ((c = cee_conn_next(f->pool, &slot, end)) != NULL) {
			assert_ptr_equal(cee_conn_by_id(f->pool, c->id), c);
			seen++;
		}
		assert_int_equal(slot, end < cap ? end : cap);
	}
	assert_int_equal(seen, 200);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

// A figure, not a timed assertion: what one walk step costs by itself (no
// EAL, no preemption to speak of), with a full pool of 65536 connections and
// the engine's step of 512 slots (CEE_MBOX_WALK_SLOTS). docs/control.md
// quotes it; the run prints it.
static void walk_step_cost(void **state)
{
	(void)state;
	struct cee_conn_pool *p = cee_conn_pool_create(0, 65536);
	assert_non_null(p);
	for (uint32_t i = 0; i < 65536; i++)
		assert_non_null(cee_conn_alloc(p, 1, 7, i, (uint16_t)i));
	struct cee_mbox_walk w = {0};
	uint64_t max = 0, total = 0, steps = 0;
	for (int round = 0; round < 5; round++) {
		struct cee_mbox_req *r = cee_mbox_req_alloc(CEE_MBOX_OP_LIST, 65536, 0);
		assert_non_null(r);
		cee_mbox_walk_begin(&w, r, p, 0, 0);
		for (bool done = false; !done; steps++) {
			uint64_t t0 = mono_ns();
			done = cee_mbox_walk_step(&w, p, 512);
			uint64_t ns = mono_ns() - t0;
			total += ns;
			max = ns > max ? ns : max;
		}
		assert_int_equal(r->n, 65536);
		cee_mbox_req_free(r);
	}
	printf("walk step (512 slots, 65536 live of %u slots): mean %llu ns, max %llu ns over %llu "
	       "steps\n",
	       cee_conn_capacity(p), (unsigned long long)(total / steps), (unsigned long long)max,
	       (unsigned long long)steps);
	cee_conn_pool_destroy(p);
}

/*
 * The request protocol between two threads: a requester that waits for the
 * answer or gives up at once, a shard that answers. Guards against a
 * request freed twice or never (the give-up and the answer racing: one
 * compare-and-swap decides who frees it), and an answer read before the
 * shard's writes are visible (the state's release/acquire). Run under
 * ASan (leaks, double frees) and TSan (scripts/test.sh).
 */
#define XCHG_N 20000

struct xchg {
	_Atomic(struct cee_mbox_req *) slot; // requester -> shard, one at a time
	atomic_uint answered;
};

static void *shard_side(void *arg)
{
	struct xchg *x = arg;
	for (unsigned i = 0; i < XCHG_N; i++) {
		struct cee_mbox_req *r;
		while ((r = atomic_exchange_explicit(&x->slot, NULL, memory_order_acquire)) == NULL)
			;
		r->n = i; // the answer, written before finish() publishes it
		((uint32_t *)r->data)[0] = i * 7;
		cee_mbox_req_finish(r);
		atomic_fetch_add_explicit(&x->answered, 1, memory_order_relaxed);
	}
	return NULL;
}

static void req_protocol_two_threads(void **state)
{
	(void)state;
	struct xchg x;
	atomic_init(&x.slot, NULL);
	atomic_init(&x.answered, 0);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, shard_side, &x), 0);
	unsigned waited = 0, gave_up = 0, answered_first = 0;
	for (unsigned i = 0; i < XCHG_N; i++) {
		struct cee_mbox_req *r = cee_mbox_req_alloc(CEE_MBOX_OP_STATS, 0, sizeof(uint32_t));
		assert_non_null(r);
		while (atomic_load_explicit(&x.slot, memory_order_acquire) != NULL)
			; // the shard took the last one
		atomic_store_explicit(&x.slot, r, memory_order_release);
		if (i % 3 != 0) { // wait for the answer
			while (!cee_mbox_req_done(r))
				;
			assert_int_equal(r->n, i);
			assert_int_equal(((uint32_t *)r->data)[0], i * 7);
			cee_mbox_req_free(r);
			waited++;
		} else if (cee_mbox_req_abandon(r)) {
			gave_up++; // the shard frees it
		} else {
			assert_int_equal(r->n, i); // answered first: ours to read and free
			cee_mbox_req_free(r);
			answered_first++;
		}
	}
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(atomic_load(&x.answered), XCHG_N);
	assert_int_equal(waited + gave_up + answered_first, XCHG_N);
	print_message("waited %u, gave up %u, answered before giving up %u\n", waited, gave_up,
		      answered_first);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(walk_is_an_exact_cut_under_churn, setup, teardown),
		cmocka_unit_test_setup_teardown(abandoned_walk_leaves_no_mark, setup, teardown),
		cmocka_unit_test_setup_teardown(walk_steps_are_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(walk_overflow_is_reported, setup, teardown),
		cmocka_unit_test(abandon_and_finish_free_exactly_once),
		cmocka_unit_test(op_names),
		cmocka_unit_test(links_request_has_room_for_its_records),
		cmocka_unit_test_setup_teardown(watch_answer_reports_the_close, setup, teardown),
		cmocka_unit_test_setup_teardown(conn_row_reason_only_after_closed, setup, teardown),
		cmocka_unit_test_setup_teardown(watch_list_holds_exactly_the_waiting, setup, teardown),
		cmocka_unit_test_setup_teardown(conn_next_visits_each_once, setup, teardown),
		cmocka_unit_test(walk_step_cost),
		cmocka_unit_test(req_protocol_two_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
