/* SPDX-License-Identifier: BSD-3-Clause */
// Fuzz target: the WebSocket layer (dataplane/ws/cee_ws.c), client side,
// as cee-bench and outbound links use it: the upgrade request goes out,
// then hostile bytes come back as the server's answer (status line,
// headers, Sec-WebSocket-Accept, subprotocol) and its frames.
//
// The client context is made for each input with a fixed seed, so that its
// key (and the Sec-WebSocket-Accept that matches it) is the same every
// time: a seed with the right 101 gets through the upgrade.
// Input: one byte of settings (offer "sip" or nothing; echo messages; end
// with the peer's FIN; a local close half-way; pings every 2 s), one byte seeding chunk
// sizes and time steps (0: all at once, no time), then the bytes.
// Checked as for fuzz_ws.c, with the roles swapped: what the client sent
// is the GET request then masked frames, and no frame before a good 101.
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_ws.h"

static struct fuzz_end end;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	uint8_t opt = data[0];
	uint64_t rng = data[1];
	const uint8_t *in = data + 2;
	size_t len = size - 2;
	char err[256];

	struct cee_ws_cfg cfg = {.max_conns = 1,
				 .buffers = 1,
				 .max_header = 1024,
				 .max_frame = 2048,
				 .max_message = 4096,
				 .seed = 42,
				 .ping_interval_ns = (opt & 0x20) ? 2 * SEC : 0,
				 .pong_timeout_ns = SEC,
				 .close_timeout_ns = SEC};
	struct cee_ws_ctx *ctx = cee_ws_ctx_create(&cfg, err, sizeof(err));
	FUZZ_CHECK(ctx != NULL, "cee_ws_ctx_create: %s", err);
	uint32_t bufs0 = cee_ws_ctx_buffers_free(ctx);

	ws_now = 1000 * SEC;
	fuzz_end_reset(&end, CEE_EVT_WS_UP, ws_reasons, 4);
	struct cee_layer_io io = fuzz_end_io(&end);
	struct cee_ws *ws =
	    cee_ws_new_client(ctx, &io, "server.cee.test", "/", (opt & 1) ? NULL : "sip", ws_now);
	FUZZ_CHECK(ws != NULL, "cee_ws_new_client: errno %d", errno);
	end.layer = ws;
	end.on_up = (opt & 4) ? ws_up_echo : ws_up_check;
	FUZZ_CHECK(cee_ws_start(ws, ws_now) == 0, "cee_ws_start");

	bool ended = false, shut = false;
	for (size_t off = 0; off < len && !ended;) {
		size_t n = rng == 0 ? len - off : 1 + (size_t)(fuzz_rng(&rng) % 200);
		if (n > len - off)
			n = len - off;
		int rc = cee_ws_input(ws, in + off, (uint32_t)n, ws_now);
		FUZZ_CHECK(rc == 0 || rc == -EPROTO || rc == -ENOTCONN, "cee_ws_input: %d", rc);
		if (rc < 0) {
			ended = true;
			FUZZ_CHECK(end.closes == 1 || shut, "input refused (%d) without io.close",
				   rc);
		}
		off += n;
		if ((opt & 0x10) && !shut && off >= len / 2 && end.closes == 0) {
			cee_ws_shutdown(ws, CEE_WS_NORMAL, "done", ws_now);
			shut = true;
		}
		if (rng != 0) {
			ws_now += (fuzz_rng(&rng) % 4000) * 1000000ull;
			uint64_t at = cee_ws_deadline(ws);
			if (at != 0 && at <= ws_now)
				cee_ws_timer(ws, ws_now);
		}
		ws_check_info(ws, &end);
	}
	if ((opt & 8) && end.closes == 0)
		(void)cee_ws_eof(ws);
	for (int i = 0; i < 16 && end.closes == 0; i++) {
		uint64_t at = cee_ws_deadline(ws);
		if (at == 0)
			break;
		if (at > ws_now)
			ws_now = at;
		cee_ws_timer(ws, ws_now);
	}
	ws_check_info(ws, &end);
	(void)ws_check_down(&end, true, end.milestones == 1);
	cee_ws_free(ws);
	FUZZ_CHECK(cee_ws_ctx_buffers_free(ctx) == bufs0, "%u of %u buffers free after free",
		   cee_ws_ctx_buffers_free(ctx), bufs0);
	cee_ws_ctx_destroy(ctx);
	return 0;
}
