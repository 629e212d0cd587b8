/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

/**
 * @file
 * ARP resolver (RFC 826, with the neighbour states of RFC 4861 7.3 kept
 * simple): a per-shard neighbour table mapping next-hop IPv4 addresses to
 * MAC addresses, with a bounded queue of frames waiting for a resolution.
 *
 * Pure: no DPDK, no clock, no I/O. The owner (a shard) passes the time,
 * sends the requests this module asks for and transmits or frees the
 * queued frames it hands back (opaque pointers, mbufs in the shard).
 * Every resource is bounded: the table has a fixed number of entries (the
 * least recently used resolved entry is evicted when it is full), each
 * incomplete entry holds at most CEE_ARP_QUEUE frames, and an address that
 * does not answer after max_probes requests fails (its frames are dropped
 * and counted) and is retried only after a hold-down.
 * Single-threaded: the owning shard's lcore only.
 */

#include <stdbool.h>
#include <stdint.h>

#define CEE_ARP_QUEUE 4 /**< frames held per unresolved neighbour */

enum cee_arp_state {
	CEE_ARP_FREE,
	CEE_ARP_INCOMPLETE, /**< request sent, no answer yet */
	CEE_ARP_REACHABLE,  /**< answered within reachable_ns */
	CEE_ARP_STALE,      /**< known but old: used while max_probes requests ask again, then FAILED */
	CEE_ARP_FAILED,     /**< no answer after max_probes: frames dropped until hold-down ends */
};

struct cee_arp_cfg {
	uint64_t reachable_ns;  /**< an answer is trusted this long (default 30 s) */
	uint64_t retrans_ns;    /**< between requests for an incomplete entry (default 1 s) */
	uint32_t max_probes;    /**< requests before failing (default 3) */
	uint64_t holddown_ns;   /**< a failed entry refuses frames this long (default 5 s) */
};

struct cee_arp_stats {
	uint64_t requests;   /**< requests the owner was asked to send */
	uint64_t learned;    /**< entries created or updated from the wire */
	uint64_t resolved;   /**< incomplete entries that got their answer */
	uint64_t queued;     /**< frames held waiting for an answer */
	uint64_t dropped;    /**< frames dropped: queue full, failed or evicted entry */
	uint64_t failed;     /**< entries that got no answer (new or stale) */
	uint64_t stale_failed; /**< of those, stale entries whose probes went unanswered */
	uint64_t evicted;    /**< entries evicted to make room */
	uint64_t table_full; /**< lookups refused: every entry busy resolving */
};

struct cee_arp;

void cee_arp_cfg_default(struct cee_arp_cfg *c);

/** A table of @p entries (rounded up to a power of two). @return NULL + errno on failure. */
struct cee_arp *cee_arp_create(uint32_t entries, const struct cee_arp_cfg *cfg);
/** Free the table; frames still queued are passed to @p drop (may be NULL). */
void cee_arp_destroy(struct cee_arp *a, void (*drop)(void *arg, void *frame), void *arg);

enum cee_arp_res {
	CEE_ARP_OK,      /**< @p mac filled: send now */
	CEE_ARP_QUEUED,  /**< @p frame is held; it comes back from cee_arp_input() */
	CEE_ARP_DROP,    /**< the caller frees @p frame (counted in dropped) */
};

/**
 * Resolve next hop @p ip (host order), reached through @p port, for
 * @p frame (may be NULL: just ask). When @p *send_request is set, the owner
 * must send an ARP request for @p ip on @p port now; cee_arp_tick()'s
 * retries go to the port of the entry's last resolve.
 */
enum cee_arp_res cee_arp_resolve(struct cee_arp *a, unsigned port, uint32_t ip, uint64_t now_ns,
				 uint8_t mac[6], void *frame, bool *send_request);

/**
 * An ARP packet from @p ip / @p mac arrived (request or reply). Updates an
 * existing entry; creates one when @p create (RFC 826: a request for our
 * address). Frames that were waiting for @p ip are written to @p ready
 * (at most CEE_ARP_QUEUE): the owner fills in @p mac and sends them.
 * @return how many frames are ready.
 */
unsigned cee_arp_input(struct cee_arp *a, uint32_t ip, const uint8_t mac[6], bool create,
		       uint64_t now_ns, void *ready[CEE_ARP_QUEUE]);

/**
 * Periodic work: re-send requests for incomplete entries and for stale
 * ones being probed (@p request is called per address), fail those out of
 * probes (an incomplete entry's frames go to @p drop).
 * Call it about every millisecond or less often; it scans at most
 * @p budget entries per call (round robin). @return entries visited.
 */
unsigned cee_arp_tick(struct cee_arp *a, uint64_t now_ns, unsigned budget,
		      void (*request)(void *arg, uint32_t ip, unsigned port),
		      void (*drop)(void *arg, void *frame),
		      void *arg);

/** Look up without side effects. @return the state (CEE_ARP_FREE when unknown). */
enum cee_arp_state cee_arp_lookup(const struct cee_arp *a, uint32_t ip, uint8_t mac[6]);
/**
 * Whether a known entry (reachable or stale) other than @p ip's has
 * @p mac: one station answering for several addresses (a router's
 * secondary address, proxy ARP). A walk of the whole table.
 */
bool cee_arp_mac_shared(const struct cee_arp *a, uint32_t ip, const uint8_t mac[6]);

void cee_arp_stats(const struct cee_arp *a, struct cee_arp_stats *st);
