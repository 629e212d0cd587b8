/* SPDX-License-Identifier: BSD-3-Clause */
// Audit of an event stream against the lifecycle contract.
//
// Two independent checks per event:
//  - shard stream: sseq consecutive per shard from 1;
//  - connection: cseq consecutive from 0, `open` first, types strictly
//    increasing in contract order (cee_evt_rank(), not the type numbers:
//    link_up and link_down were appended to the enum in schema 3 but come
//    before closed and destroyed), `closed` before `destroyed`.
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
//  - An accepted connection's open right before its established (it is
//    announced when its handshake completed); layers: tls_up only right
//    after established, ws_up right after established (ws) or tls_up
//    (wss), link_up right after its top layer's milestone (established for
//    tcp, tls_up for tls, ws_up for ws and wss), link_down right after
//    closed (out_of_order otherwise); every type at most once (a second
//    one with a fresh cseq is a duplicate). A connection that got link_up
//    destroyed without its link_down: link_bad (the link check below sees
//    it only when a later event of the link comes).
//  - `closed` with a reason its protocol or the milestones its connection
//    reached before it cannot have (reason_rules: a TLS reason on neither
//    tls nor wss or before established, a WebSocket reason on neither ws
//    nor wss, ws_close before ws_up, handshake_timeout after the top
//    layer's milestone, ...; the state only when every earlier event of
//    the connection came), or a link_down whose reason is not its
//    connection's close reason: inconsistent. So are
//    tls_up or ws_up on a protocol without that layer, an event whose
//    proto or 4-tuple (local and remote address and port) is not its
//    open's, and a closed without a cause (reason none).
//    A reason past the known ones (a newer engine's) is counted in
//    unknown_reason and judged by no rule.
//
// Links (schema 3): a link_up or link_down taken in sequence (not a
// duplicate) is checked against its link, named by the CEE_EXT_LINK value
// of the extension group right before it. Per name: link_up, link_down,
// link_up, ... and each link_down's conn is that of the link_up before it;
// a link_up on a connection whose open had no CEE_PROTO_F_OUT is refused
// too; and its name must be the one its connection's open named, a
// link_down's attempt its link_up's. Every link event carries an attempt
// (from 1), each link_up's past every earlier link_up's of its link (the
// ordinal counts the link's attempts since the engine started), and
// next_attempt_ms only on link_down. Each rule broken counts once in
// link_bad. Names live in a map that only grows, up to CEE_AUDIT_LINKS_MAX
// of them. An old connection's late destroyed after the next connection's
// link_up is in order (ids differ).
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

// A connection's addresses, host byte order.
struct tuple {
	uint32_t local_ip, remote_ip;
	uint16_t local_port, remote_port;
};

// One live connection. id 0 marks an empty slot (id 0 is never issued).
struct conn {
	cee_conn_id_t id;
	uint8_t last_cseq;    // highest cseq accepted
	uint8_t last_type;    // type of highest rank accepted
	uint8_t seen;         // bit c: cseq c seen (c < 8)
	uint8_t closed;       // a closed event was seen
	uint8_t ghost;        // first seen without open: already reported
	uint8_t out;          // its open had CEE_PROTO_F_OUT (an outbound connection)
	uint8_t close_reason; // reason of its closed, when closed
	uint8_t link_up;      // a link_up was seen (its link_down must follow closed)
	uint8_t link_down;    // a link_down was seen
	uint8_t proto;        // enum cee_proto of its open (every event must carry it)
	uint8_t types;        // bit t: an event of type t accepted in order (milestones reached)
	uint32_t link;        // hash of the link name of its open (0: it had none)
	uint32_t attempt;     // the attempt of its link_up
	uint64_t last_ts;     // the latest ts_ns of its events (the clock never steps back)
	uint64_t open_sseq;   // the sseq of its open
	struct tuple tuple;   // as its open (a ghost: its first event) gave it: every event has it
};

// A connection emits at most one event of each type: cseq 0..7 fit `seen`.
_Static_assert(CEE_EVT_PER_CONN_MAX <= 8, "seen has a bit for every cseq");

enum verdict { V_OK, V_DUP, V_ORDER };

// Findings of the connection check that other checks count.
struct note {
	bool proto_mismatch;  // an event whose proto is not its open's
	bool addr_mismatch;   // an event whose 4-tuple is not its open's ...
	struct tuple tuple;   // ... which is this
	bool layer_wrong;     // tls_up or ws_up on a protocol without that layer
	bool link_inbound;    // a link_up on a connection opened inbound
	bool link_no_down;    // destroyed after link_up without its link_down
	bool reason_mismatch; // a link_down whose reason is not its closed's ...
	uint8_t close_reason; // ... which is this
	bool ts_back;         // a ts_ns before an earlier event's of the connection
	uint64_t ts_prev;     // ... that one
	bool pair;            // an accepted connection's established right after its open ...
	uint64_t open_sseq;   // ... whose sseq ...
	uint64_t open_ts;     // ... and ts_ns it must follow at once (docs/events.md)
	bool state_known;     // a closed right after all of its connection's events before it ...
	uint8_t reached;      // ... which are of these types (conn.types) ...
	bool out;             // ... on a connection opened outbound (the reason rules)
};

// The extension group a shard has open. parts == 0: none.
struct ext_group {
	cee_conn_id_t conn;
	uint64_t first_sseq;
	uint8_t of;
	uint8_t parts;
	uint8_t got;      // records seen: the next part expected
	uint8_t reported; // already counted broken (parts missing at its start)
	uint8_t data[CEE_EVT_EXT_MAX][CEE_EVT_EXT_DATA]; // TLVs of parts 0 .. got-1
};

// Bytes of one group's values, all keys together.
#define GROUP_VAL_MAX (CEE_EVT_EXT_MAX * CEE_EVT_EXT_DATA)

// One link name. len 0 marks an empty slot (names are not empty).
struct link {
	cee_conn_id_t conn; // of its last link_up
	uint32_t attempt;   // the highest attempt of its link_ups (0: none yet)
	uint8_t len;
	uint8_t up; // its last event was a link_up
	uint8_t name[CEE_AUDIT_LINK_NAME_MAX];
};

#define LINKS_MIN 64u
// Open addressing at most half full, so the table of CEE_AUDIT_LINKS_MAX
// names has twice as many slots.
#define LINKS_CAP_MAX (2u * CEE_AUDIT_LINKS_MAX)

// Connection serials one shard has opened, in a window of the newest
// OPENED_BITS (a ring of bits, allocated at the shard's first open): an id
// is issued once (events/cee_id.h), so an open of one seen before is an id
// used twice, even after the first was destroyed and left the map. Opens
// come out of serial order by no more than the half-open connections of
// the moment; older than the window: not judged. The window slides to keep
// the newest serial in its upper half, so twice the 2^20 serials it is
// documented to cover back from the newest (it was 2^20, which covered
// 2^19 once it slid: an id reused 600,000 serials back passed). 256 KiB a
// shard.
#define OPENED_SPAN (1u << 20)
#define OPENED_BITS (2 * OPENED_SPAN)
struct opened {
	uint64_t base; // lowest serial in the window (a multiple of 64)
	uint64_t *w;   // OPENED_BITS / 64 words, serial s at bit s % OPENED_BITS
};

struct cee_audit {
	struct conn *map; // open addressing, linear probing, backward-shift delete
	uint32_t cap;     // power of two
	uint32_t count;
	uint32_t ghosts; // entries with ghost set
	uint64_t last_sseq[CEE_MAX_SHARDS];
	struct ext_group ext[CEE_MAX_SHARDS];
	struct opened opened[CEE_MAX_SHARDS];
	struct link *links; // open addressing, linear probing; NULL until a link event
	uint32_t links_cap; // power of two
	uint32_t nlinks;
	struct cee_audit_result r; // running counters; lost/live/ok at finish
	uint64_t lost_close;       // destroyed without closed
	bool open_at_syn;          // an older engine's stream (cee_audit_open_at_syn())
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

void cee_audit_open_at_syn(struct cee_audit *a, bool on)
{
	a->open_at_syn = on;
}

void cee_audit_destroy(struct cee_audit *a)
{
	if (a == NULL)
		return;
	free(a->map);
	free(a->links);
	for (unsigned i = 0; i < CEE_MAX_SHARDS; i++)
		free(a->opened[i].w);
	free(a);
}

// Note an open of @p id. @return true when its serial was opened before
// (within the window); false also when it cannot be judged.
static bool opened_before(struct cee_audit *a, cee_conn_id_t id)
{
	struct opened *o = &a->opened[cee_id_shard(id)];
	uint64_t serial = cee_id_serial(id);
	if (o->w == NULL) {
		o->w = calloc(OPENED_BITS / 64, sizeof(*o->w));
		if (o->w == NULL)
			return false;
		o->base = serial > OPENED_BITS / 2 ? (serial - OPENED_BITS / 2) & ~63ull : 0;
	}
	if (serial < o->base)
		return false; // older than the window
	if (serial - o->base >= OPENED_BITS) {
		// slide: serial in the upper half; the words of the serials that
		// leave serve those that come in
		uint64_t nb = (serial - OPENED_BITS / 2) & ~63ull;
		if (nb - o->base >= OPENED_BITS)
			memset(o->w, 0, OPENED_BITS / 8);
		else
			for (uint64_t x = o->base; x < nb; x += 64)
				o->w[(x % OPENED_BITS) / 64] = 0;
		o->base = nb;
	}
	uint64_t *w = &o->w[(serial % OPENED_BITS) / 64], bit = 1ull << (serial % 64);
	bool again = (*w & bit) != 0;
	*w |= bit;
	return again;
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
		else
			a->r.unknown_reason++; // a newer engine's: not judged
		break;
	case CEE_EVT_DESTROYED:
		a->r.destroys++;
		break;
	case CEE_EVT_LINK_UP:
		a->r.link_up++;
		break;
	case CEE_EVT_LINK_DOWN:
		a->r.link_down++;
		break;
	case CEE_EVT__COUNT:
		break;
	}
}

static const char *type_name(uint8_t t)
{
	return cee_evt_type_str((enum cee_evt_type)t);
}

// The milestone after which a connection of @p proto carries the service's
// bytes: its top layer's.
static uint8_t top_milestone(uint8_t proto)
{
	switch ((enum cee_proto)proto) {
	case CEE_PROTO_TLS:
		return CEE_EVT_TLS_UP;
	case CEE_PROTO_WS:
	case CEE_PROTO_WSS:
		return CEE_EVT_WS_UP;
	case CEE_PROTO_TCP:
	case CEE_PROTO__COUNT:
		break;
	}
	return CEE_EVT_ESTABLISHED;
}

// Whether @p t may come right after @p prev (the connection's event before
// it), on a connection of @p proto: an accepted connection (@p out false)
// is announced when its handshake completed, so established follows its
// open at once; TLS completes on an established connection, WebSocket on
// it or (wss) on TLS; a link is up once its top layer is (a tls link's
// link_up right after established: the control plane sent on a link whose
// TLS handshake then failed); link_down follows its connection's closed.
static bool right_after_ok(uint8_t t, uint8_t prev, bool out, uint8_t proto)
{
	if (prev == CEE_EVT_OPEN && !out)
		return t == CEE_EVT_ESTABLISHED;
	if (t == CEE_EVT_TLS_UP)
		return prev == CEE_EVT_ESTABLISHED;
	if (t == CEE_EVT_WS_UP)
		return prev == (proto == CEE_PROTO_WSS ? CEE_EVT_TLS_UP : CEE_EVT_ESTABLISHED);
	if (t == CEE_EVT_LINK_UP)
		return prev == top_milestone(proto);
	if (t == CEE_EVT_LINK_DOWN)
		return prev == CEE_EVT_CLOSED;
	return true;
}

/* ---- close reasons: what each says about the connection it ended ---- */

// Milestones of a reason rule: event types, and two that depend on the
// protocol: its top layer's milestone (top_milestone()) and, for a
// WebSocket reason, the milestone of the layer under WebSocket (tls_up on
// wss, else established).
enum {
	R_EST = 1u << CEE_EVT_ESTABLISHED,
	R_WS = 1u << CEE_EVT_WS_UP,
	R_TOP = 1u << 8,
	R_UNDER_WS = 1u << 9,
};
#define P_ANY ((1u << CEE_PROTO__COUNT) - 1)
#define P_TLS (1u << CEE_PROTO_TLS | 1u << CEE_PROTO_WSS)
#define P_WS (1u << CEE_PROTO_WS | 1u << CEE_PROTO_WSS)

// The rule of a close reason (docs/events.md, Reasons and "What cee-audit
// checks"): the protocols it comes on, the milestones its connection must
// have reached before its closed (needs) and those it cannot have (never),
// and whether only an outbound connection (a link's attempt) has it. A
// reason without an entry here (peer_fin, peer_rst, local_close,
// idle_timeout, retransmit_timeout, protocol_error, admin_kill,
// port_down, shutdown, no_resources) may end a connection in any state.
struct reason_rule {
	uint16_t protos; // bit p: proto p (0: no rule, any)
	uint16_t needs;
	uint16_t never;
	bool out_only;
};

static const struct reason_rule reason_rules[CEE_REASON__COUNT] = {
	// a link's TCP handshake, or the TLS handshake or WebSocket upgrade,
	// not done in time: never after the top layer is up (the stack's
	// deadline is a handshake's only while it is not)
	[CEE_REASON_HANDSHAKE_TIMEOUT] = {P_ANY, 0, R_TOP, false},
	// TLS runs on an established connection (the handshake's alert:
	// without tls_up; a close_notify or alert later: with it)
	[CEE_REASON_TLS_ALERT] = {P_TLS, R_EST, 0, false},
	[CEE_REASON_TLS_CLOSE_NOTIFY] = {P_TLS, R_EST, 0, false},
	// Close frames and pings come after the upgrade
	[CEE_REASON_WS_CLOSE] = {P_WS, R_WS, 0, false},
	[CEE_REASON_WS_PING_TIMEOUT] = {P_WS, R_WS, 0, false},
	// the upgrade request, refused: over the layer under it, never after
	// ws_up
	[CEE_REASON_WS_UPGRADE_FAILED] = {P_WS, R_UNDER_WS, R_WS, false},
	// probes and a shut window of an established connection
	[CEE_REASON_KEEPALIVE_TIMEOUT] = {P_ANY, R_EST, 0, false},
	[CEE_REASON_ZERO_WINDOW_TIMEOUT] = {P_ANY, R_EST, 0, false},
	// a link's attempt whose next hop did not answer ARP: opened and
	// closed at once, no SYN sent
	[CEE_REASON_HOST_UNREACHABLE] = {P_ANY, 0, R_EST, true},
};

// The event types that milestones @p m of a rule stand for on @p proto.
static uint8_t rule_types(uint16_t m, uint8_t proto)
{
	uint8_t t = (uint8_t)(m & 0xff);
	if (m & R_TOP)
		t |= (uint8_t)(1u << top_milestone(proto));
	if (m & R_UNDER_WS) // (WebSocket over TLS on wss)
		t |= proto == CEE_PROTO_WSS ? 1u << CEE_EVT_TLS_UP : 1u << CEE_EVT_ESTABLISHED;
	return t;
}

// The first milestone of @p types, by name (for a violation's text).
static const char *first_type(uint8_t types)
{
	for (unsigned t = 0; t < CEE_EVT__COUNT; t++)
		if (types & (1u << t))
			return cee_evt_type_str((enum cee_evt_type)t);
	return "?";
}

// The closed @p e against its reason's rule (@p note: what its connection
// reached, when known). @return NULL when it keeps it, else what breaks
// it. A reason past the known ones (a newer engine's) has no rule.
static const char *reason_broken(const struct cee_event *e, const struct note *note)
{
	static char why[96];
	if (e->reason >= CEE_REASON__COUNT)
		return NULL;
	const struct reason_rule *r = &reason_rules[e->reason];
	uint8_t proto = cee_event_proto(e);
	if (r->protos == 0)
		return NULL;
	// (a record's proto may be any of 7 bits: one past the known ones
	// keeps only a rule that takes any)
	if (proto < CEE_PROTO__COUNT ? !(r->protos & (1u << proto)) : r->protos != P_ANY) {
		snprintf(why, sizeof(why), "on proto %s", cee_proto_str((enum cee_proto)proto));
		return why;
	}
	if (!note->state_known)
		return NULL; // a ghost, or events of it missing (reported already)
	uint8_t needs = rule_types(r->needs, proto), never = rule_types(r->never, proto);
	if ((note->reached & needs) != needs) {
		snprintf(why, sizeof(why), "on a connection without %s",
			 first_type((uint8_t)(needs & ~note->reached)));
		return why;
	}
	if (note->reached & never) {
		snprintf(why, sizeof(why), "after %s", first_type(note->reached & never));
		return why;
	}
	if (r->out_only && !note->out)
		return "on an inbound connection (only a link's attempt has it)";
	return NULL;
}

static struct tuple tuple_of(const struct cee_event *e)
{
	struct tuple t;
	memset(&t, 0, sizeof(t)); // (no padding, but compared with memcmp)
	t.local_ip = e->local_ip;
	t.remote_ip = e->remote_ip;
	t.local_port = e->local_port;
	t.remote_port = e->remote_port;
	return t;
}

// "a.b.c.d:port" of @p ip and @p port, into @p out (22 bytes).
static const char *addr_str(uint32_t ip, uint16_t port, char *out)
{
	snprintf(out, 22, "%u.%u.%u.%u:%u", ip >> 24, ip >> 16 & 0xff, ip >> 8 & 0xff, ip & 0xff,
		 port);
	return out;
}

// The connection check. Updates the connection's state unless the event is
// a duplicate. Writes a description of a violation into @p why, and what
// other checks count into @p note.
static enum verdict check_conn(struct cee_audit *a, const struct cee_event *e, char *why,
			       size_t wlen, struct note *note)
{
	struct conn *c = map_find(a, e->conn);
	uint8_t cs = e->cseq, t = e->type;

	memset(note, 0, sizeof(*note));
	if (c == NULL) {
		if (t == CEE_EVT_OPEN) {
			if (opened_before(a, e->conn)) {
				snprintf(why, wlen, "open (cseq %u) of a connection opened before and "
						    "destroyed (an id used twice)",
					 cs);
				return V_DUP;
			}
			c = map_insert(a, e->conn);
			if (c == NULL) {
				snprintf(why, wlen, "out of memory tracking the connection");
				return V_ORDER;
			}
			c->last_cseq = cs;
			c->last_type = t;
			c->seen = cs < 8 ? (uint8_t)(1u << cs) : 0;
			c->out = cee_event_out(e);
			c->proto = cee_event_proto(e);
			c->tuple = tuple_of(e);
			c->last_ts = e->ts_ns;
			c->open_sseq = e->sseq;
			c->types = 1u << CEE_EVT_OPEN;
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
			c->close_reason = e->reason;
			c->out = cee_event_out(e);
			c->proto = cee_event_proto(e);
			c->tuple = tuple_of(e);
			c->ghost = 1;
			c->last_ts = e->ts_ns;
			a->ghosts++;
		}
		return V_ORDER;
	}
	if (t == CEE_EVT_ESTABLISHED && c->last_type == CEE_EVT_OPEN && c->last_cseq == 0 &&
	    !c->out && !c->ghost && !a->open_at_syn) {
		note->pair = true;
		note->open_sseq = c->open_sseq;
		note->open_ts = c->last_ts;
	}
	if (e->ts_ns < c->last_ts) {
		note->ts_back = true;
		note->ts_prev = c->last_ts;
	} else {
		c->last_ts = e->ts_ns;
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
	} else if (cee_evt_rank(t) <= cee_evt_rank(c->last_type)) {
		// Every type at most once: the same type again is a second one.
		snprintf(why, wlen, "%s (cseq %u) after %s", type_name(t), cs,
			 type_name(c->last_type));
		v = t == c->last_type ? V_DUP : V_ORDER;
		if (t == CEE_EVT_OPEN || (t == CEE_EVT_CLOSED && c->closed))
			v = V_DUP;
	} else if (!right_after_ok(t, c->last_type, c->out || c->ghost || a->open_at_syn,
				   c->proto)) {
		snprintf(why, wlen, "%s (cseq %u) right after %s", type_name(t), cs,
			 type_name(c->last_type));
		v = V_ORDER;
	}
	// A ghost's direction is unknown (its open is missing): not judged.
	if (t == CEE_EVT_LINK_UP && !c->out && !c->ghost)
		note->link_inbound = true;
	// what the connection reached before its close, when every event
	// before it came (a ghost's open is missing: not judged)
	if (t == CEE_EVT_CLOSED && v == V_OK && !c->ghost && cs < 8 &&
	    c->seen == (uint8_t)((1u << cs) - 1)) {
		note->state_known = true;
		note->reached = c->types;
		note->out = c->out;
	}
	note->proto_mismatch = cee_event_proto(e) != c->proto;
	// an id names one connection, never an address (design fault 1): an
	// event of the id with another 4-tuple is another connection's, or
	// its own misattributed
	struct tuple et = tuple_of(e);
	note->addr_mismatch = memcmp(&et, &c->tuple, sizeof(et)) != 0;
	note->tuple = c->tuple;
	note->layer_wrong =
	    (t == CEE_EVT_TLS_UP && c->proto != CEE_PROTO_TLS && c->proto != CEE_PROTO_WSS) ||
	    (t == CEE_EVT_WS_UP && c->proto != CEE_PROTO_WS && c->proto != CEE_PROTO_WSS);
	if (t == CEE_EVT_LINK_DOWN && c->closed && e->reason != c->close_reason) {
		note->reason_mismatch = true;
		note->close_reason = c->close_reason;
	}
	c->last_cseq = cs;
	if (cs < 8)
		c->seen |= (uint8_t)(1u << cs);
	if (cee_evt_rank(t) > cee_evt_rank(c->last_type))
		c->last_type = t;
	if (t == CEE_EVT_CLOSED && !c->closed) {
		c->closed = 1;
		c->close_reason = e->reason;
	}
	c->link_up |= t == CEE_EVT_LINK_UP;
	c->link_down |= t == CEE_EVT_LINK_DOWN;
	if (v == V_OK)
		c->types |= (uint8_t)(1u << t);
	if (t == CEE_EVT_DESTROYED) {
		if (c->ghost)
			a->ghosts--;
		else if (!c->closed) {
			a->lost_close++;
			violation(a, "conn %016" PRIx64 ": destroyed (cseq %u) without closed", e->conn,
				  cs);
		} else if (c->link_up && !c->link_down) {
			// (a link's last connection: no later event of its link
			// tells the link check that this link_down is missing)
			note->link_no_down = true;
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

// The shard's next record after an open group is the event @p e (in
// sequence). @return the number of records of @p e's group, whole and
// unbroken, whose TLVs stay in the shard's ext_group until its next record;
// 0 when it has none.
static unsigned ext_event(struct cee_audit *a, unsigned shard, const struct cee_event *e)
{
	struct ext_group *g = &a->ext[shard];
	unsigned parts = g->parts;
	if (parts == 0)
		return 0;
	if (g->conn != e->conn || g->of != e->type) {
		ext_broken(a, shard, g, "not followed by its event but by", e);
		return 0;
	}
	if (g->got != g->parts) {
		ext_broken(a, shard, g, "missing parts before", e);
		return 0;
	}
	g->parts = 0;
	return g->reported ? 0 : parts;
}

// The value of @p key in the first @p parts records of @p g: its TLVs,
// concatenated. @return its length, at most GROUP_VAL_MAX.
static size_t group_value(const struct ext_group *g, unsigned parts, unsigned key, uint8_t *out)
{
	size_t n = 0;
	for (unsigned r = 0; r < parts; r++) {
		const uint8_t *d = g->data[r];
		// Key 0, the end of data, or a length running past it end the record.
		for (unsigned off = 0; off + 2 <= CEE_EVT_EXT_DATA && d[off] != 0 &&
				       off + 2 + d[off + 1] <= CEE_EVT_EXT_DATA;
		     off += 2 + d[off + 1]) {
			if (d[off] == key) {
				memcpy(out + n, d + off + 2, d[off + 1]);
				n += d[off + 1];
			}
		}
	}
	return n;
}

/* ---- links ---- */

static uint32_t hash_name(const uint8_t *name, size_t len)
{
	uint32_t h = 2166136261u; // FNV-1a
	for (size_t i = 0; i < len; i++)
		h = (h ^ name[i]) * 16777619u;
	return h;
}

static struct link *links_slot(struct link *t, uint32_t cap, const uint8_t *name, size_t len)
{
	uint32_t mask = cap - 1;
	for (uint32_t i = hash_name(name, len) & mask;; i = (i + 1) & mask)
		if (t[i].len == 0 || (t[i].len == len && memcmp(t[i].name, name, len) == 0))
			return &t[i];
}

static int links_resize(struct cee_audit *a, uint32_t cap)
{
	struct link *t = calloc(cap, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < a->links_cap; i++)
		if (a->links[i].len != 0)
			*links_slot(t, cap, a->links[i].name, a->links[i].len) = a->links[i];
	free(a->links);
	a->links = t;
	a->links_cap = cap;
	return 0;
}

// The link named @p name (1 .. CEE_AUDIT_LINK_NAME_MAX bytes), added when
// new. @return NULL past CEE_AUDIT_LINKS_MAX names or out of memory.
static struct link *link_get(struct cee_audit *a, const uint8_t *name, size_t len)
{
	if (a->links == NULL && links_resize(a, LINKS_MIN) < 0)
		return NULL;
	struct link *l = links_slot(a->links, a->links_cap, name, len);
	if (l->len != 0)
		return l;
	if (a->nlinks == CEE_AUDIT_LINKS_MAX)
		return NULL;
	if ((a->nlinks + 1) * 2 > a->links_cap) {
		if (a->links_cap >= LINKS_CAP_MAX || links_resize(a, a->links_cap * 2) < 0)
			return NULL;
		l = links_slot(a->links, a->links_cap, name, len);
	}
	memset(l, 0, sizeof(*l));
	memcpy(l->name, name, len);
	l->len = (uint8_t)len;
	a->nlinks++;
	return l;
}

// @p name (any bytes) as printable text, cut to fit @p out.
static const char *printable(const uint8_t *name, size_t len, char *out, size_t olen)
{
	size_t n = 0;
	for (; n < len && n + 1 < olen; n++)
		out[n] = name[n] >= 0x20 && name[n] < 0x7f ? (char)name[n] : '?';
	out[n] = '\0';
	return out;
}

// The link rules for the link_up or link_down @p e, whose group (@p parts
// records, 0 when none) is in @p g.
static void check_link(struct cee_audit *a, const struct cee_event *e, const struct ext_group *g,
		       unsigned parts, bool inbound, struct conn *c)
{
	uint8_t name[GROUP_VAL_MAX];
	char shown[CEE_AUDIT_LINK_NAME_MAX + 1];
	size_t len = group_value(g, parts, CEE_EXT_LINK, name);
	const char *t = type_name(e->type);
	struct link *l;

	if (len == 0 || len > CEE_AUDIT_LINK_NAME_MAX) {
		a->r.link_bad++;
		if (len == 0)
			violation(a, "conn %016" PRIx64 ": %s (sseq %" PRIu64 ") without a link name",
				  e->conn, t, e->sseq);
		else
			violation(a,
				  "conn %016" PRIx64 ": %s (sseq %" PRIu64 ") with a link name of %zu bytes"
				  " (at most %u)",
				  e->conn, t, e->sseq, len, CEE_AUDIT_LINK_NAME_MAX);
		return;
	}
	printable(name, len, shown, sizeof(shown));
	// the link its open named (a ghost's open is missing: not judged)
	if (c != NULL && !c->ghost && c->link != (hash_name(name, len) | 1)) {
		a->r.link_bad++;
		violation(a, "conn %016" PRIx64 ": %s for link %s, %s", e->conn, t, shown,
			  c->link == 0 ? "its open named no link" : "its open named another");
	}
	uint8_t av[GROUP_VAL_MAX];
	uint32_t attempt = 0;
	size_t alen = group_value(g, parts, CEE_EXT_ATTEMPT, av);
	if (alen == 4)
		attempt = (uint32_t)av[0] | (uint32_t)av[1] << 8 | (uint32_t)av[2] << 16 |
			  (uint32_t)av[3] << 24;
	// every link event says its attempt, an ordinal from 1 (docs/events.md,
	// attempt); next_attempt_ms is link_down's alone
	if (attempt == 0) {
		a->r.link_bad++;
		violation(a, "conn %016" PRIx64 ": %s for link %s %s", e->conn, t, shown,
			  alen == 0 ? "without an attempt"
				    : alen != 4 ? "with a malformed attempt" : "with attempt 0");
	}
	if (e->type == CEE_EVT_LINK_UP && group_value(g, parts, CEE_EXT_NEXT_ATTEMPT_MS, av) != 0) {
		a->r.link_bad++;
		violation(a, "conn %016" PRIx64 ": link_up for link %s with next_attempt_ms",
			  e->conn, shown);
	}
	if (c != NULL && e->type == CEE_EVT_LINK_UP) {
		c->attempt = attempt;
	} else if (c != NULL && c->link_up && attempt != 0 && attempt != c->attempt) {
		a->r.link_bad++;
		violation(a, "conn %016" PRIx64 ": link_down of attempt %u, its link_up's was %u",
			  e->conn, attempt, c->attempt);
	}
	l = link_get(a, name, len);
	if (l == NULL) {
		a->r.link_bad++;
		violation(a, "link %s: %s of conn %016" PRIx64 " not tracked: more than %u links",
			  shown, t, e->conn, CEE_AUDIT_LINKS_MAX);
		return;
	}
	if (e->type == CEE_EVT_LINK_UP) {
		// the attempt ordinal counts the link's attempts since the engine
		// started: each link_up's is past every earlier one's of its link
		if (attempt != 0 && attempt <= l->attempt) {
			a->r.link_bad++;
			violation(a,
				  "link %s: link_up of conn %016" PRIx64 " with attempt %u, after a "
				  "link_up with attempt %u",
				  shown, e->conn, attempt, l->attempt);
		}
		if (attempt > l->attempt)
			l->attempt = attempt;
		if (inbound) {
			a->r.link_bad++;
			violation(a, "link %s: link_up on conn %016" PRIx64 ", an inbound connection",
				  shown, e->conn);
		} else if (l->up) {
			a->r.link_bad++;
			violation(a,
				  "link %s: link_up of conn %016" PRIx64
				  " while up with conn %016" PRIx64 " (no link_down between)",
				  shown, e->conn, l->conn);
		}
		l->up = 1;
		l->conn = e->conn;
		return;
	}
	if (!l->up) {
		a->r.link_bad++;
		violation(a, "link %s: link_down of conn %016" PRIx64 " without a link_up before it",
			  shown, e->conn);
	} else if (l->conn != e->conn) {
		a->r.link_bad++;
		violation(a,
			  "link %s: link_down names conn %016" PRIx64 ", its link_up was conn %016" PRIx64,
			  shown, e->conn, l->conn);
	}
	l->up = 0;
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
			memcpy(g->data[x->part], x->data, sizeof(g->data[0]));
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
	memcpy(g->data[x->part], x->data, sizeof(g->data[0]));
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

	struct note note;
	enum verdict v = check_conn(a, e, why, sizeof(why), &note);

	if (e->sseq > prev) {
		*last = e->sseq;
		unsigned parts = ext_event(a, shard, e);
		enum cee_proto proto = cee_event_proto(e);
		const char *broken = e->type == CEE_EVT_CLOSED ? reason_broken(e, &note) : NULL;
		if (broken != NULL) {
			a->r.inconsistent++;
			violation(a, "conn %016" PRIx64 ": closed with reason %s %s", e->conn,
				  cee_reason_str((enum cee_reason)e->reason), broken);
		}
		if (v != V_DUP && note.link_no_down) {
			a->r.link_bad++;
			violation(a, "conn %016" PRIx64 ": destroyed after link_up without link_down",
				  e->conn);
			// counted once: the link is down now (its next link_up is not
			// "while up" too); a scan of the links, on this path only
			for (uint32_t i = 0; i < a->links_cap; i++)
				if (a->links[i].len != 0 && a->links[i].up && a->links[i].conn == e->conn)
					a->links[i].up = 0;
		}
		// an accepted connection's open and established go out together
		// (same ts_ns, consecutive sseq, the established's extension
		// records between: docs/events.md); a regression that announced
		// the open at the SYN again passed wherever handshakes completed
		if (v == V_OK && note.pair &&
		    (e->sseq != note.open_sseq + 1 + parts || e->ts_ns != note.open_ts)) {
			a->r.out_of_order++;
			violation(a,
				  "conn %016" PRIx64 ": established (sseq %" PRIu64 ", ts_ns %" PRIu64
				  ") apart from its open (sseq %" PRIu64 ", ts_ns %" PRIu64 ")",
				  e->conn, e->sseq, e->ts_ns, note.open_sseq, note.open_ts);
		}
		// (one clock, never stepping back, stamps a connection's events:
		// docs/events.md; nothing compared them)
		if (v != V_DUP && note.ts_back) {
			a->r.inconsistent++;
			violation(a,
				  "conn %016" PRIx64 ": %s at ts_ns %" PRIu64 ", before its earlier event's %" PRIu64,
				  e->conn, type_name(e->type), e->ts_ns, note.ts_prev);
		}
		if (v != V_DUP && note.reason_mismatch) {
			a->r.inconsistent++;
			violation(a, "conn %016" PRIx64 ": link_down with reason %s, its closed with %s",
				  e->conn, cee_reason_str((enum cee_reason)e->reason),
				  cee_reason_str((enum cee_reason)note.close_reason));
		}
		if (v != V_DUP && note.addr_mismatch) {
			const struct tuple *o = &note.tuple;
			char l[22], r[22], open_l[22], open_r[22];
			a->r.inconsistent++;
			violation(a, "conn %016" PRIx64 ": %s %s-%s, its open's %s-%s", e->conn,
				  type_name(e->type), addr_str(e->local_ip, e->local_port, l),
				  addr_str(e->remote_ip, e->remote_port, r),
				  addr_str(o->local_ip, o->local_port, open_l),
				  addr_str(o->remote_ip, o->remote_port, open_r));
		}
		if (v != V_DUP && (note.proto_mismatch || note.layer_wrong)) {
			a->r.inconsistent++;
			violation(a, "conn %016" PRIx64 ": %s with proto %s%s", e->conn,
				  type_name(e->type), cee_proto_str(proto),
				  note.layer_wrong ? ", which has no such layer"
						   : ", not its open's");
		}
		// a close without its cause (reason none): the cause is what the
		// control plane acts on. A reason past the known ones is a newer
		// engine's (reasons are appended within a schema version,
		// docs/events.md): counted in unknown_reason, not a violation
		if (v != V_DUP && e->type == CEE_EVT_CLOSED && e->reason == CEE_REASON_NONE) {
			a->r.inconsistent++;
			violation(a, "conn %016" PRIx64 ": closed with reason none (no cause)",
				  e->conn);
		}
		if (v != V_DUP && e->type == CEE_EVT_OPEN && parts != 0) {
			struct conn *oc = map_find(a, e->conn);
			uint8_t name[GROUP_VAL_MAX];
			size_t len = group_value(&a->ext[shard], parts, CEE_EXT_LINK, name);
			if (oc != NULL && len != 0)
				oc->link = hash_name(name, len) | 1;
		}
		if (v != V_DUP && (e->type == CEE_EVT_LINK_UP || e->type == CEE_EVT_LINK_DOWN))
			check_link(a, e, &a->ext[shard], parts, note.link_inbound,
				   map_find(a, e->conn));
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

bool cee_audit_idle(const struct cee_audit *a)
{
	if (a->count != a->ghosts)
		return false;
	for (unsigned sh = 0; sh < CEE_MAX_SHARDS; sh++)
		if (a->ext[sh].parts != 0)
			return false;
	return true;
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
		  res->lost == 0 && res->ext_bad == 0 && res->inconsistent == 0 &&
		  res->link_bad == 0;
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
