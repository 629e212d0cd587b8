/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

/**
 * @file
 * Audit of an exported event stream against the lifecycle contract:
 *  - per shard, sseq is consecutive from 1 (gaps, duplicates, reordering);
 *  - per connection, cseq is consecutive from 0, `open` first, types in
 *    contract order (cee_evt_rank(): open < established < tls_up < ws_up <
 *    link_up < closed < link_down < destroyed), exactly one `closed` then
 *    exactly one `destroyed`, nothing after; tls_up only right after
 *    established, ws_up right after established or tls_up, link_up right
 *    after established, tls_up or ws_up, link_down right after closed;
 *    a `closed`'s reason fits its protocol and the milestones its
 *    connection reached (reason_rules in cee_audit.c: no handshake_timeout
 *    after the top layer is up, TLS reasons after established, ws_close
 *    after ws_up, ...); link_down with the reason of its connection's
 *    `closed`;
 *  - links (schema 3), by the name in the `link` key of the event's
 *    extension group: link_up and link_down alternate, starting with
 *    link_up; each link_down names the connection of the link_up before it;
 *    link_up only on an outbound connection (dir out at its open); every
 *    link event with an attempt from 1, each link_up's past every earlier
 *    one's of its link, a link_down's its link_up's;
 *  - extension records (schema 2) take part in the sseq check like any
 *    record; each group is complete (parts 0 .. parts-1 in order, one conn
 *    and one `of`) and immediately followed, in its shard's stream, by its
 *    connection's event of type `of`;
 *  - at the end (cee_audit_finish), every opened connection is destroyed
 *    (connections still live are counted in `live`, not as lost, when
 *    finishing with allow_live), and no extension group waits for its event
 *    (allowed with allow_live: the stream may end between the two).
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cee_event.h"

struct cee_audit;

/** Most link names the audit tracks (the engine's limit of links). */
#define CEE_AUDIT_LINKS_MAX 65536
/** Longest link name, in bytes (the engine's limit). */
#define CEE_AUDIT_LINK_NAME_MAX 32

struct cee_audit_result {
	uint64_t events;       /**< lifecycle events (extension records not counted) */
	uint64_t ext;          /**< extension records */
	uint64_t opens, established, closes, destroys;
	uint64_t gaps;         /**< sseq jumps forward (events missing) */
	uint64_t duplicate;    /**< sseq or (conn, cseq) seen twice, or a second open/closed/destroyed */
	uint64_t out_of_order; /**< sseq backwards, cseq skips, or types out of contract order */
	uint64_t lost;         /**< open without closed/destroyed at finish */
	uint64_t live;         /**< open without destroyed at finish, when allowed */
	/**
	 * extension groups broken: malformed or incomplete, not followed by
	 * their event, or (at a strict finish) waiting for it at the end
	 */
	uint64_t ext_bad;
	/**
	 * events whose fields contradict: a close reason its connection's
	 * protocol or state cannot have (a TLS reason without TLS, a
	 * handshake_timeout after the handshake, ...), a link_down whose
	 * reason is not its connection's close reason
	 */
	uint64_t inconsistent;
	uint64_t link_up, link_down; /**< link events (schema 3) */
	/**
	 * link events that break the link invariants: no link name, two link_ups
	 * of a link in a row, a link_down without a link_up before it or naming
	 * another connection, link_up on an inbound connection, a link event
	 * without an attempt (or 0), a link_up whose attempt is not past every
	 * earlier link_up's of its link, a link_down whose attempt is not its
	 * link_up's, a link_up with next_attempt_ms, more than
	 * CEE_AUDIT_LINKS_MAX names
	 */
	uint64_t link_bad;
	/**
	 * closed events whose reason this audit does not know (past the last
	 * of CEE_REASON_LIST: a newer engine's, docs/events.md Versioning):
	 * counted and reported, not a violation
	 */
	uint64_t unknown_reason;
	uint64_t by_reason[CEE_REASON__COUNT]; /**< closed events per known reason */
	bool ok;
};

/** NULL + errno ENOMEM. */
struct cee_audit *cee_audit_create(void);
/**
 * Streams of engines from before accepted connections were announced at
 * their handshake's end (session 13; schema 3 streams of that time, and 1
 * and 2): their open came at the SYN, and a handshake that failed ended
 * open, closed, destroyed. Not held to "established right after an
 * accepted connection's open" (cee-audit --open-at-syn).
 */
void cee_audit_open_at_syn(struct cee_audit *a, bool on);
void cee_audit_destroy(struct cee_audit *a);
/** Check @p n records (events and extension records), in stream order. */
void cee_audit_feed(struct cee_audit *a, const struct cee_event *ev, uint32_t n);
/** Fill @p res. @p allow_live: connections not yet destroyed are live, not lost. */
void cee_audit_finish(struct cee_audit *a, bool allow_live, struct cee_audit_result *res);
/** No connection open and no extension group waiting for its event: a stream that could end here. */
bool cee_audit_idle(const struct cee_audit *a);
/** Print the first few violations seen (for diagnostics). */
void cee_audit_print_violations(const struct cee_audit *a, FILE *f);
