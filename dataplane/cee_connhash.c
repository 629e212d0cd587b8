/* SPDX-License-Identifier: BSD-3-Clause */
// The 4-tuple table's keyed hash (cee_conn.h): AES-128 under the engine's
// table key where the CPU has AES-NI, else SipHash-1-3.
//
// Why AES: the bucket is computed for every received segment, on both
// sides of cee-bench's default scenario, and SipHash-1-3 of the 12-byte
// tuple costs 6.4 ns in a burst on the development VM, about 3.4% of a
// lifecycle (docs/performance.md, session 9). AES-128 is a pseudo-random
// permutation under a secret key, so its output on distinct tuples is as
// unpredictable as SipHash's (it is the stronger of the two), and with
// four tuples in flight at once (a receive burst's) the AES units do it in
// 1.7 ns. A lone tuple (an active open's source-port search) takes one
// out-of-line call; the ISN keeps SipHash-2-4, computed once per connection.
#include <errno.h>
#include <string.h>

#include "cee_conn.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define AES_TARGET __attribute__((target("aes,sse2")))

AES_TARGET static __m128i key_step(__m128i k, __m128i g)
{
	g = _mm_shuffle_epi32(g, 0xff);
	k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
	k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
	k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
	return _mm_xor_si128(k, g);
}

// FIPS-197 5.2, with AESKEYGENASSIST (its round constants are immediates).
AES_TARGET static void aes_expand(struct cee_conn_hash *h)
{
	__m128i k[11];
	k[0] = _mm_loadu_si128((const __m128i *)(const void *)&h->key);
	k[1] = key_step(k[0], _mm_aeskeygenassist_si128(k[0], 0x01));
	k[2] = key_step(k[1], _mm_aeskeygenassist_si128(k[1], 0x02));
	k[3] = key_step(k[2], _mm_aeskeygenassist_si128(k[2], 0x04));
	k[4] = key_step(k[3], _mm_aeskeygenassist_si128(k[3], 0x08));
	k[5] = key_step(k[4], _mm_aeskeygenassist_si128(k[4], 0x10));
	k[6] = key_step(k[5], _mm_aeskeygenassist_si128(k[5], 0x20));
	k[7] = key_step(k[6], _mm_aeskeygenassist_si128(k[6], 0x40));
	k[8] = key_step(k[7], _mm_aeskeygenassist_si128(k[7], 0x80));
	k[9] = key_step(k[8], _mm_aeskeygenassist_si128(k[8], 0x1b));
	k[10] = key_step(k[9], _mm_aeskeygenassist_si128(k[9], 0x36));
	for (int r = 0; r < 11; r++)
		_mm_storeu_si128((__m128i *)(void *)h->aes_rk[r], k[r]);
}

// The tuple as one block: m0 in the low 8 bytes, m1 in the next 4, zeros.
AES_TARGET static inline __m128i tuple_block(uint64_t m0, uint32_t m1)
{
	return _mm_set_epi64x((long long)m1, (long long)m0);
}

// The high 8 bytes of the cipher block (the bucket takes their top bits).
AES_TARGET static inline uint64_t high64(__m128i x)
{
	return (uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(x, x));
}

AES_TARGET static __m128i aes_encrypt(const struct cee_conn_hash *h, __m128i x)
{
	const __m128i *k = (const __m128i *)(const void *)h->aes_rk;
	x = _mm_xor_si128(x, _mm_loadu_si128(&k[0]));
	for (int r = 1; r < 10; r++)
		x = _mm_aesenc_si128(x, _mm_loadu_si128(&k[r]));
	return _mm_aesenclast_si128(x, _mm_loadu_si128(&k[10]));
}

AES_TARGET uint64_t cee_conn_hash_aes(const struct cee_conn_hash *h, uint64_t m0, uint32_t m1)
{
	return high64(aes_encrypt(h, tuple_block(m0, m1)));
}

AES_TARGET static void aes_burst(const struct cee_conn_hash *h, const uint64_t *m0,
				 const uint32_t *m1, uint32_t *out, unsigned n)
{
	__m128i k[11];
	for (int r = 0; r < 11; r++)
		k[r] = _mm_loadu_si128((const __m128i *)(const void *)h->aes_rk[r]);
	unsigned i = 0;
	// four blocks in flight: AESENC's latency is four times its issue rate
	for (; i + 4 <= n; i += 4) {
		__m128i a = _mm_xor_si128(tuple_block(m0[i], m1[i]), k[0]);
		__m128i b = _mm_xor_si128(tuple_block(m0[i + 1], m1[i + 1]), k[0]);
		__m128i c = _mm_xor_si128(tuple_block(m0[i + 2], m1[i + 2]), k[0]);
		__m128i d = _mm_xor_si128(tuple_block(m0[i + 3], m1[i + 3]), k[0]);
		for (int r = 1; r < 10; r++) {
			a = _mm_aesenc_si128(a, k[r]);
			b = _mm_aesenc_si128(b, k[r]);
			c = _mm_aesenc_si128(c, k[r]);
			d = _mm_aesenc_si128(d, k[r]);
		}
		out[i] = (uint32_t)(high64(_mm_aesenclast_si128(a, k[10])) >> 32) >> h->shift;
		out[i + 1] = (uint32_t)(high64(_mm_aesenclast_si128(b, k[10])) >> 32) >> h->shift;
		out[i + 2] = (uint32_t)(high64(_mm_aesenclast_si128(c, k[10])) >> 32) >> h->shift;
		out[i + 3] = (uint32_t)(high64(_mm_aesenclast_si128(d, k[10])) >> 32) >> h->shift;
	}
	for (; i < n; i++)
		out[i] = (uint32_t)(cee_conn_hash_aes(h, m0[i], m1[i]) >> 32) >> h->shift;
}

static bool cpu_has_aes(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("aes");
}

int cee_conn_hash_aes_block(const struct cee_conn_hash *h, const uint8_t in[16], uint8_t out[16])
{
	if (h->impl != CEE_CONN_HASH_AES)
		return -ENOTSUP;
	__m128i x = aes_encrypt(h, _mm_loadu_si128((const __m128i *)(const void *)in));
	_mm_storeu_si128((__m128i *)(void *)out, x);
	return 0;
}
#else // no AES path on this architecture: SipHash-1-3 only

static void aes_expand(struct cee_conn_hash *h)
{
	(void)h;
}

uint64_t cee_conn_hash_aes(const struct cee_conn_hash *h, uint64_t m0, uint32_t m1)
{
	return cee_siphash13_12(&h->key, m0, m1); // not reached: impl is never AES here
}

static void aes_burst(const struct cee_conn_hash *h, const uint64_t *m0, const uint32_t *m1,
		      uint32_t *out, unsigned n)
{
	(void)h, (void)m0, (void)m1, (void)out, (void)n;
}

static bool cpu_has_aes(void)
{
	return false;
}

int cee_conn_hash_aes_block(const struct cee_conn_hash *h, const uint8_t in[16], uint8_t out[16])
{
	(void)h, (void)in, (void)out;
	return -ENOTSUP;
}
#endif

int cee_conn_hash_init(struct cee_conn_hash *h, const struct cee_siphash_key *key,
		       enum cee_conn_hash_impl impl)
{
	bool aes = cpu_has_aes();
	if (impl == CEE_CONN_HASH_AES && !aes)
		return -ENOTSUP;
	h->key = *key;
	h->impl = (uint8_t)(impl == CEE_CONN_HASH_AUTO ? (aes ? CEE_CONN_HASH_AES : CEE_CONN_HASH_SIPHASH)
						       : impl);
	memset(h->aes_rk, 0, sizeof(h->aes_rk));
	if (h->impl == CEE_CONN_HASH_AES)
		aes_expand(h);
	return 0;
}

void cee_conn_bucket_burst(const struct cee_conn_hash *h, const uint64_t *m0, const uint32_t *m1,
			   uint32_t *out, unsigned n)
{
	if (h->impl == CEE_CONN_HASH_AES) {
		aes_burst(h, m0, m1, out, n);
		return;
	}
	for (unsigned i = 0; i < n; i++)
		out[i] = (uint32_t)(cee_siphash13_12(&h->key, m0[i], m1[i]) >> 32) >> h->shift;
}

const char *cee_conn_hash_impl_str(unsigned impl)
{
	switch (impl) {
	case CEE_CONN_HASH_SIPHASH:
		return "siphash-1-3";
	case CEE_CONN_HASH_AES:
		return "aes-128";
	default:
		return "auto";
	}
}
