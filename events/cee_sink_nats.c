/* SPDX-License-Identifier: BSD-3-Clause */
// NATS JetStream sink: "nats://HOST:PORT/PREFIX[?options]" (cee_sink_nats.h).
//
// ---- Message format ---------------------------------------------------------
//
// One JetStream message per sealed batch: a run of one shard's consecutive
// records (lifecycle events and extension records, in sseq order).
//
//   Subject   PREFIX.<engine>.<shard>.events     e.g. "cee.edge-1.0.events"
//   Headers
//     Nats-Msg-Id     <engine>.<shard>.<first_sseq>-<last_sseq>.<run>:
//                     JetStream's de-duplication id. A resend is the same
//                     sealed message with the same id, so within the stream's
//                     duplicate window (dedup_window_s) the stream stores it
//                     once. <run> keeps an engine restarted with the same id
//                     (its sseq starting at 1 again) from being taken for
//                     resends of its last run; <last_sseq>, two sinks of one
//                     engine on one stream that batch at other bounds (a
//                     batch of one was dropped as a copy of the other's
//                     shorter one from the same sseq, and counted delivered).
//     Cee-Engine      the engine id, cee_evt_json_engine(); when the engine has
//                     none, the run id
//     Cee-Run         "r" and 12 random hex digits, one per engine run: the
//                     engine's (cee_evt_json_run(), the "run" of its lines),
//                     only when it was given its id; or, when the engine has
//                     no id, chosen when the sink opens and also its
//                     Cee-Engine (Cee-Engine == Cee-Run: no engine id). An
//                     engine with a random id (one per run already) sends
//                     none, as its lines carry no "run": cee-tail converts
//                     binary batches to exactly the lines jsonl would carry.
//     Cee-Shard       the shard, decimal
//     Cee-First-Sseq  sseq of the first record of the body, decimal
//     Cee-Last-Sseq   sseq of the last record; the body holds every record of
//                     the shard's stream in [first, last], extension records
//                     included, and nothing else
//     Cee-Events      lifecycle events in the body (extension records not counted)
//     Cee-Format      "jsonl" or "binary"
//     Cee-Schema      CEE_EVT_SCHEMA_VERSION of the records
//   Body
//     jsonl   JSON Lines exactly as the jsonl sink writes them
//             (cee_jsonl_enc_put()): one line per lifecycle event with its
//             extension group merged into it ("xseq" = the group's first
//             sseq), each line ending in '\n'; "engine" in every line when the
//             engine has an id, and "run" when it was given one.
//     binary  (last - first + 1) records of 64 bytes (struct cee_event and
//             struct cee_event_ext, cee_event.h) in the engine's byte order
//             (little-endian on x86-64 and arm64), no file header.
//   A batch does not end inside an extension group, so a group and its event
//   travel in one message. (Exception: a group never followed by its event,
//   a producer bug, is sealed anyway linger_ms + 100 ms later; in jsonl its
//   "ext" line then comes in the shard's next message.)
//
// Successive messages of a shard follow each other: the next one's
// Cee-First-Sseq is this one's Cee-Last-Sseq + 1. A resent message may land in
// the stream after later messages of its shard, and a resend outside the
// duplicate window is stored twice: consumers order each (engine, shard) by
// Cee-First-Sseq and skip a message whose first sseq is below the next one
// they expect (cee-tail does both).
//
// Why one subject per shard and not one per event type: a batch holds a
// shard's *consecutive* records of all types, so each connection's lifecycle
// (open ... destroyed) stays in order within a message and across the shard's
// messages, and (shard, sseq) stays gapless for a consumer to check. A subject
// per type would split one lifecycle over several messages whose order in the
// stream is not event order, and a consumer could no longer tell a gap from a
// message of another subject not read yet.
//
// ---- How it works ----------------------------------------------------------
//
// Two threads of ours, and libnats' own.
//
// The control thread (write, flush, reopen, close) encodes records into each
// shard's open batch and seals it (an immutable natsMsg with its headers)
// when it reaches batch_bytes or is older than linger_ms. A sealed batch takes
// one of `window` slots and waits in the send queue. The control thread never
// calls into the connection: no socket write, no lock of libnats'.
//
// The publisher thread (one per sink, "cee-nats") owns the connection and
// the JetStream context after open. It publishes what waits, with
// js_PublishMsgAsync, at most `window` unacknowledged; takes the outcomes
// libnats' on_ack() queued (an ack frees the slot, a failure puts the same
// message back to be sent again after a backoff, 100 ms doubling to 2 s);
// when the connection drops, takes back what is in flight at once, to go out
// again first when it is back (the stream drops copies it stored); looks for
// a stream that a refusal says may be gone; and makes a new connection when
// libnats closed its own (an authorisation refused twice: libnats otherwise
// reconnects for ever by itself). Nothing is ever resent from on_ack(): a
// publish from libnats' callback thread would wait for that thread to count
// the window down (StallWait).
//
// Why a thread of its own: libnats writes a publish to its socket on the
// calling thread, under its connection's lock, which it also holds through
// reconnection attempts; a broker that stalls (SIGSTOP, a full socket
// buffer) holds such a call up to WRITE_DEADLINE_MS. On the control thread
// that stopped every other sink and the control plane with it (seen: 507 ms).
// The publisher may block; the control thread only waits for `mu`, which
// nobody holds across a libnats call.
//
// Shared state (slots, send queue, outcome queue, acknowledged events, the
// publisher's counters) is under `mu`; `cv` wakes the publisher (a batch
// sealed, an outcome queued, the connection changed, stop). When every slot is
// used and a shard's open batch is full, write() takes nothing: the shard's
// ring holds the rest, and admission stops when it fills.
//
// Ownership of a sealed message: ours while it waits to be sent, libnats'
// from a successful js_PublishMsgAsync until on_ack() hands it back (we
// destroy it; libnats does not), or until js_PublishAsyncGetPendingList()
// takes it back (connection dropped, reopen, close).
//
// Memory: window × (batch_bytes + room for one line) in sealed messages plus
// one open batch per shard seen.
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <nats/nats.h>

#include "cee_nats_common.h"
#include "cee_sink.h"
#include "cee_sink_nats.h"

#define WHO "cee: nats sink"
#define DEFAULT_STREAM "CEE"
#define DEFAULT_BATCH_BYTES (256u * 1024)
#define DEFAULT_LINGER_MS 5
#define DEFAULT_WINDOW 64
#define DEFAULT_ACK_WAIT_MS 2000
#define DEFAULT_DEDUP_S 120
#define WINDOW_MAX 1024
#define OPEN_CONNECT_MS 2000 // open: a server that does not answer in this long fails it
// One connection attempt, at open and libnats' own reconnections. libnats
// holds its connection's lock through an attempt, and a publish on our
// thread waits for that lock: this bounds how long.
#define CONNECT_TIMEOUT_MS 500
#define RECONNECT_WAIT_MS 200
#define WRITE_DEADLINE_MS 500 // a socket write libnats does on our thread (or under its lock)
#define PING_INTERVAL_MS 2000 // a dead broker is noticed in about 3 pings
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
#define FORCE_SEAL_NS (100 * 1000000ull) // a batch ending in an unfinished group
#define CLOSE_WAIT_MS 1000
#define CLOSE_GRACE_MS 100 // past the engine's shutdown timeout (cee_sink.close_by_ns)
#define HEADER_ROOM 512 // "NATS/1.0" and our headers, counted in max_payload
#define REC 64		// sizeof(struct cee_event)

_Static_assert(sizeof(struct cee_event) == REC, "64-byte records");

enum fmt { FMT_JSONL, FMT_BINARY };
enum conn_state { CONN_UP, CONN_DOWN, CONN_CLOSED };
static const char *const fmt_names[] = {"jsonl", "binary"};

// One shard's open batch. Control thread only.
struct open_batch {
	char subject[256];
	char *buf; // cap bytes
	size_t len;
	uint32_t records;
	uint32_t events;
	uint64_t first; // sseq of the first record (records > 0)
	uint64_t last;	// sseq of the last record
	uint64_t t0_ns; // when the first record came in
	uint64_t group_ns; // when the extension group it ends in began (last_ext)
	bool last_ext;	// the last record is an extension record: do not seal here
};

// A window slot: a sealed batch, named for what it waits on.
enum slot_state {
	SLOT_FREE,
	SLOT_WAIT_SEND, // in sendq: a window place, the connection, the backoff
	SLOT_SENDING,	// the publisher is handing it to libnats (mu released)
	SLOT_WAIT_ACK,	// published: libnats owns msg until on_ack() returns it
};

struct slot {
	natsMsg *msg;
	enum slot_state state;
	uint64_t seq; // seal order: resends go before later batches
	unsigned shard;
	uint32_t events;
	uint32_t bytes;
	uint32_t sends;
};

// One publish outcome, from on_ack() (libnats thread) to the publisher.
struct outcome {
	natsMsg *msg;
	natsStatus status; // NATS_OK: stored
	jsErrCode code;
	bool duplicate;
};

struct nats_sink {
	struct cee_sink *sink;
	/* settings */
	struct cee_nats_spec spec;
	char engine[CEE_ENGINE_ID_MAX + 1];
	char run[CEE_RUN_ID_MAX + 1];
	bool run_hdr; // Cee-Run sent: the lines carry "run" (or no engine id)
	char stream[65];
	char name[sizeof(((struct cee_nats_spec *)0)->urls) + 256]; // "nats://HOST:PORT[,...]/PREFIX stream NAME": messages (no credentials)
	enum fmt fmt;
	size_t batch_bytes;
	size_t cap;  // open batch buffer size
	size_t room; // free bytes one record may need
	uint64_t linger_ns;
	uint64_t resumed_ns; // when nats_reopen() last found the connection back
	uint32_t window;
	int64_t ack_wait_ms;
	uint64_t replicas, dedup_s, max_age_s; // the stream's, when the sink creates it
	/* a publish found no stream: is it gone? (publisher) */
	bool stream_check;
	uint64_t stream_check_at_ns; // not before (one look per second at most)
	uint64_t stream_gone_ns;     // a look found it gone then (0: not gone)
	/* libnats objects: the opening thread's until the publisher starts, then
	 * the publisher's; close() takes them back after joining it */
	natsOptions *opts;
	natsConnection *nc;
	jsCtx *js;
	jsOptions jso;
	jsPubOptions pubo;
	bool js_used;		 // js has published: js_PublishAsyncGetPendingList() may be called
	uint64_t reopen_at_ns;	 // publisher: next attempt at a new connection
	uint32_t reopen_ms;	 // publisher: its backoff, 1 s doubling to 5 s
	uint64_t pause_until_ns; // publisher: no publish before (backoff)
	uint32_t backoff_ms;	 // publisher: 0: no failure since the last ack
	/* publisher: what to log once mu is released (stderr may block) */
	const char *say_failed; // a backoff started: what failed ...
	natsStatus say_why;	// ... and why
	jsErrCode say_code;	// ... and the stream's answer (0: none)
	bool say_again;		// acknowledged again after failures
	/* records (control thread) */
	struct cee_jsonl_enc *enc;
	struct open_batch *open[CEE_MAX_SHARDS];
	uint16_t seen[CEE_MAX_SHARDS]; // shards with an open batch, in order of arrival
	unsigned nseen;
	uint64_t seal_seq;
	struct cee_sink_nats_stats cst; // control thread's counters (sealing, call times)
	/* shared: under mu (the control thread, the publisher, on_ack()) */
	pthread_mutex_t mu;
	pthread_cond_t cv; // the publisher waits on it: work, or stop
	pthread_t pub;
	bool pub_started; // opening thread, then close()
	bool stop;
	struct slot *slots;   // [window]
	uint32_t *idx;	      // [imask + 1]: published slots by message pointer (take_inflight())
	uint32_t imask;
	uint32_t *free_slots; // stack: the control thread takes, the publisher gives back
	uint32_t nfree;
	uint32_t *sendq; // slots waiting to be sent, by seq
	uint32_t nsend;
	uint32_t inflight;	   // published (or being), outcome not taken yet
	uint64_t acked_events;	   // acknowledged, not yet taken off sink->held by the control thread
	struct cee_sink_nats_stats st; // the publisher's counters
	struct outcome *q;	   // [qcap]: on_ack() -> publisher
	uint32_t qcap, qhead, qlen;
	uint64_t q_overflow; // an outcome that found the ring full (a bug: never expected)
	uint64_t q_lost;     // publisher: of those, not yet logged
	/*
	 * The connection's state as its callbacks (libnats threads) tell it,
	 * read by the control thread and the publisher: asking libnats
	 * (natsConnection_Status) takes the connection's lock, which libnats
	 * holds through a whole reconnection attempt.
	 */
	_Atomic(natsConnection *)
	    conn_cur;	       // the connecting thread writes; callbacks of others are old news
	atomic_int conn_state; // enum conn_state; written by sink_connect() and the callbacks
	atomic_uint_fast64_t disconnects, reconnects;
	atomic_uint closed_cbs; // connections whose closed callback ran (the last call with p)
	atomic_bool closing;	// close(): a disconnect is ours, not news
	unsigned conns;		// connections made (opening thread, publisher, then close())
};

static const struct cee_sink_ops nats_ops;

/* ---- libnats threads ---- */

static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
	(void)js;
	struct nats_sink *p = closure;
	struct outcome o = {
	    .msg = msg,
	    .status = pae != NULL ? (pae->Err != NATS_OK ? pae->Err : NATS_ERR) : NATS_OK,
	    .code = pae != NULL ? pae->ErrCode : 0,
	    .duplicate = pa != NULL && pa->Duplicate,
	};
	// The message stays alive: the publisher finds its slot by the
	// pointer, then destroys it or sends it again.
	pthread_mutex_lock(&p->mu);
	if (p->qlen < p->qcap) {
		p->q[(p->qhead + p->qlen) % p->qcap] = o;
		p->qlen++;
	} else {
		p->q_overflow++;
	}
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

static void wake(struct nats_sink *p)
{
	pthread_mutex_lock(&p->mu);
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

// (p->spec is not written after open; the sink's spec string may still be.)
static bool current(struct nats_sink *p, natsConnection *nc)
{
	return atomic_load_explicit(&p->conn_cur, memory_order_acquire) == nc;
}

static void on_disconnected(natsConnection *nc, void *closure)
{
	struct nats_sink *p = closure;
	if (current(p, nc))
		atomic_store_explicit(&p->conn_state, CONN_DOWN, memory_order_relaxed);
	atomic_fetch_add_explicit(&p->disconnects, 1, memory_order_relaxed);
	wake(p); // take back what is in flight
	if (!atomic_load_explicit(&p->closing, memory_order_relaxed))
		fprintf(stderr, "%s: disconnected from %s; reconnecting\n", WHO, p->spec.urls);
}

static void on_reconnected(natsConnection *nc, void *closure)
{
	struct nats_sink *p = closure;
	if (current(p, nc))
		atomic_store_explicit(&p->conn_state, CONN_UP, memory_order_relaxed);
	atomic_fetch_add_explicit(&p->reconnects, 1, memory_order_relaxed);
	wake(p); // send what waits
	// The server it reached: in a cluster, another one than the spec's.
	char url[sizeof(p->spec.url)];
	if (natsConnection_GetConnectedUrl(nc, url, sizeof(url)) != NATS_OK)
		memcpy(url, p->spec.url, sizeof(url));
	fprintf(stderr, "%s: reconnected to %s\n", WHO, url);
}

// libnats' last callback for a connection: after it, p may be freed.
static void on_closed(natsConnection *nc, void *closure)
{
	struct nats_sink *p = closure;
	if (current(p, nc))
		atomic_store_explicit(&p->conn_state, CONN_CLOSED, memory_order_relaxed);
	wake(p); // a new connection
	atomic_fetch_add_explicit(&p->closed_cbs, 1, memory_order_release);
}

/* ---- sealed batches ---- */

// (mu held)
static void sendq_insert(struct nats_sink *p, uint32_t k)
{
	// by seal order: a resend goes before batches sealed after it
	uint32_t i = p->nsend;
	while (i > 0 && p->slots[p->sendq[i - 1]].seq > p->slots[k].seq)
		i--;
	memmove(&p->sendq[i + 1], &p->sendq[i], (p->nsend - i) * sizeof(*p->sendq));
	p->sendq[i] = k;
	p->nsend++;
	p->slots[k].state = SLOT_WAIT_SEND;
}

// (mu held)
static void slot_free(struct nats_sink *p, uint32_t k)
{
	struct slot *b = &p->slots[k];
	natsMsg_Destroy(b->msg);
	b->msg = NULL;
	b->state = SLOT_FREE;
	p->free_slots[p->nfree++] = k;
}

// (mu held)
static uint32_t nsealed(const struct nats_sink *p)
{
	return p->window - p->nfree;
}

// (publisher)
static bool backoff_start(struct nats_sink *p, uint64_t now, natsStatus why, jsErrCode code,
			  const char *what)
{
	// Failures of one round (all the window timing out together) count once.
	if (now < p->pause_until_ns)
		return false;
	bool first = p->backoff_ms == 0;
	p->backoff_ms =
	    first ? BACKOFF_MIN_MS
		  : (p->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : p->backoff_ms * 2);
	p->pause_until_ns = now + (uint64_t)p->backoff_ms * 1000000u;
	if (first) {
		p->say_failed = what;
		p->say_why = why;
		p->say_code = code;
	}
	return true;
}

static int set_hdr_u64(natsMsg *m, const char *key, uint64_t v)
{
	char b[24];
	snprintf(b, sizeof(b), "%" PRIu64, v);
	return natsMsgHeader_Set(m, key, b) == NATS_OK ? 0 : -ENOMEM;
}

// Seal @p ob (shard @p shard) into a free slot and wake the publisher.
// Control thread. @return 0, -ENOSPC (every slot used), -ENOMEM.
static int seal(struct nats_sink *p, struct open_batch *ob, unsigned shard, bool by_age)
{
	// Only this thread takes free slots: one seen here stays free.
	pthread_mutex_lock(&p->mu);
	uint32_t nfree = p->nfree;
	pthread_mutex_unlock(&p->mu);
	if (nfree == 0)
		return -ENOSPC;
	natsMsg *m = NULL;
	char id[CEE_ENGINE_ID_MAX + 96];
	snprintf(id, sizeof(id), "%s.%u.%" PRIu64 "-%" PRIu64 ".%s", p->engine, shard, ob->first,
		 ob->last, p->run);
	natsStatus s = natsMsg_Create(&m, ob->subject, NULL, ob->buf, (int)ob->len);
	int rc = s == NATS_OK ? 0 : -ENOMEM;
	if (rc == 0 && (natsMsgHeader_Set(m, "Nats-Msg-Id", id) != NATS_OK ||
			natsMsgHeader_Set(m, "Cee-Engine", p->engine) != NATS_OK ||
			(p->run_hdr && natsMsgHeader_Set(m, "Cee-Run", p->run) != NATS_OK)))
		rc = -ENOMEM;
	if (rc == 0)
		rc = set_hdr_u64(m, "Cee-Shard", shard);
	if (rc == 0)
		rc = set_hdr_u64(m, "Cee-First-Sseq", ob->first);
	if (rc == 0)
		rc = set_hdr_u64(m, "Cee-Last-Sseq", ob->last);
	if (rc == 0)
		rc = set_hdr_u64(m, "Cee-Events", ob->events);
	if (rc == 0 && natsMsgHeader_Set(m, "Cee-Format", fmt_names[p->fmt]) != NATS_OK)
		rc = -ENOMEM;
	if (rc == 0)
		rc = set_hdr_u64(m, "Cee-Schema", CEE_EVT_SCHEMA_VERSION);
	if (rc < 0) {
		natsMsg_Destroy(m);
		return rc;
	}
	pthread_mutex_lock(&p->mu);
	uint32_t k = p->free_slots[--p->nfree];
	struct slot *b = &p->slots[k];
	*b = (struct slot){
	    .msg = m,
	    .seq = ++p->seal_seq,
	    .shard = shard,
	    .events = ob->events,
	    .bytes = (uint32_t)ob->len,
	};
	sendq_insert(p, k);
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	if (by_age)
		p->cst.sealed_age++;
	else
		p->cst.sealed_size++;
	ob->len = 0;
	ob->records = 0;
	ob->events = 0;
	ob->last_ext = false;
	return 0;
}

static bool conn_up(const struct nats_sink *p)
{
	return atomic_load_explicit(&p->conn_state, memory_order_relaxed) == CONN_UP;
}

// Published messages by pointer (what on_ack() and the pending list give
// back): an open-addressing table of slot + 1, linear probing, at most half
// full. A linear search of the window, under mu, was a million comparisons
// for a full window of acks at window=1024. (mu held, all three.)
static uint32_t idx_home(const struct nats_sink *p, const natsMsg *m)
{
	return (uint32_t)(((uintptr_t)m >> 4) * UINT64_C(0x9e3779b97f4a7c15) >> 32) & p->imask;
}

static void idx_put(struct nats_sink *p, uint32_t k)
{
	uint32_t i = idx_home(p, p->slots[k].msg);
	while (p->idx[i] != 0)
		i = (i + 1) & p->imask;
	p->idx[i] = k + 1;
}

// The slot of published message @p m, taken out of the table; -1: none.
static int take_inflight(struct nats_sink *p, const natsMsg *m)
{
	uint32_t i = idx_home(p, m);
	for (;; i = (i + 1) & p->imask) {
		uint32_t e = p->idx[i];
		if (e == 0)
			return -1;
		if (p->slots[e - 1].msg == m && p->slots[e - 1].state == SLOT_WAIT_ACK)
			break;
	}
	int k = (int)p->idx[i] - 1;
	// Backward-shift deletion: move up each later entry of the run that
	// may no longer be reached past the hole.
	for (uint32_t j = (i + 1) & p->imask; p->idx[j] != 0; j = (j + 1) & p->imask) {
		uint32_t h = idx_home(p, p->slots[p->idx[j] - 1].msg);
		// j's home outside the cyclic range (i, j]: it may move to i
		if (((j - h) & p->imask) >= ((j - i) & p->imask)) {
			p->idx[i] = p->idx[j];
			i = j;
		}
	}
	p->idx[i] = 0;
	return k;
}

// Send waiting batches while the window, the connection and the backoff
// allow. Publisher, mu held; released around each libnats call.
static void pump(struct nats_sink *p, uint64_t now)
{
	while (p->nsend > 0 && p->inflight < p->window && now >= p->pause_until_ns &&
	       conn_up(p) && !p->stop) {
		uint32_t k = p->sendq[0];
		struct slot *b = &p->slots[k];
		p->nsend--;
		memmove(&p->sendq[0], &p->sendq[1], p->nsend * sizeof(*p->sendq));
		b->state = SLOT_SENDING;
		p->inflight++;
		// libnats clears the pointer it is given when it takes the
		// message: give it a copy, the slot keeps the message's identity.
		// (Its outcome, if on_ack() runs before we look again, waits in
		// the queue for this thread.)
		natsMsg *m = b->msg;
		pthread_mutex_unlock(&p->mu);
		natsStatus s = js_PublishMsgAsync(p->js, &m, &p->pubo);
		// (only once a publish went: libnats frees the pending table a
		// first publish failed in, and its pending list then reads NULL)
		if (s == NATS_OK)
			p->js_used = true;
		pthread_mutex_lock(&p->mu);
		if (s != NATS_OK) {
			p->inflight--;
			sendq_insert(p, k);
			p->st.fail_publish++;
			backoff_start(p, now, s, 0, "publish");
			return;
		}
		b->state = SLOT_WAIT_ACK;
		idx_put(p, k);
		if (b->sends++ > 0)
			p->st.republished++;
		p->st.published++;
	}
}

static void count_failure(struct nats_sink *p, const struct outcome *o)
{
	if (o->status == NATS_TIMEOUT)
		p->st.fail_timeout++;
	else if (o->status == NATS_NO_RESPONDERS)
		p->st.fail_no_responders++;
	else if (o->status == NATS_ERR && o->code != 0)
		p->st.fail_api++; // the stream's answer: jsErrCode in o->code
	else
		p->st.fail_other++;
}

// Take the outcomes on_ack() queued. Publisher (close(): the control thread,
// once the publisher is gone); mu held.
static void take_outcomes(struct nats_sink *p, uint64_t now)
{
	if (p->q_overflow > 0) { // cannot happen: at most `window` outcomes are ever due
		p->st.fail_other += p->q_overflow;
		p->q_lost += p->q_overflow;
		p->q_overflow = 0;
	}
	for (; p->qlen > 0; p->qhead = (p->qhead + 1) % p->qcap, p->qlen--) {
		const struct outcome *o = &p->q[p->qhead];
		int k = take_inflight(p, o->msg);
		if (k < 0) { // not ours to touch: cannot happen
			p->st.fail_other++;
			continue;
		}
		struct slot *b = &p->slots[k];
		p->inflight--;
		if (o->status == NATS_OK) {
			p->st.acked++;
			p->st.acked_duplicate += o->duplicate;
			p->st.bytes += b->bytes;
			p->st.events += b->events;
			p->acked_events += b->events;
			slot_free(p, (uint32_t)k);
			if (p->backoff_ms != 0) {
				p->say_again = true;
				p->backoff_ms = 0;
			}
			continue;
		}
		count_failure(p, o);
		if (o->status == NATS_NO_RESPONDERS)
			p->stream_check = true; // a fail-over, or the stream is gone
		sendq_insert(p, (uint32_t)k);
		backoff_start(p, now, o->status, o->code,
			      o->status == NATS_TIMEOUT ? "no acknowledgement" : "publish refused");
	}
}

// Events acknowledged since the last look come off sink->held. Control
// thread. @return the sealed batches, seen under the same lock: idle is
// nothing sealed and every ack counted, seen together.
static uint32_t take_acked(struct nats_sink *p)
{
	pthread_mutex_lock(&p->mu);
	uint64_t n = p->acked_events;
	p->acked_events = 0;
	uint32_t sealed = nsealed(p);
	pthread_mutex_unlock(&p->mu);
	p->sink->held -= n;
	return sealed;
}

/* ---- open batches ---- */

static struct open_batch *open_get(struct nats_sink *p, unsigned shard)
{
	struct open_batch *ob = p->open[shard];
	if (ob != NULL)
		return ob;
	ob = calloc(1, sizeof(*ob));
	if (ob == NULL)
		return NULL;
	ob->buf = malloc(p->cap);
	if (ob->buf == NULL) {
		free(ob);
		return NULL;
	}
	snprintf(ob->subject, sizeof(ob->subject), "%s.%s.%u.events", p->spec.prefix, p->engine,
		 shard);
	p->open[shard] = ob;
	p->seen[p->nseen++] = (uint16_t)shard;
	return ob;
}

// Has @p ob reached batch_bytes?
static bool at_size(const struct nats_sink *p, const struct open_batch *ob)
{
	return p->fmt == FMT_BINARY ? ob->len + REC > p->batch_bytes : ob->len >= p->batch_bytes;
}

// Can @p ob take one more record? Not past batch_bytes, except to finish an
// extension group, and never past its buffer.
static bool takes_more(const struct nats_sink *p, const struct open_batch *ob)
{
	if (ob->records == 0)
		return true;
	if (p->cap - ob->len < p->room)
		return false;
	return ob->last_ext || !at_size(p, ob);
}

// Seal it now: at its size, and not inside an extension group.
static bool full(const struct nats_sink *p, const struct open_batch *ob)
{
	return !ob->last_ext && at_size(p, ob);
}

static void append(struct nats_sink *p, struct open_batch *ob, const struct cee_event *e,
		   uint64_t now)
{
	if (ob->records == 0) {
		ob->first = e->sseq;
		ob->t0_ns = now;
	}
	if (p->fmt == FMT_JSONL) {
		ob->len += cee_jsonl_enc_put(p->enc, e, ob->buf + ob->len, &p->sink->bad_ext);
	} else {
		memcpy(ob->buf + ob->len, e, REC);
		ob->len += REC;
	}
	ob->last = e->sseq;
	ob->records++;
	if (e->type == CEE_EVT_EXT && !ob->last_ext)
		ob->group_ns = now;
	ob->last_ext = e->type == CEE_EVT_EXT;
	if (!ob->last_ext) {
		ob->events++;
		p->sink->held++;
	}
}

// Seal open batches older than linger_ms (while slots last). Control thread.
static void seal_aged(struct nats_sink *p, uint64_t now, bool all)
{
	for (unsigned i = 0; i < p->nseen; i++) {
		unsigned shard = p->seen[i];
		struct open_batch *ob = p->open[shard];
		if (ob->records == 0) {
			// at close: a group whose batch was sealed inside it (by
			// age, a gap, its size) waits in the encoder for an event
			// that will not come now; the batch that named its
			// records is gone, and no later one can hold them:
			// counted (bad_ext) and said, not dropped silently
			if (all && p->fmt == FMT_JSONL) {
				static char scratch[CEE_EVT_JSON_EXT_MAX];
				if (cee_jsonl_enc_drain_shard(p->enc, shard, scratch,
							      &p->sink->bad_ext) > 0)
					fprintf(stderr,
						"%s (%s): closing: shard %u's extension group was cut "
						"short after its batch went; its records are not in "
						"the stream (bad_ext)\n",
						WHO, p->name, shard);
			}
			continue;
		}
		uint64_t age = now - ob->t0_ns;
		// a group is forced out unfinished only when the rest of it has had
		// time to come while the sink took records: timed from the group's
		// first record, not the batch's (a batch held open while the window
		// was full, its group cut by the exporter's per-write budget, was
		// sealed inside the group by another shard's write an instant
		// later), and the time the sink spent failed does not count (after
		// a broker failure, the first write for another shard sealed this
		// batch before the ring gave it the rest)
		uint64_t since = ob->group_ns > p->resumed_ns ? ob->group_ns : p->resumed_ns;
		if (!all && (age < p->linger_ns ||
			     (ob->last_ext && now - since < p->linger_ns + FORCE_SEAL_NS)))
			continue;
		// at close (all): a group cut short has no next batch to carry it;
		// it goes in this one as an "ext" line (counted in bad_ext), as the
		// jsonl sink writes it at close. Left in the encoder, the batch's
		// Cee-Last-Sseq named records it did not hold. (Room: an append
		// left at least CEE_EVT_JSON_EXT_MAX of p->room free.)
		if (all && p->fmt == FMT_JSONL && ob->last_ext) {
			ob->len += cee_jsonl_enc_drain_shard(p->enc, shard, ob->buf + ob->len,
							     &p->sink->bad_ext);
			ob->last_ext = false;
		}
		if (seal(p, ob, shard, true) == -ENOSPC)
			return;
	}
}

static bool any_open(const struct nats_sink *p)
{
	for (unsigned i = 0; i < p->nseen; i++)
		if (p->open[p->seen[i]]->records > 0)
			return true;
	return false;
}

// Take back from libnats what @p js has not answered: those go out again
// (or, @p destroy, are dropped: close). Publisher (close(): the control
// thread, once the publisher is gone); mu not held. @return how many.
static uint32_t reclaim(struct nats_sink *p, jsCtx *js, bool destroy)
{
	natsMsgList l = {0};
	// libnats 3.4.1 makes a context's table of pending publishes at its
	// first publish, and js_PublishAsyncGetPendingList() reads it without
	// looking: on a context that never published it crashes (an idle sink
	// at shutdown, or when its connection was closed).
	if (js == NULL || !p->js_used || js_PublishAsyncGetPendingList(&l, js) != NATS_OK)
		return 0;
	uint32_t n = 0;
	uint64_t dropped = 0;
	pthread_mutex_lock(&p->mu);
	for (int i = 0; i < l.Count; i++) {
		int k = take_inflight(p, l.Msgs[i]);
		if (k < 0)
			continue; // not ours: natsMsgList_Destroy() frees it
		l.Msgs[i] = NULL;
		p->inflight--;
		n++;
		if (destroy) {
			dropped += p->slots[k].events;
			slot_free(p, (uint32_t)k);
		} else {
			sendq_insert(p, (uint32_t)k);
		}
	}
	pthread_mutex_unlock(&p->mu);
	natsMsgList_Destroy(&l);
	if (destroy) // (close(): the control thread's own)
		p->sink->held -= dropped;
	return n;
}

static void stream_recheck(struct nats_sink *p, uint64_t now);
static void conn_renew(struct nats_sink *p, uint64_t now);

// Log what the publisher noted under mu. Publisher; mu held, released
// around the writes.
static void say(struct nats_sink *p)
{
	if (p->say_failed == NULL && !p->say_again && p->q_lost == 0)
		return;
	const char *failed = p->say_failed;
	natsStatus why = p->say_why;
	jsErrCode code = p->say_code;
	bool again = p->say_again;
	uint64_t lost = p->q_lost;
	p->say_failed = NULL;
	p->say_again = false;
	p->q_lost = 0;
	pthread_mutex_unlock(&p->mu);
	if (again)
		fprintf(stderr, "%s (%s): acknowledged again\n", WHO, p->name);
	if (failed != NULL && code != 0)
		fprintf(stderr, "%s (%s): %s: JetStream error %d%s; resending with backoff\n", WHO,
			p->name, failed, (int)code,
			code == JSInsufficientResourcesErr || code == JSStorageResourcesExceededErr
			    ? " (the broker's storage is full)"
			    : "");
	else if (failed != NULL)
		fprintf(stderr, "%s (%s): %s: %s; resending with backoff\n", WHO, p->name, failed,
			natsStatus_GetText(why));
	if (lost > 0)
		fprintf(stderr, "%s (%s): BUG: %" PRIu64 " publish outcomes lost\n", WHO, p->name,
			lost);
	pthread_mutex_lock(&p->mu);
}

// The publisher thread: see "How it works" at the top.
static void *publisher(void *arg)
{
	struct nats_sink *p = arg;
	pthread_mutex_lock(&p->mu);
	while (!p->stop) {
		uint64_t now = cee_nats_now_ns();
		take_outcomes(p, now);
		say(p);
		enum conn_state cs = atomic_load_explicit(&p->conn_state, memory_order_relaxed);
		if (cs == CONN_CLOSED && now >= p->reopen_at_ns && !p->stop) {
			pthread_mutex_unlock(&p->mu);
			conn_renew(p, now);
			pthread_mutex_lock(&p->mu);
			continue;
		}
		// The connection dropped: what is in flight is lost or stored
		// without its ack coming. Take it back now, to go out again first
		// when the connection is back (the stream drops the copies it
		// has), rather than ack_wait_ms later, after newer batches.
		if (p->inflight > 0 && cs == CONN_DOWN) {
			pthread_mutex_unlock(&p->mu);
			uint32_t n = reclaim(p, p->js, false);
			pthread_mutex_lock(&p->mu);
			p->st.fail_connection += n;
		}
		if (p->stream_check && now >= p->stream_check_at_ns && !p->stop) {
			pthread_mutex_unlock(&p->mu);
			stream_recheck(p, now);
			pthread_mutex_lock(&p->mu);
		}
		pump(p, now);
		say(p);
		if (p->qlen > 0 || p->stop)
			continue;
		// Sleep until woken (a batch sealed, an outcome, the connection
		// changed, stop) or the next thing due: a backoff's end, a stream
		// look, a new connection; at most 50 ms.
		uint64_t until = now + 50000000u;
		if (p->nsend > 0 && p->pause_until_ns > now && p->pause_until_ns < until)
			until = p->pause_until_ns;
		if (p->stream_check && p->stream_check_at_ns > now && p->stream_check_at_ns < until)
			until = p->stream_check_at_ns;
		struct timespec ts = {.tv_sec = (time_t)(until / 1000000000u),
				      .tv_nsec = (long)(until % 1000000000u)};
		(void)pthread_cond_timedwait(&p->cv, &p->mu, &ts);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static bool conn_closed(const struct nats_sink *p)
{
	return atomic_load_explicit(&p->conn_state, memory_order_relaxed) == CONN_CLOSED;
}

static bool conn_down(const struct nats_sink *p)
{
	return atomic_load_explicit(&p->conn_state, memory_order_relaxed) == CONN_DOWN;
}

/* ---- sink ops (control thread) ---- */

// How long a call took. None calls into libnats' connection; this shows it
// (a wait for mu is all a call can meet).
static void call_time(struct nats_sink *p, uint64_t t0)
{
	uint64_t d = cee_nats_now_ns() - t0;
	if (d > p->cst.max_call_ns)
		p->cst.max_call_ns = d;
	p->cst.calls_over_1ms += d > 1000000;
}

// While libnats reconnects, the sink reports itself failed: the exporter
// then shows it (cee-ctl sinks: retrying, failures, down_ms) and retries it
// through nats_reopen(), which succeeds once the connection is back. What it
// took stays sealed here (in-flight messages taken back by the publisher).
static int nats_write(struct cee_sink *s, const struct cee_event *ev, uint32_t n)
{
	struct nats_sink *p = s->priv;
	uint64_t now = cee_nats_now_ns();
	take_acked(p);
	if (conn_closed(p) || conn_down(p)) {
		call_time(p, now);
		return -ENOTCONN;
	}
	seal_aged(p, now, false);
	unsigned shard = cee_event_shard(&ev[0]);
	struct open_batch *ob = open_get(p, shard);
	if (ob == NULL)
		return -ENOMEM;
	uint32_t i;
	for (i = 0; i < n; i++) {
		// a batch is a run of consecutive records: anything else starts a new one
		if (ob->records > 0 && (ev[i].sseq != ob->last + 1 || !takes_more(p, ob))) {
			int rc = seal(p, ob, shard, false);
			if (rc < 0) {
				// (-ENOMEM: libnats could not make the message; the
				// records stay and are taken again, as when the
				// window is full, but that is not what happened)
				if (rc == -ENOSPC)
					p->cst.window_full++;
				else
					p->cst.fail_other++;
				break;
			}
		}
		append(p, ob, &ev[i], now);
		if (full(p, ob))
			(void)seal(p, ob, shard, false); // or when the next record comes
	}
	call_time(p, now);
	return (int)i;
}

static int nats_flush(struct cee_sink *s)
{
	struct nats_sink *p = s->priv;
	uint64_t now = cee_nats_now_ns();
	if (!conn_closed(p))
		seal_aged(p, now, false);
	uint32_t sealed = take_acked(p);
	call_time(p, now);
	bool pending = any_open(p) || sealed > 0;
	// nothing to deliver: done, whether the broker is there or not (a
	// shutdown with the broker down and every event acknowledged waited out
	// --shutdown-timeout: the sink reported itself failed, never idle)
	if (!pending)
		return 0;
	if (conn_closed(p) || conn_down(p))
		return -ENOTCONN;
	return -EAGAIN;
}

static int js_context(struct nats_sink *p)
{
	natsStatus s = natsConnection_JetStream(&p->js, p->nc, &p->jso);
	if (s != NATS_OK) {
		fprintf(stderr, "%s: JetStream context: %s\n", WHO, cee_nats_last_error(s));
		p->js = NULL;
		return cee_nats_errno(s) ? cee_nats_errno(s) : -EIO;
	}
	return 0;
}

// A new connection and its JetStream context; the state says up only once
// both are there. Opening thread, then the publisher.
static int sink_connect(struct nats_sink *p, int64_t total_ms)
{
	int rc = cee_nats_connect(p->opts, &p->spec, &p->nc, total_ms, WHO);
	if (rc < 0)
		return rc;
	p->conns++;
	atomic_store_explicit(&p->conn_cur, p->nc, memory_order_release);
	rc = js_context(p);
	if (rc < 0) {
		atomic_store_explicit(&p->conn_cur, NULL, memory_order_release);
		natsConnection_Destroy(p->nc);
		p->nc = NULL;
		return rc;
	}
	atomic_store_explicit(&p->conn_state, CONN_UP, memory_order_relaxed);
	// A callback for this connection that came before conn_cur named it
	// (ignored), or between that and the store above (overwritten), was
	// lost: a lost CLOSED left the publisher on a dead connection for
	// good (it renews one only on CONN_CLOSED), the ring filling and
	// admission stopped. The connection's own status, read after the
	// store, says what such a callback said; one after it stores its own.
	// (Until the status holds across the store: a callback between the
	// read and the store, say on_reconnected's UP, was overwritten.)
	for (;;) {
		natsConnStatus st = natsConnection_Status(p->nc);
		int want = st == NATS_CONN_STATUS_CLOSED ? CONN_CLOSED
			   : st == NATS_CONN_STATUS_DISCONNECTED || st == NATS_CONN_STATUS_RECONNECTING
			       ? CONN_DOWN
			       : CONN_UP;
		atomic_store_explicit(&p->conn_state, want, memory_order_relaxed);
		if (natsConnection_Status(p->nc) == st)
			break;
	}
	return 0;
}

// libnats closed its connection (it reconnects for ever by itself, so this
// is an authorisation refused twice, or the like): make a new one, one
// attempt each 1 s doubling to 5 s. Publisher; mu not held.
static void conn_renew(struct nats_sink *p, uint64_t now)
{
	p->reopen_ms = p->reopen_ms == 0 ? 1000 : (p->reopen_ms * 2 > 5000 ? 5000 : p->reopen_ms * 2);
	p->reopen_at_ns = now + (uint64_t)p->reopen_ms * 1000000u;
	reclaim(p, p->js, false);
	atomic_store_explicit(&p->conn_cur, NULL, memory_order_release);
	if (p->js != NULL)
		jsCtx_Destroy(p->js);
	p->js = NULL;
	p->js_used = false;
	if (p->nc != NULL)
		natsConnection_Destroy(p->nc);
	p->nc = NULL;
	if (sink_connect(p, CONNECT_TIMEOUT_MS) == 0) { // short: one attempt
		p->reopen_ms = 0;
		fprintf(stderr, "%s (%s): connected again\n", WHO, p->name);
	}
}

// The exporter retries a failed sink here: it is back when the connection is.
static int nats_reopen(struct cee_sink *s)
{
	struct nats_sink *p = s->priv;
	take_acked(p);
	if (!conn_up(p))
		return -ENOTCONN;
	p->resumed_ns = cee_nats_now_ns();
	wake(p); // what was taken back goes out first
	return 0;
}

// Close the connection and wait for libnats' last callback with p.
// @return false when it did not come: p must then stay allocated.
static bool conn_release(struct nats_sink *p)
{
	atomic_store_explicit(&p->closing, true, memory_order_relaxed);
	if (p->js != NULL)
		jsCtx_Destroy(p->js);
	p->js = NULL;
	if (p->nc != NULL)
		natsConnection_Destroy(p->nc);
	p->nc = NULL;
	uint64_t deadline = cee_nats_now_ns() + (uint64_t)CLOSE_WAIT_MS * 1000000u;
	while (atomic_load_explicit(&p->closed_cbs, memory_order_acquire) < p->conns) {
		if (cee_nats_now_ns() >= deadline)
			return false;
		usleep(1000);
	}
	return true;
}

static void release(struct nats_sink *p)
{
	for (unsigned i = 0; i < p->nseen; i++) {
		free(p->open[p->seen[i]]->buf);
		free(p->open[p->seen[i]]);
	}
	if (p->slots != NULL)
		for (uint32_t k = 0; k < p->window; k++)
			natsMsg_Destroy(p->slots[k].msg);
	if (p->enc != NULL)
		cee_jsonl_enc_free(p->enc);
	natsOptions_Destroy(p->opts);
	free(p->slots);
	free(p->free_slots);
	free(p->sendq);
	free(p->q);
	free(p->idx);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p->sink);
	free(p);
}

// Stop the publisher thread. @return false when it did not end by @p by_ns
// (CLOCK_MONOTONIC; 0: no bound) and CLOSE_GRACE_MS: it still runs, in a
// libnats call, with p.
static bool publisher_stop(struct nats_sink *p, uint64_t by_ns)
{
	if (!p->pub_started)
		return true;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	// It looks at stop between its libnats calls: the join waits for the
	// one in progress (a publish: WRITE_DEADLINE_MS; a new connection:
	// CONNECT_TIMEOUT_MS per server; a stream look: 500 ms), unless the
	// engine's shutdown timeout has passed: then a moment for it to see
	// the stop (a broker that stalled held each sink's close half a second)
	if (by_ns == 0) {
		pthread_join(p->pub, NULL);
	} else {
		uint64_t now = cee_nats_now_ns(), until = by_ns + (uint64_t)CLOSE_GRACE_MS * 1000000u;
		uint64_t wait = until > now ? until - now : 0;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts); // (pthread_timedjoin_np's clock)
		uint64_t at = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec + wait;
		ts.tv_sec = (time_t)(at / 1000000000u);
		ts.tv_nsec = (long)(at % 1000000000u);
		if (pthread_timedjoin_np(p->pub, NULL, &ts) != 0)
			return false;
	}
	p->pub_started = false;
	return true;
}

static void nats_close(struct cee_sink *s)
{
	struct nats_sink *p = s->priv;
	// What can still be delivered in a second is (the engine waited for
	// the acks before, with flush), unless the engine's shutdown timeout
	// has passed (s->close_by_ns): it reported what is undelivered, and
	// each sink's second made a SIGTERM with a stalled broker last
	// --shutdown-timeout + 1.2 s a NATS sink
	uint64_t by = s->close_by_ns;
	uint64_t deadline = cee_nats_now_ns() + (uint64_t)CLOSE_WAIT_MS * 1000000u;
	if (by != 0 && by < deadline)
		deadline = by;
	for (;;) {
		if (!conn_closed(p))
			seal_aged(p, cee_nats_now_ns(), true);
		uint32_t sealed = take_acked(p);
		if (conn_closed(p) || (!any_open(p) && sealed == 0) ||
		    cee_nats_now_ns() >= deadline)
			break;
		usleep(1000);
	}
	// From here on the publisher's objects are ours.
	bool stopped = publisher_stop(p, by);
	if (stopped)
		take_acked(p);
	if (s->held > 0 || any_open(p))
		fprintf(stderr, "%s (%s): closing with %" PRIu64 " events not acknowledged\n", WHO,
			p->name, s->held);
	if (by != 0) {
		// Past the engine's shutdown timeout (what is held was reported
		// undelivered): the process exits next, and the connection is
		// left to it. Its teardown flushes to the broker under libnats'
		// write deadline (500 ms a sink, one after the other, with a
		// broker that stalled), and the publisher may still be in a
		// libnats call with p.
		if (!stopped)
			fprintf(stderr, "%s (%s): its publisher is still in a libnats call\n", WHO,
				p->name);
		return;
	}
	// Stop the callbacks: take back what libnats holds, then wait for the
	// outcomes of callbacks already running (they touch p).
	reclaim(p, p->js, true);
	deadline = cee_nats_now_ns() + (uint64_t)CLOSE_WAIT_MS * 1000000u;
	pthread_mutex_lock(&p->mu);
	while (p->inflight > 0 && cee_nats_now_ns() < deadline) {
		take_outcomes(p, cee_nats_now_ns());
		if (p->inflight > 0) {
			pthread_mutex_unlock(&p->mu);
			usleep(1000);
			pthread_mutex_lock(&p->mu);
		}
	}
	uint32_t inflight = p->inflight;
	pthread_mutex_unlock(&p->mu);
	if (!conn_release(p) || inflight > 0) {
		// A callback may still run with p: leave it allocated.
		fprintf(stderr, "%s (%s): libnats still holds callbacks at close; state kept\n",
			WHO, p->name);
		return;
	}
	release(p);
}

// Acknowledgements that came while the sink was failed (libnats
// reconnected and the broker answered): counted before a shutdown reports
// them undelivered.
static void nats_settle(struct cee_sink *s)
{
	(void)take_acked(s->priv);
}

static const struct cee_sink_ops nats_ops = {
    .write = nats_write,
    .flush = nats_flush,
    .reopen = nats_reopen,
    .close = nats_close,
    .settle = nats_settle,
};

/* ---- open ---- */

// Does subject pattern @p pat cover every subject "PREFIX.>"?
static bool covers(const char *pat, const char *prefix)
{
	const char *a = pat, *b = prefix;
	for (;;) {
		size_t al = strcspn(a, "."), bl = strcspn(b, ".");
		if (al == 1 && a[0] == '>')
			return true;
		if (*b == '\0') // prefix done: the rest of the pattern must be ">"
			return strcmp(a, ">") == 0;
		if (!((al == 1 && a[0] == '*') || (al == bl && memcmp(a, b, al) == 0)))
			return false;
		a += al;
		b += bl;
		if (*a == '\0')
			return false; // the pattern ends before the prefix does
		a++;
		if (*b == '.')
			b++;
	}
}

// Create the stream: subjects PREFIX.> (@p want), file storage.
static natsStatus add_stream(struct nats_sink *p, const char *want, uint64_t replicas,
			     uint64_t dedup_s, uint64_t max_age_s, jsOptions *o, jsErrCode *jerr)
{
	jsStreamConfig cfg;
	jsStreamConfig_Init(&cfg);
	const char *subjects[1] = {want};
	cfg.Name = p->stream;
	cfg.Subjects = subjects;
	cfg.SubjectsLen = 1;
	cfg.Storage = js_FileStorage;
	cfg.Replicas = (int64_t)replicas;
	cfg.Duplicates = (int64_t)dedup_s * 1000000000;
	cfg.MaxAge = (int64_t)max_age_s * 1000000000;
	jsStreamInfo *si = NULL;
	natsStatus s = js_AddStream(&si, p->js, &cfg, o, jerr);
	if (s == NATS_OK)
		jsStreamInfo_Destroy(si);
	return s;
}

static int ensure_stream(struct nats_sink *p, uint64_t replicas, uint64_t dedup_s,
			 uint64_t max_age_s)
{
	char want[sizeof(p->spec.prefix) + 3];
	snprintf(want, sizeof(want), "%s.>", p->spec.prefix);
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus s = js_GetStreamInfo(&si, p->js, p->stream, NULL, &jerr);
	if (s == NATS_OK) {
		bool ok = false;
		const jsStreamConfig *c = si->Config;
		for (int i = 0; c != NULL && i < c->SubjectsLen && !ok; i++)
			ok = covers(c->Subjects[i], p->spec.prefix);
		if (!ok) {
			fprintf(stderr,
				"%s: stream '%s' exists on %s without subject '%s' (its subjects:",
				WHO, p->stream, p->spec.urls, want);
			for (int i = 0; c != NULL && i < c->SubjectsLen; i++)
				fprintf(stderr, " %s", c->Subjects[i]);
			fprintf(stderr, "): use another stream= or prefix\n");
			jsStreamInfo_Destroy(si);
			return -EINVAL;
		}
		// a stream made by an operator with a message size limit below
		// our batches: the small ones (sealed by age) stored, the large
		// ones refused on every resend for ever, holding window slots
		// until admission stopped for good
		if (c != NULL && c->MaxMsgSize > 0 &&
		    (int64_t)(p->cap + HEADER_ROOM) > (int64_t)c->MaxMsgSize) {
			fprintf(stderr,
				"%s: stream '%s' takes messages of at most %" PRId32
				" bytes (max_msg_size); a batch may be batch_bytes + %zu: use "
				"batch_bytes <= %" PRId64 " or raise the stream's limit\n",
				WHO, p->stream, c->MaxMsgSize, p->cap - p->batch_bytes + HEADER_ROOM,
				(int64_t)c->MaxMsgSize - (int64_t)(p->cap - p->batch_bytes + HEADER_ROOM));
			jsStreamInfo_Destroy(si);
			return -EINVAL;
		}
		if (c != NULL && c->Duplicates < p->ack_wait_ms * 1000000 * 2)
			fprintf(stderr,
				"%s: stream '%s' keeps message ids %.1f s only: a resend after "
				"that may be stored twice (consumers skip it by sseq)\n",
				WHO, p->stream, (double)c->Duplicates / 1e9);
		jsStreamInfo_Destroy(si);
		return 0;
	}
	if (s != NATS_NOT_FOUND && jerr != JSStreamNotFoundErr) {
		fprintf(stderr, "%s: cannot look up stream '%s' on %s: %s%s\n", WHO, p->stream,
			p->spec.urls, cee_nats_last_error(s),
			s == NATS_NO_RESPONDERS || s == NATS_TIMEOUT
			    ? " (is JetStream enabled on the server? nats-server -js)"
			    : "");
		return cee_nats_errno(s) ? cee_nats_errno(s) : -EIO;
	}
	s = add_stream(p, want, replicas, dedup_s, max_age_s, NULL, &jerr);
	if (s != NATS_OK) {
		const char *t = cee_nats_last_error(s);
		fprintf(stderr,
			"%s: cannot create stream '%s' (subject '%s', R%" PRIu64 ") on %s: %s\n",
			WHO, p->stream, want, replicas, p->spec.urls, t);
		return s == NATS_ERR ? -EINVAL : (cee_nats_errno(s) ? cee_nats_errno(s) : -EIO);
	}
	return 0;
}

/*
 * A publish found no stream (no responders): a fail-over, or the stream
 * was deleted while we run. Look (a request of 500 ms at most, on the
 * publisher; mu not held); if it is gone, create it as at start-up, so that what the sink
 * holds goes out again instead of being retried for ever while admission
 * stays stopped. At most once a second; a look that times out is a
 * fail-over in progress: the next refusal looks again.
 */
static void stream_recheck(struct nats_sink *p, uint64_t now)
{
	p->stream_check = false;
	p->stream_check_at_ns = now + 1000000000u;
	if (p->js == NULL ||
	    atomic_load_explicit(&p->conn_state, memory_order_relaxed) != CONN_UP)
		return;
	jsOptions o;
	jsOptions_Init(&o);
	o.Wait = 500;
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus s = js_GetStreamInfo(&si, p->js, p->stream, &o, &jerr);
	if (s == NATS_OK) {
		jsStreamInfo_Destroy(si);
		p->stream_gone_ns = 0;
		return; /* there: a fail-over */
	}
	if (s != NATS_NOT_FOUND && jerr != JSStreamNotFoundErr)
		return; /* no answer: look again at the next refusal */
	// Gone. Create it at the next look, a second later, not now: the
	// server removes a deleted stream's files after it has answered the
	// delete, and a stream created at once under the same name lost its
	// message blocks to that removal ("error opening msg block file": every
	// store failed, and the sink resent for ever; seen once in CI).
	if (p->stream_gone_ns == 0) {
		p->stream_gone_ns = now;
		p->stream_check = true;
		return;
	}
	p->stream_gone_ns = 0;
	char want[sizeof(p->spec.prefix) + 3];
	snprintf(want, sizeof(want), "%s.>", p->spec.prefix);
	jerr = 0;
	s = add_stream(p, want, p->replicas, p->dedup_s, p->max_age_s, &o, &jerr);
	if (s != NATS_OK) {
		fprintf(stderr, "%s (%s): the stream is gone and cannot be created again: %s\n",
			WHO, p->name, cee_nats_last_error(s));
		p->stream_check = true; /* again in a second */
		return;
	}
	pthread_mutex_lock(&p->mu);
	p->st.stream_recreated++;
	pthread_mutex_unlock(&p->mu);
	fprintf(stderr, "%s (%s): the stream was gone: created again; what it lacks is sent again\n",
		WHO, p->name);
	p->pause_until_ns = now; /* no need to wait out the backoff */
}

static void random_run(char *out, size_t len)
{
	uint8_t r[6] = {0};
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		uint64_t t = cee_nats_now_ns() ^ ((uint64_t)getpid() << 32);
		memcpy(r, &t, sizeof(r));
	}
	snprintf(out, len, "r%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4], r[5]);
}

// Settings from the spec. @return 0 or -EINVAL (message on stderr).
static int configure(struct nats_sink *p, uint64_t *replicas, uint64_t *dedup_s,
		     uint64_t *max_age_s)
{
	struct cee_nats_spec *sp = &p->spec;
	if (sp->prefix[0] == '\0') {
		fprintf(stderr, "%s: a subject prefix is needed: nats://HOST:PORT/PREFIX\n", WHO);
		return -EINVAL;
	}
	const char *stream = cee_nats_spec_get(sp, "stream");
	if (stream == NULL)
		stream = DEFAULT_STREAM;
	if (!cee_nats_name_valid(stream)) {
		fprintf(stderr, "%s: bad stream name '%s' (1..64 of A-Z a-z 0-9 _ -)\n", WHO,
			cee_nats_spec_shown(sp, stream));
		return -EINVAL;
	}
	snprintf(p->stream, sizeof(p->stream), "%s", stream);
	snprintf(p->name, sizeof(p->name), "%s/%s stream %s", sp->urls, sp->prefix, p->stream);
	const char *f = cee_nats_spec_get(sp, "format");
	if (f == NULL || strcmp(f, "jsonl") == 0) {
		p->fmt = FMT_JSONL;
	} else if (strcmp(f, "binary") == 0) {
		p->fmt = FMT_BINARY;
	} else {
		fprintf(stderr, "%s: bad format '%s' (jsonl or binary)\n", WHO,
			cee_nats_spec_shown(sp, f));
		return -EINVAL;
	}
	uint64_t bb, linger, window, ack_wait;
	int rc = 0;
	rc |= cee_nats_spec_u64(sp, "replicas", 1, 5, 1, replicas, WHO);
	rc |= cee_nats_spec_u64(sp, "batch_bytes", 1024, 64u << 20, DEFAULT_BATCH_BYTES, &bb, WHO);
	rc |= cee_nats_spec_u64(sp, "linger_ms", 0, 60000, DEFAULT_LINGER_MS, &linger, WHO);
	rc |= cee_nats_spec_u64(sp, "window", 1, WINDOW_MAX, DEFAULT_WINDOW, &window, WHO);
	rc |=
	    cee_nats_spec_u64(sp, "ack_wait_ms", 100, 600000, DEFAULT_ACK_WAIT_MS, &ack_wait, WHO);
	rc |= cee_nats_spec_u64(sp, "dedup_window_s", 1, 7 * 86400, DEFAULT_DEDUP_S, dedup_s, WHO);
	rc |= cee_nats_spec_u64(sp, "max_age_s", 0, UINT32_MAX, 0, max_age_s, WHO);
	if (rc != 0)
		return -EINVAL;
	if (*max_age_s != 0 && *max_age_s < *dedup_s) {
		fprintf(stderr, "%s: max_age_s (%" PRIu64 ") below dedup_window_s (%" PRIu64 ")\n",
			WHO, *max_age_s, *dedup_s);
		return -EINVAL;
	}
	p->batch_bytes = bb;
	p->linger_ns = linger * 1000000u;
	p->window = (uint32_t)window;
	p->ack_wait_ms = (int64_t)ack_wait;
	if (p->fmt == FMT_JSONL) {
		p->room = CEE_JSONL_ENC_ROOM;
		p->cap = bb + 2 * CEE_JSONL_ENC_ROOM; // the line past batch_bytes, a group's end
	} else {
		p->room = REC;
		p->cap = bb + (CEE_EVT_EXT_MAX + 1) * REC;
	}
	return 0;
}

struct cee_sink *cee_sink_nats_open(const char *arg)
{
	struct nats_sink *p = calloc(1, sizeof(*p));
	struct cee_sink *s = calloc(1, sizeof(*s));
	if (p == NULL || s == NULL) {
		free(p);
		free(s);
		errno = ENOMEM;
		return NULL;
	}
	s->ops = &nats_ops;
	s->priv = p;
	p->sink = s;
	pthread_mutex_init(&p->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); // cee_nats_now_ns()'s clock
	pthread_cond_init(&p->cv, &ca);
	pthread_condattr_destroy(&ca);

	uint64_t replicas = 1, dedup_s = DEFAULT_DEDUP_S, max_age_s = 0;
	int rc = cee_nats_spec_parse(arg, &p->spec, WHO);
	if (rc == 0)
		rc = configure(p, &replicas, &dedup_s, &max_age_s);
	if (rc == 0)
		rc = cee_nats_options(&p->spec, CONNECT_TIMEOUT_MS, &p->opts, WHO);
	if (rc == 0)
		rc = cee_nats_spec_check_unused(&p->spec, WHO);
	if (rc == 0) {
		// Reconnect for ever, soon; notice a dead broker in seconds; bound
		// the socket writes libnats does on our thread.
		natsStatus ns = natsOptions_SetMaxReconnect(p->opts, -1);
		if (ns == NATS_OK)
			ns = natsOptions_SetReconnectWait(p->opts, RECONNECT_WAIT_MS);
		if (ns == NATS_OK)
			ns = natsOptions_SetPingInterval(p->opts, PING_INTERVAL_MS);
		if (ns == NATS_OK)
			ns = natsOptions_SetMaxPingsOut(p->opts, 3);
		if (ns == NATS_OK)
			ns = natsOptions_SetWriteDeadline(p->opts, WRITE_DEADLINE_MS);
		if (ns == NATS_OK)
			ns = natsOptions_SetDisconnectedCB(p->opts, on_disconnected, p);
		if (ns == NATS_OK)
			ns = natsOptions_SetReconnectedCB(p->opts, on_reconnected, p);
		if (ns == NATS_OK)
			ns = natsOptions_SetClosedCB(p->opts, on_closed, p);
		if (ns != NATS_OK)
			rc = -ENOMEM;
	}
	if (rc == 0) {
		const char *e = cee_evt_json_engine(), *r = cee_evt_json_run(), *er = cee_evt_run();
		if (er[0] != '\0') // the engine's run (the one its lines carry, if any)
			snprintf(p->run, sizeof(p->run), "%s", er);
		else
			random_run(p->run, sizeof(p->run));
		p->run_hdr = r[0] != '\0' || e == NULL || e[0] == '\0';
		snprintf(p->engine, sizeof(p->engine), "%s",
			 e != NULL && e[0] != '\0' ? e : p->run);
		p->qcap = 2 * p->window + 2; // at most `window` outcomes are ever pending
		p->slots = calloc(p->window, sizeof(*p->slots));
		p->free_slots = calloc(p->window, sizeof(*p->free_slots));
		p->sendq = calloc(p->window, sizeof(*p->sendq));
		p->q = calloc(p->qcap, sizeof(*p->q));
		uint32_t icap = 4;
		while (icap < 2 * p->window)
			icap *= 2;
		p->imask = icap - 1;
		p->idx = calloc(icap, sizeof(*p->idx));
		p->enc = p->fmt == FMT_JSONL ? cee_jsonl_enc_new() : NULL;
		if (p->slots == NULL || p->free_slots == NULL || p->sendq == NULL || p->q == NULL ||
		    p->idx == NULL || (p->fmt == FMT_JSONL && p->enc == NULL))
			rc = -ENOMEM;
		for (uint32_t k = 0; rc == 0 && k < p->window; k++)
			p->free_slots[p->nfree++] = p->window - 1 - k;
	}
	if (rc == 0) {
		// MaxPending is one above the window we keep ourselves: libnats counts
		// a message down only after on_ack() returned, so just after an ack it
		// may still count the whole window, and a publish then would stall.
		jsOptions_Init(&p->jso);
		p->jso.PublishAsync.MaxPending = p->window + 1;
		p->jso.PublishAsync.AckHandler = on_ack;
		p->jso.PublishAsync.AckHandlerClosure = p;
		p->jso.PublishAsync.StallWait = 1; // never expected; if it is, do not wait long
		jsPubOptions_Init(&p->pubo);
		p->pubo.MaxWait = p->ack_wait_ms; // without it, no timeout: a lost ack holds a slot
		rc = sink_connect(p, OPEN_CONNECT_MS);
	}
	if (rc == 0) {
		int64_t maxp = natsConnection_GetMaxPayload(p->nc);
		if ((int64_t)(p->cap + HEADER_ROOM) > maxp) {
			fprintf(
			    stderr,
			    "%s: batch_bytes=%zu does not fit the server's max_payload (%" PRId64
			    " bytes; a message may be batch_bytes + %zu): use batch_bytes <= "
			    "%" PRId64 "\n",
			    WHO, p->batch_bytes, maxp, p->cap - p->batch_bytes + HEADER_ROOM,
			    maxp - (int64_t)(p->cap - p->batch_bytes + HEADER_ROOM));
			rc = -EINVAL;
		}
	}
	p->replicas = replicas;
	p->dedup_s = dedup_s;
	p->max_age_s = max_age_s;
	if (rc == 0)
		rc = ensure_stream(p, replicas, dedup_s, max_age_s);
	if (rc == 0) {
		// The connection is the publisher's from here on.
		int e = pthread_create(&p->pub, NULL, publisher, p);
		if (e != 0) {
			fprintf(stderr, "%s: cannot start the publisher thread: %s\n", WHO,
				strerror(e));
			rc = -e;
		} else {
			p->pub_started = true;
			(void)pthread_setname_np(p->pub, "cee-nats");
		}
	}
	if (rc < 0) {
		if (conn_release(p))
			release(p);
		errno = -rc;
		return NULL;
	}
	return s;
}

int cee_sink_nats_register(void)
{
	return cee_sink_register("nats", cee_sink_nats_open);
}

int cee_sink_nats_stats(const struct cee_sink *s, struct cee_sink_nats_stats *st)
{
	if (s == NULL || s->ops != &nats_ops)
		return -EINVAL;
	struct nats_sink *p = s->priv;
	pthread_mutex_lock(&p->mu);
	*st = p->st;
	st->inflight = p->inflight;
	st->sealed = nsealed(p);
	pthread_mutex_unlock(&p->mu);
	st->sealed_size = p->cst.sealed_size;
	st->sealed_age = p->cst.sealed_age;
	st->window_full = p->cst.window_full;
	st->max_call_ns = p->cst.max_call_ns;
	st->calls_over_1ms = p->cst.calls_over_1ms;
	st->disconnects = atomic_load_explicit(&p->disconnects, memory_order_relaxed);
	st->reconnects = atomic_load_explicit(&p->reconnects, memory_order_relaxed);
	st->window = p->window;
	return 0;
}
