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

/* ---- the stream's end when a wait began (T.position) ---- */

static uint64_t stream_end; /* what the fake consumer info says */
static unsigned acked_n;

static void fake_ack(void *h, bool wrote)
{
	(void)h, (void)wrote;
	acked_n++;
}
static void fake_drop(void *h)
{
	(void)h;
}
static void fake_replaced(void *older, void *newer)
{
	(void)older, (void)newer;
}
static const struct msg_ops fake_ops = {
    .ack = fake_ack, .drop = fake_drop, .replaced = fake_replaced};

static uint64_t fake_position(void)
{
	asked++;
	return stream_end;
}

static char *out_buf;
static size_t out_len;

/* A jsonl batch of engine e1 shard 0, sseq first..last, stored at stream
 * sequence pos, taken at now. */
static void put_body(uint64_t first, uint64_t last, uint64_t pos, uint64_t now, const char *body)
{
	static char num[3][24];
	snprintf(num[0], sizeof(num[0]), "%llu", (unsigned long long)first);
	snprintf(num[1], sizeof(num[1]), "%llu", (unsigned long long)last);
	snprintf(num[2], sizeof(num[2]), "%llu", (unsigned long long)(last - first + 1));
	struct msg m = {.subject = "cee.e1.0.events", .engine = "e1", .run = "r1", .shard = "0",
			.first = num[0], .last = num[1], .events = num[2], .format = "jsonl",
			.data = body, .len = strlen(body), .handle = NULL, .pos = pos};
	assert_int_equal(take(&m, now), 0);
	assert_int_equal(flush_and_ack(), 0);
	wait_positions();
}

static void put(uint64_t first, uint64_t last, uint64_t pos, uint64_t now)
{
	static char num[3][24];
	snprintf(num[0], sizeof(num[0]), "%llu", (unsigned long long)first);
	snprintf(num[1], sizeof(num[1]), "%llu", (unsigned long long)last);
	snprintf(num[2], sizeof(num[2]), "%llu", (unsigned long long)(last - first + 1));
	// (a held batch's body stays the message's: one buffer per message)
	static char bodies[32][4096];
	static unsigned nb;
	char *body = bodies[nb++ % 32];
	size_t n = 0;
	for (uint64_t q = first; q <= last; q++)
		n += (size_t)snprintf(body + n, sizeof(bodies[0]) - n, "{\"sseq\":%llu}\n",
				      (unsigned long long)q);
	struct msg m = {.subject = "cee.e1.0.events", .engine = "e1", .run = "r1", .shard = "0",
			.first = num[0], .last = num[1], .events = num[2], .format = "jsonl",
			.data = body, .len = n, .handle = NULL, .pos = pos};
	assert_int_equal(take(&m, now), 0);
	assert_int_equal(flush_and_ack(), 0);
	wait_positions();
}

static int setup_pos(void **state)
{
	setup(state);
	T.ops = &fake_ops;
	T.reorder_wait_ns = 1 * SEC;
	T.position = fake_position;
	T.pos_cap_ns = CAP;
	T.out = open_memstream(&out_buf, &out_len);
	acked_n = 0;
	return T.out == NULL;
}

static int teardown_pos(void **state)
{
	fclose(T.out);
	free(out_buf);
	out_buf = NULL;
	(void)release();
	return teardown(state);
}

/*
 * Fault (review): a reader slower than the producers (its output blocked
 * past the reorder wait, or a catch-up from the start) gave up a gap whose
 * batch was stored but not yet delivered to it, and then skipped that batch
 * as a copy of what it had written: events lost from its output. The wait
 * now also lasts until every message stored when it began has been taken.
 */
static void test_gap_waits_for_the_stream(void **state)
{
	(void)state;
	put(1, 2, 1, T0);   /* written */
	stream_end = 40;    /* the stream when the gap begins: batch 3-4 is in it (resent, at 40) */
	put(5, 6, 3, T0);   /* behind a gap: 3-4 */
	assert_int_equal(T.keys[0].nheld, 1);
	assert_int_equal(asked, 1);
	uint64_t late = T0 + 5 * SEC; /* the reader was stalled past the reorder wait */
	put(7, 8, 20, late);
	timers(late, false);
	assert_int_equal(T.gaps, 0); /* stream position 20 of 40: 3-4 may still come */
	put(3, 4, 40, late + 1);     /* it does */
	timers(late + 1, false);
	assert_int_equal(T.gaps, 0);
	assert_int_equal(T.keys[0].nheld, 0);
	assert_int_equal(T.keys[0].next, 9);
	assert_int_equal(T.events, 8);
}

/* Fault: a gap that is real never given up when the stream has moved on
 * past where it stood, or when the position does not come (the cap). */
static void test_gap_given_up_past_the_stream(void **state)
{
	(void)state;
	put(1, 2, 1, T0);
	stream_end = 10;
	put(5, 6, 3, T0); /* 3-4 never stored */
	timers(T0 + 2 * SEC, false);
	assert_int_equal(T.gaps, 0); /* position 3 of 10 */
	put(7, 8, 10, T0 + 2 * SEC);
	timers(T0 + 2 * SEC, false);
	assert_int_equal(T.gaps, 1); /* everything stored then was taken: given up */
	assert_int_equal(T.keys[0].next, 9);

	stream_end = 1000; /* a position never reached (another reader takes the rest) */
	put(11, 12, 11, T0 + 3 * SEC);
	timers(T0 + 3 * SEC + 1 * SEC + CAP - 1, false);
	assert_int_equal(T.gaps, 1);
	timers(T0 + 3 * SEC + 1 * SEC + CAP, false); /* the cap */
	assert_int_equal(T.gaps, 2);
	assert_int_equal(T.keys[0].next, 13);
	// (review) a batch of a gap given up that comes after all is late (in
	// no output), not a copy of what was written
	uint64_t dups = T.duplicates;
	put(3, 4, 12, T0 + 10 * SEC);
	assert_int_equal(T.late, 1);
	assert_int_equal(T.duplicates, dups);
	put(7, 8, 13, T0 + 10 * SEC); /* this one was written: a copy */
	assert_int_equal(T.late, 1);
	assert_int_equal(T.duplicates, dups + 1);
}

/*
 * Fault (review): every (engine, run, shard) key of binary batches kept a
 * ~66 KiB encoder for good (1 MiB per restart of a 16-shard engine with a
 * random id), and keys were found by a linear scan of all of them.
 */
/* An open and an established of connection @p serial, sseq @p sseq and the next. */
static void two_events(struct cee_event ev[2], uint64_t serial, uint64_t sseq)
{
	memset(ev, 0, 2 * sizeof(ev[0]));
	for (unsigned i = 0; i < 2; i++) {
		ev[i].sseq = sseq + i;
		ev[i].conn = cee_id_make(0, serial);
		ev[i].type = i == 0 ? CEE_EVT_OPEN : CEE_EVT_ESTABLISHED;
		ev[i].cseq = (uint8_t)i;
	}
}

static void test_many_runs_bounded(void **state)
{
	(void)state;
	enum { RUNS = 3000 };
	static struct cee_event ev[2];
	char run[24], num[3][24];
	for (unsigned r = 0; r < 2 * RUNS; r++) {
		unsigned rr = r % RUNS; /* the second round: the same keys again */
		snprintf(run, sizeof(run), "r%012u", rr);
		two_events(ev, 1, 1);
		snprintf(num[0], sizeof(num[0]), "1");
		snprintf(num[1], sizeof(num[1]), "2");
		snprintf(num[2], sizeof(num[2]), "2");
		struct msg m = {.subject = "cee.e.0.events", .engine = "e1", .run = run, .shard = "0",
				.first = num[0], .last = num[1], .events = num[2], .format = "binary",
				.data = (const char *)ev, .len = sizeof(ev), .pos = r + 1};
		assert_int_equal(take(&m, T0), 0);
	}
	assert_int_equal(flush_and_ack(), 0);
	assert_int_equal(T.nkeys, RUNS);           /* found again, not made twice */
	assert_int_equal(T.duplicates, RUNS);      /* the second round: written already */
	assert_int_equal(T.events, 2 * RUNS);
	for (unsigned i = 0; i < T.nkeys; i++)
		assert_null(T.keys[i].enc);        /* no group open: no encoder kept */
}

/*
 * Fault (review of the NATS sink): cee-tail never read Cee-Schema; binary
 * batches of an engine of another schema (a rolling upgrade) were read as
 * this build's records and written as lines that looked right, exit 0.
 */
static void test_binary_other_schema_not_written(void **state)
{
	(void)state;
	static struct cee_event ev[2];
	two_events(ev, 1, 1);
	struct msg m = {.subject = "cee.e.0.events", .engine = "e1", .run = "r1", .shard = "0",
			.first = "1", .last = "2", .events = "2", .format = "binary",
			.schema = "4", .data = (const char *)ev, .len = sizeof(ev), .pos = 1};
	assert_int_equal(take(&m, T0), 0);
	assert_int_equal(flush_and_ack(), 0);
	assert_int_equal(T.bad, 1);
	assert_int_equal(T.schema_other, 1);
	assert_int_equal(T.events, 0);
	fflush(T.out);
	assert_int_equal(out_len, 0);
	// this schema's (and none given: the sink always names it) are written
	static struct cee_event ev2[2];
	two_events(ev2, 2, 3);
	char ours[8];
	snprintf(ours, sizeof(ours), "%u", CEE_EVT_SCHEMA_VERSION);
	struct msg m2 = {.subject = "cee.e.0.events", .engine = "e1", .run = "r1", .shard = "0",
			 .first = "3", .last = "4", .events = "2", .format = "binary",
			 .schema = ours, .data = (const char *)ev2, .len = sizeof(ev2), .pos = 2};
	assert_int_equal(take(&m2, T0), 0);
	assert_int_equal(flush_and_ack(), 0);
	assert_int_equal(T.events, 2);
	assert_int_equal(T.bad, 1);
}

/* The sseqs written so far, in order, each line's ("xseq".."sseq" of a
 * line with extension records) checked to follow on from the last. */
static uint64_t written_through(void)
{
	fflush(T.out);
	uint64_t next = 1;
	const char *p = out_buf, *end = out_buf + out_len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		assert_non_null(nl);
		uint64_t from, to;
		assert_true(line_num(p, (size_t)(nl - p), "sseq", &to));
		if (!line_num(p, (size_t)(nl - p), "xseq", &from))
			from = to;
		assert_int_equal(from, next); /* no gap, no line twice */
		next = to + 1;
		p = nl + 1;
	}
	return next - 1;
}

/*
 * Fault (review): a batch overlapping what was written (first < next <=
 * last: two sinks of one engine on one prefix batch the same events at
 * other bounds) was taken for a copy: acknowledged, and its new events
 * lost for good, exit 0.
 */
static void test_overlap_taken(void **state)
{
	(void)state;
	put(1, 10, 1, T0);
	put(5, 15, 2, T0); /* 11..15 are new */
	assert_int_equal(T.overlaps, 1);
	assert_int_equal(T.keys[0].next, 16);
	assert_int_equal(T.events, 15);
	assert_int_equal(written_through(), 15);
	// held behind a gap, then overlapped by what fills it
	put(20, 24, 4, T0);
	put(16, 21, 3, T0); /* writes 16..21; 22..24 of the held one follow */
	assert_int_equal(T.keys[0].next, 25);
	assert_int_equal(written_through(), 24);
	assert_int_equal(T.overlaps, 2);
	assert_int_equal(T.bad, 0);
	assert_int_equal(T.gaps, 0);
}

/*
 * Fault (review): of two batches from one sseq held behind a gap, the newer
 * was kept even when it was the shorter: the rest of the longer one never
 * came again, a gap.
 */
static void test_same_first_longer_kept(void **state)
{
	(void)state;
	put(1, 2, 1, T0);
	put(5, 10, 3, T0);
	put(5, 7, 4, T0); /* another sink's bounds */
	put(3, 4, 5, T0);
	assert_int_equal(T.keys[0].next, 11);
	assert_int_equal(written_through(), 10);
	assert_int_equal(T.gaps, 0);
}

/*
 * Fault (review): after a stop signal (or a failed write to stdout) with a
 * batch held behind a gap whose wait was up, timers() skipped the gap again
 * and again: drain() writes nothing once stopping, so the batch stayed held
 * and due, and cee-tail spun for ever, saying "never came; skipped" at each
 * turn (with --reorder-wait 0, at nearly every SIGTERM during a fetch). A
 * second SIGTERM did nothing. An alarm ends the test if it spins.
 */
static void test_stop_with_gap_due(void **state)
{
	(void)state;
	put(1, 2, 1, T0);
	stream_end = 3;
	put(5, 6, 3, T0); /* behind a gap: 3-4 */
	assert_int_equal(T.keys[0].nheld, 1);
	stop = 1;
	alarm(5);
	timers(T0 + 2 * SEC, false);
	timers(T0 + 2 * SEC, true);
	alarm(0);
	stop = 0;
	assert_int_equal(T.keys[0].nheld, 1); /* kept: not acknowledged, delivered again */
	assert_int_equal(T.gaps, 0);          /* nor given up: the next reader may have it */
	// the same for a failed write to stdout
	T.out_err = true;
	alarm(5);
	timers(T0 + 3 * SEC, false);
	alarm(0);
	T.out_err = false;
	assert_int_equal(T.gaps, 0);
	timers(T0 + 3 * SEC, false); /* going on: given up and written */
	assert_int_equal(T.gaps, 1);
	assert_int_equal(T.keys[0].nheld, 0);
	assert_int_equal(T.keys[0].next, 7);
}

/* What reached T.out's file ends at a line's end (or is empty). */
static void assert_whole_lines(int fd)
{
	static char buf[8192];
	ssize_t n = pread(fd, buf, sizeof(buf), 0);
	assert_true(n >= 0 && n < (ssize_t)sizeof(buf));
	if (n > 0)
		assert_int_equal(buf[n - 1], '\n');
}

/*
 * Fault (review): stdio wrote its full buffer out wherever the buffer ended,
 * mid-line; a cee-tail killed then (SIGKILL, a crash) left a cut line in its
 * output, and the next run wrote the batch (delivered again) on after it.
 * A 256-byte buffer here (glibc writes a whole number of its blocks past
 * a full buffer from 128 bytes on): batches smaller than it, across it, and
 * larger.
 */
static void test_output_whole_lines(void **state)
{
	(void)state;
	FILE *f = tmpfile();
	assert_non_null(f);
	static char vbuf[256];
	assert_int_equal(setvbuf(f, vbuf, _IOFBF, sizeof(vbuf)), 0);
	fclose(T.out);
	free(out_buf); /* (the memstream's buffer: setup's, replaced below) */
	out_buf = NULL;
	T.out = f;
	T.out_cap = sizeof(vbuf);
	uint64_t sseq = 1;
	static const unsigned sizes[] = {1, 2, 30, 5, 40, 3, 1, 25, 7, 2, 38, 1};
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		static char body[16][512];
		char *b = body[i % 16];
		size_t n = 0;
		for (unsigned j = 0; j < sizes[i]; j++)
			n += (size_t)snprintf(b + n, sizeof(body[0]) - n, "{\"sseq\":%llu}\n",
					      (unsigned long long)(sseq + j));
		char num[3][24];
		snprintf(num[0], sizeof(num[0]), "%llu", (unsigned long long)sseq);
		snprintf(num[1], sizeof(num[1]), "%llu", (unsigned long long)(sseq + sizes[i] - 1));
		snprintf(num[2], sizeof(num[2]), "%u", sizes[i]);
		struct msg m = {.subject = "cee.e1.0.events", .engine = "e1", .run = "r1", .shard = "0",
				.first = num[0], .last = num[1], .events = num[2], .format = "jsonl",
				.data = b, .len = n, .handle = NULL, .pos = i + 1};
		assert_int_equal(take(&m, T0), 0); /* written, not flushed */
		assert_whole_lines(fileno(f));
		sseq += sizes[i];
	}
	assert_int_equal(flush_and_ack(), 0);
	assert_whole_lines(fileno(f));
	assert_int_equal(T.events, sseq - 1);
	size_t want = 0; /* every line, once */
	for (uint64_t q = 1; q < sseq; q++)
		want += (size_t)snprintf(NULL, 0, "{\"sseq\":%llu}\n", (unsigned long long)q);
	assert_int_equal(ftell(f), (long)want);
	T.out = open_memstream(&out_buf, &out_len); /* for teardown_pos */
	T.out_cap = 0;
	fclose(f);
}

/* Guard: an overlap that cuts a line of extension records (xseq..sseq) is
 * said malformed (exit 1) and its range skipped, as any malformed batch's:
 * never written in part or twice. */
static void test_overlap_uncuttable(void **state)
{
	(void)state;
	put(1, 10, 1, T0);
	put_body(9, 12, 2, T0, "{\"sseq\":11,\"xseq\":9}\n{\"sseq\":12}\n");
	assert_int_equal(T.overlaps, 1);
	assert_int_equal(T.bad, 1);
	assert_int_equal(T.keys[0].next, 13);
	assert_int_equal(written_through(), 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_surplus_waits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cached_between_questions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_new_episode, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_answer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_gap_waits_for_the_stream, setup_pos, teardown_pos),
	    cmocka_unit_test_setup_teardown(test_gap_given_up_past_the_stream, setup_pos,
					    teardown_pos),
	    cmocka_unit_test_setup_teardown(test_many_runs_bounded, setup_pos, teardown_pos),

	    cmocka_unit_test_setup_teardown(test_binary_other_schema_not_written, setup_pos, teardown_pos),
	    cmocka_unit_test_setup_teardown(test_overlap_taken, setup_pos, teardown_pos),
	    cmocka_unit_test_setup_teardown(test_same_first_longer_kept, setup_pos, teardown_pos),
	    cmocka_unit_test_setup_teardown(test_overlap_uncuttable, setup_pos, teardown_pos),
	    cmocka_unit_test_setup_teardown(test_stop_with_gap_due, setup_pos, teardown_pos),
	    cmocka_unit_test_setup_teardown(test_output_whole_lines, setup_pos, teardown_pos),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
