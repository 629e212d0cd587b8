/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

/**
 * @file
 * SipHash (Aumasson and Bernstein, "SipHash: a fast short-input PRF",
 * 2012): a keyed PRF for short inputs, the standard answer to hash
 * flooding (Python, Rust, the Linux kernel's siphash.h use it).
 *
 * Why our own rather than a library's: the connection table hashes every
 * packet's 4-tuple, and a call into a shared library (libsodium's
 * crypto_shorthash, SipHash-2-4 only) per packet cannot inline; wolfCrypt
 * 5.5.4 has no SipHash. The function is 30 lines; cee_siphash() is checked
 * against the 64 test vectors of the SipHash paper (tests/unit/test_siphash.c),
 * and the table's variant is the same rounds on a fixed 16-byte input.
 *
 * - cee_siphash(c, d, ...): SipHash-c-d of any bytes (the ISN: SipHash-2-4).
 * - cee_siphash13_12(): SipHash-1-3 of a 12-byte 4-tuple (the connection
 *   table, per packet; the variant Python and Rust use for hash tables).
 *
 * No DPDK.
 */

#include <stddef.h>
#include <stdint.h>

/** A 128-bit key as SipHash reads it (k0, k1: the key's two little-endian halves). */
struct cee_siphash_key {
	uint64_t k0, k1;
};

static inline uint64_t cee_sip_rotl(uint64_t x, unsigned b)
{
	return (x << b) | (x >> (64 - b));
}

#define CEE_SIPROUND(v0, v1, v2, v3)                                                               \
	do {                                                                                       \
		v0 += v1;                                                                          \
		v1 = cee_sip_rotl(v1, 13);                                                         \
		v1 ^= v0;                                                                          \
		v0 = cee_sip_rotl(v0, 32);                                                         \
		v2 += v3;                                                                          \
		v3 = cee_sip_rotl(v3, 16);                                                         \
		v3 ^= v2;                                                                          \
		v0 += v3;                                                                          \
		v3 = cee_sip_rotl(v3, 21);                                                         \
		v3 ^= v0;                                                                          \
		v2 += v1;                                                                          \
		v1 = cee_sip_rotl(v1, 17);                                                         \
		v1 ^= v2;                                                                          \
		v2 = cee_sip_rotl(v2, 32);                                                         \
	} while (0)

/* The four words of SipHash's state, and its three steps. */
struct cee_sip_state {
	uint64_t v0, v1, v2, v3;
};

static inline struct cee_sip_state cee_sip_init(const struct cee_siphash_key *k)
{
	return (struct cee_sip_state){.v0 = k->k0 ^ UINT64_C(0x736f6d6570736575),
				      .v1 = k->k1 ^ UINT64_C(0x646f72616e646f6d),
				      .v2 = k->k0 ^ UINT64_C(0x6c7967656e657261),
				      .v3 = k->k1 ^ UINT64_C(0x7465646279746573)};
}

/* One 8-byte word @p m, @p c compression rounds. */
static inline void cee_sip_word(struct cee_sip_state *st, unsigned c, uint64_t m)
{
	st->v3 ^= m;
	for (unsigned r = 0; r < c; r++)
		CEE_SIPROUND(st->v0, st->v1, st->v2, st->v3);
	st->v0 ^= m;
}

/* The last word @p b (length in the top byte, the tail below), then @p d finalisation rounds. */
static inline uint64_t cee_sip_final(struct cee_sip_state *st, unsigned c, unsigned d, uint64_t b)
{
	cee_sip_word(st, c, b);
	st->v2 ^= 0xff;
	for (unsigned r = 0; r < d; r++)
		CEE_SIPROUND(st->v0, st->v1, st->v2, st->v3);
	return st->v0 ^ st->v1 ^ st->v2 ^ st->v3;
}

/** SipHash-@p c-@p d of @p len bytes at @p in under @p k. */
static inline uint64_t cee_siphash(unsigned c, unsigned d, const struct cee_siphash_key *k,
				   const void *in, size_t len)
{
	const uint8_t *p = in;
	struct cee_sip_state st = cee_sip_init(k);
	size_t full = len & ~(size_t)7;
	for (size_t i = 0; i < full; i += 8) {
		uint64_t m = 0;
		for (unsigned j = 0; j < 8; j++)
			m |= (uint64_t)p[i + j] << (8 * j);
		cee_sip_word(&st, c, m);
	}
	uint64_t b = (uint64_t)len << 56;
	for (size_t j = 0; j < (len & 7); j++)
		b |= (uint64_t)p[full + j] << (8 * j);
	return cee_sip_final(&st, c, d, b);
}

/**
 * SipHash-@p c-@p d of 12 bytes: @p m0 (8 bytes, little-endian) then @p m1
 * (4 bytes, little-endian): equal to cee_siphash(c, d, k, bytes, 12),
 * without the byte loops (c and d are constants at every call: the rounds
 * unroll). The table hashes a 4-tuple per packet with SipHash-1-3; the ISN
 * (once per connection) uses SipHash-2-4.
 */
static inline uint64_t cee_siphash_12(unsigned c, unsigned d, const struct cee_siphash_key *k,
				      uint64_t m0, uint32_t m1)
{
	struct cee_sip_state st = cee_sip_init(k);
	cee_sip_word(&st, c, m0);
	return cee_sip_final(&st, c, d, UINT64_C(12) << 56 | m1);
}

/** SipHash-1-3 of 12 bytes (the connection table's hash): cee_siphash_12(1, 3, ...). */
static inline uint64_t cee_siphash13_12(const struct cee_siphash_key *k, uint64_t m0, uint32_t m1)
{
	return cee_siphash_12(1, 3, k, m0, m1);
}
