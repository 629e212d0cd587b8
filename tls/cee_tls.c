/* SPDX-License-Identifier: BSD-3-Clause */
// TLS as a sans-I/O layer over wolfSSL (cee_tls.h). One WOLFSSL_CTX per
// cee_tls_ctx; a context and its connections are used by one thread (its
// shard), so nothing here locks except the process-wide heap counter.

#include <assert.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/chacha20_poly1305.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/hmac.h>
#include <wolfssl/wolfcrypt/memory.h>
#include <wolfssl/wolfcrypt/random.h>

#include "cee_tls.h"

// ECDHE key exchange with AEAD only (RFC 8446 B.4 for 1.3; RFC 8422 and
// RFC 7905 for 1.2), ECDSA before RSA authentication. A wolfSSL server
// chooses in its own order (and a client's order is what an OpenSSL server
// follows by default): ChaCha20-Poly1305 first where this wolfSSL has no
// AES-NI. Debian's 5.5.4 has none: on one core of this machine it sealed
// AES-128-GCM at 145 MB/s and ChaCha20-Poly1305 at 398 MB/s (OpenSSL's
// AES-NI: 3,980 MB/s), and an echo of bulk TLS clients, crypto-bound in the
// shard, moved 242-289 Mbit/s with AES-GCM, 424-440 with ChaCha20
// (scripts/wan.sh --tls --tls-ahead 262144 --profile none, session 27).
#ifdef WOLFSSL_AESNI
#define CIPHERS_13 "TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:TLS13-CHACHA20-POLY1305-SHA256:"
#define CIPHERS_12                                                                                 \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                               \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                               \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define PREFER_CHACHA false
#else
#define CIPHERS_13 "TLS13-CHACHA20-POLY1305-SHA256:TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:"
#define CIPHERS_12                                                                                 \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"                               \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                               \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384"
#define PREFER_CHACHA true
#endif
static const char default_ciphers[] = CIPHERS_13 CIPHERS_12;

bool cee_tls_prefers_chacha(void)
{
	return PREFER_CHACHA;
}

// In preference order: the first is the key share a wolfSSL client sends.
// Set through the OpenSSL-style list, which also disables every other
// curve for TLS 1.2 ECDHE (wolfSSL_CTX_set_groups alone restricts only
// what we offer and the TLS 1.3 key shares).
static const char groups[] = "X25519:P-256:P-384";

enum {
	ALERT_LEVEL_WARNING = 1, // RFC 5246 7.2
	ALERT_LEVEL_FATAL = 2,
	ALERT_USER_CANCELED = 90, // RFC 8446 6.1: a warning, followed by close_notify
	READ_CHUNK = 16384,    // one record's plaintext at most (RFC 8446 5.1)
	// Records after the handshake that bring no plaintext (KeyUpdate,
	// empty records, warning alerts in TLS 1.2) a peer may send: this many,
	// and one more per KiB of plaintext it sent (a legitimate peer sends
	// a KeyUpdate per 2^24 records or so, RFC 8446 5.5)
	QUIET_RECORDS = 64,
	QUIET_CAP = 128, // the most quiet records plaintext can have paid for in advance
	HS_RECORDS = 16, // records a handshake's last flight may take (see cee_tls_input())
};

#define RETIRED_MAX 8

struct cee_tls_ctx {
	WOLFSSL_CTX *wctx;
	bool server;
	char *alpn; // comma separated; NULL = none
	uint32_t alpn_len;
	// Ticket protection derived from cfg.ticket_key: every context built
	// from the same key derives the same name and key.
	uint8_t ticket_name[WOLFSSL_TICKET_NAME_SZ];
	uint8_t ticket_aead_key[CHACHA20_POLY1305_AEAD_KEYSIZE];
	// the epoch before (accepted, never issued), and the ratchet's secret
	uint8_t prev_name[WOLFSSL_TICKET_NAME_SZ];
	uint8_t prev_aead_key[CHACHA20_POLY1305_AEAD_KEYSIZE];
	bool prev_ok;
	uint8_t chain[32]; // of epoch tk_epoch: the next epoch's derives from it
	uint64_t tk_epoch, tk_period_ns;
	uint64_t (*clock_ns)(void);
	bool tickets_on;
	WC_RNG rng; // ticket nonces
	bool rng_ready;
	struct cee_tls_stats stats;
	struct cee_tls *pool; // max_conns slots, never moves
	struct cee_tls *free_head;
	uint32_t max_conns;
	uint32_t live; // slots in use (cee_tls_ctx_live)
	// --tls-mem is on top of what the contexts hold: a reload's new context
	// (exempt while built) raises the budget by its size, and the budget
	// comes down by an old one's when wolfSSL frees it, with the last
	// connection made from it (before, a reload's context was charged to
	// the connections' budget, and one kept by old connections too).
	// Generations retired while connections still used them are kept
	// apart (summed in one, a long-lived connection of the first held
	// every later one's size in the budget: it grew by a context at each
	// reload); past RETIRED_MAX the two youngest are merged.
	uint32_t gen;		// this generation (cee_tls.gen of its connections)
	uint32_t gen_live;	// connections made from wctx
	int64_t wctx_bytes;	// what building wctx kept
	struct retired_gen {
		uint32_t lo, hi; // the generations it stands for
		uint32_t live;	 // their connections
		int64_t bytes;	 // their contexts' sizes still in the budget
	} retired[RETIRED_MAX];
	unsigned nretired;
};

// What the connection waits on; tls_set_state() is the only writer.
enum tls_state {
	TLS_EXPECT_START,     // client: cee_tls_start() not called yet
	TLS_EXPECT_HANDSHAKE, // handshake messages from the peer
	TLS_EXPECT_DATA,      // up: records from the peer
	TLS_ENDED,	      // io.close called, or the stream below failed or ended
};

struct cee_tls {
	struct cee_tls_ctx *ctx;
	WOLFSSL *ssl;
	uint32_t gen; // the context generation it was made from
	struct cee_layer_io io;
	enum tls_state state;
	bool in_use;
	bool close_sent;  // our close_notify went down
	bool close_out;	  // ... and returned: nothing more goes down (io_send)
	bool said;	  // something went down (a server: its first flight began)
	bool down_failed; // io.down refused bytes: the record stream is broken
	bool eof;	  // cee_tls_eof() was called
	// Ciphertext handed to cee_tls_input() and not yet read by wolfSSL;
	// valid only during that call.
	const uint8_t *in;
	uint32_t in_len;
	// Record framing of the input (RFC 8446 5.1), to recognise an
	// unprotected alert record (2 bytes): a TLS 1.3 peer that rejects our
	// certificate before it has its handshake keys sends one, and wolfSSL
	// answers it with unexpected_message instead of reporting it.
	uint8_t rec_hdr[5];
	uint8_t rec_nh;        // header bytes seen of the current record
	bool rec_alert;        // the current record is a 2-byte alert
	uint16_t rec_left;     // body bytes of the current record still to come
	uint8_t plain_alert[2];
	uint8_t plain_alert_rx; // fatal alert code received unprotected, 0 = none
	// Records completed in the input (track_records()), records that
	// brought plaintext, its bytes, and the records after the handshake
	// that brought none (against QUIET_RECORDS)
	uint32_t rec_count, plain_reads;
	uint32_t quiet_credit; // quiet records still allowed (QUIET_RECORDS at first)
	uint64_t plain_rx, plain_credited; // plaintext in; of which turned into credit
	// wolfSSL's last received alert when the handshake completed: one
	// after it, at warning level, is told by a change (warning_alert())
	int rx_alert_code, rx_alert_level;
	// Offsets in the peer's byte stream: bytes tracked, the end of that
	// alert record (7 bytes), and bytes handed to wolfSSL (io_recv). The
	// alert is the peer's only if wolfSSL failed on it (it read into it),
	// not on a record before it.
	uint64_t trk_off, plain_alert_end, rx_off;
	// The start of such a record when the input ends inside it: held back
	// so that wolfSSL sees the record whole (with its code), and handed in
	// (pre) before the next input.
	uint8_t hold[7];
	uint8_t hold_len;
	const uint8_t *pre;
	uint32_t pre_len;
	struct cee_tls_info info;
	// heap_refusals when wolfSSL was last called for this connection: a
	// failure with it moved since is the heap budget's (heap_refused)
	uint64_t refusals_at;
	struct cee_tls *next_free;
};

// ---- the counting allocator behind cee_tls_heap_bytes(), and its budget ----

static atomic_int_fast64_t heap_bytes;
// The bound on heap_bytes (0 = none: cee_tls_heap_budget()), and the
// level above which no new connection's state is made.
static atomic_int_fast64_t heap_limit, heap_admit;
// Allocations this thread's allocator refused: a wolfSSL call that fails
// while this moved failed for want of the budget, not for the peer's input.
static _Thread_local uint64_t heap_refusals;
// This thread is warming a context up (cee_tls_ctx_warm): outside the budget
static _Thread_local bool heap_exempt;
// What this thread's allocations and frees moved heap_bytes by while
// exempt: what its warm-up kept. (Measured on heap_bytes, process-wide,
// it took in what other shards allocated meanwhile: their handshakes'
// state during a reconnect storm at start grew the budget for good.)
static _Thread_local int64_t heap_exempt_net;

// true when @p grow more bytes would pass the budget (counted)
static bool over_budget(size_t grow)
{
	int64_t lim = atomic_load_explicit(&heap_limit, memory_order_relaxed);

	if (lim <= 0 || heap_exempt ||
	    atomic_load_explicit(&heap_bytes, memory_order_relaxed) + (int64_t)grow <= lim)
		return false;
	heap_refusals++;
	return true;
}

static void *count_malloc(size_t size)
{
	void *p = over_budget(size) ? NULL : malloc(size);

	if (p != NULL) {
		int64_t n = (int64_t)malloc_usable_size(p);
		atomic_fetch_add_explicit(&heap_bytes, n, memory_order_relaxed);
		if (heap_exempt)
			heap_exempt_net += n;
	}
	return p;
}

static void count_free(void *p)
{
	if (p == NULL)
		return;
	int64_t n = (int64_t)malloc_usable_size(p);
	atomic_fetch_sub_explicit(&heap_bytes, n, memory_order_relaxed);
	if (heap_exempt)
		heap_exempt_net -= n;
	free(p);
}

static void *count_realloc(void *p, size_t size)
{
	size_t old = p != NULL ? malloc_usable_size(p) : 0;
	void *q;

	if (size == 0) {
		count_free(p);
		return NULL;
	}
	if (size > old && over_budget(size - old))
		return NULL; // (p stays, as realloc leaves it)
	q = realloc(p, size);
	if (q != NULL) {
		int64_t d = (int64_t)malloc_usable_size(q) - (int64_t)old;
		atomic_fetch_add_explicit(&heap_bytes, d, memory_order_relaxed);
		if (heap_exempt)
			heap_exempt_net += d;
	}
	return q;
}

int64_t cee_tls_heap_bytes(void)
{
	return atomic_load_explicit(&heap_bytes, memory_order_relaxed);
}

int64_t cee_tls_heap_limit(void)
{
	return atomic_load_explicit(&heap_limit, memory_order_relaxed);
}

void cee_tls_heap_budget(int64_t bytes)
{
	int64_t now = cee_tls_heap_bytes();

	if (bytes <= 0) {
		atomic_store_explicit(&heap_limit, 0, memory_order_relaxed);
		atomic_store_explicit(&heap_admit, 0, memory_order_relaxed);
		return;
	}
	// an eighth kept for the connections already made: their records,
	// a KeyUpdate, a shutdown (wolfSSL allocates on each)
	atomic_store_explicit(&heap_admit, now + bytes - bytes / 8, memory_order_relaxed);
	atomic_store_explicit(&heap_limit, now + bytes, memory_order_relaxed);
}

// The budget (when one is set) moves by @p d bytes: what contexts hold.
static void heap_budget_move(int64_t d)
{
	if (d == 0 || atomic_load_explicit(&heap_limit, memory_order_relaxed) <= 0)
		return;
	atomic_fetch_add_explicit(&heap_limit, d, memory_order_relaxed);
	atomic_fetch_add_explicit(&heap_admit, d, memory_order_relaxed);
}

// A stretch of this thread's allocations outside the budget (a context
// built or freed), nested in another one (the warm-up's) or not.
struct exempt_scope {
	bool was;
	int64_t net;
};

static void exempt_enter(struct exempt_scope *e)
{
	e->was = heap_exempt;
	e->net = heap_exempt_net;
	heap_exempt_net = 0;
	heap_exempt = true;
}

// @return what the stretch moved the heap by (kept: > 0; freed: < 0).
static int64_t exempt_leave(const struct exempt_scope *e)
{
	int64_t moved = heap_exempt_net;
	heap_exempt = e->was;
	heap_exempt_net = e->net + (e->was ? moved : 0);
	return moved;
}

// Build @p ctx->wctx outside the budget and note what it kept.
static int wctx_setup(struct cee_tls_ctx *ctx, const struct cee_tls_cfg *cfg, bool server,
		      char *err, size_t errlen);
static int wctx_build(struct cee_tls_ctx *ctx, const struct cee_tls_cfg *cfg, char *err,
		      size_t errlen, int64_t *kept)
{
	struct exempt_scope e;
	exempt_enter(&e);
	int rc = wctx_setup(ctx, cfg, ctx->server, err, errlen);
	*kept = exempt_leave(&e);
	return rc;
}

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static int global_rc;

static void global_init_once(void)
{
	// Before wolfSSL_Init: every block wolfSSL allocates is then counted,
	// and none is freed by the counter that it did not count.
	if (wolfSSL_SetAllocators(count_malloc, count_free, count_realloc) != 0) {
		global_rc = -EINVAL;
		return;
	}
	if (wolfSSL_Init() != WOLFSSL_SUCCESS)
		global_rc = -ENOMEM;
}

int cee_tls_global_init(void)
{
	int rc = pthread_once(&global_once, global_init_once);

	return rc != 0 ? -rc : global_rc;
}

// ---- session tickets ----

// Ticket = key_name | nonce (16, first 12 used) | ChaCha20-Poly1305(state)
// | tag (16, then 16 zero bytes: wolfSSL reserves 32 for the MAC).
// AAD = key_name | nonce | length (16 bits, network order), as wolfSSL's
// own default callback. A ticket made by any context with the same
// cfg.ticket_key opens here; any other is rejected (full handshake).
static uint64_t mono_clock_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

// The name and key of the ratchet's current epoch from its secret.
static int ticket_derive(struct cee_tls_ctx *ctx)
{
	static const uint8_t info[] = "cee tls ticket v2 name+key";
	uint8_t okm[WOLFSSL_TICKET_NAME_SZ + CHACHA20_POLY1305_AEAD_KEYSIZE];
	if (wc_HKDF(WC_SHA256, ctx->chain, sizeof(ctx->chain), NULL, 0, info, sizeof(info) - 1,
		    okm, sizeof(okm)) != 0)
		return -EINVAL;
	memcpy(ctx->ticket_name, okm, sizeof(ctx->ticket_name));
	memcpy(ctx->ticket_aead_key, okm + sizeof(ctx->ticket_name), sizeof(ctx->ticket_aead_key));
	explicit_bzero(okm, sizeof(okm));
	return 0;
}

// On to @p epoch: each step keeps the last key as the one before and
// derives the next secret from the last, which is then gone.
static int ticket_advance(struct cee_tls_ctx *ctx, uint64_t epoch)
{
	static const uint8_t info[] = "cee tls ticket v2 next";
	while (ctx->tk_epoch < epoch) {
		uint8_t next[sizeof(ctx->chain)];
		memcpy(ctx->prev_name, ctx->ticket_name, sizeof(ctx->prev_name));
		memcpy(ctx->prev_aead_key, ctx->ticket_aead_key, sizeof(ctx->prev_aead_key));
		ctx->prev_ok = true;
		if (wc_HKDF(WC_SHA256, ctx->chain, sizeof(ctx->chain), NULL, 0, info,
			    sizeof(info) - 1, next, sizeof(next)) != 0)
			return -EINVAL;
		memcpy(ctx->chain, next, sizeof(next));
		explicit_bzero(next, sizeof(next));
		ctx->tk_epoch++;
		if (ticket_derive(ctx) < 0)
			return -EINVAL;
		ctx->stats.ticket_rotations++;
	}
	return 0;
}

static int ticket_cb(WOLFSSL *ssl, unsigned char key_name[WOLFSSL_TICKET_NAME_SZ],
		     unsigned char iv[WOLFSSL_TICKET_IV_SZ],
		     unsigned char mac[WOLFSSL_TICKET_MAC_SZ], int enc, unsigned char *ticket,
		     int in_len, int *out_len, void *arg)
{
	struct cee_tls_ctx *ctx = arg;
	uint8_t aad[WOLFSSL_TICKET_NAME_SZ + WOLFSSL_TICKET_IV_SZ + 2];
	const uint8_t *key = ctx->ticket_aead_key;
	bool renew = false;
	int rc;

	if (in_len <= 0 || in_len > 0xffff)
		return WOLFSSL_TICKET_RET_REJECT;
	if (ticket_advance(ctx, ctx->clock_ns() / ctx->tk_period_ns) < 0)
		return WOLFSSL_TICKET_RET_FATAL;
	if (enc) {
		memcpy(key_name, ctx->ticket_name, WOLFSSL_TICKET_NAME_SZ);
		if (wc_RNG_GenerateBlock(&ctx->rng, iv, WOLFSSL_TICKET_IV_SZ) != 0)
			return WOLFSSL_TICKET_RET_FATAL;
	} else if (ctx->prev_ok && memcmp(key_name, ctx->prev_name, WOLFSSL_TICKET_NAME_SZ) == 0) {
		key = ctx->prev_aead_key; // the period before: accepted, not issued
		renew = true;
	} else if (memcmp(key_name, ctx->ticket_name, WOLFSSL_TICKET_NAME_SZ) != 0) {
		return WOLFSSL_TICKET_RET_REJECT;
	}
	memcpy(aad, key_name, WOLFSSL_TICKET_NAME_SZ);
	memcpy(aad + WOLFSSL_TICKET_NAME_SZ, iv, WOLFSSL_TICKET_IV_SZ);
	aad[sizeof(aad) - 2] = (uint8_t)(in_len >> 8);
	aad[sizeof(aad) - 1] = (uint8_t)in_len;
	if (enc) {
		memset(mac, 0, WOLFSSL_TICKET_MAC_SZ);
		rc = wc_ChaCha20Poly1305_Encrypt(key, iv, aad, sizeof(aad), ticket,
						 (word32)in_len, ticket, mac);
		if (rc != 0)
			return WOLFSSL_TICKET_RET_FATAL;
	} else {
		rc = wc_ChaCha20Poly1305_Decrypt(key, iv, aad, sizeof(aad), ticket,
						 (word32)in_len, mac, ticket);
		if (rc != 0)
			return WOLFSSL_TICKET_RET_REJECT;
	}
	*out_len = in_len;
	// A ticket of the period before resumes, and TLS 1.2 gets a new one
	// in this handshake (TLS 1.3 gets one after every handshake): else a
	// client resuming often kept its first ticket until it stopped
	// opening, and this wolfSSL's TLS 1.2 client then failed the
	// connection instead of a full handshake. (In a TLS 1.3 handshake
	// wolfSSL takes only RET_OK for a PSK.)
	if (renew && wolfSSL_GetVersion(ssl) != WOLFSSL_TLSV1_3)
		return WOLFSSL_TICKET_RET_CREATE;
	return WOLFSSL_TICKET_RET_OK;
}

// Tickets on @p ctx->wctx; the ratchet begins (once) at cfg's epoch from its key.
static int ticket_setup(struct cee_tls_ctx *ctx, const struct cee_tls_cfg *cfg)
{
	static const uint8_t info[] = "cee tls ticket v2 chain";

	if (!ctx->rng_ready) {
		if (wc_HKDF(WC_SHA256, cfg->ticket_key, 32, NULL, 0, info, sizeof(info) - 1,
			    ctx->chain, sizeof(ctx->chain)) != 0)
			return -EINVAL;
		ctx->tk_epoch = cfg->ticket_epoch0;
		ctx->tk_period_ns =
		    cfg->ticket_rotate_ns != 0 ? cfg->ticket_rotate_ns : 3600000000000ull;
		ctx->clock_ns = cfg->clock_ns != NULL ? cfg->clock_ns : mono_clock_ns;
		if (ticket_derive(ctx) < 0)
			return -EINVAL;
		if (wc_InitRng(&ctx->rng) != 0)
			return -ENOMEM;
		ctx->rng_ready = true;
	}
	// The lifetime a ticket is announced with (TLS 1.2's hint, TLS 1.3's
	// ticket_lifetime): one rotation period, what any ticket is good for
	// at least (its epoch and the next are accepted). wolfSSL's default,
	// 300 s, made clients that honour it (OpenSSL, Go, wolfSSL) drop their
	// tickets after 5 minutes and reconnect with full handshakes. The
	// session timeout too: a wolfSSL server refuses a TLS 1.3 ticket older
	// than it (its default, 500 s), however long the hint said.
	uint64_t hint = ctx->tk_period_ns / 1000000000ull;
	if (hint > 604800) // RFC 8446 4.6.1: at most 7 days
		hint = 604800;
	if (hint == 0)
		hint = 1;
	if (wolfSSL_CTX_set_TicketEncCb(ctx->wctx, ticket_cb) != WOLFSSL_SUCCESS ||
	    wolfSSL_CTX_set_TicketEncCtx(ctx->wctx, ctx) != WOLFSSL_SUCCESS ||
	    wolfSSL_CTX_set_TicketHint(ctx->wctx, (int)hint) != WOLFSSL_SUCCESS ||
	    // (this build, OpenSSL-compatible, returns the previous timeout)
	    wolfSSL_CTX_set_timeout(ctx->wctx, (unsigned)hint) < 0)
		return -EINVAL;
	return 0;
}

long cee_tls_session_timeout_s(const struct cee_tls *t)
{
	return wolfSSL_get_timeout(t->ssl);
}

// ---- custom I/O: wolfSSL reads what cee_tls_input() handed in ----

static int warning_alert_code(struct cee_tls *t);

static int io_recv(WOLFSSL *ssl, char *buf, int sz, void *arg)
{
	struct cee_tls *t = arg;
	uint32_t n;

	(void)ssl;
	// wolfSSL asks for one record's header, then its body. A warning-level
	// error alert is not an error to it: it reads on within the same
	// call, and a close_notify after the alert takes its place in the
	// alert history (reported as the peer's close_notify). Nothing more
	// is read past such an alert: pump() ends the connection on it.
	if (t->state == TLS_EXPECT_DATA && warning_alert_code(t) != 0)
		return WOLFSSL_CBIO_ERR_WANT_READ;
	if (t->pre_len > 0 && sz > 0) { // held bytes first: they came first
		n = t->pre_len < (uint32_t)sz ? t->pre_len : (uint32_t)sz;
		memcpy(buf, t->pre, n);
		t->pre += n;
		t->pre_len -= n;
		t->rx_off += n;
		return (int)n;
	}
	if (t->in_len == 0 || sz <= 0)
		return WOLFSSL_CBIO_ERR_WANT_READ;
	n = t->in_len < (uint32_t)sz ? t->in_len : (uint32_t)sz;
	memcpy(buf, t->in, n);
	t->in += n;
	t->in_len -= n;
	t->rx_off += n;
	return (int)n;
}

// A record taken in part cannot be taken back: anything but all of it
// breaks the stream for good.
static int io_send(WOLFSSL *ssl, char *buf, int sz, void *arg)
{
	struct cee_tls *t = arg;
	int n;

	(void)ssl;
	if (t->down_failed || sz < 0)
		return WOLFSSL_CBIO_ERR_GENERAL;
	// After our close_notify nothing may follow (RFC 8446 6.1), and our FIN
	// may have too: what wolfSSL still writes (an answer to the peer's
	// KeyUpdate, an alert at a bad record) goes nowhere. (TCP refused it,
	// and the "failed" write ended the connection with an RST and
	// layer_send_fail.)
	if (t->close_out)
		return sz;
	n = t->io.down(t->io.arg, (const uint8_t *)buf, (uint32_t)sz);
	t->said |= n > 0;
	if (n != sz) {
		t->down_failed = true;
		return WOLFSSL_CBIO_ERR_GENERAL;
	}
	return n;
}

// ---- context ----

static int fail(char *err, size_t errlen, int e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int e, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -e;
}

static const char *wolf_strerror(int code, char *buf, size_t len)
{
	wolfSSL_ERR_error_string_n((unsigned long)code, buf, len);
	return buf;
}

// A file that cannot be opened is reported with its errno, not as a
// wolfSSL parse error.
static int check_readable(const char *what, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");

	if (f == NULL) {
		int e = errno;

		return fail(err, errlen, e, "%s %s: %s", what, path, strerror(e));
	}
	fclose(f);
	return 0;
}

static int read_file(const char *path, uint8_t **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 4096, n = 0;
	uint8_t *b = NULL;

	if (f == NULL)
		return -errno;
	for (;;) {
		uint8_t *nb = realloc(b, cap);

		if (nb == NULL) {
			free(b);
			fclose(f);
			return -ENOMEM;
		}
		b = nb;
		n += fread(b + n, 1, cap - n, f);
		if (n < cap)
			break;
		cap *= 2;
	}
	fclose(f);
	*buf = b;
	*len = n;
	return 0;
}

// wolfSSL_CTX_check_private_key compares RSA moduli but, in this wolfSSL
// (no WOLFSSL_VALIDATE_ECC_IMPORT), passes any EC key on the same curve.
// For an EC certificate, derive the public point from the private key
// and compare. @return 1 match or not EC, 0 mismatch, -errno.
static int ecc_key_matches(const char *cert_file, const char *key_file)
{
	WOLFSSL_X509 *x509 = wolfSSL_X509_load_certificate_file(cert_file, WOLFSSL_FILETYPE_PEM);
	uint8_t spki[1024], cert_pub[160], key_pub[160], der[8192];
	word32 cert_len = sizeof(cert_pub), key_len = sizeof(key_pub), idx = 0;
	int spki_len = sizeof(spki), der_len, rc = -EINVAL;
	ecc_key pub, priv;
	uint8_t *pem = NULL;
	size_t pem_len = 0;
	WC_RNG rng;

	if (x509 == NULL)
		return -EINVAL;
	if (wolfSSL_X509_get_pubkey_buffer(x509, spki, &spki_len) != WOLFSSL_SUCCESS) {
		wolfSSL_X509_free(x509);
		return -EINVAL;
	}
	wolfSSL_X509_free(x509);
	if (wc_ecc_init(&pub) != 0)
		return -ENOMEM;
	if (wc_EccPublicKeyDecode(spki, &idx, &pub, (word32)spki_len) != 0) {
		wc_ecc_free(&pub);
		return 1; // not EC: wolfSSL's check stands
	}
	if (wc_ecc_export_x963(&pub, cert_pub, &cert_len) != 0) {
		wc_ecc_free(&pub);
		return -EINVAL;
	}
	wc_ecc_free(&pub);
	if ((rc = read_file(key_file, &pem, &pem_len)) < 0)
		return rc;
	der_len = wc_KeyPemToDer(pem, (int)pem_len, der, sizeof(der), NULL);
	free(pem);
	if (der_len <= 0)
		return 0;
	if (wc_InitRng(&rng) != 0)
		return -ENOMEM;
	if (wc_ecc_init(&priv) != 0) {
		wc_FreeRng(&rng);
		return -ENOMEM;
	}
	idx = 0;
	rc = 0;
	if (wc_EccPrivateKeyDecode(der, &idx, &priv, (word32)der_len) == 0 &&
	    wc_ecc_make_pub_ex(&priv, NULL, &rng) == 0 &&
	    wc_ecc_export_x963(&priv, key_pub, &key_len) == 0)
		rc = key_len == cert_len && memcmp(key_pub, cert_pub, key_len) == 0;
	wc_ecc_free(&priv);
	wc_FreeRng(&rng);
	memset(der, 0, sizeof(der));
	return rc;
}

static int load_files(struct cee_tls_ctx *ctx, const struct cee_tls_cfg *cfg, char *err,
		      size_t errlen)
{
	char why[96];
	int rc;

	if (cfg->cert_file != NULL) {
		if ((rc = check_readable("cert_file", cfg->cert_file, err, errlen)) < 0)
			return rc;
		rc = wolfSSL_CTX_use_certificate_chain_file(ctx->wctx, cfg->cert_file);
		if (rc != WOLFSSL_SUCCESS)
			return fail(err, errlen, EINVAL,
				    "cert_file %s: not a PEM certificate chain (%s)",
				    cfg->cert_file, wolf_strerror(rc, why, sizeof(why)));
	}
	if (cfg->key_file != NULL) {
		if ((rc = check_readable("key_file", cfg->key_file, err, errlen)) < 0)
			return rc;
		rc =
		    wolfSSL_CTX_use_PrivateKey_file(ctx->wctx, cfg->key_file, WOLFSSL_FILETYPE_PEM);
		if (rc != WOLFSSL_SUCCESS)
			return fail(err, errlen, EINVAL, "key_file %s: not a PEM private key (%s)",
				    cfg->key_file, wolf_strerror(rc, why, sizeof(why)));
		if (wolfSSL_CTX_check_private_key(ctx->wctx) != WOLFSSL_SUCCESS ||
		    (rc = ecc_key_matches(cfg->cert_file, cfg->key_file)) == 0)
			return fail(err, errlen, EINVAL, "key_file %s does not match cert_file %s",
				    cfg->key_file, cfg->cert_file);
		if (rc < 0)
			return fail(err, errlen, -rc, "key_file %s: cannot be checked against %s",
				    cfg->key_file, cfg->cert_file);
	}
	if (cfg->ca_file != NULL) {
		if ((rc = check_readable("ca_file", cfg->ca_file, err, errlen)) < 0)
			return rc;
		rc = wolfSSL_CTX_load_verify_locations(ctx->wctx, cfg->ca_file, NULL);
		if (rc != WOLFSSL_SUCCESS)
			return fail(err, errlen, EINVAL, "ca_file %s: not a PEM CA bundle (%s)",
				    cfg->ca_file, wolf_strerror(rc, why, sizeof(why)));
#ifdef WOLFSSL_TRUST_PEER_CERT
		// A wolfSSL built with WOLFSSL_TRUST_PEER_CERT and
		// OPENSSL_COMPATIBLE_DEFAULTS (Debian's) loads the CA file a
		// second time as "trusted peer" certificates, and by its source
		// a certificate that matches one by subject and signature bytes
		// skips chain verification: one forged with the public CA
		// certificate's subject and signature and another key could pass
		// as any server (a link) or client (mutual TLS). 5.5.4 here
		// refused the forgery tried (test_ca_clone_*) even so; none is
		// kept, whatever the library's build.
		rc = wolfSSL_CTX_Unload_trust_peers(ctx->wctx);
		if (rc != WOLFSSL_SUCCESS)
			return fail(err, errlen, EIO, "ca_file %s: trusted peers not cleared (%s)",
				    cfg->ca_file, wolf_strerror(rc, why, sizeof(why)));
#endif
	}
	return 0;
}

// Every suite the list names must be TLS 1.3 or TLS 1.2 with ECDHE key
// exchange and encryption; keywords ("ALL", "HIGH") are refused because
// what they enable cannot be checked here. The list must leave a suite for
// the version range [minv, maxv]: one without (TLS 1.2 suites only with
// min_version TLS 1.3) was taken, and every handshake then failed.
static int check_ciphers(const char *list, uint16_t minv, uint16_t maxv, char *err, size_t errlen)
{
	char tok[128];
	const char *p = list;
	bool v13 = false, v12 = false;

	while (*p != '\0') {
		size_t n = strcspn(p, ":");
		unsigned char cs0, cs;
		int flags = 0;

		if (n == 0 || n >= sizeof(tok))
			return fail(err, errlen, EINVAL, "ciphers: bad entry in \"%s\"", list);
		memcpy(tok, p, n);
		tok[n] = '\0';
		p += n + (p[n] == ':');
		if (tok[0] == '!' || tok[0] == '-')
			continue; // removes suites, cannot enable one
		if (wolfSSL_get_cipher_suite_from_name(tok, &cs0, &cs, &flags) != 0)
			return fail(err, errlen, EINVAL,
				    "ciphers: \"%s\" is not a cipher suite this wolfSSL knows",
				    tok);
		if (cs0 == 0x13) { // TLS13_BYTE: RFC 8446 B.4
			v13 = true;
			continue;
		}
		if (strncmp(tok, "ECDHE-", 6) != 0 && strncmp(tok, "TLS_ECDHE_", 10) != 0)
			return fail(
			    err, errlen, EINVAL,
			    "ciphers: \"%s\" is not ECDHE (only ECDHE key exchange is allowed)",
			    tok);
		if (strstr(tok, "NULL") != NULL)
			return fail(err, errlen, EINVAL, "ciphers: \"%s\" does not encrypt", tok);
		// this wolfSSL has them (Debian builds RC4 and 3DES in): an old
		// list copied in started without a word
		if (strstr(tok, "RC4") != NULL || strstr(tok, "DES") != NULL)
			return fail(err, errlen, EINVAL,
				    "ciphers: \"%s\" is broken (RC4: RFC 7465; 3DES: its 64-bit "
				    "blocks, Sweet32)",
				    tok);
		v12 = true;
	}
	if (!(v13 && maxv >= CEE_TLS_V13) && !(v12 && minv <= CEE_TLS_V12))
		return fail(err, errlen, EINVAL,
			    "ciphers: \"%s\" has no suite for TLS %s%s: no handshake could "
			    "succeed",
			    list, minv <= CEE_TLS_V12 ? "1.2" : "1.3",
			    minv == maxv ? "" : maxv >= CEE_TLS_V13 ? " to 1.3" : "");
	return 0;
}

// ALPN list as wolfSSL_UseALPN takes it: 1..255-byte names (RFC 7301 3.1).
static int check_alpn(const char *list, char *err, size_t errlen)
{
	const char *p = list;

	if (*p == '\0')
		return fail(err, errlen, EINVAL, "alpn: empty list");
	while (*p != '\0') {
		size_t n = strcspn(p, ",");

		// (a name longer than info.alpn holds would be negotiated and
		// then reported as none)
		if (n == 0 || n >= sizeof(((struct cee_tls_info *)NULL)->alpn))
			return fail(err, errlen, EINVAL,
				    "alpn: bad protocol name in \"%s\" (1 to %zu characters)", list,
				    sizeof(((struct cee_tls_info *)NULL)->alpn) - 1);
		p += n + (p[n] == ',');
	}
	if (strlen(list) > (size_t)WOLFSSL_MAX_ALPN_NUMBER * (WOLFSSL_MAX_ALPN_PROTO_NAME_LEN + 1))
		return fail(err, errlen, EINVAL, "alpn: list too long");
	return 0;
}

static int version_code(uint16_t v, int *wolf_version)
{
	switch (v) {
	case CEE_TLS_V12:
		*wolf_version = WOLFSSL_TLSV1_2;
		return 0;
	case CEE_TLS_V13:
		*wolf_version = WOLFSSL_TLSV1_3;
		return 0;
	default:
		return -EINVAL;
	}
}

// Accept any server name and keep it for cee_tls_get_info(): with a
// receive callback set, wolfSSL stores the client's SNI without matching
// it against a configured name.
static int sni_accept_any(WOLFSSL *ssl, int *alert, void *arg)
{
	(void)ssl;
	(void)alert;
	(void)arg;
	return 0;
}

// A WOLFSSL_CTX for @p cfg into ctx->wctx (NULL before): versions, suites,
// groups, no session cache, our I/O, the files, verification, SNI and
// tickets. Built at start, and again by cee_tls_ctx_reload().
static int wctx_setup(struct cee_tls_ctx *ctx, const struct cee_tls_cfg *cfg, bool server,
		      char *err, size_t errlen)
{
	uint16_t minv = cfg->min_version != 0 ? cfg->min_version : CEE_TLS_V12;
	uint16_t maxv = cfg->max_version != 0 ? cfg->max_version : CEE_TLS_V13;
	const char *ciphers = cfg->ciphers != NULL ? cfg->ciphers : default_ciphers;
	static const uint8_t zero_key[32];
	int wolf_min, wolf_max, rc;

	if (version_code(minv, &wolf_min) < 0 || version_code(maxv, &wolf_max) < 0)
		return fail(err, errlen, EINVAL, "bad version range");
	ctx->wctx =
	    wolfSSL_CTX_new(server ? wolfSSLv23_server_method() : wolfSSLv23_client_method());
	if (ctx->wctx == NULL)
		return fail(err, errlen, ENOMEM, "wolfSSL_CTX_new failed");
	if (wolfSSL_CTX_SetMinVersion(ctx->wctx, wolf_min) != WOLFSSL_SUCCESS ||
	    (wolf_max == WOLFSSL_TLSV1_2 &&
	     wolfSSL_CTX_set_max_proto_version(ctx->wctx, TLS1_2_VERSION) != WOLFSSL_SUCCESS))
		return fail(err, errlen, EINVAL, "wolfSSL refused the version range");
	if (wolfSSL_CTX_set_cipher_list(ctx->wctx, ciphers) != WOLFSSL_SUCCESS)
		return fail(err, errlen, EINVAL, "ciphers: wolfSSL refused \"%s\"", ciphers);
	if (wolfSSL_CTX_set1_curves_list(ctx->wctx, groups) != WOLFSSL_SUCCESS)
		return fail(err, errlen, EINVAL, "wolfSSL refused the groups %s", groups);
	// The session cache is process-wide and locked: resumption is by
	// tickets only, and the client keeps its sessions itself. "Off" alone
	// is not enough: this wolfSSL (WOLFSSL_FORCE_CACHE_ON_TICKET) still
	// stores every session it issues a ticket for, and would resume a
	// TLS 1.2 session by id on any context, whatever its ticket key.
	wolfSSL_CTX_set_session_cache_mode(ctx->wctx, WOLFSSL_SESS_CACHE_OFF);
	wolfSSL_CTX_set_session_cache_mode(ctx->wctx, WOLFSSL_SESS_CACHE_NO_INTERNAL_STORE |
							  WOLFSSL_SESS_CACHE_NO_INTERNAL_LOOKUP);
	wolfSSL_CTX_SetIORecv(ctx->wctx, io_recv);
	wolfSSL_CTX_SetIOSend(ctx->wctx, io_send);

	if ((rc = load_files(ctx, cfg, err, errlen)) < 0)
		return rc;
	if (server && cfg->ca_file != NULL) {
		wolfSSL_CTX_set_verify(
		    ctx->wctx, WOLFSSL_VERIFY_PEER | WOLFSSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
		// Without it a TLS 1.2 client that sends no certificate is
		// refused with no alert at all; with it, handshake_failure
		// (RFC 5246 7.4.6).
		wolfSSL_CTX_mutual_auth(ctx->wctx, 1);
	} else if (!server && cfg->ca_file != NULL)
		wolfSSL_CTX_set_verify(ctx->wctx, WOLFSSL_VERIFY_PEER, NULL);
	else
		wolfSSL_CTX_set_verify(ctx->wctx, WOLFSSL_VERIFY_NONE, NULL);

	if (server) {
		wolfSSL_CTX_set_servername_callback(ctx->wctx, sni_accept_any);
		// (decided at creation: the caller may have erased the key since)
		// Asking for client certificates (ca_file): no tickets. wolfSSL's
		// ticket holds no peer certificate, so a resumed connection had no
		// subject for tls_up, and skipped the chain's check (a CA reload
		// that dropped an issuer let its clients resume on).
		if (!ctx->rng_ready)
			ctx->tickets_on = memcmp(cfg->ticket_key, zero_key, sizeof(zero_key)) != 0 &&
					  cfg->ca_file == NULL;
		if (ctx->tickets_on) {
			if ((rc = ticket_setup(ctx, cfg)) < 0)
				return fail(err, errlen, -rc, "ticket_key: set-up failed");
		} else {
			wolfSSL_CTX_NoTicketTLSv12(ctx->wctx);
			wolfSSL_CTX_set_num_tickets(ctx->wctx, 0);
		}
	} else if (wolfSSL_CTX_UseSessionTicket(ctx->wctx) != WOLFSSL_SUCCESS) {
		return fail(err, errlen, ENOMEM, "wolfSSL_CTX_UseSessionTicket failed");
	}

	return 0;
}

static int ctx_setup(struct cee_tls_ctx *ctx, const struct cee_tls_cfg *cfg, bool server, char *err,
		     size_t errlen)
{
	uint16_t minv = cfg->min_version != 0 ? cfg->min_version : CEE_TLS_V12;
	uint16_t maxv = cfg->max_version != 0 ? cfg->max_version : CEE_TLS_V13;
	const char *ciphers = cfg->ciphers != NULL ? cfg->ciphers : default_ciphers;
	int wolf_min, wolf_max, rc;

	if (version_code(minv, &wolf_min) < 0)
		return fail(err, errlen, EINVAL,
			    "min_version 0x%04x: only 0x0303 (TLS 1.2) and "
			    "0x0304 (TLS 1.3)",
			    minv);
	if (version_code(maxv, &wolf_max) < 0 || maxv < minv)
		return fail(err, errlen, EINVAL,
			    "max_version 0x%04x: TLS 1.2 or 1.3, not below "
			    "min_version",
			    maxv);
	if (cfg->max_conns == 0)
		return fail(err, errlen, EINVAL, "max_conns: 0");
	if (server && (cfg->cert_file == NULL || cfg->key_file == NULL))
		return fail(err, errlen, EINVAL, "server: cert_file and key_file are required");
	if ((cfg->cert_file == NULL) != (cfg->key_file == NULL))
		return fail(err, errlen, EINVAL, "cert_file and key_file go together");
	if ((rc = check_ciphers(ciphers, minv, maxv, err, errlen)) < 0)
		return rc;
	if (cfg->alpn != NULL && (rc = check_alpn(cfg->alpn, err, errlen)) < 0)
		return rc;
	ctx->server = server;
	if ((rc = wctx_build(ctx, cfg, err, errlen, &ctx->wctx_bytes)) < 0)
		return rc;

	if (cfg->alpn != NULL) {
		ctx->alpn_len = (uint32_t)strlen(cfg->alpn);
		ctx->alpn = strdup(cfg->alpn);
		if (ctx->alpn == NULL)
			return fail(err, errlen, ENOMEM, "alpn: out of memory");
	}

	ctx->pool = calloc(cfg->max_conns, sizeof(*ctx->pool));
	if (ctx->pool == NULL)
		return fail(err, errlen, ENOMEM, "max_conns %u: out of memory", cfg->max_conns);
	ctx->max_conns = cfg->max_conns;
	for (uint32_t i = cfg->max_conns; i-- > 0;) {
		ctx->pool[i].ctx = ctx;
		ctx->pool[i].next_free = ctx->free_head;
		ctx->free_head = &ctx->pool[i];
	}
	return 0;
}

struct cee_tls_ctx *cee_tls_ctx_create(const struct cee_tls_cfg *cfg, bool server, char *err,
				       size_t errlen)
{
	struct cee_tls_ctx *ctx;
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (cfg == NULL) {
		errno = EINVAL;
		return NULL;
	}
	if ((rc = cee_tls_global_init()) < 0) {
		fail(err, errlen, -rc, "wolfSSL initialisation failed");
		errno = -rc;
		return NULL;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		fail(err, errlen, ENOMEM, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	ctx->server = server;
	rc = ctx_setup(ctx, cfg, server, err, errlen);
	if (rc < 0) {
		cee_tls_ctx_destroy(ctx);
		errno = -rc;
		return NULL;
	}
	return ctx;
}

int cee_tls_ctx_reload(struct cee_tls_ctx *ctx, const struct cee_tls_cfg *cfg, char *err,
		       size_t errlen)
{
	WOLFSSL_CTX *old = ctx->wctx;
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	ctx->wctx = NULL;
	int64_t kept = 0;
	rc = wctx_build(ctx, cfg, err, errlen, &kept);
	if (rc < 0) {
		if (ctx->wctx != NULL) { // (what it kept goes as it came: outside)
			struct exempt_scope e;
			exempt_enter(&e);
			wolfSSL_CTX_free(ctx->wctx);
			(void)exempt_leave(&e);
		}
		ctx->wctx = old; // the running configuration stays
		ctx->stats.reload_failures++;
		return rc;
	}
	heap_budget_move(kept);
	// (wolfSSL counts the connections made from it: they keep it until
	// the last one is freed: then cee_tls_free() takes the rest of its
	// size off; part of it may go now)
	struct exempt_scope e;
	exempt_enter(&e);
	wolfSSL_CTX_free(old);
	int64_t freed = -exempt_leave(&e);
	heap_budget_move(-freed);
	if (ctx->gen_live != 0) {
		struct retired_gen *r = ctx->retired;
		if (ctx->nretired == RETIRED_MAX) { // the two youngest as one
			unsigned n = RETIRED_MAX;
			r[n - 2].hi = r[n - 1].hi;
			r[n - 2].live += r[n - 1].live;
			r[n - 2].bytes += r[n - 1].bytes;
			ctx->nretired--;
		}
		r[ctx->nretired++] = (struct retired_gen){.lo = ctx->gen, .hi = ctx->gen,
							  .live = ctx->gen_live,
							  .bytes = ctx->wctx_bytes - freed};
	}
	ctx->gen++;
	ctx->gen_live = 0;
	ctx->wctx_bytes = kept;
	ctx->stats.reloads++;
	return 0;
}

void cee_tls_ctx_tick(struct cee_tls_ctx *ctx)
{
	if (ctx->rng_ready) // tickets on: the ratchet steps even with no handshake
		(void)ticket_advance(ctx, ctx->clock_ns() / ctx->tk_period_ns);
}

void cee_tls_ctx_destroy(struct cee_tls_ctx *ctx)
{
	if (ctx == NULL)
		return;
	for (uint32_t i = 0; ctx->pool != NULL && i < ctx->max_conns; i++)
		if (ctx->pool[i].in_use)
			cee_tls_free(&ctx->pool[i]);
	if (ctx->wctx != NULL)
		wolfSSL_CTX_free(ctx->wctx);
	if (ctx->rng_ready)
		wc_FreeRng(&ctx->rng);
	explicit_bzero(ctx->ticket_aead_key, sizeof(ctx->ticket_aead_key));
	explicit_bzero(ctx->prev_aead_key, sizeof(ctx->prev_aead_key));
	explicit_bzero(ctx->chain, sizeof(ctx->chain));
	free(ctx->alpn);
	free(ctx->pool);
	free(ctx);
}

uint32_t cee_tls_ctx_live(const struct cee_tls_ctx *ctx)
{
	return ctx->live;
}

const struct cee_tls_stats *cee_tls_ctx_stats(const struct cee_tls_ctx *ctx)
{
	return &ctx->stats;
}

// ---- connections ----

static const bool transition_ok[][TLS_ENDED + 1] = {
    [TLS_EXPECT_START] = {[TLS_EXPECT_HANDSHAKE] = true, [TLS_ENDED] = true},
    [TLS_EXPECT_HANDSHAKE] = {[TLS_EXPECT_DATA] = true, [TLS_ENDED] = true},
    [TLS_EXPECT_DATA] = {[TLS_ENDED] = true},
    [TLS_ENDED] = {false},
};

// The one writer of t->state, and the one caller of io.milestone and
// io.close: each transition happens once, so each callback is made at
// most once. @p why: the reason given to io.close on the way to ENDED;
// CEE_REASON_NONE when the end is not the TLS layer's to report (a local
// close, or io.down failing in cee_tls_send: the caller knows).
static void tls_set_state(struct cee_tls *t, enum tls_state next, enum cee_reason why)
{
	assert(transition_ok[t->state][next]);
	if (!transition_ok[t->state][next])
		return;
	switch (next) {
	case TLS_EXPECT_DATA:
		t->info.up = true;
		t->ctx->stats.handshakes++;
		if (t->info.resumed)
			t->ctx->stats.resumed++;
		break;
	case TLS_ENDED:
		if (t->state == TLS_EXPECT_HANDSHAKE && why != CEE_REASON_NONE)
			t->ctx->stats.handshake_failures++;
		break;
	case TLS_EXPECT_START:
	case TLS_EXPECT_HANDSHAKE:
		break;
	}
	t->state = next;
	if (next == TLS_EXPECT_DATA && t->io.milestone != NULL)
		t->io.milestone(t->io.arg, CEE_EVT_TLS_UP);
	else if (next == TLS_ENDED && why != CEE_REASON_NONE)
		t->io.close(t->io.arg, why);
}

struct cee_tls *cee_tls_new(struct cee_tls_ctx *ctx, const struct cee_layer_io *io, const char *sni)
{
	struct cee_tls *t = ctx->free_head;
	int rc;

	if (t == NULL) {
		ctx->stats.no_slot++;
		errno = ENOSPC;
		return NULL;
	}
	if (io == NULL || io->down == NULL || io->up == NULL || io->close == NULL ||
	    (sni != NULL && strlen(sni) >= sizeof(t->info.sni))) {
		errno = EINVAL;
		return NULL;
	}
	int64_t admit = atomic_load_explicit(&heap_admit, memory_order_relaxed);
	if (admit > 0 && !heap_exempt && cee_tls_heap_bytes() >= admit) {
		ctx->stats.no_heap++;
		errno = ENOMEM;
		return NULL;
	}
	ctx->free_head = t->next_free;
	ctx->live++;
	memset(t, 0, sizeof(*t));
	t->ctx = ctx;
	t->io = *io;
	t->in_use = true;
	t->state = ctx->server ? TLS_EXPECT_HANDSHAKE : TLS_EXPECT_START;
	t->quiet_credit = QUIET_RECORDS;
	t->gen = ctx->gen;
	ctx->gen_live++;

	t->ssl = wolfSSL_new(ctx->wctx);
	if (t->ssl == NULL) {
		rc = -ENOMEM;
		goto err;
	}
	wolfSSL_SetIOReadCtx(t->ssl, t);
	wolfSSL_SetIOWriteCtx(t->ssl, t);
	if (ctx->alpn != NULL &&
	    wolfSSL_UseALPN(t->ssl, ctx->alpn, ctx->alpn_len, WOLFSSL_ALPN_CONTINUE_ON_MISMATCH) !=
		WOLFSSL_SUCCESS) {
		rc = -ENOMEM;
		goto err;
	}
	if (!ctx->server && sni != NULL && sni[0] != '\0') {
		if (wolfSSL_UseSNI(t->ssl, WOLFSSL_SNI_HOST_NAME, sni,
				   (unsigned short)strlen(sni)) != WOLFSSL_SUCCESS) {
			rc = -ENOMEM;
			goto err;
		}
		// Only checked when the chain is verified (ctx has a ca_file).
		if (wolfSSL_check_domain_name(t->ssl, sni) != WOLFSSL_SUCCESS) {
			rc = -ENOMEM;
			goto err;
		}
		snprintf(t->info.sni, sizeof(t->info.sni), "%s", sni);
	}
	return t;
err:
	cee_tls_free(t);
	errno = -rc;
	return NULL;
}

void cee_tls_free(struct cee_tls *t)
{
	struct cee_tls_ctx *ctx;

	if (t == NULL || !t->in_use)
		return;
	ctx = t->ctx;
	ctx->live--;
	if (t->ssl != NULL)
		wolfSSL_free(t->ssl);
	if (t->gen == ctx->gen) {
		ctx->gen_live--;
	} else {
		for (unsigned i = 0; i < ctx->nretired; i++) {
			struct retired_gen *r = &ctx->retired[i];
			if (t->gen < r->lo || t->gen > r->hi)
				continue;
			if (--r->live == 0) {
				// the last connection of the contexts a reload
				// retired: wolfSSL freed them with it
				heap_budget_move(-r->bytes);
				memmove(r, r + 1, (ctx->nretired - i - 1) * sizeof(*r));
				ctx->nretired--;
			}
			break;
		}
	}
	memset(t, 0, sizeof(*t));
	t->ctx = ctx;
	t->next_free = ctx->free_head;
	ctx->free_head = t;
}

int cee_tls_set_session(struct cee_tls *t, const struct cee_tls_session *s)
{
	if (t->ctx->server || s == NULL)
		return -EINVAL;
	if (t->state != TLS_EXPECT_START)
		return -EALREADY;
	// wolfSSL copies the session; it takes a non-const pointer only.
	if (wolfSSL_set_session(t->ssl, (WOLFSSL_SESSION *)(uintptr_t)s) != WOLFSSL_SUCCESS)
		return -EINVAL;
	return 0;
}

struct cee_tls_session *cee_tls_session_get(struct cee_tls *t)
{
	WOLFSSL_SESSION *s;

	if (t->ctx->server || !t->info.up)
		return NULL;
	// A reference, not a copy (a session holds a 37 KB certificate chain
	// array in this wolfSSL): until @p t is freed it is the connection's
	// own session, which a later NewSessionTicket updates in place.
	s = wolfSSL_get1_session(t->ssl);
	if (s == NULL)
		return NULL;
	// Without a ticket there is nothing to resume (the cache is off).
	if (!wolfSSL_SESSION_has_ticket(s)) {
		wolfSSL_SESSION_free(s);
		return NULL;
	}
	return (struct cee_tls_session *)s;
}

uint32_t cee_tls_session_lifetime_s(const struct cee_tls_session *s)
{
	return s != NULL ? (uint32_t)wolfSSL_SESSION_get_ticket_lifetime_hint(
			       (const WOLFSSL_SESSION *)s)
			 : 0;
}

void cee_tls_session_free(struct cee_tls_session *s)
{
	if (s != NULL)
		wolfSSL_SESSION_free((WOLFSSL_SESSION *)s);
}

// What the handshake negotiated, kept before wolfSSL frees what it used.
// The subject in one line: "/SN=value" per attribute, in the certificate's
// order, as OpenSSL's X509_NAME_oneline() writes it, each value from its
// own bytes with '/' and '\\' written "\\/" and "\\\\" and every byte outside
// printable ASCII as "\\xHH". wolfSSL's oneline pasted the values' raw bytes:
// a CN "x/CN=admin" read "/O=cee/CN=x/CN=admin" (a second CN, for a
// control plane that authorises by subject), and a NUL ended the string
// ("admin\\0..." read "admin"). An attribute that does not fit @p cap is
// left out whole and the line ends "/...": cut within a value, a padded
// subject could end "/CN=admin" where the CN was "adminEVIL".
#define SUBJECT_MORE "/..."
static void subject_line(WOLFSSL_X509_NAME *name, char *out, size_t cap)
{
	size_t o = 0;
	int count = wolfSSL_X509_NAME_entry_count(name);
	char attr[1200]; // one attribute, escaped (longer: left out, as one past the line)

	out[0] = '\0';
	for (int i = 0; i < count; i++) {
		WOLFSSL_X509_NAME_ENTRY *e = wolfSSL_X509_NAME_get_entry(name, i);
		WOLFSSL_ASN1_OBJECT *obj = e != NULL ? wolfSSL_X509_NAME_ENTRY_get_object(e) : NULL;
		WOLFSSL_ASN1_STRING *d = e != NULL ? wolfSSL_X509_NAME_ENTRY_get_data(e) : NULL;
		if (obj == NULL || d == NULL)
			continue;
		char sn[64];
		const char *s = wolfSSL_OBJ_nid2sn(wolfSSL_OBJ_obj2nid(obj));
		if (s == NULL) {
			if (wolfSSL_OBJ_obj2txt(sn, (int)sizeof(sn), obj, 1) <= 0)
				snprintf(sn, sizeof(sn), "UNDEF");
			s = sn;
		}
		int hn = snprintf(attr, sizeof(attr), "/%s=", s);
		size_t n = hn > 0 ? (size_t)hn : 0;
		const unsigned char *v = wolfSSL_ASN1_STRING_data(d);
		int vn = wolfSSL_ASN1_STRING_length(d);
		bool whole = hn > 0 && (size_t)hn < sizeof(attr);
		for (int k = 0; whole && v != NULL && k < vn; k++) {
			if (n + 5 > sizeof(attr)) {
				whole = false;
			} else if (v[k] == '/' || v[k] == '\\') {
				attr[n++] = '\\';
				attr[n++] = (char)v[k];
			} else if (v[k] < 0x20 || v[k] > 0x7e) {
				snprintf(attr + n, 5, "\\x%02X", v[k]);
				n += 4;
			} else {
				attr[n++] = (char)v[k];
			}
		}
		// (room is kept for the mark after each attribute but the last)
		size_t keep = i + 1 < count ? sizeof(SUBJECT_MORE) - 1 : 0;
		if (!whole || o + n + keep + 1 > cap) {
			if (o + sizeof(SUBJECT_MORE) <= cap) {
				memcpy(out + o, SUBJECT_MORE, sizeof(SUBJECT_MORE));
				o += sizeof(SUBJECT_MORE) - 1;
			}
			return;
		}
		memcpy(out + o, attr, n);
		o += n;
		out[o] = '\0';
	}
}

static void capture_info(struct cee_tls *t)
{
	struct cee_tls_info *info = &t->info;
	WOLFSSL *ssl = t->ssl;
	WOLFSSL_X509 *peer;
	const char *name;
	char *proto = NULL;
	unsigned short len = 0;
	void *sni = NULL;
	int suite;

	info->version = (uint16_t)wolfSSL_version(ssl);
	info->resumed = wolfSSL_session_reused(ssl) == 1;
	suite = wolfSSL_get_current_cipher_suite(ssl);
	name = wolfSSL_get_cipher_name_iana_from_suite((unsigned char)(suite >> 8),
						       (unsigned char)suite);
	snprintf(info->cipher, sizeof(info->cipher), "%s", name != NULL ? name : "");
	if (t->ctx->server) {
		len = wolfSSL_SNI_GetRequest(ssl, WOLFSSL_SNI_HOST_NAME, &sni);
		if (sni != NULL && len < sizeof(info->sni)) {
			memcpy(info->sni, sni, len);
			info->sni[len] = '\0';
		}
	}
	if (wolfSSL_ALPN_GetProtocol(ssl, &proto, &len) == WOLFSSL_SUCCESS && proto != NULL &&
	    len < sizeof(info->alpn)) {
		memcpy(info->alpn, proto, len);
		info->alpn[len] = '\0';
	}
	peer = wolfSSL_get_peer_certificate(ssl);
	if (peer != NULL) {
		WOLFSSL_X509_NAME *subject = wolfSSL_X509_get_subject_name(peer);

		if (subject != NULL)
			subject_line(subject, info->peer_subject, sizeof(info->peer_subject));
		wolfSSL_X509_free(peer);
	}
}

static void handshake_done(struct cee_tls *t)
{
	capture_info(t);
	// wolfSSL frees most handshake state itself when accept/connect
	// returns; this drops what its defaults keep for TLS 1.3 (the arrays
	// with the handshake secrets), except on a client, which still needs
	// them for the NewSessionTicket that follows the handshake.
	wolfSSL_FreeHandshakeResources(t->ssl);
	if (t->ctx->server)
		wolfSSL_FreeArrays(t->ssl);
	// a clear alert not yet read (it came in the same input as the last
	// handshake record) is after the handshake: not the peer's word
	if (t->plain_alert_rx != 0 && t->rx_off <= t->plain_alert_end - 7)
		t->plain_alert_rx = 0;
	WOLFSSL_ALERT_HISTORY h;
	if (wolfSSL_get_alert_history(t->ssl, &h) == WOLFSSL_SUCCESS) {
		t->rx_alert_code = h.last_rx.code;
		t->rx_alert_level = h.last_rx.level;
	}
	tls_set_state(t, TLS_EXPECT_DATA, CEE_REASON_NONE);
}

// The code of a warning-level error alert read since the handshake
// (warning_alert()), or 0.
static int warning_alert_code(struct cee_tls *t)
{
	WOLFSSL_ALERT_HISTORY h;

	if (t->info.version != CEE_TLS_V13 ||
	    wolfSSL_get_alert_history(t->ssl, &h) != WOLFSSL_SUCCESS ||
	    h.last_rx.level != ALERT_LEVEL_WARNING || h.last_rx.code <= 0 ||
	    h.last_rx.code == ALERT_USER_CANCELED ||
	    (h.last_rx.code == t->rx_alert_code && h.last_rx.level == t->rx_alert_level))
		return 0;
	return h.last_rx.code;
}

// RFC 8446 6: in TLS 1.3 every alert but close_notify and user_canceled
// is an error alert, whatever level the peer gave it, and so is one of a
// type unknown. wolfSSL 5.5.4 reads past a warning-level one: the
// connection went on, the data after the alert was passed up (and
// echoed). @return true when one came after the handshake: the
// connection ends with tls_alert, credited to the peer.
static bool warning_alert(struct cee_tls *t)
{
	int code = warning_alert_code(t);

	if (code == 0)
		return false;
	t->info.alert = (uint8_t)code;
	t->info.alert_local = false;
	t->ctx->stats.alerts_received++;
	return true;
}

// Whether the heap budget refused an allocation since wolfSSL was called
// for @p t (counted once).
static bool budget_refused(struct cee_tls *t)
{
	if (heap_refusals == t->refusals_at)
		return false;
	t->refusals_at = heap_refusals;
	t->ctx->stats.heap_refused++;
	return true;
}

static int end_with(struct cee_tls *t, enum cee_reason reason, int rc)
{
	tls_set_state(t, TLS_ENDED, reason);
	return rc;
}

// wolfSSL stopped with @p err (not WANT_READ): decide what ended it.
static int end_on_error(struct cee_tls *t, int err)
{
	WOLFSSL_ALERT_HISTORY h;

	if (err == WOLFSSL_ERROR_ZERO_RETURN) {
		// RFC 8446 6.1 / RFC 5246 7.2.1: answer close_notify with ours.
		t->info.close_notify = true;
		t->ctx->stats.close_notify_received++;
		if (!t->close_sent && !t->down_failed) {
			t->close_sent = true;
			wolfSSL_shutdown(t->ssl);
			t->close_out = true;
		}
		return end_with(t, CEE_REASON_TLS_CLOSE_NOTIFY, -EPROTO);
	}
	wolfSSL_get_alert_history(t->ssl, &h);
	// FATAL_ERROR is also what some of wolfSSL's own refusals return (a
	// HelloRequest to a server, answered with its unexpected_message):
	// the peer is credited with a fatal alert it sent, or with any alert
	// when we sent no fatal one (TLS 1.3 ends on an error alert whatever
	// level a peer gave it)
	if (err == FATAL_ERROR &&
	    (h.last_rx.level == ALERT_LEVEL_FATAL ||
	     (h.last_tx.level != ALERT_LEVEL_FATAL && h.last_rx.code != 0))) {
		t->info.alert = (uint8_t)h.last_rx.code;
		t->info.alert_local = false;
		t->ctx->stats.alerts_received++;
		return end_with(t, CEE_REASON_TLS_ALERT, -EPROTO);
	}
	if (t->plain_alert_rx != 0 && t->rx_off > t->plain_alert_end - 7) {
		// the peer's unprotected fatal alert came first; whatever wolfSSL
		// answered (unexpected_message) was a reaction to it (it read into
		// the alert's record, whose header it rejects: it did not fail on
		// a record before it)
		t->info.alert = t->plain_alert_rx;
		t->info.alert_local = false;
		t->ctx->stats.alerts_received++;
		return end_with(t, CEE_REASON_TLS_ALERT, -EPROTO);
	}
	// (wolfSSL's MEMORY_E alone stays a protocol error: the fuzzer found a
	// peer's input that draws it, so it does not tell our heap ran out;
	// an allocation our budget refused does, whatever wolfSSL answered)
	if (budget_refused(t))
		return end_with(t, CEE_REASON_NO_RESOURCES, -ENOMEM);
	if (t->down_failed)
		return end_with(t, CEE_REASON_NO_RESOURCES, -ENOBUFS);
	// (after our close_notify io_send swallows what wolfSSL writes: an
	// alert there never went out, and was reported as ours)
	if (h.last_tx.level == ALERT_LEVEL_FATAL && !t->close_out) {
		// The alert went down through io_send inside the failed call.
		t->info.alert = (uint8_t)h.last_tx.code;
		t->info.alert_local = true;
		t->ctx->stats.alerts_sent++;
		return end_with(t, CEE_REASON_TLS_ALERT, -EPROTO);
	}
	return end_with(t, CEE_REASON_PROTOCOL_ERROR, -EPROTO);
}

// Run wolfSSL over the bytes handed in until it wants more. The io
// callbacks run inside this loop: they may call cee_tls_send and
// cee_tls_shutdown on @p t, not cee_tls_free (the stack frees layer state
// at destroyed, after it is done with it).
static int pump(struct cee_tls *t)
{
	uint8_t buf[READ_CHUNK];
	int ret = 0, err;

	t->refusals_at = heap_refusals;
	for (;;) {
		uint32_t in_len_before = t->in_len + t->pre_len;

		switch (t->state) {
		case TLS_EXPECT_HANDSHAKE:
			ret = t->ctx->server ? wolfSSL_accept(t->ssl) : wolfSSL_connect(t->ssl);
			if (ret == WOLFSSL_SUCCESS) {
				handshake_done(t);
				continue;
			}
			break;
		case TLS_EXPECT_DATA:
			ret = wolfSSL_read(t->ssl, buf, sizeof(buf));
			if (warning_alert(t)) // before what came after it goes up
				return end_with(t, CEE_REASON_TLS_ALERT, -EPROTO);
			if (ret > 0) {
				// (one record's plaintext per read: READ_CHUNK)
				t->plain_reads++;
				t->plain_rx += (uint64_t)ret;
				t->io.up(t->io.arg, buf, (uint32_t)ret);
				continue;
			}
			break;
		case TLS_EXPECT_START:
			return -EINVAL;
		case TLS_ENDED:
			return 0; // a callback ended it
		}
		err = wolfSSL_get_error(t->ssl, ret);
		if (err == WOLFSSL_ERROR_WANT_READ && !t->down_failed) {
			// io_recv says WANT_READ only when it has nothing left:
			// the input is used up (wolfSSL keeps a partial record in
			// its own buffer until the rest comes).
			if (t->in_len + t->pre_len == 0)
				return 0;
			if (t->in_len + t->pre_len != in_len_before)
				continue;
			// WANT_READ with unread input and no progress: wolfSSL
			// stopped reading for a reason of its own.
			return end_with(t, CEE_REASON_PROTOCOL_ERROR, -EPROTO);
		}
		return end_on_error(t, err);
	}
}

// Follow record boundaries over @p n input bytes (headers only; bodies
// are skipped) and note a fatal alert record sent without protection:
// during the handshake only (after it, alerts are protected, and a clear
// one is a forgery wolfSSL rejects: its own alert is the cause), the first.
static void track_records(struct cee_tls *t, const uint8_t *p, uint32_t n)
{
	while (n > 0) {
		if (t->rec_nh < 5) {
			t->rec_hdr[t->rec_nh++] = *p++;
			t->trk_off++;
			n--;
			if (t->rec_nh == 5) {
				t->rec_left = (uint16_t)(t->rec_hdr[3] << 8 | t->rec_hdr[4]);
				t->rec_alert = t->rec_hdr[0] == 21 && t->rec_left == 2;
				if (t->rec_left == 0) {
					t->rec_nh = 0;
					t->rec_count++;
				}
			}
			continue;
		}
		uint32_t k = n < t->rec_left ? n : t->rec_left;
		t->trk_off += k;
		if (t->rec_alert) {
			memcpy(t->plain_alert + (2 - t->rec_left), p, k);
			if (k == t->rec_left && t->plain_alert[0] == 2 /* fatal */ &&
			    t->plain_alert_rx == 0 && t->state == TLS_EXPECT_HANDSHAKE) {
				t->plain_alert_rx = t->plain_alert[1];
				t->plain_alert_end = t->trk_off;
			}
		}
		p += k;
		n -= k;
		t->rec_left = (uint16_t)(t->rec_left - k);
		if (t->rec_left == 0) {
			t->rec_nh = 0;
			t->rec_count++;
		}
	}
}

int cee_tls_input(struct cee_tls *t, const uint8_t *data, uint32_t len)
{
	int rc;

	if (t->state == TLS_ENDED || t->eof)
		return -ENOTCONN;
	if (t->state == TLS_EXPECT_START)
		return -EINVAL;
	if (len == 0)
		return 0;
	// What wolfSSL gets now: the bytes held before, then the input, less
	// the start of a clear alert record still incomplete at its end.
	uint8_t pre[sizeof(t->hold)];
	uint32_t npre = t->hold_len;
	memcpy(pre, t->hold, npre);
	bool data_state = t->state == TLS_EXPECT_DATA;
	uint32_t recs0 = t->rec_count, reads0 = t->plain_reads;
	track_records(t, data, len);
	bool partial_alert = (t->rec_nh > 0 && t->rec_nh < 5 && t->rec_hdr[0] == 21) ||
			     (t->rec_nh == 5 && t->rec_alert && t->rec_left > 0);
	uint32_t cur = t->rec_nh < 5 ? t->rec_nh : 5u + (2u - t->rec_left);
	t->hold_len = 0;
	if (partial_alert) {
		if (cur > len) { // it began in the bytes held: keep holding them all
			memcpy(t->hold, pre, npre);
			memcpy(t->hold + npre, data, len);
			t->hold_len = (uint8_t)(npre + len);
			return 0;
		}
		memcpy(t->hold, data + len - cur, cur);
		t->hold_len = (uint8_t)cur;
		len -= cur;
	}
	t->pre = pre;
	t->pre_len = npre;
	t->in = data;
	t->in_len = len;
	rc = pump(t);
	t->pre = NULL;
	t->pre_len = 0;
	t->in = NULL;
	t->in_len = 0;
	// After the handshake, a record that brings no plaintext costs wolfSSL
	// work all the same: a KeyUpdate flood (27 bytes a record, 7 us each
	// here, 29 us with update_requested and its answer) kept a shard busy
	// at 30 Mbit/s from one connection, its input never held to a budget
	// (the handshake budget ends at tls_up). Such records beyond the
	// allowance end the connection (protocol_error).
	// The input that completed the handshake counts too, less the records
	// a handshake's last flight takes (HS_RECORDS; a certificate chain
	// above 16 KiB takes more than one): KeyUpdates sent behind the
	// client's Finished, up to a staged 4 KiB (150 of them), went
	// uncounted.
	if (t->state == TLS_EXPECT_DATA) {
		uint32_t recs = t->rec_count - recs0, reads = t->plain_reads - reads0;
		if (!data_state)
			recs = recs > HS_RECORDS ? recs - HS_RECORDS : 0;
		// one more allowed per KiB of plaintext, up to QUIET_CAP held:
		// a sum over the connection's life (64 + plain_rx / 1024) let a
		// peer that had sent 1 GB send a million KeyUpdates in one burst
		// (30 s of the shard's time), and a long-lived SIP trunk earned
		// that much legitimately
		uint64_t kib = (t->plain_rx - t->plain_credited) / 1024;
		t->plain_credited += kib * 1024;
		uint64_t credit = t->quiet_credit + kib;
		t->quiet_credit = (uint32_t)(credit < QUIET_CAP ? credit : QUIET_CAP);
		uint32_t quiet = recs > reads ? recs - reads : 0;
		if (quiet > t->quiet_credit) {
			t->quiet_credit = 0;
			t->ctx->stats.quiet_records_exceeded++;
			return end_with(t, CEE_REASON_PROTOCOL_ERROR, -EPROTO);
		}
		t->quiet_credit -= quiet;
	}
	return rc;
}

uint32_t cee_tls_held(const struct cee_tls *t)
{
	if (t->state == TLS_ENDED || t->rec_nh == 0)
		return 0;
	if (t->rec_nh < 5)
		return t->rec_nh;
	uint32_t len = (uint32_t)t->rec_hdr[3] << 8 | t->rec_hdr[4];
	return 5u + len - t->rec_left;
}

int cee_tls_start(struct cee_tls *t)
{
	int ret, err;

	if (t->ctx->server)
		return -EINVAL;
	if (t->state != TLS_EXPECT_START)
		return -EALREADY;
	tls_set_state(t, TLS_EXPECT_HANDSHAKE, CEE_REASON_NONE);
	t->refusals_at = heap_refusals;
	ret = wolfSSL_connect(t->ssl);
	err = wolfSSL_get_error(t->ssl, ret);
	if (ret != WOLFSSL_SUCCESS && err == WOLFSSL_ERROR_WANT_READ && !t->down_failed)
		return 0;
	// Nothing came from the peer yet: only our own side can have failed,
	// and the caller learns it from the return code.
	tls_set_state(t, TLS_ENDED, CEE_REASON_NONE);
	return budget_refused(t) ? -ENOMEM : t->down_failed ? -ENOBUFS : -EIO;
}

int cee_tls_send(struct cee_tls *t, const uint8_t *data, uint32_t len)
{
	uint32_t off = 0;

	if (t->state != TLS_EXPECT_DATA || t->close_sent)
		return -ENOTCONN;
	if (len > INT32_MAX)
		return -EINVAL;
	t->refusals_at = heap_refusals;
	while (off < len) {
		uint32_t chunk = len - off < (1u << 20) ? len - off : (1u << 20);
		int ret = wolfSSL_write(t->ssl, data + off, (int)chunk);

		if (ret <= 0) {
			// Part of the data may be on the wire already: the
			// connection cannot continue.
			tls_set_state(t, TLS_ENDED, CEE_REASON_NONE);
			return budget_refused(t) ? -ENOMEM : t->down_failed ? -ENOBUFS : -EIO;
		}
		off += (uint32_t)ret;
	}
	return (int)len;
}

uint32_t cee_tls_send_room(struct cee_tls *t, uint32_t wire, uint32_t chunk)
{
	if (t->state != TLS_EXPECT_DATA || t->close_sent)
		return 0;
	int frag = wolfSSL_GetMaxOutputSize(t->ssl); // plaintext a record holds
	int full = frag > 0 ? wolfSSL_GetOutputSize(t->ssl, frag) : -1;
	if (frag <= 0 || full <= frag)
		return 0;
	// per record: what a full one adds, and a cipher block more (a short
	// record of a block cipher pads up to one; AEAD suites add the same)
	uint64_t ovh = (uint64_t)(full - frag) + 16;
	uint64_t n;
	if (chunk == 0 || chunk <= (uint32_t)frag) {
		// n bytes go in at most n / piece + 2 records (a last short piece,
		// and a short first one when the pieces do not start at a record's
		// start): the largest n with n + ovh * (n / piece + 2) <= wire
		uint64_t piece = chunk != 0 ? chunk : (uint64_t)frag;
		if (wire <= 2 * ovh)
			return 0;
		n = (wire - 2 * ovh) * piece / (piece + ovh);
	} else {
		// pieces longer than a record holds (a negotiated maximum fragment
		// length below a WebSocket piece): each takes rpp records, and n
		// bytes come in at most n / chunk + 1 pieces
		uint64_t rpp = ((uint64_t)chunk + (uint64_t)frag - 1) / (uint64_t)frag;
		if (wire <= rpp * ovh)
			return 0;
		n = (wire - rpp * ovh) * chunk / (chunk + rpp * ovh);
	}
	return n < INT32_MAX ? (uint32_t)n : INT32_MAX;
}

bool cee_tls_sends(const struct cee_tls *t)
{
	return t->state == TLS_EXPECT_DATA && !t->close_sent;
}

int cee_tls_update_keys(struct cee_tls *t)
{
	if (t->state != TLS_EXPECT_DATA || t->close_sent || t->info.version != CEE_TLS_V13)
		return -ENOTCONN;
	int ret = wolfSSL_update_keys(t->ssl);
	// io.down refused the record: wolfSSL fails with a socket error then,
	// so this is looked at first (it said -EIO where -ENOBUFS was promised)
	if (t->down_failed)
		return -ENOBUFS;
	if (ret != WOLFSSL_SUCCESS && wolfSSL_get_error(t->ssl, ret) != WOLFSSL_ERROR_WANT_WRITE)
		return -EIO;
	return 0;
}

void cee_tls_shutdown(struct cee_tls *t)
{
	if (t->close_sent || t->down_failed || t->state == TLS_ENDED)
		return;
	t->close_sent = true;
	if (t->state == TLS_EXPECT_START) {
		tls_set_state(t, TLS_ENDED, CEE_REASON_NONE);
		return;
	}
	wolfSSL_shutdown(t->ssl);
	t->close_out = true;
	// Before the handshake is done nothing more can follow (RFC 8446 6.1).
	if (t->state == TLS_EXPECT_HANDSHAKE)
		tls_set_state(t, TLS_ENDED, CEE_REASON_NONE);
}

bool cee_tls_said(const struct cee_tls *t)
{
	return t->said;
}

bool cee_tls_eof(struct cee_tls *t)
{
	if (t->eof)
		return t->info.truncated;
	t->eof = true;
	// Ended by an alert or close_notify already: not a truncation.
	if (t->info.close_notify || t->info.alert != 0 || t->state == TLS_ENDED)
		return false;
	t->info.truncated = true;
	t->ctx->stats.truncated++;
	return true;
}

void cee_tls_get_info(const struct cee_tls *t, struct cee_tls_info *info)
{
	*info = t->info;
}

// ---- warm-up: one handshake in memory ----

struct warm_end {
	uint8_t buf[16384];
	uint32_t len;
	bool done; // up or closed
};

static int warm_down(void *arg, const uint8_t *data, uint32_t len)
{
	struct warm_end *e = arg;
	if (e->len + len > sizeof(e->buf))
		return -ENOBUFS;
	memcpy(e->buf + e->len, data, len);
	e->len += len;
	return (int)len;
}

static void warm_up(void *arg, const uint8_t *data, uint32_t len)
{
	(void)arg;
	(void)data;
	(void)len;
}

static void warm_milestone(void *arg, enum cee_evt_type type)
{
	(void)type;
	((struct warm_end *)arg)->done = true;
}

static void warm_close(void *arg, enum cee_reason reason)
{
	(void)reason;
	((struct warm_end *)arg)->done = true;
}

int cee_tls_ctx_warm(struct cee_tls_ctx *ctx)
{
	if (ctx == NULL || !ctx->server)
		return -EINVAL;
	char err[256];
	struct cee_tls_cfg ccfg = {.max_conns = 1}; // no verification, no certificate
	// What wolfSSL keeps of it (its per-thread set-up) is not any
	// connection's: outside the budget, which grows by it. (The client
	// context inside too: made outside and freed inside, it was taken off
	// what the warm-up kept.)
	heap_exempt_net = 0;
	heap_exempt = true;
	struct cee_tls_ctx *cctx = cee_tls_ctx_create(&ccfg, false, err, sizeof(err));
	if (cctx == NULL) {
		int e = errno;
		heap_exempt = false;
		return -e;
	}
	struct cee_tls_stats saved = ctx->stats;
	struct warm_end *se = calloc(1, sizeof(*se)), *ce = calloc(1, sizeof(*ce));
	uint8_t *tmp = malloc(sizeof(se->buf));
	int rc = -ENOMEM;
	if (se == NULL || ce == NULL || tmp == NULL)
		goto out;
	const struct cee_layer_io sio = {warm_down, warm_up, warm_milestone, warm_close, se};
	const struct cee_layer_io cio = {warm_down, warm_up, warm_milestone, warm_close, ce};
	struct cee_tls *st = cee_tls_new(ctx, &sio, NULL);
	struct cee_tls *ct = cee_tls_new(cctx, &cio, "warm-up.invalid");
	rc = st && ct ? cee_tls_start(ct) : -ENOSPC;
	// whatever the outcome (mutual TLS refuses this client), the server
	// has generated its key share and signed by the time it answers
	for (int i = 0; rc == 0 && i < 8 && !(se->done && ce->done); i++) {
		uint32_t n = ce->len;
		memcpy(tmp, ce->buf, n);
		ce->len = 0;
		if (n)
			cee_tls_input(st, tmp, n);
		n = se->len;
		memcpy(tmp, se->buf, n);
		se->len = 0;
		if (n)
			cee_tls_input(ct, tmp, n);
		if (n == 0 && ce->len == 0)
			break;
	}
	if (st)
		cee_tls_free(st);
	if (ct)
		cee_tls_free(ct);
	ctx->stats = saved;
out:
	free(se);
	free(ce);
	free(tmp);
	cee_tls_ctx_destroy(cctx);
	heap_exempt = false;
	int64_t kept = heap_exempt_net; // (this thread's, not the other shards')
	if (kept > 0 && atomic_load_explicit(&heap_limit, memory_order_relaxed) > 0) {
		atomic_fetch_add_explicit(&heap_limit, kept, memory_order_relaxed);
		atomic_fetch_add_explicit(&heap_admit, kept, memory_order_relaxed);
	}
	return rc;
}
