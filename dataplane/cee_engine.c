/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "cee_ctl.h"
#include "cee_engine.h"
#include "cee_srclimit.h"
#include "cee_exporter.h"
#include "cee_flow.h"
#include "cee_port.h"
#include "cee_shard.h"
#include "cee_sink.h"
#ifdef CEE_HAVE_NATS
#include "cee_sink_nats.h"
#endif
#include "cee_stats.h"

struct cee_engine {
	struct cee_engine_cfg cfg;
	uint32_t reload_seen; // cee_reload_generation() acted on
	volatile sig_atomic_t *stop; // cee_engine_run()'s: 2 or more cuts the sinks' wait short
	unsigned nshards;
	atomic_uint grace_left; // --shutdown-grace: shards whose closes are not done (cee_shard.h)
	unsigned nports;
	unsigned ports_set_up; // of e->ports[], those cee_port_setup() set up (destroy closes these)
	struct cee_port_info ports[CEE_MAX_PORTS];
	struct rte_mempool *mp;
	struct cee_shard *shards; // rte_zmalloc'd, cache aligned
	struct rte_ring **handoff; // nshards * nshards
	struct cee_sink *sinks[CEE_MAX_SINKS];
	struct cee_exporter *exporter;
	struct cee_ctl *ctl; // queries and commands through the shards' mailboxes
	bool started;
};

/* ---- configuration -------------------------------------------------------- */

void cee_engine_cfg_default(struct cee_engine_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->prefix_len = 24;
	c->max_conns = 65536;
	cee_tcp_cfg_default(&c->tcp);
	c->tcp.sndbuf = 32768;
	c->tcp.sndbuf_max = 2u << 20;
	// a listener's connection that carries nothing for 10 minutes is closed
	// (idle_timeout): a peer cannot hold a slot for ever by going quiet;
	// links have --link-idle-timeout, default none (keepalive finds their
	// dead peers)
	c->tcp.idle_timeout_ns = 600ull * 1000000000;
	// links probe a silent server by default (--keepalive for all, or off)
	c->tcp.keepalive_idle_ns = 30ull * 1000000000;
	c->tcp.keepalive_intvl_ns = 5ull * 1000000000;
	c->tcp.keepalive_count = 3;
	c->tcp.rcv_wnd = 1u << 20; // discard and app consume at once: no buffer behind it
	// Timestamps cost 12 bytes and their parsing on every segment: 6-12% of
	// cee-bench's churn (5-run A/B). Off unless asked for (--timestamps on):
	// TIME-WAIT reuse works by sequence number without them, RTT by Karn.
	c->tcp.timestamps = false;
	c->tcp.delack = true; // the shard flushes them after each poll (--delack off: every segment)
	c->sndbufs_max = 32;
	c->tls_budget_us = 1000;
	c->ws.path = "/";
	c->ws.subprotocol = "sip";
	c->ws.max_header = 8192;
	c->ws.max_frame = 0;   // 0: from --sndbuf (an echo must fit), see parse_args
	c->ws.max_message = 0;
	c->ws.close_timeout_ns = 5000000000ull;
	c->ws.pong_timeout_ns = 10000000000ull;
	c->ws.message_timeout_ns = 10000000000ull;
	c->name = "cee";
	c->ip_count = 1;
	c->reconnect = (struct cee_link_backoff){.min_ms = 100, .max_ms = 30000};
	c->syn_backlog = 1024;
	c->shutdown_timeout_ns = 10ull * 1000000000;
}

void cee_engine_cfg_free(struct cee_engine_cfg *c)
{
	for (uint32_t i = 0; i < c->nlinks; i++)
		cee_link_cfg_release(&c->links[i]);
	free(c->links);
	c->links = NULL;
	c->nlinks = 0;
}

int cee_engine_cfg_add_link(struct cee_engine_cfg *c, const char *spec)
{
	struct cee_link_cfg l;
	char err[160];
	int rc = cee_link_parse(spec, &l, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "cee: %s\n", err);
		return rc;
	}
	for (uint32_t i = 0; i < c->nlinks; i++)
		if (strcmp(c->links[i].name, l.name) == 0) {
			fprintf(stderr, "cee: link '%s' defined twice\n", l.name);
			cee_link_cfg_release(&l);
			return -EEXIST;
		}
	if (c->nlinks == CEE_LINKS_MAX) {
		fprintf(stderr, "cee: more than %u links\n", CEE_LINKS_MAX);
		cee_link_cfg_release(&l);
		return -ENOSPC;
	}
	if ((c->nlinks & (c->nlinks - 1)) == 0) { // grow at powers of two
		uint32_t cap = c->nlinks ? 2 * c->nlinks : 8;
		struct cee_link_cfg *v = realloc(c->links, cap * sizeof(*v));
		if (v == NULL) {
			cee_link_cfg_release(&l);
			return -ENOMEM;
		}
		c->links = v;
	}
	c->links[c->nlinks++] = l;
	return 0;
}

// The file a sink spec writes, for the one-file checks: jsonl:PATH or
// binary:PATH, or jsonl:- with *@p is_stdout set (stdout); NULL for a
// Unix socket (jsonl:unix:, jsonl:unix+ack: its reader may take several
// connections), a NATS stream (several publishers), null: or another kind.
// binary: has no stdout or socket form: binary:- and binary:unix:x are
// files of those names (they were let pass, and binary:- with --stats -
// was one file, the counters written over the events).
static const char *sink_file(const char *spec, bool *is_stdout)
{
	*is_stdout = false;
	if (strncmp(spec, "binary:", 7) == 0)
		return spec[7] != '\0' ? spec + 7 : NULL;
	if (strncmp(spec, "jsonl:", 6) != 0)
		return NULL;
	const char *a = spec + 6;
	if (a[0] == '\0' || strncmp(a, "unix:", 5) == 0 || strncmp(a, "unix+ack:", 9) == 0)
		return NULL;
	*is_stdout = strcmp(a, "-") == 0;
	return a;
}

// Whether @p spec's kind is known now, said on stderr when not: an unknown
// one (--events /tmp/e.jsonl, jsnol:-), or nats:// in a build without
// libnats, failed only after the EAL, port and shard set-up, with a bare
// "Invalid argument". (nats is registered by cee_engine_create().)
static bool sink_kind_known(const char *prog, const char *spec)
{
	bool nats = strncmp(spec, "nats:", 5) == 0;
#ifdef CEE_HAVE_NATS
	if (nats || cee_sink_kind_known(spec))
		return true;
	const char *more = cee_sink_kind_known("nats:") ? "" : ", nats://";
#else
	if (nats) {
		fprintf(stderr,
			"%s: --events nats://...: this build has no NATS support (built without "
			"libnats: meson setup -Dnats=enabled)\n",
			prog);
		return false;
	}
	if (cee_sink_kind_known(spec))
		return true;
	const char *more = "";
#endif
	char shown[256], kinds[160];
	cee_sink_redact(shown, spec);
	cee_sink_kinds(kinds, sizeof(kinds));
	fprintf(stderr,
		"%s: --events %s: not a sink kind this engine knows (%s%s; a file is "
		"jsonl:PATH)\n",
		prog, shown, kinds, more);
	return false;
}

// @p path made absolute, links resolved: the file's own when it exists, else
// its directory's and its name (the file a later open creates). @return
// false when neither resolves (the open reports that).
static bool file_identity(const char *path, char out[PATH_MAX])
{
	if (realpath(path, out) != NULL)
		return true;
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	const char *base = slash != NULL ? slash + 1 : path;
	int n = slash == NULL ? snprintf(dir, sizeof(dir), ".")
	      : slash == path ? snprintf(dir, sizeof(dir), "/")
			      : snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	char real[PATH_MAX];
	if (n < 0 || (size_t)n >= sizeof(dir) || realpath(dir, real) == NULL)
		return false;
	n = snprintf(out, PATH_MAX, "%s/%s", strcmp(real, "/") == 0 ? "" : real, base);
	return n > 0 && n < PATH_MAX;
}

static bool same_file(const char *a, const char *b)
{
	if (strcmp(a, b) == 0)
		return true;
	struct stat sa, sb; // (both there: hard links too)
	if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
		return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
	char ra[PATH_MAX], rb[PATH_MAX];
	return file_identity(a, ra) && file_identity(b, rb) && strcmp(ra, rb) == 0;
}

// Is @p a (stdout when @p a_stdout) the file of @p b (stdout when
// @p b_stdout)? Stdout is one file: two jsonl:- sinks wrote each event
// twice, interleaved their partial lines when the pipe filled, and each
// put back at exit the O_NONBLOCK it found (the second, the first's). A
// path is stdout's file when it is the one stdout is open on (by device
// and inode: stdout redirected to it, /dev/stdout).
static bool same_target(const char *a, bool a_stdout, const char *b, bool b_stdout)
{
	if (a_stdout && b_stdout)
		return true;
	if (!a_stdout && !b_stdout)
		return same_file(a, b);
	struct stat so, sp;
	return fstat(STDOUT_FILENO, &so) == 0 && stat(a_stdout ? b : a, &sp) == 0 &&
	       so.st_dev == sp.st_dev && so.st_ino == sp.st_ino;
}

// --links FILE: one link per line; blank lines and # comments skipped.
static int parse_links_file(struct cee_engine_cfg *c, const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "cee: --links %s: %s\n", path, strerror(errno));
		return -errno;
	}
	// (the longest link a line holds: a 32-character name, tls:, an
	// address and port, and ,sni= with a 253-character name; 256 refused
	// from the file links --connect takes)
	char line[512];
	unsigned no = 0;
	int rc = 0;
	while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
		no++;
		size_t len = strlen(line);
		if (len == sizeof(line) - 1 && line[len - 1] != '\n' && !feof(f)) {
			// longer than a line may be: a comment's rest is skipped (it was
			// read as a link), a link is an error naming its line
			bool comment = line[strspn(line, " \t")] == '#';
			int ch;
			while ((ch = fgetc(f)) != EOF && ch != '\n')
				;
			if (comment)
				continue;
			fprintf(stderr, "cee: --links %s: line %u longer than %zu characters\n", path,
				no, sizeof(line) - 2);
			rc = -EINVAL;
			break;
		}
		char *p = line + strspn(line, " \t");
		p[strcspn(p, "\r\n")] = '\0';
		for (size_t n = strlen(p); n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'); n--)
			p[n - 1] = '\0';
		if (p[0] == '\0' || p[0] == '#')
			continue;
		if ((rc = cee_engine_cfg_add_link(c, p)) < 0)
			fprintf(stderr, "cee: --links %s: line %u\n", path, no);
	}
	// a read error (a directory: EISDIR) is no end of file: no links at all
	// was taken for an empty list
	if (rc == 0 && ferror(f)) {
		rc = errno ? -errno : -EIO;
		fprintf(stderr, "cee: --links %s: %s\n", path, strerror(-rc));
	}
	fclose(f);
	return rc;
}

// "MIN_MS:MAX_MS"
static int parse_reconnect(struct cee_engine_cfg *c, const char *arg)
{
	unsigned long lo, hi;
	char tail;
	if (sscanf(arg, "%lu:%lu%c", &lo, &hi, &tail) != 2 || lo == 0 || hi < lo ||
	    hi > 3600000)
		return -EINVAL;
	c->reconnect = (struct cee_link_backoff){.min_ms = (uint32_t)lo, .max_ms = (uint32_t)hi};
	return 0;
}

// "IDLE:INTERVAL:COUNT", seconds (decimals allowed), COUNT 1..255; or "off"
static int parse_keepalive(struct cee_engine_cfg *c, const char *arg)
{
	if (strcmp(arg, "off") == 0) {
		c->tcp.keepalive_idle_ns = 0;
		c->keepalive_all = false;
		return 0;
	}
	double idle, intvl;
	unsigned count;
	char tail;
	if (sscanf(arg, "%lf:%lf:%u%c", &idle, &intvl, &count, &tail) != 3 || !(idle >= 1e-9) ||
	    !(intvl >= 1e-9) || idle > 1e6 || intvl > 1e6 || count == 0 || count > 255)
		return -EINVAL; // (below 1 ns an idle time was 0 ns: keepalive off)
	c->tcp.keepalive_idle_ns = (uint64_t)(idle * 1e9);
	c->tcp.keepalive_intvl_ns = (uint64_t)(intvl * 1e9);
	c->tcp.keepalive_count = count;
	c->keepalive_all = true;
	return 0;
}

void cee_engine_usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s [EAL options] -- --ip A.B.C.D/NN --listen tcp:PORT[:echo|discard]\n"
		"          [--listen ...] --events SINK [--events SINK] [options]\n"
		"  --ip A.B.C.D/NN          address the engine answers on (ARP, ICMP, TCP)\n"
		"  --listen tcp:PORT[:SVC]  a TCP listener; SVC is echo (default), discard or\n"
		"                           echo-close (echo the first data, then close first)\n"
		"  --listen tls:PORT[:SVC]  a TLS listener (TLS 1.2/1.3 on the owning shard),\n"
		"                           the same services over plaintext\n"
		"  --tls-cert FILE          PEM certificate chain of tls: listeners\n"
		"  --tls-key FILE           PEM private key matching --tls-cert\n"
		"  --tls-ca FILE            PEM CAs: clients must present a certificate that\n"
		"                           chains to one of them (mutual TLS)\n"
		"  --tls-min-version V      1.2 (default) or 1.3\n"
		"  --tls-ciphers LIST       wolfSSL cipher list (ECDHE suites only; one for the\n"
		"                           versions allowed)\n"
		"  --tls-alpn LIST          protocols accepted by ALPN, comma separated (e.g. sip)\n"
		"  --tls-budget-us US       TLS handshake work per shard per poll iteration;\n"
		"                           more waits for the next one (default 1000; 0: none)\n"
		"  --tls-mem MIB            heap TLS connections may use, all shards together;\n"
		"                           past 7/8 of it new ones get no_resources (default\n"
		"                           128 KiB x max-conns, at most a quarter of the memory\n"
		"                           available at start)\n"
		"  --listen ws:PORT[:SVC]   a WebSocket listener (RFC 6455): echo answers each\n"
		"                           message with its type; wss:PORT[:SVC] over TLS\n"
		"  --ws-path PATH           the path upgraded (default /; others get 404)\n"
		"  --ws-subprotocol NAME    subprotocol chosen when offered (default sip; none)\n"
		"  --ws-origin LIST         Origins allowed, comma separated (default any; 403)\n"
		"  --ws-ping SEC            ping after SEC of silence; no frame within\n"
		"                           --ws-pong-timeout SEC (default 10): ws_ping_timeout\n"
		"  --ws-message-timeout SEC a message (or control frame) begun must be whole\n"
		"                           within SEC (default 10; 0 refused): else Close 1008\n"
		"  --ws-max-message BYTES   largest message and frame (1009 beyond); an echo needs\n"
		"                           --sndbuf >= 2 x BYTES + 32 (default (sndbuf - 32) / 2,\n"
		"                           at most 65536)\n",
		prog);
	fprintf(f,
		"  --connect NAME=tcp|tls:A.B.C.D:PORT[:echo|discard][,sni=HOST]\n"
		"                           a link: a persistent outbound connection, opened again\n"
		"                           after every close (link_up, link_down events); a TLS\n"
		"                           link's sni= names its server (else --tls-sni's)\n"
		"  --links FILE             links, one NAME=... per line (# comments)\n"
		"  --reconnect MIN:MAX      backoff between attempts, ms (default 100:30000):\n"
		"                           [max(MIN, b/2), b], b = MIN x 2^(failures+1) up to MAX\n"
		"  --tls-sni NAME           server name (SNI, and matched against the certificate)\n"
		"                           of TLS links without their own sni=; a TLS link needs\n"
		"                           one or the other. They verify the server against\n"
		"                           --tls-link-ca (default --tls-ca; one is required)\n"
		"                           and present --tls-cert when asked\n"
		"  --tls-link-ca FILE       PEM CAs TLS links verify servers against (so that\n"
		"                           --tls-ca, which also asks clients of tls: listeners\n"
		"                           for certificates, is not needed for links)\n"
		"  --link-idle-timeout SEC  close a link idle for SEC (idle_timeout; default 0:\n"
		"                           never; --keepalive finds a dead server)\n");
	fputs("  --keepalive I:N:C|off    probe a connection silent for I s every N s; C probes\n"
		"                           unanswered close it (keepalive_timeout); default:\n"
		"                           links only, 30:5:3; given: every connection\n"
		"  --challenge-ack-limit N  ACKs answering bad segments (RFC 5961 challenge ACKs,\n"
		"                           out of window) per shard per second: N..2N, drawn\n"
		"                           each second (default 2000; 0: no limit)\n"
		"  --arp-defend             answer another MAC claiming one of our addresses\n"
		"                           with an ARP announcement (RFC 5227 2.4(c), at most\n"
		"                           one every 10 s a shard; default: counted only)\n"
		"  --syn-cookies auto|always|off  SYN cookies (RFC 4987): auto (default) while a\n"
		"                           shard has --syn-backlog N (default 1024) connections\n"
		"                           half open or its event ring is short of credits\n"
		"  --max-conns-per-ip N     live connections from one address per shard (RST\n"
		"                           beyond, no event; default 0: no limit)\n"
		"  --syn-rate-per-ip N      new connections per second from one address per\n"
		"                           shard, counted at the handshake's end (burst N;\n"
		"                           RST beyond, no event; a SYN over it gets a cookie;\n"
		"                           default 0: no limit)\n"
		"  --persist-timeout SEC    reset a peer whose window stays 0 with data queued\n"
		"                           (zero_window_timeout; default 120; 0: never)\n",
	      f);
	fputs("  --events SINK            jsonl:-, jsonl:PATH, jsonl:unix:PATH, jsonl:unix+ack:PATH,\n"
		"                           binary:PATH, null:,\n"
		"                           nats://HOST:PORT[,HOST:PORT...]/PREFIX[?stream=NAME&...]\n"
		"                           (repeatable)\n"
		"  --engine-id ID           this engine's id in every event (default: random)\n"
		"  --shutdown-timeout SEC   at shutdown, wait at most SEC for the sinks to take\n"
		"                           and deliver every event (default 10, at most 86400)\n"
		"  --shutdown-grace SEC     at shutdown, close connections gracefully first (a\n"
		"                           WebSocket Close 1001, close_notify, FIN) and wait at\n"
		"                           most SEC for them; then reset the rest (default 0:\n"
		"                           reset at once; at most 3600)\n"
		"  --max-conns N            live connections, whole engine (default 65536; at\n"
		"                           most 13421772 a shard)\n"
		"  --idle-timeout SEC       close listeners' connections idle for SEC (idle_timeout;\n"
		"                           default 600; 0: never)\n"
		"  --handshake-timeout SEC  SYN-RECEIVED (and a link's SYN-SENT) limit, and TLS\n"
		"                           handshake limit from established (default 10; 0: none)\n"
		"  --time-wait MS           TIME-WAIT duration (default 60000)\n"
		"  --rto-min MS             lower bound of the retransmission timeout (default 200)\n"
		"  --sndbuf BYTES           send buffer per connection (default 32768)\n"
		"  --cc cubic|newreno       congestion control (default cubic)\n"
		"  --sack on|off            offer and use SACK (RFC 2018/6675; default on)\n"
		"  --timestamps on|off      offer and use timestamps (RFC 7323; default off)\n"
		"  --delack on|off          delayed ACKs: every second in-order segment, an odd one\n"
		"                           at the end of the receive burst (default on)\n"
		"  --mss BYTES              largest MSS announced (default 1460, and at most\n"
		"                           the smallest port MTU - 40)\n"
		"  --sndbufs N              send buffers per shard (default min(max-conns/shard, 4096))\n"
		"  --sndbuf-max BYTES       a buffer grows to this on a long path (default 2 MiB; 0: never)\n"
		"  --sndbufs-max N          such buffers per shard (default 32)\n"
		"  --rcv-wnd BYTES          receive window of services that consume at once\n"
		"                           (discard; default 1 MiB)\n"
		"  --event-ring N           event records per shard (default 4 x max-conns/shard,\n"
		"                           18 x with a TLS or WebSocket listener or a TLS link;\n"
		"                           + 16 per link)\n"
		"  --poll-idle-us US        sleep when a poll finds nothing (default 0: busy poll)\n"
		"  --sched fifo:N|rr:N|other  the shards' scheduling policy and real-time priority\n"
		"                           (default other: as started; needs CAP_SYS_NICE)\n"
		"  --stats PATH             write counters as JSON at exit\n"
		"  --ctl-socket PATH|none   command socket for cee-ctl (default <EAL runtime dir>/cee_ctl.sock)\n"
		"Each worker lcore runs one shard; the main lcore runs the control thread.\n",
	      f);
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out);

// --sched fifo:N | rr:N | other
static int parse_sched(const char *s, int *policy, int *prio)
{
	uint64_t v = 0;
	if (strcmp(s, "other") == 0) {
		*policy = SCHED_OTHER;
		*prio = 0;
		return 0;
	}
	if (strncmp(s, "fifo:", 5) == 0)
		*policy = SCHED_FIFO;
	else if (strncmp(s, "rr:", 3) == 0)
		*policy = SCHED_RR;
	else
		return -EINVAL;
	if (parse_u64(strchr(s, ':') + 1, (uint64_t)sched_get_priority_max(*policy), &v) < 0 ||
	    v < (uint64_t)sched_get_priority_min(*policy))
		return -EINVAL;
	*prio = (int)v;
	return 0;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end != '\0' || v > max || s[0] == '-')
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_on_off(const char *s, bool *out)
{
	if (strcmp(s, "on") == 0)
		*out = true;
	else if (strcmp(s, "off") == 0)
		*out = false;
	else
		return -EINVAL;
	return 0;
}

static int parse_seconds_ns(const char *s, uint64_t *out)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end != '\0' || !(v >= 0) || v > 1e7)
		return -EINVAL;
	*out = (uint64_t)(v * 1e9);
	// not 0 ("off", "never") for a value that is not 0: 1e-12 s
	if (*out == 0 && v > 0)
		return -EINVAL;
	return 0;
}

static int parse_listen(struct cee_engine_cfg *c, const char *arg)
{
	if (c->nlisteners == CEE_MAX_LISTENERS) {
		fprintf(stderr, "cee: --listen: at most %u listeners\n", CEE_MAX_LISTENERS);
		return -ENOSPC;
	}
	bool tls = false, ws = false;
	size_t skip = 4;
	if (strncmp(arg, "tls:", 4) == 0)
		tls = true;
	else if (strncmp(arg, "ws:", 3) == 0)
		ws = true, skip = 3;
	else if (strncmp(arg, "wss:", 4) == 0)
		ws = tls = true;
	else if (strncmp(arg, "tcp:", 4) != 0)
		return -EINVAL;
	char buf[64];
	if (snprintf(buf, sizeof(buf), "%s", arg + skip) >= (int)sizeof(buf))
		return -EINVAL; // cut short, it parsed as another port
	char *svc = strchr(buf, ':');
	uint8_t service = CEE_TCP_SVC_ECHO;
	if (svc) {
		*svc++ = '\0';
		if (strcmp(svc, "echo") == 0)
			service = CEE_TCP_SVC_ECHO;
		else if (strcmp(svc, "discard") == 0)
			service = CEE_TCP_SVC_DISCARD;
		else if (strcmp(svc, "echo-close") == 0)
			service = CEE_TCP_SVC_ECHO_CLOSE;
		else
			return -EINVAL;
	}
	uint64_t port;
	if (parse_u64(buf, 65535, &port) < 0 || port == 0)
		return -EINVAL;
	for (unsigned i = 0; i < c->nlisteners; i++)
		if (c->listeners[i].port == port) {
			fprintf(stderr, "cee: --listen: port %u is already a listener's\n",
				(unsigned)port);
			return -EEXIST;
		}
	c->listeners[c->nlisteners++] =
	    (struct cee_listener){.port = (uint16_t)port, .service = service, .tls = tls, .ws = ws};
	return 0;
}

static int parse_ip(struct cee_engine_cfg *c, const char *arg)
{
	char buf[32];
	if (snprintf(buf, sizeof(buf), "%s", arg) >= (int)sizeof(buf))
		return -EINVAL; // cut short, it parsed as another prefix
	char *slash = strchr(buf, '/');
	uint64_t prefix = 24;
	if (slash) {
		*slash++ = '\0';
		if (parse_u64(slash, 32, &prefix) < 0)
			return -EINVAL;
	}
	struct in_addr a;
	if (inet_pton(AF_INET, buf, &a) != 1)
		return -EINVAL;
	uint32_t ip = ntohl(a.s_addr), mask = prefix ? ~UINT32_C(0) << (32 - prefix) : 0;
	// an address no host may own, or a subnet that takes in every address
	// (a /0 put every link destination on it). 0/8 is "this network" (RFC
	// 1122 3.2.1.3): the packet path drops every source in it (bad_src),
	// so an engine at 0.1.2.3 started and never heard a peer's answer
	if (prefix == 0 || (ip >> 24) == 0 || (ip >> 24) == 127 || ip >= 0xe0000000u ||
	    (prefix < 31 && ((ip & ~mask) == 0 || (ip & ~mask) == ~mask))) {
		fprintf(stderr,
			"cee: --ip %s: not an address an engine can own (a /0, the subnet's network or "
			"broadcast address, 0.0.0.0/8, loopback, multicast or reserved)\n",
			arg);
		return -EINVAL;
	}
	c->ip = ip;
	c->prefix_len = (uint8_t)prefix;
	return 0;
}

/*
 * Why a link to @p d cannot work, or NULL. It must be reachable on our
 * subnet (there is no gateway): one outside it, or at an address no host
 * can answer ARP for, was retried for ever without an attempt or an event.
 */
static const char *link_addr_problem(const struct cee_engine_cfg *c, uint32_t d)
{
	uint32_t mask = c->prefix_len ? ~UINT32_C(0) << (32 - c->prefix_len) : 0;

	if ((d & mask) != (c->ip & mask))
		return "not on our subnet (there is no gateway)";
	if (d - c->ip < c->ip_count) // (an embedder's ip_count: any of ours)
		return "our own address";
	if (c->prefix_len < 31 && ((d & ~mask) == 0 || (d & ~mask) == ~mask))
		return "the subnet's network or broadcast address";
	// (0/8: "this network", RFC 1122 3.2.1.3; the packet path drops every
	// answer from it, bad_src: a link there was retried for ever)
	if ((d >> 24) == 0 || (d >> 24) == 127 || d >= 0xe0000000u)
		return "a 0.0.0.0/8, loopback, multicast or reserved address";
	return NULL;
}

int cee_engine_parse_args(struct cee_engine_cfg *c, int argc, char **argv)
{
	enum {
		O_IP = 256, O_LISTEN, O_EVENTS, O_MAX_CONNS, O_IDLE, O_LINK_IDLE, O_HANDSHAKE, O_TIME_WAIT,
		O_RTO_MIN, O_SNDBUF, O_SNDBUFS, O_EVENT_RING, O_POLL_IDLE, O_SCHED, O_STATS, O_CTL_SOCKET,
		O_HELP, O_CC, O_MSS, O_SNDBUF_MAX, O_SNDBUFS_MAX, O_SACK, O_TIMESTAMPS, O_DELACK, O_RCV_WND,
		O_TLS_CERT, O_TLS_KEY, O_TLS_CA, O_TLS_LINK_CA, O_TLS_MIN, O_TLS_CIPHERS, O_TLS_ALPN, O_TLS_BUDGET,
		O_WS_PATH, O_WS_SUBPROTOCOL, O_WS_ORIGIN, O_WS_PING, O_WS_PONG, O_WS_MAX,
		O_CONNECT, O_LINKS, O_RECONNECT, O_TLS_SNI, O_KEEPALIVE, O_CHALLENGE_ACK,
		O_PERSIST, O_SYN_BACKLOG, O_SYN_COOKIES, O_MAX_PER_IP, O_SYN_RATE_IP, O_ARP_DEFEND,
		O_ENGINE_ID, O_SHUTDOWN_TIMEOUT, O_SHUTDOWN_GRACE, O_WS_MSG_TIMEOUT, O_TLS_MEM,
		O_END, // (opts[] below lists them in this order: opts[o - O_IP] is o's)
	};
	static const struct option opts[] = {
		{"ip", required_argument, NULL, O_IP},
		{"listen", required_argument, NULL, O_LISTEN},
		{"events", required_argument, NULL, O_EVENTS},
		{"max-conns", required_argument, NULL, O_MAX_CONNS},
		{"idle-timeout", required_argument, NULL, O_IDLE},
		{"link-idle-timeout", required_argument, NULL, O_LINK_IDLE},
		{"handshake-timeout", required_argument, NULL, O_HANDSHAKE},
		{"time-wait", required_argument, NULL, O_TIME_WAIT},
		{"rto-min", required_argument, NULL, O_RTO_MIN},
		{"sndbuf", required_argument, NULL, O_SNDBUF},
		{"sndbufs", required_argument, NULL, O_SNDBUFS},
		{"event-ring", required_argument, NULL, O_EVENT_RING},
		{"poll-idle-us", required_argument, NULL, O_POLL_IDLE},
		{"sched", required_argument, NULL, O_SCHED},
		{"stats", required_argument, NULL, O_STATS},
		{"ctl-socket", required_argument, NULL, O_CTL_SOCKET},
		{"help", no_argument, NULL, O_HELP},
		{"cc", required_argument, NULL, O_CC},
		{"mss", required_argument, NULL, O_MSS},
		{"sndbuf-max", required_argument, NULL, O_SNDBUF_MAX},
		{"sndbufs-max", required_argument, NULL, O_SNDBUFS_MAX},
		{"sack", required_argument, NULL, O_SACK},
		{"timestamps", required_argument, NULL, O_TIMESTAMPS},
		{"delack", required_argument, NULL, O_DELACK},
		{"rcv-wnd", required_argument, NULL, O_RCV_WND},
		{"tls-cert", required_argument, NULL, O_TLS_CERT},
		{"tls-key", required_argument, NULL, O_TLS_KEY},
		{"tls-ca", required_argument, NULL, O_TLS_CA},
		{"tls-link-ca", required_argument, NULL, O_TLS_LINK_CA},
		{"tls-min-version", required_argument, NULL, O_TLS_MIN},
		{"tls-ciphers", required_argument, NULL, O_TLS_CIPHERS},
		{"tls-alpn", required_argument, NULL, O_TLS_ALPN},
		{"tls-budget-us", required_argument, NULL, O_TLS_BUDGET},
		{"ws-path", required_argument, NULL, O_WS_PATH},
		{"ws-subprotocol", required_argument, NULL, O_WS_SUBPROTOCOL},
		{"ws-origin", required_argument, NULL, O_WS_ORIGIN},
		{"ws-ping", required_argument, NULL, O_WS_PING},
		{"ws-pong-timeout", required_argument, NULL, O_WS_PONG},
		{"ws-max-message", required_argument, NULL, O_WS_MAX},
		{"connect", required_argument, NULL, O_CONNECT},
		{"links", required_argument, NULL, O_LINKS},
		{"reconnect", required_argument, NULL, O_RECONNECT},
		{"tls-sni", required_argument, NULL, O_TLS_SNI},
		{"keepalive", required_argument, NULL, O_KEEPALIVE},
		{"challenge-ack-limit", required_argument, NULL, O_CHALLENGE_ACK},
		{"persist-timeout", required_argument, NULL, O_PERSIST},
		{"syn-backlog", required_argument, NULL, O_SYN_BACKLOG},
		{"syn-cookies", required_argument, NULL, O_SYN_COOKIES},
		{"max-conns-per-ip", required_argument, NULL, O_MAX_PER_IP},
		{"syn-rate-per-ip", required_argument, NULL, O_SYN_RATE_IP},
		{"arp-defend", no_argument, NULL, O_ARP_DEFEND},
		{"engine-id", required_argument, NULL, O_ENGINE_ID},
		{"shutdown-timeout", required_argument, NULL, O_SHUTDOWN_TIMEOUT},
		{"shutdown-grace", required_argument, NULL, O_SHUTDOWN_GRACE},
		{"ws-message-timeout", required_argument, NULL, O_WS_MSG_TIMEOUT},
		{"tls-mem", required_argument, NULL, O_TLS_MEM},
		{NULL, 0, NULL, 0},
	};
	const char *prog = argc > 0 ? argv[0] : "cee-engine";
	uint64_t given = 0; // bit o - O_IP: option o was given
	_Static_assert(O_END - O_IP <= 64, "an option's bit in given");
	_Static_assert(sizeof(opts) / sizeof(opts[0]) == O_END - O_IP + 1, "an option not in opts[]");
	// (an option put out of order named its neighbour in every message)
	for (int i = 0; i < O_END - O_IP; i++)
		RTE_VERIFY(opts[i].val == O_IP + i);
	optind = 1;
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		int rc = 0;
		uint64_t v = 0;
		if (o >= O_IP && o < O_END)
			given |= UINT64_C(1) << (o - O_IP);
		switch (o) {
		case O_IP:
			rc = parse_ip(c, optarg);
			break;
		case O_LISTEN:
			rc = parse_listen(c, optarg);
			break;
		case O_EVENTS:
			if (c->nsinks == CEE_MAX_SINKS) {
				fprintf(stderr, "%s: --events: at most %u sinks\n", prog,
					CEE_MAX_SINKS);
				rc = -ENOSPC;
			} else if (strlen(optarg) > CEE_SINK_SPEC_MAX) {
				// (said here, not as "File name too long" when it opens)
				fprintf(stderr, "%s: --events: a sink is at most %u characters\n",
					prog, CEE_SINK_SPEC_MAX);
				rc = -EINVAL;
			} else if (!sink_kind_known(prog, optarg)) {
				rc = -EINVAL;
			} else
				c->sinks[c->nsinks++] = optarg;
			break;
		case O_MAX_CONNS:
			rc = parse_u64(optarg, 1u << 24, &v);
			if (rc == 0 && v == 0)
				rc = -EINVAL;
			c->max_conns = (uint32_t)v;
			break;
		case O_IDLE:
			rc = parse_seconds_ns(optarg, &c->tcp.idle_timeout_ns);
			break;
		case O_LINK_IDLE:
			rc = parse_seconds_ns(optarg, &c->tcp.link_idle_timeout_ns);
			break;
		case O_HANDSHAKE:
			rc = parse_seconds_ns(optarg, &c->tcp.handshake_timeout_ns);
			break;
		case O_TIME_WAIT:
			rc = parse_u64(optarg, 3600000, &v);
			c->tcp.time_wait_ns = v * 1000000;
			break;
		case O_RTO_MIN:
			rc = parse_u64(optarg, 60000, &v);
			if (rc == 0 && v == 0)
				rc = -EINVAL;
			c->tcp.rto_min_ns = v * 1000000;
			break;
		case O_SNDBUF:
			rc = parse_u64(optarg, 1u << 24, &v);
			if (rc == 0 && v < 2048)
				rc = -EINVAL;
			c->tcp.sndbuf = (uint32_t)v;
			break;
		case O_SNDBUFS:
			rc = parse_u64(optarg, 1u << 24, &v);
			c->sndbufs = (uint32_t)v;
			break;
		case O_EVENT_RING:
			rc = parse_u64(optarg, 1u << 30, &v);
			c->event_ring = (uint32_t)v;
			break;
		case O_POLL_IDLE:
			rc = parse_u64(optarg, 1000000, &v);
			c->poll_idle_us = (uint32_t)v;
			break;
		case O_SCHED:
			rc = parse_sched(optarg, &c->sched_policy, &c->sched_priority);
			break;
		case O_CTL_SOCKET:
			c->ctl_socket = strcmp(optarg, "none") == 0 ? "" : optarg;
			break;
		case O_STATS:
			c->stats_path = optarg;
			break;
		case O_CC:
			rc = cee_tcp_cc_parse(optarg);
			if (rc >= 0)
				c->tcp.cc = (uint8_t)rc;
			break;
		case O_MSS:
			rc = parse_u64(optarg, 65495, &v);
			if (rc == 0 && v < CEE_TCP_MIN_ANNOUNCED_MSS)
				rc = -EINVAL;
			c->tcp.mss = (uint16_t)v;
			break;
		case O_SACK:
			rc = parse_on_off(optarg, &c->tcp.sack);
			break;
		case O_TIMESTAMPS:
			rc = parse_on_off(optarg, &c->tcp.timestamps);
			break;
		case O_DELACK:
			rc = parse_on_off(optarg, &c->tcp.delack);
			break;
		case O_SNDBUF_MAX:
			rc = parse_u64(optarg, 1u << 26, &v);
			c->tcp.sndbuf_max = (uint32_t)v;
			break;
		case O_RCV_WND:
			rc = parse_u64(optarg, 1u << 23, &v); // 65535 << 7
			if (rc == 0 && v < 1024)
				rc = -EINVAL;
			c->tcp.rcv_wnd = (uint32_t)v;
			break;
		case O_SNDBUFS_MAX:
			rc = parse_u64(optarg, 1u << 20, &v);
			c->sndbufs_max = (uint32_t)v;
			break;
		case O_TLS_CERT:
			c->tls.cert_file = optarg;
			break;
		case O_TLS_KEY:
			c->tls.key_file = optarg;
			break;
		case O_TLS_CA:
			c->tls.ca_file = optarg;
			break;
		case O_TLS_LINK_CA:
			c->tls_client.ca_file = optarg;
			break;
		case O_TLS_MIN:
			if (strcmp(optarg, "1.2") == 0)
				c->tls.min_version = CEE_TLS_V12;
			else if (strcmp(optarg, "1.3") == 0)
				c->tls.min_version = CEE_TLS_V13;
			else
				rc = -EINVAL;
			break;
		case O_TLS_CIPHERS:
			c->tls.ciphers = optarg;
			break;
		case O_TLS_ALPN:
			c->tls.alpn = optarg;
			break;
		case O_TLS_BUDGET:
			rc = parse_u64(optarg, 1000000, &v);
			c->tls_budget_us = (uint32_t)v;
			break;
		case O_TLS_MEM:
			rc = parse_u64(optarg, 1u << 24, &v);
			if (rc == 0 && v == 0)
				rc = -EINVAL;
			c->tls_mem = v << 20;
			break;
		case O_WS_PATH:
			if (optarg[0] != '/')
				rc = -EINVAL;
			c->ws.path = optarg;
			break;
		case O_WS_SUBPROTOCOL:
			c->ws.subprotocol = strcmp(optarg, "none") == 0 ? "" : optarg;
			break;
		case O_WS_ORIGIN:
			c->ws.origins = optarg;
			break;
		case O_WS_PING:
			rc = parse_seconds_ns(optarg, &c->ws.ping_interval_ns);
			break;
		case O_WS_PONG:
			rc = parse_seconds_ns(optarg, &c->ws.pong_timeout_ns);
			if (rc == 0 && c->ws.pong_timeout_ns == 0)
				rc = -EINVAL; // (0 is the layer's "default": 10 s, silently)
			break;
		case O_WS_MSG_TIMEOUT:
			rc = parse_seconds_ns(optarg, &c->ws.message_timeout_ns);
			if (rc == 0 && c->ws.message_timeout_ns == 0)
				rc = -EINVAL;
			break;
		case O_WS_MAX:
			rc = parse_u64(optarg, 1u << 24, &v);
			if (rc == 0 && v < 125)
				rc = -EINVAL;
			c->ws.max_message = c->ws.max_frame = (uint32_t)v;
			break;
		case O_CONNECT:
			rc = cee_engine_cfg_add_link(c, optarg);
			break;
		case O_LINKS:
			rc = parse_links_file(c, optarg);
			break;
		case O_RECONNECT:
			rc = parse_reconnect(c, optarg);
			break;
		case O_TLS_SNI:
			// a name longer than SNI takes failed every attempt of every
			// TLS link, for ever, with no event
			if (!cee_link_sni_valid(optarg))
				rc = -EINVAL;
			c->tls_sni = optarg;
			break;
		case O_KEEPALIVE:
			rc = parse_keepalive(c, optarg);
			break;
		case O_ENGINE_ID:
			if (!cee_engine_id_valid(optarg)) {
				fprintf(stderr, "cee: --engine-id: 1 to %d letters, digits, '-' or '_'\n",
					CEE_ENGINE_ID_MAX);
				rc = -EINVAL;
				break;
			}
			snprintf(c->engine_id, sizeof(c->engine_id), "%s", optarg);
			break;
		case O_SHUTDOWN_TIMEOUT:
			// seconds with a fraction, as every other SEC option (2.5 was refused)
			rc = parse_seconds_ns(optarg, &c->shutdown_timeout_ns);
			if (rc == 0 && c->shutdown_timeout_ns > 86400ull * 1000000000)
				rc = -EINVAL;
			break;
		case O_SHUTDOWN_GRACE:
			rc = parse_seconds_ns(optarg, &c->shutdown_grace_ns);
			if (rc == 0 && c->shutdown_grace_ns > 3600ull * 1000000000)
				rc = -EINVAL;
			break;
		case O_SYN_BACKLOG:
			rc = parse_u64(optarg, 1u << 24, &v);
			if (rc == 0 && v == 0)
				rc = -EINVAL;
			c->syn_backlog = (uint32_t)v;
			break;
		case O_MAX_PER_IP:
			rc = parse_u64(optarg, 1u << 24, &v);
			c->max_conns_per_ip = (uint32_t)v;
			break;
		case O_SYN_RATE_IP:
			rc = parse_u64(optarg, 1000000, &v);
			c->syn_rate_per_ip = (uint32_t)v;
			break;
		case O_ARP_DEFEND:
			c->arp_defend = true;
			break;
		case O_SYN_COOKIES:
			if (strcmp(optarg, "auto") == 0)
				c->syn_cookies = CEE_SYN_COOKIES_AUTO;
			else if (strcmp(optarg, "always") == 0)
				c->syn_cookies = CEE_SYN_COOKIES_ALWAYS;
			else if (strcmp(optarg, "off") == 0)
				c->syn_cookies = CEE_SYN_COOKIES_OFF;
			else
				rc = -EINVAL;
			break;
		case O_PERSIST:
			rc = parse_seconds_ns(optarg, &c->tcp.persist_timeout_ns);
			break;
		case O_CHALLENGE_ACK:
			rc = parse_u64(optarg, 1u << 24, &v);
			c->tcp.challenge_ack_limit = (uint32_t)v;
			break;
		case O_HELP:
			cee_engine_usage(stdout, prog);
			return 1;
		default:
			cee_engine_usage(stderr, prog);
			return -EINVAL;
		}
		if (rc < 0) {
			char shown[256];
			cee_sink_redact(shown, optarg); // (a sink spec's secrets)
			fprintf(stderr, "%s: bad value for --%s: '%s'\n", prog, opts[o - O_IP].name,
				o == O_EVENTS ? shown : optarg);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[optind]);
		return -EINVAL;
	}
	if (c->ip == 0 || (c->nlisteners == 0 && c->nlinks == 0) || c->nsinks == 0) {
		fprintf(stderr, "%s: --ip, --listen (or --connect) and --events are required\n",
			prog);
		cee_engine_usage(stderr, prog);
		return -EINVAL;
	}
	// TLS and WebSocket options that nothing uses: a typo (--listen
	// tcp:5061 for tls:5061, with --tls-cert and --tls-key) served
	// plaintext without a word. ALPN is a listener's only (links offer
	// none); --tls-sni and --tls-link-ca are TLS links'.
	enum { USE_SRV_TLS = 1, USE_LINK_TLS = 2, USE_SRV_WS = 4 };
	unsigned have = 0;
	for (unsigned i = 0; i < c->nlisteners; i++)
		have |= (c->listeners[i].tls ? USE_SRV_TLS : 0) | (c->listeners[i].ws ? USE_SRV_WS : 0);
	for (uint32_t i = 0; i < c->nlinks; i++)
		have |= c->links[i].tls ? USE_LINK_TLS : 0;
	// an embedder's own TLS or WebSocket client connections (its cfg's
	// tls_client_on or ws_client_on, set before parsing) use them too
	have |= (c->tls_client_on ? USE_LINK_TLS : 0) | (c->ws_client_on ? USE_SRV_WS : 0);
	static const struct {
		int opt;
		unsigned users;
	} uses[] = {
	    {O_TLS_CERT, USE_SRV_TLS | USE_LINK_TLS},	 {O_TLS_KEY, USE_SRV_TLS | USE_LINK_TLS},
	    {O_TLS_CA, USE_SRV_TLS | USE_LINK_TLS},	 {O_TLS_MIN, USE_SRV_TLS | USE_LINK_TLS},
	    {O_TLS_CIPHERS, USE_SRV_TLS | USE_LINK_TLS}, {O_TLS_ALPN, USE_SRV_TLS},
	    {O_TLS_SNI, USE_LINK_TLS},			 {O_TLS_LINK_CA, USE_LINK_TLS},
	    {O_WS_PATH, USE_SRV_WS},			 {O_WS_SUBPROTOCOL, USE_SRV_WS},
	    {O_WS_ORIGIN, USE_SRV_WS},			 {O_WS_PING, USE_SRV_WS},
	    {O_WS_PONG, USE_SRV_WS},			 {O_WS_MAX, USE_SRV_WS},
	    {O_WS_MSG_TIMEOUT, USE_SRV_WS},		 {O_TLS_MEM, USE_SRV_TLS | USE_LINK_TLS},
	};
	for (size_t i = 0; i < sizeof(uses) / sizeof(uses[0]); i++) {
		if (!(given >> (uses[i].opt - O_IP) & 1) || (uses[i].users & have) != 0)
			continue;
		unsigned u = uses[i].users;
		fprintf(stderr, "%s: --%s is given, but %s\n", prog, opts[uses[i].opt - O_IP].name,
			u == USE_SRV_WS	    ? "there is no ws: or wss: listener (a tcp: one is plain TCP)"
			: u == USE_LINK_TLS ? "there is no TLS link (--connect NAME=tls:...)"
			: u == USE_SRV_TLS  ? "there is no tls: or wss: listener (a tcp: one is "
					      "plaintext; links offer no ALPN)"
					    : "there is no tls: or wss: listener (a tcp: one is "
					      "plaintext) and no TLS link");
		return -EINVAL;
	}
	// a certificate without its key, or a key without its certificate: a
	// TLS link's client certificate went without a word (a listener's
	// is refused below)
	if ((c->tls.cert_file == NULL) != (c->tls.key_file == NULL)) {
		fprintf(stderr, "%s: --%s without --%s: a certificate and its key go together\n",
			prog, c->tls.cert_file != NULL ? "tls-cert" : "tls-key",
			c->tls.cert_file != NULL ? "tls-key" : "tls-cert");
		return -EINVAL;
	}
	// a send buffer never grows past --sndbuf-max: one below --sndbuf
	// turned growth off without a word (0 says so)
	if ((given >> (O_SNDBUF_MAX - O_IP) & 1) && c->tcp.sndbuf_max != 0 &&
	    c->tcp.sndbuf_max < c->tcp.sndbuf) {
		fprintf(stderr,
			"%s: --sndbuf-max %u is below --sndbuf %u: no buffer would grow (0: never)\n",
			prog, c->tcp.sndbuf_max, c->tcp.sndbuf);
		return -EINVAL;
	}
	for (unsigned i = 0; i < c->nlisteners; i++)
		if (c->listeners[i].tls && (c->tls.cert_file == NULL || c->tls.key_file == NULL)) {
			fprintf(stderr, "%s: tls:%u needs --tls-cert and --tls-key\n", prog,
				c->listeners[i].port);
			return -EINVAL;
		}
	// A WebSocket echo writes each message back whole, and a frame cannot
	// be taken back: the send buffer must hold one with room to spare.
	bool ws_echo = false;
	for (unsigned i = 0; i < c->nlisteners; i++)
		ws_echo |= c->listeners[i].ws && c->listeners[i].service != CEE_TCP_SVC_DISCARD;
	uint32_t fit = c->tcp.sndbuf > 32 ? (c->tcp.sndbuf - 32) / 2 : 0;
	if (c->ws.max_message == 0) {
		c->ws.max_message = fit < 65536 ? fit : 65536;
		c->ws.max_frame = c->ws.max_message;
	} else if (ws_echo && c->ws.max_message > fit) {
		fprintf(stderr,
			"%s: --ws-max-message %u: an echo of that needs --sndbuf >= %u (have %u)\n",
			prog, c->ws.max_message, 2 * c->ws.max_message + 32, c->tcp.sndbuf);
		return -EINVAL;
	}
	if (c->tcp.rto_min_ns > c->tcp.rto_initial_ns)
		c->tcp.rto_initial_ns = c->tcp.rto_min_ns;
	// TLS: a record cannot be taken back, and an echo writes back what one
	// record held (16 KiB of plaintext): a smaller send buffer reset every
	// client that wrote that much at once (layer_send_fail). Every TLS
	// connection, a discard's and a wss: one's too, writes its handshake
	// flight (a certificate chain) whole: with a small buffer each
	// handshake was reset (no_resources) by an engine that had started
	bool tls = false;
	for (unsigned i = 0; i < c->nlisteners; i++)
		tls |= c->listeners[i].tls;
	for (uint32_t i = 0; i < c->nlinks; i++)
		tls |= c->links[i].tls;
	if (tls && c->tcp.sndbuf < CEE_TLS_SNDBUF_MIN) {
		fprintf(stderr,
			"%s: --sndbuf %u: TLS needs at least %u (a handshake flight, one whole "
			"record and room)\n",
			prog, c->tcp.sndbuf, CEE_TLS_SNDBUF_MIN);
		return -EINVAL;
	}
	// each link needs two connection slots: its attempt's, and the one
	// held for its next (its last attempt may linger closed on its own,
	// TIME-WAIT, LAST-ACK). More links than slots attempted for ever with
	// no connection and no event; one slot each failed every retry locally
	// while the last attempt lingered
	if (c->nlinks > c->max_conns / 2) {
		fprintf(stderr, "%s: %u links need at least --max-conns %u (have %u)\n", prog,
			c->nlinks, 2 * c->nlinks, c->max_conns);
		return -EINVAL;
	}
	for (uint32_t i = 0; i < c->nlinks; i++) { // reachable, not ours

		const char *why = link_addr_problem(c, c->links[i].ip);
		uint32_t d = c->links[i].ip;
		if (why != NULL) {
			struct in_addr ia = {.s_addr = htonl(d)};
			char ab[INET_ADDRSTRLEN];
			inet_ntop(AF_INET, &ia, ab, sizeof(ab));
			fprintf(stderr, "%s: link '%s': %s is %s\n", prog, c->links[i].name, ab, why);
			return -EINVAL;
		}
	}
	if (c->ctl_socket != NULL && strlen(c->ctl_socket) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		fprintf(stderr, "%s: --ctl-socket: a Unix socket path is at most %zu bytes\n", prog,
			sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		return -EINVAL;
	}
	// two sinks on one file: both append, each event twice (or two formats);
	// --stats on a sink's file: the counters replaced the run's events at
	// exit. By the file, not the spelling: ./e.jsonl and e.jsonl, or a
	// link to it, were one file too
	for (unsigned i = 0; i < c->nsinks; i++) {
		bool a_out, b_out;
		const char *a = sink_file(c->sinks[i], &a_out);
		if (a == NULL)
			continue;
		for (unsigned j = i + 1; j < c->nsinks; j++) {
			const char *b = sink_file(c->sinks[j], &b_out);
			if (b != NULL && same_target(a, a_out, b, b_out)) {
				char sa[256], sb[256];
				cee_sink_redact(sa, c->sinks[i]);
				cee_sink_redact(sb, c->sinks[j]);
				fprintf(stderr, "%s: --events %s and --events %s: one file%s\n", prog, sa,
					sb, a_out || b_out ? " (stdout)" : "");
				return -EINVAL;
			}
		}
		if (c->stats_path != NULL && same_target(a, a_out, c->stats_path, false)) {
			fprintf(stderr, "%s: --stats %s is the file of --events %s%s\n", prog,
				c->stats_path, c->sinks[i], a_out ? " (stdout)" : "");
			return -EINVAL;
		}
	}
	// TLS links: the client context verifies servers against --tls-ca and
	// a name, and presents --tls-cert when a server asks for one
	for (uint32_t i = 0; i < c->nlinks; i++) {
		if (!c->links[i].tls)
			continue;
		// a link that verified nothing took any server for the peer (no
		// CA: wolfSSL's VERIFY_NONE), and one with no name to match any
		// certificate of the CA (which may also sign mutual TLS's clients)
		if (c->tls_client.ca_file == NULL && c->tls.ca_file == NULL) {
			fprintf(stderr,
				"%s: link '%s' is TLS: give --tls-link-ca (or --tls-ca) to verify "
				"its server\n",
				prog, c->links[i].name);
			return -EINVAL;
		}
		if (c->links[i].sni == NULL && c->tls_sni == NULL) {
			fprintf(stderr,
				"%s: link '%s' is TLS: give its server's name to verify "
				"(--tls-sni NAME, or ,sni=NAME after the link)\n",
				prog, c->links[i].name);
			return -EINVAL;
		}
		c->tls_client_on = true;
	}
	if (c->tls_client_on) {
		if (c->tls_client.ca_file == NULL)
			c->tls_client.ca_file = c->tls.ca_file;
		c->tls_client.cert_file = c->tls.cert_file;
		c->tls_client.key_file = c->tls.key_file;
		c->tls_client.min_version = c->tls.min_version;
		c->tls_client.ciphers = c->tls.ciphers;
	}
	// a connection reserves its whole lifecycle's records at admission: a
	// ring below that refused every connection, for ever, without a word
	unsigned need = cee_shard_conn_credits_max(c);
	if (c->event_ring != 0 && c->event_ring < need) {
		fprintf(stderr,
			"%s: --event-ring %u: one connection of this configuration reserves %u "
			"records (its lifecycle's events and extension records); give at least %u\n",
			prog, c->event_ring, need, need);
		return -EINVAL;
	}
	return 0;
}

/* ---- life ----------------------------------------------------------------- */

unsigned cee_engine_nshards(const struct cee_engine *e)
{
	return e->nshards;
}

unsigned cee_engine_nports(const struct cee_engine *e)
{
	return e->nports;
}

static bool port_used(const struct cee_engine_cfg *cfg, uint16_t port_id)
{
	return cfg->port_mask == 0 || (port_id < 32 && (cfg->port_mask >> port_id) & 1);
}

struct cee_shard *cee_engine_shard(struct cee_engine *e, unsigned i)
{
	return i < e->nshards ? &e->shards[i] : NULL;
}

bool cee_engine_cfg_layers(const struct cee_engine_cfg *c, bool *srv_tls, bool *srv_ws,
			   bool *cli_tls, bool *cli_ws)
{
	bool st = false, sw = false;
	for (unsigned i = 0; i < c->nlisteners; i++) {
		st |= c->listeners[i].tls;
		sw |= c->listeners[i].ws;
	}
	if (srv_tls)
		*srv_tls = st;
	if (srv_ws)
		*srv_ws = sw;
	if (cli_tls)
		*cli_tls = c->tls_client_on;
	if (cli_ws)
		*cli_ws = c->ws_client_on;
	return st || sw || c->tls_client_on || c->ws_client_on;
}

// TLS set-up common to every shard: wolfSSL, and one session-ticket key per
// engine, so a session resumes on whichever shard its next connection hashes to.
static int engine_tls_init(struct cee_engine *e)
{
	bool srv, cli;
	cee_engine_cfg_layers(&e->cfg, &srv, NULL, &cli, NULL);
	if (!srv && !cli)
		return 0;
	int rc = cee_tls_global_init();
	if (rc < 0) {
		fprintf(stderr, "cee: wolfSSL initialisation failed: %s\n", strerror(-rc));
		errno = -rc;
		return rc;
	}
	if (getrandom(e->cfg.tls.ticket_key, sizeof(e->cfg.tls.ticket_key), 0) !=
	    (ssize_t)sizeof(e->cfg.tls.ticket_key)) {
		fprintf(stderr, "cee: no randomness for the session-ticket key: %s\n",
			strerror(errno));
		return -errno;
	}
	// the ratchet's first epoch, the same for every shard (cee_tls.h)
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t period = e->cfg.tls.ticket_rotate_ns != 0 ? e->cfg.tls.ticket_rotate_ns
							   : 3600000000000ull;
	e->cfg.tls.ticket_epoch0 =
	    ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) / period;
	return 0;
}

static int engine_sinks_json(void *arg, char *buf, size_t len);
static int engine_ports_json(void *arg, char *buf, size_t len);

// Bytes of memory available (/proc/meminfo MemAvailable, else the
// physical memory), 0 if unknown.
static uint64_t mem_available(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	if (f != NULL) {
		char line[128];
		unsigned long long kib;
		while (fgets(line, sizeof(line), f) != NULL)
			if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1) {
				fclose(f);
				return (uint64_t)kib * 1024;
			}
		fclose(f);
	}
	long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
	return pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz : 0;
}

int cee_engine_evrings_fit(const struct cee_engine_cfg *cfg, unsigned nshards, uint64_t avail)
{
	// The event rings are filled round and round, so all their memory is
	// touched: rings larger than the machine's memory got the engine
	// killed by the OOM killer at start (or at the first wrap), with no
	// word of why.
	uint32_t recs = cee_shard_evring_records(cfg, nshards);
	uint64_t need = cee_evring_bytes(recs) * nshards;
	if (recs == 0 || avail == 0 || need <= avail)
		return 0;
	fprintf(stderr,
		"cee: the event rings need %.1f GiB (%u shard(s) x %u records of %zu bytes, "
		"rounded up to a power of two), more than the %.1f GiB of memory available: "
		"give a smaller --event-ring or --max-conns\n",
		(double)need / (1u << 30), nshards, recs, sizeof(struct cee_event),
		(double)avail / (1u << 30));
	return -ENOMEM;
}

int cee_engine_mem_fit(const struct cee_engine_cfg *cfg, unsigned nshards, uint64_t avail,
		       uint64_t *tls_mem)
{
	if (cee_engine_evrings_fit(cfg, nshards, avail) < 0)
		return -ENOMEM;
	// What peers can make the engine touch, beyond the rings: send and
	// WebSocket buffers (touched as connections use them) and wolfSSL's
	// heap (a state of tens of KB for each TLS connection). Past the
	// machine's memory the OOM killer ended the engine mid-run, with
	// every connection it held, and no word of why.
	uint32_t recs = cee_shard_evring_records(cfg, nshards);
	uint64_t rings = recs != 0 ? cee_evring_bytes(recs) * nshards : 0, pools = 0, srcs = 0;
	for (unsigned i = 0; i < nshards; i++) {
		pools += cee_shard_pool_bytes(cfg, i, nshards);
		// the per-source tables, sized for the shard's slots: a stream
		// of new source addresses touches all of one
		if (cfg->max_conns_per_ip || cfg->syn_rate_per_ip)
			srcs += cee_srclimit_bytes(
			    cee_srclimit_sources_for(cee_shard_slots(cfg, i, nshards)));
	}
	bool srv, cli;
	cee_engine_cfg_layers(cfg, &srv, NULL, &cli, NULL);
	uint64_t tls = 0;
	if (srv || cli) {
		tls = cfg->tls_mem;
		if (tls == 0) {
			tls = (uint64_t)cfg->max_conns << 17;
			if (avail != 0 && tls > avail / 4)
				tls = avail / 4;
		}
	}
	*tls_mem = tls;
	if (avail == 0 || rings + pools + srcs + tls <= avail)
		return 0;
	const double gib = (double)(1u << 30);
	fprintf(stderr,
		"cee: the engine's memory can reach %.1f GiB (event rings %.1f, send and "
		"WebSocket buffers %.1f, per-source tables %.1f, TLS %.1f), more than the %.1f "
		"GiB available: give smaller --sndbufs, --sndbuf, --sndbuf-max, "
		"--ws-max-message, --tls-mem or --max-conns\n",
		(double)(rings + pools + srcs + tls) / gib, (double)rings / gib,
		(double)pools / gib, (double)srcs / gib, (double)tls / gib, (double)avail / gib);
	return -ENOMEM;
}

int cee_engine_conns_fit(const struct cee_engine_cfg *cfg, unsigned nshards)
{
	// A shard's pool holds at most CEE_CONN_POOL_MAX: beyond it the
	// engine set up its ports and shards and then failed with a bare
	// "Invalid argument" (--max-conns took up to 2^24 on one shard)
	if (nshards == 0)
		return 0;
	// (shard 0's slots, the most: cee_shard_slots())
	uint64_t share = cee_shard_slots(cfg, 0, nshards);
	if (share <= CEE_CONN_POOL_MAX)
		return 0;
	uint64_t most = cee_flow_total_most(CEE_CONN_POOL_MAX, nshards);
	fprintf(stderr,
		"cee: --max-conns %u: %" PRIu64 " a shard on %u shard(s), more than a shard "
		"holds (%u); give at most %" PRIu64 " (or more shards)\n",
		cfg->max_conns, share, nshards, CEE_CONN_POOL_MAX,
		most < (1u << 24) ? most : (uint64_t)(1u << 24));
	return -EINVAL;
}

struct cee_engine *cee_engine_create(const struct cee_engine_cfg *cfg)
{
	unsigned workers = rte_lcore_count() - 1;
	unsigned nshards = cfg->nshards ? cfg->nshards
					: (workers > cfg->first_worker ? workers - cfg->first_worker : 0);
	// at most one shard per RETA entry: the owner of a flow is its RETA
	// entry modulo the shards (cee_flow_owner()), so shards past the
	// table's size would own no flow (no source port for a link, no RSS
	// queue's traffic)
	unsigned max_shards = CEE_MAX_SHARDS < CEE_RETA_SIZE ? CEE_MAX_SHARDS : CEE_RETA_SIZE;
	if (nshards == 0 || nshards > max_shards || cfg->first_worker + nshards > workers) {
		fprintf(stderr, "cee: need 1..%u worker lcores (one per shard) besides the main "
				"lcore, have %u (use e.g. -l 0,1)\n",
			max_shards, workers);
		errno = EINVAL;
		return NULL;
	}
	if (cee_engine_conns_fit(cfg, nshards) < 0) {
		errno = EINVAL;
		return NULL;
	}
	if (cfg->ip_count == 0 || cfg->ip + (uint64_t)cfg->ip_count - 1 > UINT32_MAX) {
		fprintf(stderr, "cee: bad address range\n");
		errno = EINVAL;
		return NULL;
	}
	unsigned nports = 0;
	uint16_t port_id;
	RTE_ETH_FOREACH_DEV(port_id)
	{
		if (port_used(cfg, port_id))
			nports++;
	}
	if (nports == 0 || nports > CEE_MAX_PORTS) {
		fprintf(stderr, "cee: need 1..%u ports, have %u (e.g. --vdev=net_af_packet0,iface=X)\n",
			CEE_MAX_PORTS, nports);
		errno = EINVAL;
		return NULL;
	}
	uint64_t tls_mem;
	if (cee_engine_mem_fit(cfg, nshards, mem_available(), &tls_mem) < 0) {
		errno = ENOMEM;
		return NULL;
	}
	// links: an embedder's own cfg is held to parse_args' rules (which
	// say which option is wrong) here
	// (two slots a link: its attempt's, and its next's; parse_args' rule.
	// Each shard's slots hold two for each of its own: cee_shard_slots())
	if (cfg->nlinks > 0 && (uint64_t)cfg->nlinks * 2 > cfg->max_conns) {
		fprintf(stderr, "cee: %u links need at least --max-conns %u (have %u)\n",
			cfg->nlinks, 2 * cfg->nlinks, cfg->max_conns);
		errno = EINVAL;
		return NULL;
	}
	for (uint32_t i = 0; i < cfg->nlinks; i++) {
		const char *why = link_addr_problem(cfg, cfg->links[i].ip);
		if (why != NULL) {
			fprintf(stderr, "cee: link '%s': its address is %s\n", cfg->links[i].name,
				why);
			errno = EINVAL;
			return NULL;
		}
	}
	// TLS links verify their server: a CA and a name
	for (uint32_t i = 0; i < cfg->nlinks; i++)
		if (cfg->links[i].tls &&
		    (!cfg->tls_client_on || cfg->tls_client.ca_file == NULL ||
		     (cfg->links[i].sni == NULL && cfg->tls_sni == NULL))) {
			fprintf(stderr, "cee: link '%s' is TLS without a CA or a server name to "
					"verify its server against\n",
				cfg->links[i].name);
			errno = EINVAL;
			return NULL;
		}
	// an explicit ring that cannot hold the reservations of a shard's
	// links: some of them would be refused for ever, with no event
	uint32_t recs = cee_shard_evring_records(cfg, nshards);
	uint64_t cap = cee_evring_bytes(recs) / sizeof(struct cee_event);
	for (unsigned i = 0; recs != 0 && i < nshards; i++) {
		uint64_t links_need = cee_shard_links_credits(cfg, i, nshards);
		if (links_need <= cap)
			continue;
		fprintf(stderr,
			"cee: --event-ring %u: the %u links of shard %u reserve %" PRIu64
			" records (24 a TCP link, 52 a TLS link: its attempt's and its next one's); "
			"give at least that\n",
			cfg->event_ring, cee_links_on_shard(cfg->nlinks, i, nshards), i, links_need);
		errno = ENOBUFS;
		return NULL;
	}
	struct cee_engine *e = calloc(1, sizeof(*e));
	if (e == NULL)
		return NULL;
	e->cfg = *cfg;
	e->nshards = nshards;
	e->nports = nports;
	(void)cee_clock_ns(); // fix the clock origin before any lcore runs
	if (engine_tls_init(e) < 0)
		goto fail;
	// keyed hashing (4-tuple table, ISN): a random secret per engine
	if (getrandom(e->cfg.hash_secret, sizeof(e->cfg.hash_secret), 0) !=
	    (ssize_t)sizeof(e->cfg.hash_secret)) {
		fprintf(stderr, "cee: no randomness for the hash secret: %s\n", strerror(errno));
		goto fail;
	}
	// The instance's id: in every JSON event, and the NATS sink's subjects
	// and message ids. A new one per start unless given: sseq restarts too.
	// And the run's: an engine given its id keeps it across restarts, so
	// its events carry the run too (a consumer keys a connection by
	// engine, run and id).
	uint64_t rnd[2];
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		fprintf(stderr, "cee: no randomness for the engine id: %s\n", strerror(errno));
		goto fail;
	}
	snprintf(e->cfg.run_id, sizeof(e->cfg.run_id), "r%012llx",
		 (unsigned long long)(rnd[1] & UINT64_C(0xffffffffffff)));
	bool id_given = e->cfg.engine_id[0] != '\0';
	if (!id_given)
		snprintf(e->cfg.engine_id, sizeof(e->cfg.engine_id), "%016llx",
			 (unsigned long long)rnd[0]);
	// The JSON writers' id is process-wide: set by the engine that exports
	// (cee-bench's generator engine has no events).
	if (!cfg->no_events) {
		(void)cee_evt_json_set_engine(e->cfg.engine_id, id_given ? e->cfg.run_id : NULL);
		cee_evt_set_run(e->cfg.run_id);
	}
#ifdef CEE_HAVE_NATS
	(void)cee_sink_nats_register();
#endif

	unsigned nmbufs = cfg->nmbufs ? cfg->nmbufs
				      : nshards * nports * 2048 + nshards * 8192 + 4096;
	char name[RTE_MEMPOOL_NAMESIZE];
	snprintf(name, sizeof(name), "%s_mbufs", cfg->name);
	// A LIFO pool by default: the mbuf freed last is handed out next, still
	// warm in some cache, where a FIFO ring returns the coldest one. Worth
	// 14% in cee-bench (docs/performance.md). Falls back to the platform's
	// default when the driver is missing.
	const char *ops = cfg->mbuf_ops ? cfg->mbuf_ops : "stack";
	e->mp = rte_pktmbuf_pool_create_by_ops(name, nmbufs, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					       (int)rte_socket_id(), ops);
	if (e->mp == NULL && cfg->mbuf_ops == NULL)
		e->mp = rte_pktmbuf_pool_create(name, nmbufs, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
						(int)rte_socket_id());
	if (e->mp == NULL) {
		fprintf(stderr, "cee: mbuf pool of %u: %s\n", nmbufs, rte_strerror(rte_errno));
		goto fail;
	}
	unsigned pi = 0;
	RTE_ETH_FOREACH_DEV(port_id)
	{
		if (!port_used(cfg, port_id))
			continue;
		int rc = cee_port_setup(port_id, nshards, e->mp, &e->ports[pi]);
		if (rc < 0) {
			errno = -rc;
			goto fail;
		}
		e->ports_set_up = pi + 1;
		// the MSS we announce fits the smallest MTU of our ports (IPv4 + TCP: 40 bytes)
		// and a frame fits one mbuf (below)
		uint16_t mtu;
		if (rte_eth_dev_get_mtu(port_id, &mtu) == 0 && mtu > 40 + CEE_TCP_MIN_ANNOUNCED_MSS &&
		    mtu - 40 < e->cfg.tcp.mss)
			e->cfg.tcp.mss = (uint16_t)(mtu - 40);
		pi++;
	}
	// A segment is built in one mbuf: Ethernet, IPv4, TCP with the longest
	// options (40) and the payload. A larger MSS (--mss on a jumbo port)
	// made every full segment fail to build, resent until the connection
	// timed out.
	{
		uint32_t room = rte_pktmbuf_data_room_size(e->mp) - RTE_PKTMBUF_HEADROOM;
		uint32_t most = room > 14 + 20 + 60 + CEE_TCP_MIN_ANNOUNCED_MSS
				    ? room - (14 + 20 + 60)
				    : CEE_TCP_MIN_ANNOUNCED_MSS;
		if (e->cfg.tcp.mss > most) {
			fprintf(stderr, "cee: --mss %u: at most %u fits a packet buffer; using %u\n",
				e->cfg.tcp.mss, most, most);
			e->cfg.tcp.mss = (uint16_t)most;
		}
	}

	e->shards = rte_zmalloc("cee_shards", sizeof(struct cee_shard) * nshards,
				RTE_CACHE_LINE_SIZE);
	e->handoff = calloc((size_t)nshards * nshards, sizeof(*e->handoff));
	if (e->shards == NULL || e->handoff == NULL)
		goto fail_nomem;
	struct cee_evring *rings[CEE_MAX_SHARDS];
	for (unsigned i = 0; i < nshards; i++) {
		int rc = cee_shard_init(&e->shards[i], i, nshards, rte_socket_id(), &e->cfg,
					e->ports, nports, e->mp);
		if (rc < 0) {
			fprintf(stderr, "cee: shard %u: %s\n", i, strerror(-rc));
			errno = -rc;
			goto fail;
		}
		rings[i] = e->shards[i].evring;
	}
	// the budget on top of what the contexts hold (certificates, keys)
	if (tls_mem != 0)
		cee_tls_heap_budget((int64_t)tls_mem);
	// every shard's ticket ratchet has begun from it: the key goes, so
	// that memory read later opens no ticket of an epoch gone by
	explicit_bzero(e->cfg.tls.ticket_key, sizeof(e->cfg.tls.ticket_key));
	for (unsigned i = 0; i < nshards; i++)
		for (unsigned j = 0; j < nshards; j++) {
			if (i == j)
				continue;
			char rname[RTE_RING_NAMESIZE];
			snprintf(rname, sizeof(rname), "%s_ho_%u_%u", cfg->name, i, j);
			struct rte_ring *r = rte_ring_create(rname, cee_handoff_ring_size(nshards),
							     SOCKET_ID_ANY,
							     RING_F_SP_ENQ | RING_F_SC_DEQ);
			if (r == NULL)
				goto fail_nomem;
			e->handoff[i * nshards + j] = r;
			e->shards[i].handoff[j] = r;
			e->shards[j].handoff_in[i] = r;
		}
	// a rotation asked for from now on is one of the files opened below:
	// taken at start, a SIGHUP meanwhile (a FIFO sink's open waits for its
	// reader) was never acted on, and the sink wrote on into the file
	// renamed away until the next one, a day later (review)
	e->reload_seen = cee_reload_generation();
	for (unsigned k = 0; k < cfg->nsinks; k++) {
		e->sinks[k] = cee_sink_open(cfg->sinks[k]);
		if (e->sinks[k] == NULL) {
			// (redacted: a broker's password or token went to the journal)
			int err = errno;
			char shown[256];
			cee_sink_redact(shown, cfg->sinks[k]);
			fprintf(stderr, "cee: events sink '%s': %s\n", shown, strerror(err));
			goto fail;
		}
	}
	if (!cfg->no_events) {
		e->exporter = cee_exporter_create(rings, nshards, e->sinks, cfg->nsinks);
		if (e->exporter == NULL)
			goto fail;
	}
	struct cee_mbox *mbox[CEE_MAX_SHARDS];
	for (unsigned i = 0; i < nshards; i++)
		mbox[i] = &e->shards[i].mbox;
	e->ctl = cee_ctl_create(&(struct cee_ctl_cfg){
		.name = cfg->name,
		.sock_path = cfg->ctl_socket,
		.nshards = nshards,
		.mbox = mbox,
		.max_conns_per_shard = cee_conn_max(e->shards[0].pool),
		.telemetry = true,
		.sinks_json = engine_sinks_json,
		.sinks_arg = e,
		.ports_json = engine_ports_json,
		.ports_arg = e,
		.engine_id = e->cfg.engine_id,
		.run_id = e->cfg.run_id,
		.engine_per_run = !id_given,
	});
	if (e->ctl == NULL)
		goto fail;
	return e;

fail_nomem:
	errno = ENOMEM;
fail: {
	int err = errno;
	cee_engine_destroy(e);
	errno = err;
	return NULL;
}
}

// "ports":[...],"mbufs_free":N: the ports' own counters (control thread).
// Frames the driver lost before a shard saw them (no mbuf to refill its
// ring: the pool ran dry; missed; errors) are in no shard counter.
static int engine_ports_json(void *arg, char *buf, size_t len)
{
	struct cee_engine *e = arg;
	size_t n = 0;
	int w = snprintf(buf, len, "\"ports\":[");
	for (unsigned pi = 0; w >= 0 && (size_t)w < len - n && pi < e->ports_set_up; pi++) {
		n += (size_t)w;
		struct rte_eth_stats es;
		if (rte_eth_stats_get(e->ports[pi].port_id, &es) != 0)
			memset(&es, 0, sizeof(es));
		w = snprintf(buf + n, len - n,
			     "%s{\"port\":%u,\"ipackets\":%" PRIu64 ",\"opackets\":%" PRIu64
			     ",\"imissed\":%" PRIu64 ",\"ierrors\":%" PRIu64 ",\"oerrors\":%" PRIu64
			     ",\"rx_nombuf\":%" PRIu64 "}",
			     pi ? "," : "", e->ports[pi].port_id, es.ipackets, es.opackets, es.imissed,
			     es.ierrors, es.oerrors, es.rx_nombuf);
	}
	if (w < 0 || (size_t)w >= len - n)
		return -ENOSPC;
	n += (size_t)w;
	w = snprintf(buf + n, len - n, "],\"mbufs_free\":%u", rte_mempool_avail_count(e->mp));
	if (w < 0 || (size_t)w >= len - n)
		return -ENOSPC;
	return (int)(n + (size_t)w);
}

// {"sinks":[...]}: how each events sink stands (control thread).
static int engine_sinks_json(void *arg, char *buf, size_t len)
{
	struct cee_engine *e = arg;
	size_t n = 0;
	int w = snprintf(buf, len, "{\"engine\":\"%s\",\"run\":\"%s\",\"sinks\":[", e->cfg.engine_id,
			 e->cfg.run_id);
	for (unsigned i = 0; w >= 0 && (size_t)w < len - n && e->exporter &&
			     i < cee_exporter_nsinks(e->exporter);
	     i++) {
		n += (size_t)w;
		struct cee_exporter_sink_stats st;
		cee_exporter_sink_stats(e->exporter, i, &st);
		// The spec is printed up to its first '"' or '\\' (none in a valid one).
		w = snprintf(buf + n, len - n,
			     "%s{\"spec\":\"%.*s\",\"state\":\"%s\",\"last_error\":\"%s\",\"written\":%" PRIu64
			     ",\"held\":%" PRIu64 ",\"behind\":%" PRIu64 ",\"resent\":%" PRIu64
			     ",\"failures\":%" PRIu64 ",\"retries\":%" PRIu64
			     ",\"down_ms\":%" PRIu64 ",\"bad_ext\":%" PRIu64 "}",
			     i ? "," : "", (int)strcspn(st.spec, "\"\\"), st.spec,
			     st.failed ? "retrying" : "ok", st.err ? strerror(-st.err) : "",
			     st.written, st.held, st.behind, st.resent, st.failures, st.retries,
			     st.down_ns / 1000000, st.bad_ext);
	}
	if (w < 0 || (size_t)w >= len - n)
		return -ENOSPC;
	n += (size_t)w;
	w = snprintf(buf + n, len - n, "]}");
	if (w < 0 || (size_t)w >= len - n)
		return -ENOSPC;
	return (int)(n + (size_t)w);
}

/*
 * --sched: can this process give a thread that policy? Tried on the caller,
 * then undone, so that a missing CAP_SYS_NICE (or a priority the RLIMIT_RTPRIO
 * forbids) is a clear error before anything runs. Each shard sets its own
 * thread at its start (cee_shard_main()).
 */
static int sched_check(const struct cee_engine_cfg *c)
{
	if (c->sched_policy == SCHED_OTHER)
		return 0;
	int old_policy;
	struct sched_param old, sp = {.sched_priority = c->sched_priority};
	int rc = pthread_getschedparam(pthread_self(), &old_policy, &old);
	if (rc == 0)
		rc = pthread_setschedparam(pthread_self(), c->sched_policy, &sp);
	if (rc != 0) {
		fprintf(stderr, "cee: --sched %s:%d: %s (needs CAP_SYS_NICE)\n",
			c->sched_policy == SCHED_FIFO ? "fifo" : "rr", c->sched_priority,
			strerror(rc));
		return -rc;
	}
	(void)pthread_setschedparam(pthread_self(), old_policy, &old);
	// The kernel's RT throttling: a real-time thread that runs more than
	// sched_rt_runtime_us of each sched_rt_period_us is stopped for the
	// rest of the period (50 ms of every second by default). A shard that
	// polls without idling is throttled: measured here, handshake p99s of
	// 36-48 ms with --poll-idle-us 5 (docs/performance.md).
	FILE *f = fopen("/proc/sys/kernel/sched_rt_runtime_us", "r");
	long runtime = -1;
	if (f != NULL) {
		if (fscanf(f, "%ld", &runtime) != 1)
			runtime = -1;
		fclose(f);
	}
	if (runtime >= 0)
		fprintf(stderr,
			"cee: --sched: real-time threads are throttled to %ld us of each "
			"kernel.sched_rt_period_us: a shard busier than that stalls for the rest "
			"of the period; on an isolated core set kernel.sched_rt_runtime_us=-1\n",
			runtime);
	return 0;
}

int cee_engine_start(struct cee_engine *e)
{
	unsigned lcore, i = 0, w = 0;
	int rc = sched_check(&e->cfg);
	if (rc < 0)
		return rc;
	RTE_LCORE_FOREACH_WORKER(lcore)
	{
		if (w++ < e->cfg.first_worker)
			continue;
		if (i == e->nshards)
			break;
		e->shards[i].lcore = lcore;
		rc = rte_eal_remote_launch(cee_shard_main, &e->shards[i], lcore);
		if (rc < 0) {
			// the shards launched already run on what cee_engine_destroy()
			// would free: stopped and waited for here
			for (unsigned j = 0; j < i; j++)
				atomic_store(&e->shards[j].stop, true);
			for (unsigned j = 0; j < i; j++)
				rte_eal_wait_lcore(e->shards[j].lcore);
			return rc;
		}
		i++;
	}
	e->started = true;
	return 0;
}

int cee_engine_export(struct cee_engine *e)
{
	return e->exporter ? cee_exporter_poll(e->exporter, 4096) : 0;
}

// SIGHUP (or cee-ctl reload): event files renamed away go on anew.
static void rotate_if_asked(struct cee_engine *e)
{
	uint32_t gen = cee_reload_generation();
	if (unlikely(gen != e->reload_seen)) {
		e->reload_seen = gen;
		if (e->exporter != NULL)
			cee_exporter_rotate(e->exporter);
	}
}

int cee_engine_poll(struct cee_engine *e)
{
	rotate_if_asked(e);
	int n = cee_engine_export(e);
	if (n == 0 && e->exporter)
		(void)cee_exporter_flush(e->exporter);
	n += cee_ctl_poll(e->ctl); // command socket, drain
	return n;
}

int cee_engine_run(struct cee_engine *e, volatile sig_atomic_t *stop)
{
	// A sink that fails is retried by the exporter; the engine goes on.
	e->stop = stop;
	while (!*stop && !cee_ctl_drained(e->ctl)) {
		if (cee_engine_poll(e) == 0)
			usleep(200);
	}
	if (cee_ctl_drained(e->ctl))
		fprintf(stderr, "cee: drained: no connection left; stopping\n");
	return cee_engine_shutdown(e);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

// Reports, per sink, what it did not take or deliver. @return events and
// records left over all sinks.
static uint64_t report_undelivered(struct cee_engine *e)
{
	uint64_t left = 0;
	for (unsigned i = 0; e->exporter && i < cee_exporter_nsinks(e->exporter); i++) {
		struct cee_exporter_sink_stats st;
		cee_exporter_sink_stats(e->exporter, i, &st);
		if (st.behind == 0 && st.held == 0)
			continue;
		fprintf(stderr,
			"cee: shutdown timeout: events sink '%s' did not get %" PRIu64
			" records and did not deliver %" PRIu64 " events it took (%s)\n",
			st.spec, st.behind, st.held,
			st.failed ? strerror(-st.err) : "slow or stalled reader");
		left += st.behind + st.held;
	}
	return left;
}

int cee_engine_shutdown(struct cee_engine *e)
{
	int err = 0;
	if (!e->started)
		return 0;
	// Shutdown: every shard closes its connections (reason shutdown)
	// and reports done; keep exporting meanwhile. A shard never waits for
	// the exporter (its events have reserved room), so the shards finish
	// whatever the sinks do; then the sinks get --shutdown-timeout to take
	// and deliver the rest.
	atomic_store_explicit(&e->grace_left, e->nshards, memory_order_relaxed);
	for (unsigned i = 0; i < e->nshards; i++) {
		e->shards[i].grace_left = &e->grace_left;
		atomic_store_explicit(&e->shards[i].stop, true, memory_order_release);
	}
	uint64_t deadline = 0;
	for (;;) {
		// a second SIGTERM/SIGINT cuts --shutdown-grace short too
		if (e->stop != NULL && *e->stop >= 2)
			for (unsigned i = 0; i < e->nshards; i++)
				atomic_store_explicit(&e->shards[i].hurry, true, memory_order_release);
		bool all_done = true;
		for (unsigned i = 0; i < e->nshards; i++)
			all_done &= atomic_load_explicit(&e->shards[i].done, memory_order_acquire);
		// a rotation during the shutdown too (a grace of up to an hour, a
		// sink timeout of up to a day): the closing events went on into
		// the renamed file, and after its removal to an unlinked inode
		rotate_if_asked(e);
		int n = cee_engine_export(e);
		// the control socket is still served: a request (or a watch's
		// shutdown answer) waited in the backlog until the end otherwise
		n += cee_ctl_poll(e->ctl);
		if (all_done) {
			if (e->exporter == NULL || cee_exporter_idle(e->exporter))
				break;
			uint64_t now = mono_ns();
			if (deadline == 0) {
				deadline = now + e->cfg.shutdown_timeout_ns;
				cee_exporter_shutdown(e->exporter);
			}
			// a second SIGTERM/SIGINT: the operator will not wait for a
			// stalled sink (up to a day's --shutdown-timeout); what is left
			// is reported as at the timeout, and --stats still written
			bool cut = e->stop != NULL && *e->stop >= 2;
			if (cut)
				fprintf(stderr, "cee: a second stop signal: not waiting for the sinks\n");
			if (now >= deadline || cut) {
				if (report_undelivered(e) > 0)
					err = -ETIMEDOUT;
				// the sinks' closes wait for nothing more: what
				// they hold is reported undelivered already
				for (unsigned k = 0; k < CEE_MAX_SINKS; k++)
					if (e->sinks[k] != NULL)
						e->sinks[k]->close_by_ns = now;
				break;
			}
		}
		if (n == 0)
			usleep(100);
	}
	for (unsigned i = 0; i < e->nshards; i++)
		rte_eal_wait_lcore(e->shards[i].lcore);
	// Frames handed to a shard that had stopped already (shards see the
	// stop at different moments): freed and counted now, with the shards
	// gone and before --stats is written, so that rx_pkts, handoff_out and
	// the drops add up (they were freed at destroy, in no counter).
	for (unsigned from = 0; e->handoff != NULL && from < e->nshards; from++)
		for (unsigned to = 0; to < e->nshards; to++) {
			struct rte_ring *r = e->handoff[from * e->nshards + to];
			struct rte_mbuf *m;
			while (r != NULL && rte_ring_dequeue(r, (void **)&m) == 0) {
				rte_pktmbuf_free(m);
				e->shards[to].stats.drops[CEE_DROP_HANDOFF_STOPPED]++;
			}
		}
	e->started = false;
	return err;
}

/* ---- stats ---------------------------------------------------------------- */

/* The counters of cee_stats.h, groups nested: {"live":..,"tcp":{..},"drops":{..},"mailbox":{..}}. */
static void print_counters(FILE *f, const uint64_t *v)
{
	for (unsigned g = 0; g < CEE_STAT__GROUPS; g++) {
		const char *key = cee_stat_group_key((enum cee_stat_group)g);
		bool first = true;
		if (key != NULL)
			fprintf(f, ",\"%s\":{", key);
		for (unsigned i = 0; i < cee_stat_count(); i++) {
			const struct cee_stat_def *d = cee_stat_def(i);
			if (d->group != g)
				continue;
			fprintf(f, "%s\"%s\":%" PRIu64, first && (key != NULL || g == 0) ? "" : ",",
				d->name, v[i]);
			first = false;
		}
		if (key != NULL)
			fprintf(f, "}");
	}
}

void cee_engine_stats_json(struct cee_engine *e, FILE *f)
{
	unsigned n = cee_stat_count();
	uint64_t *total = calloc(n, sizeof(*total)), *one = calloc(n, sizeof(*one));
	struct cee_ctl_shard_stats st;

	if (total == NULL || one == NULL) {
		free(total);
		free(one);
		fprintf(f, "{\"v\":%d,\"error\":\"out of memory\"}\n", CEE_EVT_SCHEMA_VERSION);
		return;
	}
	fprintf(f, "{\"v\":%d,\"shards\":[", CEE_EVT_SCHEMA_VERSION);
	for (unsigned s = 0; s < e->nshards; s++) {
		cee_stat_snapshot(&e->shards[s], &st);
		for (unsigned i = 0; i < n; i++) {
			one[i] = cee_stat_value(i, &st);
			if (!cee_stat_def(i)->max)
				total[i] += one[i];
			else if (one[i] > total[i])
				total[i] = one[i];
		}
		fprintf(f, "%s{\"shard\":%u,", s ? "," : "", s);
		print_counters(f, one);
		fprintf(f, "}");
	}
	fprintf(f, "],\"total\":{");
	print_counters(f, total);
	fprintf(f, ",\"exported\":%" PRIu64 ",\"conn_bytes\":%" PRIu64 "}",
		e->exporter ? cee_exporter_exported(e->exporter) : 0,
		e->nshards ? cee_conn_pool_bytes(e->shards[0].pool) * e->nshards : 0);
	// (grown as the command socket's are: in fixed buffers, a part that
	// did not fit was left out in silence)
	char *ports = NULL, *sinks = NULL;
	int pn = cee_ctl_part(engine_ports_json, e, &ports);
	if (pn > 0)
		fprintf(f, ",%.*s", pn, ports);
	int sn = cee_ctl_part(engine_sinks_json, e, &sinks);
	if (sn >= 2)
		fprintf(f, ",%.*s", sn - 2, sinks + 1); // "engine" and "sinks"
	free(ports);
	free(sinks);
	fprintf(f, "}\n");
	free(total);
	free(one);
}

void cee_engine_destroy(struct cee_engine *e)
{
	if (e == NULL)
		return;
	explicit_bzero(e->cfg.tls.ticket_key, sizeof(e->cfg.tls.ticket_key)); // (a failed start)
	if (e->started) {
		for (unsigned i = 0; i < e->nshards; i++)
			atomic_store(&e->shards[i].stop, true);
		for (unsigned i = 0; i < e->nshards; i++)
			rte_eal_wait_lcore(e->shards[i].lcore);
	}
	cee_ctl_destroy(e->ctl); // before the shards' mailboxes go
	if (e->exporter)
		cee_exporter_destroy(e->exporter);
	for (unsigned k = 0; k < CEE_MAX_SINKS; k++)
		if (e->sinks[k])
			cee_sink_close(e->sinks[k]);
	// only the ports set up: a create that failed before or among them has
	// zeroed entries, which would stop another port 0 (another engine's)
	for (unsigned pi = 0; pi < e->ports_set_up; pi++) {
		rte_eth_dev_stop(e->ports[pi].port_id);
		rte_eth_dev_close(e->ports[pi].port_id);
	}
	if (e->shards) {
		for (unsigned i = 0; i < e->nshards; i++)
			cee_shard_fini(&e->shards[i]);
		rte_free(e->shards);
	}
	if (e->handoff) {
		for (unsigned i = 0; i < e->nshards * e->nshards; i++)
			if (e->handoff[i]) {
				struct rte_mbuf *m;
				while (rte_ring_dequeue(e->handoff[i], (void **)&m) == 0)
					rte_pktmbuf_free(m);
				rte_ring_free(e->handoff[i]);
			}
		free(e->handoff);
	}
	rte_mempool_free(e->mp);
	free(e);
}
