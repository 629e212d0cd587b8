/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

/*
 * Shard internals shared by cee_shard.c (the poll loop, TCP callbacks) and
 * cee_shard_tls.c (the layer stack above TCP). Shard lcore only.
 */

#include "cee_event.h"
#include "cee_shard.h"

/**
 * A connection's layers above TCP (tcb.user points at it): today TLS, then
 * the service. From the shard's fixed pool when the layer starts (TCP
 * established, or an active open with TLS) until destroyed.
 */
struct cee_stack {
	struct cee_shard *s;
	struct cee_conn *c;
	struct cee_tls *tls;
	struct cee_stack *next; /**< free list */
	uint64_t plain_in;      /**< plaintext bytes up (the closed event's bytes_in) */
	uint64_t plain_out;     /**< plaintext bytes down (bytes_out) */
	/**
	 * Handshake bytes deferred by the shard's per-poll TLS budget (a
	 * staging buffer from the shard's pool, NULL when none), and the link
	 * in the shard's FIFO of deferred stacks.
	 */
	uint8_t *pend;
	uint32_t pend_len;
	struct cee_stack *pend_next;
	uint8_t service;        /**< enum cee_tcp_service above TLS (APP: the app hooks) */
	bool client;            /**< an active open (cee_shard_connect_tls) */
	bool up;                /**< tls_up reported */
	bool echoed;            /**< echo-close: the first data went back */
	uint8_t depth;          /**< cee_tls_* calls running for it (they nest: send from up) */
	bool in_down;           /**< inside wolfSSL, handing bytes to TCP (no re-entry) */
	bool dead;              /**< destroyed meanwhile: freed when the outer call returns */
	bool quiet;             /**< closed (or closing before tls_up): nothing more goes up */
};

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
				       enum cee_proto proto, void *user);

/* cee_shard_tls.c */
/** Contexts and the stack pool, when the engine has TLS. @return 0 or -errno (message printed). */
int cee_shard_tls_init(struct cee_shard *s, uint32_t per_shard);
void cee_shard_tls_fini(struct cee_shard *s);
/**
 * Start of a poll iteration: the TLS budget is fresh, and deferred
 * handshakes run first, as far as it goes. @return handshakes run.
 */
unsigned cee_shard_tls_poll(struct cee_shard *s);
/**
 * A segment that ends the stream (RST, FIN) arrived for @p c: bytes the
 * budget deferred run first, so that what the peer sent before it (an
 * alert, close_notify) is the first cause, as it was on the wire.
 */
void cee_shard_tls_flush(struct cee_shard *s, struct cee_conn *c);
/** TCP established for a TLS connection: the layer starts (server) or says hello (client). */
void cee_shard_tls_established(struct cee_shard *s, struct cee_conn *c);
/** Ciphertext from TCP. */
void cee_shard_tls_recv(struct cee_shard *s, struct cee_conn *c, const uint8_t *data,
			uint32_t len);
/** The closed step of a TLS connection: pushes closed with its TLS extension. */
void cee_shard_tls_closed(struct cee_shard *s, struct cee_conn *c);
/** Destroyed: the stack returns to the pool. */
void cee_shard_tls_destroyed(struct cee_shard *s, struct cee_conn *c);
/** Plaintext from the app (cee_shard_send). @return bytes taken or -errno. */
int cee_shard_tls_send(struct cee_shard *s, struct cee_conn *c, const void *data, uint32_t len);
/**
 * Local close from the app: close_notify first (before tls_up: the layer
 * just stops). @return false when the connection went away meanwhile.
 */
bool cee_shard_tls_close(struct cee_shard *s, struct cee_conn *c, enum cee_reason reason);
