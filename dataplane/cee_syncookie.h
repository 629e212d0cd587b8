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
 *   31-29  the peer's MSS, as the largest of 8 steps at or below it
 *   28-0   a MAC: SipHash-2-4 under the engine's cookie key of the 4-tuple,
 *          the peer's ISN, t = now / 2^36 ns (about 69 s; accepted for t
 *          and t - 1, tried both), the MSS step and whether timestamps
 *          were offered back
 *
 * When the peer's SYN offers timestamps, the SYN-ACK does too, and its
 * TSval carries the peer's window scale (bits 3-0, 15: none) and SACK
 * (bit 4) in its low bits, as Linux's cookies do: the peer's ACK echoes
 * them (TSecr), and the connection keeps timestamps. Without timestamps
 * the SYN-ACK offers neither window scaling nor SACK (RFC 7323, RFC 2018:
 * both ends must offer them), and the connection goes without: a 64 KiB
 * window, which signalling does not miss under a flood.
 *
 * A forged ACK passes with probability 2^-28 per try (16 cookies of 2^32
 * check for a tuple and ISN: 8 MSS steps, 2 periods). With the window
 * scale and SACK in the cookie too (10 bits in clear), it was 2^-22: an
 * off-path attacker at 100,000 ACKs a second opened a connection from a
 * spoofed address about every 42 s. Only while the shard sends cookies
 * (the caller accepts cookie ACKs for two minutes after the last cookie
 * it sent). No DPDK.
 */

#include <stdbool.h>
#include <stdint.h>

#include "cee_siphash.h"

/** What a cookie carries of the peer's SYN. */
struct cee_syncookie_opts {
	uint16_t mss;    /**< the peer's MSS, rounded down to a step (>= 64) */
	uint8_t wscale;  /**< the peer's window scale, 0xff: none (in the TSval) */
	bool sack_ok;    /**< the peer offered SACK (in the TSval) */
	bool ts;         /**< timestamps offered back (the SYN had them, and they are on) */
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

/** The code of @p o's window scale and SACK (5 bits) for a cookie SYN-ACK's TSval (cee_tcp_synack_cookie()). */
uint32_t cee_syncookie_ts_code(const struct cee_syncookie_opts *o);

/**
 * Check the ACK of a cookie SYN-ACK: @p seq is the ACK's sequence number
 * (the peer's ISN + 1), @p ack its acknowledgment (the cookie + 1), @p ts
 * whether it carries timestamps and @p tsecr their echo.
 * @return true with @p o filled when it is a cookie we made at most about
 * two minutes ago for this tuple and ISN (window scale and SACK from
 * @p tsecr with timestamps; none without).
 */
bool cee_syncookie_check(const struct cee_siphash_key *key, const struct cee_syncookie_tuple *t,
			 uint32_t seq, uint32_t ack, bool ts, uint32_t tsecr, uint64_t now_ns,
			 struct cee_syncookie_opts *o);
