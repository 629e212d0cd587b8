/* SPDX-License-Identifier: BSD-3-Clause */
// SYN cookies: encoding and check (see cee_syncookie.h). No DPDK.
#include "cee_syncookie.h"

#define T_SHIFT 36 /* a cookie period: 2^36 ns, about 69 s */
#define MAC_BITS 29
#define MAC_MASK ((UINT32_C(1) << MAC_BITS) - 1)

// MSS steps: the largest at or below the peer's MSS is kept. 1460
// (Ethernet), 1440 (PPPoE, tunnels; 1452 gets it), 1400-1200 (VPNs, IPv6
// tunnels), 536 (the default), 256 (small links: a peer between 65 and
// 535 got 64, eight times the segments of the normal path, for the
// connection's life), 64 (our floor for a peer's MSS).
static const uint16_t mss_steps[8] = {64, 256, 536, 1200, 1300, 1380, 1440, 1460};

static uint32_t mac(const struct cee_siphash_key *key, const struct cee_syncookie_tuple *t,
		    uint32_t peer_isn, uint32_t period, unsigned mi, bool ts)
{
	const uint32_t in[6] = {t->local_ip,
				t->remote_ip,
				(uint32_t)t->local_port << 16 | t->remote_port,
				peer_isn,
				period,
				(uint32_t)mi | (ts ? 8u : 0u)};
	return (uint32_t)cee_siphash(2, 4, key, in, sizeof(in)) & MAC_MASK;
}

static unsigned mss_index(uint16_t mss)
{
	unsigned mi = 0;
	if (mss == 0)
		mss = 536;
	for (unsigned i = 0; i < 8; i++)
		if (mss_steps[i] <= mss)
			mi = i;
	return mi;
}

uint32_t cee_syncookie_make(const struct cee_siphash_key *key, const struct cee_syncookie_tuple *t,
			    uint32_t peer_isn, const struct cee_syncookie_opts *o, uint64_t now_ns)
{
	uint32_t period = (uint32_t)(now_ns >> T_SHIFT);
	unsigned mi = mss_index(o->mss);
	return (uint32_t)mi << MAC_BITS | mac(key, t, peer_isn, period, mi, o->ts);
}

uint32_t cee_syncookie_ts_code(const struct cee_syncookie_opts *o)
{
	unsigned ws = o->wscale == 0xff ? 15 : (o->wscale > 14 ? 14 : o->wscale);
	return (uint32_t)ws | (o->sack_ok ? 16u : 0u);
}

bool cee_syncookie_check(const struct cee_siphash_key *key, const struct cee_syncookie_tuple *t,
			 uint32_t seq, uint32_t ack, bool ts, uint32_t tsecr, uint64_t now_ns,
			 struct cee_syncookie_opts *o)
{
	uint32_t cookie = ack - 1, peer_isn = seq - 1, m = cookie & MAC_MASK;
	unsigned mi = cookie >> MAC_BITS;
	uint32_t now = (uint32_t)(now_ns >> T_SHIFT);
	// made in this period or the one before (no period bits in clear: each
	// would be one more guess's worth of cookies that check)
	if (mac(key, t, peer_isn, now, mi, ts) != m && mac(key, t, peer_isn, now - 1, mi, ts) != m)
		return false;
	o->mss = mss_steps[mi];
	o->ts = ts;
	if (ts) {
		unsigned ws = tsecr & 15u;
		o->wscale = ws == 15 ? 0xff : (uint8_t)ws;
		o->sack_ok = (tsecr >> 4) & 1u;
	} else {
		o->wscale = 0xff; // not offered back (cee_tcp_synack_cookie())
		o->sack_ok = false;
	}
	return true;
}
