/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cee_conn.h"

/*
 * The 4-tuple table: one cache line per bucket, eight entries of a 16-bit
 * signature and a slot. Each tuple hashes to two buckets (bucketized
 * cuckoo hashing, as rte_hash does): it lives in its primary unless that
 * was full. A lookup reads one line, touches a slot only when a signature
 * matches (1 in 65536 by chance), and reads the secondary only when some
 * tuple of the primary overflowed there. A connection's slot is never
 * read to learn that a tuple is absent, which matters for cold slots (the
 * TIME-WAIT population of a busy client) and for the free-tuple check of
 * every active open. Buckets hold twice as many entries as there are
 * slots; an insertion finding both buckets full moves one resident to its
 * other bucket, and fails (the connection is refused) only when that is
 * full too.
 */
#define BKT_WAYS 8

struct bucket {
	uint16_t sig[BKT_WAYS];
	uint32_t slot[BKT_WAYS]; // slot + 1, 0 = empty
	uint32_t ovf;            // tuples whose primary is this bucket, living in their secondary
	uint8_t pad[12];
};

_Static_assert(sizeof(struct bucket) == 64, "one cache line per bucket");

struct cee_conn_pool {
	unsigned shard;
	uint32_t capacity; // power of two, > max
	uint32_t max;
	uint32_t live;
	uint64_t next_serial;  // serial of the next id; only grows
	uint32_t bmask;        // buckets - 1
	struct cee_conn_table_stats tstats;
	struct cee_conn *slots;
	uint64_t *busy;        // bit per slot
	struct bucket *buckets; // 64-byte aligned, inside buckets_mem
	void *buckets_mem;
};

static uint32_t pow2_at_least(uint64_t v)
{
	uint64_t p = 64;
	while (p < v)
		p <<= 1;
	return p > (UINT64_C(1) << 24) ? 0 : (uint32_t)p;
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
	uint32_t nb = cap / 4; // 2 entries per slot
	p->bmask = nb - 1;
	p->slots = calloc(cap, sizeof(*p->slots));
	p->busy = calloc(cap / 64, sizeof(uint64_t));
	// calloc: zero pages the kernel maps on first touch; one spare bucket
	// to align the array to a cache line.
	p->buckets_mem = calloc((size_t)nb + 1, sizeof(struct bucket));
	p->buckets = (void *)(((uintptr_t)p->buckets_mem + 63) & ~(uintptr_t)63);
	if (p->slots == NULL || p->busy == NULL || p->buckets_mem == NULL) {
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
	free(p->slots);
	free(p->busy);
	free(p->buckets_mem);
	free(p);
}

// The steering hash (cee_flow_hash) carries only 16 bits and its low bits
// pick the shard, so the table hashes the tuple itself (a 64-bit mix).
static inline uint64_t tuple_hash(uint32_t local_ip, uint16_t local_port, uint32_t remote_ip,
				  uint16_t remote_port)
{
	uint64_t h = ((uint64_t)remote_ip << 32 | (uint32_t)remote_port << 16 | local_port) *
		     UINT64_C(0x9e3779b97f4a7c15);
	h ^= (uint64_t)local_ip * UINT64_C(0xc2b2ae3d27d4eb4f);
	h ^= h >> 29;
	h *= UINT64_C(0xbf58476d1ce4e5b9);
	h ^= h >> 32;
	return h;
}

struct loc {
	uint32_t b1, b2; // primary, secondary bucket
	uint16_t sig;
};

static inline struct loc loc_of(const struct cee_conn_pool *p, uint64_t h)
{
	struct loc l;
	l.sig = (uint16_t)(h >> 48);
	l.b1 = (uint32_t)h & p->bmask;
	l.b2 = ((uint32_t)(h >> 24) ^ (uint32_t)l.sig * 0x5bd1e995u) & p->bmask;
	if (l.b2 == l.b1)
		l.b2 = l.b1 ^ 1;
	return l;
}

static inline struct loc loc_of_conn(const struct cee_conn_pool *p, const struct cee_conn *c)
{
	return loc_of(p, tuple_hash(c->local_ip, c->local_port, c->remote_ip, c->remote_port));
}

static inline bool same_tuple(const struct cee_conn *c, uint32_t local_ip, uint16_t local_port,
			      uint32_t remote_ip, uint16_t remote_port)
{
	return c->remote_ip == remote_ip && c->remote_port == remote_port &&
	       c->local_port == local_port && c->local_ip == local_ip;
}

static inline struct cee_conn *bucket_find(struct cee_conn_pool *p, const struct bucket *b,
					   uint16_t sig, uint32_t local_ip, uint16_t local_port,
					   uint32_t remote_ip, uint16_t remote_port)
{
	for (unsigned w = 0; w < BKT_WAYS; w++)
		if (b->sig[w] == sig && b->slot[w] != 0) {
			struct cee_conn *c = &p->slots[b->slot[w] - 1];
			if (same_tuple(c, local_ip, local_port, remote_ip, remote_port))
				return c;
		}
	return NULL;
}

static inline int bucket_free_way(const struct bucket *b)
{
	for (unsigned w = 0; w < BKT_WAYS; w++)
		if (b->slot[w] == 0)
			return (int)w;
	return -1;
}

// Move one resident of bucket @p from to its other bucket. @return the way
// freed in @p from, or -1 when every resident's other bucket is full too.
static int bucket_make_room(struct cee_conn_pool *p, uint32_t from)
{
	struct bucket *b = &p->buckets[from];
	for (unsigned w = 0; w < BKT_WAYS; w++) {
		struct loc l = loc_of_conn(p, &p->slots[b->slot[w] - 1]);
		uint32_t to = l.b1 == from ? l.b2 : l.b1;
		int tw = bucket_free_way(&p->buckets[to]);
		if (tw < 0)
			continue;
		p->buckets[to].sig[tw] = b->sig[w];
		p->buckets[to].slot[tw] = b->slot[w];
		b->slot[w] = 0;
		p->tstats.moved++;
		if (l.b1 == from) // primary -> secondary
			p->buckets[from].ovf++;
		else // secondary -> back to its primary
			p->buckets[to].ovf--;
		return (int)w;
	}
	return -1;
}

// Enter slot @p s for a tuple at @p l. @return false when no room could be made.
static bool table_insert(struct cee_conn_pool *p, struct loc l, uint32_t s)
{
	uint32_t in = l.b1;
	int w = bucket_free_way(&p->buckets[l.b1]);
	if (w < 0) {
		in = l.b2;
		w = bucket_free_way(&p->buckets[l.b2]);
	}
	if (w < 0) {
		in = l.b1;
		w = bucket_make_room(p, l.b1);
	}
	if (w < 0) {
		in = l.b2;
		w = bucket_make_room(p, l.b2);
	}
	if (w < 0) {
		p->tstats.full++;
		return false;
	}
	p->buckets[in].sig[w] = l.sig;
	p->buckets[in].slot[w] = s + 1;
	if (in != l.b1) {
		p->buckets[l.b1].ovf++;
		p->tstats.secondary++;
	}
	return true;
}

static void table_remove(struct cee_conn_pool *p, struct loc l, uint32_t s)
{
	struct bucket *b = &p->buckets[l.b1];
	for (unsigned w = 0; w < BKT_WAYS; w++)
		if (b->slot[w] == s + 1) {
			b->slot[w] = 0;
			return;
		}
	b = &p->buckets[l.b2];
	for (unsigned w = 0; w < BKT_WAYS; w++)
		if (b->slot[w] == s + 1) {
			b->slot[w] = 0;
			p->buckets[l.b1].ovf--;
			return;
		}
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
				uint32_t remote_ip, uint16_t remote_port, uint32_t hash)
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
	struct loc l = loc_of(p, tuple_hash(local_ip, local_port, remote_ip, remote_port));
	if (!table_insert(p, l, s)) {
		errno = ENOSPC;
		return NULL;
	}
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
	c->hash = hash;
	return c;
}

void cee_conn_free(struct cee_conn_pool *p, struct cee_conn *c)
{
	uint32_t s = (uint32_t)(c - p->slots);
	table_remove(p, loc_of_conn(p, c), s);
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

void cee_conn_prefetch_bucket(const struct cee_conn_pool *p, uint32_t local_ip,
			      uint16_t local_port, uint32_t remote_ip, uint16_t remote_port)
{
	struct loc l = loc_of(p, tuple_hash(local_ip, local_port, remote_ip, remote_port));
	__builtin_prefetch(&p->buckets[l.b1], 0, 3);
}

void cee_conn_prefetch_match(const struct cee_conn_pool *p, uint32_t local_ip,
			     uint16_t local_port, uint32_t remote_ip, uint16_t remote_port)
{
	struct loc l = loc_of(p, tuple_hash(local_ip, local_port, remote_ip, remote_port));
	const struct bucket *b = &p->buckets[l.b1];
	for (unsigned w = 0; w < BKT_WAYS; w++)
		if (b->sig[w] == l.sig && b->slot[w] != 0)
			prefetch_slot(&p->slots[b->slot[w] - 1]);
}

struct cee_conn *cee_conn_by_tuple(struct cee_conn_pool *p, uint32_t local_ip,
				   uint16_t local_port, uint32_t remote_ip, uint16_t remote_port,
				   uint32_t hash)
{
	(void)hash;
	struct loc l = loc_of(p, tuple_hash(local_ip, local_port, remote_ip, remote_port));
	const struct bucket *b1 = &p->buckets[l.b1];
	struct cee_conn *c = bucket_find(p, b1, l.sig, local_ip, local_port, remote_ip, remote_port);
	if (c == NULL && b1->ovf != 0)
		c = bucket_find(p, &p->buckets[l.b2], l.sig, local_ip, local_port, remote_ip,
				remote_port);
	return c;
}

void cee_conn_tuple_buckets(const struct cee_conn_pool *p, uint32_t local_ip, uint16_t local_port,
			    uint32_t remote_ip, uint16_t remote_port, uint32_t *b1, uint32_t *b2)
{
	struct loc l = loc_of(p, tuple_hash(local_ip, local_port, remote_ip, remote_port));
	*b1 = l.b1;
	*b2 = l.b2;
}

void cee_conn_table_stats(const struct cee_conn_pool *p, struct cee_conn_table_stats *st)
{
	*st = p->tstats;
}

uint32_t cee_conn_live(const struct cee_conn_pool *p)
{
	return p->live;
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
	return sizeof(*p) + (uint64_t)p->capacity * sizeof(struct cee_conn) +
	       ((uint64_t)p->bmask + 1) * sizeof(struct bucket) + p->capacity / 8;
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
