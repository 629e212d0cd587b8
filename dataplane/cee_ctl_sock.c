/* SPDX-License-Identifier: BSD-3-Clause */
// The command socket: a Unix stream socket (mode 0600) served from the
// control thread without blocking. Per connection: one request line in
// ("stats", "conns", "conn ID", "snapshot", "kill ID", "drain", "links", "sinks", "reload",
// "watch ID"), one JSON reply out (it may span lines), then the server
// closes. Every exchange has a deadline except a watch, which lasts as long
// as its connection; a watch whose client hangs up is abandoned.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cee_ctl_priv.h"
#include "cee_shard.h"

#define CLIENT_TIMEOUT_NS (UINT64_C(10) * 1000000000) // a whole exchange
#define WATCH_CHECK_NS (UINT64_C(50) * 1000000)        // a watch's client still there?

struct cmd_desc {
	const char *word;
	uint8_t op;
	bool takes_id;
};

#define CEE_X_CMD_DESC(e, s, op, id) [CTL_CMD_##e] = {s, CEE_MBOX_OP_##op, id},
static const struct cmd_desc cmds[CTL_CMD__COUNT] = {CEE_CTL_CMD_LIST(CEE_X_CMD_DESC)};
#undef CEE_X_CMD_DESC

// What is at @p sa's path: 0 nothing, 1 a socket nobody answers on (left by
// a dead engine: to be removed); -EADDRINUSE a socket a live process
// listens on (its backlog full counts: it is alive), -EEXIST something that
// is not a socket, or -errno.
static int ctl_sock_stale(const struct sockaddr_un *sa)
{
	struct stat st;
	if (lstat(sa->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	int err = errno;
	close(fd);
	if (rc == 0 || err == EAGAIN)
		return -EADDRINUSE;
	return err == ECONNREFUSED ? 1 : -err;
}

int cee_ctl_sock_open(struct cee_ctl *c, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "cee: control socket path too long: %s\n", path);
		errno = ENAMETOOLONG;
		return -ENAMETOOLONG;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	// Only a dead predecessor's socket is taken over (the default path is in
	// the EAL runtime directory, which the file-prefix lock keeps to us; a
	// --ctl-socket PATH has no such lock): another engine that answers there
	// keeps it, and whatever is not a socket is left alone.
	int rc = ctl_sock_stale(&sa);
	if (rc < 0) {
		errno = -rc;
		goto fail;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	if (rc > 0)
		(void)unlink(path);
	// Owner only from the start (no window with the default umask).
	mode_t old = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	struct stat st;
	if (rc < 0) {
		int err = errno;
		close(fd);
		errno = err;
		goto fail;
	}
	if (stat(path, &st) < 0 || chmod(path, 0600) < 0 || listen(fd, CEE_CTL_MAX_CLIENTS) < 0) {
		// the file bind made is ours: not left for the next start to find
		int err = errno;
		close(fd);
		(void)unlink(path);
		errno = err;
		goto fail;
	}
	c->sock_dev = st.st_dev;
	c->sock_ino = st.st_ino;
	c->listen_fd = fd;
	snprintf(c->sock_path, sizeof(c->sock_path), "%s", path);
	return 0;
fail:
	fprintf(stderr, "cee: control socket %s: %s%s\n", path, strerror(errno),
		errno == EADDRINUSE ? " (another engine answers on it: give this one its own "
				      "--ctl-socket)"
		: errno == EEXIST   ? " (not a socket: left alone)"
				    : "");
	return -errno;
}

static void client_close(struct cee_ctl *c, struct ctl_client *k)
{
	if (k->fd < 0)
		return;
	// What the client sent beyond what was read (the rest of a line too
	// long, a second request) is read away first: closed with it unread,
	// the socket reset the client, whose read after the reply failed with
	// ECONNRESET instead of EOF (a client that takes a read error as fatal
	// lost a whole reply). Bounded: a client writing on and on is reset.
	char junk[512];
	for (int i = 0; i < 64 && recv(k->fd, junk, sizeof(junk), MSG_DONTWAIT) > 0; i++)
		;
	close(k->fd);
	k->fd = -1;
	if (k->job.active) {
		// Requests not answered yet belong to the shards now.
		for (unsigned i = 0; i < k->job.count; i++)
			if (k->job.req[i] != NULL && cee_mbox_req_abandon(k->job.req[i]))
				k->job.req[i] = NULL;
		// a DRAIN cut off (the exchange's deadline, the client gone) that
		// a shard took: the shards that took it refuse new connections, so
		// the drain goes on for all of them (drain_poll()); left alone,
		// those refused for good while the others admitted, and the engine
		// never exited. (One given up unserved drained nothing.)
		if (k->cmd == CTL_CMD_DRAIN && cee_ctl_job_taken(&k->job) &&
		    c->drain == CTL_DRAIN_NONE)
			c->drain = CTL_DRAIN_WAIT;
		cee_ctl_job_release(&k->job);
	}
	cee_ctl_buf_free(&k->out);
	k->line_len = 0;
	k->out_off = 0;
	k->st.on = false;
}

// Closing: a reply that is ready (e.g. a watch answered with reason
// shutdown by a stopping shard) still goes out, as far as the socket
// takes it without waiting.
static void client_flush(struct cee_ctl *c, struct ctl_client *k)
{
	if (k->fd < 0)
		return;
	if (k->job.active && !k->st.on) {
		if (!cee_ctl_job_poll(&k->job, c))
			return;
		cee_ctl_render(c, &k->out, k->cmd, k->id, &k->job, &k->st);
		// (the exchange's deadline answering a DRAIN a shard took: it goes
		// on, as after step 2 of client_poll(); the job is released below,
		// and client_close() no longer sees it)
		if (k->cmd == CTL_CMD_DRAIN && cee_ctl_job_taken(&k->job) &&
		    c->drain == CTL_DRAIN_NONE)
			c->drain = CTL_DRAIN_WAIT;
	}
	// a listing piece by piece, as far as the socket takes it without
	// waiting (rendered whole first, it was up to 200 MB for one send)
	while (!k->out.oom) {
		while (k->out_off < k->out.len) {
			ssize_t n = send(k->fd, k->out.p + k->out_off, k->out.len - k->out_off,
					 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n <= 0)
				goto done;
			k->out_off += (size_t)n;
		}
		if (!k->st.on)
			break;
		k->out.len = 0;
		k->out_off = 0;
		(void)cee_ctl_render_more(&k->out, k->cmd, &k->job, &k->st);
	}
done:
	if (k->job.active)
		cee_ctl_job_release(&k->job);
	k->st.on = false;
}

void cee_ctl_sock_close(struct cee_ctl *c)
{
	for (unsigned i = 0; i < CEE_CTL_MAX_CLIENTS; i++) {
		client_flush(c, &c->clients[i]);
		client_close(c, &c->clients[i]);
	}
	if (c->listen_fd >= 0) {
		close(c->listen_fd);
		c->listen_fd = -1;
		// Only the socket this engine bound: another engine that took the
		// path over meanwhile (two started at once over a stale socket)
		// keeps its own.
		struct stat st;
		if (stat(c->sock_path, &st) == 0 && st.st_dev == c->sock_dev &&
		    st.st_ino == c->sock_ino)
			(void)unlink(c->sock_path);
	}
}

// Parse the request line and post it. Errors become replies at once.
static void client_request(struct cee_ctl *c, struct ctl_client *k)
{
	char *line = k->line;
	line[k->line_len] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	char *save = NULL;
	char *word = strtok_r(line, " \t", &save);
	char *arg = word ? strtok_r(NULL, " \t", &save) : NULL;
	char *extra = arg ? strtok_r(NULL, " \t", &save) : NULL;
	char *more = extra ? strtok_r(NULL, " \t", &save) : NULL;
	unsigned i;
	if (word != NULL && strcmp(word, "reload") == 0) {
		// SIGHUP's work, for a control plane that cannot signal the
		// engine (another container): the shards read their TLS files
		// at their next iteration, this thread rotates renamed sink
		// files at its next poll. The outcome is in stats
		// (tls_reloads, tls_reload_failures) and on stderr.
		if (arg != NULL) {
			cee_ctl_buf_printf(&k->out, "{\"ok\":false,\"error\":\"usage: reload\"}\n");
			return;
		}
		cee_reload_request();
		cee_ctl_buf_printf(&k->out, "{\"ok\":true,\"reload\":%u}\n", cee_reload_generation());
		return;
	}
	if (word != NULL && strcmp(word, "sinks") == 0) {
		// The event sinks live on this thread: answered at once. (Into a
		// fixed 4 KiB, a listing that did not fit was answered "no sinks".)
		char *buf = NULL;
		int n = arg == NULL && c->sinks_json != NULL
			    ? cee_ctl_part(c->sinks_json, c->sinks_arg, &buf)
			    : -EINVAL;
		if (n >= 2)
			cee_ctl_buf_printf(&k->out, "{\"ok\":true,%.*s}\n", n - 2, buf + 1);
		else
			cee_ctl_buf_printf(&k->out, "{\"ok\":false,\"error\":\"%s\"}\n",
					   arg != NULL		 ? "usage: sinks"
					   : n == -EINVAL || n >= 0 ? "no sinks"
					   : n == -ENOSPC		 ? "the sinks listing is over 1 MiB"
								 : strerror(-n));
		free(buf);
		return;
	}
	for (i = 0; i < CTL_CMD__COUNT; i++)
		if (word != NULL && strcmp(word, cmds[i].word) == 0)
			break;
	if (i == CTL_CMD__COUNT) {
		// echoed within the JSON string: printable ASCII only, no quote or
		// backslash (the fuzzer sent both, and bytes that are not UTF-8)
		char shown[33];
		size_t n = 0;
		for (const char *w = word ? word : ""; *w != '\0' && n < sizeof(shown) - 1; w++, n++)
			shown[n] = (*w >= 0x20 && *w < 0x7f && *w != '"' && *w != '\\') ? *w : '?';
		shown[n] = '\0';
		cee_ctl_buf_printf(&k->out,
				   "{\"ok\":false,\"error\":\"unknown request '%s' (stats, conns, "
				   "conn ID, snapshot, kill ID, drain, links, watch ID, sinks, reload; "
				   "ID [RUN])\"}\n",
				   shown);
		return;
	}
	k->cmd = (enum ctl_cmd)i;
	k->id = 0;
	// an id command's second word is its run guard (ID RUN): ids start
	// again with each run, and an id kept from before a restart named
	// another run's connection (a kill of it reset a stranger)
	if (cmds[i].takes_id != (arg != NULL) || (extra != NULL && !cmds[i].takes_id) ||
	    more != NULL || (arg != NULL && cee_ctl_parse_id(arg, &k->id) < 0)) {
		cee_ctl_buf_printf(&k->out, "{\"ok\":false,\"error\":\"usage: %s%s\"}\n",
				   cmds[i].word,
				   cmds[i].takes_id ? " ID [RUN] (ID: 16 hex digits)" : "");
		return;
	}
	if (extra != NULL && strcmp(extra, c->run) != 0 &&
	    !(c->engine_per_run && strcmp(extra, c->engine) == 0)) {
		cee_ctl_render_error(&k->out, "no such connection in this run", &k->id);
		return;
	}
	if (k->cmd == CTL_CMD_WATCH) {
		// Watches may wait for ever: they never take the last slots.
		unsigned waiting = 0;
		for (unsigned w = 0; w < CEE_CTL_MAX_CLIENTS; w++)
			waiting += c->clients[w].fd >= 0 && c->clients[w].cmd == CTL_CMD_WATCH &&
				   c->clients[w].job.active;
		if (waiting >= CEE_CTL_MAX_WATCHES) {
			cee_ctl_buf_printf(&k->out,
					   "{\"ok\":false,\"error\":\"too many watches waiting (at "
					   "most %u)\"}\n",
					   CEE_CTL_MAX_WATCHES);
			return;
		}
		k->deadline_ns = UINT64_MAX;
	}
	cee_ctl_job_start(c, &k->job, (enum cee_mbox_op)cmds[i].op, k->id);
	// answered within the exchange: a line that came late gets a shorter wait
	if (k->job.deadline_ns > k->deadline_ns)
		k->job.deadline_ns = k->deadline_ns;
}

// A watch's client hung up (closed its socket: POLLHUP; a half-close after
// the request line is not a hang-up). Bytes after the line are ignored.
static bool client_gone(struct ctl_client *k)
{
	struct pollfd p = {.fd = k->fd, .events = POLLIN};
	if (poll(&p, 1, 0) <= 0)
		return false;
	if (p.revents & (POLLHUP | POLLERR | POLLNVAL))
		return true;
	char junk[256];
	ssize_t n = recv(k->fd, junk, sizeof(junk), MSG_DONTWAIT);
	return n < 0 && errno != EAGAIN && errno != EINTR;
}

static int client_poll(struct cee_ctl *c, struct ctl_client *k, uint64_t now)
{
	int work = 0;
	if (now > k->deadline_ns) {
		// A request still waiting for a shard at the exchange's end is
		// answered "a shard did not answer in time" (its job's deadline
		// is the exchange's at the latest): it was closed in silence when
		// the line came late in the exchange (the job's own 5 s ran past
		// it). A listing going out is cut (its client reads too slowly).
		if (k->job.active && !k->st.on && k->out.len == 0)
			client_flush(c, k); // (a DRAIN a shard took goes on: client_close())
		client_close(c, k);
		return 1;
	}
	// 1. the request line
	if (!k->job.active && k->out.len == 0) {
		ssize_t n = read(k->fd, k->line + k->line_len, sizeof(k->line) - 1 - k->line_len);
		// a request whose writer ended it with EOF instead of a newline
		// (printf stats | socat - UNIX:...) is a line: it got no answer
		bool eof_line = n == 0 && k->line_len > 0 && k->line_len < sizeof(k->line) - 1;
		if (eof_line)
			k->line[k->line_len++] = '\n'; // (room for the '\0' stays)
		else if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			client_close(c, k);
			return 1;
		}
		if (n < 0)
			return 0;
		k->line_len += (size_t)n;
		work = 1;
		if (memchr(k->line, '\n', k->line_len) != NULL)
			client_request(c, k);
		else if (k->line_len == sizeof(k->line) - 1)
			cee_ctl_buf_printf(&k->out, "{\"ok\":false,\"error\":\"request line too long\"}\n");
		else
			return work;
	}
	// 2. the shards' answers (not again while a listing goes out in pieces)
	if (k->job.active && !k->st.on) {
		if (!cee_ctl_job_poll(&k->job, c)) {
			if (k->cmd == CTL_CMD_WATCH && now >= k->check_ns) {
				k->check_ns = now + WATCH_CHECK_NS;
				if (client_gone(k)) { // the shard frees the request
					client_close(c, k);
					return 1;
				}
			}
			return work;
		}
		cee_ctl_render(c, &k->out, k->cmd, k->id, &k->job, &k->st);
		// once any shard took DRAIN it refuses new connections: the drain
		// goes on (drain_poll() posts DRAIN to every shard again) even when
		// another shard's request failed (busy, timed out), or those that
		// took it would refuse for good and the engine never exit; one
		// posted and given up unserved (the next shard's mailbox full)
		// drained nothing: no drain, and the reply's "try again" holds
		if (k->cmd == CTL_CMD_DRAIN && cee_ctl_job_taken(&k->job) &&
		    c->drain == CTL_DRAIN_NONE)
			c->drain = CTL_DRAIN_WAIT;
		if (!k->st.on) // (a listing's records stay until its last piece)
			cee_ctl_job_release(&k->job);
		work = 1;
	}
	// 3. the reply, as fast as the client reads it; a listing's next piece
	// once the last one went (the control thread's work and the buffer
	// bounded by a piece, the exporter served between pieces)
	if (k->out.oom) {
		client_close(c, k);
		return 1;
	}
	while (k->out_off < k->out.len) {
		ssize_t n = send(k->fd, k->out.p + k->out_off, k->out.len - k->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return work;
			client_close(c, k);
			return 1;
		}
		k->out_off += (size_t)n;
		work = 1;
	}
	if (k->st.on) { // the piece went: the next one, sent at the next poll
		k->out.len = 0;
		k->out_off = 0;
		if (!cee_ctl_render_more(&k->out, k->cmd, &k->job, &k->st))
			cee_ctl_job_release(&k->job);
		return 1;
	}
	client_close(c, k);
	return 1;
}

int cee_ctl_sock_poll(struct cee_ctl *c)
{
	if (c->listen_fd < 0)
		return 0;
	int work = 0;
	uint64_t now = cee_clock_ns();
	bool accepted = false; // one accept() a pass: an idle pass costs one syscall
	for (unsigned i = 0; i < CEE_CTL_MAX_CLIENTS; i++) {
		struct ctl_client *k = &c->clients[i];
		if (k->fd < 0) {
			if (accepted)
				continue;
			accepted = true;
			int fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
			if (fd < 0)
				continue;
			k->fd = fd;
			k->line_len = 0;
			k->out_off = 0;
			k->cmd = CTL_CMD__COUNT;
			k->deadline_ns = now + CLIENT_TIMEOUT_NS;
			k->check_ns = 0;
			k->st.on = false;
			work++;
		}
		work += client_poll(c, k, now);
	}
	return work;
}
