/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

/**
 * @file
 * Connection monitors: a callback that fires exactly once when one
 * connection closes, keyed by the connection's id, never by its address.
 *
 * The fault this exists to prevent: a PBX kept disconnect monitors in a
 * table keyed by the remote address; after a reconnect to the same
 * address, the old transport's late DESTROY removed the new transport's
 * monitor, and the next disconnect went unnoticed. Here an id names one
 * connection for ever (cee_id.h): the late `destroyed` of an old id finds
 * only the old id's monitors.
 *
 * One table per shard, written by the shard's lcore only; fixed capacity
 * (running out is -ENOSPC, counted). No DPDK.
 */

#include <stdbool.h>
#include <stdint.h>

#include "cee_event.h"
#include "cee_id.h"

/** Reason passed to a monitor whose connection was gone when it was added. */
#define CEE_MONITOR_GONE (-1)

/**
 * @p reason: the connection's close reason (enum cee_reason), or
 * CEE_MONITOR_GONE. Runs on the shard's lcore; it may add or remove
 * monitors (of any connection), and call the shard's API.
 */
typedef void (*cee_monitor_fn)(void *arg, cee_conn_id_t id, int reason);

struct cee_monitors;

struct cee_monitor_stats {
	uint64_t added;
	uint64_t fired;    /**< at close, or at once for a closed connection */
	uint64_t gone;     /**< fired at once: no such connection (stale id) */
	uint64_t removed;  /**< by cee_monitors_remove() */
	uint64_t dropped;  /**< removed with their connection at destroyed (after firing) */
	uint64_t no_room;  /**< adds refused: table full */
};

/** A table for at most @p capacity monitors (1 .. 2^25 - 1: a shard's most
 *  connections, 2^24, and more). NULL + errno (EINVAL, ENOMEM). */
struct cee_monitors *cee_monitors_create(uint32_t capacity);
void cee_monitors_destroy(struct cee_monitors *m);

/**
 * Watch connection @p id. @p state tells what the caller (the shard) knows
 * of it: CEE_MONITOR_GONE (no such live connection: @p fn fires at once
 * with CEE_MONITOR_GONE), -2 (live, not closed yet: @p fn fires at its
 * close), or its close reason (closed already, not destroyed: @p fn fires
 * at once with that reason).
 * @return a handle > 0 while the monitor waits, 0 when it fired at once,
 * -ENOSPC when the table is full (counted; nothing fires).
 */
int64_t cee_monitors_add(struct cee_monitors *m, cee_conn_id_t id, int state, cee_monitor_fn fn,
			 void *arg);
#define CEE_MONITOR_LIVE (-2)
/**
 * Remove a waiting monitor (it will not fire). @return 0, or -ENOENT (fired
 * or unknown). A handle names its slot and the slot's use (a 63-bit handle:
 * at least 38 bits of generation), so a stale one matches nothing until
 * its slot has served 2^38 more monitors.
 */
int cee_monitors_remove(struct cee_monitors *m, int64_t handle);
/** Connection @p id closed with @p reason: its monitors fire, once each. */
void cee_monitors_closed(struct cee_monitors *m, cee_conn_id_t id, enum cee_reason reason);
/** Connection @p id was destroyed: monitors still waiting (none should) fire, then all of its go. */
void cee_monitors_destroyed(struct cee_monitors *m, cee_conn_id_t id, enum cee_reason reason);
/** Monitors waiting now. */
uint32_t cee_monitors_waiting(const struct cee_monitors *m);
const struct cee_monitor_stats *cee_monitors_stats(const struct cee_monitors *m);
