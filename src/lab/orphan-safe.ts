// Processes a lab starts must not outlive it. A lab torn down in order stops them itself; one whose
// process is killed (a test run or a demo killed with SIGKILL) cannot, and its NVA and agents ran
// on with nobody to stop them. `setpriv --pdeathsig` (util-linux) asks the kernel to send the child
// a signal when its parent dies, then execs the command: same pid, same process group.
export const ORPHAN_SIGNAL = 'TERM';

/** The command and arguments that run `cmd args` and signal it when this process dies. */
export function orphanSafe(cmd: string, args: readonly string[]): [string, string[]] {
  return ['setpriv', ['--pdeathsig', ORPHAN_SIGNAL, '--', cmd, ...args]];
}
