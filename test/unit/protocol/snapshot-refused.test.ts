// A snapshot whose entries fail validation, through the real NvaClient: its entries are decoded
// only when the NVE's handler takes them (DeferredSnapshot), so the refusal surfaces there; the
// client reports it as an invalid message and the stream does not count as synced.
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { NvaClient } from '../../../src/protocol/client.ts';
import { isPackedSnapshot, type PackedSnapshotMsg } from '../../../src/protocol/packed-snapshot.ts';
import { loadServices } from '../../../src/protocol/proto.ts';
import { sampleEntry, serializeNvaMessage } from './stream-wire.ts';
import { until } from '../nva/harness.ts';

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanup.splice(0)) c();
});

/** A stand-in NVA that answers every stream with `bytes` (an NvaMessage already encoded). */
async function scriptedNva(bytes: Buffer): Promise<string> {
  const method = loadServices().Nva.service.Stream!;
  const server = new grpc.Server();
  server.addService(
    { Stream: { ...method, responseSerialize: (b: Buffer) => b } },
    {
      Stream: (call: grpc.ServerDuplexStream<unknown, Buffer>) => {
        call.once('data', () => call.write(bytes)); // after the Hello
        call.on('error', () => undefined);
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  cleanup.push(() => server.forceShutdown());
  return `127.0.0.1:${port}`;
}

function client(address: string, onSnapshot: (s: PackedSnapshotMsg) => void) {
  const invalid: string[] = [];
  let connected = false;
  const c = new NvaClient({
    address,
    nveId: 'nve-1',
    underlayAddr: '192.0.2.1',
    vnis: [100],
    handlers: {
      packedSnapshot: onSnapshot,
      invalid: (reason) => invalid.push(reason),
      connected: () => (connected = true),
    },
  });
  cleanup.push(() => c.close());
  c.start();
  return { invalid, connected: () => connected };
}

const snapshotWith = (mac: string) =>
  serializeNvaMessage({
    snapshot: {
      revision: 7,
      vnis: [100],
      entries: [{ ...sampleEntry, mac }],
      members: [{ vni: 100, nveId: 'nve-1', nveAddr: '192.0.2.1' }],
    },
  });

describe('a snapshot whose entries are refused', () => {
  it('is reported as invalid where its entries are taken, and the stream is not synced', async () => {
    let taken = 0;
    const c = client(await scriptedNva(snapshotWith('not-a-mac')), (s) => {
      taken += 1;
      void s.packed; // the agent takes the entries here (decodeEntries)
    });
    await until('the refusal', () => c.invalid.length > 0);
    expect(taken).toBe(1);
    expect(c.invalid[0]).toMatch(/^snapshot refused: .*mac/i);
    expect(c.connected()).toBe(false);
  });

  it('a valid one reaches the handler packed and syncs the stream', async () => {
    const seen: PackedSnapshotMsg[] = [];
    const c = client(await scriptedNva(snapshotWith('02:aa:00:00:00:09')), (s) => {
      seen.push(s);
      void s.packed;
    });
    await until('the snapshot', () => c.connected());
    expect(seen[0] !== undefined && isPackedSnapshot(seen[0])).toBe(true);
    expect(seen[0]?.revision).toBe(7);
    expect(seen[0]?.packed.count).toBe(1);
    expect(seen[0]?.packed.mac(0)).toBe('02:aa:00:00:00:09');
    expect(c.invalid).toEqual([]);
  });
});
