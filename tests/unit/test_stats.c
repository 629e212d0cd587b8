/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for the one counter list (cee_stats.c) that cee-ctl, telemetry
 * and --stats render. Fault guarded against: a counter that exists in a
 * shard, TCP, drop, ring or mailbox struct but that some renderer never
 * shows (two hand-kept lists had diverged: ooo_*, no_sndbuf, connected,
 * connect_fail, no_route were missing from cee-ctl).
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <rte_ring.h>
#include <rte_telemetry.h>

#include "cee_ctl_priv.h"
#include "cee_shard.h"
#include "cee_stats.h"

/* Find the counter whose flat name is @p name. @return its value in @p st, or -1. */
static int64_t flat(const struct cee_ctl_shard_stats *st, const char *name)
{
	char buf[64];
	for (unsigned i = 0; i < cee_stat_count(); i++)
		if (strcmp(cee_stat_flat_name(i, buf, sizeof(buf)), name) == 0)
			return (int64_t)cee_stat_value(i, st);
	return -1;
}

/* Every shard, TCP and drop counter field is exported, with its own value. */
static void test_every_field_exported(void **state)
{
	(void)state;
	struct cee_ctl_shard_stats st;
	memset(&st, 0, sizeof(st));
	uint64_t v = 1000;
#define SET_SHARD(f, t, d) st.shard.f = ++v;
	CEE_SHARD_STATS_LIST(SET_SHARD)
#define SET_TCP(f, g, n, d) st.tcp.f = ++v;
	CEE_TCP_STATS_LIST(SET_TCP)
	for (unsigned d = 0; d < CEE_DROP__COUNT; d++)
		st.shard.drops[d] = ++v;

	v = 1000;
#define CHECK_SHARD(f, t, d) assert_int_equal(flat(&st, #f), ++v);
	CEE_SHARD_STATS_LIST(CHECK_SHARD)
#define CHECK_TCP(f, g, n, d)                                                                     \
	assert_int_equal(flat(&st, strcmp(#g, "TCP") == 0 ? "tcp_" n : "drop_" n), ++v);
	CEE_TCP_STATS_LIST(CHECK_TCP)
	for (unsigned d = 0; d < CEE_DROP__COUNT; d++) {
		char name[64];
		snprintf(name, sizeof(name), "drop_%s", cee_drop_str((enum cee_drop)d));
		assert_int_equal(flat(&st, name), ++v);
	}
	// the ones cee-ctl used to lack
	assert_true(flat(&st, "tcp_ooo_queued") > 0);
	assert_true(flat(&st, "tcp_no_sndbuf") > 0);
	assert_true(flat(&st, "tcp_zero_window_probes") > 0);
	assert_true(flat(&st, "connected") > 0);
	assert_true(flat(&st, "connect_fail") > 0);
	assert_true(flat(&st, "no_route") > 0);
}

/* Ring, mailbox and narrow fields read back exactly; no flat name is used twice. */
static void test_ring_mbox_and_names(void **state)
{
	(void)state;
	struct cee_ctl_shard_stats st;
	memset(&st, 0xff, sizeof(st));
	st.live = 7;
	st.max_conns = 4096;
	st.draining = true;
	st.ring.pushed = 11;
	st.ring.used_max = 12;
	st.mbox.kills = 13;
	st.mbox.ns_max = 14;
	assert_int_equal(flat(&st, "live"), 7);
	assert_int_equal(flat(&st, "max_conns"), 4096);
	assert_int_equal(flat(&st, "draining"), 1);
	assert_int_equal(flat(&st, "events"), 11);
	assert_int_equal(flat(&st, "ring_used_max"), 12);
	assert_int_equal(flat(&st, "mailbox_kills"), 13);
	assert_int_equal(flat(&st, "mailbox_max_ns"), 14);

	char a[64], b[64];
	for (unsigned i = 0; i < cee_stat_count(); i++) {
		cee_stat_flat_name(i, a, sizeof(a));
		for (unsigned j = i + 1; j < cee_stat_count(); j++)
			assert_string_not_equal(a, cee_stat_flat_name(j, b, sizeof(b)));
	}
	// maxima, not sums, where a total of shards would mean nothing
	for (unsigned i = 0; i < cee_stat_count(); i++) {
		const struct cee_stat_def *d = cee_stat_def(i);
		bool want_max = strstr(d->name, "max") != NULL || strcmp(d->name, "draining") == 0;
		if (strcmp(d->name, "max_conns") == 0)
			want_max = false; /* capacity adds up */
		if (strcmp(d->name, "tls_heap") == 0)
			want_max = true; /* the process's, shown by every shard */
		assert_int_equal(d->max, want_max);
	}
}

/*
 * Fault: the counter list outgrew what cee-ctl and telemetry flatten
 * (CTL_STATS_MAX), and the last counters (mailbox_*) silently vanished from
 * /cee/stats and `cee-ctl stats` (seen when the link and hostile-traffic
 * counters were added).
 */
static void test_fits_ctl_and_telemetry(void **state)
{
	(void)state;
	assert_true(cee_stat_count() <= CTL_STATS_MAX);
	assert_true(CTL_STATS_MAX + 8 <= RTE_TEL_MAX_DICT_ENTRIES);
}

/*
 * Fault (review of the control plane, session 26): a request that found its
 * shard's mailbox full ("try again"), or that a shard left unanswered past
 * the deadline, was counted nowhere: a shard that stalled or fell behind
 * showed only in the clients' replies. Now mailbox_full and
 * mailbox_timeouts count them (the requesters write them, atomically).
 */
static void test_mailbox_full_and_timeouts_counted(void **state)
{
	(void)state;
	size_t sz = (size_t)rte_ring_get_memsize(4);
	struct rte_ring *ring = aligned_alloc(128, (sz + 127) & ~(size_t)127);
	assert_non_null(ring);
	assert_int_equal(rte_ring_init(ring, "t", 4, RING_F_SC_DEQ), 0); /* holds 3 */
	static struct cee_mbox m;
	static struct cee_ctl c;
	memset(&m, 0, sizeof(m));
	memset(&c, 0, sizeof(c));
	m.ring = ring;
	c.nshards = 1;
	c.mbox[0] = &m;
	struct ctl_job j[4];
	for (unsigned i = 0; i < 3; i++) {
		cee_ctl_job_start(&c, &j[i], CEE_MBOX_OP_STATS, 0);
		assert_int_equal(j[i].rc, 0);
	}
	cee_ctl_job_start(&c, &j[3], CEE_MBOX_OP_STATS, 0); /* no room */
	assert_int_equal(j[3].rc, -EBUSY);
	assert_int_equal(atomic_load(&m.full), 1);
	assert_true(cee_ctl_job_poll(&j[3], &c));
	cee_ctl_job_release(&j[3]);
	/* the shard never answers: the first job's deadline passes */
	assert_false(cee_ctl_job_poll(&j[0], &c));
	j[0].deadline_ns = 1;
	assert_true(cee_ctl_job_poll(&j[0], &c));
	assert_int_equal(j[0].rc, -ETIMEDOUT);
	assert_int_equal(atomic_load(&m.timeouts), 1);
	cee_ctl_job_release(&j[0]);
	/* a shard that stopped is not a timeout */
	atomic_store(&m.closed, true);
	j[1].deadline_ns = 1;
	assert_true(cee_ctl_job_poll(&j[1], &c));
	assert_int_equal(j[1].rc, -ESHUTDOWN);
	assert_int_equal(atomic_load(&m.timeouts), 1);
	cee_ctl_job_release(&j[1]);
	/* the shard side: the abandoned ones are freed by it, the answered one by us */
	void *r;
	while (rte_ring_dequeue(ring, &r) == 0)
		cee_mbox_req_finish(r);
	assert_true(cee_ctl_job_poll(&j[2], &c));
	cee_ctl_job_release(&j[2]);
	/* and exported */
	struct cee_ctl_shard_stats st;
	memset(&st, 0, sizeof(st));
	st.mbox.full = 21;
	st.mbox.timeouts = 22;
	assert_int_equal(flat(&st, "mailbox_full"), 21);
	assert_int_equal(flat(&st, "mailbox_timeouts"), 22);
	free(ring);
}

/*
 * Fault: hand-off rings of 4,096 slots whatever the shard count: the rings
 * into one stalled shard of 16 held 61,425 of the pool's 167,936 mbufs,
 * and two stalled shards left every receive queue without mbufs. The
 * rings into one shard hold about its 8,192 of the pool, down to rings of
 * 512 (a burst's worth many times over).
 */
static void test_handoff_rings_bounded(void **state)
{
	(void)state;
	assert_int_equal(cee_handoff_ring_size(2), 4096);
	assert_int_equal(cee_handoff_ring_size(3), 4096);
	for (unsigned n = 2; n <= 128; n++) {
		unsigned size = cee_handoff_ring_size(n);
		assert_true(size >= 512 && size <= CEE_HANDOFF_RING);
		assert_int_equal(size & (size - 1), 0); /* a power of two (rte_ring) */
		assert_true(size == 512 || (n - 1) * size <= 8192);
		assert_true(size == CEE_HANDOFF_RING || (n - 1) * size * 2 > 8192);
	}
	assert_int_equal(cee_handoff_ring_size(16), 512);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_field_exported),
	    cmocka_unit_test(test_ring_mbox_and_names),
	    cmocka_unit_test(test_fits_ctl_and_telemetry),
	    cmocka_unit_test(test_mailbox_full_and_timeouts_counted),
	    cmocka_unit_test(test_handoff_rings_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
