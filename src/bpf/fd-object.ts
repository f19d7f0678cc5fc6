// What maps, programs and links have in common: a kernel object held by an fd (owned, or
// borrowed from a BpfObject that closes it), a label that names it in errors, and pins in bpffs.
import { closeSync, unlinkSync } from 'node:fs';
import { BpfError, check } from './errors.ts';
import * as L from './libbpf.ts';

const EBADF = 9;
const EINVAL = 22;

export abstract class BpfFdObject {
  protected _fd: number;
  private pinnedAt: string | undefined;

  protected constructor(
    fd: number,
    /** For messages: "map fdb", "program roam_tsi", "xdp link on ifindex 4". */
    readonly label: string,
    /** Whether close() closes the fd (objects of a BpfObject close with the object). */
    protected readonly ownsFd: boolean,
    /** "map", "program" or "link", for messages. */
    private readonly kind: string,
  ) {
    this._fd = fd;
  }

  get fd(): number {
    if (this._fd < 0) throw new BpfError('use', this.label, EBADF, `the ${this.kind} was closed`);
    return this._fd;
  }

  /** Pin in bpffs (bpf_obj_pin): the object then outlives this fd and the process. */
  pin(path: string): void {
    check(L.bpf_obj_pin(this.fd, path), `pin at ${path}`, this.label);
    this.pinnedAt = path;
  }

  /** Remove the pin made by pin() (or the given path); the object lives on while fds hold it. */
  unpin(path = this.pinnedAt): void {
    if (!path) {
      throw new BpfError(
        'unpin',
        this.label,
        EINVAL,
        `the ${this.kind} was not pinned by this process`,
      );
    }
    try {
      unlinkSync(path);
    } catch (err) {
      throw new BpfError(`unpin ${path}`, this.label, (err as { errno?: number }).errno ?? EINVAL);
    }
    if (path === this.pinnedAt) this.pinnedAt = undefined;
  }

  /** Close an owned fd. Idempotent. */
  close(): void {
    if (this.ownsFd && this._fd >= 0) closeSync(this._fd);
    this._fd = -1;
  }
}
