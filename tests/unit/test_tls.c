/* SPDX-License-Identifier: BSD-3-Clause */
// tls/: a client and a server cee_tls pumped through each other in memory
// (two byte queues), no EAL. Each test names the fault it guards against.
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include <wolfssl/options.h>
#include <wolfssl/version.h> // LIBWOLFSSL_VERSION_HEX: what this wolfSSL can do
#include <wolfssl/wolfcrypt/ecc.h> // wc_ecc_fp_free: a thread's ECC cache
#include <wolfssl/wolfcrypt/memory.h> // wolfSSL_Malloc: through cee's counting allocator

#include "cee_tls.h"

#ifndef CEE_CERT_DIR
#error "CEE_CERT_DIR must name tests/certs"
#endif
#define CERT(f) CEE_CERT_DIR "/" f

// ---- one end of a connection: what its cee_tls gave to the io callbacks ----

struct end {
	struct cee_tls *t;
	uint8_t *out; // ciphertext sent down, not yet delivered to the peer
	size_t out_len, out_cap;
	size_t out_total;
	uint8_t *up; // plaintext received
	size_t up_len, up_cap;
	int up_calls;
	int milestones;
	enum cee_evt_type milestone;
	int closes;
	enum cee_reason reason;
	size_t out_total_at_close; // ciphertext sent down before io.close
	long down_budget;	   // bytes io.down still takes; <0: unlimited
	bool echo;		   // send every plaintext back
};

static void grow(uint8_t **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return;
	size_t c = *cap ? *cap : 256;
	while (c < need)
		c *= 2;
	*buf = realloc(*buf, c);
	assert_non_null(*buf);
	*cap = c;
}

static int end_down(void *arg, const uint8_t *data, uint32_t len)
{
	struct end *e = arg;
	uint32_t n = len;

	if (e->down_budget >= 0) {
		if (e->down_budget == 0)
			return -ENOBUFS;
		if ((long)n > e->down_budget)
			n = (uint32_t)e->down_budget;
		e->down_budget -= n;
	}
	grow(&e->out, &e->out_cap, e->out_len + n);
	memcpy(e->out + e->out_len, data, n);
	e->out_len += n;
	e->out_total += n;
	return (int)n;
}

static void end_up(void *arg, const uint8_t *data, uint32_t len)
{
	struct end *e = arg;

	grow(&e->up, &e->up_cap, e->up_len + len);
	memcpy(e->up + e->up_len, data, len);
	e->up_len += len;
	e->up_calls++;
	if (e->echo)
		assert_int_equal(cee_tls_send(e->t, data, len), (int)len);
}

static void end_milestone(void *arg, enum cee_evt_type type)
{
	struct end *e = arg;

	e->milestones++;
	e->milestone = type;
}

static void end_close(void *arg, enum cee_reason reason)
{
	struct end *e = arg;

	e->closes++;
	e->reason = reason;
	e->out_total_at_close = e->out_total;
}

static struct cee_layer_io end_io(struct end *e)
{
	return (struct cee_layer_io){
	    .down = end_down,
	    .up = end_up,
	    .milestone = end_milestone,
	    .close = end_close,
	    .arg = e,
	};
}

static void end_reset(struct end *e)
{
	if (e->t != NULL)
		cee_tls_free(e->t);
	free(e->out);
	free(e->up);
	memset(e, 0, sizeof(*e));
	e->down_budget = -1;
}

// Hand what @p from sent down to @p to, @p step bytes per call (0: all at once).
static void deliver(struct end *from, struct end *to, size_t step)
{
	size_t n = from->out_len;
	uint8_t *copy;

	if (n == 0)
		return;
	copy = malloc(n);
	assert_non_null(copy);
	memcpy(copy, from->out, n);
	from->out_len = 0;
	for (size_t off = 0; off < n;) {
		size_t k = step == 0 || n - off < step ? n - off : step;
		int rc = cee_tls_input(to->t, copy + off, (uint32_t)k);

		if (rc < 0)
			break; // ended: the rest has nowhere to go
		off += k;
	}
	free(copy);
}

static void pump_step(struct end *c, struct end *s, size_t step)
{
	for (int i = 0; i < 32 && (c->out_len > 0 || s->out_len > 0); i++) {
		deliver(c, s, step);
		deliver(s, c, step);
	}
	assert_int_equal(c->out_len, 0);
	assert_int_equal(s->out_len, 0);
}

static void pump(struct end *c, struct end *s)
{
	pump_step(c, s, 0);
}

// ---- per-test state ----

struct fx {
	struct cee_tls_ctx *sctx, *sctx2, *cctx;
	struct end c, s;
	char err[256];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL || cee_tls_global_init() != 0)
		return -1;
	f->c.down_budget = -1;
	f->s.down_budget = -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	cee_tls_heap_budget(0); // (a test that failed part-way left its own)
	end_reset(&f->c);
	end_reset(&f->s);
	cee_tls_ctx_destroy(f->sctx);
	cee_tls_ctx_destroy(f->sctx2);
	cee_tls_ctx_destroy(f->cctx);
	free(f);
	return 0;
}

static const uint8_t key_a[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
static const uint8_t key_b[32] = {42};

static struct cee_tls_cfg server_cfg(void)
{
	struct cee_tls_cfg cfg = {
	    .cert_file = CERT("server.pem"),
	    .key_file = CERT("server.key"),
	    .alpn = "sip,http/1.1",
	    .max_conns = 8,
	};
	memcpy(cfg.ticket_key, key_a, sizeof(cfg.ticket_key));
	return cfg;
}

static struct cee_tls_cfg client_cfg(uint16_t max_version)
{
	return (struct cee_tls_cfg){
	    .ca_file = CERT("ca.pem"),
	    .alpn = "sip",
	    .max_conns = 8,
	    .max_version = max_version,
	};
}

static struct cee_tls_ctx *make_ctx(struct fx *f, const struct cee_tls_cfg *cfg, bool server)
{
	struct cee_tls_ctx *ctx = cee_tls_ctx_create(cfg, server, f->err, sizeof(f->err));

	if (ctx == NULL)
		fail_msg("cee_tls_ctx_create: %s (errno %d)", f->err, errno);
	return ctx;
}

// New client and server connections; the client sends its ClientHello.
static void open_pair(struct fx *f, struct cee_tls_ctx *sctx, const char *sni,
		      const struct cee_tls_session *resume)
{
	struct cee_layer_io cio, sio;

	end_reset(&f->c);
	end_reset(&f->s);
	cio = end_io(&f->c);
	sio = end_io(&f->s);
	f->s.t = cee_tls_new(sctx, &sio, NULL);
	assert_non_null(f->s.t);
	f->c.t = cee_tls_new(f->cctx, &cio, sni);
	assert_non_null(f->c.t);
	if (resume != NULL)
		assert_int_equal(cee_tls_set_session(f->c.t, resume), 0);
	assert_int_equal(cee_tls_start(f->c.t), 0);
	assert_true(f->c.out_len > 0);
}

static void assert_up(struct end *e)
{
	struct cee_tls_info info;

	assert_int_equal(e->milestones, 1);
	assert_int_equal(e->milestone, CEE_EVT_TLS_UP);
	assert_int_equal(e->closes, 0);
	cee_tls_get_info(e->t, &info);
	assert_true(info.up);
}

// Ends @p e with an alert: checks the reason, the number, who sent it,
// whether the handshake had completed (@p up), and that the alert went
// down before io.close when we sent it.
static void assert_alert_up(struct end *e, uint8_t alert, bool local, bool up)
{
	struct cee_tls_info info;

	assert_int_equal(e->closes, 1);
	assert_int_equal(e->reason, CEE_REASON_TLS_ALERT);
	assert_int_equal(e->milestones, up ? 1 : 0);
	cee_tls_get_info(e->t, &info);
	assert_int_equal(info.alert, alert);
	assert_int_equal(info.alert_local, local);
	assert_int_equal(info.up, up);
	if (local) {
		// An alert record is 7 bytes in clear, more under encryption.
		assert_true(e->out_total_at_close >= 7);
		assert_int_equal(e->out_total_at_close, e->out_total);
	}
}

static void assert_alert(struct end *e, uint8_t alert, bool local)
{
	assert_alert_up(e, alert, local, false);
}

static void handshake(struct fx *f, struct cee_tls_ctx *sctx, const char *sni,
		      const struct cee_tls_session *resume)
{
	open_pair(f, sctx, sni, resume);
	pump(&f->c, &f->s);
	assert_up(&f->c);
	assert_up(&f->s);
}

static void send_and_check(struct end *from, struct end *to, const char *msg)
{
	size_t before = to->up_len;
	size_t n = strlen(msg);

	assert_int_equal(cee_tls_send(from->t, (const uint8_t *)msg, (uint32_t)n), (int)n);
	deliver(from, to, 0);
	assert_int_equal(to->up_len - before, n);
	assert_memory_equal(to->up + before, msg, n);
}

// The default list's first suites (cee_tls_prefers_chacha(): ChaCha20
// first where this wolfSSL has no AES-NI)
#define DEF12(auth)                                                                                \
	(cee_tls_prefers_chacha() ? "TLS_ECDHE_" auth "_WITH_CHACHA20_POLY1305_SHA256"              \
				  : "TLS_ECDHE_" auth "_WITH_AES_128_GCM_SHA256")
#define DEF13 (cee_tls_prefers_chacha() ? "TLS_CHACHA20_POLY1305_SHA256" : "TLS_AES_128_GCM_SHA256")

// ---- handshakes ----

static void check_handshake(struct fx *f, uint16_t version, const char *cipher)
{
	struct cee_tls_info si, ci;

	handshake(f, f->sctx, "server.cee.test", NULL);
	cee_tls_get_info(f->s.t, &si);
	cee_tls_get_info(f->c.t, &ci);
	assert_int_equal(si.version, version);
	assert_int_equal(ci.version, version);
	assert_string_equal(si.cipher, cipher);
	assert_string_equal(ci.cipher, cipher);
	assert_string_equal(si.sni, "server.cee.test");
	assert_string_equal(ci.sni, "server.cee.test");
	assert_string_equal(si.alpn, "sip");
	assert_string_equal(ci.alpn, "sip");
	assert_false(si.resumed);
	assert_false(ci.resumed);
	assert_string_equal(si.peer_subject, ""); // no client certificate asked for
	assert_string_equal(ci.peer_subject, "/O=cee/CN=server.cee.test");
	assert_int_equal(si.alert, 0);

	send_and_check(&f->c, &f->s, "OPTIONS sip:server.cee.test SIP/2.0\r\n\r\n");
	send_and_check(&f->s, &f->c, "SIP/2.0 200 OK\r\n\r\n");
	assert_int_equal(cee_tls_ctx_stats(f->sctx)->handshakes, 1);
	assert_int_equal(cee_tls_ctx_stats(f->cctx)->handshakes, 1);
	assert_int_equal(cee_tls_ctx_stats(f->sctx)->resumed, 0);
}

// Guards against: a TLS 1.2 handshake that does not complete over the
// custom I/O callbacks, TLS_UP reported other than once, info fields
// missing (IANA cipher name, SNI, ALPN, server subject), data not
// flowing both ways.
static void test_handshake_tls12(void **state)
{
	struct fx *f = *state;
	struct cee_tls_cfg scfg = server_cfg(), ccfg = client_cfg(CEE_TLS_V12);

	f->sctx = make_ctx(f, &scfg, true);
	f->cctx = make_ctx(f, &ccfg, false);
	check_handshake(f, CEE_TLS_V12, DEF12("ECDSA"));
}

// Guards against: the same for TLS 1.3 (the default when both allow it).
static void test_handshake_tls13(void **state)
{
	struct fx *f = *state;
	struct cee_tls_cfg scfg = server_cfg(), ccfg = client_cfg(0);

	f->sctx = make_ctx(f, &scfg, true);
	f->cctx = make_ctx(f, &ccfg, false);
	check_handshake(f, CEE_TLS_V13, DEF13);
}

// Guards against: RSA server certificates not working or the RSA ECDHE
// suite missing from the default list.
static void test_handshake_rsa_server(void **state)
{
	struct fx *f = *state;
	struct cee_tls_cfg scfg = server_cfg(), ccfg = client_cfg(CEE_TLS_V12);
	struct cee_tls_info info;

	scfg.cert_file = CERT("server-rsa.pem");
	scfg.key_file = CERT("server-rsa.key");
	f->sctx = make_ctx(f, &scfg, true);
	f->cctx = make_ctx(f, &ccfg, false);
	handshake(f, f->sctx, "server.cee.test", NULL);
	cee_tls_get_info(f->s.t, &info);
	assert_string_equal(info.cipher, DEF12("RSA"));
}

// Guards against (long-uptime review): certificates read only at start, so
// that renewing one took a restart (every live connection ended); a reload
// that frees the WOLFSSL_CTX a live connection still uses (ASan: its
// records after the reload, and its free); a bad file that takes the
// running certificate down.
static void test_reload_files(void **state)
{
	struct fx *f = *state;
	struct cee_tls_cfg scfg = server_cfg(), ccfg = client_cfg(CEE_TLS_V12);
	struct cee_tls_info info;

	f->sctx = make_ctx(f, &scfg, true);
	f->cctx = make_ctx(f, &ccfg, false);
	handshake(f, f->sctx, "server.cee.test", NULL);
	cee_tls_get_info(f->s.t, &info);
	assert_string_equal(info.cipher, DEF12("ECDSA"));
	// renewed: an RSA certificate in place of the ECDSA one
	scfg.cert_file = CERT("server-rsa.pem");
	scfg.key_file = CERT("server-rsa.key");
	assert_int_equal(cee_tls_ctx_reload(f->sctx, &scfg, f->err, sizeof(f->err)), 0);
	assert_int_equal(cee_tls_ctx_stats(f->sctx)->reloads, 1);
	// the live connection goes on with what it began with
	send_and_check(&f->c, &f->s, "after the reload");
	send_and_check(&f->s, &f->c, "and back");
	// (its end frees the old WOLFSSL_CTX with it)
	handshake(f, f->sctx, "server.cee.test", NULL);
	cee_tls_get_info(f->s.t, &info);
	assert_string_equal(info.cipher, DEF12("RSA"));
	// a file gone: refused, said why, the running ones stay
	scfg.cert_file = CERT("no-such.pem");
	assert_true(cee_tls_ctx_reload(f->sctx, &scfg, f->err, sizeof(f->err)) < 0);
	assert_non_null(strstr(f->err, "no-such.pem"));
	assert_int_equal(cee_tls_ctx_stats(f->sctx)->reload_failures, 1);
	// a key that is not the certificate's: refused too
	scfg.cert_file = CERT("server.pem");
	assert_true(cee_tls_ctx_reload(f->sctx, &scfg, f->err, sizeof(f->err)) < 0);
	assert_int_equal(cee_tls_ctx_stats(f->sctx)->reload_failures, 2);
	handshake(f, f->sctx, "server.cee.test", NULL);
	cee_tls_get_info(f->s.t, &info);
	assert_string_equal(info.cipher, DEF12("RSA"));
	send_and_check(&f->c, &f->s, "still RSA");
}

// Guards against: min_version 1.3 still accepting a 1.2-only client.
static void test_min_version_13(void **state)
{
	struct fx *f = *state;
	struct cee_tls_cfg scfg = server_cfg(), ccfg = client_cfg(CEE_TLS_V12);
	struct cee_tls_info si;

	scfg.min_version = CEE_TLS_V13;
	f->sctx = make_ctx(f, &scfg, true);
	f->cctx = make_ctx(f, &ccfg, false);
	open_pair(f, f->sctx, "server.cee.test", NULL);
	pump(&f->c, &f->s);
	assert_int_equal(f->s.closes, 1);
	assert_int_equal(f->s.reason, CEE_REASON_TLS_ALERT);
	cee_tls_get_info(f->s.t, &si);
	assert_true(si.alert_local);
	assert_int_equal(si.alert, 70); // protocol_version
	assert_int_equal(f->s.milestones, 0);
}

// Guards against: the server refusing or not reporting a name it has no
// certificate for (it must accept any SNI and say what was asked), and
// an ALPN mismatch failing the handshake instead of negotiating none.
static void test_sni_any_alpn_mismatch(void **state)
{
	struct fx *f = *state;
	struct cee_tls_cfg scfg = server_cfg(), ccfg = client_cfg(0);
	struct cee_tls_info si, ci;

	ccfg.ca_file = NULL; // the name is not the certificate's
	ccfg.alpn = "h2";
	f->sctx = make_ctx(f, &scfg, true);
	f->cctx = make_ctx(f, &ccfg, false);
	handshake(f, f->sctx, "anything.example.org", NULL);
	cee_tls_get_info(f->s.t, &si);
	cee_tls_get_info(f->c.t, &ci);
	assert_string_equal(si.sni, "anything.example.org");
	assert_string_equal(si.alpn, "");
	assert_string_equal(ci.alpn, "");
	send_and_check(&f->c, &f->s, "ping");
}

// Server and client contexts for mutual TLS: the server asks for a
// certificate of ca.pem, the client presents client.pem.
static void mtls_ctxs(struct fx *f, uint16_t version)
{
	struct cee_tls_cfg scfg = server_cfg(), ccfg = client_cfg(version);

	scfg.ca_file = CERT("ca.pem");
	ccfg.cert_file = CERT("client.pem");
	ccfg.key_file = CERT("client.key");
	f->sctx = make_ctx(f, &scfg, true);
	f->cctx = make_ctx(f, &ccfg, false);
}

// Guards against: the client's subject not captured under mutual TLS
// (it must be kept before the handshake resources are freed).
static void check_mtls_subject(void **state, uint16_t version)
{
	struct fx *f = *state;
	struct cee_tls_info si;

	mtls_ctxs(f, version);
	handshake(f, f->sctx, "server.cee.test", NULL);
	cee_tls_get_info(f->s.t, &si);
	assert_int_equal(si.version, version != 0 ? version : CEE_TLS_V13);
	assert_string_equal(si.peer_subject, "/O=cee/CN=client.cee.test");
	send_and_check(&f->c, &f->s, "REGISTER");
}

// Fault (review): peer_subject was wolfSSL's one-line subject, the values'
// raw bytes pasted between "/" separators: a client certificate whose CN
// is "x/CN=admin" read "/O=cee/CN=x/CN=admin" (a CN admin, for a control
// plane that authorises by subject), and a NUL ended the string there. The
// values are escaped: '/' and '\' as "\/" and "\\", other bytes outside
// printable ASCII as \xHH (tests/certs/tricky-client.pem: OU "a" BEL "b\c").
static void test_mtls_subject_escaped(void **state)
{
	struct fx *f = *state;
	struct cee_tls_cfg scfg = server_cfg(), ccfg = client_cfg(0);
	struct cee_tls_info si;

	scfg.ca_file = CERT("ca.pem");
	ccfg.cert_file = CERT("tricky-client.pem");
	ccfg.key_file = CERT("tricky-client.key");
	f->sctx = make_ctx(f, &scfg, true);
	f->cctx = make_ctx(f, &ccfg, false);
	handshake(f, f->sctx, "server.cee.test", NULL);
	cee_tls_get_info(f->s.t, &si);
	assert_string_equal(si.peer_subject, "/O=cee/OU=a\\x07b\\\\c/CN=x\\/CN=admin");
	send_and_check(&f->c, &f->s, "REGISTER");
}

// Fault (review of the escaping): peer_subject cut within a value at 255
// bytes: a subject padded so that the cut fell after "/CN=admin" read as
// CN admin where the CN was "adminEVIL" (tests/certs/long-client.pem). An
// attribute that does not fit is left out whole, and the line ends "/...".
static void test_mtls_subject_cut_whole(void **state)
{
	struct fx *f = *state;
	struct cee_tls_cfg scfg = server_cfg(), ccfg = client_cfg(0);
	struct cee_tls_info si;
	char want[256];

	scfg.ca_file = CERT("ca.pem");
	ccfg.cert_file = CERT("long-client.pem");
	ccfg.key_file = CERT("long-client.key");
	f->sctx = make_ctx(f, &scfg, true);
	f->cctx = make_ctx(f, &ccfg, false);
	handshake(f, f->sctx, "server.cee.test", NULL);
	cee_tls_get_info(f->s.t, &si);
	int n = snprintf(want, sizeof(want), "/O=cee");
	for (char c = 'a'; c <= 'd'; c++) {
		n += snprintf(want + n, sizeof(want) - (size_t)n, "/OU=");
		memset(want + n, c, 56);
		n += 56;
	}
	snprintf(want + n, sizeof(want) - (size_t)n, "/...");
	assert_string_equal(si.peer_subject, want);
	assert_null(strstr(si.peer_subject, "CN="));
}

static void test_mtls_subject_tls12(void **state)
{
	check_mtls_subject(state, CEE_TLS_V12);
}

static void test_mtls_subject_tls13(void **state)
{
	check_mtls_subject(state, 0);
}

// ---- resumption ----

static struct cee_tls_session *first_session(struct fx *f, struct cee_tls_ctx *sctx);

// Fault (review): under mutual TLS (--tls-ca), a client that resumed a
// session with its ticket had tls_up say peer_subject "": the ticket holds
// no peer certificate, and a control plane that authorises by subject
// took the phone for anonymous (or a CA reload that dropped its issuer
// was skipped by resumption). A server that asks for client certificates
// issues no tickets: each connection proves its certificate, and its
// subject is in tls_up every time.
static void check_mtls_resume(void **state, uint16_t version)
{
	struct fx *f = *state;
	struct cee_tls_info si;

	mtls_ctxs(f, version);
	handshake(f, f->sctx, "server.cee.test", NULL);
	send_and_check(&f->s, &f->c, "hello"); // (TLS 1.3: a ticket would come with it)
	struct cee_tls_session *s = cee_tls_session_get(f->c.t);
	for (int i = 0; i < 2; i++) {
		handshake(f, f->sctx, "server.cee.test", s);
		cee_tls_get_info(f->s.t, &si);
		assert_string_equal(si.peer_subject, "/O=cee/CN=client.cee.test");
		assert_false(si.resumed);
		send_and_check(&f->c, &f->s, "REGISTER");
	}
	assert_int_equal(cee_tls_ctx_stats(f->sctx)->resumed, 0);
	if (s != NULL)
		cee_tls_session_free(s);
}

static void test_mtls_resume_tls12(void **state)
{
	check_mtls_resume(state, CEE_TLS_V12);
}

static void test_mtls_resume_tls13(void **state)
{
	check_mtls_resume(state, 0);
}

static uint16_t ske_curve(const uint8_t *p, size_t n);

// A full handshake, then the client's session (its ticket).
static struct cee_tls_session *first_session(struct fx *f, struct cee_tls_ctx *sctx)
{
	struct cee_tls_session *s;

	handshake(f, sctx, "server.cee.test", NULL);
	// TLS 1.3: the ticket is a post-handshake message; this round trip
	// carries it.
	send_and_check(&f->s, &f->c, "hello");
	s = cee_tls_session_get(f->c.t);
	assert_non_null(s);
	return s;
}

static void check_resumed(struct fx *f, bool want)
{
	struct cee_tls_info si, ci;

	cee_tls_get_info(f->s.t, &si);
	cee_tls_get_info(f->c.t, &ci);
	assert_int_equal(si.resumed, want);
	assert_int_equal(ci.resumed, want);
	send_and_check(&f->c, &f->s, "after resumption");
	send_and_check(&f->s, &f->c, "both ways");
}

// Guards against: tickets not issued or not accepted, info.resumed not
// saying so, and a ticket from one server context (one shard) not
// accepted by another built with the same ticket_key.
static void check_resume(void **state, uint16_t version)
{
	struct fx *f = *state;
	struct cee_tls_cfg scfg = server_cfg(), ccfg = client_cfg(version);
	struct cee_tls_session *s;
	struct cee_tls_info ci;

	f->sctx = make_ctx(f, &scfg, true);
	f->sctx2 = make_ctx(f, &scfg, true);
	f->cctx = make_ctx(f, &ccfg, false);
	s = first_session(f, f->sctx);
	cee_tls_get_info(f->c.t, &ci);
	assert_int_equal(ci.version, version != 0 ? version : CEE_TLS_V13);

	// the ticket's announced lifetime: the rotation period (the default
	// hour; wolfSSL's own 300 s made clients drop it after 5 minutes)
	assert_int_equal(cee_tls_session_lifetime_s(s), 3600);
	// and the server resumes from a ticket that old (wolfSSL's session
	// timeout, 500 s by default, refused older TLS 1.3 tickets)
	assert_true(cee_tls_session_timeout_s(f->s.t) >= 3600);
	handshake(f, f->sctx, "server.cee.test", s); // same context
	check_resumed(f, true);
	handshake(f, f->sctx2, "server.cee.test", s); // another shard
	check_resumed(f, true);
	assert_int_equal(cee_tls_ctx_stats(f->sctx)->resumed, 1);
	assert_int_equal(cee_tls_ctx_stats(f->sctx2)->resumed, 1);
	assert_int_equal(cee_tls_ctx_stats(f->sctx2)->handshakes, 1);
	cee_tls_session_free(s);
}

static void test_resume_tls12(void **state)
{
	check_resume(state, CEE_TLS_V12);
}

static void test_resume_tls13(void **state)
{
	check_resume(state, 0);
}

// Guards against: a ticket sealed under another engine's key being
// accepted (or failing the connection instead of a full handshake), and
// a TLS 1.2 session resumed by id from wolfSSL's process-wide cache.
static void check_no_resume_other_key(void **state, uint16_t version)
{
	struct fx *f = *state;
	struct cee_tls_cfg scfg = server_cfg(), ccfg = client_cfg(version);
	struct cee_tls_session *s;

	f->sctx = make_ctx(f, &scfg, true);
	memcpy(scfg.ticket_key, key_b, sizeof(scfg.ticket_key));
	f->sctx2 = make_ctx(f, &scfg, true);
	f->cctx = make_ctx(f, &ccfg, false);
	s = first_session(f, f->sctx);
	handshake(f, f->sctx2, "server.cee.test", s);
	check_resumed(f, false);
	assert_int_equal(cee_tls_ctx_stats(f->sctx2)->resumed, 0);
	cee_tls_session_free(s);
}

// Guards against: the same under TLS 1.2. This wolfSSL's client (5.5.4,
// DSH_CheckSessionId) takes any ServerHello as acceptance of the ticket
// it offered, so when the server refuses the ticket and starts a full
// handshake the client aborts with unexpected_message. What is checked
// is the server: it refused the ticket (no resumption, its certificate
// went down) and reports the client's alert.
static void test_no_resume_other_key_tls12(void **state)
{
	struct fx *f = *state;
	struct cee_tls_cfg scfg = server_cfg(), ccfg = client_cfg(CEE_TLS_V12);
	struct cee_tls_session *s;
	struct cee_tls_info si;

	f->sctx = make_ctx(f, &scfg, true);
	memcpy(scfg.ticket_key, key_b, sizeof(scfg.ticket_key));
	f->sctx2 = make_ctx(f, &scfg, true);
	f->cctx = make_ctx(f, &ccfg, false);
	s = first_session(f, f->sctx);
	open_pair(f, f->sctx2, "server.cee.test", s);
	deliver(&f->c, &f->s, 0);
	assert_int_equal(f->s.closes, 0);
	assert_int_not_equal(ske_curve(f->s.out, f->s.out_len), 0); // a full handshake
	pump(&f->c, &f->s);
	cee_tls_get_info(f->s.t, &si);
	assert_false(si.resumed);
	assert_int_equal(cee_tls_ctx_stats(f->sctx2)->resumed, 0);
	if (f->s.milestones == 0) { // the wolfSSL client, as above
		assert_alert(&f->s, 10, false);
		assert_alert(&f->c, 10, true);
	}
	cee_tls_session_free(s);
}

static void test_no_resume_other_key_tls13(void **state)
{
	check_no_resume_other_key(state, 0);
}

#define SEC_NS 1000000000ull

static uint64_t fake_ns;
static uint64_t fake_clock(void)
{
	return fake_ns;
}

// Guards against (long-uptime review): one ticket key for the engine's whole
// life. A TLS 1.2 ticket holds the session's master secret, so that key, read
// from memory at any later time, opened every session resumed or ticketed
// since the start; and random nonces past 2^32 under one key. The key now
// ratchets each period: a ticket opens in its period and the next, not after;
// two contexts (shards) started from the same key at the same epoch agree at
// every later epoch without talking to each other.
static void check_ticket_rotation(void **state, uint16_t version)
{
	struct fx *f = *state;
	struct cee_tls_cfg scfg = server_cfg(), ccfg = client_cfg(version);
	struct cee_tls_session *s, *s2;
	struct cee_tls_info si;
	const uint64_t P = 100 * SEC_NS;

	scfg.clock_ns = fake_clock;
	scfg.ticket_rotate_ns = P;
	scfg.ticket_epoch0 = 10;
	fake_ns = 10 * P + P / 2; /* epoch 10 */
	f->sctx = make_ctx(f, &scfg, true);
	f->sctx2 = make_ctx(f, &scfg, true);
	f->cctx = make_ctx(f, &ccfg, false);
	s = first_session(f, f->sctx);
	fake_ns = 11 * P + P / 2; /* epoch 11: the ticket of epoch 10 still opens */
	handshake(f, f->sctx, "server.cee.test", s);
	check_resumed(f, true);
	assert_int_equal(cee_tls_ctx_stats(f->sctx)->ticket_rotations, 1);
	// Fault (review): a ticket opened under the previous key was not
	// renewed over TLS 1.2 (TLS 1.3 issues one after every handshake): a
	// client resuming every few minutes kept its first ticket until it
	// stopped opening, and then (this wolfSSL's TLS 1.2 client) failed its
	// connection. The ticket callback asks for a new one (RET_CREATE), so
	// the resumption at epoch 11 hands out an epoch-11 ticket, which still
	// opens at epoch 12. wolfSSL before 5.6.0 drops RET_CREATE (its
	// DoDecryptTicket() returned OK: fixed in 5.6.0): there the old ticket
	// stays, and epoch 12 does a full handshake, as checked below.
	struct cee_tls_session *s11 = cee_tls_session_get(f->c.t);
	assert_non_null(s11);
	fake_ns = 12 * P + P / 4;
#ifndef LIBWOLFSSL_VERSION_HEX
#error "wolfssl/version.h did not say its version"
#elif LIBWOLFSSL_VERSION_HEX >= 0x05006000
	handshake(f, f->sctx, "server.cee.test", s11);
	check_resumed(f, true);
#else
	if (version != CEE_TLS_V12) {
		handshake(f, f->sctx, "server.cee.test", s11);
		check_resumed(f, true);
	} else {
		open_pair(f, f->sctx, "server.cee.test", s11);
		pump(&f->c, &f->s);
		cee_tls_get_info(f->s.t, &si);
		assert_false(si.resumed); // the known limit of wolfSSL 5.5.4
	}
#endif
	cee_tls_session_free(s11);
	fake_ns = 12 * P + P / 2; /* epoch 12: it no longer does: a full handshake */
	open_pair(f, f->sctx, "server.cee.test", s);
	deliver(&f->c, &f->s, 0);
	assert_int_equal(f->s.closes, 0);
	if (version == CEE_TLS_V12)
		assert_int_not_equal(ske_curve(f->s.out, f->s.out_len), 0);
	pump(&f->c, &f->s);
	cee_tls_get_info(f->s.t, &si);
	assert_false(si.resumed);
	if (version != CEE_TLS_V12) // (this wolfSSL's TLS 1.2 client aborts then, as in
		assert_up(&f->s);   // test_no_resume_other_key_tls12; the server is what is checked)
	assert_int_equal(cee_tls_ctx_stats(f->sctx)->ticket_rotations, 2);
	// a shard with no handshake steps too (its tick, once a second: else
	// it kept epoch 10's secret, from which every later key derives); and
	// a ticket of epoch 12 from one shard opens on the other
	assert_int_equal(cee_tls_ctx_stats(f->sctx2)->ticket_rotations, 0);
	cee_tls_ctx_tick(f->sctx2);
	assert_int_equal(cee_tls_ctx_stats(f->sctx2)->ticket_rotations, 2);
	s2 = first_session(f, f->sctx);
	handshake(f, f->sctx2, "server.cee.test", s2);
	check_resumed(f, true);
	assert_int_equal(cee_tls_ctx_stats(f->sctx2)->ticket_rotations, 2);
	cee_tls_session_free(s);
	cee_tls_session_free(s2);
}

static void test_ticket_rotation_tls12(void **state)
{
	check_ticket_rotation(state, CEE_TLS_V12);
}

static void test_ticket_rotation_tls13(void **state)
{
	check_ticket_rotation(state, CEE_TLS_V13);
}

// Guards against: an all-zero ticket_key still issuing tickets (sealed
// under a key nobody configured).
static void test_tickets_off(void **state)
{
	struct fx *f = *state;
	struct cee_tls_cfg scfg = server_cfg();
	uint16_t versions[] = {CEE_TLS_V12, CEE_TLS_V13};

	memset(scfg.ticket_key, 0, sizeof(scfg.ticket_key));
	f->sctx = make_ctx(f, &scfg, true);
	for (size_t i = 0; i < 2; i++) {
		struct cee_tls_cfg ccfg = client_cfg(versions[i]);

		end_reset(&f->c);
		end_reset(&f->s);
		cee_tls_ctx_destroy(f->cctx);
		f->cctx = make_ctx(f, &ccfg, false);
		handshake(f, f->sctx, "server.cee.test", NULL);
		send_and_check(&f->s, &f->c, "hello");
		assert_null(cee_tls_session_get(f->c.t));
	}
}

// ---- the end of a connection ----

// Guards against: close_notify from the client not reported as
// tls_close_notify, the server not answering with its own, and io.close
// called more than once.
static void test_close_notify_from_client(void **state)
{
	struct fx *f = *state;
	struct cee_tls_cfg scfg = server_cfg(), ccfg = client_cfg(0);
	struct cee_tls_info si, ci;

	f->sctx = make_ctx(f, &scfg, true);
	f->cctx = make_ctx(f, &ccfg, false);
	handshake(f, f->sctx, "server.cee.test", NULL);
	cee_tls_shutdown(f->c.t);
	cee_tls_shutdown(f->c.t); // once only
	assert_true(f->c.out_len > 0);
	assert_int_equal(cee_tls_send(f->c.t, (const uint8_t *)"x", 1), -ENOTCONN);
	assert_int_equal(f->c.closes, 0); // local close: the stack knows
	deliver(&f->c, &f->s, 0);
	assert_int_equal(f->s.closes, 1);
	assert_int_equal(f->s.reason, CEE_REASON_TLS_CLOSE_NOTIFY);
	assert_true(f->s.out_len > 0); // its close_notify, sent before io.close
	assert_true(f->s.out_total_at_close == f->s.out_total);
	cee_tls_get_info(f->s.t, &si);
	assert_true(si.close_notify);
	assert_int_equal(si.alert, 0);
	assert_int_equal(cee_tls_ctx_stats(f->sctx)->close_notify_received, 1);
	deliver(&f->s, &f->c, 0);
	assert_int_equal(f->c.closes, 1);
	assert_int_equal(f->c.reason, CEE_REASON_TLS_CLOSE_NOTIFY);
	cee_tls_get_info(f->c.t, &ci);
	assert_true(ci.close_notify);
	assert_int_equal(f->c.out_len, 0); // no second close_notify
	assert_int_equal(cee_tls_input(f->s.t, (const uint8_t *)"x", 1), -ENOTCONN);
	assert_int_equal(cee_tls_send(f->s.t, (const uint8_t *)"x", 1), -ENOTCONN);
	assert_false(cee_tls_eof(f->s.t)); // not truncated
	assert_int_equal(f->s.closes, 1);
	assert_int_equal(cee_tls_ctx_stats(f->sctx)->truncated, 0);
}

// Guards against: the stack's paced window blind to a record the input
// ended inside (cee_tls_held() 0 while wolfSSL kept its bytes): bytes that
// completed it came in through room its echo needed, and the echo found
// no room (no_resources). Held counts every byte of the record so far,
// header included, and drops to 0 when it is whole and its plaintext up.
static void check_held(void **state, uint16_t version)
{
	struct fx *f = *state;
	struct cee_tls_cfg scfg = server_cfg(), ccfg = client_cfg(version);
	static uint8_t msg[3000];

	f->sctx = make_ctx(f, &scfg, true);
	f->cctx = make_ctx(f, &ccfg, false);
	handshake(f, f->sctx, "server.cee.test", NULL);
	assert_int_equal(cee_tls_held(f->s.t), 0);
	memset(msg, 'h', sizeof(msg));
	assert_int_equal(cee_tls_send(f->c.t, msg, sizeof(msg)), (int)sizeof(msg));
	size_t n = f->c.out_len, before = f->s.up_len;
	assert_true(n > sizeof(msg) + 5); // one record: header, body, its overhead
	assert_int_equal(f->c.out[3] << 8 | f->c.out[4], (int)n - 5);
	const uint32_t cuts[] = {3, 5, 1000, (uint32_t)n - 1};
	uint32_t off = 0;
	for (unsigned i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		assert_int_equal(cee_tls_input(f->s.t, f->c.out + off, cuts[i] - off), 0);
		off = cuts[i];
		assert_int_equal(cee_tls_held(f->s.t), off);
		assert_int_equal(f->s.up_len, before);
	}
	assert_int_equal(cee_tls_input(f->s.t, f->c.out + off, (uint32_t)(n - off)), 0);
	assert_int_equal(cee_tls_held(f->s.t), 0);
	assert_int_equal(f->s.up_len - before, sizeof(msg));
	f->c.out_len = 0;
}

static void test_held_tls12(void **state)
{
	check_held(state, CEE_TLS_V12);
}

static void test_held_tls13(void **state)
{
	check_held(state, CEE_TLS_V13);
}

// Guards against: a server-side shutdown not reaching the client, and
// data the server sent before it being lost.
static void test_close_notify_from_server(void **state)
{
	struct fx *f = *state;
	struct cee_tls_cfg scfg = server_cfg(), ccfg = client_cfg(CEE_TLS_V12);

	f->sctx = make_ctx(f, &scfg, true);
	f->cctx = make_ctx(f, &ccfg, false);
	handshake(f, f->sctx, "server.cee.test", NULL);
	assert_int_equal(cee_tls_send(f->s.t, (const uint8_t *)"bye", 3), 3);
	cee_tls_shutdown(f->s.t);
	deliver(&f->s, &f->c, 0);
	assert_int_equal(f->c.up_len, 3);
	assert_memory_equal(f->c.up, "bye", 3);
	assert_int_equal(f->c.closes, 1);
	assert_int_equal(f->c.reason, CEE_REASON_TLS_CLOSE_NOTIFY);
	deliver(&f->c, &f->s, 0); // the client's answer
	assert_int_equal(f->s.closes, 1);
	assert_int_equal(f->s.reason, CEE_REASON_TLS_CLOSE_NOTIFY);
}

// Fault (review): after our close_notify, what wolfSSL still writes goes
// nowhere (RFC 8446 6.1); an alert it "sent" at a bad record from the
// peer was still reported as ours: closed said alert 20, alert_by local,
// and alerts_sent counted it, though nothing went on the wire.
static void check_alert_after_close_notify(void **state, uint16_t version)
{
	struct fx *f = *state;
	struct cee_tls_cfg scfg = server_cfg(), ccfg = client_cfg(version);
	struct cee_tls_info si;

	f->sctx = make_ctx(f, &scfg, true);
	f->cctx = make_ctx(f, &ccfg, false);
	handshake(f, f->sctx, "server.cee.test", NULL);
	cee_tls_shutdown(f->s.t); // ours first
	size_t sent = f->s.out_len;
	assert_true(sent > 0);
	assert_int_equal(cee_tls_send(f->c.t, (const uint8_t *)"late data", 9), 9);
	assert_true(f->c.out_len > 6);
	f->c.out[f->c.out_len - 1] ^= 0x55; // its tag: a bad record (bad_record_mac)
	deliver(&f->c, &f->s, 0);
	assert_int_equal(f->s.closes, 1);
	assert_int_equal(f->s.out_len, sent); // nothing went down after close_notify
	cee_tls_get_info(f->s.t, &si);
	assert_int_equal(si.alert, 0);
	assert_false(si.alert_local);
	assert_int_equal(cee_tls_ctx_stats(f->sctx)->alerts_sent, 0);
	assert_int_not_equal(f->s.reason, CEE_REASON_TLS_ALERT);
}

static void test_alert_after_close_notify_tls12(void **state)
{
	check_alert_after_close_notify(state, CEE_TLS_V12);
}

static void test_alert_after_close_notify_tls13(void **state)
{
	check_alert_after_close_notify(state, 0);
}

// Guards against: a peer's fatal alert not reported as tls_alert with
// the peer's number and alert_local false, and our own alert (the
// client cannot verify the server) not sent before io.close.
static void check_peer_alert(void **state, uint16_t version)
{
	struct fx *f = *state;
	struct cee_tls_cfg scfg = server_cfg(), ccfg = client_cfg(version);

	ccfg.ca_file = CERT("other-ca.pem");
	f->sctx = make_ctx(f, &scfg, true);
	f->cctx = make_ctx(f, &ccfg, false);
	open_pair(f, f->sctx, "server.cee.test", NULL);
	pump(&f->c, &f->s);
	assert_alert(&f->c, 48, true); // unknown_ca
	assert_alert(&f->s, 48, false);
	assert_int_equal(cee_tls_ctx_stats(f->sctx)->alerts_received, 1);
	assert_int_equal(cee_tls_ctx_stats(f->sctx)->handshake_failures, 1);
	assert_int_equal(cee_tls_ctx_stats(f->cctx)->alerts_sent, 1);
	assert_int_equal(cee_tls_input(f->s.t, (const uint8_t *)"x", 1), -ENOTCONN);
	assert_int_equal(cee_tls_input(f->c.t, (const uint8_t *)"x", 1), -ENOTCONN);
	assert_false(cee_tls_eof(f->s.t));
	assert_int_equal(f->s.closes, 1);
}

static void test_peer_alert_tls12(void **state)
{
	check_peer_alert(state, CEE_TLS_V12);
}

static void test_peer_alert_tls13(void **state)
{
	check_peer_alert(state, 0);
}

// Guards against: a TLS 1.3 peer's alert sent in clear (OpenSSL rejects our
// certificate before it has handshake keys) being reported as an
// unexpected_message alert of ours: the peer's alert is the first cause.
// The record comes split at every byte boundary too.
static void test_peer_alert_in_clear_tls13(void **state)
{
	struct fx *f = *state;
	struct cee_tls_cfg scfg = server_cfg(), ccfg = client_cfg(0);
	static const uint8_t alert[] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 48};

	f->sctx = make_ctx(f, &scfg, true);
	f->cctx = make_ctx(f, &ccfg, false);
	for (size_t k = 0; k <= sizeof(alert); k++) {
		open_pair(f, f->sctx, "server.cee.test", NULL);
		deliver(&f->c, &f->s, 0);
		assert_true(f->s.out_len > 0); // the server's flight; the client never reads it
		f->s.out_len = 0;
		// the part that does not complete the record changes nothing yet
		if (k > 0)
			assert_int_equal(cee_tls_input(f->s.t, alert, (uint32_t)k),
					 k < sizeof(alert) ? 0 : -EPROTO);
		assert_int_equal(f->s.closes, k < sizeof(alert) ? 0 : 1);
		if (k < sizeof(alert))
			assert_int_equal(cee_tls_input(f->s.t, alert + k,
							(uint32_t)(sizeof(alert) - k)),
					 -EPROTO);
		assert_alert(&f->s, 48, false);
		cee_tls_free(f->s.t);
		cee_tls_free(f->c.t);
		f->s.t = f->c.t = NULL;
	}
}

// The server's verdict on a forged clear alert: not the peer's (our own
// alert, or none), not counted as received.
static void assert_not_credited(struct fx *f)
{
	struct cee_tls_info info;

	cee_tls_get_info(f->s.t, &info);
	assert_true(info.alert == 0 || info.alert_local);
	assert_int_not_equal(info.alert, 40);
	assert_int_equal(cee_tls_ctx_stats(f->sctx)->alerts_received, 0);
}

// Both ends and their contexts go (the next case makes its own).
static void drop_pair(struct fx *f)
{
	end_reset(&f->s);
	end_reset(&f->c);
	cee_tls_ctx_destroy(f->sctx);
	cee_tls_ctx_destroy(f->cctx);
	f->sctx = f->cctx = NULL;
}

// Guards against: a fatal alert in clear forged by a third party (or sent
// by a broken peer) credited to the peer when wolfSSL did not fail on it:
// after the handshake (alerts are protected then: wolfSSL rejects the
// record with its own alert), and during it behind a record wolfSSL failed
// on first. Both were reported as the peer's alert 40, counted in
// alerts_received.
static void test_forged_clear_alert_not_credited(void **state)
{
	struct fx *f = *state;
	static const uint8_t alert[] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 40};
	static const uint16_t versions[] = {CEE_TLS_V12, 0};

	for (size_t v = 0; v < 2; v++) {
		struct cee_tls_cfg scfg = server_cfg(), ccfg = client_cfg(versions[v]);

		f->sctx = make_ctx(f, &scfg, true);
		f->cctx = make_ctx(f, &ccfg, false);
		handshake(f, f->sctx, "server.cee.test", NULL);
		assert_int_equal(cee_tls_input(f->s.t, alert, sizeof(alert)), -EPROTO);
		assert_int_equal(f->s.closes, 1);
		assert_not_credited(f);
		drop_pair(f);
	}

	// the client's last handshake flight and the alert in one input (the
	// shard stages segments together): the handshake completes, the alert
	// comes after it (it was credited: the input came during the handshake)
	for (size_t v = 0; v < 2; v++) {
		struct cee_tls_cfg scfg = server_cfg(), ccfg = client_cfg(versions[v]);

		f->sctx = make_ctx(f, &scfg, true);
		f->cctx = make_ctx(f, &ccfg, false);
		open_pair(f, f->sctx, "server.cee.test", NULL);
		deliver(&f->c, &f->s, 0); // ClientHello
		deliver(&f->s, &f->c, 0); // the server's flight: the client's last is out
		assert_true(f->c.out_len > 0);
		grow(&f->c.out, &f->c.out_cap, f->c.out_len + sizeof(alert));
		memcpy(f->c.out + f->c.out_len, alert, sizeof(alert));
		f->c.out_len += sizeof(alert);
		deliver(&f->c, &f->s, 0);
		assert_int_equal(f->s.milestones, 1); // up, then the alert
		assert_int_equal(f->s.closes, 1);
		assert_not_credited(f);
		drop_pair(f);
	}

	// during the handshake: a ClientHello record of garbage, then the alert
	struct cee_tls_cfg scfg = server_cfg();
	uint8_t in[9 + sizeof(alert)] = {0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0x00, 0x00};
	memcpy(in + 9, alert, sizeof(alert));
	f->sctx = make_ctx(f, &scfg, true);
	end_reset(&f->s);
	struct cee_layer_io sio = end_io(&f->s);
	f->s.t = cee_tls_new(f->sctx, &sio, NULL);
	assert_non_null(f->s.t);
	assert_int_equal(cee_tls_input(f->s.t, in, sizeof(in)), -EPROTO);
	assert_not_credited(f);
}

// Guards against: a server name that does not match the certificate
// being accepted by a verifying client.
static void test_client_name_mismatch(void **state)
{
	struct fx *f = *state;
	struct cee_tls_cfg scfg = server_cfg(), ccfg = client_cfg(0);

	f->sctx = make_ctx(f, &scfg, true);
	f->cctx = make_ctx(f, &ccfg, false);
	open_pair(f, f->sctx, "other.cee.test", NULL);
	pump(&f->c, &f->s);
	assert_alert(&f->c, 42, true); // bad_certificate
	assert_alert(&f->s, 42, false);
}

// Guards against: mutual TLS accepting a client certificate from an
// unrelated CA; our alert must be reported with alert_local true.
static void check_mtls_unknown_ca(void **state, uint16_t version)
{
	struct fx *f = *state;
	struct cee_tls_cfg scfg = server_cfg(), ccfg = client_cfg(version);

	scfg.ca_file = CERT("ca.pem");
	ccfg.cert_file = CERT("other-client.pem");
	ccfg.key_file = CERT("other-client.key");
	f->sctx = make_ctx(f, &scfg, true);
	f->cctx = make_ctx(f, &ccfg, false);
	open_pair(f, f->sctx, "server.cee.test", NULL);
	pump(&f->c, &f->s);
	assert_alert(&f->s, 48, true); // unknown_ca
	// Under TLS 1.3 the client's handshake is complete when it sends its
	// Finished (RFC 8446 4.4.4), before the server judges its
	// certificate: it is up, then gets the alert.
	assert_alert_up(&f->c, 48, false, version != CEE_TLS_V12);
	assert_int_equal(cee_tls_ctx_stats(f->sctx)->alerts_sent, 1);
	assert_int_equal(cee_tls_ctx_stats(f->sctx)->handshake_failures, 1);
	assert_int_equal(cee_tls_ctx_stats(f->sctx)->handshakes, 0);
}

// The first fatal alert @p e ended with, whoever sent it; the handshake
// never completed on that side (no tls_up).
static void assert_refused(struct end *e)
{
	struct cee_tls_info info;

	assert_int_equal(e->closes, 1);
	assert_int_equal(e->reason, CEE_REASON_TLS_ALERT);
	cee_tls_get_info(e->t, &info);
	assert_int_not_equal(info.alert, 0);
}

/*
 * Guards against (review of the TLS client side): Debian's wolfSSL (built
 * with WOLFSSL_TRUST_PEER_CERT and OPENSSL_COMPATIBLE_DEFAULTS) loads the CA
 * file a second time as "trusted peers", and its source skips chain
 * verification for a certificate that matches one by subject and
 * signature bytes. The CA certificate is public: a forged one with its
 * subject, its signature bytes copied, another key and the server's names
 * (tests/certs/ca-clone.*, made by ca_clone.py) must be refused as the
 * server (a link's man in the middle) and as a client (mutual TLS). With
 * 5.5.4 here it was refused (bad_certificate) before the trusted peers
 * were unloaded too: this keeps it so, whatever the library's build.
 */
static void check_ca_clone_server(void **state, uint16_t version)
{
	struct fx *f = *state;
	struct cee_tls_cfg scfg = server_cfg(), ccfg = client_cfg(version);

	scfg.cert_file = CERT("ca-clone.pem");
	scfg.key_file = CERT("ca-clone.key");
	f->sctx = make_ctx(f, &scfg, true);
	f->cctx = make_ctx(f, &ccfg, false);
	open_pair(f, f->sctx, "server.cee.test", NULL);
	pump(&f->c, &f->s);
	assert_refused(&f->c);
	assert_int_equal(f->c.milestones, 0); // never up
	assert_int_equal(cee_tls_ctx_stats(f->cctx)->handshakes, 0);
}

static void test_ca_clone_server_tls12(void **state)
{
	check_ca_clone_server(state, CEE_TLS_V12);
}

static void test_ca_clone_server_tls13(void **state)
{
	check_ca_clone_server(state, 0);
}

static void check_ca_clone_client(void **state, uint16_t version)
{
	struct fx *f = *state;
	struct cee_tls_cfg scfg = server_cfg(), ccfg = client_cfg(version);

	scfg.ca_file = CERT("ca.pem");
	ccfg.cert_file = CERT("ca-clone.pem");
	ccfg.key_file = CERT("ca-clone.key");
	f->sctx = make_ctx(f, &scfg, true);
	f->cctx = make_ctx(f, &ccfg, false);
	open_pair(f, f->sctx, "server.cee.test", NULL);
	pump(&f->c, &f->s);
	assert_refused(&f->s);
	assert_int_equal(f->s.milestones, 0); // the server never took it
	assert_int_equal(cee_tls_ctx_stats(f->sctx)->handshakes, 0);
}

static void test_ca_clone_client_tls12(void **state)
{
	check_ca_clone_client(state, CEE_TLS_V12);
}

static void test_ca_clone_client_tls13(void **state)
{
	check_ca_clone_client(state, 0);
}

static void test_mtls_unknown_ca_tls12(void **state)
{
	check_mtls_unknown_ca(state, CEE_TLS_V12);
}

static void test_mtls_unknown_ca_tls13(void **state)
{
	check_mtls_unknown_ca(state, 0);
}

// Guards against: mutual TLS letting a client in without a certificate
// (RFC 8446 4.4.2.4: certificate_required under 1.3; RFC 5246 7.4.6:
// handshake_failure under 1.2).
static void check_mtls_no_cert(void **state, uint16_t version, uint8_t alert)
{
	struct fx *f = *state;
	struct cee_tls_cfg scfg = server_cfg(), ccfg = client_cfg(version);

	scfg.ca_file = CERT("ca.pem");
	f->sctx = make_ctx(f, &scfg, true);
	f->cctx = make_ctx(f, &ccfg, false);
	open_pair(f, f->sctx, "server.cee.test", NULL);
	pump(&f->c, &f->s);
	assert_alert(&f->s, alert, true);
	assert_alert_up(&f->c, alert, false, version != CEE_TLS_V12);
}

static void test_mtls_no_cert_tls12(void **state)
{
	check_mtls_no_cert(state, CEE_TLS_V12, 40);
}

static void test_mtls_no_cert_tls13(void **state)
{
	check_mtls_no_cert(state, 0, 116);
}

// ---- hand-made ClientHellos and garbage ----

// A ClientHello record (RFC 5246 7.4.1.2) with @p version in both the
// record and the hello, no session id, the null compression method.
static size_t client_hello(uint8_t *out, uint16_t version, const uint16_t *suites, size_t nsuites,
			   const uint8_t *ext, size_t ext_len)
{
	size_t body = 2 + 32 + 1 + 2 + 2 * nsuites + 2 + (ext_len > 0 ? 2 + ext_len : 0);
	size_t i = 0;

	out[i++] = 0x16;
	out[i++] = 0x03;
	out[i++] = 0x01;
	out[i++] = (uint8_t)((body + 4) >> 8);
	out[i++] = (uint8_t)(body + 4);
	out[i++] = 0x01; // client_hello
	out[i++] = 0;
	out[i++] = (uint8_t)(body >> 8);
	out[i++] = (uint8_t)body;
	out[i++] = (uint8_t)(version >> 8);
	out[i++] = (uint8_t)version;
	for (int k = 0; k < 32; k++)
		out[i++] = (uint8_t)(k * 7 + 1);
	out[i++] = 0; // session id
	out[i++] = (uint8_t)((2 * nsuites) >> 8);
	out[i++] = (uint8_t)(2 * nsuites);
	for (size_t k = 0; k < nsuites; k++) {
		out[i++] = (uint8_t)(suites[k] >> 8);
		out[i++] = (uint8_t)suites[k];
	}
	out[i++] = 1;
	out[i++] = 0;
	if (ext_len > 0) {
		out[i++] = (uint8_t)(ext_len >> 8);
		out[i++] = (uint8_t)ext_len;
		memcpy(out + i, ext, ext_len);
		i += ext_len;
	}
	return i;
}

// A server connection fed @p len raw bytes as if from a client.
static void feed_server(struct fx *f, const uint8_t *data, size_t len)
{
	struct cee_tls_cfg scfg = server_cfg();
	struct cee_layer_io sio;

	f->sctx = make_ctx(f, &scfg, true);
	sio = end_io(&f->s);
	f->s.t = cee_tls_new(f->sctx, &sio, NULL);
	assert_non_null(f->s.t);
	assert_int_equal(cee_tls_input(f->s.t, data, (uint32_t)len), -EPROTO);
}

// The last record @p e sent down is an alert in clear: @p level, @p code.
static void assert_clear_alert_sent(struct end *e, uint8_t code)
{
	assert_true(e->out_len >= 7);
	const uint8_t *r = e->out + e->out_len - 7;
	assert_int_equal(r[0], 0x15);
	assert_int_equal(r[1], 0x03);
	assert_int_equal(r[3], 0);
	assert_int_equal(r[4], 2);
	assert_int_equal(r[5], 2); // fatal
	assert_int_equal(r[6], code);
}

// Guards against: a TLS 1.1 (or older) client getting anything but a
// protocol_version alert (RFC 8446 D.2, RFC 5246 E.1).
static void test_protocol_version_alert(void **state)
{
	struct fx *f = *state;
	static const uint16_t suites[] = {0xc02b, 0xc02f, 0xc009, 0xc013};
	static const uint16_t versions[] = {0x0301, 0x0302}; // TLS 1.0, 1.1
	uint8_t ch[256];

	for (size_t i = 0; i < 2; i++) {
		size_t n = client_hello(ch, versions[i], suites, 4, NULL, 0);

		end_reset(&f->s);
		cee_tls_ctx_destroy(f->sctx);
		feed_server(f, ch, n);
		assert_alert(&f->s, 70, true);
		assert_clear_alert_sent(&f->s, 70);
		assert_int_equal(cee_tls_ctx_stats(f->sctx)->alerts_sent, 1);
		assert_int_equal(cee_tls_ctx_stats(f->sctx)->handshake_failures, 1);
	}
}

// Guards against: a non-ECDHE key exchange being negotiated: a client
// offering only finite-field DHE and RSA key transport suites gets
// handshake_failure (RFC 5246 7.4.1.3).
static void test_no_common_suite_alert(void **state)
{
	struct fx *f = *state;
	// DHE-RSA-AES128-GCM-SHA256, AES128-GCM-SHA256, AES128-SHA
	static const uint16_t suites[] = {0x009e, 0x009c, 0x002f};
	uint8_t ch[256];
	size_t n = client_hello(ch, 0x0303, suites, 3, NULL, 0);

	feed_server(f, ch, n);
	assert_alert(&f->s, 40, true);
	assert_clear_alert_sent(&f->s, 40);
}

// The named curve of the ServerKeyExchange (RFC 8422 5.4) in a TLS 1.2
// server flight in clear, or 0.
static uint16_t ske_curve(const uint8_t *p, size_t n)
{
	for (size_t r = 0; r + 5 <= n;) {
		size_t rlen = (size_t)p[r + 3] << 8 | p[r + 4];

		if (p[r] != 0x16 || r + 5 + rlen > n)
			return 0;
		for (size_t h = r + 5; h + 4 <= r + 5 + rlen;) {
			size_t hlen = (size_t)p[h + 1] << 16 | (size_t)p[h + 2] << 8 | p[h + 3];

			if (p[h] == 12 && hlen >= 3 && p[h + 4] == 3) // named_curve
				return (uint16_t)(p[h + 5] << 8 | p[h + 6]);
			h += 4 + hlen;
		}
		r += 5 + rlen;
	}
	return 0;
}

// A TLS 1.2 ClientHello with one ECDHE suite and @p group as its only
// group: the curve the server picks for its key exchange.
static uint16_t tls12_curve_for(struct fx *f, uint16_t group)
{
	static const uint16_t suites[] = {0xc02b}; // ECDHE-ECDSA-AES128-GCM-SHA256
	const uint8_t ext[] = {
	    0x00,	    0x0a, 0x00, 0x04, 0x00, 0x02, (uint8_t)(group >> 8),
	    (uint8_t)group, 0x00, 0x0b, 0x00, 0x02, 0x01, 0x00, // ec_point_formats: uncompressed
	    0x00,	    0x0d, 0x00, 0x04, 0x00, 0x02, 0x04,
	    0x03, // ecdsa_secp256r1_sha256
	};
	struct cee_layer_io sio = end_io(&f->s);
	uint8_t ch[256];
	size_t n = client_hello(ch, 0x0303, suites, 1, ext, sizeof(ext));

	end_reset(&f->s);
	f->s.t = cee_tls_new(f->sctx, &sio, NULL);
	assert_non_null(f->s.t);
	assert_int_equal(cee_tls_input(f->s.t, ch, (uint32_t)n), 0);
	assert_int_equal(f->s.closes, 0);
	return ske_curve(f->s.out, f->s.out_len);
}

// Guards against: TLS 1.2 ECDHE on a group outside X25519, P-256, P-384.
// A client whose only group is P-384 gets P-384; one whose only group is
// P-521 does not get P-521 (this wolfSSL then falls back to P-256, which
// such a client refuses, rather than answering handshake_failure as RFC
// 8422 5.1 says).
static void test_tls12_groups(void **state)
{
	struct fx *f = *state;
	struct cee_tls_cfg scfg = server_cfg();

	f->sctx = make_ctx(f, &scfg, true);
	assert_int_equal(tls12_curve_for(f, 0x0018), 0x0018); // secp384r1
	assert_int_equal(tls12_curve_for(f, 0x001d), 0x001d); // x25519
	uint16_t c = tls12_curve_for(f, 0x0019);	      // secp521r1
	assert_true(c == 0x0017 || c == 0x0018 || c == 0x001d);
}

// Guards against: plain text (a SIP or HTTP client on the TLS port)
// hanging the connection or being reported as anything but an error.
// wolfSSL answers a record type it does not know with no alert, so the
// reason is protocol_error and nothing goes down.
static void test_garbage_http(void **state)
{
	struct fx *f = *state;
	static const char req[] = "GET / HTTP/1.1\r\nHost: server.cee.test\r\n\r\n";
	struct cee_tls_info si;

	feed_server(f, (const uint8_t *)req, sizeof(req) - 1);
	assert_int_equal(f->s.closes, 1);
	assert_int_equal(f->s.reason, CEE_REASON_PROTOCOL_ERROR);
	cee_tls_get_info(f->s.t, &si);
	assert_int_equal(si.alert, 0);
	assert_int_equal(f->s.out_total, 0);
	assert_int_equal(cee_tls_ctx_stats(f->sctx)->handshake_failures, 1);
	assert_int_equal(cee_tls_ctx_stats(f->sctx)->alerts_sent, 0);
	assert_int_equal(cee_tls_input(f->s.t, (const uint8_t *)"x", 1), -ENOTCONN);
}

// Guards against: a handshake record whose body is not a ClientHello
// (a fuzzer, a broken client) not ending the connection at once: wolfSSL
// answers decode_error, reported as our alert.
static void test_garbage_handshake_record(void **state)
{
	struct fx *f = *state;
	uint8_t junk[64] = {0x16, 0x03, 0x01, 0x00, 59, 0x01, 0x00, 0x00, 55};

	for (size_t i = 9; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 37 + 11);
	feed_server(f, junk, sizeof(junk));
	assert_alert(&f->s, 50, true); // decode_error
	assert_clear_alert_sent(&f->s, 50);
}

// Guards against (TLS review): a failure wolfSSL raised itself, answering
// with its own fatal alert, read as a fatal alert from the peer (closed
// tls_alert with no alert code, alert_by peer, alerts_received counted).
// A HelloRequest sent to a server is one: wolfSSL answers
// unexpected_message (10). Before the handshake 5.5.4 returns an error
// of its own here (the review traced FATAL_ERROR for one inside an
// established TLS 1.2 session, which this harness's client cannot send);
// end_on_error() now credits the peer only with a fatal alert it received.
static void test_hello_request_to_server(void **state)
{
	struct fx *f = *state;
	static const uint8_t hr[] = {0x16, 0x03, 0x01, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00};
	struct cee_tls_info si;

	feed_server(f, hr, sizeof(hr));
	assert_int_equal(f->s.closes, 1);
	cee_tls_get_info(f->s.t, &si);
	assert_int_equal(f->s.reason, CEE_REASON_TLS_ALERT);
	assert_int_equal(si.alert, 10); /* unexpected_message */
	assert_true(si.alert_local);
	assert_int_equal(cee_tls_ctx_stats(f->sctx)->alerts_received, 0);
	assert_int_equal(cee_tls_ctx_stats(f->sctx)->alerts_sent, 1);
}

// Guards against: random bytes (not TLS at all) hanging the connection.
// Read as a record header they announce a record longer than TLS allows,
// and wolfSSL answers record_overflow: reported as our alert. (Which of
// tls_alert or protocol_error follows from whether an alert went on the
// wire; test_garbage_http is the other case.)
static void test_garbage_random(void **state)
{
	struct fx *f = *state;
	uint8_t junk[64];
	uint32_t x = 12345;

	for (size_t i = 0; i < sizeof(junk); i++) {
		x = x * 1103515245 + 12345;
		junk[i] = (uint8_t)(x >> 16);
	}
	feed_server(f, junk, sizeof(junk));
	assert_alert(&f->s, 22, true); // record_overflow
	assert_clear_alert_sent(&f->s, 22);
}

// ---- byte stream edges ----

// Guards against: a stream ending without close_notify (RFC 8446 6.1)
// going unnoticed, and a clean end being counted as truncated.
static void test_truncation(void **state)
{
	struct fx *f = *state;
	struct cee_tls_cfg scfg = server_cfg(), ccfg = client_cfg(0);
	struct cee_tls_info si;

	f->sctx = make_ctx(f, &scfg, true);
	f->cctx = make_ctx(f, &ccfg, false);
	handshake(f, f->sctx, "server.cee.test", NULL);
	assert_true(cee_tls_eof(f->s.t));
	assert_true(cee_tls_eof(f->s.t)); // counted once
	cee_tls_get_info(f->s.t, &si);
	assert_true(si.truncated);
	assert_int_equal(cee_tls_ctx_stats(f->sctx)->truncated, 1);
	assert_int_equal(cee_tls_input(f->s.t, (const uint8_t *)"x", 1), -ENOTCONN);
	assert_int_equal(f->s.closes, 0); // the stack reports the FIN itself

	handshake(f, f->sctx, "server.cee.test", NULL);
	cee_tls_shutdown(f->c.t);
	pump(&f->c, &f->s);
	assert_false(cee_tls_eof(f->s.t));
	assert_false(cee_tls_eof(f->c.t));
	cee_tls_get_info(f->s.t, &si);
	assert_false(si.truncated);
	assert_int_equal(cee_tls_ctx_stats(f->sctx)->truncated, 1);
}

// Guards against: records split across TCP segments being lost,
// duplicated or misparsed: every flight of the handshake goes over one
// byte per call, then a data record is cut at every point k.
static void check_split(void **state, uint16_t version)
{
	struct fx *f = *state;
	struct cee_tls_cfg scfg = server_cfg(), ccfg = client_cfg(version);
	static const char msg[] = "INVITE sip:bob@cee.test SIP/2.0\r\nVia: SIP/2.0/TLS x\r\n\r\n";
	const size_t mlen = sizeof(msg) - 1;

	scfg.ca_file = CERT("ca.pem");
	ccfg.cert_file = CERT("client.pem");
	ccfg.key_file = CERT("client.key");
	f->sctx = make_ctx(f, &scfg, true);
	f->cctx = make_ctx(f, &ccfg, false);
	open_pair(f, f->sctx, "server.cee.test", NULL);
	pump_step(&f->c, &f->s, 1);
	assert_up(&f->c);
	assert_up(&f->s);
	send_and_check(&f->s, &f->c, "ticket round trip"); // TLS 1.3 NewSessionTicket

	for (size_t k = 1;; k++) {
		size_t before = f->s.up_len;
		int calls = f->s.up_calls;
		size_t n;
		uint8_t rec[256];

		assert_int_equal(cee_tls_send(f->c.t, (const uint8_t *)msg, (uint32_t)mlen),
				 (int)mlen);
		n = f->c.out_len;
		assert_true(n <= sizeof(rec));
		memcpy(rec, f->c.out, n);
		f->c.out_len = 0;
		if (k >= n) {
			assert_int_equal(cee_tls_input(f->s.t, rec, (uint32_t)n), 0);
			assert_int_equal(f->s.up_len - before, mlen);
			break;
		}
		assert_int_equal(cee_tls_input(f->s.t, rec, (uint32_t)k), 0);
		assert_int_equal(f->s.up_len, before); // nothing before the record is whole
		assert_int_equal(cee_tls_input(f->s.t, rec + k, (uint32_t)(n - k)), 0);
		assert_int_equal(f->s.up_len - before, mlen);
		assert_int_equal(f->s.up_calls, calls + 1);
		assert_memory_equal(f->s.up + before, msg, mlen);
	}
	assert_int_equal(f->s.closes, 0);
	assert_int_equal(f->s.out_len, 0);
}

static void test_split_tls12(void **state)
{
	check_split(state, CEE_TLS_V12);
}

// Guards against (review): --tls-mem is documented as on top of what the
// contexts hold, but a reload's new WOLFSSL_CTX (certificate chain, key, CA
// store) was built inside the budget, and an old one kept by the
// connections made before the reload stayed charged to it too: a SIGHUP
// near the limit failed ("not a PEM certificate chain") or took the room
// kept for live connections. The room left for connections (limit - heap)
// is the same after a reload, and after its old context is freed.
static void test_reload_outside_the_budget(void **state)
{
	struct fx *f = *state;
	struct cee_tls_cfg scfg = server_cfg(), ccfg = client_cfg(0);

	f->sctx = make_ctx(f, &scfg, true);
	f->cctx = make_ctx(f, &ccfg, false);
	cee_tls_heap_budget(4 << 20);
	/* what the end of a pair gives back when no context goes with it */
	handshake(f, f->sctx, "server.cee.test", NULL);
	send_and_check(&f->c, &f->s, "a pair");
	int64_t room_a = cee_tls_heap_limit() - cee_tls_heap_bytes();
	end_reset(&f->c);
	end_reset(&f->s);
	int64_t d_same = cee_tls_heap_limit() - cee_tls_heap_bytes() - room_a;
	handshake(f, f->sctx, "server.cee.test", NULL); /* a connection on the first context */
	int64_t room0 = cee_tls_heap_limit() - cee_tls_heap_bytes();
	scfg.cert_file = CERT("server-rsa.pem");
	scfg.key_file = CERT("server-rsa.key");
	int64_t heap0 = cee_tls_heap_bytes();
	assert_int_equal(cee_tls_ctx_reload(f->sctx, &scfg, f->err, sizeof(f->err)), 0);
	int64_t grew = cee_tls_heap_bytes() - heap0;
	assert_true(grew > 4096); /* the new context: a chain, a key */
	int64_t room1 = cee_tls_heap_limit() - cee_tls_heap_bytes();
	assert_int_equal(room1, room0);
	send_and_check(&f->c, &f->s, "a pair");
	/* its end frees the old context: the budget comes down by its size,
	 * and the room grows by what the pair held, as above */
	int64_t room_c = cee_tls_heap_limit() - cee_tls_heap_bytes();
	end_reset(&f->c);
	end_reset(&f->s);
	int64_t d_reload = cee_tls_heap_limit() - cee_tls_heap_bytes() - room_c;
	assert_true(d_reload - d_same < 512 && d_same - d_reload < 512);
	/* a reload with no connection: the old context goes at once */
	scfg.cert_file = CERT("server.pem");
	scfg.key_file = CERT("server.key");
	room0 = cee_tls_heap_limit() - cee_tls_heap_bytes();
	assert_int_equal(cee_tls_ctx_reload(f->sctx, &scfg, f->err, sizeof(f->err)), 0);
	assert_int_equal(cee_tls_heap_limit() - cee_tls_heap_bytes(), room0);
	handshake(f, f->sctx, "server.cee.test", NULL);
	end_reset(&f->c);
	end_reset(&f->s);

	/* (review) each generation apart: a long-lived connection of an old
	 * one (t0) does not keep a later one's size (t1's) in the budget
	 * when that one's last connection ends. Summed, the budget grew by
	 * a context at each reload a long-lived connection saw. */
	struct cee_layer_io io = end_io(&f->s);
	struct cee_tls *t = cee_tls_new(f->sctx, &io, NULL);
	assert_non_null(t);
	int64_t room_t = cee_tls_heap_limit() - cee_tls_heap_bytes();
	cee_tls_free(t);
	int64_t d_one = cee_tls_heap_limit() - cee_tls_heap_bytes() - room_t; /* a fresh one's state */
	struct cee_tls *t0 = cee_tls_new(f->sctx, &io, NULL); /* generation g */
	assert_non_null(t0);
	scfg.cert_file = CERT("server-rsa.pem");
	scfg.key_file = CERT("server-rsa.key");
	assert_int_equal(cee_tls_ctx_reload(f->sctx, &scfg, f->err, sizeof(f->err)), 0);
	struct cee_tls *t1 = cee_tls_new(f->sctx, &io, NULL); /* g + 1 */
	assert_non_null(t1);
	scfg.cert_file = CERT("server.pem");
	scfg.key_file = CERT("server.key");
	assert_int_equal(cee_tls_ctx_reload(f->sctx, &scfg, f->err, sizeof(f->err)), 0);
	int64_t room_1 = cee_tls_heap_limit() - cee_tls_heap_bytes();
	cee_tls_free(t1); /* g + 1's context goes with it */
	int64_t d_1 = cee_tls_heap_limit() - cee_tls_heap_bytes() - room_1;
	assert_true(d_1 - d_one < 512 && d_one - d_1 < 512);
	cee_tls_free(t0);
	cee_tls_heap_budget(0);
}

// Guards against (session 20 review): a peer flooding KeyUpdates after
// the handshake (27 bytes a record, no plaintext, each costing wolfSSL a
// key derivation and, with update_requested, a KeyUpdate back) kept a
// shard busy at about 30 Mbit/s from one connection: no bound held it
// (the handshake budget ends at tls_up). Now records without plaintext
// beyond 64, plus one per KiB of plaintext (at most 128 held), end the connection with
// protocol_error; a few KeyUpdates among data are served as before.
static void test_key_update_flood(void **state)
{
	struct fx *f = *state;
	struct cee_tls_cfg scfg = server_cfg(), ccfg = client_cfg(CEE_TLS_V13);

	f->sctx = make_ctx(f, &scfg, true);
	f->cctx = make_ctx(f, &ccfg, false);
	handshake(f, f->sctx, "server.cee.test", NULL);
	// a legitimate peer: KeyUpdates now and then among its data
	for (int i = 0; i < 10; i++) {
		assert_int_equal(cee_tls_update_keys(f->c.t), 0);
		send_and_check(&f->c, &f->s, "hello after a key update");
		pump(&f->c, &f->s); // the server's KeyUpdate answer
	}
	send_and_check(&f->s, &f->c, "the server's keys moved too");
	assert_int_equal(f->s.closes, 0);
	assert_int_equal(cee_tls_ctx_stats(f->sctx)->quiet_records_exceeded, 0);
	// a flood: 200 in a row, no data
	for (int i = 0; i < 200; i++)
		assert_int_equal(cee_tls_update_keys(f->c.t), 0);
	deliver(&f->c, &f->s, 0);
	assert_int_equal(f->s.closes, 1);
	assert_int_equal(f->s.reason, CEE_REASON_PROTOCOL_ERROR);
	assert_int_equal(cee_tls_ctx_stats(f->sctx)->quiet_records_exceeded, 1);
	assert_int_equal(cee_tls_update_keys(f->s.t), -ENOTCONN);
	// behind the client's Finished, in the input that completes the
	// handshake (a staged 4 KiB holds 150): they count too (review: they
	// were not, the connection took 300 and then 60 more)
	open_pair(f, f->sctx, "server.cee.test", NULL);
	deliver(&f->c, &f->s, 0);  // ClientHello
	deliver(&f->s, &f->c, 0);  // the server's flight: the client is up
	assert_up(&f->c);
	for (int i = 0; i < 200; i++)
		assert_int_equal(cee_tls_update_keys(f->c.t), 0);
	deliver(&f->c, &f->s, 0); // Finished and 200 KeyUpdates, one input
	assert_int_equal(f->s.closes, 1);
	assert_int_equal(f->s.reason, CEE_REASON_PROTOCOL_ERROR);
	assert_int_equal(cee_tls_ctx_stats(f->sctx)->quiet_records_exceeded, 2);
	// (review) the allowance was a sum over the connection's life: a peer
	// that had sent 1 MiB could then send 1,088 in one burst (1 GB: a
	// million, 30 s of the shard's time). Now plaintext pays for at most
	// 128 ahead: bursts of 100 with 128 KiB between them are served, and
	// 200 after 1 MiB are not.
	open_pair(f, f->sctx, "server.cee.test", NULL);
	pump(&f->c, &f->s);
	assert_up(&f->s);
	static uint8_t chunk[16384];
	memset(chunk, 'x', sizeof(chunk));
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 8; i++) { // 128 KiB
			assert_int_equal(cee_tls_send(f->c.t, chunk, sizeof(chunk)), (int)sizeof(chunk));
			deliver(&f->c, &f->s, 0);
		}
		for (int i = 0; i < 100; i++)
			assert_int_equal(cee_tls_update_keys(f->c.t), 0);
		deliver(&f->c, &f->s, 0);
		assert_int_equal(f->s.closes, 0);
		// the server's answers not delivered: quiet records to the
		// client, which had no plaintext to pay for them (only the
		// client's sending is looked at here)
		f->s.out_len = 0;
	}
	for (int i = 0; i < 56; i++) { // 1 MiB more
		assert_int_equal(cee_tls_send(f->c.t, chunk, sizeof(chunk)), (int)sizeof(chunk));
		deliver(&f->c, &f->s, 0);
	}
	assert_int_equal(f->s.closes, 0);
	for (int i = 0; i < 200; i++)
		assert_int_equal(cee_tls_update_keys(f->c.t), 0);
	deliver(&f->c, &f->s, 0);
	assert_int_equal(f->s.closes, 1);
	assert_int_equal(f->s.reason, CEE_REASON_PROTOCOL_ERROR);
	assert_int_equal(cee_tls_ctx_stats(f->sctx)->quiet_records_exceeded, 3);
}

static void test_split_tls13(void **state)
{
	check_split(state, 0);
}

// Guards against: records for the layer above arriving in one call
// together with the end of the handshake being dropped, and several
// records in one call delivered out of order.
static void test_many_records_one_call(void **state)
{
	struct fx *f = *state;
	struct cee_tls_cfg scfg = server_cfg(), ccfg = client_cfg(0);
	char big[40000];

	f->sctx = make_ctx(f, &scfg, true);
	f->cctx = make_ctx(f, &ccfg, false);
	handshake(f, f->sctx, "server.cee.test", NULL);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	assert_int_equal(cee_tls_send(f->c.t, (const uint8_t *)big, sizeof(big)), (int)sizeof(big));
	assert_int_equal(cee_tls_send(f->c.t, (const uint8_t *)"tail", 4), 4);
	deliver(&f->c, &f->s, 0);
	assert_int_equal(f->s.up_len, sizeof(big) + 4);
	assert_memory_equal(f->s.up, big, sizeof(big));
	assert_memory_equal(f->s.up + sizeof(big), "tail", 4);
}

// Guards against: an io.down that cannot take a record being ignored
// (the record stream would be corrupt): cee_tls_send says -ENOBUFS and
// the connection is unusable; during the handshake it ends with
// no_resources.
static void test_down_full(void **state)
{
	struct fx *f = *state;
	struct cee_tls_cfg scfg = server_cfg(), ccfg = client_cfg(0);

	f->sctx = make_ctx(f, &scfg, true);
	f->cctx = make_ctx(f, &ccfg, false);
	handshake(f, f->sctx, "server.cee.test", NULL);
	f->s.down_budget = 10; // less than one record
	assert_int_equal(cee_tls_send(f->s.t, (const uint8_t *)"hello world", 11), -ENOBUFS);
	assert_int_equal(cee_tls_send(f->s.t, (const uint8_t *)"again", 5), -ENOTCONN);
	assert_int_equal(cee_tls_input(f->s.t, (const uint8_t *)"x", 1), -ENOTCONN);

	open_pair(f, f->sctx, "server.cee.test", NULL);
	f->s.down_budget = 0;
	deliver(&f->c, &f->s, 0);
	assert_int_equal(f->s.closes, 1);
	assert_int_equal(f->s.reason, CEE_REASON_NO_RESOURCES);

	// a KeyUpdate io.down cannot take: -ENOBUFS as documented (review:
	// wolfSSL's socket error came first, and it said -EIO)
	handshake(f, f->sctx, "server.cee.test", NULL);
	struct cee_tls_info si;
	cee_tls_get_info(f->s.t, &si);
	assert_int_equal(si.version, CEE_TLS_V13);
	f->s.down_budget = 10;
	assert_int_equal(cee_tls_update_keys(f->s.t), -ENOBUFS);
}

// Guards against (session 33, the send room an app waits on): a room
// cee_tls_send() then does not take whole (the record begun and cut: the
// connection lost), or one so low the app waits for nothing. For TLS 1.3
// and 1.2, below room of 0 to 100,000 bytes, in one send or in a WebSocket
// frame's pieces: the room goes whole within it, and is at least 95% of it
// from 4 KiB up (the records' headers and tags).
static void test_send_room_is_sound(void **state)
{
	struct fx *f = *state;
	static uint8_t data[100000];
	static const uint32_t wires[] = {0, 40, 100, 1000, 4096, 4110, 16384, 16500, 40000, 100000};
	static const uint32_t chunks[] = {0, 4110};
	for (unsigned v = 0; v < 2; v++) {
		struct cee_tls_cfg scfg = server_cfg(), ccfg = client_cfg(v ? CEE_TLS_V12 : 0);
		f->sctx = make_ctx(f, &scfg, true);
		f->cctx = make_ctx(f, &ccfg, false);
		handshake(f, f->sctx, "server.cee.test", NULL);
		for (unsigned w = 0; w < sizeof(wires) / sizeof(wires[0]); w++) {
			for (unsigned k = 0; k < 2; k++) {
				uint32_t room = cee_tls_send_room(f->s.t, wires[w], chunks[k]);
				f->s.out_len = 0;
				f->s.down_budget = wires[w];
				for (uint32_t off = 0; off < room;) {
					uint32_t n = room - off;
					if (chunks[k] != 0 && n > chunks[k])
						n = chunks[k];
					assert_int_equal(cee_tls_send(f->s.t, data + off, n), (int)n);
					off += n;
				}
				assert_true(f->s.out_len <= wires[w]);
				if (wires[w] >= 4096)
					assert_true(room >= wires[w] / 20 * 19);
			}
		}
		end_reset(&f->s);
		end_reset(&f->c);
		cee_tls_ctx_destroy(f->sctx);
		cee_tls_ctx_destroy(f->cctx);
		f->sctx = f->cctx = NULL;
	}
}

// ---- resources ----

// Guards against: a full pool crashing or allocating beyond max_conns;
// the refusal must be counted, and a freed slot reused.
static void test_pool_exhaustion(void **state)
{
	struct fx *f = *state;
	struct cee_tls_cfg scfg = server_cfg();
	struct cee_layer_io io = end_io(&f->s);
	struct cee_tls *a, *b, *c;

	scfg.max_conns = 2;
	f->sctx = make_ctx(f, &scfg, true);
	a = cee_tls_new(f->sctx, &io, NULL);
	b = cee_tls_new(f->sctx, &io, NULL);
	assert_non_null(a);
	assert_non_null(b);
	errno = 0;
	c = cee_tls_new(f->sctx, &io, NULL);
	assert_null(c);
	assert_int_equal(errno, ENOSPC);
	assert_int_equal(cee_tls_ctx_stats(f->sctx)->no_slot, 1);
	cee_tls_free(a);
	c = cee_tls_new(f->sctx, &io, NULL);
	assert_non_null(c);
	cee_tls_free(b);
	cee_tls_free(c);
}

// Guards against: wolfSSL's heap growing without a bound as peers come (a
// machine out of memory killed the engine with every connection it held).
// Under a budget: no new state once the heap is past seven eighths of it
// (no_heap); an allocation past it fails, and the connection whose call it
// was ends with no_resources (heap_refused), not a protocol error; and
// memory given back admits again.
static void test_heap_budget(void **state)
{
	struct fx *f = *state;
	struct cee_tls_cfg scfg = server_cfg(), ccfg = client_cfg(0);
	struct cee_layer_io io = end_io(&f->s);
	struct cee_tls *t;
	void *p;

	f->sctx = make_ctx(f, &scfg, true);
	f->cctx = make_ctx(f, &ccfg, false);

	// admission: 60 of 64 KiB taken (wolfSSL's allocator is cee's)
	cee_tls_heap_budget(64 << 10);
	assert_null(wolfSSL_Malloc(65 << 10));
	p = wolfSSL_Malloc(60 << 10);
	assert_non_null(p);
	errno = 0;
	assert_null(cee_tls_new(f->sctx, &io, NULL));
	assert_int_equal(errno, ENOMEM);
	assert_int_equal(cee_tls_ctx_stats(f->sctx)->no_heap, 1);
	assert_int_equal(cee_tls_ctx_live(f->sctx), 0);
	wolfSSL_Free(p);
	t = cee_tls_new(f->sctx, &io, NULL);
	assert_non_null(t);
	cee_tls_free(t);

	// a handshake whose allocations the budget refuses: no_resources
	cee_tls_heap_budget(0);
	open_pair(f, f->sctx, "server.cee.test", NULL);
	int64_t before = cee_tls_heap_bytes();
	cee_tls_heap_budget(1);
	deliver(&f->c, &f->s, 0);
	assert_int_equal(f->s.closes, 1);
	assert_int_equal(f->s.reason, CEE_REASON_NO_RESOURCES);
	assert_int_equal(cee_tls_ctx_stats(f->sctx)->heap_refused, 1);
	assert_true(cee_tls_heap_bytes() <= before + 1);

	// with no bound again, the next handshake is whole
	cee_tls_heap_budget(0);
	handshake(f, f->sctx, "server.cee.test", NULL);
	send_and_check(&f->c, &f->s, "after the budget");
	assert_int_equal(cee_tls_ctx_stats(f->sctx)->heap_refused, 1);
}

// A shard's warm-up on a fresh thread (wolfSSL's per-thread set-up is
// made anew), while a second thread (another shard's handshakes) holds
// 64 KiB blocks it takes as long as the warm-up runs.
struct warm_race {
	struct cee_tls_ctx *ctx;
	volatile bool warming, done, hog;
	int rc;
	unsigned held; // blocks taken while the warm-up ran
	void *blk[64];
};

static void *warm_thread(void *arg)
{
	struct warm_race *w = arg;
	w->warming = true;
	w->rc = cee_tls_ctx_warm(w->ctx);
	w->warming = false;
	w->done = true;
	// the thread's ECC fixed-point cache, most of what its warm-up kept
	// (a shard's lives as long as the engine): freed as the thread ends
	wc_ecc_fp_free();
	return NULL;
}

static void *hog_thread(void *arg)
{
	struct warm_race *w = arg;
	while (!w->done) {
		if (w->hog && w->warming && w->held < 64)
			w->blk[w->held++] = wolfSSL_Malloc(64 << 10);
		usleep(20);
	}
	return NULL;
}

// @return how much the budget's bound grew by a warm-up (another thread
// taking blocks meanwhile when @p hog): 0 with w->held too small to tell.
static int64_t warm_growth(struct cee_tls_ctx *ctx, bool hog, unsigned *held)
{
	struct warm_race w = {.ctx = ctx, .hog = hog};
	int64_t lim0 = cee_tls_heap_limit();
	pthread_t a, b;
	assert_int_equal(pthread_create(&b, NULL, hog_thread, &w), 0);
	assert_int_equal(pthread_create(&a, NULL, warm_thread, &w), 0);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	assert_int_equal(w.rc, 0);
	int64_t grown = cee_tls_heap_limit() - lim0;
	for (unsigned i = 0; i < w.held; i++)
		wolfSSL_Free(w.blk[i]);
	*held = w.held;
	return grown;
}

// Guards against (review of session 28): a shard's warm-up took what the
// heap grew by while it ran, process-wide, as what it kept, and added it to
// the budget for good: other shards' handshakes meanwhile (a reconnect
// storm at start) inflated --tls-mem by their state. Only the warm-up's
// own thread's allocations count now: the bound grows about as much with
// another thread taking blocks as without.
static void test_warm_budget_own_thread(void **state)
{
	struct fx *f = *state;
	struct cee_tls_cfg scfg = server_cfg();
	f->sctx = make_ctx(f, &scfg, true);
	cee_tls_heap_budget(256 << 20);
	unsigned held = 0;
	int64_t alone = warm_growth(f->sctx, false, &held);
	int64_t raced = 0;
	for (int i = 0; i < 5 && held < 2; i++) // (blocks taken during the warm-up: at least 2)
		raced = warm_growth(f->sctx, true, &held);
	cee_tls_heap_budget(0);
	print_message("warm-up: the bound grew %lld bytes alone, %lld with %u blocks of 64 KiB "
		      "taken by another thread meanwhile\n",
		      (long long)alone, (long long)raced, held);
	assert_true(held >= 2);
	assert_true(raced <= alone + (32 << 10));
}

// Guards against: the warm-up handshake (run on each shard's lcore at
// start) leaking a pool slot, changing the counters, or leaving the
// context unable to serve real clients, with or without mutual TLS.
static void test_ctx_warm(void **state)
{
	struct fx *f = *state;
	struct cee_tls_cfg scfg = server_cfg(), ccfg = client_cfg(0);
	struct cee_layer_io io = end_io(&f->s);
	struct cee_tls *a, *b;

	scfg.max_conns = 2;
	f->sctx = make_ctx(f, &scfg, true);
	scfg.ca_file = CERT("ca.pem"); // mutual TLS: the throwaway client has no certificate
	f->sctx2 = make_ctx(f, &scfg, true);
	f->cctx = make_ctx(f, &ccfg, false);
	assert_int_equal(cee_tls_ctx_warm(f->sctx), 0);
	assert_int_equal(cee_tls_ctx_warm(f->sctx2), 0);
	assert_int_equal(cee_tls_ctx_warm(f->cctx), -EINVAL);
	static const struct cee_tls_stats zero;
	assert_memory_equal(cee_tls_ctx_stats(f->sctx), &zero, sizeof(zero));
	assert_memory_equal(cee_tls_ctx_stats(f->sctx2), &zero, sizeof(zero));
	a = cee_tls_new(f->sctx, &io, NULL); // both slots are free again
	b = cee_tls_new(f->sctx, &io, NULL);
	assert_non_null(a);
	assert_non_null(b);
	cee_tls_free(a);
	cee_tls_free(b);
	handshake(f, f->sctx, "server.cee.test", NULL);
	assert_int_equal(cee_tls_ctx_stats(f->sctx)->handshakes, 1);
}

// Guards against: bad files passing create, or failing without saying
// which file: missing, garbage, key not matching the certificate.
static void test_bad_files(void **state)
{
	struct fx *f = *state;
	struct cee_tls_cfg cfg = server_cfg();
	char junk[] = "/tmp/cee-test-tls-XXXXXX";
	int fd = mkstemp(junk);
	static const char pem[] = "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n"
				  "-----END CERTIFICATE-----\n";

	assert_true(fd >= 0);
	assert_int_equal(write(fd, pem, sizeof(pem) - 1), (ssize_t)(sizeof(pem) - 1));
	close(fd);

	cfg.cert_file = CERT("missing.pem");
	errno = 0;
	assert_null(cee_tls_ctx_create(&cfg, true, f->err, sizeof(f->err)));
	assert_int_equal(errno, ENOENT);
	assert_non_null(strstr(f->err, "missing.pem"));

	cfg = server_cfg();
	cfg.key_file = CERT("client.key");
	errno = 0;
	assert_null(cee_tls_ctx_create(&cfg, true, f->err, sizeof(f->err)));
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(f->err, "client.key"));

	cfg = server_cfg();
	cfg.cert_file = junk;
	errno = 0;
	assert_null(cee_tls_ctx_create(&cfg, true, f->err, sizeof(f->err)));
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(f->err, junk));

	cfg = server_cfg();
	cfg.key_file = junk;
	errno = 0;
	assert_null(cee_tls_ctx_create(&cfg, true, f->err, sizeof(f->err)));
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(f->err, junk));

	cfg = server_cfg();
	cfg.ca_file = junk;
	errno = 0;
	assert_null(cee_tls_ctx_create(&cfg, true, f->err, sizeof(f->err)));
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(f->err, junk));
	unlink(junk);
}

// Guards against: options that would allow non-ECDHE key exchange or
// other versions passing create.
static void test_bad_options(void **state)
{
	struct fx *f = *state;
	struct cee_tls_cfg cfg = server_cfg();

	cfg.ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256";
	errno = 0;
	assert_null(cee_tls_ctx_create(&cfg, true, f->err, sizeof(f->err)));
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(f->err, "DHE-RSA-AES128-GCM-SHA256"));

	cfg.ciphers = "AES128-GCM-SHA256";
	assert_null(cee_tls_ctx_create(&cfg, true, f->err, sizeof(f->err)));
	// RC4 and 3DES with ECDHE: in this wolfSSL, and broken (they started)
	static const char *const broken[] = {"ECDHE-RSA-RC4-SHA", "ECDHE-ECDSA-RC4-SHA",
					     "ECDHE-RSA-DES-CBC3-SHA", "ECDHE-ECDSA-DES-CBC3-SHA"};
	for (unsigned i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		char list[128];
		snprintf(list, sizeof(list), "ECDHE-ECDSA-AES128-GCM-SHA256:%s", broken[i]);
		cfg.ciphers = list;
		errno = 0;
		assert_null(cee_tls_ctx_create(&cfg, true, f->err, sizeof(f->err)));
		assert_int_equal(errno, EINVAL);
		assert_non_null(strstr(f->err, broken[i]));
	}
	cfg.ciphers = "ALL";
	assert_null(cee_tls_ctx_create(&cfg, true, f->err, sizeof(f->err)));

	cfg.ciphers = "ECDHE-ECDSA-CHACHA20-POLY1305:TLS13-CHACHA20-POLY1305-SHA256";
	f->sctx = make_ctx(f, &cfg, true);

	cfg = server_cfg();
	cfg.min_version = 0x0302;
	errno = 0;
	assert_null(cee_tls_ctx_create(&cfg, true, f->err, sizeof(f->err)));
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(f->err, "min_version"));

	cfg = server_cfg();
	cfg.max_conns = 0;
	assert_null(cee_tls_ctx_create(&cfg, true, f->err, sizeof(f->err)));

	cfg = server_cfg();
	cfg.cert_file = NULL;
	assert_null(cee_tls_ctx_create(&cfg, true, f->err, sizeof(f->err)));

	// an ALPN name longer than tls_up can report (31): it would be
	// negotiated and reported as none (session 15 review)
	cfg = server_cfg();
	cfg.alpn = "sip,a-protocol-name-of-32-characters";
	errno = 0;
	assert_null(cee_tls_ctx_create(&cfg, true, f->err, sizeof(f->err)));
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(f->err, "alpn"));
	cfg.alpn = "sip,a-protocol-name-of-31-character";
	f->sctx2 = make_ctx(f, &cfg, true);
}

// Guards against: a user cipher list not being applied (the handshake
// must use the only suite allowed).
static void test_user_ciphers(void **state)
{
	struct fx *f = *state;
	struct cee_tls_cfg scfg = server_cfg(), ccfg = client_cfg(CEE_TLS_V12);
	struct cee_tls_info si;

	scfg.ciphers = "ECDHE-ECDSA-CHACHA20-POLY1305";
	f->sctx = make_ctx(f, &scfg, true);
	f->cctx = make_ctx(f, &ccfg, false);
	handshake(f, f->sctx, "server.cee.test", NULL);
	cee_tls_get_info(f->s.t, &si);
	assert_string_equal(si.cipher, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256");
}

// Guards against: a cipher list that leaves no suite for the version range
// being taken (every handshake then failed): TLS 1.2 suites only with
// min_version TLS 1.3, TLS 1.3 suites only with max_version TLS 1.2, a list
// of removals only. A list with a suite for one version of the range is
// taken.
static void test_ciphers_for_no_version(void **state)
{
	struct fx *f = *state;
	struct cee_tls_cfg cfg = server_cfg();
	static const struct {
		const char *ciphers;
		uint16_t minv, maxv;
		bool ok;
	} cases[] = {
	    {"ECDHE-ECDSA-AES128-GCM-SHA256", CEE_TLS_V13, CEE_TLS_V13, false},
	    {"TLS13-AES128-GCM-SHA256", CEE_TLS_V12, CEE_TLS_V12, false},
	    {"!ECDHE-ECDSA-AES128-GCM-SHA256", CEE_TLS_V12, CEE_TLS_V13, false},
	    {"ECDHE-ECDSA-AES128-GCM-SHA256", CEE_TLS_V12, CEE_TLS_V13, true},
	    {"TLS13-AES128-GCM-SHA256", CEE_TLS_V12, CEE_TLS_V13, true},
	    {"TLS13-AES128-GCM-SHA256", CEE_TLS_V13, CEE_TLS_V13, true},
	    {"ECDHE-ECDSA-AES128-GCM-SHA256", CEE_TLS_V12, CEE_TLS_V12, true},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cfg.ciphers = cases[i].ciphers;
		cfg.min_version = cases[i].minv;
		cfg.max_version = cases[i].maxv;
		f->err[0] = '\0';
		struct cee_tls_ctx *ctx = cee_tls_ctx_create(&cfg, true, f->err, sizeof(f->err));
		if (cases[i].ok) {
			assert_non_null(ctx);
		} else {
			assert_null(ctx);
			assert_non_null(strstr(f->err, "no suite for TLS"));
		}
		cee_tls_ctx_destroy(ctx);
	}
}

// wolfSSL heap held by one idle server connection after its handshake.
static int64_t idle_server_bytes(struct fx *f, uint16_t version, bool mtls, int64_t *at_new)
{
	struct cee_tls_cfg scfg = server_cfg(), ccfg = client_cfg(version);
	struct cee_layer_io cio, sio;
	int64_t base;

	if (mtls) {
		scfg.ca_file = CERT("ca.pem");
		ccfg.cert_file = CERT("client.pem");
		ccfg.key_file = CERT("client.key");
	}
	end_reset(&f->c);
	end_reset(&f->s);
	cee_tls_ctx_destroy(f->sctx);
	cee_tls_ctx_destroy(f->cctx);
	f->sctx = make_ctx(f, &scfg, true);
	f->cctx = make_ctx(f, &ccfg, false);
	cio = end_io(&f->c);
	sio = end_io(&f->s);
	base = cee_tls_heap_bytes();
	f->s.t = cee_tls_new(f->sctx, &sio, NULL);
	*at_new = cee_tls_heap_bytes() - base;
	f->c.t = cee_tls_new(f->cctx, &cio, "server.cee.test");
	assert_int_equal(cee_tls_start(f->c.t), 0);
	pump(&f->c, &f->s);
	assert_up(&f->s);
	send_and_check(&f->c, &f->s, "OPTIONS");
	send_and_check(&f->s, &f->c, "200 OK");
	cee_tls_free(f->c.t);
	f->c.t = NULL;
	int64_t idle = cee_tls_heap_bytes() - base;
	cee_tls_free(f->s.t);
	f->s.t = NULL;
	assert_int_equal(cee_tls_heap_bytes(), base); // nothing left behind
	return idle;
}

// Guards against: per-connection memory growing unnoticed (an idle
// connection must keep only what it must), and connections leaking
// wolfSSL heap when freed. Prints the figures.
static void test_idle_memory(void **state)
{
	struct fx *f = *state;
	int64_t new12, new13, n;
	int64_t b12 = idle_server_bytes(f, CEE_TLS_V12, false, &new12);
	int64_t b13 = idle_server_bytes(f, 0, false, &new13);
	int64_t m12 = idle_server_bytes(f, CEE_TLS_V12, true, &n);
	int64_t m13 = idle_server_bytes(f, 0, true, &n);

	print_message("idle server connection, wolfSSL heap bytes: TLS 1.2 %lld (after "
		      "wolfSSL_new %lld), TLS 1.3 %lld (after wolfSSL_new %lld); with a client "
		      "certificate: TLS 1.2 %lld, TLS 1.3 %lld\n",
		      (long long)b12, (long long)new12, (long long)b13, (long long)new13,
		      (long long)m12, (long long)m13);
	assert_true(b12 > 0 && b12 < 64 * 1024);
	assert_true(b13 > 0 && b13 < 64 * 1024);
}

// Guards against: io.close reached twice when more input follows the
// end in the same call or later, or when the stack shuts down or sees
// the FIN afterwards; bytes after close_notify reaching the layer above.
static void test_close_once(void **state)
{
	struct fx *f = *state;
	struct cee_tls_cfg scfg = server_cfg(), ccfg = client_cfg(0);
	uint8_t tail[64];

	f->sctx = make_ctx(f, &scfg, true);
	f->cctx = make_ctx(f, &ccfg, false);
	handshake(f, f->sctx, "server.cee.test", NULL);
	assert_int_equal(cee_tls_send(f->c.t, (const uint8_t *)"one", 3), 3);
	cee_tls_shutdown(f->c.t);
	// close_notify then data after it, in one call: only "one" goes up.
	memset(tail, 0x17, sizeof(tail));
	grow(&f->c.out, &f->c.out_cap, f->c.out_len + sizeof(tail));
	memcpy(f->c.out + f->c.out_len, tail, sizeof(tail));
	f->c.out_len += sizeof(tail);
	deliver(&f->c, &f->s, 0);
	assert_int_equal(f->s.closes, 1);
	assert_int_equal(f->s.up_len, 3);
	assert_int_equal(cee_tls_input(f->s.t, tail, sizeof(tail)), -ENOTCONN);
	cee_tls_shutdown(f->s.t);
	assert_false(cee_tls_eof(f->s.t));
	assert_int_equal(f->s.closes, 1);
}

// Guards against: a layer above that answers from inside io.up (an echo
// service) breaking the read loop: cee_tls_send re-entered while
// cee_tls_input is running.
static void test_send_from_up(void **state)
{
	struct fx *f = *state;
	struct cee_tls_cfg scfg = server_cfg(), ccfg = client_cfg(0);

	f->sctx = make_ctx(f, &scfg, true);
	f->cctx = make_ctx(f, &ccfg, false);
	handshake(f, f->sctx, "server.cee.test", NULL);
	f->s.echo = true;
	for (int i = 0; i < 3; i++)
		assert_int_equal(cee_tls_send(f->c.t, (const uint8_t *)"abc", 3), 3);
	pump(&f->c, &f->s);
	assert_int_equal(f->s.up_calls, 3);
	assert_int_equal(f->c.up_len, 9);
	assert_memory_equal(f->c.up, "abcabcabc", 9);
}

// Guards against: API misuse corrupting state: input before start on a
// client, start twice, start on a server, send before the handshake.
static void test_misuse(void **state)
{
	struct fx *f = *state;
	struct cee_tls_cfg scfg = server_cfg(), ccfg = client_cfg(0);
	struct cee_layer_io cio = end_io(&f->c), sio = end_io(&f->s);

	f->sctx = make_ctx(f, &scfg, true);
	f->cctx = make_ctx(f, &ccfg, false);
	f->c.t = cee_tls_new(f->cctx, &cio, "server.cee.test");
	f->s.t = cee_tls_new(f->sctx, &sio, NULL);
	assert_int_equal(cee_tls_input(f->c.t, (const uint8_t *)"x", 1), -EINVAL);
	assert_int_equal(cee_tls_start(f->s.t), -EINVAL);
	assert_int_equal(cee_tls_send(f->c.t, (const uint8_t *)"x", 1), -ENOTCONN);
	assert_int_equal(cee_tls_start(f->c.t), 0);
	assert_int_equal(cee_tls_start(f->c.t), -EALREADY);
	assert_null(cee_tls_session_get(f->c.t));
	pump(&f->c, &f->s);
	assert_up(&f->c);
	assert_up(&f->s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	    T(test_handshake_tls12),
	    T(test_handshake_tls13),
	    T(test_handshake_rsa_server),
	    T(test_reload_files),
	    T(test_ticket_rotation_tls12),
	    T(test_ticket_rotation_tls13),
	    T(test_min_version_13),
	    T(test_sni_any_alpn_mismatch),
	    T(test_mtls_subject_tls12),
	    T(test_mtls_subject_escaped),
	    T(test_mtls_subject_cut_whole),
	    T(test_mtls_subject_tls13),
	    T(test_mtls_resume_tls12),
	    T(test_mtls_resume_tls13),
	    T(test_resume_tls12),
	    T(test_resume_tls13),
	    T(test_no_resume_other_key_tls12),
	    T(test_no_resume_other_key_tls13),
	    T(test_tickets_off),
	    T(test_close_notify_from_client),
	    T(test_held_tls12),
	    T(test_held_tls13),
	    T(test_close_notify_from_server),
	    T(test_alert_after_close_notify_tls12),
	    T(test_alert_after_close_notify_tls13),
	    T(test_peer_alert_tls12),
	    T(test_peer_alert_tls13),
	    T(test_peer_alert_in_clear_tls13),
	    T(test_forged_clear_alert_not_credited),
	    T(test_client_name_mismatch),
	    T(test_ca_clone_server_tls12),
	    T(test_ca_clone_server_tls13),
	    T(test_ca_clone_client_tls12),
	    T(test_ca_clone_client_tls13),
	    T(test_mtls_unknown_ca_tls12),
	    T(test_mtls_unknown_ca_tls13),
	    T(test_mtls_no_cert_tls12),
	    T(test_mtls_no_cert_tls13),
	    T(test_protocol_version_alert),
	    T(test_no_common_suite_alert),
	    T(test_tls12_groups),
	    T(test_garbage_http),
	    T(test_garbage_handshake_record),
	    T(test_hello_request_to_server),
	    T(test_garbage_random),
	    T(test_truncation),
	    T(test_split_tls12),
	    T(test_split_tls13),
	    T(test_key_update_flood),
	    T(test_reload_outside_the_budget),
	    T(test_many_records_one_call),
	    T(test_down_full),
	    T(test_send_room_is_sound),
	    T(test_pool_exhaustion),
	    T(test_heap_budget),
	    T(test_warm_budget_own_thread),
	    T(test_ctx_warm),
	    T(test_bad_files),
	    T(test_bad_options),
	    T(test_ciphers_for_no_version),
	    T(test_user_ciphers),
	    T(test_idle_memory),
	    T(test_close_once),
	    T(test_send_from_up),
	    T(test_misuse),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
