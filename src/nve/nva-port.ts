// The agent's view of its NVA connection: the few verbs and events the control loop needs. The
// real client (src/protocol/) is adapted to it in nva-adapter.ts; unit tests drive a fake. Message
// shapes follow the wire schema (src/protocol/schema.ts) field for field.
import type { PackedSnapshotMsg } from '../protocol/packed-snapshot.ts';

export type EntryState = 'active' | 'moving' | 'duplicate' | 'withdrawn';
export type AnnouncementKind = 'unspecified' | 'learned' | 'garp' | 'rarp' | 'provisioned';

/** One directory entry as the NVA sends it. */
export interface DirEntry {
  vni: number;
  mac: string;
  ips: ReadonlyArray<{ ip: string; seq: number }>;
  nveId: string;
  nveAddr: string;
  seq: number;
  state: EntryState;
  tsi?: string | undefined;
  /** When the NVA last changed it (wall-clock ms): the start of a move's convergence. */
  changedAtMs?: number | undefined;
  /** Old addresses of the VM from another routed VN of its VRF, anchored at an NVE. */
  anchors?: ReadonlyArray<DirAnchor> | undefined;
}

/** An anchored address (docs/l3.md): routed via the NVE `nveId`, which tunnels to the VM. */
export interface DirAnchor {
  ip: string;
  fromVni: number;
  nveId: string;
  nveAddr: string;
}

export interface Member {
  vni: number;
  nveId: string;
  nveAddr: string;
}

/** Routing of a VNI: a routed tenant VN (anycast gateway) or, with `l3`, a VRF's L3 VNI. */
export interface RoutedVnConfig {
  vni: number;
  vrf: number;
  l3: boolean;
  /** Tenant VN: the anycast gateway MAC; L3 VNI: the router MAC (inner MACs). */
  gatewayMac: string;
  /** "10.1.0.1/24", or '' for none. */
  gatewayIp4: string;
  gatewayIp6: string;
  unreachable: boolean;
  /** L3 VNI: the VRF's static routes (prefix routed like the host route of `via`). */
  routes?: Array<{ prefix: string; via: string }>;
}

/**
 * The full content of the VNIs it names (after a digest mismatch, only that VNI), and the whole
 * L3 overlay of the NVE's VRFs (every snapshot carries all of it).
 */
export interface Snapshot {
  revision: number;
  vnis: number[];
  entries: DirEntry[];
  members: Member[];
  routedVns?: RoutedVnConfig[];
}

export interface Change {
  revision: number;
  vni: number;
  upserts: DirEntry[];
  deletes: Array<{ vni: number; mac: string }>;
  membersUpserted: Member[];
  membersRemoved: string[];
}

/** "VM (vni, mac) is migrating from NVE fromNve to toNve (at toAddr)" until expiresAtMs. */
export interface MoveHint {
  vni: number;
  mac: string;
  fromNve: string;
  toNve: string;
  toAddr: string;
  /** Wall-clock ms (Date.now()) after which the hint no longer holds. */
  expiresAtMs: number;
}

export interface DigestMismatch {
  vni: number;
  revision: number;
  expected: string;
  got: string;
}

export interface Registration {
  vni: number;
  mac: string;
  ips: string[];
  seq: number;
  tsi: string;
  kind: AnnouncementKind;
}

/** The NVA's answer to a registration or withdrawal. */
export type NvaResult =
  | { ok: true; seq: number; revision: number; outcome: string }
  | { ok: false; code: string; reason: string };

/** What the NVA tells the agent. */
export interface NvaHandlers {
  connected(): void;
  disconnected(reason: string): void;
  /** Packed when the port decodes snapshots that way (the real client does). */
  snapshot(s: Snapshot | PackedSnapshotMsg): void;
  change(c: Change): void;
  moveHint(h: MoveHint): void;
  digestMismatch(m: DigestMismatch): void;
}

/** What the agent asks of the NVA. */
export interface NvaPort {
  /** Connect (and keep reconnecting), resuming after `lastRevision` (0: send a snapshot). */
  start(handlers: NvaHandlers, lastRevision: number): void;
  /** Register a VM; rejects only if the connection drops before the answer. */
  register(r: Registration): Promise<NvaResult>;
  /** Withdraw a VM that left this NVE. */
  withdraw(k: { vni: number; mac: string }): Promise<NvaResult>;
  /** An anchored address of a VM here was idle for the anchor idle time: release it. */
  releaseAnchor?(k: { vni: number; mac: string; ip: string }): Promise<NvaResult>;
  /** Acknowledge the installed revision with a digest per VNI of what is installed. */
  ack(revision: number, digests: Array<{ vni: number; digest: string }>): void;
  stop(): void;
}
