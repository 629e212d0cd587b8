/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <string.h>

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_tcp.h>

#include "cee_net.h"

#define X_STR(e, s) s,
static const char *const drop_names[] = {CEE_DROP_LIST(X_STR)};
#undef X_STR

const char *cee_drop_str(enum cee_drop d)
{
	return (unsigned)d < CEE_DROP__COUNT ? drop_names[d] : "?";
}

static inline int drop(struct cee_pkt *p, enum cee_drop cause)
{
	p->kind = CEE_PKT_DROP;
	p->cause = (uint8_t)cause;
	return 0;
}

uint16_t cee_net_cksum(const void *buf, uint32_t len)
{
	// 32-bit words into a 64-bit sum: a 32-bit word folds to the sum of its
	// halves (2^16 = 1 modulo 0xffff), so this equals the 16-bit word sum
	// with a quarter of the additions. Loads in host order, like
	// rte_raw_cksum(), whose 22.11 version adds one 16-bit word at a time.
	const uint8_t *p = buf;
	uint64_t sum = 0;
	while (len >= 16) {
		uint32_t w[4];
		memcpy(w, p, sizeof(w));
		sum += (uint64_t)w[0] + w[1] + w[2] + w[3];
		p += 16;
		len -= 16;
	}
	while (len >= 4) {
		uint32_t w;
		memcpy(&w, p, 4);
		sum += w;
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		uint16_t w;
		memcpy(&w, p, 2);
		sum += w;
		p += 2;
		len -= 2;
	}
	if (len) // a last odd byte, padded with zero (RFC 1071)
		sum += *p;
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

// Bad source addresses (RFC 1122 3.2.1.3, RFC 1812 5.3.7): never answer them.
// (The subnet's network and broadcast addresses need the prefix: the shard
// checks those, cee_shard.c subnet_edge().)
static bool ours(uint32_t ip, uint32_t our_ip, uint32_t ip_count)
{
	return ip - our_ip < ip_count;
}

static bool bad_src(uint32_t ip, uint32_t our_ip, uint32_t ip_count)
{
	uint8_t top = (uint8_t)(ip >> 24);
	// 0/8 is "this network" (a source only while a host boots, and never
	// to answer: 0.1.2.3 got SYN-ACKs and echo replies)
	return top == 0 || ip == 0xffffffffu || top == 127 || top >= 224 ||
	       ours(ip, our_ip, ip_count);
}

// TCP options (RFC 9293 3.1, RFC 7323 2.2). @return false if malformed.
static bool parse_tcp_opts(const uint8_t *o, unsigned n, struct cee_tcp_seg *s)
{
	unsigned i = 0;
	while (i < n) {
		uint8_t kind = o[i];
		if (kind == 0) // end of option list
			return true;
		if (kind == 1) { // NOP
			i++;
			continue;
		}
		if (i + 1 >= n)
			return false;
		uint8_t len = o[i + 1];
		if (len < 2 || i + len > n)
			return false;
		switch (kind) {
		case 2: // MSS
			if (len != 4)
				return false;
			s->mss = (uint16_t)(o[i + 2] << 8 | o[i + 3]);
			if (s->mss == 0)
				return false;
			break;
		case 3: // window scale
			if (len != 3)
				return false;
			// 0xff means "no option" here: a raw 255 (RFC 7323 2.3: use
			// 14 for anything above) was taken for none
			s->wscale = o[i + 2] > 14 ? 14 : o[i + 2];
			break;
		case 4: // SACK permitted
			if (len != 2)
				return false;
			s->sack_ok = true;
			break;
		case 5: { // SACK (RFC 2018 3): 1 to 4 blocks of two 32-bit edges
			unsigned nb = (len - 2u) / 8u;
			if (len < 10 || (len - 2u) % 8u != 0 || nb > CEE_TCP_SACK_IN_MAX)
				return false;
			for (unsigned b = 0; b < nb; b++) {
				const uint8_t *e = o + i + 2 + 8 * b;
				s->sack[b].start = (uint32_t)e[0] << 24 | (uint32_t)e[1] << 16 |
						   (uint32_t)e[2] << 8 | e[3];
				s->sack[b].end = (uint32_t)e[4] << 24 | (uint32_t)e[5] << 16 |
						 (uint32_t)e[6] << 8 | e[7];
			}
			s->nsack = (uint8_t)nb;
			break;
		}
		case 8: { // timestamps (RFC 7323 3)
			if (len != 10)
				return false;
			const uint8_t *e = o + i + 2;
			s->tsval = (uint32_t)e[0] << 24 | (uint32_t)e[1] << 16 | (uint32_t)e[2] << 8 | e[3];
			s->tsecr = (uint32_t)e[4] << 24 | (uint32_t)e[5] << 16 | (uint32_t)e[6] << 8 | e[7];
			s->ts_ok = true;
			break;
		}
		default:
			break;
		}
		i += len;
	}
	return true;
}

static int parse_tcp(const struct rte_ipv4_hdr *ip, unsigned ihl, unsigned tot, uint64_t ol,
		     struct cee_pkt *p)
{
	unsigned l4len = tot - ihl;
	if (l4len < sizeof(struct rte_tcp_hdr))
		return drop(p, CEE_DROP_BAD_TCP_LEN);
	const struct rte_tcp_hdr *th = (const void *)((const uint8_t *)ip + ihl);
	unsigned doff = (unsigned)(th->data_off >> 4) * 4;
	if (doff < sizeof(*th) || doff > l4len)
		return drop(p, CEE_DROP_BAD_TCP_LEN);
	if ((ol & RTE_MBUF_F_RX_L4_CKSUM_MASK) != RTE_MBUF_F_RX_L4_CKSUM_GOOD) {
		// Pseudo-header (RFC 9293 3.1) from the header's words, in the
		// same host-order loads as cee_net_cksum(): rte_ipv4_phdr_cksum()
		// copies it to the stack first and stalls reading it back.
		uint32_t sum = cee_net_cksum(th, l4len);
		sum += (ip->src_addr & 0xffff) + (ip->src_addr >> 16);
		sum += (ip->dst_addr & 0xffff) + (ip->dst_addr >> 16);
		sum += rte_cpu_to_be_16((uint16_t)IPPROTO_TCP) + rte_cpu_to_be_16((uint16_t)l4len);
		sum = (sum & 0xffff) + (sum >> 16);
		sum = (sum & 0xffff) + (sum >> 16);
		if (sum != 0xffff)
			return drop(p, CEE_DROP_BAD_TCP_CSUM);
	}
	p->sport = rte_be_to_cpu_16(th->src_port);
	p->dport = rte_be_to_cpu_16(th->dst_port);
	if (p->sport == 0 || p->dport == 0)
		return drop(p, CEE_DROP_BAD_TCP_PORT);

	uint8_t f = th->tcp_flags;
	// Invalid combinations: SYN with FIN or RST; a segment with none of
	// SYN, ACK, RST (RFC 9293 3.10.7.4: "if the ACK bit is off drop the
	// segment", and the no-flags/FIN-only probes of scanners).
	if ((f & CEE_TCP_SYN) && (f & (CEE_TCP_FIN | CEE_TCP_RST)))
		return drop(p, CEE_DROP_BAD_TCP_FLAGS);
	if (!(f & (CEE_TCP_SYN | CEE_TCP_ACK | CEE_TCP_RST)))
		return drop(p, CEE_DROP_BAD_TCP_FLAGS);

	struct cee_tcp_seg *s = &p->seg;
	s->seq = rte_be_to_cpu_32(th->sent_seq);
	s->ack = rte_be_to_cpu_32(th->recv_ack);
	s->wnd = rte_be_to_cpu_16(th->rx_win);
	s->flags = f;
	s->wscale = 0xff;
	s->mss = 0;
	s->sack_ok = false;
	s->nsack = 0;
	s->ts_ok = false;
	if (!parse_tcp_opts((const uint8_t *)(th + 1), doff - sizeof(*th), s))
		return drop(p, CEE_DROP_BAD_TCP_OPTS);
	s->data = (const uint8_t *)th + doff;
	s->len = l4len - doff;
	p->kind = CEE_PKT_TCP;
	return 0;
}

/*
 * ICMP destination unreachable (RFC 792), fragmentation needed (RFC 1191 4:
 * the next-hop MTU) or another code: then the IP header and at least 8 bytes of the datagram
 * it was about, which must be a TCP segment from one of our addresses. The
 * quoted tuple becomes the packet's, in the orientation of the connection's
 * incoming segments, so that it steers to the shard that owns it.
 */
static int parse_icmp_quote(const struct rte_icmp_hdr *ic, unsigned len, uint32_t our_ip,
			    uint32_t ip_count, struct cee_pkt *p)
{
	const struct rte_ipv4_hdr *in = (const void *)(ic + 1);
	if (len < sizeof(*ic) + sizeof(*in) + 8)
		return drop(p, CEE_DROP_BAD_ICMP);
	unsigned ihl = (unsigned)(in->version_ihl & 0xf) * 4;
	if ((in->version_ihl >> 4) != 4 || ihl < sizeof(*in) ||
	    len < sizeof(*ic) + ihl + 8 || in->next_proto_id != IPPROTO_TCP)
		return drop(p, CEE_DROP_BAD_ICMP);
	uint32_t src = rte_be_to_cpu_32(in->src_addr), dst = rte_be_to_cpu_32(in->dst_addr);
	if (!ours(src, our_ip, ip_count))
		return drop(p, CEE_DROP_BAD_ICMP); /* about a datagram we did not send */
	const uint8_t *t = (const uint8_t *)in + ihl;
	p->src_ip = dst;
	p->dst_ip = src;
	p->sport = (uint16_t)(t[2] << 8 | t[3]);
	p->dport = (uint16_t)(t[0] << 8 | t[1]);
	memset(&p->seg, 0, sizeof(p->seg));
	p->seg.seq = (uint32_t)t[4] << 24 | (uint32_t)t[5] << 16 | (uint32_t)t[6] << 8 | t[7];
	if (ic->icmp_code == 4) {
		// RFC 1191 4: the MTU is the low 16 bits of the second word (the
		// "unused" half before)
		p->icmp_mtu = rte_be_to_cpu_16(ic->icmp_seq_nb);
		p->kind = CEE_PKT_ICMP_PTB;
	} else {
		p->icmp_code = ic->icmp_code;
		p->kind = CEE_PKT_ICMP_UNREACH;
	}
	return 0;
}

// Destination unreachable codes a connection's SYN may draw (RFC 792: net,
// host, protocol, port; RFC 1122 3.2.2.1: network or host unknown,
// isolated, prohibited; RFC 1812 5.2.7.1: communication administratively
// prohibited): the destination cannot be reached. Not 4 (fragmentation
// needed: PMTU), nor source route failed, TOS and precedence codes.
static bool unreach_code(uint8_t code)
{
	return code <= 3 || (code >= 6 && code <= 10) || code == 13;
}

static int parse(struct rte_mbuf *m, uint32_t our_ip, uint32_t ip_count, struct cee_pkt *p)
{
	uint32_t len = rte_pktmbuf_data_len(m);
	if (len < sizeof(struct rte_ether_hdr) || m->nb_segs != 1)
		return drop(p, CEE_DROP_BAD_ETH);
	const struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	uint16_t et = rte_be_to_cpu_16(eth->ether_type);
	// An 802.1Q tag with VLAN id 0 (priority-tagged, 802.1p: the class of
	// service marked on an untagged network, by a switch or a host) is the
	// untagged network's: the tag comes off in place, and the frame reads
	// as untagged everywhere after (answers go untagged, as Linux's do).
	// Such frames were dropped as an unsupported ethertype: a network that
	// tags priorities could not reach the engine at all. Other VLAN ids
	// are not ours (the engine has no VLAN interfaces).
	if (et == RTE_ETHER_TYPE_VLAN && len >= sizeof(*eth) + sizeof(struct rte_vlan_hdr)) {
		const struct rte_vlan_hdr *vh = (const void *)(eth + 1);
		if ((rte_be_to_cpu_16(vh->vlan_tci) & 0x0fff) == 0) {
			// the MACs move up over the tag: the inner type is then
			// where an untagged frame has its type
			memmove(rte_pktmbuf_mtod_offset(m, uint8_t *, sizeof(struct rte_vlan_hdr)),
				rte_pktmbuf_mtod(m, uint8_t *), 2 * RTE_ETHER_ADDR_LEN);
			rte_pktmbuf_adj(m, sizeof(struct rte_vlan_hdr));
			eth = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
			et = rte_be_to_cpu_16(eth->ether_type);
			len = rte_pktmbuf_data_len(m);
		}
	}
	rte_ether_addr_copy(&eth->src_addr, &p->src_mac);
	p->l3_off = sizeof(*eth);
	len -= sizeof(*eth);

	if (et == RTE_ETHER_TYPE_ARP) {
		const struct rte_arp_hdr *a = (const void *)(eth + 1);
		if (len < sizeof(*a) || a->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
		    a->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) || a->arp_hlen != 6 ||
		    a->arp_plen != 4)
			return drop(p, CEE_DROP_BAD_ARP);
		p->kind = CEE_PKT_ARP;
		return 0;
	}
	if (et != RTE_ETHER_TYPE_IPV4)
		return drop(p, CEE_DROP_UNSUPPORTED_ETHERTYPE);
	// a multicast or all-zero source is no station's (a SYN from
	// 00:00:00:00:00:00 made its connection resolve the spoofed source
	// by ARP, as an active open does: three broadcasts and a neighbour
	// entry for each such SYN, and replies to the zero MAC)
	if (!rte_is_valid_assigned_ether_addr(&eth->src_addr))
		return drop(p, CEE_DROP_BAD_ETH);
	// a unicast datagram sent as a link-layer broadcast or multicast is
	// not for us (RFC 1122 3.3.6; nothing here takes IP broadcast or
	// multicast): an echo request to ff:ff:ff:ff:ff:ff was answered
	if (rte_is_multicast_ether_addr(&eth->dst_addr))
		return drop(p, CEE_DROP_NOT_FOR_US);

	const struct rte_ipv4_hdr *ip = (const void *)(eth + 1);
	if (len < sizeof(*ip))
		return drop(p, CEE_DROP_BAD_IP_LEN);
	if ((ip->version_ihl >> 4) != 4)
		return drop(p, CEE_DROP_BAD_IP_VERSION);
	unsigned ihl = (unsigned)(ip->version_ihl & 0xf) * 4;
	unsigned tot = rte_be_to_cpu_16(ip->total_length);
	// Frames may carry Ethernet padding beyond total_length; never less.
	if (ihl < sizeof(*ip) || tot < ihl || tot > len)
		return drop(p, CEE_DROP_BAD_IP_LEN);
	uint64_t ol = m->ol_flags;
	if ((ol & RTE_MBUF_F_RX_IP_CKSUM_MASK) != RTE_MBUF_F_RX_IP_CKSUM_GOOD &&
	    cee_net_cksum(ip, ihl) != 0xffff)
		return drop(p, CEE_DROP_BAD_IP_CSUM);
	// No reassembly: fragments are counted and dropped.
	if (ip->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK))
		return drop(p, CEE_DROP_IP_FRAGMENT);
	p->src_ip = rte_be_to_cpu_32(ip->src_addr);
	p->dst_ip = rte_be_to_cpu_32(ip->dst_addr);
	if (!ours(p->dst_ip, our_ip, ip_count))
		return drop(p, CEE_DROP_NOT_FOR_US);
	if (bad_src(p->src_ip, our_ip, ip_count))
		return drop(p, CEE_DROP_BAD_IP_ADDR);

	switch (ip->next_proto_id) {
	case IPPROTO_TCP:
		return parse_tcp(ip, ihl, tot, ol, p);
	case IPPROTO_ICMP: {
		const struct rte_icmp_hdr *ic = (const void *)((const uint8_t *)ip + ihl);
		if (tot - ihl < sizeof(*ic) || cee_net_cksum(ic, tot - ihl) != 0xffff)
			return drop(p, CEE_DROP_BAD_ICMP);
		if (ic->icmp_type == 3 && (ic->icmp_code == 4 || unreach_code(ic->icmp_code)))
			return parse_icmp_quote(ic, tot - ihl, our_ip, ip_count, p);
		// other ICMP (echo replies, time exceeded, redirects, ...):
		// a protocol we speak, a message we do not act on (counted as
		// unsupported_proto before, which climbed as clients went away)
		if (ic->icmp_type != RTE_IP_ICMP_ECHO_REQUEST || ic->icmp_code != 0)
			return drop(p, CEE_DROP_ICMP_IGNORED);
		p->kind = CEE_PKT_ICMP_ECHO;
		return 0;
	}
	default:
		return drop(p, CEE_DROP_UNSUPPORTED_PROTO);
	}
}

void cee_net_parse(struct rte_mbuf *m, uint32_t our_ip, uint32_t ip_count, struct cee_pkt *p)
{
	(void)parse(m, our_ip, ip_count, p);
}

struct rte_mbuf *cee_net_build_tcp_in(struct rte_mbuf *m, const struct cee_net_addr *a,
				      const struct cee_tcp_out *out)
{
	if (m == NULL)
		return NULL;
	if (cee_net_fill_tcp(m, a, out) < 0) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	return m;
}

struct rte_mbuf *cee_net_build_tcp(struct rte_mempool *mp, const struct cee_net_addr *a,
				   const struct cee_tcp_out *out)
{
	return cee_net_build_tcp_in(rte_pktmbuf_alloc(mp), a, out);
}

// Ones' complement sums (RFC 1071) of 16-bit words in network order, taken
// from values rather than read back from the frame just written: reading a
// header right after its byte and word stores stalls on store forwarding
// and on the line's ownership. Folded once at the end.
static inline uint16_t csum_fold(uint64_t sum)
{
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static inline uint32_t csum_u32(uint32_t v)
{
	return (v >> 16) + (v & 0xffff);
}

// Sum of a buffer in network order. cee_net_cksum() loads words in host
// (little-endian) order; the byte swap of a ones' complement sum is the sum
// of the byte-swapped words.
static inline uint32_t csum_buf(const void *p, uint32_t len)
{
	return rte_be_to_cpu_16(cee_net_cksum(p, len));
}

int cee_net_fill_tcp(struct rte_mbuf *m, const struct cee_net_addr *a,
		     const struct cee_tcp_out *out)
{
	unsigned optlen = (out->mss ? 4u : 0u) + (out->wscale != 0xff ? 4u : 0u) +
			  (out->sack_ok ? 4u : 0u) + (out->nsack ? 4u + 8u * out->nsack : 0u) +
			  (out->ts ? 12u : 0u);
	if (optlen > 40)
		return -EINVAL; /* more options than a TCP header holds (RFC 9293 3.1) */
	unsigned paylen = out->len[0] + out->len[1];
	unsigned hdrs = sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv4_hdr) +
			sizeof(struct rte_tcp_hdr) + optlen;
	if (hdrs + paylen > UINT16_MAX)
		return -EMSGSIZE;
	uint8_t *b = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)(hdrs + paylen));
	if (b == NULL)
		return -EMSGSIZE;
	struct rte_ether_hdr *eth = (void *)b;
	rte_ether_addr_copy(&a->dst_mac, &eth->dst_addr);
	rte_ether_addr_copy(&a->src_mac, &eth->src_addr);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);

	uint16_t ip_len = (uint16_t)(hdrs + paylen - sizeof(*eth));
	uint16_t tcp_len = (uint16_t)(ip_len - sizeof(struct rte_ipv4_hdr));
	uint32_t addrs = csum_u32(a->src_ip) + csum_u32(a->dst_ip);

	struct rte_ipv4_hdr *ip = (void *)(eth + 1);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->type_of_service = 0;
	ip->total_length = rte_cpu_to_be_16(ip_len);
	ip->packet_id = 0;
	ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_TCP;
	ip->src_addr = rte_cpu_to_be_32(a->src_ip);
	ip->dst_addr = rte_cpu_to_be_32(a->dst_ip);
	uint64_t ipsum = (uint32_t)RTE_IPV4_VHL_DEF << 8 | 0; // version/ihl, tos
	ipsum += ip_len + RTE_IPV4_HDR_DF_FLAG + (64u << 8 | IPPROTO_TCP) + addrs;
	ip->hdr_checksum = rte_cpu_to_be_16((uint16_t)~csum_fold(ipsum));

	struct rte_tcp_hdr *th = (void *)(ip + 1);
	uint8_t doff = (uint8_t)(((sizeof(*th) + optlen) / 4) << 4);
	th->src_port = rte_cpu_to_be_16(a->sport);
	th->dst_port = rte_cpu_to_be_16(a->dport);
	th->sent_seq = rte_cpu_to_be_32(out->seq);
	th->recv_ack = rte_cpu_to_be_32(out->ack);
	th->data_off = doff;
	th->tcp_flags = out->flags;
	th->rx_win = rte_cpu_to_be_16(out->wnd);
	th->tcp_urp = 0;
	// Pseudo-header (RFC 9293 3.1), then the header (checksum field 0).
	uint64_t sum = addrs + IPPROTO_TCP + tcp_len;
	sum += (uint32_t)a->sport + a->dport + csum_u32(out->seq) + csum_u32(out->ack);
	sum += (uint32_t)doff << 8 | out->flags;
	sum += out->wnd;
	uint8_t *o = (uint8_t *)(th + 1);
	if (out->mss) {
		o[0] = 2;
		o[1] = 4;
		o[2] = (uint8_t)(out->mss >> 8);
		o[3] = (uint8_t)out->mss;
		o += 4;
		sum += (2u << 8 | 4) + out->mss;
	}
	if (out->wscale != 0xff) {
		o[0] = 1;
		o[1] = 3;
		o[2] = 3;
		o[3] = out->wscale;
		o += 4;
		sum += (1u << 8 | 3) + (3u << 8 | out->wscale);
	}
	if (out->ts) { // NOP NOP TS 10 TSval TSecr
		uint32_t e[2] = {rte_cpu_to_be_32(out->tsval), rte_cpu_to_be_32(out->tsecr)};
		o[0] = 1;
		o[1] = 1;
		o[2] = 8;
		o[3] = 10;
		memcpy(o + 4, e, 8);
		o += 12;
		sum += (1u << 8 | 1) + (8u << 8 | 10) + csum_u32(out->tsval) + csum_u32(out->tsecr);
	}
	if (out->sack_ok) { // NOP NOP SACK-permitted
		o[0] = 1;
		o[1] = 1;
		o[2] = 4;
		o[3] = 2;
		o += 4;
		sum += (1u << 8 | 1) + (4u << 8 | 2);
	}
	if (out->nsack) { // NOP NOP SACK len blocks
		unsigned len = 2u + 8u * out->nsack;
		o[0] = 1;
		o[1] = 1;
		o[2] = 5;
		o[3] = (uint8_t)len;
		sum += (1u << 8 | 1) + (5u << 8 | len);
		for (unsigned k = 0; k < out->nsack; k++) {
			uint32_t e[2] = {rte_cpu_to_be_32(out->sack[k].start),
					 rte_cpu_to_be_32(out->sack[k].end)};
			memcpy(o + 4 + 8 * k, e, 8);
			sum += csum_u32(out->sack[k].start) + csum_u32(out->sack[k].end);
		}
		o += 4 + 8 * out->nsack;
	}
	// The payload starts at an even offset; a second piece after an odd
	// first one sits at odd offsets, so its word sum is byte-swapped.
	if (out->len[0]) {
		memcpy(o, out->data[0], out->len[0]);
		sum += csum_buf(out->data[0], out->len[0]);
	}
	if (out->len[1]) {
		memcpy(o + out->len[0], out->data[1], out->len[1]);
		uint32_t s1 = csum_buf(out->data[1], out->len[1]);
		sum += (out->len[0] & 1) ? (uint32_t)rte_bswap16((uint16_t)s1) : s1;
	}
	th->cksum = rte_cpu_to_be_16((uint16_t)~csum_fold(sum));
	m->l2_len = sizeof(*eth);
	m->l3_len = sizeof(*ip);
	return 0;
}

int cee_net_arp_info(const struct rte_mbuf *m, uint32_t our_ip, uint32_t ip_count,
		     struct cee_arp_info *ai)
{
	const struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	const struct rte_arp_hdr *a = (const void *)(eth + 1);
	ai->op = rte_be_to_cpu_16(a->arp_opcode);
	ai->sip = rte_be_to_cpu_32(a->arp_data.arp_sip);
	ai->tip = rte_be_to_cpu_32(a->arp_data.arp_tip);
	rte_ether_addr_copy(&a->arp_data.arp_sha, &ai->sha);
	if (ai->op != RTE_ARP_OP_REQUEST && ai->op != RTE_ARP_OP_REPLY)
		return -EINVAL;
	if (!rte_is_unicast_ether_addr(&ai->sha) || rte_is_zero_ether_addr(&ai->sha))
		return -EINVAL;
	bool from_none = ai->op == RTE_ARP_OP_REQUEST && ai->sip == 0;
	ai->probe = from_none && ours(ai->tip, our_ip, ip_count);
	// (another host's probe is ordinary LAN traffic, not bad input; a
	// sender claiming our address is a conflict an operator must see)
	ai->other_probe = from_none && !ai->probe;
	ai->conflict = ours(ai->sip, our_ip, ip_count);
	if (!from_none && !ai->conflict && bad_src(ai->sip, our_ip, ip_count))
		return -EINVAL;
	return 0;
}

struct rte_mbuf *cee_net_build_arp_request(struct rte_mempool *mp,
					   const struct rte_ether_addr *our_mac, uint32_t our_ip,
					   uint32_t target_ip)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	if (m == NULL)
		return NULL;
	struct rte_ether_hdr *eth =
		(void *)rte_pktmbuf_append(m, sizeof(*eth) + sizeof(struct rte_arp_hdr));
	if (eth == NULL) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	memset(&eth->dst_addr, 0xff, sizeof(eth->dst_addr));
	rte_ether_addr_copy(our_mac, &eth->src_addr);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
	struct rte_arp_hdr *a = (void *)(eth + 1);
	a->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	a->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	a->arp_hlen = RTE_ETHER_ADDR_LEN;
	a->arp_plen = 4;
	a->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
	rte_ether_addr_copy(our_mac, &a->arp_data.arp_sha);
	a->arp_data.arp_sip = rte_cpu_to_be_32(our_ip);
	memset(&a->arp_data.arp_tha, 0, sizeof(a->arp_data.arp_tha));
	a->arp_data.arp_tip = rte_cpu_to_be_32(target_ip);
	return m;
}

int cee_net_arp_reply(struct rte_mbuf *m, const struct rte_ether_addr *our_mac, uint32_t our_ip,
		      uint32_t ip_count)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_arp_hdr *a = (void *)(eth + 1);
	uint32_t tip = rte_be_to_cpu_32(a->arp_data.arp_tip);
	if (a->arp_opcode != rte_cpu_to_be_16(RTE_ARP_OP_REQUEST) || !ours(tip, our_ip, ip_count))
		return -EINVAL;
	uint32_t sip = a->arp_data.arp_sip;
	// a probe (sender 0.0.0.0, RFC 5227 2.1.1) is answered too, to its
	// sender's MAC and target IP 0, so that the prober sees the address
	// taken (as Linux does)
	if (sip != 0 && bad_src(rte_be_to_cpu_32(sip), our_ip, ip_count))
		return -EINVAL;
	struct rte_ether_addr peer = a->arp_data.arp_sha;
	rte_ether_addr_copy(&peer, &eth->dst_addr);
	rte_ether_addr_copy(our_mac, &eth->src_addr);
	a->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
	a->arp_data.arp_tha = peer;
	a->arp_data.arp_tip = sip;
	rte_ether_addr_copy(our_mac, &a->arp_data.arp_sha);
	a->arp_data.arp_sip = rte_cpu_to_be_32(tip);
	return 0;
}

int cee_net_icmp_echo_reply(struct rte_mbuf *m, const struct rte_ether_addr *our_mac,
			    const struct cee_pkt *p)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv4_hdr *ip = (void *)(eth + 1);
	unsigned ihl = (unsigned)(ip->version_ihl & 0xf) * 4;
	unsigned tot = rte_be_to_cpu_16(ip->total_length);
	// IP options are not sent back (RFC 1122 3.2.2.6 asks that a source
	// route be reversed and a record route updated, which cee does not
	// do; they went back as they came, a source route included)
	if (ihl > sizeof(*ip)) {
		unsigned n = tot - ihl;
		memmove((uint8_t *)ip + sizeof(*ip), (uint8_t *)ip + ihl, n);
		ihl = sizeof(*ip);
		tot = ihl + n;
		ip->version_ihl = RTE_IPV4_VHL_DEF;
		ip->total_length = rte_cpu_to_be_16((uint16_t)tot);
	}
	struct rte_icmp_hdr *ic = (void *)((uint8_t *)ip + ihl);
	// from our MAC, not the request's destination (another host's, which a
	// switch then learned on our port, when the request was flooded to us)
	eth->dst_addr = eth->src_addr;
	rte_ether_addr_copy(our_mac, &eth->src_addr);
	ip->src_addr = rte_cpu_to_be_32(p->dst_ip);
	ip->dst_addr = rte_cpu_to_be_32(p->src_ip);
	ip->time_to_live = 64;
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	ic->icmp_type = RTE_IP_ICMP_ECHO_REPLY;
	ic->icmp_cksum = 0;
	ic->icmp_cksum = (uint16_t)~rte_raw_cksum(ic, tot - ihl);
	// Trim Ethernet padding so the reply is exactly the datagram.
	rte_pktmbuf_trim(m, (uint16_t)(rte_pktmbuf_data_len(m) - sizeof(*eth) - tot));
	return 0;
}
