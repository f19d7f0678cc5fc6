// The Admin service (orchestrator and `roam vm`): provision, list, show, move hint, clear a
// duplicate, configure a VN, status. Every call needs the admin token; every request is validated.
import * as grpc from '@grpc/grpc-js';
import type { UnaryCall, UnaryCallback } from './h2-grpc-server.ts';
import type { z } from 'zod';
import {
  entryKeyRequest,
  listEntriesRequest,
  moveRequest,
  parseAdmin,
  provisionRequest,
  removeMemberRequest,
  vnConfigRequest,
  vrfConfigRequest,
  addRouteRequest,
  deleteRouteRequest,
  listRoutesRequest,
  releaseAnchorRequest,
} from '../protocol/admin-schema.ts';
import { routeView } from './route-view.ts';
import { DEFAULT_ROUTER_MAC } from './l3-rules.ts';
import type { Authenticator } from './auth.ts';
import { AdminError, type Directory } from './directory.ts';
import type { ConvergenceRecord, Entry, VnConfig } from './model.ts';
import type { NveSession } from './session.ts';
import { entryToWire } from './wire.ts';

export interface AdminHost {
  directory: Directory;
  auth: Authenticator;
  connected(): NveSession[];
}

type Handler = (call: UnaryCall, callback: UnaryCallback) => void;

function fail(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });
}

function convToWire(c: ConvergenceRecord): object {
  return {
    revision: c.revision,
    vni: c.vni,
    mac: c.mac,
    registeredAtMs: Math.floor(c.registeredAt),
    convergedAtMs: Math.floor(c.convergedAt),
    durationMs: c.durationMs,
    nves: c.nves,
  };
}

/** One unary handler: auth, validation, errors mapped to gRPC codes with a readable message. */
function unary<T>(
  host: AdminHost,
  schema: z.ZodType<T> | null,
  fn: (req: T) => Promise<object>,
): Handler {
  return (call, callback) => {
    const auth = host.auth.checkAdmin(call.metadata);
    if (!auth.ok) return callback(fail(grpc.status.UNAUTHENTICATED, auth.reason));
    let req = call.request as T;
    if (schema) {
      const parsed = parseAdmin(schema, call.request);
      if (!parsed.ok) return callback(fail(grpc.status.INVALID_ARGUMENT, parsed.reason));
      req = parsed.value;
    }
    fn(req).then(
      (reply) => callback(null, reply),
      (err: unknown) => {
        if (err instanceof AdminError) {
          const code =
            err.code === 'UNKNOWN_MAC' ? grpc.status.NOT_FOUND : grpc.status.FAILED_PRECONDITION;
          return callback(fail(code, err.message));
        }
        callback(fail(grpc.status.INTERNAL, err instanceof Error ? err.message : String(err)));
      },
    );
  };
}

export function adminHandlers(host: AdminHost): grpc.UntypedServiceImplementation {
  const { directory } = host;
  const store = directory.store;

  /** An entry for the Admin API; convergence records only when asked (ShowEntry). */
  const detail = (e: Entry, provisioned: boolean, conv: ConvergenceRecord[] = []) => ({
    entry: entryToWire(e),
    history: e.history.map((h) => ({
      atMs: Math.floor(h.at),
      fromNve: h.fromNve,
      toNve: h.toNve,
      seq: h.seq,
      hinted: h.hinted,
    })),
    duplicateSinceMs: Math.floor(e.duplicateSince ?? 0),
    conflictIps: e.conflictIps ?? [],
    provisioned,
    convergence: conv.map(convToWire),
  });

  return {
    Provision: unary(host, provisionRequest, async (r) => {
      await directory.provision({
        vni: r.vni,
        mac: r.mac,
        ips: r.ips,
        nveId: r.nveId || undefined,
        tsi: r.tsi || undefined,
      });
      return { ok: true };
    }),
    Unprovision: unary(host, entryKeyRequest, async (r) => ({
      ok: await directory.unprovision(r.vni, r.mac),
    })),
    ListEntries: unary(host, listEntriesRequest, async (r) => {
      const vni = r.vni === 0 ? undefined : r.vni;
      const [entries, provisions] = await Promise.all([
        store.listEntries(vni),
        store.listProvisions(vni),
      ]);
      const provisioned = new Set(provisions.map((p) => `${p.vni}/${p.mac}`));
      const shown = entries
        .filter((e) => r.includeWithdrawn || e.state !== 'withdrawn')
        .sort((a, b) => a.vni - b.vni || a.mac.localeCompare(b.mac));
      return { entries: shown.map((e) => detail(e, provisioned.has(`${e.vni}/${e.mac}`))) };
    }),
    ShowEntry: unary(host, entryKeyRequest, async (r) => {
      const e = await store.getEntry(r.vni, r.mac);
      if (!e) throw new AdminError('UNKNOWN_MAC', `MAC ${r.mac} is not in VNI ${r.vni}`);
      const [prov, conv] = await Promise.all([
        store.getProvision(e.vni, e.mac),
        store.listConvergence({ vni: e.vni, mac: e.mac, limit: 10 }),
      ]);
      return { detail: detail(e, prov !== undefined, conv) };
    }),
    Move: unary(host, moveRequest, async (r) => {
      const { revision, hint } = await directory.move(r.vni, r.mac, r.toNve, {
        fromNve: r.fromNve || undefined,
        ttlMs: r.ttlMs || undefined,
      });
      return { revision, expiresAtMs: Math.floor(hint.expiresAt) };
    }),
    ClearDuplicate: unary(host, entryKeyRequest, async (r) => {
      const res = await directory.clearDuplicate(r.vni, r.mac);
      if (!res.ok) throw new AdminError(res.code, res.reason);
      return { revision: res.revision ?? 0 };
    }),
    ConfigureVn: unary(host, vnConfigRequest, async (r) => {
      if (r.routed !== r.vrf > 0)
        throw new AdminError('INVALID', 'a routed VN names its VRF (and only a routed VN does)');
      let gatewayMac = r.gatewayMac;
      if (r.vrf > 0 && !gatewayMac) {
        const vrf = (await directory.listVrfs()).find((v) => v.vrf === r.vrf);
        gatewayMac = vrf?.routerMac ?? DEFAULT_ROUTER_MAC;
      }
      const cfg = await directory.configureVn({
        vni: r.vni,
        name: r.name || undefined,
        routed: r.routed,
        learning: r.learning,
        ...(r.vrf > 0
          ? {
              l3: {
                kind: 'gateway' as const,
                vrf: r.vrf,
                gatewayMac,
                ...(r.gatewayIp4 ? { gateway4: r.gatewayIp4 } : {}),
                ...(r.gatewayIp6 ? { gateway6: r.gatewayIp6 } : {}),
                unreachable: r.unreachable,
              },
            }
          : {}),
      });
      return vnToWire(cfg);
    }),
    ListVns: unary(host, null, async () => ({
      vns: (await store.listVns()).map(vnToWire),
    })),
    ConfigureVrf: unary(host, vrfConfigRequest, async (r) => {
      const cfg = await directory.configureVrf({
        vrf: r.vrf,
        l3Vni: r.l3Vni,
        routerMac: r.routerMac || DEFAULT_ROUTER_MAC,
        name: r.name || undefined,
      });
      return { ...cfg, name: cfg.name ?? '' };
    }),
    AddRoute: unary(host, addRouteRequest, async (r) => ({
      revision: await directory.setRoute(r.vrf, r.prefix, r.via),
    })),
    DeleteRoute: unary(host, deleteRouteRequest, async (r) => ({
      revision: await directory.setRoute(r.vrf, r.prefix, undefined),
    })),
    ListRoutes: unary(host, listRoutesRequest, async (r) => {
      const vns = await store.listVns();
      const routed = vns.filter(
        (v) => v.l3?.kind === 'gateway' && (r.vrf === 0 || v.l3.vrf === r.vrf),
      );
      const entries = (await Promise.all(routed.map((v) => store.listEntries(v.vni)))).flat();
      return { routes: routeView(vns, entries, r.vrf || undefined) };
    }),
    ReleaseAnchor: unary(host, releaseAnchorRequest, async (r) => ({
      revision: (await directory.releaseAnchor(r.vni, r.mac, r.ip || undefined)) ?? 0,
    })),
    ListVrfs: unary(host, null, async () => ({
      vrfs: (await directory.listVrfs()).map((v) => ({ ...v, name: v.name ?? '' })),
    })),
    ListProvisions: unary(host, listEntriesRequest, async (r) => ({
      provisions: (await store.listProvisions(r.vni === 0 ? undefined : r.vni))
        .sort((a, b) => a.vni - b.vni || a.mac.localeCompare(b.mac))
        .map((p) => ({
          vni: p.vni,
          mac: p.mac,
          ips: p.ips,
          nveId: p.nveId ?? '',
          tsi: p.tsi ?? '',
        })),
    })),
    RemoveMember: unary(host, removeMemberRequest, async (r) => {
      const connected = host.connected().find((s) => s.nveId === r.nveId && s.vnis.has(r.vni));
      if (connected) {
        throw new AdminError(
          'INVALID',
          `NVE ${r.nveId} is connected and serves VNI ${r.vni}; stop it first`,
        );
      }
      return { revision: (await store.deleteMembership(r.vni, r.nveId)) ?? 0 };
    }),
    Status: unary(host, null, async () => {
      const [revision, memberships, conv, acks] = await Promise.all([
        store.currentRevision(),
        store.listMemberships(),
        store.listConvergence({ limit: 20 }),
        store.listAcks(),
      ]);
      const acked = new Map(acks.map((a) => [a.nveId, a.revision]));
      const live = new Map(host.connected().map((s) => [s.nveId, s]));
      const nves = new Map<
        string,
        {
          nveId: string;
          nveAddr: string;
          vnis: number[];
          ackedRevision: number;
          connected: boolean;
        }
      >();
      for (const m of memberships) {
        const n = nves.get(m.nveId) ?? {
          nveId: m.nveId,
          nveAddr: m.nveAddr,
          vnis: [],
          ackedRevision: acked.get(m.nveId) ?? 0,
          connected: false,
        };
        n.vnis.push(m.vni);
        nves.set(m.nveId, n);
      }
      for (const [id, s] of live) {
        const n = nves.get(id) ?? {
          nveId: id,
          nveAddr: s.nveAddr,
          vnis: [...s.vnis],
          ackedRevision: 0,
          connected: true,
        };
        n.connected = true;
        n.ackedRevision = s.ackedRevision;
        nves.set(id, n);
      }
      return {
        revision,
        store: store.kind,
        nves: [...nves.values()],
        recentConvergence: conv.map(convToWire),
      };
    }),
  };
}

/** A VN config as Admin replies carry it (routing fields empty when not routed). */
function vnToWire(v: VnConfig): object {
  const l3 = v.l3;
  return {
    vni: v.vni,
    name: v.name ?? '',
    routed: v.routed,
    learning: v.learning,
    vrf: l3?.vrf ?? 0,
    gatewayIp4: l3?.kind === 'gateway' ? (l3.gateway4 ?? '') : '',
    gatewayIp6: l3?.kind === 'gateway' ? (l3.gateway6 ?? '') : '',
    gatewayMac: l3?.kind === 'gateway' ? l3.gatewayMac : l3?.kind === 'vrf' ? l3.routerMac : '',
    unreachable: l3?.kind === 'gateway' ? l3.unreachable : false,
    l3Vni: l3?.kind === 'vrf' ? v.vni : 0,
  };
}
