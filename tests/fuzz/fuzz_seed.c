/* SPDX-License-Identifier: BSD-3-Clause */
// Deterministic entropy for wolfSSL in the TLS fuzz targets and the seed
// generator (docs/fuzzing.md). wolfSSL seeds each random generator through
// wc_GenerateSeed(), which Debian's libwolfssl calls through its PLT, so
// this definition in the executable takes its place. With the seed fixed
// per end (fuzz_seed_reset() before the end's cee_tls_new()), a server
// makes the same ServerHello, key share and signatures for the same
// ClientHello every time, and a client the same ClientHello: the flights
// seedgen records replay to the end of the handshake and past it, and the
// fuzzer reaches the records after tls_up. Never linked into the product.
#include <stdint.h>
#include <string.h>

#include "fuzz_seed.h"

static uint64_t stream;

void fuzz_seed_reset(uint64_t end)
{
	stream = end * 0x9e3779b97f4a7c15ull;
}

/* wolfSSL's prototype is int wc_GenerateSeed(OS_Seed *, byte *, word32). */
int wc_GenerateSeed(void *os, uint8_t *out, uint32_t sz);

int wc_GenerateSeed(void *os, uint8_t *out, uint32_t sz)
{
	(void)os;
	for (uint32_t i = 0; i < sz; i += 8) { // splitmix64
		uint64_t z = (stream += 0x9e3779b97f4a7c15ull);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		z ^= z >> 31;
		memcpy(out + i, &z, sz - i < 8 ? sz - i : 8);
	}
	return 0;
}
