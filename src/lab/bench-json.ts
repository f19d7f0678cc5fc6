// A benchmark's --json FILE: written whole, its folder created first (bench-results/ is not in a
// fresh clone: a run of many minutes must not end in ENOENT).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export function writeBenchJson(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
}
