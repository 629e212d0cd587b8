/* SPDX-License-Identifier: BSD-3-Clause */
// cee-bench: testpmd-style connection-churn benchmark with an exactly-once
// audit of the exported event stream.
//
// One process, two engines built from the same dataplane code:
//  - the engine under test ("eng": shards on the first worker lcores, TCP
//    listeners, events exported through the real exporter into sinks, one of
//    which is an in-process audit consumer on the control thread), and
//  - the generator ("gen": the same shards, TCP and timers on the next worker
//    lcores, with events off and an application that opens connections,
//    sends the payload, checks the echo and closes as asked).
// They are joined by an in-memory link: two net_ring ports over rte_rings,
// one queue pair per shard. Loss, reordering and duplication are applied in
// rx callbacks on both ports, i.e. in both directions.
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_eth_ring.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "cee_audit.h"
#include "cee_engine.h"
#include "cee_net.h"
#include "cee_shard.h"
#include "cee_sink.h"
#ifdef CEE_HAVE_NATS
#include "cee_sink_nats.h"
#endif

#define ENG_IP 0x0a000001u  // 10.0.0.1
#define GEN_IP 0x0a010000u  // 10.1.0.0 .. : the generator's source addresses
#define GEN_IPS 1024u
// --syn-flood: spoofed sources, 10.128.0.0/9 (neither the generator's nor the
// engine's: the SYN-ACKs to them reach the generator's port, which drops them
// as not for it, without an RST)
#define FLOOD_IP 0x0a800000u
#define FLOOD_IPS (1u << 23)
#define FLOOD_BURST 256 // spoofed SYNs one generator poll iteration sends at most
#define PORT_ECHO 7
#define PORT_ECHO_CLOSE 8
#define LINK_RING 16384
#define OPEN_BURST 32
#define MAX_SECONDS 100000

enum close_mode { CLOSE_CLIENT_FIN, CLOSE_SERVER_FIN, CLOSE_CLIENT_RST, CLOSE_MIX };
static const char *const close_names[] = {"client-fin", "server-fin", "client-rst", "mix"};

struct opts {
	double duration; // seconds; 0 with conns
	uint64_t conns;  // lifecycles; 0 = duration decides
	uint32_t concurrency;
	double rate; // new connections per second, 0 = as fast as possible
	uint32_t payload;
	uint32_t gen_sndbuf; // the generator's send buffer (0: sized for the payload)
	enum close_mode close;
	double loss, reorder, dup;
	bool json;
	bool verbose;
	bool hold; // open `concurrency` connections and keep them (memory figure)
	unsigned shards;
	uint32_t time_wait_ms;
	uint32_t max_conns;
	const char *sinks[CEE_MAX_SINKS - 1];
	unsigned nsinks;
	const char *engine_id; // NULL: random
	double drain_s;
	uint32_t export_sleep_us; // control thread's sleep when it found no event
	uint8_t cc;               // enum cee_tcp_cc, both sides
	bool ts, no_sack;         // timestamps on / SACK off, both sides
	bool no_delack;           // delayed ACKs off, both sides
	bool tls;                 // TLS listeners and TLS clients
	bool ws;                  // WebSocket listeners and clients (over TLS too: --wss)
	bool monitor;             // watch every generator connection by id (cee_shard_monitor_add)
	bool tls_resume;          // clients offer a session ticket (after the first)
	const char *tls_cert, *tls_key, *tls_ca;
	uint32_t tls_budget_us;   // the engine's per-poll handshake budget
	double syn_flood;         // spoofed SYNs per second from the generators (0: none)
	uint8_t syn_cookies;      // enum cee_syn_cookies of the engine under test
};

static const char *const syn_cookies_names[] = {"auto", "always", "off"};

#ifndef CEE_CERT_DIR
#define CEE_CERT_DIR "tests/certs"
#endif
#define TLS_SNI "server.cee.test"

/* ---- histograms (log-linear, 16 sub-buckets per power of two) ------------- */

#define HBUCKETS 976

struct hist {
	uint64_t n;
	uint64_t b[HBUCKETS];
};

static unsigned hbucket(uint64_t v)
{
	if (v < 16)
		return (unsigned)v;
	unsigned m = 63u - (unsigned)__builtin_clzll(v);
	return (m - 3) * 16 + (unsigned)((v >> (m - 4)) & 15);
}

// The middle of bucket i's range (as cee-kbaseline's hist_value(): the
// lower edge put cee's percentiles up to 6% low beside the kernel's).
static uint64_t hvalue(unsigned i)
{
	if (i < 16)
		return i;
	unsigned m = i / 16 + 3, sub = i % 16;
	return ((uint64_t)(16 + sub) << (m - 4)) + ((UINT64_C(1) << (m - 4)) >> 1);
}

static void hadd(struct hist *h, uint64_t v)
{
	h->b[hbucket(v)]++;
	h->n++;
}

static void hmerge(struct hist *to, const struct hist *from)
{
	for (unsigned i = 0; i < HBUCKETS; i++)
		to->b[i] += from->b[i];
	to->n += from->n;
}

static uint64_t hpct(const struct hist *h, double p)
{
	if (h->n == 0)
		return 0;
	uint64_t want = (uint64_t)ceil(p * (double)h->n), seen = 0;
	if (want == 0)
		want = 1;
	for (unsigned i = 0; i < HBUCKETS; i++) {
		seen += h->b[i];
		if (seen >= want)
			return hvalue(i);
	}
	return hvalue(HBUCKETS - 1);
}

/* ---- the generator application ------------------------------------------- */

// Per generator shard. Written by its lcore; the control thread reads the
// counters for the live line (relaxed loads of aligned 64-bit words).
struct gen_shard {
	uint64_t quota;       // connections to open (UINT64_MAX: until told to stop)
	uint64_t opened;      // connect() calls that succeeded
	uint64_t established;
	uint64_t lifecycles;  // echo complete and closed as asked
	uint64_t errors;      // anything else (timeouts, unexpected resets, short echo)
	uint64_t echo_mismatch; // echoed bytes that differ from what was sent at their offset
	uint64_t send_waits;    // sends that waited for room (-EAGAIN, then writable)
	uint64_t connect_fail;
	uint64_t active;      // opened and not yet closed
	uint64_t hold_established; // hold mode: live established connections
	uint64_t rng;
	bool neigh_ok;
	double tokens;
	uint64_t last_ns;
	struct hist handshake;
	struct cee_tls_session *session; // --tls-resume: offered by the next connections
	uint64_t resumed;                // tls_up with a resumed session
	uint64_t mon_fired, mon_gone, mon_failed; // --monitor
	// --syn-flood: credit (SYNs) and the TSC it was last topped up at;
	// SYNs sent, lost on a full link ring, not built (flood pool empty);
	// TSC cycles spent building and sending them
	double flood_credit;
	uint64_t flood_last_tsc;
	uint64_t flood_rng;
	uint64_t flood_sent, flood_txdrop, flood_nombuf, flood_tsc;
} __rte_cache_aligned;

struct bench {
	struct opts o;
	struct cee_engine *eng, *gen;
	struct gen_shard gs[CEE_MAX_SHARDS];
	atomic_bool stop_opening;
	atomic_bool teardown; // shutting down: closes now are not the scenario's
	uint8_t payload[65536];
	struct cee_audit *audit;
	struct hist evt_latency;
	uint64_t audited;
	struct cee_sink *nats[CEE_MAX_SINKS]; // --events nats://...: their counters are reported
	unsigned nnats;
	// --syn-flood: the spoofed SYNs' pool (small buffers: the engine frees
	// them rather than keeping them for its own frames), the engine port's
	// MAC, TSC rate. Written before launch, read by the generator lcores.
	struct rte_mempool *flood_mp;
	struct rte_ether_addr eng_mac;
	double tsc_hz;
	// audit sink (control thread): open events by remote address
	uint64_t opens_spoofed; // from outside the generator's range
	uint64_t opens_legit;
};

static struct bench B;

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static enum close_mode conn_mode(const struct cee_conn *c)
{
	if (B.o.close != CLOSE_MIX)
		return B.o.close;
	if (c->remote_port == PORT_ECHO_CLOSE)
		return CLOSE_SERVER_FIN;
	return (c->local_port & 1) ? CLOSE_CLIENT_RST : CLOSE_CLIENT_FIN;
}

static void finish_conn(struct cee_shard *s, struct cee_conn *c)
{
	if (B.o.hold)
		return;
	switch (conn_mode(c)) {
	case CLOSE_CLIENT_FIN:
		cee_shard_close(s, c, CEE_REASON_LOCAL_CLOSE);
		break;
	case CLOSE_CLIENT_RST:
		cee_shard_abort(s, c, CEE_REASON_LOCAL_CLOSE);
		break;
	case CLOSE_SERVER_FIN: // the server closes after its echo; we close after its FIN
	case CLOSE_MIX:
		break;
	}
}

static void gen_monitor(void *arg, cee_conn_id_t id, int reason)
{
	struct gen_shard *g = arg;
	(void)id;
	g->mon_fired++;
	if (reason == CEE_MONITOR_GONE)
		g->mon_gone++;
}

/*
 * --syn-flood: this generator shard's share of the spoofed SYNs, paced by
 * TSC credit (topped up each poll iteration, at most 10 ms of backlog kept,
 * at most FLOOD_BURST sent per iteration), sent straight to the engine's
 * port on the shard's queue: random sources in FLOOD_IP/9, random ports and
 * ISNs, to the echo listener.
 */
static void flood_send(struct cee_shard *s, struct gen_shard *g)
{
	uint64_t tsc = s->poll_tsc;
	double per_shard = B.o.syn_flood / B.o.shards;
	if (g->flood_last_tsc == 0) {
		g->flood_last_tsc = tsc;
		return;
	}
	g->flood_credit += (double)(tsc - g->flood_last_tsc) * per_shard / B.tsc_hz;
	g->flood_last_tsc = tsc;
	double cap = per_shard / 100 + FLOOD_BURST; // at most 10 ms behind (as --rate)
	if (g->flood_credit > cap)
		g->flood_credit = cap;
	unsigned n = g->flood_credit < FLOOD_BURST ? (unsigned)g->flood_credit : FLOOD_BURST;
	if (n == 0)
		return;
	g->flood_credit -= n;
	uint64_t t0 = rte_rdtsc();
	struct rte_mbuf *m[FLOOD_BURST];
	if (rte_pktmbuf_alloc_bulk(B.flood_mp, m, n) < 0) {
		g->flood_nombuf += n;
		return;
	}
	struct cee_net_addr a = {.dst_ip = ENG_IP, .dport = PORT_ECHO};
	rte_ether_addr_copy(&s->ports[0].mac, &a.src_mac);
	rte_ether_addr_copy(&B.eng_mac, &a.dst_mac);
	struct cee_tcp_out out = {
	    .wnd = 64240, .flags = CEE_TCP_SYN, .wscale = 7, .mss = 1460, .sack_ok = true};
	for (unsigned i = 0; i < n; i++) {
		uint64_t r = xorshift(&g->flood_rng);
		a.src_ip = FLOOD_IP | (uint32_t)(r & (FLOOD_IPS - 1));
		a.sport = (uint16_t)(1024 + (r >> 32) % 64512);
		out.seq = (uint32_t)xorshift(&g->flood_rng);
		if (cee_net_fill_tcp(m[i], &a, &out) < 0) { // cannot happen: 66 bytes in 128
			rte_pktmbuf_free_bulk(&m[i], n - i);
			g->flood_nombuf += n - i;
			n = i;
			break;
		}
	}
	uint16_t sent = rte_eth_tx_burst(s->ports[0].port_id, (uint16_t)s->id, m, (uint16_t)n);
	if (sent < n) { // the link ring is full: lost, as on a saturated wire
		rte_pktmbuf_free_bulk(&m[sent], n - sent);
		g->flood_txdrop += n - sent;
	}
	g->flood_sent += sent;
	g->flood_tsc += rte_rdtsc() - t0;
}

static void gen_poll(void *arg, struct cee_shard *s)
{
	struct gen_shard *g = &((struct bench *)arg)->gs[s->id];
	bool stop = atomic_load_explicit(&B.stop_opening, memory_order_relaxed);
	if (unlikely(B.o.syn_flood > 0) && !stop)
		flood_send(s, g);
	if (stop || g->opened >= g->quota)
		return;
	if (!g->neigh_ok) {
		// One ARP exchange before the first burst: the resolver would
		// hold only a few SYNs and drop the rest.
		if (!cee_shard_neigh_ready(s, 0, ENG_IP))
			return;
		g->neigh_ok = true;
	}
	uint64_t room = B.o.concurrency / B.o.shards + (s->id < B.o.concurrency % B.o.shards);
	if (g->active >= room)
		return;
	uint64_t n = room - g->active;
	if (n > OPEN_BURST)
		n = OPEN_BURST;
	if (n > g->quota - g->opened)
		n = g->quota - g->opened;
	if (B.o.rate > 0) {
		double per_shard = B.o.rate / B.o.shards;
		if (g->last_ns)
			g->tokens += (double)(s->now_ns - g->last_ns) * per_shard / 1e9;
		g->last_ns = s->now_ns;
		if (g->tokens > per_shard / 100 + OPEN_BURST) // at most 10 ms of burst
			g->tokens = per_shard / 100 + OPEN_BURST;
		if (g->tokens < (double)n)
			n = (uint64_t)g->tokens;
		g->tokens -= (double)n;
	}
	for (uint64_t i = 0; i < n; i++) {
		uint16_t dport = PORT_ECHO;
		if (B.o.close == CLOSE_SERVER_FIN ||
		    (B.o.close == CLOSE_MIX && xorshift(&g->rng) % 3 == 0))
			dport = PORT_ECHO_CLOSE;
		struct cee_conn *c =
			B.o.tls || B.o.ws
				? cee_shard_connect_layers(s, 0, ENG_IP, dport, B.o.tls, B.o.ws, TLS_SNI,
							   g->session)
				: cee_shard_connect(s, 0, ENG_IP, dport, CEE_TCP_SVC_APP);
		if (c == NULL) {
			g->connect_fail++;
			return;
		}
		g->opened++;
		g->active++;
		if (B.o.monitor && cee_shard_monitor_add(s, c->id, gen_monitor, g) <= 0)
			g->mon_failed++; // it must wait for this live connection's close
	}
}

// The payload, or what is left of it. Plain TCP: whole (its send buffer is
// sized for it). TLS and WebSocket: in pieces of what the send buffer takes
// now (cee_shard_send_room()), a record or a message each; one that finds
// too little room is refused (-EAGAIN, nothing sent) and the rest goes when
// an ACK makes room (gen_writable): --gen-sndbuf below the payload streams
// it so. (The echo is compared byte for byte at its offset, so a payload
// sent as several messages comes back as several.)
static void gen_send(struct gen_shard *g, struct cee_shard *s, struct cee_conn *c)
{
	uint64_t sent = cee_shard_conn_bytes_out(c); // (above TLS: the plaintext sent)
	while (sent < B.o.payload) {
		uint32_t n = B.o.payload - (uint32_t)sent;
		if (B.o.tls || B.o.ws) {
			uint32_t room = cee_shard_send_room(s, c);
			// A piece of the room; with a sliver of it (not worth a record
			// of its own), 1 KiB, which waits (-EAGAIN) for writable: a
			// send larger than an empty buffer's room is refused outright
			// (-EMSGSIZE)
			if (n > room)
				n = room >= 1024 ? room : (n < 1024 ? n : 1024);
		}
		int rc = cee_shard_send(s, c, B.payload + sent, n);
		if (rc == -EAGAIN) {
			g->send_waits++;
			return;
		}
		if (rc != (int)n) {
			cee_shard_abort(s, c, CEE_REASON_NO_RESOURCES);
			return;
		}
		sent += n;
	}
}

static void gen_established(void *arg, struct cee_shard *s, struct cee_conn *c)
{
	struct gen_shard *g = &((struct bench *)arg)->gs[s->id];
	g->established++;
	// with TLS this runs at tls_up: TCP and TLS handshakes together
	hadd(&g->handshake, s->now_ns - c->tcb.open_ns);
	if (B.o.tls) {
		struct cee_tls_info info;
		cee_tls_get_info(cee_shard_tls(c), &info);
		g->resumed += info.resumed;
	}
	if (B.o.hold) {
		g->hold_established++;
		return;
	}
	if (B.o.payload == 0) {
		finish_conn(s, c);
		return;
	}
	gen_send(g, s, c);
}

// An ACK made room after a send found none: the rest of the payload.
static void gen_writable(void *arg, struct cee_shard *s, struct cee_conn *c)
{
	struct gen_shard *g = &((struct bench *)arg)->gs[s->id];
	gen_send(g, s, c);
}

static void gen_recv(void *arg, struct cee_shard *s, struct cee_conn *c, const uint8_t *data,
		     uint32_t len)
{
	struct gen_shard *g = &((struct bench *)arg)->gs[s->id];
	// the echo, byte for byte at its offset (the payload is a pattern): a
	// resend or reassembly fault that delivered bytes at the wrong place,
	// twice or not at all passed when only their count was compared
	uint64_t in = cee_shard_conn_bytes_in(c);
	uint64_t off = in - len;
	if (in > B.o.payload || memcmp(data, B.payload + off, len) != 0) {
		g->echo_mismatch++;
		cee_shard_abort(s, c, CEE_REASON_PROTOCOL_ERROR); // (an error at its close)
		return;
	}
	if (in != B.o.payload)
		return;
	// the first echo done: its session (a TLS 1.3 ticket came before it) is
	// the one the next connections offer
	if (B.o.tls_resume && g->session == NULL)
		g->session = cee_tls_session_get(cee_shard_tls(c));
	finish_conn(s, c);
}

static void gen_closed(void *arg, struct cee_shard *s, struct cee_conn *c)
{
	struct gen_shard *g = &((struct bench *)arg)->gs[s->id];
	g->active--;
	// the client's close is local_close (over WebSocket too: it sent the
	// first Close); the server's is its Close frame over WebSocket (the Close
	// handshake, then the FINs), its close_notify over TLS, else its FIN
	enum cee_reason want = conn_mode(c) != CLOSE_SERVER_FIN ? CEE_REASON_LOCAL_CLOSE
			       : B.o.ws				? CEE_REASON_WS_CLOSE
			       : B.o.tls			? CEE_REASON_TLS_CLOSE_NOTIFY
								: CEE_REASON_PEER_FIN;
	if (c->tcb.close_reason == want && cee_shard_conn_bytes_in(c) == B.o.payload)
		g->lifecycles++;
	else if (!atomic_load_explicit(&B.teardown, memory_order_relaxed))
		g->errors++;
}

static const struct cee_app_ops gen_app = {
	.poll = gen_poll,
	.established = gen_established,
	.recv = gen_recv,
	.closed = gen_closed,
	.writable = gen_writable,
};

/* ---- the audit sink (control thread) -------------------------------------- */

static int audit_write(struct cee_sink *sk, const struct cee_event *ev, uint32_t n)
{
	(void)sk;
	uint64_t now = cee_clock_ns();
	for (uint32_t i = 0; i < n; i++) {
		hadd(&B.evt_latency, now > ev[i].ts_ns ? now - ev[i].ts_ns : 0);
		if (ev[i].type == CEE_EVT_OPEN) {
			if (ev[i].remote_ip - GEN_IP < GEN_IPS)
				B.opens_legit++;
			else
				B.opens_spoofed++;
		}
	}
	cee_audit_feed(B.audit, ev, n);
	B.audited += n;
	return (int)n; // takes all
}

static int audit_flush(struct cee_sink *sk)
{
	(void)sk;
	return 0;
}

static void audit_close(struct cee_sink *sk)
{
	free(sk);
}

static const struct cee_sink_ops audit_sink_ops = {
	.write = audit_write,
	.flush = audit_flush,
	.close = audit_close,
};

static struct cee_sink *audit_open(const char *arg)
{
	(void)arg;
	struct cee_sink *sk = calloc(1, sizeof(*sk));
	if (sk != NULL)
		sk->ops = &audit_sink_ops;
	return sk;
}

#ifdef CEE_HAVE_NATS
// The NATS sink kind, opened through here so that its counters can be read.
static struct cee_sink *bench_nats_open(const char *arg)
{
	struct cee_sink *sk = cee_sink_nats_open(arg);
	if (sk != NULL && B.nnats < CEE_MAX_SINKS)
		B.nats[B.nnats++] = sk;
	return sk;
}

#endif

/* ---- the link: two net_ring ports, impaired on receive -------------------- */

#define IMP_LATE 64

struct impair {
	double loss, reorder, dup;
	uint64_t rng;
	struct rte_mempool *mp;
	struct rte_mbuf *late[IMP_LATE]; // held back: delivered after the next burst
	unsigned nlate;
	uint64_t lost, reordered, duplicated;
} __rte_cache_aligned;

static struct impair imps[2][CEE_MAX_SHARDS];
static const struct rte_eth_rxtx_callback *imp_cb[2][CEE_MAX_SHARDS];
static uint16_t link_port[2];
static struct rte_ring *link_rings[2][CEE_MAX_SHARDS];

static double rnd01(uint64_t *s)
{
	return (double)(xorshift(s) >> 11) * (1.0 / 9007199254740992.0);
}

static void imp_emit(struct impair *im, struct rte_mbuf **pkts, uint16_t *n, uint16_t max,
		     struct rte_mbuf *m)
{
	if (*n < max)
		pkts[(*n)++] = m;
	else if (im->nlate < IMP_LATE)
		im->late[im->nlate++] = m;
	else {
		rte_pktmbuf_free(m);
		im->lost++;
	}
}

static uint16_t impair_rx(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t nb,
			  uint16_t max, void *arg)
{
	(void)port;
	(void)queue;
	struct impair *im = arg;
	struct rte_mbuf *in[64], *held[IMP_LATE];
	if (nb > 64)
		nb = 64;
	memcpy(in, pkts, nb * sizeof(*in));
	unsigned nheld = im->nlate;
	memcpy(held, im->late, nheld * sizeof(*held));
	im->nlate = 0;
	uint16_t n = 0;
	for (uint16_t i = 0; i < nb; i++) {
		struct rte_mbuf *m = in[i];
		if (rnd01(&im->rng) < im->loss) {
			rte_pktmbuf_free(m);
			im->lost++;
			continue;
		}
		if (rnd01(&im->rng) < im->reorder && im->nlate < IMP_LATE) {
			im->late[im->nlate++] = m;
			im->reordered++;
			continue;
		}
		imp_emit(im, pkts, &n, max, m);
		if (rnd01(&im->rng) < im->dup) {
			struct rte_mbuf *d = rte_pktmbuf_copy(m, im->mp, 0, UINT32_MAX);
			if (d != NULL) {
				imp_emit(im, pkts, &n, max, d);
				im->duplicated++;
			}
		}
	}
	for (unsigned i = 0; i < nheld; i++) // later than packets sent after them
		imp_emit(im, pkts, &n, max, held[i]);
	return n;
}

// Side 0 is the engine's port, side 1 the generator's: ring [0][q] carries
// generator -> engine, ring [1][q] engine -> generator.
static int link_create(unsigned nq)
{
	for (unsigned side = 0; side < 2; side++)
		for (unsigned q = 0; q < nq; q++) {
			char name[RTE_RING_NAMESIZE];
			snprintf(name, sizeof(name), "bench_l%u_%u", side, q);
			link_rings[side][q] = rte_ring_create(name, LINK_RING, (int)rte_socket_id(),
							      RING_F_SP_ENQ | RING_F_SC_DEQ);
			if (link_rings[side][q] == NULL)
				return -rte_errno;
		}
	int e = rte_eth_from_rings("bench_eng", link_rings[0], nq, link_rings[1], nq,
				   rte_socket_id());
	int g = rte_eth_from_rings("bench_gen", link_rings[1], nq, link_rings[0], nq,
				   rte_socket_id());
	if (e < 0 || g < 0)
		return -EINVAL;
	link_port[0] = (uint16_t)e;
	link_port[1] = (uint16_t)g;
	return 0;
}

static int impair_install(unsigned nq, struct rte_mempool *mp)
{
	if (B.o.loss == 0 && B.o.reorder == 0 && B.o.dup == 0)
		return 0;
	for (unsigned side = 0; side < 2; side++)
		for (unsigned q = 0; q < nq; q++) {
			struct impair *im = &imps[side][q];
			im->loss = B.o.loss;
			im->reorder = B.o.reorder;
			im->dup = B.o.dup;
			im->rng = 0x9e3779b97f4a7c15ull * (side * CEE_MAX_SHARDS + q + 1);
			im->mp = mp;
			imp_cb[side][q] = rte_eth_add_rx_callback(link_port[side], (uint16_t)q,
								  impair_rx, im);
			if (imp_cb[side][q] == NULL)
				return -rte_errno;
		}
	return 0;
}

static void impair_remove(unsigned nq)
{
	for (unsigned side = 0; side < 2; side++)
		for (unsigned q = 0; q < nq; q++) {
			if (imp_cb[side][q] != NULL)
				rte_eth_remove_rx_callback(link_port[side], (uint16_t)q,
							   imp_cb[side][q]);
			struct impair *im = &imps[side][q];
			rte_pktmbuf_free_bulk(im->late, im->nlate);
			im->nlate = 0;
		}
}

/* ---- options --------------------------------------------------------------- */

// A set-up failure (a sink that does not open, a bad certificate, no
// lcores): exit 2 as for bad options, not 1, which says the audit failed
static int setup_failed(void)
{
	rte_eal_cleanup();
	return 2;
}

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s [EAL options] -- [options]\n"
		"  --duration S        run S seconds (default 5; ignored with --conns)\n"
		"  --conns N           run until N lifecycles were started and finished\n"
		"  --concurrency C     connections in flight (default 1024)\n"
		"  --rate R            new connections per second, 0 = as fast as possible (default)\n"
		"  --payload BYTES     sent by the client and echoed (default 64, at most 65535)\n"
		"  --close MODE        client-fin (default), server-fin, client-rst or mix\n"
		"  --loss P --reorder P --dup P   link impairment, both directions (0..0.5)\n"
		"  --time-wait MS      TIME-WAIT on both sides (default 100)\n"
		"  --hold              open C connections, hold them idle for the duration, report memory\n"
		"  --shards N          engine shards = generator lcores (default 1); needs 2N workers\n"
		"  --max-conns N       engine connection slots (default: from C and the time-wait)\n"
		"  --events SINK       also export to SINK (e.g. binary:/tmp/ev.bin,\n"
		"                      nats://127.0.0.1:4222/cee?stream=CEE); repeatable, at most 3\n"
		"                      (the in-process audit is the engine's fourth sink)\n"
		"  --drain S           after the run, how long connections in flight get to\n"
		"                      finish (default 10)\n"
		"  --gen-sndbuf BYTES  the generator's send buffer (4096..16777216; default:\n"
		"                      sized for the payload); with --tls, --ws or --wss:\n"
		"                      a payload above it goes in pieces (records, messages)\n"
		"                      as ACKs make room (writable)\n"
		"  --engine-id ID      the exporting engine's id (default: random per run)\n"
		"  --json              final report as one JSON object on stdout\n"
		"  --verbose           also print both engines' counters (JSON) on stderr\n"
		"  --export-sleep US   control thread's sleep when no event is waiting (default 300)\n"
		"  --cc cubic|newreno  congestion control on both sides (default cubic)\n"
		"  --timestamps on|off --sack on|off   TCP options on both sides (default off, on)\n"
		"  --delack on|off     delayed ACKs on both sides (default on, as cee-engine)\n"
		"  --tls               TLS listeners and TLS clients (full handshakes)\n"
		"  --ws                WebSocket listeners and clients: upgrade, one binary message\n"
		"                      echoed, the Close handshake (--close client-fin/server-fin)\n"
		"  --wss               WebSocket over TLS (--ws --tls)\n"
		"  --monitor           watch each generator connection by id: every one must\n"
		"                      fire its monitor exactly once (reported)\n"
		"  --tls-resume        clients resume the first connection's session (tickets)\n"
		"  --tls-cert FILE --tls-key FILE   the engine's certificate (default test ECDSA P-256)\n"
		"  --tls-ca FILE       CA the clients verify the engine against (default test CA)\n"
		"  --tls-budget-us US  the engine's TLS handshake work per poll (default 1000; 0: none)\n"
		"  --syn-flood PPS     also send PPS spoofed SYNs per second (over the generators) to\n"
		"                      the engine's listener, from random sources in 10.128.0.0/9\n"
		"  --syn-cookies auto|always|off   the engine's SYN cookies (default auto)\n"
		"Lcores: main = control thread (exporter, audit); workers 0..N-1 = engine shards;\n"
		"workers N..2N-1 = generators. On 2 cores: --lcores 0@1,1@1,2@0 (the\n"
		"control thread beside the engine shard, the generator alone on cpu 0).\n"
		"Exit status: 0 the audit passed; 1 it failed, the run failed, or nothing\n"
		"reached the engine; 2 bad options or a set-up that failed (a sink, a file).\n",
		prog);
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end != '\0' || !(v >= lo) || !(v <= hi))
		return -EINVAL;
	*out = v;
	return 0;
}

// A count: a whole number (1e6 allowed), lo..hi; not 1.9 (it ran as 1) nor
// hex (0x10 ran as 16).
static int parse_whole(const char *s, double lo, double hi, double *out)
{
	if (strpbrk(s, "xX") != NULL || parse_double(s, lo, hi, out) < 0 ||
	    *out != (double)(uint64_t)*out)
		return -EINVAL;
	return 0;
}

static int parse_opts(struct opts *o, int argc, char **argv)
{
	enum {
		O_DURATION = 256, O_CONNS, O_CONC, O_RATE, O_PAYLOAD, O_CLOSE, O_LOSS, O_REORDER,
		O_DUP, O_JSON, O_HOLD, O_SHARDS, O_TW, O_MAX, O_EVENTS, O_DRAIN, O_VERBOSE, O_HELP, O_GEN_SNDBUF,
		O_EXPORT_SLEEP, O_CC, O_TS, O_SACK, O_DELACK, O_TLS, O_TLS_RESUME, O_TLS_CERT, O_TLS_KEY,
		O_TLS_CA, O_TLS_BUDGET, O_WS, O_WSS, O_MONITOR, O_SYN_FLOOD, O_SYN_COOKIES, O_ENGINE_ID,
	};
	static const struct option lo[] = {
		{"duration", required_argument, NULL, O_DURATION},
		{"conns", required_argument, NULL, O_CONNS},
		{"concurrency", required_argument, NULL, O_CONC},
		{"rate", required_argument, NULL, O_RATE},
		{"payload", required_argument, NULL, O_PAYLOAD},
		{"close", required_argument, NULL, O_CLOSE},
		{"loss", required_argument, NULL, O_LOSS},
		{"reorder", required_argument, NULL, O_REORDER},
		{"dup", required_argument, NULL, O_DUP},
		{"json", no_argument, NULL, O_JSON},
		{"hold", no_argument, NULL, O_HOLD},
		{"shards", required_argument, NULL, O_SHARDS},
		{"time-wait", required_argument, NULL, O_TW},
		{"max-conns", required_argument, NULL, O_MAX},
		{"events", required_argument, NULL, O_EVENTS},
		{"engine-id", required_argument, NULL, O_ENGINE_ID},
		{"drain", required_argument, NULL, O_DRAIN},
		{"gen-sndbuf", required_argument, NULL, O_GEN_SNDBUF},
		{"export-sleep", required_argument, NULL, O_EXPORT_SLEEP},
		{"verbose", no_argument, NULL, O_VERBOSE},
		{"cc", required_argument, NULL, O_CC},
		{"timestamps", required_argument, NULL, O_TS},
		{"sack", required_argument, NULL, O_SACK},
		{"delack", required_argument, NULL, O_DELACK},
		{"tls", no_argument, NULL, O_TLS},
		{"tls-resume", no_argument, NULL, O_TLS_RESUME},
		{"tls-cert", required_argument, NULL, O_TLS_CERT},
		{"tls-key", required_argument, NULL, O_TLS_KEY},
		{"tls-ca", required_argument, NULL, O_TLS_CA},
		{"tls-budget-us", required_argument, NULL, O_TLS_BUDGET},
		{"ws", no_argument, NULL, O_WS},
		{"wss", no_argument, NULL, O_WSS},
		{"monitor", no_argument, NULL, O_MONITOR},
		{"syn-flood", required_argument, NULL, O_SYN_FLOOD},
		{"syn-cookies", required_argument, NULL, O_SYN_COOKIES},
		{"help", no_argument, NULL, O_HELP},
		{NULL, 0, NULL, 0},
	};
	memset(o, 0, sizeof(*o));
	o->duration = 5;
	o->concurrency = 1024;
	o->payload = 64;
	o->close = CLOSE_CLIENT_FIN;
	o->shards = 1;
	o->time_wait_ms = 100;
	o->drain_s = 10;
	o->export_sleep_us = 300;
	o->tls_cert = CEE_CERT_DIR "/server.pem";
	o->tls_key = CEE_CERT_DIR "/server.key";
	o->tls_ca = CEE_CERT_DIR "/ca.pem";
	o->tls_budget_us = 1000;
	o->syn_cookies = CEE_SYN_COOKIES_AUTO;
	optind = 1;
	int c;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		double v = 0;
		int rc = 0;
		switch (c) {
		case O_DURATION:
			rc = parse_double(optarg, 0.1, MAX_SECONDS, &o->duration);
			break;
		case O_CONNS:
			rc = parse_whole(optarg, 1, 1e15, &v);
			o->conns = (uint64_t)v;
			break;
		case O_CONC:
			rc = parse_whole(optarg, 1, 16e6, &v);
			o->concurrency = (uint32_t)v;
			break;
		case O_RATE:
			rc = parse_double(optarg, 0, 1e9, &o->rate);
			break;
		case O_PAYLOAD:
			rc = parse_whole(optarg, 0, 65535, &v);
			o->payload = (uint32_t)v;
			break;
		case O_CLOSE:
			rc = -EINVAL;
			for (unsigned i = 0; i < 4; i++)
				if (strcmp(optarg, close_names[i]) == 0) {
					o->close = (enum close_mode)i;
					rc = 0;
				}
			break;
		case O_LOSS:
			rc = parse_double(optarg, 0, 0.5, &o->loss);
			break;
		case O_REORDER:
			rc = parse_double(optarg, 0, 0.5, &o->reorder);
			break;
		case O_DUP:
			rc = parse_double(optarg, 0, 0.5, &o->dup);
			break;
		case O_JSON:
			o->json = true;
			break;
		case O_HOLD:
			o->hold = true;
			break;
		case O_SHARDS:
			rc = parse_whole(optarg, 1, CEE_MAX_SHARDS / 2, &v);
			o->shards = (unsigned)v;
			break;
		case O_TW:
			rc = parse_whole(optarg, 0, 600000, &v);
			o->time_wait_ms = (uint32_t)v;
			break;
		case O_MAX:
			rc = parse_whole(optarg, 1, 1 << 24, &v);
			o->max_conns = (uint32_t)v;
			break;
		case O_EVENTS:
			if (o->nsinks == CEE_MAX_SINKS - 1)
				rc = -ENOSPC;
			else
				o->sinks[o->nsinks++] = optarg;
			break;
		case O_ENGINE_ID:
			if (!cee_engine_id_valid(optarg))
				rc = -EINVAL;
			o->engine_id = optarg;
			break;
		case O_DRAIN:
			rc = parse_double(optarg, 0, 3600, &o->drain_s);
			break;
		case O_GEN_SNDBUF:
			rc = parse_whole(optarg, 4096, 1u << 24, &v);
			o->gen_sndbuf = (uint32_t)v;
			break;
		case O_EXPORT_SLEEP:
			rc = parse_whole(optarg, 0, 1000000, &v); // (0.5 was cut to 0: off)
			o->export_sleep_us = (uint32_t)v;
			break;
		case O_VERBOSE:
			o->verbose = true;
			break;
		case O_TS:
		case O_SACK:
		case O_DELACK: {
			bool off = strcmp(optarg, "off") == 0;
			if (!off && strcmp(optarg, "on") != 0)
				rc = -EINVAL;
			else if (c == O_TS)
				o->ts = !off;
			else if (c == O_DELACK)
				o->no_delack = off;
			else
				o->no_sack = off;
			break;
		}
		case O_CC:
			rc = cee_tcp_cc_parse(optarg);
			if (rc >= 0) {
				o->cc = (uint8_t)rc;
				rc = 0;
			}
			break;
		case O_TLS:
			o->tls = true;
			break;
		case O_TLS_RESUME:
			o->tls = o->tls_resume = true;
			break;
		case O_TLS_CERT:
			o->tls_cert = optarg;
			break;
		case O_TLS_KEY:
			o->tls_key = optarg;
			break;
		case O_TLS_CA:
			o->tls_ca = optarg;
			break;
		case O_WS:
			o->ws = true;
			break;
		case O_WSS:
			o->ws = o->tls = true;
			break;
		case O_MONITOR:
			o->monitor = true;
			break;
		case O_TLS_BUDGET:
			rc = parse_whole(optarg, 0, 1000000, &v); // (0.5 was cut to 0: off)
			o->tls_budget_us = (uint32_t)v;
			break;
		case O_SYN_FLOOD:
			rc = parse_double(optarg, 0, 1e9, &o->syn_flood);
			break;
		case O_SYN_COOKIES:
			rc = -EINVAL;
			for (unsigned i = 0; i < 3; i++)
				if (strcmp(optarg, syn_cookies_names[i]) == 0) {
					o->syn_cookies = (uint8_t)i;
					rc = 0;
				}
			break;
		case O_HELP:
			usage(stdout, argv[0]);
			return 1;
		default:
			usage(stderr, argv[0]);
			return -EINVAL;
		}
		if (rc < 0) {
			const char *name = "?";
			for (const struct option *p = lo; p->name != NULL; p++)
				if (p->val == c)
					name = p->name;
			// (a sink spec redacted: its password= and token= went to the log)
			char shown[256];
			cee_sink_redact(shown, optarg);
			if (rc == -ENOSPC)
				fprintf(stderr,
					"cee-bench: --events %s: at most %u sinks (the audit is the "
					"engine's %uth)\n",
					shown, CEE_MAX_SINKS - 1, CEE_MAX_SINKS);
			else
				fprintf(stderr, "cee-bench: bad value for --%s: '%s'\n", name,
					c == O_EVENTS ? shown : optarg);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "cee-bench: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	// (mix sends a third of its connections to the echo-close listener:
	// with nothing to echo, those waited for --idle-timeout, filled the
	// concurrency and the run stalled)
	if ((o->close == CLOSE_SERVER_FIN || o->close == CLOSE_MIX) && o->payload == 0) {
		fprintf(stderr, "cee-bench: --close %s needs --payload > 0 (the server "
				"closes after echoing it)\n",
			o->close == CLOSE_MIX ? "mix" : "server-fin");
		return -EINVAL;
	}
	// (a shard's room is its part of the concurrency: with none, it never
	// opened its part of --conns and the run never ended)
	if (o->concurrency < o->shards) {
		fprintf(stderr, "cee-bench: --concurrency %u < --shards %u: each shard needs "
				"room for one connection\n",
			o->concurrency, o->shards);
		return -EINVAL;
	}
	// (held connections never close: a run that ends when all of --conns
	// have closed went on until the idle timeout ended them)
	if (o->hold && o->conns) {
		fprintf(stderr, "cee-bench: --hold runs for --duration (its connections do not "
				"close): --conns is not for it\n");
		return -EINVAL;
	}
	return 0;
}

/* ---- figures ---------------------------------------------------------------- */

static uint64_t rd(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

// Connections live on shard @p s: destroyed read first, then opened (read
// in the other order, or in an order the compiler chose, with the shard
// going on between the two reads, more could be destroyed than were seen
// opened, and the difference wrapped: a bogus conns_peak)
static uint64_t live_of(struct cee_shard *s)
{
	uint64_t destroyed = rd(&s->stats.destroyed);
	uint64_t opened = rd(&s->stats.opened);
	return opened > destroyed ? opened - destroyed : 0;
}

static uint64_t rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size = 0, res = 0;
	if (f == NULL)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &res) != 2)
		res = 0;
	fclose(f);
	return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

/*
 * CPU time of the lcores running @p e's shards (their threads' time on a
 * CPU from /proc/self/task/TID/schedstat, threads named "rte-worker-N"):
 * unlike the busy share, it leaves out the time a shard waited while
 * another thread (the control thread, the other lcore) had its CPU.
 */
static uint64_t lcores_cpu_ns(struct cee_engine *e, unsigned nshards)
{
	uint64_t total = 0;
	DIR *d = opendir("/proc/self/task");
	if (d == NULL)
		return 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char path[320], comm[32] = "";
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", de->d_name);
		FILE *f = fopen(path, "r");
		if (f == NULL)
			continue;
		if (fgets(comm, sizeof(comm), f) == NULL)
			comm[0] = '\0';
		fclose(f);
		unsigned lcore;
		if (sscanf(comm, "rte-worker-%u", &lcore) != 1)
			continue;
		bool ours = false;
		for (unsigned i = 0; i < nshards; i++)
			ours |= cee_engine_shard(e, i)->lcore == lcore;
		if (!ours)
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/schedstat", de->d_name);
		f = fopen(path, "r");
		unsigned long long on_cpu = 0;
		if (f != NULL) {
			if (fscanf(f, "%llu", &on_cpu) != 1)
				on_cpu = 0;
			fclose(f);
		}
		total += on_cpu;
	}
	closedir(d);
	return total;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct totals {
	uint64_t opened, established, lifecycles, errors, connect_fail, active, hold_est, mismatch;
	uint64_t send_waits;
	uint64_t eng_rx, eng_tx, eng_live, gen_live, refused, retransmits, eng_drops;
	uint64_t refused_ring; /**< refusals for want of event ring room (a consumer behind) */
	uint64_t eng_busy, gen_busy; /**< TSC cycles in poll iterations that found work */
	/* --syn-flood: the generators' spoofed SYNs; the engine's cookie counters and
	 * half-open connections now; frames the generators dropped as not theirs and
	 * RSTs they sent for segments of no connection */
	uint64_t flood_sent, flood_txdrop, flood_nombuf, flood_tsc;
	uint64_t cookies_sent, cookies_ok, cookies_bad, half_open, gen_not_for_us, gen_rst;
};

static void totals(struct totals *t)
{
	memset(t, 0, sizeof(*t));
	for (unsigned i = 0; i < B.o.shards; i++) {
		const struct gen_shard *g = &B.gs[i];
		t->opened += rd(&g->opened);
		t->established += rd(&g->established);
		t->lifecycles += rd(&g->lifecycles);
		t->errors += rd(&g->errors);
		t->mismatch += rd(&g->echo_mismatch);
		t->send_waits += rd(&g->send_waits);
		t->connect_fail += rd(&g->connect_fail);
		t->active += rd(&g->active);
		t->flood_sent += rd(&g->flood_sent);
		t->flood_txdrop += rd(&g->flood_txdrop);
		t->flood_nombuf += rd(&g->flood_nombuf);
		t->flood_tsc += rd(&g->flood_tsc);
		t->hold_est += rd(&g->hold_established);
		struct cee_shard *e = cee_engine_shard(B.eng, i), *gs = cee_engine_shard(B.gen, i);
		t->eng_rx += rd(&e->stats.rx_pkts);
		t->eng_busy += rd(&e->stats.busy_tsc);
		t->gen_busy += rd(&gs->stats.busy_tsc);
		t->eng_tx += rd(&e->stats.tx_pkts);
		t->refused += rd(&e->stats.refused);
		t->refused_ring += rd(&e->stats.refused_event_room);
		t->cookies_sent += rd(&e->tcp.stats.syncookies_sent);
		t->cookies_ok += rd(&e->tcp.stats.syncookies_ok);
		t->cookies_bad += rd(&e->tcp.stats.syncookies_bad);
		t->half_open += __atomic_load_n(&e->tcp.half_open, __ATOMIC_RELAXED);
		t->gen_not_for_us += rd(&gs->stats.drops[CEE_DROP_NOT_FOR_US]);
		t->gen_rst += rd(&gs->stats.rst_no_conn);
		t->retransmits += rd(&e->tcp.stats.retransmits) + rd(&gs->tcp.stats.retransmits);
		t->eng_live += live_of(e);
		t->gen_live += live_of(gs);
		for (unsigned d = 0; d < CEE_DROP__COUNT; d++)
			t->eng_drops += rd(&e->stats.drops[d]);
	}
}

// TSC cycles over @p seconds of all shards' lcores, in percent of their time.
static double busy_pct(uint64_t tsc, double seconds)
{
	double all = seconds * (double)rte_get_tsc_hz() * B.o.shards;
	return all > 0 ? 100.0 * (double)tsc / all : 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double median(uint64_t *v, unsigned n)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_u64);
	return n % 2 ? (double)v[n / 2] : ((double)v[n / 2 - 1] + (double)v[n / 2]) / 2;
}

/* ---- set-up ------------------------------------------------------------------ */

static uint32_t round_up(uint32_t v, uint32_t to)
{
	return (v + to - 1) / to * to;
}

// The most connection slots one side's engine is given: each shard's pool
// holds CEE_CONN_POOL_MAX, and 2^24 in all (the event rings: 4 GiB).
static uint64_t bench_slots_most(const struct opts *o)
{
	uint64_t most = cee_flow_total_most(CEE_CONN_POOL_MAX, o->shards);
	return most < (1u << 24) ? most : 1u << 24;
}

// Connection slots of one side's engine (the generator's when @p gen).
static uint32_t bench_slots(const struct opts *o, bool gen)
{
	if (!gen && o->max_conns)
		return o->max_conns;
	// Slots: the connections in flight plus those in TIME-WAIT on the side
	// that closes first (the generator for client-fin, the engine for
	// server-fin; mix has both). Sized tight: slots are used round robin,
	// so a larger table only spreads the working set over more memory.
	uint64_t conc = o->concurrency;
	// TIME-WAIT holds a slot for time_wait_ms: room for 4M closes per
	// second per shard (fewer slots cap the rate: opens fail with ENOSPC,
	// reported as "connect refused locally").
	uint64_t tw = (uint64_t)o->time_wait_ms * 4000;
	// (WebSocket: after the Close handshake the server closes TCP first, and
	// a client answering the server's Close closes as it answers: both sides)
	bool closes_first = o->ws || (gen ? o->close != CLOSE_SERVER_FIN
					  : o->close == CLOSE_SERVER_FIN || o->close == CLOSE_MIX);
	uint64_t slots = 2 * conc + 8192 + (closes_first ? tw : 0);
	if (o->hold) {
		// each shard holds its part of the concurrency (up to
		// ceil(conc / shards)), and its part of the slots follows the
		// table entries it owns: sized for the shard with the fewest
		// (conc alone gave it fewer than it was asked to hold when the
		// shard count does not divide the table)
		uint64_t q = (conc + o->shards - 1) / o->shards;
		unsigned fewest = cee_flow_entries(o->shards - 1, o->shards);
		slots = (q * CEE_RETA_SIZE + fewest - 1) / fewest;
	}
	// (the TIME-WAIT room trimmed to what the pools hold: above it one
	// shard's engine failed at set-up with a bare "Invalid argument")
	uint64_t most = bench_slots_most(o);
	return (uint32_t)(slots < most ? slots : most);
}

// Whether both engines' slots fit their pools (before any set-up): the
// engine's --max-conns a shard, and the concurrency (the connections held
// at once) on each side. @return 0, or -EINVAL with a message.
static int bench_slots_check(const struct opts *o)
{
	uint64_t most = bench_slots_most(o);
	if (o->max_conns > most) {
		fprintf(stderr,
			"cee-bench: --max-conns %u: %u a shard, more than a shard holds (%u); "
			"give at most %" PRIu64 " (or more --shards)\n",
			o->max_conns, cee_flow_share(o->max_conns, 0, o->shards), CEE_CONN_POOL_MAX,
			most);
		return -EINVAL;
	}
	if (o->concurrency > most) {
		fprintf(stderr,
			"cee-bench: --concurrency %u: more connections than the engines hold "
			"(%u a shard, at most %" PRIu64 " on %u shard(s)); lower it (or more "
			"--shards)\n",
			o->concurrency, CEE_CONN_POOL_MAX, most, o->shards);
		return -EINVAL;
	}
	return 0;
}

static struct cee_engine *make_engine(bool gen)
{
	struct cee_engine_cfg c;
	cee_engine_cfg_default(&c);
	const struct opts *o = &B.o;
	c.name = gen ? "gen" : "eng";
	c.nshards = o->shards;
	c.first_worker = gen ? o->shards : 0;
	c.port_mask = UINT32_C(1) << link_port[gen ? 1 : 0];
	c.prefix_len = 8;
	c.poll_idle_us = 0;
	c.nmbufs = 32768 * o->shards;
	c.tcp.time_wait_ns = (uint64_t)o->time_wait_ms * 1000000;
	c.tcp.cc = o->cc;
	c.tcp.timestamps = o->ts;
	c.tcp.sack = !o->no_sack;
	c.tcp.delack = !o->no_delack;
	c.tcp.sndbuf = round_up(o->payload > 1024 ? o->payload : 1024, 1024);
	// TLS: a handshake flight (certificates) and whole records (16 KiB + 5 +
	// 256) must fit, and a quarter is kept back by the paced window
	if ((o->tls || o->ws) && c.tcp.sndbuf < 32768)
		c.tcp.sndbuf = 32768;
	// TLS: the payload goes out whole in records of up to 16 KiB, each with
	// its header, tag and padding (64 bytes is room for any suite), beside
	// the end of the handshake (the client's Finished may not be acked
	// yet): --tls --payload 32768 needed 32812 bytes of a 32768 buffer,
	// and every connection was aborted with no_resources
	if (o->tls) {
		uint32_t need = round_up(o->payload + (o->payload / 16384 + 1) * 64 + 1024, 1024);
		if (c.tcp.sndbuf < need)
			c.tcp.sndbuf = need;
	}
	// WebSocket: a message is echoed whole (the engine's --ws-max-message rule)
	if (o->ws && c.tcp.sndbuf < 2 * o->payload + 64)
		c.tcp.sndbuf = round_up(2 * o->payload + 64, 1024);
	if (gen && o->gen_sndbuf != 0) { // (checked at start: with a layer)
		c.tcp.sndbuf = o->gen_sndbuf;
		c.tcp.sndbuf_max = o->gen_sndbuf; // (not grown for a long path either)
		// the echo's messages, each one of ours, come in whole: the
		// engine's default bound follows the send buffer, for an echo
		// that writes them back (at 8192, 4080: every echo of a 7.9 KiB
		// message was refused, 1009)
		if (o->ws)
			c.ws.max_message = c.ws.max_frame = 65536;
	}
	c.max_conns = bench_slots(o, gen);
	uint64_t bufs = (uint64_t)o->concurrency / o->shards + 1024;
	c.sndbufs = (uint32_t)(bufs < (1u << 20) ? bufs : 1u << 20);
	if (gen) {
		c.ip = GEN_IP;
		c.ip_count = GEN_IPS;
		c.no_events = true;
		c.app = &gen_app;
		c.app_arg = &B;
		c.tls_client_on = o->tls;
		c.tls_client.ca_file = o->tls_ca;
		c.ws_client_on = o->ws;
	} else {
		c.ip = ENG_IP;
		c.listeners[0] = (struct cee_listener){
		    .port = PORT_ECHO, .service = CEE_TCP_SVC_ECHO, .tls = o->tls, .ws = o->ws};
		c.listeners[1] = (struct cee_listener){.port = PORT_ECHO_CLOSE,
						       .service = CEE_TCP_SVC_ECHO_CLOSE,
						       .tls = o->tls,
						       .ws = o->ws};
		c.nlisteners = 2;
		c.tls_budget_us = o->tls_budget_us;
		c.tls.cert_file = o->tls_cert;
		c.tls.key_file = o->tls_key;
		c.syn_cookies = o->syn_cookies;
		c.sinks[c.nsinks++] = "audit:";
		if (o->engine_id != NULL)
			snprintf(c.engine_id, sizeof(c.engine_id), "%s", o->engine_id);
		// figures count delivered (for NATS, acknowledged) events: the
		// shutdown waits this long for a slow sink
		c.shutdown_timeout_ns = 30ull * 1000000000;
		for (unsigned i = 0; i < o->nsinks; i++)
			c.sinks[c.nsinks++] = o->sinks[i];
	}
	return cee_engine_create(&c);
}

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* ---- report ------------------------------------------------------------------- */

struct report {
	double seconds, cps, cps_mean;
	double cps_first; /**< the first second's rate (not in cps when there are more) */
	uint64_t lifecycles, errors, connect_fail, refused, refused_ring, retransmits, drops;
	uint64_t echo_mismatch; /**< echoes that differed from what was sent */
	uint64_t send_waits; /**< sends that waited for room (--gen-sndbuf) */
	uint64_t stalled; /**< connections still open when the drain ended (in errors too) */
	uint64_t lifecycles_drained; /**< finished after the measured phase (not in the rates) */
	uint64_t events_measured;    /**< events audited by the end of the measured phase */
	uint64_t hold_established;   /**< --hold: connections that came up (handshakes done) */
	uint64_t rss_base, rss_max, conns_peak, bytes_per_conn;
	struct hist hs;
	struct cee_audit_result ar;
	uint64_t exported;
	uint64_t imp_lost, imp_reordered, imp_dup;
	double busy_eng, busy_gen; /**< share of the lcores' time spent on work, 0..1 */
	/* --tls */
	uint64_t tls_handshakes, tls_resumed, tls_failures; /**< the engine's TLS counters */
	double per_busy_s;    /**< lifecycles per second of engine-shard busy time */
	double cpu_ns_eng, cpu_ns_gen; /**< the shard lcores' CPU time per lifecycle (lcores_cpu_ns) */
	double tls_max_us;    /**< longest single TLS input on an engine shard */
	double tls_mean_us;   /**< engine TLS time per handshake */
	double poll_max_us;   /**< longest engine poll iteration that found work */
	uint64_t polls_over_2ms, tls_deferred; /**< engine iterations > 2 ms; handshakes deferred */
	uint64_t tls_over_1ms; /**< engine TLS inputs over 1 ms */
	int64_t tls_heap;     /**< wolfSSL heap bytes at the end of the measured phase */
	uint64_t tls_heap_ends; /**< connection ends live when tls_heap was read */
	uint64_t gen_opened, mon_fired, mon_gone, mon_failed; /**< --monitor */
	/* --syn-flood: spoofed SYNs in the measured phase (sent per second of it,
	 * lost on a full link ring, not built; the generators' time on them);
	 * the engine's cookie counters by the end; its half-open connections
	 * (peak of the per-second samples, at the end of the measured phase);
	 * open events by remote address; frames the generators dropped as not
	 * for them and the RSTs they sent for segments of no connection */
	uint64_t flood_sent, flood_txdrop, flood_nombuf;
	double flood_pps, flood_gen_share;
	uint64_t cookies_sent, cookies_ok, cookies_bad, half_open_peak, half_open_end;
	uint64_t opens_spoofed, opens_legit, gen_not_for_us, gen_rst;
#ifdef CEE_HAVE_NATS
	/** --events nats://: counters at the end of the measured phase and at the end */
	struct cee_sink_nats_stats nats_run[CEE_MAX_SINKS], nats_end[CEE_MAX_SINKS];
	double nats_idle_s; /**< engine shutdown until all acknowledged (s); -1: timed out */
#endif
};

#ifdef CEE_HAVE_NATS
// The NATS sinks' counters: events acknowledged by the end of the measured
// phase (per second of it) and by the end, after the wait for the acks.
static void print_nats(const struct report *r)
{
	const struct opts *o = &B.o;
	for (unsigned i = 0; i < B.nnats; i++) {
		const struct cee_sink_nats_stats *a = &r->nats_run[i], *e = &r->nats_end[i];
		double eps = r->seconds > 0 ? (double)a->events / r->seconds : 0;
		if (!o->json) {
			printf("nats           %s\n"
			       "               %.0f events/s acknowledged in the run; by the end %" PRIu64
			       " events in %" PRIu64 " messages (%.1f MB), idle after %.2f s\n"
			       "               republished %" PRIu64 ", timeouts %" PRIu64
			       ", no responders %" PRIu64 ", window full %" PRIu64 "\n",
			       B.nats[i]->spec, eps, e->events, e->acked, (double)e->bytes / 1e6,
			       r->nats_idle_s, e->republished, e->fail_timeout, e->fail_no_responders,
			       e->window_full);
			continue;
		}
		printf("%s{\"spec\":\"%s\",\"events_per_s\":%.0f,\"run\":{\"events\":%" PRIu64
		       ",\"messages\":%" PRIu64 ",\"bytes\":%" PRIu64 "},",
		       i ? "," : "\"nats\":[", B.nats[i]->spec, eps, a->events, a->acked, a->bytes);
		printf("\"end\":{\"idle_after_s\":%.3f,\"events\":%" PRIu64 ",\"messages\":%" PRIu64
		       ",\"bytes\":%" PRIu64 ",\"published\":%" PRIu64 ",\"duplicates\":%" PRIu64
		       ",\"republished\":%" PRIu64 ",\"fail\":{\"timeout\":%" PRIu64
		       ",\"no_responders\":%" PRIu64 ",\"api\":%" PRIu64 ",\"publish\":%" PRIu64
		       ",\"other\":%" PRIu64 ",\"connection\":%" PRIu64 "},\"sealed_size\":%" PRIu64 ",\"sealed_age\":%" PRIu64
		       ",\"window_full\":%" PRIu64 ",\"disconnects\":%" PRIu64
		       ",\"max_call_us\":%.0f,\"calls_over_1ms\":%" PRIu64
		       ",\"stream_recreated\":%" PRIu64 ",\"inflight\":%u,\"sealed\":%u,\"window\":%u}}%s",
		       r->nats_idle_s, e->events, e->acked, e->bytes, e->published,
		       e->acked_duplicate, e->republished, e->fail_timeout, e->fail_no_responders,
		       e->fail_api, e->fail_publish, e->fail_other, e->fail_connection,
		       e->sealed_size, e->sealed_age, e->window_full, e->disconnects, (double)e->max_call_ns / 1e3,
		       e->calls_over_1ms, e->stream_recreated, e->inflight, e->sealed, e->window,
		       i + 1 == B.nnats ? "]," : "");
	}
}
#endif

static void print_report(const struct report *r)
{
	const struct opts *o = &B.o;
	// events of the measured phase per second of it (the drain's and the
	// shutdown's are in "events", not in the rate)
	double evs = r->seconds > 0 ? (double)r->events_measured / r->seconds : 0;
	if (o->json) {
		printf("{\"name\":\"cee-bench\",\"shards\":%u,\"seconds\":%.3f,\"concurrency\":%u,"
		       "\"payload\":%u,\"close\":\"%s\",\"rate\":%.0f,\"loss\":%g,\"reorder\":%g,"
		       "\"dup\":%g,\"time_wait_ms\":%u,\"hold\":%s,\"layers\":\"%s\",",
		       o->shards, r->seconds, o->concurrency, o->payload, close_names[o->close],
		       o->rate, o->loss, o->reorder, o->dup, o->time_wait_ms,
		       o->hold ? "true" : "false",
		       o->ws ? (o->tls ? "wss" : "ws") : (o->tls ? "tls" : "tcp"));
		printf("\"lifecycles\":%" PRIu64 ",\"lifecycles_drained\":%" PRIu64
		       ",\"cps\":%.0f,\"cps_mean\":%.0f,\"cps_first_s\":%.0f,\"events\":%" PRIu64
		       ",\"events_per_s\":%.0f,\"errors\":%" PRIu64 ",\"connect_fail\":%" PRIu64
		       ",\"refused\":%" PRIu64 ",\"refused_ring\":%" PRIu64 ",\"retransmits\":%" PRIu64
		       ",\"drops\":%" PRIu64 ",\"echo_mismatch\":%" PRIu64 ",\"stalled\":%" PRIu64
		       ",\"send_waits\":%" PRIu64 ",",
		       r->lifecycles, r->lifecycles_drained, r->cps, r->cps_mean, r->cps_first, r->exported, evs,
		       r->errors, r->connect_fail, r->refused, r->refused_ring, r->retransmits, r->drops,
		       r->echo_mismatch, r->stalled, r->send_waits);
		if (o->hold)
			printf("\"hold_established\":%" PRIu64 ",", r->hold_established);
		printf("\"link\":{\"lost\":%" PRIu64 ",\"reordered\":%" PRIu64
		       ",\"duplicated\":%" PRIu64 "},",
		       r->imp_lost, r->imp_reordered, r->imp_dup);
		printf("\"handshake_ns\":{\"p50\":%" PRIu64 ",\"p99\":%" PRIu64 ",\"p999\":%" PRIu64
		       "},\"event_latency_ns\":{\"p50\":%" PRIu64 ",\"p99\":%" PRIu64 "},",
		       hpct(&r->hs, 0.5), hpct(&r->hs, 0.99), hpct(&r->hs, 0.999),
		       hpct(&B.evt_latency, 0.5), hpct(&B.evt_latency, 0.99));
		printf("\"busy\":{\"engine\":%.3f,\"generator\":%.3f},", r->busy_eng, r->busy_gen);
		printf("\"cpu_ns_per_lifecycle\":{\"engine\":%.1f,\"generator\":%.1f},", r->cpu_ns_eng,
		       r->cpu_ns_gen);
		if (o->monitor)
			printf("\"monitor\":{\"opened\":%" PRIu64 ",\"fired\":%" PRIu64
			       ",\"gone\":%" PRIu64 ",\"failed\":%" PRIu64 "},",
			       r->gen_opened, r->mon_fired, r->mon_gone, r->mon_failed);
		if (o->tls)
			printf("\"tls\":{\"resume\":%s,\"handshakes\":%" PRIu64
			       ",\"resumed\":%" PRIu64 ",\"failures\":%" PRIu64
			       ",\"per_engine_busy_s\":%.0f,\"engine_tls_us_per_hs\":%.1f,"
			       "\"max_stall_us\":%.1f,\"poll_max_us\":%.1f,\"polls_over_2ms\":%" PRIu64
			       ",\"deferred\":%" PRIu64 ",\"inputs_over_1ms\":%" PRIu64
			       ",\"heap_bytes\":%" PRId64
			       ",\"heap_per_conn_end\":%.0f},",
			       o->tls_resume ? "true" : "false", r->tls_handshakes, r->tls_resumed,
			       r->tls_failures, r->per_busy_s, r->tls_mean_us, r->tls_max_us,
			       r->poll_max_us, r->polls_over_2ms, r->tls_deferred, r->tls_over_1ms,
			       r->tls_heap,
			       r->tls_heap_ends ? (double)r->tls_heap / (double)r->tls_heap_ends : 0);
#ifdef CEE_HAVE_NATS
		print_nats(r);
#endif
		printf("\"syn_flood\":{\"pps_offered\":%.0f,\"pps_sent\":%.0f,\"sent\":%" PRIu64
		       ",\"tx_drops\":%" PRIu64 ",\"no_mbuf\":%" PRIu64 ",\"generator_share\":%.3f,"
		       "\"syn_cookies\":\"%s\",\"cookies_sent\":%" PRIu64 ",\"cookies_ok\":%" PRIu64
		       ",\"cookies_bad\":%" PRIu64 ",\"half_open_peak\":%" PRIu64
		       ",\"half_open_end\":%" PRIu64 ",\"opens_spoofed\":%" PRIu64
		       ",\"opens_legit\":%" PRIu64 ",\"gen_not_for_us\":%" PRIu64
		       ",\"gen_rst_no_conn\":%" PRIu64 "},",
		       o->syn_flood, r->flood_pps, r->flood_sent, r->flood_txdrop, r->flood_nombuf,
		       r->flood_gen_share, syn_cookies_names[o->syn_cookies], r->cookies_sent,
		       r->cookies_ok, r->cookies_bad, r->half_open_peak, r->half_open_end,
		       r->opens_spoofed, r->opens_legit, r->gen_not_for_us, r->gen_rst);
		printf("\"rss_bytes\":%" PRIu64 ",\"rss_base_bytes\":%" PRIu64
		       ",\"conns_peak\":%" PRIu64 ",\"bytes_per_conn\":%" PRIu64 ",",
		       r->rss_max, r->rss_base, r->conns_peak, r->bytes_per_conn);
		printf("\"audit\":{\"ok\":%s,\"events\":%" PRIu64 ",\"opens\":%" PRIu64
		       ",\"closes\":%" PRIu64 ",\"destroys\":%" PRIu64 ",\"lost\":%" PRIu64
		       ",\"duplicate\":%" PRIu64 ",\"out_of_order\":%" PRIu64 ",\"gaps\":%" PRIu64
		       ",\"ext\":%" PRIu64 ",\"ext_bad\":%" PRIu64 "}}\n",
		       r->ar.ok ? "true" : "false", r->ar.events, r->ar.opens, r->ar.closes,
		       r->ar.destroys, r->ar.lost, r->ar.duplicate, r->ar.out_of_order, r->ar.gaps,
		       r->ar.ext, r->ar.ext_bad);
		return;
	}
	printf("\n==== cee-bench: %u engine shard(s), %u generator(s), %.2f s ====\n", o->shards,
	       o->shards, r->seconds);
	printf("scenario       %s close=%s payload=%u concurrency=%u rate=%s time-wait=%ums "
	       "loss=%g reorder=%g dup=%g%s\n",
	       o->ws ? (o->tls ? "wss" : "ws") : (o->tls ? "tls" : "tcp"), close_names[o->close],
	       o->payload, o->concurrency, o->rate > 0 ? "limited" : "max", o->time_wait_ms, o->loss,
	       o->reorder, o->dup, o->hold ? " hold" : "");
	printf("lifecycles     %" PRIu64 " (errors %" PRIu64 ", connect refused locally %" PRIu64
	       ", refused by engine %" PRIu64 " (%" PRIu64 " for want of event ring room); %" PRIu64
	       " more finished in the drain)\n",
	       r->lifecycles, r->errors, r->connect_fail, r->refused, r->refused_ring,
	       r->lifecycles_drained);
	if (r->echo_mismatch || r->stalled)
		printf("FAULTS         %" PRIu64 " echoes differed from what was sent, %" PRIu64
		       " connections still open after the drain\n",
		       r->echo_mismatch, r->stalled);
	if (o->hold)
		printf("hold           %" PRIu64 " of %u connections up when measured\n",
		       r->hold_established, o->concurrency);
	printf("conns/s        %.0f median of the seconds after the first (the first: %.0f), "
	       "%.0f mean\n",
	       r->cps, r->cps_first, r->cps_mean);
	printf("events         %" PRIu64 " exported, %.0f/s in the measured phase\n", r->exported,
	       evs);
	printf("handshake      p50 %.1f us  p99 %.1f us  p99.9 %.1f us (generator's view)\n",
	       (double)hpct(&r->hs, 0.5) / 1e3, (double)hpct(&r->hs, 0.99) / 1e3,
	       (double)hpct(&r->hs, 0.999) / 1e3);
	printf("event latency  p50 %.1f us  p99 %.1f us (engine rx poll -> exported)\n",
	       (double)hpct(&B.evt_latency, 0.5) / 1e3, (double)hpct(&B.evt_latency, 0.99) / 1e3);
	if (o->syn_flood > 0 || r->cookies_sent || r->opens_spoofed ||
	    o->syn_cookies != CEE_SYN_COOKIES_AUTO)
		printf("syn flood      offered %.0f/s, sent %.0f/s (%" PRIu64 " SYNs; lost on a full "
		       "link %" PRIu64 ", no mbuf %" PRIu64 "; %.0f%% of the generators' time)\n"
		       "               engine (--syn-cookies %s): cookies sent %" PRIu64 " (ok %" PRIu64
		       ", bad %" PRIu64 "), half open peak %" PRIu64 " (end %" PRIu64 "), refused %" PRIu64
		       "\n"
		       "               open events: %" PRIu64 " from spoofed addresses, %" PRIu64
		       " legitimate;\n"
		       "               generators dropped %" PRIu64 " frames not for them, sent %" PRIu64
		       " RSTs for no connection\n",
		       o->syn_flood, r->flood_pps, r->flood_sent, r->flood_txdrop, r->flood_nombuf,
		       r->flood_gen_share * 100, syn_cookies_names[o->syn_cookies], r->cookies_sent,
		       r->cookies_ok, r->cookies_bad, r->half_open_peak, r->half_open_end, r->refused,
		       r->opens_spoofed, r->opens_legit, r->gen_not_for_us, r->gen_rst);
	printf("retransmits    %" PRIu64 "   link: lost %" PRIu64 " reordered %" PRIu64
	       " duplicated %" PRIu64 "   engine drops %" PRIu64 "\n",
	       r->retransmits, r->imp_lost, r->imp_reordered, r->imp_dup, r->drops);
	printf("lcores busy    engine %.0f%%  generator %.0f%% (poll iterations that found work)\n",
	       r->busy_eng * 100, r->busy_gen * 100);
	printf("lcores CPU     engine %.0f ns  generator %.0f ns per lifecycle (their threads' time on a "
	       "CPU)\n",
	       r->cpu_ns_eng, r->cpu_ns_gen);
	if (o->monitor)
		printf("monitors       %" PRIu64 " fired for %" PRIu64 " generator connections (%" PRIu64
		       " gone, %" PRIu64 " not added)\n",
		       r->mon_fired, r->gen_opened, r->mon_gone, r->mon_failed);
	if (o->tls)
		printf("tls            %" PRIu64 " handshakes (%" PRIu64 " resumed, %" PRIu64
		       " failed); %.0f lifecycles per engine-shard busy second;\n"
		       "               engine TLS %.1f us per handshake, longest TLS input %.1f us, "
		       "longest poll %.1f us,\n"
		       "               %" PRIu64 " polls over 2 ms, %" PRIu64 " handshake inputs deferred, %" PRIu64
		       " TLS inputs over 1 ms;\n"
		       "               wolfSSL heap %.1f MiB (%.0f B per connection end)\n",
		       r->tls_handshakes, r->tls_resumed, r->tls_failures, r->per_busy_s,
		       r->tls_mean_us, r->tls_max_us, r->poll_max_us, r->polls_over_2ms, r->tls_deferred,
		       r->tls_over_1ms,
		       (double)r->tls_heap / 1048576.0,
		       r->tls_heap_ends ? (double)r->tls_heap / (double)r->tls_heap_ends : 0);
	printf("memory         RSS %.1f MiB (%.1f MiB before traffic), peak %" PRIu64
	       " connection ends live, %" PRIu64 " B each\n",
	       (double)r->rss_max / 1048576.0, (double)r->rss_base / 1048576.0, r->conns_peak,
	       r->bytes_per_conn);
#ifdef CEE_HAVE_NATS
	print_nats(r);
#endif
	printf("audit          %s: %" PRIu64 " events, %" PRIu64 " opens, %" PRIu64 " closes, %" PRIu64
	       " destroys; lost %" PRIu64 ", duplicate %" PRIu64 ", out of order %" PRIu64
	       ", gaps %" PRIu64 "\n",
	       r->ar.ok ? "PASS" : "FAIL", r->ar.events, r->ar.opens, r->ar.closes, r->ar.destroys,
	       r->ar.lost, r->ar.duplicate, r->ar.out_of_order, r->ar.gaps);
}

/* ---- main ----------------------------------------------------------------------- */

static int export_once(void)
{
	int n = cee_engine_poll(B.eng);
	if (n < 0) {
		fprintf(stderr, "cee-bench: event sink failed: %s\n", strerror(-n));
		return n;
	}
	// Nothing to export: sleep. On a core shared with an engine shard
	// every wake-up preempts the shard, so the sleep trades event latency
	// for fewer context switches (--export-sleep).
	if (n == 0 && B.o.export_sleep_us)
		usleep(B.o.export_sleep_us);
	return n;
}

int main(int argc, char **argv)
{
	// --help needs no EAL (which would print its own options instead)
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout, "cee-bench");
			return 0;
		}
	int rc = rte_eal_init(argc, argv);
	if (rc < 0) {
		fprintf(stderr, "cee-bench: EAL init failed: %s\n", rte_strerror(rte_errno));
		return 2;
	}
	argc -= rc;
	argv += rc;
	argv[0] = (char *)"cee-bench";
	rc = parse_opts(&B.o, argc, argv);
	if (rc != 0) {
		rte_eal_cleanup();
		return rc > 0 ? 0 : 2;
	}
	struct opts *o = &B.o;
	if (bench_slots_check(o) < 0) {
		rte_eal_cleanup();
		return 2;
	}
	if (rte_lcore_count() < 1 + 2 * o->shards) {
		fprintf(stderr,
			"cee-bench: %u shard(s) need %u worker lcores (engine + generator) besides "
			"the main one; have %u (e.g. --lcores 0@1,1@1,2@0)\n",
			o->shards, 2 * o->shards, rte_lcore_count() - 1);
		rte_eal_cleanup();
		return 2;
	}
	// (12 bytes of each segment go to the timestamp option: a 1460-byte
	// payload came in two segments, the server echoed the first and
	// closed, and every echo-close lifecycle was an error)
	// --gen-sndbuf: TLS and WebSocket stream a payload in pieces (records,
	// messages) as ACKs make room; a plain send is cut where the buffer
	// ends, so below the payload the run would stall or fail
	if (o->gen_sndbuf != 0 && !o->tls && !o->ws) {
		fprintf(stderr, "cee-bench: --gen-sndbuf is for --tls, --ws or --wss\n");
		rte_eal_cleanup();
		return 2;
	}
	uint32_t seg_most = o->ts ? 1448 : 1460;
	if ((o->close == CLOSE_SERVER_FIN || o->close == CLOSE_MIX) && o->payload > seg_most) {
		fprintf(stderr,
			"cee-bench: server-fin and mix echo one segment: --payload <= %u%s\n",
			seg_most, o->ts ? " (with --timestamps on)" : "");
		rte_eal_cleanup();
		return 2;
	}
	for (size_t i = 0; i < sizeof(B.payload); i++) // (the kernel baseline's pattern)
		B.payload[i] = (uint8_t)(i * 131 + 17);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	B.audit = cee_audit_create();
	if (B.audit == NULL || cee_sink_register("audit", audit_open) < 0 ||
	    link_create(o->shards) < 0) {
		fprintf(stderr, "cee-bench: set-up failed: %s\n", strerror(errno));
		return setup_failed();
	}
#ifdef CEE_HAVE_NATS
	// the kind cee_sink_nats_register() adds, through bench_nats_open
	if (cee_sink_register("nats", bench_nats_open) < 0)
		fprintf(stderr, "cee-bench: the nats sink kind was registered before: its "
				"counters are not reported\n");
#endif
	B.eng = make_engine(false);
	B.gen = B.eng ? make_engine(true) : NULL;
	if (B.gen == NULL) {
		fprintf(stderr, "cee-bench: engine set-up failed\n");
		return setup_failed();
	}
	struct rte_mempool *imp_mp = rte_pktmbuf_pool_create("bench_dup", 16384, 256, 0,
							     RTE_MBUF_DEFAULT_BUF_SIZE,
							     (int)rte_socket_id());
	if (imp_mp == NULL || impair_install(o->shards, imp_mp) < 0) {
		fprintf(stderr, "cee-bench: link impairment set-up failed\n");
		return setup_failed();
	}
	B.tsc_hz = (double)rte_get_tsc_hz();
	if (o->syn_flood > 0) {
		// room for full link rings and what the engine holds
		B.flood_mp = rte_pktmbuf_pool_create("bench_flood", (LINK_RING + 8192) * o->shards,
						     256, 0, RTE_PKTMBUF_HEADROOM + 128,
						     (int)rte_socket_id());
		if (B.flood_mp == NULL) {
			fprintf(stderr, "cee-bench: --syn-flood set-up failed\n");
			return setup_failed();
		}
		// the MAC the engine answers ARP with (the ring PMD has none: the
		// engine takes its own; frames to another are not_for_us)
		B.eng_mac = cee_engine_shard(B.eng, 0)->ports[0].mac;
	}
	for (unsigned i = 0; i < o->shards; i++) {
		B.gs[i].flood_rng = 0x9E3779B97F4A7C15ull * (i + 7);
		B.gs[i].quota = o->conns ? o->conns / o->shards + (i < o->conns % o->shards)
					 : UINT64_MAX;
		if (o->hold && B.gs[i].quota == UINT64_MAX)
			B.gs[i].quota = o->concurrency / o->shards + (i < o->concurrency % o->shards);
		B.gs[i].rng = 0x2545F4914F6CDD1Dull + i;
	}

	struct report r;
	memset(&r, 0, sizeof(r));
	r.rss_base = rss_bytes();
	r.rss_max = r.rss_base;
	if (cee_engine_start(B.eng) < 0 || cee_engine_start(B.gen) < 0) {
		fprintf(stderr, "cee-bench: cannot launch the lcores\n");
		return setup_failed();
	}

	unsigned max_samples = (unsigned)(o->duration > 0 ? o->duration : 0) + 3600;
	uint64_t *samples = calloc(max_samples, sizeof(*samples));
	unsigned nsamples = 0;
	double t0 = now_s(), next = t0 + 1, t_end_open = t0, t_prev = t0;
	uint64_t cpu0_eng = lcores_cpu_ns(B.eng, o->shards), cpu0_gen = lcores_cpu_ns(B.gen, o->shards);
	struct totals prev, cur;
	memset(&prev, 0, sizeof(prev));
	uint64_t prev_events = 0;
	bool failed = false;
	for (;;) {
		if (export_once() < 0) {
			failed = true;
			break;
		}
		double t = now_s();
		if (t >= next) {
			totals(&cur);
			uint64_t ev = B.audited;
			// since the last sample, taken when it was (a late one took
			// the next one's time: both rates off by the lateness)
			double dt = t - t_prev;
			t_prev = t;
			uint64_t life = cur.lifecycles - prev.lifecycles;
			if (nsamples < max_samples)
				samples[nsamples++] = (uint64_t)((double)life / dt);
			uint64_t live = cur.eng_live + cur.gen_live;
			if (live > r.conns_peak)
				r.conns_peak = live;
			if (cur.half_open > r.half_open_peak)
				r.half_open_peak = cur.half_open;
			uint64_t rss = rss_bytes();
			if (rss > r.rss_max)
				r.rss_max = rss;
			fprintf(stderr,
				"cee-bench: t=%.0fs new=%.0f/s done=%.0f/s active=%" PRIu64
				" rx=%.2fMpps tx=%.2fMpps events=%.0f/s refused=%" PRIu64
				" retrans=%" PRIu64 " errors=%" PRIu64 " busy eng=%.0f%% gen=%.0f%%\n",
				t - t0, (double)(cur.opened - prev.opened) / dt, (double)life / dt,
				o->hold ? cur.hold_est : cur.active,
				(double)(cur.eng_rx - prev.eng_rx) / dt / 1e6,
				(double)(cur.eng_tx - prev.eng_tx) / dt / 1e6,
				(double)(ev - prev_events) / dt, cur.refused, cur.retransmits, cur.errors,
				busy_pct(cur.eng_busy - prev.eng_busy, dt),
				busy_pct(cur.gen_busy - prev.gen_busy, dt));
			prev = cur;
			prev_events = ev;
			// (a sample more than a second late: the next one a second
			// from now, not at once with a few microseconds' rates)
			next += 1;
			if (next <= t)
				next = t + 1;
		}
		if (interrupted)
			break;
		if (o->conns) {
			totals(&cur);
			if (cur.opened + cur.connect_fail >= o->conns && cur.active == 0)
				break;
		} else if (t - t0 >= o->duration) {
			break;
		}
	}
	t_end_open = now_s();
	struct totals at_end;
	totals(&at_end);
	r.events_measured = B.audited;
	if (o->tls && !o->hold) {
		// the heap of the measured phase's connections (the drain closes them)
		r.tls_heap = cee_tls_heap_bytes();
		r.tls_heap_ends = at_end.eng_live + at_end.gen_live;
	}
	uint64_t cpu_eng = lcores_cpu_ns(B.eng, o->shards) - cpu0_eng;
	uint64_t cpu_gen = lcores_cpu_ns(B.gen, o->shards) - cpu0_gen;
#ifdef CEE_HAVE_NATS
	for (unsigned i = 0; i < B.nnats; i++)
		(void)cee_sink_nats_stats(B.nats[i], &r.nats_run[i]);
#endif
	atomic_store(&B.stop_opening, true);
	// Let the connections in flight finish (not counted in the rate).
	double drain_until = now_s() + (o->hold ? 0 : o->drain_s);
	while (!failed && !interrupted && now_s() < drain_until) {
		totals(&cur);
		// (eng_live counts announced connections: the spoofed half-open
		// ones of --syn-flood are not among them; the shutdown ends them)
		if (cur.active == 0 && cur.eng_live == 0)
			break;
		if (export_once() < 0)
			failed = true;
	}
	totals(&cur);
	// what the drain did not see end: a stuck connection (a lost FIN never
	// resent, a reassembly stall) closed with `shutdown` at teardown, which
	// counts no error, and the audit passed: now it is a fault (the kernel
	// baseline counts it as stalled too)
	// (the generator's side: the engine's live count includes its healthy
	// TIME-WAITs, up to --time-wait, which may outlast the drain)
	if (!o->hold && !failed)
		r.stalled = cur.active;
	if (o->hold) {
		// idle connections, all of them: the handshakes still under way
		// when the duration ended (TLS at ~2k/s) finish first (up to
		// --drain s), or their half-done state is measured as idle
		// (every connection opened is up or has failed: no more are
		// opened; a held one that closed counts in both, and in errors)
		double up_until = now_s() + o->drain_s;
		while (!failed && !interrupted && cur.hold_est + cur.errors < cur.opened &&
		       now_s() < up_until) {
			if (export_once() < 0)
				failed = true;
			totals(&cur);
		}
		uint64_t live = cur.eng_live + cur.gen_live;
		r.conns_peak = live;
		r.hold_established = cur.hold_est;
		r.rss_max = rss_bytes();
		if (o->tls) {
			r.tls_heap = cee_tls_heap_bytes();
			r.tls_heap_ends = live;
		}
	}
	atomic_store(&B.teardown, true);
	// Engine first: whatever it still holds closes with `shutdown` and
	// every event reaches the audit; then the generator.
	// (the shutdown waits, up to the engine's shutdown timeout, until every
	// sink took and delivered every event: cee_exporter_idle(); for a NATS
	// sink, acknowledged)
	double t_shutdown = now_s();
	int src = cee_engine_shutdown(B.eng);
#ifdef CEE_HAVE_NATS
	r.nats_idle_s = src < 0 ? -1 : now_s() - t_shutdown;
	for (unsigned i = 0; i < B.nnats; i++)
		(void)cee_sink_nats_stats(B.nats[i], &r.nats_end[i]);
#else
	(void)t_shutdown;
#endif
	(void)cee_engine_shutdown(B.gen);
	// every generator connection is closed now: each monitor fired once
	for (unsigned i = 0; i < o->shards; i++) {
		r.gen_opened += B.gs[i].opened;
		r.mon_fired += B.gs[i].mon_fired;
		r.mon_gone += B.gs[i].mon_gone;
		r.mon_failed += B.gs[i].mon_failed;
	}
	if (src < 0)
		failed = true;

	totals(&cur);
	r.seconds = t_end_open - t0;
	r.busy_eng = busy_pct(at_end.eng_busy, r.seconds) / 100;
	r.busy_gen = busy_pct(at_end.gen_busy, r.seconds) / 100;
	// the measured phase's (the rates' numerator); the drain's apart
	r.lifecycles = at_end.lifecycles;
	r.lifecycles_drained = cur.lifecycles - at_end.lifecycles;
	r.errors = cur.errors + r.stalled;
	r.echo_mismatch = cur.mismatch;
	r.send_waits = cur.send_waits;
	r.connect_fail = cur.connect_fail;
	r.refused = cur.refused;
	r.refused_ring = cur.refused_ring;
	r.retransmits = cur.retransmits;
	r.drops = cur.eng_drops;
	r.flood_sent = at_end.flood_sent;
	r.flood_txdrop = at_end.flood_txdrop;
	r.flood_nombuf = at_end.flood_nombuf;
	r.flood_pps = r.seconds > 0 ? (double)at_end.flood_sent / r.seconds : 0;
	r.flood_gen_share = busy_pct(at_end.flood_tsc, r.seconds) / 100;
	r.cookies_sent = cur.cookies_sent;
	r.cookies_ok = cur.cookies_ok;
	r.cookies_bad = cur.cookies_bad;
	r.half_open_end = at_end.half_open;
	if (at_end.half_open > r.half_open_peak)
		r.half_open_peak = at_end.half_open;
	r.opens_spoofed = B.opens_spoofed;
	r.opens_legit = B.opens_legit;
	r.gen_not_for_us = cur.gen_not_for_us;
	r.gen_rst = cur.gen_rst;
	r.cps_mean = r.seconds > 0 ? (double)at_end.lifecycles / r.seconds : 0;
	double hz = (double)rte_get_tsc_hz();
	if (at_end.eng_busy)
		r.per_busy_s = (double)at_end.lifecycles / ((double)at_end.eng_busy / hz);
	if (at_end.lifecycles) {
		r.cpu_ns_eng = (double)cpu_eng / (double)at_end.lifecycles;
		r.cpu_ns_gen = (double)cpu_gen / (double)at_end.lifecycles;
	}
	for (unsigned i = 0; i < o->shards; i++) {
		struct cee_shard *e = cee_engine_shard(B.eng, i);
		if (e->tls_srv != NULL) {
			const struct cee_tls_stats *ts = cee_tls_ctx_stats(e->tls_srv);
			r.tls_handshakes += ts->handshakes;
			r.tls_resumed += ts->resumed;
			r.tls_failures += ts->handshake_failures;
		}
		double mx = (double)e->stats.tls_max_tsc / hz * 1e6;
		double pm = (double)e->stats.poll_max_tsc / hz * 1e6;
		r.tls_max_us = mx > r.tls_max_us ? mx : r.tls_max_us;
		r.poll_max_us = pm > r.poll_max_us ? pm : r.poll_max_us;
		r.tls_mean_us += (double)e->stats.tls_tsc / hz * 1e6;
		r.polls_over_2ms += e->stats.polls_over_2ms;
		r.tls_deferred += e->stats.tls_deferred;
		r.tls_over_1ms += e->stats.tls_over_1ms;
	}
	r.tls_mean_us = r.tls_handshakes ? r.tls_mean_us / (double)r.tls_handshakes : 0;
	// Whole seconds of the measured phase only (the last partial one is out),
	// and not the first when there are more: it holds the start-up (the
	// ramp to --concurrency, ARP, first use of the slots' pages), 8-11%
	// below the rest, and of a 2-second run it was half the median
	unsigned skip = nsamples >= 2;
	r.cps_first = nsamples ? (double)samples[0] : 0;
	r.cps = nsamples ? median(samples + skip, nsamples - skip) : r.cps_mean;
	if (r.conns_peak)
		r.bytes_per_conn = (r.rss_max - r.rss_base) / r.conns_peak;
	for (unsigned i = 0; i < o->shards; i++)
		hmerge(&r.hs, &B.gs[i].handshake);
	for (unsigned side = 0; side < 2; side++)
		for (unsigned q = 0; q < o->shards; q++) {
			r.imp_lost += imps[side][q].lost;
			r.imp_reordered += imps[side][q].reordered;
			r.imp_dup += imps[side][q].duplicated;
		}
	r.exported = B.audited;
	cee_audit_finish(B.audit, false, &r.ar);
	print_report(&r);
	if (o->verbose) {
		fprintf(stderr, "engine: ");
		cee_engine_stats_json(B.eng, stderr);
		fprintf(stderr, "generator: ");
		cee_engine_stats_json(B.gen, stderr);
	}
	if (!r.ar.ok)
		cee_audit_print_violations(B.audit, stderr);

	impair_remove(o->shards);
	for (unsigned i = 0; i < o->shards; i++)
		cee_tls_session_free(B.gs[i].session);
	cee_engine_destroy(B.eng);
	cee_engine_destroy(B.gen);
	rte_mempool_free(imp_mp);
	for (unsigned side = 0; side < 2; side++)
		for (unsigned q = 0; q < o->shards; q++)
			rte_ring_free(link_rings[side][q]);
	rte_mempool_free(B.flood_mp); // after the rings: they may hold its mbufs
	cee_audit_destroy(B.audit);
	free(samples);
	rte_eal_cleanup();
	if (failed)
		return 1;
	if (r.echo_mismatch || r.stalled) {
		fprintf(stderr, "cee-bench: %" PRIu64 " echoes differed, %" PRIu64
			" connections stalled: the figures are not quotable\n",
			r.echo_mismatch, r.stalled);
		return 1;
	}
	if (r.ar.opens == 0) {
		fprintf(stderr, "cee-bench: no connection reached the engine: nothing measured\n");
		return 1;
	}
	return r.ar.ok ? 0 : 1;
}
