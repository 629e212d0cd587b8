/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

/*
 * The stack around one layer under test (TLS or WebSocket), as the shard
 * composes it (tls/cee_layer.h): records what the layer sends down and up,
 * its milestone and its close, and checks the layer contract as it goes:
 * one milestone of the expected type at most, nothing up before it, one
 * close at most with a reason the layer may give, nothing down after it.
 */

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cee_layer.h"
#include "fuzz.h"

struct fuzz_end {
	uint8_t *down; /* everything sent down */
	size_t down_len, down_cap;
	size_t up_total;
	unsigned up_calls;
	unsigned milestones, closes;
	enum cee_evt_type milestone_type; /* the one expected */
	enum cee_reason reason;
	size_t down_at_close;
	const enum cee_reason *reasons; /* the close reasons the layer may give */
	unsigned nreasons;
	/* what the stack does with plaintext/messages going up (NULL: keep nothing) */
	void (*on_up)(struct fuzz_end *e, const uint8_t *data, uint32_t len);
	void *layer;
};

static inline int fuzz_end_down(void *arg, const uint8_t *data, uint32_t len)
{
	struct fuzz_end *e = arg;
	FUZZ_CHECK(e->closes == 0, "%u bytes sent down after io.close", len);
	if (e->down_len + len > e->down_cap) {
		size_t cap = e->down_cap ? e->down_cap : 4096;
		while (cap < e->down_len + len)
			cap *= 2;
		uint8_t *p = realloc(e->down, cap);
		FUZZ_CHECK(p != NULL, "realloc");
		e->down = p;
		e->down_cap = cap;
	}
	if (len > 0)
		memcpy(e->down + e->down_len, data, len);
	e->down_len += len;
	return (int)len;
}

static inline void fuzz_end_up(void *arg, const uint8_t *data, uint32_t len)
{
	struct fuzz_end *e = arg;
	FUZZ_CHECK(e->milestones == 1, "%u bytes up before the milestone", len);
	FUZZ_CHECK(e->closes == 0, "%u bytes up after io.close", len);
	e->up_calls++;
	e->up_total += len;
	if (e->on_up != NULL)
		e->on_up(e, data, len);
}

static inline void fuzz_end_milestone(void *arg, enum cee_evt_type type)
{
	struct fuzz_end *e = arg;
	FUZZ_CHECK(type == e->milestone_type, "milestone %s, expected %s", cee_evt_type_str(type),
		   cee_evt_type_str(e->milestone_type));
	FUZZ_CHECK(e->milestones == 0, "second milestone");
	FUZZ_CHECK(e->closes == 0, "milestone after io.close");
	e->milestones++;
}

static inline void fuzz_end_close(void *arg, enum cee_reason reason)
{
	struct fuzz_end *e = arg;
	FUZZ_CHECK(e->closes == 0, "second io.close (%s after %s)", cee_reason_str(reason),
		   cee_reason_str(e->reason));
	bool known = false;
	for (unsigned i = 0; i < e->nreasons; i++)
		known |= e->reasons[i] == reason;
	FUZZ_CHECK(known, "close reason %s", cee_reason_str(reason));
	e->closes++;
	e->reason = reason;
	e->down_at_close = e->down_len;
}

static inline struct cee_layer_io fuzz_end_io(struct fuzz_end *e)
{
	return (struct cee_layer_io){
	    .down = fuzz_end_down,
	    .up = fuzz_end_up,
	    .milestone = fuzz_end_milestone,
	    .close = fuzz_end_close,
	    .arg = e,
	};
}

static inline void fuzz_end_reset(struct fuzz_end *e, enum cee_evt_type milestone,
				  const enum cee_reason *reasons, unsigned nreasons)
{
	uint8_t *down = e->down;
	size_t cap = e->down_cap;
	memset(e, 0, sizeof(*e));
	e->down = down; // keep the buffer between inputs
	e->down_cap = cap;
	e->milestone_type = milestone;
	e->reasons = reasons;
	e->nreasons = nreasons;
}

/* @p s is NUL-terminated within @p n bytes. */
#define FUZZ_CHECK_CSTR(s)                                                                         \
	FUZZ_CHECK(memchr((s), '\0', sizeof(s)) != NULL, #s " is not NUL-terminated")
