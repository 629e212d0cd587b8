/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cee-hashflood: lookup cost of the 4-tuple table under a crafted hash flood
 * (issue 13). N tuples that all share one bucket of the table's OLD unkeyed
 * hash (found offline by brute force, as an attacker would, and as
 * tests/unit/test_conn.c does) are inserted as live connections beside M
 * random legitimate ones; then lookups are timed for (a) the legitimate
 * tuples, (b) the crafted ones, (c) misses: more crafted tuples that are not
 * in the table (a flood of stray packets aimed at the same bucket). Once
 * with the keyed hash as the engine computes it (cee_conn_bucket_h() under
 * a random key, then cee_conn_by_tuple_at()), once with the old hash fed to
 * the same table through cee_conn_alloc_at()/cee_conn_by_tuple_at().
 *
 * Figures: ns per lookup, median of --passes passes of --lookups lookups
 * each, clock_gettime(CLOCK_MONOTONIC). No DPDK, no EAL.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "cee_conn.h"

struct tuple {
	uint32_t rip;
	uint16_t rport;
};

// The crafted flood's target: one listener.
static const uint32_t LIP = 0x0a000001;
static const uint16_t LPORT = 5060;

// The table's hash before issue 13 (as in tests/unit/test_conn.c): an
// unkeyed multiply-xorshift mix.
static uint32_t old_bucket(uint32_t shift, uint32_t local_ip, uint16_t local_port,
			   uint32_t remote_ip, uint16_t remote_port)
{
	uint64_t h = ((uint64_t)remote_ip << 32 | (uint32_t)remote_port << 16 | local_port) *
		     UINT64_C(0x9e3779b97f4a7c15);
	h ^= (uint64_t)local_ip * UINT64_C(0xc2b2ae3d27d4eb4f);
	h ^= h >> 29;
	h *= UINT64_C(0xbf58476d1ce4e5b9);
	h ^= h >> 32;
	return (uint32_t)h >> shift;
}

static uint64_t xs = 88172645463325252ull;
static uint32_t rnd(void)
{
	xs ^= xs << 13;
	xs ^= xs >> 7;
	xs ^= xs << 17;
	return (uint32_t)xs;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what)
{
	fprintf(stderr, "cee-hashflood: %s\n", what);
	exit(1);
}

// --@p opt's value @p s, a whole number in [@p lo, @p hi] (decimal, or 0x
// hex), or exit 2: strtoul unchecked took "12x" as 12 and "" as 0, and
// "-1" or 2^32 + 1 wrapped to 32 bits
static uint32_t parse_opt(const char *opt, const char *s, uint32_t lo, uint32_t hi)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno != 0 || end == s || *end != '\0' || s[strspn(s, " \t")] == '-' || v < lo ||
	    v > hi) {
		fprintf(stderr, "cee-hashflood: bad value for --%s: '%s' (a whole number in %u..%u)\n",
			opt, s, lo, hi);
		exit(2);
	}
	return (uint32_t)v;
}

static void shuffle(struct tuple *t, uint32_t n)
{
	for (uint32_t i = n; i > 1; i--) {
		uint32_t j = rnd() % i;
		struct tuple x = t[i - 1];
		t[i - 1] = t[j];
		t[j] = x;
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

// One table under one hash: the keyed one (old == 0) or the old one.
struct table {
	struct cee_conn_pool *p;
	const struct cee_conn_hash *h;
	int old;
};

static uint32_t bucket(const struct table *t, uint32_t rip, uint16_t rport)
{
	return t->old ? old_bucket(t->h->shift, LIP, LPORT, rip, rport)
		      : cee_conn_bucket_h(t->h, LIP, LPORT, rip, rport);
}

static volatile uintptr_t sink;

// Median ns per lookup of @p n tuples of @p set (cycled from a pass-dependent
// offset, so passes touch different tuples of a large set). @p expect_hit:
// sanity, each lookup must find (or must not find) its tuple.
static double time_lookups(const struct table *t, const struct tuple *set, uint32_t set_n,
			   uint32_t n, unsigned passes, int expect_hit)
{
	double ns[64];
	for (unsigned pass = 0; pass < passes; pass++) {
		uint32_t k = (uint32_t)(((uint64_t)pass * 7919) % set_n);
		uintptr_t acc = 0;
		double t0 = now_s();
		for (uint32_t i = 0; i < n; i++) {
			const struct tuple *x = &set[k];
			if (++k == set_n)
				k = 0;
			uint32_t b = bucket(t, x->rip, x->rport);
			struct cee_conn *c =
			    cee_conn_by_tuple_at(t->p, b, LIP, LPORT, x->rip, x->rport);
			if ((c != NULL) != expect_hit)
				die(expect_hit ? "a live tuple was not found" : "a stray tuple was found");
			acc += (uintptr_t)c;
		}
		ns[pass] = (now_s() - t0) * 1e9 / n;
		sink = acc;
	}
	qsort(ns, passes, sizeof(ns[0]), cmp_double);
	return ns[passes / 2];
}

struct row {
	double legit, crafted, miss;
	uint32_t longest;
};

static struct row measure(int old, const struct cee_siphash_key *key, uint32_t max_conns,
			  const struct tuple *crafted, uint32_t n, const struct tuple *legit,
			  uint32_t m, const struct tuple *stray, uint32_t strays, uint32_t lookups,
			  unsigned passes)
{
	struct table t = {.p = cee_conn_pool_create(0, max_conns), .old = old};
	if (t.p == NULL)
		die("cee_conn_pool_create failed");
	cee_conn_pool_set_key(t.p, key);
	t.h = cee_conn_pool_hash(t.p);
	uint32_t cap = cee_conn_capacity(t.p);
	uint32_t *count = calloc(cap, sizeof(*count));
	if (count == NULL)
		die("out of memory");
	struct row r = {0};
	// The flood's connections were established first, then the legitimate ones.
	for (uint32_t i = 0; i < n + m; i++) {
		const struct tuple *x = i < n ? &crafted[i] : &legit[i - n];
		uint32_t b = bucket(&t, x->rip, x->rport);
		if (cee_conn_alloc_at(t.p, b, LIP, LPORT, x->rip, x->rport) == NULL)
			die("cee_conn_alloc_at failed (raise --max-conns)");
		if (++count[b] > r.longest)
			r.longest = count[b];
	}
	r.legit = time_lookups(&t, legit, m, lookups, passes, 1);
	r.crafted = n ? time_lookups(&t, crafted, n, lookups, passes, 1) : 0;
	r.miss = time_lookups(&t, stray, strays, lookups, passes, 0);
	free(count);
	cee_conn_pool_destroy(t.p);
	return r;
}

int main(int argc, char **argv)
{
	uint32_t max_conns = 65536, m = 10000, lookups = 4096, strays = 1024;
	unsigned passes = 9;
	static const struct option opts[] = {
	    {"max-conns", required_argument, NULL, 'c'}, {"legit", required_argument, NULL, 'm'},
	    {"lookups", required_argument, NULL, 'l'},   {"passes", required_argument, NULL, 'p'},
	    {NULL, 0, NULL, 0}};
	for (int o; (o = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
		switch (o) {
		case 'c': max_conns = parse_opt("max-conns", optarg, 1, CEE_CONN_POOL_MAX); break;
		case 'm': m = parse_opt("legit", optarg, 1, CEE_CONN_POOL_MAX); break;
		case 'l': lookups = parse_opt("lookups", optarg, 1, 1u << 30); break;
		case 'p': passes = parse_opt("passes", optarg, 1, 64); break;
		default:
			fprintf(stderr, "usage: %s [--max-conns N] [--legit M] [--lookups L] "
					"[--passes P (1..64)]\n", argv[0]);
			return 2;
		}
	}
	static const uint32_t flood[] = {0, 1000, 5000, 20000};
	const uint32_t n_max = flood[sizeof(flood) / sizeof(flood[0]) - 1];
	if ((uint64_t)m + n_max > max_conns) { // (in 64 bits: a legit near 2^32 wrapped)
		fprintf(stderr, "cee-hashflood: --legit %u + %u (the flood) > --max-conns %u\n", m,
			n_max, max_conns);
		return 2;
	}

	// The engine's key: random per engine.
	struct cee_siphash_key key;
	if (getrandom(&key, sizeof(key), 0) != sizeof(key))
		die("getrandom failed");

	// The attacker's offline work: n_max + strays tuples to the listener,
	// all in one bucket of the old hash for a table of this size (the
	// capacity, hence the bucket count, follows from max_conns).
	struct cee_conn_pool *probe = cee_conn_pool_create(0, max_conns);
	if (probe == NULL)
		die("cee_conn_pool_create failed");
	uint32_t cap = cee_conn_capacity(probe);
	uint32_t shift = cee_conn_pool_hash(probe)->shift;
	cee_conn_pool_destroy(probe);
	uint32_t nc = n_max + strays;
	struct tuple *crafted = malloc(nc * sizeof(*crafted));
	struct tuple *legit = malloc(m * sizeof(*legit));
	if (crafted == NULL || legit == NULL)
		die("out of memory");
	double t0 = now_s();
	uint32_t target = old_bucket(shift, LIP, LPORT, 0xc6336401, 1024), k = 0;
	for (uint32_t rip = 0xc6336401; k < nc; rip++)
		for (uint32_t rport = 1024; rport < 65536 && k < nc; rport++)
			if (old_bucket(shift, LIP, LPORT, rip, (uint16_t)rport) == target)
				crafted[k++] = (struct tuple){rip, (uint16_t)rport};
	double search_s = now_s() - t0;
	struct tuple *stray = crafted + n_max;

	// Legitimate clients: random addresses in 10/8 (apart from the flood's
	// 198.51.100/24 and up), random ephemeral ports, no duplicates.
	struct cee_conn_pool *seen = cee_conn_pool_create(0, m);
	if (seen == NULL)
		die("cee_conn_pool_create failed");
	cee_conn_pool_set_key(seen, &key);
	for (uint32_t i = 0; i < m;) {
		struct tuple x = {0x0a000000u | (rnd() & 0xffffff), (uint16_t)(1024 + rnd() % 64512)};
		if (cee_conn_by_tuple(seen, LIP, LPORT, x.rip, x.rport) != NULL)
			continue;
		if (cee_conn_alloc(seen, LIP, LPORT, x.rip, x.rport) == NULL)
			die("cee_conn_alloc failed");
		legit[i++] = x;
	}
	cee_conn_pool_destroy(seen);
	shuffle(legit, m);

	printf("cee-hashflood: table of %u conns max (%u slots, %u buckets), %u legitimate "
	       "conns, listener %u.%u.%u.%u:%u\n",
	       max_conns, cap, cap, m, LIP >> 24, LIP >> 16 & 0xff, LIP >> 8 & 0xff, LIP & 0xff,
	       LPORT);
	printf("crafted: %u tuples in old-hash bucket %u, found by brute force in %.2f s\n", nc,
	       target, search_s);
	printf("ns per lookup (bucket hash + chain walk), median of %u passes x %u lookups; "
	       "miss = crafted stray tuple, not in the table\n\n",
	       passes, lookups);
	printf("%6s | %27s | %27s | %15s\n", "", "keyed SipHash-1-3 (engine)", "old unkeyed mix",
	       "longest chain");
	printf("%6s | %8s %8s %9s | %8s %8s %9s | %7s %7s\n", "N", "legit", "crafted", "miss",
	       "legit", "crafted", "miss", "keyed", "old");
	for (size_t i = 0; i < sizeof(flood) / sizeof(flood[0]); i++) {
		uint32_t n = flood[i];
		// Each pass looks up tuples in a random order.
		shuffle(crafted, n);
		struct row kr = measure(0, &key, max_conns, crafted, n, legit, m, stray, strays,
					lookups, passes);
		struct row orow = measure(1, &key, max_conns, crafted, n, legit, m, stray, strays,
					  lookups, passes);
		if (n > 0 && orow.longest < n)
			die("crafted tuples do not share one old-hash bucket");
		char kc[16] = "-", oc[16] = "-";
		if (n > 0) {
			snprintf(kc, sizeof(kc), "%.1f", kr.crafted);
			snprintf(oc, sizeof(oc), "%.1f", orow.crafted);
		}
		printf("%6u | %8.1f %8s %9.1f | %8.1f %8s %9.1f | %7u %7u\n", n, kr.legit, kc,
		       kr.miss, orow.legit, oc, orow.miss, kr.longest, orow.longest);
	}
	free(crafted);
	free(legit);
	return 0;
}
