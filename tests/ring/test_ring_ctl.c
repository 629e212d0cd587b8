/* SPDX-License-Identifier: BSD-3-Clause */
// The command socket against a one-shard engine over net_ring, the peer
// played frame by frame (ring_peer.h). Scenarios, one a run:
//
// reason: a connection the engine closes (idle timeout) whose peer does not
// acknowledge the FIN: FIN-WAIT-1, its first cause (idle_timeout) known,
// its closed not pushed (it comes at TIME-WAIT or CLOSING). Fault guarded
// against (review of the control plane): `conns`, `conn` and `snapshot`
// showed the reason then, a close the event stream had not said: a
// consumer joining the two found a reason in the snapshot with no closed
// in the stream. Now a row has its reason once closed was pushed: none in
// FIN-WAIT-1; idle_timeout once the peer's ACK and FIN take it to
// TIME-WAIT (closed pushed).
//
// stall: the shard stops polling (the embedder's poll hook waits) while a
// `stats` request is pending. Fault guarded against (same review): a
// request a shard leaves unanswered must get an error reply, not silence
// or a partial answer; after the mailbox's 5 s it is "a shard did not
// answer in time", and the shard serves again once it resumes.
//
// Synchronisation: frames and events awaited with deadlines; the engine's
// control side polled by the test while it waits for a reply.
#include <signal.h>
#include <stdatomic.h>

#include <rte_eal.h>

#include "cee_audit.h"
#include "ring_peer.h"

#define ECHO_PORT 7
#define CPORT 40001

static const struct rte_ether_addr peer_mac = {{0x02, 0, 0, 0, 0, 0xb}};
static struct cee_engine_cfg cfg;
static char sock[64];

static void send_tcp(uint16_t sport, uint8_t flags, uint32_t seq, uint32_t ack)
{
	struct rte_mbuf *m =
	    peer_seg(&peer_mac, &engine_mac, PEER_IP, sport, ECHO_PORT, flags, seq, ack, NULL, 0);
	if (m)
		send_frame(rp_port, 0, m);
}

static atomic_bool stall_shard;

// The embedder's poll hook: the shard waits here while stall_shard is set.
static void stall_poll(void *arg, struct cee_shard *s)
{
	(void)arg;
	(void)s;
	while (atomic_load(&stall_shard))
		usleep(1000);
}
static const struct cee_app_ops stall_ops = {.poll = stall_poll};

static bool start_engine(int port)
{
	snprintf(sock, sizeof(sock), "/tmp/cee-ringctl-%d.sock", getpid());
	char *args[] = {"test",	      "--ip",		"10.0.0.1/24", "--listen",
			"tcp:7:echo", "--events",	"mem:",	       "--idle-timeout",
			"1",	      "--time-wait",	"30000",       "--ctl-socket",
			sock,	      "--poll-idle-us", "50",	       NULL};
	cee_engine_cfg_default(&cfg);
	if (cee_engine_parse_args(&cfg, 15, args) != 0)
		return false;
	cfg.app = &stall_ops;
	if (!ring_engine_start(&cfg, port))
		return false;
	return true;
}

static bool reason(void)
{
	const uint32_t piss = 5000000;
	send_tcp(CPORT, CEE_TCP_SYN, piss, 0);
	struct seg r = recv_seg(CPORT, 2000);
	CHECK(r.ok && r.flags == (CEE_TCP_SYN | CEE_TCP_ACK), "no SYN-ACK");
	if (!r.ok)
		return false;
	send_tcp(CPORT, CEE_TCP_ACK, piss + 1, r.seq + 1);
	const struct cee_event *open = find_event(CPORT, CEE_EVT_OPEN, 2000);
	CHECK(open != NULL, "no open");
	if (open == NULL)
		return false;
	// idle 1 s: the engine's FIN, not acknowledged: FIN-WAIT-1
	struct seg fin = {0};
	uint64_t end = now_ms() + 4000;
	while (!(fin.ok && (fin.flags & CEE_TCP_FIN)) && now_ms() < end)
		fin = recv_seg(CPORT, 500);
	CHECK(fin.ok && (fin.flags & CEE_TCP_FIN), "no FIN after the idle timeout");
	char reply[8192];
	CHECK(ring_ctl_request(sock, "conns\n", reply, sizeof(reply), 3000), "conns: no reply");
	CHECK(strstr(reply, "\"state\":\"FIN-WAIT-1\"") != NULL, "conns in FIN-WAIT-1: %s", reply);
	CHECK(find_event(CPORT, CEE_EVT_CLOSED, 0) == NULL, "closed pushed in FIN-WAIT-1");
	CHECK(strstr(reply, "\"reason\"") == NULL,
	      "conns shows a reason the stream has not said (no closed yet): %s", reply);
	char line[64];
	snprintf(line, sizeof(line), "conn %016" PRIx64 "\n", open->conn);
	CHECK(ring_ctl_request(sock, line, reply, sizeof(reply), 3000) &&
		  strstr(reply, "\"ok\":true") && strstr(reply, "\"reason\"") == NULL,
	      "conn in FIN-WAIT-1: %s", reply);
	CHECK(ring_ctl_request(sock, "snapshot\n", reply, sizeof(reply), 3000) &&
		  strstr(reply, "FIN-WAIT-1") && strstr(reply, "\"reason\"") == NULL,
	      "snapshot in FIN-WAIT-1: %s", reply);
	// the peer acknowledges it and closes too: TIME-WAIT, closed pushed
	send_tcp(CPORT, CEE_TCP_FIN | CEE_TCP_ACK, piss + 1, fin.seq + 1);
	const struct cee_event *closed = find_event(CPORT, CEE_EVT_CLOSED, 2000);
	CHECK(closed != NULL && closed->reason == CEE_REASON_IDLE_TIMEOUT, "closed idle_timeout");
	CHECK(ring_ctl_request(sock, "conns\n", reply, sizeof(reply), 3000) &&
		  strstr(reply, "\"state\":\"TIME-WAIT\"") &&
		  strstr(reply, "\"reason\":\"idle_timeout\""),
	      "conns in TIME-WAIT, its closed pushed: %s", reply);
	return true;
}

static bool stall(void)
{
	char reply[8192];
	CHECK(ring_ctl_request(sock, "stats\n", reply, sizeof(reply), 3000) &&
		  strstr(reply, "\"ok\":true"),
	      "stats before the stall: %.200s", reply);
	atomic_store(&stall_shard, true);
	uint64_t t0 = now_ms();
	bool got = ring_ctl_request(sock, "stats\n", reply, sizeof(reply), 9000);
	uint64_t took = now_ms() - t0;
	atomic_store(&stall_shard, false);
	CHECK(got && strstr(reply, "{\"ok\":false,\"error\":\"a shard did not answer in time\"}"),
	      "stats to a stalled shard after %lu ms: %.300s", (unsigned long)took, reply);
	CHECK(took >= 4500, "answered after %lu ms, before the 5 s timeout", (unsigned long)took);
	CHECK(ring_ctl_request(sock, "stats\n", reply, sizeof(reply), 3000) &&
		  strstr(reply, "\"ok\":true") && strstr(reply, "\"mailbox_timeouts\":1"),
	      "stats once the shard polls again: %.300s", reply);
	return true;
}

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "";
	if (strcmp(what, "reason") != 0 && strcmp(what, "stall") != 0) {
		fprintf(stderr, "usage: %s reason|stall\n", argv[0]);
		return 2;
	}
	if (ring_eal_init(argv[0], "ringctl", "0@0,1@1") < 0)
		return 1;
	int p0 = ring_peer_setup("cee_c0", 4096, 0);
	if (p0 < 0 || !start_engine(p0))
		return 1;
	bool ok = strcmp(what, "reason") == 0 ? reason() : stall();
	struct cee_audit_result res;
	ring_stop_audit(&res);
	CHECK(res.ok, "audit: ok=%d", res.ok);
	printf("ring ctl %s: %zu events, %d failures\n", what, nevs, failures);
	cee_engine_destroy(eng);
	cee_engine_cfg_free(&cfg);
	free(evs);
	rte_eal_cleanup();
	return ok && failures == 0 ? 0 : 1;
}
