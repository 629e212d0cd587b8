/* SPDX-License-Identifier: BSD-3-Clause */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "cee_stats.h"

#define FIELD(f) .width = sizeof(((struct cee_ctl_shard_stats *)0)->f),                            \
		 .off = offsetof(struct cee_ctl_shard_stats, f)
#define TOP(n, f, m) {.name = n, .group = CEE_STAT_TOP, .max = m, FIELD(f)},
#define X_SHARD(f, t, d) {.name = #f, .group = CEE_STAT_TOP, .max = CEE_STAT_AGG_##t, FIELD(shard.f)},
#define X_TCP(f, g, n, d) {.name = n, .group = CEE_STAT_##g, .max = false, FIELD(tcp.f)},
#define X_DROP(e, s) {.name = s, .group = CEE_STAT_DROP, .max = false, FIELD(shard.drops[CEE_DROP_##e])},
#define X_TLS(f, d) {.name = #f, .group = CEE_STAT_TLS, .max = false, FIELD(tls.f)},
#define X_WS(f, d) {.name = #f, .group = CEE_STAT_WS, .max = false, FIELD(ws.f)},
#define MBOX(n, f, m) {.name = n, .group = CEE_STAT_MAILBOX, .max = m, FIELD(mbox.f)},
#define ARP(f) {.name = #f, .group = CEE_STAT_ARP, .max = false, FIELD(arp.f)},
#define MON(f) {.name = #f, .group = CEE_STAT_MONITOR, .max = false, FIELD(mon.f)},
#define CEE_STAT_AGG_SUM false
#define CEE_STAT_AGG_MAX true

// clang-format off
static const struct cee_stat_def defs[] = {
	TOP("live", live, false)
	TOP("half_open", half_open, false)
	TOP("tls_live", tls_live, false)
	TOP("tls_heap", tls_heap, true)
	TOP("max_conns", max_conns, false)
	CEE_SHARD_STATS_LIST(X_SHARD)
	TOP("refused_draining", mbox.drain_refused, false)
	TOP("draining", draining, true)
	TOP("events", ring.pushed, false)
	TOP("events_exported", ring.consumed, false)
	TOP("ring_used", ring.used, false)
	TOP("ring_reserved", ring.reserved, false)
	TOP("ring_capacity", ring.capacity, false)
	TOP("ring_used_max", ring.used_max, true)
	TOP("ring_refused", ring.refused, false)
	CEE_TCP_STATS_LIST(X_TCP)
	CEE_DROP_LIST(X_DROP)
	CEE_TLS_STATS_LIST(X_TLS)
	CEE_WS_STATS_LIST(X_WS)
	MBOX("requests", requests, false)
	MBOX("stale_id", stale_id, false)
	MBOX("kills", kills, false)
	MBOX("watches", watches, false)
	MBOX("watch_reaped", watch_reaped, false)
	MBOX("list_steps", list_steps, false)
	MBOX("visits", visits, false)
	MBOX("total_ns", ns_total, false)
	MBOX("max_ns", ns_max, true)
	MBOX("cpu_total_ns", cpu_ns_total, false)
	MBOX("cpu_max_ns", cpu_ns_max, true)
	MBOX("full", full, false)
	MBOX("timeouts", timeouts, false)
	// the neighbour resolver: frames it dropped (queue full, no answer,
	// hold-down) were counted only inside it
	ARP(requests)
	ARP(learned)
	ARP(resolved)
	ARP(queued)
	ARP(dropped)
	ARP(failed)
	ARP(stale_failed)
	ARP(evicted)
	ARP(table_full)
	MON(added)
	MON(fired)
	MON(gone)
	MON(removed)
	MON(dropped)
	MON(no_room)
};
// clang-format on

unsigned cee_stat_count(void)
{
	return sizeof(defs) / sizeof(defs[0]);
}

const struct cee_stat_def *cee_stat_def(unsigned i)
{
	return &defs[i];
}

uint64_t cee_stat_value(unsigned i, const struct cee_ctl_shard_stats *st)
{
	const char *p = (const char *)st + defs[i].off;

	switch (defs[i].width) {
	case 1: {
		uint8_t v;
		memcpy(&v, p, 1);
		return v;
	}
	case 4: {
		uint32_t v;
		memcpy(&v, p, 4);
		return v;
	}
	default: {
		uint64_t v;
		memcpy(&v, p, 8);
		return v;
	}
	}
}

const char *cee_stat_group_key(enum cee_stat_group g)
{
	switch (g) {
	case CEE_STAT_TOP:
	case CEE_STAT__GROUPS:
		return NULL;
	case CEE_STAT_TCP:
		return "tcp";
	case CEE_STAT_DROP:
		return "drops";
	case CEE_STAT_MAILBOX:
		return "mailbox";
	case CEE_STAT_TLS:
		return "tls";
	case CEE_STAT_WS:
		return "ws";
	case CEE_STAT_ARP:
		return "arp";
	case CEE_STAT_MONITOR:
		return "monitors";
	}
	return NULL;
}

const char *cee_stat_group_prefix(enum cee_stat_group g)
{
	switch (g) {
	case CEE_STAT_TOP:
	case CEE_STAT__GROUPS:
		return "";
	case CEE_STAT_TCP:
		return "tcp_";
	case CEE_STAT_DROP:
		return "drop_";
	case CEE_STAT_MAILBOX:
		return "mailbox_";
	case CEE_STAT_TLS:
		return "tls_";
	case CEE_STAT_WS:
		return "ws_";
	case CEE_STAT_ARP:
		return "arp_";
	case CEE_STAT_MONITOR:
		return "monitor_";
	}
	return "";
}

const char *cee_stat_flat_name(unsigned i, char *buf, unsigned size)
{
	snprintf(buf, size, "%s%s", cee_stat_group_prefix((enum cee_stat_group)defs[i].group),
		 defs[i].name);
	return buf;
}

void cee_stat_snapshot(const struct cee_shard *s, struct cee_ctl_shard_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->shard = s->stats;
	st->tcp = s->tcp.stats;
	// the TLS counters of both roles, one group
	const struct cee_tls_ctx *ctx[2] = {s->tls_srv, s->tls_cli};
	for (unsigned k = 0; k < 2; k++) {
		if (ctx[k] == NULL)
			continue;
		const struct cee_tls_stats *t = cee_tls_ctx_stats(ctx[k]);
		st->tls_live += cee_tls_ctx_live(ctx[k]);
		st->tls_heap = (uint64_t)cee_tls_heap_bytes();
#define X_TLS_ADD(f, d) st->tls.f += t->f;
		CEE_TLS_STATS_LIST(X_TLS_ADD)
#undef X_TLS_ADD
	}
	const struct cee_ws_ctx *wctx[2] = {s->ws_srv, s->ws_cli};
	for (unsigned k = 0; k < 2; k++) {
		if (wctx[k] == NULL)
			continue;
		const struct cee_ws_stats *w = cee_ws_ctx_stats(wctx[k]);
#define X_WS_ADD(f, d) st->ws.f += w->f;
		CEE_WS_STATS_LIST(X_WS_ADD)
#undef X_WS_ADD
	}
	if (s->evring != NULL)
		cee_evring_stats(s->evring, &st->ring);
	st->mbox = s->mbox.stats;
	st->mbox.full = atomic_load_explicit(&s->mbox.full, memory_order_relaxed);
	st->mbox.timeouts = atomic_load_explicit(&s->mbox.timeouts, memory_order_relaxed);
	if (s->arp != NULL)
		cee_arp_stats(s->arp, &st->arp);
	if (s->monitors != NULL)
		st->mon = *cee_monitors_stats(s->monitors);
	st->live = cee_shard_live(s);
	st->half_open = s->half_open;
	st->max_conns = cee_conn_max(s->pool);
	st->draining = s->mbox.draining;
}
