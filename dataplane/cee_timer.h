/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

/**
 * @file
 * Per-shard hashed timing wheel (single level, lazy re-insertion for
 * deadlines beyond one revolution). Nodes are embedded in their owners;
 * arming, re-arming and cancelling are O(1); no allocation after create.
 * Single-threaded: the owning shard's lcore only. No DPDK.
 */

#include <stdbool.h>
#include <stdint.h>

/** Embedded in the owner (e.g. a connection). Zero-initialised = not armed. */
struct cee_timer_node {
	struct cee_timer_node *next, *prev; /**< slot list; next == NULL when not armed */
	uint64_t at_ns;                     /**< deadline */
};

struct cee_timer_wheel;

/** Called for each expired node, already disarmed; it may re-arm it. */
typedef void (*cee_timer_fn)(void *arg, struct cee_timer_node *node, uint64_t now_ns);

/**
 * @param tick_ns   slot width (e.g. 1 ms); deadlines are rounded up to a tick.
 * @param nslots    slots per revolution (rounded up to a power of two).
 * @param now_ns    the wheel's starting time.
 * @return the wheel, or NULL with errno EINVAL / ENOMEM.
 */
struct cee_timer_wheel *cee_timer_wheel_create(uint64_t tick_ns, uint32_t nslots, uint64_t now_ns);

/** Starts loading the object that holds @p n (a hint: must not write). */
typedef void (*cee_timer_prefetch_fn)(const struct cee_timer_node *n);
/**
 * While cee_timer_expire() runs one due node's callback, let @p fn start
 * loading the next due node's owner (NULL: no hint).
 */
void cee_timer_wheel_set_prefetch(struct cee_timer_wheel *w, cee_timer_prefetch_fn fn);
void cee_timer_wheel_destroy(struct cee_timer_wheel *w);

/** Arm (or move) @p n to fire at @p at_ns (a deadline in the past fires at the next expire). */
void cee_timer_arm(struct cee_timer_wheel *w, struct cee_timer_node *n, uint64_t at_ns);
/** Disarm @p n; harmless when not armed. */
void cee_timer_cancel(struct cee_timer_wheel *w, struct cee_timer_node *n);

static inline bool cee_timer_armed(const struct cee_timer_node *n)
{
	return n->next != 0;
}

/**
 * Fire every node whose deadline is <= @p now_ns, at most @p budget of them
 * (the rest fire on the next call). Nodes fire in deadline-tick order,
 * but after a stall of more than one revolution: the walk then visits each
 * slot once, and a node due in an earlier revolution fires in its slot's
 * turn, after nodes of later ticks (none fires early, none is lost).
 * @return nodes fired.
 */
unsigned cee_timer_expire(struct cee_timer_wheel *w, uint64_t now_ns, unsigned budget,
			  cee_timer_fn fn, void *arg);
/** Nodes currently armed. */
uint32_t cee_timer_count(const struct cee_timer_wheel *w);
