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
 * Source ports an active open tries for a tuple this shard owns: a shard
 * owns at least CEE_RETA_SIZE / nshards (rounded down) of the table's
 * entries, so 16 of its own ports are expected among these at least (512
 * fixed tried about 4 at 128 shards: four ports in use to the same peer
 * refused the open; and at 65 shards two shards own one entry each).
 */
static inline unsigned cee_flow_src_tries(unsigned nshards)
{
	unsigned entries = nshards < CEE_RETA_SIZE ? CEE_RETA_SIZE / nshards : 1;
	unsigned t = 16 * CEE_RETA_SIZE / entries;
	return t > 512 ? t : 512;
}

/** The shard that owns a flow of hash @p h among @p nshards: reta[h % RETA] = i % nshards. */
static inline unsigned cee_flow_owner(uint32_t h, unsigned nshards)
{
	return (h & (CEE_RETA_SIZE - 1)) % nshards;
}
