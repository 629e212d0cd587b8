/* SPDX-License-Identifier: BSD-3-Clause */
// A shard's links (cee_link.h): link i of the engine belongs to shard
// i % nshards, and every attempt of it is opened here, with a source port
// whose flow this shard owns. The attempt's close reaches the link through
// a monitor bound to the attempt's id (cee_monitor.h): a late `destroyed`
// of an earlier attempt names another id and changes nothing.
//
// Events of a link's attempt, in order on its connection: open (with
// "link"), established, [tls_up], link_up, closed, link_down, destroyed.
// link_up follows the top layer's milestone; link_down follows closed at
// once (the monitor fires in the closed step).
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_random.h>

#include "cee_link.h"
#include "cee_shard.h"
#include "cee_shard_priv.h"

#define LINK_CONNECTS_PER_POLL 64 /**< attempts opened per poll iteration at most */
#define LINK_ARP_WAIT_NS (10 * 1000000ull) /**< next look at an unresolved next hop */

#define LINK_GONE_MAX 4 /**< closed attempts a link remembers (lingering on their slots) */

struct shard_link {
	struct cee_link l; /**< first: its timer node is the wheel's node */
	struct cee_shard *s;
	bool held; /**< its room counts in the shard's link_hold_* */
	uint8_t gone_next;                   /**< the next of gone[] to overwrite */
	cee_conn_id_t gone[LINK_GONE_MAX];   /**< its last closed attempts, oldest at gone_next */
};

struct cee_shard_links {
	struct shard_link *v;
	uint32_t n;
	struct cee_timer_wheel *wheel; /**< the links' next attempts */
	struct cee_link_backoff backoff;
	uint64_t rng;
	bool stop;   /**< shutting down: no more attempts */
	bool notice; /**< drain_notice()'s attempt is opening: it ends at its open */
};

static struct shard_link *of_timer(struct cee_timer_node *n)
{
	return (struct shard_link *)((char *)n - offsetof(struct shard_link, l.timer));
}

static void hold(struct shard_link *sl, bool on);

int cee_shard_links_init(struct cee_shard *s)
{
	const struct cee_engine_cfg *cfg = s->cfg;
	uint32_t mine = cee_links_on_shard(cfg->nlinks, s->id, s->nshards);
	if (mine == 0)
		return 0;
	struct cee_shard_links *ls = calloc(1, sizeof(*ls));
	if (ls == NULL)
		return -ENOMEM;
	ls->v = calloc(mine, sizeof(*ls->v));
	ls->wheel = cee_timer_wheel_create(1000000, 4096, s->now_ns); // 1 ms ticks
	if (ls->v == NULL || ls->wheel == NULL) {
		cee_timer_wheel_destroy(ls->wheel);
		free(ls->v);
		free(ls);
		return -ENOMEM;
	}
	ls->backoff = cfg->reconnect;
	ls->rng = rte_rand() | 1;
	ls->n = mine;
	uint32_t k = 0;
	for (uint32_t i = s->id; i < cfg->nlinks; i += s->nshards, k++) {
		struct shard_link *sl = &ls->v[k];
		sl->s = s;
		cee_link_init(&sl->l, &cfg->links[i], i, s->now_ns);
		cee_timer_arm(ls->wheel, &sl->l.timer, s->now_ns); // the first attempt at once
		hold(sl, true);
	}
	s->links = ls;
	return 0;
}

void cee_shard_links_fini(struct cee_shard *s)
{
	struct cee_shard_links *ls = s->links;
	if (ls == NULL)
		return;
	cee_timer_wheel_destroy(ls->wheel);
	free(ls->v);
	free(ls);
	s->links = NULL;
}

/* The event credits of one attempt of @p l (cee_shard_open_active()'s). */
static unsigned attempt_credits(const struct cee_shard *s, const struct cee_link *l)
{
	unsigned n = l->cfg->tls ? s->evt_per_conn_layers : s->evt_per_conn;
	return n != 0 ? n + CEE_LINK_EVT_EXTRA : 0;
}

/*
 * Hold the room of a link's next attempt (@p on), or give it back (the
 * attempt opens now and takes it, or the link drained): the shard's other
 * opens leave it. Held all the while the link is not drained, up as well:
 * held only while it waited to reconnect, inbound clients filled the shard
 * while it was up, and its last attempt, closed but lingering (TIME-WAIT
 * for 60 s, LAST-ACK to a server gone), kept the slot the hold counted on:
 * every retry failed locally (link_open_failed, no event) and backed off
 * to 30 s, after a link_down that promised one in 150 ms.
 */
static void hold(struct shard_link *sl, bool on)
{
	if (sl->held == on)
		return;
	struct cee_shard *s = sl->s;
	unsigned credits = attempt_credits(s, &sl->l);
	if (on) {
		s->link_hold_slots++;
		s->link_hold_credits += credits;
	} else {
		s->link_hold_slots--;
		s->link_hold_credits -= credits;
	}
	sl->held = on;
}

static void schedule(struct cee_shard_links *ls, struct cee_link *l)
{
	struct shard_link *sl = of_timer(&l->timer);
	hold(sl, l->state != CEE_LINK_DRAINED);
	if (l->state == CEE_LINK_BACKOFF)
		cee_timer_arm(ls->wheel, &l->timer, l->next_ns);
	else
		cee_timer_cancel(ls->wheel, &l->timer);
}

/* link_up / link_down with the link's name and the attempt's ordinal. */
static void emit_link(struct cee_shard *s, struct cee_conn *c, const struct cee_link *l,
		      enum cee_evt_type type, bool next)
{
	struct cee_ext_builder b;
	cee_ext_begin(&b, c->id, type);
	cee_ext_put_str(&b, CEE_EXT_LINK, l->cfg->name);
	cee_ext_put_u32(&b, CEE_EXT_ATTEMPT, l->attempt);
	if (next) {
		uint64_t ms = (l->next_ns - s->now_ns) / 1000000;
		cee_ext_put_u32(&b, CEE_EXT_NEXT_ATTEMPT_MS, ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms);
	}
	cee_shard_emit(s, c, type, &b);
	cee_mbox_lifecycle(&s->mbox, s->pool, c, type);
}

void cee_shard_link_open_ext(struct cee_shard *s, struct cee_conn *c)
{
	struct cee_ext_builder b;
	cee_ext_begin(&b, c->id, CEE_EVT_OPEN);
	cee_ext_put_str(&b, CEE_EXT_LINK, s->links->v[c->link - 1].l.cfg->name);
	cee_shard_emit(s, c, CEE_EVT_OPEN, &b);
	if (unlikely(s->links->notice)) // (when this callback returns: before its SYN goes)
		cee_tcp_abort(&s->tcp, &c->tcb, CEE_REASON_SHUTDOWN, s->now_ns);
}

/*
 * cee-ctl drain stops link @p sl while it is not up: waiting out its
 * backoff (its link_down promised the next attempt in next_attempt_ms), or
 * its attempt just failed. The stream says so with the attempt it will not
 * make: opened and ended at once, as an active open is refused during a
 * drain (ESHUTDOWN): open (with the link's name), closed with reason
 * shutdown, destroyed; no SYN goes out. Before, the link went `drained`
 * with no event, and the control plane waited for the retry promised. It
 * takes the room held for the link's next attempt (cee_shard_open_active()
 * refuses it otherwise, as during a drain: mbox.drain_exempt lifts that for
 * it alone, not for the opens its callbacks make).
 */
static void drain_notice(struct cee_shard *s, struct shard_link *sl)
{
	struct cee_shard_links *ls = s->links;
	struct cee_link *l = &sl->l;
	const struct cee_link_cfg *lc = l->cfg;
	uint32_t tag = (uint32_t)(sl - ls->v) + 1;
	hold(sl, false);
	// this open alone passes the drain: its closed and destroyed come from
	// inside it, and an app's hook that opened another there got one
	// through the drain (the drain itself was lifted meanwhile)
	s->mbox.drain_exempt = true;
	ls->notice = true;
	// (its layers never start: a bare connection of the link's protocol)
	struct cee_conn *c =
	    cee_shard_open_active(s, 0, lc->ip, lc->port, (enum cee_tcp_service)lc->service,
				  lc->tls ? CEE_PROTO_TLS : CEE_PROTO_TCP, NULL, tag);
	ls->notice = false;
	s->mbox.drain_exempt = false;
	if (c == NULL) { // no slot, event room or source port: it goes unsaid
		s->stats.link_open_failed++;
		return;
	}
	// (c is destroyed: closed and destroyed went out from inside the open)
	s->stats.link_drain_notices++;
	l->attempts++;
	l->attempt = l->attempts + l->refused;
	l->last_reason = CEE_REASON_SHUTDOWN;
}

void cee_shard_link_up(struct cee_shard *s, struct cee_conn *c)
{
	struct cee_shard_links *ls = s->links;
	struct cee_link *l = &ls->v[c->link - 1].l;
	if (!cee_link_up(l, c->id, s->now_ns))
		return;
	s->stats.link_ups++;
	emit_link(s, c, l, CEE_EVT_LINK_UP, false);
}

/* The monitor of the link's current attempt: that id closed. */
static void attempt_closed(void *arg, cee_conn_id_t id, int reason)
{
	struct shard_link *sl = arg;
	struct cee_shard *s = sl->s;
	struct cee_shard_links *ls = s->links;
	struct cee_link *l = &sl->l;
	bool stop = ls->stop || s->mbox.draining;
	enum cee_reason why = reason >= 0 ? (enum cee_reason)reason : CEE_REASON_NONE;
	enum cee_link_close what =
	    cee_link_closed(l, id, why, s->now_ns, stop, &ls->backoff, cee_link_rand(&ls->rng));
	if (what != CEE_LINK_STALE) { // (closed: it may linger on its slot, reclaim_gone())
		sl->gone[sl->gone_next] = id;
		sl->gone_next = (uint8_t)((sl->gone_next + 1) % LINK_GONE_MAX);
	}
	switch (what) {
	case CEE_LINK_STALE:
		return;
	case CEE_LINK_FAILED:
		s->stats.link_failed++;
		if (s->mbox.draining && !ls->stop) // stopped while not up: the stream says it
			drain_notice(s, sl);
		break;
	case CEE_LINK_DOWN: {
		s->stats.link_downs++;
		struct cee_conn *c = cee_conn_by_id(s->pool, id);
		if (c != NULL) // closed, not yet destroyed: link_down goes right after closed
			emit_link(s, c, l, CEE_EVT_LINK_DOWN, l->state == CEE_LINK_BACKOFF);
		break;
	}
	}
	schedule(ls, l);
}

/*
 * The link's next attempt finds no room: its own closed attempts that
 * linger on their slots (TIME-WAIT after our close, 60 s; LAST-ACK to a
 * server gone after its FIN; CLOSING after FINs that crossed) end now, the
 * oldest first, until there is.
 * The room held for it covered one lingering attempt: a link that dropped
 * twice within a TIME-WAIT, on a shard that clients filled, failed every
 * retry locally (or took the room another link held). Its `closed` is out
 * already; `destroyed` follows, as at the end of its TIME-WAIT. The next
 * attempt has a new source port: the old tuple's late segments meet no one.
 */
static void reclaim_gone(struct cee_shard *s, struct shard_link *sl)
{
	// (the slots alone: the other links' held rooms stay theirs)
	for (unsigned k = 0; k < LINK_GONE_MAX && cee_shard_slots_held(s); k++) {
		unsigned i = (sl->gone_next + k) % LINK_GONE_MAX;
		struct cee_conn *c = sl->gone[i] != 0 ? cee_conn_by_id(s->pool, sl->gone[i]) : NULL;
		sl->gone[i] = 0;
		// (closed means CLOSING, LAST-ACK or TIME-WAIT: a CLOSING one, its
		// server's FIN crossing ours and our FIN never acked, lingered
		// until its retransmissions ran out, minutes)
		if (c == NULL ||
		    (c->tcb.state != CEE_TCP_TIME_WAIT && c->tcb.state != CEE_TCP_LAST_ACK &&
		     c->tcb.state != CEE_TCP_CLOSING))
			continue;
		s->stats.link_reclaimed++;
		cee_tcp_abort(&s->tcp, &c->tcb, CEE_REASON_NO_RESOURCES, s->now_ns);
	}
}

static struct cee_conn *open_attempt(struct cee_shard *s, struct shard_link *sl)
{
	const struct cee_link_cfg *lc = sl->l.cfg;
	uint32_t tag = (uint32_t)(sl - s->links->v) + 1;
	if (lc->tls)
		return cee_stack_connect(s, 0, lc->ip, lc->port, true, false,
					 lc->sni != NULL ? lc->sni : s->cfg->tls_sni, NULL,
					 (enum cee_tcp_service)lc->service, tag);
	return cee_shard_open_active(s, 0, lc->ip, lc->port, (enum cee_tcp_service)lc->service,
				     CEE_PROTO_TCP, NULL, tag);
}

static void link_due(void *arg, struct cee_timer_node *n, uint64_t now_ns)
{
	struct cee_shard *s = arg;
	struct cee_shard_links *ls = s->links;
	struct shard_link *sl = of_timer(n);
	struct cee_link *l = &sl->l;
	if (l->state != CEE_LINK_BACKOFF)
		return;
	if (ls->stop || s->mbox.draining) {
		if (!ls->stop)
			drain_notice(s, sl);
		cee_link_drain(l);
		hold(sl, false);
		return;
	}
	// the next hop first: a burst of SYNs behind an unresolved neighbour
	// would overflow the resolver's queue and wait for retransmission
	bool unreachable = false;
	if (cee_shard_next_hop(s, l->cfg->ip) != 0 && !cee_shard_neigh_ready(s, 0, l->cfg->ip)) {
		// until the resolver gives up (its requests unanswered, about 3 s):
		// then the attempt is made and closes at once, host_unreachable,
		// as connect() fails with EHOSTUNREACH. Before, a next hop that
		// never answered kept the link waiting for ever with no event:
		// its last word a link_down that promised a retry. Once for each
		// time the resolver gives up: a link that finds the neighbour
		// failed without having waited for it (its report made, its
		// backoff over within the 5 s hold-down) waits for the next round
		// of requests, or a short backoff made three events of it every
		// 100 ms for nothing new
		bool failed = cee_shard_neigh_failed(s, l->cfg->ip);
		unreachable = failed && l->arp_asked;
		if (!unreachable) {
			l->arp_asked |= !failed;
			s->stats.link_arp_waits++;
			// cee-ctl links shows the wait (arp_wait, and the next look
			// in next_attempt_ms), not a due time long past
			l->arp_wait = 1;
			l->next_ns = now_ns + LINK_ARP_WAIT_NS;
			cee_timer_arm(ls->wheel, n, l->next_ns);
			return;
		}
	}
	l->arp_wait = 0;
	l->arp_asked = 0;
	hold(sl, false); // the attempt takes the room held for it
	reclaim_gone(s, sl); // (none unless the room is gone)
	struct cee_conn *c = open_attempt(s, sl);
	if (c == NULL) { // no slot, no event room, no source port, no route: try again later
		s->stats.link_open_failed++;
		(void)cee_link_closed(l, 0, CEE_REASON_NO_RESOURCES, now_ns, false, &ls->backoff,
				      cee_link_rand(&ls->rng));
		schedule(ls, l);
		return;
	}
	s->stats.link_attempts++;
	hold(sl, true); // the room of the attempt after this one
	cee_link_attempt(l, c->id);
	// the link hears of this attempt's close through a monitor on its id;
	// it is never removed (it fires once, at that close)
	cee_conn_id_t id = c->id;
	int64_t h = cee_shard_monitor_add(s, id, attempt_closed, sl);
	if (h < 0) {
		// no monitor: the link would never hear of this attempt again. The
		// abort frees the slot (c->id is 0 after it): the id saved above
		// tells whether the link still waits on this attempt
		s->stats.link_no_monitor++;
		cee_tcp_abort(&s->tcp, &c->tcb, CEE_REASON_NO_RESOURCES, now_ns);
		if (l->state == CEE_LINK_CONNECTING && l->conn == id)
			attempt_closed(sl, id, CEE_REASON_NO_RESOURCES);
	}
	// h == 0: it fired at once (not for an attempt just made: its close
	// comes later, at the earliest from the SYN's timeout)
	if (unreachable && h > 0) {
		// (its SYN met the resolver's hold-down: dropped, counted there)
		s->stats.link_unreachable++;
		cee_tcp_abort(&s->tcp, &c->tcb, CEE_REASON_HOST_UNREACHABLE, now_ns);
	}
}

unsigned cee_shard_links_poll(struct cee_shard *s)
{
	return cee_timer_expire(s->links->wheel, s->now_ns, LINK_CONNECTS_PER_POLL, link_due, s);
}

void cee_shard_links_drain(struct cee_shard *s, bool stop)
{
	struct cee_shard_links *ls = s->links;
	if (ls == NULL)
		return;
	if (stop)
		ls->stop = true;
	for (uint32_t i = 0; i < ls->n; i++) {
		struct cee_link *l = &ls->v[i].l;
		if (!ls->stop && l->state == CEE_LINK_BACKOFF)
			drain_notice(s, &ls->v[i]);
		cee_link_drain(l);
		schedule(ls, l);
	}
}

uint32_t cee_shard_links_fill(struct cee_shard *s, struct cee_link_info *out, uint32_t cap)
{
	struct cee_shard_links *ls = s->links;
	if (ls == NULL)
		return 0;
	uint32_t n = 0;
	for (uint32_t i = 0; i < ls->n && n < cap; i++, n++) {
		const struct cee_link *l = &ls->v[i].l;
		struct cee_link_info *o = &out[n];
		memset(o, 0, sizeof(*o));
		memcpy(o->name, l->cfg->name, sizeof(o->name));
		o->index = l->index;
		o->ip = l->cfg->ip;
		o->port = l->cfg->port;
		o->tls = l->cfg->tls;
		o->state = l->state;
		o->last_reason = l->last_reason;
		o->conn = l->conn;
		o->attempts = l->attempts;
		o->refused = l->refused;
		o->ups = l->ups;
		o->downs = l->downs;
		o->up_ms = l->state == CEE_LINK_UP ? (s->now_ns - l->up_ns) / 1000000 : 0;
		o->arp_wait = l->state == CEE_LINK_BACKOFF && l->arp_wait;
		o->next_ms = l->state == CEE_LINK_BACKOFF && l->next_ns > s->now_ns
				 ? (l->next_ns - s->now_ns) / 1000000
				 : 0;
	}
	return n;
}

uint32_t cee_shard_links_count(const struct cee_shard *s)
{
	return s->links != NULL ? s->links->n : 0;
}
