/* SPDX-License-Identifier: Apache-2.0 */
/* arp.h: ARP (RFC 826) and RARP (RFC 903) over Ethernet/IPv4: parsing, gratuitous ARP
 * detection, and replies built in place so a known address never needs a flood. */
#ifndef ROAM_LIB_ARP_H
#define ROAM_LIB_ARP_H

#include "lib/eth.h"

/* From linux/if_arp.h, which drags in libc headers a BPF build cannot use. */
#define ARPHRD_ETHER_ROAM 1
#define ARPOP_REQUEST_ROAM 1
#define ARPOP_REPLY_ROAM 2

#define ARPOP_RREQUEST_ROAM 3 /* RARP request */
#define ARPOP_RREPLY_ROAM 4   /* RARP reply */

/* The responder address in RARP replies: locally administered "roam" (02:72:6f:61:6d:00). */
static __always_inline void rarp_responder_mac(__u8 *mac)
{
	mac[0] = 0x02;
	mac[1] = 0x72;
	mac[2] = 0x6f;
	mac[3] = 0x61;
	mac[4] = 0x6d;
	mac[5] = 0x00;
}

/* ARP/RARP payload for Ethernet hardware and IPv4 protocol addresses. */
struct arp_eth_ipv4 {
	__be16 htype;
	__be16 ptype;
	__u8 hlen;
	__u8 plen;
	__be16 op;
	__u8 sha[ETH_ALEN];
	__u8 spa[4];
	__u8 tha[ETH_ALEN];
	__u8 tpa[4];
} __attribute__((packed));

/* True when the payload is Ethernet/IPv4 (the only ARP roam answers or forwards). */
static __always_inline int arp_is_eth_ipv4(const struct arp_eth_ipv4 *arp)
{
	return arp->htype == bpf_htons(ARPHRD_ETHER_ROAM) && arp->ptype == bpf_htons(ETH_P_IP) &&
	       arp->hlen == ETH_ALEN && arp->plen == 4;
}

static __always_inline int arp_ip_equal(const __u8 *a, const __u8 *b)
{
	return *(const __u32 *)a == *(const __u32 *)b;
}

/* Gratuitous ARP: request or reply whose sender IP equals its target IP (and is not 0,
 * which is an RFC 5227 probe). */
static __always_inline int arp_is_gratuitous(const struct arp_eth_ipv4 *arp)
{
	return (arp->op == bpf_htons(ARPOP_REQUEST_ROAM) || arp->op == bpf_htons(ARPOP_REPLY_ROAM)) &&
	       arp_ip_equal(arp->spa, arp->tpa) && *(const __u32 *)arp->spa != 0;
}

/* Turns a request for tpa into the reply "tpa is at mac", addressed back to the asker. */
static __always_inline void arp_prepare_reply(struct ethhdr *eth, struct arp_eth_ipv4 *arp,
					      const __u8 *mac)
{
	__u8 ip[4];

	__builtin_memcpy(ip, arp->tpa, 4);
	eth_addr_copy(eth->h_dest, arp->sha);
	eth_addr_copy(eth->h_source, mac);
	arp->op = bpf_htons(ARPOP_REPLY_ROAM);
	eth_addr_copy(arp->tha, arp->sha);
	__builtin_memcpy(arp->tpa, arp->spa, 4);
	eth_addr_copy(arp->sha, mac);
	__builtin_memcpy(arp->spa, ip, 4);
}

/* Turns a RARP request for tha into the reply "tha has ip4", addressed back to the asker. */
static __always_inline void rarp_prepare_reply(struct ethhdr *eth, struct arp_eth_ipv4 *arp,
					       const __u8 *ip4)
{
	eth_addr_copy(eth->h_dest, arp->sha);
	rarp_responder_mac(eth->h_source);
	arp->op = bpf_htons(ARPOP_RREPLY_ROAM);
	rarp_responder_mac(arp->sha);
	__builtin_memset(arp->spa, 0, 4);
	__builtin_memcpy(arp->tpa, ip4, 4);
}

#endif /* ROAM_LIB_ARP_H */
