// The agent's view of the dataplane tables: what the control loop writes, in plain TS terms.
// The real tables (src/dataplane/tables.ts, BPF maps) are adapted to this view in
// dataplane-adapter.ts; the unit tests use memoryTables(), the in-memory twin. Keeping this view
// narrow lets the whole control loop run without root.
import { MemoryTable } from '../dataplane/memory-table.ts';
import type { PrefixKey, RouteEntry, RouteKey, RoutedVni } from '../dataplane/l3-codecs.ts';
import { memoryL3Tables } from '../dataplane/routes.ts';
import type { AgentTable } from './raw-table.ts';

/** Identity of a VM in a VN: (VNI, MAC). */
export interface MacKey {
  vni: number;
  mac: string;
}

/** Identity of an address in a VN: (VNI, IP). */
export interface IpKey {
  vni: number;
  ip: string;
}

/**
 * Where frames for (VNI, MAC) go:
 * - `local`: to the VM's TSI on this host;
 * - `remote`: VXLAN to the NVE at `vtep`;
 * - `moved`: the VM left for the NVE at `vtep`; frames still reaching us are re-tunnelled there
 *   until `untilMs` (the hold time; the agent removes the entry then);
 * - `dual`: an announced migration from here to `vtep` is under way: deliver to the local TSI AND
 *   to `vtep`, so the VM gets its frames whichever side it runs on when they arrive.
 */
export type FdbEntry = (
  | { kind: 'local'; ifindex: number }
  | { kind: 'remote'; vtep: string }
  | { kind: 'moved'; vtep: string; untilMs: number }
  | { kind: 'dual'; ifindex: number; vtep: string }
) & {
  /** The MAC's IPv4 address a RARP request is answered with (in the same map entry). */
  rarp?: string;
};

/** Which MAC answers for an IP in a VN (ARP/ND answered in XDP). */
export interface NeighEntry {
  mac: string;
}

/** Where a VN's broadcast goes: its local TSIs and (head-end replication) its remote NVEs. */
export interface FloodEntry {
  local: number[];
  remote: string[];
}

/** An NVE allowed to send us tunnelled frames of a VNI (anti-spoofing on decap). */
export interface PeerKey {
  vni: number;
  vtep: string;
}

/** The tables the control loop keeps equal to the desired state. */
export interface AgentTables {
  fdb: AgentTable<MacKey, FdbEntry>;
  neigh: AgentTable<IpKey, NeighEntry>;
  flood: AgentTable<number, FloodEntry>;
  peers: AgentTable<PeerKey, true>;
  /** The L3 overlay (docs/l3.md): routed VNIs and host routes of this NVE's VRFs. */
  l3?: AgentL3Tables;
}

export interface AgentL3Tables {
  routedVnis: AgentTable<number, RoutedVni>;
  hostRoutes: AgentTable<RouteKey, RouteEntry>;
  prefixRoutes: AgentTable<PrefixKey, RouteEntry>;
}

export const macId = (k: MacKey): string => `${k.vni}/${k.mac}`;
/** The key macId made `id` from. */
export function parseMacId(id: string): MacKey {
  const slash = id.indexOf('/');
  return { vni: Number(id.slice(0, slash)), mac: id.slice(slash + 1) };
}
export const ipId = (k: IpKey): string => `${k.vni}/${k.ip}`;
export const vniId = (vni: number): string => String(vni);
export const peerId = (k: PeerKey): string => `${k.vni}/${k.vtep}`;

/**
 * Deadlines of moved entries closer than this are equal: a deadline read back from the kernel's
 * monotonic clock differs from the wall-clock one written by rounding, never by this much.
 */
export const MOVED_DEADLINE_SLACK_MS = 1_000;

/** Value equality of FDB entries (moved entries compare their deadline too, within the slack;
 * the RARP address too). */
export function fdbEqual(a: FdbEntry, b: FdbEntry): boolean {
  if (a.rarp !== b.rarp) return false;
  switch (a.kind) {
    case 'local':
      return b.kind === 'local' && a.ifindex === b.ifindex;
    case 'remote':
      return b.kind === 'remote' && a.vtep === b.vtep;
    case 'moved':
      return (
        b.kind === 'moved' &&
        a.vtep === b.vtep &&
        Math.abs(a.untilMs - b.untilMs) < MOVED_DEADLINE_SLACK_MS
      );
    case 'dual':
      return b.kind === 'dual' && a.ifindex === b.ifindex && a.vtep === b.vtep;
  }
}

export const neighEqual = (a: NeighEntry, b: NeighEntry): boolean => a.mac === b.mac;

export function floodEqual(a: FloodEntry, b: FloodEntry): boolean {
  return sameList(a.local, b.local) && sameList(a.remote, b.remote);
}

function sameList<T>(a: readonly T[], b: readonly T[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** In-memory tables (unit tests, and a dry-run agent). */
export function memoryTables(): {
  fdb: MemoryTable<MacKey, FdbEntry>;
  neigh: MemoryTable<IpKey, NeighEntry>;
  flood: MemoryTable<number, FloodEntry>;
  peers: MemoryTable<PeerKey, true>;
  l3: AgentL3Tables;
} {
  const l3 = memoryL3Tables();
  return {
    l3: { routedVnis: l3.routedVnis, hostRoutes: l3.hostRoutes, prefixRoutes: l3.prefixRoutes },
    fdb: new MemoryTable('fdb', macId),
    neigh: new MemoryTable('neigh', ipId),
    flood: new MemoryTable('flood', vniId),
    peers: new MemoryTable('peers', peerId),
  };
}
