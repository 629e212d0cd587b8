/* SPDX-License-Identifier: BSD-3-Clause */
// Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/)
// from the project's own code: frames from cee_net_fill_tcp(), event lines
// and files from the sinks, a real ClientHello and handshake flights from
// cee_tls clients and servers pumped in memory, a real WebSocket upgrade
// and frames from cee_ws clients and servers, TCP conversations in the
// operation format of fuzz_tcp.c, control request lines.
//
//   fuzz_seedgen DIR      (scripts/fuzz.sh seeds: DIR = tests/fuzz/corpus)
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include "cee_event.h"
#include "cee_net.h"
#include "cee_sink.h"
#include "cee_tcp.h"
#include "cee_tls.h"
#include "cee_ws.h"
#include "fuzz_seed.h"

#ifndef CEE_CERT_DIR
#error "CEE_CERT_DIR must name tests/certs"
#endif
#define CERT(f) CEE_CERT_DIR "/" f

static const char *root;

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "seedgen: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

/* A growing byte buffer. */
struct buf {
	uint8_t *p;
	size_t len, cap;
};

static void put(struct buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n)
			cap *= 2;
		if ((b->p = realloc(b->p, cap)) == NULL)
			die("realloc");
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void put8(struct buf *b, unsigned v)
{
	uint8_t x = (uint8_t)v;
	put(b, &x, 1);
}

static void put16(struct buf *b, unsigned v)
{
	put8(b, v >> 8);
	put8(b, v);
}

static void put32(struct buf *b, uint32_t v)
{
	put16(b, v >> 16);
	put16(b, v & 0xffff);
}

static void seed(const char *target, const char *name, const void *p, size_t n)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", root, target);
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		die("mkdir %s: %s", path, strerror(errno));
	snprintf(path, sizeof(path), "%s/%s/%s", root, target, name);
	FILE *f = fopen(path, "wb");
	if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0)
		die("write %s: %s", path, strerror(errno));
}

static void seed_buf(const char *target, const char *name, struct buf *b)
{
	seed(target, name, b->p, b->len);
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* ---- net: frames ---- */

#define OUR_IP 0x0a000001u
#define PEER_IP 0xc0a80117u

struct frame {
	struct rte_mbuf m;
	uint8_t buf[4096];
};

static struct rte_mbuf *frame_reset(struct frame *f)
{
	memset(&f->m, 0, sizeof(f->m));
	f->m.buf_addr = f->buf;
	f->m.buf_len = sizeof(f->buf);
	rte_mbuf_refcnt_set(&f->m, 1);
	f->m.nb_segs = 1;
	rte_pktmbuf_reset(&f->m);
	return &f->m;
}

static void net_seed(const char *name, uint8_t opt, const void *frame, size_t len)
{
	struct buf b = {0};
	put8(&b, opt);
	put(&b, frame, len);
	seed_buf("net", name, &b);
}

static void net_tcp(const char *name, uint8_t flags, uint16_t mss, uint8_t ws, bool sack_ok,
		    unsigned nsack, bool ts, unsigned paylen)
{
	static struct frame f;
	static uint8_t pay[1460];
	for (unsigned i = 0; i < sizeof(pay); i++)
		pay[i] = (uint8_t)("SIP/2.0 200 OK\r\n"[i % 16]);
	struct cee_net_addr a = {
	    .src_ip = PEER_IP, .dst_ip = OUR_IP, .sport = 40000, .dport = 5060};
	memcpy(a.src_mac.addr_bytes, "\x02\x00\x00\x00\x00\x02", 6);
	memcpy(a.dst_mac.addr_bytes, "\x02\xce\xe0\x00\x00\x01", 6);
	struct cee_tcp_out out;
	memset(&out, 0, sizeof(out));
	out.seq = 0x10000000;
	out.ack = 0x20000001;
	out.wnd = 512;
	out.flags = flags;
	out.mss = mss;
	out.wscale = ws;
	out.sack_ok = sack_ok;
	out.nsack = (uint8_t)nsack;
	for (unsigned k = 0; k < nsack; k++) {
		out.sack[k].start = 0x20000001u + 1000 * (k + 1);
		out.sack[k].end = out.sack[k].start + 500;
	}
	out.ts = ts;
	out.tsval = 123456;
	out.tsecr = 654321;
	out.data[0] = pay;
	out.len[0] = paylen;
	struct rte_mbuf *m = frame_reset(&f);
	if (cee_net_fill_tcp(m, &a, &out) != 0)
		die("cee_net_fill_tcp");
	net_seed(name, 0, rte_pktmbuf_mtod(m, void *), rte_pktmbuf_data_len(m));
}

static void net_icmp(const char *name, uint8_t type, uint8_t code, unsigned quoted)
{
	uint8_t b[14 + 20 + 8 + 20 + 64];
	memset(b, 0, sizeof(b));
	memcpy(b, "\x02\xce\xe0\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00", 14);
	unsigned icmp_len = 8 + (type == 3 ? 20 + quoted : 32);
	struct rte_ipv4_hdr *ip = (void *)(b + 14);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(20 + icmp_len));
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_ICMP;
	ip->src_addr = rte_cpu_to_be_32(type == 3 ? 0x0b000001u : PEER_IP);
	ip->dst_addr = rte_cpu_to_be_32(OUR_IP);
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	uint8_t *ic = b + 34;
	ic[0] = type;
	ic[1] = code;
	if (type == 3) {
		ic[6] = 1280 >> 8;
		ic[7] = 1280 & 0xff;
		struct rte_ipv4_hdr *in = (void *)(ic + 8);
		in->version_ihl = RTE_IPV4_VHL_DEF;
		in->total_length = rte_cpu_to_be_16(1500);
		in->time_to_live = 64;
		in->next_proto_id = IPPROTO_TCP;
		in->src_addr = rte_cpu_to_be_32(OUR_IP);
		in->dst_addr = rte_cpu_to_be_32(PEER_IP);
		uint8_t *t = ic + 28;
		t[0] = 5060 >> 8, t[1] = 5060 & 0xff, t[2] = 40000 >> 8, t[3] = 40000 & 0xff;
		t[4] = 0x20, t[7] = 1;
	} else {
		for (unsigned i = 8; i < icmp_len; i++)
			ic[i] = (uint8_t)i;
	}
	uint16_t ck = (uint16_t)~rte_raw_cksum(ic, icmp_len);
	memcpy(ic + 2, &ck, 2);
	net_seed(name, 0, b, 14 + 20 + icmp_len);
}

static void net_arp(void)
{
	uint8_t b[14 + 28 + 18];
	memset(b, 0, sizeof(b));
	memcpy(b, "\xff\xff\xff\xff\xff\xff\x02\x00\x00\x00\x00\x02\x08\x06", 14);
	uint8_t *a = b + 14;
	a[1] = 1;    // Ethernet
	a[2] = 0x08; // IPv4
	a[4] = 6;
	a[5] = 4;
	a[7] = 1; // request
	memcpy(a + 8, "\x02\x00\x00\x00\x00\x02", 6);
	memcpy(a + 14, "\xc0\xa8\x01\x17", 4);
	memcpy(a + 24, "\x0a\x00\x00\x01", 4);
	net_seed("arp_request", 0, b, sizeof(b)); // with Ethernet padding
}

static void gen_net(void)
{
	net_tcp("tcp_syn", CEE_TCP_SYN, 1460, 7, true, 0, true, 0);
	net_tcp("tcp_synack", CEE_TCP_SYN | CEE_TCP_ACK, 536, 0xff, false, 0, false, 0);
	net_tcp("tcp_data_ts", CEE_TCP_ACK | CEE_TCP_PSH, 0, 0xff, false, 0, true, 100);
	net_tcp("tcp_sack3_ts", CEE_TCP_ACK, 0, 0xff, false, 3, true, 0);
	net_tcp("tcp_sack2", CEE_TCP_ACK | CEE_TCP_PSH, 0, 0xff, false, 2, false, 1400);
	net_tcp("tcp_fin", CEE_TCP_ACK | CEE_TCP_FIN, 0, 0xff, false, 0, false, 3);
	net_tcp("tcp_rst", CEE_TCP_RST, 0, 0xff, false, 0, false, 0);
	net_icmp("icmp_echo", 8, 0, 0);
	net_icmp("icmp_ptb", 3, 4, 8);
	net_arp();
	// the same SYN with checksums the harness fixes (bit 1) and trusted (bit 0)
	static struct frame f;
	struct rte_mbuf *m = frame_reset(&f);
	struct cee_net_addr a = {.src_ip = PEER_IP, .dst_ip = OUR_IP + 1, .sport = 1, .dport = 7};
	struct cee_tcp_out out = {.flags = CEE_TCP_SYN, .wscale = 0xff, .mss = 1460};
	if (cee_net_fill_tcp(m, &a, &out) != 0)
		die("cee_net_fill_tcp");
	uint8_t *p = rte_pktmbuf_mtod(m, uint8_t *);
	p[14] = 0x46; // IPv4 header with 4 bytes of options: the harness re-sums it
	net_seed("tcp_syn_ipopts_fixsums", 2 | 4, p, rte_pktmbuf_data_len(m));
	net_seed("tcp_syn_trusted", 1, p, rte_pktmbuf_data_len(m));
}

/* ---- tcp: conversations in fuzz_tcp.c's operation format ---- */

enum {
	OP_SEG,
	OP_SEG2,
	OP_SEG3,
	OP_SEG4,
	OP_ACK,
	OP_DATA,
	OP_FIN,
	OP_TIME,
	OP_FIRE,
	OP_SEND,
	OP_CLOSE,
	OP_ABORT,
	OP_PMTU,
	OP_DEADLINE,
	OP_BUFFAIL,
	OP_RST
};

static void tcp_head_passive(struct buf *b, uint8_t c0, uint8_t c1, uint8_t react)
{
	put8(b, c0);
	put8(b, c1);
	put8(b, react);
	put8(b, 0x0f); // SYN with MSS, window scale, SACK-permitted, timestamps
	put16(b, 65535);
	put16(b, 1460);
	put8(b, 7);
}

static void gen_tcp(void)
{
	struct buf b = {0};

	// echo: handshake, data in order, the peer closes, we close
	tcp_head_passive(&b, CEE_TCP_SVC_ECHO, 0, 0);
	put8(&b, OP_ACK), put8(&b, 32);
	put8(&b, OP_DATA), put8(&b, 0), put8(&b, 20);
	put8(&b, OP_ACK), put8(&b, 32);
	put8(&b, OP_DATA), put8(&b, 0), put8(&b, 200);
	put8(&b, OP_ACK), put8(&b, 32);
	put8(&b, OP_FIN), put8(&b, 0);
	put8(&b, OP_ACK), put8(&b, 32);
	seed_buf("tcp", "echo_passive_close", &b);

	// discard: out-of-order data (a hole, then filled), SACK, timers
	tcp_head_passive(&b, CEE_TCP_SVC_DISCARD, 0, 0);
	put8(&b, OP_ACK), put8(&b, 32);
	put8(&b, OP_DATA), put8(&b, 4), put8(&b, 30); // 256 bytes ahead
	put8(&b, OP_DATA), put8(&b, 8), put8(&b, 30);
	put8(&b, OP_DATA), put8(&b, 0), put8(&b, 100); // fills the hole
	put8(&b, OP_TIME), put8(&b, 5 << 2 | 2);
	put8(&b, OP_FIN), put8(&b, 0);
	put8(&b, OP_FIRE);
	put8(&b, OP_ACK), put8(&b, 32);
	seed_buf("tcp", "discard_ooo", &b);

	// echo with small buffers: the peer's window shuts, probes, then opens
	tcp_head_passive(&b, CEE_TCP_SVC_ECHO | 0x80, 0, 0);
	put8(&b, OP_ACK), put8(&b, 0);
	put8(&b, OP_DATA), put8(&b, 0), put8(&b, 255);
	put8(&b, OP_FIRE);
	put8(&b, OP_FIRE);
	put8(&b, OP_ACK), put8(&b, 64);
	put8(&b, OP_FIRE);
	put8(&b, OP_ACK), put8(&b, 64);
	seed_buf("tcp", "echo_zero_window", &b);

	// app, active open: SYN-ACK with options, the owner sends on established,
	// echoes what it receives, loss and SACK recovery, close
	put8(&b, CEE_TCP_SVC_APP | 8);
	put8(&b, 0);
	put8(&b, 1 | 1 << 2 | 0x10); // send on established, echo on recv, last words on closing
	put8(&b, OP_SEG), put8(&b, CEE_TCP_SYN | CEE_TCP_ACK);
	put8(&b, 1 | 2 << 2 | 0x20); // seq from the peer's next, ack from SND.NXT, options
	put16(&b, 0), put16(&b, 0);  // seq, ack deltas
	put16(&b, 65535);	     // window
	put8(&b, 0x0f), put16(&b, 1460), put8(&b, 7), put8(&b, 0); // MSS, WS, SACK-ok, TS
	put8(&b, OP_SEND), put16(&b, 4000);
	put8(&b, OP_SEG), put8(&b, CEE_TCP_ACK);
	put8(&b, 0 | 1 << 2 | 0x20); // ack at SND.UNA: a duplicate ACK with SACK
	put16(&b, 0), put16(&b, 0), put16(&b, 512);
	put8(&b, 0x18), put8(&b, 1), put16(&b, 1460), put16(&b, 1460); // TS, one SACK block
	put8(&b, OP_ACK), put8(&b, 32);
	put8(&b, OP_DATA), put8(&b, 0), put8(&b, 10);
	put8(&b, OP_ACK), put8(&b, 32);
	put8(&b, OP_CLOSE), put8(&b, 2);
	put8(&b, OP_ACK), put8(&b, 32);
	put8(&b, OP_FIN), put8(&b, 0);
	put8(&b, OP_FIRE);
	seed_buf("tcp", "app_active_sack", &b);

	// paced, idle timeout and keepalive: timers alone end it
	tcp_head_passive(&b, CEE_TCP_SVC_PACED, 1 | 2, 0x20 | 0x80);
	put8(&b, OP_ACK), put8(&b, 32);
	put8(&b, OP_TIME), put8(&b, 4 << 2 | 3);
	put8(&b, OP_FIRE);
	put8(&b, OP_FIRE);
	seed_buf("tcp", "paced_idle_keepalive", &b);

	// echo_close with RST, ICMP PTB, a deadline, buffer exhaustion
	tcp_head_passive(&b, CEE_TCP_SVC_ECHO_CLOSE, 4 | 8 | 0x10, 0x40);
	put8(&b, OP_ACK), put8(&b, 32);
	put8(&b, OP_BUFFAIL);
	put8(&b, OP_DATA), put8(&b, 0), put8(&b, 10);
	put8(&b, OP_BUFFAIL);
	put8(&b, OP_DATA), put8(&b, 0), put8(&b, 180);
	put8(&b, OP_PMTU), put16(&b, 0), put16(&b, 576);
	put8(&b, OP_DEADLINE), put16(&b, 100);
	put8(&b, OP_RST), put8(&b, 0x80);
	seed_buf("tcp", "echo_close_rst_pmtu", &b);

	// TIME-WAIT, then a new SYN reuses it (RFC 6191)
	tcp_head_passive(&b, CEE_TCP_SVC_APP, 0, 2 << 2); // close on recv: we close first
	put8(&b, OP_ACK), put8(&b, 32);
	put8(&b, OP_DATA), put8(&b, 0), put8(&b, 1);
	put8(&b, OP_ACK), put8(&b, 32);
	put8(&b, OP_FIN), put8(&b, 0);
	put8(&b, OP_SEG), put8(&b, CEE_TCP_SYN);
	put8(&b, 1 | 4 << 2 | 0x20); // seq past the peer's, absolute ack (0), options
	put16(&b, 1000), put32(&b, 0), put16(&b, 65535);
	put8(&b, 0x08), put8(&b, 100); // TS only
	seed_buf("tcp", "time_wait_reuse", &b);
}

/* ---- events: records, lines, files ---- */

static unsigned stream(struct cee_event *out, unsigned max)
{
	unsigned n = 0;
	uint64_t sseq = 0;
	cee_conn_id_t a = cee_id_make(0, 1), l = cee_id_make(0, 2);
	struct cee_event e;
	struct cee_ext_builder b;

#define EV(id, t, cs, pr)                                                                          \
	do {                                                                                       \
		memset(&e, 0, sizeof(e));                                                          \
		e.conn = (id);                                                                     \
		e.sseq = ++sseq;                                                                   \
		e.type = (t);                                                                      \
		e.cseq = (cs);                                                                     \
		e.proto = (pr);                                                                    \
		e.ts_ns = 1000000 * sseq;                                                          \
		e.local_ip = 0x0a000001;                                                           \
		e.local_port = 5061;                                                               \
		e.remote_ip = 0xc0a80117;                                                          \
		e.remote_port = (uint16_t)(40000 + (id));                                          \
	} while (0)
#define PUSH()                                                                                     \
	do {                                                                                       \
		if (n < max)                                                                       \
			out[n] = e;                                                                \
		n++;                                                                               \
	} while (0)
#define GROUP()                                                                                    \
	do {                                                                                       \
		unsigned k_ = cee_ext_end(&b);                                                     \
		for (unsigned i_ = 0; i_ < k_; i_++) {                                             \
			b.rec[i_].ext.sseq = ++sseq;                                               \
			if (n < max)                                                               \
				out[n] = b.rec[i_].ev;                                             \
			n++;                                                                       \
		}                                                                                  \
	} while (0)

	// an inbound WSS connection: tls_up and ws_up with strings from the network
	EV(a, CEE_EVT_OPEN, 0, CEE_PROTO_WSS);
	PUSH();
	EV(a, CEE_EVT_ESTABLISHED, 1, CEE_PROTO_WSS);
	e.ts_ns -= 1000000; // (an accepted connection's open and established: one instant)
	PUSH();
	cee_ext_begin(&b, a, CEE_EVT_TLS_UP);
	cee_ext_put_u16(&b, CEE_EXT_TLS_VERSION, 0x0304);
	cee_ext_put_str(&b, CEE_EXT_CIPHER, "TLS_AES_128_GCM_SHA256");
	cee_ext_put_str(&b, CEE_EXT_SNI, "sbc.example.test\"\\\x01\xc3\xa9\xff");
	cee_ext_put_str(&b, CEE_EXT_ALPN, "sip");
	cee_ext_put_u8(&b, CEE_EXT_RESUMED, 1);
	cee_ext_put_str(&b, CEE_EXT_PEER_SUBJECT, "/O=cee/CN=client.cee.test");
	GROUP();
	EV(a, CEE_EVT_TLS_UP, 2, CEE_PROTO_WSS);
	PUSH();
	cee_ext_begin(&b, a, CEE_EVT_WS_UP);
	cee_ext_put_str(&b, CEE_EXT_WS_PATH, "/sip?x=\xe2\x82\xac");
	cee_ext_put_str(&b, CEE_EXT_WS_SUBPROTOCOL, "sip");
	cee_ext_put_str(&b, CEE_EXT_WS_ORIGIN, "https://a.example.test");
	cee_ext_put_str(&b, CEE_EXT_WS_USER_AGENT, "fuzz/1.0");
	GROUP();
	EV(a, CEE_EVT_WS_UP, 3, CEE_PROTO_WSS);
	PUSH();
	// an outbound link connection (its open names its link, as a shard's does)
	cee_ext_begin(&b, l, CEE_EVT_OPEN);
	cee_ext_put_str(&b, CEE_EXT_LINK, "trunk1");
	GROUP();
	EV(l, CEE_EVT_OPEN, 0, CEE_PROTO_TLS | CEE_PROTO_F_OUT);
	PUSH();
	EV(l, CEE_EVT_ESTABLISHED, 1, CEE_PROTO_TLS | CEE_PROTO_F_OUT);
	PUSH();
	EV(l, CEE_EVT_TLS_UP, 2, CEE_PROTO_TLS | CEE_PROTO_F_OUT);
	PUSH();
	cee_ext_begin(&b, l, CEE_EVT_LINK_UP);
	cee_ext_put_str(&b, CEE_EXT_LINK, "trunk1");
	cee_ext_put_u32(&b, CEE_EXT_ATTEMPT, 3);
	GROUP();
	EV(l, CEE_EVT_LINK_UP, 3, CEE_PROTO_TLS | CEE_PROTO_F_OUT);
	PUSH();
	cee_ext_begin(&b, a, CEE_EVT_CLOSED);
	cee_ext_put_u16(&b, CEE_EXT_WS_CODE, 1000);
	cee_ext_put_str(&b, CEE_EXT_WS_REASON, "bye");
	cee_ext_put_u8(&b, CEE_EXT_WS_CLEAN, 1);
	GROUP();
	EV(a, CEE_EVT_CLOSED, 4, CEE_PROTO_WSS);
	e.reason = CEE_REASON_WS_CLOSE;
	e.bytes_in = 12345;
	e.bytes_out = 678;
	e.duration_ns = 99999999;
	PUSH();
	EV(a, CEE_EVT_DESTROYED, 5, CEE_PROTO_WSS);
	PUSH();
	cee_ext_begin(&b, l, CEE_EVT_CLOSED);
	cee_ext_put_u8(&b, CEE_EXT_ALERT, 48);
	cee_ext_put_u8(&b, CEE_EXT_ALERT_BY, 0);
	GROUP();
	EV(l, CEE_EVT_CLOSED, 4, CEE_PROTO_TLS | CEE_PROTO_F_OUT);
	e.reason = CEE_REASON_TLS_ALERT;
	PUSH();
	cee_ext_begin(&b, l, CEE_EVT_LINK_DOWN);
	cee_ext_put_str(&b, CEE_EXT_LINK, "trunk1");
	cee_ext_put_u32(&b, CEE_EXT_ATTEMPT, 3);
	cee_ext_put_u32(&b, CEE_EXT_NEXT_ATTEMPT_MS, 250);
	GROUP();
	EV(l, CEE_EVT_LINK_DOWN, 5, CEE_PROTO_TLS | CEE_PROTO_F_OUT);
	e.reason = CEE_REASON_TLS_ALERT;
	PUSH();
	EV(l, CEE_EVT_DESTROYED, 6, CEE_PROTO_TLS | CEE_PROTO_F_OUT);
	PUSH();
	// a plain TCP connection on another shard: an outbound one whose
	// handshake timed out (an accepted one is announced at its end)
	cee_conn_id_t t = cee_id_make(1, 1);
	sseq = 0;
	EV(t, CEE_EVT_OPEN, 0, CEE_PROTO_TCP | CEE_PROTO_F_OUT);
	PUSH();
	EV(t, CEE_EVT_CLOSED, 1, CEE_PROTO_TCP | CEE_PROTO_F_OUT);
	e.reason = CEE_REASON_HANDSHAKE_TIMEOUT;
	PUSH();
	EV(t, CEE_EVT_DESTROYED, 2, CEE_PROTO_TCP | CEE_PROTO_F_OUT);
	PUSH();
	return n;
#undef EV
#undef PUSH
#undef GROUP
}

static void sink_file(const char *spec_kind, const struct cee_event *ev, unsigned n,
		      struct buf *out)
{
	char path[] = "/tmp/cee-seedgen-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		die("mkstemp");
	close(fd);
	unlink(path);
	char spec[128];
	snprintf(spec, sizeof(spec), "%s:%s", spec_kind, path);
	struct cee_sink *s = cee_sink_open(spec);
	if (s == NULL)
		die("cee_sink_open %s", spec);
	if (cee_sink_write(s, ev, n) != (int)n)
		die("cee_sink_write");
	cee_sink_close(s);
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		die("fopen %s", path);
	uint8_t tmp[4096];
	size_t got;
	while ((got = fread(tmp, 1, sizeof(tmp), f)) > 0)
		put(out, tmp, got);
	fclose(f);
	unlink(path);
}

static void gen_events(void)
{
	struct cee_event ev[64];
	unsigned n = stream(ev, 64);
	if (n > 64)
		die("stream too long");
	struct buf b = {0};

	// json: settings (group-with-event, small buffer), then the records
	put8(&b, 1), put8(&b, 60), put(&b, ev, n * sizeof(ev[0]));
	seed_buf("json", "stream_groups", &b);
	put8(&b, 0), put8(&b, 255), put(&b, ev, 8 * sizeof(ev[0]));
	seed_buf("json", "stream_alone", &b);

	// audit: the records raw (bit 0 clear), and generated streams
	put8(&b, 0), put(&b, ev, n * sizeof(ev[0]));
	seed_buf("audit", "raw_valid", &b);
	put8(&b, 2), put(&b, ev, (n - 3) * sizeof(ev[0]));
	seed_buf("audit", "raw_live", &b);
	static const uint8_t gen[] = {1,    2, 0x35, 7, 0,  4, 0x31, 3, 4, 4, 4, 8, 4, 4, 0,
				      0x3d, 9, 4,    8, 12, 4, 4,    4, 4, 4, 4, 4, 4, 4};
	for (unsigned m = 0; m < 4; m++) {
		char name[32];
		put8(&b, 1 | m << 1);
		put(&b, gen + 1, sizeof(gen) - 1);
		put16(&b, 5);
		snprintf(name, sizeof(name), "generated_mut%u", m);
		seed_buf("audit", name, &b);
	}

	// audit_reader: files the sinks wrote
	sink_file("jsonl", ev, n, &b);
	if (b.len % 4 != 0) // (length bits select options: none here)
		put(&b, "\n\n\n", 4 - b.len % 4);
	seed_buf("audit_reader", "events.jsonl", &b);
	// binary, version 4: the header, a run record, the records; the run's
	// time zeroed so that the seed does not change with each generation
	(void)cee_evt_json_set_engine("seed-1", NULL);
	sink_file("binary", ev, n, &b);
	(void)cee_evt_json_set_engine(NULL, NULL);
	const size_t hl = sizeof(struct cee_evbin_header);
	memset(b.p + hl + offsetof(struct cee_evbin_run, ts_ns), 0, 8);
	struct buf two = {0};
	put(&two, b.p, b.len);
	seed_buf("audit_reader", "events.bin", &b);
	// two runs appended to one file (the second under another engine id),
	// and a version 3 file (no run record)
	struct cee_evbin_run run = {.type = CEE_EVBIN_RUN};
	memcpy(run.engine, "seed-2", 6);
	put(&two, &run, sizeof(run)), put(&two, ev, n * sizeof(ev[0]));
	seed_buf("audit_reader", "events_two_runs.bin", &two);
	struct cee_evbin_header h3 = {.version = 3, .record_size = sizeof(struct cee_event)};
	memcpy(h3.magic, CEE_EVBIN_MAGIC, sizeof(h3.magic));
	put(&b, &h3, sizeof(h3)), put(&b, ev, n * sizeof(ev[0]));
	seed_buf("audit_reader", "events_v3.bin", &b);
	static const char schema1[] =
	    "{\"v\":1,\"type\":\"open\",\"conn\":\"0000000000000001\",\"shard\":0,\"sseq\":1,"
	    "\"cseq\":0,\"ts_ns\":1,\"proto\":\"tcp\",\"local\":\"10.0.0.1:7\","
	    "\"remote\":\"10.0.0.2:40000\"}\r\n\n"
	    "{\"v\":1,\"type\":\"closed\",\"conn\":\"0000000000000001\",\"shard\":0,\"sseq\":2,"
	    "\"cseq\":1,\"ts_ns\":2,\"proto\":\"tcp\",\"local\":\"10.0.0.1:7\","
	    "\"remote\":\"10.0.0.2:40000\",\"reason\":\"peer_rst\",\"bytes_in\":0,"
	    "\"bytes_out\":0,\"duration_ns\":1}\n"
	    "{\"v\":2,\"type\":\"ext\",\"of\":\"tls_up\",\"conn\":\"0000000000000001\",\"shard\":0,"
	    "\"sseq\":3,\"link\":\"a\\ud83d\\ude00\\u00e9\",\"xseq\":3}";
	seed("audit_reader", "schema1_crlf_noeol.jsonl", schema1, sizeof(schema1) - 1);
}

/* ---- ctl: request lines and the shards' answers ---- */

static void gen_ctl(void)
{
	static const char *const lines[] = {
	    "stats\n",
	    "conns\n",
	    "conn 0000000000000001\n",
	    "snapshot\n",
	    "kill 0100000000000001\r\n",
	    "drain\n",
	    "links\n",
	    "watch 0000000000000002\n",
	    "conn\n",
	    "stats extra\n",
	    "nosuch\n",
	    "conn zz\n",
	};
	static const char *const names[] = {
	    "stats", "conns", "conn",	   "snapshot",	  "kill",    "drain",
	    "links", "watch", "conn_noid", "stats_extra", "unknown", "conn_badid",
	};
	for (unsigned i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		struct buf b = {0};
		put8(&b, i & 1);  // one or two shards
		put8(&b, i * 37); // chunking
		put(&b, lines[i], strlen(lines[i]));
		put8(&b, 0xff), put8(&b, 0xfe);
		// answers: 0 (answered) then records
		for (unsigned k = 0; k < 64; k++)
			put8(&b, k % 5 == 0 ? 0 : k * 7);
		seed_buf("ctl", names[i], &b);
	}
	struct buf b = {0};
	put8(&b, 2 | 4), put8(&b, 0);
	for (int i = 0; i < 300; i++)
		put8(&b, 'x');
	seed_buf("ctl", "too_long", &b);
	put8(&b, 4), put8(&b, 3);
	put(&b, "watch 0000000000000001\n", 23);
	put8(&b, 0xff), put8(&b, 0xfe), put8(&b, 7); // the shard keeps it: the client hangs up
	seed_buf("ctl", "watch_hangup", &b);
}

/* ---- tls: real flights between cee_tls ends pumped in memory ---- */

struct tend {
	struct buf out;
	struct cee_tls *t;
};

static int tend_down(void *arg, const uint8_t *data, uint32_t len)
{
	put(&((struct tend *)arg)->out, data, len);
	return (int)len;
}

static void tend_up(void *arg, const uint8_t *data, uint32_t len)
{
	(void)arg;
	(void)data;
	(void)len;
}

static void tend_milestone(void *arg, enum cee_evt_type type)
{
	(void)arg;
	(void)type;
}

static void tend_close(void *arg, enum cee_reason reason)
{
	(void)arg;
	(void)reason;
}

static struct cee_tls_ctx *tls_ctx(const struct cee_tls_cfg *cfg, bool server)
{
	char err[256];
	struct cee_tls_ctx *c = cee_tls_ctx_create(cfg, server, err, sizeof(err));
	if (c == NULL)
		die("cee_tls_ctx_create: %s", err);
	return c;
}

/* Each end's new output to the other (and to @p c2s, @p s2c) until both are quiet. */
static void tls_pump(struct tend *c, struct tend *s, size_t *cs, size_t *sc, struct buf *c2s,
		     struct buf *s2c)
{
	for (int i = 0; i < 16; i++) {
		if (c->out.len > *cs) {
			size_t from = *cs;
			*cs = c->out.len;
			put(c2s, c->out.p + from, *cs - from);
			(void)cee_tls_input(s->t, c->out.p + from, (uint32_t)(*cs - from));
		}
		if (s->out.len > *sc) {
			size_t from = *sc;
			*sc = s->out.len;
			put(s2c, s->out.p + from, *sc - from);
			(void)cee_tls_input(c->t, s->out.p + from, (uint32_t)(*sc - from));
		}
	}
}

/* A handshake, data, KeyUpdates and close_notify each way; @p c2s and @p s2c get everything each side sent (prefixed). */
static void tls_run(const struct cee_tls_cfg *scfg, const struct cee_tls_cfg *ccfg, const char *sni,
		    struct buf *c2s, struct buf *s2c, struct buf *hello)
{
	struct cee_tls_ctx *sctx = tls_ctx(scfg, true), *cctx = tls_ctx(ccfg, false);
	struct tend s = {0}, c = {0};
	struct cee_layer_io sio = {tend_down, tend_up, tend_milestone, tend_close, &s};
	struct cee_layer_io cio = {tend_down, tend_up, tend_milestone, tend_close, &c};
	// each end seeded as the fuzz target that replays the other's flights
	// seeds its own (fuzz_seed.c)
	fuzz_seed_reset(FUZZ_SEED_SERVER);
	s.t = cee_tls_new(sctx, &sio, NULL);
	fuzz_seed_reset(FUZZ_SEED_CLIENT);
	c.t = cee_tls_new(cctx, &cio, sni);
	if (s.t == NULL || c.t == NULL || cee_tls_start(c.t) != 0)
		die("tls start");
	put(hello, c.out.p, c.out.len);
	size_t cs = 0, sc = 0;
	tls_pump(&c, &s, &cs, &sc, c2s, s2c);
	// application data in two records each way, a KeyUpdate each way on
	// TLS 1.3 (the server's answer to the client's among them), data under
	// the new keys, then a close_notify each way
	static const char req[] = "OPTIONS sip:x SIP/2.0\r\n\r\n", resp[] = "SIP/2.0 200 OK\r\n\r\n";
	(void)cee_tls_send(c.t, (const uint8_t *)req, 10);
	(void)cee_tls_send(c.t, (const uint8_t *)req + 10, sizeof(req) - 11);
	(void)cee_tls_update_keys(c.t);
	(void)cee_tls_send(c.t, (const uint8_t *)req, sizeof(req) - 1);
	tls_pump(&c, &s, &cs, &sc, c2s, s2c);
	(void)cee_tls_send(s.t, (const uint8_t *)resp, 7);
	(void)cee_tls_send(s.t, (const uint8_t *)resp + 7, sizeof(resp) - 8);
	(void)cee_tls_update_keys(s.t);
	(void)cee_tls_send(s.t, (const uint8_t *)resp, sizeof(resp) - 1);
	tls_pump(&c, &s, &cs, &sc, c2s, s2c);
	cee_tls_shutdown(c.t);
	cee_tls_shutdown(s.t);
	put(c2s, c.out.p + cs, c.out.len - cs);
	put(s2c, s.out.p + sc, s.out.len - sc);
	cee_tls_free(s.t);
	cee_tls_free(c.t);
	free(s.out.p);
	free(c.out.p);
	cee_tls_ctx_destroy(sctx);
	cee_tls_ctx_destroy(cctx);
}

static void gen_tls(void)
{
	static const uint8_t key[32] = {1, 2, 3};
	struct cee_tls_cfg s0 = {.cert_file = CERT("server.pem"),
				 .key_file = CERT("server.key"),
				 .alpn = "sip,http/1.1",
				 .max_conns = 2};
	memcpy(s0.ticket_key, key, 32);
	struct cee_tls_cfg s1 = {.cert_file = CERT("server.pem"),
				 .key_file = CERT("server.key"),
				 .ca_file = CERT("ca.pem"),
				 .max_conns = 2,
				 .max_version = CEE_TLS_V12};
	struct cee_tls_cfg s2 = {.cert_file = CERT("server.pem"),
				 .key_file = CERT("server.key"),
				 .min_version = CEE_TLS_V13,
				 .alpn = "sip",
				 .max_conns = 2};
	struct cee_tls_cfg s3 = {.cert_file = CERT("server-rsa.pem"),
				 .key_file = CERT("server-rsa.key"),
				 .max_version = CEE_TLS_V12,
				 .max_conns = 2,
				 .ticket_key = {9}};
	struct cee_tls_cfg c13 = {.ca_file = CERT("ca.pem"), .alpn = "sip", .max_conns = 2};
	struct cee_tls_cfg c12 = {
	    .ca_file = CERT("ca.pem"), .alpn = "sip", .max_conns = 2, .max_version = CEE_TLS_V12};
	struct cee_tls_cfg c12m = {.ca_file = CERT("ca.pem"),
				   .cert_file = CERT("client.pem"),
				   .key_file = CERT("client.key"),
				   .max_conns = 2,
				   .max_version = CEE_TLS_V12};
	struct {
		const char *name;
		const struct cee_tls_cfg *s, *c;
		uint8_t sctx, cctx;
	} runs[] = {
	    {"tls13_alpn", &s0, &c13, 0, 1},
	    {"tls12_mutual", &s1, &c12m, 1, 2},
	    {"tls13_only", &s2, &c13, 2, 1},
	    {"tls12_rsa", &s3, &c12, 3, 0},
	};
	for (unsigned i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		struct buf c2s = {0}, s2c = {0}, hello = {0}, b = {0};
		char name[64];
		tls_run(runs[i].s, runs[i].c, "server.cee.test", &c2s, &s2c, &hello);
		put8(&b, runs[i].sctx), put8(&b, 0), put(&b, hello.p, hello.len);
		snprintf(name, sizeof(name), "%s_clienthello", runs[i].name);
		seed_buf("tls", name, &b);
		put8(&b, runs[i].sctx | 4 | 8), put8(&b, 0), put(&b, c2s.p, c2s.len);
		snprintf(name, sizeof(name), "%s_client_flights", runs[i].name);
		seed_buf("tls", name, &b);
		put8(&b, runs[i].sctx), put8(&b, 77), put(&b, hello.p, hello.len);
		snprintf(name, sizeof(name), "%s_clienthello_split", runs[i].name);
		seed_buf("tls", name, &b);
		put8(&b, runs[i].cctx), put8(&b, 0), put(&b, s2c.p, s2c.len);
		snprintf(name, sizeof(name), "%s_server_flights", runs[i].name);
		seed_buf("tls_client", name, &b);
		put8(&b, runs[i].cctx | 8), put8(&b, 13), put(&b, s2c.p, s2c.len);
		snprintf(name, sizeof(name), "%s_server_flights_split", runs[i].name);
		seed_buf("tls_client", name, &b);
		free(c2s.p);
		free(s2c.p);
		free(hello.p);
	}
	// garbage that is not TLS, and a clear alert
	struct buf b = {0};
	put8(&b, 0), put8(&b, 0), put(&b, "GET / HTTP/1.1\r\n\r\n", 18);
	seed_buf("tls", "http_not_tls", &b);
	put8(&b, 0), put8(&b, 1), put(&b, "\x15\x03\x03\x00\x02\x02\x28", 7);
	seed_buf("tls", "alert_split", &b);
}

/* ---- ws: a real upgrade and frames between cee_ws ends ---- */

struct wend {
	struct buf out;
	struct cee_ws *ws;
	bool up;
};

static int wend_down(void *arg, const uint8_t *data, uint32_t len)
{
	put(&((struct wend *)arg)->out, data, len);
	return (int)len;
}

static void wend_milestone(void *arg, enum cee_evt_type type)
{
	(void)type;
	((struct wend *)arg)->up = true;
}

static struct cee_ws_ctx *ws_ctx(const struct cee_ws_cfg *cfg)
{
	char err[256];
	struct cee_ws_ctx *c = cee_ws_ctx_create(cfg, err, sizeof(err));
	if (c == NULL)
		die("cee_ws_ctx_create: %s", err);
	return c;
}

/* An upgrade, then messages both ways, a ping (timer) and a Close from the client. */
static void ws_run(const struct cee_ws_cfg *scfg, const struct cee_ws_cfg *ccfg, const char *path,
		   const char *sub, struct buf *c2s, struct buf *s2c)
{
	struct cee_ws_ctx *sctx = ws_ctx(scfg), *cctx = ws_ctx(ccfg);
	struct wend s = {0}, c = {0};
	struct cee_layer_io sio = {wend_down, (void (*)(void *, const uint8_t *, uint32_t))tend_up,
				   wend_milestone, tend_close, &s};
	struct cee_layer_io cio = {wend_down, (void (*)(void *, const uint8_t *, uint32_t))tend_up,
				   wend_milestone, tend_close, &c};
	uint64_t now = 1000000000000ull;
	s.ws = cee_ws_new(sctx, &sio, now);
	c.ws = cee_ws_new_client(cctx, &cio, "server.cee.test", path, sub, now);
	if (s.ws == NULL || c.ws == NULL || cee_ws_start(c.ws, now) != 0)
		die("ws start");
	size_t cs = 0, sc = 0;
	for (int step = 0; step < 6; step++) {
		if (step == 2 && c.up && s.up) {
			(void)cee_ws_send(c.ws, (const uint8_t *)"REGISTER sip:x SIP/2.0\r\n\r\n",
					  26, true, now);
			(void)cee_ws_send(c.ws, (const uint8_t *)"\x00\x01\x02\xff", 4, false, now);
			(void)cee_ws_send(s.ws, (const uint8_t *)"SIP/2.0 200 OK\r\n\r\n", 18, true,
					  now);
		}
		if (step == 3) {
			now += 3600 * 1000000000ull; // pings, if the server sends them
			if (cee_ws_deadline(s.ws) != 0)
				cee_ws_timer(s.ws, now);
		}
		if (step == 4)
			cee_ws_shutdown(c.ws, CEE_WS_NORMAL, "done", now);
		for (int i = 0; i < 4; i++) {
			if (c.out.len > cs) {
				put(c2s, c.out.p + cs, c.out.len - cs);
				(void)cee_ws_input(s.ws, c.out.p + cs, (uint32_t)(c.out.len - cs),
						   now);
				cs = c.out.len;
			}
			if (s.out.len > sc) {
				put(s2c, s.out.p + sc, s.out.len - sc);
				(void)cee_ws_input(c.ws, s.out.p + sc, (uint32_t)(s.out.len - sc),
						   now);
				sc = s.out.len;
			}
		}
	}
	cee_ws_free(s.ws);
	cee_ws_free(c.ws);
	free(s.out.p);
	free(c.out.p);
	cee_ws_ctx_destroy(sctx);
	cee_ws_ctx_destroy(cctx);
}

static void gen_ws(void)
{
	struct cee_ws_cfg s0 = {.subprotocol = "sip", .max_conns = 2};
	struct cee_ws_cfg s1 = {.path = "/sip",
				.subprotocol = "sip",
				.origins = "https://a.example.test,https://b.example.test",
				.max_header = 512,
				.max_frame = 125,
				.max_message = 300,
				.ping_interval_ns = 2000000000ull,
				.pong_timeout_ns = 1000000000ull,
				.close_timeout_ns = 1000000000ull,
				.max_conns = 2};
	struct cee_ws_cfg s2 = {
	    .max_conns = 2, .buffers = 1, .max_message = 4096, .max_frame = 1024};
	// the client of fuzz_ws_client.c: same settings, so the same key
	struct cee_ws_cfg cc = {.max_conns = 1,
				.buffers = 1,
				.max_header = 1024,
				.max_frame = 2048,
				.max_message = 4096,
				.seed = 42,
				.pong_timeout_ns = 1000000000ull,
				.close_timeout_ns = 1000000000ull};
	struct cee_ws_cfg cping = cc;
	cping.ping_interval_ns = 2000000000ull;
	struct {
		const char *name;
		const struct cee_ws_cfg *s, *c;
		const char *path, *sub;
		uint8_t sctx, copt;
	} runs[] = {
	    {"sip", &s0, &cc, "/", "sip", 0, 0},
	    {"path_limits_ping", &s1, &cping, "/sip", "sip", 1, 0x20},
	    {"nosub_onebuf", &s2, &cc, "/", NULL, 2, 1},
	};
	for (unsigned i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		struct buf c2s = {0}, s2c = {0}, b = {0};
		char name[64];
		ws_run(runs[i].s, runs[i].c, runs[i].path, runs[i].sub, &c2s, &s2c);
		put8(&b, runs[i].sctx | 4), put8(&b, 0), put(&b, c2s.p, c2s.len);
		snprintf(name, sizeof(name), "%s_client_bytes", runs[i].name);
		seed_buf("ws", name, &b);
		put8(&b, runs[i].sctx | 8), put8(&b, 29), put(&b, c2s.p, c2s.len);
		snprintf(name, sizeof(name), "%s_client_bytes_split", runs[i].name);
		seed_buf("ws", name, &b);
		if (runs[i].sctx == 2) { // another connection holds the one buffer, 2 s old
			put8(&b, 2 | 0x20 | 4), put8(&b, 29), put(&b, c2s.p, c2s.len);
			snprintf(name, sizeof(name), "%s_reclaim_split", runs[i].name);
			seed_buf("ws", name, &b);
		}
		put8(&b, runs[i].copt | 4), put8(&b, 0), put(&b, s2c.p, s2c.len);
		snprintf(name, sizeof(name), "%s_server_bytes", runs[i].name);
		seed_buf("ws_client", name, &b);
		put8(&b, runs[i].copt | 8 | 0x10), put8(&b, 31), put(&b, s2c.p, s2c.len);
		snprintf(name, sizeof(name), "%s_server_bytes_split", runs[i].name);
		seed_buf("ws_client", name, &b);
		free(c2s.p);
		free(s2c.p);
	}
	static const char bad[] = "GET /chat HTTP/1.0\r\nHost: x\r\nUpgrade: websocket\r\n\r\n";
	struct buf b = {0};
	put8(&b, 0), put8(&b, 0), put(&b, bad, sizeof(bad) - 1);
	seed_buf("ws", "http10_refused", &b);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: fuzz_seedgen DIR\n");
		return 2;
	}
	root = argv[1];
	if (mkdir(root, 0755) != 0 && errno != EEXIST)
		die("mkdir %s: %s", root, strerror(errno));
	if (cee_tls_global_init() != 0)
		die("cee_tls_global_init");
	gen_net();
	gen_tcp();
	gen_events();
	gen_ctl();
	gen_tls();
	gen_ws();
	return 0;
}
