// Frames the lab's own links dropped, per namespace and interface (`ip -s link`): e.g. a veth
// whose peer runs XDP queues what it is sent in a 256-frame ring, and a sender starved of CPU
// that then sends a burst can overflow it. bench:move reports the drops of its roam side, so a
// datagram lost that way is told apart from one lost by a move.
import type { Netns } from './netns.ts';

export interface LinkDropCount {
  rx: number;
  tx: number;
}

/** "label/ifname" -> dropped counters, for every interface of the given namespaces. */
export type LinkDrops = Map<string, LinkDropCount>;

interface IpLinkStats {
  ifname: string;
  stats64?: { rx?: { dropped?: number }; tx?: { dropped?: number } };
}

export function linkDrops(namespaces: ReadonlyArray<[label: string, ns: Netns]>): LinkDrops {
  const out: LinkDrops = new Map();
  for (const [label, ns] of namespaces) {
    const links = JSON.parse(ns.ip('-s', '-j', 'link', 'show')) as IpLinkStats[];
    for (const l of links) {
      out.set(`${label}/${l.ifname}`, {
        rx: l.stats64?.rx?.dropped ?? 0,
        tx: l.stats64?.tx?.dropped ?? 0,
      });
    }
  }
  return out;
}

/** What each interface present both times dropped in between (only those that dropped). */
export function dropsBetween(before: LinkDrops, after: LinkDrops): Record<string, LinkDropCount> {
  const out: Record<string, LinkDropCount> = {};
  for (const [k, a] of after) {
    const b = before.get(k);
    if (!b) continue;
    const d = { rx: a.rx - b.rx, tx: a.tx - b.tx };
    if (d.rx > 0 || d.tx > 0) out[k] = d;
  }
  return out;
}
