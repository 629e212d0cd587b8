/* SPDX-License-Identifier: BSD-3-Clause */
// cee-natspub: the raw JetStream publish rate that the NATS sink's figure is
// set beside. A plain libnats async publisher, the sink's way: one message of
// --size bytes after another with a Nats-Msg-Id each, js_PublishMsgAsync with
// MaxWait, at most `window` unacknowledged, outcomes counted by an AckHandler
// and failures sent again from the main thread. No encoding, no batching:
// the messages are ready-made.
//
//   cee-natspub nats://HOST:PORT/PREFIX[?stream=NAME&window=N&replicas=N&ack_wait_ms=N
//               &user=..&tls=..] [--count M] [--size BYTES] [--no-msg-id]
//
// The stream is created (subjects PREFIX.>, file storage) when missing.
// Prints one JSON line: messages and bytes acknowledged per second, from
// the first publish to the last acknowledgement.
// Exit: 0; 1 when a message could not be published; 2 on bad usage or set-up.
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "cee_nats_common.h"

#define WHO "cee-natspub"

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	uint32_t inflight; // published, no outcome yet
	uint64_t acked, duplicates, failed;
	natsMsg **retry; // failed messages, sent again by the main thread
	uint32_t nretry;
} P = {.mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
	(void)js;
	(void)closure;
	pthread_mutex_lock(&P.mu);
	P.inflight--;
	if (pae == NULL) {
		P.acked++;
		P.duplicates += pa != NULL && pa->Duplicate;
		natsMsg_Destroy(msg);
	} else {
		P.failed++;
		P.retry[P.nretry++] = msg; // never resent from here (see the sink)
	}
	pthread_cond_signal(&P.cond);
	pthread_mutex_unlock(&P.mu);
}

static double now_s(void)
{
	return (double)cee_nats_now_ns() / 1e9;
}

static int ensure_stream(jsCtx *js, const char *stream, const char *prefix, int64_t replicas)
{
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus s = js_GetStreamInfo(&si, js, stream, NULL, &jerr);
	if (s == NATS_OK) {
		jsStreamInfo_Destroy(si);
		return 0;
	}
	char subj[160];
	snprintf(subj, sizeof(subj), "%s.>", prefix);
	const char *subjects[1] = {subj};
	jsStreamConfig cfg;
	jsStreamConfig_Init(&cfg);
	cfg.Name = stream;
	cfg.Subjects = subjects;
	cfg.SubjectsLen = 1;
	cfg.Storage = js_FileStorage;
	cfg.Replicas = replicas;
	cfg.Duplicates = (int64_t)120 * 1000000000;
	s = js_AddStream(&si, js, &cfg, NULL, &jerr);
	if (s != NATS_OK) {
		const char *t = cee_nats_last_error(s);
		fprintf(stderr, "%s: cannot create stream '%s': %s\n", WHO, stream, t);
		return -1;
	}
	jsStreamInfo_Destroy(si);
	return 0;
}

int main(int argc, char **argv)
{
	enum { O_COUNT = 256, O_SIZE, O_NO_ID, O_HELP };
	static const struct option lo[] = {
	    {"count", required_argument, NULL, O_COUNT},
	    {"size", required_argument, NULL, O_SIZE},
	    {"no-msg-id", no_argument, NULL, O_NO_ID},
	    {"help", no_argument, NULL, O_HELP},
	    {NULL, 0, NULL, 0},
	};
	unsigned long long count = 20000, size = 256 * 1024;
	bool msg_id = true;
	int c;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		char *end = NULL;
		errno = 0;
		switch (c) {
		case O_COUNT:
			count = strtoull(optarg, &end, 10);
			break;
		case O_SIZE:
			size = strtoull(optarg, &end, 10);
			break;
		case O_NO_ID:
			msg_id = false;
			break;
		case O_HELP:
		default:
			fprintf(c == O_HELP ? stdout : stderr,
				"usage: %s nats://HOST:PORT/PREFIX[?stream=NAME&window=N&replicas=N"
				"&ack_wait_ms=N&...] [--count M] [--size BYTES] [--no-msg-id]\n",
				WHO);
			return c == O_HELP ? 0 : 2;
		}
		// (no sign: --count -1 was 2^64 - 1 messages; no overflow)
		if (end != NULL && (*end != '\0' || end == optarg || errno != 0 ||
				    optarg[strspn(optarg, " \t")] == '-')) {
			fprintf(stderr, "%s: bad value for --%s: '%s' (a whole number)\n", WHO,
				c == O_COUNT ? "count" : "size", optarg);
			return 2;
		}
	}
	if (optind != argc - 1 || strncmp(argv[optind], "nats:", 5) != 0 || count == 0 ||
	    size > (64u << 20)) {
		fprintf(stderr,
			"%s: one nats://HOST:PORT/PREFIX argument; --count > 0, --size <= 64 MiB\n",
			WHO);
		return 2;
	}
	struct cee_nats_spec sp;
	if (cee_nats_spec_parse(argv[optind] + 5, &sp, WHO) < 0)
		return 2;
	if (sp.prefix[0] == '\0') {
		fprintf(stderr, "%s: a subject prefix is needed\n", WHO);
		return 2;
	}
	const char *stream = cee_nats_spec_get(&sp, "stream");
	stream = stream ? stream : "CEE";
	uint64_t window, replicas, ack_wait;
	natsOptions *opts = NULL;
	if (cee_nats_spec_u64(&sp, "window", 1, 1024, 64, &window, WHO) < 0 ||
	    cee_nats_spec_u64(&sp, "replicas", 1, 5, 1, &replicas, WHO) < 0 ||
	    cee_nats_spec_u64(&sp, "ack_wait_ms", 100, 600000, 2000, &ack_wait, WHO) < 0 ||
	    !cee_nats_name_valid(stream) || cee_nats_options(&sp, 2000, &opts, WHO) < 0 ||
	    cee_nats_spec_check_unused(&sp, WHO) < 0)
		return 2;
	natsConnection *nc = NULL;
	if (cee_nats_connect(opts, &sp, &nc, 2000, WHO) < 0)
		return 2;
	if ((int64_t)size + 512 > natsConnection_GetMaxPayload(nc)) {
		fprintf(stderr, "%s: --size %llu is above the server's max_payload %" PRId64 "\n",
			WHO, size, natsConnection_GetMaxPayload(nc));
		return 2;
	}
	P.retry = calloc(window + 1, sizeof(*P.retry));
	char *payload = malloc(size ? size : 1);
	if (P.retry == NULL || payload == NULL)
		return 2;
	memset(payload, 'x', size);
	jsOptions jo;
	jsOptions_Init(&jo);
	jo.PublishAsync.MaxPending = (int64_t)window + 1; // as the sink: see cee_sink_nats.c
	jo.PublishAsync.AckHandler = on_ack;
	jo.PublishAsync.StallWait = 1;
	jsCtx *js = NULL;
	if (natsConnection_JetStream(&js, nc, &jo) != NATS_OK ||
	    ensure_stream(js, stream, sp.prefix, (int64_t)replicas) < 0)
		return 2;
	jsPubOptions po;
	jsPubOptions_Init(&po);
	po.MaxWait = (int64_t)ack_wait;
	uint8_t rnd[4] = {0};
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		memset(rnd, 7, sizeof(rnd));
	char subj[200], id[64];
	snprintf(subj, sizeof(subj), "%s.natspub.0.events", sp.prefix);

	double t0 = now_s();
	uint64_t sent = 0, publish_errors = 0, resent = 0;
	int rc = 0;
	pthread_mutex_lock(&P.mu);
	while (P.acked < count) {
		natsMsg *m = NULL;
		bool again = false;
		if (P.nretry > 0) {
			m = P.retry[--P.nretry];
			again = true;
		} else if (sent < count && P.inflight < window) {
			pthread_mutex_unlock(&P.mu);
			natsStatus s = natsMsg_Create(&m, subj, NULL, payload, (int)size);
			if (s == NATS_OK && msg_id) {
				snprintf(id, sizeof(id), "natspub.%02x%02x%02x%02x.%" PRIu64,
					 rnd[0], rnd[1], rnd[2], rnd[3], sent);
				s = natsMsgHeader_Set(m, "Nats-Msg-Id", id);
			}
			pthread_mutex_lock(&P.mu);
			if (s != NATS_OK) {
				fprintf(stderr, "%s: message: %s\n", WHO, natsStatus_GetText(s));
				rc = 1;
				break;
			}
			sent++;
		} else {
			pthread_cond_wait(&P.cond, &P.mu);
			continue;
		}
		P.inflight++;
		pthread_mutex_unlock(&P.mu);
		natsMsg *pm = m;
		natsStatus s = js_PublishMsgAsync(js, &pm, &po);
		pthread_mutex_lock(&P.mu);
		resent += again;
		if (s != NATS_OK) {
			P.inflight--;
			publish_errors++;
			P.retry[P.nretry++] = m;
			pthread_mutex_unlock(&P.mu);
			usleep(100000);
			pthread_mutex_lock(&P.mu);
		}
	}
	double secs = now_s() - t0;
	uint64_t acked = P.acked, dups = P.duplicates, failed = P.failed;
	pthread_mutex_unlock(&P.mu);
	printf("{\"name\":\"cee-natspub\",\"url\":\"%s\",\"stream\":\"%s\",\"messages\":%" PRIu64
	       ",\"size\":%llu,\"window\":%" PRIu64 ",\"msg_id\":%s,\"seconds\":%.3f"
	       ",\"msgs_per_s\":%.0f,\"mb_per_s\":%.1f,\"failures\":%" PRIu64 ",\"resent\":%" PRIu64
	       ",\"publish_errors\":%" PRIu64 ",\"duplicates\":%" PRIu64 "}\n",
	       sp.url, stream, acked, size, window, msg_id ? "true" : "false", secs,
	       secs > 0 ? (double)acked / secs : 0,
	       secs > 0 ? (double)acked * (double)size / 1e6 / secs : 0, failed, resent,
	       publish_errors, dups);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	natsOptions_Destroy(opts);
	free(payload);
	free(P.retry);
	return rc;
}
