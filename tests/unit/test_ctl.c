/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for the command socket's exchanges (cee_ctl_sock.c) over a
 * real Unix socket, with mailboxes whose "shards" the test plays by hand
 * (it answers a request, or never does). No EAL: rings are rte_ring_init()
 * on plain memory, as in test_stats.
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
#include <time.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <rte_ring.h>

#include "cee_ctl_priv.h"

#define NSHARDS 2

uint64_t __wrap_cee_clock_ns(void);

// The engine clock without the EAL (no TSC rate): CLOCK_MONOTONIC.
uint64_t __wrap_cee_clock_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct fixture {
	struct cee_ctl c;
	struct cee_mbox m[NSHARDS];
	char path[108];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -1;
	size_t sz = (size_t)rte_ring_get_memsize(16);
	for (unsigned i = 0; i < NSHARDS; i++) {
		f->m[i].ring = aligned_alloc(128, (sz + 127) & ~(size_t)127);
		if (f->m[i].ring == NULL ||
		    rte_ring_init(f->m[i].ring, "t", 16, RING_F_SC_DEQ) != 0)
			return -1;
		f->c.mbox[i] = &f->m[i];
	}
	f->c.nshards = NSHARDS;
	f->c.listen_fd = -1;
	snprintf(f->c.engine, sizeof(f->c.engine), "e1");
	snprintf(f->c.run, sizeof(f->c.run), "r000000000001");
	for (unsigned i = 0; i < CEE_CTL_MAX_CLIENTS; i++)
		f->c.clients[i].fd = -1;
	snprintf(f->path, sizeof(f->path), "/tmp/cee-test-ctl-%d.sock", getpid());
	(void)unlink(f->path);
	if (cee_ctl_sock_open(&f->c, f->path) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	cee_ctl_sock_close(&f->c);
	for (unsigned i = 0; i < NSHARDS; i++) {
		// the shards' side: what is still posted is finished (an
		// abandoned one is freed by that)
		void *r;
		while (rte_ring_dequeue(f->m[i].ring, &r) == 0)
			cee_mbox_req_finish(r);
		free(f->m[i].ring);
	}
	free(f);
	return 0;
}

static int client_connect(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

// The server's side of client @p fd (accepted by a pass of the server).
static struct ctl_client *served(struct fixture *f)
{
	for (int pass = 0; pass < 100; pass++) {
		(void)cee_ctl_sock_poll(&f->c);
		for (unsigned i = 0; i < CEE_CTL_MAX_CLIENTS; i++)
			if (f->c.clients[i].fd >= 0)
				return &f->c.clients[i];
		usleep(1000);
	}
	fail_msg("the server did not accept the client");
	return NULL;
}

// Poll the server until @p fd reads EOF (within @p ms): the reply in @p out.
static size_t reply_of(struct fixture *f, int fd, char *out, size_t cap, unsigned ms)
{
	size_t n = 0;
	uint64_t end = __wrap_cee_clock_ns() + (uint64_t)ms * 1000000;
	while (__wrap_cee_clock_ns() < end) {
		(void)cee_ctl_sock_poll(&f->c);
		ssize_t r = recv(fd, out + n, cap - 1 - n, MSG_DONTWAIT);
		if (r == 0)
			break;
		if (r > 0)
			n += (size_t)r;
		usleep(1000);
	}
	out[n] = '\0';
	return n;
}

/*
 * Fault (review of the control plane): a request whose line came late in
 * its exchange (more than 5 s after the connection: a slow writer, a
 * client that connects ahead) and that a shard left unanswered got no
 * reply at all: the exchange's 10 s deadline closed the client before the
 * job's own 5 s ran out. Now the job's deadline is the exchange's at the
 * latest, and the client is answered "a shard did not answer in time".
 */
static void late_line_unanswered_gets_an_error(void **state)
{
	struct fixture *f = *state;
	int fd = client_connect(f->path);
	struct ctl_client *k = served(f);
	// as if 9.8 s of the exchange's 10 had gone when the line comes
	k->deadline_ns = __wrap_cee_clock_ns() + 200 * 1000000ull;
	assert_int_equal(send(fd, "stats\n", 6, 0), 6);
	char out[4096];
	size_t n = reply_of(f, fd, out, sizeof(out), 3000);
	assert_true(n > 0);
	assert_non_null(strstr(out, "\"ok\":false"));
	assert_non_null(strstr(out, "a shard did not answer in time"));
	assert_int_equal(atomic_load(&f->m[0].timeouts) + atomic_load(&f->m[1].timeouts), 2);
	close(fd);
}

/*
 * Fault guarded against: a listing whose one shard answered and the other
 * did not in time going out as a partial listing (the answered shard's
 * connections as if they were all), or not at all. It is an error reply.
 */
static void one_shard_silent_is_an_error_not_a_partial_listing(void **state)
{
	struct fixture *f = *state;
	int fd = client_connect(f->path);
	struct ctl_client *k = served(f);
	assert_int_equal(send(fd, "conns\n", 6, 0), 6);
	for (int pass = 0; pass < 100 && !k->job.active; pass++) {
		(void)cee_ctl_sock_poll(&f->c);
		usleep(1000);
	}
	assert_true(k->job.active);
	// shard 0 answers (no connection); shard 1 never does
	void *p = NULL;
	assert_int_equal(rte_ring_dequeue(f->m[0].ring, &p), 0);
	struct cee_mbox_req *r = p;
	r->rc = 0;
	r->n = 0;
	r->sseq = 7;
	cee_mbox_req_finish(r);
	k->job.deadline_ns = __wrap_cee_clock_ns() + 100 * 1000000ull;
	char out[4096];
	size_t n = reply_of(f, fd, out, sizeof(out), 3000);
	assert_true(n > 0);
	assert_non_null(strstr(out, "a shard did not answer in time"));
	assert_null(strstr(out, "\"conns\""));
	assert_int_equal(atomic_load(&f->m[1].timeouts), 1);
	close(fd);
}

// Shard @p i's side of DRAIN: every request posted answered with @p live
// connections. @return requests answered.
static unsigned answer_drains_of(struct fixture *f, unsigned i, uint32_t live)
{
	unsigned n = 0;
	void *p = NULL;
	while (rte_ring_dequeue(f->m[i].ring, &p) == 0) {
		struct cee_mbox_req *r = p;
		assert_int_equal(r->op, CEE_MBOX_OP_DRAIN);
		r->rc = 0;
		r->live = live;
		cee_mbox_req_finish(r);
		n++;
	}
	return n;
}

// Every shard's side of DRAIN (answer_drains_of()). @return requests answered.
static unsigned answer_drains(struct fixture *f, uint32_t live)
{
	unsigned n = 0;
	for (unsigned i = 0; i < NSHARDS; i++)
		n += answer_drains_of(f, i, live);
	return n;
}

/*
 * Fault guarded against (review of the control plane): a drain of an
 * engine with no connection never completing (the engine never exits).
 * The drain completes at the control side's first look after every shard
 * answered none; and not while a shard still has one.
 */
static void idle_drain_completes(void **state)
{
	struct fixture *f = *state;
	int fd = client_connect(f->path);
	(void)served(f);
	assert_int_equal(send(fd, "drain\n", 6, 0), 6);
	char out[4096];
	size_t n = 0;
	uint64_t end = __wrap_cee_clock_ns() + 3000 * 1000000ull;
	bool one_left = true;
	while (!cee_ctl_drained(&f->c) && __wrap_cee_clock_ns() < end) {
		(void)cee_ctl_poll(&f->c);
		// the first round: one connection left on a shard; then none
		unsigned k = answer_drains(f, one_left ? 1 : 0);
		if (k > 0 && f->c.drain == CTL_DRAIN_WAIT && one_left) {
			assert_false(cee_ctl_drained(&f->c));
			one_left = false;
		}
		ssize_t r = recv(fd, out + n, sizeof(out) - 1 - n, MSG_DONTWAIT);
		if (r > 0)
			n += (size_t)r;
		usleep(1000);
	}
	out[n] = '\0';
	assert_true(cee_ctl_drained(&f->c));
	assert_non_null(strstr(out, "\"draining\":true"));
	assert_non_null(strstr(out, "\"unclosed\":"));
	close(fd);
}

/*
 * Fault guarded against (review of session 33): a request line too long
 * (255 bytes without a newline) was answered, then the socket closed with
 * the rest of the client's bytes unread, which resets the connection: the
 * client's read after the reply failed with ECONNRESET, not EOF.
 */
static void long_line_answered_then_eof(void **state)
{
	struct fixture *f = *state;
	int fd = client_connect(f->path);
	(void)served(f);
	char line[400];
	memset(line, 'a', sizeof(line));
	assert_int_equal(send(fd, line, sizeof(line), 0), (ssize_t)sizeof(line));
	char out[4096];
	size_t n = 0;
	ssize_t r = 0;
	int err = 0;
	for (uint64_t end = __wrap_cee_clock_ns() + 3000 * 1000000ull;
	     __wrap_cee_clock_ns() < end;) {
		(void)cee_ctl_sock_poll(&f->c);
		r = recv(fd, out + n, sizeof(out) - 1 - n, MSG_DONTWAIT);
		if (r > 0) {
			n += (size_t)r;
			continue;
		}
		if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
			err = r < 0 ? errno : 0;
			break;
		}
		usleep(1000);
	}
	out[n] = '\0';
	assert_non_null(strstr(out, "request line too long"));
	assert_int_equal(err, 0); // EOF, not ECONNRESET
	assert_int_equal(r, 0);
	close(fd);
}

// Fills shard @p i's mailbox with requests no shard serves: @return them.
static unsigned fill_mailbox(struct fixture *f, unsigned i, struct cee_mbox_req **held, unsigned cap)
{
	unsigned n = 0;
	for (;;) {
		struct cee_mbox_req *r = cee_mbox_req_alloc(CEE_MBOX_OP_STATS, 0, 0);
		assert_non_null(r);
		if (rte_ring_enqueue(f->m[i].ring, r) != 0) {
			cee_mbox_req_free(r);
			return n;
		}
		assert_true(n < cap);
		held[n++] = r;
	}
}

static void unfill_mailbox(struct fixture *f, unsigned i, struct cee_mbox_req **held, unsigned n)
{
	for (unsigned k = 0; k < n; k++) {
		void *p = NULL;
		assert_int_equal(rte_ring_dequeue(f->m[i].ring, &p), 0);
		assert_ptr_equal(p, held[k]);
		cee_mbox_req_free(held[k]);
	}
}

/*
 * Fault guarded against (review of session 33): a drain whose second
 * shard's mailbox was full answered "try again", the request posted to the
 * first shard given up unserved, and yet the engine drained: the control
 * thread went on with the drain because a request had been posted, not
 * because a shard took it. Now no shard took it, no drain: the reply's
 * "try again" holds.
 */
static void drain_busy_untaken_does_not_drain(void **state)
{
	struct fixture *f = *state;
	struct cee_mbox_req *held[32];
	unsigned nheld = fill_mailbox(f, 1, held, 32);
	int fd = client_connect(f->path);
	(void)served(f);
	assert_int_equal(send(fd, "drain\n", 6, 0), 6);
	char out[4096];
	size_t n = reply_of(f, fd, out, sizeof(out), 3000);
	assert_true(n > 0);
	assert_non_null(strstr(out, "a shard's mailbox is full; try again"));
	assert_null(strstr(out, "goes on"));
	assert_int_equal(f->c.drain, CTL_DRAIN_NONE);
	assert_int_equal(atomic_load(&f->m[1].full), 1);
	// the first shard's request, given up: the shard drops it unserved
	void *p = NULL;
	assert_int_equal(rte_ring_dequeue(f->m[0].ring, &p), 0);
	cee_mbox_req_finish(p); // (frees it: abandoned)
	unfill_mailbox(f, 1, held, nheld);
	close(fd);
}

/*
 * Fault guarded against (review of session 33's diff): a drain line that
 * came late in its exchange, taken by one shard and not yet by the other
 * when the exchange's deadline answered it ("a shard did not answer in
 * time; a shard took the drain: it goes on"), and the drain did not go on:
 * the deadline's reply released the job before client_close() could see a
 * shard had taken it. Shard 0 refused for good, shard 1 admitted, and the
 * engine never drained.
 */
static void late_drain_taken_goes_on(void **state)
{
	struct fixture *f = *state;
	int fd = client_connect(f->path);
	struct ctl_client *k = served(f);
	k->deadline_ns = __wrap_cee_clock_ns() + 300 * 1000000ull;
	assert_int_equal(send(fd, "drain\n", 6, 0), 6);
	for (int pass = 0; pass < 100 && !k->job.active; pass++) {
		(void)cee_ctl_sock_poll(&f->c);
		usleep(1000);
	}
	assert_true(k->job.active);
	assert_int_equal(answer_drains_of(f, 0, 0), 1); // shard 0 takes it; shard 1 does not
	char out[4096];
	size_t n = reply_of(f, fd, out, sizeof(out), 3000);
	assert_true(n > 0);
	assert_non_null(strstr(out, "it goes on"));
	assert_int_equal(f->c.drain, CTL_DRAIN_WAIT);
	close(fd);
}

/*
 * The other side of it: the first shard took the drain before the second's
 * full mailbox failed the job. That shard refuses new connections now, so
 * the drain goes on (docs/control.md), and the reply says so beside "try
 * again" (it said "try again" alone).
 */
static void drain_busy_taken_says_it_goes_on(void **state)
{
	struct fixture *f = *state;
	struct cee_mbox_req *held[32];
	unsigned nheld = fill_mailbox(f, 1, held, 32);
	struct ctl_job j;
	cee_ctl_job_start(&f->c, &j, CEE_MBOX_OP_DRAIN, 0);
	assert_int_equal(j.rc, -EBUSY);
	assert_int_equal(j.count, 1);
	// shard 0 serves its DRAIN before the job is looked at again
	assert_int_equal(answer_drains_of(f, 0, 0), 1);
	assert_true(cee_ctl_job_poll(&j, &f->c));
	assert_true(cee_ctl_job_taken(&j));
	struct ctl_buf b = {0};
	cee_ctl_render(&f->c, &b, CTL_CMD_DRAIN, 0, &j, NULL);
	assert_non_null(b.p);
	assert_non_null(strstr(b.p, "try again; a shard took the drain: it goes on"));
	cee_ctl_buf_free(&b);
	cee_ctl_job_release(&j);
	// and given up before a shard took it: not taken
	cee_ctl_job_start(&f->c, &j, CEE_MBOX_OP_DRAIN, 0);
	assert_int_equal(j.rc, -EBUSY);
	assert_true(cee_ctl_job_poll(&j, &f->c));
	assert_false(cee_ctl_job_taken(&j));
	cee_ctl_job_release(&j);
	void *p = NULL;
	assert_int_equal(rte_ring_dequeue(f->m[0].ring, &p), 0);
	cee_mbox_req_finish(p);
	unfill_mailbox(f, 1, held, nheld);
}

// A sinks listing (or ports part) of about 8.5 KiB: -ENOSPC in less.
static int big_part(void *arg, char *buf, size_t len)
{
	const char *key = arg;
	size_t n = (size_t)snprintf(buf, len, "{\"%s\":[", key);
	for (unsigned i = 0; i < 100 && n < len; i++)
		n += (size_t)snprintf(
		    buf + n, len - n,
		    "%s{\"spec\":\"jsonl:/var/log/cee/events-%03u-padding-padding-padding"
		    "-padding-padding.jsonl\"}",
		    i ? "," : "", i);
	if (n < len)
		n += (size_t)snprintf(buf + n, len - n, "]}");
	return n < len ? (int)n : -ENOSPC;
}

/*
 * Fault (review of the control plane): the socket rendered the sinks
 * listing and the ports' part of stats into fixed buffers (4 KiB, 2 KiB):
 * a listing that did not fit was answered "no sinks", and ports that did
 * not fit were left out of stats without a word. Now they grow up to
 * 1 MiB (larger: an explicit error).
 */
static void large_sinks_listing_is_whole(void **state)
{
	struct fixture *f = *state;
	f->c.sinks_json = big_part;
	f->c.sinks_arg = "sinks";
	int fd = client_connect(f->path);
	(void)served(f);
	assert_int_equal(send(fd, "sinks\n", 6, 0), 6);
	static char out[65536];
	size_t n = reply_of(f, fd, out, sizeof(out), 3000);
	assert_true(n > 8000);
	assert_non_null(strstr(out, "{\"ok\":true,\"sinks\":["));
	assert_non_null(strstr(out, "events-099-padding"));
	assert_non_null(strstr(out, "]}\n"));
	close(fd);
}

static void large_ports_part_is_whole(void **state)
{
	struct fixture *f = *state;
	f->c.ports_json = big_part;
	f->c.ports_arg = "ports";
	struct ctl_job j;
	cee_ctl_job_start(&f->c, &j, CEE_MBOX_OP_STATS, 0);
	assert_int_equal(j.rc, 0);
	for (unsigned i = 0; i < NSHARDS; i++) {
		void *p = NULL;
		assert_int_equal(rte_ring_dequeue(f->m[i].ring, &p), 0);
		((struct cee_mbox_req *)p)->rc = 0;
		cee_mbox_req_finish(p);
	}
	assert_true(cee_ctl_job_poll(&j, &f->c));
	struct ctl_buf b = {0};
	cee_ctl_render(&f->c, &b, CTL_CMD_STATS, 0, &j, NULL);
	assert_false(b.oom);
	assert_non_null(strstr(b.p, "events-099-padding"));
	cee_ctl_buf_free(&b);
	cee_ctl_job_release(&j);
}

/*
 * Fault (review of the control plane): a request its requester gave up on
 * while a shard served it (a listing past its 5 s deadline, a watch whose
 * client left) was freed by the shard, on its lcore: a LIST's record array
 * (max_conns x 56 bytes, 56 MB at a million) freed there was an munmap, or
 * the control thread's malloc arena lock, inside the poll loop. It goes
 * back to the control thread now, which frees it at its next poll.
 */
static void abandoned_request_freed_by_the_control_thread(void **state)
{
	struct fixture *f = *state;
	size_t sz = (size_t)rte_ring_get_memsize(16);
	struct rte_ring *back = aligned_alloc(128, (sz + 127) & ~(size_t)127);
	assert_non_null(back);
	assert_int_equal(rte_ring_init(back, "b", 16, RING_F_SP_ENQ | RING_F_SC_DEQ), 0);
	f->m[0].back = back;
	f->c.nshards = NSHARDS;
	struct cee_mbox_req *r = cee_mbox_req_alloc(CEE_MBOX_OP_LIST, 1000, 0);
	assert_non_null(r);
	assert_true(cee_mbox_req_abandon(r)); /* the requester gives up */
	cee_ctl_req_settle(&f->m[0], r);     /* the shard is done with it */
	assert_int_equal(rte_ring_count(back), 1); /* handed back, not freed */
	assert_int_equal(rte_ring_count(f->m[1].ring), 0);
	(void)cee_ctl_poll(&f->c); /* the control thread frees it (ASan: once) */
	assert_int_equal(rte_ring_count(back), 0);
	/* one answered in time stays the requester's */
	struct cee_mbox_req *a = cee_mbox_req_alloc(CEE_MBOX_OP_STATS, 0, 64);
	assert_non_null(a);
	cee_ctl_req_settle(&f->m[0], a);
	assert_true(cee_mbox_req_done(a));
	assert_int_equal(rte_ring_count(back), 0);
	cee_mbox_req_free(a);
	f->m[0].back = NULL;
	free(back);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(late_line_unanswered_gets_an_error, setup, teardown),
	    cmocka_unit_test_setup_teardown(one_shard_silent_is_an_error_not_a_partial_listing,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(idle_drain_completes, setup, teardown),
	    cmocka_unit_test_setup_teardown(drain_busy_untaken_does_not_drain, setup, teardown),
	    cmocka_unit_test_setup_teardown(long_line_answered_then_eof, setup, teardown),
	    cmocka_unit_test_setup_teardown(late_drain_taken_goes_on, setup, teardown),
	    cmocka_unit_test_setup_teardown(drain_busy_taken_says_it_goes_on, setup, teardown),
	    cmocka_unit_test_setup_teardown(large_sinks_listing_is_whole, setup, teardown),
	    cmocka_unit_test_setup_teardown(large_ports_part_is_whole, setup, teardown),
	    cmocka_unit_test_setup_teardown(abandoned_request_freed_by_the_control_thread, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
