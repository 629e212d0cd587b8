/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * TCP deadlines. One per tcb, min(rto_at_ns, idle_at_ns); ops->timer_set()
 * is called only when it changes.
 *
 * rto_at_ns is the retransmission timer (RFC 6298 5) and, when the peer's
 * window is 0 with data queued, the persist timer (RFC 9293 3.8.6.1).
 *   On expiry: go-back-N (snd_nxt = snd_una) with the congestion window at
 *   one MSS (cee_tcp_cc.c), so one segment goes out and slow start paces
 *   the rest. Give-up after cfg.max_retries
 *   (synack_retries in SYN-SENT and SYN-RECEIVED) retransmissions. RFC
 *   6298 5.7: after a lost SYN or SYN-ACK with no sample, data starts with
 *   an RTO of 3 s (synced()). With a zero window, one byte is sent
 *   beyond it instead (zero_window_probes); with a sliver of window too
 *   small for the segment, what it takes (sws_overrides). Any ACK that
 *   leaves the window at 0 resets the retry count, so only an unresponsive
 *   peer is given up on by retries; a responsive one that keeps the window
 *   shut (0, or a sliver: tcp_wnd_shut()) is reset after
 *   cfg.persist_timeout_ns from when the window shut on queued data
 *   (zero_window_timeout), on time: its end is a deadline of its own. Only
 *   a window that takes a segment again, and a segment's worth (or all
 *   we had) acknowledged, starts that clock over.
 *
 * user_at_ns is the owner's deadline (cee_tcp_set_deadline, e.g. a TLS
 * handshake limit, WebSocket pings): ops->deadline runs, or the connection
 * aborts with the owner's reason, in any state.
 *
 * idle_at_ns means, by state:
 *   SYN-SENT, SYN-RECEIVED
 *                  open_ns + handshake_timeout_ns -> abort, handshake_timeout;
 *   ESTABLISHED, CLOSE-WAIT, FIN-WAIT-1, CLOSING, LAST-ACK:
 *                  last_activity_ns + idle_timeout_ns (link_idle_timeout_ns
 *                  with CEE_TCB_O_LINK_IDLE; 0 = none). Activity is
 *                  a segment in with payload or FIN that passed the
 *                  acceptability test, or new payload / our first FIN out
 *                  (not retransmissions or probes). ESTABLISHED without a
 *                  FIN queued -> graceful close with idle_timeout (one more
 *                  idle period to finish it); otherwise -> abort;
 *                  With keepalive (cfg.keepalive_idle_ns), ESTABLISHED with
 *                  nothing in flight: also the next keepalive probe, at
 *                  max(last_activity_ns, peer_at_ns) + idle + probes *
 *                  interval; after keepalive_count probes -> abort,
 *                  keepalive_timeout (RFC 9293 3.8.4);
 *   FIN-WAIT-2     entry + fin_wait_2_ns (0 = none), never restarted (new
 *                  data after our close resets at once: abort_on_data)
 *                  -> abort (RST);
 *   TIME-WAIT      entry + time_wait_ns, restarted by the peer's FIN sent
 *                  again (exactly at RCV.NXT - 1; any other FIN is out of
 *                  window and changes nothing) -> destroyed. A RST at RCV.NXT in TIME-WAIT destroys at
 *                  once (RFC 9293; no RFC 1337 protection).
 */
#include "cee_tcp_priv.h"

/*
 * RFC 8985 7.2 (TLP): with SACK, data in flight and no recovery running, the
 * first expiry is a probe timeout: 2 SRTT (plus a delayed ACK's 200 ms when
 * a single segment is out), at least 10 ms, at most the RTO. A lost last
 * segment of a flight draws no duplicate ACK; the probe makes the peer's
 * SACK show it, and SACK recovery repairs it instead of an RTO.
 */
/*
 * The timer's interval while the window is shut: the RTO doubled for each
 * probe of this shut window (RFC 9293 3.8.6.1), up to rto_max. The RTO
 * itself stays: doubled by the probes (a minute after eight), it timed the
 * first loss after the window opened, and stayed until an RTT sample.
 */
static uint64_t probe_ns(const struct cee_tcp_ctx *ctx, const struct cee_tcb *tcb)
{
	uint64_t rto = (uint64_t)tcb->rto_us * 1000;
	const struct cee_tcp_xmit *x = tcp_xmit_if(ctx, tcb);
	unsigned b = x != NULL ? x->zw_backoff : 0;

	return b == 0 ? rto : min_u64(rto << min_u32(b, 20), max_u64(ctx->cfg.rto_max_ns, rto));
}

static uint64_t pto_ns(const struct cee_tcp_ctx *ctx, struct cee_tcb *tcb)
{
	uint64_t rto = (uint64_t)tcb->rto_us * 1000;

	// a single segment out waits for a delayed ACK too (+200 ms): never before the
	// RTO's 200 ms floor, so not worth computing (the common request-response case);
	// and no probe into a shut window: it would resend a whole segment past it
	if (tcb->snd_max - tcb->snd_una <= tcb->snd_mss || !(tcb->flags & CEE_TCB_F_SACK) ||
	    tcb->srtt_us == 0 || tcb->retries || tcb->sb == NULL || tcp_wnd_shut(ctx, tcb))
		return tcb->sb != NULL && tcp_wnd_shut(ctx, tcb) ? probe_ns(ctx, tcb) : rto;
	uint64_t pto = 2 * (uint64_t)tcb->srtt_us * 1000;
	if (pto < 10000000ull)
		pto = 10000000ull;
	if (pto >= rto)
		return rto; /* (a short path: the recovery state is not even touched) */
	struct cee_tcp_xmit *x = tcp_xmit(ctx, tcb);
	if (x->in_recovery || x->tlp)
		return rto;
	x->tlp = CEE_TCP_TLP_ARMED;
	return pto;
}

void tcp_zw_start(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, struct cee_tcp_xmit *x,
		  uint64_t now_ns)
{
	x->zw_since_ns = now_ns != 0 ? now_ns : 1; /* 0 means open: a clock at 0 (a test's) */
	x->zw_una = tcb->snd_una;
	x->zw_next = NULL;
	x->zw_prev = ctx->zw_tail;
	if (ctx->zw_tail != NULL)
		tcp_xmit_if(ctx, ctx->zw_tail)->zw_next = tcb;
	else
		ctx->zw_head = tcb;
	ctx->zw_tail = tcb;
}

void tcp_zw_stop(struct cee_tcp_ctx *ctx, struct cee_tcp_xmit *x)
{
	if (x->zw_since_ns == 0)
		return;
	x->zw_since_ns = 0;
	if (x->zw_prev != NULL)
		tcp_xmit_if(ctx, x->zw_prev)->zw_next = x->zw_next;
	else
		ctx->zw_head = x->zw_next;
	if (x->zw_next != NULL)
		tcp_xmit_if(ctx, x->zw_next)->zw_prev = x->zw_prev;
	else
		ctx->zw_tail = x->zw_prev;
	x->zw_prev = x->zw_next = NULL;
}

bool cee_tcp_evict_zero_window(struct cee_tcp_ctx *ctx, uint64_t min_ns, uint64_t now_ns)
{
	struct cee_tcb *tcb = ctx->zw_head;
	if (tcb == NULL || now_ns - tcp_xmit_if(ctx, tcb)->zw_since_ns < min_ns ||
	    (tcb->uflags & CEE_TCB_U_BUSY))
		return false;
	ctx->stats.zw_evicted++;
	tcp_abort_conn(ctx, tcb, CEE_REASON_ZERO_WINDOW_TIMEOUT, now_ns);
	return true;
}

bool cee_tcp_evict_stalled(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint64_t now_ns)
{
	struct cee_tcp_xmit *x = tcp_xmit_if(ctx, tcb);
	if (x == NULL || tcb->retries < CEE_TCP_STALL_RETRIES || x->zw_since_ns != 0 ||
	    tcb->snd_una == tcb->snd_max || (tcb->uflags & CEE_TCB_U_BUSY) ||
	    tcb->state == CEE_TCP_SYN_SENT || tcb->state == CEE_TCP_SYN_RECEIVED)
		return false;
	ctx->stats.stall_evicted++;
	tcp_abort_conn(ctx, tcb, CEE_REASON_RETRANSMIT_TIMEOUT, now_ns);
	return true;
}

bool cee_tcp_renege(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb)
{
	struct cee_tcp_xmit *x = tcp_xmit_if(ctx, tcb);
	if (x == NULL || tcb->sb_len != 0 || x->ooo_n == 0 || (tcb->uflags & CEE_TCB_U_BUSY))
		return false;
	x->ooo_n = 0;
	x->ooo_fin = 0;
	tcp_free_sb(ctx, tcb);
	ctx->stats.ooo_reneged++;
	return true;
}

void tcp_arm_rto(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint64_t now_ns)
{
	bool inflight = tcb->snd_una != tcb->snd_max;
	bool persist = tcb->snd_wnd == 0 && tcp_unsent_bytes(tcb) > 0;
	// data held back by sender SWS avoidance with nothing in flight: the
	// same clock is its override timeout (RFC 9293 3.8.6.2.1 (4))
	bool sws = !inflight && !persist && tcp_sws_stalled(ctx, tcb);

	// The persist clock starts when the window shuts on queued data (0, or a
	// sliver that cannot take a segment: tcp_wnd_short()): that is how long
	// the peer has held our buffer (--persist-timeout), and the order in
	// which buffers are taken back under pressure. Only a window that takes
	// a segment again stops it; slivers offered meanwhile do not.
	// A peer whose whole window is below a segment (SWS rule 3 does not
	// call it shut) holds our buffer as well: the clock runs for it too,
	// and for either a segment's worth taken since it started starts it
	// over. (One byte offered and one taken a minute held a buffer for
	// good: no clock, no eviction, each byte reset the retry count.)
	struct cee_tcp_xmit *zx = NULL;
	if (tcb->sb != NULL) {
		if (tcp_wnd_short(ctx, tcb)) {
			zx = tcp_xmit(ctx, tcb);
			if (zx->zw_since_ns != 0 && tcb->snd_una - zx->zw_una >= tcb->snd_mss)
				tcp_zw_stop(ctx, zx); /* progress: to the list's tail */
			if (zx->zw_since_ns == 0)
				tcp_zw_start(ctx, tcb, zx, now_ns);
		} else if (ctx->zw_head != NULL && (zx = tcp_xmit_if(ctx, tcb)) != NULL) {
			// (the list empty: no clock runs anywhere) A window that
			// takes a segment stops the clock once the peer has taken
			// something: a segment's worth acknowledged since it
			// started, or all we had. A peer that opened its window,
			// dropped what came and shut it again (every 100 s) held
			// our buffer for good: each opening started the clock over
			// and put it last in the eviction order.
			if (zx->zw_since_ns == 0 || tcb->snd_una - zx->zw_una >= tcb->snd_mss ||
			    (tcb->snd_una == tcb->snd_max && tcp_unsent_bytes(tcb) == 0))
				tcp_zw_stop(ctx, zx);
			zx = NULL;
		}
		struct cee_tcp_xmit *bx;
		if (!tcp_wnd_shut(ctx, tcb) && (bx = tcp_xmit_if(ctx, tcb)) != NULL &&
		    bx->zw_backoff != 0) {
			// the window opened: probes start over, and the backed-off
			// deadline goes (a window update that does not acknowledge
			// the probe byte, as Linux sends after dropping it, left it
			// timing the resent data: up to rto_max)
			bx->zw_backoff = 0;
			tcb->rto_at_ns = 0;
		}
	}

	// RFC 6298 5.1; RFC 9293 3.8.6.1 persist timer; RFC 8985 7.2 probe timeout
	if (inflight || persist || sws) {
		// A deadline armed for a shut window or held-back data does not
		// time data sent since: a window that opened (or an SWS override
		// that sent) before that deadline left it timing the new flight,
		// often less than an RTT away: a spurious timeout (cwnd to one
		// segment, the RTO doubled, the flight resent)
		if (inflight && !persist && (tcb->aflags & CEE_TCB_A_RTO_IDLE))
			tcb->rto_at_ns = 0;
		if (tcb->rto_at_ns == 0) {
			tcb->rto_at_ns = now_ns + (persist ? probe_ns(ctx, tcb)
						   : sws   ? (uint64_t)tcb->rto_us * 1000
							   : pto_ns(ctx, tcb));
			if (persist || sws)
				tcb->aflags |= CEE_TCB_A_RTO_IDLE;
			else
				tcb->aflags &= (uint8_t)~CEE_TCB_A_RTO_IDLE;
		}
		// The persist clock's end is a deadline of its own: the probe
		// interval doubles up to a minute, which would make
		// zero_window_timeout up to that late.
		if (zx != NULL && ctx->cfg.persist_timeout_ns != 0 &&
		    zx->zw_since_ns + ctx->cfg.persist_timeout_ns < tcb->rto_at_ns)
			tcb->rto_at_ns = zx->zw_since_ns + ctx->cfg.persist_timeout_ns;
	} else {
		tcb->rto_at_ns = 0; // RFC 6298 5.2
	}
}

// The idle limit that applies to tcb, 0 = none.
static inline uint64_t idle_ns(const struct cee_tcp_ctx *ctx, const struct cee_tcb *tcb)
{
	return (tcb->oflags & CEE_TCB_O_LINK_IDLE) ? ctx->cfg.link_idle_timeout_ns
						   : ctx->cfg.idle_timeout_ns;
}

/*
 * RFC 9293 3.8.4: when the next keepalive probe (or, after the last one,
 * the give-up) is due; 0 when keepalive is off or does not apply (not
 * ESTABLISHED, or data in flight: the retransmission timer watches the
 * peer then).
 */
static uint64_t keepalive_at(const struct cee_tcp_ctx *ctx, const struct cee_tcb *tcb)
{
	if (ctx->cfg.keepalive_idle_ns == 0 || !(tcb->oflags & CEE_TCB_O_KEEPALIVE) ||
	    tcb->state != CEE_TCP_ESTABLISHED || tcb->snd_una != tcb->snd_max)
		return 0;
	uint64_t heard = tcb->peer_at_ns > tcb->last_activity_ns ? tcb->peer_at_ns
								 : tcb->last_activity_ns;
	return heard + ctx->cfg.keepalive_idle_ns + tcb->ka_probes * ctx->cfg.keepalive_intvl_ns;
}

void tcp_update_timer(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb)
{
	switch ((enum cee_tcp_state)tcb->state) {
	case CEE_TCP_SYN_SENT:
	case CEE_TCP_SYN_RECEIVED:
		tcb->idle_at_ns = ctx->cfg.handshake_timeout_ns
				      ? tcb->open_ns + ctx->cfg.handshake_timeout_ns
				      : 0;
		break;
	case CEE_TCP_ESTABLISHED:
	case CEE_TCP_CLOSE_WAIT:
	case CEE_TCP_FIN_WAIT_1:
	case CEE_TCP_CLOSING:
	case CEE_TCP_LAST_ACK:
		tcb->idle_at_ns = idle_ns(ctx, tcb); /* 0: none */
		if (tcb->idle_at_ns != 0)
			tcb->idle_at_ns += tcb->last_activity_ns;
		if (__builtin_expect(tcb->oflags & CEE_TCB_O_KEEPALIVE, 0)) {
			uint64_t ka = keepalive_at(ctx, tcb);
			if (ka != 0 && (tcb->idle_at_ns == 0 || ka < tcb->idle_at_ns))
				tcb->idle_at_ns = ka;
		}
		break;
	case CEE_TCP_FIN_WAIT_2:
	case CEE_TCP_TIME_WAIT:
		break; /* set on entry */
	case CEE_TCP_CLOSED:
	case CEE_TCP_STATE__COUNT:
		return;
	}

	uint64_t at = tcb->rto_at_ns;
	if (tcb->idle_at_ns != 0 && (at == 0 || tcb->idle_at_ns < at))
		at = tcb->idle_at_ns;
	if (tcb->user_at_ns != 0 && (at == 0 || tcb->user_at_ns < at))
		at = tcb->user_at_ns;
	if (at != tcb->timer_at_ns) {
		tcb->timer_at_ns = at;
		ctx->ops->timer_set(ctx->owner, tcb, at);
	}
}

/* RFC 6298 5.4-5.7. @return true when the tcb was destroyed. */
static bool rto_expired(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint64_t now_ns, bool *probe)
{
	bool handshake = tcb->state == CEE_TCP_SYN_RECEIVED || tcb->state == CEE_TCP_SYN_SENT;
	uint32_t limit = handshake ? ctx->cfg.synack_retries : ctx->cfg.max_retries;

	tcb->rto_at_ns = 0;
	if (tcb->snd_una == tcb->snd_max && tcp_unsent_bytes(tcb) == 0)
		return false; /* nothing to do (stale deadline) */
	// a window shut on our data for too long (the clock runs only while
	// tcp_wnd_short(): tcp_arm_rto() starts and stops it)
	struct cee_tcp_xmit *x = tcp_xmit_if(ctx, tcb);
	if (!handshake && x != NULL && x->zw_since_ns != 0 && ctx->cfg.persist_timeout_ns != 0 &&
	    now_ns - x->zw_since_ns >= ctx->cfg.persist_timeout_ns) {
		tcp_abort_conn(ctx, tcb, CEE_REASON_ZERO_WINDOW_TIMEOUT, now_ns);
		return true;
	}
	if (!handshake && tcb->snd_una == tcb->snd_max && tcp_sws_stalled(ctx, tcb)) {
		// the override timeout of data held back by sender SWS avoidance
		// (RFC 9293 3.8.6.2.1 (4)): output() sends what the window takes; not
		// a loss, so no backoff and no congestion response
		*probe = true;
		return false;
	}
	// A shut window (0, or a sliver too small for the segment to resend):
	// a probe, not a loss (below)
	bool shut = !handshake && (tcb->snd_wnd == 0 || tcp_wnd_shut(ctx, tcb));
	// (or the episode of the last probe still open: one at a time, RFC 8985 7.3)
	if (x != NULL && x->tlp == CEE_TCP_TLP_ARMED && (shut || x->in_recovery || x->tlp_rxt)) {
		// shut, or in loss recovery, since the probe timer was set (RFC 8985
		// 7.2: no probe in recovery): this expiry is the RTO's (a probe here
		// had put the RTO of a recovery that stalled off by one RTO)
		x->tlp = CEE_TCP_TLP_SENT;
		x->tlp_seq = tcb->snd_una; // no probe went: none can come back SACKed
	}
	if (x != NULL && x->tlp == CEE_TCP_TLP_ARMED) {
		// RFC 8985 7.3: the probe: new data if the windows allow, else the
		// last segment again; then the timer is the RTO (no backoff, no cwnd change)
		x->tlp = CEE_TCP_TLP_SENT;
		ctx->stats.tlp_probes++;
		uint32_t right = tcb->snd_una + tcb->snd_wnd;
		x->tlp_seq = tcb->snd_nxt;
		if (!(tcp_unsent_bytes(tcb) > 0 && seq_lt(tcb->snd_nxt, right) &&
		      tcp_send_new(ctx, tcb, now_ns, min_u32(right - tcb->snd_nxt, tcb->snd_mss)))) {
			// a resend: its episode is open (RFC 8985 7.4.2) until an
			// ACK passes TLP.end_seq (SND.NXT now) with no D-SACK for
			// it (a loss it repaired), or a D-SACK or a pure duplicate
			// ACK at it shows the original arrived too
			x->tlp_rxt = 1;
			x->tlp_end = tcb->snd_nxt;
			uint32_t data_end = tcb->snd_una + tcb->sb_len; /* before a FIN */
			uint32_t end = seq_lt(data_end, tcb->snd_max) ? data_end : tcb->snd_max;
			uint32_t len = min_u32(end - tcb->snd_una, tcb->snd_mss);
			x->tlp_seq = end - len;
			if (len == 0) /* only a FIN out: send it again */
				tcp_retransmit_at(ctx, tcb, tcb->snd_una, tcb->snd_mss, now_ns);
			else
				tcp_retransmit_at(ctx, tcb, end - len, len, now_ns);
		}
		tcb->rto_at_ns = now_ns + (uint64_t)tcb->rto_us * 1000;
		return false;
	}
	if (tcb->retries >= min_u32(limit, UINT8_MAX)) {
		tcp_abort_conn(ctx, tcb,
			       handshake ? CEE_REASON_HANDSHAKE_TIMEOUT
					 : CEE_REASON_RETRANSMIT_TIMEOUT,
			       now_ns);
		return true;
	}
	// A shut window: no congestion response. At 0, one byte past the
	// window; into a sliver, what it takes from SND.UNA (as Linux's
	// tcp_retransmit_skb()): held back by SWS avoidance, the resend would
	// never leave.
	*probe = shut;
	if (!handshake && !*probe)
		tcp_cc_on_rto(ctx, tcb); /* before retries moves: eq. 4 on the first expiry only */
	tcb->retries++;
	if (*probe && tcb->sb != NULL) {
		// a probe: its own interval doubles (probe_ns()), not the RTO
		struct cee_tcp_xmit *px = tcp_xmit(ctx, tcb);
		if (px->zw_backoff < UINT8_MAX)
			px->zw_backoff++;
	} else {
		uint64_t rto = min_u64((uint64_t)tcb->rto_us * 2000, ctx->cfg.rto_max_ns); // 5.5
		tcb->rto_us = (uint32_t)min_u64(rto / 1000, UINT32_MAX);
	}
	tcp_rtt_cancel(tcb);                   // Karn
	tcp_rewind(ctx, tcb);		       // 5.4, go-back-N (paced by cwnd = 1 MSS)
	return false;
}

/* idle_at_ns passed; its meaning depends on the state. @return true when destroyed. */
static bool deadline_expired(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint64_t now_ns)
{
	switch ((enum cee_tcp_state)tcb->state) {
	case CEE_TCP_SYN_SENT:
	case CEE_TCP_SYN_RECEIVED:
		tcp_abort_conn(ctx, tcb, CEE_REASON_HANDSHAKE_TIMEOUT, now_ns);
		return true;
	case CEE_TCP_ESTABLISHED: {
		uint64_t ka = keepalive_at(ctx, tcb);
		if (ka != 0 && now_ns >= ka) {
			if (tcb->ka_probes >= ctx->cfg.keepalive_count) {
				tcp_abort_conn(ctx, tcb, CEE_REASON_KEEPALIVE_TIMEOUT, now_ns);
				return true;
			}
			tcp_send_keepalive(ctx, tcb, now_ns);
			tcb->ka_probes++;
			// the next one INTERVAL after this one, even when this one went
			// late (a stalled shard must not send the rest back to back and
			// give up before the peer could answer): the baseline moves
			uint64_t back = ctx->cfg.keepalive_idle_ns +
					(tcb->ka_probes - 1) * ctx->cfg.keepalive_intvl_ns;
			if (now_ns > back && now_ns - back > tcb->peer_at_ns)
				tcb->peer_at_ns = now_ns - back;
			return false;
		}
		if (idle_ns(ctx, tcb) == 0 || now_ns < tcb->last_activity_ns + idle_ns(ctx, tcb))
			return false; /* not the idle timeout (keepalive's, moved meanwhile) */
		if (!(tcb->flags & CEE_TCB_F_FIN_QUEUED)) {
			if (ctx->ops->closing != NULL) // the owner's last words go before our FIN
				ctx->ops->closing(ctx->owner, tcb, CEE_REASON_IDLE_TIMEOUT);
			if (tcp_abort_requested(tcb))
				return false; /* the running call aborts when it leaves */
			tcp_local_close(tcb, CEE_REASON_IDLE_TIMEOUT);
			tcb->last_activity_ns = now_ns; /* one more idle period to finish */
			return false;
		}
		tcp_abort_conn(ctx, tcb, CEE_REASON_IDLE_TIMEOUT, now_ns);
		return true;
	}
	case CEE_TCP_CLOSE_WAIT:
	case CEE_TCP_FIN_WAIT_1:
	case CEE_TCP_CLOSING:
	case CEE_TCP_LAST_ACK:
		tcp_abort_conn(ctx, tcb, CEE_REASON_IDLE_TIMEOUT, now_ns);
		return true;
	case CEE_TCP_FIN_WAIT_2:
	case CEE_TCP_TIME_WAIT:
		tcp_abort_conn(ctx, tcb, CEE_REASON_LOCAL_CLOSE, now_ns); /* reason set already */
		return true;
	case CEE_TCP_CLOSED:
	case CEE_TCP_STATE__COUNT:
		break;
	}
	tcb->idle_at_ns = 0;
	return false;
}

bool tcp_timer_expired(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint64_t now_ns,
		       bool *probe)
{
	*probe = false;
	if (tcb->user_at_ns != 0 && now_ns >= tcb->user_at_ns) {
		// the owner's deadline (cee_tcp_set_deadline): its callback acts,
		// or without one the connection aborts with the deadline's reason
		tcb->user_at_ns = 0;
		if (ctx->ops->deadline == NULL) {
			tcp_abort_conn(ctx, tcb, (enum cee_reason)tcb->user_reason, now_ns);
			return true;
		}
		ctx->ops->deadline(ctx->owner, tcb);
		if (tcp_abort_requested(tcb))
			return false; /* the running call aborts when it leaves */
	}
	if (tcb->rto_at_ns != 0 && now_ns >= tcb->rto_at_ns) {
		if (rto_expired(ctx, tcb, now_ns, probe))
			return true;
	}
	if (tcb->idle_at_ns != 0 && now_ns >= tcb->idle_at_ns) {
		if (deadline_expired(ctx, tcb, now_ns))
			return true;
	}
	// the owner's timer is spent: make update_timer re-arm even an unchanged deadline
	if (tcb->timer_at_ns != 0 && now_ns >= tcb->timer_at_ns)
		tcb->timer_at_ns = 0;
	return false;
}
