/* SPDX-License-Identifier: BSD-3-Clause */
// Send buffers pinned by peers that never acknowledge, over net_ring, the
// clients played frame by frame (ring_peer.h).
//
// Fault guarded against (review of resource bounds): a peer that takes our
// echo and never acknowledges it (every ACK dropped, an address that went
// away) held the send buffer through the whole backoff, 8 timeouts, about
// 51 s with a 200 ms RTO. Only shut windows and out-of-order data were
// taken back, so 80 such connections a second pinned a shard's 4,096
// buffers, and every other client was refused (refused_sndbuf). Here 31
// connections of 32 buffers each hold our echo of one byte and never
// acknowledge it; once their oldest segment has timed out three times
// (tcp.rto_timeouts), four new clients must each be served (their byte
// echoed), each taking the buffer of a stalled one, which ends with
// retransmit_timeout (tcp.stall_evicted).
//
// Synchronisation: each segment's answer awaited with a deadline; the
// timeouts by the shard's counter.
#include <signal.h>

#include <rte_eal.h>

#include "cee_audit.h"
#include "ring_peer.h"

#define ECHO_PORT 7
#define NPIN 31 /* of 32 buffers: fewer than 1/16 left */
#define NNEW 4

static const struct rte_ether_addr peer_mac = {{0x02, 0, 0, 0, 0, 0xd}};

static void send_tcp(uint16_t sport, uint8_t flags, uint32_t seq, uint32_t ack, const char *data)
{
	struct rte_mbuf *m = peer_seg(&peer_mac, &engine_mac, PEER_IP, sport, ECHO_PORT, flags, seq,
				      ack, data, data ? (uint32_t)strlen(data) : 0);
	if (m)
		send_frame(rp_port, 0, m);
}

static uint64_t tcp_stat(size_t off)
{
	return __atomic_load_n((const uint64_t *)((const char *)&cee_engine_shard(eng, 0)->tcp.stats +
						  off),
			       __ATOMIC_RELAXED);
}
#define TCP_STAT(f) tcp_stat(offsetof(struct cee_tcp_stats, f))

// A client on @p cport: handshake, one byte; @return whether its echo came
// (its ACK is not sent: the echo's buffer stays held). @p syn_answer: the
// flags the SYN drew.
static bool client(uint16_t cport, uint8_t *syn_answer)
{
	send_tcp(cport, CEE_TCP_SYN, 1000, 0, NULL);
	struct seg sa = recv_seg(cport, 2000);
	*syn_answer = sa.ok ? sa.flags : 0;
	if (!sa.ok || sa.flags != (CEE_TCP_SYN | CEE_TCP_ACK))
		return false;
	send_tcp(cport, CEE_TCP_ACK, 1001, sa.seq + 1, NULL);
	send_tcp(cport, CEE_TCP_ACK | CEE_TCP_PSH, 1001, sa.seq + 1, "x");
	for (int i = 0; i < 4; i++) { // (an ACK alone may come first)
		struct seg e = recv_seg(cport, 2000);
		if (e.ok && e.len == 1 && e.data[0] == 'x')
			return true;
	}
	return false;
}

int main(int argc, char **argv)
{
	(void)argc;
	if (ring_eal_init(argv[0], "ringpin", "0@0,1@1") < 0)
		return 1;
	int port = ring_peer_setup("cee_p0", 4096, 0);
	if (port < 0)
		return 1;
	char *args[] = {"test",	      "--ip",	       "10.0.0.1/24",  "--listen",
			"tcp:7:echo", "--events",      "mem:",	       "--sndbufs",
			"32",	      "--max-conns",   "256",	       "--poll-idle-us",
			"50",	      "--sndbuf-max",  "0",	       NULL};
	struct cee_engine_cfg cfg;
	cee_engine_cfg_default(&cfg);
	if (cee_engine_parse_args(&cfg, 15, args) != 0)
		return 1;
	cfg.port_mask = 1u << port;
	eng = cee_engine_create(&cfg);
	if (eng == NULL || cee_engine_start(eng) < 0) {
		fprintf(stderr, "engine failed\n");
		return 1;
	}
	CHECK(cee_engine_nshards(eng) == 1, "%u shards", cee_engine_nshards(eng));
	rte_eth_macaddr_get((uint16_t)port, &engine_mac);

	unsigned pinned = 0;
	uint8_t ans;
	for (uint16_t i = 0; i < NPIN; i++)
		pinned += client((uint16_t)(30000 + i), &ans);
	CHECK(pinned == NPIN, "%u of %u clients echoed", pinned, NPIN);

	// every pinned echo timed out three times (the peer drains what comes)
	uint64_t end = now_ms() + 20000;
	while (TCP_STAT(rto_timeouts) < (uint64_t)NPIN * CEE_TCP_STALL_RETRIES && now_ms() < end) {
		struct rte_mbuf *m = recv_frame(10);
		if (m)
			rte_pktmbuf_free(m);
	}
	CHECK(TCP_STAT(rto_timeouts) >= (uint64_t)NPIN * CEE_TCP_STALL_RETRIES,
	      "rto_timeouts %lu", (unsigned long)TCP_STAT(rto_timeouts));

	// new clients are served, each in a stalled one's buffer
	unsigned served = 0;
	for (uint16_t i = 0; i < NNEW; i++) {
		bool ok = client((uint16_t)(40000 + i), &ans);
		CHECK(ok, "new client %u: %s", i,
		      ans == 0 ? "no answer" : (ans & CEE_TCP_RST) ? "refused (RST)" : "no echo");
		served += ok;
	}
	CHECK(TCP_STAT(stall_evicted) == NNEW && STAT(refused_sndbuf) == 0,
	      "stall_evicted %lu, refused_sndbuf %lu", (unsigned long)TCP_STAT(stall_evicted),
	      (unsigned long)STAT(refused_sndbuf));
	unsigned evicted = 0;
	for (uint16_t i = 0; i < NPIN; i++) {
		const struct cee_event *c = find_event((uint16_t)(30000 + i), CEE_EVT_CLOSED, 0);
		if (c != NULL) {
			CHECK(c->reason == CEE_REASON_RETRANSMIT_TIMEOUT, "pinned %u closed with %u", i,
			      c->reason);
			evicted++;
		}
	}
	CHECK(evicted == NNEW, "%u pinned connections closed, want %u", evicted, NNEW);

	volatile sig_atomic_t stop = 1;
	CHECK(cee_engine_run(eng, &stop) == 0, "shutdown run");
	struct cee_audit *au = cee_audit_create();
	cee_audit_feed(au, evs, (uint32_t)nevs);
	struct cee_audit_result res;
	cee_audit_finish(au, false, &res);
	CHECK(res.ok && res.opens == NPIN + NNEW, "audit: ok=%d opens=%lu (want %u)", res.ok,
	      (unsigned long)res.opens, NPIN + NNEW);
	if (!res.ok)
		cee_audit_print_violations(au, stderr);
	cee_audit_destroy(au);
	printf("ring pin: %u pinned, %u new served, stall_evicted %lu, refused_sndbuf %lu, "
	       "%zu events, %d failures\n",
	       pinned, served, (unsigned long)TCP_STAT(stall_evicted),
	       (unsigned long)STAT(refused_sndbuf), nevs, failures);
	cee_engine_destroy(eng);
	cee_engine_cfg_free(&cfg);
	free(evs);
	rte_eal_cleanup();
	return failures ? 1 : 0;
}
