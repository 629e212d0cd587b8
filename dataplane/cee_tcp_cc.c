/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Congestion control: RFC 5681 (slow start, congestion avoidance, fast
 * retransmit, fast recovery) with NewReno's recovery (RFC 6582), and CUBIC
 * (RFC 9438) or NewReno for the window's growth and its cut on loss.
 *
 * - cwnd and ssthresh (bytes) live in the tcb; everything else (recovery
 *   point, duplicate ACKs, the CUBIC epoch) lives after the ring in the send
 *   buffer (struct cee_tcp_xmit), which exists exactly while data is queued
 *   or in flight, and is written only once needed. A connection without one has nothing to recover; when a
 *   buffer is taken again, CUBIC starts a new epoch (as after idle, RFC 9438
 *   5.8) and forgets W_max.
 * - Initial window (RFC 6928): min(10 MSS, max(2 MSS, 14600)); one MSS when
 *   the SYN or SYN-ACK had to be sent again (RFC 5681 3.1). Restart after
 *   idle (RFC 5681 4.1): nothing in flight and no new data sent for an RTO
 *   -> cwnd = min(cwnd, IW) before sending.
 * - Slow start: cwnd += every byte acked (as Linux; stretch ACKs are the
 *   rule). Growth, in slow start and after, only while cwnd limited what
 *   was sent (cwnd_limited(): RFC 7661, RFC 9438 5.8).
 * - Fast retransmit (RFC 5681 3.2, RFC 6582 3.2): the third duplicate ACK
 *   (outstanding data, no payload, no SYN/FIN, ACK = SND.UNA, same window)
 *   resends the segment at SND.UNA, unless it covers no more than `recover`
 *   (the losses of a window already handled). ssthresh from the algorithm
 *   (NewReno: max(FlightSize / 2, 2 MSS); CUBIC: max(cwnd * 0.7, 2 MSS)),
 *   cwnd = ssthresh + 3 MSS, recover = SND.MAX. Each further duplicate ACK
 *   inflates cwnd by one MSS. A partial ACK (below recover) resends the next
 *   hole and deflates cwnd by the bytes acked (plus one MSS back when that
 *   was at least one MSS); a full ACK leaves recovery with cwnd =
 *   min(ssthresh, max(FlightSize, MSS) + MSS).
 * - RTO (RFC 5681 3.1 eq. 4, RFC 6298 5.5): on the first expiry of a
 *   segment ssthresh = as above (unless SND.UNA is below cut_end: the
 *   window was cut for this flight already), then cwnd = 1 MSS (the loss window);
 *   recover = SND.MAX (RFC 6582 4: no fast retransmit for ACKs of the old
 *   window). Go-back-N then proceeds at the pace of slow start.
 * - CUBIC (RFC 9438 4): W_cubic(t) = C (t - K)^3 + W_max, C = 0.4, beta =
 *   0.7, windows in MSS and t in seconds; each ACK in congestion avoidance
 *   moves cwnd towards W_cubic(t + RTT) (clamped to 1.5 cwnd), or to the
 *   Reno-friendly estimate W_est when that is larger (4.3); fast convergence
 *   (4.7). Floating point only here, on ACKs in congestion avoidance. The
 *   epoch's clock stops while cwnd does not limit what is sent (5.8).
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "cee_tcp_priv.h"

int cee_tcp_cc_parse(const char *name)
{
	if (strcmp(name, "cubic") == 0)
		return CEE_TCP_CC_CUBIC;
	if (strcmp(name, "newreno") == 0)
		return CEE_TCP_CC_NEWRENO;
	return -EINVAL;
}

const char *cee_tcp_cc_str(enum cee_tcp_cc cc)
{
	switch (cc) {
	case CEE_TCP_CC_CUBIC:
		return "cubic";
	case CEE_TCP_CC_NEWRENO:
		return "newreno";
	}
	return "?";
}

#define CUBIC_C 0.4
#define CUBIC_BETA 0.7

static uint32_t initial_window(uint32_t mss)
{
	// RFC 6928 2: min(10 * MSS, max(2 * MSS, 14600))
	return min_u32(10 * mss, max_u32(2 * mss, 14600));
}

void tcp_cc_init(const struct cee_tcp_ctx *ctx, struct cee_tcb *tcb)
{
	(void)ctx;
	tcb->cwnd = tcb->retransmits ? tcb->snd_mss : initial_window(tcb->snd_mss);
	tcb->ssthresh = UINT32_MAX; // RFC 5681 3.1: arbitrarily high
}

void tcp_cc_xmit_init(struct cee_tcb *tcb, struct cee_tcp_xmit *x)
{
	tcb->uflags |= CEE_TCB_U_XMIT;
	memset(x, 0, sizeof(*x));
	x->recover = tcb->snd_una; /* RFC 6582 3.2: no window recovered yet */
	x->cut_end = tcb->snd_una;
}

/* Restart after idle (RFC 5681 4.1), before new data goes out with nothing in flight. */
void tcp_cc_before_send(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint64_t now_ns)
{
	uint32_t now = (uint32_t)(now_ns >> 20);
	uint32_t rto = (uint32_t)(((uint64_t)tcb->rto_us * 1000) >> 20);
	uint32_t iw = initial_window(tcb->snd_mss);

	if (tcb->snd_una == tcb->snd_max && now - tcb->snd_ts > rto && tcb->cwnd > iw) {
		tcb->cwnd = iw;
		ctx->stats.cwnd_restarts++;
	}
}

/* The window after a loss (ssthresh); CUBIC also starts its next epoch here. */
static uint32_t loss_ssthresh(const struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint32_t flight);

uint32_t tcp_cc_loss_ssthresh(const struct cee_tcp_ctx *ctx, struct cee_tcb *tcb)
{
	return loss_ssthresh(ctx, tcb, tcb->snd_max - tcb->snd_una);
}

// ssthresh after a loss with @p flight bytes out (FlightSize when it was seen).
static uint32_t loss_ssthresh(const struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint32_t flight)
{
	uint32_t mss = tcb->snd_mss;
	struct cee_tcp_xmit *x = tcp_xmit(ctx, tcb);

	switch ((enum cee_tcp_cc)ctx->cfg.cc) {
	case CEE_TCP_CC_NEWRENO:
		// RFC 5681 eq. 4, FlightSize without what limited transmit sent
		// past cwnd (RFC 5681 3.2 step 2: it MUST NOT count; cwnd does
		// not move during duplicate ACKs, so that is what lies past it)
		return max_u32(min_u32(flight, tcb->cwnd) / 2, 2 * mss);
	case CEE_TCP_CC_CUBIC:
		break;
	}
	// RFC 9438 4.6 (cwnd, not FlightSize) and 4.7 fast convergence
	uint32_t cwnd = min_u32(tcb->cwnd, max_u32(flight, mss));
	if (x != NULL) {
		if (cwnd < x->w_max)
			x->w_max = (uint32_t)(cwnd * (1.0 + CUBIC_BETA) / 2.0);
		else
			x->w_max = cwnd;
		x->epoch_ns = 0;
		x->after_rto = 0; // (tcp_cc_on_rto sets it again after this)
	}
	return max_u32((uint32_t)(cwnd * CUBIC_BETA), 2 * mss);
}

/* RFC 9438 4.2-4.4: growth in congestion avoidance for @p acked bytes. */
static void cubic_grow(struct cee_tcb *tcb, struct cee_tcp_xmit *x, uint32_t acked,
		       uint64_t now_ns)
{
	double mss = tcb->snd_mss;
	double cwnd = tcb->cwnd / mss;

	if (x->epoch_ns == 0) {
		x->epoch_ns = now_ns;
		if (x->after_rto) {
			x->w_max = tcb->cwnd;
			x->after_rto = 0;
		}
		double w_max = x->w_max / mss;
		if (cwnd < w_max) {
			x->k_us = (uint32_t)(cbrt((w_max - cwnd) / CUBIC_C) * 1e6);
			x->origin = x->w_max;
		} else {
			x->k_us = 0;
			x->origin = tcb->cwnd;
		}
		x->w_est = tcb->cwnd;
	}
	double rtt = (tcb->srtt_us ? tcb->srtt_us : 100000) / 1e6;
	double t = (now_ns > x->epoch_ns ? now_ns - x->epoch_ns : 0) / 1e9 + rtt - x->k_us / 1e6;
	double target = x->origin / mss + CUBIC_C * t * t * t;
	if (target < cwnd)
		target = cwnd;
	if (target > 1.5 * cwnd)
		target = 1.5 * cwnd;

	// Reno-friendly region (4.3): alpha = 3 (1 - beta) / (1 + beta)
	double alpha = 3.0 * (1.0 - CUBIC_BETA) / (1.0 + CUBIC_BETA);
	x->w_est += (uint32_t)(alpha * mss * acked / tcb->cwnd + 0.5);

	double grow = (target - cwnd) / cwnd * acked; /* bytes */
	uint64_t next = tcb->cwnd + (uint64_t)(grow + 0.5);
	if (x->w_est > next)
		next = x->w_est;
	tcb->cwnd = (uint32_t)(next > UINT32_MAX / 2 ? UINT32_MAX / 2 : next);
}

static void newreno_grow(struct cee_tcb *tcb, struct cee_tcp_xmit *x, uint32_t acked)
{
	// RFC 5681 3.1 (byte counting): one MSS per window of bytes acked
	x->ca_acked += acked;
	if (x->ca_acked >= tcb->cwnd) {
		x->ca_acked -= tcb->cwnd;
		tcb->cwnd += tcb->snd_mss;
	}
}

/*
 * Slow start (RFC 5681 3.1) by the bytes acknowledged, all of them, as
 * Linux counts them: not RFC 3465's L = 2 MSS per ACK. Stretch ACKs are the
 * rule from today's receivers (GRO, ACK compression, delayed ACKs): Linux
 * clients acknowledged 10 of our segments in one ACK, and 2 MSS per ACK
 * held an echo at 0.6 of the rate its peer sent, RTT after RTT (wan.sh
 * delay20, 1 connection, 0.79-0.91 of Linux). An ACK never acknowledges
 * more than was sent, so this grows no faster than the data delivered.
 * Up to ssthresh, not past it (RFC 5681 3.1, Linux's tcp_slow_start()):
 * after an RTO whose flight had arrived but for its first segment, the
 * resend's ACK covered the whole flight, and cwnd went from 1 MSS to 11
 * with ssthresh at 5, a window's burst into the path that had just
 * dropped. @return the bytes left over for congestion avoidance.
 */
static uint32_t slow_start_grow(struct cee_tcb *tcb, uint32_t acked)
{
	uint32_t room = tcb->ssthresh > tcb->cwnd ? tcb->ssthresh - tcb->cwnd : 0;
	uint32_t take = acked < room ? acked : room;
	uint64_t next = (uint64_t)tcb->cwnd + take;

	tcb->cwnd = (uint32_t)(next > UINT32_MAX / 2 ? UINT32_MAX / 2 : next);
	return acked - take;
}

/*
 * cwnd limited what was sent (RFC 7661, RFC 9438 5.8): the flight this ACK
 * acknowledged part of filled cwnd (within a segment), or in slow start
 * more than half of it (as Linux's tcp_is_cwnd_limited()). A sender held
 * back by the application or by the peer's window does not grow cwnd: it
 * grew on every ACK, without bound, and the next burst (a large response
 * after small ones, a window that opened) went out at a cwnd the path had
 * never been shown to carry.
 */
static inline bool cwnd_limited(const struct cee_tcb *tcb, uint32_t acked, bool slow_start)
{
	uint64_t flight = (uint64_t)(tcb->snd_max - tcb->snd_una) + acked; /* before this ACK */
	return slow_start ? 2 * flight > tcb->cwnd : flight + tcb->snd_mss >= tcb->cwnd;
}

void tcp_cc_on_ack(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint32_t acked, uint64_t now_ns)
{
	uint32_t mss = tcb->snd_mss;
	bool slow_start = tcb->cwnd < tcb->ssthresh;

	// no buffer (only a FIN was in flight), or nothing lost yet on this one:
	// slow start needs no more state than cwnd
	if (tcb->sb == NULL || (slow_start && !(tcb->uflags & CEE_TCB_U_XMIT))) {
		if (slow_start && cwnd_limited(tcb, acked, true))
			(void)slow_start_grow(tcb, acked); // (no CUBIC state here: a leftover past ssthresh is not counted)
		return;
	}
	struct cee_tcp_xmit *x = tcp_xmit(ctx, tcb);
	bool reduced = false;
	x->dupacks = 0;
	// RFC 8985 7.4.2: the episode of a probe that resent data ends with an
	// ACK past TLP.end_seq and no D-SACK for the probe (tcp_sack_update()
	// closes it at one): it repaired a loss (its original, or the ACK of
	// it), and the window is reduced as for any loss (Linux: CWR in
	// tcp_process_tlp_ack()); it grew on as if nothing was lost. The
	// flight is the one before this ACK; cut_end = SND.MAX, so that the
	// same flight's losses are not cut for again.
	if (x->tlp_rxt && seq_gt(tcb->snd_una, x->tlp_end) && !x->in_recovery) {
		x->tlp_rxt = 0;
		ctx->stats.tlp_losses++;
		tcb->ssthresh = loss_ssthresh(ctx, tcb, tcb->snd_max - tcb->snd_una + acked);
		tcb->cwnd = min_u32(tcb->cwnd, tcb->ssthresh);
		x->ca_acked = 0;
		x->cut_end = tcb->snd_max;
		reduced = true;
	}
	x->tlp = 0; /* progress: the next flight may probe again (RFC 8985 7.4) */
	if (x->tlp_edge_set && !seq_gt(x->tlp_edge, tcb->snd_una))
		x->tlp_edge_set = 0; /* every byte below the probe's range is acked */
	// Outside recovery the recovery point trails SND.UNA: left where the
	// last recovery put it, it fell 2^31 behind a bulk stream (2 GiB
	// later), seq_geq() turned, and every later loss waited for the RTO.
	if (!x->in_recovery && seq_gt(tcb->snd_una, x->recover))
		x->recover = tcb->snd_una;
	// (and so does the reduced point, for the same reason)
	if (seq_gt(tcb->snd_una, x->cut_end))
		x->cut_end = tcb->snd_una;
	if (reduced) {
		// holes this ACK's blocks show: recovery, without a second cut
		// (cut_end); recover stays: a loss later in this flight must
		// still start recovery (with recover = SND.MAX here, none could:
		// a second probe, then the RTO and a second cut)
		if ((tcb->flags & CEE_TCB_F_SACK) && x->nsacked)
			(void)tcp_sack_enter(ctx, tcb, x, now_ns);
		return; /* no growth on the ACK that showed the loss */
	}
	if (x->in_recovery == CEE_TCP_REC_SACK) {
		// RFC 6675: ends when SND.UNA reaches the recovery point; cwnd stays
		// at ssthresh; holes and new data go out from tcp_sack_output()
		if (seq_geq(tcb->snd_una, x->recover)) {
			x->in_recovery = 0;
			return;
		}
		// a partial ACK: the bytes at the new SND.UNA were lost too (RFC 6582's
		// rule, for a peer whose SACK blocks do not show it: one that drops
		// out-of-order data reports none); resent unless already
		if (seq_leq(x->high_rxt, tcb->snd_una)) {
			ctx->stats.partial_acks++;
			// (up to the next SACKed range: a short hole's resend carried
			// a whole MSS, SACKed bytes with it)
			tcp_resend_hole(ctx, tcb, x, tcb->snd_una,
					tcp_sack_clip(x, tcb->snd_una, mss), now_ns);
		}
		return;
	}
	if (x->in_recovery) {
		if (seq_geq(tcb->snd_una, x->recover)) {
			// RFC 6582 3.2 step 3, full acknowledgment
			uint32_t flight = tcb->snd_max - tcb->snd_una;
			tcb->cwnd = min_u32(tcb->ssthresh, max_u32(flight, mss) + mss);
			x->in_recovery = 0;
			return;
		}
		// partial acknowledgment: the next hole is lost too; deflate
		ctx->stats.partial_acks++;
		tcp_retransmit_at(ctx, tcb, tcb->snd_una, mss, now_ns);
		tcb->cwnd = tcb->cwnd > acked ? tcb->cwnd - acked : mss;
		if (acked >= mss)
			tcb->cwnd += mss;
		return;
	}
	// SACK: the ACK may show holes deemed lost (RFC 6675 IsLost) before 3 duplicates
	if ((tcb->flags & CEE_TCB_F_SACK) && x->nsacked && tcp_sack_enter(ctx, tcb, x, now_ns))
		return;
	bool limited = cwnd_limited(tcb, acked, slow_start);
	if (!slow_start && ctx->cfg.cc == CEE_TCP_CC_CUBIC) {
		// W_cubic(t)'s clock stops while cwnd does not limit (RFC 9438
		// 5.8; Linux shifts the epoch by an idle time): run on through an
		// application- or window-limited stretch, t jumped by its length,
		// and the next cwnd-limited ACKs grew cwnd by half of each as if
		// the path had carried W_cubic all along
		// (or through a stall: no ACK of new data for longer than an RTO
		// is no cwnd-limited time, whatever the ACKs on either side say;
		// a zero window's probes draw none)
		uint64_t gap = now_ns > x->ca_ack_ns ? now_ns - x->ca_ack_ns : 0;
		if (x->epoch_ns != 0 && x->ca_ack_ns != 0 &&
		    (!limited || gap > (uint64_t)tcb->rto_us * 1000))
			x->epoch_ns += gap;
		x->ca_ack_ns = now_ns;
	}
	if (!limited)
		return;
	if (slow_start) {
		acked = slow_start_grow(tcb, acked);
		if (acked == 0)
			return;
		// the rest of it in congestion avoidance, as Linux does; CUBIC's
		// epoch clock starts now (its last tick was before the loss: the
		// next ACK took the whole RTO and slow start for idle time, and
		// moved the epoch into the future)
		x->ca_ack_ns = now_ns;
	}
	switch ((enum cee_tcp_cc)ctx->cfg.cc) {
	case CEE_TCP_CC_CUBIC:
		cubic_grow(tcb, x, acked, now_ns);
		break;
	case CEE_TCP_CC_NEWRENO:
		newreno_grow(tcb, x, acked);
		break;
	}
}

void tcp_cc_on_dupack(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint64_t now_ns)
{
	struct cee_tcp_xmit *x = tcp_xmit(ctx, tcb);
	uint32_t mss = tcb->snd_mss;

	if (x == NULL)
		return;
	if (x->in_recovery == CEE_TCP_REC_SACK)
		return; /* the scoreboard moved: tcp_sack_output() decides */
	if (x->in_recovery) {
		// RFC 5681 3.2 step 4: a segment left the network (capped as slow
		// start is: a peer repeating one ACK for ever must not wrap cwnd)
		if (tcb->cwnd < UINT32_MAX / 2)
			tcb->cwnd += mss;
		return;
	}
	// saturating: while recovery may not start (SND.UNA below recover),
	// the count goes on past 3, and it must not come back to 1 or 2, on
	// which output() sends limited transmit's segment past cwnd (a byte
	// wrapped after 255 duplicates)
	if (x->dupacks < UINT8_MAX)
		x->dupacks++;
	if (tcb->flags & CEE_TCB_F_SACK) {
		tcp_sack_enter(ctx, tcb, x, now_ns); // RFC 6675 5
		return;
	}
	if (x->dupacks < 3)
		return; /* RFC 5681 3.2 step 1: output() sends limited transmit's segment */
	// RFC 6582 3.2 step 2: not for losses of a window already recovered
	// (recover is SND.MAX then, one past its highest byte: an ACK reaching
	// it covers the whole window, and the loss is of the next); the count
	// stays (set back to 0 here, the next two sent past cwnd again)
	if (!seq_geq(tcb->snd_una, x->recover))
		return;
	x->dupacks = 0;
	ctx->stats.fast_retransmits++;
	tcb->ssthresh = tcp_cc_loss_ssthresh(ctx, tcb);
	x->recover = tcb->snd_max;
	x->cut_end = tcb->snd_max;
	x->in_recovery = CEE_TCP_REC_NEWRENO;
	x->ca_acked = 0;
	tcp_retransmit_at(ctx, tcb, tcb->snd_una, mss, now_ns);
	tcp_recovery_rearm(tcb, x, now_ns);
	tcb->cwnd = tcb->ssthresh + 3 * mss;
}

void tcp_cc_on_rto(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb)
{
	struct cee_tcp_xmit *x = tcp_xmit(ctx, tcb);

	ctx->stats.rto_timeouts++;
	// first expiry for this segment (RFC 5681 eq. 4), and not for a
	// flight the window was cut for already (Linux's tcp_enter_loss(): a
	// lost resend in SACK recovery took CUBIC's ssthresh from 0.7 W to
	// 0.49 W, and W_max down by fast convergence): by cut_end, not by a
	// recovery running, which a rewind ends and a probe's response never
	// starts
	bool reduced = x != NULL && seq_lt(tcb->snd_una, x->cut_end);
	if (tcb->retries == 0 && !reduced)
		tcb->ssthresh = tcp_cc_loss_ssthresh(ctx, tcb);
	tcb->cwnd = tcb->snd_mss; // the loss window
	if (x != NULL) {
		x->in_recovery = 0;
		x->dupacks = 0;
		x->ca_acked = 0;
		x->recover = tcb->snd_max;
		x->nsacked = 0; // RFC 2018 8: SACK information is not trusted past an RTO
		x->tlp_edge_set = 0;
		x->tlp_seq = tcb->snd_una; // (a probe before the RTO no longer marks losses)
		x->tlp_rxt = 0;            // (nor is it the loss: the timeout's response stands)
		// RFC 9438 4.8: the first congestion avoidance after a timeout
		// starts from where it begins (K = 0, W_max = that cwnd), not
		// from the window before the timeout
		x->after_rto = 1;
		x->high_rxt = tcb->snd_una;
	}
}
