/* SPDX-License-Identifier: BSD-3-Clause */
// Fuzz target: TCP input (cee_tcp*.c, sans I/O). One connection, opened
// passively (a SYN) or actively (cee_tcp_connect), is fed a series of
// segments, timer firings and owner calls decoded from the input, relative
// to the connection's current state (so that mutations stay near the
// window), as a hostile peer and a busy owner would produce them.
//
// Input: three bytes of settings (service, role, SACK/timestamps/CC, small
// buffers, idle timeout, keepalive, growth, delayed ACKs, the owner's per-connection
// options (CEE_TCB_O_KEEPALIVE, CEE_TCB_O_LINK_IDLE), the owner's reactions
// from its callbacks), the SYN's options for a passive open, then operations until
// the input ends (see the OP_* list). Segments the frame parser would drop
// (SYN with FIN or RST; none of SYN, ACK, RST) are not fed: the shard never
// passes them.
//
// Checked at every callback and after every operation:
//   - lifecycle: open first, then at most one established, exactly one
//     closed, then exactly one destroyed, and nothing at all after it (the
//     owner frees the tcb at destroyed: ASan reports any later access);
//   - timer and buffer bookkeeping: the owner's timer is the tcb's
//     timer_at_ns, cancelled before destroyed; the send buffer is held iff
//     tcb->sb is set, returned before destroyed, sb_len within the ring;
//   - sequence space: SND.UNA <= SND.NXT <= SND.MAX;
//   - output: options only where allowed and at most 40 bytes, payload
//     within the MSS, no payload on RST; for echo services every byte sent
//     is the byte received at the same offset (payload bytes are a function
//     of their sequence number, so retransmissions and overlaps agree);
//     for the app service, every byte delivered to ops->recv likewise;
//   - liveness: a connection that holds data or waits for its peer in a
//     handshake or closing state has its timer armed. At the end the peer
//     goes silent and every timer fires in turn: the connection must end
//     by itself unless it is idle in ESTABLISHED/CLOSE-WAIT with nothing
//     to send and no idle timeout or keepalive applies to it; then the
//     owner aborts it.
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cee_tcp.h"
#include "fuzz.h"

#define MS 1000000ull
#define SEC 1000000000ull
#define T0 (100 * SEC)
#define ISS 0x20000000u
#define PIRS 0x10000000u /* the peer's ISN unless a segment says otherwise */
#define MAX_CONNS 4	 /* connections per input (TIME-WAIT reuse opens another) */
#define MAX_PAYLOAD 4096

/* The byte every copy of sequence number @p s carries. */
static inline uint8_t seq_byte(uint32_t s)
{
	return (uint8_t)((s * 2654435761u) >> 24);
}

static inline bool seq_leq(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) <= 0;
}

struct owner {
	struct cee_tcp_ctx ctx;
	struct cee_tcp_ops ops;
	struct cee_tcb *tcb; /* NULL once destroyed (freed) */
	uint64_t now;
	unsigned nconn;

	/* this connection's lifecycle as reported */
	enum cee_evt_type evts[8];
	unsigned nevts;
	bool destroyed;

	uint64_t timer_at; /* the owner's one-shot timer (0 = not armed) */
	int bufs_live;
	bool buf_fail;
	int large_free;

	/* the peer */
	uint32_t p_seq; /* next sequence number it would send */
	uint32_t p_rcv; /* end of what we sent (as if it all arrived) */
	bool p_rcv_set;
	uint32_t p_ts;	 /* its TSval clock */
	uint32_t our_ts; /* the last TSval we sent */
	uint16_t p_wnd;
	uint32_t irs; /* its ISN as this connection took it */
	bool irs_known;
	uint8_t service;
	uint8_t oflags; /* CEE_TCB_O_* the owner sets on each connection */

	/* the owner's reactions from its callbacks (settings byte 2) */
	uint8_t react;
	int in_callback;
};

static struct owner O;
static uint8_t payload[MAX_PAYLOAD];
static int trace = -1; /* CEE_FUZZ_TRACE=1: print each step (for reproducers) */

#define TRACE(...)                                                                                 \
	do {                                                                                       \
		if (trace > 0)                                                                     \
			fprintf(stderr, __VA_ARGS__);                                              \
	} while (0)

static const char *evt_name(enum cee_evt_type t)
{
	return cee_evt_type_str(t);
}

/* The events so far are a prefix of open [established] closed destroyed. */
static void check_order(const struct owner *o)
{
	unsigned i = 0;
	FUZZ_CHECK(o->nevts == 0 || o->evts[0] == CEE_EVT_OPEN, "first event is %s",
		   evt_name(o->evts[0]));
	if (o->nevts > 0)
		i = 1;
	if (i < o->nevts && o->evts[i] == CEE_EVT_ESTABLISHED)
		i++;
	if (i < o->nevts) {
		FUZZ_CHECK(o->evts[i] == CEE_EVT_CLOSED, "event %u is %s, expected closed", i,
			   evt_name(o->evts[i]));
		i++;
	}
	if (i < o->nevts) {
		FUZZ_CHECK(o->evts[i] == CEE_EVT_DESTROYED, "event %u is %s, expected destroyed", i,
			   evt_name(o->evts[i]));
		i++;
	}
	FUZZ_CHECK(i == o->nevts, "event %u (%s) after destroyed", i, evt_name(o->evts[i]));
}

static void check_tcb(struct owner *o)
{
	const struct cee_tcb *t = o->tcb;
	if (t == NULL)
		return;
	FUZZ_CHECK(t->state < CEE_TCP_STATE__COUNT, "state %u", t->state);
	FUZZ_CHECK(t->state != CEE_TCP_CLOSED, "live tcb in CLOSED");
	FUZZ_CHECK(o->timer_at == t->timer_at_ns, "owner timer %llu, tcb timer_at_ns %llu",
		   (unsigned long long)o->timer_at, (unsigned long long)t->timer_at_ns);
	// the send buffer, and an app service's out-of-order bytes' (x->rb):
	// held only while it holds ranges, given back with them
	const struct cee_tcp_xmit *x =
	    t->sb != NULL && (t->uflags & CEE_TCB_U_XMIT)
		? (const void *)(t->sb + cee_tcp_xmit_off(&o->ctx.cfg, t->sb_class))
		: NULL;
	int rb = x != NULL && x->rb != NULL;
	FUZZ_CHECK(o->bufs_live == (t->sb != NULL) + rb, "buffers held %d, tcb->sb %p, rb %d",
		   o->bufs_live, (void *)t->sb, rb);
	FUZZ_CHECK(!rb || (x->ooo_n > 0 && t->service >= CEE_TCP_SVC_APP),
		   "rb held with %u ranges, service %u", x != NULL ? x->ooo_n : 0, t->service);
	uint32_t ring = cee_tcp_ring_size(&o->ctx.cfg, t->sb_class);
	FUZZ_CHECK(t->sb_len <= ring, "sb_len %u > ring %u", t->sb_len, ring);
	FUZZ_CHECK(t->sb != NULL || t->sb_len == 0, "sb_len %u without a buffer", t->sb_len);
	FUZZ_CHECK(t->sb == NULL || t->sb_head < ring, "sb_head %u >= ring %u", t->sb_head, ring);
	FUZZ_CHECK(seq_leq(t->snd_una, t->snd_nxt) && seq_leq(t->snd_nxt, t->snd_max),
		   "SND.UNA %u SND.NXT %u SND.MAX %u (state %s)", t->snd_una, t->snd_nxt,
		   t->snd_max, cee_tcp_state_str((enum cee_tcp_state)t->state));
	if (o->in_callback)
		return;
	// Waiting on the peer with no timer means waiting for ever.
	bool must_wait = false;
	switch ((enum cee_tcp_state)t->state) {
	case CEE_TCP_SYN_SENT:
	case CEE_TCP_SYN_RECEIVED:
	case CEE_TCP_FIN_WAIT_1:
	case CEE_TCP_CLOSING:
	case CEE_TCP_LAST_ACK:
	case CEE_TCP_TIME_WAIT:
		must_wait = true;
		break;
	case CEE_TCP_FIN_WAIT_2:
		must_wait = o->ctx.cfg.fin_wait_2_ns != 0;
		break;
	case CEE_TCP_ESTABLISHED:
	case CEE_TCP_CLOSE_WAIT:
	case CEE_TCP_CLOSED:
	case CEE_TCP_STATE__COUNT:
		break;
	}
	if (t->snd_una != t->snd_max || t->sb_len > 0)
		must_wait = true;
	FUZZ_CHECK(
	    !must_wait || o->timer_at != 0, "no timer in %s with %u bytes held, %u in flight",
	    cee_tcp_state_str((enum cee_tcp_state)t->state), t->sb_len, t->snd_max - t->snd_una);
}

/* The peer's ISN as the connection took it: a SYN it accepted in SYN-SENT. */
static void learn_irs(struct owner *o, const struct cee_tcp_seg *s)
{
	if (o->tcb != NULL && o->tcb->state == CEE_TCP_SYN_SENT && (s->flags & CEE_TCP_SYN)) {
		o->irs = s->seq;
		o->irs_known = true;
	}
}

/* ---- the owner ---- */

static void own_output(void *owner, struct cee_tcb *tcb, const struct cee_tcp_out *out)
{
	struct owner *o = owner;
	FUZZ_CHECK(tcb == o->tcb && !o->destroyed, "output for a tcb that is not live");
	uint32_t len = out->len[0] + out->len[1];
	TRACE("  out flags %02x seq %u ack %u wnd %u len %u%s\n", out->flags, out->seq - tcb->iss,
	      out->ack, out->wnd, len, out->nsack ? " +sack" : "");
	FUZZ_CHECK(len == 0 || out->len[0] > 0, "empty first piece before a second");
	bool syn = out->flags & CEE_TCP_SYN;
	if (!syn) {
		FUZZ_CHECK(out->wscale == 0xff && out->mss == 0 && !out->sack_ok,
			   "SYN options on a segment without SYN");
	}
	FUZZ_CHECK(out->nsack <= CEE_TCP_SACK_OUT_MAX, "nsack %u", out->nsack);
	unsigned optlen = (out->mss ? 4u : 0u) + (out->wscale != 0xff ? 4u : 0u) +
			  (out->sack_ok ? 4u : 0u) + (out->nsack ? 4u + 8u * out->nsack : 0u) +
			  (out->ts ? 12u : 0u);
	FUZZ_CHECK(optlen <= 40, "%u option bytes", optlen);
	if (out->flags & CEE_TCP_RST)
		FUZZ_CHECK(len == 0, "RST with %u bytes", len);
	if (syn)
		FUZZ_CHECK(len == 0, "SYN with %u bytes", len);
	if (len > 0)
		FUZZ_CHECK(len <= tcb->snd_mss, "%u bytes in a segment, MSS %u", len, tcb->snd_mss);
	if (len > 0 && (o->service == CEE_TCP_SVC_ECHO || o->service == CEE_TCP_SVC_ECHO_CLOSE)) {
		FUZZ_CHECK(o->irs_known, "data echoed before the peer's ISN was taken");
		// our byte at offset k from ISS+1 is the peer's at offset k from IRS+1
		uint32_t k = out->seq - tcb->iss - 1;
		for (uint32_t i = 0; i < len; i++) {
			uint8_t b =
			    i < out->len[0] ? out->data[0][i] : out->data[1][i - out->len[0]];
			uint32_t s = o->irs + 1 + k + i;
			FUZZ_CHECK(b == seq_byte(s),
				   "echoed byte at offset %u is %02x, received %02x", k + i, b,
				   seq_byte(s));
		}
	}
	if (out->ts)
		o->our_ts = out->tsval;
	if (!(out->flags & CEE_TCP_RST)) {
		uint32_t end = out->seq + len + !!syn + !!(out->flags & CEE_TCP_FIN);
		if (!o->p_rcv_set || (int32_t)(end - o->p_rcv) > 0)
			o->p_rcv = end;
		o->p_rcv_set = true;
	}
}

static void react(struct owner *o, struct cee_tcb *tcb, unsigned what, const uint8_t *data,
		  uint32_t len)
{
	switch (what) {
	case 1:
		(void)cee_tcp_send(&o->ctx, tcb, data, len, o->now);
		break;
	case 2:
		cee_tcp_close(&o->ctx, tcb, CEE_REASON_LOCAL_CLOSE, o->now);
		break;
	case 3:
		cee_tcp_abort(&o->ctx, tcb, CEE_REASON_PROTOCOL_ERROR, o->now);
		break;
	default:
		break;
	}
}

static void own_lifecycle(void *owner, struct cee_tcb *tcb, enum cee_evt_type type)
{
	struct owner *o = owner;
	FUZZ_CHECK(tcb == o->tcb && !o->destroyed, "%s for a tcb that is not live", evt_name(type));
	FUZZ_CHECK(o->nevts < 8, "too many events");
	TRACE("  event %s (state %s)\n", evt_name(type),
	      cee_tcp_state_str((enum cee_tcp_state)tcb->state));
	o->evts[o->nevts++] = type;
	check_order(o);
	switch (type) {
	case CEE_EVT_OPEN:
		break;
	case CEE_EVT_ESTABLISHED:
		FUZZ_CHECK(tcb->state == CEE_TCP_ESTABLISHED, "established in %s",
			   cee_tcp_state_str((enum cee_tcp_state)tcb->state));
		break;
	case CEE_EVT_CLOSED:
		FUZZ_CHECK(tcb->close_reason != CEE_REASON_NONE &&
			       tcb->close_reason < CEE_REASON__COUNT,
			   "closed with reason %u", tcb->close_reason);
		break;
	case CEE_EVT_DESTROYED:
		FUZZ_CHECK(tcb->state == CEE_TCP_CLOSED, "destroyed in %s",
			   cee_tcp_state_str((enum cee_tcp_state)tcb->state));
		FUZZ_CHECK(o->bufs_live == 0, "send buffer not returned before destroyed");
		FUZZ_CHECK(o->timer_at == 0, "timer still armed at destroyed");
		o->destroyed = true;
		// the owner frees it: any later access by the TCP code is an ASan report
		memset(tcb, 0xa5, sizeof(*tcb));
		free(tcb);
		o->tcb = NULL;
		return;
	case CEE_EVT_TLS_UP:
	case CEE_EVT_WS_UP:
	case CEE_EVT_LINK_UP:
	case CEE_EVT_LINK_DOWN:
	case CEE_EVT__COUNT:
		FUZZ_CHECK(false, "TCP reported %s", evt_name(type));
	}
	o->in_callback++;
	if (type == CEE_EVT_ESTABLISHED)
		react(o, tcb, o->react & 3, payload, 100);
	o->in_callback--;
}

static void own_recv(void *owner, struct cee_tcb *tcb, const uint8_t *data, uint32_t len)
{
	struct owner *o = owner;
	FUZZ_CHECK(tcb == o->tcb && !o->destroyed, "recv for a tcb that is not live");
	FUZZ_CHECK(tcb->service == CEE_TCP_SVC_APP || tcb->service == CEE_TCP_SVC_PACED,
		   "recv for service %u", tcb->service);
	FUZZ_CHECK(len > 0, "empty recv");
	FUZZ_CHECK(o->irs_known, "data before the peer's ISN was taken");
	// bytes_in already counts this chunk: it is at offset bytes_in - len from IRS+1
	uint32_t k = (uint32_t)tcb->bytes_in - len;
	for (uint32_t i = 0; i < len; i++)
		FUZZ_CHECK(data[i] == seq_byte(o->irs + 1 + k + i),
			   "delivered byte at offset %u is %02x, sent %02x", k + i, data[i],
			   seq_byte(o->irs + 1 + k + i));
	o->in_callback++;
	react(o, tcb, (o->react >> 2) & 3, data, len);
	o->in_callback--;
}

// An owner short of memory (OP_BUFFAIL) has no room for in-order bytes
// either (a TLS handshake past the shard's budget): TCP must leave them to
// the peer's retransmission, and own_recv's offset check then sees every
// delivered byte where the peer sent it (none skipped, none twice).
static bool own_recv_room(void *owner, struct cee_tcb *tcb, uint32_t len)
{
	struct owner *o = owner;
	FUZZ_CHECK(tcb == o->tcb && !o->destroyed, "recv_room for a tcb that is not live");
	FUZZ_CHECK(tcb->service == CEE_TCP_SVC_APP || tcb->service == CEE_TCP_SVC_PACED,
		   "recv_room for service %u", tcb->service);
	FUZZ_CHECK(len > 0, "recv_room for no bytes");
	return !o->buf_fail;
}

static void own_closing(void *owner, struct cee_tcb *tcb, enum cee_reason reason)
{
	struct owner *o = owner;
	FUZZ_CHECK(tcb == o->tcb && !o->destroyed, "closing for a tcb that is not live");
	FUZZ_CHECK(reason != CEE_REASON_NONE && reason < CEE_REASON__COUNT, "closing reason %u",
		   reason);
	o->in_callback++;
	if (o->react & 0x10)
		(void)cee_tcp_send(&o->ctx, tcb, payload, 10, o->now);
	o->in_callback--;
}

static void own_deadline(void *owner, struct cee_tcb *tcb)
{
	struct owner *o = owner;
	FUZZ_CHECK(tcb == o->tcb && !o->destroyed, "deadline for a tcb that is not live");
	o->in_callback++;
	if (o->react & 0x40)
		cee_tcp_abort(&o->ctx, tcb, CEE_REASON_HANDSHAKE_TIMEOUT, o->now);
	else
		cee_tcp_close(&o->ctx, tcb, CEE_REASON_IDLE_TIMEOUT, o->now);
	o->in_callback--;
}

static void own_timer_set(void *owner, struct cee_tcb *tcb, uint64_t at_ns)
{
	struct owner *o = owner;
	FUZZ_CHECK(tcb == o->tcb && !o->destroyed, "timer_set for a tcb that is not live");
	o->timer_at = at_ns;
}

static void *own_buf_alloc(void *owner, unsigned cls)
{
	struct owner *o = owner;
	FUZZ_CHECK(cls <= 1, "buffer class %u", cls);
	if (o->buf_fail || (cls == 1 && o->large_free == 0))
		return NULL;
	if (cls == 1)
		o->large_free--;
	o->bufs_live++;
	size_t n = cee_tcp_buf_size(&o->ctx.cfg, cls);
	void *b = malloc(n);
	FUZZ_CHECK(b != NULL, "malloc");
	memset(b, 0x5a, n); // the TCP code must not read what it did not write
	return b;
}

static void own_buf_free(void *owner, void *buf, unsigned cls)
{
	struct owner *o = owner;
	FUZZ_CHECK(buf != NULL && cls <= 1, "buf_free(%p, %u)", buf, cls);
	if (cls == 1)
		o->large_free++;
	o->bufs_live--;
	FUZZ_CHECK(o->bufs_live >= 0, "more buffers freed than allocated");
	free(buf);
}

static uint32_t own_isn(void *owner, const struct cee_tcb *tcb, uint64_t now_ns)
{
	struct owner *o = owner;
	(void)tcb;
	(void)now_ns;
	return ISS + o->nconn * 0x01000000u;
}

/* ---- the driver ---- */

static struct cee_tcb *conn_new(struct owner *o)
{
	o->tcb = calloc(1, sizeof(*o->tcb));
	FUZZ_CHECK(o->tcb != NULL, "calloc");
	o->tcb->oflags = o->oflags;
	o->nevts = 0;
	o->destroyed = false;
	o->timer_at = 0;
	o->irs_known = false;
	o->p_rcv_set = false;
	o->nconn++;
	return o->tcb;
}

static void tcp_timer(struct owner *o)
{
	TRACE("timer at %llu ms (rto_at %llu, %s, snd_wnd %u, sb %p)\n",
	      (unsigned long long)(o->now / MS), (unsigned long long)(o->tcb->rto_at_ns / MS),
	      cee_tcp_state_str((enum cee_tcp_state)o->tcb->state), o->tcb->snd_wnd,
	      (void *)o->tcb->sb);
	cee_tcp_timer(&o->ctx, o->tcb, o->now);
}

static void fire_timer(struct owner *o)
{
	for (int i = 0; i < 8 && o->tcb != NULL && o->timer_at != 0 && o->now >= o->timer_at; i++)
		tcp_timer(o);
}

/* Feed @p s as the shard would: only what the parser lets through. */
static void feed(struct owner *o, struct cee_tcp_seg *s)
{
	if ((s->flags & CEE_TCP_SYN) && (s->flags & (CEE_TCP_FIN | CEE_TCP_RST)))
		return;
	if (!(s->flags & (CEE_TCP_SYN | CEE_TCP_ACK | CEE_TCP_RST)))
		return;
	if (s->len > 0) {
		// the payload of sequence numbers seq .. seq + len - 1 (after a SYN, from seq + 1)
		uint32_t first = s->seq + !!(s->flags & CEE_TCP_SYN);
		for (uint32_t i = 0; i < s->len; i++)
			payload[i] = seq_byte(first + i);
		s->data = payload;
	}
	uint32_t end = s->seq + s->len + !!(s->flags & CEE_TCP_SYN) + !!(s->flags & CEE_TCP_FIN);
	if ((int32_t)(end - o->p_seq) > 0)
		o->p_seq = end;
	learn_irs(o, s);
	struct cee_tcb *tcb = o->tcb;
	TRACE(" in flags %02x seq %u ack %u wnd %u len %u (rcv_nxt %u)\n", s->flags, s->seq, s->ack,
	      s->wnd, s->len, tcb->rcv_nxt);
	if (cee_tcp_input(&o->ctx, tcb, s, o->now)) {
		// RFC 6191: the SYN ended TIME-WAIT; the owner opens anew with it
		FUZZ_CHECK(o->destroyed && o->tcb == NULL, "TIME-WAIT reuse without destroyed");
		FUZZ_CHECK(s->flags & CEE_TCP_SYN, "TIME-WAIT ended by a segment without SYN");
		if (o->nconn < MAX_CONNS && !(s->flags & CEE_TCP_ACK) && s->len == 0) {
			struct cee_tcb *t = conn_new(o);
			o->irs = s->seq;
			o->irs_known = true;
			cee_tcp_accept(&o->ctx, t, (enum cee_tcp_service)o->service, s, o->now);
		}
	}
}

static uint32_t base_seq(struct owner *o, unsigned sel, struct fuzz_in *in)
{
	switch (sel & 3) {
	case 0:
		return o->tcb->rcv_nxt + (uint32_t)(int16_t)fuzz_u16(in);
	case 1:
		return o->p_seq + (uint32_t)(int16_t)fuzz_u16(in);
	case 2:
		return fuzz_u32(in);
	default:
		return o->tcb->rcv_adv + (uint32_t)(int16_t)fuzz_u16(in);
	}
}

static uint32_t base_ack(struct owner *o, unsigned sel, struct fuzz_in *in)
{
	const struct cee_tcb *t = o->tcb;
	switch (sel & 7) {
	case 1:
		return t->snd_una + (uint32_t)(int16_t)fuzz_u16(in);
	case 2:
		return t->snd_nxt + (uint32_t)(int16_t)fuzz_u16(in);
	case 3:
		return t->snd_max + (uint32_t)(int16_t)fuzz_u16(in);
	case 4:
		return fuzz_u32(in);
	case 5:
		return t->iss + (uint32_t)(int16_t)fuzz_u16(in);
	default:
		return o->p_rcv + (uint32_t)(int16_t)fuzz_u16(in);
	}
}

static void add_ts(struct owner *o, struct cee_tcp_seg *s)
{
	if (o->tcb->uflags & CEE_TCB_U_TS) {
		s->ts_ok = true;
		s->tsval = ++o->p_ts;
		s->tsecr = o->our_ts;
	}
}

static void seg_init(struct cee_tcp_seg *s)
{
	memset(s, 0, sizeof(*s));
	s->wscale = 0xff;
}

enum {
	OP_SEG, /* a segment described field by field */
	OP_SEG2,
	OP_SEG3,
	OP_SEG4,
	OP_ACK,	     /* ACK of everything we sent, at RCV.NXT */
	OP_DATA,     /* payload near RCV.NXT (in order or not) */
	OP_FIN,	     /* FIN at RCV.NXT */
	OP_TIME,     /* time passes; the timer fires if due */
	OP_FIRE,     /* time jumps to the timer's deadline, which fires */
	OP_SEND,     /* the owner sends (app and paced services) */
	OP_CLOSE,    /* the owner closes */
	OP_ABORT,    /* the owner aborts */
	OP_PMTU,     /* ICMP fragmentation needed */
	OP_DEADLINE, /* the owner's deadline */
	OP_BUFFAIL,  /* send buffers run out / come back (and the app's room) */
	OP_RST,	     /* RST near RCV.NXT */
	OP__COUNT
};

static void op_seg(struct owner *o, struct fuzz_in *in)
{
	struct cee_tcp_seg s;
	seg_init(&s);
	s.flags = fuzz_u8(in);
	uint8_t sel = fuzz_u8(in);
	s.seq = base_seq(o, sel, in);
	s.ack = base_ack(o, sel >> 2, in);
	s.wnd = fuzz_u16(in);
	if (sel & 0x20) {
		uint8_t opt = fuzz_u8(in);
		if (opt & 1) {
			s.mss = fuzz_u16(in);
			if (s.mss == 0) // the parser refuses MSS 0
				s.mss = 1;
		}
		if (opt & 2)
			s.wscale = fuzz_u8(in);
		s.sack_ok = opt & 4;
		if (opt & 8) {
			s.ts_ok = true;
			s.tsval = o->p_ts + (uint32_t)(int8_t)fuzz_u8(in);
			s.tsecr = (opt & 0x80) ? fuzz_u32(in) : o->our_ts;
			o->p_ts = s.tsval;
		}
		s.nsack = (uint8_t)((opt >> 4) & 7);
		if (s.nsack > CEE_TCP_SACK_IN_MAX)
			s.nsack = CEE_TCP_SACK_IN_MAX;
		for (unsigned b = 0; b < s.nsack; b++) {
			s.sack[b].start = o->tcb->snd_una + (uint32_t)(int16_t)fuzz_u16(in);
			s.sack[b].end = s.sack[b].start + fuzz_u16(in);
		}
	} else {
		add_ts(o, &s);
	}
	if (sel & 0x40) {
		uint32_t n = fuzz_u8(in);
		s.len = (sel & 0x80) ? n * 16u : n;
	}
	feed(o, &s);
}

static void op_data(struct owner *o, struct fuzz_in *in, uint8_t flags)
{
	struct cee_tcp_seg s;
	seg_init(&s);
	s.flags = flags;
	uint8_t off = fuzz_u8(in);
	s.seq = o->tcb->rcv_nxt + (uint32_t)(int8_t)off * 64u;
	s.ack = o->p_rcv;
	s.wnd = o->p_wnd;
	if (flags & CEE_TCP_PSH)
		s.len = 1u + fuzz_u8(in) * 8u;
	add_ts(o, &s);
	feed(o, &s);
}

/*
 * The end of a receive burst, as the shard ends each poll: the delayed ACKs
 * go; none is left owed or queued (a destroyed connection left the queue
 * when it went: ASan reports a queued pointer to its freed slot).
 */
static void flush_burst(struct owner *o)
{
	if (!o->ctx.cfg.delack)
		return;
	cee_tcp_flush_acks(&o->ctx, o->now);
	FUZZ_CHECK(o->ctx.ackq_n == 0, "%u delayed ACKs left queued", o->ctx.ackq_n);
	// (the delayed-ACK bits; CEE_TCB_A_RTO_IDLE is the timer's, and stays)
	FUZZ_CHECK(o->tcb == NULL ||
		       (o->tcb->aflags & (CEE_TCB_A_OWED | CEE_TCB_A_QUEUED)) == 0,
		   "aflags %#x after the flush", o->tcb ? o->tcb->aflags : 0);
}

static void run_op(struct owner *o, struct fuzz_in *in)
{
	uint8_t op = fuzz_u8(in) % OP__COUNT;
	struct cee_tcb *t = o->tcb;
	TRACE("op %u at %llu ms, state %s\n", op, (unsigned long long)(o->now / MS),
	      cee_tcp_state_str((enum cee_tcp_state)t->state));
	switch (op) {
	case OP_SEG:
	case OP_SEG2:
	case OP_SEG3:
	case OP_SEG4:
		op_seg(o, in);
		break;
	case OP_ACK: {
		struct cee_tcp_seg s;
		seg_init(&s);
		s.flags = CEE_TCP_ACK;
		s.seq = t->rcv_nxt;
		s.ack = o->p_rcv;
		o->p_wnd = (uint16_t)(fuzz_u8(in) << 4);
		s.wnd = o->p_wnd;
		add_ts(o, &s);
		feed(o, &s);
		break;
	}
	case OP_DATA:
		op_data(o, in, CEE_TCP_ACK | CEE_TCP_PSH);
		break;
	case OP_FIN:
		op_data(o, in, CEE_TCP_ACK | CEE_TCP_FIN);
		break;
	case OP_TIME: {
		flush_burst(o);
		uint8_t unit = fuzz_u8(in);
		static const uint64_t units[4] = {1000, MS, 100 * MS, SEC};
		o->now += (uint64_t)(unit >> 2) * units[unit & 3];
		fire_timer(o);
		break;
	}
	case OP_FIRE:
		flush_burst(o);
		if (o->timer_at > o->now)
			o->now = o->timer_at;
		fire_timer(o);
		break;
	case OP_SEND:
		(void)cee_tcp_send(&o->ctx, t, payload, fuzz_u16(in) % MAX_PAYLOAD, o->now);
		break;
	case OP_CLOSE:
		cee_tcp_close(&o->ctx, t,
			      (enum cee_reason)(1 + fuzz_u8(in) % (CEE_REASON__COUNT - 1)), o->now);
		break;
	case OP_ABORT:
		cee_tcp_abort(&o->ctx, t,
			      (enum cee_reason)(1 + fuzz_u8(in) % (CEE_REASON__COUNT - 1)), o->now);
		break;
	case OP_PMTU: {
		uint32_t seq = t->snd_una + (uint32_t)(int16_t)fuzz_u16(in);
		cee_tcp_pmtu(&o->ctx, t, seq, fuzz_u16(in), o->now);
		break;
	}
	case OP_DEADLINE: {
		uint16_t ms = fuzz_u16(in);
		cee_tcp_set_deadline(&o->ctx, t, ms ? o->now + ms * MS : 0,
				     CEE_REASON_HANDSHAKE_TIMEOUT);
		break;
	}
	case OP_BUFFAIL:
		o->buf_fail = !o->buf_fail;
		break;
	case OP_RST: {
		struct cee_tcp_seg s;
		seg_init(&s);
		uint8_t b = fuzz_u8(in);
		s.flags = CEE_TCP_RST | (b & 0x80 ? CEE_TCP_ACK : 0);
		s.seq = t->rcv_nxt + (uint32_t)(int8_t)(b << 1);
		s.ack = o->p_rcv;
		add_ts(o, &s);
		feed(o, &s);
		break;
	}
	default:
		break;
	}
}

static void configure(struct owner *o, uint8_t c0, uint8_t c1)
{
	struct cee_tcp_cfg *cfg = &o->ctx.cfg;
	cee_tcp_cfg_default(cfg);
	cfg->sack = !(c0 & 0x10);
	cfg->timestamps = !(c0 & 0x20);
	cfg->cc = (c0 & 0x40) ? CEE_TCP_CC_NEWRENO : CEE_TCP_CC_CUBIC;
	if (c0 & 0x80) { // small everything: wraps, full buffers, zero windows
		cfg->mss = 536;
		cfg->sndbuf = 4096;
		cfg->rcv_wnd = 2048;
		cfg->ooo_max_segs = 3;
		cfg->rcv_wscale = 0;
	}
	cfg->time_wait_ns = 2 * SEC;
	cfg->fin_wait_2_ns = 30 * SEC;
	if (c1 & 1)
		cfg->idle_timeout_ns = 5 * SEC;
	if (c1 & 2) {
		cfg->keepalive_idle_ns = 10 * SEC;
		cfg->keepalive_intvl_ns = 1 * SEC;
		cfg->keepalive_count = 3;
	}
	// the owner's choices per connection: keepalive (unless bit 5), a link's
	// idle limit instead of the listeners' (bit 6: 3 s with bit 0, else none)
	if ((c1 & 2) && !(c1 & 0x20))
		o->oflags |= CEE_TCB_O_KEEPALIVE;
	if (c1 & 0x40) {
		o->oflags |= CEE_TCB_O_LINK_IDLE;
		if (c1 & 1)
			cfg->link_idle_timeout_ns = 3 * SEC;
	}
	if (c1 & 4) {
		cfg->sndbuf_max = cfg->sndbuf * 4;
		cfg->grow_rtt_us = 1;
		o->large_free = 1;
	}
	if (c1 & 8)
		cfg->challenge_ack_limit = 0;
	if (c1 & 0x10)
		cfg->max_retries = 2;
	if (c1 & 0x80) // delayed ACKs: a burst ends when time moves (flush_burst())
		cfg->delack = true;
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	struct owner *o = &O;

	memset(o, 0, sizeof(*o));
	if (trace < 0)
		trace = getenv("CEE_FUZZ_TRACE") != NULL;
	uint8_t c0 = fuzz_u8(&in), c1 = fuzz_u8(&in);
	o->react = fuzz_u8(&in);
	configure(o, c0, c1);
	o->ops = (struct cee_tcp_ops){
	    .output = own_output,
	    .lifecycle = own_lifecycle,
	    .timer_set = own_timer_set,
	    .buf_alloc = own_buf_alloc,
	    .buf_free = own_buf_free,
	    .recv = own_recv,
	    .recv_room = own_recv_room,
	    .closing = own_closing,
	    .deadline = (o->react & 0x20) ? own_deadline : NULL,
	};
	o->ctx.ops = &o->ops;
	o->ctx.owner = o;
	o->ctx.isn = own_isn;
	o->now = T0;
	o->p_seq = PIRS;
	o->p_ts = 1000;
	o->p_wnd = 512;
	o->service = (uint8_t)((c0 & 7) % 5);
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)i;

	struct cee_tcb *t = conn_new(o);
	if (c0 & 8) {
		cee_tcp_connect(&o->ctx, t, (enum cee_tcp_service)o->service, o->now);
	} else {
		struct cee_tcp_seg syn;
		seg_init(&syn);
		uint8_t so = fuzz_u8(&in);
		syn.flags = CEE_TCP_SYN;
		syn.seq = (so & 0x80) ? fuzz_u32(&in) : PIRS;
		syn.wnd = fuzz_u16(&in);
		if (so & 1) {
			syn.mss = fuzz_u16(&in);
			if (syn.mss == 0)
				syn.mss = 1;
		}
		if (so & 2)
			syn.wscale = fuzz_u8(&in);
		syn.sack_ok = so & 4;
		if (so & 8) {
			syn.ts_ok = true;
			syn.tsval = o->p_ts;
		}
		o->p_seq = syn.seq + 1;
		o->irs = syn.seq;
		o->irs_known = true;
		cee_tcp_accept(&o->ctx, t, (enum cee_tcp_service)o->service, &syn, o->now);
	}
	if (o->react & 0x80 && o->tcb != NULL)
		cee_tcp_set_deadline(&o->ctx, o->tcb, o->now + 3 * SEC,
				     CEE_REASON_HANDSHAKE_TIMEOUT);
	check_tcb(o);

	while (fuzz_more(&in) && o->tcb != NULL) {
		run_op(o, &in);
		if (o->tcb != NULL)
			check_tcb(o);
	}

	flush_burst(o);
	// The peer goes silent: timers alone must end what waits on it.
	unsigned fired = 0;
	while (o->tcb != NULL && o->timer_at != 0 && fired < 4096) {
		if (o->timer_at > o->now)
			o->now = o->timer_at;
		tcp_timer(o);
		fired++;
		if (o->tcb != NULL)
			check_tcb(o);
	}
	if (o->tcb != NULL) {
		const struct cee_tcb *tt = o->tcb;
		FUZZ_CHECK(o->timer_at == 0, "timer still firing after %u expiries (%s)", fired,
			   cee_tcp_state_str((enum cee_tcp_state)tt->state));
		FUZZ_CHECK(tt->state == CEE_TCP_ESTABLISHED || tt->state == CEE_TCP_CLOSE_WAIT,
			   "left for ever in %s", cee_tcp_state_str((enum cee_tcp_state)tt->state));
		FUZZ_CHECK(((tt->oflags & CEE_TCB_O_LINK_IDLE) ? o->ctx.cfg.link_idle_timeout_ns
							       : o->ctx.cfg.idle_timeout_ns) == 0,
			   "idle timeout did not end %s",
			   cee_tcp_state_str((enum cee_tcp_state)tt->state));
		FUZZ_CHECK(o->ctx.cfg.keepalive_idle_ns == 0 ||
			       !(tt->oflags & CEE_TCB_O_KEEPALIVE) ||
			       tt->state != CEE_TCP_ESTABLISHED,
			   "keepalive did not end a silent peer's connection");
		cee_tcp_abort(&o->ctx, o->tcb, CEE_REASON_SHUTDOWN, o->now);
	}
	FUZZ_CHECK(o->tcb == NULL && o->destroyed, "abort did not destroy");
	FUZZ_CHECK(o->bufs_live == 0, "%d send buffers not returned", o->bufs_live);
	check_order(o);
	FUZZ_CHECK(o->nevts >= 3, "only %u events", o->nevts);
	return 0;
}
