/* SPDX-License-Identifier: BSD-3-Clause */
// Fuzz target: the WebSocket layer (dataplane/ws/cee_ws.c), server side:
// hostile bytes as the HTTP/1.1 upgrade request and the frames after it,
// cut into chunks anywhere, with time passing between chunks (pings, pong
// and close timeouts fire).
//
// Input: one byte of settings (which context: defaults with "sip"; an
// Origin allow-list, path /sip, small header/frame/message limits and
// pings; no subprotocol and a single reassembly buffer; echo messages; end
// with the peer's FIN; a local close half-way; another connection of the
// one-buffer context holding its buffer 2 s already, so that the first the
// input needs is taken back from it), one byte seeding chunk
// sizes and time steps (0: all at once, no time), then the bytes.
// Checked: the layer contract (tests/fuzz/fuzz_layer.h: ws_up at most
// once, nothing up before it, io.close at most once with a WebSocket
// reason, nothing down after it, input refused after the end); text
// messages going up are UTF-8; what the server sent (tests/fuzz/fuzz_ws.h)
// is an HTTP head then well-formed unmasked frames; an upgrade refused
// ends with a 4xx and the upgrade_failed reason; cee_ws_get_info strings
// NUL-terminated; every pool buffer is back after cee_ws_free; a holder
// whose buffer was taken back ended with Close 1013 and no_resources, under
// the same contract.
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_ws.h"

#define NCTX 3
static struct cee_ws_ctx *ctxs[NCTX];
static uint32_t bufs0[NCTX];
static struct fuzz_end end, hold_end;

// The holder: upgraded, then a text frame of 100 bytes begun with 10.
static const char hold_req[] = "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
			       "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			       "Sec-WebSocket-Version: 13\r\n\r\n";
static const enum cee_reason hold_reasons[] = {CEE_REASON_NO_RESOURCES};
static const uint8_t hold_frame[16] = {0x81, 0x80 | 100, 0, 0, 0, 0, 'a', 'a', 'a', 'a',
				       'a', 'a', 'a', 'a', 'a', 'a'};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	char err[256];
	struct cee_ws_cfg cfg[NCTX] = {
	    {.subprotocol = "sip", .max_conns = 2},
	    {.path = "/sip",
	     .subprotocol = "sip",
	     .origins = "https://a.example.test,https://b.example.test",
	     .max_header = 512,
	     .max_frame = 125,
	     .max_message = 300,
	     .ping_interval_ns = 2 * SEC,
	     .pong_timeout_ns = 1 * SEC,
	     .close_timeout_ns = 1 * SEC,
	     .max_conns = 2},
	    {.subprotocol = NULL,
	     .max_conns = 2,
	     .buffers = 1,
	     .max_message = 4096,
	     .max_frame = 1024},
	};
	for (unsigned i = 0; i < NCTX; i++) {
		ctxs[i] = cee_ws_ctx_create(&cfg[i], err, sizeof(err));
		if (ctxs[i] == NULL) {
			fprintf(stderr, "fuzz_ws: context %u: %s\n", i, err);
			abort();
		}
		bufs0[i] = cee_ws_ctx_buffers_free(ctxs[i]);
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
	unsigned ci = (opt & 0x20) ? 2 : (opt & 3) % NCTX;
	struct cee_ws *holder = NULL;

	ws_now = 1000 * SEC;
	if (opt & 0x20) {
		fuzz_end_reset(&hold_end, CEE_EVT_WS_UP, hold_reasons, 1);
		struct cee_layer_io hio = fuzz_end_io(&hold_end);
		holder = cee_ws_new(ctxs[ci], &hio, ws_now - 2 * SEC);
		FUZZ_CHECK(holder != NULL, "cee_ws_new (holder): errno %d", errno);
		hold_end.layer = holder;
		hold_end.on_up = ws_up_check;
		FUZZ_CHECK(cee_ws_input(holder, (const uint8_t *)hold_req, sizeof(hold_req) - 1,
					ws_now - 2 * SEC) == 0 &&
			       cee_ws_input(holder, hold_frame, sizeof(hold_frame), ws_now - 2 * SEC) == 0,
			   "holder refused");
		FUZZ_CHECK(cee_ws_ctx_buffers_free(ctxs[ci]) == 0, "the holder holds no buffer");
	}
	fuzz_end_reset(&end, CEE_EVT_WS_UP, ws_reasons, 4);
	struct cee_layer_io io = fuzz_end_io(&end);
	struct cee_ws *ws = cee_ws_new(ctxs[ci], &io, ws_now);
	FUZZ_CHECK(ws != NULL, "cee_ws_new: errno %d", errno);
	end.layer = ws;
	end.on_up = (opt & 4) ? ws_up_echo : ws_up_check;

	bool ended = false, shut = false;
	for (size_t off = 0; off < len && !ended;) {
		size_t n = rng == 0 ? len - off : 1 + (size_t)(fuzz_rng(&rng) % 200);
		if (n > len - off)
			n = len - off;
		int rc = cee_ws_input(ws, in + off, (uint32_t)n, ws_now);
		FUZZ_CHECK(rc == 0 || rc == -EPROTO || rc == -ENOTCONN, "cee_ws_input: %d", rc);
		if (rc == -EPROTO)
			FUZZ_CHECK(end.closes == 1, "-EPROTO without io.close");
		if (rc < 0) {
			ended = true;
			// a local close before ws_up ends the layer without io.close
			FUZZ_CHECK(end.closes == 1 || shut, "input refused (%d) without io.close",
				   rc);
			FUZZ_CHECK(cee_ws_input(ws, in + off, (uint32_t)n, ws_now) == -ENOTCONN,
				   "input taken after the end");
		}
		off += n;
		if ((opt & 0x10) && !shut && off >= len / 2 && end.closes == 0) {
			cee_ws_shutdown(ws, CEE_WS_GOING_AWAY, "bye", ws_now);
			shut = true;
		}
		if (rng != 0) { // time passes; due timers run
			ws_now += (fuzz_rng(&rng) % 4000) * 1000000ull;
			uint64_t at = cee_ws_deadline(ws);
			if (at != 0 && at <= ws_now)
				cee_ws_timer(ws, ws_now);
		}
		ws_check_info(ws, &end);
	}
	if ((opt & 8) && end.closes == 0)
		(void)cee_ws_eof(ws);
	// the peer goes silent: the deadlines that remain run out
	for (int i = 0; i < 16 && end.closes == 0; i++) {
		uint64_t at = cee_ws_deadline(ws);
		if (at == 0)
			break;
		if (at > ws_now)
			ws_now = at;
		cee_ws_timer(ws, ws_now);
	}
	ws_check_info(ws, &end);
	unsigned status = ws_check_down(&end, false, end.milestones == 1);
	if (end.closes && end.reason == CEE_REASON_WS_UPGRADE_FAILED && status != 0)
		FUZZ_CHECK(status >= 400 && status < 500, "upgrade refused with %u", status);
	if (end.milestones == 1)
		FUZZ_CHECK(status == 101, "ws_up with status %u", status);
	cee_ws_free(ws);
	if (holder != NULL) {
		ws_check_info(holder, &hold_end);
		(void)ws_check_down(&hold_end, false, true);
		if (hold_end.closes) {
			struct cee_ws_info hi;
			cee_ws_get_info(holder, &hi);
			FUZZ_CHECK(hi.code == CEE_WS_TRY_AGAIN, "holder ended with code %u", hi.code);
		}
		cee_ws_free(holder);
	}
	FUZZ_CHECK(cee_ws_ctx_buffers_free(ctxs[ci]) == bufs0[ci],
		   "%u of %u buffers free after free", cee_ws_ctx_buffers_free(ctxs[ci]),
		   bufs0[ci]);
	return 0;
}
