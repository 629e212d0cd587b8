/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

/**
 * @file
 * The one list of exported counters. cee-ctl stats, DPDK telemetry
 * (/cee/stats) and the engine's --stats JSON all walk it, so no renderer
 * can miss a counter: the shard counters (CEE_SHARD_STATS_LIST), the TCP
 * counters (CEE_TCP_STATS_LIST), the packet drop causes (CEE_DROP_LIST),
 * the event ring and the mailbox.
 *
 * Each counter has a group: top-level, tcp, drops or mailbox. The JSON of
 * --stats nests the groups ({"live":..,"tcp":{..},"drops":{..},"mailbox":{..}});
 * cee-ctl and telemetry print flat names, the group's prefix before the name
 * (tcp_segs_in, drop_bad_rst, mailbox_kills).
 */

#include <stdbool.h>
#include <stdint.h>

#include "cee_ctl.h"

enum cee_stat_group {
	CEE_STAT_TOP,
	CEE_STAT_TCP,
	CEE_STAT_DROP,
	CEE_STAT_MAILBOX,
	CEE_STAT_TLS,
	CEE_STAT_WS,
	CEE_STAT_ARP,
	CEE_STAT_MONITOR,
	CEE_STAT__GROUPS,
};

/** One exported counter. */
struct cee_stat_def {
	const char *name;   /**< within its group */
	uint8_t group;      /**< enum cee_stat_group */
	bool max;           /**< the total over shards is the maximum, not the sum */
	uint8_t width;      /**< bytes of the field in struct cee_ctl_shard_stats: 1, 4 or 8 */
	uint16_t off;       /**< its offset there */
};

/** Counters in the list. */
unsigned cee_stat_count(void);
/** Counter @p i (< cee_stat_count()), in the order every renderer prints them. */
const struct cee_stat_def *cee_stat_def(unsigned i);
/** Value of counter @p i in a shard's snapshot. */
uint64_t cee_stat_value(unsigned i, const struct cee_ctl_shard_stats *st);
/** Object key of a group in the --stats JSON (NULL: top level). */
const char *cee_stat_group_key(enum cee_stat_group g);
/** Prefix of a group's flat names (cee-ctl, telemetry): "", "tcp_", "drop_", "mailbox_". */
const char *cee_stat_group_prefix(enum cee_stat_group g);
/** Flat name of counter @p i into @p buf. @return @p buf. */
const char *cee_stat_flat_name(unsigned i, char *buf, unsigned size);

/**
 * Copy shard @p s's counters into @p st. Only the shard's lcore while it
 * runs (a mailbox STATS request), or anyone after it stopped.
 */
void cee_stat_snapshot(const struct cee_shard *s, struct cee_ctl_shard_stats *st);
