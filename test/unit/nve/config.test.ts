import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_HOLD_TIME_MS, findTsi, parseConfig } from '../../../src/nve/config.ts';
import { UserError } from '../../../src/cli/user-error.ts';

const BASE = `id: nve1
underlay:
  interface: eth1
  address: 192.0.2.1
nva:
  endpoint: 127.0.0.1:7400
  tokenFile: /etc/roam/token
tsis:
  - interface: tap-a
    vni: 100
    mac: 52:54:00:00:00:01
    ips: [10.0.0.1]
  - interface: tap-b
    vni: 100
    mac: 52:54:00:00:00:02
`;

function errorOf(text: string): string {
  try {
    parseConfig(text, 'nve.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(UserError);
    return (err as Error).message;
  }
  throw new Error('config was accepted');
}

describe('parseConfig', () => {
  it('accepts the shipped example', () => {
    const c = parseConfig(readFileSync('docs/examples/nve.yaml', 'utf8'));
    expect(c.id).toBe('nve1');
    expect(c.holdTimeMs).toBe(30_000);
    expect(c.tsis).toHaveLength(3);
    expect(c.tsis[0]!.ips).toEqual(['10.100.0.11', 'fd00:100::11']);
    expect(c.metrics?.listen).toBe('127.0.0.1:9464');
  });

  it('fills defaults: hold time 30 s, pin root, instance = id', () => {
    const c = parseConfig(BASE);
    expect(c.holdTimeMs).toBe(DEFAULT_HOLD_TIME_MS);
    expect(c.pin).toEqual({ root: '/sys/fs/bpf/roam', instance: 'nve1' });
    expect(c.tsis[1]!.ips).toEqual([]);
  });

  it.each([
    ['holdTime: 500ms', 500],
    ['holdTime: 2m', 120_000],
    ['holdTime: 1.5', 1500],
    ['holdTime: 45s', 45_000],
  ])('parses %s', (line, ms) => {
    expect(parseConfig(`${BASE}${line}\n`).holdTimeMs).toBe(ms);
  });

  it.each([
    'unix:/run/roam/nva.sock',
    'ipv4:127.0.0.1:7400,127.0.0.2:7400',
    'ipv6:[fd00::1]:7400,[fd00::2]:7400',
    'dns:nva.example:7400',
  ])('takes the NVA endpoint %s (what the client connects to: parseTargets)', (endpoint) => {
    expect(parseConfig(BASE.replace('127.0.0.1:7400', endpoint)).nva.endpoint).toBe(endpoint);
  });

  it('canonicalises addresses (v6 compressed, MAC lower case)', () => {
    const c = parseConfig(
      BASE.replace('192.0.2.1', '2001:DB8:0:0::1').replace(
        '52:54:00:00:00:02',
        '52:54:00:AA:BB:CC',
      ),
    );
    expect(c.underlay.address).toBe('2001:db8::1');
    expect(c.tsis[1]!.mac).toBe('52:54:00:aa:bb:cc');
  });

  // Each mistake is reported with its path and the line it is on.
  it.each([
    [
      'vni out of range',
      BASE.replace(
        'vni: 100\n    mac: 52:54:00:00:00:02',
        'vni: 16777216\n    mac: 52:54:00:00:00:02',
      ),
      'tsis[1].vni: expected a number from 1 to 16777215 (nve.yaml line 14)',
    ],
    [
      'vni a string',
      BASE.replace('vni: 100', 'vni: abc'),
      'tsis[0].vni: expected a number from 1 to 16777215 (nve.yaml line 10)',
    ],
    [
      'bad underlay address',
      BASE.replace('192.0.2.1', '192.0.2.300'),
      'underlay.address: expected an IPv4 or IPv6 address (nve.yaml line 4)',
    ],
    [
      'bad MAC',
      BASE.replace('52:54:00:00:00:01', '52:54:00:00:01'),
      'tsis[0].mac: expected a MAC address like 52:54:00:12:34:56 (nve.yaml line 11)',
    ],
    [
      'multicast MAC',
      BASE.replace('52:54:00:00:00:01', '01:00:5e:00:00:01'),
      'tsis[0].mac: expected a unicast MAC address (the group bit of the first octet is set) (nve.yaml line 11)',
    ],
    [
      'bad IP in list',
      BASE.replace('[10.0.0.1]', '[10.0.0.1, nope]'),
      'tsis[0].ips[1]: expected an IPv4 or IPv6 address (nve.yaml line 12)',
    ],
    [
      'missing id',
      BASE.replace('id: nve1\n', ''),
      'id: expected the NVE id, a non-empty string (nve.yaml line 1)',
    ],
    ['unknown key', `${BASE}colour: blue\n`, /Unrecognized key.*colour.*\(nve\.yaml line 1\)/],
    [
      'bad endpoint',
      BASE.replace('127.0.0.1:7400', 'localhost'),
      'nva.endpoint: expected host:port, e.g. 127.0.0.1:7400 (or unix:/path, or ipv4:host:port,host:port for NVA replicas) (nve.yaml line 6)',
    ],
    [
      'bad hold time',
      `${BASE}holdTime: soon\n`,
      'holdTime: expected a duration such as 30s, 500ms or 2m (nve.yaml line 16)',
    ],
    [
      'interface and pattern',
      BASE.replace('  - interface: tap-b', '  - interface: tap-b\n    pattern: tap-*'),
      'tsis[1]: give exactly one of interface or pattern (nve.yaml line 13)',
    ],
    [
      'interface name too long',
      BASE.replace('tap-b', 'tap-0123456789abcdef'),
      'tsis[1].interface: expected an interface name of at most 15 characters (nve.yaml line 13)',
    ],
    [
      'duplicate interface',
      BASE.replace('tap-b', 'tap-a'),
      'tsis[1].interface: interface tap-a already given in tsis[0] (nve.yaml line 13)',
    ],
    [
      'duplicate MAC',
      BASE.replace('52:54:00:00:00:02', '52:54:00:00:00:01'),
      'tsis[1].mac: MAC 52:54:00:00:00:01 in VNI 100 already given in tsis[0] (nve.yaml line 15)',
    ],
    ['YAML syntax', `${BASE}  - interface: [\n`, /^nve\.yaml line \d+: /],
  ])('%s', (_name, text, expected) => {
    const msg = errorOf(text);
    if (typeof expected === 'string') expect(msg).toBe(expected);
    else expect(msg).toMatch(expected);
  });

  it('never leaks a stack trace into the message', () => {
    expect(errorOf('id: [')).not.toMatch(/\n\s+at /);
  });
});

describe('findTsi', () => {
  const c = parseConfig(
    `${BASE}  - pattern: tap-t200-*\n    vni: 200\n  - pattern: "vm?"\n    vni: 300\n`,
  );
  it.each([
    ['tap-a', 100],
    ['tap-t200-x1', 200],
    ['vm1', 300],
    ['vm12', undefined],
    ['eth0', undefined],
  ])('%s -> VNI %s', (name, vniWanted) => {
    expect(findTsi(c.tsis, name)?.vni).toBe(vniWanted);
  });
});
