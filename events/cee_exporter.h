/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

/**
 * @file
 * The exporter: on the control thread, hands every shard's event ring to
 * every sink, in sseq order per shard. Records are handed on as they are in
 * the ring (events and extension records); a batch may end inside an
 * extension group, the sinks keep the rest for the next batch.
 *
 * Each sink reads the rings at its own pace (a cursor per ring and sink); a
 * record is released, making room for the shard, once every sink took it.
 * A slow or failed sink therefore holds the rings, and when a ring fills,
 * that shard stops admitting connections: nothing is dropped, and the other
 * sinks go on with what the rings hold. A failed sink is retried with
 * exponential backoff (cee_sink_reopen()) and resumes where it stopped.
 */

#include <stdbool.h>
#include <stdint.h>

#include "cee_evring.h"
#include "cee_sink.h"

struct cee_exporter;

/** Optional in-process consumer, called with each released batch (e.g. the audit). */
typedef void (*cee_exporter_tap_fn)(void *arg, const struct cee_event *ev, uint32_t n);

/** How one sink stands. */
struct cee_exporter_sink_stats {
	const char *spec;
	bool failed;          /**< failed, waiting for its next retry */
	int err;              /**< -errno of its last failure (0: none yet) */
	uint64_t written;     /**< lifecycle events it took */
	uint64_t held;        /**< of those, not yet delivered */
	uint64_t resent;      /**< sent again to a new reader (jsonl:unix+ack) */
	uint64_t behind;      /**< records in the rings it has not taken yet */
	uint64_t failures;    /**< times it failed */
	uint64_t retries;     /**< recovery attempts */
	uint64_t down_ns;     /**< time spent failed, the current failure included */
	uint64_t bad_ext;     /**< extension groups written standalone (a producer's fault) */
};

/**
 * @return an exporter over @p nrings rings and @p nsinks sinks (arrays are
 * copied; the objects stay owned by the caller), or NULL + errno.
 */
struct cee_exporter *cee_exporter_create(struct cee_evring *const *rings, unsigned nrings,
					 struct cee_sink *const *sinks, unsigned nsinks);
void cee_exporter_set_tap(struct cee_exporter *x, cee_exporter_tap_fn fn, void *arg);
/** Backoff between a failed sink's retries: from @p min_ms, doubling, up to @p max_ms. */
void cee_exporter_set_retry(struct cee_exporter *x, uint32_t min_ms, uint32_t max_ms);
/**
 * Offer each sink at most @p budget records from each ring, release what
 * every sink took, retry failed sinks that are due. Never blocks.
 * @return records taken or released (work done; 0 when idle). Never fails:
 * a failing sink is reported on stderr and retried.
 */
int cee_exporter_poll(struct cee_exporter *x, uint32_t budget);
/**
 * Push what the sinks hold. @return 0 when no sink holds anything and none
 * is failed, -EAGAIN otherwise.
 */
int cee_exporter_flush(struct cee_exporter *x);
/** Records released (every sink took them). */
uint64_t cee_exporter_exported(const struct cee_exporter *x);
unsigned cee_exporter_nsinks(const struct cee_exporter *x);
void cee_exporter_sink_stats(const struct cee_exporter *x, unsigned i,
			     struct cee_exporter_sink_stats *st);
/**
 * The engine is shutting down (the sinks have --shutdown-timeout left): a
 * failed sink is retried now, and then at least every 50 ms instead of
 * after its backoff (up to seconds), so a reader back in the meantime gets
 * the rest before the deadline.
 */
void cee_exporter_shutdown(struct cee_exporter *x);
/** Has every sink taken and delivered every record in the rings? */
bool cee_exporter_idle(struct cee_exporter *x);
/**
 * Log rotation (SIGHUP): each file sink whose file was renamed away goes
 * on in a new file at its path (cee_sink_rotate()); what it held is not
 * lost. Says what it did on stderr.
 */
void cee_exporter_rotate(struct cee_exporter *x);
void cee_exporter_destroy(struct cee_exporter *x);
