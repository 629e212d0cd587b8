/* SPDX-License-Identifier: BSD-3-Clause */
// SYN cookies engaged by the event ring's credits on a WebSocket listener,
// over net_ring, the clients played frame by frame (ring_peer.h).
//
// Fault guarded against (review of resource bounds): `auto` cookies start
// when the ring runs short of credits because half-open connections hold
// them, and the test counted 4 credits a half-open connection, a plain TCP
// lifecycle's. A TLS or WebSocket listener's hold 18 from the SYN on. With
// established connections holding over 44% of the ring, a flood's half-open
// connections used up the rest before 4 each reached an eighth of the ring:
// every SYN after that, the flood's and the real clients', was refused
// (RST, `refused`) and no cookie ever went. Here 130 established WebSocket
// connections hold 2,340 of a 4,096-record ring; then 120 SYNs are never
// acknowledged: every one must be answered with a SYN-ACK (cookies from
// about the 70th on), none refused.
//
// Synchronisation: each SYN's answer awaited with a deadline; the shard's
// counters read after.
#include <signal.h>

#include <rte_eal.h>

#include "cee_audit.h"
#include "ring_peer.h"

#define WS_PORT 8080
#define NEST 130  /* established: 18 credits each */
#define NHALF 120 /* never acknowledged */

static const struct rte_ether_addr peer_mac = {{0x02, 0, 0, 0, 0, 0xc}};

static void send_tcp(uint16_t sport, uint8_t flags, uint32_t seq, uint32_t ack)
{
	struct rte_mbuf *m =
	    peer_seg(&peer_mac, &engine_mac, PEER_IP, sport, WS_PORT, flags, seq, ack, NULL, 0);
	if (m)
		send_frame(rp_port, 0, m);
}

static uint64_t cookies_sent(void)
{
	return __atomic_load_n(&cee_engine_shard(eng, 0)->tcp.stats.syncookies_sent,
			       __ATOMIC_RELAXED);
}

int main(int argc, char **argv)
{
	(void)argc;
	if (ring_eal_init(argv[0], "ringcookies", "0@0,1@1") < 0)
		return 1;
	int port = ring_peer_setup("cee_k0", 4096, 0);
	if (port < 0)
		return 1;
	char *args[] = {"test",
			"--ip",
			"10.0.0.1/24",
			"--listen",
			"ws:8080",
			"--events",
			"mem:",
			"--event-ring",
			"4096",
			"--max-conns",
			"1024",
			"--handshake-timeout",
			"60",
			"--poll-idle-us",
			"50",
			NULL};
	struct cee_engine_cfg cfg;
	cee_engine_cfg_default(&cfg);
	if (cee_engine_parse_args(&cfg, 15, args) != 0)
		return 1;
	if (!ring_engine_start(&cfg, port))
		return 1;

	// established WebSocket connections (their upgrade not begun: the
	// 60 s handshake limit bounds them), 18 credits each
	unsigned est = 0;
	for (uint16_t i = 0; i < NEST; i++) {
		uint16_t cport = (uint16_t)(30000 + i);
		send_tcp(cport, CEE_TCP_SYN, 1000, 0);
		struct seg sa = recv_seg(cport, 2000);
		if (!sa.ok || sa.flags != (CEE_TCP_SYN | CEE_TCP_ACK))
			continue;
		send_tcp(cport, CEE_TCP_ACK, 1001, sa.seq + 1);
		est++;
	}
	CHECK(est == NEST, "%u of %u handshakes", est, NEST);
	CHECK(wait_stat(offsetof(struct cee_shard_stats, opened), NEST, 3000) == NEST,
	      "opened %lu", (unsigned long)STAT(opened));

	// a flood's SYNs, never acknowledged: each answered with a SYN-ACK
	unsigned synacks = 0, rsts = 0, silent = 0;
	for (uint16_t i = 0; i < NHALF; i++) {
		uint16_t cport = (uint16_t)(40000 + i);
		send_tcp(cport, CEE_TCP_SYN, 7000, 0);
		struct seg sa = recv_seg(cport, 2000);
		if (!sa.ok)
			silent++;
		else if (sa.flags == (CEE_TCP_SYN | CEE_TCP_ACK))
			synacks++;
		else if (sa.flags & CEE_TCP_RST)
			rsts++;
	}
	CHECK(synacks == NHALF && rsts == 0 && silent == 0,
	      "flood SYNs: %u SYN-ACKs, %u refused (RST), %u unanswered of %u; cookies %lu, "
	      "refused %lu, half open %u",
	      synacks, rsts, silent, NHALF, (unsigned long)cookies_sent(),
	      (unsigned long)STAT(refused), cee_engine_shard(eng, 0)->half_open);
	CHECK(cookies_sent() > 0 && STAT(refused) == 0, "cookies %lu, refused %lu",
	      (unsigned long)cookies_sent(), (unsigned long)STAT(refused));

	struct cee_audit_result res;
	ring_stop_audit(&res);
	CHECK(res.ok && res.opens == NEST, "audit: ok=%d opens=%lu (want %u: the flood unsaid)",
	      res.ok, (unsigned long)res.opens, NEST);
	printf("ring cookies: %u established, flood %u SYN-ACKs (%lu cookies), %u refused, "
	       "%zu events, %d failures\n",
	       est, synacks, (unsigned long)cookies_sent(), rsts, nevs, failures);
	cee_engine_destroy(eng);
	cee_engine_cfg_free(&cfg);
	free(evs);
	rte_eal_cleanup();
	return failures ? 1 : 0;
}
