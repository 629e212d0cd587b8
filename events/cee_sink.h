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
 *   binary:PATH        fixed 64-byte records (events and extension records) after a
 *                      16-byte header
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
	/**
	 * Write @p n records of one shard's stream, in sseq order: lifecycle
	 * events and the extension records (type CEE_EVT_EXT) that precede
	 * some of them; a group may be split across two calls, and calls for
	 * different shards interleave. May block.
	 * @return 0 or -errno (the sink is then broken).
	 */
	int (*write)(struct cee_sink *s, const struct cee_event *ev, uint32_t n);
	/** Push buffered bytes to the OS. @return 0 or -errno. */
	int (*flush)(struct cee_sink *s);
	/** Flush and release everything. */
	void (*close)(struct cee_sink *s);
};

struct cee_sink {
	const struct cee_sink_ops *ops;
	void *priv;          /**< the kind's own state */
	/**
	 * Lifecycle events written (extension records not counted): for jsonl,
	 * the lines that carry an event. Written by cee_sink_write().
	 */
	uint64_t written;
	/**
	 * jsonl: extension groups that were not followed by their event
	 * (incomplete, malformed, or another record came first: a producer
	 * bug), written as lines of type "ext" of their own rather than dropped.
	 * Written by the kind; 0 for kinds that keep records raw.
	 */
	uint64_t bad_ext;
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

/**
 * Binary sink file header. Readers accept versions 1 (no extension
 * records) and 2; the sink appends only to a file of its own version.
 */
struct cee_evbin_header {
	char magic[8];        /**< "CEEEVT\0\0" */
	uint32_t version;     /**< CEE_EVT_SCHEMA_VERSION */
	uint32_t record_size; /**< sizeof(struct cee_event) */
};
#define CEE_EVBIN_MAGIC "CEEEVT\0"

/**
 * Encode @p e as one JSON object followed by '\n' into @p buf. An extension
 * record (type CEE_EVT_EXT) is written as a line of its own, as
 * cee_evt_to_json_ext(NULL, &e, 1, ...) does.
 * @return the length written (excluding the NUL), or -ENOSPC when @p len is too small.
 */
int cee_evt_to_json(const struct cee_event *e, char *buf, size_t len);

/** Longest line cee_evt_to_json_ext() writes, with its NUL. */
#define CEE_EVT_JSON_EXT_MAX 8192

/**
 * Encode event @p e merged with its extension group @p ext[0 .. next-1] as
 * one JSON object followed by '\n' into @p buf: the event's fields, then the
 * group's keys flattened (consecutive TLVs of one key concatenated; strings
 * JSON-escaped, invalid UTF-8 as U+FFFD; unknown keys skipped), then
 * "xseq" = ext[0]->sseq. With @p e NULL, the records alone make a line of
 * type "ext" ("of", "conn", "shard", "sseq" of the last record, the keys,
 * "xseq"). With @p next 0, the same as cee_evt_to_json(e).
 * The records are taken as given: the caller checks they form e's group.
 * @return the length written (excluding the NUL), -ENOSPC when @p len is too
 * small, -EINVAL when @p next > CEE_EVT_EXT_MAX or there is nothing to write.
 */
int cee_evt_to_json_ext(const struct cee_event *e, const struct cee_event_ext *const *ext,
			unsigned next, char *buf, size_t len);
