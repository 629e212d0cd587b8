/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

/*
 * Internal to the TCP module (cee_tcp*.c); not part of the API.
 *
 * The module is split by what each part does (RFC 9293 3.10 names the same
 * parts):
 *   cee_tcp.c         the state machine (set_state: the one writer of
 *                     tcb->state and the one reporter of lifecycle events),
 *                     opens, user calls (send, close, abort), re-entrancy;
 *   cee_tcp_input.c   segment arrival (3.10.7): SYN-SENT, then the checks
 *                     of a synchronised connection in the RFC's order, one
 *                     function per step; reassembly of out-of-order data;
 *   cee_tcp_output.c  the send buffer, windows, segment output, the RTT
 *                     estimator (RFC 6298);
 *   cee_tcp_cc.c      congestion control (RFC 5681, NewReno RFC 6582,
 *                     CUBIC RFC 9438);
 *   cee_tcp_timer.c   deadlines: retransmission, persist, handshake, idle,
 *                     FIN-WAIT-2, TIME-WAIT;
 *   cee_tcp_opt.c     options negotiated on the SYN (MSS, window scale).
 */

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "cee_tcp.h"

/*
 * The parts are compiled as one translation unit (dataplane/meson.build:
 * unity build of the cee_tcp library), so functions shared between parts
 * are static: the compiler inlines across parts as it did when TCP was one
 * file (callgrind: 10% fewer instructions per lifecycle than with extern
 * functions between the parts).
 */
#define CEE_TCP_INTERNAL static

/* The smallest peer MSS we send by (a smaller announced one is raised to it). */
#define CEE_TCP_MIN_MSS 64

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

static inline bool seq_geq(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) >= 0;
}

static inline uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

static inline uint32_t max_u32(uint32_t a, uint32_t b)
{
	return a > b ? a : b;
}

static inline uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static inline uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* The first close cause is kept: a later one never replaces it. */
static inline void tcp_set_reason(struct cee_tcb *tcb, enum cee_reason r)
{
	if (tcb->close_reason == CEE_REASON_NONE)
		tcb->close_reason = (uint8_t)r;
}

/* Echo services put received bytes in the send buffer until our FIN is queued. */
static inline bool tcp_echo_mode(const struct cee_tcb *tcb)
{
	return (tcb->service == CEE_TCP_SVC_ECHO || tcb->service == CEE_TCP_SVC_ECHO_CLOSE) &&
	       !(tcb->flags & CEE_TCB_F_FIN_QUEUED);
}

/* In-order bytes go to ops->recv (the app and paced services). */
static inline bool tcp_app_mode(const struct cee_tcb *tcb)
{
	return tcb->service >= CEE_TCP_SVC_APP;
}

/* An abort was requested from inside a callback: the running call stops and aborts. */
static inline bool tcp_abort_requested(const struct cee_tcb *tcb)
{
	return tcb->uflags & CEE_TCB_U_ABORT;
}

static inline void tcp_out_init(struct cee_tcp_out *out, uint32_t seq, uint32_t ack,
				uint8_t flags)
{
	// field by field: the SACK blocks and timestamps are read only when their
	// count or flag says so, and zeroing the whole struct per segment shows
	out->seq = seq;
	out->ack = ack;
	out->wnd = 0;
	out->flags = flags;
	out->wscale = 0xff;
	out->mss = 0;
	out->sack_ok = false;
	out->nsack = 0;
	out->ts = false;
	out->data[0] = out->data[1] = NULL;
	out->len[0] = out->len[1] = 0;
}

/*
 * Our TSval (RFC 7323 5.4, 7): a 2^20 ns (about 1 ms) clock, offset per
 * 4-tuple by the owner's keyed hash (ctx->ts_off). The ISS alone did not
 * hide the clock: a SYN-ACK carries both, and TSval - SEQ was the engine's
 * clock (its uptime, to the millisecond); with a secret beside the ISS
 * (ctx->ts_key, the fallback), it was the clock plus one constant, the
 * same for every connection.
 */
static inline uint32_t tcp_ts_off(const struct cee_tcp_ctx *ctx, const struct cee_tcb *tcb)
{
	return ctx->ts_off != NULL ? ctx->ts_off(ctx->owner, tcb) : tcb->iss + ctx->ts_key;
}

static inline uint32_t tcp_ts_now(const struct cee_tcp_ctx *ctx, const struct cee_tcb *tcb,
				  uint64_t now_ns)
{
	return (uint32_t)(now_ns >> 20) + tcp_ts_off(ctx, tcb);
}

/* Add the timestamps option to a segment of a connection that negotiated it. */
static inline void tcp_add_ts(const struct cee_tcp_ctx *ctx, const struct cee_tcb *tcb,
			      struct cee_tcp_out *out, uint64_t now_ns)
{
	if (!(tcb->uflags & CEE_TCB_U_TS))
		return;
	out->ts = true;
	out->tsval = tcp_ts_now(ctx, tcb, now_ns);
	out->tsecr = tcb->ts_recent;
}

/*
 * Karn (RFC 6298 3): the running RTT sample covers bytes sent again, so it
 * is dropped; with timestamps the next echo of a TSval measures instead.
 */
static inline void tcp_rtt_cancel(struct cee_tcb *tcb)
{
	if (tcb->flags & CEE_TCB_F_RTT)
		tcb->uflags |= CEE_TCB_U_KARN;
	tcb->flags &= (uint8_t)~CEE_TCB_F_RTT;
}

/* RFC 6298: time the segment starting at @p seq (its ACK is sampled in cee_tcp_input.c). */
static inline void tcp_rtt_start(struct cee_tcb *tcb, uint32_t seq, uint64_t now_ns)
{
	tcb->flags |= CEE_TCB_F_RTT;
	tcb->uflags &= (uint8_t)~CEE_TCB_U_KARN;
	tcb->rtt_seq = seq;
	tcb->rtt_ts_us = (uint32_t)(now_ns / 1000);
}

static inline bool tcp_fin_acked(const struct cee_tcb *tcb)
{
	return (tcb->flags & CEE_TCB_F_FIN_SENT) && tcb->snd_una == tcb->snd_max;
}

/* Fresh loss-recovery state @p x for @p tcb (cee_tcp_cc.c). */
CEE_TCP_INTERNAL void tcp_cc_xmit_init(struct cee_tcb *tcb, struct cee_tcp_xmit *x);

/*
 * The loss-recovery state after the send ring, initialised on first use
 * (tcp_cc_xmit_init()); NULL without a send buffer.
 */
static inline struct cee_tcp_xmit *tcp_xmit(const struct cee_tcp_ctx *ctx, struct cee_tcb *tcb)
{
	if (tcb->sb == NULL)
		return NULL;
	struct cee_tcp_xmit *x = (struct cee_tcp_xmit *)(void *)(tcb->sb +
								  cee_tcp_xmit_off(&ctx->cfg,
										   tcb->sb_class));
	if (!(tcb->uflags & CEE_TCB_U_XMIT))
		tcp_cc_xmit_init(tcb, x);
	return x;
}

/* The loss-recovery state if it was initialised, else NULL (never initialises it). */
static inline struct cee_tcp_xmit *tcp_xmit_if(const struct cee_tcp_ctx *ctx,
					       const struct cee_tcb *tcb)
{
	if (!(tcb->uflags & CEE_TCB_U_XMIT))
		return NULL;
	return (struct cee_tcp_xmit *)(void *)(tcb->sb + cee_tcp_xmit_off(&ctx->cfg, tcb->sb_class));
}

/*
 * Loss recovery began with the head's resend: the retransmission timer
 * runs a whole RTO from it (as Linux's tcp_xmit_retransmit_queue() re-arms
 * it), and a tail-loss probe deadline armed before is spent (RFC 8985 7.2:
 * no probe in recovery). Left armed, the probe deadline (2 SRTT after the
 * last ACK that moved SND.UNA) expired as an RTO whenever the resend's ACK
 * took longer: cwnd 1 MSS, the scoreboard gone, the window cut twice for
 * one loss.
 */
static inline void tcp_recovery_rearm(struct cee_tcb *tcb, struct cee_tcp_xmit *x, uint64_t now_ns)
{
	x->tlp_rxt = 0; // (the recovery's response covers a probe's loss too)
	if (x->tlp == CEE_TCP_TLP_ARMED) {
		x->tlp = CEE_TCP_TLP_SENT;
		// no probe went, none can come back SACKed (as rto_expired()):
		// the position left from set-up (0) or an old probe, once inside
		// the flight, marked every unSACKed byte below it lost
		x->tlp_seq = tcb->snd_una;
	}
	tcb->rto_at_ns = now_ns + (uint64_t)tcb->rto_us * 1000;
}

/*
 * Send again from SND.UNA (go-back-N: a path-MTU drop, a window reopened, a
 * timeout's probe), paced by cwnd. SACK recovery ends with it (no window
 * cut): its rule 2 sends from SND.NXT and its pipe counts up to SND.MAX, so
 * a rewound SND.NXT resent the rest of the flight at once, SACKed bytes too,
 * past cwnd.
 */
static inline void tcp_rewind(const struct cee_tcp_ctx *ctx, struct cee_tcb *tcb)
{
	tcb->snd_nxt = tcb->snd_una;
	struct cee_tcp_xmit *x = tcp_xmit_if(ctx, tcb);
	if (x != NULL && x->in_recovery == CEE_TCP_REC_SACK)
		x->in_recovery = 0;
}

/* Out-of-order ranges held. */
static inline unsigned tcp_ooo_n(const struct cee_tcp_ctx *ctx, const struct cee_tcb *tcb)
{
	const struct cee_tcp_xmit *x = tcp_xmit_if(ctx, tcb);
	return x ? x->ooo_n : 0;
}

/* The send ring. */
static inline uint8_t *tcp_ring(const struct cee_tcb *tcb)
{
	return tcb->sb;
}

/* Ring bytes of this connection's send buffer (its class's size, also before it has one). */
static inline uint32_t tcp_sb_size(const struct cee_tcp_ctx *ctx, const struct cee_tcb *tcb)
{
	return cee_tcp_ring_size(&ctx->cfg, tcb->sb_class);
}

/*
 * The band a scaled window field rounded up may offer past rcv_adv (less
 * than 2^scale), which app and paced connections take (cee_tcp_input.c,
 * rcv_window_in()); a paced one keeps its room aside, at most a 16th of
 * its buffer (an embedder's scale of 11 or more left a paced window of
 * nothing once the band was set aside).
 */
static inline uint32_t tcp_band(const struct cee_tcp_ctx *ctx, const struct cee_tcb *tcb)
{
	if (!(tcb->flags & CEE_TCB_F_WSCALE) || tcb->rcv_wscale == 0)
		return 0;
	uint32_t band = (1u << tcb->rcv_wscale) - 1;
	if (tcb->service == CEE_TCP_SVC_PACED && band > tcp_sb_size(ctx, tcb) / 16)
		band = tcp_sb_size(ctx, tcb) / 16;
	return band;
}

/* Ring index of the byte @p off after the head; off <= ring size, so no division. */
static inline uint32_t tcp_sb_pos(const struct cee_tcp_ctx *ctx, const struct cee_tcb *tcb,
				  uint32_t off)
{
	uint64_t pos = (uint64_t)tcb->sb_head + off;
	uint32_t size = tcp_sb_size(ctx, tcb);

	return (uint32_t)(pos >= size ? pos - size : pos);
}

/* cee_tcp.c: the state machine */
CEE_TCP_INTERNAL void tcp_set_state(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb,
				    enum cee_tcp_state to, uint64_t now_ns);
CEE_TCP_INTERNAL void tcp_abort_conn(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb,
				     enum cee_reason reason, uint64_t now_ns);
CEE_TCP_INTERNAL void tcp_local_close(struct cee_tcb *tcb, enum cee_reason reason);

/* cee_tcp_input.c: segment arrival; @return true when the tcb was destroyed */
CEE_TCP_INTERNAL bool tcp_input_syn_sent(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb,
					 const struct cee_tcp_seg *seg, uint64_t now_ns);
/* *reopen: destroyed by a SYN that reuses TIME-WAIT (RFC 6191), which opens anew */
CEE_TCP_INTERNAL bool tcp_input_sync(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb,
				     const struct cee_tcp_seg *seg, uint64_t now_ns, bool *reopen);

/* cee_tcp_output.c */
CEE_TCP_INTERNAL void tcp_emit(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb,
			       const struct cee_tcp_out *out);
CEE_TCP_INTERNAL void tcp_send_rst(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb);
/* A pure ACK (RCV.NXT, our window, SACK blocks, timestamps). */
CEE_TCP_INTERNAL void tcp_send_ack(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint64_t now_ns);
/* Data held back by sender SWS avoidance with nothing in flight (the override timer's case). */
CEE_TCP_INTERNAL bool tcp_sws_stalled(const struct cee_tcp_ctx *ctx, const struct cee_tcb *tcb);
/* The peer's window cannot take our next segment (0, or a sliver): the persist clock runs. */
CEE_TCP_INTERNAL bool tcp_wnd_shut(const struct cee_tcp_ctx *ctx, const struct cee_tcb *tcb);
/* tcp_wnd_shut(), or a small buffer's whole window below a segment: the persist clock runs. */
CEE_TCP_INTERNAL bool tcp_wnd_short(const struct cee_tcp_ctx *ctx, const struct cee_tcb *tcb);
CEE_TCP_INTERNAL void tcp_send_keepalive(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb,
					 uint64_t now_ns);
CEE_TCP_INTERNAL void tcp_challenge_ack(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb,
				       uint64_t now_ns);
CEE_TCP_INTERNAL bool tcp_oow_ack_ok(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb,
				     uint64_t now_ns);
/* tcp_oow_ack_ok() with or without the shard's budget (the per-connection limit always). */
CEE_TCP_INTERNAL bool tcp_oow_ack_ok_in(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb,
					uint64_t now_ns, bool shard_budget);
CEE_TCP_INTERNAL uint32_t tcp_rcv_window(const struct cee_tcp_ctx *ctx, const struct cee_tcb *tcb);
CEE_TCP_INTERNAL uint32_t tcp_syn_window(const struct cee_tcp_ctx *ctx, const struct cee_tcb *tcb,
					 bool on_grid);
CEE_TCP_INTERNAL bool tcp_ensure_sb(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb);
CEE_TCP_INTERNAL void tcp_free_sb(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb);
/* An app service's out-of-order bytes' buffer (x->rb) back to the pool, if held. */
CEE_TCP_INTERNAL void tcp_free_rb(struct cee_tcp_ctx *ctx, struct cee_tcp_xmit *x);
/* Copy @p len bytes into @p ring of @p size bytes from index @p pos on, wrapping. */
static inline void tcp_ring_put(uint8_t *ring, uint32_t size, uint32_t pos, const uint8_t *data,
				uint32_t len)
{
	uint32_t first = min_u32(len, size - pos);
	memcpy(ring + pos, data, first);
	memcpy(ring, data + first, len - first);
}
CEE_TCP_INTERNAL void tcp_sb_write(const struct cee_tcp_ctx *ctx, struct cee_tcb *tcb,
				   uint32_t off, const uint8_t *data, uint32_t len);
CEE_TCP_INTERNAL uint32_t tcp_unsent_bytes(const struct cee_tcb *tcb);
/* A full buffer on a long path with a reading peer grows to cfg.sndbuf_max (if one is free). */
CEE_TCP_INTERNAL void tcp_maybe_grow_sb(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb,
					uint64_t now_ns);
/*
 * Output what the windows allow and what is owed, give back an empty send
 * buffer, re-arm the deadline. @p probe: one byte past a zero window.
 */
CEE_TCP_INTERNAL void tcp_finish(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint64_t now_ns,
				 bool probe);
/*
 * Send up to @p max bytes at @p seq again, whatever the windows (fast
 * retransmit, holes). @return the sequence space sent (FIN included), which
 * may be less than @p max: a segment carrying SACK blocks or timestamps
 * holds less payload than one that did not (RFC 6691). 0: nothing went.
 */
CEE_TCP_INTERNAL uint32_t tcp_retransmit_at(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb,
					    uint32_t seq, uint32_t max, uint64_t now_ns);
/* Send the segment at SND.NXT (up to @p max bytes). @return false when nothing went. */
CEE_TCP_INTERNAL bool tcp_send_new(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint64_t now_ns,
				   uint32_t max);

/* cee_tcp_sack.c: SACK-based loss recovery (RFC 2018, RFC 6675) */
/* Merge @p seg's SACK blocks into the scoreboard (and drop what SND.UNA passed). */
CEE_TCP_INTERNAL void tcp_sack_update(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb,
				      struct cee_tcp_xmit *x, const struct cee_tcp_seg *seg);
/* @p len from @p seq, cut at the first SACKed range above @p seq (a resend carries none of it). */
CEE_TCP_INTERNAL uint32_t tcp_sack_clip(const struct cee_tcp_xmit *x, uint32_t seq, uint32_t len);
/* Go-back-N: SND.NXT past the SACKed range it is in; @return bytes to the next one (or UINT32_MAX). */
CEE_TCP_INTERNAL uint32_t tcp_sack_skip(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb);
/*
 * Start SACK recovery if a loss is detected: @return true when it started.
 * ssthresh and cwnd stay when SND.UNA is below cut_end (reduced for this flight).
 */
CEE_TCP_INTERNAL bool tcp_sack_enter(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb,
				     struct cee_tcp_xmit *x, uint64_t now_ns);
/* Resend the hole at @p seq (up to @p len bytes); HighRxt moves by what went. */
CEE_TCP_INTERNAL void tcp_resend_hole(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb,
				      struct cee_tcp_xmit *x, uint32_t seq, uint32_t len,
				      uint64_t now_ns);
/* SACKed bytes on the scoreboard (all above SND.UNA). */
CEE_TCP_INTERNAL uint32_t tcp_sack_bytes(const struct cee_tcb *tcb, const struct cee_tcp_xmit *x);
/* PRR: an ACK in SACK recovery delivered @p delivered bytes (@p safe: PRR-SSRB may add an MSS). */
CEE_TCP_INTERNAL void tcp_prr_ack(struct cee_tcp_xmit *x, uint32_t delivered, bool safe);
/* In SACK recovery: send lost holes, then new data, as much as PRR (RFC 9937) allows. */
CEE_TCP_INTERNAL void tcp_sack_output(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb,
				      struct cee_tcp_xmit *x, uint64_t now_ns);

/* cee_tcp_cc.c: congestion control (windows in bytes) */
/* The connection is synchronised: initial window (RFC 6928), ssthresh. */
CEE_TCP_INTERNAL void tcp_cc_init(const struct cee_tcp_ctx *ctx, struct cee_tcb *tcb);
/* SND.UNA advanced by @p acked bytes (may resend a hole: NewReno partial ACK). */
CEE_TCP_INTERNAL void tcp_cc_on_ack(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint32_t acked,
				    uint64_t now_ns);
/* A duplicate ACK (RFC 5681 2); the third resends the segment at SND.UNA. */
CEE_TCP_INTERNAL void tcp_cc_on_dupack(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb,
				       uint64_t now_ns);
/* ssthresh after a loss (the algorithm's decrease; CUBIC starts a new epoch). */
CEE_TCP_INTERNAL uint32_t tcp_cc_loss_ssthresh(const struct cee_tcp_ctx *ctx,
					       struct cee_tcb *tcb);
/* The retransmission timer expired with data in flight. */
CEE_TCP_INTERNAL void tcp_cc_on_rto(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb);
/* New data is about to go out: restart after idle (RFC 5681 4.1). */
CEE_TCP_INTERNAL void tcp_cc_before_send(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb,
					 uint64_t now_ns);

/* cee_tcp_timer.c */
/* The peer's window shut on our data (tcp_wnd_shut()): the persist clock starts, or stops. */
CEE_TCP_INTERNAL void tcp_zw_start(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb,
				   struct cee_tcp_xmit *x, uint64_t now_ns);
CEE_TCP_INTERNAL void tcp_zw_stop(struct cee_tcp_ctx *ctx, struct cee_tcp_xmit *x);
CEE_TCP_INTERNAL void tcp_arm_rto(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb,
				  uint64_t now_ns);
CEE_TCP_INTERNAL void tcp_update_timer(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb);
/* The owner's timer fired: @return true when the tcb was destroyed; *probe: send a window probe. */
CEE_TCP_INTERNAL bool tcp_timer_expired(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb,
					uint64_t now_ns, bool *probe);

/* cee_tcp_opt.c */
CEE_TCP_INTERNAL void tcp_take_syn_options(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb,
					   const struct cee_tcp_seg *syn);
