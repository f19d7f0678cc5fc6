// The long-lived announce sender (src/lab/announcer.ts): one python3 per VM namespace sends each
// job's frames from the named interface, also from an interface created after it started (a
// moved VM's new link), reports when each frame left, and is gone once closed.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { garpFrame, rarpFrame } from '../../../src/lab/announce.ts';
import { Announcer } from '../../../src/lab/announcer.ts';
import { captureDuring } from '../../../src/lab/capture.ts';
import { createNetns, destroyAll, vethPair, type Netns } from '../../helpers/netns.ts';

const MAC = '02:00:00:00:64:02';
const now = () => performance.timeOrigin + performance.now();

describe('lab: announcer', () => {
  let vm: Netns;
  let host: Netns;
  let announcer: Announcer;

  beforeAll(() => {
    vm = createNetns('annvm');
    host = createNetns('annhost');
    vethPair(vm, 'eth0', host, 'tsi0');
    announcer = new Announcer(vm);
  });
  afterAll(() => {
    announcer?.close();
    destroyAll();
  });

  it('sends a job, then another on a re-created link, from the same process', async () => {
    const before = now();
    const first = await captureDuring(host, 'tsi0', 'arp', () =>
      announcer.send('eth0', [garpFrame(MAC, '10.1.0.2')]),
    );
    expect(first.result).toHaveLength(1);
    expect(first.result[0]!).toBeGreaterThan(before);
    expect(first.result[0]!).toBeLessThan(now());
    expect(first.frames.join('\n')).toMatch(/Request who-has 10\.1\.0\.2 tell 10\.1\.0\.2/);

    // the VM's link goes and comes back (a move): a new ifindex, the same name
    const pid = announcerPid(vm);
    host.ip('link', 'del', 'tsi0');
    vethPair(vm, 'eth0', host, 'tsi0');
    const second = await captureDuring(host, 'tsi0', 'rarp', () =>
      announcer.send('eth0', [rarpFrame(MAC), rarpFrame(MAC)], [50]),
    );
    expect(second.frames).toHaveLength(2);
    expect(second.result[1]! - second.result[0]!).toBeGreaterThanOrEqual(49);
    expect(announcerPid(vm)).toBe(pid);
  });

  it('answers an error for a missing interface and keeps serving', async () => {
    await expect(announcer.send('nosuch0', [garpFrame(MAC, '10.1.0.2')])).rejects.toThrow(
      /nosuch0/,
    );
    expect(await announcer.send('eth0', [garpFrame(MAC, '10.1.0.2')])).toHaveLength(1);
  });

  it('is gone once closed, and says so', async () => {
    const a = new Announcer(vm);
    await a.send('eth0', [garpFrame(MAC, '10.1.0.2')]);
    expect(announcerPids(vm)).toHaveLength(2);
    a.close();
    await new Promise((r) => setTimeout(r, 200));
    expect(announcerPids(vm)).toHaveLength(1);
    await expect(a.send('eth0', [garpFrame(MAC, '10.1.0.2')])).rejects.toThrow(/closed/);
  });
});

/** The python3 processes inside the namespace (ip netns pids lists them). */
function announcerPids(ns: Netns): string[] {
  return execFileSync('ip', ['netns', 'pids', ns.name], { encoding: 'utf8' })
    .split('\n')
    .filter((p) => p.trim() !== '');
}

function announcerPid(ns: Netns): string {
  const pids = announcerPids(ns);
  expect(pids.length).toBeGreaterThan(0);
  return pids[0]!;
}
