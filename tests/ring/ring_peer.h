/* SPDX-License-Identifier: BSD-3-Clause */
// The scripted peer of the tests/ring programs that drive an engine over
// net_ring ports whose rings they fill and drain themselves (a frame into
// queue q reaches shard q): the in-memory event sink, CHECK, frames in and
// out, events and the shards' counters awaited with deadlines. One program
// includes it once.
#pragma once

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "cee_clock.h"
#include "cee_engine.h"
#include "cee_net.h"
#include "cee_shard.h"
#include "cee_sink.h"

#define ENGINE_IP 0x0a000001u /* 10.0.0.1 */
#define PEER_IP 0x0a000002u   /* 10.0.0.2 */
#define RP_NQ 2		      /* queues a port: at most 2 shards */

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

static inline int mem_write(struct cee_sink *s, const struct cee_event *ev, uint32_t n)
{
	(void)s;
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

/* ---- the peer, on the rings of the engine's port rp_port ------------------ */

static struct cee_engine *eng;
static struct rte_mempool *peer_mp;
static struct rte_ring *to_eng[2][RP_NQ], *from_eng[2][RP_NQ]; // [port][queue]
static struct rte_ether_addr engine_mac;		       // of the peer's port
static unsigned rp_port = 1; // the engine's port the peer is on (0 or 1)
static inline uint64_t now_ms(void)
{
	return cee_clock_ns() / 1000000;
}

static inline void pump(void)
{
	CHECK(cee_engine_export(eng) >= 0, "export failed");
}

// Into the engine's port @p port, queue (shard) @p q.
static inline void send_frame(unsigned port, unsigned q, struct rte_mbuf *m)
{
	if (rte_ring_enqueue(to_eng[port][q], m) != 0) {
		CHECK(false, "ring into port %u queue %u full", port, q);
		rte_pktmbuf_free(m);
	}
}

// The next frame the engine sent on port rp_port, from any shard's queue;
// frames on the other port are dropped as they come (nothing listens there).
static inline struct rte_mbuf *recv_frame(unsigned ms)
{
	uint64_t end = now_ms() + ms;
	do {
		void *m;
		for (unsigned q = 0; q < RP_NQ; q++)
			while (from_eng[1 - rp_port][q] != NULL &&
			       rte_ring_dequeue(from_eng[1 - rp_port][q], &m) == 0)
				rte_pktmbuf_free(m);
		for (unsigned q = 0; q < RP_NQ; q++)
			if (from_eng[rp_port][q] != NULL &&
			    rte_ring_dequeue(from_eng[rp_port][q], &m) == 0)
				return m;
		pump();
		usleep(100);
	} while (now_ms() < end);
	return NULL;
}

struct seg {
	bool ok;
	uint8_t flags;
	uint32_t seq, ack, len;
	struct rte_ether_addr dst; // the MAC the engine sent it to
	uint8_t data[256];
};

static inline struct seg recv_seg(uint16_t cport, unsigned ms)
{
	struct seg s;
	memset(&s, 0, sizeof(s));
	uint64_t end = now_ms() + ms;
	while (now_ms() < end) {
		struct rte_mbuf *m = recv_frame((unsigned)(end - now_ms()) + 1);
		if (m == NULL)
			break;
		struct cee_pkt p;
		cee_net_parse(m, PEER_IP, 1, &p);
		if (p.kind == CEE_PKT_TCP && p.dport == cport) {
			s.ok = true;
			s.flags = p.seg.flags;
			s.seq = p.seg.seq;
			s.ack = p.seg.ack;
			s.len = p.seg.len < sizeof(s.data) ? p.seg.len : sizeof(s.data);
			memcpy(s.data, p.seg.data, s.len);
			s.dst = rte_pktmbuf_mtod(m, struct rte_ether_hdr *)->dst_addr;
			rte_pktmbuf_free(m);
			return s;
		}
		rte_pktmbuf_free(m);
	}
	return s;
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

static inline int ring_port(const char *name, unsigned port)
{
	for (unsigned q = 0; q < RP_NQ; q++) {
		char rn[32];
		snprintf(rn, sizeof(rn), "%s_in%u", name, q);
		to_eng[port][q] = rte_ring_create(rn, 1024, 0, RING_F_SC_DEQ);
		snprintf(rn, sizeof(rn), "%s_out%u", name, q);
		from_eng[port][q] = rte_ring_create(rn, 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (to_eng[port][q] == NULL || from_eng[port][q] == NULL)
			return -1;
	}
	return rte_eth_from_rings(name, to_eng[port], RP_NQ, from_eng[port], RP_NQ, 0);
}
