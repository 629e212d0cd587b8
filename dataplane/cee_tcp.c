/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * TCP per RFC 9293, sans I/O (see cee_tcp.h for the contract): the state
 * machine, opens, user calls and re-entrancy. Segment arrival is in
 * cee_tcp_input.c, output in cee_tcp_output.c, deadlines in cee_tcp_timer.c,
 * SYN options in cee_tcp_opt.c (cee_tcp_priv.h lists the parts).
 *
 * - State: tcp_set_state() is the only writer of tcb->state. It checks every
 *   transition against transition_ok[][] (abort() on an illegal one: a bug)
 *   and is the only place that reports lifecycle events:
 *     open         CLOSED -> SYN-RECEIVED (passive) or SYN-SENT (active);
 *     established  entering ESTABLISHED;
 *     closed       once (CEE_TCB_F_CLOSED), when the connection can carry no
 *                  more data either way: entering LAST-ACK, CLOSING or
 *                  TIME-WAIT, or entering CLOSED without having reported it
 *                  (RST, timeouts, abort); bytes_in/bytes_out are final then;
 *     destroyed    entering CLOSED, always after closed, after the timer was
 *                  cleared (timer_set(0)) and the send buffer freed. The tcb
 *                  is never touched afterwards: every internal path that can
 *                  destroy returns true (or STEP_GONE) and its callers
 *                  return at once.
 * - close_reason is the first cause, written once (tcp_set_reason()): a
 *   later RST in FIN-WAIT-1 after our close still reports local_close.
 * - We stay in ESTABLISHED / CLOSE-WAIT while queued data drains after a
 *   close and move to FIN-WAIT-1 / LAST-ACK when the FIN is actually sent
 *   (RFC 9293 3.10.4 queues the FIN "until all preceding SENDs have been
 *   segmentized"), so that closed (on LAST-ACK) carries the final bytes_out.
 * - Active open (RFC 9293 3.10.4, 3.10.7.3): SYN with MSS and window scale
 *   (always offered; used only if the SYN-ACK has it too); a window on the
 *   scale grid. SYN-SENT takes: a bad ACK -> <SEQ=SEG.ACK><CTL=RST> (none to
 *   a RST), counted in bad_ack; a RST only with an acceptable ACK (peer_rst),
 *   else bad_rst; a SYN-ACK -> ESTABLISHED and an ACK; a SYN without ACK
 *   (simultaneous open) -> SYN-RECEIVED and a SYN-ACK by the passive path,
 *   which then takes the peer's SYN-ACK (same IRS, our SYN acked) or a plain
 *   ACK to ESTABLISHED. The SYN is resent per RFC 6298 up to synack_retries
 *   times and the handshake deadline applies, both -> handshake_timeout with
 *   no segment (nothing synchronised); close/abort in SYN-SENT send nothing.
 *   CEE_TCB_U_ACTIVE marks the role; from ESTABLISHED on, both roles run
 *   the same code (the active closer ends in TIME-WAIT either way).
 * - App service: the owner sends with cee_tcp_send() (send buffer taken at
 *   the first send, given back when empty and acked, as for echo).
 * - Re-entrancy (see enter()/leave()): the owner may call send, close and
 *   abort on the tcb from its lifecycle and recv callbacks; such calls only
 *   record their effect while a call is running (CEE_TCB_U_BUSY), and the
 *   running call sends, or stops and aborts, when the callback returns. So
 *   nothing is destroyed under a caller, and nothing is reported after
 *   destroyed.
 * - Aborts follow RFC 9293 3.10.5: RST <SEQ=SND.MAX><ACK=RCV.NXT> in
 *   SYN-RECEIVED, ESTABLISHED, FIN-WAIT-1/2 and CLOSE-WAIT; none in CLOSING,
 *   LAST-ACK and TIME-WAIT. SND.MAX rather than SND.NXT: they differ only
 *   after a go-back-N rewind, and SND.MAX is never left of the peer's RCV.NXT.
 * - Close in SYN-RECEIVED queues the FIN; it goes out after the handshake
 *   (the handshake deadline still bounds it).
 */
#include <stdlib.h>
#include <string.h>

#include "cee_tcp_priv.h"

#define X_STR(e, s) [CEE_TCP_##e] = s,
static const char *const state_names[] = {CEE_TCP_STATE_LIST(X_STR)};
#undef X_STR

const char *cee_tcp_state_str(enum cee_tcp_state s)
{
	return (unsigned)s < CEE_TCP_STATE__COUNT ? state_names[s] : "?";
}

void cee_tcp_cfg_default(struct cee_tcp_cfg *c)
{
	*c = (struct cee_tcp_cfg){
	    .mss = 1460,
	    .rcv_wscale = 7,
	    .sndbuf = 65536,
	    .sndbuf_max = 0,
	    .sack = true,
	    .timestamps = true,
	    .grow_rtt_us = 1000,
	    .rcv_wnd = 65535,
	    .ooo_max_segs = CEE_TCP_OOO_MAX,
	    .rto_initial_ns = 1000000000ull,
	    .rto_min_ns = 200000000ull,
	    .rto_max_ns = 60000000000ull,
	    .max_retries = 8,
	    .synack_retries = 5,
	    .handshake_timeout_ns = 10000000000ull,
	    .idle_timeout_ns = 0,
	    .time_wait_ns = 60000000000ull,
	    .fin_wait_2_ns = 60000000000ull,
	    .challenge_ack_limit = 2000,
	    .oow_ack_interval_ns = 500000000ull,
	    .persist_timeout_ns = 120000000000ull,
	};
}

/*
 * Legal transitions (RFC 9293 3.3.2 figure 5, plus -> CLOSED from every
 * state for RST, timeouts and aborts).
 */
#define T(from, to) [CEE_TCP_##from][CEE_TCP_##to] = true
// clang-format off
static const bool transition_ok[CEE_TCP_STATE__COUNT][CEE_TCP_STATE__COUNT] = {
	T(CLOSED, SYN_SENT), T(CLOSED, SYN_RECEIVED),
	T(SYN_SENT, SYN_RECEIVED), T(SYN_SENT, ESTABLISHED), T(SYN_SENT, CLOSED),
	T(SYN_RECEIVED, ESTABLISHED), T(SYN_RECEIVED, FIN_WAIT_1), T(SYN_RECEIVED, CLOSED),
	T(ESTABLISHED, FIN_WAIT_1), T(ESTABLISHED, CLOSE_WAIT), T(ESTABLISHED, CLOSED),
	T(FIN_WAIT_1, FIN_WAIT_2), T(FIN_WAIT_1, CLOSING), T(FIN_WAIT_1, TIME_WAIT), T(FIN_WAIT_1, CLOSED),
	T(FIN_WAIT_2, TIME_WAIT), T(FIN_WAIT_2, CLOSED),
	T(CLOSE_WAIT, LAST_ACK), T(CLOSE_WAIT, CLOSED),
	T(CLOSING, TIME_WAIT), T(CLOSING, CLOSED),
	T(LAST_ACK, CLOSED),
	T(TIME_WAIT, CLOSED),
};
// clang-format on
#undef T

static void report_closed(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb)
{
	if (tcb->flags & CEE_TCB_F_CLOSED)
		return;
	tcb->flags |= CEE_TCB_F_CLOSED;
	ctx->ops->lifecycle(ctx->owner, tcb, CEE_EVT_CLOSED);
}

/* A destroyed connection leaves the delayed-ACK queue (its slot may open another one). */
static void ackq_remove(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb)
{
	for (uint32_t i = 0; i < ctx->ackq_n; i++)
		if (ctx->ackq[i] == tcb) {
			ctx->ackq[i] = ctx->ackq[--ctx->ackq_n];
			break;
		}
	tcb->aflags = 0;
}

void tcp_set_state(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, enum cee_tcp_state to,
		   uint64_t now_ns)
{
	enum cee_tcp_state from = (enum cee_tcp_state)tcb->state;

	if ((unsigned)from >= CEE_TCP_STATE__COUNT || (unsigned)to >= CEE_TCP_STATE__COUNT ||
	    !transition_ok[from][to])
		abort();
	tcb->state = (uint8_t)to;
	if (to == CEE_TCP_SYN_RECEIVED)
		ctx->half_open++;
	if (from == CEE_TCP_SYN_RECEIVED)
		ctx->half_open--;

	switch (to) {
	case CEE_TCP_CLOSED:
		report_closed(ctx, tcb);
		tcb->rto_at_ns = 0;
		tcb->idle_at_ns = 0;
		if (tcb->timer_at_ns != 0) {
			tcb->timer_at_ns = 0;
			ctx->ops->timer_set(ctx->owner, tcb, 0);
		}
		tcp_free_sb(ctx, tcb);
		if (tcb->aflags & CEE_TCB_A_QUEUED)
			ackq_remove(ctx, tcb);
		ctx->ops->lifecycle(ctx->owner, tcb, CEE_EVT_DESTROYED);
		return; /* the owner may have freed tcb */
	case CEE_TCP_SYN_SENT:
	case CEE_TCP_SYN_RECEIVED:
		if (from == CEE_TCP_CLOSED)
			ctx->ops->lifecycle(ctx->owner, tcb, CEE_EVT_OPEN);
		break;
	case CEE_TCP_ESTABLISHED:
		ctx->ops->lifecycle(ctx->owner, tcb, CEE_EVT_ESTABLISHED);
		break;
	case CEE_TCP_FIN_WAIT_1:
	case CEE_TCP_CLOSE_WAIT:
		break;
	case CEE_TCP_FIN_WAIT_2:
		tcb->idle_at_ns = ctx->cfg.fin_wait_2_ns ? now_ns + ctx->cfg.fin_wait_2_ns : 0;
		break;
	case CEE_TCP_CLOSING:
	case CEE_TCP_LAST_ACK:
		report_closed(ctx, tcb);
		break;
	case CEE_TCP_TIME_WAIT:
		report_closed(ctx, tcb);
		tcb->idle_at_ns = now_ns + ctx->cfg.time_wait_ns;
		break;
	case CEE_TCP_STATE__COUNT:
		abort();
	}
}

/*
 * Abort with @p reason (RFC 9293 3.10.5): RST where the peer may still hold
 * the connection open, then closed (if not yet) and destroyed.
 */
void tcp_abort_conn(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, enum cee_reason reason,
		    uint64_t now_ns)
{
	tcp_set_reason(tcb, reason);
	switch ((enum cee_tcp_state)tcb->state) {
	case CEE_TCP_SYN_RECEIVED:
	case CEE_TCP_ESTABLISHED:
	case CEE_TCP_FIN_WAIT_1:
	case CEE_TCP_FIN_WAIT_2:
	case CEE_TCP_CLOSE_WAIT:
		tcp_send_rst(ctx, tcb);
		break;
	case CEE_TCP_SYN_SENT:
	case CEE_TCP_CLOSING:
	case CEE_TCP_LAST_ACK:
	case CEE_TCP_TIME_WAIT:
		break;
	case CEE_TCP_CLOSED:
	case CEE_TCP_STATE__COUNT:
		return; /* already destroyed, or never opened */
	}
	tcp_set_state(ctx, tcb, CEE_TCP_CLOSED, now_ns);
}

/* Queue our FIN (graceful close) with @p reason. */
static void queue_fin(struct cee_tcb *tcb, enum cee_reason reason)
{
	tcp_set_reason(tcb, reason);
	tcb->flags |= CEE_TCB_F_FIN_QUEUED;
}

/* This side closes (owner, service or idle timeout): FIN queued, no more sends. */
void tcp_local_close(struct cee_tcb *tcb, enum cee_reason reason)
{
	queue_fin(tcb, reason);
	tcb->uflags |= CEE_TCB_U_CLOSE;
}

/* Entry points ------------------------------------------------------------------------------ */

/*
 * Every public call that may report a callback on a live tcb runs between
 * enter() and leave(). Calls made from inside those callbacks for the same
 * tcb see CEE_TCB_U_BUSY and only record their effect (bytes queued, FIN
 * queued, CEE_TCB_U_ABORT); the running call sends what was queued, stops at
 * the first callback after which an abort is requested, and leave() performs
 * the abort. So nothing is destroyed while a caller up the stack still holds
 * the tcb.
 */
static inline void enter(struct cee_tcb *tcb)
{
	tcb->uflags |= CEE_TCB_U_BUSY;
}

/* The end of an entry point whose tcb is alive. */
static void leave(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint64_t now_ns)
{
	if (tcp_abort_requested(tcb)) {
		tcp_abort_conn(ctx, tcb, (enum cee_reason)tcb->close_reason, now_ns);
		return; /* destroyed */
	}
	tcb->uflags &= (uint8_t)~CEE_TCB_U_BUSY;
}

/* tcp_finish() unless an abort is pending, then leave(). */
static void finish_leave(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint64_t now_ns,
			 bool probe)
{
	if (__builtin_expect(tcb->aflags & CEE_TCB_A_WRITABLE, 0)) {
		// an ACK freed room the owner waits for: it sends before the
		// output, so what it sends goes with this segment's answer
		tcb->aflags &= (uint8_t)~CEE_TCB_A_WRITABLE;
		tcb->oflags &= (uint8_t)~CEE_TCB_O_WANT_WRITE;
		// (not once it no longer sends: after the peer's FIN our FIN went
		// with the last bytes, and the owner had its closed already)
		if (!tcp_abort_requested(tcb) && cee_tcp_sends(tcb) && ctx->ops->writable != NULL)
			ctx->ops->writable(ctx->owner, tcb);
	}
	if (!tcp_abort_requested(tcb))
		tcp_finish(ctx, tcb, now_ns, probe);
	leave(ctx, tcb, now_ns);
}

/* Opens ------------------------------------------------------------------------------------ */

static uint32_t fallback_isn(const struct cee_tcb *tcb, uint64_t now_ns)
{
	// RFC 9293 3.4.1 clock (4 us) plus a mix of the peer's ISN and the tcb address.
	// Predictable: owners should supply a keyed hash (RFC 6528) in ctx->isn.
	uint64_t x = ((uint64_t)(tcb->rcv_nxt - 1) << 32) ^ (uint64_t)(uintptr_t)tcb;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return (uint32_t)x + (uint32_t)(now_ns / 4000);
}

/*
 * A passive open's state from the peer's @p syn (RFC 9293 3.10.7.2: RCV.NXT
 * = SEG.SEQ + 1, IRS = SEG.SEQ; SYN payload is not taken), all but the ISS.
 */
static void passive_init(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb,
			 enum cee_tcp_service service, const struct cee_tcp_seg *syn,
			 uint64_t now_ns)
{
	tcb->service = (uint8_t)service;
	tcb->close_reason = CEE_REASON_NONE;
	tcb->open_ns = now_ns;
	tcb->last_activity_ns = now_ns;
	tcb->rcv_nxt = syn->seq + 1;
	tcb->rcv_adv = tcb->rcv_nxt;
	// RFC 7323 2.2: the window in a SYN is never scaled
	tcb->snd_wnd = syn->wnd;
	tcb->snd_wl1 = syn->seq;
	tcp_take_syn_options(ctx, tcb, syn);
	tcb->rto_us = (uint32_t)(ctx->cfg.rto_initial_ns / 1000); // RFC 6298 2.1
}

static void set_iss(struct cee_tcb *tcb, uint32_t iss)
{
	tcb->iss = iss;
	tcb->snd_una = tcb->snd_nxt = tcb->snd_max = iss;
	tcb->snd_wl2 = iss;
}

void cee_tcp_accept(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, enum cee_tcp_service service,
		    const struct cee_tcp_seg *syn, uint64_t now_ns)
{
	ctx->stats.segs_in++;
	passive_init(ctx, tcb, service, syn, now_ns);
	uint32_t iss = ctx->isn ? ctx->isn(ctx->owner, tcb, now_ns) : fallback_isn(tcb, now_ns);
	if (ctx->tw_iss_set) { // the next incarnation of a TIME-WAIT tuple
		if (seq_lt(iss, ctx->tw_iss))
			iss = ctx->tw_iss;
		ctx->tw_iss_set = false;
	}
	set_iss(tcb, iss);
	enter(tcb);
	tcp_set_state(ctx, tcb, CEE_TCP_SYN_RECEIVED, now_ns);
	finish_leave(ctx, tcb, now_ns, false);
}

bool cee_tcp_cookie_ts(const struct cee_tcp_ctx *ctx, const struct cee_tcp_seg *syn)
{
	return syn->ts_ok && ctx->cfg.timestamps;
}

void cee_tcp_synack_cookie(struct cee_tcp_ctx *ctx, const struct cee_tcp_seg *syn, uint32_t iss,
			   enum cee_tcp_service service, uint32_t ts_code, uint32_t ts_off,
			   uint64_t now_ns, struct cee_tcp_out *out)
{
	// a scratch tcb, as cee_tcp_accept() would have set it up, for the window;
	// without timestamps no window scaling or SACK is offered back: the
	// cookie has no room for the peer's (cee_syncookie.h)
	struct cee_tcp_seg s = *syn;
	bool ts = cee_tcp_cookie_ts(ctx, syn);
	if (!ts) {
		s.wscale = 0xff;
		s.sack_ok = false;
	}
	struct cee_tcb t;
	memset(&t, 0, sizeof(t));
	passive_init(ctx, &t, service, &s, 0);
	t.state = CEE_TCP_SYN_RECEIVED;
	t.iss = iss;
	bool scaled = t.flags & CEE_TCB_F_WSCALE;
	ctx->stats.segs_in++;
	// (syncookies_sent: counted by the caller once the frame is out)
	tcp_out_init(out, iss, syn->seq + 1, CEE_TCP_SYN | CEE_TCP_ACK);
	out->wscale = scaled ? t.rcv_wscale : 0xff;
	out->wnd = (uint16_t)tcp_syn_window(ctx, &t, scaled);
	out->mss = ctx->cfg.mss;
	out->sack_ok = (t.flags & CEE_TCB_F_SACK) != 0;
	if (ts) {
		// the peer's window scale and SACK in the low bits of our TSval
		// (its ACK echoes them), never after the connection's clock: its
		// later TSvals must not go back from this one (the peer's PAWS)
		// (the scratch tcb is in no connection: the owner's offset
		// for the tuple comes from the caller)
		uint32_t c = (uint32_t)(now_ns >> 20) +
			     (ctx->ts_off != NULL ? ts_off : tcp_ts_off(ctx, &t));
		uint32_t v = (c & ~UINT32_C(31)) | (ts_code & 31u);
		out->ts = true;
		out->tsval = (int32_t)(v - c) > 0 ? v - 32 : v;
		out->tsecr = syn->tsval;
	}
	ctx->stats.segs_out++;
}

void cee_tcp_accept_cookie(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb,
			   enum cee_tcp_service service, const struct cee_tcp_seg *ack, uint32_t iss,
			   uint16_t mss, uint8_t wscale, bool sack_ok, bool ts, uint64_t now_ns)
{
	// the SYN, as far as the cookie remembers it; TS.Recent from the ACK
	struct cee_tcp_seg syn = {
	    .seq = ack->seq - 1,
	    .wnd = ack->wnd,
	    .flags = CEE_TCP_SYN,
	    .wscale = wscale,
	    .mss = mss,
	    .sack_ok = sack_ok,
	    .ts_ok = ts,
	    .tsval = ack->tsval,
	};
	ctx->stats.syncookies_ok++;
	passive_init(ctx, tcb, service, &syn, now_ns);
	set_iss(tcb, iss);
	// No timed segment (the SYN-ACK went statelessly): with timestamps the
	// ACK's echo of the SYN-ACK's TSval is the handshake's RTT sample, as
	// after Karn dropped one (about 1 ms resolution, up to 32 ticks long:
	// the low bits carry the cookie's options). Without it the connection
	// started on the initial RTO (1 s) with no estimate, as Linux does not.
	if (tcb->uflags & CEE_TCB_U_TS)
		tcb->uflags |= CEE_TCB_U_KARN;
	// the window our SYN-ACK announced (cee_tcp_synack_cookie)
	bool scaled = tcb->flags & CEE_TCB_F_WSCALE;
	tcb->rcv_adv = tcb->rcv_nxt + tcp_syn_window(ctx, tcb, scaled);
	enter(tcb);
	tcp_set_state(ctx, tcb, CEE_TCP_SYN_RECEIVED, now_ns); // open
	tcb->snd_nxt = tcb->snd_max = iss + 1;                  // the SYN-ACK went (statelessly)
	if (tcp_abort_requested(tcb)) {                         // the owner aborted it at open
		leave(ctx, tcb, now_ns);
		return;
	}
	// the ACK completes the handshake: established, and its data
	ctx->stats.segs_in++;
	bool reopen = false;
	if (tcp_input_sync(ctx, tcb, ack, now_ns, &reopen))
		return; /* destroyed */
	finish_leave(ctx, tcb, now_ns, false);
}

void cee_tcp_connect(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, enum cee_tcp_service service,
		     uint64_t now_ns)
{
	tcb->service = (uint8_t)service;
	tcb->close_reason = CEE_REASON_NONE;
	tcb->uflags = CEE_TCB_U_ACTIVE;
	tcb->open_ns = now_ns;
	tcb->last_activity_ns = now_ns;

	// RFC 9293 3.10.4 OPEN: ISS, SND.UNA = ISS, SND.NXT = ISS + 1 once the SYN is out
	tcb->iss = ctx->isn ? ctx->isn(ctx->owner, tcb, now_ns) : fallback_isn(tcb, now_ns);
	tcb->snd_una = tcb->snd_nxt = tcb->snd_max = tcb->iss;
	tcb->snd_mss = 536; /* until the SYN-ACK tells (RFC 9293 3.7.1) */
	// the shift we offer; kept only if the peer's SYN offers one too (RFC 7323 2.2)
	tcb->rcv_wscale = ctx->cfg.rcv_wscale > 14 ? 14 : ctx->cfg.rcv_wscale;

	tcb->rto_us = (uint32_t)(ctx->cfg.rto_initial_ns / 1000); // RFC 6298 2.1
	enter(tcb);
	tcp_set_state(ctx, tcb, CEE_TCP_SYN_SENT, now_ns);
	finish_leave(ctx, tcb, now_ns, false); /* SYN, RTO, handshake deadline */
}

/* Input ------------------------------------------------------------------------------------ */

// States in which a connection takes segments and timers.
static bool serves_input(enum cee_tcp_state st)
{
	switch (st) {
	case CEE_TCP_CLOSED:
	case CEE_TCP_STATE__COUNT:
		return false;
	case CEE_TCP_SYN_SENT:
	case CEE_TCP_SYN_RECEIVED:
	case CEE_TCP_ESTABLISHED:
	case CEE_TCP_FIN_WAIT_1:
	case CEE_TCP_FIN_WAIT_2:
	case CEE_TCP_CLOSE_WAIT:
	case CEE_TCP_CLOSING:
	case CEE_TCP_LAST_ACK:
	case CEE_TCP_TIME_WAIT:
		return true;
	}
	return false;
}

bool cee_tcp_input(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, const struct cee_tcp_seg *seg,
		   uint64_t now_ns)
{
	ctx->stats.segs_in++;
	if (seg->flags & CEE_TCP_RST)
		ctx->stats.rst_in++;

	if (!serves_input((enum cee_tcp_state)tcb->state))
		return false;

	bool reopen = false;
	enter(tcb);
	if (tcb->state == CEE_TCP_SYN_SENT ? tcp_input_syn_sent(ctx, tcb, seg, now_ns)
					   : tcp_input_sync(ctx, tcb, seg, now_ns, &reopen))
		return reopen;
	finish_leave(ctx, tcb, now_ns, false);
	return false;
}

void cee_tcp_timer(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint64_t now_ns)
{
	if (!serves_input((enum cee_tcp_state)tcb->state))
		return;

	bool probe;
	enter(tcb);
	if (tcp_timer_expired(ctx, tcb, now_ns, &probe))
		return;
	finish_leave(ctx, tcb, now_ns, probe);
}

void cee_tcp_flush_acks(struct cee_tcp_ctx *ctx, uint64_t now_ns)
{
	for (uint32_t i = 0; i < ctx->ackq_n; i++) {
		struct cee_tcb *tcb = ctx->ackq[i];
		bool owed = tcb->aflags & CEE_TCB_A_OWED; /* else a segment of ours carried it */
		tcb->aflags &= (uint8_t)~(CEE_TCB_A_OWED | CEE_TCB_A_QUEUED);
		if (owed && serves_input((enum cee_tcp_state)tcb->state)) {
			ctx->stats.acks_at_burst_end++;
			tcp_send_ack(ctx, tcb, now_ns);
		}
	}
	ctx->ackq_n = 0;
}

void cee_tcp_set_deadline(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint64_t at_ns,
			  enum cee_reason reason)
{
	tcb->user_at_ns = at_ns;
	tcb->user_reason = (uint8_t)reason;
	// from a callback, the running call re-arms the owner's timer when it leaves
	if (!(tcb->uflags & CEE_TCB_U_BUSY) && serves_input((enum cee_tcp_state)tcb->state))
		tcp_update_timer(ctx, tcb);
}

/* Path MTU (RFC 1191, RFC 5927) ------------------------------------------------------------ */

void cee_tcp_pmtu(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint32_t seq, uint16_t mtu,
		  uint64_t now_ns)
{
	// (every message not acted on is counted: a flood of forged ones shows)
	if (!serves_input((enum cee_tcp_state)tcb->state) || tcb->state == CEE_TCP_SYN_SENT) {
		ctx->stats.pmtu_ignored++;
		return;
	}
	// RFC 5927 4.1: only a segment in flight (SND.UNA <= seq < SND.MAX) is believed
	if (!seq_geq(seq, tcb->snd_una) || !seq_lt(seq, tcb->snd_max)) {
		ctx->stats.bad_icmp_seq++;
		return;
	}
	if (mtu == 0) {
		// RFC 1191 5 and 7: a router that names no MTU (before RFC 1191):
		// the next plateau below the path MTU we use (it went straight to
		// the floor, 512 bytes, from a 1,500-byte path)
		static const uint16_t plateau[] = {32000, 17914, 8166, 4352, 2002, 1492, 1006, 508};
		uint32_t path = (uint32_t)tcb->snd_mss + 40;
		for (size_t i = 0; i < sizeof(plateau) / sizeof(plateau[0]) && mtu == 0; i++)
			if (plateau[i] < path)
				mtu = plateau[i];
	}
	uint32_t mss = mtu > 40 ? mtu - 40u : 0;
	if (mss < CEE_TCP_MIN_PMTU_MSS)
		mss = CEE_TCP_MIN_PMTU_MSS; /* a router that names a tiny MTU */
	if (mss >= tcb->snd_mss) {
		ctx->stats.pmtu_ignored++;
		return; /* nothing to lower */
	}
	ctx->stats.pmtu_lowered++;
	tcb->snd_mss = (uint16_t)mss;
	// the larger segments in flight were dropped: send them again, smaller, now
	// (not a congestion signal, RFC 1191 6.5; Karn applies to the copies)
	tcp_rewind(ctx, tcb);
	tcp_rtt_cancel(tcb);
	if (tcb->uflags & CEE_TCB_U_BUSY)
		return;
	enter(tcb);
	finish_leave(ctx, tcb, now_ns, false);
}

void cee_tcp_icmp_unreach(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint32_t seq,
			  uint64_t now_ns)
{
	if (tcb->state != CEE_TCP_SYN_SENT) {
		ctx->stats.icmp_unreach_ignored++;
		return;
	}
	// RFC 5927 4.1: only our SYN (SND.UNA, the ISS) is believed
	if (seq != tcb->snd_una) {
		ctx->stats.bad_icmp_seq++;
		return;
	}
	ctx->stats.icmp_unreach_aborts++;
	cee_tcp_abort(ctx, tcb, CEE_REASON_HOST_UNREACHABLE, now_ns);
}

/* User calls ------------------------------------------------------------------------------- */

void cee_tcp_set_close_reason(struct cee_tcb *tcb, enum cee_reason reason)
{
	tcp_set_reason(tcb, reason);
}

void cee_tcp_close(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, enum cee_reason reason,
		   uint64_t now_ns)
{
	switch ((enum cee_tcp_state)tcb->state) {
	case CEE_TCP_CLOSED:
	case CEE_TCP_STATE__COUNT:
		return;
	case CEE_TCP_SYN_SENT:
		// RFC 9293 3.10.4: delete the TCB (nothing synchronised: no segment)
		cee_tcp_abort(ctx, tcb, reason, now_ns);
		return;
	case CEE_TCP_SYN_RECEIVED:
		// RFC 9293 3.10.4: FIN after entering ESTABLISHED
	case CEE_TCP_ESTABLISHED:
		// RFC 9293 3.10.4: FIN after the queued data, then FIN-WAIT-1
	case CEE_TCP_CLOSE_WAIT:
		// RFC 9293 3.10.4: FIN after the queued data, then LAST-ACK (already queued)
		tcp_local_close(tcb, reason);
		break;
	case CEE_TCP_FIN_WAIT_1:
	case CEE_TCP_FIN_WAIT_2:
	case CEE_TCP_CLOSING:
	case CEE_TCP_LAST_ACK:
	case CEE_TCP_TIME_WAIT:
		tcp_set_reason(tcb, reason); /* closing already */
		tcb->uflags |= CEE_TCB_U_CLOSE;
		break;
	}
	if (tcb->uflags & CEE_TCB_U_BUSY)
		return; /* from a callback: the running call sends the FIN */
	enter(tcb);
	finish_leave(ctx, tcb, now_ns, false);
}

void cee_tcp_abort(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, enum cee_reason reason,
		   uint64_t now_ns)
{
	if (tcb->state == CEE_TCP_CLOSED || tcb->state >= CEE_TCP_STATE__COUNT)
		return; /* destroyed already (e.g. from the closed callback), or never opened */
	if (tcb->uflags & CEE_TCB_U_BUSY) {
		// from a callback: the running call stops and aborts when it returns
		tcp_set_reason(tcb, reason);
		tcb->uflags |= CEE_TCB_U_ABORT;
		return;
	}
	tcp_abort_conn(ctx, tcb, reason, now_ns);
}

bool cee_tcp_sends(const struct cee_tcb *tcb)
{
	return (tcb->state == CEE_TCP_ESTABLISHED || tcb->state == CEE_TCP_CLOSE_WAIT) &&
	       !(tcb->uflags & (CEE_TCB_U_CLOSE | CEE_TCB_U_ABORT)) && tcb->service != CEE_TCP_SVC_ECHO &&
	       tcb->service != CEE_TCP_SVC_ECHO_CLOSE;
}

uint32_t cee_tcp_send_size(const struct cee_tcp_ctx *ctx, const struct cee_tcb *tcb)
{
	return tcb->sb != NULL ? tcp_sb_size(ctx, tcb) : ctx->cfg.sndbuf;
}

uint32_t cee_tcp_send_room(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb)
{
	if (!cee_tcp_sends(tcb) || !tcp_ensure_sb(ctx, tcb))
		return 0;
	uint32_t room = tcp_sb_size(ctx, tcb) - tcb->sb_len;
	return room < INT32_MAX ? room : INT32_MAX;
}

int cee_tcp_send(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, const void *data, uint32_t len,
		 uint64_t now_ns)
{
	switch ((enum cee_tcp_state)tcb->state) {
	case CEE_TCP_ESTABLISHED:
	case CEE_TCP_CLOSE_WAIT:
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
		return -ENOTCONN;
	}
	// after our FIN was queued by a close, nothing may follow it; after the
	// peer's FIN alone (CLOSE-WAIT) bytes still go before ours
	if (tcb->uflags & (CEE_TCB_U_CLOSE | CEE_TCB_U_ABORT))
		return -ENOTCONN;
	if (tcb->service == CEE_TCP_SVC_ECHO || tcb->service == CEE_TCP_SVC_ECHO_CLOSE)
		return -EINVAL; /* the send buffer holds the echo (and out-of-order bytes) */

	tcp_maybe_grow_sb(ctx, tcb, now_ns);
	if (len == 0)
		return 0;
	// the buffer first: its size is its class's, and a connection that grew
	// (its buffer since given back) falls back to a small one when no large
	// one is free. (Sized before, a send of up to sndbuf_max bytes was
	// copied into a sndbuf ring: a heap overflow.)
	if (!tcp_ensure_sb(ctx, tcb))
		return -ENOBUFS;
	uint32_t n = min_u32(min_u32(len, tcp_sb_size(ctx, tcb) - tcb->sb_len), INT32_MAX);
	if (n == 0)
		return 0;
	tcp_sb_write(ctx, tcb, tcb->sb_len, data, n);
	tcb->sb_len += n;
	if (!(tcb->uflags & CEE_TCB_U_BUSY)) {
		enter(tcb);
		finish_leave(ctx, tcb, now_ns, false);
	} /* else from a callback: the running call sends it */
	return (int)n;
}

bool cee_tcp_rst_for(const struct cee_tcp_seg *seg, struct cee_tcp_out *out)
{
	// RFC 9293 3.10.7.1
	if (seg->flags & CEE_TCP_RST)
		return false;
	if (seg->flags & CEE_TCP_ACK) {
		tcp_out_init(out, seg->ack, 0, CEE_TCP_RST);
	} else {
		uint32_t seg_len = seg->len + ((seg->flags & CEE_TCP_SYN) ? 1 : 0) +
				   ((seg->flags & CEE_TCP_FIN) ? 1 : 0);
		tcp_out_init(out, 0, seg->seq + seg_len, CEE_TCP_RST | CEE_TCP_ACK);
	}
	return true;
}
