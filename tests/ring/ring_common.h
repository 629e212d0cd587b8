/* SPDX-License-Identifier: BSD-3-Clause */
// What the tests/ring programs share, which run an engine over net_ring
// with a scripted peer: CHECK, the in-memory event sink, the peer's
// segments, events and the shards' counters awaited with deadlines. One
// program includes it once (ring_peer.h adds a peer on the rings
// themselves).
#pragma once

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <rte_arp.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include "cee_audit.h"
#include "cee_clock.h"
#include "cee_engine.h"
#include "cee_net.h"
#include "cee_shard.h"
#include "cee_sink.h"

#define ENGINE_IP 0x0a000001u /* 10.0.0.1 */
#define PEER_IP 0x0a000002u   /* 10.0.0.2 */

static int failures;
#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			failures++;                                                                \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
		}                                                                                  \
	} while (0)

/* ---- in-memory event sink ------------------------------------------------ */

static struct cee_event *evs;
static size_t nevs, cap_evs;
// set: the sink takes nothing (a stalled consumer), the records are
// offered again later and the shards' event rings fill
static volatile bool mem_stalled;

static inline int mem_write(struct cee_sink *s, const struct cee_event *ev, uint32_t n)
{
	(void)s;
	if (mem_stalled)
		return 0;
	if (nevs + n > cap_evs) {
		size_t cap = (nevs + n) * 2;
		struct cee_event *grown = realloc(evs, cap * sizeof(*evs));
		if (grown == NULL)
			return -ENOMEM;
		evs = grown;
		cap_evs = cap;
	}
	memcpy(evs + nevs, ev, n * sizeof(*ev));
	nevs += n;
	return (int)n;
}
static inline int mem_flush(struct cee_sink *s)
{
	(void)s;
	return 0;
}
static inline void mem_close(struct cee_sink *s)
{
	free(s);
}
static const struct cee_sink_ops mem_ops = {
    .write = mem_write,
    .flush = mem_flush,
    .close = mem_close,
};
static inline struct cee_sink *mem_open(const char *arg)
{
	(void)arg;
	struct cee_sink *s = calloc(1, sizeof(*s));
	if (s)
		s->ops = &mem_ops;
	return s;
}

static struct cee_engine *eng;
static struct rte_mempool *peer_mp;

static inline uint64_t now_ms(void)
{
	return cee_clock_ns() / 1000000;
}

static inline void pump(void)
{
	CHECK(cee_engine_export(eng) >= 0, "export failed");
}

/* ---- the end of a run: the stream audited -------------------------------- */

// Audit every event the sink took: the result in @p res, the violations
// printed when it fails (the caller CHECKs what it expects of @p res).
static inline void ring_audit(struct cee_audit_result *res)
{
	struct cee_audit *au = cee_audit_create();
	CHECK(au != NULL, "audit: no memory");
	if (au == NULL) {
		memset(res, 0, sizeof(*res));
		return;
	}
	cee_audit_feed(au, evs, (uint32_t)nevs);
	cee_audit_finish(au, false, res);
	if (!res->ok)
		cee_audit_print_violations(au, stderr);
	cee_audit_destroy(au);
}

// Stop the engine (its shutdown run: every connection left ends, its
// events exported), then ring_audit().
static inline void ring_stop_audit(struct cee_audit_result *res)
{
	volatile sig_atomic_t stop = 1;
	CHECK(cee_engine_run(eng, &stop) == 0, "shutdown run");
	ring_audit(res);
}

// Stop the engine of @p cfg, audit its stream (@p opens connections, every
// one with its whole lifecycle), destroy it.
static inline void ring_engine_down(struct cee_engine_cfg *cfg, unsigned opens)
{
	struct cee_audit_result res;
	ring_stop_audit(&res);
	CHECK(res.ok && res.opens == opens, "audit: ok=%d opens=%lu (want %u)", res.ok,
	      (unsigned long)res.opens, opens);
	cee_engine_destroy(eng);
	cee_engine_cfg_free(cfg);
}

/* ---- the command socket -------------------------------------------------- */

// A request line on the command socket at @p path: its whole reply in
// @p out (the engine's control side polled meanwhile, as an embedder's
// loop would). @return false when none came whole within @p ms.
static inline bool ring_ctl_request(const char *path, const char *line, char *out, size_t cap,
				    unsigned ms)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	size_t n = 0;
	bool sent = false, done = false;
	uint64_t end = now_ms() + ms;
	while (!done && now_ms() < end) {
		(void)cee_engine_poll(eng);
		if (!sent)
			sent = write(fd, line, strlen(line)) == (ssize_t)strlen(line);
		ssize_t r = read(fd, out + n, cap - 1 - n);
		if (r > 0)
			n += (size_t)r;
		done = r == 0 || n == cap - 1;
		usleep(500);
	}
	out[n] = '\0';
	close(fd);
	return done && n > 0;
}

// A segment the engine sent, as the engine's own parser reads it (after
// the checksums, which it verifies).
struct seg {
	bool ok;
	uint8_t flags;
	uint16_t wnd;
	uint32_t seq, ack, len;
	struct rte_ether_addr dst; // the MAC the engine sent it to
	uint8_t data[2048];
};

// @p m as a TCP segment of the engine to port @p cport of @p ip in @p s
// (s->ok); @p m stays the caller's. @return false when it is not one.
static inline bool seg_of_ip(struct rte_mbuf *m, uint32_t ip, uint16_t cport, struct seg *s)
{
	struct cee_pkt p;
	cee_net_parse(m, ip, 1, &p);
	if (p.kind != CEE_PKT_TCP || p.dport != cport)
		return false;
	s->ok = true;
	s->flags = p.seg.flags;
	s->seq = p.seg.seq;
	s->ack = p.seg.ack;
	s->wnd = p.seg.wnd;
	s->len = p.seg.len < sizeof(s->data) ? p.seg.len : sizeof(s->data);
	memcpy(s->data, p.seg.data, s->len);
	s->dst = rte_pktmbuf_mtod(m, struct rte_ether_hdr *)->dst_addr;
	return true;
}

// seg_of_ip() of PEER_IP.
static inline bool seg_of(struct rte_mbuf *m, uint16_t cport, struct seg *s)
{
	return seg_of_ip(m, PEER_IP, cport, s);
}

// The next TCP segment of the engine to @p ip, port @p cport, within @p
// ms, from the frames @p recv returns (in @p ms ms at most, or NULL).
static inline struct seg recv_seg_ip_from(struct rte_mbuf *(*recv)(unsigned), uint32_t ip,
					  uint16_t cport, unsigned ms)
{
	struct seg s;
	memset(&s, 0, sizeof(s));
	uint64_t end = now_ms() + ms;
	while (now_ms() < end) {
		struct rte_mbuf *m = recv((unsigned)(end - now_ms()) + 1);
		if (m == NULL)
			break;
		bool mine = seg_of_ip(m, ip, cport, &s);
		rte_pktmbuf_free(m);
		if (mine)
			break;
	}
	return s;
}

// recv_seg_ip_from() of PEER_IP.
static inline struct seg recv_seg_from(struct rte_mbuf *(*recv)(unsigned), uint16_t cport,
				       unsigned ms)
{
	return recv_seg_ip_from(recv, PEER_IP, cport, ms);
}

// An IPv4 ICMP frame from @p src (@p sip) to @p dst (@p dip) with @p len
// bytes of ICMP, zeroed, at *@p ic (the caller fills it and its checksum).
static inline struct rte_mbuf *icmp_frame(const struct rte_ether_addr *src,
					  const struct rte_ether_addr *dst, uint32_t sip,
					  uint32_t dip, uint16_t len, struct rte_icmp_hdr **ic)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(peer_mp);
	CHECK(m != NULL, "alloc");
	if (m == NULL)
		return NULL;
	uint16_t tot = (uint16_t)(sizeof(struct rte_ipv4_hdr) + len);
	struct rte_ether_hdr *eth = (void *)rte_pktmbuf_append(m, sizeof(*eth) + tot);
	eth->dst_addr = *dst;
	eth->src_addr = *src;
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	struct rte_ipv4_hdr *ip = (void *)(eth + 1);
	memset(ip, 0, tot);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->total_length = rte_cpu_to_be_16(tot);
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_ICMP;
	ip->src_addr = rte_cpu_to_be_32(sip);
	ip->dst_addr = rte_cpu_to_be_32(dip);
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	*ic = (void *)(ip + 1);
	return m;
}

// A broadcast ARP packet of @p op from @p sip (MAC @p sha) for @p tip.
static inline struct rte_mbuf *arp_frame(uint16_t op, const struct rte_ether_addr *sha,
					 uint32_t sip, uint32_t tip)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(peer_mp);
	CHECK(m != NULL, "alloc");
	if (m == NULL)
		return NULL;
	struct rte_ether_hdr *eth =
	    (void *)rte_pktmbuf_append(m, sizeof(*eth) + sizeof(struct rte_arp_hdr));
	memset(&eth->dst_addr, 0xff, 6);
	eth->src_addr = *sha;
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
	struct rte_arp_hdr *a = (void *)(eth + 1);
	a->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	a->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	a->arp_hlen = 6;
	a->arp_plen = 4;
	a->arp_opcode = rte_cpu_to_be_16(op);
	a->arp_data.arp_sha = *sha;
	a->arp_data.arp_sip = rte_cpu_to_be_32(sip);
	memset(&a->arp_data.arp_tha, 0, 6);
	a->arp_data.arp_tip = rte_cpu_to_be_32(tip);
	return m;
}

// A TCP segment of the peer (@p src_mac, @p src_ip:@p sport) to the engine
// (@p dst_mac, ENGINE_IP:@p dport); a SYN offers MSS 1460 and window scale 7.
static inline struct rte_mbuf *peer_seg(const struct rte_ether_addr *src_mac,
					const struct rte_ether_addr *dst_mac, uint32_t src_ip,
					uint16_t sport, uint16_t dport, uint8_t flags, uint32_t seq,
					uint32_t ack, const void *data, uint32_t len)
{
	struct cee_net_addr a = {
	    .src_mac = *src_mac,
	    .dst_mac = *dst_mac,
	    .src_ip = src_ip,
	    .dst_ip = ENGINE_IP,
	    .sport = sport,
	    .dport = dport,
	};
	bool syn = (flags & CEE_TCP_SYN) != 0;
	struct cee_tcp_out o = {
	    .seq = seq,
	    .ack = ack,
	    .wnd = 65535,
	    .flags = flags,
	    .wscale = syn ? 7 : 0xff,
	    .mss = syn ? 1460 : 0,
	    .data = {data, NULL},
	    .len = {len, 0},
	};
	struct rte_mbuf *m = cee_net_build_tcp(peer_mp, &a, &o);
	CHECK(m != NULL, "build");
	return m;
}

static inline const struct cee_event *find_event(uint16_t cport, enum cee_evt_type type,
						 unsigned ms)
{
	uint64_t end = now_ms() + ms;
	do {
		pump();
		for (size_t i = 0; i < nevs; i++)
			if (evs[i].remote_port == cport && evs[i].type == type)
				return &evs[i];
		usleep(200);
	} while (now_ms() < end);
	return NULL;
}

static inline uint64_t stat_sum(size_t off)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < cee_engine_nshards(eng); i++) {
		const struct cee_shard *s = cee_engine_shard(eng, i);
		n += __atomic_load_n((const uint64_t *)((const char *)&s->stats + off),
				     __ATOMIC_RELAXED);
	}
	return n;
}
#define STAT(f) stat_sum(offsetof(struct cee_shard_stats, f))

// Shard 0's TCP counter at @p off (TCP_STAT(f): struct cee_tcp_stats' f).
static inline uint64_t tcp_stat(size_t off)
{
	return __atomic_load_n((const uint64_t *)((const char *)&cee_engine_shard(eng, 0)->tcp.stats +
						  off),
			       __ATOMIC_RELAXED);
}
#define TCP_STAT(f) tcp_stat(offsetof(struct cee_tcp_stats, f))

// Until STAT(f) reaches @p want or @p ms pass: the value.
static inline uint64_t wait_stat(size_t off, uint64_t want, unsigned ms)
{
	uint64_t end = now_ms() + ms, v;
	while ((v = stat_sum(off)) < want && now_ms() < end) {
		pump();
		usleep(500);
	}
	return v;
}
