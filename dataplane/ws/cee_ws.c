/* SPDX-License-Identifier: BSD-3-Clause */
// WebSocket (RFC 6455) as a sans-I/O layer (cee_ws.h). A context and its
// connections are used by one thread (its shard). All memory is taken in
// cee_ws_ctx_create(): a pool of connections and a pool of buffers. A
// connection holds a buffer only while an upgrade request (or, client
// side, the request to send and the 101) or a message or control frame is
// incomplete across inputs; a whole masked frame is unmasked into the
// context's scratch area, so an idle connection holds none.

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sys/random.h>

#include "cee_ws.h"
#include "../cee_siphash.h"

enum {
	OP_CONT = 0x0,
	OP_TEXT = 0x1,
	OP_BINARY = 0x2,
	OP_CLOSE = 0x8,
	OP_PING = 0x9,
	OP_PONG = 0xa,
	HDR_MAX = 14,	  // 2 + 8 (64-bit length) + 4 (mask), RFC 6455 5.2
	CTL_MAX = 125,	  // control frame payload, RFC 6455 5.5
	REASON_MAX = 123, // close reason: CTL_MAX less the code
	BUF_EXTRA = 128,  // per buffer: control payload area / client prefix
	KEY_B64 = 24,	  // base64 of 16 bytes
	SUB_MAX = 32,	  // sizeof(info.subprotocol)
};

// Header and payload up to this many bytes go down in one io.down call.
#define CEE_WS_SEND_COALESCE (CEE_WS_SEND_PIECE - CEE_WS_FRAME_HDR_MAX)
_Static_assert(HDR_MAX == CEE_WS_FRAME_HDR_MAX, "cee_ws.h says the header's most");

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"; // RFC 6455 1.3

struct cee_ws_ctx {
	struct cee_ws_cfg cfg; // strings point into the copies below
	char *path, *subprotocol, *origins;
	struct cee_ws_stats stats;
	struct cee_ws *pool; // max_conns slots, never moves
	struct cee_ws *free_head;
	uint8_t *buf_mem;   // nbufs * buf_size, never moves
	uint8_t **buf_free; // stack of free buffers
	uint32_t nbufs, nfree, buf_size;
	// the connections holding a buffer, in the order they took it (so by
	// age: buf_since_ns): the oldest is the first taken back (buf_reclaim)
	struct cee_ws *hold_head, *hold_tail;
	uint8_t *scratch;  // a whole masked frame, unmasked (max_frame bytes)
	bool scratch_busy; // in use by a message being delivered
	// client keys and masks: SipHash-2-4 of a counter under a random key
	// (RFC 6455 10.3: masks MUST be unpredictable; an xorshift64* whose
	// output the Sec-WebSocket-Key showed gave away every later mask)
	struct cee_siphash_key rng_key;
	uint64_t rng;
};

// What the connection waits on; ws_set_state() is the only writer.
enum ws_state {
	WS_EXPECT_START,    // client: cee_ws_start() not called yet
	WS_EXPECT_REQUEST,  // server: the upgrade request
	WS_EXPECT_RESPONSE, // client: the server's 101
	WS_EXPECT_FRAMES,   // up
	WS_EXPECT_CLOSE,    // our Close went down: the peer's Close
	WS_ENDED,	    // io.close called, or ended from above or below
};

// How the payload of the current frame is taken.
enum ws_payload {
	PAY_DATA,    // text/binary/continuation: to the message
	PAY_CONTROL, // close/ping/pong: whole, then acted on
	PAY_DISCARD, // data after our Close: skipped
};

// Incremental UTF-8 check (RFC 3629 table 4.1): the bytes still due in
// the current character and the range of the next one.
struct utf8 {
	uint8_t need, lo, hi;
};

struct cee_ws {
	struct cee_ws_ctx *ctx;
	struct cee_layer_io io;
	uint8_t *buf;	  // from ctx's pool, or NULL
	uint32_t buf_len; // upgrade bytes in buf + BUF_EXTRA / control bytes
	uint32_t msg_len; // bytes of the message so far (in buf)
	// Frame being parsed: the header inline until complete.
	uint64_t left; // payload bytes still to come
	uint32_t got;  // payload bytes seen (mask offset, control payload)
	uint8_t hdr[HDR_MAX];
	uint8_t hdr_len;
	uint8_t mask[4];
	uint8_t op;
	uint8_t msg_op; // OP_TEXT/OP_BINARY while a message is open, else 0
	struct utf8 u8;
	bool fin, masked, in_payload;
	uint8_t payload; // enum ws_payload
	uint8_t state;	 // enum ws_state
	bool client;
	bool in_use;
	bool up_text; // during io.up
	bool in_up;
	bool ping_outstanding;
	bool pong_due; // our last Ping's Pong not seen (cee_ws_answer_owed())
	bool close_timed_out; // no answer to our Close within the close timeout
	uint64_t ping_sent_ns; // our last Ping
	bool pong_owed; // a ping of this input not answered yet: pong[] (flush_pong())
	uint8_t pong_len;
	uint8_t pong[CTL_MAX];
	bool eof;
	bool req_seen; // server: a byte of the upgrade request came
	bool below_gone; // cee_ws_below_gone(): its stream is closing under it
	// FRAMES: last input from the peer, or our ping when one is
	// outstanding; CLOSE: our Close.
	uint64_t t_ref;
	uint64_t now_in;       // the time of the input (or start) being handled
	uint64_t buf_since_ns; // when the buffer held was taken
	struct cee_ws *hold_prev, *hold_next; // ctx's holders, while buf != NULL
	struct cee_ws_info info;
	struct cee_ws *next_free;
};

// ---- SHA-1 (FIPS 180-4) and base64 (RFC 4648), for the handshake only ----

struct sha1 {
	uint32_t h[5];
	uint64_t len;
	uint8_t blk[64];
	uint32_t n;
};

static uint32_t rol(uint32_t x, int k)
{
	return x << k | x >> (32 - k);
}

static void sha1_block(struct sha1 *s, const uint8_t *p)
{
	uint32_t w[80], a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4];

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 80; i++)
		w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	for (int i = 0; i < 80; i++) {
		uint32_t f, k, t;

		if (i < 20) {
			f = (b & c) | (~b & d);
			k = 0x5a827999;
		} else if (i < 40) {
			f = b ^ c ^ d;
			k = 0x6ed9eba1;
		} else if (i < 60) {
			f = (b & c) | (b & d) | (c & d);
			k = 0x8f1bbcdc;
		} else {
			f = b ^ c ^ d;
			k = 0xca62c1d6;
		}
		t = rol(a, 5) + f + e + k + w[i];
		e = d;
		d = c;
		c = rol(b, 30);
		b = a;
		a = t;
	}
	s->h[0] += a;
	s->h[1] += b;
	s->h[2] += c;
	s->h[3] += d;
	s->h[4] += e;
}

static void sha1_init(struct sha1 *s)
{
	*s = (struct sha1){.h = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0}};
}

static void sha1_update(struct sha1 *s, const void *data, size_t n)
{
	const uint8_t *p = data;

	s->len += n;
	while (n > 0) {
		uint32_t k = 64 - s->n < n ? 64 - s->n : (uint32_t)n;

		memcpy(s->blk + s->n, p, k);
		s->n += k;
		p += k;
		n -= k;
		if (s->n == 64) {
			sha1_block(s, s->blk);
			s->n = 0;
		}
	}
}

static void sha1_final(struct sha1 *s, uint8_t out[20])
{
	uint64_t bits = s->len * 8;
	uint8_t pad = 0x80, zero = 0, be[8];

	sha1_update(s, &pad, 1);
	while (s->n != 56)
		sha1_update(s, &zero, 1);
	for (int i = 0; i < 8; i++)
		be[i] = (uint8_t)(bits >> (56 - 8 * i));
	sha1_update(s, be, 8);
	for (int i = 0; i < 20; i++)
		out[i] = (uint8_t)(s->h[i / 4] >> (24 - 8 * (i % 4)));
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// @p out gets 4 * ceil(n / 3) characters and a NUL.
static void b64_encode(const uint8_t *p, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		out[o++] = b64_alphabet[v >> 18 & 63];
		out[o++] = b64_alphabet[v >> 12 & 63];
		out[o++] = i + 1 < n ? b64_alphabet[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? b64_alphabet[v & 63] : '=';
	}
	out[o] = '\0';
}

// RFC 6455 4.2.1 item 5: base64 that decodes to 16 bytes.
static bool key_valid(const char *k, size_t n)
{
	if (n != KEY_B64 || k[22] != '=' || k[23] != '=')
		return false;
	for (size_t i = 0; i < 22; i++)
		if (k[i] == '\0' || strchr(b64_alphabet, k[i]) == NULL)
			return false;
	return true;
}

static void accept_key(const char *key, size_t n, char out[29])
{
	struct sha1 s;
	uint8_t d[20];

	sha1_init(&s);
	sha1_update(&s, key, n);
	sha1_update(&s, ws_guid, sizeof(ws_guid) - 1);
	sha1_final(&s, d);
	b64_encode(d, sizeof(d), out);
}

void cee_ws_accept_key(const char *key_b64, char out[29])
{
	accept_key(key_b64, strlen(key_b64), out);
}

// ---- UTF-8 ----

static bool utf8_step(struct utf8 *u, const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t b = p[i];

		if (u->need == 0) {
			// ASCII runs: 8 bytes at a time
			while (i + 8 <= n) {
				uint64_t w;

				memcpy(&w, p + i, 8);
				if (w & 0x8080808080808080ull)
					break;
				i += 8;
			}
			if (i == n)
				break;
			b = p[i++];
			if (b < 0x80)
				continue;
			u->lo = 0x80;
			u->hi = 0xbf;
			if (b >= 0xc2 && b <= 0xdf) {
				u->need = 1;
			} else if (b >= 0xe0 && b <= 0xef) {
				u->need = 2;
				if (b == 0xe0)
					u->lo = 0xa0; // overlong
				else if (b == 0xed)
					u->hi = 0x9f; // surrogates
			} else if (b >= 0xf0 && b <= 0xf4) {
				u->need = 3;
				if (b == 0xf0)
					u->lo = 0x90; // overlong
				else if (b == 0xf4)
					u->hi = 0x8f; // above U+10FFFF
			} else {
				return false;
			}
			continue;
		}
		if (b < u->lo || b > u->hi)
			return false;
		u->need--;
		u->lo = 0x80;
		u->hi = 0xbf;
		i++;
	}
	return true;
}

static bool utf8_whole(const uint8_t *p, size_t n)
{
	struct utf8 u = {0};

	return utf8_step(&u, p, n) && u.need == 0;
}

// ---- small helpers ----

static uint64_t rng_next(struct cee_ws_ctx *ctx)
{
	uint64_t n = ctx->rng++;

	return cee_siphash(2, 4, &ctx->rng_key, &n, sizeof(n));
}

// Copy @p n bytes into a NUL-terminated field of @p cap bytes, cut to fit.
static void set_field(char *dst, size_t cap, const char *src, size_t n)
{
	if (n > cap - 1)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

// Append to a field (a folded header line continues it after one space).
static void add_field(char *dst, size_t cap, const char *src, size_t n, bool cont)
{
	size_t have = strlen(dst);

	if (cont && have > 0 && have + 1 < cap)
		dst[have++] = ' ';
	if (have + n > cap - 1)
		n = cap - 1 - have;
	memcpy(dst + have, src, n);
	dst[have + n] = '\0';
}

static void unmask(uint8_t *dst, const uint8_t *src, uint32_t n, const uint8_t mask[4],
		   uint32_t off)
{
	uint8_t m[8];
	uint64_t m64, w;
	uint32_t i = 0;

	for (int j = 0; j < 8; j++)
		m[j] = mask[(off + (uint32_t)j) & 3];
	memcpy(&m64, m, 8);
	for (; i + 8 <= n; i += 8) {
		memcpy(&w, src + i, 8);
		w ^= m64;
		memcpy(dst + i, &w, 8);
	}
	for (; i < n; i++)
		dst[i] = src[i] ^ m[i & 7];
}

// ---- buffers ----

static void refuse(struct cee_ws *ws, uint16_t status, enum cee_reason why);
static void ws_set_state(struct cee_ws *ws, enum ws_state next, enum cee_reason why);
static void fail_end(struct cee_ws *ws, uint16_t code, const char *reason, enum cee_reason why);
static int send_pong(struct cee_ws *ws);

static bool buf_pop(struct cee_ws *ws)
{
	struct cee_ws_ctx *ctx = ws->ctx;

	if (ctx->nfree == 0)
		return false;
	ws->buf = ctx->buf_free[--ctx->nfree];
	ws->buf_len = 0;
	ws->buf_since_ns = ws->now_in;
	ws->hold_next = NULL;
	ws->hold_prev = ctx->hold_tail;
	if (ctx->hold_tail != NULL)
		ctx->hold_tail->hold_next = ws;
	else
		ctx->hold_head = ws;
	ctx->hold_tail = ws;
	return true;
}

// None free: the connection that has held its buffer longest gives it
// back, if it has held it for buffer_hold_ns or more (a peer that begins a
// message or an upgrade request and trickles the rest, or stops), with
// Close 1013 (503 for an upgrade request), reason no_resources, counted
// in buffer_reclaims. Without it a few hundred such peers held every buffer
// for the whole message timeout, and every other connection's split
// message was refused with 1013 meanwhile. A holder whose stream below is
// closing (cee_ws_below_gone) gives it back without a word: it can send no
// Close, and its owner is ending it already. Not taken: a buffer being
// delivered (io.up), a client's upgrade in progress, @p ws's own.
// @return whether one is free now.
static bool buf_reclaim(struct cee_ws *ws)
{
	struct cee_ws_ctx *ctx = ws->ctx;
	struct cee_ws *v = NULL;
	int looked = 0;

	// (held in the order taken: after a young one, all are young; a few
	// that may not be taken are stepped over, no more)
	for (struct cee_ws *h = ctx->hold_head; h != NULL && looked < 8; h = h->hold_next) {
		if (ws->now_in < h->buf_since_ns ||
		    ws->now_in - h->buf_since_ns < ctx->cfg.buffer_hold_ns)
			return false;
		if (h != ws && !h->in_up &&
		    (h->state == WS_EXPECT_REQUEST || h->state == WS_EXPECT_FRAMES ||
		     h->state == WS_EXPECT_CLOSE)) {
			v = h;
			break;
		}
		looked++;
	}
	if (v == NULL)
		return false;
	ctx->stats.buffer_reclaims++;
	v->now_in = ws->now_in;
	if (v->below_gone) {
		ws_set_state(v, WS_ENDED, CEE_REASON_NONE); // 1006: no Close went
		return ctx->nfree > 0;
	}
	// (io.close for @p v: its stack may be freed from in there; it is not
	// touched after, and its buffer went back before)
	if (v->state == WS_EXPECT_REQUEST)
		refuse(v, 503, CEE_REASON_NO_RESOURCES);
	else
		fail_end(v, CEE_WS_TRY_AGAIN, "buffer reclaimed", CEE_REASON_NO_RESOURCES);
	return ctx->nfree > 0;
}

static bool buf_take(struct cee_ws *ws)
{
	assert(ws->buf == NULL);
	return buf_pop(ws) || (buf_reclaim(ws) && buf_pop(ws));
}

static void buf_give(struct cee_ws *ws)
{
	struct cee_ws_ctx *ctx = ws->ctx;

	if (ws->buf == NULL)
		return;
	ctx->buf_free[ctx->nfree++] = ws->buf;
	ws->buf = NULL;
	ws->buf_len = 0;
	if (ws->hold_prev != NULL)
		ws->hold_prev->hold_next = ws->hold_next;
	else
		ctx->hold_head = ws->hold_next;
	if (ws->hold_next != NULL)
		ws->hold_next->hold_prev = ws->hold_prev;
	else
		ctx->hold_tail = ws->hold_prev;
	ws->hold_prev = ws->hold_next = NULL;
}

// The area of a buffer for the upgrade request or response.
static uint8_t *hs_area(const struct cee_ws *ws)
{
	return ws->buf + BUF_EXTRA;
}

static uint32_t hs_cap(const struct cee_ws *ws)
{
	return ws->ctx->buf_size - BUF_EXTRA;
}

// The area for a control frame's payload: after the largest message.
static uint8_t *ctl_area(const struct cee_ws *ws)
{
	return ws->buf + ws->ctx->buf_size - BUF_EXTRA;
}

// Nothing in the buffer is needed any more: no message open, no control
// frame partial, no upgrade (the buffer is not the one io.up is reading).
static void buf_release_idle(struct cee_ws *ws)
{
	if (ws->msg_op == 0 && !ws->in_up && !(ws->in_payload && ws->payload == PAY_CONTROL) &&
	    (ws->state == WS_EXPECT_FRAMES || ws->state == WS_EXPECT_CLOSE))
		buf_give(ws);
}

// ---- context ----

static struct cee_ws_ctx *ctx_fail(struct cee_ws_ctx *ctx, char *err, size_t errlen, int e,
				   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static struct cee_ws_ctx *ctx_fail(struct cee_ws_ctx *ctx, char *err, size_t errlen, int e,
				   const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	cee_ws_ctx_destroy(ctx);
	errno = e;
	return NULL;
}

static char *dup_or_null(const char *s, bool *oom)
{
	char *d;

	if (s == NULL)
		return NULL;
	d = strdup(s);
	if (d == NULL)
		*oom = true;
	return d;
}

// @p cfg with its zeros replaced by the defaults (cee_ws.h)
static struct cee_ws_cfg with_defaults(const struct cee_ws_cfg *cfg)
{
	struct cee_ws_cfg c = *cfg;

	if (c.path == NULL)
		c.path = "/";
	if (c.subprotocol == NULL)
		c.subprotocol = "sip";
	if (c.max_header == 0)
		c.max_header = 8192;
	if (c.max_frame == 0)
		c.max_frame = 65536;
	if (c.max_message == 0)
		c.max_message = 65536;
	if (c.close_timeout_ns == 0)
		c.close_timeout_ns = 5000000000ull;
	if (c.pong_timeout_ns == 0)
		c.pong_timeout_ns = 10000000000ull;
	if (c.message_timeout_ns == 0)
		c.message_timeout_ns = 10000000000ull;
	if (c.buffers == 0)
		c.buffers = c.max_conns / 8 + 16;
	if (c.buffer_hold_ns == 0)
		c.buffer_hold_ns = 1000000000ull;
	if (c.buffer_hold_ns > c.message_timeout_ns)
		c.buffer_hold_ns = c.message_timeout_ns;
	return c;
}

// one buffer: the largest upgrade or message, and its extra
static uint32_t buf_size(const struct cee_ws_cfg *c)
{
	size_t big = c->max_header > c->max_message ? c->max_header : c->max_message;

	return (uint32_t)((big + BUF_EXTRA + 63) & ~(size_t)63);
}

uint64_t cee_ws_ctx_buffer_bytes(const struct cee_ws_cfg *cfg)
{
	struct cee_ws_cfg c = with_defaults(cfg);

	return (uint64_t)c.buffers * buf_size(&c);
}

struct cee_ws_ctx *cee_ws_ctx_create(const struct cee_ws_cfg *cfg, char *err, size_t errlen)
{
	struct cee_ws_ctx *ctx;
	struct cee_ws_cfg c;
	bool oom = false;

	if (cfg == NULL)
		return ctx_fail(NULL, err, errlen, EINVAL, "no configuration");
	c = with_defaults(cfg);
	if (c.max_conns == 0)
		return ctx_fail(NULL, err, errlen, EINVAL, "max_conns is 0");
	if (c.path[0] != '/' || strlen(c.path) >= sizeof(((struct cee_ws_info *)0)->path))
		return ctx_fail(NULL, err, errlen, EINVAL,
				"path must start with / and be < 128 bytes");
	if (strlen(c.subprotocol) >= SUB_MAX)
		return ctx_fail(NULL, err, errlen, EINVAL, "subprotocol longer than %d bytes",
				SUB_MAX - 1);
	if (c.max_header < 256 || c.max_header > (1u << 20))
		return ctx_fail(NULL, err, errlen, EINVAL, "max_header not in [256, 1 MiB]");
	if (c.max_message > (1u << 30) || c.max_frame > c.max_message)
		return ctx_fail(NULL, err, errlen, EINVAL,
				"max_frame must be <= max_message <= 1 GiB");

	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL)
		return ctx_fail(NULL, err, errlen, ENOMEM, "out of memory");
	ctx->path = dup_or_null(c.path, &oom);
	ctx->subprotocol = dup_or_null(c.subprotocol, &oom);
	ctx->origins = dup_or_null(c.origins, &oom);
	c.path = ctx->path;
	c.subprotocol = ctx->subprotocol;
	c.origins = ctx->origins;
	ctx->cfg = c;
	ctx->buf_size = buf_size(&c);
	ctx->nbufs = c.buffers;
	ctx->pool = calloc(c.max_conns, sizeof(*ctx->pool));
	ctx->buf_mem = aligned_alloc(64, (size_t)ctx->nbufs * ctx->buf_size);
	ctx->buf_free = calloc(ctx->nbufs, sizeof(*ctx->buf_free));
	ctx->scratch = malloc(c.max_frame > 0 ? c.max_frame : 1);
	if (oom || ctx->pool == NULL || ctx->buf_mem == NULL || ctx->buf_free == NULL ||
	    ctx->scratch == NULL)
		return ctx_fail(ctx, err, errlen, ENOMEM,
				"out of memory for %u connections, %u buffers", c.max_conns,
				c.buffers);
	for (uint32_t i = c.max_conns; i-- > 0;) {
		ctx->pool[i].ctx = ctx;
		ctx->pool[i].next_free = ctx->free_head;
		ctx->free_head = &ctx->pool[i];
	}
	for (uint32_t i = 0; i < ctx->nbufs; i++)
		ctx->buf_free[i] = ctx->buf_mem + (size_t)(ctx->nbufs - 1 - i) * ctx->buf_size;
	ctx->nfree = ctx->nbufs;
	ctx->rng = 0;
	if (c.seed != 0) { // tests: the same keys and masks every run
		ctx->rng_key.k0 = c.seed;
		ctx->rng_key.k1 = c.seed ^ 0x9e3779b97f4a7c15ull;
	} else if (getrandom(&ctx->rng_key, sizeof(ctx->rng_key), 0) !=
		   (ssize_t)sizeof(ctx->rng_key)) {
		return ctx_fail(ctx, err, errlen, errno ? errno : EIO,
				"no random key for client keys and masks");
	}
	return ctx;
}

void cee_ws_ctx_destroy(struct cee_ws_ctx *ctx)
{
	if (ctx == NULL)
		return;
	free(ctx->path);
	free(ctx->subprotocol);
	free(ctx->origins);
	free(ctx->pool);
	free(ctx->buf_mem);
	free(ctx->buf_free);
	free(ctx->scratch);
	free(ctx);
}

const struct cee_ws_stats *cee_ws_ctx_stats(const struct cee_ws_ctx *ctx)
{
	return &ctx->stats;
}

uint32_t cee_ws_ctx_buffers_free(const struct cee_ws_ctx *ctx)
{
	return ctx->nfree;
}

size_t cee_ws_ctx_memory(const struct cee_ws_ctx *ctx, size_t *conn_size, size_t *buf_size)
{
	if (conn_size != NULL)
		*conn_size = sizeof(struct cee_ws);
	if (buf_size != NULL)
		*buf_size = ctx->buf_size;
	return (size_t)ctx->cfg.max_conns * sizeof(struct cee_ws) +
	       (size_t)ctx->nbufs * ctx->buf_size + ctx->nbufs * sizeof(*ctx->buf_free) +
	       ctx->cfg.max_frame;
}

// ---- state ----

static const bool transition_ok[][WS_ENDED + 1] = {
    [WS_EXPECT_START] = {[WS_EXPECT_RESPONSE] = true, [WS_ENDED] = true},
    [WS_EXPECT_REQUEST] = {[WS_EXPECT_FRAMES] = true, [WS_ENDED] = true},
    [WS_EXPECT_RESPONSE] = {[WS_EXPECT_FRAMES] = true, [WS_ENDED] = true},
    [WS_EXPECT_FRAMES] = {[WS_EXPECT_CLOSE] = true, [WS_ENDED] = true},
    [WS_EXPECT_CLOSE] = {[WS_ENDED] = true},
    [WS_ENDED] = {false},
};

// The one writer of ws->state, and the one caller of io.milestone and
// io.close: each transition happens once, so each callback is made at most
// once. @p why: the reason given to io.close on the way to ENDED;
// CEE_REASON_NONE when the end is not this layer's to report (from above:
// cee_ws_shutdown before ws_up, a failed cee_ws_send; from below: eof).
static void ws_set_state(struct cee_ws *ws, enum ws_state next, enum cee_reason why)
{
	enum ws_state prev = (enum ws_state)ws->state;

	assert(transition_ok[prev][next]);
	if (!transition_ok[prev][next])
		return;
	switch (next) {
	case WS_EXPECT_FRAMES:
		ws->info.up = true;
		ws->ctx->stats.upgrades++;
		buf_give(ws);
		break;
	case WS_ENDED:
		// (a connection that ended before it sent a byte of a request, a
		// wss client whose TLS handshake failed, a port scan, made no
		// upgrade attempt: it was counted as a failed one)
		if ((prev == WS_EXPECT_REQUEST && ws->req_seen) || prev == WS_EXPECT_RESPONSE)
			ws->ctx->stats.upgrade_failures++;
		if (ws->info.code == 0)
			ws->info.code = CEE_WS_ABNORMAL;
		if (!ws->in_up)
			buf_give(ws);
		break;
	case WS_EXPECT_START:
	case WS_EXPECT_REQUEST:
	case WS_EXPECT_RESPONSE:
	case WS_EXPECT_CLOSE:
		break;
	}
	ws->state = (uint8_t)next;
	if (next == WS_EXPECT_FRAMES && ws->io.milestone != NULL)
		ws->io.milestone(ws->io.arg, CEE_EVT_WS_UP);
	else if (next == WS_ENDED && why != CEE_REASON_NONE)
		ws->io.close(ws->io.arg, why);
}

// ---- output ----

static int down_all(struct cee_ws *ws, const uint8_t *p, uint32_t n)
{
	int rc = ws->io.down(ws->io.arg, p, n);

	// -ENOTCONN: the way down is closed for sending (our FIN or
	// close_notify is out), nothing of it taken; else what fell short
	return rc == (int)n ? 0 : rc == -ENOTCONN ? -ENOTCONN : -ENOBUFS;
}

// One frame with FIN (RFC 6455 5.2): unmasked from a server, masked with a
// fresh key from a client (5.3). Up to CEE_WS_SEND_COALESCE bytes go down in one
// call (over TLS: one record); a larger payload follows its header in a
// second call (server) or in masked chunks (client).
static int send_frame(struct cee_ws *ws, uint8_t op, const uint8_t *data, uint32_t len)
{
	uint8_t out[CEE_WS_SEND_COALESCE + HDR_MAX];
	uint32_t h = 2, off = 0;
	uint8_t mask[4];

	out[0] = (uint8_t)(0x80 | op);
	if (len < 126) {
		out[1] = (uint8_t)len;
	} else if (len <= 0xffff) {
		out[1] = 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		h = 4;
	} else {
		out[1] = 127;
		for (int i = 0; i < 8; i++)
			out[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
		h = 10;
	}
	if (!ws->client) {
		if (len <= CEE_WS_SEND_COALESCE) {
			if (len > 0)
				memcpy(out + h, data, len);
			return down_all(ws, out, h + len);
		}
		int rc = down_all(ws, out, h);
		return rc < 0 ? rc : down_all(ws, data, len) < 0 ? -ENOBUFS : 0;
	}
	uint32_t r = (uint32_t)rng_next(ws->ctx);
	memcpy(mask, &r, 4);
	out[1] |= 0x80;
	memcpy(out + h, mask, 4);
	h += 4;
	do {
		uint32_t k = len - off < sizeof(out) - h ? len - off : (uint32_t)sizeof(out) - h;

		if (k > 0) // (a ping has no payload: data is NULL, and NULL + 0 is undefined)
			unmask(out + h, data + off, k, mask, off);
		int rc = down_all(ws, out, h + k);
		if (rc < 0)
			return off == 0 ? rc : -ENOBUFS;
		off += k;
		h = 0;
	} while (off < len);
	return 0;
}

// Our Close (RFC 6455 5.5.1): no payload for @p code 0, else the code and
// the reason cut to fit at a character boundary.
static int send_close(struct cee_ws *ws, uint16_t code, const char *reason)
{
	uint8_t p[2 + REASON_MAX];
	uint32_t n = 0;

	ws->info.close_sent = true;
	ws->ctx->stats.closes_sent++;
	if (code != 0) {
		size_t r = reason != NULL ? strlen(reason) : 0;

		if (r > REASON_MAX) {
			r = REASON_MAX;
			while (r > 0 && ((uint8_t)reason[r] & 0xc0) == 0x80)
				r--;
		}
		p[0] = (uint8_t)(code >> 8);
		p[1] = (uint8_t)code;
		if (r > 0)
			memcpy(p + 2, reason, r);
		n = 2 + (uint32_t)r;
		set_field(ws->info.reason, sizeof(ws->info.reason), reason != NULL ? reason : "",
			  r);
		ws->info.reason_len = (uint8_t)strlen(ws->info.reason);
	}
	return send_frame(ws, OP_CLOSE, p, n);
}

// Our Close with @p code (when up), then the end with @p why.
static void fail_end(struct cee_ws *ws, uint16_t code, const char *reason, enum cee_reason why)
{
	// the Pong owed goes first (nothing after our Close); one that finds
	// no room does not change the cause: the protocol error's (a Pong's
	// failure ended the layer as no_resources: review of the session's diff)
	if (ws->state == WS_EXPECT_FRAMES)
		(void)send_pong(ws);
	if (ws->state == WS_EXPECT_FRAMES) {
		ws->info.code = code;
		send_close(ws, code, reason);
	}
	ws->info.clean = false;
	ws_set_state(ws, WS_ENDED, why);
}

// A protocol error (or no buffer): our Close with @p code, then the end.
static void fail(struct cee_ws *ws, uint16_t code, const char *reason)
{
	bool no_buf = code == CEE_WS_TRY_AGAIN;

	if (no_buf)
		ws->ctx->stats.no_buffer++;
	else
		ws->ctx->stats.protocol_errors++;
	fail_end(ws, code, reason, no_buf ? CEE_REASON_NO_RESOURCES : CEE_REASON_PROTOCOL_ERROR);
}

// ---- the upgrade (RFC 6455 4.1, 4.2) ----

enum hdr_id {
	H_OTHER,
	H_HOST,
	H_UPGRADE,
	H_CONNECTION,
	H_KEY,
	H_VERSION,
	H_PROTOCOL,
	H_ORIGIN,
	H_USER_AGENT,
	H_ACCEPT,
	H_EXTENSIONS,
	H_CONTENT_LENGTH,
	H_TRANSFER_ENCODING,
};

static const struct {
	const char *name;
	enum hdr_id id;
} hdr_names[] = {
    {"host", H_HOST},
    {"upgrade", H_UPGRADE},
    {"connection", H_CONNECTION},
    {"sec-websocket-key", H_KEY},
    {"sec-websocket-version", H_VERSION},
    {"sec-websocket-protocol", H_PROTOCOL},
    {"origin", H_ORIGIN},
    {"user-agent", H_USER_AGENT},
    {"sec-websocket-accept", H_ACCEPT},
    {"sec-websocket-extensions", H_EXTENSIONS},
    {"content-length", H_CONTENT_LENGTH},
    {"transfer-encoding", H_TRANSFER_ENCODING},
};

// What the header fields said (server: the request; client: the 101).
struct hs_fields {
	bool host, upgrade, connection, bad, extensions;
	bool key_seen, version_seen, proto_offered, proto_match, proto_seen;
	bool origin_cut; // an Origin longer than info.origin holds (or given twice)
	bool accept_seen, upgrade_seen; // (a 101's: once each)
	char key[32];
	char version[8];
	char accept[32];
	char proto[SUB_MAX + 1];
};

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static void trim(const char **p, size_t *n)
{
	while (*n > 0 && is_ows(**p)) {
		(*p)++;
		(*n)--;
	}
	while (*n > 0 && is_ows((*p)[*n - 1]))
		(*n)--;
}

// Does the comma-separated list @p v contain @p tok (RFC 7230 7)?
static bool list_has(const char *v, size_t n, const char *tok, bool nocase)
{
	size_t tl = strlen(tok);

	while (n > 0) {
		const char *comma = memchr(v, ',', n);
		size_t k = comma != NULL ? (size_t)(comma - v) : n;
		const char *e = v;
		size_t en = k;

		trim(&e, &en);
		if (en == tl && en > 0 &&
		    (nocase ? strncasecmp(e, tok, tl) == 0 : memcmp(e, tok, tl) == 0))
			return true;
		if (comma == NULL)
			break;
		v += k + 1;
		n -= k + 1;
	}
	return false;
}

static bool list_nonempty(const char *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_ows(v[i]) && v[i] != ',')
			return true;
	return false;
}

static void on_header(struct cee_ws *ws, struct hs_fields *f, enum hdr_id id, const char *v,
		      size_t n, bool cont)
{
	const char *sub = ws->ctx->cfg.subprotocol;

	switch (id) {
	case H_HOST:
		if (f->host && !cont)
			f->bad = true; // two Host fields: 400 (RFC 7230 5.4)
		f->host = true;
		break;
	case H_EXTENSIONS:
		// we offer none: a server that names one fails the client (RFC
		// 6455 4.1 item 5); a request's are ignored (none accepted)
		f->extensions |= list_nonempty(v, n);
		break;
	case H_UPGRADE:
		if (ws->client) {
			// a 101's Upgrade is "websocket" (RFC 6455 4.1 item 2),
			// once: "websocket, h2c" brought a link up
			const char *t = v;
			size_t tn = n;
			trim(&t, &tn);
			f->upgrade = !f->upgrade_seen && !cont && tn == 9 &&
				     strncasecmp(t, "websocket", 9) == 0;
			f->upgrade_seen = true;
			break;
		}
		f->upgrade |= list_has(v, n, "websocket", true);
		break;
	case H_CONNECTION:
		f->connection |= list_has(v, n, "upgrade", true);
		break;
	case H_KEY:
		if (f->key_seen && !cont)
			f->bad = true; // two keys
		f->key_seen = true;
		if (strlen(f->key) + n + 1 >= sizeof(f->key))
			f->bad = true;
		else
			add_field(f->key, sizeof(f->key), v, n, cont);
		break;
	case H_VERSION:
		if (!ws->client && f->version_seen && !cont)
			f->bad = true; // RFC 6455 11.3.5: once in a request (a 101 may repeat it)
		f->version_seen = true;
		if (!cont)
			f->version[0] = '\0';
		add_field(f->version, sizeof(f->version), v, n, cont);
		break;
	case H_PROTOCOL:
		if (ws->client) {
			// RFC 6455 4.1 item 6: one value, one we offered
			f->proto_seen = true;
			if (n >= sizeof(f->proto) || f->proto[0] != '\0')
				f->bad = true;
			else
				set_field(f->proto, sizeof(f->proto), v, n);
			break;
		}
		f->proto_offered |= list_nonempty(v, n);
		f->proto_match |= sub[0] != '\0' && list_has(v, n, sub, false);
		break;
	case H_ORIGIN:
		// one origin (RFC 6454 7.2); cut to info.origin's size, a long one
		// matched the allow-list by its first 127 bytes
		f->origin_cut |= cont || ws->info.origin[0] != '\0' || n >= sizeof(ws->info.origin);
		if (!cont)
			ws->info.origin[0] = '\0';
		add_field(ws->info.origin, sizeof(ws->info.origin), v, n, cont);
		break;
	case H_USER_AGENT:
		if (!cont)
			ws->info.user_agent[0] = '\0';
		add_field(ws->info.user_agent, sizeof(ws->info.user_agent), v, n, cont);
		break;
	case H_ACCEPT:
		if (f->accept_seen && !cont)
			f->bad = true; // two: the last one was taken, whatever came first
		f->accept_seen = true;
		if (!cont)
			f->accept[0] = '\0';
		add_field(f->accept, sizeof(f->accept), v, n, cont);
		break;
	case H_CONTENT_LENGTH:
		// A request with content: the upgrade happens after it (RFC
		// 9110 7.8), and the bytes after the head would be read as
		// frames, ones a proxy in front took for HTTP content (request
		// smuggling). Only "Content-Length: 0" goes (a 101 has none).
		if (!ws->client && (n != 1 || v[0] != '0' || cont))
			f->bad = true;
		break;
	case H_TRANSFER_ENCODING:
		if (!ws->client)
			f->bad = true; // chunked content: as above
		break;
	case H_OTHER:
		break;
	}
}

// The header fields after the start line, up to the empty line; @p p..end
// is the message less its start line, ending with CRLF CRLF.
static void parse_fields(struct cee_ws *ws, struct hs_fields *f, const char *p, const char *end)
{
	enum hdr_id last = H_OTHER;
	bool have_last = false;

	for (;;) {
		const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		size_t n;

		if (eol == NULL || eol == p)
			return; // the empty line
		n = (size_t)(eol - p);
		if (is_ows(p[0])) {
			// obs-fold (RFC 9112 5.2): continues the previous field. A
			// server answers a request that has one with 400 (taken line
			// by line, "Connection: keep-alive\r\n Upgrade" was an
			// upgrade, as "keep-alive Upgrade" is not); a user agent
			// (the client, a 101) reads it as SP.
			const char *v = p;

			if (!have_last || !ws->client) {
				f->bad = true;
				return;
			}
			trim(&v, &n);
			on_header(ws, f, last, v, n, true);
		} else {
			const char *colon = memchr(p, ':', n);
			const char *v;
			size_t nl, vn;

			if (colon == NULL || colon == p || is_ows(colon[-1])) {
				f->bad = true;
				return;
			}
			nl = (size_t)(colon - p);
			v = colon + 1;
			vn = n - nl - 1;
			trim(&v, &vn);
			last = H_OTHER;
			for (size_t i = 0; i < sizeof(hdr_names) / sizeof(hdr_names[0]); i++)
				if (strlen(hdr_names[i].name) == nl &&
				    strncasecmp(hdr_names[i].name, p, nl) == 0)
					last = hdr_names[i].id;
			have_last = true;
			on_header(ws, f, last, v, vn, false);
		}
		p = eol + 2;
	}
}

static const char *status_text(uint16_t status)
{
	switch (status) {
	case 101:
		return "Switching Protocols";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 426:
		return "Upgrade Required";
	case 431:
		return "Request Header Fields Too Large";
	case 503:
		return "Service Unavailable";
	default:
		return "Error";
	}
}

// A refused upgrade: the response, then the end.
static void refuse(struct cee_ws *ws, uint16_t status, enum cee_reason why)
{
	char r[256];
	// (426: RFC 9110 15.5.22, the Upgrade field, and "upgrade" in
	// Connection with it)
	int n = snprintf(r, sizeof(r), "HTTP/1.1 %u %s\r\nConnection: %sclose\r\nContent-Length: 0\r\n%s%s\r\n",
			 status, status_text(status), status == 426 ? "Upgrade, " : "",
			 status == 426 ? "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" : "",
			 status == 405 ? "Allow: GET\r\n" : "");

	ws->info.http_status = status;
	down_all(ws, (const uint8_t *)r, (uint32_t)n);
	ws_set_state(ws, WS_ENDED, why);
}

static bool origin_allowed(const struct cee_ws *ws)
{
	const char *o = ws->info.origin;

	if (ws->ctx->cfg.origins == NULL || o[0] == '\0')
		return true;
	return list_has(ws->ctx->cfg.origins, strlen(ws->ctx->cfg.origins), o, true);
}

// Leading empty lines in @p p[0, n): RFC 9112 2.2 asks a server to ignore
// at least one CRLF before the request line (a client that ended its
// previous request with an extra CRLF). @return their bytes.
static uint32_t lead_crlf(const uint8_t *p, uint32_t n)
{
	uint32_t k = 0;

	while (n - k >= 2 && p[k] == '\r' && p[k + 1] == '\n')
		k += 2;
	return k;
}

// "HTTP/1.1" or a later 1.x at @p v (RFC 9112 2.3: a 1.x of a higher minor
// is processed as the highest this end implements); RFC 6455 4.1 asks for
// at least 1.1, so "HTTP/1.0" and "HTTP/2.0" are not.
static bool http_1_1_up(const char *v)
{
	return memcmp(v, "HTTP/1.", 7) == 0 && v[7] >= '1' && v[7] <= '9';
}

// RFC 6455 4.2.1 and 4.2.2: @return the status to answer with.
static uint16_t check_request(struct cee_ws *ws, const char *m, uint32_t len, struct hs_fields *f)
{
	uint32_t lead = lead_crlf((const uint8_t *)m, len);
	const char *end = m + len, *eol = memmem(m + lead, len - lead, "\r\n", 2);
	const char *sp1, *sp2, *q, *tgt;
	size_t ln, tl, sl;
	char tbuf[sizeof(ws->info.path)];

	// NUL, or a CR not before LF, anywhere in the head: 400 (RFC 9110
	// 5.5, RFC 9112 2.2); taken as they were, "key\0junk" was a valid key
	if (memchr(m, '\0', len) != NULL)
		return 400;
	for (const char *c = m; (c = memchr(c, '\r', (size_t)(end - c))) != NULL; c++)
		if (c + 1 == end || c[1] != '\n')
			return 400;
	// and a LF not after CR: lines split on CRLF only, so "X: y\nContent-
	// Length: 5" hid a body length inside a value (the smuggling refusal
	// below missed it) for a proxy that ends lines at a bare LF
	for (const char *c = m; (c = memchr(c, '\n', (size_t)(end - c))) != NULL; c++)
		if (c == m || c[-1] != '\r')
			return 400;
	m += lead;
	ln = (size_t)(eol - m);
	sp1 = memchr(m, ' ', ln);
	if (sp1 == NULL)
		return 400;
	sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1));
	if (sp2 == NULL || sp2 == sp1 + 1 || (size_t)(eol - sp2 - 1) != 8 ||
	    !http_1_1_up(sp2 + 1))
		return 400;
	tgt = sp1 + 1;
	tl = (size_t)(sp2 - sp1 - 1);
	// absolute-form (RFC 9112 3.2.2: a server MUST accept it): the target
	// is what follows the authority ("http://h?x" is "/?x")
	sl = tl > 7 && strncasecmp(tgt, "http://", 7) == 0	? 7
	     : tl > 8 && strncasecmp(tgt, "https://", 8) == 0 ? 8
							      : 0;
	if (sl > 0) {
		const char *a = tgt + sl, *te = tgt + tl, *p = a;

		while (p < te && *p != '/' && *p != '?')
			p++;
		if (p == a)
			return 400; // no authority
		if (p < te && *p == '/') {
			tgt = p;
			tl = (size_t)(te - p);
		} else {
			// (a query longer than info.path holds is cut, as
			// set_field() cuts an origin-form one: the path is "/")
			int w = snprintf(tbuf, sizeof(tbuf), "/%.*s", (int)(te - p), p);
			tgt = tbuf;
			tl = w < 0 ? 1 : (size_t)w < sizeof(tbuf) ? (size_t)w : sizeof(tbuf) - 1;
		}
	}
	set_field(ws->info.path, sizeof(ws->info.path), tgt, tl);
	if ((size_t)(sp1 - m) != 3 || memcmp(m, "GET", 3) != 0)
		return 405;
	parse_fields(ws, f, eol + 2, end);
	if (f->bad || !f->host || !f->upgrade || !f->connection || !f->key_seen || !f->version_seen)
		return 400;
	if (strcmp(f->version, "13") != 0)
		return 426;
	if (!key_valid(f->key, strlen(f->key)))
		return 400;
	if (tgt[0] != '/')
		return 400;
	q = memchr(tgt, '?', tl);
	if (q != NULL)
		tl = (size_t)(q - tgt);
	if (tl != strlen(ws->ctx->cfg.path) || memcmp(tgt, ws->ctx->cfg.path, tl) != 0)
		return 404;
	if (!origin_allowed(ws) || (f->origin_cut && ws->ctx->cfg.origins != NULL))
		return 403;
	return 101;
}

static void answer_request(struct cee_ws *ws, const uint8_t *m, uint32_t len)
{
	struct hs_fields f = {0};
	uint16_t status = check_request(ws, (const char *)m, len, &f);
	char accept[29], r[256];
	int n;

	if (status != 101) {
		refuse(ws, status, CEE_REASON_WS_UPGRADE_FAILED);
		return;
	}
	if (f.proto_match)
		set_field(ws->info.subprotocol, sizeof(ws->info.subprotocol),
			  ws->ctx->cfg.subprotocol, strlen(ws->ctx->cfg.subprotocol));
	accept_key(f.key, strlen(f.key), accept);
	n = snprintf(r, sizeof(r),
		     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s%s%s\r\n",
		     accept, f.proto_match ? "Sec-WebSocket-Protocol: " : "",
		     f.proto_match ? ws->info.subprotocol : "", f.proto_match ? "\r\n" : "");
	// (101 once it went: a 101 the send buffer refused was reported in
	// closed as the status the upgrade was refused with, beside
	// no_resources, though the peer never got it)
	if (down_all(ws, (const uint8_t *)r, (uint32_t)n) < 0) {
		ws_set_state(ws, WS_ENDED, CEE_REASON_NO_RESOURCES);
		return;
	}
	ws->info.http_status = 101;
	ws_set_state(ws, WS_EXPECT_FRAMES, CEE_REASON_NONE);
}

// Client prefix of its buffer: the Sec-WebSocket-Accept expected, then the
// subprotocol offered.
enum { PREFIX_ACCEPT = 0, PREFIX_SUB = 32 };

// RFC 6455 4.1, the client's checks of the server's handshake.
static void check_response(struct cee_ws *ws, const uint8_t *mu, uint32_t len)
{
	const char *m = (const char *)mu, *nl = memchr(m, '\n', len);
	const char *offered = (const char *)ws->buf + PREFIX_SUB;
	struct hs_fields f = {0};
	unsigned status = 0;

	// the status line ends at its LF (a CR before it left out): a head that
	// find_end() saw end at a bare LF still reports the status it carried
	const char *eol = nl != NULL && nl > m && nl[-1] == '\r' ? nl - 1 : nl;
	// status-line = HTTP-version SP 3DIGIT SP reason-phrase (RFC 7230 3.1.2)
	if (eol != NULL && eol - m >= 12 && http_1_1_up(m) && m[8] == ' ' &&
	    (eol == m + 12 || m[12] == ' '))
		for (int i = 9; i < 12; i++)
			status = m[i] >= '0' && m[i] <= '9' ? status * 10 + (unsigned)(m[i] - '0')
							    : 1000;
	ws->info.http_status = status < 1000 ? (uint16_t)status : 0;
	if (status != 101) {
		ws_set_state(ws, WS_ENDED, CEE_REASON_WS_UPGRADE_FAILED);
		return;
	}
	// a bare LF anywhere in the head: no well-formed 101 (RFC 9112 2.2; a
	// listener refuses such a request with 400). Taken, "X: y\n" then an
	// empty line of LF brought a link up on a head a server never meant
	for (const char *c = m; (c = memchr(c, '\n', (size_t)(m + len - c))) != NULL; c++)
		if (c == m || c[-1] != '\r') {
			ws_set_state(ws, WS_ENDED, CEE_REASON_WS_UPGRADE_FAILED);
			return;
		}
	// nor a NUL or a CR not before LF, as check_request() refuses them:
	// values were compared up to a NUL, so "<the right accept>\0zz" and a
	// subprotocol "sip\0evil" brought a link up (session 34 review)
	bool bare_cr = false;
	for (const char *c = m; !bare_cr && (c = memchr(c, '\r', (size_t)(m + len - c))) != NULL; c++)
		bare_cr = c + 1 == m + len || c[1] != '\n';
	if (bare_cr || memchr(m, '\0', len) != NULL) {
		ws_set_state(ws, WS_ENDED, CEE_REASON_WS_UPGRADE_FAILED);
		return;
	}
	parse_fields(ws, &f, nl + 1, m + len);
	// A subprotocol offered must come back (RFC 7118 4.1: a 101 without
	// "sip" MUST close; this client speaks only what it offered): a 101
	// without one brought the connection up with none.
	if (f.bad || !f.upgrade || !f.connection || f.extensions ||
	    strcmp(f.accept, (const char *)ws->buf + PREFIX_ACCEPT) != 0 ||
	    (offered[0] != '\0' && !f.proto_seen) ||
	    (f.proto_seen &&
	     (offered[0] == '\0' || !list_has(offered, strlen(offered), f.proto, false)))) {
		ws_set_state(ws, WS_ENDED, CEE_REASON_WS_UPGRADE_FAILED);
		return;
	}
	set_field(ws->info.subprotocol, sizeof(ws->info.subprotocol), f.proto, strlen(f.proto));
	ws_set_state(ws, WS_EXPECT_FRAMES, CEE_REASON_NONE);
}

static void handshake_done(struct cee_ws *ws, const uint8_t *m, uint32_t len)
{
	if (ws->client)
		check_response(ws, m, len);
	else
		answer_request(ws, m, len);
}

// End of the header block in @p p[0, n), searching from @p from.
// @return the offset after the empty line that ends it, 0 = not there.
// CRLF CRLF, or an empty line with a bare LF on either side (LF LF,
// LF CR LF): those heads are refused (400, check_request()) rather than
// never seen to end (a client of bare LFs got no answer and, after
// --handshake-timeout, an RST).
static uint32_t find_end(const uint8_t *p, uint32_t n, uint32_t from)
{
	uint32_t lead = lead_crlf(p, n), end = 0;
	const uint8_t *e;

	// the head starts after the empty lines check_request() skips: two
	// of them are no CRLF CRLF that ends a head
	from = from > lead ? from : lead;
	// (p == NULL: no bytes; said so for GCC's -Wnonnull, which at -O2
	// with the sanitizers cannot see that every caller has bytes)
	if (p == NULL || n <= from)
		return 0;
	// (CRLF CRLF holds LF CR LF: one search finds both)
	e = memmem(p + from, n - from, "\n\r\n", 3);
	if (e != NULL)
		end = (uint32_t)(e - p) + 3;
	e = memmem(p + from, n - from, "\n\n", 2);
	if (e != NULL && (end == 0 || (uint32_t)(e - p) + 2 < end))
		end = (uint32_t)(e - p) + 2;
	return end;
}

// Upgrade bytes. @return the bytes of @p data used (the rest are frames).
static uint32_t handshake_input(struct cee_ws *ws, const uint8_t *data, uint32_t len)
{
	uint32_t limit = ws->ctx->cfg.max_header, old, k, end;

	ws->req_seen |= len > 0;
	if (ws->buf == NULL) {
		// The whole request in one input (the usual case): no buffer.
		end = find_end(data, len < limit ? len : limit, 0);
		if (end != 0) {
			handshake_done(ws, data, end);
			return end;
		}
		if (len >= limit) {
			refuse(ws, 431, CEE_REASON_WS_UPGRADE_FAILED);
			return len;
		}
		if (!buf_take(ws)) {
			ws->ctx->stats.no_buffer++;
			refuse(ws, 503, CEE_REASON_NO_RESOURCES);
			return len;
		}
	}
	old = ws->buf_len;
	k = len < limit - old ? len : limit - old;
	memcpy(hs_area(ws) + old, data, k);
	ws->buf_len = old + k;
	end = find_end(hs_area(ws), ws->buf_len, old > 3 ? old - 3 : 0);
	if (end != 0) {
		handshake_done(ws, hs_area(ws), end);
		return end - old;
	}
	if (ws->buf_len >= limit) {
		if (ws->client)
			ws_set_state(ws, WS_ENDED, CEE_REASON_WS_UPGRADE_FAILED);
		else
			refuse(ws, 431, CEE_REASON_WS_UPGRADE_FAILED);
	}
	return len;
}

// ---- frames (RFC 6455 5) ----

static bool close_code_ok(uint16_t c)
{
	// RFC 6455 7.4.1 and the IANA registry: 1004-1006 and 1015 are never
	// sent; 1016-2999 are unassigned.
	return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
}

static bool is_control(uint8_t op)
{
	return (op & 0x8) != 0;
}

// The Pong owed for the input's last ping (on_control()), if one is and it
// can go: send_frame()'s result, 0 when none went.
static int send_pong(struct cee_ws *ws)
{
	if (!ws->pong_owed)
		return 0;
	ws->pong_owed = false;
	if (ws->state != WS_EXPECT_FRAMES && ws->state != WS_EXPECT_CLOSE)
		return 0;
	return send_frame(ws, OP_PONG, ws->pong, ws->pong_len);
}

// The Pong owed, before anything else goes down after it: a Close of
// ours (the peer's, cee_ws_shutdown(); fail_end() sends it itself), or the
// end of the input.
static void flush_pong(struct cee_ws *ws)
{
	int rc = send_pong(ws);
	// after our Close, our FIN (or close_notify) may be out too (an idle
	// timeout's): no Pong can go, and none is owed on a stream we
	// closed; the peer's Close is still read. It ended the layer
	// (no_resources), and the Close that completed the handshake was
	// dropped: ws_clean false
	if (rc == -ENOTCONN && ws->state == WS_EXPECT_CLOSE)
		return;
	if (rc < 0)
		ws_set_state(ws, WS_ENDED, CEE_REASON_NO_RESOURCES);
}

// RFC 6455 5.5.1: the peer's Close.
static void on_close(struct cee_ws *ws, const uint8_t *p, uint32_t n)
{
	uint16_t code = CEE_WS_NO_STATUS;
	bool ok = n != 1;

	ws->ctx->stats.closes_received++;
	ws->info.close_received = true;
	if (n >= 2) {
		code = (uint16_t)(p[0] << 8 | p[1]);
		ok = close_code_ok(code) && utf8_whole(p + 2, n - 2);
	}
	if (ws->state == WS_EXPECT_CLOSE) {
		// the answer to ours: info.code stays ours
		if (!ok) {
			ws->ctx->stats.protocol_errors++;
			ws_set_state(ws, WS_ENDED, CEE_REASON_PROTOCOL_ERROR);
			return;
		}
		ws->info.clean = true;
		ws_set_state(ws, WS_ENDED, CEE_REASON_WS_CLOSE);
		return;
	}
	if (!ok) {
		// a reason that is not UTF-8 beside a valid code is bad data
		// (1007, RFC 6455 7.4.1; it was 1002, as for a bad code)
		if (n >= 2 && close_code_ok(code))
			fail(ws, CEE_WS_BAD_DATA, "close reason not UTF-8");
		else
			fail(ws, CEE_WS_PROTOCOL_ERROR,
			     n == 1 ? "close payload of 1 byte" : "bad close frame");
		return;
	}
	ws->info.code = code;
	// a ping before it is answered first (it came before the Close)
	flush_pong(ws);
	if (ws->state == WS_ENDED)
		return;
	// Echo the code (none when the peer sent none), without a reason.
	ws->info.clean = send_close(ws, n >= 2 ? code : 0, NULL) == 0;
	if (n > 2) {
		// (its length kept: a NUL in it is valid UTF-8, and strlen() cut
		// the reason there in closed's ws_reason)
		set_field(ws->info.reason, sizeof(ws->info.reason), (const char *)p + 2, n - 2);
		ws->info.reason_len = (uint8_t)(n - 2 < sizeof(ws->info.reason) - 1
						    ? n - 2
						    : sizeof(ws->info.reason) - 1);
	}
	ws_set_state(ws, WS_ENDED, CEE_REASON_WS_CLOSE);
}

static void on_control(struct cee_ws *ws, const uint8_t *p, uint32_t n)
{
	switch (ws->op) {
	case OP_CLOSE:
		on_close(ws, p, n);
		break;
	case OP_PONG:
		ws->pong_due = false;
		break;
	case OP_PING:
		// RFC 6455 5.5.2-5.5.3: a Pong with the same payload, also in
		// the middle of a fragmented message, and after our Close (5.5.1
		// forbids data frames then, not control frames: a Pong is owed
		// unless the peer's Close came first, and none is read after it).
		// One per input, for the last ping (5.5.3 allows answering only
		// the most recent): a Pong each, a record each under TLS (24
		// bytes for a 6-byte ping), let one segment of pings fill the
		// send buffer and end the connection as no_resources
		if (ws->state == WS_EXPECT_FRAMES || ws->state == WS_EXPECT_CLOSE) {
			if (ws->pong_owed)
				ws->ctx->stats.pongs_coalesced++;
			ws->pong_owed = true;
			ws->pong_len = (uint8_t)n;
			memcpy(ws->pong, p, n);
		}
		break;
	default: // pong: the input already cleared the wait for it
		break;
	}
}

// The first two header bytes are in: fail fast on what they say.
static bool check_start(struct cee_ws *ws)
{
	uint8_t b0 = ws->hdr[0], b1 = ws->hdr[1], op = b0 & 0x0f;
	bool data_ok = ws->state == WS_EXPECT_CLOSE; // data is discarded then

	if (b0 & 0x70)
		fail(ws, CEE_WS_PROTOCOL_ERROR, "reserved bits set");
	else if ((op > OP_BINARY && op < OP_CLOSE) || op > OP_PONG)
		fail(ws, CEE_WS_PROTOCOL_ERROR, "reserved opcode");
	else if (!ws->client && !(b1 & 0x80))
		fail(ws, CEE_WS_PROTOCOL_ERROR, "unmasked frame"); // 5.1
	else if (ws->client && (b1 & 0x80))
		fail(ws, CEE_WS_PROTOCOL_ERROR, "masked frame");
	else if (is_control(op) && !(b0 & 0x80))
		fail(ws, CEE_WS_PROTOCOL_ERROR, "fragmented control frame"); // 5.5
	else if (is_control(op) && (b1 & 0x7f) > CTL_MAX)
		fail(ws, CEE_WS_PROTOCOL_ERROR, "control frame too long");
	else if (!data_ok && op == OP_CONT && ws->msg_op == 0)
		fail(ws, CEE_WS_PROTOCOL_ERROR, "continuation without a message"); // 5.4
	else if (!data_ok && (op == OP_TEXT || op == OP_BINARY) && ws->msg_op != 0)
		fail(ws, CEE_WS_PROTOCOL_ERROR, "new message inside a fragmented one");
	else
		return true;
	return false;
}

static uint32_t hdr_need(const struct cee_ws *ws)
{
	uint8_t l7;

	if (ws->hdr_len < 2)
		return 2;
	l7 = ws->hdr[1] & 0x7f;
	return 2u + (l7 == 126 ? 2u : l7 == 127 ? 8u : 0u) + ((ws->hdr[1] & 0x80) ? 4u : 0u);
}

// The header is complete. @return false when the connection ended.
static bool frame_begin(struct cee_ws *ws)
{
	const uint8_t *h = ws->hdr;
	uint64_t len = h[1] & 0x7f;
	uint32_t off = 2;

	if (len == 126) {
		len = (uint64_t)h[2] << 8 | h[3];
		off = 4;
	} else if (len == 127) {
		len = 0;
		for (int i = 0; i < 8; i++)
			len = len << 8 | h[2 + i];
		off = 10;
		if (len >> 63) { // 5.2: the most significant bit MUST be 0
			fail(ws, CEE_WS_PROTOCOL_ERROR, "64-bit length with the top bit set");
			return false;
		}
	}
	ws->op = h[0] & 0x0f;
	ws->fin = (h[0] & 0x80) != 0;
	ws->masked = (h[1] & 0x80) != 0;
	if (ws->masked)
		memcpy(ws->mask, h + off, 4);
	ws->hdr_len = 0;
	ws->left = len;
	ws->got = 0;
	if (is_control(ws->op)) {
		ws->payload = PAY_CONTROL;
	} else if (ws->state == WS_EXPECT_CLOSE) {
		ws->payload = PAY_DISCARD;
	} else {
		if (len > ws->ctx->cfg.max_frame) {
			fail(ws, CEE_WS_TOO_BIG, "frame too big");
			return false;
		}
		if (ws->msg_len + len > ws->ctx->cfg.max_message) {
			fail(ws, CEE_WS_TOO_BIG, "message too big");
			return false;
		}
		if (ws->op != OP_CONT) {
			ws->msg_op = ws->op;
			ws->msg_len = 0;
			ws->u8 = (struct utf8){0};
		}
		ws->payload = PAY_DATA;
	}
	ws->in_payload = true;
	return true;
}

// A complete message: one io.up (RFC 6455 6.2).
static void message_done(struct cee_ws *ws, const uint8_t *p, uint32_t n)
{
	bool text = ws->msg_op == OP_TEXT;

	if (text && ws->u8.need != 0) {
		fail(ws, CEE_WS_BAD_DATA, "invalid UTF-8"); // 8.1: ends inside a character
		return;
	}
	ws->msg_op = 0;
	ws->msg_len = 0;
	ws->ctx->stats.messages_in++;
	ws->up_text = text;
	ws->in_up = true;
	ws->io.up(ws->io.arg, p, n);
	ws->in_up = false;
	if (ws->state == WS_ENDED)
		buf_give(ws);
	else
		buf_release_idle(ws);
}

// Payload bytes of a data frame. @return bytes used.
static uint32_t data_payload(struct cee_ws *ws, const uint8_t *p, uint32_t n)
{
	struct cee_ws_ctx *ctx = ws->ctx;
	bool text = ws->msg_op == OP_TEXT;
	uint32_t left = (uint32_t)ws->left, k;
	uint8_t *dst;

	if (ws->fin && ws->msg_len == 0 && ws->got == 0 && left <= n && ws->buf == NULL) {
		// A whole one-frame message in this input: no buffer. Unmasked
		// (client side) it goes up in place; masked, through scratch.
		const uint8_t *m = p;
		bool scratch = false;

		if (ws->masked && left > 0) {
			if (!ctx->scratch_busy) {
				scratch = ctx->scratch_busy = true;
				dst = ctx->scratch;
			} else if (buf_take(ws)) {
				dst = ws->buf;
			} else {
				fail(ws, CEE_WS_TRY_AGAIN, "no buffer");
				return n;
			}
			unmask(dst, p, left, ws->mask, 0);
			m = dst;
		}
		ws->left = 0;
		ws->in_payload = false;
		if (text && !utf8_step(&ws->u8, m, left))
			fail(ws, CEE_WS_BAD_DATA, "invalid UTF-8");
		else
			message_done(ws, left > 0 ? m : (const uint8_t *)"", left);
		if (scratch)
			ctx->scratch_busy = false;
		if (ws->state == WS_ENDED)
			buf_give(ws);
		else
			buf_release_idle(ws);
		return left;
	}
	k = left < n ? left : n;
	if (k > 0 && ws->buf == NULL && !buf_take(ws)) {
		fail(ws, CEE_WS_TRY_AGAIN, "no buffer");
		return n;
	}
	if (k > 0) {
		dst = ws->buf + ws->msg_len;
		if (ws->masked)
			unmask(dst, p, k, ws->mask, ws->got);
		else
			memcpy(dst, p, k);
		if (text && !utf8_step(&ws->u8, dst, k)) {
			fail(ws, CEE_WS_BAD_DATA, "invalid UTF-8"); // 8.1: fail fast
			return n;
		}
		ws->msg_len += k;
		ws->got += k;
		ws->left -= k;
	}
	if (ws->left == 0) {
		ws->in_payload = false;
		if (ws->fin)
			message_done(ws, ws->buf != NULL ? ws->buf : (const uint8_t *)"",
				     ws->msg_len);
	}
	return k;
}

// Payload bytes of a control frame. @return bytes used.
static uint32_t control_payload(struct cee_ws *ws, const uint8_t *p, uint32_t n)
{
	uint8_t c[CTL_MAX];
	uint32_t left = (uint32_t)ws->left, k;

	if (ws->got == 0 && left <= n) {
		unmask(c, p, left, ws->masked ? ws->mask : (const uint8_t[4]){0}, 0);
		ws->left = 0;
		ws->in_payload = false;
		on_control(ws, c, left);
		return left;
	}
	if (n == 0)
		return 0; // the header ended the input: nothing to keep yet
	// Split across inputs: the tail of a buffer keeps it (the message
	// area, if one is open, stays as it is). (Taken for an input that ended
	// at the header, it stayed taken once the whole payload came next: the
	// message timer then closed an idle connection with 1008.)
	if (ws->buf == NULL && !buf_take(ws)) {
		fail(ws, CEE_WS_TRY_AGAIN, "no buffer");
		return n;
	}
	k = left < n ? left : n;
	unmask(ctl_area(ws) + ws->got, p, k, ws->masked ? ws->mask : (const uint8_t[4]){0},
	       ws->got);
	ws->got += k;
	ws->left -= k;
	if (ws->left == 0) {
		memcpy(c, ctl_area(ws), ws->got);
		ws->in_payload = false;
		buf_release_idle(ws);
		on_control(ws, c, ws->got);
	}
	return k;
}

static bool receiving(const struct cee_ws *ws)
{
	return ws->state == WS_EXPECT_FRAMES || ws->state == WS_EXPECT_CLOSE;
}

static void frames_input(struct cee_ws *ws, const uint8_t *p, uint32_t n)
{
	while (receiving(ws)) {
		uint32_t k = 0;

		if (!ws->in_payload) {
			uint32_t before = ws->hdr_len;

			if (n == 0)
				return;
			k = hdr_need(ws) - ws->hdr_len;
			k = k < n ? k : n;
			memcpy(ws->hdr + ws->hdr_len, p, k);
			ws->hdr_len = (uint8_t)(ws->hdr_len + k);
			p += k;
			n -= k;
			if (before < 2 && ws->hdr_len >= 2 && !check_start(ws))
				return;
			if (ws->hdr_len == hdr_need(ws) && !frame_begin(ws))
				return;
			continue;
		}
		switch ((enum ws_payload)ws->payload) {
		case PAY_DATA:
			k = data_payload(ws, p, n);
			break;
		case PAY_CONTROL:
			k = control_payload(ws, p, n);
			break;
		case PAY_DISCARD:
			k = ws->left < n ? (uint32_t)ws->left : n;
			ws->left -= k;
			if (ws->left == 0)
				ws->in_payload = false;
			break;
		}
		p += k;
		n -= k;
		if (ws->in_payload && n == 0)
			return;
	}
}

// ---- connections ----

static struct cee_ws *conn_alloc(struct cee_ws_ctx *ctx, const struct cee_layer_io *io)
{
	struct cee_ws *ws = ctx->free_head;

	if (io == NULL || io->down == NULL || io->up == NULL || io->close == NULL) {
		errno = EINVAL;
		return NULL;
	}
	if (ws == NULL) {
		ctx->stats.no_slot++;
		errno = ENOSPC;
		return NULL;
	}
	ctx->free_head = ws->next_free;
	memset(ws, 0, sizeof(*ws));
	ws->ctx = ctx;
	ws->io = *io;
	ws->in_use = true;
	return ws;
}

struct cee_ws *cee_ws_new(struct cee_ws_ctx *ctx, const struct cee_layer_io *io, uint64_t now_ns)
{
	struct cee_ws *ws = conn_alloc(ctx, io);

	if (ws == NULL)
		return NULL;
	ws->state = WS_EXPECT_REQUEST;
	ws->t_ref = now_ns;
	return ws;
}

void cee_ws_free(struct cee_ws *ws)
{
	struct cee_ws_ctx *ctx;

	if (ws == NULL || !ws->in_use)
		return;
	ctx = ws->ctx;
	buf_give(ws);
	memset(ws, 0, sizeof(*ws));
	ws->ctx = ctx;
	ws->next_free = ctx->free_head;
	ctx->free_head = ws;
}

int cee_ws_input(struct cee_ws *ws, const uint8_t *data, uint32_t len, uint64_t now_ns)
{
	uint32_t used;

	ws->now_in = now_ns;
	switch ((enum ws_state)ws->state) {
	case WS_EXPECT_START:
		return -EINVAL;
	case WS_ENDED:
		return -ENOTCONN;
	case WS_EXPECT_REQUEST:
	case WS_EXPECT_RESPONSE:
		if (len == 0)
			return 0;
		used = handshake_input(ws, data, len);
		data += used;
		len -= used;
		if (ws->state == WS_EXPECT_FRAMES) {
			ws->t_ref = now_ns;
			ws->buf_since_ns = now_ns; // a message's time starts when it can
		}
		break;
	case WS_EXPECT_FRAMES:
		if (len == 0)
			return 0;
		// any byte from the peer answers our ping (pong_timeout_ns)
		ws->t_ref = now_ns;
		ws->ping_outstanding = false;
		break;
	case WS_EXPECT_CLOSE:
		break;
	}
	if (len > 0 && receiving(ws)) {
		frames_input(ws, data, len);
		flush_pong(ws);
	}
	return ws->state == WS_ENDED ? -EPROTO : 0;
}

uint32_t cee_ws_held(const struct cee_ws *ws)
{
	return ws->msg_op != 0 ? ws->msg_len : 0;
}

bool cee_ws_msg_text(const struct cee_ws *ws)
{
	return ws->up_text;
}

bool cee_ws_sends(const struct cee_ws *ws)
{
	return ws->state == WS_EXPECT_FRAMES;
}

int cee_ws_send(struct cee_ws *ws, const uint8_t *data, uint32_t len, bool text, uint64_t now_ns)
{
	(void)now_ns;
	if (ws->state != WS_EXPECT_FRAMES)
		return -ENOTCONN;
	if (len > INT32_MAX)
		return -EINVAL;
	if (send_frame(ws, text ? OP_TEXT : OP_BINARY, data, len) < 0) {
		// part of the frame may be on the wire: the stream is broken
		ws_set_state(ws, WS_ENDED, CEE_REASON_NONE);
		return -ENOBUFS;
	}
	ws->ctx->stats.messages_out++;
	return (int)len;
}

void cee_ws_shutdown(struct cee_ws *ws, uint16_t code, const char *reason, uint64_t now_ns)
{
	switch ((enum ws_state)ws->state) {
	case WS_EXPECT_START:
	case WS_EXPECT_REQUEST:
	case WS_EXPECT_RESPONSE:
		ws_set_state(ws, WS_ENDED, CEE_REASON_NONE);
		return;
	case WS_EXPECT_CLOSE:
	case WS_ENDED:
		return;
	case WS_EXPECT_FRAMES:
		break;
	}
	// 7.4.1: 1005, 1006 and 1015 are never sent: a Close without a code.
	// From an embedder's call, another code a peer would refuse (below
	// 1000, 1004, 1016-2999, from 5000) goes as 1000, and a reason that is
	// not UTF-8 (5.5.1) is left out: each on its own, not a clean close
	// turned into the peer's protocol error
	if (code == CEE_WS_NO_STATUS || code == CEE_WS_ABNORMAL || code == 1015)
		code = 0;
	else if (code != 0 && !close_code_ok(code))
		code = CEE_WS_NORMAL;
	if (reason != NULL && !utf8_whole((const uint8_t *)reason, strlen(reason)))
		reason = NULL;
	// the Pong owed for this input's ping goes before our Close (the
	// service closing from io.up): a peer may stop reading at our Close
	flush_pong(ws);
	if (ws->state != WS_EXPECT_FRAMES)
		return; // (it could not go: ended, no_resources)
	ws->info.code = code != 0 ? code : CEE_WS_NO_STATUS;
	if (send_close(ws, code, reason) < 0) {
		ws_set_state(ws, WS_ENDED, CEE_REASON_NO_RESOURCES);
		return;
	}
	// A message still open will never complete: data is discarded now,
	// the rest of a frame under way included.
	if (ws->in_payload && ws->payload == PAY_DATA)
		ws->payload = PAY_DISCARD;
	ws->msg_op = 0;
	ws->msg_len = 0;
	ws->ping_outstanding = false;
	ws->t_ref = now_ns;
	ws_set_state(ws, WS_EXPECT_CLOSE, CEE_REASON_NONE);
	buf_release_idle(ws);
}

void cee_ws_below_gone(struct cee_ws *ws)
{
	ws->below_gone = true;
}

bool cee_ws_eof(struct cee_ws *ws)
{
	bool abnormal = !ws->info.close_received;

	if (ws->eof)
		return abnormal;
	ws->eof = true;
	if (abnormal)
		ws->info.clean = false;
	if (ws->state != WS_ENDED)
		ws_set_state(ws, WS_ENDED, CEE_REASON_NONE); // info.code 1006 unless set
	return abnormal;
}

bool cee_ws_answer_owed(const struct cee_ws *ws, uint64_t now_ns)
{
	if (ws->close_timed_out) // (its wait was the close timeout: 5 s, not 10)
		return false;
	// a Pong still on its way: to a Ping of the last pong timeout (a peer
	// that chats and never sends one is not waited for at every close)
	bool pong = ws->pong_due && now_ns - ws->ping_sent_ns < ws->ctx->cfg.pong_timeout_ns;
	return (ws->info.close_sent && !ws->info.close_received) || pong;
}

uint64_t cee_ws_deadline(const struct cee_ws *ws)
{
	const struct cee_ws_cfg *cfg = &ws->ctx->cfg;

	switch ((enum ws_state)ws->state) {
	case WS_EXPECT_FRAMES: {
		uint64_t due = ws->ping_outstanding	   ? ws->t_ref + cfg->pong_timeout_ns
			       : cfg->ping_interval_ns != 0 ? ws->t_ref + cfg->ping_interval_ns
							    : 0;
		if (ws->buf != NULL) { // a message begun: it must end in time
			uint64_t msg = ws->buf_since_ns + cfg->message_timeout_ns;
			if (due == 0 || msg < due)
				due = msg;
		}
		return due;
	}
	case WS_EXPECT_CLOSE:
		return ws->t_ref + cfg->close_timeout_ns;
	case WS_EXPECT_START:
	case WS_EXPECT_REQUEST:
	case WS_EXPECT_RESPONSE:
	case WS_ENDED:
		return 0;
	}
	return 0;
}

void cee_ws_timer(struct cee_ws *ws, uint64_t now_ns)
{
	uint64_t due = cee_ws_deadline(ws);

	if (due == 0 || now_ns < due)
		return;
	if (ws->state == WS_EXPECT_FRAMES && ws->buf != NULL &&
	    now_ns - ws->buf_since_ns >= ws->ctx->cfg.message_timeout_ns) {
		// a message begun and never finished holds a buffer of a small pool
		ws->ctx->stats.message_timeouts++; // and a protocol error (fail())
		fail(ws, CEE_WS_POLICY, "message timeout");
		return;
	}
	if (ws->state == WS_EXPECT_CLOSE) {
		ws->close_timed_out = true; // (waited for: nothing more is owed)
		ws->info.clean = false; // no answer to our Close
		ws_set_state(ws, WS_ENDED, CEE_REASON_WS_CLOSE);
	} else if (ws->ping_outstanding) {
		ws->ctx->stats.ping_timeouts++;
		ws->info.code = CEE_WS_ABNORMAL;
		ws->info.clean = false;
		ws_set_state(ws, WS_ENDED, CEE_REASON_WS_PING_TIMEOUT);
	} else if (send_frame(ws, OP_PING, NULL, 0) < 0) {
		ws_set_state(ws, WS_ENDED, CEE_REASON_NO_RESOURCES);
	} else {
		ws->ctx->stats.pings_sent++;
		ws->ping_outstanding = true;
		ws->pong_due = true;
		ws->ping_sent_ns = now_ns;
		ws->t_ref = now_ns;
	}
}

void cee_ws_get_info(const struct cee_ws *ws, struct cee_ws_info *info)
{
	*info = ws->info;
}

// ---- client role ----

struct cee_ws *cee_ws_new_client(struct cee_ws_ctx *ctx, const struct cee_layer_io *io,
				 const char *host, const char *path, const char *subprotocol,
				 uint64_t now_ns)
{
	struct cee_ws *ws;
	uint8_t raw[16];
	char key[KEY_B64 + 1];
	int n;

	if (host == NULL || path == NULL || path[0] != '/' ||
	    strlen(host) + strlen(path) > ctx->cfg.max_header - 256 ||
	    (subprotocol != NULL && strlen(subprotocol) >= BUF_EXTRA - PREFIX_SUB)) {
		errno = EINVAL;
		return NULL;
	}
	ws = conn_alloc(ctx, io);
	if (ws == NULL)
		return NULL;
	ws->client = true;
	ws->state = WS_EXPECT_START;
	ws->t_ref = now_ns;
	ws->now_in = now_ns;
	// (a buffer free now, or none: a connection that may not open yet
	// takes none back from a live one)
	if (!buf_pop(ws)) {
		ctx->stats.no_buffer++;
		cee_ws_free(ws);
		errno = ENOSPC;
		return NULL;
	}
	for (int i = 0; i < 16; i += 8) {
		uint64_t r = rng_next(ctx);
		memcpy(raw + i, &r, 8);
	}
	// "" is none: an empty Sec-WebSocket-Protocol header is invalid (RFC
	// 6455 4.1: a list of at least one token), and strict servers answer 400
	if (subprotocol != NULL && subprotocol[0] == '\0')
		subprotocol = NULL;
	b64_encode(raw, sizeof(raw), key);
	accept_key(key, KEY_B64, (char *)ws->buf + PREFIX_ACCEPT);
	set_field((char *)ws->buf + PREFIX_SUB, BUF_EXTRA - PREFIX_SUB,
		  subprotocol != NULL ? subprotocol : "",
		  subprotocol != NULL ? strlen(subprotocol) : 0);
	set_field(ws->info.path, sizeof(ws->info.path), path, strlen(path));
	n = snprintf((char *)hs_area(ws), hs_cap(ws),
		     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s%s%s\r\n",
		     path, host, key, subprotocol != NULL ? "Sec-WebSocket-Protocol: " : "",
		     subprotocol != NULL ? subprotocol : "", subprotocol != NULL ? "\r\n" : "");
	if (n < 0 || (uint32_t)n >= hs_cap(ws)) { // cut: never send a partial request
		cee_ws_free(ws);
		errno = EINVAL;
		return NULL;
	}
	ws->buf_len = (uint32_t)n;
	return ws;
}

int cee_ws_start(struct cee_ws *ws, uint64_t now_ns)
{
	uint32_t n = ws->buf_len;

	if (!ws->client)
		return -EINVAL;
	if (ws->state != WS_EXPECT_START)
		return -EALREADY;
	ws->t_ref = now_ns;
	ws->buf_len = 0; // the area now collects the response
	ws_set_state(ws, WS_EXPECT_RESPONSE, CEE_REASON_NONE);
	if (down_all(ws, hs_area(ws), n) < 0) {
		ws_set_state(ws, WS_ENDED, CEE_REASON_NONE);
		return -ENOBUFS;
	}
	return 0;
}
