/* SPDX-License-Identifier: BSD-3-Clause */
// The exporter runs on the control thread only; it is the single consumer of
// every shard ring it holds.
#include <errno.h>
#include <sys/random.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cee_exporter.h"

#define RETRY_MIN_MS 50
#define RETRY_MAX_MS 2000

struct xsink {
	struct cee_sink *s;
	bool failed;
	int err;
	uint64_t failures;
	uint64_t retries;
	uint64_t backoff_ns;   // next wait after a failed retry
	uint64_t retry_at_ns;  // while failed
	uint64_t failed_at_ns; // while failed
	uint64_t down_ns;      // finished failures
};

struct cee_exporter {
	struct cee_evring **rings;
	struct xsink *sinks;
	unsigned nrings;
	unsigned nsinks;
	unsigned next;     // ring the next poll starts with (round robin)
	// taken[ring * nsinks + sink]: last sseq that sink took from that ring.
	// Records up to the smallest of a ring's cursors are released.
	uint64_t *taken;
	uint64_t exported; // records released after every sink took them
	uint64_t retry_min_ns, retry_max_ns;
	uint64_t rng; // the retries' jitter (xorshift64*, seeded per process)
	bool shutting_down; // cee_exporter_shutdown(): retries every SHUTDOWN_RETRY_NS
	uint64_t flushed_ns; // the last cee_exporter_poll() that flushed
	cee_exporter_tap_fn tap;
	void *tap_arg;
};

// While the engine shuts down, a failed sink is retried at least this
// often: its --shutdown-timeout (0.5 s, say) may be shorter than the
// backoff it had reached (up to 2 s), and a reader back in the meantime
// was never tried (cee_exporter_shutdown()).
#define SHUTDOWN_RETRY_NS (50 * 1000000ull)
#define IDLE_FLUSH_NS (100 * 1000000ull)

static uint64_t rng_next(struct cee_exporter *x)
{
	x->rng ^= x->rng >> 12;
	x->rng ^= x->rng << 25;
	x->rng ^= x->rng >> 27;
	return x->rng * 0x2545F4914F6CDD1Dull;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

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
	for (unsigned i = 0; i < nsinks; i++)
		x->sinks[i].s = sinks[i];
	// the jitter differs from engine to engine (rand() unseeded drew the
	// same sequence in every process: engines that lost a broker together
	// retried in step)
	if (getrandom(&x->rng, sizeof(x->rng), GRND_NONBLOCK) != (ssize_t)sizeof(x->rng))
		x->rng = now_ns() ^ ((uint64_t)getpid() << 32);
	x->rng |= 1;
	x->nrings = nrings;
	x->nsinks = nsinks;
	// A ring may have been written to before the exporter came: start at
	// what it has released.
	for (unsigned r = 0; r < nrings; r++)
		for (unsigned s = 0; s < nsinks; s++)
			x->taken[(size_t)r * nsinks + s] = cee_evring_released(rings[r]);
	cee_exporter_set_retry(x, RETRY_MIN_MS, RETRY_MAX_MS);
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

void cee_exporter_set_retry(struct cee_exporter *x, uint32_t min_ms, uint32_t max_ms)
{
	x->retry_min_ns = (uint64_t)(min_ms ? min_ms : 1) * 1000000u;
	x->retry_max_ns = (uint64_t)(max_ms > min_ms ? max_ms : min_ms) * 1000000u;
	if (x->retry_max_ns < x->retry_min_ns)
		x->retry_max_ns = x->retry_min_ns;
}

static void sink_failed(struct cee_exporter *x, struct xsink *xs, int err, uint64_t now)
{
	if (!xs->failed) {
		xs->failed = true;
		xs->failures++;
		xs->failed_at_ns = now;
		xs->backoff_ns = x->retry_min_ns;
		fprintf(stderr, "cee: events sink '%s' failed: %s; keeping its events, retrying\n",
			xs->s->spec, strerror(-err));
	} else {
		xs->backoff_ns = xs->backoff_ns * 2 > x->retry_max_ns ? x->retry_max_ns
								      : xs->backoff_ns * 2;
	}
	xs->err = err;
	// Jitter in [backoff/2, backoff]: sinks of several engines sharing a
	// broker do not retry in step.
	if (x->shutting_down && xs->backoff_ns > SHUTDOWN_RETRY_NS)
		xs->backoff_ns = SHUTDOWN_RETRY_NS;
	uint64_t half = xs->backoff_ns / 2;
	xs->retry_at_ns = now + half + (half ? rng_next(x) % (half + 1) : 0);
}

void cee_exporter_shutdown(struct cee_exporter *x)
{
	if (x->shutting_down)
		return;
	x->shutting_down = true;
	for (unsigned s = 0; s < x->nsinks; s++)
		if (x->sinks[s].failed) {
			x->sinks[s].retry_at_ns = 0; // now
			x->sinks[s].backoff_ns = SHUTDOWN_RETRY_NS;
		}
}

static void sink_retry(struct cee_exporter *x, struct xsink *xs, uint64_t now)
{
	xs->retries++;
	int rc = cee_sink_reopen(xs->s);
	if (rc < 0 && rc != -EAGAIN) {
		sink_failed(x, xs, rc, now);
		return;
	}
	xs->failed = false;
	xs->down_ns += now - xs->failed_at_ns;
	fprintf(stderr, "cee: events sink '%s' recovered after %.3f s; resuming\n", xs->s->spec,
		(double)(now - xs->failed_at_ns) / 1e9);
}

// Offers ring @p ri to sink @p si from its cursor. @return records taken.
static uint64_t offer(struct cee_exporter *x, unsigned ri, unsigned si, uint32_t budget,
		      uint64_t now)
{
	struct xsink *xs = &x->sinks[si];
	uint64_t *taken = &x->taken[(size_t)ri * x->nsinks + si];
	uint64_t done = 0;

	// Two peeks at most when the unread part wraps around the ring end.
	while (done < budget) {
		const struct cee_event *ev;
		uint32_t n = cee_evring_peek_at(x->rings[ri], *taken, &ev, budget - (uint32_t)done);
		if (n == 0)
			break;
		int k = cee_sink_write(xs->s, ev, n);
		if (k > (int)n) // a sink kind's bug (cee_sink_register()): more than it was given
			k = -EPROTO;
		if (k < 0) {
			sink_failed(x, xs, k, now);
			break;
		}
		if (k > 0)
			*taken = ev[k - 1].sseq;
		done += (uint64_t)k;
		if ((uint32_t)k < n)
			break; // the sink is full for now
	}
	return done;
}

// Hands the records every sink took to the tap and releases them; with no
// sink, up to @p budget of what the ring holds. @return records released.
static uint64_t release(struct cee_exporter *x, unsigned ri, uint32_t budget)
{
	struct cee_evring *r = x->rings[ri];
	uint64_t tail = cee_evring_released(r), upto = UINT64_MAX;

	for (unsigned s = 0; s < x->nsinks; s++) {
		uint64_t t = x->taken[(size_t)ri * x->nsinks + s];
		if (t < upto)
			upto = t;
	}
	if (x->nsinks == 0)
		upto = tail + budget;
	uint64_t done = 0;
	while (tail < upto) {
		const struct cee_event *ev;
		uint64_t want = upto - tail;
		uint32_t n = cee_evring_peek_at(r, tail, &ev, want > UINT32_MAX ? UINT32_MAX
										: (uint32_t)want);
		if (n == 0)
			break;
		if (x->tap != NULL)
			x->tap(x->tap_arg, ev, n);
		cee_evring_release(r, n);
		tail += n;
		done += n;
	}
	x->exported += done;
	return done;
}

int cee_exporter_poll(struct cee_exporter *x, uint32_t budget)
{
	uint64_t total = 0, now = x->nsinks > 0 ? now_ns() : 0;

	for (unsigned s = 0; s < x->nsinks; s++)
		if (x->sinks[s].failed && now >= x->sinks[s].retry_at_ns)
			sink_retry(x, &x->sinks[s], now);

	for (unsigned k = 0; k < x->nrings; k++) {
		unsigned ri = (x->next + k) % x->nrings;
		for (unsigned s = 0; s < x->nsinks; s++)
			if (!x->sinks[s].failed)
				total += offer(x, ri, s, budget, now);
		total += release(x, ri, budget);
	}
	if (x->nrings > 0)
		x->next = (x->next + 1) % x->nrings;

	// Push what this round produced so a quiet engine does not leave events
	// sitting in sink buffers: one write per sink per round, not per event.
	// Idle, every IDLE_FLUSH_NS: a sink finds a reader gone then (a FIFO's:
	// its next reader must not get the pipe as the old one left it).
	if (total > 0 || (x->nsinks > 0 && now - x->flushed_ns >= IDLE_FLUSH_NS)) {
		(void)cee_exporter_flush(x);
		x->flushed_ns = now;
	}
	return total > INT32_MAX ? INT32_MAX : (int)total;
}

// Records in the rings sink @p i has not taken.
static uint64_t sink_behind(const struct cee_exporter *x, unsigned i)
{
	uint64_t behind = 0;
	for (unsigned r = 0; r < x->nrings; r++) {
		uint64_t head = cee_evring_last_sseq(x->rings[r]);
		uint64_t t = x->taken[(size_t)r * x->nsinks + i];
		behind += head > t ? head - t : 0;
	}
	return behind;
}

int cee_exporter_flush(struct cee_exporter *x)
{
	int rc = 0;
	uint64_t now = 0;
	for (unsigned s = 0; s < x->nsinks; s++) {
		struct xsink *xs = &x->sinks[s];
		if (xs->failed) {
			// what it delivered meanwhile counts (a broker's late
			// acknowledgements were reported undelivered at shutdown
			// until the next retry, up to 2 s later)
			if (xs->s->ops->settle != NULL)
				xs->s->ops->settle(xs->s);
			// a sink that failed with everything delivered (a reader
			// that acknowledged it all, then left) owes nothing: a
			// shutdown waiting for it waited out --shutdown-timeout
			if (xs->s->held > 0 || sink_behind(x, s) > 0)
				rc = -EAGAIN;
			continue;
		}
		int r = cee_sink_flush(xs->s);
		if (r == -EAGAIN) {
			rc = -EAGAIN;
		} else if (r < 0) {
			if (now == 0)
				now = now_ns();
			sink_failed(x, xs, r, now);
			rc = -EAGAIN;
		}
	}
	return rc;
}

uint64_t cee_exporter_exported(const struct cee_exporter *x)
{
	return x->exported;
}

unsigned cee_exporter_nsinks(const struct cee_exporter *x)
{
	return x->nsinks;
}

void cee_exporter_sink_stats(const struct cee_exporter *x, unsigned i,
			     struct cee_exporter_sink_stats *st)
{
	const struct xsink *xs = &x->sinks[i];
	memset(st, 0, sizeof(*st));
	st->spec = xs->s->spec;
	st->failed = xs->failed;
	st->err = xs->err;
	st->written = xs->s->written;
	st->held = xs->s->held;
	st->resent = xs->s->resent;
	st->failures = xs->failures;
	st->retries = xs->retries;
	st->down_ns = xs->down_ns + (xs->failed ? now_ns() - xs->failed_at_ns : 0);
	st->behind = sink_behind(x, i);
	st->bad_ext = xs->s->bad_ext;
}

void cee_exporter_rotate(struct cee_exporter *x)
{
	for (unsigned i = 0; i < x->nsinks; i++) {
		struct xsink *xs = &x->sinks[i];
		int rc = cee_sink_rotate(xs->s);
		if (rc > 0)
			fprintf(stderr, "cee: events sink '%s': its file was renamed away; a new one goes on\n",
				xs->s->spec);
		else if (rc < 0)
			fprintf(stderr,
				"cee: events sink '%s': its file was renamed away but no new one could be "
				"opened (%s); writing on in the old one\n",
				xs->s->spec, strerror(-rc));
	}
}

bool cee_exporter_idle(struct cee_exporter *x)
{
	for (unsigned r = 0; r < x->nrings; r++)
		if (cee_evring_last_sseq(x->rings[r]) != cee_evring_released(x->rings[r]))
			return false;
	return cee_exporter_flush(x) == 0;
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
