// Typed tables of the L3 overlay (bpf/lib/route-maps.h): routed VNIs, host routes and prefix
// routes, over the pinned maps or as in-memory twins, in the Table<K,V> shape the reconciler
// drives. A prefix route's key is normalised by its codec (host bits must be zero).
import { BpfMap } from '../bpf/map.ts';
import { TypedMap } from '../bpf/typed-map.ts';
import type { Codec } from '../bpf/codec.ts';
import { MemoryTable } from './memory-table.ts';
import type { Table } from './table.ts';
import { RoutedVniTable } from './routed-vni-table.ts';
import { u32 } from './codecs.ts';
import {
  routedVni,
  routeEntry,
  routeKey,
  routeLpmKey,
  type PrefixKey,
  type RouteEntry,
  type RouteKey,
  type RoutedVni,
} from './l3-codecs.ts';

/** Names of the L3 maps, pinned beside MAP_NAMES under the same pin root. */
export const L3_MAP_NAMES = ['routed_vnis', 'routed_mask', 'host_routes', 'prefix_routes'] as const;
export type L3MapName = (typeof L3_MAP_NAMES)[number];

/** The L3 tables the control plane writes. */
export interface L3Tables {
  /** VNI -> its VRF and anycast gateway (tenant VN), or its VRF (L3 VNI). */
  routedVnis: Table<number, RoutedVni>;
  /** (VRF, host IP) -> local VM or the NVE serving it now. */
  hostRoutes: Table<RouteKey, RouteEntry>;
  /** (VRF, prefix) -> gateway NVE (or local VM), longest match after the host routes. */
  prefixRoutes: Table<PrefixKey, RouteEntry>;
}

/** Finds one of the L3 maps, e.g. `(n) => obj.map(n)` or BpfMap.fromPinned(`${root}/${n}`). */
export type L3MapSource = (name: L3MapName) => BpfMap;

function keyIdOf<K>(codec: Codec<K>): (k: K) => string {
  const buf = Buffer.alloc(codec.size);
  return (k) => {
    codec.encode(k, buf, 0);
    return buf.toString('hex');
  };
}

/** Typed L3 tables over the maps of a loaded roam object (or pinned maps). */
export function openL3Tables(mapOf: L3MapSource): L3Tables {
  return {
    // with its presence bitmap, which spares VNs that are not routed a hash lookup per frame
    routedVnis: new RoutedVniTable(
      new TypedMap(mapOf('routed_vnis'), u32, routedVni),
      mapOf('routed_mask'),
    ),
    hostRoutes: new TypedMap(mapOf('host_routes'), routeKey, routeEntry),
    prefixRoutes: new TypedMap(mapOf('prefix_routes'), routeLpmKey, routeEntry),
  };
}

/** In-memory twins of the L3 tables (keys compared by their encoding, as the kernel does). */
export function memoryL3Tables(): L3Tables {
  return {
    routedVnis: new MemoryTable('routed_vnis', keyIdOf(u32)),
    hostRoutes: new MemoryTable('host_routes', keyIdOf(routeKey)),
    prefixRoutes: new MemoryTable('prefix_routes', keyIdOf(routeLpmKey)),
  };
}

/** L3 tables over the pins of a loaded roam instance, and a close() that lets go of them. */
export interface PinnedL3Tables extends L3Tables {
  close(): void;
}

/**
 * The L3 tables of a roam instance from its pins, e.g. `pinnedL3Tables(dataplane.layout)`: the
 * L3 maps are pinned beside the L2 ones by every object that includes bpf/lib/route-maps.h.
 */
export function pinnedL3Tables(layout: { map(name: string): string }): PinnedL3Tables {
  const maps = new Map<L3MapName, BpfMap>();
  try {
    for (const n of L3_MAP_NAMES) maps.set(n, BpfMap.fromPinned(layout.map(n)));
    const tables = openL3Tables((n) => maps.get(n) as BpfMap);
    return {
      ...tables,
      close: () => {
        for (const m of maps.values()) m.close();
      },
    };
  } catch (err) {
    for (const m of maps.values()) m.close();
    throw err;
  }
}
