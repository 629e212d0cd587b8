/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SACK-based loss recovery (RFC 2018, RFC 6675) for the sending side.
 *
 * Why SACK (and not RACK-TLP, RFC 8985): the send buffer is a byte ring
 * without per-segment records, so RACK's per-segment transmit times would
 * need new per-segment state; a SACK scoreboard is a handful of ranges, like
 * the out-of-order ranges the receiving side already keeps, and every peer
 * an SBC meets (Linux, Windows, BSD, mobile stacks) offers SACK. Linux
 * clients also recover their own losses towards us faster with the blocks
 * we send (cee_tcp_output.c).
 *
 * - Scoreboard: up to CEE_TCP_SCOREBOARD_MAX SACKed ranges above SND.UNA,
 *   sorted and disjoint, in struct cee_tcp_xmit (the send buffer's tail:
 *   only a connection with data in flight has one). Blocks at or below
 *   SND.UNA are trimmed (D-SACK carries nothing we use); blocks beyond
 *   SND.MAX are ignored and counted (bad_sack). When the ranges do not fit,
 *   the highest is dropped: the holes near SND.UNA matter first. The
 *   scoreboard is cleared on an RTO (RFC 2018 8).
 * - IsLost (RFC 6675 4): an unSACKed byte is lost once DupThresh (3)
 *   discontiguous ranges or more than 2 MSS are SACKed above it. That gives
 *   one edge: every unSACKed byte below it is lost. A flight of fewer than
 *   four segments with nothing new to send uses DupThresh = segments - 1
 *   (RFC 5827 early retransmit).
 * - Tail-loss probe (RFC 8985 7, cee_tcp_timer.c): with data in flight the
 *   first timer is 2 SRTT; it resends the last segment (or sends new data)
 *   so that the peer's SACK shows a tail loss for the rules above.
 * - Recovery starts (RFC 6675 5) on the third duplicate ACK or when
 *   SND.UNA + 1 is lost, unless SND.UNA has not passed the last recovery
 *   point: ssthresh from the congestion control, cwnd = ssthresh (both
 *   left as they are below cut_end: a tail-loss probe's response cut them
 *   for this flight), recover = cut_end = SND.MAX, HighRxt = SND.UNA, and
 *   the first lost segment is resent at once. Then, on every ACK: while
 *   cwnd - pipe >= 1 MSS, NextSeg (rule 1:
 *   the first lost, unSACKed, not yet resent bytes, up to an MSS and the
 *   next SACKed range), else new data within the peer's window (rule 2).
 *   pipe (SetPipe) = unSACKed bytes not deemed lost + resent bytes.
 *   Recovery ends when SND.UNA reaches recover.
 * - How much goes on each ACK in recovery: PRR (RFC 9937), not cwnd - pipe.
 *   With cwnd = ssthresh at once, a single loss in a flight of F left pipe
 *   near F, above cwnd (0.7 F for CUBIC): nothing went for the first 30%
 *   of the ACKs of the recovery, then one segment per ACK: the reduced
 *   flight left in the second part of the round trip, not spread over it. PRR sends ssthresh / RecoverFS of what each ACK
 *   delivered (DeliveredData: SND.UNA's advance plus the change in SACKed
 *   bytes) while pipe is above ssthresh, so the flight shrinks to ssthresh
 *   evenly over one RTT, ACK-clocked; once pipe is at or below ssthresh, what
 *   was delivered (PRR-CRB), an MSS more on an ACK that moved SND.UNA and
 *   showed no new loss (PRR-SSRB), never past ssthresh. RecoverFS = pipe
 *   as recovery begins. prr_out counts the bytes resent and
 *   sent, whole segments: a budget below an MSS sends one, and the next
 *   ACK's is that much less (rounding up, as Linux counts in segments).
 * - A resent hole still missing once more than 2 MSS of data sent after it
 *   are SACKed was lost again: resent (rexmits_lost()), not left to the RTO.
 * - After an RTO (the scoreboard cleared), go-back-N passes over what is
 *   SACKed since (tcp_sack_skip(), RFC 6675 5.1).
 * - A retransmission carries what fits beside its options; HighRxt moves by
 *   that, so the rest of a hole follows (a segment with SACK blocks holds
 *   12 bytes less than the one it repairs).
 */
#include "cee_tcp_priv.h"

#define DUPTHRESH 3

static uint32_t range_len(const struct cee_tcp_sack *r)
{
	return r->end - r->start;
}

void tcp_sack_update(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, struct cee_tcp_xmit *x,
		     const struct cee_tcp_seg *seg)
{
	struct cee_tcp_sack r[CEE_TCP_SCOREBOARD_MAX + CEE_TCP_SACK_IN_MAX];
	unsigned n = 0;

	// what is still above SND.UNA
	for (unsigned i = 0; i < x->nsacked; i++) {
		struct cee_tcp_sack a = x->sacked[i];
		if (seq_leq(a.end, tcb->snd_una))
			continue;
		if (seq_lt(a.start, tcb->snd_una))
			a.start = tcb->snd_una;
		r[n++] = a;
	}
	for (unsigned b = 0; b < seg->nsack; b++) {
		struct cee_tcp_sack a = seg->sack[b];
		if (!seq_lt(a.start, a.end) || seq_gt(a.end, tcb->snd_max)) {
			ctx->stats.bad_sack++;
			continue;
		}
		if (seq_leq(a.end, tcb->snd_una)) {
			// D-SACK (RFC 2883) or stale: nothing left to learn, but
			// that the probe's bytes came twice (its original was not
			// lost: no congestion response, RFC 8985 7.4.2)
			if (x->tlp_rxt && seq_lt(a.start, x->tlp_end) && seq_leq(x->tlp_end, a.end))
				x->tlp_rxt = 0;
			continue;
		}
		if (seq_lt(a.start, tcb->snd_una))
			a.start = tcb->snd_una;
		r[n++] = a;
	}
	// sort by start (at most 8), then merge what touches
	for (unsigned i = 1; i < n; i++)
		for (unsigned j = i; j > 0 && seq_lt(r[j].start, r[j - 1].start); j--) {
			struct cee_tcp_sack t = r[j];
			r[j] = r[j - 1];
			r[j - 1] = t;
		}
	unsigned m = 0;
	for (unsigned i = 0; i < n; i++) {
		if (m > 0 && seq_leq(r[i].start, r[m - 1].end)) {
			if (seq_gt(r[i].end, r[m - 1].end))
				r[m - 1].end = r[i].end;
			continue;
		}
		r[m++] = r[i];
	}
	x->nsacked = (uint8_t)min_u32(m, CEE_TCP_SCOREBOARD_MAX); /* the lowest ranges */
	for (unsigned i = 0; i < x->nsacked; i++)
		x->sacked[i] = r[i];
	// The tail-loss probe arrived (SACKed): everything sent before it and
	// not SACKed is lost (RFC 8985 6.2: RACK; it left after them, a probe
	// timeout after the last of them). DupThresh alone saw one SACKed
	// segment of a 3-segment tail as no loss, and the tail waited for the
	// RTO, a whole RTO after the probe, at 1 MSS.
	if (x->tlp == CEE_TCP_TLP_SENT && seq_gt(x->tlp_seq, tcb->snd_una))
		for (unsigned i = 0; i < x->nsacked; i++)
			if (seq_leq(x->sacked[i].start, x->tlp_seq) &&
			    seq_lt(x->tlp_seq, x->sacked[i].end)) {
				x->tlp_edge = x->sacked[i].start;
				x->tlp_edge_set = 1;
				break;
			}
}

/*
 * DupThresh: 3, or fewer for a small flight with nothing new to send (RFC
 * 5827 early retransmit: outstanding segments - 1, at least 1), where three
 * duplicates can never come (a short exchange, the tail after a probe).
 */
static unsigned dupthresh(const struct cee_tcb *tcb)
{
	uint32_t segs = (tcb->snd_max - tcb->snd_una + tcb->snd_mss - 1) / tcb->snd_mss;

	if (segs >= DUPTHRESH + 1 || tcp_unsent_bytes(tcb) > 0)
		return DUPTHRESH;
	return segs > 1 ? segs - 1 : 1;
}

/*
 * RFC 6675 IsLost as one edge: every unSACKed byte below it is lost
 * (SND.UNA: none); or below the SACKed tail-loss probe, if higher.
 */
static uint32_t lost_edge(const struct cee_tcb *tcb, const struct cee_tcp_xmit *x)
{
	unsigned thresh = dupthresh(tcb);
	uint32_t above = 0;
	uint32_t edge = tcb->snd_una;

	for (unsigned i = x->nsacked; i > 0; i--) {
		above += range_len(&x->sacked[i - 1]);
		if (x->nsacked - (i - 1) >= thresh || above > (thresh - 1) * tcb->snd_mss) {
			edge = x->sacked[i - 1].start;
			break;
		}
	}
	if (x->tlp_edge_set && seq_gt(x->tlp_edge, edge) && seq_leq(x->tlp_edge, tcb->snd_max))
		edge = x->tlp_edge;
	return edge;
}

/* SACKed bytes below @p edge (ranges are sorted; an edge is a range start or SND.UNA). */
static uint32_t sacked_below(const struct cee_tcp_xmit *x, uint32_t edge)
{
	uint32_t n = 0;

	for (unsigned i = 0; i < x->nsacked && seq_lt(x->sacked[i].start, edge); i++)
		n += seq_lt(x->sacked[i].end, edge) ? range_len(&x->sacked[i])
						    : edge - x->sacked[i].start;
	return n;
}

/* RFC 6675 SetPipe: unSACKed bytes not deemed lost, plus the lost ones resent. */
static uint32_t pipe(const struct cee_tcb *tcb, const struct cee_tcp_xmit *x)
{
	uint32_t edge = lost_edge(tcb, x);
	uint32_t flight = tcb->snd_max - tcb->snd_una;
	uint32_t sacked = sacked_below(x, tcb->snd_max);
	uint32_t lost = (edge - tcb->snd_una) - sacked_below(x, edge);
	uint32_t rxt_end = seq_lt(x->high_rxt, edge) ? x->high_rxt : edge;
	uint32_t resent = seq_gt(rxt_end, tcb->snd_una)
			      ? (rxt_end - tcb->snd_una) - sacked_below(x, rxt_end)
			      : 0;

	return flight - sacked - lost + resent;
}

/* RFC 6675 NextSeg rule 1: the first lost, unSACKed bytes not resent yet. */
static bool next_lost(const struct cee_tcb *tcb, const struct cee_tcp_xmit *x, uint32_t *seq,
		      uint32_t *len)
{
	uint32_t edge = lost_edge(tcb, x);
	uint32_t s = seq_gt(x->high_rxt, tcb->snd_una) ? x->high_rxt : tcb->snd_una;

	for (unsigned i = 0; i < x->nsacked; i++) {
		const struct cee_tcp_sack *r = &x->sacked[i];
		if (seq_leq(r->end, s))
			continue;
		if (seq_leq(r->start, s)) {
			s = r->end; /* inside a SACKed range: skip it */
			continue;
		}
		if (!seq_lt(s, edge))
			return false;
		*seq = s;
		// (the nearer of the two in sequence space: a plain minimum
		// across the 2^32 wrap took the farther, resending SACKed bytes)
		uint32_t end = seq_lt(r->start, edge) ? r->start : edge;
		*len = min_u32(end - s, tcb->snd_mss);
		return true;
	}
	return false; /* nothing SACKed above s: not deemed lost */
}

uint32_t tcp_sack_clip(const struct cee_tcp_xmit *x, uint32_t seq, uint32_t len)
{
	for (unsigned i = 0; i < x->nsacked; i++) {
		uint32_t start = x->sacked[i].start;
		if (seq_lt(seq, start) && seq_lt(start, seq + len))
			len = start - seq;
	}
	return len;
}

/*
 * Go-back-N from SND.UNA (an RTO's, a rewind's) passes over what the peer
 * has SACKed since the scoreboard was last cleared: RFC 6675 5.1, a sender
 * SHOULD use all SACK information that comes in during the loss recovery
 * after a timeout (the timeout itself forgets the earlier blocks, RFC 2018
 * 8: the peer may have reneged; if it reneges again, the next RTO resends
 * all). Before, every SACKed byte went again, a segment more per ACK of
 * slow start. SND.NXT moves past a range it stands in; @return the bytes
 * from SND.NXT up to the next SACKed range (UINT32_MAX: none above).
 */
uint32_t tcp_sack_skip(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb)
{
	const struct cee_tcp_xmit *x = tcp_xmit_if(ctx, tcb);
	if (x == NULL)
		return UINT32_MAX;
	// sorted and disjoint, touching ranges merged: one pass
	for (unsigned i = 0; i < x->nsacked; i++) {
		const struct cee_tcp_sack *r = &x->sacked[i];
		if (seq_leq(r->end, tcb->snd_nxt))
			continue;
		if (seq_gt(r->start, tcb->snd_nxt))
			return r->start - tcb->snd_nxt;
		ctx->stats.sack_skipped += r->end - tcb->snd_nxt;
		tcb->snd_nxt = r->end;
	}
	return UINT32_MAX;
}

/*
 * HighRxt moves by what the retransmission carried, not by the hole's
 * @p len: a segment with SACK blocks holds 8-12 bytes less than the one it
 * repairs, and the rest of the hole, marked resent but never sent, waited
 * for the RTO (wan.sh loss1: most of the RTOs). Nothing sent (the ring no
 * longer holds it): the hole is passed over, as before. rxt_mark: the
 * lost-retransmission rule (rexmits_lost()) counts SACKs beyond it.
 */
void tcp_resend_hole(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, struct cee_tcp_xmit *x,
		     uint32_t seq, uint32_t len, uint64_t now_ns)
{
	uint32_t sent = tcp_retransmit_at(ctx, tcb, seq, len, now_ns);

	x->prr_out += sent;
	x->high_rxt = seq + (sent > 0 && sent < len ? sent : len);
	x->rxt_mark = tcb->snd_max;
	// The head went again (its copy lost, rexmits_lost()): the timer runs
	// a whole RTO from this copy, as Linux re-arms it for the head in
	// tcp_xmit_retransmit_queue(). Left running from the first copy, it
	// expired before this one's ACK could come back: a spurious RTO.
	if (seq == tcb->snd_una && sent > 0)
		tcb->rto_at_ns = now_ns + (uint64_t)tcb->rto_us * 1000;
}

uint32_t tcp_sack_bytes(const struct cee_tcb *tcb, const struct cee_tcp_xmit *x)
{
	return sacked_below(x, tcb->snd_max); /* (none is SACKed beyond SND.MAX) */
}

void tcp_prr_ack(struct cee_tcp_xmit *x, uint32_t delivered, bool safe)
{
	x->prr_delivered += delivered;
	x->prr_last = delivered;
	x->prr_safe = safe;
}

/* RFC 9937: the bytes PRR lets go now (sndcnt), @p p being pipe. */
static uint32_t prr_sndcnt(const struct cee_tcb *tcb, const struct cee_tcp_xmit *x, uint32_t p)
{
	int64_t n;
	if (p > tcb->ssthresh) {
		// proportional: ceil(prr_delivered * ssthresh / RecoverFS) -
		// prr_out; never more than delivered (a RecoverFS below ssthresh,
		// a small pipe as recovery began, whose rounding put pipe above
		// ssthresh since, would have sent a burst)
		uint64_t fs = max_u32(x->recover_fs, tcb->ssthresh);
		n = (int64_t)(((uint64_t)x->prr_delivered * tcb->ssthresh + fs - 1) / fs) -
		    (int64_t)x->prr_out;
	} else {
		// PRR-CRB: what was delivered and not yet answered, at least this
		// ACK's; PRR-SSRB: an MSS more when recovery goes well; up to ssthresh
		n = (int64_t)x->prr_delivered - (int64_t)x->prr_out;
		if (n < (int64_t)x->prr_last)
			n = x->prr_last;
		if (x->prr_safe)
			n += tcb->snd_mss;
		if (n > (int64_t)(tcb->ssthresh - p))
			n = tcb->ssthresh - p;
	}
	return n > 0 ? (uint32_t)min_u64((uint64_t)n, UINT32_MAX) : 0;
}

bool tcp_sack_enter(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, struct cee_tcp_xmit *x,
		    uint64_t now_ns)
{
	// RFC 6675 5 / RFC 6582 3.2: not for the window already recovered; the
	// first byte sent after it (SND.UNA = recover) is a new window's
	if (x->in_recovery || !seq_geq(tcb->snd_una, x->recover))
		return false;
	if (x->dupacks < DUPTHRESH && lost_edge(tcb, x) == tcb->snd_una)
		return false;
	ctx->stats.fast_retransmits++;
	ctx->stats.sack_recoveries++;
	// not for a loss in a flight the window was reduced for already (a
	// tail-loss probe's response: Linux goes from CWR to Recovery
	// without a second cut)
	if (!seq_lt(tcb->snd_una, x->cut_end)) {
		tcb->ssthresh = tcp_cc_loss_ssthresh(ctx, tcb);
		tcb->cwnd = tcb->ssthresh;
	}
	x->recover = tcb->snd_max;
	x->cut_end = tcb->snd_max;
	x->in_recovery = CEE_TCP_REC_SACK;
	x->dupacks = 0;
	x->ca_acked = 0;
	x->high_rxt = tcb->snd_una;
	// PRR (RFC 9937): RecoverFS is pipe as recovery begins; this ACK's
	// DeliveredData is counted after (tcp_prr_ack()), the resend below in
	// prr_out
	x->recover_fs = pipe(tcb, x);
	x->prr_delivered = 0;
	x->prr_out = 0;
	x->prr_last = 0;
	x->prr_safe = 0;
	// RFC 6675 5 (4.3): the first lost segment goes at once, whatever pipe says
	uint32_t seq, len;
	if (!next_lost(tcb, x, &seq, &len)) {
		seq = tcb->snd_una;
		len = tcp_sack_clip(x, seq, tcb->snd_mss);
	}
	tcp_resend_hole(ctx, tcb, x, seq, len, now_ns);
	ctx->stats.sack_rexmits++;
	tcp_recovery_rearm(tcb, x, now_ns);
	return true;
}

/*
 * Lost retransmissions (RFC 8985 6.2's rule, by sequence instead of time):
 * more than DupThresh - 1 segments' worth SACKed among data first sent
 * after the last hole was resent (beyond rxt_mark), while resent holes are
 * still unacknowledged, says those copies were lost too (they left before,
 * and the path does not reorder that much). NextSeg starts over from
 * SND.UNA; pipe no longer counts them. RFC 6675 alone leaves a lost
 * retransmission to the RTO (wan.sh loss1: the one RTO left in most runs).
 * The window is not cut again: this is the same loss episode.
 */
static void rexmits_lost(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, struct cee_tcp_xmit *x)
{
	if (!seq_gt(x->high_rxt, tcb->snd_una))
		return; /* no resent bytes outstanding */
	uint32_t after = 0;
	for (unsigned i = 0; i < x->nsacked; i++) {
		const struct cee_tcp_sack *r = &x->sacked[i];
		if (seq_gt(r->end, x->rxt_mark))
			after += r->end - (seq_gt(r->start, x->rxt_mark) ? r->start : x->rxt_mark);
	}
	if (after <= (DUPTHRESH - 1) * tcb->snd_mss)
		return;
	ctx->stats.lost_rexmits++;
	x->high_rxt = tcb->snd_una;
	x->rxt_mark = tcb->snd_max;
}

void tcp_sack_output(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, struct cee_tcp_xmit *x,
		     uint64_t now_ns)
{
	rexmits_lost(ctx, tcb, x);
	uint32_t sndcnt = prr_sndcnt(tcb, x, pipe(tcb, x));
	x->prr_last = 0; // this ACK's share is taken: a later call has only what is left
	x->prr_safe = 0;
	uint32_t out0 = x->prr_out;
	while (x->prr_out - out0 < sndcnt) {
		uint32_t seq, len;
		if (next_lost(tcb, x, &seq, &len)) {
			tcp_resend_hole(ctx, tcb, x, seq, len, now_ns);
			ctx->stats.sack_rexmits++;
			continue;
		}
		// rule 2: new data the peer's window allows
		uint32_t right = tcb->snd_una + tcb->snd_wnd;
		uint32_t usable = seq_lt(tcb->snd_nxt, right) ? right - tcb->snd_nxt : 0;
		uint32_t nxt = tcb->snd_nxt;
		if (!tcp_send_new(ctx, tcb, now_ns, usable) || tcb->snd_nxt == nxt)
			return;
		x->prr_out += tcb->snd_nxt - nxt;
	}
}
