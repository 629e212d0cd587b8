/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * TCP per RFC 9293, sans I/O (see cee_tcp.h for the contract).
 *
 * Design decisions (the header is the API, this is how it behaves):
 *
 * - State: set_state() is the only writer of tcb->state. It checks every
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
 *                  destroy returns true and its callers return at once.
 * - close_reason is the first cause, written once (set_reason()): a later RST
 *   in FIN-WAIT-1 after our close still reports local_close.
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
 * - Services: echo, echo-close, discard and app all close (FIN) after the
 *   peer's FIN; echo first drains what it queued. Once our FIN is queued
 *   (local close or peer FIN) echo stops echoing: further in-order bytes are
 *   acked, counted in bytes_in and dropped, as in discard ("echo mode" =
 *   echo/echo-close && !FIN_QUEUED). Echo-close closes (local_close) right
 *   after the first in-order bytes it takes: they are echoed, then our FIN.
 *   App hands in-order bytes to ops->recv (counted in bytes_in and acked
 *   first), drops out-of-order ones (ooo_dropped: recv never sees a gap),
 *   and sends what the owner queues with cee_tcp_send() (send buffer taken
 *   at the first send, given back when empty and acked, as for echo).
 *   bytes_out counts every payload byte once, at its first transmission.
 * - Re-entrancy (see enter()/leave()): the owner may call send, close and
 *   abort on the tcb from its lifecycle and recv callbacks; such calls only
 *   record their effect while a call is running (CEE_TCB_U_BUSY), and the
 *   running call sends, or stops and aborts, when the callback returns. So
 *   nothing is destroyed under a caller, and nothing is reported after
 *   destroyed.
 * - Receive window: echo mode cfg.sndbuf - sb_len, otherwise cfg.rcv_wnd;
 *   the right edge never moves left (rcv_adv; when window scaling would
 *   round it left, we round up and trim the < 2^shift excess on arrival).
 *   The SYN-ACK window is a multiple of 2^rcv_wscale, which makes that rare.
 * - Data on a SYN is ignored (not acked; the peer sends it again after the
 *   handshake). A FIN in an out-of-order segment is forgotten (not acked; the
 *   peer retransmits it). A FIN needs no window: a FIN at RCV.NXT is
 *   accepted even when the window is 0.
 * - RFC 5961: RST exactly at RCV.NXT resets, elsewhere in the window gets a
 *   challenge ACK, outside is dropped (bad_rst); this applies in
 *   SYN-RECEIVED and TIME-WAIT too. Any SYN on a synchronised connection
 *   (also TIME-WAIT: no reuse) gets a challenge ACK (bad_syn), except a
 *   duplicate of the original SYN in SYN-RECEIVED, which resends SYN-ACK.
 *   ACK validation: MAX.SND.WND is bounded by 65535 << snd_wscale (the most
 *   the peer can announce), so no extra field is needed. Challenge ACKs are
 *   not rate limited (RFC 5961 7) yet.
 * - Retransmission (RFC 6298): one RTT sample at a time, none from
 *   retransmitted sequence space (Karn); backed-off RTO stays until a valid
 *   sample. On expiry: go-back-N (snd_nxt = snd_una) and one segment out;
 *   each later ACK that advances snd_una releases two more segments of the
 *   old sequence space (a slow-start-like clock); new data is not limited.
 *   There is no congestion window (RFC 5681) yet. Give-up after
 *   cfg.max_retries (synack_retries in SYN-SENT and SYN-RECEIVED)
 *   retransmissions. No RFC 6298 5.7 (RTO back to 3 s after a lost SYN): the
 *   backed-off RTO stays until the first valid sample.
 * - Zero window (RFC 9293 3.8.6.1): when the peer's window is 0 and data is
 *   queued, the RTO timer is the persist timer; on expiry one byte is sent
 *   beyond the window (zero_window_probes). Any ACK that leaves the window at
 *   0 resets the retry count, so only an unresponsive peer is given up on.
 *   When the window reopens with the probe byte unacked, sending restarts
 *   from snd_una at once instead of waiting for the RTO.
 * - Aborts follow RFC 9293 3.10.5: RST <SEQ=SND.MAX><ACK=RCV.NXT> in
 *   SYN-RECEIVED, ESTABLISHED, FIN-WAIT-1/2 and CLOSE-WAIT; none in CLOSING,
 *   LAST-ACK and TIME-WAIT. SND.MAX rather than SND.NXT: they differ only
 *   after a go-back-N rewind, and SND.MAX is never left of the peer's RCV.NXT.
 * - Deadlines: one per tcb, min(rto_at_ns, idle_at_ns); timer_set() is called
 *   only when it changes. idle_at_ns means, by state:
 *     SYN-SENT, SYN-RECEIVED
 *                    open_ns + handshake_timeout_ns -> abort, handshake_timeout;
 *     ESTABLISHED, CLOSE-WAIT, FIN-WAIT-1, CLOSING, LAST-ACK:
 *                    last_activity_ns + idle_timeout_ns (0 = none). Activity is
 *                    a segment in with payload or FIN that passed the
 *                    acceptability test, or new payload / our first FIN out
 *                    (not retransmissions or probes). ESTABLISHED without
 *                    a FIN queued -> graceful close with idle_timeout (one
 *                    more idle period to finish it); otherwise -> abort;
 *     FIN-WAIT-2     entry + fin_wait_2_ns (0 = none) -> abort (RST);
 *     TIME-WAIT      entry + time_wait_ns, restarted by a retransmitted FIN
 *                    -> destroyed. A RST at RCV.NXT in TIME-WAIT destroys
 *                    at once (RFC 9293; no RFC 1337 protection).
 * - Close in SYN-RECEIVED queues the FIN; it goes out after the handshake
 *   (the handshake deadline still bounds it).
 * - Output happens once at the end of every accept/connect/input/timer/
 *   close/send call; no delayed ACK, no Nagle, no sender SWS avoidance, no
 *   SACK. The send ring wraps by compare-and-subtract, not division.
 */
#include <stdlib.h>
#include <string.h>

#include "cee_tcp.h"

/* Sequence-number comparisons modulo 2^32 (RFC 9293 3.4). */
static inline bool seq_lt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

static inline bool seq_leq(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) <= 0;
}

static inline bool seq_gt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) > 0;
}

static inline uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

static inline uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

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
	    .rcv_wnd = 65535,
	    .ooo_max_segs = 4,
	    .rto_initial_ns = 1000000000ull,
	    .rto_min_ns = 200000000ull,
	    .rto_max_ns = 60000000000ull,
	    .max_retries = 8,
	    .synack_retries = 5,
	    .handshake_timeout_ns = 10000000000ull,
	    .idle_timeout_ns = 0,
	    .time_wait_ns = 60000000000ull,
	    .fin_wait_2_ns = 60000000000ull,
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

static void set_reason(struct cee_tcb *tcb, enum cee_reason r)
{
	if (tcb->close_reason == CEE_REASON_NONE)
		tcb->close_reason = (uint8_t)r;
}

static bool echo_mode(const struct cee_tcb *tcb)
{
	return (tcb->service == CEE_TCP_SVC_ECHO || tcb->service == CEE_TCP_SVC_ECHO_CLOSE) &&
	       !(tcb->flags & CEE_TCB_F_FIN_QUEUED);
}

/* An abort was requested from inside a callback: the running call stops and aborts. */
static inline bool abort_requested(const struct cee_tcb *tcb)
{
	return tcb->uflags & CEE_TCB_U_ABORT;
}

static void report_closed(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb)
{
	if (tcb->flags & CEE_TCB_F_CLOSED)
		return;
	tcb->flags |= CEE_TCB_F_CLOSED;
	ctx->ops->lifecycle(ctx->owner, tcb, CEE_EVT_CLOSED);
}

static void free_sb(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb)
{
	if (tcb->sb == NULL)
		return;
	ctx->ops->buf_free(ctx->owner, tcb->sb);
	tcb->sb = NULL;
	tcb->sb_head = 0;
}

static void set_state(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, enum cee_tcp_state to,
		      uint64_t now_ns)
{
	enum cee_tcp_state from = (enum cee_tcp_state)tcb->state;

	if ((unsigned)from >= CEE_TCP_STATE__COUNT || (unsigned)to >= CEE_TCP_STATE__COUNT ||
	    !transition_ok[from][to])
		abort();
	tcb->state = (uint8_t)to;

	switch (to) {
	case CEE_TCP_CLOSED:
		report_closed(ctx, tcb);
		tcb->rto_at_ns = 0;
		tcb->idle_at_ns = 0;
		if (tcb->timer_at_ns != 0) {
			tcb->timer_at_ns = 0;
			ctx->ops->timer_set(ctx->owner, tcb, 0);
		}
		free_sb(ctx, tcb);
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

static void emit(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, const struct cee_tcp_out *out)
{
	ctx->stats.segs_out++;
	if (out->flags & CEE_TCP_RST)
		ctx->stats.rst_out++;
	ctx->ops->output(ctx->owner, tcb, out);
}

static void out_init(struct cee_tcp_out *out, uint32_t seq, uint32_t ack, uint8_t flags)
{
	*out = (struct cee_tcp_out){.seq = seq, .ack = ack, .flags = flags, .wscale = 0xff};
}

/* RCV.WND: what we accept now (at least up to the right edge we announced). */
static uint32_t rcv_window(const struct cee_tcp_ctx *ctx, const struct cee_tcb *tcb)
{
	uint32_t space = echo_mode(tcb) ? ctx->cfg.sndbuf - tcb->sb_len : ctx->cfg.rcv_wnd;
	uint32_t adv = seq_gt(tcb->rcv_adv, tcb->rcv_nxt) ? tcb->rcv_adv - tcb->rcv_nxt : 0;

	return space > adv ? space : adv;
}

/* Window field for a non-SYN segment; moves rcv_adv (RFC 7323 2.3, RFC 9293 3.8.6.2.2). */
static uint16_t wnd_field(const struct cee_tcp_ctx *ctx, struct cee_tcb *tcb)
{
	unsigned shift = (tcb->flags & CEE_TCB_F_WSCALE) ? tcb->rcv_wscale : 0;
	uint32_t adv = seq_gt(tcb->rcv_adv, tcb->rcv_nxt) ? tcb->rcv_adv - tcb->rcv_nxt : 0;
	uint64_t f = rcv_window(ctx, tcb) >> shift;

	// never shrink: round up when rounding down would pull the right edge left
	if ((f << shift) < adv)
		f = ((uint64_t)adv + (1u << shift) - 1) >> shift;
	if (f > 65535)
		f = 65535;
	uint32_t right = tcb->rcv_nxt + (uint32_t)(f << shift);
	if (seq_gt(right, tcb->rcv_adv))
		tcb->rcv_adv = right;
	return (uint16_t)f;
}

static void send_ack(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb)
{
	struct cee_tcp_out out;

	out_init(&out, tcb->snd_nxt, tcb->rcv_nxt, CEE_TCP_ACK);
	out.wnd = wnd_field(ctx, tcb);
	emit(ctx, tcb, &out);
}

static void send_rst(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb)
{
	struct cee_tcp_out out;

	out_init(&out, tcb->snd_max, tcb->rcv_nxt, CEE_TCP_RST | CEE_TCP_ACK);
	emit(ctx, tcb, &out);
}

static void challenge_ack(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb)
{
	ctx->stats.challenge_acks++;
	tcb->flags |= CEE_TCB_F_ACK_NOW;
}

/*
 * Abort with @p reason (RFC 9293 3.10.5): RST where the peer may still hold
 * the connection open, then closed (if not yet) and destroyed.
 */
static void abort_conn(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, enum cee_reason reason,
		       uint64_t now_ns)
{
	set_reason(tcb, reason);
	switch ((enum cee_tcp_state)tcb->state) {
	case CEE_TCP_SYN_RECEIVED:
	case CEE_TCP_ESTABLISHED:
	case CEE_TCP_FIN_WAIT_1:
	case CEE_TCP_FIN_WAIT_2:
	case CEE_TCP_CLOSE_WAIT:
		send_rst(ctx, tcb);
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
	set_state(ctx, tcb, CEE_TCP_CLOSED, now_ns);
}

/* Send buffer ---------------------------------------------------------------------------- */

static bool ensure_sb(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb)
{
	if (tcb->sb != NULL)
		return true;
	tcb->sb = ctx->ops->buf_alloc(ctx->owner);
	tcb->sb_head = 0;
	if (tcb->sb == NULL) {
		ctx->stats.no_sndbuf++;
		return false;
	}
	return true;
}

/* Ring index of the byte @p off after the head; off <= cfg.sndbuf, so no division. */
static inline uint32_t sb_pos(const struct cee_tcp_ctx *ctx, const struct cee_tcb *tcb,
			      uint32_t off)
{
	uint64_t pos = (uint64_t)tcb->sb_head + off;

	return (uint32_t)(pos >= ctx->cfg.sndbuf ? pos - ctx->cfg.sndbuf : pos);
}

/* Copy @p len bytes to offset @p off from the head (wrapping). */
static void sb_write(const struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint32_t off,
		     const uint8_t *data, uint32_t len)
{
	uint32_t size = ctx->cfg.sndbuf;
	uint32_t pos = sb_pos(ctx, tcb, off);
	uint32_t first = min_u32(len, size - pos);

	memcpy(tcb->sb + pos, data, first);
	memcpy(tcb->sb, data + first, len - first);
}

/* The buffer goes back to the pool once empty and fully acked (and holds no out-of-order bytes). */
static void maybe_free_sb(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb)
{
	if (tcb->sb != NULL && tcb->sb_len == 0 && (tcb->ooo_n == 0 || !echo_mode(tcb)))
		free_sb(ctx, tcb);
}

/* Bytes queued but not yet (re)sent from snd_nxt. */
static uint32_t unsent_bytes(const struct cee_tcb *tcb)
{
	uint32_t off = tcb->snd_nxt - tcb->snd_una;

	if (tcb->state == CEE_TCP_SYN_RECEIVED || tcb->state == CEE_TCP_SYN_SENT ||
	    off >= tcb->sb_len)
		return 0;
	return tcb->sb_len - off;
}

/* Receive side ----------------------------------------------------------------------------- */

/* In-order bytes at rcv_nxt: @return how many were taken (echo may be short of room). */
static uint32_t deliver(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, const uint8_t *data,
			uint32_t len)
{
	if (!echo_mode(tcb))
		return len; /* discard, or echo after our FIN was queued */

	uint32_t n = min_u32(len, ctx->cfg.sndbuf - tcb->sb_len);
	if (n == 0 || !ensure_sb(ctx, tcb))
		return 0; /* not acked: the peer sends it again */
	sb_write(ctx, tcb, tcb->sb_len, data, n);
	tcb->sb_len += n;
	return n;
}

static bool ranges_touch(uint32_t s1, uint32_t e1, uint32_t s2, uint32_t e2)
{
	return seq_leq(s1, e2) && seq_leq(s2, e1);
}

/* An out-of-order segment [seq, seq + len), seq > rcv_nxt, within the window. */
static void ooo_add(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint32_t seq, const uint8_t *data,
		    uint32_t len)
{
	uint32_t cap = min_u32(ctx->cfg.ooo_max_segs, CEE_TCP_OOO_MAX);
	uint32_t off = seq - tcb->rcv_nxt;
	bool echo = echo_mode(tcb);

	if (tcb->service == CEE_TCP_SVC_APP) {
		// recv sees in-order bytes only; the peer retransmits these
		ctx->stats.ooo_dropped++;
		return;
	}

	if (echo) {
		uint32_t space = ctx->cfg.sndbuf - tcb->sb_len;
		if (off >= space) {
			ctx->stats.ooo_dropped++;
			return;
		}
		len = min_u32(len, space - off);
	}

	uint32_t end = seq + len;
	bool touches = false;
	for (unsigned i = 0; i < tcb->ooo_n; i++)
		touches |=
		    ranges_touch(seq, end, tcb->ooo[i].seq, tcb->ooo[i].seq + tcb->ooo[i].len);
	if (!touches && tcb->ooo_n >= cap) {
		ctx->stats.ooo_dropped++;
		return;
	}
	if (echo) {
		if (!ensure_sb(ctx, tcb))
			return;
		// at its final place: tail + (seq - rcv_nxt); stays valid as rcv_nxt and sb_len
		// move together
		sb_write(ctx, tcb, tcb->sb_len + off, data, len);
	}

	// merge every range it touches (restart after a merge: the union may touch more)
	for (unsigned i = 0; i < tcb->ooo_n;) {
		uint32_t rs = tcb->ooo[i].seq, re = rs + tcb->ooo[i].len;
		if (!ranges_touch(seq, end, rs, re)) {
			i++;
			continue;
		}
		if (seq_lt(rs, seq))
			seq = rs;
		if (seq_gt(re, end))
			end = re;
		tcb->ooo[i] = tcb->ooo[--tcb->ooo_n];
		i = 0;
	}
	tcb->ooo[tcb->ooo_n++] = (struct cee_tcp_ooo){.seq = seq, .len = end - seq};
	ctx->stats.ooo_queued++;
}

/* rcv_nxt moved: take every held range it reaches. */
static void ooo_advance(struct cee_tcb *tcb)
{
	bool echo = echo_mode(tcb);

	for (unsigned i = 0; i < tcb->ooo_n;) {
		uint32_t rs = tcb->ooo[i].seq, re = rs + tcb->ooo[i].len;
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
		tcb->ooo[i] = tcb->ooo[--tcb->ooo_n];
		i = 0;
	}
}

/* RFC 9293 3.10.7.4 first: segment acceptability table. */
static bool acceptable(uint32_t seq, uint32_t seg_len, uint32_t rcv_nxt, uint32_t wnd)
{
	if (wnd == 0)
		return seg_len == 0 && seq == rcv_nxt;
	bool first_in = seq_leq(rcv_nxt, seq) && seq_lt(seq, rcv_nxt + wnd);
	if (seg_len == 0)
		return first_in;
	uint32_t last = seq + seg_len - 1;
	return first_in || (seq_leq(rcv_nxt, last) && seq_lt(last, rcv_nxt + wnd));
}

/* RTT and RTO (RFC 6298) ------------------------------------------------------------------- */

static void rtt_start(struct cee_tcb *tcb, uint32_t seq, uint64_t now_ns)
{
	tcb->flags |= CEE_TCB_F_RTT;
	tcb->rtt_seq = seq;
	tcb->rtt_ts_ns = now_ns;
}

static void rtt_sample(const struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint32_t ack,
		       uint64_t now_ns)
{
	if (!(tcb->flags & CEE_TCB_F_RTT) || !seq_gt(ack, tcb->rtt_seq))
		return;
	tcb->flags &= (uint8_t)~CEE_TCB_F_RTT;

	uint64_t r = (now_ns - tcb->rtt_ts_ns) / 1000;
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
	tcb->rto_ns = rto;
}

/* Output ----------------------------------------------------------------------------------- */

static void arm_rto(struct cee_tcb *tcb, uint64_t now_ns)
{
	bool inflight = tcb->snd_una != tcb->snd_max;
	bool persist = tcb->snd_wnd == 0 && unsent_bytes(tcb) > 0;

	// RFC 6298 5.1; RFC 9293 3.8.6.1 persist timer
	if (inflight || persist) {
		if (tcb->rto_at_ns == 0)
			tcb->rto_at_ns = now_ns + tcb->rto_ns;
	} else {
		tcb->rto_at_ns = 0; // RFC 6298 5.2
	}
}

/*
 * The window field of our SYN or SYN-ACK: never scaled (RFC 7323 2.2); with
 * @p on_grid a multiple of our scale, so that later scaled windows need not
 * round the right edge.
 */
static uint32_t syn_window(const struct cee_tcp_ctx *ctx, const struct cee_tcb *tcb, bool on_grid)
{
	uint32_t wnd = min_u32(rcv_window(ctx, tcb), 65535);

	if (on_grid)
		wnd &= ~((1u << tcb->rcv_wscale) - 1);
	return wnd;
}

/* SYN-SENT: our SYN; SYN-RECEIVED: our SYN-ACK; (re)sent when snd_nxt is back at ISS. */
static void output_syn(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint64_t now_ns)
{
	if (tcb->snd_nxt == tcb->iss) {
		struct cee_tcp_out out;
		bool rexmit = tcb->snd_max != tcb->iss;

		if (tcb->state == CEE_TCP_SYN_SENT) {
			// RFC 9293 3.10.4 OPEN: <SEQ=ISS><CTL=SYN>; we always offer window
			// scaling (RFC 7323 2.2); rcv_nxt is unknown yet
			out_init(&out, tcb->iss, 0, CEE_TCP_SYN);
			out.wscale = tcb->rcv_wscale;
			out.wnd = (uint16_t)syn_window(ctx, tcb, true);
		} else {
			// RFC 9293 3.10.7.2: <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>; scale
			// option only when the peer's SYN had one (RFC 7323 1.3)
			bool scaled = tcb->flags & CEE_TCB_F_WSCALE;
			out_init(&out, tcb->iss, tcb->rcv_nxt, CEE_TCP_SYN | CEE_TCP_ACK);
			out.wscale = scaled ? tcb->rcv_wscale : 0xff;
			out.wnd = (uint16_t)syn_window(ctx, tcb, scaled);
			if (seq_gt(tcb->rcv_nxt + out.wnd, tcb->rcv_adv))
				tcb->rcv_adv = tcb->rcv_nxt + out.wnd;
		}
		out.mss = ctx->cfg.mss; // RFC 9293 3.7.1
		if (rexmit) {
			ctx->stats.retransmits++;
			tcb->retransmits++;
		} else {
			rtt_start(tcb, tcb->iss, now_ns);
		}
		tcb->snd_nxt = tcb->snd_max = tcb->iss + 1;
		emit(ctx, tcb, &out);
	} else if (tcb->flags & CEE_TCB_F_ACK_NOW) {
		send_ack(ctx, tcb);
	}
	tcb->flags &= (uint8_t)~CEE_TCB_F_ACK_NOW;
	arm_rto(tcb, now_ns);
}

/*
 * Send what the window allows: data from snd_nxt in snd_mss pieces, FIN after
 * the last byte when queued, else a pure ACK if one is owed. Segments in
 * already-sent sequence space (after a go-back-N rewind) take one unit of
 * @p rexmit_budget each. @p probe: one segment of one byte past a zero window.
 */
static void output(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint64_t now_ns,
		   unsigned rexmit_budget, bool probe)
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
	for (;;) {
		if ((tcb->flags & CEE_TCB_F_FIN_SENT) && tcb->snd_una == tcb->snd_max)
			break; /* everything, FIN included, acked */
		uint32_t off = tcb->snd_nxt - tcb->snd_una;
		if (off > tcb->sb_len)
			break; /* FIN already sent from here */
		bool rexmit = seq_lt(tcb->snd_nxt, tcb->snd_max);
		if (rexmit && rexmit_budget == 0)
			break;

		uint32_t unsent = tcb->sb_len - off;
		uint32_t right = tcb->snd_una + tcb->snd_wnd;
		uint32_t usable = seq_lt(tcb->snd_nxt, right) ? right - tcb->snd_nxt : 0;
		if (probe && usable == 0)
			usable = 1; // RFC 9293 3.8.6.1: zero-window probe
		uint32_t n = min_u32(min_u32(unsent, usable), tcb->snd_mss);
		// a FIN needs no window (the peer takes it at RCV.NXT even when full)
		bool fin = (tcb->flags & CEE_TCB_F_FIN_QUEUED) && n == unsent;
		if (n == 0 && !fin)
			break;

		struct cee_tcp_out out;
		uint32_t seq = tcb->snd_nxt;
		uint8_t flags = CEE_TCP_ACK;
		if (fin)
			flags |= CEE_TCP_FIN;
		if (n > 0 && n == unsent)
			flags |= CEE_TCP_PSH;
		out_init(&out, seq, tcb->rcv_nxt, flags);
		out.wnd = wnd_field(ctx, tcb);
		if (n > 0) {
			uint32_t size = ctx->cfg.sndbuf;
			uint32_t pos = sb_pos(ctx, tcb, off);
			uint32_t first = min_u32(n, size - pos);
			out.data[0] = tcb->sb + pos;
			out.len[0] = first;
			if (n > first) {
				out.data[1] = tcb->sb;
				out.len[1] = n - first;
			}
		}

		// accounting: bytes_out counts each payload byte once, at its first transmission
		uint32_t end = seq + n;
		if (seq_gt(end, tcb->snd_max)) {
			uint32_t from = seq_gt(tcb->snd_max, seq) ? tcb->snd_max : seq;
			tcb->bytes_out += end - from;
			if (!probe)
				tcb->last_activity_ns = now_ns;
		}
		if (fin && !(tcb->flags & CEE_TCB_F_FIN_SENT))
			tcb->last_activity_ns = now_ns;
		if (probe) {
			ctx->stats.zero_window_probes++;
		} else if (rexmit) {
			ctx->stats.retransmits++;
			tcb->retransmits++;
		}
		if (!rexmit && !probe && !(tcb->flags & CEE_TCB_F_RTT))
			rtt_start(tcb, seq, now_ns); // Karn: only first transmissions are timed

		tcb->snd_nxt = end + (fin ? 1 : 0);
		if (seq_gt(tcb->snd_nxt, tcb->snd_max))
			tcb->snd_max = tcb->snd_nxt;
		if (rexmit)
			rexmit_budget--;
		nsent++;
		emit(ctx, tcb, &out);

		if (fin && !(tcb->flags & CEE_TCB_F_FIN_SENT)) {
			tcb->flags |= CEE_TCB_F_FIN_SENT;
			// RFC 9293 3.10.4 CLOSE: FIN sent -> FIN-WAIT-1 / LAST-ACK
			switch ((enum cee_tcp_state)tcb->state) {
			case CEE_TCP_ESTABLISHED:
				set_state(ctx, tcb, CEE_TCP_FIN_WAIT_1, now_ns);
				break;
			case CEE_TCP_CLOSE_WAIT:
				set_state(ctx, tcb, CEE_TCP_LAST_ACK, now_ns);
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
		if (fin || probe)
			break;
	}
	if (nsent == 0 && (tcb->flags & CEE_TCB_F_ACK_NOW))
		send_ack(ctx, tcb);
	tcb->flags &= (uint8_t)~CEE_TCB_F_ACK_NOW;
	arm_rto(tcb, now_ns);
}

/* Deadlines -------------------------------------------------------------------------------- */

static void update_timer(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb)
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
		tcb->idle_at_ns =
		    ctx->cfg.idle_timeout_ns ? tcb->last_activity_ns + ctx->cfg.idle_timeout_ns : 0;
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
	if (at != tcb->timer_at_ns) {
		tcb->timer_at_ns = at;
		ctx->ops->timer_set(ctx->owner, tcb, at);
	}
}

/* End of every entry point on a live tcb. */
static void finish(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint64_t now_ns,
		   unsigned rexmit_budget, bool probe)
{
	output(ctx, tcb, now_ns, rexmit_budget, probe);
	maybe_free_sb(ctx, tcb);
	update_timer(ctx, tcb);
}

/* Queue our FIN (graceful close) with @p reason. */
static void queue_fin(struct cee_tcb *tcb, enum cee_reason reason)
{
	set_reason(tcb, reason);
	tcb->flags |= CEE_TCB_F_FIN_QUEUED;
}

/* This side closes (owner, service or idle timeout): FIN queued, no more sends. */
static void local_close(struct cee_tcb *tcb, enum cee_reason reason)
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
	if (abort_requested(tcb)) {
		abort_conn(ctx, tcb, (enum cee_reason)tcb->close_reason, now_ns);
		return; /* destroyed */
	}
	tcb->uflags &= (uint8_t)~CEE_TCB_U_BUSY;
}

/* finish() unless an abort is pending, then leave(). */
static void finish_leave(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint64_t now_ns,
			 unsigned rexmit_budget, bool probe)
{
	if (!abort_requested(tcb))
		finish(ctx, tcb, now_ns, rexmit_budget, probe);
	leave(ctx, tcb, now_ns);
}

/* Opens ------------------------------------------------------------------------------------ */

static uint32_t fallback_isn(const struct cee_tcb *tcb, uint64_t now_ns)
{
	// RFC 9293 3.4.1 clock (4 us) plus a mix of the peer's ISN and the tcb address.
	// Predictable: owners should supply a keyed hash (RFC 6528) in ctx->isn.
	uint64_t x = ((uint64_t)tcb->irs << 32) ^ (uint64_t)(uintptr_t)tcb;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return (uint32_t)x + (uint32_t)(now_ns / 4000);
}

/* The peer's SYN options: MSS (RFC 9293 3.7.1) and window scale (RFC 7323 2.2/2.3). */
static void take_syn_options(const struct cee_tcp_ctx *ctx, struct cee_tcb *tcb,
			     const struct cee_tcp_seg *syn)
{
	// 536 when the SYN carries no MSS option
	uint16_t peer_mss = syn->mss ? syn->mss : 536;
	tcb->snd_mss = peer_mss < ctx->cfg.mss ? peer_mss : ctx->cfg.mss;
	if (tcb->snd_mss == 0)
		tcb->snd_mss = 536;

	// scale only when both SYNs carry the option (ours always does in an active
	// open, a SYN-ACK only answers one); shifts above 14 are taken as 14
	if (syn->wscale != 0xff) {
		tcb->flags |= CEE_TCB_F_WSCALE;
		tcb->snd_wscale = syn->wscale > 14 ? 14 : syn->wscale;
		tcb->rcv_wscale = ctx->cfg.rcv_wscale > 14 ? 14 : ctx->cfg.rcv_wscale;
	} else {
		tcb->flags &= (uint8_t)~CEE_TCB_F_WSCALE;
		tcb->snd_wscale = 0;
		tcb->rcv_wscale = 0;
	}
}

void cee_tcp_accept(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, enum cee_tcp_service service,
		    const struct cee_tcp_seg *syn, uint64_t now_ns)
{
	ctx->stats.segs_in++;
	tcb->service = (uint8_t)service;
	tcb->close_reason = CEE_REASON_NONE;
	tcb->open_ns = now_ns;
	tcb->last_activity_ns = now_ns;

	// RFC 9293 3.10.7.2: RCV.NXT = SEG.SEQ + 1, IRS = SEG.SEQ; SYN payload is not taken
	tcb->irs = syn->seq;
	tcb->rcv_nxt = syn->seq + 1;
	tcb->rcv_adv = tcb->rcv_nxt;
	tcb->iss = ctx->isn ? ctx->isn(ctx->owner, tcb, now_ns) : fallback_isn(tcb, now_ns);
	tcb->snd_una = tcb->snd_nxt = tcb->snd_max = tcb->iss;
	// RFC 7323 2.2: the window in a SYN is never scaled
	tcb->snd_wnd = syn->wnd;
	tcb->snd_wl1 = syn->seq;
	tcb->snd_wl2 = tcb->iss;

	take_syn_options(ctx, tcb, syn);

	tcb->rto_ns = ctx->cfg.rto_initial_ns; // RFC 6298 2.1
	enter(tcb);
	set_state(ctx, tcb, CEE_TCP_SYN_RECEIVED, now_ns);
	finish_leave(ctx, tcb, now_ns, 0, false);
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

	tcb->rto_ns = ctx->cfg.rto_initial_ns; // RFC 6298 2.1
	enter(tcb);
	set_state(ctx, tcb, CEE_TCP_SYN_SENT, now_ns);
	finish_leave(ctx, tcb, now_ns, 0, false); /* SYN, RTO, handshake deadline */
}

/* Input ------------------------------------------------------------------------------------ */

/* New data acked: move snd_una, free acked bytes, take an RTT sample (RFC 9293 3.10.7.4 fifth). */
static void ack_advance(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint32_t ack, uint64_t now_ns)
{
	uint32_t acked = ack - tcb->snd_una;
	if ((tcb->flags & CEE_TCB_F_FIN_SENT) && ack == tcb->snd_max)
		acked--; /* the FIN's sequence number */
	acked = min_u32(acked, tcb->sb_len);
	if (acked > 0) {
		tcb->sb_head = sb_pos(ctx, tcb, acked);
		tcb->sb_len -= acked;
	}
	tcb->snd_una = ack;
	if (seq_lt(tcb->snd_nxt, ack))
		tcb->snd_nxt = ack;
	rtt_sample(ctx, tcb, ack, now_ns);
	tcb->retries = 0;
	tcb->rto_at_ns = 0; // RFC 6298 5.3: restarted by arm_rto when data is still out
}

static bool fin_acked(const struct cee_tcb *tcb)
{
	return (tcb->flags & CEE_TCB_F_FIN_SENT) && tcb->snd_una == tcb->snd_max;
}

/*
 * RFC 9293 3.10.7.3, SYN-SENT. @return true when the tcb was destroyed.
 * Data and FIN on the SYN are not taken (as in a passive open): the peer
 * sends them again.
 */
static bool input_syn_sent(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb,
			   const struct cee_tcp_seg *seg, uint64_t now_ns)
{
	bool ack = seg->flags & CEE_TCP_ACK;

	// first: an ACK outside ISS < SEG.ACK =< SND.NXT: <SEQ=SEG.ACK><CTL=RST> unless RST
	if (ack && (seq_leq(seg->ack, tcb->iss) || seq_gt(seg->ack, tcb->snd_max))) {
		ctx->stats.bad_ack++;
		if (!(seg->flags & CEE_TCP_RST)) {
			struct cee_tcp_out out;
			out_init(&out, seg->ack, 0, CEE_TCP_RST);
			emit(ctx, tcb, &out);
		}
		return false;
	}
	// second: RST counts only with an acceptable ACK (it then names our SYN)
	if (seg->flags & CEE_TCP_RST) {
		if (!ack) {
			ctx->stats.bad_rst++;
			return false;
		}
		set_reason(tcb, CEE_REASON_PEER_RST);
		set_state(ctx, tcb, CEE_TCP_CLOSED, now_ns);
		return true;
	}
	// fourth (third, security, does not apply): SYN; neither SYN nor RST: drop
	if (!(seg->flags & CEE_TCP_SYN))
		return false;
	tcb->irs = seg->seq;
	tcb->rcv_nxt = seg->seq + 1;
	tcb->rcv_adv = tcb->rcv_nxt; /* no edge yet: rcv_window() is the plain space */
	tcb->rcv_adv += syn_window(ctx, tcb, true); /* the edge our SYN announced */
	take_syn_options(ctx, tcb, seg);
	tcb->snd_wnd = seg->wnd; // RFC 7323 2.2: the window in a SYN is never scaled
	tcb->snd_wl1 = seg->seq;

	if (ack) {
		// our SYN is acked: ESTABLISHED, <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>
		ack_advance(ctx, tcb, seg->ack, now_ns); /* RTT sample unless the SYN was resent */
		tcb->snd_wl2 = seg->ack;
		tcb->last_activity_ns = now_ns;
		tcb->flags |= CEE_TCB_F_ACK_NOW;
		set_state(ctx, tcb, CEE_TCP_ESTABLISHED, now_ns);
		return false;
	}
	// simultaneous open: SYN-RECEIVED, <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK> through the
	// passive-open path; the SYN-ACK is a first transmission (a fresh RTT sample and RTO)
	tcb->snd_wl2 = tcb->iss;
	tcb->snd_nxt = tcb->snd_max = tcb->iss;
	tcb->flags &= (uint8_t)~CEE_TCB_F_RTT;
	tcb->rto_at_ns = 0;
	set_state(ctx, tcb, CEE_TCP_SYN_RECEIVED, now_ns);
	return false;
}

/*
 * RFC 9293 3.10.7.4 for SYN-RECEIVED .. TIME-WAIT. @return true when the tcb
 * was destroyed (false with an abort requested from a callback: the caller
 * aborts). *advanced: snd_una moved (releases retransmissions).
 */
static bool input_sync(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, const struct cee_tcp_seg *seg,
		       uint64_t now_ns, bool *advanced)
{
	uint32_t seq = seg->seq;
	const uint8_t *data = seg->data;
	uint32_t len = seg->len;
	bool fin = seg->flags & CEE_TCP_FIN;
	uint32_t wnd = rcv_window(ctx, tcb);

	// RFC 5961 3.2 (replaces RFC 9293 3.10.7.4 second): RST
	if (seg->flags & CEE_TCP_RST) {
		if (seq == tcb->rcv_nxt) {
			set_reason(tcb, CEE_REASON_PEER_RST);
			set_state(ctx, tcb, CEE_TCP_CLOSED, now_ns);
			return true;
		}
		if (seq_leq(tcb->rcv_nxt, seq) && seq_lt(seq, tcb->rcv_nxt + (wnd ? wnd : 1)))
			challenge_ack(ctx, tcb);
		else
			ctx->stats.bad_rst++;
		return false;
	}

	// RFC 5961 4.2 (RFC 9293 3.10.7.4 fourth): SYN on a synchronised connection
	if (seg->flags & CEE_TCP_SYN) {
		if (tcb->state == CEE_TCP_SYN_RECEIVED && !(seg->flags & CEE_TCP_ACK) &&
		    seq == tcb->irs) {
			// the peer did not get our SYN-ACK: send it again
			tcb->snd_nxt = tcb->iss;
			tcb->flags &= (uint8_t)~CEE_TCB_F_RTT;
			return false;
		}
		if (tcb->state == CEE_TCP_SYN_RECEIVED && (tcb->uflags & CEE_TCB_U_ACTIVE) &&
		    seq == tcb->irs && (seg->flags & CEE_TCP_ACK) && seg->ack == tcb->snd_max) {
			// simultaneous open (RFC 9293 3.5): the peer's SYN-ACK acks our
			// SYN; its SYN is the one we took in SYN-SENT
			ack_advance(ctx, tcb, seg->ack, now_ns);
			*advanced = true;
			tcb->snd_wnd = seg->wnd; /* never scaled in a SYN */
			tcb->snd_wl1 = seq;
			tcb->snd_wl2 = seg->ack;
			tcb->last_activity_ns = now_ns;
			tcb->flags |= CEE_TCB_F_ACK_NOW;
			set_state(ctx, tcb, CEE_TCP_ESTABLISHED, now_ns);
			return false;
		}
		ctx->stats.bad_syn++;
		challenge_ack(ctx, tcb);
		return false;
	}

	// RFC 9293 3.10.7.4 first: sequence number check
	if (!acceptable(seq, len + (fin ? 1 : 0), tcb->rcv_nxt, wnd)) {
		if (wnd == 0 && seq == tcb->rcv_nxt) {
			// zero window: "special allowance" for ACKs (and a FIN, which needs no
			// room); the text is dropped and our window goes back to the prober
			len = 0;
			tcb->flags |= CEE_TCB_F_ACK_NOW;
		} else {
			if (tcb->state == CEE_TCP_TIME_WAIT && fin)
				// RFC 9293 3.10.7.4 eighth, TIME-WAIT: a retransmitted FIN; ack,
				// restart 2 MSL
				tcb->idle_at_ns = now_ns + ctx->cfg.time_wait_ns;
			else
				ctx->stats.out_of_window++;
			tcb->flags |= CEE_TCB_F_ACK_NOW;
			return false;
		}
	}
	// trim to the window (RFC 9293 3.10.7.4 first, "trimmed ... to fit")
	if (seq_lt(seq, tcb->rcv_nxt)) {
		uint32_t skip = min_u32(tcb->rcv_nxt - seq, len);
		data += skip;
		len -= skip;
		seq = tcb->rcv_nxt;
	}
	if (len > 0 && seq_gt(seq + len, tcb->rcv_nxt + wnd)) {
		len = tcb->rcv_nxt + wnd - seq;
		fin = false;
	}

	// RFC 9293 3.10.7.4 fifth: ACK
	if (!(seg->flags & CEE_TCP_ACK))
		return false;
	if (tcb->state == CEE_TCP_SYN_RECEIVED) {
		if (seg->ack != tcb->snd_max) {
			// SND.UNA < SEG.ACK =< SND.NXT fails: <SEQ=SEG.ACK><CTL=RST>
			struct cee_tcp_out out;
			out_init(&out, seg->ack, 0, CEE_TCP_RST);
			emit(ctx, tcb, &out);
			return false;
		}
		ack_advance(ctx, tcb, seg->ack, now_ns);
		*advanced = true;
		tcb->snd_wnd = (uint32_t)seg->wnd << tcb->snd_wscale;
		tcb->snd_wl1 = seg->seq;
		tcb->snd_wl2 = seg->ack;
		tcb->last_activity_ns = now_ns;
		set_state(ctx, tcb, CEE_TCP_ESTABLISHED, now_ns);
		if (abort_requested(tcb))
			return false; /* from the established callback */
	} else {
		// RFC 5961 5.2: SND.UNA - MAX.SND.WND =< SEG.ACK =< SND.NXT (SND.MAX here)
		uint32_t max_wnd = (uint32_t)65535 << tcb->snd_wscale;
		if (seq_gt(seg->ack, tcb->snd_max) || seq_lt(seg->ack, tcb->snd_una - max_wnd)) {
			ctx->stats.bad_ack++;
			tcb->flags |= CEE_TCB_F_ACK_NOW;
			return false;
		}
		if (seq_gt(seg->ack, tcb->snd_una)) {
			ack_advance(ctx, tcb, seg->ack, now_ns);
			*advanced = true;
		}
		// RFC 9293 3.10.7.4 fifth: window update from the newest segment
		if (seq_leq(tcb->snd_una, seg->ack) &&
		    (seq_lt(tcb->snd_wl1, seg->seq) ||
		     (tcb->snd_wl1 == seg->seq && seq_leq(tcb->snd_wl2, seg->ack)))) {
			uint32_t old_wnd = tcb->snd_wnd;
			tcb->snd_wnd = (uint32_t)seg->wnd << tcb->snd_wscale;
			tcb->snd_wl1 = seg->seq;
			tcb->snd_wl2 = seg->ack;
			if (old_wnd == 0 && tcb->snd_wnd > 0 && tcb->snd_una != tcb->snd_max) {
				// the window reopened with a probe byte unacked: resend from it now
				tcb->snd_nxt = tcb->snd_una;
				*advanced = true;
			}
		}
		if (tcb->snd_wnd == 0)
			tcb->retries = 0; /* a zero-window peer that answers is alive */

		switch ((enum cee_tcp_state)tcb->state) {
		case CEE_TCP_FIN_WAIT_1:
			if (fin_acked(tcb))
				set_state(ctx, tcb, CEE_TCP_FIN_WAIT_2, now_ns);
			break;
		case CEE_TCP_CLOSING:
			if (fin_acked(tcb))
				set_state(ctx, tcb, CEE_TCP_TIME_WAIT, now_ns);
			break;
		case CEE_TCP_LAST_ACK:
			if (fin_acked(tcb)) {
				set_state(ctx, tcb, CEE_TCP_CLOSED, now_ns);
				return true;
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
	}

	// RFC 9293 3.10.7.4 seventh: segment text
	if (len > 0 || fin)
		tcb->last_activity_ns = now_ns;
	bool take_text = false;
	switch ((enum cee_tcp_state)tcb->state) {
	case CEE_TCP_ESTABLISHED:
	case CEE_TCP_FIN_WAIT_1:
	case CEE_TCP_FIN_WAIT_2:
		take_text = true;
		break;
	case CEE_TCP_CLOSE_WAIT:
	case CEE_TCP_CLOSING:
	case CEE_TCP_LAST_ACK:
	case CEE_TCP_TIME_WAIT:
	case CEE_TCP_CLOSED:
	case CEE_TCP_SYN_SENT:
	case CEE_TCP_SYN_RECEIVED:
	case CEE_TCP_STATE__COUNT:
		break; /* after the peer's FIN: ignored */
	}
	if (!take_text) {
		len = 0;
		fin = false;
	}
	if (len > 0 && seq == tcb->rcv_nxt && tcb->service == CEE_TCP_SVC_APP) {
		// counted and acked before the owner sees them (it may send or close from recv)
		tcb->rcv_nxt += len;
		tcb->bytes_in += len;
		tcb->flags |= CEE_TCB_F_ACK_NOW;
		if (ctx->ops->recv != NULL)
			ctx->ops->recv(ctx->owner, tcb, data, len);
		if (abort_requested(tcb))
			return false;
	} else if (len > 0 && seq == tcb->rcv_nxt) {
		uint32_t n = deliver(ctx, tcb, data, len);
		if (n < len)
			fin = false;
		if (n > 0) {
			tcb->rcv_nxt += n;
			tcb->bytes_in += n;
			ooo_advance(tcb);
			tcb->flags |= CEE_TCB_F_ACK_NOW;
			// echo-close: what was just echoed is all; FIN after it
			if (tcb->service == CEE_TCP_SVC_ECHO_CLOSE &&
			    !(tcb->flags & CEE_TCB_F_FIN_QUEUED))
				local_close(tcb, CEE_REASON_LOCAL_CLOSE);
		}
	} else if ((len > 0 || fin) && seq != tcb->rcv_nxt) {
		if (len > 0)
			ooo_add(ctx, tcb, seq, data, len);
		fin = false;
		tcb->flags |= CEE_TCB_F_ACK_NOW; /* duplicate ACK for out-of-order data */
	}

	// RFC 9293 3.10.7.4 eighth: FIN
	if (!fin || seq + len != tcb->rcv_nxt)
		return false;
	tcb->rcv_nxt++;
	tcb->flags |= CEE_TCB_F_FIN_RCVD | CEE_TCB_F_ACK_NOW;
	tcb->ooo_n = 0; /* nothing can follow the FIN */
	set_reason(tcb, CEE_REASON_PEER_FIN);
	switch ((enum cee_tcp_state)tcb->state) {
	case CEE_TCP_ESTABLISHED:
		tcb->flags |= CEE_TCB_F_FIN_QUEUED; /* both services close after the peer's FIN */
		set_state(ctx, tcb, CEE_TCP_CLOSE_WAIT, now_ns);
		break;
	case CEE_TCP_FIN_WAIT_1:
		// our FIN not acked yet (else we would be in FIN-WAIT-2 by now)
		set_state(ctx, tcb, fin_acked(tcb) ? CEE_TCP_TIME_WAIT : CEE_TCP_CLOSING, now_ns);
		break;
	case CEE_TCP_FIN_WAIT_2:
		set_state(ctx, tcb, CEE_TCP_TIME_WAIT, now_ns);
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
	return false;
}

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

void cee_tcp_input(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, const struct cee_tcp_seg *seg,
		   uint64_t now_ns)
{
	ctx->stats.segs_in++;
	if (seg->flags & CEE_TCP_RST)
		ctx->stats.rst_in++;

	if (!serves_input((enum cee_tcp_state)tcb->state))
		return;

	bool advanced = false;
	enter(tcb);
	if (tcb->state == CEE_TCP_SYN_SENT ? input_syn_sent(ctx, tcb, seg, now_ns)
					   : input_sync(ctx, tcb, seg, now_ns, &advanced))
		return;
	finish_leave(ctx, tcb, now_ns, advanced ? 2 : 0, false);
}

/* Timers ----------------------------------------------------------------------------------- */

/* RFC 6298 5.4-5.7. @return true when the tcb was destroyed. */
static bool rto_expired(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint64_t now_ns, bool *probe)
{
	bool handshake = tcb->state == CEE_TCP_SYN_RECEIVED || tcb->state == CEE_TCP_SYN_SENT;
	uint32_t limit = handshake ? ctx->cfg.synack_retries : ctx->cfg.max_retries;

	tcb->rto_at_ns = 0;
	if (tcb->snd_una == tcb->snd_max && unsent_bytes(tcb) == 0)
		return false; /* nothing to do (stale deadline) */
	if (tcb->retries >= min_u32(limit, UINT8_MAX)) {
		abort_conn(ctx, tcb,
			   handshake ? CEE_REASON_HANDSHAKE_TIMEOUT : CEE_REASON_RETRANSMIT_TIMEOUT,
			   now_ns);
		return true;
	}
	tcb->retries++;
	tcb->rto_ns = min_u64(tcb->rto_ns * 2, ctx->cfg.rto_max_ns); // 5.5
	tcb->flags &= (uint8_t)~CEE_TCB_F_RTT;			     // Karn
	tcb->snd_nxt = tcb->snd_una;				     // 5.4, go-back-N
	*probe = !handshake && tcb->snd_wnd == 0;
	return false;
}

/* idle_at_ns passed; its meaning depends on the state. @return true when destroyed. */
static bool deadline_expired(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint64_t now_ns)
{
	switch ((enum cee_tcp_state)tcb->state) {
	case CEE_TCP_SYN_SENT:
	case CEE_TCP_SYN_RECEIVED:
		abort_conn(ctx, tcb, CEE_REASON_HANDSHAKE_TIMEOUT, now_ns);
		return true;
	case CEE_TCP_ESTABLISHED:
		if (!(tcb->flags & CEE_TCB_F_FIN_QUEUED)) {
			local_close(tcb, CEE_REASON_IDLE_TIMEOUT);
			tcb->last_activity_ns = now_ns; /* one more idle period to finish */
			return false;
		}
		abort_conn(ctx, tcb, CEE_REASON_IDLE_TIMEOUT, now_ns);
		return true;
	case CEE_TCP_CLOSE_WAIT:
	case CEE_TCP_FIN_WAIT_1:
	case CEE_TCP_CLOSING:
	case CEE_TCP_LAST_ACK:
		abort_conn(ctx, tcb, CEE_REASON_IDLE_TIMEOUT, now_ns);
		return true;
	case CEE_TCP_FIN_WAIT_2:
	case CEE_TCP_TIME_WAIT:
		abort_conn(ctx, tcb, CEE_REASON_LOCAL_CLOSE, now_ns); /* reason set already */
		return true;
	case CEE_TCP_CLOSED:
	case CEE_TCP_STATE__COUNT:
		break;
	}
	tcb->idle_at_ns = 0;
	return false;
}

void cee_tcp_timer(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint64_t now_ns)
{
	if (!serves_input((enum cee_tcp_state)tcb->state))
		return;

	unsigned budget = 0;
	bool probe = false;
	enter(tcb);
	if (tcb->rto_at_ns != 0 && now_ns >= tcb->rto_at_ns) {
		if (rto_expired(ctx, tcb, now_ns, &probe))
			return;
		budget = 1;
	}
	if (tcb->idle_at_ns != 0 && now_ns >= tcb->idle_at_ns) {
		if (deadline_expired(ctx, tcb, now_ns))
			return;
	}
	// the owner's timer is spent: make update_timer re-arm even an unchanged deadline
	if (tcb->timer_at_ns != 0 && now_ns >= tcb->timer_at_ns)
		tcb->timer_at_ns = 0;
	finish_leave(ctx, tcb, now_ns, budget, probe);
}

/* User calls ------------------------------------------------------------------------------- */

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
		local_close(tcb, reason);
		break;
	case CEE_TCP_FIN_WAIT_1:
	case CEE_TCP_FIN_WAIT_2:
	case CEE_TCP_CLOSING:
	case CEE_TCP_LAST_ACK:
	case CEE_TCP_TIME_WAIT:
		set_reason(tcb, reason); /* closing already */
		tcb->uflags |= CEE_TCB_U_CLOSE;
		break;
	}
	if (tcb->uflags & CEE_TCB_U_BUSY)
		return; /* from a callback: the running call sends the FIN */
	enter(tcb);
	finish_leave(ctx, tcb, now_ns, 0, false);
}

void cee_tcp_abort(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, enum cee_reason reason,
		   uint64_t now_ns)
{
	if (tcb->state == CEE_TCP_CLOSED || tcb->state >= CEE_TCP_STATE__COUNT)
		return; /* destroyed already (e.g. from the closed callback), or never opened */
	if (tcb->uflags & CEE_TCB_U_BUSY) {
		// from a callback: the running call stops and aborts when it returns
		set_reason(tcb, reason);
		tcb->uflags |= CEE_TCB_U_ABORT;
		return;
	}
	abort_conn(ctx, tcb, reason, now_ns);
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

	uint32_t n = min_u32(min_u32(len, ctx->cfg.sndbuf - tcb->sb_len), INT32_MAX);
	if (n == 0)
		return 0;
	if (!ensure_sb(ctx, tcb))
		return -ENOBUFS;
	sb_write(ctx, tcb, tcb->sb_len, data, n);
	tcb->sb_len += n;
	if (!(tcb->uflags & CEE_TCB_U_BUSY)) {
		enter(tcb);
		finish_leave(ctx, tcb, now_ns, 0, false);
	} /* else from a callback: the running call sends it */
	return (int)n;
}

bool cee_tcp_rst_for(const struct cee_tcp_seg *seg, struct cee_tcp_out *out)
{
	// RFC 9293 3.10.7.1
	if (seg->flags & CEE_TCP_RST)
		return false;
	if (seg->flags & CEE_TCP_ACK) {
		out_init(out, seg->ack, 0, CEE_TCP_RST);
	} else {
		uint32_t seg_len = seg->len + ((seg->flags & CEE_TCP_SYN) ? 1 : 0) +
				   ((seg->flags & CEE_TCP_FIN) ? 1 : 0);
		out_init(out, 0, seg->seq + seg_len, CEE_TCP_RST | CEE_TCP_ACK);
	}
	return true;
}
