// A bpf_link: an attachment held by an fd. It can be pinned in bpffs so it outlives the process;
// detach() ends the attachment even while pins or other fds still hold the link.
import { closeSync, unlinkSync } from 'node:fs';
import { BpfError, check } from './errors.ts';
import * as L from './libbpf.ts';

const EINVAL = 22;

/** What the kernel reports about a link. */
export interface BpfLinkInfo {
  type: number;
  id: number;
  progId: number;
  /** For XDP links: the interface (0 once detached). */
  ifindex: number;
}

export class BpfLink {
  private _fd: number;
  private pinnedAt: string | undefined;

  constructor(
    fd: number,
    /** For messages: "xdp link on ifindex 4". */
    readonly label: string,
  ) {
    this._fd = fd;
  }

  get fd(): number {
    if (this._fd < 0) throw new BpfError('use', this.label, 9, 'the link was closed');
    return this._fd;
  }

  /** Open a link pinned in bpffs. */
  static fromPinned(path: string): BpfLink {
    const fd = check(L.bpf_obj_get(path), 'open pinned', `link at ${path}`);
    return new BpfLink(fd, `link at ${path}`);
  }

  /** Kernel's view of the link (bpf_obj_get_info_by_fd). */
  info(): BpfLinkInfo {
    const buf = Buffer.alloc(L.LINK_INFO.size);
    const len = Buffer.alloc(4);
    len.writeUInt32LE(L.LINK_INFO.size, 0);
    check(L.bpf_obj_get_info_by_fd(this.fd, buf, len), 'get info', this.label);
    return {
      type: buf.readUInt32LE(L.LINK_INFO.type),
      id: buf.readUInt32LE(L.LINK_INFO.id),
      progId: buf.readUInt32LE(L.LINK_INFO.progId),
      ifindex: buf.readUInt32LE(L.LINK_INFO.xdpIfindex),
    };
  }

  /** Pin in bpffs: the attachment then survives close() and the process. */
  pin(path: string): void {
    check(L.bpf_obj_pin(this.fd, path), `pin at ${path}`, this.label);
    this.pinnedAt = path;
  }

  /** Remove the pin made by pin() (or the given path). */
  unpin(path = this.pinnedAt): void {
    if (!path)
      throw new BpfError('unpin', this.label, EINVAL, 'the link was not pinned by this process');
    try {
      unlinkSync(path);
    } catch (err) {
      throw new BpfError(`unpin ${path}`, this.label, (err as { errno?: number }).errno ?? EINVAL);
    }
    if (path === this.pinnedAt) this.pinnedAt = undefined;
  }

  /** End the attachment now (bpf_link_detach), pinned or not; the fd stays open until close(). */
  detach(): void {
    check(L.bpf_link_detach(this.fd), 'detach', this.label);
  }

  /** Close the fd. An unpinned link detaches when its last fd closes. Idempotent. */
  close(): void {
    if (this._fd >= 0) closeSync(this._fd);
    this._fd = -1;
  }
}
