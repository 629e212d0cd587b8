/* SPDX-License-Identifier: BSD-3-Clause */
// The control plane: the shard's mailbox phase, jobs (requests fanned out to
// the owning shards), rendering, drain. The socket server is in
// cee_ctl_sock.c, the telemetry handlers in cee_ctl_tel.c.
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ring.h>

#include "cee_ctl_priv.h"
#include "cee_link.h"
#include "cee_shard.h"
#include "cee_stats.h"

/* ---- shard side: the mailbox phase --------------------------------------- */

int cee_ctl_shard_init(struct cee_shard *s)
{
	struct cee_mbox *m = &s->mbox;
	char name[RTE_RING_NAMESIZE];
	snprintf(name, sizeof(name), "%s_mbox_%u", s->cfg->name ? s->cfg->name : "cee", s->id);
	// Multi-producer: the control thread and the telemetry thread post.
	// Neither is an EAL lcore: either may be preempted between moving the
	// ring's head and its tail, and the default MP ring would then hold
	// the other spinning for the rest of a time slice (longer beside a
	// --sched fifo shard). RTS mode lets it go on (DPDK's ring guide:
	// producers that can be preempted).
	m->ring = rte_ring_create(name, CEE_MBOX_RING, SOCKET_ID_ANY,
				  RING_F_MP_RTS_ENQ | RING_F_SC_DEQ);
	if (m->ring == NULL)
		return -rte_errno;
	// abandoned requests back to the control thread, which frees them
	// (cee_ctl_req_settle()); a full one: freed here
	snprintf(name, sizeof(name), "%s_mback_%u", s->cfg->name ? s->cfg->name : "cee", s->id);
	m->back = rte_ring_create(name, 2 * CEE_MBOX_RING, SOCKET_ID_ANY,
				  RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (m->back == NULL) {
		int err = rte_errno;
		rte_ring_free(m->ring);
		m->ring = NULL;
		return -err;
	}
	atomic_init(&m->closed, false);
	// the links cee_shard_links_init() gives this shard
	m->nlinks = cee_links_on_shard(s->cfg->nlinks, s->id, s->nshards);
	return 0;
}

void cee_ctl_shard_fini(struct cee_shard *s)
{
	struct cee_mbox *m = &s->mbox;
	// Nobody waits any more (the control side is gone or gave up): free
	// whatever is left, answered or not.
	if (m->walk.req != NULL) {
		cee_mbox_req_free(m->walk.req);
		m->walk.req = NULL;
	}
	// Watches still waiting (none once the shard ran cee_ctl_shard_close()):
	// their monitors go with the shard's table and will not fire.
	while (m->watch_head != NULL) {
		struct cee_mbox_req *r = m->watch_head;
		cee_mbox_watch_release(m, r);
		cee_mbox_req_free(r);
	}
	(void)cee_ctl_back_drain(m);
	rte_ring_free(m->back);
	m->back = NULL;
	if (m->ring == NULL)
		return;
	void *p;
	while (rte_ring_sc_dequeue(m->ring, &p) == 0)
		cee_mbox_req_free(p);
	rte_ring_free(m->ring);
	m->ring = NULL;
}

void cee_ctl_req_give_back(struct cee_mbox *m, struct cee_mbox_req *r)
{
	if (m == NULL || m->back == NULL || rte_ring_sp_enqueue(m->back, r) != 0)
		cee_mbox_req_free(r);
}

void cee_ctl_req_settle(struct cee_mbox *m, struct cee_mbox_req *r)
{
	int expect = CEE_MBOX_POSTED;
	if (!atomic_compare_exchange_strong_explicit(&r->state, &expect, CEE_MBOX_DONE,
						     memory_order_acq_rel, memory_order_acquire))
		cee_ctl_req_give_back(m, r); // abandoned: nobody else holds it
}

unsigned cee_ctl_back_drain(struct cee_mbox *m)
{
	unsigned n = 0;
	void *p;
	while (m->back != NULL && rte_ring_sc_dequeue(m->back, &p) == 0) {
		cee_mbox_req_free(p);
		n++;
	}
	return n;
}

static uint64_t shard_sseq(const struct cee_shard *s)
{
	return s->evring != NULL ? cee_evring_last_sseq(s->evring) : 0;
}

// WATCH: the watched connection's monitor fired: at its close (in the
// closed step, before destroyed, so the connection's figures are still
// there and final), or at once when it had closed already or does not
// exist. Answers the request, or frees it when its requester has gone.
static void watch_fired(void *arg, cee_conn_id_t id, int reason)
{
	struct cee_mbox_req *r = arg;
	struct cee_shard *s = r->owner;
	cee_mbox_watch_release(&s->mbox, r); // waited under a monitor that is now spent
	if (reason == CEE_MONITOR_GONE)
		s->mbox.stats.stale_id++;
	// (a half-open accepted connection is GONE to a watch: not announced,
	// so none of its state goes into the answer)
	struct cee_conn *c = reason == CEE_MONITOR_GONE ? NULL : cee_conn_by_id(s->pool, id);
	cee_mbox_watch_answer(r, id, reason, c); // (the service's bytes, as closed has them)
	cee_ctl_req_settle(&s->mbox, r);
}

// Watches whose requester went away (client disconnected) would hold a
// monitor slot until their connection closes, which may be never: drop
// them. Runs at each WATCH, so their number stays below what the control
// side lets wait at once, plus what was abandoned since.
static void watch_reap(struct cee_shard *s)
{
	struct cee_mbox *m = &s->mbox;
	struct cee_mbox_req *r = m->watch_head;
	while (r != NULL) {
		struct cee_mbox_req *next = r->watch_next;
		if (cee_mbox_req_abandoned(r)) {
			(void)cee_shard_monitor_remove(s, r->watch_handle);
			cee_mbox_watch_release(m, r);
			cee_ctl_req_give_back(m, r);
			m->stats.watch_reaped++;
		}
		r = next;
	}
}

// @return true when @p r now waits for its connection's close (or was
// answered at once by its monitor): the caller must not touch it.
static bool watch_start(struct cee_shard *s, struct cee_mbox_req *r)
{
	struct cee_mbox *m = &s->mbox;
	watch_reap(s);
	r->owner = s;
	int64_t h = cee_shard_monitor_add(s, r->id, watch_fired, r);
	if (h > 0) {
		cee_mbox_watch_hold(m, r, h);
		m->stats.watches++;
		return true;
	}
	if (h == 0)
		return true; // fired at once: closed already, or no such connection
	r->rc = (int)h; // -ENOSPC: as many monitors wait as there are slots; -ENOMEM
	return false;
}

// One request: everything but LIST and WATCH is answered at once; LIST
// starts a walk that later visits finish, WATCH waits for a close.
// A request's view of @p s: connections announced and not destroyed, and
// of those, the ones without their closed event yet.
static void shard_counts(const struct cee_shard *s, struct cee_mbox_req *r)
{
	r->live = cee_shard_live(s);
	r->unclosed = (uint32_t)(s->stats.opened - s->stats.closed);
}

static void serve_one(struct cee_shard *s, struct cee_mbox_req *r)
{
	struct cee_mbox *m = &s->mbox;
	if (cee_mbox_req_abandoned(r)) {
		cee_ctl_req_give_back(m, r);
		return;
	}
	r->rc = 0;
	r->now_ns = s->now_ns;
	r->sseq = shard_sseq(s);
	shard_counts(s, r);
	m->stats.requests++;
	struct cee_conn *c = NULL;
	switch ((enum cee_mbox_op)r->op) {
	case CEE_MBOX_OP_STATS:
		if (r->data != NULL)
			cee_stat_snapshot(s, r->data);
		break;
	case CEE_MBOX_OP_CONN:
	case CEE_MBOX_OP_KILL:
		// By id only: a stale id (its connection gone, the slot perhaps
		// reused by the same peer address) matches nothing, nor does a
		// half-open passive connection's (not announced: no event named it).
		c = cee_conn_by_id(s->pool, r->id);
		if (c == NULL || (c->tcb.oflags & CEE_TCB_O_QUIET)) {
			m->stats.stale_id++;
			r->rc = -ENOENT;
			break;
		}
		cee_mbox_conn_fill(&r->conn, c);
		if (r->op == CEE_MBOX_OP_KILL) {
			// RST to the peer; closed (admin_kill, unless it had
			// closed already) and destroyed are pushed now.
			m->stats.kills++;
			cee_tcp_abort(&s->tcp, &c->tcb, CEE_REASON_ADMIN_KILL, s->now_ns);
			shard_counts(s, r);
			r->sseq = shard_sseq(s);
		}
		break;
	case CEE_MBOX_OP_LIST:
		cee_mbox_walk_begin(&m->walk, r, s->pool, r->sseq, s->now_ns);
		return; // finished by the walk
	case CEE_MBOX_OP_DRAIN:
		// Links stop reconnecting too; those up keep their connection.
		// Once: drain_poll() asks again every 10 ms for the live count,
		// and a walk of every link at each (O(links), cache-cold) found
		// nothing more to do (a link closing later is drained as it closes).
		if (!m->draining) {
			m->draining = true;
			cee_shard_links_drain(s, false);
		}
		break;
	case CEE_MBOX_OP_LINKS:
		// O(links of this shard) in one visit.
		r->n = cee_shard_links_fill(s, r->data, r->cap);
		if (cee_shard_links_count(s) > r->cap)
			r->rc = -ENOSPC; // sized from m->nlinks: cannot happen
		break;
	case CEE_MBOX_OP_WATCH:
		if (watch_start(s, r))
			return; // finished by its monitor
		break;
	case CEE_MBOX_OP__COUNT:
		r->rc = -EINVAL;
		break;
	}
	cee_ctl_req_settle(m, r);
}

unsigned cee_ctl_shard_poll(struct cee_shard *s)
{
	struct cee_mbox *m = &s->mbox;
	if (m->walk.req == NULL && rte_ring_empty(m->ring))
		return 0;
	// Wall time (TSC) is what the poll loop waits; thread CPU time tells
	// the work apart from preemption on a shared CPU.
	struct timespec c0, c1;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
	uint64_t t0 = rte_rdtsc();
	unsigned work = 0;
	if (m->walk.req != NULL) {
		struct cee_mbox_req *r = m->walk.req;
		m->stats.list_steps++;
		if (cee_mbox_req_abandoned(r)) {
			// its marks cleared a step at a time, as the walk went (one
			// pass over a large pool would stall this shard's poll)
			if (cee_mbox_walk_abandon(&m->walk, s->pool, CEE_MBOX_WALK_SLOTS))
				cee_ctl_req_give_back(m, r);
		} else if (cee_mbox_walk_step(&m->walk, s->pool, CEE_MBOX_WALK_SLOTS)) {
			m->walk.req = NULL;
			cee_ctl_req_settle(m, r);
		}
		work = 1;
	} else {
		// Requests behind a list wait for it: at most one walk at a time.
		void *p;
		while (work < CEE_MBOX_BUDGET && m->walk.req == NULL &&
		       rte_ring_sc_dequeue(m->ring, &p) == 0) {
			serve_one(s, p);
			work++;
		}
	}
	// (computed here: a process-wide lazy value was written by every
	// shard's lcore without synchronisation, a data race)
	double tsc_ns = 1e9 / (double)rte_get_tsc_hz();
	uint64_t ns = (uint64_t)((double)(rte_rdtsc() - t0) * tsc_ns);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
	uint64_t cpu = (uint64_t)(c1.tv_sec - c0.tv_sec) * 1000000000u + (uint64_t)c1.tv_nsec -
		       (uint64_t)c0.tv_nsec;
	m->stats.visits++;
	m->stats.ns_total += ns;
	if (ns > m->stats.ns_max)
		m->stats.ns_max = ns;
	m->stats.cpu_ns_total += cpu;
	if (cpu > m->stats.cpu_ns_max)
		m->stats.cpu_ns_max = cpu;
	return work;
}

void cee_ctl_shard_close(struct cee_shard *s)
{
	struct cee_mbox *m = &s->mbox;
	if (m->ring == NULL)
		return;
	if (m->walk.req != NULL) {
		m->walk.req->rc = -ESHUTDOWN;
		cee_ctl_req_settle(m, m->walk.req);
		m->walk.req = NULL;
	}
	void *p;
	while (rte_ring_sc_dequeue(m->ring, &p) == 0) {
		struct cee_mbox_req *r = p;
		r->rc = -ESHUTDOWN;
		cee_ctl_req_settle(m, r);
	}
	// The shard aborted every connection before this (their watches were
	// answered with reason shutdown); anything still waiting is answered
	// "stopping" and its monitor removed, so none fires into a freed request.
	while (m->watch_head != NULL) {
		struct cee_mbox_req *r = m->watch_head;
		(void)cee_shard_monitor_remove(s, r->watch_handle);
		cee_mbox_watch_release(m, r);
		r->rc = -ESHUTDOWN;
		cee_ctl_req_settle(m, r);
	}
	// Requests posted from now on are abandoned by their requesters when
	// they see this; cee_ctl_shard_fini() frees them.
	atomic_store_explicit(&m->closed, true, memory_order_release);
}

/* ---- jobs ----------------------------------------------------------------- */

static uint64_t now_ns(void)
{
	return cee_clock_ns();
}

void cee_ctl_job_start(struct cee_ctl *c, struct ctl_job *j, enum cee_mbox_op op,
		       cee_conn_id_t id)
{
	memset(j, 0, sizeof(*j));
	j->op = (uint8_t)op;
	j->active = true;
	// A WATCH waits for a close, however long the connection lives.
	j->deadline_ns = op == CEE_MBOX_OP_WATCH ? UINT64_MAX
						 : now_ns() + (uint64_t)CEE_CTL_TIMEOUT_MS * 1000000;
	unsigned first = 0, count = c->nshards;
	if (op == CEE_MBOX_OP_CONN || op == CEE_MBOX_OP_KILL || op == CEE_MBOX_OP_WATCH) {
		// The owner is encoded in the id; an id of no shard of ours
		// names no connection.
		first = cee_id_shard(id);
		count = 1;
		if (id == 0 || first >= c->nshards) {
			j->rc = -ENOENT;
			return;
		}
	}
	j->first = first;
	for (unsigned i = 0; i < count; i++) {
		struct cee_mbox *m = c->mbox[first + i];
		if (atomic_load_explicit(&m->closed, memory_order_acquire)) {
			j->rc = -ESHUTDOWN;
			break;
		}
		uint32_t cap = 0;
		size_t data = 0;
		if (op == CEE_MBOX_OP_LIST) {
			cap = c->list_cap;
		} else if (op == CEE_MBOX_OP_STATS) {
			data = sizeof(struct cee_ctl_shard_stats);
		} else if (op == CEE_MBOX_OP_LINKS) {
			cap = m->nlinks;
			data = (size_t)cap * sizeof(struct cee_link_info);
		}
		struct cee_mbox_req *r = cee_mbox_req_alloc(op, cap, data);
		if (r == NULL) {
			j->rc = -ENOMEM;
			break;
		}
		r->id = id;
		if (rte_ring_enqueue(m->ring, r) != 0) { // (the ring's own mode: RTS)
			cee_mbox_req_free(r);
			atomic_fetch_add_explicit(&m->full, 1, memory_order_relaxed);
			j->rc = -EBUSY;
			break;
		}
		j->req[j->count++] = r;
	}
}

bool cee_ctl_job_poll(struct ctl_job *j, const struct cee_ctl *c)
{
	if (!j->active)
		return true;
	bool all = true;
	for (unsigned i = 0; i < j->count; i++) {
		struct cee_mbox_req *r = j->req[i];
		if (r == NULL || cee_mbox_req_done(r))
			continue;
		all = false;
		struct cee_mbox *m = c->mbox[j->first + i];
		bool closed = atomic_load_explicit(&m->closed, memory_order_acquire);
		bool late = !closed && now_ns() >= j->deadline_ns;
		if (j->rc == 0 && !closed && !late)
			continue;
		// Give up on it: failed already elsewhere, shard stopped, or too slow.
		if (cee_mbox_req_abandon(r)) {
			j->req[i] = NULL;
			if (late)
				atomic_fetch_add_explicit(&m->timeouts, 1, memory_order_relaxed);
			if (j->rc == 0)
				j->rc = closed ? -ESHUTDOWN : -ETIMEDOUT;
		}
	}
	if (!all && j->rc == 0)
		return false;
	// Finished when every request is answered or given up.
	for (unsigned i = 0; i < j->count; i++)
		if (j->req[i] != NULL && !cee_mbox_req_done(j->req[i]))
			return false;
	for (unsigned i = 0; i < j->count && j->rc == 0; i++)
		if (j->req[i] != NULL && j->req[i]->rc < 0)
			j->rc = j->req[i]->rc;
	return true;
}

int cee_ctl_job_wait(struct ctl_job *j, const struct cee_ctl *c)
{
	while (!cee_ctl_job_poll(j, c))
		usleep(20);
	return j->rc;
}

bool cee_ctl_job_taken(const struct ctl_job *j)
{
	for (unsigned i = 0; i < j->count; i++)
		if (j->req[i] != NULL)
			return true;
	return false;
}

void cee_ctl_job_release(struct ctl_job *j)
{
	for (unsigned i = 0; i < j->count; i++) {
		cee_mbox_req_free(j->req[i]);
		j->req[i] = NULL;
	}
	j->count = 0;
	j->active = false;
}

/* ---- counters ------------------------------------------------------------- */

unsigned cee_ctl_stat_fields(const struct cee_ctl_shard_stats *st, struct ctl_stat *out)
{
	unsigned n = 0;

	for (unsigned i = 0; i < cee_stat_count() && n < CTL_STATS_MAX; i++, n++) {
		cee_stat_flat_name(i, out[n].name, sizeof(out[n].name));
		out[n].v = cee_stat_value(i, st);
		out[n].max = cee_stat_def(i)->max;
	}
	return n;
}

void cee_ctl_stat_add(struct ctl_stat *total, const struct ctl_stat *one, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (total[i].name[0] == '\0') {
			total[i] = one[i];
			continue;
		}
		if (one[i].max)
			total[i].v = one[i].v > total[i].v ? one[i].v : total[i].v;
		else
			total[i].v += one[i].v;
	}
}

/* ---- rendering ------------------------------------------------------------ */

void cee_ctl_buf_printf(struct ctl_buf *b, const char *fmt, ...)
{
	if (b->oom)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if (b->p != NULL && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap : 4096;
		while (cap <= b->len + (size_t)n)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (p == NULL) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
}

void cee_ctl_buf_free(struct ctl_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

void cee_ctl_addr_str(char *buf, size_t size, uint32_t ip, uint16_t port)
{
	snprintf(buf, size, "%u.%u.%u.%u:%u", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff,
		 ip & 0xff, port);
}

uint64_t cee_ctl_age_ms(uint64_t open_ns, uint64_t now)
{
	return now > open_ns ? (now - open_ns) / 1000000 : 0;
}

int cee_ctl_parse_id(const char *s, cee_conn_id_t *id)
{
	size_t n = strlen(s);
	if (n == 0 || n > 16 || strspn(s, "0123456789abcdefABCDEF") != n)
		return -EINVAL;
	*id = strtoull(s, NULL, 16);
	return 0;
}

static void render_conn(struct ctl_buf *b, const struct cee_mbox_conn *x, uint64_t now)
{
	char local[32], remote[32];
	cee_ctl_addr_str(local, sizeof(local), x->local_ip, x->local_port);
	cee_ctl_addr_str(remote, sizeof(remote), x->remote_ip, x->remote_port);
	cee_ctl_buf_printf(b,
			   "{\"id\":\"%016" PRIx64 "\",\"shard\":%u,\"state\":\"%s\",\"proto\":\"%s\","
			   "\"local\":\"%s\",\"remote\":\"%s\",\"age_ms\":%" PRIu64
			   ",\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64,
			   x->id, cee_id_shard(x->id), cee_tcp_state_str((enum cee_tcp_state)x->state),
			   cee_proto_str((enum cee_proto)x->proto), local, remote,
			   cee_ctl_age_ms(x->open_ns, now), x->bytes_in, x->bytes_out);
	if (x->close_reason != CEE_REASON_NONE)
		cee_ctl_buf_printf(b, ",\"reason\":\"%s\"",
				   cee_reason_str((enum cee_reason)x->close_reason));
	// (conns too: it is the same exact cut, and a row of a connection
	// destroyed since, unmarked, listed a gone connection as live)
	if (x->departed)
		cee_ctl_buf_printf(b, ",\"departed\":true");
	cee_ctl_buf_printf(b, "}");
}

const char *cee_ctl_err_msg(enum ctl_cmd cmd, int rc)
{
	switch (-rc) {
	case ENOENT:
		return "no such connection";
	case ETIMEDOUT:
		return "a shard did not answer in time";
	case ESHUTDOWN:
		return "the engine is stopping";
	case EBUSY:
		return "a shard's mailbox is full; try again";
	case ENOSPC:
		return cmd == CTL_CMD_WATCH ? "no monitor room for another watch" : "list overflow";
	default:
		return strerror(-rc);
	}
}

void cee_ctl_render_error(struct ctl_buf *b, const char *msg, const cee_conn_id_t *id)
{
	cee_ctl_buf_printf(b, "{\"ok\":false,\"error\":\"%s\"", msg);
	if (id != NULL) // (id 0 too: "conn 0" names no connection, and says so)
		cee_ctl_buf_printf(b, ",\"conn\":\"%016" PRIx64 "\"", *id);
	cee_ctl_buf_printf(b, "}\n");
}

// A success reply's head: which engine and run answered. Connection ids
// and sseq start again with each run: a control plane that kept an id or a
// cut from before a restart tells them apart by these (docs/control.md).
static void ok_head(const struct cee_ctl *c, struct ctl_buf *b)
{
	cee_ctl_buf_printf(b, "{\"ok\":true,\"v\":1,\"engine\":\"%s\",\"run\":\"%s\",", c->engine,
			   c->run);
}

int cee_ctl_part(int (*fn)(void *arg, char *buf, size_t len), void *arg, char **out)
{
	*out = NULL;
	for (size_t len = 4096; len <= CEE_CTL_PART_MAX; len *= 2) {
		char *buf = malloc(len);
		if (buf == NULL)
			return -ENOMEM;
		int n = fn(arg, buf, len);
		if (n >= 0) {
			*out = buf;
			return n;
		}
		free(buf);
		if (n != -ENOSPC)
			return n;
	}
	return -ENOSPC;
}

static void render_stats(struct cee_ctl *c, struct ctl_buf *b, const struct ctl_job *j)
{
	struct ctl_stat total[CTL_STATS_MAX], one[CTL_STATS_MAX];
	memset(total, 0, sizeof(total));
	unsigned n = 0;
	ok_head(c, b);
	cee_ctl_buf_printf(b, "\"shards\":[");
	for (unsigned i = 0; i < j->count; i++) {
		n = cee_ctl_stat_fields(j->req[i]->data, one);
		cee_ctl_stat_add(total, one, n);
		cee_ctl_buf_printf(b, "%s{\"shard\":%u", i ? "," : "", j->first + i);
		for (unsigned k = 0; k < n; k++)
			cee_ctl_buf_printf(b, ",\"%s\":%" PRIu64, one[k].name, one[k].v);
		cee_ctl_buf_printf(b, "}");
	}
	cee_ctl_buf_printf(b, "],\"total\":{");
	for (unsigned k = 0; k < n; k++)
		cee_ctl_buf_printf(b, "%s\"%s\":%" PRIu64, k ? "," : "", total[k].name, total[k].v);
	cee_ctl_buf_printf(b, "}");
	// the ports' driver counters (frames lost before a shard saw them), as
	// --stats has them
	// (in a fixed 2 KiB, a part that did not fit was left out in silence)
	char *ports = NULL;
	int pn = c->ports_json != NULL ? cee_ctl_part(c->ports_json, c->ports_arg, &ports) : 0;
	if (pn > 0)
		cee_ctl_buf_printf(b, ",%.*s", pn, ports);
	else if (pn < 0)
		cee_ctl_buf_printf(b, ",\"ports_error\":\"%s\"",
				   pn == -ENOSPC ? "over 1 MiB" : strerror(-pn));
	free(ports);
	cee_ctl_buf_printf(b, "}\n");
}

static int cmp_link(const void *a, const void *b)
{
	uint32_t x = ((const struct ctl_link *)a)->info->index;
	uint32_t y = ((const struct ctl_link *)b)->info->index;
	return x < y ? -1 : x > y;
}

int cee_ctl_links_collect(const struct ctl_job *j, struct ctl_link **out)
{
	size_t n = 0;
	*out = NULL;
	for (unsigned i = 0; i < j->count; i++)
		n += j->req[i]->n;
	if (n == 0)
		return 0;
	struct ctl_link *v = malloc(n * sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	n = 0;
	for (unsigned i = 0; i < j->count; i++) {
		const struct cee_link_info *info = j->req[i]->data;
		for (uint32_t k = 0; k < j->req[i]->n; k++)
			v[n++] = (struct ctl_link){.info = &info[k], .shard = j->first + i};
	}
	qsort(v, n, sizeof(*v), cmp_link);
	*out = v;
	return (int)n;
}

// {"name","shard","proto","remote","state","conn"?,"attempts","refused","ups","downs",
//  "last_reason"?,"up_ms"? (up),"next_attempt_ms"? (backoff),"arp_wait"? (backoff)}
static void render_link(struct ctl_buf *b, const struct ctl_link *l)
{
	const struct cee_link_info *x = l->info;
	char remote[32];
	cee_ctl_addr_str(remote, sizeof(remote), x->ip, x->port);
	cee_ctl_buf_printf(b,
			   "{\"name\":\"%s\",\"shard\":%u,\"proto\":\"%s\",\"remote\":\"%s\","
			   "\"state\":\"%s\"",
			   x->name, l->shard, x->tls ? "tls" : "tcp", remote,
			   cee_link_state_str((enum cee_link_state)x->state));
	if (x->conn != 0)
		cee_ctl_buf_printf(b, ",\"conn\":\"%016" PRIx64 "\"", x->conn);
	cee_ctl_buf_printf(b,
			   ",\"attempts\":%" PRIu32 ",\"refused\":%" PRIu32 ",\"ups\":%" PRIu32
			   ",\"downs\":%" PRIu32,
			   x->attempts, x->refused, x->ups, x->downs);
	if (x->last_reason != CEE_REASON_NONE)
		cee_ctl_buf_printf(b, ",\"last_reason\":\"%s\"",
				   cee_reason_str((enum cee_reason)x->last_reason));
	if (x->state == CEE_LINK_UP)
		cee_ctl_buf_printf(b, ",\"up_ms\":%" PRIu64, x->up_ms);
	if (x->state == CEE_LINK_BACKOFF)
		cee_ctl_buf_printf(b, ",\"next_attempt_ms\":%" PRIu64, x->next_ms);
	if (x->arp_wait)
		cee_ctl_buf_printf(b, ",\"arp_wait\":true");
	cee_ctl_buf_printf(b, "}");
}

/*
 * "cuts":[{"shard":i,"sseq":S}...]: each shard's last pushed sseq when it
 * answered. What the reply shows of a shard is its state after exactly its
 * events up to S: a consumer of the stream knows which of its events the
 * reply already reflects.
 */
static void render_cuts(struct ctl_buf *b, const struct ctl_job *j)
{
	cee_ctl_buf_printf(b, "\"cuts\":[");
	for (unsigned i = 0; i < j->count; i++)
		cee_ctl_buf_printf(b, "%s{\"shard\":%u,\"sseq\":%" PRIu64 "}", i ? "," : "",
				   j->first + i, j->req[i]->sseq);
	cee_ctl_buf_printf(b, "]");
}

static void render_links(const struct cee_ctl *c, struct ctl_buf *b, const struct ctl_job *j)
{
	struct ctl_link *v;
	int n = cee_ctl_links_collect(j, &v);
	if (n < 0) {
		cee_ctl_render_error(b, strerror(-n), NULL);
		return;
	}
	ok_head(c, b);
	render_cuts(b, j);
	cee_ctl_buf_printf(b, ",\"links\":[");
	for (int i = 0; i < n; i++) {
		cee_ctl_buf_printf(b, i ? ",\n" : "\n");
		render_link(b, &v[i]);
	}
	cee_ctl_buf_printf(b, "]}\n");
	free(v);
}

bool cee_ctl_render_more(struct ctl_buf *b, enum ctl_cmd cmd, const struct ctl_job *j,
			 struct ctl_stream *st)
{
	uint32_t budget = CEE_CTL_STREAM_RECORDS;
	while (st->shard < j->count) {
		const struct cee_mbox_req *r = j->req[st->shard];
		if (cmd == CTL_CMD_SNAPSHOT && !st->shard_open) {
			cee_ctl_buf_printf(b,
					   "%s\n{\"shard\":%u,\"sseq\":%" PRIu64 ",\"ts_ns\":%" PRIu64
					   ",\"live\":%u,\"conns\":[",
					   st->shard ? "," : "", j->first + st->shard, r->sseq, r->now_ns,
					   r->n);
			st->shard_open = true;
		}
		for (; st->k < r->n; st->k++) {
			if (budget-- == 0)
				return st->on = true;
			if (cmd == CTL_CMD_SNAPSHOT) {
				cee_ctl_buf_printf(b, st->k ? ",\n" : "\n");
			} else {
				if (!st->first)
					cee_ctl_buf_printf(b, ",\n");
				st->first = false;
			}
			render_conn(b, &r->conns[st->k], r->now_ns);
		}
		if (cmd == CTL_CMD_SNAPSHOT)
			cee_ctl_buf_printf(b, "]}");
		st->shard_open = false;
		st->shard++;
		st->k = 0;
	}
	cee_ctl_buf_printf(b, "]}\n");
	return st->on = false;
}

// A listing's records after its head: the first piece (@p st), or all.
static void render_listing(struct ctl_buf *b, enum ctl_cmd cmd, const struct ctl_job *j,
			   struct ctl_stream *st)
{
	struct ctl_stream whole;
	if (st == NULL)
		st = &whole;
	*st = (struct ctl_stream){.first = true};
	while (cee_ctl_render_more(b, cmd, j, st) && st == &whole)
		;
}

void cee_ctl_render(struct cee_ctl *c, struct ctl_buf *b, enum ctl_cmd cmd, cee_conn_id_t id,
		    const struct ctl_job *j, struct ctl_stream *st)
{
	if (st != NULL)
		st->on = false;
	if (j->rc < 0) {
		const char *msg = cee_ctl_err_msg(cmd, j->rc);
		char both[160];
		if (cmd == CTL_CMD_DRAIN && cee_ctl_job_taken(j)) {
			// a shard took it: the drain goes on (docs/control.md), which
			// "try again" alone did not say
			snprintf(both, sizeof(both), "%s; a shard took the drain: it goes on", msg);
			msg = both;
		}
		cee_ctl_render_error(b, msg, j->rc == -ENOENT ? &id : NULL);
		return;
	}
	switch (cmd) {
	case CTL_CMD_STATS:
		render_stats(c, b, j);
		break;
	case CTL_CMD_CONN:
	case CTL_CMD_KILL: {
		const struct cee_mbox_req *r = j->req[0];
		ok_head(c, b);
		cee_ctl_buf_printf(b, "\"%s\":", cmd == CTL_CMD_KILL ? "killed" : "conn");
		render_conn(b, &r->conn, r->now_ns);
		if (cmd == CTL_CMD_KILL)
			cee_ctl_buf_printf(b, ",\"closed_before\":%s",
					   r->conn.closed ? "true" : "false");
		cee_ctl_buf_printf(b, "}\n");
		break;
	}
	case CTL_CMD_CONNS: {
		uint64_t count = 0;
		for (unsigned i = 0; i < j->count; i++)
			count += j->req[i]->n;
		ok_head(c, b);
		cee_ctl_buf_printf(b, "\"count\":%" PRIu64 ",", count);
		render_cuts(b, j);
		cee_ctl_buf_printf(b, ",\"conns\":[");
		render_listing(b, cmd, j, st);
		break;
	}
	case CTL_CMD_SNAPSHOT:
		ok_head(c, b);
		cee_ctl_buf_printf(b, "\"shards\":[");
		render_listing(b, cmd, j, st);
		break;
	case CTL_CMD_DRAIN: {
		// live: announced, not destroyed (what the drain waits for);
		// unclosed: of those, without their closed event yet (the rest
		// linger in TIME-WAIT, LAST-ACK or CLOSING: closed already)
		uint64_t live = 0, unclosed = 0;
		for (unsigned i = 0; i < j->count; i++) {
			live += j->req[i]->live;
			unclosed += j->req[i]->unclosed;
		}
		ok_head(c, b);
		cee_ctl_buf_printf(
		    b, "\"draining\":true,\"live\":%" PRIu64 ",\"unclosed\":%" PRIu64 "}\n", live,
		    unclosed);
		break;
	}
	case CTL_CMD_LINKS:
		render_links(c, b, j);
		break;
	case CTL_CMD_WATCH: {
		const struct cee_mbox_conn *x = &j->req[0]->conn;
		ok_head(c, b);
		cee_ctl_buf_printf(b,
				   "\"closed\":{\"id\":\"%016" PRIx64
				   "\",\"reason\":\"%s\",\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64
				   "}}\n",
				   x->id, cee_reason_str((enum cee_reason)x->close_reason), x->bytes_in,
				   x->bytes_out);
		break;
	}
	case CTL_CMD__COUNT:
		cee_ctl_render_error(b, "bad command", NULL);
		break;
	}
}

/* ---- life ----------------------------------------------------------------- */

struct cee_ctl *cee_ctl_create(const struct cee_ctl_cfg *cfg)
{
	if (cfg->nshards == 0 || cfg->nshards > CEE_MAX_SHARDS) {
		errno = EINVAL;
		return NULL;
	}
	struct cee_ctl *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	snprintf(c->name, sizeof(c->name), "%s", cfg->name ? cfg->name : "cee");
	snprintf(c->engine, sizeof(c->engine), "%s", cfg->engine_id ? cfg->engine_id : "");
	snprintf(c->run, sizeof(c->run), "%s", cfg->run_id ? cfg->run_id : "");
	c->engine_per_run = cfg->engine_per_run;
	c->nshards = cfg->nshards;
	for (unsigned i = 0; i < cfg->nshards; i++)
		c->mbox[i] = cfg->mbox[i];
	c->list_cap = cfg->max_conns_per_shard;
	c->sinks_json = cfg->sinks_json;
	c->sinks_arg = cfg->sinks_arg;
	c->ports_json = cfg->ports_json;
	c->ports_arg = cfg->ports_arg;
	c->listen_fd = -1;
	for (unsigned i = 0; i < CEE_CTL_MAX_CLIENTS; i++)
		c->clients[i].fd = -1;

	char path[sizeof(c->sock_path)];
	int plen;
	if (cfg->sock_path == NULL)
		plen = snprintf(path, sizeof(path), "%s/%s_ctl.sock", rte_eal_get_runtime_dir(),
				c->name);
	else
		plen = snprintf(path, sizeof(path), "%s", cfg->sock_path);
	if (plen < 0 || (size_t)plen >= sizeof(path)) {
		// (the default path was cut silently: a long --file-prefix under a
		// long runtime directory bound a truncated name cee-ctl never finds)
		if (cfg->sock_path == NULL)
			fprintf(stderr,
				"cee: control socket path %s/%s_ctl.sock is longer than %zu bytes: "
				"give --ctl-socket PATH (or none), or a shorter --file-prefix\n",
				rte_eal_get_runtime_dir(), c->name, sizeof(path) - 1);
		else
			fprintf(stderr, "cee: control socket path %s is longer than %zu bytes\n",
				cfg->sock_path, sizeof(path) - 1);
		cee_ctl_destroy(c);
		errno = ENAMETOOLONG;
		return NULL;
	}
	if (path[0] != '\0' && cee_ctl_sock_open(c, path) < 0) {
		int err = errno;
		cee_ctl_destroy(c);
		errno = err;
		return NULL;
	}
	if (cfg->telemetry) {
		int rc = cee_ctl_tel_attach(c);
		if (rc < 0)
			fprintf(stderr, "cee: telemetry commands: %s (going on without)\n",
				strerror(-rc));
		else
			c->telemetry = true;
	}
	return c;
}

void cee_ctl_destroy(struct cee_ctl *c)
{
	if (c == NULL)
		return;
	if (c->telemetry)
		(void)cee_ctl_tel_attach(NULL);
	cee_ctl_sock_close(c);
	if (c->drain_job.active) {
		// Whatever is not answered yet belongs to the shards now.
		for (unsigned i = 0; i < c->drain_job.count; i++)
			if (c->drain_job.req[i] != NULL && cee_mbox_req_abandon(c->drain_job.req[i]))
				c->drain_job.req[i] = NULL;
		cee_ctl_job_release(&c->drain_job);
	}
	free(c);
}

const char *cee_ctl_socket_path(const struct cee_ctl *c)
{
	return c->sock_path;
}

bool cee_ctl_drained(const struct cee_ctl *c)
{
	return c != NULL && c->drain == CTL_DRAIN_DONE;
}

// After every shard acknowledged DRAIN: ask them (DRAIN again, idempotent,
// answers the live count) every 10 ms until none has a connection left.
static int drain_poll(struct cee_ctl *c)
{
	if (c->drain != CTL_DRAIN_WAIT)
		return 0;
	struct ctl_job *j = &c->drain_job;
	uint64_t now = now_ns();
	if (!j->active) {
		if (now < c->drain_next_ns)
			return 0;
		cee_ctl_job_start(c, j, CEE_MBOX_OP_DRAIN, 0);
		return 1;
	}
	if (!cee_ctl_job_poll(j, c))
		return 0;
	uint64_t live = 0;
	for (unsigned i = 0; i < j->count; i++)
		live += j->req[i] ? j->req[i]->live : 1;
	if (j->rc == 0 && live == 0)
		c->drain = CTL_DRAIN_DONE;
	cee_ctl_job_release(j);
	c->drain_next_ns = now + 10 * 1000000;
	return 1;
}

int cee_ctl_poll(struct cee_ctl *c)
{
	if (c == NULL)
		return 0;
	// what the shards gave back (requests abandoned while they served
	// them) is freed here, off their lcores
	int n = 0;
	for (unsigned i = 0; i < c->nshards; i++)
		n += (int)cee_ctl_back_drain(c->mbox[i]);
	return n + cee_ctl_sock_poll(c) + drain_poll(c);
}
