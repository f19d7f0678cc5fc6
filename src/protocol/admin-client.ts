// A promise-based client of the Admin service (orchestrators, `roam vm`). Calls carry the admin
// token; a refused call rejects with AdminCallError holding the gRPC code and the NVA's sentence.
import * as grpc from '@grpc/grpc-js';
import { loadServices } from './proto.ts';

/** Default deadline of one admin call. */
export const ADMIN_CALL_TIMEOUT_MS = 10_000;

export class AdminCallError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
    this.name = 'AdminCallError';
  }
}

export interface AdminClientOptions {
  address: string;
  token?: string;
  tlsCa?: Buffer;
  timeoutMs?: number;
}

type UnaryFn = (
  req: object,
  md: grpc.Metadata,
  opts: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res: unknown) => void,
) => void;

/** Wire shapes of the Admin replies (see nva.proto). */
export interface WireEntryDetail {
  entry: {
    vni: number;
    mac: string;
    ips: { ip: string; seq: number }[];
    nveId: string;
    nveAddr: string;
    seq: number;
    state: string;
    changedAtMs: number;
    tsi: string;
    /** Old addresses anchored after a move into another subnet (routed VNs, docs/l3.md). */
    anchors?: { ip: string; fromVni: number; nveId: string; nveAddr: string; sinceMs: number }[];
  };
  history: { atMs: number; fromNve: string; toNve: string; seq: number; hinted: boolean }[];
  duplicateSinceMs: number;
  conflictIps: string[];
  provisioned: boolean;
  convergence: WireConvergence[];
}

export interface WireConvergence {
  revision: number;
  vni: number;
  mac: string;
  registeredAtMs: number;
  convergedAtMs: number;
  durationMs: number;
  nves: number;
}

export interface WireVnConfig {
  vni: number;
  name?: string;
  routed?: boolean;
  learning: 'provisioned' | 'open';
  /** Routed VNs: their VRF, anycast gateway ("10.1.0.1/24", "fd01::1/64") and MAC. */
  vrf?: number;
  gatewayIp4?: string;
  gatewayIp6?: string;
  gatewayMac?: string;
  unreachable?: boolean;
  /** Replies: set when this VNI is a VRF's L3 VNI. */
  l3Vni?: number;
}

/** One route of a VRF as the directory has it (Admin ListRoutes). */
export interface WireRouteRecord {
  vrf: number;
  /** "ip/32" or "ip/128" for host routes and anchors. */
  prefix: string;
  kind: 'host' | 'static' | 'anchor';
  /** host, anchor: the VM's VN (now); static: its next hop's. */
  vni: number;
  mac: string;
  /** Where the directory sends it; '' when a static route's next hop is not registered. */
  nveId: string;
  /** static: next hop (a VM address); anchor: the NVE that anchors the address. */
  via: string;
  state: string;
}

export interface WireVrfConfig {
  vrf: number;
  l3Vni: number;
  routerMac?: string;
  name?: string;
}

export interface WireStatus {
  revision: number;
  store: string;
  nves: {
    nveId: string;
    nveAddr: string;
    vnis: number[];
    ackedRevision: number;
    connected: boolean;
  }[];
  recentConvergence: WireConvergence[];
}

export class AdminClient {
  private readonly client: grpc.Client & Record<string, UnaryFn>;

  constructor(private readonly opts: AdminClientOptions) {
    const { Admin } = loadServices();
    const creds = opts.tlsCa
      ? grpc.credentials.createSsl(opts.tlsCa)
      : grpc.credentials.createInsecure();
    this.client = new Admin(opts.address, creds) as unknown as typeof this.client;
  }

  provision(p: {
    vni: number;
    mac: string;
    ips: string[];
    nveId?: string;
    tsi?: string;
  }): Promise<{ ok: boolean }> {
    return this.call('Provision', p);
  }
  unprovision(vni: number, mac: string): Promise<{ ok: boolean }> {
    return this.call('Unprovision', { vni, mac });
  }
  listEntries(vni = 0, includeWithdrawn = false): Promise<{ entries: WireEntryDetail[] }> {
    return this.call('ListEntries', { vni, includeWithdrawn });
  }
  showEntry(vni: number, mac: string): Promise<{ detail: WireEntryDetail }> {
    return this.call('ShowEntry', { vni, mac });
  }
  move(m: {
    vni: number;
    mac: string;
    toNve: string;
    fromNve?: string;
    ttlMs?: number;
  }): Promise<{ revision: number; expiresAtMs: number }> {
    return this.call('Move', m);
  }
  clearDuplicate(vni: number, mac: string): Promise<{ revision: number }> {
    return this.call('ClearDuplicate', { vni, mac });
  }
  configureVn(cfg: WireVnConfig): Promise<WireVnConfig> {
    return this.call('ConfigureVn', cfg);
  }
  listVns(): Promise<{ vns: WireVnConfig[] }> {
    return this.call('ListVns', {});
  }
  configureVrf(cfg: WireVrfConfig): Promise<Required<WireVrfConfig>> {
    return this.call('ConfigureVrf', cfg);
  }
  listVrfs(): Promise<{ vrfs: Required<WireVrfConfig>[] }> {
    return this.call('ListVrfs', {});
  }
  addRoute(vrf: number, prefix: string, via: string): Promise<{ revision: number }> {
    return this.call('AddRoute', { vrf, prefix, via });
  }
  deleteRoute(vrf: number, prefix: string): Promise<{ revision: number }> {
    return this.call('DeleteRoute', { vrf, prefix });
  }
  releaseAnchor(vni: number, mac: string, ip = ''): Promise<{ revision: number }> {
    return this.call('ReleaseAnchor', { vni, mac, ip });
  }
  listRoutes(vrf = 0): Promise<{ routes: WireRouteRecord[] }> {
    return this.call('ListRoutes', { vrf });
  }
  listProvisions(vni = 0): Promise<{
    provisions: { vni: number; mac: string; ips: string[]; nveId: string; tsi: string }[];
  }> {
    return this.call('ListProvisions', { vni });
  }
  removeMember(vni: number, nveId: string): Promise<{ revision: number }> {
    return this.call('RemoveMember', { vni, nveId });
  }
  status(): Promise<WireStatus> {
    return this.call('Status', {});
  }

  close(): void {
    this.client.close();
  }

  private call<T>(method: string, req: object): Promise<T> {
    const md = new grpc.Metadata();
    if (this.opts.token) md.set('authorization', `Bearer ${this.opts.token}`);
    const deadline = Date.now() + (this.opts.timeoutMs ?? ADMIN_CALL_TIMEOUT_MS);
    return new Promise((resolve, reject) => {
      const fn = this.client[method] as UnaryFn;
      fn.call(this.client, req, md, { deadline }, (err, res) => {
        if (err) reject(new AdminCallError(err.code, err.details || err.message));
        else resolve(res as T);
      });
    });
  }
}
