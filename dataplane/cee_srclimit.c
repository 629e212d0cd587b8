/* SPDX-License-Identifier: BSD-3-Clause */
// Per-source limits (see cee_srclimit.h). No DPDK.
#include <errno.h>
#include <stdlib.h>

#include "cee_srclimit.h"

struct entry {
	uint32_t ip;   /**< 0: never used */
	uint32_t half; /**< connections admitted, handshake not done (unproven), not yet gone */
	uint32_t est;  /**< connections whose handshake completed (proven), not yet gone */
	uint64_t tat;  /**< connection rate (GCRA): the theoretical arrival time of the next one */
};

struct cee_srclimit {
	struct entry *v;
	uint32_t mask;
	uint32_t max_conns;
	uint64_t interval_ns; /**< 1 s / syn_rate; 0: no rate limit */
	uint64_t burst_ns;    /**< (syn_rate - 1) intervals: a second's worth at once */
	struct cee_siphash_key key;
	uint32_t cursor; /**< the next slot cee_srclimit_sweep() looks at */
};

// The table's slots for @p sources addresses: twice as many, a power of two.
static uint64_t slots_for(uint32_t sources)
{
	uint64_t cap = 64;
	uint64_t want = 2 * (uint64_t)(sources ? sources : 65536);
	while (cap < want && cap < (UINT64_C(1) << 26))
		cap <<= 1;
	return cap;
}

uint64_t cee_srclimit_bytes(uint32_t sources)
{
	return slots_for(sources) * sizeof(struct entry) + sizeof(struct cee_srclimit);
}

struct cee_srclimit *cee_srclimit_create(uint32_t sources, uint32_t max_conns, uint32_t syn_rate,
					 const struct cee_siphash_key *key)
{
	uint64_t cap = slots_for(sources);
	struct cee_srclimit *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->v = calloc(cap, sizeof(*t->v));
	if (t->v == NULL) {
		free(t);
		errno = ENOMEM;
		return NULL;
	}
	t->mask = (uint32_t)(cap - 1);
	t->max_conns = max_conns;
	t->interval_ns = syn_rate ? 1000000000ull / syn_rate : 0;
	t->burst_ns = syn_rate ? (uint64_t)(syn_rate - 1) * t->interval_ns : 0;
	t->key = *key;
	return t;
}

void cee_srclimit_destroy(struct cee_srclimit *t)
{
	if (t == NULL)
		return;
	free(t->v);
	free(t);
}


// Nothing to remember: no connection and the rate's bucket full again.
static bool stale(const struct entry *e, uint64_t now_ns)
{
	return e->half == 0 && e->est == 0 && e->tat <= now_ns;
}

static uint32_t home(const struct cee_srclimit *t, uint32_t ip)
{
	return (uint32_t)(cee_siphash_12(1, 3, &t->key, ip, 0) >> 32) & t->mask;
}

// @p ip's entry; with @p insert, a new one (in the first stale or empty
// slot of its chain) when it has none. NULL: none, or no room.
static struct entry *find(struct cee_srclimit *t, uint32_t ip, uint64_t now_ns, bool insert)
{
	if (ip == 0)
		return NULL;
	uint32_t h = home(t, ip);
	struct entry *reuse = NULL;
	for (uint32_t i = 0; i < CEE_SRCLIMIT_PROBES; i++) {
		struct entry *e = &t->v[(h + i) & t->mask];
		if (e->ip == ip)
			return e;
		if (e->ip == 0) { // the chain ends: ip is not in the table
			if (!insert)
				return NULL;
			if (reuse == NULL)
				reuse = e;
			break;
		}
		if (insert && reuse == NULL && stale(e, now_ns))
			reuse = e;
	}
	if (reuse != NULL)
		*reuse = (struct entry){.ip = ip, .tat = now_ns};
	return reuse;
}

// Empty slot @p i without breaking a chain (linear probing's deletion by
// backward shift, Knuth 6.4 algorithm R): each later entry of the run that
// may sit at the hole moves into it, and its old slot is the next hole.
// Entries only move nearer their home, so every chain stays within
// CEE_SRCLIMIT_PROBES.
static void erase(struct cee_srclimit *t, uint32_t i)
{
	uint32_t j = i;
	t->v[i].ip = 0;
	for (uint32_t n = 0; n <= t->mask; n++) {
		j = (j + 1) & t->mask;
		if (t->v[j].ip == 0)
			return;
		uint32_t k = home(t, t->v[j].ip);
		// stays when its home lies cyclically in (i, j]
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		t->v[i] = t->v[j];
		t->v[j].ip = 0;
		i = j;
	}
}

uint32_t cee_srclimit_sweep(struct cee_srclimit *t, uint64_t now_ns, uint32_t budget)
{
	uint32_t freed = 0;
	for (uint32_t n = 0; n < budget; n++) {
		uint32_t i = t->cursor;
		struct entry *e = &t->v[i];
		if (e->ip != 0 && stale(e, now_ns)) {
			erase(t, i);
			freed++;
			continue; // (the slot may hold a shifted entry now: look again)
		}
		t->cursor = (i + 1) & t->mask;
	}
	return freed;
}

uint32_t cee_srclimit_used(const struct cee_srclimit *t)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i <= t->mask; i++)
		n += t->v[i].ip != 0;
	return n;
}

bool cee_srclimit_rate_on(const struct cee_srclimit *t)
{
	return t->interval_ns != 0;
}

bool cee_srclimit_conns_on(const struct cee_srclimit *t)
{
	return t->max_conns != 0;
}

// GCRA: a token free at @p now_ns in @p e's bucket?
static bool conforms(const struct cee_srclimit *t, const struct entry *e, uint64_t now_ns)
{
	uint64_t tat = e->tat > now_ns ? e->tat : now_ns;
	return tat - now_ns <= t->burst_ns;
}

enum cee_srclimit_verdict cee_srclimit_rate_peek(const struct cee_srclimit *t, uint32_t ip,
						 uint64_t now_ns)
{
	if (t->interval_ns == 0)
		return CEE_SRCLIMIT_OK;
	struct entry *e = find((struct cee_srclimit *)(uintptr_t)t, ip, now_ns, false);
	return e == NULL || conforms(t, e, now_ns) ? CEE_SRCLIMIT_OK : CEE_SRCLIMIT_REFUSED;
}

enum cee_srclimit_verdict cee_srclimit_rate_take(struct cee_srclimit *t, uint32_t ip,
						 uint64_t now_ns)
{
	if (t->interval_ns == 0)
		return CEE_SRCLIMIT_OK;
	struct entry *e = find(t, ip, now_ns, true);
	if (e == NULL)
		return CEE_SRCLIMIT_UNTRACKED;
	if (!conforms(t, e, now_ns))
		return CEE_SRCLIMIT_REFUSED;
	e->tat = (e->tat > now_ns ? e->tat : now_ns) + t->interval_ns;
	return CEE_SRCLIMIT_OK;
}

enum cee_srclimit_verdict cee_srclimit_conn_add(struct cee_srclimit *t, uint32_t ip,
						uint64_t now_ns, bool proven)
{
	if (t->max_conns == 0)
		return CEE_SRCLIMIT_OK;
	struct entry *e = find(t, ip, now_ns, true);
	if (e == NULL)
		return CEE_SRCLIMIT_UNTRACKED;
	if (e->est >= t->max_conns)
		return CEE_SRCLIMIT_REFUSED;
	if (!proven && e->est + e->half >= t->max_conns)
		return CEE_SRCLIMIT_COOKIE;
	e->half++;
	return CEE_SRCLIMIT_OK;
}

bool cee_srclimit_proven_full(const struct cee_srclimit *t, uint32_t ip)
{
	if (t->max_conns == 0)
		return false;
	struct entry *e = find((struct cee_srclimit *)(uintptr_t)t, ip, 0, false);
	return e != NULL && e->est >= t->max_conns;
}

void cee_srclimit_conn_proven(struct cee_srclimit *t, uint32_t ip)
{
	if (t->max_conns == 0)
		return;
	struct entry *e = find(t, ip, 0, false);
	if (e != NULL && e->half > 0) {
		e->half--;
		e->est++;
	}
}

void cee_srclimit_conn_del(struct cee_srclimit *t, uint32_t ip, bool proven)
{
	if (t->max_conns == 0)
		return;
	struct entry *e = find(t, ip, 0, false);
	uint32_t *n = e == NULL ? NULL : proven ? &e->est : &e->half;
	if (n != NULL && *n > 0)
		(*n)--;
}

uint32_t cee_srclimit_live(const struct cee_srclimit *t, uint32_t ip)
{
	struct entry *e = find((struct cee_srclimit *)(uintptr_t)t, ip, 0, false);
	return e != NULL ? e->half + e->est : 0;
}

uint32_t cee_srclimit_proven(const struct cee_srclimit *t, uint32_t ip)
{
	struct entry *e = find((struct cee_srclimit *)(uintptr_t)t, ip, 0, false);
	return e != NULL ? e->est : 0;
}
