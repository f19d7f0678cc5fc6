// How a VM announces itself after a move, as real hypervisors and guests do it: a gratuitous ARP
// (guest kernels, arping -U), an unsolicited Neighbor Advertisement (IPv6 guests, RFC 4861
// 7.2.6), or QEMU's announce-self burst of RARPs (5 frames, ethertype 0x8035, op 3, spread over
// about half a second). The frames are built here (pure functions, unit-tested) and sent from
// the VM's interface by a few lines of Python over an AF_PACKET socket (announcer.ts), which also
// reports the exact instant each frame left: the test's "announced at" is when the first frame
// was sent, not when a tool was started.
import { ipv4Bytes, macBytes } from './addressing.ts';
import { Announcer } from './announcer.ts';
import type { VmNode } from './topology.ts';

export const ETH_P_ARP = 0x0806;
export const ETH_P_RARP = 0x8035;
export const ETH_P_IPV6 = 0x86dd;
/** ARP opcodes (RFC 826, RFC 903). */
const ARP_OP_REQUEST = 1;
const RARP_OP_REQUEST_REVERSE = 3;
const ICMPV6_NEIGHBOR_ADVERT = 136;
const NA_FLAG_OVERRIDE = 0x2000_0000;
const ND_OPT_TARGET_LL_ADDR = 2;
const IPPROTO_ICMPV6 = 58;
const ND_HOP_LIMIT = 255;
/** Ethernet minimum frame without FCS. */
const ETH_MIN_FRAME_BYTES = 60;
/** QEMU's announce-self: 5 RARPs, 50 ms then 150, 250, 350 ms apart (about half a second). */
export const QEMU_RARP_COUNT = 5;
export const QEMU_RARP_GAPS_MS = [50, 150, 250, 350];

export type AnnounceKind = 'garp' | 'na' | 'rarp';

const BROADCAST = 'ff:ff:ff:ff:ff:ff';

function ethHeader(dst: string, src: string, type: number): Buffer {
  const b = Buffer.alloc(14);
  Buffer.from(macBytes(dst)).copy(b, 0);
  Buffer.from(macBytes(src)).copy(b, 6);
  b.writeUInt16BE(type, 12);
  return b;
}

function pad(frame: Buffer): Buffer {
  return frame.length >= ETH_MIN_FRAME_BYTES
    ? frame
    : Buffer.concat([frame, Buffer.alloc(ETH_MIN_FRAME_BYTES - frame.length)]);
}

/** The ARP/RARP body for Ethernet + IPv4. */
function arpBody(op: number, sha: string, spa: string, tha: string, tpa: string): Buffer {
  const b = Buffer.alloc(28);
  b.writeUInt16BE(1, 0); // hardware: Ethernet
  b.writeUInt16BE(0x0800, 2); // protocol: IPv4
  b[4] = 6;
  b[5] = 4;
  b.writeUInt16BE(op, 6);
  Buffer.from(macBytes(sha)).copy(b, 8);
  Buffer.from(ipv4Bytes(spa)).copy(b, 14);
  Buffer.from(macBytes(tha)).copy(b, 18);
  Buffer.from(ipv4Bytes(tpa)).copy(b, 24);
  return b;
}

/** Gratuitous ARP: a broadcast request for our own IP (sender = target = ip), as arping -U sends. */
export function garpFrame(mac: string, ip: string): Buffer {
  return pad(
    Buffer.concat([
      ethHeader(BROADCAST, mac, ETH_P_ARP),
      arpBody(ARP_OP_REQUEST, mac, ip, '00:00:00:00:00:00', ip),
    ]),
  );
}

/** QEMU's announce frame (qemu_announce_self): RARP "request reverse", sender = target = mac. */
export function rarpFrame(mac: string): Buffer {
  return pad(
    Buffer.concat([
      ethHeader(BROADCAST, mac, ETH_P_RARP),
      arpBody(RARP_OP_REQUEST_REVERSE, mac, '0.0.0.0', mac, '0.0.0.0'),
    ]),
  );
}

/** The 16 bytes of an IPv6 address. */
export function ipv6Bytes(ip: string): Buffer {
  const [head = '', tail] = ip.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  if (tail === undefined && h.length !== 8) throw new Error(`not an IPv6 address: "${ip}"`);
  const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  if (groups.length !== 8 || groups.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g)))
    throw new Error(`not an IPv6 address: "${ip}"`);
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}

/** RFC 1071 one's-complement sum over an ICMPv6 message and its IPv6 pseudo-header. */
function icmpv6Checksum(src: Buffer, dst: Buffer, icmp: Buffer): number {
  const pseudo = Buffer.alloc(40);
  src.copy(pseudo, 0);
  dst.copy(pseudo, 16);
  pseudo.writeUInt32BE(icmp.length, 32);
  pseudo[39] = IPPROTO_ICMPV6;
  const all = Buffer.concat([pseudo, icmp, Buffer.alloc(icmp.length % 2)]);
  let sum = 0;
  for (let i = 0; i < all.length; i += 2) sum += all.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** Unsolicited NA (RFC 4861 7.2.6): to all-nodes, Override set, our MAC as target link-layer. */
export function unsolicitedNaFrame(mac: string, ip: string): Buffer {
  const src = ipv6Bytes(ip);
  const dst = ipv6Bytes('ff02::1');
  const icmp = Buffer.alloc(32);
  icmp[0] = ICMPV6_NEIGHBOR_ADVERT;
  icmp.writeUInt32BE(NA_FLAG_OVERRIDE, 4);
  src.copy(icmp, 8);
  icmp[24] = ND_OPT_TARGET_LL_ADDR;
  icmp[25] = 1; // option length in units of 8 bytes
  Buffer.from(macBytes(mac)).copy(icmp, 26);
  icmp.writeUInt16BE(icmpv6Checksum(src, dst, icmp), 2);
  const ip6 = Buffer.alloc(40);
  ip6.writeUInt32BE(0x6000_0000, 0);
  ip6.writeUInt16BE(icmp.length, 4);
  ip6[6] = IPPROTO_ICMPV6;
  ip6[7] = ND_HOP_LIMIT;
  src.copy(ip6, 8);
  dst.copy(ip6, 24);
  return Buffer.concat([ethHeader('33:33:00:00:00:01', mac, ETH_P_IPV6), ip6, icmp]);
}

/** The frames of one announcement and the gaps between them (ms). */
export function announceFrames(
  vm: Pick<VmNode, 'mac' | 'ipv4' | 'ipv6'>,
  kind: AnnounceKind,
): { frames: Buffer[]; gapsMs: number[] } {
  switch (kind) {
    case 'garp':
      return { frames: [garpFrame(vm.mac, vm.ipv4)], gapsMs: [] };
    case 'na':
      return { frames: [unsolicitedNaFrame(vm.mac, vm.ipv6)], gapsMs: [] };
    case 'rarp':
      return {
        frames: Array.from({ length: QEMU_RARP_COUNT }, () => rarpFrame(vm.mac)),
        gapsMs: QEMU_RARP_GAPS_MS,
      };
  }
}

/**
 * Send `kind` from the VM's interface. Resolves with the wall-clock ms each frame was sent
 * (the first one is the announce instant) once the last one has gone. `via`: the VM's
 * long-lived sender (announcer.ts) instead of a one-shot python3.
 */
export async function announce(vm: VmNode, kind: AnnounceKind, via?: Announcer): Promise<number[]> {
  const { frames, gapsMs } = announceFrames(vm, kind);
  return via ? via.send(vm.ifname, frames, gapsMs) : sendFrames(vm, frames, gapsMs);
}

/** Send raw Ethernet frames from the VM's interface; resolves with when each left (ms). */
export async function sendFrames(
  vm: VmNode,
  frames: Buffer[],
  gapsMs: number[] = [],
): Promise<number[]> {
  // a sender for this one job (a lab keeps one per VM instead: MobilityLab.announcerOf)
  const once = new Announcer(vm.ns);
  try {
    return await once.send(vm.ifname, frames, gapsMs);
  } finally {
    once.close();
  }
}
