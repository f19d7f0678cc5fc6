// The protobuf wire facts roam's hand-written codecs share (change-decoder.ts, snapshot-decoder.ts,
// change-encoder.ts): wire types, the NvaMessage fields they handle, and EntryState's numbering.
// One copy, so the encoder and the decoders cannot drift from each other; nva.proto is the source.

/** Protobuf wire types. */
export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_I32 = 5;

/** NvaMessage field numbers (nva.proto). */
export const NVA_SNAPSHOT = 1;
export const NVA_CHANGE = 2;

/** roam.v1.EntryState names by their number (nva.proto). */
export const ENTRY_STATES = [
  'ENTRY_STATE_UNSPECIFIED',
  'ENTRY_STATE_ACTIVE',
  'ENTRY_STATE_MOVING',
  'ENTRY_STATE_DUPLICATE',
  'ENTRY_STATE_WITHDRAWN',
] as const;
