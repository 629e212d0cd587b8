/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

/**
 * @file
 * Connection identity.
 *
 * A connection is named by a 64-bit id, never by an address:
 *
 *     63      56 55                                            0
 *    +----------+-----------------------------------------------+
 *    |  shard   |          serial (per-shard, monotonic)        |
 *    +----------+-----------------------------------------------+
 *
 * The serial is a per-shard counter that only grows, so an id never repeats
 * (2^56 serials last 228 years at 10 million connections per second per
 * shard). The slot that holds the connection is derived from the serial:
 * slot = serial & (capacity - 1), with capacity a power of two. The pool
 * skips serials whose slot is busy, so lookup by id is one array index plus
 * a compare of the stored id: a stale id (its connection destroyed, its slot
 * reused) never matches.
 *
 * Id 0 is never issued (serials start at 1), so 0 means "no connection".
 */

#include <stdint.h>

/** A connection id. 0 is "none". */
typedef uint64_t cee_conn_id_t;

#define CEE_ID_SHARD_BITS 8
#define CEE_ID_SERIAL_BITS 56
#define CEE_ID_SERIAL_MASK ((UINT64_C(1) << CEE_ID_SERIAL_BITS) - 1)
/** Most shards an engine can have. */
#define CEE_MAX_SHARDS (1u << CEE_ID_SHARD_BITS)

static inline cee_conn_id_t cee_id_make(unsigned shard, uint64_t serial)
{
	return ((uint64_t)shard << CEE_ID_SERIAL_BITS) | (serial & CEE_ID_SERIAL_MASK);
}

static inline unsigned cee_id_shard(cee_conn_id_t id)
{
	return (unsigned)(id >> CEE_ID_SERIAL_BITS);
}

static inline uint64_t cee_id_serial(cee_conn_id_t id)
{
	return id & CEE_ID_SERIAL_MASK;
}

/** Slot of @p id in a pool of @p capacity slots (a power of two). */
static inline uint32_t cee_id_slot(cee_conn_id_t id, uint32_t capacity)
{
	return (uint32_t)(id & (uint64_t)(capacity - 1));
}
