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
