// Key layout of the directory in etcd, all under one prefix (default /roam/v1/) so several
// directories (or schema versions) can share a cluster. VNIs are zero-padded so a prefix range
// lists them in numeric order, and revisions are padded so convergence records sort by age.
//
//   vn/<vni>                 VnConfig
//   entry/<vni>/<mac>        Entry (withdrawn ones stay as tombstones)
//   ip/<vni>/<ip>            MACs whose non-withdrawn entry holds that IP (the IP-owner index)
//   member/<vni>/<nveId>     Membership
//   prov/<vni>/<mac>         Provision
//   hint/<vni>/<mac>         MoveHint
//   log/<vni>                the VNI's latest Change; its etcd history IS the change log
//   ack/<nveId>              AckRecord (flushed lazily: acks need not be durable)
//   conv/<revision>/<vni>/<mac>  ConvergenceRecord
import type { Mac, Vni } from './model.ts';

export const DEFAULT_ETCD_PREFIX = '/roam/v1/';

const VNI_DIGITS = 8; // 0xffffff = 16777215
const REVISION_DIGITS = 16;

/** Key builders for one prefix; every key and range is a Buffer ready for the raw etcd API. */
export class EtcdKeys {
  constructor(readonly prefix: string = DEFAULT_ETCD_PREFIX) {
    if (!prefix.endsWith('/')) throw new Error(`etcd prefix must end with "/": ${prefix}`);
  }

  vn(vni: Vni): Buffer {
    return this.key(`vn/${padVni(vni)}`);
  }
  vnPrefix(): Buffer {
    return this.key('vn/');
  }
  entry(vni: Vni, mac: Mac): Buffer {
    return this.key(`entry/${padVni(vni)}/${mac}`);
  }
  entryPrefix(vni?: Vni): Buffer {
    return this.key(vni === undefined ? 'entry/' : `entry/${padVni(vni)}/`);
  }
  ip(vni: Vni, ip: string): Buffer {
    return this.key(`ip/${padVni(vni)}/${ip}`);
  }
  ipPrefix(): Buffer {
    return this.key('ip/');
  }
  member(vni: Vni, nveId: string): Buffer {
    return this.key(`member/${padVni(vni)}/${nveId}`);
  }
  memberPrefix(vni?: Vni): Buffer {
    return this.key(vni === undefined ? 'member/' : `member/${padVni(vni)}/`);
  }
  prov(vni: Vni, mac: Mac): Buffer {
    return this.key(`prov/${padVni(vni)}/${mac}`);
  }
  provPrefix(vni?: Vni): Buffer {
    return this.key(vni === undefined ? 'prov/' : `prov/${padVni(vni)}/`);
  }
  hint(vni: Vni, mac: Mac): Buffer {
    return this.key(`hint/${padVni(vni)}/${mac}`);
  }
  hintPrefix(): Buffer {
    return this.key('hint/');
  }
  log(vni: Vni): Buffer {
    return this.key(`log/${padVni(vni)}`);
  }
  logPrefix(): Buffer {
    return this.key('log/');
  }
  /** VNI of a log key, or undefined if the key is not one. */
  vniOfLog(key: Buffer): Vni | undefined {
    const s = key.toString();
    const head = `${this.prefix}log/`;
    if (!s.startsWith(head)) return undefined;
    const n = Number(s.slice(head.length));
    return Number.isInteger(n) ? n : undefined;
  }
  ack(nveId: string): Buffer {
    return this.key(`ack/${nveId}`);
  }
  ackPrefix(): Buffer {
    return this.key('ack/');
  }
  conv(revision: number, vni: Vni, mac: Mac): Buffer {
    return this.key(
      `conv/${String(revision).padStart(REVISION_DIGITS, '0')}/${padVni(vni)}/${mac}`,
    );
  }
  convPrefix(): Buffer {
    return this.key('conv/');
  }

  private key(rest: string): Buffer {
    return Buffer.from(this.prefix + rest);
  }
}

function padVni(vni: Vni): string {
  return String(vni).padStart(VNI_DIGITS, '0');
}

/** End of the range holding every key that starts with `prefix` (etcd's range_end convention). */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]); // all keys
}
