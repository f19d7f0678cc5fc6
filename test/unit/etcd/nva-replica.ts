// One NVA replica in its own process, over the etcd store, for tests and benchmarks that need to
// kill it for real (SIGKILL). Usage: node --import tsx test/unit/etcd/nva-replica.ts <prefix> <etcd
// url>... It listens on 127.0.0.1 (any free port), lets any NVE id in (lab auth), and prints
// "LISTENING <port>" on stdout once it serves.
import { EtcdStore } from '../../../src/nva/store-etcd.ts';
import { NvaServer } from '../../../src/nva/server.ts';

const [prefix, ...hosts] = process.argv.slice(2);
if (!prefix || hosts.length === 0) {
  process.stderr.write('usage: nva-replica.ts <prefix> <etcd url>...\n');
  process.exit(2);
}
const store = await EtcdStore.open({ hosts, prefix });
const server = new NvaServer({ store, auth: { openNves: true } });
const port = await server.listen('127.0.0.1:0');
process.stdout.write(`LISTENING ${port}\n`);
const stop = async () => {
  await server.close();
  await store.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
