/* SPDX-License-Identifier: BSD-3-Clause */
// Audit of an event stream against the lifecycle contract.
//
// Two independent checks per event:
//  - shard stream: sseq consecutive per shard from 1;
//  - connection: cseq consecutive from 0, `open` first, types strictly
//    increasing in contract order, `closed` before `destroyed`.
//
// Classification (each event adds at most one duplicate/out_of_order, plus
// possibly one gap):
//  - sseq > last + 1: a gap (the events in between are missing); the
//    connection check still runs, so a missing event of a connection also
//    shows as a cseq skip (out_of_order) on its next event.
//  - sseq == last: duplicate. sseq < last: duplicate when the connection has
//    already seen this cseq, else out_of_order (a late event).
//  - cseq already seen, or a second open/closed/destroyed: duplicate.
//  - cseq skips forward, cseq behind but not seen, or a type at or before the
//    last one: out_of_order.
//  - `destroyed` without `closed` before it: lost (the lost-close fault).
//  - Destroyed connections leave the map (memory tracks live connections).
//    Ids never repeat, so an event for an unknown connection that is not
//    `open` is either after `destroyed` or without an `open`: a `destroyed`
//    is counted duplicate (a second destroyed), anything else out_of_order.
//    Such a connection is then tracked as a "ghost" from that event on, so
//    its later events are checked against it rather than each flagged again;
//    ghosts are not counted as lost or live at finish (already reported).
//  - Layers: tls_up only right after established, ws_up right after
//    established or tls_up (out_of_order otherwise); every type at most once
//    (a second one with a fresh cseq is a duplicate).
//  - `closed` with a TLS reason on a connection whose proto is neither tls
//    nor wss: inconsistent.
//
// Extension records (schema 2) are records of the shard stream: they get
// the same sseq check (gap, duplicate, backwards) but no connection check.
// Per shard, at most one group is open: its records must come in order
// (part 0 .. parts-1, one conn, one `of`), and the next record of the shard
// after the last part must be that conn's event of type `of`. Anything else
// breaks the group: counted once in ext_bad, and the group is forgotten.
// Records that fail the sseq check as duplicate or backwards take no part
// in the group check (they were reported already).
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cee_audit.h"

#define MAP_MIN 1024u
#define VIOLATIONS_KEPT 20
#define VIOLATION_LEN 160

// One live connection. id 0 marks an empty slot (id 0 is never issued).
struct conn {
	cee_conn_id_t id;
	uint8_t last_cseq; // highest cseq accepted
	uint8_t last_type; // highest type accepted
	uint8_t seen;      // bit c: cseq c seen (c < 8)
	uint8_t closed;    // a closed event was seen
	uint8_t ghost;     // first seen without open: already reported
};

enum verdict { V_OK, V_DUP, V_ORDER };

// The extension group a shard has open. parts == 0: none.
struct ext_group {
	cee_conn_id_t conn;
	uint64_t first_sseq;
	uint8_t of;
	uint8_t parts;
	uint8_t got;      // records seen: the next part expected
	uint8_t reported; // already counted broken (parts missing at its start)
};

struct cee_audit {
	struct conn *map; // open addressing, linear probing, backward-shift delete
	uint32_t cap;     // power of two
	uint32_t count;
	uint32_t ghosts; // entries with ghost set
	uint64_t last_sseq[CEE_MAX_SHARDS];
	struct ext_group ext[CEE_MAX_SHARDS];
	struct cee_audit_result r; // running counters; lost/live/ok at finish
	uint64_t lost_close;       // destroyed without closed
	uint64_t nviolations;
	bool strict_finish; // last finish counted unfinished connections as lost
	char violations[VIOLATIONS_KEPT][VIOLATION_LEN];
};

static uint32_t hash_id(cee_conn_id_t id)
{
	// splitmix64 finalizer: serials are sequential, spread them.
	uint64_t z = id;
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return (uint32_t)(z ^ (z >> 31));
}

static int map_init(struct cee_audit *a, uint32_t cap)
{
	struct conn *m = calloc(cap, sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	a->map = m;
	a->cap = cap;
	a->count = 0;
	return 0;
}

static struct conn *map_find(struct cee_audit *a, cee_conn_id_t id)
{
	uint32_t mask = a->cap - 1;
	for (uint32_t i = hash_id(id) & mask;; i = (i + 1) & mask) {
		if (a->map[i].id == id)
			return &a->map[i];
		if (a->map[i].id == 0)
			return NULL;
	}
}

static struct conn *map_slot_for_insert(struct conn *m, uint32_t cap, cee_conn_id_t id)
{
	uint32_t mask = cap - 1;
	uint32_t i = hash_id(id) & mask;
	while (m[i].id != 0)
		i = (i + 1) & mask;
	return &m[i];
}

static int map_resize(struct cee_audit *a, uint32_t cap)
{
	struct conn *m = calloc(cap, sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < a->cap; i++)
		if (a->map[i].id != 0)
			*map_slot_for_insert(m, cap, a->map[i].id) = a->map[i];
	free(a->map);
	a->map = m;
	a->cap = cap;
	return 0;
}

// @return the new entry, or NULL when out of memory.
static struct conn *map_insert(struct cee_audit *a, cee_conn_id_t id)
{
	// Keep load under 70% so probes stay short.
	if ((uint64_t)(a->count + 1) * 10 > (uint64_t)a->cap * 7 && a->cap < (UINT32_C(1) << 31))
		if (map_resize(a, a->cap * 2) < 0)
			return NULL;
	if (a->count + 1 >= a->cap)
		return NULL;
	struct conn *c = map_slot_for_insert(a->map, a->cap, id);
	memset(c, 0, sizeof(*c));
	c->id = id;
	a->count++;
	return c;
}

static void map_remove(struct cee_audit *a, struct conn *c)
{
	uint32_t mask = a->cap - 1;
	uint32_t i = (uint32_t)(c - a->map);

	// Backward-shift deletion: pull later members of the probe run into the
	// hole so lookups never need tombstones.
	for (uint32_t j = (i + 1) & mask; a->map[j].id != 0; j = (j + 1) & mask) {
		uint32_t home = hash_id(a->map[j].id) & mask;
		// Move j into i if its home is not cyclically in (i, j].
		bool stay = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (!stay) {
			a->map[i] = a->map[j];
			i = j;
		}
	}
	a->map[i].id = 0;
	a->count--;
	if (a->cap > MAP_MIN && (uint64_t)a->count * 8 < a->cap)
		(void)map_resize(a, a->cap / 2); // on failure keep the larger map
}

__attribute__((format(printf, 2, 3))) static void violation(struct cee_audit *a, const char *fmt,
							    ...)
{
	if (a->nviolations < VIOLATIONS_KEPT) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(a->violations[a->nviolations], VIOLATION_LEN, fmt, ap);
		va_end(ap);
	}
	a->nviolations++;
}

struct cee_audit *cee_audit_create(void)
{
	struct cee_audit *a = calloc(1, sizeof(*a));
	if (a == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	if (map_init(a, MAP_MIN) < 0) {
		free(a);
		errno = ENOMEM;
		return NULL;
	}
	return a;
}

void cee_audit_destroy(struct cee_audit *a)
{
	if (a == NULL)
		return;
	free(a->map);
	free(a);
}

static void count_type(struct cee_audit *a, const struct cee_event *e)
{
	switch ((enum cee_evt_type)e->type) {
	case CEE_EVT_OPEN:
		a->r.opens++;
		break;
	case CEE_EVT_ESTABLISHED:
		a->r.established++;
		break;
	case CEE_EVT_TLS_UP:
	case CEE_EVT_WS_UP:
		break;
	case CEE_EVT_CLOSED:
		a->r.closes++;
		if (e->reason < CEE_REASON__COUNT)
			a->r.by_reason[e->reason]++;
		break;
	case CEE_EVT_DESTROYED:
		a->r.destroys++;
		break;
	case CEE_EVT__COUNT:
		break;
	}
}

static const char *type_name(uint8_t t)
{
	return cee_evt_type_str((enum cee_evt_type)t);
}

// The connection check. Updates the connection's state unless the event is
// a duplicate. Writes a description of a violation into @p why.
static enum verdict check_conn(struct cee_audit *a, const struct cee_event *e, char *why,
			       size_t wlen)
{
	struct conn *c = map_find(a, e->conn);
	uint8_t cs = e->cseq, t = e->type;

	if (c == NULL) {
		if (t == CEE_EVT_OPEN) {
			c = map_insert(a, e->conn);
			if (c == NULL) {
				snprintf(why, wlen, "out of memory tracking the connection");
				return V_ORDER;
			}
			c->last_cseq = cs;
			c->last_type = t;
			c->seen = cs < 8 ? (uint8_t)(1u << cs) : 0;
			if (cs != 0) {
				snprintf(why, wlen, "open with cseq %u, expected 0", cs);
				return V_ORDER;
			}
			return V_OK;
		}
		if (t == CEE_EVT_DESTROYED) {
			snprintf(why, wlen, "destroyed (cseq %u) for an unknown or destroyed connection",
				 cs);
			return V_DUP;
		}
		snprintf(why, wlen, "%s (cseq %u) for an unknown or destroyed connection",
			 type_name(t), cs);
		c = map_insert(a, e->conn);
		if (c != NULL) {
			c->last_cseq = cs;
			c->last_type = t;
			c->seen = cs < 8 ? (uint8_t)(1u << cs) : 0;
			c->closed = t == CEE_EVT_CLOSED;
			c->ghost = 1;
			a->ghosts++;
		}
		return V_ORDER;
	}

	if (cs <= c->last_cseq) {
		bool seen = cs >= 8 || (c->seen & (1u << cs)) != 0;
		if (seen) {
			snprintf(why, wlen, "%s with cseq %u seen twice", type_name(t), cs);
			return V_DUP;
		}
		c->seen |= (uint8_t)(1u << cs);
		snprintf(why, wlen, "%s with cseq %u arrived after cseq %u", type_name(t), cs,
			 c->last_cseq);
		return V_ORDER;
	}

	enum verdict v = V_OK;
	if (cs != c->last_cseq + 1) {
		snprintf(why, wlen, "%s with cseq %u after cseq %u (events missing)", type_name(t),
			 cs, c->last_cseq);
		v = V_ORDER;
	} else if (t <= c->last_type) {
		// Every type at most once: the same type again is a second one.
		snprintf(why, wlen, "%s (cseq %u) after %s", type_name(t), cs,
			 type_name(c->last_type));
		v = t == c->last_type ? V_DUP : V_ORDER;
		if (t == CEE_EVT_OPEN || (t == CEE_EVT_CLOSED && c->closed))
			v = V_DUP;
	} else if ((t == CEE_EVT_TLS_UP && c->last_type != CEE_EVT_ESTABLISHED) ||
		   (t == CEE_EVT_WS_UP && c->last_type != CEE_EVT_ESTABLISHED &&
		    c->last_type != CEE_EVT_TLS_UP)) {
		// A layer completes on top of an established TCP connection.
		snprintf(why, wlen, "%s (cseq %u) right after %s", type_name(t), cs,
			 type_name(c->last_type));
		v = V_ORDER;
	}
	c->last_cseq = cs;
	if (cs < 8)
		c->seen |= (uint8_t)(1u << cs);
	if (t > c->last_type)
		c->last_type = t;
	if (t == CEE_EVT_CLOSED)
		c->closed = 1;
	if (t == CEE_EVT_DESTROYED) {
		if (c->ghost)
			a->ghosts--;
		else if (!c->closed) {
			a->lost_close++;
			violation(a, "conn %016" PRIx64 ": destroyed (cseq %u) without closed", e->conn,
				  cs);
		}
		map_remove(a, c);
	}
	return v;
}

static void ext_broken(struct cee_audit *a, unsigned shard, struct ext_group *g, const char *what,
		       const struct cee_event *next)
{
	if (!g->reported) {
		a->r.ext_bad++;
		violation(a,
			  "shard %u: ext group of conn %016" PRIx64 " for %s (sseq %" PRIu64
			  ", %u of %u parts) %s %s of conn %016" PRIx64 " (sseq %" PRIu64 ")",
			  shard, g->conn, type_name(g->of), g->first_sseq, g->got, g->parts, what,
			  next->type == CEE_EVT_EXT ? "ext" : type_name(next->type), next->conn,
			  next->sseq);
	}
	g->parts = 0;
}

// The shard's next record after an open group is the event @p e (in sequence).
static void ext_event(struct cee_audit *a, unsigned shard, const struct cee_event *e)
{
	struct ext_group *g = &a->ext[shard];
	if (g->parts == 0)
		return;
	if (g->conn != e->conn || g->of != e->type)
		ext_broken(a, shard, g, "not followed by its event but by", e);
	else if (g->got != g->parts)
		ext_broken(a, shard, g, "missing parts before", e);
	else
		g->parts = 0;
}

static void feed_ext(struct cee_audit *a, const struct cee_event *e)
{
	const struct cee_event_ext *x = cee_event_as_ext(e);
	unsigned shard = cee_event_shard(e);
	uint64_t *last = &a->last_sseq[shard];
	uint64_t prev = *last;
	struct ext_group *g = &a->ext[shard];

	a->r.ext++;
	if (x->sseq > prev + 1) {
		a->r.gaps++;
		violation(a, "shard %u: sseq jumps from %" PRIu64 " to %" PRIu64 " (%" PRIu64 " missing)",
			  shard, prev, x->sseq, x->sseq - prev - 1);
	}
	if (x->sseq <= prev) {
		// No cseq to tell a re-delivery from a late record: by sseq alone.
		if (x->sseq == prev)
			a->r.duplicate++;
		else
			a->r.out_of_order++;
		violation(a, "shard %u: ext sseq %" PRIu64 " after %" PRIu64 " (%s)", shard, x->sseq,
			  prev, x->sseq == prev ? "duplicate" : "backwards");
		return;
	}
	*last = x->sseq;

	if (g->parts != 0) {
		bool same = x->conn == g->conn && x->of == g->of && x->parts == g->parts &&
			    x->part < x->parts;
		if (same && x->part == g->got) {
			g->got++;
			return;
		}
		if (same && x->part > g->got) {
			// Parts missing inside the group: counted once, and the rest
			// of the group is still checked.
			if (!g->reported) {
				a->r.ext_bad++;
				violation(a,
					  "shard %u: ext group of conn %016" PRIx64 " for %s (sseq %" PRIu64
					  ") misses parts %u..%u",
					  shard, g->conn, type_name(g->of), g->first_sseq, g->got,
					  x->part - 1);
			}
			g->reported = 1;
			g->got = (uint8_t)(x->part + 1);
			return;
		}
		ext_broken(a, shard, g, g->got == g->parts ? "not followed by its event but by"
							   : "interrupted by",
			   e);
	}
	if (x->conn == 0 || x->of >= CEE_EVT__COUNT || x->parts == 0 ||
	    x->parts > CEE_EVT_EXT_MAX || x->part >= x->parts) {
		a->r.ext_bad++;
		violation(a,
			  "shard %u sseq %" PRIu64 ": ext record outside any valid group (conn %016" PRIx64
			  ", of %u, part %u of %u)",
			  shard, x->sseq, x->conn, x->of, x->part, x->parts);
		return;
	}
	g->conn = x->conn;
	g->first_sseq = x->sseq;
	g->of = x->of;
	g->parts = x->parts;
	g->got = (uint8_t)(x->part + 1);
	g->reported = 0;
	if (x->part != 0) {
		// Counted here, once: the rest of the group is still checked.
		a->r.ext_bad++;
		g->reported = 1;
		violation(a,
			  "shard %u sseq %" PRIu64 ": ext part %u of %u of conn %016" PRIx64
			  " for %s without the parts before it",
			  shard, x->sseq, x->part, x->parts, x->conn, type_name(x->of));
	}
}

static void feed_one(struct cee_audit *a, const struct cee_event *e)
{
	unsigned shard = cee_event_shard(e);
	uint64_t *last = &a->last_sseq[shard];
	char why[VIOLATION_LEN - 48];

	if (e->type == CEE_EVT_EXT) {
		feed_ext(a, e);
		return;
	}
	a->r.events++;
	count_type(a, e);

	if (e->conn == 0 || e->type >= CEE_EVT__COUNT) {
		a->r.out_of_order++;
		violation(a, "shard %u sseq %" PRIu64 ": invalid event (conn %016" PRIx64 ", type %u)",
			  shard, e->sseq, e->conn, e->type);
		if (e->sseq > *last) {
			*last = e->sseq;
			ext_event(a, shard, e);
		}
		return;
	}

	uint64_t prev = *last;
	if (e->sseq > prev + 1) {
		a->r.gaps++;
		violation(a, "shard %u: sseq jumps from %" PRIu64 " to %" PRIu64 " (%" PRIu64 " missing)",
			  shard, prev, e->sseq, e->sseq - prev - 1);
	}

	enum verdict v = check_conn(a, e, why, sizeof(why));

	if (e->sseq > prev) {
		*last = e->sseq;
		ext_event(a, shard, e);
		if (e->type == CEE_EVT_CLOSED &&
		    (e->reason == CEE_REASON_TLS_ALERT || e->reason == CEE_REASON_TLS_CLOSE_NOTIFY) &&
		    e->proto != CEE_PROTO_TLS && e->proto != CEE_PROTO_WSS) {
			a->r.inconsistent++;
			violation(a, "conn %016" PRIx64 ": closed with reason %s on proto %s", e->conn,
				  cee_reason_str((enum cee_reason)e->reason),
				  cee_proto_str((enum cee_proto)e->proto));
		}
	} else if (e->sseq == prev || v == V_DUP) {
		a->r.duplicate++;
		violation(a, "shard %u: sseq %" PRIu64 " after %" PRIu64 " (duplicate)", shard,
			  e->sseq, prev);
		return;
	} else {
		a->r.out_of_order++;
		violation(a, "shard %u: sseq %" PRIu64 " after %" PRIu64 " (backwards)", shard,
			  e->sseq, prev);
		return;
	}

	switch (v) {
	case V_OK:
		break;
	case V_DUP:
		a->r.duplicate++;
		violation(a, "conn %016" PRIx64 ": %s", e->conn, why);
		break;
	case V_ORDER:
		a->r.out_of_order++;
		violation(a, "conn %016" PRIx64 ": %s", e->conn, why);
		break;
	}
}

void cee_audit_feed(struct cee_audit *a, const struct cee_event *ev, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		feed_one(a, &ev[i]);
}

void cee_audit_finish(struct cee_audit *a, bool allow_live, struct cee_audit_result *res)
{
	*res = a->r;
	res->lost = a->lost_close;
	res->live = 0;
	a->strict_finish = !allow_live;
	if (allow_live) {
		res->live = a->count - a->ghosts;
	} else {
		res->lost += a->count - a->ghosts;
		// A group still waiting for its event: the event never came.
		for (unsigned sh = 0; sh < CEE_MAX_SHARDS; sh++)
			res->ext_bad += a->ext[sh].parts != 0 && !a->ext[sh].reported;
	}
	res->ok = res->gaps == 0 && res->duplicate == 0 && res->out_of_order == 0 &&
		  res->lost == 0 && res->ext_bad == 0 && res->inconsistent == 0;
}

void cee_audit_print_violations(const struct cee_audit *a, FILE *f)
{
	uint64_t kept = a->nviolations < VIOLATIONS_KEPT ? a->nviolations : VIOLATIONS_KEPT;
	for (uint64_t i = 0; i < kept; i++)
		fprintf(f, "violation: %s\n", a->violations[i]);
	if (a->nviolations > kept)
		fprintf(f, "... and %" PRIu64 " more violations\n", a->nviolations - kept);
	if (!a->strict_finish)
		return;
	for (unsigned sh = 0; sh < CEE_MAX_SHARDS; sh++) {
		const struct ext_group *g = &a->ext[sh];
		if (g->parts != 0 && !g->reported)
			fprintf(f,
				"violation: shard %u: ext group of conn %016" PRIx64
				" for %s (sseq %" PRIu64 ", %u of %u parts) at the end, without its event\n",
				sh, g->conn, type_name(g->of), g->first_sseq, g->got, g->parts);
	}
	if (a->count == a->ghosts)
		return;

	// Connections still open at a strict finish: name the first few.
	uint64_t shown = 0, unfinished = a->count - a->ghosts;
	for (uint32_t i = 0; i < a->cap && shown < VIOLATIONS_KEPT; i++) {
		const struct conn *c = &a->map[i];
		if (c->id == 0 || c->ghost)
			continue;
		fprintf(f, "violation: conn %016" PRIx64 ": never destroyed (last %s, cseq %u)\n",
			c->id, type_name(c->last_type), c->last_cseq);
		shown++;
	}
	if (unfinished > shown)
		fprintf(f, "... and %" PRIu64 " more unfinished connections\n", unfinished - shown);
}
