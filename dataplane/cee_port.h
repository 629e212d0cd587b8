/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

/**
 * @file
 * Ethdev set-up: one rx queue per shard where the port has them (with the
 * symmetric RSS key and a redirection table matching cee_flow_owner()),
 * one tx queue per shard always.
 */

#include <rte_mempool.h>

#include "cee_shard.h"

/**
 * Configure and start @p port_id for @p nshards shards.
 * @return 0, or -errno with a message on stderr (e.g. -EINVAL when the port
 * has fewer tx queues than shards).
 */
int cee_port_setup(uint16_t port_id, unsigned nshards, struct rte_mempool *mp,
		   struct cee_port_info *info);

/**
 * Is the AF_PACKET fanout group that DPDK 22.11's net_af_packet draws for
 * interface @p ifname in this process taken by another interface's group?
 *
 * That PMD puts every queue of a port in a kernel fanout group whose id is
 * (pid ^ ifindex) & 0xffff, and the ids are per network namespace: two
 * processes whose pid ^ ifindex agree on different interfaces cannot both
 * have their group, and the second's port fails to probe ("could not set
 * PACKET_FANOUT ... Invalid argument"). Only another pid draws another id.
 * Asked after a port failed to probe: joins that group, with the PMD's
 * mode and flags, on a socket of its own, and leaves it at once.
 * @return 1 taken, 0 free, -errno when it cannot tell (no such interface,
 * no CAP_NET_RAW).
 */
int cee_port_af_packet_fanout_taken(const char *ifname);
