/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

/**
 * @file
 * Event sinks: where the control thread writes exported events.
 *
 * Specs:
 *   jsonl:-            JSON Lines on stdout
 *   jsonl:PATH         JSON Lines appended to a file (or written into a FIFO)
 *   jsonl:unix:PATH    JSON Lines to a Unix stream socket (connect as client)
 *   binary:PATH        fixed 64-byte records after a 16-byte header
 *   null:              discards (counting only)
 *
 * Sinks run on the control thread only and may block: a blocked sink stops
 * the drain, the shard rings fill, and admission stops. Nothing is dropped.
 * New kinds plug in with cee_sink_register().
 */

#include <stdint.h>

#include "cee_event.h"

struct cee_sink;

struct cee_sink_ops {
	/** Write @p n events. May block. @return 0 or -errno (the sink is then broken). */
	int (*write)(struct cee_sink *s, const struct cee_event *ev, uint32_t n);
	/** Push buffered bytes to the OS. @return 0 or -errno. */
	int (*flush)(struct cee_sink *s);
	/** Flush and release everything. */
	void (*close)(struct cee_sink *s);
};

struct cee_sink {
	const struct cee_sink_ops *ops;
	void *priv;          /**< the kind's own state */
	uint64_t written;    /**< events written */
	char spec[256];      /**< the spec it was opened with */
};

/** Opens a sink of one kind from the text after "scheme:". NULL + errno on failure. */
typedef struct cee_sink *(*cee_sink_open_fn)(const char *arg);

/** Add a sink kind. @return 0, -EEXIST, or -ENOSPC. */
int cee_sink_register(const char *scheme, cee_sink_open_fn open);
/** Open a sink from @p spec. @return the sink, or NULL with errno (EINVAL for an unknown scheme). */
struct cee_sink *cee_sink_open(const char *spec);
int cee_sink_write(struct cee_sink *s, const struct cee_event *ev, uint32_t n);
int cee_sink_flush(struct cee_sink *s);
void cee_sink_close(struct cee_sink *s);

/** Binary sink file header. */
struct cee_evbin_header {
	char magic[8];        /**< "CEEEVT\0\0" */
	uint32_t version;     /**< CEE_EVT_SCHEMA_VERSION */
	uint32_t record_size; /**< sizeof(struct cee_event) */
};
#define CEE_EVBIN_MAGIC "CEEEVT\0"

/**
 * Encode @p e as one JSON object followed by '\n' into @p buf.
 * @return the length written (excluding the NUL), or -ENOSPC when @p len is too small.
 */
int cee_evt_to_json(const struct cee_event *e, char *buf, size_t len);
