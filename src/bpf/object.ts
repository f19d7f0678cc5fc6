// A BPF object file (.bpf.o) through libbpf: open, size maps and set read-only data before
// load, load (the verifier's complaint lands in the BpfError), find maps and programs by name,
// close deterministically. Maps declared with LIBBPF_PIN_BY_NAME are pinned under pinRoot and
// reused from there when already pinned: that is how objects share maps and how a restarted
// agent re-adopts them.
import koffi from 'koffi';
import { join } from 'node:path';
import {
  objectSectionLayout,
  objectStructLayout,
  type SectionLayout,
  type StructLayout,
} from './btf.ts';
import { BpfError, check, checkPtr } from './errors.ts';
import * as L from './libbpf.ts';
import { captureLibbpfLog, installLibbpfLogger, logDetail } from './log.ts';
import { BpfMap } from './map.ts';
import { BpfProgram } from './program.ts';

const EINVAL = 22;
const ENOENT = 2;

export interface BpfObjectOpenOptions {
  /** Object name override (bpf_object_open_opts.object_name). */
  name?: string;
  /** bpffs directory for maps declared with LIBBPF_PIN_BY_NAME (default libbpf's /sys/fs/bpf). */
  pinRoot?: string;
  /**
   * bpffs directory in which EVERY non-internal map is pinned by name on load, or reused from
   * there when a pin already exists (a restarted agent re-adopts its maps this way).
   */
  pinMaps?: string;
}

function cString(s: string): Buffer {
  return Buffer.from(`${s}\0`, 'utf8');
}

/** libbpf names internal maps of global data "<obj>.rodata", ".bss", ".data", ".kconfig". */
function isInternalMap(name: string): boolean {
  return name.includes('.');
}

export class BpfObject {
  private ptr: L.Ptr | null;
  private loaded = false;
  private readonly mapCache = new Map<string, BpfMap>();
  private readonly progCache = new Map<string, BpfProgram>();
  private readonly label: string;
  // C strings the opts struct points to: kept alive as long as libbpf may read them.
  private readonly keep: Buffer[];

  private constructor(
    ptr: L.Ptr,
    readonly path: string,
    keep: Buffer[],
  ) {
    this.ptr = ptr;
    this.label = `object ${path}`;
    this.keep = keep;
  }

  /** Open an object file (no kernel objects yet: size maps, set rodata, then load()). */
  static open(path: string, opts: BpfObjectOpenOptions = {}): BpfObject {
    installLibbpfLogger();
    const O = L.OPEN_OPTS;
    const o = Buffer.alloc(O.size);
    o.writeBigUInt64LE(BigInt(O.size), 0);
    const keep: Buffer[] = [o];
    if (opts.name !== undefined) {
      const s = cString(opts.name);
      keep.push(s);
      o.writeBigUInt64LE(L.addressOf(s), O.objectName);
    }
    if (opts.pinRoot !== undefined) {
      const s = cString(opts.pinRoot);
      keep.push(s);
      o.writeBigUInt64LE(L.addressOf(s), O.pinRootPath);
    }
    const { result: ptr, lines } = captureLibbpfLog(() => L.bpf_object__open_file(path, o));
    const obj = new BpfObject(
      checkPtr(ptr, 'open', `object ${path}`, logDetail(lines)),
      path,
      keep,
    );
    if (opts.pinMaps !== undefined) {
      try {
        obj.pinAllMaps(opts.pinMaps);
      } catch (err) {
        obj.close();
        throw err;
      }
    }
    return obj;
  }

  private handle(): L.Ptr {
    if (this.ptr === null) throw new BpfError('use', this.label, EINVAL, 'the object was closed');
    return this.ptr;
  }

  private mapPtr(name: string): L.Ptr {
    const p = L.bpf_object__find_map_by_name(this.handle(), name);
    if (p === null)
      throw new BpfError(
        `find map ${name}`,
        this.label,
        ENOENT,
        `maps: ${this.mapNames().join(', ')}`,
      );
    return p;
  }

  private beforeLoad(op: string): void {
    if (this.loaded) throw new BpfError(op, this.label, EINVAL, 'only possible before load()');
  }

  private afterLoad(op: string): void {
    this.handle();
    if (!this.loaded) throw new BpfError(op, this.label, EINVAL, 'call load() first');
  }

  /** Names of all maps, internal ones (".rodata") included. */
  mapNames(): string[] {
    const names: string[] = [];
    for (
      let m = L.bpf_object__next_map(this.handle(), null);
      m !== null;
      m = L.bpf_object__next_map(this.handle(), m)
    ) {
      names.push(L.bpf_map__name(m));
    }
    return names;
  }

  /** Names of all programs. */
  programNames(): string[] {
    const names: string[] = [];
    const h = this.handle();
    for (
      let p = L.bpf_object__next_program(h, null);
      p !== null;
      p = L.bpf_object__next_program(h, p)
    ) {
      names.push(L.bpf_program__name(p));
    }
    return names;
  }

  /** Resize a map before load. */
  setMaxEntries(map: string, n: number): void {
    this.beforeLoad(`set max entries of ${map}`);
    check(
      L.bpf_map__set_max_entries(this.mapPtr(map), n),
      `set max entries of ${map} to ${n}`,
      this.label,
    );
  }

  /** Replace a global-data map's initial content before load (size must match exactly). */
  setInitialValue(map: string, data: Buffer): void {
    this.beforeLoad(`set initial value of ${map}`);
    const m = this.mapPtr(this.resolveInternal(map));
    check(
      L.bpf_map__set_initial_value(m, data, data.length),
      `set initial value of ${map} (${data.length} bytes)`,
      this.label,
    );
  }

  /** Current initial content of a global-data map (a copy): patch it, then setInitialValue. */
  initialValue(map: string): Buffer {
    const m = this.mapPtr(this.resolveInternal(map));
    const size = L.bpf_map__value_size(m);
    const ptr = L.bpf_map__initial_value(m, Buffer.alloc(8));
    if (ptr === null)
      throw new BpfError(`initial value of ${map}`, this.label, EINVAL, 'map has no initial value');
    return Buffer.from(koffi.view(ptr, size));
  }

  /** Set the `const volatile` globals (.rodata) before load; data is the whole section. */
  setRodata(data: Buffer): void {
    this.setInitialValue('.rodata', data);
  }

  /** Set one global of a data section (default .rodata) before load, by its C name. */
  setGlobal(name: string, value: Buffer, section = '.rodata'): void {
    const v = this.globals(section)[name];
    if (!v)
      throw new BpfError(
        `set global ${name}`,
        this.label,
        ENOENT,
        `no such variable in ${section}`,
      );
    if (value.length !== v.size) {
      throw new BpfError(
        `set global ${name}`,
        this.label,
        EINVAL,
        `${value.length} bytes given, the variable has ${v.size}`,
      );
    }
    const data = this.initialValue(section);
    value.copy(data, v.offset);
    this.setInitialValue(section, data);
  }

  /** Offsets and sizes of the globals of a data section, from the object's BTF. */
  globals(section = '.rodata'): SectionLayout {
    return objectSectionLayout(this.handle(), section, this.label);
  }

  /** sizeof and offsetof of a struct (or union) from the object's BTF. */
  structLayout(name: string): StructLayout {
    return objectStructLayout(this.handle(), name, this.label);
  }

  /** Let map `name` use an existing map (fd, or a BpfMap) instead of creating one (before load). */
  reuseMap(name: string, from: number | BpfMap): void {
    this.beforeLoad(`reuse map ${name}`);
    const fd = typeof from === 'number' ? from : from.fd;
    check(L.bpf_map__reuse_fd(this.mapPtr(name), fd), `reuse fd ${fd} for map ${name}`, this.label);
  }

  /** Pin every non-internal map under dir by name on load, reusing pins that already exist. */
  pinAllMaps(dir: string): void {
    this.beforeLoad('pin maps');
    for (const name of this.mapNames()) {
      if (isInternalMap(name)) continue;
      check(
        L.bpf_map__set_pin_path(this.mapPtr(name), join(dir, name)),
        `set pin path of ${name}`,
        this.label,
      );
    }
  }

  /** Create maps, load programs through the verifier; a rejection carries the verifier log. */
  load(): void {
    this.beforeLoad('load');
    const h = this.handle();
    const { result: ret, lines } = captureLibbpfLog(() => L.bpf_object__load(h));
    if (ret < 0) throw new BpfError('load', this.label, -ret, logDetail(lines));
    this.loaded = true;
  }

  /** A map by name (after load). ".rodata"/".bss"/".data" find the object's global-data maps. */
  map(name: string): BpfMap {
    this.afterLoad(`map ${name}`);
    const cached = this.mapCache.get(name);
    if (cached) return cached;
    const m = this.mapPtr(this.resolveInternal(name));
    const map = new BpfMap(
      L.bpf_map__fd(m),
      {
        name: L.bpf_map__name(m),
        type: L.bpf_map__type(m),
        keySize: L.bpf_map__key_size(m),
        valueSize: L.bpf_map__value_size(m),
        maxEntries: L.bpf_map__max_entries(m),
      },
      false,
    );
    this.mapCache.set(name, map);
    return map;
  }

  /** A program by name (after load). */
  program(name: string): BpfProgram {
    this.afterLoad(`program ${name}`);
    const cached = this.progCache.get(name);
    if (cached) return cached;
    const p = L.bpf_object__find_program_by_name(this.handle(), name);
    if (p === null) {
      throw new BpfError(
        `find program ${name}`,
        this.label,
        ENOENT,
        `programs: ${this.programNames().join(', ')}`,
      );
    }
    const prog = new BpfProgram(L.bpf_program__fd(p), name, L.bpf_program__type(p), false);
    this.progCache.set(name, prog);
    return prog;
  }

  /** Every map (after load), internal ones included. */
  maps(): BpfMap[] {
    return this.mapNames().map((n) => this.map(n));
  }

  /** Every program (after load). */
  programs(): BpfProgram[] {
    return this.programNames().map((n) => this.program(n));
  }

  /** Free everything: maps and programs close (pins and links keep their kernel objects). Idempotent. */
  close(): void {
    if (this.ptr === null) return;
    for (const m of this.mapCache.values()) m.close();
    for (const p of this.progCache.values()) p.close();
    this.mapCache.clear();
    this.progCache.clear();
    L.bpf_object__close(this.ptr);
    this.ptr = null;
    this.keep.length = 0;
  }

  private resolveInternal(name: string): string {
    if (!name.startsWith('.')) return name;
    const found = this.mapNames().find((n) => n.endsWith(name));
    if (!found)
      throw new BpfError(
        `find map ${name}`,
        this.label,
        ENOENT,
        `maps: ${this.mapNames().join(', ')}`,
      );
    return found;
  }
}
