/* SPDX-License-Identifier: BSD-3-Clause */
// Fuzz target: the audit (events/cee_audit.c) on record streams.
//
// Input: one byte of settings, then either
//   raw (bit 0 clear): 64-byte records as they come (any types, ids, sseqs,
//     groups), fed whole and again in batches cut by the input: both runs
//     must give the same result (the audit cannot depend on where the
//     exporter cut its writes), events + ext must count every record;
//   generated (bit 0 set): the bytes drive a model engine (1-3 shards,
//     connections that open, establish, go up through TLS/WS, hold links,
//     close with a reason and are destroyed, extension groups before the
//     events that carry them, interleaved across connections), ending with
//     every connection destroyed. Such a stream must audit OK, directly and
//     after the jsonl sink wrote it and cee-audit's reader
//     (apps/cee-audit.c, read_file) read it back, with the same counts.
//     Then one record is dropped, duplicated, or swapped with its
//     successor on the same shard (bits 1-2): the audit must no longer say
//     OK, directly or through the sink and the reader.
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cee_audit.h"
#include "cee_event.h"
#include "cee_sink.h"
#include "fuzz.h"
#include "fuzz_audit_app.h"

#define MAX_RECS 1024
#define MAX_LIVE 16
#define NLINKS 4

static struct cee_event recs[MAX_RECS + 1];
static struct fuzz_file jsonl_file;

#define RESULT_FIELDS(X)                                                                           \
	X(events)                                                                                  \
	X(ext) X(opens) X(established) X(closes) X(destroys) X(gaps) X(duplicate) X(out_of_order)  \
	    X(lost) X(live) X(ext_bad) X(inconsistent) X(link_up) X(link_down) X(link_bad)        \
	    X(unknown_reason)

static void same_result(const struct cee_audit_result *a, const struct cee_audit_result *b,
			const char *what)
{
#define X(f)                                                                                       \
	FUZZ_CHECK(a->f == b->f, "%s: " #f " %llu vs %llu", what, (unsigned long long)a->f,        \
		   (unsigned long long)b->f);
	RESULT_FIELDS(X)
#undef X
	for (unsigned i = 0; i < CEE_REASON__COUNT; i++)
		FUZZ_CHECK(a->by_reason[i] == b->by_reason[i], "%s: by_reason[%u]", what, i);
	FUZZ_CHECK(a->ok == b->ok, "%s: ok %d vs %d", what, a->ok, b->ok);
}

static void audit(const struct cee_event *ev, unsigned n, bool live_ok, uint64_t cut,
		  struct cee_audit_result *res)
{
	struct cee_audit *a = cee_audit_create();
	FUZZ_CHECK(a != NULL, "cee_audit_create");
	for (unsigned i = 0; i < n;) {
		unsigned k = cut == 0 ? n : 1 + (unsigned)(fuzz_rng(&cut) % 16);
		if (k > n - i)
			k = n - i;
		cee_audit_feed(a, ev + i, k);
		i += k;
	}
	cee_audit_finish(a, live_ok, res);
	cee_audit_print_violations(a, fuzz_quiet());
	cee_audit_destroy(a);
}

/* The stream written by the jsonl sink and read back by cee-audit. */
static void audit_jsonl(const struct cee_event *ev, unsigned n, struct cee_audit_result *res)
{
	fuzz_file_init(&jsonl_file, "fuzz-audit-jsonl");
	fuzz_file_set(&jsonl_file, NULL, 0);
	char spec[96];
	snprintf(spec, sizeof(spec), "jsonl:%s", jsonl_file.path);
	struct cee_sink *s = cee_sink_open(spec);
	FUZZ_CHECK(s != NULL, "cee_sink_open");
	FUZZ_CHECK(n == 0 || cee_sink_write(s, ev, n) == (int)n, "jsonl write");
	cee_sink_close(s);
	int rc = read_file(jsonl_file.path, true);
	if (rc < 0) {
		size_t len;
		char *text = fuzz_file_get(&jsonl_file, &len);
		fprintf(stderr, "%s", text);
		free(text);
	}
	FUZZ_CHECK(rc == 0, "cee-audit cannot read what the jsonl sink wrote: %d", rc);
	// One engine (no id): what cee-audit's main would audit.
	FUZZ_CHECK(nengines <= 1, "the sink's lines read as %u engines", nengines);
	struct engine_audit *ea = engine_get("");
	FUZZ_CHECK(ea != NULL, "engine_get");
	allow_live = false; // (cee-audit's global; its main() sets it)
	FUZZ_CHECK(engine_finish(ea, false) == 0, "engine_finish");
	*res = ea->res;
	engines_free();
}

/* ---- the model engine ---- */

struct mconn {
	cee_conn_id_t id;
	uint8_t proto; /* with CEE_PROTO_F_OUT */
	uint8_t plan[CEE_EVT_PER_CONN_MAX];
	uint8_t nplan, next;
	uint8_t cseq; /* events emitted (a planned link event may be skipped) */
	uint8_t reason;
	int link;	  /* its link (named at its open, held until link_down), -1 none */
	uint32_t attempt; /* the link's attempt it is */
};

struct model {
	unsigned nshards;
	uint64_t sseq[3], serial[3];
	struct mconn live[MAX_LIVE];
	unsigned nlive;
	cee_conn_id_t link_conn[NLINKS]; /* 0: down */
	uint32_t link_attempt[NLINKS];	 /* the attempt ordinal of its last connection */
	unsigned n;			 /* records written */
	struct fuzz_in *in;
};

static void push(struct model *m, const struct cee_event *e)
{
	if (m->n < MAX_RECS)
		recs[m->n] = *e;
	m->n++;
}

/* An extension group for the event of type @p of of @p c, then nothing in between. */
static void push_group(struct model *m, const struct mconn *c, enum cee_evt_type of)
{
	struct cee_ext_builder b;
	unsigned shard = cee_id_shard(c->id);
	uint8_t k = fuzz_u8(m->in);
	const uint8_t *s;
	size_t sl;
	char name[16];

	cee_ext_begin(&b, c->id, of);
	switch (of) {
	case CEE_EVT_TLS_UP:
		cee_ext_put_u16(&b, CEE_EXT_TLS_VERSION, (k & 1) ? 0x0304 : 0x0303);
		cee_ext_put_str(&b, CEE_EXT_CIPHER, "TLS_AES_128_GCM_SHA256");
		sl = fuzz_bytes(m->in, k >> 1, &s); // an SNI from the network: any bytes
		cee_ext_put(&b, CEE_EXT_SNI, s, (uint32_t)sl);
		break;
	case CEE_EVT_WS_UP:
		sl = fuzz_bytes(m->in, k, &s);
		cee_ext_put(&b, CEE_EXT_WS_PATH, s, (uint32_t)sl);
		break;
	case CEE_EVT_CLOSED:
		if (c->reason == CEE_REASON_WS_CLOSE) {
			cee_ext_put_u16(&b, CEE_EXT_WS_CODE, 1000);
			sl = fuzz_bytes(m->in, k, &s);
			cee_ext_put(&b, CEE_EXT_WS_REASON, s, (uint32_t)sl);
		}
		break;
	case CEE_EVT_LINK_UP:
	case CEE_EVT_LINK_DOWN:
	case CEE_EVT_OPEN: // (a link's attempt names its link at its open)
		snprintf(name, sizeof(name), "trunk%d", c->link);
		cee_ext_put_str(&b, CEE_EXT_LINK, name);
		if (of != CEE_EVT_OPEN)
			cee_ext_put_u32(&b, CEE_EXT_ATTEMPT, c->attempt);
		if (of == CEE_EVT_LINK_DOWN)
			cee_ext_put_u32(&b, CEE_EXT_NEXT_ATTEMPT_MS, fuzz_u32(m->in));
		break;
	case CEE_EVT_ESTABLISHED:
	case CEE_EVT_DESTROYED:
	case CEE_EVT__COUNT:
		break;
	}
	unsigned nr = cee_ext_end(&b);
	for (unsigned i = 0; i < nr; i++) {
		b.rec[i].ext.sseq = ++m->sseq[shard];
		push(m, &b.rec[i].ev);
	}
}

static void emit(struct model *m, struct mconn *c)
{
	enum cee_evt_type t = (enum cee_evt_type)c->plan[c->next];
	unsigned shard = cee_id_shard(c->id);

	bool group = t == CEE_EVT_TLS_UP || t == CEE_EVT_WS_UP || t == CEE_EVT_LINK_UP ||
		     t == CEE_EVT_LINK_DOWN || (t == CEE_EVT_OPEN && c->link >= 0) ||
		     (t == CEE_EVT_CLOSED && (fuzz_u8(m->in) & 1));
	if (group)
		push_group(m, c, t);
	struct cee_event e;
	memset(&e, 0, sizeof(e));
	e.conn = c->id;
	e.sseq = ++m->sseq[shard];
	e.type = (uint8_t)t;
	e.proto = c->proto;
	e.cseq = c->cseq++;
	e.local_ip = 0x0a000001;
	e.remote_ip = 0x0a000002;
	e.local_port = 5061;
	e.remote_port = (uint16_t)(40000 + c->id);
	if (t == CEE_EVT_CLOSED || t == CEE_EVT_LINK_DOWN)
		e.reason = c->reason;
	if (t == CEE_EVT_CLOSED) {
		e.bytes_in = fuzz_u16(m->in);
		e.bytes_out = fuzz_u16(m->in);
		e.duration_ns = fuzz_u32(m->in);
	}
	push(m, &e);
	if (t == CEE_EVT_LINK_DOWN)
		m->link_conn[c->link] = 0;
	c->next++;
}

static void open_conn(struct model *m)
{
	uint8_t k = fuzz_u8(m->in);
	unsigned shard = k % m->nshards;
	struct mconn *c = &m->live[m->nlive++];
	memset(c, 0, sizeof(*c));
	c->id = cee_id_make(shard, ++m->serial[shard]);
	uint8_t proto = (uint8_t)((k >> 2) & 3);
	bool out = k & 0x10;
	c->proto = (uint8_t)(proto | (out ? CEE_PROTO_F_OUT : 0));
	c->link = -1;
	c->plan[c->nplan++] = CEE_EVT_OPEN;
	// an accepted connection is announced at its handshake's end:
	// established always follows its open (docs/events.md)
	// an outbound one that comes up is a link's attempt when a link is
	// free (one attempt of a link at a time: from its open to its
	// link_down), else an embedder's connection, of no link
	if (out && (k & 0x20))
		for (int l = 0; l < NLINKS; l++)
			if (m->link_conn[l] == 0) {
				c->link = l;
				m->link_conn[l] = c->id;
				// the link's attempt ordinal grows by its
				// attempts, some never up (no link events)
				m->link_attempt[l] += 1 + fuzz_u8(m->in) % 4;
				c->attempt = m->link_attempt[l];
				break;
			}
	if ((k & 0x20) || !out) {
		c->plan[c->nplan++] = CEE_EVT_ESTABLISHED;
		if (proto == CEE_PROTO_TLS || proto == CEE_PROTO_WSS)
			c->plan[c->nplan++] = CEE_EVT_TLS_UP;
		if (proto == CEE_PROTO_WS || proto == CEE_PROTO_WSS)
			c->plan[c->nplan++] = CEE_EVT_WS_UP;
		if (c->link >= 0)
			c->plan[c->nplan++] = CEE_EVT_LINK_UP;
	}
	uint8_t r = fuzz_u8(m->in);
	c->reason = (uint8_t)(1 + r % (CEE_REASON__COUNT - 1));
	if ((c->reason == CEE_REASON_TLS_ALERT || c->reason == CEE_REASON_TLS_CLOSE_NOTIFY) &&
	    proto != CEE_PROTO_TLS && proto != CEE_PROTO_WSS)
		c->reason = CEE_REASON_PEER_FIN;
	if ((c->reason == CEE_REASON_WS_CLOSE || c->reason == CEE_REASON_WS_UPGRADE_FAILED ||
	     c->reason == CEE_REASON_WS_PING_TIMEOUT) &&
	    proto != CEE_PROTO_WS && proto != CEE_PROTO_WSS)
		c->reason = CEE_REASON_PEER_FIN;
	// and one the state it closes in can end with (docs/events.md,
	// Reasons): every layer up, or (an outbound attempt) nothing past open
	bool up = (k & 0x20) || !out;
	if (up && (c->reason == CEE_REASON_HANDSHAKE_TIMEOUT ||
		   c->reason == CEE_REASON_HOST_UNREACHABLE ||
		   c->reason == CEE_REASON_WS_UPGRADE_FAILED))
		c->reason = CEE_REASON_PEER_FIN;
	if (!up && (c->reason == CEE_REASON_TLS_ALERT || c->reason == CEE_REASON_TLS_CLOSE_NOTIFY ||
		    c->reason == CEE_REASON_WS_CLOSE || c->reason == CEE_REASON_WS_PING_TIMEOUT ||
		    c->reason == CEE_REASON_WS_UPGRADE_FAILED ||
		    c->reason == CEE_REASON_KEEPALIVE_TIMEOUT ||
		    c->reason == CEE_REASON_ZERO_WINDOW_TIMEOUT))
		c->reason = CEE_REASON_PEER_RST;
	c->plan[c->nplan++] = CEE_EVT_CLOSED;
	if (c->link >= 0)
		c->plan[c->nplan++] = CEE_EVT_LINK_DOWN;
	c->plan[c->nplan++] = CEE_EVT_DESTROYED;
}

static void step(struct model *m, unsigned i)
{
	struct mconn *c = &m->live[i];
	emit(m, c);
	// an accepted connection's open and established go out together
	// (consecutive sseq, one ts_ns: docs/events.md)
	if (c->next == 1 && !(c->proto & CEE_PROTO_F_OUT))
		emit(m, c);
	if (c->next == c->nplan)
		m->live[i] = m->live[--m->nlive];
}

static unsigned generate(struct fuzz_in *in)
{
	struct model m;
	memset(&m, 0, sizeof(m));
	m.in = in;
	m.nshards = 1 + fuzz_u8(in) % 3;
	while (fuzz_more(in) && m.n < 256) {
		uint8_t k = fuzz_u8(in);
		if (m.nlive == 0 || (k % 4 == 0 && m.nlive < MAX_LIVE))
			open_conn(&m);
		else
			step(&m, (k >> 2) % m.nlive);
	}
	while (m.nlive > 0)
		step(&m, m.nlive - 1);
	return m.n;
}

static void generated(struct fuzz_in *in, uint8_t opt)
{
	unsigned n = generate(in);
	FUZZ_CHECK(n <= MAX_RECS, "model wrote %u records", n);
	struct cee_audit_result r, rj;
	audit(recs, n, false, 0, &r);
	if (!r.ok) {
		struct cee_audit *a = cee_audit_create();
		cee_audit_feed(a, recs, n);
		cee_audit_finish(a, false, &r);
		cee_audit_print_violations(a, stderr);
		cee_audit_destroy(a);
	}
	FUZZ_CHECK(r.ok, "a valid stream of %u records does not audit OK", n);
	audit_jsonl(recs, n, &rj);
	FUZZ_CHECK(rj.ok, "a valid stream does not audit OK after the jsonl sink and cee-audit");
	FUZZ_CHECK(rj.events == r.events && rj.ext == r.ext && rj.opens == r.opens &&
		       rj.closes == r.closes && rj.destroys == r.destroys &&
		       rj.link_up == r.link_up && rj.link_down == r.link_down,
		   "counts differ through the jsonl sink and cee-audit");

	unsigned mut = (opt >> 1) & 3;
	if (mut == 0 || n < 2)
		return;
	unsigned at = fuzz_u16(in) % n;
	const char *what;
	if (mut == 1) {
		memmove(&recs[at], &recs[at + 1], (n - at - 1) * sizeof(recs[0]));
		n--;
		what = "dropped";
	} else if (mut == 2) {
		memmove(&recs[at + 1], &recs[at], (n - at) * sizeof(recs[0]));
		n++;
		what = "duplicated";
	} else {
		unsigned j = at + 1;
		while (j < n && cee_event_shard(&recs[j]) != cee_event_shard(&recs[at]))
			j++;
		if (j == n)
			return;
		struct cee_event t = recs[at];
		recs[at] = recs[j];
		recs[j] = t;
		what = "swapped";
	}
	audit(recs, n, false, 0, &r);
	FUZZ_CHECK(!r.ok, "a stream with record %u %s audits OK", at, what);
	audit_jsonl(recs, n, &rj);
	FUZZ_CHECK(!rj.ok, "a stream with record %u %s audits OK through the jsonl sink", at, what);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t opt = data[0];
	struct fuzz_in in = {data + 1, size - 1};
	if (opt & 1) {
		generated(&in, opt);
		return 0;
	}
	unsigned n = (unsigned)((size - 1) / sizeof(struct cee_event));
	if (n > MAX_RECS)
		n = MAX_RECS;
	memcpy(recs, data + 1, n * sizeof(struct cee_event));
	bool live_ok = opt & 2;
	struct cee_audit_result whole, cut;
	audit(recs, n, live_ok, 0, &whole);
	audit(recs, n, live_ok, opt | 1u << 8, &cut);
	same_result(&whole, &cut, "whole vs batches");
	FUZZ_CHECK(whole.events + whole.ext == n, "%llu events + %llu ext for %u records",
		   (unsigned long long)whole.events, (unsigned long long)whole.ext, n);
	return 0;
}
