/* SPDX-License-Identifier: Apache-2.0 */
/* eth.h: Ethernet addresses and the bounds-checked cursor every parser in roam uses.
 * Works on (data, data_end) pairs so XDP and TC programs share the same parsers. */
#ifndef ROAM_LIB_ETH_H
#define ROAM_LIB_ETH_H

#include <linux/types.h>
#include <linux/if_ether.h>
#include <bpf/bpf_endian.h>

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif
#ifndef ETH_P_RARP
#define ETH_P_RARP 0x8035
#endif

/* A position in the frame, checked against data_end before every access. */
struct cursor {
	void *pos;
	void *end;
};

/* Returns a pointer to `len` bytes at the cursor and advances it, or NULL if the frame is
 * shorter. */
#define cursor_pull(c, len)                                                          \
	({                                                                           \
		void *__p = (c)->pos;                                                \
		void *__r = NULL;                                                    \
		if (__p + (len) <= (c)->end) {                                       \
			(c)->pos = __p + (len);                                      \
			__r = __p;                                                   \
		}                                                                    \
		__r;                                                                 \
	})

static __always_inline int eth_is_group(const __u8 *mac)
{
	return mac[0] & 1;
}

static __always_inline int eth_is_zero(const __u8 *mac)
{
	return (mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]) == 0;
}

static __always_inline int eth_addr_equal(const __u8 *a, const __u8 *b)
{
	return ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3]) | (a[4] ^ b[4]) |
		(a[5] ^ b[5])) == 0;
}

static __always_inline void eth_addr_copy(__u8 *dst, const __u8 *src)
{
	__builtin_memcpy(dst, src, ETH_ALEN);
}

/* 802.1Q and 802.1ad tags: roam configures none, so a tagged frame is dropped. */
static __always_inline int eth_is_vlan(__be16 proto)
{
	return proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD);
}

#endif /* ROAM_LIB_ETH_H */
