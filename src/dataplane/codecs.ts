// Codecs for every struct of bpf/roam.h: pure encode/decode pairs between the plain values the
// control plane uses and the bytes in the BPF maps. Each struct codec carries its C layout
// (size and member offsets), which a kernel test checks against the object's BTF, and the
// numeric constants below are checked against the header's #defines: keep all three in step.
import type { Codec } from '../bpf/codec.ts';
import { FAMILY_V4, FAMILY_V6, ipFamily, readIp, writeIp } from './ip-address.ts';

export { FAMILY_V4, FAMILY_V6 };

/** The C layout a codec mirrors: struct name, sizeof, and offsetof of every member. */
export interface CLayout {
  readonly cName: string;
  readonly size: number;
  readonly members: Readonly<Record<string, number>>;
}

/** A codec for a C struct, with the layout it mirrors. */
export interface StructCodec<T> extends Codec<T> {
  readonly layout: CLayout;
}

// ---- constants of bpf/roam.h ----------------------------------------------------------------

export const FLOOD_MAX_LOCAL = 32;
export const FLOOD_MAX_REMOTE = 64;
export const VXLAN_DEFAULT_PORT = 4789;
export const VNI_MAX = 0xffffff;
export const FLOOD_SHIM_MAGIC = 0x726f616d;
/** The Ethernet type a frame carries while a flood_shim is in it (IPv4). */
export const FLOOD_SHIM_ETH_P = 0x0800;
export const STATS_SLOTS = 16384;
export const STATS_PROBES = 4;
/** Slot arrays of the tables every frame reads (bpf/lib/slots.h, src/dataplane/slot-table.ts). */
export const SLOT_PROBES = 4;
export const TSI_SLOTS = 4096;
export const PEER_SLOT_BITS = 14;
export const PEER_SLOTS = 2 ** PEER_SLOT_BITS;
export const NEXTHOP_SLOT_BITS = 12;
export const NEXTHOP_SLOTS = 2 ** NEXTHOP_SLOT_BITS;
/** 2^64 / golden ratio: the multiplier of nve_slot_home (bpf/lib/slots.h). */
export const SLOT_HASH_MULT = 0x9e3779b97f4a7c15n;

export const FDB_LOCAL = 1;
export const FDB_REMOTE = 2;
export const FDB_MOVED = 3;
export const FDB_DUAL = 4;

export const F_CFG_HAS_IP4 = 1 << 0;
export const F_CFG_HAS_IP6 = 1 << 1;
export const F_CFG_GATEWAY = 1 << 2;
export const F_CFG_FIB = 1 << 3;
export const F_CFG_FLOOD_TC = 1 << 4;
export const F_CFG_TRACE = 1 << 5;
export const F_TSI_STRICT_SRC = 1 << 0;
export const F_TSI_MAC = 1 << 1;
export const F_VNI_FLOOD_UNKNOWN = 1 << 0;

export const EVENT_GARP = 1;
export const EVENT_UNSOLICITED_NA = 2;
export const EVENT_RARP = 3;
export const EVENT_NEW_MAC = 4;

/** enum roam_verdict, in order: the counter slot of each name is its index. */
export const VERDICT_NAMES = [
  'encap',
  'decap',
  'local',
  'retunnel',
  'arp-reply',
  'nd-reply',
  'rarp-reply',
  'flood',
  'announce',
  'pass',
  'flood-local',
  'flood-remote',
  'flood-done',
  'dual',
  'dual-copy',
  'drop-truncated',
  'drop-vlan',
  'drop-bad-vxlan',
  'drop-bad-arp',
  'drop-bad-src-mac',
  'drop-not-tsi',
  'drop-unknown-vni',
  'drop-peer-not-allowed',
  'drop-unknown-unicast',
  'drop-src-not-allowed',
  'drop-hairpin',
  'drop-not-local',
  'drop-moved-expired',
  'drop-vni-mismatch',
  'drop-mtu',
  'drop-no-nexthop',
  'drop-no-underlay',
  'drop-no-headroom',
  'drop-no-flood-path',
  'drop-no-flood-list',
  'drop-fragment',
  'drop-redirect',
  'drop-retunnel-loop',
  'drop-ecn',
  // L3 overlay (bpf/lib/route.h, bpf/lib/gateway.h)
  'routed-local',
  'routed-remote',
  'unreach-reply',
  'ttl-expired',
  'gw-arp-reply',
  'gw-nd-reply',
  'gw-echo',
  'drop-no-route',
  'drop-vrf-mismatch',
] as const;
export type VerdictName = (typeof VERDICT_NAMES)[number];
/** Slot of the first drop reason (DROP_FIRST). */
export const DROP_FIRST = VERDICT_NAMES.indexOf('drop-truncated');

/** The counter slot of a verdict name. */
export function verdictSlot(name: VerdictName): number {
  return VERDICT_NAMES.indexOf(name);
}

/** The name of a counter slot, or `verdict-N` for a slot this build does not know. */
export function verdictName(slot: number): string {
  return VERDICT_NAMES[slot] ?? `verdict-${slot}`;
}

// ---- small helpers -----------------------------------------------------------------------------

export function writeMac(mac: string, buf: Buffer, off: number): void {
  const parts = mac.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p))) {
    throw new RangeError(`not a MAC address: "${mac}"`);
  }
  for (let i = 0; i < 6; i++) buf[off + i] = parseInt(parts[i] ?? '', 16);
}

/** "xx" for each byte value. */
const HEX2 = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** The MAC at buf[off..off+6) as lower-case hex pairs with colons (hot: agent resync filters). */
export function readMac(buf: Uint8Array, off: number): string {
  const h = (i: number) => HEX2[buf[off + i] ?? 0];
  return `${h(0)}:${h(1)}:${h(2)}:${h(3)}:${h(4)}:${h(5)}`;
}

export function checkVni(vni: number): void {
  if (!Number.isInteger(vni) || vni < 0 || vni > VNI_MAX) {
    throw new RangeError(`not a VNI (0..${VNI_MAX}): ${vni}`);
  }
}

export function structCodec<T>(
  layout: CLayout,
  encode: (v: T, b: Buffer, o: number) => void,
  decode: (b: Buffer, o: number) => T,
): StructCodec<T> {
  return {
    size: layout.size,
    layout,
    encode(v, b, o) {
      b.fill(0, o, o + layout.size);
      encode(v, b, o);
    },
    decode,
  };
}

// ---- struct nve_addr / IP addresses ------------------------------------------------------------

/** A tunnel endpoint's underlay address, "192.0.2.1" or "2001:db8::1". */
export const nveAddr: StructCodec<string> = structCodec(
  { cName: 'nve_addr', size: 20, members: { family: 0, _pad: 1, ip: 4 } },
  (v, b, o) => {
    b[o] = writeIp(v, b, o + 4);
  },
  (b, o) => readIp(b[o] ?? 0, b, o + 4),
);

// ---- struct fdb_key / fdb_entry ---------------------------------------------------------------

/** A tenant MAC in a virtual network. */
export interface FdbKey {
  vni: number;
  mac: string;
}

export const fdbKey: StructCodec<FdbKey> = structCodec(
  { cName: 'fdb_key', size: 12, members: { vni: 0, mac: 4, _pad: 10 } },
  (v, b, o) => {
    checkVni(v.vni);
    b.writeUInt32LE(v.vni, o);
    writeMac(v.mac, b, o + 4);
  },
  (b, o) => ({ vni: b.readUInt32LE(o), mac: readMac(b, o + 4) }),
);

/** Where frames for a MAC go: a local TSI, a remote NVE, (until untilNs, CLOCK_MONOTONIC
 * as process.hrtime.bigint()) re-tunnelled to the NVE the VM moved to, or, while a VM
 * migrates away, both to its local TSI and to its new NVE (dual, needs the TC programs;
 * without them only the local TSI gets the frames). */
export type FdbEntry = (
  | { kind: 'local'; ifindex: number }
  | { kind: 'remote'; nve: string }
  | { kind: 'moved'; nve: string; untilNs: bigint }
  | { kind: 'dual'; ifindex: number; nve: string }
) & {
  /** The IPv4 a RARP request for the MAC is answered with (absent: none; never 0.0.0.0). */
  rarpIp4?: string;
};

/** Offset of rarp_ip4 in struct fdb_entry. */
export const FDB_RARP_IP4_OFF = 36;

export const fdbEntry: StructCodec<FdbEntry> = structCodec(
  {
    cName: 'fdb_entry',
    size: 40,
    members: {
      kind: 0,
      flags: 1,
      _pad0: 2,
      ifindex: 4,
      moved_until_ns: 8,
      remote: 16,
      rarp_ip4: FDB_RARP_IP4_OFF,
    },
  },
  (v, b, o) => {
    if (v.kind === 'local') {
      b[o] = FDB_LOCAL;
      b.writeUInt32LE(v.ifindex, o + 4);
    } else if (v.kind === 'remote') {
      b[o] = FDB_REMOTE;
      nveAddr.encode(v.nve, b, o + 16);
    } else if (v.kind === 'moved') {
      b[o] = FDB_MOVED;
      b.writeBigUInt64LE(v.untilNs, o + 8);
      nveAddr.encode(v.nve, b, o + 16);
    } else {
      b[o] = FDB_DUAL;
      b.writeUInt32LE(v.ifindex, o + 4);
      nveAddr.encode(v.nve, b, o + 16);
    }
    if (v.rarpIp4 !== undefined) writeRarpIp4(v.rarpIp4, b, o + FDB_RARP_IP4_OFF);
  },
  (b, o) => {
    const e = decodeFdbPlace(b, o);
    const rarp = readRarpIp4(b, o + FDB_RARP_IP4_OFF);
    return rarp === undefined ? e : { ...e, rarpIp4: rarp };
  },
);

/** An FDB entry's kind and place (without its RARP address). */
function decodeFdbPlace(b: Buffer, o: number): FdbEntry {
  const kind = b[o];
  if (kind === FDB_LOCAL) return { kind: 'local', ifindex: b.readUInt32LE(o + 4) };
  if (kind === FDB_REMOTE) return { kind: 'remote', nve: nveAddr.decode(b, o + 16) };
  if (kind === FDB_MOVED) {
    return { kind: 'moved', nve: nveAddr.decode(b, o + 16), untilNs: b.readBigUInt64LE(o + 8) };
  }
  if (kind === FDB_DUAL) {
    return { kind: 'dual', ifindex: b.readUInt32LE(o + 4), nve: nveAddr.decode(b, o + 16) };
  }
  throw new RangeError(`fdb entry with unknown kind ${kind}`);
}

/** The RARP address as 4 bytes (0.0.0.0 reads back as none). */
function writeRarpIp4(v: string, b: Buffer, o: number): void {
  if (ipFamily(v) !== FAMILY_V4) throw new RangeError(`RARP needs an IPv4 address: "${v}"`);
  v.split('.').forEach((p, i) => (b[o + i] = Number(p)));
}

/** The RARP address of 4 bytes, undefined for 0.0.0.0 (none). */
function readRarpIp4(b: Buffer, o: number): string | undefined {
  const q = b.subarray(o, o + 4);
  return q.every((x) => x === 0) ? undefined : Array.from(q).join('.');
}

// ---- struct neigh_key / neigh_entry -------------------------------------------------------

/** An IP (v4 or v6) in a virtual network. */
export interface NeighKey {
  vni: number;
  ip: string;
}

export const neighKey: StructCodec<NeighKey> = structCodec(
  { cName: 'neigh_key', size: 24, members: { vni: 0, family: 4, _pad: 5, ip: 8 } },
  (v, b, o) => {
    checkVni(v.vni);
    b.writeUInt32LE(v.vni, o);
    b[o + 4] = writeIp(v.ip, b, o + 8);
  },
  (b, o) => ({ vni: b.readUInt32LE(o), ip: readIp(b[o + 4] ?? 0, b, o + 8) }),
);

/** The MAC that answers for an IP. */
export const neighEntry: StructCodec<string> = structCodec(
  { cName: 'neigh_entry', size: 8, members: { mac: 0, flags: 6 } },
  (v, b, o) => writeMac(v, b, o),
  (b, o) => readMac(b, o),
);

// ---- struct tsi_info / vni_info / peer_key / peer_info / nexthop ----------------------------

/** A TSI's virtual network; strictSource drops frames from MACs not local on it. */
export interface TsiInfo {
  vni: number;
  strictSource: boolean;
  /** The one MAC configured for this TSI: XDP installs no other announcing MAC here itself. */
  mac?: string | undefined;
}

export const tsiInfo: StructCodec<TsiInfo> = structCodec(
  { cName: 'tsi_info', size: 16, members: { vni: 0, flags: 4, mac: 8, _pad: 14 } },
  (v, b, o) => {
    checkVni(v.vni);
    b.writeUInt32LE(v.vni, o);
    b.writeUInt32LE(
      (v.strictSource ? F_TSI_STRICT_SRC : 0) | (v.mac !== undefined ? F_TSI_MAC : 0),
      o + 4,
    );
    if (v.mac !== undefined) writeMac(v.mac, b, o + 8);
  },
  (b, o) => {
    const flags = b.readUInt32LE(o + 4);
    return {
      vni: b.readUInt32LE(o),
      strictSource: (flags & F_TSI_STRICT_SRC) !== 0,
      ...(flags & F_TSI_MAC ? { mac: readMac(b, o + 8) } : {}),
    };
  },
);

/** One slot of `tsi_slots`: a TSI and its info (ifindex 0: a free slot). */
export interface TsiSlot {
  ifindex: number;
  info: TsiInfo;
}

export const tsiSlot: StructCodec<TsiSlot> = structCodec(
  { cName: 'tsi_slot', size: 20, members: { ifindex: 0, info: 4 } },
  (v, b, o) => {
    b.writeUInt32LE(v.ifindex, o);
    tsiInfo.encode(v.info, b, o + 4);
  },
  (b, o) => ({ ifindex: b.readUInt32LE(o), info: tsiInfo.decode(b, o + 4) }),
);

/** The home slot of a TSI in `tsi_slots`: bpf/lib/slots.h tsi_lookup. */
export function tsiHomeSlot(ifindex: number): number {
  return ifindex & (TSI_SLOTS - 1);
}

/** A virtual network served here; floodUnknown floods unknown unicast instead of dropping. */
export interface VniInfo {
  floodUnknown: boolean;
}

export const vniInfo: StructCodec<VniInfo> = structCodec(
  { cName: 'vni_info', size: 4, members: { flags: 0 } },
  (v, b, o) => b.writeUInt32LE(v.floodUnknown ? F_VNI_FLOOD_UNKNOWN : 0, o),
  (b, o) => ({ floodUnknown: (b.readUInt32LE(o) & F_VNI_FLOOD_UNKNOWN) !== 0 }),
);

/** An NVE allowed to send tunnelled frames of a VNI. */
export interface PeerKey {
  vni: number;
  nve: string;
}

export const peerKey: StructCodec<PeerKey> = structCodec(
  { cName: 'peer_key', size: 24, members: { vni: 0, addr: 4 } },
  (v, b, o) => {
    checkVni(v.vni);
    b.writeUInt32LE(v.vni, o);
    nveAddr.encode(v.nve, b, o + 4);
  },
  (b, o) => ({ vni: b.readUInt32LE(o), nve: nveAddr.decode(b, o + 4) }),
);

/** The value of a peers entry: its presence is what matters. */
export const peerInfo: StructCodec<true> = structCodec(
  { cName: 'peer_info', size: 4, members: { flags: 0 } },
  () => undefined,
  () => true,
);

/** Underlay next-hop MAC towards an NVE. */
export const nexthop: StructCodec<string> = structCodec(
  { cName: 'nexthop', size: 8, members: { mac: 0, _pad: 6 } },
  (v, b, o) => writeMac(v, b, o),
  (b, o) => readMac(b, o),
);

/** One slot of `peer_slots`: a peers key (family 0 in the bytes: a free slot). */
export const peerSlot: StructCodec<PeerKey> = structCodec(
  { cName: 'peer_slot', size: 24, members: { key: 0 } },
  (v, b, o) => peerKey.encode(v, b, o),
  (b, o) => peerKey.decode(b, o),
);

/** One slot of `nexthop_slots`: an NVE and its next hop (family 0 in the bytes: free). */
export interface NexthopSlot {
  nve: string;
  mac: string;
}

export const nexthopSlot: StructCodec<NexthopSlot> = structCodec(
  { cName: 'nexthop_slot', size: 28, members: { addr: 0, nh: 20 } },
  (v, b, o) => {
    nveAddr.encode(v.nve, b, o);
    nexthop.encode(v.mac, b, o + 20);
  },
  (b, o) => ({ nve: nveAddr.decode(b, o), mac: nexthop.decode(b, o + 20) }),
);

const U64 = (1n << 64n) - 1n;

/**
 * The home slot of an NVE address with `seed` in a slot array of 2^bits slots:
 * bpf/lib/slots.h nve_slot_home (address words xor-folded, one multiplicative hash, top bits).
 */
export function nveSlotHome(seed: number, nve: string, bits: number): number {
  const b = Buffer.alloc(nveAddr.size);
  nveAddr.encode(nve, b, 0);
  let w = 0;
  for (let i = 0; i < 4; i++) w ^= b.readUInt32LE(4 + 4 * i);
  const x = (BigInt(w >>> 0) << 32n) | (BigInt(seed) << 8n) | BigInt(b[0] ?? 0);
  return Number(((x * SLOT_HASH_MULT) & U64) >> BigInt(64 - bits));
}

/** The home slot of a peers key in `peer_slots`. */
export function peerHomeSlot(k: PeerKey): number {
  return nveSlotHome(k.vni, k.nve, PEER_SLOT_BITS);
}

/** The home slot of an NVE's next hop in `nexthop_slots`. */
export function nexthopHomeSlot(nve: string): number {
  return nveSlotHome(0, nve, NEXTHOP_SLOT_BITS);
}

/** A u32 key or value (ifindex, VNI): host order. */
export const u32: Codec<number> = {
  size: 4,
  encode: (v, b, o) => void b.writeUInt32LE(v, o),
  decode: (b, o) => b.readUInt32LE(o),
};

// ---- struct flood_list ------------------------------------------------------------------------

/** Head-end replication list of a VNI: local TSI ifindexes and remote NVE addresses. */
export interface FloodList {
  local: number[];
  remote: string[];
}

const FLOOD_LOCAL_OFF = 8;
const FLOOD_REMOTE_OFF = FLOOD_LOCAL_OFF + 4 * FLOOD_MAX_LOCAL;

export const floodList: StructCodec<FloodList> = structCodec(
  {
    cName: 'flood_list',
    size: FLOOD_REMOTE_OFF + nveAddr.size * FLOOD_MAX_REMOTE,
    members: { n_local: 0, n_remote: 4, local_ifindex: FLOOD_LOCAL_OFF, remote: FLOOD_REMOTE_OFF },
  },
  (v, b, o) => {
    if (v.local.length > FLOOD_MAX_LOCAL || v.remote.length > FLOOD_MAX_REMOTE) {
      throw new RangeError(
        `flood list too long: ${v.local.length} local (max ${FLOOD_MAX_LOCAL}), ` +
          `${v.remote.length} remote (max ${FLOOD_MAX_REMOTE})`,
      );
    }
    b.writeUInt32LE(v.local.length, o);
    b.writeUInt32LE(v.remote.length, o + 4);
    v.local.forEach((ifi, i) => b.writeUInt32LE(ifi, o + FLOOD_LOCAL_OFF + 4 * i));
    v.remote.forEach((nve, i) => nveAddr.encode(nve, b, o + FLOOD_REMOTE_OFF + nveAddr.size * i));
  },
  (b, o) => {
    const nl = Math.min(b.readUInt32LE(o), FLOOD_MAX_LOCAL);
    const nr = Math.min(b.readUInt32LE(o + 4), FLOOD_MAX_REMOTE);
    return {
      local: Array.from({ length: nl }, (_, i) => b.readUInt32LE(o + FLOOD_LOCAL_OFF + 4 * i)),
      remote: Array.from({ length: nr }, (_, i) =>
        nveAddr.decode(b, o + FLOOD_REMOTE_OFF + nveAddr.size * i),
      ),
    };
  },
);

// ---- struct roam_config -----------------------------------------------------------------------

/** The underlay as this NVE sees it (map `config`, key 0). */
export interface RoamConfig {
  underlayIfindex: number;
  /** VXLAN UDP port (4789). */
  udpPort: number;
  /** Underlay MTU in bytes: an outer IP packet never exceeds it. */
  mtu: number;
  /** Outer TTL / hop limit (0 = 64). */
  ttl: number;
  /** Outer source MAC: the underlay interface's address. */
  localMac: string;
  /** Next hop for NVEs without a `nexthops` entry. */
  gatewayMac?: string | undefined;
  localIp4?: string | undefined;
  localIp6?: string | undefined;
  /** Resolve missing next hops with bpf_fib_lookup. */
  fib: boolean;
  /** The TC flood programs are attached: XDP may hand frames to them. */
  floodTc: boolean;
  /** Tests only: record tx targets in `trace`; TC does not send. */
  trace: boolean;
  /** One event token per MAC is refilled every this many ns (0 = 100 ms). */
  eventRefillNs: bigint;
  /** Tokens a MAC may spend at once (0 = 4). */
  eventBurst: number;
  /**
   * Random and nonzero: the underlay XDP program writes it into the flood shim of the frames
   * it hands to TC, and TC takes no shim without it (a frame from the wire cannot pose as one).
   */
  floodSecret: number;
}

export const roamConfig: StructCodec<RoamConfig> = structCodec(
  {
    cName: 'roam_config',
    size: 64,
    members: {
      flags: 0,
      underlay_ifindex: 4,
      udp_port: 8,
      mtu: 10,
      ttl: 12,
      _pad0: 13,
      local_mac: 16,
      gateway_mac: 22,
      local_ip4: 28,
      local_ip6: 32,
      event_refill_ns: 48,
      event_burst: 56,
      flood_secret: 60,
    },
  },
  (v, b, o) => {
    let flags = 0;
    if (v.localIp4 !== undefined) {
      if (ipFamily(v.localIp4) !== FAMILY_V4) throw new RangeError(`not IPv4: "${v.localIp4}"`);
      flags |= F_CFG_HAS_IP4;
      const t = Buffer.alloc(16);
      writeIp(v.localIp4, t, 0);
      t.copy(b, o + 28, 0, 4);
    }
    if (v.localIp6 !== undefined) {
      if (ipFamily(v.localIp6) !== FAMILY_V6) throw new RangeError(`not IPv6: "${v.localIp6}"`);
      flags |= F_CFG_HAS_IP6;
      writeIp(v.localIp6, b, o + 32);
    }
    if (v.gatewayMac !== undefined) {
      flags |= F_CFG_GATEWAY;
      writeMac(v.gatewayMac, b, o + 22);
    }
    if (v.fib) flags |= F_CFG_FIB;
    if (v.floodTc) flags |= F_CFG_FLOOD_TC;
    if (v.trace) flags |= F_CFG_TRACE;
    b.writeUInt32LE(flags, o);
    b.writeUInt32LE(v.underlayIfindex, o + 4);
    b.writeUInt16LE(v.udpPort, o + 8);
    b.writeUInt16LE(v.mtu, o + 10);
    b[o + 12] = v.ttl;
    writeMac(v.localMac, b, o + 16);
    b.writeBigUInt64LE(v.eventRefillNs, o + 48);
    b.writeUInt32LE(v.eventBurst, o + 56);
    b.writeUInt32LE(v.floodSecret, o + 60);
  },
  (b, o) => {
    const flags = b.readUInt32LE(o);
    return {
      underlayIfindex: b.readUInt32LE(o + 4),
      udpPort: b.readUInt16LE(o + 8),
      mtu: b.readUInt16LE(o + 10),
      ttl: b[o + 12] ?? 0,
      localMac: readMac(b, o + 16),
      gatewayMac: flags & F_CFG_GATEWAY ? readMac(b, o + 22) : undefined,
      localIp4: flags & F_CFG_HAS_IP4 ? readIp(FAMILY_V4, b, o + 28) : undefined,
      localIp6: flags & F_CFG_HAS_IP6 ? readIp(FAMILY_V6, b, o + 32) : undefined,
      fib: (flags & F_CFG_FIB) !== 0,
      floodTc: (flags & F_CFG_FLOOD_TC) !== 0,
      trace: (flags & F_CFG_TRACE) !== 0,
      eventRefillNs: b.readBigUInt64LE(o + 48),
      eventBurst: b.readUInt32LE(o + 56),
      floodSecret: b.readUInt32LE(o + 60),
    };
  },
);

// ---- struct event_limit / roam_event ----------------------------------------------------------

/** Token bucket of one (vni, MAC) (kernel-owned; read for diagnostics). */
export interface EventLimit {
  lastNs: bigint;
  tokens: number;
}

export const eventLimit: StructCodec<EventLimit> = structCodec(
  { cName: 'event_limit', size: 16, members: { last_ns: 0, tokens: 8, _pad: 12 } },
  (v, b, o) => {
    b.writeBigUInt64LE(v.lastNs, o);
    b.writeUInt32LE(v.tokens, o + 8);
  },
  (b, o) => ({ lastNs: b.readBigUInt64LE(o), tokens: b.readUInt32LE(o + 8) }),
);

export type RoamEventKind = 'garp' | 'unsolicited-na' | 'rarp' | 'new-mac';
const EVENT_KINDS: Record<number, RoamEventKind> = {
  [EVENT_GARP]: 'garp',
  [EVENT_UNSOLICITED_NA]: 'unsolicited-na',
  [EVENT_RARP]: 'rarp',
  [EVENT_NEW_MAC]: 'new-mac',
};
const EVENT_CODES: Record<RoamEventKind, number> = {
  garp: EVENT_GARP,
  'unsolicited-na': EVENT_UNSOLICITED_NA,
  rarp: EVENT_RARP,
  'new-mac': EVENT_NEW_MAC,
};

/** What the agent hears on the `events` ring buffer. */
export interface RoamEvent {
  /** bpf_ktime_get_ns() when seen (CLOCK_MONOTONIC, as process.hrtime.bigint()). */
  timeNs: bigint;
  /** The TSI it was seen on. */
  ifindex: number;
  vni: number;
  mac: string;
  kind: RoamEventKind;
  /** The announced IP (GARP, unsolicited NA); absent for RARP and new MACs. */
  ip?: string;
}

export const roamEvent: StructCodec<RoamEvent> = structCodec(
  {
    cName: 'roam_event',
    size: 40,
    members: { time_ns: 0, ifindex: 8, vni: 12, mac: 16, kind: 22, family: 23, ip: 24 },
  },
  (v, b, o) => {
    b.writeBigUInt64LE(v.timeNs, o);
    b.writeUInt32LE(v.ifindex, o + 8);
    b.writeUInt32LE(v.vni, o + 12);
    writeMac(v.mac, b, o + 16);
    b[o + 22] = EVENT_CODES[v.kind];
    if (v.ip !== undefined) b[o + 23] = writeIp(v.ip, b, o + 24);
  },
  (b, o) => {
    const code = b[o + 22] ?? 0;
    const kind = EVENT_KINDS[code];
    if (kind === undefined) throw new RangeError(`event with unknown kind ${code}`);
    const family = b[o + 23] ?? 0;
    const ev: RoamEvent = {
      timeNs: b.readBigUInt64LE(o),
      ifindex: b.readUInt32LE(o + 8),
      vni: b.readUInt32LE(o + 12),
      mac: readMac(b, o + 16),
      kind,
    };
    if (family === FAMILY_V4 || family === FAMILY_V6) ev.ip = readIp(family, b, o + 24);
    return ev;
  },
);

/** Decodes one ring-buffer record, or null when it is not a valid event (wrong size/kind). */
export function parseRoamEvent(data: Buffer): RoamEvent | null {
  if (data.length < roamEvent.size) return null;
  try {
    return roamEvent.decode(data, 0);
  } catch {
    return null;
  }
}

// ---- struct stats_key / stats_value / trace_rec / flood_shim -------------------------------

export interface StatsKey {
  vni: number;
  /** Counter slot: index into VERDICT_NAMES. */
  verdict: number;
}

export const statsKey: StructCodec<StatsKey> = structCodec(
  { cName: 'stats_key', size: 8, members: { vni: 0, verdict: 4 } },
  (v, b, o) => {
    b.writeUInt32LE(v.vni, o);
    b.writeUInt32LE(v.verdict, o + 4);
  },
  (b, o) => ({ vni: b.readUInt32LE(o), verdict: b.readUInt32LE(o + 4) }),
);

export interface StatsValue {
  packets: bigint;
  bytes: bigint;
}

/** One CPU's slot of a `stats` value. */
export const statsValue: StructCodec<StatsValue> = structCodec(
  { cName: 'stats_value', size: 16, members: { packets: 0, bytes: 8 } },
  (v, b, o) => {
    b.writeBigUInt64LE(v.packets, o);
    b.writeBigUInt64LE(v.bytes, o + 8);
  },
  (b, o) => ({ packets: b.readBigUInt64LE(o), bytes: b.readBigUInt64LE(o + 8) }),
);

/** One CPU's slot of the `stats` array: the counter of (vni, verdict), once packets > 0. */
export interface StatsSlot {
  vni: number;
  verdict: number;
  packets: bigint;
  bytes: bigint;
}

export const statsSlot: StructCodec<StatsSlot> = structCodec(
  { cName: 'stats_slot', size: 24, members: { vni: 0, verdict: 4, packets: 8, bytes: 16 } },
  (v, b, o) => {
    b.writeUInt32LE(v.vni, o);
    b.writeUInt32LE(v.verdict, o + 4);
    b.writeBigUInt64LE(v.packets, o + 8);
    b.writeBigUInt64LE(v.bytes, o + 16);
  },
  (b, o) => ({
    vni: b.readUInt32LE(o),
    verdict: b.readUInt32LE(o + 4),
    packets: b.readBigUInt64LE(o + 8),
    bytes: b.readBigUInt64LE(o + 16),
  }),
);

/** The first candidate slot of (vni, verdict) in `stats`: bpf/lib/stats.h stats_slot_index. */
export function statsSlotIndex(vni: number, verdict: number): number {
  let h = (Math.imul(vni, 0x9e3779b1) ^ Math.imul(verdict, 0x85ebca6b)) >>> 0;
  h = (h ^ (h >>> 15)) >>> 0;
  return h & (STATS_SLOTS - 1);
}

/** Where a frame would have left (tests only, F_CFG_TRACE). */
export interface TraceRec {
  ifindex: number;
  vni: number;
  verdict: number;
  /** Outer destination when encapsulated. */
  remote?: string;
}

export const traceRec: StructCodec<TraceRec> = structCodec(
  { cName: 'trace_rec', size: 32, members: { ifindex: 0, vni: 4, verdict: 8, remote: 12 } },
  (v, b, o) => {
    b.writeUInt32LE(v.ifindex, o);
    b.writeUInt32LE(v.vni, o + 4);
    b.writeUInt32LE(v.verdict, o + 8);
    if (v.remote !== undefined) nveAddr.encode(v.remote, b, o + 12);
  },
  (b, o) => {
    const rec: TraceRec = {
      ifindex: b.readUInt32LE(o),
      vni: b.readUInt32LE(o + 4),
      verdict: b.readUInt32LE(o + 8),
    };
    const family = b[o + 12];
    if (family === FAMILY_V4 || family === FAMILY_V6) rec.remote = nveAddr.decode(b, o + 12);
    return rec;
  },
);

/** Metadata XDP puts in front of a frame it hands to TC for flooding. */
/** What the underlay XDP program inserts after the Ethernet header of a frame it hands to TC. */
export interface FloodShim {
  magic: number;
  /** The config's floodSecret: TC takes only shims that carry it. */
  secret: number;
  vni: number;
  /** The frame's own Ethernet type. */
  ethType: number;
}

export const floodShim: StructCodec<FloodShim> = structCodec(
  {
    cName: 'flood_shim',
    size: 16,
    members: { magic: 0, secret: 4, vni: 8, h_proto: 12, _pad: 14 },
  },
  (v, b, o) => {
    b.writeUInt32LE(v.magic, o);
    b.writeUInt32LE(v.secret, o + 4);
    b.writeUInt32LE(v.vni, o + 8);
    b.writeUInt16BE(v.ethType, o + 12);
  },
  (b, o) => ({
    magic: b.readUInt32LE(o),
    secret: b.readUInt32LE(o + 4),
    vni: b.readUInt32LE(o + 8),
    ethType: b.readUInt16BE(o + 12),
  }),
);

/** Every struct codec, for the layout check against BTF. */
export const STRUCT_CODECS: readonly StructCodec<unknown>[] = [
  nveAddr,
  fdbKey,
  fdbEntry,
  neighKey,
  neighEntry,
  tsiInfo,
  tsiSlot,
  vniInfo,
  peerKey,
  peerInfo,
  peerSlot,
  nexthop,
  nexthopSlot,
  floodList,
  roamConfig,
  eventLimit,
  roamEvent,
  statsKey,
  statsValue,
  statsSlot,
  traceRec,
  floodShim,
] as StructCodec<unknown>[];
