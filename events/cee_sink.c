/* SPDX-License-Identifier: BSD-3-Clause */
// Sink registry and the built-in kinds: jsonl (stdout, file/FIFO, Unix
// socket), binary, null. All run on the control thread and may block.
//
// Ownership: a kind's open function allocates the struct cee_sink and its
// priv; its close op flushes and frees both. cee_sink_close() only calls it.
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
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
#define SINK_SCHEMES_MAX 16
#define SINK_SCHEME_LEN 32
// Room cee_evt_to_json() needs to write straight into the buffer (a plain
// event); a line with extension records needs CEE_EVT_JSON_EXT_MAX.
#define JSON_LINE_ROOM 512
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
	strcpy(s->spec, spec);
	return s;
}

int cee_sink_write(struct cee_sink *s, const struct cee_event *ev, uint32_t n)
{
	if (n == 0)
		return 0;
	int rc = s->ops->write(s, ev, n);
	if (rc == 0) {
		// written counts lifecycle events: one byte compare per record the
		// sink has just read anyway.
		uint32_t events = 0;
		for (uint32_t i = 0; i < n; i++)
			events += ev[i].type != CEE_EVT_EXT;
		s->written += events;
	}
	return rc;
}

int cee_sink_flush(struct cee_sink *s)
{
	return s->ops->flush != NULL ? s->ops->flush(s) : 0;
}

void cee_sink_close(struct cee_sink *s)
{
	if (s != NULL)
		s->ops->close(s);
}

/* ---- buffered fd writer shared by jsonl and binary ---- */

struct fdout {
	int fd;
	bool own_fd;    // false for stdout
	bool is_socket; // send() with MSG_NOSIGNAL: a gone reader is EPIPE, not a signal
	bool is_pipe;   // FIFO or pipe: SIGPIPE blocked around write(), same effect
	int err;        // first write error; the sink stays broken after it
	size_t len;
	char buf[SINK_BUF_SIZE];
};

static int write_all(struct fdout *o, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w;
		if (o->is_socket)
			w = send(o->fd, p, n, MSG_NOSIGNAL);
		else
			w = write(o->fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (w == 0)
			return -EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

// write_all() to a pipe whose reader may be gone: a write then raises
// SIGPIPE, which would kill the engine before it could shut down cleanly.
// Block it in this thread for the write and swallow the one we caused, so
// the caller sees -EPIPE and the process-wide disposition is left alone.
static int write_all_pipe(struct fdout *o, const char *p, size_t n)
{
	sigset_t pipe_set, old, pending;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigemptyset(&pending);
	sigpending(&pending);
	bool was_pending = sigismember(&pending, SIGPIPE) == 1;
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);

	int rc = write_all(o, p, n);
	if (rc == -EPIPE && !was_pending) {
		const struct timespec zero = {0, 0};
		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

static int fdout_flush(struct fdout *o)
{
	if (o->err != 0)
		return o->err;
	if (o->len == 0)
		return 0;
	int rc = o->is_pipe ? write_all_pipe(o, o->buf, o->len) : write_all(o, o->buf, o->len);
	if (rc < 0) {
		// Part of the buffer may be out: retrying could duplicate lines.
		o->err = rc;
		return rc;
	}
	o->len = 0;
	return 0;
}

static struct fdout *fdout_new(int fd, bool own_fd)
{
	struct fdout *o = malloc(sizeof(*o));
	if (o == NULL)
		return NULL;
	o->fd = fd;
	o->own_fd = own_fd;
	o->err = 0;
	o->len = 0;
	int type;
	socklen_t tl = sizeof(type);
	o->is_socket = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0;
	struct stat st;
	o->is_pipe = fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
	return o;
}

static void fdout_free(struct fdout *o)
{
	if (o->own_fd)
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

static int fd_sink_flush(struct cee_sink *s)
{
	return fdout_flush(s->priv);
}

static void fd_sink_close(struct cee_sink *s)
{
	struct fdout *o = s->priv;
	fdout_flush(o);
	fdout_free(o);
	free(s);
}

static struct cee_sink *fd_sink_new(const struct cee_sink_ops *ops, int fd, bool own_fd)
{
	struct fdout *o = fdout_new(fd, own_fd);
	if (o == NULL) {
		if (own_fd)
			close(fd);
		errno = ENOMEM;
		return NULL;
	}
	struct cee_sink *s = sink_new(ops, o);
	if (s == NULL) {
		fdout_free(o);
		errno = ENOMEM;
	}
	return s;
}

/* ---- jsonl ---- */

// Extension records of one shard waiting for their event: a group may be
// split across two write() calls (ring wrap, exporter budget), and calls
// for different shards interleave, so each shard has its own.
struct ext_pending {
	struct cee_event_ext rec[CEE_EVT_EXT_MAX];
	unsigned n;
};

struct jsonl {
	struct fdout *o;
	uint32_t npending; // records held in pend[], over all shards
	struct ext_pending pend[CEE_MAX_SHARDS];
};

static int jsonl_room(struct fdout *o, size_t room)
{
	if (sizeof(o->buf) - o->len < room)
		return fdout_flush(o);
	return 0;
}

// Writes @p e (NULL: none) merged with @p nrec records.
static int jsonl_put_ext(struct fdout *o, const struct cee_event *e,
			 const struct cee_event_ext *rec, unsigned nrec)
{
	const struct cee_event_ext *ptr[CEE_EVT_EXT_MAX];
	for (unsigned i = 0; i < nrec; i++)
		ptr[i] = &rec[i];
	int rc = jsonl_room(o, CEE_EVT_JSON_EXT_MAX);
	if (rc < 0)
		return rc;
	int w = cee_evt_to_json_ext(e, ptr, nrec, o->buf + o->len, sizeof(o->buf) - o->len);
	if (w < 0)
		return w; // cannot happen with CEE_EVT_JSON_EXT_MAX free
	o->len += (size_t)w;
	return 0;
}

// A group that did not reach its event: written on its own and counted.
static int jsonl_put_bad(struct cee_sink *s, struct jsonl *j, const struct cee_event_ext *rec,
			 unsigned nrec)
{
	s->bad_ext++;
	return jsonl_put_ext(j->o, NULL, rec, nrec);
}

static int jsonl_drop_pending(struct cee_sink *s, struct jsonl *j, struct ext_pending *pd)
{
	unsigned n = pd->n;
	if (n == 0)
		return 0;
	pd->n = 0;
	j->npending -= n;
	return jsonl_put_bad(s, j, pd->rec, n);
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

static int jsonl_ext(struct cee_sink *s, struct jsonl *j, const struct cee_event_ext *x)
{
	struct ext_pending *pd = &j->pend[cee_id_shard(x->conn)];
	int rc;

	if (pd->n > 0 && !ext_continues(pd, x) && (rc = jsonl_drop_pending(s, j, pd)) < 0)
		return rc;
	if (pd->n == 0 && (x->part != 0 || x->parts == 0 || x->parts > CEE_EVT_EXT_MAX))
		return jsonl_put_bad(s, j, x, 1); // a group cannot start here
	pd->rec[pd->n++] = *x;
	j->npending++;
	return 0;
}

static int jsonl_event(struct cee_sink *s, struct jsonl *j, const struct cee_event *e)
{
	struct ext_pending *pd = &j->pend[cee_id_shard(e->conn)];
	int rc;

	if (pd->n > 0) {
		const struct cee_event_ext *first = &pd->rec[0];
		if (pd->n == first->parts && first->conn == e->conn && first->of == e->type &&
		    e->sseq == pd->rec[pd->n - 1].sseq + 1) {
			unsigned n = pd->n;
			pd->n = 0;
			j->npending -= n;
			return jsonl_put_ext(j->o, e, pd->rec, n);
		}
		if ((rc = jsonl_drop_pending(s, j, pd)) < 0)
			return rc;
	}
	if ((rc = jsonl_room(j->o, JSON_LINE_ROOM)) < 0)
		return rc;
	int w = cee_evt_to_json(e, j->o->buf + j->o->len, sizeof(j->o->buf) - j->o->len);
	if (w < 0)
		return w;
	j->o->len += (size_t)w;
	return 0;
}

static int jsonl_write(struct cee_sink *s, const struct cee_event *ev, uint32_t n)
{
	struct jsonl *j = s->priv;
	struct fdout *o = j->o;
	if (o->err != 0)
		return o->err;
	for (uint32_t i = 0; i < n; i++) {
		const struct cee_event *e = &ev[i];
		if (j->npending == 0 && e->type != CEE_EVT_EXT) {
			// The plain path: no extension records around.
			if (sizeof(o->buf) - o->len < JSON_LINE_ROOM) {
				int rc = fdout_flush(o);
				if (rc < 0)
					return rc;
			}
			int w = cee_evt_to_json(e, o->buf + o->len, sizeof(o->buf) - o->len);
			if (w < 0)
				return w; // cannot happen with JSON_LINE_ROOM free
			o->len += (size_t)w;
			continue;
		}
		const struct cee_event_ext *x = cee_event_as_ext(e);
		int rc = x != NULL ? jsonl_ext(s, j, x) : jsonl_event(s, j, e);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int jsonl_flush(struct cee_sink *s)
{
	return fdout_flush(((struct jsonl *)s->priv)->o);
}

static void jsonl_close(struct cee_sink *s)
{
	struct jsonl *j = s->priv;
	// Records whose event never came: written, not dropped.
	for (unsigned sh = 0; sh < CEE_MAX_SHARDS && j->npending > 0; sh++)
		(void)jsonl_drop_pending(s, j, &j->pend[sh]);
	fdout_flush(j->o);
	fdout_free(j->o);
	free(j);
	free(s);
}

static const struct cee_sink_ops jsonl_ops = {
	.write = jsonl_write,
	.flush = jsonl_flush,
	.close = jsonl_close,
};

static int unix_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (path[0] == '\0')
		return -EINVAL;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);

	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == EINTR)
			continue;
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

static struct cee_sink *jsonl_open(const char *arg)
{
	int fd;
	bool own = true;

	if (strcmp(arg, "-") == 0) {
		fd = STDOUT_FILENO;
		own = false;
	} else if (strncmp(arg, "unix:", 5) == 0) {
		fd = unix_connect(arg + 5);
		if (fd < 0) {
			errno = -fd;
			return NULL;
		}
	} else {
		if (arg[0] == '\0') {
			errno = EINVAL;
			return NULL;
		}
		// A FIFO blocks here until a reader opens it: acceptable, the
		// control plane is expected to be listening.
		fd = open(arg, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd < 0)
			return NULL;
	}
	struct jsonl *j = calloc(1, sizeof(*j));
	if (j == NULL) {
		if (own)
			close(fd);
		errno = ENOMEM;
		return NULL;
	}
	struct cee_sink *s = fd_sink_new(&jsonl_ops, fd, own);
	if (s == NULL) {
		free(j);
		return NULL;
	}
	j->o = s->priv;
	s->priv = j;
	return s;
}

/* ---- binary ---- */

static int binary_write(struct cee_sink *s, const struct cee_event *ev, uint32_t n)
{
	struct fdout *o = s->priv;
	const char *p = (const char *)ev;
	size_t left = (size_t)n * sizeof(*ev);

	if (o->err != 0)
		return o->err;
	while (left > 0) {
		size_t room = sizeof(o->buf) - o->len;
		if (room == 0) {
			int rc = fdout_flush(o);
			if (rc < 0)
				return rc;
			continue;
		}
		size_t c = left < room ? left : room;
		memcpy(o->buf + o->len, p, c);
		o->len += c;
		p += c;
		left -= c;
	}
	return 0;
}

static const struct cee_sink_ops binary_ops = {
	.write = binary_write,
	.flush = fd_sink_flush,
	.close = fd_sink_close,
};

static void binary_header(struct cee_evbin_header *h)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->magic, CEE_EVBIN_MAGIC, sizeof(h->magic));
	h->version = CEE_EVT_SCHEMA_VERSION;
	h->record_size = sizeof(struct cee_event);
}

static struct cee_sink *binary_open(const char *arg)
{
	struct cee_evbin_header want, have;
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

	binary_header(&want);
	if (S_ISREG(st.st_mode) && st.st_size > 0) {
		// Appending to an earlier file: only if it is ours, same layout,
		// and ends on a record boundary.
		int rfd = open(arg, O_RDONLY | O_CLOEXEC);
		ssize_t got = rfd < 0 ? -1 : pread(rfd, &have, sizeof(have), 0);
		if (rfd >= 0)
			close(rfd);
		if (got != (ssize_t)sizeof(have) || memcmp(&have, &want, sizeof(want)) != 0 ||
		    (st.st_size - (off_t)sizeof(want)) % (off_t)sizeof(struct cee_event) != 0) {
			errno = EINVAL;
			goto fail;
		}
		return fd_sink_new(&binary_ops, fd, true);
	}

	struct cee_sink *s = fd_sink_new(&binary_ops, fd, true);
	if (s == NULL)
		return NULL;
	struct fdout *o = s->priv;
	memcpy(o->buf, &want, sizeof(want));
	o->len = sizeof(want);
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
	return 0;
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
