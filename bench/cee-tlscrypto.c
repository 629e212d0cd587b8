/* SPDX-License-Identifier: BSD-3-Clause */
// cee-tlscrypto: the public-key work a TLS server does in one full
// handshake, timed with wolfCrypt alone on this machine, and the
// handshake rate that work alone would allow on one core (the "crypto
// bound" a TLS benchmark is compared with). It is a benchmark, not a test.
//
// Per full handshake the server does one ECDHE (generate a key pair,
// derive the shared secret from the client's share) and one signature
// (TLS 1.3 CertificateVerify, or TLS 1.2 ServerKeyExchange): ECDSA P-256
// for an EC certificate, RSA-PSS 2048 (SHA-256) for an RSA one. Hashing,
// HKDF and record encryption are not counted: they are small beside these.
//
// The bound uses X25519: the group OpenSSL, browsers and wolfSSL clients
// send their first key share for, and the first in cee's list, so a client
// gets it without a HelloRetryRequest. The P-256 figure is printed beside
// it.
//
// Each figure is the lowest mean over --rounds runs of --iters operations
// (noise only ever adds time).
//
// Beside the bound, the whole server side of a TLS 1.3 handshake through
// cee's TLS layer (tls/, wolfSSL), client and server pumped in memory and
// only the server's calls timed: what wolfSSL itself costs per handshake
// (RNG set-up, key schedule, messages, tickets) besides the public-key
// operations. An engine cannot do better than that rate.
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <wolfssl/options.h>
#include <wolfssl/version.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/curve25519.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/rsa.h>

#include "cee_tls.h"

#ifndef CEE_CERT_DIR
#define CEE_CERT_DIR "tests/certs"
#endif

enum op {
	OP_X25519,
	OP_P256,
	OP_ECDSA,
	OP_RSA,
};

struct keys {
	WC_RNG rng;
	curve25519_key x25519_peer; // the client's share
	ecc_key p256_peer;
	ecc_key ecdsa;
	RsaKey rsa;
	uint8_t digest[32]; // what a signature signs (a SHA-256 transcript hash)
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int die(const char *what, int rc)
{
	fprintf(stderr, "cee-tlscrypto: %s failed (%d)\n", what, rc);
	exit(1);
}

static int read_der_key(const char *path, uint8_t *der, int cap)
{
	uint8_t pem[16384];
	FILE *f = fopen(path, "rb");
	size_t n;
	int len;

	if (f == NULL) {
		fprintf(stderr, "cee-tlscrypto: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	n = fread(pem, 1, sizeof(pem), f);
	fclose(f);
	len = wc_KeyPemToDer(pem, (int)n, der, cap, NULL);
	if (len <= 0) {
		fprintf(stderr, "cee-tlscrypto: %s: not a PEM private key (%d)\n", path, len);
		exit(1);
	}
	return len;
}

static void load_keys(struct keys *k, const char *ecdsa_file, const char *rsa_file)
{
	uint8_t der[8192];
	word32 idx = 0;
	int rc, len;

	if ((rc = wc_InitRng(&k->rng)) != 0)
		die("wc_InitRng", rc);
	if ((rc = wc_curve25519_init(&k->x25519_peer)) != 0 ||
	    (rc = wc_curve25519_make_key(&k->rng, CURVE25519_KEYSIZE, &k->x25519_peer)) != 0)
		die("X25519 peer key", rc);
	if ((rc = wc_ecc_init(&k->p256_peer)) != 0 ||
	    (rc = wc_ecc_make_key_ex(&k->rng, 32, &k->p256_peer, ECC_SECP256R1)) != 0)
		die("P-256 peer key", rc);

	len = read_der_key(ecdsa_file, der, sizeof(der));
	if ((rc = wc_ecc_init(&k->ecdsa)) != 0 ||
	    (rc = wc_EccPrivateKeyDecode(der, &idx, &k->ecdsa, (word32)len)) != 0)
		die("--key-ecdsa: EC private key decode", rc);
	if (wc_ecc_get_curve_id(k->ecdsa.idx) != ECC_SECP256R1)
		die("--key-ecdsa: not a P-256 key", -1);

	len = read_der_key(rsa_file, der, sizeof(der));
	idx = 0;
	if ((rc = wc_InitRsaKey(&k->rsa, NULL)) != 0 ||
	    (rc = wc_RsaPrivateKeyDecode(der, &idx, &k->rsa, (word32)len)) != 0)
		die("--key-rsa: RSA private key decode", rc);
	if (wc_RsaEncryptSize(&k->rsa) != 256)
		die("--key-rsa: not a 2048-bit key", wc_RsaEncryptSize(&k->rsa));
	if ((rc = wc_RsaSetRNG(&k->rsa, &k->rng)) != 0) // blinding
		die("wc_RsaSetRNG", rc);
	memset(der, 0, sizeof(der));
	for (size_t i = 0; i < sizeof(k->digest); i++)
		k->digest[i] = (uint8_t)(i * 13 + 7);
}

// One server-side operation; returns nonzero on failure.
static int run_op(struct keys *k, enum op op)
{
	uint8_t out[512];
	word32 len = sizeof(out);
	int rc = 0;

	switch (op) {
	case OP_X25519: {
		curve25519_key eph;

		rc = wc_curve25519_init(&eph);
		if (rc == 0)
			rc = wc_curve25519_make_key(&k->rng, CURVE25519_KEYSIZE, &eph);
		if (rc == 0)
			rc = wc_curve25519_shared_secret(&eph, &k->x25519_peer, out, &len);
		wc_curve25519_free(&eph);
		break;
	}
	case OP_P256: {
		ecc_key eph;

		rc = wc_ecc_init(&eph);
		if (rc == 0)
			rc = wc_ecc_make_key_ex(&k->rng, 32, &eph, ECC_SECP256R1);
		if (rc == 0)
			rc = wc_ecc_set_rng(&eph, &k->rng); // timing-resistant ECDH
		if (rc == 0)
			rc = wc_ecc_shared_secret(&eph, &k->p256_peer, out, &len);
		wc_ecc_free(&eph);
		break;
	}
	case OP_ECDSA:
		rc = wc_ecc_sign_hash(k->digest, sizeof(k->digest), out, &len, &k->rng, &k->ecdsa);
		break;
	case OP_RSA:
		rc = wc_RsaPSS_Sign(k->digest, sizeof(k->digest), out, len, WC_HASH_TYPE_SHA256,
				    WC_MGF1SHA256, &k->rsa, &k->rng);
		rc = rc > 0 ? 0 : rc;
		break;
	}
	return rc;
}

static double time_op(struct keys *k, enum op op, int iters, int rounds)
{
	double best = 0;

	for (int i = 0; i < 3; i++) // warm caches and wolfCrypt's tables
		if (run_op(k, op) != 0)
			die("operation", (int)op);
	for (int r = 0; r < rounds; r++) {
		uint64_t t0 = now_ns();
		double mean;

		for (int i = 0; i < iters; i++)
			if (run_op(k, op) != 0)
				die("operation", (int)op);
		mean = (double)(now_ns() - t0) / iters;
		if (r == 0 || mean < best)
			best = mean;
	}
	return best;
}

// ---- whole handshakes through tls/ in memory ----

struct hs_end {
	uint8_t buf[65536];
	uint32_t len;
	bool up, closed;
};

static int hs_down(void *arg, const uint8_t *data, uint32_t len)
{
	struct hs_end *e = arg;
	if (e->len + len > sizeof(e->buf))
		return -ENOBUFS;
	memcpy(e->buf + e->len, data, len);
	e->len += len;
	return (int)len;
}

static void hs_up(void *arg, const uint8_t *data, uint32_t len)
{
	(void)arg;
	(void)data;
	(void)len;
}

static void hs_milestone(void *arg, enum cee_evt_type type)
{
	(void)type;
	((struct hs_end *)arg)->up = true;
}

static void hs_close(void *arg, enum cee_reason reason)
{
	(void)reason;
	((struct hs_end *)arg)->closed = true;
}

// Server nanoseconds per TLS 1.3 handshake with @p cert / @p key (lowest
// mean over @p rounds of @p n); @p resume: clients offer the first
// handshake's ticket. < 0 on failure.
static double time_handshakes(const char *cert, const char *key, int n, int rounds, bool resume)
{
	char err[256];
	struct cee_tls_cfg scfg = {.cert_file = cert, .key_file = key, .max_conns = 4};
	struct cee_tls_cfg ccfg = {.ca_file = CEE_CERT_DIR "/ca.pem", .max_conns = 4};
	memset(scfg.ticket_key, 0x5c, sizeof(scfg.ticket_key));
	struct cee_tls_ctx *sctx = cee_tls_ctx_create(&scfg, true, err, sizeof(err));
	struct cee_tls_ctx *cctx = cee_tls_ctx_create(&ccfg, false, err, sizeof(err));
	struct cee_tls_session *sess = NULL;
	static struct hs_end se, ce;
	static uint8_t tmp[65536];
	double best = -1;

	if (sctx == NULL || cctx == NULL) {
		fprintf(stderr, "cee-tlscrypto: %s\n", err);
		return -1;
	}
	for (int r = 0; r < rounds; r++) {
		uint64_t server_ns = 0;
		for (int i = 0; i < n; i++) {
			const struct cee_layer_io sio = {hs_down, hs_up, hs_milestone, hs_close, &se};
			const struct cee_layer_io cio = {hs_down, hs_up, hs_milestone, hs_close, &ce};
			memset(&se, 0, sizeof(se));
			memset(&ce, 0, sizeof(ce));
			uint64_t t0 = now_ns();
			struct cee_tls *st = cee_tls_new(sctx, &sio, NULL);
			server_ns += now_ns() - t0;
			struct cee_tls *ct = cee_tls_new(cctx, &cio, "server.cee.test");
			if (st == NULL || ct == NULL)
				return -1;
			if (sess != NULL)
				cee_tls_set_session(ct, sess);
			cee_tls_start(ct);
			for (int k = 0; k < 8 && !(se.up && ce.up) && !se.closed && !ce.closed; k++) {
				uint32_t m = ce.len;
				memcpy(tmp, ce.buf, m);
				ce.len = 0;
				t0 = now_ns();
				if (m)
					cee_tls_input(st, tmp, m);
				server_ns += now_ns() - t0;
				m = se.len;
				memcpy(tmp, se.buf, m);
				se.len = 0;
				if (m)
					cee_tls_input(ct, tmp, m);
			}
			if (!se.up || !ce.up) {
				fprintf(stderr, "cee-tlscrypto: a handshake failed\n");
				return -1;
			}
			// the client takes the server's last flight (the ticket)
			if (se.len) {
				uint32_t m = se.len;
				memcpy(tmp, se.buf, m);
				se.len = 0;
				cee_tls_input(ct, tmp, m);
			}
			if (resume && sess == NULL)
				sess = cee_tls_session_get(ct);
			t0 = now_ns();
			cee_tls_free(st);
			server_ns += now_ns() - t0;
			cee_tls_free(ct);
		}
		double mean = (double)server_ns / n;
		if (best < 0 || mean < best)
			best = mean;
	}
	cee_tls_session_free(sess);
	cee_tls_ctx_destroy(sctx);
	cee_tls_ctx_destroy(cctx);
	return best;
}

// --@p opt's value @p s, a whole number in [@p lo, @p hi], or exit 2: atoi
// took "10x" as 10, overflowed without a word, and --handshakes -1 skipped
// the handshakes as 0 does
static int parse_opt(const char *opt, const char *s, long lo, long hi)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "cee-tlscrypto: bad value for --%s: '%s' (a whole number in %ld..%ld)\n",
			opt, s, lo, hi);
		exit(2);
	}
	return (int)v;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cee-tlscrypto [--key-ecdsa FILE] [--key-rsa FILE] [--iters N] "
		"[--rounds N] [--json]\n"
		"  --key-ecdsa FILE  P-256 private key, PEM (default %s/server.key)\n"
		"  --key-rsa FILE    RSA-2048 private key, PEM (default %s/server-rsa.key)\n"
		"  --iters N         operations per timed run (default 1000)\n"
		"  --rounds N        timed runs; the lowest mean is kept (default 3)\n"
		"  --handshakes N    whole server handshakes timed per run (default 300; 0: none)\n"
		"  --json            one JSON object instead of a table\n",
		CEE_CERT_DIR, CEE_CERT_DIR);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"key-ecdsa", required_argument, NULL, 'e'},
	    {"key-rsa", required_argument, NULL, 'r'},
	    {"iters", required_argument, NULL, 'n'},
	    {"rounds", required_argument, NULL, 'R'},
	    {"json", no_argument, NULL, 'j'},
	    {"handshakes", required_argument, NULL, 'H'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *ecdsa_file = CEE_CERT_DIR "/server.key";
	const char *rsa_file = CEE_CERT_DIR "/server-rsa.key";
	int iters = 1000, rounds = 3, nhs = 300, c;
	bool json = false;
	static struct keys k;
	double x25519, p256, ecdsa, rsa, pk_ecdsa, pk_rsa;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'e':
			ecdsa_file = optarg;
			break;
		case 'r':
			rsa_file = optarg;
			break;
		case 'n':
			iters = parse_opt("iters", optarg, 1, 100000000);
			break;
		case 'R':
			rounds = parse_opt("rounds", optarg, 1, 1000);
			break;
		case 'j':
			json = true;
			break;
		case 'H':
			nhs = parse_opt("handshakes", optarg, 0, 10000000);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || iters <= 0 || rounds <= 0) {
		usage(stderr);
		return 2;
	}

	load_keys(&k, ecdsa_file, rsa_file);
	x25519 = time_op(&k, OP_X25519, iters, rounds);
	p256 = time_op(&k, OP_P256, iters, rounds);
	ecdsa = time_op(&k, OP_ECDSA, iters, rounds);
	rsa = time_op(&k, OP_RSA, iters, rounds);
	pk_ecdsa = x25519 + ecdsa;
	pk_rsa = x25519 + rsa;
	double hs_ecdsa = 0, hs_rsa = 0, hs_resumed = 0;
	if (nhs > 0) {
		if (cee_tls_global_init() < 0)
			return die("cee_tls_global_init", -1);
		hs_ecdsa = time_handshakes(CEE_CERT_DIR "/server.pem", ecdsa_file, nhs, rounds, false);
		hs_rsa = time_handshakes(CEE_CERT_DIR "/server-rsa.pem", rsa_file,
					 nhs / 10 > 0 ? nhs / 10 : 1, rounds, false);
		hs_resumed = time_handshakes(CEE_CERT_DIR "/server.pem", ecdsa_file, nhs, rounds, true);
		if (hs_ecdsa < 0 || hs_rsa < 0 || hs_resumed < 0)
			return 1;
	}

	if (json) {
		printf("{\"ecdhe_x25519_ns\":%.0f,\"ecdhe_p256_ns\":%.0f,"
		       "\"sign_ecdsa_p256_ns\":%.0f,\"sign_rsa2048_ns\":%.0f,"
		       "\"server_pk_ns_ecdsa\":%.0f,\"server_pk_ns_rsa\":%.0f,"
		       "\"bound_hs_per_s_ecdsa\":%.0f,\"bound_hs_per_s_rsa\":%.0f,"
		       "\"server_hs_ns_ecdsa\":%.0f,\"server_hs_ns_rsa\":%.0f,"
		       "\"server_hs_ns_resumed\":%.0f,\"bound_hs_per_s_resumed\":%.0f,"
		       "\"group\":\"x25519\",\"iters\":%d,\"rounds\":%d,\"wolfssl\":\"%s\"}\n",
		       x25519, p256, ecdsa, rsa, pk_ecdsa, pk_rsa, 1e9 / pk_ecdsa, 1e9 / pk_rsa,
		       hs_ecdsa, hs_rsa, hs_resumed, 1e9 / x25519, iters, rounds,
		       LIBWOLFSSL_VERSION_STRING);
	} else {
		printf("wolfCrypt %s, %d x %d operations, lowest mean per operation\n",
		       LIBWOLFSSL_VERSION_STRING, rounds, iters);
		printf("  ECDHE X25519 (keygen + shared secret)  %10.0f ns\n", x25519);
		printf("  ECDHE P-256  (keygen + shared secret)  %10.0f ns\n", p256);
		printf("  sign ECDSA P-256                       %10.0f ns\n", ecdsa);
		printf("  sign RSA-PSS 2048                      %10.0f ns\n", rsa);
		printf("server public-key work per full handshake (X25519):\n");
		printf("  ECDSA certificate  %10.0f ns  bound %8.0f handshakes/s per core\n",
		       pk_ecdsa, 1e9 / pk_ecdsa);
		printf("  RSA certificate    %10.0f ns  bound %8.0f handshakes/s per core\n",
		       pk_rsa, 1e9 / pk_rsa);
		printf("  resumed (X25519 only) %7.0f ns  bound %8.0f handshakes/s per core\n",
		       x25519, 1e9 / x25519);
		if (nhs > 0) {
			printf("whole server side of a TLS 1.3 handshake through tls/ (in memory):\n");
			printf("  ECDSA certificate  %10.0f ns  %8.0f handshakes/s (%.0f%% of the bound)\n",
			       hs_ecdsa, 1e9 / hs_ecdsa, 100 * pk_ecdsa / hs_ecdsa);
			printf("  RSA certificate    %10.0f ns  %8.0f handshakes/s (%.0f%% of the bound)\n",
			       hs_rsa, 1e9 / hs_rsa, 100 * pk_rsa / hs_rsa);
			printf("  resumed (ECDSA)    %10.0f ns  %8.0f handshakes/s (%.0f%% of the bound)\n",
			       hs_resumed, 1e9 / hs_resumed, 100 * x25519 / hs_resumed);
		}
	}
	wc_curve25519_free(&k.x25519_peer);
	wc_ecc_free(&k.p256_peer);
	wc_ecc_free(&k.ecdsa);
	wc_FreeRsaKey(&k.rsa);
	wc_FreeRng(&k.rng);
	return 0;
}
