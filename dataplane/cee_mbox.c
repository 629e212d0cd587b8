/* SPDX-License-Identifier: BSD-3-Clause */
// Mailbox requests and the exact-cut connection walk (pure; see cee_mbox.h).
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cee_mbox.h"

#define CEE_X_NAME(e, s) [CEE_MBOX_OP_##e] = s,
static const char *const op_names[] = {CEE_MBOX_OP_LIST(CEE_X_NAME)};
#undef CEE_X_NAME

const char *cee_mbox_op_str(enum cee_mbox_op op)
{
	return (unsigned)op < CEE_MBOX_OP__COUNT ? op_names[op] : "?";
}

struct cee_mbox_req *cee_mbox_req_alloc(enum cee_mbox_op op, uint32_t cap, size_t data_size)
{
	struct cee_mbox_req *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->op = (uint8_t)op;
	r->cap = cap;
	// malloc, not calloc: a big array stays untouched beyond what is filled.
	if (op == CEE_MBOX_OP_LIST && cap != 0 &&
	    (r->conns = malloc((size_t)cap * sizeof(*r->conns))) == NULL)
		goto fail;
	if (data_size != 0 && (r->data = calloc(1, data_size)) == NULL)
		goto fail;
	atomic_init(&r->state, CEE_MBOX_POSTED);
	return r;
fail:
	cee_mbox_req_free(r);
	errno = ENOMEM;
	return NULL;
}

void cee_mbox_req_free(struct cee_mbox_req *r)
{
	if (r == NULL)
		return;
	free(r->conns);
	free(r->data);
	free(r);
}

bool cee_mbox_req_abandon(struct cee_mbox_req *r)
{
	int expect = CEE_MBOX_POSTED;
	return atomic_compare_exchange_strong_explicit(&r->state, &expect, CEE_MBOX_ABANDONED,
						       memory_order_acq_rel, memory_order_acquire);
}

void cee_mbox_req_finish(struct cee_mbox_req *r)
{
	int expect = CEE_MBOX_POSTED;
	if (!atomic_compare_exchange_strong_explicit(&r->state, &expect, CEE_MBOX_DONE,
						     memory_order_acq_rel, memory_order_acquire))
		cee_mbox_req_free(r); // abandoned: nobody else holds it
}

// (written before any shard starts, read by the shards: one process-wide
// pair, the same functions for every engine)
static cee_mbox_bytes_fn bytes_in_fn, bytes_out_fn;

void cee_mbox_set_bytes_fns(cee_mbox_bytes_fn in, cee_mbox_bytes_fn out)
{
	// written once: a second engine set up while a first one's shards read
	// them finds the same functions there and writes nothing (no race)
	if (bytes_in_fn != in)
		bytes_in_fn = in;
	if (bytes_out_fn != out)
		bytes_out_fn = out;
}

void cee_mbox_conn_fill(struct cee_mbox_conn *out, const struct cee_conn *c)
{
	// the service's bytes, as closed and watch say them: conn, conns and
	// kill said TCP's (TLS records, WebSocket frames), and a control plane
	// matching them with the stream saw counters go back
	*out = (struct cee_mbox_conn){
		.id = c->id,
		.open_ns = c->tcb.open_ns,
		.bytes_in = bytes_in_fn != NULL ? bytes_in_fn(c) : c->tcb.bytes_in,
		.bytes_out = bytes_out_fn != NULL ? bytes_out_fn(c) : c->tcb.bytes_out,
		.local_ip = c->local_ip,
		.remote_ip = c->remote_ip,
		.local_port = c->local_port,
		.remote_port = c->remote_port,
		.state = c->tcb.state,
		.proto = c->proto,
		.closed = (c->tcb.flags & CEE_TCB_F_CLOSED) != 0,
	};
	// The reason only once closed was pushed: the first cause is known
	// earlier (our FIN in FIN-WAIT, the peer's in CLOSE-WAIT), and a row
	// with it named a close the stream had not said yet.
	if (out->closed)
		out->close_reason = c->tcb.close_reason;
}

void cee_mbox_watch_answer(struct cee_mbox_req *r, cee_conn_id_t id, int reason,
			   const struct cee_conn *c)
{
	if (reason == CEE_MONITOR_GONE) {
		r->rc = -ENOENT;
		r->conn = (struct cee_mbox_conn){.id = id};
		return;
	}
	r->rc = 0;
	if (c != NULL)
		cee_mbox_conn_fill(&r->conn, c);
	else
		r->conn = (struct cee_mbox_conn){.id = id};
	r->conn.close_reason = (uint8_t)reason;
	r->conn.closed = 1;
}

void cee_mbox_watch_hold(struct cee_mbox *m, struct cee_mbox_req *r, int64_t handle)
{
	r->watch_handle = handle;
	r->watch_prev = NULL;
	r->watch_next = m->watch_head;
	if (m->watch_head != NULL)
		m->watch_head->watch_prev = r;
	m->watch_head = r;
	m->watching++;
}

void cee_mbox_watch_release(struct cee_mbox *m, struct cee_mbox_req *r)
{
	if (r->watch_handle == 0)
		return;
	if (r->watch_prev != NULL)
		r->watch_prev->watch_next = r->watch_next;
	else
		m->watch_head = r->watch_next;
	if (r->watch_next != NULL)
		r->watch_next->watch_prev = r->watch_prev;
	r->watch_prev = r->watch_next = NULL;
	r->watch_handle = 0;
	m->watching--;
}

bool cee_mbox_walk_abandon(struct cee_mbox_walk *w, struct cee_conn_pool *p, uint32_t slots)
{
	struct cee_conn *c;
	uint32_t cap = cee_conn_capacity(p);
	uint32_t end = cap - w->next_slot > slots ? w->next_slot + slots : cap;
	while (w->late > 0 && (c = cee_conn_next(p, &w->next_slot, end)) != NULL)
		if (c->tcb.oflags & CEE_TCB_O_LATE) {
			c->tcb.oflags &= (uint8_t)~CEE_TCB_O_LATE;
			w->late--;
		}
	if (w->late > 0 && w->next_slot < cap)
		return false;
	w->late = 0;
	w->req = NULL;
	return true;
}

void cee_mbox_walk_begin(struct cee_mbox_walk *w, struct cee_mbox_req *r,
			 const struct cee_conn_pool *p, uint64_t sseq, uint64_t now_ns)
{
	w->req = r;
	w->cut_serial = cee_conn_last_serial(p);
	w->next_slot = 0;
	w->late = 0;
	r->rc = 0;
	r->n = 0;
	r->sseq = sseq;
	r->now_ns = now_ns;
}

bool cee_mbox_walk_step(struct cee_mbox_walk *w, struct cee_conn_pool *p, uint32_t slots)
{
	struct cee_mbox_req *r = w->req;
	uint32_t cap = cee_conn_capacity(p);
	uint32_t end = cap - w->next_slot > slots ? w->next_slot + slots : cap;
	struct cee_conn *c;
	while ((c = cee_conn_next(p, &w->next_slot, end)) != NULL) {
		// Allocated after the cut: not part of it (its slot was free or
		// held a connection already recorded as departed).
		if (cee_id_serial(c->id) > w->cut_serial)
			continue;
		// Not announced at the cut: half open still, or announced since
		if (c->tcb.oflags & (CEE_TCB_O_QUIET | CEE_TCB_O_LATE)) {
			if (c->tcb.oflags & CEE_TCB_O_LATE) {
				c->tcb.oflags &= (uint8_t)~CEE_TCB_O_LATE;
				w->late--;
			}
			continue;
		}
		if (r->n == r->cap) {
			r->rc = -ENOSPC;
			continue;
		}
		cee_mbox_conn_fill(&r->conns[r->n++], c);
	}
	return w->next_slot >= cap;
}
