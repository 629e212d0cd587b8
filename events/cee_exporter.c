/* SPDX-License-Identifier: BSD-3-Clause */
// The exporter runs on the control thread only; it is the single consumer of
// every shard ring it holds.
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cee_exporter.h"

struct cee_exporter {
	struct cee_evring **rings;
	struct cee_sink **sinks;
	unsigned nrings;
	unsigned nsinks;
	unsigned next;     // ring the next poll starts with (round robin)
	// taken[ring * nsinks + sink]: last sseq that sink accepted from that ring.
	// When one sink fails, the batch stays in the ring and is offered again;
	// sinks that already took part of it are given only what they lack, so
	// every sink sees every event exactly once.
	uint64_t *taken;
	uint64_t exported; // events released after every sink took them
	cee_exporter_tap_fn tap;
	void *tap_arg;
};

struct cee_exporter *cee_exporter_create(struct cee_evring *const *rings, unsigned nrings,
					 struct cee_sink *const *sinks, unsigned nsinks)
{
	if ((nrings > 0 && rings == NULL) || (nsinks > 0 && sinks == NULL)) {
		errno = EINVAL;
		return NULL;
	}
	for (unsigned i = 0; i < nrings; i++)
		if (rings[i] == NULL) {
			errno = EINVAL;
			return NULL;
		}
	for (unsigned i = 0; i < nsinks; i++)
		if (sinks[i] == NULL) {
			errno = EINVAL;
			return NULL;
		}

	struct cee_exporter *x = calloc(1, sizeof(*x));
	if (x == NULL)
		goto nomem;
	x->rings = calloc(nrings > 0 ? nrings : 1, sizeof(*x->rings));
	x->sinks = calloc(nsinks > 0 ? nsinks : 1, sizeof(*x->sinks));
	x->taken = calloc((size_t)(nrings > 0 ? nrings : 1) * (nsinks > 0 ? nsinks : 1),
			  sizeof(*x->taken));
	if (x->rings == NULL || x->sinks == NULL || x->taken == NULL)
		goto nomem;
	if (nrings > 0)
		memcpy(x->rings, rings, nrings * sizeof(*rings));
	if (nsinks > 0)
		memcpy(x->sinks, sinks, nsinks * sizeof(*sinks));
	x->nrings = nrings;
	x->nsinks = nsinks;
	return x;
nomem:
	cee_exporter_destroy(x);
	errno = ENOMEM;
	return NULL;
}

void cee_exporter_set_tap(struct cee_exporter *x, cee_exporter_tap_fn fn, void *arg)
{
	x->tap = fn;
	x->tap_arg = arg;
}

// Hands one peeked batch to every sink, then the tap. @return 0 or -errno.
static int export_batch(struct cee_exporter *x, unsigned ri, const struct cee_event *ev,
			uint32_t n)
{
	uint64_t first = ev[0].sseq, last = ev[n - 1].sseq;

	for (unsigned s = 0; s < x->nsinks; s++) {
		uint64_t *taken = &x->taken[(size_t)ri * x->nsinks + s];
		if (*taken >= last)
			continue;
		uint32_t skip = *taken >= first ? (uint32_t)(*taken - first + 1) : 0;
		int rc = cee_sink_write(x->sinks[s], ev + skip, n - skip);
		if (rc < 0)
			return rc;
		*taken = last;
	}
	if (x->tap != NULL)
		x->tap(x->tap_arg, ev, n);
	return 0;
}

int cee_exporter_poll(struct cee_exporter *x, uint32_t budget)
{
	uint64_t total = 0;

	for (unsigned k = 0; k < x->nrings; k++) {
		unsigned ri = (x->next + k) % x->nrings;
		struct cee_evring *r = x->rings[ri];
		uint32_t done = 0;

		// Two peeks at most when the unread part wraps around the ring end.
		while (done < budget) {
			const struct cee_event *ev;
			uint32_t n = cee_evring_peek(r, &ev, budget - done);
			if (n == 0)
				break;
			int rc = export_batch(x, ri, ev, n);
			if (rc < 0) {
				// The batch stays in the ring for the next poll.
				x->exported += total;
				return rc;
			}
			cee_evring_release(r, n);
			done += n;
		}
		total += done;
	}
	if (x->nrings > 0)
		x->next = (x->next + 1) % x->nrings;
	x->exported += total;

	// Push what this round produced so a quiet engine does not leave events
	// sitting in sink buffers: one write per sink per round, not per event.
	if (total > 0) {
		int rc = cee_exporter_flush(x);
		if (rc < 0)
			return rc;
	}
	return total > INT32_MAX ? INT32_MAX : (int)total;
}

int cee_exporter_flush(struct cee_exporter *x)
{
	int first = 0;
	for (unsigned s = 0; s < x->nsinks; s++) {
		int rc = cee_sink_flush(x->sinks[s]);
		if (rc < 0 && first == 0)
			first = rc;
	}
	return first;
}

uint64_t cee_exporter_exported(const struct cee_exporter *x)
{
	return x->exported;
}

void cee_exporter_destroy(struct cee_exporter *x)
{
	if (x == NULL)
		return;
	free(x->rings);
	free(x->sinks);
	free(x->taken);
	free(x);
}
