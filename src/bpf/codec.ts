// Codecs: pure encode/decode pairs between JS values and the fixed-size byte layouts of map keys
// and values (little-endian host order unless the name says BE, as on x86_64).

/** A fixed-size binary layout for values of type T. */
export interface Codec<T> {
  /** Bytes one value occupies. */
  readonly size: number;
  encode(v: T, buf: Buffer, off: number): void;
  decode(buf: Buffer, off: number): T;
}

export const u8: Codec<number> = {
  size: 1,
  encode: (v, b, o) => void b.writeUInt8(v, o),
  decode: (b, o) => b.readUInt8(o),
};
export const u16: Codec<number> = {
  size: 2,
  encode: (v, b, o) => void b.writeUInt16LE(v, o),
  decode: (b, o) => b.readUInt16LE(o),
};
/** Network byte order (ports, ethertypes as the packet carries them). */
export const u16be: Codec<number> = {
  size: 2,
  encode: (v, b, o) => void b.writeUInt16BE(v, o),
  decode: (b, o) => b.readUInt16BE(o),
};
export const u32: Codec<number> = {
  size: 4,
  encode: (v, b, o) => void b.writeUInt32LE(v, o),
  decode: (b, o) => b.readUInt32LE(o),
};
export const u32be: Codec<number> = {
  size: 4,
  encode: (v, b, o) => void b.writeUInt32BE(v, o),
  decode: (b, o) => b.readUInt32BE(o),
};
export const u64: Codec<bigint> = {
  size: 8,
  encode: (v, b, o) => void b.writeBigUInt64LE(v, o),
  decode: (b, o) => b.readBigUInt64LE(o),
};

/** Raw bytes of a fixed length (shorter input is zero-padded; longer is an error). */
export function bytes(size: number): Codec<Buffer> {
  return {
    size,
    encode(v, b, o) {
      if (v.length > size) throw new RangeError(`bytes(${size}): got ${v.length} bytes`);
      b.fill(0, o, o + size);
      v.copy(b, o);
    },
    decode: (b, o) => Buffer.from(b.subarray(o, o + size)),
  };
}

/** A MAC address as "aa:bb:cc:dd:ee:ff" (6 bytes). */
export const mac: Codec<string> = {
  size: 6,
  encode(v, b, o) {
    const parts = v.split(':');
    if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p))) {
      throw new RangeError(`not a MAC address: "${v}"`);
    }
    parts.forEach((p, i) => b.writeUInt8(parseInt(p, 16), o + i));
  },
  decode: (b, o) =>
    Array.from(b.subarray(o, o + 6), (x) => x.toString(16).padStart(2, '0')).join(':'),
};

/** An IPv4 address as dotted quad, stored in network byte order (4 bytes). */
export const ipv4: Codec<string> = {
  size: 4,
  encode(v, b, o) {
    const parts = v.split('.');
    if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
      throw new RangeError(`not an IPv4 address: "${v}"`);
    }
    parts.forEach((p, i) => b.writeUInt8(Number(p), o + i));
  },
  decode: (b, o) => Array.from(b.subarray(o, o + 4)).join('.'),
};

/** Zero bytes (explicit struct padding). */
export function pad(size: number): Codec<undefined> {
  return { size, encode: (_v, b, o) => void b.fill(0, o, o + size), decode: () => undefined };
}

type Fields = Record<string, Codec<unknown>>;
type FieldValues<F extends Fields> = {
  [K in keyof F as F[K] extends Codec<undefined> ? never : K]: F[K] extends Codec<infer T>
    ? T
    : never;
};

/**
 * A C struct: fields in declaration order, each at the given byte offset (or packed after the
 * previous one), total size `size` (default: end of the last field). Mirror the C header's
 * offsets exactly; padding bytes are written as zero.
 */
export function struct<F extends Fields>(
  fields: F,
  opts: { size?: number; offsets?: Partial<Record<keyof F, number>> } = {},
): Codec<FieldValues<F>> {
  const layout: { name: string; codec: Codec<unknown>; off: number }[] = [];
  let end = 0;
  for (const [name, codec] of Object.entries(fields)) {
    const off = opts.offsets?.[name] ?? end;
    layout.push({ name, codec, off });
    end = Math.max(end, off + codec.size);
  }
  const size = opts.size ?? end;
  if (size < end) throw new RangeError(`struct size ${size} < end of last field ${end}`);
  return {
    size,
    encode(v, b, o) {
      b.fill(0, o, o + size);
      const rec = v as Record<string, unknown>;
      for (const f of layout) f.codec.encode(rec[f.name], b, o + f.off);
    },
    decode(b, o) {
      const out: Record<string, unknown> = {};
      for (const f of layout) {
        const val = f.codec.decode(b, o + f.off);
        if (val !== undefined) out[f.name] = val;
      }
      return out as FieldValues<F>;
    },
  };
}

/** Encode one value into a fresh Buffer. */
export function encodeOne<T>(c: Codec<T>, v: T): Buffer {
  const b = Buffer.alloc(c.size);
  c.encode(v, b, 0);
  return b;
}
