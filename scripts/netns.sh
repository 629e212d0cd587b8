#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# A network namespace and a veth pair for running cee-engine against the
# Linux TCP stack:
#
#   root namespace                      namespace $NETNS_NAME
#   $NETNS_HOST_IF (no IP; the engine   $NETNS_PEER_IF  $NETNS_PEER_IP/24
#   owns it through net_af_packet,      (Linux peers: python, openssl, curl)
#   as $NETNS_ENGINE_IP)
#
# Names derive from an id (default: the calling shell's PID) so that several
# runs can exist side by side; interface names stay within 15 characters.
# Offloads are off on both ends: otherwise the kernel hands af_packet frames
# with partial checksums (CHECKSUM_PARTIAL) and GRO-merged super-frames.
#
# Source it and call netns_up [ID] / netns_down, or run it:
#   scripts/netns.sh up [ID]     prints the variables, leaves the setup in place
#   scripts/netns.sh down [ID]

NETNS_OFFLOADS=(rx off tx off tso off gso off gro off)

# Set the NETNS_* names for @1 (an id, default $$) without creating anything.
# shellcheck disable=SC2034 # the names are for the caller
netns_names() {
	local id=${1:-$$}
	local x=$((id % 200 + 20))
	NETNS_ID=$id
	NETNS_NAME=cee-it-$id
	NETNS_HOST_IF=ceeh$id
	NETNS_PEER_IF=ceep$id
	NETNS_SUBNET=10.77.$x
	NETNS_ENGINE_IP=10.77.$x.1
	NETNS_PEER_IP=10.77.$x.2
	NETNS_PREFIX=24
	if [[ ${#NETNS_HOST_IF} -gt 15 ]]; then
		echo "netns: id '$id' makes interface names longer than 15 characters" >&2
		return 1
	fi
}

# Create the namespace and the veth pair. @return 0, or 1 with a message on
# stderr (nothing left behind).
netns_up() {
	netns_names "${1:-$$}" || return 1
	netns_down 2>/dev/null # leftovers of a crashed run with the same id
	{
		ip netns add "$NETNS_NAME" &&
			ip link add "$NETNS_HOST_IF" type veth peer name "$NETNS_PEER_IF" &&
			ip link set "$NETNS_PEER_IF" netns "$NETNS_NAME"
	} || {
		echo "netns: cannot create namespace/veth (no CAP_NET_ADMIN/CAP_SYS_ADMIN?)" >&2
		netns_down 2>/dev/null
		return 1
	}
	local ns=(ip netns exec "$NETNS_NAME")
	# host end: no IP, no IPv6 chatter (router solicitations, MLD) for the engine
	sysctl -qw "net.ipv6.conf.$NETNS_HOST_IF.disable_ipv6=1" 2>/dev/null
	if ! {
		ip link set "$NETNS_HOST_IF" mtu 1500 &&
			ethtool -K "$NETNS_HOST_IF" "${NETNS_OFFLOADS[@]}" >/dev/null 2>&1 &&
			ip link set "$NETNS_HOST_IF" up &&
			"${ns[@]}" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 &&
			"${ns[@]}" sysctl -qw net.ipv6.conf.default.disable_ipv6=1 &&
			# kernel ephemeral ports stay below the ports test_bad_input forges
			"${ns[@]}" sysctl -qw net.ipv4.ip_local_port_range="20000 44999" &&
			"${ns[@]}" ip link set lo up &&
			"${ns[@]}" ip link set "$NETNS_PEER_IF" mtu 1500 &&
			"${ns[@]}" ethtool -K "$NETNS_PEER_IF" "${NETNS_OFFLOADS[@]}" >/dev/null 2>&1 &&
			"${ns[@]}" ip addr add "$NETNS_PEER_IP/$NETNS_PREFIX" dev "$NETNS_PEER_IF" &&
			"${ns[@]}" ip link set "$NETNS_PEER_IF" up
	}; then
		echo "netns: configuring $NETNS_HOST_IF/$NETNS_PEER_IF failed (offloads: ethtool -K ${NETNS_OFFLOADS[*]})" >&2
		netns_down 2>/dev/null
		return 1
	fi
}

# Delete what netns_up created (idempotent).
netns_down() {
	[[ -n ${NETNS_NAME:-} ]] || return 0
	ip link del "$NETNS_HOST_IF" 2>/dev/null
	ip netns del "$NETNS_NAME" 2>/dev/null
	return 0
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	case ${1:-} in
	up)
		netns_up "${2:-$$}" || exit 1
		declare -p NETNS_NAME NETNS_HOST_IF NETNS_PEER_IF NETNS_ENGINE_IP NETNS_PEER_IP NETNS_PREFIX |
			sed 's/^declare -- //'
		;;
	down)
		netns_names "${2:?usage: $0 down ID}" && netns_down
		;;
	*)
		echo "usage: $0 up [ID] | down ID" >&2
		exit 2
		;;
	esac
fi
