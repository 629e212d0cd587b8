/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

/**
 * @file
 * Lifecycle event records, extension records, and the one list of event
 * types, close reasons, protocols and extension keys that every printer and
 * parser uses.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "cee_id.h"

/** Version of the exported event schema (JSON "v", binary header). */
#define CEE_EVT_SCHEMA_VERSION 3

/*
 * X(enumerator suffix, printed name). Numbers are part of the binary format:
 * new types are appended. The order a connection emits them in (contract
 * order) is cee_evt_rank(): link_up comes between the layers' milestones and
 * closed, link_down between closed and destroyed (schema 3).
 */
#define CEE_EVT_TYPE_LIST(X)                                                                       \
	X(OPEN, "open")                                                                            \
	X(ESTABLISHED, "established")                                                              \
	X(TLS_UP, "tls_up")                                                                        \
	X(WS_UP, "ws_up")                                                                          \
	X(CLOSED, "closed")                                                                        \
	X(DESTROYED, "destroyed")                                                                  \
	X(LINK_UP, "link_up")                                                                      \
	X(LINK_DOWN, "link_down")

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
	X(NO_RESOURCES, "no_resources")                                                            \
	X(WS_UPGRADE_FAILED, "ws_upgrade_failed")                                                  \
	X(WS_PING_TIMEOUT, "ws_ping_timeout")                                                      \
	X(KEEPALIVE_TIMEOUT, "keepalive_timeout")                                                  \
	X(ZERO_WINDOW_TIMEOUT, "zero_window_timeout")                                              \
	X(HOST_UNREACHABLE, "host_unreachable")

#define CEE_PROTO_LIST(X)                                                                          \
	X(TCP, "tcp")                                                                              \
	X(TLS, "tls")                                                                              \
	X(WS, "ws")                                                                                \
	X(WSS, "wss")

#define CEE_X_ENUM_EVT(e, s) CEE_EVT_##e,
#define CEE_X_ENUM_REASON(e, s) CEE_REASON_##e,
#define CEE_X_ENUM_PROTO(e, s) CEE_PROTO_##e,

/** Lifecycle event types (contract order: cee_evt_rank()). */
enum cee_evt_type { CEE_EVT_TYPE_LIST(CEE_X_ENUM_EVT) CEE_EVT__COUNT };

/**
 * Position of @p t in the order one connection emits its events: open,
 * established, tls_up, ws_up, link_up, closed, link_down, destroyed.
 * CEE_EVT__COUNT (and above) for a type out of range.
 */
static inline unsigned cee_evt_rank(unsigned t)
{
	static const unsigned char rank[] = {0, 1, 2, 3, 5, 7, 4, 6};
	_Static_assert(sizeof(rank) == CEE_EVT__COUNT, "a rank for every event type");
	return t < CEE_EVT__COUNT ? rank[t] : CEE_EVT__COUNT;
}
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
	uint8_t proto;  /**< enum cee_proto in bits 0-6; CEE_PROTO_F_OUT: an outbound connection */
	uint8_t cseq;   /**< per-connection sequence number from 0 */
};

/**
 * Bit of cee_event.proto: the connection is outbound (an active open: a
 * link's, or an embedder's cee_shard_connect), "dir":"out" in JSON; without
 * it, accepted by a listener, "dir":"in" (schema 3).
 */
#define CEE_PROTO_F_OUT 0x80
/** The protocol of @p e (enum cee_proto), without the direction bit. */
static inline enum cee_proto cee_event_proto(const struct cee_event *e)
{
	return (enum cee_proto)(e->proto & ~CEE_PROTO_F_OUT);
}
/** @return true when @p e is of an outbound connection. */
static inline bool cee_event_out(const struct cee_event *e)
{
	return (e->proto & CEE_PROTO_F_OUT) != 0;
}

_Static_assert(sizeof(struct cee_event) == 64, "event record is one cache line");

/** Shard that emitted @p e. */
static inline unsigned cee_event_shard(const struct cee_event *e)
{
	return cee_id_shard(e->conn);
}

/**
 * Most lifecycle events one connection can emit (open, established, tls_up,
 * ws_up, link_up, closed, link_down, destroyed). Admission reserves this much ring space, plus
 * room for the extension records of the events that carry them (up to
 * CEE_EVT_EXT_MAX each).
 */
#define CEE_EVT_PER_CONN_MAX CEE_EVT__COUNT

/* ---- extension records (schema version 2) ---- */

/**
 * Record type of an extension record (struct cee_event_ext). Not a lifecycle
 * event: it is outside enum cee_evt_type and its counts.
 */
#define CEE_EVT_EXT 0x1f
_Static_assert(CEE_EVT_EXT >= CEE_EVT__COUNT, "ext type is not a lifecycle type");

/** Most extension records one event carries. */
#define CEE_EVT_EXT_MAX 4
/** TLV bytes in one extension record. */
#define CEE_EVT_EXT_DATA 44

/* Kinds of extension values: how a value is stored and printed. */
#define CEE_EXT_KIND_LIST(X)                                                                       \
	X(STR)     /* bytes of a string (any bytes; JSON-escaped when printed) */                  \
	X(BOOL)    /* 1 byte, 0 or 1 */                                                            \
	X(U8)      /* 1 byte number */                                                             \
	X(VERSION) /* 2 bytes little-endian TLS version; printed "1.2"/"1.3", else the number */  \
	X(ALERT)   /* 1 byte TLS alert; printed "alert":N,"alert_name":"..." */                   \
	X(BY)      /* 1 byte: 1 "local", 0 "peer" */                                              \
	X(U16)     /* 2 bytes little-endian number */                                              \
	X(U32)     /* 4 bytes little-endian number */

/* X(enumerator suffix, JSON key, kind) */
#define CEE_EXT_KEY_LIST(X)                                                                        \
	X(TLS_VERSION, "tls_version", VERSION)                                                     \
	X(CIPHER, "cipher", STR)                                                                   \
	X(SNI, "sni", STR)                                                                         \
	X(ALPN, "alpn", STR)                                                                       \
	X(RESUMED, "resumed", BOOL)                                                                \
	X(PEER_SUBJECT, "peer_subject", STR)                                                       \
	X(ALERT, "alert", ALERT)                                                                   \
	X(ALERT_BY, "alert_by", BY)                                                                \
	X(TLS_TRUNCATED, "tls_truncated", BOOL)                                                    \
	X(EXT_TRUNCATED, "ext_truncated", BOOL)                                                    \
	X(WS_PATH, "path", STR)                                                                    \
	X(WS_SUBPROTOCOL, "subprotocol", STR)                                                      \
	X(WS_ORIGIN, "origin", STR)                                                                \
	X(WS_USER_AGENT, "user_agent", STR)                                                        \
	X(WS_CODE, "ws_code", U16)                                                                 \
	X(WS_REASON, "ws_reason", STR)                                                             \
	X(WS_CLEAN, "ws_clean", BOOL)                                                              \
	X(HTTP_STATUS, "http_status", U16)                                                         \
	X(LINK, "link", STR)                                                                       \
	X(ATTEMPT, "attempt", U32)                                                                 \
	X(NEXT_ATTEMPT_MS, "next_attempt_ms", U32)

#define CEE_X_ENUM_EXT_KIND(k) CEE_EXT_KIND_##k,
#define CEE_X_ENUM_EXT_KEY(e, s, k) CEE_EXT_##e,

/** How an extension value is stored and printed. */
enum cee_ext_kind { CEE_EXT_KIND_LIST(CEE_X_ENUM_EXT_KIND) CEE_EXT_KIND__COUNT };
/** Keys of extension TLVs. 0 ends a record's list. */
enum cee_ext_key { CEE_EXT__END = 0, CEE_EXT_KEY_LIST(CEE_X_ENUM_EXT_KEY) CEE_EXT__COUNT };

/** @return the JSON key of @p k, or "?" when out of range. */
const char *cee_ext_key_str(enum cee_ext_key k);
/** @return the kind of @p k; -EINVAL when out of range. */
int cee_ext_key_kind(enum cee_ext_key k);
/**
 * @return the RFC 8446 section 6 name of TLS alert @p alert ("close_notify",
 * "unknown_ca", ...), or "unknown".
 */
const char *cee_evt_alert_str(uint8_t alert);

/**
 * Extension record: strings and extra fields of the lifecycle event it
 * extends, as TLVs. The records of one event (its group: part 0 .. parts-1)
 * immediately precede the event in its shard's stream, each with its own
 * sseq, consecutive with the events around them. Same size as struct
 * cee_event, and `type` at the same offset, so the ring, the binary sink and
 * the audit carry both kinds of record as one array.
 *
 * TLV: key (enum cee_ext_key, nonzero), len (1 byte), len bytes of value.
 * Key 0 or the end of data ends the list. A value continues in the next
 * record as another TLV with the same key; readers concatenate consecutive
 * TLVs of one key.
 */
struct cee_event_ext {
	uint64_t sseq;      /**< shard sequence number of this record */
	cee_conn_id_t conn; /**< the connection of the event it extends */
	uint8_t data[CEE_EVT_EXT_DATA]; /**< TLVs */
	uint8_t type;       /**< CEE_EVT_EXT */
	uint8_t of;         /**< enum cee_evt_type of the event it extends */
	uint8_t part;       /**< 0 .. parts-1 */
	uint8_t parts;      /**< records in the group, 1 .. CEE_EVT_EXT_MAX */
};

_Static_assert(sizeof(struct cee_event_ext) == 64, "extension record is one cache line");
_Static_assert(offsetof(struct cee_event_ext, type) == offsetof(struct cee_event, type),
	       "type at the same offset in both records");
_Static_assert(offsetof(struct cee_event_ext, sseq) == offsetof(struct cee_event, sseq) &&
		       offsetof(struct cee_event_ext, conn) == offsetof(struct cee_event, conn),
	       "sseq and conn at the same offsets in both records");

/** One record of a shard stream: a lifecycle event or an extension record. */
union cee_record {
	struct cee_event ev;
	struct cee_event_ext ext;
};

_Static_assert(sizeof(union cee_record) == 64, "a record is one cache line");

/**
 * @return @p e viewed as an extension record, or NULL when it is a
 * lifecycle event. Records live in arrays of struct cee_event (ring, files);
 * the view goes through union cee_record, whose members share sseq and conn
 * at the same offsets and type, and otherwise differ only in byte fields.
 */
static inline const struct cee_event_ext *cee_event_as_ext(const struct cee_event *e)
{
	if (e->type != CEE_EVT_EXT)
		return NULL;
	return &((const union cee_record *)(const void *)e)->ext;
}

/**
 * Builder of one event's extension group, on the producer's stack:
 *
 *     struct cee_ext_builder b;
 *     cee_ext_begin(&b, conn, CEE_EVT_TLS_UP);
 *     cee_ext_put_u16(&b, CEE_EXT_TLS_VERSION, 0x0304);
 *     cee_ext_put_str(&b, CEE_EXT_SNI, sni);
 *     unsigned n = cee_ext_end(&b);
 *     for (unsigned i = 0; i < n; i++)
 *             cee_evring_push_ext(ring, &b.rec[i].ext);
 *     ... then the event itself, with nothing in between.
 *
 * Values are packed in order; a value longer than the room left continues in
 * the next record. When all CEE_EVT_EXT_MAX records are full, the value is
 * cut and the group carries CEE_EXT_EXT_TRUNCATED (room for it is kept).
 * Fields are the builder's own: read only rec[] and the result of end.
 */
struct cee_ext_builder {
	union cee_record rec[CEE_EVT_EXT_MAX]; /**< the records; valid after cee_ext_end() */
	unsigned n;          /**< records in use (0 before the first value) */
	unsigned off;        /**< data bytes used in rec[n - 1] */
	bool truncated;      /**< a value (or its end) did not fit */
	cee_conn_id_t conn;  /**< connection of the event */
	uint8_t of;          /**< enum cee_evt_type of the event */
};

/** Start a group for the event of type @p of of connection @p conn. */
void cee_ext_begin(struct cee_ext_builder *b, cee_conn_id_t conn, enum cee_evt_type of);
/**
 * Add @p len bytes at @p val under @p key. An empty value or a key out of
 * range adds nothing.
 */
void cee_ext_put(struct cee_ext_builder *b, enum cee_ext_key key, const void *val, uint32_t len);
/** Add the string @p s (without its NUL); NULL or "" adds nothing. */
void cee_ext_put_str(struct cee_ext_builder *b, enum cee_ext_key key, const char *s);
/**
 * The longest value one more put takes whole (the TLV headers of its pieces
 * counted); a longer one is cut.
 */
uint32_t cee_ext_room(const struct cee_ext_builder *b);
/**
 * Add @p len bytes at @p val under @p key only when they fit whole;
 * otherwise add nothing and flag the group (ext_truncated). For values a
 * cut would turn into another value a reader trusts (a server name, an
 * Origin: "trusted.example.com.evil.net" cut after ".com").
 * @return true when added (or empty).
 */
bool cee_ext_put_whole(struct cee_ext_builder *b, enum cee_ext_key key, const void *val,
		       uint32_t len);
/** cee_ext_put_whole() of the string @p s (NULL or "" adds nothing: true). */
bool cee_ext_put_str_whole(struct cee_ext_builder *b, enum cee_ext_key key, const char *s);
/**
 * Add a certificate subject line ("/O=Example/CN=client1", '/' and '\\' in
 * values escaped with '\\'): whole when it fits, else cut before the first
 * attribute that does not fit and ended "/..." (ext_truncated flagged;
 * nothing when not even the first attribute fits). A cut inside a value
 * would let a subject padded to the room read "/CN=admin" where the CN was
 * "adminEVIL".
 */
void cee_ext_put_subject(struct cee_ext_builder *b, enum cee_ext_key key, const char *line);
/**
 * The tls_up group: version, cipher, sni, alpn, resumed, peer_subject (in
 * that order; NULL or "" strings left out). Each value whole or absent
 * (ext_truncated), the subject cut by attributes (cee_ext_put_subject()),
 * and the client's SNI left out when the subject would not fit whole
 * after it.
 */
void cee_ext_tls_up(struct cee_ext_builder *b, uint16_t version, const char *cipher,
		    const char *sni, const char *alpn, bool resumed, const char *subject);
/**
 * The ws_up group: path, subprotocol, origin, user_agent. Each whole or
 * absent but the User-Agent (cut to the room left); the path left out when
 * the Origin would not fit whole after it.
 */
void cee_ext_ws_up(struct cee_ext_builder *b, const char *path, const char *subprotocol,
		   const char *origin, const char *user_agent);
/** Add a 1-byte value (BOOL, U8, ALERT, BY keys). */
void cee_ext_put_u8(struct cee_ext_builder *b, enum cee_ext_key key, uint8_t v);
/** Add a 2-byte value, little-endian (VERSION keys). */
void cee_ext_put_u16(struct cee_ext_builder *b, enum cee_ext_key key, uint16_t v);
/** Add a 4-byte value, little-endian (U32 keys). */
void cee_ext_put_u32(struct cee_ext_builder *b, enum cee_ext_key key, uint32_t v);
/**
 * Finish the group: sets type, of, conn, part and parts of every record
 * (sseq is set by the ring).
 * @return the number of records, 0 when nothing was put.
 */
unsigned cee_ext_end(struct cee_ext_builder *b);
