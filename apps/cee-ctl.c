/* SPDX-License-Identifier: BSD-3-Clause */
// cee-ctl: query and command a running cee-engine over its command socket
// (docs/control.md). Plain C, no EAL: the socket lives in the engine's EAL
// runtime directory, computed here the way DPDK computes it.
//
//   cee-ctl [--file-prefix P | --socket PATH] [--json] [--timeout SEC]
//           stats | conns | conn ID | snapshot | kill ID | drain | links | sinks | watch ID | reload
//
// Exit status: 0 success; 1 the engine answered an error ("no such
// connection", ...) or could not be reached (message on stderr); 2 bad usage.
// `watch` waits for the connection's close without a time limit (unless
// --timeout is given).
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* ---- a small JSON reader (the replies are the engine's own) --------------- */

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jv {
	enum jtype t;
	bool b;
	char *s;          /**< J_STR: the string; J_NUM: its text */
	struct jv *items; /**< J_ARR, J_OBJ */
	char **keys;      /**< J_OBJ */
	size_t n;
};

struct jparser {
	const char *p;
	int depth;
};

static void jv_free(struct jv *v)
{
	for (size_t i = 0; i < v->n; i++) {
		jv_free(&v->items[i]);
		if (v->keys)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->s);
}

static void skip_ws(struct jparser *ps)
{
	while (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t')
		ps->p++;
}

static int parse_value(struct jparser *ps, struct jv *v);

static int parse_string(struct jparser *ps, char **out)
{
	if (*ps->p != '"')
		return -1;
	ps->p++;
	size_t cap = 16, len = 0;
	char *s = malloc(cap);
	if (s == NULL)
		return -1;
	while (*ps->p != '"') {
		char ch = *ps->p++;
		if (ch == '\0')
			goto bad;
		if (ch == '\\') {
			ch = *ps->p++;
			switch (ch) {
			case 'n':
				ch = '\n';
				break;
			case 't':
				ch = '\t';
				break;
			case 'r':
				ch = '\r';
				break;
			case 'b':
				ch = '\b';
				break;
			case 'f':
				ch = '\f';
				break;
			case 'u': // the engine sends ASCII; keep the escape as '?'
				for (int i = 0; i < 4; i++)
					if (*ps->p++ == '\0')
						goto bad;
				ch = '?';
				break;
			case '\0':
				goto bad;
			default:
				break; // '"', '\\', '/'
			}
		}
		if (len + 2 > cap) {
			char *t = realloc(s, cap *= 2);
			if (t == NULL)
				goto bad;
			s = t;
		}
		s[len++] = ch;
	}
	ps->p++;
	s[len] = '\0';
	*out = s;
	return 0;
bad:
	free(s);
	return -1;
}

static int push_item(struct jv *v, size_t *cap)
{
	if (v->n < *cap)
		return 0;
	*cap = *cap ? *cap * 2 : 8;
	struct jv *items = realloc(v->items, *cap * sizeof(*items));
	if (items == NULL)
		return -1;
	v->items = items;
	if (v->t == J_OBJ) {
		char **keys = realloc(v->keys, *cap * sizeof(*keys));
		if (keys == NULL)
			return -1;
		v->keys = keys;
	}
	return 0;
}

static int parse_container(struct jparser *ps, struct jv *v, char close)
{
	size_t cap = 0;
	ps->p++;
	skip_ws(ps);
	if (*ps->p == close) {
		ps->p++;
		return 0;
	}
	for (;;) {
		if (push_item(v, &cap) < 0)
			return -1;
		struct jv *item = &v->items[v->n];
		memset(item, 0, sizeof(*item));
		skip_ws(ps);
		if (v->t == J_OBJ) {
			if (parse_string(ps, &v->keys[v->n]) < 0)
				return -1;
			v->n++; // owns the key from here on
			skip_ws(ps);
			if (*ps->p++ != ':')
				return -1;
		} else {
			v->n++;
		}
		if (parse_value(ps, item) < 0)
			return -1;
		skip_ws(ps);
		if (*ps->p == ',') {
			ps->p++;
			continue;
		}
		if (*ps->p++ != close)
			return -1;
		return 0;
	}
}

static int parse_value(struct jparser *ps, struct jv *v)
{
	memset(v, 0, sizeof(*v));
	if (++ps->depth > 32)
		return -1;
	skip_ws(ps);
	int rc = 0;
	const char *p = ps->p;
	if (*p == '{') {
		v->t = J_OBJ;
		rc = parse_container(ps, v, '}');
	} else if (*p == '[') {
		v->t = J_ARR;
		rc = parse_container(ps, v, ']');
	} else if (*p == '"') {
		v->t = J_STR;
		rc = parse_string(ps, &v->s);
	} else if (strncmp(p, "true", 4) == 0 || strncmp(p, "false", 5) == 0) {
		v->t = J_BOOL;
		v->b = *p == 't';
		ps->p += v->b ? 4 : 5;
	} else if (strncmp(p, "null", 4) == 0) {
		ps->p += 4;
	} else if (*p == '-' || (*p >= '0' && *p <= '9')) {
		size_t n = strspn(p, "-+.eE0123456789");
		v->t = J_NUM;
		v->s = strndup(p, n);
		ps->p += n;
		rc = v->s ? 0 : -1;
	} else {
		rc = -1;
	}
	ps->depth--;
	return rc;
}

static const struct jv *jget(const struct jv *o, const char *key)
{
	if (o == NULL || o->t != J_OBJ)
		return NULL;
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->keys[i], key) == 0)
			return &o->items[i];
	return NULL;
}

static const char *jstr(const struct jv *o, const char *key)
{
	const struct jv *v = jget(o, key);
	if (v != NULL && (v->t == J_STR || v->t == J_NUM))
		return v->s;
	if (v != NULL && v->t == J_BOOL)
		return v->b ? "true" : "false";
	return "-";
}

/* ---- printing ------------------------------------------------------------- */

static void print_conn_header(void)
{
	printf("%-16s %5s %-12s %-5s %-21s %-21s %10s %12s %12s\n", "ID", "SHARD", "STATE",
	       "PROTO", "LOCAL", "REMOTE", "AGE_MS", "BYTES_IN", "BYTES_OUT");
}

static void print_conn_row(const struct jv *c)
{
	const struct jv *dep = jget(c, "departed");
	printf("%-16s %5s %-12s %-5s %-21s %-21s %10s %12s %12s%s\n", jstr(c, "id"),
	       jstr(c, "shard"), jstr(c, "state"), jstr(c, "proto"), jstr(c, "local"),
	       jstr(c, "remote"), jstr(c, "age_ms"), jstr(c, "bytes_in"), jstr(c, "bytes_out"),
	       dep && dep->b ? "  (destroyed after the cut)" : "");
}

static void print_stats(const struct jv *r)
{
	const struct jv *shards = jget(r, "shards"), *total = jget(r, "total");
	if (shards == NULL || total == NULL || total->t != J_OBJ)
		return;
	printf("%-22s", "COUNTER");
	for (size_t i = 0; i < shards->n; i++)
		printf(" %14s%-2s", "shard ", jstr(&shards->items[i], "shard"));
	printf(" %16s\n", "total");
	for (size_t k = 0; k < total->n; k++) {
		const char *name = total->keys[k];
		// Drop counters only when something was dropped.
		// (a value that is not a number or a string has no .s: shown "-")
		if (strncmp(name, "drop_", 5) == 0 && total->items[k].s != NULL &&
		    strcmp(total->items[k].s, "0") == 0)
			continue;
		printf("%-22s", name);
		for (size_t i = 0; i < shards->n; i++)
			printf(" %16s", jstr(&shards->items[i], name));
		printf(" %16s\n", total->items[k].s ? total->items[k].s : "-");
	}
	// the ports' driver counters and the free mbufs (they were --json only)
	const struct jv *ports = jget(r, "ports");
	for (size_t i = 0; ports && i < ports->n; i++) {
		const struct jv *p = &ports->items[i];
		printf("port %s: ipackets %s opackets %s imissed %s ierrors %s oerrors %s rx_nombuf %s\n",
		       jstr(p, "port"), jstr(p, "ipackets"), jstr(p, "opackets"), jstr(p, "imissed"),
		       jstr(p, "ierrors"), jstr(p, "oerrors"), jstr(p, "rx_nombuf"));
	}
	if (jget(r, "mbufs_free") != NULL)
		printf("mbufs free: %s\n", jstr(r, "mbufs_free"));
}

static void print_reply(const char *cmd, const struct jv *r)
{
	if (strcmp(cmd, "stats") == 0) {
		print_stats(r);
	} else if (strcmp(cmd, "conns") == 0) {
		const struct jv *conns = jget(r, "conns");
		print_conn_header();
		for (size_t i = 0; conns && i < conns->n; i++)
			print_conn_row(&conns->items[i]);
		printf("%s connection(s)\n", jstr(r, "count"));
	} else if (strcmp(cmd, "conn") == 0) {
		const struct jv *c = jget(r, "conn");
		for (size_t i = 0; c && i < c->n; i++)
			printf("%-10s %s\n", c->keys[i], c->items[i].s ? c->items[i].s : "-");
	} else if (strcmp(cmd, "snapshot") == 0) {
		const struct jv *shards = jget(r, "shards");
		for (size_t i = 0; shards && i < shards->n; i++) {
			const struct jv *sh = &shards->items[i];
			printf("shard %s: cut at sseq %s, %s live connection(s)\n", jstr(sh, "shard"),
			       jstr(sh, "sseq"), jstr(sh, "live"));
			const struct jv *conns = jget(sh, "conns");
			if (conns && conns->n) {
				print_conn_header();
				for (size_t k = 0; k < conns->n; k++)
					print_conn_row(&conns->items[k]);
			}
		}
	} else if (strcmp(cmd, "kill") == 0) {
		const struct jv *c = jget(r, "killed");
		const struct jv *before = jget(r, "closed_before");
		printf("killed %s (%s %s -> %s, was %s)%s\n", jstr(c, "id"), jstr(c, "proto"),
		       jstr(c, "remote"), jstr(c, "local"), jstr(c, "state"),
		       before && before->b ? "; it had closed already: its closed event keeps its first cause"
					   : "");
	} else if (strcmp(cmd, "links") == 0) {
		const struct jv *links = jget(r, "links");
		printf("%-20s %5s %-5s %-21s %-10s %-16s %8s %6s %6s %-18s %10s %10s\n", "NAME",
		       "SHARD", "PROTO", "REMOTE", "STATE", "CONN", "ATTEMPTS", "UPS", "DOWNS",
		       "LAST_REASON", "UP_MS", "NEXT_MS");
		for (size_t i = 0; links && i < links->n; i++) {
			const struct jv *l = &links->items[i];
			const struct jv *arp = jget(l, "arp_wait");
			printf("%-20s %5s %-5s %-21s %-10s %-16s %8s %6s %6s %-18s %10s %10s%s\n",
			       jstr(l, "name"), jstr(l, "shard"), jstr(l, "proto"), jstr(l, "remote"),
			       jstr(l, "state"), jstr(l, "conn"), jstr(l, "attempts"), jstr(l, "ups"),
			       jstr(l, "downs"), jstr(l, "last_reason"), jstr(l, "up_ms"),
			       jstr(l, "next_attempt_ms"),
			       arp && arp->b ? "  (waiting for ARP: next hop unresolved)" : "");
		}
		printf("%zu link(s)\n", links ? links->n : 0);
		const struct jv *cuts = jget(r, "cuts");
		for (size_t i = 0; cuts && i < cuts->n; i++)
			printf("shard %s: as of its event sseq %s\n", jstr(&cuts->items[i], "shard"),
			       jstr(&cuts->items[i], "sseq"));
	} else if (strcmp(cmd, "sinks") == 0) {
		const struct jv *sinks = jget(r, "sinks");
		printf("engine %s\n", jstr(r, "engine"));
		printf("%-40s %-8s %12s %8s %8s %8s %8s %8s %10s %7s %s\n", "SPEC", "STATE",
		       "WRITTEN", "HELD", "BEHIND", "RESENT", "FAILURES", "RETRIES", "DOWN_MS",
		       "BAD_EXT", "LAST_ERROR");
		for (size_t i = 0; sinks && i < sinks->n; i++) {
			const struct jv *k = &sinks->items[i];
			printf("%-40s %-8s %12s %8s %8s %8s %8s %8s %10s %7s %s\n", jstr(k, "spec"),
			       jstr(k, "state"), jstr(k, "written"), jstr(k, "held"), jstr(k, "behind"),
			       jstr(k, "resent"), jstr(k, "failures"), jstr(k, "retries"),
			       jstr(k, "down_ms"), jstr(k, "bad_ext"), jstr(k, "last_error"));
		}
	} else if (strcmp(cmd, "watch") == 0) {
		const struct jv *c = jget(r, "closed");
		printf("closed %s reason %s bytes_in %s bytes_out %s\n", jstr(c, "id"),
		       jstr(c, "reason"), jstr(c, "bytes_in"), jstr(c, "bytes_out"));
	} else if (strcmp(cmd, "reload") == 0) {
		printf("reload %s requested: every shard reads its TLS files again (stats "
		       "tls_reloads, tls_reload_failures), and event files renamed away are "
		       "followed by new ones\n",
		       jstr(r, "reload"));
	} else if (strcmp(cmd, "drain") == 0) {
		printf("draining: new connections are refused; %s live (%s without their closed "
		       "event yet); the engine exits when the last one is gone\n",
		       jstr(r, "live"), jstr(r, "unclosed"));
	}
}

/* ---- the socket ----------------------------------------------------------- */

// DPDK's eal_create_runtime_dir(): /var/run/dpdk/<prefix> for root, else
// $XDG_RUNTIME_DIR/dpdk/<prefix> or /tmp/dpdk/<prefix>.
static void runtime_dir(char *buf, size_t size, const char *prefix)
{
	const char *dir = "/var/run";
	if (getuid() != 0) {
		const char *xdg = getenv("XDG_RUNTIME_DIR");
		dir = xdg ? xdg : "/tmp";
	}
	snprintf(buf, size, "%s/dpdk/%s", dir, prefix);
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

// Send @p line, read the reply until the server closes (giving up after
// @p timeout seconds; 0: never). @return the reply or NULL.
static char *exchange(const char *path, const char *line, double timeout)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "cee-ctl: socket path too long: %s\n", path);
		return NULL;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	double deadline = mono_s() + timeout;
	// Non-blocking: a Unix socket's connect() waits without limit while the
	// engine's backlog is full (it is not accepting: busy, or shutting
	// down); the timeout covers that wait too
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int crc = fd < 0 ? -1 : 0;
	while (fd >= 0 && (crc = connect(fd, (struct sockaddr *)&sa, sizeof(sa))) < 0 &&
	       (errno == EINTR || errno == EAGAIN) && (timeout == 0 || mono_s() < deadline))
		if (errno == EAGAIN)
			usleep(10000); // the engine accepts from its poll loop
	if (crc < 0 || fcntl(fd, F_SETFL, 0) < 0) {
		fprintf(stderr, "cee-ctl: cannot reach the engine at %s: %s\n", path,
			errno == EAGAIN ? "it accepts no connection (its backlog is full)"
					: strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	size_t len = strlen(line);
	if (send(fd, line, len, MSG_NOSIGNAL) != (ssize_t)len) {
		fprintf(stderr, "cee-ctl: send: %s\n", strerror(errno));
		close(fd);
		return NULL;
	}
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);
	if (buf == NULL)
		goto nomem;
	for (;;) {
		double left = deadline - mono_s();
		int left_ms = timeout == 0 ? -1 : left > 1e6 ? 1000000000 : (int)(left * 1000);
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int rc = timeout == 0 || left_ms > 0 ? poll(&pfd, 1, left_ms) : 0;
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc == 0) {
			fprintf(stderr, "cee-ctl: no complete reply within %g s\n", timeout);
			goto fail;
		}
		if (n + 1 >= cap) {
			char *t = realloc(buf, cap *= 2);
			if (t == NULL)
				goto nomem;
			buf = t;
		}
		ssize_t got = read(fd, buf + n, cap - n - 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			fprintf(stderr, "cee-ctl: read: %s\n", strerror(errno));
			goto fail;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	close(fd);
	buf[n] = '\0';
	return buf;
nomem: // (said: it exited 1 with no word)
	fprintf(stderr, "cee-ctl: no memory for a reply of %zu bytes\n", cap);
fail:
	free(buf);
	close(fd);
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cee-ctl [--file-prefix P | --socket PATH] [--json] [--timeout SEC] COMMAND\n"
		"commands:\n"
		"  stats       counters per shard and total\n"
		"  conns       live connections (every shard)\n"
		"  conn ID [RUN]  one connection (ID: 16 hex digits, as in the events; RUN:\n"
		"              answer only if the engine runs that run: its run id, or its\n"
		"              engine id when random; else \"no such connection in this run\")\n"
		"  snapshot    each shard's live connections with its sseq at the cut\n"
		"  kill ID [RUN]  close the connection (RST, reason admin_kill)\n"
		"  drain       refuse new connections and link reconnects; the engine exits\n"
		"              after the last connection\n"
		"  links       outbound links: state, current connection, attempts, ups, downs\n"
		"  sinks       event sinks: state, events taken, held, behind, failures\n"
		"  reload      as SIGHUP: TLS certificate, key and CA files read again;\n"
		"              event files renamed away followed by new ones\n"
		"  watch ID [RUN]  wait for the connection's close (no time limit); print its\n"
		"              reason and byte counts\n"
		"options:\n"
		"  --file-prefix P  the engine's EAL --file-prefix (default rte)\n"
		"  --socket PATH    the command socket (default <runtime dir>/cee_ctl.sock)\n"
		"  --json           print the engine's JSON reply instead of a table\n"
		"  --timeout SEC    give up after SEC seconds (default 10; watch: none)\n"
		"exit status: 0 ok, 1 error (e.g. no such connection), 2 bad usage\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"file-prefix", required_argument, NULL, 'f'},
		{"socket", required_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},
		{"timeout", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	// a reader gone (cee-ctl conns | head) is a write error: exit 1 and
	// why, not death by SIGPIPE without a word
	signal(SIGPIPE, SIG_IGN);
	const char *prefix = "rte", *sock = NULL;
	bool json = false, prefix_given = false;
	double timeout = -1; // -1: the command's default
	int o;
	while ((o = getopt_long(argc, argv, "f:s:jt:h", opts, NULL)) != -1) {
		switch (o) {
		case 'f':
			prefix = optarg;
			prefix_given = true;
			break;
		case 's':
			sock = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 't': {
			char *end;
			timeout = strtod(optarg, &end);
			if (end == optarg || *end != '\0' || !(timeout > 0)) {
				fprintf(stderr, "cee-ctl: bad --timeout '%s'\n", optarg);
				return 2;
			}
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	int nargs = argc - optind;
	const char *cmd = nargs > 0 ? argv[optind] : NULL;
	bool watch = cmd && strcmp(cmd, "watch") == 0;
	bool takes_id = cmd && (strcmp(cmd, "conn") == 0 || strcmp(cmd, "kill") == 0 || watch);
	bool known = takes_id || (cmd && (strcmp(cmd, "stats") == 0 || strcmp(cmd, "conns") == 0 ||
					  strcmp(cmd, "snapshot") == 0 || strcmp(cmd, "drain") == 0 ||
					  strcmp(cmd, "links") == 0 || strcmp(cmd, "sinks") == 0 ||
					  strcmp(cmd, "reload") == 0));
	if (!known || (takes_id ? nargs != 2 && nargs != 3 : nargs != 1)) {
		if (cmd && !known)
			fprintf(stderr, "cee-ctl: unknown command '%s'\n", cmd);
		usage(stderr);
		return 2;
	}
	const char *id = takes_id ? argv[optind + 1] : NULL;
	const char *run = takes_id && nargs == 3 ? argv[optind + 2] : NULL;
	if (run && (strlen(run) == 0 || strlen(run) > 40 ||
		    strspn(run, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ._:-") !=
			strlen(run))) {
		fprintf(stderr, "cee-ctl: bad run '%s' (a run id, or a random engine id)\n", run);
		return 2;
	}
	if (id && (strlen(id) == 0 || strlen(id) > 16 ||
		   strspn(id, "0123456789abcdefABCDEF") != strlen(id))) {
		fprintf(stderr, "cee-ctl: bad connection id '%s' (16 hex digits)\n", id);
		return 2;
	}
	if (prefix[0] == '\0' || strchr(prefix, '/') != NULL) {
		fprintf(stderr, "cee-ctl: bad --file-prefix '%s'\n", prefix);
		return 2;
	}
	// one or the other: with both, --socket won and the prefix said nothing
	if (sock != NULL && prefix_given) {
		fprintf(stderr, "cee-ctl: --file-prefix and --socket name one socket: give one\n");
		return 2;
	}
	if (sock != NULL && strlen(sock) >= sizeof(((struct sockaddr_un *)NULL)->sun_path)) {
		fprintf(stderr, "cee-ctl: --socket: a Unix socket path is at most %zu bytes\n",
			sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1);
		return 2;
	}

	char path[256], line[128];
	if (sock)
		snprintf(path, sizeof(path), "%s", sock);
	else {
		char dir[200];
		runtime_dir(dir, sizeof(dir), prefix);
		snprintf(path, sizeof(path), "%s/cee_ctl.sock", dir);
		// (a long --file-prefix or runtime directory: a usage error, as
		// for --socket, not a failed exchange)
		if (strlen(path) >= sizeof(((struct sockaddr_un *)NULL)->sun_path)) {
			fprintf(stderr,
				"cee-ctl: the socket path %s is longer than a Unix socket path can be "
				"(%zu bytes): give --socket\n",
				path, sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1);
			return 2;
		}
	}
	snprintf(line, sizeof(line), "%s%s%s%s%s\n", cmd, id ? " " : "", id ? id : "", run ? " " : "",
		 run ? run : "");
	// A watch lasts as long as the connection does.
	if (timeout < 0)
		timeout = watch ? 0 : 10;
	char *reply = exchange(path, line, timeout);
	if (reply == NULL)
		return 1;
	if (reply[strspn(reply, " \r\n\t")] == '\0') {
		fprintf(stderr, "cee-ctl: the engine closed the connection without a reply\n");
		free(reply);
		return 1;
	}
	struct jparser ps = {.p = reply};
	struct jv root;
	int rc = parse_value(&ps, &root);
	if (rc < 0 || root.t != J_OBJ) {
		fprintf(stderr, "cee-ctl: unreadable reply: %.200s\n", reply);
		jv_free(&root);
		free(reply);
		return 1;
	}
	const struct jv *ok = jget(&root, "ok");
	int status = 0;
	if (json)
		fputs(reply, stdout);
	if (ok == NULL || ok->t != J_BOOL || !ok->b) {
		const char *conn = jstr(&root, "conn");
		fprintf(stderr, "cee-ctl: %s%s%s\n", jstr(&root, "error"), strcmp(conn, "-") ? ": " : "",
			strcmp(conn, "-") ? conn : "");
		status = 1;
	} else if (!json) {
		print_reply(cmd, &root);
	}
	jv_free(&root);
	free(reply);
	// what was printed reached its file: a listing into a full disk or a
	// closed pipe exited 0, the output lost
	errno = 0;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "cee-ctl: writing the reply: %s\n",
			errno != 0 ? strerror(errno) : "output error");
		return 1;
	}
	return status;
}
