/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

/**
 * @file
 * The shape every per-connection layer has (../shared/design.md, "The
 * per-connection layer stack"): tcp, then optionally tls, then optionally
 * ws, then a service.
 *
 * A layer is a sans-I/O object. Bytes from below come in through its
 * input function and leave upwards through cee_layer_io.up; bytes from
 * above come in through its send function and leave downwards through
 * cee_layer_io.down. It reports its milestone (tls_up, ws_up) and its first
 * close cause through cee_layer_io; it never emits events itself, so that
 * "exactly one closed" stays one place in the code (the shard's lifecycle
 * path) whatever the stack.
 *
 * The layer knows nothing of DPDK, shards or TCP: the composer (the shard,
 * or a unit test that pumps two layers against each other in memory)
 * supplies cee_layer_io. This header lives in tls/ because TLS is the
 * lowest layer above TCP and tls/ may not include dataplane/ headers; the
 * WebSocket layer in dataplane/ uses the same shape.
 */

#include <stdbool.h>
#include <stdint.h>

#include "cee_event.h"

/** What a layer calls back into the stack that holds it. All run on the owning shard. */
struct cee_layer_io {
	/**
	 * Bytes for the layer below (towards the wire), valid only during the
	 * call. @return bytes taken (all of them, or fewer when the layer below
	 * is full), or -errno (the layer below is gone: -ENOTCONN, or has no
	 * memory: -ENOBUFS).
	 */
	int (*down)(void *arg, const uint8_t *data, uint32_t len);
	/** Bytes for the layer above (towards the service), valid only during the call. */
	void (*up)(void *arg, const uint8_t *data, uint32_t len);
	/** A milestone of this layer: CEE_EVT_TLS_UP or CEE_EVT_WS_UP, once. */
	void (*milestone)(void *arg, enum cee_evt_type type);
	/**
	 * The layer ends the connection with @p reason (its first cause: a TLS
	 * alert, close_notify, a protocol error). What it queued downwards
	 * (an alert, close_notify) is sent first; the stack then closes the
	 * layer below gracefully.
	 */
	void (*close)(void *arg, enum cee_reason reason);
	void *arg;
};
