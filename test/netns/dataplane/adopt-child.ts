// A second process for the restart test (not a test file): adopts a pinned roam instance,
// reports what it found as one JSON line, changes one table entry, and exits without
// detaching, as a restarted agent would. argv: instance, netns, pinBase, vni, mac, nve.
import { Dataplane } from '../../../src/dataplane/dataplane.ts';

const [instance, netns, pinBase, vni, mac, nve] = process.argv.slice(2);
if (!instance || !netns || !pinBase || !vni || !mac || !nve) {
  throw new Error('usage: adopt-child.ts INSTANCE NETNS PIN_BASE VNI MAC NVE');
}
const dp = Dataplane.adopt({ instance, netns, pinBase });
const report = {
  pid: process.pid,
  links: dp.linkStates(),
  tsis: dp.attachedTsis(),
  fdb: dp.tables.fdb.size(),
  encap:
    dp.stats
      .read()
      .find((r) => r.verdict === 'encap')
      ?.packets.toString() ?? '0',
};
// Re-write one entry as the agent's resync would: same content, traffic must not notice.
dp.tables.fdb.setMany([
  [
    { vni: Number(vni), mac },
    { kind: 'remote', nve },
  ],
]);
dp.close();
process.stdout.write(`${JSON.stringify(report)}\n`);
