/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * TCP segment arrival (RFC 9293 3.10.7) for a connection that exists.
 *
 * SYN-SENT has its own function (3.10.7.3). A synchronised connection runs
 * the RFC's checks in the RFC's order, one function per step; each returns
 * STEP_NEXT (go on), STEP_DONE (stop here; the caller still sends what is
 * owed) or STEP_GONE (the tcb was destroyed: touch nothing).
 *
 * - RFC 5961: RST exactly at RCV.NXT resets, elsewhere in the window gets a
 *   challenge ACK, outside is dropped (bad_rst); this applies in
 *   SYN-RECEIVED and TIME-WAIT too. Any SYN on a synchronised connection
 *   (also TIME-WAIT: no reuse) gets a challenge ACK (bad_syn), except a
 *   duplicate of the original SYN in SYN-RECEIVED, which resends SYN-ACK.
 *   ACK validation (5.2): SND.UNA - MAX.SND.WND =< SEG.ACK =< SND.MAX, with
 *   MAX.SND.WND the largest window the peer actually advertised
 *   (tcb->max_snd_wnd), not the most it could (65535 << scale: that let
 *   data carrying an ACK a megabyte stale through). Challenge ACKs and the
 *   ACKs to out-of-window segments and unacceptable ACKs come from a
 *   per-shard budget (RFC 5961 7, tcp_oow_ack_ok()).
 * - Data on a SYN is ignored (not acked; the peer sends it again after the
 *   handshake). A FIN in an out-of-order segment whose data is held whole
 *   is held with it (ooo_fin) and taken when the hole fills: forgotten, the
 *   close waited for the peer to send the FIN again (a cee link client, its
 *   flight one segment, sends no tail-loss probe: a whole RTO). A bare
 *   out-of-order FIN is forgotten (the peer retransmits it). A FIN needs no
 *   window: a FIN at RCV.NXT is accepted even when the window is 0.
 * - Services: echo, echo-close, discard and app all close (FIN) after the
 *   peer's FIN; echo first drains what it queued. Once our FIN is queued
 *   (local close or peer FIN) echo stops echoing: further in-order bytes are
 *   acked, counted in bytes_in and dropped, as in discard ("echo mode" =
 *   echo/echo-close && !FIN_QUEUED), until our FIN is out: new data in
 *   FIN-WAIT-1/2 after a close of ours resets the connection (RFC 1122
 *   4.2.2.13; every close of ours is a full one), abort_on_data, except
 *   while the owner's layer awaits the peer's answer to its close
 *   (CEE_TCB_O_READS_ON: close_notify, a WebSocket Close). Echo-close
 *   closes (local_close) right after the first in-order bytes it takes:
 *   they are echoed, then our FIN.
 *   App hands in-order bytes to ops->recv (counted in bytes_in and acked
 *   first) and drops out-of-order ones (ooo_dropped: recv never sees a gap).
 * - Out-of-order data: up to cfg.ooo_max_segs ranges; echo writes the bytes
 *   straight into the send buffer at their final position (tail + seq -
 *   rcv_nxt), so reassembly needs no memory of its own; discard keeps only
 *   the ranges.
 */
#include <stdlib.h>

#include "cee_tcp_priv.h"

enum step {
	STEP_NEXT, /**< go on with the next check */
	STEP_DONE, /**< stop processing the segment (output still runs) */
	STEP_GONE, /**< the tcb was destroyed */
};

/* What is left of the segment as the checks trim it. */
struct seg_view {
	uint32_t seq;
	const uint8_t *data;
	uint32_t len;
	bool fin;
	uint32_t wnd; /**< RCV.WND when the segment arrived */
};

/* RFC 6298 2.2-2.5: a measurement of @p r microseconds: SRTT, RTTVAR, RTO. */
static void rtt_update(const struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint64_t r)
{
	if (r == 0)
		r = 1;
	if (r > UINT32_MAX / 8)
		r = UINT32_MAX / 8;
	if (tcb->srtt_us == 0) {
		// RFC 6298 2.2: first measurement
		tcb->srtt_us = (uint32_t)r;
		tcb->rttvar_us = (uint32_t)(r / 2);
	} else {
		// RFC 6298 2.3: beta = 1/4, alpha = 1/8
		uint64_t delta = tcb->srtt_us > r ? tcb->srtt_us - r : r - tcb->srtt_us;
		tcb->rttvar_us = (uint32_t)((3 * (uint64_t)tcb->rttvar_us + delta) / 4);
		tcb->srtt_us = (uint32_t)((7 * (uint64_t)tcb->srtt_us + r) / 8);
	}
	// RFC 6298 2.4/2.5: RTO = SRTT + max(G, 4 * RTTVAR), G = 1 us, clamped
	uint64_t var = 4 * (uint64_t)tcb->rttvar_us;
	uint64_t rto = ((uint64_t)tcb->srtt_us + (var ? var : 1)) * 1000;
	if (rto < ctx->cfg.rto_min_ns)
		rto = ctx->cfg.rto_min_ns;
	if (rto > ctx->cfg.rto_max_ns)
		rto = ctx->cfg.rto_max_ns;
	tcb->rto_us = (uint32_t)(rto / 1000);
}

/*
 * An ACK that advances SND.UNA: the timed segment's sample (microseconds,
 * Karn) when it is covered; else, after Karn dropped one, the echo of our
 * TSval (RFC 7323 4: the echo names the transmission that was acked, so a
 * retransmission measures too; about 1 ms resolution).
 */
static void rtt_sample(const struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint32_t ack,
		       const struct cee_tcp_seg *seg, uint64_t now_ns)
{
	if (tcb->flags & CEE_TCB_F_RTT) {
		if (!seq_gt(ack, tcb->rtt_seq))
			return;
		tcb->flags &= (uint8_t)~CEE_TCB_F_RTT;
		rtt_update(ctx, tcb, (uint32_t)((uint32_t)(now_ns / 1000) - tcb->rtt_ts_us));
		return;
	}
	if (!(tcb->uflags & CEE_TCB_U_KARN) || !(tcb->uflags & CEE_TCB_U_TS) || seg == NULL ||
	    !seg->ts_ok || seg->tsecr == 0)
		return;
	uint32_t ticks = tcp_ts_now(ctx, tcb, now_ns) - seg->tsecr;
	if (ticks > (60u << 10))
		return; /* not an echo of ours (more than a minute) */
	tcb->uflags &= (uint8_t)~CEE_TCB_U_KARN;
	rtt_update(ctx, tcb, ((uint64_t)ticks << 20) / 1000);
}

/* New data acked: move snd_una, free acked bytes, take an RTT sample (RFC 9293 3.10.7.4 fifth). */
static void ack_advance(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint32_t ack,
			const struct cee_tcp_seg *seg, uint64_t now_ns)
{
	uint32_t acked = ack - tcb->snd_una;
	if ((tcb->flags & CEE_TCB_F_FIN_SENT) && ack == tcb->snd_max)
		acked--; /* the FIN's sequence number */
	acked = min_u32(acked, tcb->sb_len);
	if (acked > 0) {
		tcb->sb_head = tcp_sb_pos(ctx, tcb, acked);
		tcb->sb_len -= acked;
		if (__builtin_expect(tcb->oflags & CEE_TCB_O_WANT_WRITE, 0))
			tcb->aflags |= CEE_TCB_A_WRITABLE; // (ops->writable in finish_leave())
	}
	tcb->snd_una = ack;
	if (seq_lt(tcb->snd_nxt, ack))
		tcb->snd_nxt = ack;
	rtt_sample(ctx, tcb, ack, seg, now_ns);
	tcb->retries = 0;
	tcb->rto_at_ns = 0; // RFC 6298 5.3: restarted by arm_rto when data is still out
}

/* The peer's SYN moved the handshake to ESTABLISHED: the common part of both roles. */
static void synced(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, const struct cee_tcp_seg *seg,
		   uint32_t wnd, uint64_t now_ns)
{
	ack_advance(ctx, tcb, seg->ack, seg, now_ns); /* RTT sample unless the SYN was resent */
	// RFC 6298 5.7: our SYN or SYN-ACK had to be sent again and no sample
	// came: data starts with an RTO of 3 s (as Linux's fallback), not the
	// backed-off one nor the initial 1 s that a lost SYN showed too short
	if (tcb->retransmits > 0 && tcb->srtt_us == 0)
		tcb->rto_us = (uint32_t)min_u64(3000000, ctx->cfg.rto_max_ns / 1000);
	tcb->snd_wnd = wnd;
	tcb->max_snd_wnd = wnd;
	tcb->snd_wl1 = seg->seq;
	tcb->snd_wl2 = seg->ack;
	tcb->last_activity_ns = now_ns;
	tcp_cc_init(ctx, tcb);
	tcp_set_state(ctx, tcb, CEE_TCP_ESTABLISHED, now_ns);
}

/* SYN-SENT ---------------------------------------------------------------------------------- */

/*
 * RFC 9293 3.10.7.3. Data and FIN on the SYN are not taken (as in a passive
 * open): the peer sends them again.
 */
bool tcp_input_syn_sent(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb,
			const struct cee_tcp_seg *seg, uint64_t now_ns)
{
	bool ack = seg->flags & CEE_TCP_ACK;

	// first: an ACK outside ISS < SEG.ACK =< SND.NXT: <SEQ=SEG.ACK><CTL=RST> unless RST
	if (ack && (seq_leq(seg->ack, tcb->iss) || seq_gt(seg->ack, tcb->snd_max))) {
		ctx->stats.bad_ack++;
		if (!(seg->flags & CEE_TCP_RST)) {
			struct cee_tcp_out out;
			tcp_out_init(&out, seg->ack, 0, CEE_TCP_RST);
			tcp_emit(ctx, tcb, &out);
		}
		return false;
	}
	// second: RST counts only with an acceptable ACK (it then names our SYN)
	if (seg->flags & CEE_TCP_RST) {
		if (!ack) {
			ctx->stats.bad_rst++;
			return false;
		}
		tcp_set_reason(tcb, CEE_REASON_PEER_RST);
		tcp_set_state(ctx, tcb, CEE_TCP_CLOSED, now_ns);
		return true;
	}
	// fourth (third, security, does not apply): SYN; neither SYN nor RST: drop
	if (!(seg->flags & CEE_TCP_SYN))
		return false;
	tcb->rcv_nxt = seg->seq + 1;
	tcb->rcv_adv = tcb->rcv_nxt; /* no edge yet: rcv_window() is the plain space */
	tcb->rcv_adv += tcp_syn_window(ctx, tcb, true); /* the edge our SYN announced */
	tcp_take_syn_options(ctx, tcb, seg);
	tcb->snd_wnd = seg->wnd; // RFC 7323 2.2: the window in a SYN is never scaled
	tcb->snd_wl1 = seg->seq;

	if (ack) {
		// our SYN is acked: ESTABLISHED, <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>
		tcb->flags |= CEE_TCB_F_ACK_NOW;
		synced(ctx, tcb, seg, seg->wnd, now_ns);
		return false;
	}
	// simultaneous open: SYN-RECEIVED, <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK> through the
	// passive-open path; the SYN-ACK is a first transmission (a fresh RTT sample and RTO)
	tcb->snd_wl2 = tcb->iss;
	tcb->snd_nxt = tcb->snd_max = tcb->iss;
	tcb->flags &= (uint8_t)~CEE_TCB_F_RTT;
	tcb->uflags &= (uint8_t)~CEE_TCB_U_KARN;
	tcb->rto_at_ns = 0;
	tcp_set_state(ctx, tcb, CEE_TCP_SYN_RECEIVED, now_ns);
	return false;
}

/* Synchronised states: the checks in order ----------------------------------------------- */

/* RFC 5961 3.2 (replaces RFC 9293 3.10.7.4 second): RST. */
static enum step check_rst(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb,
			   const struct seg_view *v, uint64_t now_ns)
{
	// or, after the peer's FIN, at the FIN's own number: a client that
	// aborts with SO_LINGER 0 after its FIN (macOS, iOS) sends that one;
	// dropped (out of the window), the slot lingered until our next
	// retransmission drew an RST at RCV.NXT (Linux's tcp_reset_check())
	bool after_fin = v->seq == tcb->rcv_nxt - 1 && (tcb->flags & CEE_TCB_F_FIN_RCVD) &&
			 (tcb->state == CEE_TCP_CLOSE_WAIT || tcb->state == CEE_TCP_LAST_ACK ||
			  tcb->state == CEE_TCP_CLOSING);
	if (v->seq == tcb->rcv_nxt || after_fin) {
		tcp_set_reason(tcb, CEE_REASON_PEER_RST);
		tcp_set_state(ctx, tcb, CEE_TCP_CLOSED, now_ns);
		return STEP_GONE;
	}
	if (seq_leq(tcb->rcv_nxt, v->seq) && seq_lt(v->seq, tcb->rcv_nxt + (v->wnd ? v->wnd : 1)))
		tcp_challenge_ack(ctx, tcb, now_ns);
	else
		ctx->stats.bad_rst++;
	return STEP_DONE;
}

/*
 * A SYN in TIME-WAIT may start a new incarnation when it cannot be taken for
 * an old duplicate: its TSval is newer than TS.Recent (RFC 6191 3), or, the
 * timestamp not older (PAWS) or absent, its sequence number is beyond
 * RCV.NXT (RFC 1122 4.2.2.13). The second rule, as in Linux, covers a client
 * that reconnects within one tick of its timestamp clock (seen with real
 * Linux clients: about 1 ms, so an equal TSval is common).
 */
static bool tw_reusable(const struct cee_tcb *tcb, const struct cee_tcp_seg *seg)
{
	bool ts = (tcb->uflags & CEE_TCB_U_TS) && seg->ts_ok;

	if (ts && seq_lt(seg->tsval, tcb->ts_recent))
		return false; /* an old duplicate by its timestamp */
	if (ts && seq_gt(seg->tsval, tcb->ts_recent))
		return true;
	return seq_gt(seg->seq, tcb->rcv_nxt);
}

/* RFC 5961 4.2 (RFC 9293 3.10.7.4 fourth): SYN on a synchronised connection. */
static enum step check_syn(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb,
			   const struct cee_tcp_seg *seg, uint64_t now_ns)
{
	if (tcb->state == CEE_TCP_SYN_RECEIVED && !(seg->flags & CEE_TCP_ACK) &&
	    seg->seq == tcb->rcv_nxt - 1) { /* rcv_nxt - 1 is IRS in SYN-RECEIVED */
		// the peer did not get our SYN-ACK: send it again
		tcb->snd_nxt = tcb->iss;
		tcp_rtt_cancel(tcb);
		return STEP_DONE;
	}
	if (tcb->state == CEE_TCP_SYN_RECEIVED && (tcb->uflags & CEE_TCB_U_ACTIVE) &&
	    seg->seq == tcb->rcv_nxt - 1 && (seg->flags & CEE_TCP_ACK) &&
	    seg->ack == tcb->snd_max) {
		// simultaneous open (RFC 9293 3.5): the peer's SYN-ACK acks our SYN; its
		// SYN is the one we took in SYN-SENT; its window is never scaled
		tcb->flags |= CEE_TCB_F_ACK_NOW;
		synced(ctx, tcb, seg, seg->wnd, now_ns);
		return STEP_DONE;
	}
	if (tcb->state == CEE_TCP_TIME_WAIT && !(seg->flags & CEE_TCP_ACK) &&
	    !(tcb->uflags & CEE_TCB_U_ACTIVE) && tw_reusable(tcb, seg)) {
		// RFC 6191 (timestamps) / RFC 1122 4.2.2.13 (sequence numbers): a new
		// incarnation; this one ends now and the owner opens the next. Not
		// an active open's: no listener holds its port (the owner never
		// takes one), so a SYN there would end its TIME-WAIT for nothing
		// (a blind SYN freed the tuple early); it gets an ACK, as in Linux
		ctx->stats.time_wait_reused++;
		// the new one's sequence numbers start above all of this one's
		// (RFC 1122 4.2.2.13, RFC 9293 3.6.1; Linux: SND.NXT + 65537):
		// the clock-driven ISS moves 244,140 a second, so one that sent
		// 100 MB in the 10 s before gave the next an ISS inside its
		// sequence space, where the old one's duplicates are taken by a
		// peer without timestamps
		ctx->tw_iss = tcb->snd_max + 65537;
		ctx->tw_iss_set = true;
		tcp_set_state(ctx, tcb, CEE_TCP_CLOSED, now_ns);
		return STEP_GONE;
	}
	ctx->stats.bad_syn++;
	tcp_challenge_ack(ctx, tcb, now_ns);
	return STEP_DONE;
}

/*
 * RFC 9293 3.10.7.4 first: sequence number check, then trim to the window.
 * A segment that begins below RCV.NXT and ends past the window (neither its
 * first nor its last byte in it: a retransmission of one we trimmed, our
 * ACK lost) holds the whole window: taken, trimmed at both edges ("only the
 * new parts are processed"; Linux's tcp_sequence() likewise). Dropped, its
 * new bytes were lost to a peer that resends it unchanged.
 */
static bool acceptable(uint32_t seq, uint32_t seg_len, uint32_t rcv_nxt, uint32_t wnd)
{
	if (wnd == 0)
		return seg_len == 0 && seq == rcv_nxt;
	bool first_in = seq_leq(rcv_nxt, seq) && seq_lt(seq, rcv_nxt + wnd);
	if (seg_len == 0)
		return first_in;
	uint32_t last = seq + seg_len - 1;
	// (the overhang in plain lengths: compared modulo 2^32, a segment
	// nearly 2^31 behind "ended past the window"; the fuzzer found it)
	uint32_t behind = rcv_nxt - seq;
	return first_in || (seq_leq(rcv_nxt, last) && seq_lt(last, rcv_nxt + wnd)) ||
	       (seq_lt(seq, rcv_nxt) && seg_len > behind && seg_len - behind > wnd);
}

static enum step check_seq(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, struct seg_view *v,
			   uint64_t now_ns)
{
	if (!acceptable(v->seq, v->len + (v->fin ? 1 : 0), tcb->rcv_nxt, v->wnd)) {
		if (v->wnd == 0 && v->seq == tcb->rcv_nxt) {
			// zero window: "special allowance" for ACKs (and a bare FIN, which
			// needs no room); the text is dropped, and with it a FIN that
			// follows the text; our window goes back to the prober
			if (v->len > 0)
				v->fin = false;
			v->len = 0;
			tcb->flags |= CEE_TCB_F_ACK_NOW;
		} else {
			if (tcb->state == CEE_TCP_TIME_WAIT && v->fin &&
			    v->seq + v->len + 1 == tcb->rcv_nxt)
				// RFC 9293 3.10.7.4 eighth, TIME-WAIT: the peer's FIN again (it
				// sits just below RCV.NXT); ack, restart 2 MSL. Any other FIN
				// is out of window and must not pin the slot.
				tcb->idle_at_ns = now_ns + ctx->cfg.time_wait_ns;
			else
				ctx->stats.out_of_window++;
			// RFC 9293 3.10.7.4 first: an ACK answers it, within the
			// RFC 5961 7 limits, except for a copy of data or a FIN we
			// took (our ACK was lost): throttled with the rest, a spray
			// at other tuples used up the shard's budget and left its
			// peers resending into silence until their retries ran out.
			// One that ends at RCV.NXT (a FIN, the last segment) is
			// always answered; one within the most we can have had in
			// flight below it, at the per-connection pace only. (Blind,
			// the first is a guess of one number; the second no easier
			// than the window, whose hits are answered too.)
			// A keepalive probe (SEQ = RCV.NXT - 1, no data: RFC 9293
			// 3.8.4) is the same case: unanswered, the peer resets a
			// healthy connection after its last probe.
			uint32_t occ = v->len + (v->fin ? 1 : 0);
			uint32_t behind = max_u32(max_u32(ctx->cfg.rcv_wnd, ctx->cfg.sndbuf_max), 65535);
			bool dup = occ > 0 && seq_leq(v->seq + occ, tcb->rcv_nxt) &&
				   seq_geq(v->seq, tcb->rcv_nxt - behind);
			bool probe = occ == 0 && v->seq == tcb->rcv_nxt - 1;
			if ((dup && v->seq + occ == tcb->rcv_nxt) || probe ||
			    tcp_oow_ack_ok_in(ctx, tcb, now_ns, !dup))
				tcb->flags |= CEE_TCB_F_ACK_NOW;
			return STEP_DONE;
		}
	}
	// trim to the window ("trimmed ... to fit")
	if (seq_lt(v->seq, tcb->rcv_nxt)) {
		uint32_t skip = min_u32(tcb->rcv_nxt - v->seq, v->len);
		v->data += skip;
		v->len -= skip;
		v->seq = tcb->rcv_nxt;
	}
	if (v->len > 0 && seq_gt(v->seq + v->len, tcb->rcv_nxt + v->wnd)) {
		v->len = tcb->rcv_nxt + v->wnd - v->seq;
		v->fin = false;
	}
	return STEP_NEXT;
}

/* RFC 9293 3.10.7.4 fifth, SYN-RECEIVED: the ACK that completes a passive open. */
static enum step ack_syn_received(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb,
				  const struct cee_tcp_seg *seg, uint64_t now_ns)
{
	if (seg->ack != tcb->snd_max) {
		// SND.UNA < SEG.ACK =< SND.NXT fails: <SEQ=SEG.ACK><CTL=RST>
		struct cee_tcp_out out;
		tcp_out_init(&out, seg->ack, 0, CEE_TCP_RST);
		tcp_emit(ctx, tcb, &out);
		return STEP_DONE;
	}
	synced(ctx, tcb, seg, (uint32_t)seg->wnd << tcb->snd_wscale, now_ns);
	return tcp_abort_requested(tcb) ? STEP_DONE : STEP_NEXT; /* from the established callback */
}

/* RFC 9293 3.10.7.4 fifth: the ACK field, in ESTABLISHED and later states. */
static enum step check_ack(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb,
			   const struct cee_tcp_seg *seg, uint64_t now_ns)
{
	if (!(seg->flags & CEE_TCP_ACK))
		return STEP_DONE;
	if (tcb->state == CEE_TCP_SYN_RECEIVED)
		return ack_syn_received(ctx, tcb, seg, now_ns);

	// RFC 5961 5.2: SND.UNA - MAX.SND.WND =< SEG.ACK =< SND.NXT (SND.MAX here)
	if (seq_gt(seg->ack, tcb->snd_max) || seq_lt(seg->ack, tcb->snd_una - tcb->max_snd_wnd)) {
		ctx->stats.bad_ack++;
		if (tcp_oow_ack_ok(ctx, tcb, now_ns))
			tcb->flags |= CEE_TCB_F_ACK_NOW;
		return STEP_DONE;
	}
	uint32_t seg_wnd = (uint32_t)seg->wnd << tcb->snd_wscale;
	bool advanced = seq_gt(seg->ack, tcb->snd_una);
	uint32_t acked = seg->ack - tcb->snd_una;
	// the window's right edge before this ACK, and whether it was shut (0,
	// or a sliver) with bytes sent past it: those the peer dropped (by
	// 2^scale at least: a peer that rounds its scaled window down puts the
	// edge up to that short of what it takes)
	uint32_t old_edge = tcb->snd_una + tcb->snd_wnd;
	bool past_shut = seq_lt(old_edge, tcb->snd_nxt) &&
			 tcb->snd_nxt - old_edge >= (1u << tcb->snd_wscale) && tcp_wnd_shut(ctx, tcb);
	if (advanced)
		ack_advance(ctx, tcb, seg->ack, seg, now_ns);
	// RFC 6675 scoreboard: new blocks, and what SND.UNA passed dropped at once
	// (a range left below SND.UNA would make IsLost and pipe nonsense)
	struct cee_tcp_xmit *x = NULL;
	// PRR's DeliveredData (RFC 9937): the change in SND.UNA plus the change
	// in SACKed bytes (bytes SACKed before count once: SND.UNA passing them
	// takes them off the scoreboard)
	uint32_t sacked0 = 0, sacked1 = 0;
	if ((tcb->flags & CEE_TCB_F_SACK) && tcb->sb != NULL) {
		x = seg->nsack ? tcp_xmit(ctx, tcb) : tcp_xmit_if(ctx, tcb);
		if (x != NULL && (seg->nsack || (advanced && x->nsacked))) {
			sacked0 = tcp_sack_bytes(tcb, x);
			tcp_sack_update(ctx, tcb, x, seg);
			sacked1 = tcp_sack_bytes(tcb, x);
		}
	}
	// RFC 8985 7.4.2: a pure duplicate ACK (no SACK) at TLP.end_seq: the
	// probe and its original both arrived: the episode ends, no loss
	if (!advanced && seg->nsack == 0 && seg->len == 0 && seg->ack == tcb->snd_una) {
		struct cee_tcp_xmit *tx = x != NULL ? x : tcp_xmit_if(ctx, tcb);
		if (tx != NULL && tx->tlp_rxt && seg->ack == tx->tlp_end)
			tx->tlp_rxt = 0;
	}
	// RFC 5681 2, DUPLICATE ACKNOWLEDGMENT (a shut window's answers to
	// probes are not: nothing was lost; the third of a sliver's sent a
	// full segment past it by fast retransmit)
	bool dupack = !advanced && seg->ack == tcb->snd_una && tcb->snd_una != tcb->snd_max &&
		      seg->len == 0 && !(seg->flags & CEE_TCP_FIN) && seg_wnd == tcb->snd_wnd &&
		      seg_wnd != 0 && !tcp_wnd_shut(ctx, tcb);
	if (advanced) {
		tcp_cc_on_ack(ctx, tcb, acked, now_ns);
	} else if (dupack) {
		tcp_cc_on_dupack(ctx, tcb, now_ns);
	} else if (seg->nsack && x != NULL && !x->in_recovery) {
		// not a duplicate ACK by RFC 5681 (it carries data: an echo's peer sends
		// while it acknowledges), but its blocks may show a loss (RFC 6675 IsLost)
		tcp_sack_enter(ctx, tcb, x, now_ns);
	}
	if (x != NULL && x->in_recovery == CEE_TCP_REC_SACK) {
		// (the ACK that began recovery counts too; recovery's last does not)
		int64_t d = (int64_t)(advanced ? acked : 0) + (int64_t)sacked1 - (int64_t)sacked0;
		if (dupack && seg->nsack == 0)
			d = tcb->snd_mss; // a duplicate ACK without blocks: a segment left the network
		tcp_prr_ack(x, d > 0 ? (uint32_t)d : 0, advanced && sacked1 <= sacked0);
	}
	// window update from the newest segment (SND.WL1, SND.WL2), and from any
	// ACK that moved SND.UNA (as Linux's tcp_may_update_window()): the window
	// is counted from the ACK it came with. Found with a Linux peer that
	// never read: a resent segment of its own (SEG.SEQ below SND.WL1, which
	// a later out-of-order one had set) acknowledged up to its last 12 bytes
	// of window; the old window, kept, was counted from the new SND.UNA,
	// and 1,448 bytes went out past the window's edge.
	if (seq_leq(tcb->snd_una, seg->ack) &&
	    (advanced || seq_lt(tcb->snd_wl1, seg->seq) ||
	     (tcb->snd_wl1 == seg->seq && seq_leq(tcb->snd_wl2, seg->ack)))) {
		uint32_t old_wnd = tcb->snd_wnd;
		tcb->snd_wnd = seg_wnd;
		if (seg_wnd > tcb->max_snd_wnd)
			tcb->max_snd_wnd = seg_wnd;
		tcb->snd_wl1 = seg->seq;
		tcb->snd_wl2 = seg->ack;
		if (tcb->snd_una != tcb->snd_max &&
		    ((old_wnd == 0 && tcb->snd_wnd > 0) ||
		     (past_shut && seq_gt(tcb->snd_una + tcb->snd_wnd, old_edge) &&
		      !tcp_wnd_shut(ctx, tcb)))) {
			// the window reopened with bytes unacked: from 0, or from a
			// sliver we had sent past (a window the peer shrank, e.g. a
			// Linux receiver under memory pressure: it dropped what lay
			// past the edge). Resend from SND.UNA now, not after an RTO
			// or three duplicate ACKs; a running RTT sample covers
			// resent bytes (RFC 6298 3, Karn)
			tcp_rewind(ctx, tcb);
			tcp_rtt_cancel(tcb);
		}
	}
	// a peer that answers with its window shut on our data is alive (the
	// persist clock bounds it); a FIN alone into a zero window is not data:
	// bounded by max_retries (a peer that never took it was probed for ever)
	if (tcp_wnd_shut(ctx, tcb))
		tcb->retries = 0;

	switch ((enum cee_tcp_state)tcb->state) {
	case CEE_TCP_FIN_WAIT_1:
		if (tcp_fin_acked(tcb))
			tcp_set_state(ctx, tcb, CEE_TCP_FIN_WAIT_2, now_ns);
		break;
	case CEE_TCP_CLOSING:
		if (tcp_fin_acked(tcb))
			tcp_set_state(ctx, tcb, CEE_TCP_TIME_WAIT, now_ns);
		break;
	case CEE_TCP_LAST_ACK:
		if (tcp_fin_acked(tcb)) {
			tcp_set_state(ctx, tcb, CEE_TCP_CLOSED, now_ns);
			return STEP_GONE;
		}
		break;
	case CEE_TCP_ESTABLISHED:
	case CEE_TCP_FIN_WAIT_2:
	case CEE_TCP_CLOSE_WAIT:
	case CEE_TCP_TIME_WAIT:
	case CEE_TCP_CLOSED:
	case CEE_TCP_SYN_SENT:
	case CEE_TCP_SYN_RECEIVED:
	case CEE_TCP_STATE__COUNT:
		break;
	}
	return STEP_NEXT;
}

/* Receive side ----------------------------------------------------------------------------- */

/* In-order bytes at rcv_nxt: @return how many were taken (echo may be short of room). */
static uint32_t deliver(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, const uint8_t *data,
			uint32_t len)
{
	if (!tcp_echo_mode(tcb))
		return len; /* discard, or echo after our FIN was queued */

	// the buffer first: its size is its class's, which falls back to the
	// small one when a grown connection gets no large buffer again
	if (!tcp_ensure_sb(ctx, tcb))
		return 0; /* not acked: the peer sends it again */
	uint32_t n = min_u32(len, tcp_sb_size(ctx, tcb) - tcb->sb_len);
	if (n == 0)
		return 0;
	tcp_sb_write(ctx, tcb, tcb->sb_len, data, n);
	tcb->sb_len += n;
	return n;
}

static bool ranges_touch(uint32_t s1, uint32_t e1, uint32_t s2, uint32_t e2)
{
	return seq_leq(s1, e2) && seq_leq(s2, e1);
}

/* rb's ring position of byte @p seq, rb_base @p base (held bytes lie within one ring of RCV.NXT). */
static uint32_t rb_pos(const struct cee_tcp_ctx *ctx, uint32_t base, uint32_t seq)
{
	return (seq - base) % cee_tcp_ring_size(&ctx->cfg, 0);
}

/*
 * rb_base moved up by whole rings towards RCV.NXT: positions unchanged, and
 * SEQ - rb_base below two rings. Held for good (a long upload that always
 * has a hole), SEQ - rb_base wrapped at 2^32, and with a ring that does not
 * divide 2^32 (--sndbuf 8000) every position moved: the wrong bytes to recv.
 */
static void rb_rebase(const struct cee_tcp_ctx *ctx, struct cee_tcp_xmit *x, uint32_t rcv_nxt)
{
	uint32_t d = rcv_nxt - x->rb_base;
	x->rb_base += d - d % cee_tcp_ring_size(&ctx->cfg, 0);
}

/*
 * An out-of-order segment [seq, seq + len), seq > rcv_nxt, within the
 * window. @return true when it is held whole.
 */
static bool ooo_add(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint32_t seq, const uint8_t *data,
		    uint32_t len)
{
	uint32_t cap = min_u32(ctx->cfg.ooo_max_segs, CEE_TCP_OOO_MAX);
	uint32_t off = seq - tcb->rcv_nxt;
	bool echo = tcp_echo_mode(tcb);

	bool app = tcp_app_mode(tcb);
	uint32_t whole = len;
	// the ranges live with the send buffer (echo's bytes too): none, nothing held
	if (!tcp_ensure_sb(ctx, tcb))
		return false;
	struct cee_tcp_xmit *x = tcp_xmit(ctx, tcb);

	if (echo) {
		uint32_t space = tcp_sb_size(ctx, tcb) - tcb->sb_len;
		if (off >= space) {
			ctx->stats.ooo_dropped++;
			return false;
		}
		len = min_u32(len, space - off);
	} else if (app) {
		// recv sees in-order bytes only: these wait in rb, a buffer of
		// the pool's, for the hole before them (SACKed meanwhile). They
		// were dropped: with SACK agreed and only bare duplicate ACKs
		// coming back, a Linux sender (RACK) found no loss, and every loss
		// on a TLS or WebSocket connection waited for its RTO
		uint32_t space = cee_tcp_ring_size(&ctx->cfg, 0);
		if (off >= space) {
			ctx->stats.ooo_dropped++;
			return false;
		}
		len = min_u32(len, space - off);
		if (x->rb == NULL) {
			x->rb = ctx->ops->buf_alloc(ctx->owner, 0);
			x->rb_base = tcb->rcv_nxt;
			if (x->rb == NULL) { // (the pool's renege passed over this one: x stays)
				ctx->stats.ooo_dropped++;
				return false;
			}
		}
	}

	uint32_t end = seq + len;
	bool touches = false;
	for (unsigned i = 0; i < x->ooo_n; i++)
		touches |= ranges_touch(seq, end, x->ooo[i].seq, x->ooo[i].seq + x->ooo[i].len);
	if (!touches && x->ooo_n >= cap) {
		ctx->stats.ooo_dropped++;
		return false;
	}
	if (echo)
		// at its final place: tail + (seq - rcv_nxt); stays valid as rcv_nxt and sb_len
		// move together
		tcp_sb_write(ctx, tcb, tcb->sb_len + off, data, len);
	else if (app) {
		rb_rebase(ctx, x, tcb->rcv_nxt);
		tcp_ring_put(x->rb, cee_tcp_ring_size(&ctx->cfg, 0), rb_pos(ctx, x->rb_base, seq),
			     data, len);
	}

	// merge every range it touches (restart after a merge: the union may touch more)
	for (unsigned i = 0; i < x->ooo_n;) {
		uint32_t rs = x->ooo[i].seq, re = rs + x->ooo[i].len;
		if (!ranges_touch(seq, end, rs, re)) {
			i++;
			continue;
		}
		if (seq_lt(rs, seq))
			seq = rs;
		if (seq_gt(re, end))
			end = re;
		for (unsigned j = i + 1; j < x->ooo_n; j++) // keep the recency order
			x->ooo[j - 1] = x->ooo[j];
		x->ooo_n--;
		i = 0;
	}
	// the newest range first: the first SACK block names the latest arrival (RFC 2018 4)
	for (unsigned i = x->ooo_n; i > 0; i--)
		x->ooo[i] = x->ooo[i - 1];
	x->ooo[0] = (struct cee_tcp_ooo){.seq = seq, .len = end - seq};
	x->ooo_n++;
	ctx->stats.ooo_queued++;
	return len == whole;
}

/* rcv_nxt moved: take every held range it reaches. */
static void ooo_advance(const struct cee_tcp_ctx *ctx, struct cee_tcb *tcb)
{
	struct cee_tcp_xmit *x = tcp_xmit_if(ctx, tcb);
	bool echo = tcp_echo_mode(tcb);

	if (x == NULL)
		return;
	for (unsigned i = 0; i < x->ooo_n;) {
		uint32_t rs = x->ooo[i].seq, re = rs + x->ooo[i].len;
		if (seq_gt(rs, tcb->rcv_nxt)) {
			i++;
			continue;
		}
		if (seq_gt(re, tcb->rcv_nxt)) {
			uint32_t n = re - tcb->rcv_nxt;
			if (echo)
				tcb->sb_len += n; /* bytes already in place */
			tcb->bytes_in += n;
			tcb->rcv_nxt = re;
		}
		for (unsigned j = i + 1; j < x->ooo_n; j++) // keep the recency order
			x->ooo[j - 1] = x->ooo[j];
		x->ooo_n--;
		i = 0;
	}
}

/*
 * App: rcv_nxt moved; hand the owner the held bytes it now reaches, in
 * order, from rb (at most two pieces a range: the ring wraps). An owner
 * with no room for them now (recv_room) has the rest reneged: held bytes
 * are SACKed, so the peer would not send them again before its timeout;
 * dropped and unSACKed, they come again. @return false when the owner
 * asked to abort.
 */
static bool app_ooo_deliver(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb)
{
	uint32_t size = cee_tcp_ring_size(&ctx->cfg, 0);
	for (;;) {
		struct cee_tcp_xmit *x = tcp_xmit_if(ctx, tcb);
		if (x == NULL || x->rb == NULL)
			return true;
		rb_rebase(ctx, x, tcb->rcv_nxt);
		unsigned i = 0;
		while (i < x->ooo_n && seq_gt(x->ooo[i].seq, tcb->rcv_nxt))
			i++;
		if (i == x->ooo_n) {
			if (x->ooo_n == 0)
				tcp_free_rb(ctx, x);
			return true;
		}
		uint32_t end = x->ooo[i].seq + x->ooo[i].len;
		for (unsigned j = i + 1; j < x->ooo_n; j++) // keep the recency order
			x->ooo[j - 1] = x->ooo[j];
		x->ooo_n--;
		uint8_t *rb = x->rb; // (a recv may grow the send buffer: x moves, rb stays)
		uint32_t base = x->rb_base;
		while (seq_gt(end, tcb->rcv_nxt)) {
			uint32_t pos = rb_pos(ctx, base, tcb->rcv_nxt);
			uint32_t n = min_u32(end - tcb->rcv_nxt, size - pos);
			if (ctx->ops->recv_room != NULL && !ctx->ops->recv_room(ctx->owner, tcb, n)) {
				ctx->stats.recv_refused++;
				ctx->stats.ooo_reneged++;
				x = tcp_xmit_if(ctx, tcb);
				x->ooo_n = 0;
				x->ooo_fin = 0;
				tcp_free_rb(ctx, x);
				return true;
			}
			tcb->rcv_nxt += n;
			tcb->bytes_in += n;
			if (ctx->ops->recv != NULL)
				ctx->ops->recv(ctx->owner, tcb, rb + pos, n);
			if (tcp_abort_requested(tcb))
				return false;
		}
	}
}

/* Nothing follows the peer's FIN: held ranges are not data. */
static void ooo_clear(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb)
{
	struct cee_tcp_xmit *x = tcp_xmit_if(ctx, tcb);
	if (x != NULL) {
		x->ooo_n = 0;
		x->ooo_fin = 0;
		tcp_free_rb(ctx, x);
	}
}

/*
 * A FIN on out-of-order data held whole (@p whole) is held with it; data
 * held past a FIN held (a peer that contradicts itself) forgets it.
 */
static void ooo_fin_note(const struct cee_tcp_ctx *ctx, struct cee_tcb *tcb,
			 const struct seg_view *v, bool whole)
{
	struct cee_tcp_xmit *x = tcp_xmit_if(ctx, tcb);
	if (x == NULL)
		return;
	uint32_t end = v->seq + v->len;
	if (x->ooo_fin && v->len > 0 && seq_gt(end, x->ooo_fin_seq))
		x->ooo_fin = 0;
	if (v->fin && whole && x->ooo_n > 0) {
		x->ooo_fin = 1;
		x->ooo_fin_seq = end;
	}
}

/*
 * Has RCV.NXT reached a FIN held past a hole (every held range taken)? One
 * it went past (in-order data beyond it: a peer that contradicts itself)
 * is forgotten: kept, it could match RCV.NXT again 2^32 bytes later.
 */
static bool ooo_fin_reached(const struct cee_tcp_ctx *ctx, struct cee_tcb *tcb)
{
	struct cee_tcp_xmit *x = tcp_xmit_if(ctx, tcb);
	if (x == NULL || !x->ooo_fin)
		return false;
	if (seq_gt(tcb->rcv_nxt, x->ooo_fin_seq)) {
		x->ooo_fin = 0;
		return false;
	}
	if (x->ooo_n != 0 || tcb->rcv_nxt != x->ooo_fin_seq)
		return false;
	x->ooo_fin = 0;
	return true;
}

/* The segment in @p v filled the hole before a held FIN: it carries it now. */
static void take_held_fin(const struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, struct seg_view *v)
{
	if (!v->fin && ooo_fin_reached(ctx, tcb)) {
		v->fin = true;
		v->seq = tcb->rcv_nxt;
		v->len = 0;
	}
}

/*
 * In-order data owes the peer an ACK (RFC 9293 3.8.6.3, RFC 5681 4.2): at
 * once for data that fills a hole (the peer's loss recovery waits on it)
 * and for every second segment; otherwise, with cfg.delack, it waits for
 * the next segment, for a segment of ours to carry it (the echo, the app's
 * reply), or for the end of the owner's receive burst
 * (cee_tcp_flush_acks()): microseconds, never a timer's 40-500 ms, so a
 * peer whose Nagle algorithm waits for this ACK is not stalled.
 */
static void ack_in_order(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, bool filled_hole)
{
	if (!ctx->cfg.delack || filled_hole || (tcb->aflags & CEE_TCB_A_OWED)) {
		tcb->flags |= CEE_TCB_F_ACK_NOW;
		return;
	}
	tcb->aflags |= CEE_TCB_A_OWED;
	ctx->stats.acks_delayed++;
}

/* RFC 9293 3.10.7.4 seventh: segment text. */
static enum step take_text(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, struct seg_view *v,
			   uint64_t now_ns)
{
	if (v->len > 0 || v->fin)
		tcb->last_activity_ns = now_ns;
	switch ((enum cee_tcp_state)tcb->state) {
	case CEE_TCP_ESTABLISHED:
		break;
	case CEE_TCP_FIN_WAIT_1:
	case CEE_TCP_FIN_WAIT_2:
		// RFC 1122 4.2.2.13: our close is a full one (the owner reads
		// nothing after it; no call half-closes), so new data after it
		// is lost: reset, as Linux does (TCPAbortOnData), with the close's
		// first cause. Taken and acked, a peer that kept writing (a SIP
		// server's keepalives) held FIN-WAIT-2 for ever with no closed:
		// a link stayed up, never retried
		// A layer that awaits the peer's answer to its close (our
		// close_notify or Close frame went with the FIN: the idle
		// timeout's) still reads it (CEE_TCB_O_READS_ON): RFC 8446 6.1
		// and RFC 6455 5.5.1 oblige the peer to answer, and it was reset
		// for doing so (ws_clean false, its alert unreported); the
		// FIN-WAIT-2 limit bounds a peer that keeps writing meanwhile
		if (v->len > 0 && (tcb->uflags & CEE_TCB_U_CLOSE) &&
		    !(tcb->oflags & CEE_TCB_O_READS_ON) && seq_gt(v->seq + v->len, tcb->rcv_nxt)) {
			ctx->stats.abort_on_data++;
			tcp_abort_conn(ctx, tcb, (enum cee_reason)tcb->close_reason, now_ns);
			return STEP_GONE;
		}
		break;
	case CEE_TCP_CLOSE_WAIT:
	case CEE_TCP_CLOSING:
	case CEE_TCP_LAST_ACK:
	case CEE_TCP_TIME_WAIT:
	case CEE_TCP_CLOSED:
	case CEE_TCP_SYN_SENT:
	case CEE_TCP_SYN_RECEIVED:
	case CEE_TCP_STATE__COUNT:
		return STEP_DONE; /* after the peer's FIN: ignored */
	}

	if (v->len > 0 && v->seq == tcb->rcv_nxt && tcp_app_mode(tcb)) {
		// the owner may have no room for them now (a TLS handshake's bytes
		// past the shard's budget): left to the peer's retransmission, as
		// echo's bytes are when no buffer can be had
		if (!v->fin && ctx->ops->recv_room != NULL &&
		    !ctx->ops->recv_room(ctx->owner, tcb, v->len)) {
			ctx->stats.recv_refused++;
			return STEP_DONE;
		}
		bool hole = tcp_ooo_n(ctx, tcb) > 0; /* this segment fills (part of) it */
		// counted and acked before the owner sees them (it may send or close from recv)
		tcb->rcv_nxt += v->len;
		tcb->bytes_in += v->len;
		ack_in_order(ctx, tcb, hole);
		if (ctx->ops->recv != NULL)
			ctx->ops->recv(ctx->owner, tcb, v->data, v->len);
		if (tcp_abort_requested(tcb))
			return STEP_DONE;
		// nothing follows the peer's FIN: held ranges beyond it are not
		// data (delivered, they moved RCV.NXT past the FIN, which was lost)
		if (hole && v->fin)
			ooo_clear(ctx, tcb);
		else if (hole && !app_ooo_deliver(ctx, tcb))
			return STEP_DONE;
		if (hole) // (a FIN can be held only past a hole)
			take_held_fin(ctx, tcb, v);
	} else if (v->len > 0 && v->seq == tcb->rcv_nxt) {
		bool hole = tcp_ooo_n(ctx, tcb) > 0; /* this segment fills (part of) it */
		uint32_t n = deliver(ctx, tcb, v->data, v->len);
		if (n < v->len) {
			v->fin = false;
			// inside the window but not taken whole (the ring full): the
			// peer hears at once where we are (RFC 9293: an acceptable
			// segment is acknowledged). Not when no buffer could be had:
			// its retransmission is the retry
			if (tcb->sb != NULL)
				tcb->flags |= CEE_TCB_F_ACK_NOW;
		}
		if (n > 0) {
			tcb->rcv_nxt += n;
			tcb->bytes_in += n;
			// nothing follows the FIN: held ranges beyond it are not data
			if (v->fin)
				ooo_clear(ctx, tcb);
			ooo_advance(ctx, tcb);
			ack_in_order(ctx, tcb, hole);
			tcp_maybe_grow_sb(ctx, tcb, now_ns);
			// (before echo-close's own close: a FIN held past the hole
			// was first on the wire; peer_fin, as with data and FIN in
			// one segment)
			if (hole)
				take_held_fin(ctx, tcb, v);
			// echo-close: what was just echoed is all; FIN after it. Not
			// when the peer's FIN came with the data: it was first on the
			// wire (the service closes after it anyway), peer_fin
			if (tcb->service == CEE_TCP_SVC_ECHO_CLOSE && !v->fin &&
			    !(tcb->flags & CEE_TCB_F_FIN_QUEUED))
				tcp_local_close(tcb, CEE_REASON_LOCAL_CLOSE);
		}
	} else if ((v->len > 0 || v->fin) && v->seq != tcb->rcv_nxt) {
		bool whole = v->len > 0 && ooo_add(ctx, tcb, v->seq, v->data, v->len);
		ooo_fin_note(ctx, tcb, v, whole);
		v->fin = false;
		tcb->flags |= CEE_TCB_F_ACK_NOW; /* duplicate ACK for out-of-order data */
	}
	return STEP_NEXT;
}

/* RFC 9293 3.10.7.4 eighth: FIN. */
static void take_fin(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, const struct seg_view *v,
		     uint64_t now_ns)
{
	if (!v->fin || v->seq + v->len != tcb->rcv_nxt)
		return;
	tcb->rcv_nxt++;
	tcb->flags |= CEE_TCB_F_FIN_RCVD | CEE_TCB_F_ACK_NOW;
	ooo_clear(ctx, tcb); /* nothing can follow the FIN */
	tcp_set_reason(tcb, CEE_REASON_PEER_FIN);
	switch ((enum cee_tcp_state)tcb->state) {
	case CEE_TCP_ESTABLISHED:
		// a layer above (TLS) says its last words (close_notify) before our FIN
		if (tcp_app_mode(tcb) && ctx->ops->closing != NULL && !(tcb->uflags & CEE_TCB_U_CLOSE))
			ctx->ops->closing(ctx->owner, tcb, CEE_REASON_PEER_FIN);
		tcb->flags |= CEE_TCB_F_FIN_QUEUED; /* every service closes after the peer's FIN */
		tcp_set_state(ctx, tcb, CEE_TCP_CLOSE_WAIT, now_ns);
		break;
	case CEE_TCP_FIN_WAIT_1:
		// our FIN not acked yet (else we would be in FIN-WAIT-2 by now)
		tcp_set_state(ctx, tcb, tcp_fin_acked(tcb) ? CEE_TCP_TIME_WAIT : CEE_TCP_CLOSING,
			      now_ns);
		break;
	case CEE_TCP_FIN_WAIT_2:
		tcp_set_state(ctx, tcb, CEE_TCP_TIME_WAIT, now_ns);
		break;
	case CEE_TCP_CLOSE_WAIT:
	case CEE_TCP_CLOSING:
	case CEE_TCP_LAST_ACK:
	case CEE_TCP_TIME_WAIT:
	case CEE_TCP_CLOSED:
	case CEE_TCP_SYN_SENT:
	case CEE_TCP_SYN_RECEIVED:
	case CEE_TCP_STATE__COUNT:
		abort(); /* take_text excluded these */
	}
}

/*
 * RFC 9293 3.10.7.4 for SYN-RECEIVED .. TIME-WAIT. @return true when the tcb
 * was destroyed (false with an abort requested from a callback: the caller
 * aborts).
 */
/* TS.Recent is not trusted after this long without traffic (RFC 7323 5.5: 24 days). */
#define PAWS_IDLE_NS (24ull * 86400 * 1000000000)

/*
 * RFC 7323 5.3 R1 (PAWS): a non-RST segment whose TSval is older than
 * TS.Recent is an old duplicate: not acceptable, answered with an ACK.
 * Segments without the option are taken (as Linux does; RFC 7323 3.2 says
 * SHOULD drop). A SYN in TIME-WAIT goes through: its timestamp decides reuse.
 */
static bool paws_rejects(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb,
			 const struct cee_tcp_seg *seg, uint64_t now_ns)
{
	if (!(tcb->uflags & CEE_TCB_U_TS) || !seg->ts_ok || (seg->flags & CEE_TCP_RST) ||
	    !seq_lt(seg->tsval, tcb->ts_recent) || now_ns - tcb->last_activity_ns > PAWS_IDLE_NS)
		return false;
	if ((seg->flags & CEE_TCP_SYN) && tcb->state == CEE_TCP_TIME_WAIT)
		return false;
	ctx->stats.paws_rejected++;
	// an ACK out of window's kind: within its budget (RFC 5961 7), or a
	// blind sender with an old TSval draws one ACK per segment
	if (tcp_oow_ack_ok(ctx, tcb, now_ns))
		tcb->flags |= CEE_TCB_F_ACK_NOW;
	return true;
}

/*
 * RFC 7323 4.3: TS.Recent follows the segments that are in order; after
 * 24 days idle (5.5) the accepted segment's TSval replaces it even if older,
 * as Linux does: kept, the next segment failed PAWS again (the idle clock
 * restarted with this one), for good.
 */
static void ts_recent_update(struct cee_tcb *tcb, const struct cee_tcp_seg *seg, uint64_t now_ns)
{
	if ((tcb->uflags & CEE_TCB_U_TS) && seg->ts_ok && seq_leq(seg->seq, tcb->rcv_nxt) &&
	    (seq_geq(seg->tsval, tcb->ts_recent) || now_ns - tcb->last_activity_ns > PAWS_IDLE_NS))
		tcb->ts_recent = seg->tsval;
}

/*
 * The window a segment is checked against: ours, and for an owner that
 * takes what comes (app and paced services; not echo, whose ring has no
 * room past the edge) the band a scaled field may have offered past the
 * edge (wnd_field() rounds up rather than pull the edge left, and leaves
 * rcv_adv where it was): a later field, rounded down, offered less than
 * the one before, and what the peer had sent into the difference was
 * dropped (out_of_window) and sent again. On a clean path, bulk TLS
 * clients lost 200 segments of 6,000 so. (The paced window keeps the
 * band's room aside: tcp_rcv_window().) Only while a field offered past
 * rcv_adv may still be in force (CEE_TCB_A_BAND, cleared by a zero window):
 * a peer sending past a zero window gains nothing, once or repeatedly.
 */
static uint32_t rcv_window_in(const struct cee_tcp_ctx *ctx, const struct cee_tcb *tcb)
{
	uint32_t wnd = tcp_rcv_window(ctx, tcb);
	if ((tcb->aflags & CEE_TCB_A_BAND) && tcp_app_mode(tcb)) {
		uint32_t band_end = tcb->rcv_adv + tcp_band(ctx, tcb);
		if (seq_gt(band_end, tcb->rcv_nxt + wnd))
			wnd = band_end - tcb->rcv_nxt;
	}
	return wnd;
}

bool tcp_input_sync(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, const struct cee_tcp_seg *seg,
		    uint64_t now_ns, bool *reopen)
{
	struct seg_view v = {
	    .seq = seg->seq,
	    .data = seg->data,
	    .len = seg->len,
	    .fin = seg->flags & CEE_TCP_FIN,
	    .wnd = rcv_window_in(ctx, tcb),
	};
	enum step st;

	if (paws_rejects(ctx, tcb, seg, now_ns))
		return false;
	if (seg->flags & CEE_TCP_RST)
		return check_rst(ctx, tcb, &v, now_ns) == STEP_GONE;
	if (seg->flags & CEE_TCP_SYN) {
		*reopen = check_syn(ctx, tcb, seg, now_ns) == STEP_GONE;
		return *reopen;
	}
	if ((st = check_seq(ctx, tcb, &v, now_ns)) != STEP_NEXT)
		return st == STEP_GONE;
	// TS.Recent and the keepalive state only from a segment whose ACK is
	// acceptable too (RFC 5961 5.2): before it, a blind segment with an
	// in-window sequence number, any ACK and a TSval far ahead set TS.Recent,
	// and PAWS then dropped all the real peer's segments (Linux bd090dfc634d)
	if ((st = check_ack(ctx, tcb, seg, now_ns)) != STEP_NEXT)
		return st == STEP_GONE;
	if (__builtin_expect(tcb->oflags & CEE_TCB_O_KEEPALIVE, 0)) { // the peer is alive: probes start over
		tcb->peer_at_ns = now_ns;
		tcb->ka_probes = 0;
	}
	ts_recent_update(tcb, seg, now_ns);
	if ((st = take_text(ctx, tcb, &v, now_ns)) != STEP_NEXT)
		return st == STEP_GONE;
	take_fin(ctx, tcb, &v, now_ns);
	return false;
}
