/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

/**
 * @file
 * TCP per RFC 9293, sans I/O: segments in, segments and lifecycle events out.
 *
 * This module knows no DPDK, no mbufs and no clock of its own: the caller
 * (a shard, or a unit test) parses packets into struct cee_tcp_seg, passes
 * the time, and receives output segments, lifecycle events and timer
 * deadlines through struct cee_tcp_ops. That keeps the state machine
 * testable without the EAL.
 *
 * One function in cee_tcp.c writes tcb->state; it checks each transition
 * against a table and is the only place that reports the matching lifecycle
 * event (open, established, closed, destroyed).
 *
 * After ops->lifecycle(..., CEE_EVT_DESTROYED) the caller may free the tcb:
 * the TCP code never touches a tcb after reporting destroyed.
 *
 * Opens: cee_tcp_accept() (passive, a SYN for a listener) and
 * cee_tcp_connect() (active). Both roles run the same code afterwards.
 *
 * Re-entrancy: from inside ops->lifecycle (open, established, closed) and
 * ops->recv, the owner may call cee_tcp_send(), cee_tcp_close() and
 * cee_tcp_abort() on the same tcb, and any function on other tcbs. Calls on
 * the same tcb take effect when the callback returns: bytes and a FIN are
 * sent by the running call before it returns; an abort stops the running
 * call's processing at once (no further callbacks but closed and destroyed)
 * and reports closed (if not yet) and destroyed before the running call
 * returns. The tcb therefore stays valid until the callback returns. Never
 * call into this module for the same tcb from ops->output, ops->timer_set,
 * ops->buf_alloc, ops->buf_free or lifecycle(CEE_EVT_DESTROYED).
 */

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "cee_event.h"

/* X(enumerator suffix, printed name); states are named for what they wait on per RFC 9293. */
#define CEE_TCP_STATE_LIST(X)                                                                      \
	X(CLOSED, "CLOSED")                                                                        \
	X(SYN_SENT, "SYN-SENT")                                                                    \
	X(SYN_RECEIVED, "SYN-RECEIVED")                                                            \
	X(ESTABLISHED, "ESTABLISHED")                                                              \
	X(FIN_WAIT_1, "FIN-WAIT-1")                                                                \
	X(FIN_WAIT_2, "FIN-WAIT-2")                                                                \
	X(CLOSE_WAIT, "CLOSE-WAIT")                                                                \
	X(CLOSING, "CLOSING")                                                                      \
	X(LAST_ACK, "LAST-ACK")                                                                    \
	X(TIME_WAIT, "TIME-WAIT")

#define CEE_X_ENUM_TCP_STATE(e, s) CEE_TCP_##e,
enum cee_tcp_state { CEE_TCP_STATE_LIST(CEE_X_ENUM_TCP_STATE) CEE_TCP_STATE__COUNT };
const char *cee_tcp_state_str(enum cee_tcp_state s);

/* TCP header flags, as on the wire. */
#define CEE_TCP_FIN 0x01
#define CEE_TCP_SYN 0x02
#define CEE_TCP_RST 0x04
#define CEE_TCP_PSH 0x08
#define CEE_TCP_ACK 0x10
#define CEE_TCP_URG 0x20
#define CEE_TCP_ECE 0x40
#define CEE_TCP_CWR 0x80

/** What a connection does with the bytes it receives. */
enum cee_tcp_service {
	CEE_TCP_SVC_ECHO,    /**< send every received byte back; close after the peer's FIN */
	CEE_TCP_SVC_DISCARD, /**< drop received bytes; close after the peer's FIN */
	/**
	 * Echo the in-order bytes of the first data segment(s) accepted, then close
	 * (FIN after them, as cee_tcp_close(local_close)): this side closes first.
	 * Later bytes that come before our FIN is out are acked and counted in
	 * bytes_in, not echoed; bytes after it reset the connection
	 * (abort_on_data, RFC 1122 4.2.2.13), unless the owner's layer awaits
	 * the peer's answer to its close (CEE_TCB_O_READS_ON).
	 */
	CEE_TCP_SVC_ECHO_CLOSE,
	/**
	 * In-order bytes go to ops->recv (out-of-order segments are dropped and
	 * counted in ooo_dropped); the owner sends with cee_tcp_send(). Closes
	 * after the peer's FIN like the others (FIN after the queued bytes).
	 */
	CEE_TCP_SVC_APP,
	/**
	 * As CEE_TCP_SVC_APP, for an owner that answers what it receives from
	 * the send buffer (a TLS layer echoing, or anything that writes about
	 * as much as it reads): the receive window is the send buffer's free
	 * room less what the owner keeps aside (ops->paced_keep: what it will
	 * write for input it holds unanswered, and room for its own words; a
	 * quarter of the buffer without that op), not cfg.rcv_wnd, so a peer
	 * that does not read what we send stops being given window instead of
	 * overflowing the buffer.
	 */
	CEE_TCP_SVC_PACED,
};

/** A SACK block (RFC 2018): bytes [start, end) received. */
struct cee_tcp_sack {
	uint32_t start, end;
};

#define CEE_TCP_SACK_IN_MAX 4  /**< blocks a segment can carry (40 option bytes) */
#define CEE_TCP_SACK_OUT_MAX 3 /**< blocks we send (room left for timestamps) */

/** A parsed incoming segment (host byte order). */
struct cee_tcp_seg {
	uint32_t seq;
	uint32_t ack;
	uint16_t wnd;   /**< raw window field, not yet scaled */
	uint8_t flags;  /**< CEE_TCP_* */
	uint8_t wscale; /**< window-scale option shift, 0xff when absent */
	uint16_t mss;   /**< MSS option, 0 when absent */
	bool sack_ok;   /**< SACK-permitted option seen (RFC 2018, on a SYN) */
	uint8_t nsack;  /**< SACK blocks in sack[] */
	bool ts_ok;     /**< a timestamps option (RFC 7323): tsval, tsecr */
	uint32_t tsval, tsecr;
	const uint8_t *data;
	uint32_t len;   /**< payload bytes */
	struct cee_tcp_sack sack[CEE_TCP_SACK_IN_MAX];
};

/** An outgoing segment. Payload comes in at most two pieces (the send buffer wraps). */
struct cee_tcp_out {
	uint32_t seq;
	uint32_t ack;
	uint16_t wnd;   /**< raw window field, already scaled down */
	uint8_t flags;
	uint8_t wscale; /**< window-scale option to send (SYN only), 0xff for none */
	uint16_t mss;   /**< MSS option to send (SYN only), 0 for none */
	bool sack_ok;   /**< SACK-permitted option to send (SYN only) */
	uint8_t nsack;  /**< SACK blocks to send (RFC 2018), most recent first */
	bool ts;        /**< send a timestamps option (RFC 7323): tsval, tsecr */
	uint32_t tsval, tsecr;
	const uint8_t *data[2];
	uint32_t len[2];
	struct cee_tcp_sack sack[CEE_TCP_SACK_OUT_MAX];
};

/** Congestion control algorithm (RFC 5681 framework). */
enum cee_tcp_cc {
	CEE_TCP_CC_CUBIC,   /**< RFC 9438 (default) */
	CEE_TCP_CC_NEWRENO, /**< RFC 5681 + RFC 6582 */
};

/** @return the enum cee_tcp_cc named @p name ("cubic", "newreno"), or -EINVAL. */
int cee_tcp_cc_parse(const char *name);
/** @return the name of @p cc. */
const char *cee_tcp_cc_str(enum cee_tcp_cc cc);

/** The smallest MSS the engine announces (RFC 9293 3.7.1: IPv4 hosts take 536). */
#define CEE_TCP_MIN_ANNOUNCED_MSS 536

/** Per-shard TCP settings. Times in nanoseconds. */
struct cee_tcp_cfg {
	uint16_t mss;            /**< our MSS (what we announce and the most we send) */
	uint8_t cc;              /**< enum cee_tcp_cc */
	bool sack;               /**< offer and use SACK (RFC 2018, RFC 6675); default on */
	bool timestamps;         /**< offer and use timestamps (RFC 7323: RTTM, PAWS); default on */
	/**
	 * Delayed ACKs (RFC 9293 3.8.6.3, RFC 5681 4.2), by the receive burst:
	 * an in-order data segment that owes the peer an ACK waits for the
	 * next one (the second is acknowledged at once: every second segment)
	 * or for the owner's cee_tcp_flush_acks() after its burst; a segment
	 * we send meanwhile carries the ACK. Out-of-order data, data filling a
	 * hole and a FIN are acknowledged at once. Default off (the owner must
	 * call cee_tcp_flush_acks()); the engine turns it on.
	 */
	bool delack;
	uint8_t rcv_wscale;      /**< shift we announce when the peer offers scaling */
	uint32_t sndbuf;         /**< send-buffer bytes per connection (echo backlog) */
	/**
	 * Bytes a connection's send buffer grows to on a long path (0 or
	 * <= sndbuf: never): when it is 3/4 full, the smoothed RTT is at least
	 * grow_rtt_us and the peer's window is at least half the buffer (it
	 * reads: a peer that does not read never gets one). Its receive window
	 * (echo) grows with it.
	 */
	uint32_t sndbuf_max;
	uint32_t grow_rtt_us;
	uint32_t rcv_wnd;        /**< receive window for services that consume at once */
	uint32_t ooo_max_segs;   /**< most out-of-order segments held per connection */
	uint64_t rto_initial_ns; /**< RFC 6298 2.1: 1 s */
	uint64_t rto_min_ns;     /**< RFC 6298 2.4 (we allow below 1 s, e.g. 200 ms) */
	uint64_t rto_max_ns;     /**< RFC 6298 2.5 upper bound, e.g. 60 s */
	uint32_t max_retries;    /**< retransmissions of one segment before retransmit_timeout */
	uint32_t synack_retries; /**< SYN-ACK retransmissions before handshake_timeout */
	uint64_t handshake_timeout_ns; /**< SYN-RECEIVED for longer: handshake_timeout */
	uint64_t idle_timeout_ns;      /**< 0 = none: no segment in or out for longer closes */
	uint64_t link_idle_timeout_ns; /**< idle_timeout_ns of CEE_TCB_O_LINK_IDLE connections */
	uint64_t time_wait_ns;         /**< TIME-WAIT duration (2*MSL by default 60 s; tests set ms) */
	uint64_t fin_wait_2_ns;        /**< FIN-WAIT-2 with no peer FIN for longer: destroyed */
	/**
	 * Keepalive (RFC 9293 3.8.4) of connections whose owner set
	 * CEE_TCB_O_KEEPALIVE, 0 = off for all: an ESTABLISHED connection with
	 * nothing in flight that heard nothing from its peer for keepalive_idle_ns
	 * sends a probe (SEQ = SND.NXT - 1, no data: the peer answers with an
	 * ACK), then one every keepalive_intvl_ns; keepalive_count unanswered
	 * probes abort it (RST) with keepalive_timeout.
	 */
	uint64_t keepalive_idle_ns;
	uint64_t keepalive_intvl_ns;
	uint32_t keepalive_count;
	/**
	 * RFC 5961 7: ACKs sent in answer to segments that fail a check
	 * (challenge ACKs to an in-window RST or a SYN, ACKs to out-of-window
	 * segments and to unacceptable ACKs) per shard per second: a budget
	 * drawn each second between this and twice this (a fixed count is a
	 * side channel, CVE-2016-5696). 0 = no limit.
	 */
	uint32_t challenge_ack_limit;
	/**
	 * ... and per connection at most one such ACK per this interval
	 * (rounded to 2^26 ns, about 67 ms; as Linux's tcp_invalid_ratelimit,
	 * 500 ms): a blind attack on one live tuple draws two frames a second.
	 * 0 = no per-connection limit.
	 */
	uint64_t oow_ack_interval_ns;
	/**
	 * A peer whose window stays 0 while we have data for it for longer
	 * (counted from when its window closed on queued data) is reset with
	 * zero_window_timeout: a peer that never reads cannot hold a send
	 * buffer for ever (each of its ACKs resets the retry count). 0 = never.
	 */
	uint64_t persist_timeout_ns;
};

/** Fill @p c with defaults (MSS 1460, sndbuf 64 KiB, RTO 1 s/200 ms/60 s, ...). */
void cee_tcp_cfg_default(struct cee_tcp_cfg *c);

/**
 * Per-shard TCP counters: X(field, group, exported name, meaning). Group
 * TCP is exported as tcp.<name> (cee-ctl: tcp_<name>), DROP as
 * drops.<name> (cee-ctl: drop_<name>): a segment that was not accepted.
 * cee_stats.c exports every entry; adding one here is all it takes.
 */
#define CEE_TCP_STATS_LIST(X)                                                                      \
	X(segs_in, TCP, "segs_in", "segments received")                                            \
	X(segs_out, TCP, "segs_out", "segments sent")                                              \
	X(retransmits, TCP, "retransmits", "segments sent again (RTO, fast retransmit, rewind)")   \
	X(rst_in, TCP, "rst_in", "RST segments received")                                          \
	X(rst_out, TCP, "rst_out", "RST segments sent")                                            \
	X(ooo_queued, TCP, "ooo_queued", "out-of-order segments held for reassembly")              \
	X(ooo_dropped, TCP, "ooo_dropped", "out-of-order segments dropped (no room, app service)") \
	X(no_sndbuf, TCP, "no_sndbuf", "data refused: no send buffer free")                        \
	X(recv_refused, TCP, "recv_refused", "in-order segments the owner had no room for now (not acked: the peer sends them again)") \
	X(zero_window_probes, TCP, "zero_window_probes", "zero-window probes sent")                \
	X(zw_evicted, TCP, "zw_evicted", "zero-window connections reset to free a send buffer")    \
	X(ooo_reneged, TCP, "ooo_reneged", "send buffers holding only out-of-order data freed")    \
	X(stall_evicted, TCP, "stall_evicted", "connections reset to free a send buffer: no ACK for CEE_TCP_STALL_RETRIES timeouts") \
	X(fast_retransmits, TCP, "fast_retransmits", "losses repaired after 3 duplicate ACKs")     \
	X(partial_acks, TCP, "partial_acks", "NewReno partial ACKs (another hole resent)")         \
	X(sack_recoveries, TCP, "sack_recoveries", "loss recoveries driven by SACK (RFC 6675)")    \
	X(sack_rexmits, TCP, "sack_rexmits", "holes resent from the SACK scoreboard")              \
	X(sack_skipped, TCP, "sack_skipped", "bytes SACKed since a timeout that its go-back-N did not send again (RFC 6675 5.1)") \
	X(tlp_losses, TCP, "tlp_losses", "tail-loss probes that resent data and were acknowledged without a D-SACK: a loss repaired, the window reduced (RFC 8985 7.4.2)") \
	X(lost_rexmits, TCP, "lost_rexmits", "times resent holes were found lost again (SACKs for data sent after them)") \
	X(bad_sack, DROP, "bad_sack", "SACK blocks beyond what was sent: ignored")                 \
	X(paws_rejected, DROP, "paws", "segments with an old timestamp (RFC 7323 PAWS)")           \
	X(abort_on_data, TCP, "abort_on_data", "connections reset for new data after our close (FIN-WAIT-1/2, RFC 1122 4.2.2.13)") \
	X(time_wait_reused, TCP, "time_wait_reused", "TIME-WAIT ended by a new SYN (RFC 6191)")    \
	X(pmtu_lowered, TCP, "pmtu_lowered", "segment sizes lowered by ICMP frag-needed (RFC 1191)") \
	X(bad_icmp_seq, DROP, "bad_icmp_seq", "ICMP about no data in flight (RFC 5927): ignored") \
	X(pmtu_ignored, DROP, "pmtu_ignored", "ICMP frag-needed naming no lower MTU, or for a connection not sending (SYN-SENT, TIME-WAIT)") \
	X(icmp_unreach_aborts, TCP, "icmp_unreach_aborts", "active opens ended by ICMP destination unreachable about their SYN (host_unreachable)") \
	X(icmp_unreach_ignored, DROP, "icmp_unreach_ignored", "ICMP destination unreachable for a connection past SYN-SENT: not acted on (RFC 5927, as Linux)") \
	X(rto_timeouts, TCP, "rto_timeouts", "retransmission timer expiries with data in flight")  \
	X(tlp_probes, TCP, "tlp_probes", "tail-loss probes sent (RFC 8985 7)")                     \
	X(cwnd_restarts, TCP, "cwnd_restarts", "windows cut back to IW after an idle RTO")         \
	X(mss_clamped, TCP, "mss_clamped", "peers announcing an MSS below 64, raised to 64")       \
	X(window_updates, TCP, "window_updates", "ACKs sent only to reopen a peer's window")        \
	X(acks_delayed, TCP, "acks_delayed", "in-order segments whose ACK waited for the next segment or the burst's end (cfg.delack)") \
	X(acks_at_burst_end, TCP, "acks_at_burst_end", "delayed ACKs sent at the end of a receive burst (nothing else carried them)") \
	X(sws_held, TCP, "sws_held", "times data waited rather than go in a segment the window cut short (sender SWS avoidance)") \
	X(sws_overrides, TCP, "sws_overrides", "such data sent at the override timeout, nothing being in flight")  \
	X(sndbuf_grown, TCP, "sndbuf_grown", "send buffers grown to sndbuf_max (long fat path)")    \
	X(sndbuf_grow_refused, TCP, "sndbuf_grow_refused", "growths refused: no large buffer free") \
	X(challenge_acks, DROP, "challenge_ack", "segments calling for an RFC 5961 challenge ACK (in-window RST, SYN); the ACK may be throttled")                   \
	X(bad_rst, DROP, "bad_rst", "RST outside the window: ignored")                             \
	X(bad_syn, DROP, "bad_syn", "SYN on a synchronised connection")                            \
	X(out_of_window, DROP, "out_of_window", "segments failing the acceptability test")         \
	X(bad_ack, DROP, "bad_ack", "ACK for data never sent (or too old)")                        \
	X(keepalive_probes, TCP, "keepalive_probes", "keepalive probes sent (RFC 9293 3.8.4)")   \
	X(acks_throttled, DROP, "acks_throttled", "challenge/out-of-window ACKs not sent: over the RFC 5961 7 budget") \
	X(syncookies_sent, TCP, "syncookies_sent", "SYN-ACKs with a cookie: SYNs that took no slot (RFC 4987)") \
	X(syncookies_ok, TCP, "syncookies_ok", "connections opened by a valid cookie ACK")        \
	X(syncookies_bad, DROP, "syncookies_bad", "ACKs for no connection whose cookie did not check")

/** Per-shard TCP counters (written by the shard's lcore only). */
#define CEE_X_TCP_STAT_FIELD(f, g, n, d) uint64_t f;
struct cee_tcp_stats {
	CEE_TCP_STATS_LIST(CEE_X_TCP_STAT_FIELD)
};
#undef CEE_X_TCP_STAT_FIELD

struct cee_tcb;

/** Callbacks into the owner (the shard, or a test). @p owner is cee_tcp_ctx.owner. */
struct cee_tcp_ops {
	/** Transmit one segment for @p tcb. The payload pointers are valid only during the call. */
	void (*output)(void *owner, struct cee_tcb *tcb, const struct cee_tcp_out *out);
	/**
	 * A lifecycle event for @p tcb: CEE_EVT_OPEN, _ESTABLISHED, _CLOSED (reason in
	 * tcb->close_reason, counters final) or _DESTROYED (the owner frees the tcb).
	 */
	void (*lifecycle)(void *owner, struct cee_tcb *tcb, enum cee_evt_type type);
	/** The earliest deadline of @p tcb changed: @p at_ns, or 0 for none. */
	void (*timer_set)(void *owner, struct cee_tcb *tcb, uint64_t at_ns);
	/**
	 * Send-buffer memory of class @p cls (0: cfg.sndbuf, 1: cfg.sndbuf_max):
	 * @return a buffer of cee_tcp_buf_size(&cfg, cls) bytes, 8-byte aligned,
	 * or NULL when that class has none left.
	 */
	void *(*buf_alloc)(void *owner, unsigned cls);
	void (*buf_free)(void *owner, void *buf, unsigned cls);
	/**
	 * In-order payload of a CEE_TCP_SVC_APP connection, once per accepted
	 * chunk, already counted in tcb->bytes_in and acknowledged by the next
	 * segment out. @p data is valid only during the call. NULL allowed when
	 * no tcb uses CEE_TCP_SVC_APP.
	 */
	void (*recv)(void *owner, struct cee_tcb *tcb, const uint8_t *data, uint32_t len);
	/**
	 * Asked before recv for each in-order segment without FIN of an app or
	 * paced connection: whether the owner takes its @p len bytes now. False:
	 * they are not taken, counted or acknowledged, and the segment ends
	 * there (its ACK was processed); the peer sends them again (its
	 * retransmission, or fast retransmit on the duplicate ACKs that later
	 * segments draw). NULL: always taken.
	 */
	bool (*recv_room)(void *owner, struct cee_tcb *tcb, uint32_t len);
	/**
	 * CEE_TCP_SVC_PACED: the bytes of @p tcb's send buffer (@p buff in
	 * all) its receive window leaves aside besides those queued: room for
	 * what the owner will write for input it took and holds unanswered (a
	 * TLS record or WebSocket message not yet whole) and for words of its
	 * own (a handshake flight). NULL: a quarter of the buffer.
	 */
	uint32_t (*paced_keep)(void *owner, const struct cee_tcb *tcb, uint32_t buff);
	/**
	 * TCP is about to close @p tcb on its own (the idle timeout; and, for
	 * the app and paced services, the peer's FIN): our FIN is queued when
	 * this returns, so the owner may still send its last bytes (a TLS
	 * close_notify) with cee_tcp_send(). NULL allowed.
	 */
	void (*closing)(void *owner, struct cee_tcb *tcb, enum cee_reason reason);
	/**
	 * The owner's deadline (cee_tcp_set_deadline) passed: the owner acts
	 * (sends, closes, aborts, sets a new deadline) as from any callback.
	 * NULL: TCP aborts with the deadline's reason.
	 */
	void (*deadline)(void *owner, struct cee_tcb *tcb);
	/**
	 * An ACK freed room in @p tcb's send buffer after the owner set
	 * CEE_TCB_O_WANT_WRITE (cleared now): the owner may send again
	 * (cee_tcp_send() from here goes out with this segment's answer).
	 * Only while it sends (cee_tcp_sends(): not after a close, nor with
	 * an abort pending). NULL allowed.
	 */
	void (*writable)(void *owner, struct cee_tcb *tcb);
};

/** One shard's TCP context. */
/** Delayed ACKs one burst may hold; a connection beyond them is acknowledged at once. */
#define CEE_TCP_ACKQ_MAX 64

struct cee_tcp_ctx {
	struct cee_tcp_cfg cfg;
	const struct cee_tcp_ops *ops;
	void *owner;
	struct cee_tcp_stats stats;
	/** Initial sequence numbers (RFC 9293 3.4.1 / RFC 6528): the owner supplies a keyed hash. */
	uint32_t (*isn)(void *owner, const struct cee_tcb *tcb, uint64_t now_ns);
	/**
	 * Our TSvals' offset for @p tcb's 4-tuple (RFC 7323 7.1): the owner
	 * supplies a keyed hash, the same for every connection of a tuple
	 * (their TSvals go on rising: a peer holding the tuple's TIME-WAIT
	 * takes a new SYN only with a newer TSval) and unrelated to the ISS.
	 * NULL: the ISS plus ts_key, whose TSval - ISS was one value for
	 * every connection of the engine (its clock plus the key: two
	 * connections, through two addresses or NATs, told they reached the
	 * same engine, and its clock's skew could be measured).
	 */
	uint32_t (*ts_off)(void *owner, const struct cee_tcb *tcb);
	/** Without ts_off: our TSvals' offset beside the ISS (0: none). */
	uint32_t ts_key;
	uint32_t half_open; /**< connections in SYN-RECEIVED now (the SYN-cookie trigger) */
	/**
	 * RFC 1122 4.2.2.13: the least ISS of the incarnation that a SYN in
	 * TIME-WAIT is opening (the old one's SND.MAX + 65537); set when
	 * cee_tcp_input() returns true, taken by the next cee_tcp_accept().
	 * The owner clears it (tw_iss_set) if it accepts none.
	 */
	uint32_t tw_iss;
	bool tw_iss_set;
	/* RFC 5961 7 budget (cfg.challenge_ack_limit): this second's, and when it started */
	uint64_t ack_budget_at_ns;
	uint32_t ack_budget;
	uint64_t rng; /**< the budget's draw (xorshift; the owner may seed it, 0 = a fixed seed) */
	/**
	 * Connections whose peer holds its window shut on our queued data (0,
	 * or a sliver too small for a segment: persist), by the time it shut,
	 * oldest first: cee_tcp_evict_zero_window().
	 */
	struct cee_tcb *zw_head, *zw_tail;
	/** Connections whose ACK waits for cee_tcp_flush_acks() (cfg.delack). */
	struct cee_tcb *ackq[CEE_TCP_ACKQ_MAX];
	uint32_t ackq_n;
};

/**
 * A range of out-of-order bytes already placed. Echo writes them straight
 * into the send buffer at their final position (tail + seq - rcv_nxt), so
 * reassembly needs no memory of its own; discard keeps only the range.
 */
struct cee_tcp_ooo {
	uint32_t seq;
	uint32_t len;
};

#define CEE_TCP_OOO_MAX 16       /**< out-of-order ranges a connection can hold */
#define CEE_TCP_SCOREBOARD_MAX 16 /**< SACKed ranges a sender keeps (RFC 6675) */

/**
 * Loss-recovery, congestion-avoidance and reassembly state of a connection
 * that has a send buffer (data queued or in flight, or out-of-order data held): it lives after the ring in that
 * buffer, so an idle connection pays nothing for it, and it is written only
 * when first needed (a duplicate ACK, an RTO, congestion avoidance), so a
 * short exchange in slow start never touches it. Lost with the buffer once
 * everything is acked; cwnd and ssthresh stay in the tcb.
 */
struct cee_tcp_xmit {
	uint32_t recover;   /**< RFC 6582: snd_max when recovery began */
	/**
	 * snd_max when the window was last reduced for a loss (recovery, a
	 * tail-loss probe's response); trails snd_una after: losses below it
	 * are that reduction's, and draw no second one (Linux: high_seq)
	 */
	uint32_t cut_end;
	uint8_t dupacks;    /**< consecutive duplicate ACKs (RFC 5681 2) */
	uint8_t in_recovery; /**< 0, CEE_TCP_REC_NEWRENO or CEE_TCP_REC_SACK */
	uint8_t nsacked;    /**< ranges in sacked[] */
	uint8_t ooo_n;      /**< ranges in ooo[] */
	uint8_t tlp;        /**< CEE_TCP_TLP_*: the tail-loss probe of this flight */
	uint8_t zw_backoff; /**< persist: probes of this shut window (their interval's doubling) */
	uint8_t tlp_edge_set; /**< tlp_edge holds: the probe was SACKed (RACK, RFC 8985 6.2) */
	uint8_t after_rto;  /**< CUBIC: the next epoch is the first after a timeout (RFC 9438 4.8) */
	uint8_t tlp_rxt;    /**< a probe that resent data is open (RFC 8985 7.4.2: until tlp_end is passed, or a D-SACK or a pure duplicate ACK closes it) */
	uint32_t ca_acked;  /**< NewReno: bytes acked towards the next MSS of growth */
	/* CUBIC (RFC 9438), windows in bytes */
	uint32_t w_max;     /**< window before the last reduction */
	uint32_t origin;    /**< W_cubic(K) of this epoch */
	uint32_t w_est;     /**< Reno-friendly estimate (4.3) */
	uint32_t k_us;      /**< K: time to reach origin, microseconds */
	uint32_t high_rxt;  /**< RFC 6675 HighRxt: end of the last hole resent */
	uint32_t drs_seq;   /**< echo growth: RCV.NXT when this RTT's count began */
	uint32_t drs_ts;    /**< ... and when (2^20 ns units; 0 = not counting) */
	uint32_t rxt_mark;  /**< SND.MAX when a hole was last resent (lost retransmissions) */
	uint32_t zw_una;    /**< persist: SND.UNA when its clock started (a segment taken restarts it) */
	uint32_t tlp_seq;   /**< the tail-loss probe's first byte (tlp == CEE_TCP_TLP_SENT) */
	uint32_t tlp_end;   /**< SND.NXT when a probe that resent data went (TLP.end_seq, with tlp_rxt) */
	uint32_t tlp_edge;  /**< start of the SACKed range that held the probe: unSACKed bytes below are lost */
	/* PRR (RFC 9937), in SACK recovery */
	uint32_t prr_delivered; /**< bytes the peer got (acked or SACKed) since recovery began */
	uint32_t prr_out;   /**< bytes sent since (resent holes and new data) */
	uint32_t recover_fs; /**< RecoverFS: pipe as recovery began (that ACK's blocks taken) */
	uint32_t prr_last;  /**< DeliveredData of the last ACK, until an output used it */
	uint8_t prr_safe;   /**< that ACK moved SND.UNA and showed nothing lost anew (PRR-SSRB) */
	uint8_t ooo_fin;    /**< the peer's FIN came past a hole, at ooo_fin_seq: taken when RCV.NXT gets there */
	uint32_t ooo_fin_seq;
	uint64_t epoch_ns;  /**< start of this congestion-avoidance epoch (0: none) */
	uint64_t ca_ack_ns; /**< CUBIC: the last ACK in congestion avoidance (epoch clock) */
	uint64_t zw_since_ns; /**< persist: when the peer's window shut on queued data (0: open) */
	/** Connections with zw_since_ns set, oldest first (ctx->zw_head): eviction order. */
	struct cee_tcb *zw_prev, *zw_next;
	/** RFC 6675 scoreboard: SACKed ranges above SND.UNA, sorted, disjoint */
	struct cee_tcp_sack sacked[CEE_TCP_SCOREBOARD_MAX];
	/**
	 * Out-of-order data held (receiving side), the newest first: echo's bytes
	 * are in the ring at their place; discard keeps the ranges alone; an app
	 * service's (TLS, WebSocket, the API's) are in rb.
	 */
	struct cee_tcp_ooo ooo[CEE_TCP_OOO_MAX];
	/**
	 * App services: a class-0 buffer (its ring part) holding the bytes of
	 * ooo[], byte SEQ at (SEQ - rb_base) mod the ring size; taken at the
	 * first out-of-order segment, given back when none is held. NULL: none.
	 */
	uint8_t *rb;
	uint32_t rb_base; /**< RCV.NXT when rb was taken */
};

#define CEE_TCP_REC_NEWRENO 1 /**< fast recovery by NewReno (RFC 6582): no SACK */
#define CEE_TCP_REC_SACK 2    /**< loss recovery by the SACK scoreboard (RFC 6675) */
#define CEE_TCP_TLP_ARMED 1   /**< the retransmission timer is a probe timeout (RFC 8985 7.2) */
#define CEE_TCP_TLP_SENT 2    /**< the probe went; the timer is the RTO again */

/** Ring bytes of a send buffer of class @p cls (0: cfg.sndbuf, 1: cfg.sndbuf_max). */
static inline uint32_t cee_tcp_ring_size(const struct cee_tcp_cfg *cfg, unsigned cls)
{
	return cls ? cfg->sndbuf_max : cfg->sndbuf;
}

/** Offset of struct cee_tcp_xmit in a send buffer: after the ring, 8-byte aligned. */
static inline uint32_t cee_tcp_xmit_off(const struct cee_tcp_cfg *cfg, unsigned cls)
{
	return (cee_tcp_ring_size(cfg, cls) + 7u) & ~7u;
}

/** Bytes ops->buf_alloc must return for class @p cls: the send ring, then struct cee_tcp_xmit. */
static inline uint32_t cee_tcp_buf_size(const struct cee_tcp_cfg *cfg, unsigned cls)
{
	return cee_tcp_xmit_off(cfg, cls) + (uint32_t)sizeof(struct cee_tcp_xmit);
}


/**
 * Transmission control block. Embedded in the owner's connection; the
 * owner finds its connection with container_of(). Written by the owning
 * shard's lcore only.
 */
struct cee_tcb {
	/* state machine */
	uint8_t state;        /**< enum cee_tcp_state; written only by cee_tcp.c's set_state() */
	uint8_t service;      /**< enum cee_tcp_service */
	uint8_t close_reason; /**< enum cee_reason: the FIRST cause, set once */
	uint8_t flags;        /**< CEE_TCB_F_* */
	uint8_t snd_wscale;   /**< peer's shift (0 when not negotiated) */
	uint8_t rcv_wscale;   /**< our shift (0 when not negotiated; in SYN-SENT the one offered) */
	uint8_t retries;      /**< consecutive RTO expiries of the oldest segment */
	uint8_t aflags;       /**< CEE_TCB_A_*: a delayed ACK (cfg.delack) */
	uint16_t snd_mss;     /**< effective send MSS */
	uint8_t uflags;       /**< CEE_TCB_U_*: open role and user calls */
	uint8_t sb_class;     /**< send-buffer class: 0 cfg.sndbuf, 1 cfg.sndbuf_max (grown; sticky) */

	/* send sequence space (RFC 9293 3.3.1) */
	uint32_t iss, snd_una, snd_nxt, snd_max;
	uint32_t snd_wnd; /**< scaled */
	uint32_t snd_wl1, snd_wl2;
	/* receive sequence space */
	uint32_t ts_recent; /**< RFC 7323 TS.Recent, valid with CEE_TCB_U_TS */
	uint32_t rcv_nxt;   /**< (IRS is rcv_nxt - 1 until the handshake is done) */
	uint32_t rcv_adv; /**< right edge we advertised (rcv_nxt + window) */

	/* RFC 6298 */
	uint32_t srtt_us, rttvar_us;
	uint32_t rtt_seq;   /**< timing this sequence number (Karn), valid with CEE_TCB_F_RTT */
	uint32_t rto_us;    /**< current RTO (backed off), at most 4294 s */
	uint32_t rtt_ts_us; /**< when rtt_seq was sent (now_ns / 1000, wrapping) */

	/* RFC 5681 congestion control (bytes); the rest of it is in struct cee_tcp_xmit */
	uint32_t cwnd;
	uint32_t ssthresh;
	uint32_t snd_ts; /**< last new data sent, in 2^20 ns units (restart after idle) */
	uint32_t retransmits; /**< segments sent again, for the closed event */

	/* deadlines (0 = not armed); the owner's timer holds the earliest */
	uint64_t rto_at_ns;
	uint64_t idle_at_ns;  /**< also handshake, FIN-WAIT-2 and TIME-WAIT deadlines */
	uint64_t timer_at_ns; /**< what was last passed to ops->timer_set */

	/*
	 * send buffer: the ring, bytes [snd_una, snd_una + sb_len) at
	 * sb + ((sb_head + i) % ring size); then struct cee_tcp_xmit
	 */
	uint8_t *sb;
	uint32_t sb_head;
	uint32_t sb_len;

	/* the owner's deadline (cee_tcp_set_deadline), 0 = none */
	uint64_t user_at_ns;
	/* the owner's per-connection state (its layer stack); TCP never reads it */
	void *user;
	uint8_t user_reason;
	uint8_t ka_probes;  /**< keepalive probes unanswered */
	/* free: keeps the connection slot at 256 bytes (four cache lines) */
	uint8_t oflags;     /**< CEE_TCB_O_*: the owner's choices for this connection */
	/* the last ACK answering a bad segment, in 2^26 ns units mod 256 (0: none) */
	uint8_t oow_at;
	/* RFC 5961 5.2 MAX.SND.WND: the largest window the peer advertised (scaled) */
	uint32_t max_snd_wnd;
	uint64_t peer_at_ns; /**< keepalive on: the last acceptable segment from the peer */

	/* accounting for the closed event */
	uint64_t open_ns;
	uint64_t last_activity_ns;
	uint64_t bytes_in, bytes_out;
};

#define CEE_TCB_F_FIN_RCVD 0x01   /**< the peer's FIN was accepted (rcv_nxt covers it) */
#define CEE_TCB_F_FIN_QUEUED 0x02 /**< we will send FIN after the send buffer drains */
#define CEE_TCB_F_FIN_SENT 0x04   /**< our FIN has sequence number snd_max - 1 */
#define CEE_TCB_F_CLOSED 0x08     /**< the closed event was reported */
#define CEE_TCB_F_RTT 0x10        /**< an RTT sample is running */
#define CEE_TCB_F_WSCALE 0x20     /**< window scaling negotiated */
#define CEE_TCB_F_ACK_NOW 0x40    /**< an ACK is owed */
#define CEE_TCB_F_SACK 0x80       /**< SACK permitted both ways (RFC 2018) */

/** tcb->aflags: */
#define CEE_TCB_A_OWED 0x01   /**< in-order data not acknowledged yet, the ACK delayed */
#define CEE_TCB_A_QUEUED 0x02 /**< in ctx->ackq, until cee_tcp_flush_acks() */
/** rto_at_ns was armed with no data in flight: the persist or SWS-override clock */
#define CEE_TCB_A_RTO_IDLE 0x04
/**
 * A window field offered past rcv_adv (rounded up to the scale): the band
 * up to rcv_adv + 2^scale - 1 is taken from app and paced peers, until a
 * field covers it or a zero window is offered
 */
#define CEE_TCB_A_BAND 0x08
/** An ACK freed send-buffer room and the owner wants to know: ops->writable before the output */
#define CEE_TCB_A_WRITABLE 0x10

/** tcb->oflags, set by the owner before the open: */
#define CEE_TCB_O_LINK_IDLE 0x01 /**< cfg.link_idle_timeout_ns applies instead of idle_timeout_ns */
#define CEE_TCB_O_SRC 0x02     /**< counted in the owner's per-source table (TCP never reads it) */
#define CEE_TCB_O_KEEPALIVE 0x04 /**< keepalive (cfg.keepalive_*) applies to this connection */
/** tcb->oflags, the owner's own bookkeeping (TCP never reads them): */
#define CEE_TCB_O_QUIET 0x08 /**< passive, half open: its open waits for established */
#define CEE_TCB_O_LATE 0x10  /**< announced after the running LIST walk's cut: not part of it */
#define CEE_TCB_O_SRC_EST 0x20 /**< CEE_TCB_O_SRC, counted proven (handshake done) */
/**
 * tcb->oflags, set and cleared by the owner while open, read by TCP: after
 * our FIN a layer still reads, awaiting the peer's answer to its close
 * (close_notify, a Close frame); new data then is taken in, not reset
 * (abort_on_data).
 */
#define CEE_TCB_O_READS_ON 0x40
/**
 * tcb->oflags, set by the owner when a send did not fit (cee_shard_send()
 * short or refused), cleared by TCP when an ACK frees send-buffer room:
 * ops->writable runs then, once.
 */
#define CEE_TCB_O_WANT_WRITE 0x80

#define CEE_TCB_U_ACTIVE 0x01 /**< opened by cee_tcp_connect() */
#define CEE_TCB_U_BUSY 0x02   /**< a cee_tcp_* call on this tcb is running (re-entrancy) */
#define CEE_TCB_U_ABORT 0x04  /**< abort requested from a callback: done when it returns */
#define CEE_TCB_U_CLOSE 0x08  /**< local close requested (owner, service or idle timeout) */
#define CEE_TCB_U_XMIT 0x10   /**< the send buffer's struct cee_tcp_xmit is initialised */
#define CEE_TCB_U_NOGROW 0x20 /**< growing this buffer was refused (none free): not again */
#define CEE_TCB_U_TS 0x40     /**< timestamps negotiated (RFC 7323) */
#define CEE_TCB_U_KARN 0x80   /**< an RTT sample was dropped (Karn): a TSecr may replace it */

/** A cookie SYN-ACK to @p syn offers timestamps (the SYN did, and they are on). */
bool cee_tcp_cookie_ts(const struct cee_tcp_ctx *ctx, const struct cee_tcp_seg *syn);
/**
 * SYN cookies (RFC 4987 3.6), stateless: the SYN-ACK answering @p syn with
 * ISS @p iss (the cookie), for a listener with @p service, into @p out:
 * MSS as cee_tcp_accept() would answer; with timestamps (cee_tcp_cookie_ts())
 * window scale and SACK as it would too, and a TSval whose low 5 bits are
 * @p ts_code (cee_syncookie_ts_code()); without, neither window scaling
 * nor SACK. @p ts_off: the TSval offset ctx->ts_off will give the
 * connection (its tuple's; ignored without ctx->ts_off). Counted in
 * segs_in/segs_out; nothing else is kept.
 */
void cee_tcp_synack_cookie(struct cee_tcp_ctx *ctx, const struct cee_tcp_seg *syn, uint32_t iss,
			   enum cee_tcp_service service, uint32_t ts_code, uint32_t ts_off,
			   uint64_t now_ns, struct cee_tcp_out *out);
/**
 * A valid cookie ACK @p ack arrived (ACK - 1 = @p iss, the cookie; the SYN
 * it answers had @p mss, @p wscale, @p sack_ok, and timestamps were
 * offered back when @p ts): the owner allocated @p tcb (zeroed). Reports
 * open, then takes @p ack as the handshake's last segment (established,
 * and its data if any), as if the SYN-ACK had been sent from this tcb.
 * Nothing is sent for the SYN-ACK.
 */
void cee_tcp_accept_cookie(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb,
			   enum cee_tcp_service service, const struct cee_tcp_seg *ack, uint32_t iss,
			   uint16_t mss, uint8_t wscale, bool sack_ok, bool ts, uint64_t now_ns);

/**
 * Passive open: @p syn (flags SYN only) arrived for a listener with @p service
 * and the owner allocated @p tcb (zeroed). Reports open, sends SYN-ACK and
 * arms the handshake timer.
 */
void cee_tcp_accept(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, enum cee_tcp_service service,
		    const struct cee_tcp_seg *syn, uint64_t now_ns);

/**
 * Active open. The owner allocated @p tcb zeroed inside its connection with
 * the 4-tuple set (ctx->isn sees the connection). Reports open, sends SYN
 * (MSS, window scale), arms the retransmission timer (the SYN is sent again
 * with RFC 6298 backoff up to cfg.synack_retries times, then the connection
 * closes with handshake_timeout) and the handshake deadline
 * (cfg.handshake_timeout_ns, also handshake_timeout).
 */
void cee_tcp_connect(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, enum cee_tcp_service service,
		     uint64_t now_ns);

/**
 * Queue up to @p len bytes for an ESTABLISHED or CLOSE-WAIT connection and
 * transmit what the peer's window allows (from inside a callback: when the
 * callback returns). bytes_out counts them when first transmitted.
 * @return bytes accepted (< @p len when the send buffer is full, 0 when it
 * is), -ENOTCONN in other states or once a close or abort was requested,
 * -ENOBUFS when no send buffer could be allocated (stats.no_sndbuf),
 * -EINVAL for CEE_TCP_SVC_ECHO and _ECHO_CLOSE (their send buffer holds the
 * echo).
 */
int cee_tcp_send(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, const void *data, uint32_t len,
		 uint64_t now_ns);
/**
 * Bytes cee_tcp_send() takes now: the send buffer's free room (a buffer
 * is taken for @p tcb if it has none: 0 when none is free), 0 when it does
 * not send (not ESTABLISHED or CLOSE-WAIT, closed for sending, an echo
 * service).
 */
uint32_t cee_tcp_send_room(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb);
/**
 * Whether cee_tcp_send() may take bytes of @p tcb now or later: ESTABLISHED
 * or CLOSE-WAIT (before our FIN goes: the peer's FIN queued it after what
 * is in the buffer), not closed for sending, not an echo service.
 */
bool cee_tcp_sends(const struct cee_tcb *tcb);
/**
 * The send buffer's size for @p tcb (its own, else a plain one's): the
 * most cee_tcp_send_room() can ever say while it keeps that buffer.
 */
uint32_t cee_tcp_send_size(const struct cee_tcp_ctx *ctx, const struct cee_tcb *tcb);

/**
 * Process one segment for an existing connection (RFC 9293 3.10.7).
 * @return true when @p seg is a SYN that ends @p tcb's TIME-WAIT (RFC 6191:
 * a newer timestamp, or a higher sequence number without timestamps): the
 * tcb was reported destroyed, and the owner opens a new connection with
 * @p seg as for a SYN that matched none.
 */
bool cee_tcp_input(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, const struct cee_tcp_seg *seg,
		   uint64_t now_ns);

/**
 * ICMP fragmentation needed (RFC 1191) quoting our segment at @p seq with
 * next-hop MTU @p mtu. Taken only when @p seq is unacknowledged data in
 * flight (RFC 5927 4.1: a blind attacker cannot guess it) and the MTU is
 * below the current segment size: snd_mss becomes mtu - 40 (at least
 * CEE_TCP_MIN_PMTU_MSS; @p mtu 0, a router older than RFC 1191: the next
 * plateau of RFC 1191 7 below the path MTU in use), and the bytes in flight are sent again at once
 * in the smaller size (the larger ones were dropped), without a
 * congestion response (RFC 1191 6.5). Otherwise counted and ignored.
 */
void cee_tcp_pmtu(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint32_t seq, uint16_t mtu,
		  uint64_t now_ns);
/**
 * ICMP destination unreachable (any code cee_net_parse() takes) quoting our segment @p seq.
 * A connection in SYN-SENT whose SYN it quotes (seq == ISS: RFC 5927 4.1,
 * a blind attacker must guess it) is aborted, reason host_unreachable
 * (connect()'s EHOSTUNREACH or, for a port, ECONNREFUSED: a firewall's
 * REJECT; it waited for handshake_timeout, its SYN sent again); later
 * states are left alone, as Linux leaves an established connection (a
 * soft error; RFC 1122 4.2.3.9's SHOULD abort for codes 2-4 is not
 * followed: a forged message cannot end a connection). Counted either way.
 */
void cee_tcp_icmp_unreach(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint32_t seq,
			  uint64_t now_ns);

/** The smallest segment size a path-MTU message can bring us to (Linux: min_pmtu 552). */
#define CEE_TCP_MIN_PMTU_MSS 512

/**
 * An owner's deadline for @p tcb (e.g. a TLS handshake limit): at @p at_ns
 * TCP calls ops->deadline, or without one aborts with @p reason (RST when
 * synchronised; closed, if not yet, and destroyed). @p at_ns 0 cancels it.
 * At most one per tcb; a later call replaces it.
 */
void cee_tcp_set_deadline(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint64_t at_ns,
			  enum cee_reason reason);

/** The owner's timer for @p tcb fired at or after its deadline. */
void cee_tcp_timer(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint64_t now_ns);

/**
 * The end of a receive burst (cfg.delack): send the ACKs still owed to
 * connections whose in-order data came with no reply. The owner calls it
 * after each burst of segments it passed to cee_tcp_input() (and its
 * callbacks had their say), before it puts its frames on the wire.
 */
void cee_tcp_flush_acks(struct cee_tcp_ctx *ctx, uint64_t now_ns);

/**
 * Graceful local close with @p reason (local_close, idle_timeout, admin_kill,
 * ...): FIN after the queued data. The reason is kept unless one is set already.
 * In SYN-SENT nothing is synchronised: no segment, closed and destroyed at once
 * (from inside a callback: when it returns).
 */
void cee_tcp_close(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, enum cee_reason reason,
		   uint64_t now_ns);

/**
 * Records @p reason as the first cause of the close a layer above started
 * without TCP's FIN yet (a WebSocket Close frame sent, the peer's awaited):
 * whatever ends the connection afterwards (the peer's Close, FIN or RST, a
 * timeout), `closed` reports this reason. Kept unless one is set already.
 */
void cee_tcp_set_close_reason(struct cee_tcb *tcb, enum cee_reason reason);

/**
 * Abort with @p reason (shutdown, port_down, no_resources, ...): send RST when
 * synchronised (not in SYN-SENT), report closed (if not yet) and destroyed at
 * once; from inside a callback for @p tcb, when the callback returns.
 */
void cee_tcp_abort(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, enum cee_reason reason,
		   uint64_t now_ns);

/**
 * Send buffers run short: reset the connection whose peer has held its
 * window shut (0, or a sliver too small for a segment) on our queued data
 * the longest, if for at least @p min_ns (reason
 * zero_window_timeout, counted in zw_evicted), freeing its send buffer and
 * slot. Peers that never read then cannot keep others from being served.
 * @return true when one was reset.
 */
bool cee_tcp_evict_zero_window(struct cee_tcp_ctx *ctx, uint64_t min_ns, uint64_t now_ns);

/** Timeouts of the oldest segment after which a stalled peer's buffer may be taken. */
#define CEE_TCP_STALL_RETRIES 3

/**
 * Send buffers run short: reset @p tcb if its peer has stopped
 * acknowledging: the oldest segment timed out CEE_TCP_STALL_RETRIES times
 * in a row (1.4 s at the least with a 200 ms RTO) with the window open
 * (a shut one is cee_tcp_evict_zero_window()'s). Reason
 * retransmit_timeout, the one it would end with later; counted in
 * stall_evicted. A peer that takes our echo and never acknowledges it
 * (every ACK dropped, an address that went away) held the buffer through
 * the whole backoff, about 51 s: 80 such connections a second pinned a
 * shard's 4,096 buffers, and every other client was refused. As Linux
 * resets sockets in backoff under memory pressure (tcp_out_of_resources()).
 * Not from inside a callback of @p tcb. @return true when it was reset.
 */
bool cee_tcp_evict_stalled(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb, uint64_t now_ns);

/**
 * Send buffers run short: if @p tcb holds one only for out-of-order data
 * (nothing queued to send, only the ranges ahead of a hole), drop that data
 * and free the buffer (counted in ooo_reneged). The bytes were never
 * acknowledged; the peer sends them again (RFC 2018 allows reneging on what
 * was SACKed). A peer that sends a byte past a hole and never fills it
 * cannot then hold a buffer. @return true when one was freed.
 */
bool cee_tcp_renege(struct cee_tcp_ctx *ctx, struct cee_tcb *tcb);

/**
 * The RST to answer @p seg with when no connection matches it (RFC 9293
 * 3.10.7.1): fills @p out. @return false when @p seg itself carries RST (no reply).
 */
bool cee_tcp_rst_for(const struct cee_tcp_seg *seg, struct cee_tcp_out *out);
