// libbpf-ts: roam's thin libbpf binding over koffi. Knows nothing of overlays.
export { BpfError, errnoName, errnoNumber, errnoText } from './errors.ts';
export { BpfObject, type BpfObjectOpenOptions } from './object.ts';
export { BpfMap, possibleCpus, sumU64, type BpfMapInfo, type MapDump } from './map.ts';
export {
  BPF_ANY,
  BPF_EXIST,
  BPF_NOEXIST,
  BPF_MAP_TYPE,
  BPF_PROG_TYPE,
  isPerCpuMapType,
} from './map-types.ts';
export {
  BpfProgram,
  type RunStats,
  type TestRunOptions,
  type TestRunResult,
  type XdpAttachOptions,
} from './program.ts';
export { BpfLink, type BpfLinkInfo } from './link.ts';
export { TcAttachment, type TcAttachOptions, type TcDirection } from './tc.ts';
export { RingBuffer, type RingBufferHandler } from './ringbuf.ts';
export { TypedMap } from './typed-map.ts';
export * as codec from './codec.ts';
export type { Codec } from './codec.ts';
export { inNetns, currentNetns } from './netns.ts';
export { enableBpfStats } from './stats.ts';
export { installLibbpfLogger } from './log.ts';
export { structLayout, sectionLayout, type StructLayout, type SectionLayout } from './btf.ts';
