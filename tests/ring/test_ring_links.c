/* SPDX-License-Identifier: BSD-3-Clause */
// Links on a one-shard engine over net_ring, the peer (the link's server
// and clients) played frame by frame (ring_peer.h). Scenarios, one a run:
//
// room: one shard of 3 slots, a listener and a TCP link. Fault guarded
// against (review of links): inbound connections took the slot a link
// waiting to reconnect needed. Its server reset it; in its backoff three
// clients filled the shard; each attempt then failed locally (no slot),
// with no event of any kind, and backed off ever longer (to 30 s) for as
// long as the clients stayed: a trunk that never came back, while the last
// word to the control plane was a link_down promising a retry. Now a
// waiting link holds a slot and its event room: the third client is
// refused (RST, refused_link_room) and the link's next SYN goes out on time.
//
// linger: the same shard, the link up when two clients arrive. Fault
// guarded against (review of links): the link held its room only while it
// waited to reconnect, so both clients were admitted beside it and filled
// the shard; its server then closed it (FIN) and never acknowledged ours,
// and the closed attempt kept its slot in LAST-ACK: every retry failed
// locally (link_open_failed, no event) and backed off ever longer, after a
// link_down that promised one within a second or two. Now the room of the
// next attempt is held while the link is up too: the second client is
// refused, and the next SYN goes out on time beside the lingering attempt;
// and when that one drops the same way, the third (the link's oldest
// lingering attempt ends early: link_reclaimed).
//
// tls0: a TLS link under --handshake-timeout 0 whose server accepts TCP,
// acknowledges the ClientHello and says nothing (a plain SIP/TCP port, a
// hung TLS stack). Fault guarded against (same review): the attempt stayed
// `connecting` for ever, never retried. An active open's handshake keeps
// a 10 s limit: closed with handshake_timeout, then the next attempt.
//
// unreach: a TCP link whose next hop never answers ARP. Fault guarded
// against (review of the network layer): the link waited for ARP for ever,
// 10 ms at a time, with no attempt and no event (only link_arp_waits
// grew): a trunk to a host that is gone was silent. Now, once the
// resolver gives up (3 requests unanswered), the attempt is made and
// closes at once with host_unreachable (open, closed, destroyed; no
// link_down: it was never up), once for each time the resolver gives up,
// and the link tries again on its backoff: when the neighbour answers, its
// SYN goes.
//
// finwait: a TCP link under --link-idle-timeout 1 whose server acks the
// engine's FIN, never sends its own and keeps writing (SIP keepalives, a
// byte every 200 ms). Fault guarded against (review of links): each byte
// was taken, acked and restarted the FIN-WAIT-2 deadline, and `closed`
// comes only at CLOSING, LAST-ACK or TIME-WAIT: no closed, no link_down,
// no new attempt, ever, the link `up` in cee-ctl links. Now data after
// our close resets the connection (RFC 1122 4.2.2.13, Linux's
// TCPAbortOnData): closed with its first cause (idle_timeout), link_down,
// and the next SYN within the backoff.
//
// drain: a link that went down and waits out its backoff when cee-ctl
// drain comes (over the command socket). Fault guarded against (review of
// links): it became `drained` with no event, the retry its link_down
// promised (next_attempt_ms) never made nor withdrawn. Now the stream says
// it: the attempt it will not make is opened and ended at once (open,
// closed with reason shutdown, destroyed; no SYN on the wire), and cee-ctl
// links counts it in attempts, as every open.
//
// closing: as linger, the link's attempts ending in CLOSING (FINs crossed,
// ours never acked: --link-idle-timeout 6 closes, the server's FIN
// crosses it) and LAST-ACK. Fault guarded against (review of links): the
// reclaim took TIME-WAIT and LAST-ACK only, so the link's oldest lingering
// attempt (CLOSING) kept its slot and the newer one was ended instead.
//
// many: four TCP links on a shard of 8 slots (--max-conns 8, two a link:
// the least it takes), every SYN answered. Fault guarded against (review
// of links): the default event ring was sized for each slot's reservation
// and 8 more records a link (its link_up and link_down), but a link holds
// its next attempt's whole room (12 records) beside its current
// attempt's, all the while: 64 records for the four, and 96 needed. Two
// links came up at once, the third when they were up, and the fourth
// never (each attempt refused locally: link_open_failed, no event), while
// the three others stayed up. Now the ring holds both for every link; and
// a link reset by its server while the others are up comes back.
//
// Synchronisation: frames and events awaited with deadlines; the backoff
// (3-6 s) is the window the clients arrive in (a second each at most).
#include <signal.h>

#include <rte_arp.h>
#include <rte_eal.h>

#include "cee_audit.h"
#include "ring_peer.h"

#define ECHO_PORT 7

static uint16_t LINK_PORT = 5060; // the link's server's port
static const struct rte_ether_addr peer_mac = {{0x02, 0, 0, 0, 0, 0xa}};

static void send_tcp(uint16_t sport, uint16_t dport, uint8_t flags, uint32_t seq, uint32_t ack)
{
	struct rte_mbuf *m =
	    peer_seg(&peer_mac, &engine_mac, PEER_IP, sport, dport, flags, seq, ack, NULL, 0);
	if (m)
		send_frame(rp_port, 0, m);
}

// The engine's next frame of the link (to LINK_PORT), answering its ARP
// requests for PEER_IP on the way. @return false when none came in @p ms.
static bool link_frame(struct cee_pkt *p, unsigned ms)
{
	uint64_t end = now_ms() + ms;
	while (now_ms() < end) {
		struct rte_mbuf *m = recv_frame((unsigned)(end - now_ms()) + 1);
		if (m == NULL)
			return false;
		cee_net_parse(m, PEER_IP, 1, p);
		if (p->kind == CEE_PKT_ARP) {
			struct rte_arp_hdr *a = rte_pktmbuf_mtod_offset(
			    m, struct rte_arp_hdr *, sizeof(struct rte_ether_hdr));
			if (a->arp_opcode == rte_cpu_to_be_16(RTE_ARP_OP_REQUEST) &&
			    a->arp_data.arp_tip == rte_cpu_to_be_32(PEER_IP)) {
				struct rte_ether_hdr *eth =
				    rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
				eth->dst_addr = eth->src_addr;
				eth->src_addr = peer_mac;
				a->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
				a->arp_data.arp_tha = a->arp_data.arp_sha;
				a->arp_data.arp_tip = a->arp_data.arp_sip;
				a->arp_data.arp_sha = peer_mac;
				a->arp_data.arp_sip = rte_cpu_to_be_32(PEER_IP);
				send_frame(rp_port, 0, m);
				continue;
			}
		}
		bool ours = p->kind == CEE_PKT_TCP && p->dport == LINK_PORT;
		// (p->seg.data points into m: the link's frames carry none here)
		rte_pktmbuf_free(m);
		if (ours)
			return true;
	}
	return false;
}

// The next SYN of the link within @p ms: its source port and ISN.
static bool link_syn(uint16_t *port, uint32_t *isn, unsigned ms)
{
	struct cee_pkt p;
	uint64_t end = now_ms() + ms;
	while (now_ms() < end && link_frame(&p, (unsigned)(end - now_ms()) + 1))
		if (p.seg.flags == CEE_TCP_SYN) {
			*port = p.sport;
			*isn = p.seg.seq;
			return true;
		}
	return false;
}

static unsigned synacks, rsts;

static void send_data(uint16_t sport, uint16_t dport, uint8_t flags, uint32_t seq, uint32_t ack,
		      const void *data, uint32_t len)
{
	struct rte_mbuf *m =
	    peer_seg(&peer_mac, &engine_mac, PEER_IP, sport, dport, flags, seq, ack, data, len);
	if (m)
		send_frame(rp_port, 0, m);
}

// The link's next FIN (from @p lport) within @p ms: its sequence number.
static bool link_fin(uint16_t lport, uint32_t *seq, unsigned ms)
{
	struct cee_pkt p;
	uint64_t end = now_ms() + ms;
	while (now_ms() < end && link_frame(&p, (unsigned)(end - now_ms()) + 1))
		if (p.sport == lport && (p.seg.flags & CEE_TCP_FIN)) {
			*seq = p.seg.seq;
			return true;
		}
	return false;
}

// An event of @p type on the connection whose engine side is port @p lport, within @p ms.
static const struct cee_event *event_of(uint16_t lport, enum cee_evt_type type, unsigned ms)
{
	uint64_t end = now_ms() + ms;
	do {
		pump();
		for (size_t i = 0; i < nevs; i++)
			if (evs[i].local_port == lport && evs[i].type == type)
				return &evs[i];
		usleep(200);
	} while (now_ms() < end);
	return NULL;
}

// The engine with @p n arguments @p args (after "test"): created, started.
static struct cee_engine_cfg cfg; // (the engine's copy shares its links: freed after it)

// An embedder's hooks for the next start_engine() (NULL: none).
static const struct cee_app_ops *app_ops;

static bool start_engine(int port, char **args, int n)
{
	cee_engine_cfg_default(&cfg);
	if (cee_engine_parse_args(&cfg, n, args) != 0)
		return false;
	cfg.app = app_ops;
	if (!ring_engine_start(&cfg, port))
		return false;
	return true;
}

// At least @p n events of @p type (any connection) within @p ms.
static bool count_events(enum cee_evt_type type, size_t n, unsigned ms)
{
	uint64_t end = now_ms() + ms;
	do {
		pump();
		size_t k = 0;
		for (size_t i = 0; i < nevs; i++)
			k += evs[i].type == type;
		if (k >= n)
			return true;
		usleep(200);
	} while (now_ms() < end);
	return false;
}

// room's and linger's engine: one shard of 3 slots, a listener and a TCP
// link (--reconnect @p reconnect), the link brought up (its server's ISN
// @p piss): its port and ISN.
static bool start_link_up(int port, char *reconnect, uint32_t piss, uint16_t *lport,
			  uint32_t *lisn)
{
	char *args[] = {"test",
			"--ip",
			"10.0.0.1/24",
			"--listen",
			"tcp:7:echo",
			"--events",
			"mem:",
			"--max-conns",
			"3",
			"--connect",
			"up1=tcp:10.0.0.2:5060:echo",
			"--reconnect",
			reconnect,
			"--poll-idle-us",
			"50",
			NULL};
	if (!start_engine(port, args, 15))
		return false;
	CHECK(link_syn(lport, lisn, 3000),
	      "the link's first SYN (attempts %lu, arp waits %lu, arp replies %lu)",
	      (unsigned long)STAT(link_attempts), (unsigned long)STAT(link_arp_waits),
	      (unsigned long)STAT(arp_replies));
	send_tcp(LINK_PORT, *lport, CEE_TCP_SYN | CEE_TCP_ACK, piss, *lisn + 1);
	CHECK(find_event(LINK_PORT, CEE_EVT_LINK_UP, 2000) != NULL, "link_up");
	return true;
}

// Clients from ports @p lo .. @p hi: each a SYN, and the handshake's ACK
// when a SYN-ACK answers (synacks), or an RST (rsts).
static void clients(uint16_t lo, uint16_t hi)
{
	for (uint16_t cport = lo; cport <= hi; cport++) {
		send_tcp(cport, ECHO_PORT, CEE_TCP_SYN, 1000u * cport, 0);
		struct seg r = recv_seg(cport, 1000);
		CHECK(r.ok, "no answer to the SYN of %u", cport);
		if (r.ok && r.flags == (CEE_TCP_SYN | CEE_TCP_ACK)) {
			synacks++;
			send_tcp(cport, ECHO_PORT, CEE_TCP_ACK, 1000u * cport + 1, r.seq + 1);
		} else if (r.ok && (r.flags & CEE_TCP_RST)) {
			rsts++;
		}
	}
}

static bool room(int port)
{
	uint16_t lport = 0;
	uint32_t lisn = 0;
	const uint32_t piss = 777000;
	if (!start_link_up(port, "3000:6000", piss, &lport, &lisn))
		return false;

	// its server resets it: link_down, the next attempt 3-6 s later
	send_tcp(LINK_PORT, lport, CEE_TCP_RST, piss + 1, 0);
	CHECK(find_event(LINK_PORT, CEE_EVT_LINK_DOWN, 2000) != NULL, "link_down");
	CHECK(find_event(LINK_PORT, CEE_EVT_DESTROYED, 2000) != NULL,
	      "the first attempt destroyed");

	// three clients arrive in the backoff: two fit beside the link's slot
	clients(45001, 45003);
	CHECK(synacks == 2 && rsts == 1,
	      "%u clients admitted and %u refused; want 2 and 1 (the third slot is the link's)",
	      synacks, rsts);
	CHECK(STAT(refused_link_room) == 1, "refused_link_room %lu",
	      (unsigned long)STAT(refused_link_room));

	// the link's next attempt goes out on time, and comes up
	uint16_t lport2 = 0;
	uint32_t lisn2 = 0;
	bool again = link_syn(&lport2, &lisn2, 8000);
	CHECK(again, "no second SYN of the link within 8 s (link_open_failed %lu)",
	      (unsigned long)STAT(link_open_failed));
	if (again) {
		send_tcp(LINK_PORT, lport2, CEE_TCP_SYN | CEE_TCP_ACK, piss + 5000, lisn2 + 1);
		CHECK(count_events(CEE_EVT_LINK_UP, 2, 2000), "no second link_up");
	}
	CHECK(STAT(link_open_failed) == 0, "link_open_failed %lu",
	      (unsigned long)STAT(link_open_failed));

	return true;
}

static bool linger(int port)
{
	uint16_t lport = 0;
	uint32_t lisn = 0;
	const uint32_t piss = 888000;
	if (!start_link_up(port, "1000:2000", piss, &lport, &lisn))
		return false;

	// two clients while it is up: one fits beside the link and the room of
	// its next attempt
	clients(46001, 46002);
	CHECK(synacks == 1 && rsts == 1,
	      "%u clients admitted and %u refused while the link was up; want 1 and 1", synacks,
	      rsts);

	// its server closes it and never acknowledges our FIN: the attempt
	// lingers in LAST-ACK, on its slot
	send_tcp(LINK_PORT, lport, CEE_TCP_FIN | CEE_TCP_ACK, piss + 1, lisn + 1);
	CHECK(find_event(LINK_PORT, CEE_EVT_LINK_DOWN, 2000) != NULL, "link_down");
	uint16_t lport2 = 0;
	uint32_t lisn2 = 0;
	bool again = link_syn(&lport2, &lisn2, 5000);
	CHECK(again && lport2 != lport,
	      "no second SYN of the link within 5 s (reconnect 1-2 s; link_open_failed %lu)",
	      (unsigned long)STAT(link_open_failed));
	CHECK(STAT(link_open_failed) == 0, "link_open_failed %lu",
	      (unsigned long)STAT(link_open_failed));
	if (!again)
		return true;
	// up again, and the same once more (review of this change): the room
	// held covered one lingering attempt, and the third attempt found no
	// slot while the first two lingered; now the oldest ends early
	// (link_reclaimed: destroyed after its closed, as at its TIME-WAIT's end)
	send_tcp(LINK_PORT, lport2, CEE_TCP_SYN | CEE_TCP_ACK, piss + 7000, lisn2 + 1);
	CHECK(count_events(CEE_EVT_LINK_UP, 2, 2000), "the second link_up");
	send_tcp(LINK_PORT, lport2, CEE_TCP_FIN | CEE_TCP_ACK, piss + 7001, lisn2 + 1);
	CHECK(count_events(CEE_EVT_LINK_DOWN, 2, 2000), "the second link_down");
	uint16_t lport3 = 0;
	uint32_t lisn3 = 0;
	CHECK(link_syn(&lport3, &lisn3, 5000) && lport3 != lport2,
	      "no third SYN of the link within 5 s, its two closed attempts lingering "
	      "(link_open_failed %lu)",
	      (unsigned long)STAT(link_open_failed));
	CHECK(STAT(link_open_failed) == 0 && STAT(link_reclaimed) == 1,
	      "link_open_failed %lu, link_reclaimed %lu (want 0 and 1)",
	      (unsigned long)STAT(link_open_failed), (unsigned long)STAT(link_reclaimed));
	return true;
}

static bool finwait(int port)
{
	char *args[] = {"test",
			"--ip",
			"10.0.0.1/24",
			"--events",
			"mem:",
			"--connect",
			"up1=tcp:10.0.0.2:5060:echo",
			"--link-idle-timeout",
			"1",
			"--reconnect",
			"100:200",
			"--poll-idle-us",
			"50",
			NULL};
	if (!start_engine(port, args, 13))
		return false;
	uint16_t lport = 0;
	uint32_t lisn = 0;
	const uint32_t piss = 515000;
	CHECK(link_syn(&lport, &lisn, 3000), "the link's first SYN");
	send_tcp(LINK_PORT, lport, CEE_TCP_SYN | CEE_TCP_ACK, piss, lisn + 1);
	CHECK(find_event(LINK_PORT, CEE_EVT_LINK_UP, 2000) != NULL, "link_up");
	// idle for 1 s: the engine closes first; its FIN is acked (FIN-WAIT-2)
	uint32_t fin = 0;
	CHECK(link_fin(lport, &fin, 3000), "no FIN of the idle link within 3 s");
	send_tcp(LINK_PORT, lport, CEE_TCP_ACK, piss + 1, fin + 1);
	// the server never FINs and writes a byte every 200 ms, for up to 5 s
	const struct cee_event *down = NULL;
	uint32_t seq = piss + 1;
	for (unsigned k = 0; k < 25 && down == NULL; k++) {
		send_data(LINK_PORT, lport, CEE_TCP_ACK | CEE_TCP_PSH, seq++, fin + 1, "k", 1);
		down = find_event(LINK_PORT, CEE_EVT_LINK_DOWN, 200);
	}
	CHECK(down != NULL, "no link_down within 5 s of a server that writes after our FIN "
			    "(tcp abort_on_data %lu)",
	      (unsigned long)cee_engine_shard(eng, 0)->tcp.stats.abort_on_data);
	const struct cee_event *closed = find_event(LINK_PORT, CEE_EVT_CLOSED, 0);
	CHECK(closed != NULL && closed->reason == CEE_REASON_IDLE_TIMEOUT,
	      "closed with %s, want idle_timeout (its first cause)",
	      closed ? cee_reason_str(closed->reason) : "nothing");
	CHECK(event_of(lport, CEE_EVT_DESTROYED, 1000) != NULL, "not destroyed");
	// and the link tries again on its backoff (100-200 ms)
	uint16_t lport2 = 0;
	uint32_t lisn2 = 0;
	CHECK(link_syn(&lport2, &lisn2, 3000) && lport2 != lport, "no new SYN after link_down");
	return true;
}

// drain: an embedder's closed hook that opens a connection (as an app
// reconnecting would), tried at every closed; ESHUTDOWN counted once the
// drain is on. The drain notice's own closed came with the drain lifted for
// it, and such a hook got a connection through the drain.
static unsigned hook_tries, hook_opened_draining, hook_refused;
static volatile bool drain_asked; // (set before the request: the hook runs on the shard's lcore)

static void reconnect_closed(void *arg, struct cee_shard *s, struct cee_conn *c)
{
	(void)arg;
	(void)c;
	if (!drain_asked)
		return;
	hook_tries++;
	struct cee_conn *n = cee_shard_connect(s, 0, PEER_IP, 5099, CEE_TCP_SVC_ECHO);
	if (n != NULL)
		hook_opened_draining++;
	else if (errno == ESHUTDOWN)
		hook_refused++;
}

static const struct cee_app_ops reconnect_ops = {.closed = reconnect_closed};

static bool drain(int port)
{
	char sock[64];
	snprintf(sock, sizeof(sock), "/tmp/cee-ringlinks-%d.sock", getpid());
	char *args[] = {"test",
			"--ip",
			"10.0.0.1/24",
			"--events",
			"mem:",
			"--connect",
			"up1=tcp:10.0.0.2:5060:echo",
			"--reconnect",
			"3000:6000",
			"--ctl-socket",
			sock,
			"--poll-idle-us",
			"50",
			NULL};
	app_ops = &reconnect_ops;
	bool up = start_engine(port, args, 13);
	app_ops = NULL;
	if (!up)
		return false;
	uint16_t lport = 0;
	uint32_t lisn = 0;
	const uint32_t piss = 616000;
	CHECK(link_syn(&lport, &lisn, 3000), "the link's first SYN");
	send_tcp(LINK_PORT, lport, CEE_TCP_SYN | CEE_TCP_ACK, piss, lisn + 1);
	CHECK(find_event(LINK_PORT, CEE_EVT_LINK_UP, 2000) != NULL, "link_up");
	// its server resets it: link_down promises the next attempt in 3-6 s
	send_tcp(LINK_PORT, lport, CEE_TCP_RST, piss + 1, 0);
	CHECK(event_of(lport, CEE_EVT_DESTROYED, 2000) != NULL, "the first attempt destroyed");
	// (the record of link_down is in evs; its next_attempt_ms is in its extension)
	char reply[4096];
	drain_asked = true;
	CHECK(ring_ctl_request(sock, "drain\n", reply, sizeof(reply), 3000) &&
		  strstr(reply, "\"ok\":true"),
	      "drain: %s", reply);
	// the stream says the link stops: an attempt opened and closed shutdown at once
	const struct cee_event *c = NULL;
	uint64_t end = now_ms() + 2000;
	while (c == NULL && now_ms() < end) {
		(void)cee_engine_poll(eng);
		for (size_t i = 0; i < nevs && c == NULL; i++)
			if (evs[i].type == CEE_EVT_CLOSED && evs[i].local_port != lport &&
			    evs[i].remote_port == LINK_PORT)
				c = &evs[i];
		usleep(500);
	}
	CHECK(c != NULL, "no event said the drain stopped the link (link_drain_notices %lu)",
	      (unsigned long)STAT(link_drain_notices));
	if (c != NULL) {
		CHECK(c->reason == CEE_REASON_SHUTDOWN, "closed with %s, want shutdown",
		      cee_reason_str(c->reason));
		uint16_t l2 = c->local_port;
		bool open = false, destroyed = false;
		for (size_t i = 0; i < nevs; i++) {
			open |= evs[i].local_port == l2 && evs[i].type == CEE_EVT_OPEN &&
				(evs[i].proto & CEE_PROTO_F_OUT);
			destroyed |= evs[i].local_port == l2 && evs[i].type == CEE_EVT_DESTROYED;
		}
		CHECK(open && destroyed, "its open %d, destroyed %d", open, destroyed);
	}
	// no SYN went out, now or when the backoff would have ended
	uint16_t p2 = 0;
	uint32_t i2 = 0;
	CHECK(!link_syn(&p2, &i2, 6500), "a SYN of the drained link (port %u)", p2);
	CHECK(ring_ctl_request(sock, "links\n", reply, sizeof(reply), 3000) &&
		  strstr(reply, "\"state\":\"drained\"") && strstr(reply, "\"attempts\":2") &&
		  strstr(reply, "\"last_reason\":\"shutdown\""),
	      "links: %s", reply);
	// an embedder's closed hook that opened a connection during the drain
	// (at the notice's closed) was refused as every open is then
	CHECK(hook_tries >= 1 && hook_opened_draining == 0 && hook_refused == hook_tries,
	      "closed hook during the drain: %u tries, %u opened, %u refused (ESHUTDOWN)",
	      hook_tries, hook_opened_draining, hook_refused);
	return true;
}

static bool closing(int port)
{
	char *args[] = {"test",
			"--ip",
			"10.0.0.1/24",
			"--listen",
			"tcp:7:echo",
			"--events",
			"mem:",
			"--max-conns",
			"3",
			"--connect",
			"up1=tcp:10.0.0.2:5060:echo",
			"--link-idle-timeout",
			"6",
			"--reconnect",
			"1000:2000",
			"--poll-idle-us",
			"50",
			NULL};
	if (!start_engine(port, args, 17))
		return false;
	uint16_t lport = 0;
	uint32_t lisn = 0;
	const uint32_t piss = 919000;
	CHECK(link_syn(&lport, &lisn, 3000), "the link's first SYN");
	send_tcp(LINK_PORT, lport, CEE_TCP_SYN | CEE_TCP_ACK, piss, lisn + 1);
	CHECK(find_event(LINK_PORT, CEE_EVT_LINK_UP, 2000) != NULL, "link_up");
	clients(47001, 47002); // one fits beside the link and its held room
	CHECK(synacks == 1 && rsts == 1, "%u clients admitted, %u refused; want 1 and 1", synacks,
	      rsts);
	// idle for 6 s: our FIN; the server's FIN crosses it and ours is never
	// acked: CLOSING, on its slot (until its own idle limit, 6 s on)
	uint32_t fin = 0;
	CHECK(link_fin(lport, &fin, 9000), "no FIN of the idle link");
	send_tcp(LINK_PORT, lport, CEE_TCP_FIN | CEE_TCP_ACK, piss + 1, lisn + 1);
	CHECK(count_events(CEE_EVT_LINK_DOWN, 1, 2000), "link_down");
	// the next attempt: up, then its server closes it and never acks our
	// FIN (LAST-ACK)
	uint16_t lport2 = 0;
	uint32_t lisn2 = 0;
	CHECK(link_syn(&lport2, &lisn2, 3000) && lport2 != lport, "no second SYN");
	send_tcp(LINK_PORT, lport2, CEE_TCP_SYN | CEE_TCP_ACK, piss + 7000, lisn2 + 1);
	CHECK(count_events(CEE_EVT_LINK_UP, 2, 2000), "the second link_up");
	send_tcp(LINK_PORT, lport2, CEE_TCP_FIN | CEE_TCP_ACK, piss + 7001, lisn2 + 1);
	CHECK(count_events(CEE_EVT_LINK_DOWN, 2, 2000), "the second link_down");
	// the third finds no slot: the oldest lingering attempt (CLOSING) ends
	uint16_t lport3 = 0;
	uint32_t lisn3 = 0;
	CHECK(link_syn(&lport3, &lisn3, 3000) && lport3 != lport2, "no third SYN (link_open_failed %lu)",
	      (unsigned long)STAT(link_open_failed));
	CHECK(STAT(link_reclaimed) == 1 && STAT(link_open_failed) == 0,
	      "link_reclaimed %lu, link_open_failed %lu (want 1 and 0)",
	      (unsigned long)STAT(link_reclaimed), (unsigned long)STAT(link_open_failed));
	CHECK(event_of(lport, CEE_EVT_DESTROYED, 0) != NULL,
	      "the oldest lingering attempt (CLOSING) was not the one ended");
	CHECK(event_of(lport2, CEE_EVT_DESTROYED, 0) == NULL,
	      "the newer lingering attempt (LAST-ACK) was ended instead of the oldest");
	return true;
}

static bool tls0(int port)
{
	LINK_PORT = 5061;
	char *args[] = {"test",
			"--ip",
			"10.0.0.1/24",
			"--events",
			"mem:",
			"--connect",
			"up1=tls:10.0.0.2:5061,sni=server.cee.test",
			"--tls-ca",
			CEE_CERT_DIR "/ca.pem",
			"--handshake-timeout",
			"0",
			"--reconnect",
			"100:200",
			"--poll-idle-us",
			"50",
			NULL};
	if (!start_engine(port, args, 15))
		return false;
	uint16_t lport = 0;
	uint32_t lisn = 0;
	CHECK(link_syn(&lport, &lisn, 3000), "the link's first SYN");
	send_tcp(LINK_PORT, lport, CEE_TCP_SYN | CEE_TCP_ACK, 5000, lisn + 1);
	// the ClientHello comes: acknowledged, and nothing else ever
	struct cee_pkt p;
	bool hello = false;
	uint64_t end = now_ms() + 3000;
	while (!hello && now_ms() < end && link_frame(&p, 1000))
		if (p.seg.len > 0 && p.dport == LINK_PORT && p.sport == lport) {
			send_tcp(LINK_PORT, lport, CEE_TCP_ACK, 5001, p.seg.seq + p.seg.len);
			hello = true;
		}
	CHECK(hello, "no ClientHello");
	const struct cee_event *e = find_event(LINK_PORT, CEE_EVT_CLOSED, 12000);
	CHECK(e != NULL, "the silent server's attempt was not closed within 12 s");
	if (e != NULL)
		CHECK(e->reason == CEE_REASON_HANDSHAKE_TIMEOUT,
		      "closed with %s, want handshake_timeout", cee_reason_str(e->reason));
	// and the link tries again
	uint16_t lport2 = 0;
	uint32_t lisn2 = 0;
	CHECK(link_syn(&lport2, &lisn2, 3000) && lport2 != lport, "no second attempt");
	synacks = 0;
	return true;
}

// An engine with one link, up1 to 10.0.0.2:5060, reconnecting after 1-2 s.
static bool start_one_link(int port)
{
	char *args[] = {"test",
			"--ip",
			"10.0.0.1/24",
			"--events",
			"mem:",
			"--connect",
			"up1=tcp:10.0.0.2:5060:echo",
			"--reconnect",
			"1000:2000",
			"--poll-idle-us",
			"50",
			NULL};
	return start_engine(port, args, 11);
}

static bool unreach(int port)
{
	if (!start_one_link(port))
		return false;
	// nobody answers its ARP requests: within the resolver's 3 s (and a
	// margin) the attempt closes, and no SYN went out
	unsigned requests = 0, syns = 0;
	const struct cee_event *e = NULL;
	uint64_t end = now_ms() + 8000;
	while (e == NULL && now_ms() < end) {
		struct rte_mbuf *m = recv_frame(20);
		if (m != NULL) {
			struct cee_pkt p;
			cee_net_parse(m, PEER_IP, 1, &p);
			requests += p.kind == CEE_PKT_ARP;
			syns += p.kind == CEE_PKT_TCP && p.dport == LINK_PORT;
			rte_pktmbuf_free(m);
		}
		e = find_event(LINK_PORT, CEE_EVT_CLOSED, 0);
	}
	CHECK(e != NULL,
	      "no closed of the link's attempt within 8 s of unanswered ARP (attempts %lu, arp "
	      "waits %lu, %u ARP requests seen)",
	      (unsigned long)STAT(link_attempts), (unsigned long)STAT(link_arp_waits), requests);
	if (e == NULL)
		return true;
	CHECK(e->reason == CEE_REASON_HOST_UNREACHABLE, "closed with %s, want host_unreachable",
	      cee_reason_str(e->reason));
	CHECK(requests >= 2 && syns == 0, "%u ARP requests and %u SYNs before it", requests, syns);
	cee_conn_id_t id = e->conn;
	bool open = false, destroyed = false, down = false;
	for (unsigned k = 0; k < 200 && !destroyed; k++, usleep(1000)) {
		pump();
		for (size_t i = 0; i < nevs; i++) {
			open |= evs[i].conn == id && evs[i].type == CEE_EVT_OPEN;
			destroyed |= evs[i].conn == id && evs[i].type == CEE_EVT_DESTROYED;
			down |= evs[i].type == CEE_EVT_LINK_DOWN || evs[i].type == CEE_EVT_LINK_UP;
		}
	}
	CHECK(open && destroyed && !down, "its open %d, destroyed %d; link_up/down %d", open,
	      destroyed, down);
	CHECK(STAT(link_unreachable) >= 1 && STAT(link_failed) >= 1,
	      "link_unreachable %lu, link_failed %lu", (unsigned long)STAT(link_unreachable),
	      (unsigned long)STAT(link_failed));
	// the neighbour answers from now on: after the resolver's hold-down
	// (5 s) and the backoff (1-2 s) the link's SYN goes, and it comes up
	uint16_t lport = 0;
	uint32_t lisn = 0;
	CHECK(link_syn(&lport, &lisn, 12000), "no SYN once ARP was answered (link_unreachable %lu)",
	      (unsigned long)STAT(link_unreachable));
	send_tcp(LINK_PORT, lport, CEE_TCP_SYN | CEE_TCP_ACK, 4242, lisn + 1);
	CHECK(find_event(LINK_PORT, CEE_EVT_LINK_UP, 2000) != NULL, "link_up");
	// once for the resolver's one failure: the retries within its 5 s
	// hold-down (backoff 1-2 s) waited for its next round of requests
	// rather than report the same failure again
	CHECK(STAT(link_unreachable) == 1, "link_unreachable %lu, want 1",
	      (unsigned long)STAT(link_unreachable));
	return true;
}

// ICMP destination unreachable (code @p code) from router 10.0.0.254 about
// the link's segment from our port @p lport with sequence number @p seq.
static void send_unreach(uint16_t lport, uint32_t seq, uint8_t code)
{
	struct rte_icmp_hdr *ic;
	uint16_t len = sizeof(*ic) + sizeof(struct rte_ipv4_hdr) + 8;
	struct rte_mbuf *m = icmp_frame(&peer_mac, &engine_mac, 0x0a0000feu, ENGINE_IP, len, &ic);
	if (m == NULL)
		return;
	ic->icmp_type = 3;
	ic->icmp_code = code;
	struct rte_ipv4_hdr *in = (void *)(ic + 1);
	in->version_ihl = RTE_IPV4_VHL_DEF;
	in->total_length = rte_cpu_to_be_16(60);
	in->time_to_live = 63;
	in->next_proto_id = IPPROTO_TCP;
	in->src_addr = rte_cpu_to_be_32(ENGINE_IP);
	in->dst_addr = rte_cpu_to_be_32(PEER_IP);
	in->hdr_checksum = rte_ipv4_cksum(in);
	uint8_t *t = (uint8_t *)(in + 1);
	t[0] = (uint8_t)(lport >> 8), t[1] = (uint8_t)lport;
	t[2] = (uint8_t)(LINK_PORT >> 8), t[3] = (uint8_t)LINK_PORT;
	t[4] = (uint8_t)(seq >> 24), t[5] = (uint8_t)(seq >> 16), t[6] = (uint8_t)(seq >> 8);
	t[7] = (uint8_t)seq;
	ic->icmp_cksum = (uint16_t)~rte_raw_cksum(ic, len);
	send_frame(rp_port, 0, m);
}

/*
 * Fault (review of session 33): a link's SYN answered by ICMP destination
 * unreachable (a router's host unreachable, a firewall's REJECT) went again
 * and again until handshake_timeout, every attempt: ICMP other than
 * fragmentation needed was dropped as unsupported_proto. Now the attempt
 * ends at once with host_unreachable (before the SYN's first retransmission,
 * 1 s), the link backs off and tries again; one quoting another sequence
 * number (a blind guess) changes nothing.
 */
static bool icmp(int port)
{
	if (!start_one_link(port))
		return false;
	uint16_t lport = 0;
	uint32_t lisn = 0;
	CHECK(link_syn(&lport, &lisn, 3000), "no SYN of the link");
	uint64_t t0 = now_ms();
	send_unreach(lport, lisn + 1000, 1); // not our SYN: ignored
	for (uint64_t end = now_ms() + 1000; TCP_STAT(bad_icmp_seq) == 0 && now_ms() < end;)
		pump(), usleep(500);
	CHECK(TCP_STAT(bad_icmp_seq) == 1,
	      "bad_icmp_seq %lu for an ICMP quoting another sequence number",
	      (unsigned long)TCP_STAT(bad_icmp_seq));
	CHECK(find_event(LINK_PORT, CEE_EVT_CLOSED, 0) == NULL, "closed on a forged ICMP");
	send_unreach(lport, lisn, 3); // port unreachable about our SYN
	const struct cee_event *e = find_event(LINK_PORT, CEE_EVT_CLOSED, 900);
	CHECK(e != NULL && e->reason == CEE_REASON_HOST_UNREACHABLE,
	      "no closed host_unreachable within 900 ms of the ICMP (%s)",
	      e != NULL ? cee_reason_str(e->reason) : "none");
	CHECK(now_ms() - t0 < 1000, "the attempt ended %lu ms after its SYN: the SYN went again",
	      (unsigned long)(now_ms() - t0));
	CHECK(TCP_STAT(icmp_unreach_aborts) == 1, "icmp_unreach_aborts %lu",
	      (unsigned long)TCP_STAT(icmp_unreach_aborts));
	// the next attempt after the backoff comes up
	uint16_t lport2 = 0;
	uint32_t lisn2 = 0;
	CHECK(link_syn(&lport2, &lisn2, 4000), "no second attempt after the ICMP");
	send_tcp(LINK_PORT, lport2, CEE_TCP_SYN | CEE_TCP_ACK, 4242, lisn2 + 1);
	CHECK(find_event(LINK_PORT, CEE_EVT_LINK_UP, 2000) != NULL, "link_up");
	return true;
}

/*
 * Fault: an embedder's own cfg (built or changed after parse_args) with a
 * link to one of our addresses, off our subnet, or more links than
 * connection slots was taken by cee_engine_create(): the link was retried
 * for ever with no attempt and no event. Only parse_args checked.
 */
static bool embedder_checks(int port)
{
	char *args[] = {"test", "--ip", "10.0.0.1/24", "--events", "mem:", "--max-conns", "3",
			"--connect", "up1=tcp:10.0.0.2:5060:echo"};
	struct {
		uint32_t ip, max_conns;
		const char *what;
	} bad[] = {
	    {0x0a000001, 3, "our own address"},
	    {0x0a000104, 3, "off our subnet"},
	    {0x0a0000ff, 3, "the subnet's broadcast"},
	    {0x0a000002, 0, "more links than slots"},
	    // (review: one slot, and its lingering last attempt on it, failed
	    // every retry locally: two a link, its attempt's and its next's)
	    {0x0a000002, 1, "one slot for a link"},
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cee_engine_cfg c;
		cee_engine_cfg_default(&c);
		CHECK(cee_engine_parse_args(&c, 9, args) == 0, "parse");
		c.port_mask = 1u << port;
		c.links[0].ip = bad[i].ip;
		c.max_conns = bad[i].max_conns;
		errno = 0;
		struct cee_engine *e = cee_engine_create(&c);
		CHECK(e == NULL && errno == EINVAL, "%s: created (errno %d)", bad[i].what, errno);
		if (e != NULL)
			cee_engine_destroy(e);
		cee_engine_cfg_free(&c);
	}
	struct cee_engine_cfg c;
	cee_engine_cfg_default(&c);
	char *one[] = {"test", "--ip", "10.0.0.1/24", "--events", "mem:", "--max-conns", "1",
		       "--connect", "up1=tcp:10.0.0.2:5060:echo"};
	CHECK(cee_engine_parse_args(&c, 9, one) == -EINVAL, "--max-conns 1 with a link taken");
	cee_engine_cfg_free(&c);
	return failures == 0;
}

// Answer every SYN of the links for @p ms, or until @p ups link_up events:
// @return the link_up count.
static size_t answer_links(size_t ups, unsigned ms, uint32_t piss)
{
	uint64_t end = now_ms() + ms;
	size_t k = 0;
	while (now_ms() < end) {
		uint16_t lport;
		uint32_t lisn;
		if (link_syn(&lport, &lisn, 50))
			send_tcp(LINK_PORT, lport, CEE_TCP_SYN | CEE_TCP_ACK, piss, lisn + 1);
		pump();
		k = 0;
		for (size_t i = 0; i < nevs; i++)
			k += evs[i].type == CEE_EVT_LINK_UP;
		if (k >= ups)
			break;
	}
	return k;
}

static bool many(int port)
{
	char *args[] = {"test",	    "--ip",	     "10.0.0.1/24",
			"--events", "mem:",	     "--max-conns",
			"8",	    "--connect",     "a=tcp:10.0.0.2:5060:echo",
			"--connect", "b=tcp:10.0.0.2:5060:echo", "--connect",
			"c=tcp:10.0.0.2:5060:echo", "--connect", "d=tcp:10.0.0.2:5060:echo",
			"--reconnect", "100:200", "--poll-idle-us", "50", NULL};
	if (!start_engine(port, args, 19))
		return false;
	const uint32_t piss = 555000;
	size_t ups = answer_links(4, 5000, piss);
	CHECK(ups == 4, "%zu of 4 links up within 5 s (link_open_failed %lu, link_attempts %lu)",
	      ups, (unsigned long)STAT(link_open_failed), (unsigned long)STAT(link_attempts));
	CHECK(STAT(link_open_failed) == 0, "link_open_failed %lu",
	      (unsigned long)STAT(link_open_failed));
	// one of them reset by its server while the three others stay up
	const struct cee_event *up = find_event(LINK_PORT, CEE_EVT_LINK_UP, 0);
	if (up != NULL) {
		send_tcp(LINK_PORT, up->local_port, CEE_TCP_RST, piss + 1, 0);
		CHECK(find_event(LINK_PORT, CEE_EVT_LINK_DOWN, 2000) != NULL, "link_down");
		ups = answer_links(5, 5000, piss + 7000);
		CHECK(ups == 5, "the link reset beside three up: not back within 5 s "
				"(link_open_failed %lu)",
		      (unsigned long)STAT(link_open_failed));
	}
	return true;
}

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "";
	if (strcmp(what, "room") != 0 && strcmp(what, "tls0") != 0 && strcmp(what, "linger") != 0 &&
	    strcmp(what, "unreach") != 0 && strcmp(what, "finwait") != 0 &&
	    strcmp(what, "drain") != 0 && strcmp(what, "closing") != 0 && strcmp(what, "many") != 0 &&
	    strcmp(what, "icmp") != 0) {
		fprintf(stderr, "usage: %s room|linger|tls0|unreach|finwait|drain|closing|many|icmp\n",
			argv[0]);
		return 2;
	}
	if (ring_eal_init(argv[0], "ringlinks", "0@0,1@1") < 0)
		return 1;
	int p0 = ring_peer_setup("cee_l0", 4096, 0);
	if (p0 < 0)
		return 1;

	if (strcmp(what, "room") == 0 && !embedder_checks(p0))
		return 1;
	if (!(strcmp(what, "room") == 0	     ? room(p0)
	      : strcmp(what, "linger") == 0  ? linger(p0)
	      : strcmp(what, "unreach") == 0 ? unreach(p0)
	      : strcmp(what, "finwait") == 0 ? finwait(p0)
	      : strcmp(what, "drain") == 0   ? drain(p0)
	      : strcmp(what, "closing") == 0 ? closing(p0)
	      : strcmp(what, "many") == 0    ? many(p0)
	      : strcmp(what, "icmp") == 0    ? icmp(p0)
					     : tls0(p0)))
		return 1;
	struct cee_audit_result res;
	ring_stop_audit(&res);
	CHECK(res.ok, "audit: ok=%d", res.ok);
	if (strcmp(what, "room") == 0)
		CHECK(res.opens == 4, "audit: opens=%lu (want 2 link attempts, 2 clients)",
		      (unsigned long)res.opens);
	if (strcmp(what, "linger") == 0)
		CHECK(res.opens == 4, "audit: opens=%lu (want 3 link attempts, 1 client)",
		      (unsigned long)res.opens);
	printf("ring links %s: %u clients admitted, %u refused, refused_link_room %lu, "
	       "link_open_failed %lu, %zu events, %d failures\n",
	       what, synacks, rsts, (unsigned long)STAT(refused_link_room),
	       (unsigned long)STAT(link_open_failed), nevs, failures);
	cee_engine_destroy(eng);
	cee_engine_cfg_free(&cfg);
	free(evs);
	rte_eal_cleanup();
	return failures ? 1 : 0;
}
