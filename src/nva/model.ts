// The directory's data model: what the NVA knows about every (VNI, MAC), which NVEs serve a VN,
// what an orchestrator provisioned, and which migrations it announced. Plain data only, shared by
// the rules, every store and the protocol codec; no behaviour lives here.

/** A VXLAN network identifier (24 bits). */
export type Vni = number;

/** Lower-case colon-separated MAC ("02:00:00:00:00:01"); see normalizeMac(). */
export type Mac = string;

/** Largest VNI a VXLAN header can carry. */
export const VNI_MAX = 0xffffff;

/**
 * Life cycle of an entry: `active` (at its NVE), `moving` (an orchestrator hint says it is on its
 * way to another NVE; still forwarded to the old one), `duplicate` (moved too often: frozen at its
 * last location until cleared), `withdrawn` (gone; kept as a tombstone so its sequence number
 * still defeats stale replays).
 */
export type EntryState = 'active' | 'moving' | 'duplicate' | 'withdrawn';

/** One IP address of an entry with its own mobility sequence number (RFC 9721 style). */
export interface IpBinding {
  ip: string;
  seq: number;
}

/** One past location change of a MAC, kept in a bounded history. */
export interface MoveRecord {
  at: number; // ms since epoch
  fromNve: string;
  toNve: string;
  seq: number;
  /** Announced by an orchestrator hint: never counted toward duplicate detection. */
  hinted: boolean;
}

/** Where a (VNI, MAC) lives now, and how it got there. */
export interface Entry {
  vni: Vni;
  mac: Mac;
  ips: IpBinding[];
  nveId: string;
  /** Underlay (tunnel endpoint) address of the NVE. */
  nveAddr: string;
  /** MAC mobility sequence number: a registration from elsewhere must carry a higher one. */
  seq: number;
  state: EntryState;
  changedAt: number; // ms since epoch
  /** TSI (host interface) it was registered on, when the NVE said so. */
  tsi?: string;
  /** Set while state is `duplicate`: when it was frozen (for auto-recovery). */
  duplicateSince?: number;
  /** When an operator (or auto-recovery) last cleared a duplicate: older moves no longer count. */
  duplicateClearedAt?: number;
  /** IPs this MAC claims that another MAC of the VNI also claims (flagged, not installed). */
  conflictIps?: string[];
  /** Most recent last; at most HISTORY_MAX records. */
  history: MoveRecord[];
  /** Old addresses of this VM kept reachable after it changed subnet (docs/l3.md). */
  anchors?: Anchor[];
}

/**
 * An address a VM had in another routed VN of its VRF before it moved into this one: still
 * routed to it through the NVE it had the address at (`nveId`, the anchor), until released by
 * the orchestrator or reported idle by the VM's NVE.
 */
export interface Anchor {
  ip: string;
  /** The routed VN the address belongs to. */
  fromVni: Vni;
  nveId: string;
  nveAddr: string;
  since: number; // ms since epoch
}

/** An old entry of the VM in another routed VN anchors its addresses if it left this recently. */
export const ANCHOR_WINDOW_MS = 60_000;

/** Identity of an entry. */
export interface EntryKey {
  vni: Vni;
  mac: Mac;
}

/**
 * `provisioned`: an NVE may register only MAC/IPs provisioned to it (the draft's security point);
 * `open`: any NVE serving the VN may register what it learns (labs, flat networks).
 */
export type LearningMode = 'provisioned' | 'open';

/** Configuration of one virtual network. */
export interface VnConfig {
  vni: Vni;
  name?: string;
  /** Routed between subnets by the NVEs (L3, issue 6) or pure L2; `l3` says how. */
  routed: boolean;
  learning: LearningMode;
  /** Routing (docs/l3.md): this VN's anycast gateway, or the VRF whose L3 VNI this VNI is. */
  l3?: VnL3;
}

/**
 * The L3 side of a VNI. `gateway`: a routed tenant VN of VRF `vrf`, every NVE serving it is its
 * VMs' default gateway with these addresses (with their prefix, "10.1.0.1/24") and MAC.
 * `vrf`: this VNI is the L3 VNI of VRF `vrf` (one per VRF), that routed frames travel in between
 * NVEs with `routerMac` as inner MACs; a VRF is stored as the config of its L3 VNI.
 */
export type VnL3 =
  | {
      kind: 'gateway';
      vrf: number;
      gatewayMac: Mac;
      gateway4?: string;
      gateway6?: string;
      /** No route: answer ICMP destination unreachable instead of dropping. */
      unreachable: boolean;
    }
  | { kind: 'vrf'; vrf: number; routerMac: Mac; routes?: PrefixRoute[] };

/**
 * A static route of a VRF: `prefix` (network address, "0.0.0.0/0", "fd00:10::/48") is routed
 * like the host route of `via`, an address of a VM of the VRF (a router or appliance VM): every
 * NVE sends it to that VM's TSI or NVE, and the route follows the VM when it moves.
 */
export interface PrefixRoute {
  prefix: string;
  via: string;
}

/** Most static routes one VRF holds (the dataplane's trie holds 16384 for all VRFs). */
export const ROUTES_PER_VRF_MAX = 4096;

/** A VRF: its id and L3 VNI (stored as the VnConfig of the L3 VNI, `l3.kind === 'vrf'`). */
export interface VrfConfig {
  vrf: number;
  l3Vni: Vni;
  routerMac: Mac;
  name?: string;
}

/** Largest VRF id (the dataplane's keys hold 32 bits; 0 is proto3's "missing"). */
export const VRF_MAX = 0xffffffff;

/** An NVE that serves a VNI: the VN's flood list is the set of its members' addresses. */
export interface Membership {
  vni: Vni;
  nveId: string;
  nveAddr: string;
}

/** What an orchestrator allows a TSI to carry: a MAC, its IPs, and (optionally) where. */
export interface Provision {
  vni: Vni;
  mac: Mac;
  ips: string[];
  /** The NVE it may be registered from; absent = any NVE serving the VN (a VM that migrates). */
  nveId?: string;
  tsi?: string;
}

/** "VM (vni, mac) is migrating from NVE `fromNve` to `toNve`" until expiresAt. */
export interface MoveHint {
  vni: Vni;
  mac: Mac;
  fromNve: string;
  toNve: string;
  expiresAt: number; // ms since epoch
}

/** How long one change took to reach every NVE of its VN. */
export interface ConvergenceRecord {
  revision: number;
  vni: Vni;
  mac: Mac;
  /** When the registration that caused it reached the NVA. */
  registeredAt: number;
  /** When the last NVE of the VN acknowledged a revision >= this one. */
  convergedAt: number;
  durationMs: number;
  nves: number;
}

/** Longest move history kept per MAC. */
export const HISTORY_MAX = 16;

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** Canonical form of a MAC ("02:AA:..." or "02-aa-..." -> "02:aa:..."), or null if it is not one. */
export function normalizeMac(s: string): Mac | null {
  const m = s.trim().toLowerCase().replace(/-/g, ':');
  return MAC_RE.test(m) ? m : null;
}

/** Whether a VNI is a valid 24-bit value (0 is refused: it is proto3's "missing"). */
export function isVni(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= VNI_MAX;
}
