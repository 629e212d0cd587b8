/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

/*
 * Shard internals shared by cee_shard.c (the poll loop, TCP callbacks) and
 * cee_shard_stack.c (the layer stack above TCP). Shard lcore only.
 */

#include "cee_event.h"
#include "cee_shard.h"

/**
 * A connection's layers above TCP (tcb.user points at it): TLS and/or
 * WebSocket, then the service. From the shard's fixed pool when the layers
 * start (TCP established, or an active open) until destroyed.
 */
struct cee_stack {
	struct cee_shard *s;
	struct cee_conn *c;
	struct cee_tls *tls;    /**< NULL: no TLS */
	struct cee_ws *ws;      /**< NULL: no WebSocket */
	struct cee_stack *next; /**< free list */
	/**
	 * TLS handshake bytes deferred by the shard's per-poll budget (a
	 * staging buffer from the shard's pool, NULL when none), and the link
	 * in the shard's FIFO of deferred stacks.
	 */
	uint8_t *pend;
	uint32_t pend_len;
	struct cee_stack *pend_next;
	uint64_t plain_in;      /**< service bytes up (the closed event's bytes_in) */
	uint64_t plain_out;     /**< service bytes down (bytes_out) */
	uint8_t service;        /**< enum cee_tcp_service above the layers (APP: the app hooks) */
	uint8_t depth;          /**< layer calls running for it (they nest: send from up) */
	bool client;            /**< an active open (cee_shard_connect_layers) */
	bool tls_up;            /**< tls_up reported */
	bool up;                /**< the top layer is up (tls_up, or ws_up with WebSocket) */
	bool echoed;            /**< echo-close: the first data went back */
	bool in_down;           /**< inside a layer's send, handing bytes to TCP (no re-entry) */
	bool dead;              /**< destroyed meanwhile: freed when the outer call returns */
	bool quiet;             /**< closed (or closing before up): nothing more goes up */
	bool closing;           /**< TCP is closing (a layer ended, or TCP's own close): no more layer work */
	bool down_short;        /**< TCP took less than a layer handed down: the stream is broken */
	bool drop_input;        /**< a handshake the peer ended unanswered: its bytes go nowhere */
};

/** The session-ticket key ratchet's step, once a second. */
void cee_stack_tls_tick(struct cee_shard *s);
/** Read the shard's TLS files again (cee_reload_request()). */
void cee_stack_tls_reload(struct cee_shard *s);

/**
 * Push event @p type of @p c, preceded by the extension records in @p ext
 * (NULL: none). Spends one credit per record.
 */
void cee_shard_emit(struct cee_shard *s, struct cee_conn *c, enum cee_evt_type type,
		    struct cee_ext_builder *ext);
/** Reserve @p n event credits. @return false when the ring has no room (refuse). */
bool cee_shard_reserve_events(struct cee_shard *s, unsigned n);
void cee_shard_unreserve_events(struct cee_shard *s, uint32_t n);

/**
 * cee_shard_connect() for a connection of @p proto whose tcb.user is
 * @p user (its stack, set before open is reported).
 */
struct cee_conn *cee_shard_open_active(struct cee_shard *s, unsigned pi, uint32_t dst_ip,
				       uint16_t dst_port, enum cee_tcp_service service,
				       enum cee_proto proto, void *user, uint32_t link);
/** Next hop towards @p dst_ip (itself on link, else the gateway); 0: no route. */
uint32_t cee_shard_next_hop(const struct cee_shard *s, uint32_t dst_ip);
/**
 * The resolver gave up on the next hop towards @p dst_ip: its requests went
 * unanswered (CEE_ARP_FAILED: frames to it are dropped until the hold-down
 * ends, then it is asked again).
 */
bool cee_shard_neigh_failed(const struct cee_shard *s, uint32_t dst_ip);

/* cee_shard_link.c */
/**
 * Event credits a link's attempt holds beyond its protocol's: link_up and
 * link_down, and the extension records of those and of open (2 at most each).
 */
#define CEE_LINK_EVT_EXTRA (2 + 3 * 2)

/** The layers' handshake limit of an active open under --handshake-timeout 0 (10 s, its default). */
#define CEE_ACTIVE_HANDSHAKE_NS (10 * 1000000000ull)

/**
 * Room for one more connection needing @p credits beside what this shard
 * holds for its waiting links (cee_shard.link_hold_*): a free slot past
 * theirs, and event room past theirs. A link's own attempt asks once it gave its hold back.
 */
bool cee_shard_link_room(const struct cee_shard *s, unsigned credits);
/** The free slots are all held for links' next attempts (or fewer). */
bool cee_shard_slots_held(const struct cee_shard *s);
/** Event credits a TCP connection holds: open, established, closed, destroyed. */
#define CEE_CONN_EVT_TCP 4
/** A layered one's: tls_up, ws_up, and the extension records of those and closed. */
#define CEE_CONN_EVT_LAYERS (6 + 3 * CEE_EVT_EXT_MAX)
/** This shard's links, each due at once. @return 0 or -ENOMEM. */
int cee_shard_links_init(struct cee_shard *s);
void cee_shard_links_fini(struct cee_shard *s);
/** Open the attempts that are due (bounded per call). @return attempts looked at. */
unsigned cee_shard_links_poll(struct cee_shard *s);
/** The open event of link attempt @p c, with the link's name. */
void cee_shard_link_open_ext(struct cee_shard *s, struct cee_conn *c);
/** Link attempt @p c is up (established, or its top layer's milestone): link_up. */
void cee_shard_link_up(struct cee_shard *s, struct cee_conn *c);

/* cee_shard_stack.c */
/**
 * cee_shard_connect_layers() with @p service above the layers (APP: the
 * app's hooks) and link tag @p link (cee_conn.link).
 */
struct cee_conn *cee_stack_connect(struct cee_shard *s, unsigned pi, uint32_t dst_ip,
				   uint16_t dst_port, bool tls, bool ws, const char *sni,
				   const struct cee_tls_session *session,
				   enum cee_tcp_service service, uint32_t link);
/** Contexts and the stack pool, when the engine has layers. @return 0 or -errno (message printed). */
int cee_stack_init(struct cee_shard *s, uint32_t per_shard);
/** Bytes of the layers' buffer pools (WebSocket's) a shard of @p per_shard slots holds. */
uint64_t cee_stack_pool_bytes(const struct cee_engine_cfg *cfg, uint32_t per_shard);
void cee_stack_fini(struct cee_shard *s);
/**
 * Start of a poll iteration: the TLS budget is fresh, and deferred
 * handshakes run first, as far as it goes. @return handshakes run.
 */
unsigned cee_stack_poll(struct cee_shard *s);
/**
 * A segment that ends the stream (RST, FIN) arrived for @p c: bytes the
 * budget deferred run first, so that what the peer sent before it (an
 * alert, close_notify) is the first cause, as it was on the wire.
 */
void cee_stack_flush(struct cee_shard *s, struct cee_conn *c);
/** TCP established: the layers start (server) or say hello (client). */
void cee_stack_established(struct cee_shard *s, struct cee_conn *c);
/**
 * TCP asks, before it takes an in-order segment without FIN: @return false
 * when its bytes are to wait for the peer's retransmission (a handshake
 * input past the budget with no staging room; counted in tls_held_back).
 */
bool cee_stack_recv_room(struct cee_shard *s, struct cee_conn *c, uint32_t len);
/** TCP's paced_keep for a layered connection (@p buff: its send buffer's size). */
uint32_t cee_stack_paced_keep(const struct cee_conn *c, uint32_t buff);
/** Bytes from TCP. */
void cee_stack_recv(struct cee_shard *s, struct cee_conn *c, const uint8_t *data, uint32_t len);
/**
 * A segment with FIN or RST is about to go to TCP: @return true when its
 * bytes (and those staged before them) are to get no TLS work: a server's
 * handshake not answered yet, with the handshake budget spent.
 */
bool cee_stack_end_unanswered(struct cee_shard *s, struct cee_conn *c);
/**
 * After TCP took the segment cee_stack_end_unanswered() said true for: its
 * FIN taken, the staged bytes are dropped; not taken, the handshake goes on.
 */
void cee_stack_end_unanswered_after(struct cee_shard *s, cee_conn_id_t id);
/** The closed step: pushes closed with the layers' extension. */
void cee_stack_closed(struct cee_shard *s, struct cee_conn *c);
/** Destroyed: the stack returns to the pool. */
void cee_stack_destroyed(struct cee_shard *s, struct cee_conn *c);
/** TCP's owner deadline passed (handshake limit, WebSocket timers). */
void cee_stack_deadline(struct cee_shard *s, struct cee_conn *c);
/** TCP closes on its own (idle timeout, peer FIN): the layers' last words. */
void cee_stack_closing(struct cee_shard *s, struct cee_conn *c, enum cee_reason reason);
/**
 * Data from the app (cee_shard_send). @return bytes taken or -errno;
 * -EAGAIN, nothing sent, when more than cee_stack_send_room().
 */
int cee_stack_send(struct cee_shard *s, struct cee_conn *c, const void *data, uint32_t len);
/** What cee_stack_send() takes whole now (cee_shard_send_room()). */
uint32_t cee_stack_send_room(struct cee_shard *s, struct cee_conn *c);
/** An app's connection, up and not closed: its sends are the app's (writable). */
bool cee_stack_app_up(const struct cee_conn *c);
/**
 * Local close from the app: close_notify, or a WebSocket Close frame
 * (before the handshakes are done the layers just stop). @return 1: close
 * TCP now; 0: not yet (WebSocket waits for the peer's Close, then closes);
 * -1: the connection went away meanwhile.
 */
int cee_stack_close(struct cee_shard *s, struct cee_conn *c, enum cee_reason reason);
