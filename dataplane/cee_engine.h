/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

/**
 * @file
 * The engine: ports, one shard per worker lcore, and the control thread
 * (the main lcore) that exports events and handles shutdown.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cee_tcp.h"

#define CEE_MAX_LISTENERS 16
#define CEE_MAX_SINKS 4
#define CEE_MAX_PORTS 4

struct cee_listener {
	uint16_t port;   /**< host order */
	uint8_t service; /**< enum cee_tcp_service */
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
	uint32_t poll_idle_us; /**< sleep this long when a poll finds no work; 0 = busy poll */
	const char *stats_path; /**< write final stats JSON here at exit */
	uint32_t port_mask;     /**< ethdev ports to use (bit per port id); 0 = all */
	struct cee_tcp_cfg tcp;
};

void cee_engine_cfg_default(struct cee_engine_cfg *c);
/**
 * Parse the application options (after the EAL's "--").
 * @return 0, 1 when --help was printed, or -EINVAL with a message on stderr.
 */
int cee_engine_parse_args(struct cee_engine_cfg *c, int argc, char **argv);
void cee_engine_usage(FILE *f, const char *prog);

struct cee_engine;

/**
 * Build an engine over every probed ethdev port, one shard per worker lcore
 * (the EAL must be initialised). @return NULL + errno on failure (message on stderr).
 */
struct cee_engine *cee_engine_create(const struct cee_engine_cfg *cfg);
/** Start ports and launch the shards on the worker lcores. @return 0 or -errno. */
int cee_engine_start(struct cee_engine *e);
/**
 * Control loop on the calling (main) lcore: export events until @p stop
 * becomes true, then close every connection with reason `shutdown`, wait for
 * the shards, export every remaining event and flush the sinks.
 * @return 0, or -errno when a sink failed.
 */
int cee_engine_run(struct cee_engine *e, volatile bool *stop);
/** One export pass (for embedders and tests that drive the control side). @return events or -errno. */
int cee_engine_export(struct cee_engine *e);
/** Write the stats JSON object to @p f. */
void cee_engine_stats_json(struct cee_engine *e, FILE *f);
void cee_engine_destroy(struct cee_engine *e);
unsigned cee_engine_nshards(const struct cee_engine *e);
/** Ports the engine uses (after --port mask filtering). */
unsigned cee_engine_nports(const struct cee_engine *e);
