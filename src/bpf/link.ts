// A bpf_link: an attachment held by an fd. It can be pinned in bpffs so it outlives the process;
// detach() ends the attachment even while pins or other fds still hold the link; an unpinned link
// detaches when its last fd closes.
import { check } from './errors.ts';
import { BpfFdObject } from './fd-object.ts';
import * as L from './libbpf.ts';

/** What the kernel reports about a link. */
export interface BpfLinkInfo {
  type: number;
  id: number;
  progId: number;
  /** For XDP links: the interface (0 once detached). */
  ifindex: number;
}

export class BpfLink extends BpfFdObject {
  constructor(fd: number, label: string) {
    super(fd, label, true, 'link');
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

  /** End the attachment now (bpf_link_detach), pinned or not; the fd stays open until close(). */
  detach(): void {
    check(L.bpf_link_detach(this.fd), 'detach', this.label);
  }
}
