import { describe, expect, it } from 'vitest';
import { installedDigest, installedRows } from '../../../src/nve/digest.ts';
import { vniDigest } from '../../../src/protocol/digest.ts';
import { NveState, type LocalVm } from '../../../src/nve/nve-state.ts';
import type { FdbEntry, MacKey } from '../../../src/nve/tables.ts';
import type { DirEntry } from '../../../src/nve/nva-port.ts';
import { NVE1, NVE2, NVE3, dirEntry } from './fake-nva.ts';

const X = '52:54:00:00:00:0a';
const k: MacKey = { vni: 100, mac: X };
const local = (over: Partial<LocalVm> = {}): LocalVm => ({
  vni: 100,
  mac: X,
  ips: ['10.0.0.10'],
  ifindex: 7,
  tsi: 'tap-x',
  seq: 3,
  active: true,
  confirmed: true,
  ...over,
});

// Each case: the directory (as the NVA has it), what this NVE (nve1) has installed, and whether
// the NVA, digesting its own entries, would find the same digest.
describe('installedDigest against the NVA digest of its directory', () => {
  it.each<{
    name: string;
    dir: DirEntry[];
    installed: FdbEntry | undefined;
    local?: LocalVm;
    same: boolean;
  }>([
    {
      name: 'remote entry toward the directory address',
      dir: [dirEntry(X, NVE2, { ips: ['10.0.0.10'] })],
      installed: { kind: 'remote', vtep: NVE2.addr },
      same: true,
    },
    {
      name: 'moved entry toward where the VM now is',
      dir: [dirEntry(X, NVE3, { seq: 4 })],
      installed: { kind: 'moved', vtep: NVE3.addr, untilMs: 5 },
      same: true,
    },
    {
      name: 'local VM the directory places here',
      dir: [dirEntry(X, NVE1, { ips: ['10.0.0.10'], seq: 3 })],
      installed: { kind: 'local', ifindex: 7 },
      local: local(),
      same: true,
    },
    {
      name: 'VM expected by a hint, not announced yet',
      dir: [dirEntry(X, NVE2)],
      installed: { kind: 'local', ifindex: 7 },
      local: local({ active: false, confirmed: false }),
      same: true,
    },
    {
      name: 'dual entry during an announced migration from here',
      dir: [dirEntry(X, NVE1, { ips: ['10.0.0.10'], seq: 3 })],
      installed: { kind: 'dual', ifindex: 7, vtep: NVE3.addr },
      local: local(),
      same: true,
    },
    {
      name: 'drift: remote toward a stale address',
      dir: [dirEntry(X, NVE2)],
      installed: { kind: 'remote', vtep: NVE3.addr },
      same: false,
    },
    {
      name: 'drift: entry missing from the map',
      dir: [dirEntry(X, NVE2)],
      installed: undefined,
      same: false,
    },
    {
      name: 'drift: entry the directory does not have',
      dir: [],
      installed: { kind: 'remote', vtep: NVE2.addr },
      same: false,
    },
    {
      name: 'drift: local here, directory elsewhere',
      dir: [dirEntry(X, NVE2)],
      installed: { kind: 'local', ifindex: 7 },
      local: local(),
      same: false,
    },
  ])('$name', ({ dir, installed, local: vm, same }) => {
    const state = new NveState(NVE1.id, NVE1.addr);
    state.loadSnapshot(1, [], dir, []);
    if (vm) state.setLocal(vm);
    const rows: Array<[MacKey, FdbEntry]> = installed ? [[k, installed]] : [];
    const nva = vniDigest(dir.filter((e) => e.state !== 'withdrawn'));
    expect(installedDigest(state, 100, rows) === nva).toBe(same);
  });

  it('only counts the VNI asked for', () => {
    const state = new NveState(NVE1.id, NVE1.addr);
    state.loadSnapshot(1, [], [dirEntry(X, NVE2, { vni: 200 })], []);
    expect(
      installedRows(state, 100, [
        [
          { vni: 200, mac: X },
          { kind: 'remote', vtep: NVE2.addr },
        ],
      ]),
    ).toEqual([]);
  });
});
