/* SPDX-License-Identifier: BSD-3-Clause */
// Our TCP timestamps (RFC 7323) over net_ring, the clients played frame by
// frame (ring_peer.h), their SYNs offering timestamps.
//   test_ring_ts offsets  two tuples at once, then one of them again
//   test_ring_ts cookie   a cookie SYN-ACK and its connection
//
// Fault guarded against (review of the hostile-traffic pieces, session 32):
// our TSval was the clock plus the ISS plus one secret, so TSval - ISS (both
// in every SYN-ACK) was the same for every connection of the engine: two
// connections, through two addresses or NATs, told anyone that they reached
// one engine, and its clock's skew could be measured. The offset is now a
// keyed hash of the 4-tuple, unrelated to the ISS. Here:
// - two SYNs from two ports at once: their TSval - ISS differ (by more than
//   the milliseconds between them; they were equal);
// - a connection of the same tuple again, later: its TSvals go on from the
//   first one's (a peer holding the tuple's TIME-WAIT takes a new SYN only
//   with a newer TSval);
// - a cookie SYN-ACK (--syn-cookies always) and the connection its ACK makes:
//   the connection's TSvals go on from the cookie's (the offset the shard
//   gave the cookie is the connection's), never back (the peer's PAWS).
//
// Synchronisation: each segment's answer awaited with a deadline.
#include <rte_eal.h>

#include "cee_audit.h"
#include "ring_peer.h"

#define ECHO_PORT 7

static const struct rte_ether_addr peer_mac = {{0x02, 0, 0, 0, 0, 0xf}};

// A segment of the peer with a timestamps option (TSval @p tsval, TSecr
// @p tsecr); a SYN also offers MSS 1460, window scale 7 and SACK.
static void send_ts(uint16_t sport, uint8_t flags, uint32_t seq, uint32_t ack, uint32_t tsval,
		    uint32_t tsecr, const char *data)
{
	struct cee_net_addr a = {.src_mac = peer_mac,
				 .dst_mac = engine_mac,
				 .src_ip = PEER_IP,
				 .dst_ip = ENGINE_IP,
				 .sport = sport,
				 .dport = ECHO_PORT};
	bool syn = (flags & CEE_TCP_SYN) != 0;
	struct cee_tcp_out o = {.seq = seq,
				.ack = ack,
				.wnd = 65535,
				.flags = flags,
				.wscale = syn ? 7 : 0xff,
				.mss = syn ? 1460 : 0,
				.sack_ok = syn,
				.ts = true,
				.tsval = tsval,
				.tsecr = tsecr};
	if (data != NULL) {
		o.data[0] = (const uint8_t *)data;
		o.len[0] = (uint32_t)strlen(data);
	}
	struct rte_mbuf *m = cee_net_build_tcp(peer_mp, &a, &o);
	CHECK(m != NULL, "no frame");
	if (m != NULL)
		send_frame(rp_port, 0, m);
}

// The engine's next segment to @p cport (within 2 s), with its timestamps.
struct tseg {
	bool ok, ts;
	uint8_t flags;
	uint32_t seq, ack, len, tsval, tsecr;
};

static struct tseg recv_ts(uint16_t cport)
{
	struct tseg t;
	memset(&t, 0, sizeof(t));
	uint64_t end = now_ms() + 2000;
	while (now_ms() < end) {
		struct rte_mbuf *m = recv_frame((unsigned)(end - now_ms()) + 1);
		if (m == NULL)
			break;
		struct cee_pkt p;
		cee_net_parse(m, PEER_IP, 1, &p);
		bool mine = p.kind == CEE_PKT_TCP && p.dport == cport;
		if (mine) {
			t.ok = true;
			t.flags = p.seg.flags;
			t.seq = p.seg.seq;
			t.ack = p.seg.ack;
			t.len = p.seg.len;
			t.ts = p.seg.ts_ok;
			t.tsval = p.seg.tsval;
			t.tsecr = p.seg.tsecr;
		}
		rte_pktmbuf_free(m);
		if (mine)
			break;
	}
	return t;
}

static bool engine_up(int port, const char *cookies, struct cee_engine_cfg *cfg)
{
	char *args[] = {"test",		  "--ip",	   "10.0.0.1/24", "--listen",
			"tcp:7:echo",	  "--events",	   "mem:",	  "--timestamps",
			"on",		  "--syn-cookies", (char *)cookies, "--poll-idle-us",
			"50",		  NULL};
	cee_engine_cfg_default(cfg);
	return cee_engine_parse_args(cfg, 13, args) == 0 && ring_engine_start(cfg, port);
}

// A SYN from @p cport (ISN 1000, TSval @p tsval): the SYN-ACK.
static struct tseg syn(uint16_t cport, uint32_t tsval)
{
	send_ts(cport, CEE_TCP_SYN, 1000, 0, tsval, 0, NULL);
	struct tseg sa = recv_ts(cport);
	CHECK(sa.ok && sa.flags == (CEE_TCP_SYN | CEE_TCP_ACK) && sa.ts,
	      "port %u: no SYN-ACK with timestamps (flags %#x, ts %d)", cport, sa.flags, sa.ts);
	return sa;
}

// Until @p cport has @p n destroyed events (2 s at most): whether it has.
static bool destroyed(uint16_t cport, unsigned n)
{
	uint64_t end = now_ms() + 2000;
	do {
		pump();
		unsigned k = 0;
		for (size_t i = 0; i < nevs; i++)
			k += evs[i].remote_port == cport && evs[i].type == CEE_EVT_DESTROYED;
		if (k >= n)
			return true;
		usleep(200);
	} while (now_ms() < end);
	return false;
}

// The connection of @p sa on @p cport (its @p nth): handshake done, "x"
// echoed, then reset. @return the echo's TSval (0 when it did not come),
// and in @p at_ms when it came.
static uint32_t echo_and_reset(uint16_t cport, unsigned nth, const struct tseg *sa,
			       uint32_t tsval, uint64_t *at_ms)
{
	send_ts(cport, CEE_TCP_ACK, 1001, sa->seq + 1, tsval, sa->tsval, NULL);
	send_ts(cport, CEE_TCP_ACK | CEE_TCP_PSH, 1001, sa->seq + 1, tsval + 1, sa->tsval, "x");
	uint32_t echo_ts = 0;
	for (int i = 0; i < 4 && echo_ts == 0; i++) { // (an ACK alone may come first)
		struct tseg e = recv_ts(cport);
		if (e.ok && e.len == 1)
			echo_ts = e.tsval;
	}
	*at_ms = now_ms();
	CHECK(echo_ts != 0, "port %u: no echo", cport);
	send_ts(cport, CEE_TCP_RST, 1002, 0, tsval + 2, 0, NULL);
	CHECK(destroyed(cport, nth), "port %u: connection %u not destroyed", cport, nth);
	return echo_ts;
}

static void offsets(int port)
{
	struct cee_engine_cfg cfg;
	if (!engine_up(port, "off", &cfg)) {
		failures++;
		return;
	}
	// two tuples at once: TSval - ISS is not one value for both
	uint64_t t0 = now_ms();
	struct tseg a = syn(51001, 100), b = syn(51002, 100);
	uint32_t ms = (uint32_t)(now_ms() - t0);
	int32_t da = (int32_t)(a.tsval - a.seq), db = (int32_t)(b.tsval - b.seq);
	int64_t apart = (int64_t)da - db;
	printf("ring ts: TSval - ISS %d and %d (%u ms apart)\n", da, db, ms);
	CHECK(apart > (int64_t)ms + 2 || apart < -(int64_t)ms - 2,
	      "TSval - ISS of two tuples differ by %lld in %u ms: one value for the engine "
	      "(its clock plus a constant)",
	      (long long)apart, ms);
	uint64_t a_at, b_at;
	uint32_t a_echo = echo_and_reset(51001, 1, &a, 100, &a_at);
	echo_and_reset(51002, 1, &b, 100, &b_at);

	// the same tuple again, later: its TSvals go on from the first one's,
	// by the milliseconds since its echo (the clock's ticks: 2^20 ns)
	struct tseg a2 = syn(51001, 200);
	uint32_t gone = (uint32_t)((now_ms() - a_at) * 1000000 >> 20) + 2;
	int32_t step = (int32_t)(a2.tsval - a_echo);
	printf("ring ts: the same tuple again: TSval %u after %u (+%d)\n", a2.tsval, a_echo, step);
	CHECK(step >= 0 && step <= (int32_t)gone,
	      "the tuple's next connection's TSval went %d from its last one's (want 0..%u: "
	      "the tuple's offset again, only the clock moved; back, a peer in TIME-WAIT "
	      "would refuse its SYN)",
	      step, gone);
	uint64_t a2_at;
	echo_and_reset(51001, 2, &a2, 200, &a2_at);
	ring_engine_down(&cfg, 3);
}

static void cookie(int port)
{
	struct cee_engine_cfg cfg;
	if (!engine_up(port, "always", &cfg)) {
		failures++;
		return;
	}
	uint64_t t0 = now_ms(), echo_at;
	struct tseg sa = syn(52001, 300);
	uint32_t echo_ts = echo_and_reset(52001, 1, &sa, 300, &echo_at);
	uint32_t ticks = (uint32_t)((echo_at - t0) * 1000000 >> 20) + 2;
	int32_t step = (int32_t)(echo_ts - sa.tsval);
	printf("ring ts: cookie SYN-ACK TSval %u, the connection's echo %u (+%d)\n", sa.tsval,
	       echo_ts, step);
	CHECK(__atomic_load_n(&cee_engine_shard(eng, 0)->tcp.stats.syncookies_ok,
			      __ATOMIC_RELAXED) == 1,
	      "the connection was not made by a cookie");
	// (the cookie's TSval is the clock with its low 5 bits replaced: up to
	// 32 below it, never above; then the clock's ticks since)
	CHECK(step >= 0 && step <= 32 + (int32_t)ticks,
	      "the cookie connection's TSval went %d from its SYN-ACK's (want 0..%u): another "
	      "offset than the cookie's",
	      step, 32 + ticks);
	ring_engine_down(&cfg, 1);
}

int main(int argc, char **argv)
{
	static const struct ring_mode modes[] = {{"offsets", offsets}, {"cookie", cookie}};
	return ring_mode_main(argc, argv, modes, 2, "cee_t0");
}
