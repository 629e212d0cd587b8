/* SPDX-License-Identifier: BSD-3-Clause */
// Fuzz target: the frame parser (cee_net_parse) on hostile frames.
//
// Input: one byte of settings, then the frame (Ethernet onwards).
//   bit 0   the port vouched for both checksums (RX_IP/L4_CKSUM_GOOD)
//   bit 1   the harness fixes the IPv4, TCP and ICMP checksums first, so
//           mutations reach what lies behind them
//   bits 2-3  the engine has 1..4 addresses from 10.0.0.1
// The frame sits at the very end of a heap buffer (no EAL: an mbuf on the
// heap, as tests/unit/test_net.c builds them), so any read past it is an
// ASan report. After the parse:
//   - a drop has a known cause;
//   - a TCP segment's payload lies inside the frame, with at most 4 SACK
//     blocks; rebuilt by cee_net_fill_tcp() from what was parsed, it parses
//     back to the same fields and payload (and DPDK agrees with its sums);
//   - an ICMP echo request turned into a reply by cee_net_icmp_echo_reply()
//     has valid IPv4 and ICMP checksums and is exactly the datagram long;
//   - an ARP request for us turned into a reply still parses as ARP;
//   - cee_net_cksum() equals DPDK's rte_raw_cksum() on the frame.
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rte_arp.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>

#include "cee_net.h"
#include "fuzz.h"

#define OUR_IP 0x0a000001u
#define MAX_FRAME 9216

struct frame {
	struct rte_mbuf m;
	uint8_t *buf;
};

// An mbuf whose data ends exactly where its heap buffer ends.
static struct rte_mbuf *frame_new(struct frame *f, const uint8_t *data, uint16_t len, uint16_t room)
{
	f->buf = malloc((size_t)RTE_PKTMBUF_HEADROOM + room);
	if (f->buf == NULL)
		abort();
	memset(&f->m, 0, sizeof(f->m));
	f->m.buf_addr = f->buf;
	f->m.buf_len = (uint16_t)(RTE_PKTMBUF_HEADROOM + room);
	rte_mbuf_refcnt_set(&f->m, 1);
	f->m.nb_segs = 1;
	rte_pktmbuf_reset(&f->m);
	if (len > 0) {
		uint8_t *p = (uint8_t *)rte_pktmbuf_append(&f->m, len);
		FUZZ_CHECK(p != NULL, "append %u", len);
		memcpy(p, data, len);
	}
	return &f->m;
}

static void frame_free(struct frame *f)
{
	free(f->buf);
	f->buf = NULL;
}

// Make the checksums right, where the headers say where they are.
static void fix_sums(uint8_t *b, size_t len)
{
	if (len < 14 + 20 || b[12] != 0x08 || b[13] != 0x00)
		return;
	struct rte_ipv4_hdr *ip = (void *)(b + 14);
	unsigned ihl = (unsigned)(ip->version_ihl & 0xf) * 4;
	unsigned tot = rte_be_to_cpu_16(ip->total_length);
	if (ihl < 20 || 14 + ihl > len)
		return;
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	if (tot < ihl || 14 + tot > len)
		return;
	uint8_t *l4 = b + 14 + ihl;
	unsigned l4len = tot - ihl;
	if (ip->next_proto_id == IPPROTO_TCP && l4len >= sizeof(struct rte_tcp_hdr)) {
		struct rte_tcp_hdr *th = (void *)l4;
		th->cksum = 0;
		// the pseudo-header and the segment, as rte_ipv4_udptcp_cksum() but
		// with the length from the header we have (options included)
		uint32_t sum = rte_ipv4_phdr_cksum(ip, 0);
		sum += rte_raw_cksum(l4, l4len);
		sum = (sum & 0xffff) + (sum >> 16);
		sum = (sum & 0xffff) + (sum >> 16);
		uint16_t ck = (uint16_t)~sum;
		th->cksum = ck == 0 ? 0xffff : ck;
	} else if (ip->next_proto_id == IPPROTO_ICMP && l4len >= sizeof(struct rte_icmp_hdr)) {
		struct rte_icmp_hdr *ic = (void *)l4;
		ic->icmp_cksum = 0;
		ic->icmp_cksum = (uint16_t)~rte_raw_cksum(ic, l4len);
	}
}

static void check_tcp_roundtrip(const struct cee_pkt *p, uint32_t our_ip, uint32_t count,
				unsigned split)
{
	const struct cee_tcp_seg *s = &p->seg;
	struct cee_tcp_out out;
	memset(&out, 0, sizeof(out));
	out.seq = s->seq;
	out.ack = s->ack;
	out.wnd = s->wnd;
	out.flags = s->flags;
	out.wscale = s->wscale;
	out.mss = s->mss;
	out.sack_ok = s->sack_ok;
	out.ts = s->ts_ok;
	out.tsval = s->tsval;
	out.tsecr = s->tsecr;
	if (s->nsack > CEE_TCP_SACK_OUT_MAX)
		return; // the builder sends at most 3 blocks
	out.nsack = s->nsack;
	for (unsigned k = 0; k < s->nsack; k++)
		out.sack[k] = s->sack[k];
	unsigned l0 = s->len ? split % (s->len + 1) : 0;
	out.data[0] = s->data;
	out.len[0] = l0;
	out.data[1] = s->data + l0;
	out.len[1] = s->len - l0;

	struct cee_net_addr a;
	memset(&a, 0, sizeof(a));
	a.src_mac = p->src_mac;
	a.src_ip = p->src_ip;
	a.dst_ip = p->dst_ip;
	a.sport = p->sport;
	a.dport = p->dport;

	struct frame f;
	struct rte_mbuf *m = frame_new(&f, NULL, 0, UINT16_MAX - RTE_PKTMBUF_HEADROOM);
	int rc = cee_net_fill_tcp(m, &a, &out);
	if (rc == -EINVAL) { // more than 40 option bytes: refused, nothing written
		FUZZ_CHECK(rte_pktmbuf_data_len(m) == 0, "refused frame left %u bytes",
			   rte_pktmbuf_data_len(m));
		frame_free(&f);
		return;
	}
	FUZZ_CHECK(rc == 0, "cee_net_fill_tcp: %d", rc);
	const struct rte_ipv4_hdr *ip =
	    rte_pktmbuf_mtod_offset(m, const struct rte_ipv4_hdr *, sizeof(struct rte_ether_hdr));
	FUZZ_CHECK(rte_raw_cksum(ip, sizeof(*ip)) == 0xffff, "built IPv4 header sum");
	struct cee_pkt q;
	memset(&q, 0, sizeof(q));
	m->ol_flags = 0;
	cee_net_parse(m, our_ip, count, &q);
	FUZZ_CHECK(q.kind == CEE_PKT_TCP, "rebuilt segment parses as kind %u cause %s", q.kind,
		   cee_drop_str((enum cee_drop)q.cause));
	FUZZ_CHECK(q.src_ip == p->src_ip && q.dst_ip == p->dst_ip && q.sport == p->sport &&
		       q.dport == p->dport,
		   "addresses changed");
	const struct cee_tcp_seg *t = &q.seg;
	FUZZ_CHECK(t->seq == s->seq && t->ack == s->ack && t->wnd == s->wnd && t->flags == s->flags,
		   "header fields changed");
	FUZZ_CHECK(t->mss == s->mss && t->wscale == s->wscale && t->sack_ok == s->sack_ok &&
		       t->ts_ok == s->ts_ok && t->nsack == s->nsack,
		   "options changed: mss %u/%u ws %u/%u sackok %d/%d ts %d/%d nsack %u/%u", s->mss,
		   t->mss, s->wscale, t->wscale, s->sack_ok, t->sack_ok, s->ts_ok, t->ts_ok,
		   s->nsack, t->nsack);
	if (s->ts_ok)
		FUZZ_CHECK(t->tsval == s->tsval && t->tsecr == s->tsecr, "timestamps changed");
	for (unsigned k = 0; k < s->nsack; k++)
		FUZZ_CHECK(t->sack[k].start == s->sack[k].start && t->sack[k].end == s->sack[k].end,
			   "SACK block %u changed", k);
	FUZZ_CHECK(t->len == s->len && (s->len == 0 || memcmp(t->data, s->data, s->len) == 0),
		   "payload changed (%u -> %u bytes)", s->len, t->len);
	frame_free(&f);
}

static void check_icmp_reply(struct rte_mbuf *m, const struct cee_pkt *p)
{
	static const struct rte_ether_addr our_mac = {{0x02, 0, 0, 0, 0xce, 0xe1}};
	struct rte_ether_addr req_src;
	memcpy(&req_src, rte_pktmbuf_mtod(m, const uint8_t *) + 6, 6);
	FUZZ_CHECK(cee_net_icmp_echo_reply(m, &our_mac, p) == 0, "echo reply refused");
	const uint8_t *b = rte_pktmbuf_mtod(m, const uint8_t *);
	FUZZ_CHECK(memcmp(b, &req_src, 6) == 0 && memcmp(b + 6, &our_mac, 6) == 0,
		   "reply MACs: to the request's source, from ours");
	const struct rte_ipv4_hdr *ip = (const void *)(b + 14);
	unsigned ihl = (unsigned)(ip->version_ihl & 0xf) * 4;
	unsigned tot = rte_be_to_cpu_16(ip->total_length);
	FUZZ_CHECK(rte_pktmbuf_data_len(m) == 14 + tot, "reply of %u bytes for a %u-byte datagram",
		   rte_pktmbuf_data_len(m), tot);
	FUZZ_CHECK(cee_net_cksum(ip, ihl) == 0xffff, "reply IPv4 checksum");
	FUZZ_CHECK(cee_net_cksum(b + 14 + ihl, tot - ihl) == 0xffff, "reply ICMP checksum");
	FUZZ_CHECK(rte_be_to_cpu_32(ip->dst_addr) == p->src_ip &&
		       rte_be_to_cpu_32(ip->src_addr) == p->dst_ip,
		   "reply addresses");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > MAX_FRAME + 1)
		return 0;
	uint8_t opt = data[0];
	const uint8_t *frame = data + 1;
	uint16_t len = (uint16_t)(size - 1);
	uint32_t count = 1u + ((opt >> 2) & 3u);

	struct frame f;
	struct rte_mbuf *m = frame_new(&f, frame, len, len);
	if (opt & 2)
		fix_sums(rte_pktmbuf_mtod(m, uint8_t *), len);
	if (opt & 1)
		m->ol_flags = RTE_MBUF_F_RX_IP_CKSUM_GOOD | RTE_MBUF_F_RX_L4_CKSUM_GOOD;
	const uint8_t *b = rte_pktmbuf_mtod(m, const uint8_t *);

	FUZZ_CHECK(cee_net_cksum(b, len) == rte_raw_cksum(b, len),
		   "cee_net_cksum differs from DPDK");
	if (len > 1)
		FUZZ_CHECK(cee_net_cksum(b + 1, len - 1u) == rte_raw_cksum(b + 1, len - 1u),
			   "cee_net_cksum differs from DPDK at an odd address");

	struct cee_pkt p;
	memset(&p, 0xa5, sizeof(p));
	cee_net_parse(m, OUR_IP, count, &p);
	switch ((enum cee_pkt_kind)p.kind) {
	case CEE_PKT_DROP:
		FUZZ_CHECK(p.cause < CEE_DROP__COUNT, "drop cause %u", p.cause);
		break;
	case CEE_PKT_TCP: {
		const struct cee_tcp_seg *s = &p.seg;
		FUZZ_CHECK(s->data >= b && s->data + s->len <= b + len,
			   "payload outside the frame");
		FUZZ_CHECK(s->nsack <= CEE_TCP_SACK_IN_MAX, "nsack %u", s->nsack);
		FUZZ_CHECK(p.dst_ip - OUR_IP < count, "TCP for %08x is not ours", p.dst_ip);
		FUZZ_CHECK(p.sport != 0 && p.dport != 0, "port 0");
		check_tcp_roundtrip(&p, OUR_IP, count, opt >> 4);
		break;
	}
	case CEE_PKT_ICMP_ECHO:
		FUZZ_CHECK(p.dst_ip - OUR_IP < count, "echo for %08x is not ours", p.dst_ip);
		check_icmp_reply(m, &p);
		break;
	case CEE_PKT_ICMP_PTB:
	case CEE_PKT_ICMP_UNREACH:
		FUZZ_CHECK(p.dst_ip - OUR_IP < count, "ICMP about a datagram not ours (%08x)",
			   p.dst_ip);
		break;
	case CEE_PKT_ARP: {
		struct cee_arp_info ai;
		(void)cee_net_arp_info(m, OUR_IP, count, &ai);
		struct rte_ether_addr mac = {{0x02, 0xce, 0xe0, 0, 0, 1}};
		if (cee_net_arp_reply(m, &mac, OUR_IP, count) == 0) {
			struct cee_pkt q;
			cee_net_parse(m, OUR_IP, count, &q);
			FUZZ_CHECK(q.kind == CEE_PKT_ARP, "ARP reply parses as kind %u", q.kind);
		}
		break;
	}
	default:
		FUZZ_CHECK(false, "unknown kind %u", p.kind);
	}
	frame_free(&f);
	return 0;
}
