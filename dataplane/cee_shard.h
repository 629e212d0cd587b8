/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

/**
 * @file
 * A shard: one worker lcore's connections, 4-tuple table, timers, event ring
 * and counters. Only its lcore writes them (after start-up); the control
 * thread reads counters only after the shard has stopped, or through
 * relaxed atomics where marked.
 */

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "cee_conn.h"
#include "cee_engine.h"
#include "cee_evring.h"
#include "cee_net.h"
#include "cee_tcp.h"
#include "cee_timer.h"

#define CEE_RX_BURST 32
#define CEE_TX_BURST 32
#define CEE_TIMER_BUDGET 256
#define CEE_HANDOFF_RING 4096

/** Counters of one shard. Writer: the shard's lcore. */
struct cee_shard_stats {
	uint64_t rx_pkts, tx_pkts;
	uint64_t opened;      /**< connections admitted (open events) */
	uint64_t destroyed;
	uint64_t refused;     /**< SYNs refused: no event room or max_conns */
	uint64_t handoff_out; /**< packets passed to their owner shard */
	uint64_t arp_replies, icmp_replies;
	uint64_t rst_no_conn; /**< RSTs sent for segments matching no connection */
	uint64_t drops[CEE_DROP__COUNT];
};

struct cee_port_info {
	uint16_t port_id;
	uint16_t nb_rxq;  /**< rx queues (shards >= nb_rxq poll none of this port) */
	bool rss;         /**< the NIC steers by cee_flow_hash in hardware */
	struct rte_ether_addr mac;
};

struct cee_shard {
	unsigned id;
	unsigned nshards;
	unsigned lcore;
	const struct cee_engine_cfg *cfg;
	const struct cee_port_info *ports;
	unsigned nports;

	struct cee_conn_pool *pool;
	struct cee_timer_wheel *wheel;
	struct cee_evring *evring;
	struct cee_tcp_ctx tcp;
	struct rte_mempool *mp;

	// Send buffers: a stack of free fixed-size buffers carved from one block.
	uint8_t *sb_block;
	void **sb_free;
	uint32_t sb_nfree, sb_count;

	// Software steering: handoff[j] carries packets from this shard to
	// shard j (single producer: us; single consumer: j).
	struct rte_ring *handoff[CEE_MAX_SHARDS];
	struct rte_ring *handoff_in[CEE_MAX_SHARDS];

	struct {
		struct rte_mbuf *pkts[CEE_TX_BURST];
		uint16_t n;
	} tx[CEE_MAX_PORTS];

	uint64_t now_ns;
	uint32_t isn_secret[4];
	unsigned evt_per_conn; /**< credits reserved per admitted connection */

	struct cee_shard_stats stats;

	// Control -> shard: stop request (control writes, shard reads).
	atomic_bool stop;
	// Shard -> control: the shard aborted everything and left its loop.
	atomic_bool done;
} __rte_cache_aligned;

/** Allocate a shard's tables (on @p socket). @return 0 or -errno. */
int cee_shard_init(struct cee_shard *s, unsigned id, unsigned nshards, unsigned socket,
		   const struct cee_engine_cfg *cfg, const struct cee_port_info *ports,
		   unsigned nports, struct rte_mempool *mp);
void cee_shard_fini(struct cee_shard *s);
/** The lcore main loop (rte_eal_remote_launch). */
int cee_shard_main(void *arg);
/** One poll iteration (rx, steer, tcp, timers, tx). @return work done (0 = idle). */
unsigned cee_shard_poll(struct cee_shard *s);
/** Abort every live connection with @p reason and flush tx. */
void cee_shard_abort_all(struct cee_shard *s, enum cee_reason reason);
/** Engine clock in ns (monotonic). */
uint64_t cee_clock_ns(void);
