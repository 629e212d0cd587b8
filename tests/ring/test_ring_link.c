/* SPDX-License-Identifier: BSD-3-Clause */
// In-memory link (net_ring) with a scripted TCP peer.
//
// The engine runs unchanged (ports, shard lcore, steering, TCP, timers,
// exporter) on one end of a pair of rte_rings; this program plays the peer on
// the other end, frame by frame, and checks both what comes back on the wire
// and the exported events. Faults guarded against:
//  - handshake, echo or close paths that emit the wrong events, in the wrong
//    order, or more than once (open/established/closed/destroyed contract);
//  - a close path whose `closed` never comes (FIN, RST, idle timeout,
//    retransmission give-up, shutdown), the lost-close-event fault;
//  - retransmission that never happens after a dropped segment;
//  - ARP/ICMP not answered (the peer could never reach the engine).
#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../stderr_capture.h"

#include <rte_arp.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_eth_ring.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_tcp.h>

#include "cee_audit.h"
#include "ring_common.h"

#define ECHO_PORT 7

/* ---- the peer ------------------------------------------------------------- */

static uint16_t peer_port;
static struct rte_ether_addr peer_mac = {{0x02, 0, 0, 0, 0, 2}};
static struct rte_ether_addr engine_mac;

static void send_frame(struct rte_mbuf *m)
{
	CHECK(rte_eth_tx_burst(peer_port, 0, &m, 1) == 1, "peer tx");
}

// Next frame from the engine within @p ms, or NULL.
static struct rte_mbuf *recv_frame(unsigned ms)
{
	uint64_t end = now_ms() + ms;
	do {
		struct rte_mbuf *m;
		if (rte_eth_rx_burst(peer_port, 0, &m, 1) == 1)
			return m;
		pump();
		usleep(100);
	} while (now_ms() < end);
	return NULL;
}

// Next TCP segment from the engine to @p cport.
static struct seg recv_seg(uint16_t cport, unsigned ms)
{
	return recv_seg_from(recv_frame, cport, ms);
}

static void send_seg(uint16_t cport, uint8_t flags, uint32_t seq, uint32_t ack, const void *data,
		     uint32_t len)
{
	struct rte_mbuf *m =
	    peer_seg(&peer_mac, &engine_mac, PEER_IP, cport, ECHO_PORT, flags, seq, ack, data, len);
	if (m)
		send_frame(m);
}

struct conn {
	uint16_t cport;
	uint32_t snd_nxt; // peer's next sequence number
	uint32_t rcv_nxt; // next byte expected from the engine
};

static bool handshake(struct conn *c, uint16_t cport)
{
	c->cport = cport;
	uint32_t iss = 1000u * cport;
	send_seg(cport, CEE_TCP_SYN, iss, 0, NULL, 0);
	struct seg sa = recv_seg(cport, 2000);
	CHECK(sa.ok && sa.flags == (CEE_TCP_SYN | CEE_TCP_ACK) && sa.ack == iss + 1,
	      "SYN-ACK for port %u (ok=%d flags=%#x ack=%u)", cport, sa.ok, sa.flags, sa.ack);
	if (!sa.ok)
		return false;
	c->snd_nxt = iss + 1;
	c->rcv_nxt = sa.seq + 1;
	send_seg(cport, CEE_TCP_ACK, c->snd_nxt, c->rcv_nxt, NULL, 0);
	CHECK(find_event(cport, CEE_EVT_ESTABLISHED, 2000) != NULL, "established for %u", cport);
	return true;
}

// Send @p len bytes and check they come back.
static void echo_roundtrip(struct conn *c, uint32_t len)
{
	uint8_t buf[1024];
	for (uint32_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 7 + c->cport);
	send_seg(c->cport, CEE_TCP_ACK | CEE_TCP_PSH, c->snd_nxt, c->rcv_nxt, buf, len);
	c->snd_nxt += len;
	struct seg e = recv_seg(c->cport, 2000);
	CHECK(e.ok && e.len == len && e.seq == c->rcv_nxt && e.ack == c->snd_nxt &&
		      memcmp(e.data, buf, len) == 0,
	      "echo of %u bytes on %u (ok=%d len=%u seq=%u/%u)", len, c->cport, e.ok, e.len, e.seq,
	      c->rcv_nxt);
	c->rcv_nxt += e.len;
	send_seg(c->cport, CEE_TCP_ACK, c->snd_nxt, c->rcv_nxt, NULL, 0);
}

static void expect_closed(uint16_t cport, enum cee_reason reason, uint64_t bytes, unsigned ms)
{
	const struct cee_event *e = find_event(cport, CEE_EVT_CLOSED, ms);
	CHECK(e != NULL, "closed for %u", cport);
	if (e) {
		CHECK(e->reason == reason, "reason for %u: %s, want %s", cport,
		      cee_reason_str(e->reason), cee_reason_str(reason));
		CHECK(e->bytes_in == bytes && e->bytes_out == bytes,
		      "bytes for %u: in %lu out %lu want %lu", cport, (unsigned long)e->bytes_in,
		      (unsigned long)e->bytes_out, (unsigned long)bytes);
	}
	CHECK(find_event(cport, CEE_EVT_DESTROYED, ms) != NULL, "destroyed for %u", cport);
}

/* ---- scenarios ------------------------------------------------------------ */

static void arp_and_icmp(void)
{
	struct rte_mbuf *m = arp_frame(RTE_ARP_OP_REQUEST, &peer_mac, PEER_IP, ENGINE_IP);
	if (m != NULL)
		send_frame(m);
	struct rte_mbuf *r = recv_frame(2000);
	CHECK(r != NULL, "ARP reply");
	if (r) {
		struct rte_ether_hdr *re = rte_pktmbuf_mtod(r, struct rte_ether_hdr *);
		struct rte_arp_hdr *ra = (void *)(re + 1);
		CHECK(ra->arp_opcode == rte_cpu_to_be_16(RTE_ARP_OP_REPLY) &&
			      ra->arp_data.arp_sip == rte_cpu_to_be_32(ENGINE_IP),
		      "ARP reply content");
		engine_mac = ra->arp_data.arp_sha;
		rte_pktmbuf_free(r);
	}

	struct rte_icmp_hdr *ic;
	m = icmp_frame(&peer_mac, &engine_mac, PEER_IP, ENGINE_IP, sizeof(*ic) + 8, &ic);
	if (m != NULL) {
		ic->icmp_type = RTE_IP_ICMP_ECHO_REQUEST;
		ic->icmp_ident = rte_cpu_to_be_16(77);
		ic->icmp_cksum = (uint16_t)~rte_raw_cksum(ic, sizeof(*ic) + 8);
		send_frame(m);
	}
	r = recv_frame(2000);
	CHECK(r != NULL, "ICMP echo reply");
	if (r) {
		struct rte_ipv4_hdr *rip = (void *)(rte_pktmbuf_mtod(r, struct rte_ether_hdr *) + 1);
		struct rte_icmp_hdr *ric = (void *)(rip + 1);
		CHECK(ric->icmp_type == RTE_IP_ICMP_ECHO_REPLY && ric->icmp_ident == rte_cpu_to_be_16(77),
		      "ICMP reply content");
		rte_pktmbuf_free(r);
	}
}

// Client FIN after echo: peer_fin, engine FIN, LAST-ACK, destroyed on our ACK.
static void client_fin(void)
{
	struct conn c;
	if (!handshake(&c, 40001))
		return;
	echo_roundtrip(&c, 100);
	echo_roundtrip(&c, 1000);
	send_seg(c.cport, CEE_TCP_FIN | CEE_TCP_ACK, c.snd_nxt, c.rcv_nxt, NULL, 0);
	c.snd_nxt++;
	struct seg f = recv_seg(c.cport, 2000);
	CHECK(f.ok && (f.flags & CEE_TCP_FIN) && f.ack == c.snd_nxt, "engine FIN after peer FIN");
	send_seg(c.cport, CEE_TCP_ACK, c.snd_nxt, f.seq + 1, NULL, 0);
	expect_closed(c.cport, CEE_REASON_PEER_FIN, 1100, 2000);
}

// Half-close: data and FIN in one segment; the echo still comes, then FIN.
static void half_close(void)
{
	struct conn c;
	if (!handshake(&c, 40002))
		return;
	uint8_t buf[300];
	memset(buf, 'h', sizeof(buf));
	send_seg(c.cport, CEE_TCP_FIN | CEE_TCP_ACK | CEE_TCP_PSH, c.snd_nxt, c.rcv_nxt, buf,
		 sizeof(buf));
	c.snd_nxt += sizeof(buf) + 1;
	uint32_t got = 0;
	bool fin = false;
	uint32_t fin_seq = 0;
	for (int i = 0; i < 4 && !fin; i++) {
		struct seg s = recv_seg(c.cport, 2000);
		if (!s.ok)
			break;
		got += s.len;
		if (s.flags & CEE_TCP_FIN) {
			fin = true;
			fin_seq = s.seq + s.len;
		}
	}
	CHECK(got == sizeof(buf) && fin, "half-close: echoed %u bytes, fin=%d", got, fin);
	send_seg(c.cport, CEE_TCP_ACK, c.snd_nxt, fin_seq + 1, NULL, 0);
	expect_closed(c.cport, CEE_REASON_PEER_FIN, sizeof(buf), 2000);
}

// RST at exactly rcv_nxt: peer_rst, destroyed at once.
static void client_rst(void)
{
	struct conn c;
	if (!handshake(&c, 40003))
		return;
	echo_roundtrip(&c, 10);
	// RFC 5961: an in-window RST with the wrong sequence gets a challenge ACK
	// and kills nothing.
	send_seg(c.cport, CEE_TCP_RST, c.snd_nxt + 5, 0, NULL, 0);
	struct seg ch = recv_seg(c.cport, 2000);
	CHECK(ch.ok && ch.flags == CEE_TCP_ACK && ch.ack == c.snd_nxt, "challenge ACK");
	CHECK(find_event(c.cport, CEE_EVT_CLOSED, 50) == NULL, "blind RST closed the connection");
	send_seg(c.cport, CEE_TCP_RST, c.snd_nxt, 0, NULL, 0);
	expect_closed(c.cport, CEE_REASON_PEER_RST, 10, 2000);
}

// Events of @p type for remote port @p cport, once there are @p n (or @p ms passed).
static size_t wait_count(uint16_t cport, enum cee_evt_type type, size_t n, unsigned ms)
{
	uint64_t end = now_ms() + ms;
	size_t k;
	do {
		pump();
		k = 0;
		for (size_t i = 0; i < nevs; i++)
			k += evs[i].remote_port == cport && evs[i].type == type;
		if (k >= n)
			break;
		usleep(200);
	} while (now_ms() < end);
	return k;
}

// The ISN of a new connection from @p cport (its SYN-ACK's seq); the
// connection is then reset and its destroyed event awaited (the @p nth for the port).
static bool isn_of(uint16_t cport, size_t nth, uint32_t *isn)
{
	struct conn c;
	if (!handshake(&c, cport))
		return false;
	*isn = c.rcv_nxt - 1;
	send_seg(cport, CEE_TCP_RST, c.snd_nxt, 0, NULL, 0);
	size_t k = wait_count(cport, CEE_EVT_DESTROYED, nth, 2000);
	CHECK(k == nth, "destroyed events for %u: %zu, want %zu", cport, k, nth);
	return k == nth;
}

// RFC 6528: ISN = M + F(4-tuple, key), M a 4-microsecond clock, F a keyed
// PRF of the tuple. Faults: an F that is not a function of the tuple alone
// (the same tuple again must advance by the clock only), or not per tuple
// at all (another tuple at the same moment must not land within the clock's
// advance; chance of a false failure about 10^-5).
static void isn_per_tuple(void)
{
	uint64_t t0 = cee_clock_ns();
	uint32_t a1 = 0, b = 0, a2 = 0;
	if (!isn_of(40020, 1, &a1) || !isn_of(40021, 1, &b) || !isn_of(40020, 2, &a2))
		return;
	// M is the shard's clock at the start of the poll iteration that took
	// the SYN, which may precede t0: 20 ms of slack for a preempted shard.
	uint32_t ticks = (uint32_t)((cee_clock_ns() - t0 + 20000000u) / 4096) + 2;
	uint32_t same = a2 - a1, other = b - a1;
	CHECK(same <= ticks, "same tuple: ISN advanced %u, the clock %u ticks", same, ticks);
	CHECK(other > ticks && (uint32_t)-other > ticks,
	      "another tuple: ISN %u from the first, within the clock's %u ticks", other, ticks);
	printf("isn: same tuple +%u (clock %u ticks), another tuple %+d\n", same, ticks,
	       (int32_t)other);
}

// A dropped segment is retransmitted after the RTO; if never acknowledged the
// engine gives up with retransmit_timeout and an RST.
static void retransmission(void)
{
	struct conn c;
	if (!handshake(&c, 40004))
		return;
	uint8_t buf[200];
	memset(buf, 'r', sizeof(buf));
	send_seg(c.cport, CEE_TCP_ACK | CEE_TCP_PSH, c.snd_nxt, c.rcv_nxt, buf, sizeof(buf));
	c.snd_nxt += sizeof(buf);
	struct seg first = recv_seg(c.cport, 2000);
	CHECK(first.ok && first.len == sizeof(buf), "echo before loss");
	// "Drop" it: never ACK. The same bytes must come again.
	struct seg again = recv_seg(c.cport, 3000);
	CHECK(again.ok && again.seq == first.seq && again.len == first.len,
	      "retransmission (ok=%d seq=%u/%u len=%u)", again.ok, again.seq, first.seq, again.len);
	// Keep dropping: the engine must give up and say why.
	bool rst = false;
	for (int i = 0; i < 20 && !rst; i++) {
		struct seg s = recv_seg(c.cport, 3000);
		if (!s.ok)
			break;
		rst = (s.flags & CEE_TCP_RST) != 0;
	}
	CHECK(rst, "RST after retransmission give-up");
	expect_closed(c.cport, CEE_REASON_RETRANSMIT_TIMEOUT, sizeof(buf), 3000);
}

// Idle connection: the engine closes it (FIN), the peer answers, TIME-WAIT
// expires, destroyed.
static void idle_timeout(void)
{
	struct conn c;
	if (!handshake(&c, 40005))
		return;
	echo_roundtrip(&c, 20);
	// The idle timeout (2.5 s) is longer than the retransmission give-up
	// (about 1.5 s), so that scenario ends for its own reason.
	struct seg f = recv_seg(c.cport, 5000);
	CHECK(f.ok && (f.flags & CEE_TCP_FIN), "engine FIN on idle timeout");
	if (!f.ok)
		return;
	send_seg(c.cport, CEE_TCP_FIN | CEE_TCP_ACK, c.snd_nxt, f.seq + 1, NULL, 0);
	struct seg ack = recv_seg(c.cport, 2000);
	CHECK(ack.ok && ack.ack == c.snd_nxt + 1, "ACK of peer FIN in FIN-WAIT");
	expect_closed(c.cport, CEE_REASON_IDLE_TIMEOUT, 20, 3000);
}

static void no_listener_and_stray_ack(void)
{
	// ACK for no connection: RST with seq = its ack, and no state.
	send_seg(40006, CEE_TCP_ACK, 5, 777, NULL, 0);
	struct seg r = recv_seg(40006, 2000);
	CHECK(r.ok && (r.flags & CEE_TCP_RST) && r.seq == 777, "RST for stray ACK");
	CHECK(find_event(40006, CEE_EVT_OPEN, 50) == NULL, "stray ACK created state");
}

// An engine for the 1,000 links of @p lpath on 2,000 slots with an
// --event-ring of @p recs records: refused at creation (ENOBUFS), each link
// holding 24 (its attempt's and its next one's).
static void links_ring_refused(char *lpath, int pa, char *recs)
{
	struct cee_engine_cfg c;
	cee_engine_cfg_default(&c);
	char *args[] = {"test", "--ip", "10.0.0.1/24", "--events", "mem:", "--links", lpath,
			"--max-conns", "2000", "--event-ring", recs, NULL};
	CHECK(cee_engine_parse_args(&c, 11, args) == 0, "--event-ring %s with links refused early",
	      recs);
	c.port_mask = 1u << pa;
	errno = 0;
	struct cee_engine *tight = cee_engine_create(&c);
	CHECK(tight == NULL && errno == ENOBUFS,
	      "an --event-ring of %s records taken for 1000 links (24 each): %s", recs,
	      tight ? "created" : strerror(errno));
	if (tight != NULL)
		cee_engine_destroy(tight);
	cee_engine_cfg_free(&c);
}

static uint64_t mem_available_bytes(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	unsigned long long kib = 0;
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1)
			break;
	if (f != NULL)
		fclose(f);
	return (uint64_t)kib * 1024;
}

int main(int argc, char **argv)
{
	(void)argc;
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "--file-prefix=cee-ring-%d", getpid());
	char *eal[] = {argv[0], "--no-huge", "-m", "512", prefix, "-l", "0,1", "--no-pci",
		       "--no-telemetry", "--log-level=*:warning", NULL};
	if (rte_eal_init(10, eal) < 0) {
		fprintf(stderr, "EAL init failed: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	if (rte_lcore_count() < 2) {
		fprintf(stderr, "SKIP: needs 2 lcores\n");
		return 77;
	}
	struct rte_ring *a2b = rte_ring_create("a2b", 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
	struct rte_ring *b2a = rte_ring_create("b2a", 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
	int pa = rte_eth_from_rings("cee_a", &b2a, 1, &a2b, 1, 0);
	int pb = rte_eth_from_rings("cee_b", &a2b, 1, &b2a, 1, 0);
	if (pa < 0 || pb < 0) {
		fprintf(stderr, "rte_eth_from_rings failed\n");
		return 1;
	}
	peer_port = (uint16_t)pb;
	peer_mp = rte_pktmbuf_pool_create("peer", 4096, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
	struct rte_eth_conf conf;
	memset(&conf, 0, sizeof(conf));
	if (peer_mp == NULL || rte_eth_dev_configure(peer_port, 1, 1, &conf) < 0 ||
	    rte_eth_rx_queue_setup(peer_port, 0, 512, 0, NULL, peer_mp) < 0 ||
	    rte_eth_tx_queue_setup(peer_port, 0, 512, 0, NULL) < 0 ||
	    rte_eth_dev_start(peer_port) < 0) {
		fprintf(stderr, "peer port set-up failed\n");
		return 1;
	}
	cee_sink_register("mem", mem_open);

	// Fault (review): an --event-ring below what one connection reserves at
	// admission (4 records for TCP) was taken, and every connection was then
	// refused, for ever, without a word
	struct cee_engine_cfg small;
	cee_engine_cfg_default(&small);
	char *sargs[] = {"test", "--ip", "10.0.0.1/24", "--listen", "tcp:7:echo", "--events", "mem:",
			 "--event-ring", "3", NULL};
	CHECK(cee_engine_parse_args(&small, 9, sargs) != 0, "--event-ring 3 taken");
	cee_engine_cfg_default(&small);
	sargs[8] = "4";
	CHECK(cee_engine_parse_args(&small, 9, sargs) == 0, "--event-ring 4 refused");

	// Fault (review): event rings larger than the machine's memory were
	// allocated and zeroed, and the OOM killer ended the engine at start
	// with no word of why (on this 24 GiB VM: --event-ring 2^28, 16 GiB a
	// shard, on two shards); cee_engine_create() now asks
	// cee_engine_evrings_fit() with the memory available and refuses them.
	cee_engine_cfg_default(&small);
	sargs[8] = "268435456";
	CHECK(cee_engine_parse_args(&small, 9, sargs) == 0, "--event-ring 2^28 refused");
	CHECK(cee_engine_evrings_fit(&small, 2, UINT64_C(24) << 30) == -ENOMEM,
	      "2 x 16 GiB of event rings fit in 24 GiB");
	CHECK(cee_engine_evrings_fit(&small, 1, UINT64_C(24) << 30) == 0,
	      "1 x 16 GiB of event ring refused with 24 GiB");
	cee_engine_cfg_default(&small);
	sargs[8] = "268435457"; // rounded up to 2^29: 32 GiB
	CHECK(cee_engine_parse_args(&small, 9, sargs) == 0, "--event-ring 2^28+1 refused");
	CHECK(cee_engine_evrings_fit(&small, 1, UINT64_C(24) << 30) == -ENOMEM,
	      "a ring rounded up to 32 GiB fits in 24 GiB");
	// and the engine itself refuses (64 GiB on this test's one shard),
	// where that is more than the memory available, as on CI's machines
	cee_engine_cfg_default(&small);
	sargs[8] = "1073741824";
	CHECK(cee_engine_parse_args(&small, 9, sargs) == 0, "--event-ring 2^30 refused");
	small.port_mask = 1u << pa;
	uint64_t avail = mem_available_bytes();
	if (avail != 0 && avail < (UINT64_C(64) << 30)) {
		errno = 0;
		struct cee_engine *big = cee_engine_create(&small);
		CHECK(big == NULL && errno == ENOMEM, "64 GiB of event rings with %.1f GiB available: %s",
		      (double)avail / (1u << 30), big ? "created" : strerror(errno));
		if (big != NULL)
			cee_engine_destroy(big);
	} else {
		printf("ring link: %.1f GiB available: the 64 GiB event ring is not tried\n",
		       (double)avail / (1u << 30));
	}

	// Fault (review): only the event rings were held to the memory
	// available. Send buffers, WebSocket buffers and wolfSSL's heap (tens
	// of KB a TLS connection, with no bound) are touched as peers use
	// them: a configuration that started was killed mid-run by the OOM
	// killer, with every connection it held. cee_engine_mem_fit() counts
	// them all, and gives TLS a heap budget that fits.
	const uint64_t gib = UINT64_C(1) << 30;
	uint64_t tls_mem = 1;
	char *fitargs[] = {"test", "--ip", "10.0.0.1/24", "--listen", "tcp:7:echo", "--events", "mem:",
			 "--sndbufs", "100000", "--sndbuf", "16777216", NULL};
	cee_engine_cfg_default(&small);
	CHECK(cee_engine_parse_args(&small, 11, fitargs) == 0, "--sndbufs 100000 --sndbuf 16 MiB refused");
	CHECK(cee_engine_mem_fit(&small, 1, 24 * gib, &tls_mem) == -ENOMEM,
	      "1.5 TiB of send buffers fit in 24 GiB");
	cee_engine_cfg_default(&small);
	CHECK(cee_engine_parse_args(&small, 7, fitargs) == 0, "the defaults refused");
	CHECK(cee_engine_mem_fit(&small, 1, 24 * gib, &tls_mem) == 0 && tls_mem == 0,
	      "the defaults (no TLS) do not fit in 24 GiB, or got a TLS budget (%" PRIu64 ")",
	      tls_mem);
	// TLS: 128 KiB a slot (8 GiB for 65,536), at most a quarter of the memory
	small.tls_client_on = true;
	CHECK(cee_engine_mem_fit(&small, 1, 24 * gib, &tls_mem) == 0 && tls_mem == 6 * gib,
	      "TLS budget %" PRIu64 " with 24 GiB, not 6 GiB", tls_mem);
	CHECK(cee_engine_mem_fit(&small, 1, 64 * gib, &tls_mem) == 0 && tls_mem == 8 * gib,
	      "TLS budget %" PRIu64 " with 64 GiB, not 8 GiB", tls_mem);
	small.tls_mem = 24 * gib;
	CHECK(cee_engine_mem_fit(&small, 1, 24 * gib, &tls_mem) == -ENOMEM,
	      "--tls-mem 24 GiB and the pools fit in 24 GiB");
	// WebSocket: 1,024 buffers of 16 MiB messages, 16 GiB
	char *wargs[] = {"test", "--ip", "10.0.0.1/24", "--listen", "ws:7:discard", "--events", "mem:",
			 "--ws-max-message", "16777216", NULL};
	cee_engine_cfg_default(&small);
	CHECK(cee_engine_parse_args(&small, 9, wargs) == 0, "--ws-max-message 16 MiB refused");
	CHECK(cee_engine_mem_fit(&small, 1, 16 * gib, &tls_mem) == -ENOMEM,
	      "16 GiB of WebSocket buffers and the rest fit in 16 GiB");
	CHECK(cee_engine_mem_fit(&small, 1, 24 * gib, &tls_mem) == 0,
	      "16 GiB of WebSocket buffers and the rest refused with 24 GiB");
	// Fault (review of session 32): the per-source table, sized for the
	// shard's slots (768 MiB at a pool's most: 2^25 entries of 24 bytes),
	// was not counted; a stream of new source addresses touches all of it
	char *pargs[] = {"test",	  "--ip",	   "10.0.0.1/24", "--listen",
			 "tcp:7:echo",	  "--events",	   "mem:",	  "--event-ring",
			 "65536",	  "--max-conns",   "13421772",	  "--max-conns-per-ip",
			 "8",		  NULL};
	cee_engine_cfg_default(&small);
	CHECK(cee_engine_parse_args(&small, 11, pargs) == 0, "13M slots refused");
	CHECK(cee_engine_mem_fit(&small, 1, gib / 2, &tls_mem) == 0,
	      "13M slots' send buffers (0.2 GiB) do not fit in 512 MiB");
	cee_engine_cfg_default(&small);
	CHECK(cee_engine_parse_args(&small, 13, pargs) == 0, "--max-conns-per-ip refused");
	struct stderr_capture cap;
	char said[1024] = "";
	CHECK(stderr_capture_begin(&cap) == 0, "stderr capture");
	int prc = cee_engine_mem_fit(&small, 1, gib / 2, &tls_mem);
	stderr_capture_end(&cap, said, sizeof(said));
	CHECK(prc == -ENOMEM && strstr(said, "per-source tables 0.8,") != NULL,
	      "the per-source table (768 MiB) not counted: rc %d, '%s'", prc, said);

	// Fault (review): a --links line longer than the reader's 255 bytes was
	// read in pieces: a long comment's rest was parsed as a link (start-up
	// failed, naming the wrong line); a long link line is an error
	char lpath[] = "/tmp/cee-ring-links-XXXXXX";
	int lfd = mkstemp(lpath);
	CHECK(lfd >= 0, "mkstemp");
	FILE *lf = fdopen(lfd, "w");
	fputs("# ", lf);
	for (int i = 0; i < 400; i++)
		fputc('x', lf);
	fputs("\nup1=tcp:10.0.0.2:5060:echo\n", lf);
	fclose(lf);
	cee_engine_cfg_default(&small);
	char *largs[] = {"test", "--ip", "10.0.0.1/24", "--events", "mem:", "--links", lpath, NULL};
	CHECK(cee_engine_parse_args(&small, 7, largs) == 0 && small.nlinks == 1,
	      "a long comment in --links: nlinks %u", small.nlinks);
	lf = fopen(lpath, "w");
	fputs("up1=tcp:10.0.0.2:5060:echo#", lf);
	for (int i = 0; i < 600; i++)
		fputc('y', lf);
	fputs("\n", lf);
	fclose(lf);
	cee_engine_cfg_free(&small); // (the first parse's link)
	cee_engine_cfg_default(&small);
	CHECK(cee_engine_parse_args(&small, 7, largs) != 0, "a link line of 630 bytes taken");
	// Fault (review of the configuration): the longest link --connect
	// takes (a 32-character name, a 253-character SNI) did not fit a line
	// of the file: "line 1 longer than 254 characters"
	lf = fopen(lpath, "w");
	fputs("abcdefghijklmnopqrstuvwxyz012345=tls:10.0.0.2:5061,sni=", lf);
	for (int i = 0; i < 4; i++) // 4 labels of 62 and one of 1, dots: 253
		fprintf(lf, "%.62s.", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	fputs("b\n", lf);
	fclose(lf);
	cee_engine_cfg_free(&small);
	cee_engine_cfg_default(&small);
	char *targs[] = {"test", "--ip", "10.0.0.1/24", "--events", "mem:", "--links", lpath,
			 "--tls-ca", CEE_CERT_DIR "/ca.pem", NULL};
	CHECK(cee_engine_parse_args(&small, 9, targs) == 0 && small.nlinks == 1,
	      "a link of the longest name and SNI in --links: nlinks %u", small.nlinks);

	// Fault (review of the configuration): two sinks on one file were
	// found by their spelling alone (./e.jsonl and e.jsonl wrote each
	// event twice), and --stats on a sink's file replaced the run's events
	// with the counters at exit
	char sdir[] = "/tmp/cee-ring-sinks-XXXXXX";
	CHECK(mkdtemp(sdir) != NULL, "mkdtemp");
	char e1[96], e2[96], e3[96], st[96];
	snprintf(e1, sizeof(e1), "jsonl:%s/e.jsonl", sdir);
	snprintf(e2, sizeof(e2), "binary:%s/./e.jsonl", sdir);
	snprintf(e3, sizeof(e3), "jsonl:%s/f.jsonl", sdir);
	snprintf(st, sizeof(st), "%s/../%s/e.jsonl", sdir, strrchr(sdir, '/') + 1);
	// (and a hard link to a file there: one file under two names)
	char e4[112], hf[96], hl[96];
	snprintf(hf, sizeof(hf), "%s/h.jsonl", sdir);
	snprintf(hl, sizeof(hl), "%s/hl.jsonl", sdir);
	fclose(fopen(hf, "w"));
	CHECK(link(hf, hl) == 0, "link");
	snprintf(e4, sizeof(e4), "jsonl:%s", hl);
	char e5[112];
	snprintf(e5, sizeof(e5), "jsonl:%s", hf);
	struct {
		const char *a, *b, *stats;
		int want;
	} sinks[] = {
	    {e1, e2, NULL, -EINVAL}, {e1, e3, NULL, 0},	      {e1, e3, st, -EINVAL},
	    {e3, "null:", st, 0},    {e4, e5, NULL, -EINVAL}, {e4, e1, NULL, 0}};
	for (unsigned i = 0; i < sizeof(sinks) / sizeof(sinks[0]); i++) {
		char *a[] = {"test",   "--ip",	     "10.0.0.1/24", "--listen", "tcp:7:echo",
			     "--events", (char *)sinks[i].a, "--events",    (char *)sinks[i].b,
			     "--stats",  (char *)sinks[i].stats, NULL};
		cee_engine_cfg_free(&small);
		cee_engine_cfg_default(&small);
		CHECK(cee_engine_parse_args(&small, sinks[i].stats ? 11 : 9, a) == sinks[i].want,
		      "--events %s --events %s --stats %s: not %s", sinks[i].a, sinks[i].b,
		      sinks[i].stats ? sinks[i].stats : "-", sinks[i].want ? "refused" : "taken");
	}
	unlink(hl);
	unlink(hf);
	rmdir(sdir);

	// Fault (review): the default event ring was sized for the slots alone
	// (4 records each), but a link reserves 8 more (link_up, link_down and
	// their extension records): 1,000 links on 1,000 slots found room for
	// 341, and the others were refused for ever, with no event. The ring
	// now has their room; an explicit --event-ring without it is refused.
	// (--max-conns 2000: two slots a link, its attempt's and its next's)
	lf = fopen(lpath, "w");
	for (int i = 0; i < 1000; i++)
		fprintf(lf, "l%d=tcp:10.0.0.2:%d:echo\n", i, 5000 + i);
	fclose(lf);
	cee_engine_cfg_default(&small);
	char *margs[] = {"test", "--ip", "10.0.0.1/24", "--events", "mem:", "--links", lpath,
			 "--max-conns", "2000", NULL};
	CHECK(cee_engine_parse_args(&small, 9, margs) == 0 && small.nlinks == 1000,
	      "1000 links: nlinks %u", small.nlinks);
	// (and each link holds its next attempt's room beside its current
	// one's: 24 records a link, test_ring_links many; the slots, two a
	// link, leave none for others)
	uint32_t recs = cee_shard_evring_records(&small, 1);
	CHECK(recs >= 1000 * 24, "a ring of %u records for 1000 links of 24", recs);
	cee_engine_cfg_free(&small);
	// an explicit ring that cannot hold them is refused at start-up: 4,096
	// records; 16,384, which held each link's attempt (12) but not the next
	// one's beside it (taken, the last links were never let in)
	links_ring_refused(lpath, pa, "4096");
	links_ring_refused(lpath, pa, "16384");
	unlink(lpath);

	// Fault (docs review): --shutdown-timeout alone took whole seconds
	// ("2.5" refused), unlike every other SEC option
	cee_engine_cfg_default(&small);
	char *tmoargs[] = {"test", "--ip", "10.0.0.1/24", "--events", "mem:", "--listen",
			   "tcp:7:echo", "--shutdown-timeout", "2.5", NULL};
	int trc = cee_engine_parse_args(&small, 9, tmoargs);
	CHECK(trc == 0 && small.shutdown_timeout_ns == 2500000000ull,
	      "--shutdown-timeout 2.5: rc %d, %" PRIu64 " ns", trc, small.shutdown_timeout_ns);
	cee_engine_cfg_free(&small);
	cee_engine_cfg_default(&small);
	tmoargs[8] = "86401";
	CHECK(cee_engine_parse_args(&small, 9, tmoargs) != 0, "--shutdown-timeout 86401 taken");
	cee_engine_cfg_free(&small);
	// (session 18 review) --ws-pong-timeout 0 was taken and meant 10 s
	cee_engine_cfg_default(&small);
	tmoargs[7] = "--ws-pong-timeout";
	tmoargs[8] = "0";
	CHECK(cee_engine_parse_args(&small, 9, tmoargs) != 0, "--ws-pong-timeout 0 taken");
	cee_engine_cfg_free(&small);

	// Fault (review of the sinks): a rotation asked for between the sinks'
	// open and the engine's start (a SIGHUP while a FIFO sink waited for its
	// reader) was never acted on: the file sink wrote on into the file
	// renamed away. Here the second sink's file is renamed and a reload
	// asked for before the start: the run's events must be in a new file
	// at the path, none in the renamed one.
	char rdir[] = "/tmp/cee-ring-rotate-XXXXXX";
	CHECK(mkdtemp(rdir) != NULL, "mkdtemp");
	char rpath[64], rold[72], rspec[80];
	snprintf(rpath, sizeof(rpath), "%s/r.jsonl", rdir);
	snprintf(rold, sizeof(rold), "%s.1", rpath);
	snprintf(rspec, sizeof(rspec), "jsonl:%s", rpath);
	struct cee_engine_cfg cfg;
	cee_engine_cfg_default(&cfg);
	char *args[] = {"test", "--ip", "10.0.0.1/24", "--listen", "tcp:7:echo", "--events",
			"mem:", "--idle-timeout", "2.5", "--time-wait", "100", "--rto-min", "50",
			"--max-conns", "64", "--events", rspec, NULL};
	if (cee_engine_parse_args(&cfg, 17, args) != 0)
		return 1;
	cfg.port_mask = 1u << pa;
	cfg.tcp.rto_initial_ns = 100000000; // 100 ms
	cfg.tcp.rto_max_ns = 400000000;
	cfg.tcp.max_retries = 4;
	eng = cee_engine_create(&cfg);
	if (eng == NULL)
		return 1;
	CHECK(rename(rpath, rold) == 0, "rename %s: %s", rpath, strerror(errno));
	cee_reload_request();
	if (cee_engine_start(eng) < 0) {
		fprintf(stderr, "engine failed\n");
		return 1;
	}
	(void)cee_engine_poll(eng); // the control loop's first round

	arp_and_icmp();
	client_fin();
	half_close();
	client_rst();
	isn_per_tuple();
	no_listener_and_stray_ack();
	idle_timeout();
	retransmission();

	// Still open at shutdown: closed(shutdown) and destroyed, and the peer gets an RST.
	struct conn c;
	if (handshake(&c, 40010)) {
		echo_roundtrip(&c, 5);
		volatile sig_atomic_t stop = 1;
		CHECK(cee_engine_run(eng, &stop) == 0, "shutdown run");
		expect_closed(c.cport, CEE_REASON_SHUTDOWN, 5, 100);
		struct seg r = recv_seg(c.cport, 500);
		CHECK(r.ok && (r.flags & CEE_TCP_RST), "RST at shutdown");
	}

	struct stat rst_new, rst_old;
	CHECK(stat(rpath, &rst_new) == 0 && rst_new.st_size > 0,
	      "the run's events not in a new file at %s (a reload asked for before the start)", rpath);
	CHECK(stat(rold, &rst_old) == 0 && rst_old.st_size == 0,
	      "%jd bytes of events in the file renamed away before the start",
	      (intmax_t)rst_old.st_size);
	unlink(rpath);
	unlink(rold);
	rmdir(rdir);

	struct cee_audit_result res;
	ring_audit(&res);
	CHECK(
	    res.ok && res.lost == 0 && res.gaps == 0 && res.duplicate == 0 && res.out_of_order == 0,
	    "audit: ok=%d lost=%lu gaps=%lu dup=%lu ooo=%lu", res.ok, (unsigned long)res.lost,
	    (unsigned long)res.gaps, (unsigned long)res.duplicate, (unsigned long)res.out_of_order);
	printf("ring link: %zu events, %lu opens, %d failures\n", nevs, (unsigned long)res.opens,
	       failures);
	cee_engine_stats_json(eng, stdout);
	cee_engine_destroy(eng);
	rte_eal_cleanup();
	return failures ? 1 : 0;
}
