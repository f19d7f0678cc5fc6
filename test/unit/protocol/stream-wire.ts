// What the hand-written codecs' tests hold them against: proto-loader's own serializer and
// deserializer for the Stream RPC's NvaMessage, and one entry with every field set.
import { loadServices } from '../../../src/protocol/proto.ts';

const method = loadServices().Nva.service.Stream!;

/** proto-loader's encoding of an NvaMessage (what the NVA would send without the hand encoder). */
export const serializeNvaMessage = (m: object): Buffer => method.responseSerialize(m);
/** proto-loader's decoding of an NvaMessage (what the NVE would get without the hand decoders). */
export const deserializeNvaMessage = (b: Buffer): object => method.responseDeserialize(b);

/** An entry with every scalar field set (no anchors: tests add them where they matter). */
export const sampleEntry = {
  vni: 100,
  mac: '02:aa:00:00:00:01',
  ips: [
    { ip: '10.0.0.1', seq: 1 },
    { ip: 'fd00::1', seq: 2 },
  ],
  nveId: 'nve-1',
  nveAddr: '192.0.2.1',
  seq: 3,
  state: 'ENTRY_STATE_MOVING',
  changedAtMs: 1_700_000_000_123,
  tsi: 'tap0',
};
