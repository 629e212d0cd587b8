/* SPDX-License-Identifier: BSD-3-Clause */
#include "cee_flow.h"

// The key is the 16-bit pattern 0x6d5a repeated. Toeplitz XORs, for each set
// input bit k (most significant bit of the first byte is k = 0), the 32 key
// bits starting at bit k. With a 16-bit period that window depends on k mod 16
// only, and every field of the IPv4/TCP input starts at a multiple of 16
// bits; so the hash of the 96-bit input is the hash of the XOR of its six
// 16-bit words (which is also why it is symmetric). Two 256-entry tables, one
// per byte of that word, finish the job: 2 KiB, built at compile time, no
// initialisation to race on. The unit test checks the result bit by bit
// against a plain Toeplitz over cee_rss_key, so a key without this period
// would fail it.
#define KEY_WORD 0x6d5a
#define KEY_HI ((uint8_t)(KEY_WORD >> 8))
#define KEY_LO ((uint8_t)(KEY_WORD & 0xff))

#define KEY_2 KEY_HI, KEY_LO
#define KEY_10 KEY_2, KEY_2, KEY_2, KEY_2, KEY_2
const uint8_t cee_rss_key[CEE_RSS_KEY_LEN] = {KEY_10, KEY_10, KEY_10, KEY_10};

void cee_rss_key_fill(uint8_t *key, unsigned len)
{
	for (unsigned i = 0; i < len; i++)
		key[i] = i % 2 ? KEY_LO : KEY_HI;
}

// 64 key bits; the 32-bit window at bit k (k < 32) is KEY64 >> (32 - k).
#define KEY64 ((uint64_t)KEY_WORD * UINT64_C(0x0001000100010001))
#define WIN(k) ((uint32_t)(KEY64 >> (32 - (k))))

// Contribution of byte value b whose most significant bit is input bit base.
#define BIT(b, base, i) (((b) >> (7 - (i)) & 1) ? WIN((base) + (i)) : 0u)
#define ENTRY(b, base)                                                                             \
	(BIT(b, base, 0) ^ BIT(b, base, 1) ^ BIT(b, base, 2) ^ BIT(b, base, 3) ^ BIT(b, base, 4) ^ \
	 BIT(b, base, 5) ^ BIT(b, base, 6) ^ BIT(b, base, 7))
#define E4(b, base) ENTRY(b, base), ENTRY((b) + 1, base), ENTRY((b) + 2, base), ENTRY((b) + 3, base)
#define E16(b, base) E4(b, base), E4((b) + 4, base), E4((b) + 8, base), E4((b) + 12, base)
#define E64(b, base) E16(b, base), E16((b) + 16, base), E16((b) + 32, base), E16((b) + 48, base)
#define E256(base) E64(0, base), E64(64, base), E64(128, base), E64(192, base)

// [0]: high byte of the folded word (bits 0-7 mod 16), [1]: low byte.
static const uint32_t fold_table[2][256] = {{E256(0)}, {E256(8)}};

uint32_t cee_flow_hash(uint32_t src_ip, uint32_t dst_ip, uint16_t src_port, uint16_t dst_port)
{
	uint32_t f = src_ip ^ dst_ip;
	f = (f ^ (f >> 16) ^ src_port ^ dst_port) & 0xffff;
	return fold_table[0][f >> 8] ^ fold_table[1][f & 0xff];
}
