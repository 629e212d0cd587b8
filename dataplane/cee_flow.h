/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

/**
 * @file
 * Flow steering: one definition of "which shard owns this flow", used by
 * RSS programming, software hand-off and active-open port choice.
 *
 * The hash is Toeplitz over the IPv4/TCP 4-tuple with the symmetric key
 * 0x6d5a repeated, so (a, b, pa, pb) and (b, a, pb, pa) hash the same and a
 * NIC programmed with cee_rss_key computes the same value in hardware.
 * No DPDK.
 */

#include <stdint.h>

/** RSS key length in bytes (40, as most NICs take). */
#define CEE_RSS_KEY_LEN 40
/** Redirection-table size the owner function assumes (a power of two). */
#define CEE_RETA_SIZE 128

extern const uint8_t cee_rss_key[CEE_RSS_KEY_LEN];

/**
 * Toeplitz hash of the tuple as a NIC computes it for IPv4/TCP
 * (input: src ip, dst ip, src port, dst port, network order). Arguments in
 * host order. Symmetric: swapping (src, dst) gives the same value.
 */
uint32_t cee_flow_hash(uint32_t src_ip, uint32_t dst_ip, uint16_t src_port, uint16_t dst_port);

/**
 * Source ports an active open tries for a tuple this shard owns: about 1
 * in @p nshards of them is the shard's, so 16 of its own are tried at
 * least (512 fixed tried 4 at 128 shards: four ports in use to the same
 * peer refused the open).
 */
static inline unsigned cee_flow_src_tries(unsigned nshards)
{
	return nshards * 16 > 512 ? nshards * 16 : 512;
}

/** The shard that owns a flow of hash @p h among @p nshards: reta[h % RETA] = i % nshards. */
static inline unsigned cee_flow_owner(uint32_t h, unsigned nshards)
{
	return (h & (CEE_RETA_SIZE - 1)) % nshards;
}
