/* SPDX-License-Identifier: BSD-3-Clause */
// The layer stack above TCP on a shard (../shared/design.md, "The
// per-connection layer stack"): TCP carries ciphertext, the TLS layer
// (tls/, sans I/O) turns it into plaintext for the service, and the
// service's answers go back down the same way. The layer reports its
// milestone and its first close cause here; this file turns them into the
// connection's lifecycle (tls_up with its extension, closed with the TLS
// outcome), so events are still emitted in one place per connection.
//
// Connections of a tls: listener run TCP's paced service: the receive
// window is the send buffer's free room, so an echo over TLS never has to
// write more than the buffer holds.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_branch_prediction.h>
#include <rte_cycles.h>
#include <rte_debug.h>

#include "cee_shard_priv.h"
#include "cee_tls.h"

// Deferred handshake bytes: a ClientHello (or a client's certificate
// flight) fits in a few KiB; larger inputs run at once.
#define STAGE_SIZE 4096
#define STAGE_COUNT 256

static bool tls_listening(const struct cee_engine_cfg *cfg)
{
	for (unsigned i = 0; i < cfg->nlisteners; i++)
		if (cfg->listeners[i].tls)
			return true;
	return false;
}

static struct cee_tls_ctx *ctx_create(struct cee_shard *s, const struct cee_tls_cfg *base,
				      bool server, uint32_t max_conns)
{
	struct cee_tls_cfg cfg = *base;
	char err[256] = "";
	cfg.max_conns = max_conns;
	struct cee_tls_ctx *ctx = cee_tls_ctx_create(&cfg, server, err, sizeof(err));
	if (ctx == NULL) {
		int e = errno ? errno : EINVAL;
		fprintf(stderr, "cee: shard %u: TLS %s: %s\n", s->id, server ? "server" : "client",
			err[0] ? err : strerror(e));
		errno = e;
	}
	return ctx;
}

int cee_shard_tls_init(struct cee_shard *s, uint32_t per_shard)
{
	bool srv = tls_listening(s->cfg), cli = s->cfg->tls_client_on;
	if (!srv && !cli)
		return 0;
	if (srv && (s->tls_srv = ctx_create(s, &s->cfg->tls, true, per_shard)) == NULL)
		return -errno;
	if (cli && (s->tls_cli = ctx_create(s, &s->cfg->tls_client, false, per_shard)) == NULL)
		return -errno;
	// one stack per connection at most: as many as connection slots
	s->stacks = calloc(per_shard, sizeof(*s->stacks));
	if (s->stacks == NULL)
		return -ENOMEM;
	for (uint32_t i = per_shard; i-- > 0;) {
		s->stacks[i].next = s->stack_free;
		s->stack_free = &s->stacks[i];
	}
	// the handshake budget and the staging buffers of deferred handshakes
	s->tls_budget_tsc = (uint64_t)s->cfg->tls_budget_us * rte_get_tsc_hz() / 1000000;
	uint32_t nstage = per_shard < STAGE_COUNT ? per_shard : STAGE_COUNT;
	s->stage_block = malloc((size_t)nstage * STAGE_SIZE);
	s->stage_free = malloc(nstage * sizeof(*s->stage_free));
	if (s->stage_block == NULL || s->stage_free == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < nstage; i++)
		s->stage_free[i] = s->stage_block + (size_t)i * STAGE_SIZE;
	s->nstage_free = nstage;
	return 0;
}

void cee_shard_tls_fini(struct cee_shard *s)
{
	cee_tls_ctx_destroy(s->tls_srv);
	cee_tls_ctx_destroy(s->tls_cli);
	s->tls_srv = s->tls_cli = NULL;
	free(s->stacks);
	free(s->stage_block);
	free(s->stage_free);
	s->stacks = NULL;
	s->stack_free = NULL;
	s->stage_block = NULL;
	s->stage_free = NULL;
	s->nstage_free = 0;
}

/* ---- the layer's calls back into the stack ------------------------------------------------ */

// Ciphertext (handshake, records, alerts, close_notify) for TCP.
static int io_down(void *arg, const uint8_t *data, uint32_t len)
{
	struct cee_stack *st = arg;
	if (unlikely(st->dead)) // the connection is gone; the layer finishes its call
		return -ENOTCONN;
	// inside wolfSSL: what TCP reports meanwhile (closed, to the app) must
	// not call into this layer again
	st->in_down = true;
	int rc = cee_tcp_send(&st->s->tcp, &st->c->tcb, data, len, st->s->now_ns);
	st->in_down = false;
	return rc;
}

// Answers of the echo services: TLS records cannot be taken back, so a
// send buffer without room (the paced window makes it rare) ends the
// connection with no_resources rather than losing bytes silently.
static void echo(struct cee_stack *st, const uint8_t *data, uint32_t len)
{
	struct cee_shard *s = st->s;
	int rc = cee_tls_send(st->tls, data, len);
	if (rc < 0) {
		s->stats.tls_send_fail++;
		cee_tcp_abort(&s->tcp, &st->c->tcb, CEE_REASON_NO_RESOURCES, s->now_ns);
		return;
	}
	st->plain_out += (uint32_t)rc;
}

// Plaintext for the service.
static void io_up(void *arg, const uint8_t *data, uint32_t len)
{
	struct cee_stack *st = arg;
	if (unlikely(st->dead || st->quiet)) // gone or closed: the layer finishes its call
		return;
	struct cee_shard *s = st->s;
	const struct cee_app_ops *app = s->cfg->app;

	st->plain_in += len;
	switch ((enum cee_tcp_service)st->service) {
	case CEE_TCP_SVC_ECHO:
		echo(st, data, len);
		return;
	case CEE_TCP_SVC_ECHO_CLOSE:
		// as over TCP: the first bytes go back, then this side closes
		if (st->echoed)
			return;
		st->echoed = true;
		echo(st, data, len);
		if (st->dead)
			return;
		cee_tls_shutdown(st->tls);
		cee_tcp_close(&s->tcp, &st->c->tcb, CEE_REASON_LOCAL_CLOSE, s->now_ns);
		return;
	case CEE_TCP_SVC_DISCARD:
		return;
	case CEE_TCP_SVC_APP:
	case CEE_TCP_SVC_PACED:
		if (app && app->recv)
			app->recv(s->cfg->app_arg, s, st->c, data, len);
		return;
	}
}

// tls_up: the handshake limit is off, the event carries what was negotiated.
static void io_milestone(void *arg, enum cee_evt_type type)
{
	struct cee_stack *st = arg;
	// gone, closed, or closed by the app before the handshake was done:
	// tls_up never comes after closed
	if (unlikely(st->dead || st->quiet))
		return;
	struct cee_shard *s = st->s;
	struct cee_conn *c = st->c;

	if (type != CEE_EVT_TLS_UP || st->up)
		return;
	st->up = true;
	cee_tcp_set_deadline(&s->tcp, &c->tcb, 0, CEE_REASON_NONE);

	struct cee_tls_info info;
	cee_tls_get_info(st->tls, &info);
	struct cee_ext_builder b;
	cee_ext_begin(&b, c->id, CEE_EVT_TLS_UP);
	cee_ext_put_u16(&b, CEE_EXT_TLS_VERSION, info.version);
	cee_ext_put_str(&b, CEE_EXT_CIPHER, info.cipher);
	cee_ext_put_u8(&b, CEE_EXT_RESUMED, info.resumed);
	cee_ext_put_str(&b, CEE_EXT_SNI, info.sni);
	cee_ext_put_str(&b, CEE_EXT_ALPN, info.alpn);
	cee_ext_put_str(&b, CEE_EXT_PEER_SUBJECT, info.peer_subject);
	cee_shard_emit(s, c, CEE_EVT_TLS_UP, &b);
	cee_mbox_lifecycle(&s->mbox, s->pool, c, CEE_EVT_TLS_UP);

	const struct cee_app_ops *app = s->cfg->app;
	if (st->service == CEE_TCP_SVC_APP && app && app->established)
		app->established(s->cfg->app_arg, s, c);
}

// The layer's first close cause (alert, close_notify, not TLS at all):
// what it queued goes first, then our FIN.
static void io_close(void *arg, enum cee_reason reason)
{
	struct cee_stack *st = arg;
	if (unlikely(st->dead)) // the connection is gone; the layer finishes its call
		return;
	struct cee_shard *s = st->s;
	// the layer is done: its handshake limit with it
	cee_tcp_set_deadline(&s->tcp, &st->c->tcb, 0, CEE_REASON_NONE);
	if (reason == CEE_REASON_NO_RESOURCES) {
		// part of a record may be queued already: no FIN after it, an RST
		s->stats.tls_send_fail++;
		cee_tcp_abort(&s->tcp, &st->c->tcb, reason, s->now_ns);
		return;
	}
	cee_tcp_close(&s->tcp, &st->c->tcb, reason, s->now_ns);
}

static struct cee_stack *stack_alloc(struct cee_shard *s)
{
	struct cee_stack *st = s->stack_free;
	if (st == NULL)
		return NULL;
	s->stack_free = st->next;
	memset(st, 0, sizeof(*st));
	st->s = s;
	return st;
}

static void stack_free(struct cee_shard *s, struct cee_stack *st)
{
	st->next = s->stack_free;
	s->stack_free = st;
}

static struct cee_tls *layer_new(struct cee_shard *s, struct cee_stack *st,
				 struct cee_tls_ctx *ctx, const char *sni)
{
	const struct cee_layer_io io = {
	    .down = io_down,
	    .up = io_up,
	    .milestone = io_milestone,
	    .close = io_close,
	    .arg = st,
	};
	struct cee_tls *t = cee_tls_new(ctx, &io, sni);
	if (t == NULL)
		s->stats.tls_no_layer++;
	return t;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

void cee_shard_tls_established(struct cee_shard *s, struct cee_conn *c)
{
	struct cee_stack *st = c->tcb.user;

	if (st == NULL) { // a tls: listener's connection: its layer starts now
		st = stack_alloc(s);
		if (st != NULL) {
			st->c = c;
			st->service = s->cfg->listeners[c->listener].service;
			st->tls = layer_new(s, st, s->tls_srv, NULL);
			if (st->tls == NULL) {
				stack_free(s, st);
				st = NULL;
			}
		}
		if (st == NULL) {
			cee_tcp_abort(&s->tcp, &c->tcb, CEE_REASON_NO_RESOURCES, s->now_ns);
			return;
		}
		c->tcb.user = st;
	} else if (cee_tls_start(st->tls) < 0) { // an active open: ClientHello
		cee_tcp_abort(&s->tcp, &c->tcb, CEE_REASON_NO_RESOURCES, s->now_ns);
		return;
	}
	uint64_t limit = s->cfg->tcp.handshake_timeout_ns;
	if (limit)
		cee_tcp_set_deadline(&s->tcp, &c->tcb, s->now_ns + limit,
				     CEE_REASON_HANDSHAKE_TIMEOUT);
}

// Around every call into the layer: the connection may be aborted and
// destroyed from inside it (outside TCP's callbacks an abort is at once);
// its stack and layer are then freed when the call returns.
static inline void layer_enter(struct cee_stack *st)
{
	st->depth++;
}

// @return false when the connection went away during the call (@p st is
// freed once the outermost call returns).
static bool layer_leave(struct cee_shard *s, struct cee_stack *st)
{
	if (likely(!st->dead)) {
		st->depth--;
		return true;
	}
	if (--st->depth == 0) {
		cee_tls_free(st->tls);
		stack_free(s, st);
	}
	return false;
}

// TLS input, timed: one TSC read each side gives what a handshake costs
// this shard's loop, and what the budget counts.
static void tls_input(struct cee_shard *s, struct cee_stack *st, const uint8_t *data,
		      uint32_t len)
{
	bool handshake = !st->up; // the input that completes it is handshake work too
	uint64_t t0 = rte_rdtsc();
	layer_enter(st);
	cee_tls_input(st->tls, data, len); // outcomes come back through the io calls
	uint64_t d = rte_rdtsc() - t0;
	s->stats.tls_tsc += d;
	if (d > s->stats.tls_max_tsc)
		s->stats.tls_max_tsc = d;
	if (d > s->ms_tsc)
		s->stats.tls_over_1ms++;
	if (handshake)
		s->tls_spent_tsc += d;
	layer_leave(s, st);
}

static void pend_unlink(struct cee_shard *s, struct cee_stack *st)
{
	struct cee_stack **pp = &s->pend_head, *prev = NULL;
	while (*pp != st) {
		prev = *pp;
		pp = &(*pp)->pend_next;
	}
	*pp = st->pend_next;
	if (s->pend_tail == st)
		s->pend_tail = prev;
	st->pend_next = NULL;
	s->stage_free[s->nstage_free++] = st->pend;
	st->pend = NULL;
	st->pend_len = 0;
}

// Run a stack's deferred bytes now (they stay in order before any newer ones).
static void pend_run(struct cee_shard *s, struct cee_stack *st)
{
	uint8_t buf[STAGE_SIZE];
	uint32_t n = st->pend_len;
	memcpy(buf, st->pend, n); // the staging buffer goes back before the input runs
	pend_unlink(s, st);
	tls_input(s, st, buf, n);
}

// Keep handshake bytes for a later iteration. @return false when there is
// no room (no staging buffer, or more than one holds).
static bool pend_add(struct cee_shard *s, struct cee_stack *st, const uint8_t *data,
		     uint32_t len)
{
	if (st->pend == NULL) {
		if (s->nstage_free == 0 || len > STAGE_SIZE)
			return false;
		st->pend = s->stage_free[--s->nstage_free];
		st->pend_next = NULL;
		if (s->pend_tail)
			s->pend_tail->pend_next = st;
		else
			s->pend_head = st;
		s->pend_tail = st;
	} else if (st->pend_len + len > STAGE_SIZE) {
		return false;
	}
	memcpy(st->pend + st->pend_len, data, len);
	st->pend_len += len;
	return true;
}

void cee_shard_tls_recv(struct cee_shard *s, struct cee_conn *c, const uint8_t *data,
			uint32_t len)
{
	struct cee_stack *st = c->tcb.user;
	if (unlikely(st == NULL || st->quiet)) // no layer (aborting), or closed already
		return;
	// A handshake beyond this iteration's budget waits for the next one
	// (and anything behind bytes that wait, waits too: order is kept), except
	// the bytes of a segment that ends the stream: they run before TCP acts
	// on its FIN or RST.
	if (unlikely(st->pend != NULL ||
		     (!st->up && !s->tls_no_defer && s->tls_budget_tsc &&
		      s->tls_spent_tsc >= s->tls_budget_tsc))) {
		if (s->tls_no_defer) {
			pend_run(s, st);
			if (c->tcb.user != st) // it ended while the old bytes ran
				return;
			tls_input(s, st, data, len);
			return;
		}
		if (pend_add(s, st, data, len)) {
			s->stats.tls_deferred++;
			return;
		}
		s->stats.tls_over_budget++;
		if (st->pend != NULL)
			pend_run(s, st);
	}
	tls_input(s, st, data, len);
}

void cee_shard_tls_flush(struct cee_shard *s, struct cee_conn *c)
{
	struct cee_stack *st = c->tcb.user;
	if (st != NULL && st->pend != NULL)
		pend_run(s, st);
}

unsigned cee_shard_tls_poll(struct cee_shard *s)
{
	unsigned n = 0;
	s->tls_spent_tsc = 0;
	while (s->pend_head != NULL && (s->tls_budget_tsc == 0 || s->tls_spent_tsc < s->tls_budget_tsc)) {
		struct cee_stack *st = s->pend_head;
		// outside TCP's callbacks: what the layer sends goes out at once
		pend_run(s, st);
		n++;
	}
	return n;
}

uint64_t cee_shard_conn_bytes_in(const struct cee_conn *c)
{
	const struct cee_stack *st = c->tcb.user;
	return st ? st->plain_in : c->tcb.bytes_in;
}

void cee_shard_tls_closed(struct cee_shard *s, struct cee_conn *c)
{
	struct cee_stack *st = c->tcb.user;
	if (st == NULL) { // closed before its layer started (TCP handshake, no slot)
		cee_shard_emit(s, c, CEE_EVT_CLOSED, NULL);
		return;
	}
	// the layer's handshake limit ends with the connection (it would cut
	// TIME-WAIT or FIN-WAIT short)
	cee_tcp_set_deadline(&s->tcp, &c->tcb, 0, CEE_REASON_NONE);
	// deferred bytes came before the end: the layer sees them first
	if (st->pend != NULL) {
		if (c->tcb.close_reason == CEE_REASON_PEER_FIN)
			pend_run(s, st);
		else
			pend_unlink(s, st);
	}
	// the peer's FIN ended the stream: without close_notify it is a truncation
	if (c->tcb.close_reason == CEE_REASON_PEER_FIN)
		cee_tls_eof(st->tls);
	st->quiet = true; // closed: no tls_up, no plaintext after it
	struct cee_tls_info info;
	cee_tls_get_info(st->tls, &info);
	struct cee_ext_builder b;
	cee_ext_begin(&b, c->id, CEE_EVT_CLOSED);
	if (info.alert != 0) {
		cee_ext_put_u8(&b, CEE_EXT_ALERT, info.alert);
		cee_ext_put_u8(&b, CEE_EXT_ALERT_BY, info.alert_local);
	}
	if (info.truncated)
		cee_ext_put_u8(&b, CEE_EXT_TLS_TRUNCATED, 1);
	cee_shard_emit(s, c, CEE_EVT_CLOSED, &b);
}

void cee_shard_tls_destroyed(struct cee_shard *s, struct cee_conn *c)
{
	struct cee_stack *st = c->tcb.user;
	if (st->pend != NULL)
		pend_unlink(s, st);
	c->tcb.user = NULL;
	if (st->depth > 0) { // an abort from inside the layer's own call: freed when it returns
		st->dead = true;
		return;
	}
	cee_tls_free(st->tls);
	stack_free(s, st);
}

/* ---- the app's calls (cee-bench's generator, embedders) ----------------------------------- */

int cee_shard_tls_send(struct cee_shard *s, struct cee_conn *c, const void *data, uint32_t len)
{
	struct cee_stack *st = c->tcb.user;
	if (!st->up || st->quiet || st->in_down) // not up, closed, or from inside wolfSSL
		return -ENOTCONN;
	layer_enter(st);
	int rc = cee_tls_send(st->tls, data, len);
	if (rc > 0)
		st->plain_out += (uint32_t)rc;
	return layer_leave(s, st) ? rc : -ENOTCONN;
}

bool cee_shard_tls_close(struct cee_shard *s, struct cee_conn *c, enum cee_reason reason)
{
	struct cee_stack *st = c->tcb.user;
	(void)reason;
	if (st->quiet)
		return true;
	if (!st->up) {
		// closed before the handshake was done: the layer stops here (no
		// tls_up after our FIN, no deferred work charged to the budget)
		st->quiet = true;
		if (st->pend != NULL)
			pend_unlink(s, st);
		return true;
	}
	if (st->in_down)
		return true; // from inside wolfSSL: TCP's FIN follows what it sends
	layer_enter(st);
	cee_tls_shutdown(st->tls);
	return layer_leave(s, st);
}

struct cee_tls *cee_shard_tls(struct cee_conn *c)
{
	const struct cee_stack *st = c->tcb.user;
	return st ? st->tls : NULL;
}

struct cee_conn *cee_shard_connect_tls(struct cee_shard *s, unsigned pi, uint32_t dst_ip,
				       uint16_t dst_port, const char *sni,
				       const struct cee_tls_session *session)
{
	if (s->tls_cli == NULL) {
		s->stats.connect_fail++;
		errno = ENOTSUP;
		return NULL;
	}
	struct cee_stack *st = stack_alloc(s);
	if (st == NULL) {
		s->stats.connect_fail++;
		errno = ENOSPC;
		return NULL;
	}
	st->client = true;
	st->service = CEE_TCP_SVC_APP;
	st->tls = layer_new(s, st, s->tls_cli, sni);
	if (st->tls == NULL) {
		int e = errno;
		stack_free(s, st);
		s->stats.connect_fail++;
		errno = e;
		return NULL;
	}
	if (session != NULL)
		(void)cee_tls_set_session(st->tls, session); // a full handshake if refused
	struct cee_conn *c = cee_shard_open_active(s, pi, dst_ip, dst_port, CEE_TCP_SVC_APP,
						   CEE_PROTO_TLS, st);
	if (c == NULL) {
		int e = errno;
		cee_tls_free(st->tls);
		stack_free(s, st);
		errno = e;
		return NULL;
	}
	st->c = c;
	return c;
}
