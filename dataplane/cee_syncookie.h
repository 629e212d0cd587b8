/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

/**
 * @file
 * SYN cookies (RFC 4987 3.6): under a SYN flood the shard answers a SYN
 * with a SYN-ACK whose initial sequence number is the cookie, and keeps
 * nothing: no slot, no timer, no event. A client's ACK of it (ACK - 1 = a
 * valid cookie) re-creates the connection from what the cookie carries.
 *
 * The cookie (our ISS), 32 bits:
 *
 *   31-30  t mod 4, t = now / 2^36 ns (about 69 s): accepted for t and t - 1
 *   29-27  the peer's MSS, as the largest of 8 steps at or below it
 *   26-23  the peer's window scale 0-14, 15: none offered
 *   22     the peer offered SACK
 *   21-0   a MAC: SipHash-2-4 under the engine's cookie key of the 4-tuple,
 *          the peer's ISN, t and bits 31-22
 *
 * Options keep what the peer's SYN said (MSS, window scale, SACK) in the
 * ISS itself, so they survive with or without timestamps; timestamps are
 * not offered in a cookie SYN-ACK (RFC 7323 lets the connection go without
 * them). A forged ACK passes with probability 2^-22 per try, and only while
 * the shard sends cookies (the caller accepts cookie ACKs for two minutes
 * after the last cookie it sent). No DPDK.
 */

#include <stdbool.h>
#include <stdint.h>

#include "cee_siphash.h"

/** What a cookie carries of the peer's SYN. */
struct cee_syncookie_opts {
	uint16_t mss;    /**< the peer's MSS, rounded down to a step (>= 64) */
	uint8_t wscale;  /**< the peer's window scale, 0xff: none */
	bool sack_ok;    /**< the peer offered SACK */
};

/** The 4-tuple, from our side (host order). */
struct cee_syncookie_tuple {
	uint32_t local_ip, remote_ip;
	uint16_t local_port, remote_port;
};

/**
 * The cookie for a SYN with sequence number @p peer_isn and options @p o
 * (mss 0: none offered, 536 assumed) at @p now_ns.
 */
uint32_t cee_syncookie_make(const struct cee_siphash_key *key, const struct cee_syncookie_tuple *t,
			    uint32_t peer_isn, const struct cee_syncookie_opts *o, uint64_t now_ns);

/**
 * Check the ACK of a cookie SYN-ACK: @p seq is the ACK's sequence number
 * (the peer's ISN + 1), @p ack its acknowledgment (the cookie + 1).
 * @return true with @p o filled when it is a cookie we made at most about
 * two minutes ago for this tuple and ISN.
 */
bool cee_syncookie_check(const struct cee_siphash_key *key, const struct cee_syncookie_tuple *t,
			 uint32_t seq, uint32_t ack, uint64_t now_ns, struct cee_syncookie_opts *o);
