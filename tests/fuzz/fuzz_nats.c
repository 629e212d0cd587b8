/* SPDX-License-Identifier: BSD-3-Clause */
// Fuzz target: what the NATS consumer and sink parse from outside.
//
// 1. The spec "nats://HOST:PORT[,HOST:PORT...]/PREFIX?k=v&..." (events/cee_nats_common.c,
//    cee_nats_spec_parse, and cee-tail's stream=/durable=/filter=). Accepted,
//    it must hold a host without blanks, '@' or '%', a port >= 1, the URL of
//    both, a prefix that is empty or a subject without wildcards, at most
//    CEE_NATS_SPEC_KV_MAX distinct non-empty keys with values of bounded
//    length; rebuilt from its parts (values percent-encoded) it parses back
//    to the same. cee-tail's consumer settings, cee_nats_spec_u64() and
//    cee_nats_spec_check_unused() accept exactly what this file's own
//    reading of the rules accepts.
// 2. What cee-tail reads from the broker (apps/cee-tail.c compiled in, its
//    main() renamed; take() and timers() without libnats): messages with
//    the sink's headers and a body (JSON Lines, or 64-byte records that it
//    converts with the jsonl encoder), out of order, twice, malformed, with
//    time passing between them. Checked against this file's own reading of
//    the format (events/cee_sink_nats.c):
//    * every message is settled exactly once: acknowledged (after the
//      output was flushed) or dropped (a newer delivery replaced it, or it
//      was still waiting at the end); a body is not read after that (ASan);
//    * nothing written for a message without the sink's headers, counted
//      as foreign;
//    * per (engine, run, shard) the batches written or skipped as
//      malformed cover increasing, non-overlapping sseq ranges; a batch
//      skipped otherwise is a copy of a range already covered; only a batch
//      whose body matches its headers is written; a range that does not
//      follow on from the last one was waited for at least the reorder wait
//      (unless at the idle end), not given up before the hold after a loss
//      ended nor while deliveries were outstanding ('O'), and counted as a
//      gap;
//    * bounded waiting: after each tick, no batch waits longer than the
//      reorder wait since the last progress of its stream, or than the hold
//      after a loss; at the idle end (which comes after the hold, as the
//      fetch loop's --idle-exit waits for it) nothing waits at all;
//    * the output is JSON Lines ('{' ... "}\n" each), strict JSON when every
//      jsonl body given was, and exactly the bodies written when they were
//      jsonl; the counters (messages, events, foreign, malformed, gaps) match.
//
// Input: a settings byte (bit 0: the run ends idle, as --idle-exit does;
// bits 1-2: reorder wait 0, 10 ms, 1 s, 10 s), the spec up to '\n' (after
// "nats:" when it starts so, as cee-tail's argument), then operations:
//   'T' MS(2 bytes, big-endian)  time passes; the fetch loop's timers
//   'L' MS(2 bytes, big-endian)  deliveries may have been lost (a connection
//                                made again): no gap is given up for MS ms,
//                                as the fetch loop sets T.hold_until_ns
//   'O' MS(2 bytes, big-endian)  the server holds deliveries unacknowledged
//                                that this reader does not, for MS ms
//                                (T.outstanding, as consumer info says in
//                                the fetch loop): no gap given up, no key
//                                started until then
//   other byte                   a message: header lines "Name: value\n"
//                                up to an empty line, LEN (2 bytes, big-
//                                endian), LEN bytes of body
//
// CEE_FUZZ_NATS_SEEDS=DIR writes the seeds (tests/fuzz/corpus/nats) and exits
// (scripts/fuzz.sh seeds); CEE_FUZZ_TRACE=1 prints the spec, what cee-tail
// wrote and its counts.
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* ---- apps/cee-tail.c, main() renamed, quiet ---- */

static FILE *fuzz_quiet_file;

static FILE *fuzz_quiet(void)
{
	if (fuzz_quiet_file == NULL && (fuzz_quiet_file = fopen("/dev/null", "w")) == NULL)
		abort();
	return fuzz_quiet_file;
}

int cee_tail_main(int argc, char **argv);

#pragma push_macro("stderr")
#undef stderr
#define stderr (fuzz_quiet())
#define main cee_tail_main
#include "cee-tail.c"
#undef main
#pragma pop_macro("stderr")

// The library's messages (cee_nats_spec_*) go to stderr: not while fuzzing
// (glibc's stderr is a variable).
static FILE *loud;

static void quiet(bool on)
{
	if (on) {
		loud = stderr;
		stderr = fuzz_quiet();
	} else {
		stderr = loud;
	}
}

#define WAIT_MS(settings) ((const uint64_t[]){0, 10, 1000, 10000}[((settings) >> 1) & 3])

/* ---- the rules, as this file reads them ---- */

static bool own_id(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(('a' <= s[i] && s[i] <= 'z') || ('A' <= s[i] && s[i] <= 'Z') ||
		      ('0' <= s[i] && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
			return false;
	return true;
}

// Dot-separated non-empty tokens of 0x21..0x7e; wildcards: a token "*", a last token ">".
static bool own_subject(const char *s, bool wildcards)
{
	size_t n = strlen(s), tok = 0;
	if (n == 0)
		return false;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			size_t len = i - tok;
			if (len == 0)
				return false;
			bool star = len == 1 && s[tok] == '*', gt = len == 1 && s[tok] == '>';
			if ((star || gt) && !wildcards)
				return false;
			if (gt && i != n)
				return false;
			if (!star && !gt &&
			    (memchr(s + tok, '*', len) || memchr(s + tok, '>', len)))
				return false;
			tok = i + 1;
			continue;
		}
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	}
	return true;
}

// A decimal number that fits 64 bits, nothing else.
static bool own_u64(const char *s, uint64_t *v)
{
	uint64_t x = 0;
	if (s == NULL || s[0] == '\0')
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || x > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return false;
		x = x * 10 + (uint64_t)(*s - '0');
	}
	*v = x;
	return true;
}

/* ---- 1. the spec ---- */

static void put_pct(char **w, const char *v)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;
		*(*w)++ = '%';
		*(*w)++ = hex[c >> 4];
		*(*w)++ = hex[c & 15];
	}
}

static void fuzz_spec(const char *line)
{
	const char *arg = strncmp(line, "nats:", 5) == 0 ? line + 5 : line;
	struct cee_nats_spec sp;
	quiet(true);
	int rc = cee_nats_spec_parse(arg, &sp, "fuzz");
	quiet(false);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL, "cee_nats_spec_parse: %d", rc);
	if (rc < 0)
		return;

	size_t hl = strnlen(sp.host, sizeof(sp.host));
	FUZZ_CHECK(hl > 0 && hl < sizeof(sp.host), "host length %zu", hl);
	for (size_t i = 0; i < hl; i++)
		FUZZ_CHECK((unsigned char)sp.host[i] > ' ' && sp.host[i] != '@' &&
			       sp.host[i] != '%',
			   "host '%s'", sp.host);
	FUZZ_CHECK(sp.port >= 1, "port 0");
	char url[sizeof(sp.url)];
	snprintf(url, sizeof(url), "nats://%s:%u", sp.host, sp.port);
	FUZZ_CHECK(strnlen(sp.url, sizeof(sp.url)) < sizeof(sp.url) && strcmp(url, sp.url) == 0,
		   "url '%s' for host '%s' port %u", sp.url, sp.host, sp.port);
	size_t pl = strnlen(sp.prefix, sizeof(sp.prefix));
	FUZZ_CHECK(pl < sizeof(sp.prefix), "prefix not terminated");
	FUZZ_CHECK(pl == 0 || own_subject(sp.prefix, false), "prefix '%s'", sp.prefix);
	FUZZ_CHECK(sp.nkv <= CEE_NATS_SPEC_KV_MAX, "%u options", sp.nkv);
	for (unsigned i = 0; i < sp.nkv; i++) {
		size_t kl = strnlen(sp.kv[i].key, sizeof(sp.kv[i].key));
		FUZZ_CHECK(kl > 0 && kl < sizeof(sp.kv[i].key), "key length %zu", kl);
		FUZZ_CHECK(strpbrk(sp.kv[i].key, "=&") == NULL, "key '%s'", sp.kv[i].key);
		FUZZ_CHECK(strnlen(sp.kv[i].val, sizeof(sp.kv[i].val)) < sizeof(sp.kv[i].val),
			   "value not terminated");
		FUZZ_CHECK(!sp.kv[i].used, "key '%s' used before any getter", sp.kv[i].key);
		for (unsigned j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(sp.kv[i].key, sp.kv[j].key) != 0, "key '%s' twice",
				   sp.kv[i].key);
	}

	// rebuilt from its parts, it parses back to the same
	FUZZ_CHECK(sp.nservers >= 1 && sp.nservers <= CEE_NATS_SERVERS_MAX, "%u servers",
		   sp.nservers);
	FUZZ_CHECK(strcmp(sp.servers[0].url, sp.url) == 0, "first server '%s', url '%s'",
		   sp.servers[0].url, sp.url);
	static char
	    again[8 + CEE_NATS_SERVERS_MAX * (sizeof(sp.host) + 8) + sizeof(sp.prefix) +
		  CEE_NATS_SPEC_KV_MAX * (sizeof(sp.kv[0].key) + 2 + 3 * sizeof(sp.kv[0].val))];
	char *w = again;
	w += sprintf(w, "//");
	for (unsigned i = 0; i < sp.nservers; i++)
		w += sprintf(w, "%s%s:%u", i ? "," : "", sp.servers[i].host, sp.servers[i].port);
	if (pl > 0)
		w += sprintf(w, "/%s", sp.prefix);
	for (unsigned i = 0; i < sp.nkv; i++) {
		w += sprintf(w, "%c%s=", i == 0 ? '?' : '&', sp.kv[i].key);
		put_pct(&w, sp.kv[i].val);
	}
	*w = '\0';
	struct cee_nats_spec sp2;
	quiet(true);
	rc = cee_nats_spec_parse(again, &sp2, "fuzz");
	quiet(false);
	FUZZ_CHECK(rc == 0, "'%s' (from '%s') refused", again, arg);
	FUZZ_CHECK(strcmp(sp.host, sp2.host) == 0 && sp.port == sp2.port &&
		       strcmp(sp.url, sp2.url) == 0 && strcmp(sp.prefix, sp2.prefix) == 0 &&
		       sp.nkv == sp2.nkv && sp.nservers == sp2.nservers &&
		       strcmp(sp.urls, sp2.urls) == 0,
		   "'%s' parses back differently", again);
	for (unsigned i = 0; i < sp.nkv; i++)
		FUZZ_CHECK(strcmp(sp.kv[i].key, sp2.kv[i].key) == 0 &&
			       strcmp(sp.kv[i].val, sp2.kv[i].val) == 0,
			   "option %u of '%s' parses back differently", i, again);

	// cee-tail's consumer: defaults, PREFIX.> or filter=, valid names
	const char *stream = NULL, *durable = NULL, *filter = NULL;
	for (unsigned i = 0; i < sp.nkv; i++) {
		if (strcmp(sp.kv[i].key, "stream") == 0)
			stream = sp.kv[i].val;
		else if (strcmp(sp.kv[i].key, "durable") == 0)
			durable = sp.kv[i].val;
		else if (strcmp(sp.kv[i].key, "filter") == 0)
			filter = sp.kv[i].val;
	}
	bool own = (stream == NULL || own_id(stream, 64)) &&
		   (durable == NULL || own_id(durable, 64)) &&
		   (filter != NULL ? own_subject(filter, true) : pl > 0);
	struct consumer cs;
	rc = consumer_spec(&sp, &cs);
	FUZZ_CHECK((rc == 0) == own, "cee-tail's consumer_spec() says %d", rc);
	if (rc == 0) {
		FUZZ_CHECK(strcmp(cs.stream, stream ? stream : "CEE") == 0, "stream '%s'",
			   cs.stream);
		FUZZ_CHECK(strcmp(cs.durable, durable ? durable : "cee-tail") == 0, "durable '%s'",
			   cs.durable);
		if (filter == NULL)
			FUZZ_CHECK(strlen(cs.filter) == pl + 2 &&
				       strncmp(cs.filter, sp.prefix, pl) == 0 &&
				       strcmp(cs.filter + pl, ".>") == 0,
				   "filter '%s' for prefix '%s'", cs.filter, sp.prefix);
		else
			FUZZ_CHECK(strcmp(cs.filter, filter) == 0, "filter '%s'", cs.filter);
	}

	// a number option, as the sink reads batch_bytes
	const char *bb = NULL;
	for (unsigned i = 0; i < sp.nkv; i++)
		if (strcmp(sp.kv[i].key, "batch_bytes") == 0)
			bb = sp.kv[i].val;
	uint64_t v = 0, want = 0;
	quiet(true);
	rc = cee_nats_spec_u64(&sp, "batch_bytes", 512, 1u << 20, 262144, &v, "fuzz");
	quiet(false);
	bool own_ok = bb == NULL || (own_u64(bb, &want) && want >= 512 && want <= (1u << 20));
	FUZZ_CHECK((rc == 0) == own_ok, "cee_nats_spec_u64('%s'): %d", bb ? bb : "", rc);
	if (rc == 0)
		FUZZ_CHECK(v == (bb ? want : 262144), "batch_bytes %" PRIu64, v);
	else
		FUZZ_CHECK(rc == -EINVAL, "cee_nats_spec_u64: %d", rc);

	bool others = false;
	for (unsigned i = 0; i < sp.nkv; i++)
		others |=
		    strcmp(sp.kv[i].key, "stream") != 0 && strcmp(sp.kv[i].key, "durable") != 0 &&
		    strcmp(sp.kv[i].key, "filter") != 0 && strcmp(sp.kv[i].key, "batch_bytes") != 0;
	quiet(true);
	rc = cee_nats_spec_check_unused(&sp, "fuzz");
	quiet(false);
	FUZZ_CHECK((rc == 0) == !others, "cee_nats_spec_check_unused: %d", rc);
}

/* ---- 2. cee-tail's messages ---- */

enum { H_ENGINE, H_RUN, H_SHARD, H_FIRST, H_LAST, H_EVENTS, H_FORMAT, H_N };
static const char *const hdr_names[H_N] = {"Cee-Engine",     "Cee-Run",	      "Cee-Shard",
					   "Cee-First-Sseq", "Cee-Last-Sseq", "Cee-Events",
					   "Cee-Format"};

struct fmsg {
	struct msg m; // what take() got
	char *hdrs;   // the header values m points into
	char *body;   // exactly m.len bytes: a read past it is a report
	unsigned key; // in fz.keys, when valid
	uint64_t first, last, events;
	uint64_t since_ns; // waits since (taken, or the delivery it replaced)
	bool valid;	   // the sink's headers
	bool binary;
	bool body_ok; // the body holds what the headers say
	bool strict;  // jsonl: each line strict JSON
	bool settled;
};

struct fkey {
	char *engine, *run;
	uint64_t shard;
	uint64_t consumed;    // last sseq written or skipped as malformed (0: none)
	uint64_t start;	      // the first such batch's first sseq (0: none yet)
	uint64_t progress_ns; // when consumed last moved
	unsigned unsettled;
	uint64_t gap_lo[4], gap_hi[4]; // the last 4 gaps skipped (cee-tail keeps as many)
	unsigned ngaps;
};

static struct {
	struct fmsg **msgs;
	unsigned nmsgs, msgs_cap;
	struct fkey *keys;
	unsigned nkeys, keys_cap;
	struct fmsg *taking; // the message take() has now (a drop then is a replacement)
	uint64_t now, wait_ns;
	uint64_t hold_until; // the last 'L': no gap given up before
	uint64_t out_until;  // the last 'O': deliveries outstanding until then
	bool idle_end; // timers(now, true): gaps skipped without waiting
	bool all_strict;
	uint64_t foreign, bad, gaps, late, events, overlaps;
	// the output
	char *out;
	size_t out_len, seen;
	char *expect; // the jsonl bodies written since the last check
	size_t expect_len, expect_cap;
	bool expect_known;
} fz;

static void expect_add(const char *p, size_t n)
{
	if (fz.expect_len + n > fz.expect_cap) {
		size_t c = 2 * (fz.expect_len + n) + 256;
		char *e = realloc(fz.expect, c);
		FUZZ_CHECK(e != NULL, "out of memory");
		fz.expect = e;
		fz.expect_cap = c;
	}
	if (n > 0)
		memcpy(fz.expect + fz.expect_len, p, n);
	fz.expect_len += n;
}

static void settle(struct fmsg *f, const char *how)
{
	FUZZ_CHECK(!f->settled, "message %s twice", how);
	f->settled = true;
	if (f->valid)
		fz.keys[f->key].unsettled--;
	free(f->body);
	free(f->hdrs);
	f->body = f->hdrs = NULL;
}

// When stream @p key's oldest batch started waiting: its last progress, or the
// oldest batch still waiting since.
static uint64_t waiting_since(unsigned key)
{
	uint64_t t = fz.keys[key].progress_ns;
	uint64_t oldest = UINT64_MAX;
	for (unsigned i = 0; i < fz.nmsgs; i++) {
		struct fmsg *f = fz.msgs[i];
		if (!f->settled && f->valid && f->key == key && f->since_ns < oldest)
			oldest = f->since_ns;
	}
	return oldest != UINT64_MAX && oldest > t ? oldest : t;
}

static bool own_lines(const char *p, size_t n, bool strict);

// "KEY":N at the top level of the line p[0..n) (after '{' or ','; inside a
// string the quotes are escaped). @return false when absent.
static bool top_num(const char *p, size_t n, const char *key, uint64_t *v)
{
	char pat[16];
	int pl = snprintf(pat, sizeof(pat), "\"%s\":", key);
	for (size_t i = 1; i + (size_t)pl < n; i++) {
		if ((p[i - 1] != '{' && p[i - 1] != ',') || memcmp(p + i, pat, (size_t)pl) != 0)
			continue;
		size_t j = i + (size_t)pl, d = 0;
		uint64_t x = 0;
		while (j < n && d < 20 && p[j] >= '0' && p[j] <= '9')
			x = x * 10 + (uint64_t)(p[j++] - '0'), d++;
		if (d == 0 || d == 20)
			return false;
		*v = x;
		return true;
	}
	return false;
}

// An overlapping batch @p f cut at @p next (the format's rule, docs/nats.md):
// binary, whole 64-byte records, those from next on numbered next...; jsonl,
// each line before the cut numbered, the first at or past it starting at
// next (a line of extension records covers xseq..sseq), the rest whole
// lines. @return whether cee-tail writes it; *off: where the part begins.
static bool cut_at(const struct fmsg *f, uint64_t next, size_t *off, uint64_t *events)
{
	size_t len = f->m.len;
	*events = 0;
	if (f->binary) {
		if (len % 64 != 0 || len / 64 - 1 != f->last - f->first)
			return false;
		for (uint64_t q = next; q <= f->last; q++) {
			struct cee_event e;
			memcpy(&e, f->body + 64 * (q - f->first), sizeof(e));
			if (e.sseq != q)
				return false;
			*events += e.type != CEE_EVT_EXT; /* an event: not an extension record */
		}
		*off = (size_t)(next - f->first) * 64;
		return true;
	}
	size_t i = 0;
	while (i < len) {
		const char *nl = memchr(f->body + i, '\n', len - i);
		if (nl == NULL)
			return false;
		size_t n = (size_t)(nl - (f->body + i));
		uint64_t from, to;
		if (!top_num(f->body + i, n, "sseq", &to))
			return false;
		if (!top_num(f->body + i, n, "xseq", &from))
			from = to;
		if (to >= next) {
			*off = i;
			for (size_t j = i; j < len; j++) /* an event a line */
				*events += f->body[j] == '\n';
			return from == next && own_lines(f->body + i, len - i, false);
		}
		i += n + 1;
	}
	return false;
}

static void fz_ack(void *handle, bool wrote)
{
	struct fmsg *f = handle;
	if (!f->valid) {
		FUZZ_CHECK(!wrote, "a message without the sink's headers written");
		fz.foreign++;
		settle(f, "acknowledged");
		return;
	}
	struct fkey *k = &fz.keys[f->key];
	if (k->consumed > 0 && f->first <= k->consumed && f->last > k->consumed) {
		// overlapping what was written: its part after that, when the
		// body splits there and that part is whole
		size_t off = 0;
		uint64_t events;
		bool ok = cut_at(f, k->consumed + 1, &off, &events);
		FUZZ_CHECK(wrote == ok, "an overlapping batch %s (sseq %" PRIu64 "..%" PRIu64
			   " after %" PRIu64 ", %s)",
			   wrote ? "written that does not split whole" : "skipped that splits whole",
			   f->first, f->last, k->consumed, f->binary ? "binary" : "jsonl");
		fz.overlaps++;
		if (wrote) {
			fz.events += events;
			if (f->binary) {
				fz.expect_known = false;
			} else {
				expect_add(f->body + off, f->m.len - off);
				fz.all_strict &= f->strict;
			}
		} else {
			fz.bad++;
		}
		k->consumed = f->last;
		k->progress_ns = fz.now;
		settle(f, "acknowledged");
		return;
	}
	if (!wrote && f->first <= k->consumed) { // a copy of a range covered
		bool in_gap = false; // or of a gap given up, come after all
		for (unsigned j = 0; j < 4 && j < k->ngaps; j++)
			in_gap |= f->first >= k->gap_lo[j] && f->last <= k->gap_hi[j];
		if (f->last < k->start || in_gap) // or from before where the reader started: late
			fz.late++;
		settle(f, "acknowledged");
		return;
	}
	FUZZ_CHECK(f->first > k->consumed,
		   "engine %s run '%s' shard %" PRIu64 ": sseq %" PRIu64 "..%" PRIu64
		   " written after %" PRIu64,
		   k->engine, k->run, k->shard, f->first, f->last, k->consumed);
	FUZZ_CHECK(wrote == f->body_ok, "a batch %s (sseq %" PRIu64 "..%" PRIu64 ", %s)",
		   wrote ? "written whose body does not match its headers"
			 : "skipped as malformed whose body matches its headers",
		   f->first, f->last, f->binary ? "binary" : "jsonl");
	if (f->first != k->consumed + 1) {
		// a gap skipped, or a stream joined after its start: waited for
		uint64_t since = waiting_since(f->key);
		FUZZ_CHECK(fz.idle_end || fz.now >= since + fz.wait_ns,
			   "sseq %" PRIu64 " after %" PRIu64 " without waiting (%" PRIu64
			   " ns of %" PRIu64 ")",
			   f->first, k->consumed, fz.now - since, fz.wait_ns);
		FUZZ_CHECK(fz.now >= fz.hold_until,
			   "sseq %" PRIu64 " after %" PRIu64 " given up %" PRIu64
			   " ns before the hold after a loss ends",
			   f->first, k->consumed, fz.hold_until - fz.now);
		FUZZ_CHECK(fz.now >= fz.out_until,
			   "sseq %" PRIu64 " after %" PRIu64 " given up %" PRIu64
			   " ns before the deliveries outstanding came",
			   f->first, k->consumed, fz.out_until - fz.now);
		if (k->consumed > 0) {
			fz.gaps++;
			unsigned j = k->ngaps++ % 4;
			k->gap_lo[j] = k->consumed + 1;
			k->gap_hi[j] = f->first - 1;
		}
	}
	if (k->consumed == 0)
		k->start = f->first;
	k->consumed = f->last;
	k->progress_ns = fz.now;
	if (wrote) {
		fz.events += (uint32_t)f->events; // as cee-tail holds Cee-Events
		if (f->binary) {
			fz.expect_known = false;
		} else {
			expect_add(f->body, f->m.len);
			fz.all_strict &= f->strict;
		}
	} else {
		fz.bad++;
	}
	settle(f, "acknowledged");
}

static void fz_drop(void *handle)
{
	struct fmsg *f = handle;
	struct fmsg *t = fz.taking;
	if (t != NULL) {
		// while taking t: its older delivery, which t replaces in the wait
		FUZZ_CHECK(f->valid && t->valid && f->key == t->key && f->first == t->first,
			   "a message dropped while another is taken");
		if (f->since_ns < t->since_ns)
			t->since_ns = f->since_ns;
	}
	settle(f, "dropped");
}

// A held delivery replaced by a newer one: settled as a drop here (whether
// it was another stored copy, which the fetch loop acknowledges, is the
// server's stream sequence, which these messages do not have).
static void fz_replaced(void *older, void *newer)
{
	FUZZ_CHECK(newer == fz.taking, "a delivery replaced by one not being taken");
	fz_drop(older);
}

static const struct msg_ops fz_ops = {.ack = fz_ack, .drop = fz_drop, .replaced = fz_replaced};

// Lines ('{' ... "}\n"), no NUL; with @p strict, each a JSON value.
static bool own_lines(const char *p, size_t n, bool strict)
{
	size_t i = 0;
	while (i < n) {
		size_t j = i;
		while (j < n && p[j] != '\n')
			j++;
		if (j == n || j - i < 2 || p[i] != '{' || p[j - 1] != '}' ||
		    memchr(p + i, '\0', j - i) != NULL)
			return false;
		if (strict && fuzz_json_check(p + i, j - i) != NULL)
			return false;
		i = j + 1;
	}
	return true;
}

static void body_check(struct fmsg *f)
{
	size_t len = f->m.len;
	if (!f->binary) {
		f->body_ok = own_lines(f->body, len, false);
		f->strict = own_lines(f->body, len, true);
		return;
	}
	f->body_ok = len % 64 == 0 && len / 64 - 1 == f->last - f->first;
	for (size_t i = 0; f->body_ok && i < len / 64; i++) {
		uint64_t sseq;
		memcpy(&sseq, f->body + 64 * i, sizeof(sseq));
		f->body_ok = sseq == f->first + i;
	}
}

static unsigned key_of(const char *engine, const char *run, uint64_t shard)
{
	for (unsigned i = 0; i < fz.nkeys; i++)
		if (fz.keys[i].shard == shard && strcmp(fz.keys[i].engine, engine) == 0 &&
		    strcmp(fz.keys[i].run, run) == 0)
			return i;
	if (fz.nkeys == fz.keys_cap) {
		fz.keys_cap = fz.keys_cap ? 2 * fz.keys_cap : 16;
		fz.keys = realloc(fz.keys, fz.keys_cap * sizeof(*fz.keys));
		FUZZ_CHECK(fz.keys != NULL, "out of memory");
	}
	struct fkey *k = &fz.keys[fz.nkeys];
	*k = (struct fkey){.engine = strdup(engine), .run = strdup(run), .shard = shard};
	return fz.nkeys++;
}

// Check what was written since the last check; flush cee-tail's output first.
static void output_check(void)
{
	FUZZ_CHECK(flush_and_ack() == 0, "flush_and_ack failed");
	const char *p = fz.out + fz.seen;
	size_t n = fz.out_len - fz.seen;
	FUZZ_CHECK(own_lines(p, n, false), "not JSON Lines: '%.*s'", (int)(n < 300 ? n : 300), p);
	FUZZ_CHECK(!fz.all_strict || own_lines(p, n, true), "not strict JSON: '%.*s'",
		   (int)(n < 300 ? n : 300), p);
	if (fz.expect_known)
		FUZZ_CHECK(n == fz.expect_len && (n == 0 || memcmp(p, fz.expect, n) == 0),
			   "%zu bytes written for %zu bytes of jsonl bodies", n, fz.expect_len);
	fz.seen = fz.out_len;
	fz.expect_len = 0;
	fz.expect_known = true;
}

// After the timers: no batch waits past the reorder wait.
static void wait_check(void)
{
	for (unsigned i = 0; i < fz.nkeys; i++) {
		if (fz.keys[i].unsettled == 0)
			continue;
		uint64_t since = waiting_since(i);
		FUZZ_CHECK(!fz.idle_end && (fz.now < since + fz.wait_ns || fz.now < T.hold_until_ns ||
					    fz.now < fz.out_until),
			   "engine %s shard %" PRIu64 ": %u batch(es) still waiting after %" PRIu64
			   " ns (reorder wait %" PRIu64 " ns)%s",
			   fz.keys[i].engine, fz.keys[i].shard, fz.keys[i].unsettled,
			   fz.now - since, fz.wait_ns, fz.idle_end ? " at the idle end" : "");
	}
}

// T.outstanding: as the 'O' operations say.
static bool fz_outstanding(uint64_t now)
{
	return now < fz.out_until;
}

// A message at *in (header lines, an empty line, LEN, body).
static void one_message(struct fuzz_in *in)
{
	struct fmsg *f = calloc(1, sizeof(*f));
	FUZZ_CHECK(f != NULL, "out of memory");
	// header section: up to "\n\n" or the end
	const uint8_t *h = in->p;
	size_t hl = 0;
	while (hl < in->left && !(in->p[hl] == '\n' && (hl == 0 || in->p[hl - 1] == '\n')))
		hl++;
	const uint8_t *skip;
	fuzz_bytes(in, hl < in->left ? hl + 1 : hl, &skip);
	f->hdrs = malloc(hl + 1);
	FUZZ_CHECK(f->hdrs != NULL, "out of memory");
	memcpy(f->hdrs, h, hl);
	f->hdrs[hl] = '\0';
	const char *val[H_N] = {0};
	for (char *line = f->hdrs; line < f->hdrs + hl;) {
		char *nl = memchr(line, '\n', (size_t)(f->hdrs + hl - line));
		char *end = nl ? nl : f->hdrs + hl;
		*end = '\0';
		char *colon = strchr(line, ':');
		if (colon != NULL) {
			*colon = '\0';
			char *v = colon + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			for (unsigned i = 0; i < H_N; i++)
				if (val[i] == NULL && strcmp(line, hdr_names[i]) == 0)
					val[i] = v; // the first one, as natsMsgHeader_Get
		}
		line = end + 1;
	}
	size_t len = fuzz_u16(in);
	const uint8_t *b;
	len = fuzz_bytes(in, len, &b);
	f->body = malloc(len ? len : 1);
	FUZZ_CHECK(f->body != NULL, "out of memory");
	if (len > 0)
		memcpy(f->body, b, len);
	f->m = (struct msg){.subject = "fuzz.0.events",
			    .engine = val[H_ENGINE],
			    .run = val[H_RUN],
			    .shard = val[H_SHARD],
			    .first = val[H_FIRST],
			    .last = val[H_LAST],
			    .events = val[H_EVENTS],
			    .format = val[H_FORMAT],
			    .data = f->body,
			    .len = len,
			    .handle = f};
	f->since_ns = fz.now;

	const char *run = val[H_RUN] ? val[H_RUN] : "";
	uint64_t shard;
	f->valid = val[H_ENGINE] && val[H_FORMAT] && own_u64(val[H_SHARD], &shard) &&
		   own_u64(val[H_FIRST], &f->first) && own_u64(val[H_LAST], &f->last) &&
		   own_u64(val[H_EVENTS], &f->events) && shard < CEE_MAX_SHARDS && f->first >= 1 &&
		   f->last >= f->first && f->last != UINT64_MAX &&
		   (strcmp(val[H_FORMAT], "jsonl") == 0 || strcmp(val[H_FORMAT], "binary") == 0) &&
		   own_id(val[H_ENGINE], CEE_ENGINE_ID_MAX) &&
		   (run[0] == '\0' || own_id(run, CEE_RUN_ID_MAX));
	if (f->valid) {
		f->binary = val[H_FORMAT][0] == 'b';
		f->key = key_of(val[H_ENGINE], run, shard);
		fz.keys[f->key].unsettled++;
		body_check(f);
	}
	if (fz.nmsgs == fz.msgs_cap) {
		fz.msgs_cap = fz.msgs_cap ? 2 * fz.msgs_cap : 64;
		fz.msgs = realloc(fz.msgs, fz.msgs_cap * sizeof(*fz.msgs));
		FUZZ_CHECK(fz.msgs != NULL, "out of memory");
	}
	fz.msgs[fz.nmsgs++] = f;

	fz.taking = f;
	FUZZ_CHECK(take(&f->m, fz.now) == 0, "take() failed");
	fz.taking = NULL;
	output_check();
}

static bool trace; // CEE_FUZZ_TRACE: the output and cee-tail's counts

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	uint8_t settings = fuzz_u8(&in);

	// the spec line
	size_t sl = 0;
	while (sl < in.left && in.p[sl] != '\n')
		sl++;
	char *spec = malloc(sl + 1);
	FUZZ_CHECK(spec != NULL, "out of memory");
	memcpy(spec, in.p, sl);
	spec[sl] = '\0';
	const uint8_t *skip;
	fuzz_bytes(&in, sl < in.left ? sl + 1 : sl, &skip);
	fuzz_spec(spec);
	free(spec);

	// the messages
	memset(&fz, 0, sizeof(fz));
	fz.now = 1000000000; // the monotonic clock is past 0
	fz.wait_ns = WAIT_MS(settings) * 1000000u;
	fz.all_strict = true;
	fz.expect_known = true;
	memset(&T, 0, sizeof(T));
	T.reorder_wait_ns = fz.wait_ns;
	T.ops = &fz_ops;
	T.outstanding = fz_outstanding;
	T.out = open_memstream(&fz.out, &fz.out_len);
	FUZZ_CHECK(T.out != NULL, "open_memstream");

	while (fuzz_more(&in)) {
		uint8_t op = fuzz_u8(&in);
		if (op == 'T') {
			fz.now += (uint64_t)fuzz_u16(&in) * 1000000u;
			timers(fz.now, false);
			output_check();
			wait_check();
		} else if (op == 'L') {
			fz.hold_until = fz.now + (uint64_t)fuzz_u16(&in) * 1000000u;
			T.hold_until_ns = fz.hold_until;
		} else if (op == 'O') {
			fz.out_until = fz.now + (uint64_t)fuzz_u16(&in) * 1000000u;
		} else {
			one_message(&in);
		}
	}
	// the end, as cee-tail's main(): idle (once the hold is over and no
	// deliveries are outstanding), or stopped
	if (settings & 1) {
		uint64_t quiet = T.hold_until_ns > fz.out_until ? T.hold_until_ns : fz.out_until;
		if (fz.now < quiet) {
			fz.now = quiet;
			timers(fz.now, false);
			output_check();
			wait_check();
		}
		fz.idle_end = true;
		timers(fz.now, true);
		output_check();
		wait_check();
	}
	timers(fz.now, false);
	output_check();
	close_groups(); // "ext" lines of groups left open
	fz.expect_known = false;
	output_check();
	FUZZ_CHECK(T.messages == fz.nmsgs, "%" PRIu64 " messages counted of %u", T.messages,
		   fz.nmsgs);
	FUZZ_CHECK(T.foreign == fz.foreign, "%" PRIu64 " foreign counted, %" PRIu64 " acknowledged",
		   T.foreign, fz.foreign);
	FUZZ_CHECK(T.bad == fz.bad, "%" PRIu64 " malformed counted, %" PRIu64 " skipped", T.bad,
		   fz.bad);
	FUZZ_CHECK(T.events == fz.events, "%" PRIu64 " events counted, %" PRIu64 " written",
		   T.events, fz.events);
	FUZZ_CHECK(T.gaps == fz.gaps, "%" PRIu64 " gaps counted, %" PRIu64 " skipped", T.gaps,
		   fz.gaps);
	FUZZ_CHECK(T.overlaps == fz.overlaps, "%" PRIu64 " overlaps counted, %" PRIu64 " seen",
		   T.overlaps, fz.overlaps);
	FUZZ_CHECK(T.late == fz.late, "%" PRIu64 " late counted, %" PRIu64 " came before the start",
		   T.late, fz.late);
	uint64_t waiting = 0;
	for (unsigned i = 0; i < fz.nkeys; i++)
		waiting += fz.keys[i].unsettled;
	uint64_t left = release();
	if (trace)
		fprintf(stderr,
			"spec '%.*s'\n%.*s"
			"%" PRIu64 " messages, %" PRIu64 " events, %" PRIu64
			" duplicates skipped, %" PRIu64 " reordered, %" PRIu64 " gaps, %" PRIu64
			" foreign, %" PRIu64 " malformed, %" PRIu64 " left waiting\n",
			(int)sl, (const char *)data + 1, (int)fz.out_len, fz.out, T.messages,
			T.events, T.duplicates, T.reordered, T.gaps, T.foreign, T.bad, left);
	FUZZ_CHECK(left == waiting, "%" PRIu64 " left waiting, %" PRIu64 " unsettled", left,
		   waiting);
	for (unsigned i = 0; i < fz.nmsgs; i++) {
		FUZZ_CHECK(fz.msgs[i]->settled, "message %u never settled", i);
		free(fz.msgs[i]);
	}
	for (unsigned i = 0; i < fz.nkeys; i++) {
		free(fz.keys[i].engine);
		free(fz.keys[i].run);
	}
	free(fz.msgs);
	free(fz.keys);
	free(fz.expect);
	fclose(T.out);
	free(fz.out);
	return 0;
}

/* ---- seeds (CEE_FUZZ_NATS_SEEDS=DIR) ---- */

// (the -max_len scripts/fuzz.sh gives this target: a batch of the 18
// records as JSON lines, with an engine id and run, is over 4 KiB)
#define SEED_MAX 8192

struct sbuf {
	uint8_t b[SEED_MAX];
	size_t n;
};

static void sb_put(struct sbuf *s, const void *p, size_t n)
{
	if (s->n + n > sizeof(s->b)) {
		fprintf(stderr, "fuzz_nats: a seed over %zu bytes (fuzz.sh's -max_len)\n",
			sizeof(s->b));
		exit(1);
	}
	memcpy(s->b + s->n, p, n);
	s->n += n;
}

static void sb_str(struct sbuf *s, const char *str)
{
	sb_put(s, str, strlen(str));
}

static void sb_tick(struct sbuf *s, unsigned ms)
{
	uint8_t t[3] = {'T', (uint8_t)(ms >> 8), (uint8_t)ms};
	sb_put(s, t, 3);
}

static void sb_loss(struct sbuf *s, unsigned ms)
{
	uint8_t t[3] = {'L', (uint8_t)(ms >> 8), (uint8_t)ms};
	sb_put(s, t, 3);
}

static void sb_outstanding(struct sbuf *s, unsigned ms)
{
	uint8_t t[3] = {'O', (uint8_t)(ms >> 8), (uint8_t)ms};
	sb_put(s, t, 3);
}

static void sb_start(struct sbuf *s, uint8_t settings, const char *spec)
{
	s->n = 0;
	sb_put(s, &settings, 1);
	sb_str(s, spec);
	sb_str(s, "\n");
}

// A message: the header lines given (NULL values left out), the body.
static void sb_msg_raw(struct sbuf *s, const char *const v[H_N], const void *body, size_t len)
{
	sb_str(s, "M");
	for (unsigned i = 0; i < H_N; i++)
		if (v[i] != NULL) {
			sb_str(s, hdr_names[i]);
			sb_str(s, ": ");
			sb_str(s, v[i]);
			sb_str(s, "\n");
		}
	sb_str(s, "Cee-Schema: 3\n\n");
	uint8_t l[2] = {(uint8_t)(len >> 8), (uint8_t)len};
	sb_put(s, l, 2);
	sb_put(s, body, len);
}

static struct cee_event recs[64];
static unsigned nrecs;

// Connections' lifecycles (open, established, closed, destroyed) of shard 0,
// with a tls_up extension group on the first.
static void make_records(void)
{
	struct cee_ext_builder b;
	nrecs = 0;
	for (unsigned c = 0; c < 4; c++) {
		static const uint8_t types[4] = {CEE_EVT_OPEN, CEE_EVT_ESTABLISHED, CEE_EVT_CLOSED,
						 CEE_EVT_DESTROYED};
		for (unsigned t = 0; t < 4; t++) {
			if (c == 0 && t == 2) {
				cee_ext_begin(&b, cee_id_make(0, 1), CEE_EVT_TLS_UP);
				cee_ext_put_u16(&b, CEE_EXT_TLS_VERSION, 0x0304);
				cee_ext_put_str(&b, CEE_EXT_SNI, "sbc.example.test");
				unsigned k = cee_ext_end(&b);
				for (unsigned i = 0; i < k; i++) {
					recs[nrecs] = b.rec[i].ev;
					recs[nrecs].sseq = nrecs + 1;
					nrecs++;
				}
				struct cee_event *e = &recs[nrecs];
				memset(e, 0, sizeof(*e));
				e->sseq = nrecs + 1;
				e->conn = cee_id_make(0, 1);
				e->type = CEE_EVT_TLS_UP;
				e->proto = CEE_PROTO_TLS;
				e->cseq = 2;
				nrecs++;
			}
			struct cee_event *e = &recs[nrecs];
			memset(e, 0, sizeof(*e));
			e->sseq = nrecs + 1;
			e->conn = cee_id_make(0, c + 1);
			e->ts_ns = 1000000 * (nrecs + 1);
			e->type = types[t];
			e->reason =
			    types[t] == CEE_EVT_CLOSED ? CEE_REASON_PEER_FIN : CEE_REASON_NONE;
			e->proto = c == 0 ? CEE_PROTO_TLS : CEE_PROTO_TCP;
			e->cseq = (uint8_t)(t + (c == 0 && t >= 2));
			e->local_ip = 0x0a000001;
			e->local_port = 5061;
			e->remote_ip = 0xc0a80117;
			e->remote_port = (uint16_t)(40000 + c);
			nrecs++;
		}
	}
}

// Records [first, last] (1-based) as a batch of @p fmt.
static void sb_batch(struct sbuf *s, const char *engine, const char *run, unsigned shard,
		     unsigned first, unsigned last, const char *fmt)
{
	char sh[16], f[24], l[24], ev[16];
	unsigned events = 0;
	for (unsigned i = first; i <= last; i++)
		events += recs[i - 1].type != CEE_EVT_EXT;
	snprintf(sh, sizeof(sh), "%u", shard);
	snprintf(f, sizeof(f), "%u", first);
	snprintf(l, sizeof(l), "%u", last);
	snprintf(ev, sizeof(ev), "%u", events);
	const char *v[H_N] = {engine, run, sh, f, l, ev, fmt};
	if (fmt[0] == 'b') {
		sb_msg_raw(s, v, &recs[first - 1], (last - first + 1) * sizeof(recs[0]));
		return;
	}
	static char body[SEED_MAX];
	size_t n = 0;
	uint64_t bad_ext = 0;
	struct cee_jsonl_enc *enc = cee_jsonl_enc_new();
	(void)cee_evt_json_set_engine(strcmp(engine, run) != 0 ? engine : NULL,
				      strcmp(engine, run) != 0 ? run : NULL);
	for (unsigned i = first; i <= last; i++) {
		static char line[CEE_JSONL_ENC_ROOM];
		size_t w = cee_jsonl_enc_put(enc, &recs[i - 1], line, &bad_ext);
		if (n + w > sizeof(body))
			abort();
		memcpy(body + n, line, w);
		n += w;
	}
	cee_jsonl_enc_free(enc);
	sb_msg_raw(s, v, body, n);
}

static void sb_write(const char *dir, const char *name, const struct sbuf *s)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (f == NULL || fwrite(s->b, 1, s->n, f) != s->n || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

static void write_seeds(const char *dir)
{
	static struct sbuf s;
	const char *E = "edge-1", *R = "r0123456789ab";
	mkdir(dir, 0755);
	make_records();
	unsigned n = nrecs; // 1..6: conn 1 with its tls_up group; 7..9, 10..14, 15..n

	// jsonl batches in order, the sink's usual spec
	sb_start(&s, 1 << 1, "nats://127.0.0.1:4222/cee?stream=CEE&durable=cee-tail");
	sb_batch(&s, E, R, 0, 1, 6, "jsonl");
	sb_batch(&s, E, R, 0, 7, 12, "jsonl");
	sb_batch(&s, E, R, 0, 13, n, "jsonl");
	sb_tick(&s, 5);
	sb_write(dir, "jsonl-in-order", &s);

	// binary, out of order and twice (as nats_craft): 1 3 2 2 4 1
	sb_start(&s, 2 << 1,
		 "nats://[::1]:4222/cee.events?filter=cee.events.*.0.events&batch_bytes=65536");
	sb_batch(&s, E, R, 0, 1, 6, "binary");
	sb_batch(&s, E, R, 0, 10, 14, "binary");
	sb_batch(&s, E, R, 0, 7, 9, "binary");
	sb_batch(&s, E, R, 0, 7, 9, "binary");
	sb_tick(&s, 10);
	sb_batch(&s, E, R, 0, 15, n, "binary");
	sb_batch(&s, E, R, 0, 1, 6, "binary");
	sb_tick(&s, 10);
	sb_write(dir, "binary-reordered-twice", &s);

	// a gap skipped after the wait, the late batch then a copy; idle end
	sb_start(&s, 1 | 1 << 1, "nats://nats.example.test/cee?user=u&password=p%26w%3D1&stream=S");
	sb_batch(&s, E, R, 0, 1, 6, "jsonl");
	sb_batch(&s, E, R, 0, 10, 14, "jsonl");
	sb_tick(&s, 5);
	sb_batch(&s, E, R, 0, 15, n, "jsonl");
	sb_tick(&s, 6);
	sb_batch(&s, E, R, 0, 7, 9, "jsonl");
	sb_tick(&s, 1);
	sb_write(dir, "gap-then-late-copy", &s);

	// a loss: the gap waits past the reorder wait (10 ms) for the hold
	// (30 ms); the late batch comes within it; then a gap after the hold
	sb_start(&s, 1 | 1 << 1, "nats://h:4222/cee?stream=CEE");
	sb_batch(&s, E, R, 0, 1, 6, "jsonl");
	sb_loss(&s, 30);
	sb_batch(&s, E, R, 0, 10, 14, "jsonl");
	sb_tick(&s, 20);
	sb_batch(&s, E, R, 0, 7, 9, "jsonl");
	sb_tick(&s, 1);
	sb_loss(&s, 5);
	sb_batch(&s, E, R, 0, 16, n, "jsonl");
	sb_tick(&s, 4);
	sb_tick(&s, 12);
	sb_write(dir, "loss-holds-gap", &s);

	// overlapping batches (two sinks on one prefix): their new events
	// written; one that cuts conn 1's tls_up line (records 3..4) is
	// malformed; two from one sseq behind a gap, the longer kept
	sb_start(&s, 1 << 1, "nats://h:4222/cee?stream=CEE");
	sb_batch(&s, E, R, 0, 1, 8, "jsonl");
	sb_batch(&s, E, R, 0, 7, 12, "jsonl");
	sb_batch(&s, E, R, 0, 10, 14, "binary");
	sb_batch(&s, E, R, 0, 17, n, "jsonl");
	sb_batch(&s, E, R, 0, 17, 18, "jsonl");
	sb_batch(&s, E, R, 0, 15, 16, "jsonl");
	sb_tick(&s, 5);
	sb_write(dir, "overlaps", &s);
	sb_start(&s, 1 << 1, "nats://h:4222/cee?stream=CEE");
	sb_batch(&s, E, R, 0, 1, 3, "binary");
	sb_batch(&s, E, R, 0, 1, 9, "jsonl");
	sb_tick(&s, 5);
	sb_write(dir, "overlap-cuts-group", &s);

	// a killed reader's deliveries outstanding (40 ms): a stream joined
	// mid-stream is not started, and its gap not given up, before they
	// come (the reorder wait is 10 ms); the idle end waits for them too
	sb_start(&s, 1 | 1 << 1, "nats://h:4222/cee?stream=CEE");
	sb_outstanding(&s, 40);
	sb_batch(&s, E, R, 0, 7, 9, "jsonl");
	sb_batch(&s, E, R, 0, 16, n, "jsonl");
	sb_tick(&s, 15);
	sb_tick(&s, 15);
	sb_batch(&s, E, R, 0, 10, 15, "jsonl");
	sb_tick(&s, 15);
	sb_write(dir, "outstanding-holds-start", &s);

	// joined mid-stream, two runs (one without engine id), two shards, binary
	sb_start(&s, 1 << 1, "nats://h:1/p?stream=CEE");
	sb_batch(&s, E, R, 0, 7, 9, "binary");
	sb_batch(&s, R, R, 0, 1, 6, "binary");
	sb_batch(&s, E, "r00000000000f", 0, 1, 6, "binary");
	sb_batch(&s, E, R, 3, 10, 14, "binary");
	sb_tick(&s, 9);
	sb_batch(&s, E, R, 0, 1, 6, "binary");
	sb_tick(&s, 1);
	sb_batch(&s, E, R, 3, 15, n, "jsonl");
	sb_tick(&s, 20);
	sb_write(dir, "mid-stream-runs-shards", &s);

	// a redelivery while waiting, with other headers; two gaps at an idle end
	sb_start(&s, 1 | 3 << 1, "nats://h/x?token=t&creds=%2Ftmp%2Fa.creds");
	sb_batch(&s, E, R, 0, 7, 9, "binary");
	sb_batch(&s, E, R, 0, 7, 12, "binary");
	sb_batch(&s, E, R, 0, 15, n, "binary");
	sb_batch(&s, E, R, 0, 1, 3, "binary");
	sb_write(dir, "redelivery-two-gaps-idle", &s);

	// malformed: headers, bodies
	sb_start(&s, 0, "nats://h:4222/cee?stream=bad.name&filter=a.>.b");
	{
		static const char *const bad[][H_N] = {
		    {"edge-1", NULL, "0", "1", "6", "4", NULL},
		    {"edge-1", NULL, "99999", "1", "6", "4", "jsonl"},
		    {"edge-1", NULL, "0", "0", "6", "4", "jsonl"},
		    {"edge-1", NULL, "0", "5", "4", "4", "binary"},
		    {"edge.1", NULL, "0", "1", "6", "4", "jsonl"},
		    {"edge-1", "r0123456789ab-and-much-longer-than-an-id", "0", "1", "6", "4",
		     "jsonl"},
		    {"edge-1", NULL, "0", "1", "18446744073709551615", "4", "binary"},
		    {"edge-1", NULL, "0x1", "1", "6", "4", "jsonl"},
		    {"edge-1", NULL, "0", "1", "18446744073709551616", "4", "jsonl"},
		    {"edge-1", NULL, "0", "1", "6", "4", "text"},
		};
		for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			sb_msg_raw(&s, bad[i], "{}\n", 3);
		const char *v[H_N] = {E, R, "0", "1", "6", "4", "binary"};
		sb_msg_raw(&s, v, recs, 5 * sizeof(recs[0])); // one record short
		const char *w[H_N] = {E, R, "0", "7", "9", "1", "jsonl"};
		sb_msg_raw(&s, w, "{\"sseq\":7}\n{\"sseq\":8", 20); // cut short
		const char *x[H_N] = {E, R, "0", "10", "10", "1", "jsonl"};
		sb_msg_raw(&s, x, "{\"a\":1}\n", 8);
		sb_tick(&s, 1);
	}
	sb_write(dir, "malformed", &s);

	// specs alone
	static const char *const specs[] = {
	    "nats://127.0.0.1/?filter=cee.>",
	    "nats://[fe80::1]:65535/a.b.c?durable=d_1&stream=S-2&tls=1&ca=%2Fetc%2Fca.pem",
	    "nats://host:0/p",
	    "nats://user@host/p",
	    "nats://h/p?a=1&a=2",
	    "nats://h/p?k=%zz",
	    "nats://h/p?=v",
	    "nats://h/p.*",
	    "nats://h/p?batch_bytes=1048576&stream=CEE",
	};
	for (unsigned i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		char name[32];
		sb_start(&s, 0, specs[i]);
		snprintf(name, sizeof(name), "spec-%u", i);
		sb_write(dir, name, &s);
	}
	// a seed list of servers (IPv4, IPv6, a name)
	sb_start(&s, 2 << 1, "nats://10.0.0.1:4222,[::1]:4223,natsb/cee.events?stream=CEE&replicas=3");
	sb_write(dir, "spec-4-servers", &s);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	trace = getenv("CEE_FUZZ_TRACE") != NULL;
	const char *dir = getenv("CEE_FUZZ_NATS_SEEDS");
	if (dir != NULL) {
		write_seeds(dir);
		exit(0);
	}
	return 0;
}
