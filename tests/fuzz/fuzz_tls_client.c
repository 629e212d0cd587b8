/* SPDX-License-Identifier: BSD-3-Clause */
// Fuzz target: the TLS layer (tls/cee_tls.c over wolfSSL), client side, as
// an outbound link uses it: a ClientHello goes out, then hostile bytes come
// back as the server's flight (ServerHello, Certificate, key exchange,
// records), cut into chunks anywhere.
//
// Input: one byte of settings (TLS 1.2 only, where the server's
// Certificate comes in clear and its chain is verified against the test
// CA, or up to 1.3; with or without a client certificate; end with the
// peer's FIN), one byte seeding the chunk sizes (0: all at once), then the
// bytes. Checked as for fuzz_tls.c (tests/fuzz/fuzz_layer.h).
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
	    {.ca_file = CERT("ca.pem"), .alpn = "sip", .max_conns = 2, .max_version = CEE_TLS_V12},
	    {.ca_file = CERT("ca.pem"), .alpn = "sip", .max_conns = 2},
	    {.ca_file = CERT("ca.pem"),
	     .cert_file = CERT("client.pem"),
	     .key_file = CERT("client.key"),
	     .max_conns = 2,
	     .max_version = CEE_TLS_V12},
	    {.max_conns = 2}, // no verification
	};
	for (unsigned i = 0; i < 4; i++) {
		ctxs[i] = cee_tls_ctx_create(&cfg[i], false, err, sizeof(err));
		if (ctxs[i] == NULL) {
			fprintf(stderr, "fuzz_tls_client: context %u: %s\n", i, err);
			abort();
		}
	}
	return 0;
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
	fuzz_seed_reset(FUZZ_SEED_CLIENT); // the same input, the same handshake
	struct cee_tls *t = cee_tls_new(ctxs[opt & 3], &io, "server.cee.test");
	FUZZ_CHECK(t != NULL, "cee_tls_new: errno %d", errno);
	end.layer = t;
	FUZZ_CHECK(cee_tls_start(t) == 0, "cee_tls_start");
	FUZZ_CHECK(end.down_len > 0, "no ClientHello");

	for (size_t off = 0; off < len;) {
		size_t n = rng == 0 ? len - off : 1 + (size_t)(fuzz_rng(&rng) % 700);
		if (n > len - off)
			n = len - off;
		int rc = cee_tls_input(t, in + off, (uint32_t)n);
		FUZZ_CHECK(rc == 0 || rc == -EPROTO || rc == -ENOTCONN, "cee_tls_input: %d", rc);
		if (rc == -EPROTO)
			FUZZ_CHECK(end.closes == 1, "-EPROTO without io.close");
		if (rc < 0)
			break;
		off += n;
	}
	struct cee_tls_info info;
	cee_tls_get_info(t, &info);
	FUZZ_CHECK_CSTR(info.cipher);
	FUZZ_CHECK_CSTR(info.sni);
	FUZZ_CHECK_CSTR(info.alpn);
	FUZZ_CHECK_CSTR(info.peer_subject);
	FUZZ_CHECK(info.up == (end.milestones == 1), "info.up %d, milestones %u", info.up,
		   end.milestones);
	// the version negotiated is one the context offers: contexts 0 and 2
	// are TLS 1.2 at most (fuzz_tls.c checked it, this target did not:
	// review of the fuzz targets, session 32)
	bool v12_only = (opt & 3) == 0 || (opt & 3) == 2;
	FUZZ_CHECK(info.version == 0 || info.version == CEE_TLS_V12 ||
			   (info.version == CEE_TLS_V13 && !v12_only),
		   "version %04x on context %u", info.version, opt & 3);
	FUZZ_CHECK(info.up == (info.version != 0), "up %d with version %04x", info.up,
		   info.version);
	if ((opt & 8) && end.closes == 0)
		(void)cee_tls_eof(t);
	FUZZ_CHECK(expect_up < 0 || (end.milestones == 1 && end.up_total == (size_t)expect_up &&
				     end.reason == CEE_REASON_TLS_CLOSE_NOTIFY),
		   "CEE_FUZZ_EXPECT_UP=%ld: recorded flights not replayed: tls_up %u, %zu bytes up, "
		   "closes %u, reason %d",
		   expect_up, end.milestones, end.up_total, end.closes, (int)end.reason);
	cee_tls_free(t);
	return 0;
}
