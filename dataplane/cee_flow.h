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

#include <stdbool.h>
#include <stdint.h>

/** RSS key length in bytes (40, as most NICs take). */
#define CEE_RSS_KEY_LEN 40
/** Redirection-table size the owner function assumes (a power of two). */
#define CEE_RETA_SIZE 128

extern const uint8_t cee_rss_key[CEE_RSS_KEY_LEN];

/**
 * Fill @p key with the same pattern for a NIC whose key is @p len bytes
 * (an even number; i40e and ice take 52): the IPv4/TCP input uses only its
 * first 16 bytes, so every such key hashes as cee_rss_key. (Only 40-byte
 * keys were programmed: on a NIC with another size every frame came in on
 * queue 0 and shard 0 handed (n - 1) / n of them off.)
 */
void cee_rss_key_fill(uint8_t *key, unsigned len);

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

/** Table entries shard @p shard owns among @p nshards (1..128): its share of the flows. */
static inline unsigned cee_flow_entries(unsigned shard, unsigned nshards)
{
	return CEE_RETA_SIZE / nshards + (shard < CEE_RETA_SIZE % nshards ? 1u : 0u);
}

/**
 * Shard @p shard's part of @p total (connection slots, --max-conns): in
 * proportion to the entries it owns, rounded up (at least 1). Split evenly,
 * a shard count that does not divide 128 gave the shards that own one entry
 * more (and so more flows) the same slots as the rest: they refused new
 * connections while the engine was well below the limit (at 89% of it with
 * 24 shards, at half with 127).
 */
static inline uint32_t cee_flow_share(uint32_t total, unsigned shard, unsigned nshards)
{
	uint64_t v = ((uint64_t)total * cee_flow_entries(shard, nshards) + CEE_RETA_SIZE - 1) /
		     CEE_RETA_SIZE;
	return v > 0 ? (uint32_t)v : 1;
}

/**
 * The largest total whose every share (cee_flow_share()) is at most
 * @p per_shard: shard 0's, the largest, bounds it.
 */
static inline uint64_t cee_flow_total_most(uint32_t per_shard, unsigned nshards)
{
	return (uint64_t)per_shard * CEE_RETA_SIZE / cee_flow_entries(0, nshards);
}

/**
 * A NIC's RSS hash, trusted only once checked: a driver may ignore
 * cee_rss_key (some refuse a key and keep their own, some hash by another
 * function), and then a SYN-ACK of an active open, steered by the NIC's
 * value, went to a shard that did not own it (no_conn, an RST). Each shard
 * compares the NIC's value with cee_flow_hash() on the first
 * CEE_RSS_CHECKS TCP frames of each port; at the first difference it stops
 * trusting that port's value for good.
 */
#define CEE_RSS_CHECKS 64

struct cee_rss_check {
	uint16_t left; /**< frames still to compare (CEE_RSS_CHECKS at first) */
	bool off;      /**< a difference seen: the software hash from now on */
};

/**
 * The steering hash of a TCP frame whose NIC hash is @p nic (tuple as
 * received, host order). @return @p nic, or cee_flow_hash() while checking
 * or once a difference was seen; *@p mismatch set true for the frame that
 * showed the first difference.
 */
static inline uint32_t cee_rss_hash(struct cee_rss_check *c, uint32_t nic, uint32_t src_ip,
				    uint32_t dst_ip, uint16_t src_port, uint16_t dst_port,
				    bool *mismatch)
{
	*mismatch = false;
	if (__builtin_expect(c->left == 0 && !c->off, 1))
		return nic;
	uint32_t sw = cee_flow_hash(src_ip, dst_ip, src_port, dst_port);
	if (!c->off) {
		if (sw == nic) {
			c->left--;
			return nic;
		}
		c->off = true;
		*mismatch = true;
	}
	return sw;
}
