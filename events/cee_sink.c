/* SPDX-License-Identifier: BSD-3-Clause */
// Sink registry and the built-in kinds: jsonl (stdout, file/FIFO, Unix
// socket), binary, null, and the JSON Lines encoder other kinds share. All
// run on the control thread and never block on a reader.
//
// Ownership: a kind's open function allocates the struct cee_sink and its
// priv; its close op flushes and frees both. cee_sink_close() only calls it.
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cee_sink.h"

#define SINK_BUF_SIZE (64 * 1024)
// jsonl:unix+ack: lines sent and not yet acknowledged are kept in the
// buffer; this bounds them (the window), after which the sink takes no more
#define SINK_ACK_WINDOW (1024 * 1024)
#define SINK_ACK_LINE_MAX 32 // "ack N\n" from the reader, N below 2^64
#define SINK_SCHEMES_MAX 16
#define SINK_SCHEME_LEN 32
// Room cee_evt_to_json() needs to write straight into the buffer (a plain
// event); a line with extension records needs CEE_EVT_JSON_EXT_MAX.
#define JSON_LINE_ROOM 640
_Static_assert(JSON_LINE_ROOM >= CEE_EVT_JSON_MAX, "a plain line is written in place");
_Static_assert(SINK_BUF_SIZE >= CEE_EVT_JSON_EXT_MAX, "a line with extension records fits");

/* ---- registry ---- */

struct scheme {
	char name[SINK_SCHEME_LEN];
	cee_sink_open_fn open;
};

static struct cee_sink *jsonl_open(const char *arg);
static struct cee_sink *binary_open(const char *arg);
static struct cee_sink *null_open(const char *arg);

// Guarded by reg_lock: registration may happen from a plugin's constructor.
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct scheme schemes[SINK_SCHEMES_MAX] = {
	{"jsonl", jsonl_open},
	{"binary", binary_open},
	{"null", null_open},
};
static unsigned nschemes = 3;

int cee_sink_register(const char *scheme, cee_sink_open_fn open)
{
	if (scheme == NULL || open == NULL || scheme[0] == '\0' ||
	    strlen(scheme) >= SINK_SCHEME_LEN || strchr(scheme, ':') != NULL)
		return -EINVAL;

	int rc = 0;
	pthread_mutex_lock(&reg_lock);
	for (unsigned i = 0; i < nschemes; i++) {
		if (strcmp(schemes[i].name, scheme) == 0) {
			rc = -EEXIST;
			goto out;
		}
	}
	if (nschemes == SINK_SCHEMES_MAX) {
		rc = -ENOSPC;
		goto out;
	}
	strcpy(schemes[nschemes].name, scheme);
	schemes[nschemes].open = open;
	nschemes++;
out:
	pthread_mutex_unlock(&reg_lock);
	return rc;
}

// The end of a password= or token= value at @p v: the '&' that begins the
// next KEY=VALUE option, or the end. An '&' that begins no such option is
// taken as the secret's own (written unencoded, not as %26): the redacted
// spec showed "password=***&cd" for the password "ab&cd".
static const char *secret_end(const char *v)
{
	for (const char *p = v + strcspn(v, "&"); *p != '\0'; p += 1 + strcspn(p + 1, "&")) {
		size_t k = strspn(p + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					 "0123456789_-.");
		if (k > 0 && p[1 + k] == '=')
			return p;
	}
	return v + strlen(v);
}

void cee_sink_redact(char out[static 256], const char *spec)
{
	// (every spec cee_sink_open() takes fits whole: a cap 3 short cut the
	// longest ones' paths in cee-ctl sinks and --stats; only one whose
	// "***" is longer than the secret it hides can be cut)
	size_t n = 0, cap = sizeof(((struct cee_sink *)0)->spec) - 1;
	// The password of "//user:password@": the first ':' between "//" and '@'.
	const char *at = strchr(spec, '@'), *slashes = strstr(spec, "//"), *colon = NULL;
	if (slashes != NULL && at != NULL && at > slashes)
		colon = memchr(slashes + 2, ':', (size_t)(at - slashes - 2));
	for (const char *p = spec; *p != '\0' && n < cap;) {
		bool key = (p == spec || p[-1] == '?' || p[-1] == '&') &&
			   (strncmp(p, "password=", 9) == 0 || strncmp(p, "token=", 6) == 0);
		if (key || p == colon) {
			const char *v = key ? strchr(p, '=') + 1 : p + 1;
			size_t k = (size_t)(v - p);
			if (n + k + 3 > cap)
				break;
			memcpy(out + n, p, k);
			n += k;
			memcpy(out + n, "***", 3);
			n += 3;
			p = key ? secret_end(v) : v + strcspn(v, "@");
			continue;
		}
		out[n++] = *p++;
	}
	out[n] = '\0';
}

bool cee_sink_kind_known(const char *spec)
{
	const char *colon = spec != NULL ? strchr(spec, ':') : NULL;
	if (colon == NULL || colon == spec)
		return false;
	size_t n = (size_t)(colon - spec);
	bool known = false;
	pthread_mutex_lock(&reg_lock);
	for (unsigned i = 0; i < nschemes && !known; i++)
		known = strlen(schemes[i].name) == n && memcmp(schemes[i].name, spec, n) == 0;
	pthread_mutex_unlock(&reg_lock);
	return known;
}

void cee_sink_kinds(char *buf, size_t len)
{
	size_t n = 0;
	if (len == 0)
		return;
	buf[0] = '\0';
	pthread_mutex_lock(&reg_lock);
	for (unsigned i = 0; i < nschemes && n < len; i++) {
		int w = snprintf(buf + n, len - n, "%s%s:", i ? ", " : "", schemes[i].name);
		if (w < 0)
			break;
		n += (size_t)w;
	}
	pthread_mutex_unlock(&reg_lock);
}

struct cee_sink *cee_sink_open(const char *spec)
{
	if (spec == NULL) {
		errno = EINVAL;
		return NULL;
	}
	if (strlen(spec) >= sizeof(((struct cee_sink *)0)->spec)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	const char *colon = strchr(spec, ':');
	if (colon == NULL || colon == spec || (size_t)(colon - spec) >= SINK_SCHEME_LEN) {
		errno = EINVAL;
		return NULL;
	}

	cee_sink_open_fn open = NULL;
	size_t n = (size_t)(colon - spec);
	pthread_mutex_lock(&reg_lock);
	for (unsigned i = 0; i < nschemes; i++) {
		if (strlen(schemes[i].name) == n && memcmp(schemes[i].name, spec, n) == 0) {
			open = schemes[i].open;
			break;
		}
	}
	pthread_mutex_unlock(&reg_lock);
	if (open == NULL) {
		errno = EINVAL;
		return NULL;
	}

	struct cee_sink *s = open(colon + 1);
	if (s == NULL) {
		if (errno == 0)
			errno = EINVAL;
		return NULL;
	}
	s->written = 0;
	cee_sink_redact(s->spec, spec);
	return s;
}

int cee_sink_write(struct cee_sink *s, const struct cee_event *ev, uint32_t n)
{
	if (n == 0)
		return 0;
	int rc = s->ops->write(s, ev, n);
	if (rc > 0) {
		// written counts lifecycle events: one byte compare per record the
		// sink has just read anyway.
		uint32_t events = 0;
		for (int i = 0; i < rc; i++)
			events += ev[i].type != CEE_EVT_EXT;
		s->written += events;
	}
	return rc;
}

int cee_sink_flush(struct cee_sink *s)
{
	return s->ops->flush != NULL ? s->ops->flush(s) : 0;
}

int cee_sink_reopen(struct cee_sink *s)
{
	if (s->ops->reopen != NULL)
		return s->ops->reopen(s);
	return cee_sink_flush(s);
}

int cee_sink_rotate(struct cee_sink *s)
{
	return s->ops->rotate != NULL ? s->ops->rotate(s) : 0;
}

void cee_sink_close(struct cee_sink *s)
{
	if (s != NULL)
		s->ops->close(s);
}

/* ---- buffered fd writer shared by jsonl and binary ---- */

// Where the bytes go, and how it recovers when they cannot go.
enum fd_kind {
	FD_FILE,   // regular file: errors (ENOSPC, EIO) are retried in place
	FD_FIFO,   // named pipe: reopened (non-blocking) when its reader is gone
	FD_UNIX,   // Unix stream socket: reconnected (ack: lines acknowledged, sent again)
	FD_STDOUT, // stdout: retried in place; a gone reader never comes back
};

struct fdout {
	int fd;
	enum fd_kind kind;
	bool is_socket;  // send() with MSG_NOSIGNAL: a gone reader is EPIPE, not a signal
	bool is_pipe;    // FIFO or pipe: SIGPIPE blocked around write(), same effect
	bool is_file;    // regular file: SIGXFSZ blocked around write() (EFBIG instead)
	bool restore_fl; // stdout's file status flags are put back at close
	int saved_fl;
	int err;         // last write error, until reopen
	// jsonl:unix+ack: the reader acknowledges lines ("ack N\n", N counted
	// from its connection's first line). buf[0, acked) is acknowledged,
	// [acked, off) sent and waiting, [off, len) not sent; a new reader gets
	// everything from acked again (lines whole: acked is a line start).
	bool ack;
	size_t acked;
	uint64_t unacked_lines; // lines in buf[acked, len)
	uint64_t conn_acked;    // the reader's last N on this connection
	uint64_t resent;        // lines sent again to a new reader
	char in[SINK_ACK_LINE_MAX];
	size_t in_len;
	// The stream is cut into units (lines; binary: the header, then
	// records). buf[0] starts a unit; off bytes of buf are out; after a
	// reader is lost, a new one gets the stream from the unit off is in.
	size_t unit;     // binary: record size; 0: lines
	uint64_t buf_pos; // stream position of buf[0] (binary units)
	const void *header; // binary: written again at the start of a new reader's stream
	size_t header_len;
	// binary, appended to a file that has its header: the stream position
	// of this run's record (the file's size at open), until a restart puts
	// the header in front; UINT64_MAX otherwise
	uint64_t append_pos;
	// binary: the file header and this run's record (header points here)
	unsigned char head[sizeof(struct cee_evbin_header) + sizeof(struct cee_evbin_run)];
	size_t off;
	size_t len;
	char path[256];
	size_t bufsz;
	char buf[];
};

// send()/write() once. @return bytes, or -errno (-EAGAIN when it would block).
static ssize_t fd_write_once(struct fdout *o, const char *p, size_t n)
{
	for (;;) {
		ssize_t w = o->is_socket ? send(o->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT)
					 : write(o->fd, p, n);
		if (w >= 0)
			return w == 0 ? -EIO : w;
		if (errno == EINTR)
			continue;
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	}
}

// fd_write_once() to a pipe whose reader may be gone, or to a regular file
// that may reach the process's file-size limit (RLIMIT_FSIZE: systemd's
// LimitFSIZE=, ulimit -f): the write then raises SIGPIPE or SIGXFSZ, whose
// default action kills the engine before it could shut down cleanly (with
// SIGXFSZ, every event still in the rings lost and the file cut mid-line).
// Block @p sig in this thread for the write and swallow the one we caused,
// so the caller sees -EPIPE or -EFBIG (a failure it retries, as a full
// disk) and the process-wide disposition is left alone.
static ssize_t fd_write_guarded(struct fdout *o, const char *p, size_t n, int sig, ssize_t err)
{
	sigset_t set, old, pending;
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigemptyset(&pending);
	sigpending(&pending);
	bool was_pending = sigismember(&pending, sig) == 1;
	pthread_sigmask(SIG_BLOCK, &set, &old);

	ssize_t rc = fd_write_once(o, p, n);
	if (rc == err && !was_pending) {
		const struct timespec zero = {0, 0};
		while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

static ssize_t fd_write(struct fdout *o, const char *p, size_t n)
{
	if (o->is_pipe)
		return fd_write_guarded(o, p, n, SIGPIPE, -EPIPE);
	if (o->is_file)
		return fd_write_guarded(o, p, n, SIGXFSZ, -EFBIG);
	return fd_write_once(o, p, n);
}

// Start (in buf) of the unit that buf[at] belongs to.
static size_t unit_start(const struct fdout *o, size_t at)
{
	if (o->unit != 0) {
		uint64_t pos = o->buf_pos + at;
		if (pos < o->header_len)
			return 0;
		uint64_t u = o->header_len + (pos - o->header_len) / o->unit * o->unit;
		return u >= o->buf_pos ? (size_t)(u - o->buf_pos) : 0;
	}
	while (at > 0 && o->buf[at - 1] != '\n')
		at--;
	return at;
}

// Drops what is out from the front of buf, keeping the unit in progress
// (ack: everything not acknowledged).
static void fdout_compact(struct fdout *o)
{
	size_t keep = o->ack ? o->acked : unit_start(o, o->off);
	if (keep == 0)
		return;
	memmove(o->buf, o->buf + keep, o->len - keep);
	o->len -= keep;
	o->off -= keep;
	o->buf_pos += keep;
	if (o->ack)
		o->acked = 0;
}

// Newlines in @p p[0, n).
static uint64_t count_lines(const char *p, size_t n)
{
	uint64_t k = 0;
	for (const char *end = p + n; (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
		k++;
	return k;
}

// Events held: the lines (records) in buf not yet wholly out (ack: not yet
// acknowledged).
static uint64_t fdout_held(const struct fdout *o)
{
	if (o->ack)
		return o->unacked_lines;
	if (o->off >= o->len)
		return 0;
	if (o->unit != 0) {
		// records from the one in progress; not the file header nor a run
		// record (binary file version 4), which are no events, nor an
		// extension record (held counts lifecycle events, as written
		// does; a TLS or WebSocket stream's held was overstated)
		size_t i = unit_start(o, o->off);
		if (o->buf_pos + i < o->header_len)
			i = (size_t)(o->header_len - o->buf_pos);
		uint64_t n = 0;
		for (; i + o->unit <= o->len; i += o->unit) {
			uint8_t t = (uint8_t)o->buf[i + offsetof(struct cee_event, type)];
			n += t != CEE_EVBIN_RUN && t != CEE_EVT_EXT;
		}
		return n;
	}
	return count_lines(o->buf + o->off, o->len - o->off);
}

// One "ack N" from the reader: the lines up to its Nth of this connection
// are acknowledged. @return 0, or -EPROTO (not "ack N", N going back, or
// past the lines sent).
static int ack_line(struct fdout *o, const char *t, size_t n)
{
	if (n < 5 || memcmp(t, "ack ", 4) != 0)
		return -EPROTO;
	uint64_t v = 0;
	for (size_t i = 4; i < n; i++) {
		if (t[i] < '0' || t[i] > '9' || v > (UINT64_MAX - 9) / 10)
			return -EPROTO;
		v = v * 10 + (uint64_t)(t[i] - '0');
	}
	if (v < o->conn_acked)
		return -EPROTO;
	// all or nothing: a reader that claims a line not (wholly) sent is wrong
	// about the others too
	size_t at = o->acked;
	for (uint64_t k = o->conn_acked; k < v; k++) {
		const char *nl = memchr(o->buf + at, '\n', o->off - at);
		if (nl == NULL)
			return -EPROTO;
		at = (size_t)(nl - o->buf) + 1;
	}
	o->unacked_lines -= v - o->conn_acked;
	o->conn_acked = v;
	o->acked = at;
	return 0;
}

// Reads the reader's acknowledgements without blocking. @return 0, -EPIPE
// (the reader closed its end), -EPROTO (see ack_line()) or -errno.
static int fdout_read_acks(struct fdout *o)
{
	char b[4096];
	// bounded: a reader that floods acknowledgements cannot keep the
	// control thread here (the rest is read at the next push)
	for (int reads = 0; reads < 16; reads++) {
		ssize_t n = recv(o->fd, b, sizeof(b), MSG_DONTWAIT);
		if (n == 0)
			return -EPIPE;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EWOULDBLOCK ? 0 : -errno;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (b[i] == '\n') {
				int rc = ack_line(o, o->in, o->in_len);
				o->in_len = 0;
				if (rc < 0)
					return rc;
			} else if (o->in_len < sizeof(o->in)) {
				o->in[o->in_len++] = b[i];
			} else {
				return -EPROTO;
			}
		}
	}
	return 0;
}

// Writes what it can of buf without blocking. @return 0 when all is out
// (ack: and acknowledged), -EAGAIN when some is left, -errno on failure
// (kept until reopen).
static int fdout_push(struct fdout *o, uint64_t *held)
{
	if (o->err != 0)
		return o->err;
	if (o->kind == FD_FIFO && o->fd >= 0 && o->off == o->len) {
		// Nothing to write: is the reader still there? One that left
		// while the engine was quiet was seen only at the next write, and
		// a new reader that came first got the pipe as the old one left
		// it: the rest of a line or record, and a binary stream without
		// its header (the exporter flushes an idle sink every 100 ms)
		struct pollfd pf = {.fd = o->fd, .events = POLLOUT};
		if (poll(&pf, 1, 0) == 1 && (pf.revents & POLLERR)) {
			o->err = -EPIPE;
			*held = fdout_held(o);
			close(o->fd);
			o->fd = -1;
			return o->err;
		}
	}
	if (o->ack) {
		int rc = fdout_read_acks(o);
		if (rc < 0) {
			o->err = rc;
			*held = fdout_held(o);
			return rc;
		}
	}
	while (o->off < o->len) {
		ssize_t w = fd_write(o, o->buf + o->off, o->len - o->off);
		if (w == -EAGAIN)
			break;
		if (w < 0) {
			o->err = (int)w;
			*held = fdout_held(o);
			if (o->kind == FD_FIFO && o->fd >= 0) {
				// its reader is gone: let the pipe go with what it held
				// unread, or the next reader would get those bytes (the
				// rest of a line or record) before its stream
				close(o->fd);
				o->fd = -1;
			}
			return o->err;
		}
		o->off += (size_t)w;
	}
	if (o->off == o->len && (!o->ack || o->acked == o->len)) {
		o->buf_pos += o->len;
		o->off = o->len = o->acked = 0;
		*held = 0;
		return 0;
	}
	*held = fdout_held(o);
	return -EAGAIN;
}

// What buf may hold: a binary stream keeps room to put its header in
// front again for a new reader (fdout_restart()).
static size_t fdout_cap(const struct fdout *o)
{
	return o->bufsz - o->header_len;
}

// Free room below fdout_cap(). A restart may leave buf fuller than that
// (the header put back in front of a full buffer, up to bufsz): then none,
// until what the new reader takes brings it back below.
static size_t fdout_left(const struct fdout *o)
{
	size_t cap = fdout_cap(o);
	return o->len < cap ? cap - o->len : 0;
}

// Makes @p room bytes free at the end of buf, writing out what it can.
// @return true when they are free.
static bool fdout_room(struct fdout *o, size_t room, uint64_t *held)
{
	if (fdout_left(o) >= room)
		return true;
	if (o->ack ? o->acked > 0 : o->off > 0)
		fdout_compact(o);
	if (fdout_left(o) >= room)
		return true;
	// a sink that fails on this push takes nothing more: what the write
	// would add stays in the ring (held, set by the push, stays true).
	// It went on into the room the push made (an ack sink's reader that
	// acknowledged everything and left): lines in the buffer of a failed
	// sink that held did not count, and a quiet engine took it for idle
	// and exited 0 without them
	if (fdout_push(o, held) < 0 && o->err != 0)
		return false;
	if (o->ack ? o->acked > 0 : o->off > 0)
		fdout_compact(o);
	return fdout_left(o) >= room;
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

// A new reader (FIFO reopened, socket reconnected) starts a new stream:
// from the unit in progress, after the header when there is one.
static void fdout_restart(struct fdout *o)
{
	if (o->ack) {
		// every line not acknowledged goes to the new reader, whole
		uint64_t again = o->unacked_lines;
		if (o->off > o->acked) {
			uint64_t sent = count_lines(o->buf + o->acked, o->off - o->acked);
			o->resent += sent;
			if (sent > 0)
				fprintf(stderr,
					"cee: events sink 'jsonl:unix+ack:%s': sending again %" PRIu64
					" line(s) the last reader did not acknowledge (%" PRIu64
					" waiting in all)\n",
					o->path, sent, again);
		}
		o->off = o->acked;
		o->conn_acked = 0;
		o->in_len = 0;
		fdout_compact(o);
		return;
	}
	size_t from = unit_start(o, o->off);
	if (o->header_len == 0 ||
	    (o->append_pos == UINT64_MAX && o->buf_pos + from < o->header_len)) {
		// Lines; or the header itself was not wholly out: it starts buf.
		o->off = from;
		fdout_compact(o);
		return;
	}
	// Appended to a file that had a header (an earlier writer's, cut short
	// after it: 16 bytes), the header is that file's, not in buf: the new
	// stream needs it, and the header carries this run's record, which
	// buf starts with while it is not wholly out. (Taken from the stream
	// position alone, a file shorter than the header and a run record read
	// as "the header not out, it starts buf", and the new file began with
	// the run record, which no reader takes.)
	if (o->append_pos != UINT64_MAX && o->buf_pos + from == o->append_pos)
		from += sizeof(struct cee_evbin_run);
	o->append_pos = UINT64_MAX;
	// Room for it is kept free at the end of buf (fdout_cap()); buf may be
	// fuller than fdout_cap() afterwards (fdout_left()).
	memmove(o->buf + o->header_len, o->buf + from, o->len - from);
	memcpy(o->buf, o->header, o->header_len);
	o->len = o->len - from + o->header_len;
	o->off = 0;
	o->buf_pos = 0; // units are counted from the new header on
}

static int unix_connect(const char *path, bool nonblock);

// After a failure: reconnect or reopen where that can help. @return 0 or -errno.
static int fdout_reopen(struct fdout *o, uint64_t *held)
{
	int fd;
	switch (o->kind) {
	case FD_FILE:
	case FD_STDOUT:
		o->err = 0; // retried in place
		break;
	case FD_FIFO:
	case FD_UNIX:
		// never blocks: ENXIO, ECONNREFUSED: no reader yet; EBUSY: its
		// listen backlog is full (a blocking connect() would hold the
		// control thread until the reader accepts)
		fd = o->kind == FD_FIFO ? open(o->path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
					: unix_connect(o->path, true);
		if (fd < 0)
			return o->kind == FD_FIFO ? -errno : fd;
		if (set_nonblock(fd) < 0) {
			close(fd);
			return -EIO;
		}
		if (o->fd >= 0)
			close(o->fd);
		o->fd = fd;
		o->err = 0;
		fdout_restart(o);
		break;
	}
	int rc = fdout_push(o, held);
	return rc == -EAGAIN ? 0 : rc;
}

// A JSONL file that an earlier writer left in the middle of a line (a run
// cut short by a full disk at its shutdown timeout, or killed within a
// write) gets a newline before our first line: appended to the fragment,
// that line could not be read, and a reader lost our first event with it.
// Said on stderr; the fragment itself stays as it was.
static void jsonl_end_torn_line(int fd, const char *path)
{
	struct stat st;
	char last = '\n';
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0)
		return;
	int rfd = open(path, O_RDONLY | O_CLOEXEC); // (ours is write-only: a FIFO's must be)
	if (rfd < 0)
		return;
	ssize_t got = pread(rfd, &last, 1, st.st_size - 1);
	close(rfd);
	if (got != 1 || last == '\n')
		return;
	fprintf(stderr,
		"cee: jsonl:%s ended within a line (an earlier writer cut short): that line is "
		"left as it is, and ours begin on the next\n",
		path);
	while (write(fd, "\n", 1) < 0 && errno == EINTR) {
	}
}

// Log rotation: the file was renamed away (logrotate without copytruncate,
// which loses what is written between its copy and its truncate): what the
// old file can take goes there, then a file at the same path takes the
// rest: a new one (or one the rotation created empty) gets the header when
// there is one; a non-empty one is appended to where that is sound (lines),
// and refused where it is not (a binary stream cannot take a second header
// mid-file). @return 1: a new file; 0: the path is still ours; -errno.
static int fdout_rotate(struct fdout *o, uint64_t *held)
{
	struct stat cur, now;
	if (o->kind != FD_FILE)
		return 0;
	if (stat(o->path, &now) == 0 && fstat(o->fd, &cur) == 0 && now.st_dev == cur.st_dev &&
	    now.st_ino == cur.st_ino)
		return 0; // not rotated
	(void)fdout_push(o, held); // what the old file takes
	int fd = open(o->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &now) < 0 || (o->header_len > 0 && now.st_size > 0)) {
		int e = now.st_size > 0 ? EEXIST : errno;
		close(fd);
		return -e;
	}
	if (o->header_len == 0)
		jsonl_end_torn_line(fd, o->path);
	// A unit the old file took in part (a short write, then a full disk)
	// is cut off it: it goes whole to the new file, and the two files are
	// the stream with nothing doubled.
	size_t part = o->off - unit_start(o, o->off);
	struct stat old;
	if (part > 0 && fstat(o->fd, &old) == 0 && (uint64_t)old.st_size >= part)
		(void)ftruncate(o->fd, old.st_size - (off_t)part);
	close(o->fd);
	o->fd = fd;
	o->err = 0;
	fdout_restart(o); // the header first (if any), then from the unit in progress
	(void)fdout_push(o, held); // (a failure now is the new file's: retried as any)
	return 1;
}

static struct fdout *fdout_new(int fd, enum fd_kind kind, const char *path, bool ack)
{
	size_t bufsz = ack ? SINK_ACK_WINDOW : SINK_BUF_SIZE;
	struct fdout *o = calloc(1, sizeof(*o) + bufsz);
	if (o == NULL)
		return NULL;
	o->bufsz = bufsz;
	o->ack = ack;
	o->fd = fd;
	o->kind = kind;
	o->append_pos = UINT64_MAX;
	if (path != NULL)
		snprintf(o->path, sizeof(o->path), "%s", path);
	int type;
	socklen_t tl = sizeof(type);
	o->is_socket = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0;
	struct stat st;
	bool st_ok = fstat(fd, &st) == 0;
	o->is_pipe = st_ok && S_ISFIFO(st.st_mode);
	o->is_file = st_ok && S_ISREG(st.st_mode);
	// Never block the control thread on a reader: pipes, sockets and
	// terminals are made non-blocking (stdout's flags are put back at
	// close). A terminal left blocking (a pty nobody read, Ctrl-S) held
	// the control thread, the other sinks and SIGTERM in one write().
	// Regular files are left as they are.
	if (o->is_socket || o->is_pipe || isatty(fd)) {
		o->saved_fl = fcntl(fd, F_GETFL);
		o->restore_fl = kind == FD_STDOUT && o->saved_fl >= 0;
		(void)set_nonblock(fd);
	}
	return o;
}

static void fdout_free(struct fdout *o)
{
	if (o->restore_fl)
		(void)fcntl(o->fd, F_SETFL, o->saved_fl);
	if (o->kind != FD_STDOUT && o->fd >= 0)
		close(o->fd);
	free(o);
}

static struct cee_sink *sink_new(const struct cee_sink_ops *ops, void *priv)
{
	struct cee_sink *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	s->ops = ops;
	s->priv = priv;
	return s;
}

/* ---- JSON Lines encoder, shared with other sinks ---- */

// Extension records of one shard waiting for their event: a group may be
// split across two write() calls (ring wrap, exporter budget), and calls
// for different shards interleave, so each shard has its own.
struct ext_pending {
	struct cee_event_ext rec[CEE_EVT_EXT_MAX];
	unsigned n;
};

struct cee_jsonl_enc {
	uint32_t npending; // records held in pend[], over all shards
	struct ext_pending pend[CEE_MAX_SHARDS];
};

struct cee_jsonl_enc *cee_jsonl_enc_new(void)
{
	return calloc(1, sizeof(struct cee_jsonl_enc));
}

void cee_jsonl_enc_free(struct cee_jsonl_enc *j)
{
	free(j);
}

uint32_t cee_jsonl_enc_pending(const struct cee_jsonl_enc *j)
{
	return j->npending;
}

// Writes @p e (NULL: none) merged with @p nrec records at @p buf
// (CEE_EVT_JSON_EXT_MAX free). @return bytes.
static size_t put_ext(char *buf, const struct cee_event *e, const struct cee_event_ext *rec,
		      unsigned nrec)
{
	const struct cee_event_ext *ptr[CEE_EVT_EXT_MAX];
	for (unsigned i = 0; i < nrec; i++)
		ptr[i] = &rec[i];
	int w = cee_evt_to_json_ext(e, ptr, nrec, buf, CEE_EVT_JSON_EXT_MAX);
	return w < 0 ? 0 : (size_t)w; // cannot fail with CEE_EVT_JSON_EXT_MAX free
}

// A group that did not reach its event: written on its own and counted.
static size_t drop_pending(struct cee_jsonl_enc *j, struct ext_pending *pd, char *buf,
			   uint64_t *bad_ext)
{
	unsigned n = pd->n;
	if (n == 0)
		return 0;
	pd->n = 0;
	j->npending -= n;
	(*bad_ext)++;
	return put_ext(buf, NULL, pd->rec, n);
}

// Does @p x continue the group held in @p pd? Never past its parts: a
// record claiming part == parts after a full group must not be taken (nor
// stored past rec[CEE_EVT_EXT_MAX - 1]).
static bool ext_continues(const struct ext_pending *pd, const struct cee_event_ext *x)
{
	const struct cee_event_ext *first = &pd->rec[0];
	return pd->n < first->parts && x->conn == first->conn && x->of == first->of &&
	       x->parts == first->parts && x->part == pd->n &&
	       x->sseq == pd->rec[pd->n - 1].sseq + 1;
}

static size_t enc_ext(struct cee_jsonl_enc *j, const struct cee_event_ext *x, char *buf,
		      uint64_t *bad_ext)
{
	struct ext_pending *pd = &j->pend[cee_id_shard(x->conn)];
	size_t w = 0;

	if (pd->n > 0 && !ext_continues(pd, x))
		w = drop_pending(j, pd, buf, bad_ext);
	if (pd->n == 0 && (x->part != 0 || x->parts == 0 || x->parts > CEE_EVT_EXT_MAX)) {
		(*bad_ext)++; // a group cannot start here
		return w + put_ext(buf + w, NULL, x, 1);
	}
	pd->rec[pd->n++] = *x;
	j->npending++;
	return w;
}

static size_t enc_event(struct cee_jsonl_enc *j, const struct cee_event *e, char *buf,
			uint64_t *bad_ext)
{
	struct ext_pending *pd = &j->pend[cee_id_shard(e->conn)];
	size_t w = 0;

	if (pd->n > 0) {
		const struct cee_event_ext *first = &pd->rec[0];
		if (pd->n == first->parts && first->conn == e->conn && first->of == e->type &&
		    e->sseq == pd->rec[pd->n - 1].sseq + 1) {
			unsigned n = pd->n;
			pd->n = 0;
			j->npending -= n;
			return put_ext(buf, e, pd->rec, n);
		}
		w = drop_pending(j, pd, buf, bad_ext);
	}
	int r = cee_evt_to_json(e, buf + w, CEE_EVT_JSON_EXT_MAX);
	return w + (r < 0 ? 0 : (size_t)r);
}

size_t cee_jsonl_enc_put(struct cee_jsonl_enc *j, const struct cee_event *e, char *buf,
			 uint64_t *bad_ext)
{
	if (j->npending == 0 && e->type != CEE_EVT_EXT) {
		// The plain path: no extension records around.
		int w = cee_evt_to_json(e, buf, CEE_EVT_JSON_EXT_MAX);
		return w < 0 ? 0 : (size_t)w;
	}
	const struct cee_event_ext *x = cee_event_as_ext(e);
	return x != NULL ? enc_ext(j, x, buf, bad_ext) : enc_event(j, e, buf, bad_ext);
}

size_t cee_jsonl_enc_drain_shard(struct cee_jsonl_enc *j, unsigned shard, char *buf,
				 uint64_t *bad_ext)
{
	if (shard >= CEE_MAX_SHARDS)
		return 0;
	return drop_pending(j, &j->pend[shard], buf, bad_ext);
}

size_t cee_jsonl_enc_drain(struct cee_jsonl_enc *j, char *buf, size_t len, uint64_t *bad_ext)
{
	size_t w = 0;
	for (unsigned sh = 0; sh < CEE_MAX_SHARDS && j->npending > 0; sh++) {
		if (j->pend[sh].n == 0)
			continue;
		if (len - w < CEE_EVT_JSON_EXT_MAX)
			break;
		w += drop_pending(j, &j->pend[sh], buf + w, bad_ext);
	}
	return w;
}

/* ---- jsonl ---- */

struct jsonl {
	struct fdout *o;
	struct cee_jsonl_enc *enc;
};

static int jsonl_write(struct cee_sink *s, const struct cee_event *ev, uint32_t n)
{
	struct jsonl *j = s->priv;
	struct fdout *o = j->o;
	if (o->err != 0)
		return o->err;
	uint32_t i;
	for (i = 0; i < n; i++) {
		const struct cee_event *e = &ev[i];
		if (cee_jsonl_enc_pending(j->enc) == 0 && e->type != CEE_EVT_EXT) {
			// The plain path: no extension records around.
			if (fdout_left(o) < JSON_LINE_ROOM &&
			    !fdout_room(o, JSON_LINE_ROOM, &s->held))
				break;
			int w = cee_evt_to_json(e, o->buf + o->len, o->bufsz - o->len);
			if (w < 0)
				return w; // cannot happen with JSON_LINE_ROOM free
			o->len += (size_t)w;
			o->unacked_lines++;
			continue;
		}
		if (!fdout_room(o, CEE_JSONL_ENC_ROOM, &s->held))
			break;
		size_t w = cee_jsonl_enc_put(j->enc, e, o->buf + o->len, &s->bad_ext);
		o->unacked_lines += count_lines(o->buf + o->len, w);
		o->len += w;
	}
	if (i == 0 && o->err != 0)
		return o->err;
	return (int)i;
}

static int jsonl_flush(struct cee_sink *s)
{
	return fdout_push(((struct jsonl *)s->priv)->o, &s->held);
}

static int jsonl_reopen(struct cee_sink *s)
{
	struct fdout *o = ((struct jsonl *)s->priv)->o;
	int rc = fdout_reopen(o, &s->held);
	s->resent = o->resent;
	return rc;
}

static int jsonl_rotate(struct cee_sink *s)
{
	return fdout_rotate(((struct jsonl *)s->priv)->o, &s->held);
}

static void jsonl_close(struct cee_sink *s)
{
	struct jsonl *j = s->priv;
	// Records whose event never came: written, not dropped.
	while (cee_jsonl_enc_pending(j->enc) > 0 && fdout_room(j->o, CEE_JSONL_ENC_ROOM, &s->held)) {
		size_t w = cee_jsonl_enc_drain(j->enc, j->o->buf + j->o->len,
					       j->o->bufsz - j->o->len, &s->bad_ext);
		if (w == 0)
			break;
		j->o->unacked_lines += count_lines(j->o->buf + j->o->len, w);
		j->o->len += w;
	}
	(void)fdout_push(j->o, &s->held);
	fdout_free(j->o);
	cee_jsonl_enc_free(j->enc);
	free(j);
	free(s);
}

static const struct cee_sink_ops jsonl_ops = {
	.write = jsonl_write,
	.flush = jsonl_flush,
	.reopen = jsonl_reopen,
	.close = jsonl_close,
	.rotate = jsonl_rotate,
};

// A connected stream socket on @p path, or -errno. @p nonblock: fail with
// -EBUSY rather than wait when the listener's backlog is full (AF_UNIX
// connects never return EINPROGRESS).
static int unix_connect(const char *path, bool nonblock)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (path[0] == '\0')
		return -EINVAL;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);

	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		return -errno;
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		// (EINTR: a stop, SIGTERM or SIGINT, whose handler does not
		// restart calls; SIGHUP's does. At start-up, a reader whose backlog
		// is full, that accepts nothing, held the engine: SIGTERM was
		// taken and connect() waited again, for ever)
		int e = errno == EAGAIN ? EBUSY : errno;
		close(fd);
		return -e;
	}
	return fd;
}

static struct cee_sink *jsonl_open(const char *arg)
{
	int fd;
	enum fd_kind kind = FD_FILE;
	const char *path = arg;
	bool ack = false;

	if (strcmp(arg, "-") == 0) {
		fd = STDOUT_FILENO;
		kind = FD_STDOUT;
	} else if (strncmp(arg, "unix:", 5) == 0 || strncmp(arg, "unix+ack:", 9) == 0) {
		ack = arg[4] == '+';
		path = arg + (ack ? 9 : 5);
		fd = unix_connect(path, false); // at start: the reader accepts
		if (fd < 0) {
			errno = -fd;
			return NULL;
		}
		kind = FD_UNIX;
	} else {
		if (arg[0] == '\0') {
			errno = EINVAL;
			return NULL;
		}
		// A FIFO blocks here until a reader opens it: acceptable at
		// start-up, the control plane is expected to be listening.
		// Afterwards it is non-blocking, and reopened when the reader goes.
		fd = open(arg, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd < 0)
			return NULL;
		struct stat st;
		if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode))
			kind = FD_FIFO;
		jsonl_end_torn_line(fd, arg);
	}
	struct jsonl *j = calloc(1, sizeof(*j));
	struct fdout *o = fdout_new(fd, kind, path, ack);
	struct cee_jsonl_enc *enc = cee_jsonl_enc_new();
	struct cee_sink *s = j && o && enc ? sink_new(&jsonl_ops, j) : NULL;
	if (s == NULL) {
		if (o != NULL)
			fdout_free(o);
		else if (kind != FD_STDOUT)
			close(fd);
		free(enc);
		free(j);
		errno = ENOMEM;
		return NULL;
	}
	j->o = o;
	j->enc = enc;
	return s;
}

/* ---- binary ---- */

static int binary_write(struct cee_sink *s, const struct cee_event *ev, uint32_t n)
{
	struct fdout *o = s->priv;
	if (o->err != 0)
		return o->err;
	uint32_t i = 0;
	while (i < n) {
		if (!fdout_room(o, sizeof(*ev), &s->held))
			break;
		uint32_t fit = (uint32_t)(fdout_left(o) / sizeof(*ev));
		if (fit > n - i)
			fit = n - i;
		memcpy(o->buf + o->len, ev + i, (size_t)fit * sizeof(*ev));
		o->len += (size_t)fit * sizeof(*ev);
		i += fit;
	}
	if (i == 0 && o->err != 0)
		return o->err;
	return (int)i;
}

static int binary_flush(struct cee_sink *s)
{
	return fdout_push(s->priv, &s->held);
}

static int binary_rotate(struct cee_sink *s)
{
	return fdout_rotate(s->priv, &s->held);
}

static int binary_reopen(struct cee_sink *s)
{
	return fdout_reopen(s->priv, &s->held);
}

static void binary_close(struct cee_sink *s)
{
	struct fdout *o = s->priv;
	(void)fdout_push(o, &s->held);
	fdout_free(o);
	free(s);
}

static const struct cee_sink_ops binary_ops = {
	.write = binary_write,
	.flush = binary_flush,
	.reopen = binary_reopen,
	.rotate = binary_rotate,
	.close = binary_close,
};

static const struct cee_evbin_header *binary_header(void)
{
	static struct cee_evbin_header h;
	if (h.version == 0) {
		memcpy(h.magic, CEE_EVBIN_MAGIC, sizeof(h.magic));
		h.record_size = sizeof(struct cee_event);
		h.version = CEE_EVBIN_VERSION;
	}
	return &h;
}

static struct cee_sink *binary_open(const char *arg)
{
	const struct cee_evbin_header *want = binary_header();
	struct cee_evbin_header have;
	struct stat st;

	if (arg[0] == '\0') {
		errno = EINVAL;
		return NULL;
	}
	// O_WRONLY: a FIFO must not see us as a reader of our own output.
	int fd = open(arg, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0)
		goto fail;

	bool append = false;
	if (S_ISREG(st.st_mode) && st.st_size > 0) {
		// Appending to an earlier file: only if it is ours, same layout,
		// and ends on a record boundary.
		int rfd = open(arg, O_RDONLY | O_CLOEXEC);
		ssize_t got = rfd < 0 ? -1 : pread(rfd, &have, sizeof(have), 0);
		if (rfd >= 0)
			close(rfd);
		if (got == (ssize_t)sizeof(have) && memcmp(have.magic, want->magic, sizeof(have.magic)) == 0 &&
		    have.version != want->version)
			fprintf(stderr,
				"cee: binary:%s is an event file of version %u; this engine writes "
				"version %u and appends only to its own: move the file away\n",
				arg, have.version, want->version);
		off_t torn = (st.st_size - (off_t)sizeof(*want)) % (off_t)sizeof(struct cee_event);
		if (got == (ssize_t)sizeof(have) && memcmp(&have, want, sizeof(*want)) == 0 && torn != 0)
			fprintf(stderr,
				"cee: binary:%s ends within a record (%lld bytes past the last whole "
				"one: an earlier writer cut short): truncate it to %lld bytes, or move "
				"it away\n",
				arg, (long long)torn, (long long)(st.st_size - torn));
		if (got != (ssize_t)sizeof(have) || memcmp(&have, want, sizeof(*want)) != 0 ||
		    torn != 0) {
			errno = EINVAL;
			goto fail;
		}
		append = true;
	}
	struct fdout *o = fdout_new(fd, S_ISFIFO(st.st_mode) ? FD_FIFO : FD_FILE, arg, false);
	struct cee_sink *s = o != NULL ? sink_new(&binary_ops, o) : NULL;
	if (s == NULL) {
		if (o != NULL)
			fdout_free(o);
		else
			close(fd);
		errno = ENOMEM;
		return NULL;
	}
	// The file header, then this run's record: both go to a new file (and
	// to each new FIFO reader); an append starts with the run record.
	struct cee_evbin_run run = {.type = CEE_EVBIN_RUN};
	const char *id = cee_evt_json_engine(); // at most CEE_ENGINE_ID_MAX characters
	memcpy(run.engine, id, strnlen(id, sizeof(run.engine)));
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	run.ts_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
	memcpy(o->head, want, sizeof(*want));
	memcpy(o->head + sizeof(*want), &run, sizeof(run));
	o->unit = sizeof(struct cee_event);
	o->header = o->head;
	o->header_len = sizeof(o->head);
	if (append) {
		o->buf_pos = (uint64_t)st.st_size;
		o->append_pos = (uint64_t)st.st_size;
		memcpy(o->buf, &run, sizeof(run));
		o->len = sizeof(run);
	} else {
		memcpy(o->buf, o->head, sizeof(o->head));
		o->len = sizeof(o->head);
	}
	return s;
fail:;
	int e = errno;
	close(fd);
	errno = e;
	return NULL;
}

/* ---- null ---- */

static int null_write(struct cee_sink *s, const struct cee_event *ev, uint32_t n)
{
	return (int)n;
}

static void null_close(struct cee_sink *s)
{
	free(s);
}

static const struct cee_sink_ops null_ops = {
	.write = null_write,
	.flush = NULL,
	.close = null_close,
};

static struct cee_sink *null_open(const char *arg)
{
	if (arg[0] != '\0') {
		errno = EINVAL;
		return NULL;
	}
	return sink_new(&null_ops, NULL);
}
