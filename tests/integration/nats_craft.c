/* SPDX-License-Identifier: BSD-3-Clause */
// nats_craft: publish hand-made sink batches out of order and twice, for
// test_nats_sink.sh to check that cee-tail puts them back in order and writes
// each record once.
//
//   nats_craft URL PREFIX STREAM [ORDER]
//   nats_craft URL --consumer STREAM DURABLE
//
// Shard 0 of engine "craft": 60 lifecycles (open, established, closed,
// destroyed: sseq 1..240) in 12 binary batches of 20 records, published in
// the order 0 2 1 1 3 5 4 3 6 7 9 8 10 11 0 (batch 1, 3 and 0 twice: one
// copy while the first waits, two after they were written) without
// Nats-Msg-Id, so that every copy is stored. Expected from cee-tail: 240
// events, 3 duplicates skipped, 3 batches reordered (2, 5, 9), no gap.
// ORDER (batch numbers 0-11, comma separated) publishes those instead, in
// that order (the stream is made if it is not there).
// An "x" in ORDER publishes batch 1 with its last record left out (19
// records for sseq 21-40): a batch cee-tail counts malformed and skips.
// ORDER late:N:G publishes N batches (5 lifecycles each) in order, but for
// batch G, published last (a batch resent after all the others).
// --consumer prints the durable consumer's state as the server has it:
// "ack_pending N ack_floor S" (S: the stream sequence up to which every
// message was acknowledged), for a test to wait on.
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nats/nats.h>

#include "cee_event.h"

#define LIFECYCLES 60
#define PER_BATCH 20
#define MALFORMED UINT32_MAX // ORDER's "x" (a malformed batch 1)

int main(int argc, char **argv)
{
	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: nats_craft URL PREFIX STREAM [ORDER]\n"
				"       nats_craft URL --consumer STREAM DURABLE\n");
		return 2;
	}
	if (strcmp(argv[2], "--consumer") == 0) {
		if (argc != 5)
			return 2;
		natsConnection *nc = NULL;
		jsCtx *js = NULL;
		jsConsumerInfo *ci = NULL;
		natsStatus s = natsConnection_ConnectTo(&nc, argv[1]);
		if (s == NATS_OK)
			s = natsConnection_JetStream(&js, nc, NULL);
		if (s == NATS_OK)
			s = js_GetConsumerInfo(&ci, js, argv[3], argv[4], NULL, NULL);
		if (s == NATS_OK)
			printf("ack_pending %" PRId64 " ack_floor %" PRIu64 "\n", ci->NumAckPending,
			       ci->AckFloor.Stream);
		else
			fprintf(stderr, "nats_craft: %s\n", natsStatus_GetText(s));
		jsConsumerInfo_Destroy(ci);
		jsCtx_Destroy(js);
		natsConnection_Destroy(nc);
		return s == NATS_OK ? 0 : 1;
	}
	const char *url = argv[1], *prefix = argv[2], *stream = argv[3];
	unsigned nbatches = LIFECYCLES * 4 / PER_BATCH, late = 0;
	bool many = argc == 5 && strncmp(argv[4], "late:", 5) == 0;
	if (many) {
		char *end;
		nbatches = (unsigned)strtoul(argv[4] + 5, &end, 10);
		if (*end == ':')
			late = (unsigned)strtoul(end + 1, &end, 10);
		if (*end != '\0' || nbatches < 2 || nbatches > 4096 || late >= nbatches) {
			fprintf(stderr, "nats_craft: bad ORDER '%s' (late:N:G, G < N <= 4096)\n",
				argv[4]);
			return 2;
		}
	}
	unsigned lifecycles = nbatches * PER_BATCH / 4;
	struct cee_event *rec = calloc((size_t)lifecycles * 4, sizeof(*rec));
	unsigned *order = calloc(nbatches > 64 ? nbatches : 64, sizeof(*order)), norder = 15;
	if (rec == NULL || order == NULL)
		return 2;
	unsigned n = 0;
	for (unsigned c = 0; c < lifecycles; c++) {
		static const uint8_t types[4] = {CEE_EVT_OPEN, CEE_EVT_ESTABLISHED, CEE_EVT_CLOSED,
						 CEE_EVT_DESTROYED};
		for (unsigned k = 0; k < 4; k++) {
			struct cee_event *e = &rec[n];
			memset(e, 0, sizeof(*e));
			e->sseq = n + 1;
			e->conn = cee_id_make(0, c + 1);
			// (an accepted connection's open and established: one instant)
			e->ts_ns = 1000 + n - (k == 1);
			e->type = types[k];
			e->reason =
			    types[k] == CEE_EVT_CLOSED ? CEE_REASON_PEER_FIN : CEE_REASON_NONE;
			e->proto = CEE_PROTO_TCP;
			e->cseq = (uint8_t)k;
			e->local_ip = 0x0a000001;
			e->remote_ip = 0x0a010000;
			e->local_port = 7;
			e->remote_port = (uint16_t)(1024 + c);
			n++;
		}
	}
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	natsStatus s = natsConnection_ConnectTo(&nc, url);
	if (s == NATS_OK)
		s = natsConnection_JetStream(&js, nc, NULL);
	char subj[200];
	snprintf(subj, sizeof(subj), "%s.>", prefix);
	const char *subjects[1] = {subj};
	jsStreamConfig cfg;
	jsStreamConfig_Init(&cfg);
	cfg.Name = stream;
	cfg.Subjects = subjects;
	cfg.SubjectsLen = 1;
	cfg.Storage = js_MemoryStorage; // no Nats-Msg-Id below: every copy is stored
	jsStreamInfo *si = NULL;
	if (s == NATS_OK) /* (made again with the same settings: no error) */
		s = js_AddStream(&si, js, &cfg, NULL, NULL);
	jsStreamInfo_Destroy(si);
	static const unsigned order0[15] = {0, 2, 1, 1, 3, 5, 4, 3, 6, 7, 9, 8, 10, 11, 0};
	memcpy(order, order0, sizeof(order0));
	if (many) {
		norder = 0;
		for (unsigned b = 0; b < nbatches; b++)
			if (b != late)
				order[norder++] = b;
		order[norder++] = late;
	} else if (argc == 5) {
		norder = 0;
		for (const char *p = argv[4];;) {
			char *end;
			unsigned long b = strtoul(p, &end, 10);
			if (*p == 'x') { // a malformed batch
				b = MALFORMED;
				end = (char *)p + 1;
			}
			if (norder == 64 || (*end != ',' && *end != '\0') ||
			    (b != MALFORMED && (end == p || b >= LIFECYCLES * 4 / PER_BATCH))) {
				fprintf(stderr, "nats_craft: bad ORDER '%s' (at most 64 of 0-%u, x)\n",
					argv[4], LIFECYCLES * 4 / PER_BATCH - 1);
				return 2;
			}
			order[norder++] = (unsigned)b;
			if (*end == '\0')
				break;
			p = end + 1;
		}
	}
	snprintf(subj, sizeof(subj), "%s.craft.0.events", prefix);
	for (unsigned i = 0; s == NATS_OK && i < norder; i++) {
		bool bad = order[i] == MALFORMED;
		unsigned b = bad ? 1 : order[i];
		natsMsg *m = NULL;
		char v[32];
		s = natsMsg_Create(&m, subj, NULL, (const char *)&rec[b * PER_BATCH],
				   (PER_BATCH - bad) * (int)sizeof(struct cee_event));
		if (s == NATS_OK)
			s = natsMsgHeader_Set(m, "Cee-Engine", "craft");
		if (s == NATS_OK)
			s = natsMsgHeader_Set(m, "Cee-Run", "r000000000001");
		if (s == NATS_OK)
			s = natsMsgHeader_Set(m, "Cee-Shard", "0");
		snprintf(v, sizeof(v), "%u", b * PER_BATCH + 1);
		if (s == NATS_OK)
			s = natsMsgHeader_Set(m, "Cee-First-Sseq", v);
		snprintf(v, sizeof(v), "%u", (b + 1) * PER_BATCH);
		if (s == NATS_OK)
			s = natsMsgHeader_Set(m, "Cee-Last-Sseq", v);
		if (s == NATS_OK)
			s = natsMsgHeader_Set(m, "Cee-Events", bad ? "19" : "20");
		if (s == NATS_OK)
			s = natsMsgHeader_Set(m, "Cee-Format", "binary");
		if (s == NATS_OK)
			s = js_PublishMsg(NULL, js, m, NULL, NULL);
		natsMsg_Destroy(m);
	}
	if (s != NATS_OK)
		fprintf(stderr, "nats_craft: %s\n", natsStatus_GetText(s));
	free(rec);
	free(order);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	return s == NATS_OK ? 0 : 1;
}
