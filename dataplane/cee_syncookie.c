/* SPDX-License-Identifier: BSD-3-Clause */
// SYN cookies: encoding and check (see cee_syncookie.h). No DPDK.
#include "cee_syncookie.h"

#define T_SHIFT 36 /* a cookie period: 2^36 ns, about 69 s */
#define MAC_BITS 22
#define MAC_MASK ((UINT32_C(1) << MAC_BITS) - 1)

// MSS steps: the largest at or below the peer's MSS is kept. 1460
// (Ethernet), 1440 (PPPoE, tunnels; 1452 gets it), 1400-1200 (VPNs, IPv6
// tunnels), 536 (the default), 256 (small links: a peer between 65 and
// 535 got 64, eight times the segments of the normal path, for the
// connection's life), 64 (our floor for a peer's MSS).
static const uint16_t mss_steps[8] = {64, 256, 536, 1200, 1300, 1380, 1440, 1460};

static uint32_t mac(const struct cee_siphash_key *key, const struct cee_syncookie_tuple *t,
		    uint32_t peer_isn, uint32_t period, uint32_t fields)
{
	const uint32_t in[6] = {t->local_ip,
				t->remote_ip,
				(uint32_t)t->local_port << 16 | t->remote_port,
				peer_isn,
				period,
				fields};
	return (uint32_t)cee_siphash(2, 4, key, in, sizeof(in)) & MAC_MASK;
}

// bits 31-22 of a cookie, without the MAC
static uint32_t encode_fields(uint32_t period, const struct cee_syncookie_opts *o)
{
	uint16_t mss = o->mss ? o->mss : 536;
	unsigned mi = 0;
	for (unsigned i = 0; i < 8; i++)
		if (mss_steps[i] <= mss)
			mi = i;
	unsigned ws = o->wscale == 0xff ? 15 : (o->wscale > 14 ? 14 : o->wscale);
	return (period & 3) << 30 | (uint32_t)mi << 27 | (uint32_t)ws << 23 |
	       (uint32_t)(o->sack_ok ? 1 : 0) << 22;
}

uint32_t cee_syncookie_make(const struct cee_siphash_key *key, const struct cee_syncookie_tuple *t,
			    uint32_t peer_isn, const struct cee_syncookie_opts *o, uint64_t now_ns)
{
	uint32_t period = (uint32_t)(now_ns >> T_SHIFT);
	uint32_t fields = encode_fields(period, o);
	return fields | mac(key, t, peer_isn, period, fields);
}

bool cee_syncookie_check(const struct cee_siphash_key *key, const struct cee_syncookie_tuple *t,
			 uint32_t seq, uint32_t ack, uint64_t now_ns, struct cee_syncookie_opts *o)
{
	uint32_t cookie = ack - 1, peer_isn = seq - 1;
	uint32_t fields = cookie & ~MAC_MASK;
	uint32_t now = (uint32_t)(now_ns >> T_SHIFT);
	// the period it was made in: this one or the one before
	uint32_t period = (now & ~UINT32_C(3)) | (cookie >> 30);
	if (period > now)
		period -= 4;
	if (now - period > 1)
		return false;
	if (mac(key, t, peer_isn, period, fields) != (cookie & MAC_MASK))
		return false;
	o->mss = mss_steps[(cookie >> 27) & 7];
	unsigned ws = (cookie >> 23) & 15;
	o->wscale = ws == 15 ? 0xff : (uint8_t)ws;
	o->sack_ok = (cookie >> 22) & 1;
	return true;
}
