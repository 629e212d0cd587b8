/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

#include <sys/types.h>

/**
 * @file
 * Inside the control plane (cee_ctl*.c only): jobs (one request fanned out
 * to one shard or all), rendering, the socket server's state.
 */

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "cee_ctl.h"

#define CEE_CTL_MAX_CLIENTS 32 /**< socket clients served at once */
#define CEE_CTL_MAX_WATCHES 24 /**< of those, waiting in `watch` (the rest serve other requests) */
#define CEE_CTL_LINE_MAX 256

/** One request fanned out to one shard (by id) or to every shard. */
struct ctl_job {
	uint8_t op;       /**< enum cee_mbox_op */
	unsigned first;   /**< shard of req[0] */
	unsigned count;   /**< requests posted (0 when rc was decided at start) */
	struct cee_mbox_req *req[CEE_MAX_SHARDS];
	uint64_t deadline_ns; /**< UINT64_MAX: none (WATCH) */
	int rc;           /**< 0, or the first failure (-ENOENT, -ETIMEDOUT, -ESHUTDOWN, ...) */
	bool active;
};

/* X(enumerator suffix, request word, mailbox op, takes an id) */
#define CEE_CTL_CMD_LIST(X)                                                                        \
	X(STATS, "stats", STATS, false)                                                            \
	X(CONNS, "conns", LIST, false)                                                             \
	X(CONN, "conn", CONN, true)                                                                \
	X(SNAPSHOT, "snapshot", LIST, false)                                                       \
	X(KILL, "kill", KILL, true)                                                                \
	X(DRAIN, "drain", DRAIN, false)                                                            \
	X(LINKS, "links", LINKS, false)                                                            \
	X(WATCH, "watch", WATCH, true)

#define CEE_X_ENUM_CTL_CMD(e, s, op, id) CTL_CMD_##e,
enum ctl_cmd { CEE_CTL_CMD_LIST(CEE_X_ENUM_CTL_CMD) CTL_CMD__COUNT };

/** A failed job's words (-ENOENT: "no such connection", ...), the socket's and telemetry's. */
const char *cee_ctl_err_msg(enum ctl_cmd cmd, int rc);

enum ctl_drain { CTL_DRAIN_NONE, CTL_DRAIN_WAIT, CTL_DRAIN_DONE };

/** A growing text buffer. */
struct ctl_buf {
	char *p;
	size_t len, cap;
	bool oom;
};

/**
 * A listing (conns, snapshot) rendered in pieces as the client reads it:
 * where the next piece starts. The whole reply was built before its first
 * byte went, about 200 bytes a connection (200 MB at a million), on the
 * thread that also exports events.
 */
struct ctl_stream {
	bool on;         /**< pieces remain */
	bool shard_open; /**< snapshot: the current shard's head is out */
	bool first;      /**< conns: no record out yet */
	unsigned shard;  /**< the job's request the next record is in */
	uint32_t k;      /**< the next record in it */
};

/** Records in a piece of a listing (about 200 KB of JSON). */
#define CEE_CTL_STREAM_RECORDS 1024

struct ctl_client {
	int fd; /**< -1: free */
	char line[CEE_CTL_LINE_MAX];
	size_t line_len;
	enum ctl_cmd cmd;
	cee_conn_id_t id;
	struct ctl_job job;
	struct ctl_buf out;
	size_t out_off;
	struct ctl_stream st; /**< a listing's next piece (the job held until the last) */
	uint64_t deadline_ns; /**< whole exchange; UINT64_MAX for a watch */
	uint64_t check_ns;    /**< watch: next look for the client having gone */
};

struct cee_ctl {
	char name[32];
	unsigned nshards;
	struct cee_mbox *mbox[CEE_MAX_SHARDS]; // ring (immutable) and closed (atomic) only
	uint32_t list_cap;
	bool telemetry;
	int (*sinks_json)(void *arg, char *buf, size_t len);
	void *sinks_arg;
	int (*ports_json)(void *arg, char *buf, size_t len);
	void *ports_arg;
	char engine[48]; /**< cee_ctl_cfg.engine_id (at most CEE_ENGINE_ID_MAX) */
	char run[24];    /**< cee_ctl_cfg.run_id */
	bool engine_per_run;

	// Control thread only.
	char sock_path[108];
	dev_t sock_dev; // the socket file we bound at sock_path: only it is removed
	ino_t sock_ino;
	int listen_fd;
	struct ctl_client clients[CEE_CTL_MAX_CLIENTS];
	enum ctl_drain drain;
	struct ctl_job drain_job;
	uint64_t drain_next_ns;
};

/** Post @p op for connection @p id (routed to its shard) or, with id 0, to every shard. */
void cee_ctl_job_start(struct cee_ctl *c, struct ctl_job *j, enum cee_mbox_op op,
		       cee_conn_id_t id);
/** @return true when every request was answered or the job failed (abandoned what was left). */
bool cee_ctl_job_poll(struct ctl_job *j, const struct cee_ctl *c);
/** Blocking cee_ctl_job_poll() (telemetry thread). @return j->rc. */
int cee_ctl_job_wait(struct ctl_job *j, const struct cee_ctl *c);
/** Free the answered requests. */
/**
 * Whether a shard took one of @p j's requests: answered it, or has it (an
 * abandon found it served or being served). Given up requests, NULL, were
 * not: call after giving up those still waiting. A DRAIN posted to one
 * shard and given up unserved when the next shard's mailbox was full drained
 * nothing, yet the drain went on for every shard while the reply said "try
 * again".
 */
bool cee_ctl_job_taken(const struct ctl_job *j);
void cee_ctl_job_release(struct ctl_job *j);

/** A counter by name, in the order every renderer prints them. */
struct ctl_stat {
	char name[40];
	uint64_t v;
	bool max; /**< the total is the maximum over shards, not the sum */
};
#define CTL_STATS_MAX 240 /* below telemetry's RTE_TEL_MAX_DICT_ENTRIES (256): test_stats checks the list fits */
/** Flatten @p st. @return entries written to @p out (at most CTL_STATS_MAX). */
unsigned cee_ctl_stat_fields(const struct cee_ctl_shard_stats *st, struct ctl_stat *out);
/** @p total += @p one (sums, or maxima where marked). */
void cee_ctl_stat_add(struct ctl_stat *total, const struct ctl_stat *one, unsigned n);

/** One link of a LINKS answer and the shard that answered it. */
struct ctl_link {
	const struct cee_link_info *info;
	unsigned shard;
};
/**
 * The links of finished LINKS job @p j in the engine's order (by index).
 * @return how many, with *@p out an array to free(), or -ENOMEM.
 */
int cee_ctl_links_collect(const struct ctl_job *j, struct ctl_link **out);

/** "a.b.c.d:port" into @p buf (at least 22 bytes). */
void cee_ctl_addr_str(char *buf, size_t size, uint32_t ip, uint16_t port);
/** Milliseconds from @p open_ns to @p now_ns (0 when the clock went back). */
uint64_t cee_ctl_age_ms(uint64_t open_ns, uint64_t now_ns);
/** Parse 1..16 hex digits. @return 0 or -EINVAL. */
int cee_ctl_parse_id(const char *s, cee_conn_id_t *id);

void cee_ctl_buf_printf(struct ctl_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void cee_ctl_buf_free(struct ctl_buf *b);

/**
 * Render the reply to @p cmd from finished job @p j (JSON object + "\n").
 * A listing (conns, snapshot) with @p st renders its first piece only and
 * leaves st->on set while more follow (cee_ctl_render_more(); @p j must
 * stay until the last); with @p st NULL, the whole reply.
 */
void cee_ctl_render(struct cee_ctl *c, struct ctl_buf *b, enum ctl_cmd cmd, cee_conn_id_t id,
		    const struct ctl_job *j, struct ctl_stream *st);
/** Append a listing's next piece (the reply's tail with the last). @return st->on. */
bool cee_ctl_render_more(struct ctl_buf *b, enum ctl_cmd cmd, const struct ctl_job *j,
			 struct ctl_stream *st);
/** Render an error reply. */
void cee_ctl_render_error(struct ctl_buf *b, const char *msg, const cee_conn_id_t *id);

/** Socket server (cee_ctl_sock.c). */
int cee_ctl_sock_open(struct cee_ctl *c, const char *path);
void cee_ctl_sock_close(struct cee_ctl *c);
int cee_ctl_sock_poll(struct cee_ctl *c);

/** Telemetry (cee_ctl_tel.c): serve @p c (NULL detaches). @return 0 or -errno. */
int cee_ctl_tel_attach(struct cee_ctl *c);
