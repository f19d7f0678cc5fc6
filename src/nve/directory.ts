// The NVA's directory as the agent holds it: the last full snapshot packed (directory-base.ts)
// under a small overlay of what changes and deletions said since. Map-like by MAC id for the
// control loop's incremental paths (an entry object is made when asked for); whole passes over a
// million entries go through the base's columns instead (nve-state.ts, packed-desired.ts).
import { DirectoryBase } from './directory-base.ts';
import type { DirEntry } from './nva-port.ts';

/** Flag bits per base slot. */
export const F_TOUCHED = 1;
/** The overlay holds this slot's MAC id (a later change or a deletion). */
export const F_OVERLAID = 2;

export class Directory {
  /** Entries changed (or deleted: null) since the base, by MAC id. */
  readonly overlay = new Map<string, DirEntry | null>();
  /** Per base slot: F_TOUCHED, F_OVERLAID. */
  readonly flags: Uint8Array;
  private n: number;

  constructor(readonly base: DirectoryBase | undefined) {
    this.flags = new Uint8Array(base?.count ?? 0);
    let n = 0;
    if (base) for (let s = 0; s < base.count; s++) n += base.present[s]!;
    this.n = n;
  }

  /** The base slot of a MAC id (-1: none). */
  slot(id: string): number {
    return this.base ? this.base.findId(id) : -1;
  }

  get(id: string): DirEntry | undefined {
    const o = this.overlay.get(id);
    if (o !== undefined) return o ?? undefined;
    if (!this.base) return undefined;
    const s = this.base.findId(id);
    return s >= 0 && !(this.flags[s]! & F_OVERLAID) ? this.base.entry(s) : undefined;
  }

  has(id: string): boolean {
    const o = this.overlay.get(id);
    if (o !== undefined) return o !== null;
    const s = this.slot(id);
    return s >= 0 && !(this.flags[s]! & F_OVERLAID);
  }

  set(id: string, e: DirEntry): void {
    if (!this.has(id)) this.n++;
    this.overlay.set(id, e);
    const s = this.slot(id);
    if (s >= 0) this.flags[s]! |= F_OVERLAID;
  }

  delete(id: string): boolean {
    if (!this.has(id)) return false;
    this.n--;
    const s = this.slot(id);
    if (s >= 0) {
      this.flags[s]! |= F_OVERLAID;
      this.overlay.set(id, null);
    } else this.overlay.delete(id);
    return true;
  }

  get size(): number {
    return this.n;
  }

  /** Every entry (O(entries), objects made for the base's: tests and small directories). */
  *entries(): IterableIterator<[string, DirEntry]> {
    for (const [id, e] of this.overlay) if (e) yield [id, e];
    const b = this.base;
    if (!b) return;
    for (let s = 0; s < b.count; s++)
      if (b.present[s] && !(this.flags[s]! & F_OVERLAID)) yield [b.id(s), b.entry(s)];
  }

  [Symbol.iterator](): IterableIterator<[string, DirEntry]> {
    return this.entries();
  }

  /** Live entries placed at this NVE (few), without a pass over the base. */
  *here(nveId: string): IterableIterator<[string, DirEntry]> {
    for (const [id, e] of this.overlay)
      if (e && e.nveId === nveId && e.state !== 'withdrawn') yield [id, e];
    const b = this.base;
    if (!b) return;
    for (const s of b.here) if (!(this.flags[s]! & F_OVERLAID)) yield [b.id(s), b.entry(s)];
  }

  /** The VNIs of the entries. */
  vnis(out: Set<number>): void {
    for (const e of this.overlay.values()) if (e) out.add(e.vni);
    if (this.base) for (const v of this.base.vnis) out.add(v >>> 0);
  }
}
