/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

/**
 * @file
 * TLS as a sans-I/O layer over wolfSSL (see cee_layer.h for the shape).
 *
 * Ciphertext from the TCP byte stream comes in through cee_tls_input();
 * wolfSSL reads it through custom I/O callbacks that return WANT_READ when
 * the bytes handed in are used up. Plaintext goes up through
 * cee_layer_io.up; ciphertext (handshake, records, alerts, close_notify)
 * goes down through cee_layer_io.down. No DPDK, no sockets, no locks.
 *
 * Contexts: one server and one client context per shard (a WOLFSSL_CTX is
 * then used by one thread only). Connections of a context come from its
 * fixed pool (cfg.max_conns); running out is -ENOSPC, not a crash.
 *
 * Versions: TLS 1.2 and 1.3 only; key exchange ECDHE only (groups P-256,
 * X25519, P-384). Session resumption by tickets: every context built with
 * the same cfg.ticket_key accepts the others' tickets (one key per engine,
 * so a resumed session works on any shard). wolfSSL's server-side session
 * cache is off (it is process-wide and locked).
 *
 * Handshake resources (wolfSSL's arrays, the peer's certificate chain
 * beyond the subject we keep) are freed as soon as the handshake is done,
 * on a server; a client keeps wolfSSL's arrays for the connection's life
 * (a TLS 1.3 NewSessionTicket after the handshake needs them).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cee_layer.h"

#define CEE_TLS_V12 0x0303
#define CEE_TLS_V13 0x0304

/** Settings of one context. Strings are copied or used during create only. */
struct cee_tls_cfg {
	const char *cert_file; /**< PEM chain (server: required; client: optional, for mutual TLS) */
	const char *key_file;  /**< PEM private key matching cert_file */
	/**
	 * PEM CA bundle. Server: clients must present a certificate that
	 * chains to it (mutual TLS). Client: the server's chain must verify
	 * against it (and its name match the SNI); NULL = no verification.
	 */
	const char *ca_file;
	uint16_t min_version;  /**< CEE_TLS_V12 (default when 0) or CEE_TLS_V13 */
	const char *ciphers;   /**< wolfSSL cipher list; NULL = cee's ECDHE AEAD default */
	/**
	 * ALPN: server: protocols accepted, in preference order, comma
	 * separated ("sip,http/1.1"); a client offering none of them gets no
	 * ALPN (not an alert). Client: protocols offered. NULL = no ALPN.
	 */
	const char *alpn;
	/**
	 * Engine-wide ticket key (server); all zero = tickets off. It seeds
	 * a ratchet: the key of epoch ticket_epoch0 derives from it, each next
	 * epoch's from the last, and a context keeps only the current epoch's
	 * and the one before (tickets live one to two periods): a key read
	 * from memory later opens no ticket older than that (forward secrecy
	 * for TLS 1.2 tickets, which hold the master secret). The caller may
	 * erase it once every context is made.
	 */
	uint8_t ticket_key[32];
	/** Epoch of ticket_key: CLOCK_MONOTONIC / ticket_rotate_ns when the engine began. */
	uint64_t ticket_epoch0;
	/** Ticket key period (default 1 hour). */
	uint64_t ticket_rotate_ns;
	/** Clock for the ticket epochs (tests); NULL = CLOCK_MONOTONIC. */
	uint64_t (*clock_ns)(void);
	uint32_t max_conns;    /**< pool size: connections this context holds at once */
	/**
	 * CEE_TLS_V12 or CEE_TLS_V13 (default when 0): the highest version
	 * offered or accepted. Mostly for tests: a TLS 1.2-only client.
	 */
	uint16_t max_version;
};

/** Counters of one context (one shard, one role). Writer: its shard. */
#define CEE_TLS_STATS_LIST(X)                                                                      \
	X(handshakes, "handshakes completed")                                                      \
	X(resumed, "handshakes that resumed a session (ticket)")                                   \
	X(handshake_failures, "handshakes that ended in an alert or an error")                     \
	X(alerts_sent, "fatal alerts we sent")                                                     \
	X(alerts_received, "alerts the peer sent (close_notify excluded)")                         \
	X(close_notify_received, "close_notify received")                                          \
	X(truncated, "streams that ended (FIN) without close_notify")                              \
	X(no_slot, "connections refused: the context's pool was full")                            \
	X(no_heap, "connections refused: wolfSSL's heap was near its budget (cee_tls_heap_budget)") \
	X(heap_refused, "connections ended: an allocation of wolfSSL's passed the heap budget")     \
	X(reloads, "certificate, key and CA files read again (cee_tls_ctx_reload)")                \
	X(ticket_rotations, "ticket keys replaced (one a period; the one before still opens)")     \
	X(reload_failures, "reloads refused (a file missing or bad): the running ones stay")     \
	X(quiet_records_exceeded, "connections ended: too many records without plaintext after the handshake (KeyUpdate floods)")

#define CEE_X_TLS_STAT_FIELD(f, d) uint64_t f;
struct cee_tls_stats {
	CEE_TLS_STATS_LIST(CEE_X_TLS_STAT_FIELD)
};
#undef CEE_X_TLS_STAT_FIELD

/** What a connection negotiated and how it ended; strings NUL-terminated. */
struct cee_tls_info {
	uint16_t version;     /**< CEE_TLS_V12 / CEE_TLS_V13 once up, else 0 */
	bool up;              /**< the handshake completed */
	bool resumed;         /**< by a session ticket */
	bool close_notify;    /**< the peer sent close_notify */
	bool truncated;       /**< the stream ended (cee_tls_eof) without close_notify */
	bool alert_local;     /**< alert: sent by us (true) or by the peer */
	uint8_t alert;        /**< fatal alert number (RFC 8446 6), 0 = none */
	char cipher[48];      /**< IANA name, e.g. "TLS_AES_128_GCM_SHA256" */
	char sni[256];        /**< server name (server: what the client asked for) */
	char alpn[32];        /**< negotiated protocol, "" when none */
	char peer_subject[256]; /**< peer certificate subject (mutual TLS / client), "" when none */
};

struct cee_tls_ctx;
struct cee_tls;
struct cee_tls_session;

/**
 * Process-wide set-up (wolfSSL_Init, the counting allocator behind
 * cee_tls_heap_bytes()). Call once before any context; idempotent.
 * @return 0 or -errno.
 */
int cee_tls_global_init(void);

/**
 * A context for @p server (true) or client connections. Unreadable or
 * mismatched files, bad versions or cipher lists are errors: NULL, errno
 * set, and a message that names the file or option in @p err.
 */
struct cee_tls_ctx *cee_tls_ctx_create(const struct cee_tls_cfg *cfg, bool server, char *err,
				       size_t errlen);
void cee_tls_ctx_destroy(struct cee_tls_ctx *ctx);
/**
 * Read @p cfg's certificate chain, key and CA bundle again (the files
 * renewed in place): new connections use them; live ones keep the ones
 * they started with. The rest of @p cfg must be what @p ctx was created
 * with. On failure nothing changes. @return 0, or -errno with a message
 * in @p err.
 */
int cee_tls_ctx_reload(struct cee_tls_ctx *ctx, const struct cee_tls_cfg *cfg, char *err,
		       size_t errlen);
const struct cee_tls_stats *cee_tls_ctx_stats(const struct cee_tls_ctx *ctx);
/**
 * Step the session-ticket key ratchet to the current epoch (once a
 * second): a context with no handshake for hours would otherwise keep an
 * old secret, from which every later key derives.
 */
void cee_tls_ctx_tick(struct cee_tls_ctx *ctx);
/**
 * Bound the heap wolfSSL may use, all contexts and threads together, to
 * what it uses now (the contexts: certificates, keys) plus @p bytes; 0 =
 * no bound (the default). No new connection's state is made once the heap
 * is above seven eighths of it (cee_tls_new: ENOMEM, stats.no_heap): the
 * last eighth is for the connections already made. An allocation that
 * would pass it fails, and the connection whose call it was ends with
 * no_resources (stats.heap_refused). Without it, each connection's state
 * (tens of KB) is allocated as peers come, and a machine whose memory ran
 * out killed the engine with every connection it held.
 */
void cee_tls_heap_budget(int64_t bytes);

/** Connections of @p ctx not yet freed (each holds its wolfSSL state: about 50 KB). */
uint32_t cee_tls_ctx_live(const struct cee_tls_ctx *ctx);

/**
 * Run one handshake against the server context @p ctx in memory, with a
 * throwaway client, so that wolfSSL's lazy set-up (a few milliseconds,
 * part of it per thread) happens now and not in the first client's
 * handshake. Call it on the thread that will use @p ctx. Counters are left
 * as they were. @return 0, or -errno when the handshake could not run.
 */
int cee_tls_ctx_warm(struct cee_tls_ctx *ctx);

/**
 * A connection of @p ctx talking through @p io (copied). @p sni: client
 * only, the server name to send and verify (NULL: none). The server waits
 * for the ClientHello; a client sends it in cee_tls_start().
 * @return it, or NULL with errno ENOSPC (pool full, counted) / ENOMEM (the
 * heap budget, counted; or out of memory).
 */
struct cee_tls *cee_tls_new(struct cee_tls_ctx *ctx, const struct cee_layer_io *io,
			    const char *sni);
/** Return @p t to its pool (no bytes are sent: close first). */
void cee_tls_free(struct cee_tls *t);

/** Client: offer @p s (from cee_tls_session_get) for resumption; before cee_tls_start. */
int cee_tls_set_session(struct cee_tls *t, const struct cee_tls_session *s);
/** Client: the session to resume later (a ticket), or NULL. Free with cee_tls_session_free. */
struct cee_tls_session *cee_tls_session_get(struct cee_tls *t);
void cee_tls_session_free(struct cee_tls_session *s);
/** The lifetime (s) the server gave @p s's ticket: a client drops it after that. */
uint32_t cee_tls_session_lifetime_s(const struct cee_tls_session *s);
/** Server: how old (s) a ticket @p t still resumes from (wolfSSL's session timeout). */
long cee_tls_session_timeout_s(const struct cee_tls *t);

/** Client: send the ClientHello. @return 0 or -errno. */
int cee_tls_start(struct cee_tls *t);

/**
 * Ciphertext from below. Drives the handshake (milestone CEE_EVT_TLS_UP
 * when done), passes plaintext up, and reports the end through io.close:
 * tls_close_notify (our close_notify is sent back), tls_alert (a fatal
 * alert from the peer, or one we sent for bad input: bad certificate,
 * unknown CA, protocol version, decode error), protocol_error (garbage
 * that is not TLS), no_resources (the heap budget refused an allocation,
 * or io.down refused a record). Split records are fine: bytes are kept
 * until whole.
 * @return 0, or -errno after io.close was called (-EPROTO; -ENOMEM or
 * -ENOBUFS with no_resources) or when called after the end (-ENOTCONN).
 */
int cee_tls_input(struct cee_tls *t, const uint8_t *data, uint32_t len);

/**
 * Plaintext from above, sent as records through io.down.
 * @return @p len, -ENOTCONN before tls_up, after our close_notify (the peer
 * may still send: nothing can answer) or after the end, -ENOBUFS when
 * io.down could not take the records, -ENOMEM when the heap budget
 * (--tls-mem) refused the record, -EIO when wolfSSL failed otherwise (the
 * connection must then be aborted: TLS records cannot be taken back).
 */
int cee_tls_send(struct cee_tls *t, const uint8_t *data, uint32_t len);
/**
 * Plaintext cee_tls_send() surely takes whole when the layer below takes
 * @p wire bytes now, given in sends of at most @p chunk bytes each (0:
 * one send; a WebSocket frame goes down in pieces): each record's header,
 * tag and padding counted (wolfSSL_GetOutputSize() of a full record, and a
 * block more), the records of each piece (more than one when a piece is
 * longer than a record holds). 0 when it does not send (not up, our
 * close_notify out). The heap budget (--tls-mem) may still refuse a send
 * (-ENOMEM).
 */
uint32_t cee_tls_send_room(struct cee_tls *t, uint32_t wire, uint32_t chunk);
/** Whether cee_tls_send() takes plaintext now or later: up, our close_notify not out. */
bool cee_tls_sends(const struct cee_tls *t);
/**
 * TLS 1.3: send a KeyUpdate (RFC 8446 4.6.3) asking the peer to update
 * its keys too. For tests (and a link that wants fresh keys).
 * @return 0, -ENOTCONN (not up, closed, TLS 1.2), -ENOBUFS (the record did
 * not fit below: the stream is broken), -EIO.
 */
int cee_tls_update_keys(struct cee_tls *t);

/** Local close (from above): send close_notify once. Does not call io.close. */
void cee_tls_shutdown(struct cee_tls *t);

/**
 * The stream below ended (the peer's FIN). @return true when it ended
 * without close_notify (truncation: counted, info.truncated set).
 */
bool cee_tls_eof(struct cee_tls *t);

/**
 * Whether the default cipher list (no --tls-ciphers) puts ChaCha20-Poly1305
 * first: when the wolfSSL built against has no AES-NI, where its AES-GCM
 * is the slower (cee_tls.c); else AES-GCM first.
 */
bool cee_tls_prefers_chacha(void);

/** Has anything of @p t gone down yet (a server: its first flight)? */
bool cee_tls_said(const struct cee_tls *t);

/**
 * Input bytes @p t holds unanswered: those of the record the input ended
 * inside (wolfSSL keeps them until the rest comes; each read takes only
 * what the record needs). Its plaintext goes up when it is whole.
 */
uint32_t cee_tls_held(const struct cee_tls *t);

/** Fill @p info. Strings stay valid after the handshake resources are freed. */
void cee_tls_get_info(const struct cee_tls *t, struct cee_tls_info *info);

/** Bytes wolfSSL holds on the heap now, all threads (the counting allocator). */
int64_t cee_tls_heap_bytes(void);
/**
 * The bound cee_tls_heap_budget() put on cee_tls_heap_bytes() (0: none),
 * with what each shard's warm-up kept on its own thread added to it.
 */
int64_t cee_tls_heap_limit(void);
