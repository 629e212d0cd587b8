/* SPDX-License-Identifier: BSD-3-Clause */
// DPDK telemetry commands. They run on DPDK's telemetry thread: each posts
// requests to the shards' mailboxes and waits for the answers (never reading
// shard memory). Telemetry replies are limited (16 KiB of JSON per reply in
// DPDK 22.11, RTE_TEL_MAX_DICT_ENTRIES/RTE_TEL_MAX_ARRAY_ENTRIES per level,
// one level of nesting), so connection lists are capped and say so; the
// command socket (cee-ctl) has no cap.
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_common.h>
#include <rte_telemetry.h>

#include "cee_ctl_priv.h"
#include "cee_link.h"

/** Connections /cee/conns details at most (each ~200 bytes of the 16 KiB reply). */
#define TEL_CONNS_MAX 48
/** Connection ids /cee/snapshot lists at most. */
#define TEL_IDS_MAX 400
/** Links /cee/links details at most (each ~250 bytes of the 16 KiB reply). */
#define TEL_LINKS_MAX 48
/** What /cee/stats fills of telemetry's 16 KiB reply at most (a margin kept). */
#define TEL_REPLY_BYTES (16384 - 256)
/** /cee/stats' own entries and the command's name around them. */
#define TEL_HEAD_BYTES 200

// The engine served: registration is once per process and cannot be undone,
// so handlers find their control plane here, under the lock that destroy
// takes to detach it.
static pthread_mutex_t tel_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cee_ctl *tel_ctl;
static bool tel_registered;

static int tel_error(struct rte_tel_data *d, const char *msg, const char *conn)
{
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_string(d, "error", msg);
	if (conn != NULL)
		rte_tel_data_add_dict_string(d, "conn", conn);
	return 0;
}

static void add_stats(struct rte_tel_data *d, const struct ctl_stat *st, unsigned n)
{
	for (unsigned k = 0; k < n; k++)
		rte_tel_data_add_dict_u64(d, st[k].name, st[k].v);
}

// Which engine and run answered, as the socket's replies say it: ids and
// sseq start again with each run, so a cut or an id taken from telemetry
// named something else after a restart, with nothing in the reply to tell.
static void add_identity(const struct cee_ctl *c, struct rte_tel_data *d)
{
	rte_tel_data_add_dict_string(d, "engine", c->engine);
	rte_tel_data_add_dict_string(d, "run", c->run);
}

// The JSON telemetry writes for "key":{counters} (DPDK 22.11's format),
// to know beforehand what fits in its reply: what does not fit is dropped
// without a word.
static size_t stats_json_len(const char *key, const struct ctl_stat *st, unsigned n)
{
	size_t len = strlen(key) + 5; // "key":{} and a comma
	char num[24];
	for (unsigned k = 0; k < n; k++)
		len += strlen(st[k].name) + 4 +
		       (size_t)snprintf(num, sizeof(num), "%" PRIu64, st[k].v);
	return len;
}

static int do_stats(struct cee_ctl *c, struct rte_tel_data *d)
{
	struct ctl_job j;
	cee_ctl_job_start(c, &j, CEE_MBOX_OP_STATS, 0);
	if (cee_ctl_job_wait(&j, c) < 0) {
		cee_ctl_job_release(&j);
		return tel_error(d, cee_ctl_err_msg(CTL_CMD_STATS, j.rc), NULL);
	}
	struct ctl_stat total[CTL_STATS_MAX], one[CTL_STATS_MAX];
	memset(total, 0, sizeof(total));
	unsigned n = 0;
	rte_tel_data_start_dict(d);
	// the total first: a reply is at most 16 KiB, and telemetry drops what
	// does not fit without a word (the shards after the first few): the
	// shards that fit are counted before, and the reply says how many it
	// shows ("shards", "shown", "truncated")
	for (unsigned i = 0; i < j.count; i++) {
		n = cee_ctl_stat_fields(j.req[i]->data, one);
		cee_ctl_stat_add(total, one, n);
	}
	size_t used = TEL_HEAD_BYTES + stats_json_len("total", total, n);
	unsigned shown = 0;
	for (unsigned i = 0; i < j.count; i++) {
		unsigned m = cee_ctl_stat_fields(j.req[i]->data, one);
		char name[16];
		snprintf(name, sizeof(name), "shard_%u", j.first + i);
		used += stats_json_len(name, one, m);
		if (used > TEL_REPLY_BYTES)
			break;
		shown++;
	}
	add_identity(c, d);
	rte_tel_data_add_dict_u64(d, "shards", j.count);
	rte_tel_data_add_dict_u64(d, "shown", shown);
	rte_tel_data_add_dict_u64(d, "truncated", shown < j.count);
	struct rte_tel_data *td = rte_tel_data_alloc();
	if (td != NULL) {
		rte_tel_data_start_dict(td);
		add_stats(td, total, n);
		if (rte_tel_data_add_dict_container(d, "total", td, 0) < 0)
			rte_tel_data_free(td);
	}
	for (unsigned i = 0; i < shown; i++) {
		n = cee_ctl_stat_fields(j.req[i]->data, one);
		struct rte_tel_data *sd = rte_tel_data_alloc();
		if (sd == NULL)
			continue;
		rte_tel_data_start_dict(sd);
		add_stats(sd, one, n);
		char name[16];
		snprintf(name, sizeof(name), "shard_%u", j.first + i);
		if (rte_tel_data_add_dict_container(d, name, sd, 0) < 0)
			rte_tel_data_free(sd);
	}
	cee_ctl_job_release(&j);
	return 0;
}

static struct rte_tel_data *conn_dict(const struct cee_mbox_conn *x, uint64_t now)
{
	struct rte_tel_data *cd = rte_tel_data_alloc();
	if (cd == NULL)
		return NULL;
	char local[32], remote[32];
	cee_ctl_addr_str(local, sizeof(local), x->local_ip, x->local_port);
	cee_ctl_addr_str(remote, sizeof(remote), x->remote_ip, x->remote_port);
	rte_tel_data_start_dict(cd);
	rte_tel_data_add_dict_u64(cd, "shard", cee_id_shard(x->id));
	rte_tel_data_add_dict_string(cd, "state", cee_tcp_state_str((enum cee_tcp_state)x->state));
	rte_tel_data_add_dict_string(cd, "proto", cee_proto_str((enum cee_proto)x->proto));
	rte_tel_data_add_dict_string(cd, "local", local);
	rte_tel_data_add_dict_string(cd, "remote", remote);
	rte_tel_data_add_dict_u64(cd, "age_ms", cee_ctl_age_ms(x->open_ns, now));
	rte_tel_data_add_dict_u64(cd, "bytes_in", x->bytes_in);
	rte_tel_data_add_dict_u64(cd, "bytes_out", x->bytes_out);
	// as the socket's listing: a connection closed (TIME-WAIT, LAST-ACK)
	// says why, and one destroyed after the cut is marked (departed 1),
	// or a gone connection passed for a live one
	if (x->close_reason != CEE_REASON_NONE)
		rte_tel_data_add_dict_string(cd, "reason",
					     cee_reason_str((enum cee_reason)x->close_reason));
	if (x->departed)
		rte_tel_data_add_dict_u64(cd, "departed", 1);
	return cd;
}

// /cee/conns: {"count": N, "shown": K, "truncated": 0|1, "<id>": {...}, ...}
// /cee/snapshot: {"shard_<i>": {"sseq", "live"}, "count", "truncated", "ids": [...]}
static int do_list(struct cee_ctl *c, struct rte_tel_data *d, bool snapshot)
{
	struct ctl_job j;
	cee_ctl_job_start(c, &j, CEE_MBOX_OP_LIST, 0);
	if (cee_ctl_job_wait(&j, c) < 0) {
		cee_ctl_job_release(&j);
		return tel_error(d, cee_ctl_err_msg(snapshot ? CTL_CMD_SNAPSHOT : CTL_CMD_CONNS, j.rc),
				 NULL);
	}
	uint64_t count = 0;
	for (unsigned i = 0; i < j.count; i++)
		count += j.req[i]->n;
	unsigned cap = snapshot ? TEL_IDS_MAX : TEL_CONNS_MAX;
	unsigned shown = 0;
	rte_tel_data_start_dict(d);
	add_identity(c, d);
	rte_tel_data_add_dict_u64(d, "count", count);
	rte_tel_data_add_dict_u64(d, "truncated", count > cap);
	struct rte_tel_data *ids = NULL;
	if (snapshot) {
		for (unsigned i = 0; i < j.count; i++) {
			struct rte_tel_data *sd = rte_tel_data_alloc();
			if (sd == NULL)
				continue;
			rte_tel_data_start_dict(sd);
			rte_tel_data_add_dict_u64(sd, "sseq", j.req[i]->sseq);
			rte_tel_data_add_dict_u64(sd, "live", j.req[i]->n);
			char name[16];
			snprintf(name, sizeof(name), "shard_%u", j.first + i);
			if (rte_tel_data_add_dict_container(d, name, sd, 0) < 0)
				rte_tel_data_free(sd);
		}
		ids = rte_tel_data_alloc();
		if (ids != NULL)
			rte_tel_data_start_array(ids, RTE_TEL_STRING_VAL);
	}
	for (unsigned i = 0; i < j.count; i++) {
		const struct cee_mbox_req *r = j.req[i];
		for (uint32_t k = 0; k < r->n && shown < cap; k++, shown++) {
			char id[20];
			snprintf(id, sizeof(id), "%016" PRIx64, r->conns[k].id);
			if (snapshot) {
				if (ids != NULL)
					rte_tel_data_add_array_string(ids, id);
				continue;
			}
			struct rte_tel_data *cd = conn_dict(&r->conns[k], r->now_ns);
			if (cd != NULL && rte_tel_data_add_dict_container(d, id, cd, 0) < 0)
				rte_tel_data_free(cd);
		}
	}
	rte_tel_data_add_dict_u64(d, "shown", shown);
	if (ids != NULL && rte_tel_data_add_dict_container(d, "ids", ids, 0) < 0)
		rte_tel_data_free(ids);
	cee_ctl_job_release(&j);
	return 0;
}

static int do_conn(struct cee_ctl *c, const char *params, struct rte_tel_data *d)
{
	cee_conn_id_t id;
	if (params == NULL || cee_ctl_parse_id(params, &id) < 0)
		return tel_error(d, "usage: /cee/conn,<id> (16 hex digits)", NULL);
	struct ctl_job j;
	cee_ctl_job_start(c, &j, CEE_MBOX_OP_CONN, id);
	int rc = cee_ctl_job_wait(&j, c);
	if (rc < 0) {
		cee_ctl_job_release(&j);
		char idstr[20];
		snprintf(idstr, sizeof(idstr), "%016" PRIx64, id);
		return tel_error(d, cee_ctl_err_msg(CTL_CMD_CONN, rc), idstr);
	}
	const struct cee_mbox_req *r = j.req[0];
	char local[32], remote[32], idstr[20];
	snprintf(idstr, sizeof(idstr), "%016" PRIx64, r->conn.id);
	cee_ctl_addr_str(local, sizeof(local), r->conn.local_ip, r->conn.local_port);
	cee_ctl_addr_str(remote, sizeof(remote), r->conn.remote_ip, r->conn.remote_port);
	rte_tel_data_start_dict(d);
	add_identity(c, d);
	rte_tel_data_add_dict_string(d, "id", idstr);
	rte_tel_data_add_dict_u64(d, "shard", cee_id_shard(r->conn.id));
	rte_tel_data_add_dict_string(d, "state",
				     cee_tcp_state_str((enum cee_tcp_state)r->conn.state));
	rte_tel_data_add_dict_string(d, "proto", cee_proto_str((enum cee_proto)r->conn.proto));
	rte_tel_data_add_dict_string(d, "local", local);
	rte_tel_data_add_dict_string(d, "remote", remote);
	rte_tel_data_add_dict_u64(d, "age_ms", cee_ctl_age_ms(r->conn.open_ns, r->now_ns));
	rte_tel_data_add_dict_u64(d, "bytes_in", r->conn.bytes_in);
	rte_tel_data_add_dict_u64(d, "bytes_out", r->conn.bytes_out);
	if (r->conn.close_reason != CEE_REASON_NONE)
		rte_tel_data_add_dict_string(d, "reason",
					     cee_reason_str((enum cee_reason)r->conn.close_reason));
	cee_ctl_job_release(&j);
	return 0;
}

// /cee/links: {"count": N, "shown": K, "truncated": 0|1, "link_<index>": {...}, ...}
// in the engine's order; each link's fields as in cee-ctl links. Keyed by
// index: telemetry names allow only [A-Za-z0-9_/], link names also '.', '-'.
static int do_links(struct cee_ctl *c, struct rte_tel_data *d)
{
	struct ctl_job j;
	cee_ctl_job_start(c, &j, CEE_MBOX_OP_LINKS, 0);
	if (cee_ctl_job_wait(&j, c) < 0) {
		cee_ctl_job_release(&j);
		return tel_error(d, cee_ctl_err_msg(CTL_CMD_LINKS, j.rc), NULL);
	}
	struct ctl_link *v;
	int n = cee_ctl_links_collect(&j, &v);
	if (n < 0) {
		cee_ctl_job_release(&j);
		return tel_error(d, strerror(-n), NULL);
	}
	unsigned shown = (unsigned)n < TEL_LINKS_MAX ? (unsigned)n : TEL_LINKS_MAX;
	rte_tel_data_start_dict(d);
	add_identity(c, d);
	rte_tel_data_add_dict_u64(d, "count", (uint64_t)n);
	rte_tel_data_add_dict_u64(d, "truncated", (unsigned)n > shown);
	rte_tel_data_add_dict_u64(d, "shown", shown);
	for (unsigned i = 0; i < shown; i++) {
		const struct cee_link_info *x = v[i].info;
		struct rte_tel_data *ld = rte_tel_data_alloc();
		if (ld == NULL)
			continue;
		char remote[32], conn[20], key[24];
		cee_ctl_addr_str(remote, sizeof(remote), x->ip, x->port);
		rte_tel_data_start_dict(ld);
		rte_tel_data_add_dict_string(ld, "name", x->name);
		rte_tel_data_add_dict_u64(ld, "shard", v[i].shard);
		rte_tel_data_add_dict_string(ld, "proto", x->tls ? "tls" : "tcp");
		rte_tel_data_add_dict_string(ld, "remote", remote);
		rte_tel_data_add_dict_string(ld, "state",
					     cee_link_state_str((enum cee_link_state)x->state));
		if (x->conn != 0) {
			snprintf(conn, sizeof(conn), "%016" PRIx64, x->conn);
			rte_tel_data_add_dict_string(ld, "conn", conn);
		}
		rte_tel_data_add_dict_u64(ld, "attempts", x->attempts);
		rte_tel_data_add_dict_u64(ld, "refused", x->refused);
		rte_tel_data_add_dict_u64(ld, "ups", x->ups);
		rte_tel_data_add_dict_u64(ld, "downs", x->downs);
		if (x->last_reason != CEE_REASON_NONE)
			rte_tel_data_add_dict_string(ld, "last_reason",
						     cee_reason_str((enum cee_reason)x->last_reason));
		if (x->state == CEE_LINK_UP)
			rte_tel_data_add_dict_u64(ld, "up_ms", x->up_ms);
		if (x->state == CEE_LINK_BACKOFF)
			rte_tel_data_add_dict_u64(ld, "next_attempt_ms", x->next_ms);
		if (x->arp_wait)
			rte_tel_data_add_dict_u64(ld, "arp_wait", 1);
		snprintf(key, sizeof(key), "link_%" PRIu32, x->index);
		if (rte_tel_data_add_dict_container(d, key, ld, 0) < 0)
			rte_tel_data_free(ld);
	}
	free(v);
	cee_ctl_job_release(&j);
	return 0;
}

static int handle(const char *cmd, const char *params, struct rte_tel_data *d)
{
	int rc;
	pthread_mutex_lock(&tel_lock);
	struct cee_ctl *c = tel_ctl;
	if (c == NULL)
		rc = tel_error(d, "no engine running", NULL);
	else if (strcmp(cmd, "/cee/stats") == 0)
		rc = do_stats(c, d);
	else if (strcmp(cmd, "/cee/conns") == 0)
		rc = do_list(c, d, false);
	else if (strcmp(cmd, "/cee/snapshot") == 0)
		rc = do_list(c, d, true);
	else if (strcmp(cmd, "/cee/conn") == 0)
		rc = do_conn(c, params, d);
	else if (strcmp(cmd, "/cee/links") == 0)
		rc = do_links(c, d);
	else
		rc = -EINVAL;
	pthread_mutex_unlock(&tel_lock);
	return rc;
}

int cee_ctl_tel_attach(struct cee_ctl *c)
{
	pthread_mutex_lock(&tel_lock);
	int rc = 0;
	if (c != NULL && tel_ctl != NULL) {
		rc = -EBUSY; // another engine of this process has them
		goto out;
	}
	tel_ctl = c;
	if (c == NULL || tel_registered)
		goto out;
	static const struct {
		const char *cmd, *help;
	} tel_cmds[] = {
		{"/cee/stats", "cee counters per shard and total. No parameters"},
		{"/cee/conns", "cee live connections (capped; cee-ctl conns lists all). No parameters"},
		{"/cee/conn", "one cee connection. Parameter: connection id (16 hex digits)"},
		{"/cee/snapshot", "cee snapshot: each shard's sseq at the cut and the live ids (capped)"},
		{"/cee/links", "cee outbound links (capped; cee-ctl links lists all). No parameters"},
	};
	for (unsigned i = 0; i < RTE_DIM(tel_cmds) && rc == 0; i++)
		rc = rte_telemetry_register_cmd(tel_cmds[i].cmd, handle, tel_cmds[i].help);
	if (rc == 0)
		tel_registered = true;
	else
		tel_ctl = NULL;
out:
	pthread_mutex_unlock(&tel_lock);
	return rc;
}
