// XDP (native and generic, through bpf_link) and TC clsact attachments on a veth inside a
// namespace this test creates, traffic from ping, per-CPU counters read back; links pinned so
// they outlive their fds; detach leaves nothing attached (checked with `ip -d link` and `tc`).
import { readlinkSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BpfLink, BpfObject, inNetns, currentNetns, type BpfMap } from '../../../src/bpf/index.ts';
import { createNetns, destroyAll, vethPair, type Netns } from '../../helpers/netns.ts';
import { bpffsDir, CNT, TEST_OBJ, u32Key } from '../../kernel/bpf/fixtures.ts';

const PINGS = 5;

function linkDetails(ns: Netns, dev: string): string {
  return ns.ip('-d', 'link', 'show', 'dev', dev);
}

function ping(ns: Netns, to: string, count = PINGS): void {
  ns.run('ping', ['-c', String(count), '-i', '0.05', '-W', '1', to]);
}

function counter(map: BpfMap, slot: number): bigint {
  return map.sumPerCpuU64(u32Key(slot));
}

describe('attachments inside a namespace', () => {
  let a: Netns;
  let b: Netns;
  let obj: BpfObject;
  let ifB: number;
  const pins = bpffsDir('attach');

  beforeAll(() => {
    a = createNetns('bpfa');
    b = createNetns('bpfb');
    vethPair(a, 'veth0', b, 'veth1');
    a.ip('addr', 'add', '10.200.0.1/24', 'dev', 'veth0');
    b.ip('addr', 'add', '10.200.0.2/24', 'dev', 'veth1');
    ifB = b.ifindex('veth1');
    obj = BpfObject.open(TEST_OBJ);
    obj.load();
  });
  afterAll(() => {
    obj?.close();
    pins.remove();
    destroyAll();
  });

  it('inNetns switches the thread and always switches back, even on throw', () => {
    const home = readlinkSync('/proc/thread-self/ns/net');
    const inside = inNetns(b.name, () => {
      expect(currentNetns()).toBe(b.name);
      return readlinkSync('/proc/thread-self/ns/net');
    });
    expect(inside).not.toBe(home);
    expect(readlinkSync('/proc/thread-self/ns/net')).toBe(home);
    expect(() =>
      inNetns(b.name, () => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(readlinkSync('/proc/thread-self/ns/net')).toBe(home);
    expect(currentNetns()).toBeUndefined();
    expect(() => inNetns('roamt-no-such-netns', () => 1)).toThrow(/ENOENT/);
  });

  it('XDP in native mode counts the pings, and detach removes it', () => {
    const counters = obj.map('counters');
    const before = counter(counters, CNT.PACKETS);
    const link = inNetns(b.name, () => obj.program('xdp_count').attachXdp(ifB));
    try {
      const shown = linkDetails(b, 'veth1');
      expect(shown).toMatch(/xdp\b/);
      expect(shown).not.toMatch(/xdpgeneric/);
      expect(link.info().ifindex).toBe(ifB);
      ping(a, '10.200.0.2');
      // PINGS echo requests at least (ARP adds some); per-CPU slots summed.
      expect(counter(counters, CNT.PACKETS) - before).toBeGreaterThanOrEqual(BigInt(PINGS));
      expect(counter(counters, CNT.BYTES)).toBeGreaterThan(0n);
      link.detach();
      expect(linkDetails(b, 'veth1')).not.toMatch(/xdp/);
    } finally {
      link.close();
    }
  });

  it('XDP in generic mode only when asked', () => {
    const link = inNetns(b.name, () =>
      obj.program('xdp_count').attachXdp(ifB, { mode: 'generic' }),
    );
    try {
      expect(linkDetails(b, 'veth1')).toMatch(/xdpgeneric/);
    } finally {
      link.close(); // an unpinned link detaches when its last fd closes
    }
    expect(linkDetails(b, 'veth1')).not.toMatch(/xdp/);
  });

  it('a pinned XDP link outlives its fd; reopened from the pin, detach ends it', () => {
    const path = `${pins.path}/xdp_link`;
    const link = inNetns(b.name, () => obj.program('xdp_count').attachXdp(ifB));
    link.pin(path);
    link.close();
    expect(linkDetails(b, 'veth1')).toMatch(/xdp\b/);
    const again = BpfLink.fromPinned(path);
    try {
      expect(again.info().ifindex).toBe(ifB);
      again.detach();
      expect(linkDetails(b, 'veth1')).not.toMatch(/xdp/);
      again.unpin(path);
    } finally {
      again.close();
    }
  });

  it('a second XDP attach on the same interface is a typed EBUSY error', () => {
    const link = inNetns(b.name, () => obj.program('xdp_count').attachXdp(ifB));
    try {
      expect(() => inNetns(b.name, () => obj.program('xdp_swap').attachXdp(ifB))).toThrow(
        /program xdp_swap: attach xdp \(native\) to ifindex \d+: EBUSY/,
      );
    } finally {
      link.close();
    }
  });

  it('TC ingress and egress count the pings; detach removes the filters and our clsact', () => {
    const counters = obj.map('counters');
    const inBefore = counter(counters, CNT.TC_INGRESS);
    const outBefore = counter(counters, CNT.TC_EGRESS);
    const [ing, egr] = inNetns(b.name, () => [
      obj.program('tc_ingress_count').attachTc(ifB, 'ingress'),
      obj.program('tc_egress_count').attachTc(ifB, 'egress'),
    ]);
    try {
      // tc shows the kernel's program name, cut to 15 characters
      expect(b.run('tc', ['filter', 'show', 'dev', 'veth1', 'ingress'])).toMatch(
        /bpf .*name tc_ingress_coun .*direct-action|direct-action.*name tc_ingress_coun/,
      );
      expect(b.run('tc', ['filter', 'show', 'dev', 'veth1', 'egress'])).toMatch(
        /name tc_egress_count/,
      );
      expect(ing!.isAttached()).toBe(true);
      ping(a, '10.200.0.2');
      expect(counter(counters, CNT.TC_INGRESS) - inBefore).toBeGreaterThanOrEqual(BigInt(PINGS));
      expect(counter(counters, CNT.TC_EGRESS) - outBefore).toBeGreaterThanOrEqual(BigInt(PINGS));
    } finally {
      // detach goes back into the namespace it was attached in by itself
      ing!.detach();
      egr!.detach();
    }
    expect(ing!.isAttached()).toBe(false);
    expect(b.run('tc', ['filter', 'show', 'dev', 'veth1', 'ingress'])).toBe('');
    expect(b.run('tc', ['qdisc', 'show', 'dev', 'veth1'])).not.toMatch(/clsact/);
    expect(linkDetails(b, 'veth1')).not.toMatch(/xdp/);
  });

  it("TC detach leaves other people's clsact and filters alone", () => {
    b.run('tc', ['qdisc', 'add', 'dev', 'veth1', 'clsact']);
    // someone else's filter (u32 is built into this kernel, matchall is not)
    b.run('tc', 'filter add dev veth1 ingress prio 1 u32 match u32 0 0 flowid :1'.split(' '));
    try {
      const t = inNetns(b.name, () =>
        obj.program('tc_ingress_count').attachTc(ifB, 'ingress', { priority: 7 }),
      );
      expect(t.priority).toBe(7);
      t.detach();
      t.detach(); // idempotent
      const left = b.run('tc', ['filter', 'show', 'dev', 'veth1', 'ingress']);
      expect(left).toMatch(/pref 1 u32/);
      expect(left).not.toMatch(/tc_ingress_coun/);
      expect(b.run('tc', ['qdisc', 'show', 'dev', 'veth1'])).toMatch(/clsact/);
    } finally {
      b.run('tc', ['qdisc', 'del', 'dev', 'veth1', 'clsact']);
    }
  });

  it('TCX links count ingress and egress, pin like XDP links and leave no qdisc', () => {
    // Debian's bpftool predates TCX, so the link's own info and the counters are the witnesses.
    const BPF_LINK_TYPE_TCX = 11;
    const counters = obj.map('counters');
    const ingress = () => counter(counters, CNT.TC_INGRESS);
    const egress = () => counter(counters, CNT.TC_EGRESS);
    const [ing, egr] = inNetns(b.name, () => [
      obj.program('tc_ingress_count').attachTcx(ifB, 'ingress'),
      obj.program('tc_egress_count').attachTcx(ifB, 'egress'),
    ]);
    const path = `${pins.path}/tcx_ingress`;
    try {
      expect(ing!.info()).toMatchObject({ type: BPF_LINK_TYPE_TCX, ifindex: ifB });
      let [inBefore, outBefore] = [ingress(), egress()];
      ping(a, '10.200.0.2');
      expect(ingress() - inBefore).toBeGreaterThanOrEqual(BigInt(PINGS));
      expect(egress() - outBefore).toBeGreaterThanOrEqual(BigInt(PINGS));
      // pinned, the attachment survives its fd
      ing!.pin(path);
      ing!.close();
      inBefore = ingress();
      ping(a, '10.200.0.2');
      expect(ingress() - inBefore).toBeGreaterThanOrEqual(BigInt(PINGS));
      // detached through the pin, it counts no more
      const again = BpfLink.fromPinned(path);
      again.detach();
      again.unpin(path);
      again.close();
      egr!.detach();
      [inBefore, outBefore] = [ingress(), egress()];
      ping(a, '10.200.0.2');
      expect(ingress()).toBe(inBefore);
      expect(egress()).toBe(outBefore);
    } finally {
      ing!.close();
      egr!.close();
    }
    expect(b.run('tc', ['qdisc', 'show', 'dev', 'veth1'])).not.toMatch(/clsact/);
  });
});
