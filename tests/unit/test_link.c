/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for links (cee_link.c): the specification parser, the backoff
 * with jitter, and the state machine, including the late close of an old
 * attempt after the link came back on a new one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "cee_link.h"
#include "cee_tcp.h"

#define MS 1000000ull
#define T0 (1000 * MS)

/* Fault: a link spec is misread (address, port, protocol, service) or a bad one accepted. */
static void test_parse(void **state)
{
	(void)state;
	struct cee_link_cfg l;
	char err[160];
	assert_int_equal(cee_link_parse("trunk-1=tls:10.0.0.2:5061", &l, err, sizeof(err)), 0);
	assert_string_equal(l.name, "trunk-1");
	assert_true(l.tls);
	assert_int_equal(l.ip, 0x0a000002);
	assert_int_equal(l.port, 5061);
	assert_int_equal(l.service, CEE_TCP_SVC_ECHO);
	assert_int_equal(cee_link_parse("r.2_x=tcp:192.168.1.250:80:discard", &l, err, sizeof(err)),
			 0);
	assert_false(l.tls);
	assert_int_equal(l.ip, 0xc0a801fa);
	assert_int_equal(l.service, CEE_TCP_SVC_DISCARD);
	char longest[64];
	memset(longest, 'n', CEE_LINK_NAME_MAX);
	snprintf(longest + CEE_LINK_NAME_MAX, sizeof(longest) - CEE_LINK_NAME_MAX,
		 "=tcp:1.2.3.4:5");
	assert_int_equal(cee_link_parse(longest, &l, err, sizeof(err)), 0);
	assert_int_equal(strlen(l.name), CEE_LINK_NAME_MAX);

	static const char *const bad[] = {
	    "nameless",                 "=tcp:1.2.3.4:5",         "a b=tcp:1.2.3.4:5",
	    "a=udp:1.2.3.4:5",          "a=tcp:1.2.3:5",          "a=tcp:1.2.3.256:5",
	    "a=tcp:1.2.3.4",            "a=tcp:1.2.3.4:0",        "a=tcp:1.2.3.4:65536",
	    "a=tcp:1.2.3.4:-1",         "a=tcp:1.2.3.4:5:echo-x", "a=tcp:0.0.0.0:5",
	    "a=tcp:1.2.3.4:5x",         "a=tls:host.example:5061",
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(cee_link_parse(bad[i], &l, err, sizeof(err)), -EINVAL);
		assert_true(strlen(err) > 0); /* a clear message */
	}
	longest[0] = 'N';
	memmove(longest + 1, longest, strlen(longest) + 1); /* 33 characters */
	assert_int_equal(cee_link_parse(longest, &l, err, sizeof(err)), -EINVAL);

	/* Fault (TLS review): links had one server name (--tls-sni) for all,
	   and none was required, so a TLS link without it took any certificate
	   of the CA for its server's. A link names its own server now. */
	assert_int_equal(cee_link_parse("t1=tls:10.0.0.2:5061:discard,sni=sbc-1.carrier.example", &l,
					err, sizeof(err)),
			 0);
	assert_string_equal(l.sni, "sbc-1.carrier.example");
	assert_int_equal(l.service, CEE_TCP_SVC_DISCARD);
	assert_int_equal(l.port, 5061);
	cee_link_cfg_release(&l);
	assert_null(l.sni);
	assert_int_equal(cee_link_parse("t1=tls:10.0.0.2:5061", &l, err, sizeof(err)), 0);
	assert_null(l.sni);
	assert_true(cee_link_sni_valid("sip_trunk.internal")); /* taken before names were checked */
	assert_true(cee_link_sni_valid("10.0.0.2.example"));
	static const char *const bad_sni[] = {
	    "t=tcp:1.2.3.4:5,sni=a.example", /* not TLS */
	    "t=tls:1.2.3.4:5,sni=",          "t=tls:1.2.3.4:5,sni=a..b",
	    "t=tls:1.2.3.4:5,sni=-a.b",      "t=tls:1.2.3.4:5,sni=a-.b",
	    "t=tls:1.2.3.4:5,sni=a b",       "t=tls:1.2.3.4:5,sni=a.b,sni=c",
	    "t=tls:1.2.3.4:5,sni=10.0.0.2", /* an address (RFC 6066 3) */
	};
	for (unsigned i = 0; i < sizeof(bad_sni) / sizeof(bad_sni[0]); i++) {
		err[0] = '\0';
		assert_int_equal(cee_link_parse(bad_sni[i], &l, err, sizeof(err)), -EINVAL);
		assert_true(strlen(err) > 0);
		assert_null(l.sni);
	}
	char host[300];
	memset(host, 'a', sizeof(host));
	host[63] = '\0';
	assert_true(cee_link_sni_valid(host)); /* a label of 63 */
	host[63] = 'a';
	host[64] = '\0';
	assert_false(cee_link_sni_valid(host)); /* 64 */
	host[64] = 'a';
	for (unsigned i = 50; i < 260; i += 51)
		host[i] = '.';
	host[253] = '\0';
	assert_true(cee_link_sni_valid(host)); /* 253 in all */
	host[253] = 'a';
	host[254] = '\0';
	assert_false(cee_link_sni_valid(host));
}

/*
 * Fault: reconnects without bounds (a storm against a recovering server, or
 * waits beyond MAX), or without jitter (links that dropped together retry
 * together).
 */
static void test_backoff_bounds(void **state)
{
	(void)state;
	const struct cee_link_backoff b = {.min_ms = 100, .max_ms = 30000};
	static const uint32_t lo[] = {100, 200, 400, 800, 1600, 3200, 6400, 12800, 15000, 15000};
	static const uint32_t hi[] = {200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000};
	uint64_t rng = 12345;
	for (uint32_t k = 0; k < 10; k++) {
		uint32_t mn = UINT32_MAX, mx = 0;
		for (unsigned i = 0; i < 10000; i++) {
			uint32_t d = cee_link_backoff_ms(&b, k, cee_link_rand(&rng));
			assert_true(d >= lo[k] && d <= hi[k]);
			mn = d < mn ? d : mn;
			mx = d > mx ? d : mx;
		}
		/* spread over the whole range, not a constant */
		assert_true(mn < lo[k] + (hi[k] - lo[k]) / 20);
		assert_true(mx > hi[k] - (hi[k] - lo[k]) / 20);
	}
	/* far out: no overflow, still capped */
	assert_true(cee_link_backoff_ms(&b, 40, UINT64_MAX) <= 30000);
	assert_true(cee_link_backoff_ms(&b, UINT32_MAX, 0) >= 15000);
	/* MAX below 2 x MIN: [MIN, MAX] */
	const struct cee_link_backoff narrow = {.min_ms = 100, .max_ms = 150};
	for (unsigned i = 0; i < 1000; i++) {
		uint32_t d = cee_link_backoff_ms(&narrow, i % 5, cee_link_rand(&rng));
		assert_true(d >= 100 && d <= 150);
	}
	const struct cee_link_backoff fixed = {.min_ms = 50, .max_ms = 50};
	assert_int_equal(cee_link_backoff_ms(&fixed, 3, 777), 50);
}

static const struct cee_link_backoff B = {.min_ms = 100, .max_ms = 30000};

/*
 * Fault (the PBX's): the late close of an earlier attempt (it sat in
 * TIME-WAIT) is taken for the current attempt's: the link goes down while
 * up, or its state is wiped. Here a close names an id, and only the current
 * attempt's id counts.
 */
static void test_late_close_of_old_attempt(void **state)
{
	(void)state;
	struct cee_link_cfg cfg;
	assert_int_equal(cee_link_parse("up1=tls:10.0.0.2:5061", &cfg, NULL, 0), 0);
	struct cee_link l;
	cee_link_init(&l, &cfg, 7, T0);
	assert_int_equal(l.state, CEE_LINK_BACKOFF);
	assert_int_equal(l.next_ns, T0);

	cee_link_attempt(&l, 0x101);
	assert_int_equal(l.state, CEE_LINK_CONNECTING);
	assert_int_equal(l.attempt, 1);
	assert_true(cee_link_up(&l, 0x101, T0 + 5 * MS));
	assert_int_equal(l.state, CEE_LINK_UP);
	assert_false(cee_link_up(&l, 0x101, T0 + 6 * MS)); /* once */

	/* it drops after 395 ms up (stable: the longest wait so far is 200 ms):
	   link_down, the first retry 100-200 ms later */
	assert_int_equal(cee_link_closed(&l, 0x101, CEE_REASON_TLS_CLOSE_NOTIFY, T0 + 400 * MS,
					 false, &B, 99),
			 CEE_LINK_DOWN);
	assert_int_equal(l.state, CEE_LINK_BACKOFF);
	assert_true(l.next_ns >= T0 + 500 * MS && l.next_ns <= T0 + 600 * MS);
	assert_int_equal(l.downs, 1);
	assert_int_equal(l.last_reason, CEE_REASON_TLS_CLOSE_NOTIFY);

	/* the new attempt comes up */
	cee_link_attempt(&l, 0x202);
	assert_int_equal(l.attempt, 2);
	assert_true(cee_link_up(&l, 0x202, T0 + 700 * MS));
	/* now the old id's late close (its destroyed after TIME-WAIT, a monitor of it) */
	assert_int_equal(cee_link_closed(&l, 0x101, CEE_REASON_LOCAL_CLOSE, T0 + 60000 * MS, false,
					 &B, 1),
			 CEE_LINK_STALE);
	assert_int_equal(l.state, CEE_LINK_UP);
	assert_int_equal(l.conn, 0x202);
	assert_int_equal(l.downs, 1);
	assert_false(cee_link_up(&l, 0x101, T0 + 60001 * MS));
	/* and the new one's own drop is still seen */
	assert_int_equal(cee_link_closed(&l, 0x202, CEE_REASON_PEER_RST, T0 + 61000 * MS, false,
					 &B, 5),
			 CEE_LINK_DOWN);
	assert_int_equal(l.downs, 2);
	assert_int_equal(l.ups, 2);
}

/* Fault: failed attempts retry at a constant pace, or a success does not reset the backoff. */
static void test_failures_back_off(void **state)
{
	(void)state;
	struct cee_link_cfg cfg;
	assert_int_equal(cee_link_parse("t=tcp:10.0.0.2:5060", &cfg, NULL, 0), 0);
	struct cee_link l;
	cee_link_init(&l, &cfg, 0, T0);
	uint64_t now = T0, rng = 42;
	uint64_t prev_lo = 0;
	for (uint32_t i = 1; i <= 12; i++) {
		cee_link_attempt(&l, 0x1000 + i);
		assert_int_equal(cee_link_closed(&l, 0x1000 + i, CEE_REASON_PEER_RST, now, false, &B,
						 cee_link_rand(&rng)),
				 CEE_LINK_FAILED);
		assert_int_equal(l.fails, i);
		uint64_t d = (l.next_ns - now) / MS;
		uint64_t hi = i < 8 ? 100u << (i + 1) : 30000;
		assert_true(d <= hi && d >= hi / 2 && d >= prev_lo);
		prev_lo = hi / 2 < 100 ? 100 : hi / 2;
		now = l.next_ns;
	}
	/* a local refusal (no slot) counts as a failed attempt too */
	assert_int_equal(cee_link_closed(&l, 0, CEE_REASON_NONE, now, false, &B, 3),
			 CEE_LINK_FAILED);
	assert_int_equal(l.fails, 13);
	// (review of links) attempts counts opens, as cee-ctl links says; a
	// refusal has no open: refused, and the ordinal counts it
	assert_int_equal(l.attempts, 12);
	assert_int_equal(l.refused, 1);
	assert_int_equal(l.last_reason, CEE_REASON_PEER_RST); // (no reason given: the last stays)
	assert_int_equal(cee_link_closed(&l, 0, CEE_REASON_NO_RESOURCES, now, false, &B, 3),
			 CEE_LINK_FAILED);
	assert_int_equal(l.last_reason, CEE_REASON_NO_RESOURCES); // cee-ctl links says why
	/* up again, and stable (up as long as the longest wait, 30 s): the next drop retries fast */
	now = l.next_ns;
	cee_link_attempt(&l, 0x2000);
	assert_true(cee_link_up(&l, 0x2000, now));
	now += 30000 * MS;
	assert_int_equal(cee_link_closed(&l, 0x2000, CEE_REASON_PEER_FIN, now, false, &B, 8),
			 CEE_LINK_DOWN);
	assert_int_equal(l.fails, 0);
	assert_true(l.next_ns - now <= 200 * MS);
}

/*
 * Fault (review): any link_up reset the backoff, however briefly the link
 * stayed up, so a server that accepts and drops each connection at once
 * (or a TLS server that rejects the client's certificate after its
 * Finished: tls_up, link_up, then the alert) was retried every 100-200 ms
 * for ever. A drop after less time up than the longest wait so far now
 * counts as a failure: the waits double up to MAX; a stable link (up as
 * long as that) starts over at the shortest.
 */
static void test_flapping_backs_off(void **state)
{
	(void)state;
	struct cee_link_cfg cfg;
	assert_int_equal(cee_link_parse("f=tcp:10.0.0.2:5060", &cfg, NULL, 0), 0);
	struct cee_link l;
	uint64_t now = 1000 * MS;
	cee_link_init(&l, &cfg, 0, now);
	uint64_t last = 0;
	for (uint32_t i = 0; i < 12; i++) {
		cee_conn_id_t id = 0x100 + i;
		now = l.next_ns;
		cee_link_attempt(&l, id);
		assert_true(cee_link_up(&l, id, now + MS));
		now += 2 * MS; // up for 1 ms
		assert_int_equal(cee_link_closed(&l, id, CEE_REASON_PEER_FIN, now, false, &B, i),
				 CEE_LINK_DOWN);
		uint64_t wait = l.next_ns - now;
		uint64_t hi = i < 7 ? (uint64_t)100 << (i + 2) : 30000;
		assert_true(wait >= hi / 2 * MS && wait <= hi * MS);
		assert_true(wait >= last || wait >= 15000 * MS);
		last = wait;
	}
	assert_int_equal(l.fails, 12);
	assert_int_equal(l.downs, 12);
	/* up 250 ms with the longest wait 30 s: still a failure */
	now = l.next_ns;
	cee_link_attempt(&l, 0x200);
	assert_true(cee_link_up(&l, 0x200, now));
	now += 250 * MS;
	assert_int_equal(cee_link_closed(&l, 0x200, CEE_REASON_PEER_RST, now, false, &B, 1),
			 CEE_LINK_DOWN);
	assert_true(l.next_ns - now >= 15000 * MS);
	/* up 30 s: stable, the first retry is the shortest again */
	now = l.next_ns;
	cee_link_attempt(&l, 0x201);
	assert_true(cee_link_up(&l, 0x201, now));
	now += 30000 * MS;
	assert_int_equal(cee_link_closed(&l, 0x201, CEE_REASON_PEER_RST, now, false, &B, 1),
			 CEE_LINK_DOWN);
	assert_int_equal(l.fails, 0);
	assert_true(l.next_ns - now <= 200 * MS);
	/* a drop after the first up, 300 ms into it, with no failure before: stable */
	now = l.next_ns;
	cee_link_attempt(&l, 0x202);
	assert_true(cee_link_up(&l, 0x202, now));
	now += 300 * MS;
	assert_int_equal(cee_link_closed(&l, 0x202, CEE_REASON_PEER_FIN, now, false, &B, 1),
			 CEE_LINK_DOWN);
	assert_true(l.next_ns - now <= 200 * MS);
}

/* Fault: a drained link reconnects, or a running attempt is dropped without its close. */
static void test_drain(void **state)
{
	(void)state;
	struct cee_link_cfg cfg;
	assert_int_equal(cee_link_parse("d=tcp:10.0.0.2:5060", &cfg, NULL, 0), 0);
	struct cee_link a, b;
	cee_link_init(&a, &cfg, 0, T0);
	cee_link_init(&b, &cfg, 1, T0);
	cee_link_drain(&a); /* in backoff: drained at once */
	assert_int_equal(a.state, CEE_LINK_DRAINED);
	cee_link_attempt(&b, 0x33);
	assert_true(cee_link_up(&b, 0x33, T0));
	cee_link_drain(&b); /* up: stays up until it closes */
	assert_int_equal(b.state, CEE_LINK_UP);
	assert_int_equal(cee_link_closed(&b, 0x33, CEE_REASON_SHUTDOWN, T0, true, &B, 1),
			 CEE_LINK_DOWN);
	assert_int_equal(b.state, CEE_LINK_DRAINED);
	assert_int_equal(b.next_ns, 0);
	assert_string_equal(cee_link_state_str(CEE_LINK_DRAINED), "drained");
	assert_string_equal(cee_link_state_str(CEE_LINK_STATE__COUNT), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_backoff_bounds),
	    cmocka_unit_test(test_late_close_of_old_attempt),
	    cmocka_unit_test(test_failures_back_off),
	    cmocka_unit_test(test_flapping_backs_off),
	    cmocka_unit_test(test_drain),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
