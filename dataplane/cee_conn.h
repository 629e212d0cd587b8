/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

/**
 * @file
 * A shard's connection slots and its 4-tuple table.
 *
 * Storage is one array allocated at start-up and never moved. A connection's
 * slot is derived from its id (see cee_id.h): lookup by id is an index and
 * a compare, so an id whose connection is gone matches nothing, even when
 * its slot now holds another connection. Written by the owning shard only.
 * No DPDK.
 */

#include <stdbool.h>
#include <stdint.h>

#include "cee_id.h"
#include "cee_siphash.h"
#include "cee_tcp.h"
#include "cee_timer.h"

/** A connection. Owner: its shard's lcore (reads and writes); nobody else. */
struct cee_conn {
	struct cee_tcb tcb;
	struct cee_timer_node timer;
	cee_conn_id_t id; /**< 0 while the slot is free */
	uint32_t local_ip, remote_ip; /**< host order */
	uint16_t local_port, remote_port;
	uint32_t hnext;   /**< next slot + 1 in the same 4-tuple bucket, 0 = end */
	uint32_t bucket : 24; /**< its 4-tuple's bucket (cee_conn_free() needs no hash) */
	uint32_t port_id : 8; /**< ethdev it arrived on */
	uint8_t peer_mac[6];
	uint8_t cseq;      /**< next per-connection event sequence number */
	uint8_t proto;     /**< enum cee_proto */
	uint8_t reserved;  /**< event-ring credits still held */
	uint8_t listener;  /**< index of the listener that accepted it; 0xff: an active open */
	uint16_t link;     /**< a link's attempt: the link's index in its shard + 1; else 0 */
};

struct cee_conn_pool;

/** cee_conn.listener of an active open (a link, cee_shard_connect()). */
#define CEE_CONN_ACTIVE 0xff

/**
 * Most slots a pool has: a power of two (the 4-tuple table has as many
 * buckets, and cee_conn.bucket holds a bucket in 24 bits).
 */
#define CEE_CONN_SLOTS_MAX (1u << 24)
/**
 * Most live connections one pool (one shard) holds: its slots are 1.25 x
 * that and one more, rounded up to a power of two, at most
 * CEE_CONN_SLOTS_MAX (13,421,772).
 */
#define CEE_CONN_POOL_MAX ((CEE_CONN_SLOTS_MAX - 1) / 5 * 4)

/**
 * Pool for shard @p shard holding at most @p max_conns live connections.
 * @return the pool, or NULL with errno EINVAL (0 or more than
 * CEE_CONN_POOL_MAX) / ENOMEM.
 */
struct cee_conn_pool *cee_conn_pool_create(unsigned shard, uint32_t max_conns);
void cee_conn_pool_destroy(struct cee_conn_pool *p);
/**
 * The secret of the table's keyed hash (a random one per engine; all zero
 * until set). Set it while the pool is empty: buckets move with the key.
 */
void cee_conn_pool_set_key(struct cee_conn_pool *p, const struct cee_siphash_key *key);
/** What the table's bucket of a tuple depends on: the key and the table's size. */
struct cee_conn_hash {
	struct cee_siphash_key key;
	uint32_t shift; /**< 32 - log2(buckets) */
};
/** The pool's hash parameters (fixed once the key is set): for cee_conn_bucket_h(). */
const struct cee_conn_hash *cee_conn_pool_hash(const struct cee_conn_pool *p);

/**
 * The bucket of a 4-tuple: SipHash-1-3 of the tuple under the pool's key.
 * Inline, so a burst's hashes interleave; a packet's lookup computes it
 * once: cee_conn_prefetch_bucket_at(), cee_conn_prefetch_chain_at(),
 * cee_conn_by_tuple_at().
 */
static inline uint32_t cee_conn_bucket_h(const struct cee_conn_hash *h, uint32_t local_ip,
					 uint16_t local_port, uint32_t remote_ip,
					 uint16_t remote_port)
{
	uint64_t x = cee_siphash13_12(
	    &h->key, (uint64_t)remote_ip << 32 | (uint32_t)remote_port << 16 | local_port, local_ip);
	return (uint32_t)(x >> 32) >> h->shift;
}
/** cee_conn_bucket_h() of @p p. */
uint32_t cee_conn_bucket(const struct cee_conn_pool *p, uint32_t local_ip, uint16_t local_port,
			 uint32_t remote_ip, uint16_t remote_port);
void cee_conn_prefetch_bucket_at(const struct cee_conn_pool *p, uint32_t bucket);
void cee_conn_prefetch_chain_at(const struct cee_conn_pool *p, uint32_t bucket);
/** cee_conn_by_tuple() in @p bucket (from cee_conn_bucket() of the same tuple). */
struct cee_conn *cee_conn_by_tuple_at(struct cee_conn_pool *p, uint32_t bucket, uint32_t local_ip,
				      uint16_t local_port, uint32_t remote_ip,
				      uint16_t remote_port);

/**
 * Allocate a zeroed connection for the tuple, give it a fresh id and insert it
 * in the 4-tuple table. @return it, or NULL with errno ENOSPC when max_conns are live.
 */
struct cee_conn *cee_conn_alloc(struct cee_conn_pool *p, uint32_t local_ip, uint16_t local_port,
				uint32_t remote_ip, uint16_t remote_port);
/** cee_conn_alloc() with the tuple's @p bucket (cee_conn_bucket()) already computed. */
struct cee_conn *cee_conn_alloc_at(struct cee_conn_pool *p, uint32_t bucket, uint32_t local_ip,
				   uint16_t local_port, uint32_t remote_ip, uint16_t remote_port);
/** Remove @p c from the table and free its slot (poisoned in debug builds). */
void cee_conn_free(struct cee_conn_pool *p, struct cee_conn *c);

/** @return the live connection named @p id, or NULL (stale, unknown, other shard). */
struct cee_conn *cee_conn_by_id(struct cee_conn_pool *p, cee_conn_id_t id);
/** Start loading the lines of @p c (a hint; @p c need not be live). */
void cee_conn_prefetch(const struct cee_conn *c);
/** @return the live connection with this tuple, or NULL. */
struct cee_conn *cee_conn_by_tuple(struct cee_conn_pool *p, uint32_t local_ip,
				   uint16_t local_port, uint32_t remote_ip, uint16_t remote_port);

uint32_t cee_conn_live(const struct cee_conn_pool *p);
/** The serial of the last id issued (0: none yet): every connection allocated so far has one <= it. */
uint64_t cee_conn_last_serial(const struct cee_conn_pool *p);
uint32_t cee_conn_capacity(const struct cee_conn_pool *p);
uint32_t cee_conn_max(const struct cee_conn_pool *p);
/** Bytes the pool allocated (slots, table, bitmap). */
uint64_t cee_conn_pool_bytes(const struct cee_conn_pool *p);

/**
 * Resumable walk over the slots: @return the first live connection in a slot
 * in [*@p slot, @p end) and set *@p slot just past it, or NULL with *@p slot =
 * @p end when there is none (@p end is clamped to the capacity). A walk in
 * bounded steps visits every connection that stays live throughout exactly
 * once (slots never move).
 */
struct cee_conn *cee_conn_next(struct cee_conn_pool *p, uint32_t *slot, uint32_t end);

/** Call @p fn for every live connection (it may free the one it is given). */
void cee_conn_foreach(struct cee_conn_pool *p, void (*fn)(void *arg, struct cee_conn *c),
		      void *arg);

/** The connection that embeds @p tcb. */
static inline struct cee_conn *cee_conn_of_tcb(struct cee_tcb *tcb)
{
	return (struct cee_conn *)(void *)((char *)tcb - __builtin_offsetof(struct cee_conn, tcb));
}

static inline struct cee_conn *cee_conn_of_timer(struct cee_timer_node *n)
{
	return (struct cee_conn *)(void *)((char *)n - __builtin_offsetof(struct cee_conn, timer));
}
