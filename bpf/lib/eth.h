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

/* One 2- or 4-byte load or store at any address of a frame or map value. struct ethhdr is
 * packed and MACs and addresses are byte arrays, so clang splits every plain access to them
 * into byte loads, shifts and ors (or byte stores); through a void pointer it emits one
 * instruction. The verifier allows unaligned frame and map value access where the CPU has
 * efficient unaligned access (x86, arm64); stack slots must stay aligned, so a stack
 * destination must be declared aligned to the width written. */
static __always_inline __u16 load_u16(const void *p)
{
	return *(const __u16 *)p;
}

static __always_inline __u32 load_u32(const void *p)
{
	return *(const __u32 *)p;
}

static __always_inline void store_u16(void *p, __u16 v)
{
	*(__u16 *)p = v;
}

static __always_inline void store_u32(void *p, __u32 v)
{
	*(__u32 *)p = v;
}

static __always_inline int eth_is_group(const __u8 *mac)
{
	return mac[0] & 1;
}

/* mac: in a frame or a map value (not on the stack: two loads at any alignment). */
static __always_inline int eth_is_zero(const __u8 *mac)
{
	return (load_u32(mac) | load_u16(mac + 4)) == 0;
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

/* eth_addr_copy in three 16-bit moves instead of six byte moves, for the per-frame paths.
 * Either side may be in a frame or a map value at any alignment; one on the stack must be
 * 2-byte aligned (MACs inside roam's structs are; a bare __u8[6] needs
 * __attribute__((aligned(2)))). */
static __always_inline void eth_addr_copy_words(__u8 *dst, const __u8 *src)
{
	store_u16(dst, load_u16(src));
	store_u16(dst + 2, load_u16(src + 2));
	store_u16(dst + 4, load_u16(src + 4));
}

/* The frame's Ethernet type (network order), in one load. */
static __always_inline __be16 eth_proto(const struct ethhdr *eth)
{
	return load_u16(&eth->h_proto);
}

/* 802.1Q and 802.1ad tags: roam configures none, so a tagged frame is dropped. */
static __always_inline int eth_is_vlan(__be16 proto)
{
	return proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD);
}

#endif /* ROAM_LIB_ETH_H */
