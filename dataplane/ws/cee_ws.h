/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

/**
 * @file
 * WebSocket (RFC 6455) server side as a sans-I/O layer (tls/cee_layer.h):
 * the HTTP/1.1 upgrade, then frames. No DPDK, no clock of its own (times
 * are passed in), no allocation after the context is created: connection
 * state and the buffers for an upgrade request or a message being
 * reassembled come from the context's fixed pools.
 *
 * Bytes from below (TCP, or TLS plaintext for wss) come in through
 * cee_ws_input(). The upgrade request is answered through io.down (101, or
 * 400/403/404/426/431 and then io.close(CEE_REASON_WS_UPGRADE_FAILED)).
 * Once up (io.milestone(CEE_EVT_WS_UP)), each complete data message goes
 * up with ONE io.up call (cee_ws_msg_text() tells its type during that
 * call); pings are answered with pongs; a Close frame is answered with a
 * Close frame and ends the layer (io.close(CEE_REASON_WS_CLOSE)). A
 * protocol error (unmasked frame, reserved bits or opcodes, bad UTF-8,
 * oversized frame or message, bad control frame, bad close code) sends a
 * Close frame with the matching code (1002, 1007, 1009; 1008 for a message
 * not finished in time) and ends the layer with
 * io.close(CEE_REASON_PROTOCOL_ERROR); no reassembly buffer free: 1013 and
 * io.close(CEE_REASON_NO_RESOURCES). io.close is called at most once.
 *
 * Time: the owner calls cee_ws_timer() when cee_ws_deadline() passes:
 * server pings (cfg.ping_interval_ns of silence from the peer), the pong
 * timeout (io.close(CEE_REASON_WS_PING_TIMEOUT)), and the wait for the
 * peer's Close after ours (cfg.close_timeout_ns).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cee_layer.h"

/** Close codes (RFC 6455 7.4.1). */
#define CEE_WS_NORMAL 1000
#define CEE_WS_GOING_AWAY 1001
#define CEE_WS_PROTOCOL_ERROR 1002
#define CEE_WS_NO_STATUS 1005    /**< reported when a Close frame carries no code */
#define CEE_WS_ABNORMAL 1006     /**< reported when the stream ended without a Close frame */
#define CEE_WS_BAD_DATA 1007     /**< invalid UTF-8 in a text message */
#define CEE_WS_POLICY 1008      /**< a message not finished in time (message_timeout_ns) */
#define CEE_WS_TOO_BIG 1009
#define CEE_WS_TRY_AGAIN 1013    /**< no reassembly buffer free */

struct cee_ws_cfg {
	const char *path;        /**< the request path served (default "/"); others get 404 */
	/**
	 * Subprotocol accepted (default "sip", RFC 7118): chosen when the
	 * client offers it; a client that offers none is accepted without
	 * one; a client that offers only others gets none (not an error).
	 * NULL or "": never one.
	 */
	const char *subprotocol;
	/** Comma-separated Origin allow-list; NULL = any. A listed set refuses other Origins (403); a request without Origin is accepted. */
	const char *origins;
	uint32_t max_header;     /**< upgrade request bytes (default 8192): more is 431 */
	uint32_t max_frame;      /**< largest frame payload (default 65536): more is 1009 */
	uint32_t max_message;    /**< largest reassembled message (default 65536): more is 1009 */
	uint64_t close_timeout_ns; /**< wait for the peer's Close after ours (default 5 s) */
	uint64_t ping_interval_ns; /**< ping after this much silence from the peer; 0 = never */
	uint64_t pong_timeout_ns;  /**< then no frame at all for this long: ws_ping_timeout (default 10 s) */
	/**
	 * A message (or control frame) begun, and so a buffer held, must be
	 * whole within this (default 10 s): else Close 1008, protocol_error.
	 * Without it a peer that began messages and never ended them held
	 * every buffer, and other connections' split messages got 1013.
	 */
	uint64_t message_timeout_ns;
	/**
	 * When a connection needs a buffer and none is free, the one held
	 * longest is taken back if held this long (default 1 s, at most
	 * message_timeout_ns): its connection ends with Close 1013 (503 for an
	 * upgrade request), no_resources, counted in buffer_reclaims.
	 */
	uint64_t buffer_hold_ns;
	uint32_t max_conns;      /**< connection pool */
	/** Buffers (max(max_header, max_message) bytes each) for upgrades and partial messages; 0 = max_conns / 8 + 16. */
	uint32_t buffers;
	/**
	 * Client role: keys and masks are SipHash-2-4 of a counter under a key
	 * from getrandom() (RFC 6455 10.3). A seed other than 0 makes that key
	 * from it instead: the same keys and masks every run (tests only).
	 */
	uint64_t seed;
};

/** Counters of one context. */
#define CEE_WS_STATS_LIST(X)                                                                       \
	X(upgrades, "upgrades completed (101)")                                                    \
	X(upgrade_failures, "upgrade requests refused (4xx) or cut off (not counted: no request)")  \
	X(messages_in, "data messages received")                                                   \
	X(messages_out, "data messages sent")                                                      \
	X(pings_sent, "pings we sent")                                                             \
	X(pongs_coalesced, "pings answered by the pong of a later one in the same input")         \
	X(ping_timeouts, "connections ended: no answer to our ping")                               \
	X(closes_received, "Close frames received")                                                \
	X(closes_sent, "Close frames sent")                                                        \
	X(protocol_errors, "connections failed for a protocol error (1002, 1007, 1008, 1009)")     \
	X(no_buffer, "frames refused for want of a buffer (1013)")                                 \
	X(buffer_reclaims, "buffers taken back from the connection holding one longest (1013)")   \
	X(message_timeouts, "connections failed: a message not finished in time (1008)")           \
	X(no_slot, "connections refused: the pool was full")

#define CEE_X_WS_STAT_FIELD(f, d) uint64_t f;
struct cee_ws_stats {
	CEE_WS_STATS_LIST(CEE_X_WS_STAT_FIELD)
};
#undef CEE_X_WS_STAT_FIELD

/** What a connection asked for and how it ended; strings NUL-terminated, cut to fit. */
struct cee_ws_info {
	bool up;               /**< 101 sent */
	bool close_received;   /**< the peer's Close frame arrived */
	bool close_sent;       /**< our Close frame went down */
	bool clean;            /**< the Close handshake completed (both Close frames) */
	uint16_t http_status;  /**< status we answered the upgrade with (101, 400, ...), 0 = none yet */
	uint16_t code;         /**< close code: the peer's (or 1005), or ours on a protocol error; 1006 = none */
	char reason[124];      /**< close reason text (the peer's, or ours) */
	uint8_t reason_len;    /**< its bytes: the peer's may hold a NUL (U+0000 is UTF-8) */
	char path[128];
	char subprotocol[32];  /**< the one chosen, "" = none */
	char origin[128];
	char user_agent[128];
};

struct cee_ws_ctx;
struct cee_ws;

/** @return a context, or NULL with errno and a message in @p err (bad cfg, ENOMEM). */
struct cee_ws_ctx *cee_ws_ctx_create(const struct cee_ws_cfg *cfg, char *err, size_t errlen);
/**
 * Bytes of the buffers a context made from @p cfg holds (its largest
 * block: touched as upgrades and split messages use it).
 */
uint64_t cee_ws_ctx_buffer_bytes(const struct cee_ws_cfg *cfg);
void cee_ws_ctx_destroy(struct cee_ws_ctx *ctx);
const struct cee_ws_stats *cee_ws_ctx_stats(const struct cee_ws_ctx *ctx);

/** A server connection (waiting for the upgrade request). NULL + errno ENOSPC when the pool is full (counted). */
struct cee_ws *cee_ws_new(struct cee_ws_ctx *ctx, const struct cee_layer_io *io, uint64_t now_ns);
/** Return @p ws and any buffer it holds to the pools (sends nothing). */
void cee_ws_free(struct cee_ws *ws);

/**
 * Bytes from below. Split anywhere (an upgrade request or a frame may come
 * one byte at a time). @return 0, -EPROTO after io.close was called,
 * -ENOTCONN after the end.
 */
int cee_ws_input(struct cee_ws *ws, const uint8_t *data, uint32_t len, uint64_t now_ns);
/** During io.up: whether the message is text (opcode 1) or binary (2). */
bool cee_ws_msg_text(const struct cee_ws *ws);
/**
 * Payload bytes of a data message begun and not yet whole (held in a
 * reassembly buffer): it goes up, and an echo answers it, when it ends.
 */
uint32_t cee_ws_held(const struct cee_ws *ws);
/**
 * Send one message (unmasked, one frame). @return @p len, -ENOTCONN before
 * ws_up or once a Close was sent or received, -ENOBUFS when io.down could
 * not take it all (the connection must then be aborted).
 */
int cee_ws_send(struct cee_ws *ws, const uint8_t *data, uint32_t len, bool text, uint64_t now_ns);
/**
 * How a message goes down (for the room of the layer below): at most
 * CEE_WS_FRAME_HDR_MAX bytes of header beside its payload, in io.down calls
 * of at most CEE_WS_SEND_PIECE bytes, or two (the header, then the payload)
 * when a server's message is longer.
 */
#define CEE_WS_FRAME_HDR_MAX 14
#define CEE_WS_SEND_PIECE (4096 + CEE_WS_FRAME_HDR_MAX)
/** Whether cee_ws_send() takes a message now or later: up, no Close sent or received. */
bool cee_ws_sends(const struct cee_ws *ws);
/**
 * Local close from above: send a Close frame with @p code and @p reason
 * (once), then wait up to cfg.close_timeout_ns for the peer's Close, which
 * ends the layer (io.close(CEE_REASON_WS_CLOSE), clean). Before ws_up:
 * nothing is sent.
 */
void cee_ws_shutdown(struct cee_ws *ws, uint16_t code, const char *reason, uint64_t now_ns);
/**
 * The stream under @p ws is closing (TLS ended under it, or its owner
 * closes before the upgrade): nothing more goes down. A reassembly buffer
 * it still holds may then be taken back for another connection without a
 * Close frame or io.close (the layer ends, code 1006).
 */
void cee_ws_below_gone(struct cee_ws *ws);
/**
 * The stream below ended (the peer's FIN). @return true when no Close frame
 * was received (info.code 1006 unless one was set, clean false).
 */
bool cee_ws_eof(struct cee_ws *ws);
/**
 * Does the peer owe us an answer? Its Close, when ours went down (a
 * protocol error's, a message timeout's, a 1013, a shutdown's) and its own
 * has not come (RFC 6455 5.5.1 obliges it to answer); or the Pong to our
 * last Ping (sent within the pong timeout), which it may send after its own
 * Close (5.5.1 forbids data frames then, not control frames: a Ping that
 * crossed its Close). Not after our Close waited out the close timeout.
 */
bool cee_ws_answer_owed(const struct cee_ws *ws, uint64_t now_ns);
/** @return the next time cee_ws_timer() must run, 0 = none. */
uint64_t cee_ws_deadline(const struct cee_ws *ws);
/** Timers due at @p now_ns: ping, pong timeout, close timeout. */
void cee_ws_timer(struct cee_ws *ws, uint64_t now_ns);
void cee_ws_get_info(const struct cee_ws *ws, struct cee_ws_info *info);

/**
 * Client role (RFC 6455 4.1), for tests and cee-bench: a connection that
 * sends the upgrade request for @p host and @p path offering
 * @p subprotocol (NULL: none) when cee_ws_start() is called, checks the
 * 101 (Sec-WebSocket-Accept, subprotocol) and then speaks like the server
 * side with the roles swapped: its frames are masked, the server's must
 * not be. A bad answer ends it with io.close(CEE_REASON_WS_UPGRADE_FAILED).
 * NULL + errno ENOSPC when the pool is full.
 */
struct cee_ws *cee_ws_new_client(struct cee_ws_ctx *ctx, const struct cee_layer_io *io,
				 const char *host, const char *path, const char *subprotocol,
				 uint64_t now_ns);
/** Client: send the upgrade request. @return 0 or -errno (-ENOBUFS: io.down refused it). */
int cee_ws_start(struct cee_ws *ws, uint64_t now_ns);

/** The Sec-WebSocket-Accept value for a request key (base64, NUL-terminated; 28 characters). */
void cee_ws_accept_key(const char *key_b64, char out[29]);

/** Buffers of @p ctx's pool not held by a connection now (an idle established connection holds none). */
uint32_t cee_ws_ctx_buffers_free(const struct cee_ws_ctx *ctx);
/**
 * Memory of @p ctx's fixed pools. @return the bytes of both pools; @p conn_size
 * and @p buf_size (either may be NULL) get the bytes of one connection and of
 * one buffer.
 */
size_t cee_ws_ctx_memory(const struct cee_ws_ctx *ctx, size_t *conn_size, size_t *buf_size);
