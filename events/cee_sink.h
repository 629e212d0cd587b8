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
 *   jsonl:unix+ack:PATH  the same; the reader writes back "ack N\n" (N: lines of
 *                      this connection it processed) and the sink keeps lines
 *                      until acknowledged (1 MiB window): a new reader gets
 *                      every unacknowledged line again
 *   binary:PATH        fixed 64-byte records (events and extension records) after a
 *                      16-byte header, each run's after a run record (its engine id)
 *   null:              discards (counting only)
 *   nats://HOST:PORT/PREFIX[?...]   JetStream (cee_sink_nats.c, when built with libnats)
 *
 * Sinks run on the control thread only and never block: a sink that cannot
 * take records now (a stalled reader, a full publish window) takes fewer or
 * none, and keeps what it took until it is delivered. A sink that fails
 * (reader gone, broker down, disk full) returns -errno; the exporter keeps
 * its records in the shard rings and retries it with backoff through
 * reopen(), while the other sinks go on. When a ring fills behind a slow or
 * failed sink, admission stops on that shard (refused, counted) and
 * established connections carry on. Nothing is dropped.
 * New kinds plug in with cee_sink_register().
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cee_event.h"

struct cee_sink;

struct cee_sink_ops {
	/**
	 * Offer @p n records of one shard's stream, in sseq order: lifecycle
	 * events and the extension records (type CEE_EVT_EXT) that precede
	 * some of them; a group may be split across two calls, and calls for
	 * different shards interleave. Must not block.
	 * @return how many of the first records the sink took (0..n): from
	 * then on they are the sink's to deliver; the rest are offered again
	 * later. Or -errno: the sink is broken (nothing of this call taken);
	 * the exporter calls reopen() later.
	 */
	int (*write)(struct cee_sink *s, const struct cee_event *ev, uint32_t n);
	/**
	 * Push taken records on without blocking (NULL: nothing is ever held).
	 * @return 0 when the sink holds nothing undelivered, -EAGAIN when it
	 * still does (a stalled reader, unacknowledged messages), or -errno
	 * when it is broken.
	 */
	int (*flush)(struct cee_sink *s);
	/**
	 * Recover after a failure (reconnect, reopen), keeping what was taken
	 * and not delivered. Must not block for long. NULL: retrying is a
	 * plain flush(). @return 0 or -errno (still broken).
	 */
	int (*reopen)(struct cee_sink *s);
	/** Release everything, delivering what can be without blocking. */
	void (*close)(struct cee_sink *s);
	/**
	 * The file was renamed away (log rotation): go on in a new file at
	 * the same path, after delivering what the old one can take. NULL: not
	 * a file (nothing to do). @return 1 when a new file was opened, 0 when
	 * the path is still this file, or -errno (the old file stays).
	 */
	int (*rotate)(struct cee_sink *s);
	/**
	 * Count in held what was delivered meanwhile (acknowledgements that
	 * came on their own), sending and retrying nothing: called while the
	 * sink is failed too, when flush() is not. NULL: nothing is delivered
	 * without a flush().
	 */
	void (*settle)(struct cee_sink *s);
};

struct cee_sink {
	const struct cee_sink_ops *ops;
	void *priv;          /**< the kind's own state */
	/**
	 * Lifecycle events taken (extension records not counted): for jsonl,
	 * the lines that carry an event. Written by cee_sink_write().
	 */
	uint64_t written;
	/**
	 * Lifecycle events taken and not yet delivered: buffered, sent to a
	 * stalled reader's socket but not accepted by it, published and not
	 * acknowledged. Kept by the kind (0 for kinds that hold nothing).
	 */
	uint64_t held;
	/**
	 * Lines taken that a sink sent again to a new reader because the last
	 * one had not acknowledged them (jsonl:unix+ack; 0 for other kinds).
	 */
	uint64_t resent;
	/**
	 * jsonl: extension groups that were not followed by their event
	 * (incomplete, malformed, or another record came first: a producer
	 * bug), written as lines of type "ext" of their own rather than dropped.
	 * Written by the kind; 0 for kinds that keep records raw.
	 */
	uint64_t bad_ext;
	/**
	 * When its close must be done by (CLOCK_MONOTONIC ns; 0: its own
	 * bounds). The engine sets it once its --shutdown-timeout has passed
	 * with events undelivered (reported): the close then waits for nothing
	 * more. A NATS sink waited up to a second more for acknowledgements
	 * (the engine had just waited for them), each sink in turn.
	 */
	uint64_t close_by_ns;
	char spec[256];      /**< the spec it was opened with */
};

/** Opens a sink of one kind from the text after "scheme:". NULL + errno on failure. */
typedef struct cee_sink *(*cee_sink_open_fn)(const char *arg);

/** Add a sink kind. @return 0, -EEXIST, or -ENOSPC. */
int cee_sink_register(const char *scheme, cee_sink_open_fn open);
/** Is the kind of @p spec (its text before the first ':') registered? */
bool cee_sink_kind_known(const char *spec);
/**
 * The kinds registered, as "jsonl:, binary:, null:" (registration order),
 * into @p buf of @p len bytes (cut to fit).
 */
void cee_sink_kinds(char *buf, size_t len);
/** Open a sink from @p spec. @return the sink, or NULL with errno (EINVAL for an unknown scheme). */
struct cee_sink *cee_sink_open(const char *spec);
/**
 * @p spec as it may be printed (logs, errors, cee-ctl): the values of
 * password= and token=, and the password of a URL's user:password@, become
 * "***"; cut to fit @p out (the size of struct cee_sink's spec).
 */
void cee_sink_redact(char out[static 256], const char *spec);
/** ops->write(), counting the lifecycle events taken in written. */
int cee_sink_write(struct cee_sink *s, const struct cee_event *ev, uint32_t n);
int cee_sink_flush(struct cee_sink *s);
int cee_sink_reopen(struct cee_sink *s);
/** The ops' rotate, or 0 for kinds that are not files. */
int cee_sink_rotate(struct cee_sink *s);
void cee_sink_close(struct cee_sink *s);

/** Longest engine id (letters, digits, '-', '_'). */
#define CEE_ENGINE_ID_MAX 32
/** Is @p id a valid engine id (1..CEE_ENGINE_ID_MAX of [A-Za-z0-9_-])? */
bool cee_engine_id_valid(const char *id);
/** Longest run id (the engine's: "r" and 12 hex digits). */
#define CEE_RUN_ID_MAX 16
/**
 * Set the engine id every JSON line carries as "engine" (NULL or "": none),
 * and the run id it carries as "run" after it (NULL or "": none; only with
 * an engine id). An engine given its id (--engine-id) keeps it across
 * restarts while its connection ids and sseq start again: "run" tells the
 * runs apart. Call before any sink writes. @return 0 or -EINVAL.
 */
int cee_evt_json_set_engine(const char *id, const char *run);
/** The engine id set by cee_evt_json_set_engine(), "" when none. */
const char *cee_evt_json_engine(void);
/** The run id set by cee_evt_json_set_engine(), "" when none. */
const char *cee_evt_json_run(void);
/**
 * The engine's run id whether its lines carry it or not (an engine with a
 * random id writes no "run"): the NATS sink's message ids, cee-ctl sinks.
 */
void cee_evt_set_run(const char *run);
/** The run id set by cee_evt_set_run(), "" when none. */
const char *cee_evt_run(void);

/**
 * A JSON Lines encoder that merges extension groups into their event's line
 * (shared by the jsonl and nats sinks). Holds, per shard, a group waiting
 * for its event. Zero-initialised state is ready.
 */
struct cee_jsonl_enc;
/** Room cee_jsonl_enc_put() may need for one record. */
#define CEE_JSONL_ENC_ROOM (2 * CEE_EVT_JSON_EXT_MAX)
struct cee_jsonl_enc *cee_jsonl_enc_new(void);
void cee_jsonl_enc_free(struct cee_jsonl_enc *j);
/**
 * Encode record @p e at @p buf (with CEE_JSONL_ENC_ROOM bytes free):
 * nothing while it is an extension record of a group still waiting for its
 * event, one line for an event (merged with its group), and before it a
 * line of type "ext" for a group it does not complete (counted in
 * @p bad_ext). @return bytes written (0 allowed).
 */
size_t cee_jsonl_enc_put(struct cee_jsonl_enc *j, const struct cee_event *e, char *buf,
			 uint64_t *bad_ext);
/** Write every group still waiting as "ext" lines (at close). @return bytes; @p buf as above. */
size_t cee_jsonl_enc_drain(struct cee_jsonl_enc *j, char *buf, size_t len, uint64_t *bad_ext);
/**
 * Write shard @p shard's group still waiting as an "ext" line (a NATS
 * batch sealed at close). @return bytes; @p buf has CEE_EVT_JSON_EXT_MAX free.
 */
size_t cee_jsonl_enc_drain_shard(struct cee_jsonl_enc *j, unsigned shard, char *buf,
				 uint64_t *bad_ext);
/** Extension records held, over all shards. */
uint32_t cee_jsonl_enc_pending(const struct cee_jsonl_enc *j);

/**
 * Binary sink file header. Versions 1 to 3 are the event schema's (1: no
 * extension records; 3: links); version 4 has version 3's records and a run
 * record (struct cee_evbin_run) at the start of each run's records. Readers
 * accept 1 to 4; the sink appends only to a file of its own version.
 */
struct cee_evbin_header {
	char magic[8];        /**< "CEEEVT\0\0" */
	uint32_t version;     /**< CEE_EVBIN_VERSION */
	uint32_t record_size; /**< sizeof(struct cee_event) */
};
#define CEE_EVBIN_MAGIC "CEEEVT\0"
#define CEE_EVBIN_VERSION 4

/**
 * Binary files, version 4: the record each run of the sink starts with (after
 * the header in a new file; first when it appends to one), naming the
 * engine whose records follow, up to the next run record. Connection ids
 * and sseq are per engine run (docs/events.md), so a file that several runs
 * appended to is audited per run. In no shard's stream (sseq 0).
 */
struct cee_evbin_run {
	uint64_t sseq;			/**< 0 */
	char engine[CEE_ENGINE_ID_MAX]; /**< cee_evt_json_engine(), NUL-padded */
	uint64_t ts_ns;			/**< CLOCK_REALTIME when the sink opened */
	uint8_t reserved[12];		/**< 0 */
	uint8_t type;			/**< CEE_EVBIN_RUN */
	uint8_t reserved2[3];		/**< 0 */
};
#define CEE_EVBIN_RUN 0x1e
_Static_assert(sizeof(struct cee_evbin_run) == sizeof(struct cee_event), "a record");
_Static_assert(offsetof(struct cee_evbin_run, type) == offsetof(struct cee_event, type),
	       "type where a record's is");
_Static_assert(CEE_EVBIN_RUN >= CEE_EVT__COUNT && CEE_EVBIN_RUN != CEE_EVT_EXT,
	       "the run type is neither a lifecycle nor an extension type");

/**
 * Encode @p e as one JSON object followed by '\n' into @p buf. An extension
 * record (type CEE_EVT_EXT) is written as a line of its own, as
 * cee_evt_to_json_ext(NULL, &e, 1, ...) does.
 * @return the length written (excluding the NUL), or -ENOSPC when @p len is too small.
 */
int cee_evt_to_json(const struct cee_event *e, char *buf, size_t len);
/**
 * Room with which cee_evt_to_json() writes a plain event straight into @p buf
 * (less goes through a copy): the longest plain line, with its NUL.
 */
#define CEE_EVT_JSON_MAX 608

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
