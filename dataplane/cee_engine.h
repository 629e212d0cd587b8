/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

/**
 * @file
 * The engine: ports, one shard per worker lcore, and the control thread
 * (the main lcore) that exports events and handles shutdown.
 */

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cee_link.h"
#include "cee_tcp.h"
#include "cee_tls.h"
#include "cee_ws.h"
#include "cee_sink.h"

#define CEE_MAX_LISTENERS 16
#define CEE_MAX_SINKS 4
/** Longest --events spec (struct cee_sink's spec; the sinks' JSON is sized for four). */
#define CEE_SINK_SPEC_MAX 255
#define CEE_MAX_PORTS 4

/** cee_engine_cfg.syn_cookies */
enum cee_syn_cookies { CEE_SYN_COOKIES_AUTO, CEE_SYN_COOKIES_ALWAYS, CEE_SYN_COOKIES_OFF };

struct cee_shard;
struct cee_conn;

/**
 * Application hooks: a program embedding the engine (cee-bench's traffic
 * generator) drives connections of the APP service through these. All run
 * on the shard's lcore; the connection may be closed or aborted from inside
 * them (cee_shard_close/abort), except from destroyed.
 */
struct cee_app_ops {
	/** Once per poll iteration, after rx and before timers: open connections here. */
	void (*poll)(void *arg, struct cee_shard *s);
	void (*established)(void *arg, struct cee_shard *s, struct cee_conn *c);
	/** In-order payload of an APP connection. */
	void (*recv)(void *arg, struct cee_shard *s, struct cee_conn *c, const uint8_t *data,
		     uint32_t len);
	/**
	 * Plaintext of a TLS connection: TLS connections get established when
	 * their TLS handshake is done (tls_up), and recv with plaintext.
	 */
	/** The closed lifecycle step (reason in c->tcb.close_reason). */
	void (*closed)(void *arg, struct cee_shard *s, struct cee_conn *c);
	/** Last call for @p c: its slot is freed when this returns. */
	void (*destroyed)(void *arg, struct cee_shard *s, struct cee_conn *c);
	/**
	 * After cee_shard_send() took less than it was given (plain TCP) or
	 * refused it (-EAGAIN, above TLS or WebSocket), once, when an ACK freed
	 * room in the send buffer: send the rest (cee_shard_send_room() says
	 * how much goes). NULL: the app looks for itself.
	 */
	void (*writable)(void *arg, struct cee_shard *s, struct cee_conn *c);
};

struct cee_listener {
	uint16_t port;   /**< host order */
	uint8_t service; /**< enum cee_tcp_service of the service (above TLS when tls) */
	bool tls;        /**< tls:PORT, wss:PORT: TLS terminated on the owning shard */
	bool ws;         /**< ws:PORT, wss:PORT: a WebSocket upgrade, then the service on messages */
};

/** Engine settings: filled by cee_engine_cfg_default() then cee_engine_parse_args(). */
struct cee_engine_cfg {
	uint32_t ip;        /**< our IPv4 address, host order */
	uint8_t prefix_len; /**< on-link prefix */
	struct cee_listener listeners[CEE_MAX_LISTENERS];
	unsigned nlisteners;
	const char *sinks[CEE_MAX_SINKS];
	unsigned nsinks;
	uint32_t max_conns;    /**< live connections, whole engine (split evenly over shards) */
	uint32_t event_ring;   /**< records per shard ring; 0 = 4 * per-shard max_conns */
	uint32_t sndbufs;      /**< send buffers per shard; 0 = per-shard max_conns, at most 4096 */
	uint32_t sndbufs_max;  /**< buffers of tcp.sndbuf_max bytes per shard (long fat paths) */
	uint32_t poll_idle_us; /**< sleep this long when a poll finds no work; 0 = busy poll */
	int sched_policy;      /**< the shards' threads: SCHED_FIFO or SCHED_RR (--sched); SCHED_OTHER: as started */
	int sched_priority;    /**< with SCHED_FIFO / SCHED_RR */
	const char *stats_path; /**< write final stats JSON here at exit */
	uint32_t port_mask;     /**< ethdev ports to use (bit per port id); 0 = all */
	struct cee_tcp_cfg tcp;
	/**
	 * TLS listeners (--tls-cert, --tls-key, --tls-ca, ...): one server
	 * context per shard; ticket_key is set by the engine (one per engine).
	 * The TLS handshake must finish within tcp.handshake_timeout_ns of
	 * established (handshake_timeout).
	 */
	struct cee_tls_cfg tls;
	/**
	 * Active opens with TLS (cee_shard_connect_tls; cee-bench): one client
	 * context per shard when tls_client_on. ca_file verifies the server.
	 */
	struct cee_tls_cfg tls_client;
	/** Least --sndbuf with TLS: a 16 KiB record and its overhead, with room. */
#define CEE_TLS_SNDBUF_MIN 17408
	bool tls_client_on;
	/**
	 * TLS handshake work per shard per poll iteration, microseconds
	 * (--tls-budget-us); handshakes beyond it wait for the next iteration.
	 * 0 = no bound.
	 */
	uint32_t tls_budget_us;
	/**
	 * Bytes of heap wolfSSL may use for connections, all shards together
	 * (--tls-mem; cee_tls_heap_budget()); 0 = 128 KiB a connection slot,
	 * at most a quarter of the memory available at start. Refused at
	 * start when it and the shards' pools do not fit in that memory.
	 */
	uint64_t tls_mem;
	/**
	 * WebSocket listeners (ws:, wss:) and clients (cee_shard_connect_layers,
	 * when ws_client_on): one server and one client context per shard. The
	 * upgrade must be done within tcp.handshake_timeout_ns of established.
	 */
	struct cee_ws_cfg ws;
	bool ws_client_on;
	/**
	 * Links (--connect, --links): persistent outbound connections, link i
	 * on shard i % nshards (cee_link.h). The array is the cfg's own
	 * (cee_engine_cfg_free()). TLS links use the client context: the
	 * link's own sni (else tls_sni; cee_engine_create() refuses a TLS link
	 * with neither, or without a CA), the server verified against
	 * tls_client.ca_file, tls.cert_file presented when asked (parse_args
	 * sets tls_client from tls).
	 */
	struct cee_link_cfg *links;
	uint32_t nlinks;
	struct cee_link_backoff reconnect; /**< --reconnect MIN_MS:MAX_MS */
	const char *tls_sni;               /**< --tls-sni: server name of TLS links without their own */
	/**
	 * Set by the engine (getrandom): bytes 0-15 key the 4-tuple table's
	 * hash, bytes 16-31 the ISN's (RFC 6528), bytes 32-47 the SYN
	 * cookies' MAC, bytes 48-63 the per-source table's hash, on every
	 * shard.
	 */
	uint8_t hash_secret[64];
	/**
	 * Per-source limits, per shard (a flood guard; 0 = none): live
	 * connections from one address (--max-conns-per-ip) and new connections
	 * per second from one address (--syn-rate-per-ip), both counting
	 * completed handshakes; over them: RST, counted, no event; a SYN over
	 * them is answered with a cookie (cee_srclimit.h).
	 */
	uint32_t max_conns_per_ip;
	uint32_t syn_rate_per_ip;
	/**
	 * --keepalive I:N:C was given: keepalive (tcp.keepalive_*) applies to
	 * every connection. By default it applies to links only, with 30:5:3
	 * (a server that vanished is found within 45 s); --keepalive off: none.
	 */
	bool keepalive_all;
	/**
	 * SYN cookies (RFC 4987), --syn-cookies auto|always|off: auto answers
	 * SYNs with cookies (no slot, no event until the cookie's ACK) while a
	 * shard has syn_backlog (--syn-backlog) connections half open
	 * (SYN-RECEIVED) or its event ring is short of credits; always answers
	 * every SYN so (a connection and its open exist only once its
	 * handshake is done); off never.
	 */
	uint8_t syn_cookies;
	/**
	 * --arp-defend: answer another MAC claiming one of our addresses with an
	 * ARP announcement of ours (RFC 5227 2.4(c), at most one every 10 s a
	 * shard). Off by default: an HA pair whose address moved to the other
	 * node while this one runs would pull it back.
	 */
	bool arp_defend;
	uint32_t syn_backlog;
	/**
	 * --engine-id: this instance's id, carried in every JSON event as
	 * "engine" and in the NATS sink's subjects and message ids (several
	 * engines share one stream). Default: 16 random hex digits per start.
	 */
	char engine_id[CEE_ENGINE_ID_MAX + 1];
	/**
	 * This start's run id, "r" and 12 random hex digits (set by
	 * cee_engine_create()): connection ids and sseq start again with each
	 * run, so when --engine-id names the engine every JSON event also
	 * carries "run" (a random id is one run's already); the NATS sink's
	 * Cee-Run and message ids.
	 */
	char run_id[CEE_RUN_ID_MAX + 1];
	/**
	 * --shutdown-timeout: how long shutdown waits, once the shards have
	 * closed everything, for the sinks to take and deliver every event
	 * (a stalled reader, a broker down). What is left is reported.
	 */
	uint64_t shutdown_timeout_ns;
	/**
	 * --shutdown-grace: at shutdown, every shard first closes its
	 * connections as their peers would want to see a server go (a
	 * WebSocket Close 1001 "going away", TLS close_notify, a FIN after the
	 * data queued) and waits up to this long for each close to be done
	 * (our FIN acknowledged); what is left then is reset. 0 (the default):
	 * every connection is reset at once. Either way closed says shutdown.
	 */
	uint64_t shutdown_grace_ns;

	/* Embedding (defaults suit cee-engine). */
	const char *name;       /**< prefix of DPDK object names (default "cee"): distinct per engine */
	unsigned nshards;       /**< shards; 0 = one per worker lcore from first_worker on */
	unsigned first_worker;  /**< index of the first worker lcore (in RTE_LCORE_FOREACH_WORKER order) */
	uint32_t ip_count;      /**< addresses ip .. ip + ip_count - 1 are ours (default 1) */
	uint32_t gateway;       /**< next hop for off-link destinations of active opens; 0 = none */
	uint32_t nmbufs;        /**< packet buffers in the engine's pool; 0 = sized from shards and ports */
	const char *mbuf_ops;   /**< mempool driver of that pool; NULL = "stack" (LIFO), else the default */
	bool no_events;         /**< no event rings or sinks: lifecycle only reaches the app hooks */
	const struct cee_app_ops *app; /**< NULL: none */
	void *app_arg;
	/** Command socket (docs/control.md): NULL = <EAL runtime dir>/<name>_ctl.sock, "" = none. */
	const char *ctl_socket;
};

void cee_engine_cfg_default(struct cee_engine_cfg *c);
/** Free what parsing allocated in @p c (its links). */
void cee_engine_cfg_free(struct cee_engine_cfg *c);
/** Add link @p spec ("NAME=tcp|tls:A.B.C.D:PORT[:SVC]"). @return 0 or -errno (message printed). */
int cee_engine_cfg_add_link(struct cee_engine_cfg *c, const char *spec);
/**
 * Which layers @p c uses, on listeners (tls:, ws:, wss:) and on active
 * opens (tls_client_on, ws_client_on): @p srv_tls, @p srv_ws, @p cli_tls,
 * @p cli_ws (any may be NULL). @return true when any is set.
 */
bool cee_engine_cfg_layers(const struct cee_engine_cfg *c, bool *srv_tls, bool *srv_ws,
			   bool *cli_tls, bool *cli_ws);
/**
 * Parse the application options (after the EAL's "--"). An --events kind
 * must be registered (cee_sink_register()) before: an unknown one is
 * refused here (nats:// is known in a build with libnats).
 * @return 0, 1 when --help was printed, or -EINVAL with a message on stderr.
 */
int cee_engine_parse_args(struct cee_engine_cfg *c, int argc, char **argv);
void cee_engine_usage(FILE *f, const char *prog);

struct cee_engine;

/**
 * Whether @p cfg's --max-conns fits @p nshards shards: each shard's share
 * (rounded up) at most CEE_CONN_POOL_MAX, the most one connection pool
 * holds (cee_engine_create() asks before it allocates anything).
 * @return 0, or -EINVAL with a message on stderr naming --max-conns.
 */
int cee_engine_conns_fit(const struct cee_engine_cfg *cfg, unsigned nshards);

/**
 * Whether the event rings of @p cfg on @p nshards shards fit in @p avail
 * bytes of memory (cee_engine_create() asks with the memory available;
 * @p avail 0: unknown, taken). @return 0, or -ENOMEM with a message on stderr.
 */
int cee_engine_evrings_fit(const struct cee_engine_cfg *cfg, unsigned nshards, uint64_t avail);
/**
 * Whether what the engine can come to use fits in @p avail bytes (0 =
 * unknown: it fits): the event rings (cee_engine_evrings_fit()), the
 * shards' send and WebSocket buffers (cee_shard_pool_bytes()) and wolfSSL's
 * heap budget, set in @p tls_mem (cfg->tls_mem, or its default: 128 KiB a
 * connection slot, at most avail / 4; 0 without TLS). @return 0, or
 * -ENOMEM with a message on stderr that names the parts.
 */
int cee_engine_mem_fit(const struct cee_engine_cfg *cfg, unsigned nshards, uint64_t avail,
		       uint64_t *tls_mem);

/**
 * Build an engine over every probed ethdev port, one shard per worker lcore
 * (the EAL must be initialised). @return NULL + errno on failure (message on stderr).
 */
struct cee_engine *cee_engine_create(const struct cee_engine_cfg *cfg);
/** Start ports and launch the shards on the worker lcores. @return 0 or -errno. */
int cee_engine_start(struct cee_engine *e);
/**
 * Control loop on the calling (main) lcore: export events until @p stop
 * becomes non-zero (a signal handler's flag: sig_atomic_t), then
 * cee_engine_shutdown(). A failing sink does not stop it: the exporter
 * keeps its events and retries it. @p stop at 2 or more (a second signal)
 * ends the wait for the sinks at once, as --shutdown-timeout would.
 * @return cee_engine_shutdown()'s.
 */
int cee_engine_run(struct cee_engine *e, volatile sig_atomic_t *stop);
/** One export pass (for embedders and tests that drive the control side). @return work done (0: idle). */
int cee_engine_export(struct cee_engine *e);
/**
 * One control-loop iteration for embedders that run their own loop instead
 * of cee_engine_run(): export events and do the periodic control work.
 * @return work done (0 = idle).
 */
int cee_engine_poll(struct cee_engine *e);
/**
 * Stop the shards (every connection closed with reason `shutdown`), wait
 * for them, and export every remaining event: the sinks get
 * cfg.shutdown_timeout_ns from then on to take and deliver them.
 * @return 0, or -ETIMEDOUT when a sink still held or lacked events then
 * (each reported on stderr).
 */
int cee_engine_shutdown(struct cee_engine *e);
/** Shard @p i (for embedders: counters, cee_shard_connect()). */
struct cee_shard *cee_engine_shard(struct cee_engine *e, unsigned i);
/** Write the stats JSON object to @p f. */
void cee_engine_stats_json(struct cee_engine *e, FILE *f);
void cee_engine_destroy(struct cee_engine *e);
unsigned cee_engine_nshards(const struct cee_engine *e);
/** Ports the engine uses (after --port mask filtering). */
unsigned cee_engine_nports(const struct cee_engine *e);
