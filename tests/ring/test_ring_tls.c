/* SPDX-License-Identifier: BSD-3-Clause */
// A TLS listener over net_ring, its clients played frame by frame
// (ring_peer.h), their ClientHellos made by a cee_tls client context.
//   test_ring_tls blind_end  a refused RST does not run a deferred hello
//
// blind_end: fault guarded against (review of the layer stack, session 32):
// a segment with an RST or a FIN ran the bytes the handshake budget had
// deferred at once (so that the close's first cause is what came first on
// the wire), before TCP had judged it. An RST not at RCV.NXT (RFC 5961:
// answered with a challenge ACK, the connection goes on) or a FIN that
// does not reach RCV.NXT thus ran a deferred ClientHello ahead of the
// budget and of every handshake queued before it: any client could skip
// the queue, and a crowd of them bought unbounded handshake work per poll
// iteration. Here, with --tls-budget-us 1, one burst brings three
// ClientHellos (A, C, B: A runs and spends the budget, C and B wait in
// that order) and a blind RST of B (RCV.NXT + 1). The server flights must
// come A, C, B (they came A, B, C), and B's RST be judged in-window but
// not at RCV.NXT (a challenge ACK), B living on.
//
// Synchronisation: each handshake's answer awaited with a deadline; the
// flights' order as the engine sent them.
#include <rte_eal.h>

#include "cee_tls.h"
#include "ring_peer.h"

#define TLS_PORT 5061
#define NCLI 3

static const struct rte_ether_addr peer_mac = {{0x02, 0, 0, 0, 0, 0xe}};

static struct rte_mbuf *tcp_frame(uint16_t sport, uint8_t flags, uint32_t seq, uint32_t ack,
				  const void *data, uint32_t len)
{
	return peer_seg(&peer_mac, &engine_mac, PEER_IP, sport, TLS_PORT, flags, seq, ack, data,
			len);
}

// A client on @p cport that completes TCP's handshake and says nothing yet.
// @return the engine's ISS + 1, 0 when its SYN was not answered so.
static uint32_t connect_quiet(uint16_t cport)
{
	struct rte_mbuf *m = tcp_frame(cport, CEE_TCP_SYN, 1000, 0, NULL, 0);
	if (m == NULL)
		return 0;
	send_frame(rp_port, 0, m);
	struct seg sa = recv_seg(cport, 2000);
	if (!sa.ok || sa.flags != (CEE_TCP_SYN | CEE_TCP_ACK))
		return 0;
	m = tcp_frame(cport, CEE_TCP_ACK, 1001, sa.seq + 1, NULL, 0);
	if (m == NULL)
		return 0;
	send_frame(rp_port, 0, m);
	return sa.seq + 1;
}

// What a cee_tls client writes: its ClientHello.
struct hello {
	uint8_t b[1400];
	uint32_t len;
	bool too_long;
};

static int hello_down(void *arg, const uint8_t *data, uint32_t len)
{
	struct hello *h = arg;
	if (h->len + len > sizeof(h->b)) {
		h->too_long = true;
		return -ENOBUFS;
	}
	memcpy(h->b + h->len, data, len);
	h->len += len;
	return (int)len;
}
static void hello_up(void *arg, const uint8_t *data, uint32_t len)
{
	(void)arg, (void)data, (void)len;
}
static void hello_milestone(void *arg, enum cee_evt_type type)
{
	(void)arg, (void)type;
}
static void hello_close(void *arg, enum cee_reason reason)
{
	(void)arg, (void)reason;
}

// A TLS 1.3 ClientHello in @p h (one segment). @return false when none.
static bool make_hello(struct cee_tls_ctx *ctx, struct hello *h)
{
	const struct cee_layer_io io = {.down = hello_down, .up = hello_up,
					.milestone = hello_milestone, .close = hello_close,
					.arg = h};
	memset(h, 0, sizeof(*h));
	struct cee_tls *t = cee_tls_new(ctx, &io, "server.cee.test");
	if (t == NULL)
		return false;
	int rc = cee_tls_start(t);
	cee_tls_free(t);
	return rc >= 0 && !h->too_long && h->len > 0;
}

static void blind_end(int port)
{
	char *args[] = {"test",	    "--ip",	     "10.0.0.1/24",
			"--listen", "tls:5061:echo", "--tls-cert",
			CEE_CERT_DIR "/server.pem",  "--tls-key",
			CEE_CERT_DIR "/server.key",  "--tls-budget-us",
			"1",	    "--events",	     "mem:",
			"--max-conns", "64",	     "--poll-idle-us",
			"50",	    NULL};
	int n = 0;
	while (args[n] != NULL)
		n++;
	struct cee_engine_cfg cfg;
	cee_engine_cfg_default(&cfg);
	if (cee_engine_parse_args(&cfg, n, args) != 0 || !ring_engine_start(&cfg, port)) {
		failures++;
		return;
	}
	struct cee_tls_cfg ccfg = {.min_version = CEE_TLS_V13, .max_conns = NCLI};
	char err[256] = "";
	struct cee_tls_ctx *cctx = cee_tls_ctx_create(&ccfg, false, err, sizeof(err));
	CHECK(cctx != NULL, "client context: %s", err);
	if (cctx == NULL) {
		cee_engine_destroy(eng);
		cee_engine_cfg_free(&cfg);
		return;
	}

	// A, C, B: the order of the burst (B last, its blind RST after it)
	const uint16_t cport[NCLI] = {52001, 52003, 52002};
	const char name[NCLI] = {'A', 'C', 'B'};
	uint32_t ack[NCLI];
	static struct hello h[NCLI];
	bool ready = true;
	for (int i = 0; i < NCLI; i++) {
		ack[i] = connect_quiet(cport[i]);
		ready &= ack[i] != 0 && make_hello(cctx, &h[i]);
	}
	CHECK(ready, "clients not connected or no ClientHello made");
	if (!ready)
		goto out;

	struct rte_mbuf *burst[NCLI + 1];
	for (int i = 0; i < NCLI; i++)
		burst[i] = tcp_frame(cport[i], CEE_TCP_ACK | CEE_TCP_PSH, 1001, ack[i], h[i].b,
				     h[i].len);
	// B's RST one past RCV.NXT (after its hello): in the window, not at it
	uint32_t b_nxt = 1001 + h[2].len;
	burst[NCLI] = tcp_frame(cport[2], CEE_TCP_RST, b_nxt + 1, 0, NULL, 0);
	for (int i = 0; i <= NCLI; i++)
		if (burst[i] == NULL)
			ready = false;
	CHECK(ready, "no frame for the burst");
	if (!ready)
		goto out;
	// one enqueue: one receive burst of the shard
	CHECK(rte_ring_enqueue_bulk(to_eng[rp_port][0], (void **)burst, NCLI + 1, NULL) ==
		  NCLI + 1,
	      "burst not enqueued whole");

	// the first data segment from each, in the order the engine sent them
	char order[NCLI + 1] = "";
	unsigned got = 0;
	bool flight[NCLI] = {false}, challenge = false;
	uint64_t end = now_ms() + 5000;
	while ((got < NCLI || !challenge) && now_ms() < end) {
		struct rte_mbuf *m = recv_frame(50);
		if (m == NULL)
			continue;
		for (int i = 0; i < NCLI; i++) {
			struct seg sg;
			if (!seg_of(m, cport[i], &sg))
				continue;
			if (sg.len > 0 && !flight[i]) {
				flight[i] = true;
				order[got++] = name[i];
			}
		}
		rte_pktmbuf_free(m);
		challenge = TCP_STAT(challenge_acks) == 1;
	}
	printf("ring tls blind_end: hellos %u/%u/%u bytes; flights in the order %s; challenge "
	       "ACK %s\n",
	       h[0].len, h[1].len, h[2].len, order, challenge ? "yes" : "no");
	CHECK(strcmp(order, "ACB") == 0,
	      "server flights came %s, not ACB: the blind RST ran B's deferred hello ahead of "
	      "the queue",
	      order);
	CHECK(challenge, "challenge_acks %lu: B's RST (RCV.NXT + 1) not judged as in-window once",
	      (unsigned long)TCP_STAT(challenge_acks));
	CHECK(find_event(cport[2], CEE_EVT_CLOSED, 0) == NULL, "the blind RST closed B");
	for (int i = 0; i < NCLI; i++) { // ended with an RST at RCV.NXT
		struct rte_mbuf *m = tcp_frame(cport[i], CEE_TCP_RST, 1001 + h[i].len, 0, NULL, 0);
		if (m != NULL)
			send_frame(rp_port, 0, m);
	}
	for (int i = 0; i < NCLI; i++)
		CHECK(find_event(cport[i], CEE_EVT_DESTROYED, 3000) != NULL,
		      "client %c not destroyed after its RST", name[i]);
out:
	cee_tls_ctx_destroy(cctx);
	ring_engine_down(&cfg, NCLI);
}

int main(int argc, char **argv)
{
	static const struct ring_mode modes[] = {{"blind_end", blind_end}};
	return ring_mode_main(argc, argv, modes, 1, "cee_p0");
}
