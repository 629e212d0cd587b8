/* SPDX-License-Identifier: BSD-3-Clause */
// The ARP resolver: every resource bounded, every frame either sent once or
// dropped and counted, never lost silently or sent twice.
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cee_arp.h"

#define MS UINT64_C(1000000)
#define S (1000 * MS)
#define T0 (10 * S)
#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))

static const uint8_t MAC1[6] = {2, 0, 0, 0, 0, 1};
static const uint8_t MAC2[6] = {2, 0, 0, 0, 0, 2};

struct log {
	uint32_t req[64];
	unsigned port[64];
	unsigned nreq;
	void *dropped[64];
	unsigned ndropped;
};

static void on_request(void *arg, uint32_t ip, unsigned port)
{
	struct log *l = arg;
	l->port[l->nreq] = port;
	l->req[l->nreq++] = ip;
}

static void on_drop(void *arg, void *frame)
{
	struct log *l = arg;
	l->dropped[l->ndropped++] = frame;
}

static struct cee_arp *mk(uint32_t entries)
{
	struct cee_arp_cfg c;
	cee_arp_cfg_default(&c);
	struct cee_arp *a = cee_arp_create(entries, &c);
	assert_non_null(a);
	return a;
}

// Fault guarded: a frame for an unresolved neighbour is lost, or sent before
// its MAC is known, or sent twice; a flood of frames grows memory.
static void test_queue_then_resolve(void **state)
{
	(void)state;
	struct cee_arp *a = mk(64);
	int f[6];
	uint8_t mac[6];
	bool req;
	uint32_t ip = IP(10, 0, 0, 1);
	assert_int_equal(cee_arp_resolve(a, 0, ip, T0, mac, &f[0], &req), CEE_ARP_QUEUED);
	assert_true(req); // first miss asks
	for (int i = 1; i < CEE_ARP_QUEUE; i++) {
		assert_int_equal(cee_arp_resolve(a, 0, ip, T0 + 1, mac, &f[i], &req), CEE_ARP_QUEUED);
		assert_false(req); // one request in flight, not one per frame
	}
	// The queue is bounded: the next frame is refused (the caller frees it).
	assert_int_equal(cee_arp_resolve(a, 0, ip, T0 + 2, mac, &f[4], &req), CEE_ARP_DROP);

	void *ready[CEE_ARP_QUEUE];
	unsigned n = cee_arp_input(a, ip, MAC1, false, T0 + MS, ready);
	assert_int_equal(n, CEE_ARP_QUEUE);
	for (unsigned i = 0; i < n; i++)
		assert_ptr_equal(ready[i], &f[i]); // in order, each once
	assert_int_equal(cee_arp_input(a, ip, MAC1, false, T0 + MS, ready), 0);

	memset(mac, 0, 6);
	assert_int_equal(cee_arp_resolve(a, 0, ip, T0 + 2 * MS, mac, &f[5], &req), CEE_ARP_OK);
	assert_memory_equal(mac, MAC1, 6);
	assert_false(req);

	struct cee_arp_stats st;
	cee_arp_stats(a, &st);
	assert_int_equal(st.requests, 1);
	assert_int_equal(st.queued, 4);
	assert_int_equal(st.dropped, 1);
	assert_int_equal(st.resolved, 1);
	cee_arp_destroy(a, NULL, NULL);
}

// Fault guarded: a neighbour that never answers keeps its frames forever,
// or is asked at line rate; or is asked again on another port than the one
// it is resolved for (the retries went to port 0 whatever the port).
static void test_no_answer_fails_then_holddown(void **state)
{
	(void)state;
	struct cee_arp *a = mk(64);
	struct log l = {0};
	int f;
	uint8_t mac[6];
	bool req;
	uint32_t ip = IP(10, 0, 0, 9);
	assert_int_equal(cee_arp_resolve(a, 3, ip, T0, mac, &f, &req), CEE_ARP_QUEUED);
	assert_true(req);
	uint64_t t = T0;
	for (int i = 0; i < 10; i++) {
		t += 500 * MS;
		cee_arp_tick(a, t, 1u << 20, on_request, on_drop, &l);
	}
	// 3 probes in all (the first from resolve), one per second; then failed.
	assert_int_equal(l.nreq, 2);
	assert_int_equal(l.req[0], ip);
	assert_int_equal(l.port[0], 3);
	assert_int_equal(l.port[1], 3);
	assert_int_equal(l.ndropped, 1);
	assert_ptr_equal(l.dropped[0], &f);
	mac[0] = 0;
	assert_int_equal(cee_arp_lookup(a, ip, mac), CEE_ARP_FAILED);
	// During hold-down frames are refused without a new request.
	assert_int_equal(cee_arp_resolve(a, 0, ip, t, mac, &f, &req), CEE_ARP_DROP);
	assert_false(req);
	// After it, a new resolution starts, its retries on the port it was
	// asked for (here 2: they went out port 0, start_incomplete() had
	// cleared the port given)
	t += 6 * S;
	assert_int_equal(cee_arp_resolve(a, 2, ip, t, mac, &f, &req), CEE_ARP_QUEUED);
	assert_true(req);
	t += 1100 * MS;
	cee_arp_tick(a, t, 1u << 20, on_request, on_drop, &l);
	assert_int_equal(l.nreq, 3);
	assert_int_equal(l.port[2], 2);
	struct cee_arp_stats st;
	cee_arp_stats(a, &st);
	assert_int_equal(st.failed, 1);
	cee_arp_destroy(a, on_drop, &l); // the frame still held is handed back
	assert_int_equal(l.ndropped, 2);
}

// Fault guarded: an old answer is used forever (a moved address is never
// re-learned) or refreshing stalls traffic.
static void test_stale_refresh(void **state)
{
	(void)state;
	struct cee_arp *a = mk(64);
	uint8_t mac[6];
	bool req;
	void *ready[CEE_ARP_QUEUE];
	uint32_t ip = IP(10, 0, 0, 2);
	cee_arp_resolve(a, 0, ip, T0, mac, NULL, &req);
	cee_arp_input(a, ip, MAC1, false, T0, ready);
	uint64_t t = T0 + 31 * S;
	assert_int_equal(cee_arp_resolve(a, 0, ip, t, mac, NULL, &req), CEE_ARP_OK);
	assert_true(req); // still usable, and asked again
	assert_int_equal(cee_arp_resolve(a, 0, ip, t + MS, mac, NULL, &req), CEE_ARP_OK);
	assert_false(req); // once per retrans interval
	assert_int_equal(cee_arp_lookup(a, ip, mac), CEE_ARP_STALE);
	cee_arp_input(a, ip, MAC2, false, t + 2 * MS, ready); // it moved
	assert_int_equal(cee_arp_resolve(a, 0, ip, t + 3 * MS, mac, NULL, &req), CEE_ARP_OK);
	assert_memory_equal(mac, MAC2, 6);
	assert_false(req);
	cee_arp_destroy(a, NULL, NULL);
}

// Fault guarded (review of links): a neighbour that answered once was never
// found gone. A stale entry kept returning its old MAC and asked again every
// second for ever, with no count of unanswered requests: a link to a host
// that vanished got handshake_timeout on every attempt, never
// host_unreachable. Now max_probes requests (the first from the lookup that
// found it stale, the rest from the tick) and it fails, then hold-down.
static void test_stale_unanswered_fails(void **state)
{
	(void)state;
	struct cee_arp *a = mk(64);
	struct log l = {0};
	uint8_t mac[6];
	bool req;
	void *ready[CEE_ARP_QUEUE];
	int f;
	uint32_t ip = IP(10, 0, 0, 2);
	cee_arp_resolve(a, 1, ip, T0, mac, NULL, &req);
	cee_arp_input(a, ip, MAC1, false, T0, ready);
	uint64_t t = T0 + 31 * S;
	assert_int_equal(cee_arp_resolve(a, 1, ip, t, mac, &f, &req), CEE_ARP_OK);
	assert_true(req);
	assert_memory_equal(mac, MAC1, 6); // still used while it is asked
	for (int i = 0; i < 10; i++) {
		t += 500 * MS;
		cee_arp_tick(a, t, 1u << 20, on_request, on_drop, &l);
		if (i < 2) // (no frame goes stale-probing's way to the tick: OK meanwhile)
			assert_int_equal(cee_arp_resolve(a, 1, ip, t, mac, &f, &req), CEE_ARP_OK);
	}
	assert_int_equal(l.nreq, 2); // 3 in all, a second apart
	assert_int_equal(l.req[0], ip);
	assert_int_equal(l.port[1], 1);
	assert_int_equal(cee_arp_lookup(a, ip, mac), CEE_ARP_FAILED);
	assert_int_equal(cee_arp_resolve(a, 1, ip, t, mac, &f, &req), CEE_ARP_DROP);
	assert_false(req);
	struct cee_arp_stats st;
	cee_arp_stats(a, &st);
	assert_int_equal(st.failed, 1);
	assert_int_equal(st.stale_failed, 1);
	// a lookup that comes before the tick fails it as well
	cee_arp_destroy(a, NULL, NULL);
	a = mk(64);
	cee_arp_resolve(a, 1, ip, T0, mac, NULL, &req);
	cee_arp_input(a, ip, MAC1, false, T0, ready);
	t = T0 + 31 * S;
	assert_int_equal(cee_arp_resolve(a, 1, ip, t, mac, NULL, &req), CEE_ARP_OK);
	for (int i = 0; i < 2; i++) {
		t += S;
		cee_arp_tick(a, t, 1u << 20, on_request, on_drop, &l);
	}
	t += S;
	assert_int_equal(cee_arp_resolve(a, 1, ip, t, mac, &f, &req), CEE_ARP_DROP);
	assert_int_equal(cee_arp_lookup(a, ip, mac), CEE_ARP_FAILED);
	// an answer in time keeps it: reachable again, probes start over
	cee_arp_destroy(a, NULL, NULL);
	a = mk(64);
	cee_arp_resolve(a, 1, ip, T0, mac, NULL, &req);
	cee_arp_input(a, ip, MAC1, false, T0, ready);
	t = T0 + 31 * S;
	assert_int_equal(cee_arp_resolve(a, 1, ip, t, mac, NULL, &req), CEE_ARP_OK);
	t += 1500 * MS;
	cee_arp_tick(a, t, 1u << 20, on_request, on_drop, &l);
	cee_arp_input(a, ip, MAC1, false, t, ready);
	t += 10 * S;
	cee_arp_tick(a, t, 1u << 20, on_request, on_drop, &l);
	assert_int_equal(cee_arp_lookup(a, ip, mac), CEE_ARP_REACHABLE);
	assert_int_equal(cee_arp_resolve(a, 1, ip, t, mac, NULL, &req), CEE_ARP_OK);
	assert_false(req);
	cee_arp_destroy(a, NULL, NULL);
}

// Fault guarded: unsolicited replies fill the table (cache poisoning), and a
// full table crashes or loses queued frames.
static void test_bounded_table(void **state)
{
	(void)state;
	struct cee_arp *a = mk(8); // one set of 8 ways
	uint8_t mac[6];
	bool req;
	void *ready[CEE_ARP_QUEUE];
	// A reply nobody asked for creates nothing.
	cee_arp_input(a, IP(10, 9, 9, 9), MAC1, false, T0, ready);
	assert_int_equal(cee_arp_lookup(a, IP(10, 9, 9, 9), mac), CEE_ARP_FREE);
	// Requests for us teach the sender (RFC 826); the LRU one is evicted.
	for (unsigned i = 0; i < 8; i++)
		cee_arp_input(a, IP(10, 1, 0, i), MAC1, true, T0 + i, ready);
	cee_arp_resolve(a, 0, IP(10, 1, 0, 0), T0 + 100, mac, NULL, &req); // 0 is now recent
	cee_arp_input(a, IP(10, 1, 0, 8), MAC2, true, T0 + 200, ready);
	assert_int_equal(cee_arp_lookup(a, IP(10, 1, 0, 1), mac), CEE_ARP_FREE); // LRU went
	assert_int_equal(cee_arp_lookup(a, IP(10, 1, 0, 0), mac), CEE_ARP_REACHABLE);
	assert_int_equal(cee_arp_lookup(a, IP(10, 1, 0, 8), mac), CEE_ARP_REACHABLE);

	// Entries holding frames are never evicted: when all 8 are resolving,
	// a new address is refused and its frame handed back.
	struct cee_arp *b = mk(8);
	int f[9];
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(cee_arp_resolve(b, 0, IP(10, 2, 0, i), T0, mac, &f[i], &req),
				 CEE_ARP_QUEUED);
	assert_int_equal(cee_arp_resolve(b, 0, IP(10, 2, 0, 8), T0, mac, &f[8], &req), CEE_ARP_DROP);
	struct cee_arp_stats st;
	cee_arp_stats(b, &st);
	assert_int_equal(st.table_full, 1);
	struct log l = {0};
	cee_arp_destroy(b, on_drop, &l);
	assert_int_equal(l.ndropped, 8);
	cee_arp_destroy(a, NULL, NULL);
}

static void test_create_invalid(void **state)
{
	(void)state;
	struct cee_arp_cfg c;
	cee_arp_cfg_default(&c);
	assert_null(cee_arp_create(0, &c));
	assert_int_equal(errno, EINVAL);
	c.max_probes = 0;
	assert_null(cee_arp_create(8, &c));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_queue_then_resolve),
		cmocka_unit_test(test_no_answer_fails_then_holddown),
		cmocka_unit_test(test_stale_refresh),
		cmocka_unit_test(test_stale_unanswered_fails),
		cmocka_unit_test(test_bounded_table),
		cmocka_unit_test(test_create_invalid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
