/* SPDX-License-Identifier: BSD-3-Clause */
// Monitors of one shard: slots in one array (never moved), chained in
// buckets by the connection id's hash. A handle names a slot and its
// generation, so a stale handle (its monitor fired or was removed, the
// slot reused) matches nothing, as a stale connection id matches nothing.
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "cee_monitor.h"

// A handle is a positive int64_t: the slot in the low slot_bits (as many as
// the capacity needs, at most 25: a shard's 2^24 connections and the
// watches and link attempts beside them), its generation in the 38 or more
// bits above. With a 31-bit handle the generation had 6 to 16 bits: with
// the table nearly full a slot came back every 64 adds or so, its handle
// repeated after 64 x 2^6 of them, and an embedder's late remove of a
// monitor that had fired removed another connection's (design fault 1,
// by handle instead of by address).
#define HANDLE_BITS 63
#define SLOT_MAX_BITS 25

struct slot {
	cee_conn_id_t id;
	cee_monitor_fn fn;
	void *arg;
	uint64_t gen;  // generation: moves on at each release
	uint32_t next; // next slot in the bucket or the free list, 0 = end
	bool used;
};

struct cee_monitors {
	struct slot *slots; // [1 .. capacity]; 0 is "none"
	uint32_t *bucket;   // head slot per bucket
	uint32_t mask;      // buckets - 1
	uint32_t capacity;
	uint32_t fresh;     // slots never used: fresh .. capacity, taken first
	uint32_t free_head; // freed slots, oldest first: a freed slot is used again
	uint32_t free_tail; // last, so a stale handle's generation lasts longest
	uint32_t waiting;
	unsigned slot_bits; // of a handle: the slot's
	uint64_t gen_mask;  // of a slot's generation (HANDLE_BITS - slot_bits bits)
	struct cee_monitor_stats stats;
};

// Zeroed pages straight from the kernel, untouched until used (calloc's
// may be written through: MALLOC_PERTURB_, or a chunk from the heap).
static void *pages(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static size_t slots_bytes(uint32_t capacity)
{
	return ((size_t)capacity + 1) * sizeof(struct slot);
}

static uint32_t bucket_of(const struct cee_monitors *m, cee_conn_id_t id)
{
	uint64_t x = id * 0x9e3779b97f4a7c15ull;
	return (uint32_t)(x >> 32) & m->mask;
}

struct cee_monitors *cee_monitors_create(uint32_t capacity)
{
	if (capacity == 0 || capacity >= (1u << SLOT_MAX_BITS)) {
		errno = EINVAL;
		return NULL;
	}
	unsigned slot_bits = 32 - (unsigned)__builtin_clz(capacity); // slots 1 .. capacity
	unsigned gen_bits = HANDLE_BITS - slot_bits;
	struct cee_monitors *m = calloc(1, sizeof(*m));
	uint32_t nb = 16;
	while (nb < capacity)
		nb <<= 1;
	if (m != NULL) {
		m->capacity = capacity;
		m->mask = nb - 1;
		m->slots = pages(slots_bytes(capacity));
		m->bucket = pages((size_t)nb * sizeof(*m->bucket));
	}
	if (m == NULL || m->slots == NULL || m->bucket == NULL) {
		cee_monitors_destroy(m);
		errno = ENOMEM;
		return NULL;
	}
	m->slot_bits = slot_bits;
	m->gen_mask = (UINT64_C(1) << gen_bits) - 1;
	// Slots are taken from the never-used ones first, not from a free list
	// threaded through all of them: the table is sized for every
	// connection, and writing each slot's link made the first cee-ctl
	// watch on a large shard touch hundreds of MB on its lcore (640 MB at
	// 2^24 connections) while its receive rings overflowed. Untouched,
	// the kernel's zero pages cost nothing until a monitor uses them.
	m->fresh = 1;
	return m;
}

void cee_monitors_destroy(struct cee_monitors *m)
{
	if (m == NULL)
		return;
	if (m->slots != NULL)
		munmap(m->slots, slots_bytes(m->capacity));
	if (m->bucket != NULL)
		munmap(m->bucket, ((size_t)m->mask + 1) * sizeof(*m->bucket));
	free(m);
}

int64_t cee_monitors_add(struct cee_monitors *m, cee_conn_id_t id, int state, cee_monitor_fn fn,
			 void *arg)
{
	if (state != CEE_MONITOR_LIVE) {
		// gone, or closed already: it fires now (exactly once either way)
		m->stats.added++;
		m->stats.fired++;
		if (state == CEE_MONITOR_GONE)
			m->stats.gone++;
		fn(arg, id, state);
		return 0;
	}
	uint32_t i;
	struct slot *sl;
	if (m->fresh <= m->capacity) {
		i = m->fresh++;
		sl = &m->slots[i];
	} else if ((i = m->free_head) != 0) {
		sl = &m->slots[i];
		m->free_head = sl->next;
		if (m->free_head == 0)
			m->free_tail = 0;
	} else {
		m->stats.no_room++;
		return -ENOSPC;
	}
	uint32_t b = bucket_of(m, id);
	sl->id = id;
	sl->fn = fn;
	sl->arg = arg;
	sl->used = true;
	sl->next = m->bucket[b];
	m->bucket[b] = i;
	m->waiting++;
	m->stats.added++;
	return (int64_t)(i | sl->gen << m->slot_bits);
}

// Unlink slot @p i from its bucket and free it (its generation moves on).
static void release(struct cee_monitors *m, uint32_t i)
{
	struct slot *sl = &m->slots[i];
	uint32_t *p = &m->bucket[bucket_of(m, sl->id)];
	while (*p != i)
		p = &m->slots[*p].next;
	*p = sl->next;
	sl->used = false;
	sl->gen = (sl->gen + 1) & m->gen_mask;
	sl->next = 0;
	if (m->free_tail != 0)
		m->slots[m->free_tail].next = i;
	else
		m->free_head = i;
	m->free_tail = i;
	m->waiting--;
}

int cee_monitors_remove(struct cee_monitors *m, int64_t handle)
{
	if (handle <= 0)
		return -ENOENT;
	uint32_t i = (uint32_t)((uint64_t)handle & ((UINT64_C(1) << m->slot_bits) - 1));
	uint64_t gen = (uint64_t)handle >> m->slot_bits;
	if (i == 0 || i > m->capacity || !m->slots[i].used || m->slots[i].gen != gen)
		return -ENOENT; // fired, removed, or the slot serves another monitor now
	release(m, i);
	m->stats.removed++;
	return 0;
}

// Fire every monitor of @p id once: each is released before its callback
// runs, so a callback may add or remove monitors freely.
static unsigned fire_all(struct cee_monitors *m, cee_conn_id_t id, int reason)
{
	unsigned n = 0;
	for (;;) {
		uint32_t i = m->bucket[bucket_of(m, id)];
		while (i != 0 && m->slots[i].id != id)
			i = m->slots[i].next;
		if (i == 0)
			return n;
		cee_monitor_fn fn = m->slots[i].fn;
		void *arg = m->slots[i].arg;
		release(m, i);
		m->stats.fired++;
		n++;
		fn(arg, id, reason);
	}
}

void cee_monitors_closed(struct cee_monitors *m, cee_conn_id_t id, enum cee_reason reason)
{
	if (m->waiting != 0)
		fire_all(m, id, (int)reason);
}

void cee_monitors_destroyed(struct cee_monitors *m, cee_conn_id_t id, enum cee_reason reason)
{
	// closed comes before destroyed, so nothing should wait here; a monitor
	// added between the two fired at once: this only sweeps
	if (m->waiting != 0)
		m->stats.dropped += fire_all(m, id, (int)reason);
}

uint32_t cee_monitors_waiting(const struct cee_monitors *m)
{
	return m->waiting;
}

const struct cee_monitor_stats *cee_monitors_stats(const struct cee_monitors *m)
{
	return &m->stats;
}
