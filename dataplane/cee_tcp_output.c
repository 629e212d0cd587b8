/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * TCP output: the send buffer, the windows we announce, segments out and
 * the RTT estimator (RFC 9293 3.8, RFC 6298, RFC 7323 2).
 *
 * - The send buffer is a ring of cfg.sndbuf bytes (cfg.sndbuf_max once
 *   grown, tcp_maybe_grow_sb()) holding [snd_una,
 *   snd_una + sb_len): the owner's bytes (app), or the echo (echo services,
 *   which also place out-of-order bytes at their final position). It is
 *   taken when the first byte is queued and given back once empty and acked.
 * - Receive window: echo mode ring size - sb_len, otherwise cfg.rcv_wnd;
 *   the right edge never moves left (rcv_adv; when window scaling would
 *   round it left, the field is rounded up and the < 2^shift excess is
 *   trimmed on arrival: rcv_adv stays, so the excess never accumulates).
 *   The SYN-ACK window is a multiple of 2^rcv_wscale, which makes that rare.
 * - Output happens once at the end of every accept/connect/input/timer/
 *   close/send call: data from snd_nxt in snd_mss pieces within the peer's
 *   window and the congestion window (cee_tcp_cc.c), FIN after the last
 *   byte when queued, else a pure ACK if owed. After a go-back-N rewind the
 *   congestion window (one MSS after an RTO) paces the resent bytes. Fast
 *   retransmit and partial ACKs resend the segment at SND.UNA alone
 *   (tcp_retransmit_at; SACK recovery: cee_tcp_sack.c).
 * - RTT (RFC 6298): one sample at a time (started here, taken on the ACK in
 *   cee_tcp_input.c), none from retransmitted sequence space (Karn).
 * - bytes_out counts every payload byte once, at its first transmission.
 */
#include <stdlib.h>
#include <string.h>

#include "cee_tcp_priv.h"

void tcp_emit(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, const struct cee_tcp_out *out)
{
	tcb->aflags &= (uint8_t)~CEE_TCB_A_OWED; /* every segment carries the ACK */
	ctx->stats.segs_out++;
	if (out->flags & CEE_TCP_RST)
		ctx->stats.rst_out++;
	ctx->ops->output(ctx->owner, tcb, out);
}

/* Windows ----------------------------------------------------------------------------------- */

/* What the peer was last told it may send beyond RCV.NXT. */
static uint32_t rcv_advertised(const struct cee_tcb *tcb)
{
	return seq_gt(tcb->rcv_adv, tcb->rcv_nxt) ? tcb->rcv_adv - tcb->rcv_nxt : 0;
}

/*
 * RCV.WND, what we announce and accept (RFC 9293 3.8.6.2.2, receiver SWS
 * avoidance): the right edge moves only once it can move by min(RCV.BUFF /
 * 2, Eff.snd.MSS); until then it stays where it was. A peer is never
 * offered a sub-segment window it would not use (Linux waits for its
 * persist timer), and a probe into it is not taken.
 */
__attribute__((always_inline)) inline uint32_t tcp_rcv_window(const struct cee_tcp_ctx *ctx,
								 const struct cee_tcb *tcb)
{
	bool echo = tcp_echo_mode(tcb);
	// RCV.BUFF (the echo ring, or cfg.rcv_wnd for services that consume at
	// once) and the room in it now
	uint32_t buff = echo ? tcp_sb_size(ctx, tcb) : ctx->cfg.rcv_wnd;
	uint32_t space = echo ? buff - tcb->sb_len : buff;
	uint32_t adv = rcv_advertised(tcb);

	if (__builtin_expect(tcb->service == CEE_TCP_SVC_PACED, 0)) {
		// what the owner answers goes into the send buffer: offer only
		// its free room, less what the owner keeps aside (input it holds
		// unanswered: a record whole with the bytes this window lets in
		// is answered at once, all of it)
		buff = tcp_sb_size(ctx, tcb);
		uint32_t keep = ctx->ops->paced_keep != NULL
				    ? ctx->ops->paced_keep(ctx->owner, tcb, buff)
				    : buff / 4;
		// and the band a scaled field may offer past the edge (taken on
		// arrival: cee_tcp_input.c, rcv_window_in())
		keep += tcp_band(ctx, tcb);
		uint64_t used = (uint64_t)tcb->sb_len + keep;
		space = used < buff ? buff - (uint32_t)used : 0;
		// shut, with nothing queued to free room: what there is opens
		// now, even below a segment (the SWS rule would keep it shut for
		// good when the held input alone leaves less than that)
		if (adv == 0 && tcb->sb_len == 0 && space > 0)
			return space;
	}

	if (space <= adv)
		return adv;
	return space - adv >= min_u32(buff / 2, tcb->snd_mss) ? space : adv;
}

/*
 * Window field for a non-SYN segment; moves rcv_adv (RFC 7323 2.3, RFC 9293
 * 3.8.6.2.2).
 */
static uint16_t wnd_field(const struct cee_tcp_ctx *ctx, struct cee_tcb *tcb)
{
	unsigned shift = (tcb->flags & CEE_TCB_F_WSCALE) ? tcb->rcv_wscale : 0;
	uint32_t adv = rcv_advertised(tcb);
	uint64_t f = tcp_rcv_window(ctx, tcb) >> shift;

	// never shrink: round up when rounding down would pull the right edge
	// left, but keep the edge (rcv_adv) where it was: the < 2^shift the
	// field offers beyond it is trimmed on arrival. Moved to the rounded
	// edge, it crept right by up to 2^shift - 1 with every ACK while an
	// echo's ring filled (segments are rarely multiples of 2^shift), past
	// the ring: data accepted inside that window found no room and was
	// dropped without an ACK.
	bool up = (f << shift) < adv;
	if (up)
		f = ((uint64_t)adv + (1u << shift) - 1) >> shift;
	if (f > 65535)
		f = 65535;
	uint32_t right = tcb->rcv_nxt + (uint32_t)(f << shift);
	// what the peer may have been offered past rcv_adv (the band, taken
	// on arrival from app and paced peers: rcv_window_in()) ends with a
	// zero window, or once the edge moves past all of it
	if (up)
		tcb->aflags |= CEE_TCB_A_BAND;
	else if (f == 0)
		tcb->aflags &= (uint8_t)~CEE_TCB_A_BAND;
	if (!up && seq_gt(right, tcb->rcv_adv)) {
		if (seq_geq(right, tcb->rcv_adv + (1u << shift) - 1))
			tcb->aflags &= (uint8_t)~CEE_TCB_A_BAND;
		tcb->rcv_adv = right;
	}
	return (uint16_t)f;
}

/*
 * A window update is owed when the peer was left less than a segment (it
 * may be waiting for its persist timer) and the edge can now move by the
 * SWS step: it goes out at once, even with nothing else to send.
 */
static bool window_update_due(const struct cee_tcp_ctx *ctx, const struct cee_tcb *tcb)
{
	uint32_t adv = rcv_advertised(tcb);

	if (adv >= tcb->snd_mss || (tcb->flags & CEE_TCB_F_FIN_RCVD))
		return false;
	return tcp_rcv_window(ctx, tcb) > adv;
}

/*
 * The window field of our SYN or SYN-ACK: never scaled (RFC 7323 2.2); with
 * @p on_grid a multiple of our scale, so that later scaled windows need not
 * round the right edge.
 */
uint32_t tcp_syn_window(const struct cee_tcp_ctx *ctx, const struct cee_tcb *tcb, bool on_grid)
{
	uint32_t wnd = min_u32(tcp_rcv_window(ctx, tcb), 65535);

	if (on_grid)
		wnd &= ~((1u << tcb->rcv_wscale) - 1);
	return wnd;
}

/* Control segments -------------------------------------------------------------------------- */

/*
 * RFC 2018 4: while out-of-order data is held, every ACK reports it, the
 * block of the most recent arrival first (ooo[] is kept in that order).
 */
static inline void add_sack_blocks(const struct cee_tcp_ctx *ctx, const struct cee_tcb *tcb,
				   struct cee_tcp_out *out)
{
	const struct cee_tcp_xmit *x;
	if (!(tcb->flags & CEE_TCB_F_SACK) || (x = tcp_xmit_if(ctx, tcb)) == NULL || x->ooo_n == 0)
		return;
	unsigned n = min_u32(x->ooo_n, CEE_TCP_SACK_OUT_MAX);
	for (unsigned i = 0; i < n; i++)
		out->sack[i] = (struct cee_tcp_sack){x->ooo[i].seq, x->ooo[i].seq + x->ooo[i].len};
	out->nsack = (uint8_t)n;
}

/*
 * A pure ACK: SEQ = SND.NXT, unless that lies beyond the peer's window (our
 * zero-window probe's byte, which the peer did not take): then the
 * window's right edge, as for an RST (tcp_send_rst(); Linux's
 * tcp_acceptable_seq()). SND.NXT one past a shut window is out of the
 * peer's window, and Linux drops such a segment unread (tcp_sequence()):
 * every ACK and window update of ours went unheard until a probe, backed
 * off up to a minute, and the peer's data waited on its own timeouts.
 */
void tcp_send_ack(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint64_t now_ns)
{
	struct cee_tcp_out out;
	uint32_t seq = tcb->snd_nxt, right = tcb->snd_una + tcb->snd_wnd;

	if (seq_gt(seq, right) && tcb->state != CEE_TCP_SYN_SENT &&
	    tcb->state != CEE_TCP_SYN_RECEIVED)
		seq = right;
	tcp_out_init(&out, seq, tcb->rcv_nxt, CEE_TCP_ACK);
	out.wnd = wnd_field(ctx, tcb);
	tcp_add_ts(ctx, tcb, &out, now_ns);
	add_sack_blocks(ctx, tcb, &out);
	tcp_emit(ctx, tcb, &out);
}

/*
 * An abort's RST (RFC 9293 3.10.5): SEQ = SND.NXT (our highest), unless that
 * lies beyond the peer's window, as after a zero-window probe the peer did
 * not take: then the window's right edge, SND.UNA + SND.WND (SND.UNA with a
 * zero window), which a peer checking RFC 5961 3.2 accepts, not our probe's
 * end, which it would drop (as Linux's tcp_acceptable_seq()).
 */
void tcp_send_rst(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb)
{
	struct cee_tcp_out out;
	uint32_t right = tcb->snd_una + tcb->snd_wnd;
	uint32_t seq = seq_leq(tcb->snd_max, right) ? tcb->snd_max : right;

	tcp_out_init(&out, seq, tcb->rcv_nxt, CEE_TCP_RST | CEE_TCP_ACK);
	tcp_emit(ctx, tcb, &out);
}

/*
 * RFC 9293 3.8.4: a keepalive probe, SEQ = SND.NXT - 1 and no data (the
 * byte it names was acknowledged long ago): out of the peer's window, so a
 * live peer answers with an ACK, and a peer that rebooted with an RST.
 */
void tcp_send_keepalive(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint64_t now_ns)
{
	struct cee_tcp_out out;

	ctx->stats.keepalive_probes++;
	tcp_out_init(&out, tcb->snd_nxt - 1, tcb->rcv_nxt, CEE_TCP_ACK);
	out.wnd = wnd_field(ctx, tcb);
	tcp_add_ts(ctx, tcb, &out, now_ns);
	tcp_emit(ctx, tcb, &out);
}

/*
 * RFC 5961 7: may one more ACK answer a segment that failed a check? One
 * per connection per cfg.oow_ack_interval_ns (the byte tcb->oow_at; its
 * wrap after 17 s can cost one ACK, never add one), and a per-shard budget
 * each second, drawn in [limit, 2 * limit): a blind
 * attacker spraying segments gets at most that many frames back, and
 * cannot count our answers to learn which of its guesses hit (CVE-2016-5696
 * exploited a fixed global count).
 */
bool tcp_oow_ack_ok(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint64_t now_ns)
{
	return tcp_oow_ack_ok_in(ctx, tcb, now_ns, true);
}

bool tcp_oow_ack_ok_in(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint64_t now_ns,
		       bool shard_budget)
{
	// per connection first: one per oow_ack_interval_ns (its slot taken
	// only by an ACK then sent: one the shard's budget refused used it,
	// and the connection's next answer due was held back too)
	uint8_t now8 = 0;
	if (ctx->cfg.oow_ack_interval_ns != 0) {
		now8 = (uint8_t)(now_ns >> 26);
		uint32_t ticks = (uint32_t)(ctx->cfg.oow_ack_interval_ns >> 26);
		if (ticks > 255)
			ticks = 255;
		if (now8 == 0)
			now8 = 1; /* 0 means none yet */
		if (tcb->oow_at != 0 && (uint8_t)(now8 - tcb->oow_at) < ticks) {
			ctx->stats.acks_throttled++;
			return false;
		}
	}
	uint32_t limit = ctx->cfg.challenge_ack_limit;
	if (limit == 0 || !shard_budget) {
		if (now8 != 0)
			tcb->oow_at = now8;
		return true;
	}
	if (now_ns - ctx->ack_budget_at_ns >= 1000000000ull) {
		uint64_t x = ctx->rng ? ctx->rng : 0x9e3779b97f4a7c15ull;
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		ctx->rng = x;
		ctx->ack_budget_at_ns = now_ns;
		ctx->ack_budget = limit + (uint32_t)((x * 2685821657736338717ull >> 32) % limit);
	}
	if (ctx->ack_budget == 0) {
		ctx->stats.acks_throttled++;
		return false;
	}
	ctx->ack_budget--;
	if (now8 != 0)
		tcb->oow_at = now8;
	return true;
}

/* RFC 5961 3.2, 4.2: answer with an ACK at the end of this call (within the budget). */
void tcp_challenge_ack(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint64_t now_ns)
{
	ctx->stats.challenge_acks++; /* the segment that called for it, sent or throttled */
	if (tcp_oow_ack_ok(ctx, tcb, now_ns))
		tcb->flags |= CEE_TCB_F_ACK_NOW;
}

/* Send buffer ------------------------------------------------------------------------------ */

bool tcp_ensure_sb(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb)
{
	if (tcb->sb != NULL)
		return true;
	// a connection that grew asks for a large buffer again, else a plain one
	tcb->sb = tcb->sb_class ? ctx->ops->buf_alloc(ctx->owner, 1) : NULL;
	if (tcb->sb == NULL) {
		tcb->sb_class = 0;
		tcb->sb = ctx->ops->buf_alloc(ctx->owner, 0);
	}
	tcb->sb_head = 0;
	if (tcb->sb == NULL) {
		ctx->stats.no_sndbuf++;
		return false;
	}
	tcb->uflags &= (uint8_t)~CEE_TCB_U_XMIT; /* written when first needed */
	return true;
}

void tcp_free_sb(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb)
{
	if (tcb->sb == NULL)
		return;
	struct cee_tcp_xmit *x = tcp_xmit_if(ctx, tcb);
	if (x != NULL) {
		tcp_zw_stop(ctx, x); /* off the eviction list with its buffer */
		tcp_free_rb(ctx, x);
	}
	ctx->ops->buf_free(ctx->owner, tcb->sb, tcb->sb_class);
	tcb->sb = NULL;
	tcb->sb_head = 0;
	tcb->uflags &= (uint8_t)~(CEE_TCB_U_XMIT | CEE_TCB_U_NOGROW);
}

void tcp_free_rb(struct cee_tcp_ctx *ctx, struct cee_tcp_xmit *x)
{
	if (x->rb == NULL)
		return;
	ctx->ops->buf_free(ctx->owner, x->rb, 0);
	x->rb = NULL;
}

/* Copy @p len bytes to offset @p off from the head (wrapping). */
void tcp_sb_write(const struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint32_t off,
		  const uint8_t *data, uint32_t len)
{
	tcp_ring_put(tcp_ring(tcb), tcp_sb_size(ctx, tcb), tcp_sb_pos(ctx, tcb, off), data, len);
}

/*
 * Echo: did the peer deliver at least a quarter of the ring in the last
 * smoothed RTT? (Dynamic right-sizing, as Linux's receive-buffer tuning
 * measures it.) An echo shares its ring between the bytes in flight each
 * way, so a busy peer on a long path gets about half the ring per RTT
 * however fast it could go; the ring never looks full, because the peer's
 * data carries the ACK of our echo and frees room before it lands (seen
 * with real Linux clients at 40 ms: 3 Mbit/s).
 */
static bool echo_rate_high(const struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint64_t now_ns)
{
	struct cee_tcp_xmit *x = tcp_xmit(ctx, tcb);
	uint32_t now = (uint32_t)(now_ns >> 20) | 1;

	if (x->drs_ts == 0 || seq_lt(tcb->rcv_nxt, x->drs_seq)) {
		// the first count runs from the open: a peer that fills the ring in its
		// first round trips grows it at once, before a loss can pin cwnd low
		x->drs_ts = (uint32_t)(tcb->open_ns >> 20) | 1;
		x->drs_seq = tcb->rcv_nxt - (uint32_t)tcb->bytes_in;
	}
	uint64_t elapsed = (uint64_t)(now - x->drs_ts) << 20, srtt = (uint64_t)tcb->srtt_us * 1000;
	// The peer's flights land once per RTT. A count is judged at every
	// segment as if it had lasted at least one RTT, so a quarter of the ring
	// within one flight is enough, however early (judging only from half an
	// RTT on left a flight that closed the previous count with its first
	// segment to the next flight, and the ring grew an RTT late; waiting for
	// a whole RTT on a 1 ms clock made the first flight count as a hair less
	// than one, and the ring grew only after the third: 2 RTTs lost at 40 ms).
	uint64_t got = tcb->rcv_nxt - x->drs_seq;
	if (got * srtt >= (uint64_t)(ctx->cfg.sndbuf / 4) * max_u64(elapsed, srtt))
		return true; /* a quarter of the ring per RTT */
	if (elapsed >= srtt) { // a new count
		x->drs_ts = now;
		x->drs_seq = tcb->rcv_nxt;
	}
	return false;
}

/*
 * Growth towards the path's bandwidth-delay product. A ring of S bytes
 * caps an echo at about S / (2 RTT), a sender at S / RTT: 32 KiB is
 * 3 Mbit/s at 40 ms. So on a path of at least cfg.grow_rtt_us, a buffer
 * that limits its connection (an echo peer delivering a quarter of the ring
 * per RTT, or a sender's ring 3/4 full), towards a peer that reads (its
 * window holds two segments: a peer that does not read closes it and never
 * pins a large buffer), moves into one of cfg.sndbuf_max bytes: the ring
 * (out-of-order bytes included) is copied to the start of the new one, the
 * loss-recovery state after it. Large buffers are a per-shard budget (the
 * owner's class-1 pool); none free: counted, tried again with the next
 * buffer. The class stays with the connection: its next buffer is a large
 * one while any is free.
 */
void tcp_maybe_grow_sb(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint64_t now_ns)
{
	uint32_t size = ctx->cfg.sndbuf;

	if (tcb->sb == NULL || tcb->sb_class != 0 || ctx->cfg.sndbuf_max <= size ||
	    tcb->srtt_us < ctx->cfg.grow_rtt_us || tcb->snd_wnd < 2u * tcb->snd_mss ||
	    (tcb->uflags & CEE_TCB_U_NOGROW))
		return;
	if (tcb->sb_len < size / 4 * 3 && !(tcp_echo_mode(tcb) && echo_rate_high(ctx, tcb, now_ns)))
		return;
	uint8_t *big = ctx->ops->buf_alloc(ctx->owner, 1);
	if (big == NULL) {
		ctx->stats.sndbuf_grow_refused++;
		tcb->uflags |= CEE_TCB_U_NOGROW;
		return;
	}
	uint32_t first = size - tcb->sb_head;
	memcpy(big, tcb->sb + tcb->sb_head, first);
	memcpy(big + first, tcb->sb, size - first);
	if (tcb->uflags & CEE_TCB_U_XMIT)
		memcpy(big + cee_tcp_xmit_off(&ctx->cfg, 1), tcb->sb + cee_tcp_xmit_off(&ctx->cfg, 0),
		       sizeof(struct cee_tcp_xmit));
	ctx->ops->buf_free(ctx->owner, tcb->sb, 0);
	tcb->sb = big;
	tcb->sb_head = 0;
	tcb->sb_class = 1;
	ctx->stats.sndbuf_grown++;
}

/* The buffer goes back to the pool once empty and fully acked (and holds no out-of-order bytes). */
static void maybe_free_sb(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb)
{
	if (tcb->sb != NULL && tcb->sb_len == 0 && tcp_ooo_n(ctx, tcb) == 0)
		tcp_free_sb(ctx, tcb);
}

/* Bytes queued but not yet (re)sent from snd_nxt. */
uint32_t tcp_unsent_bytes(const struct cee_tcb *tcb)
{
	uint32_t off = tcb->snd_nxt - tcb->snd_una;

	if (tcb->state == CEE_TCP_SYN_RECEIVED || tcb->state == CEE_TCP_SYN_SENT ||
	    off >= tcb->sb_len)
		return 0;
	return tcb->sb_len - off;
}

/* Segments out ----------------------------------------------------------------------------- */

/* SYN-SENT: our SYN; SYN-RECEIVED: our SYN-ACK; (re)sent when snd_nxt is back at ISS. */
static void output_syn(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint64_t now_ns)
{
	if (tcb->snd_nxt == tcb->iss) {
		struct cee_tcp_out out;
		bool rexmit = tcb->snd_max != tcb->iss;

		if (tcb->state == CEE_TCP_SYN_SENT) {
			// RFC 9293 3.10.4 OPEN: <SEQ=ISS><CTL=SYN>; we always offer window
			// scaling (RFC 7323 2.2); rcv_nxt is unknown yet
			tcp_out_init(&out, tcb->iss, 0, CEE_TCP_SYN);
			out.wscale = tcb->rcv_wscale;
			out.wnd = (uint16_t)tcp_syn_window(ctx, tcb, true);
			if (ctx->cfg.timestamps) { // RFC 7323 3.2: offered, TSecr 0
				out.ts = true;
				out.tsval = tcp_ts_now(ctx, tcb, now_ns);
				out.tsecr = 0;
			}
		} else {
			// RFC 9293 3.10.7.2: <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>; scale
			// option only when the peer's SYN had one (RFC 7323 1.3)
			bool scaled = tcb->flags & CEE_TCB_F_WSCALE;
			tcp_out_init(&out, tcb->iss, tcb->rcv_nxt, CEE_TCP_SYN | CEE_TCP_ACK);
			out.wscale = scaled ? tcb->rcv_wscale : 0xff;
			out.wnd = (uint16_t)tcp_syn_window(ctx, tcb, scaled);
			if (seq_gt(tcb->rcv_nxt + out.wnd, tcb->rcv_adv))
				tcb->rcv_adv = tcb->rcv_nxt + out.wnd;
			tcp_add_ts(ctx, tcb, &out, now_ns); /* only if the SYN offered them */
		}
		out.mss = ctx->cfg.mss; // RFC 9293 3.7.1
		// RFC 2018 2: offered in a SYN; in a SYN-ACK only to a SYN that offered it
		out.sack_ok = tcb->state == CEE_TCP_SYN_SENT ? ctx->cfg.sack
							      : (tcb->flags & CEE_TCB_F_SACK) != 0;
		if (rexmit) {
			ctx->stats.retransmits++;
			tcb->retransmits++;
		} else {
			tcp_rtt_start(tcb, tcb->iss, now_ns);
		}
		tcb->snd_nxt = tcb->snd_max = tcb->iss + 1;
		tcp_emit(ctx, tcb, &out);
	} else if (tcb->flags & CEE_TCB_F_ACK_NOW) {
		tcp_send_ack(ctx, tcb, now_ns);
	}
	tcb->flags &= (uint8_t)~CEE_TCB_F_ACK_NOW;
	tcp_arm_rto(ctx, tcb, now_ns);
}

/* After our first FIN went out: RFC 9293 3.10.4 CLOSE, FIN-WAIT-1 or LAST-ACK. */
static void fin_sent(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint64_t now_ns)
{
	tcb->flags |= CEE_TCB_F_FIN_SENT;
	switch ((enum cee_tcp_state)tcb->state) {
	case CEE_TCP_ESTABLISHED:
		tcp_set_state(ctx, tcb, CEE_TCP_FIN_WAIT_1, now_ns);
		break;
	case CEE_TCP_CLOSE_WAIT:
		tcp_set_state(ctx, tcb, CEE_TCP_LAST_ACK, now_ns);
		break;
	case CEE_TCP_CLOSED:
	case CEE_TCP_SYN_SENT:
	case CEE_TCP_SYN_RECEIVED:
	case CEE_TCP_FIN_WAIT_1:
	case CEE_TCP_FIN_WAIT_2:
	case CEE_TCP_CLOSING:
	case CEE_TCP_LAST_ACK:
	case CEE_TCP_TIME_WAIT:
	case CEE_TCP_STATE__COUNT:
		abort(); /* a first FIN leaves only from the two above */
	}
}

/*
 * Payload a segment may carry: the MSS less the options it carries (RFC
 * 6691: timestamps, SACK blocks), so that the frame fits the MTU the MSS was
 * derived from. (Found with real Linux clients: 1460 bytes + timestamps made
 * 1526-byte frames that the 1500-byte hop dropped.)
 */
static uint32_t seg_payload_max(const struct cee_tcp_ctx *ctx, const struct cee_tcb *tcb)
{
	uint32_t opt = (tcb->uflags & CEE_TCB_U_TS) ? 12 : 0;
	unsigned ooo = (tcb->flags & CEE_TCB_F_SACK) ? tcp_ooo_n(ctx, tcb) : 0;

	if (ooo)
		opt += 4 + 8 * min_u32(ooo, CEE_TCP_SACK_OUT_MAX);
	return tcb->snd_mss > opt ? tcb->snd_mss - opt : 1;
}

/*
 * Send the segment at snd_nxt: up to @p max payload bytes of what is queued,
 * with FIN when it ends the queue and a FIN is queued. @p probe: a zero-window
 * probe (not activity, not a retransmission). @return false when there was
 * nothing to send.
 */
static bool send_segment(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint64_t now_ns,
			 uint32_t max, bool probe)
{
	uint32_t off = tcb->snd_nxt - tcb->snd_una;
	if (tcp_fin_acked(tcb) || off > tcb->sb_len)
		return false; /* everything acked, or the FIN was sent from here */
	uint32_t unsent = tcb->sb_len - off;
	uint32_t n = min_u32(min_u32(unsent, max), seg_payload_max(ctx, tcb));
	// a FIN needs no window (the peer takes it at RCV.NXT even when full)
	bool fin = (tcb->flags & CEE_TCB_F_FIN_QUEUED) && n == unsent;
	if (n == 0 && !fin)
		return false;

	struct cee_tcp_out out;
	uint32_t seq = tcb->snd_nxt;
	bool rexmit = seq_lt(seq, tcb->snd_max);
	uint8_t flags = CEE_TCP_ACK;
	if (fin)
		flags |= CEE_TCP_FIN;
	if (n > 0 && n == unsent)
		flags |= CEE_TCP_PSH;
	tcp_out_init(&out, seq, tcb->rcv_nxt, flags);
	out.wnd = wnd_field(ctx, tcb);
	tcp_add_ts(ctx, tcb, &out, now_ns);
	add_sack_blocks(ctx, tcb, &out);
	if (n > 0) {
		uint32_t size = tcp_sb_size(ctx, tcb);
		uint32_t pos = tcp_sb_pos(ctx, tcb, off);
		uint32_t first = min_u32(n, size - pos);
		out.data[0] = tcp_ring(tcb) + pos;
		out.len[0] = first;
		if (n > first) {
			out.data[1] = tcp_ring(tcb);
			out.len[1] = n - first;
		}
	}

	// accounting: bytes_out counts each payload byte once, at its first transmission
	uint32_t end = seq + n;
	if (seq_gt(end, tcb->snd_max)) {
		uint32_t from = seq_gt(tcb->snd_max, seq) ? tcb->snd_max : seq;
		tcb->bytes_out += end - from;
		if (!probe) {
			tcb->last_activity_ns = now_ns;
			tcb->snd_ts = (uint32_t)(now_ns >> 20);
		}
	}
	if (fin && !(tcb->flags & CEE_TCB_F_FIN_SENT))
		tcb->last_activity_ns = now_ns;
	if (probe) {
		ctx->stats.zero_window_probes++;
	} else if (rexmit) {
		ctx->stats.retransmits++;
		tcb->retransmits++;
		// Karn (RFC 6298 3): a sample running on these bytes would time
		// the copy; one on bytes above them would time the repair of
		// this hole too (the cumulative ACK that covers them waits for
		// it: a 50 ms path sampled 100 ms). As Linux, whose ACK of
		// resent data takes no sequence sample. (The timestamps'
		// echo still measures: tcp_rtt_cancel() leaves that to it.)
		if ((tcb->flags & CEE_TCB_F_RTT) && seq_leq(seq, tcb->rtt_seq))
			tcp_rtt_cancel(tcb);
	}
	if (!rexmit && !probe && !(tcb->flags & CEE_TCB_F_RTT))
		tcp_rtt_start(tcb, seq, now_ns); // Karn: only first transmissions are timed

	tcb->snd_nxt = end + (fin ? 1 : 0);
	if (seq_gt(tcb->snd_nxt, tcb->snd_max))
		tcb->snd_max = tcb->snd_nxt;
	tcp_emit(ctx, tcb, &out);

	if (fin && !(tcb->flags & CEE_TCB_F_FIN_SENT))
		fin_sent(ctx, tcb, now_ns);
	return true;
}

uint32_t tcp_retransmit_at(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint32_t seq,
			   uint32_t max, uint64_t now_ns)
{
	uint32_t nxt = tcb->snd_nxt, sent = 0;

	// a retransmission carries what was sent, never new bytes (it checks no
	// window: it may go where the window was)
	if (seq_lt(seq, tcb->snd_max) && max > tcb->snd_max - seq)
		max = tcb->snd_max - seq;
	tcb->snd_nxt = seq;
	if (send_segment(ctx, tcb, now_ns, max, false))
		sent = tcb->snd_nxt - seq;
	if (seq_gt(nxt, tcb->snd_nxt))
		tcb->snd_nxt = nxt;
	return sent;
}

bool tcp_send_new(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint64_t now_ns, uint32_t max)
{
	return send_segment(ctx, tcb, now_ns, max, false);
}

/*
 * Sender SWS avoidance (RFC 9293 3.8.6.2.1): data whose next segment the
 * usable window @p usable (peer's window and cwnd) would cut short of a
 * full one (or of all that is queued) waits, unless that window is at least
 * half the largest the peer ever offered (a peer with a small buffer: rule
 * 3). Waiting with data in flight, an ACK opens it; with nothing in flight,
 * the persist timer's override sends what fits (tcp_arm_rto()). Without it
 * a flight ended in a runt segment whenever cwnd was no multiple of the
 * segment size, and a peer that freed a few bytes drew a segment of them.
 */
static bool tcp_sws_holds(const struct cee_tcp_ctx *ctx, const struct cee_tcb *tcb,
			  uint32_t usable)
{
	uint32_t unsent = tcp_unsent_bytes(tcb);
	if (unsent == 0 || usable >= min_u32(unsent, seg_payload_max(ctx, tcb)))
		return false; /* a FIN alone, or a segment the window does not cut */
	return usable > 0 && usable < tcb->max_snd_wnd / 2; /* none: a closed window, not SWS */
}

/*
 * The peer's window is shut on our data: it cannot take the next full
 * segment (or the rest of what is queued, in flight or not) and is under
 * half the largest it ever offered (SWS rule 3: a small buffer's whole
 * window is not shut), or it is 0. The persist clock runs while this holds
 * (--persist-timeout): a peer that keeps a few bytes of window open without
 * taking our data (Linux never shrinks an offered window, and under memory
 * pressure drops what it offered) holds our buffer as surely as a zero
 * window, and must not start the clock over with each sliver it offers.
 */
bool tcp_wnd_shut(const struct cee_tcp_ctx *ctx, const struct cee_tcb *tcb)
{
	if (tcb->sb_len == 0 || tcb->state == CEE_TCP_SYN_RECEIVED || tcb->state == CEE_TCP_SYN_SENT)
		return false;
	if (tcb->snd_wnd == 0)
		return true;
	// a segment's worth (the payload is at most the MSS), or half the most offered
	if (tcb->snd_wnd >= tcb->snd_mss || tcb->snd_wnd >= tcb->max_snd_wnd / 2)
		return false;
	return tcb->snd_wnd < min_u32(tcb->sb_len, seg_payload_max(ctx, tcb));
}

/*
 * The persist clock's test: tcp_wnd_shut(), or a window whose largest was
 * under two segments and that cannot take the next full one (or the rest
 * queued) now. SWS rule 3 does not call a small buffer's whole window shut
 * (its resends and duplicate ACKs are a loss's), but such a window holds
 * our buffer all the same when its peer takes nothing.
 */
bool tcp_wnd_short(const struct cee_tcp_ctx *ctx, const struct cee_tcb *tcb)
{
	if (tcp_wnd_shut(ctx, tcb))
		return true;
	if (tcb->sb_len == 0 || tcb->state == CEE_TCP_SYN_RECEIVED || tcb->state == CEE_TCP_SYN_SENT)
		return false;
	return tcb->snd_wnd < min_u32(tcb->sb_len, seg_payload_max(ctx, tcb));
}

/* Nothing in flight, data queued, and sender SWS avoidance holds it: the override timer runs. */
bool tcp_sws_stalled(const struct cee_tcp_ctx *ctx, const struct cee_tcb *tcb)
{
	return tcb->snd_wnd > 0 && tcb->snd_una == tcb->snd_max &&
	       tcp_sws_holds(ctx, tcb, min_u32(tcb->snd_wnd, tcb->cwnd));
}

/*
 * Send what the windows allow: data from snd_nxt in snd_mss pieces within
 * min(peer's window, cwnd) (RFC 5681 2: at most cwnd bytes beyond SND.UNA),
 * FIN after the last byte when queued, else a pure ACK if one is owed.
 * @p probe: one segment of one byte past a zero window.
 */
static void output(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint64_t now_ns, bool probe)
{
	switch ((enum cee_tcp_state)tcb->state) {
	case CEE_TCP_CLOSED:
	case CEE_TCP_STATE__COUNT:
		return;
	case CEE_TCP_SYN_SENT:
	case CEE_TCP_SYN_RECEIVED:
		output_syn(ctx, tcb, now_ns);
		return;
	case CEE_TCP_ESTABLISHED:
	case CEE_TCP_FIN_WAIT_1:
	case CEE_TCP_FIN_WAIT_2:
	case CEE_TCP_CLOSE_WAIT:
	case CEE_TCP_CLOSING:
	case CEE_TCP_LAST_ACK:
	case CEE_TCP_TIME_WAIT:
		break;
	}

	unsigned nsent = 0;
	if (probe && tcb->snd_wnd > 0) {
		// RFC 9293 3.8.6.2.1 (4): the override timeout of data held back by
		// sender SWS avoidance, nothing in flight: what the window takes; or
		// a retransmission timeout's resend into a shut window (a sliver)
		if (tcb->snd_una == tcb->snd_max)
			ctx->stats.sws_overrides++;
		nsent = send_segment(ctx, tcb, now_ns, min_u32(tcb->snd_wnd, tcb->cwnd), false);
	} else if (probe) {
		// RFC 9293 3.8.6.1: one byte past the zero window
		nsent = send_segment(ctx, tcb, now_ns, 1, true);
	} else if ((tcb->uflags & CEE_TCB_U_XMIT) &&
		   tcp_xmit(ctx, tcb)->in_recovery == CEE_TCP_REC_SACK) {
		uint64_t before = ctx->stats.segs_out;
		tcp_sack_output(ctx, tcb, tcp_xmit(ctx, tcb), now_ns);
		nsent = (unsigned)(ctx->stats.segs_out - before);
	} else {
		if (tcp_unsent_bytes(tcb) > 0)
			tcp_cc_before_send(ctx, tcb, now_ns);
		// RFC 3042 limited transmit: on the first and second duplicate
		// ACK, one new segment each past cwnd (cwnd itself unchanged), so
		// that a small window still draws the ACKs (and SACK blocks) that
		// show its loss; without it a window of 3 or 4 segments with one
		// lost waited for the tail-loss probe or the RTO
		uint32_t lt = 0;
		if (__builtin_expect((tcb->uflags & CEE_TCB_U_XMIT) != 0, 0)) {
			const struct cee_tcp_xmit *x = tcp_xmit_if(ctx, tcb);
			if (!x->in_recovery && (x->dupacks == 1 || x->dupacks == 2) &&
			    tcb->snd_nxt == tcb->snd_max)
				lt = x->dupacks * (uint32_t)tcb->snd_mss;
		}
		uint32_t wnd = min_u32(tcb->snd_wnd, tcb->cwnd > UINT32_MAX - lt ? UINT32_MAX
										 : tcb->cwnd + lt);
		// nothing queued past SND.NXT and no FIN to send: no segment (the common
		// case of an ACK or of the call after the last segment went)
		while (tcp_unsent_bytes(tcb) > 0 ||
		       (tcb->flags & (CEE_TCB_F_FIN_QUEUED | CEE_TCB_F_FIN_SENT)) == CEE_TCB_F_FIN_QUEUED ||
		       seq_lt(tcb->snd_nxt, tcb->snd_max)) {
			// go-back-N resends no SACKed bytes (RFC 6675 5.1); the window
			// still counts them in flight until the cumulative ACK passes
			uint32_t gap = seq_lt(tcb->snd_nxt, tcb->snd_max) ? tcp_sack_skip(ctx, tcb)
									 : UINT32_MAX;
			uint32_t right = tcb->snd_una + wnd;
			uint32_t usable = seq_lt(tcb->snd_nxt, right) ? right - tcb->snd_nxt : 0;
			// a hole below SACKed data, shorter than a segment, is a
			// resend, not a runt the window cut: no SWS hold (it waited
			// for a tail-loss probe or a second RTO)
			bool hole = gap < usable;
			usable = min_u32(usable, gap);
			if (!hole && tcp_sws_holds(ctx, tcb, usable)) {
				ctx->stats.sws_held++;
				break;
			}
			if (!send_segment(ctx, tcb, now_ns, usable, false))
				break;
			nsent++;
		}
	}
	if (nsent == 0 && ((tcb->flags & CEE_TCB_F_ACK_NOW) || window_update_due(ctx, tcb))) {
		if (!(tcb->flags & CEE_TCB_F_ACK_NOW))
			ctx->stats.window_updates++;
		tcp_send_ack(ctx, tcb, now_ns);
	} else if ((tcb->aflags & (CEE_TCB_A_OWED | CEE_TCB_A_QUEUED)) == CEE_TCB_A_OWED) {
		// a delayed ACK nothing carried: it waits for the burst's end
		if (ctx->ackq_n < CEE_TCP_ACKQ_MAX) {
			ctx->ackq[ctx->ackq_n++] = tcb;
			tcb->aflags |= CEE_TCB_A_QUEUED;
		} else {
			tcp_send_ack(ctx, tcb, now_ns);
		}
	}
	tcb->flags &= (uint8_t)~CEE_TCB_F_ACK_NOW;
	tcp_arm_rto(ctx, tcb, now_ns);
}

void tcp_finish(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint64_t now_ns, bool probe)
{
	output(ctx, tcb, now_ns, probe);
	maybe_free_sb(ctx, tcb);
	tcp_update_timer(ctx, tcb);
}
