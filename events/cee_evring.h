/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

/**
 * @file
 * Per-shard event ring: single producer (the shard's lcore), single consumer
 * (the control thread), fixed 64-byte records: lifecycle events and the
 * extension records (struct cee_event_ext) that precede some of them. Both
 * kinds are records of the shard stream: each takes a credit and an sseq.
 *
 * Events are never dropped. A connection reserves ring space for every event
 * it may emit when it is admitted (cee_evring_reserve()); each push spends
 * one reserved credit; when the connection is destroyed it gives back the
 * credits it did not spend (cee_evring_unreserve()). A push therefore always
 * finds room, and a stalled consumer shows up as failed reservations, that
 * is, refused admissions, while established connections carry on.
 *
 * Thread roles: every function marked "producer" is called by the owning
 * shard's lcore only; "consumer" by the control thread only; stats may be read
 * by anyone (relaxed atomics).
 */

#include <stdint.h>

#include "cee_event.h"

struct cee_evring;

/** Counters of one ring. */
struct cee_evring_stats {
	uint64_t pushed;      /**< records pushed (== last sseq) */
	uint64_t consumed;    /**< records released by the consumer */
	uint64_t refused;     /**< failed reservations */
	uint32_t capacity;    /**< records */
	uint32_t used;        /**< pushed, not yet consumed */
	uint32_t reserved;    /**< credits held by live connections */
	uint32_t used_max;    /**< high-water mark of used + reserved */
};

/**
 * Create a ring for @p shard with room for @p capacity records (rounded up
 * to a power of two, at least 64). Memory comes from the C heap: the ring is
 * usable without the EAL.
 * @return the ring, or NULL with errno EINVAL / ENOMEM.
 */
struct cee_evring *cee_evring_create(unsigned shard, uint32_t capacity);
/** Bytes of records a ring created with @p capacity holds (0 if it cannot be created). */
uint64_t cee_evring_bytes(uint32_t capacity);
void cee_evring_destroy(struct cee_evring *r);

/** Producer: reserve @p n credits. @return 0, or -ENOBUFS (counted in refused). */
int cee_evring_reserve(struct cee_evring *r, uint32_t n);
/** Producer: give back @p n unspent credits. */
void cee_evring_unreserve(struct cee_evring *r, uint32_t n);
/** Producer: records neither used nor reserved (what reservations can still take). */
uint32_t cee_evring_room(const struct cee_evring *r);
/** Records the ring holds. */
uint32_t cee_evring_capacity(const struct cee_evring *r);
/**
 * Producer: push @p e, spending one reserved credit; sets e->sseq (consecutive
 * from 1) in the stored copy and returns it. Never fails: pushing without a
 * credit is a bug and aborts.
 */
uint64_t cee_evring_push(struct cee_evring *r, const struct cee_event *e);
/**
 * Producer: cee_evring_push() in two steps, so the record is written in
 * place (a copy of a record just built field by field on the stack stalls
 * on store forwarding). cee_evring_claim() spends a credit (aborts without
 * one) and returns the next record; the caller fills every field except
 * sseq; cee_evring_publish() sets sseq, hands it to the consumer and
 * returns it. Nothing else may happen on the ring in between.
 */
struct cee_event *cee_evring_claim(struct cee_evring *r);
uint64_t cee_evring_publish(struct cee_evring *r);
/**
 * Producer: push the extension record @p x (x->type CEE_EVT_EXT), spending
 * one reserved credit like cee_evring_push(); sets sseq in the stored copy
 * and returns it. The records of one group are pushed together, right
 * before their event, with nothing else pushed in between. Aborts without a
 * credit or when @p x is not an extension record.
 */
uint64_t cee_evring_push_ext(struct cee_evring *r, const struct cee_event_ext *x);
/** Producer: sseq of the last pushed record (0 before any). */
uint64_t cee_evring_last_sseq(const struct cee_evring *r);

/**
 * Consumer: point @p first at up to @p max contiguous unread records.
 * @return how many (0 when empty). They stay valid until cee_evring_release().
 */
uint32_t cee_evring_peek(struct cee_evring *r, const struct cee_event **first, uint32_t max);
/**
 * Consumer: like cee_evring_peek(), but from the record after sseq @p after
 * (at least the last released one): up to @p max contiguous published
 * records, valid until released. Lets several readers (sinks) move through
 * the unreleased part at their own pace.
 */
uint32_t cee_evring_peek_at(struct cee_evring *r, uint64_t after, const struct cee_event **first,
			    uint32_t max);
/** Consumer: sseq of the last released record (0 before any). */
uint64_t cee_evring_released(const struct cee_evring *r);
/** Consumer: mark @p n peeked records as consumed, making room for the producer. */
void cee_evring_release(struct cee_evring *r, uint32_t n);

/** Anyone: a consistent-enough copy of the counters. */
void cee_evring_stats(const struct cee_evring *r, struct cee_evring_stats *st);
unsigned cee_evring_shard(const struct cee_evring *r);
