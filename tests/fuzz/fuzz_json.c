/* SPDX-License-Identifier: BSD-3-Clause */
// Fuzz target: the event writers (events/cee_json.c, events/cee_sink.c) on
// arbitrary records: lifecycle events with any field values, extension
// records with any TLV bytes (strings from the network: SNI, paths, close
// reasons, subjects), groups of them, and streams that mix both.
//
// Input: two bytes of settings (how records are grouped and batched; the
// size of a small output buffer), then 64-byte records (at most 32).
// Checked:
//   - cee_evt_to_json(): one line, '\n'-terminated, NUL after it, strict
//     JSON (RFC 8259: escapes, UTF-8); into a small buffer either the same
//     line or -ENOSPC when it does not fit;
//   - cee_evt_to_json_ext() on groups of 1..4 records, with and without
//     their event: the same;
//   - round trip: a line of a valid event, or of an event with its group,
//     or of a group alone, read back by cee-audit's own line parser
//     (apps/cee-audit.c parse_line) gives the same fields, xseq and the link
//     keys the audit uses (link, attempt, next_attempt_ms);
//   - the jsonl sink (into a memory file): every line strict JSON, one line
//     per event written plus one per broken group (sink.written + bad_ext);
//   - the binary sink: the file is the header and the records, verbatim.
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cee_event.h"
#include "cee_sink.h"
#include "fuzz.h"
#include "fuzz_audit_app.h"

#define MAX_RECS 32
#define REC 64

static char big[CEE_EVT_JSON_EXT_MAX];
static char small[CEE_EVT_JSON_EXT_MAX];
static struct fuzz_file jsonl_file, bin_file;

static void check_line(const char *buf, int rc, const char *what)
{
	FUZZ_CHECK(rc > 0, "%s: %d", what, rc);
	FUZZ_CHECK(buf[rc] == '\0' && buf[rc - 1] == '\n', "%s: not a terminated line", what);
	FUZZ_CHECK(memchr(buf, '\n', (size_t)rc - 1) == NULL &&
		       memchr(buf, '\0', (size_t)rc) == NULL,
		   "%s: newline or NUL inside the line", what);
	const char *err = fuzz_json_check(buf, (size_t)rc - 1);
	FUZZ_CHECK(err == NULL, "%s: invalid JSON (%s): %.*s", what, err, rc, buf);
}

/* The event fields a line carries back (cee_evt_to_json prints them all). */
static bool printable_event(const struct cee_event *e)
{
	return e->type < CEE_EVT__COUNT && cee_event_proto(e) < CEE_PROTO__COUNT &&
	       e->reason < CEE_REASON__COUNT && e->sseq >= 1;
}

static void compare_event(const struct cee_event *e, const struct line_rec *lr)
{
	const struct cee_event *g = &lr->e;
	FUZZ_CHECK(!lr->ext && g->type == e->type, "type %u read back as %u", e->type, g->type);
	FUZZ_CHECK(g->conn == e->conn && g->sseq == e->sseq && g->cseq == e->cseq &&
		       g->ts_ns == e->ts_ns,
		   "conn/sseq/cseq/ts_ns changed");
	FUZZ_CHECK(g->local_ip == e->local_ip && g->local_port == e->local_port &&
		       g->remote_ip == e->remote_ip && g->remote_port == e->remote_port,
		   "addresses changed");
	// the direction is printed on open only
	uint8_t proto = e->type == CEE_EVT_OPEN ? e->proto : (uint8_t)cee_event_proto(e);
	FUZZ_CHECK(g->proto == proto, "proto %02x read back as %02x", proto, g->proto);
	if (e->type == CEE_EVT_CLOSED || e->type == CEE_EVT_LINK_DOWN)
		FUZZ_CHECK(g->reason == e->reason, "reason %u read back as %u", e->reason,
			   g->reason);
	if (e->type == CEE_EVT_CLOSED)
		FUZZ_CHECK(g->bytes_in == e->bytes_in && g->bytes_out == e->bytes_out &&
			       g->duration_ns == e->duration_ns,
			   "closed counters changed");
}

/* The value of @p key in a group as the reader ends up with it: the encoder
 * concatenates consecutive TLVs of a key into one value and skips values
 * shorter than @p min (empty strings, short numbers); of several values of
 * a key the reader keeps the last. @return its length, -1 when absent. */
static int group_key(const struct cee_event_ext *const *rec, unsigned nrec, unsigned key,
		     size_t min, uint8_t *out)
{
	uint8_t run[CEE_EVT_EXT_MAX * CEE_EVT_EXT_DATA];
	int have = -1;
	size_t n = 0;
	unsigned prev = 0;
	for (unsigned r = 0; r <= nrec; r++) {
		const uint8_t *d = r < nrec ? rec[r]->data : NULL;
		unsigned off = 0;
		for (;;) {
			unsigned k = 0, len = 0;
			if (d != NULL && off + 2 <= CEE_EVT_EXT_DATA && d[off] != 0 &&
			    off + 2u + d[off + 1] <= CEE_EVT_EXT_DATA) {
				k = d[off];
				len = d[off + 1];
			} else if (d != NULL) {
				break; // the record ends; a run goes on in the next one
			}
			if (prev == key && k != key && n >= min && n > 0) {
				memcpy(out, run, n); // a run ended
				have = (int)n;
			}
			if (d == NULL)
				break;
			if (k == key) {
				if (prev != key)
					n = 0;
				memcpy(run + n, d + off + 2, len);
				n += len;
			}
			prev = k;
			off += 2 + len;
		}
	}
	return have;
}

static uint32_t le32(const uint8_t *v)
{
	return (uint32_t)v[0] | (uint32_t)v[1] << 8 | (uint32_t)v[2] << 16 | (uint32_t)v[3] << 24;
}

/* The keys the audit reads, as the line gave them back. */
static void compare_keys(const struct cee_event_ext *const *rec, unsigned nrec,
			 const struct line_rec *lr)
{
	uint8_t v[CEE_EVT_EXT_MAX * CEE_EVT_EXT_DATA];
	int n = group_key(rec, nrec, CEE_EXT_LINK, 1, v);
	if (n > 0 && fuzz_utf8_ok(v, (size_t)n))
		FUZZ_CHECK(lr->link_len == (size_t)n && memcmp(lr->link, v, (size_t)n) == 0,
			   "link of %d bytes read back as %zu bytes", n, lr->link_len);
	if (n <= 0)
		FUZZ_CHECK(lr->link_len == 0, "link read back where there was none");
	n = group_key(rec, nrec, CEE_EXT_ATTEMPT, 4, v);
	FUZZ_CHECK(lr->has_attempt == (n >= 4), "attempt present %d, read back %d", n,
		   lr->has_attempt);
	if (n >= 4)
		FUZZ_CHECK(lr->attempt == le32(v), "attempt changed");
	n = group_key(rec, nrec, CEE_EXT_NEXT_ATTEMPT_MS, 4, v);
	FUZZ_CHECK(lr->has_next_attempt == (n >= 4), "next_attempt_ms present %d, read back %d", n,
		   lr->has_next_attempt);
	if (n >= 4)
		FUZZ_CHECK(lr->next_attempt_ms == le32(v), "next_attempt_ms changed");
}

static struct line_rec lr;

static void one_record(const struct cee_event *e, size_t small_len)
{
	int rc = cee_evt_to_json(e, big, sizeof(big));
	check_line(big, rc, "cee_evt_to_json");
	int rc2 = cee_evt_to_json(e, small, small_len);
	if (rc2 >= 0)
		FUZZ_CHECK(rc2 == rc && memcmp(big, small, (size_t)rc + 1) == 0,
			   "a small buffer got another line");
	else
		FUZZ_CHECK(rc2 == -ENOSPC && (size_t)rc + 1 > small_len,
			   "%d for a %d-byte line in %zu bytes", rc2, rc, small_len);
	if (printable_event(e)) {
		const char *err = parse_line(big, (size_t)rc - 1, &lr);
		FUZZ_CHECK(err == NULL, "cee-audit refuses the line (%s): %s", err, big);
		compare_event(e, &lr);
		FUZZ_CHECK(lr.xseq == e->sseq, "xseq %llu without extension records",
			   (unsigned long long)lr.xseq);
	}
}

static void one_group(const struct cee_event *e, const struct cee_event_ext *const *x, unsigned nx,
		      size_t small_len)
{
	int rc = cee_evt_to_json_ext(e, x, nx, big, sizeof(big));
	check_line(big, rc, e ? "cee_evt_to_json_ext (event)" : "cee_evt_to_json_ext (alone)");
	int rc2 = cee_evt_to_json_ext(e, x, nx, small, small_len);
	if (rc2 >= 0)
		FUZZ_CHECK(rc2 == rc && memcmp(big, small, (size_t)rc + 1) == 0,
			   "a small buffer got another line");
	else
		FUZZ_CHECK(rc2 == -ENOSPC && (size_t)rc + 1 > small_len,
			   "%d for a %d-byte line in %zu bytes", rc2, rc, small_len);

	uint64_t xseq = x[0]->sseq, last = x[nx - 1]->sseq;
	if (e != NULL) {
		// an event line covers [xseq .. sseq]: the reader takes up to 4 records before it
		if (!printable_event(e) || xseq == 0 || xseq >= e->sseq ||
		    e->sseq - xseq > CEE_EVT_EXT_MAX)
			return;
		const char *err = parse_line(big, (size_t)rc - 1, &lr);
		FUZZ_CHECK(err == NULL, "cee-audit refuses the line (%s): %s", err, big);
		compare_event(e, &lr);
	} else {
		if (xseq == 0 || xseq > last || last - xseq >= CEE_EVT_EXT_MAX)
			return;
		const char *err = parse_line(big, (size_t)rc - 1, &lr);
		FUZZ_CHECK(err == NULL, "cee-audit refuses the ext line (%s): %s", err, big);
		FUZZ_CHECK(lr.ext && lr.e.conn == x[0]->conn && lr.e.sseq == last,
			   "ext line read back as another");
		if (x[0]->of < CEE_EVT__COUNT)
			FUZZ_CHECK(lr.of == x[0]->of, "of %u read back as %u", x[0]->of, lr.of);
	}
	FUZZ_CHECK(lr.xseq == xseq, "xseq %llu read back as %llu", (unsigned long long)xseq,
		   (unsigned long long)lr.xseq);
	compare_keys(x, nx, &lr);
}

static void sinks(const struct cee_event *recs, unsigned n, uint8_t split)
{
	fuzz_file_init(&jsonl_file, "fuzz-jsonl");
	fuzz_file_init(&bin_file, "fuzz-bin");
	fuzz_file_set(&jsonl_file, NULL, 0);
	fuzz_file_set(&bin_file, NULL, 0);
	char spec[96];

	snprintf(spec, sizeof(spec), "jsonl:%s", jsonl_file.path);
	struct cee_sink *s = cee_sink_open(spec);
	FUZZ_CHECK(s != NULL, "cee_sink_open(%s)", spec);
	snprintf(spec, sizeof(spec), "binary:%s", bin_file.path);
	struct cee_sink *b = cee_sink_open(spec);
	FUZZ_CHECK(b != NULL, "cee_sink_open(%s)", spec);
	// batches as the exporter would cut them (a group may span two)
	uint64_t rng = split;
	for (unsigned i = 0; i < n;) {
		unsigned k = 1 + (unsigned)(fuzz_rng(&rng) % 8);
		if (k > n - i)
			k = n - i;
		FUZZ_CHECK(cee_sink_write(s, recs + i, k) == (int)k, "jsonl write");
		FUZZ_CHECK(cee_sink_write(b, recs + i, k) == (int)k, "binary write");
		i += k;
	}
	FUZZ_CHECK(cee_sink_flush(s) == 0, "jsonl flush");
	uint64_t lines_now = s->written + s->bad_ext;
	size_t len;
	char *text = fuzz_file_get(&jsonl_file, &len);
	uint64_t lines = 0;
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	free(text);
	FUZZ_CHECK(lines == lines_now, "%llu lines for %llu events and %llu broken groups",
		   (unsigned long long)lines, (unsigned long long)s->written,
		   (unsigned long long)s->bad_ext);
	cee_sink_close(s);
	cee_sink_close(b);

	text = fuzz_file_get(&jsonl_file, &len);
	for (char *p = text; p < text + len;) {
		char *nl = memchr(p, '\n', (size_t)(text + len - p));
		FUZZ_CHECK(nl != NULL, "jsonl file ends without a newline");
		const char *err = fuzz_json_check(p, (size_t)(nl - p));
		FUZZ_CHECK(err == NULL, "jsonl sink wrote invalid JSON (%s): %.*s", err,
			   (int)(nl - p), p);
		p = nl + 1;
	}
	free(text);

	text = fuzz_file_get(&bin_file, &len);
	struct cee_evbin_header h;
	struct cee_evbin_run run;
	FUZZ_CHECK(len == sizeof(h) + sizeof(run) + (size_t)n * REC,
		   "binary file of %zu bytes for %u records", len, n);
	memcpy(&h, text, sizeof(h));
	FUZZ_CHECK(memcmp(h.magic, CEE_EVBIN_MAGIC, sizeof(h.magic)) == 0 &&
		       h.version == CEE_EVBIN_VERSION && h.record_size == REC,
		   "binary header");
	memcpy(&run, text + sizeof(h), sizeof(run));
	FUZZ_CHECK(run.type == CEE_EVBIN_RUN && run.sseq == 0, "binary run record");
	FUZZ_CHECK(n == 0 || memcmp(text + sizeof(h) + sizeof(run), recs, (size_t)n * REC) == 0,
		   "binary records changed");
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cee_event recs[MAX_RECS];
	if (size < 2)
		return 0;
	uint8_t opt = data[0];
	size_t small_len = data[1] * 4u; // 0 .. 1020: lines of events and of short groups
	unsigned n = (unsigned)((size - 2) / REC);
	if (n > MAX_RECS)
		n = MAX_RECS;
	memcpy(recs, data + 2, (size_t)n * REC);

	for (unsigned i = 0; i < n; i++)
		one_record(&recs[i], small_len);

	// groups of 1..4 records, with the record after them as their event or alone
	uint64_t rng = opt;
	for (unsigned i = 0; i < n;) {
		unsigned nx = 1 + (unsigned)(fuzz_rng(&rng) % CEE_EVT_EXT_MAX);
		if (nx > n - i)
			nx = n - i;
		const struct cee_event_ext *x[CEE_EVT_EXT_MAX];
		for (unsigned k = 0; k < nx; k++)
			x[k] = &((const union cee_record *)(const void *)&recs[i + k])->ext;
		const struct cee_event *e = (opt & 1) && i + nx < n ? &recs[i + nx] : NULL;
		one_group(e, x, nx, small_len);
		i += nx + (e != NULL);
	}
	sinks(recs, n, opt);
	return 0;
}
