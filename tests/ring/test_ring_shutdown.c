/* SPDX-License-Identifier: BSD-3-Clause */
// The RSTs of a shutdown, over a net_ring port whose tx rings hold 1023
// frames each, read by a peer slower than the shards write.
//
// Fault guarded against: at shutdown each shard aborts its connections in
// a tight loop, one RST each, and a full tx queue dropped them (counted in
// drops.tx_full: 680,129 at the end of a cee-bench hold run in session 2): a connection's
// RST is sent once, the connection is gone, and its peer never learnt it
// had ended. Here 4,000 established connections (about 2,000 a shard, each ring 1,023) end at
// shutdown while the peer drains the rings at a fraction of the shards'
// pace: every one of their RSTs must arrive, none dropped.
// Synchronisation: the handshakes' SYN-ACKs and the shards' counters
// (opened), each awaited with a deadline; the engine's shutdown returning.
#include <pthread.h>
#include <signal.h>

#include <rte_eal.h>
#include <rte_tcp.h>

#include "cee_flow.h"
#include "ring_peer.h"

#define ECHO_PORT 7
#define NCONN 4000
#define CPORT0 20000
#define BATCH 200

static const struct rte_ether_addr mac_a = {{0x02, 0, 0, 0, 0, 0xa}};

static void send_seg(uint16_t cport, uint8_t flags, uint32_t seq, uint32_t ack)
{
	struct rte_mbuf *m = peer_seg(&mac_a, &engine_mac, PEER_IP, cport, ECHO_PORT, flags, seq, ack,
				      NULL, 0);
	// the queue of the shard that owns the tuple: no hand-off
	unsigned q = cee_flow_owner(cee_flow_hash(PEER_IP, ENGINE_IP, cport, ECHO_PORT), RP_NQ);
	if (m)
		send_frame(rp_port, q, m);
}

// Frames the engine sent, any queue, without pumping the exporter (the
// engine's own thread does, during its shutdown). @return one or NULL.
static struct rte_mbuf *take_frame(void)
{
	static unsigned next; // (round robin: a NIC drains every queue)
	void *m;
	for (unsigned k = 0; k < RP_NQ; k++) {
		unsigned q = next++ % RP_NQ;
		if (rte_ring_dequeue(from_eng[rp_port][q], &m) == 0)
			return m;
	}
	return NULL;
}

static volatile sig_atomic_t stop_flag = 1;
static volatile bool run_done;
static uint32_t rcv[NCONN]; // the engine's ISS + 1 of each
static bool rst[NCONN];
static unsigned rsts, other;

// The peer during the shutdown (the main lcore runs it: rte_eal_wait_lcore
// is the main lcore's): reads slowly, 8 frames then 100 us, about 80,000
// frames a second, far below a shard's pace, until the shutdown returned
// and nothing is left.
static void *drain(void *arg)
{
	(void)arg;
	uint64_t end = now_ms() + 30000;
	for (;;) {
		bool done = __atomic_load_n(&run_done, __ATOMIC_ACQUIRE);
		unsigned n = 0;
		struct rte_mbuf *m;
		while (n < 8 && (m = take_frame()) != NULL) {
			struct cee_pkt p;
			cee_net_parse(m, PEER_IP, 1, &p);
			unsigned i = (unsigned)p.dport - CPORT0;
			if (p.kind == CEE_PKT_TCP && i < NCONN && (p.seg.flags & CEE_TCP_RST) && !rst[i] &&
			    p.seg.seq == rcv[i]) {
				rst[i] = true;
				rsts++;
			} else {
				other++;
			}
			rte_pktmbuf_free(m);
			n++;
		}
		if ((done && n == 0) || now_ms() > end)
			return NULL;
		usleep(100);
	}
}

int main(int argc, char **argv)
{
	(void)argc;
	if (ring_eal_init(argv[0], "ringshut", "0@0,1@0,2@1") < 0)
		return 1;
	int p0 = ring_peer_setup("cee_p0", 8192, 256);
	if (p0 < 0)
		return 1;
	struct cee_engine_cfg cfg;
	cee_engine_cfg_default(&cfg);
	char *args[] = {"test",	       "--ip",		"10.0.0.1/24", "--listen",
			"tcp:7:echo",  "--events",	"mem:",	       "--max-conns",
			"8192",	       "--poll-idle-us", "50",	       NULL};
	if (cee_engine_parse_args(&cfg, 11, args) != 0)
		return 1;
	cfg.port_mask = 1u << p0;
	eng = cee_engine_create(&cfg);
	if (eng == NULL || cee_engine_start(eng) < 0) {
		fprintf(stderr, "engine failed\n");
		return 1;
	}
	CHECK(cee_engine_nshards(eng) == RP_NQ, "%u shards, want %u", cee_engine_nshards(eng), RP_NQ);
	engine_mac = ring_engine_mac(0);

	// NCONN handshakes, BATCH at a time (the rings into the engine hold 1023)
	unsigned opened = 0;
	for (unsigned first = 0; first < NCONN; first += BATCH) {
		for (unsigned i = first; i < first + BATCH; i++)
			send_seg((uint16_t)(CPORT0 + i), CEE_TCP_SYN, 1000u * i, 0);
		unsigned got = 0;
		uint64_t end = now_ms() + 5000;
		while (got < BATCH && now_ms() < end) {
			struct rte_mbuf *m = recv_frame(100);
			if (m == NULL)
				continue;
			struct cee_pkt p;
			cee_net_parse(m, PEER_IP, 1, &p);
			unsigned i = (unsigned)p.dport - CPORT0;
			if (p.kind == CEE_PKT_TCP && i < NCONN &&
			    p.seg.flags == (CEE_TCP_SYN | CEE_TCP_ACK) && rcv[i] == 0) {
				rcv[i] = p.seg.seq + 1;
				send_seg(p.dport, CEE_TCP_ACK, 1000u * i + 1, rcv[i]);
				got++;
			}
			rte_pktmbuf_free(m);
		}
		opened += got;
	}
	CHECK(opened == NCONN, "%u of %u SYN-ACKs", opened, NCONN);
	uint64_t est = wait_stat(offsetof(struct cee_shard_stats, opened), NCONN, 10000);
	CHECK(est == NCONN, "%lu of %u connections announced", (unsigned long)est, NCONN);
	while (recv_frame(50) != NULL) // nothing else pending (ACKs of ours, if any)
		;

	pthread_t t;
	CHECK(pthread_create(&t, NULL, drain, NULL) == 0, "thread");
	int rc = cee_engine_run(eng, &stop_flag);
	__atomic_store_n(&run_done, true, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	CHECK(rc == 0, "shutdown run: %d", rc);
	uint64_t full = STAT(drops[CEE_DROP_TX_FULL]);
	CHECK(rsts == NCONN, "%u of %u RSTs arrived at RCV.NXT (%lu dropped as tx_full, %u other frames)",
	      rsts, NCONN, (unsigned long)full, other);
	CHECK(full == 0, "drops.tx_full %lu at shutdown", (unsigned long)full);
	printf("ring shutdown: %u connections, %u RSTs arrived, tx_full %lu, %d failures\n", NCONN,
	       rsts, (unsigned long)full, failures);
	cee_engine_destroy(eng);
	free(evs);
	rte_eal_cleanup();
	return failures ? 1 : 0;
}
