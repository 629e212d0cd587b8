/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

/**
 * @file
 * Per-source limits, as an SBC's flood guard (`--max-conns-per-ip`,
 * `--syn-rate-per-ip`): live connections per remote address, and new
 * connections per second per remote address (a token bucket, burst = the
 * rate), both counting connections whose handshake completed. One table
 * per shard, its lcore only: a source's connections are spread over the
 * shards by port, so the limits hold per shard.
 *
 * Open addressing with linear probing under a keyed hash (SipHash-1-3:
 * addresses chosen by an attacker must not pile up on one probe chain). An
 * entry with no live connection and a full bucket tells nothing and is
 * reused by the next address that probes past it, so the table never needs
 * a sweep. When a probe finds neither its address nor room within
 * CEE_SRCLIMIT_PROBES slots, the source is not limited (counted): a flood of
 * random spoofed sources (one SYN each) is SYN cookies' business, and must
 * not lock out real clients by filling this table. No DPDK.
 */

#include <stdbool.h>
#include <stdint.h>

#include "cee_siphash.h"

#define CEE_SRCLIMIT_PROBES 32

struct cee_srclimit;

/** What a check says. */
enum cee_srclimit_verdict {
	CEE_SRCLIMIT_OK,        /**< within the limits (and counted) */
	CEE_SRCLIMIT_UNTRACKED, /**< not limited: no room in the table for this address */
	CEE_SRCLIMIT_REFUSED,   /**< over a limit */
	CEE_SRCLIMIT_COOKIE,    /**< unproven connections fill the limit: answer statelessly */
};

/**
 * A table for about @p sources addresses at once (0: 65536), limits
 * @p max_conns live connections per address (0: none) and @p syn_rate new
 * connections per second per address (0: none). @return NULL + errno (ENOMEM).
 */
struct cee_srclimit *cee_srclimit_create(uint32_t sources, uint32_t max_conns, uint32_t syn_rate,
					 const struct cee_siphash_key *key);
void cee_srclimit_destroy(struct cee_srclimit *t);
/**
 * The memory a table for @p sources addresses takes (cee_srclimit_create()):
 * all of it can be touched, by a stream of new source addresses (the
 * engine's memory check counts it).
 */
uint64_t cee_srclimit_bytes(uint32_t sources);
/**
 * The sources a shard's table is made for, given its @p slots connection
 * slots: every slot's connection may come from another address (each live
 * entry holds a connection), so never fewer than the slots, and 65536 at
 * least. (Sized at 65536 whatever the slots, a shard of 1M slots filled
 * it with its own live sources, and every new source went untracked: the
 * limits no longer held for anyone new, an abuser included.)
 */
static inline uint32_t cee_srclimit_sources_for(uint32_t slots)
{
	return slots > 65536 ? slots : 65536;
}
/**
 * The connection rate (--syn-rate-per-ip) counts connections whose
 * handshake completed, as max_conns does: SYNs spoofed with a client's
 * address must not spend its rate (an off-path attacker at N+1 SYNs a
 * second locked out any source it chose). Is a rate set?
 */
/**
 * Empty up to @p budget slots' worth of stale entries (no connection, rate
 * bucket full again), from where the last call stopped. A slot that held a
 * source never became empty again (reused only for one that hashed there):
 * after a flood of spoofed sources filled the table, every lookup of an
 * unknown source walked all CEE_SRCLIMIT_PROBES slots for good. The shard
 * calls it each millisecond. @return the entries emptied.
 */
uint32_t cee_srclimit_sweep(struct cee_srclimit *t, uint64_t now_ns, uint32_t budget);
/** Slots in use (tests, diagnostics: walks the table). */
uint32_t cee_srclimit_used(const struct cee_srclimit *t);

bool cee_srclimit_rate_on(const struct cee_srclimit *t);
/** Is a limit of live connections set (max_conns)? */
bool cee_srclimit_conns_on(const struct cee_srclimit *t);
/**
 * A SYN from @p ip at @p now_ns: would a connection completed now be
 * within the rate (nothing taken)? REFUSED: answer it with a SYN cookie
 * (stateless; its ACK is judged by cee_srclimit_rate_take()).
 */
enum cee_srclimit_verdict cee_srclimit_rate_peek(const struct cee_srclimit *t, uint32_t ip,
						 uint64_t now_ns);
/** A connection from @p ip completed its handshake: within the rate (a token taken), or not. */
enum cee_srclimit_verdict cee_srclimit_rate_take(struct cee_srclimit *t, uint32_t ip,
						 uint64_t now_ns);
/**
 * A connection from @p ip is about to be admitted, counted as unproven
 * (half open) until cee_srclimit_conn_proven(). The limit holds for proven
 * connections (handshake completed: the peer holds the address), so that
 * SYNs spoofed with a client's address cannot lock it out:
 *  - REFUSED: its proven connections fill max_conns;
 *  - COOKIE (a SYN, @p proven false): with its unproven ones they do:
 *    answer with a SYN cookie, nothing counted (a real client's ACK comes
 *    back and is admitted proven; a spoofed SYN costs nothing);
 *  - OK: counted; @p proven (a valid cookie ACK): whatever is unproven.
 */
enum cee_srclimit_verdict cee_srclimit_conn_add(struct cee_srclimit *t, uint32_t ip,
						uint64_t now_ns, bool proven);
/**
 * Do @p ip's proven connections fill max_conns? Asked when a half-open one
 * is about to complete its handshake: it is refused then, not counted past
 * the limit.
 */
bool cee_srclimit_proven_full(const struct cee_srclimit *t, uint32_t ip);
/** A counted connection of @p ip completed its handshake. */
void cee_srclimit_conn_proven(struct cee_srclimit *t, uint32_t ip);
/** A counted connection of @p ip is gone (@p proven: after cee_srclimit_conn_proven()). */
void cee_srclimit_conn_del(struct cee_srclimit *t, uint32_t ip, bool proven);
/** Connections counted for @p ip, proven or not. */
uint32_t cee_srclimit_live(const struct cee_srclimit *t, uint32_t ip);
/** Proven connections counted for @p ip. */
uint32_t cee_srclimit_proven(const struct cee_srclimit *t, uint32_t ip);
