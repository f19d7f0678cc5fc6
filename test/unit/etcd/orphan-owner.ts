// Fixture for etcd-cluster.test.ts: starts a 1-member cluster, prints "<dir> <member pid>", and
// waits to be SIGKILLed (so its cleanup hooks never run and the member is orphaned).
import { EtcdCluster } from '../../helpers/etcd-cluster.ts';

const c = await EtcdCluster.start({ members: 1 });
process.stdout.write(`${c.dir} ${c.members[0]!.process!.pid}\n`);
setInterval(() => undefined, 1_000);
