/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cee_conn.h"

// A slot is exactly four cache lines and slots start on a line: a
// connection touches 4 lines, not 5 or 6 as a 272-byte one at any 16-byte
// offset did. Adding a field means finding room for it.
_Static_assert(sizeof(struct cee_conn) == 256, "struct cee_conn is four cache lines");

struct cee_conn_pool {
	unsigned shard;
	uint32_t capacity; // power of two, > max
	uint32_t max;
	uint32_t live;
	uint32_t bucket_shift; // 32 - log2(nbuckets)
	uint64_t next_serial;  // serial of the next id; only grows
	struct cee_conn *slots;
	uint64_t *busy;        // bit per slot
	uint32_t *buckets;     // slot + 1 of the chain head, 0 = empty
	struct cee_conn_hash hash; // the table hash's secret (cee_conn_pool_set_key) and shift
};

static uint32_t pow2_at_least(uint64_t v)
{
	uint64_t p = 64;
	while (p < v)
		p <<= 1;
	return p > CEE_CONN_SLOTS_MAX ? 0 : (uint32_t)p;
}

struct cee_conn_pool *cee_conn_pool_create(unsigned shard, uint32_t max_conns)
{
	// Slots are 1.25x the live maximum so that the serial-driven slot choice
	// finds a free slot within a few probes even when the pool is full.
	uint32_t cap = max_conns ? pow2_at_least((uint64_t)max_conns + max_conns / 4 + 1) : 0;
	if (cap == 0 || shard >= CEE_MAX_SHARDS) {
		errno = EINVAL;
		return NULL;
	}
	struct cee_conn_pool *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->shard = shard;
	p->capacity = cap;
	p->max = max_conns;
	p->next_serial = 1;
	p->bucket_shift = 32 - (uint32_t)__builtin_ctz(cap);
	p->hash.shift = p->bucket_shift;
	// Anonymous memory: page-aligned (so line-aligned), zero, and mapped by
	// the kernel on first touch: unused slots cost no memory.
	void *slots = mmap(NULL, (size_t)cap * sizeof(*p->slots), PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	p->slots = slots == MAP_FAILED ? NULL : slots;
	p->busy = calloc(cap / 64, sizeof(uint64_t));
	p->buckets = calloc(cap, sizeof(uint32_t));
	if (p->slots == NULL || p->busy == NULL || p->buckets == NULL) {
		cee_conn_pool_destroy(p);
		errno = ENOMEM;
		return NULL;
	}
	return p;
}

void cee_conn_pool_destroy(struct cee_conn_pool *p)
{
	if (p == NULL)
		return;
	if (p->slots != NULL)
		munmap(p->slots, (size_t)p->capacity * sizeof(*p->slots));
	free(p->busy);
	free(p->buckets);
	free(p);
}

void cee_conn_pool_set_key(struct cee_conn_pool *p, const struct cee_siphash_key *key)
{
	p->hash.key = *key;
}

const struct cee_conn_hash *cee_conn_pool_hash(const struct cee_conn_pool *p)
{
	return &p->hash;
}

// The steering hash (cee_flow_hash) carries only 16 bits and its low bits
// pick the shard, so the table hashes the tuple itself, with a keyed PRF:
// an unkeyed mix let anyone compute, offline, thousands of tuples that
// share one bucket (issue 13: 5,000 in under a second), and every packet
// to that bucket then walked them all. SipHash-1-3 under a per-engine
// random key (cee_siphash.h); computed once per received packet.
static inline uint32_t bucket_of(const struct cee_conn_pool *p, uint32_t local_ip,
				 uint16_t local_port, uint32_t remote_ip, uint16_t remote_port)
{
	return cee_conn_bucket_h(&p->hash, local_ip, local_port, remote_ip, remote_port);
}

uint32_t cee_conn_bucket(const struct cee_conn_pool *p, uint32_t local_ip, uint16_t local_port,
			 uint32_t remote_ip, uint16_t remote_port)
{
	return bucket_of(p, local_ip, local_port, remote_ip, remote_port);
}

// Prefetch the lines of one slot (for writing: it is about to change).
static inline void prefetch_slot(const struct cee_conn *c)
{
	const char *b = (const char *)c;
	for (size_t off = 0; off < sizeof(*c); off += 64)
		__builtin_prefetch(b + off, 1, 3);
	__builtin_prefetch(b + sizeof(*c) - 1, 1, 3);
}

static inline bool slot_busy(const struct cee_conn_pool *p, uint32_t s)
{
	return (p->busy[s >> 6] >> (s & 63)) & 1;
}

struct cee_conn *cee_conn_alloc(struct cee_conn_pool *p, uint32_t local_ip, uint16_t local_port,
				uint32_t remote_ip, uint16_t remote_port)
{
	return cee_conn_alloc_at(p, bucket_of(p, local_ip, local_port, remote_ip, remote_port),
				 local_ip, local_port, remote_ip, remote_port);
}

struct cee_conn *cee_conn_alloc_at(struct cee_conn_pool *p, uint32_t b, uint32_t local_ip,
				   uint16_t local_port, uint32_t remote_ip, uint16_t remote_port)
{
	if (p->live >= p->max) {
		errno = ENOSPC;
		return NULL;
	}
	// Advance the serial to the next free slot, skipping busy ones a word
	// at a time. Terminates: live < capacity.
	uint64_t serial = p->next_serial;
	for (;;) {
		uint32_t s = (uint32_t)serial & (p->capacity - 1);
		uint64_t free_bits = ~(p->busy[s >> 6] >> (s & 63));
		unsigned skip = free_bits ? (unsigned)__builtin_ctzll(free_bits) : 64;
		if (skip == 0)
			break;
		serial += skip;
	}
	uint32_t s = (uint32_t)serial & (p->capacity - 1);
	p->next_serial = serial + 1;
	// Slots are taken in serial order: start loading one a few ahead.
	prefetch_slot(&p->slots[(s + 4) & (p->capacity - 1)]);
	p->busy[s >> 6] |= UINT64_C(1) << (s & 63);
	p->live++;

	struct cee_conn *c = &p->slots[s];
	memset(c, 0, sizeof(*c));
	c->id = cee_id_make(p->shard, serial);
	c->local_ip = local_ip;
	c->remote_ip = remote_ip;
	c->local_port = local_port;
	c->remote_port = remote_port;
	c->bucket = b;
	c->hnext = p->buckets[b];
	p->buckets[b] = s + 1;
	return c;
}

void cee_conn_free(struct cee_conn_pool *p, struct cee_conn *c)
{
	uint32_t s = (uint32_t)(c - p->slots);
	uint32_t *link = &p->buckets[c->bucket];
	while (*link != 0 && *link != s + 1)
		link = &p->slots[*link - 1].hnext;
	if (*link == s + 1)
		*link = c->hnext;
	p->busy[s >> 6] &= ~(UINT64_C(1) << (s & 63));
	p->live--;
#ifndef NDEBUG
	memset(c, 0xa5, sizeof(*c)); // poison: a use after free reads garbage ids
#endif
	c->id = 0;
}

struct cee_conn *cee_conn_by_id(struct cee_conn_pool *p, cee_conn_id_t id)
{
	if (id == 0 || cee_id_shard(id) != p->shard)
		return NULL;
	uint32_t s = cee_id_slot(id, p->capacity);
	struct cee_conn *c = &p->slots[s];
	return slot_busy(p, s) && c->id == id ? c : NULL;
}

void cee_conn_prefetch(const struct cee_conn *c)
{
	prefetch_slot(c);
}

void cee_conn_prefetch_bucket_at(const struct cee_conn_pool *p, uint32_t bucket)
{
	__builtin_prefetch(&p->buckets[bucket], 0, 3);
}

void cee_conn_prefetch_chain_at(const struct cee_conn_pool *p, uint32_t bucket)
{
	uint32_t i = p->buckets[bucket];
	if (i != 0)
		prefetch_slot(&p->slots[i - 1]);
}

struct cee_conn *cee_conn_by_tuple(struct cee_conn_pool *p, uint32_t local_ip,
				   uint16_t local_port, uint32_t remote_ip, uint16_t remote_port)
{
	return cee_conn_by_tuple_at(p, bucket_of(p, local_ip, local_port, remote_ip, remote_port),
				    local_ip, local_port, remote_ip, remote_port);
}

struct cee_conn *cee_conn_by_tuple_at(struct cee_conn_pool *p, uint32_t b, uint32_t local_ip,
				      uint16_t local_port, uint32_t remote_ip,
				      uint16_t remote_port)
{
	for (uint32_t i = p->buckets[b]; i != 0; i = p->slots[i - 1].hnext) {
		struct cee_conn *c = &p->slots[i - 1];
		if (c->remote_ip == remote_ip && c->remote_port == remote_port &&
		    c->local_port == local_port && c->local_ip == local_ip)
			return c;
	}
	return NULL;
}

uint32_t cee_conn_live(const struct cee_conn_pool *p)
{
	return p->live;
}

uint64_t cee_conn_last_serial(const struct cee_conn_pool *p)
{
	return p->next_serial - 1;
}

uint32_t cee_conn_capacity(const struct cee_conn_pool *p)
{
	return p->capacity;
}

uint32_t cee_conn_max(const struct cee_conn_pool *p)
{
	return p->max;
}

uint64_t cee_conn_pool_bytes(const struct cee_conn_pool *p)
{
	return sizeof(*p) + (uint64_t)p->capacity * (sizeof(struct cee_conn) + sizeof(uint32_t)) +
	       p->capacity / 8;
}

void cee_conn_foreach(struct cee_conn_pool *p, void (*fn)(void *arg, struct cee_conn *c),
		      void *arg)
{
	for (uint32_t w = 0; w < p->capacity / 64; w++) {
		uint64_t bits = p->busy[w];
		while (bits) {
			unsigned b = (unsigned)__builtin_ctzll(bits);
			bits &= bits - 1;
			fn(arg, &p->slots[w * 64 + b]);
		}
	}
}

struct cee_conn *cee_conn_next(struct cee_conn_pool *p, uint32_t *slot, uint32_t end)
{
	if (end > p->capacity)
		end = p->capacity;
	for (uint32_t s = *slot; s < end;) {
		uint64_t bits = p->busy[s >> 6] >> (s & 63);
		if (bits == 0) {
			s = (s | 63) + 1; // rest of this word is free
			continue;
		}
		s += (uint32_t)__builtin_ctzll(bits);
		if (s >= end)
			break;
		*slot = s + 1;
		return &p->slots[s];
	}
	*slot = end;
	return NULL;
}
