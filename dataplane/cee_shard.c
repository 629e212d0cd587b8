/* SPDX-License-Identifier: BSD-3-Clause */
// The shard poll loop: rx burst -> steer -> protocol -> timers -> tx flush.
// Events are pushed to the shard's ring as they happen (push never blocks:
// room was reserved at admission).
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include <rte_arp.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_jhash.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>
#include <rte_random.h>

#include "cee_clock.h"
#include "cee_ctl.h"
#include "cee_flow.h"
#include "cee_link.h"
#include "cee_shard.h"
#include "cee_shard_priv.h"
#include "cee_srclimit.h"
#include "cee_syncookie.h"

/* ---- clock ---------------------------------------------------------------- */

/*
 * The engine clock (cee_clock.h): a line from TSC to ns, re-anchored once a
 * second onto CLOCK_MONOTONIC by whichever shard finds the second up first
 * (on its pinned lcore: the control thread, preempted inside the write,
 * would hold every reader spinning), and published to every thread under a
 * sequence lock (the fields are atomics, stored release and read acquire).
 */
static struct {
	_Atomic uint32_t seq; // odd while the line is rewritten
	_Atomic uint64_t tsc0, ns0, ns_per_tsc; // the line (a double's bits)
	_Atomic uint64_t next_tsc;		// the next re-anchoring
	atomic_flag busy;			// a shard re-anchors
	struct cee_clock state;			// under busy
	uint64_t period_tsc;
	bool ready;
} clk = {.busy = ATOMIC_FLAG_INIT};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void clock_line_read(struct cee_clock_line *l)
{
	uint32_t s0, s1;
	do {
		// (no fences, which TSan does not take: the data loads acquire,
		// so the second sequence read cannot move before them; Boehm,
		// "Can seqlocks get along with programming language memory
		// models?", 2012)
		s0 = atomic_load_explicit(&clk.seq, memory_order_acquire);
		l->tsc0 = atomic_load_explicit(&clk.tsc0, memory_order_acquire);
		l->ns0 = atomic_load_explicit(&clk.ns0, memory_order_acquire);
		uint64_t bits = atomic_load_explicit(&clk.ns_per_tsc, memory_order_acquire);
		memcpy(&l->ns_per_tsc, &bits, sizeof(bits));
		s1 = atomic_load_explicit(&clk.seq, memory_order_relaxed);
	} while ((s0 & 1) || s0 != s1);
}

static void clock_line_write(const struct cee_clock_line *l)
{
	uint64_t bits;
	memcpy(&bits, &l->ns_per_tsc, sizeof(bits));
	uint32_t s = atomic_load_explicit(&clk.seq, memory_order_relaxed);
	atomic_store_explicit(&clk.seq, s + 1, memory_order_relaxed);
	// (release stores: the odd sequence cannot move after them, and a
	// reader that sees one of them sees the sequence odd or later)
	atomic_store_explicit(&clk.tsc0, l->tsc0, memory_order_release);
	atomic_store_explicit(&clk.ns0, l->ns0, memory_order_release);
	atomic_store_explicit(&clk.ns_per_tsc, bits, memory_order_release);
	atomic_store_explicit(&clk.seq, s + 2, memory_order_release);
}

// Once a second: the line moves onto CLOCK_MONOTONIC (one thread does it).
static void clock_maybe_adjust(uint64_t tsc)
{
	if (likely(tsc < atomic_load_explicit(&clk.next_tsc, memory_order_relaxed)))
		return;
	if (atomic_flag_test_and_set_explicit(&clk.busy, memory_order_acquire))
		return;
	if (tsc >= atomic_load_explicit(&clk.next_tsc, memory_order_relaxed)) {
		// the two readings taken together: a TSC read on each side of
		// clock_gettime(), again when something came between them (a
		// preempted vCPU skewed both the rate and the error)
		uint64_t mono = 0, t = 0, gap = UINT64_MAX, most = clk.period_tsc / 50000; // 20 us
		for (int k = 0; k < 4 && gap > most; k++) {
			uint64_t a = rte_rdtsc();
			uint64_t m = mono_ns();
			uint64_t b = rte_rdtsc();
			if (b - a < gap) {
				gap = b - a;
				mono = m;
				t = a + (b - a) / 2;
			}
		}
		cee_clock_adjust(&clk.state, t, mono);
		clock_line_write(&clk.state.line);
		atomic_store_explicit(&clk.next_tsc, t + clk.period_tsc, memory_order_relaxed);
	}
	atomic_flag_clear_explicit(&clk.busy, memory_order_release);
}

static uint64_t clock_read(uint64_t tsc)
{
	struct cee_clock_line l;
	clock_line_read(&l);
	return cee_clock_line_ns(&l, tsc);
}

// A shard's clock (it may re-anchor the line).
static uint64_t clock_of_tsc(uint64_t tsc)
{
	clock_maybe_adjust(tsc);
	return clock_read(tsc);
}

/* ---- SIGHUP: TLS files read again, sink files rotated ---------------------- */

static _Atomic uint32_t reload_gen;

void cee_reload_request(void)
{
	atomic_fetch_add_explicit(&reload_gen, 1, memory_order_relaxed);
}

uint32_t cee_reload_generation(void)
{
	return atomic_load_explicit(&reload_gen, memory_order_relaxed);
}

uint64_t cee_clock_ns(void)
{
	if (!clk.ready) {
		// First call (engine start-up, before the lcores launch).
		uint64_t mono = mono_ns(), t = rte_rdtsc();
		clk.period_tsc = rte_get_tsc_hz();
		cee_clock_init(&clk.state, t, mono, 1e9 / (double)rte_get_tsc_hz());
		clock_line_write(&clk.state.line);
		atomic_store_explicit(&clk.next_tsc, t + clk.period_tsc, memory_order_relaxed);
		clk.ready = true;
	}
	return clock_read(rte_rdtsc()); // (read only: shards re-anchor)
}

/* ---- tx ------------------------------------------------------------------- */

#define TX_PATIENCE_NS (100 * 1000000ull) /* tx_patient_until: a queue that takes nothing for 100 ms */
#define TX_PATIENCE_BUDGET_NS (2000 * 1000000ull) /* tx_patient_until: the whole abort's waiting */

static void tx_flush_port(struct cee_shard *s, unsigned pi)
{
	uint16_t n = s->tx[pi].n;
	if (n == 0)
		return;
	uint16_t sent = rte_eth_tx_burst(s->ports[pi].port_id, (uint16_t)s->id, s->tx[pi].pkts, n);
	if (unlikely(s->tx_patient_until != 0) && sent < n && !(s->tx_stalled & (1u << pi))) {
		// the shutdown's RSTs: sent once, their connections gone; a
		// full queue dropped most of them (680,129 at the end of session
		// 2's cee-bench hold run): wait for room, up to TX_PATIENCE_NS without
		// progress
		uint64_t give_up = cee_clock_ns() + TX_PATIENCE_NS;
		// (and within the abort's whole budget, unless a second stop
		// signal: a queue that takes a frame now and then is no reason
		// to hold the shutdown without end)
		while (sent < n && cee_clock_ns() < give_up && cee_clock_ns() < s->tx_patient_until &&
		       !atomic_load_explicit(&s->hurry, memory_order_relaxed)) {
			uint16_t k = rte_eth_tx_burst(s->ports[pi].port_id, (uint16_t)s->id,
						      &s->tx[pi].pkts[sent], (uint16_t)(n - sent));
			if (k > 0) {
				sent = (uint16_t)(sent + k);
				give_up = cee_clock_ns() + TX_PATIENCE_NS;
			} else {
				// (sleeping: on a machine with fewer cores than
				// threads, whoever drains the queue needs the CPU)
				rte_delay_us_sleep(10);
			}
		}
		// a queue that took nothing for that long is not draining (a link
		// down): the rest of this port's go as before, not 100 ms a burst
		if (sent < n)
			s->tx_stalled |= (uint8_t)(1u << pi);
	}
	s->stats.tx_pkts += sent;
	if (sent < n) {
		// The segments are lost on the wire, as a full link would lose
		// them; TCP retransmits.
		s->stats.drops[CEE_DROP_TX_FULL] += n - sent;
		rte_pktmbuf_free_bulk(&s->tx[pi].pkts[sent], n - sent);
	}
	s->tx[pi].n = 0;
}

static void tx_enqueue(struct cee_shard *s, unsigned pi, struct rte_mbuf *m)
{
	if (s->tx[pi].n == CEE_TX_BURST)
		tx_flush_port(s, pi);
	s->tx[pi].pkts[s->tx[pi].n++] = m;
}

static void tx_flush(struct cee_shard *s)
{
	for (unsigned pi = 0; pi < s->nports; pi++)
		tx_flush_port(s, pi);
}

/* ---- mbufs ---------------------------------------------------------------- */

#define FRESH_AHEAD 4 // prefetch distance, in frames built

static void fresh_prefetch(const struct cee_shard *s, const struct rte_mbuf *m)
{
	__builtin_prefetch(m, 1, 3);
	__builtin_prefetch((const char *)m + s->data_off0, 1, 3);
}

static struct rte_mbuf *mbuf_get(struct cee_shard *s)
{
	struct rte_mbuf *m;
	if (s->nrecycle) {
		m = s->recycle[--s->nrecycle];
	} else {
		if (s->nfresh == 0) {
			// Raw objects (refcnt 1), as rte_pktmbuf_alloc() takes them.
			if (rte_mempool_get_bulk(s->mp, (void **)s->fresh, CEE_FRESH) < 0)
				return rte_pktmbuf_alloc(s->mp); // the last few, one by one
			s->nfresh = CEE_FRESH;
			for (unsigned i = 1; i <= FRESH_AHEAD; i++)
				fresh_prefetch(s, s->fresh[CEE_FRESH - i]);
		}
		m = s->fresh[--s->nfresh];
		if (s->nfresh >= FRESH_AHEAD)
			fresh_prefetch(s, s->fresh[s->nfresh - FRESH_AHEAD]);
	}
	rte_pktmbuf_reset(m);
	return m;
}

// Done with a received mbuf: keep it for the next frame built if it is a
// plain one (direct, one segment, ours alone, large enough), else free it.
static void mbuf_put(struct cee_shard *s, struct rte_mbuf *m)
{
	if (s->nrecycle < CEE_RECYCLE && RTE_MBUF_DIRECT(m) && m->nb_segs == 1 &&
	    m->next == NULL && rte_mbuf_refcnt_read(m) == 1 && m->buf_len >= s->min_buf_len) {
		s->recycle[s->nrecycle++] = m;
		return;
	}
	rte_pktmbuf_free(m);
}

// Give the kept mbufs back to their pools (before any pool is freed).
static void mbuf_recycle_drain(struct cee_shard *s)
{
	rte_pktmbuf_free_bulk(s->recycle, s->nrecycle);
	s->nrecycle = 0;
	if (s->nfresh)
		rte_mempool_put_bulk(s->mp, (void **)s->fresh, s->nfresh);
	s->nfresh = 0;
}

// A TCP frame for @p out, in a kept mbuf when there is one.
static struct rte_mbuf *build_tcp(struct cee_shard *s, const struct cee_net_addr *a,
				  const struct cee_tcp_out *out)
{
	return cee_net_build_tcp_in(mbuf_get(s), a, out);
}

/* ---- neighbours ----------------------------------------------------------- */

#define ARP_TICK_NS 1000000 // resolver housekeeping every millisecond
#define ARP_TICK_BUDGET 64
#define SRCLIMIT_SWEEP_BUDGET 128 // slots a millisecond: 131,072 in about a second

static uint32_t next_hop(const struct cee_shard *s, uint32_t dst_ip)
{
	uint32_t mask = s->cfg->prefix_len ? ~UINT32_C(0) << (32 - s->cfg->prefix_len) : 0;
	if (((dst_ip ^ s->cfg->ip) & mask) == 0)
		return dst_ip;
	return s->cfg->gateway; // 0: no route
}

/*
 * The subnet's network or broadcast address (prefixes up to /30): no host's,
 * so never a source to answer (RFC 1122 3.2.1.3); cee_net_parse() knows no
 * prefix and checks the others. A SYN from 10.0.0.255 to 10.0.0.1/24 got a
 * SYN-ACK, and ARP learnt the address.
 */
static bool subnet_edge(const struct cee_shard *s, uint32_t ip)
{
	uint8_t len = s->cfg->prefix_len;
	if (len == 0 || len > 30)
		return false;
	uint32_t mask = ~UINT32_C(0) << (32 - len);
	return ((ip ^ s->cfg->ip) & mask) == 0 && ((ip & ~mask) == 0 || (ip & ~mask) == ~mask);
}

uint32_t cee_shard_next_hop(const struct cee_shard *s, uint32_t dst_ip)
{
	return next_hop(s, dst_ip);
}

bool cee_shard_neigh_failed(const struct cee_shard *s, uint32_t dst_ip)
{
	uint32_t nh = next_hop(s, dst_ip);
	uint8_t mac[6];
	return nh != 0 && cee_arp_lookup(s->arp, nh, mac) == CEE_ARP_FAILED;
}

static void arp_request(struct cee_shard *s, unsigned pi, uint32_t ip)
{
	struct rte_mbuf *m = cee_net_build_arp_request(s->mp, &s->ports[pi].mac, s->cfg->ip, ip);
	if (m == NULL) {
		s->stats.drops[CEE_DROP_NO_MBUF]++;
		return;
	}
	tx_enqueue(s, pi, m);
}

// A retry, on the port the address was last resolved for (it was port 0
// whatever the port: with several, the retries went out the wrong one)
static void arp_request_cb(void *arg, uint32_t ip, unsigned port)
{
	arp_request(arg, port, ip);
}

static void arp_drop_cb(void *arg, void *frame)
{
	(void)arg;
	rte_pktmbuf_free(frame);
}

static void set_dst_mac(struct rte_mbuf *m, const uint8_t mac[6])
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	memcpy(eth->dst_addr.addr_bytes, mac, RTE_ETHER_ADDR_LEN);
}

/*
 * Send an IPv4 frame whose destination MAC is not known yet: resolve the
 * next hop of @p dst_ip; the frame waits in the resolver when the answer is
 * pending. @p cache (may be NULL) receives the MAC once known.
 */
static void tx_resolve(struct cee_shard *s, unsigned pi, struct rte_mbuf *m, uint32_t dst_ip,
		       uint8_t cache[6])
{
	uint32_t nh = next_hop(s, dst_ip);
	if (nh == 0) {
		s->stats.no_route++;
		rte_pktmbuf_free(m);
		return;
	}
	uint8_t mac[6];
	bool req;
	m->port = (uint16_t)pi; // where it goes once resolved
	switch (cee_arp_resolve(s->arp, pi, nh, s->now_ns, mac, m, &req)) {
	case CEE_ARP_OK:
		set_dst_mac(m, mac);
		if (cache)
			memcpy(cache, mac, 6);
		tx_enqueue(s, pi, m);
		break;
	case CEE_ARP_QUEUED:
		break;
	case CEE_ARP_DROP: // counted by the resolver
		rte_pktmbuf_free(m);
		break;
	}
	if (req)
		arp_request(s, pi, nh);
}

static bool mac_known(const uint8_t mac[6])
{
	return (mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]) != 0;
}

/* ---- events --------------------------------------------------------------- */

// Reserve event room for a new connection's whole lifecycle.
bool cee_shard_reserve_events(struct cee_shard *s, unsigned n)
{
	return s->evring == NULL || n == 0 || cee_evring_reserve(s->evring, n) == 0;
}

void cee_shard_unreserve_events(struct cee_shard *s, uint32_t n)
{
	if (s->evring != NULL && n)
		cee_evring_unreserve(s->evring, n);
}

static void unreserve_events(struct cee_shard *s, uint32_t n)
{
	cee_shard_unreserve_events(s, n);
}

// The closed event's byte counts: the service's bytes (plaintext above TLS).
static inline void closed_bytes(const struct cee_conn *c, uint64_t *in, uint64_t *out)
{
	const struct cee_stack *st = c->tcb.user;
	*in = st ? st->plain_in : c->tcb.bytes_in;
	*out = st ? st->plain_out : c->tcb.bytes_out;
}

static void emit(struct cee_shard *s, struct cee_conn *c, enum cee_evt_type type)
{
	if (s->evring == NULL) // an engine without events (cee-bench's generator)
		return;
	// Admission reserved a credit for every event this connection can emit.
	RTE_VERIFY(c->reserved > 0);
	c->reserved--;
	// Written in place, every field (the record is reused once per lap).
	struct cee_event *e = cee_evring_claim(s->evring);
	e->conn = c->id;
	e->ts_ns = s->now_ns;
	e->local_ip = c->local_ip;
	e->remote_ip = c->remote_ip;
	e->local_port = c->local_port;
	e->remote_port = c->remote_port;
	e->type = (uint8_t)type;
	e->proto = c->proto | (c->listener == CEE_CONN_ACTIVE ? CEE_PROTO_F_OUT : 0);
	e->cseq = c->cseq++;
	if (type == CEE_EVT_CLOSED) {
		e->reason = c->tcb.close_reason;
		closed_bytes(c, &e->bytes_in, &e->bytes_out);
		e->duration_ns = s->now_ns - c->tcb.open_ns;
	} else {
		// link_down: the reason of the closed it follows
		e->reason = unlikely(type == CEE_EVT_LINK_DOWN) ? c->tcb.close_reason
							       : CEE_REASON_NONE;
		e->bytes_in = 0;
		e->bytes_out = 0;
		e->duration_ns = 0;
	}
	cee_evring_publish(s->evring);
}

void cee_shard_emit(struct cee_shard *s, struct cee_conn *c, enum cee_evt_type type,
		    struct cee_ext_builder *ext)
{
	if (s->evring != NULL && ext != NULL) {
		// the extension records go first, each on a credit of its own
		unsigned n = cee_ext_end(ext);
		RTE_VERIFY(c->reserved > n);
		for (unsigned i = 0; i < n; i++) {
			c->reserved--;
			cee_evring_push_ext(s->evring, &ext->rec[i].ext);
		}
	}
	emit(s, c, type);
}

/* ---- TCP callbacks -------------------------------------------------------- */

static void tcp_output(void *owner, struct cee_tcb *tcb, const struct cee_tcp_out *out)
{
	struct cee_shard *s = owner;
	struct cee_conn *c = cee_conn_of_tcb(tcb);
	const struct cee_port_info *port = &s->ports[c->port_id];
	struct cee_net_addr a = {
		.src_ip = c->local_ip,
		.dst_ip = c->remote_ip,
		.sport = c->local_port,
		.dport = c->remote_port,
	};
	rte_ether_addr_copy(&port->mac, &a.src_mac);
	memcpy(a.dst_mac.addr_bytes, c->peer_mac, RTE_ETHER_ADDR_LEN);
	struct rte_mbuf *m = build_tcp(s, &a, out);
	if (m == NULL) {
		s->stats.drops[CEE_DROP_NO_MBUF]++;
		return;
	}
	if (unlikely(!mac_known(c->peer_mac))) { // active open: next hop not resolved yet
		tx_resolve(s, c->port_id, m, c->remote_ip, c->peer_mac);
		return;
	}
	tx_enqueue(s, c->port_id, m);
}

/*
 * A passive connection is announced when its handshake completes: its open
 * goes out then, just before established. Until then it is a half-open
 * request, as in the kernel's SYN queue, that the event stream does not
 * show: a spoofed SYN, a handshake that times out or is reset ends it with
 * no event at all (counted in half_open_ended), so a SYN flood puts nothing
 * into the stream, cookies engaged or not. The credits of its lifecycle
 * are reserved from the SYN on. @return true when @p type stays unsaid.
 */
static bool passive_unsaid(struct cee_shard *s, struct cee_conn *c, enum cee_evt_type type)
{
	switch (type) {
	case CEE_EVT_OPEN:
		c->tcb.oflags |= CEE_TCB_O_QUIET;
		s->half_open++;
		s->half_open_credits += c->reserved; // (unchanged while it is quiet)
		return true;
	case CEE_EVT_ESTABLISHED:
		if (unlikely(c->tcb.oflags & CEE_TCB_O_SRC)) {
			// its handshake completes (TCP took the ACK) while the source's
			// proven connections fill --max-conns-per-ip: refused now (RST
			// when this callback returns), never announced, not counted
			// past the limit (admit())
			if (cee_srclimit_proven_full(s->srclimit, c->remote_ip)) {
				s->stats.refused_per_ip++;
				cee_tcp_abort(&s->tcp, &c->tcb, CEE_REASON_NO_RESOURCES, s->now_ns);
				return true; // still half open: it ends with no event
			}
		}
		if (unlikely(s->srclimit != NULL) && cee_srclimit_rate_on(s->srclimit)) {
			// --syn-rate-per-ip counts handshakes completed here (a
			// cookie's too): the peer holds the address. Over it: RST,
			// never announced, as above
			switch (cee_srclimit_rate_take(s->srclimit, c->remote_ip, s->now_ns)) {
			case CEE_SRCLIMIT_REFUSED:
				s->stats.syn_rate_limited++;
				cee_tcp_abort(&s->tcp, &c->tcb, CEE_REASON_NO_RESOURCES, s->now_ns);
				return true;
			case CEE_SRCLIMIT_UNTRACKED:
				// (once a connection: admit() counted it already
				// when both limits are set; one table, one verdict)
				if (!cee_srclimit_conns_on(s->srclimit))
					s->stats.per_ip_untracked++;
				break;
			case CEE_SRCLIMIT_OK:
			case CEE_SRCLIMIT_COOKIE:
				break;
			}
		}
		if (unlikely(c->tcb.oflags & CEE_TCB_O_SRC)) {
			cee_srclimit_conn_proven(s->srclimit, c->remote_ip);
			c->tcb.oflags |= CEE_TCB_O_SRC_EST;
		}
		c->tcb.oflags &= (uint8_t)~CEE_TCB_O_QUIET;
		s->half_open--;
		s->half_open_credits -= c->reserved;
		emit(s, c, CEE_EVT_OPEN);
		cee_mbox_lifecycle(&s->mbox, s->pool, c, CEE_EVT_OPEN);
		s->stats.opened++;
		return false;
	case CEE_EVT_CLOSED:
		return true;
	case CEE_EVT_DESTROYED:
		s->half_open--;
		s->half_open_credits -= c->reserved;
		s->stats.half_open_ended++;
		return true;
	case CEE_EVT_TLS_UP:
	case CEE_EVT_WS_UP:
	case CEE_EVT_LINK_UP:
	case CEE_EVT_LINK_DOWN:
	case CEE_EVT__COUNT:
		break;
	}
	abort(); // a layer or a link before established: cannot happen
}

static void tcp_lifecycle(void *owner, struct cee_tcb *tcb, enum cee_evt_type type)
{
	struct cee_shard *s = owner;
	struct cee_conn *c = cee_conn_of_tcb(tcb);
	bool layers = c->proto != CEE_PROTO_TCP; // TLS and/or WebSocket above TCP
	bool said = true;
	if ((c->tcb.oflags & CEE_TCB_O_QUIET) ||
	    (type == CEE_EVT_OPEN && c->listener != CEE_CONN_ACTIVE)) // every accepted one
		said = !passive_unsaid(s, c, type);
	if (!said)
		; // a half-open passive connection: nothing goes out
	else if (unlikely(layers && type == CEE_EVT_CLOSED))
		cee_stack_closed(s, c); // closed with the layers' extension
	else if (unlikely(c->link != 0 && type == CEE_EVT_OPEN))
		cee_shard_link_open_ext(s, c); // open with the link's name
	else
		emit(s, c, type);
	if (said) // before a destroyed slot is freed
		cee_mbox_lifecycle(&s->mbox, s->pool, c, type);
	const struct cee_app_ops *app = s->cfg->app;
	switch (type) {
	case CEE_EVT_OPEN:
		if (said)
			s->stats.opened++;
		return;
	case CEE_EVT_ESTABLISHED:
		if (unlikely(!said))
			return; // refused at its handshake's end (per-source limit)
		if (unlikely(layers))
			cee_stack_established(s, c); // the app's hook runs when the top layer is up
		else if (unlikely(c->link != 0))
			cee_shard_link_up(s, c);
		else if (app && app->established)
			app->established(s->cfg->app_arg, s, c);
		return;
	case CEE_EVT_CLOSED:
		if (said) // opened - closed: the connections the stream shows unclosed
			s->stats.closed++;
		if (unlikely(s->monitors != NULL)) // by id: an old id's watchers only
			cee_monitors_closed(s->monitors, c->id, (enum cee_reason)c->tcb.close_reason);
		// the app hears only of connections it heard of: not of a spoofed
		// SYN's half-open slot timing out
		if (said && app && app->closed)
			app->closed(s->cfg->app_arg, s, c);
		return;
	case CEE_EVT_TLS_UP:
	case CEE_EVT_WS_UP:
	case CEE_EVT_LINK_UP:
	case CEE_EVT_LINK_DOWN:
	case CEE_EVT__COUNT:
		return;
	case CEE_EVT_DESTROYED:
		break;
	}
	if (said && app && app->destroyed)
		app->destroyed(s->cfg->app_arg, s, c);
	if (unlikely(s->monitors != NULL))
		cee_monitors_destroyed(s->monitors, c->id, (enum cee_reason)c->tcb.close_reason);
	if (unlikely(c->tcb.oflags & CEE_TCB_O_SRC))
		cee_srclimit_conn_del(s->srclimit, c->remote_ip, c->tcb.oflags & CEE_TCB_O_SRC_EST);
	if (unlikely(c->tcb.user != NULL))
		cee_stack_destroyed(s, c);
	// Terminal: give back the credits for events it never needed
	// (e.g. established for a handshake that timed out), then the slot.
	unreserve_events(s, c->reserved);
	cee_timer_cancel(s->wheel, &c->timer);
	cee_conn_free(s->pool, c);
	if (said) // a half-open one counts in half_open_ended only: opened - destroyed is live
		s->stats.destroyed++;
}

static void tcp_timer_set(void *owner, struct cee_tcb *tcb, uint64_t at_ns)
{
	struct cee_shard *s = owner;
	struct cee_conn *c = cee_conn_of_tcb(tcb);
	if (at_ns == 0)
		cee_timer_cancel(s->wheel, &c->timer);
	else
		cee_timer_arm(s->wheel, &c->timer, at_ns);
}

static void tcp_recv(void *owner, struct cee_tcb *tcb, const uint8_t *data, uint32_t len)
{
	struct cee_shard *s = owner;
	struct cee_conn *c = cee_conn_of_tcb(tcb);
	if (c->proto != CEE_PROTO_TCP) {
		cee_stack_recv(s, c, data, len);
		return;
	}
	const struct cee_app_ops *app = s->cfg->app;
	if (app && app->recv)
		app->recv(s->cfg->app_arg, s, c, data, len);
}

// An ACK freed send-buffer room after an app's send did not fit.
static void tcp_writable(void *owner, struct cee_tcb *tcb)
{
	struct cee_shard *s = owner;
	struct cee_conn *c = cee_conn_of_tcb(tcb);
	const struct cee_app_ops *app = s->cfg->app;
	if (app == NULL || app->writable == NULL)
		return;
	if (c->proto == CEE_PROTO_TCP ? tcb->service == CEE_TCP_SVC_APP : cee_stack_app_up(c))
		app->writable(s->cfg->app_arg, s, c);
}

static bool tcp_recv_room(void *owner, struct cee_tcb *tcb, uint32_t len)
{
	struct cee_conn *c = cee_conn_of_tcb(tcb);
	return c->proto == CEE_PROTO_TCP || cee_stack_recv_room(owner, c, len);
}

static uint32_t tcp_paced_keep(void *owner, const struct cee_tcb *tcb, uint32_t buff)
{
	(void)owner;
	return cee_stack_paced_keep(cee_conn_of_tcb((struct cee_tcb *)(uintptr_t)tcb), buff);
}

// The owner's deadline of a layered connection (handshake limit, WebSocket timers).
static void tcp_deadline(void *owner, struct cee_tcb *tcb)
{
	cee_stack_deadline(owner, cee_conn_of_tcb(tcb));
}

// TCP closes on its own (idle timeout, peer FIN): the layers' last words first.
static void tcp_closing(void *owner, struct cee_tcb *tcb, enum cee_reason reason)
{
	if (tcb->user != NULL)
		cee_stack_closing(owner, cee_conn_of_tcb(tcb), reason);
}

static bool sndbuf_renege(struct cee_shard *s, bool evict);

static void *tcp_buf_alloc(void *owner, unsigned cls)
{
	struct cee_shard *s = owner;
	// none left: one held only by out-of-order data is taken back (never
	// the caller's: cee_tcp_renege() passes over a connection in a call)
	if (s->sb[cls].nfree == 0 && cls == 0)
		(void)sndbuf_renege(s, false); // (inside another connection's call: no reset)
	return s->sb[cls].nfree ? s->sb[cls].free[--s->sb[cls].nfree] : NULL;
}

static void tcp_buf_free(void *owner, void *buf, unsigned cls)
{
	struct cee_shard *s = owner;
	s->sb[cls].free[s->sb[cls].nfree++] = buf;
}

/*
 * @p count buffers of class @p cls from one block; plain anonymous memory,
 * touched on first use: an idle connection costs no send-buffer pages.
 */
static int sb_pool_init(struct cee_shard *s, unsigned cls, uint32_t count)
{
	// each buffer: the ring, then the TCP loss-recovery state; cache-line strides
	size_t stride = RTE_ALIGN_CEIL((size_t)cee_tcp_buf_size(&s->cfg->tcp, cls),
				       RTE_CACHE_LINE_SIZE);

	s->sb[cls].count = count;
	s->sb[cls].nfree = 0;
	if (count == 0)
		return 0;
	s->sb[cls].block = aligned_alloc(RTE_CACHE_LINE_SIZE, (size_t)count * stride);
	s->sb[cls].free = malloc(count * sizeof(void *));
	if (s->sb[cls].block == NULL || s->sb[cls].free == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < count; i++)
		s->sb[cls].free[i] = s->sb[cls].block + (size_t)(count - 1 - i) * stride;
	s->sb[cls].nfree = count;
	return 0;
}

// RFC 6528: ISN = M + F(4-tuple, secret), M a 4-microsecond clock, F a
// keyed PRF: SipHash-2-4 under the engine's 128-bit ISN key. (Not the
// table hash's spare half, which would save this PRF: ISNs are sent to
// anyone who sends a SYN, and SipHash-1-3's outputs are kept for values
// that never leave, as Linux keeps hsiphash; one key would then guard both.)
static uint32_t tcp_isn(void *owner, const struct cee_tcb *tcb, uint64_t now_ns)
{
	struct cee_shard *s = owner;
	const struct cee_conn *c = cee_conn_of_tcb((struct cee_tcb *)(uintptr_t)tcb);
	uint32_t f = (uint32_t)cee_siphash_12(
	    2, 4, &s->isn_key, (uint64_t)c->remote_ip << 32 | c->local_ip,
	    (uint32_t)c->local_port << 16 | c->remote_port);
	return f + (uint32_t)(now_ns >> 12);
}

// Our TSvals' offset (cee_tcp_ctx.ts_off) for the 4-tuples of table bucket
// @p bucket: the bucket is a keyed hash of the tuple (the table's key, not
// the ISN's), taken through a secret odd multiplier and offset. The same
// for every connection of a tuple (their TSvals keep rising), unrelated to
// its ISS, and no hash per segment (the bucket is the connection's, found
// once per packet for the table anyway; a SipHash per segment sent and per
// RTT sample was the first version: review of the session's diff).
static inline uint32_t bucket_ts_off(const struct cee_shard *s, uint32_t bucket)
{
	return bucket * s->ts_mul + s->tcp.ts_key;
}

static uint32_t conn_ts_off(void *owner, const struct cee_tcb *tcb)
{
	const struct cee_conn *c = cee_conn_of_tcb((struct cee_tcb *)(uintptr_t)tcb);
	return bucket_ts_off(owner, c->bucket);
}

static const struct cee_tcp_ops shard_tcp_ops = {
	.output = tcp_output,
	.lifecycle = tcp_lifecycle,
	.timer_set = tcp_timer_set,
	.buf_alloc = tcp_buf_alloc,
	.buf_free = tcp_buf_free,
	.recv = tcp_recv,
	.recv_room = tcp_recv_room,
	.paced_keep = tcp_paced_keep,
	.closing = tcp_closing,
	.deadline = tcp_deadline,
	.writable = tcp_writable,
};

/* ---- rx ------------------------------------------------------------------- */

// A segment answering @p p with no connection behind it (an RST, a cookie
// SYN-ACK), back the way it came. @return false when no mbuf was free.
static bool reply_stateless(struct cee_shard *s, unsigned pi, const struct cee_pkt *p,
			    const struct cee_tcp_out *out)
{
	struct cee_net_addr a = {
		.src_ip = p->dst_ip,
		.dst_ip = p->src_ip,
		.sport = p->dport,
		.dport = p->sport,
	};
	rte_ether_addr_copy(&s->ports[pi].mac, &a.src_mac);
	rte_ether_addr_copy(&p->src_mac, &a.dst_mac);
	struct rte_mbuf *m = build_tcp(s, &a, out);
	if (m == NULL) {
		s->stats.drops[CEE_DROP_NO_MBUF]++;
		return false;
	}
	tx_enqueue(s, pi, m);
	return true;
}

static void reply_rst(struct cee_shard *s, unsigned pi, const struct cee_pkt *p)
{
	struct cee_tcp_out out;
	if (cee_tcp_rst_for(&p->seg, &out) && reply_stateless(s, pi, p, &out))
		s->stats.rst_no_conn++;
}

static enum cee_tcp_service listener_tcp_service(const struct cee_listener *ls)
{
	return ls->tls || ls->ws ? CEE_TCP_SVC_PACED : (enum cee_tcp_service)ls->service;
}

static int find_listener(const struct cee_shard *s, uint16_t port)
{
	for (unsigned i = 0; i < s->cfg->nlisteners; i++)
		if (s->cfg->listeners[i].port == port)
			return (int)i;
	return -1;
}

#define COOKIE_ACK_WINDOW_NS (130 * 1000000000ull) /* a cookie lives two periods (cee_syncookie.h) */

static struct cee_syncookie_tuple cookie_tuple(const struct cee_pkt *p)
{
	return (struct cee_syncookie_tuple){.local_ip = p->dst_ip,
					    .remote_ip = p->src_ip,
					    .local_port = p->dport,
					    .remote_port = p->sport};
}

/*
 * RFC 4987: SYN cookies, engaged while --syn-backlog connections are half
 * open on this shard, or while the event ring is short of credits (a
 * flood's half-open connections would each hold a whole lifecycle's).
 */
static bool cookies_engaged(const struct cee_shard *s)
{
	switch ((enum cee_syn_cookies)s->cfg->syn_cookies) {
	case CEE_SYN_COOKIES_ALWAYS:
		return true;
	case CEE_SYN_COOKIES_OFF:
		return false;
	case CEE_SYN_COOKIES_AUTO:
		break;
	}
	if (s->tcp.half_open >= s->syn_backlog)
		return true;
	// the ring short of credits because half-open connections hold them (a
	// flood). Not when its reader stalled: a cookie would only move the
	// refusal after the client's handshake (an RST to an "open" connection).
	// What they hold, not 4 each: a TLS or WebSocket listener's hold 18,
	// and with established connections holding half the ring the slots'
	// 4 each never reached an eighth before the ring ran out: every SYN of
	// a flood and of the real clients beside it refused (RST), no cookie
	if (s->evring == NULL || s->half_open_credits == 0)
		return false;
	uint32_t eighth = cee_evring_capacity(s->evring) / 8;
	return cee_evring_room(s->evring) < eighth && s->half_open_credits >= eighth;
}

// Answer SYN @p p with a cookie SYN-ACK: nothing is kept, nothing reported.
static void reply_cookie(struct cee_shard *s, unsigned pi, const struct cee_pkt *p,
			 uint32_t bucket, const struct cee_listener *ls)
{
	const struct cee_tcp_seg *syn = &p->seg;
	struct cee_syncookie_opts o = {.mss = syn->mss,
				       .wscale = syn->wscale,
				       .sack_ok = syn->sack_ok,
				       .ts = cee_tcp_cookie_ts(&s->tcp, syn)};
	struct cee_syncookie_tuple t = cookie_tuple(p);
	uint32_t iss = cee_syncookie_make(&s->cookie_key, &t, syn->seq, &o, s->now_ns);
	struct cee_tcp_out out;
	cee_tcp_synack_cookie(&s->tcp, syn, iss, listener_tcp_service(ls), cee_syncookie_ts_code(&o),
			      bucket_ts_off(s, bucket), s->now_ns, &out);
	// counted once it is out: without an mbuf nothing went (no_mbuf), and
	// syncookies_sent said a SYN-ACK had
	if (reply_stateless(s, pi, p, &out)) {
		s->tcp.stats.syncookies_sent++;
		s->cookie_sent_ns = s->now_ns;
	}
}

static struct cee_conn *admit_slot(struct cee_shard *s, unsigned pi, const struct cee_pkt *p,
				   uint32_t bucket, const struct cee_listener *ls, int l);

/*
 * A connection of listener @p l, admitted now: within the per-source limit,
 * a slot and event room for its whole lifecycle. @p proven: a valid cookie
 * ACK (the peer holds its address), else a SYN. @return it (set up for
 * cee_tcp_accept*), or NULL after refusing with RST, or answering a SYN
 * whose source has unproven connections filling its limit with a cookie.
 *
 * --max-conns-per-ip counts proven connections: SYNs spoofed with a real
 * client's address (half-open ones, never completed) would otherwise hold
 * its share until their handshakes time out, and every SYN of the client
 * would get an RST meanwhile. At the limit with unproven ones, a SYN gets a
 * cookie instead; a half-open one that completes its handshake when the
 * proven ones fill the limit is refused then (tcp_rx()).
 */
static struct cee_conn *admit(struct cee_shard *s, unsigned pi, const struct cee_pkt *p,
			      uint32_t bucket, int l, bool proven)
{
	const struct cee_listener *ls = &s->cfg->listeners[l];
	bool counted = false;
	if (unlikely(s->srclimit != NULL)) {
		switch (cee_srclimit_conn_add(s->srclimit, p->src_ip, s->now_ns, proven)) {
		case CEE_SRCLIMIT_OK:
			counted = true;
			break;
		case CEE_SRCLIMIT_UNTRACKED:
			s->stats.per_ip_untracked++;
			break;
		case CEE_SRCLIMIT_COOKIE:
			// (not for a SYN that ended a TIME-WAIT: refused, its next
			// try finds no TIME-WAIT; tcp_passive_open())
			if (s->cfg->syn_cookies != CEE_SYN_COOKIES_OFF && !s->tcp.tw_iss_set) {
				s->stats.per_ip_cookies++;
				reply_cookie(s, pi, p, bucket, ls);
				return NULL;
			}
			s->stats.refused_per_ip++; // no cookies: refused
			reply_rst(s, pi, p);
			return NULL;
		case CEE_SRCLIMIT_REFUSED:
			s->stats.refused_per_ip++;
			reply_rst(s, pi, p);
			return NULL;
		}
	}
	struct cee_conn *c = admit_slot(s, pi, p, bucket, ls, l);
	if (c == NULL) {
		if (counted)
			cee_srclimit_conn_del(s->srclimit, p->src_ip, false);
		return NULL;
	}
	if (counted)
		c->tcb.oflags |= CEE_TCB_O_SRC;
	return c;
}

/*
 * Send buffers nearly gone: they are held by peers that send and never read
 * (their windows shut, our echo queued). Take some back from the ones that
 * have held a shut window longest (at least CEE_ZW_EVICT_MIN_NS): reset with
 * reason zero_window_timeout before --persist-timeout, so that a new client
 * is served rather than refused (issue 13: pinning), as the oldest holder of
 * a scarce resource goes first. @return true when there is room again.
 */
// A window shut for less than this is a reader's blip, not a pin: left alone,
// however short the buffers (at 0, every SYN that found them short, a
// spoofed one too, reset the two connections shut longest, even if shut
// for a millisecond).
#define CEE_ZW_EVICT_MIN_NS (250ull * 1000000)

/*
 * No shut window to take a buffer from: one held only by out-of-order data
 * (a peer that sent past a hole and never fills it: a byte per connection
 * pinned every buffer, and nothing else could free them) is reneged
 * (cee_tcp_renege()); at admission (@p evict), a connection whose peer
 * stopped acknowledging is reset (cee_tcp_evict_stalled()). A clock hand over the pool, at most
 * CEE_RENEGE_SLOTS slots and CEE_RENEGE_CONNS connections per call: bounded
 * work for each SYN that finds the buffers short.
 */
#define CEE_RENEGE_SLOTS 4096
#define CEE_RENEGE_CONNS 256
static bool sndbuf_renege(struct cee_shard *s, bool evict)
{
	// one fruitless look per poll iteration: every buffer the iteration
	// failed to find (no_sndbuf) would otherwise scan again. The evicting
	// look (admission) has its own mark and hand: a buffer's allocation
	// that found none to renege in the same iteration (a segment before the
	// SYN in one burst) had the SYN refused (refused_sndbuf) beside stalled
	// peers it may reset, and moved the hand past them
	uint64_t *none = evict ? &s->evict_none_ns : &s->renege_none_ns;
	uint32_t *hand = evict ? &s->evict_slot : &s->renege_slot;
	if (*none == s->now_ns)
		return false;
	uint32_t cap = cee_conn_capacity(s->pool);
	if (*hand >= cap)
		*hand = 0;
	uint32_t end = cap - *hand > CEE_RENEGE_SLOTS ? *hand + CEE_RENEGE_SLOTS : cap;
	struct cee_conn *c;
	for (unsigned n = 0;
	     n < CEE_RENEGE_CONNS && (c = cee_conn_next(s->pool, hand, end)) != NULL; n++)
		if (c->tcb.sb != NULL && (cee_tcp_renege(&s->tcp, &c->tcb) ||
					  (evict && cee_tcp_evict_stalled(&s->tcp, &c->tcb, s->now_ns))))
			return true;
	*none = s->now_ns;
	return false;
}

// Fewer than 1/16 of the send buffers free (nfree < count / 16 was never
// true below 16 buffers: a small --sndbufs admitted new connections
// straight into no_sndbuf, the pinned buffers never taken back).
static inline bool sndbuf_low(const struct cee_shard *s)
{
	return (uint64_t)s->sb[0].nfree * 16 < s->sb[0].count;
}

static bool sndbuf_room(struct cee_shard *s)
{
	for (int i = 0; i < 2 && sndbuf_low(s); i++)
		if (!cee_tcp_evict_zero_window(&s->tcp, CEE_ZW_EVICT_MIN_NS, s->now_ns) &&
		    !sndbuf_renege(s, true))
			return false;
	return true;
}

/*
 * No slot free for a new connection (beyond those held for links): a
 * connection in TIME-WAIT ends now for it. Its `closed` is out; its
 * `destroyed` follows, as at the end of the 60 s. Slots in TIME-WAIT counted
 * against --max-conns and nothing took them back: one source drawing closes
 * the engine begins (refused upgrades, echo-close, TLS alerts) at 1,100 a
 * second filled 65,536 slots, and every SYN was refused. Linux likewise
 * keeps no more TIME-WAIT than tcp_max_tw_buckets. The same clock hand over
 * the slots as sndbuf_renege()'s (bounded work a SYN), not the oldest: any
 * connection in TIME-WAIT has said everything. @return true when one ended.
 */
static bool tw_reclaim(struct cee_shard *s)
{
	if (s->tw_none_ns == s->now_ns)
		return false;
	uint32_t cap = cee_conn_capacity(s->pool);
	if (s->tw_slot >= cap)
		s->tw_slot = 0;
	uint32_t end = cap - s->tw_slot > CEE_RENEGE_SLOTS ? s->tw_slot + CEE_RENEGE_SLOTS : cap;
	struct cee_conn *c;
	for (unsigned n = 0;
	     n < CEE_RENEGE_CONNS && (c = cee_conn_next(s->pool, &s->tw_slot, end)) != NULL; n++)
		if (c->tcb.state == CEE_TCP_TIME_WAIT) {
			s->stats.tw_reclaimed++;
			cee_tcp_abort(&s->tcp, &c->tcb, CEE_REASON_NO_RESOURCES, s->now_ns);
			return true;
		}
	s->tw_none_ns = s->now_ns;
	return false;
}

bool cee_shard_slots_held(const struct cee_shard *s)
{
	return cee_conn_max(s->pool) - cee_conn_live(s->pool) <= s->link_hold_slots;
}

bool cee_shard_link_room(const struct cee_shard *s, unsigned credits)
{
	if (cee_shard_slots_held(s))
		return false;
	return s->evring == NULL || credits == 0 ||
	       cee_evring_room(s->evring) >= (uint64_t)credits + s->link_hold_credits;
}

// Event room for a new connection needing @p credits beside what links
// hold: asked before taking anything back for it (a TIME-WAIT slot, a
// stalled peer's buffer), which a SYN refused for want of it would take for
// nothing (a stalled consumer: every SYN reset a peer or ended a TIME-WAIT).
// (A look, not a reservation: reserved and given back, each failed look
// counted in the ring's refusals, ring_refused, two or three for one SYN.)
static bool event_room(struct cee_shard *s, unsigned credits)
{
	return s->evring == NULL || credits + s->link_hold_credits == 0 ||
	       cee_evring_room(s->evring) >= (uint64_t)credits + s->link_hold_credits;
}

static struct cee_conn *admit_slot(struct cee_shard *s, unsigned pi, const struct cee_pkt *p,
				   uint32_t bucket, const struct cee_listener *ls, int l)
{
	bool layers = ls->tls || ls->ws;
	unsigned credits = layers ? s->evt_per_conn_layers : s->evt_per_conn;
	if (unlikely(sndbuf_low(s)) && event_room(s, credits) && !sndbuf_room(s)) {
		// send buffers nearly gone and none to take back: a new connection
		// could not echo or answer; refused at once, counted, rather than
		// admitted into a stall. (Only a SYN with the event room it needs
		// may reset a peer for its buffer; one without is refused below.)
		s->stats.refused_sndbuf++;
		reply_rst(s, pi, p);
		return NULL;
	}
	// (beyond the slots held for links) a TIME-WAIT slot is taken back
	// only for a SYN that then has the event room it needs: one refused
	// for that (a stalled consumer) ended a TIME-WAIT for nothing, and a
	// stream of SYNs emptied TIME-WAIT while admission had stopped
	if (unlikely(cee_conn_max(s->pool) - cee_conn_live(s->pool) <= s->link_hold_slots) &&
	    event_room(s, credits))
		(void)tw_reclaim(s);
	// a link waiting to reconnect keeps its slot and event room: inbound
	// clients that filled the shard took them, and the link's attempts
	// failed locally, without an event, for as long as they stayed
	if (unlikely(s->link_hold_slots != 0) && !cee_shard_link_room(s, credits)) {
		s->stats.refused_link_room++;
		reply_rst(s, pi, p);
		return NULL;
	}
	if (!cee_shard_reserve_events(s, credits)) {
		s->stats.refused++;
		s->stats.refused_event_room++;
		reply_rst(s, pi, p);
		return NULL;
	}
	struct cee_conn *c = cee_conn_alloc_at(s->pool, bucket, p->dst_ip, p->dport, p->src_ip,
					       p->sport);
	if (c == NULL) {
		unreserve_events(s, credits);
		s->stats.refused++;
		reply_rst(s, pi, p);
		return NULL;
	}
	c->reserved = (uint8_t)credits;
	c->port_id = (uint16_t)pi;
	memcpy(c->peer_mac, p->src_mac.addr_bytes, RTE_ETHER_ADDR_LEN);
	c->listener = (uint8_t)l;
	if (s->cfg->keepalive_all)
		c->tcb.oflags |= CEE_TCB_O_KEEPALIVE;
	// Layers: TCP carries their bytes (paced: the answers go into the send
	// buffer); the service runs on the plaintext or the messages
	c->proto = ls->ws ? (ls->tls ? CEE_PROTO_WSS : CEE_PROTO_WS)
			  : (ls->tls ? CEE_PROTO_TLS : CEE_PROTO_TCP);
	return c;
}

/*
 * An ACK for no connection while cookies were recently sent: the last
 * segment of a cookie handshake? @return true when it was (the connection
 * exists now), false to answer it as any stray segment (RST).
 */
static bool cookie_ack(struct cee_shard *s, unsigned pi, const struct cee_pkt *p,
		       uint32_t bucket)
{
	int l = find_listener(s, p->dport);
	if (l < 0)
		return false;
	struct cee_syncookie_tuple t = cookie_tuple(p);
	struct cee_syncookie_opts o;
	if (!cee_syncookie_check(&s->cookie_key, &t, p->seg.seq, p->seg.ack, p->seg.ts_ok,
				 p->seg.tsecr, s->now_ns, &o)) {
		s->tcp.stats.syncookies_bad++;
		return false;
	}
	if (s->mbox.draining) {
		s->mbox.stats.drain_refused++;
		s->stats.refused++;
		reply_rst(s, pi, p);
		return true;
	}
	struct cee_conn *c = admit(s, pi, p, bucket, l, true);
	if (c != NULL)
		cee_tcp_accept_cookie(&s->tcp, &c->tcb, listener_tcp_service(&s->cfg->listeners[l]),
				      &p->seg, p->seg.ack - 1, o.mss, o.wscale, o.sack_ok, o.ts,
				      s->now_ns);
	return true;
}

// A SYN for no connection: admit it if a listener, a connection slot and
// event room for its whole lifecycle are all available; else refuse with RST.
// Under a flood (cookies_engaged), a cookie SYN-ACK instead.
static void tcp_passive_open(struct cee_shard *s, unsigned pi, const struct cee_pkt *p,
			     uint32_t bucket)
{
	int l = find_listener(s, p->dport);
	if (l < 0) {
		s->stats.drops[CEE_DROP_NO_LISTENER]++;
		reply_rst(s, pi, p);
		return;
	}
	if (s->mbox.draining) { // cee-ctl drain: no new connections
		s->mbox.stats.drain_refused++;
		s->stats.refused++;
		reply_rst(s, pi, p);
		return;
	}
	const struct cee_listener *ls = &s->cfg->listeners[l];
	// A SYN that ended a TIME-WAIT (RFC 6191) gets no cookie: a cookie's
	// ISS bears no relation to the old incarnation's sequence space, and
	// the new one must start above it (s->tcp.tw_iss; RFC 9293 3.6.1, as
	// Linux takes no cookie for such a SYN). It takes the slot the old
	// connection held, so it costs a flood nothing more.
	bool tw = s->tcp.tw_iss_set;
	if (unlikely(s->srclimit != NULL) && !tw &&
	    cee_srclimit_rate_peek(s->srclimit, p->src_ip, s->now_ns) == CEE_SRCLIMIT_REFUSED) {
		// over --syn-rate-per-ip: a cookie, so that SYNs spoofed with the
		// address (they never complete) cost it nothing; the cookie's
		// ACK is judged by the rate when it comes (passive_unsaid()).
		// An RST here let an off-path attacker at N + 1 SYNs a second
		// lock out any source it chose
		if (s->cfg->syn_cookies != CEE_SYN_COOKIES_OFF) {
			s->stats.syn_rate_cookies++;
			reply_cookie(s, pi, p, bucket, ls);
		} else {
			s->stats.syn_rate_limited++;
			reply_rst(s, pi, p);
		}
		return;
	}
	if (unlikely(cookies_engaged(s)) && !tw) {
		reply_cookie(s, pi, p, bucket, ls);
		return;
	}
	struct cee_conn *c = admit(s, pi, p, bucket, l, false);
	if (c != NULL)
		cee_tcp_accept(&s->tcp, &c->tcb, listener_tcp_service(ls), &p->seg, s->now_ns);
}

static void tcp_rx(struct cee_shard *s, unsigned pi, const struct cee_pkt *p, uint32_t bucket)
{
	struct cee_conn *c =
	    cee_conn_by_tuple_at(s->pool, bucket, p->dst_ip, p->dport, p->src_ip, p->sport);
	if (c != NULL) {
		if (unlikely(c->tcb.user != NULL && (p->seg.flags & (CEE_TCP_RST | CEE_TCP_FIN)))) {
			// TLS: bytes the handshake budget deferred, then this
			// segment's own, run before TCP acts on its FIN or RST, so
			// the first cause is what came first on the wire
			// (unless the peer ends a handshake we have not answered,
			// over budget: cee_stack_end_unanswered())
			// (decided only for a segment TCP may take: an RST at
			// RCV.NXT, as RFC 5961 wants, a FIN whose segment covers it;
			// and undone when TCP did not take it: a blind or stale one
			// must not decide the handshake, which would then time out
			// with its ClientHello acknowledged and dropped)
			cee_conn_id_t id = c->id;
			uint32_t nxt = c->tcb.rcv_nxt, sq = p->seg.seq;
			bool may = (p->seg.flags & CEE_TCP_RST)
				       ? sq == nxt
				       : (int32_t)(nxt - sq) >= 0 && (int32_t)(sq + p->seg.len - nxt) >= 0;
			// (and only such a segment runs the staged bytes: a blind
			// RST or a stale FIN, which TCP refuses, ran a deferred
			// ClientHello at once, ahead of the budget and the queue:
			// review of session 32)
			bool unanswered = may && cee_stack_end_unanswered(s, c);
			if (may && !unanswered) {
				cee_stack_flush(s, c); // outside TCP's callbacks: it may end c
				if (cee_conn_by_id(s->pool, id) != c) {
					s->stats.drops[CEE_DROP_NO_CONN]++;
					return;
				}
			}
			s->tls_no_defer = may;
			bool reuse = cee_tcp_input(&s->tcp, &c->tcb, &p->seg, s->now_ns);
			s->tls_no_defer = false;
			if (unanswered)
				cee_stack_end_unanswered_after(s, id);
			if (reuse) {
				tcp_passive_open(s, pi, p, bucket);
				s->tcp.tw_iss_set = false; // (a cookie, or refused: not taken)
			}
			return;
		}
		// a SYN that ended a TIME-WAIT (RFC 6191) opens a new connection
		// (its ISS above the old one's: s->tcp.tw_iss)
		if (cee_tcp_input(&s->tcp, &c->tcb, &p->seg, s->now_ns)) {
			tcp_passive_open(s, pi, p, bucket);
			s->tcp.tw_iss_set = false; // (a cookie, or refused: not taken)
		}
		return;
	}
	uint8_t f = p->seg.flags;
	if (f & CEE_TCP_RST) { // RFC 9293 3.10.7.1: an RST for nothing is dropped
		s->stats.drops[CEE_DROP_NO_CONN]++;
		return;
	}
	if ((f & (CEE_TCP_SYN | CEE_TCP_ACK)) == CEE_TCP_SYN) {
		tcp_passive_open(s, pi, p, bucket);
		return;
	}
	// the last segment of a cookie handshake (cookies went recently)?
	if (unlikely(s->cookie_sent_ns != 0) && (f & (CEE_TCP_SYN | CEE_TCP_ACK)) == CEE_TCP_ACK &&
	    s->now_ns - s->cookie_sent_ns < COOKIE_ACK_WINDOW_NS && cookie_ack(s, pi, p, bucket))
		return;
	s->stats.drops[CEE_DROP_NO_CONN]++;
	reply_rst(s, pi, p);
}

// ICMP fragmentation needed or destination unreachable, steered here by
// the connection it quotes.
static void icmp_quote_rx(struct cee_shard *s, const struct cee_pkt *p)
{
	struct cee_conn *c = cee_conn_by_tuple(s->pool, p->dst_ip, p->dport, p->src_ip, p->sport);
	if (c == NULL) {
		s->stats.drops[CEE_DROP_NO_CONN]++;
		return;
	}
	if (p->kind == CEE_PKT_ICMP_PTB)
		cee_tcp_pmtu(&s->tcp, &c->tcb, p->seg.seq, p->icmp_mtu, s->now_ns);
	else
		cee_tcp_icmp_unreach(&s->tcp, &c->tcb, p->seg.seq, s->now_ns);
}

static unsigned port_index(const struct cee_shard *s, uint16_t port_id)
{
	for (unsigned pi = 0; pi < s->nports; pi++)
		if (s->ports[pi].port_id == port_id)
			return pi;
	return 0;
}

/*
 * A neighbour at @p ip on port @p pi announced @p mac (a gratuitous ARP, or
 * its entry's MAC changed): a gateway's or a host's failover. Connections
 * keep the MAC they send to (a passive one takes its SYN's source), so each
 * one whose next hop that is must follow, or every live connection through
 * it failed (retransmit_timeout) while new ones worked. Applied by one walk
 * of the shard's connections (moved_walk()), at most one per 10 ms.
 */
static bool note_moved(struct cee_shard *s, unsigned pi, uint32_t ip, const uint8_t mac[6],
		       const uint8_t *old)
{
	uint32_t i;
	for (i = 0; i < s->nmoved; i++)
		if (s->moved[i].ip == ip && s->moved[i].port == pi)
			break;
	if (i == CEE_MOVED_MAX) {
		s->stats.arp_moved_lost++;
		return false;
	}
	if (i == s->nmoved) {
		s->moved[i].ip = ip;
		s->moved[i].port = (uint16_t)pi;
		s->moved[i].has_old = false;
		s->nmoved++;
	}
	memcpy(s->moved[i].mac, mac, 6);
	if (old != NULL && !s->moved[i].has_old) { // (moved twice before a walk: the first)
		memcpy(s->moved[i].old, old, 6);
		s->moved[i].has_old = true;
	}
	return true;
}

/*
 * Announcements of addresses with no entry in the table, noted for a walk
 * (announced_note()): one of @p ip with @p mac on port @p pi within
 * CEE_ANNOUNCED_NS is the same again (nothing moved since). A host
 * refreshing its announcement every few seconds (keepalived, VRRP peers)
 * forced a walk of every connection, on every shard, each time. Only a
 * note that found a place is remembered: a lost one's repeats are its
 * next chance.
 */
static unsigned announced_slot(uint32_t ip)
{
	_Static_assert(CEE_ANNOUNCED_MAX == 32, "the index below takes 5 bits");
	return (ip * 2654435761u) >> 27;
}

static bool announced_again(const struct cee_shard *s, unsigned pi, uint32_t ip,
			    const uint8_t mac[6])
{
	unsigned i = announced_slot(ip);
	return s->announced[i].ip == ip && s->announced[i].port == pi &&
	       memcmp(s->announced[i].mac, mac, 6) == 0 &&
	       s->now_ns - s->announced[i].at_ns < CEE_ANNOUNCED_NS;
}

static void announced_note(struct cee_shard *s, unsigned pi, uint32_t ip, const uint8_t mac[6])
{
	unsigned i = announced_slot(ip);
	s->announced[i].ip = ip;
	s->announced[i].port = (uint16_t)pi;
	memcpy(s->announced[i].mac, mac, 6);
	s->announced[i].at_ns = s->now_ns;
}

static void moved_fix(void *arg, struct cee_conn *c)
{
	struct cee_shard *s = arg;
	if (!mac_known(c->peer_mac)) // an active open still resolving: it asks the table
		return;
	uint32_t nh = next_hop(s, c->remote_ip);
	// A peer off the subnet is reached through the router its frames came
	// from: with no gateway configured (--ip has no route) its next hop is
	// 0, and a router's failover re-pointed none of them (they failed with
	// retransmit_timeout). It follows a move of the MAC it sends to, when
	// that MAC was the moved address's alone (note_moved() is given no old
	// MAC when another entry has it too: a router's secondary address, or
	// proxy ARP, moving took every off-link connection with it).
	bool off_link = nh == 0;
	for (uint32_t i = 0; i < s->nmoved; i++)
		if (s->moved[i].port == c->port_id && memcmp(c->peer_mac, s->moved[i].mac, 6) != 0 &&
		    (s->moved[i].ip == nh ||
		     (off_link && s->moved[i].has_old &&
		      memcmp(c->peer_mac, s->moved[i].old, 6) == 0))) {
			memcpy(c->peer_mac, s->moved[i].mac, 6);
			s->stats.arp_moved++;
		}
}

static void moved_walk(struct cee_shard *s)
{
	cee_conn_foreach(s->pool, moved_fix, s);
	s->nmoved = 0;
	s->stats.arp_moved_walks++;
	// from the clock after the walk, not the poll's start: a walk of a
	// million connections takes ~14 ms, and the next one was due at once
	s->moved_walk_ns = cee_clock_ns() + CEE_MOVED_WALK_NS;
}

/*
 * ARP (RFC 826): learn the sender (create an entry only when it asks for one
 * of our addresses), release frames waiting for it, answer requests for us.
 * Every shard keeps its own neighbour table, so the shard that receives an
 * ARP packet passes a copy to the others when they can use it: one for an
 * address of ours (a reply to a shard's request, a neighbour asking for us)
 * or a gratuitous one (a neighbour announcing its address: a gateway's
 * failover must reach every table), or a known neighbour's packet from a
 * new MAC. Other requests on the segment are the
 * receiving shard's alone: a busy LAN's broadcasts, copied to every shard,
 * cost each of them a frame per broadcast. @return true when @p m was reused.
 */
#define ARP_CONFLICT_SAY_NS (10 * 1000000000ull)

static bool arp_rx(struct cee_shard *s, unsigned pi, struct rte_mbuf *m, bool owned)
{
	struct cee_arp_info ai;
	if (cee_net_arp_info(m, s->cfg->ip, s->cfg->ip_count, &ai) < 0) {
		s->stats.drops[CEE_DROP_BAD_ARP]++;
		return false;
	}
	if (ai.probe) { // someone checks our address is free: it is not (no copies, nothing learnt)
		if (owned || cee_net_arp_reply(m, &s->ports[pi].mac, s->cfg->ip, s->cfg->ip_count) < 0)
			return false;
		s->stats.arp_replies++;
		tx_enqueue(s, pi, m);
		return true;
	}
	if (ai.other_probe) { // another host checks another address is free (RFC 5227)
		if (!owned)
			s->stats.drops[CEE_DROP_NOT_FOR_US]++;
		return false;
	}
	if (ai.conflict) {
		// our own frame looped back (a tap of the port) is no one's claim;
		// another MAC with our address is: counted and said (at most every
		// 10 s a shard), never learnt. It went in bad_arp, among garbage.
		// (any port's: a request of ours from another port on the same
		// segment is ours too)
		for (unsigned j = 0; j < s->nports; j++)
			if (rte_is_same_ether_addr(&ai.sha, &s->ports[j].mac)) {
				s->stats.drops[CEE_DROP_BAD_ARP]++;
				return false;
			}
		s->stats.arp_conflicts++;
		// --arp-defend (RFC 5227 2.4(c), a server's address is not given
		// up): one announcement of ours, sender and target our address,
		// at most every 10 s. Counted and said alone, the claim stands:
		// the neighbours that took it (Linux updates an entry it has from
		// a gratuitous ARP) send our peers' segments to the claimant. Off
		// by default: an HA pair's node whose address moved to the other
		// while it runs would pull it back.
		if (s->cfg->arp_defend &&
		    (s->arp_defended_ns == 0 || s->now_ns - s->arp_defended_ns >= ARP_CONFLICT_SAY_NS)) {
			struct rte_mbuf *a =
			    cee_net_build_arp_request(s->mp, &s->ports[pi].mac, ai.sip, ai.sip);
			if (a != NULL) {
				s->arp_defended_ns = s->now_ns;
				s->stats.arp_defended++;
				tx_enqueue(s, pi, a);
			} else {
				s->stats.drops[CEE_DROP_NO_MBUF]++;
			}
		}
		if (s->arp_conflict_said_ns == 0 ||
		    s->now_ns - s->arp_conflict_said_ns >= ARP_CONFLICT_SAY_NS) {
			s->arp_conflict_said_ns = s->now_ns;
			char ip[INET_ADDRSTRLEN];
			struct in_addr a = {.s_addr = rte_cpu_to_be_32(ai.sip)};
			inet_ntop(AF_INET, &a, ip, sizeof(ip));
			fprintf(stderr,
				"cee: shard %u: address conflict: " RTE_ETHER_ADDR_PRT_FMT
				" on port %u claims our address %s (arp_conflicts counts them)\n",
				s->id, RTE_ETHER_ADDR_BYTES(&ai.sha), s->ports[pi].port_id, ip);
		}
		return false;
	}
	if (subnet_edge(s, ai.sip)) { // the subnet's network or broadcast address is no host's
		s->stats.drops[CEE_DROP_BAD_ARP]++;
		return false;
	}
	bool for_us = ai.tip - s->cfg->ip < s->cfg->ip_count;
	// an announcement (gratuitous ARP) matters only for an address that
	// can be a next hop: on our subnet (the gateway is). Others, off-link
	// or a busy LAN's for hosts we never reach, were copied to every shard
	// and each took one of the CEE_MOVED_MAX places and forced a walk of
	// every connection: eight a 10 ms and a real failover's went to
	// arp_moved_lost, its connections left on the old MAC
	bool announce = ai.sip == ai.tip && next_hop(s, ai.sip) == ai.sip;
	// (a gratuitous one announcing the MAC we know already, as some
	// routers repeat every few seconds, moves nothing: it would fill the
	// 8 places a real failover needs)
	uint8_t known[6];
	enum cee_arp_state was = cee_arp_lookup(s->arp, ai.sip, known);
	bool have = was == CEE_ARP_REACHABLE || was == CEE_ARP_STALE;
	bool same = have && memcmp(known, ai.sha.addr_bytes, 6) == 0;
	// a neighbour we know speaking from a new MAC in any ARP packet (a
	// request for another host): every shard's table and connections must
	// follow, not only this one's (the others kept the old MAC until it
	// next asked for us)
	bool moved = have && !same && next_hop(s, ai.sip) == ai.sip;
	if (!owned && (for_us || announce || moved)) {
		for (unsigned j = 0; j < s->nshards; j++) {
			if (j == s->id)
				continue;
			struct rte_mbuf *copy = rte_pktmbuf_copy(m, s->mp, 0, UINT32_MAX);
			if (copy == NULL) {
				s->stats.drops[CEE_DROP_NO_MBUF]++;
				continue;
			}
			// the port it came in on (rx_one() sets TCP's: PMDs such as
			// net_ring leave m->port unset, and the other shard's lookup
			// took port 0: a MAC move on port 1 re-pointed nothing there)
			copy->port = s->ports[pi].port_id;
			if (rte_ring_sp_enqueue(s->handoff[j], copy) < 0) {
				s->stats.drops[CEE_DROP_HANDOFF_FULL]++;
				rte_pktmbuf_free(copy);
			} else {
				s->stats.arp_shared++;
			}
		}
	}
	if ((announce || have) && !same && next_hop(s, ai.sip) == ai.sip &&
	    (have || !announced_again(s, pi, ai.sip, ai.sha.addr_bytes)) &&
	    note_moved(s, pi, ai.sip, ai.sha.addr_bytes,
		       have && !cee_arp_mac_shared(s->arp, ai.sip, known) ? known : NULL) &&
	    !have)
		announced_note(s, pi, ai.sip, ai.sha.addr_bytes);
	void *ready[CEE_ARP_QUEUE];
	// an entry is made for a neighbour that asks for us, when it can be a
	// next hop: an off-link sender's could never be used, and spoofed ones
	// (their sets computable) pushed the gateway's entry out
	unsigned n = cee_arp_input(s->arp, ai.sip, ai.sha.addr_bytes,
				   for_us && ai.op == RTE_ARP_OP_REQUEST &&
				       next_hop(s, ai.sip) == ai.sip,
				   s->now_ns, ready);
	for (unsigned i = 0; i < n; i++) {
		struct rte_mbuf *f = ready[i];
		set_dst_mac(f, ai.sha.addr_bytes);
		tx_enqueue(s, f->port, f);
	}
	if (!owned && ai.op == RTE_ARP_OP_REQUEST && for_us &&
	    cee_net_arp_reply(m, &s->ports[pi].mac, s->cfg->ip, s->cfg->ip_count) == 0) {
		s->stats.arp_replies++;
		tx_enqueue(s, pi, m);
		return true;
	}
	// another host's request or reply (an announcement, or a known
	// neighbour's new MAC, is acted on above); only requests were counted,
	// other replies went in no counter
	if (!for_us && !announce && !moved && !owned)
		s->stats.drops[CEE_DROP_NOT_FOR_US]++;
	return false;
}

/* A received frame between the stages of rx_burst(). */
struct rx_item {
	struct cee_pkt p;
	uint32_t hash;  /**< steering hash (TCP) */
	uint32_t bucket; /**< its 4-tuple's table bucket (TCP, ours): hashed once per packet */
	uint16_t pi;    /**< port index it arrived on */
	bool ours;      /**< TCP owned by this shard */
};

// A port's NIC computes another RSS hash than ours (cee_flow.h): said once
// per shard and port, counted; this shard steers by its own from now on.
static void rss_mismatch(struct cee_shard *s, unsigned pi, uint32_t nic, uint32_t ours)
{
	s->stats.rss_mismatch++;
	fprintf(stderr,
		"cee: shard %u: port %u: the NIC's RSS hash 0x%08x differs from ours 0x%08x "
		"(its driver did not take our key or hash function): frames are steered by "
		"software hash from now on (rss_mismatch)\n",
		s->id, s->ports[pi].port_id, nic, ours);
}

// Stage 1: parse; for TCP, the steering hash and its owner.
static void rx_parse(struct cee_shard *s, struct rte_mbuf *m, bool owned, struct rx_item *it)
{
	struct cee_pkt *p = &it->p;
	it->ours = false;
	// A frame for another station's MAC is not ours, whatever it holds,
	// and it is not parsed (a port that sees other stations' unicast:
	// af_packet on an interface in promiscuous mode, a tcpdump; a bridge
	// port). Its IP frames were answered: after an HA pair's address moved
	// to the other node, this one reset the new active node's connections
	// (RST for no connection); parsed first, its fragments or bad
	// checksums counted as ip_fragment, bad_tcp_csum, ... (review of
	// session 33). Group addresses (broadcast ARP) go on to the parser,
	// which refuses multicast IP. (A hand-off's was checked where it came
	// in.)
	const struct rte_ether_addr *dst = rte_pktmbuf_mtod(m, const struct rte_ether_addr *);
	if (!owned && rte_pktmbuf_data_len(m) >= RTE_ETHER_ADDR_LEN && rte_is_unicast_ether_addr(dst) &&
	    unlikely(!rte_is_same_ether_addr(dst, &s->ports[it->pi].mac))) {
		p->kind = CEE_PKT_DROP;
		p->cause = CEE_DROP_NOT_FOR_US;
		return;
	}
	cee_net_parse(m, s->cfg->ip, s->cfg->ip_count, p);
	if ((p->kind == CEE_PKT_TCP || p->kind == CEE_PKT_ICMP_ECHO) &&
	    unlikely(subnet_edge(s, p->src_ip))) {
		p->kind = CEE_PKT_DROP;
		p->cause = CEE_DROP_BAD_IP_ADDR;
		return;
	}
	if (p->kind != CEE_PKT_TCP && p->kind != CEE_PKT_ICMP_PTB && p->kind != CEE_PKT_ICMP_UNREACH)
		return;
	uint32_t h;
	if (owned)
		h = m->hash.rss;
	else if (p->kind == CEE_PKT_TCP && s->ports[it->pi].rss &&
		 (m->ol_flags & RTE_MBUF_F_RX_RSS_HASH)) {
		// (an ICMP message's RSS hash is not its connection's)
		bool mismatch;
		h = cee_rss_hash(&s->rss_check[it->pi], m->hash.rss, p->src_ip, p->dst_ip, p->sport,
				 p->dport, &mismatch);
		if (unlikely(mismatch))
			rss_mismatch(s, it->pi, m->hash.rss, h);
	} else
		h = cee_flow_hash(p->src_ip, p->dst_ip, p->sport, p->dport);
	it->hash = h;
	it->ours = cee_flow_owner(h, s->nshards) == s->id;
}

// Stage 3: act on one parsed frame. @p owned: it came over a hand-off ring.
static void rx_one(struct cee_shard *s, struct rte_mbuf *m, bool owned, const struct rx_item *it)
{
	unsigned pi = it->pi;
	const struct cee_pkt *p = &it->p;
	switch ((enum cee_pkt_kind)p->kind) {
	case CEE_PKT_DROP:
		s->stats.drops[p->cause]++;
		break;
	case CEE_PKT_ARP:
		if (arp_rx(s, pi, m, owned))
			return;
		break;
	case CEE_PKT_ICMP_ECHO:
		cee_net_icmp_echo_reply(m, &s->ports[pi].mac, p);
		s->stats.icmp_replies++;
		tx_enqueue(s, pi, m);
		return;
	case CEE_PKT_TCP:
	case CEE_PKT_ICMP_PTB:
	case CEE_PKT_ICMP_UNREACH:
		if (!it->ours) {
			unsigned owner = cee_flow_owner(it->hash, s->nshards);
			m->hash.rss = it->hash;
			m->port = s->ports[pi].port_id; // PMDs such as net_ring leave it unset
			if (rte_ring_sp_enqueue(s->handoff[owner], m) == 0) {
				s->stats.handoff_out++;
				return;
			}
			s->stats.drops[CEE_DROP_HANDOFF_FULL]++;
			break;
		}
		if (p->kind == CEE_PKT_TCP)
			tcp_rx(s, pi, p, it->bucket);
		else
			icmp_quote_rx(s, p);
		break;
	}
	mbuf_put(s, m);
}

/*
 * A burst in three passes, so that the cache misses of its frames overlap
 * instead of following one another: (1) the mbufs and their headers were
 * last written by another core: load them all, parse, and start loading
 * each connection's 4-tuple bucket; (2) start loading the slot each bucket
 * points at; (3) process. @p pi: the port polled, or -1 for a hand-off ring
 * (the frame's port field says).
 */
static void rx_burst(struct cee_shard *s, int pi, struct rte_mbuf **pkts, unsigned n)
{
	struct rx_item it[CEE_RX_BURST];
	bool owned = pi < 0;
	for (unsigned i = 0; i < n; i++) { // for writing: reset and rebuilt here
		__builtin_prefetch(pkts[i], 1, 3);
		__builtin_prefetch((char *)pkts[i] + RTE_CACHE_LINE_SIZE, 1, 3); // next, tx_offload
	}
	for (unsigned i = 0; i < n; i++) { // headers and a short payload
		const char *d = rte_pktmbuf_mtod(pkts[i], const char *);
		__builtin_prefetch(d, 1, 3);
		__builtin_prefetch(d + RTE_CACHE_LINE_SIZE, 1, 3);
	}
	for (unsigned i = 0; i < n; i++) {
		it[i].pi = (uint16_t)(owned ? port_index(s, pkts[i]->port) : (unsigned)pi);
		rx_parse(s, pkts[i], owned, &it[i]);
		const struct cee_pkt *p = &it[i].p;
		if (it[i].ours) {
			it[i].bucket = cee_conn_bucket_h(s->chash, p->dst_ip, p->dport, p->src_ip,
							 p->sport);
			cee_conn_prefetch_bucket_at(s->pool, it[i].bucket);
		}
	}
	for (unsigned i = 0; i < n; i++)
		if (it[i].ours)
			cee_conn_prefetch_chain_at(s->pool, it[i].bucket);
	for (unsigned i = 0; i < n; i++)
		rx_one(s, pkts[i], owned, &it[i]);
}

static void timer_prefetch(const struct cee_timer_node *n)
{
	cee_conn_prefetch(cee_conn_of_timer((struct cee_timer_node *)(uintptr_t)n));
}

static void timer_fired(void *arg, struct cee_timer_node *n, uint64_t now_ns)
{
	struct cee_shard *s = arg;
	struct cee_conn *c = cee_conn_of_timer(n);
	c->tcb.timer_at_ns = 0; // disarmed by the wheel: any deadline re-arms it
	cee_tcp_timer(&s->tcp, &c->tcb, now_ns);
}

unsigned cee_shard_poll(struct cee_shard *s)
{
	struct rte_mbuf *pkts[CEE_RX_BURST];
	unsigned work = 0;
	// One clock read per iteration; the time since the previous one counts
	// as busy when that iteration found work.
	uint64_t tsc = rte_rdtsc();
	if (s->poll_worked) {
		uint64_t d = tsc - s->poll_tsc;
		s->stats.busy_tsc += d;
		if (d > s->stats.poll_max_tsc)
			s->stats.poll_max_tsc = d;
		if (d > 2 * s->ms_tsc)
			s->stats.polls_over_2ms++;
	}
	s->poll_tsc = tsc;
	// (never back: a line re-anchored by another thread between our TSC
	// read and this may put it a few ns behind the last iteration's)
	uint64_t now = clock_of_tsc(tsc);
	if (likely(now > s->now_ns))
		s->now_ns = now;
	if (unlikely(s->stacks != NULL)) // TLS: deferred handshakes first, a fresh budget
		work += cee_stack_poll(s);

	for (unsigned pi = 0; pi < s->nports; pi++) {
		if (s->id >= s->ports[pi].nb_rxq)
			continue;
		uint16_t n = rte_eth_rx_burst(s->ports[pi].port_id, (uint16_t)s->id, pkts,
					      CEE_RX_BURST);
		s->stats.rx_pkts += n;
		rx_burst(s, (int)pi, pkts, n);
		work += n;
	}
	for (unsigned j = 0; j < s->nshards; j++) {
		if (s->handoff_in[j] == NULL)
			continue;
		unsigned n = rte_ring_sc_dequeue_burst(s->handoff_in[j], (void **)pkts,
						       CEE_RX_BURST, NULL);
		rx_burst(s, -1, pkts, n);
		work += n;
	}
	const struct cee_app_ops *app = s->cfg->app;
	if (app && app->poll)
		app->poll(s->cfg->app_arg, s);
	if (unlikely(s->links != NULL))
		work += cee_shard_links_poll(s);
	if (s->now_ns >= s->arp_tick_ns) {
		cee_arp_tick(s->arp, s->now_ns, ARP_TICK_BUDGET, arp_request_cb, arp_drop_cb, s);
		if (unlikely(s->srclimit != NULL)) // stale sources leave the table
			(void)cee_srclimit_sweep(s->srclimit, s->now_ns, SRCLIMIT_SWEEP_BUDGET);
		if (unlikely(s->stacks != NULL) && s->now_ns >= s->tls_tick_ns) {
			s->tls_tick_ns = s->now_ns + 1000000000ull;
			cee_stack_tls_tick(s);
		}
		s->arp_tick_ns = s->now_ns + ARP_TICK_NS;
	}
	if (unlikely(s->nmoved > 0) && s->now_ns >= s->moved_walk_ns)
		moved_walk(s);
	uint32_t gen = atomic_load_explicit(&reload_gen, memory_order_relaxed);
	if (unlikely(gen != s->tls_gen)) { // on this shard's thread: its contexts are its own
		s->tls_gen = gen;
		cee_stack_tls_reload(s);
	}
	work += cee_timer_expire(s->wheel, s->now_ns, CEE_TIMER_BUDGET, timer_fired, s);
	work += cee_ctl_shard_poll(s); // mailbox: bounded, see cee_ctl.h
	if (s->tcp.ackq_n) // the ACKs this iteration's segments still owe (cfg.delack)
		cee_tcp_flush_acks(&s->tcp, s->now_ns);
	tx_flush(s);
	s->poll_worked = work != 0;
	s->stats.polls++;
	return work;
}

struct abort_ctx {
	struct cee_shard *s;
	enum cee_reason reason;
};

static void abort_one(void *arg, struct cee_conn *c)
{
	struct abort_ctx *a = arg;
	cee_tcp_abort(&a->s->tcp, &c->tcb, a->reason, a->s->now_ns);
}

void cee_shard_abort_all(struct cee_shard *s, enum cee_reason reason)
{
	struct abort_ctx a = {.s = s, .reason = reason};
	// never back (the poll loop's rule): a re-anchored clock line may read
	// a few ns behind this shard's last iteration, and a SYN of that
	// iteration then had a negative duration_ns (wrapped)
	uint64_t now = cee_clock_ns();
	if (now > s->now_ns)
		s->now_ns = now;
	// every RST out, not dropped at a full queue
	s->tx_stalled = 0;
	s->tx_patient_until = cee_clock_ns() + TX_PATIENCE_BUDGET_NS;
	cee_conn_foreach(s->pool, abort_one, &a);
	tx_flush(s);
	s->tx_patient_until = 0;
}

struct grace_walk {
	struct cee_shard *s;
	unsigned closing;
};

static void close_graceful(void *arg, struct cee_conn *c)
{
	struct grace_walk *w = arg;
	// a half-open one was never announced: it ends silently at the abort
	// (or, its handshake completing meanwhile, is closed by count_closing)
	if (c->tcb.state == CEE_TCP_SYN_RECEIVED)
		return;
	w->closing++;
	cee_shard_close(w->s, c, CEE_REASON_SHUTDOWN);
}

// Connections whose close is still under way: our FIN (or, for a
// WebSocket, our Close frame and the peer's) not yet acknowledged. In
// FIN-WAIT-2 and TIME-WAIT everything we sent has arrived. One whose
// handshake completed since the first walk (half open then: skipped) and
// has no close cause yet is closed now: it was announced and served, and
// held the grace to its end.
static void count_closing(void *arg, struct cee_conn *c)
{
	struct grace_walk *w = arg;
	if ((c->tcb.state == CEE_TCP_ESTABLISHED || c->tcb.state == CEE_TCP_CLOSE_WAIT) &&
	    c->tcb.close_reason == CEE_REASON_NONE)
		cee_shard_close(w->s, c, CEE_REASON_SHUTDOWN);
	switch ((enum cee_tcp_state)c->tcb.state) {
	case CEE_TCP_ESTABLISHED:
	case CEE_TCP_CLOSE_WAIT:
	case CEE_TCP_FIN_WAIT_1:
	case CEE_TCP_CLOSING:
	case CEE_TCP_LAST_ACK:
		w->closing++;
		break;
	case CEE_TCP_CLOSED:
	case CEE_TCP_SYN_SENT:
	case CEE_TCP_SYN_RECEIVED:
	case CEE_TCP_FIN_WAIT_2:
	case CEE_TCP_TIME_WAIT:
	case CEE_TCP_STATE__COUNT:
		break;
	}
}

#define GRACE_CHECK_NS (1000000ull) /* a walk of the table at most every 1 ms */

/*
 * --shutdown-grace: close every connection as a server going away should
 * (a WebSocket Close 1001, close_notify, a FIN after the queued data), then
 * poll on (acknowledgements, the peers' Close frames and FINs, retransmits;
 * new SYNs are refused: draining) until each close is done or the grace
 * ends (or a second stop signal). The abort that follows resets what is
 * left; closed has said shutdown already.
 */
static void shutdown_grace(struct cee_shard *s, uint32_t idle_us)
{
	uint64_t now = cee_clock_ns();
	if (now > s->now_ns)
		s->now_ns = now;
	uint64_t deadline = s->now_ns + s->cfg->shutdown_grace_ns;
	struct grace_walk first = {.s = s};
	cee_conn_foreach(s->pool, close_graceful, &first);
	tx_flush(s);
	fprintf(stderr, "cee: shard %u: shutdown-grace: closing %u connections (at most %.1f s)\n",
		s->id, first.closing, (double)s->cfg->shutdown_grace_ns / 1e9);
	uint64_t next_check = 0;
	bool done = false; // this shard's closes: counted out of grace_left
	while (!atomic_load_explicit(&s->hurry, memory_order_acquire)) {
		unsigned n = cee_shard_poll(s);
		if (s->now_ns >= deadline)
			break;
		// (done, the walks go on: a handshake that completes here while
		// another shard is still closing is closed too)
		if (s->now_ns >= next_check) {
			struct grace_walk w = {.s = s};
			cee_conn_foreach(s->pool, count_closing, &w);
			tx_flush(s);
			bool d = w.closing == 0;
			if (d != done && s->grace_left != NULL) {
				if (d) {
					atomic_fetch_sub_explicit(s->grace_left, 1, memory_order_acq_rel);
				} else {
					// back from 0 never: every other shard may have
					// left, and this close's ACK or FIN can come in on
					// their queues, read by none (the grace held to
					// its end); it is left to the abort, as one past
					// the grace
					unsigned cur = atomic_load_explicit(s->grace_left,
									    memory_order_acquire);
					while (cur != 0 &&
					       !atomic_compare_exchange_weak_explicit(
						   s->grace_left, &cur, cur + 1, memory_order_acq_rel,
						   memory_order_acquire)) {
					}
					if (cur == 0)
						break;
				}
			}
			done = d;
			next_check = s->now_ns + GRACE_CHECK_NS;
		}
		// done: on until every shard is (their frames may come in here)
		if (done && (s->grace_left == NULL ||
			     atomic_load_explicit(s->grace_left, memory_order_acquire) == 0))
			break;
		if (n == 0 && idle_us)
			rte_delay_us_sleep(idle_us);
	}
}

int cee_shard_main(void *arg)
{
	struct cee_shard *s = arg;
	uint32_t idle_us = s->cfg->poll_idle_us;
	if (s->cfg->sched_policy != SCHED_OTHER) { // --sched (checked at the start)
		struct sched_param sp = {.sched_priority = s->cfg->sched_priority};
		int rc = pthread_setschedparam(pthread_self(), s->cfg->sched_policy, &sp);
		if (rc != 0)
			fprintf(stderr, "cee: shard %u: --sched: %s\n", s->id, strerror(rc));
	}
	// wolfSSL's lazy set-up (milliseconds, partly per thread) here, on this
	// lcore, rather than in the first client's handshake
	if (s->tls_srv != NULL)
		(void)cee_tls_ctx_warm(s->tls_srv);
	while (!atomic_load_explicit(&s->stop, memory_order_acquire)) {
		if (cee_shard_poll(s) == 0 && idle_us)
			rte_delay_us_sleep(idle_us);
	}
	cee_shard_links_drain(s, true); // no reconnects: link_down says no next attempt
	// no new connection from here (an app's closed hook that reconnects):
	// the abort walk below might pass its slot, and it would end without
	// closed and destroyed
	s->mbox.draining = true;
	if (s->cfg->shutdown_grace_ns != 0)
		shutdown_grace(s, idle_us);
	cee_shard_abort_all(s, CEE_REASON_SHUTDOWN);
	mbuf_recycle_drain(s);
	cee_ctl_shard_close(s);
	atomic_store_explicit(&s->done, true, memory_order_release);
	return 0;
}

/* ---- active open ---------------------------------------------------------- */

#define SPORT_FIRST 1024
#define SPORT_COUNT (65536 - SPORT_FIRST)

struct cee_conn *cee_shard_connect(struct cee_shard *s, unsigned pi, uint32_t dst_ip,
				   uint16_t dst_port, enum cee_tcp_service service)
{
	return cee_shard_open_active(s, pi, dst_ip, dst_port, service, CEE_PROTO_TCP, NULL, 0);
}

struct cee_conn *cee_shard_open_active(struct cee_shard *s, unsigned pi, uint32_t dst_ip,
				       uint16_t dst_port, enum cee_tcp_service service,
				       enum cee_proto proto, void *user, uint32_t link)
{
	unsigned credits = proto != CEE_PROTO_TCP ? s->evt_per_conn_layers : s->evt_per_conn;
	if (link != 0 && credits != 0)
		credits += CEE_LINK_EVT_EXTRA;
	// cee-ctl drain: no new connections, ours included; a link's drain
	// notice passes, that one open alone (not the opens its callbacks
	// would make: an app's closed hook that reconnects)
	if (unlikely(s->mbox.draining)) {
		if (!s->mbox.drain_exempt) {
			s->mbox.stats.drain_refused++;
			s->stats.connect_fail++;
			errno = ESHUTDOWN;
			return NULL;
		}
		s->mbox.drain_exempt = false;
	}
	// every open leaves the room of the links waiting to reconnect; a
	// link's own attempt has given its hold back (cee_shard_link.c), so
	// what it finds held is the other links'. (Links' attempts did not
	// ask: one whose lingering attempts were not reclaimed took the slot
	// another link held, whose next attempt then failed locally.)
	if (unlikely(s->link_hold_slots != 0) && !cee_shard_link_room(s, credits)) {
		s->stats.refused_link_room++;
		s->stats.connect_fail++;
		errno = ENOSPC;
		return NULL;
	}
	// A source (address, port) whose flow this shard owns (the same owner
	// function as steering) and whose tuple is free.
	uint64_t space = (uint64_t)s->cfg->ip_count * SPORT_COUNT;
	uint32_t src_ip = 0, hash = 0, bucket = 0;
	uint16_t sport = 0;
	bool found = false;
	unsigned tries = cee_flow_src_tries(s->nshards);
	for (unsigned t = 0; t < tries; t++) {
		uint64_t k = s->src_cursor;
		s->src_cursor = (uint32_t)((k + 1) % space);
		src_ip = s->cfg->ip + (uint32_t)(k / SPORT_COUNT);
		sport = (uint16_t)(SPORT_FIRST + k % SPORT_COUNT);
		hash = cee_flow_hash(src_ip, dst_ip, sport, dst_port);
		if (cee_flow_owner(hash, s->nshards) != s->id)
			continue;
		// never a listener's port (as Linux never binds one): a peer that
		// connects to it from that same port (SIP's fixed source ports)
		// would land on this connection
		if (unlikely(s->cfg->nlisteners != 0) && find_listener(s, sport) >= 0)
			continue;
		// (the previous open hashed this source already, to prefetch its bucket)
		if (s->next_src.valid && s->next_src.cursor == k && s->next_src.dst_ip == dst_ip &&
		    s->next_src.dst_port == dst_port)
			bucket = s->next_src.bucket;
		else
			bucket = cee_conn_bucket_h(s->chash, src_ip, sport, dst_ip, dst_port);
		if (cee_conn_by_tuple_at(s->pool, bucket, src_ip, sport, dst_ip, dst_port) != NULL)
			continue;
		found = true;
		break;
	}
	if (!found) {
		s->stats.connect_fail++;
		errno = EADDRNOTAVAIL;
		return NULL;
	}
	if (!cee_shard_reserve_events(s, credits)) {
		s->stats.connect_fail++;
		errno = ENOBUFS;
		return NULL;
	}
	struct cee_conn *c = cee_conn_alloc_at(s->pool, bucket, src_ip, sport, dst_ip, dst_port);
	if (c == NULL) {
		unreserve_events(s, credits);
		s->stats.connect_fail++;
		errno = ENOSPC;
		return NULL;
	}
	c->reserved = (uint8_t)credits;
	c->port_id = (uint16_t)pi;
	c->proto = (uint8_t)proto;
	c->tcb.user = user;
	c->listener = CEE_CONN_ACTIVE;
	c->link = (uint16_t)link;
	// a link has an idle limit of its own (--link-idle-timeout, default
	// none: --keepalive finds a dead peer); --idle-timeout is the listeners'
	if (link != 0)
		c->tcb.oflags |= CEE_TCB_O_LINK_IDLE;
	if (link != 0 || s->cfg->keepalive_all)
		c->tcb.oflags |= CEE_TCB_O_KEEPALIVE;
	s->stats.connected++;
	// The next open most likely tries the next source towards the same
	// peer: start loading the bucket its free-tuple check reads, and keep
	// it for that check.
	uint32_t k = s->src_cursor;
	s->next_src.bucket =
	    cee_conn_bucket_h(s->chash, s->cfg->ip + k / SPORT_COUNT,
			      (uint16_t)(SPORT_FIRST + k % SPORT_COUNT), dst_ip, dst_port);
	s->next_src.cursor = k;
	s->next_src.dst_ip = dst_ip;
	s->next_src.dst_port = dst_port;
	s->next_src.valid = true;
	cee_conn_prefetch_bucket_at(s->pool, s->next_src.bucket);
	cee_tcp_connect(&s->tcp, &c->tcb, service, s->now_ns);
	return c;
}

bool cee_shard_neigh_ready(struct cee_shard *s, unsigned pi, uint32_t dst_ip)
{
	uint32_t nh = next_hop(s, dst_ip);
	if (nh == 0)
		return false;
	uint8_t mac[6];
	bool req;
	if (cee_arp_resolve(s->arp, pi, nh, s->now_ns, mac, NULL, &req) == CEE_ARP_OK)
		return true;
	if (req)
		arp_request(s, pi, nh);
	return false;
}

int64_t cee_shard_monitor_add(struct cee_shard *s, cee_conn_id_t id, cee_monitor_fn fn, void *arg)
{
	if (s->monitors == NULL) {
		// as many as connections, plus room for cee-ctl watches and link
		// attempts when every slot is taken
		s->monitors = cee_monitors_create(cee_conn_max(s->pool) + 64);
		if (s->monitors == NULL)
			return -errno;
	}
	struct cee_conn *c = cee_conn_by_id(s->pool, id);
	if (c != NULL && (c->tcb.oflags & CEE_TCB_O_QUIET))
		c = NULL; // half open: no event named it yet, "no such connection"
	int state = c == NULL				? CEE_MONITOR_GONE
		    : (c->tcb.flags & CEE_TCB_F_CLOSED) ? (int)c->tcb.close_reason
							: CEE_MONITOR_LIVE;
	return cee_monitors_add(s->monitors, id, state, fn, arg);
}

int cee_shard_monitor_remove(struct cee_shard *s, int64_t handle)
{
	return s->monitors != NULL ? cee_monitors_remove(s->monitors, handle) : -ENOENT;
}

int cee_shard_send(struct cee_shard *s, struct cee_conn *c, const void *data, uint32_t len)
{
	if (c->tcb.user != NULL)
		return cee_stack_send(s, c, data, len);
	int rc = cee_tcp_send(&s->tcp, &c->tcb, data, len, s->now_ns);
	if (rc >= 0 && (uint32_t)rc < len) { // the rest when an ACK makes room (writable)
		c->tcb.oflags |= CEE_TCB_O_WANT_WRITE;
		s->stats.app_send_deferred++;
	}
	return rc;
}

uint32_t cee_shard_send_room(struct cee_shard *s, struct cee_conn *c)
{
	if (c->tcb.user != NULL)
		return cee_stack_send_room(s, c);
	return cee_tcp_send_room(&s->tcp, &c->tcb);
}

void cee_shard_close(struct cee_shard *s, struct cee_conn *c, enum cee_reason reason)
{
	if (reason == CEE_REASON_NONE) // every closed has a cause (cee-audit holds it to one)
		reason = CEE_REASON_LOCAL_CLOSE;
	// close_notify or a Close frame before the FIN (a WebSocket waits for the
	// peer's Close; the connection may also end meanwhile)
	if (c->tcb.user != NULL && cee_stack_close(s, c, reason) <= 0)
		return;
	cee_tcp_close(&s->tcp, &c->tcb, reason, s->now_ns);
}

void cee_shard_abort(struct cee_shard *s, struct cee_conn *c, enum cee_reason reason)
{
	if (reason == CEE_REASON_NONE)
		reason = CEE_REASON_LOCAL_CLOSE;
	cee_tcp_abort(&s->tcp, &c->tcb, reason, s->now_ns);
}

/* ---- set-up --------------------------------------------------------------- */

unsigned cee_shard_conn_credits_max(const struct cee_engine_cfg *cfg)
{
	if (cfg->no_events)
		return 0;
	unsigned n = cee_engine_cfg_layers(cfg, NULL, NULL, NULL, NULL) ? CEE_CONN_EVT_LAYERS
									 : CEE_CONN_EVT_TCP;
	return n + (cfg->nlinks > 0 ? CEE_LINK_EVT_EXTRA : 0);
}

uint32_t cee_shard_slots(const struct cee_engine_cfg *cfg, unsigned shard, unsigned nshards)
{
	uint32_t share = cee_flow_share(cfg->max_conns, shard, nshards);
	uint64_t links = 2 * (uint64_t)cee_links_on_shard(cfg->nlinks, shard, nshards);
	return links > share ? (uint32_t)links : share;
}

// the send buffers of a shard with @p per_shard slots: small, large
static void sndbufs_of(const struct cee_engine_cfg *cfg, uint32_t per_shard, uint32_t *nsb,
		       uint32_t *nlarge)
{
	*nsb = cfg->sndbufs ? cfg->sndbufs : (per_shard < 4096 ? per_shard : 4096);
	*nlarge = cfg->tcp.sndbuf_max > cfg->tcp.sndbuf ? cfg->sndbufs_max : 0;
}

uint64_t cee_shard_pool_bytes(const struct cee_engine_cfg *cfg, unsigned shard, unsigned nshards)
{
	uint32_t per_shard = cee_shard_slots(cfg, shard, nshards), nsb, nlarge;
	sndbufs_of(cfg, per_shard, &nsb, &nlarge);
	uint64_t bytes = cee_stack_pool_bytes(cfg, per_shard);
	for (unsigned cls = 0; cls < 2; cls++)
		bytes += (uint64_t)(cls == 0 ? nsb : nlarge) *
			 RTE_ALIGN_CEIL((uint64_t)cee_tcp_buf_size(&cfg->tcp, cls), RTE_CACHE_LINE_SIZE);
	return bytes;
}

uint32_t cee_shard_evring_records(const struct cee_engine_cfg *cfg, unsigned nshards)
{
	if (cfg->no_events || nshards == 0)
		return 0;
	// (one size for every shard's ring: shard 0's slots, the most)
	uint32_t per_shard = cee_shard_slots(cfg, 0, nshards);
	bool layers = cee_engine_cfg_layers(cfg, NULL, NULL, NULL, NULL);
	// every slot's reservation, and a link's link_up and link_down on top
	// for the links of the shard that has the most (shard 0): sized for
	// slots alone, a ring held a third of them as TCP links, and the rest
	// of the links were refused for ever, without an event
	// and twice: a link holds its next attempt's whole room (hold(),
	// cee_shard_link.c) beside its current attempt's, for as long as it
	// runs. With slots S, n links and R records a slot (A = R + 8 a link's
	// attempt), the most reserved and held at once is (S - 2n) R for the
	// slots the links leave + 2n A, that is S R + 2n 8. At S R + 8n, 4 links
	// on 8 slots had 64 records of the 96 they need: the fourth link was
	// never let in, while the three others stayed up (test_ring_links many)
	uint64_t ring = cfg->event_ring
			    ? cfg->event_ring
			    : (uint64_t)per_shard * (layers ? CEE_CONN_EVT_LAYERS : CEE_CONN_EVT_TCP) +
				  (uint64_t)cee_links_on_shard(cfg->nlinks, 0, nshards) * 2 *
				      CEE_LINK_EVT_EXTRA;
	return ring > (UINT32_C(1) << 30) ? UINT32_C(1) << 30 : (uint32_t)ring;
}

uint64_t cee_shard_links_credits(const struct cee_engine_cfg *cfg, unsigned shard,
				 unsigned nshards)
{
	if (cfg->no_events || nshards == 0)
		return 0;
	uint64_t n = 0;
	// the links cee_shard_links_init() gives the shard: each its current
	// attempt's records and its next one's, held (hold())
	for (uint32_t i = shard; i < cfg->nlinks; i += nshards)
		n += 2 * ((cfg->links[i].tls ? CEE_CONN_EVT_LAYERS : CEE_CONN_EVT_TCP) +
			  CEE_LINK_EVT_EXTRA);
	return n;
}

int cee_shard_init(struct cee_shard *s, unsigned id, unsigned nshards, unsigned socket,
		   const struct cee_engine_cfg *cfg, const struct cee_port_info *ports,
		   unsigned nports, struct rte_mempool *mp)
{
	(void)socket;
	s->id = id;
	s->nshards = nshards;
	s->cfg = cfg;
	s->ports = ports;
	s->nports = nports;
	cee_mbox_set_bytes_fns(cee_shard_conn_bytes_in, cee_shard_conn_bytes_out);
	for (unsigned pi = 0; pi < CEE_MAX_PORTS; pi++)
		s->rss_check[pi] = (struct cee_rss_check){.left = CEE_RSS_CHECKS};
	s->mp = mp;
	s->min_buf_len = rte_pktmbuf_data_room_size(mp);
	s->data_off0 = (uint16_t)(sizeof(struct rte_mbuf) + rte_pktmbuf_priv_size(mp) +
				  RTE_MIN(RTE_PKTMBUF_HEADROOM, s->min_buf_len));
	// open, established, closed, destroyed (TCP); none without events
	s->evt_per_conn = cfg->no_events ? 0 : CEE_CONN_EVT_TCP;
	// layers add tls_up, ws_up and the extension records of those and closed
	s->evt_per_conn_layers = cfg->no_events ? 0 : CEE_CONN_EVT_LAYERS;
	atomic_init(&s->stop, false);
	atomic_init(&s->done, false);
	memcpy(&s->isn_key, cfg->hash_secret + 16, sizeof(s->isn_key));
	memcpy(&s->cookie_key, cfg->hash_secret + 32, sizeof(s->cookie_key));
	uint32_t per_shard = cee_shard_slots(cfg, id, nshards);
	if (cfg->max_conns_per_ip || cfg->syn_rate_per_ip) {
		struct cee_siphash_key skey;
		memcpy(&skey, cfg->hash_secret + 48, sizeof(skey));
		s->srclimit = cee_srclimit_create(cee_srclimit_sources_for(per_shard),
						  cfg->max_conns_per_ip, cfg->syn_rate_per_ip, &skey);
		if (s->srclimit == NULL)
			return -ENOMEM;
	}

	s->pool = cee_conn_pool_create(id, per_shard);
	if (s->pool == NULL)
		return -errno;
	// a backlog at or above the shard's slots never engaged the cookies
	// before the slots ran out: at most half of them wait half open
	s->syn_backlog = cfg->syn_backlog;
	if (s->syn_backlog > cee_conn_max(s->pool) / 2)
		s->syn_backlog = cee_conn_max(s->pool) / 2 ? cee_conn_max(s->pool) / 2 : 1;
	struct cee_siphash_key tkey;
	memcpy(&tkey, cfg->hash_secret, sizeof(tkey));
	cee_conn_pool_set_key(s->pool, &tkey);
	s->chash = cee_conn_pool_hash(s->pool);
	int rc = cee_ctl_shard_init(s);
	if (rc < 0)
		return rc;
	if (!cfg->no_events) {
		bool layers = cee_engine_cfg_layers(cfg, NULL, NULL, NULL, NULL);
		s->evring = cee_evring_create(id, cee_shard_evring_records(cfg, nshards));
		if (s->evring == NULL)
			return -errno;
		uint32_t need = layers ? s->evt_per_conn_layers : s->evt_per_conn;
		// an explicit ring below the slots' reservations caps connections
		// below --max-conns: said once, not found out from refusals (the
		// links' reservations first: they hold theirs for good)
		uint64_t links = cee_shard_links_credits(cfg, id, nshards);
		uint64_t cap = cee_evring_capacity(s->evring);
		// (the links' slots: each its attempt's and the one held for its next)
		uint32_t mine = 2 * cee_links_on_shard(cfg->nlinks, id, nshards);
		uint32_t fits = mine + (uint32_t)((cap > links ? cap - links : 0) / need);
		if (id == 0 && cfg->event_ring && fits < per_shard)
			fprintf(stderr,
				"cee: --event-ring %u holds the reservations of %u connections per "
				"shard, fewer than --max-conns gives each (%u): beyond, new ones are "
				"refused (ring_refused)\n",
				cfg->event_ring, fits, per_shard);
	}
	struct cee_arp_cfg acfg;
	cee_arp_cfg_default(&acfg);
	s->arp = cee_arp_create(1024, &acfg);
	if (s->arp == NULL)
		return -errno;
	s->now_ns = cee_clock_ns();
	s->ms_tsc = rte_get_tsc_hz() / 1000;
	// active opens start at a random source (RFC 6056): from 1024 at every
	// start, a restarted engine's k-th attempt met the tuple its last run
	// left in the server's TIME-WAIT (or still open, after a crash)
	s->src_cursor = (uint32_t)(rte_rand() % ((uint64_t)cfg->ip_count * SPORT_COUNT));
	s->wheel = cee_timer_wheel_create(1000000, 4096, s->now_ns); // 1 ms ticks, 4 s per turn
	if (s->wheel == NULL)
		return -errno;
	cee_timer_wheel_set_prefetch(s->wheel, timer_prefetch);

	uint32_t nsb, nlarge;
	sndbufs_of(cfg, per_shard, &nsb, &nlarge);
	if (sb_pool_init(s, 0, nsb) < 0 || sb_pool_init(s, 1, nlarge) < 0)
		return -ENOMEM;

	s->tcp.cfg = cfg->tcp;
	s->tcp.ops = &shard_tcp_ops;
	s->tcp.owner = s;
	s->tcp.isn = tcp_isn;
	s->tcp.ts_off = conn_ts_off;
	// (the ISN's key on a message no tuple makes: a remote address of 0)
	uint64_t tsk = cee_siphash_12(2, 4, &s->isn_key, 0x7473, 0);
	s->tcp.ts_key = (uint32_t)(tsk >> 32);
	s->ts_mul = (uint32_t)tsk | 1;
	s->tcp.rng = rte_rand() | 1; // the RFC 5961 7 budget's draw
	rc = cee_stack_init(s, per_shard);
	if (rc < 0)
		return rc;
	return cee_shard_links_init(s);
}

void cee_shard_fini(struct cee_shard *s)
{
	cee_ctl_shard_fini(s);
	cee_shard_links_fini(s);
	cee_srclimit_destroy(s->srclimit);
	s->srclimit = NULL;
	cee_monitors_destroy(s->monitors);
	s->monitors = NULL;
	cee_stack_fini(s);
	if (s->wheel)
		cee_timer_wheel_destroy(s->wheel);
	cee_conn_pool_destroy(s->pool);
	cee_arp_destroy(s->arp, arp_drop_cb, NULL);
	s->arp = NULL;
	if (s->evring)
		cee_evring_destroy(s->evring);
	for (unsigned k = 0; k < 2; k++) {
		free(s->sb[k].block);
		free(s->sb[k].free);
		s->sb[k].block = NULL;
		s->sb[k].free = NULL;
	}
	mbuf_recycle_drain(s);
	for (unsigned pi = 0; pi < s->nports; pi++) {
		rte_pktmbuf_free_bulk(s->tx[pi].pkts, s->tx[pi].n);
		s->tx[pi].n = 0;
	}
}
