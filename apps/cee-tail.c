/* SPDX-License-Identifier: BSD-3-Clause */
// cee-tail: read the NATS sink's JetStream stream and write its events as JSON
// Lines on stdout, each shard's records in sseq order, once.
//
//   cee-tail nats://HOST:PORT/PREFIX?stream=NAME[&durable=NAME][&filter=SUBJECT]
//            [--count N] [--idle-exit MS] [--from-start] [--reorder-wait MS]
//            [--ack-wait MS]
//
// A durable pull consumer (explicit ack; default name "cee-tail") reads
// subjects PREFIX.> (or filter=). The messages are the sink's sealed batches
// (format at the top of events/cee_sink_nats.c). Per (engine, run, shard) the
// batches are put back in Cee-First-Sseq order: a batch whose first sseq is
// below the next one expected was written already (a resend that landed
// twice, a redelivery): it is counted and skipped; a batch above it waits,
// at most --reorder-wait ms (default 10000), for the batches in between, then
// the gap is reported and skipped. Deliveries lost with a connection (a
// broker restarted, a server that dropped a slow reader) come back only when
// the consumer's ack wait runs out, so after the connection is made again
// (or libnats reports that it dropped messages) no gap is given up and
// --idle-exit does not end the run for two and a half ack waits (losses in a
// row: at most three times that from the first). Nor is a gap given up, or a
// key started mid-stream, while the server holds more deliveries
// unacknowledged than this reader does (consumer info: a reader killed while
// it held batches, whose deliveries come back after the ack wait), for at
// most as long. Fetches ask for at most FETCH_MAX_BYTES (or 4
// max_payload) so that a server's buffer for this reader stays far below its
// slow-consumer limit (64 MiB); half that after each loss. A message is acknowledged only after its
// lines were written and stdout flushed. Binary batches are converted with
// the jsonl sink's encoder, so the output is always JSON Lines: a batch whose
// body does not hold what its headers say (binary: last - first + 1 records
// of those sseqs; jsonl: whole lines '{' ... "}\n") is skipped and counted
// as malformed; a message without the sink's headers (Cee-Run, when given,
// an id like Cee-Engine; Cee-Last-Sseq below 2^64 - 1) is skipped as foreign.
//
// take() and timers() are the ordering, without libnats: a message is its
// headers, body and a handle its owner gets back through struct msg_ops, and
// the lines go to T.out (tests/fuzz/fuzz_nats.c drives them so).
//
// Exit: 0; 1 when a gap was skipped or a message could not be read; 2 on bad
// usage, connection or consumer errors.
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nats/nats.h>

#include "cee_event.h"
#include "cee_nats_common.h"
#include "cee_sink.h"

#define WHO "cee-tail"
#define FETCH_BATCH 256
#define FETCH_WAIT_MS 200
#define FETCH_MAX_BYTES (8 << 20)
#define MAX_ACK_PENDING 4096
#define OUT_BUF (1u << 20)
#define REORDER_WAIT_MAX_MS (24u * 3600 * 1000)

// One message as take() sees it: the sink's headers (NULL when absent), the
// body, and its owner's handle, given back through T.ops.
struct msg {
	const char *subject; // for what goes to stderr
	const char *engine, *run, *shard, *first, *last, *events, *format;
	const char *schema; // Cee-Schema (NULL: not given, taken for ours)
	const char *data;
	size_t len;
	void *handle;
	uint64_t pos; // its stream sequence (0: unknown)
};

// The messages' owner: the fetch loop below (libnats), or a fuzz target
// (tests/fuzz/fuzz_nats.c).
struct msg_ops {
	// Settled, once the output is flushed: @p wrote tells whether its lines
	// were written (else it was a copy of what was, not the sink's, or
	// malformed).
	void (*ack)(void *handle, bool wrote);
	// Given up unacknowledged: the broker delivers it again (it was still
	// waiting at exit).
	void (*drop)(void *handle);
	// @p older, still waiting, was replaced by @p newer with the same
	// headers: a delivery again of the same message (drop it: the server
	// tracks one) or another stored copy (acknowledge it: else the server
	// counts it unacknowledged, as if a delivery were still to come).
	void (*replaced)(void *older, void *newer);
};

struct held {
	void *handle;
	const char *data; // the body, owned by handle
	size_t len;
	uint64_t first, last;
	uint32_t events;
	bool binary;
	bool schema_other; // binary records of another schema: not ours to read
};

// One (engine, run, shard) stream of batches.
struct key {
	char engine[CEE_ENGINE_ID_MAX + 1];
	char run[CEE_RUN_ID_MAX + 1];
	unsigned shard;
	bool json_engine;     // engine != run: the lines carry both (binary conversion)
	bool started;	      // next is known
	uint64_t next;	      // first sseq of the batch to write next
	uint64_t start;	      // the first sseq this reader wrote (1, or where it joined)
	uint64_t deadline_ns; // start (not started) or gap (started) waited for until then
	// The stream's end when that wait began (0: unknown): what was stored
	// then must have been delivered here before the wait may end
	uint64_t wait_pos;
	bool wait_pos_asked; // wait_pos is the answer (or none came)
	struct held *held;    // batches waiting, by first sseq
	unsigned nheld, cap;
	struct cee_jsonl_enc *enc; // binary batches
	// the last gaps given up, [lo, hi] (hi 0: none): a batch of one that
	// comes after all is late, not a copy of what was written
	struct {
		uint64_t lo, hi;
	} skipped[4];
	unsigned nskipped; // gaps given up (the last 4 kept)
};

struct ack {
	void *handle;
	bool wrote;
};

static struct {
	FILE *out;
	// T.out's buffer size when it has one of its own (0: none known): the
	// output then reaches the reader in whole lines (out_lines())
	size_t out_cap;
	const struct msg_ops *ops;
	struct key *keys;
	unsigned nkeys, cap;
	uint32_t *idx, idx_mask; // key_get()'s index
	struct ack *acks; // settled, to acknowledge after the flush
	unsigned nacks, acks_cap;
	uint64_t messages, events, duplicates, reordered, gaps, late, foreign, bad, overlaps;
	uint64_t schema_other; // binary batches of another schema (counted in bad too)
	uint64_t reorder_wait_ns;
	uint64_t hold_until_ns; // no gap is given up before then (lost deliveries)
	// Are deliveries still to come that this reader does not hold (NULL:
	// none known)? Asked before a gap or a start is given up.
	bool (*outstanding)(uint64_t now);
	// The stream's end now (its last sequence this consumer can be given),
	// or 0 when not known (NULL: not asked). A gap or a start is given up
	// only once every message stored when its wait began has been taken
	// here (T.max_pos), or pos_cap_ns after its time: a reader slower than
	// the producers (its output blocked, a catch-up from the start) gave up
	// a batch that was stored but not yet delivered, and then skipped it.
	uint64_t (*position)(void);
	uint64_t max_pos, pos_cap_ns;
	char line[CEE_JSONL_ENC_ROOM];
	bool out_err;
	bool oom; // out of memory writing a batch (drain()): the reader stops
} T;

static volatile sig_atomic_t stop;
// When deliveries may last have been lost: the connection was made again,
// or libnats dropped messages for a slow subscription (its threads write it).
static _Atomic uint64_t wire_loss_ns;

static int out_flags = -1; // stdout's file status flags at start (restored at exit)

// SIGINT/SIGTERM stop the run now, even when stdout's reader has stalled:
// no batch is written after it, and stdout becomes non-blocking, so a
// write blocked on the reader fails at once (an interrupted write that had
// moved some bytes returns their count, and stdio then blocks on the rest:
// EINTR alone did not end it). A reader that was behind then may get a cut
// last line; what was not written whole is not acknowledged.
static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
	if (out_flags >= 0)
		(void)fcntl(STDOUT_FILENO, F_SETFL, out_flags | O_NONBLOCK);
}

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: cee-tail nats://HOST:PORT[,HOST:PORT...]/PREFIX?stream=NAME[&durable=NAME][&filter=SUBJECT]\n"
	    "                [--count N] [--idle-exit MS] [--from-start] [--reorder-wait MS] [--ack-wait MS]\n"
	    "  stream=NAME      the sink's stream (default CEE)\n"
	    "  durable=NAME     the durable pull consumer (default cee-tail); it resumes\n"
	    "                   where it stopped\n"
	    "  filter=SUBJECT   subjects to read (default PREFIX.>)\n"
	    "  user= password= token= creds= tls= ca= cert= key=   as for the sink\n"
	    "  --count N        exit after N events\n"
	    "  --idle-exit MS   exit when nothing came for MS milliseconds (at most a year)\n"
	    "  --from-start     a new consumer starts at the stream's first message\n"
	    "                   (default: at the messages stored after it is created)\n"
	    "  --reorder-wait MS  how long a batch waits for a missing earlier one\n"
	    "                   (10000; at most 86400000)\n"
	    "  --ack-wait MS    the consumer's ack wait: when the broker delivers again\n"
	    "                   what was not acknowledged (3 reorder waits + 30000;\n"
	    "                   more than the reorder wait; an existing durable must\n"
	    "                   have been made with the same)\n"
	    "JSON Lines on stdout; a summary on stderr.\n");
}

static bool add_ack(void *handle, bool wrote)
{
	if (T.nacks == T.acks_cap) {
		unsigned c = T.acks_cap ? 2 * T.acks_cap : 256;
		struct ack *a = realloc(T.acks, c * sizeof(*a));
		if (a == NULL)
			return false;
		T.acks = a;
		T.acks_cap = c;
	}
	T.acks[T.nacks++] = (struct ack){.handle = handle, .wrote = wrote};
	return true;
}

static bool out_flush(void)
{
	if (fflush(T.out) != 0 || ferror(T.out)) {
		if (!T.out_err)
			fprintf(stderr, "%s: writing stdout: %s\n", WHO, strerror(errno));
		T.out_err = true;
		return false;
	}
	return true;
}

// Write whole lines @p p[0..len) to T.out such that what leaves its buffer
// ends at a line's end: stdio writes a full buffer out wherever the buffer
// ends, mid-line, and a cee-tail killed then (SIGKILL, a crash) left a cut
// line in its output; the next run, given the batch again, wrote its first
// line on after it. (A write(2) cut by a fatal signal may still cut one.)
static void out_lines(const char *p, size_t len)
{
	while (len > 0 && !T.out_err) {
		if (T.out_cap == 0 || __fpending(T.out) + len <= T.out_cap) {
			if (fwrite(p, 1, len, T.out) != len)
				T.out_err = true;
			return;
		}
		if (__fpending(T.out) > 0 && !out_flush())
			return;
		size_t n = len;
		if (n > T.out_cap) { // more than a buffer: up to the last line's end in one
			const char *nl = memrchr(p, '\n', T.out_cap);
			n = nl != NULL ? (size_t)(nl - p) + 1 : T.out_cap;
		}
		if (fwrite(p, 1, n, T.out) != n)
			T.out_err = true;
		p += n;
		len -= n;
	}
}

// Flush the output, then acknowledge what was settled. @return 0 or -EIO.
static int flush_and_ack(void)
{
	if (T.out_err)
		return -EIO; /* (a flush would block again on a reader that stalled) */
	if (!out_flush())
		return -EIO;
	for (unsigned i = 0; i < T.nacks; i++)
		T.ops->ack(T.acks[i].handle, T.acks[i].wrote);
	T.nacks = 0;
	return 0;
}

static uint32_t key_hash(const char *engine, const char *run, unsigned shard)
{
	uint32_t h = 2166136261u ^ shard; // FNV-1a
	for (const char *p = engine; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	h = (h ^ '/') * 16777619u;
	for (const char *p = run; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return h;
}

// Keys by (engine, run, shard): an index into T.keys (+1; 0 empty), open
// addressing at most half full. Every engine run adds its shards' keys for
// good (they remember what was written), so a long reader has many.
static void key_index_put(uint32_t *idx, uint32_t mask, const struct key *k, uint32_t i)
{
	uint32_t j = key_hash(k->engine, k->run, k->shard) & mask;
	while (idx[j] != 0)
		j = (j + 1) & mask;
	idx[j] = i + 1;
}

static struct key *key_get(const char *engine, const char *run, unsigned shard)
{
	if (T.idx != NULL)
		for (uint32_t j = key_hash(engine, run, shard) & T.idx_mask; T.idx[j] != 0;
		     j = (j + 1) & T.idx_mask) {
			struct key *k = &T.keys[T.idx[j] - 1];
			if (k->shard == shard && strcmp(k->engine, engine) == 0 &&
			    strcmp(k->run, run) == 0)
				return k;
		}
	if (T.nkeys == T.cap) {
		unsigned c = T.cap ? 2 * T.cap : 16;
		struct key *a = realloc(T.keys, c * sizeof(*a));
		if (a == NULL)
			return NULL;
		T.keys = a;
		T.cap = c;
	}
	if (T.idx == NULL || 2 * (T.nkeys + 1) > T.idx_mask + 1) {
		uint32_t n = T.idx ? 2 * (T.idx_mask + 1) : 64;
		uint32_t *idx = calloc(n, sizeof(*idx));
		if (idx == NULL)
			return NULL;
		for (unsigned i = 0; i < T.nkeys; i++)
			key_index_put(idx, n - 1, &T.keys[i], i);
		free(T.idx);
		T.idx = idx;
		T.idx_mask = n - 1;
	}
	struct key *k = &T.keys[T.nkeys];
	memset(k, 0, sizeof(*k));
	// both fit: take() checked them
	snprintf(k->engine, sizeof(k->engine), "%s", engine);
	snprintf(k->run, sizeof(k->run), "%s", run);
	k->shard = shard;
	k->json_engine = strcmp(engine, run) != 0;
	key_index_put(T.idx, T.idx_mask, k, T.nkeys);
	T.nkeys++;
	return k;
}

// The JSON writers' engine and run for a binary batch of @p k, as the jsonl
// format carries them: the engine when the sink named one (Cee-Engine !=
// Cee-Run), and the run when it sent one (an engine given its id; one with a
// random id sends no Cee-Run and its lines carry no run).
static void json_engine(const struct key *k)
{
	(void)cee_evt_json_set_engine(k->json_engine ? k->engine : NULL,
				      k->json_engine ? k->run : NULL);
}

// Is a jsonl body whole lines of one object each ('{' ... "}\n", no NUL)?
// A body cut short would glue its last line to the next batch's first.
static bool jsonl_framed(const char *p, size_t len)
{
	while (len > 0) {
		const char *nl = memchr(p, '\n', len);
		if (nl == NULL)
			return false;
		size_t n = (size_t)(nl - p);
		if (n < 2 || p[0] != '{' || p[n - 1] != '}' || memchr(p, '\0', n) != NULL)
			return false;
		p = nl + 1;
		len -= n + 1;
	}
	return true;
}

// Write a batch's lines. @return 0, or -EINVAL for a malformed body (nothing
// written), -ENOMEM.
static int write_batch(struct key *k, const struct held *h)
{
	if (h->schema_other)
		return -EINVAL; // (said in take())
	if (!h->binary) {
		if (!jsonl_framed(h->data, h->len))
			return -EINVAL;
		out_lines(h->data, h->len);
		return 0;
	}
	// h->last < UINT64_MAX (take()): n does not wrap
	uint64_t n = h->last - h->first + 1;
	if (h->len % sizeof(struct cee_event) != 0 || h->len / sizeof(struct cee_event) != n)
		return -EINVAL;
	for (uint64_t i = 0; i < n; i++) {
		struct cee_event e;
		memcpy(&e, h->data + i * sizeof(e), sizeof(e)); // the body is not aligned
		if (e.sseq != h->first + i)
			return -EINVAL;
	}
	if (k->enc == NULL && (k->enc = cee_jsonl_enc_new()) == NULL)
		return -ENOMEM;
	// the lines carry the engine (and run) the jsonl format would have carried
	json_engine(k);
	uint64_t bad_ext = 0;
	for (uint64_t i = 0; i < n; i++) {
		struct cee_event e;
		memcpy(&e, h->data + i * sizeof(e), sizeof(e));
		size_t w = cee_jsonl_enc_put(k->enc, &e, T.line, &bad_ext);
		out_lines(T.line, w);
	}
	// an encoder is ~66 KiB and a key lives as long as the reader (each
	// engine run has its own): kept only while it holds a group
	if (cee_jsonl_enc_pending(k->enc) == 0) {
		cee_jsonl_enc_free(k->enc);
		k->enc = NULL;
	}
	return 0;
}

// A top-level number "key":N in a jsonl line p[0..n) (our writer's lines:
// the key follows '{' or ','; a string holding "key": has its quotes
// escaped, so never matches). @return false when absent.
static bool line_num(const char *p, size_t n, const char *key, uint64_t *v)
{
	size_t kl = strlen(key);
	for (size_t i = 1; i + kl + 3 <= n; i++) {
		if ((p[i - 1] != '{' && p[i - 1] != ',') || p[i] != '"' ||
		    memcmp(p + i + 1, key, kl) != 0 || p[i + 1 + kl] != '"' || p[i + 2 + kl] != ':')
			continue;
		uint64_t x = 0;
		size_t j = i + 3 + kl, d = 0;
		for (; j < n && p[j] >= '0' && p[j] <= '9' && d < 20; j++, d++)
			x = x * 10 + (uint64_t)(p[j] - '0');
		if (d == 0 || d == 20)
			return false;
		*v = x;
		return true;
	}
	return false;
}

// A batch that overlaps what was written (first < @p next <= last): a
// sealed batch never changes, but two sinks of one engine publishing to
// one prefix batch the same events at other bounds. Its events from
// @p next on are new: h keeps just those (a jsonl line that holds
// extension records covers xseq..sseq: one that straddles next cannot be
// cut). @return 0, or -EINVAL when the body does not split at next.
static int slice_from(struct held *h, uint64_t next)
{
	uint64_t skip = next - h->first;
	if (h->binary) {
		if (h->len % sizeof(struct cee_event) != 0 ||
		    h->len / sizeof(struct cee_event) != h->last - h->first + 1)
			return -EINVAL;
		h->data += skip * sizeof(struct cee_event);
		h->len -= skip * sizeof(struct cee_event);
		// events: the records that are not extension records
		h->events = 0;
		for (size_t i = 0; i < h->len / sizeof(struct cee_event); i++) {
			struct cee_event e;
			memcpy(&e, h->data + i * sizeof(e), sizeof(e));
			h->events += e.type != CEE_EVT_EXT;
		}
	} else {
		const char *p = h->data;
		size_t len = h->len;
		for (;;) {
			const char *nl = len > 0 ? memchr(p, '\n', len) : NULL;
			uint64_t from, to;
			if (nl == NULL || !line_num(p, (size_t)(nl - p), "sseq", &to))
				return -EINVAL;
			if (!line_num(p, (size_t)(nl - p), "xseq", &from))
				from = to;
			if (to >= next) {
				if (from != next)
					return -EINVAL;
				break;
			}
			len -= (size_t)(nl - p) + 1;
			p = nl + 1;
		}
		h->data = p;
		h->len = len;
		h->events = 0; // one a line
		for (const char *q = p; (q = memchr(q, '\n', len - (size_t)(q - p))) != NULL; q++)
			h->events++;
	}
	h->first = next;
	return 0;
}

// A batch overlapping what was written: said and counted, its new events
// kept (slice_from()). @return false when it could not be cut (malformed:
// said, counted, settled by the caller).
static bool take_overlap(const struct key *k, struct held *h)
{
	if (T.overlaps++ == 0)
		fprintf(stderr,
			"%s: engine %s shard %u: sseq %" PRIu64 "..%" PRIu64
			" overlaps what was written (up to %" PRIu64
			"): its events after that taken (two sinks on one prefix?)\n",
			WHO, k->engine, k->shard, h->first, h->last, k->next - 1);
	if (slice_from(h, k->next) == 0)
		return true;
	fprintf(stderr,
		"%s: engine %s shard %u sseq %" PRIu64 "..%" PRIu64
		": overlapping batch does not split at %" PRIu64 ": skipped\n",
		WHO, k->engine, k->shard, h->first, h->last, k->next);
	T.bad++;
	return false;
}

static void drop_held(struct key *k, unsigned i)
{
	memmove(&k->held[i], &k->held[i + 1], (k->nheld - i - 1) * sizeof(*k->held));
	k->nheld--;
}

// Nothing more is written: a stop signal, stdout failed, or out of memory.
static bool stopping(void)
{
	return stop || T.out_err || T.oom;
}

// Write what follows on from k->next; acknowledge late copies.
static void drain(struct key *k, uint64_t now, bool reordered)
{
	uint64_t next = k->next;
	while (k->nheld > 0 && !stopping()) {
		struct held h = k->held[0];
		if (h.first < k->next && h.last >= k->next) {
			if (!take_overlap(k, &k->held[0])) { // malformed: its range skipped
				drop_held(k, 0);
				k->next = h.last + 1;
				add_ack(h.handle, false);
				continue;
			}
			h = k->held[0];
		}
		if (h.first < k->next) { // a copy of what was written
			T.duplicates++;
			drop_held(k, 0);
			add_ack(h.handle, false);
			continue;
		}
		if (h.first != k->next)
			break;
		int rc = write_batch(k, &h);
		if (rc == -ENOMEM) {
			// not malformed: kept, not acknowledged (it was counted
			// malformed and acknowledged: lost); the reader stops
			T.oom = true;
			break;
		}
		drop_held(k, 0);
		bool wrote = rc == 0;
		if (!wrote) {
			fprintf(stderr,
				"%s: engine %s shard %u sseq %" PRIu64 "..%" PRIu64
				": malformed %s batch skipped\n",
				WHO, k->engine, k->shard, h.first, h.last,
				h.binary ? "binary" : "jsonl");
			T.bad++;
		} else {
			T.events += h.events;
		}
		T.reordered += reordered;
		reordered = true; // those after the first waited for it
		k->next = h.last + 1;
		add_ack(h.handle, wrote);
	}
	// The wait for the batch at the head starts when it became the head: a
	// batch arriving behind the gap does not put the gap's deadline back.
	if (k->nheld == 0) {
		k->deadline_ns = 0;
	} else if (k->next != next || k->deadline_ns == 0) {
		k->deadline_ns = now + T.reorder_wait_ns;
		k->wait_pos_asked = false;
	}
}

// Does [first, last] lie in a gap @p k gave up (one of its last 4)?
static bool in_skipped(const struct key *k, uint64_t first, uint64_t last)
{
	for (unsigned j = 0; j < 4 && j < k->nskipped; j++)
		if (k->skipped[j].hi != 0 && first >= k->skipped[j].lo && last <= k->skipped[j].hi)
			return true;
	return false;
}

static bool parse_num(const char *s, uint64_t *v)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0)
		return false;
	*v = x;
	return true;
}

// Take one message: skip it when it is not the sink's or a copy of what was
// written, else hold it and write what now follows on. @return 0 or -ENOMEM.
static int take(const struct msg *m, uint64_t now)
{
	T.messages++;
	if (m->pos > T.max_pos)
		T.max_pos = m->pos;
	const char *run = m->run != NULL ? m->run : "";
	uint64_t shard, first, last, events;
	// last < UINT64_MAX: the next batch's first sseq is last + 1
	bool ok = m->engine != NULL && m->format != NULL && m->shard != NULL && m->first != NULL &&
		  m->last != NULL && m->events != NULL && parse_num(m->shard, &shard) &&
		  parse_num(m->first, &first) && parse_num(m->last, &last) &&
		  parse_num(m->events, &events) && shard < CEE_MAX_SHARDS && first >= 1 &&
		  last >= first && last < UINT64_MAX &&
		  (strcmp(m->format, "jsonl") == 0 || strcmp(m->format, "binary") == 0) &&
		  cee_engine_id_valid(m->engine) &&
		  (run[0] == '\0' || (strlen(run) <= CEE_RUN_ID_MAX && cee_engine_id_valid(run)));
	if (!ok) {
		if (T.foreign++ == 0)
			fprintf(stderr, "%s: a message on %s without the sink's headers: skipped\n",
				WHO, m->subject);
		add_ack(m->handle, false);
		return 0;
	}
	struct key *k = key_get(m->engine, run, (unsigned)shard);
	if (k == NULL)
		return -ENOMEM;
	struct held h = {.handle = m->handle,
			 .data = m->data,
			 .len = m->len,
			 .first = first,
			 .last = last,
			 .events = (uint32_t)events,
			 .binary = m->format[0] == 'b'};
	// Binary records are this build's struct cee_event: another schema's
	// (an engine of another version in a rolling upgrade) were read
	// field by field as ours, and written as lines that looked right and
	// were not, exit 0. Malformed now: not written, counted, exit 1.
	uint64_t schema;
	if (h.binary && m->schema != NULL &&
	    (!parse_num(m->schema, &schema) || schema != CEE_EVT_SCHEMA_VERSION)) {
		h.schema_other = true;
		if (T.schema_other++ == 0)
			fprintf(stderr,
				"%s: engine %s: binary batches of schema %s; this reader reads "
				"schema %u: not written (a cee-tail of that version reads them)\n",
				WHO, m->engine, m->schema, CEE_EVT_SCHEMA_VERSION);
	}
	// (one that overlaps what was written is held: drain() takes its new
	// events; it was taken for a copy, and those lost)
	if (k->started && first < k->next && last < k->next) {
		if (last < k->start) {
			// Not a copy: a batch from before where this reader joined
			// the shard's stream (mid-stream, after --reorder-wait),
			// stored later than the batches after it. Its events cannot
			// be written in order any more: said, counted, exit 1 (it
			// was counted as a copy and skipped, exit 0)
			fprintf(stderr,
				"%s: engine %s shard %u: sseq %" PRIu64 "..%" PRIu64
				" came after this reader had started the shard at %" PRIu64
				": not written (out of order)\n",
				WHO, k->engine, k->shard, first, last, k->start);
			T.late++;
		} else if (in_skipped(k, first, last)) {
			// a batch of a gap given up, come after all: not a copy
			// (it was counted as one); its events are in no output
			fprintf(stderr,
				"%s: engine %s shard %u: sseq %" PRIu64 "..%" PRIu64
				" came after its gap was given up: not written (out of order)\n",
				WHO, k->engine, k->shard, first, last);
			T.late++;
		} else { // written already
			T.duplicates++;
		}
		add_ack(m->handle, false);
		return 0;
	}
	// by first sseq, the longer first where two start at one sseq (another
	// sink's bounds: the shorter is then a copy of what the longer wrote;
	// a longer one that replaced a shorter lost the rest)
	unsigned i = 0;
	while (i < k->nheld && (k->held[i].first < first ||
				(k->held[i].first == first && k->held[i].last > h.last)))
		i++;
	if (i < k->nheld && k->held[i].first == first && k->held[i].last == h.last) {
		// a redelivery of a batch still waiting, or another copy of it:
		// keep the newer (the one to acknowledge, with its own headers and
		// body), settle the older (T.ops->replaced)
		T.ops->replaced(k->held[i].handle, h.handle);
		k->held[i] = h;
		T.duplicates++;
		return 0;
	}
	if (k->nheld == k->cap) {
		unsigned c = k->cap ? 2 * k->cap : 8;
		struct held *a = realloc(k->held, c * sizeof(*a));
		if (a == NULL)
			return -ENOMEM;
		k->held = a;
		k->cap = c;
	}
	memmove(&k->held[i + 1], &k->held[i], (k->nheld - i) * sizeof(*k->held));
	k->held[i] = h;
	k->nheld++;
	if (!k->started && first == 1) { // the shard's stream from its start
		k->started = true;
		k->next = k->start = 1;
	}
	if (k->started) {
		drain(k, now, false);
		if (T.oom)
			return -ENOMEM;
	} else if (k->deadline_ns == 0) {
		// joined mid-stream: wait a little for batches before this one
		k->deadline_ns = now + T.reorder_wait_ns;
		k->wait_pos_asked = false;
	}
	return 0;
}

// Start key @p k at its first held batch, or skip the gap before it.
static void skip_gap(struct key *k, uint64_t now)
{
	bool gap = k->started;
	if (gap) {
		fprintf(stderr,
			"%s: engine %s shard %u: sseq %" PRIu64 "..%" PRIu64
			" never came; skipped\n",
			WHO, k->engine, k->shard, k->next, k->held[0].first - 1);
		T.gaps++;
		unsigned j = k->nskipped++ % 4;
		k->skipped[j].lo = k->next;
		k->skipped[j].hi = k->held[0].first - 1;
	}
	if (!k->started)
		k->start = k->held[0].first;
	k->started = true;
	k->next = k->held[0].first;
	drain(k, now, gap);
}

// Messages delivered to this reader and not yet acknowledged: the batches
// held, and those settled whose acknowledgement waits for the flush.
static uint64_t unacked(void)
{
	uint64_t n = T.nacks;
	for (unsigned i = 0; i < T.nkeys; i++)
		n += T.keys[i].nheld;
	return n;
}

// Is a start or a gap due (with @p all: any key holding batches)?
static bool due(uint64_t now, bool all)
{
	for (unsigned i = 0; i < T.nkeys; i++)
		if (T.keys[i].nheld > 0 && (all || now >= T.keys[i].deadline_ns))
			return true;
	return false;
}

// Is @p k's wait still behind what the stream held when it began (and not
// past its cap)?
static bool behind_stream(const struct key *k, uint64_t now)
{
	return k->wait_pos_asked && k->wait_pos > T.max_pos &&
	       now - k->deadline_ns < T.pos_cap_ns;
}

// Start the keys and give up the gaps whose time is up (all of them: @p all).
// Each round writes or skips a key's first held batch; a gap after it then
// waits its own time (none with @p all or a reorder wait of 0). Nothing is
// given up before T.hold_until_ns (deliveries lost with a connection are
// still to come), nor while T.outstanding() says deliveries are out that
// this reader does not hold: a reader killed while it held batches leaves
// them unacknowledged, the broker delivers them again after the ack wait,
// and a gap given up before would have skipped them for good (below the
// next sseq: counted as duplicates).
static void timers(uint64_t now, bool all)
{
	// stopping (a signal, stdout failed, out of memory): nothing is written
	// any more, so no gap is given up (the batch behind it stayed held and
	// due, and this looped for ever); what is held is delivered again
	if (now < T.hold_until_ns || stopping())
		return;
	if (T.outstanding != NULL && due(now, all) && T.outstanding(now))
		return;
	for (unsigned i = 0; i < T.nkeys; i++) {
		struct key *k = &T.keys[i];
		while (k->nheld > 0 && !stopping() &&
		       (all || (now >= k->deadline_ns && !behind_stream(k, now))))
			skip_gap(k, now);
	}
}

// Note the stream's end for the waits that began since the last call
// (T.position: one question for all of them).
static void wait_positions(void)
{
	uint64_t pos = 0;
	bool asked = false;
	for (unsigned i = 0; i < T.nkeys; i++) {
		struct key *k = &T.keys[i];
		if (k->nheld == 0 || k->wait_pos_asked)
			continue;
		if (!asked && T.position != NULL)
			pos = T.position();
		asked = true;
		k->wait_pos = pos;
		k->wait_pos_asked = true;
	}
}

// Write the groups a binary batch left open (a producer bug) as "ext" lines.
static void close_groups(void)
{
	for (unsigned i = 0; i < T.nkeys; i++) {
		struct key *k = &T.keys[i];
		if (k->enc == NULL)
			continue;
		uint64_t bad_ext = 0;
		json_engine(k);
		size_t w = cee_jsonl_enc_drain(k->enc, T.line, sizeof(T.line), &bad_ext);
		out_lines(T.line, w);
	}
}

// Give up what still waits (not acknowledged: delivered again later) and free
// the keys and the acknowledgements' list (flushed before).
// @return how many batches were left waiting.
static uint64_t release(void)
{
	uint64_t left = 0;
	for (unsigned i = 0; i < T.nkeys; i++) {
		struct key *k = &T.keys[i];
		for (unsigned j = 0; j < k->nheld; j++) {
			left++;
			T.ops->drop(k->held[j].handle);
		}
		free(k->held);
		if (k->enc != NULL)
			cee_jsonl_enc_free(k->enc);
	}
	free(T.keys);
	free(T.acks);
	free(T.idx);
	T.keys = NULL;
	T.acks = NULL;
	T.idx = NULL;
	T.idx_mask = 0;
	T.nkeys = T.cap = T.nacks = T.acks_cap = 0;
	return left;
}

// The consumer a spec names, with the defaults.
struct consumer {
	const char *stream, *durable, *filter;
	char filter_buf[sizeof(((struct cee_nats_spec *)NULL)->prefix) + 3]; // "PREFIX.>"
};

// stream=, durable= and filter= of @p sp (marked used). @return 0, or
// -EINVAL (message on stderr).
static int consumer_spec(struct cee_nats_spec *sp, struct consumer *c)
{
	c->stream = cee_nats_spec_get(sp, "stream");
	c->durable = cee_nats_spec_get(sp, "durable");
	c->filter = cee_nats_spec_get(sp, "filter");
	c->stream = c->stream ? c->stream : "CEE";
	c->durable = c->durable ? c->durable : "cee-tail";
	if (c->filter == NULL) {
		if (sp->prefix[0] == '\0') {
			fprintf(stderr, "%s: give a PREFIX (nats://HOST:PORT/PREFIX) or filter=\n",
				WHO);
			return -EINVAL;
		}
		snprintf(c->filter_buf, sizeof(c->filter_buf), "%s.>", sp->prefix);
		c->filter = c->filter_buf;
	}
	if (!cee_nats_name_valid(c->stream) || !cee_nats_name_valid(c->durable) ||
	    !cee_nats_subject_valid(c->filter, true)) {
		fprintf(stderr, "%s: bad stream, durable or filter name\n", WHO);
		return -EINVAL;
	}
	return 0;
}

// ---- libnats: the fetch loop's messages ------------------------------------

static void nats_ack(void *handle, bool wrote)
{
	(void)wrote;
	natsStatus s = natsMsg_Ack(handle, NULL);
	if (s != NATS_OK)
		fprintf(stderr, "%s: ack: %s (the message comes again and is skipped)\n", WHO,
			natsStatus_GetText(s));
	natsMsg_Destroy(handle);
}

static void nats_drop(void *handle)
{
	natsMsg_Destroy(handle);
}

static void nats_replaced(void *older, void *newer)
{
	jsMsgMetaData *a = NULL, *b = NULL;
	bool copy = natsMsg_GetMetaData(&a, older) == NATS_OK &&
		    natsMsg_GetMetaData(&b, newer) == NATS_OK &&
		    a->Sequence.Stream != b->Sequence.Stream;
	jsMsgMetaData_Destroy(a);
	jsMsgMetaData_Destroy(b);
	if (copy)
		nats_ack(older, false);
	else
		nats_drop(older);
}

static const struct msg_ops nats_msg_ops = {
    .ack = nats_ack, .drop = nats_drop, .replaced = nats_replaced};

static void on_reconnected(natsConnection *nc, void *closure)
{
	(void)nc;
	(void)closure;
	atomic_store(&wire_loss_ns, cee_nats_now_ns());
}

static void on_async_error(natsConnection *nc, natsSubscription *sub, natsStatus err,
			   void *closure)
{
	(void)nc;
	(void)sub;
	(void)closure;
	if (err == NATS_SLOW_CONSUMER)
		atomic_store(&wire_loss_ns, cee_nats_now_ns());
}

static const char *header(natsMsg *m, const char *name)
{
	const char *v = NULL;
	return natsMsgHeader_Get(m, name, &v) == NATS_OK ? v : NULL;
}

// take() of a fetched message, which becomes T.ops'. @return as take().
static int take_nats(natsMsg *m, uint64_t now)
{
	int len = natsMsg_GetDataLength(m);
	jsMsgMetaData *meta = NULL;
	uint64_t pos = natsMsg_GetMetaData(&meta, m) == NATS_OK ? meta->Sequence.Stream : 0;
	jsMsgMetaData_Destroy(meta);
	struct msg t = {
	    .subject = natsMsg_GetSubject(m),
	    .engine = header(m, "Cee-Engine"),
	    .run = header(m, "Cee-Run"),
	    .shard = header(m, "Cee-Shard"),
	    .first = header(m, "Cee-First-Sseq"),
	    .last = header(m, "Cee-Last-Sseq"),
	    .events = header(m, "Cee-Events"),
	    .format = header(m, "Cee-Format"),
	    .schema = header(m, "Cee-Schema"),
	    .data = natsMsg_GetData(m),
	    .len = len > 0 ? (size_t)len : 0,
	    .handle = m,
	    .pos = pos,
	};
	return take(&t, now);
}

// T.outstanding for the fetch loop: the consumer's NumAckPending (what the
// server delivered and holds unacknowledged, to deliver again after the ack
// wait) against what this reader holds unacknowledged. Asked at most every
// OUT_ASK_MS, with a short wait (a broker that does not answer: as before,
// the gaps' own times); a surplus waited for at most O.cap_ns (another
// reader on the same durable may hold them for good), then gaps are given
// up as before until the surplus is gone.
#define OUT_ASK_MS 500
#define OUT_ASK_WAIT_MS 2000
static struct {
	// the server's NumAckPending, -1 when it could not be asked
	// (ask_server(); tests/unit/test_tail.c puts its own here)
	int64_t (*ask)(void);
	jsCtx *js;
	const char *stream, *durable;
	jsOptions jo;
	uint64_t asked_ns, since_ns, cap_ns;
	bool last, capped, info_failed;
} O;

static int64_t ask_server(void)
{
	jsConsumerInfo *ci = NULL;
	jsErrCode jerr = 0;
	int64_t pending = -1;
	natsStatus s = js_GetConsumerInfo(&ci, O.js, O.stream, O.durable, &O.jo, &jerr);
	if (s == NATS_OK && ci != NULL)
		pending = ci->NumAckPending;
	else if (!O.info_failed) {
		fprintf(stderr, "%s: consumer info: %s (gaps wait their own time)\n", WHO,
			cee_nats_last_error(s));
		O.info_failed = true;
	}
	jsConsumerInfo_Destroy(ci);
	return pending;
}

// T.position for the fetch loop: the last stream sequence this consumer can
// be given now, from its info: the last delivered and the number matching
// its filter still to deliver (exact when the stream holds only its
// subjects; a lower bound otherwise). 0 when the server does not answer.
static uint64_t ask_position(void)
{
	jsConsumerInfo *ci = NULL;
	jsErrCode jerr = 0;
	uint64_t pos = 0;
	natsStatus s = js_GetConsumerInfo(&ci, O.js, O.stream, O.durable, &O.jo, &jerr);
	if (s == NATS_OK && ci != NULL)
		pos = ci->Delivered.Stream + ci->NumPending;
	jsConsumerInfo_Destroy(ci);
	return pos;
}

// How long without a message before the fetch loop asks whether its
// consumer is still there (consumer_gone()).
#define GONE_CHECK_NS (5 * 1000000000ull)

// The durable or its stream was deleted (said): nothing more will come to
// this reader, and what a stream made again holds is not its sequel.
static bool consumer_gone(void)
{
	jsConsumerInfo *ci = NULL;
	jsErrCode jerr = 0;
	natsStatus s = js_GetConsumerInfo(&ci, O.js, O.stream, O.durable, &O.jo, &jerr);
	jsConsumerInfo_Destroy(ci);
	if (s == NATS_OK || (jerr != JSConsumerNotFoundErr && jerr != JSStreamNotFoundErr))
		return false; /* there, or the server does not answer now */
	fprintf(stderr,
		"%s: consumer '%s' on stream '%s' is gone (%s): deleted, or its stream was; "
		"what was not read is lost to this reader\n",
		WHO, O.durable, O.stream, jerr == JSStreamNotFoundErr ? "no such stream" : "no such consumer");
	return true;
}

static bool deliveries_outstanding(uint64_t now)
{
	if (O.asked_ns != 0 && now - O.asked_ns < OUT_ASK_MS * 1000000ull)
		return O.last;
	// not asked for a while (nothing was due): a new episode, its own cap
	bool fresh = O.asked_ns == 0 || now - O.asked_ns > 2 * OUT_ASK_MS * 1000000ull;
	O.asked_ns = now;
	int64_t pending = O.ask();
	uint64_t ours = unacked();
	bool out = pending > 0 && (uint64_t)pending > ours;
	if (!out || fresh) {
		O.since_ns = 0;
		O.capped = false;
	}
	if (out && O.capped) {
		out = false;
	} else if (out && O.since_ns == 0) {
		O.since_ns = now;
		fprintf(stderr,
			"%s: the server holds %" PRId64 " deliveries unacknowledged, %" PRIu64
			" of them here: gaps wait for the rest (delivered again after the ack "
			"wait), at most %.1f s\n",
			WHO, pending, ours, (double)O.cap_ns / 1e9);
	} else if (out && now - O.since_ns >= O.cap_ns) {
		fprintf(stderr,
			"%s: %" PRIu64 " deliveries still unacknowledged elsewhere after %.1f s "
			"(another reader on this durable?): gaps are given up\n",
			WHO, (uint64_t)pending - ours, (double)(now - O.since_ns) / 1e9);
		O.capped = true;
		out = false;
	}
	O.last = out;
	return out;
}

// The exit status: 2 (out of memory, the consumer gone) stays 2 when a
// gap, a malformed batch or an output error (1) is found after it (a run
// that skipped a malformed batch and then lost its durable exited 1).
static int worse(int rc, int now)
{
	return now > rc ? now : rc;
}

int main(int argc, char **argv)
{
	enum { O_COUNT = 256, O_IDLE, O_FROM_START, O_REORDER, O_ACK_WAIT, O_HELP };
	static const struct option lo[] = {
	    {"count", required_argument, NULL, O_COUNT},
	    {"idle-exit", required_argument, NULL, O_IDLE},
	    {"from-start", no_argument, NULL, O_FROM_START},
	    {"reorder-wait", required_argument, NULL, O_REORDER},
	    {"ack-wait", required_argument, NULL, O_ACK_WAIT},
	    {"help", no_argument, NULL, O_HELP},
	    {NULL, 0, NULL, 0},
	};
	uint64_t count = 0, idle_ms = 0, reorder_ms = 10000, ack_wait_ms = 0;
	bool from_start = false;
	int c;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		bool ok = true;
		switch (c) {
		case O_COUNT:
			ok = parse_num(optarg, &count) && count > 0;
			break;
		case O_IDLE:
			// at most a year (in ns it must not wrap, nor turn negative)
			ok = parse_num(optarg, &idle_ms) && idle_ms > 0 &&
			     idle_ms <= UINT64_C(366) * 86400 * 1000;
			break;
		case O_REORDER:
			ok = parse_num(optarg, &reorder_ms) && reorder_ms <= REORDER_WAIT_MAX_MS;
			break;
		case O_ACK_WAIT:
			ok = parse_num(optarg, &ack_wait_ms) && ack_wait_ms > 0 &&
			     ack_wait_ms <= 4 * (uint64_t)REORDER_WAIT_MAX_MS;
			break;
		case O_FROM_START:
			from_start = true;
			break;
		case O_HELP:
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (!ok) {
			fprintf(stderr, "%s: bad value '%s'\n", WHO, optarg);
			return 2;
		}
	}
	if (optind != argc - 1 || strncmp(argv[optind], "nats:", 5) != 0) {
		usage(stderr);
		return 2;
	}
	// held batches are not acknowledged while they wait for a gap
	bool ack_wait_given = ack_wait_ms != 0;
	if (ack_wait_ms == 0)
		ack_wait_ms = 3 * reorder_ms + 30000;
	else if (ack_wait_ms <= reorder_ms) {
		fprintf(stderr, "%s: --ack-wait must be more than the reorder wait (%" PRIu64 " ms)\n",
			WHO, reorder_ms);
		return 2;
	}
	T.reorder_wait_ns = reorder_ms * 1000000u;
	T.out = stdout;
	T.ops = &nats_msg_ops;

	// SIGINT and SIGTERM go to this thread only: libnats' threads (made
	// from here on) inherit them blocked. A signal one of them took left
	// this thread's write into a stalled stdout blocked for ever.
	sigset_t stopsigs;
	sigemptyset(&stopsigs);
	sigaddset(&stopsigs, SIGINT);
	sigaddset(&stopsigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stopsigs, NULL);

	struct cee_nats_spec sp;
	struct consumer cs;
	if (cee_nats_spec_parse(argv[optind] + 5, &sp, WHO) < 0 || consumer_spec(&sp, &cs) < 0)
		return 2;
	const char *stream = cs.stream, *durable = cs.durable, *filter = cs.filter;
	natsOptions *opts = NULL;
	if (cee_nats_options(&sp, 2000, &opts, WHO) < 0 || cee_nats_spec_check_unused(&sp, WHO) < 0)
		return 2;
	natsOptions_SetMaxReconnect(opts, -1);
	natsOptions_SetReconnectWait(opts, 200);
	natsOptions_SetReconnectedCB(opts, on_reconnected, NULL);
	natsOptions_SetErrorHandler(opts, on_async_error, NULL);
	natsConnection *nc = NULL;
	if (cee_nats_connect(opts, &sp, &nc, 2000, WHO) < 0)
		return 2;
	jsCtx *js = NULL;
	// JetStream API calls wait up to 30 s (libnats' default is 5): creating
	// a consumer on an R3 stream that just lost a node took 5-8 s here.
	jsOptions jo;
	jsOptions_Init(&jo);
	jo.Wait = 30000;
	natsStatus s = natsConnection_JetStream(&js, nc, &jo);
	natsSubscription *sub = NULL;
	jsErrCode jerr = 0;
	if (s == NATS_OK) {
		jsSubOptions so;
		jsSubOptions_Init(&so);
		so.Stream = stream;
		so.Config.Durable = durable;
		so.Config.AckPolicy = js_AckExplicit;
		so.Config.DeliverPolicy = from_start ? js_DeliverAll : js_DeliverNew;
		so.Config.AckWait = (int64_t)ack_wait_ms * 1000000;
		// --from-start is for a new consumer: one that exists resumes where
		// it stopped, whatever it was made with (libnats refuses a
		// subscription whose deliver policy differs from the consumer's),
		// and keeps its ack wait unless --ack-wait asks for another
		jsConsumerInfo *ci = NULL;
		if (js_GetConsumerInfo(&ci, js, stream, durable, NULL, NULL) == NATS_OK &&
		    ci != NULL && ci->Config != NULL) {
			if (ci->Config->DeliverPolicy != so.Config.DeliverPolicy)
				fprintf(stderr,
					"%s: consumer '%s' exists: it resumes where it stopped "
					"(--from-start is for a new consumer)\n",
					WHO, durable);
			so.Config.DeliverPolicy = ci->Config->DeliverPolicy;
			uint64_t aw = ci->Config->AckWait > 0 ? (uint64_t)ci->Config->AckWait / 1000000 : 0;
			if (!ack_wait_given && aw > reorder_ms && aw != ack_wait_ms) {
				fprintf(stderr, "%s: consumer '%s' exists: its ack wait, %" PRIu64 " ms\n",
					WHO, durable, aw);
				ack_wait_ms = aw;
				so.Config.AckWait = ci->Config->AckWait;
			}
		}
		jsConsumerInfo_Destroy(ci);
		so.Config.FilterSubject = filter;
		so.Config.MaxAckPending = MAX_ACK_PENDING;
		s = js_PullSubscribe(&sub, js, filter, durable, NULL, &so, &jerr);
	}
	if (s != NATS_OK) {
		const char *t = cee_nats_last_error(s);
		fprintf(stderr, "%s: consumer '%s' on stream '%s' (%s): %s\n", WHO, durable, stream,
			filter, t);
		jsCtx_Destroy(js);
		natsConnection_Destroy(nc);
		natsOptions_Destroy(opts);
		return 2;
	}
	// without SA_RESTART (signal() sets it): a write into a full stdout
	// pipe returns EINTR and the loop sees the stop (before, SIGTERM could
	// not end a reader whose own reader had stalled)
	out_flags = fcntl(STDOUT_FILENO, F_GETFL);
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	pthread_sigmask(SIG_UNBLOCK, &stopsigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	static char outbuf[OUT_BUF];
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	T.out_cap = sizeof(outbuf);

	int rc = 0;
	uint64_t last_msg = cee_nats_now_ns(), loss_seen = 0;
	// Fetch size: FETCH_MAX_BYTES (or 4 max_payload), halved at each loss
	// down to a floor where a message of max_payload still fits with its
	// subject, reply and headers (the server counts them: a request below
	// that gets "Message Size Exceeds MaxBytes" for ever), and doubled back
	// after each clean hold (hold_ns below).
	int64_t max_payload = natsConnection_GetMaxPayload(nc);
	int64_t fetch_max = FETCH_MAX_BYTES, fetch_floor = max_payload + 65536;
	if (4 * max_payload > fetch_max)
		fetch_max = 4 * max_payload;
	int64_t fetch_bytes = fetch_max;
	uint64_t fetch_errors = 0;
	// 2 ack waits (below), and time for the redelivery to be fetched and
	// read: 1 s was too little once on a loaded 2-CPU machine under ASan (a
	// gap given up whose messages came after it), so half an ack wait
	uint64_t slack_ms = ack_wait_ms / 2 > 1000 ? ack_wait_ms / 2 : 1000;
	uint64_t hold_ns = (2 * ack_wait_ms + slack_ms) * 1000000u, series_start = 0, grown_at = 0;
	O.ask = ask_server;
	O.js = js;
	O.stream = stream;
	O.durable = durable;
	jsOptions_Init(&O.jo);
	// (a broker that does not answer holds the fetch loop this long for each
	// question while something is due: a quarter of the ack wait at most)
	O.jo.Wait = ack_wait_ms / 4 < OUT_ASK_WAIT_MS ? (int64_t)ack_wait_ms / 4 : OUT_ASK_WAIT_MS;
	if (O.jo.Wait < 100)
		O.jo.Wait = 100;
	O.cap_ns = hold_ns;
	T.outstanding = deliveries_outstanding;
	T.position = ask_position;
	T.pos_cap_ns = hold_ns;
	uint64_t checked_ns = cee_nats_now_ns();
	while (!stop && !T.out_err && !T.oom && !(count && T.events >= count)) {
		natsMsgList list = {0};
		int64_t wait = FETCH_WAIT_MS;
		if (idle_ms && (int64_t)idle_ms < wait)
			wait = (int64_t)idle_ms;
		// a new request each time: libnats writes into the one it is given
		// (Batch shrinks by messages left over from an earlier request)
		jsFetchRequest fr;
		jsFetchRequest_Init(&fr);
		fr.Batch = FETCH_BATCH;
		fr.MaxBytes = fetch_bytes;
		fr.Expires = wait * 1000000;
		s = natsSubscription_FetchRequest(&list, sub, &fr);
		uint64_t now = cee_nats_now_ns();
		uint64_t loss = atomic_load(&wire_loss_ns);
		if (loss != loss_seen) {
			loss_seen = loss;
			// what went with this connection comes back within 2 ack
			// waits (it expires within one; the server looks once per
			// ack wait). Losses in a row extend the wait, but not past 3
			// times that from the first of them: gaps are reported then.
			if (loss >= T.hold_until_ns)
				series_start = loss;
			T.hold_until_ns = loss + hold_ns;
			if (T.hold_until_ns > series_start + 3 * hold_ns)
				T.hold_until_ns = series_start + 3 * hold_ns;
			// a server that dropped us as a slow reader may allow less in
			// its buffer than we asked for
			fetch_bytes = fetch_bytes / 2 > fetch_floor ? fetch_bytes / 2 : fetch_floor;
			grown_at = now;
			fprintf(stderr,
				"%s: deliveries may have been lost (connection made again, or "
				"messages dropped); gaps wait until %.1f s from now for them; "
				"fetches now ask for at most %" PRId64 " KiB\n",
				WHO,
				T.hold_until_ns > now ? (double)(T.hold_until_ns - now) / 1e9 : 0.0,
				fetch_bytes >> 10);
		} else if (fetch_bytes < fetch_max && now - grown_at >= hold_ns) {
			fetch_bytes = 2 * fetch_bytes < fetch_max ? 2 * fetch_bytes : fetch_max;
			grown_at = now;
		}
		if (s == NATS_OK) {
			last_msg = now;
			for (int i = 0; i < list.Count; i++) {
				if (take_nats(list.Msgs[i], now) < 0) {
					fprintf(stderr, "%s: out of memory\n", WHO);
					exit(2);
				}
				list.Msgs[i] = NULL; // ours now
			}
		} else if (s != NATS_TIMEOUT) {
			if (fetch_errors++ < 10 || fetch_errors % 100 == 0)
				fprintf(stderr, "%s: fetch: %s\n", WHO, natsStatus_GetText(s));
			usleep(100000);
		}
		// Nothing for a while: is the consumer still there? Deleted (or
		// its stream, which the sink creates again), fetches time out or
		// fail for ever, and --idle-exit ended the read with exit 0 as if
		// the stream had been read whole.
		if (s != NATS_OK && now - last_msg >= GONE_CHECK_NS && now - checked_ns >= GONE_CHECK_NS) {
			checked_ns = now;
			if (consumer_gone()) {
				rc = worse(rc, 2);
				break;
			}
		}
		natsMsgList_Destroy(&list);
		// what is settled is acknowledged before the server is asked about
		// the rest (a question can wait for the server)
		if (flush_and_ack() < 0)
			rc = worse(rc, 1);
		wait_positions();
		bool idle = idle_ms && now - last_msg >= idle_ms * 1000000u &&
			    now >= T.hold_until_ns && !(due(now, true) && deliveries_outstanding(now));
		timers(now, idle);
		if (flush_and_ack() < 0)
			rc = worse(rc, 1);
		if (idle) {
			if (consumer_gone()) // (not "read whole")
				rc = worse(rc, 2);
			break;
		}
	}
	if (T.oom) {
		fprintf(stderr, "%s: out of memory\n", WHO);
		rc = worse(rc, 2);
	}
	timers(cee_nats_now_ns(), false);
	if (!T.out_err) {
		close_groups();
		if (flush_and_ack() < 0)
			rc = worse(rc, 1);
	}
	if (T.out_err) {
		// what stdio still holds goes nowhere (not acknowledged: the
		// broker delivers it again); exit() must not block flushing it
		__fpurge(stdout);
		rc = worse(rc, 1);
	}
	if (out_flags >= 0)
		(void)fcntl(STDOUT_FILENO, F_SETFL, out_flags);
	uint64_t left = release();
	// the acks: one lost here has its batch delivered (and written) again
	// to the next reader on this durable
	natsStatus fs = natsConnection_FlushTimeout(nc, 2000);
	if (fs != NATS_OK)
		fprintf(stderr,
			"%s: the last acknowledgements may not have reached the server (%s): "
			"the next reader may write their batches again\n",
			WHO, natsStatus_GetText(fs));
	fprintf(stderr,
		"%s: %" PRIu64 " messages, %" PRIu64 " events, %" PRIu64
		" duplicates skipped, %" PRIu64 " reordered, %" PRIu64 " gaps, %" PRIu64
		" late, %" PRIu64 " foreign, %" PRIu64 " malformed, %" PRIu64 " overlapping, %" PRIu64
		" left waiting\n",
		WHO, T.messages, T.events, T.duplicates, T.reordered, T.gaps, T.late, T.foreign,
		T.bad, T.overlaps, left);
	if (T.gaps || T.late || T.bad)
		rc = worse(rc, 1);
	natsSubscription_Destroy(sub);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	natsOptions_Destroy(opts);
	return rc;
}
