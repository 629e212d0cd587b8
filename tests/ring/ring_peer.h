/* SPDX-License-Identifier: BSD-3-Clause */
// The scripted peer of the tests/ring programs that drive an engine over
// net_ring ports whose rings they fill and drain themselves (a frame into
// queue q reaches shard q): frames in and out. One program includes it
// once; with it, ring_common.h.
#pragma once

#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_ring.h>

#include "ring_common.h"

#define RP_NQ 2 /* queues a port: at most 2 shards */

/* ---- the peer, on the rings of the engine's port rp_port ------------------ */

static struct rte_ring *to_eng[2][RP_NQ], *from_eng[2][RP_NQ]; // [port][queue]
static struct rte_ether_addr engine_mac;		       // of the peer's port
static unsigned rp_port = 1; // the engine's port the peer is on (0 or 1)
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

static inline struct seg recv_seg(uint16_t cport, unsigned ms)
{
	return recv_seg_from(recv_frame, cport, ms);
}

// The EAL of a ring test program: no hugepages, 512 MB, no PCI or
// telemetry, warnings only, --file-prefix cee-NAME-PID (tests run side by
// side), lcores @p lcores. @return 0, or -1 with a message on stderr.
static inline int ring_eal_init(const char *argv0, const char *name, const char *lcores)
{
	char prefix[64], lc[64];
	snprintf(prefix, sizeof(prefix), "--file-prefix=cee-%s-%d", name, getpid());
	snprintf(lc, sizeof(lc), "--lcores=%s", lcores);
	char *eal[] = {(char *)argv0, "--no-huge",	   "-m",		    "512",
		       prefix,	      lc,		   "--no-pci",	    "--no-telemetry",
		       "--log-level=*:warning", NULL};
	if (rte_eal_init(9, eal) < 0) {
		fprintf(stderr, "EAL init failed: %s\n", rte_strerror(rte_errno));
		return -1;
	}
	return 0;
}

static inline int ring_port(const char *name, unsigned port);

// The MAC the engine answers ARP with on its port of index @p pi (the
// ring PMD has none: the engine takes one of its own, and a frame to the
// PMD's zero MAC is another station's, not_for_us).
static inline struct rte_ether_addr ring_engine_mac(unsigned pi)
{
	return cee_engine_shard(eng, 0)->ports[pi].mac;
}

// One engine port @p name (the peer on it), the peer's pool of @p nmbufs
// frames (@p cache per lcore) and the "mem" event sink: the set-up of a
// one-port ring test. @return the port id, or -1 with a message on stderr.
static inline int ring_peer_setup(const char *name, unsigned nmbufs, unsigned cache)
{
	rp_port = 0;
	int p0 = ring_port(name, 0);
	peer_mp = rte_pktmbuf_pool_create("peer", nmbufs, cache, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
	if (p0 < 0 || peer_mp == NULL) {
		fprintf(stderr, "ring port or peer pool: %s\n", rte_strerror(rte_errno));
		return -1;
	}
	cee_sink_register("mem", mem_open);
	return p0;
}

// Start the engine of @p cfg (its options parsed) on the peer's port
// @p port alone, with one shard (checked); engine_mac is that port's.
// @return false, with a message, when it did not start.
static inline bool ring_engine_start(struct cee_engine_cfg *cfg, int port)
{
	cfg->port_mask = 1u << port;
	eng = cee_engine_create(cfg);
	if (eng == NULL || cee_engine_start(eng) < 0) {
		fprintf(stderr, "engine failed\n");
		return false;
	}
	CHECK(cee_engine_nshards(eng) == 1, "%u shards", cee_engine_nshards(eng));
	engine_mac = ring_engine_mac(0);
	return true;
}

// One mode of a ring test program: argv[1] names it; it runs on the peer's
// port.
struct ring_mode {
	const char *name;
	void (*run)(int port);
};

// The main of a ring test program of @p n @p modes: an unknown mode is a
// usage error (2); else the EAL (a file prefix of the mode's name), the
// peer's port @p port_name, the mode, the teardown. @return the exit
// status: 1 on any failed CHECK.
static inline int ring_mode_main(int argc, char **argv, const struct ring_mode *modes, size_t n,
				 const char *port_name)
{
	const char *mode = argc > 1 ? argv[1] : "";
	size_t m = 0;
	while (m < n && strcmp(mode, modes[m].name) != 0)
		m++;
	if (m == n) {
		fprintf(stderr, "usage: %s", argv[0]);
		for (size_t i = 0; i < n; i++)
			fprintf(stderr, "%s%s", i ? "|" : " ", modes[i].name);
		fputc('\n', stderr);
		return 2;
	}
	if (ring_eal_init(argv[0], mode, "0@0,1@1") < 0)
		return 1;
	int port = ring_peer_setup(port_name, 4096, 0);
	if (port < 0)
		return 1;
	modes[m].run(port);
	free(evs);
	rte_eal_cleanup();
	return failures ? 1 : 0;
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
