// The `routed_vnis` table together with its presence bitmap `routed_mask` (bpf/lib/route-maps.h):
// the XDP programs read a VNI's bit before they look the VNI up, so a VN that is not routed
// pays one array read per frame instead of a hash lookup. The bit must never be clear while
// an entry exists: it is set before entries are written and cleared after they are deleted.
// Write `routed_vnis` only through this table.
import type { BpfMap } from '../bpf/map.ts';
import type { TypedMap } from '../bpf/typed-map.ts';
import type { Table } from './table.ts';
import type { RoutedVni } from './l3-codecs.ts';

/** Mirrors ROUTED_MASK_BITS_PER_WORD and VNI_MAX of bpf/roam.h. */
const BITS_PER_WORD = 64;
const VNI_MASK = 0xffffff;
const WORD_BYTES = 8;

/** Index of a VNI's word in `routed_mask` (the BPF side masks the VNI the same way). */
function wordOf(vni: number): number {
  return Math.floor((vni & VNI_MASK) / BITS_PER_WORD);
}

function bitOf(vni: number): bigint {
  return 1n << BigInt(vni % BITS_PER_WORD);
}

export class RoutedVniTable implements Table<number, RoutedVni> {
  readonly name: string;
  private readonly keyBuf = Buffer.alloc(4);
  private readonly wordBuf = Buffer.alloc(WORD_BYTES);

  constructor(
    private readonly vnis: TypedMap<number, RoutedVni>,
    private readonly mask: BpfMap,
  ) {
    this.name = vnis.name;
    if (mask.keySize !== 4 || mask.valueSize !== WORD_BYTES) {
      throw new Error(
        `map ${mask.name}: expected u32 -> u64 words, got key ${mask.keySize} / value ${mask.valueSize} bytes`,
      );
    }
  }

  get(vni: number): RoutedVni | undefined {
    return this.vnis.get(vni);
  }

  setMany(entries: ReadonlyArray<readonly [number, RoutedVni]>): void {
    // bits first: a frame that finds the new entry must also find its bit
    this.writeBits(
      entries.map(([vni]) => vni),
      () => true,
    );
    this.vnis.setMany(entries);
  }

  deleteMany(vnis: readonly number[]): void {
    this.vnis.deleteMany(vnis);
    // entries gone first; a bit stays while any VNI that maps to it (VNIs equal modulo 2^24)
    // still has an entry
    const kept = new Set<number>();
    for (const [vni] of this.vnis.entries()) kept.add(vni & VNI_MASK);
    this.writeBits(vnis, (vni) => kept.has(vni & VNI_MASK));
  }

  entries(): IterableIterator<[number, RoutedVni]> {
    return this.vnis.entries();
  }

  size(): number {
    return this.vnis.size();
  }

  /** Sets (wanted) or clears the bit of each VNI, one read-modify-write per word. */
  private writeBits(vnis: readonly number[], wanted: (vni: number) => boolean): void {
    const words = new Map<number, number[]>();
    for (const vni of vnis) {
      const w = wordOf(vni);
      const list = words.get(w);
      if (list) list.push(vni);
      else words.set(w, [vni]);
    }
    for (const [w, list] of words) {
      this.keyBuf.writeUInt32LE(w, 0);
      const old = this.mask.lookupInto(this.keyBuf, this.wordBuf)
        ? this.wordBuf.readBigUInt64LE(0)
        : 0n;
      let next = old;
      for (const vni of list) next = wanted(vni) ? next | bitOf(vni) : next & ~bitOf(vni);
      if (next === old) continue;
      this.wordBuf.writeBigUInt64LE(next, 0);
      this.mask.update(this.keyBuf, this.wordBuf);
    }
  }
}
