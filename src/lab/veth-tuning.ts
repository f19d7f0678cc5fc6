// What every veth end in the lab needs so XDP forwarding through it works.
//  - GRO on: XDP_REDIRECT into a veth (ndo_xdp_xmit) only delivers when the peer runs NAPI,
//    which it does when it has an XDP program of its own or GRO enabled; with GRO on, a peer
//    without XDP (a VM, the kernel VTEP, the underlay bridge) still receives redirected frames.
//  - TX checksum offload off: a socket's UDP/TCP frame would otherwise leave the VM with only
//    a partial checksum (CHECKSUM_PARTIAL), which an XDP program that re-encapsulates the raw
//    frame cannot complete; with it off the sender's stack fills in the full checksum. It also
//    turns off TSO/GSO, so no frame is larger than the MTU.
import type { Netns } from './netns.ts';

/** Apply the lab's veth settings to one interface inside a namespace. */
export function tuneVeth(ns: Netns, dev: string): void {
  try {
    ns.run('ethtool', ['-K', dev, 'gro', 'on', 'tx', 'off']);
  } catch (err) {
    throw new Error(
      `could not tune ${dev} (ethtool -K gro on tx off); is ethtool installed (scripts/setup.sh)? ${(err as Error).message}`,
    );
  }
}
