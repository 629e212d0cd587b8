/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

/**
 * @file
 * Lifecycle event records, and the one list of event types, close reasons
 * and protocols that every printer and parser uses.
 */

#include <stdint.h>
#include <stddef.h>

#include "cee_id.h"

/** Version of the exported event schema (JSON "v", binary header). */
#define CEE_EVT_SCHEMA_VERSION 1

/* X(enumerator suffix, printed name) */
#define CEE_EVT_TYPE_LIST(X)                                                                       \
	X(OPEN, "open")                                                                            \
	X(ESTABLISHED, "established")                                                              \
	X(TLS_UP, "tls_up")                                                                        \
	X(WS_UP, "ws_up")                                                                          \
	X(CLOSED, "closed")                                                                        \
	X(DESTROYED, "destroyed")

#define CEE_REASON_LIST(X)                                                                         \
	X(NONE, "none")                                                                            \
	X(PEER_FIN, "peer_fin")                                                                    \
	X(PEER_RST, "peer_rst")                                                                    \
	X(LOCAL_CLOSE, "local_close")                                                              \
	X(IDLE_TIMEOUT, "idle_timeout")                                                            \
	X(HANDSHAKE_TIMEOUT, "handshake_timeout")                                                  \
	X(RETRANSMIT_TIMEOUT, "retransmit_timeout")                                                \
	X(TLS_ALERT, "tls_alert")                                                                  \
	X(TLS_CLOSE_NOTIFY, "tls_close_notify")                                                    \
	X(WS_CLOSE, "ws_close")                                                                    \
	X(PROTOCOL_ERROR, "protocol_error")                                                        \
	X(ADMIN_KILL, "admin_kill")                                                                \
	X(PORT_DOWN, "port_down")                                                                  \
	X(SHUTDOWN, "shutdown")                                                                    \
	X(NO_RESOURCES, "no_resources")

#define CEE_PROTO_LIST(X)                                                                          \
	X(TCP, "tcp")                                                                              \
	X(TLS, "tls")                                                                              \
	X(WS, "ws")                                                                                \
	X(WSS, "wss")

#define CEE_X_ENUM_EVT(e, s) CEE_EVT_##e,
#define CEE_X_ENUM_REASON(e, s) CEE_REASON_##e,
#define CEE_X_ENUM_PROTO(e, s) CEE_PROTO_##e,

/** Lifecycle event types, in the order a connection emits them. */
enum cee_evt_type { CEE_EVT_TYPE_LIST(CEE_X_ENUM_EVT) CEE_EVT__COUNT };
/** Why a connection closed: the first cause. */
enum cee_reason { CEE_REASON_LIST(CEE_X_ENUM_REASON) CEE_REASON__COUNT };
/** Protocol a connection carries, as far as it got. */
enum cee_proto { CEE_PROTO_LIST(CEE_X_ENUM_PROTO) CEE_PROTO__COUNT };

/** @return the printed name of @p t, or "?" when out of range. */
const char *cee_evt_type_str(enum cee_evt_type t);
/** @return the printed name of @p r, or "?" when out of range. */
const char *cee_reason_str(enum cee_reason r);
/** @return the printed name of @p p, or "?" when out of range. */
const char *cee_proto_str(enum cee_proto p);
/** @return the type named @p s, or -EINVAL. */
int cee_evt_type_parse(const char *s);
/** @return the reason named @p s, or -EINVAL. */
int cee_reason_parse(const char *s);

/**
 * One lifecycle event: a fixed 64-byte record (one cache line), the same
 * in the shard ring, the binary sink and the audit.
 *
 * Addresses and ports are in host byte order.
 */
struct cee_event {
	uint64_t sseq;      /**< shard sequence number: consecutive per shard from 1 */
	cee_conn_id_t conn; /**< connection id (carries the shard) */
	uint64_t ts_ns;     /**< engine clock (CLOCK_MONOTONIC-based) at emission */
	uint64_t bytes_in;  /**< closed: payload bytes received in order */
	uint64_t bytes_out; /**< closed: payload bytes sent (unique, not retransmits) */
	uint64_t duration_ns; /**< closed: time since open */
	uint32_t local_ip;
	uint32_t remote_ip;
	uint16_t local_port;
	uint16_t remote_port;
	uint8_t type;   /**< enum cee_evt_type */
	uint8_t reason; /**< enum cee_reason (closed only, else NONE) */
	uint8_t proto;  /**< enum cee_proto */
	uint8_t cseq;   /**< per-connection sequence number from 0 */
};

_Static_assert(sizeof(struct cee_event) == 64, "event record is one cache line");

/** Shard that emitted @p e. */
static inline unsigned cee_event_shard(const struct cee_event *e)
{
	return cee_id_shard(e->conn);
}

/**
 * Most events one connection can emit (open, established, tls_up, ws_up,
 * closed, destroyed). Admission reserves this much ring space.
 */
#define CEE_EVT_PER_CONN_MAX CEE_EVT__COUNT
