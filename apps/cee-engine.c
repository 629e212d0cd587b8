/* SPDX-License-Identifier: BSD-3-Clause */
// cee-engine: terminate TCP on DPDK ports and export every connection's
// lifecycle events. See README.md and docs/configuration.md.
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <net/if.h>

#include <rte_eal.h>
#include <rte_ethdev.h>

#include "cee_engine.h"
#include "cee_port.h"
#include "cee_shard.h"

// exit status of a start that failed only for the AF_PACKET fanout group
// clash below: EX_TEMPFAIL, the same command started again succeeds
#define EXIT_START_AGAIN 75

// (sig_atomic_t: the handler may run on any of DPDK's threads)
static volatile sig_atomic_t stop_requested;

static void on_hup(int sig)
{
	(void)sig;
	cee_reload_request();
}

// The first stops the engine; a second cuts short its wait for the sinks
// (cee_engine_run()).
static void on_signal(int sig)
{
	(void)sig;
	if (stop_requested < 2)
		stop_requested++;
}

static bool wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}

// The EAL's --vdev arguments (argv before "--"; copied before
// rte_eal_init(), which may reorder them). @return their count.
#define VDEV_MAX 8
static int vdev_args(int argc, char **argv, const char *out[VDEV_MAX])
{
	int n = 0;
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0 && n < VDEV_MAX; i++) {
		if (strncmp(argv[i], "--vdev=", 7) == 0)
			out[n++] = argv[i] + 7;
		else if (strcmp(argv[i], "--vdev") == 0 && i + 1 < argc)
			out[n++] = argv[++i];
	}
	return n;
}

// A net_af_packet --vdev that has no port after the EAL's probe: when the
// reason is the fanout group clash of DPDK 22.11's PMD (cee_port.h), say
// so and @return EXIT_START_AGAIN; 0 otherwise (the engine's own check of
// its ports then reports what is missing, after the EAL's log of why).
static int af_packet_clash(int n, const char *vdevs[VDEV_MAX])
{
	for (int i = 0; i < n; i++) {
		char name[RTE_DEV_NAME_MAX_LEN], ifname[IF_NAMESIZE] = "";
		const char *comma = strchr(vdevs[i], ',');
		size_t len = comma ? (size_t)(comma - vdevs[i]) : strlen(vdevs[i]);
		if (len >= sizeof(name))
			continue;
		memcpy(name, vdevs[i], len);
		name[len] = '\0';
		if (strncmp(name, "net_af_packet", 13) != 0 && strncmp(name, "eth_af_packet", 13) != 0)
			continue;
		uint16_t port;
		if (rte_eth_dev_get_port_by_name(name, &port) == 0)
			continue;
		for (const char *kv = comma; kv != NULL; kv = strchr(kv + 1, ',')) {
			if (strncmp(kv + 1, "iface=", 6) == 0) {
				size_t l = strcspn(kv + 7, ",");
				if (l < sizeof(ifname)) {
					memcpy(ifname, kv + 7, l);
					ifname[l] = '\0';
				}
			}
		}
		if (ifname[0] != '\0' && cee_port_af_packet_fanout_taken(ifname) == 1) {
			fprintf(stderr,
				"cee-engine: %s: the AF_PACKET fanout group id this process draws "
				"for %s (DPDK's net_af_packet: pid XOR ifindex) is held by another "
				"process's port on another interface; start again (exit %d)\n",
				name, ifname, EXIT_START_AGAIN);
			return EXIT_START_AGAIN;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	// --help needs no EAL (and no root).
	if (wants_help(argc, argv)) {
		cee_engine_usage(stdout, argv[0]);
		return 0;
	}
	// The handlers first: a SIGHUP (logrotate, a reload) during the EAL's
	// set-up, seconds with hugepages, killed the engine (its default), and
	// a SIGTERM then ended it by the signal rather than a stop
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_hup; // TLS files renewed in place: read again
	sa.sa_flags = SA_RESTART; // (routine, daily: no thread's accept() fails with EINTR)
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN); // a sink whose reader left fails with EPIPE instead
	signal(SIGXFSZ, SIG_IGN); // a file at RLIMIT_FSIZE fails with EFBIG instead

	const char *vdevs[VDEV_MAX];
	int nvdevs = vdev_args(argc, argv, vdevs);
	int n = rte_eal_init(argc, argv);
	if (n < 0) {
		if (stop_requested) { // (a step of it interrupted by the stop: EINTR)
			fprintf(stderr, "cee-engine: stopped during start-up\n");
			return 0;
		}
		fprintf(stderr, "cee-engine: EAL init failed: %s\n", rte_strerror(rte_errno));
		return 2;
	}
	if (stop_requested) {
		fprintf(stderr, "cee-engine: stopped during start-up\n");
		rte_eal_cleanup();
		return 0;
	}
	int clash = af_packet_clash(nvdevs, vdevs);
	if (clash != 0) {
		rte_eal_cleanup();
		return clash;
	}
	argc -= n;
	argv += n;
	argv[0] = "cee-engine";

	struct cee_engine_cfg cfg;
	cee_engine_cfg_default(&cfg);
	int rc = cee_engine_parse_args(&cfg, argc, argv);
	if (rc != 0) {
		cee_engine_cfg_free(&cfg);
		rte_eal_cleanup();
		return rc > 0 ? 0 : 2;
	}

	// --stats is written at the end: an unwritable path would lose the
	// whole run's counters, so it is tried now (appending: nothing lost)
	bool stats_made = false; // the file is ours to remove if the engine never runs
	if (cfg.stats_path) {
		stats_made = access(cfg.stats_path, F_OK) != 0;
		FILE *f = fopen(cfg.stats_path, "a");
		if (f == NULL) {
			fprintf(stderr, "cee-engine: --stats %s: %s\n", cfg.stats_path, strerror(errno));
			cee_engine_cfg_free(&cfg);
			rte_eal_cleanup();
			return 2;
		}
		fclose(f);
	}
	struct cee_engine *e = stop_requested ? NULL : cee_engine_create(&cfg);
	if (e == NULL) {
		// stopped before it ran (a SIGTERM that interrupted the wait for a
		// FIFO sink's reader, EINTR): a stop, exit 0, not a failure
		bool stopped = stop_requested != 0;
		if (stopped)
			fprintf(stderr, "cee-engine: stopped during start-up\n");
		else
			fprintf(stderr, "cee-engine: %s\n", strerror(errno));
		if (stats_made)
			unlink(cfg.stats_path);
		cee_engine_cfg_free(&cfg);
		rte_eal_cleanup();
		return stopped ? 0 : 2;
	}
	rc = cee_engine_start(e);
	if (rc < 0) {
		fprintf(stderr, "cee-engine: start: %s\n", strerror(-rc));
		cee_engine_destroy(e);
		if (stats_made)
			unlink(cfg.stats_path);
		cee_engine_cfg_free(&cfg);
		rte_eal_cleanup();
		return 2;
	}
	char ip[INET_ADDRSTRLEN];
	struct in_addr a = {.s_addr = htonl(cfg.ip)};
	inet_ntop(AF_INET, &a, ip, sizeof(ip));
	fprintf(stderr, "cee-engine: ready ip=%s/%u shards=%u ports=%u listeners=%u links=%u\n",
		ip, cfg.prefix_len, cee_engine_nshards(e), cee_engine_nports(e), cfg.nlisteners,
		cfg.nlinks);

	rc = cee_engine_run(e, &stop_requested);
	// the run's counters: a write that failed (disk full, I/O error) is
	// said and ends the run with exit 1, not taken for a written file
	bool stats_lost = false;
	if (cfg.stats_path) {
		FILE *f = fopen(cfg.stats_path, "w");
		if (f) {
			errno = 0;
			cee_engine_stats_json(e, f);
			bool bad = ferror(f) != 0;
			int werr = bad ? errno : 0; // a failed write's (ferror() sets none)
			if (fclose(f) != 0 && !bad) {
				bad = true;
				werr = errno;
			}
			if (bad) {
				fprintf(stderr, "cee-engine: --stats %s: the counters were not written: %s\n",
					cfg.stats_path, strerror(werr ? werr : EIO));
				stats_lost = true;
			}
		} else {
			fprintf(stderr, "cee-engine: --stats %s: %s\n", cfg.stats_path, strerror(errno));
			stats_lost = true;
		}
	}
	cee_engine_destroy(e);
	cee_engine_cfg_free(&cfg);
	rte_eal_cleanup();
	if (rc < 0) {
		// -ETIMEDOUT: a sink kept events past --shutdown-timeout (reported above).
		fprintf(stderr, "cee-engine: stopped; events were not delivered (above)\n");
		return 1;
	}
	if (stats_lost) {
		fprintf(stderr, "cee-engine: stopped; the counters were not written (above)\n");
		return 1;
	}
	fprintf(stderr, "cee-engine: stopped\n");
	return 0;
}
