/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

/**
 * @file
 * A shard: one worker lcore's connections, 4-tuple table, timers, event ring
 * and counters. Only its lcore writes them (after start-up); the control
 * thread reads counters only after the shard has stopped, or through
 * relaxed atomics where marked.
 */

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "cee_arp.h"
#include "cee_flow.h"
#include "cee_link.h"
#include "cee_conn.h"
#include "cee_engine.h"
#include "cee_evring.h"
#include "cee_mbox.h"
#include "cee_monitor.h"
#include "cee_net.h"
#include "cee_tcp.h"
#include "cee_timer.h"

#define CEE_RX_BURST 32
#define CEE_TX_BURST 32
#define CEE_TIMER_BUDGET 256
#define CEE_HANDOFF_RING 4096 /**< the largest hand-off ring (two or three shards) */

/**
 * Slots of each hand-off ring (one per ordered pair of shards) with
 * @p nshards: a power of two, 512 to CEE_HANDOFF_RING, such that what all
 * rings into one shard hold stays near the pool's 8192 mbufs a shard
 * ((n - 1) x size <= 8192 while size > 512). At 4096 each, one stalled
 * shard of 16 held 61,425 of the pool's 167,936 mbufs in its inbound rings,
 * two held enough to leave the receive queues of every shard without
 * mbufs: one slow shard stalled all of them.
 */
static inline unsigned cee_handoff_ring_size(unsigned nshards)
{
	unsigned size = CEE_HANDOFF_RING;
	while (size > 512 && (nshards > 1 ? nshards - 1 : 1) * size > 8192)
		size /= 2;
	return size;
}
#define CEE_RECYCLE 64 /**< received mbufs kept for the frames the shard builds next */
#define CEE_FRESH 32   /**< mbufs taken from the pool at once */
#define CEE_MOVED_MAX 8 /**< neighbours' new MACs held for the next walk of the connections */
#define CEE_ANNOUNCED_MAX 32 /**< announcements of addresses with no entry remembered (by address) */
#define CEE_ANNOUNCED_NS (60ull * 1000000000) /**< ... for this long */
#define CEE_MOVED_WALK_NS 10000000 /**< at most one such walk per 10 ms */

/**
 * Counters of one shard: X(field, total, meaning); total SUM or MAX over
 * shards. The ones every poll writes come first (one cache line). Exported under the field's name (cee_stats.c), with drops[] as
 * drops.<cause> (cee-ctl: drop_<cause>).
 */
#define CEE_SHARD_STATS_LIST(X)                                                                    \
	X(rx_pkts, SUM, "frames received")                                                         \
	X(tx_pkts, SUM, "frames sent")                                                             \
	X(polls, SUM, "poll loop iterations")                                                      \
	X(busy_tsc, SUM, "TSC cycles in iterations that found work")                               \
	X(poll_max_tsc, MAX, "longest iteration that found work, TSC cycles (preemption included)") \
	X(polls_over_2ms, SUM, "iterations that found work and took more than 2 ms")               \
	X(opened, SUM, "connections announced (open events)")                                      \
	X(destroyed, SUM, "connections freed (destroyed events)")                                  \
	X(closed, SUM, "connections closed (closed events)")                                       \
	X(half_open_ended, SUM, "passive connections ended half open: never announced, no event")   \
	X(refused, SUM, "SYNs refused: no event room, max_conns or draining")                      \
	X(refused_event_room, SUM, "of those, for want of event ring room (a consumer behind)")    \
	X(refused_sndbuf, SUM, "SYNs refused (RST): fewer than 1/16 of the send buffers free")    \
	X(tw_reclaimed, SUM, "TIME-WAIT connections ended early for a new one's slot (pool full)") \
	X(refused_link_room, SUM, "opens refused: the slots or event room left are held for links' next attempts") \
	X(refused_per_ip, SUM, "SYNs (and handshake-completing ACKs) refused (RST): --max-conns-per-ip from that address") \
	X(per_ip_cookies, SUM, "SYNs answered with a cookie: unproven ones fill their source's limit") \
	X(syn_rate_limited, SUM, "handshakes refused (RST): over --syn-rate-per-ip from that address") \
	X(syn_rate_cookies, SUM, "SYNs answered with a cookie: their address over --syn-rate-per-ip") \
	X(per_ip_untracked, SUM, "sources not limited: no room in the per-source table")          \
	X(connected, SUM, "active opens started (cee_shard_connect)")                              \
	X(connect_fail, SUM, "active opens refused: no slot, no event room, no source port")       \
	X(handoff_out, SUM, "frames passed to their owner shard")                                  \
	X(rss_mismatch, SUM, "ports whose NIC RSS hash differed from ours: steered by software hash") \
	X(arp_replies, SUM, "ARP replies sent")                                                    \
	X(arp_moved, SUM, "connections re-pointed to a neighbour's new MAC (a gratuitous or changed ARP)") \
	X(arp_moved_lost, SUM, "neighbour MAC changes not applied to connections: too many at once") \
	X(arp_moved_walks, SUM, "walks of the shard's connections that applied neighbour MAC changes") \
	X(arp_conflicts, SUM, "ARP packets from another MAC claiming one of our addresses (address conflict)") \
	X(arp_defended, SUM, "ARP announcements of our address sent against a conflict (RFC 5227 2.4(c): at most one in 10 s)") \
	X(arp_shared, SUM, "ARP packets copied to another shard (for our addresses, or gratuitous)") \
	X(icmp_replies, SUM, "ICMP echo replies sent")                                             \
	X(rst_no_conn, SUM, "RSTs sent for segments matching no connection")                       \
	X(no_route, SUM, "frames for destinations with no next hop")                              \
	X(layer_no_state, SUM, "TLS/WebSocket connections aborted: no layer state (pool or memory)") \
	X(layer_send_fail, SUM, "TLS/WebSocket connections aborted: a record or frame did not fit")  \
	X(app_send_deferred, SUM, "app sends that did not fit (taken in part, or -EAGAIN above TLS/WebSocket): writable follows") \
	X(tls_tsc, SUM, "TSC cycles spent in the TLS layer's input (handshakes, decryption)")      \
	X(tls_max_tsc, MAX, "longest single TLS input, TSC cycles (the stall one handshake causes)") \
	X(tls_over_1ms, SUM, "TLS inputs that took more than 1 ms")                               \
	X(tls_deferred, SUM, "TLS handshake inputs deferred to a later poll by the budget")        \
	X(tls_over_budget, SUM, "handshake inputs run beyond the budget: a segment above a staging buffer, a link's, or one after a FIN") \
	X(tls_held_back, SUM, "handshake segments not taken: the budget spent and no staging room (the peer sends them again)") \
	X(tls_unanswered, SUM, "handshakes the peer ended (FIN/RST) before our answer, over budget: not run") \
	X(link_attempts, SUM, "connections opened by links")                                      \
	X(link_ups, SUM, "links up (link_up events)")                                              \
	X(link_downs, SUM, "links down (link_down events)")                                        \
	X(link_failed, SUM, "link attempts that closed before they were up")                      \
	X(link_open_failed, SUM, "link attempts not opened: no slot, event room or source port")  \
	X(link_arp_waits, SUM, "link attempts put off 10 ms: next hop not resolved yet")          \
	X(link_no_monitor, SUM, "link attempts aborted: no monitor slot")                          \
	X(link_reclaimed, SUM, "a link's closed attempts in CLOSING, LAST-ACK or TIME-WAIT ended early: its next attempt needed the slot") \
	X(link_unreachable, SUM, "link attempts closed host_unreachable at once: ARP for the next hop went unanswered") \
	X(link_drain_notices, SUM, "links a drain stopped while not up: an attempt opened and closed shutdown at once, no SYN (the stream's word that no retry comes)")

/** Counters of one shard. Writer: the shard's lcore. */
#define CEE_X_SHARD_STAT_FIELD(f, t, d) uint64_t f;
struct cee_shard_stats {
	CEE_SHARD_STATS_LIST(CEE_X_SHARD_STAT_FIELD)
	uint64_t drops[CEE_DROP__COUNT];
};
#undef CEE_X_SHARD_STAT_FIELD

struct cee_port_info {
	uint16_t port_id;
	uint16_t nb_rxq;  /**< rx queues (shards >= nb_rxq poll none of this port) */
	bool rss;         /**< the NIC steers by cee_flow_hash in hardware */
	struct rte_ether_addr mac;
};

struct cee_shard {
	unsigned id;
	unsigned nshards;
	unsigned lcore;
	const struct cee_engine_cfg *cfg;
	const struct cee_port_info *ports;
	unsigned nports;

	struct cee_conn_pool *pool;
	const struct cee_conn_hash *chash; /**< the pool's bucket hash (cee_conn_bucket_h) */
	struct cee_timer_wheel *wheel;
	struct cee_evring *evring;
	struct cee_tcp_ctx tcp;
	struct rte_mempool *mp;

	// Send buffers: per class (0: tcp.sndbuf, 1: tcp.sndbuf_max, the
	// per-shard budget for long fat paths), a stack of free fixed-size
	// buffers carved from one block.
	struct {
		uint8_t *block;
		void **free;
		uint32_t nfree, count;
	} sb[2];
	uint32_t renege_slot;    /**< where sndbuf_renege()'s clock hand goes on */
	uint32_t syn_backlog;    /**< --syn-backlog, at most half this shard's slots */
	uint64_t renege_none_ns; /**< the poll iteration (now_ns) whose look found none */
	uint32_t evict_slot;	 /**< the same at admission, which may also reset stalled peers */
	uint64_t evict_none_ns;
	uint32_t tw_slot;        /**< where tw_reclaim()'s clock hand goes on */
	uint64_t tw_none_ns;     /**< the poll iteration whose look found no TIME-WAIT */

	// Software steering: handoff[j] carries packets from this shard to
	// shard j (single producer: us; single consumer: j).
	struct rte_ring *handoff[CEE_MAX_SHARDS];
	struct rte_ring *handoff_in[CEE_MAX_SHARDS];

	struct {
		struct rte_mbuf *pkts[CEE_TX_BURST];
		uint16_t n;
	} tx[CEE_MAX_PORTS];
	// cee_shard_abort_all() (0 otherwise): until when a full tx queue is
	// waited for (bounded), not dropped: the RSTs of connections that are
	// gone are not sent again; and the ports found not draining (bits),
	// not waited for again
	uint64_t tx_patient_until;
	uint8_t tx_stalled;
	// per port: is the NIC's RSS hash ours (cee_flow.h)?
	struct cee_rss_check rss_check[CEE_MAX_PORTS];

	// Received mbufs, once processed, become the next frames this shard
	// builds: their header and first data lines are still in this core's
	// cache, where a fresh one from the pool is cold. A stack (LIFO).
	struct rte_mbuf *recycle[CEE_RECYCLE];
	uint16_t nrecycle;
	uint16_t min_buf_len; /**< an mbuf smaller than our pool's is not kept */
	// Raw mbufs taken from the pool in bulk when no received one is left,
	// each prefetched a few frames before it is used.
	struct rte_mbuf *fresh[CEE_FRESH];
	uint16_t nfresh;
	uint16_t data_off0;   /**< from the mbuf to its data room start (+ headroom) */

	// Neighbours (ARP resolver) and active-open source choice.
	struct cee_arp *arp;
	uint64_t arp_tick_ns;
	uint64_t arp_conflict_said_ns; // the last address conflict said on stderr
	uint64_t arp_defended_ns;      // our last announcement against one
	/**
	 * Neighbours that announced a new MAC (a gratuitous ARP, or an entry
	 * whose MAC changed), applied to the connections by one walk at most
	 * every CEE_MOVED_WALK_NS (moved_walk_ns: not before).
	 */
	struct {
		uint32_t ip;
		uint16_t port;
		uint8_t mac[6];
		uint8_t old[6]; // the MAC the table had for ip (has_old)
		bool has_old;
	} moved[CEE_MOVED_MAX];
	uint32_t nmoved;
	uint64_t moved_walk_ns;
	/**
	 * Announcements of on-link addresses the table has no entry for (a
	 * passive connection's neighbour may have none), by address: one
	 * repeated with the same MAC within CEE_ANNOUNCED_NS is not noted
	 * again. Each forced a walk of every connection on every shard,
	 * however often a host refreshed it.
	 */
	struct {
		uint32_t ip;
		uint16_t port;
		uint8_t mac[6];
		uint64_t at_ns;
	} announced[CEE_ANNOUNCED_MAX];
	uint32_t tls_gen; /**< the cee_reload_request() count this shard has acted on */
	uint64_t tls_tick_ns; /**< the next step of the ticket key ratchet */
	uint32_t src_cursor; /**< next source (address offset, port) tried by cee_shard_connect */
	/** The bucket of the source cee_shard_open_active() tries next (prefetched) */
	struct {
		uint32_t bucket;  /**< cee_conn_bucket_h() */
		uint32_t cursor;  /**< src_cursor it was computed for */
		uint32_t dst_ip;
		uint16_t dst_port;
		bool valid;
	} next_src;

	uint64_t now_ns;
	uint64_t poll_tsc;  /**< TSC at the start of the current iteration */
	uint64_t ms_tsc;    /**< TSC cycles in a millisecond */
	bool poll_worked;   /**< the previous iteration found work */
	struct cee_siphash_key isn_key; /**< RFC 6528 F's secret (from cfg->hash_secret) */
	struct cee_siphash_key cookie_key; /**< the SYN cookies' MAC key (from cfg->hash_secret) */
	uint32_t ts_mul; /**< our TSvals' offset: bucket * ts_mul + tcp.ts_key (odd, secret) */
	uint64_t cookie_sent_ns; /**< when the last SYN cookie went (0: never): cookie ACKs are checked for 130 s after */
	unsigned evt_per_conn; /**< credits reserved per admitted connection */
	uint32_t half_open;    /**< passive connections not announced yet (CEE_TCB_O_QUIET) */
	uint64_t half_open_credits; /**< the event credits those hold (4 each on TCP, 18 with layers) */

	struct cee_shard_stats stats;

	// Per-source limits (cee_srclimit.h); NULL when none is set.
	struct cee_srclimit *srclimit;
	// Connection monitors (cee_monitor.h), created at the first one.
	struct cee_monitors *monitors;
	// This shard's links (cee_shard_link.c); NULL when it has none.
	struct cee_shard_links *links;
	/**
	 * Room held for this shard's links that wait to reconnect (in
	 * backoff, no connection of theirs open): a slot each, and the event
	 * credits of an attempt. Inbound connections and other active opens
	 * leave it free, so that a link comes back however busy its shard.
	 */
	uint32_t link_hold_slots;
	uint32_t link_hold_credits;

	// Layers (cee_shard_stack.c): this shard's contexts (server for tls:
	// and ws: listeners, clients for cee_shard_connect_layers) and the per-connection
	// layer stacks, a fixed pool (tcb.user points at a connection's).
	struct cee_tls_ctx *tls_srv, *tls_cli;
	struct cee_ws_ctx *ws_srv, *ws_cli;
	struct cee_stack *stacks;
	struct cee_stack *stack_free; /**< free list through cee_stack.next */
	unsigned evt_per_conn_layers;   /**< credits of a layered connection (tls_up, ws_up, extensions) */
	// Handshake budget: TSC cycles of TLS handshake work per poll iteration
	// (public-key operations cost hundreds of microseconds); handshake
	// bytes beyond it wait in a staging buffer for the next iteration, so
	// a burst of ClientHellos cannot stall every other connection.
	uint64_t tls_budget_tsc, tls_spent_tsc;
	bool tls_no_defer; /**< a FIN or RST segment is being processed: its bytes run now */
	struct cee_stack *pend_head, *pend_tail;
	uint8_t *stage_block;
	uint8_t **stage_free;
	uint32_t nstage_free;

	// Control -> shard queries and commands (cee_ctl.h): the ring and the
	// closed flag are shared (see cee_mbox.h); the rest is the shard's.
	struct cee_mbox mbox;

	// Control -> shard: stop request (control writes, shard reads).
	atomic_bool stop;
	// Control -> shard: a second stop signal: --shutdown-grace is cut short.
	atomic_bool hurry;
	// --shutdown-grace: shards whose own closes are not done yet (the
	// engine's, shared; NULL: this shard alone). One that is done keeps
	// polling until none is left: frames of another shard's connections
	// that land on its queue (software steering) are handed over.
	atomic_uint *grace_left;
	// Shard -> control: the shard aborted everything and left its loop.
	atomic_bool done;
} __rte_cache_aligned;

/** Allocate a shard's tables (on @p socket). @return 0 or -errno. */
int cee_shard_init(struct cee_shard *s, unsigned id, unsigned nshards, unsigned socket,
		   const struct cee_engine_cfg *cfg, const struct cee_port_info *ports,
		   unsigned nports, struct rte_mempool *mp);
void cee_shard_fini(struct cee_shard *s);
/** The lcore main loop (rte_eal_remote_launch). */
int cee_shard_main(void *arg);
/** One poll iteration (rx, steer, tcp, timers, tx). @return work done (0 = idle). */
unsigned cee_shard_poll(struct cee_shard *s);
/** Abort every live connection with @p reason and flush tx. */
void cee_shard_abort_all(struct cee_shard *s, enum cee_reason reason);
/**
 * Active open from one of our addresses to @p dst_ip:@p dst_port on port
 * index @p pi, with @p service (CEE_TCP_SVC_APP for an application-driven
 * client). The source (address in the engine's range, port 1024..65535) is
 * chosen so the flow hashes to this shard and its tuple is free. The next
 * hop is resolved by ARP (the SYN waits in the resolver's queue).
 * Shard lcore only. @return the connection, or NULL with errno ENOSPC (no
 * slot), ENOBUFS (no event room), EADDRNOTAVAIL (no free source),
 * ESHUTDOWN (the engine is draining: no new connections).
 */
struct cee_conn *cee_shard_connect(struct cee_shard *s, unsigned pi, uint32_t dst_ip,
				   uint16_t dst_port, enum cee_tcp_service service);
/**
 * @return true when the next hop towards @p dst_ip is resolved; otherwise
 * start (or keep) resolving it and return false. Lets an application wait
 * for ARP before opening a burst of connections (the resolver holds only
 * CEE_ARP_QUEUE frames per neighbour).
 */
bool cee_shard_neigh_ready(struct cee_shard *s, unsigned pi, uint32_t dst_ip);
/**
 * cee_shard_connect() with TLS above TCP (the engine's tls_client
 * context): the ClientHello goes once TCP is established, with @p sni
 * (may be NULL) and, when @p session is not NULL, that session offered for
 * resumption. The app's established hook runs at tls_up, recv gets
 * plaintext, cee_shard_send() sends plaintext. errno also ENOTSUP (no
 * client context) and ENOSPC (no TLS slot).
 */
struct cee_conn *cee_shard_connect_tls(struct cee_shard *s, unsigned pi, uint32_t dst_ip,
				       uint16_t dst_port, const char *sni,
				       const struct cee_tls_session *session);
/**
 * cee_shard_connect() with layers: TLS (the tls_client context; SNI
 * @p sni, @p session offered for resumption) and/or WebSocket (the
 * ws_client context: the upgrade for path "/" with Host @p sni, offering
 * cfg.ws.subprotocol) above TCP. The app's established hook runs when the
 * top layer is up; recv gets plaintext or whole messages; cee_shard_send()
 * sends through the top layer (a binary message for WebSocket);
 * cee_shard_close() closes through it (a WebSocket Close frame, then TCP
 * once the peer's Close came back). errno also ENOTSUP (no such context).
 */
struct cee_conn *cee_shard_connect_layers(struct cee_shard *s, unsigned pi, uint32_t dst_ip,
					  uint16_t dst_port, bool tls, bool ws, const char *sni,
					  const struct cee_tls_session *session);
/** The WebSocket layer of @p c (NULL without one): cee_ws_get_info(). */
struct cee_ws *cee_shard_ws(struct cee_conn *c);
/**
 * Watch connection @p id of this shard (its lcore only): @p fn runs
 * exactly once, at the connection's close with its reason, or at once with
 * its reason when it is closed already, or with CEE_MONITOR_GONE when no
 * live connection has that id (a stale id never matches a newer
 * connection) or when it is a half-open accepted one (not announced yet:
 * docs/events.md). Dropped with the connection.
 * @return a handle > 0 while it waits, 0 when it fired at once, -ENOSPC
 * (as many monitors as connection slots wait), -ENOMEM.
 */
int64_t cee_shard_monitor_add(struct cee_shard *s, cee_conn_id_t id, cee_monitor_fn fn, void *arg);
/** Stop a waiting monitor. @return 0, or -ENOENT (it fired, or a stale handle). */
int cee_shard_monitor_remove(struct cee_shard *s, int64_t handle);
/** One link as cee_shard_links_fill() reports it (host byte order). */
struct cee_link_info {
	char name[CEE_LINK_NAME_MAX + 1];
	uint32_t index;        /**< in the engine's list */
	uint32_t ip;
	uint16_t port;
	uint8_t tls;
	uint8_t state;         /**< enum cee_link_state */
	uint8_t last_reason;   /**< enum cee_reason of the last attempt's close */
	uint8_t arp_wait;      /**< BACKOFF: waiting for its next hop's ARP answer */
	cee_conn_id_t conn;    /**< current attempt, 0 when none */
	uint32_t attempts;     /**< connections opened: its open events */
	uint32_t refused;      /**< tries refused locally (no slot, event room, source port): no event */
	uint32_t ups, downs;
	uint64_t up_ms;        /**< UP: since link_up */
	uint64_t next_ms;      /**< BACKOFF: until the next attempt */
};

/**
 * Connections of @p s the event stream shows live: announced (open pushed),
 * not destroyed. Half-open passive connections hold a slot but are not
 * among them.
 */
static inline uint32_t cee_shard_live(const struct cee_shard *s)
{
	return cee_conn_live(s->pool) - s->half_open;
}

/** Links of this shard (its lcore, or any thread before launch). */
uint32_t cee_shard_links_count(const struct cee_shard *s);
/** Copy up to @p cap of this shard's links into @p out. Shard lcore only. @return records. */
uint32_t cee_shard_links_fill(struct cee_shard *s, struct cee_link_info *out, uint32_t cap);
/**
 * No more link attempts (cee-ctl drain; with @p stop, shutdown): links in
 * backoff are drained at once, those with an attempt running when it closes
 * (link_down then has no next_attempt_ms). Shard lcore only.
 */
void cee_shard_links_drain(struct cee_shard *s, bool stop);
/** In-order bytes @p c received, for its service: plaintext above TLS. */
uint64_t cee_shard_conn_bytes_in(const struct cee_conn *c);
/** Bytes @p c sent, for its service: plaintext above TLS (the closed event's bytes_out). */
uint64_t cee_shard_conn_bytes_out(const struct cee_conn *c);
/** The TLS layer of @p c (NULL for plain TCP): cee_tls_get_info(), cee_tls_session_get(). */
struct cee_tls *cee_shard_tls(struct cee_conn *c);
/**
 * cee_tcp_send() at the shard's current time (bytes taken, up to the send
 * buffer's room); above TLS or WebSocket, plaintext or one message, whole
 * or not at all, nothing sent when it does not go: -EAGAIN when it is more
 * than cee_shard_send_room() (before session 33 the record or frame was
 * begun, cut, and the connection lost), -EMSGSIZE when it is more than the
 * room of the empty buffer (it never goes whole: TLS plaintext goes in
 * pieces), -ENOBUFS when no send buffer is to be had and nothing is in
 * flight (no ACK will make room), -ENOTCONN before the top layer is up or
 * once a layer or TCP closed for sending (our close_notify or Close frame,
 * the peer's, a close). Sent and then failed: -ENOMEM when TLS's heap budget
 * (--tls-mem) refused the record, -ENOBUFS or -EIO when the layer failed
 * otherwise (the caller must end the connection: cee_shard_abort(), reason
 * no_resources). After a send cut short (plain TCP) or -EAGAIN, the app's
 * writable hook runs once, when an ACK frees room, while the connection
 * still sends.
 */
int cee_shard_send(struct cee_shard *s, struct cee_conn *c, const void *data, uint32_t len);
/**
 * Bytes (plaintext above TLS, one message's payload above WebSocket) that
 * cee_shard_send() takes whole now: the send buffer's free room, less the
 * layers' records and frame header (counted for the worst case), and less
 * room kept for the layers' own words (a Pong and a Close frame, a
 * close_notify and a KeyUpdate's answer). 0 when the connection does not
 * send (not up, closed for sending).
 */
uint32_t cee_shard_send_room(struct cee_shard *s, struct cee_conn *c);
/** cee_tcp_close() at the shard's current time. */
void cee_shard_close(struct cee_shard *s, struct cee_conn *c, enum cee_reason reason);
/** cee_tcp_abort() at the shard's current time. */
void cee_shard_abort(struct cee_shard *s, struct cee_conn *c, enum cee_reason reason);

/** Engine clock in ns (monotonic). */
uint64_t cee_clock_ns(void);

/**
 * SIGHUP's work (async-signal-safe): every shard reads its TLS
 * certificate, key and CA files again (renewed in place) at its next poll
 * iteration: new connections use them, live ones keep theirs (each shard
 * counts tls.reloads, or tls.reload_failures and says why on stderr); and
 * the engine's file sinks go on in a new file when theirs was renamed
 * away (log rotation, cee_exporter_rotate()).
 */
void cee_reload_request(void);
/** How many cee_reload_request() calls so far. */
uint32_t cee_reload_generation(void);

/**
 * The most event records one connection of an engine configured by @p cfg
 * reserves at admission (its whole lifecycle: a layered connection's
 * milestones and extension records, a link's link_up and link_down): an
 * event ring smaller than that could never admit one.
 */
unsigned cee_shard_conn_credits_max(const struct cee_engine_cfg *cfg);

/**
 * Records of each shard's event ring for @p cfg on @p nshards shards
 * (--event-ring, or every slot's reservation), 0 without events.
 */
uint32_t cee_shard_evring_records(const struct cee_engine_cfg *cfg, unsigned nshards);
/**
 * Connection slots of shard @p shard: its share of --max-conns, which
 * follows the flows it owns (cee_flow_share()), and at least two for each
 * of its links (its attempt's and its next's; links go round robin). With
 * many shards the share of a shard that owns one table entry fell below
 * its links' (1,000 over 100 shards, 500 links: 8 for 10), and a
 * configuration that had started was refused.
 */
uint32_t cee_shard_slots(const struct cee_engine_cfg *cfg, unsigned shard, unsigned nshards);
/**
 * Bytes of the pools shard @p shard fills as peers use them: its send
 * buffers (--sndbufs x --sndbuf, --sndbufs-max x --sndbuf-max, each with
 * its loss-recovery state) and its WebSocket buffers. Anonymous memory
 * touched only when used: what peers can make it touch, not what it
 * takes at start.
 */
uint64_t cee_shard_pool_bytes(const struct cee_engine_cfg *cfg, unsigned shard, unsigned nshards);

/**
 * Event records the links of shard @p shard (of @p nshards) keep: each its
 * current attempt's and the room of its next one, held while it runs: twice
 * a TCP link's lifecycle (4) or a TLS link's (18), with link_up and
 * link_down (8). 0 without events.
 */
uint64_t cee_shard_links_credits(const struct cee_engine_cfg *cfg, unsigned shard,
				 unsigned nshards);
