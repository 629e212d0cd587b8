/* SPDX-License-Identifier: BSD-3-Clause */
// Fuzz target: the control socket's request handling (dataplane/
// cee_ctl_sock.c: reading the request line, parsing it, posting the job,
// sending the reply) with the real jobs, mailbox requests and renderers of
// dataplane/cee_ctl.c. Both files are compiled into this target unchanged
// (their parser and per-client loop are static), with the engine clock
// replaced by a fake one: without the EAL the TSC frequency is unknown.
//
// One client connection is a socketpair: the input's bytes are what the
// client writes, in chunks the input chooses, optionally followed by a
// half-close. The shards (one or two) are played by the target: each posted
// request is answered (with records from the input: connections, links,
// counters), failed (-ENOENT, -ENOSPC, -ESHUTDOWN, -EBUSY), or left
// unanswered (the client then times out or hangs up, and the request is
// abandoned to the shard, which frees it).
// Checked: the reply, when there is one, is one strict JSON value followed
// by a newline, and nothing is sent after it; every request is freed once
// (ASan/LSan); the client slot ends closed.
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <rte_ring.h>

#include "fuzz.h"

static uint64_t fuzz_now;
static inline uint64_t fuzz_clock_ns(void)
{
	return fuzz_now;
}

#define cee_clock_ns fuzz_clock_ns
#include "cee_ctl.c"
#include "cee_ctl_sock.c"
#undef cee_clock_ns

#define NSHARDS_MAX 2
#define HELD_MAX 64

static struct cee_ctl *ctl;
static struct cee_mbox mbox[NSHARDS_MAX];
static struct cee_mbox_req *held[HELD_MAX]; /* requests the shards left unanswered */
static unsigned nheld;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	ctl = calloc(1, sizeof(*ctl));
	if (ctl == NULL)
		abort();
	for (unsigned i = 0; i < NSHARDS_MAX; i++) {
		ssize_t sz = rte_ring_get_memsize(CEE_MBOX_RING);
		struct rte_ring *r = aligned_alloc(RTE_CACHE_LINE_SIZE, (size_t)sz);
		char name[RTE_RING_NAMESIZE];
		snprintf(name, sizeof(name), "fuzz_mbox%u", i);
		if (r == NULL || rte_ring_init(r, name, CEE_MBOX_RING, RING_F_SC_DEQ) != 0)
			abort();
		mbox[i].ring = r;
		mbox[i].nlinks = 3;
		ctl->mbox[i] = &mbox[i];
	}
	snprintf(ctl->name, sizeof(ctl->name), "fuzz");
	ctl->listen_fd = -1;
	ctl->list_cap = 4;
	for (unsigned i = 0; i < CEE_CTL_MAX_CLIENTS; i++)
		ctl->clients[i].fd = -1;
	return 0;
}

static void fill_conn(struct cee_mbox_conn *x, struct fuzz_in *in, cee_conn_id_t id)
{
	memset(x, 0, sizeof(*x));
	x->id = id ? id : fuzz_u32(in);
	x->open_ns = fuzz_u32(in);
	x->bytes_in = fuzz_u16(in);
	x->bytes_out = fuzz_u16(in);
	x->local_ip = fuzz_u32(in);
	x->remote_ip = fuzz_u32(in);
	x->local_port = fuzz_u16(in);
	x->remote_port = fuzz_u16(in);
	x->state = (uint8_t)(fuzz_u8(in) % CEE_TCP_STATE__COUNT);
	x->proto = (uint8_t)(fuzz_u8(in) % CEE_PROTO__COUNT);
	x->close_reason = (uint8_t)(fuzz_u8(in) % CEE_REASON__COUNT);
	x->closed = fuzz_u8(in) & 1;
	x->departed = fuzz_u8(in) & 1;
}

/* The shards' mailbox phase: answer, fail or keep what was posted. */
static void shards_serve(unsigned nshards, struct fuzz_in *ans)
{
	static const int fails[] = {-ENOENT, -ENOSPC, -ESHUTDOWN, -EBUSY, -ENOMEM};
	for (unsigned s = 0; s < nshards; s++) {
		void *p;
		while (rte_ring_sc_dequeue(mbox[s].ring, &p) == 0) {
			struct cee_mbox_req *r = p;
			uint8_t how = fuzz_u8(ans);
			if (how % 8 == 7 && nheld < HELD_MAX) {
				held[nheld++] = r; // no answer (yet)
				continue;
			}
			r->rc = how % 8 == 6 ? fails[(how >> 3) % 5] : 0;
			r->sseq = fuzz_u32(ans);
			r->now_ns = fuzz_now;
			r->live = fuzz_u8(ans);
			switch ((enum cee_mbox_op)r->op) {
			case CEE_MBOX_OP_LIST:
				r->n = fuzz_u8(ans) % (r->cap + 1);
				for (uint32_t k = 0; k < r->n; k++)
					fill_conn(&r->conns[k], ans, 0);
				break;
			case CEE_MBOX_OP_CONN:
			case CEE_MBOX_OP_KILL:
			case CEE_MBOX_OP_WATCH:
				fill_conn(&r->conn, ans, r->id);
				break;
			case CEE_MBOX_OP_LINKS: {
				struct cee_link_info *li = r->data;
				static const char cs[] = "abcdefghijklmnopqrstuvwxyz0123456789_.-";
				r->n = fuzz_u8(ans) % (r->cap + 1);
				for (uint32_t k = 0; k < r->n; k++) {
					memset(&li[k], 0, sizeof(li[k]));
					unsigned len = 1 + fuzz_u8(ans) % CEE_LINK_NAME_MAX;
					for (unsigned c = 0; c < len; c++)
						li[k].name[c] = cs[fuzz_u8(ans) % (sizeof(cs) - 1)];
					li[k].index = fuzz_u8(ans);
					li[k].ip = fuzz_u32(ans);
					li[k].port = fuzz_u16(ans);
					li[k].tls = fuzz_u8(ans) & 1;
					li[k].state = fuzz_u8(ans) % 4;
					li[k].last_reason =
					    (uint8_t)(fuzz_u8(ans) % CEE_REASON__COUNT);
					li[k].conn = fuzz_u32(ans);
					li[k].attempts = fuzz_u16(ans);
					li[k].up_ms = fuzz_u32(ans);
					li[k].next_ms = fuzz_u32(ans);
				}
				break;
			}
			case CEE_MBOX_OP_STATS: {
				struct cee_ctl_shard_stats *st = r->data;
				st->live = fuzz_u16(ans);
				st->max_conns = fuzz_u16(ans);
				st->tcp.segs_in = fuzz_u32(ans);
				st->draining = fuzz_u8(ans) & 1;
				break;
			}
			case CEE_MBOX_OP_DRAIN:
			case CEE_MBOX_OP__COUNT:
				break;
			}
			cee_mbox_req_finish(r);
		}
	}
}

static size_t drain_reply(int fd, char *buf, size_t have, size_t cap)
{
	for (;;) {
		ssize_t n = recv(fd, buf + have, cap - have, MSG_DONTWAIT);
		if (n <= 0)
			return have;
		have += (size_t)n;
		FUZZ_CHECK(have < cap, "reply larger than %zu bytes", cap);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char reply[1 << 20];
	if (size < 3)
		return 0;
	uint8_t opt = data[0];
	uint64_t rng = data[1];
	// the request bytes, then (after a 0xff 0xfe marker, if any) the shards' answers
	const uint8_t *req = data + 2;
	size_t req_len = size - 2;
	struct fuzz_in ans = {NULL, 0};
	for (size_t i = 0; i + 1 < req_len; i++)
		if (req[i] == 0xff && req[i + 1] == 0xfe) {
			ans.p = req + i + 2;
			ans.left = req_len - i - 2;
			req_len = i;
			break;
		}
	unsigned nshards = 1 + (opt & 1);
	ctl->nshards = nshards;
	fuzz_now = 1000000000000ull;

	int sv[2];
	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0,
		   "socketpair");
	struct ctl_client *k = &ctl->clients[0];
	k->fd = sv[0];
	k->line_len = 0;
	k->out_off = 0;
	k->cmd = CTL_CMD__COUNT;
	k->deadline_ns = fuzz_now + CLIENT_TIMEOUT_NS;
	k->check_ns = 0;

	size_t sent = 0, got = 0;
	bool hup = false;
	for (unsigned round = 0; round < 64 && k->fd >= 0; round++) {
		if (sent < req_len) {
			size_t n = 1 + (size_t)(fuzz_rng(&rng) % 300);
			if (n > req_len - sent)
				n = req_len - sent;
			ssize_t w = send(sv[1], req + sent, n, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (w > 0)
				sent += (size_t)w;
		} else if ((opt & 2) && !hup) {
			shutdown(sv[1], SHUT_WR); // half-close after the request
			hup = true;
		}
		(void)client_poll(ctl, k, fuzz_now);
		shards_serve(nshards, &ans);
		got = drain_reply(sv[1], reply, got, sizeof(reply));
		fuzz_now += 1000000 * (1 + (fuzz_rng(&rng) % 100));
	}
	if (k->fd >= 0) {
		// still waiting (a watch, a shard that does not answer): the client
		// hangs up or the exchange times out
		if (opt & 4) {
			close(sv[1]);
			sv[1] = -1;
			for (unsigned i = 0; i < 4 && k->fd >= 0; i++) {
				fuzz_now += WATCH_CHECK_NS;
				(void)client_poll(ctl, k, fuzz_now);
			}
		}
		if (k->fd >= 0 && k->deadline_ns != UINT64_MAX) {
			fuzz_now = k->deadline_ns + 1;
			(void)client_poll(ctl, k, fuzz_now);
		}
		if (k->fd >= 0)
			client_close(ctl, k);
	}
	if (sv[1] >= 0) {
		got = drain_reply(sv[1], reply, got, sizeof(reply));
		close(sv[1]);
	}
	FUZZ_CHECK(k->fd < 0 && !k->job.active && k->out.p == NULL, "client slot not released");

	// the shards free what was abandoned to them
	for (unsigned i = 0; i < nheld; i++)
		cee_mbox_req_finish(held[i]);
	// a request still marked posted was never abandoned nor answered: leaked
	nheld = 0;
	shards_serve(nshards, &ans); // anything posted late

	if (got > 0) {
		FUZZ_CHECK(reply[got - 1] == '\n', "reply does not end with a newline");
		const char *err = fuzz_json_check(reply, got - 1);
		FUZZ_CHECK(err == NULL, "reply is not JSON (%s): %.*s", err, (int)got, reply);
	}
	return 0;
}
