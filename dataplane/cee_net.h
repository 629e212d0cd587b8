/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

/**
 * @file
 * Ethernet, ARP, IPv4, ICMP and TCP header parsing and building on mbufs.
 * Every malformed input maps to one drop cause, counted by the shard.
 */

#include <stdint.h>

#include <rte_ether.h>
#include <rte_mbuf.h>

#include "cee_tcp.h"

/* X(enumerator suffix, printed name): why a received frame was dropped. */
#define CEE_DROP_LIST(X)                                                                           \
	X(BAD_ETH, "bad_eth")                                                                      \
	X(UNSUPPORTED_ETHERTYPE, "unsupported_ethertype")                                          \
	X(BAD_ARP, "bad_arp")                                                                      \
	X(BAD_IP_VERSION, "bad_ip_version")                                                        \
	X(BAD_IP_LEN, "bad_ip_len")                                                                \
	X(BAD_IP_CSUM, "bad_ip_csum")                                                              \
	X(IP_FRAGMENT, "ip_fragment")                                                              \
	X(BAD_IP_ADDR, "bad_ip_addr")                                                              \
	X(NOT_FOR_US, "not_for_us")                                                                \
	X(UNSUPPORTED_PROTO, "unsupported_proto")                                                  \
	X(BAD_ICMP, "bad_icmp")                                                                    \
	X(BAD_TCP_LEN, "bad_tcp_len")                                                              \
	X(BAD_TCP_CSUM, "bad_tcp_csum")                                                            \
	X(BAD_TCP_OPTS, "bad_tcp_opts")                                                            \
	X(BAD_TCP_FLAGS, "bad_tcp_flags")                                                          \
	X(BAD_TCP_PORT, "bad_tcp_port")                                                            \
	X(NO_CONN, "no_conn")                                                                      \
	X(NO_LISTENER, "no_listener")                                                              \
	X(HANDOFF_FULL, "handoff_full")                                                            \
	X(HANDOFF_STOPPED, "handoff_stopped")                                                      \
	X(NO_MBUF, "no_mbuf")                                                                      \
	X(TX_FULL, "tx_full")                                                                      \
	X(ICMP_IGNORED, "icmp_ignored")

#define CEE_X_ENUM_DROP(e, s) CEE_DROP_##e,
enum cee_drop { CEE_DROP_LIST(CEE_X_ENUM_DROP) CEE_DROP__COUNT };
const char *cee_drop_str(enum cee_drop d);

/** What the parser found in a frame. */
enum cee_pkt_kind {
	CEE_PKT_DROP, /**< malformed or not ours: see cause */
	CEE_PKT_ARP,
	CEE_PKT_ICMP_ECHO,
	CEE_PKT_TCP,
	/**
	 * ICMP fragmentation needed (RFC 1191) about a TCP segment we sent: the
	 * addresses and ports are that connection's, as its incoming segments
	 * carry them (src = the peer); seg.seq is the quoted segment's sequence
	 * number, icmp_mtu the next-hop MTU.
	 */
	CEE_PKT_ICMP_PTB,
	/**
	 * ICMP destination unreachable (RFC 792: net, host, protocol or port
	 * unreachable; RFC 1122 and 1812: network or host unknown, or
	 * administratively prohibited) about a TCP segment we sent: tuple and
	 * seg.seq as for CEE_PKT_ICMP_PTB, icmp_code the code.
	 */
	CEE_PKT_ICMP_UNREACH,
};

/** A parsed TCP/IPv4 frame. Addresses and ports in host order. */
struct cee_pkt {
	uint8_t kind;  /**< enum cee_pkt_kind */
	uint8_t cause; /**< enum cee_drop when kind == CEE_PKT_DROP */
	uint16_t l3_off;
	uint32_t src_ip, dst_ip;
	uint16_t sport, dport;
	struct rte_ether_addr src_mac;
	uint16_t icmp_mtu; /**< CEE_PKT_ICMP_PTB: the next-hop MTU (0 when the router gave none) */
	uint8_t icmp_code; /**< CEE_PKT_ICMP_UNREACH: the code */
	struct cee_tcp_seg seg;
};

/**
 * Parse and validate @p m (checksums unless the port vouched for them,
 * lengths, header fields, TCP options, flag combinations) for local
 * address @p our_ip (host order).
 */
void cee_net_parse(struct rte_mbuf *m, uint32_t our_ip, uint32_t ip_count, struct cee_pkt *p);

/**
 * Ones' complement sum (RFC 1071) of @p len bytes, folded to 16 bits, of
 * 16-bit words loaded in host order: what rte_raw_cksum() returns.
 */
uint16_t cee_net_cksum(const void *buf, uint32_t len);

/** Where a built segment goes. */
struct cee_net_addr {
	struct rte_ether_addr src_mac, dst_mac;
	uint32_t src_ip, dst_ip; /**< host order */
	uint16_t sport, dport;   /**< host order */
};

/**
 * Build a full Ethernet/IPv4/TCP frame for @p out (options and payload
 * included, checksums computed) in a new mbuf from @p mp.
 * @return the mbuf, or NULL when the pool is empty or the payload does not fit.
 */
struct rte_mbuf *cee_net_build_tcp(struct rte_mempool *mp, const struct cee_net_addr *a,
				   const struct cee_tcp_out *out);

/**
 * Write the frame of cee_net_build_tcp() into @p m, an empty (reset) mbuf.
 * @return 0, -EMSGSIZE when it does not fit, or -EINVAL when the options
 * need more than 40 bytes (@p m is left to the caller).
 */
int cee_net_fill_tcp(struct rte_mbuf *m, const struct cee_net_addr *a,
		     const struct cee_tcp_out *out);
/**
 * cee_net_fill_tcp() into @p m (an empty mbuf, or NULL when none could be
 * had). @return @p m, or NULL (@p m freed) when it does not fit.
 */
struct rte_mbuf *cee_net_build_tcp_in(struct rte_mbuf *m, const struct cee_net_addr *a,
				      const struct cee_tcp_out *out);

/**
 * Turn an ARP request for one of our addresses (@p our_ip .. + @p ip_count - 1)
 * in @p m into the reply, in place.
 * @return 0, or -EINVAL when @p m is not a request for us (caller drops it).
 */
int cee_net_arp_reply(struct rte_mbuf *m, const struct rte_ether_addr *our_mac, uint32_t our_ip,
		      uint32_t ip_count);

/** The fields of an ARP packet (host order) that the resolver learns from. */
struct cee_arp_info {
	uint16_t op; /**< RTE_ARP_OP_REQUEST or _REPLY */
	uint32_t sip, tip;
	struct rte_ether_addr sha;
	bool probe; /**< a request from 0.0.0.0 for one of our addresses: another
		     *   host checks it is free (RFC 5227); answered, nothing learnt */
	bool other_probe; /**< a request from 0.0.0.0 for another address: a host
			   *   checks that one is free (RFC 5227); not for us */
	bool conflict; /**< the sender claims one of our addresses (sip ours): an
			*   address conflict, or our own frame looped back
			*   (the caller compares sha with its MAC); nothing learnt */
};

/**
 * Read the ARP packet in @p m (already validated by cee_net_parse()).
 * @return 0 (see probe, other_probe, conflict), or -EINVAL for an opcode
 * other than request/reply or a sender that must not be learned (broadcast,
 * multicast, loopback, 0/8, zero or multicast MAC).
 */
int cee_net_arp_info(const struct rte_mbuf *m, uint32_t our_ip, uint32_t ip_count,
		     struct cee_arp_info *ai);

/** A broadcast ARP request for @p target_ip from @p our_ip. @return the mbuf or NULL. */
struct rte_mbuf *cee_net_build_arp_request(struct rte_mempool *mp,
					   const struct rte_ether_addr *our_mac, uint32_t our_ip,
					   uint32_t target_ip);

/**
 * Turn an ICMP echo request in @p m into the reply from @p our_mac, in place.
 * @return 0 or -EINVAL.
 */
int cee_net_icmp_echo_reply(struct rte_mbuf *m, const struct rte_ether_addr *our_mac,
			    const struct cee_pkt *p);
