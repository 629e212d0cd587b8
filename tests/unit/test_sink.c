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
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include <inttypes.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cee_audit.h"
#include "cee_exporter.h"
#include "cee_sink.h"

// Hands all @p n records to @p s, as the exporter would: offering the rest
// again while the sink takes fewer (a reader that has not caught up), and
// pushing what it holds. @return 0, or the sink's -errno.
static int put_all(struct cee_sink *s, const struct cee_event *ev, uint32_t n)
{
	uint32_t done = 0;
	for (unsigned spins = 0; done < n || cee_sink_flush(s) == -EAGAIN; spins++) {
		if (spins > 200000)
			return -ETIMEDOUT; // a reader that never reads: a test bug
		if (done < n) {
			int k = cee_sink_write(s, ev + done, n - done);
			if (k < 0)
				return k;
			done += (uint32_t)k;
		}
		if (spins > 0)
			usleep(50); // another thread is reading
	}
	return 0;
}

// Offers @p ev to @p s and pushes, round after round (at most @p rounds,
// @p pause_us between rounds the sink could not finish), until the sink
// reports an error: a reader gone. @return that -errno, or 0 if none came.
static int write_until_broken(struct cee_sink *s, const struct cee_event *ev, uint32_t n,
			      int rounds, unsigned pause_us)
{
	int rc = 0;
	for (int i = 0; i < rounds && rc >= 0; i++) {
		rc = cee_sink_write(s, ev, n);
		if (rc >= 0)
			rc = cee_sink_flush(s);
		if (rc == -EAGAIN) {
			rc = 0;
			if (pause_us)
				usleep(pause_us);
		}
	}
	return rc < 0 ? rc : 0;
}

// Everything @p fd delivers until EOF, NUL-terminated.
static char *read_all_fd(int fd)
{
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap + 1);
	ssize_t r;
	while (buf != NULL && (r = read(fd, buf + len, cap - len)) > 0) {
		len += (size_t)r;
		if (len == cap) {
			cap *= 2;
			buf = realloc(buf, cap + 1);
		}
	}
	if (buf != NULL)
		buf[len] = '\0';
	return buf;
}

struct reader_fd {
	int fd;
	char *buf; // what it read, once joined
};

// Thread: read_all_fd() of a struct reader_fd.
static void *read_all_thread(void *arg)
{
	struct reader_fd *rd = arg;
	rd->buf = read_all_fd(rd->fd);
	return NULL;
}

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
	assert_int_equal(put_all(s, ev, 700), 0);
	assert_int_equal(cee_sink_flush(s), 0);
	assert_int_equal(put_all(s, ev + 700, N - 700), 0);
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
	assert_int_equal(put_all(s, ev, 1), 0);
	cee_sink_close(s);
	char *one = expected_jsonl(ev, 1);
	got = slurp(in_dir(f, "events.jsonl"), &len);
	assert_int_equal(len, strlen(want) + strlen(one));
	assert_string_equal(got + strlen(want), one);
	free(one);
	free(got);
	free(want);
}

// Guards against (review of the sinks): a JSONL file that an earlier run
// left within a line (cut short by a full disk at its shutdown timeout, or
// killed within a write) took our first line appended to the fragment: a
// reader could parse neither, and lost our first event.
static void test_jsonl_torn_line(void **state)
{
	struct fixture *f = *state;
	static struct cee_event ev[3];
	make_events(ev, 3, 1);
	const char *path = in_dir(f, "torn.jsonl");
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "{\"v\":3,\"ty", 10), 10);
	close(fd);
	char spec[256];
	snprintf(spec, sizeof(spec), "jsonl:%s", path);
	struct cee_sink *s = cee_sink_open(spec);
	assert_non_null(s);
	assert_int_equal(put_all(s, ev, 3), 0);
	cee_sink_close(s);
	size_t len;
	char *got = slurp(path, &len);
	char *want = expected_jsonl(ev, 3);
	assert_non_null(got);
	assert_int_equal(len, 11 + strlen(want));
	assert_memory_equal(got, "{\"v\":3,\"ty\n", 11); // the fragment, on a line of its own
	assert_string_equal(got + 11, want);                 // then ours, whole
	free(got);
	// a file that ends on a line's end gets nothing added
	s = cee_sink_open(spec);
	assert_non_null(s);
	assert_int_equal(put_all(s, ev, 1), 0);
	cee_sink_close(s);
	got = slurp(path, &len);
	char *one = expected_jsonl(ev, 1);
	assert_int_equal(len, 11 + strlen(want) + strlen(one));
	assert_string_equal(got + 11 + strlen(want), one);
	free(one);
	free(want);
	free(got);
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
		assert_int_equal(put_all(s, ev + off, 500), 0);
	cee_sink_close(s);

	size_t len;
	char *got = slurp(in_dir(f, "events.bin"), &len);
	assert_non_null(got);
	struct cee_evbin_header h;
	struct cee_evbin_run run;
	assert_int_equal(len, sizeof(h) + sizeof(run) + N * sizeof(struct cee_event));
	memcpy(&h, got, sizeof(h));
	assert_memory_equal(h.magic, CEE_EVBIN_MAGIC, sizeof(h.magic));
	assert_int_equal(h.version, CEE_EVBIN_VERSION);
	assert_int_equal(h.record_size, sizeof(struct cee_event));
	// the run record: this process's engine id ("" here), type, zeros
	memcpy(&run, got + sizeof(h), sizeof(run));
	assert_int_equal(run.sseq, 0);
	assert_int_equal(run.type, CEE_EVBIN_RUN);
	assert_int_equal(run.engine[0], '\0');
	assert_true(run.ts_ns > 0);
	assert_memory_equal(got + sizeof(h) + sizeof(run), ev, N * sizeof(struct cee_event));
	free(got);

	// Reopening appends a run record and the records after the existing
	// header, without a second one; the run record names the engine id set.
	assert_int_equal(cee_evt_json_set_engine("edge-7", NULL), 0);
	s = cee_sink_open(spec);
	assert_int_equal(cee_evt_json_set_engine(NULL, NULL), 0);
	assert_non_null(s);
	assert_int_equal(put_all(s, ev, 1), 0);
	cee_sink_close(s);
	got = slurp(in_dir(f, "events.bin"), &len);
	assert_int_equal(len, sizeof(h) + 2 * sizeof(run) + (N + 1) * sizeof(struct cee_event));
	memcpy(&run, got + sizeof(h) + sizeof(run) + N * sizeof(struct cee_event), sizeof(run));
	assert_int_equal(run.type, CEE_EVBIN_RUN);
	assert_string_equal(run.engine, "edge-7");
	assert_memory_equal(got + len - sizeof(struct cee_event), ev, sizeof(struct cee_event));
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

// Guards against (long-uptime review): file sinks that could not be rotated
// while running. A renamed file kept every later event (or a deleted one's
// space was never freed), and copytruncate lost the lines written between
// its copy and its truncate, and a binary file's header. Rotation now: the
// file renamed away, then cee_sink_rotate() (SIGHUP): the old file ends at
// a whole record, the new one starts with the header (binary) and holds
// the rest, nothing lost or doubled; not renamed: nothing happens; a
// non-empty file at the path refused for binary (its own header mid-file).
static void test_file_rotation(void **state)
{
	struct fixture *f = *state;
	enum { N = 1000 };
	static struct cee_event ev[N];
	char path[256], old[300], spec[300];
	size_t len1, len2;
	make_events(ev, N, 1);

	// jsonl
	snprintf(path, sizeof(path), "%s", in_dir(f, "rot.jsonl"));
	snprintf(old, sizeof(old), "%s.1", path);
	snprintf(spec, sizeof(spec), "jsonl:%s", path);
	struct cee_sink *s = cee_sink_open(spec);
	assert_non_null(s);
	assert_int_equal(cee_sink_rotate(s), 0); // not renamed: nothing to do
	assert_int_equal(put_all(s, ev, 400), 0);
	assert_int_equal(rename(path, old), 0);
	assert_int_equal(cee_sink_rotate(s), 1);
	assert_int_equal(put_all(s, ev + 400, N - 400), 0);
	cee_sink_close(s);
	char *a = slurp(old, &len1), *b = slurp(path, &len2);
	char *want = expected_jsonl(ev, N);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(len1 + len2, strlen(want));
	assert_memory_equal(a, want, len1);
	assert_string_equal(b, want + len1);
	assert_true(len1 > 0 && a[len1 - 1] == '\n');
	free(a);
	free(b);
	free(want);

	// binary: each file is a whole stream of its own
	char old2[300];
	snprintf(path, sizeof(path), "%s", in_dir(f, "rot.bin"));
	snprintf(old, sizeof(old), "%s.1", path);
	snprintf(old2, sizeof(old2), "%s.2", path);
	snprintf(spec, sizeof(spec), "binary:%s", path);
	s = cee_sink_open(spec);
	assert_non_null(s);
	assert_int_equal(put_all(s, ev, 300), 0);
	assert_int_equal(rename(path, old2), 0);
	assert_int_equal(cee_sink_rotate(s), 1);
	assert_int_equal(put_all(s, ev + 300, 500), 0);
	// rotated again onto a file someone left there: refused, the sink goes on
	assert_int_equal(rename(path, old), 0);
	int fd = open(path, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x", 1), 1);
	close(fd);
	assert_int_equal(cee_sink_rotate(s), -EEXIST);
	assert_int_equal(put_all(s, ev + 800, N - 800), 0);
	cee_sink_close(s);
	struct cee_evbin_header h;
	struct cee_evbin_run run;
	a = slurp(old, &len1);
	assert_non_null(a);
	assert_int_equal(len1, sizeof(h) + sizeof(run) + (N - 300) * sizeof(struct cee_event));
	memcpy(&h, a, sizeof(h));
	assert_memory_equal(h.magic, CEE_EVBIN_MAGIC, sizeof(h.magic));
	memcpy(&run, a + sizeof(h), sizeof(run));
	assert_int_equal(run.type, CEE_EVBIN_RUN);
	assert_memory_equal(a + sizeof(h) + sizeof(run), ev + 300,
			    (N - 300) * sizeof(struct cee_event));
	free(a);
	a = slurp(old2, &len1); // the first: header, run, the first 300
	assert_non_null(a);
	assert_int_equal(len1, sizeof(h) + sizeof(run) + 300 * sizeof(struct cee_event));
	assert_memory_equal(a, CEE_EVBIN_MAGIC, sizeof(h.magic));
	assert_memory_equal(a + sizeof(h) + sizeof(run), ev, 300 * sizeof(struct cee_event));
	free(a);
	b = slurp(path, &len2);
	assert_int_equal(len2, 1); // left as it was
	free(b);
}

// Writes @p n events to a sink whose file may grow to @p limit bytes
// (RLIMIT_FSIZE, SIGXFSZ ignored: the write that crosses it is short, the
// next fails with EFBIG, as a full disk fails); renames the file to
// @p old, lifts the limit and rotates. @return the rotation's result.
static int fill_then_rotate(struct cee_sink *s, const struct cee_event *ev, uint32_t n,
			    rlim_t limit, const char *path, const char *old)
{
	struct rlimit was, lim;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &was), 0);
	lim = was;
	lim.rlim_cur = limit;
	void (*h)(int) = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	int rc = put_all(s, ev, n); // (it stops at the first error of a write)
	if (rc == 0)
		rc = cee_sink_flush(s);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &was), 0);
	signal(SIGXFSZ, h);
	assert_int_equal(rc, -EFBIG); // the file is full
	assert_int_equal(rename(path, old), 0);
	return cee_sink_rotate(s);
}

// Guards against (review of session 33): a file sink at the process's
// file-size limit (systemd's LimitFSIZE=, ulimit -f) killed by SIGXFSZ,
// whose default action ends the process: the events in the rings and the
// sink's buffer lost, the file cut mid-line. With SIGXFSZ left at its
// default (as an embedder of the library leaves it), the write fails with
// EFBIG, as a full disk, and the process lives on. In a child: the old code
// killed it.
static void test_file_size_limit_not_fatal(void **state)
{
	struct fixture *f = *state;
	enum { N = 200 };
	static struct cee_event ev[N];
	char spec[300];
	make_events(ev, N, 1);
	snprintf(spec, sizeof(spec), "jsonl:%s", in_dir(f, "fsize.jsonl"));
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGXFSZ, SIG_DFL);
		struct rlimit lim;
		if (getrlimit(RLIMIT_FSIZE, &lim) != 0)
			_exit(10);
		lim.rlim_cur = 1000;
		if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
			_exit(11);
		struct cee_sink *s = cee_sink_open(spec);
		if (s == NULL)
			_exit(12);
		int rc = put_all(s, ev, N);
		if (rc == 0)
			rc = cee_sink_flush(s);
		// (no close: it would wait for the file to take the rest)
		_exit(rc == -EFBIG ? 0 : 13);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (WIFSIGNALED(st))
		fail_msg("the sink's process was killed by signal %d (SIGXFSZ is %d)", WTERMSIG(st),
			 SIGXFSZ);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

// Guards against: a file that filled mid-record (a short write, then a
// full disk) and was rotated kept the record's first part, and the new
// file began with the whole record: a torn line (or record) in the old
// file, the event doubled across the two. The part is cut off the old
// file at rotation; the two files are the stream, each whole.
static void test_file_rotation_cuts_partial(void **state)
{
	struct fixture *f = *state;
	enum { N = 200 };
	static struct cee_event ev[N];
	char path[256], old[300], spec[300];
	size_t len1, len2;
	make_events(ev, N, 1);

	// jsonl: the old file ends at a line's end, the new holds the rest
	snprintf(path, sizeof(path), "%s", in_dir(f, "cut.jsonl"));
	snprintf(old, sizeof(old), "%s.1", path);
	snprintf(spec, sizeof(spec), "jsonl:%s", path);
	struct cee_sink *s = cee_sink_open(spec);
	assert_non_null(s);
	assert_int_equal(fill_then_rotate(s, ev, N, 1000, path, old), 1);
	assert_int_equal(cee_sink_flush(s), 0); // what it held went to the new file
	cee_sink_close(s);
	char *a = slurp(old, &len1), *b = slurp(path, &len2);
	char *want = expected_jsonl(ev, N);
	assert_non_null(a);
	assert_non_null(b);
	assert_true(len1 > 0 && len1 < 1000); // a line was cut off it
	assert_int_equal(a[len1 - 1], '\n');
	assert_int_equal(len1 + len2, strlen(want));
	assert_memory_equal(a, want, len1);
	assert_string_equal(b, want + len1);
	free(a);
	free(b);
	free(want);

	// binary: whole records in the old file, a stream of its own in the new
	struct cee_evbin_header h;
	struct cee_evbin_run run;
	const size_t head = sizeof(h) + sizeof(run), rec = sizeof(struct cee_event);
	snprintf(path, sizeof(path), "%s", in_dir(f, "cut.bin"));
	snprintf(old, sizeof(old), "%s.1", path);
	snprintf(spec, sizeof(spec), "binary:%s", path);
	s = cee_sink_open(spec);
	assert_non_null(s);
	const rlim_t limit = head + 5 * rec + rec / 2; // five records and a half
	assert_int_equal(fill_then_rotate(s, ev, N, limit, path, old), 1);
	assert_int_equal(cee_sink_flush(s), 0);
	cee_sink_close(s);
	a = slurp(old, &len1);
	b = slurp(path, &len2);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(len1, head + 5 * rec);
	assert_memory_equal(a + head, ev, 5 * rec);
	assert_int_equal(len2, head + (N - 5) * rec);
	assert_memory_equal(b, CEE_EVBIN_MAGIC, sizeof(h.magic));
	assert_memory_equal(b + head, ev + 5, (N - 5) * rec);
	free(a);
	free(b);
}

// Guards against (review of session 33): a binary sink appending to a file
// that held its header alone (16 bytes: an earlier writer cut short after
// it), rotated before its first write got through (the disk full), began
// the new file with the run record and no header: a file no reader takes
// (taken from the stream position, the header read as not out yet, so
// buf, the run record, started the new file). Now the new file is a
// stream of its own: header, one run record, the records.
static void test_append_header_only_then_rotate(void **state)
{
	struct fixture *f = *state;
	enum { N = 20 };
	static struct cee_event ev[N];
	char path[256], old[300], spec[300];
	size_t len;
	make_events(ev, N, 1);
	snprintf(path, sizeof(path), "%s", in_dir(f, "hdr.bin"));
	snprintf(old, sizeof(old), "%s.1", path);
	snprintf(spec, sizeof(spec), "binary:%s", path);
	// a file of this version's header alone: the first 16 bytes a sink writes
	struct cee_sink *s = cee_sink_open(spec);
	assert_non_null(s);
	assert_int_equal(cee_sink_flush(s), 0);
	cee_sink_close(s);
	struct cee_evbin_header h;
	struct cee_evbin_run run;
	char *a = slurp(path, &len);
	assert_non_null(a);
	assert_int_equal(len, sizeof(h) + sizeof(run));
	assert_int_equal(truncate(path, sizeof(h)), 0);
	free(a);
	// appended to, full at once (nothing of it goes), rotated
	s = cee_sink_open(spec);
	assert_non_null(s);
	assert_int_equal(fill_then_rotate(s, ev, N, sizeof(h), path, old), 1);
	assert_int_equal(cee_sink_flush(s), 0);
	cee_sink_close(s);
	a = slurp(old, &len);
	assert_non_null(a);
	assert_int_equal(len, sizeof(h)); // as it was
	free(a);
	char *b = slurp(path, &len);
	assert_non_null(b);
	assert_int_equal(len, sizeof(h) + sizeof(run) + N * sizeof(struct cee_event));
	assert_memory_equal(b, CEE_EVBIN_MAGIC, sizeof(h.magic));
	memcpy(&run, b + sizeof(h), sizeof(run));
	assert_int_equal(run.type, CEE_EVBIN_RUN);
	assert_memory_equal(b + sizeof(h) + sizeof(run), ev, N * sizeof(struct cee_event));
	free(b);
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
	// and the engine asks before it opens anything (parse_args: the kinds
	// it lists)
	assert_false(cee_sink_kind_known("kafka:localhost"));
	assert_false(cee_sink_kind_known("no-colon-at-all"));
	assert_false(cee_sink_kind_known(":x"));
	assert_false(cee_sink_kind_known("jsonlx:-"));
	assert_true(cee_sink_kind_known("jsonl:-"));
	assert_true(cee_sink_kind_known("null:"));
	char kinds[64];
	cee_sink_kinds(kinds, sizeof(kinds));
	assert_int_equal(strncmp(kinds, "jsonl:, binary:, null:", 22), 0);
	cee_sink_kinds(kinds, 8); // cut to fit
	assert_true(strlen(kinds) < 8);

	struct cee_sink *s = cee_sink_open("null:");
	assert_non_null(s);
	struct cee_event ev[4];
	make_events(ev, 4, 1);
	assert_int_equal(put_all(s, ev, 4), 0);
	assert_int_equal(cee_sink_flush(s), 0);
	assert_int_equal(s->written, 4);
	cee_sink_close(s);
}

/* A custom sink kind that keeps what it is given, and can be told to fail. */
struct mem_sink {
	struct cee_event ev[4096];
	uint32_t n;
	int fail; // next write returns this when < 0
	uint32_t room; // takes at most this many more records when > 0 (a slow reader)
	int flushes;
	int *closed;
	int extra; // a buggy kind: says it took this many more than it was given
};

static struct mem_sink *last_mem;
static int mem_closed;

static int mem_write(struct cee_sink *s, const struct cee_event *ev, uint32_t n)
{
	struct mem_sink *m = s->priv;
	if (m->fail < 0)
		return m->fail;
	if (m->room > 0 && n > m->room - 1)
		n = m->room - 1; // room 1: takes nothing
	if (m->room > 0)
		m->room -= n;
	if (m->n + n > 4096)
		return -ENOSPC;
	memcpy(&m->ev[m->n], ev, n * sizeof(*ev));
	m->n += n;
	return (int)n + m->extra;
}

static int mem_flush(struct cee_sink *s)
{
	struct mem_sink *m = s->priv;
	m->flushes++;
	return m->fail < 0 ? m->fail : 0;
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
	assert_int_equal(cee_sink_write(s, ev, 10), 10);
	assert_int_equal(cee_sink_flush(s), 0);
	assert_int_equal(m->n, 10);
	assert_int_equal(m->flushes, 1);
	assert_memory_equal(m->ev, ev, sizeof(ev));
	assert_int_equal(s->written, 10);
	int before = mem_closed;
	cee_sink_close(s);
	assert_int_equal(mem_closed, before + 1);

	// Guards against: a broker password or token printed in the engine's
	// log and in cee-ctl sinks (the spec is shown; the secrets are not).
	s = cee_sink_open("mem://user:pw@host:4222/cee?stream=S&password=secret&token=t0k&x=1");
	assert_non_null(s);
	assert_string_equal(s->spec,
			    "mem://user:***@host:4222/cee?stream=S&password=***&token=***&x=1");
	cee_sink_close(s);
}

// Guards against: the Unix socket sink losing lines, or killing the process
// with SIGPIPE when the reader goes away (it must report -EPIPE instead).
// A Unix stream socket listening at "sock" in the fixture's directory;
// its path in @p sa. @return the listening fd.
static int listen_unix(struct fixture *f, struct sockaddr_un *sa)
{
	*sa = (struct sockaddr_un){.sun_family = AF_UNIX};
	const char *sp = in_dir(f, "sock");
	assert_true(strlen(sp) < sizeof(sa->sun_path));
	memcpy(sa->sun_path, sp, strlen(sp) + 1);
	int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)sa, sizeof(*sa)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	return lfd;
}

// A jsonl:SCHEME:PATH sink (@p spec) connected to a listener made here:
// the listening fd in @p lfd, the accepted reader's in @p cfd.
static struct cee_sink *open_unix_sink(struct fixture *f, const char *scheme,
				       struct sockaddr_un *sa, char spec[256], int *lfd, int *cfd)
{
	*lfd = listen_unix(f, sa);
	snprintf(spec, 256, "jsonl:%s:%s", scheme, sa->sun_path);
	struct cee_sink *s = cee_sink_open(spec);
	assert_non_null(s);
	*cfd = accept(*lfd, NULL, NULL);
	assert_true(*cfd >= 0);
	return s;
}

static void test_jsonl_unix_socket(void **state)
{
	struct sockaddr_un sa;
	char spec[256];
	int lfd, cfd;
	struct cee_sink *s = open_unix_sink(*state, "unix", &sa, spec, &lfd, &cfd);

	struct cee_event ev[20];
	make_events(ev, 20, 1);
	assert_int_equal(put_all(s, ev, 20), 0);
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

	// The reader leaves: the sink reports the error, without SIGPIPE.
	close(cfd);
	int rc = write_until_broken(s, ev, 20, 100, 0);
	assert_true(rc == -EPIPE || rc == -ECONNRESET);
	assert_int_equal(cee_sink_write(s, ev, 1), rc); // broken until reopened

	// The reader's listen backlog is full (it is slow to accept): reopening
	// fails at once and is retried later; a blocking connect() there would
	// hold the control thread (every sink, the control socket) until the
	// reader accepts, for ever if it never does. SIGALRM ends a hung test.
	int dummy[8], nd = 0;
	for (; nd < 8; nd++) {
		dummy[nd] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		assert_true(dummy[nd] >= 0);
		if (connect(dummy[nd], (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			assert_int_equal(errno, EAGAIN); // the backlog is full
			close(dummy[nd]);
			break;
		}
	}
	assert_true(nd > 0 && nd < 8);
	alarm(10);
	assert_int_equal(cee_sink_reopen(s), -EBUSY);
	alarm(0);
	for (int i = 0; i < nd; i++) { // the reader catches up with its backlog
		int a = accept(lfd, NULL, NULL);
		assert_true(a >= 0);
		close(a);
		close(dummy[i]);
	}

	// A new reader: the sink reconnects and goes on from a line start,
	// so the new reader never sees half a line.
	assert_int_equal(cee_sink_reopen(s), 0);
	cfd = accept(lfd, NULL, NULL);
	assert_true(cfd >= 0);
	struct cee_event ev2[20];
	make_events(ev2, 20, 1000);
	assert_int_equal(put_all(s, ev2, 20), 0);
	cee_sink_close(s);
	char *got2 = read_all_fd(cfd);
	char *want2 = expected_jsonl(ev2, 20);
	assert_true(got2[0] == '{');
	size_t gl = strlen(got2), wl2 = strlen(want2);
	assert_true(gl >= wl2 && got2[gl - 1] == '\n');
	assert_string_equal(got2 + gl - wl2, want2); // whole lines, the new ones last
	free(got2);
	free(want2);
	close(cfd);
	close(lfd);

	// Nobody listening: open fails with the connect error.
	unlink(sa.sun_path);
	errno = 0;
	assert_null(cee_sink_open(spec));
	assert_int_equal(errno, ENOENT);
}

// put_all() for a sink that acknowledges: every record taken, pushed once
// (flush() stays -EAGAIN until the reader acknowledges). @return 0 or -errno.
static int put_acked_later(struct cee_sink *s, const struct cee_event *ev, uint32_t n)
{
	for (uint32_t done = 0, spins = 0; done < n; spins++) {
		if (spins > 200000)
			return -ETIMEDOUT;
		int k = cee_sink_write(s, ev + done, n - done);
		if (k < 0)
			return k;
		done += (uint32_t)k;
	}
	int rc = cee_sink_flush(s);
	return rc == -EAGAIN ? 0 : rc;
}

// Reads exactly @p n bytes from @p fd into a new string.
static char *read_n(int fd, size_t n)
{
	char *b = malloc(n + 1);
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, b + got, n - got);
		assert_true(r > 0);
		got += (size_t)r;
	}
	b[n] = '\0';
	return b;
}

static void send_str(int fd, const char *t)
{
	assert_int_equal(write(fd, t, strlen(t)), (ssize_t)strlen(t));
}

// jsonl:unix+ack: a reader that acknowledged its whole window (1 MiB of
// lines) and left. Fault guarded against (review of the sinks): the next
// write found the buffer full, pushed, read the ack and the EOF (the sink
// failed, held 0: nothing unacknowledged) and went on filling the space the
// ack freed: 10 lines in the buffer of a failed sink, held still 0. With no
// event after them, the exporter took the sink for idle and the engine
// exited 0 at SIGTERM with the 10 lines never sent. A failed sink takes
// nothing more (the events stay in the ring) and its held stays true; the
// next reader gets them.
static void test_jsonl_unix_ack_gone_full_window(void **state)
{
	struct sockaddr_un sa;
	char spec[256];
	int lfd, cfd;
	struct cee_sink *s = open_unix_sink(*state, "unix+ack", &sa, spec, &lfd, &cfd);
	// fill the window: every line sent and read, none acknowledged
	struct cee_event ev[64];
	uint64_t sseq = 1, lines = 0;
	char buf[65536];
	for (int rounds = 0; rounds < 100000; rounds++) {
		make_events(ev, 64, sseq);
		int k = cee_sink_write(s, ev, 64);
		assert_true(k >= 0);
		sseq += (uint64_t)k;
		lines += (uint64_t)k;
		(void)cee_sink_flush(s);
		while (recv(cfd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
			;
		if (k < 64)
			break;
	}
	assert_true(lines > 1000);
	assert_int_equal(s->held, lines);
	// all acknowledged, and the reader goes
	char ack[64];
	snprintf(ack, sizeof(ack), "ack %" PRIu64 "\n", lines);
	send_str(cfd, ack);
	close(cfd);
	make_events(ev, 10, sseq);
	int k = cee_sink_write(s, ev, 10);
	assert_true(k == -EPIPE || k == -ECONNRESET); // failed: nothing taken
	assert_int_equal(s->held, 0);
	int rc = cee_sink_flush(s);
	assert_true(rc == -EPIPE || rc == -ECONNRESET);
	assert_int_equal(s->held, 0);
	// a new reader: the 10, written now, arrive whole
	assert_int_equal(cee_sink_reopen(s), 0);
	cfd = accept(lfd, NULL, NULL);
	assert_true(cfd >= 0);
	assert_int_equal(s->resent, 0);
	char *want = expected_jsonl(ev, 10);
	assert_int_equal(put_acked_later(s, ev, 10), 0);
	assert_int_equal(s->held, 10);
	char *got = read_n(cfd, strlen(want));
	assert_string_equal(got, want);
	free(got);
	free(want);
	close(cfd);
	close(lfd);
	cee_sink_close(s);
}

// jsonl:unix+ack: the reader acknowledges lines, and a new reader gets
// every line the last one did not acknowledge, whole, in order.
// Guards against: lines lost in a socket buffer when the reader goes away
// (the plain jsonl:unix: cannot know what was read), acknowledged lines
// sent again, a bad acknowledgement (garbage, going back, past what was
// sent) taken as one, the window of unacknowledged lines growing without
// bound, and a sink that reports idle (flush 0) with lines unacknowledged.
static void test_jsonl_unix_ack(void **state)
{
	struct sockaddr_un sa;
	char spec[256];
	int lfd, cfd;
	struct cee_sink *s = open_unix_sink(*state, "unix+ack", &sa, spec, &lfd, &cfd);

	struct cee_event ev[20];
	make_events(ev, 20, 1);
	char *want = expected_jsonl(ev, 20);
	assert_int_equal(put_acked_later(s, ev, 20), 0);
	assert_int_equal(cee_sink_flush(s), -EAGAIN); // sent, not acknowledged
	assert_int_equal(s->held, 20);
	char *got = read_n(cfd, strlen(want));
	assert_string_equal(got, want);
	free(got);

	// 8 acknowledged; then 2 more ("ack 10" counts from the first line)
	send_str(cfd, "ack 8\n");
	assert_int_equal(cee_sink_flush(s), -EAGAIN);
	assert_int_equal(s->held, 12);
	send_str(cfd, "ack 1");
	send_str(cfd, "0\n"); // split across reads
	assert_int_equal(cee_sink_flush(s), -EAGAIN);
	assert_int_equal(s->held, 10);

	// The reader goes: a new one gets lines 11..20 again, then new ones.
	close(cfd);
	int rc = cee_sink_flush(s);
	assert_true(rc == -EPIPE || rc == -ECONNRESET);
	assert_int_equal(cee_sink_reopen(s), 0);
	assert_int_equal(s->resent, 10); // lines 11..20, sent and not acknowledged
	cfd = accept(lfd, NULL, NULL);
	assert_true(cfd >= 0);
	const char *w11 = want;
	for (int i = 0; i < 10; i++)
		w11 = strchr(w11, '\n') + 1;
	got = read_n(cfd, strlen(w11));
	assert_string_equal(got, w11);
	free(got);
	struct cee_event ev2[5];
	make_events(ev2, 5, 21);
	char *want2 = expected_jsonl(ev2, 5);
	assert_int_equal(put_acked_later(s, ev2, 5), 0);
	assert_int_equal(cee_sink_flush(s), -EAGAIN);
	got = read_n(cfd, strlen(want2));
	assert_string_equal(got, want2);
	free(got);
	assert_int_equal(s->held, 15);
	send_str(cfd, "ack 15\n");
	assert_int_equal(cee_sink_flush(s), 0); // all acknowledged: idle
	assert_int_equal(s->held, 0);

	// Bad acknowledgements break the connection (-EPROTO), and nothing is
	// taken as acknowledged: the next reader gets those lines again.
	// Each round: this connection acknowledged c lines and is sent one more.
	for (unsigned b = 0, c = 15; b < 6; b++, c = 1) {
		char bad[64];
		const char *kinds[] = {"ack %u\n", "ack %u\n", "nack 1\n", "ack x\n", "ack \n",
				       "ack 18446744073709551616\n"}; // 2^64
		snprintf(bad, sizeof(bad), kinds[b], b == 0 ? c + 2 : c - 1); // past, back
		if (b >= 2)
			snprintf(bad, sizeof(bad), "%s", kinds[b]);
		make_events(ev2, 1, 26 + b);
		char *w = expected_jsonl(ev2, 1);
		assert_int_equal(put_acked_later(s, ev2, 1), 0);
		assert_int_equal(cee_sink_flush(s), -EAGAIN);
		got = read_n(cfd, strlen(w));
		assert_string_equal(got, w);
		free(got);
		send_str(cfd, bad);
		assert_int_equal(cee_sink_flush(s), -EPROTO);
		assert_int_equal(s->held, 1);
		close(cfd);
		assert_int_equal(cee_sink_reopen(s), 0);
		assert_int_equal(s->resent, 11 + b); // the one line, again
		cfd = accept(lfd, NULL, NULL);
		assert_true(cfd >= 0);
		got = read_n(cfd, strlen(w)); // the same line again, whole
		assert_string_equal(got, w);
		free(got);
		free(w);
		send_str(cfd, "ack 1\n");
		assert_int_equal(cee_sink_flush(s), 0);
	}

	// The window: a reader that reads and never acknowledges. The sink
	// stops taking records (write takes fewer than offered) instead of
	// growing; the lines it holds are bounded by its 1 MiB window.
	struct cee_event many[256];
	uint64_t taken = 0, base = 100;
	bool full = false;
	char sink_buf[65536];
	for (int round = 0; round < 100000 && !full; round++) {
		make_events(many, 256, base);
		int k = cee_sink_write(s, many, 256);
		assert_true(k >= 0);
		taken += (uint64_t)k;
		base += (uint64_t)k;
		full = k < 256;
		(void)cee_sink_flush(s);
		while (recv(cfd, sink_buf, sizeof(sink_buf), MSG_DONTWAIT) > 0)
			;
	}
	assert_true(full);
	assert_int_equal(s->held, taken);
	assert_true(taken * 150 <= 1024 * 1024 && taken * 400 >= 1024 * 1024);
	cee_sink_close(s);
	close(cfd);
	close(lfd);
	free(want);
	free(want2);
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

// Reopen FIFO sink @p s once its new reader (a thread just started) has
// opened its end: ENXIO until then (up to 2 s). @return the last result.
static int reopen_when_read(struct cee_sink *s)
{
	int rc = -ENXIO;
	for (int i = 0; i < 20000 && (rc = cee_sink_reopen(s)) == -ENXIO; i++)
		usleep(100);
	return rc;
}

// A FIFO at @p name in the fixture's directory; its path in @p path.
static const char *fifo_at(struct fixture *f, const char *name, char path[128])
{
	snprintf(path, 128, "%s", in_dir(f, name));
	assert_int_equal(mkfifo(path, 0600), 0);
	return path;
}

// Guards against: a control plane reading from a FIFO missing lines, and a
// reader that goes away killing the engine with SIGPIPE (the sink must
// report -EPIPE so the engine can stop admission and shut down cleanly).
static void test_jsonl_fifo(void **state)
{
	struct fixture *f = *state;
	char path[128];
	fifo_at(f, "fifo", path);
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
	assert_int_equal(put_all(s, ev, N), 0);
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
	assert_int_equal(put_all(s, ev, 1), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	int rc = write_until_broken(s, ev, N, 100, 0);
	assert_int_equal(rc, -EPIPE); // and we are still alive
	sigset_t pending;
	sigpending(&pending);
	assert_false(sigismember(&pending, SIGPIPE));
	free(fr2.buf);

	// No reader: reopening fails (ENXIO) without blocking the engine.
	assert_int_equal(cee_sink_reopen(s), -ENXIO);
	// A reader comes back: the sink reopens the FIFO and resumes at a line
	// start; the new reader gets whole lines, the newest last.
	struct fifo_reader fr3 = {.path = path};
	assert_int_equal(pthread_create(&th, NULL, fifo_read, &fr3), 0);
	assert_int_equal(reopen_when_read(s), 0);
	static struct cee_event ev3[50];
	make_events(ev3, 50, 5000);
	assert_int_equal(put_all(s, ev3, 50), 0);
	cee_sink_close(s);
	assert_int_equal(pthread_join(th, NULL), 0);
	char *want3 = expected_jsonl(ev3, 50);
	size_t gl = fr3.len, wl3 = strlen(want3);
	assert_true(gl >= wl3 && fr3.buf[0] == '{');
	assert_string_equal(fr3.buf + gl - wl3, want3);
	free(want3);
	free(fr3.buf);
}

// A binary stream into a FIFO whose reader goes away mid-record and comes
// back: the new reader's stream starts with the file header and the run
// record again, then whole records, the newest last.
// Guards against: a new reader that cannot tell the format or the engine
// (no header, no run record), or that starts inside a record.
static void test_binary_fifo_new_reader(void **state)
{
	struct fixture *f = *state;
	char path[128];
	fifo_at(f, "binfifo", path);
	enum { N = 2000 };
	static struct cee_event ev[N];
	make_events(ev, N, 1);
	const size_t head = sizeof(struct cee_evbin_header) + sizeof(struct cee_evbin_run);

	// the first reader leaves inside the third record
	struct fifo_reader fr = {.path = path, .stop_after = head + 2 * 64 + 10};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, fifo_read, &fr), 0);
	char spec[256];
	snprintf(spec, sizeof(spec), "binary:%s", path);
	assert_int_equal(cee_evt_json_set_engine("edge-9", NULL), 0);
	struct cee_sink *s = cee_sink_open(spec);
	assert_int_equal(cee_evt_json_set_engine(NULL, NULL), 0);
	assert_non_null(s);
	// the reader thread reads, then leaves
	int rc = write_until_broken(s, ev, N, 100000, 100);
	assert_int_equal(rc, -EPIPE);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_true(fr.len >= head);
	char first[head];
	memcpy(first, fr.buf, head);
	free(fr.buf);

	struct fifo_reader fr2 = {.path = path};
	assert_int_equal(pthread_create(&th, NULL, fifo_read, &fr2), 0);
	assert_int_equal(reopen_when_read(s), 0);
	static struct cee_event ev2[50];
	make_events(ev2, 50, 5000);
	assert_int_equal(put_all(s, ev2, 50), 0);
	cee_sink_close(s);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_true(fr2.len >= head + sizeof(ev2) && (fr2.len - head) % 64 == 0);
	assert_memory_equal(fr2.buf, first, head); // the header and run record again
	struct cee_evbin_run run;
	memcpy(&run, fr2.buf + sizeof(struct cee_evbin_header), sizeof(run));
	assert_int_equal(run.type, CEE_EVBIN_RUN);
	assert_string_equal(run.engine, "edge-9");
	assert_memory_equal(fr2.buf + fr2.len - sizeof(ev2), ev2, sizeof(ev2));
	free(fr2.buf);
}

// Guards against (review): a FIFO reader that left while the engine had
// nothing to write was seen only at the next write; a new reader that
// opened first got the pipe as the old one had left it: the rest of a
// record, and a binary stream without its header and run record. An idle
// flush now finds the reader gone (POLLERR), so the next reader gets a
// pipe of its own, starting with the header.
static void test_binary_fifo_reader_gone_while_idle(void **state)
{
	struct fixture *f = *state;
	char path[128];
	fifo_at(f, "idlefifo", path);
	static struct cee_event ev[20];
	make_events(ev, 20, 1);
	const size_t head = sizeof(struct cee_evbin_header) + sizeof(struct cee_evbin_run);
	// the first reader takes the header and 10 bytes, then leaves
	struct fifo_reader fr = {.path = path, .stop_after = head + 10};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, fifo_read, &fr), 0);
	char spec[256];
	snprintf(spec, sizeof(spec), "binary:%s", path);
	struct cee_sink *s = cee_sink_open(spec); // blocks until the reader opens
	assert_non_null(s);
	assert_int_equal(put_all(s, ev, 20), 0); // all in the pipe (1.3 KiB)
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_true(fr.len >= head);
	free(fr.buf);
	// quiet: the idle flush finds the reader gone
	assert_int_equal(cee_sink_flush(s), -EPIPE);
	struct fifo_reader fr2 = {.path = path};
	assert_int_equal(pthread_create(&th, NULL, fifo_read, &fr2), 0);
	assert_int_equal(reopen_when_read(s), 0);
	static struct cee_event ev2[5];
	make_events(ev2, 5, 5000);
	assert_int_equal(put_all(s, ev2, 5), 0);
	cee_sink_close(s);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(fr2.len, head + sizeof(ev2)); // nothing of the old pipe
	assert_memory_equal(fr2.buf, "CEEEVT", 6);
	assert_memory_equal(fr2.buf + head, ev2, sizeof(ev2));
	free(fr2.buf);
}

// Guards against: an idle exporter never flushing its sinks, so none could
// find its reader gone until the next event (the check above).
static void test_exporter_flushes_when_idle(void **state)
{
	(void)state;
	assert_int_equal(register_mem_once(), 0);
	struct cee_evring *r = cee_evring_create(0, 64);
	assert_non_null(r);
	struct cee_sink *sink = cee_sink_open("mem:");
	struct mem_sink *m = last_mem;
	struct cee_exporter *x = cee_exporter_create(&r, 1, &sink, 1);
	assert_non_null(x);
	(void)cee_exporter_poll(x, 100);
	int before = m->flushes;
	usleep(120 * 1000);
	(void)cee_exporter_poll(x, 100);
	assert_true(m->flushes > before);
	cee_exporter_destroy(x);
	cee_sink_close(sink);
	cee_evring_destroy(r);
}

// A binary FIFO sink with a full buffer (its reader stalled, then gone)
// gets a new reader whose pipe is small (F_SETPIPE_SZ, or pipe-user-pages
// limits): the header goes back in front of the full buffer, which is then
// fuller than the room kept for it, until the new reader drains it.
// Guards against: a heap overflow in the next write (the room left,
// computed unsigned, wrapped round and the records were copied past the
// buffer's end), and records lost, repeated or corrupted for the new reader.
static void test_binary_fifo_full_buffer_new_reader(void **state)
{
	struct fixture *f = *state;
	char path[128];
	fifo_at(f, "fullfifo", path);
	enum { N = 8192 };
	static struct cee_event ev[N];
	make_events(ev, N, 1);
	const size_t head = sizeof(struct cee_evbin_header) + sizeof(struct cee_evbin_run);

	int rfd = open(path, O_RDONLY | O_NONBLOCK);
	assert_true(rfd >= 0);
	char spec[256];
	snprintf(spec, sizeof(spec), "binary:%s", path);
	struct cee_sink *s = cee_sink_open(spec);
	assert_non_null(s);
	// nothing read: the pipe fills, then the sink's buffer
	uint32_t taken = 0;
	for (int i = 0; i < 1000; i++) {
		int k = cee_sink_write(s, ev + taken, N - taken);
		assert_true(k >= 0);
		taken += (uint32_t)k;
		if (k == 0)
			break;
	}
	assert_true(taken > 1000 && taken < N);
	// a record out of the pipe, so that the sink's next push takes part of one
	char junk[64 + 17];
	assert_int_equal(read(rfd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	for (int i = 0; i < 4; i++) {
		int k = cee_sink_write(s, ev + taken, N - taken);
		assert_true(k >= 0);
		taken += (uint32_t)k;
	}
	close(rfd); // the reader goes
	assert_int_equal(cee_sink_flush(s), -EPIPE);

	// a new reader with a one-page pipe
	rfd = open(path, O_RDONLY | O_NONBLOCK);
	assert_true(rfd >= 0);
	assert_true(fcntl(rfd, F_SETPIPE_SZ, 4096) >= 0);
	assert_int_equal(cee_sink_reopen(s), 0);

	// offer the rest while reading: every record comes once, in order
	size_t cap = (size_t)(N + 64) * 64 + head;
	char *got = malloc(cap);
	assert_non_null(got);
	size_t gl = 0;
	for (int spins = 0;; spins++) {
		assert_true(spins < 1000000);
		if (taken < N) {
			int k = cee_sink_write(s, ev + taken, N - taken);
			assert_true(k >= 0);
			taken += (uint32_t)k;
		}
		int fr = cee_sink_flush(s);
		assert_true(fr == 0 || fr == -EAGAIN);
		ssize_t r = read(rfd, got + gl, cap - gl);
		if (r > 0)
			gl += (size_t)r;
		else if (taken == N && fr == 0)
			break;
	}
	cee_sink_close(s);
	close(rfd);
	assert_true(gl > head && (gl - head) % 64 == 0);
	const struct cee_event *rec = (const struct cee_event *)(got + head);
	size_t nrec = (gl - head) / 64;
	// from the record in progress when the first reader went, to the last
	assert_true(rec[0].sseq >= 1 && rec[0].sseq <= N);
	uint64_t first = rec[0].sseq;
	assert_int_equal(first + nrec - 1, N);
	for (size_t i = 0; i < nrec; i++)
		assert_memory_equal(&rec[i], &ev[first - 1 + i], 64);
	free(got);
}

static void *fifo_open_close(void *arg)
{
	int fd = open(arg, O_RDONLY);
	if (fd >= 0)
		close(fd);
	return NULL;
}

// A binary sink whose FIFO reader left before anything went out holds no
// events: the file header and the run record are not events (and a
// version 3 file is refused for appending, with a message).
// Guards against: a shutdown that reports undelivered events (exit 1) when
// only the header was left, and appending version 4 records to an older file.
static void test_binary_held_and_version(void **state)
{
	struct fixture *f = *state;
	char path[128];
	fifo_at(f, "heldfifo", path);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, fifo_open_close, path), 0);
	char spec[256];
	snprintf(spec, sizeof(spec), "binary:%s", path);
	struct cee_sink *s = cee_sink_open(spec); // blocks until the reader opens
	assert_non_null(s);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(write_until_broken(s, NULL, 0, 100, 0), -EPIPE);
	assert_int_equal(s->held, 0);
	struct cee_event ev[3];
	make_events(ev, 3, 1);
	assert_int_equal(cee_sink_write(s, ev, 3), -EPIPE); // broken until reopened
	cee_sink_close(s);

	// a version 3 file: refused (EINVAL), left as it was
	struct cee_evbin_header h3 = {.version = 3, .record_size = sizeof(struct cee_event)};
	memcpy(h3.magic, CEE_EVBIN_MAGIC, sizeof(h3.magic));
	int fd = open(in_dir(f, "v3.bin"), O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, &h3, sizeof(h3)), (ssize_t)sizeof(h3));
	assert_int_equal(write(fd, ev, sizeof(ev)), (ssize_t)sizeof(ev));
	close(fd);
	snprintf(spec, sizeof(spec), "binary:%s", in_dir(f, "v3.bin"));
	errno = 0;
	assert_null(cee_sink_open(spec));
	assert_int_equal(errno, EINVAL);
	size_t len;
	char *got = slurp(in_dir(f, "v3.bin"), &len);
	assert_int_equal(len, sizeof(h3) + sizeof(ev));
	free(got);
}

// Offer @p n records to @p s until it takes nothing more (a stalled
// reader): without blocking, some but not all. @return how many it took.
static uint32_t write_until_full(struct cee_sink *s, const struct cee_event *ev, uint32_t n)
{
	uint32_t taken = 0;
	int zero_takes = 0;
	for (int i = 0; i < 1000 && taken < n; i++) {
		int k = cee_sink_write(s, ev + taken, n - taken);
		assert_true(k >= 0);
		taken += (uint32_t)k;
		zero_takes += k == 0;
		if (k == 0 && zero_takes > 3)
			break; // full: it takes nothing more and did not block
	}
	assert_true(taken > 0 && taken < n);
	return taken;
}

// Guards against: a control plane that stops reading blocking the engine's
// control thread (and with it SIGTERM and every other sink), or losing or
// repeating lines when it reads again. The sink takes what fits, then
// nothing (0, not an error), and holds it until the reader is back.
static void test_jsonl_stalled_reader(void **state)
{
	struct fixture *f = *state;
	int sv[2];
	(void)f;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	int sz = 4096;
	(void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	(void)setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	// The sink writes to a socket it was given (as stdout would be).
	int saved = dup(STDOUT_FILENO);
	assert_true(saved >= 0);
	assert_int_equal(dup2(sv[0], STDOUT_FILENO), STDOUT_FILENO);
	struct cee_sink *s = cee_sink_open("jsonl:-");
	assert_non_null(s);

	enum { N = 4000 };
	static struct cee_event ev[N];
	make_events(ev, N, 1);
	uint32_t taken = write_until_full(s, ev, N);
	assert_int_equal(cee_sink_flush(s), -EAGAIN);
	assert_true(s->held > 0);

	// The reader is back.
	pthread_t th;
	struct reader_fd rd = {.fd = sv[1]};
	assert_int_equal(pthread_create(&th, NULL, read_all_thread, &rd), 0);
	assert_int_equal(put_all(s, ev + taken, N - taken), 0);
	assert_int_equal(s->held, 0);
	assert_int_equal(s->written, N);
	cee_sink_close(s);
	assert_int_equal(dup2(saved, STDOUT_FILENO), STDOUT_FILENO);
	close(saved);
	close(sv[0]); // EOF for the reader
	assert_int_equal(pthread_join(th, NULL), 0);
	char *want = expected_jsonl(ev, N);
	assert_string_equal(rd.buf, want); // every line once, in order
	free(want);
	free(rd.buf);
	close(sv[1]);
}

// Guards against (review): jsonl:- on a terminal (a pty whose master is not
// read: tmux copy mode, a stalled ssh, `script`; or Ctrl-S) was left
// blocking, and one write() held the control thread, every other sink and
// SIGTERM with it. Made non-blocking as pipes and sockets are, it takes
// what fits, then nothing, and holds the rest until the terminal reads.
static void test_jsonl_stalled_tty(void **state)
{
	(void)state;
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	assert_true(m >= 0);
	assert_int_equal(grantpt(m), 0);
	assert_int_equal(unlockpt(m), 0);
	int sl = open(ptsname(m), O_RDWR | O_NOCTTY);
	assert_true(sl >= 0);
	struct termios t;
	assert_int_equal(tcgetattr(sl, &t), 0);
	cfmakeraw(&t); // the bytes as written (no CR added before each LF)
	assert_int_equal(tcsetattr(sl, TCSANOW, &t), 0);
	int saved = dup(STDOUT_FILENO);
	assert_true(saved >= 0);
	assert_int_equal(dup2(sl, STDOUT_FILENO), STDOUT_FILENO);
	alarm(60); // (blocked: the test fails, not hangs)
	struct cee_sink *s = cee_sink_open("jsonl:-");
	assert_non_null(s);
	enum { N = 4000 };
	static struct cee_event ev[N];
	make_events(ev, N, 1);
	uint32_t taken = write_until_full(s, ev, N);
	assert_int_equal(cee_sink_flush(s), -EAGAIN);
	pthread_t th;
	struct reader_fd rd = {.fd = m};
	assert_int_equal(pthread_create(&th, NULL, read_all_thread, &rd), 0);
	assert_int_equal(put_all(s, ev + taken, N - taken), 0);
	assert_int_equal(s->written, N);
	cee_sink_close(s);
	assert_int_equal(dup2(saved, STDOUT_FILENO), STDOUT_FILENO);
	close(saved);
	assert_int_equal(tcdrain(sl), 0);
	close(sl); // the master reads what is left, then EIO
	assert_int_equal(pthread_join(th, NULL), 0);
	alarm(0);
	char *want = expected_jsonl(ev, N);
	assert_string_equal(rd.buf, want); // every line once, in order
	free(want);
	free(rd.buf);
	close(m);
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

// One ring of 64 holding 10 records (serial from *@p serial) and one "mem"
// sink (*@p m, @p extra as its mem_sink.extra) under an exporter.
struct mem_export {
	struct cee_evring *r;
	struct cee_sink *sink;
	struct mem_sink *m;
	struct cee_exporter *x;
	uint64_t serial;
};

static void mem_export_start(struct mem_export *e, int extra)
{
	assert_int_equal(register_mem_once(), 0);
	e->r = cee_evring_create(0, 64);
	assert_non_null(e->r);
	e->serial = 1;
	push_n(e->r, 0, 10, &e->serial);
	e->sink = cee_sink_open("mem:");
	e->m = last_mem;
	e->m->extra = extra;
	e->x = cee_exporter_create(&e->r, 1, &e->sink, 1);
	assert_non_null(e->x);
}

static void mem_export_end(struct mem_export *e)
{
	cee_exporter_destroy(e->x);
	cee_sink_close(e->sink);
	cee_evring_destroy(e->r);
}

// Guards against (review): a sink kind (cee_sink_register()) that says it
// took more records than it was given moved its cursor past what the ring
// holds (ev[k - 1] read past the batch): it is failed now (-EPROTO), its
// records kept in the ring.
static void test_exporter_sink_says_too_many(void **state)
{
	(void)state;
	struct mem_export e;
	mem_export_start(&e, 1);
	(void)cee_exporter_poll(e.x, 100);
	struct cee_exporter_sink_stats st;
	cee_exporter_sink_stats(e.x, 0, &st);
	assert_true(st.failed);
	assert_int_equal(st.err, -EPROTO);
	assert_int_equal(cee_exporter_exported(e.x), 0);
	struct cee_evring_stats rs;
	cee_evring_stats(e.r, &rs);
	assert_int_equal(rs.used, 10); /* kept */
	mem_export_end(&e);
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

	// Budget per ring: each ring gets at most 64 per poll (per sink).
	assert_true(cee_exporter_poll(x, 64) > 0);
	assert_int_equal(cee_exporter_exported(x), 3 * 64);
	assert_int_equal(m0->n, 3 * 64);
	int rc, polls = 1;
	while ((rc = cee_exporter_poll(x, 64)) > 0)
		polls++;
	assert_int_equal(rc, 0);
	assert_int_equal(polls, 4); // 200 records at 64 a poll
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

// Guards against (review): at shutdown a failed sink was retried only
// after its backoff (up to seconds), so with a --shutdown-timeout shorter
// than that a reader back in the meantime was never tried: its events were
// reported undelivered and the engine exited 1. Now it is retried at once,
// then at least every 50 ms.
static void test_exporter_shutdown_retries_now(void **state)
{
	(void)state;
	struct mem_export e;
	mem_export_start(&e, 0);
	struct cee_evring *r = e.r;
	struct mem_sink *m = e.m;
	struct cee_exporter *x = e.x;
	uint64_t serial = e.serial;
	cee_exporter_set_retry(x, 10000, 20000); // 5-10 s before a retry
	m->fail = -EIO;
	(void)cee_exporter_poll(x, 100);
	struct cee_exporter_sink_stats st;
	cee_exporter_sink_stats(x, 0, &st);
	assert_true(st.failed);
	m->fail = 0; // the reader is back
	(void)cee_exporter_poll(x, 100);
	assert_int_equal(m->n, 0); // (its backoff: seconds away)
	cee_exporter_shutdown(x);
	(void)cee_exporter_poll(x, 100);
	assert_int_equal(m->n, 10);
	assert_true(cee_exporter_idle(x));
	// a failure during shutdown: the next try within 50 ms
	push_n(r, 0, 5, &serial);
	m->fail = -EIO;
	(void)cee_exporter_poll(x, 100);
	cee_exporter_sink_stats(x, 0, &st);
	assert_true(st.failed);
	m->fail = 0;
	usleep(60 * 1000);
	(void)cee_exporter_poll(x, 100);
	assert_int_equal(m->n, 15);
	mem_export_end(&e);
}

// Guards against: a failing sink losing the batch (it must stay in the
// ring), the healthy sinks being held up or receiving it a second time on
// retry, and a failure ending the export (it is retried, with backoff).
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
	cee_exporter_set_retry(x, 1, 4);
	struct tap_log t = {0};
	cee_exporter_set_tap(x, tap, &t);

	bad->fail = -EIO;
	assert_int_equal(cee_exporter_poll(x, 100), 10); // the good one took them
	struct cee_exporter_sink_stats st0, st1;
	cee_exporter_sink_stats(x, 1, &st1);
	assert_true(st1.failed);
	assert_int_equal(st1.err, -EIO);
	assert_int_equal(st1.failures, 1);
	assert_int_equal(st1.behind, 10);
	struct cee_evring_stats st;
	cee_evring_stats(r, &st);
	assert_int_equal(st.used, 10); // nothing released
	assert_int_equal(cee_exporter_exported(x), 0);
	assert_int_equal(t.events, 0); // the tap sees only what every sink took
	assert_int_equal(good->n, 10);

	// More events: the healthy sink goes on without waiting.
	push_n(r, 0, 5, &serial);
	usleep(5000); // past the retry's backoff: the retry fails again
	(void)cee_exporter_poll(x, 100);
	assert_int_equal(good->n, 15);
	cee_exporter_sink_stats(x, 1, &st1);
	assert_true(st1.failed && st1.retries >= 1 && st1.failures == 1);
	assert_int_equal(cee_exporter_flush(x), -EAGAIN); // not idle while one fails
	assert_false(cee_exporter_idle(x));

	// The sink recovers at its next retry and resumes where it stopped.
	bad->fail = 0;
	usleep(5000);
	(void)cee_exporter_poll(x, 100);
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
	cee_exporter_sink_stats(x, 0, &st0);
	cee_exporter_sink_stats(x, 1, &st1);
	assert_false(st1.failed);
	assert_int_equal(st1.behind, 0);
	assert_int_equal(st0.written, 15);
	assert_int_equal(st0.failures, 0);
	assert_true(cee_exporter_idle(x));

	// A sink that fails with everything delivered (a jsonl:unix+ack reader
	// that acknowledged every line, then left) owes nothing: the exporter
	// is idle. (It was not, and a shutdown waited out --shutdown-timeout,
	// then exited 0 with nothing to report.)
	bad->fail = -EPIPE;
	assert_int_equal(cee_exporter_flush(x), -EAGAIN); // this flush failed
	cee_exporter_sink_stats(x, 1, &st1);
	assert_true(st1.failed);
	assert_int_equal(st1.behind, 0);
	assert_int_equal(st1.held, 0);
	assert_true(cee_exporter_idle(x));
	// ... until there is something for it again
	push_n(r, 0, 1, &serial);
	(void)cee_exporter_poll(x, 100);
	assert_false(cee_exporter_idle(x));

	cee_exporter_destroy(x);
	cee_sink_close(sinks[0]);
	cee_sink_close(sinks[1]);
	cee_evring_destroy(r);
}

// Guards against: a slow sink (a reader that stalled) stopping the others,
// or its backlog being dropped: the ring holds what it has not taken, new
// admissions are refused once the ring is full, and both come back when
// it catches up.
static void test_exporter_slow_sink_stops_admission(void **state)
{
	assert_int_equal(register_mem_once(), 0);
	struct cee_evring *r = cee_evring_create(0, 64);
	assert_non_null(r);
	uint64_t serial = 1;
	struct cee_sink *sinks[2] = {cee_sink_open("mem:"), NULL};
	struct mem_sink *fast = last_mem;
	sinks[1] = cee_sink_open("mem:");
	struct mem_sink *slow = last_mem;
	struct cee_exporter *x = cee_exporter_create(&r, 1, sinks, 2);
	assert_non_null(x);

	slow->room = 1; // takes nothing
	push_n(r, 0, 60, &serial);
	(void)cee_exporter_poll(x, 100);
	assert_int_equal(fast->n, 60);
	assert_int_equal(slow->n, 0);
	// The ring is full of what the slow sink lacks: admission stops.
	assert_int_equal(cee_evring_reserve(r, 8), -ENOBUFS);
	struct cee_evring_stats st;
	cee_evring_stats(r, &st);
	assert_int_equal(st.refused, 1);

	slow->room = 21; // takes 20
	(void)cee_exporter_poll(x, 100);
	assert_int_equal(slow->n, 20);
	assert_int_equal(cee_exporter_exported(x), 20);
	assert_int_equal(cee_evring_reserve(r, 8), 0); // admission again
	for (int i = 0; i < 8; i++) {
		struct cee_event e;
		memset(&e, 0, sizeof(e));
		e.conn = cee_id_make(0, serial++);
		cee_evring_push(r, &e);
	}
	slow->room = 0; // reads everything
	while (cee_exporter_poll(x, 100) > 0)
		;
	assert_int_equal(fast->n, 68);
	assert_int_equal(slow->n, 68);
	assert_memory_equal(fast->ev, slow->ev, 68 * sizeof(struct cee_event));
	for (uint32_t i = 0; i < 68; i++)
		assert_int_equal(slow->ev[i].sseq, i + 1);
	assert_true(cee_exporter_idle(x));
	cee_exporter_destroy(x);
	cee_sink_close(sinks[0]);
	cee_sink_close(sinks[1]);
	cee_evring_destroy(r);
}

/* ---- extension records (schema 2) ---- */

// One shard stream as a shard would emit it: sseq consecutive per shard,
// extension groups right before their event.
struct tstream {
	struct cee_event ev[1024];
	uint32_t n;
	uint64_t sseq[CEE_MAX_SHARDS];
	uint8_t cseq; // of the connection being built
};

static struct cee_event *ts_event(struct tstream *t, cee_conn_id_t c, enum cee_evt_type type)
{
	struct cee_event *e = &t->ev[t->n++];
	memset(e, 0, sizeof(*e));
	e->conn = c;
	e->type = (uint8_t)type;
	e->cseq = type == CEE_EVT_OPEN ? 0 : ++t->cseq;
	if (type == CEE_EVT_OPEN)
		t->cseq = 0;
	e->proto = CEE_PROTO_TLS;
	e->sseq = ++t->sseq[cee_id_shard(c)];
	e->local_ip = 0x0a000001;
	e->local_port = 5061;
	e->remote_ip = 0x0a000002;
	e->remote_port = (uint16_t)(40000 + cee_id_serial(c));
	if (type == CEE_EVT_CLOSED)
		e->reason = CEE_REASON_TLS_ALERT;
	return e;
}

// Appends the records of @p b (finished), numbered in the stream.
static void ts_group(struct tstream *t, struct cee_ext_builder *b)
{
	unsigned n = cee_ext_end(b);
	for (unsigned i = 0; i < n; i++) {
		memcpy(&t->ev[t->n], &b->rec[i], sizeof(t->ev[0]));
		t->ev[t->n].sseq = ++t->sseq[cee_id_shard(b->conn)];
		t->n++;
	}
}

// A TLS connection's whole life, with groups on tls_up (several records)
// and closed. @return the index of the tls_up group's first record.
static uint32_t ts_tls_conn(struct tstream *t, cee_conn_id_t c)
{
	struct cee_ext_builder b;
	char subject[100];
	snprintf(subject, sizeof(subject),
		 "CN=peer %016llx,OU=\"quoted\" unit,O=Example \xc3\x85sa,C=SE",
		 (unsigned long long)c);
	ts_event(t, c, CEE_EVT_OPEN);
	ts_event(t, c, CEE_EVT_ESTABLISHED);
	uint32_t group = t->n;
	cee_ext_begin(&b, c, CEE_EVT_TLS_UP);
	cee_ext_put_u16(&b, CEE_EXT_TLS_VERSION, 0x0304);
	cee_ext_put_str(&b, CEE_EXT_CIPHER, "TLS_AES_256_GCM_SHA384");
	cee_ext_put_str(&b, CEE_EXT_SNI, "sip.example.com");
	cee_ext_put_str(&b, CEE_EXT_ALPN, "sip");
	cee_ext_put_u8(&b, CEE_EXT_RESUMED, 0);
	cee_ext_put_str(&b, CEE_EXT_PEER_SUBJECT, subject);
	ts_group(t, &b);
	ts_event(t, c, CEE_EVT_TLS_UP);
	cee_ext_begin(&b, c, CEE_EVT_CLOSED);
	cee_ext_put_u8(&b, CEE_EXT_ALERT, 48);
	cee_ext_put_u8(&b, CEE_EXT_ALERT_BY, 0);
	ts_group(t, &b);
	ts_event(t, c, CEE_EVT_CLOSED);
	ts_event(t, c, CEE_EVT_DESTROYED);
	return group;
}

// What a correct merging reader makes of @p n records of one shard that
// hold whole groups: one line per event, its group merged.
static void ref_lines(const struct cee_event *ev, uint32_t n, char *out, size_t *len)
{
	const struct cee_event_ext *grp[CEE_EVT_EXT_MAX];
	unsigned ng = 0;
	for (uint32_t i = 0; i < n; i++) {
		const struct cee_event_ext *x = cee_event_as_ext(&ev[i]);
		if (x != NULL) {
			assert_true(ng < CEE_EVT_EXT_MAX);
			grp[ng++] = x;
			continue;
		}
		int w = cee_evt_to_json_ext(&ev[i], grp, ng, out + *len, CEE_EVT_JSON_EXT_MAX);
		assert_true(w > 0);
		*len += (size_t)w;
		ng = 0;
	}
	assert_int_equal(ng, 0);
	out[*len] = '\0';
}

static uint64_t num_field(const char *line, const char *key, bool *found)
{
	char pat[32];
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	const char *p = strstr(line, pat);
	*found = p != NULL;
	return p != NULL ? strtoull(p + strlen(pat), NULL, 10) : 0;
}

// The consumer's gap rule on @p text: each line covers [xseq (or sseq)
// .. sseq] of its shard, and the ranges are consecutive per shard from 1.
// @return the number of lines; @p ext_lines gets those of type "ext".
static unsigned check_ranges(char *text, const uint64_t *last_sseq, unsigned *ext_lines)
{
	uint64_t next[CEE_MAX_SHARDS];
	unsigned lines = 0;
	for (unsigned i = 0; i < CEE_MAX_SHARDS; i++)
		next[i] = 1;
	*ext_lines = 0;
	for (char *line = text, *nl; *line != '\0'; line = nl + 1) {
		nl = strchr(line, '\n');
		assert_non_null(nl);
		*nl = '\0';
		bool f;
		unsigned shard = (unsigned)num_field(line, "shard", &f);
		assert_true(f);
		uint64_t sseq = num_field(line, "sseq", &f);
		assert_true(f);
		uint64_t xseq = num_field(line, "xseq", &f);
		if (!f)
			xseq = sseq;
		assert_int_equal(xseq, next[shard]);
		assert_true(sseq >= xseq && sseq - xseq <= CEE_EVT_EXT_MAX);
		next[shard] = sseq + 1;
		*ext_lines += strstr(line, "\"type\":\"ext\"") != NULL;
		assert_non_null(strstr(line, "\"v\":3,"));
		*nl = '\n';
		lines++;
	}
	for (unsigned i = 0; i < CEE_MAX_SHARDS; i++)
		assert_int_equal(next[i], last_sseq[i] + 1);
	return lines;
}

// Guards against: extension records printed as lines of their own or lost
// instead of merged into their event's line, when a group is split across
// two write() calls (ring wrap, exporter budget) and another shard's batch
// comes in between; and `written` counting records instead of events.
static void test_jsonl_merges_ext_groups(void **state)
{
	struct fixture *f = *state;
	static struct tstream a, b;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	ts_event(&a, cee_id_make(1, 1), CEE_EVT_OPEN); // a plain one first
	uint32_t ga = ts_tls_conn(&a, cee_id_make(1, 2));
	ts_tls_conn(&b, cee_id_make(2, 1));
	ts_tls_conn(&b, cee_id_make(2, 2));
	assert_non_null(cee_event_as_ext(&a.ev[ga + 1])); // the group has 2+ records

	char spec[256];
	snprintf(spec, sizeof(spec), "jsonl:%s", in_dir(f, "ext.jsonl"));
	struct cee_sink *s = cee_sink_open(spec);
	assert_non_null(s);
	// Shard 1 up to the middle of its group, all of shard 2, the rest.
	assert_int_equal(put_all(s, a.ev, ga + 1), 0);
	assert_int_equal(put_all(s, b.ev, b.n), 0);
	assert_int_equal(put_all(s, a.ev + ga + 1, a.n - ga - 1), 0);
	uint64_t events = 0;
	for (uint32_t i = 0; i < a.n; i++)
		events += cee_event_as_ext(&a.ev[i]) == NULL;
	for (uint32_t i = 0; i < b.n; i++)
		events += cee_event_as_ext(&b.ev[i]) == NULL;
	assert_int_equal(s->written, events);
	assert_int_equal(s->bad_ext, 0);
	cee_sink_close(s);

	size_t len;
	char *got = slurp(in_dir(f, "ext.jsonl"), &len);
	char *want = malloc(64 * CEE_EVT_JSON_EXT_MAX);
	size_t wl = 0;
	ref_lines(a.ev, ga, want, &wl);
	ref_lines(b.ev, b.n, want, &wl);
	ref_lines(a.ev + ga, a.n - ga, want, &wl);
	assert_string_equal(got, want);
	assert_non_null(strstr(got, "\"type\":\"tls_up\""));
	assert_non_null(strstr(got, ",\"alert\":48,\"alert_name\":\"unknown_ca\",\"alert_by\":\"peer\""));
	assert_non_null(strstr(got, "OU=\\\"quoted\\\" unit,O=Example \xc3\x85sa,C=SE"));

	uint64_t last[CEE_MAX_SHARDS] = {0};
	last[1] = a.sseq[1];
	last[2] = b.sseq[2];
	unsigned ext_lines;
	assert_int_equal(check_ranges(got, last, &ext_lines), events);
	assert_int_equal(ext_lines, 0);
	free(got);
	free(want);
}

// Guards against: a broken group (not followed by its event, incomplete,
// starting at a later part, or a record past a full group; a producer bug)
// dropping records, overrunning the sink's per-shard store, or attaching
// them to the wrong event: each must come out as an "ext" line of its own,
// counted in bad_ext, with every sseq still covered once; records still
// waiting at close are written too.
static void test_jsonl_bad_ext_group_standalone(void **state)
{
	struct fixture *f = *state;
	static struct tstream t;
	memset(&t, 0, sizeof(t));
	cee_conn_id_t a = cee_id_make(1, 1), b = cee_id_make(1, 2);
	struct cee_ext_builder eb;

	ts_event(&t, a, CEE_EVT_OPEN);
	ts_event(&t, a, CEE_EVT_ESTABLISHED);
	// 1: a's group, then another connection's event.
	cee_ext_begin(&eb, a, CEE_EVT_TLS_UP);
	cee_ext_put_str(&eb, CEE_EXT_SNI, "one");
	ts_group(&t, &eb);
	ts_event(&t, b, CEE_EVT_OPEN);
	ts_event(&t, a, CEE_EVT_TLS_UP);
	// 2: a group of two with its second part missing, then its event.
	cee_ext_begin(&eb, a, CEE_EVT_CLOSED);
	char big[70];
	memset(big, 'q', 69);
	big[69] = '\0';
	cee_ext_put_str(&eb, CEE_EXT_PEER_SUBJECT, big);
	ts_group(&t, &eb);
	t.n--;
	t.sseq[1]--;
	ts_event(&t, a, CEE_EVT_CLOSED);
	// 3: a group that starts at part 1.
	cee_ext_begin(&eb, a, CEE_EVT_DESTROYED);
	cee_ext_put_str(&eb, CEE_EXT_PEER_SUBJECT, big);
	ts_group(&t, &eb);
	t.ev[t.n - 2] = t.ev[t.n - 1];
	t.ev[t.n - 2].sseq--;
	t.n--;
	t.sseq[1]--;
	ts_event(&t, a, CEE_EVT_DESTROYED);
	// 5: a full group of CEE_EVT_EXT_MAX records, then a malformed record
	// claiming one part more (part == parts), then the event.
	cee_ext_begin(&eb, b, CEE_EVT_TLS_UP);
	char huge[200];
	memset(huge, 'h', 199);
	huge[199] = '\0';
	cee_ext_put_str(&eb, CEE_EXT_PEER_SUBJECT, huge);
	ts_group(&t, &eb);
	assert_int_equal(eb.n, CEE_EVT_EXT_MAX);
	t.ev[t.n] = t.ev[t.n - 1];
	memcpy(&eb.rec[0], &t.ev[t.n], sizeof(eb.rec[0]));
	eb.rec[0].ext.part = CEE_EVT_EXT_MAX;
	eb.rec[0].ext.sseq = ++t.sseq[1];
	memcpy(&t.ev[t.n++], &eb.rec[0], sizeof(t.ev[0]));
	ts_event(&t, b, CEE_EVT_TLS_UP);
	// 4: a group whose event never comes before close.
	cee_ext_begin(&eb, b, CEE_EVT_ESTABLISHED);
	cee_ext_put_str(&eb, CEE_EXT_ALPN, "four");
	ts_group(&t, &eb);

	char spec[256];
	snprintf(spec, sizeof(spec), "jsonl:%s", in_dir(f, "bad.jsonl"));
	struct cee_sink *s = cee_sink_open(spec);
	assert_non_null(s);
	for (uint32_t i = 0; i < t.n; i++) // one record per call: the worst split
		assert_int_equal(put_all(s, &t.ev[i], 1), 0);
	assert_int_equal(s->written, 7);
	assert_int_equal(s->bad_ext, 5); // group 5: the full group, then the stray record
	cee_sink_close(s); // writes group 4

	size_t len;
	char *got = slurp(in_dir(f, "bad.jsonl"), &len);
	assert_non_null(strstr(got, "{\"v\":3,\"type\":\"ext\",\"of\":\"tls_up\",\"conn\":\"0100000000000001\","
				    "\"shard\":1,\"sseq\":3,\"sni\":\"one\",\"xseq\":3}\n"
				    "{\"v\":3,\"type\":\"open\",\"conn\":\"0100000000000002\""));
	assert_non_null(strstr(got, "\"type\":\"ext\",\"of\":\"closed\""));
	assert_non_null(strstr(got, "\"type\":\"ext\",\"of\":\"destroyed\""));
	assert_non_null(strstr(got, "\"type\":\"ext\",\"of\":\"established\",\"conn\":\"0100000000000002\""));
	// The events keep their own lines, without the broken groups' keys.
	assert_non_null(strstr(got, "\"type\":\"tls_up\",\"conn\":\"0100000000000001\""));
	assert_null(strstr(strstr(got, "\"type\":\"tls_up\""), "\"sni\":\"one\""));
	uint64_t last[CEE_MAX_SHARDS] = {0};
	last[1] = t.sseq[1];
	unsigned ext_lines;
	assert_int_equal(check_ranges(got, last, &ext_lines), 7 + 6);
	assert_int_equal(ext_lines, 6);
	free(got);
}

// Guards against: the JSON merge failing on the split the exporter really
// makes: groups cut by the ring's wrap and by a small per-poll budget.
static void test_exporter_jsonl_ext_wrap(void **state)
{
	struct fixture *f = *state;
	static struct tstream t;
	memset(&t, 0, sizeof(t));
	for (uint64_t i = 1; i <= 40; i++)
		ts_tls_conn(&t, cee_id_make(0, i));
	assert_true(t.n > 64 * 3);

	struct cee_evring *r = cee_evring_create(0, 64);
	assert_non_null(r);
	char spec[256];
	snprintf(spec, sizeof(spec), "jsonl:%s", in_dir(f, "x.jsonl"));
	struct cee_sink *s = cee_sink_open(spec);
	assert_non_null(s);
	struct cee_exporter *x = cee_exporter_create(&r, 1, &s, 1);
	assert_non_null(x);

	uint32_t pushed = 0;
	while (pushed < t.n) {
		// Push what fits (ring of 64, odd sizes so groups straddle the
		// wrap), then drain with a budget of 5.
		uint32_t k = t.n - pushed < 23 ? t.n - pushed : 23;
		assert_int_equal(cee_evring_reserve(r, k), 0);
		for (uint32_t i = 0; i < k; i++) {
			const struct cee_event_ext *ext = cee_event_as_ext(&t.ev[pushed + i]);
			uint64_t sq = ext != NULL ? cee_evring_push_ext(r, ext)
						  : cee_evring_push(r, &t.ev[pushed + i]);
			assert_int_equal(sq, t.ev[pushed + i].sseq);
		}
		pushed += k;
		while (cee_exporter_poll(x, 5) > 0)
			;
	}
	assert_int_equal(s->bad_ext, 0);
	cee_exporter_destroy(x);
	cee_sink_close(s);
	cee_evring_destroy(r);

	size_t len;
	char *got = slurp(in_dir(f, "x.jsonl"), &len);
	char *want = malloc(t.n * 1024);
	size_t wl = 0;
	ref_lines(t.ev, t.n, want, &wl);
	assert_string_equal(got, want);
	free(got);
	free(want);
}

// Guards against: the binary sink dropping or altering extension records
// (it keeps every record raw, in order) or writing the old header version.
static void test_binary_ext_round_trip(void **state)
{
	struct fixture *f = *state;
	static struct tstream t;
	memset(&t, 0, sizeof(t));
	uint32_t g = ts_tls_conn(&t, cee_id_make(5, 1));
	ts_tls_conn(&t, cee_id_make(5, 2));

	char spec[256];
	snprintf(spec, sizeof(spec), "binary:%s", in_dir(f, "ext.bin"));
	struct cee_sink *s = cee_sink_open(spec);
	assert_non_null(s);
	assert_int_equal(put_all(s, t.ev, g + 1), 0); // a group split
	assert_int_equal(put_all(s, t.ev + g + 1, t.n - g - 1), 0);
	uint64_t events = 0;
	for (uint32_t i = 0; i < t.n; i++)
		events += t.ev[i].type != CEE_EVT_EXT;
	assert_int_equal(s->written, events);
	cee_sink_close(s);

	size_t len;
	char *got = slurp(in_dir(f, "ext.bin"), &len);
	struct cee_evbin_header h;
	size_t head = sizeof(h) + sizeof(struct cee_evbin_run);
	assert_int_equal(len, head + t.n * sizeof(struct cee_event));
	memcpy(&h, got, sizeof(h));
	assert_int_equal(h.version, 4);
	assert_int_equal(h.record_size, 64);
	assert_memory_equal(got + head, t.ev, t.n * sizeof(struct cee_event));
	struct cee_event back[1024];
	memcpy(back, got + head, t.n * sizeof(back[0]));
	unsigned ext = 0;
	for (uint32_t i = 0; i < t.n; i++) {
		const struct cee_event_ext *x = cee_event_as_ext(&back[i]);
		if (x == NULL)
			continue;
		ext++;
		assert_int_equal(x->sseq, t.ev[i].sseq);
		assert_true(x->part < x->parts);
	}
	assert_int_equal(ext, t.n - events);
	free(got);
}

// Guards against (session 18 review): a binary sink's held counting the
// extension records it holds, where written counts lifecycle events only:
// a TLS stream's held was overstated (cee-ctl sinks, the shutdown's
// undelivered report).
static void test_binary_held_counts_events(void **state)
{
	struct fixture *f = *state;
	static struct tstream t;
	memset(&t, 0, sizeof(t));
	for (unsigned i = 0; i < 100; i++)
		ts_tls_conn(&t, cee_id_make(5, i + 1));
	char path[128];
	fifo_at(f, "held-ext", path);
	// a reader that reads nothing, its pipe a page (full at 64 records)
	int rd = open(path, O_RDONLY | O_NONBLOCK);
	assert_true(rd >= 0);
	assert_true(fcntl(rd, F_SETPIPE_SZ, 4096) >= 4096);
	char spec[256];
	snprintf(spec, sizeof(spec), "binary:%s", path);
	struct cee_sink *s = cee_sink_open(spec);
	assert_non_null(s);
	uint32_t taken = 0;
	for (int i = 0; i < 1000 && taken < t.n; i++) {
		int k = cee_sink_write(s, t.ev + taken, t.n - taken);
		assert_true(k >= 0);
		if (k == 0)
			break; // the pipe is full: nobody reads
		taken += (uint32_t)k;
	}
	(void)cee_sink_flush(s);
	uint64_t held = s->held;
	// what went into the pipe: the file head, then the first records
	static char got[8192];
	ssize_t n = read(rd, got, sizeof(got));
	size_t head = sizeof(struct cee_evbin_header) + sizeof(struct cee_evbin_run);
	assert_true(n >= (ssize_t)head);
	uint32_t delivered = (uint32_t)(((size_t)n - head) / sizeof(struct cee_event));
	uint64_t waiting = 0; // lifecycle events among the records not delivered
	for (uint32_t i = delivered; i < taken; i++)
		waiting += t.ev[i].type != CEE_EVT_EXT;
	close(rd);
	cee_sink_close(s);
	print_message("taken %u records, %u delivered; held %" PRIu64 ", events waiting %" PRIu64
		      "\n",
		      taken, delivered, held, waiting);
	assert_true(waiting > 0); // (the reader never read: something waits)
	assert_int_equal(held, waiting);
}

// A link's connection (schema 3): outbound open with the link's name,
// link_up after established, link_down after closed.
static void ts_link_conn(struct tstream *t, cee_conn_id_t c, const char *name)
{
	struct cee_ext_builder b;
	cee_ext_begin(&b, c, CEE_EVT_OPEN);
	cee_ext_put_str(&b, CEE_EXT_LINK, name);
	ts_group(t, &b);
	ts_event(t, c, CEE_EVT_OPEN);
	ts_event(t, c, CEE_EVT_ESTABLISHED);
	ts_event(t, c, CEE_EVT_TLS_UP);
	cee_ext_begin(&b, c, CEE_EVT_LINK_UP);
	cee_ext_put_str(&b, CEE_EXT_LINK, name);
	cee_ext_put_u32(&b, CEE_EXT_ATTEMPT, 3);
	ts_group(t, &b);
	ts_event(t, c, CEE_EVT_LINK_UP);
	ts_event(t, c, CEE_EVT_CLOSED);
	cee_ext_begin(&b, c, CEE_EVT_LINK_DOWN);
	cee_ext_put_str(&b, CEE_EXT_LINK, name);
	cee_ext_put_u32(&b, CEE_EXT_ATTEMPT, 3);
	cee_ext_put_u32(&b, CEE_EXT_NEXT_ATTEMPT_MS, 70000);
	ts_group(t, &b);
	ts_event(t, c, CEE_EVT_LINK_DOWN)->reason = CEE_REASON_TLS_ALERT; // as its closed
	ts_event(t, c, CEE_EVT_DESTROYED);
	for (uint32_t i = 0; i < t->n; i++)
		if (t->ev[i].conn == c && cee_event_as_ext(&t->ev[i]) == NULL)
			t->ev[i].proto |= CEE_PROTO_F_OUT;
}

// Guards against: a sink losing what schema 3 adds: the direction (JSON
// "dir" on open, bit 0x80 of proto in binary, never in JSON's proto), the
// link events with link_down's reason, and the link keys merged into their
// event's line; and a binary file of links that the audit cannot check.
static void test_sinks_link_stream(void **state)
{
	struct fixture *f = *state;
	static struct tstream t;
	memset(&t, 0, sizeof(t));
	ts_link_conn(&t, cee_id_make(3, 1), "sbc-1");
	ts_tls_conn(&t, cee_id_make(3, 2)); // inbound

	char spec[256];
	snprintf(spec, sizeof(spec), "jsonl:%s", in_dir(f, "links.jsonl"));
	struct cee_sink *s = cee_sink_open(spec);
	assert_non_null(s);
	assert_int_equal(put_all(s, t.ev, t.n), 0);
	assert_int_equal(s->bad_ext, 0);
	cee_sink_close(s);
	size_t len;
	char *got = slurp(in_dir(f, "links.jsonl"), &len);
	assert_non_null(strstr(got, "\"type\":\"open\",\"conn\":\"0300000000000001\""));
	assert_non_null(strstr(got, "\"proto\":\"tls\",\"dir\":\"out\","));
	assert_non_null(strstr(got, "\"proto\":\"tls\",\"dir\":\"in\","));
	assert_non_null(strstr(got, "\"remote\":\"10.0.0.2:40001\",\"link\":\"sbc-1\",\"xseq\":1}\n"));
	assert_non_null(strstr(got, "\"type\":\"link_up\""));
	assert_non_null(strstr(got, ",\"link\":\"sbc-1\",\"attempt\":3,\"xseq\":"));
	assert_non_null(strstr(got, "\"reason\":\"tls_alert\",\"link\":\"sbc-1\",\"attempt\":3,"
				    "\"next_attempt_ms\":70000,\"xseq\":"));
	assert_null(strstr(got, "\"proto\":\"?\""));
	free(got);

	snprintf(spec, sizeof(spec), "binary:%s", in_dir(f, "links.bin"));
	s = cee_sink_open(spec);
	assert_non_null(s);
	assert_int_equal(put_all(s, t.ev, t.n), 0);
	cee_sink_close(s);
	got = slurp(in_dir(f, "links.bin"), &len);
	struct cee_evbin_header h;
	size_t head = sizeof(h) + sizeof(struct cee_evbin_run);
	assert_int_equal(len, head + t.n * sizeof(struct cee_event));
	memcpy(&h, got, sizeof(h));
	assert_int_equal(h.version, 4);
	assert_memory_equal(got + head, t.ev, t.n * sizeof(struct cee_event));

	struct cee_event back[64];
	memcpy(back, got + head, t.n * sizeof(back[0]));
	struct cee_audit *a = cee_audit_create();
	struct cee_audit_result r;
	assert_non_null(a);
	cee_audit_feed(a, back, t.n);
	cee_audit_finish(a, false, &r);
	assert_true(r.ok);
	assert_int_equal(r.link_up, 1);
	assert_int_equal(r.link_down, 1);
	assert_int_equal(r.opens, 2);
	cee_audit_destroy(a);
	free(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_jsonl_file, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_jsonl_torn_line, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_binary_file, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_file_rotation, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_file_rotation_cuts_partial, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_file_size_limit_not_fatal, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_append_header_only_then_rotate, setup_dir, teardown_dir),
		cmocka_unit_test(test_unknown_scheme),
		cmocka_unit_test(test_custom_sink),
		cmocka_unit_test_setup_teardown(test_jsonl_unix_socket, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_jsonl_unix_ack, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_jsonl_unix_ack_gone_full_window, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_jsonl_fifo, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_binary_fifo_new_reader, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_binary_fifo_full_buffer_new_reader, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_binary_held_and_version, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_binary_held_counts_events, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_jsonl_stalled_reader, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_jsonl_stalled_tty, setup_dir, teardown_dir),
		cmocka_unit_test(test_exporter_drains_all),
		cmocka_unit_test(test_exporter_shutdown_retries_now),
		cmocka_unit_test(test_exporter_flushes_when_idle),
	    cmocka_unit_test(test_exporter_sink_says_too_many),
		cmocka_unit_test_setup_teardown(test_binary_fifo_reader_gone_while_idle, setup_dir, teardown_dir),
		cmocka_unit_test(test_exporter_sink_failure_keeps_events),
		cmocka_unit_test(test_exporter_slow_sink_stops_admission),
		cmocka_unit_test_setup_teardown(test_jsonl_merges_ext_groups, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_jsonl_bad_ext_group_standalone, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_exporter_jsonl_ext_wrap, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_binary_ext_round_trip, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_sinks_link_stream, setup_dir, teardown_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
