// Where a roam instance pins what: adopt() and detach() find things by these names.
import { describe, expect, it } from 'vitest';
import {
  PinLayout,
  linkPinName,
  parseLinkPinName,
  type LinkPin,
} from '../../../src/dataplane/pin-layout.ts';

describe('PinLayout', () => {
  it('puts maps, programs and links under /sys/fs/bpf/roam/<instance>', () => {
    const l = new PinLayout('nve1');
    expect(l.root).toBe('/sys/fs/bpf/roam/nve1');
    expect(l.map('fdb')).toBe('/sys/fs/bpf/roam/nve1/fdb');
    expect(l.program('roam_tsi')).toBe('/sys/fs/bpf/roam/nve1/progs/roam_tsi');
    expect(l.link({ role: 'tsi', ifindex: 7, hook: 'xdp' })).toBe(
      '/sys/fs/bpf/roam/nve1/links/tsi-7-xdp',
    );
    expect(new PinLayout('x', '/sys/fs/bpf/t').root).toBe('/sys/fs/bpf/t/x');
  });

  it.each(['', '../etc', 'a/b', '.hidden', 'x'.repeat(65)])(
    'refuses instance name "%s"',
    (name) => {
      expect(() => new PinLayout(name)).toThrow(/instance name/);
    },
  );

  it.each<[LinkPin, string]>([
    [{ role: 'tsi', ifindex: 12, hook: 'tc' }, 'tsi-12-tc'],
    [{ role: 'underlay', ifindex: 3, hook: 'xdp' }, 'underlay-3-xdp'],
  ])('names link %o %s and parses it back', (pin, name) => {
    expect(linkPinName(pin)).toBe(name);
    expect(parseLinkPinName(name)).toEqual(pin);
  });

  it.each(['tsi-x-xdp', 'vm-1-xdp', 'tsi-1-tcx', 'fdb'])(
    'ignores "%s" in the links directory',
    (name) => {
      expect(parseLinkPinName(name)).toBeNull();
    },
  );
});
