// Reads C layouts out of an object's BTF: struct sizes and member offsets (so TS codecs can be
// checked against the C header they mirror), and the offsets of global variables in a data
// section (so a loader can set one `const volatile` knob without knowing the section layout).
import koffi from 'koffi';
import { BpfError, checkPtr } from './errors.ts';
import * as L from './libbpf.ts';
import { installLibbpfLogger } from './log.ts';

// libbpf's messages go to pino from the first call on, not only after an object was opened.
installLibbpfLogger();

const ENOENT = 2;
const BTF_KIND_STRUCT = 4;
const BTF_KIND_UNION = 5;
const BTF_KIND_DATASEC = 15;
/** struct btf_type: name_off, info, size|type; then vlen entries of 12 bytes. */
const BTF_TYPE_BYTES = 12;
const BTF_MEMBER_BYTES = 12;
const BTF_VAR_SECINFO_BYTES = 12;

/** A C struct's layout: sizeof and offsetof (bytes) of each member (anonymous ones flattened). */
export interface StructLayout {
  name: string;
  size: number;
  members: Record<string, { offset: number; size: number }>;
}

/** Where each global variable of a data section (".rodata", ".bss", ".data") lives. */
export type SectionLayout = Record<string, { offset: number; size: number }>;

function u32s(ptr: L.Ptr, words: number): Uint32Array {
  return new Uint32Array(koffi.view(ptr, words * 4).slice(0));
}

function header(
  btf: L.Ptr,
  id: number,
): { nameOff: number; kind: number; vlen: number; kflag: boolean; size: number; ptr: L.Ptr } {
  const ptr = L.btf__type_by_id(btf, id);
  if (ptr === null) throw new BpfError(`btf type ${id}`, 'btf', ENOENT);
  const [nameOff = 0, info = 0, size = 0] = u32s(ptr, 3);
  return {
    nameOff,
    kind: (info >>> 24) & 0x1f,
    vlen: info & 0xffff,
    kflag: info >>> 31 === 1,
    size,
    ptr,
  };
}

function collectMembers(btf: L.Ptr, id: number, base: number, out: StructLayout['members']): void {
  const t = header(btf, id);
  const words = u32s(t.ptr, (BTF_TYPE_BYTES + t.vlen * BTF_MEMBER_BYTES) / 4);
  for (let i = 0; i < t.vlen; i++) {
    const w = 3 + i * 3;
    const nameOff = words[w] ?? 0;
    const type = words[w + 1] ?? 0;
    const raw = words[w + 2] ?? 0;
    const bitOff = t.kflag ? raw & 0xffffff : raw;
    const offset = base + Math.floor(bitOff / 8);
    const name = L.btf__name_by_offset(btf, nameOff) ?? '';
    if (name === '') {
      // anonymous struct/union member: its members belong to the parent
      collectMembers(btf, type, offset, out);
      continue;
    }
    out[name] = { offset, size: Number(L.btf__resolve_size(btf, type)) };
  }
}

function structIn(btf: L.Ptr, name: string, label: string): StructLayout {
  let id = L.btf__find_by_name_kind(btf, name, BTF_KIND_STRUCT);
  if (id < 0) id = L.btf__find_by_name_kind(btf, name, BTF_KIND_UNION);
  if (id < 0) throw new BpfError(`find struct ${name} in BTF`, label, ENOENT);
  const members: StructLayout['members'] = {};
  collectMembers(btf, id, 0, members);
  return { name, size: header(btf, id).size, members };
}

function sectionIn(btf: L.Ptr, section: string, label: string): SectionLayout {
  const id = L.btf__find_by_name_kind(btf, section, BTF_KIND_DATASEC);
  if (id < 0) throw new BpfError(`find section ${section} in BTF`, label, ENOENT);
  const t = header(btf, id);
  const words = u32s(t.ptr, (BTF_TYPE_BYTES + t.vlen * BTF_VAR_SECINFO_BYTES) / 4);
  const out: SectionLayout = {};
  for (let i = 0; i < t.vlen; i++) {
    const w = 3 + i * 3;
    const varName = L.btf__name_by_offset(btf, header(btf, words[w] ?? 0).nameOff) ?? '';
    out[varName] = { offset: words[w + 1] ?? 0, size: words[w + 2] ?? 0 };
  }
  return out;
}

/** Layout of struct `name` in the BTF of an object file. */
export function structLayout(objectPath: string, name: string): StructLayout {
  return withFileBtf(objectPath, (btf, label) => structIn(btf, name, label));
}

/**
 * Layout of a data section's globals for an object file. The file's own BTF leaves variable
 * offsets at 0 (libbpf fixes them up on open), so this opens the object to read them.
 */
export function sectionLayout(objectPath: string, section: string): SectionLayout {
  const label = `object ${objectPath}`;
  const obj = checkPtr(L.bpf_object__open_file(objectPath, null), 'open', label);
  try {
    return objectSectionLayout(obj, section, label);
  } finally {
    L.bpf_object__close(obj);
  }
}

function withFileBtf<T>(path: string, fn: (btf: L.Ptr, label: string) => T): T {
  const label = `object ${path}`;
  const btf = checkPtr(L.btf__parse_elf(path, null), 'parse BTF', label);
  try {
    return fn(btf, label);
  } finally {
    L.btf__free(btf);
  }
}

/** Same, on an open object's BTF (owned by the object: not freed here). */
export function objectStructLayout(obj: L.Ptr, name: string, label: string): StructLayout {
  return structIn(checkPtr(L.bpf_object__btf(obj), 'get BTF', label), name, label);
}

export function objectSectionLayout(obj: L.Ptr, section: string, label: string): SectionLayout {
  return sectionIn(checkPtr(L.bpf_object__btf(obj), 'get BTF', label), section, label);
}
