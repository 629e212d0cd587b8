/* SPDX-License-Identifier: BSD-3-Clause */
// cee-impair: an impaired link between two network interfaces, for
// scripts/wan.sh (docs/wan.md). No DPDK: two AF_PACKET sockets, one per
// interface, and one ppoll loop.
//
// Every frame received on A is sent out of B and every frame received on B
// is sent out of A, each direction with its own independent model:
//
//   1. random loss: the frame is dropped with probability --loss (a seeded
//      splitmix64 stream per direction, so a run is reproducible: --seed);
//   2. a bottleneck of --rate Mbit/s (0 = none): frames are serialised one
//      after the other at that rate (frame length including the Ethernet
//      header, no preamble/FCS), behind a FIFO of at most --queue bytes
//      (bytes not yet serialised, the frame in service included); a frame
//      that does not fit is dropped (tail drop);
//   3. a fixed one-way delay of --delay ms: the frame leaves at
//      rx_ts + queueing + serialisation + delay, where rx_ts is the kernel's
//      receive timestamp (SO_TIMESTAMPNS), so time spent in this program
//      before it reads the frame is not added to the delay.
//
// Frames keep their order within a direction. A frame the kernel will not
// send on (ENOBUFS: the far veth end's backlog is full, or the frame is longer
// than that end's MTU allows) is tried again TX_RETRIES times, 100 us apart,
// then dropped and counted in tx_dropped; max_frame is the longest frame
// received per direction. Frames this program sends (PACKET_OUTGOING) are
// ignored. At SIGTERM/SIGINT it prints one JSON line of counters per
// direction on stdout and exits 0. "cee-impair: ready" on
// stderr says both sockets are bound. --pcap FILE records the first --snap
// bytes of every frame as it is sent on (both directions, one file, send
// time), i.e. what each side actually received; --pcap-drops FILE the frames
// this program dropped (random loss, tail drop; receive time).
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#define NS_PER_S 1000000000LL
#define NS_PER_MS 1000000LL
#define SLOT_BYTES 2048u    // largest frame kept (1500-byte MTU + headers fits)
#define BATCH 64u	    // frames per recvmmsg/sendmmsg
#define RX_BATCHES 4	    // recvmmsg calls per socket per loop turn
#define SOCK_BUF (8u << 20) // SO_RCVBUF/SO_SNDBUF (forced: root)
#define TX_RETRIES 8 // ENOBUFS retries of one frame (100 us apart) before it counts as dropped

struct dir_params {
	int64_t delay_ns;
	double loss;	    // probability
	double rate_bps;    // 0: no bottleneck
	uint64_t queue_max; // bytes; 0: no limit (beyond the slots)
};

struct dir_stats {
	uint64_t rx;	       // frames read (PACKET_OUTGOING excluded)
	uint64_t rx_bytes;     // their bytes
	uint64_t forwarded;    // frames sent out
	uint64_t fwd_bytes;    // their bytes
	uint64_t lost;	       // random loss
	uint64_t tail_dropped; // bottleneck queue full
	uint64_t overflow;     // no free slot (the delay line is full)
	uint64_t oversize;     // frame longer than SLOT_BYTES
	uint64_t send_errors;  // sendmmsg failed for a frame (other than EAGAIN/ENOBUFS)
	uint64_t tx_dropped;   // the kernel kept refusing the frame (ENOBUFS): e.g. longer
			       // than the far end's MTU, or its backlog full
	uint64_t max_frame;    // largest frame received (bytes, Ethernet header included)
	uint64_t no_timestamp; // no SO_TIMESTAMPNS cmsg: "now" used instead
	uint64_t max_queue;    // largest bottleneck backlog seen at an arrival (bytes)
	int64_t max_late_ns;   // largest delay between a release time and the send
};

struct frame_meta {
	int64_t release_ns;
	uint32_t len;
};

struct dir {
	const char *name; // "a_to_b" / "b_to_a"
	int rx_fd, tx_fd;
	struct dir_params p;
	struct dir_stats s;
	uint64_t rng;
	int64_t link_free_ns; // when the bottleneck has serialised every accepted frame
	// delay line: a ring of frames in release order
	uint32_t mask;
	uint32_t head, tail; // head: next to send; tail: next free
	struct frame_meta *meta;
	unsigned char *data;
	bool tx_blocked;     // the last send hit EAGAIN/ENOBUFS: retry soon
	unsigned tx_retries; // ENOBUFS in a row for the head frame
};

static volatile sig_atomic_t stop_requested;
static FILE *pcap;		// --pcap: frames as sent on
static FILE *pcap_drops;	// --pcap-drops: frames lost or tail-dropped
static uint32_t snap_len = 128; // --snap

// pcap (microsecond) file header, LINKTYPE_ETHERNET.
static void pcap_header(FILE *f)
{
	const uint32_t h[6] = {0xa1b2c3d4u, 2u | (4u << 16), 0, 0, 65535, 1};
	fwrite(h, sizeof(h), 1, f);
}

static void pcap_record(FILE *f, int64_t ts, const void *frame, uint32_t len)
{
	uint32_t cap = len < snap_len ? len : snap_len;
	const uint32_t r[4] = {(uint32_t)(ts / NS_PER_S), (uint32_t)(ts % NS_PER_S / 1000), cap,
			       len};
	fwrite(r, sizeof(r), 1, f);
	fwrite(frame, cap, 1, f);
}

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts); // the clock of SO_TIMESTAMPNS
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double rand01(uint64_t *x)
{
	return (double)(splitmix64(x) >> 11) * (1.0 / 9007199254740992.0);
}

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s --a IF --b IF [--delay MS] [--loss P] [--rate MBIT] [--queue BYTES]\n"
		"          [--seed N] [--slots N]\n"
		"  --a IF, --b IF   the two interfaces; frames from A go out of B and back\n"
		"  --delay MS       one-way delay, each direction (default 0; fractions allowed)\n"
		"  --loss P         random loss probability, each direction (default 0)\n"
		"  --rate MBIT      bottleneck rate in Mbit/s, each direction (default 0: none)\n"
		"  --queue BYTES    bottleneck FIFO limit, tail drop (default 0: no limit)\n"
		"  --delay-ab, --loss-ab, --rate-ab, --queue-ab   the same for A->B only\n"
		"  --delay-ba, --loss-ba, --rate-ba, --queue-ba   the same for B->A only\n"
		"  --seed N         loss random seed (default 1)\n"
		"  --slots N        frames held per direction (default 16384, power of two)\n"
		"  --pcap FILE      write every frame sent on (both directions) to FILE (pcap)\n"
		"  --pcap-drops FILE  write the frames dropped (loss, tail drop) to FILE (pcap)\n"
		"  --snap BYTES     bytes of each frame kept in the pcap files (default 128)\n"
		"SIGTERM/SIGINT: print the counters as one JSON line and exit.\n",
		prog);
}

static bool parse_double(const char *s, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi))
		return false;
	*out = v;
	return true;
}

// @p s as a whole number (decimal, or 0x hex) of at most @p max: no sign
// ("-1" was 2^64 - 1), nothing after it, no overflow
static bool parse_whole(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno != 0 || end == s || *end != '\0' || s[strspn(s, " \t")] == '-' || v > max)
		return false;
	*out = v;
	return true;
}

static int open_if(const char *ifname)
{
	unsigned idx = if_nametoindex(ifname);
	if (idx == 0) {
		fprintf(stderr, "cee-impair: interface %s: %s\n", ifname, strerror(errno));
		return -1;
	}
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (fd < 0) {
		fprintf(stderr, "cee-impair: AF_PACKET socket: %s (needs CAP_NET_RAW)\n",
			strerror(errno));
		return -1;
	}
	struct sockaddr_ll sll;
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = (int)idx;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		fprintf(stderr, "cee-impair: bind %s: %s\n", ifname, strerror(errno));
		close(fd);
		return -1;
	}
	struct packet_mreq mr;
	memset(&mr, 0, sizeof(mr));
	mr.mr_ifindex = (int)idx;
	mr.mr_type = PACKET_MR_PROMISC;
	if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0)
		fprintf(stderr, "cee-impair: promiscuous mode on %s: %s (going on)\n", ifname,
			strerror(errno));
	int one = 1;
#ifdef PACKET_IGNORE_OUTGOING
	// The kernel then does not even queue our own transmissions to us; the
	// PACKET_OUTGOING check below stays for older kernels.
	(void)setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
#endif
	if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) < 0) {
		fprintf(stderr, "cee-impair: SO_TIMESTAMPNS: %s\n", strerror(errno));
		close(fd);
		return -1;
	}
	int buf = (int)SOCK_BUF;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	// Drain what arrived between socket() and bind() (any interface).
	unsigned char junk[64];
	while (recv(fd, junk, sizeof(junk), MSG_TRUNC) >= 0)
		;
	return fd;
}

static uint32_t ring_used(const struct dir *d)
{
	return d->tail - d->head;
}

static unsigned char *slot(const struct dir *d, uint32_t i)
{
	return d->data + (size_t)(i & d->mask) * SLOT_BYTES;
}

// Admit one received frame (already in slot d->tail) at kernel time ts.
// @return true when it enters the delay line.
static bool admit(struct dir *d, uint32_t len, int64_t ts)
{
	d->s.rx++;
	d->s.rx_bytes += len;
	if (len > d->s.max_frame)
		d->s.max_frame = len;
	if (len > SLOT_BYTES) {
		d->s.oversize++;
		return false;
	}
	if (d->p.loss > 0 && rand01(&d->rng) < d->p.loss) {
		d->s.lost++;
		if (pcap_drops != NULL)
			pcap_record(pcap_drops, ts, slot(d, d->tail), len);
		return false;
	}
	int64_t release = ts;
	if (d->p.rate_bps > 0) {
		int64_t start = ts;
		uint64_t backlog = 0;
		if (d->link_free_ns > ts) {
			start = d->link_free_ns;
			backlog =
			    (uint64_t)((double)(d->link_free_ns - ts) * d->p.rate_bps / 8e9 + 0.5);
		}
		if (d->p.queue_max != 0 && backlog + len > d->p.queue_max) {
			d->s.tail_dropped++;
			if (pcap_drops != NULL)
				pcap_record(pcap_drops, ts, slot(d, d->tail), len);
			return false;
		}
		if (backlog + len > d->s.max_queue)
			d->s.max_queue = backlog + len;
		int64_t ser = (int64_t)((double)len * 8e9 / d->p.rate_bps + 0.5);
		d->link_free_ns = start + ser;
		release = d->link_free_ns;
	}
	release += d->p.delay_ns;
	if (ring_used(d) > d->mask) { // cannot happen: the caller reserved the slot
		d->s.overflow++;
		return false;
	}
	struct frame_meta *m = &d->meta[d->tail & d->mask];
	m->release_ns = release;
	m->len = len;
	d->tail++;
	return true;
}

// Read up to RX_BATCHES batches of frames from d->rx_fd into the delay line.
static void receive(struct dir *d)
{
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_ll from[BATCH];
	struct {
		_Alignas(struct cmsghdr) char buf[CMSG_SPACE(sizeof(struct timespec)) + 64];
	} ctl[BATCH];
	static unsigned char scratch[SLOT_BYTES];

	for (int round = 0; round < RX_BATCHES; round++) {
		uint32_t free_slots = d->mask + 1 - ring_used(d);
		uint32_t n = free_slots < BATCH ? free_slots : BATCH;
		bool full = n == 0;
		if (full)
			n = 1; // read one into scratch and count it as overflow
		for (uint32_t i = 0; i < n; i++) {
			iov[i].iov_base = full ? scratch : slot(d, d->tail + i);
			iov[i].iov_len = SLOT_BYTES;
			memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
			msgs[i].msg_hdr.msg_name = &from[i];
			msgs[i].msg_hdr.msg_namelen = sizeof(from[i]);
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			msgs[i].msg_hdr.msg_control = ctl[i].buf;
			msgs[i].msg_hdr.msg_controllen = sizeof(ctl[i].buf);
		}
		int r = recvmmsg(d->rx_fd, msgs, n, MSG_TRUNC, NULL);
		if (r <= 0)
			return; // EAGAIN (nothing more) or an error: poll again
		int64_t fallback = 0;
		// Frames land in slots tail..tail+r-1; admit() advances tail past
		// accepted ones, so a rejected frame's slot is reused by moving the
		// next accepted frame down.
		uint32_t base = d->tail;
		for (int i = 0; i < r; i++) {
			if (from[i].sll_pkttype == PACKET_OUTGOING)
				continue;
			uint32_t len = msgs[i].msg_len; // MSG_TRUNC: the real length
			if (full) {
				d->s.rx++;
				d->s.rx_bytes += len;
				d->s.overflow++;
				continue;
			}
			int64_t ts = 0;
			for (struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c != NULL;
			     c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
				if (c->cmsg_level == SOL_SOCKET &&
				    c->cmsg_type == SCM_TIMESTAMPNS) {
					struct timespec t;
					memcpy(&t, CMSG_DATA(c), sizeof(t));
					ts = (int64_t)t.tv_sec * NS_PER_S + t.tv_nsec;
				}
			}
			if (ts == 0) {
				d->s.no_timestamp++;
				if (fallback == 0)
					fallback = now_ns();
				ts = fallback;
			}
			uint32_t at = base + (uint32_t)i;
			if (at != d->tail && len <= SLOT_BYTES)
				memcpy(slot(d, d->tail), slot(d, at), len);
			admit(d, len, ts);
		}
		if ((uint32_t)r < n)
			return; // drained
	}
}

// Send every frame whose release time has come (order kept).
static void release(struct dir *d, int64_t now)
{
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	d->tx_blocked = false;
	while (ring_used(d) > 0) {
		uint32_t n = 0;
		while (n < BATCH && n < ring_used(d)) {
			const struct frame_meta *m = &d->meta[(d->head + n) & d->mask];
			if (m->release_ns > now)
				break;
			iov[n].iov_base = slot(d, d->head + n);
			iov[n].iov_len = m->len;
			memset(&msgs[n].msg_hdr, 0, sizeof(msgs[n].msg_hdr));
			msgs[n].msg_hdr.msg_iov = &iov[n];
			msgs[n].msg_hdr.msg_iovlen = 1;
			n++;
		}
		if (n == 0)
			return;
		int r = sendmmsg(d->tx_fd, msgs, n, 0);
		if (r < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				d->tx_blocked = true; // socket buffer full: POLLOUT
				return;
			}
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS && ++d->tx_retries <= TX_RETRIES) {
				// the device dropped it (veth: the peer's backlog full, or
				// the frame exceeds the peer's MTU): try again shortly
				d->tx_blocked = true;
				return;
			}
			// this frame cannot be sent: drop it, go on with the next
			if (errno == ENOBUFS)
				d->s.tx_dropped++;
			else
				d->s.send_errors++;
			if (pcap_drops != NULL)
				pcap_record(pcap_drops, now, slot(d, d->head),
					    d->meta[d->head & d->mask].len);
			d->tx_retries = 0;
			d->head++;
			continue;
		}
		d->tx_retries = 0;
		for (int i = 0; i < r; i++) {
			const struct frame_meta *m = &d->meta[d->head & d->mask];
			int64_t late = now - m->release_ns;
			if (late > d->s.max_late_ns)
				d->s.max_late_ns = late;
			d->s.forwarded++;
			d->s.fwd_bytes += m->len;
			if (pcap != NULL)
				pcap_record(pcap, now, slot(d, d->head), m->len);
			d->head++;
		}
		if ((uint32_t)r < n)
			continue; // the next call reports the error of frame r
	}
}

static void print_params(const struct dir_params *p)
{
	printf("{\"delay_ms\":%.3f,\"loss\":%g,\"rate_mbit\":%g,\"queue_bytes\":%" PRIu64 "}",
	       (double)p->delay_ns / NS_PER_MS, p->loss, p->rate_bps / 1e6, p->queue_max);
}

static void print_dir(const struct dir *d)
{
	struct tpacket_stats st;
	socklen_t sl = sizeof(st);
	memset(&st, 0, sizeof(st));
	// kernel-side drops of the receiving socket (its buffer was full)
	(void)getsockopt(d->rx_fd, SOL_PACKET, PACKET_STATISTICS, &st, &sl);
	const struct dir_stats *s = &d->s;
	printf("\"%s\":{\"params\":", d->name);
	print_params(&d->p);
	printf(",\"rx\":%" PRIu64 ",\"rx_bytes\":%" PRIu64 ",\"forwarded\":%" PRIu64
	       ",\"forwarded_bytes\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"tail_dropped\":%" PRIu64
	       ",\"overflow\":%" PRIu64 ",\"oversize\":%" PRIu64 ",\"send_errors\":%" PRIu64
	       ",\"tx_dropped\":%" PRIu64 ",\"max_frame\":%" PRIu64
	       ",\"kernel_drops\":%u,\"no_timestamp\":%" PRIu64 ",\"pending\":%u"
	       ",\"max_queue_bytes\":%" PRIu64 ",\"max_late_us\":%.1f}",
	       s->rx, s->rx_bytes, s->forwarded, s->fwd_bytes, s->lost, s->tail_dropped,
	       s->overflow, s->oversize, s->send_errors, s->tx_dropped, s->max_frame, st.tp_drops,
	       s->no_timestamp, ring_used(d), s->max_queue, (double)s->max_late_ns / 1e3);
}

enum {
	O_A = 256,
	O_B,
	O_DELAY,
	O_LOSS,
	O_RATE,
	O_QUEUE,
	O_DELAY_AB,
	O_LOSS_AB,
	O_RATE_AB,
	O_QUEUE_AB,
	O_DELAY_BA,
	O_LOSS_BA,
	O_RATE_BA,
	O_QUEUE_BA,
	O_SEED,
	O_SLOTS,
	O_PCAP,
	O_PCAP_DROPS,
	O_SNAP,
	O_HELP,
};

// Apply option @opt (one of the per-direction or both-direction options).
static bool set_param(int opt, const char *arg, struct dir_params *ab, struct dir_params *ba)
{
	int kind = opt == O_DELAY || opt == O_DELAY_AB || opt == O_DELAY_BA ? 0
		   : opt == O_LOSS || opt == O_LOSS_AB || opt == O_LOSS_BA  ? 1
		   : opt == O_RATE || opt == O_RATE_AB || opt == O_RATE_BA  ? 2
									    : 3;
	bool to_ab = opt == O_DELAY || opt == O_LOSS || opt == O_RATE || opt == O_QUEUE ||
		     opt == O_DELAY_AB || opt == O_LOSS_AB || opt == O_RATE_AB || opt == O_QUEUE_AB;
	bool to_ba = opt == O_DELAY || opt == O_LOSS || opt == O_RATE || opt == O_QUEUE ||
		     opt == O_DELAY_BA || opt == O_LOSS_BA || opt == O_RATE_BA || opt == O_QUEUE_BA;
	double v;
	static const double hi[] = {600000.0, 1.0, 1e6, 1e12};
	if (!parse_double(arg, 0.0, hi[kind], &v))
		return false;
	struct dir_params *ps[2] = {to_ab ? ab : NULL, to_ba ? ba : NULL};
	for (int i = 0; i < 2; i++) {
		struct dir_params *p = ps[i];
		if (p == NULL)
			continue;
		switch (kind) {
		case 0:
			p->delay_ns = (int64_t)(v * NS_PER_MS + 0.5);
			break;
		case 1:
			p->loss = v;
			break;
		case 2:
			p->rate_bps = v * 1e6;
			break;
		default:
			p->queue_max = (uint64_t)v;
			break;
		}
	}
	return true;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"a", required_argument, NULL, O_A},
	    {"b", required_argument, NULL, O_B},
	    {"delay", required_argument, NULL, O_DELAY},
	    {"loss", required_argument, NULL, O_LOSS},
	    {"rate", required_argument, NULL, O_RATE},
	    {"queue", required_argument, NULL, O_QUEUE},
	    {"delay-ab", required_argument, NULL, O_DELAY_AB},
	    {"loss-ab", required_argument, NULL, O_LOSS_AB},
	    {"rate-ab", required_argument, NULL, O_RATE_AB},
	    {"queue-ab", required_argument, NULL, O_QUEUE_AB},
	    {"delay-ba", required_argument, NULL, O_DELAY_BA},
	    {"loss-ba", required_argument, NULL, O_LOSS_BA},
	    {"rate-ba", required_argument, NULL, O_RATE_BA},
	    {"queue-ba", required_argument, NULL, O_QUEUE_BA},
	    {"seed", required_argument, NULL, O_SEED},
	    {"slots", required_argument, NULL, O_SLOTS},
	    {"pcap", required_argument, NULL, O_PCAP},
	    {"pcap-drops", required_argument, NULL, O_PCAP_DROPS},
	    {"snap", required_argument, NULL, O_SNAP},
	    {"help", no_argument, NULL, O_HELP},
	    {NULL, 0, NULL, 0},
	};
	const char *if_a = NULL, *if_b = NULL, *pcap_path = NULL, *drops_path = NULL;
	struct dir_params ab = {0}, ba = {0};
	uint64_t seed = 1;
	unsigned long slots = 16384;
	int opt;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		unsigned long long v;
		switch (opt) {
		case O_A:
			if_a = optarg;
			break;
		case O_B:
			if_b = optarg;
			break;
		case O_SEED:
			if (!parse_whole(optarg, UINT64_MAX, &v)) {
				fprintf(stderr, "cee-impair: bad --seed '%s'\n", optarg);
				return 2;
			}
			seed = v;
			break;
		case O_SLOTS:
			if (!parse_whole(optarg, 1ul << 20, &v) || v < BATCH ||
			    (v & (v - 1)) != 0) {
				fprintf(stderr,
					"cee-impair: --slots must be a power of two in [%u, %lu]\n",
					BATCH, 1ul << 20);
				return 2;
			}
			slots = (unsigned long)v;
			break;
		case O_PCAP:
			pcap_path = optarg;
			break;
		case O_PCAP_DROPS:
			drops_path = optarg;
			break;
		case O_SNAP:
			// (checked before it is cut to 32 bits: 2^32 + 14 was 14)
			if (!parse_whole(optarg, SLOT_BYTES, &v) || v < 14) {
				fprintf(stderr, "cee-impair: --snap must be in [14, %u]\n",
					SLOT_BYTES);
				return 2;
			}
			snap_len = (uint32_t)v;
			break;
		case 'h':
		case O_HELP:
			usage(stdout, argv[0]);
			return 0;
		case '?':
			usage(stderr, argv[0]);
			return 2;
		default:
			if (!set_param(opt, optarg, &ab, &ba)) {
				fprintf(stderr, "cee-impair: bad value '%s' for --%s\n", optarg,
					opts[opt - O_A].name);
				return 2;
			}
			break;
		}
	}
	if (if_a == NULL || if_b == NULL || optind != argc) {
		usage(stderr, argv[0]);
		return 2;
	}

	if (pcap_path != NULL) {
		pcap = fopen(pcap_path, "wb");
		if (pcap == NULL) {
			fprintf(stderr, "cee-impair: %s: %s\n", pcap_path, strerror(errno));
			return 1;
		}
		pcap_header(pcap);
	}
	if (drops_path != NULL) {
		pcap_drops = fopen(drops_path, "wb");
		if (pcap_drops == NULL) {
			fprintf(stderr, "cee-impair: %s: %s\n", drops_path, strerror(errno));
			return 1;
		}
		pcap_header(pcap_drops);
	}
	struct dir dirs[2] = {
	    {.name = "a_to_b", .p = ab, .rng = seed * 2 + 1},
	    {.name = "b_to_a", .p = ba, .rng = seed * 2 + 2},
	};
	int fa = open_if(if_a);
	if (fa < 0)
		return 1;
	int fb = open_if(if_b);
	if (fb < 0)
		return 1;
	dirs[0].rx_fd = fa;
	dirs[0].tx_fd = fb;
	dirs[1].rx_fd = fb;
	dirs[1].tx_fd = fa;
	for (int i = 0; i < 2; i++) {
		dirs[i].mask = (uint32_t)slots - 1;
		dirs[i].meta = calloc(slots, sizeof(*dirs[i].meta));
		dirs[i].data = malloc(slots * SLOT_BYTES); // pages are touched as used
		if (dirs[i].meta == NULL || dirs[i].data == NULL) {
			fprintf(stderr, "cee-impair: out of memory\n");
			return 1;
		}
	}

	// Signals are blocked except inside ppoll: no lost wake-up.
	sigset_t block, empty;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigemptyset(&empty);
	sigprocmask(SIG_BLOCK, &block, NULL);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	(void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL); // precise ppoll wake-ups

	fprintf(stderr, "cee-impair: ready: %s <-> %s\n", if_a, if_b);
	for (;;) {
		// ppoll delivers a pending signal only when it blocks; under a
		// steady load it may never block: look for it here too
		sigset_t pending;
		if (stop_requested ||
		    (sigpending(&pending) == 0 &&
		     (sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGINT) == 1)))
			break;
		int64_t now = now_ns();
		release(&dirs[0], now);
		release(&dirs[1], now);

		int64_t next = INT64_MAX;
		for (int i = 0; i < 2; i++) {
			const struct dir *d = &dirs[i];
			if (ring_used(d) > 0 && !d->tx_blocked &&
			    d->meta[d->head & d->mask].release_ns < next)
				next = d->meta[d->head & d->mask].release_ns;
		}
		struct pollfd pfd[2] = {
		    {.fd = fa, .events = POLLIN | (dirs[1].tx_blocked ? POLLOUT : 0)},
		    {.fd = fb, .events = POLLIN | (dirs[0].tx_blocked ? POLLOUT : 0)},
		};
		struct timespec to, *top = NULL;
		int64_t wait = next == INT64_MAX ? INT64_MAX : next - now_ns();
		if ((dirs[0].tx_blocked || dirs[1].tx_blocked) && wait > 100000)
			wait = 100000; // ENOBUFS comes with no POLLOUT: retry soon anyway
		if (wait != INT64_MAX) {
			if (wait < 0)
				wait = 0;
			to.tv_sec = (time_t)(wait / NS_PER_S);
			to.tv_nsec = (long)(wait % NS_PER_S);
			top = &to;
		}
		int r = ppoll(pfd, 2, top, &empty);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "cee-impair: ppoll: %s\n", strerror(errno));
			return 1;
		}
		if (pfd[0].revents & (POLLIN | POLLERR))
			receive(&dirs[0]);
		if (pfd[1].revents & (POLLIN | POLLERR))
			receive(&dirs[1]);
	}

	printf("{\"a\":\"%s\",\"b\":\"%s\",\"seed\":%" PRIu64 ",", if_a, if_b, seed);
	print_dir(&dirs[0]);
	putchar(',');
	print_dir(&dirs[1]);
	printf("}\n");
	fflush(stdout);
	if (pcap != NULL && fclose(pcap) != 0) {
		fprintf(stderr, "cee-impair: writing %s: %s\n", pcap_path, strerror(errno));
		return 1;
	}
	if (pcap_drops != NULL && fclose(pcap_drops) != 0) {
		fprintf(stderr, "cee-impair: writing %s: %s\n", drops_path, strerror(errno));
		return 1;
	}
	return 0;
}
