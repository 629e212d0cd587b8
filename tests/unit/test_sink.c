/* SPDX-License-Identifier: BSD-3-Clause */
// Sinks and the exporter: every exported event reaches every sink exactly
// once, in sseq order, and a failing sink holds events back instead of
// dropping them (design fault 3, lost close events).
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cee_exporter.h"
#include "cee_sink.h"

struct fixture {
	char dir[64];
	char path[128];
};

static int setup_dir(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -1;
	strcpy(f->dir, "/tmp/cee-test-sink-XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown_dir(void **state)
{
	struct fixture *f = *state;
	DIR *d = opendir(f->dir);
	if (d != NULL) {
		struct dirent *de;
		char p[512];
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			snprintf(p, sizeof(p), "%s/%s", f->dir, de->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

static const char *in_dir(struct fixture *f, const char *name)
{
	snprintf(f->path, sizeof(f->path), "%s/%s", f->dir, name);
	return f->path;
}

static void make_events(struct cee_event *ev, uint32_t n, uint64_t first_sseq)
{
	for (uint32_t i = 0; i < n; i++) {
		memset(&ev[i], 0, sizeof(ev[i]));
		ev[i].sseq = first_sseq + i;
		ev[i].conn = cee_id_make(1, 100 + i / 3);
		ev[i].cseq = (uint8_t)(i % 3);
		ev[i].type = (uint8_t)(i % 3 == 2 ? CEE_EVT_CLOSED : i % 3);
		ev[i].reason = i % 3 == 2 ? CEE_REASON_PEER_RST : CEE_REASON_NONE;
		ev[i].ts_ns = 1000 * (first_sseq + i);
		ev[i].local_ip = 0x7f000001;
		ev[i].local_port = 5060;
		ev[i].remote_ip = 0x7f000002;
		ev[i].remote_port = (uint16_t)(30000 + i);
	}
}

static char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	if (fp == NULL)
		return NULL;
	fseek(fp, 0, SEEK_END);
	long sz = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	char *buf = malloc((size_t)sz + 1);
	size_t got = fread(buf, 1, (size_t)sz, fp);
	fclose(fp);
	buf[got] = '\0';
	*len = got;
	return buf;
}

// The JSON Lines text cee_evt_to_json() gives for @p ev.
static char *expected_jsonl(const struct cee_event *ev, uint32_t n)
{
	char *out = malloc((size_t)n * 512 + 1);
	size_t len = 0;
	for (uint32_t i = 0; i < n; i++) {
		int w = cee_evt_to_json(&ev[i], out + len, 512);
		assert_true(w > 0);
		len += (size_t)w;
	}
	out[len] = '\0';
	return out;
}

// Guards against: lines lost, split or reordered across the sink's buffer
// boundary, and events still sitting in the buffer at close.
static void test_jsonl_file(void **state)
{
	struct fixture *f = *state;
	enum { N = 2000 }; // several 64 KiB buffers' worth
	static struct cee_event ev[N];
	make_events(ev, N, 1);

	char spec[256];
	snprintf(spec, sizeof(spec), "jsonl:%s", in_dir(f, "events.jsonl"));
	struct cee_sink *s = cee_sink_open(spec);
	assert_non_null(s);
	assert_string_equal(s->spec, spec);
	assert_int_equal(cee_sink_write(s, ev, 700), 0);
	assert_int_equal(cee_sink_flush(s), 0);
	assert_int_equal(cee_sink_write(s, ev + 700, N - 700), 0);
	assert_int_equal(s->written, N);
	cee_sink_close(s);

	size_t len;
	char *got = slurp(in_dir(f, "events.jsonl"), &len);
	char *want = expected_jsonl(ev, N);
	assert_non_null(got);
	assert_int_equal(len, strlen(want));
	assert_string_equal(got, want);
	free(got);

	// jsonl appends: a restarted engine does not erase the previous run.
	s = cee_sink_open(spec);
	assert_non_null(s);
	assert_int_equal(cee_sink_write(s, ev, 1), 0);
	cee_sink_close(s);
	char *one = expected_jsonl(ev, 1);
	got = slurp(in_dir(f, "events.jsonl"), &len);
	assert_int_equal(len, strlen(want) + strlen(one));
	assert_string_equal(got + strlen(want), one);
	free(one);
	free(got);
	free(want);
}

// Guards against: binary records written with a wrong header or layout, so
// a reader would misparse every event after it.
static void test_binary_file(void **state)
{
	struct fixture *f = *state;
	enum { N = 3000 };
	static struct cee_event ev[N];
	make_events(ev, N, 1);

	char spec[256];
	snprintf(spec, sizeof(spec), "binary:%s", in_dir(f, "events.bin"));
	struct cee_sink *s = cee_sink_open(spec);
	assert_non_null(s);
	for (uint32_t off = 0; off < N; off += 500)
		assert_int_equal(cee_sink_write(s, ev + off, 500), 0);
	cee_sink_close(s);

	size_t len;
	char *got = slurp(in_dir(f, "events.bin"), &len);
	assert_non_null(got);
	struct cee_evbin_header h;
	assert_int_equal(len, sizeof(h) + N * sizeof(struct cee_event));
	memcpy(&h, got, sizeof(h));
	assert_memory_equal(h.magic, CEE_EVBIN_MAGIC, sizeof(h.magic));
	assert_int_equal(h.version, CEE_EVT_SCHEMA_VERSION);
	assert_int_equal(h.record_size, sizeof(struct cee_event));
	assert_memory_equal(got + sizeof(h), ev, N * sizeof(struct cee_event));
	free(got);

	// Reopening appends records after the existing header, without a second one.
	s = cee_sink_open(spec);
	assert_non_null(s);
	assert_int_equal(cee_sink_write(s, ev, 1), 0);
	cee_sink_close(s);
	got = slurp(in_dir(f, "events.bin"), &len);
	assert_int_equal(len, sizeof(h) + (N + 1) * sizeof(struct cee_event));
	free(got);

	// A file that is not ours is refused rather than corrupted.
	int fd = open(in_dir(f, "other.bin"), O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "hello world, not events\n", 24), 24);
	close(fd);
	snprintf(spec, sizeof(spec), "binary:%s", in_dir(f, "other.bin"));
	errno = 0;
	assert_null(cee_sink_open(spec));
	assert_int_equal(errno, EINVAL);
}

// Guards against: a typo in the sink spec silently discarding every event.
static void test_unknown_scheme(void **state)
{
	errno = 0;
	assert_null(cee_sink_open("kafka:localhost"));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(cee_sink_open("no-colon-at-all"));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(cee_sink_open(":x"));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(cee_sink_open("jsonl:/nonexistent-dir-cee/x.jsonl"));
	assert_int_equal(errno, ENOENT);

	struct cee_sink *s = cee_sink_open("null:");
	assert_non_null(s);
	struct cee_event ev[4];
	make_events(ev, 4, 1);
	assert_int_equal(cee_sink_write(s, ev, 4), 0);
	assert_int_equal(cee_sink_flush(s), 0);
	assert_int_equal(s->written, 4);
	cee_sink_close(s);
}

/* A custom sink kind that keeps what it is given, and can be told to fail. */
struct mem_sink {
	struct cee_event ev[4096];
	uint32_t n;
	int fail; // next write returns this when < 0
	int flushes;
	int *closed;
};

static struct mem_sink *last_mem;
static int mem_closed;

static int mem_write(struct cee_sink *s, const struct cee_event *ev, uint32_t n)
{
	struct mem_sink *m = s->priv;
	if (m->fail < 0)
		return m->fail;
	if (m->n + n > 4096)
		return -ENOSPC;
	memcpy(&m->ev[m->n], ev, n * sizeof(*ev));
	m->n += n;
	return 0;
}

static int mem_flush(struct cee_sink *s)
{
	((struct mem_sink *)s->priv)->flushes++;
	return 0;
}

static void mem_close(struct cee_sink *s)
{
	(*((struct mem_sink *)s->priv)->closed)++;
	free(s->priv);
	free(s);
}

static const struct cee_sink_ops mem_ops = {
	.write = mem_write,
	.flush = mem_flush,
	.close = mem_close,
};

static struct cee_sink *mem_open(const char *arg)
{
	struct cee_sink *s = calloc(1, sizeof(*s));
	struct mem_sink *m = calloc(1, sizeof(*m));
	if (s == NULL || m == NULL) {
		free(s);
		free(m);
		errno = ENOMEM;
		return NULL;
	}
	m->closed = &mem_closed;
	s->ops = &mem_ops;
	s->priv = m;
	last_mem = m;
	return s;
}

static int register_mem_once(void)
{
	int rc = cee_sink_register("mem", mem_open);
	return rc == -EEXIST ? 0 : rc;
}

// Guards against: a plugged-in sink kind (e.g. NATS) never being reached,
// or two kinds claiming the same scheme.
static void test_custom_sink(void **state)
{
	assert_int_equal(register_mem_once(), 0);
	assert_int_equal(cee_sink_register("mem", mem_open), -EEXIST);
	assert_int_equal(cee_sink_register("jsonl", mem_open), -EEXIST);

	struct cee_sink *s = cee_sink_open("mem:anything");
	assert_non_null(s);
	struct mem_sink *m = last_mem;
	struct cee_event ev[10];
	make_events(ev, 10, 1);
	assert_int_equal(cee_sink_write(s, ev, 10), 0);
	assert_int_equal(cee_sink_flush(s), 0);
	assert_int_equal(m->n, 10);
	assert_int_equal(m->flushes, 1);
	assert_memory_equal(m->ev, ev, sizeof(ev));
	assert_int_equal(s->written, 10);
	int before = mem_closed;
	cee_sink_close(s);
	assert_int_equal(mem_closed, before + 1);
}

// Guards against: the Unix socket sink losing lines, or killing the process
// with SIGPIPE when the reader goes away (it must report -EPIPE instead).
static void test_jsonl_unix_socket(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	const char *sp = in_dir(f, "sock");
	assert_true(strlen(sp) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, sp, strlen(sp) + 1);
	int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 1), 0);

	char spec[256];
	snprintf(spec, sizeof(spec), "jsonl:unix:%s", sa.sun_path);
	struct cee_sink *s = cee_sink_open(spec);
	assert_non_null(s);
	int cfd = accept(lfd, NULL, NULL);
	assert_true(cfd >= 0);

	struct cee_event ev[20];
	make_events(ev, 20, 1);
	assert_int_equal(cee_sink_write(s, ev, 20), 0);
	assert_int_equal(cee_sink_flush(s), 0);
	char *want = expected_jsonl(ev, 20);
	size_t wl = strlen(want), got = 0;
	char *buf = malloc(wl + 1);
	while (got < wl) {
		ssize_t r = read(cfd, buf + got, wl - got);
		assert_true(r > 0);
		got += (size_t)r;
	}
	buf[got] = '\0';
	assert_string_equal(buf, want);
	free(buf);
	free(want);

	// The reader leaves: the sink reports the error and stays broken.
	close(cfd);
	int rc = 0;
	for (int i = 0; i < 100 && rc == 0; i++) {
		rc = cee_sink_write(s, ev, 20);
		if (rc == 0)
			rc = cee_sink_flush(s);
	}
	assert_true(rc == -EPIPE || rc == -ECONNRESET);
	assert_int_equal(cee_sink_write(s, ev, 1), rc);
	cee_sink_close(s);
	close(lfd);

	// Nobody listening: open fails with the connect error.
	unlink(sa.sun_path);
	errno = 0;
	assert_null(cee_sink_open(spec));
	assert_int_equal(errno, ENOENT);
}

struct fifo_reader {
	const char *path;
	size_t stop_after; // close after this many bytes (0: read to EOF)
	char *buf;
	size_t len;
};

static void *fifo_read(void *arg)
{
	struct fifo_reader *fr = arg;
	int fd = open(fr->path, O_RDONLY);
	if (fd < 0)
		return NULL;
	size_t cap = 1 << 20;
	fr->buf = malloc(cap + 1);
	ssize_t r;
	while (fr->len < cap && (r = read(fd, fr->buf + fr->len, cap - fr->len)) > 0) {
		fr->len += (size_t)r;
		if (fr->stop_after != 0 && fr->len >= fr->stop_after)
			break;
	}
	fr->buf[fr->len] = '\0';
	close(fd);
	return NULL;
}

// Guards against: a control plane reading from a FIFO missing lines, and a
// reader that goes away killing the engine with SIGPIPE (the sink must
// report -EPIPE so the engine can stop admission and shut down cleanly).
static void test_jsonl_fifo(void **state)
{
	struct fixture *f = *state;
	char path[128];
	snprintf(path, sizeof(path), "%s", in_dir(f, "fifo"));
	assert_int_equal(mkfifo(path, 0600), 0);
	enum { N = 1000 };
	static struct cee_event ev[N];
	make_events(ev, N, 1);

	struct fifo_reader fr = {.path = path};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, fifo_read, &fr), 0);
	char spec[256];
	snprintf(spec, sizeof(spec), "jsonl:%s", path);
	struct cee_sink *s = cee_sink_open(spec); // blocks until the reader opens
	assert_non_null(s);
	assert_int_equal(cee_sink_write(s, ev, N), 0);
	cee_sink_close(s);
	assert_int_equal(pthread_join(th, NULL), 0);
	char *want = expected_jsonl(ev, N);
	assert_non_null(fr.buf);
	assert_string_equal(fr.buf, want);
	free(want);
	free(fr.buf);

	// The reader leaves after the first bytes.
	struct fifo_reader fr2 = {.path = path, .stop_after = 1};
	assert_int_equal(pthread_create(&th, NULL, fifo_read, &fr2), 0);
	s = cee_sink_open(spec);
	assert_non_null(s);
	assert_int_equal(cee_sink_write(s, ev, 1), 0);
	assert_int_equal(cee_sink_flush(s), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	int rc = 0;
	for (int i = 0; i < 100 && rc == 0; i++) {
		rc = cee_sink_write(s, ev, N);
		if (rc == 0)
			rc = cee_sink_flush(s);
	}
	assert_int_equal(rc, -EPIPE); // and we are still alive
	sigset_t pending;
	sigpending(&pending);
	assert_false(sigismember(&pending, SIGPIPE));
	cee_sink_close(s);
	free(fr2.buf);
}

/* ---- exporter ---- */

static void push_n(struct cee_evring *r, unsigned shard, uint32_t n, uint64_t *serial)
{
	assert_int_equal(cee_evring_reserve(r, n), 0);
	for (uint32_t i = 0; i < n; i++) {
		struct cee_event e;
		memset(&e, 0, sizeof(e));
		e.conn = cee_id_make(shard, (*serial)++);
		cee_evring_push(r, &e);
	}
}

struct tap_log {
	uint64_t calls, events;
	uint64_t last_sseq[4];
	uint64_t bad;
};

static void tap(void *arg, const struct cee_event *ev, uint32_t n)
{
	struct tap_log *t = arg;
	t->calls++;
	for (uint32_t i = 0; i < n; i++) {
		unsigned sh = cee_event_shard(&ev[i]);
		if (ev[i].sseq != t->last_sseq[sh] + 1)
			t->bad++;
		t->last_sseq[sh] = ev[i].sseq;
		t->events++;
	}
}

// Guards against: events drained out of sseq order, a ring starved by the
// others, or events missing from a sink or the tap.
static void test_exporter_drains_all(void **state)
{
	assert_int_equal(register_mem_once(), 0);
	struct cee_evring *rings[3];
	uint64_t serial = 1;
	for (unsigned i = 0; i < 3; i++) {
		rings[i] = cee_evring_create(i, 256);
		assert_non_null(rings[i]);
		push_n(rings[i], i, 100 + 50 * i, &serial); // 100, 150, 200
	}
	struct cee_sink *sinks[2] = {cee_sink_open("mem:"), NULL};
	struct mem_sink *m0 = last_mem;
	sinks[1] = cee_sink_open("mem:");
	struct mem_sink *m1 = last_mem;
	struct cee_exporter *x = cee_exporter_create(rings, 3, sinks, 2);
	assert_non_null(x);
	struct tap_log t = {0};
	cee_exporter_set_tap(x, tap, &t);

	// Budget per ring: each ring gets at most 64 per poll.
	assert_int_equal(cee_exporter_poll(x, 64), 3 * 64);
	int total = 3 * 64, rc;
	while ((rc = cee_exporter_poll(x, 64)) > 0)
		total += rc;
	assert_int_equal(rc, 0);
	assert_int_equal(total, 450);
	assert_int_equal(cee_exporter_exported(x), 450);
	assert_int_equal(m0->n, 450);
	assert_int_equal(m1->n, 450);
	assert_memory_equal(m0->ev, m1->ev, 450 * sizeof(struct cee_event));
	assert_true(m0->flushes > 0);
	assert_int_equal(t.events, 450);
	assert_int_equal(t.bad, 0);
	assert_int_equal(t.last_sseq[0], 100);
	assert_int_equal(t.last_sseq[1], 150);
	assert_int_equal(t.last_sseq[2], 200);
	for (unsigned i = 0; i < 3; i++) {
		struct cee_evring_stats st;
		cee_evring_stats(rings[i], &st);
		assert_int_equal(st.used, 0);
	}
	assert_int_equal(cee_exporter_flush(x), 0);
	cee_exporter_destroy(x);
	cee_sink_close(sinks[0]);
	cee_sink_close(sinks[1]);
	for (unsigned i = 0; i < 3; i++)
		cee_evring_destroy(rings[i]);
}

// Guards against: a failing sink losing the batch (it must stay in the ring)
// or, on retry, the healthy sinks receiving it a second time.
static void test_exporter_sink_failure_keeps_events(void **state)
{
	assert_int_equal(register_mem_once(), 0);
	struct cee_evring *r = cee_evring_create(0, 64);
	assert_non_null(r);
	uint64_t serial = 1;
	push_n(r, 0, 10, &serial);

	struct cee_sink *sinks[2] = {cee_sink_open("mem:"), NULL};
	struct mem_sink *good = last_mem;
	sinks[1] = cee_sink_open("mem:");
	struct mem_sink *bad = last_mem;
	struct cee_exporter *x = cee_exporter_create(&r, 1, sinks, 2);
	assert_non_null(x);
	struct tap_log t = {0};
	cee_exporter_set_tap(x, tap, &t);

	bad->fail = -EIO;
	assert_int_equal(cee_exporter_poll(x, 100), -EIO);
	assert_int_equal(cee_exporter_poll(x, 100), -EIO);
	struct cee_evring_stats st;
	cee_evring_stats(r, &st);
	assert_int_equal(st.used, 10); // nothing released
	assert_int_equal(cee_exporter_exported(x), 0);
	assert_int_equal(t.events, 0); // the tap sees only what every sink took
	assert_int_equal(good->n, 10);

	// The sink recovers; more events arrived meanwhile.
	bad->fail = 0;
	push_n(r, 0, 5, &serial);
	assert_int_equal(cee_exporter_poll(x, 100), 15);
	assert_int_equal(good->n, 15); // no duplicates from the retries
	assert_int_equal(bad->n, 15);
	for (uint32_t i = 0; i < 15; i++) {
		assert_int_equal(good->ev[i].sseq, i + 1);
		assert_int_equal(bad->ev[i].sseq, i + 1);
	}
	assert_int_equal(t.events, 15);
	assert_int_equal(t.bad, 0);
	cee_evring_stats(r, &st);
	assert_int_equal(st.used, 0);
	assert_int_equal(cee_exporter_exported(x), 15);

	cee_exporter_destroy(x);
	cee_sink_close(sinks[0]);
	cee_sink_close(sinks[1]);
	cee_evring_destroy(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_jsonl_file, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_binary_file, setup_dir, teardown_dir),
		cmocka_unit_test(test_unknown_scheme),
		cmocka_unit_test(test_custom_sink),
		cmocka_unit_test_setup_teardown(test_jsonl_unix_socket, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_jsonl_fifo, setup_dir, teardown_dir),
		cmocka_unit_test(test_exporter_drains_all),
		cmocka_unit_test(test_exporter_sink_failure_keeps_events),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
