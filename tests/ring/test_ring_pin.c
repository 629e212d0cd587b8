/* SPDX-License-Identifier: BSD-3-Clause */
// Resources pinned by peers, taken back when a new client needs them, over
// net_ring, the clients played frame by frame (ring_peer.h).
//   test_ring_pin stall     send buffers of peers that never acknowledge
//   test_ring_pin timewait  slots in TIME-WAIT
//
// stall: fault guarded against (review of resource bounds): a peer that takes our
// echo and never acknowledges it (every ACK dropped, an address that went
// away) held the send buffer through the whole backoff, 8 timeouts, about
// 51 s with a 200 ms RTO. Only shut windows and out-of-order data were
// taken back, so 80 such connections a second pinned a shard's 4,096
// buffers, and every other client was refused (refused_sndbuf). Here 31
// connections of 32 buffers each hold our echo of one byte and never
// acknowledge it; once their oldest segment has timed out three times
// (tcp.rto_timeouts), four new clients must each be served (their byte
// echoed), each taking the buffer of a stalled one, which ends with
// retransmit_timeout (tcp.stall_evicted). Then, the last free buffer
// taken, one burst brings a segment of an idle client, whose echo finds
// no buffer (a look that resets nobody), and a new client's SYN: it must
// be admitted, not refused because the look before it in the same poll
// iteration found nothing (review of session 28: the two looks shared
// their mark).
//
// timewait: fault guarded against (review of resource bounds): slots in
// TIME-WAIT counted against --max-conns and nothing took them back, so one
// source drawing closes the engine begins (echo-close here; refused
// upgrades, TLS alerts) at 1,100 a second filled 65,536 slots for 60 s,
// and every SYN was refused. Here 8 echo-close connections fill
// --max-conns 8 with TIME-WAIT; three more clients must each be served,
// each in the slot of one that ends early (its destroyed, tw_reclaimed).
// Then the consumer stalls (no export): clients are served until the
// event ring (--event-ring 32) has no room for one more, whose SYN is
// refused; it must not have ended a TIME-WAIT connection for nothing (a
// stream of SYNs emptied TIME-WAIT while admission had stopped; review of
// session 28).
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

#define NTW 8 /* --max-conns */
#define NTW_NEW 3

static const struct rte_ether_addr peer_mac = {{0x02, 0, 0, 0, 0, 0xd}};

static void send_tcp(uint16_t sport, uint8_t flags, uint32_t seq, uint32_t ack, const char *data)
{
	struct rte_mbuf *m = peer_seg(&peer_mac, &engine_mac, PEER_IP, sport, ECHO_PORT, flags, seq,
				      ack, data, data ? (uint32_t)strlen(data) : 0);
	if (m)
		send_frame(rp_port, 0, m);
}

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

// A client on @p cport that completes its handshake and says nothing yet.
// @return the engine's ISS + 1, 0 when its SYN was not answered so.
static uint32_t idle_client(uint16_t cport)
{
	send_tcp(cport, CEE_TCP_SYN, 1000, 0, NULL);
	struct seg sa = recv_seg(cport, 2000);
	if (!sa.ok || sa.flags != (CEE_TCP_SYN | CEE_TCP_ACK))
		return 0;
	send_tcp(cport, CEE_TCP_ACK, 1001, sa.seq + 1, NULL);
	return sa.seq + 1;
}

// The engine on a ring port with @p args (NULL-ended); its shard's counters
// and events then read by the scenario.
static int engine_up(int port, char **args, struct cee_engine_cfg *cfg)
{
	int n = 0;
	while (args[n] != NULL)
		n++;
	cee_engine_cfg_default(cfg);
	if (cee_engine_parse_args(cfg, n, args) != 0)
		return -1;
	if (!ring_engine_start(cfg, port))
		return -1;
	return 0;
}

static void stall(int port)
{
	char *args[] = {"test",	      "--ip",	       "10.0.0.1/24",  "--listen",
			"tcp:7:echo", "--events",      "mem:",	       "--sndbufs",
			"32",	      "--max-conns",   "256",	       "--poll-idle-us",
			"50",	      "--sndbuf-max",  "0",	       NULL};
	struct cee_engine_cfg cfg;
	if (engine_up(port, args, &cfg) < 0) {
		failures++;
		return;
	}
	unsigned pinned = 0;
	uint8_t ans;
	// two idle clients, for the burst at the end
	uint32_t a_ack = idle_client(20001), b_ack = idle_client(20002);
	CHECK(a_ack != 0 && b_ack != 0, "idle clients not connected");
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

	// A's echo takes the last free buffer (and is never acknowledged)
	send_tcp(20001, CEE_TCP_ACK | CEE_TCP_PSH, 1001, a_ack, "x");
	bool a_echo = false;
	for (int i = 0; i < 4 && !a_echo; i++) {
		struct seg e = recv_seg(20001, 2000);
		a_echo = e.ok && e.len == 1;
	}
	CHECK(a_echo, "idle client A: no echo");
	// one burst: B's byte (no buffer for its echo), then C's SYN
	uint64_t evicted0 = TCP_STAT(stall_evicted);
	struct rte_mbuf *burst[2] = {peer_seg(&peer_mac, &engine_mac, PEER_IP, 20002, ECHO_PORT,
					      CEE_TCP_ACK | CEE_TCP_PSH, 1001, b_ack, "y", 1),
				     peer_seg(&peer_mac, &engine_mac, PEER_IP, 20003, ECHO_PORT,
					      CEE_TCP_SYN, 1000, 0, NULL, 0)};
	CHECK(burst[0] != NULL && burst[1] != NULL &&
		  rte_ring_enqueue_bulk(to_eng[rp_port][0], (void **)burst, 2, NULL) == 2,
	      "burst not sent");
	struct seg sc = recv_seg(20003, 2000);
	CHECK(sc.ok && sc.flags == (CEE_TCP_SYN | CEE_TCP_ACK),
	      "C's SYN after B's segment in one burst: %s (refused_sndbuf %lu, stall_evicted %lu)",
	      !sc.ok			 ? "no answer"
	      : (sc.flags & CEE_TCP_RST) ? "refused (RST)"
					 : "not a SYN-ACK",
	      (unsigned long)STAT(refused_sndbuf), (unsigned long)TCP_STAT(stall_evicted));
	if (sc.ok && sc.flags == (CEE_TCP_SYN | CEE_TCP_ACK))
		send_tcp(20003, CEE_TCP_ACK, 1001, sc.seq + 1, NULL);
	CHECK(TCP_STAT(stall_evicted) > evicted0 && STAT(refused_sndbuf) == 0,
	      "after the burst: stall_evicted %lu (was %lu), refused_sndbuf %lu",
	      (unsigned long)TCP_STAT(stall_evicted), (unsigned long)evicted0,
	      (unsigned long)STAT(refused_sndbuf));
	CHECK(find_event(20003, CEE_EVT_OPEN, 2000) != NULL, "C announced");

	printf("ring pin: %u pinned, %u new served, then one in a burst after a fruitless look; "
	       "stall_evicted %lu, refused_sndbuf %lu, %zu events, %d failures\n",
	       pinned, served, (unsigned long)TCP_STAT(stall_evicted),
	       (unsigned long)STAT(refused_sndbuf), nevs, failures);
	ring_engine_down(&cfg, NPIN + NNEW + 3);
}

// An echo-close client on @p cport, to TIME-WAIT on the engine's side:
// handshake, a byte, its echo and the engine's FIN, our FIN; its closed
// awaited (the events exported) unless @p stalled.
static bool tw_client(uint16_t cport, uint8_t *syn_answer, bool stalled)
{
	send_tcp(cport, CEE_TCP_SYN, 1000, 0, NULL);
	struct seg sa = recv_seg(cport, 2000);
	*syn_answer = sa.ok ? sa.flags : 0;
	if (!sa.ok || sa.flags != (CEE_TCP_SYN | CEE_TCP_ACK))
		return false;
	send_tcp(cport, CEE_TCP_ACK, 1001, sa.seq + 1, NULL);
	send_tcp(cport, CEE_TCP_ACK | CEE_TCP_PSH, 1001, sa.seq + 1, "x");
	bool echoed = false;
	for (int i = 0; i < 6; i++) {
		struct seg e = recv_seg(cport, 2000);
		if (!e.ok)
			break;
		echoed |= e.len == 1 && e.data[0] == 'x';
		if (e.flags & CEE_TCP_FIN) {
			send_tcp(cport, CEE_TCP_ACK | CEE_TCP_FIN, 1002, e.seq + e.len + 1, NULL);
			return echoed && (stalled || find_event(cport, CEE_EVT_CLOSED, 2000) != NULL);
		}
	}
	return false;
}

static void timewait(int port)
{
	char *args[] = {"test",		   "--ip",	"10.0.0.1/24", "--listen",
			"tcp:7:echo-close", "--events",	"mem:",	       "--max-conns",
			"8",		   "--poll-idle-us", "50",	       "--event-ring",
			"32",		   NULL};
	struct cee_engine_cfg cfg;
	if (engine_up(port, args, &cfg) < 0) {
		failures++;
		return;
	}
	uint8_t ans;
	unsigned tw = 0, served = 0;
	for (uint16_t i = 0; i < NTW; i++)
		tw += tw_client((uint16_t)(31000 + i), &ans, false);
	CHECK(tw == NTW, "%u of %u clients to TIME-WAIT", tw, NTW);
	CHECK(cee_conn_live(cee_engine_shard(eng, 0)->pool) == NTW, "%u slots live, want %u",
	      cee_conn_live(cee_engine_shard(eng, 0)->pool), NTW);
	for (uint16_t i = 0; i < NTW_NEW; i++) {
		bool ok = tw_client((uint16_t)(41000 + i), &ans, false);
		CHECK(ok, "new client %u: %s", i,
		      ans == 0 ? "no answer" : (ans & CEE_TCP_RST) ? "refused (RST)" : "not served");
		served += ok;
	}
	unsigned destroyed = 0;
	for (uint16_t i = 0; i < NTW; i++)
		destroyed += find_event((uint16_t)(31000 + i), CEE_EVT_DESTROYED, 0) != NULL;
	CHECK(STAT(tw_reclaimed) == NTW_NEW && destroyed == NTW_NEW && STAT(refused) == 0,
	      "tw_reclaimed %lu, %u of the first destroyed, refused %lu",
	      (unsigned long)STAT(tw_reclaimed), destroyed, (unsigned long)STAT(refused));

	// the consumer stalls: served clients fill the event ring (4 records
	// each, the destroyed of the one whose slot it took among them) until
	// a SYN finds no room
	uint64_t rec0 = STAT(tw_reclaimed), ref0 = STAT(refused);
	struct cee_evring_stats rs0, rs1;
	cee_evring_stats(cee_engine_shard(eng, 0)->evring, &rs0);
	unsigned stalled = 0;
	ans = 0;
	mem_stalled = true;
	for (uint16_t i = 0; i < 16 && STAT(refused) == ref0; i++)
		stalled += tw_client((uint16_t)(42000 + i), &ans, true);
	mem_stalled = false;
	CHECK(STAT(refused) == ref0 + 1 && (ans & CEE_TCP_RST) && stalled > 0,
	      "stalled consumer: %u served, then refused %lu (answer %#x)", stalled,
	      (unsigned long)(STAT(refused) - ref0), ans);
	// counted as the event ring's (cee-bench's refused_ring), and once in
	// the ring's own count (ring_refused: it also took event_room()'s
	// probes, one SYN two or three refusals, review of session 33)
	CHECK(STAT(refused_event_room) == 1, "refused_event_room %lu for the one refused",
	      (unsigned long)STAT(refused_event_room));
	cee_evring_stats(cee_engine_shard(eng, 0)->evring, &rs1);
	CHECK(rs1.refused - rs0.refused == 1, "ring_refused +%lu for the one SYN refused",
	      (unsigned long)(rs1.refused - rs0.refused));
	CHECK(STAT(tw_reclaimed) - rec0 == stalled,
	      "tw_reclaimed %lu for %u clients served: the refused SYN ended one for nothing",
	      (unsigned long)(STAT(tw_reclaimed) - rec0), stalled);
	printf("ring pin timewait: %u in TIME-WAIT, %u new served, %u more with the consumer "
	       "stalled, then refused; tw_reclaimed %lu, refused %lu, %zu events, %d failures\n",
	       tw, served, stalled, (unsigned long)STAT(tw_reclaimed), (unsigned long)STAT(refused),
	       nevs, failures);
	ring_engine_down(&cfg, NTW + NTW_NEW + stalled);
}

int main(int argc, char **argv)
{
	static const struct ring_mode modes[] = {{"stall", stall}, {"timewait", timewait}};
	return ring_mode_main(argc, argv, modes, 2, "cee_p0");
}
