/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <rte_ethdev.h>

#include "cee_flow.h"
#include "cee_port.h"

#define RX_DESC 1024
#define TX_DESC 1024
// The largest redirection table and key programmed (ice: 2048 entries, a
// 52-byte key; beyond them the port is steered by software hash)
#define RETA_MAX 4096
#define KEY_MAX 128

static int program_reta(uint16_t port_id, uint16_t reta_size, unsigned nshards)
{
	static struct rte_eth_rss_reta_entry64 reta[RETA_MAX / RTE_ETH_RETA_GROUP_SIZE];
	memset(reta, 0, sizeof(reta));
	for (unsigned i = 0; i < reta_size; i++) {
		reta[i / RTE_ETH_RETA_GROUP_SIZE].mask |= UINT64_C(1) << (i % RTE_ETH_RETA_GROUP_SIZE);
		// Same function as cee_flow_owner(): software and NIC agree.
		reta[i / RTE_ETH_RETA_GROUP_SIZE].reta[i % RTE_ETH_RETA_GROUP_SIZE] =
			(uint16_t)((i % CEE_RETA_SIZE) % nshards);
	}
	return rte_eth_dev_rss_reta_update(port_id, reta, reta_size);
}

// Does the port hash IPv4/TCP with our key (@p want, @p len bytes)? (A
// driver that cannot say -- no rss_hash_conf_get -- is taken at its word;
// the shards' checks of the values remain.)
static bool rss_key_taken(uint16_t port_id, const uint8_t *want, uint8_t len)
{
	uint8_t key[KEY_MAX];
	struct rte_eth_rss_conf rc = {.rss_key = key, .rss_key_len = len};
	if (rte_eth_dev_rss_hash_conf_get(port_id, &rc) != 0)
		return true;
	return rc.rss_key_len == len && memcmp(key, want, len) == 0 &&
	       (rc.rss_hf & RTE_ETH_RSS_NONFRAG_IPV4_TCP) != 0;
}

int cee_port_setup(uint16_t port_id, unsigned nshards, struct rte_mempool *mp,
		   struct cee_port_info *info)
{
	struct rte_eth_dev_info di;
	int rc = rte_eth_dev_info_get(port_id, &di);
	if (rc < 0)
		return rc;
	if (di.max_tx_queues < nshards) {
		fprintf(stderr,
			"cee: port %u (%s) has %u tx queues, %u shards need one each "
			"(for net_af_packet add qpairs=%u)\n",
			port_id, di.driver_name, di.max_tx_queues, nshards, nshards);
		return -EINVAL;
	}
	memset(info, 0, sizeof(*info));
	info->port_id = port_id;
	info->nb_rxq = (uint16_t)(di.max_rx_queues < nshards ? di.max_rx_queues : nshards);

	struct rte_eth_conf conf;
	memset(&conf, 0, sizeof(conf));
	// our key pattern at the port's key size (any even size from 16
	// bytes: the input uses the first 16)
	static uint8_t key[KEY_MAX];
	uint8_t key_len = di.hash_key_size;
	bool rss = nshards > 1 && info->nb_rxq == nshards &&
		   (di.flow_type_rss_offloads & RTE_ETH_RSS_NONFRAG_IPV4_TCP) && key_len >= 16 &&
		   key_len <= KEY_MAX && key_len % 2 == 0 && di.reta_size >= CEE_RETA_SIZE &&
		   di.reta_size <= RETA_MAX && di.reta_size % CEE_RETA_SIZE == 0;
	if (rss) {
		cee_rss_key_fill(key, key_len);
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_key = key;
		conf.rx_adv_conf.rss_conf.rss_key_len = key_len;
		conf.rx_adv_conf.rss_conf.rss_hf = RTE_ETH_RSS_NONFRAG_IPV4_TCP;
		if (di.rx_offload_capa & RTE_ETH_RX_OFFLOAD_RSS_HASH)
			conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_RSS_HASH;
	}
	rc = rte_eth_dev_configure(port_id, info->nb_rxq, (uint16_t)nshards, &conf);
	if (rc < 0) {
		fprintf(stderr, "cee: port %u: configure: %s\n", port_id, strerror(-rc));
		return rc;
	}
	uint16_t nrx = RX_DESC, ntx = TX_DESC;
	rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &nrx, &ntx);
	int socket = rte_eth_dev_socket_id(port_id);
	if (socket < 0)
		socket = 0;
	for (uint16_t q = 0; q < info->nb_rxq; q++) {
		rc = rte_eth_rx_queue_setup(port_id, q, nrx, (unsigned)socket, NULL, mp);
		if (rc < 0) {
			fprintf(stderr, "cee: port %u: rx queue %u: %s\n", port_id, q, strerror(-rc));
			return rc;
		}
	}
	for (uint16_t q = 0; q < nshards; q++) {
		rc = rte_eth_tx_queue_setup(port_id, q, ntx, (unsigned)socket, NULL);
		if (rc < 0) {
			fprintf(stderr, "cee: port %u: tx queue %u: %s\n", port_id, q, strerror(-rc));
			return rc;
		}
	}
	rc = rte_eth_dev_start(port_id);
	if (rc < 0) {
		fprintf(stderr, "cee: port %u: start: %s\n", port_id, strerror(-rc));
		return rc;
	}
	if (rss && program_reta(port_id, di.reta_size, nshards) < 0)
		rss = false; // software hand-off still delivers every flow to its owner
	if (rss && !rss_key_taken(port_id, key, key_len)) {
		// a driver that keeps its own key computes another hash: its
		// value must not steer (an active open's SYN-ACK went to a shard
		// that did not own it); the shards check the values too (cee_flow.h)
		fprintf(stderr,
			"cee: port %u (%s): the driver did not take our RSS key: frames are "
			"steered by software hash\n",
			port_id, di.driver_name);
		rss = false;
	}
	info->rss = rss;
	rte_eth_macaddr_get(port_id, &info->mac);
	if (rte_is_zero_ether_addr(&info->mac)) {
		// Some virtual ports (net_ring) have no address; ARP cannot
		// learn a zero MAC, so use a locally administered one derived
		// from the port id, in the port if it accepts it, else in our
		// frames only.
		struct rte_ether_addr mac = {{0x02, 0xce, 0xe0, 0x00, (uint8_t)(port_id >> 8),
					      (uint8_t)port_id}};
		(void)rte_eth_dev_default_mac_addr_set(port_id, &mac);
		info->mac = mac;
	}
	return 0;
}

int cee_port_af_packet_fanout_taken(const char *ifname)
{
	unsigned ifindex = if_nametoindex(ifname);
	if (ifindex == 0)
		return -errno;
	int fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0)
		return -errno;
	// a socket bound to an interface that is down joins no group (EINVAL,
	// as for a clash): the PMD failed for that, not a clash (review)
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	if (!(ifr.ifr_flags & IFF_UP)) {
		close(fd);
		return 0;
	}
	// bound as the PMD binds its queues (all protocols, this interface):
	// a group is joined only by sockets bound alike
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_ALL),
		.sll_ifindex = (int)ifindex,
	};
	int rc = 0;
	if (bind(fd, (const struct sockaddr *)&sll, sizeof(sll)) != 0) {
		rc = -errno;
	} else {
		// the PMD's id, mode and flags (drivers/net/af_packet, 22.11)
		// (unsigned: the flags reach bit 31, past an int's shift)
		unsigned arg = ((unsigned)getpid() ^ ifindex) & 0xffff;
		arg |= (unsigned)(PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG |
				  PACKET_FANOUT_FLAG_ROLLOVER)
		       << 16;
		// EINVAL: a group of that id exists for another interface (or
		// with another mode); a free id makes a group of our own, gone
		// when the socket closes
		if (setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg)) != 0)
			rc = errno == EINVAL ? 1 : -errno;
	}
	close(fd);
	return rc;
}
