/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

/**
 * @file
 * The exporter: on the control thread, drains every shard's event ring into
 * every sink, in sseq order per shard. Records are handed on as they are in
 * the ring (events and extension records); a batch may end inside an
 * extension group, the sinks keep the rest for the next batch.
 */

#include <stdint.h>

#include "cee_evring.h"
#include "cee_sink.h"

struct cee_exporter;

/** Optional in-process consumer, called with each batch after the sinks (e.g. the audit). */
typedef void (*cee_exporter_tap_fn)(void *arg, const struct cee_event *ev, uint32_t n);

/**
 * @return an exporter over @p nrings rings and @p nsinks sinks (arrays are
 * copied; the objects stay owned by the caller), or NULL + errno.
 */
struct cee_exporter *cee_exporter_create(struct cee_evring *const *rings, unsigned nrings,
					 struct cee_sink *const *sinks, unsigned nsinks);
void cee_exporter_set_tap(struct cee_exporter *x, cee_exporter_tap_fn fn, void *arg);
/**
 * Drain at most @p budget records from each ring once.
 * @return records exported (extension records included), or -errno when a
 * sink failed (the records stay in the ring).
 */
int cee_exporter_poll(struct cee_exporter *x, uint32_t budget);
/** Flush all sinks. @return 0 or -errno. */
int cee_exporter_flush(struct cee_exporter *x);
uint64_t cee_exporter_exported(const struct cee_exporter *x);
void cee_exporter_destroy(struct cee_exporter *x);
