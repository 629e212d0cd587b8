/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cee_evring.h"

#define EVRING_MIN 64u
#define EVRING_MAX (UINT32_C(1) << 30)
#define CACHE_LINE 64

// Invariant: used + reserved <= capacity at all times, where used = head - tail.
// reserve() is the only place that grows the sum; push() moves one credit from
// reserved to used; release() shrinks used. So a push always finds a free slot.
struct cee_evring {
	// Read-only after create.
	struct cee_event *recs;
	uint32_t mask;
	uint32_t capacity;
	unsigned shard;

	// producer: rw, consumer: ro (acquire), stats: ro (relaxed).
	// head == number of events pushed == sseq of the last one.
	alignas(CACHE_LINE) _Atomic uint64_t head;
	// producer: rw; stats: ro (relaxed).
	_Atomic uint32_t reserved;
	_Atomic uint32_t used_max;
	_Atomic uint64_t refused;

	// consumer: rw, producer: ro (acquire), stats: ro (relaxed).
	// tail == number of events released.
	alignas(CACHE_LINE) _Atomic uint64_t tail;
	// consumer only: records handed out by peek() and not yet released.
	uint64_t peeked_end;
};

static uint32_t round_pow2(uint32_t v)
{
	uint32_t p = EVRING_MIN;
	while (p < v)
		p <<= 1;
	return p;
}

uint64_t cee_evring_bytes(uint32_t capacity)
{
	if (capacity == 0 || capacity > EVRING_MAX)
		return 0;
	return (uint64_t)round_pow2(capacity) * sizeof(struct cee_event);
}

struct cee_evring *cee_evring_create(unsigned shard, uint32_t capacity)
{
	if (capacity == 0 || capacity > EVRING_MAX || shard >= CEE_MAX_SHARDS) {
		errno = EINVAL;
		return NULL;
	}
	uint32_t cap = round_pow2(capacity);
	size_t sz = (sizeof(struct cee_evring) + CACHE_LINE - 1) & ~(size_t)(CACHE_LINE - 1);
	struct cee_evring *r = aligned_alloc(CACHE_LINE, sz);
	if (r == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	memset(r, 0, sizeof(*r));
	r->recs = aligned_alloc(CACHE_LINE, (size_t)cap * sizeof(struct cee_event));
	if (r->recs == NULL) {
		free(r);
		errno = ENOMEM;
		return NULL;
	}
	memset(r->recs, 0, (size_t)cap * sizeof(struct cee_event));
	r->mask = cap - 1;
	r->capacity = cap;
	r->shard = shard;
	atomic_init(&r->head, 0);
	atomic_init(&r->reserved, 0);
	atomic_init(&r->used_max, 0);
	atomic_init(&r->refused, 0);
	atomic_init(&r->tail, 0);
	r->peeked_end = 0;
	return r;
}

void cee_evring_destroy(struct cee_evring *r)
{
	if (r == NULL)
		return;
	free(r->recs);
	free(r);
}

int cee_evring_reserve(struct cee_evring *r, uint32_t n)
{
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	uint32_t reserved = atomic_load_explicit(&r->reserved, memory_order_relaxed);
	uint64_t want = (head - tail) + reserved + n;

	if (want > r->capacity) {
		atomic_store_explicit(&r->refused,
				      atomic_load_explicit(&r->refused, memory_order_relaxed) + 1,
				      memory_order_relaxed);
		return -ENOBUFS;
	}
	atomic_store_explicit(&r->reserved, reserved + n, memory_order_relaxed);
	if (want > atomic_load_explicit(&r->used_max, memory_order_relaxed))
		atomic_store_explicit(&r->used_max, (uint32_t)want, memory_order_relaxed);
	return 0;
}

uint32_t cee_evring_room(const struct cee_evring *r)
{
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	uint64_t used = (head - tail) + atomic_load_explicit(&r->reserved, memory_order_relaxed);
	return used >= r->capacity ? 0 : (uint32_t)(r->capacity - used);
}

uint32_t cee_evring_capacity(const struct cee_evring *r)
{
	return r->capacity;
}

void cee_evring_unreserve(struct cee_evring *r, uint32_t n)
{
	uint32_t reserved = atomic_load_explicit(&r->reserved, memory_order_relaxed);
	if (n > reserved) {
		// Giving back credits never taken: the accounting is broken.
		fprintf(stderr, "cee_evring: shard %u unreserve %u > reserved %u\n", r->shard, n,
			reserved);
		abort();
	}
	atomic_store_explicit(&r->reserved, reserved - n, memory_order_relaxed);
}

struct cee_event *cee_evring_claim(struct cee_evring *r)
{
	uint32_t reserved = atomic_load_explicit(&r->reserved, memory_order_relaxed);
	if (reserved == 0) {
		// An event without a credit could find the ring full: that is the
		// lost-event fault this ring exists to prevent.
		fprintf(stderr, "cee_evring: shard %u push without a reserved credit\n", r->shard);
		abort();
	}
	atomic_store_explicit(&r->reserved, reserved - 1, memory_order_relaxed);
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	// The ring is written once per lap: its records are cold. Ask for the
	// line of a record a few pushes ahead now, so that its stores do not
	// wait for the line then.
	__builtin_prefetch(&r->recs[(head + 8) & r->mask], 1, 3);
	return &r->recs[head & r->mask];
}

uint64_t cee_evring_publish(struct cee_evring *r)
{
	uint64_t sseq = atomic_load_explicit(&r->head, memory_order_relaxed) + 1;
	r->recs[(sseq - 1) & r->mask].sseq = sseq;
	// Publishes the record to the consumer.
	atomic_store_explicit(&r->head, sseq, memory_order_release);
	return sseq;
}

uint64_t cee_evring_push(struct cee_evring *r, const struct cee_event *e)
{
	*cee_evring_claim(r) = *e;
	return cee_evring_publish(r);
}

uint64_t cee_evring_push_ext(struct cee_evring *r, const struct cee_event_ext *x)
{
	if (x->type != CEE_EVT_EXT) {
		// Pushed as ext, read as an event (or the reverse): the stream would lie.
		fprintf(stderr, "cee_evring: shard %u push_ext of a record of type %u\n", r->shard,
			x->type);
		abort();
	}
	// Copied as bytes: the slot is typed struct cee_event, the record is the
	// other member of union cee_record.
	memcpy(cee_evring_claim(r), x, sizeof(*x));
	return cee_evring_publish(r);
}

uint64_t cee_evring_last_sseq(const struct cee_evring *r)
{
	return atomic_load_explicit(&((struct cee_evring *)r)->head, memory_order_relaxed);
}

uint32_t cee_evring_peek_at(struct cee_evring *r, uint64_t after, const struct cee_event **first,
			    uint32_t max)
{
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	if (after < tail) {
		// Those records were released: their slots may hold new ones.
		fprintf(stderr, "cee_evring: shard %u peek after %llu, below released %llu\n",
			r->shard, (unsigned long long)after, (unsigned long long)tail);
		abort();
	}
	if (after >= head)
		return 0;
	uint64_t avail = head - after;
	uint32_t idx = (uint32_t)(after & r->mask);
	uint32_t to_end = r->capacity - idx;
	uint32_t n = max;
	if (avail < n)
		n = (uint32_t)avail;
	if (to_end < n)
		n = to_end;
	*first = &r->recs[idx];
	if (after + n > r->peeked_end)
		r->peeked_end = after + n;
	return n;
}

uint32_t cee_evring_peek(struct cee_evring *r, const struct cee_event **first, uint32_t max)
{
	return cee_evring_peek_at(r, atomic_load_explicit(&r->tail, memory_order_relaxed), first,
				  max);
}

uint64_t cee_evring_released(const struct cee_evring *r)
{
	return atomic_load_explicit(&((struct cee_evring *)r)->tail, memory_order_relaxed);
}

void cee_evring_release(struct cee_evring *r, uint32_t n)
{
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	if (tail + n > r->peeked_end) {
		// Releasing records never peeked would hand unread slots back.
		fprintf(stderr, "cee_evring: shard %u release %u beyond peeked records\n", r->shard,
			n);
		abort();
	}
	// The consumer is done reading these slots before the producer may reuse them.
	atomic_store_explicit(&r->tail, tail + n, memory_order_release);
}

void cee_evring_stats(const struct cee_evring *cr, struct cee_evring_stats *st)
{
	struct cee_evring *r = (struct cee_evring *)cr; // atomics are read only
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);

	st->pushed = head;
	st->consumed = tail;
	st->refused = atomic_load_explicit(&r->refused, memory_order_relaxed);
	st->capacity = r->capacity;
	// Read without a common snapshot: clamp if tail was seen ahead of head.
	st->used = head > tail ? (uint32_t)(head - tail) : 0;
	st->reserved = atomic_load_explicit(&r->reserved, memory_order_relaxed);
	st->used_max = atomic_load_explicit(&r->used_max, memory_order_relaxed);
}

unsigned cee_evring_shard(const struct cee_evring *r)
{
	return r->shard;
}
