/* SPDX-License-Identifier: BSD-3-Clause */
// Configurations the engine must refuse before it runs (cee-engine exits
// 2), each with a message that names the options at fault: cases of
// cee_engine_parse_args() and of cee_engine_create()'s checks, which ran
// before an engine that started and then served something else than asked
// for, or failed after all its set-up with a bare "Invalid argument". Each
// case names the fault it guards against. The EAL, a net_ring port and
// the "mem" sink (ring_peer.h) are here for cee_engine_create(); no
// traffic.
#include <fcntl.h>

#include <rte_eal.h>

#include "cee_conn.h"

#include "../stderr_capture.h"
#include "ring_peer.h"

static char msg[4096]; // what the last captured call said on stderr
static struct stderr_capture cap;

static void capture_begin(void)
{
	int rc = stderr_capture_begin(&cap);
	if (rc < 0) {
		fprintf(stderr, "capturing stderr: %s\n", strerror(-rc));
		exit(1);
	}
}

static void capture_end(void)
{
	stderr_capture_end(&cap, msg, sizeof(msg));
}

// cee_engine_parse_args() on @p args (NULL-terminated) into @p c (set to
// the defaults first), what it says in msg
static int parse(struct cee_engine_cfg *c, const char *const *args)
{
	int n = 0;
	while (args[n] != NULL)
		n++;
	cee_engine_cfg_default(c);
	capture_begin();
	int rc = cee_engine_parse_args(c, n, (char **)args);
	capture_end();
	return rc;
}

struct args_case {
	const char *fault; // what it guards against
	const char *args[24];
	int want;	  // parse_args' return
	const char *says; // in its message (NULL: not checked)
};

static void run_cases(const struct args_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct cee_engine_cfg c;
		int rc = parse(&c, cases[i].args);
		CHECK(rc == cases[i].want, "%s: parse_args %d, want %d", cases[i].fault, rc,
		      cases[i].want);
		if (cases[i].says != NULL)
			CHECK(strstr(msg, cases[i].says) != NULL,
			      "%s: the message does not say '%s'", cases[i].fault, cases[i].says);
		cee_engine_cfg_free(&c);
	}
}

#define BASE "test", "--ip", "10.0.0.1/24", "--listen", "tcp:7"

/*
 * Fault (review of the configuration): the two-sinks-on-one-file check
 * skipped every sink whose text after its kind was '-' or began with
 * "unix:", whatever the kind: two jsonl:- sinks wrote every event twice to
 * stdout (partial lines interleaved when the pipe filled, O_NONBLOCK put
 * back wrong at exit); binary:- is a file named "-", which --stats -
 * overwrote with the counters at exit; binary:unix:x twice, one file.
 */
static void sinks_one_file(void)
{
	static const struct args_case cases[] = {
	    {"two jsonl:- sinks",
	     {BASE, "--events", "jsonl:-", "--events", "jsonl:-", NULL},
	     -EINVAL,
	     "--events jsonl:- and --events jsonl:-: one file (stdout)"},
	    {"binary:- and --stats -",
	     {BASE, "--events", "binary:-", "--stats", "-", NULL},
	     -EINVAL,
	     "--stats - is the file of --events binary:-"},
	    {"binary:unix:x twice",
	     {BASE, "--events", "binary:unix:x", "--events", "binary:unix:x", NULL},
	     -EINVAL,
	     "one file"},
	    {"jsonl:- and binary:- (stdout and a file named -)",
	     {BASE, "--events", "jsonl:-", "--events", "binary:-", NULL},
	     0,
	     NULL},
	    {"two sinks on one Unix socket (its reader takes both)",
	     {BASE, "--events", "jsonl:unix:/tmp/cee-ring-args.sock", "--events",
	      "jsonl:unix:/tmp/cee-ring-args.sock", NULL},
	     0,
	     NULL},
	};
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));

	// stdout redirected to a file that another sink, or --stats, names
	char path[] = "/tmp/cee-ring-args-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0, "mkstemp");
	fflush(stdout);
	int saved = dup(STDOUT_FILENO);
	dup2(fd, STDOUT_FILENO);
	char file_sink[64];
	snprintf(file_sink, sizeof(file_sink), "jsonl:%s", path);
	const struct args_case redirected[] = {
	    {"jsonl:- and a sink on the file stdout is redirected to",
	     {BASE, "--events", "jsonl:-", "--events", file_sink, NULL},
	     -EINVAL,
	     "one file (stdout)"},
	    {"jsonl:- and --stats on stdout's file",
	     {BASE, "--events", "jsonl:-", "--stats", path, NULL},
	     -EINVAL,
	     "is the file of --events jsonl:- (stdout)"},
	};
	run_cases(redirected, sizeof(redirected) / sizeof(redirected[0]));
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	close(fd);
	unlink(path);
}

/*
 * Fault (review of the configuration): --max-conns took up to 2^24, but a
 * shard's connection pool holds at most 13,421,772 (CEE_CONN_POOL_MAX):
 * one shard above it set up the EAL, its ports and shards and then failed
 * with a bare "Invalid argument". cee_engine_create() now refuses it
 * before it allocates anything, naming --max-conns and the limit.
 */
static void max_conns_per_shard(int port)
{
	struct cee_engine_cfg c;
	const char *args[] = {BASE, "--events", "mem:", "--max-conns", "13421773", NULL};
	CHECK(parse(&c, args) == 0, "--max-conns 13421773 refused by parse_args");
	capture_begin();
	int one = cee_engine_conns_fit(&c, 1);
	capture_end();
	CHECK(one == -EINVAL, "13421773 connections on one shard fit: %d", one);
	CHECK(strstr(msg, "--max-conns 13421773") != NULL && strstr(msg, "13421772") != NULL,
	      "the message names --max-conns and the limit");
	CHECK(cee_engine_conns_fit(&c, 2) == 0, "13421773 on two shards refused");
	c.max_conns = CEE_CONN_POOL_MAX;
	CHECK(cee_engine_conns_fit(&c, 1) == 0, "the pool's limit on one shard refused");
	c.max_conns = 1u << 24;
	CHECK(cee_engine_conns_fit(&c, 2) == 0, "2^24 on two shards refused");

	// and the engine refuses it before its ports and shards (no mbuf
	// pool, no event rings of 3.4 GiB)
	c.max_conns = CEE_CONN_POOL_MAX + 1;
	c.nshards = 1;
	c.port_mask = 1u << port;
	errno = 0;
	capture_begin();
	struct cee_engine *e = cee_engine_create(&c);
	capture_end();
	CHECK(e == NULL && errno == EINVAL, "created (errno %d)", errno);
	CHECK(strstr(msg, "--max-conns") != NULL, "cee_engine_create does not name --max-conns");
	if (e != NULL)
		cee_engine_destroy(e);
	cee_engine_cfg_free(&c);
}

/*
 * Fault (review of the configuration): --ip and a link's address took
 * 0.0.0.0/8 (all but 0.0.0.0), but the packet path drops every source in
 * it ("this network", RFC 1122 3.2.1.3): an engine at 0.1.2.3 started and
 * never heard an answer, a link there was retried for ever.
 */
static void this_network(int port)
{
	static const struct args_case cases[] = {
	    {"--ip in 0/8",
	     {"test", "--ip", "0.1.2.3/24", "--listen", "tcp:7", "--events", "mem:", NULL},
	     -EINVAL,
	     "--ip 0.1.2.3/24: not an address an engine can own"},
	    {"--ip 0.0.0.1/8",
	     {"test", "--ip", "0.0.0.1/8", "--listen", "tcp:7", "--events", "mem:", NULL},
	     -EINVAL,
	     "0.0.0.0/8"},
	    {"a link in 0/8 on our subnet (a /7)",
	     {"test", "--ip", "1.0.0.1/7", "--events", "mem:", "--connect", "up1=tcp:0.1.2.3:5060",
	      NULL},
	     -EINVAL,
	     "link 'up1': 0.1.2.3 is a 0.0.0.0/8"},
	    {"a link beside 0/8 on that subnet",
	     {"test", "--ip", "1.0.0.1/7", "--events", "mem:", "--connect", "up1=tcp:1.2.3.4:5060",
	      NULL},
	     0,
	     NULL},
	};
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));

	// an embedder's cfg, its link moved into 0/8 after parse_args
	struct cee_engine_cfg c;
	CHECK(parse(&c, cases[3].args) == 0, "parse");
	c.links[0].ip = 0x00010203;
	c.port_mask = 1u << port;
	errno = 0;
	capture_begin();
	struct cee_engine *e = cee_engine_create(&c);
	capture_end();
	CHECK(e == NULL && errno == EINVAL, "a link to 0.1.2.3 created (errno %d)", errno);
	if (e != NULL)
		cee_engine_destroy(e);
	cee_engine_cfg_free(&c);
}

#define TLS_LINK "--connect", "up1=tls:10.0.0.2:5061,sni=server.cee.test"

/*
 * Fault (review of the configuration): TLS and WebSocket options that no
 * listener or link uses were taken and ignored: --listen tcp:5061 with
 * --tls-cert and --tls-key (a typo for tls:5061) served plaintext. So were
 * a certificate without its key (a TLS link's client certificate) and a
 * --sndbuf-max below --sndbuf (no buffer ever grew; 0 says "never").
 */
static void unused_options(void)
{
	static const struct args_case cases[] = {
	    {"--tls-cert and --tls-key with a tcp: listener",
	     {BASE, "--events", "mem:", "--tls-cert", "s.pem", "--tls-key", "s.key", NULL},
	     -EINVAL,
	     "--tls-cert is given, but there is no tls: or wss: listener"},
	    {"--tls-ca with a tcp: listener",
	     {BASE, "--events", "mem:", "--tls-ca", "ca.pem", NULL},
	     -EINVAL,
	     "--tls-ca is given"},
	    {"--tls-min-version with a ws: listener",
	     {"test", "--ip", "10.0.0.1/24", "--listen", "ws:80", "--events",
	      "mem:", "--tls-min-version", "1.3", NULL},
	     -EINVAL,
	     "--tls-min-version is given"},
	    {"--tls-ciphers with a tcp: link",
	     {"test", "--ip", "10.0.0.1/24", "--connect", "up1=tcp:10.0.0.2:5060", "--events",
	      "mem:", "--tls-ciphers", "ECDHE-ECDSA-AES128-GCM-SHA256", NULL},
	     -EINVAL,
	     "--tls-ciphers is given"},
	    {"--tls-alpn with a TLS link only (links offer no ALPN)",
	     {"test", "--ip", "10.0.0.1/24", TLS_LINK, "--tls-ca", "ca.pem", "--events",
	      "mem:", "--tls-alpn", "sip", NULL},
	     -EINVAL,
	     "links offer no ALPN"},
	    {"--tls-sni with a tls: listener only",
	     {"test", "--ip", "10.0.0.1/24", "--listen", "tls:5061", "--tls-cert", "s.pem",
	      "--tls-key", "s.key", "--events", "mem:", "--tls-sni", "sbc.example", NULL},
	     -EINVAL,
	     "--tls-sni is given, but there is no TLS link"},
	    {"--tls-link-ca with a tcp: link",
	     {"test", "--ip", "10.0.0.1/24", "--connect", "up1=tcp:10.0.0.2:5060", "--events",
	      "mem:", "--tls-link-ca", "ca.pem", NULL},
	     -EINVAL,
	     "--tls-link-ca is given, but there is no TLS link"},
	    {"--ws-path with a tls: listener",
	     {"test", "--ip", "10.0.0.1/24", "--listen", "tls:5061", "--tls-cert", "s.pem",
	      "--tls-key", "s.key", "--events", "mem:", "--ws-path", "/sip", NULL},
	     -EINVAL,
	     "--ws-path is given, but there is no ws: or wss: listener"},
	    {"--ws-message-timeout with a tcp: listener",
	     {BASE, "--events", "mem:", "--ws-message-timeout", "5", NULL},
	     -EINVAL,
	     "--ws-message-timeout is given"},
	    {"--tls-mem with a tcp: listener",
	     {BASE, "--events", "mem:", "--tls-mem", "64", NULL},
	     -EINVAL,
	     "--tls-mem is given, but there is no tls: or wss: listener"},
	    {"--tls-mem 0 (no bound is not a bound)",
	     {"test", "--ip", "10.0.0.1/24", "--listen", "tls:5061", "--tls-cert", "s.pem",
	      "--tls-key", "s.key", "--events", "mem:", "--tls-mem", "0", NULL},
	     -EINVAL,
	     "bad value for --tls-mem"},
	    {"--tls-cert without --tls-key on a TLS link",
	     {"test", "--ip", "10.0.0.1/24", TLS_LINK, "--tls-ca", "ca.pem", "--events",
	      "mem:", "--tls-cert", "c.pem", NULL},
	     -EINVAL,
	     "--tls-cert without --tls-key"},
	    {"--tls-key without --tls-cert on a TLS link",
	     {"test", "--ip", "10.0.0.1/24", TLS_LINK, "--tls-ca", "ca.pem", "--events",
	      "mem:", "--tls-key", "c.key", NULL},
	     -EINVAL,
	     "--tls-key without --tls-cert"},
	    {"--sndbuf-max below --sndbuf",
	     {BASE, "--events", "mem:", "--sndbuf-max", "16384", NULL},
	     -EINVAL,
	     "--sndbuf-max 16384 is below --sndbuf 32768"},
	    // what uses them is taken
	    {"a tls: listener's options",
	     {"test", "--ip", "10.0.0.1/24", "--listen", "tls:5061", "--tls-cert", "s.pem",
	      "--tls-key", "s.key", "--tls-ca", "ca.pem", "--tls-alpn", "sip", "--tls-min-version",
	      "1.3", "--tls-mem", "64", "--events", "mem:", NULL},
	     0,
	     NULL},
	    {"a wss: listener's options",
	     {"test", "--ip", "10.0.0.1/24", "--listen", "wss:443", "--tls-cert", "s.pem",
	      "--tls-key", "s.key", "--ws-path", "/sip", "--ws-ping", "5", "--events",
	      "mem:", NULL},
	     0,
	     NULL},
	    {"a TLS link's options, and its client certificate",
	     {"test", "--ip", "10.0.0.1/24", TLS_LINK, "--tls-link-ca", "ca.pem", "--tls-sni",
	      "sbc.example", "--tls-cert", "c.pem", "--tls-key", "c.key", "--events", "mem:", NULL},
	     0,
	     NULL},
	    {"--sndbuf-max 0 (never)",
	     {BASE, "--events", "mem:", "--sndbuf-max", "0", NULL},
	     0,
	     NULL},
	    {"--sndbuf above the default --sndbuf-max, which is not given",
	     {BASE, "--events", "mem:", "--sndbuf", "4194304", NULL},
	     0,
	     NULL},
	    {"--sndbuf-max equal to --sndbuf",
	     {BASE, "--events", "mem:", "--sndbuf", "65536", "--sndbuf-max", "65536", NULL},
	     0,
	     NULL},
	};
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/*
 * Fault (review of the configuration): an unknown sink kind (--events
 * /tmp/e.jsonl, a typo jsnol:-), or nats:// in a build without libnats,
 * was taken, and the engine failed only after the EAL, port and shard
 * set-up, with a bare "Invalid argument".
 */
static void sink_kinds(void)
{
	static const struct args_case cases[] = {
	    {"a path for a sink",
	     {BASE, "--events", "/tmp/e.jsonl", NULL},
	     -EINVAL,
	     "--events /tmp/e.jsonl: not a sink kind this engine knows (jsonl:, binary:, null:"},
	    {"a misspelt kind",
	     {BASE, "--events", "jsnol:-", NULL},
	     -EINVAL,
	     "--events jsnol:-: not a sink kind"},
	    {"an unknown kind with a password",
	     {BASE, "--events", "natss://h:4222/p?password=KINDSECRET", NULL},
	     -EINVAL,
	     "not a sink kind"},
#ifdef CEE_HAVE_NATS
	    {"nats:// in a build with libnats",
	     {BASE, "--events", "nats://h:4222/p", NULL},
	     0,
	     NULL},
#else
	    {"nats:// in a build without libnats",
	     {BASE, "--events", "nats://h:4222/p?password=KINDSECRET", NULL},
	     -EINVAL,
	     "this build has no NATS support"},
#endif
	    {"a kind registered by the program (mem:)", {BASE, "--events", "mem:", NULL}, 0, NULL},
	};
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
	// (an unknown kind's spec shown redacted, as every sink spec)
	struct cee_engine_cfg c;
	CHECK(parse(&c, cases[2].args) == -EINVAL && strstr(msg, "KINDSECRET") == NULL,
	      "an unknown kind's password shown: %s", msg);
	cee_engine_cfg_free(&c);
}

int main(int argc, char **argv)
{
	(void)argc;
	if (ring_eal_init(argv[0], "ringargs", "0@0,1@0") < 0)
		return 1;
	int port = ring_peer_setup("cee_g0", 1024, 0);
	if (port < 0)
		return 1;
	(void)engine_mac; // (no peer here: ring_peer.h for its set-up)
	sinks_one_file();
	max_conns_per_shard(port);
	this_network(port);
	unused_options();
	sink_kinds();
	printf("ring args: %d failures\n", failures);
	rte_eal_cleanup();
	return failures ? 1 : 0;
}
