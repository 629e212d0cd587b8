/* SPDX-License-Identifier: BSD-3-Clause */
// Neighbour table: set-associative (8 ways per set, chosen by a hash of the
// address), so there are no tombstones and no unbounded probing; eviction
// takes the least recently used resolved entry of the set.
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cee_arp.h"

#define WAYS 8

struct entry {
	uint32_t ip;
	uint8_t state; /**< enum cee_arp_state */
	uint8_t probes;
	uint8_t mac[6];
	uint8_t nq;
	uint16_t port;	     /**< where its requests go: the port of its last resolve */
	uint64_t updated_ns; /**< last answer */
	uint64_t next_ns;    /**< next request (incomplete, stale) or end of hold-down (failed) */
	uint64_t used_ns;    /**< last lookup: LRU eviction */
	void *q[CEE_ARP_QUEUE];
};

struct cee_arp {
	struct cee_arp_cfg cfg;
	uint32_t mask; /**< sets - 1 */
	uint32_t cursor;
	struct cee_arp_stats st;
	struct entry *e; /**< (mask + 1) * WAYS */
};

void cee_arp_cfg_default(struct cee_arp_cfg *c)
{
	c->reachable_ns = UINT64_C(30000000000);
	c->retrans_ns = UINT64_C(1000000000);
	c->max_probes = 3;
	c->holddown_ns = UINT64_C(5000000000);
}

struct cee_arp *cee_arp_create(uint32_t entries, const struct cee_arp_cfg *cfg)
{
	if (entries == 0 || entries > (UINT32_C(1) << 24) || cfg->max_probes == 0) {
		errno = EINVAL;
		return NULL;
	}
	uint32_t sets = 1;
	while (sets * WAYS < entries)
		sets <<= 1;
	struct cee_arp *a = calloc(1, sizeof(*a));
	if (a == NULL)
		return NULL;
	a->e = calloc((size_t)sets * WAYS, sizeof(*a->e));
	if (a->e == NULL) {
		free(a);
		return NULL;
	}
	a->cfg = *cfg;
	a->mask = sets - 1;
	return a;
}

static void drop_queue(struct cee_arp *a, struct entry *e, void (*drop)(void *, void *), void *arg)
{
	for (unsigned i = 0; i < e->nq; i++) {
		a->st.dropped++;
		if (drop)
			drop(arg, e->q[i]);
	}
	e->nq = 0;
}

void cee_arp_destroy(struct cee_arp *a, void (*drop)(void *arg, void *frame), void *arg)
{
	if (a == NULL)
		return;
	for (uint32_t i = 0; i < (a->mask + 1) * WAYS; i++)
		drop_queue(a, &a->e[i], drop, arg);
	free(a->e);
	free(a);
}

static struct entry *set_of(const struct cee_arp *a, uint32_t ip)
{
	uint32_t h = ip * 0x9e3779b1u;
	return &a->e[(size_t)((h >> 16) & a->mask) * WAYS];
}

static struct entry *find(const struct cee_arp *a, uint32_t ip)
{
	struct entry *s = set_of(a, ip);
	for (unsigned w = 0; w < WAYS; w++)
		if (s[w].state != CEE_ARP_FREE && s[w].ip == ip)
			return &s[w];
	return NULL;
}

// A free way, else the least recently used entry that holds no frames.
static struct entry *claim(struct cee_arp *a, uint32_t ip)
{
	struct entry *s = set_of(a, ip), *victim = NULL;
	for (unsigned w = 0; w < WAYS; w++) {
		if (s[w].state == CEE_ARP_FREE)
			return &s[w];
		if (s[w].state != CEE_ARP_INCOMPLETE &&
		    (victim == NULL || s[w].used_ns < victim->used_ns))
			victim = &s[w];
	}
	if (victim != NULL) {
		a->st.evicted++;
		memset(victim, 0, sizeof(*victim));
	} else {
		a->st.table_full++;
	}
	return victim;
}

static void start_incomplete(struct cee_arp *a, struct entry *e, uint32_t ip, uint64_t now_ns)
{
	memset(e, 0, sizeof(*e));
	e->ip = ip;
	e->state = CEE_ARP_INCOMPLETE;
	e->probes = 1;
	e->next_ns = now_ns + a->cfg.retrans_ns;
	e->used_ns = now_ns;
	a->st.requests++;
}

static enum cee_arp_res hold(struct cee_arp *a, struct entry *e, void *frame)
{
	if (frame == NULL)
		return CEE_ARP_QUEUED; // nothing to hold: "pending"
	if (e->nq == CEE_ARP_QUEUE) {
		a->st.dropped++;
		return CEE_ARP_DROP;
	}
	e->q[e->nq++] = frame;
	a->st.queued++;
	return CEE_ARP_QUEUED;
}

// A stale entry's probes went unanswered: failed, its old answer forgotten.
static void stale_failed(struct cee_arp *a, struct entry *e, uint64_t now_ns)
{
	e->state = CEE_ARP_FAILED;
	e->next_ns = now_ns + a->cfg.holddown_ns;
	memset(e->mac, 0, sizeof(e->mac));
	a->st.failed++;
	a->st.stale_failed++;
}

enum cee_arp_res cee_arp_resolve(struct cee_arp *a, unsigned port, uint32_t ip, uint64_t now_ns,
				 uint8_t mac[6], void *frame, bool *send_request)
{
	*send_request = false;
	struct entry *e = find(a, ip);
	if (e == NULL) {
		e = claim(a, ip);
		if (e == NULL) {
			if (frame)
				a->st.dropped++;
			return CEE_ARP_DROP;
		}
		start_incomplete(a, e, ip, now_ns);
		e->port = (uint16_t)port;
		*send_request = true;
		return hold(a, e, frame);
	}
	e->used_ns = now_ns;
	e->port = (uint16_t)port;
	switch ((enum cee_arp_state)e->state) {
	case CEE_ARP_REACHABLE:
	case CEE_ARP_STALE:
		if (now_ns - e->updated_ns <= a->cfg.reachable_ns) {
			memcpy(mac, e->mac, 6);
			return CEE_ARP_OK;
		}
		// Keep using the old answer while asking again (RFC 4861 7.3.3),
		// max_probes times a retrans_ns apart (the next ones from the tick,
		// as Linux's NUD_PROBE): then it failed, as an unanswered new
		// entry does. It kept re-asking for ever, answered or not: a host
		// that vanished was never found gone (a link to it failed every
		// attempt with handshake_timeout, never host_unreachable).
		e->state = CEE_ARP_STALE;
		if (e->probes == 0) {
			e->probes = 1;
			e->next_ns = now_ns + a->cfg.retrans_ns;
			a->st.requests++;
			*send_request = true;
		} else if (e->probes >= a->cfg.max_probes && now_ns >= e->next_ns) {
			stale_failed(a, e, now_ns); // (the tick has not come round yet)
			if (frame)
				a->st.dropped++;
			return CEE_ARP_DROP;
		}
		memcpy(mac, e->mac, 6);
		return CEE_ARP_OK;
	case CEE_ARP_INCOMPLETE:
		return hold(a, e, frame);
	case CEE_ARP_FAILED:
		if (now_ns >= e->next_ns) {
			start_incomplete(a, e, ip, now_ns);
			// (start_incomplete() clears the entry: its retries went out
			// port 0 whatever port this next hop is on)
			e->port = (uint16_t)port;
			*send_request = true;
			return hold(a, e, frame);
		}
		if (frame)
			a->st.dropped++;
		return CEE_ARP_DROP;
	case CEE_ARP_FREE:
		break;
	}
	return CEE_ARP_DROP; // not reached: find() skips free entries
}

unsigned cee_arp_input(struct cee_arp *a, uint32_t ip, const uint8_t mac[6], bool create,
		       uint64_t now_ns, void *ready[CEE_ARP_QUEUE])
{
	struct entry *e = find(a, ip);
	if (e == NULL) {
		if (!create)
			return 0;
		e = claim(a, ip);
		if (e == NULL)
			return 0;
		e->ip = ip;
		e->used_ns = now_ns;
	}
	if (e->state == CEE_ARP_INCOMPLETE)
		a->st.resolved++;
	a->st.learned++;
	e->state = CEE_ARP_REACHABLE;
	e->probes = 0;
	memcpy(e->mac, mac, 6);
	e->updated_ns = now_ns;
	e->next_ns = now_ns;
	unsigned n = e->nq;
	for (unsigned i = 0; i < n; i++)
		ready[i] = e->q[i];
	e->nq = 0;
	return n;
}

unsigned cee_arp_tick(struct cee_arp *a, uint64_t now_ns, unsigned budget,
		      void (*request)(void *arg, uint32_t ip, unsigned port),
		      void (*drop)(void *arg, void *frame),
		      void *arg)
{
	uint32_t total = (a->mask + 1) * WAYS;
	if (budget > total)
		budget = total;
	for (unsigned i = 0; i < budget; i++) {
		struct entry *e = &a->e[a->cursor];
		a->cursor = (a->cursor + 1) & (total - 1);
		if (now_ns < e->next_ns)
			continue;
		if (e->state == CEE_ARP_INCOMPLETE) {
			if (e->probes >= a->cfg.max_probes) {
				e->state = CEE_ARP_FAILED;
				e->next_ns = now_ns + a->cfg.holddown_ns;
				a->st.failed++;
				drop_queue(a, e, drop, arg);
				continue;
			}
			e->probes++;
			e->next_ns = now_ns + a->cfg.retrans_ns;
			a->st.requests++;
			request(arg, e->ip, e->port);
		} else if (e->state == CEE_ARP_STALE && e->probes > 0) {
			if (e->probes >= a->cfg.max_probes) {
				stale_failed(a, e, now_ns);
				continue;
			}
			e->probes++;
			e->next_ns = now_ns + a->cfg.retrans_ns;
			a->st.requests++;
			request(arg, e->ip, e->port);
		} else if (e->state == CEE_ARP_FAILED) {
			memset(e, 0, sizeof(*e)); // hold-down over: forget it
		}
	}
	return budget;
}

enum cee_arp_state cee_arp_lookup(const struct cee_arp *a, uint32_t ip, uint8_t mac[6])
{
	const struct entry *e = find(a, ip);
	if (e == NULL)
		return CEE_ARP_FREE;
	if (e->state == CEE_ARP_REACHABLE || e->state == CEE_ARP_STALE)
		memcpy(mac, e->mac, 6);
	return (enum cee_arp_state)e->state;
}

bool cee_arp_mac_shared(const struct cee_arp *a, uint32_t ip, const uint8_t mac[6])
{
	for (uint32_t i = 0; i < (a->mask + 1) * WAYS; i++) {
		const struct entry *e = &a->e[i];
		if (e->ip != ip && (e->state == CEE_ARP_REACHABLE || e->state == CEE_ARP_STALE) &&
		    memcmp(e->mac, mac, 6) == 0)
			return true;
	}
	return false;
}

void cee_arp_stats(const struct cee_arp *a, struct cee_arp_stats *st)
{
	*st = a->st;
}
