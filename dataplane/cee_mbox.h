/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

/**
 * @file
 * A shard's mailbox: requests from the control side (the control thread and
 * DPDK's telemetry thread) to the shard that owns what they ask about, and
 * the shard's answers. The control side never reads shard memory: it posts a
 * request and waits for the owner to fill in the reply.
 *
 * This header is the pure part (no DPDK), unit-tested without the EAL: the
 * request record and its completion protocol, and the walk that answers list
 * and snapshot requests as an exact cut in bounded steps. The ring that
 * carries request pointers and the serving phase are in cee_ctl.h.
 *
 * Completion protocol (one atomic per request), so that exactly one side
 * frees a request and nobody touches it afterwards:
 *
 *   requester: fill it, post it (state POSTED), poll cee_mbox_req_done();
 *              after a timeout cee_mbox_req_abandon(): when that wins, the
 *              request belongs to the shard until it is done with it;
 *   shard:     serve it, then cee_ctl_req_settle() (cee_ctl.h): POSTED ->
 *              DONE, or, abandoned, hand it back to the control thread
 *              (the mailbox's back ring), which frees it
 *              (cee_mbox_req_finish() frees it in place: tests).
 *
 * Snapshot cut (cee_mbox_walk_*): at the first visit the shard records its
 * last sseq and the serial of the last id its pool issued (ids only grow,
 * see cee_id.h); each later visit walks a bounded number of slots. A
 * connection is in the answer iff its open event was pushed before the cut
 * and its destroyed event was not:
 *  - allocated after the cut: skipped by serial;
 *  - a passive connection still half open (CEE_TCB_O_QUIET: its open waits
 *    for established): skipped; if it is announced after the cut but before
 *    the walk reaches its slot, the open hook marks it CEE_TCB_O_LATE and the
 *    walk (or its destroyed hook) skips it too;
 *  - live at the cut but destroyed before the walk reached its slot: recorded
 *    by the destroyed hook (cee_mbox_lifecycle()) at the moment it goes.
 * So the answer is exactly the set the event stream shows live at the cut,
 * whatever churn happens meanwhile. An active open's open event is pushed
 * in the same shard step as its slot allocation, so its serial orders it.
 *
 * WATCH requests wait for a connection's close, however long it lives: the
 * shard keeps each one (cee_mbox_watch_hold()) under a connection monitor
 * and finishes it when the monitor fires. A requester that goes away
 * abandons it as any other request; the shard frees it when the monitor
 * fires, when it reaps abandoned watches (at the next WATCH), or when it
 * stops.
 */

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cee_conn.h"
#include "cee_event.h"
#include "cee_id.h"
#include "cee_monitor.h"

struct rte_ring;

/* X(enumerator suffix, printed name) */
#define CEE_MBOX_OP_LIST(X)                                                                        \
	X(STATS, "stats")                                                                          \
	X(CONN, "conn")                                                                            \
	X(KILL, "kill")                                                                            \
	X(LIST, "list")                                                                            \
	X(DRAIN, "drain")                                                                          \
	X(LINKS, "links")                                                                          \
	X(WATCH, "watch")

#define CEE_X_ENUM_MBOX_OP(e, s) CEE_MBOX_OP_##e,
/** What a request asks its shard for. */
enum cee_mbox_op { CEE_MBOX_OP_LIST(CEE_X_ENUM_MBOX_OP) CEE_MBOX_OP__COUNT };
/** @return the printed name of @p op, or "?". */
const char *cee_mbox_op_str(enum cee_mbox_op op);

/** Request states (cee_mbox_req.state). */
enum cee_mbox_state {
	CEE_MBOX_POSTED,    /**< waiting for or being served by the shard */
	CEE_MBOX_DONE,      /**< answered: the requester owns it again */
	CEE_MBOX_ABANDONED, /**< the requester gave up: the shard frees it */
};

/** One connection as its shard reports it (host byte order). */
struct cee_mbox_conn {
	cee_conn_id_t id;
	uint64_t open_ns;   /**< engine clock at open */
	uint64_t bytes_in, bytes_out;
	uint32_t local_ip, remote_ip;
	uint16_t local_port, remote_port;
	uint8_t state;        /**< enum cee_tcp_state when read */
	uint8_t proto;        /**< enum cee_proto */
	uint8_t close_reason; /**< enum cee_reason: NONE until its closed event was pushed */
	uint8_t closed;       /**< its closed event was pushed (e.g. TIME-WAIT, LAST-ACK) */
	uint8_t departed;     /**< LIST: destroyed after the cut, before the walk reached it */
};

/** Counters of one mailbox. Writer: the shard; read through a STATS request. */
struct cee_mbox_stats {
	uint64_t requests;      /**< requests answered */
	uint64_t stale_id;      /**< CONN/KILL naming no live connection of this shard */
	uint64_t kills;         /**< connections closed by KILL (reason admin_kill) */
	uint64_t drain_refused; /**< SYNs refused (RST) because the shard is draining */
	uint64_t watches;       /**< WATCH requests that waited for a close under a monitor */
	uint64_t watch_reaped;  /**< of those, dropped unanswered: their requester had gone */
	uint64_t list_steps;    /**< mailbox visits spent walking slots for LIST */
	uint64_t visits;        /**< mailbox phases that found work */
	uint64_t ns_total;      /**< wall time spent in those phases */
	uint64_t ns_max;        /**< longest phase (wall): the most a poll iteration was held up */
	uint64_t cpu_ns_total;  /**< the shard thread's CPU time in those phases */
	uint64_t cpu_ns_max;    /**< longest phase in CPU time: the work itself, without preemption */
	/* counted by the requesters (cee_mbox.full, .timeouts), copied in at a STATS answer */
	uint64_t full;          /**< requests not posted: the mailbox's ring was full */
	uint64_t timeouts;      /**< requests given up unanswered at their deadline */
};

/**
 * A request. Requester writes the "in" fields before posting; the shard
 * writes the "out" fields before finishing; after cee_mbox_req_done() the
 * requester reads them.
 */
struct cee_mbox_req {
	/* in */
	uint8_t op;          /**< enum cee_mbox_op */
	cee_conn_id_t id;    /**< CONN, KILL, WATCH */
	struct cee_mbox_conn *conns; /**< LIST: room for cap records (freed with the request) */
	uint32_t cap;        /**< LIST: connection records; LINKS: link records */
	/**
	 * STATS: the serving side's counters record; LINKS: room for cap link
	 * records (struct cee_link_info, cee_shard.h). Freed with the request.
	 */
	void *data;
	/* out */
	int rc;              /**< 0, -ENOENT (no such connection), -ENOSPC, -ENOMEM, -ESHUTDOWN */
	uint32_t n;          /**< LIST, LINKS: records written */
	uint32_t live;       /**< live connections (LIST: at the cut) */
	uint32_t unclosed;   /**< of those, without their closed event yet */
	uint64_t sseq;       /**< the shard's last sseq (LIST: at the cut) */
	uint64_t now_ns;     /**< the shard's clock (LIST: at the cut) */
	/**
	 * CONN, KILL: the connection (KILL: as it was before). WATCH: as it was
	 * at its close, close_reason the reason (cee_mbox_watch_answer()).
	 */
	struct cee_mbox_conn conn;
	/* shard only, while a WATCH waits (cee_mbox_watch_hold()) */
	void *owner;         /**< the serving shard (the monitor callback's way back) */
	struct cee_mbox_req *watch_prev, *watch_next;
	int64_t watch_handle; /**< its monitor (> 0) while it waits, else 0 */
	/* requester and shard: enum cee_mbox_state */
	_Atomic int state;
};

/**
 * Allocate a request for @p op with room for @p cap connection records
 * (LIST; other ops only record @p cap) and @p data_size zeroed bytes of
 * data (STATS: the counters record; LINKS: @p cap link records). Large
 * connection arrays are touched only as far as they are filled.
 * @return the request (state POSTED), or NULL with errno ENOMEM.
 */
struct cee_mbox_req *cee_mbox_req_alloc(enum cee_mbox_op op, uint32_t cap, size_t data_size);
/** Free @p r and its buffers (NULL is fine). */
void cee_mbox_req_free(struct cee_mbox_req *r);

/** Requester: @return true once the shard answered (acquire: the out fields are visible). */
static inline bool cee_mbox_req_done(struct cee_mbox_req *r)
{
	return atomic_load_explicit(&r->state, memory_order_acquire) == CEE_MBOX_DONE;
}

/**
 * Requester: give up waiting. @return true when the request now belongs to
 * the shard (it frees it; forget the pointer), false when it was answered
 * meanwhile (the requester still owns and frees it).
 */
bool cee_mbox_req_abandon(struct cee_mbox_req *r);

/**
 * The answer is complete. Publishes it (release), or frees @p r in place
 * when the requester abandoned it (a shard hands it back instead:
 * cee_ctl_req_settle()). @p r must not be used afterwards.
 */
void cee_mbox_req_finish(struct cee_mbox_req *r);


/** Shard: @return true when the requester gave up on @p r (the shard gives it back at once). */
static inline bool cee_mbox_req_abandoned(struct cee_mbox_req *r)
{
	return atomic_load_explicit(&r->state, memory_order_acquire) == CEE_MBOX_ABANDONED;
}

/** Fill @p out from live connection @p c. */
void cee_mbox_conn_fill(struct cee_mbox_conn *out, const struct cee_conn *c);

/**
 * The byte counts cee_mbox_conn_fill() reports: the service's (plaintext
 * above TLS, message payload above WebSocket), as `closed` and `watch` have
 * them; set once by the dataplane (cee_shard_conn_bytes_in/out). Unset
 * (unit tests of the mailbox alone): TCP's payload bytes.
 */
typedef uint64_t (*cee_mbox_bytes_fn)(const struct cee_conn *c);
void cee_mbox_set_bytes_fns(cee_mbox_bytes_fn in, cee_mbox_bytes_fn out);

/**
 * Shard: the answer to WATCH request @p r, whose monitor fired for
 * connection @p id with @p reason (enum cee_reason, or CEE_MONITOR_GONE:
 * no such connection, rc -ENOENT). @p c is that connection while it still
 * exists (monitors fire in its closed step, before destroyed), else NULL
 * (byte counts 0). Does not finish @p r.
 */
void cee_mbox_watch_answer(struct cee_mbox_req *r, cee_conn_id_t id, int reason,
			   const struct cee_conn *c);

/** A LIST answer in progress. Shard only. */
struct cee_mbox_walk {
	struct cee_mbox_req *req; /**< the LIST being answered; NULL when none */
	uint64_t cut_serial;      /**< serials <= this were allocated at or before the cut */
	uint32_t next_slot;       /**< slots below it have been visited */
	uint32_t late;            /**< connections marked CEE_TCB_O_LATE, not visited yet */
};

/**
 * Start answering LIST request @p r against pool @p p: the cut is now
 * (@p sseq, the pool's last serial). Records r->sseq, r->now_ns; the caller
 * sets r->live.
 */
void cee_mbox_walk_begin(struct cee_mbox_walk *w, struct cee_mbox_req *r,
			 const struct cee_conn_pool *p, uint64_t sseq, uint64_t now_ns);
/**
 * Stop a walk before it completes (its requester went away): the marks it
 * left on connections it did not reach yet are cleared, at most @p slots
 * slots a call, as a walk step visits (only while there are any). @return
 * true when none is left: the walk is over (w->req NULL); until then it
 * still holds the mailbox (call again).
 */
bool cee_mbox_walk_abandon(struct cee_mbox_walk *w, struct cee_conn_pool *p, uint32_t slots);
/**
 * Visit at most @p slots more slots. @return true when the walk is complete
 * (w->req is left set: the caller finishes the request and clears it).
 */
bool cee_mbox_walk_step(struct cee_mbox_walk *w, struct cee_conn_pool *p, uint32_t slots);

/** Shard: the mailbox's own state. */
struct cee_mbox {
	/** Request pointers, control side (multi-producer) -> shard (single consumer). Set at init. */
	struct rte_ring *ring;
	/**
	 * Abandoned requests the shard is done with, shard (single producer) ->
	 * control thread (single consumer), which frees them. Set at init
	 * (NULL: the shard frees them itself).
	 */
	struct rte_ring *back;
	/** Shard writes (release) when it stops serving; requesters read it to stop waiting. */
	_Atomic bool closed;
	/**
	 * Links this shard owns (engine link i belongs to shard i % nshards):
	 * the room a LINKS answer needs. Written at init, before the control
	 * side exists; read-only afterwards.
	 */
	uint32_t nlinks;
	/**
	 * Requesters (the control and telemetry threads) count here what never
	 * reached the shard or was given up on: a shard that stalled or fell
	 * behind showed only in the clients' "try again" replies.
	 */
	_Atomic uint64_t full, timeouts;
	/* shard only */
	bool draining;             /**< admission stopped by DRAIN */
	bool drain_exempt; /**< the next active open alone passes the drain (a link's drain notice)
			    */
	struct cee_mbox_req *watch_head; /**< WATCH requests waiting for a close */
	uint32_t watching;         /**< how many */
	struct cee_mbox_walk walk;
	struct cee_mbox_stats stats;
};

/**
 * Shard: WATCH request @p r waits under monitor @p handle (> 0) until its
 * connection closes: the shard answers it then, or drops it at shutdown.
 */
void cee_mbox_watch_hold(struct cee_mbox *m, struct cee_mbox_req *r, int64_t handle);
/** Shard: @p r no longer waits (its monitor fired or was removed). Nothing when it did not wait. */
void cee_mbox_watch_release(struct cee_mbox *m, struct cee_mbox_req *r);

/**
 * Shard: lifecycle hook, called for every event a connection of pool @p p
 * emits, before a destroyed connection's slot is freed. During a LIST walk
 * it marks connections announced after the cut and records connections
 * that leave before the walk reaches them. O(1).
 */
static inline void cee_mbox_lifecycle(struct cee_mbox *m, const struct cee_conn_pool *p,
				      struct cee_conn *c, enum cee_evt_type type)
{
	struct cee_mbox_walk *w = &m->walk;
	if (w->req == NULL || (type != CEE_EVT_OPEN && type != CEE_EVT_DESTROYED))
		return;
	// Allocated after the cut, or visited already: the walk decided.
	if (cee_id_serial(c->id) > w->cut_serial ||
	    cee_id_slot(c->id, cee_conn_capacity(p)) < w->next_slot)
		return;
	if (type == CEE_EVT_OPEN) { // half open at the cut, announced after it
		c->tcb.oflags |= CEE_TCB_O_LATE;
		w->late++;
		return;
	}
	if (c->tcb.oflags & CEE_TCB_O_LATE) {
		w->late--;
		return;
	}
	// Live at the cut (announced by then, not destroyed yet) and not yet
	// visited: record it now, or the walk would miss it.
	struct cee_mbox_req *r = w->req;
	if (r->n == r->cap) {
		r->rc = -ENOSPC;
		return;
	}
	cee_mbox_conn_fill(&r->conns[r->n], c);
	r->conns[r->n++].departed = 1;
}
