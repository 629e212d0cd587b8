/* SPDX-License-Identifier: BSD-3-Clause */
// Fuzz target: the TLS layer (tls/cee_tls.c over wolfSSL), server side:
// hostile bytes from the TCP stream as a ClientHello and the records after
// it, cut into chunks anywhere (cee_tls tracks record boundaries itself to
// hold back split alerts).
//
// Input: one byte of settings (which server context: plain with ALPN and
// tickets, mutual TLS with TLS 1.2 only so that the client's Certificate
// comes in clear, TLS 1.3 only, TLS 1.2 only with the RSA certificate; echo
// plaintext; end with the peer's FIN; a local close half-way), one byte
// seeding the chunk sizes (0: all at once), then the bytes.
// Checked (tests/fuzz/fuzz_layer.h): the layer contract (tls_up at most
// once, no plaintext before it, io.close at most once with tls_alert,
// tls_close_notify or protocol_error, nothing sent down after it, input
// refused after the end); cee_tls_get_info's strings NUL-terminated and a
// version of 0, 1.2 or 1.3 (no check on the alert number: a peer's fatal
// close_notify, level 2 code 0, ends with tls_alert and alert 0); the pool
// and wolfSSL's memory given back (LSan).
// wolfSSL itself is Debian's build, not instrumented: the fuzzer sees the
// coverage of cee_tls.c only, and ASan checks wolfSSL's calls into libc.
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cee_tls.h"
#include "fuzz.h"
#include "fuzz_layer.h"
#include "fuzz_seed.h"

#ifndef CEE_CERT_DIR
#error "CEE_CERT_DIR must name tests/certs"
#endif
#define CERT(f) CEE_CERT_DIR "/" f

static struct cee_tls_ctx *ctxs[4];
static struct fuzz_end end;
// CEE_FUZZ_EXPECT_UP=N (scripts/fuzz.sh's replay of seedgen's recorded
// flights): every input must reach tls_up, pass N bytes of plaintext up and
// end with the peer's close_notify. It fails if the flights no longer
// replay, e.g. with a libwolfssl that no longer takes its entropy from
// fuzz_seed.c, which would leave the fuzzer short of the records after it.
static long expect_up = -1;
static const enum cee_reason tls_reasons[] = {CEE_REASON_TLS_ALERT, CEE_REASON_TLS_CLOSE_NOTIFY,
					      CEE_REASON_PROTOCOL_ERROR};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	char err[256];
	if (cee_tls_global_init() != 0)
		abort();
	if (getenv("CEE_FUZZ_EXPECT_UP") != NULL)
		expect_up = atol(getenv("CEE_FUZZ_EXPECT_UP"));
	struct cee_tls_cfg cfg[4] = {
	    {.cert_file = CERT("server.pem"),
	     .key_file = CERT("server.key"),
	     .alpn = "sip,http/1.1",
	     .max_conns = 2,
	     .ticket_key = {1, 2, 3}},
	    {.cert_file = CERT("server.pem"),
	     .key_file = CERT("server.key"),
	     .ca_file = CERT("ca.pem"),
	     .max_conns = 2,
	     .max_version = CEE_TLS_V12},
	    {.cert_file = CERT("server.pem"),
	     .key_file = CERT("server.key"),
	     .min_version = CEE_TLS_V13,
	     .alpn = "sip",
	     .max_conns = 2},
	    {.cert_file = CERT("server-rsa.pem"),
	     .key_file = CERT("server-rsa.key"),
	     .max_version = CEE_TLS_V12,
	     .max_conns = 2,
	     .ticket_key = {9}},
	};
	for (unsigned i = 0; i < 4; i++) {
		ctxs[i] = cee_tls_ctx_create(&cfg[i], true, err, sizeof(err));
		if (ctxs[i] == NULL) {
			fprintf(stderr, "fuzz_tls: context %u: %s\n", i, err);
			abort();
		}
	}
	return 0;
}

static void echo_up(struct fuzz_end *e, const uint8_t *data, uint32_t len)
{
	int rc = cee_tls_send(e->layer, data, len);
	FUZZ_CHECK(rc == (int)len || rc == -ENOTCONN, "echo: cee_tls_send %d", rc);
}

static void check_info(const struct cee_tls *t, const struct fuzz_end *e)
{
	struct cee_tls_info info;
	cee_tls_get_info(t, &info);
	FUZZ_CHECK_CSTR(info.cipher);
	FUZZ_CHECK_CSTR(info.sni);
	FUZZ_CHECK_CSTR(info.alpn);
	FUZZ_CHECK_CSTR(info.peer_subject);
	FUZZ_CHECK(info.version == 0 || info.version == CEE_TLS_V12 || info.version == CEE_TLS_V13,
		   "version %04x", info.version);
	FUZZ_CHECK(info.up == (e->milestones == 1), "info.up %d, milestones %u", info.up,
		   e->milestones);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	uint8_t opt = data[0];
	uint64_t rng = data[1];
	const uint8_t *in = data + 2;
	size_t len = size - 2;

	fuzz_end_reset(&end, CEE_EVT_TLS_UP, tls_reasons, 3);
	struct cee_layer_io io = fuzz_end_io(&end);
	fuzz_seed_reset(FUZZ_SEED_SERVER); // the same input, the same handshake
	struct cee_tls *t = cee_tls_new(ctxs[opt & 3], &io, NULL);
	FUZZ_CHECK(t != NULL, "cee_tls_new: errno %d", errno);
	end.layer = t;
	if (opt & 4)
		end.on_up = echo_up;

	bool ended = false, shut = false;
	for (size_t off = 0; off < len && !ended;) {
		size_t n = rng == 0 ? len - off : 1 + (size_t)(fuzz_rng(&rng) % 700);
		if (n > len - off)
			n = len - off;
		int rc = cee_tls_input(t, in + off, (uint32_t)n);
		FUZZ_CHECK(rc == 0 || rc == -EPROTO || rc == -ENOTCONN, "cee_tls_input: %d", rc);
		if (rc == -EPROTO)
			FUZZ_CHECK(end.closes == 1, "-EPROTO without io.close");
		if (rc < 0) {
			ended = true;
			FUZZ_CHECK(cee_tls_input(t, in + off, (uint32_t)n) == -ENOTCONN,
				   "input taken after the end");
		}
		off += n;
		if ((opt & 0x10) && !shut && off >= len / 2 && end.closes == 0) {
			cee_tls_shutdown(t); // a local close half-way
			shut = true;
		}
		check_info(t, &end);
	}
	if ((opt & 8) && end.closes == 0)
		(void)cee_tls_eof(t);
	check_info(t, &end);
	FUZZ_CHECK(expect_up < 0 || (end.milestones == 1 && end.up_total == (size_t)expect_up &&
				     end.reason == CEE_REASON_TLS_CLOSE_NOTIFY),
		   "CEE_FUZZ_EXPECT_UP=%ld: recorded flights not replayed: tls_up %u, %zu bytes up, "
		   "closes %u, reason %d",
		   expect_up, end.milestones, end.up_total, end.closes, (int)end.reason);
	cee_tls_free(t);
	return 0;
}
