/* SPDX-License-Identifier: BSD-3-Clause */
// cee-kbaseline: the Linux kernel baseline for cee-bench. It drives the
// connection lifecycle that cee-bench drives through the DPDK engine (connect,
// send --payload bytes, read the echo back, close) through the kernel's TCP
// stack over loopback, and prints figures. It is a benchmark, not a test.
//
// Two threads, each pinned to its own CPU and each one edge-triggered epoll
// loop over non-blocking sockets:
//   server  listens on 127.0.0.1, accepts in a loop, echoes what it reads and
//           closes when the client has closed (or, for server-fin, as soon as
//           it has echoed the payload);
//   client  keeps --concurrency connections in flight and opens a new one as
//           soon as one completes. A lifecycle counts when the client has seen
//           the whole echo and closed its socket.
//
// The server learns a connection's close mode from the listener that
// accepted it (one listener per mode in use, ports PORT, PORT+1, PORT+2 for
// mix), so it can tell an expected RST from an unexpected one.
//
// Ephemeral ports: whoever closes first keeps the 4-tuple in TIME-WAIT for
// 60 s (client-fin: the client; server-fin: the server; client-rst: nobody).
// At tens of thousands of connections per second one source address runs out
// of its ~64k ports within seconds, so each client socket binds to one of
// --sources loopback addresses (127.1.0.1, 127.1.0.2, ...; all of 127.0.0.0/8
// is local on lo) with IP_BIND_ADDRESS_NO_PORT, which leaves the choice of
// port to connect(), made against the whole 4-tuple. Addresses are used
// round robin. The kernel also caps TIME-WAIT sockets at
// net.ipv4.tcp_max_tw_buckets (beyond it, closes skip TIME-WAIT). This
// program reads and changes no sysctl.
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/utsname.h>

#define NS_PER_S 1000000000ull
// In-flight connections get this long to finish once the run has ended.
#define DRAIN_NS (2 * NS_PER_S)
#define MAX_PAYLOAD (16u << 20)
#define MAX_SOURCES 65536u
#define MAX_CONCURRENCY 1000000u
#define EVENT_BATCH 256
#define IO_BUF 65536

// Per-connection close modes; "mix" cycles through them.
#define CEE_KB_CLOSE_MODES(X)                                                                      \
	X(CEE_KB_CLIENT_FIN, "client-fin")                                                         \
	X(CEE_KB_SERVER_FIN, "server-fin")                                                         \
	X(CEE_KB_CLIENT_RST, "client-rst")

#define CEE_KB_X_ENUM(e, s) e,
#define CEE_KB_X_NAME(e, s) s,
enum close_mode { CEE_KB_CLOSE_MODES(CEE_KB_X_ENUM) CEE_KB_CLOSE_MODE_COUNT };
static const char *const close_mode_names[] = {CEE_KB_CLOSE_MODES(CEE_KB_X_NAME)};

// Error kinds. Every one of them is counted in "errors".
#define CEE_KB_ERRORS(X)                                                                           \
	X(connect) /* socket/bind/connect failed or the handshake was refused */                   \
	X(reset)   /* a reset, or EPIPE, where the close mode expects none */                      \
	X(eof)	   /* the peer closed before the whole echo */                                     \
	X(data)	   /* echo bytes differ from what was sent, or more than was sent */               \
	X(stalled) /* still in flight when the drain time ran out */                               \
	X(accept)  /* accept4 failed (other than EAGAIN/ECONNABORTED) */                           \
	X(other)   /* any other socket call failure */

#define CEE_KB_X_FIELD(name) uint64_t name;
struct errs {
	CEE_KB_ERRORS(CEE_KB_X_FIELD)
};

static uint64_t errs_total(const struct errs *e)
{
	uint64_t n = 0;
#define X(name) n += e->name;
	CEE_KB_ERRORS(X)
#undef X
	return n;
}

static void errs_add(struct errs *to, const struct errs *from)
{
#define X(name) to->name += from->name;
	CEE_KB_ERRORS(X)
#undef X
}

struct opts {
	double duration_s; // 0: no time limit (only with --conns)
	uint64_t conns;	   // 0: no limit on connection attempts
	uint32_t concurrency;
	uint32_t payload;
	bool mix;
	enum close_mode mode; // when !mix
	int server_cpu;
	int client_cpu;
	uint16_t port; // 0: kernel-chosen
	uint32_t sources;
	bool json;
	bool quiet;
};

// Set by SIGINT/SIGTERM; the client stops opening and reports.
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

// Log-linear histogram: values below 2^HIST_SUB_BITS exactly, above that 32
// buckets per power of two (relative error under 3.2%). Fixed 15 KiB.
#define HIST_SUB_BITS 5
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_BUCKETS (HIST_SUB + (64 - HIST_SUB_BITS) * HIST_SUB)

struct hist {
	uint64_t n;
	uint64_t count[HIST_BUCKETS];
};

static unsigned hist_index(uint64_t v)
{
	if (v < HIST_SUB)
		return (unsigned)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v);
	unsigned e = msb - HIST_SUB_BITS;
	return HIST_SUB + e * HIST_SUB + (unsigned)((v >> e) - HIST_SUB);
}

// The middle of bucket i's range.
static uint64_t hist_value(unsigned i)
{
	if (i < HIST_SUB)
		return i;
	unsigned e = (i - HIST_SUB) / HIST_SUB;
	uint64_t m = HIST_SUB + (i - HIST_SUB) % HIST_SUB;
	return (m << e) + ((1ull << e) >> 1);
}

static void hist_add(struct hist *h, uint64_t v)
{
	h->count[hist_index(v)]++;
	h->n++;
}

static uint64_t hist_quantile(const struct hist *h, double q)
{
	if (h->n == 0)
		return 0;
	double want = q * (double)h->n;
	uint64_t rank = (uint64_t)want;
	if ((double)rank < want || rank == 0)
		rank++;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->count[i];
		if (seen >= rank)
			return hist_value(i);
	}
	return hist_value(HIST_BUCKETS - 1);
}

// ---- server --------------------------------------------------------------

// epoll data: a connection is fd | generation << 32; bit 63 marks the rest.
#define TAG_OTHER (1ull << 63)
#define TAG_STOP (TAG_OTHER | 0xffffffffull)
#define GEN_MASK 0x7fffffffu

// One accepted connection, indexed by fd. Server thread only.
struct srv_conn {
	uint32_t gen; // bumped on accept; stale events carry an older one
	bool open;
	enum close_mode mode;
	uint64_t echoed; // bytes written back
	uint8_t *pend;	 // echo bytes the socket had no room for (rare)
	uint32_t pend_off;
	uint32_t pend_len;
};

struct server {
	const struct opts *o;
	int ep;
	int stop_fd; // eventfd: main writes it once the client has finished
	int lfd[CEE_KB_CLOSE_MODE_COUNT];
	struct srv_conn *conns;
	size_t cap;
	// Results: written by the server thread, read by main after join.
	uint64_t accepted;
	uint64_t resets_expected;
	uint64_t left_open;
	struct errs err;
	uint8_t buf[IO_BUF];
};

static void server_close(struct server *s, int fd)
{
	struct srv_conn *k = &s->conns[fd];
	free(k->pend);
	k->pend = NULL;
	k->pend_len = 0;
	k->open = false;
	close(fd);
}

static void server_io_error(struct server *s, int fd, int e)
{
	if (e == ECONNRESET || e == EPIPE) {
		if (s->conns[fd].mode == CEE_KB_CLIENT_RST)
			s->resets_expected++;
		else
			s->err.reset++;
	} else {
		s->err.other++;
	}
	server_close(s, fd);
}

static int server_want_out(struct server *s, int fd, bool out)
{
	struct epoll_event ev = {
	    .events = EPOLLIN | EPOLLET | (out ? EPOLLOUT : 0u),
	    .data.u64 = (uint64_t)(uint32_t)fd | (uint64_t)s->conns[fd].gen << 32,
	};
	return epoll_ctl(s->ep, EPOLL_CTL_MOD, fd, &ev);
}

// server-fin: close once the whole payload has gone back. Returns true when
// it closed the connection.
static bool server_fin_due(struct server *s, int fd)
{
	struct srv_conn *k = &s->conns[fd];
	if (k->mode != CEE_KB_SERVER_FIN || k->echoed < s->o->payload)
		return false;
	server_close(s, fd);
	return true;
}

// Writes n bytes of s->buf back. Returns true when all went and the
// connection stays open for more reading.
static bool server_echo(struct server *s, int fd, size_t n)
{
	struct srv_conn *k = &s->conns[fd];
	ssize_t w = send(fd, s->buf, n, MSG_NOSIGNAL);
	if (w < 0) {
		if (errno != EAGAIN) {
			server_io_error(s, fd, errno);
			return false;
		}
		w = 0;
	}
	k->echoed += (uint64_t)w;
	if ((size_t)w == n)
		return !server_fin_due(s, fd);
	// No room: keep the rest and stop reading until it has gone
	// (backpressure); EPOLLOUT says when.
	k->pend = malloc(n - (size_t)w);
	if (k->pend == NULL || server_want_out(s, fd, true) < 0) {
		s->err.other++;
		server_close(s, fd);
		return false;
	}
	memcpy(k->pend, s->buf + w, n - (size_t)w);
	k->pend_off = 0;
	k->pend_len = (uint32_t)(n - (size_t)w);
	return false;
}

// Returns true when nothing is pending any more and reading may go on.
static bool server_flush(struct server *s, int fd)
{
	struct srv_conn *k = &s->conns[fd];
	while (k->pend_len > 0) {
		ssize_t w = send(fd, k->pend + k->pend_off, k->pend_len, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EAGAIN)
				return false;
			server_io_error(s, fd, errno);
			return false;
		}
		k->pend_off += (uint32_t)w;
		k->pend_len -= (uint32_t)w;
		k->echoed += (uint64_t)w;
	}
	free(k->pend);
	k->pend = NULL;
	if (server_want_out(s, fd, false) < 0) {
		s->err.other++;
		server_close(s, fd);
		return false;
	}
	return !server_fin_due(s, fd);
}

static void server_conn_event(struct server *s, int fd)
{
	struct srv_conn *k = &s->conns[fd];
	if (k->pend_len > 0 && !server_flush(s, fd))
		return;
	// Edge-triggered: read until EAGAIN, or until the connection closes.
	for (;;) {
		ssize_t n = recv(fd, s->buf, sizeof(s->buf), 0);
		if (n > 0) {
			if (!server_echo(s, fd, (size_t)n))
				return;
			continue;
		}
		if (n == 0) {
			// The client's FIN. server-fin closes first, so a FIN
			// before the whole echo is early.
			if (k->mode == CEE_KB_SERVER_FIN)
				s->err.eof++;
			server_close(s, fd);
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			server_io_error(s, fd, errno);
		return;
	}
}

static int server_grow(struct server *s, size_t fd)
{
	size_t cap = s->cap ? s->cap : 1024;
	while (cap <= fd)
		cap *= 2;
	struct srv_conn *c = realloc(s->conns, cap * sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	memset(c + s->cap, 0, (cap - s->cap) * sizeof(*c));
	s->conns = c;
	s->cap = cap;
	return 0;
}

static void server_accept(struct server *s, enum close_mode mode)
{
	for (;;) {
		int fd = accept4(s->lfd[mode], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				s->err.accept++;
			return;
		}
		if ((size_t)fd >= s->cap && server_grow(s, (size_t)fd) < 0) {
			s->err.other++;
			close(fd);
			continue;
		}
		s->accepted++;
		struct srv_conn *k = &s->conns[fd];
		k->gen = (k->gen + 1) & GEN_MASK;
		k->open = true;
		k->mode = mode;
		k->echoed = 0;
		if (server_fin_due(s, fd)) // server-fin with --payload 0
			continue;
		if (s->o->payload > 16384) {
			int one = 1;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		}
		struct epoll_event ev = {
		    .events = EPOLLIN | EPOLLET,
		    .data.u64 = (uint64_t)(uint32_t)fd | (uint64_t)k->gen << 32,
		};
		if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			s->err.other++;
			server_close(s, fd);
		}
	}
}

static void *server_main(void *arg)
{
	struct server *s = arg;
	struct epoll_event evs[EVENT_BATCH];
	for (;;) {
		int n = epoll_wait(s->ep, evs, EVENT_BATCH, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			s->err.other++;
			break;
		}
		for (int i = 0; i < n; i++) {
			uint64_t d = evs[i].data.u64;
			if (d == TAG_STOP)
				goto out;
			if (d & TAG_OTHER) {
				server_accept(s, (enum close_mode)(d & 0xff));
				continue;
			}
			int fd = (int)(uint32_t)d;
			uint32_t gen = (uint32_t)(d >> 32);
			if ((size_t)fd < s->cap && s->conns[fd].open && s->conns[fd].gen == gen)
				server_conn_event(s, fd);
		}
	}
out:
	for (size_t fd = 0; fd < s->cap; fd++) {
		if (s->conns[fd].open) {
			s->left_open++;
			server_close(s, (int)fd);
		}
	}
	return NULL;
}

// ---- client --------------------------------------------------------------

// What a client slot waits on.
enum cli_state {
	CEE_KB_IDLE,		 // no connection (between two, or open failed)
	CEE_KB_EXPECT_CONNECTED, // connect() issued, handshake not done
	CEE_KB_EXPECT_ECHO,	 // sending the payload and reading the echo
	CEE_KB_EXPECT_EOF,	 // server-fin: whole echo seen, waiting for the FIN
};

// One in-flight connection. Client thread only.
struct cli_conn {
	int fd;
	uint32_t gen;
	enum cli_state state;
	enum close_mode mode;
	uint32_t sent;
	uint32_t rcvd;
	uint64_t t_connect; // just before connect()
};

struct client {
	const struct opts *o;
	const uint8_t *payload; // the bytes sent, and so the echo expected
	struct sockaddr_in dst[CEE_KB_CLOSE_MODE_COUNT];
	int ep;
	struct cli_conn *conns;
	uint32_t active;
	uint32_t next_source;
	uint32_t next_mode;
	bool opening;	  // new connections may still be opened
	bool window_open; // lifecycles still count towards the figure
	bool open_failed; // an open failed since the last epoll_wait
	// Slots waiting for their next connection, FIFO (capacity concurrency).
	// The loop opens them after each batch of events, so a lifecycle that
	// completes inside connect() cannot recurse.
	uint32_t *idle;
	uint32_t idle_head;
	uint32_t idle_len;
	// Results: written by the client thread, read by main after join.
	uint64_t attempts;
	uint64_t lifecycles; // completed inside the measurement window
	uint64_t drained;    // completed after it (not in the figure)
	uint64_t t_start;
	uint64_t t_end;
	double *samples; // per-second connection rates
	size_t nsamples;
	size_t samples_cap;
	struct errs err;
	// connect() call to writable, as the client's event loop sees it; this
	// includes the wait for the loop to come back to epoll_wait.
	struct hist handshake;
	// The connect() call alone. Over loopback the kernel runs SYN, SYN-ACK
	// and ACK in softirq inside it, so this is close to the stack's own
	// handshake cost.
	struct hist connect_call;
	uint8_t buf[IO_BUF];
};

// Source address i: 127.A.B.C with A from 1, C in 1..254.
static uint32_t source_addr(uint32_t i)
{
	uint32_t c = 1 + i % 254;
	uint32_t b = (i / 254) % 256;
	uint32_t a = 1 + i / (254 * 256);
	return 127u << 24 | a << 16 | b << 8 | c;
}

static void idle_push(struct client *c, uint32_t slot)
{
	c->idle[(c->idle_head + c->idle_len) % c->o->concurrency] = slot;
	c->idle_len++;
}

static uint32_t idle_pop(struct client *c)
{
	uint32_t slot = c->idle[c->idle_head];
	c->idle_head = (c->idle_head + 1) % c->o->concurrency;
	c->idle_len--;
	return slot;
}

static void client_release(struct client *c, uint32_t slot)
{
	struct cli_conn *k = &c->conns[slot];
	close(k->fd); // also takes it out of the epoll set
	k->fd = -1;
	k->state = CEE_KB_IDLE;
	c->active--;
	idle_push(c, slot);
}

static void client_abort(struct client *c, uint32_t slot)
{
	client_release(c, slot);
}

static void client_io_error(struct client *c, uint32_t slot, int e)
{
	if (e == ECONNRESET || e == EPIPE)
		c->err.reset++;
	else
		c->err.other++;
	client_abort(c, slot);
}

// The lifecycle is complete: the whole echo is in; close as the mode says.
static void client_done(struct client *c, uint32_t slot)
{
	struct cli_conn *k = &c->conns[slot];
	if (k->mode == CEE_KB_CLIENT_RST) {
		// SO_LINGER {1, 0}: close() sends RST, no FIN, no TIME-WAIT.
		struct linger l = {.l_onoff = 1, .l_linger = 0};
		if (setsockopt(k->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l)) < 0) {
			c->err.other++;
			client_abort(c, slot);
			return;
		}
	}
	if (c->window_open)
		c->lifecycles++;
	else
		c->drained++;
	client_release(c, slot);
}

static void client_pump(struct client *c, uint32_t slot)
{
	struct cli_conn *k = &c->conns[slot];
	const uint32_t payload = c->o->payload;
	while (k->sent < payload) {
		ssize_t n = send(k->fd, c->payload + k->sent, payload - k->sent, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN)
				break;
			if (errno == EINTR)
				continue;
			client_io_error(c, slot, errno);
			return;
		}
		k->sent += (uint32_t)n;
	}
	// Edge-triggered: read until EAGAIN, or until the lifecycle ends.
	for (;;) {
		if (k->state == CEE_KB_EXPECT_ECHO && k->rcvd == payload) {
			if (k->mode != CEE_KB_SERVER_FIN) {
				client_done(c, slot);
				return;
			}
			k->state = CEE_KB_EXPECT_EOF;
		}
		ssize_t n = recv(k->fd, c->buf, sizeof(c->buf), 0);
		if (n > 0) {
			if (k->state != CEE_KB_EXPECT_ECHO || (size_t)n > payload - k->rcvd ||
			    memcmp(c->buf, c->payload + k->rcvd, (size_t)n) != 0) {
				c->err.data++;
				client_abort(c, slot);
				return;
			}
			k->rcvd += (uint32_t)n;
			continue;
		}
		if (n == 0) {
			if (k->state == CEE_KB_EXPECT_EOF) {
				client_done(c, slot);
			} else {
				c->err.eof++;
				client_abort(c, slot);
			}
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			client_io_error(c, slot, errno);
		return;
	}
}

// The handshake is over (connect() returned 0, or epoll said writable).
static void client_connected(struct client *c, uint32_t slot)
{
	struct cli_conn *k = &c->conns[slot];
	hist_add(&c->handshake, now_ns() - k->t_connect);
	k->state = CEE_KB_EXPECT_ECHO;
	client_pump(c, slot);
}

static void client_open(struct client *c, uint32_t slot)
{
	struct cli_conn *k = &c->conns[slot];
	if (c->o->conns != 0 && c->attempts >= c->o->conns) {
		c->opening = false;
		return;
	}
	c->attempts++;
	enum close_mode mode = c->o->mode;
	if (c->o->mix) {
		mode = (enum close_mode)c->next_mode;
		c->next_mode = (c->next_mode + 1) % CEE_KB_CLOSE_MODE_COUNT;
	}
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	int one = 1;
	struct sockaddr_in src = {.sin_family = AF_INET};
	src.sin_addr.s_addr = htonl(source_addr(c->next_source));
	c->next_source = (c->next_source + 1) % c->o->sources;
	if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0)
		goto fail;
	if (c->o->payload > 16384)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	k->fd = fd;
	k->gen = (k->gen + 1) & GEN_MASK;
	k->mode = mode;
	k->sent = 0;
	k->rcvd = 0;
	k->t_connect = now_ns();
	int rc = connect(fd, (struct sockaddr *)&c->dst[mode], sizeof(c->dst[mode]));
	if (rc < 0 && errno != EINPROGRESS)
		goto fail;
	hist_add(&c->connect_call, now_ns() - k->t_connect);
	// Added after connect(): an unconnected socket polls as writable.
	struct epoll_event ev = {
	    .events = EPOLLIN | EPOLLOUT | EPOLLET,
	    .data.u64 = (uint64_t)slot | (uint64_t)k->gen << 32,
	};
	if (epoll_ctl(c->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		c->err.other++;
		close(fd);
		goto idle;
	}
	c->active++;
	k->state = CEE_KB_EXPECT_CONNECTED;
	if (rc == 0)
		client_connected(c, slot);
	return;
fail:
	c->err.connect++;
	if (fd >= 0)
		close(fd);
idle:
	k->fd = -1;
	k->state = CEE_KB_IDLE;
	c->open_failed = true;
	idle_push(c, slot);
}

static void client_event(struct client *c, uint32_t slot, uint32_t events)
{
	struct cli_conn *k = &c->conns[slot];
	switch (k->state) {
	case CEE_KB_IDLE:
		return;
	case CEE_KB_EXPECT_CONNECTED:
		if (events & EPOLLERR) { // refused, or reset during the handshake
			c->err.connect++;
			client_abort(c, slot);
		} else if (events & EPOLLOUT) {
			client_connected(c, slot);
		}
		return;
	case CEE_KB_EXPECT_ECHO:
	case CEE_KB_EXPECT_EOF:
		client_pump(c, slot);
		return;
	}
}

static int sample_push(struct client *c, double v)
{
	if (c->nsamples == c->samples_cap) {
		size_t cap = c->samples_cap ? 2 * c->samples_cap : 64;
		double *p = realloc(c->samples, cap * sizeof(*p));
		if (p == NULL)
			return -ENOMEM;
		c->samples = p;
		c->samples_cap = cap;
	}
	c->samples[c->nsamples++] = v;
	return 0;
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	const struct opts *o = c->o;
	struct epoll_event evs[EVENT_BATCH];
	c->t_start = now_ns();
	const uint64_t deadline =
	    o->duration_s > 0 ? c->t_start + (uint64_t)(o->duration_s * 1e9) : UINT64_MAX;
	uint64_t drain_deadline = UINT64_MAX;
	uint64_t last_tick = c->t_start;
	uint64_t last_count = 0;
	unsigned tick = 1;
	c->opening = true;
	c->window_open = true;
	for (uint32_t i = 0; i < o->concurrency; i++)
		idle_push(c, i);

	for (;;) {
		uint64_t now = now_ns();
		// The tick goes first, so that a run of whole seconds keeps its
		// last sample.
		uint64_t next_tick = c->t_start + tick * NS_PER_S;
		if (now >= next_tick) {
			double rate =
			    (double)(c->lifecycles - last_count) * 1e9 / (double)(now - last_tick);
			if (c->window_open && sample_push(c, rate) < 0)
				c->err.other++;
			// Slots waiting in the idle queue reopen in this turn.
			uint32_t in_use = c->active + (c->opening ? c->idle_len : 0);
			if (!o->quiet)
				fprintf(stderr, "kbaseline: t=%us cps=%.0f active=%" PRIu32 "\n",
					tick, rate, in_use);
			last_tick = now;
			last_count = c->lifecycles;
			tick++;
			next_tick += NS_PER_S;
		}
		if (c->window_open) {
			bool stop = now >= deadline || interrupted;
			bool all_done = !c->opening && c->active == 0; // --conns reached
			if (stop || all_done) {
				c->window_open = false;
				c->opening = false;
				c->t_end = now;
				drain_deadline = now + DRAIN_NS;
			}
		}
		if (!c->window_open && (c->active == 0 || now >= drain_deadline))
			break;

		// Open the slots idle now; those freed meanwhile wait a turn.
		c->open_failed = false;
		for (uint32_t n = c->idle_len; n > 0 && c->opening; n--)
			client_open(c, idle_pop(c));

		uint64_t wake = next_tick;
		if (c->window_open && deadline < wake)
			wake = deadline;
		if (!c->window_open && drain_deadline < wake)
			wake = drain_deadline;
		int timeout_ms = (int)((wake - now + 999999) / 1000000);
		if (c->opening && c->open_failed && timeout_ms > 10)
			timeout_ms = 10; // retry failed opens soon, without spinning
		else if (c->opening && c->idle_len > 0)
			timeout_ms = 0;
		int n = epoll_wait(c->ep, evs, EVENT_BATCH, timeout_ms);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			c->err.other++;
			break;
		}
		for (int i = 0; i < n; i++) {
			uint32_t slot = (uint32_t)evs[i].data.u64;
			uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
			if (c->conns[slot].gen == gen)
				client_event(c, slot, evs[i].events);
		}
	}
	if (c->t_end == 0)
		c->t_end = now_ns();
	for (uint32_t i = 0; i < o->concurrency; i++) {
		if (c->conns[i].state != CEE_KB_IDLE) {
			c->err.stalled++;
			close(c->conns[i].fd);
			c->conns[i].state = CEE_KB_IDLE;
			c->active--;
		}
	}
	return NULL;
}

// ---- set-up and report ---------------------------------------------------

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s [options]\n"
		"Linux kernel baseline for cee-bench: connect, send PAYLOAD bytes, read the\n"
		"echo, close; kernel TCP over loopback, one epoll server thread and one\n"
		"epoll client thread, each pinned to its own CPU.\n"
		"\n"
		"  --duration S       run S seconds (default 5)\n"
		"  --conns N          open N connections in all, then stop (with no\n"
		"                     --duration, no time limit)\n"
		"  --concurrency C    connections in flight (default 64)\n"
		"  --payload B        bytes echoed per connection (default 64)\n"
		"  --close MODE       client-fin (default), server-fin, client-rst or mix\n"
		"                     (round robin over the three)\n"
		"  --server-cpu N     CPU of the server thread (default 1)\n"
		"  --client-cpu N     CPU of the client thread (default 0)\n"
		"  --port P           server port on 127.0.0.1 (default 0: kernel-chosen);\n"
		"                     mix listens on P, P+1 and P+2\n"
		"  --sources N        client source addresses 127.1.0.1, 127.1.0.2, ...\n"
		"                     used round robin so TIME-WAIT does not exhaust the\n"
		"                     ephemeral ports of one address (default 1024)\n"
		"  --json             final report as one JSON object on one line\n"
		"  --quiet            no per-second line on stderr\n"
		"  --help             this text\n"
		"\n"
		"Per second, stderr gets 'kbaseline: t=3s cps=41234 active=64'. cps is the\n"
		"median of the per-second rates after the first (when there are more),\n"
		"cps_mean lifecycles/seconds. Exit status: 0,\n"
		"1 when no lifecycle completed or errors exceed 0.1%% of them, 2 on bad usage.\n",
		prog);
}

static int parse_u64(const char *opt, const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < lo || v > hi) {
		fprintf(stderr,
			"cee-kbaseline: %s: '%s' is not an integer in %" PRIu64 "..%" PRIu64 "\n",
			opt, s, lo, hi);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

// Returns 0, 1 for --help, or -EINVAL.
static int parse_args(struct opts *o, int argc, char **argv)
{
	enum {
		OPT_DURATION = 256,
		OPT_CONNS,
		OPT_CONCURRENCY,
		OPT_PAYLOAD,
		OPT_CLOSE,
		OPT_SERVER_CPU,
		OPT_CLIENT_CPU,
		OPT_PORT,
		OPT_SOURCES,
		OPT_JSON,
		OPT_QUIET,
		OPT_HELP,
	};
	static const struct option longopts[] = {
	    {"duration", required_argument, NULL, OPT_DURATION},
	    {"conns", required_argument, NULL, OPT_CONNS},
	    {"concurrency", required_argument, NULL, OPT_CONCURRENCY},
	    {"payload", required_argument, NULL, OPT_PAYLOAD},
	    {"close", required_argument, NULL, OPT_CLOSE},
	    {"server-cpu", required_argument, NULL, OPT_SERVER_CPU},
	    {"client-cpu", required_argument, NULL, OPT_CLIENT_CPU},
	    {"port", required_argument, NULL, OPT_PORT},
	    {"sources", required_argument, NULL, OPT_SOURCES},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"quiet", no_argument, NULL, OPT_QUIET},
	    {"help", no_argument, NULL, OPT_HELP},
	    {NULL, 0, NULL, 0},
	};
	bool duration_set = false;
	uint64_t v;
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		const char *name = optind > 0 && optind <= argc ? argv[optind - 1] : "";
		switch (c) {
		case OPT_DURATION: {
			char *end;
			errno = 0;
			double d = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' || !(d > 0) || d > 86400) {
				fprintf(
				    stderr,
				    "cee-kbaseline: --duration: '%s' is not a number of seconds "
				    "in (0, 86400]\n",
				    optarg);
				return -EINVAL;
			}
			o->duration_s = d;
			duration_set = true;
			break;
		}
		case OPT_CONNS:
			if (parse_u64("--conns", optarg, 1, UINT64_MAX / 2, &o->conns) < 0)
				return -EINVAL;
			break;
		case OPT_CONCURRENCY:
			if (parse_u64("--concurrency", optarg, 1, MAX_CONCURRENCY, &v) < 0)
				return -EINVAL;
			o->concurrency = (uint32_t)v;
			break;
		case OPT_PAYLOAD:
			if (parse_u64("--payload", optarg, 0, MAX_PAYLOAD, &v) < 0)
				return -EINVAL;
			o->payload = (uint32_t)v;
			break;
		case OPT_CLOSE: {
			bool found = false;
			if (strcmp(optarg, "mix") == 0) {
				o->mix = true;
				found = true;
			}
			for (unsigned i = 0; i < CEE_KB_CLOSE_MODE_COUNT && !found; i++) {
				if (strcmp(optarg, close_mode_names[i]) == 0) {
					o->mix = false;
					o->mode = (enum close_mode)i;
					found = true;
				}
			}
			if (!found) {
				fprintf(
				    stderr,
				    "cee-kbaseline: --close: '%s' is not client-fin, server-fin, "
				    "client-rst or mix\n",
				    optarg);
				return -EINVAL;
			}
			break;
		}
		case OPT_SERVER_CPU:
			if (parse_u64("--server-cpu", optarg, 0, CPU_SETSIZE - 1, &v) < 0)
				return -EINVAL;
			o->server_cpu = (int)v;
			break;
		case OPT_CLIENT_CPU:
			if (parse_u64("--client-cpu", optarg, 0, CPU_SETSIZE - 1, &v) < 0)
				return -EINVAL;
			o->client_cpu = (int)v;
			break;
		case OPT_PORT:
			if (parse_u64("--port", optarg, 0, 65535, &v) < 0)
				return -EINVAL;
			o->port = (uint16_t)v;
			break;
		case OPT_SOURCES:
			if (parse_u64("--sources", optarg, 1, MAX_SOURCES, &v) < 0)
				return -EINVAL;
			o->sources = (uint32_t)v;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_QUIET:
			o->quiet = true;
			break;
		case OPT_HELP:
			return 1;
		case '?':
		default:
			if (optopt != 0)
				fprintf(stderr, "cee-kbaseline: option '%s' needs a value\n", name);
			else
				fprintf(stderr, "cee-kbaseline: unknown option '%s'\n", name);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "cee-kbaseline: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (o->conns != 0 && !duration_set)
		o->duration_s = 0;
	if (o->mix && o->port != 0 && o->port > 65533) {
		fprintf(stderr,
			"cee-kbaseline: --close mix needs ports P..P+2; --port %u is too high\n",
			(unsigned)o->port);
		return -EINVAL;
	}
	return 0;
}

static bool close_mode_used(const struct opts *o, enum close_mode m)
{
	return o->mix || o->mode == m;
}

// Listener for mode m on 127.0.0.1; writes its port into *dst.
static int make_listener(const struct opts *o, unsigned index, struct sockaddr_in *dst)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons(o->port != 0 ? (uint16_t)(o->port + index) : 0);
	socklen_t len = sizeof(a);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 65535) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	*dst = a;
	return fd;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void report(const struct opts *o, const struct client *c, const struct server *s,
		   double *samples_sorted_copy)
{
	struct errs e = c->err;
	errs_add(&e, &s->err);
	double secs = (double)(c->t_end - c->t_start) / 1e9;
	double cps_mean = secs > 0 ? (double)c->lifecycles / secs : 0;
	// not the first second when there are more (the ramp), as cee-bench
	size_t skip = c->nsamples >= 2;
	double cps = c->nsamples > 0 ? median(samples_sorted_copy + skip, c->nsamples - skip)
				     : cps_mean;
	const char *close_name = o->mix ? "mix" : close_mode_names[o->mode];
	uint64_t p50 = hist_quantile(&c->handshake, 0.50);
	uint64_t p99 = hist_quantile(&c->handshake, 0.99);
	uint64_t p999 = hist_quantile(&c->handshake, 0.999);
	uint64_t cc50 = hist_quantile(&c->connect_call, 0.50);
	uint64_t cc99 = hist_quantile(&c->connect_call, 0.99);
	struct utsname u;
	if (uname(&u) < 0)
		strcpy(u.release, "unknown");

	if (o->json) {
		printf("{\"name\":\"linux-epoll-loopback\",\"lifecycles\":%" PRIu64
		       ",\"cps\":%.1f,\"cps_mean\":%.1f,\"seconds\":%.3f,\"concurrency\":%" PRIu32
		       ",\"payload\":%" PRIu32
		       ",\"close\":\"%s\",\"handshake_ns\":{\"p50\":%" PRIu64 ",\"p99\":%" PRIu64
		       ",\"p999\":%" PRIu64 "},\"errors\":%" PRIu64
		       ",\"server_cpu\":%d,\"client_cpu\":%d",
		       c->lifecycles, cps, cps_mean, secs, o->concurrency, o->payload, close_name,
		       p50, p99, p999, errs_total(&e), o->server_cpu, o->client_cpu);
		printf(",\"error_detail\":{");
		const char *sep = "";
#define X(name)                                                                                    \
	printf("%s\"" #name "\":%" PRIu64, sep, e.name);                                           \
	sep = ",";
		CEE_KB_ERRORS(X)
#undef X
		printf("},\"samples\":[");
		for (size_t i = 0; i < c->nsamples; i++)
			printf("%s%.0f", i ? "," : "", c->samples[i]);
		printf("],\"connect_call_ns\":{\"p50\":%" PRIu64 ",\"p99\":%" PRIu64 "}", cc50,
		       cc99);
		printf(",\"attempts\":%" PRIu64 ",\"drained\":%" PRIu64 ",\"accepted\":%" PRIu64
		       ",\"server_resets_expected\":%" PRIu64 ",\"sources\":%" PRIu32
		       ",\"kernel\":\"%s\"}\n",
		       c->attempts, c->drained, s->accepted, s->resets_expected, o->sources,
		       u.release);
		return;
	}
	printf("cee-kbaseline: linux-epoll-loopback (kernel %s)\n", u.release);
	printf("  setup       concurrency %" PRIu32 ", payload %" PRIu32
	       " B, close %s, server cpu %d, client cpu %d, %" PRIu32 " source addresses\n",
	       o->concurrency, o->payload, close_name, o->server_cpu, o->client_cpu, o->sources);
	printf("  lifecycles  %" PRIu64 " in %.3f s (%" PRIu64 " more finished after the window)\n",
	       c->lifecycles, secs, c->drained);
	printf("  cps         %.0f (median of %zu one-second samples after the first), mean %.0f\n",
	       cps, c->nsamples - skip, cps_mean);
	printf("  handshake   p50 %" PRIu64 " ns, p99 %" PRIu64 " ns, p99.9 %" PRIu64
	       " ns (connect() to writable, %" PRIu64 " samples)\n",
	       p50, p99, p999, c->handshake.n);
	printf("  connect()   p50 %" PRIu64 " ns, p99 %" PRIu64
	       " ns (the call alone; loopback completes the handshake inside it)\n",
	       cc50, cc99);
	printf("  errors      %" PRIu64, errs_total(&e));
#define X(name)                                                                                    \
	if (e.name)                                                                                \
		printf(" " #name "=%" PRIu64, e.name);
	CEE_KB_ERRORS(X)
#undef X
	printf("\n");
}

static int check_cpu(const char *opt, int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && !CPU_ISSET(cpu, &set)) {
		fprintf(stderr,
			"cee-kbaseline: %s %d: CPU %d is not available to this process "
			"(%d CPUs available)\n",
			opt, cpu, cpu, CPU_COUNT(&set));
		return -EINVAL;
	}
	return 0;
}

// Both threads' sockets live in this process: ask for enough descriptors.
static int ensure_fds(const struct opts *o)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)o->concurrency * 3 + 64;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	if (rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
		fprintf(stderr,
			"cee-kbaseline: --concurrency %" PRIu32 " needs about %llu open files; the "
			"limit is %llu (ulimit -n)\n",
			o->concurrency, (unsigned long long)need, (unsigned long long)rl.rlim_max);
		return -EMFILE;
	}
	rl.rlim_cur = need;
	return setrlimit(RLIMIT_NOFILE, &rl) < 0 ? -errno : 0;
}

static int start_pinned(pthread_t *t, int cpu, void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	int rc = pthread_attr_init(&attr);
	if (rc == 0)
		rc = pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
	if (rc == 0)
		rc = pthread_create(t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return -rc;
}

int main(int argc, char **argv)
{
	struct opts o = {
	    .duration_s = 5,
	    .concurrency = 64,
	    .payload = 64,
	    .mode = CEE_KB_CLIENT_FIN,
	    .server_cpu = 1,
	    .client_cpu = 0,
	    .sources = 1024,
	};
	int rc = parse_args(&o, argc, argv);
	if (rc != 0) {
		if (rc > 0) {
			usage(stdout, argv[0]);
			return 0;
		}
		fprintf(stderr, "(%s --help lists the options)\n", argv[0]);
		return 2;
	}
	if (check_cpu("--server-cpu", o.server_cpu) < 0 ||
	    check_cpu("--client-cpu", o.client_cpu) < 0)
		return 2;
	if (ensure_fds(&o) < 0)
		return 2;

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	// Large objects (I/O buffers, the histogram) live on the heap.
	struct server *s = calloc(1, sizeof(*s));
	struct client *c = calloc(1, sizeof(*c));
	uint8_t *payload = malloc(o.payload ? o.payload : 1);
	if (s == NULL || c == NULL || payload == NULL) {
		fprintf(stderr, "cee-kbaseline: out of memory\n");
		return 1;
	}
	for (uint32_t i = 0; i < o.payload; i++)
		payload[i] = (uint8_t)(i * 131u + 17u);
	s->o = &o;
	c->o = &o;
	c->payload = payload;

	s->ep = epoll_create1(EPOLL_CLOEXEC);
	c->ep = epoll_create1(EPOLL_CLOEXEC);
	s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->ep < 0 || c->ep < 0 || s->stop_fd < 0) {
		fprintf(stderr, "cee-kbaseline: epoll/eventfd: %s\n", strerror(errno));
		return 1;
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_STOP};
	if (epoll_ctl(s->ep, EPOLL_CTL_ADD, s->stop_fd, &ev) < 0) {
		fprintf(stderr, "cee-kbaseline: epoll_ctl: %s\n", strerror(errno));
		return 1;
	}
	unsigned index = 0;
	for (unsigned m = 0; m < CEE_KB_CLOSE_MODE_COUNT; m++) {
		s->lfd[m] = -1;
		if (!close_mode_used(&o, (enum close_mode)m))
			continue;
		int fd = make_listener(&o, index++, &c->dst[m]);
		if (fd < 0) {
			fprintf(stderr, "cee-kbaseline: listen on 127.0.0.1:%u: %s\n",
				o.port ? o.port + index - 1 : 0, strerror(-fd));
			return 1;
		}
		s->lfd[m] = fd;
		ev.events = EPOLLIN | EPOLLET;
		ev.data.u64 = TAG_OTHER | m;
		if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			fprintf(stderr, "cee-kbaseline: epoll_ctl: %s\n", strerror(errno));
			return 1;
		}
	}
	c->conns = calloc(o.concurrency, sizeof(*c->conns));
	c->idle = calloc(o.concurrency, sizeof(*c->idle));
	if (c->conns == NULL || c->idle == NULL) {
		fprintf(stderr, "cee-kbaseline: out of memory\n");
		return 1;
	}
	for (uint32_t i = 0; i < o.concurrency; i++)
		c->conns[i].fd = -1;

	pthread_t st, ct;
	rc = start_pinned(&st, o.server_cpu, server_main, s);
	if (rc < 0) {
		fprintf(stderr, "cee-kbaseline: server thread on CPU %d: %s\n", o.server_cpu,
			strerror(-rc));
		return 1;
	}
	rc = start_pinned(&ct, o.client_cpu, client_main, c);
	if (rc < 0) {
		fprintf(stderr, "cee-kbaseline: client thread on CPU %d: %s\n", o.client_cpu,
			strerror(-rc));
		return 1;
	}
	pthread_join(ct, NULL);
	uint64_t one = 1;
	if (write(s->stop_fd, &one, sizeof(one)) != (ssize_t)sizeof(one)) {
		fprintf(stderr, "cee-kbaseline: eventfd write: %s\n", strerror(errno));
		return 1;
	}
	pthread_join(st, NULL);

	double *sorted = malloc((c->nsamples ? c->nsamples : 1) * sizeof(*sorted));
	if (sorted == NULL) {
		fprintf(stderr, "cee-kbaseline: out of memory\n");
		return 1;
	}
	if (c->nsamples)
		memcpy(sorted, c->samples, c->nsamples * sizeof(*sorted));
	report(&o, c, s, sorted);
	fflush(stdout);

	struct errs e = c->err;
	errs_add(&e, &s->err);
	uint64_t errors = errs_total(&e);
	rc = 0;
	if (c->lifecycles == 0) {
		fprintf(stderr, "cee-kbaseline: no lifecycle completed\n");
		rc = 1;
	} else if (errors * 1000 > c->lifecycles) {
		fprintf(stderr,
			"cee-kbaseline: %" PRIu64 " errors in %" PRIu64
			" lifecycles (over 0.1%%): the figure is not meaningful\n",
			errors, c->lifecycles);
		rc = 1;
	}
	for (unsigned m = 0; m < CEE_KB_CLOSE_MODE_COUNT; m++)
		if (s->lfd[m] >= 0)
			close(s->lfd[m]);
	close(s->stop_fd);
	close(s->ep);
	close(c->ep);
	free(sorted);
	free(c->samples);
	free(c->conns);
	free(c->idle);
	free(s->conns);
	free(payload);
	free(c);
	free(s);
	return rc;
}
