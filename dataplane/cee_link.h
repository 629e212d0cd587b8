/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

/**
 * @file
 * Links: persistent outbound connections that always come back.
 *
 * A link is a name and a destination (`--connect NAME=tcp|tls:A.B.C.D:PORT`).
 * Each attempt is a new connection with a new id; the link remembers only
 * the id of its current attempt, and hears of that attempt's close through a
 * monitor bound to the id (cee_monitor.h), never through an address. So the
 * late `destroyed` of an earlier attempt (it sat in TIME-WAIT) cannot touch
 * the current one: the fault of a PBX whose disconnect monitors were keyed by
 * the remote address, and whose registrations never recovered after the
 * first TLS reconnect.
 *
 * This header is the pure part (no DPDK), unit-tested without the EAL: the
 * link specification, the backoff, and the state machine
 *
 *   BACKOFF --due--> CONNECTING --established / tls_up--> UP
 *      ^                 |                                  |
 *      +---- failed -----+                                  |
 *      +------------------------- closed (link_down) -------+
 *   any state --drain--> DRAINED once no attempt is running (no more attempts)
 *
 * The shard's glue (cee_shard_link.c) opens the connections, emits link_up
 * and link_down, and runs the backoff deadlines on a timer wheel.
 */

#include <stdbool.h>
#include <stdint.h>

#include "cee_event.h"
#include "cee_id.h"
#include "cee_timer.h"

#define CEE_LINK_NAME_MAX 32  /**< bytes of a link's name */
#define CEE_LINKS_MAX 65535   /**< links per engine (a connection names its link in 16 bits) */

/** One link as configured. */
struct cee_link_cfg {
	char name[CEE_LINK_NAME_MAX + 1];
	uint32_t ip;     /**< destination, host order */
	uint16_t port;   /**< host order */
	bool tls;        /**< TLS above TCP (the engine's TLS client context) */
	uint8_t service; /**< enum cee_tcp_service on what the server sends: ECHO or DISCARD */
	char *sni;       /**< TLS: the server's name (",sni=HOST"; heap), NULL: --tls-sni's */
};

/**
 * Parse "NAME=tcp|tls:A.B.C.D:PORT[:echo|discard][,sni=HOST]" (service echo
 * by default). NAME: 1..CEE_LINK_NAME_MAX of [A-Za-z0-9_.-]; HOST (TLS
 * only): the name sent as SNI and matched against the server's certificate
 * (cee_link_sni_valid()). @p out->sni is allocated: cee_link_cfg_release().
 * @return 0, or -EINVAL (-ENOMEM) with a message of at most @p elen bytes in @p err.
 */
int cee_link_parse(const char *spec, struct cee_link_cfg *out, char *err, unsigned elen);
/** Free what cee_link_parse() allocated in @p l (its sni). */
void cee_link_cfg_release(struct cee_link_cfg *l);
/**
 * @p name is a DNS host name a TLS client may send as SNI and verify
 * (RFC 6066 3): 1..253 characters, dot-separated labels of 1..63 of
 * [A-Za-z0-9_-], not starting or ending with '-'; not an IPv4 address.
 */
bool cee_link_sni_valid(const char *name);

/** Backoff bounds (--reconnect MIN_MS:MAX_MS). */
struct cee_link_backoff {
	uint32_t min_ms; /**< > 0 */
	uint32_t max_ms; /**< >= min_ms */
};

/**
 * The delay before the next attempt, milliseconds, after @p k attempts
 * failed since the link was last up (0: the first retry after a drop):
 * uniform in [max(min, b/2), b] with b = min(max, min * 2^(k+1)), from the
 * random 64-bit @p rnd. So with 100:30000: 100-200 ms, 200-400 ms, ...,
 * 15-30 s. Jitter spreads links that dropped together.
 */
uint32_t cee_link_backoff_ms(const struct cee_link_backoff *b, uint32_t k, uint64_t rnd);

/* X(enumerator suffix, printed name) */
#define CEE_LINK_STATE_LIST(X)                                                                     \
	X(BACKOFF, "backoff")                                                                      \
	X(CONNECTING, "connecting")                                                                \
	X(UP, "up")                                                                                \
	X(DRAINED, "drained")

#define CEE_X_ENUM_LINK_STATE(e, s) CEE_LINK_##e,
enum cee_link_state { CEE_LINK_STATE_LIST(CEE_X_ENUM_LINK_STATE) CEE_LINK_STATE__COUNT };
/** @return the printed name of @p st, or "?". */
const char *cee_link_state_str(enum cee_link_state st);

/** A link's state. Owner: the shard that owns the link. */
struct cee_link {
	struct cee_timer_node timer;    /**< the next attempt (BACKOFF) */
	const struct cee_link_cfg *cfg;
	cee_conn_id_t conn;   /**< the current attempt (CONNECTING, UP), else 0 */
	uint64_t up_ns;       /**< when it came up (UP) */
	uint64_t next_ns;     /**< when the next attempt is due (BACKOFF) */
	uint32_t index;       /**< in the engine's list of links */
	uint32_t attempts;    /**< connections opened (its `open` events) */
	uint32_t refused;     /**< tries refused locally, before a connection existed (no event) */
	uint32_t attempt;     /**< ordinal of the current attempt, tries refused included (1 = the first) */
	uint32_t ups, downs;
	uint32_t fails;       /**< attempts failed (or up too briefly) since the link was last up stably */
	uint8_t state;        /**< enum cee_link_state */
	uint8_t last_reason;  /**< enum cee_reason of the last attempt's close (NONE before) */
	uint8_t arp_wait;     /**< BACKOFF: due, but its next hop is unresolved (ARP) */
	uint8_t arp_asked;    /**< it waited while the resolver asked (not failed): a failure now is news */
};

/** Links of @p nlinks that shard @p shard of @p nshards owns (link i: shard i % nshards). */
static inline uint32_t cee_links_on_shard(uint32_t nlinks, unsigned shard, unsigned nshards)
{
	return nlinks > shard ? (nlinks - shard - 1) / nshards + 1 : 0;
}

/** A new link: BACKOFF, due at @p now_ns (the first attempt goes at once). */
void cee_link_init(struct cee_link *l, const struct cee_link_cfg *cfg, uint32_t index,
		   uint64_t now_ns);
/** An attempt opened connection @p id: CONNECTING. */
void cee_link_attempt(struct cee_link *l, cee_conn_id_t id);
/**
 * Connection @p id finished its handshakes (established, or tls_up).
 * @return true when the link is now UP (emit link_up), false when @p id is
 * not its current attempt.
 */
bool cee_link_up(struct cee_link *l, cee_conn_id_t id, uint64_t now_ns);
/** What a close did to a link. */
enum cee_link_close {
	CEE_LINK_STALE,  /**< not its current attempt: nothing changed */
	CEE_LINK_FAILED, /**< the attempt never came up */
	CEE_LINK_DOWN,   /**< the link was up and went down: emit link_down */
};
/**
 * The current attempt @p id closed with @p reason (or, with @p id 0, an
 * attempt could not even be opened: @p reason, if not NONE, becomes
 * last_reason). Unless @p stop (drain, shutdown), the next attempt is due
 * after cee_link_backoff_ms() (from @p rnd): BACKOFF with next_ns set; else
 * DRAINED. A link that was up at least as long as the longest wait at its
 * failures so far was stable: its failures start over and the first retry
 * is the shortest (k = 0); one up for less counts the drop as one more
 * failure, so a server that drops every connection at once is retried ever
 * more slowly.
 */
enum cee_link_close cee_link_closed(struct cee_link *l, cee_conn_id_t id, enum cee_reason reason,
				    uint64_t now_ns, bool stop, const struct cee_link_backoff *b,
				    uint64_t rnd);
/** No more attempts: BACKOFF becomes DRAINED; a running attempt stays until it closes. */
void cee_link_drain(struct cee_link *l);

/** xorshift64* step (the backoff's jitter; not for secrets). @p state must not be 0. */
static inline uint64_t cee_link_rand(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * UINT64_C(2685821657736338717);
}
