/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

/**
 * @file
 * The control plane: queries and commands answered by the shard that owns
 * the state, through its mailbox (cee_mbox.h), and exposed two ways:
 *
 *  - DPDK telemetry commands `/cee/stats`, `/cee/conns`, `/cee/conn,<id>`,
 *    `/cee/snapshot`, `/cee/links` (served on DPDK's telemetry thread,
 *    output capped);
 *  - a Unix stream socket, `<EAL runtime dir>/<name>_ctl.sock`, mode 0600,
 *    served non-blocking from the control thread: one request line in, one
 *    JSON reply out, then the server closes (apps/cee-ctl speaks it).
 *
 * Neither side reads shard memory: they post requests to the owner's
 * mailbox and wait (with a timeout; a `watch`, for a connection's close,
 * without one) for it to answer. Each shard answers in
 * its mailbox phase, once per poll iteration, at most CEE_MBOX_BUDGET
 * requests or one CEE_MBOX_WALK_SLOTS-slot step of a list walk per
 * iteration, so answering never holds its polling up beyond a bound (timed
 * per shard: mailbox_max_ns). See docs/control.md.
 *
 * Threads: cee_ctl_shard_*() run on the shard's lcore (init/fini before
 * launch / after stop); cee_ctl_create/poll/destroy on the control thread.
 */

#include <stdbool.h>
#include <stdint.h>

#include "cee_evring.h"
#include "cee_mbox.h"
#include "cee_shard.h"
#include "cee_tcp.h"

#define CEE_MBOX_RING 256        /**< requests queued per shard mailbox */
#define CEE_MBOX_BUDGET 8        /**< requests answered per mailbox phase */
#define CEE_MBOX_WALK_SLOTS 512 /**< connection slots one list-walk step visits */
#define CEE_CTL_TIMEOUT_MS 5000  /**< unanswered by then: the request fails (WATCH: no limit) */

struct cee_shard;
struct cee_ctl;

/** One shard's counters as a STATS request returns them (a copy the shard made). */
struct cee_ctl_shard_stats {
	struct cee_shard_stats shard;
	struct cee_tcp_stats tcp;
	struct cee_tls_stats tls; /**< server and client contexts together */
	struct cee_ws_stats ws;   /**< server and client contexts together */
	struct cee_arp_stats arp;
	struct cee_monitor_stats mon;
	struct cee_evring_stats ring;
	struct cee_mbox_stats mbox;
	uint32_t live, max_conns; /**< live: announced connections (cee_shard_live()) */
	uint32_t half_open;       /**< passive connections half open, not announced */
	uint32_t tls_live;        /**< TLS states held (cee_tls_ctx_live(), both roles) */
	uint64_t tls_heap;        /**< wolfSSL's heap, the whole process's (cee_tls_heap_bytes()) */
	bool draining;
};

/* ---- shard side (the shard's lcore) --------------------------------------- */

/** Create shard @p s's mailbox ring (before launch). @return 0 or -errno. */
int cee_ctl_shard_init(struct cee_shard *s);
/** Free the ring and any request still in it (after the shard stopped). */
void cee_ctl_shard_fini(struct cee_shard *s);
/**
 * The mailbox phase of one poll iteration: one bounded step of a list walk
 * in progress, or up to CEE_MBOX_BUDGET requests. @return requests/steps done.
 */
unsigned cee_ctl_shard_poll(struct cee_shard *s);
/**
 * The shard stops serving (after it aborted its connections, which answers
 * the watches on them): answer everything pending with -ESHUTDOWN, mark the
 * mailbox closed.
 */
void cee_ctl_shard_close(struct cee_shard *s);

/**
 * Shard: done with @p r. Answered (DONE) when its requester still waits;
 * abandoned, it goes back to the control thread through @p m's back ring
 * (freed there: cee_ctl_back_drain()), or is freed here when @p m is NULL
 * or that ring is full. A LIST's record array (up to max_conns x 56
 * bytes, 56 MB at a million) freed on the shard's lcore was an munmap (or
 * the control thread's malloc arena lock) inside its poll loop.
 */
void cee_ctl_req_settle(struct cee_mbox *m, struct cee_mbox_req *r);
/** Shard: free-or-give-back an abandoned request @p r (as cee_ctl_req_settle()). */
void cee_ctl_req_give_back(struct cee_mbox *m, struct cee_mbox_req *r);
/** Control thread: free what the shard gave back. @return how many. */
unsigned cee_ctl_back_drain(struct cee_mbox *m);

/* ---- control side --------------------------------------------------------- */

struct cee_ctl_cfg {
	const char *name;       /**< engine name ("cee"): socket <runtime dir>/<name>_ctl.sock */
	const char *sock_path;  /**< NULL: that default; "": no socket */
	unsigned nshards;
	struct cee_mbox *const *mbox; /**< each shard's mailbox (ring and closed flag only) */
	uint32_t max_conns_per_shard; /**< room a list answer needs per shard */
	bool telemetry;         /**< register the /cee/ telemetry commands (once per process) */
	/**
	 * The `sinks` request (control thread): writes {"sinks":[...]} without
	 * a newline at @p buf. @return its length, or -ENOSPC. NULL: none.
	 */
	int (*sinks_json)(void *arg, char *buf, size_t len);
	void *sinks_arg;
	/**
	 * The `stats` request's part beyond the shards' counters (control
	 * thread): writes "ports":[...],"mbufs_free":N (the ports' driver
	 * counters) at @p buf. @return its length, or -ENOSPC. NULL: none.
	 */
	int (*ports_json)(void *arg, char *buf, size_t len);
	void *ports_arg;
	/**
	 * Which engine and run answer (every success reply carries both), and
	 * the guard of `conn`, `kill` and `watch` (ID RUN: answered only in
	 * that run): the run id, or the engine id when @p engine_per_run
	 * (a random one, made for this run). NULL: "".
	 */
	const char *engine_id;
	const char *run_id;
	bool engine_per_run;
};

/** The most a part from a callback (sinks, ports) may take, in a reply or --stats. */
#define CEE_CTL_PART_MAX (1u << 20)
/**
 * Call @p fn (a cee_ctl_cfg sinks_json or ports_json) into a buffer that
 * grows from 4 KiB until the part fits, up to CEE_CTL_PART_MAX.
 * @return its length with *@p out to free(), -ENOSPC when it is larger,
 * -ENOMEM, or @p fn's other error (*@p out NULL then).
 */
int cee_ctl_part(int (*fn)(void *arg, char *buf, size_t len), void *arg, char **out);

/**
 * Open the command socket and register the telemetry commands.
 * @return the control plane, or NULL with errno (message on stderr).
 */
struct cee_ctl *cee_ctl_create(const struct cee_ctl_cfg *cfg);
/** Close the socket, detach telemetry (waits for a handler in progress). NULL is fine. */
void cee_ctl_destroy(struct cee_ctl *c);
/**
 * One control-thread pass: accept, read requests, post them, send the
 * replies that are ready, advance a drain. Never blocks.
 * @return work done (0 = idle).
 */
int cee_ctl_poll(struct cee_ctl *c);
/** @return true once a drain finished: every shard refuses new connections and has none live. */
bool cee_ctl_drained(const struct cee_ctl *c);
/** Path of the command socket ("" when none). */
const char *cee_ctl_socket_path(const struct cee_ctl *c);
