/* SPDX-License-Identifier: BSD-3-Clause */
// The layer stack above TCP on a shard (../shared/design.md, "The
// per-connection layer stack"): tcp, then optionally tls (tls/, sans I/O),
// then optionally ws (dataplane/ws/, sans I/O), then the service. Bytes go
// up through each layer's input and come back down through the layer
// above's send; each layer reports its milestone and its first close cause
// here, and this file turns them into the connection's lifecycle (tls_up,
// ws_up with their extensions, closed with the layers' outcome), so events
// are still emitted in one place per connection.
//
// Connections with layers run TCP's paced service: the receive window is
// the send buffer's free room, so an echo never has to write more than the
// buffer holds.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_branch_prediction.h>
#include <rte_cycles.h>
#include <rte_debug.h>

#include "cee_shard_priv.h"
#include "cee_tls.h"
#include "cee_ws.h"

// Deferred handshake bytes: a ClientHello (or a client's certificate
// flight) fits in a few KiB; larger inputs run at once.
#define STAGE_SIZE 4096
#define STAGE_COUNT 256

// A shard's WebSocket settings for @p max_conns connections.
static struct cee_ws_cfg ws_cfg(const struct cee_engine_cfg *ecfg, uint32_t max_conns)
{
	struct cee_ws_cfg cfg = ecfg->ws;
	cfg.max_conns = max_conns;
	// buffers hold only upgrades and messages split across segments: a few
	// per thousand connections, not one each (64 KiB each by default)
	if (cfg.buffers == 0)
		cfg.buffers = max_conns / 64 + 16 < 1024 ? max_conns / 64 + 16 : 1024;
	// an echo writes a message back whole: it must fit the send buffer
	if (cfg.max_message == 0) {
		uint32_t fit = (ecfg->tcp.sndbuf - 32) / 2;
		cfg.max_message = cfg.max_frame = fit < 65536 ? fit : 65536;
	}
	return cfg;
}

uint64_t cee_stack_pool_bytes(const struct cee_engine_cfg *cfg, uint32_t per_shard)
{
	bool ws_srv, ws_cli;
	if (!cee_engine_cfg_layers(cfg, NULL, &ws_srv, NULL, &ws_cli))
		return 0;
	struct cee_ws_cfg w = ws_cfg(cfg, per_shard);
	return (uint64_t)(ws_srv + ws_cli) * cee_ws_ctx_buffer_bytes(&w);
}

static struct cee_ws_ctx *ws_ctx_create(struct cee_shard *s, uint32_t max_conns)
{
	struct cee_ws_cfg cfg = ws_cfg(s->cfg, max_conns);
	char err[256] = "";
	// client keys and masks: the context's key comes from getrandom() (seed 0)
	struct cee_ws_ctx *ctx = cee_ws_ctx_create(&cfg, err, sizeof(err));
	if (ctx == NULL) {
		int e = errno ? errno : EINVAL;
		fprintf(stderr, "cee: shard %u: WebSocket: %s\n", s->id, err[0] ? err : strerror(e));
		errno = e;
	}
	return ctx;
}

static struct cee_tls_ctx *ctx_create(struct cee_shard *s, const struct cee_tls_cfg *base,
				      bool server, uint32_t max_conns)
{
	struct cee_tls_cfg cfg = *base;
	char err[256] = "";
	cfg.max_conns = max_conns;
	struct cee_tls_ctx *ctx = cee_tls_ctx_create(&cfg, server, err, sizeof(err));
	explicit_bzero(cfg.ticket_key, sizeof(cfg.ticket_key)); // (the ratchet has begun from it)
	if (ctx == NULL) {
		int e = errno ? errno : EINVAL;
		fprintf(stderr, "cee: shard %u: TLS %s: %s\n", s->id, server ? "server" : "client",
			err[0] ? err : strerror(e));
		errno = e;
	}
	return ctx;
}

int cee_stack_init(struct cee_shard *s, uint32_t per_shard)
{
	const struct cee_engine_cfg *cfg = s->cfg;
	bool srv, cli, ws_srv, ws_cli;
	if (!cee_engine_cfg_layers(cfg, &srv, &ws_srv, &cli, &ws_cli))
		return 0;
	if (srv && (s->tls_srv = ctx_create(s, &cfg->tls, true, per_shard)) == NULL)
		return -errno;
	if (cli && (s->tls_cli = ctx_create(s, &cfg->tls_client, false, per_shard)) == NULL)
		return -errno;
	if (ws_srv && (s->ws_srv = ws_ctx_create(s, per_shard)) == NULL)
		return -errno;
	if (ws_cli && (s->ws_cli = ws_ctx_create(s, per_shard)) == NULL)
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

void cee_stack_tls_tick(struct cee_shard *s)
{
	if (s->tls_srv != NULL)
		cee_tls_ctx_tick(s->tls_srv);
}

void cee_stack_tls_reload(struct cee_shard *s)
{
	struct cee_tls_ctx *ctx[2] = {s->tls_srv, s->tls_cli};
	const struct cee_tls_cfg *cfg[2] = {&s->cfg->tls, &s->cfg->tls_client};
	for (unsigned k = 0; k < 2; k++) {
		char err[256];
		if (ctx[k] == NULL)
			continue;
		if (cee_tls_ctx_reload(ctx[k], cfg[k], err, sizeof(err)) < 0)
			fprintf(stderr,
				"cee: shard %u: TLS %s files not reloaded, the running ones stay: %s\n",
				s->id, k == 0 ? "server" : "client", err);
		else if (s->id == 0)
			fprintf(stderr, "cee: TLS %s files reloaded\n", k == 0 ? "server" : "client");
	}
}

void cee_stack_fini(struct cee_shard *s)
{
	cee_tls_ctx_destroy(s->tls_srv);
	cee_tls_ctx_destroy(s->tls_cli);
	cee_ws_ctx_destroy(s->ws_srv);
	cee_ws_ctx_destroy(s->ws_cli);
	s->tls_srv = s->tls_cli = NULL;
	s->ws_srv = s->ws_cli = NULL;
	free(s->stacks);
	free(s->stage_block);
	free(s->stage_free);
	s->stacks = NULL;
	s->stack_free = NULL;
	s->stage_block = NULL;
	s->stage_free = NULL;
	s->nstage_free = 0;
}

/* ---- the layers' calls back into the stack ----------------------------------------------- */

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

// Around every call into a layer: the connection may be aborted and
// destroyed from inside it (outside TCP's callbacks an abort is at once);
// its stack and layers are then freed when the outermost call returns.
static inline void layer_enter(struct cee_stack *st)
{
	st->depth++;
}

static void layers_free(struct cee_stack *st)
{
	if (st->tls != NULL)
		cee_tls_free(st->tls);
	if (st->ws != NULL)
		cee_ws_free(st->ws);
	st->tls = NULL;
	st->ws = NULL;
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
		layers_free(st);
		stack_free(s, st);
	}
	return false;
}

// The WebSocket layer's next deadline (pings, pong and close timeouts),
// once the stack is up; before, the handshake limit stands.
static void ws_rearm(struct cee_stack *st)
{
	if (st->ws != NULL && st->up && !st->dead && !st->quiet && !st->closing)
		cee_tcp_set_deadline(&st->s->tcp, &st->c->tcb, cee_ws_deadline(st->ws),
				     CEE_REASON_NONE);
}

// Ciphertext or frames for TCP.
static int tcp_down(struct cee_stack *st, const uint8_t *data, uint32_t len)
{
	// inside a layer's send: what TCP reports meanwhile (closed, to the
	// app) must not call into the layers again
	st->in_down = true;
	int rc = cee_tcp_send(&st->s->tcp, &st->c->tcb, data, len, st->s->now_ns);
	st->in_down = false;
	if (rc >= 0 && rc != (int)len)
		st->down_short = true; // part of a record or frame is queued
	// (< 0: nothing queued; -ENOTCONN: TCP closed for sending)
	return rc;
}

// A message (or plaintext) from the service down through the top layer.
// (Counted once it went: a send that fails may reset the connection, and
// report closed, from inside it, which must not count it. One that TCP
// sends with our FIN, reporting closed from inside the send, is missed:
// a corner of the application service over plain WebSocket.)
static int top_send(struct cee_stack *st, const uint8_t *data, uint32_t len, bool text)
{
	int rc = st->ws != NULL ? cee_ws_send(st->ws, data, len, text, st->s->now_ns)
				: cee_tls_send(st->tls, data, len);
	if (rc > 0)
		st->plain_out += (uint32_t)rc;
	return rc;
}

// The service closes: WebSocket says Close and waits for the peer's (its
// io.close then closes TCP); TLS says close_notify. @return true when TCP
// closes now (after what the layers sent).
static bool top_shutdown(struct cee_stack *st, uint16_t ws_code)
{
	if (st->ws != NULL) {
		cee_ws_shutdown(st->ws, ws_code, "", st->s->now_ns);
		// waiting for the peer's Close (its timeout armed), or the layer
		// already ended without a word (a failed send): then TCP closes now
		if (cee_ws_deadline(st->ws) == 0)
			return true;
		ws_rearm(st);
		return false;
	}
	cee_tls_shutdown(st->tls);
	return true;
}

// Our last words (close_notify, a Close frame) before a close of ours did
// not fit the send buffer whole: an RST, not a FIN after a cut record
// (the peer would read a truncated stream). @return whether it was cut.
static bool close_cut(struct cee_stack *st, enum cee_reason reason)
{
	// (not when the layer's own close already reset it: layer_close()
	// counted it, and its abort waits for the running TCP call to end)
	if (!st->down_short || st->dead || (st->c->tcb.uflags & CEE_TCB_U_ABORT))
		return false;
	st->s->stats.layer_send_fail++;
	cee_tcp_abort(&st->s->tcp, &st->c->tcb, reason, st->s->now_ns);
	return true;
}

// Our last words went with our FIN (the idle timeout's Close frame and
// close_notify; a TLS close): the peer owes its answer (RFC 6455 5.5.1, a
// Close; RFC 8446 6.1, close_notify), which comes after our FIN and is
// read, not reset by TCP (abort_on_data), until the layer has it
// (answered()). Not when the layer already ended (nothing left to read).
static void await_answer(struct cee_stack *st)
{
	if (st->down_short || (st->c->tcb.uflags & CEE_TCB_U_ABORT))
		return;
	// for as long as a WebSocket Close of ours waits for the peer's (5 s):
	// a peer that writes on and never answers (a SIP server's keepalives
	// after a link's idle timeout) is reset at its next byte after that
	// (cee_stack_deadline()), not held to FIN-WAIT-2's limit
	st->c->tcb.oflags |= CEE_TCB_O_READS_ON;
	cee_tcp_set_deadline(&st->s->tcp, &st->c->tcb,
			     st->s->now_ns + st->s->cfg->ws.close_timeout_ns, CEE_REASON_NONE);
}

// The layer that awaited the peer's answer has it (or ended): data after
// it is new again, and resets (abort_on_data).
static void answered(struct cee_stack *st)
{
	st->c->tcb.oflags &= (uint8_t)~CEE_TCB_O_READS_ON;
}

// Answers of the echo services: records and frames cannot be taken back,
// so a send buffer without room (the paced window makes it rare) ends the
// connection with no_resources rather than losing bytes silently. Data
// that comes after our Close frame (-ENOTCONN: the peer may still send,
// nothing answers it) goes nowhere: the close goes on. (It was counted as
// a send failure and the connection reset.) After our close_notify and
// FIN, TCP resets at such data (abort_on_data): it never comes here.
static void echo(struct cee_stack *st, const uint8_t *data, uint32_t len, bool text)
{
	struct cee_shard *s = st->s;
	int rc = top_send(st, data, len, text);
	if (rc < 0 && rc != -ENOTCONN) {
		s->stats.layer_send_fail++;
		cee_tcp_abort(&s->tcp, &st->c->tcb, CEE_REASON_NO_RESOURCES, s->now_ns);
	}
}

// Plaintext, or a WebSocket message, for the service.
static void service_up(struct cee_stack *st, const uint8_t *data, uint32_t len, bool text)
{
	struct cee_shard *s = st->s;
	const struct cee_app_ops *app = s->cfg->app;

	st->plain_in += len;
	switch ((enum cee_tcp_service)st->service) {
	case CEE_TCP_SVC_ECHO:
		echo(st, data, len, text);
		return;
	case CEE_TCP_SVC_ECHO_CLOSE:
		// as over TCP: the first data goes back, then this side closes
		if (st->echoed)
			return;
		st->echoed = true;
		echo(st, data, len, text);
		if (st->dead)
			return;
		bool close_now = top_shutdown(st, CEE_WS_NORMAL);
		// (a Close frame that did not fit ended the connection inside:
		// aborted at once when this runs outside TCP's callbacks, a
		// deferred handshake's input from cee_stack_poll())
		if (st->dead)
			return;
		if (close_now && !close_cut(st, CEE_REASON_LOCAL_CLOSE)) {
			if (st->tls != NULL) // (close_notify, then our FIN)
				await_answer(st);
			cee_tcp_close(&s->tcp, &st->c->tcb, CEE_REASON_LOCAL_CLOSE, s->now_ns);
		} else if (!close_now) // our Close frame is out: this side closed first, however it
				       // ends
			cee_tcp_set_close_reason(&st->c->tcb, CEE_REASON_LOCAL_CLOSE);
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

// The top layer is up: the handshake limit is off, the app hears of it.
static void top_up(struct cee_stack *st)
{
	struct cee_shard *s = st->s;
	st->up = true;
	cee_tcp_set_deadline(&s->tcp, &st->c->tcb, 0, CEE_REASON_NONE);
	ws_rearm(st);
	const struct cee_app_ops *app = s->cfg->app;
	if (unlikely(st->c->link != 0))
		cee_shard_link_up(s, st->c); // a link's attempt: link_up after tls_up / ws_up
	else if (st->service == CEE_TCP_SVC_APP && app && app->established)
		app->established(s->cfg->app_arg, s, st->c);
}

// A layer's first close cause (an alert, close_notify, a Close frame, a
// refused upgrade, not TLS or not WebSocket at all): what it queued goes
// first, then our FIN.
static void layer_close(struct cee_stack *st, enum cee_reason reason)
{
	struct cee_shard *s = st->s;
	// the layers are done: their timers with them (and a WebSocket over a
	// TLS that ended holds no reassembly buffer from others: the message it
	// waited for can never come)
	st->closing = true;
	if (st->ws != NULL)
		cee_ws_below_gone(st->ws);
	// (but not the bound on the wait for the peer's answer to our close,
	// await_answer()'s: cleared, a wss peer writing on without its
	// close_notify after our Close was held to FIN-WAIT-2's 60 s, not 5)
	if (!(st->c->tcb.oflags & CEE_TCB_O_READS_ON))
		cee_tcp_set_deadline(&s->tcp, &st->c->tcb, 0, CEE_REASON_NONE);
	if (st->down_short) {
		// part of a record or frame is queued (a pool ran out, or an
		// error Close or echoed Close that the send buffer took only in
		// part): no FIN after it, which would end the stream inside a
		// frame (RFC 6455 5.2), but an RST
		s->stats.layer_send_fail++;
		cee_tcp_abort(&s->tcp, &st->c->tcb, reason, s->now_ns);
		return;
	}
	if (reason == CEE_REASON_WS_PING_TIMEOUT) {
		// no Pong within --ws-pong-timeout: the peer is taken for gone,
		// as by a keepalive timeout, and reset. A FIN to a peer that had
		// vanished (a phone off the network) waited for the retransmission
		// timeout, minutes, before closed told the control plane what the
		// pings had found out
		cee_tcp_abort(&s->tcp, &st->c->tcb, reason, s->now_ns);
		return;
	}
	// (a pool ran out but what the layer said went whole, e.g. a Close 1013
	// or a 503: it goes, then our FIN)
	cee_tcp_close(&s->tcp, &st->c->tcb, reason, s->now_ns);
}

// A layer's milestone (tls_up, ws_up) with its extension, on the
// connection's one lifecycle path: the event, then the mailbox's view.
static void milestone(struct cee_shard *s, struct cee_conn *c, enum cee_evt_type type,
		      struct cee_ext_builder *b)
{
	cee_shard_emit(s, c, type, b);
	cee_mbox_lifecycle(&s->mbox, s->pool, c, type);
}

/* TLS */

static int tls_io_down(void *arg, const uint8_t *data, uint32_t len)
{
	struct cee_stack *st = arg;
	if (unlikely(st->dead)) // the connection is gone; the layer finishes its call
		return -ENOTCONN;
	return tcp_down(st, data, len);
}

static void tls_io_up(void *arg, const uint8_t *data, uint32_t len)
{
	struct cee_stack *st = arg;
	if (unlikely(st->dead || st->quiet)) // gone or closed: the layer finishes its call
		return;
	if (st->ws != NULL) {
		cee_ws_input(st->ws, data, len, st->s->now_ns);
		ws_rearm(st);
		return;
	}
	service_up(st, data, len, false);
}

static void tls_io_milestone(void *arg, enum cee_evt_type type)
{
	struct cee_stack *st = arg;
	// gone, closed, or closed by the app before the handshake was done:
	// tls_up never comes after closed
	if (unlikely(st->dead || st->quiet) || type != CEE_EVT_TLS_UP || st->tls_up)
		return;
	struct cee_shard *s = st->s;
	struct cee_conn *c = st->c;
	st->tls_up = true;

	struct cee_tls_info info;
	cee_tls_get_info(st->tls, &info);
	struct cee_ext_builder b;
	cee_ext_begin(&b, c->id, CEE_EVT_TLS_UP);
	cee_ext_tls_up(&b, info.version, info.cipher, info.sni, info.alpn, info.resumed,
		       info.peer_subject);
	milestone(s, c, CEE_EVT_TLS_UP, &b);

	if (st->ws == NULL) {
		top_up(st);
	} else if (st->client && cee_ws_start(st->ws, s->now_ns) < 0) { // wss: the upgrade now
		s->stats.layer_send_fail++;
		cee_tcp_abort(&s->tcp, &c->tcb, CEE_REASON_NO_RESOURCES, s->now_ns);
	}
}

static void tls_io_close(void *arg, enum cee_reason reason)
{
	struct cee_stack *st = arg;
	if (unlikely(st->dead)) // the connection is gone; the layer finishes its call
		return;
	answered(st); // (the peer's close_notify or alert: its last words)
	layer_close(st, reason);
}

/* WebSocket */

static int ws_io_down(void *arg, const uint8_t *data, uint32_t len)
{
	struct cee_stack *st = arg;
	if (unlikely(st->dead))
		return -ENOTCONN;
	if (st->tls != NULL) // wss: frames are TLS plaintext
		return cee_tls_send(st->tls, data, len);
	return tcp_down(st, data, len);
}

static void ws_io_up(void *arg, const uint8_t *data, uint32_t len)
{
	struct cee_stack *st = arg;
	if (unlikely(st->dead || st->quiet))
		return;
	service_up(st, data, len, cee_ws_msg_text(st->ws));
}

static void ws_io_milestone(void *arg, enum cee_evt_type type)
{
	struct cee_stack *st = arg;
	if (unlikely(st->dead || st->quiet) || type != CEE_EVT_WS_UP || st->up)
		return;
	struct cee_shard *s = st->s;
	struct cee_conn *c = st->c;

	struct cee_ws_info info;
	cee_ws_get_info(st->ws, &info);
	struct cee_ext_builder b;
	cee_ext_begin(&b, c->id, CEE_EVT_WS_UP);
	cee_ext_ws_up(&b, info.path, info.subprotocol, info.origin, info.user_agent);
	milestone(s, c, CEE_EVT_WS_UP, &b);
	top_up(st);
}

static void ws_io_close(void *arg, enum cee_reason reason)
{
	struct cee_stack *st = arg;
	if (unlikely(st->dead))
		return;
	// wss: close_notify after the Close frame, before the FIN; also after
	// a Close 1013 or a 503 (no_resources) that went whole: without it the
	// client read a truncation. Not after a frame cut short (down_short):
	// layer_close resets the stream then
	bool words = !st->down_short && reason != CEE_REASON_WS_PING_TIMEOUT;
	if (st->tls != NULL && words) {
		cee_tls_shutdown(st->tls);
		await_answer(st); // (the peer's close_notify follows our FIN)
	} else if (words && (cee_ws_answer_owed(st->ws, st->s->now_ns) ||
			     (reason == CEE_REASON_WS_UPGRADE_FAILED && !st->client))) {
		// ws: our Close went (a protocol error's 1002, 1007 or 1009, a
		// message timeout's 1008, a 1013) with our FIN, and the peer owes
		// its own (RFC 6455 5.5.1): read, not reset (abort_on_data). A
		// browser's answer drew an RST (wasClean false), and a peer still
		// sending the rest of a message too big lost our Close 1009 with
		// its receive queue, reading 1006. Likewise a Pong to our Ping
		// that crossed the peer's Close (a browser answers pings itself:
		// reset, it could lose our Close with its receive queue, and read
		// 1006; ws_mix_2shards' pong clients, 17 of 200 in a CI run), and
		// the rest of a refused
		// upgrade request (a 431's headers still coming: RFC 9112 9.6's
		// lingering close): reset, the client could lose our answer.
		// (A listener's only: links are never WebSocket, so a test of
		// link == 0 let an embedder's WebSocket client linger too.)
		await_answer(st);
	} else {
		answered(st);
	}
	layer_close(st, reason);
}

static struct cee_tls *tls_layer_new(struct cee_shard *s, struct cee_stack *st,
				     struct cee_tls_ctx *ctx, const char *sni)
{
	const struct cee_layer_io io = {
	    .down = tls_io_down,
	    .up = tls_io_up,
	    .milestone = tls_io_milestone,
	    .close = tls_io_close,
	    .arg = st,
	};
	struct cee_tls *t = cee_tls_new(ctx, &io, sni);
	if (t == NULL)
		s->stats.layer_no_state++;
	return t;
}

static const struct cee_layer_io *ws_io(struct cee_stack *st, struct cee_layer_io *io)
{
	*io = (struct cee_layer_io){
	    .down = ws_io_down,
	    .up = ws_io_up,
	    .milestone = ws_io_milestone,
	    .close = ws_io_close,
	    .arg = st,
	};
	return io;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

void cee_stack_established(struct cee_shard *s, struct cee_conn *c)
{
	struct cee_stack *st = c->tcb.user;

	if (st == NULL) { // a listener's connection: its layers start now
		const struct cee_listener *ls = &s->cfg->listeners[c->listener];
		struct cee_layer_io io;
		st = stack_alloc(s);
		if (st != NULL) {
			st->c = c;
			st->service = ls->service;
			if (ls->tls)
				st->tls = tls_layer_new(s, st, s->tls_srv, NULL);
			if (ls->ws && (st->ws = cee_ws_new(s->ws_srv, ws_io(st, &io), s->now_ns)) == NULL)
				s->stats.layer_no_state++;
			if ((ls->tls && st->tls == NULL) || (ls->ws && st->ws == NULL)) {
				layers_free(st);
				stack_free(s, st);
				st = NULL;
			}
		}
		if (st == NULL) {
			cee_tcp_abort(&s->tcp, &c->tcb, CEE_REASON_NO_RESOURCES, s->now_ns);
			return;
		}
		c->tcb.user = st;
	} else { // an active open: ClientHello, or the upgrade request
		int rc = st->tls != NULL ? cee_tls_start(st->tls) : cee_ws_start(st->ws, s->now_ns);
		if (rc < 0) {
			s->stats.layer_send_fail++; // (its first words did not go, as a record mid-way)
			cee_tcp_abort(&s->tcp, &c->tcb, CEE_REASON_NO_RESOURCES, s->now_ns);
			return;
		}
	}
	// the TLS handshake and the upgrade must be done within this; a
	// WebSocket listener's upgrade is bounded by --ws-message-timeout even
	// with no handshake limit (--handshake-timeout 0): a request begun
	// holds one of the shard's few reassembly buffers, and a client that
	// trickled a byte now and then held it for good (other clients' split
	// messages then got 1013)
	uint64_t limit = s->cfg->tcp.handshake_timeout_ns;
	if (limit == 0 && st->ws != NULL && c->listener != CEE_CONN_ACTIVE)
		limit = s->cfg->ws.message_timeout_ns;
	// an active open (a link's attempt) is never without one: a server that
	// accepted TCP and then said nothing (a plain SIP/TCP port, a hung TLS
	// stack) kept the attempt `connecting` for ever, its keepalive probes
	// answered, never retried
	if (limit == 0 && c->listener == CEE_CONN_ACTIVE)
		limit = CEE_ACTIVE_HANDSHAKE_NS;
	if (limit)
		cee_tcp_set_deadline(&s->tcp, &c->tcb, s->now_ns + limit,
				     CEE_REASON_HANDSHAKE_TIMEOUT);
}

// TLS input, timed: one TSC read each side gives what a handshake costs
// this shard's loop, and what the budget counts.
static void tls_input(struct cee_shard *s, struct cee_stack *st, const uint8_t *data,
		      uint32_t len)
{
	if (st->tls == NULL) { // ws: frames straight from TCP
		layer_enter(st);
		cee_ws_input(st->ws, data, len, s->now_ns);
		ws_rearm(st);
		layer_leave(s, st);
		return;
	}
	// the input that completes a TLS handshake is handshake work too
	bool handshake = !st->tls_up;
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

// Whether @p st's next input waits: bytes already wait (order is kept), or
// a handshake comes beyond this iteration's budget. Not for bytes of a
// handshake that already failed (closing): they take no staging buffer.
static bool defer_input(const struct cee_shard *s, const struct cee_stack *st)
{
	return st->pend != NULL ||
	       (st->tls != NULL && !st->tls_up && !st->closing && !s->tls_no_defer &&
		s->tls_budget_tsc && s->tls_spent_tsc >= s->tls_budget_tsc);
}

/*
 * The send-buffer room a layered connection's receive window leaves aside
 * (TCP's paced_keep): until the top layer is up, a quarter of the buffer,
 * for the handshake flight or the upgrade's answer. Then, for an echo,
 * what it will write for input its layers hold unanswered (a TLS record,
 * a WebSocket message not yet whole: each goes back whole, at once, when
 * it is) and PACED_RESERVE for words of its own (close_notify, a Close
 * frame). Without the held input, a window of the free room let a peer
 * complete a 16 KiB record into a buffer that had room for part of it:
 * the echo could not be written and the connection was reset
 * (no_resources) though the peer kept to its window. Never more than
 * 7/8 of the buffer: a peer whose framing keeps more held than that (a
 * wss record ending one large message and beginning another) is still
 * given a window, at the risk of that reset, rather than none for good.
 * Other services (discard, the application's) keep the quarter.
 */
#define PACED_RESERVE 512
uint32_t cee_stack_paced_keep(const struct cee_conn *c, uint32_t buff)
{
	const struct cee_stack *st = c->tcb.user;
	if (st == NULL || !st->up ||
	    (st->service != CEE_TCP_SVC_ECHO && st->service != CEE_TCP_SVC_ECHO_CLOSE))
		return buff / 4;
	uint64_t keep = PACED_RESERVE;
	if (st->tls != NULL)
		keep += cee_tls_held(st->tls);
	if (st->ws != NULL)
		keep += cee_ws_held(st->ws);
	return keep < buff - buff / 8 ? (uint32_t)keep : buff - buff / 8;
}

/*
 * Asked by TCP before it takes an in-order segment (not one with FIN: that
 * one runs at once, cee_stack_end_unanswered()). A handshake input that
 * must wait and finds no staging room (none free, or this connection's
 * full: a ClientHello padded past 4 KiB) is not taken: the peer sends it
 * again, and the budget holds against it too. It used to run at once, past
 * the budget: a client could buy unbounded handshake work per iteration
 * by padding its hello. A segment above a staging buffer (a jumbo frame's)
 * could never be staged: it runs at once (tls_over_budget), as does a
 * link's (we chose its server).
 */
bool cee_stack_recv_room(struct cee_shard *s, struct cee_conn *c, uint32_t len)
{
	const struct cee_stack *st = c->tcb.user;
	if (st == NULL || st->quiet || st->drop_input || st->client || s->tls_no_defer ||
	    !defer_input(s, st) || len > STAGE_SIZE)
		return true;
	if (st->pend != NULL ? st->pend_len + len <= STAGE_SIZE : s->nstage_free > 0)
		return true; // it is staged
	s->stats.tls_held_back++;
	return false;
}

void cee_stack_recv(struct cee_shard *s, struct cee_conn *c, const uint8_t *data, uint32_t len)
{
	struct cee_stack *st = c->tcb.user;
	if (unlikely(st == NULL || st->quiet)) // no layer (aborting), or closed already
		return;
	if (unlikely(st->drop_input)) {
		// a segment that may end the handshake unanswered: its bytes wait
		// (staged) until TCP has judged its FIN (dropped with the FIN, run
		// in order without it); no room: gone with the rest
		if (!pend_add(s, st, data, len))
			s->stats.tls_over_budget++;
		return;
	}
	// A handshake beyond this iteration's budget waits for the next one
	// (and anything behind bytes that wait, waits too: order is kept), except
	// the bytes of a segment that ends the stream: they run before TCP acts
	// on its FIN or RST (tls_no_defer).
	if (unlikely(defer_input(s, st))) {
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

/*
 * A segment that ends the peer's stream (FIN) or the connection (RST) runs
 * its bytes, and those staged before it, at once, past the handshake budget,
 * so that the close's first cause is what came first on the wire. A
 * ClientHello sent with the FIN would so skip the queue every other
 * handshake waits in, for a handshake that can never complete (the peer
 * cannot send its Finished after its FIN). While the budget is spent, a
 * server that has not answered yet does no work for it: the bytes are
 * dropped (tls_unanswered), and the close goes on (peer_fin, or peer_rst).
 */
bool cee_stack_end_unanswered(struct cee_shard *s, struct cee_conn *c)
{
	struct cee_stack *st = c->tcb.user;
	if (st == NULL || st->tls == NULL || st->tls_up || st->closing || st->quiet ||
	    st->client || cee_tls_said(st->tls))
		return false;
	if (st->drop_input)
		return true; // decided at an earlier FIN (a retransmission now)
	if (s->tls_budget_tsc == 0 || s->tls_spent_tsc < s->tls_budget_tsc)
		return false;
	// held until TCP has judged the segment (cee_stack_end_unanswered_after)
	st->drop_input = true;
	s->stats.tls_unanswered++;
	return true;
}

void cee_stack_end_unanswered_after(struct cee_shard *s, cee_conn_id_t id)
{
	struct cee_conn *c = cee_conn_by_id(s->pool, id);
	if (c == NULL) // an RST TCP took: gone, its staged bytes with it
		return;
	struct cee_stack *st = c->tcb.user;
	if (st == NULL || !st->drop_input)
		return;
	if (c->tcb.flags & CEE_TCB_F_FIN_RCVD) {
		// TCP took the FIN: no Finished can follow it, drop what waits
		if (st->pend != NULL)
			pend_unlink(s, st);
		return;
	}
	// TCP did not take it (out of window, PAWS, a bad ACK, an RST not at
	// RCV.NXT): the handshake goes on, its bytes (kept staged) in order
	st->drop_input = false;
	s->stats.tls_unanswered--;
}

void cee_stack_flush(struct cee_shard *s, struct cee_conn *c)
{
	struct cee_stack *st = c->tcb.user;
	if (st != NULL && st->pend != NULL)
		pend_run(s, st);
}

unsigned cee_stack_poll(struct cee_shard *s)
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

uint64_t cee_shard_conn_bytes_out(const struct cee_conn *c)
{
	const struct cee_stack *st = c->tcb.user;
	return st ? st->plain_out : c->tcb.bytes_out;
}

void cee_stack_closed(struct cee_shard *s, struct cee_conn *c)
{
	struct cee_stack *st = c->tcb.user;
	if (st == NULL) { // closed before its layers started (TCP handshake, no slot)
		cee_shard_emit(s, c, CEE_EVT_CLOSED, NULL);
		return;
	}
	// the layers' timers end with the connection (they would cut TIME-WAIT
	// or FIN-WAIT short)
	cee_tcp_set_deadline(&s->tcp, &c->tcb, 0, CEE_REASON_NONE);
	bool fin = c->tcb.close_reason == CEE_REASON_PEER_FIN;
	// deferred bytes came before the end: the layer sees them first
	// (not those of a handshake the peer ended unanswered over budget).
	// Staged here with the FIN not judged by the unanswered rule, they
	// came in the segment that started the layers (the ACK that completed
	// TCP's handshake, a cookie's): a server that has not answered yet
	// cannot now (TCP sends no more), so they are dropped as that rule
	// drops them. (Run, they took handshake work past the budget, and the
	// answer's failed write ended TLS as no_resources: no tls_truncated.)
	if (st->pend != NULL) {
		bool unanswerable = st->tls != NULL && !st->client && !st->tls_up &&
				    !cee_tls_said(st->tls);
		if (fin && !st->drop_input && unanswerable)
			s->stats.tls_unanswered++;
		if (fin && !st->drop_input && !unanswerable)
			pend_run(s, st);
		else
			pend_unlink(s, st);
	}
	// the stream ended: without close_notify it is a truncation (the peer's
	// FIN); without a Close frame the WebSocket code is 1006, whatever ended it
	if (fin && st->tls != NULL)
		cee_tls_eof(st->tls);
	if (st->ws != NULL)
		cee_ws_eof(st->ws);
	st->quiet = true; // closed: no milestone, no data after it
	struct cee_ext_builder b;
	cee_ext_begin(&b, c->id, CEE_EVT_CLOSED);
	if (st->tls != NULL) {
		struct cee_tls_info info;
		cee_tls_get_info(st->tls, &info);
		if (info.alert != 0) {
			cee_ext_put_u8(&b, CEE_EXT_ALERT, info.alert);
			cee_ext_put_u8(&b, CEE_EXT_ALERT_BY, info.alert_local);
		}
		if (info.truncated)
			cee_ext_put_u8(&b, CEE_EXT_TLS_TRUNCATED, 1);
	}
	if (st->ws != NULL) {
		struct cee_ws_info wi;
		cee_ws_get_info(st->ws, &wi);
		if (wi.up) {
			cee_ext_put_u16(&b, CEE_EXT_WS_CODE, wi.code);
			cee_ext_put_u8(&b, CEE_EXT_WS_CLEAN, wi.clean);
			cee_ext_put(&b, CEE_EXT_WS_REASON, wi.reason, wi.reason_len);
		} else if (wi.http_status != 0) { // the upgrade was refused
			cee_ext_put_u16(&b, CEE_EXT_HTTP_STATUS, wi.http_status);
		}
	}
	cee_shard_emit(s, c, CEE_EVT_CLOSED, &b);
	// The layers are done: their state goes now, not at destroyed. Kept
	// through TIME-WAIT (60 s by default), each connection this side
	// closed first held its wolfSSL state (about 50 KB, not 256 B).
	// (From inside a layer's own call, an abort: destroyed follows when it
	// returns, and frees them then.)
	if (st->depth == 0)
		layers_free(st);
}

void cee_stack_destroyed(struct cee_shard *s, struct cee_conn *c)
{
	struct cee_stack *st = c->tcb.user;
	if (st->pend != NULL)
		pend_unlink(s, st);
	c->tcb.user = NULL;
	if (st->depth > 0) { // an abort from inside a layer's own call: freed when it returns
		st->dead = true;
		return;
	}
	layers_free(st);
	stack_free(s, st);
}

// The owner's deadline: the TLS handshake or the upgrade took too long, or
// a WebSocket timer (ping, pong or close timeout) is due.
void cee_stack_deadline(struct cee_shard *s, struct cee_conn *c)
{
	struct cee_stack *st = c->tcb.user;
	if (st != NULL && (c->tcb.oflags & CEE_TCB_O_READS_ON)) {
		answered(st); // no answer to our close in time: data from now on resets
		return;
	}
	if (st == NULL || st->quiet || st->closing)
		return;
	if (!st->up) {
		cee_tcp_abort(&s->tcp, &c->tcb, CEE_REASON_HANDSHAKE_TIMEOUT, s->now_ns);
		return;
	}
	if (st->ws == NULL)
		return;
	layer_enter(st);
	cee_ws_timer(st->ws, s->now_ns);
	ws_rearm(st);
	layer_leave(s, st);
}

// Closed before the top layer was up, with TLS up below it (wss: the
// upgrade not done yet): close_notify before our FIN (RFC 8446 6.1), as
// once up. It went as a bare FIN: the peer read a truncated stream.
// @return 1 (our FIN may follow), 0 (the stream was cut: reset instead),
// -1 (the connection went away: @p st is gone).
static int close_notify_before_up(struct cee_shard *s, struct cee_stack *st,
				  enum cee_reason reason)
{
	if (st->tls == NULL || !st->tls_up || st->in_down)
		return 1;
	layer_enter(st);
	cee_tls_shutdown(st->tls);
	bool cut = close_cut(st, reason);
	// (no await_answer(): the stack is quiet, nothing would read the
	// answer; data after our FIN resets, abort_on_data)
	if (!layer_leave(s, st))
		return -1;
	return cut ? 0 : 1;
}

// TCP closes on its own (idle timeout, the peer's FIN): the layers' last
// words go before our FIN: a Close frame (idle timeout), close_notify.
void cee_stack_closing(struct cee_shard *s, struct cee_conn *c, enum cee_reason reason)
{
	struct cee_stack *st = c->tcb.user;
	if (st == NULL || st->quiet || st->in_down || st->closing)
		return;
	// TCP is closing: the layers' timers stop (a ping into a half-closed
	// peer, or after our close_notify, can only fail)
	st->closing = true;
	cee_tcp_set_deadline(&s->tcp, &c->tcb, 0, CEE_REASON_NONE);
	if (!st->up) {
		// our FIN before the handshakes were done (the idle timeout,
		// with no --handshake-timeout): the layers stop here, as for the
		// app's close. A peer that went on after it (TCP still takes its
		// bytes) completed the handshake: tls_up, ws_up or link_up came
		// after our FIN. (The peer's FIN: no byte can follow it, and
		// those staged before it still run, for the close's cause.)
		if (reason != CEE_REASON_PEER_FIN) {
			st->quiet = true;
			if (st->pend != NULL)
				pend_unlink(s, st);
			if (st->ws != NULL) // an upgrade request it holds a buffer for: moot
				cee_ws_below_gone(st->ws);
			(void)close_notify_before_up(s, st, reason);
		}
		return;
	}
	// the cause first: a Close frame that finds no room ends the layer
	// (no_resources), which must not become the connection's first cause
	// (TLS's close_notify path already kept it: the reason depended on the
	// layer)
	cee_tcp_set_close_reason(&c->tcb, reason);
	layer_enter(st);
	bool words = false;
	if (st->ws != NULL && reason == CEE_REASON_IDLE_TIMEOUT) {
		cee_ws_shutdown(st->ws, CEE_WS_GOING_AWAY, "idle", s->now_ns);
		words = cee_ws_deadline(st->ws) != 0; // (it awaits the peer's Close)
	}
	if (st->tls != NULL) {
		cee_tls_shutdown(st->tls);
		// (not after the peer's FIN: it can answer nothing more)
		words = reason != CEE_REASON_PEER_FIN;
	}
	if (!close_cut(st, reason) && words) // (TCP aborts when its running call leaves)
		await_answer(st);
	layer_leave(s, st);
}

/* ---- the app's calls (cee-bench's generator, embedders) ----------------------------------- */

// Whether the app's sends go down now or later: the layers up, none of
// them closed for sending (our close_notify or Close frame, the peer's),
// TCP not closing.
static bool top_sends(const struct cee_stack *st)
{
	return st->up && !st->quiet && !st->closing && cee_tcp_sends(&st->c->tcb) &&
	       (st->tls == NULL || cee_tls_sends(st->tls)) && (st->ws == NULL || cee_ws_sends(st->ws));
}

// Room kept for the layers' own words after an app's send that took all
// the room: a Pong and a Close frame (WebSocket), a close_notify and the
// answer to a KeyUpdate (TLS). Taken, the app's message left a peer's
// Ping or our Close no room, and the connection was lost.
#define WS_WORDS (2 * (CEE_WS_FRAME_HDR_MAX + 125))
#define TLS_WORDS 96

// The app's room above the layers when TCP takes @p wire bytes.
static uint32_t layers_room(const struct cee_stack *st, uint32_t wire)
{
	if (st->tls != NULL) // (a WebSocket frame goes down to TLS in pieces)
		wire = cee_tls_send_room(st->tls, wire, st->ws != NULL ? CEE_WS_SEND_PIECE : 0);
	uint32_t keep = (st->ws != NULL ? CEE_WS_FRAME_HDR_MAX + WS_WORDS : 0) +
			(st->tls != NULL ? TLS_WORDS : 0);
	return wire > keep ? wire - keep : 0;
}

uint32_t cee_stack_send_room(struct cee_shard *s, struct cee_conn *c)
{
	struct cee_stack *st = c->tcb.user;
	if (!top_sends(st) || st->in_down)
		return 0;
	return layers_room(st, cee_tcp_send_room(&s->tcp, &c->tcb));
}

bool cee_stack_app_up(const struct cee_conn *c)
{
	const struct cee_stack *st = c->tcb.user;
	return st->service == CEE_TCP_SVC_APP && top_sends(st);
}

int cee_stack_send(struct cee_shard *s, struct cee_conn *c, const void *data, uint32_t len)
{
	struct cee_stack *st = c->tcb.user;
	// not up, closed for sending, or from inside a layer's send
	if (!top_sends(st) || st->in_down)
		return -ENOTCONN;
	// A record or frame that does not fit whole is not begun: the stream
	// would be cut (-ENOBUFS, the connection lost). The app waits for
	// writable (an ACK freeing room) and sends it then, if an ACK is to
	// come: not for a message larger than the empty buffer holds
	// (-EMSGSIZE), nor when no buffer is to be had and nothing is in it
	// (-ENOBUFS: no ACK will free one for it). Nothing sent either way.
	if (len > cee_stack_send_room(s, c)) {
		if (len > layers_room(st, cee_tcp_send_size(&s->tcp, &c->tcb)))
			return -EMSGSIZE;
		if (c->tcb.sb_len == 0)
			return -ENOBUFS;
		c->tcb.oflags |= CEE_TCB_O_WANT_WRITE;
		s->stats.app_send_deferred++;
		return -EAGAIN;
	}
	layer_enter(st);
	int rc = top_send(st, data, len, false);
	return layer_leave(s, st) ? rc : -ENOTCONN;
}

int cee_stack_close(struct cee_shard *s, struct cee_conn *c, enum cee_reason reason)
{
	struct cee_stack *st = c->tcb.user;
	if (st->quiet || st->closing) // closed, or TCP closing already (a layer ended)
		return 1;
	if (!st->up) {
		// closed before the handshakes were done: the layers stop here (no
		// milestone after our FIN, no deferred work charged to the budget)
		st->quiet = true;
		if (st->pend != NULL)
			pend_unlink(s, st);
		if (st->ws != NULL)
			cee_ws_below_gone(st->ws);
		return close_notify_before_up(s, st, reason);
	}
	if (st->in_down)
		return 1; // from inside a layer's send: TCP's FIN follows what it sends
	layer_enter(st);
	// The cause first (this side closes first, whether our Close frame goes
	// out or not): a Close frame that found no room in the send buffer
	// ended the WebSocket layer with no_resources, and that became the
	// connection's cause where TLS in the same spot reported shutdown,
	// idle_timeout or local_close
	cee_tcp_set_close_reason(&c->tcb, reason);
	// (a server going down: 1001, RFC 6455 7.4.1)
	bool now = top_shutdown(st, reason == CEE_REASON_SHUTDOWN ? CEE_WS_GOING_AWAY
								  : CEE_WS_NORMAL);
	if (now && close_cut(st, reason))
		now = false; // reset: no FIN after it
	else if (now && st->tls != NULL)
		await_answer(st); // (close_notify, then our FIN)
	if (!layer_leave(s, st))
		return -1;
	return now ? 1 : 0;
}

struct cee_tls *cee_shard_tls(struct cee_conn *c)
{
	const struct cee_stack *st = c->tcb.user;
	return st ? st->tls : NULL;
}

struct cee_ws *cee_shard_ws(struct cee_conn *c)
{
	const struct cee_stack *st = c->tcb.user;
	return st ? st->ws : NULL;
}

struct cee_conn *cee_shard_connect_layers(struct cee_shard *s, unsigned pi, uint32_t dst_ip,
					  uint16_t dst_port, bool tls, bool ws, const char *sni,
					  const struct cee_tls_session *session)
{
	return cee_stack_connect(s, pi, dst_ip, dst_port, tls, ws, sni, session, CEE_TCP_SVC_APP,
				 0);
}

struct cee_conn *cee_stack_connect(struct cee_shard *s, unsigned pi, uint32_t dst_ip,
				   uint16_t dst_port, bool tls, bool ws, const char *sni,
				   const struct cee_tls_session *session,
				   enum cee_tcp_service service, uint32_t link)
{
	if ((tls && s->tls_cli == NULL) || (ws && s->ws_cli == NULL) || (!tls && !ws)) {
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
	st->service = (uint8_t)service;
	struct cee_layer_io io;
	if (tls)
		st->tls = tls_layer_new(s, st, s->tls_cli, sni);
	if (ws)
		st->ws = cee_ws_new_client(s->ws_cli, ws_io(st, &io), sni ? sni : "cee", "/",
					   s->cfg->ws.subprotocol, s->now_ns);
	if ((tls && st->tls == NULL) || (ws && st->ws == NULL)) {
		int e = errno;
		layers_free(st);
		stack_free(s, st);
		s->stats.connect_fail++;
		errno = e;
		return NULL;
	}
	if (session != NULL && st->tls != NULL)
		(void)cee_tls_set_session(st->tls, session); // a full handshake if refused
	enum cee_proto proto = ws ? (tls ? CEE_PROTO_WSS : CEE_PROTO_WS) : CEE_PROTO_TLS;
	struct cee_conn *c =
		cee_shard_open_active(s, pi, dst_ip, dst_port,
				      // a service of ours paces its answers, as a listener's does
				      service == CEE_TCP_SVC_APP ? CEE_TCP_SVC_APP : CEE_TCP_SVC_PACED,
				      proto, st, link);
	if (c == NULL) {
		int e = errno;
		layers_free(st);
		stack_free(s, st);
		errno = e;
		return NULL;
	}
	st->c = c;
	return c;
}

struct cee_conn *cee_shard_connect_tls(struct cee_shard *s, unsigned pi, uint32_t dst_ip,
				       uint16_t dst_port, const char *sni,
				       const struct cee_tls_session *session)
{
	return cee_shard_connect_layers(s, pi, dst_ip, dst_port, true, false, sni, session);
}
