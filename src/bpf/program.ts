// A loaded BPF program: run it on a frame without any interface (BPF_PROG_TEST_RUN), attach it
// to XDP through a bpf_link or to TC clsact, pin it, read its run statistics.
import { check } from './errors.ts';
import { BpfFdObject } from './fd-object.ts';
import * as L from './libbpf.ts';
import { installLibbpfLogger } from './log.ts';
import { BpfLink } from './link.ts';
import { attachTc, type TcAttachment, type TcAttachOptions, type TcDirection } from './tc.ts';

// libbpf's messages go to pino from the first call on, not only after an object was opened.
installLibbpfLogger();

const BPF_XDP = 37;
// TCX hooks (Linux 6.6+): libbpf 1.1.2 predates them, but bpf_link_create hands the attach
// type to the kernel as is.
const BPF_TCX_INGRESS = 46;
const BPF_TCX_EGRESS = 47;
const XDP_FLAGS_SKB_MODE = 1 << 1;
const XDP_FLAGS_DRV_MODE = 1 << 2;
/** Room for a program that grows the frame (bpf_xdp_adjust_head/tail) in testRun's output. */
const TEST_RUN_GROWTH_BYTES = 512;

export interface TestRunOptions {
  /** The frame the program sees. */
  data: Buffer;
  /** Capacity of the output frame buffer (default: data length + 512). */
  dataSizeOut?: number;
  /** Run the program this many times (the duration is the average). */
  repeat?: number;
  /** Context in (e.g. struct xdp_md with ingress_ifindex). */
  ctxIn?: Buffer;
}

export interface TestRunResult {
  /** The program's return code (XDP_PASS, TC_ACT_OK, ...). */
  retval: number;
  /** The frame as the program left it. */
  data: Buffer;
  /** Average run time per repetition in ns (kernel-measured). */
  durationNs: number;
}

export interface XdpAttachOptions {
  /** 'native' (driver mode, the default) or 'generic' (skb mode, only when asked). */
  mode?: 'native' | 'generic';
}

export interface RunStats {
  runCount: bigint;
  runTimeNs: bigint;
}

export class BpfProgram extends BpfFdObject {
  constructor(
    fd: number,
    readonly name: string,
    readonly type: number,
    ownsFd: boolean,
  ) {
    super(fd, `program ${name}`, ownsFd, 'program');
  }

  /** Open a program pinned in bpffs; the returned program owns its fd. */
  static fromPinned(path: string): BpfProgram {
    const fd = check(L.bpf_obj_get(path), 'open pinned', `program at ${path}`);
    const info = progInfoBuf(fd, `program at ${path}`);
    return new BpfProgram(fd, info.name, info.type, true);
  }

  /** Run the program once (or `repeat` times) on a frame, via bpf_prog_test_run_opts. */
  testRun(opts: TestRunOptions): TestRunResult {
    const O = L.TEST_RUN_OPTS;
    const out = Buffer.alloc(opts.dataSizeOut ?? opts.data.length + TEST_RUN_GROWTH_BYTES);
    const o = Buffer.alloc(O.size);
    o.writeBigUInt64LE(BigInt(O.size), 0);
    o.writeBigUInt64LE(L.addressOf(opts.data), O.dataIn);
    o.writeUInt32LE(opts.data.length, O.dataSizeIn);
    o.writeBigUInt64LE(L.addressOf(out), O.dataOut);
    o.writeUInt32LE(out.length, O.dataSizeOut);
    if (opts.ctxIn) {
      o.writeBigUInt64LE(L.addressOf(opts.ctxIn), O.ctxIn);
      o.writeUInt32LE(opts.ctxIn.length, O.ctxSizeIn);
    }
    o.writeInt32LE(opts.repeat ?? 1, O.repeat);
    check(L.bpf_prog_test_run_opts(this.fd, o), 'test run', this.label);
    const outLen = o.readUInt32LE(O.dataSizeOut);
    return {
      retval: o.readUInt32LE(O.retval),
      data: out.subarray(0, Math.min(outLen, out.length)),
      durationNs: o.readUInt32LE(O.duration),
    };
  }

  /** Attach to an interface's XDP hook through a bpf_link (native mode unless asked). */
  attachXdp(ifindex: number, opts: XdpAttachOptions = {}): BpfLink {
    const mode = opts.mode ?? 'native';
    const o = Buffer.alloc(L.LINK_CREATE_OPTS.size);
    o.writeBigUInt64LE(BigInt(L.LINK_CREATE_OPTS.size), 0);
    o.writeUInt32LE(
      mode === 'generic' ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE,
      L.LINK_CREATE_OPTS.flags,
    );
    const fd = check(
      L.bpf_link_create(this.fd, ifindex, BPF_XDP, o),
      `attach xdp (${mode}) to ifindex ${ifindex}`,
      this.label,
    );
    return new BpfLink(fd, `xdp link of ${this.name} on ifindex ${ifindex}`);
  }

  /** Attach as a TC clsact filter (direct action) on ingress or egress. */
  attachTc(ifindex: number, direction: TcDirection, opts: TcAttachOptions = {}): TcAttachment {
    return attachTc(this, ifindex, direction, opts);
  }

  /**
   * Attach to an interface's TCX hook through a bpf_link (Linux 6.6+): an fd like an XDP link,
   * so it can be pinned and detached by whoever holds it, and no qdisc is involved. Appended
   * after programs already there.
   */
  attachTcx(ifindex: number, direction: TcDirection): BpfLink {
    const o = Buffer.alloc(L.LINK_CREATE_OPTS.size);
    o.writeBigUInt64LE(BigInt(L.LINK_CREATE_OPTS.size), 0);
    const type = direction === 'ingress' ? BPF_TCX_INGRESS : BPF_TCX_EGRESS;
    const fd = check(
      L.bpf_link_create(this.fd, ifindex, type, o),
      `attach tcx ${direction} to ifindex ${ifindex}`,
      this.label,
    );
    return new BpfLink(fd, `tcx ${direction} link of ${this.name} on ifindex ${ifindex}`);
  }

  /** Run count and total run time (needs bpf stats enabled: see enableBpfStats()). */
  runStats(): RunStats {
    const i = progInfoBuf(this.fd, this.label);
    return { runCount: i.runCnt, runTimeNs: i.runTimeNs };
  }

  /** Kernel program id. */
  id(): number {
    return progInfoBuf(this.fd, this.label).id;
  }
}

function progInfoBuf(fd: number, label: string) {
  const P = L.PROG_INFO;
  const buf = Buffer.alloc(P.size);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(P.size, 0);
  check(L.bpf_obj_get_info_by_fd(fd, buf, len), 'get info', label);
  const nameBytes = buf.subarray(P.name, P.name + L.BPF_OBJ_NAME_LEN);
  const end = nameBytes.indexOf(0);
  return {
    type: buf.readUInt32LE(P.type),
    id: buf.readUInt32LE(P.id),
    name: nameBytes.toString('utf8', 0, end < 0 ? nameBytes.length : end),
    runTimeNs: buf.readBigUInt64LE(P.runTimeNs),
    runCnt: buf.readBigUInt64LE(P.runCnt),
  };
}
