/* SPDX-License-Identifier: BSD-3-Clause */
// Frames built by cee_net_fill_tcp() against the bytes on the wire. The
// checksums are computed from the header values and the payload sources,
// not read back from the frame; a slip there (a byte-order mistake, an
// option word left out, the second piece of a payload that wrapped around
// the send buffer at an odd offset) makes every peer drop those segments.
// Each frame is checked with DPDK's own checksum routines over the frame
// and parsed back by cee_net_parse(). No EAL: the mbuf lives on the heap.
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include <rte_ip.h>
#include <rte_tcp.h>

#include <rte_arp.h>

#include "cee_net.h"

#define BUF 4096
#define OUR_IP 0x0a000001u
#define PEER_IP 0xc0a80117u

struct frame {
	struct rte_mbuf m;
	uint8_t buf[BUF];
};

static struct rte_mbuf *frame_reset(struct frame *f)
{
	memset(&f->m, 0, sizeof(f->m));
	f->m.buf_addr = f->buf;
	f->m.buf_len = BUF;
	rte_mbuf_refcnt_set(&f->m, 1);
	f->m.nb_segs = 1;
	rte_pktmbuf_reset(&f->m);
	return &f->m;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

// Build one frame and check it byte for byte.
static void check_one_opts(unsigned len0, unsigned len1, uint16_t mss, uint8_t wscale, bool sack_ok,
			   unsigned nsack, bool ts)
{
	static uint8_t src[2][1600];
	for (unsigned i = 0; i < sizeof(src); i++)
		((uint8_t *)src)[i] = (uint8_t)rnd();
	struct cee_net_addr a = {
		.src_ip = OUR_IP,
		.dst_ip = PEER_IP,
		.sport = (uint16_t)(1 + rnd() % 65535),
		.dport = (uint16_t)(1 + rnd() % 65535),
	};
	memcpy(a.src_mac.addr_bytes, "\x02\xce\xe0\x00\x00\x01", 6);
	memcpy(a.dst_mac.addr_bytes, "\x02\x00\x00\x00\x00\x02", 6);
	struct cee_tcp_out out;
	memset(&out, 0, sizeof(out));
	out.seq = rnd();
	out.ack = rnd();
	out.wnd = (uint16_t)rnd();
	out.flags = CEE_TCP_ACK | (len0 + len1 ? CEE_TCP_PSH : 0) | (mss ? CEE_TCP_SYN : 0);
	out.mss = mss;
	out.wscale = wscale;
	out.sack_ok = sack_ok;
	out.nsack = (uint8_t)nsack;
	out.ts = ts;
	out.tsval = rnd();
	out.tsecr = rnd();
	for (unsigned k = 0; k < nsack; k++) {
		out.sack[k].start = rnd();
		out.sack[k].end = rnd();
	}
	out.data[0] = src[0];
	out.len[0] = len0;
	out.data[1] = src[1];
	out.len[1] = len1;

	static struct frame f;
	struct rte_mbuf *m = frame_reset(&f);
	assert_int_equal(cee_net_fill_tcp(m, &a, &out), 0);

	const struct rte_ipv4_hdr *ip =
	    rte_pktmbuf_mtod_offset(m, const struct rte_ipv4_hdr *, sizeof(struct rte_ether_hdr));
	struct rte_tcp_hdr *th = (void *)(uintptr_t)(ip + 1);
	// The IPv4 header sums to 0xffff with its checksum; the TCP checksum
	// verifies over pseudo-header, header, options and payload.
	assert_int_equal(rte_raw_cksum(ip, sizeof(*ip)), 0xffff);
	uint16_t sent = th->cksum;
	th->cksum = 0;
	uint16_t want = rte_ipv4_udptcp_cksum(ip, th);
	th->cksum = sent;
	assert_int_equal(sent, want);
	assert_int_equal(rte_be_to_cpu_16(ip->total_length),
			 rte_pktmbuf_data_len(m) - sizeof(struct rte_ether_hdr));

	struct cee_pkt p;
	m->ol_flags = 0; // nothing vouched for: the parser checks both sums
	cee_net_parse(m, PEER_IP, 1, &p);
	assert_int_equal(p.kind, CEE_PKT_TCP);
	assert_int_equal(p.src_ip, OUR_IP);
	assert_int_equal(p.sport, a.sport);
	assert_int_equal(p.dport, a.dport);
	assert_int_equal(p.seg.seq, out.seq);
	assert_int_equal(p.seg.ack, out.ack);
	assert_int_equal(p.seg.wnd, out.wnd);
	assert_int_equal(p.seg.flags, out.flags);
	assert_int_equal(p.seg.mss, mss);
	assert_int_equal(p.seg.wscale, wscale);
	assert_int_equal(p.seg.sack_ok, sack_ok);
	assert_int_equal(p.seg.nsack, nsack);
	assert_int_equal(p.seg.ts_ok, ts);
	if (ts) {
		assert_int_equal(p.seg.tsval, out.tsval);
		assert_int_equal(p.seg.tsecr, out.tsecr);
	}
	for (unsigned k = 0; k < nsack; k++) {
		assert_int_equal(p.seg.sack[k].start, out.sack[k].start);
		assert_int_equal(p.seg.sack[k].end, out.sack[k].end);
	}
	assert_int_equal(p.seg.len, len0 + len1);
	assert_memory_equal(p.seg.data, src[0], len0);
	if (len1)
		assert_memory_equal(p.seg.data + len0, src[1], len1);

	// One flipped bit anywhere in the segment (header, options, payload)
	// or in the addresses the pseudo-header covers is refused.
	uint8_t *seg = (uint8_t *)th;
	unsigned seglen = rte_be_to_cpu_16(ip->total_length) - sizeof(*ip);
	unsigned at = rnd() % seglen, bit = rnd() % 8;
	seg[at] ^= (uint8_t)(1u << bit);
	cee_net_parse(m, PEER_IP, 1, &p);
	assert_int_equal(p.kind, CEE_PKT_DROP);
	seg[at] ^= (uint8_t)(1u << bit);
	struct rte_ipv4_hdr *wip = (void *)(uintptr_t)ip;
	wip->src_addr ^= rte_cpu_to_be_32(0x100); // still ours to parse, sum now wrong
	wip->hdr_checksum = 0;
	wip->hdr_checksum = rte_ipv4_cksum(wip);
	cee_net_parse(m, PEER_IP, 1, &p);
	assert_int_equal(p.kind, CEE_PKT_DROP);
	assert_int_equal(p.cause, CEE_DROP_BAD_TCP_CSUM);
}

static void check_one(unsigned len0, unsigned len1, uint16_t mss, uint8_t wscale)
{
	check_one_opts(len0, len1, mss, wscale, false, 0, false);
}

// Every split of a payload in two pieces, odd and even, with and without
// SYN options: the case a send-buffer wrap produces.
static void test_fill_tcp_checksums(void **state)
{
	(void)state;
	static const unsigned lens[] = {0, 1, 2, 3, 17, 63, 64, 65, 512, 1459, 1460};
	for (unsigned i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		for (unsigned j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
			check_one(lens[i], lens[j], 0, 0xff);
			check_one(lens[i], lens[j], 1460, 0xff);
			check_one(lens[i], lens[j], 1460, 7);
			check_one(lens[i], lens[j], 0, 14);
			// RFC 2018: SACK-permitted on a SYN, 1 to 3 blocks on others
			check_one_opts(lens[i], lens[j], 1460, 7, true, 0, true);
			for (unsigned k = 1; k <= CEE_TCP_SACK_OUT_MAX; k++) // with RFC 7323 TS: 40 bytes
				check_one_opts(lens[i], lens[j], 0, 0xff, false, k, k % 2);
		}
}

// Random headers and lengths: carries through the fold (sums near 0xffff).
static void test_fill_tcp_random(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 20000; i++)
		check_one_opts(rnd() % 1461, rnd() % 2 ? rnd() % 140 : 0,
			       rnd() % 3 ? 0 : (uint16_t)(1 + rnd() % 65535),
			       rnd() % 2 ? 0xff : (uint8_t)(rnd() % 15), rnd() % 2, 0, rnd() % 2);
	// segments after the SYN: SACK blocks and timestamps (at most 40 option bytes)
	for (unsigned i = 0; i < 20000; i++)
		check_one_opts(rnd() % 1461, rnd() % 2 ? rnd() % 140 : 0, 0, 0xff, false,
			       rnd() % (CEE_TCP_SACK_OUT_MAX + 1), rnd() % 2);
}

// Fault (session 15 review): a window scale option of 255 from the wire
// was read as "no option" (the parser's 0xff sentinel): an active open that
// offered its own scale then sent unscaled windows the peer scaled. Values
// above 14 are 14 (RFC 7323 2.3).
static void test_parse_wscale_255(void **state)
{
	(void)state;
	struct cee_net_addr a = {.src_ip = OUR_IP, .dst_ip = PEER_IP, .sport = 5060, .dport = 40000};
	memcpy(a.src_mac.addr_bytes, "\x02\xce\xe0\x00\x00\x01", 6);
	memcpy(a.dst_mac.addr_bytes, "\x02\x00\x00\x00\x00\x02", 6);
	struct cee_tcp_out out;
	memset(&out, 0, sizeof(out));
	out.flags = CEE_TCP_SYN | CEE_TCP_ACK;
	out.mss = 1460;
	out.wscale = 14;
	static struct frame f;
	struct rte_mbuf *m = frame_reset(&f);
	assert_int_equal(cee_net_fill_tcp(m, &a, &out), 0);
	struct rte_ipv4_hdr *ip =
	    rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, sizeof(struct rte_ether_hdr));
	struct rte_tcp_hdr *th = (void *)(ip + 1);
	uint8_t *o = (uint8_t *)(th + 1), *end = (uint8_t *)th + ((th->data_off >> 4) * 4);
	bool found = false;
	while (o < end && *o != 0) {
		if (*o == 1) {
			o++;
			continue;
		}
		if (o[0] == 3 && o[1] == 3) {
			o[2] = 255;
			found = true;
		}
		o += o[1];
	}
	assert_true(found);
	th->cksum = 0;
	th->cksum = rte_ipv4_udptcp_cksum(ip, th);
	struct cee_pkt p;
	m->ol_flags = 0;
	cee_net_parse(m, PEER_IP, 1, &p);
	assert_int_equal(p.kind, CEE_PKT_TCP);
	assert_int_equal(p.seg.wscale, 14);
}

// A frame too large for the mbuf is refused, not truncated.
static void test_fill_tcp_too_big(void **state)
{
	(void)state;
	static uint8_t big[BUF];
	struct cee_net_addr a = {.src_ip = OUR_IP, .dst_ip = PEER_IP, .sport = 1, .dport = 2};
	struct cee_tcp_out out;
	memset(&out, 0, sizeof(out));
	out.wscale = 0xff;
	out.flags = CEE_TCP_ACK;
	out.data[0] = big;
	out.len[0] = BUF;
	static struct frame f;
	struct rte_mbuf *m = frame_reset(&f);
	assert_int_equal(cee_net_fill_tcp(m, &a, &out), -EMSGSIZE);
	assert_int_equal(rte_pktmbuf_data_len(m), 0);
}

// The checksum the parser and builder use equals DPDK's for every length
// and alignment (a wrong tail or fold would drop valid frames or pass bad
// ones).
static void test_cksum_matches_dpdk(void **state)
{
	(void)state;
	static uint8_t buf[2048 + 8];
	for (unsigned round = 0; round < 50; round++) {
		for (unsigned i = 0; i < sizeof(buf); i++)
			buf[i] = round == 0 ? 0xff : (uint8_t)rnd(); // all-ones: the carries
		for (unsigned off = 0; off < 8; off++)
			for (unsigned len = 0; len <= 2048; len += round == 0 ? 1 : 1 + rnd() % 97)
				assert_int_equal(cee_net_cksum(buf + off, len),
						 rte_raw_cksum(buf + off, len));
	}
}

// ICMP fragmentation needed (RFC 1191) from router @p router about our segment
// OUR_IP:7 -> PEER_IP:40000 with sequence number @p seq; @p quoted_src: the
// quoted datagram's source. @return the frame.
static struct rte_mbuf *icmp_ptb(struct frame *f, uint32_t router, uint32_t quoted_src,
				 uint32_t seq, uint16_t mtu, unsigned quoted_tcp_bytes)
{
	struct rte_mbuf *m = frame_reset(f);
	unsigned icmp_len = 8 + 20 + quoted_tcp_bytes;
	uint8_t *b = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)(14 + 20 + icmp_len));
	memset(b, 0, 14 + 20 + icmp_len);
	b[6] = 0x02, b[11] = 0x09; // from 02:00:00:00:00:09 (a zero MAC is no station's)
	b[12] = 0x08;              // IPv4
	struct rte_ipv4_hdr *ip = (void *)(b + 14);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(20 + icmp_len));
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_ICMP;
	ip->src_addr = rte_cpu_to_be_32(router);
	ip->dst_addr = rte_cpu_to_be_32(OUR_IP);
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	uint8_t *ic = (uint8_t *)(ip + 1);
	ic[0] = 3; // destination unreachable
	ic[1] = 4; // fragmentation needed and DF set
	ic[6] = (uint8_t)(mtu >> 8);
	ic[7] = (uint8_t)mtu;
	struct rte_ipv4_hdr *in = (void *)(ic + 8);
	in->version_ihl = RTE_IPV4_VHL_DEF;
	in->total_length = rte_cpu_to_be_16(1500);
	in->time_to_live = 64;
	in->next_proto_id = IPPROTO_TCP;
	in->src_addr = rte_cpu_to_be_32(quoted_src);
	in->dst_addr = rte_cpu_to_be_32(PEER_IP);
	uint8_t *t = (uint8_t *)(in + 1);
	t[0] = 0, t[1] = 7, t[2] = 40000 >> 8, t[3] = 40000 & 0xff;
	t[4] = (uint8_t)(seq >> 24), t[5] = (uint8_t)(seq >> 16), t[6] = (uint8_t)(seq >> 8);
	t[7] = (uint8_t)seq;
	uint16_t ck = (uint16_t)~rte_raw_cksum(ic, icmp_len);
	memcpy(ic + 2, &ck, 2);
	return m;
}

// Fault (review of session 33): ICMP destination unreachable about our
// segment was dropped as unsupported_proto, never acted on; and every other
// ICMP message (an echo reply, time exceeded) counted unsupported_proto,
// which climbed as clients went away. An unreachable of the codes that
// mean the destination cannot be reached is parsed as the connection's
// (quoted tuple, sequence number, code); other ICMP is icmp_ignored.
static struct rte_mbuf *icmp_of(struct frame *f, uint32_t quoted_src, uint8_t type, uint8_t code)
{
	struct rte_mbuf *m = icmp_ptb(f, 0x0b000001u, quoted_src, 0x12345678u, 0, 8);
	uint8_t *ic = rte_pktmbuf_mtod(m, uint8_t *) + 14 + 20;
	ic[0] = type;
	ic[1] = code;
	ic[2] = ic[3] = 0;
	uint16_t ck = (uint16_t)~rte_raw_cksum(ic, 8 + 20 + 8);
	memcpy(ic + 2, &ck, 2);
	return m;
}

static void test_icmp_unreach(void **state)
{
	(void)state;
	static struct frame f;
	struct cee_pkt p;
	static const uint8_t acted[] = {0, 1, 2, 3, 6, 7, 9, 10, 13};
	for (size_t i = 0; i < sizeof(acted); i++) {
		cee_net_parse(icmp_of(&f, OUR_IP, 3, acted[i]), OUR_IP, 1, &p);
		assert_int_equal(p.kind, CEE_PKT_ICMP_UNREACH);
		assert_int_equal(p.icmp_code, acted[i]);
		assert_int_equal(p.src_ip, PEER_IP);
		assert_int_equal(p.sport, 40000);
		assert_int_equal(p.dport, 7);
		assert_int_equal(p.seg.seq, 0x12345678u);
	}
	// other codes (source route failed, TOS) and other types: icmp_ignored
	static const uint8_t type_code[][2] = {{3, 5}, {3, 11}, {0, 0}, {11, 0}, {5, 1}};
	for (size_t i = 0; i < sizeof(type_code) / sizeof(type_code[0]); i++) {
		cee_net_parse(icmp_of(&f, OUR_IP, type_code[i][0], type_code[i][1]), OUR_IP, 1, &p);
		assert_int_equal(p.kind, CEE_PKT_DROP);
		assert_int_equal(p.cause, CEE_DROP_ICMP_IGNORED);
	}
	// quoting a datagram not ours: bad_icmp, as frag-needed
	cee_net_parse(icmp_of(&f, PEER_IP, 3, 1), OUR_IP, 1, &p);
	assert_int_equal(p.kind, CEE_PKT_DROP);
	assert_int_equal(p.cause, CEE_DROP_BAD_ICMP);
}

// Fault: ICMP fragmentation needed is dropped (a path with a smaller MTU
// black-holes full-size segments), or one quoting a datagram that is not
// ours, or that is malformed, is believed.
static void test_icmp_ptb(void **state)
{
	(void)state;
	static struct frame f;
	struct cee_pkt p;

	cee_net_parse(icmp_ptb(&f, 0x0b000001u, OUR_IP, 0x12345678u, 1280, 8), OUR_IP, 1, &p);
	assert_int_equal(p.kind, CEE_PKT_ICMP_PTB);
	assert_int_equal(p.src_ip, PEER_IP); // the connection, as its segments come in
	assert_int_equal(p.dst_ip, OUR_IP);
	assert_int_equal(p.sport, 40000);
	assert_int_equal(p.dport, 7);
	assert_int_equal(p.seg.seq, 0x12345678u);
	assert_int_equal(p.icmp_mtu, 1280);
	cee_net_parse(icmp_ptb(&f, 0x0b000001u, OUR_IP, 1, 1280, 28), OUR_IP, 1, &p);
	assert_int_equal(p.kind, CEE_PKT_ICMP_PTB); // more of the datagram quoted: fine

	cee_net_parse(icmp_ptb(&f, 0x0b000001u, PEER_IP, 1, 1280, 8), OUR_IP, 1, &p);
	assert_int_equal(p.kind, CEE_PKT_DROP); // not a datagram of ours
	assert_int_equal(p.cause, CEE_DROP_BAD_ICMP);
	cee_net_parse(icmp_ptb(&f, 0x0b000001u, OUR_IP, 1, 1280, 4), OUR_IP, 1, &p);
	assert_int_equal(p.kind, CEE_PKT_DROP); // fewer than 8 bytes of it
	assert_int_equal(p.cause, CEE_DROP_BAD_ICMP);
	struct rte_mbuf *m = icmp_ptb(&f, 0x0b000001u, OUR_IP, 1, 1280, 8);
	rte_pktmbuf_mtod(m, uint8_t *)[14 + 20 + 7] ^= 1; // the MTU, after the checksum
	cee_net_parse(m, OUR_IP, 1, &p);
	assert_int_equal(p.kind, CEE_PKT_DROP);
	assert_int_equal(p.cause, CEE_DROP_BAD_ICMP);
}

// An ICMP echo request from PEER_IP (MAC 02:00:00:00:00:09) to OUR_IP, sent
// to Ethernet address @p dst.
static struct rte_mbuf *echo_request(struct frame *f, const uint8_t dst[6])
{
	struct rte_mbuf *m = frame_reset(f);
	struct rte_ether_hdr *eth = (void *)rte_pktmbuf_append(m, 14 + 20 + 8 + 4);
	assert_non_null(eth);
	memset(eth, 0, 14 + 20 + 8 + 4);
	memcpy(eth->dst_addr.addr_bytes, dst, 6);
	eth->src_addr = (struct rte_ether_addr){{0x02, 0, 0, 0, 0, 0x09}};
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	struct rte_ipv4_hdr *ip = (void *)(eth + 1);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->total_length = rte_cpu_to_be_16(20 + 8 + 4);
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_ICMP;
	ip->src_addr = rte_cpu_to_be_32(PEER_IP);
	ip->dst_addr = rte_cpu_to_be_32(OUR_IP);
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	uint8_t *ic = (uint8_t *)(ip + 1);
	ic[0] = 8; // echo request
	memcpy(ic + 8, "ping", 4);
	uint16_t ck = (uint16_t)~rte_raw_cksum(ic, 12);
	memcpy(ic + 2, &ck, 2);
	return m;
}

// Fault (review): an echo request to the Ethernet broadcast address was
// answered, and the reply's source MAC was the request's destination: a
// broadcast source, or another host's MAC (a request flooded to us), which
// a switch then learned on our port. Now IPv4 to a group MAC is dropped,
// and the reply comes from our MAC.
static void test_icmp_echo_macs(void **state)
{
	(void)state;
	static struct frame f;
	struct cee_pkt p;
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	static const uint8_t other[6] = {0x02, 0, 0, 0, 0, 0x77};
	const struct rte_ether_addr ours = {{0x02, 0xce, 0xe0, 0, 0, 0x01}};

	cee_net_parse(echo_request(&f, bcast), OUR_IP, 1, &p);
	assert_int_equal(p.kind, CEE_PKT_DROP);
	assert_int_equal(p.cause, CEE_DROP_NOT_FOR_US);
	struct rte_mbuf *m = echo_request(&f, other);
	cee_net_parse(m, OUR_IP, 1, &p);
	assert_int_equal(p.kind, CEE_PKT_ICMP_ECHO);
	assert_int_equal(cee_net_icmp_echo_reply(m, &ours, &p), 0);
	const uint8_t *b = rte_pktmbuf_mtod(m, const uint8_t *);
	assert_memory_equal(b, "\x02\x00\x00\x00\x00\x09", 6); // to the requester
	assert_memory_equal(b + 6, &ours, 6);                      // from us
	assert_int_equal(b[14 + 20], 0);                           // an echo reply
}

// An echo request as echo_request()'s, to @p dst, with IP options: a record
// route of room for two addresses and an end of list; Ethernet padding after.
static struct rte_mbuf *echo_request_rr(struct frame *f, const uint8_t dst[6])
{
	struct rte_mbuf *m = frame_reset(f);
	static const uint8_t opt[12] = {7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0};
	unsigned tot = 20 + sizeof(opt) + 8 + 4;
	assert_non_null(rte_pktmbuf_append(m, (uint16_t)(14 + tot + 6)));
	// (through f->buf: GCC's -Warray-bounds lost the buffer's size via the mbuf)
	struct rte_ether_hdr *eth = (void *)(f->buf + m->data_off);
	memset(eth, 0, 14 + tot + 6);
	memcpy(eth->dst_addr.addr_bytes, dst, 6);
	eth->src_addr = (struct rte_ether_addr){{0x02, 0, 0, 0, 0, 0x09}};
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	struct rte_ipv4_hdr *ip = (void *)(eth + 1);
	ip->version_ihl = (uint8_t)(0x40 | (20 + sizeof(opt)) / 4);
	ip->total_length = rte_cpu_to_be_16((uint16_t)tot);
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_ICMP;
	ip->src_addr = rte_cpu_to_be_32(PEER_IP);
	ip->dst_addr = rte_cpu_to_be_32(OUR_IP);
	memcpy(ip + 1, opt, sizeof(opt));
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	uint8_t *ic = (uint8_t *)(ip + 1) + sizeof(opt);
	ic[0] = 8;
	memcpy(ic + 8, "ping", 4);
	uint16_t ck = (uint16_t)~rte_raw_cksum(ic, 12);
	memcpy(ic + 2, &ck, 2);
	return m;
}

// Fault (review): IP options of an echo request went back in the reply as
// they came, a source route included (RFC 1122 3.2.2.6: reverse it, or, as
// here, send no options). The reply has a 20-byte header, the ICMP message
// whole and both checksums right.
static void test_icmp_echo_options(void **state)
{
	(void)state;
	static struct frame f;
	static const uint8_t ours_mac[6] = {0x02, 0xce, 0xe0, 0, 0, 0x01};
	struct rte_mbuf *m = echo_request_rr(&f, ours_mac);
	struct rte_ipv4_hdr *ip;
	uint8_t *ic;
	struct cee_pkt p;
	cee_net_parse(m, OUR_IP, 1, &p);
	assert_int_equal(p.kind, CEE_PKT_ICMP_ECHO);
	assert_int_equal(cee_net_icmp_echo_reply(m, (const struct rte_ether_addr *)ours_mac, &p), 0);
	assert_int_equal(rte_pktmbuf_data_len(m), 14 + 20 + 12);
	ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14);
	assert_int_equal(ip->version_ihl, 0x45);
	assert_int_equal(rte_be_to_cpu_16(ip->total_length), 20 + 12);
	assert_int_equal(rte_be_to_cpu_32(ip->dst_addr), PEER_IP);
	assert_int_equal(rte_ipv4_cksum(ip), 0); // over a right checksum: 0
	ic = (uint8_t *)(ip + 1);
	assert_int_equal(ic[0], 0); // an echo reply
	assert_memory_equal(ic + 8, "ping", 4);
	assert_int_equal(rte_raw_cksum(ic, 12), 0xffff);
}

// Faults (review): sources no station has were answered. A frame from the
// all-zero MAC made a SYN's connection resolve its (spoofed) source by ARP
// as an active open does, three broadcasts and a neighbour entry a SYN;
// a source in 0/8 ("this network", RFC 1122 3.2.1.3) got replies.
static void test_bad_sources(void **state)
{
	(void)state;
	static struct frame f;
	static const uint8_t ours_mac[6] = {0x02, 0xce, 0xe0, 0, 0, 0x01};
	struct cee_pkt p;
	struct rte_mbuf *m = echo_request(&f, ours_mac);
	cee_net_parse(m, OUR_IP, 1, &p);
	assert_int_equal(p.kind, CEE_PKT_ICMP_ECHO); // the control
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	memset(&eth->src_addr, 0, 6);
	cee_net_parse(m, OUR_IP, 1, &p);
	assert_int_equal(p.kind, CEE_PKT_DROP);
	assert_int_equal(p.cause, CEE_DROP_BAD_ETH);

	m = echo_request(&f, ours_mac);
	struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14);
	ip->src_addr = rte_cpu_to_be_32(0x00010203u); // 0.1.2.3
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	cee_net_parse(m, OUR_IP, 1, &p);
	assert_int_equal(p.kind, CEE_PKT_DROP);
	assert_int_equal(p.cause, CEE_DROP_BAD_IP_ADDR);
}

// An ARP request in @p f: sender @p sip (MAC 02:00:00:00:00:09), target @p tip.
static struct rte_mbuf *arp_request_frame(struct frame *f, uint32_t sip, uint32_t tip)
{
	struct rte_mbuf *m = frame_reset(f);
	struct rte_ether_hdr *eth =
		(void *)rte_pktmbuf_append(m, sizeof(*eth) + sizeof(struct rte_arp_hdr));
	assert_non_null(eth);
	struct rte_ether_addr peer = {{0x02, 0, 0, 0, 0, 0x09}};
	memset(&eth->dst_addr, 0xff, sizeof(eth->dst_addr));
	eth->src_addr = peer;
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
	struct rte_arp_hdr *a = (void *)(eth + 1);
	a->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	a->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	a->arp_hlen = RTE_ETHER_ADDR_LEN;
	a->arp_plen = 4;
	a->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
	a->arp_data.arp_sha = peer;
	a->arp_data.arp_sip = rte_cpu_to_be_32(sip);
	memset(&a->arp_data.arp_tha, 0, sizeof(a->arp_data.arp_tha));
	a->arp_data.arp_tip = rte_cpu_to_be_32(tip);
	return m;
}

// Fault (review): an ARP probe for our address (sender 0.0.0.0, RFC 5227
// duplicate-address detection) was dropped as bad_arp and never answered:
// another host probing our address took it over. It is answered, to the
// prober's MAC with target IP 0; a probe for another address is not ours,
// and a request from 0.0.0.0 is not a probe unless it asks for ours.
static void test_arp_probe_answered(void **state)
{
	(void)state;
	static struct frame f;
	struct rte_ether_addr mac = {{0x02, 0xce, 0xe0, 0, 0, 1}};
	struct rte_mbuf *m = arp_request_frame(&f, 0, OUR_IP + 1);
	struct cee_arp_info ai;
	assert_int_equal(cee_net_arp_info(m, OUR_IP, 2, &ai), 0);
	assert_true(ai.probe);
	assert_int_equal(cee_net_arp_reply(m, &mac, OUR_IP, 2), 0);
	const struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	const struct rte_arp_hdr *a = (const void *)(eth + 1);
	assert_int_equal(rte_be_to_cpu_16(a->arp_opcode), RTE_ARP_OP_REPLY);
	assert_int_equal(eth->dst_addr.addr_bytes[5], 0x09);
	assert_int_equal(a->arp_data.arp_tha.addr_bytes[5], 0x09);
	assert_int_equal(a->arp_data.arp_tip, 0);
	assert_int_equal(rte_be_to_cpu_32(a->arp_data.arp_sip), OUR_IP + 1);
	assert_memory_equal(&a->arp_data.arp_sha, &mac, sizeof(mac));

	// a probe for another address: another host's check (not bad input,
	// not answered); it was -EINVAL, counted as bad_arp
	m = arp_request_frame(&f, 0, PEER_IP);
	assert_int_equal(cee_net_arp_info(m, OUR_IP, 2, &ai), 0);
	assert_true(ai.other_probe);
	assert_false(ai.probe);
	assert_false(ai.conflict);
	assert_int_equal(cee_net_arp_reply(m, &mac, OUR_IP, 2), -EINVAL);
	m = arp_request_frame(&f, PEER_IP, OUR_IP); // an ordinary request
	assert_int_equal(cee_net_arp_info(m, OUR_IP, 2, &ai), 0);
	assert_false(ai.probe || ai.other_probe || ai.conflict);
	// our own address as sender (either of them): a conflict, for the
	// caller to count (it was -EINVAL, bad_arp among garbage)
	m = arp_request_frame(&f, OUR_IP + 1, OUR_IP);
	assert_int_equal(cee_net_arp_info(m, OUR_IP, 2, &ai), 0);
	assert_true(ai.conflict);
	m = arp_request_frame(&f, 0x7f000001u, OUR_IP); // loopback as sender: refused
	assert_int_equal(cee_net_arp_info(m, OUR_IP, 2, &ai), -EINVAL);
}

// Insert an 802.1Q tag (TCI @p tci) after the MACs of frame @p m.
static void add_tag(struct rte_mbuf *m, uint16_t tci)
{
	uint8_t macs[12];
	memcpy(macs, rte_pktmbuf_mtod(m, uint8_t *), sizeof(macs));
	assert_non_null(rte_pktmbuf_prepend(m, 4));
	uint8_t *p = rte_pktmbuf_mtod(m, uint8_t *);
	memcpy(p, macs, sizeof(macs));
	p[12] = 0x81;
	p[13] = 0x00;
	p[14] = (uint8_t)(tci >> 8);
	p[15] = (uint8_t)tci;
}

// Fault: priority-tagged frames (an 802.1Q tag with VLAN id 0: 802.1p
// marking on an untagged network) were dropped as an unsupported
// ethertype, so a network that tags priorities could not reach the engine.
// The tag comes off (the frame then reads as untagged: an ARP request is
// answered in place, untagged); another VLAN id is still not ours.
static void test_priority_tagged(void **state)
{
	(void)state;
	static struct frame f;
	struct cee_net_addr a = {.src_ip = PEER_IP, .dst_ip = OUR_IP, .sport = 40000, .dport = 5060};
	memcpy(a.src_mac.addr_bytes, "\x02\x00\x00\x00\x00\x02", 6);
	memcpy(a.dst_mac.addr_bytes, "\x02\xce\xe0\x00\x00\x01", 6);
	struct cee_tcp_out out;
	memset(&out, 0, sizeof(out));
	out.flags = CEE_TCP_SYN;
	out.seq = 1234;
	out.mss = 1460;
	out.wscale = 0xff;
	struct cee_pkt p;
	for (unsigned prio = 0; prio < 8; prio++) {
		struct rte_mbuf *m = frame_reset(&f);
		m->data_off = 64; /* room to prepend the tag */
		assert_int_equal(cee_net_fill_tcp(m, &a, &out), 0);
		uint16_t untagged = rte_pktmbuf_data_len(m);
		add_tag(m, (uint16_t)(prio << 13));
		m->ol_flags = 0;
		cee_net_parse(m, OUR_IP, 1, &p);
		assert_int_equal(p.kind, CEE_PKT_TCP);
		assert_int_equal(p.src_ip, PEER_IP);
		assert_int_equal(p.seg.seq, 1234);
		assert_int_equal(p.seg.mss, 1460);
		assert_int_equal(rte_pktmbuf_data_len(m), untagged);
		const struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
		assert_int_equal(rte_be_to_cpu_16(eth->ether_type), RTE_ETHER_TYPE_IPV4);
		assert_memory_equal(&eth->src_addr, &a.src_mac, 6);
		assert_memory_equal(&p.src_mac, &a.src_mac, 6);
	}
	// VLAN 5: not ours
	struct rte_mbuf *m = frame_reset(&f);
	m->data_off = 64;
	assert_int_equal(cee_net_fill_tcp(m, &a, &out), 0);
	add_tag(m, 5);
	m->ol_flags = 0;
	cee_net_parse(m, OUR_IP, 1, &p);
	assert_int_equal(p.kind, CEE_PKT_DROP);
	assert_int_equal(p.cause, CEE_DROP_UNSUPPORTED_ETHERTYPE);
	// an ARP request, priority-tagged: parsed and answered, untagged
	m = arp_request_frame(&f, PEER_IP, OUR_IP);
	add_tag(m, 3 << 13);
	cee_net_parse(m, OUR_IP, 1, &p);
	assert_int_equal(p.kind, CEE_PKT_ARP);
	struct cee_arp_info ai;
	assert_int_equal(cee_net_arp_info(m, OUR_IP, 1, &ai), 0);
	assert_int_equal(ai.sip, PEER_IP);
	struct rte_ether_addr mac = {{0x02, 0xce, 0xe0, 0, 0, 1}};
	assert_int_equal(cee_net_arp_reply(m, &mac, OUR_IP, 1), 0);
	assert_int_equal(rte_pktmbuf_data_len(m), sizeof(struct rte_ether_hdr) + sizeof(struct rte_arp_hdr));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fill_tcp_checksums),
		cmocka_unit_test(test_fill_tcp_random),
		cmocka_unit_test(test_fill_tcp_too_big),
	    cmocka_unit_test(test_parse_wscale_255),
		cmocka_unit_test(test_cksum_matches_dpdk),
		cmocka_unit_test(test_icmp_ptb),
		cmocka_unit_test(test_icmp_unreach),
		cmocka_unit_test(test_icmp_echo_macs),
		cmocka_unit_test(test_icmp_echo_options),
		cmocka_unit_test(test_bad_sources),
		cmocka_unit_test(test_arp_probe_answered),
		cmocka_unit_test(test_priority_tagged),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
