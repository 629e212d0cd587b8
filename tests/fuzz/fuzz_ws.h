/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

/*
 * Shared by fuzz_ws.c and fuzz_ws_client.c: the layer around one cee_ws,
 * and a check of what it sent down: an HTTP/1.1 head (the 101 or an error
 * status for a server, the upgrade request for a client), then RFC 6455
 * frames: no reserved bits, known opcodes, masked exactly when the client
 * sends, control frames whole and at most 125 bytes, lengths in their
 * shortest form, Close payloads with a code allowed on the wire and a UTF-8
 * reason, text messages in UTF-8, nothing but Pongs after a Close.
 */

#include "cee_ws.h"
#include "fuzz.h"
#include "fuzz_layer.h"

#define SEC 1000000000ull

static const enum cee_reason ws_reasons[] = {CEE_REASON_WS_CLOSE, CEE_REASON_PROTOCOL_ERROR,
					     CEE_REASON_WS_UPGRADE_FAILED,
					     CEE_REASON_WS_PING_TIMEOUT};

static uint64_t ws_now;

/* Messages going up: text is UTF-8 (the layer answers bad text with 1007). */
static void ws_up_check(struct fuzz_end *e, const uint8_t *data, uint32_t len)
{
	struct cee_ws *ws = e->layer;
	bool text = cee_ws_msg_text(ws);
	if (text)
		FUZZ_CHECK(fuzz_utf8_ok(data, len), "a text message of %u bytes is not UTF-8", len);
}

static void ws_up_echo(struct fuzz_end *e, const uint8_t *data, uint32_t len)
{
	struct cee_ws *ws = e->layer;
	bool text = cee_ws_msg_text(ws);
	ws_up_check(e, data, len);
	int rc = cee_ws_send(ws, data, len, text, ws_now);
	FUZZ_CHECK(rc == (int)len || rc == -ENOTCONN, "echo: cee_ws_send %d", rc);
}

static bool close_code_ok(unsigned code)
{
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
	       (code >= 3000 && code <= 4999);
}

/*
 * Check @p e's output: @p masked for a client. @return the HTTP status of
 * a server's head (0 for a client, or when no head was sent).
 */
static unsigned ws_check_down(const struct fuzz_end *e, bool masked, bool up)
{
	if (e->down_len == 0)
		return 0;
	const uint8_t *p = e->down, *end = e->down + e->down_len;
	unsigned status = 0;
	// the HTTP head
	const char *want = masked ? "GET " : "HTTP/1.1 ";
	FUZZ_CHECK(e->down_len >= strlen(want) && memcmp(p, want, strlen(want)) == 0,
		   "output does not start with %s", want);
	const uint8_t *h = NULL;
	for (const uint8_t *q = p; q + 4 <= end; q++)
		if (memcmp(q, "\r\n\r\n", 4) == 0) {
			h = q + 4;
			break;
		}
	FUZZ_CHECK(h != NULL, "HTTP head without its end");
	if (!masked) {
		FUZZ_CHECK(e->down_len >= 12 && p[9] >= '1' && p[9] <= '5' && p[10] >= '0' &&
			       p[10] <= '9' && p[11] >= '0' && p[11] <= '9',
			   "bad status line");
		status = (unsigned)(p[9] - '0') * 100 + (unsigned)(p[10] - '0') * 10 +
			 (unsigned)(p[11] - '0');
		if (status != 101)
			FUZZ_CHECK(h == end, "%zu bytes after a %u answer", (size_t)(end - h),
				   status);
	}
	if (!up) {
		// a client that was not answered with a good 101 sends no frame
		FUZZ_CHECK(h == end || !masked, "frames before the upgrade completed");
		if (!masked && status != 101)
			return status;
	}
	// the frames
	bool closed = false, in_msg = false, msg_text = false;
	static uint8_t msg[1 << 20];
	size_t msg_len = 0;
	for (p = h; p < end;) {
		FUZZ_CHECK(end - p >= 2, "truncated frame header");
		uint8_t b0 = p[0], b1 = p[1];
		bool fin = b0 & 0x80;
		unsigned op = b0 & 0x0f;
		// after our Close, Pongs only (RFC 6455 5.5.1 forbids data frames
		// then, and 5.5.2 owes a Pong to a Ping that came before the
		// peer's Close)
		FUZZ_CHECK(!closed || op == 10, "a frame (opcode %u) after our Close", op);
		FUZZ_CHECK((b0 & 0x70) == 0, "reserved bits %02x", b0);
		FUZZ_CHECK(op <= 2 || (op >= 8 && op <= 10), "opcode %u", op);
		FUZZ_CHECK(!!(b1 & 0x80) == masked, "mask bit %d, expected %d", !!(b1 & 0x80),
			   masked);
		uint64_t len = b1 & 0x7f;
		const uint8_t *q = p + 2;
		if (len == 126) {
			FUZZ_CHECK(end - q >= 2, "truncated length");
			len = (uint64_t)q[0] << 8 | q[1];
			FUZZ_CHECK(len >= 126, "16-bit length %llu not minimal",
				   (unsigned long long)len);
			q += 2;
		} else if (len == 127) {
			FUZZ_CHECK(end - q >= 8, "truncated length");
			len = 0;
			for (int i = 0; i < 8; i++)
				len = len << 8 | q[i];
			FUZZ_CHECK(len > 0xffff && len < (1ull << 63), "64-bit length %llu",
				   (unsigned long long)len);
			q += 8;
		}
		uint8_t key[4] = {0, 0, 0, 0};
		if (masked) {
			FUZZ_CHECK(end - q >= 4, "truncated mask");
			memcpy(key, q, 4);
			q += 4;
		}
		FUZZ_CHECK((uint64_t)(end - q) >= len, "truncated payload");
		uint8_t pl[125];
		if (op >= 8) {
			FUZZ_CHECK(fin && len <= 125, "control frame %u: fin %d, %llu bytes", op,
				   fin, (unsigned long long)len);
			for (uint64_t i = 0; i < len; i++)
				pl[i] = q[i] ^ key[i % 4];
			if (op == 8) {
				FUZZ_CHECK(len != 1, "Close with one byte");
				if (len >= 2) {
					unsigned code = (unsigned)pl[0] << 8 | pl[1];
					FUZZ_CHECK(close_code_ok(code), "Close code %u on the wire",
						   code);
					FUZZ_CHECK(fuzz_utf8_ok(pl + 2, (size_t)len - 2),
						   "Close reason not UTF-8");
				}
				closed = true;
			}
		} else {
			FUZZ_CHECK(op == 0 ? in_msg : !in_msg, "opcode %u %s a message", op,
				   in_msg ? "inside" : "outside");
			if (op != 0) {
				msg_text = op == 1;
				msg_len = 0;
			}
			in_msg = !fin;
			for (uint64_t i = 0; i < len && msg_len < sizeof(msg); i++)
				msg[msg_len++] = q[i] ^ key[i % 4];
			if (fin && msg_text)
				FUZZ_CHECK(fuzz_utf8_ok(msg, msg_len), "sent text not UTF-8");
		}
		p = q + len;
	}
	return status;
}

static void ws_check_info(const struct cee_ws *ws, const struct fuzz_end *e)
{
	struct cee_ws_info info;
	cee_ws_get_info(ws, &info);
	FUZZ_CHECK_CSTR(info.reason);
	FUZZ_CHECK_CSTR(info.path);
	FUZZ_CHECK_CSTR(info.subprotocol);
	FUZZ_CHECK_CSTR(info.origin);
	FUZZ_CHECK_CSTR(info.user_agent);
	FUZZ_CHECK(info.up == (e->milestones == 1), "info.up %d, milestones %u", info.up,
		   e->milestones);
	FUZZ_CHECK(!info.clean || (info.close_received && info.close_sent),
		   "clean without both Close frames");
}
