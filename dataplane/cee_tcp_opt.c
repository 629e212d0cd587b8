/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Options negotiated on the SYN (the parser is in cee_net.c; this is what
 * the connection keeps of them).
 *
 * - MSS (RFC 9293 3.7.1): we send at most min(peer's MSS, cfg.mss); 536
 *   when the SYN carries none; a peer's MSS below 64 is taken as 64
 *   (mss_clamped).
 * - SACK permitted (RFC 2018 2): used when both SYNs carry it and
 *   cfg.sack is set.
 * - Timestamps (RFC 7323 3.2): likewise with cfg.timestamps; TS.Recent
 *   starts at the SYN's TSval.
 * - Window scale (RFC 7323 2.2/2.3): used only when both SYNs carry it
 *   (ours always does in an active open, a SYN-ACK only answers one); shifts
 *   above 14 are taken as 14.
 */
#include "cee_tcp_priv.h"

void tcp_take_syn_options(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb,
			  const struct cee_tcp_seg *syn)
{
	uint16_t peer_mss = syn->mss ? syn->mss : 536;
	if (peer_mss < CEE_TCP_MIN_MSS) {
		// a tiny MSS would turn each segment into a storm of frames (Linux: 48)
		peer_mss = CEE_TCP_MIN_MSS;
		ctx->stats.mss_clamped++;
	}
	tcb->snd_mss = peer_mss < ctx->cfg.mss ? peer_mss : ctx->cfg.mss;

	// RFC 2018 2: SACK only when both SYNs carry SACK-permitted (ours always does
	// in an active open; a SYN-ACK answers the peer's SYN)
	if (syn->sack_ok && ctx->cfg.sack)
		tcb->flags |= CEE_TCB_F_SACK;
	else
		tcb->flags &= (uint8_t)~CEE_TCB_F_SACK;

	// RFC 7323 3.2: timestamps only when both SYNs carry them; TS.Recent from the SYN
	if (syn->ts_ok && ctx->cfg.timestamps) {
		tcb->uflags |= CEE_TCB_U_TS;
		tcb->ts_recent = syn->tsval;
	} else {
		tcb->uflags &= (uint8_t)~CEE_TCB_U_TS;
	}

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
