// Kernel run-time statistics of BPF programs (run_cnt, run_time_ns), off by default because
// they cost a little per run. BPF_ENABLE_STATS keeps them on while its fd is open.
import { closeSync } from 'node:fs';
import { check } from './errors.ts';
import * as L from './libbpf.ts';

const BPF_STATS_RUN_TIME = 0;

/** Turn program run statistics on; call the returned function to release (idempotent). */
export function enableBpfStats(): () => void {
  const fd = check(L.bpf_enable_stats(BPF_STATS_RUN_TIME), 'enable stats', 'bpf');
  let open = true;
  return () => {
    if (open) closeSync(fd);
    open = false;
  };
}
